/* Hand-off and the old side's registry: what the registry says at start-up
 * reaches the log hook even when a transfer is its first use, and a registry
 * that changes between two chunks of a transfer drops the taker (never a
 * socket under another's name). The rest of serve/process/take:
 * t_handoff_serve.c. */
#define _GNU_SOURCE
#include "handoff_helpers.h"

/* argv: path log_file. Inherits SERVER_STARTER_PORT announcing a TCP
 * listener at fd 3, which is a memfd (rejected at start-up), sets a log hook
 * and serves without touching the registry otherwise, until a taker is
 * ready. */
ROLE(handoff_old_inherited) {
    if (argc < 3) return 100;
    FILE *lf = fopen(argv[2], "a");
    if (!lf) return 101;
    gracefd_set_log_hook(on_log_file, lf, GRACEFD_LOG_DEBUG);
    int hfd = gracefd_handoff_serve(argv[1]);
    if (hfd < 0) return 102;
    for (;;) {
        struct pollfd p = {hfd, POLLIN, 0};
        if (poll(&p, 1, 20000) <= 0) return 103;
        int r = gracefd_handoff_process();
        if (r < 0) return 104;
        if (r == GRACEFD_HANDOFF_DONE) return 0;
    }
}

/* The transfer was the first thing in the old side to use the registry, which
 * read it quietly under the serving lock: its start-up warning (an inherited
 * fd rejected) stayed queued and the old side drained and exited without ever
 * logging it. It reaches the log hook now. */
TEST(handoff_old_side_logs_its_start_up_rejections) {
    char path[256], logp[256];
    snprintf(path, sizeof path, "%s/i.sock", harness_tmpdir());
    snprintf(logp, sizeof logp, "%s/old.log", harness_tmpdir());
    fflush(NULL);
    pid_t old = fork();
    if (old == 0) {
        int m = memfd_create("inherited", 0);
        if (m < 0 || dup2(m, 3) != 3) _exit(120);
        setenv("SERVER_STARTER_PORT", "127.0.0.1:9=3", 1);
        execl(harness_self(), harness_self(), "--role", "handoff_old_inherited", path, logp, (char *)NULL);
        _exit(127);
    }
    CHECK(old > 0);
    CHECK(wait_path(path, 20000) == 0);
    int r = gracefd_handoff_take(path, 10000);
    CHECK_MSG(r == 0, "take: %d %s", r, gracefd_last_error());
    CHECK_INT(gracefd_ready(), ==, 1);
    CHECK_INT(wait_exit(old, 20), ==, 0);
    CHECK_STR_CONTAINS(read_file(logp), "SERVER_STARTER_PORT: fd 3");
    CHECK_STR_CONTAINS(read_file(logp), "rejected");
}


/* The fd of this process that is a memfd called `name`, or -1. */
static int memfd_named(const char *name) {
    static int fds[1024];
    int n = list_fds(fds, 1024);
    char want[128], link[128], p[64];
    snprintf(want, sizeof want, "/memfd:%s (deleted)", name);
    for (int i = 0; i < n && i < 1024; i++) {
        snprintf(p, sizeof p, "/proc/self/fd/%d", fds[i]);
        ssize_t k = readlink(p, link, sizeof link - 1);
        if (k < 0) continue;
        link[k] = 0;
        if (strcmp(link, want) == 0) return fds[i];
    }
    return -1;
}

static int taken_fds[400];
static char taken_names[400][GRACEFD_FD_NAME_SIZE];

/* The registry changed between two chunks of a transfer: its last entry was
 * forgotten and another added that got the same fd number. The check
 * compared fd numbers by index, so the new file went to the taker under the
 * forgotten entry's name. Now any change is seen (the registry counts them)
 * and the taker is dropped instead. Built as a reviewer did: 300 entries of
 * 190-byte names, the smallest send buffer on the server's end, TAKE, one
 * gracefd_handoff_process() (the header does not fit), the change, then the
 * taker reads while the server goes on. */
TEST(handoff_a_registry_change_midway_drops_the_taker) {
    gracefd_set_log_hook(on_log_lines, NULL, GRACEFD_LOG_DEBUG);
    int hfd = -1, c = -1;
    const char *why = start_big_transfer("c.sock", "victim", &hfd, &c);
    CHECK_MSG(why == NULL, "%s", why);
    struct pollfd p = {hfd, POLLIN, 0};
    int s = server_end(c);
    CHECK(s >= 0);
    CHECK_STR_CONTAINS(log_lines, "sending 300 fds");
    /* The change: the intruder gets the victim's fd number. */
    int victim = memfd_named("victim");
    int intruder = memfd_create("intruder", MFD_CLOEXEC);
    CHECK(victim >= 0 && intruder >= 0);
    char name[256];
    big_name(name, 299);
    CHECK_INT(gracefd_forget(name), ==, 1);
    CHECK(gracefd_add_fd("intruder", intruder) == 0);
    close(intruder);
    CHECK_INT(memfd_named("intruder"), ==, victim); /* the scenario is built */
    /* The taker reads (a child, so that this process can serve meanwhile). */
    fflush(NULL);
    pid_t taker = fork();
    if (taker == 0) {
        close(s); /* the server's end is the server's alone: its close must reach us */
        int n = gracefd_recv_fds(c, 10000, 400, taken_fds, taken_names);
        if (n >= 0) {
            fprintf(stderr, "    taker got %d fds, the last named %.5s\n", n, n > 0 ? taken_names[n - 1] : "");
            _exit(1);
        }
        fprintf(stderr, "    taker: %d %s\n", n, gracefd_last_error());
        _exit(n == -ESTALE || n == -ECONNRESET ? 0 : 2);
    }
    CHECK(taker > 0);
    close(c);
    int st = -1;
    for (int i = 0; i < 5000; i++) {
        if (waitpid(taker, &st, WNOHANG) == taker) break;
        if (poll(&p, 1, 2) == 1) CHECK_INT(gracefd_handoff_process(), ==, GRACEFD_HANDOFF_SERVING);
    }
    if (waitpid(taker, &st, WNOHANG) == 0) {
        kill(taker, SIGKILL);
        waitpid(taker, &st, 0);
    }
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "taker status %#x; log:\n%s", st, log_lines);
    CHECK_STR_CONTAINS(log_lines, "the registry changed during the hand-off");
    gracefd_handoff_stop();
    close(hfd);
}
