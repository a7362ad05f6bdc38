/* sd_notify: a receiver standing in for systemd checks what the library
 * sends, byte for byte. The library reads NOTIFY_SOCKET once, at load time,
 * so every test re-executes this binary as a role with a crafted envp. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "gracefd.h"
#include "harness.h"
#include "notify_helpers.h"

/* The role process of the running test; killed and reaped on any failure. */
static pid_t child = -1;

static void reap_child(void) {
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        child = -1;
    }
}

/* The role's exit code (bounded wait; -1 if it had to be killed). */
static int finish(void) {
    int code = nh_wait(child, 20000);
    child = -1;
    return code;
}

#define CHECKC(cond)                                                            \
    do {                                                                        \
        if (!(cond)) {                                                          \
            harness_fail(__FILE__, __LINE__, "%s", #cond);                      \
            reap_child();                                                       \
            return;                                                             \
        }                                                                       \
    } while (0)

#define CHECKC_MSG(cond, ...)                                                   \
    do {                                                                        \
        if (!(cond)) {                                                          \
            harness_fail(__FILE__, __LINE__, __VA_ARGS__);                      \
            reap_child();                                                       \
            return;                                                             \
        }                                                                       \
    } while (0)

/* The last datagram received and its fds. */
static char got[8192];
static int got_fds[NH_MAX_FDS_PER_MSG];
static int ngot;
static ssize_t got_len;

static ssize_t recv1(int rfd) {
    got_len = nh_recv(rfd, got, sizeof got, got_fds, NH_MAX_FDS_PER_MSG, &ngot, 10000);
    return got_len;
}

static void close_got(void) {
    int i;
    for (i = 0; i < ngot; i++) close(got_fds[i]);
    ngot = 0;
}

/* Receive one datagram and require exactly `want` with `nfds` fds. */
#define EXPECT_MSG(rfd, want, nfds)                                             \
    do {                                                                        \
        const char *want_ = (want);                                             \
        recv1(rfd);                                                             \
        CHECKC_MSG(got_len == (ssize_t)strlen(want_) && memcmp(got, want_, strlen(want_)) == 0, \
                   "received \"%s\" (%zd bytes), expected \"%s\"",             \
                   got_len >= 0 ? got : "(nothing)", got_len, want_);          \
        CHECKC_MSG(ngot == (nfds), "\"%s\" came with %d fds, expected %d", want_, ngot, (nfds)); \
    } while (0)

static void notify_env(char *buf, size_t cap, const char *addr) {
    snprintf(buf, cap, "NOTIFY_SOCKET=%s", addr);
}

/* ---- every state, byte for byte, over a path and an abstract socket ---- */

static const char *const expected_states[] = {
    "READY=1",
    "STATUS=serving 3 clients",
    "STATUS=a=b c\nWATCHDOG=1\n",
    "EXTEND_TIMEOUT_USEC=5000000",
    "STATUS=",
    "STOPPING=1",
};

ROLE(notify_states) {
    int before = nh_count_fds();
    (void)argc;
    (void)argv;
    RCHECK(gracefd_notify("READY=1") == 1);
    RCHECK(gracefd_notify_status("serving 3 clients") == 1);
    RCHECK(gracefd_notify("STATUS=a=b c\nWATCHDOG=1\n") == 1);
    RCHECK(gracefd_notify("EXTEND_TIMEOUT_USEC=5000000") == 1);
    RCHECK(gracefd_notify_status("") == 1);
    RCHECK(gracefd_notify_stopping() == 1);
    /* Each call's socket is closed again: nothing leaks. */
    RCHECK(nh_count_fds() == before);
    return 0;
}

static void states_over(int abstract_ns) {
    char addr[200], env[256];
    size_t i;
    int rfd = nh_receiver(abstract_ns, "notify.sock", addr, sizeof addr);
    CHECK(rfd >= 0);
    notify_env(env, sizeof env, addr);
    {
        char *envp[] = {env, NULL};
        child = nh_spawn("notify_states", NULL, envp);
    }
    CHECK(child > 0);
    for (i = 0; i < sizeof expected_states / sizeof expected_states[0]; i++)
        EXPECT_MSG(rfd, expected_states[i], 0);
    CHECK_INT(finish(), ==, 0);
    CHECK(!nh_pending(rfd, 0));
    close(rfd);
}

TEST(notify_path_socket_gets_each_state_byte_for_byte) { states_over(0); }
TEST(notify_abstract_socket_gets_each_state_byte_for_byte) { states_over(1); }

/* ---- RELOADING always carries MONOTONIC_USEC ---- */

ROLE(notify_reloading) {
    (void)argc;
    (void)argv;
    RCHECK(gracefd_notify_reloading() == 1);
    RCHECK(gracefd_notify("RELOADING=1") == 1);
    RCHECK(gracefd_notify("RELOADING=1\nSTATUS=reloading config\n") == 1);
    RCHECK(gracefd_notify("RELOADING=1\nMONOTONIC_USEC=42") == 1);
    return 0;
}

TEST(notify_reloading_always_carries_monotonic_usec) {
    static const char *const prefixes[] = {
        "RELOADING=1\nMONOTONIC_USEC=",
        "RELOADING=1\nMONOTONIC_USEC=",
        "RELOADING=1\nSTATUS=reloading config\nMONOTONIC_USEC=",
    };
    char addr[200], env[256];
    long long stamps[3];
    uint64_t t0, t1;
    int i;
    int rfd = nh_receiver(1, "reload", addr, sizeof addr);
    CHECK(rfd >= 0);
    notify_env(env, sizeof env, addr);
    t0 = nh_now_us();
    {
        char *envp[] = {env, NULL};
        child = nh_spawn("notify_reloading", NULL, envp);
    }
    CHECK(child > 0);
    for (i = 0; i < 3; i++) {
        recv1(rfd);
        CHECKC_MSG(got_len > 0, "message %d missing", i + 1);
        stamps[i] = nh_number_after(got, prefixes[i]);
        CHECKC_MSG(stamps[i] >= 0, "\"%s\" is not \"%s<digits>\"", got, prefixes[i]);
    }
    /* Given explicitly: sent as is, not doubled. */
    EXPECT_MSG(rfd, "RELOADING=1\nMONOTONIC_USEC=42", 0);
    t1 = nh_now_us();
    CHECK_INT(finish(), ==, 0);
    /* CLOCK_MONOTONIC is system-wide: the stamps lie between our readings. */
    for (i = 0; i < 3; i++) {
        CHECK_INT(stamps[i], >=, (long long)t0);
        CHECK_INT(stamps[i], <=, (long long)t1);
    }
    CHECK_INT(stamps[0], <=, stamps[1]);
    CHECK_INT(stamps[1], <=, stamps[2]);
    close(rfd);
}

/* ---- FDSTORE: the very same sockets arrive, split at 253 ---- */

/* argv: state, expected message count, fd numbers... */
ROLE(notify_fdstore) {
    static int fds[1000];
    int n = 0, i, before, r;
    RCHECK(argc >= 3);
    for (i = 3; i < argc && n < 1000; i++) fds[n++] = atoi(argv[i]);
    before = nh_count_fds();
    r = gracefd_notify_with_fds(argv[1], fds, (size_t)n);
    RCHECK(r == atoi(argv[2]));
    RCHECK(nh_count_fds() == before);
    return 0;
}

static int listener(int family, int type, const char *unix_path) {
    int fd = socket(family, type, 0); /* no CLOEXEC: the role inherits it */
    if (fd < 0) return -1;
    if (family == AF_INET) {
        struct sockaddr_in sin;
        memset(&sin, 0, sizeof sin);
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0) return -1;
    } else {
        struct sockaddr_un sun;
        socklen_t len;
        memset(&sun, 0, sizeof sun);
        sun.sun_family = AF_UNIX;
        if (unix_path[0] == '@') {
            memcpy(sun.sun_path + 1, unix_path + 1, strlen(unix_path) - 1);
            len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(unix_path));
        } else {
            snprintf(sun.sun_path, sizeof sun.sun_path, "%s", unix_path);
            len = (socklen_t)sizeof sun;
        }
        if (bind(fd, (struct sockaddr *)&sun, len) < 0) return -1;
    }
    if (type == SOCK_STREAM && listen(fd, 16) < 0) return -1;
    return fd;
}

