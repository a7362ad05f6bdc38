/* A worker written against libsystemd only (no gracefd): takes its sockets
 * with sd_listen_fds_with_names(), reports readiness with sd_notify(READY=1),
 * and answers each connection with one line, then closes it:
 *   sd name=NAME pid=PID listen_fds=N extra_fds=K
 * extra_fds counts open fds >= 3 beyond the announced ones and the readiness
 * channel (GRACEFD_READY_FD): anything else would be a leak from gracefd.
 * Exits 0 on SIGTERM. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static int count_extra(int n) {
    const char *r = getenv("GRACEFD_READY_FD");
    int ready = r ? atoi(r) : -1, extra = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        int fd = atoi(e->d_name);
        if (fd < SD_LISTEN_FDS_START + n || fd == ready || fd == dirfd(d)) continue;
        extra++;
    }
    if (d) closedir(d);
    return extra;
}

int main(void) {
    char **names = NULL;
    int n = sd_listen_fds_with_names(0, &names);
    if (n <= 0) {
        fprintf(stderr, "sd_worker: sd_listen_fds_with_names: %s\n", n < 0 ? strerror(-n) : "no fds");
        return 1;
    }
    int extra = count_extra(n);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct pollfd pfd[64];
    for (int i = 0; i < n && i < 64; i++) pfd[i] = (struct pollfd){.fd = SD_LISTEN_FDS_START + i, .events = POLLIN};
    sd_notify(0, "READY=1\nSTATUS=serving");
    while (!stop) {
        if (poll(pfd, (nfds_t)(n < 64 ? n : 64), 1000) < 0) continue;
        for (int i = 0; i < n && i < 64; i++) {
            if (!(pfd[i].revents & POLLIN)) continue;
            int c = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
            if (c < 0) continue;
            char line[512];
            int len = snprintf(line, sizeof line, "sd name=%s pid=%d listen_fds=%d extra_fds=%d\n", names[i], (int)getpid(), n, extra);
            if (send(c, line, (size_t)len, MSG_NOSIGNAL) < 0) perror("send");
            close(c);
        }
    }
    return 0;
}
