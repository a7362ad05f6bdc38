/* handoff-bench: how long a hand-off takes for 1, 100 and 10,000 fds.
 *
 * Three figures per size, each the median (and range) of several runs:
 *  - floor: the same fds over a bare sendmsg/recvmsg loop (252 per message,
 *    one data byte each, no framing, no acknowledgement, no library): what
 *    the kernel costs;
 *  - transfer: gracefd_send_fds() in one process to gracefd_recv_fds() in
 *    another over a socketpair (the wire transfer itself: a header, then
 *    chunks of 252 fds, no acknowledgement either), from releasing the
 *    sender to the last fd received;
 *  - take: gracefd_handoff_take() in a fresh process against a process
 *    serving with gracefd_handoff_serve(): connect, SO_PEERCRED checks, the
 *    transfer, every fd into the registry. (The serving process holds its
 *    N registry fds and sends them without duplicates; the bench still
 *    leaves it N + 252 + 200 below RLIMIT_NOFILE, and where the hard limit
 *    is lower the figure is "n/a".)
 *
 * Floor and transfer are measured alike, so that their ratio means something
 * on a shared machine:
 *  - they run in pairs, interleaved (floor first in even pairs, transfer
 *    first in odd ones), so a busy moment of the machine falls on both;
 *  - one pair per size runs first and is not counted (the receiver's fd
 *    table grows to the size once; the first run of either would pay it);
 *  - both are sent by one long-lived process, this program run again
 *    (fork, then exec with --send), as a serving process would send: not a
 *    child forked per run, which shares the receiver's memory copy-on-write
 *    until it exits (every page the receiver writes during the run would be
 *    copied: a cost of the bench, not of a hand-off, and larger the more
 *    memory the receiving side touches), and not a fresh process per run,
 *    whose first call maps the library's code (a one-time cost, paid by the
 *    transfer's sender only).
 * After the table a line gives, per size, the median of the per-pair ratios
 * transfer / floor.
 *
 * usage: handoff-bench [RUNS]   (default 21 pairs; the take of 10,000 fds
 * uses RUNS/2+1 runs)
 * Not a test: it asserts nothing and only reports.
 *
 * The serving side registers its fds with gracefd_add_fd().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

/* The sending side: one process for the whole bench, this program run again
 * (--send). For each run it gets an order (floor or transfer, n), makes its
 * n fds before the clock starts (so the receiver holds only what it
 * receives), says ready, waits for the gate, sends with the bare loop or the
 * library, closes its fds and reports the result. One socketpair carries
 * every run (each run leaves it empty). */
struct order {
    int library;
    int n;
};

static struct {
    pid_t pid;
    int sock;  /* the receiving end */
    int cmd;   /* orders, then the gate byte */
    int reply; /* 'r' when ready, then the result */
} sender = {-1, -1, -1, -1};

/* The fd numbers the sender finds its ends at (dup2 clears CLOEXEC). */
enum { SENDER_SOCK = 1000, SENDER_CMD, SENDER_REPLY };

static int send_with_library(int sock, int n) {
    return gracefd_send_fds(sock, fds, names, (size_t)n, 30000) == 0 ? 0 : 2;
}

static int send_bare(int sock, int n);

/* The sender's loop (handoff-bench --send): until the orders end. */
static int sender_main(void) {
    struct order o;
    while (read(SENDER_CMD, &o, sizeof o) == (ssize_t)sizeof o) {
        char gate, rc;
        if (o.n < 0 || o.n > MAXN) return 1;
        make_fds(o.n);
        if (write(SENDER_REPLY, "r", 1) != 1 || read(SENDER_CMD, &gate, 1) != 1) return 1;
        rc = (char)(o.library ? send_with_library(SENDER_SOCK, o.n) : send_bare(SENDER_SOCK, o.n));
        close_fds(o.n);
        if (write(SENDER_REPLY, &rc, 1) != 1) return 1;
    }
    return 0;
}

