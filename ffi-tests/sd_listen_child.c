/* A child written against libsystemd only (no gracefd): it reports what
 * sd_listen_fds_with_names() hands it, one line per fd, so that the
 * interop test can compare what systemd passes with what gracefd passes.
 *
 * Output: "n=N", then per fd "fd=F name=NAME ino=I tcp_listener=0|1
 * unix_listener=0|1 udp=0|1", then "other_fds=K" (fds >= 3 open beyond the
 * announced ones: they would be leaks). The one fd a gracefd starter adds
 * after the LISTEN_FDS range on purpose, its readiness channel (named by
 * GRACEFD_READY_FD, docs/architecture.md), is not counted: systemd-socket-activate has
 * none, so the outputs stay comparable. Exit 0, or 1 if the call failed. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

int main(void) {
    char **names = NULL;
    const char *ready = getenv("GRACEFD_READY_FD");
    int ready_fd = ready ? atoi(ready) : -1;
    int n = sd_listen_fds_with_names(0, &names), i, other = 0;
    DIR *d;
    struct dirent *e;

    printf("n=%d\n", n);
    if (n < 0) {
        printf("error=%s\n", strerror(-n));
        return 1;
    }
    for (i = 0; i < n; i++) {
        int fd = SD_LISTEN_FDS_START + i;
        struct stat st;
        unsigned long ino = fstat(fd, &st) == 0 ? (unsigned long)st.st_ino : 0;
        printf("fd=%d name=%s ino=%lu tcp_listener=%d unix_listener=%d udp=%d\n", fd, names ? names[i] : "(none)", ino,
               sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) > 0,
               sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0,
               sd_is_socket_inet(fd, AF_UNSPEC, SOCK_DGRAM, -1, 0) > 0);
    }
    d = opendir("/proc/self/fd");
    while (d && (e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd < SD_LISTEN_FDS_START + n || fd == dirfd(d) || fd == ready_fd) continue;
        other++;
    }
    if (d) closedir(d);
    printf("other_fds=%d\n", other);
    fflush(stdout);
    return 0;
}
