/* Connection pass failures: a new generation that dies or stalls mid-pass
 * leaves every connection not yet committed with the old one, untouched and
 * served by it; nothing is served twice. */
#include "conns_helpers.h"
#include "harness.h"
#include "upgrade_helpers.h"

/* A new generation speaking the wire by hand: it says it takes connections,
 * takes the first batch (ACK, then reads the COMMIT), and dies as the second
 * batch arrives, before acknowledging it. */
ROLE(conns_raw_die_mid_pass) {
    (void)argc; (void)argv;
    const char *v = getenv("GRACEFD_READY_FD");
    if (!v) return 2;
    int ch = atoi(v);
    unsigned char ready[9] = {'G', 'F', 'D', '1', 1, 1, 0, 0, 0}; /* Ready, status bit 0: takes connections */
    if (send(ch, ready, sizeof ready, MSG_NOSIGNAL) != (ssize_t)sizeof ready) return 3;
    static unsigned char buf[200000];
    int fds[253], nfds = 0;
    if (conns_recv(ch, buf, sizeof buf, 5000, fds, &nfds) < 20 || buf[5] != 1) return 4;
    if (conns_send_id(ch, 2, get32(buf + 12)) != 0) return 5;
    if (conns_recv(ch, buf, sizeof buf, 5000, NULL, NULL) != 16 || buf[5] != 4) return 6;
    if (conns_recv(ch, buf, sizeof buf, 5000, NULL, NULL) < 20 || buf[5] != 1) return 7;
    _exit(0); /* dies holding the first batch (committed: ours) */
}

/* A new generation that enables the pass, reports ready and stops itself;
 * once continued it waits a moment and reports what it got. */
ROLE(conns_stall) {
    if (argc < 2) return 2;
    int ev = gracefd_event_fd();
    gracefd_conns_enable();
    if (gracefd_ready() != 1) return 3;
    raise(SIGSTOP);
    int events = 0;
    for (int i = 0; i < 50; i++) {
        usleep(10000);
        while (gracefd_event_next() == GRACEFD_EVENT_CONNS) events++;
    }
    char line[64];
    snprintf(line, sizeof line, "pending=%d events=%d\n", gracefd_conns_pending(), events);
    conns_append_file(argv[1], line);
    close(ev);
    return 0;
}

enum { N = 300 }; /* two batches: 252 + 48 */

TEST(conns_new_generation_dies_mid_pass_old_keeps_the_rest) {
    int l = gracefd_listen("web", "127.0.0.1:0");
    CHECK(l >= 0);
    static int cl[N], sv[N];
    for (int i = 0; i < N; i++) CHECK(conns_pair(l, &cl[i], &sv[i]) == 0);
    gracefd_upgrade_opts *o = opts_for_role("conns_raw_die_mid_pass", NULL);
    pid_t child = 0;
    int r = gracefd_upgrade(o, &child);
    gracefd_upgrade_opts_free(o);
    CHECK_MSG(r == 0, "upgrade: %d %s", r, gracefd_last_error());
    size_t passed = 999;
    r = gracefd_conns_pass(sv, NULL, NULL, NULL, N, 5000, &passed);
    CHECK_MSG(r == -EPIPE, "pass: %d %s", r, gracefd_last_error());
    CHECK_INT(passed, ==, GRACEFD_CONNS_BATCH_MAX);
    int st = conns_reap(child, 5000);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "raw new generation status %d", st);
    CHECK_INT(gracefd_conns_can_pass(), ==, -ENOTCONN); /* fall back to the drain */
    /* The committed ones were the new generation's: we close ours, and with
     * it dead their clients see EOF. */
    for (size_t i = 0; i < passed; i++) close(sv[i]);
    CHECK(conns_sees_eof(cl[0], 2000));
    CHECK(conns_sees_eof(cl[passed - 1], 2000));
    /* The rest are still ours, alive, and only we answer them. */
    char line[64];
    for (int i = (int)passed; i < N; i++) {
        CHECK_MSG(conns_quiet(cl[i], 0), "client %d got something from nobody", i);
        CHECK(conns_send_str(sv[i], "old\n") == 0);
        CHECK(conns_read_line(cl[i], line, sizeof line) == 3);
    }
}

TEST(conns_new_generation_stalls_old_keeps_all_and_new_serves_none) {
    char report[512];
    snprintf(report, sizeof report, "%s/report", harness_tmpdir());
    int l = gracefd_listen("web", "127.0.0.1:0");
    CHECK(l >= 0);
    int cl[2], sv[2];
    for (int i = 0; i < 2; i++) CHECK(conns_pair(l, &cl[i], &sv[i]) == 0);
    gracefd_upgrade_opts *o = opts_for_role("conns_stall", report);
    pid_t child = 0;
    int r = gracefd_upgrade(o, &child);
    gracefd_upgrade_opts_free(o);
    CHECK_MSG(r == 0, "upgrade: %d %s", r, gracefd_last_error());
    CHECK_INT(gracefd_conns_can_pass(), ==, child);
    /* Make sure it is stopped before the pass (it stops itself after ready). */
    int st;
    CHECK_INT(waitpid(child, &st, WUNTRACED), ==, child);
    CHECK(WIFSTOPPED(st));
    size_t passed = 999;
    r = gracefd_conns_pass(sv, NULL, NULL, NULL, 2, 300, &passed);
    CHECK_MSG(r == -ETIMEDOUT, "pass: %d %s", r, gracefd_last_error());
    CHECK_INT(passed, ==, 0);
    CHECK_INT(gracefd_conns_can_pass(), ==, -ENOTCONN);
    /* It wakes up and finds the batch, then the ABORT (or EOF): it must not
     * serve them. */
    gracefd_conns_release();
    kill(child, SIGCONT);
    st = conns_reap(child, 5000);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "new generation status %d", st);
    char rep[256];
    CHECK(conns_read_file(report, rep, sizeof rep) > 0);
    CHECK_STR_CONTAINS(rep, "pending=0 events=0");
    /* Nothing lost: both still ours and alive. */
    char line[64];
    for (int i = 0; i < 2; i++) {
        CHECK(conns_quiet(cl[i], 0));
        CHECK(conns_send_str(sv[i], "old\n") == 0);
        CHECK(conns_read_line(cl[i], line, sizeof line) == 3);
    }
}
