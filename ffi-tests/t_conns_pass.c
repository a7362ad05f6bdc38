/* Connection pass: the new generation goes on serving the very same
 * connections (same addresses, same client socket, its own pid answering),
 * with the bytes the old one had read; and what cannot be passed is refused
 * before anything moves. */
#include "conns_helpers.h"
#include "harness.h"
#include "upgrade_helpers.h"

ROLE(conns_serve3) {
    if (argc < 2) return 2;
    return conns_serve_passed(argv[1], 3, 0);
}

ROLE(conns_not_enabled) {
    (void)argc; (void)argv;
    if (gracefd_ready() != 1) return 3;
    for (int i = 0; i < 100; i++) usleep(50000); /* killed by the test */
    return 0;
}

TEST(conns_pass_keeps_the_same_connection_and_its_bytes) {
    char report[512];
    snprintf(report, sizeof report, "%s/report", harness_tmpdir());
    int l = gracefd_listen("web", "127.0.0.1:0");
    CHECK(l >= 0);
    int cl[3], sv[3];
    char sock[3][64], peer[3][64], line[256], want[256];
    for (int i = 0; i < 3; i++) {
        CHECK(conns_pair(l, &cl[i], &sv[i]) == 0);
        /* One request answered by us first: these are live keep-alive connections. */
        CHECK(conns_send_str(cl[i], "one\n") == 0);
        CHECK(conns_read_line(sv[i], line, sizeof line) == 3);
        snprintf(want, sizeof want, "pid=%d line=one\n", (int)getpid());
        CHECK(conns_send_str(sv[i], want) == 0);
        CHECK(conns_read_line(cl[i], line, sizeof line) > 0);
        conns_addr(sv[i], 0, sock[i], sizeof sock[i]);
        conns_addr(sv[i], 1, peer[i], sizeof peer[i]);
    }
    /* Half a request on connection 2: we read it, it goes along as state. */
    CHECK(conns_send_str(cl[2], "ha") == 0);
    char half[8];
    CHECK(recv(sv[2], half, sizeof half, 0) == 2);

    gracefd_upgrade_opts *o = opts_for_role("conns_serve3", report);
    pid_t child = 0;
    int r = gracefd_upgrade(o, &child);
    gracefd_upgrade_opts_free(o);
    CHECK_MSG(r == 0, "upgrade: %d %s", r, gracefd_last_error());
    CHECK_INT(gracefd_conns_can_pass(), ==, child);

    int fds[3] = {sv[0], sv[1], sv[2]};
    uint64_t tags[3] = {10, 11, 12};
    uint32_t lens[3] = {0, 0, 2};
    size_t passed = 99;
    r = gracefd_conns_pass(fds, tags, (const uint8_t *)half, lens, 3, 5000, &passed);
    CHECK_MSG(r == 0, "pass: %d %s", r, gracefd_last_error());
    CHECK_INT(passed, ==, 3);
    for (int i = 0; i < 3; i++) close(sv[i]);

    /* The very same client sockets, now answered by the new pid; the half
     * request is completed by the client and answered whole. */
    CHECK(conns_send_str(cl[2], "lf\n") == 0);
    CHECK(conns_read_line(cl[2], line, sizeof line) > 0);
    snprintf(want, sizeof want, "pid=%d tag=12 line=half", (int)child);
    CHECK_MSG(strcmp(line, want) == 0, "got '%s', want '%s'", line, want);
    for (int i = 0; i < 2; i++) {
        CHECK(conns_send_str(cl[i], "two\n") == 0);
        CHECK(conns_read_line(cl[i], line, sizeof line) > 0);
        snprintf(want, sizeof want, "pid=%d tag=%d line=two", (int)child, 10 + i);
        CHECK_MSG(strcmp(line, want) == 0, "got '%s', want '%s'", line, want);
    }
    for (int i = 0; i < 3; i++) close(cl[i]);
    int st = conns_reap(child, 10000);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "new generation status %d", st);

    /* Same addresses on both sides of each connection. */
    char rep[4096];
    CHECK(conns_read_file(report, rep, sizeof rep) > 0);
    for (int i = 0; i < 3; i++) {
        snprintf(want, sizeof want, "tag=%d state=%s sock=%s peer=%s\n", 10 + i, i == 2 ? "ha" : "", sock[i], peer[i]);
        CHECK_STR_CONTAINS(rep, want);
    }
    /* The channel is kept: another pass is possible until it is released. */
    CHECK_INT(gracefd_conns_can_pass(), ==, child);
    CHECK_INT(gracefd_conns_release(), ==, 0);
    CHECK_INT(gracefd_conns_can_pass(), ==, -ENOTCONN);
}

