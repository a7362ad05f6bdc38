/* shim.h: small C helpers for the cgo side of package gracefd.
 *
 * gracefd_last_error() is per thread. A Go goroutine may move to another OS
 * thread between two cgo calls, so reading the detail in a second call could
 * read another thread's message (or none). Each helper here makes the failing
 * call and copies the detail within ONE C call, which runs on one OS thread
 * from start to end: the message always belongs to the call that failed.
 *
 * Every helper is static inline, so each Go file that includes this header
 * gets its own private copy and no symbol is exported.
 */
#ifndef GRACEFD_GO_SHIM_H
#define GRACEFD_GO_SHIM_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gracefd.h"

/* The library's messages are at most 240 bytes; room to spare. */
typedef struct {
    char msg[512];
} gfd_err;

static inline void gfd_set(gfd_err *e, const char *m) {
    size_t n;
    if (!e) return;
    n = strlen(m);
    if (n >= sizeof e->msg) n = sizeof e->msg - 1;
    memcpy(e->msg, m, n);
    e->msg[n] = 0;
}

/* Return r; if it is an error, copy this thread's detail first. */
static inline int gfd_ret(int r, gfd_err *e) {
    if (r < 0) gfd_set(e, gracefd_last_error());
    return r;
}

/* gracefd_listen_with, asking for a non-blocking socket (see the package
 * documentation, "Blocking mode"). backlog <= 0 and unix_mode < 0 keep the
 * defaults. */
/* Defined in prebind.c: calls the Go function exported by prebind.go. */
int gfd_pre_bind_trampoline(int fd, void *userdata);

static inline int gfd_listen(const char *name, const char *addr, int backlog, int unix_mode, uintptr_t pre_bind,
                             gfd_err *e) {
    gracefd_listen_opts *o = gracefd_listen_opts_new();
    int r;
    if (!o) {
        gfd_set(e, "out of memory for listen options");
        return -ENOMEM;
    }
    r = gracefd_listen_opts_set_nonblocking(o, 1);
    if (r == 0 && backlog > 0) r = gracefd_listen_opts_set_backlog(o, backlog);
    if (r == 0 && unix_mode >= 0) r = gracefd_listen_opts_set_unix_mode(o, (uint32_t)unix_mode);
    /* pre_bind is a cgo.Handle (never 0) that the trampoline resolves. */
    if (r == 0 && pre_bind) r = gracefd_listen_opts_set_pre_bind(o, gfd_pre_bind_trampoline, (void *)pre_bind);
    if (r == 0) r = gracefd_listen_with(name, addr, o);
    r = gfd_ret(r, e);
    gracefd_listen_opts_free(o);
    return r;
}

static inline int gfd_add_fd(const char *name, int fd, gfd_err *e) { return gfd_ret(gracefd_add_fd(name, fd), e); }
static inline int gfd_inherited(const char *name, gfd_err *e) { return gfd_ret(gracefd_inherited(name), e); }
static inline int gfd_forget(const char *name, gfd_err *e) { return gfd_ret(gracefd_forget(name), e); }

static inline int gfd_inherited_at(size_t i, char *name, size_t len, int *kind, int *claimed, int *fd, gfd_err *e) {
    return gfd_ret(gracefd_inherited_at(i, name, len, kind, claimed, fd), e);
}

static inline int gfd_ready(gfd_err *e) { return gfd_ret(gracefd_ready(), e); }
static inline int gfd_fail(int status, const char *msg, gfd_err *e) { return gfd_ret(gracefd_fail(status, msg), e); }

static inline int gfd_notify(const char *state, gfd_err *e) { return gfd_ret(gracefd_notify(state), e); }
static inline int gfd_notify_with_fds(const char *state, const int *fds, size_t n, gfd_err *e) {
    return gfd_ret(gracefd_notify_with_fds(state, fds, n), e);
}
static inline int gfd_notify_reloading(gfd_err *e) { return gfd_ret(gracefd_notify_reloading(), e); }
static inline int gfd_notify_stopping(gfd_err *e) { return gfd_ret(gracefd_notify_stopping(), e); }
static inline int gfd_notify_status(const char *text, gfd_err *e) { return gfd_ret(gracefd_notify_status(text), e); }
static inline int gfd_notify_barrier(int64_t ms, gfd_err *e) { return gfd_ret(gracefd_notify_barrier(ms), e); }
static inline int gfd_watchdog_usec(uint64_t *usec, gfd_err *e) { return gfd_ret(gracefd_watchdog_usec(usec), e); }

static inline int gfd_event_fd(gfd_err *e) { return gfd_ret(gracefd_event_fd(), e); }
static inline int gfd_event_next(gfd_err *e) { return gfd_ret(gracefd_event_next(), e); }

/* Upgrade options in one C call. exe NULL: the recorded executable; argv
 * NULL: our own; timeout_set 0: the default timeout; kill_sig 0: the default
 * signal. NULL with the detail in e on an error. */
static inline gracefd_upgrade_opts *gfd_upgrade_opts(const char *exe, const char *const *argv, size_t argc,
                                                     const char *const *env, size_t nenv, int timeout_set,
                                                     int64_t timeout_ms, int kill_sig, int *r, gfd_err *e) {
    gracefd_upgrade_opts *o = gracefd_upgrade_opts_new();
    size_t i;
    *r = 0;
    if (!o) {
        gfd_set(e, "out of memory for upgrade options");
        *r = -ENOMEM;
        return NULL;
    }
    if (exe) *r = gracefd_upgrade_opts_set_exe(o, exe);
    if (*r == 0 && argv) *r = gracefd_upgrade_opts_set_argv(o, argv, argc);
    for (i = 0; *r == 0 && i < nenv; i++) *r = gracefd_upgrade_opts_add_env(o, env[i]);
    if (*r == 0 && timeout_set) *r = gracefd_upgrade_opts_set_timeout_ms(o, timeout_ms);
    if (*r == 0 && kill_sig) *r = gracefd_upgrade_opts_set_kill_signal(o, kill_sig);
    if (*r < 0) {
        gfd_ret(*r, e);
        gracefd_upgrade_opts_free(o);
        return NULL;
    }
    return o;
}

