/* Connection pass between unrelated processes: a taker that took the
 * listening sockets by hand-off (gracefd_handoff_take) and enabled the pass
 * gets the old side's connections over the seqpacket socket of its CONNS
 * frame, with the same guarantees as after an upgrade; a taker that did not
 * enable it gets nothing, and an old side of an earlier version (which reads
 * READY and closes) never sees the CONNS frame's fd. Sides played by hand
 * speak the wire of docs/zero-drain.md and the hand-off protocol. */
#include "conns_helpers.h"
#include <sys/un.h>

#include "harness.h"

/* ---- the hand-off wire, by hand ------------------------------------------ */

static void handoff_head(unsigned char *p, int kind) {
    memcpy(p, "GFDH", 4);
    p[4] = 1;
    p[5] = (unsigned char)kind;
    p[6] = p[7] = 0;
    put32(p + 8, 0);
}

static int unix_connect(const char *path) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) return -1;
    return s;
}

static int unix_listen(const char *path) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 4) < 0) return -1;
    return s;
}

/* Read exactly 12 bytes (one head, as the old side does: never more) with
 * recvmsg; returns the kind, and how many fds came with those bytes. */
static int read_head(int s, int ms, int *fds, int *nfds) {
    unsigned char h[12];
    size_t got = 0;
    *nfds = 0;
    while (got < sizeof h) {
        int k = 0;
        int n = conns_recv(s, h + got, sizeof h - got, ms, fds ? fds + *nfds : NULL, &k);
        if (n <= 0) return -1;
        *nfds += k;
        got += (size_t)n;
    }
    if (memcmp(h, "GFDH", 4) != 0 || h[4] != 1 || get32(h + 8) != 0) return -2;
    return h[5];
}

static pid_t spawn(const char *role, const char *a1, const char *a2) {
    fflush(NULL);
    pid_t p = fork();
    if (p == 0) {
        execl(harness_self(), harness_self(), "--role", role, a1, a2, (char *)NULL);
        _exit(127);
    }
    return p;
}

/* Serve hand-off at path with the library, start the taker role (argv:
 * path, arg), and process until it is ready (1). */
static int serve_until_done(const char *path, const char *role, const char *arg, pid_t *taker) {
    int h = gracefd_handoff_serve(path);
    if (h < 0) return h;
    *taker = spawn(role, path, arg);
    if (*taker <= 0) return -ECHILD;
    for (int i = 0; i < 1000; i++) {
        struct pollfd p = {.fd = h, .events = POLLIN};
        poll(&p, 1, 10);
        int r = gracefd_handoff_process();
        if (r != 0) {
            close(h);
            return r;
        }
    }
    close(h);
    return -ETIMEDOUT;
}

/* ---- takers ---------------------------------------------------------------- */

/* argv: path report. Takes by hand-off, then serves 3 passed connections. */
ROLE(conns_handoff_take3) {
    if (argc < 3) return 2;
    int n = gracefd_handoff_take(argv[1], 5000);
    if (n < 1) return 3;
    return conns_serve_passed(argv[2], 3, 0);
}

/* argv: path report. Takes by hand-off, then keeps 3 passed connections. */
ROLE(conns_handoff_take3_keep) {
    if (argc < 3) return 2;
    int n = gracefd_handoff_take(argv[1], 5000);
    if (n < 1) return 3;
    return conns_serve_passed(argv[2], 3, 1);
}

/* argv: path report. Takes by hand-off, enables the pass only if the report
 * path contains "enabled", reports ready, and writes how many connections
 * it got within 300 ms. */
ROLE(conns_handoff_take_plain) {
    if (argc < 3) return 2;
    if (gracefd_handoff_take(argv[1], 5000) < 1) return 3;
    int enabled = strstr(argv[2], "enabled") != NULL;
    if (enabled && gracefd_conns_enable() != 1) return 4;
    if (gracefd_ready() != 1) return 5;
    usleep(300000);
    char line[64];
    snprintf(line, sizeof line, "pending=%d\n", gracefd_conns_pending());
    conns_append_file(argv[2], line);
    for (int i = 0; i < 100; i++) usleep(50000); /* killed by the test */
    return 0;
}

/* argv: path. A taker speaking the hand-off by hand: TAKE, the transfer,
 * READY, CONNS with its own seqpacket end; then on that channel it takes
 * the first batch (ACK, reads the COMMIT) and dies as the second arrives. */
