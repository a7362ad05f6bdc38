/* What the daemonize launcher reports, and refuses before anything happens:
 * a second instance, pid files it must not touch, a daemon that fails, dies
 * or stays silent, bad options and users, and the re-exec marker. The
 * program that daemonizes is ROLE(daemon) (t_daemon_detach.c). */
#define _GNU_SOURCE
#include "daemon_helpers.h"

DTEST(daemon_fork_mode_refused_with_threads) {
    char pidp[512], a_pid[600];
    path_in_tmp(pidp, sizeof pidp, "d.pid");
    snprintf(a_pid, sizeof a_pid, "pid=%s", pidp);
    struct run r;
    CHECK(launch(&r, NULL, a_pid, "mode=fork", "threads=4", (char *)NULL));
    CHECK_INT(r.status, ==, 99);
    CHECK_STR_CONTAINS(r.err, "EBUSY");
    CHECK_STR_CONTAINS(r.err, "has 5 threads");
    CHECK_STR_CONTAINS(r.err, "re-exec");
    struct stat st;
    CHECK_MSG(stat(pidp, &st) < 0 && errno == ENOENT, "the pid file was created by a refused call");
}

/* Start a daemon that stays up; returns its pid (from the pid file) or -1. */
static pid_t start_ready(const char *mode, const char *pidp) {
    char a_pid[600], a_mode[32];
    snprintf(a_pid, sizeof a_pid, "pid=%s", pidp);
    snprintf(a_mode, sizeof a_mode, "mode=%s", mode);
    struct run r;
    if (!launch(&r, NULL, a_pid, a_mode, (char *)NULL) || r.status != 0) {
        fprintf(stderr, "    launcher exit %d: %s\n", r.status, r.err);
        return -1;
    }
    return read_pidfile(pidp);
}

static void second_instance(const char *mode) {
    char pidp[512], a_pid[600], a_mode[32], want[64];
    path_in_tmp(pidp, sizeof pidp, "d.pid");
    pid_t first = start_ready(mode, pidp);
    CHECK(first > 0);
    snprintf(a_pid, sizeof a_pid, "pid=%s", pidp);
    snprintf(a_mode, sizeof a_mode, "mode=%s", mode);
    struct run r;
    CHECK(launch(&r, NULL, a_pid, a_mode, (char *)NULL));
    CHECK_INT(r.status, ==, GRACEFD_EXIT_ALREADY_RUNNING);
    snprintf(want, sizeof want, "already running as pid %d", (int)first);
    CHECK_STR_CONTAINS(r.err, want);
    CHECK_STR_CONTAINS(r.err, "EEXIST");
    CHECK_INT(read_pidfile(pidp), ==, first);
    CHECK(kill(first, 0) == 0);
    kill(first, SIGKILL);
    CHECK(gone_within(first, 10000));
}

DTEST(daemon_second_instance_refused_fork) { second_instance("fork"); }

DTEST(daemon_second_instance_refused_reexec) { second_instance("reexec"); }

DTEST(daemon_stale_pid_file_taken_over) {
    char pidp[512];
    path_in_tmp(pidp, sizeof pidp, "d.pid");
    /* A pid file left by a dead instance: longer than the new content, unlocked. */
    FILE *f = fopen(pidp, "w");
    CHECK(f != NULL);
    fputs("2147483000\n", f);
    fclose(f);
    pid_t p = start_ready("fork", pidp);
    CHECK(p > 0);
    char buf[64];
    snprintf(buf, sizeof buf, "%d\n", (int)p);
    char got[64];
    CHECK(slurp(pidp, got, sizeof got) > 0);
    CHECK_MSG(strcmp(got, buf) == 0, "pid file holds \"%s\", want \"%s\"", got, buf);
    kill(p, SIGKILL);
    CHECK(gone_within(p, 10000));
}

