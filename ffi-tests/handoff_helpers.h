/* Helpers shared by the hand-off tests (t_handoff_serve.c, t_handoff_hostile.c,
 * t_handoff_transfer.c): fd identities and snapshots of /proc/self/fd (leak
 * checks), the fds to hand over, re-executing the test binary as a role and
 * reaping it, and starting the old side (ROLE(handoff_old)). Define
 * _GNU_SOURCE before including. */
#ifndef GRACEFD_HANDOFF_HELPERS_H
#define GRACEFD_HANDOFF_HELPERS_H

/* The helpers are static functions marked unused, not inline ones: each test
 * file compiles them exactly as when they were its own (inlined, gcc's flow
 * warnings would see other code under -Werror). */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gracefd.h"
#include "harness.h"

#define BIG 10000
#define FDCAP 70000

struct key {
    unsigned long long dev, ino;
};

__attribute__((unused))
static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

__attribute__((unused))
static int cmp_key(const void *a, const void *b) {
    const struct key *x = a, *y = b;
    if (x->dev != y->dev) return x->dev < y->dev ? -1 : 1;
    if (x->ino != y->ino) return x->ino < y->ino ? -1 : 1;
    return 0;
}

__attribute__((unused))
static int key_of(int fd, struct key *k) {
    struct stat st;
    if (fstat(fd, &st) < 0) return -1;
    k->dev = (unsigned long long)st.st_dev;
    k->ino = (unsigned long long)st.st_ino;
    return 0;
}

/* Raise RLIMIT_NOFILE to n (the hard limit too: root with CAP_SYS_RESOURCE
 * may), or at least to the hard limit; returns the soft limit reached. */
__attribute__((unused))
static rlim_t raise_nofile(rlim_t n) {
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 0;
    if (r.rlim_cur >= n) return r.rlim_cur;
    struct rlimit want = {n, r.rlim_max < n ? n : r.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
        want.rlim_cur = r.rlim_max;
        want.rlim_max = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &want);
    }
    getrlimit(RLIMIT_NOFILE, &r);
    return r.rlim_cur;
}

/* The open fds of this process, sorted; returns how many (at most cap kept). */
__attribute__((unused))
static int list_fds(int *out, int cap) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd == dirfd(d)) continue;
        if (n < cap) out[n] = fd;
        n++;
    }
    closedir(d);
    qsort(out, (size_t)(n < cap ? n : cap), sizeof *out, cmp_int);
    return n;
}

__attribute__((unused))
static int same_fds(const int *a, int na, const int *b, int nb) {
    return na == nb && memcmp(a, b, (size_t)na * sizeof *a) == 0;
}
/* n distinct-inode fds: fd 0 a TCP listener on 127.0.0.1 (its port in
 * *port), then alternately a unix datagram socket and a memfd. */
__attribute__((unused))
static int make_fds(int n, int *fds, int *port) {
    for (int i = 0; i < n; i++) {
        if (i == 0) {
            int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            struct sockaddr_in a;
            memset(&a, 0, sizeof a);
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            socklen_t al = sizeof a;
            if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 16) < 0 ||
                getsockname(l, (struct sockaddr *)&a, &al) < 0)
                return -1;
            *port = ntohs(a.sin_port);
            fds[i] = l;
        } else if (i % 2) {
            fds[i] = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        } else {
            fds[i] = memfd_create("handoff-test", MFD_CLOEXEC);
        }
        if (fds[i] < 0) return -1;
    }
    return 0;
}

__attribute__((unused))
static char *read_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return "";
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Re-execute this binary as a role; returns its pid. */
__attribute__((unused))
static pid_t spawn_role(const char *role, const char *a1, const char *a2, const char *a3, const char *a4,
                        const char *a5) {
    fflush(NULL);
    pid_t p = fork();
    if (p == 0) {
        execl(harness_self(), harness_self(), "--role", role, a1, a2, a3, a4, a5, (char *)NULL);
        _exit(127);
    }
    return p;
}

/* Exit status of pid within timeout_s (128+signal if killed); -1 if it had to
 * be killed for taking too long (it is reaped either way). */
__attribute__((unused))
static int wait_exit(pid_t pid, int timeout_s) {
    int st = 0;
    for (long waited_ms = 0;; waited_ms += 2) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) break;
        if (r < 0) return -2;
        if (waited_ms > timeout_s * 1000L) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

__attribute__((unused))
static int unix_addr(struct sockaddr_un *a, const char *path) {
    size_t n = strlen(path);
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (n >= sizeof a->sun_path) return -1;
    memcpy(a->sun_path, path, n + 1);
    return 0;
}

