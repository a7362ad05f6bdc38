/* Hand-off between unrelated processes: gracefd_handoff_serve/process/take
 * and the low-level gracefd_send_fds/gracefd_recv_fds.
 *
 * The old side is this binary re-executed as ROLE(handoff_old): it makes N
 * fds (a TCP listener on 127.0.0.1, then unix sockets and memfds, each its own
 * inode), registers them, writes their (st_dev, st_ino) to a file, serves at
 * a path and runs a poll loop until a taker is ready, then checks it got
 * GRACEFD_EVENT_DRAIN. Takers are the test process itself or forked children
 * (never the old side's parent... the old side is theirs or their sibling's
 * child, started independently). Leaks are checked by scanning /proc/self/fd.
 *
 * The old side registers fds with gracefd_add_fd() and the taker
 * looks one up with gracefd_inherited() (what was taken counts as inherited). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gracefd.h"
#include "harness.h"

#define BIG 10000
#define FDCAP 70000

/* ---- helpers ------------------------------------------------------------ */

struct key {
    unsigned long long dev, ino;
};

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int cmp_key(const void *a, const void *b) {
    const struct key *x = a, *y = b;
    if (x->dev != y->dev) return x->dev < y->dev ? -1 : 1;
    if (x->ino != y->ino) return x->ino < y->ino ? -1 : 1;
    return 0;
}

static int key_of(int fd, struct key *k) {
    struct stat st;
    if (fstat(fd, &st) < 0) return -1;
    k->dev = (unsigned long long)st.st_dev;
    k->ino = (unsigned long long)st.st_ino;
    return 0;
}

/* Raise RLIMIT_NOFILE to n (the hard limit too: root with CAP_SYS_RESOURCE
 * may), or at least to the hard limit; returns the soft limit reached. */
static rlim_t raise_nofile(rlim_t n) {
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 0;
    if (r.rlim_cur >= n) return r.rlim_cur;
    struct rlimit want = {n, r.rlim_max < n ? n : r.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
        want.rlim_cur = r.rlim_max;
        want.rlim_max = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &want);
    }
    getrlimit(RLIMIT_NOFILE, &r);
    return r.rlim_cur;
}

/* The open fds of this process, sorted; returns how many (at most cap kept). */
static int list_fds(int *out, int cap) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd == dirfd(d)) continue;
        if (n < cap) out[n] = fd;
        n++;
    }
    closedir(d);
    qsort(out, (size_t)(n < cap ? n : cap), sizeof *out, cmp_int);
    return n;
}

static int snap_before[FDCAP], snap_after[FDCAP];

static int same_fds(const int *a, int na, const int *b, int nb) {
    return na == nb && memcmp(a, b, (size_t)na * sizeof *a) == 0;
}

/* Fds in `after` that are not in `before` (both sorted); returns how many. */
static int new_fds(const int *before, int nb, const int *after, int na, int *out) {
    int i = 0, j = 0, n = 0;
    while (j < na) {
        if (i < nb && before[i] == after[j]) { i++; j++; }
        else if (i < nb && before[i] < after[j]) i++;
        else out[n++] = after[j++];
    }
    return n;
}

/* n distinct-inode fds: fd 0 a TCP listener on 127.0.0.1 (its port in
 * *port), then alternately a unix datagram socket and a memfd. */
static int make_fds(int n, int *fds, int *port) {
    for (int i = 0; i < n; i++) {
        if (i == 0) {
            int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            struct sockaddr_in a;
            memset(&a, 0, sizeof a);
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            socklen_t al = sizeof a;
            if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 16) < 0 ||
                getsockname(l, (struct sockaddr *)&a, &al) < 0)
                return -1;
            *port = ntohs(a.sin_port);
            fds[i] = l;
        } else if (i % 2) {
            fds[i] = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        } else {
            fds[i] = memfd_create("handoff-test", MFD_CLOEXEC);
        }
        if (fds[i] < 0) return -1;
    }
    return 0;
}