DTEST(daemon_symlinked_pid_file_refused) {
    char pidp[512], target[512], a_pid[600], got[64];
    path_in_tmp(pidp, sizeof pidp, "d.pid");
    path_in_tmp(target, sizeof target, "elsewhere");
    FILE *f = fopen(target, "w");
    CHECK(f != NULL);
    fputs("precious\n", f);
    fclose(f);
    CHECK(symlink(target, pidp) == 0);
    snprintf(a_pid, sizeof a_pid, "pid=%s", pidp);
    struct run r;
    CHECK(launch(&r, NULL, a_pid, (char *)NULL));
    CHECK_INT(r.status, ==, 99);
    CHECK_STR_CONTAINS(r.err, "ELOOP");
    CHECK_STR_CONTAINS(r.err, "is a symbolic link");
    CHECK(slurp(target, got, sizeof got) > 0 && strcmp(got, "precious\n") == 0);
}

DTEST(daemon_foreign_pid_file_refused) {
    if (geteuid() != 0) return; /* needs chown */
    char pidp[512], a_pid[600];
    path_in_tmp(pidp, sizeof pidp, "d.pid");
    int fd = open(pidp, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK(fchown(fd, 65534, 65534) == 0);
    close(fd);
    snprintf(a_pid, sizeof a_pid, "pid=%s", pidp);
    struct run r;
    CHECK(launch(&r, NULL, a_pid, (char *)NULL));
    CHECK_INT(r.status, ==, 99);
    CHECK_STR_CONTAINS(r.err, "belongs to uid 65534");
}

static void fail_reported(const char *mode) {
    char a_mode[32];
    snprintf(a_mode, sizeof a_mode, "mode=%s", mode);
    struct run r;
    CHECK(launch(&r, NULL, a_mode, "then=fail", (char *)NULL));
    CHECK_INT(r.status, ==, 3);
    CHECK_STR_CONTAINS(r.err, "ffi-tests: port 80 is taken");
}

DTEST(daemon_fail_message_and_status_fork) { fail_reported("fork"); }

DTEST(daemon_fail_message_and_status_reexec) { fail_reported("reexec"); }

static void death_reported(const char *mode, const char *then, const char *want) {
    char a_mode[32], a_then[32], pidp[512], a_pid[600];
    path_in_tmp(pidp, sizeof pidp, "d.pid");
    snprintf(a_pid, sizeof a_pid, "pid=%s", pidp);
    snprintf(a_mode, sizeof a_mode, "mode=%s", mode);
    snprintf(a_then, sizeof a_then, "then=%s", then);
    struct run r;
    CHECK(launch(&r, NULL, a_pid, a_mode, a_then, (char *)NULL));
    CHECK_INT(r.status, ==, GRACEFD_EXIT_DIED);
    CHECK_STR_CONTAINS(r.err, want);
    CHECK_STR_CONTAINS(r.err, "before it was ready");
    pid_t p = read_pidfile(pidp);
    CHECK(p > 0);
    char pidmsg[64];
    snprintf(pidmsg, sizeof pidmsg, "(pid %d)", (int)p);
    CHECK_STR_CONTAINS(r.err, pidmsg);
    CHECK(gone_within(p, 10000));
}

DTEST(daemon_crash_reported_fork) { death_reported("fork", "segv", "killed by signal 11 (SIGSEGV)"); }

DTEST(daemon_abort_reported_reexec) { death_reported("reexec", "abort", "killed by signal 6 (SIGABRT)"); }

DTEST(daemon_exit_reported) { death_reported("fork", "exit7", "exited with status 7"); }

static void timeout_kills(const char *mode) {
    char a_mode[32], pidp[512], a_pid[600];
    path_in_tmp(pidp, sizeof pidp, "d.pid");
    snprintf(a_pid, sizeof a_pid, "pid=%s", pidp);
    snprintf(a_mode, sizeof a_mode, "mode=%s", mode);
    struct run r;
    CHECK(launch(&r, NULL, a_pid, a_mode, "then=hang", "timeout=300", (char *)NULL));
    CHECK_INT(r.status, ==, GRACEFD_EXIT_TIMEOUT);
    CHECK_STR_CONTAINS(r.err, "was not ready within 300 ms; it was killed");
    pid_t p = read_pidfile(pidp);
    CHECK(p > 0);
    /* Killed and reaped by the time the launcher exited. */
    CHECK_MSG(kill(p, 0) < 0 && errno == ESRCH, "daemon %d still exists", (int)p);
}

DTEST(daemon_timeout_kills_fork) { timeout_kills("fork"); }

DTEST(daemon_timeout_kills_reexec) { timeout_kills("reexec"); }

DTEST(daemon_nothing_buffered_is_written_twice) {
    char logp[512], a_log[600], logbuf[1024];
    path_in_tmp(logp, sizeof logp, "d.log");
    snprintf(a_log, sizeof a_log, "log=%s", logp);
    struct run r;
    CHECK(launch(&r, NULL, a_log, "mode=fork", "buffered=1", "then=exit7", (char *)NULL));
    CHECK_INT(r.status, ==, GRACEFD_EXIT_DIED);
    char *first = strstr(r.out, "buffered-before-daemonize");
    CHECK(first != NULL);
    CHECK(strstr(first + 1, "buffered-before-daemonize") == NULL);
    CHECK(slurp(logp, logbuf, sizeof logbuf) >= 0);
    CHECK_MSG(strstr(logbuf, "buffered-before") == NULL, "the log got the launcher's buffer: %s", logbuf);
}

DTEST(daemon_unknown_user_refused_before_anything) {
    char pidp[512], a_pid[600];
    path_in_tmp(pidp, sizeof pidp, "d.pid");
    snprintf(a_pid, sizeof a_pid, "pid=%s", pidp);
    struct run r;
    CHECK(launch(&r, NULL, a_pid, "user=no-such-user-gracefd", (char *)NULL));
    CHECK_INT(r.status, ==, 99);
    CHECK_STR_CONTAINS(r.err, "user \"no-such-user-gracefd\" does not exist");
    struct stat st;
    CHECK(stat(pidp, &st) < 0 && errno == ENOENT);
}

DTEST(daemon_missing_workdir_refused) {
    struct run r;
    CHECK(launch(&r, NULL, "workdir=/no/such/dir", (char *)NULL));
    CHECK_INT(r.status, ==, 99);
    CHECK_STR_CONTAINS(r.err, "working directory \"/no/such/dir\"");
    CHECK_STR_CONTAINS(r.err, "ENOENT");
}
/* ---- the re-exec marker is honoured only when LISTEN_PID names the process ---- */

struct marker_env {
    int sock;          /* placed at fd 3 as GRACEFD_READY_FD */
    const char *plan;  /* GRACEFD_DAEMON */
    int listen_pid_ok; /* LISTEN_PID = the child's own pid, or 1 */
};

static void set_marker(void *arg) {
    struct marker_env *m = arg;
    char pid[32];
    snprintf(pid, sizeof pid, "%d", m->listen_pid_ok ? (int)getpid() : 1);
    dup2(m->sock, 3);
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "0", 1);
    setenv("GRACEFD_READY_FD", "3", 1);
    setenv("GRACEFD_DAEMON", m->plan, 1);
}