/* Start the sending process (fork, then exec: it shares no memory with the receiver). */
static int start_sender(void) {
    int sv[2], cmd[2], reply[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || pipe2(cmd, O_CLOEXEC) < 0 ||
        pipe2(reply, O_CLOEXEC) < 0)
        return -1;
    pid_t p = fork();
    if (p == 0) {
        if (dup2(sv[0], SENDER_SOCK) < 0 || dup2(cmd[0], SENDER_CMD) < 0 || dup2(reply[1], SENDER_REPLY) < 0)
            _exit(1);
        char *argv[] = {"handoff-bench", "--send", NULL};
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(sv[0]);
    close(cmd[0]);
    close(reply[1]);
    sender.pid = p;
    sender.sock = sv[1];
    sender.cmd = cmd[1];
    sender.reply = reply[0];
    return p > 0 ? 0 : -1;
}

static void stop_sender(void) {
    close(sender.cmd);
    close(sender.reply);
    close(sender.sock);
    if (sender.pid > 0) waitpid(sender.pid, NULL, 0);
}

/* Order a run and wait until the sender is ready. */
static int order(int library, int n) {
    struct order o = {library, n};
    char b;
    return write(sender.cmd, &o, sizeof o) == (ssize_t)sizeof o && read(sender.reply, &b, 1) == 1 && b == 'r' ? 0 : -1;
}

/* Open the gate: the clock starts now. */
static double release(void) {
    double t0 = now_us();
    return write(sender.cmd, "g", 1) == 1 ? t0 : -1;
}

/* The sender's result: 0 if it sent everything. */
static int sender_result(void) {
    char rc;
    return read(sender.reply, &rc, 1) == 1 ? rc : -1;
}

/* One transfer of n fds between two processes; microseconds, or -1. */
static double transfer_once(int n) {
    if (order(1, n) < 0) return -1;
    double t0 = release();
    int r = gracefd_recv_fds(sender.sock, 30000, (size_t)n, out, NULL);
    double t1 = now_us();
    int sent = sender_result();
    if (t0 < 0 || r != n || sent != 0) {
        fprintf(stderr, "handoff-bench: recv %d fds: %d %s (sender: %d)\n", n, r, gracefd_last_error(), sent);
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
    if (order(0, n) < 0) return -1;
    double t0 = release();
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
        if (recvmsg(sender.sock, &m, MSG_CMSG_CLOEXEC) <= 0) break;
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        if (!h) break;
        int k = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        memcpy(out + got, CMSG_DATA(h), sizeof(int) * (size_t)k);
        got += k;
    }
    double t1 = now_us();
    int sent = sender_result();
    for (int i = 0; i < got; i++) close(out[i]);
    return got == n && sent == 0 ? t1 - t0 : -1;
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
    if (argc == 2 && strcmp(argv[1], "--send") == 0) return sender_main();
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
    static double v[1000], fl[1000], tr[1000], ratio[1000];
    const int sizes[3] = {1, 100, MAXN};
    double med_ratio[3] = {-1, -1, -1};
    char dir[] = "/tmp/gracefd-bench-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char path[128];
    snprintf(path, sizeof path, "%s/h.sock", dir);
    if (start_sender() < 0) {
        perror("handoff-bench: start the sender");
        return 1;
    }
    for (int s = 0; s < 3; s++) {
        int n = sizes[s];
        int pairs = runs > 1000 ? 1000 : runs;
        int r = n >= MAXN ? runs / 2 + 1 : runs;
        if (r > 1000) r = 1000;
        /* The first pair is not counted; then floor and transfer interleaved. */
        int ok = floor_once(n) >= 0 && transfer_once(n) >= 0;
        for (int i = 0; i < pairs && ok; i++) {
            if (i % 2 == 0) {
                fl[i] = floor_once(n);
                tr[i] = transfer_once(n);
            } else {
                tr[i] = transfer_once(n);
                fl[i] = floor_once(n);
            }
            ok = fl[i] > 0 && tr[i] > 0;
            if (ok) ratio[i] = tr[i] / fl[i];
        }
        if (ok) {
            report("floor", n, fl, pairs);
            report("transfer", n, tr, pairs);
            qsort(ratio, (size_t)pairs, sizeof *ratio, cmp_double);
            med_ratio[s] = ratio[pairs / 2];
        } else {
            printf("| %6d | transfer  | failed |\n", n);
        }
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
    stop_sender();
    rmdir(dir);
    printf("\ntransfer / floor, median of the per-pair ratios:");
    for (int s = 0; s < 3; s++) {
        if (med_ratio[s] > 0) printf(" %d fd%s %.2f%s", sizes[s], sizes[s] == 1 ? "" : "s", med_ratio[s], s < 2 ? ";" : "");
    }
    printf("\n");
    return 0;
}
