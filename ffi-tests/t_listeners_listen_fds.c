/* Listening sockets and the registry of named fds: the probe role,
 * and systemd's LISTEN_FDS environments (Server::Starter's:
 * t_listeners_server_starter.c; in this process: t_listeners_in_process.c).
 *
 * Hostile environments are tested by re-executing this binary as the role
 * "probe" with a crafted envp and crafted fds at 3.. (and sometimes 0): the
 * library reads them in its start-up constructor, exactly as in a real
 * program. The probe runs the commands it is given and prints one line per
 * result, which the test then checks. */
#define _GNU_SOURCE
#include "listeners_helpers.h"

/* ---- the probe role ----------------------------------------------------- */

static void print_log(void *user, int level, const char *msg) {
    (void)user;
    printf("log %d: %s\n", level, msg);
}

static void print_fd(const char *what, const char *name, int fd) {
    int type = 0, acc = 0;
    socklen_t len = sizeof type;
    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
    len = sizeof acc;
    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len);
    printf("%s %s ok ino=%lu type=%d acc=%d nb=%d cloexec=%d port=%d\n", what, name, inode_of(fd), type, acc,
           (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0, (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0, port_of(fd));
}

static void print_err(const char *what, const char *name, int r) {
    printf("%s %s err %s: %s\n", what, name, gracefd_strerror(r), gracefd_last_error());
}

static void scan_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (!d) return;
    while ((e = readdir(d)) != NULL) {
        int fd;
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        fd = atoi(e->d_name);
        if (fd == dirfd(d) || fd < 3) continue;
        n++;
        if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC)) printf("leak %d\n", fd);
    }
    closedir(d);
    printf("open %d\n", n);
}

/* Whether this kernel gives pidfds an inode of their own (pidfs, Linux 6.9+):
 * only then can a process tell its LISTEN_PIDFDID. */
static int kernel_has_pidfs(void) {
    struct statfs sfs;
    int pfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    int yes = pfd >= 0 && fstatfs(pfd, &sfs) == 0 && (unsigned long)sfs.f_type == 0x50494446UL;
    if (pfd >= 0) close(pfd);
    return yes;
}

ROLE(probe) {
    int i;
    gracefd_set_log_hook(print_log, NULL, GRACEFD_LOG_DEBUG);
    for (i = 1; i < argc; i++) {
        char cmd[512];
        char *arg;
        snprintf(cmd, sizeof cmd, "%s", argv[i]);
        arg = strchr(cmd, ':');
        if (arg) *arg++ = 0;
        if (strcmp(cmd, "count") == 0) {
            printf("count %d\n", gracefd_inherited_count());
        } else if (strcmp(cmd, "pidfs") == 0) {
            printf("pidfs %d\n", kernel_has_pidfs());
        } else if (strcmp(cmd, "list") == 0) {
            int n = gracefd_inherited_count(), k;
            for (k = 0; k < n; k++) {
                char name[GRACEFD_NAME_MAX + 1];
                int kind = -1, claimed = -1;
                int r = gracefd_inherited_at((size_t)k, name, sizeof name, &kind, &claimed, NULL);
                if (r < 0) print_err("entry", "?", r);
                else printf("entry %d %s kind=%d claimed=%d\n", k, name, kind, claimed);
            }
        } else if (strcmp(cmd, "inherited") == 0 && arg) {
            int r = gracefd_inherited(arg);
            if (r < 0) print_err("inherited", arg, r);
            else print_fd("inherited", arg, r);
        } else if (strcmp(cmd, "listen") == 0 && arg) {
            /* listen:NAME:ADDRESS, NAME "-" for NULL */
            char *addr = strchr(arg, ':');
            int r;
            if (!addr) return 2;
            *addr++ = 0;
            r = gracefd_listen(strcmp(arg, "-") == 0 ? NULL : arg, addr);
            if (r < 0) print_err("listen", arg, r);
            else print_fd("listen", arg, r);
        } else if (strcmp(cmd, "fresh") == 0) {
            int r = gracefd_listen(NULL, "127.0.0.1:0");
            if (r < 0) print_err("fresh", "-", r);
            else printf("fresh ok\n");
            if (r >= 0) close(r);
        } else if (strcmp(cmd, "flags") == 0 && arg) {
            int fd = atoi(arg);
            int fl = fcntl(fd, F_GETFD);
            if (fl < 0) printf("flags %d closed\n", fd);
            else printf("flags %d cloexec=%d ino=%lu\n", fd, (fl & FD_CLOEXEC) != 0, inode_of(fd));
        } else if (strcmp(cmd, "forget") == 0 && arg) {
            int r = gracefd_forget(arg);
            if (r < 0) print_err("forget", arg, r);
            else printf("forget %s %d\n", arg, r);
        } else if (strcmp(cmd, "close_unclaimed") == 0) {
            printf("closed %d\n", gracefd_close_unclaimed());
        } else if (strcmp(cmd, "leaks") == 0) {
            scan_fds();
        } else {
            printf("unknown command %s\n", argv[i]);
            return 2;
        }
    }
    fflush(stdout);
    return 0;
}

