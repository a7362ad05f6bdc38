/* daemon-hello: the smallest correct daemon.
 *
 *   daemon-hello [--pid-file PATH] [--log-file PATH] [--user NAME] [--fail MSG]
 *                [--mode auto|fork|reexec]
 *
 * It daemonizes; the launching shell gets exit status 0 only once the daemon
 * is really up (it called gracefd_ready()), or the daemon's own message and
 * status if it could not start (--fail simulates that). The daemon writes a
 * line to its log, then waits for SIGTERM, removes its pid file and exits.
 *
 *   $ daemon-hello --pid-file /tmp/hello.pid --log-file /tmp/hello.log; echo $?
 *   0
 *   $ daemon-hello --pid-file /tmp/hello.pid; echo $?
 *   daemon-hello: pid file "/tmp/hello.pid": already running as pid 12345
 *   242
 *   $ kill $(cat /tmp/hello.pid)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gracefd.h"

static volatile sig_atomic_t stop;
static void on_term(int sig) {
    (void)sig;
    stop = 1;
}

static int usage(void) {
    fprintf(stderr, "usage: daemon-hello [--pid-file PATH] [--log-file PATH] [--user NAME] [--fail MSG] "
                    "[--mode auto|fork|reexec]\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *pid_file = NULL, *log_file = NULL, *user = NULL, *fail = NULL;
    int mode = GRACEFD_DAEMON_AUTO;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--pid-file") && i + 1 < argc) pid_file = argv[++i];
        else if (!strcmp(argv[i], "--log-file") && i + 1 < argc) log_file = argv[++i];
        else if (!strcmp(argv[i], "--user") && i + 1 < argc) user = argv[++i];
        else if (!strcmp(argv[i], "--fail") && i + 1 < argc) fail = argv[++i];
        else if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
            const char *m = argv[++i];
            if (!strcmp(m, "auto")) mode = GRACEFD_DAEMON_AUTO;
            else if (!strcmp(m, "fork")) mode = GRACEFD_DAEMON_FORK;
            else if (!strcmp(m, "reexec")) mode = GRACEFD_DAEMON_REEXEC;
            else return usage();
        } else return usage();
    }

    gracefd_daemon_opts *opts = gracefd_daemon_opts_new();
    if (!opts) return 1;
    if (gracefd_daemon_opts_set_pid_file(opts, pid_file) < 0 || gracefd_daemon_opts_set_log_file(opts, log_file) < 0 ||
        gracefd_daemon_opts_set_user(opts, user) < 0 || gracefd_daemon_opts_set_mode(opts, mode) < 0) {
        fprintf(stderr, "daemon-hello: %s\n", gracefd_last_error());
        return 2;
    }
    int r = gracefd_daemonize(opts);
    gracefd_daemon_opts_free(opts);
    if (r < 0) {
        /* Nothing was started: say why, with a status that tells the cases apart. */
        fprintf(stderr, "daemon-hello: %s\n", gracefd_last_error());
        return r == -EEXIST ? GRACEFD_EXIT_ALREADY_RUNNING : 1;
    }

    /* The daemon. stdout is the log file (or /dev/null). */
    if (fail) {
        gracefd_fail(3, fail);
        return 3;
    }
    /* Block SIGTERM/SIGINT and wait for them with sigsuspend: no signal can
     * slip in between the check and the wait. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old);
    printf("daemon-hello: pid %d ready\n", (int)getpid());
    fflush(stdout);
    gracefd_ready();
    while (!stop) sigsuspend(&old);
    gracefd_pidfile_remove();
    printf("daemon-hello: pid %d stopping\n", (int)getpid());
    return 0;
}
