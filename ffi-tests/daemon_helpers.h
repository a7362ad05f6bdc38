/* Helpers shared by the daemonize and pid file tests (t_daemon_detach.c,
 * t_daemon_reports.c, t_pidfile.c): files in the test's private directory,
 * the daemon's report, bounded waits, DTEST (a test that is a child
 * subreaper and kills and reaps every child it leaves), and running the
 * launcher (ROLE(daemon), in t_daemon_detach.c). Define _GNU_SOURCE before
 * including. */
#ifndef GRACEFD_DAEMON_HELPERS_H
#define GRACEFD_DAEMON_HELPERS_H

/* The helpers are static functions marked unused, not inline ones: each test
 * file compiles them exactly as when they were its own (inlined, gcc's flow
 * warnings would see other code under -Werror). */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gracefd.h"
#include "harness.h"

/* ---- small helpers ---------------------------------------------------------- */

__attribute__((unused))
static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((unused))
static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

__attribute__((unused))
static char *path_in_tmp(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", harness_tmpdir(), name);
    return buf;
}

/* Read a whole small file into buf (NUL-terminated); -1 if it cannot be opened. */
__attribute__((unused))
static ssize_t slurp(const char *path, char *buf, size_t n) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t got = 0;
    while (got + 1 < n) {
        ssize_t r = read(fd, buf + got, n - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    buf[got] = 0;
    close(fd);
    return (ssize_t)got;
}

__attribute__((unused))
static pid_t read_pidfile(const char *path) {
    char buf[64];
    if (slurp(path, buf, sizeof buf) <= 0) return -1;
    return (pid_t)atol(buf);
}

/* "key=value\n" lines: copy the value of key into out (or "" if absent). */
__attribute__((unused))
static const char *report_get(const char *report, const char *key, char *out, size_t n) {
    size_t kl = strlen(key);
    out[0] = 0;
    for (const char *p = report; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            size_t vl = len - kl - 1;
            if (vl >= n) vl = n - 1;
            memcpy(out, p + kl + 1, vl);
            out[vl] = 0;
            return out;
        }
        p = eol ? eol + 1 : NULL;
    }
    return out;
}

__attribute__((unused))
static long long report_num(const char *report, const char *key) {
    char v[64];
    report_get(report, key, v, sizeof v);
    return v[0] ? atoll(v) : -1;
}

/* Wait (bounded) until the daemon's report is complete. */
__attribute__((unused))
static int wait_report(const char *path, char *buf, size_t n) {
    long long end = now_ms() + 15000;
    while (now_ms() < end) {
        if (slurp(path, buf, n) > 0 && strstr(buf, "end=1\n")) return 1;
        sleep_ms(2);
    }
    return 0;
}

/* Whether pid is gone, waiting up to ms. Reaps it if it is our child. */
__attribute__((unused))
static int gone_within(pid_t pid, int ms) {
    long long end = now_ms() + ms;
    for (;;) {
        waitpid(pid, NULL, WNOHANG);
        if (kill(pid, 0) < 0 && errno == ESRCH) return 1;
        if (now_ms() >= end) return 0;
        sleep_ms(2);
    }
}

/* Kill and reap every child of this test (daemons are re-parented to us, the
 * subreaper, once their middle process is gone), until none is left. */
__attribute__((unused))
static void cleanup_children(void) {
    for (int round = 0; round < 200; round++) {
        char path[64], buf[4096];
        snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
        ssize_t n = slurp(path, buf, sizeof buf);
        int any = 0;
        for (char *p = buf; n > 0 && *p;) {
            char *endp;
            long c = strtol(p, &endp, 10);
            if (endp == p) break;
            p = endp;
            if (c > 0) {
                any = 1;
                kill((pid_t)c, SIGKILL);
                waitpid((pid_t)c, NULL, 0);
            }
        }
        /* Grandchildren whose parent we just killed come to us shortly. */
        while (waitpid(-1, NULL, WNOHANG) > 0) any = 1;
        if (!any && round > 2) return;
        sleep_ms(5);
    }
}

#define DTEST(name)                                                            \
    static void body_##name(void);                                             \
    TEST(name) {                                                               \
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);                             \
        body_##name();                                                         \
        cleanup_children();                                                    \
    }                                                                          \
    static void body_##name(void)

/* ---- running the launcher ----------------------------------------------------- */

struct run {
    pid_t pid;    /* the launcher */
    int status;   /* its exit status, or 128+signal, or -1 if it had to be killed */
    char out[4096];
    char err[4096];
};

struct launch_opts {
    int pty;                  /* give the launcher a controlling terminal (stdin) */
    void (*in_child)(void *); /* called in the child before exec */
    void *arg;
    int keep_fd3;             /* in_child placed something at fd 3 on purpose */
};

/* Start `ffi-tests --role daemon ARGS...` (NULL-terminated) and wait for it,
 * collecting stdout and stderr. 1 if it finished, 0 on a harness problem. */
__attribute__((unused))
static int launch_v(struct run *r, const struct launch_opts *lo, va_list ap) {
    const char *argv[64];
    int argc = 0;
    argv[argc++] = harness_self();
    argv[argc++] = "--role";
    argv[argc++] = "daemon";
    for (const char *a; argc < 63 && (a = va_arg(ap, const char *)) != NULL;) argv[argc++] = a;
    argv[argc] = NULL;

    memset(r, 0, sizeof *r);
    r->status = -1;
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) return 0;
    int master = -1;
    char slave[128] = "";
    if (lo && lo->pty) {
        master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, slave, sizeof slave) != 0) {
            /* No ptys here (a bare container): the daemon is still checked for
             * having no terminal, the launcher just has none to lose. */
            fprintf(stderr, "    note: no pty available (%s); launcher without a controlling terminal\n", strerror(errno));
            if (master >= 0) close(master);
            master = -1;
        }
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        if (master >= 0) {
            setsid();
            int s = open(slave, O_RDWR);
            if (s < 0 || ioctl(s, TIOCSCTTY, 0) < 0) _exit(126);
            dup2(s, 0);
        }
        dup2(po[1], 1);
        dup2(pe[1], 2);
        if (lo && lo->in_child) lo->in_child(lo->arg);
        /* A clean slate: nothing but 0-2 (and what in_child placed at 3 on purpose). */
        close_range((lo && lo->keep_fd3) ? 4 : 3, ~0U, 0);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    r->pid = pid;
    close(po[1]);
    close(pe[1]);
    size_t no = 0, ne = 0;
    int open_o = 1, open_e = 1;
    long long end = now_ms() + 30000;
    while ((open_o || open_e) && now_ms() < end) {
        struct pollfd p[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
        if (poll(p, 2, 100) < 0 && errno != EINTR) break;
        if (open_o && p[0].revents) {
            ssize_t k = read(po[0], r->out + no, sizeof r->out - 1 - no);
            if (k <= 0) open_o = 0; else no += (size_t)k;
        }
        if (open_e && p[1].revents) {
            ssize_t k = read(pe[0], r->err + ne, sizeof r->err - 1 - ne);
            if (k <= 0) open_e = 0; else ne += (size_t)k;
        }
    }
    close(po[0]);
    close(pe[0]);
    int st = 0;
    while (now_ms() < end) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        sleep_ms(2);
    }
    if (r->status < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (master >= 0) close(master);
    return r->status >= 0;
}

__attribute__((unused))
static int launch(struct run *r, const struct launch_opts *lo, ...) {
    va_list ap;
    va_start(ap, lo);
    int ok = launch_v(r, lo, ap);
    va_end(ap);
    return ok;
}

#endif
