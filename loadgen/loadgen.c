/*
 * loadgen — the HTTP/1.1 load client of gracefd's tests, demo and benchmarks.
 *
 * It keeps K keep-alive connections busy (request after request on the same
 * connection) and runs M workers that open a new connection per request
 * (`Connection: close`, read to EOF), for a fixed duration, and counts every
 * request that failed, by kind, and the distinct `X-Pid` values that answered.
 * It does not link libgracefd: it is plain C99 + POSIX sockets + pthreads.
 *
 * Each thread (--threads) runs a poll loop over its share of nonblocking
 * connections. Every request has its own deadline (--timeout-ms) covering
 * connect, send and the whole response, so the run always ends by
 * duration + timeout.
 *
 * Counting rules (also in --help):
 *
 * A request BEGINS when a worker starts it: before connect() when the worker
 * has no open connection, or before the first byte is written on a reused
 * keep-alive connection. No request begins at or after the deadline (or after
 * SIGINT/SIGTERM). Every request that began before it is carried to its end
 * (complete response, failure, or its own timeout) and counted; nothing in
 * flight is abandoned or dropped from the counts.
 *
 * Not failures (the connection is simply reopened, counted under reconnects):
 *   server_close  a response said `Connection: close` (or was HTTP/1.0 without
 *                 keep-alive, or was delimited by EOF) on a keep-alive
 *                 connection; the response itself counts as ok.
 *   idle_close    a reused keep-alive connection was found closed (EOF or RST)
 *                 before any byte of the next request was written, or the send
 *                 of that request failed with not one byte accepted; the same
 *                 request is retried once on a new connection.
 *
 * Failure kinds (each failed request counts once, under its first failure):
 *   connect_refused  connect() failed with ECONNREFUSED (nothing listening),
 *                    or ENOENT for a Unix socket path that does not exist.
 *   connect_other    any other connect()/socket() failure (EADDRNOTAVAIL,
 *                    ENETUNREACH, EMFILE, ...).
 *   reset            the connection was reset/aborted after it was
 *                    established: ECONNRESET/EPIPE (or another socket error)
 *                    while sending the request or before the response was
 *                    complete.
 *   timeout          the request did not complete within --timeout-ms of its
 *                    start (connect, send, response, and for new-connection
 *                    workers the EOF after it).
 *   bad_response     the response could not be parsed, its status was not 200,
 *                    its framing is unsupported (a Transfer-Encoding other
 *                    than chunked), its header exceeds 16 KiB, or bytes arrived
 *                    that no request asked for.
 *   short_response   EOF after the request was sent and before the response
 *                    was complete (including before its first byte).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BUF_CAP 16384          /* per connection; also the response header limit */
#define MAX_CONNS 100000
#define MAX_THREADS 256
#define UNIX_RETRY_NS 1000000u /* a full Unix listen backlog (EAGAIN): retry after 1 ms */
#define NS_PER_MS 1000000.0

/* ------------------------------------------------------------------------ */
/* Options and globals                                                        */

enum kind { K_CONNECT_REFUSED, K_CONNECT_OTHER, K_RESET, K_TIMEOUT, K_BAD_RESPONSE,
            K_SHORT_RESPONSE, K_NKINDS };
static const char *const KIND_NAMES[K_NKINDS] = {
    "connect_refused", "connect_other", "reset", "timeout", "bad_response", "short_response"};

static struct {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int family;
    char target[300]; /* for reports */
    const char *path;
    const char *host;
    long keepalive, new_conns, threads;
    double duration_s; /* 0: until SIGINT/SIGTERM */
    long timeout_ms, backoff_ms;
    int json, watch;
    const char *events_file;
} O;

static char *g_req_ka, *g_req_close;
static size_t g_req_ka_len, g_req_close_len;
static uint64_t g_start, g_deadline, g_timeout_ns;
static int g_stop;                       /* set by SIGINT/SIGTERM, read atomically */
static int g_stop_pipe[2] = {-1, -1};    /* readable once a stop signal arrived */
static FILE *g_events;                   /* --watch-pid-change output, or NULL */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double ms_since_start(uint64_t t) { return t > g_start ? (double)(t - g_start) / NS_PER_MS : 0.0; }

static int stopping(uint64_t now)
{
    return now >= g_deadline || __atomic_load_n(&g_stop, __ATOMIC_RELAXED);
}

static void on_stop_signal(int sig)
{
    int saved = errno;
    ssize_t r;
    (void)sig;
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);
    r = write(g_stop_pipe[1], "x", 1);
    (void)r;
    errno = saved;
}

/* ------------------------------------------------------------------------ */
/* Statistics                                                                 */

/* Latency histogram: exact below 64 ns, then 32 sub-buckets per power of two
 * (about 3% resolution). */
#define NBUCKETS 1920
static unsigned bucket_of(uint64_t v)
{
    unsigned msb, shift;
    if (v < 64) return (unsigned)v;
    msb = 63u - (unsigned)__builtin_clzll(v);
    shift = msb - 5u;
    return shift * 32u + (unsigned)(v >> shift);
}
static uint64_t bucket_mid(unsigned idx)
{
    unsigned shift;
    if (idx < 64) return idx;
    shift = idx / 32u - 1u;
    return ((uint64_t)(idx % 32u + 32u) << shift) + (((uint64_t)1 << shift) >> 1);
}

struct pidrec {
    long pid;
    uint64_t first, last, count;
};

struct pidset {
    struct pidrec *v;
    size_t n, cap, hint;
};

/* Returns the record for pid, adding it (first = last = at) if new; *added
 * tells which. NULL only when out of memory. */
static struct pidrec *pidset_get(struct pidset *s, long pid, uint64_t at, int *added)
{
    size_t i;
    *added = 0;
    if (s->hint < s->n && s->v[s->hint].pid == pid) return &s->v[s->hint];
    for (i = 0; i < s->n; i++)
        if (s->v[i].pid == pid) {
            s->hint = i;
            return &s->v[i];
        }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct pidrec *v = realloc(s->v, cap * sizeof *v);
        if (!v) return NULL;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n].pid = pid;
    s->v[s->n].first = s->v[s->n].last = at;
    s->v[s->n].count = 0;
    s->hint = s->n;
    *added = 1;
    return &s->v[s->n++];
}

