/* Upgrade: the new generation gets the same sockets and nothing else, and
 * every way it can fail leaves the old one serving with nothing lost. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gracefd.h"
#include "harness.h"
#include "upgrade_helpers.h"

/* ---- helpers ---------------------------------------------------------- */

static int port_of(int fd) {
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &l) < 0) return -1;
    return ntohs(a.sin_port);
}

/* Connect to 127.0.0.1:port, read one line ("pid=N\n") the server writes. */
static int ask_pid(int port) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) { close(s); return -1; }
    char buf[64] = {0};
    ssize_t n = read(s, buf, sizeof buf - 1);
    close(s);
    if (n <= 0) return -1;
    return atoi(buf + 4);
}

/* Serve "pid=N\n" to every connection on fd until the time limit. */
static void serve_pids(int fd, int seconds) {
    struct timeval tv = {0, 100000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (int i = 0; i < seconds * 10;) {
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) { i++; continue; }
        char line[32];
        int n = snprintf(line, sizeof line, "pid=%d\n", (int)getpid());
        if (send(c, line, (size_t)n, MSG_NOSIGNAL) < 0) { /* client gone */ }
        close(c);
    }
}

static int count_open_fds(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the DIR's own fd */
}

static int write_file(const char *path, const char *text) {
    int f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f < 0) return -1;
    ssize_t w = write(f, text, strlen(text));
    close(f);
    return w == (ssize_t)strlen(text) ? 0 : -1;
}

static int read_file(const char *path, char *buf, size_t cap) {
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) return -1;
    ssize_t n = read(f, buf, cap - 1);
    close(f);
    if (n < 0) return -1;
    buf[n] = 0;
    return (int)n;
}


/* ---- roles: what the new generation does -------------------------------- */

/* Report what we inherited into argv[1] (a file), then become ready and serve. */
ROLE(gen_report) {
    if (argc < 2) return 2;
    int fd = gracefd_listen("web", "127.0.0.1:1"); /* the inherited one wins over the address */
    struct stat st;
    fstat(3, &st);
    char report[512];
    snprintf(report, sizeof report,
             "fd=%d listen_fds=%s names=%s gen=%d is_upgrade=%d parent=%s same_port=%d open_fds=%d ino3=%lu\n", fd,
             getenv("LISTEN_FDS"), getenv("LISTEN_FDNAMES"), gracefd_generation(), gracefd_is_upgrade(),
             getenv("GRACEFD_PARENT_PID"), port_of(fd) == port_of(3), count_open_fds(), (unsigned long)st.st_ino);
    write_file(argv[1], report);
    if (gracefd_ready() != 1) return 3;
    serve_pids(fd, 2);
    return 0;
}

ROLE(gen_exit3) { (void)argc; (void)argv; return 3; }
ROLE(gen_crash) { (void)argc; (void)argv; abort(); }
ROLE(gen_fail) {
    (void)argc; (void)argv;
    gracefd_fail(7, "cannot open the database: no such file");
    return 7;
}
ROLE(gen_hang) {
    (void)argc; (void)argv;
    for (int i = 0; i < 600; i++) sleep(1); /* killed long before */
    return 0;
}
/* Audit defect 3: any holder of GRACEFD_READY_FD can send an "exec failed"
 * frame (9 bytes: "GFD1", kind 3, errno) and stay alive. */
ROLE(gen_forges_exec_failed) {
    (void)argc; (void)argv;
    const char *v = getenv("GRACEFD_READY_FD");
    if (!v) return 2;
    unsigned char frame[9] = {'G', 'F', 'D', '1', 3, ENOENT, 0, 0, 0};
    if (send(atoi(v), frame, sizeof frame, MSG_NOSIGNAL) != (ssize_t)sizeof frame) return 3;
    for (int i = 0; i < 600; i++) sleep(1); /* killed long before */
    return 0;
}
/* A prefork master that dies before ready: its forked child (no exec) keeps
 * the inherited readiness channel open, so the channel never reaches EOF.
 * The child's pid goes to argv[1]; the child sleeps (killed by the test). */