static void on_log_file(void *user, int level, const char *msg) {
    FILE *f = user;
    fprintf(f, "<%d>%s\n", level, msg);
    fflush(f);
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return "";
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Re-execute this binary as a role; returns its pid. */
static pid_t spawn_role(const char *role, const char *a1, const char *a2, const char *a3, const char *a4,
                        const char *a5) {
    fflush(NULL);
    pid_t p = fork();
    if (p == 0) {
        execl(harness_self(), harness_self(), "--role", role, a1, a2, a3, a4, a5, (char *)NULL);
        _exit(127);
    }
    return p;
}

/* Exit status of pid within timeout_s (128+signal if killed); -1 if it had to
 * be killed for taking too long (it is reaped either way). */
static int wait_exit(pid_t pid, int timeout_s) {
    int st = 0;
    for (long waited_ms = 0;; waited_ms += 2) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) break;
        if (r < 0) return -2;
        if (waited_ms > timeout_s * 1000L) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int unix_addr(struct sockaddr_un *a, const char *path) {
    size_t n = strlen(path);
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (n >= sizeof a->sun_path) return -1;
    memcpy(a->sun_path, path, n + 1);
    return 0;
}

static int wait_path(const char *path, int timeout_ms) {
    struct stat st;
    for (int i = 0; i < timeout_ms / 2; i++) {
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) return 0;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

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

static int load_keys(const char *path, struct key *keys, int cap, int *port) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    if (fscanf(f, "port %d\n", port) != 1) { fclose(f); return -1; }
    while (n < cap && fscanf(f, "%llu %llu\n", &keys[n].dev, &keys[n].ino) == 2) n++;
    fclose(f);
    return n;
}

/* ---- the old side ------------------------------------------------------- */

/* The name of fd #i: "fd<i>", or padded with 'x' to 250 bytes. */
static void long_name(char *name, int i, int long_form) {
    int n = snprintf(name, 256, "fd%d-", i);
    if (long_form) {
        memset(name + n, 'x', (size_t)(250 - n));
        name[250] = 0;
    } else {
        name[n - 1] = 0;
    }
}

/* argv: path n keys_file log_file flags ("gone": the path must be removed at
 * the end; "kept": it must still exist (a taker took it over); "chmod": make
 * the socket 0666 so that any uid can connect, to test SO_PEERCRED alone;
 * "long": 250-byte names, so the header alone overflows the socket buffer). */
ROLE(handoff_old) {
    if (argc < 6) return 100;
    const char *path = argv[1], *keys = argv[3], *logp = argv[4], *flags = argv[5];
    int n = atoi(argv[2]);
    static int fds[FDCAP];
    raise_nofile(65536);
    FILE *lf = fopen(logp, "a");
    if (!lf) return 101;
    gracefd_set_log_hook(on_log_file, lf, GRACEFD_LOG_DEBUG);
    int port = 0;
    if (n > FDCAP / 2 || make_fds(n, fds, &port) < 0) return 102;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", keys);
    FILE *kf = fopen(tmp, "w");
    if (!kf) return 103;
    fprintf(kf, "port %d\n", port);
    for (int i = 0; i < n; i++) {
        struct key k;
        if (key_of(fds[i], &k) < 0) return 104;
        fprintf(kf, "%llu %llu\n", k.dev, k.ino);
    }
    if (fclose(kf) != 0 || rename(tmp, keys) != 0) return 105;
    for (int i = 0; i < n; i++) {
        char name[256];
        long_name(name, i, strstr(flags, "long") != NULL);
        if (gracefd_add_fd(name, fds[i]) < 0) return 106;
        close(fds[i]);
    }
    int ev = gracefd_event_fd();
    int hfd = gracefd_handoff_serve(path);
    if (ev < 0 || hfd < 0) {
        fprintf(stderr, "handoff_old: serve: %s\n", gracefd_last_error());
        return 107;
    }
    if (strstr(flags, "chmod") && chmod(path, 0666) < 0) return 108;
    for (;;) {
        struct pollfd p[2] = {{hfd, POLLIN, 0}, {ev, POLLIN, 0}};
        if (poll(p, 2, 40000) <= 0) return 109; /* bounded: the tests finish long before */
        int r = gracefd_handoff_process();
        if (r < 0) {
            fprintf(stderr, "handoff_old: process: %s\n", gracefd_last_error());
            return 110;
        }
        if (r == GRACEFD_HANDOFF_DONE) break;
    }
    struct pollfd pe = {ev, POLLIN, 0};
    if (poll(&pe, 1, 5000) != 1 || gracefd_event_next() != GRACEFD_EVENT_DRAIN) return 111;
    struct stat st;
    if (strstr(flags, "gone") && lstat(path, &st) == 0) return 112;
    if (strstr(flags, "kept") && lstat(path, &st) != 0) return 113;
    if (gracefd_handoff_process() != GRACEFD_HANDOFF_DONE) return 114;
    close(hfd);
    close(ev);
    return 0;
}

/* argv: path. Exit status: the errno gracefd_handoff_serve() failed with, or 0. */
ROLE(handoff_try_serve) {
    if (argc < 2) return 100;
    int r = gracefd_handoff_serve(argv[1]);
    if (r >= 0) gracefd_handoff_stop();
    return r < 0 ? -r : 0;
}

struct old {
    pid_t pid;
    char path[256], keys[256], log[256];
};

static int start_old(struct old *o, int n, const char *flags) {
    snprintf(o->path, sizeof o->path, "%s/h.sock", harness_tmpdir());
    snprintf(o->keys, sizeof o->keys, "%s/keys", harness_tmpdir());
    snprintf(o->log, sizeof o->log, "%s/old.log", harness_tmpdir());
    char num[16];
    snprintf(num, sizeof num, "%d", n);
    o->pid = spawn_role("handoff_old", o->path, num, o->keys, o->log, flags);
    return o->pid > 0 ? wait_path(o->path, 20000) : -1;
}

/* ---- serve / take ------------------------------------------------------- */

static struct key want_keys[FDCAP], got_keys[FDCAP];
static int fresh[FDCAP];

TEST(handoff_take_10000_fds_intact_then_old_drains) {
    /* The old side holds its registry and, while sending, a dup of every entry:
     * 2 x 10,000 fds. Where the hard limit cannot be raised (no
     * CAP_SYS_RESOURCE: a 20,000 hard limit in some sandboxes) the transfer
     * is scaled to fit and says so; handoff_send_recv_10000_fds_intact moves
     * 10,000 either way. */
    rlim_t lim = raise_nofile(65536);
    int big = BIG;
    if (lim < 2 * (rlim_t)BIG + 200) {
        big = (int)((lim - 200) / 2);
        fprintf(stderr, "    note: RLIMIT_NOFILE is capped at %llu here: handing over %d fds\n",
                (unsigned long long)lim, big);
    }
    struct old o;
    CHECK(start_old(&o, big, "gone") == 0);
    int port = 0;
    CHECK_INT(load_keys(o.keys, want_keys, FDCAP, &port), ==, big);
    int nb = list_fds(snap_before, FDCAP);
    int r = gracefd_handoff_take(o.path, 30000);
    CHECK_MSG(r == big, "take: %d %s", r, gracefd_last_error());
    int na = list_fds(snap_after, FDCAP);
    /* Exactly the taken fds plus the connection kept for ready: no dups, no leaks. */
    int nn = new_fds(snap_before, nb, snap_after, na, fresh);
    CHECK_INT(nn, ==, big + 1);
    for (int i = 0; i < nn; i++) {
        CHECK(fcntl(fresh[i], F_GETFD) & FD_CLOEXEC);
        CHECK(key_of(fresh[i], &got_keys[i]) == 0);
    }
    qsort(want_keys, (size_t)big, sizeof *want_keys, cmp_key);
    qsort(got_keys, (size_t)nn, sizeof *got_keys, cmp_key);
    int i = 0, j = 0, matched = 0;
    while (i < big && j < nn) {
        int c = cmp_key(&want_keys[i], &got_keys[j]);
        if (c == 0) { matched++; i++; j++; }
        else if (c < 0) i++;
        else j++;
    }
    CHECK_INT(matched, ==, big); /* every fd arrived as the very same socket or file */
    /* By name: fd0 is the TCP listener, and it still accepts. */
    int l = gracefd_inherited("fd0");
    CHECK(l >= 0);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(c, (struct sockaddr *)&a, sizeof a) == 0);
    int s = accept(l, NULL, NULL);
    CHECK(s >= 0);
    close(s);
    close(c);
    close(l);
    /* Ready tells the old side to drain: it sees GRACEFD_EVENT_DRAIN, removes the path and exits 0. */
    CHECK_INT(gracefd_ready(), ==, 1);
    CHECK_INT(wait_exit(o.pid, 20), ==, 0);
    struct stat st;
    CHECK(lstat(o.path, &st) < 0 && errno == ENOENT);
    char took[64];
    snprintf(took, sizeof took, "took %d fds and is ready", big);
    CHECK_STR_CONTAINS(read_file(o.log), took);
}