/* ---- hostile environments ----------------------------------------------- */

TEST(listen_fds_hostile_values_inherit_nothing_and_touch_nothing) {
    static const char *const values[] = {"-1", "abc", "2x", " 1", "1 ", "+1", "", "99999999999", "2147483647"};
    int port, fd = inet_socket(SOCK_STREAM, &port);
    size_t i;
    CHECK(fd >= 0);
    for (i = 0; i < sizeof values / sizeof values[0]; i++) {
        char out[OUT_LEN], var[64];
        const char *env[] = {"LISTEN_PID=$", var, "LISTEN_FDNAMES=web", NULL};
        const char *cmds[] = {"count", "flags:3", "inherited:web", "fresh", NULL};
        int fds[1];
        fds[0] = fd;
        snprintf(var, sizeof var, "LISTEN_FDS=%s", values[i]);
        CHECK_INT(run_probe(env, fds, 1, -1, out, sizeof out, cmds), ==, 0);
        CHECK_MSG(strstr(out, "count 0\n") != NULL, "%s: %s", var, out);
        /* Rejected as a whole: fd 3 left exactly as it was (open, not CLOEXEC). */
        CHECK_MSG(strstr(out, "flags 3 cloexec=0") != NULL, "%s: %s", var, out);
        CHECK_MSG(strstr(out, "log 4: gracefd") && strstr(out, "LISTEN_FDS="), "%s: no warning: %s", var, out);
        CHECK_MSG(strstr(out, "inherited web err") && strstr(out, "(ENOENT)"), "%s: %s", var, out);
        CHECK_MSG(strstr(out, "no fd inherited from LISTEN_FDS"), "%s: the ENOENT says why: %s", var, out);
        CHECK_MSG(strstr(out, "fresh ok") != NULL, "%s: %s", var, out);
    }
    close(fd);
}

TEST(listen_fds_zero_is_nothing) {
    char out[OUT_LEN];
    const char *env[] = {"LISTEN_PID=$", "LISTEN_FDS=0", NULL};
    const char *cmds[] = {"count", "fresh", "leaks", NULL};
    int fds[1] = {CLOSED_SLOT};
    CHECK_INT(run_probe(env, fds, 1, -1, out, sizeof out, cmds), ==, 0);
    CHECK_STR_CONTAINS(out, "count 0\n");
    CHECK(strstr(out, "log 4") == NULL);
    CHECK_STR_CONTAINS(out, "fresh ok");
    CHECK(strstr(out, "leak ") == NULL);
}

TEST(listen_pid_of_another_process_is_not_for_us) {
    char out[OUT_LEN], listen_cmd[64];
    int port, fd = inet_socket(SOCK_STREAM, &port);
    const char *env[] = {"LISTEN_PID=1", "LISTEN_FDS=1", "LISTEN_FDNAMES=web", NULL};
    const char *cmds[] = {"count", "flags:3", listen_cmd, "fresh", NULL};
    int fds[1];
    CHECK(fd >= 0);
    fds[0] = fd;
    snprintf(listen_cmd, sizeof listen_cmd, "listen:web:127.0.0.1:%d", port);
    CHECK_INT(run_probe(env, fds, 1, -1, out, sizeof out, cmds), ==, 0);
    CHECK_STR_CONTAINS(out, "count 0\n");
    CHECK_STR_CONTAINS(out, "flags 3 cloexec=0");
    CHECK_STR_CONTAINS(out, "LISTEN_PID=1 is not this process");
    /* Not ours, so gracefd binds afresh: the port is taken by that very socket. */
    CHECK_STR_CONTAINS(out, "listen web err");
    CHECK_STR_CONTAINS(out, "(EADDRINUSE)");
    CHECK_STR_CONTAINS(out, "fresh ok");
    close(fd);
}

