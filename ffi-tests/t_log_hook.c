/* The log hook may call back into the library (the header promises it): no
 * message is delivered while the library holds a lock. Audit defect 6: the
 * upgrade logged while holding its lock, so a hook calling
 * gracefd_upgrade_finish() hung. The hook here calls back into every API
 * that takes a lock (upgrade, registry, lineage, events, hand-off, pid file)
 * each time it runs, while the test drives every path that logs: an upgrade
 * that fails, a stale unix socket replaced, hand-off serve/stop, a pid file
 * created and removed. A hang is caught by the alarm (and the harness). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gracefd.h"
#include "harness.h"

static int hook_calls;
static int in_hook;
/* Append `msg` and a newline to the log kept in `buf` (`cap` bytes), if
 * it fits whole (a line that does not is left out, never cut). */
static void append_line(char *buf, size_t cap, const char *msg) {
    if (strlen(buf) + strlen(msg) + 2 < cap) {
        strcat(buf, msg);
        strcat(buf, "\n");
    }
}

static char seen[4096];
/* What the hook's own gracefd_upgrade_finish() got when it finished the
 * upgrade itself (the new generation had already exited): 0 if it never did. */
static int hook_finish_result;

static void calling_back(void *user, int level, const char *msg) {
    (void)user;
    (void)level;
    hook_calls++;
    append_line(seen, sizeof seen, msg);
    if (in_hook) return; /* what the calls below log comes back here: once is enough */
    in_hook = 1;
    pid_t p;
    int r = gracefd_upgrade_finish(&p);
    if (r < 0 && r != -ENOENT) hook_finish_result = r;
    (void)gracefd_inherited_count();
    (void)gracefd_generation();
    (void)gracefd_is_upgrade();
    (void)gracefd_handoff_process();
    (void)gracefd_event_next();
    in_hook = 0;
}

TEST(log_hook_may_call_back_into_the_library_from_every_logging_site) {
    CHECK_INT(gracefd_set_log_hook(calling_back, NULL, 7), ==, 0);
    alarm(30); /* hang guard: a deadlock is the failure */

    /* The upgrade: started, then failed (logs under the upgrade's lock before the fix). */
    CHECK(gracefd_listen("web", "127.0.0.1:0") >= 0);
    gracefd_upgrade_opts *o = gracefd_upgrade_opts_new();
    const char *argv[] = {harness_self(), "--role", "gen_exit3"};
    gracefd_upgrade_opts_set_argv(o, argv, 3);
    gracefd_upgrade_opts_set_timeout_ms(o, 5000);
    pid_t child = -1;
    /* The hook may call back while the upgrade is in flight: if the new
     * generation has exited by then, the hook's own finish() completes the
     * upgrade (ECHILD) and ours finds none in flight. Either way, no hang. */
    int r = gracefd_upgrade(o, &child);
    CHECK(r == -ECHILD || (r == -ENOENT && hook_finish_result == -ECHILD));
    gracefd_upgrade_opts_free(o);
    CHECK_STR_CONTAINS(seen, "upgrade: started generation 2");
    CHECK_STR_CONTAINS(seen, "upgrade failed, still serving");

    /* The registry: a stale unix socket replaced. */
    char addr[320];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    CHECK(snprintf(sa.sun_path, sizeof sa.sun_path, "%s/stale.sock", harness_tmpdir()) < (int)sizeof sa.sun_path);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(bind(s, (struct sockaddr *)&sa, sizeof sa) == 0);
    close(s);
    snprintf(addr, sizeof addr, "unix:%s", sa.sun_path);
    CHECK(gracefd_listen("stale", addr) >= 0);
    CHECK_STR_CONTAINS(seen, "replaced stale unix socket");

    /* The hand-off server. */
    char hp[300];
    snprintf(hp, sizeof hp, "%s/h.sock", harness_tmpdir());
    int hfd = gracefd_handoff_serve(hp);
    CHECK_MSG(hfd >= 0, "%s", gracefd_last_error());
    CHECK_INT(gracefd_handoff_stop(), ==, 1);
    CHECK_STR_CONTAINS(seen, "hand-off: serving at");

    /* The pid file. */
    char pp[300];
    snprintf(pp, sizeof pp, "%s/p.pid", harness_tmpdir());
    CHECK_INT(gracefd_pidfile_create(pp), ==, 0);
    CHECK_INT(gracefd_pidfile_remove(), ==, 1);
    CHECK_STR_CONTAINS(seen, "removed");

    alarm(0);
    gracefd_set_log_hook(NULL, NULL, -1);
    CHECK_INT(waitpid(-1, NULL, WNOHANG), ==, -1);
}