TEST(notify_fdstore_delivers_the_same_sockets) {
    char addr[200], env[256], path[300], abs_name[100], nums[4][16];
    char *args[8];
    int orig[4], i;
    int rfd = nh_receiver(0, "notify.sock", addr, sizeof addr);
    CHECK(rfd >= 0);
    snprintf(path, sizeof path, "%s/listen.sock", harness_tmpdir());
    snprintf(abs_name, sizeof abs_name, "@gracefd-test-%ld-store", (long)getpid());
    orig[0] = listener(AF_INET, SOCK_STREAM, NULL);
    orig[1] = listener(AF_INET, SOCK_DGRAM, NULL);
    orig[2] = listener(AF_UNIX, SOCK_STREAM, path);
    orig[3] = listener(AF_UNIX, SOCK_DGRAM, abs_name);
    for (i = 0; i < 4; i++) CHECK(orig[i] >= 0);
    args[0] = (char *)"FDSTORE=1\nFDNAME=web";
    args[1] = (char *)"1";
    for (i = 0; i < 4; i++) {
        snprintf(nums[i], sizeof nums[i], "%d", orig[i]);
        args[2 + i] = nums[i];
    }
    args[6] = NULL;
    notify_env(env, sizeof env, addr);
    {
        char *envp[] = {env, NULL};
        child = nh_spawn("notify_fdstore", args, envp);
    }
    CHECK(child > 0);
    EXPECT_MSG(rfd, "FDSTORE=1\nFDNAME=web", 4);
    for (i = 0; i < 4; i++)
        CHECKC_MSG(nh_same_socket(orig[i], got_fds[i]), "fd %d arrived as a different socket", i);
    close_got();
    CHECK_INT(finish(), ==, 0);
    CHECK(!nh_pending(rfd, 0));
    for (i = 0; i < 4; i++) close(orig[i]);
    close(rfd);
}

