/* The low-level transfer, gracefd_send_fds()/gracefd_recv_fds(), over a
 * socketpair: 10,000 fds intact, MSG_CTRUNC, a cap too small, bad arguments,
 * a dead or silent peer. */
#define _GNU_SOURCE
#include "handoff_helpers.h"

static int snap_before[FDCAP], snap_after[FDCAP];
static struct key want_keys[FDCAP];

static char names_buf[BIG][GRACEFD_FD_NAME_SIZE];
static const char *name_ptrs[BIG];
static char name_store[BIG][16];
static int src_fds[BIG], dst_fds[BIG];

TEST(handoff_send_recv_10000_fds_intact) {
    raise_nofile(65536);
    int port = 0;
    CHECK(make_fds(BIG, src_fds, &port) == 0);
    for (int i = 0; i < BIG; i++) {
        snprintf(name_store[i], sizeof name_store[i], "n%d", i);
        name_ptrs[i] = name_store[i];
        CHECK(key_of(src_fds[i], &want_keys[i]) == 0);
    }
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    fflush(NULL);
    pid_t p = fork();
    if (p == 0) {
        close(sv[1]);
        int r = gracefd_send_fds(sv[0], src_fds, name_ptrs, BIG, 30000);
        if (r != 0) fprintf(stderr, "send: %s\n", gracefd_last_error());
        _exit(r == 0 ? 0 : 1);
    }
    close(sv[0]);
    for (int i = 0; i < BIG; i++) close(src_fds[i]); /* the receiver's copies come from the sender */
    int r = gracefd_recv_fds(sv[1], 30000, BIG, dst_fds, names_buf);
    CHECK_MSG(r == BIG, "recv: %d %s", r, gracefd_last_error());
    CHECK_INT(wait_exit(p, 30), ==, 0);
    for (int i = 0; i < BIG; i++) {
        struct key k;
        CHECK(key_of(dst_fds[i], &k) == 0);
        CHECK_MSG(cmp_key(&k, &want_keys[i]) == 0, "fd #%d is another file", i);
        CHECK_MSG(strcmp(names_buf[i], name_store[i]) == 0, "name #%d: %s", i, names_buf[i]);
        CHECK(fcntl(dst_fds[i], F_GETFD) & FD_CLOEXEC);
        close(dst_fds[i]);
    }
    close(sv[1]);
}

TEST(handoff_recv_ctrunc_closes_everything) {
    /* A receiver that cannot install the fds (RLIMIT_NOFILE too low) gets
     * MSG_CTRUNC from the kernel: the transfer fails and nothing stays open. */
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    int pp[2];
    CHECK(pipe(pp) == 0);
    static int fds[252];
    static const char *names[252];
    for (int i = 0; i < 252; i++) { fds[i] = pp[0]; names[i] = "p"; }
    CHECK_INT(gracefd_send_fds(sv[0], fds, names, 252, 10000), ==, 0);
    close(pp[0]);
    close(pp[1]);
    close(sv[0]);
    fflush(NULL);
    pid_t p = fork();
    if (p == 0) {
        int nb = list_fds(snap_before, FDCAP);
        /* New fds must be below the limit: with 40, fewer than 252 fit. */
        struct rlimit rl = {40, 40};
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(1);
        static int out[252];
        int r = gracefd_recv_fds(sv[1], 10000, 252, out, NULL);
        if (r != -EBADMSG || !strstr(gracefd_last_error(), "MSG_CTRUNC")) {
            fprintf(stderr, "recv: %d %s\n", r, gracefd_last_error());
            _exit(2);
        }
        int na = list_fds(snap_after, FDCAP);
        _exit(same_fds(snap_before, nb, snap_after, na) ? 0 : 3);
    }
    CHECK_INT(wait_exit(p, 20), ==, 0);
    close(sv[1]);
}