ROLE(gen_forks_then_exit3) {
    if (argc < 2) return 2;
    pid_t kid = fork();
    if (kid < 0) return 4;
    if (kid == 0) {
        for (int i = 0; i < 60; i++) sleep(1); /* killed long before */
        _exit(0);
    }
    char pid_text[32];
    snprintf(pid_text, sizeof pid_text, "%d", (int)kid);
    if (write_file(argv[1], pid_text) != 0) return 5;
    return 3;
}
ROLE(gen_ready_then_serve) {
    (void)argc; (void)argv;
    int fd = gracefd_listen("web", "127.0.0.1:1");
    if (fd < 0) return 4;
    gracefd_ready();
    serve_pids(fd, 5);
    return 0;
}

/* ---- tests --------------------------------------------------------------- */

TEST(upgrade_hands_down_the_same_socket_and_nothing_else) {
    int fd = gracefd_listen("web", "127.0.0.1:0");
    CHECK(fd >= 0);
    struct stat mine;
    fstat(fd, &mine);
    char report_path[512];
    snprintf(report_path, sizeof report_path, "%s/report", harness_tmpdir());
    gracefd_upgrade_opts *o = opts_for_role("gen_report", report_path);
    pid_t child = 0;
    int r = gracefd_upgrade(o, &child);
    gracefd_upgrade_opts_free(o);
    CHECK_MSG(r == 0, "upgrade: %d %s", r, gracefd_last_error());
    CHECK(child > 0);
    char rep[512];
    CHECK(read_file(report_path, rep, sizeof rep) > 0);
    char want[128];
    snprintf(want, sizeof want, "ino3=%lu", (unsigned long)mine.st_ino);
    CHECK_STR_CONTAINS(rep, want);
    CHECK_STR_CONTAINS(rep, "listen_fds=1 names=web gen=2 is_upgrade=1");
    CHECK_STR_CONTAINS(rep, "same_port=1");
    /* 0,1,2, the inherited fd 3, the registry's own dup of it, and the fd
     * listen() returned: nothing else reached the new generation. */
    CHECK_STR_CONTAINS(rep, "open_fds=6");
    CHECK_INT(ask_pid(port_of(fd)) > 0, ==, 1);
    /* It leads a process group of its own (what it forks is stopped with it if it fails). */
    CHECK_INT(getpgid(child), ==, child);
    int st;
    CHECK_INT(waitpid(child, &st, 0), ==, child);
}

static void expect_failure(const char *role, int want_r, const char *want_msg) {
    int fd = gracefd_listen("web", "127.0.0.1:0");
    CHECK(fd >= 0);
    int fds_before = count_open_fds();
    gracefd_upgrade_opts *o = opts_for_role(role, NULL);
    gracefd_upgrade_opts_set_timeout_ms(o, 500);
    pid_t child = -1;
    int r = gracefd_upgrade(o, &child);
    gracefd_upgrade_opts_free(o);
    CHECK_MSG(r == want_r, "%s: got %d (%s), want %d", role, r, gracefd_last_error(), want_r);
    CHECK_INT(child, ==, -1); /* out-param untouched on failure */
    CHECK_STR_CONTAINS(gracefd_last_error(), want_msg);
    /* No zombie, no leaked fd, and we still own a listening socket. */
    CHECK_INT(waitpid(-1, NULL, WNOHANG), ==, -1);
    CHECK_INT(errno, ==, ECHILD);
    CHECK_INT(count_open_fds(), ==, fds_before);
    int acc = 0;
    socklen_t l = sizeof acc;
    CHECK(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) == 0 && acc == 1);
}

TEST(upgrade_child_exits_before_ready) { expect_failure("gen_exit3", -ECHILD, "exited with status 3"); }
TEST(upgrade_child_crashes) { expect_failure("gen_crash", -ECHILD, "killed by signal 6"); }
TEST(upgrade_child_reports_failure) { expect_failure("gen_fail", -ECANCELED, "cannot open the database"); }
TEST(upgrade_child_hangs_past_timeout) { expect_failure("gen_hang", -ETIMEDOUT, "not ready in time"); }