TEST(notify_600_fds_arrive_in_three_messages_each_with_the_state) {
    enum { N = 600 };
    static int orig[N];
    static char nums[N][16];
    static char *args[N + 3];
    static const int per_msg[3] = {253, 253, 94};
    char addr[200], env[256];
    int i, m, off = 0;
    int rfd = nh_receiver(1, "many", addr, sizeof addr);
    CHECK(rfd >= 0);
    for (i = 0; i < N; i += 2) CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, orig + i) == 0);
    args[0] = (char *)"FDSTORE=1\nFDNAME=many";
    args[1] = (char *)"3";
    for (i = 0; i < N; i++) {
        snprintf(nums[i], sizeof nums[i], "%d", orig[i]);
        args[2 + i] = nums[i];
    }
    args[N + 2] = NULL;
    notify_env(env, sizeof env, addr);
    {
        char *envp[] = {env, NULL};
        child = nh_spawn("notify_fdstore", args, envp);
    }
    CHECK(child > 0);
    for (m = 0; m < 3; m++) {
        EXPECT_MSG(rfd, "FDSTORE=1\nFDNAME=many", per_msg[m]);
        for (i = 0; i < ngot; i++)
            CHECKC_MSG(nh_same_socket(orig[off + i], got_fds[i]), "message %d fd %d is not fd %d", m + 1, i, off + i);
        off += ngot;
        close_got();
    }
    CHECK_INT(off, ==, N);
    CHECK_INT(finish(), ==, 0);
    CHECK(!nh_pending(rfd, 0));
    for (i = 0; i < N; i++) close(orig[i]);
    close(rfd);
}

/* ---- barrier ---- */

/* argv: report fd, timeout ms. Reports the barrier's return value. */
ROLE(notify_barrier) {
    char line[32];
    int report, r, before;
    RCHECK(argc == 3);
    report = atoi(argv[1]);
    RCHECK(gracefd_notify("STATUS=one") == 1);
    RCHECK(gracefd_notify("STATUS=two") == 1);
    before = nh_count_fds();
    r = gracefd_notify_barrier(atoll(argv[2]));
    /* The pipe and the socket are gone again. */
    RCHECK(nh_count_fds() == before);
    snprintf(line, sizeof line, "%d\n", r);
    RCHECK(write(report, line, strlen(line)) == (ssize_t)strlen(line));
    RCHECK(r == 1);
    RCHECK(gracefd_notify("STATUS=after") == 1);
    return 0;
}