/* The pids seen by any thread, for --watch-pid-change. */
static pthread_mutex_t g_pid_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pidset g_pids;

static void global_new_pid(long pid, uint64_t at)
{
    int added;
    struct pidrec *r;
    pthread_mutex_lock(&g_pid_lock);
    r = pidset_get(&g_pids, pid, at, &added);
    if (r && added && g_events) {
        fprintf(g_events, "new_pid t_ms=%.3f mono_ns=%" PRIu64 " pid=%ld distinct=%zu\n",
                ms_since_start(at), at, pid, g_pids.n);
        fflush(g_events);
    }
    pthread_mutex_unlock(&g_pid_lock);
}

/* ------------------------------------------------------------------------ */
/* HTTP/1.1 response parsing                                                  */

enum pst { P_HEAD, P_LEN, P_EOF, P_CSIZE, P_CDATA, P_CCRLF, P_TRAILER, P_DONE };

struct resp {
    enum pst st;
    int close;      /* the server will close after this response */
    long pid;       /* X-Pid, or -1 */
    uint64_t left;  /* body or chunk bytes still expected */
};

struct head {
    int status, minor;
    int conn_close, conn_keepalive;
    int has_cl;
    uint64_t cl;
    int te_count, te_last_chunked, chunked_count;
    long pid;
};

static void resp_init(struct resp *r)
{
    r->st = P_HEAD;
    r->close = 0;
    r->pid = -1;
    r->left = 0;
}

static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

