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
#include "common.h"

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