TEST(notify_barrier_returns_once_the_receiver_has_read_everything_before_it) {
    char addr[200], env[256], wr_num[16], report[32];
    char *args[3];
    int rep[2], barrier_fd, flags;
    struct stat st;
    struct pollfd p;
    ssize_t n;
    int rfd = nh_receiver(0, "notify.sock", addr, sizeof addr);
    CHECK(rfd >= 0);
    CHECK(pipe(rep) == 0);
    CHECK(fcntl(rep[0], F_SETFD, FD_CLOEXEC) == 0);
    snprintf(wr_num, sizeof wr_num, "%d", rep[1]);
    args[0] = wr_num;
    args[1] = (char *)"20000";
    args[2] = NULL;
    notify_env(env, sizeof env, addr);
    {
        char *envp[] = {env, NULL};
        child = nh_spawn("notify_barrier", args, envp);
    }
    CHECK(child > 0);
    close(rep[1]);
    EXPECT_MSG(rfd, "STATUS=one", 0);
    EXPECT_MSG(rfd, "STATUS=two", 0);
    EXPECT_MSG(rfd, "BARRIER=1", 1);
    barrier_fd = got_fds[0];
    /* The write end of a pipe, as sd_notify_barrier sends. */
    CHECKC(fstat(barrier_fd, &st) == 0 && S_ISFIFO(st.st_mode));
    flags = fcntl(barrier_fd, F_GETFL);
    CHECKC(flags >= 0 && (flags & O_ACCMODE) == O_WRONLY);
    /* We hold the fd: the sender must still be waiting. */
    p.fd = rep[0];
    p.events = POLLIN;
    p.revents = 0;
    CHECKC_MSG(poll(&p, 1, 300) == 0, "the barrier returned before the receiver closed its fd");
    close_got();
    p.revents = 0;
    CHECKC(poll(&p, 1, 10000) == 1);
    n = read(rep[0], report, sizeof report - 1);
    CHECKC(n > 0);
    report[n] = 0;
    CHECKC_MSG(strcmp(report, "1\n") == 0, "barrier returned %s", report);
    EXPECT_MSG(rfd, "STATUS=after", 0);
    CHECK_INT(finish(), ==, 0);
    close(rep[0]);
    close(rfd);
}

ROLE(notify_barrier_timeout) {
    int r;
    (void)argc;
    (void)argv;
    r = gracefd_notify_barrier(200);
    RCHECK(r == -ETIMEDOUT);
    RCHECK(strstr(gracefd_last_error(), "barrier") != NULL);
    /* The process keeps going, and so does the library. */
    RCHECK(gracefd_notify("STATUS=still here") == 1);
    return 0;
}

TEST(notify_barrier_times_out_when_the_receiver_never_reads) {
    char addr[200], env[256];
    int rfd = nh_receiver(1, "deaf", addr, sizeof addr);
    CHECK(rfd >= 0);
    notify_env(env, sizeof env, addr);
    {
        char *envp[] = {env, NULL};
        child = nh_spawn("notify_barrier_timeout", NULL, envp);
    }
    CHECK(child > 0);
    /* Read nothing until the role is done. */
    CHECK_INT(finish(), ==, 0);
    EXPECT_MSG(rfd, "BARRIER=1", 1);
    close_got();
    EXPECT_MSG(rfd, "STATUS=still here", 0);
    close(rfd);
}

/* ---- watchdog ---- */

/* argv: expected return, expected usec, needle in the error. */
ROLE(notify_watchdog) {
    uint64_t usec = 777;
    int want, r;
    RCHECK(argc == 4);
    want = atoi(argv[1]);
    r = gracefd_watchdog_usec(&usec);
    if (r != want) fprintf(stderr, "    gracefd_watchdog_usec returned %d, expected %d\n", r, want);
    RCHECK(r == want);
    if (want >= 0) {
        RCHECK(usec == strtoull(argv[2], NULL, 10));
    } else {
        RCHECK(usec == 777); /* not written on failure */
        RCHECK(strstr(gracefd_last_error(), argv[3]) != NULL);
    }
    return 0;
}