TEST(handoff_recv_cap_too_small_emsgsize_no_fd_received) {
    int sv[2], pp[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK(pipe(pp) == 0);
    int fds[3] = {pp[0], pp[1], pp[0]};
    const char *names[3] = {"r", "w", "r again"};
    CHECK_INT(gracefd_send_fds(sv[0], fds, names, 3, 10000), ==, 0);
    int nb = list_fds(snap_before, FDCAP);
    int out[2] = {-1, -1};
    CHECK_INT(gracefd_recv_fds(sv[1], 10000, 2, out, NULL), ==, -EMSGSIZE);
    CHECK(out[0] == -1 && out[1] == -1); /* nothing written on failure */
    int na = list_fds(snap_after, FDCAP);
    CHECK(same_fds(snap_before, nb, snap_after, na));
    CHECK_INT(gracefd_recv_fds(sv[1], 10000, 2, NULL, NULL), ==, -EINVAL);
    close(sv[0]);
    close(sv[1]);
    close(pp[0]);
    close(pp[1]);
}

TEST(handoff_send_rejects_bad_arguments) {
    int sv[2], pp[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK(pipe(pp) == 0);
    int fds[2] = {pp[0], pp[1]};
    const char *bad[2] = {"ok", "a:b"};
    CHECK_INT(gracefd_send_fds(sv[0], fds, bad, 2, 1000), ==, -EINVAL);
    CHECK_STR_CONTAINS(gracefd_last_error(), "name #1");
    const char *null_name[2] = {"ok", NULL};
    CHECK_INT(gracefd_send_fds(sv[0], fds, null_name, 2, 1000), ==, -EINVAL);
    CHECK_STR_CONTAINS(gracefd_last_error(), "names[1]");
    const char *good[2] = {"r", "w"};
    CHECK_INT(gracefd_send_fds(sv[0], NULL, good, 2, 1000), ==, -EINVAL);
    CHECK_INT(gracefd_send_fds(sv[0], fds, NULL, 2, 1000), ==, -EINVAL);
    int negative[2] = {pp[0], -1};
    CHECK_INT(gracefd_send_fds(sv[0], negative, good, 2, 1000), ==, -EBADF);
    int closed[2] = {pp[0], 9999};
    CHECK_INT(gracefd_send_fds(sv[0], closed, good, 2, 1000), ==, -EBADF);
    CHECK_STR_CONTAINS(gracefd_last_error(), "fd #1 (9999) is not open");
    /* That one failed mid-transfer (its header went): a fresh stream for what follows. */
    close(sv[0]);
    close(sv[1]);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK_INT(gracefd_send_fds(sv[0], fds, good, 65537, 1000), ==, -EINVAL);
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    const char *toolong[1] = {longname};
    CHECK_INT(gracefd_send_fds(sv[0], fds, toolong, 1, 1000), ==, -EINVAL);
    CHECK_INT(gracefd_send_fds(-1, fds, good, 2, 1000), <, 0);
    /* Zero fds is a valid (empty) transfer. */
    CHECK_INT(gracefd_send_fds(sv[0], NULL, NULL, 0, 1000), ==, 0);
    CHECK_INT(gracefd_recv_fds(sv[1], 1000, 0, NULL, NULL), ==, 0);
    close(sv[0]);
    close(sv[1]);
    close(pp[0]);
    close(pp[1]);
}

TEST(handoff_dead_peer_is_epipe_never_sigpipe_and_waits_are_bounded) {
    signal(SIGPIPE, SIG_DFL); /* the harness ignores it; a real host may not */
    int sv[2], pp[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK(pipe(pp) == 0);
    close(sv[1]);
    const char *names[1] = {"p"};
    CHECK_INT(gracefd_send_fds(sv[0], pp, names, 1, 1000), ==, -EPIPE);
    CHECK_STR_CONTAINS(gracefd_last_error(), "closed the connection");
    close(sv[0]);
    /* Nothing arrives: a timeout, not a hang. */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    int out[1];
    CHECK_INT(gracefd_recv_fds(sv[1], 100, 1, out, NULL), ==, -ETIMEDOUT);
    /* Nobody reads: a timeout too. */
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    static int many[3000];
    static const char *mnames[3000];
    for (int i = 0; i < 3000; i++) { many[i] = pp[0]; mnames[i] = "many"; }
    CHECK_INT(gracefd_send_fds(sv[0], many, mnames, 3000, 100), ==, -ETIMEDOUT);
    close(sv[0]);
    close(sv[1]);
    close(pp[0]);
    close(pp[1]);
}