/* The old code learned of the death only by EOF on the channel, which the
 * new generation's forked child still held: it waited the whole timeout and
 * said "not ready in time". The death must be seen, and said, at once. */
/* Upgrade to ROLE(gen_forks_then_exit3), a prefork master that dies before
 * it is ready, as a child subreaper (its orphan becomes our child, so the
 * test can see it end and reap it by pid). Returns what gracefd_upgrade()
 * did; *grandchild is the master's child (0 if it named none), *took_ms how
 * long the upgrade took. */
static int upgrade_to_a_dying_master(int *grandchild, long *took_ms) {
    *grandchild = 0;
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return -1000;
    if (gracefd_listen("web", "127.0.0.1:0") < 0) return -1001;
    char pid_path[512];
    snprintf(pid_path, sizeof pid_path, "%s/grandchild", harness_tmpdir());
    gracefd_upgrade_opts *o = opts_for_role("gen_forks_then_exit3", pid_path);
    gracefd_upgrade_opts_set_timeout_ms(o, 20000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t child = -1;
    int r = gracefd_upgrade(o, &child);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    gracefd_upgrade_opts_free(o);
    *took_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    char buf[32] = {0};
    *grandchild = read_file(pid_path, buf, sizeof buf) > 0 ? atoi(buf) : 0;
    return r;
}

TEST(upgrade_child_that_forked_then_died_is_seen_dead) {
    /* The fix needs pidfds; without them (Linux < 5.3, valgrind 3.19) the
     * library falls back to EOF only, and this test says why it fails. */
    int probe = (int)syscall(SYS_pidfd_open, getpid(), 0);
    CHECK_MSG(probe >= 0, "pidfd_open: %s: no pidfds here, so the death is seen at EOF only", strerror(errno));
    close(probe);
    int grandchild = 0;
    long waited_ms = 0;
    int r = upgrade_to_a_dying_master(&grandchild, &waited_ms);
    /* The library stops and reaps it (it is in the failed generation's
     * group, and our child): kill it only while it is still ours. */
    if (grandchild > 0 && waitpid(grandchild, NULL, WNOHANG) == 0) {
        kill(grandchild, SIGKILL);
        waitpid(grandchild, NULL, 0);
    }
    CHECK_MSG(grandchild > 0, "the new generation did not name its child (%d)", r);
    CHECK_MSG(r == -ECHILD, "got %d (%s) after %ld ms", r, gracefd_last_error(), waited_ms);
    CHECK_STR_CONTAINS(gracefd_last_error(), "exited with status 3 before it was ready");
    /* A bound, not a benchmark: far below the 20 s timeout the old code waited. */
    CHECK_MSG(waited_ms < 5000, "took %ld ms", waited_ms);
    CHECK_INT(waitpid(-1, NULL, WNOHANG), ==, -1); /* the new generation was reaped */
    CHECK_INT(errno, ==, ECHILD);
}

/* The same prefork master dying before it was ready: its forked child (a
 * worker, holding the listening socket) was left running, accepting on the
 * socket of a server that had reported the upgrade failed. The new
 * generation leads its own process group, and what is left in it is stopped
 * with it. */
TEST(upgrade_failed_new_generation_takes_its_forked_children_along) {
    int grandchild = 0;
    long took_ms = 0;
    int r = upgrade_to_a_dying_master(&grandchild, &took_ms);
    /* Still running: waitpid says 0. Ended (reaped by the library, which
     * stops its group): ECHILD, or its pid if it ended just now. */
    int alive = grandchild > 0 && waitpid(grandchild, NULL, WNOHANG) == 0;
    if (alive) {
        kill(grandchild, SIGKILL);
        waitpid(grandchild, NULL, 0);
    }
    CHECK_MSG(grandchild > 0, "the new generation did not name its child (%d)", r);
    CHECK_MSG(r == -ECHILD || r == -ETIMEDOUT, "got %d (%s)", r, gracefd_last_error());
    CHECK_MSG(!alive, "the failed generation's child %d was left running", grandchild);
}

/* The old code believed the frame and waited (blocking waitpid) for a process
 * that lives on: gracefd_upgrade hung for the child's whole life. */
TEST(upgrade_forged_exec_failed_frame_is_a_protocol_violation) {
    expect_failure("gen_forges_exec_failed", -EPROTO, "said exec failed (ENOENT) but it is still running");
}

/* gracefd_upgrade_finish() is documented not to block: the same forged frame
 * must not make it wait for the liar. */
TEST(upgrade_finish_does_not_block_on_a_forged_frame) {
    int fd = gracefd_listen("web", "127.0.0.1:0");
    CHECK(fd >= 0);
    gracefd_upgrade_opts *o = opts_for_role("gen_forges_exec_failed", NULL);
    int poll_fd = gracefd_upgrade_start(o);
    gracefd_upgrade_opts_free(o);
    CHECK_MSG(poll_fd >= 0, "%s", gracefd_last_error());
    struct pollfd p = {.fd = poll_fd, .events = POLLIN};
    CHECK_INT(poll(&p, 1, 10000), ==, 1);
    alarm(20); /* a hang guard, not a timing assertion: the old code waited for the child's exit */
    pid_t child = -1;
    int r = gracefd_upgrade_finish(&child);
    alarm(0);
    CHECK_MSG(r == -EPROTO, "got %d (%s)", r, gracefd_last_error());
    CHECK_STR_CONTAINS(gracefd_last_error(), "broke the readiness protocol");
    CHECK_INT(waitpid(-1, NULL, WNOHANG), ==, -1); /* killed and reaped */
    CHECK_INT(errno, ==, ECHILD);
}

TEST(upgrade_exe_missing_or_not_executable) {
    int fd = gracefd_listen("web", "127.0.0.1:0");
    CHECK(fd >= 0);
    gracefd_upgrade_opts *o = gracefd_upgrade_opts_new();
    CHECK_INT(gracefd_upgrade_opts_set_exe(o, "/nonexistent/httpd"), ==, 0);
    pid_t child = -1;
    CHECK_INT(gracefd_upgrade(o, &child), ==, -ENOEXEC);
    CHECK_STR_CONTAINS(gracefd_last_error(), "ENOENT");
    char path[512];
    snprintf(path, sizeof path, "%s/not-executable", harness_tmpdir());
    CHECK(write_file(path, "#!/bin/sh\nexit 0\n") == 0);
    CHECK_INT(gracefd_upgrade_opts_set_exe(o, path), ==, 0);
    CHECK_INT(gracefd_upgrade(o, &child), ==, -ENOEXEC);
    CHECK_STR_CONTAINS(gracefd_last_error(), "EACCES");
    CHECK_INT(gracefd_upgrade_opts_set_exe(o, "relative/path"), ==, -EINVAL);
    gracefd_upgrade_opts_free(o);
    CHECK_INT(waitpid(-1, NULL, WNOHANG), ==, -1);
}

TEST(upgrade_second_one_in_flight_is_refused) {
    int fd = gracefd_listen("web", "127.0.0.1:0");
    CHECK(fd >= 0);
    gracefd_upgrade_opts *o = opts_for_role("gen_hang", NULL);
    gracefd_upgrade_opts_set_timeout_ms(o, 300);
    int poll_fd = gracefd_upgrade_start(o);
    CHECK(poll_fd >= 0);
    pid_t child = -1;
    CHECK_INT(gracefd_upgrade(o, &child), ==, -EALREADY);
    CHECK_STR_CONTAINS(gracefd_last_error(), "already in flight");
    CHECK_INT(gracefd_upgrade_finish(&child), ==, -EAGAIN);
    int r;
    while ((r = gracefd_upgrade_finish(&child)) == -EAGAIN) usleep(10000);
    CHECK_INT(r, ==, -ETIMEDOUT);
    CHECK_INT(gracefd_upgrade_finish(&child), ==, -ENOENT);
    gracefd_upgrade_opts_free(o);
    CHECK_INT(waitpid(-1, NULL, WNOHANG), ==, -1);
}

TEST(upgrade_cancel_kills_and_reaps_the_new_generation) {
    int fd = gracefd_listen("web", "127.0.0.1:0");
    CHECK(fd >= 0);
    CHECK_INT(gracefd_upgrade_cancel(), ==, -ENOENT);
    CHECK_STR_CONTAINS(gracefd_last_error(), "no upgrade is in flight");
    gracefd_upgrade_opts *o = opts_for_role("gen_hang", NULL);
    CHECK(gracefd_upgrade_start(o) >= 0);
    pid_t child = -1;
    CHECK_INT(gracefd_upgrade_finish(&child), ==, -EAGAIN);
    int killed = gracefd_upgrade_cancel();
    CHECK(killed > 0);
    /* Killed and reaped: gone, and nothing left to wait for. */
    CHECK_INT(kill(killed, 0), ==, -1);
    CHECK_INT(waitpid(-1, NULL, WNOHANG), ==, -1);
    CHECK_INT(gracefd_upgrade_finish(&child), ==, -ENOENT);
    CHECK_INT(gracefd_upgrade_cancel(), ==, -ENOENT);
    /* This process is unchanged: another upgrade may start. */
    CHECK(gracefd_upgrade_start(o) >= 0);
    CHECK(gracefd_upgrade_cancel() > 0);
    gracefd_upgrade_opts_free(o);
    close(fd);
}

TEST(upgrade_bad_arguments) {
    pid_t p;
    CHECK_INT(gracefd_upgrade(NULL, NULL), ==, -EINVAL);
    CHECK_STR_CONTAINS(gracefd_last_error(), "child_pid_out is NULL");
    gracefd_upgrade_opts *o = gracefd_upgrade_opts_new();
    CHECK_INT(gracefd_upgrade_opts_set_argv(o, NULL, 0), ==, -EINVAL);
    CHECK_INT(gracefd_upgrade_opts_add_env(o, "NOEQUALS"), ==, -EINVAL);
    CHECK_INT(gracefd_upgrade_opts_add_env(o, "LISTEN_FDS=9"), ==, -EINVAL);
    CHECK_INT(gracefd_upgrade_opts_add_env(o, "GOOD=1"), ==, 0);
    CHECK_INT(gracefd_upgrade_opts_set_kill_signal(o, 0), ==, -EINVAL);
    CHECK_INT(gracefd_upgrade_opts_set_timeout_ms(NULL, 1), ==, -EINVAL);
    CHECK_INT(gracefd_upgrade_opts_set_timeout_ms(o, 0), ==, -EINVAL); /* would fail every upgrade */
    CHECK_STR_CONTAINS(gracefd_last_error(), "0 ms");
    CHECK_INT(gracefd_upgrade_opts_set_timeout_ms(o, -1), ==, 0);
    CHECK_INT(gracefd_upgrade_finish(&p), ==, -ENOENT);
    gracefd_upgrade_opts_free(o);
    gracefd_upgrade_opts_free(NULL);
}

/* The old generation starts an upgrade and is SIGKILLed before the new one is
 * ready: the new one must carry on serving (no SIGPIPE, no exit). */
ROLE(old_killed_midway) {
    (void)argc;
    int fd = gracefd_listen("web", argv[1]);
    if (fd < 0) return 2;
    gracefd_upgrade_opts *o = gracefd_upgrade_opts_new();
    const char *a[] = {harness_self(), "--role", "gen_ready_after_parent_dies"};
    gracefd_upgrade_opts_set_argv(o, a, 3);
    if (gracefd_upgrade_start(o) < 0) return 3;
    usleep(100000);
    raise(SIGKILL);
    return 4;
}

ROLE(gen_ready_after_parent_dies) {
    (void)argc; (void)argv;
    int fd = gracefd_listen("web", "127.0.0.1:1");
    if (fd < 0) return 4;
    pid_t parent = (pid_t)atoi(getenv("GRACEFD_PARENT_PID"));
    for (int i = 0; i < 500 && kill(parent, 0) == 0; i++) usleep(10000);
    if (gracefd_ready() < 0) return 5;
    serve_pids(fd, 5);
    return 0;
}

TEST(upgrade_old_generation_killed_midway_new_one_serves) {
    /* Orphans are re-parented to us, so we can reap them by pid. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(probe, (struct sockaddr *)&a, sizeof a);
    int port = port_of(probe);
    close(probe);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    pid_t old = fork();
    if (old == 0) {
        execl(harness_self(), harness_self(), "--role", "old_killed_midway", addr, (char *)NULL);
        _exit(127);
    }
    int st;
    CHECK_INT(waitpid(old, &st, 0), ==, old);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    int served = -1;
    for (int i = 0; i < 100 && served <= 0; i++) {
        served = ask_pid(port);
        if (served <= 0) usleep(20000);
    }
    CHECK_MSG(served > 0 && served != old, "new generation did not serve (got %d)", served);
    kill(served, SIGTERM);
    CHECK_INT(waitpid(served, &st, 0), ==, served);
}

/* ---- the executable is the one recorded at start-up ------------------------ */

static int copy_file(const char *from, const char *to, mode_t mode) {
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    char buf[65536];
    ssize_t n;
    int ok = in >= 0 && out >= 0;
    while (ok && (n = read(in, buf, sizeof buf)) > 0) ok = write(out, buf, (size_t)n) == n;
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    return ok ? 0 : -1;
}

/* Runs from a copy of the test binary at DIR/bin. The first generation puts a
 * new "binary" (a script) over its own path by rename, then upgrades with the
 * defaults: the new code must run. */
ROLE(renamed_binary) {
    if (argc < 2) return 2;
    const char *dir = argv[1];
    if (gracefd_is_upgrade()) return 9; /* the script must have replaced us */
    int fd = gracefd_listen("web", "127.0.0.1:0");
    if (fd < 0) return 3;
    char tmp[512], bin[512], script[1024];
    snprintf(tmp, sizeof tmp, "%s/bin.new", dir);
    snprintf(bin, sizeof bin, "%s/bin", dir);
    snprintf(script, sizeof script, "#!/bin/sh\ntouch %s/new-code-ran\nexec %s/real --role gen_ready_then_serve\n", dir, dir);
    if (write_file(tmp, script) < 0 || chmod(tmp, 0755) < 0 || rename(tmp, bin) < 0) return 4;
    pid_t child;
    if (gracefd_upgrade(NULL, &child) < 0) {
        fprintf(stderr, "upgrade: %s\n", gracefd_last_error());
        return 5;
    }
    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    return 0;
}

TEST(upgrade_runs_a_binary_replaced_by_rename) {
    char bin[512], real[512], marker[512];
    snprintf(bin, sizeof bin, "%s/bin", harness_tmpdir());
    snprintf(real, sizeof real, "%s/real", harness_tmpdir());
    snprintf(marker, sizeof marker, "%s/new-code-ran", harness_tmpdir());
    CHECK(copy_file(harness_self(), bin, 0755) == 0);
    CHECK(copy_file(harness_self(), real, 0755) == 0);
    pid_t p = fork();
    if (p == 0) {
        execl(bin, bin, "--role", "renamed_binary", harness_tmpdir(), (char *)NULL);
        _exit(127);
    }
    int st;
    CHECK_INT(waitpid(p, &st, 0), ==, p);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "role exited %d", WEXITSTATUS(st));
    CHECK_MSG(access(marker, F_OK) == 0, "the new code did not run");
}

/* Started as "./bin" from DIR, then chdir("/"): the default upgrade must still
 * find the executable (recorded as an absolute path at start-up). */
ROLE(relative_argv0) {
    (void)argc; (void)argv;
    int fd = gracefd_listen("web", "127.0.0.1:0");
    if (fd < 0) return 3;
    if (gracefd_is_upgrade()) {
        gracefd_ready();
        return 0;
    }
    if (chdir("/") < 0) return 4;
    pid_t child;
    if (gracefd_upgrade(NULL, &child) < 0) {
        fprintf(stderr, "upgrade: %s\n", gracefd_last_error());
        return 5;
    }
    waitpid(child, NULL, 0);
    return 0;
}

TEST(upgrade_after_chdir_with_relative_argv0) {
    char bin[512];
    snprintf(bin, sizeof bin, "%s/bin", harness_tmpdir());
    CHECK(copy_file(harness_self(), bin, 0755) == 0);
    pid_t p = fork();
    if (p == 0) {
        if (chdir(harness_tmpdir()) < 0) _exit(126);
        execl("./bin", "./bin", "--role", "relative_argv0", (char *)NULL);
        _exit(127);
    }
    int st;
    CHECK_INT(waitpid(p, &st, 0), ==, p);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "role exited %d", WEXITSTATUS(st));
}

