/* lifecycle.c: what libgracefd.a adds to a C server that uses the library's
 * lifecycle only: daemonize, listen, signal events, ready, upgrade, notify
 * (the size section of make bench). No hand-off and no connection pass,
 * which the C example (c-examples/httpd.c) also uses.
 *
 * Built -O2 and stripped, with the default link and with -Wl,--gc-sections,
 * and compared with the same file linked with bench/nolib.c instead of the
 * library (lifecycle-plain). tools/check-opt-in.sh links it too: the
 * features this program never turns on must stay out of it.
 *
 * It serves nothing (it accepts and closes); it is measured, not run.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gracefd.h"

static int die(const char *what) {
    fprintf(stderr, "lifecycle: %s: %s\n", what, gracefd_last_error());
    return 1;
}

static int upgrade(const char *exe) {
    gracefd_upgrade_opts *o = gracefd_upgrade_opts_new();
    if (!o) return die("upgrade options");
    int r = gracefd_upgrade_opts_set_exe(o, exe);
    if (r == 0) r = gracefd_upgrade_opts_set_timeout_ms(o, 10000);
    if (r == 0) r = gracefd_upgrade_start(o);
    gracefd_upgrade_opts_free(o);
    pid_t child;
    if (r < 0 || gracefd_upgrade_finish(&child) < 0) {
        fprintf(stderr, "lifecycle: upgrade failed, still serving: %s\n", gracefd_last_error());
        return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    const char *addr = argc > 1 ? argv[1] : "127.0.0.1:8080";
    gracefd_daemon_opts *d = gracefd_daemon_opts_new();
    if (!d) return die("daemon options");
    if (gracefd_daemon_opts_set_pid_file(d, "/tmp/lifecycle.pid") < 0 ||
        gracefd_daemon_opts_set_log_file(d, "/tmp/lifecycle.log") < 0 ||
        gracefd_daemon_opts_set_mode(d, GRACEFD_DAEMON_AUTO) < 0 || gracefd_daemonize(d) < 0)
        return die("daemonize");
    gracefd_daemon_opts_free(d);
    int lfd = gracefd_listen("http", addr);
    if (lfd < 0) return die("listen");
    int sfd = gracefd_signals_install();
    if (sfd < 0) return die("signals");
    if (gracefd_ready() < 0) return die("ready");
    gracefd_notify("STATUS=serving");
    for (;;) {
        struct pollfd p[2] = {{.fd = lfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) continue;
        if (p[0].revents) {
            int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (c >= 0) close(c);
        }
        for (int ev; (ev = gracefd_event_next()) != GRACEFD_EVENT_NONE;) {
            if (ev == GRACEFD_EVENT_SHUTDOWN || ev == GRACEFD_EVENT_DRAIN) return 0;
            if (ev == GRACEFD_EVENT_UPGRADE && upgrade(argv[0])) return 0;
        }
    }
}
