/* Helpers for the sd_notify tests (t_notify.c and interop_notify.c): a
 * receiver standing in for systemd, spawning the test binary as a role with
 * a crafted environment, bounded waits. Define _GNU_SOURCE before including.
 *
 * The library reads the environment once, at load time, so a test cannot
 * set NOTIFY_SOCKET for itself: it re-executes the test binary as a ROLE
 * with an envp of its own making. */
#ifndef GRACEFD_NOTIFY_HELPERS_H
#define GRACEFD_NOTIFY_HELPERS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* The kernel's limit of fds per message (SCM_MAX_FD). */
#define NH_MAX_FDS_PER_MSG 253

/* In a role: fail with the line, the condition and gracefd's last error. */
#define RCHECK(cond)                                                            \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "    role %s:%d: %s (last error: \"%s\")\n",        \
                    __FILE__, __LINE__, #cond, gracefd_last_error());           \
            return 1;                                                           \
        }                                                                       \
    } while (0)

static inline uint64_t nh_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A datagram receiver bound at a path in the test's tmpdir, or in the
 * abstract namespace. Writes the matching NOTIFY_SOCKET value to addr_out.
 * Returns the fd (CLOEXEC) or -1. */
static inline int nh_receiver(int abstract_ns, const char *name, char *addr_out, size_t cap) {
    struct sockaddr_un sa;
    socklen_t len;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (abstract_ns) {
        snprintf(addr_out, cap, "@gracefd-test-%ld-%s", (long)getpid(), name);
        /* sun_path[0] stays NUL; the name follows, without a terminator. */
        memcpy(sa.sun_path + 1, addr_out + 1, strlen(addr_out) - 1);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(addr_out));
    } else {
        snprintf(addr_out, cap, "%s/%s", harness_tmpdir(), name);
        if (strlen(addr_out) >= sizeof sa.sun_path) {
            close(fd);
            return -1;
        }
        memcpy(sa.sun_path, addr_out, strlen(addr_out) + 1);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(addr_out) + 1);
    }
    if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One datagram within timeout_ms: its bytes into buf (NUL-terminated, so
 * cap - 1 usable) and its fds into fds (CLOEXEC). Returns the length,
 * -1 on timeout or error, -2 if data or fds were truncated. */
static inline ssize_t nh_recv(int fd, char *buf, size_t cap, int *fds, int maxfds, int *nfds, int timeout_ms) {
    union {
        char space[CMSG_SPACE(sizeof(int) * NH_MAX_FDS_PER_MSG)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov;
    struct msghdr mh;
    struct cmsghdr *c;
    struct pollfd p;
    ssize_t n;
    int r;
    *nfds = 0;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    do {
        r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) return -1;
    iov.iov_base = buf;
    iov.iov_len = cap - 1;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.space;
    mh.msg_controllen = sizeof ctl.space;
    n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) return -1;
    buf[n] = 0;
    for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            int i;
            for (i = 0; i < k; i++) {
                int got;
                memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
                if (*nfds < maxfds) fds[(*nfds)++] = got;
                else close(got);
            }
        }
    }
    if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return -2;
    return n;
}

/* Whether a datagram is waiting (without taking it). */
static inline int nh_pending(int fd, int timeout_ms) {
    struct pollfd p;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, timeout_ms) > 0;
}

/* fork + execve of this test binary as `--role role args...` with exactly
 * `envp`. An envp entry "WATCHDOG_PID=@self" becomes the child's own pid.
 * Fds without CLOEXEC are inherited. Returns the pid, or -1. */
static inline pid_t nh_spawn(const char *role, char *const args[], char *const envp[]) {
    pid_t pid;
    fflush(NULL);
    pid = fork();
    if (pid != 0) return pid;
    {
        /* The child of a single-threaded test process: ordinary calls are fine. */
        static char *argv[1024];
        static char *env[64];
        static char self_pid[64];
        int a = 0, e = 0;
        argv[a++] = (char *)harness_self();
        argv[a++] = (char *)"--role";
        argv[a++] = (char *)role;
        while (args && *args && a < 1023) argv[a++] = *args++;
        argv[a] = NULL;
        snprintf(self_pid, sizeof self_pid, "WATCHDOG_PID=%ld", (long)getpid());
        while (envp && *envp && e < 63) {
            env[e++] = strcmp(*envp, "WATCHDOG_PID=@self") == 0 ? self_pid : *envp;
            envp++;
        }
        env[e] = NULL;
        execve(harness_self(), argv, env);
        _exit(127);
    }
}

/* Wait for `pid` at most timeout_ms; on timeout kill and reap it. Returns
 * the exit code, 128 + signal if killed by one, or -1 on timeout. */
static inline int nh_wait(pid_t pid, int timeout_ms) {
    uint64_t end = nh_now_us() + (uint64_t)timeout_ms * 1000u;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) break;
        if (r < 0 && errno != EINTR) return -1;
        if (nh_now_us() >= end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    }
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

/* Open fds of this process (the directory's own fd not counted). */
static inline int nh_count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int n = 0;
    if (!d) return -1;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.') n++;
    closedir(d);
    return n - 1;
}

/* Same socket: same inode and device, and the same local address. */
static inline int nh_same_socket(int a, int b) {
    struct stat sa, sb;
    struct sockaddr_storage na, nb;
    socklen_t la = sizeof na, lb = sizeof nb;
    if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0) return 0;
    if (sa.st_ino != sb.st_ino || sa.st_dev != sb.st_dev || !S_ISSOCK(sa.st_mode)) return 0;
    memset(&na, 0, sizeof na);
    memset(&nb, 0, sizeof nb);
    if (getsockname(a, (struct sockaddr *)&na, &la) < 0 || getsockname(b, (struct sockaddr *)&nb, &lb) < 0) return 0;
    return la == lb && memcmp(&na, &nb, la) == 0;
}

/* The number that makes up the rest of msg after `prefix`, or -1 if msg
 * does not start with prefix or the rest is not all decimal digits. */
static inline long long nh_number_after(const char *msg, const char *prefix) {
    size_t n = strlen(prefix);
    const char *p;
    long long v = 0;
    if (strncmp(msg, prefix, n) != 0) return -1;
    p = msg + n;
    if (!*p) return -1;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

#endif
