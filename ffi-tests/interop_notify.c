/* sd_notify against code nobody here wrote: the same states sent through
 * libsystemd (sd_notify, sd_pid_notify_with_fds, sd_notify_barrier) and
 * through gracefd must reach a receiver as equal datagrams, byte for byte,
 * with the same fds. Built by mk/notify.mk with
 * `pkg-config --cflags --libs libsystemd`; run by `make check`. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "gracefd.h"
#include "harness.h"
#include "notify_helpers.h"

enum kind { RAW, STATUS, STOPPING, RELOAD_NOW, FDS_FEW, FDS_MANY, BARRIER };

struct step {
    const char *state;
    enum kind kind;
};

/* What both roles send, in order. STATUS/STOPPING/RELOAD_NOW go through
 * gracefd's convenience calls on the gracefd side. */
static const struct step steps[] = {
    {"READY=1", RAW},
    {"STATUS=Serving 3 clients", STATUS},
    {"READY=1\nSTATUS=ok\n", RAW},
    {"RELOADING=1\nMONOTONIC_USEC=123456789", RAW},
    {"MAINPID=4242", RAW},
    {"WATCHDOG=1", RAW},
    {"EXTEND_TIMEOUT_USEC=5000000", RAW},
    {"STATUS=", STATUS},
    {"FDSTORE=1\nFDNAME=listeners", FDS_FEW},
    {"FDSTORE=1\nFDNAME=many", FDS_MANY},
    {"FDSTOREREMOVE=1\nFDNAME=old", RAW},
    {"RELOADING=1\nMONOTONIC_USEC=", RELOAD_NOW},
    {"STOPPING=1", STOPPING},
    {"BARRIER=1", BARRIER},
};
#define NSTEPS (sizeof steps / sizeof steps[0])

#define FEW 3
#define MANY 600

/* ---- the senders: argv = FEW + MANY inherited fd numbers ---- */

static int fds[FEW + MANY];

static int read_fds(int argc, char **argv) {
    int i;
    if (argc != 1 + FEW + MANY) return -1;
    for (i = 0; i < FEW + MANY; i++) fds[i] = atoi(argv[1 + i]);
    return 0;
}

ROLE(sd_send) {
    size_t s;
    int off, r;
    RCHECK(read_fds(argc, argv) == 0);
    for (s = 0; s < NSTEPS; s++) {
        switch (steps[s].kind) {
        case RAW:
        case STATUS:
        case STOPPING:
            r = sd_notify(0, steps[s].state);
            break;
        case RELOAD_NOW:
            r = sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, nh_now_us());
            break;
        case FDS_FEW:
            r = sd_pid_notify_with_fds(0, 0, steps[s].state, fds, FEW);
            break;
        case FDS_MANY:
            /* libsystemd leaves the kernel's 253-per-message limit to its caller. */
            for (off = 0, r = 1; off < MANY && r > 0; off += NH_MAX_FDS_PER_MSG) {
                int n = MANY - off < NH_MAX_FDS_PER_MSG ? MANY - off : NH_MAX_FDS_PER_MSG;
                r = sd_pid_notify_with_fds(0, 0, steps[s].state, fds + FEW + off, (unsigned)n);
            }
            break;
        case BARRIER:
            r = sd_notify_barrier(0, 10 * 1000000ull);
            break;
        default:
            r = -1;
        }
        if (r <= 0) fprintf(stderr, "    sd step %zu (%s): %d\n", s, steps[s].state, r);
        RCHECK(r > 0);
    }
    return 0;
}

ROLE(gracefd_send) {
    size_t s;
    int r;
    RCHECK(read_fds(argc, argv) == 0);
    for (s = 0; s < NSTEPS; s++) {
        switch (steps[s].kind) {
        case RAW:
            r = gracefd_notify(steps[s].state);
            break;
        case STATUS:
            r = gracefd_notify_status(steps[s].state + strlen("STATUS="));
            break;
        case STOPPING:
            r = gracefd_notify_stopping();
            break;
        case RELOAD_NOW:
            r = gracefd_notify_reloading();
            break;
        case FDS_FEW:
            r = gracefd_notify_with_fds(steps[s].state, fds, FEW);
            break;
        case FDS_MANY:
            r = gracefd_notify_with_fds(steps[s].state, fds + FEW, MANY);
            RCHECK(r == 3);
            break;
        case BARRIER:
            r = gracefd_notify_barrier(10000);
            break;
        default:
            r = -1;
        }
        if (r <= 0) fprintf(stderr, "    gracefd step %zu (%s): %d\n", s, steps[s].state, r);
        RCHECK(r > 0);
    }
    return 0;
}