/* LISTEN_PIDFDID (systemd 258+) rules out a reused pid.
 * Our own id: inherited; another process's: "not for us", exactly like a
 * LISTEN_PID of another process; malformed: nothing inherited. Where the
 * kernel cannot tell a process's pidfd id (before pidfs), LISTEN_PID alone
 * decides. The probe says whether it can tell; this process must be able to
 * as well to write the probe's own id ("$"; not under valgrind, which has no
 * pidfd_open, while the probe it re-executes runs natively). */
TEST(listen_pidfdid_rules_out_a_reused_pid) {
    char out[OUT_LEN];
    int port, fd = inet_socket(SOCK_STREAM, &port);
    int fds[1];
    const char *cmds[] = {"count", NULL};
    const char *ask[] = {"pidfs", NULL};
    const char *none[] = {NULL};
    CHECK(fd >= 0);
    fds[0] = fd;
    CHECK_INT(run_probe(none, NULL, 0, -1, out, sizeof out, ask), ==, 0);
    int probe_tells = strstr(out, "pidfs 1\n") != NULL;
    const char *other[] = {"LISTEN_PID=$", "LISTEN_FDS=1", "LISTEN_FDNAMES=web", "LISTEN_PIDFDID=12345", NULL};
    CHECK_INT(run_probe(other, fds, 1, -1, out, sizeof out, cmds), ==, 0);
    if (probe_tells) {
        CHECK_STR_CONTAINS(out, "count 0\n");
        CHECK_STR_CONTAINS(out, "LISTEN_PIDFDID=12345 is not this process");
        CHECK_STR_CONTAINS(out, "its pid was reused");
    } else {
        CHECK_STR_CONTAINS(out, "count 1\n");
        CHECK_STR_CONTAINS(out, "cannot tell our pidfd id");
    }
    if (probe_tells && kernel_has_pidfs()) {
        const char *mine[] = {"LISTEN_PID=$", "LISTEN_FDS=1", "LISTEN_FDNAMES=web", "LISTEN_PIDFDID=$", NULL};
        CHECK_INT(run_probe(mine, fds, 1, -1, out, sizeof out, cmds), ==, 0);
        CHECK_STR_CONTAINS(out, "count 1\n");
        const char *next[] = {"LISTEN_PID=$", "LISTEN_FDS=1", "LISTEN_FDNAMES=web", "LISTEN_PIDFDID=$+1", NULL};
        CHECK_INT(run_probe(next, fds, 1, -1, out, sizeof out, cmds), ==, 0);
        CHECK_STR_CONTAINS(out, "count 0\n");
    }
    const char *bad[] = {"LISTEN_PID=$", "LISTEN_FDS=1", "LISTEN_FDNAMES=web", "LISTEN_PIDFDID=12x", NULL};
    CHECK_INT(run_probe(bad, fds, 1, -1, out, sizeof out, cmds), ==, 0);
    CHECK_STR_CONTAINS(out, "count 0\n");
    CHECK_STR_CONTAINS(out, "LISTEN_PIDFDID=\"12x\": not a pidfd id");
    close(fd);
}

