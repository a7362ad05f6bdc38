/* Upgrade and process groups: the new generation leads a group of its own,
 * so that what it forks goes with it when it fails (t_upgrade.c has the
 * failed prefork master), except in a terminal's foreground job, where it
 * stays in the job, as every process of a job must get the terminal's
 * Ctrl-C. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gracefd.h"
#include "harness.h"
#include "upgrade_helpers.h"

/* argv[1]: a file to write "PID PGID" to; then ready, and gone. */
ROLE(gen_pgid) {
    if (argc < 2) return 2;
    FILE *f = fopen(argv[1], "w");
    if (!f) return 3;
    fprintf(f, "%d %d\n", (int)getpid(), (int)getpgrp());
    if (fclose(f) != 0) return 4;
    return gracefd_ready() == 1 ? 0 : 5;
}

/* In the child of the test: become a session whose controlling terminal is
 * the pty `slave` (on fds 0, 1, 2: the foreground job, as a shell runs a
 * server by hand), upgrade, and exit 0 if the new generation is in our
 * process group (its pid and group in `out`). */
static int upgrade_in_foreground(const char *slave, const char *out) {
    if (setsid() < 0) return 10;
    int t = open(slave, O_RDWR); /* the session's first terminal: its controlling one */
    if (t < 0) return 11;
    if (tcgetpgrp(t) != getpgrp()) return 12; /* the scenario is built */
    if (dup2(t, 0) < 0 || dup2(t, 1) < 0 || dup2(t, 2) < 0) return 13;
    if (gracefd_listen("web", "127.0.0.1:0") < 0) return 14;
    gracefd_upgrade_opts *o = opts_for_role("gen_pgid", out);
    pid_t kid = -1;
    int r = gracefd_upgrade(o, &kid);
    gracefd_upgrade_opts_free(o);
    if (r != 0) return 15;
    int st;
    if (waitpid(kid, &st, 0) != kid) return 16;
    int pid = 0, pgid = 0;
    FILE *f = fopen(out, "r");
    if (!f || fscanf(f, "%d %d", &pid, &pgid) != 2) return 17;
    fclose(f);
    return pid == kid && pgid == getpgrp() ? 0 : 18;
}

TEST(upgrade_from_a_terminals_foreground_job_stays_in_the_job) {
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK_MSG(m >= 0, "posix_openpt: %s", strerror(errno));
    CHECK(grantpt(m) == 0 && unlockpt(m) == 0);
    char slave[128];
    CHECK(ptsname_r(m, slave, sizeof slave) == 0);
    char out[512];
    snprintf(out, sizeof out, "%s/pgid", harness_tmpdir());
    fflush(NULL);
    pid_t c = fork();
    CHECK(c >= 0);
    if (c == 0) _exit(upgrade_in_foreground(slave, out));
    /* Read what it writes to its terminal (a full pty would block it) until
     * it is gone, for at most 20 s. While no slave is open (before the child
     * opens it, after it is gone) the master polls as hung up and reads EIO. */
    int st = -1, done = 0;
    char sink[4096];
    time_t until = time(NULL) + 20;
    while (!(done = waitpid(c, &st, WNOHANG) == c) && time(NULL) < until) {
        struct pollfd p = {m, POLLIN, 0};
        if (poll(&p, 1, 10) == 1 && read(m, sink, sizeof sink) <= 0) usleep(1000);
    }
    if (!done) {
        kill(c, SIGKILL);
        waitpid(c, &st, 0);
    }
    close(m);
    char got[64] = "";
    FILE *f = fopen(out, "r");
    if (f) {
        if (!fgets(got, sizeof got, f)) got[0] = 0;
        fclose(f);
    }
    CHECK_MSG(done && WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "status %#x (18: the new generation left the job), the new generation said pid/pgid \"%s\" (the old one was %d)",
              st, got, (int)c);
}