TEST(conns_new_generation_that_did_not_enable_gets_nothing) {
    int l = gracefd_listen("web", "127.0.0.1:0");
    CHECK(l >= 0);
    int c, s;
    CHECK(conns_pair(l, &c, &s) == 0);
    gracefd_upgrade_opts *o = opts_for_role("conns_not_enabled", NULL);
    pid_t child = 0;
    int r = gracefd_upgrade(o, &child);
    gracefd_upgrade_opts_free(o);
    CHECK_MSG(r == 0, "upgrade: %d %s", r, gracefd_last_error());
    CHECK_INT(gracefd_conns_can_pass(), ==, -ENOTCONN);
    size_t passed = 99;
    CHECK_INT(gracefd_conns_pass(&s, NULL, NULL, NULL, 1, 1000, &passed), ==, -ENOTCONN);
    CHECK_INT(passed, ==, 0);
    /* Still ours: the drain goes on as before. */
    CHECK(conns_send_str(s, "old\n") == 0);
    char line[64];
    CHECK(conns_read_line(c, line, sizeof line) == 3);
    kill(child, SIGTERM);
    conns_reap(child, 5000);
}

TEST(conns_pass_refuses_what_cannot_be_passed) {
    int l = conns_listener();
    CHECK(l >= 0);
    int c, s;
    CHECK(conns_pair(l, &c, &s) == 0);
    size_t passed = 99;
    /* A listening socket, a pipe, a closed fd: not a connection. */
    CHECK_INT(gracefd_conns_pass(&l, NULL, NULL, NULL, 1, 100, &passed), ==, -EINVAL);
    CHECK_INT(passed, ==, 0);
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    CHECK_INT(gracefd_conns_pass_one(p[0], 1, NULL, 0, 100), ==, -EINVAL);
    CHECK_INT(gracefd_conns_pass_one(9999, 1, NULL, 0, 100), ==, -EINVAL);
    /* The same connection twice. */
    int twice[2] = {s, s};
    CHECK_INT(gracefd_conns_pass(twice, NULL, NULL, NULL, 2, 100, &passed), ==, -EINVAL);
    CHECK_STR_CONTAINS(gracefd_last_error(), "twice");
    /* A state above the limit. */
    static uint8_t big[GRACEFD_CONNS_STATE_MAX + 1];
    CHECK_INT(gracefd_conns_pass_one(s, 1, big, sizeof big, 100), ==, -EINVAL);
    /* NULL arrays. */
    CHECK_INT(gracefd_conns_pass(NULL, NULL, NULL, NULL, 1, 100, &passed), ==, -EINVAL);
    uint32_t len = 5;
    CHECK_INT(gracefd_conns_pass(&s, NULL, NULL, &len, 1, 100, &passed), ==, -EINVAL);
    /* A good connection, but no new generation takes it. */
    CHECK_INT(gracefd_conns_pass_one(s, 1, NULL, 0, 100), ==, -ENOTCONN);
    CHECK_INT(gracefd_conns_pass(&s, NULL, NULL, NULL, 0, 100, &passed), ==, 0);
    CHECK_INT(passed, ==, 0);
    /* Receiving side: nothing waits; bad pointers are refused. */
    uint64_t tag = 7;
    size_t sl = 7;
    uint8_t st[4];
    CHECK_INT(gracefd_conns_next(&tag, st, sizeof st, &sl), ==, -EAGAIN);
    CHECK_INT(tag, ==, 7);
    CHECK_INT(gracefd_conns_next(NULL, st, sizeof st, &sl), ==, -EINVAL);
    CHECK_INT(gracefd_conns_next(&tag, NULL, 4, &sl), ==, -EINVAL);
    CHECK_INT(gracefd_conns_pending(), ==, 0);
    CHECK_INT(gracefd_conns_enable(), ==, 0); /* not started by an upgrade */
}