/* ---- gracefd's own variables are inert in grandchildren ---------------------- */

/* A new generation runs a child of its own the ordinary way (fork + execve
 * with its environment, which still holds the GRACEFD_* and LISTEN_*
 * variables: the library never calls unsetenv). That grandchild must not act
 * on them: LISTEN_PID names its parent, not it. */
ROLE(grandchild_report) {
    if (argc < 2) return 2;
    char rep[256];
    snprintf(rep, sizeof rep, "gen=%d is_upgrade=%d inherited=%d ready=%d has_var=%d\n", gracefd_generation(),
             gracefd_is_upgrade(), gracefd_inherited_count(), gracefd_ready(), getenv("GRACEFD_READY_FD") != NULL);
    return write_file(argv[1], rep) == 0 ? 0 : 3;
}

ROLE(gen_spawns_grandchild) {
    if (argc < 2) return 2;
    int fd = gracefd_listen("web", "127.0.0.1:1");
    if (fd < 0) return 3;
    pid_t g = fork();
    if (g == 0) {
        extern char **environ;
        char *a[] = {(char *)harness_self(), (char *)"--role", (char *)"grandchild_report", argv[1], NULL};
        execve(harness_self(), a, environ);
        _exit(127);
    }
    int st;
    waitpid(g, &st, 0);
    gracefd_ready();
    return 0;
}