TEST(handoff_header_larger_than_the_socket_buffer) {
    /* 2,000 names of 250 bytes: a 500 KB header, more than a socket buffer, so
     * the old side's non-blocking sends stop and resume on POLLOUT. */
    struct old o;
    CHECK(start_old(&o, 2000, "gone,long") == 0);
    CHECK_INT(gracefd_handoff_take(o.path, 20000), ==, 2000);
    int port = 0;
    CHECK_INT(load_keys(o.keys, want_keys, FDCAP, &port), ==, 2000);
    for (int i = 0; i < 2000; i += 333) {
        char name[256];
        long_name(name, i, 1);
        int fd = gracefd_inherited(name);
        CHECK_MSG(fd >= 0, "%s", gracefd_last_error());
        struct key k;
        CHECK(key_of(fd, &k) == 0);
        CHECK_MSG(cmp_key(&k, &want_keys[i]) == 0, "fd named #%d is another file", i);
        close(fd);
    }
    CHECK_INT(gracefd_ready(), ==, 1);
    CHECK_INT(wait_exit(o.pid, 20), ==, 0);
}

TEST(handoff_other_uid_refused_by_peercred) {
    struct old o;
    CHECK(chmod(harness_tmpdir(), 0755) == 0);
    CHECK(start_old(&o, 3, "gone,chmod") == 0);
    /* The socket is 0666 for this test only, so the refusal below comes from the SO_PEERCRED check. */
    struct stat st;
    for (int i = 0; i < 1000 && (stat(o.path, &st) != 0 || (st.st_mode & 0777) != 0666); i++) usleep(2000);
    CHECK_INT(st.st_mode & 0777, ==, 0666);
    int pipefd[2];
    CHECK(pipe(pipefd) == 0);
    fflush(NULL);
    pid_t p = fork();
    if (p == 0) {
        close(pipefd[0]);
        gid_t g = 65534;
        if (setgroups(1, &g) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(90);
        int r = gracefd_handoff_take(o.path, 10000);
        dprintf(pipefd[1], "%d %s", r, gracefd_last_error());
        _exit(0);
    }
    close(pipefd[1]);
    char msg[512] = "";
    ssize_t n = read(pipefd[0], msg, sizeof msg - 1);
    close(pipefd[0]);
    CHECK_INT(wait_exit(p, 20), ==, 0);
    CHECK(n > 0);
    msg[n] = 0;
    CHECK_MSG(atoi(msg) == -EACCES, "nobody's take: %s", msg);
    CHECK_STR_CONTAINS(msg, "uid 65534 may not take");
    /* The old side logs the refusal just after sending it: wait for the line (bounded). */
    for (int i = 0; i < 5000 && !strstr(read_file(o.log), "refused pid"); i++) usleep(2000);
    CHECK_STR_CONTAINS(read_file(o.log), "refused pid");
    CHECK_STR_CONTAINS(read_file(o.log), "uid 65534 may not take");
    /* The old side still serves the right peer. */
    CHECK_INT(gracefd_handoff_take(o.path, 10000), ==, 3);
    CHECK_INT(gracefd_ready(), ==, 1);
    CHECK_INT(wait_exit(o.pid, 20), ==, 0);
}

TEST(handoff_socket_is_0600_stale_replaced_live_and_files_refused) {
    char path[256], file[256];
    snprintf(path, sizeof path, "%s/s.sock", harness_tmpdir());
    snprintf(file, sizeof file, "%s/plain", harness_tmpdir());
    /* A stale socket (nobody listens) is replaced. */
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    CHECK(unix_addr(&a, path) == 0);
    CHECK(bind(s, (struct sockaddr *)&a, sizeof a) == 0);
    close(s);
    mode_t old_mask = umask(0);
    int hfd = gracefd_handoff_serve(path);
    umask(old_mask);
    CHECK_MSG(hfd >= 0, "%s", gracefd_last_error());
    struct stat st;
    CHECK(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode));
    CHECK_INT(st.st_mode & 0777, ==, 0600);
    CHECK(fcntl(hfd, F_GETFD) & FD_CLOEXEC);
    CHECK_INT(gracefd_handoff_serve(path), ==, -EALREADY);
    CHECK_INT(gracefd_handoff_process(), ==, GRACEFD_HANDOFF_SERVING);
    /* Another process may not replace a live one. */
    pid_t p = spawn_role("handoff_try_serve", path, NULL, NULL, NULL, NULL);
    CHECK_INT(wait_exit(p, 20), ==, EADDRINUSE);
    /* The probe connection of that attempt is not a taker to worry about. */
    CHECK(gracefd_handoff_process() >= 0);
    /* Something that is not a socket is never replaced. */
    int f = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    CHECK(f >= 0 && write(f, "x", 1) == 1);
    close(f);
    p = spawn_role("handoff_try_serve", file, NULL, NULL, NULL, NULL);
    CHECK_INT(wait_exit(p, 20), ==, EEXIST);
    CHECK(lstat(file, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 1);
    /* Stop removes our path. */
    CHECK_INT(gracefd_handoff_stop(), ==, 1);
    CHECK(lstat(path, &st) < 0 && errno == ENOENT);
    CHECK_INT(gracefd_handoff_process(), ==, -ENOENT);
    CHECK_INT(gracefd_handoff_stop(), ==, 0);
    close(hfd);
    /* Nobody serving: a clear error. */
    CHECK_INT(gracefd_handoff_take(path, 1000), ==, -ENOENT);
    CHECK_STR_CONTAINS(gracefd_last_error(), "nobody serves there");
    CHECK_INT(gracefd_handoff_serve(NULL), ==, -EINVAL);
    CHECK_INT(gracefd_handoff_serve(""), ==, -EINVAL);
}

TEST(handoff_two_takers_racing_exactly_one_wins) {
    struct old o;
    CHECK(start_old(&o, 100, "gone") == 0);
    int gate[2];
    CHECK(pipe(gate) == 0);
    pid_t t[2];
    for (int i = 0; i < 2; i++) {
        fflush(NULL);
        t[i] = fork();
        if (t[i] == 0) {
            char b;
            close(gate[1]);
            if (read(gate[0], &b, 1) != 0) _exit(98); /* released by EOF: both at once */
            int r = gracefd_handoff_take(o.path, 20000);
            if (r == 100) _exit(gracefd_ready() == 1 ? 0 : 97);
            if (r == -EBUSY) _exit(2);
            if (r == -ENOENT || r == -ECONNREFUSED) _exit(3); /* came after it was over */
            fprintf(stderr, "taker: %d %s\n", r, gracefd_last_error());
            _exit(4);
        }
    }
    close(gate[0]);
    close(gate[1]);
    int s0 = wait_exit(t[0], 30), s1 = wait_exit(t[1], 30);
    CHECK_MSG((s0 == 0) != (s1 == 0), "exit statuses %d and %d", s0, s1);
    int loser = s0 == 0 ? s1 : s0;
    CHECK_MSG(loser == 2 || loser == 3, "loser exited %d", loser);
    CHECK_INT(wait_exit(o.pid, 20), ==, 0);
}

TEST(handoff_busy_taker_refuses_second_then_taker_death_frees_it) {
    struct old o;
    CHECK(start_old(&o, 10, "gone") == 0);
    /* Taker A takes and then holds on without calling ready. */
    int sync[2];
    CHECK(pipe(sync) == 0);
    fflush(NULL);
    pid_t a = fork();
    if (a == 0) {
        close(sync[0]);
        int r = gracefd_handoff_take(o.path, 10000);
        if (write(sync[1], &r, sizeof r) != (ssize_t)sizeof r) _exit(1);
        pause();
        _exit(0);
    }
    close(sync[1]);
    int ra = 0;
    CHECK(read(sync[0], &ra, sizeof ra) == (ssize_t)sizeof ra);
    close(sync[0]);
    CHECK_INT(ra, ==, 10);
    /* Meanwhile a second taker is refused, clearly. */
    int r = gracefd_handoff_take(o.path, 10000);
    CHECK_INT(r, ==, -EBUSY);
    CHECK_STR_CONTAINS(gracefd_last_error(), "in progress");
    /* A dies before it is ready: the old side keeps serving and serves the next one. */
    kill(a, SIGKILL);
    CHECK_INT(wait_exit(a, 20), ==, 128 + SIGKILL);
    r = -EBUSY;
    for (int i = 0; i < 2000 && r == -EBUSY; i++) {
        r = gracefd_handoff_take(o.path, 10000);
        if (r == -EBUSY) usleep(5000); /* until the old side has noticed */
    }
    CHECK_MSG(r == 10, "%d %s", r, gracefd_last_error());
    CHECK_INT(gracefd_handoff_take(o.path, 1000), ==, -EALREADY);
    CHECK_INT(gracefd_ready(), ==, 1);
    CHECK_INT(wait_exit(o.pid, 20), ==, 0);
    CHECK_STR_CONTAINS(read_file(o.log), "before it was ready); still serving");
}

TEST(handoff_new_side_takes_over_the_path_then_hands_off_again) {
    /* The supervisor flow: each new instance takes from PATH and serves at PATH. */
    struct old o;
    CHECK(start_old(&o, 5, "kept") == 0);
    CHECK_INT(gracefd_handoff_take(o.path, 10000), ==, 5);
    int hfd = gracefd_handoff_serve(o.path); /* before ready: takes the live path over */
    CHECK_MSG(hfd >= 0, "%s", gracefd_last_error());
    int ev = gracefd_event_fd();
    CHECK(ev >= 0);
    CHECK_INT(gracefd_ready(), ==, 1);
    CHECK_INT(wait_exit(o.pid, 20), ==, 0); /* it saw DRAIN and left our socket alone */
    /* A third instance takes from us. */
    fflush(NULL);
    pid_t c = fork();
    if (c == 0) {
        int r = gracefd_handoff_take(o.path, 10000);
        _exit(r == 5 && gracefd_ready() == 1 ? 0 : 1);
    }
    int done = 0;
    for (int i = 0; i < 1000 && !done; i++) {
        struct pollfd p = {hfd, POLLIN, 0};
        poll(&p, 1, 20);
        int r = gracefd_handoff_process();
        CHECK(r >= 0);
        done = r == GRACEFD_HANDOFF_DONE;
    }
    CHECK(done);
    CHECK_INT(gracefd_event_next(), ==, GRACEFD_EVENT_DRAIN);
    CHECK_INT(wait_exit(c, 20), ==, 0);
    struct stat st;
    CHECK(lstat(o.path, &st) < 0 && errno == ENOENT);
    close(hfd);
    close(ev);
}

/* argv: path pid_file. Serves hand-off at path, then upgrades itself (gracefd_upgrade)
 * into ROLE(handoff_upgraded), which serves at the same path: the new
 * generation takes the live path over from its parent. Exit 0 if the
 * upgrade worked and stopping here left the new generation's socket alone. */
ROLE(handoff_upgrader) {
    if (argc < 3) return 100;
    const char *path = argv[1];
    int hfd = gracefd_handoff_serve(path);
    if (hfd < 0) return 101;
    gracefd_upgrade_opts *o = gracefd_upgrade_opts_new();
    const char *av[4] = {harness_self(), "--role", "handoff_upgraded", path};
    if (!o || gracefd_upgrade_opts_set_argv(o, av, 4) < 0 || gracefd_upgrade_opts_set_timeout_ms(o, 20000) < 0) return 102;
    pid_t child = 0;
    int r = gracefd_upgrade(o, &child);
    gracefd_upgrade_opts_free(o);
    if (r < 0) {
        fprintf(stderr, "handoff_upgrader: %s\n", gracefd_last_error());
        return 103;
    }
    FILE *pf = fopen(argv[2], "w");
    if (!pf || fprintf(pf, "%d\n", (int)child) < 0 || fclose(pf) != 0) return 106;
    if (gracefd_handoff_stop() != 1) return 104;
    struct stat st;
    if (lstat(path, &st) != 0) return 105; /* the new generation's socket is still there */
    close(hfd);
    return 0;
}

/* The upgraded generation: serve at the same path (taking it over), report
 * ready, and serve until a taker is ready. */
ROLE(handoff_upgraded) {
    if (argc < 2) return 100;
    int hfd = gracefd_handoff_serve(argv[1]);
    if (hfd < 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "serve: %s", gracefd_last_error());
        gracefd_fail(1, msg);
        return 1;
    }
    gracefd_ready();
    for (int i = 0; i < 2000; i++) {
        struct pollfd p = {hfd, POLLIN, 0};
        poll(&p, 1, 20);
        int r = gracefd_handoff_process();
        if (r < 0) return 2;
        if (r == GRACEFD_HANDOFF_DONE) return 0;
    }
    return 3;
}

TEST(handoff_upgrade_child_takes_the_path_over_from_its_parent) {
    char path[256], pidf[256];
    snprintf(path, sizeof path, "%s/u.sock", harness_tmpdir());
    snprintf(pidf, sizeof pidf, "%s/child.pid", harness_tmpdir());
    /* The new generation is orphaned when the upgrader exits: adopt it, to reap it by pid. */
    CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    pid_t up = spawn_role("handoff_upgrader", path, pidf, NULL, NULL, NULL);
    CHECK_INT(wait_exit(up, 30), ==, 0);
    pid_t child = (pid_t)atoi(read_file(pidf));
    CHECK(child > 0);
    /* The new generation serves at path: take from it (it has no fds), then it drains. */
    CHECK_INT(gracefd_handoff_take(path, 10000), ==, 0);
    CHECK_INT(gracefd_ready(), ==, 1);
    CHECK_INT(wait_exit(child, 20), ==, 0);
    struct stat st;
    CHECK(lstat(path, &st) != 0);
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

/* ---- low level: gracefd_send_fds / gracefd_recv_fds --------------------- */

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