TEST(fewer_names_than_fds_become_unknown) {
    char out[OUT_LEN], listen_cmd[64], want[64];
    int p1, p2, a = inet_socket(SOCK_STREAM, &p1), b = inet_socket(SOCK_STREAM, &p2);
    const char *env[] = {"LISTEN_PID=$", "LISTEN_FDS=2", "LISTEN_FDNAMES=a", NULL};
    const char *cmds[] = {"list", listen_cmd, "list", NULL};
    int fds[2];
    fds[0] = a;
    fds[1] = b;
    snprintf(listen_cmd, sizeof listen_cmd, "listen:b:127.0.0.1:%d", p2);
    CHECK_INT(run_probe(env, fds, 2, -1, out, sizeof out, cmds), ==, 0);
    CHECK_STR_CONTAINS(out, "entry 0 a kind=1 claimed=0");
    CHECK_STR_CONTAINS(out, "entry 1 unknown kind=1 claimed=0");
    CHECK_STR_CONTAINS(out, "fewer fds than LISTEN_FDS=2");
    /* The unnamed one is found by its address, and takes the name. */
    snprintf(want, sizeof want, "listen b ok ino=%lu", inode_of(b));
    CHECK_STR_CONTAINS(out, want);
    CHECK_STR_CONTAINS(out, "entry 1 b kind=1 claimed=1");
    close(a);
    close(b);
}

TEST(more_names_than_fds_is_rejected) {
    char out[OUT_LEN];
    int fd = inet_socket(SOCK_STREAM, NULL);
    const char *env[] = {"LISTEN_PID=$", "LISTEN_FDS=1", "LISTEN_FDNAMES=a:b", NULL};
    const char *cmds[] = {"count", "flags:3", "inherited:a", "fresh", NULL};
    int fds[1];
    fds[0] = fd;
    CHECK_INT(run_probe(env, fds, 1, -1, out, sizeof out, cmds), ==, 0);
    CHECK_STR_CONTAINS(out, "count 0\n");
    CHECK_STR_CONTAINS(out, "flags 3 cloexec=0");
    CHECK_STR_CONTAINS(out, "LISTEN_FDNAMES names 2 fds but LISTEN_FDS=1");
    CHECK_STR_CONTAINS(out, "inherited a err");
    CHECK_STR_CONTAINS(out, "fresh ok");
    close(fd);
}

TEST(announced_fds_closed_file_udp_are_handled) {
    char out[OUT_LEN], path[512], want[128];
    int file, udp, tcp;
    const char *env[] = {"LISTEN_PID=$", "LISTEN_FDS=4", "LISTEN_FDNAMES=gone:state:web:api", NULL};
    const char *cmds[] = {"list",
                          "listen:web:127.0.0.1:0",
                          "listen:state:127.0.0.1:0",
                          "inherited:state",
                          "inherited:gone",
                          "listen:api:udp://127.0.0.1:0",
                          "forget:web",
                          "listen:web:127.0.0.1:0",
                          "fresh",
                          NULL};
    int fds[4];
    snprintf(path, sizeof path, "%s/state", harness_tmpdir());
    file = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    udp = inet_socket(SOCK_DGRAM, NULL);
    tcp = inet_socket(SOCK_STREAM, NULL);
    CHECK(file >= 0 && udp >= 0 && tcp >= 0);
    fds[0] = CLOSED_SLOT;
    fds[1] = file;
    fds[2] = udp;
    fds[3] = tcp;
    CHECK_INT(run_probe(env, fds, 4, -1, out, sizeof out, cmds), ==, 0);
    /* fd 3 closed: rejected with a warning naming the variable and the fd. */
    CHECK_STR_CONTAINS(out, "LISTEN_FDS: fd 3 \"gone\" rejected: it is not open");
    CHECK_STR_CONTAINS(out, "entry 0 state kind=5 claimed=0");
    CHECK_STR_CONTAINS(out, "entry 1 web kind=3 claimed=0");
    CHECK_STR_CONTAINS(out, "entry 2 api kind=1 claimed=0");
    /* A UDP socket where a TCP listener is asked: refused, never the wrong socket. */
    CHECK_STR_CONTAINS(out, "listen web err protocol wrong type for socket (EPROTOTYPE): fd 5 \"web\" (LISTEN_FDS) is a UDP socket");
    CHECK_STR_CONTAINS(out, "listen state err socket operation on non-socket (ENOTSOCK): fd 4 \"state\" (LISTEN_FDS) is not a socket");
    snprintf(want, sizeof want, "inherited state ok ino=%lu", inode_of(file));
    CHECK_STR_CONTAINS(out, want);
    CHECK_STR_CONTAINS(out, "inherited gone err no such file or directory (ENOENT): no inherited fd named \"gone\"; LISTEN_FDS fd 3 was rejected: it is not open");
    CHECK_STR_CONTAINS(out, "listen api err protocol wrong type for socket (EPROTOTYPE): fd 6 \"api\" (LISTEN_FDS) is a listening TCP socket");
    /* After forgetting the name, the program binds afresh. */
    CHECK_STR_CONTAINS(out, "forget web 1");
    CHECK_STR_CONTAINS(out, "listen web ok");
    CHECK_STR_CONTAINS(out, "fresh ok");
    close(file);
    close(udp);
    close(tcp);
}

