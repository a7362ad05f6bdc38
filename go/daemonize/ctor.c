// The constructor of package daemonize: see daemonize.go. It runs before the
// Go runtime (before main, before any thread), so it may read the environment
// with getenv and exit with _exit.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gracefd.h"

static const char *prog = "daemonize";

static void die(int status, const char *what, const char *detail) {
    fprintf(stderr, "%s: %s%s%s\n", prog, what, detail ? ": " : "", detail ? detail : "");
    _exit(status);
}

static void set_str(gracefd_daemon_opts *o, const char *var, int (*set)(gracefd_daemon_opts *, const char *)) {
    const char *v = getenv(var);
    if (v && *v && set(o, v) < 0) die(GRACEFD_EXIT_SETUP, var, gracefd_last_error());
}

static unsigned long long number(const char *var, const char *v, int base, char **end) {
    errno = 0;
    unsigned long long n = strtoull(v, end, base);
    if (errno || *end == v) die(GRACEFD_EXIT_SETUP, var, "not a number");
    return n;
}

__attribute__((constructor)) static void gracefd_go_daemonize(int argc, char **argv, char **envp) {
    (void)envp;
    if (argc > 0 && argv && argv[0]) {
        const char *slash = strrchr(argv[0], '/');
        prog = slash ? slash + 1 : argv[0];
    }
    /* The daemon half: we were re-executed by the launcher below. */
    if (gracefd_daemon_pending() == 1) {
        if (gracefd_daemonize(NULL) < 0) _exit(GRACEFD_EXIT_SETUP); /* the launcher was told why */
        return;
    }
    const char *on = getenv("GRACEFD_DAEMONIZE");
    if (!on || strcmp(on, "1") != 0) return;

    gracefd_daemon_opts *o = gracefd_daemon_opts_new();
    if (!o) die(GRACEFD_EXIT_SETUP, "out of memory", NULL);
    set_str(o, "GRACEFD_DAEMONIZE_PIDFILE", gracefd_daemon_opts_set_pid_file);
    set_str(o, "GRACEFD_DAEMONIZE_LOGFILE", gracefd_daemon_opts_set_log_file);
    set_str(o, "GRACEFD_DAEMONIZE_WORKDIR", gracefd_daemon_opts_set_workdir);
    set_str(o, "GRACEFD_DAEMONIZE_USER", gracefd_daemon_opts_set_user);
    set_str(o, "GRACEFD_DAEMONIZE_GROUP", gracefd_daemon_opts_set_group);
    const char *v;
    char *end;
    if ((v = getenv("GRACEFD_DAEMONIZE_UMASK")) && *v) {
        unsigned long long m = number("GRACEFD_DAEMONIZE_UMASK", v, 8, &end);
        if (*end || m > 0777 || gracefd_daemon_opts_set_umask(o, (uint32_t)m) < 0)
            die(GRACEFD_EXIT_SETUP, "GRACEFD_DAEMONIZE_UMASK", "not an octal umask");
    }
    if ((v = getenv("GRACEFD_DAEMONIZE_NOFILE")) && *v) {
        unsigned long long soft = number("GRACEFD_DAEMONIZE_NOFILE", v, 10, &end), hard = 0;
        if (*end == ':') hard = number("GRACEFD_DAEMONIZE_NOFILE", end + 1, 10, &end);
        if (*end) die(GRACEFD_EXIT_SETUP, "GRACEFD_DAEMONIZE_NOFILE", "not SOFT or SOFT:HARD");
        gracefd_daemon_opts_set_nofile(o, soft, hard);
    }
    if ((v = getenv("GRACEFD_DAEMONIZE_TIMEOUT_MS")) && *v) {
        long long ms = strtoll(v, &end, 10);
        if (*end || gracefd_daemon_opts_set_timeout_ms(o, ms) < 0)
            die(GRACEFD_EXIT_SETUP, "GRACEFD_DAEMONIZE_TIMEOUT_MS", "not a non-zero number of milliseconds");
    }
    /* Re-exec, so that the daemon's environment is built without GRACEFD_DAEMONIZE. */
    gracefd_daemon_opts_set_mode(o, GRACEFD_DAEMON_REEXEC);
    int r = gracefd_daemonize(o); /* the launcher does not come back from this */
    if (r < 0) die(r == -EEXIST ? GRACEFD_EXIT_ALREADY_RUNNING : GRACEFD_EXIT_SETUP, gracefd_last_error(), NULL);
    gracefd_daemon_opts_free(o); /* not reached in the launcher; 0 only if already a daemon */
}