static int is_tchar(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int hex_val(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* A decimal number of 1..18 digits and nothing else. */
static int parse_dec(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;
    if (n == 0 || n > 18) return 0;
    for (i = 0; i < n; i++) {
        if (!is_digit(s[i])) return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 1;
}

static int tok_is(const char *t, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(t, lit, n) == 0;
}

/* The next comma-separated element of v[*pos..n), without surrounding
 * spaces/tabs; empty elements are skipped. 0 at the end. */
static int next_elem(const char *v, size_t n, size_t *pos, const char **tok, size_t *tlen)
{
    size_t s, e;
    while (*pos < n && (v[*pos] == ' ' || v[*pos] == '\t' || v[*pos] == ',')) (*pos)++;
    if (*pos >= n) return 0;
    s = *pos;
    while (*pos < n && v[*pos] != ',') (*pos)++;
    e = *pos;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
    *tok = v + s;
    *tlen = e - s;
    return 1;
}

/* Finds the blank line ending a header block in p[0..n). *head_len: bytes
 * before the blank line; *total: bytes through it. Accepts CRLF or bare LF. */
static int find_head_end(const char *p, size_t n, size_t *head_len, size_t *total)
{
    size_t s = 0;
    const char *nl;
    while (s < n && (nl = memchr(p + s, '\n', n - s)) != NULL) {
        size_t i = (size_t)(nl - p), len = i - s;
        if (len == 0 || (len == 1 && p[s] == '\r')) {
            *head_len = s;
            *total = i + 1;
            return 1;
        }
        s = i + 1;
    }
    return 0;
}

static int parse_head(const char *p, size_t n, struct head *h, char *why, size_t whylen)
{
    size_t i = 0;
    int first = 1;
    memset(h, 0, sizeof *h);
    h->pid = -1;
    if (n == 0) {
        snprintf(why, whylen, "empty status line");
        return -1;
    }
    while (i < n) {
        size_t s = i, e, len, c, vl;
        const char *l, *v;
        while (i < n && p[i] != '\n') i++;
        e = i;
        if (i < n) i++;
        if (e > s && p[e - 1] == '\r') e--;
        l = p + s;
        len = e - s;
        if (first) {
            first = 0;
            if (len < 12 || memcmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') ||
                l[8] != ' ' || !is_digit(l[9]) || !is_digit(l[10]) || !is_digit(l[11]) ||
                (len > 12 && l[12] != ' ')) {
                snprintf(why, whylen, "malformed status line \"%.40s\"", l);
                for (c = 0; why[c]; c++)
                    if ((unsigned char)why[c] < 0x20) why[c] = '?';
                return -1;
            }
            h->minor = l[7] - '0';
            h->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
            continue;
        }
        if (len > 0 && (l[0] == ' ' || l[0] == '\t')) {
            snprintf(why, whylen, "obsolete header line folding");
            return -1;
        }
        for (c = 0; c < len && is_tchar(l[c]); c++) {
        }
        if (c == 0 || c >= len || l[c] != ':') {
            snprintf(why, whylen, "malformed header line");
            return -1;
        }
        v = l + c + 1;
        vl = len - c - 1;
        while (vl > 0 && (v[0] == ' ' || v[0] == '\t')) v++, vl--;
        while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
        if (memchr(v, '\r', vl) || memchr(v, '\0', vl)) {
            snprintf(why, whylen, "CR or NUL in a header value");
            return -1;
        }
        if (tok_is(l, c, "content-length")) {
            size_t pos = 0, tl;
            const char *t;
            int any = 0;
            while (next_elem(v, vl, &pos, &t, &tl)) {
                uint64_t x;
                if (!parse_dec(t, tl, &x)) {
                    snprintf(why, whylen, "invalid Content-Length");
                    return -1;
                }
                if (h->has_cl && x != h->cl) {
                    snprintf(why, whylen, "conflicting Content-Length values");
                    return -1;
                }
                h->has_cl = 1;
                h->cl = x;
                any = 1;
            }
            if (!any) {
                snprintf(why, whylen, "empty Content-Length");
                return -1;
            }
        } else if (tok_is(l, c, "transfer-encoding")) {
            size_t pos = 0, tl;
            const char *t;
            while (next_elem(v, vl, &pos, &t, &tl)) {
                h->te_count++;
                h->te_last_chunked = tok_is(t, tl, "chunked");
                h->chunked_count += h->te_last_chunked;
            }
        } else if (tok_is(l, c, "connection")) {
            size_t pos = 0, tl;
            const char *t;
            while (next_elem(v, vl, &pos, &t, &tl)) {
                if (tok_is(t, tl, "close")) h->conn_close = 1;
                if (tok_is(t, tl, "keep-alive")) h->conn_keepalive = 1;
            }
        } else if (tok_is(l, c, "x-pid") && h->pid < 0) {
            uint64_t x;
            if (parse_dec(v, vl, &x) && x <= (uint64_t)INT32_MAX) h->pid = (long)x;
        }
    }
    return 0;
}

struct conn;
static int parse(struct conn *c, int eof);

/* ------------------------------------------------------------------------ */
/* Connections                                                                */

enum cstate { C_START, C_BACKOFF, C_CONNECTING, C_RETRY_WAIT, C_SENDING, C_RECEIVING,
              C_AWAIT_EOF, C_DONE };
static const char *const STATE_NAMES[] = {"start", "backoff", "connecting", "connecting",
                                          "sending", "receiving", "awaiting EOF", "done"};

struct conn {
    int fd;
    int keepalive; /* a keep-alive worker (else: a new connection per request) */
    int reused;    /* fd already carried a complete response */
    enum cstate st;
    uint64_t req_start, req_deadline, wake_at, done_at;
    size_t sent;
    struct resp r;
    size_t rpos, wpos;
    char why[160]; /* parse error text */
    char buf[BUF_CAP];
};

struct thr {
    pthread_t tid;
    struct conn **conns;
    size_t nconns;
    struct pollfd *pfd;
    struct conn **pconn;
    uint64_t ok, fail[K_NKINDS], server_close, idle_close, connections;
    char why[K_NKINDS][256]; /* the first failure of each kind */
    uint64_t why_at[K_NKINDS];
    uint64_t hist[NBUCKETS], lat_max;
    struct pidset pids;
};

/* Feeds c->buf[rpos..wpos) to the response parser (eof: the peer closed, no
 * byte will follow). Returns 1 when the response is complete, 0 when it needs
 * more bytes (with eof: it is short), -1 when it is malformed (c->why says
 * why). Consumed bytes advance c->rpos; body bytes are discarded. */
static int parse(struct conn *c, int eof)
{
    struct resp *r = &c->r;
    for (;;) {
        const char *b = c->buf + c->rpos;
        size_t avail = c->wpos - c->rpos, hl, tot, take, i;
        const char *nl;
        switch (r->st) {
        case P_HEAD: {
            struct head h;
            if (!find_head_end(b, avail, &hl, &tot)) {
                if (avail >= BUF_CAP) {
                    snprintf(c->why, sizeof c->why, "response header larger than %d bytes", BUF_CAP);
                    return -1;
                }
                return 0;
            }
            if (parse_head(b, hl, &h, c->why, sizeof c->why) < 0) return -1;
            c->rpos += tot;
            if (h.status >= 100 && h.status < 200) {
                if (h.status == 101) {
                    snprintf(c->why, sizeof c->why, "unexpected 101 Switching Protocols");
                    return -1;
                }
                continue; /* interim response: the final one follows */
            }
            if (h.status != 200) {
                snprintf(c->why, sizeof c->why, "status %d", h.status);
                return -1;
            }
            r->pid = h.pid;
            r->close = h.conn_close || (h.minor == 0 && !h.conn_keepalive);
            if (h.te_count) {
                if (h.minor == 0) {
                    snprintf(c->why, sizeof c->why, "Transfer-Encoding in an HTTP/1.0 response");
                    return -1;
                }
                if (!h.te_last_chunked || h.chunked_count != 1) {
                    snprintf(c->why, sizeof c->why, "unsupported Transfer-Encoding (only chunked)");
                    return -1;
                }
                r->st = P_CSIZE;
            } else if (h.has_cl) {
                r->left = h.cl;
                r->st = h.cl ? P_LEN : P_DONE;
            } else {
                r->st = P_EOF; /* delimited by the server closing */
                r->close = 1;
            }
            break;
        }
        case P_LEN:
        case P_CDATA:
            take = avail < r->left ? avail : (size_t)r->left;
            c->rpos += take;
            r->left -= take;
            if (r->left) return 0;
            r->st = r->st == P_LEN ? P_DONE : P_CCRLF;
            break;
        case P_EOF:
            c->rpos = c->wpos;
            if (!eof) return 0;
            r->st = P_DONE;
            break;
        case P_CCRLF:
            if (avail >= 1 && b[0] == '\n') {
                c->rpos += 1;
            } else if (avail >= 2 && b[0] == '\r' && b[1] == '\n') {
                c->rpos += 2;
            } else if (avail == 0 || (avail == 1 && b[0] == '\r')) {
                return 0;
            } else {
                snprintf(c->why, sizeof c->why, "chunk data not followed by CRLF");
                return -1;
            }
            r->st = P_CSIZE;
            break;
        case P_CSIZE:
        case P_TRAILER: {
            size_t len;
            nl = memchr(b, '\n', avail);
            if (!nl) {
                if (avail >= BUF_CAP) {
                    snprintf(c->why, sizeof c->why, "chunk size or trailer line too long");
                    return -1;
                }
                return 0;
            }
            len = (size_t)(nl - b);
            c->rpos += len + 1;
            if (len > 0 && b[len - 1] == '\r') len--;
            if (r->st == P_TRAILER) {
                if (len == 0) r->st = P_DONE; /* trailer fields are ignored */
                break;
            }
            r->left = 0;
            for (i = 0; i < len && hex_val(b[i]) >= 0; i++) {
                if (i >= 15) {
                    snprintf(c->why, sizeof c->why, "chunk size too large");
                    return -1;
                }
                r->left = r->left * 16 + (uint64_t)hex_val(b[i]);
            }
            if (i == 0 || (i < len && b[i] != ';' && b[i] != ' ' && b[i] != '\t')) {
                snprintf(c->why, sizeof c->why, "malformed chunk size line");
                return -1;
            }
            r->st = r->left ? P_CDATA : P_TRAILER;
            break;
        }
        case P_DONE:
            return 1;
        }
    }
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->reused = 0;
    c->rpos = c->wpos = 0;
}

static void req_fail(struct thr *t, struct conn *c, enum kind k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void req_fail(struct thr *t, struct conn *c, enum kind k, const char *fmt, ...)
{
    uint64_t now = now_ns();
    t->fail[k]++;
    if (!t->why[k][0]) {
        va_list ap;
        size_t n;
        va_start(ap, fmt);
        vsnprintf(t->why[k], sizeof t->why[k], fmt, ap);
        va_end(ap);
        n = strlen(t->why[k]);
        snprintf(t->why[k] + n, sizeof t->why[k] - n, " (%s connection)",
                 c->keepalive ? "keep-alive" : "new");
        t->why_at[k] = now;
    }
    conn_close(c);
    c->st = C_BACKOFF;
    c->wake_at = now + (uint64_t)O.backoff_ms * 1000000u;
}

static void connect_failed(struct thr *t, struct conn *c, int err)
{
    enum kind k = (err == ECONNREFUSED || err == ENOENT) ? K_CONNECT_REFUSED : K_CONNECT_OTHER;
    req_fail(t, c, k, "connect: %s", strerror(err));
}

/* The drivers below return 1 when the connection moved on and can be driven
 * again at once, 0 when it waits for poll or a timer. */

static int start_connect(struct thr *t, struct conn *c)
{
    int fd = socket(O.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        req_fail(t, c, K_CONNECT_OTHER, "socket: %s", strerror(errno));
        return 0;
    }
    if (O.family != AF_UNIX) {
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    c->fd = fd;
    c->reused = 0;
    if (connect(fd, (const struct sockaddr *)&O.addr, O.addrlen) == 0) {
        t->connections++;
        c->st = C_SENDING;
        return 1;
    }
    if (errno == EINPROGRESS || errno == EINTR) {
        c->st = C_CONNECTING;
        return 0;
    }
    if (errno == EAGAIN && O.family == AF_UNIX) { /* listen backlog full */
        uint64_t at = now_ns() + UNIX_RETRY_NS;
        conn_close(c);
        c->st = C_RETRY_WAIT;
        c->wake_at = at < c->req_deadline ? at : c->req_deadline;
        return 0;
    }
    connect_failed(t, c, errno);
    return 0;
}

static int begin_request(struct thr *t, struct conn *c)
{
    uint64_t now = now_ns();
    if (stopping(now)) {
        conn_close(c);
        c->st = C_DONE;
        return 0;
    }
    c->req_start = now;
    c->req_deadline = now + g_timeout_ns;
    c->sent = 0;
    c->rpos = c->wpos = 0;
    resp_init(&c->r);
    if (c->fd >= 0) {
        char b;
        ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->st = C_SENDING;
            return 1;
        }
        if (n > 0) {
            req_fail(t, c, K_BAD_RESPONSE, "unsolicited bytes on an idle keep-alive connection");
            return 0;
        }
        t->idle_close++; /* EOF or an error before we wrote anything: reconnect */
        conn_close(c);
    }
    return start_connect(t, c);
}

static void record_pid(struct thr *t, long pid, uint64_t at)
{
    int added;
    struct pidrec *r = pidset_get(&t->pids, pid, at, &added);
    if (!r) return;
    r->count++;
    r->last = at;
    if (added) global_new_pid(pid, at);
}

static int finish_ok(struct thr *t, struct conn *c, int eof)
{
    uint64_t lat = c->done_at - c->req_start;
    t->ok++;
    t->hist[bucket_of(lat)]++;
    if (lat > t->lat_max) t->lat_max = lat;
    if (c->r.pid >= 0) record_pid(t, c->r.pid, c->done_at);
    if (!c->keepalive || eof || c->r.close) {
        if (c->keepalive) t->server_close++;
        conn_close(c);
    } else {
        c->reused = 1;
    }
    c->st = C_START;
    return 1;
}

static int complete(struct thr *t, struct conn *c, int eof)
{
    if (c->rpos != c->wpos) {
        req_fail(t, c, K_BAD_RESPONSE, "%zu bytes after the end of the response",
                 c->wpos - c->rpos);
        return 0;
    }
    c->done_at = now_ns();
    if (eof || c->keepalive) return finish_ok(t, c, eof);
    c->st = C_AWAIT_EOF; /* a new-connection worker reads to EOF */
    return 1;
}

static int do_send(struct thr *t, struct conn *c)
{
    const char *req = c->keepalive ? g_req_ka : g_req_close;
    size_t len = c->keepalive ? g_req_ka_len : g_req_close_len;
    while (c->sent < len) {
        ssize_t n = send(c->fd, req + c->sent, len - c->sent, MSG_NOSIGNAL);
        int e = errno;
        if (n >= 0) {
            c->sent += (size_t)n;
            continue;
        }
        if (e == EINTR) continue;
        if (e == EAGAIN || e == EWOULDBLOCK) return 0;
        if (c->sent == 0 && c->reused) { /* closed while idle: nothing was sent */
            t->idle_close++;
            conn_close(c);
            return start_connect(t, c);
        }
        req_fail(t, c, K_RESET, "send: %s", strerror(e));
        return 0;
    }
    c->st = C_RECEIVING;
    return 0; /* wait for the response */
}

static int do_recv(struct thr *t, struct conn *c)
{
    for (;;) {
        ssize_t n;
        int pr;
        if (c->rpos > 0) {
            memmove(c->buf, c->buf + c->rpos, c->wpos - c->rpos);
            c->wpos -= c->rpos;
            c->rpos = 0;
        }
        if (c->wpos >= BUF_CAP) { /* parse() rejects before this; be safe */
            req_fail(t, c, K_BAD_RESPONSE, "response buffer full");
            return 0;
        }
        n = recv(c->fd, c->buf + c->wpos, BUF_CAP - c->wpos, 0);
        if (n > 0) {
            c->wpos += (size_t)n;
            pr = parse(c, 0);
        } else if (n == 0) {
            int empty = c->r.st == P_HEAD && c->wpos == 0;
            pr = parse(c, 1);
            if (pr == 0) {
                req_fail(t, c, K_SHORT_RESPONSE, empty ? "EOF before any byte of the response"
                                                       : "EOF in the middle of the response");
                return 0;
            }
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        } else {
            req_fail(t, c, K_RESET, "recv: %s", strerror(errno));
            return 0;
        }
        if (pr < 0) {
            req_fail(t, c, K_BAD_RESPONSE, "%s", c->why);
            return 0;
        }
        if (pr > 0) return complete(t, c, n == 0);
    }
}

static int do_await_eof(struct thr *t, struct conn *c)
{
    char tmp[512];
    for (;;) {
        ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
        if (n == 0) return finish_ok(t, c, 1);
        if (n > 0) {
            req_fail(t, c, K_BAD_RESPONSE, "bytes after the end of the response");
            return 0;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return finish_ok(t, c, 1); /* a reset after a complete response: it was served */
    }
}

static void drive(struct thr *t, struct conn *c, short rev)
{
    for (;;) {
        int go = 0;
        switch (c->st) {
        case C_DONE:
        case C_BACKOFF:
        case C_RETRY_WAIT:
            return;
        case C_START:
            go = begin_request(t, c);
            break;
        case C_CONNECTING: {
            int err = 0;
            socklen_t l = sizeof err;
            if (!(rev & (POLLOUT | POLLERR | POLLHUP))) return;
            rev = 0;
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0) err = errno;
            if (err) {
                connect_failed(t, c, err);
                return;
            }
            t->connections++;
            c->st = C_SENDING;
            go = 1;
            break;
        }
        case C_SENDING:
            go = do_send(t, c);
            break;
        case C_RECEIVING:
            if (!(rev & (POLLIN | POLLERR | POLLHUP))) return;
            rev = 0;
            go = do_recv(t, c);
            break;
        case C_AWAIT_EOF:
            rev = 0;
            go = do_await_eof(t, c);
            break;
        }
        if (!go) return;
    }
}

static int in_flight(enum cstate s)
{
    return s == C_CONNECTING || s == C_RETRY_WAIT || s == C_SENDING || s == C_RECEIVING ||
           s == C_AWAIT_EOF;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static void *thr_main(void *arg)
{
    struct thr *t = arg;
    size_t i;
    for (;;) {
        uint64_t now = now_ns(), next = UINT64_MAX;
        int stop = stopping(now), active = 0, n;
        nfds_t np = 0;
        if (!__atomic_load_n(&g_stop, __ATOMIC_RELAXED)) {
            t->pfd[np].fd = g_stop_pipe[0];
            t->pfd[np].events = POLLIN;
            t->pconn[np++] = NULL;
        }
        for (i = 0; i < t->nconns; i++) {
            struct conn *c = t->conns[i];
            if (in_flight(c->st) && now >= c->req_deadline)
                req_fail(t, c, K_TIMEOUT, "no complete response within %ld ms, %s",
                         O.timeout_ms, STATE_NAMES[c->st]);
            if (c->st == C_BACKOFF && (stop || now >= c->wake_at)) c->st = C_START;
            if (c->st == C_RETRY_WAIT && now >= c->wake_at && start_connect(t, c)) drive(t, c, 0);
            if (c->st == C_START) drive(t, c, 0);
            switch (c->st) {
            case C_START:
            case C_DONE:
                break;
            case C_BACKOFF:
                active = 1;
                next = min_u64(next, min_u64(c->wake_at, g_deadline));
                break;
            case C_RETRY_WAIT:
                active = 1;
                next = min_u64(next, min_u64(c->wake_at, c->req_deadline));
                break;
            case C_CONNECTING:
            case C_SENDING:
            case C_RECEIVING:
            case C_AWAIT_EOF:
                active = 1;
                next = min_u64(next, c->req_deadline);
                t->pfd[np].fd = c->fd;
                t->pfd[np].events =
                    (c->st == C_CONNECTING || c->st == C_SENDING) ? POLLOUT : POLLIN;
                t->pconn[np++] = c;
                break;
            }
        }
        if (!active) break;
        if (next == UINT64_MAX) {
            n = ppoll(t->pfd, np, NULL, NULL);
        } else {
            uint64_t d = next > now ? next - now : 0;
            struct timespec ts;
            ts.tv_sec = (time_t)(d / 1000000000u);
            ts.tv_nsec = (long)(d % 1000000000u);
            n = ppoll(t->pfd, np, &ts, NULL);
        }
        if (n < 0) {
            if (errno != EINTR) {
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        for (i = 0; i < np; i++)
            if (t->pfd[i].revents && t->pconn[i]) drive(t, t->pconn[i], t->pfd[i].revents);
    }
    for (i = 0; i < t->nconns; i++) conn_close(t->conns[i]);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Command line                                                               */

static void usage(FILE *f)
{
    fprintf(f,
"usage: loadgen (--addr HOST:PORT | --unix PATH) [options]\n"
"\n"
"HTTP/1.1 load client: K keep-alive connections kept busy plus M workers that\n"
"open a new connection per request, for a fixed duration; counts failures by\n"
"kind and the distinct X-Pid response header values.\n"
"\n"
"  --addr HOST:PORT      TCP target; IPv6 as [::1]:8080\n"
"  --unix PATH           Unix stream socket target (@NAME: abstract namespace)\n"
"  --path /PATH          request target (default /)\n"
"  --host NAME           Host header value (default x)\n"
"  --keepalive K         keep-alive connections (default 1)\n"
"  --new M               new-connection-per-request workers (default 0)\n"
"  --duration SECONDS    run length, fractional ok (default 10); 0 runs until\n"
"                        SIGINT/SIGTERM\n"
"  --timeout-ms MS       per request: connect, send and full response (default 5000)\n"
"  --backoff-ms MS       pause of a worker after a failed request (default 10)\n"
"  --threads N           poll loops the connections are shared among (default 1)\n"
"  --json                print one JSON object at the end instead of a summary\n"
"  --watch-pid-change    print 'new_pid t_ms=T mono_ns=N pid=P distinct=D' when a\n"
"                        pid answers for the first time (T: ms since start;\n"
"                        N: CLOCK_MONOTONIC ns, comparable with other processes)\n"
"  --events-file PATH    write those lines to PATH instead of stdout (implies\n"
"                        --watch-pid-change)\n"
"  -h, --help            this text\n"
"\n"
"Requests: GET /PATH HTTP/1.1 with Host; new-connection workers add\n"
"Connection: close and read to EOF. Only a 200 response is ok.\n"
"\n"
"Deadline: a request begins before its connect() or before its first byte on a\n"
"reused connection. None begins at/after the deadline or a SIGINT/SIGTERM (a\n"
"second signal kills); each one begun before is carried to its end (response,\n"
"failure or timeout) and counted. The run ends by duration + timeout.\n"
"\n"
"Not failures (connection reopened): a 'Connection: close' (or EOF-delimited)\n"
"response on a keep-alive connection [reconnects.server_close]; a reused\n"
"connection found closed before any byte of the next request was written\n"
"[reconnects.idle_close].\n"
"\n"
"Failure kinds:\n"
"  connect_refused  ECONNREFUSED (or ENOENT for a Unix path)\n"
"  connect_other    any other socket()/connect() error\n"
"  reset            ECONNRESET/EPIPE/other socket error after connecting,\n"
"                   before the response was complete\n"
"  timeout          no complete response within --timeout-ms of the start\n"
"  bad_response     unparseable, status not 200, unsupported\n"
"                   Transfer-Encoding, header > 16 KiB, or unsolicited bytes\n"
"  short_response   EOF after sending, before the response was complete\n"
"\n"
"Exit status: 0 no failed request, 1 some failed, 2 usage or setup error.\n");
}

static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die_usage(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "loadgen: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(try loadgen --help)\n");
    exit(2);
}

static long parse_long(const char *opt, const char *s, long lo, long hi)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        die_usage("%s: expected an integer in [%ld, %ld], got '%s'", opt, lo, hi, s);
    return v;
}

static void set_tcp_addr(const char *spec)
{
    char host[256], port[16];
    const char *colon;
    size_t hl;
    struct addrinfo hints, *res = NULL;
    int rc;
    if (spec[0] == '[') {
        const char *rb = strchr(spec, ']');
        if (!rb || rb[1] != ':') die_usage("--addr: expected [IPV6]:PORT, got '%s'", spec);
        hl = (size_t)(rb - spec - 1);
        if (hl == 0 || hl >= sizeof host) die_usage("--addr: bad host in '%s'", spec);
        memcpy(host, spec + 1, hl);
        colon = rb + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon || strchr(spec, ':') != colon)
            die_usage("--addr: expected HOST:PORT (IPv6 in brackets), got '%s'", spec);
        hl = (size_t)(colon - spec);
        if (hl == 0 || hl >= sizeof host) die_usage("--addr: bad host in '%s'", spec);
        memcpy(host, spec, hl);
    }
    host[hl] = '\0';
    if (strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof port)
        die_usage("--addr: bad port in '%s'", spec);
    parse_long("--addr port", colon + 1, 1, 65535);
    strcpy(port, colon + 1);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res) die_usage("--addr %s: %s", spec, rc ? gai_strerror(rc) : "no address");
    if (res->ai_addrlen > sizeof O.addr) die_usage("--addr %s: address too long", spec);
    memcpy(&O.addr, res->ai_addr, res->ai_addrlen);
    O.addrlen = (socklen_t)res->ai_addrlen;
    O.family = res->ai_family;
    freeaddrinfo(res);
    snprintf(O.target, sizeof O.target, "%s", spec);
}

static void set_unix_addr(const char *path)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)&O.addr;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof sun->sun_path) die_usage("--unix: path empty or too long");
    memset(&O.addr, 0, sizeof O.addr);
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, n);
    if (path[0] == '@') sun->sun_path[0] = '\0'; /* abstract: no trailing NUL */
    O.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
    O.family = AF_UNIX;
    snprintf(O.target, sizeof O.target, "unix:%s", path);
}