DTEST(daemon_bad_marker_reported_to_the_launcher) {
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    struct marker_env m = {sv[1], "in=77,out=78,err=78,dir=79,umask=18", 1};
    struct launch_opts lo = {0, set_marker, &m, 1};
    struct run r;
    CHECK(launch(&r, &lo, (char *)NULL));
    close(sv[1]);
    /* The role's daemonize() failed (it is the re-executed side, with fds missing)... */
    CHECK_INT(r.status, ==, 99);
    CHECK_STR_CONTAINS(r.err, "GRACEFD_DAEMON");
    /* ...and told whoever waits: a Failed frame with GRACEFD_EXIT_SETUP. */
    unsigned char f[256];
    ssize_t n = recv(sv[0], f, sizeof f, MSG_DONTWAIT);
    close(sv[0]);
    CHECK(n >= 9 && memcmp(f, "GFD1", 4) == 0 && f[4] == 2);
    int32_t st = (int32_t)((uint32_t)f[5] | (uint32_t)f[6] << 8 | (uint32_t)f[7] << 16 | (uint32_t)f[8] << 24);
    CHECK_INT(st, ==, GRACEFD_EXIT_SETUP);
    f[n < (ssize_t)sizeof f ? n : (ssize_t)sizeof f - 1] = 0;
    CHECK_STR_CONTAINS((char *)f + 9, "is not an open fd");
}