TEST(watchdog_usec_honours_watchdog_pid) {
    struct wcase {
        const char *usec, *pid;
        int want;
        const char *value, *needle;
    };
    char parent_pid[64], want_s[16];
    size_t i;
    snprintf(parent_pid, sizeof parent_pid, "WATCHDOG_PID=%ld", (long)getpid());
    const struct wcase cases[] = {
        /* WATCHDOG_PID is the role's own pid: the watchdog is ours. */
        {"WATCHDOG_USEC=3000000", "WATCHDOG_PID=@self", 1, "3000000", ""},
        /* Another process's (here: the test's) watchdog: none for us. */
        {"WATCHDOG_USEC=3000000", parent_pid, 0, "0", ""},
        /* No WATCHDOG_PID: ours. */
        {"WATCHDOG_USEC=3000000", NULL, 1, "3000000", ""},
        {NULL, NULL, 0, "0", ""},
        {"WATCHDOG_USEC=3s", NULL, -EINVAL, "0", "WATCHDOG_USEC \"3s\""},
        {"WATCHDOG_USEC=0", "WATCHDOG_PID=@self", -EINVAL, "0", "WATCHDOG_USEC"},
        {"WATCHDOG_USEC=1000", "WATCHDOG_PID=abc", -EINVAL, "0", "WATCHDOG_PID \"abc\""},
        {"WATCHDOG_USEC=1000", "WATCHDOG_PID=-1", -EINVAL, "0", "WATCHDOG_PID"},
    };
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *envp[3];
        char *args[4];
        int e = 0, code;
        if (cases[i].usec) envp[e++] = (char *)cases[i].usec;
        if (cases[i].pid) envp[e++] = (char *)cases[i].pid;
        envp[e] = NULL;
        snprintf(want_s, sizeof want_s, "%d", cases[i].want);
        args[0] = want_s;
        args[1] = (char *)cases[i].value;
        args[2] = (char *)cases[i].needle;
        args[3] = NULL;
        child = nh_spawn("notify_watchdog", args, envp);
        CHECK(child > 0);
        code = finish();
        CHECK_MSG(code == 0, "case %zu (%s, %s): role exited %d", i, cases[i].usec ? cases[i].usec : "-",
                  cases[i].pid ? cases[i].pid : "-", code);
    }
}

TEST(watchdog_usec_rejects_null_out) {
    CHECK_INT(gracefd_watchdog_usec(NULL), ==, -EINVAL);
    CHECK_STR_CONTAINS(gracefd_last_error(), "usec_out");
}

/* ---- no NOTIFY_SOCKET, malformed, nobody listening ---- */

ROLE(notify_unset) {
    int p[2];
    uint64_t usec = 5;
    (void)argc;
    (void)argv;
    RCHECK(pipe(p) == 0);
    RCHECK(gracefd_notify("READY=1") == 0);
    RCHECK(gracefd_notify("RELOADING=1") == 0);
    RCHECK(gracefd_notify_with_fds("FDSTORE=1\nFDNAME=x", p, 2) == 0);
    RCHECK(gracefd_notify_barrier(1000) == 0);
    RCHECK(gracefd_notify_reloading() == 0);
    RCHECK(gracefd_notify_stopping() == 0);
    RCHECK(gracefd_notify_status("idle") == 0);
    RCHECK(gracefd_watchdog_usec(&usec) == 0 && usec == 0);
    /* Bad arguments are reported all the same, so they show up outside systemd. */
    RCHECK(gracefd_notify(NULL) == -EINVAL);
    RCHECK(gracefd_notify("READY") == -EINVAL);
    RCHECK(gracefd_notify_status("a\nb") == -EINVAL);
    return 0;
}

TEST(notify_without_notify_socket_is_a_no_op_returning_0) {
    char *envp[] = {(char *)"PATH=/usr/bin:/bin", NULL};
    child = nh_spawn("notify_unset", NULL, envp);
    CHECK(child > 0);
    CHECK_INT(finish(), ==, 0);
}

/* argv: errno (positive), needle. Every call fails the same way; the process goes on. */
ROLE(notify_expect_error) {
    int p[2], want, before;
    const char *needle;
    RCHECK(argc == 3);
    want = -atoi(argv[1]);
    needle = argv[2];
    RCHECK(pipe(p) == 0);
    before = nh_count_fds();
    RCHECK(gracefd_notify("READY=1") == want);
    RCHECK(strstr(gracefd_last_error(), "NOTIFY_SOCKET") != NULL);
    RCHECK(strstr(gracefd_last_error(), needle) != NULL);
    RCHECK(gracefd_notify_with_fds("FDSTORE=1", p, 2) == want);
    RCHECK(gracefd_notify_barrier(2000) == want);
    RCHECK(gracefd_notify_reloading() == want);
    RCHECK(gracefd_notify_stopping() == want);
    RCHECK(gracefd_notify_status("x") == want);
    RCHECK(strstr(gracefd_last_error(), needle) != NULL);
    RCHECK(nh_count_fds() == before);
    return 0;
}

static int expect_error(const char *notify_socket, int err, const char *needle) {
    char env[512], errs[16];
    char *envp[2], *args[3];
    snprintf(env, sizeof env, "NOTIFY_SOCKET=%s", notify_socket);
    snprintf(errs, sizeof errs, "%d", err);
    envp[0] = env;
    envp[1] = NULL;
    args[0] = errs;
    args[1] = (char *)needle;
    args[2] = NULL;
    child = nh_spawn("notify_expect_error", args, envp);
    if (child <= 0) return -1;
    return finish();
}