ROLE(conns_handoff_raw_die_mid_pass) {
    if (argc < 2) return 2;
    int s = unix_connect(argv[1]);
    if (s < 0) return 3;
    unsigned char f[12];
    handoff_head(f, 3);
    if (conns_sendmsg(s, f, sizeof f, NULL, 0) != 0) return 4;
    int fds[16];
    int n = gracefd_recv_fds(s, 5000, 16, fds, NULL);
    if (n < 1) return 5;
    handoff_head(f, 4);
    if (conns_sendmsg(s, f, sizeof f, NULL, 0) != 0) return 6;
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) return 7;
    handoff_head(f, 8);
    if (conns_sendmsg(s, f, sizeof f, &sp[1], 1) != 0) return 8;
    close(sp[1]);
    close(s);
    int ch = sp[0];
    static unsigned char buf[200000];
    int got[253], ngot = 0;
    if (conns_recv(ch, buf, sizeof buf, 5000, got, &ngot) < 20 || buf[5] != 1) return 9;
    if (conns_send_id(ch, 2, get32(buf + 12)) != 0) return 10;
    if (conns_recv(ch, buf, sizeof buf, 5000, NULL, NULL) != 16 || buf[5] != 4) return 11;
    if (conns_recv(ch, buf, sizeof buf, 5000, NULL, NULL) < 20 || buf[5] != 1) return 12;
    _exit(0); /* dies holding the first batch (committed: its own) */
}

/* argv: path mode. A taker by hand whose CONNS frame is wrong: "nofd",
 * "twofds", "pipe" (not a socket), "stream" (a unix stream socket), "body"
 * (a head with a length); then it waits to be killed. */
ROLE(conns_handoff_raw_bad_conns) {
    if (argc < 3) return 2;
    const char *mode = argv[2];
    int s = unix_connect(argv[1]);
    if (s < 0) return 3;
    unsigned char f[16];
    handoff_head(f, 3);
    if (conns_sendmsg(s, f, 12, NULL, 0) != 0) return 4;
    int fds[16];
    if (gracefd_recv_fds(s, 5000, 16, fds, NULL) < 1) return 5;
    handoff_head(f, 4);
    if (conns_sendmsg(s, f, 12, NULL, 0) != 0) return 6;
    int sp[2], nfds = 1;
    if (strcmp(mode, "pipe") == 0) {
        if (pipe2(sp, O_CLOEXEC) != 0) return 7;
    } else if (socketpair(AF_UNIX, (strcmp(mode, "stream") == 0 ? SOCK_STREAM : SOCK_SEQPACKET) | SOCK_CLOEXEC, 0, sp) != 0) {
        return 7;
    }
    if (strcmp(mode, "nofd") == 0) nfds = 0;
    if (strcmp(mode, "twofds") == 0) nfds = 2;
    handoff_head(f, 8);
    size_t len = 12;
    if (strcmp(mode, "body") == 0) {
        put32(f + 8, 4);
        len = 16;
    }
    if (conns_sendmsg(s, f, len, sp, nfds) != 0) return 8;
    for (int i = 0; i < 100; i++) usleep(50000); /* killed by the test */
    return 0;
}

/* ---- tests ------------------------------------------------------------------ */

