/* echo-names: a small server that listens, through gracefd, on NAME=ADDRESS
 * pairs, and answers every connection with the name of the listener it came
 * in on, then closes it.
 *
 *   echo-names web=127.0.0.1:8080 admin=unix:/run/admin.sock
 *
 * Run it under systemd (or systemd-socket-activate) with sockets named `web`
 * and `admin`, under Server::Starter's start_server, under the gracefd
 * superdaemon, or alone: gracefd_listen() returns the inherited socket of
 * that name (or, for an unnamed one, the one bound to that address), else
 * binds the address itself. A NAME of "-" means unnamed.
 *
 * Prints "listening NAME ADDRESS" per listener, then "ready", on stdout.
 * Serves until killed (SIGTERM). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gracefd.h"

#define MAX_LISTENERS 16

static void on_log(void *user, int level, const char *msg) {
    (void)user;
    (void)level;
    fprintf(stderr, "%s\n", msg);
}

int main(int argc, char **argv) {
    struct pollfd pfd[MAX_LISTENERS];
    const char *names[MAX_LISTENERS];
    int n = 0, i;

    if (argc < 2 || argc - 1 > MAX_LISTENERS) {
        fprintf(stderr, "usage: echo-names NAME=ADDRESS... (at most %d)\n", MAX_LISTENERS);
        return 2;
    }
    gracefd_set_log_hook(on_log, NULL, GRACEFD_LOG_INFO);
    for (i = 1; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        int fd;
        if (!eq) {
            fprintf(stderr, "echo-names: %s: expected NAME=ADDRESS\n", argv[i]);
            return 2;
        }
        *eq = 0;
        fd = gracefd_listen(strcmp(argv[i], "-") == 0 ? NULL : argv[i], eq + 1);
        if (fd < 0) {
            fprintf(stderr, "echo-names: %s: %s\n", argv[i], gracefd_last_error());
            return 1;
        }
        names[n] = argv[i];
        pfd[n].fd = fd;
        pfd[n].events = POLLIN;
        n++;
        printf("listening %s %s\n", argv[i], eq + 1);
    }
    /* Anything inherited that no NAME claimed would only queue connections. */
    gracefd_close_unclaimed();
    printf("ready\n");
    fflush(stdout);

    for (;;) {
        if (poll(pfd, (nfds_t)n, -1) < 0) {
            if (errno == EINTR) continue;
            perror("echo-names: poll");
            return 1;
        }
        for (i = 0; i < n; i++) {
            int c;
            if (!(pfd[i].revents & POLLIN)) continue;
            c = accept(pfd[i].fd, NULL, NULL);
            if (c < 0) continue;
            {
                char line[300];
                int len = snprintf(line, sizeof line, "%s\n", names[i]);
                if (len > 0) (void)send(c, line, (size_t)len, MSG_NOSIGNAL);
            }
            close(c);
        }
    }
}