TEST(inherited_mode_is_untouched_and_nothing_leaks) {
    char out[OUT_LEN];
    int blocking = inet_socket(SOCK_STREAM, NULL), nonblocking = inet_socket(SOCK_STREAM, NULL);
    const char *env[] = {"LISTEN_PID=$", "LISTEN_FDS=2", "LISTEN_FDNAMES=blk:nb", NULL};
    const char *cmds[] = {"leaks", "flags:3", "flags:4", "listen:blk:127.0.0.1:0", "inherited:nb", "leaks",
                          "close_unclaimed", "list", NULL};
    int fds[2];
    CHECK(blocking >= 0 && nonblocking >= 0);
    CHECK(fcntl(nonblocking, F_SETFL, fcntl(nonblocking, F_GETFL) | O_NONBLOCK) == 0);
    fds[0] = blocking;
    fds[1] = nonblocking;
    CHECK_INT(run_probe(env, fds, 2, -1, out, sizeof out, cmds), ==, 0);
    /* At start-up, before main: inherited fds are CLOEXEC; nothing else leaks. */
    CHECK_STR_CONTAINS(out, "flags 3 cloexec=1");
    CHECK_STR_CONTAINS(out, "flags 4 cloexec=1");
    CHECK(strstr(out, "leak ") == NULL);
    CHECK_STR_CONTAINS(out, "open 2\n");
    CHECK_STR_CONTAINS(out, "listen blk ok");
    CHECK_STR_CONTAINS(out, "nb=0 cloexec=1");
    CHECK_STR_CONTAINS(out, "inherited nb ok");
    CHECK_STR_CONTAINS(out, "nb=1 cloexec=1");
    /* (The name decides: asked for 127.0.0.1:0, the inherited socket was used, with a notice.) */
    CHECK_STR_CONTAINS(out, "an inherited name decides the address");
    CHECK_STR_CONTAINS(out, "open 4\n");
    CHECK_STR_CONTAINS(out, "closed 0\n");
    close(blocking);
    close(nonblocking);
}

TEST(close_unclaimed_closes_only_unclaimed) {
    char out[OUT_LEN];
    int a = inet_socket(SOCK_STREAM, NULL), b = inet_socket(SOCK_STREAM, NULL), c = inet_socket(SOCK_DGRAM, NULL);
    const char *env[] = {"LISTEN_PID=$", "LISTEN_FDS=3", "LISTEN_FDNAMES=a:b:c", NULL};
    const char *cmds[] = {"inherited:b", "close_unclaimed", "flags:3", "flags:4", "flags:5", "list", "leaks", NULL};
    int fds[3];
    fds[0] = a;
    fds[1] = b;
    fds[2] = c;
    CHECK_INT(run_probe(env, fds, 3, -1, out, sizeof out, cmds), ==, 0);
    CHECK_STR_CONTAINS(out, "closed 2\n");
    CHECK_STR_CONTAINS(out, "flags 3 closed");
    CHECK_STR_CONTAINS(out, "flags 4 cloexec=1");
    CHECK_STR_CONTAINS(out, "flags 5 closed");
    CHECK_STR_CONTAINS(out, "entry 0 b kind=1 claimed=1");
    CHECK(strstr(out, "entry 1") == NULL);
    CHECK_STR_CONTAINS(out, "closing unclaimed inherited fd 3 \"a\" (LISTEN_FDS)");
    CHECK(strstr(out, "leak ") == NULL);
    close(a);
    close(b);
    close(c);
}