/* Audit defect 9: the upgrade's log line counted the entries of an empty
 * LISTEN_FDNAMES ("") as one: "(1 fds)" with nothing registered. */
static char counted[4096];
static void keep_lines(void *user, int level, const char *msg) {
    (void)user;
    (void)level;
    append_line(counted, sizeof counted, msg);
}

static int failing_upgrade(void) {
    gracefd_upgrade_opts *o = gracefd_upgrade_opts_new();
    const char *argv[] = {harness_self(), "--role", "gen_exit3"};
    gracefd_upgrade_opts_set_argv(o, argv, 3);
    pid_t child = -1;
    int r = gracefd_upgrade(o, &child);
    gracefd_upgrade_opts_free(o);
    return r;
}

TEST(upgrade_log_counts_the_fds_it_passes) {
    CHECK_INT(gracefd_set_log_hook(keep_lines, NULL, 7), ==, 0);
    CHECK_INT(gracefd_inherited_count(), ==, 0);
    CHECK_INT(failing_upgrade(), ==, -ECHILD);
    CHECK_STR_CONTAINS(counted, "with 0 fds\n");
    CHECK(gracefd_listen("web", "127.0.0.1:0") >= 0);
    CHECK_INT(failing_upgrade(), ==, -ECHILD);
    CHECK_STR_CONTAINS(counted, "with 1 fd\n");
    CHECK(gracefd_listen("web2", "127.0.0.1:0") >= 0);
    CHECK_INT(failing_upgrade(), ==, -ECHILD);
    CHECK_STR_CONTAINS(counted, "with 2 fds\n");
    gracefd_set_log_hook(NULL, NULL, -1);
}

/* The hook's max_level: a message above it is never delivered, one at or
 * below it is, and after the hook is removed nothing is. The failing upgrade logs
 * "upgrade: started generation" at NOTICE and "upgrade failed" at ERR. */
static char filtered[4096];
static int filtered_calls;
static void keep_filtered(void *user, int level, const char *msg) {
    (void)user;
    (void)level;
    filtered_calls++;
    append_line(filtered, sizeof filtered, msg);
}

TEST(log_hook_max_level_filters_before_delivery) {
    CHECK_INT(gracefd_set_log_hook(keep_filtered, NULL, GRACEFD_LOG_WARNING), ==, 0);
    CHECK_INT(failing_upgrade(), ==, -ECHILD);
    CHECK_STR_CONTAINS(filtered, "upgrade failed, still serving");
    CHECK(strstr(filtered, "started generation") == NULL);
    filtered[0] = 0;
    CHECK_INT(gracefd_set_log_hook(keep_filtered, NULL, GRACEFD_LOG_NOTICE), ==, 0);
    CHECK_INT(failing_upgrade(), ==, -ECHILD);
    CHECK_STR_CONTAINS(filtered, "started generation");
    CHECK_STR_CONTAINS(filtered, "upgrade failed, still serving");
    /* A bad level leaves the hook as it was. */
    CHECK_INT(gracefd_set_log_hook(keep_filtered, NULL, 8), ==, -EINVAL);
    filtered[0] = 0;
    CHECK_INT(failing_upgrade(), ==, -ECHILD);
    CHECK_STR_CONTAINS(filtered, "started generation");
    CHECK_INT(gracefd_set_log_hook(NULL, NULL, -1), ==, 0);
    int before = filtered_calls;
    CHECK_INT(failing_upgrade(), ==, -ECHILD);
    CHECK_INT(filtered_calls, ==, before);
}
