/* Hand-off against hostile peers: garbage takers against a real old side,
 * a garbage or dying old side against gracefd_handoff_take(), a dying sender
 * and hand-crafted frames against gracefd_recv_fds(), a taker dropped in the
 * middle of a frame (nothing written after the cut). Nothing may leak: fds
 * are compared with a snapshot of /proc/self/fd. The frames are written
 * independently of the library (docs: src/proto/handoff.rs). */
#define _GNU_SOURCE
#include "handoff_helpers.h"

static int snap_before[FDCAP], snap_after[FDCAP];

/* One sendmsg of data with fds (raw: for hand-crafted frames). */
static int send_raw(int sock, const void *data, size_t len, const int *fds, int nfds) {
    char cbuf[CMSG_SPACE(sizeof(int) * 253)];
    struct iovec iov = {(void *)data, len};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (nfds > 0) {
        memset(cbuf, 0, sizeof cbuf);
        m.msg_control = cbuf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    return sendmsg(sock, &m, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* The wire format, written independently of the library (docs: src/proto/handoff.rs). */
static size_t put_head(unsigned char *b, int version, int kind, uint32_t len) {
    memcpy(b, "GFDH", 4);
    b[4] = (unsigned char)version;
    b[5] = (unsigned char)kind;
    b[6] = b[7] = 0;
    b[8] = (unsigned char)len;
    b[9] = (unsigned char)(len >> 8);
    b[10] = (unsigned char)(len >> 16);
    b[11] = (unsigned char)(len >> 24);
    return 12;
}

static void put_u32(unsigned char *b, uint32_t v) {
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16);
    b[3] = (unsigned char)(v >> 24);
}

/* A HEADER frame for n names "a" (or `name` if given). */
static size_t header_frame(unsigned char *b, uint32_t n, const char *name) {
    const char *nm = name ? name : "a";
    size_t nl = strlen(nm);
    uint32_t body = 4 + n * (uint32_t)(1 + nl);
    size_t at = put_head(b, 1, 1, body);
    put_u32(b + at, n);
    at += 4;
    for (uint32_t i = 0; i < n; i++) {
        b[at++] = (unsigned char)nl;
        memcpy(b + at, nm, nl);
        at += nl;
    }
    return at;
}

static size_t chunk_frame(unsigned char *b, uint32_t first, uint32_t count) {
    size_t at = put_head(b, 1, 2, 8);
    put_u32(b + at, first);
    put_u32(b + at + 4, count);
    return at + 8;
}

/* Connect to path, send `len` bytes (with `nfds` copies of fd), and read the
 * server's answer: the errno of its REFUSE frame, 0 if it sent something
 * else, -1 on EOF or timeout. */
static int raw_exchange(const char *path, const unsigned char *data, size_t len, int fd, int nfds) {
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a;
    int fds[4] = {fd, fd, fd, fd};
    if (c < 0 || unix_addr(&a, path) < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0) return -2;
    if (send_raw(c, data, len, fds, nfds) < 0) { close(c); return -3; }
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        struct pollfd p = {c, POLLIN, 0};
        if (poll(&p, 1, 10000) != 1) break;
        ssize_t n = recv(c, b + got, sizeof b - got, 0);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(c);
    if (got < 16) return -1;
    if (memcmp(b, "GFDH", 4) != 0 || b[5] != 5) return 0;
    return (int)(b[12] | b[13] << 8 | b[14] << 16 | (unsigned)b[15] << 24);
}

TEST(handoff_server_survives_garbage_takers_then_serves_a_real_one) {
    struct old o;
    CHECK(start_old(&o, 4, "gone") == 0);
    int pp[2];
    CHECK(pipe(pp) == 0);
    unsigned char f[16];
    CHECK_INT(raw_exchange(o.path, (const unsigned char *)"GET / HTTP/1.0\r\n", 16, -1, 0), ==, EBADMSG);
    put_head(f, 2, 3, 0); /* TAKE in protocol version 2 */
    CHECK_INT(raw_exchange(o.path, f, 12, -1, 0), ==, EPROTONOSUPPORT);
    put_head(f, 1, 3, 0); /* TAKE with fds attached */
    CHECK_INT(raw_exchange(o.path, f, 12, pp[0], 2), ==, EBADMSG);
    put_head(f, 1, 4, 0); /* READY before anything was taken */
    CHECK_INT(raw_exchange(o.path, f, 12, -1, 0), ==, EPROTO);
    close(pp[0]);
    close(pp[1]);
    CHECK_INT(gracefd_handoff_take(o.path, 10000), ==, 4);
    CHECK_INT(gracefd_ready(), ==, 1);
    CHECK_INT(wait_exit(o.pid, 20), ==, 0);
    CHECK_STR_CONTAINS(read_file(o.log), "still serving");
}

/* A fake old side at `path`: accepts one taker, reads its TAKE, sends `l1`
 * bytes of `d1` (no fds), then `l2` bytes of `d2` with `nfds` copies of a pipe
 * fd, writes a byte to `sync_fd` (if >= 0), then exits (or pauses). */
static pid_t fake_server(const char *path, const unsigned char *d1, size_t l1, const unsigned char *d2, size_t l2,
                         int nfds, int sync_fd, int then_pause) {
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    if (unix_addr(&a, path) < 0) return -1;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 4) < 0) return -1;
    fflush(NULL);
    pid_t p = fork();
    if (p == 0) {
        int c = accept(l, NULL, NULL);
        unsigned char take[12];
        if (c < 0 || recv(c, take, sizeof take, MSG_WAITALL) != 12) _exit(1);
        int pp[2], fds[253];
        if (pipe(pp) < 0) _exit(2);
        for (int i = 0; i < nfds && i < 253; i++) fds[i] = pp[0];
        if (l1 && send_raw(c, d1, l1, NULL, 0) < 0) _exit(3);
        if (l2 && send_raw(c, d2, l2, fds, nfds) < 0) _exit(4);
        if (sync_fd >= 0 && write(sync_fd, "s", 1) != 1) _exit(5);
        if (then_pause) pause();
        _exit(0);
    }
    close(l);
    return p;
}