TEST(upgrade_variables_are_inert_in_grandchildren) {
    int fd = gracefd_listen("web", "127.0.0.1:0");
    CHECK(fd >= 0);
    char report[512];
    snprintf(report, sizeof report, "%s/grandchild", harness_tmpdir());
    gracefd_upgrade_opts *o = opts_for_role("gen_spawns_grandchild", report);
    pid_t child;
    int r = gracefd_upgrade(o, &child);
    gracefd_upgrade_opts_free(o);
    CHECK_MSG(r == 0, "%s", gracefd_last_error());
    waitpid(child, NULL, 0);
    char rep[256];
    CHECK(read_file(report, rep, sizeof rep) > 0);
    CHECK_STR_CONTAINS(rep, "gen=1 is_upgrade=0 inherited=0 ready=0 has_var=1");
}

/* ---- the pid file names only a generation that is ready ----------------------- */

ROLE(gen_pidfile_then_exit) {
    if (argc < 2) return 2;
    if (gracefd_pidfile_create(argv[1]) < 0) return 4; /* the inherited file: no write yet */
    return 3;                                           /* and then fail to start */
}

TEST(upgrade_failed_new_generation_leaves_the_pid_file_naming_the_old) {
    char path[512], content[64], want[64];
    snprintf(path, sizeof path, "%s/srv.pid", harness_tmpdir());
    CHECK_INT(gracefd_pidfile_create(path), ==, 0);
    CHECK(gracefd_listen("web", "127.0.0.1:0") >= 0);
    gracefd_upgrade_opts *o = opts_for_role("gen_pidfile_then_exit", path);
    pid_t child = -1;
    CHECK_INT(gracefd_upgrade(o, &child), ==, -ECHILD);
    gracefd_upgrade_opts_free(o);
    CHECK_STR_CONTAINS(gracefd_last_error(), "exited with status 3");
    CHECK(read_file(path, content, sizeof content) > 0);
    snprintf(want, sizeof want, "%d\n", (int)getpid());
    CHECK_MSG(strcmp(content, want) == 0, "pid file says %s, we are %d", content, (int)getpid());
    CHECK_INT(gracefd_pidfile_remove(), ==, 1);
}

