/* The receiving side of the connection pass against a hostile old
 * generation: each malformed batch is refused with EBADMSG, its fds closed
 * (none leak), and the connections already taken go on being served. The
 * test plays the old generation by hand on a socketpair; the new generation
 * is this binary re-executed with the readiness protocol's variables. */
#include "conns_helpers.h"
#include <sys/stat.h>

#include "harness.h"

ROLE(conns_take3_keep) {
    if (argc < 2) return 2;
    return conns_serve_passed(argv[1], 3, 1);
}

/* Start the role as a new generation whose readiness channel is `child_end`. */
static pid_t start_new_generation(int child_end, const char *report) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    char num[32];
    int fd = fcntl(child_end, F_DUPFD, 10); /* without CLOEXEC */
    snprintf(num, sizeof num, "%d", fd);
    setenv("GRACEFD_READY_FD", num, 1);
    snprintf(num, sizeof num, "%d", (int)getpid());
    setenv("LISTEN_PID", num, 1);
    setenv("LISTEN_FDS", "0", 1);
    setenv("GRACEFD_GENERATION", "2", 1);
    snprintf(num, sizeof num, "%d", (int)getppid());
    setenv("GRACEFD_PARENT_PID", num, 1);
    execl(harness_self(), harness_self(), "--role", "conns_take3_keep", report, (char *)NULL);
    _exit(127);
}

/* The reply to a batch: its kind, and the errno when it is a REFUSE. */
static int reply_kind(int ch, uint32_t *id, int *errno_out) {
    unsigned char r[512];
    int n = conns_recv(ch, r, sizeof r, 5000, NULL, NULL);
    if (n < 16) return -1;
    *id = get32(r + 12);
    *errno_out = n >= 20 ? (int)get32(r + 16) : 0;
    return r[5];
}

TEST(conns_receiver_refuses_malformed_batches_and_keeps_the_rest) {
    char report[512];
    snprintf(report, sizeof report, "%s/report", harness_tmpdir());
    int sp[2];
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == 0);
    pid_t child = start_new_generation(sp[1], report);
    CHECK(child > 0);
    close(sp[1]);
    int ch = sp[0];
    unsigned char ready[64];
    CHECK_INT(conns_recv(ch, ready, sizeof ready, 5000, NULL, NULL), ==, 9);
    CHECK(memcmp(ready, "GFD1", 4) == 0 && ready[4] == 1 && (ready[5] & 1));

    int l = conns_listener();
    CHECK(l >= 0);
    int cl[5], sv[5];
    for (int i = 0; i < 5; i++) CHECK(conns_pair(l, &cl[i], &sv[i]) == 0);
    static unsigned char f[100000];
    uint32_t id;
    int e;

    /* A good batch of two, committed: the new generation owns them. */
    uint64_t tags[2] = {1, 2};
    const char *states[2] = {"a", ""};
    size_t n = conns_batch(f, 1, 2, tags, states);
    CHECK(conns_sendmsg(ch, f, n, sv, 2) == 0);
    CHECK_INT(reply_kind(ch, &id, &e), ==, 2);
    CHECK_INT(id, ==, 1);
    CHECK(conns_send_id(ch, 4, 1) == 0);
    close(sv[0]);
    close(sv[1]);

    /* Malformed: announces two connections, carries one fd. */
    n = conns_batch(f, 2, 2, tags, states);
    CHECK(conns_sendmsg(ch, f, n, &sv[2], 1) == 0);
    CHECK_INT(reply_kind(ch, &id, &e), ==, 3);
    CHECK_INT(e, ==, EBADMSG);
    /* Malformed: garbage with an fd. */
    memset(f, 'x', 64);
    CHECK(conns_sendmsg(ch, f, 64, &sv[3], 1) == 0);
    CHECK_INT(reply_kind(ch, &id, &e), ==, 3);
    CHECK_INT(e, ==, EBADMSG);
    /* Malformed: a state length that runs past the message. */
    n = conns_batch(f, 3, 1, tags, states);
    put32(f + 28, 1000);
    CHECK(conns_sendmsg(ch, f, n, &sv[2], 1) == 0);
    CHECK_INT(reply_kind(ch, &id, &e), ==, 3);
    CHECK_INT(e, ==, EBADMSG);
    /* Malformed: a listening socket is not a connection. */
    n = conns_batch(f, 4, 1, tags, states);
    CHECK(conns_sendmsg(ch, f, n, &l, 1) == 0);
    CHECK_INT(reply_kind(ch, &id, &e), ==, 3);
    CHECK_INT(e, ==, EBADMSG);
    /* A COMMIT of a batch it does not hold, and frames with fds that are not
     * batches: ignored or refused, never adopted. */
    CHECK(conns_send_id(ch, 4, 2) == 0);
    unsigned char ack[16];
    conns_head(ack, 2, 4);
    put32(ack + 12, 9);
    CHECK(conns_sendmsg(ch, ack, sizeof ack, &sv[3], 1) == 0);
    CHECK_INT(reply_kind(ch, &id, &e), ==, 3);
    CHECK_INT(e, ==, EBADMSG);
    /* A batch sent and then aborted: closed, not served. */
    uint64_t t3 = 3;
    const char *s3 = "";
    n = conns_batch(f, 5, 1, &t3, &s3);
    CHECK(conns_sendmsg(ch, f, n, &sv[3], 1) == 0);
    CHECK_INT(reply_kind(ch, &id, &e), ==, 2);
    CHECK(conns_send_id(ch, 5, 5) == 0);

    /* A last good batch: it takes it, after all the above. */
    uint64_t t99 = 99;
    const char *s99 = "zz";
    n = conns_batch(f, 6, 1, &t99, &s99);
    CHECK(conns_sendmsg(ch, f, n, &sv[4], 1) == 0);
    CHECK_INT(reply_kind(ch, &id, &e), ==, 2);
    CHECK(conns_send_id(ch, 4, 6) == 0);
    close(sv[4]);

    int st = conns_reap(child, 10000);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "new generation status %d", st);
    char rep[4096];
    CHECK(conns_read_file(report, rep, sizeof rep) > 0);
    CHECK_STR_CONTAINS(rep, "tag=1 state=a ");
    CHECK_STR_CONTAINS(rep, "tag=2 state= ");
    CHECK_STR_CONTAINS(rep, "tag=99 state=zz ");
    CHECK_MSG(!strstr(rep, "tag=3 "), "an aborted batch was served: %s", rep);
    /* No fd leaked: exactly the three it took were added since before ready. */
    int base = -1, fds = -1, taken = -1;
    const char *b = strstr(rep, "base="), *fl = strstr(rep, "fds=");
    CHECK(b && fl);
    sscanf(b, "base=%d", &base);
    sscanf(fl, "fds=%d taken=%d", &fds, &taken);
    CHECK_INT(taken, ==, 3);
    CHECK_INT(fds, ==, base + 3);
    /* The ones refused or aborted are still ours and alive. */
    char line[64];
    for (int i = 2; i < 4; i++) {
        CHECK(conns_send_str(sv[i], "old\n") == 0);
        CHECK(conns_read_line(cl[i], line, sizeof line) == 3);
    }
    close(ch);
}

