/* An upgrade under a receiver standing in for systemd: the receiver sees
 * MAINPID=<new> followed by the barrier before the old generation exits, and
 * READY=1 (with MAINPID) from the new one. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gracefd.h"
#include "harness.h"
#include "notify_helpers.h"

ROLE(notified_new) {
    (void)argc; (void)argv;
    int fd = gracefd_listen("web", "127.0.0.1:0");
    if (fd < 0) return 3;
    if (gracefd_ready() < 0) return 4;
    for (int i = 0; i < 100; i++) usleep(100000); /* killed by the test */
    return 0;
}

ROLE(notified_old) {
    (void)argc; (void)argv;
    if (gracefd_listen("web", "127.0.0.1:0") < 0) return 3;
    if (gracefd_ready() < 0) return 4;
    gracefd_upgrade_opts *o = gracefd_upgrade_opts_new();
    const char *a[] = {harness_self(), "--role", "notified_new"};
    gracefd_upgrade_opts_set_argv(o, a, 3);
    pid_t child;
    int r = gracefd_upgrade(o, &child);
    gracefd_upgrade_opts_free(o);
    return r == 0 ? 0 : 5;
}

TEST(upgrade_hands_mainpid_to_systemd_with_a_barrier) {
    char addr[256], env_notify[300], buf[4096];
    int rx = nh_receiver(0, "notify", addr, sizeof addr);
    CHECK(rx >= 0);
    /* The new generation is orphaned when the old exits: become its reaper. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    snprintf(env_notify, sizeof env_notify, "NOTIFY_SOCKET=%s", addr);
    char *envp[] = {env_notify, NULL};
    pid_t old = nh_spawn("notified_old", NULL, envp);
    CHECK(old > 0);
    pid_t new_pid = 0;
    int saw_first_ready = 0, saw_new_ready = 0, saw_mainpid = 0, saw_barrier = 0;
    for (int i = 0; i < 10 && !saw_barrier; i++) {
        int fds[4], nfds = 0;
        ssize_t n = nh_recv(rx, buf, sizeof buf, fds, 4, &nfds, 5000);
        CHECK_MSG(n > 0, "datagram %d missing", i);
        if (strcmp(buf, "READY=1") == 0) {
            saw_first_ready = 1;
        } else if (strncmp(buf, "READY=1\nMAINPID=", 16) == 0) {
            saw_new_ready = 1;
            pid_t p = (pid_t)atoi(buf + 16);
            CHECK(new_pid == 0 || new_pid == p);
            new_pid = p;
        } else if (strncmp(buf, "MAINPID=", 8) == 0) {
            pid_t p = (pid_t)atoi(buf + 8);
            CHECK(new_pid == 0 || new_pid == p);
            CHECK(p != old);
            new_pid = p;
            saw_mainpid = 1;
            /* The barrier follows (the new generation's own READY=1 may
             * arrive in between: it is sent concurrently), and the old
             * generation waits for it: it is alive until we release it. */
            do {
                n = nh_recv(rx, buf, sizeof buf, fds, 4, &nfds, 5000);
                CHECK_MSG(n > 0, "no barrier after MAINPID");
                if (strncmp(buf, "READY=1\nMAINPID=", 16) == 0) {
                    saw_new_ready = 1;
                    CHECK_INT(atoi(buf + 16), ==, new_pid);
                }
            } while (strcmp(buf, "BARRIER=1") != 0);
            CHECK_INT(nfds, ==, 1);
            CHECK_INT(waitpid(old, NULL, WNOHANG), ==, 0);
            saw_barrier = 1;
            close(fds[0]); /* release the barrier */
        }
        for (int k = 0; k < nfds && !saw_barrier; k++) close(fds[k]);
    }
    CHECK(saw_first_ready && saw_mainpid && saw_barrier);
    CHECK_INT(nh_wait(old, 5000), ==, 0);
    /* The new generation's own READY=1 (with MAINPID) arrives too. */
    if (!saw_new_ready) {
        int fds[4], nfds = 0;
        ssize_t n = nh_recv(rx, buf, sizeof buf, fds, 4, &nfds, 5000);
        CHECK(n > 0);
        char want[64];
        snprintf(want, sizeof want, "READY=1\nMAINPID=%d", (int)new_pid);
        CHECK_MSG(strcmp(buf, want) == 0, "got \"%s\"", buf);
    }
    /* The new generation was re-parented to us (subreaper): kill and reap it. */
    kill(new_pid, SIGKILL);
    CHECK_INT(waitpid(new_pid, NULL, 0), ==, new_pid);
}
