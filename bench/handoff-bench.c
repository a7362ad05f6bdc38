/* handoff-bench: how long a hand-off takes for 1, 100 and 10,000 fds.
 *
 * Three figures per size, each the median (and range) of several runs:
 *  - floor: the same fds over a bare sendmsg/recvmsg loop (252 per message,
 *    no framing, no library): what the kernel costs;
 *  - transfer: gracefd_send_fds() in one process to gracefd_recv_fds() in
 *    another over a socketpair (the wire transfer itself: a header, then
 *    chunks of 252 fds), from releasing the sender to the last fd received;
 *  - take: gracefd_handoff_take() in a fresh process against a process
 *    serving with gracefd_handoff_serve(): connect, SO_PEERCRED checks, the
 *    transfer, every fd into the registry. (The serving process holds its
 *    N registry fds and sends them without duplicates; the bench still
 *    leaves it N + 252 + 200 below RLIMIT_NOFILE, and where the hard limit
 *    is lower the figure is "n/a".)
 *
 * usage: handoff-bench [RUNS]   (default 21; 10,000-fd rows use RUNS/2+1)
 * Not a test: it asserts nothing and only reports.
 *
 * The serving side registers its fds with gracefd_add_fd().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gracefd.h"

#define MAXN 10000

static int fds[MAXN];
static const char *names[MAXN];
static char name_store[MAXN][12];
static int out[MAXN];

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static rlim_t raise_nofile(void) {
    struct rlimit r;
    getrlimit(RLIMIT_NOFILE, &r);
    struct rlimit want = {65536, r.rlim_max > 65536 ? r.rlim_max : 65536};
    if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
        want.rlim_cur = want.rlim_max = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &want);
    }
    getrlimit(RLIMIT_NOFILE, &r);
    return r.rlim_cur;
}

/* Make n fds, alternately unix datagram sockets and memfds (distinct inodes). */
static void make_fds(int n) {
    for (int i = 0; i < n; i++) {
        fds[i] = i % 2 ? socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0) : memfd_create("bench", MFD_CLOEXEC);
        if (fds[i] < 0) {
            perror("handoff-bench: make fds");
            exit(1);
        }
        snprintf(name_store[i], sizeof name_store[i], "fd%d", i);
        names[i] = name_store[i];
    }
}

static void close_fds(int n) {
    for (int i = 0; i < n; i++) close(fds[i]);
}

/* A sender process for one timed transfer: it makes its n fds before the
 * clock starts (so the receiver holds only what it receives), says ready,
 * waits for the gate, then runs send(sock, n) and exits with its result. */
struct sender {
    pid_t pid;
    int sock; /* the receiving end */
    int gate; /* write a byte to start it */
};

static int start_sender(int n, int (*send)(int sock, int n), struct sender *s) {
    int sv[2], gate[2], ready[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || pipe(gate) < 0 || pipe(ready) < 0) return -1;
    pid_t p = fork();
    if (p == 0) {
        char b;
        close(sv[1]);
        close(gate[1]);
        close(ready[0]);
        make_fds(n);
        if (write(ready[1], "r", 1) != 1 || read(gate[0], &b, 1) != 1) _exit(1);
        _exit(send(sv[0], n));
    }
    close(sv[0]);
    close(gate[0]);
    close(ready[1]);
    char b;
    int ok = read(ready[0], &b, 1) == 1;
    close(ready[0]);
    s->pid = p;
    s->sock = sv[1];
    s->gate = gate[1];
    return ok ? 0 : -1;
}

/* Open the gate: the clock starts now. */
static double release(const struct sender *s) {
    double t0 = now_us();
    return write(s->gate, "g", 1) == 1 ? t0 : -1;
}

static void finish_sender(const struct sender *s) {
    waitpid(s->pid, NULL, 0);
    close(s->gate);
    close(s->sock);
}

static int send_with_library(int sock, int n) {
    return gracefd_send_fds(sock, fds, names, (size_t)n, 30000) == 0 ? 0 : 2;
}

/* One transfer of n fds between two processes; microseconds, or -1. */
static double transfer_once(int n) {
    struct sender s;
    if (start_sender(n, send_with_library, &s) < 0) return -1;
    double t0 = release(&s);
    int r = gracefd_recv_fds(s.sock, 30000, (size_t)n, out, NULL);
    double t1 = now_us();
    finish_sender(&s);
    if (t0 < 0 || r != n) {
        fprintf(stderr, "handoff-bench: recv %d fds: %d %s\n", n, r, gracefd_last_error());
        return -1;
    }
    for (int i = 0; i < r; i++) close(out[i]);
    return t1 - t0;
}

/* The floor's sender: a bare sendmsg loop, 252 fds per message, one data
 * byte each, no framing, no checks, no library. */
static int send_bare(int sock, int n) {
    for (int i = 0; i < n; i += 252) {
        int k = n - i < 252 ? n - i : 252;
        union { char buf[CMSG_SPACE(sizeof(int) * 252)]; struct cmsghdr align; } c;
        char d = 1;
        struct iovec iov = {&d, 1};
        struct msghdr m;
        memset(&m, 0, sizeof m);
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = c.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)k);
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)k);
        memcpy(CMSG_DATA(h), fds + i, sizeof(int) * (size_t)k);
        if (sendmsg(sock, &m, MSG_NOSIGNAL) != 1) return 2;
    }
    return 0;
}

