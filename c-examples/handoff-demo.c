/* handoff-demo: a tiny TCP server whose next instance takes its listening
 * socket over a unix socket, the way a supervisor (runit, supervisord,
 * `systemctl restart`) restarts a service: the new instance is started by the
 * supervisor, not by the old one.
 *
 * Every connection gets one line, "pid <pid>\n", and is closed.
 *
 *   --listen PORT            listen on 127.0.0.1:PORT (0: any free port)
 *   --take-from PATH         instead, take the listener of the instance serving at PATH
 *   --handoff-socket PATH    serve hand-off at PATH (may be the PATH taken from)
 *   --port-file FILE         write the port we serve on to FILE once ready
 *
 * First instance:  handoff-demo --listen 0 --handoff-socket /run/demo.sock
 * Next instances:  handoff-demo --take-from /run/demo.sock --handoff-socket /run/demo.sock
 * The next instance takes the socket, serves the hand-off path itself, and
 * calls gracefd_ready(): the old one gets GRACEFD_EVENT_DRAIN, stops
 * accepting and exits. One kernel accept queue throughout: no connection is
 * refused or lost.
 *
 * The listener is registered with gracefd_add_fd() and, in the taker, found
 * again with gracefd_inherited() (gracefd_listen("demo", addr) would find it
 * too: what was taken counts as inherited).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gracefd.h"

static void die(const char *what, int r) {
    char msg[300];
    snprintf(msg, sizeof msg, "handoff-demo: %s: %s", what, r < 0 ? gracefd_last_error() : strerror(errno));
    gracefd_fail(1, msg);
    fprintf(stderr, "%s\n", msg);
    exit(1);
}

static void usage(void) {
    fprintf(stderr, "usage: handoff-demo (--listen PORT | --take-from PATH) [--handoff-socket PATH] [--port-file FILE]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *take_from = NULL, *handoff_path = NULL, *port_file = NULL;
    long port = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc) port = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--take-from") && i + 1 < argc) take_from = argv[++i];
        else if (!strcmp(argv[i], "--handoff-socket") && i + 1 < argc) handoff_path = argv[++i];
        else if (!strcmp(argv[i], "--port-file") && i + 1 < argc) port_file = argv[++i];
        else usage();
    }
    if ((port < 0) == !take_from || port > 65535) usage();
    signal(SIGPIPE, SIG_IGN);

    int l;
    if (take_from) {
        int n = gracefd_handoff_take(take_from, 10000);
        if (n < 0) die("take", n);
        l = gracefd_inherited("demo"); /* what was taken counts as inherited */
        if (l < 0) die("no socket named demo was handed over", l);
    } else {
        l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((unsigned short)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
            bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 512) < 0)
            die("listen", 0);
        int r = gracefd_add_fd("demo", l);
        if (r < 0) die("register", r);
    }
    /* Our own choice for our own poll loop: a non-blocking accept (the other
     * instance may take a connection first). The library never flips it. */
    fcntl(l, F_SETFL, fcntl(l, F_GETFL) | O_NONBLOCK);

    int events = gracefd_signals_install(); /* SIGTERM/SIGINT, and DRAIN after a hand-off */
    if (events < 0) die("signals", events);
    int hfd = -1;
    if (handoff_path) {
        hfd = gracefd_handoff_serve(handoff_path); /* before ready: it may take the path over */
        if (hfd < 0) die("serve hand-off", hfd);
    }
    if (port_file) {
        struct sockaddr_in a;
        socklen_t al = sizeof a;
        FILE *f = fopen(port_file, "w");
        if (getsockname(l, (struct sockaddr *)&a, &al) < 0 || !f) die("port file", 0);
        fprintf(f, "%d\n", ntohs(a.sin_port));
        fclose(f);
    }
    int r = gracefd_ready(); /* after a take: the old instance is told to drain */
    if (r < 0) die("ready", r);
    fprintf(stderr, "handoff-demo[%d]: serving%s\n", (int)getpid(), take_from ? " (taken over)" : "");

    char line[32];
    int len = snprintf(line, sizeof line, "pid %d\n", (int)getpid());
    for (int done = 0; !done;) {
        struct pollfd p[3] = {{l, POLLIN, 0}, {events, POLLIN, 0}, {hfd, POLLIN, 0}};
        if (poll(p, 3, -1) < 0 && errno != EINTR) die("poll", 0);
        if (p[0].revents & POLLIN) {
            int c;
            while ((c = accept4(l, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
                if (send(c, line, (size_t)len, MSG_NOSIGNAL) != len) { /* the client left: nothing to do */ }
                close(c);
            }
        }
        if (hfd >= 0 && (p[2].revents & POLLIN)) {
            int s = gracefd_handoff_process();
            if (s < 0) fprintf(stderr, "handoff-demo[%d]: hand-off: %s\n", (int)getpid(), gracefd_last_error());
            if (s == GRACEFD_HANDOFF_DONE) done = 1;
        }
        for (int ev; (ev = gracefd_event_next()) > 0;)
            if (ev == GRACEFD_EVENT_DRAIN || ev == GRACEFD_EVENT_SHUTDOWN) done = 1;
    }
    /* Draining is trivial here: every connection was answered at once. Stop
     * accepting: connections still queued stay in the shared accept queue for
     * the new instance. */
    fprintf(stderr, "handoff-demo[%d]: draining, bye\n", (int)getpid());
    gracefd_handoff_stop();
    close(l);
    return 0;
}