ROLE(conns_take1_keep) {
    if (argc < 2) return 2;
    return conns_serve_passed(argv[1], 1, 1);
}

/* Whether process pid holds an fd on the socket whose inode is ino. */
static int holds_socket(pid_t pid, ino_t ino) {
    char dir[64], path[320], link[128], want[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    snprintf(want, sizeof want, "socket:[%lu]", (unsigned long)ino);
    DIR *d = opendir(dir);
    if (!d) return 0;
    int found = 0;
    for (struct dirent *e; !found && (e = readdir(d));) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n > 0) { link[n] = 0; found = strcmp(link, want) == 0; }
    }
    closedir(d);
    return found;
}

TEST(conns_receiver_closes_an_uncommitted_batch_when_the_old_side_vanishes) {
    char report[512];
    snprintf(report, sizeof report, "%s/report", harness_tmpdir());
    int sp[2];
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == 0);
    pid_t child = fork();
    if (child == 0) {
        char num[32];
        int fd = fcntl(sp[1], F_DUPFD, 10);
        snprintf(num, sizeof num, "%d", fd);
        setenv("GRACEFD_READY_FD", num, 1);
        snprintf(num, sizeof num, "%d", (int)getpid());
        setenv("LISTEN_PID", num, 1);
        setenv("GRACEFD_GENERATION", "2", 1);
        snprintf(num, sizeof num, "%d", (int)getppid());
        setenv("GRACEFD_PARENT_PID", num, 1);
        execl(harness_self(), harness_self(), "--role", "conns_take1_keep", report, (char *)NULL);
        _exit(127);
    }
    CHECK(child > 0);
    close(sp[1]);
    unsigned char buf[256];
    CHECK_INT(conns_recv(sp[0], buf, sizeof buf, 5000, NULL, NULL), ==, 9);
    int l = conns_listener(), c, s;
    CHECK(l >= 0 && conns_pair(l, &c, &s) == 0);
    struct stat st;
    CHECK(fstat(s, &st) == 0);
    uint64_t tag = 7;
    const char *state = "";
    size_t n = conns_batch(buf, 1, 1, &tag, &state);
    CHECK(conns_sendmsg(sp[0], buf, n, &s, 1) == 0);
    CHECK_INT(conns_recv(sp[0], buf, sizeof buf, 5000, NULL, NULL), ==, 16); /* ACK: it holds it */
    CHECK(holds_socket(child, st.st_ino));
    close(sp[0]); /* the old side vanishes before COMMIT */
    int closed = 0;
    for (int i = 0; i < 300 && !closed; i++) {
        closed = !holds_socket(child, st.st_ino);
        if (!closed) usleep(10000);
    }
    kill(child, SIGTERM);
    conns_reap(child, 5000);
    CHECK_MSG(closed, "the new generation still holds a connection that was never committed");
    char rep[1024] = "";
    conns_read_file(report, rep, sizeof rep);
    CHECK_MSG(!strstr(rep, "tag=7"), "an uncommitted connection was served: %s", rep);
    /* Still ours, alive. */
    CHECK(conns_send_str(s, "old\n") == 0);
    char line[16];
    CHECK(conns_read_line(c, line, sizeof line) == 3);
}
