/* nolib.c: the gracefd calls of c-examples/httpd.c, done without gracefd.
 *
 * `make bench` links c-examples/httpd.c twice from the same source with the
 * same flags: once with libgracefd.a (build/bin/httpd), once with this file
 * instead (build/bin/plain-httpd). The serving loop is then byte for byte the
 * same code, and the only difference between the two is the library: this is
 * what the loop would do without it, written the plain way.
 *
 *  - gracefd_listen: socket, SO_REUSEADDR, bind, listen(SOMAXCONN) on an IPv4
 *    "HOST:PORT" (the library's defaults; the name is ignored);
 *  - signals: SIGTERM/SIGINT set a flag and write a byte to a self-pipe (the fd
 *    the loop polls), and gracefd_event_next() tests the flag (no syscall);
 *  - everything about upgrades, hand-off, readiness and logging: nothing
 *    (upgrades fail with ENOSYS; the benchmark never asks for one).
 *
 * Including the real header checks every signature here against the library.
 * If httpd.c starts calling another gracefd_* function, the plain link fails
 * naming it: add its plain version below.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gracefd.h"

struct gracefd_upgrade_opts {
    int unused;
};

static volatile sig_atomic_t shutdown_requested;
static int pipe_w = -1;
static char last_error[128] = "not available without gracefd";

const char *gracefd_last_error(void) { return last_error; }

int gracefd_set_log_hook(gracefd_log_fn callback, void *user, int max_level) {
    (void)callback;
    (void)user;
    (void)max_level;
    return 0;
}

int gracefd_fail(int status, const char *message) {
    (void)status;
    (void)message;
    return 0;
}

int gracefd_ready(void) { return 0; }
/* bench/lifecycle.c's, not httpd.c's: no service manager to tell. */
int gracefd_notify(const char *state) {
    (void)state;
    return 0;
}
int gracefd_generation(void) { return 1; }
int gracefd_is_upgrade(void) { return 0; }

int gracefd_listen(const char *name, const char *address) {
    (void)name;
    const char *colon = strrchr(address, ':');
    if (!colon || colon - address >= 64) {
        snprintf(last_error, sizeof last_error, "plain-httpd takes IPv4 HOST:PORT only, not \"%s\"", address);
        return -EINVAL;
    }
    char host[64];
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        snprintf(last_error, sizeof last_error, "bad IPv4 address \"%s\"", host);
        return -EINVAL;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, SOMAXCONN) < 0) {
        int e = errno;
        snprintf(last_error, sizeof last_error, "%s: %s", address, strerror(e));
        close(fd);
        return -e;
    }
    return fd;
}

static void on_signal(int sig) {
    (void)sig;
    int saved = errno;
    shutdown_requested = 1;
    if (write(pipe_w, "s", 1) < 0) { /* full pipe: the flag is set anyway */
    }
    errno = saved;
}

int gracefd_signals_install(void) {
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) return -errno;
    pipe_w = p[1];
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    return p[0];
}

int gracefd_event_next(void) {
    if (shutdown_requested) {
        shutdown_requested = 0;
        return GRACEFD_EVENT_SHUTDOWN;
    }
    return GRACEFD_EVENT_NONE;
}

gracefd_upgrade_opts *gracefd_upgrade_opts_new(void) { return calloc(1, sizeof(gracefd_upgrade_opts)); }
void gracefd_upgrade_opts_free(gracefd_upgrade_opts *opts) { free(opts); }

int gracefd_upgrade_opts_set_exe(gracefd_upgrade_opts *opts, const char *path) {
    (void)opts;
    (void)path;
    return 0;
}

int gracefd_upgrade_opts_set_timeout_ms(gracefd_upgrade_opts *opts, int64_t timeout_ms) {
    (void)opts;
    (void)timeout_ms;
    return 0;
}

int gracefd_upgrade_start(const gracefd_upgrade_opts *opts) {
    (void)opts;
    return -ENOSYS;
}

int gracefd_upgrade_finish(pid_t *child_pid_out) {
    (void)child_pid_out;
    return -ENOSYS;
}

int gracefd_handoff_serve(const char *path) {
    (void)path;
    return -ENOSYS;
}

int gracefd_handoff_process(void) { return -ENOSYS; }
int gracefd_handoff_stop(void) { return 0; }

int gracefd_handoff_take(const char *path, int64_t timeout_ms) {
    (void)path;
    (void)timeout_ms;
    return -ENOSYS;
}

/* Daemonize and pid files: not part of the serving loop the benchmark
 * compares; the plain build refuses them. */
struct gracefd_daemon_opts {
    int unused;
};
gracefd_daemon_opts *gracefd_daemon_opts_new(void) { return calloc(1, sizeof(gracefd_daemon_opts)); }
void gracefd_daemon_opts_free(gracefd_daemon_opts *opts) { free(opts); }
int gracefd_daemon_opts_set_pid_file(gracefd_daemon_opts *opts, const char *path) {
    (void)opts;
    (void)path;
    return 0;
}
int gracefd_daemon_opts_set_mode(gracefd_daemon_opts *opts, int mode) {
    (void)opts;
    (void)mode;
    return 0;
}
int gracefd_daemon_opts_set_log_file(gracefd_daemon_opts *opts, const char *path) {
    (void)opts;
    (void)path;
    return 0;
}
int gracefd_daemonize(const gracefd_daemon_opts *opts) {
    (void)opts;
    return -ENOSYS;
}
int gracefd_pidfile_create(const char *path) {
    (void)path;
    return -ENOSYS;
}
int gracefd_pidfile_remove(void) { return 0; }

/* The connection pass: nothing to pass to or take from (no upgrades). */
int gracefd_conns_enable(void) { return 0; }
int gracefd_conns_can_pass(void) { return -ENOTCONN; }
int gracefd_conns_next(uint64_t *tag_out, uint8_t *state, size_t state_cap, size_t *state_len_out) {
    (void)tag_out; (void)state; (void)state_cap; (void)state_len_out;
    return -EAGAIN;
}
int gracefd_conns_pass(const int *fds, const uint64_t *tags, const uint8_t *states, const uint32_t *state_lens, size_t n,
                       int timeout_ms, size_t *passed_out) {
    (void)fds; (void)tags; (void)states; (void)state_lens; (void)n; (void)timeout_ms;
    if (passed_out) *passed_out = 0;
    return -ENOTCONN;
}