static int visible_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f) return 0;
    return 1;
}

static void parse_args(int argc, char **argv)
{
    enum { OPT_ADDR = 256, OPT_UNIX, OPT_PATH, OPT_HOST, OPT_KA, OPT_NEW, OPT_DUR, OPT_TMO, OPT_BACKOFF,
           OPT_THREADS, OPT_JSON, OPT_WATCH, OPT_EVENTS };
    static const struct option longopts[] = {
        {"addr", required_argument, NULL, OPT_ADDR},
        {"unix", required_argument, NULL, OPT_UNIX},
        {"path", required_argument, NULL, OPT_PATH},
        {"host", required_argument, NULL, OPT_HOST},
        {"keepalive", required_argument, NULL, OPT_KA},
        {"new", required_argument, NULL, OPT_NEW},
        {"duration", required_argument, NULL, OPT_DUR},
        {"timeout-ms", required_argument, NULL, OPT_TMO},
        {"backoff-ms", required_argument, NULL, OPT_BACKOFF},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"json", no_argument, NULL, OPT_JSON},
        {"watch-pid-change", no_argument, NULL, OPT_WATCH},
        {"events-file", required_argument, NULL, OPT_EVENTS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int ch, have_target = 0;
    char *end;
    O.path = "/";
    O.host = "x";
    O.keepalive = 1;
    O.new_conns = 0;
    O.threads = 1;
    O.duration_s = 10;
    O.timeout_ms = 5000;
    O.backoff_ms = 10;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case OPT_ADDR:
        case OPT_UNIX:
            if (have_target++) die_usage("give exactly one of --addr and --unix");
            if (ch == OPT_ADDR) set_tcp_addr(optarg);
            else set_unix_addr(optarg);
            break;
        case OPT_PATH:
            if (optarg[0] != '/' || !visible_ascii(optarg))
                die_usage("--path: must start with '/' and hold only visible ASCII");
            O.path = optarg;
            break;
        case OPT_HOST:
            if (!optarg[0] || !visible_ascii(optarg)) die_usage("--host: must be visible ASCII");
            O.host = optarg;
            break;
        case OPT_KA: O.keepalive = parse_long("--keepalive", optarg, 0, MAX_CONNS); break;
        case OPT_NEW: O.new_conns = parse_long("--new", optarg, 0, MAX_CONNS); break;
        case OPT_DUR:
            errno = 0;
            O.duration_s = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(O.duration_s >= 0) || O.duration_s > 1e7)
                die_usage("--duration: expected seconds >= 0, got '%s'", optarg);
            break;
        case OPT_TMO: O.timeout_ms = parse_long("--timeout-ms", optarg, 1, 86400000L); break;
        case OPT_BACKOFF: O.backoff_ms = parse_long("--backoff-ms", optarg, 0, 86400000L); break;
        case OPT_THREADS: O.threads = parse_long("--threads", optarg, 1, MAX_THREADS); break;
        case OPT_JSON: O.json = 1; break;
        case OPT_WATCH: O.watch = 1; break;
        case OPT_EVENTS: O.events_file = optarg; O.watch = 1; break;
        case 'h': usage(stdout); exit(0);
        case '?':
        default:
            if (optopt > 0 && optopt < 128)
                die_usage("option -%c: unknown or missing its argument", optopt);
            die_usage("option %s: unknown or missing its argument", argv[optind - 1]);
        }
    }
    if (optind < argc) die_usage("unexpected argument '%s'", argv[optind]);
    if (!have_target) die_usage("give --addr HOST:PORT or --unix PATH");
    if (O.keepalive + O.new_conns == 0) die_usage("nothing to do: --keepalive and --new are both 0");
    if (O.keepalive + O.new_conns > MAX_CONNS) die_usage("at most %d connections", MAX_CONNS);
    if (O.threads > O.keepalive + O.new_conns) O.threads = O.keepalive + O.new_conns;
}