/* The whole blocking upgrade in one C call: options, upgrade, detail. */
static inline int gfd_upgrade(const char *exe, const char *const *argv, size_t argc, const char *const *env, size_t nenv,
                              int timeout_set, int64_t timeout_ms, int kill_sig, pid_t *pid, gfd_err *e) {
    int r;
    gracefd_upgrade_opts *o = gfd_upgrade_opts(exe, argv, argc, env, nenv, timeout_set, timeout_ms, kill_sig, &r, e);
    if (!o) return r;
    r = gfd_ret(gracefd_upgrade(o, pid), e);
    gracefd_upgrade_opts_free(o);
    return r;
}

/* The non-blocking start: options, gracefd_upgrade_start, and a CLOEXEC
 * copy of its fd that belongs to the caller (the library closes its own when
 * the upgrade is over; the copy stays valid until the caller closes it). */
static inline int gfd_upgrade_start(const char *exe, const char *const *argv, size_t argc, const char *const *env,
                                    size_t nenv, int timeout_set, int64_t timeout_ms, int kill_sig, gfd_err *e) {
    int r, fd;
    gracefd_upgrade_opts *o = gfd_upgrade_opts(exe, argv, argc, env, nenv, timeout_set, timeout_ms, kill_sig, &r, e);
    if (!o) return r;
    fd = gfd_ret(gracefd_upgrade_start(o), e);
    gracefd_upgrade_opts_free(o);
    if (fd < 0) return fd;
    r = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (r < 0) {
        /* Without a copy to poll, wait for the outcome here rather than
         * leave the upgrade in flight. */
        pid_t pid;
        int err = -errno;
        gfd_set(e, "copying the upgrade's fd failed; the upgrade was cancelled");
        if (gracefd_upgrade_cancel() < 0) (void)gracefd_upgrade_finish(&pid);
        return err;
    }
    return r;
}

static inline int gfd_upgrade_finish(pid_t *pid, gfd_err *e) { return gfd_ret(gracefd_upgrade_finish(pid), e); }
static inline int gfd_upgrade_cancel(gfd_err *e) { return gfd_ret(gracefd_upgrade_cancel(), e); }

/* The whole of daemonizing in one C call: options, gracefd_daemonize,
 * detail. A NULL string, set_umask 0, set_nofile 0 and timeout_ms 0 keep the
 * defaults. In the launcher this does not return; in the daemon (or on an
 * error before anything started) it frees the options and returns. */
static inline int gfd_daemonize(const char *pid_file, const char *workdir, const char *log_file, const char *user,
                                const char *group, int set_umask, uint32_t umask, int set_nofile, uint64_t soft,
                                uint64_t hard, int64_t timeout_ms, int mode, gfd_err *e) {
    gracefd_daemon_opts *o = gracefd_daemon_opts_new();
    int r = 0;
    if (!o) {
        gfd_set(e, "out of memory for daemonize options");
        return -ENOMEM;
    }
    if (pid_file) r = gracefd_daemon_opts_set_pid_file(o, pid_file);
    if (r == 0 && workdir) r = gracefd_daemon_opts_set_workdir(o, workdir);
    if (r == 0 && log_file) r = gracefd_daemon_opts_set_log_file(o, log_file);
    if (r == 0 && user) r = gracefd_daemon_opts_set_user(o, user);
    if (r == 0 && group) r = gracefd_daemon_opts_set_group(o, group);
    if (r == 0 && set_umask) r = gracefd_daemon_opts_set_umask(o, umask);
    if (r == 0 && set_nofile) r = gracefd_daemon_opts_set_nofile(o, soft, hard);
    if (r == 0 && timeout_ms) r = gracefd_daemon_opts_set_timeout_ms(o, timeout_ms);
    if (r == 0) r = gracefd_daemon_opts_set_mode(o, mode);
    if (r == 0) r = gracefd_daemonize(o);
    r = gfd_ret(r, e);
    gracefd_daemon_opts_free(o);
    return r;
}

static inline int gfd_handoff_serve(const char *path, gfd_err *e) { return gfd_ret(gracefd_handoff_serve(path), e); }
static inline int gfd_handoff_process(gfd_err *e) { return gfd_ret(gracefd_handoff_process(), e); }
static inline int gfd_handoff_take(const char *path, int64_t ms, gfd_err *e) {
    return gfd_ret(gracefd_handoff_take(path, ms), e);
}
static inline int gfd_send_fds(int sock, const int *fds, const char *const *names, size_t n, int64_t ms, gfd_err *e) {
    return gfd_ret(gracefd_send_fds(sock, fds, names, n, ms), e);
}
/* names: cap slots of GRACEFD_FD_NAME_SIZE bytes, as one flat buffer. */
static inline int gfd_recv_fds(int sock, int64_t ms, size_t cap, int *fds, char *names, gfd_err *e) {
    return gfd_ret(gracefd_recv_fds(sock, ms, cap, fds, (char (*)[GRACEFD_FD_NAME_SIZE])names), e);
}

static inline int gfd_pidfile_create(const char *path, gfd_err *e) { return gfd_ret(gracefd_pidfile_create(path), e); }
static inline int gfd_pidfile_remove(gfd_err *e) { return gfd_ret(gracefd_pidfile_remove(), e); }

#endif