/* ---- the receiver ---- */

struct rec {
    char data[4200];
    ssize_t len;
    int nfds;
    ino_t ino[NH_MAX_FDS_PER_MSG];
    int pipe_write_end; /* the one fd is the write end of a pipe */
};

#define MAXREC 32
static struct rec got_sd[MAXREC], got_gracefd[MAXREC];

/* Run `role` with NOTIFY_SOCKET=addr and the fds, recording every datagram
 * (closing received fds at once, which also confirms a barrier). Returns the
 * number recorded, or -1 (role failed, timed out, or bad datagram). */
static int run_sender(const char *role, int rfd, const char *addr, int *orig, struct rec *out) {
    static char nums[FEW + MANY][16];
    static char *args[FEW + MANY + 1];
    char env[256];
    char *envp[2];
    int i, n = 0, code = -1, done = 0;
    uint64_t end = nh_now_us() + 30u * 1000000u;
    pid_t pid;
    for (i = 0; i < FEW + MANY; i++) {
        snprintf(nums[i], sizeof nums[i], "%d", orig[i]);
        args[i] = nums[i];
    }
    args[FEW + MANY] = NULL;
    snprintf(env, sizeof env, "NOTIFY_SOCKET=%s", addr);
    envp[0] = env;
    envp[1] = NULL;
    pid = nh_spawn(role, args, envp);
    if (pid <= 0) return -1;
    for (;;) {
        int st, fdv[NH_MAX_FDS_PER_MSG], k;
        if (nh_pending(rfd, done ? 0 : 20)) {
            struct rec *r;
            if (n == MAXREC) break;
            r = &out[n++];
            r->len = nh_recv(rfd, r->data, sizeof r->data, fdv, NH_MAX_FDS_PER_MSG, &r->nfds, 1000);
            r->pipe_write_end = 0;
            for (k = 0; k < r->nfds; k++) {
                struct stat sb;
                int fl = fcntl(fdv[k], F_GETFL);
                r->ino[k] = fstat(fdv[k], &sb) == 0 ? sb.st_ino : 0;
                r->pipe_write_end = S_ISFIFO(sb.st_mode) && fl >= 0 && (fl & O_ACCMODE) == O_WRONLY;
                close(fdv[k]);
            }
            if (r->len < 0) break;
            continue;
        }
        if (done) break; /* exited and drained */
        if (waitpid(pid, &st, WNOHANG) == pid) {
            done = 1;
            code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            continue;
        }
        if (nh_now_us() >= end) break;
    }
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fprintf(stderr, "    %s did not finish\n", role);
        return -1;
    }
    if (code != 0) {
        fprintf(stderr, "    %s exited %d\n", role, code);
        return -1;
    }
    return n;
}

static void show(const char *who, const struct rec *r) {
    fprintf(stderr, "      %s: \"%.*s\" (%zd bytes, %d fds)\n", who, (int)(r->len > 0 ? r->len : 0), r->data, r->len, r->nfds);
}