/* The floor: the same fds over bare sendmsg/recvmsg; microseconds, or -1. */
static double floor_once(int n) {
    struct sender s;
    if (start_sender(n, send_bare, &s) < 0) return -1;
    double t0 = release(&s);
    int got = 0;
    while (t0 >= 0 && got < n) {
        union { char buf[CMSG_SPACE(sizeof(int) * 253)]; struct cmsghdr align; } c;
        char d;
        struct iovec iov = {&d, 1};
        struct msghdr m;
        memset(&m, 0, sizeof m);
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = c.buf;
        m.msg_controllen = sizeof c.buf;
        if (recvmsg(s.sock, &m, MSG_CMSG_CLOEXEC) <= 0) break;
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        if (!h) break;
        int k = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        memcpy(out + got, CMSG_DATA(h), sizeof(int) * (size_t)k);
        got += k;
    }
    double t1 = now_us();
    finish_sender(&s);
    for (int i = 0; i < got; i++) close(out[i]);
    return got == n ? t1 - t0 : -1;
}

/* The serving side: n fds registered, serving at path until SIGTERM. */
static pid_t start_server(const char *path, int n) {
    int ready[2];
    if (pipe(ready) < 0) return -1;
    pid_t p = fork();
    if (p == 0) {
        close(ready[0]);
        for (int i = 0; i < n; i++) {
            if (gracefd_add_fd(names[i], fds[i]) < 0) _exit(1);
            close(fds[i]);
        }
        int h = gracefd_handoff_serve(path);
        if (h < 0) _exit(2);
        if (write(ready[1], "r", 1) != 1) _exit(3);
        for (;;) {
            struct pollfd pf = {h, POLLIN, 0};
            poll(&pf, 1, -1);
            gracefd_handoff_process(); /* takers exit without ready: serve the next */
        }
    }
    close(ready[1]);
    char b;
    int ok = read(ready[0], &b, 1) == 1;
    close(ready[0]);
    if (!ok) {
        waitpid(p, NULL, 0);
        return -1;
    }
    return p;
}

/* One take of n fds by a fresh process; microseconds, or -1 (and *why). */
static double take_once(const char *path, int n, char *why, size_t whylen) {
    int res[2];
    if (pipe(res) < 0) return -1;
    pid_t p = fork();
    if (p == 0) {
        close(res[0]);
        double t = -1;
        char msg[200] = "";
        for (int attempt = 0; attempt < 10000; attempt++) {
            double t0 = now_us();
            int r = gracefd_handoff_take(path, 30000);
            double t1 = now_us();
            if (r == n) { t = t1 - t0; break; }
            if (r != -EBUSY) { snprintf(msg, sizeof msg, "%s", gracefd_last_error()); break; }
            usleep(200); /* the previous taker's exit not yet noticed */
        }
        if (write(res[1], &t, sizeof t) != (ssize_t)sizeof t || write(res[1], msg, sizeof msg) < 0) _exit(1);
        _exit(0); /* without gracefd_ready(): the server goes on serving */
    }
    close(res[1]);
    double t = -1;
    if (read(res[0], &t, sizeof t) != (ssize_t)sizeof t) t = -1;
    ssize_t m = read(res[0], why, whylen - 1);
    why[m > 0 ? m : 0] = 0;
    close(res[0]);
    waitpid(p, NULL, 0);
    return t;
}

static void report(const char *what, int n, double *v, int runs) {
    qsort(v, (size_t)runs, sizeof *v, cmp_double);
    double med = v[runs / 2];
    printf("| %6d | %-9s | %10.1f | %10.1f | %10.1f | %5d | %8.2f |\n", n, what, med, v[0], v[runs - 1], runs,
           n > 0 ? med / n : 0.0);
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 21;
    if (runs < 1) runs = 1;
    signal(SIGPIPE, SIG_IGN);
    rlim_t lim = raise_nofile();
    struct utsname u;
    uname(&u);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    printf("hand-off time, microseconds (median of RUNS, min, max), %ld CPUs, Linux %s, RLIMIT_NOFILE %llu\n\n", cpus,
           u.release, (unsigned long long)lim);
    printf("| fds    | what      | median us  | min us     | max us     | runs  | us/fd    |\n");
    printf("|-------:|-----------|-----------:|-----------:|-----------:|------:|---------:|\n");
    static double v[1000];
    const int sizes[3] = {1, 100, MAXN};
    char dir[] = "/tmp/gracefd-bench-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char path[128];
    snprintf(path, sizeof path, "%s/h.sock", dir);
    for (int s = 0; s < 3; s++) {
        int n = sizes[s];
        int r = n >= MAXN ? runs / 2 + 1 : runs;
        if (r > 1000) r = 1000;
        int ok = 1;
        for (int i = 0; i < r && ok; i++) ok = (v[i] = floor_once(n)) >= 0;
        if (ok) report("floor", n, v, r);
        ok = 1;
        for (int i = 0; i < r && ok; i++) ok = (v[i] = transfer_once(n)) >= 0;
        if (ok) report("transfer", n, v, r);
        if ((rlim_t)n + 252 + 200 > lim) {
            /* The serving side cannot hold n + 252 here: measure the most that fits, and say so. */
            int fit = (int)(lim - 252 - 200);
            printf("| %6d | take      | n/a: the serving side needs %d + 252 fds, RLIMIT_NOFILE is %llu here "
                   "(next row: %d fds) |\n", n, n, (unsigned long long)lim, fit);
            n = fit;
        }
        make_fds(n);
        pid_t srv = start_server(path, n);
        close_fds(n);
        if (srv < 0) {
            printf("| %6d | take      | n/a: could not serve |\n", n);
            continue;
        }
        char why[200] = "";
        ok = 1;
        for (int i = 0; i < r && ok; i++) ok = (v[i] = take_once(path, n, why, sizeof why)) >= 0;
        if (ok) report("take", n, v, r);
        else printf("| %6d | take      | failed: %s |\n", n, why);
        kill(srv, SIGTERM);
        waitpid(srv, NULL, 0);
        unlink(path);
    }
    rmdir(dir);
    return 0;
}