TEST(conns_handoff_taker_serves_the_same_connections) {
    char path[512], report[512], line[256], want[256];
    snprintf(path, sizeof path, "%s/h.sock", harness_tmpdir());
    snprintf(report, sizeof report, "%s/report", harness_tmpdir());
    int l = gracefd_listen("web", "127.0.0.1:0");
    CHECK(l >= 0);
    int cl[3], sv[3];
    char sock[3][64], peer[3][64];
    for (int i = 0; i < 3; i++) {
        CHECK(conns_pair(l, &cl[i], &sv[i]) == 0);
        CHECK(conns_send_str(cl[i], "one\n") == 0);
        CHECK(conns_read_line(sv[i], line, sizeof line) == 3);
        snprintf(want, sizeof want, "pid=%d line=one\n", (int)getpid());
        CHECK(conns_send_str(sv[i], want) == 0);
        CHECK(conns_read_line(cl[i], line, sizeof line) > 0);
        conns_addr(sv[i], 0, sock[i], sizeof sock[i]);
        conns_addr(sv[i], 1, peer[i], sizeof peer[i]);
    }
    CHECK(conns_send_str(cl[1], "ha") == 0);
    char half[8];
    CHECK(recv(sv[1], half, sizeof half, 0) == 2);

    CHECK_INT(gracefd_conns_can_pass(), ==, -ENOTCONN);
    pid_t taker = 0;
    int r = serve_until_done(path, "conns_handoff_take3", report, &taker);
    CHECK_MSG(r == 1, "hand-off: %d %s (taker: %d)", r, gracefd_last_error(), conns_reap(taker, 0));
    CHECK_INT(gracefd_conns_can_pass(), ==, taker);

    uint64_t tags[3] = {20, 21, 22};
    uint32_t lens[3] = {0, 2, 0};
    size_t passed = 99;
    r = gracefd_conns_pass(sv, tags, (const uint8_t *)half, lens, 3, 5000, &passed);
    CHECK_MSG(r == 0, "pass: %d %s", r, gracefd_last_error());
    CHECK_INT(passed, ==, 3);
    for (int i = 0; i < 3; i++) close(sv[i]);

    /* The very same client sockets, answered by the taker's pid. */
    CHECK(conns_send_str(cl[1], "lf\n") == 0);
    CHECK(conns_read_line(cl[1], line, sizeof line) > 0);
    snprintf(want, sizeof want, "pid=%d tag=21 line=half", (int)taker);
    CHECK_MSG(strcmp(line, want) == 0, "got '%s', want '%s'", line, want);
    for (int i = 0; i < 3; i += 2) {
        CHECK(conns_send_str(cl[i], "two\n") == 0);
        CHECK(conns_read_line(cl[i], line, sizeof line) > 0);
        snprintf(want, sizeof want, "pid=%d tag=%d line=two", (int)taker, 20 + i);
        CHECK_MSG(strcmp(line, want) == 0, "got '%s', want '%s'", line, want);
    }
    for (int i = 0; i < 3; i++) close(cl[i]);
    int st = conns_reap(taker, 10000);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "taker status %d", st);
    char rep[4096];
    CHECK(conns_read_file(report, rep, sizeof rep) > 0);
    for (int i = 0; i < 3; i++) {
        snprintf(want, sizeof want, "tag=%d state=%s sock=%s peer=%s\n", 20 + i, i == 1 ? "ha" : "", sock[i], peer[i]);
        CHECK_STR_CONTAINS(rep, want);
    }
    CHECK_INT(gracefd_conns_release(), ==, 0);
}

TEST(conns_handoff_taker_that_did_not_enable_gets_nothing) {
    char path[512], report[512];
    snprintf(path, sizeof path, "%s/h.sock", harness_tmpdir());
    snprintf(report, sizeof report, "%s/report", harness_tmpdir());
    int l = gracefd_listen("web", "127.0.0.1:0");
    CHECK(l >= 0);
    int c, s;
    CHECK(conns_pair(l, &c, &s) == 0);
    pid_t taker = 0;
    int r = serve_until_done(path, "conns_handoff_take_plain", report, &taker);
    CHECK_MSG(r == 1, "hand-off: %d %s", r, gracefd_last_error());
    CHECK_INT(gracefd_conns_can_pass(), ==, -ENOTCONN);
    size_t passed = 99;
    CHECK_INT(gracefd_conns_pass(&s, NULL, NULL, NULL, 1, 1000, &passed), ==, -ENOTCONN);
    CHECK_INT(passed, ==, 0);
    CHECK(conns_send_str(s, "old\n") == 0);
    char line[64];
    CHECK(conns_read_line(c, line, sizeof line) == 3);
    kill(taker, SIGTERM);
    conns_reap(taker, 5000);
}

/* An old side of an earlier version reads READY (12 bytes) and closes: the
 * fd of the CONNS frame never comes with those bytes, so it takes the READY
 * as before; the taker goes on serving with nothing passed. */
