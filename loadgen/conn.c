/* loadgen connections: the per-thread poll loop and the request drivers. */
#include "common.h"

/* ------------------------------------------------------------------------ */
/* Connections                                                                */

static const char *const STATE_NAMES[] = {"start", "backoff", "connecting", "connecting",
                                          "sending", "receiving", "awaiting EOF", "done"};

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
        if (O.idle_ms > 0) { /* a long-lived client: idle until its next request */
            c->st = C_BACKOFF;
            c->wake_at = c->done_at + (uint64_t)O.idle_ms * 1000000u;
            return 0;
        }
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


void *thr_main(void *arg)
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