static unsigned char frames[1 << 20];

TEST(handoff_take_from_a_garbage_server_fails_ebadmsg_without_leaks) {
    char path[256];
    int nb = list_fds(snap_before, FDCAP);
    struct {
        int kind; /* 0 garbage, 1 fds on the header, 2 too few fds, 3 refusal */
        int want;
    } cases[] = {{0, -EBADMSG}, {1, -EBADMSG}, {2, -EBADMSG}, {3, -EPERM}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        snprintf(path, sizeof path, "%s/g%zu.sock", harness_tmpdir(), k);
        size_t len = 0, l2 = 0;
        int nfds = 0;
        unsigned char chunk[20];
        if (cases[k].kind == 0) {
            memcpy(frames, "HTTP/1.1 200 OK\r\n\r\n", 19);
            len = 19;
        } else if (cases[k].kind == 1) {
            len = header_frame(frames, 2, NULL);
            nfds = 2;
        } else if (cases[k].kind == 2) {
            len = header_frame(frames, 3, NULL);
            l2 = chunk_frame(chunk, 0, 3);
            nfds = 2;
        } else {
            len = put_head(frames, 1, 5, 4 + 7);
            put_u32(frames + len, EPERM);
            memcpy(frames + len + 4, "go away", 7);
            len += 11;
        }
        pid_t p = l2 ? fake_server(path, frames, len, chunk, l2, nfds, -1, 0)
                     : fake_server(path, NULL, 0, frames, len, nfds, -1, 0);
        CHECK(p > 0);
        int r = gracefd_handoff_take(path, 10000);
        CHECK_MSG(r == cases[k].want, "case %zu: %d %s", k, r, gracefd_last_error());
        CHECK_INT(wait_exit(p, 20), ==, 0);
    }
    CHECK_STR_CONTAINS(gracefd_last_error(), "go away");
    int na = list_fds(snap_after, FDCAP);
    CHECK(same_fds(snap_before, nb, snap_after, na));
}

TEST(handoff_old_side_sigkilled_midway_new_side_fails_clearly) {
    /* Hand-crafted: a header announcing 600 fds and one chunk of 252, then the
     * old side is SIGKILLed. */
    char path[256];
    snprintf(path, sizeof path, "%s/k.sock", harness_tmpdir());
    int nb = list_fds(snap_before, FDCAP);
    size_t len = header_frame(frames, 600, "x");
    unsigned char chunk[20];
    size_t l2 = chunk_frame(chunk, 0, 252);
    int sync[2];
    CHECK(pipe(sync) == 0);
    pid_t p = fake_server(path, frames, len, chunk, l2, 252, sync[1], 1);
    CHECK(p > 0);
    close(sync[1]);
    /* Once it has sent a header and 252 of 600 fds, it is SIGKILLed (by a
     * helper, while this process waits inside gracefd_handoff_take()). */
    fflush(NULL);
    pid_t killer = fork();
    if (killer == 0) {
        char b;
        if (read(sync[0], &b, 1) != 1) _exit(1);
        kill(p, SIGKILL);
        _exit(0);
    }
    close(sync[0]);
    int r = gracefd_handoff_take(path, 20000);
    CHECK_INT(wait_exit(killer, 20), ==, 0);
    CHECK_INT(wait_exit(p, 20), ==, 128 + SIGKILL);
    CHECK_MSG(r == -ECONNRESET, "%d %s", r, gracefd_last_error());
    CHECK_STR_CONTAINS(gracefd_last_error(), "after 252 of 600 fds");
    int na = list_fds(snap_after, FDCAP);
    CHECK(same_fds(snap_before, nb, snap_after, na));
}