TEST(conns_handoff_taker_against_an_old_side_that_does_not_know_conns) {
    char path[512], report[512];
    snprintf(path, sizeof path, "%s/h.sock", harness_tmpdir());
    snprintf(report, sizeof report, "%s/report-enabled", harness_tmpdir());
    int ls = unix_listen(path);
    CHECK(ls >= 0);
    int l = conns_listener();
    CHECK(l >= 0);
    pid_t taker = spawn("conns_handoff_take_plain", path, report);
    CHECK(taker > 0);
    int s = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
    CHECK(s >= 0);
    int fds[4], nfds;
    CHECK_INT(read_head(s, 5000, fds, &nfds), ==, 3); /* TAKE */
    const char *names[1] = {"web"};
    CHECK_INT(gracefd_send_fds(s, &l, names, 1, 5000), ==, 0);
    CHECK_INT(read_head(s, 5000, fds, &nfds), ==, 4); /* READY */
    CHECK_INT(nfds, ==, 0);
    close(s); /* what an earlier version does on READY */
    char rep[256] = "";
    for (int i = 0; i < 300 && conns_read_file(report, rep, sizeof rep) <= 0; i++) usleep(10000);
    CHECK_STR_CONTAINS(rep, "pending=0");
    CHECK_INT(waitpid(taker, NULL, WNOHANG), ==, 0); /* still serving */
    kill(taker, SIGTERM);
    conns_reap(taker, 5000);
}

enum { N = 300 }; /* two batches: 252 + 48 */

TEST(conns_handoff_taker_dies_mid_pass_old_keeps_the_rest) {
    char path[512];
    snprintf(path, sizeof path, "%s/h.sock", harness_tmpdir());
    int l = gracefd_listen("web", "127.0.0.1:0");
    CHECK(l >= 0);
    static int cl[N], sv[N];
    for (int i = 0; i < N; i++) CHECK(conns_pair(l, &cl[i], &sv[i]) == 0);
    pid_t taker = 0;
    int r = serve_until_done(path, "conns_handoff_raw_die_mid_pass", NULL, &taker);
    CHECK_MSG(r == 1, "hand-off: %d %s", r, gracefd_last_error());
    CHECK_INT(gracefd_conns_can_pass(), ==, taker);
    size_t passed = 999;
    r = gracefd_conns_pass(sv, NULL, NULL, NULL, N, 5000, &passed);
    CHECK_MSG(r == -EPIPE, "pass: %d %s", r, gracefd_last_error());
    CHECK_INT(passed, ==, GRACEFD_CONNS_BATCH_MAX);
    int st = conns_reap(taker, 5000);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "raw taker status %d", st);
    CHECK_INT(gracefd_conns_can_pass(), ==, -ENOTCONN);
    for (size_t i = 0; i < passed; i++) close(sv[i]);
    CHECK(conns_sees_eof(cl[0], 2000));
    char line[64];
    for (int i = (int)passed; i < N; i++) {
        CHECK_MSG(conns_quiet(cl[i], 0), "client %d got something from nobody", i);
        CHECK(conns_send_str(sv[i], "old\n") == 0);
        CHECK(conns_read_line(cl[i], line, sizeof line) == 3);
    }
}

/* The test plays the old side by hand; the taker is the library. */
static int reply_kind(int ch, uint32_t *id, int *errno_out) {
    unsigned char r[512];
    int n = conns_recv(ch, r, sizeof r, 5000, NULL, NULL);
    if (n < 16) return -1;
    *id = get32(r + 12);
    *errno_out = n >= 20 ? (int)get32(r + 16) : 0;
    return r[5];
}

