/* Helpers shared by the listeners tests (t_listeners_listen_fds.c,
 * t_listeners_server_starter.c, t_listeners_in_process.c): sockets to pass
 * and inspect, and running this binary as a role (ROLE(probe), in
 * t_listeners_listen_fds.c) with a crafted environment and crafted fds.
 * Define _GNU_SOURCE before including. */
#ifndef GRACEFD_LISTENERS_HELPERS_H
#define GRACEFD_LISTENERS_HELPERS_H

/* The helpers are static functions marked unused, not inline ones: each test
 * file compiles them exactly as when they were its own (inlined, gcc's flow
 * warnings would see other code under -Werror). */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gracefd.h"
#include "harness.h"

__attribute__((unused))
static unsigned long inode_of(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) return 0;
    return (unsigned long)st.st_ino;
}

__attribute__((unused))
static int port_of(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

/* A CLOEXEC IPv4 socket on 127.0.0.1, port chosen by the kernel. */
__attribute__((unused))
static int inet_socket(int type, int *port_out) {
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin;
    if (fd < 0) return -1;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0) return -1;
    if (type == SOCK_STREAM && listen(fd, 16) != 0) return -1;
    if (port_out) *port_out = port_of(fd);
    return fd;
}

__attribute__((unused))
static int unix_listener(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun;
    if (fd < 0) return -1;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    if (snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path) >= (int)sizeof sun.sun_path) return -1;
    if (bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0) return -1;
    if (listen(fd, 16) != 0) return -1;
    return fd;
}

__attribute__((unused))
static int connect_unix(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun;
    int r;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    if (snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path) >= (int)sizeof sun.sun_path) {
        close(fd);
        return -1;
    }
    r = connect(fd, (struct sockaddr *)&sun, sizeof sun);
    close(fd);
    return r;
}

__attribute__((unused))
static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define PROBE_TIMEOUT_MS 20000
#define CLOSED_SLOT (-1)

/* Run `ffi-tests --role ROLE CMDS...` with exactly `env` as its environment
 * ("LISTEN_PID=$" becomes the child's own pid, "LISTEN_PIDFDID=$" its own pidfd
 * id and "LISTEN_PIDFDID=$+1" another one), fds[i] at fd 3+i (CLOSED_SLOT:
 * that fd is closed in the child), `stdin_fd` at 0 if >= 0, and no other fd
 * >= 3 open. Collects its stdout into `out`; returns its exit status, or
 * -1 if it had to be killed. Bounded in time; the child is reaped. */
__attribute__((unused))
static int run_role(const char *role, const char *const *env, const int *fds, int nfds, int stdin_fd, char *out,
                    size_t outlen, const char *const *cmds) {
    int p[2];
    char *argv[64];
    char *envp[64];
    char pidvar[64], pidfdvar[64];
    int argc = 0, envc = 0, i;
    size_t used = 0;
    pid_t pid;
    long long deadline = now_ms() + PROBE_TIMEOUT_MS;
    int status = 0, got = 0;

    argv[argc++] = (char *)harness_self();
    argv[argc++] = (char *)"--role";
    argv[argc++] = (char *)role;
    for (i = 0; cmds && cmds[i] && argc < 63; i++) argv[argc++] = (char *)cmds[i];
    argv[argc] = NULL;
    for (i = 0; env[i] && envc < 62; i++) envp[envc++] = (char *)env[i];
    envp[envc] = NULL;

    if (pipe2(p, O_CLOEXEC) != 0) return -1;
    fflush(NULL);
    pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int tmp[32];
        for (i = 0; env[i] && i < 62; i++)
            if (strcmp(env[i], "LISTEN_PID=$") == 0) {
                snprintf(pidvar, sizeof pidvar, "LISTEN_PID=%d", (int)getpid());
                envp[i] = pidvar;
            } else if (strncmp(env[i], "LISTEN_PIDFDID=$", 16) == 0) {
                /* "$": the child's own pidfd id (it survives exec); "$+1": another one. */
                struct stat st;
                int pfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
                unsigned long long id = pfd >= 0 && fstat(pfd, &st) == 0 ? (unsigned long long)st.st_ino : 0;
                snprintf(pidfdvar, sizeof pidfdvar, "LISTEN_PIDFDID=%llu", id + (strcmp(env[i] + 16, "+1") == 0));
                envp[i] = pidfdvar;
            }
        dup2(p[1], 1);
        /* Two phases, so that no target clobbers a source. */
        for (i = 0; i < nfds && i < 32; i++) tmp[i] = fds[i] >= 0 ? fcntl(fds[i], F_DUPFD_CLOEXEC, 200) : -1;
        if (stdin_fd >= 0) dup2(fcntl(stdin_fd, F_DUPFD_CLOEXEC, 200), 0);
        /* Whatever else is open (this process's or its parents') vanishes at exec. */
        close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        for (i = 3; i < 3 + nfds; i++) close(i);
        for (i = 0; i < nfds && i < 32; i++)
            if (tmp[i] >= 0) dup2(tmp[i], 3 + i);
        execve(harness_self(), argv, envp);
        _exit(127);
    }
    close(p[1]);
    for (;;) {
        struct pollfd pf;
        long long left = deadline - now_ms();
        ssize_t n;
        if (left <= 0) break;
        pf.fd = p[0];
        pf.events = POLLIN;
        pf.revents = 0;
        if (poll(&pf, 1, (int)left) <= 0) continue;
        if (used + 1 >= outlen) break;
        n = read(p[0], out + used, outlen - 1 - used);
        if (n <= 0) break;
        used += (size_t)n;
    }
    out[used] = 0;
    close(p[0]);
    while (now_ms() < deadline) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            got = 1;
            break;
        }
        {
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL);
        }
    }
    if (!got) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fprintf(stderr, "    probe timed out; output so far:\n%s\n", out);
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fprintf(stderr, "    probe output:\n%s\n", out);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

__attribute__((unused))
static int run_probe(const char *const *env, const int *fds, int nfds, int stdin_fd, char *out, size_t outlen,
                     const char *const *cmds) {
    return run_role("probe", env, fds, nfds, stdin_fd, out, outlen, cmds);
}

#define OUT_LEN 16384

#endif