/* The low-level sender is SIGKILLed mid-transfer: it can never finish (tiny
 * send buffer, nobody reading yet), so the receiver sees a partial transfer. */
TEST(handoff_sender_sigkilled_midway_recv_fails_clearly_without_leaks) {
    raise_nofile(65536);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    int nb = list_fds(snap_before, FDCAP);
    int sync[2];
    CHECK(pipe(sync) == 0);
    fflush(NULL);
    pid_t p = fork();
    if (p == 0) {
        static int fds[5000];
        static const char *names[5000];
        close(sv[1]);
        int small = 4096;
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
        int pp[2];
        if (pipe(pp) < 0) _exit(1);
        for (int i = 0; i < 5000; i++) { fds[i] = pp[0]; names[i] = "pipe"; }
        if (write(sync[1], "s", 1) != 1) _exit(2);
        gracefd_send_fds(sv[0], fds, names, 5000, 60000);
        _exit(3);
    }
    close(sv[0]);
    char b;
    CHECK(read(sync[0], &b, 1) == 1);
    close(sync[0]);
    close(sync[1]);
    usleep(50000); /* not needed for correctness: any moment is "midway" */
    kill(p, SIGKILL);
    CHECK_INT(wait_exit(p, 20), ==, 128 + SIGKILL);
    static int fds_out[5000];
    int r = gracefd_recv_fds(sv[1], 20000, 5000, fds_out, NULL);
    CHECK_MSG(r == -ECONNRESET || r == -EBADMSG, "%d %s", r, gracefd_last_error());
    CHECK(strlen(gracefd_last_error()) > 0);
    close(sv[1]);
    int na = list_fds(snap_after, FDCAP);
    /* sv[0] and the sync pipe were closed here, sv[1] too: compare without them. */
    int ne = 0;
    for (int i = 0; i < nb; i++)
        if (snap_before[i] != sv[0] && snap_before[i] != sv[1]) snap_before[ne++] = snap_before[i];
    CHECK(same_fds(snap_before, ne, snap_after, na));
}