static void compare_over(int abstract_ns) {
    static int orig[FEW + MANY];
    static ino_t orig_ino[FEW + MANY];
    char addr[200];
    int i, n_sd, n_gr, expect = 0, off_few = 0, off_many = FEW;
    size_t s;
    struct stat sb;
    int rfd = nh_receiver(abstract_ns, "interop.sock", addr, sizeof addr);
    CHECK(rfd >= 0);
    /* Inherited by both senders: a TCP and a UDP socket on loopback, a unix
     * socket, then MANY ends of socketpairs. */
    orig[0] = socket(AF_INET, SOCK_STREAM, 0);
    orig[1] = socket(AF_INET, SOCK_DGRAM, 0);
    orig[2] = socket(AF_UNIX, SOCK_DGRAM, 0);
    for (i = 0; i < MANY; i += 2) CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, orig + FEW + i) == 0);
    for (i = 0; i < FEW + MANY; i++) {
        CHECK(orig[i] >= 0 && fstat(orig[i], &sb) == 0);
        orig_ino[i] = sb.st_ino;
    }
    for (s = 0; s < NSTEPS; s++) expect += steps[s].kind == FDS_MANY ? 3 : 1;

    n_sd = run_sender("sd_send", rfd, addr, orig, got_sd);
    CHECK_INT(n_sd, ==, expect);
    n_gr = run_sender("gracefd_send", rfd, addr, orig, got_gracefd);
    CHECK_INT(n_gr, ==, expect);

    for (i = 0, s = 0; s < NSTEPS; s++) {
        int m, msgs = steps[s].kind == FDS_MANY ? 3 : 1;
        for (m = 0; m < msgs; m++, i++) {
            const struct rec *a = &got_sd[i], *b = &got_gracefd[i];
            int k;
            if (steps[s].kind == RELOAD_NOW) {
                /* Timestamps differ (libsystemd ran first); the shape must not. */
                long long ta = nh_number_after(a->data, steps[s].state), tb = nh_number_after(b->data, steps[s].state);
                if (ta < 0 || tb < 0 || ta > tb) {
                    show("libsystemd", a);
                    show("gracefd", b);
                }
                CHECK(ta >= 0 && tb >= 0 && ta <= tb);
                continue;
            }
            if (a->len != b->len || memcmp(a->data, b->data, (size_t)a->len) != 0 || a->nfds != b->nfds ||
                a->pipe_write_end != b->pipe_write_end) {
                harness_fail(__FILE__, __LINE__, "datagram %d (step \"%s\") differs:", i + 1, steps[s].state);
                show("libsystemd", a);
                show("gracefd", b);
                return;
            }
            CHECK_MSG(a->len == (ssize_t)strlen(steps[s].state) && memcmp(a->data, steps[s].state, (size_t)a->len) == 0,
                      "datagram %d is not \"%s\"", i + 1, steps[s].state);
            if (steps[s].kind == BARRIER) {
                CHECK(a->nfds == 1 && a->pipe_write_end);
                continue;
            }
            for (k = 0; k < a->nfds; k++) {
                ino_t want = steps[s].kind == FDS_FEW ? orig_ino[off_few + k] : orig_ino[off_many + k];
                CHECK_MSG(a->ino[k] == b->ino[k] && a->ino[k] == want, "datagram %d fd %d: inode %lu / %lu, sent %lu",
                          i + 1, k, (unsigned long)a->ino[k], (unsigned long)b->ino[k], (unsigned long)want);
            }
            if (steps[s].kind == FDS_FEW) CHECK_INT(a->nfds, ==, FEW);
            if (steps[s].kind == FDS_MANY) off_many += a->nfds;
            if (steps[s].kind != FDS_FEW && steps[s].kind != FDS_MANY) CHECK_INT(a->nfds, ==, 0);
        }
    }
    CHECK_INT(off_many, ==, FEW + MANY);
    CHECK(!nh_pending(rfd, 0));
    for (i = 0; i < FEW + MANY; i++) close(orig[i]);
    close(rfd);
}

TEST(interop_libsystemd_and_gracefd_send_equal_datagrams_over_a_path) { compare_over(0); }
TEST(interop_libsystemd_and_gracefd_send_equal_datagrams_over_an_abstract_socket) { compare_over(1); }

/* ---- the same return codes where there is nothing to send to ---- */

/* argv: expected errno (0 = success with nothing sent). */
ROLE(compare_codes) {
    int want = atoi(argv[1]);
    int a = sd_notify(0, "READY=1"), b = gracefd_notify("READY=1");
    (void)argc;
    if (a != b || (want == 0 ? a != 0 : a != -want))
        fprintf(stderr, "    sd_notify %d, gracefd_notify %d, expected %d\n", a, b, -want);
    RCHECK(a == b);
    RCHECK(want == 0 ? a == 0 : a == -want);
    a = sd_notify_barrier(0, 1000000);
    b = gracefd_notify_barrier(1000);
    if (a != b) fprintf(stderr, "    sd_notify_barrier %d, gracefd_notify_barrier %d\n", a, b);
    RCHECK(a == b);
    return 0;
}

static int codes_with(const char *notify_socket, int want) {
    char env[300], w[16];
    char *envp[2], *args[2];
    pid_t pid;
    snprintf(env, sizeof env, "NOTIFY_SOCKET=%s", notify_socket ? notify_socket : "");
    envp[0] = notify_socket ? env : NULL;
    envp[1] = NULL;
    snprintf(w, sizeof w, "%d", want);
    args[0] = w;
    args[1] = NULL;
    pid = nh_spawn("compare_codes", args, envp);
    if (pid <= 0) return -1;
    return nh_wait(pid, 20000);
}

TEST(interop_same_return_codes_when_unset_absent_or_relative) {
    char absent[300];
    snprintf(absent, sizeof absent, "%s/absent.sock", harness_tmpdir());
    CHECK_INT(codes_with(NULL, 0), ==, 0);
    CHECK_INT(codes_with(absent, ENOENT), ==, 0);
    CHECK_INT(codes_with("relative.sock", EINVAL), ==, 0);
}