TEST(conns_handoff_taker_refuses_a_malformed_batch_and_keeps_the_rest) {
    char path[512], report[512];
    snprintf(path, sizeof path, "%s/h.sock", harness_tmpdir());
    snprintf(report, sizeof report, "%s/report", harness_tmpdir());
    int ls = unix_listen(path);
    CHECK(ls >= 0);
    int l = conns_listener();
    CHECK(l >= 0);
    pid_t taker = spawn("conns_handoff_take3_keep", path, report);
    CHECK(taker > 0);
    int s = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
    CHECK(s >= 0);
    int got[4], ngot;
    CHECK_INT(read_head(s, 5000, got, &ngot), ==, 3); /* TAKE */
    const char *names[1] = {"web"};
    CHECK_INT(gracefd_send_fds(s, &l, names, 1, 5000), ==, 0);
    CHECK_INT(read_head(s, 5000, got, &ngot), ==, 4); /* READY, alone */
    CHECK_INT(ngot, ==, 0);
    CHECK_INT(read_head(s, 5000, got, &ngot), ==, 8); /* CONNS, with one fd */
    CHECK_INT(ngot, ==, 1);
    int ch = got[0], v = 0;
    socklen_t vl = sizeof v;
    CHECK(getsockopt(ch, SOL_SOCKET, SO_TYPE, &v, &vl) == 0 && v == SOCK_SEQPACKET);
    close(s);

    int cl[5], sv[5];
    for (int i = 0; i < 5; i++) CHECK(conns_pair(l, &cl[i], &sv[i]) == 0);
    static unsigned char f[100000];
    uint32_t id;
    int e;
    uint64_t tags[2] = {1, 2};
    const char *states[2] = {"a", ""};
    /* A good batch of two, committed. */
    size_t n = conns_batch(f, 1, 2, tags, states);
    CHECK(conns_sendmsg(ch, f, n, sv, 2) == 0);
    CHECK_INT(reply_kind(ch, &id, &e), ==, 2);
    CHECK(conns_send_id(ch, 4, 1) == 0);
    close(sv[0]);
    close(sv[1]);
    /* Malformed: two announced, one fd; garbage with an fd; a listener. */
    n = conns_batch(f, 2, 2, tags, states);
    CHECK(conns_sendmsg(ch, f, n, &sv[2], 1) == 0);
    CHECK_INT(reply_kind(ch, &id, &e), ==, 3);
    CHECK_INT(e, ==, EBADMSG);
    memset(f, 'x', 64);
    CHECK(conns_sendmsg(ch, f, 64, &sv[3], 1) == 0);
    CHECK_INT(reply_kind(ch, &id, &e), ==, 3);
    CHECK_INT(e, ==, EBADMSG);
    n = conns_batch(f, 3, 1, tags, states);
    CHECK(conns_sendmsg(ch, f, n, &l, 1) == 0);
    CHECK_INT(reply_kind(ch, &id, &e), ==, 3);
    CHECK_INT(e, ==, EBADMSG);
    /* A last good batch, after all of that. */
    uint64_t t99 = 99;
    const char *s99 = "zz";
    n = conns_batch(f, 4, 1, &t99, &s99);
    CHECK(conns_sendmsg(ch, f, n, &sv[4], 1) == 0);
    CHECK_INT(reply_kind(ch, &id, &e), ==, 2);
    CHECK(conns_send_id(ch, 4, 4) == 0);
    close(sv[4]);

    int st = conns_reap(taker, 10000);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "taker status %d", st);
    char rep[4096];
    CHECK(conns_read_file(report, rep, sizeof rep) > 0);
    CHECK_STR_CONTAINS(rep, "tag=1 state=a ");
    CHECK_STR_CONTAINS(rep, "tag=2 state= ");
    CHECK_STR_CONTAINS(rep, "tag=99 state=zz ");
    int base = -1, fds = -1, taken = -1;
    const char *b = strstr(rep, "base="), *fl = strstr(rep, "fds=");
    CHECK(b && fl);
    sscanf(b, "base=%d", &base);
    sscanf(fl, "fds=%d taken=%d", &fds, &taken);
    CHECK_INT(taken, ==, 3);
    CHECK_INT(fds, ==, base + 3); /* nothing of the refused batches leaked */
    char line[64];
    for (int i = 2; i < 4; i++) {
        CHECK(conns_send_str(sv[i], "old\n") == 0);
        CHECK(conns_read_line(cl[i], line, sizeof line) == 3);
    }
    close(ch);
}

/* A CONNS frame that is wrong (no fd, two, not a unix seqpacket socket, a
 * body) comes after READY: the hand-off is done as before, no connection
 * can be passed, and every fd that came with it is closed. */
TEST(conns_handoff_bad_conns_frame_changes_nothing_and_leaks_nothing) {
    char path[512];
    snprintf(path, sizeof path, "%s/h.sock", harness_tmpdir());
    int l = gracefd_listen("web", "127.0.0.1:0");
    CHECK(l >= 0);
    const char *modes[] = {"nofd", "twofds", "pipe", "stream", "body"};
    CHECK(gracefd_event_fd() >= 0); /* made now, not by the DRAIN of the first round */
    int before = conns_count_open_fds();
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        pid_t taker = 0;
        int r = serve_until_done(path, "conns_handoff_raw_bad_conns", modes[i], &taker);
        CHECK_MSG(r == 1, "%s: hand-off: %d %s", modes[i], r, gracefd_last_error());
        CHECK_MSG(gracefd_conns_can_pass() == -ENOTCONN, "%s: a channel was adopted", modes[i]);
        CHECK_INT(gracefd_handoff_stop(), ==, 1);
        CHECK_INT(conns_count_open_fds(), ==, before);
        kill(taker, SIGTERM);
        conns_reap(taker, 5000);
    }
}