/* ---- probation (settle time) --------------------------------------------- */

/* Ready at once, then gone 300 ms later: what gunicorn without --preload
 * does when its application fails to import. */
ROLE(gen_ready_then_exit) {
    (void)argc; (void)argv;
    gracefd_ready();
    usleep(300 * 1000);
    return 3;
}

TEST(upgrade_settle_rolls_back_a_generation_that_exits_after_ready) {
    char path[512], content[64], want[64];
    snprintf(path, sizeof path, "%s/srv.pid", harness_tmpdir());
    CHECK_INT(gracefd_pidfile_create(path), ==, 0);
    int fd = gracefd_listen("web", "127.0.0.1:0");
    CHECK(fd >= 0);
    gracefd_upgrade_opts *o = opts_for_role("gen_ready_then_exit", NULL);
    CHECK_INT(gracefd_upgrade_opts_set_settle_ms(o, -1), ==, -EINVAL);
    CHECK_INT(gracefd_upgrade_opts_set_settle_ms(o, 3600001), ==, -EINVAL);
    CHECK_INT(gracefd_upgrade_opts_set_settle_ms(NULL, 10), ==, -EINVAL);
    CHECK_INT(gracefd_upgrade_opts_set_settle_ms(o, 5000), ==, 0);
    pid_t child = -1;
    int r = gracefd_upgrade(o, &child);
    CHECK_MSG(r == -ECHILD, "got %d (%s)", r, gracefd_last_error());
    CHECK_INT(child, ==, -1);
    CHECK_STR_CONTAINS(gracefd_last_error(), "after it reported ready (within the settle time of 5000 ms)");
    /* Reaped, and the pid file still names us. */
    CHECK_INT(waitpid(-1, NULL, WNOHANG), ==, -1);
    CHECK(read_file(path, content, sizeof content) > 0);
    snprintf(want, sizeof want, "%d\n", (int)getpid());
    CHECK_MSG(strcmp(content, want) == 0, "pid file says %s, we are %d", content, (int)getpid());
    /* The same one without a settle time is taken as ready (the trap). */
    CHECK_INT(gracefd_upgrade_opts_set_settle_ms(o, 0), ==, 0);
    r = gracefd_upgrade(o, &child);
    CHECK_MSG(r == 0 && child > 0, "without settle: %d (%s)", r, gracefd_last_error());
    int st;
    CHECK_INT(waitpid(child, &st, 0), ==, child);
    gracefd_upgrade_opts_free(o);
    CHECK_INT(gracefd_pidfile_remove(), >=, 0);
}

TEST(upgrade_settle_passes_a_generation_that_stays_up_nonblocking) {
    int fd = gracefd_listen("web", "127.0.0.1:0");
    CHECK(fd >= 0);
    gracefd_upgrade_opts *o = opts_for_role("gen_ready_then_serve", NULL);
    CHECK_INT(gracefd_upgrade_opts_set_settle_ms(o, 300), ==, 0);
    int pfd = gracefd_upgrade_start(o);
    gracefd_upgrade_opts_free(o);
    CHECK(pfd >= 0);
    pid_t child = -1;
    int r = 0, polls = 0;
    for (int i = 0; i < 1000 && (r = gracefd_upgrade_finish(&child)) == -EAGAIN; i++) {
        polls++;
        usleep(10 * 1000);
    }
    CHECK_MSG(r == 0 && child > 0, "finish: %d (%s)", r, gracefd_last_error());
    /* It took more than one look: the settle time kept it pending after ready. */
    CHECK(polls > 1);
    CHECK_INT(ask_pid(port_of(fd)) > 0, ==, 1);
    int st;
    CHECK_INT(waitpid(child, &st, 0), ==, child);
}
