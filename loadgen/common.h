/*
 * loadgen — what its parts share: options, globals, the connection and
 * thread records, and the functions one part calls in another.
 *
 *   common.c   the options and globals every part reads (defined once here,
 *              declared below), so no part reaches into main()'s file
 *   loadgen.c  request text, signals, main()
 *   cli.c      the command line (parse_args, usage)
 *   http.c     HTTP/1.1 response parsing
 *   conn.c     connections: the per-thread poll loop and request drivers
 *   stats.c    latency histogram, pid sets, merged totals and reports
 */
#ifndef LOADGEN_COMMON_H
#define LOADGEN_COMMON_H

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

enum kind { K_CONNECT_REFUSED, K_CONNECT_OTHER, K_RESET, K_TIMEOUT, K_BAD_RESPONSE,
            K_SHORT_RESPONSE, K_NKINDS };
extern const char *const KIND_NAMES[K_NKINDS];

struct options {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int family;
    char target[300]; /* for reports */
    const char *path;
    const char *host;
    long keepalive, new_conns, threads;
    double duration_s; /* 0: until SIGINT/SIGTERM */
    long timeout_ms, backoff_ms;
    long idle_ms; /* keep-alive workers: pause between requests (0: none) */
    int json, watch;
    const char *events_file;
};
extern struct options O;

extern char *g_req_ka, *g_req_close;
extern size_t g_req_ka_len, g_req_close_len;
extern uint64_t g_start, g_deadline, g_timeout_ns;
extern int g_stop;                       /* set by SIGINT/SIGTERM, read atomically */
extern int g_stop_pipe[2];               /* readable once a stop signal arrived */
extern FILE *g_events;                   /* --watch-pid-change output, or NULL */

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline double ms_since_start(uint64_t t) { return t > g_start ? (double)(t - g_start) / NS_PER_MS : 0.0; }

static inline int stopping(uint64_t now)
{
    return now >= g_deadline || __atomic_load_n(&g_stop, __ATOMIC_RELAXED);
}

static inline uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* Latency histogram: exact below 64 ns, then 32 sub-buckets per power of two
 * (about 3% resolution). */
#define NBUCKETS 1920

struct pidrec {
    long pid;
    uint64_t first, last, count;
};

struct pidset {
    struct pidrec *v;
    size_t n, cap, hint;
};


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

enum cstate { C_START, C_BACKOFF, C_CONNECTING, C_RETRY_WAIT, C_SENDING, C_RECEIVING,
              C_AWAIT_EOF, C_DONE };

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

struct totals {
    uint64_t ok, fail[K_NKINDS], failures, requests, server_close, idle_close, connections;
    uint64_t hist[NBUCKETS], lat_max;
    const char *why[K_NKINDS];
    uint64_t why_at[K_NKINDS];
    struct pidrec *pids;
    size_t npids;
    double duration_s, rps;
};

/* stats.c */
unsigned bucket_of(uint64_t v);
struct pidrec *pidset_get(struct pidset *s, long pid, uint64_t at, int *added);
extern struct pidset g_pids;
void global_new_pid(long pid, uint64_t at);
void merge(struct thr *ts, long nt, uint64_t end, struct totals *T);
void report_json(const struct totals *T);
void report_human(const struct totals *T);

/* http.c */
void resp_init(struct resp *r);
int parse(struct conn *c, int eof);

/* conn.c */
void *thr_main(void *arg);

/* cli.c */
void parse_args(int argc, char **argv);

#endif