TEST(handoff_recv_rejects_hostile_frames_with_ebadmsg_without_leaks) {
    int pp[2];
    CHECK(pipe(pp) == 0);
    int pfds[253];
    for (int i = 0; i < 253; i++) pfds[i] = pp[0];
    int nb = list_fds(snap_before, FDCAP);
    for (int k = 0; k < 16; k++) {
        unsigned char *b = frames;
        size_t len = 0;
        int nfds = 0;
        const char *what = "";
        switch (k) {
        case 0: what = "garbage"; memcpy(b, "\x01\x02garbage garbage", 17); len = 17; break;
        case 1: what = "bad magic"; len = header_frame(b, 1, NULL); b[0] = 'X'; break;
        case 2: what = "unknown kind"; len = put_head(b, 1, 9, 0); break;
        case 3: what = "flags"; len = header_frame(b, 1, NULL); b[7] = 1; break;
        case 4: what = "oversized header length"; len = put_head(b, 1, 1, 0xffffffffu); break;
        case 5: what = "count above max"; len = put_head(b, 1, 1, 4 + 2);
            put_u32(b + len, 70000); len += 4;
            b[len++] = 1; b[len++] = 'a';
            break;
        case 6: what = "name with ':'"; len = header_frame(b, 1, "a:b"); break;
        case 7: what = "truncated header"; len = header_frame(b, 4, NULL) - 3; break;
        case 8: what = "truncated head"; len = 7; memcpy(b, "GFDH\x01\x01\x00", 7); break;
        case 9: what = "fds on the header"; len = header_frame(b, 1, NULL); nfds = 1; break;
        case 10: what = "chunk with fewer fds"; len = header_frame(b, 3, NULL); break;
        case 11: what = "chunk with more fds"; len = header_frame(b, 2, NULL); break;
        case 12: what = "chunk out of sequence"; len = header_frame(b, 2, NULL); break;
        case 13: what = "chunk of 253"; len = header_frame(b, 300, NULL); break;
        case 14: what = "header then eof mid chunk"; len = header_frame(b, 2, NULL); break;
        case 15: what = "control frame instead of header"; len = put_head(b, 1, 4, 0); break;
        }
        int sv[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        CHECK(send_raw(sv[0], b, len, pfds, nfds) == 0);
        unsigned char c[20];
        size_t cl;
        switch (k) {
        case 10: cl = chunk_frame(c, 0, 3); CHECK(send_raw(sv[0], c, cl, pfds, 2) == 0); break;
        case 11: cl = chunk_frame(c, 0, 2); CHECK(send_raw(sv[0], c, cl, pfds, 3) == 0); break;
        case 12: cl = chunk_frame(c, 1, 1); CHECK(send_raw(sv[0], c, cl, pfds, 1) == 0); break;
        case 13: cl = chunk_frame(c, 0, 253); CHECK(send_raw(sv[0], c, cl, pfds, 253) == 0); break;
        case 14: cl = chunk_frame(c, 0, 2); CHECK(send_raw(sv[0], c, cl - 3, pfds, 2) == 0); break;
        default: break;
        }
        close(sv[0]);
        static int out[400];
        int r = gracefd_recv_fds(sv[1], 10000, 400, out, NULL);
        CHECK_MSG(r == -EBADMSG, "%s: %d %s", what, r, gracefd_last_error());
        close(sv[1]);
        int na = list_fds(snap_after, FDCAP);
        CHECK_MSG(same_fds(snap_before, nb, snap_after, na), "%s leaked fds", what);
    }
    /* Another protocol version is told apart. */
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    size_t len = header_frame(frames, 1, NULL);
    frames[4] = 2;
    CHECK(send_raw(sv[0], frames, len, NULL, 0) == 0);
    int out[4];
    CHECK_INT(gracefd_recv_fds(sv[1], 10000, 4, out, NULL), ==, -EPROTONOSUPPORT);
    CHECK_STR_CONTAINS(gracefd_last_error(), "version 2");
    close(sv[0]);
    close(sv[1]);
    close(pp[0]);
    close(pp[1]);
}


/* Every byte the taker can read now, without waiting, into b (at most cap);
 * *eof set if the connection is closed. Returns how many. */
static size_t read_available(int c, unsigned char *b, size_t cap, int *eof) {
    size_t got = 0;
    *eof = 0;
    while (got < cap) {
        ssize_t n = recv(c, b + got, cap - got, MSG_DONTWAIT);
        if (n == 0) {
            *eof = 1;
            break;
        }
        if (n < 0) break;
        got += (size_t)n;
    }
    return got;
}

/* A taker dropped while a frame to it is half sent: the REFUSE telling it why
 * went out after the cut frame's first bytes, where the taker reads it as the
 * rest of that frame. Built as: a header far larger than the smallest send
 * buffer, the taker reads what came (so there is room), then sends a second
 * TAKE, which drops it. It must see the cut frame end at a close, nothing
 * after it. */
TEST(handoff_a_taker_dropped_midframe_reads_no_refuse_inside_the_frame) {
    gracefd_set_log_hook(on_log_lines, NULL, GRACEFD_LOG_DEBUG);
    int hfd = -1, c = -1;
    const char *why = start_big_transfer("cut.sock", "entry", &hfd, &c);
    CHECK_MSG(why == NULL, "%s", why);
    struct pollfd p = {hfd, POLLIN, 0};
    unsigned char take[12];
    put_head(take, 1, 3, 0);
    static unsigned char got[1 << 17];
    int eof = 0;
    size_t first = read_available(c, got, sizeof got, &eof);
    /* The header frame was cut: its head says how long it is. */
    CHECK(first >= 12 && !eof && memcmp(got, "GFDH", 4) == 0);
    size_t frame = 12 + (size_t)(got[8] | got[9] << 8 | got[10] << 16 | (unsigned)got[11] << 24);
    CHECK_MSG(first < frame, "read %zu of a %zu-byte header: not cut", first, frame);
    /* The second TAKE drops the taker, with room in its buffer now. */
    CHECK(send(c, take, sizeof take, MSG_NOSIGNAL) == (ssize_t)sizeof take);
    CHECK(poll(&p, 1, 5000) == 1);
    CHECK_INT(gracefd_handoff_process(), ==, GRACEFD_HANDOFF_SERVING);
    CHECK_STR_CONTAINS(log_lines, "dropped (unexpected take frame)");
    struct pollfd q = {c, POLLIN, 0};
    CHECK(poll(&q, 1, 5000) == 1);
    size_t after = read_available(c, got, sizeof got, &eof);
    CHECK_MSG(after == 0 && eof, "after the cut: %zu more bytes (%.4s...), eof %d", after, (const char *)got, eof);
    close(c);
    gracefd_handoff_stop();
    close(hfd);
}