__attribute__((unused))
static int wait_path(const char *path, int timeout_ms) {
    struct stat st;
    for (int i = 0; i < timeout_ms / 2; i++) {
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) return 0;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* The old side: ROLE(handoff_old) (in t_handoff_serve.c) serving n fds at
 * <tmpdir>/h.sock; start_old() returns 0 once its socket is there. */
struct old {
    pid_t pid;
    char path[256], keys[256], log[256];
};

__attribute__((unused))
static int start_old(struct old *o, int n, const char *flags) {
    snprintf(o->path, sizeof o->path, "%s/h.sock", harness_tmpdir());
    snprintf(o->keys, sizeof o->keys, "%s/keys", harness_tmpdir());
    snprintf(o->log, sizeof o->log, "%s/old.log", harness_tmpdir());
    char num[16];
    snprintf(num, sizeof num, "%d", n);
    o->pid = spawn_role("handoff_old", o->path, num, o->keys, o->log, flags);
    return o->pid > 0 ? wait_path(o->path, 20000) : -1;
}

/* A log hook writing each record to the FILE it is given, one "<level>text" line each. */
static inline void on_log_file(void *user, int level, const char *msg) {
    FILE *f = user;
    fprintf(f, "<%d>%s\n", level, msg);
    fflush(f);
}

/* Connect to the old side and send nothing: holds the one taker slot. */
static inline int idle_taker(const char *path) {
    struct sockaddr_un a;
    if (unix_addr(&a, path) < 0) return -1;
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
        close(s);
        return -1;
    }
    return s;
}

/* The server's end of a taker's connection: the unix stream socket of this
 * process that is neither listening nor `client`. */
__attribute__((unused))
static int server_end(int client) {
    static int fds[1024];
    int n = list_fds(fds, 1024);
    for (int i = 0; i < n && i < 1024; i++) {
        int dom = 0, type = 0, acc = 1;
        socklen_t l = sizeof(int);
        if (fds[i] == client || getsockopt(fds[i], SOL_SOCKET, SO_DOMAIN, &dom, &l) < 0) continue;
        l = sizeof(int);
        getsockopt(fds[i], SOL_SOCKET, SO_TYPE, &type, &l);
        l = sizeof(int);
        getsockopt(fds[i], SOL_SOCKET, SO_ACCEPTCONN, &acc, &l);
        if (dom == AF_UNIX && type == SOCK_STREAM && !acc) return fds[i];
    }
    return -1;
}

/* The name of entry i of start_big_transfer(): "nNNN-" and 185 'x' (190
 * bytes; `name` holds at least 191). */
__attribute__((unused))
static void big_name(char *name, int i) {
    snprintf(name, 6, "n%03u-", (unsigned)i % 1000u);
    memset(name + 5, 'x', 185);
    name[190] = 0;
}

/* A transfer too large for the server's send buffer, under way: 300 memfds
 * registered under 190-byte names "nNNN-xxx..." (the last memfd called
 * `last`, the others "entry"), hand-off served at <tmpdir>/`sock`, a taker
 * connected and accepted, the server's end of it given the smallest send
 * buffer, TAKE sent and one gracefd_handoff_process() run (the header does
 * not fit). Fills *hfd (the serving fd) and *taker; returns NULL, or what
 * failed. */
__attribute__((unused))
static const char *start_big_transfer(const char *sock, const char *last, int *hfd, int *taker) {
    char name[256];
    for (int i = 0; i < 300; i++) {
        int m = memfd_create(i == 299 ? last : "entry", MFD_CLOEXEC);
        big_name(name, i);
        if (m < 0 || gracefd_add_fd(name, m) != 0) return "registering the entries";
        close(m);
    }
    char path[256];
    snprintf(path, sizeof path, "%s/%s", harness_tmpdir(), sock);
    *hfd = gracefd_handoff_serve(path);
    if (*hfd < 0) return gracefd_last_error();
    *taker = idle_taker(path);
    if (*taker < 0) return "connecting the taker";
    struct pollfd p = {*hfd, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1 || gracefd_handoff_process() != GRACEFD_HANDOFF_SERVING) return "accepting the taker";
    int s = server_end(*taker);
    int one = 1;
    if (s < 0 || setsockopt(s, SOL_SOCKET, SO_SNDBUF, &one, sizeof one) != 0) return "shrinking the send buffer";
    unsigned char take[12] = {'G', 'F', 'D', 'H', 1, 3, 0, 0, 0, 0, 0, 0};
    if (send(*taker, take, sizeof take, MSG_NOSIGNAL) != (ssize_t)sizeof take) return "sending TAKE";
    if (poll(&p, 1, 5000) != 1 || gracefd_handoff_process() != GRACEFD_HANDOFF_SERVING) return "serving TAKE";
    return NULL;
}

/* What the log hook said, a line per record (each test runs in a process
 * of its own, so one buffer serves them all): gracefd_set_log_hook(on_log_lines, NULL, level). */
__attribute__((unused)) static char log_lines[1 << 16];

__attribute__((unused))
static void on_log_lines(void *user, int level, const char *msg) {
    (void)user;
    (void)level;
    size_t at = strlen(log_lines);
    snprintf(log_lines + at, sizeof log_lines - at, "%s\n", msg);
}

#endif