TEST(notify_malformed_notify_socket_is_a_clear_error) {
    char long_path[200];
    memset(long_path, 'a', sizeof long_path);
    long_path[0] = '/';
    long_path[150] = 0;
    CHECK_INT(expect_error("", EINVAL, "empty"), ==, 0);
    CHECK_INT(expect_error("relative/notify.sock", EINVAL, "neither an absolute path"), ==, 0);
    CHECK_INT(expect_error("@", EINVAL, "empty"), ==, 0);
    CHECK_INT(expect_error("vsock:2:1234", EINVAL, "vsock"), ==, 0);
    CHECK_INT(expect_error(long_path, ENAMETOOLONG, "sun_path"), ==, 0);
}

TEST(notify_nobody_listening_is_a_clear_error_and_the_process_goes_on) {
    char absent[300], dead[300], nobody[100];
    int fd;
    snprintf(absent, sizeof absent, "%s/absent.sock", harness_tmpdir());
    CHECK_INT(expect_error(absent, ENOENT, "nothing listens"), ==, 0);
    /* A socket file whose receiver has gone away. */
    fd = nh_receiver(0, "dead.sock", dead, sizeof dead);
    CHECK(fd >= 0);
    close(fd);
    CHECK_INT(expect_error(dead, ECONNREFUSED, "nothing listens"), ==, 0);
    snprintf(nobody, sizeof nobody, "@gracefd-test-%ld-nobody", (long)getpid());
    CHECK_INT(expect_error(nobody, ECONNREFUSED, "nothing listens"), ==, 0);
}

/* ---- bad arguments: a clear error, and nothing is sent ---- */

ROLE(notify_bad_args) {
    static char big[5000];
    int p[2], fds[2];
    (void)argc;
    (void)argv;
    RCHECK(pipe(p) == 0);
    RCHECK(gracefd_notify(NULL) == -EINVAL);
    RCHECK(strstr(gracefd_last_error(), "state is NULL") != NULL);
    RCHECK(gracefd_notify("") == -EINVAL);
    RCHECK(gracefd_notify("READY") == -EINVAL);
    RCHECK(strstr(gracefd_last_error(), "has no '='") != NULL);
    RCHECK(gracefd_notify("=1") == -EINVAL);
    RCHECK(gracefd_notify("READY=1\n\nSTATUS=x") == -EINVAL);
    RCHECK(strstr(gracefd_last_error(), "line 2 is empty") != NULL);
    RCHECK(gracefd_notify("READY =1") == -EINVAL);
    memset(big, 'x', sizeof big - 1);
    memcpy(big, "STATUS=", 7);
    RCHECK(gracefd_notify(big) == -EMSGSIZE);
    RCHECK(gracefd_notify_status(big) == -EMSGSIZE);
    RCHECK(gracefd_notify_status(NULL) == -EINVAL);
    RCHECK(gracefd_notify_status("one\nREADY=1") == -EINVAL);
    RCHECK(strstr(gracefd_last_error(), "newline") != NULL);
    RCHECK(gracefd_notify_with_fds("FDSTORE=1", NULL, 2) == -EINVAL);
    RCHECK(strstr(gracefd_last_error(), "fds is NULL") != NULL);
    fds[0] = p[0];
    fds[1] = p[1] + 100;
    RCHECK(fcntl(fds[1], F_GETFD) < 0);
    RCHECK(gracefd_notify_with_fds("FDSTORE=1", fds, 2) == -EBADF);
    RCHECK(strstr(gracefd_last_error(), "fds[1]") != NULL);
    RCHECK(gracefd_notify_with_fds("FDSTORE", p, 2) == -EINVAL);
    RCHECK(gracefd_notify("STATUS=sentinel") == 1);
    return 0;
}

TEST(notify_bad_arguments_are_refused_and_nothing_is_sent) {
    char addr[200], env[256];
    int rfd = nh_receiver(0, "notify.sock", addr, sizeof addr);
    CHECK(rfd >= 0);
    notify_env(env, sizeof env, addr);
    {
        char *envp[] = {env, NULL};
        child = nh_spawn("notify_bad_args", NULL, envp);
    }
    CHECK(child > 0);
    EXPECT_MSG(rfd, "STATUS=sentinel", 0);
    CHECK_INT(finish(), ==, 0);
    CHECK(!nh_pending(rfd, 0));
    close(rfd);
}