/* ------------------------------------------------------------------------ */
/* Reports                                                                    */

struct totals {
    uint64_t ok, fail[K_NKINDS], failures, requests, server_close, idle_close, connections;
    uint64_t hist[NBUCKETS], lat_max;
    const char *why[K_NKINDS];
    uint64_t why_at[K_NKINDS];
    struct pidrec *pids;
    size_t npids;
    double duration_s, rps;
};

static int cmp_pid_first(const void *a, const void *b)
{
    const struct pidrec *x = a, *y = b;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static void merge(struct thr *ts, long nt, uint64_t end, struct totals *T)
{
    long i;
    size_t j, k;
    memset(T, 0, sizeof *T);
    for (i = 0; i < nt; i++) {
        struct thr *t = &ts[i];
        T->ok += t->ok;
        T->server_close += t->server_close;
        T->idle_close += t->idle_close;
        T->connections += t->connections;
        for (k = 0; k < K_NKINDS; k++) {
            T->fail[k] += t->fail[k];
            if (t->why[k][0] && (!T->why[k] || t->why_at[k] < T->why_at[k])) {
                T->why[k] = t->why[k];
                T->why_at[k] = t->why_at[k];
            }
        }
        for (k = 0; k < NBUCKETS; k++) T->hist[k] += t->hist[k];
        if (t->lat_max > T->lat_max) T->lat_max = t->lat_max;
        for (j = 0; j < t->pids.n; j++) {
            struct pidrec *p = &t->pids.v[j];
            for (k = 0; k < T->npids && T->pids[k].pid != p->pid; k++) {
            }
            if (k == T->npids) {
                struct pidrec *v = realloc(T->pids, (T->npids + 1) * sizeof *v);
                if (!v) continue;
                T->pids = v;
                T->pids[T->npids++] = *p;
            } else {
                T->pids[k].count += p->count;
                T->pids[k].first = min_u64(T->pids[k].first, p->first);
                if (p->last > T->pids[k].last) T->pids[k].last = p->last;
            }
        }
    }
    if (T->npids > 1) qsort(T->pids, T->npids, sizeof *T->pids, cmp_pid_first);
    for (k = 0; k < K_NKINDS; k++) T->failures += T->fail[k];
    T->requests = T->ok + T->failures;
    T->duration_s = (double)(end - g_start) / 1e9;
    T->rps = T->duration_s > 0 ? (double)T->ok / T->duration_s : 0.0;
}

/* Latency quantile q in ms (0 when nothing was measured). */
static double quantile_ms(const struct totals *T, double q)
{
    uint64_t total = 0, seen = 0, rank;
    unsigned i;
    for (i = 0; i < NBUCKETS; i++) total += T->hist[i];
    if (total == 0) return 0.0;
    rank = (uint64_t)(q * (double)total);
    if ((double)rank < q * (double)total) rank++;
    if (rank == 0) rank = 1;
    for (i = 0; i < NBUCKETS; i++) {
        seen += T->hist[i];
        if (seen >= rank) {
            uint64_t v = bucket_mid(i);
            return (double)(v < T->lat_max ? v : T->lat_max) / NS_PER_MS;
        }
    }
    return (double)T->lat_max / NS_PER_MS;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static void report_json(const struct totals *T)
{
    size_t k;
    int first = 1;
    FILE *f = stdout;
    fprintf(f, "{\"requests\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"failures\":%" PRIu64, T->requests,
            T->ok, T->failures);
    fprintf(f, ",\"failures_by_kind\":{");
    for (k = 0; k < K_NKINDS; k++)
        fprintf(f, "%s\"%s\":%" PRIu64, k ? "," : "", KIND_NAMES[k], T->fail[k]);
    fprintf(f, "},\"failure_reasons\":{");
    for (k = 0; k < K_NKINDS; k++) {
        if (!T->why[k]) continue;
        fprintf(f, "%s\"%s\":", first ? "" : ",", KIND_NAMES[k]);
        json_str(f, T->why[k]);
        first = 0;
    }
    fprintf(f, "},\"reconnects\":{\"server_close\":%" PRIu64 ",\"idle_close\":%" PRIu64 "}",
            T->server_close, T->idle_close);
    fprintf(f, ",\"connections\":%" PRIu64, T->connections);
    fprintf(f, ",\"distinct_pids\":%zu,\"pids\":[", T->npids);
    for (k = 0; k < T->npids; k++)
        fprintf(f, "%s{\"pid\":%ld,\"responses\":%" PRIu64 ",\"first_ms\":%.3f,\"last_ms\":%.3f}",
                k ? "," : "", T->pids[k].pid, T->pids[k].count, ms_since_start(T->pids[k].first),
                ms_since_start(T->pids[k].last));
    fprintf(f, "],\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}",
            quantile_ms(T, 0.50), quantile_ms(T, 0.90), quantile_ms(T, 0.99),
            (double)T->lat_max / NS_PER_MS);
    fprintf(f, ",\"duration_s\":%.3f,\"rps\":%.1f", T->duration_s, T->rps);
    fprintf(f, ",\"config\":{\"target\":");
    json_str(f, O.target);
    fprintf(f, ",\"path\":");
    json_str(f, O.path);
    fprintf(f, ",\"keepalive\":%ld,\"new\":%ld,\"threads\":%ld,\"duration_s\":%.3f,"
               "\"timeout_ms\":%ld,\"backoff_ms\":%ld}}\n",
            O.keepalive, O.new_conns, O.threads, O.duration_s, O.timeout_ms, O.backoff_ms);
}

static void report_human(const struct totals *T)
{
    size_t k;
    FILE *f = stdout;
    char dur[64];
    if (O.duration_s > 0) snprintf(dur, sizeof dur, "duration %.3f s", O.duration_s);
    else snprintf(dur, sizeof dur, "until SIGINT/SIGTERM");
    fprintf(f, "loadgen: %s GET %s, %ld keep-alive + %ld new-connection worker(s), %ld thread(s), "
               "%s, timeout %ld ms\n",
            O.target, O.path, O.keepalive, O.new_conns, O.threads, dur, O.timeout_ms);
    fprintf(f, "requests    %" PRIu64 " total, %" PRIu64 " ok, %" PRIu64
               " failed; %.1f ok/s over %.3f s\n",
            T->requests, T->ok, T->failures, T->rps, T->duration_s);
    fprintf(f, "failures   ");
    for (k = 0; k < K_NKINDS; k++) fprintf(f, " %s=%" PRIu64, KIND_NAMES[k], T->fail[k]);
    fprintf(f, "\n");
    for (k = 0; k < K_NKINDS; k++)
        if (T->why[k])
            fprintf(f, "            first %s at %.3f s: %s\n", KIND_NAMES[k],
                    ms_since_start(T->why_at[k]) / 1000.0, T->why[k]);
    fprintf(f, "reconnects  server_close=%" PRIu64 " idle_close=%" PRIu64
               "; %" PRIu64 " connections opened\n",
            T->server_close, T->idle_close, T->connections);
    fprintf(f, "latency     p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n",
            quantile_ms(T, 0.50), quantile_ms(T, 0.90), quantile_ms(T, 0.99),
            (double)T->lat_max / NS_PER_MS);
    fprintf(f, "pids        %zu distinct\n", T->npids);
    for (k = 0; k < T->npids && k < 64; k++)
        fprintf(f, "            pid %ld: %" PRIu64 " responses, first %.3f ms, last %.3f ms\n",
                T->pids[k].pid, T->pids[k].count, ms_since_start(T->pids[k].first),
                ms_since_start(T->pids[k].last));
    if (T->npids > 64) fprintf(f, "            ... and %zu more\n", T->npids - 64);
}

/* ------------------------------------------------------------------------ */

static char *make_request(int close_it, size_t *len)
{
    size_t n = strlen(O.path) + strlen(O.host) + 64;
    char *s = malloc(n);
    int w;
    if (!s) return NULL;
    w = snprintf(s, n, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", O.path, O.host,
                 close_it ? "Connection: close\r\n" : "");
    if (w < 0 || (size_t)w >= n) {
        free(s);
        return NULL;
    }
    *len = (size_t)w;
    return s;
}

static void raise_nofile(rlim_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need) return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need)
        fprintf(stderr, "loadgen: warning: RLIMIT_NOFILE %lu < %lu needed\n",
                (unsigned long)rl.rlim_cur, (unsigned long)need);
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    struct thr *ts;
    struct totals T;
    long i, total;
    uint64_t end;
    int rc;

    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    g_req_ka = make_request(0, &g_req_ka_len);
    g_req_close = make_request(1, &g_req_close_len);
    total = O.keepalive + O.new_conns;
    ts = calloc((size_t)O.threads, sizeof *ts);
    if (!g_req_ka || !g_req_close || !ts) {
        fprintf(stderr, "loadgen: out of memory\n");
        return 2;
    }
    raise_nofile((rlim_t)total + 32);
    if (O.watch) {
        if (O.events_file) {
            g_events = fopen(O.events_file, "we");
            if (!g_events) {
                fprintf(stderr, "loadgen: --events-file %s: %s\n", O.events_file, strerror(errno));
                return 2;
            }
        } else {
            g_events = stdout;
        }
    }
    if (pipe2(g_stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        fprintf(stderr, "loadgen: pipe: %s\n", strerror(errno));
        return 2;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART | SA_RESETHAND; /* a second signal kills */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    for (i = 0; i < O.threads; i++) {
        size_t share = (size_t)(total / O.threads + (i < total % O.threads));
        ts[i].conns = calloc(share, sizeof *ts[i].conns);
        ts[i].pfd = calloc(share + 1, sizeof *ts[i].pfd);
        ts[i].pconn = calloc(share + 1, sizeof *ts[i].pconn);
        if (!ts[i].conns || !ts[i].pfd || !ts[i].pconn) {
            fprintf(stderr, "loadgen: out of memory\n");
            return 2;
        }
    }
    /* Connection i goes to thread i % threads, so each gets a mix of kinds. */
    for (i = 0; i < total; i++) {
        struct thr *t = &ts[i % O.threads];
        struct conn *c = malloc(sizeof *c);
        if (!c) {
            fprintf(stderr, "loadgen: out of memory\n");
            return 2;
        }
        memset(c, 0, offsetof(struct conn, buf));
        c->fd = -1;
        c->keepalive = i < O.keepalive;
        c->st = C_START;
        t->conns[t->nconns++] = c;
    }

    g_timeout_ns = (uint64_t)O.timeout_ms * 1000000u;
    g_start = now_ns();
    g_deadline = O.duration_s > 0 ? g_start + (uint64_t)(O.duration_s * 1e9) : UINT64_MAX;
    for (i = 0; i < O.threads; i++) {
        rc = pthread_create(&ts[i].tid, NULL, thr_main, &ts[i]);
        if (rc != 0) {
            fprintf(stderr, "loadgen: pthread_create: %s\n", strerror(rc));
            __atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);
            {
                ssize_t r = write(g_stop_pipe[1], "x", 1);
                (void)r;
            }
            while (--i >= 0) pthread_join(ts[i].tid, NULL);
            return 2;
        }
    }
    for (i = 0; i < O.threads; i++) pthread_join(ts[i].tid, NULL);
    end = now_ns();

    merge(ts, O.threads, end, &T);
    if (O.json) report_json(&T);
    else report_human(&T);
    fflush(stdout);
    if (g_events && g_events != stdout) fclose(g_events);
    rc = T.failures ? 1 : 0;
    for (i = 0; i < O.threads; i++) {
        size_t j;
        for (j = 0; j < ts[i].nconns; j++) free(ts[i].conns[j]);
        free(ts[i].conns);
        free(ts[i].pfd);
        free(ts[i].pconn);
        free(ts[i].pids.v);
    }
    free(ts);
    free(T.pids);
    free(g_pids.v);
    free(g_req_ka);
    free(g_req_close);
    return rc;
}