/* The plan's fds are made CLOEXEC before main (so a child the program
 * starts first does not inherit them); the plan itself is checked, and its
 * error reported, by the program's daemonize call. */
static void place_plan_fd(void *arg) {
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    int f = open("/dev/null", O_RDONLY); /* without O_CLOEXEC */
    if (f >= 0 && f != 3) {
        dup2(f, 3);
        close(f);
    }
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "0", 1);
    setenv("GRACEFD_DAEMON", arg, 1);
}

DTEST(daemon_marker_fds_cloexec_before_main) {
    struct launch_opts lo = {0, place_plan_fd, "in=3,out=3,err=3,dir=3,umask=18", 1};
    struct run r;
    CHECK(launch(&r, &lo, "cloexec=3", (char *)NULL));
    CHECK_STR_CONTAINS(r.err, "fd 3 cloexec=1");
    CHECK_INT(r.status, ==, 99);
    CHECK_STR_CONTAINS(r.err, "dir=3 is not a directory");
}

DTEST(daemon_marker_ignored_unless_listen_pid_is_ours) {
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    char pidp[512], a_pid[600];
    path_in_tmp(pidp, sizeof pidp, "d.pid");
    snprintf(a_pid, sizeof a_pid, "pid=%s", pidp);
    struct marker_env m = {sv[1], "in=77,out=78,err=78,dir=79,umask=18", 0};
    struct launch_opts lo = {0, set_marker, &m, 1};
    struct run r;
    /* Not for it: the role daemonizes normally, as a launcher. */
    CHECK(launch(&r, &lo, a_pid, "mode=fork", (char *)NULL));
    close(sv[1]);
    close(sv[0]);
    CHECK_MSG(r.status == 0, "launcher exit %d: %s", r.status, r.err);
    pid_t p = read_pidfile(pidp);
    CHECK(p > 0 && p != r.pid);
    kill(p, SIGKILL);
    CHECK(gone_within(p, 10000));
}

TEST(daemon_options_checked) {
    gracefd_daemon_opts *o = gracefd_daemon_opts_new();
    CHECK(o != NULL);
    CHECK_INT(gracefd_daemon_opts_set_umask(o, 01000), ==, -EINVAL);
    CHECK_STR_CONTAINS(gracefd_last_error(), "umask 1000");
    CHECK_INT(gracefd_daemon_opts_set_mode(o, 7), ==, -EINVAL);
    CHECK_INT(gracefd_daemon_opts_set_timeout_ms(o, 0), ==, -EINVAL);
    CHECK_INT(gracefd_daemon_opts_set_pid_file(o, ""), ==, -EINVAL);
    CHECK_INT(gracefd_daemon_opts_set_workdir(o, NULL), ==, -EINVAL);
    CHECK_INT(gracefd_daemon_opts_set_user(o, ""), ==, -EINVAL);
    CHECK_INT(gracefd_daemon_opts_set_pid_file(o, NULL), ==, 0);
    CHECK_INT(gracefd_daemon_opts_set_log_file(o, NULL), ==, 0);
    CHECK_INT(gracefd_daemon_opts_set_umask(NULL, 022), ==, -EINVAL);
    CHECK_INT(gracefd_daemon_opts_set_nofile(o, UINT64_MAX, 0), ==, 0);
    CHECK_INT(gracefd_daemon_opts_set_mode(o, GRACEFD_DAEMON_REEXEC), ==, 0);
    gracefd_daemon_opts_free(o);
    gracefd_daemon_opts_free(NULL);
    CHECK_INT(gracefd_daemon_pending(), ==, 0);
}
