/* After a hand-over, the old generation's exit gives the CPU away (nice 19,
 * gracefd_set_exit_yield); after a failed upgrade it does not. The roles it
 * upgrades to are t_upgrade.c's. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gracefd.h"
#include "harness.h"
#include "upgrade_helpers.h"

/* Registered before the upgrade: libc runs exit handlers last-registered
 * first, so this one sees the nice value the library's own handler left:
 * it exits with 20 plus it (0 to 39). */
static void exit_with_nice(void) {
    errno = 0;
    int n = getpriority(PRIO_PROCESS, 0);
    _exit(errno ? 99 : 20 + n);
}

/* In a child of the test, from nice 0 where it may (root may lower it):
 * upgrade to `role`, stop and reap the new generation, then leave through
 * exit(); returns how that child exited. */
static int exit_nice_after_upgrade(const char *role, int exit_yield) {
    pid_t pid = fork();
    if (pid == 0) {
        setpriority(PRIO_PROCESS, 0, 0);
        if (getpriority(PRIO_PROCESS, 0) == 19) _exit(1); /* the change could not be seen */
        atexit(exit_with_nice);
        if (gracefd_listen("web", "127.0.0.1:0") < 0) _exit(2);
        gracefd_upgrade_opts *o = opts_for_role(role, NULL);
        if (exit_yield >= 0 && gracefd_set_exit_yield(exit_yield) != 0) _exit(3);
        pid_t child = 0;
        int r = gracefd_upgrade(o, &child);
        if (r == 0) {
            kill(child, SIGKILL);
            waitpid(child, NULL, 0);
        }
        exit(0);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

TEST(upgrade_old_generation_exits_at_the_lowest_priority) {
    /* Its drain ran at its own priority; only the exit (the kernel freeing
     * its memory) gives way to the new generation. */
    CHECK_INT(exit_nice_after_upgrade("gen_ready_then_serve", -1), ==, 20 + 19);
    CHECK_INT(exit_nice_after_upgrade("gen_ready_then_serve", 1), ==, 20 + 19);
}

TEST(upgrade_with_exit_yield_off_leaves_the_exit_priority_alone) {
    CHECK_INT(exit_nice_after_upgrade("gen_ready_then_serve", 0), ==, 20 + 0);
}

TEST(upgrade_exit_yield_bad_arguments) {
    CHECK_INT(gracefd_set_exit_yield(2), ==, -EINVAL);
    CHECK(strstr(gracefd_last_error(), "on is 2, not 0 or 1") != NULL);
    CHECK_INT(gracefd_set_exit_yield(-1), ==, -EINVAL);
    CHECK_INT(gracefd_set_exit_yield(1), ==, 0);
}

TEST(upgrade_that_failed_leaves_the_exit_priority_alone) {
    int c = exit_nice_after_upgrade("gen_exit3", -1);
    CHECK_MSG(c >= 2 && c < 20 + 19, "exited with %d", c);
}
