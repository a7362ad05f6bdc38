/* Daemonize and pid files.
 *
 * The test binary re-runs itself as the program that daemonizes (ROLE
 * "daemon"): the test forks and execs the launcher with its stdout/stderr on
 * pipes, waits for it, and inspects the daemon through a report the daemon
 * writes into the test's private directory after gracefd_ready(), by pid
 * (from the pid file) and through /proc.
 *
 * Each test makes itself a child subreaper, so once a daemon's middle
 * process has left, the daemon is re-parented to the test, which kills and
 * reaps it by pid. DTEST bodies always end with cleanup_children(), even when
 * a CHECK fails.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gracefd.h"
#include "harness.h"

/* ---- small helpers ---------------------------------------------------------- */

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *path_in_tmp(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", harness_tmpdir(), name);
    return buf;
}

/* Read a whole small file into buf (NUL-terminated); -1 if it cannot be opened. */
static ssize_t slurp(const char *path, char *buf, size_t n) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t got = 0;
    while (got + 1 < n) {
        ssize_t r = read(fd, buf + got, n - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    buf[got] = 0;
    close(fd);
    return (ssize_t)got;
}

static pid_t read_pidfile(const char *path) {
    char buf[64];
    if (slurp(path, buf, sizeof buf) <= 0) return -1;
    return (pid_t)atol(buf);
}

/* "key=value\n" lines: copy the value of key into out (or "" if absent). */
static const char *report_get(const char *report, const char *key, char *out, size_t n) {
    size_t kl = strlen(key);
    out[0] = 0;
    for (const char *p = report; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            size_t vl = len - kl - 1;
            if (vl >= n) vl = n - 1;
            memcpy(out, p + kl + 1, vl);
            out[vl] = 0;
            return out;
        }
        p = eol ? eol + 1 : NULL;
    }
    return out;
}

static long long report_num(const char *report, const char *key) {
    char v[64];
    report_get(report, key, v, sizeof v);
    return v[0] ? atoll(v) : -1;
}

/* Wait (bounded) until the daemon's report is complete. */
static int wait_report(const char *path, char *buf, size_t n) {
    long long end = now_ms() + 15000;
    while (now_ms() < end) {
        if (slurp(path, buf, n) > 0 && strstr(buf, "end=1\n")) return 1;
        sleep_ms(2);
    }
    return 0;
}

/* Whether pid is gone, waiting up to ms. Reaps it if it is our child. */
static int gone_within(pid_t pid, int ms) {
    long long end = now_ms() + ms;
    for (;;) {
        waitpid(pid, NULL, WNOHANG);
        if (kill(pid, 0) < 0 && errno == ESRCH) return 1;
        if (now_ms() >= end) return 0;
        sleep_ms(2);
    }
}

/* Kill and reap every child of this test (daemons are re-parented to us, the
 * subreaper, once their middle process is gone), until none is left. */
static void cleanup_children(void) {
    for (int round = 0; round < 200; round++) {
        char path[64], buf[4096];
        snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
        ssize_t n = slurp(path, buf, sizeof buf);
        int any = 0;
        for (char *p = buf; n > 0 && *p;) {
            char *endp;
            long c = strtol(p, &endp, 10);
            if (endp == p) break;
            p = endp;
            if (c > 0) {
                any = 1;
                kill((pid_t)c, SIGKILL);
                waitpid((pid_t)c, NULL, 0);
            }
        }
        /* Grandchildren whose parent we just killed come to us shortly. */
        while (waitpid(-1, NULL, WNOHANG) > 0) any = 1;
        if (!any && round > 2) return;
        sleep_ms(5);
    }
}

#define DTEST(name)                                                            \
    static void body_##name(void);                                             \
    TEST(name) {                                                               \
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);                             \
        body_##name();                                                         \
        cleanup_children();                                                    \
    }                                                                          \
    static void body_##name(void)

/* ---- running the launcher ----------------------------------------------------- */

struct run {
    pid_t pid;    /* the launcher */
    int status;   /* its exit status, or 128+signal, or -1 if it had to be killed */
    char out[4096];
    char err[4096];
};

struct launch_opts {
    int pty;                  /* give the launcher a controlling terminal (stdin) */
    void (*in_child)(void *); /* called in the child before exec */
    void *arg;
    int keep_fd3;             /* in_child placed something at fd 3 on purpose */
};

/* Start `ffi-tests --role daemon ARGS...` (NULL-terminated) and wait for it,
 * collecting stdout and stderr. 1 if it finished, 0 on a harness problem. */
static int launch_v(struct run *r, const struct launch_opts *lo, va_list ap) {
    const char *argv[64];
    int argc = 0;
    argv[argc++] = harness_self();
    argv[argc++] = "--role";
    argv[argc++] = "daemon";
    for (const char *a; argc < 63 && (a = va_arg(ap, const char *)) != NULL;) argv[argc++] = a;
    argv[argc] = NULL;

    memset(r, 0, sizeof *r);
    r->status = -1;
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) return 0;
    int master = -1;
    char slave[128] = "";
    if (lo && lo->pty) {
        master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, slave, sizeof slave) != 0) {
            /* No ptys here (a bare container): the daemon is still checked for
             * having no terminal, the launcher just has none to lose. */
            fprintf(stderr, "    note: no pty available (%s); launcher without a controlling terminal\n", strerror(errno));
            if (master >= 0) close(master);
            master = -1;
        }
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        if (master >= 0) {
            setsid();
            int s = open(slave, O_RDWR);
            if (s < 0 || ioctl(s, TIOCSCTTY, 0) < 0) _exit(126);
            dup2(s, 0);
        }
        dup2(po[1], 1);
        dup2(pe[1], 2);
        if (lo && lo->in_child) lo->in_child(lo->arg);
        /* A clean slate: nothing but 0-2 (and what in_child placed at 3 on purpose). */
        close_range((lo && lo->keep_fd3) ? 4 : 3, ~0U, 0);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    r->pid = pid;
    close(po[1]);
    close(pe[1]);
    size_t no = 0, ne = 0;
    int open_o = 1, open_e = 1;
    long long end = now_ms() + 30000;
    while ((open_o || open_e) && now_ms() < end) {
        struct pollfd p[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
        if (poll(p, 2, 100) < 0 && errno != EINTR) break;
        if (open_o && p[0].revents) {
            ssize_t k = read(po[0], r->out + no, sizeof r->out - 1 - no);
            if (k <= 0) open_o = 0; else no += (size_t)k;
        }
        if (open_e && p[1].revents) {
            ssize_t k = read(pe[0], r->err + ne, sizeof r->err - 1 - ne);
            if (k <= 0) open_e = 0; else ne += (size_t)k;
        }
    }
    close(po[0]);
    close(pe[0]);
    int st = 0;
    while (now_ms() < end) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        sleep_ms(2);
    }
    if (r->status < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (master >= 0) close(master);
    return r->status >= 0;
}

static int launch(struct run *r, const struct launch_opts *lo, ...) {
    va_list ap;
    va_start(ap, lo);
    int ok = launch_v(r, lo, ap);
    va_end(ap);
    return ok;
}

/* ---- the role: a program that daemonizes ---------------------------------------- */

static void *idle_thread(void *arg) {
    (void)arg;
    for (;;) pause();
    return NULL;
}

static void field(int fd, const char *key, const char *fmt, ...) {
    char v[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    dprintf(fd, "%s=%s\n", key, v);
}

static void status_line(int fd, const char *key) {
    char buf[8192], *p;
    if (slurp("/proc/self/status", buf, sizeof buf) < 0) return;
    size_t kl = strlen(key);
    for (p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
            char *v = p + kl + 1;
            while (*v == ' ' || *v == '\t') v++;
            char *e = strchr(v, '\n');
            field(fd, key, "%.*s", (int)(e ? e - v : (long)strlen(v)), v);
            return;
        }
    }
}

/* Everything the tests check about the daemon, as key=value lines. */
static void write_report(int fd) {
    char buf[4096];
    field(fd, "pid", "%d", (int)getpid());
    field(fd, "ppid", "%d", (int)getppid());
    field(fd, "sid", "%d", (int)getsid(0));
    field(fd, "pgid", "%d", (int)getpgrp());
    if (slurp("/proc/self/stat", buf, sizeof buf) > 0) {
        /* After the ")" closing comm: state ppid pgrp session tty_nr ... */
        char *p = strrchr(buf, ')');
        char state;
        int ppid, pgrp, sess, tty;
        if (p && sscanf(p + 1, " %c %d %d %d %d", &state, &ppid, &pgrp, &sess, &tty) == 5) field(fd, "tty_nr", "%d", tty);
    }
    int t = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    field(fd, "devtty_errno", "%d", t < 0 ? errno : 0);
    if (t >= 0) close(t);
    status_line(fd, "Umask");
    status_line(fd, "SigBlk");
    status_line(fd, "SigIgn");
    status_line(fd, "Threads");
    if (getcwd(buf, sizeof buf)) field(fd, "cwd", "%s", buf);
    for (int i = 0; i < 3; i++) {
        struct stat st;
        char k[16];
        snprintf(k, sizeof k, "fd%d", i);
        if (fstat(i, &st) == 0) field(fd, k, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
        else field(fd, k, "closed");
    }
    /* Every other open fd, with what it is. */
    DIR *d = opendir("/proc/self/fd");
    int nother = 0;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            int n = atoi(e->d_name);
            if (e->d_name[0] == '.' || n < 3 || n == fd || n == dirfd(d)) continue;
            char link[64], target[512];
            snprintf(link, sizeof link, "/proc/self/fd/%d", n);
            ssize_t k = readlink(link, target, sizeof target - 1);
            target[k > 0 ? k : 0] = 0;
            dprintf(fd, "otherfd=%d:%s\n", n, target);
            nother++;
        }
        closedir(d);
    }
    field(fd, "nother", "%d", nother);
    field(fd, "uid", "%d", (int)getuid());
    field(fd, "euid", "%d", (int)geteuid());
    field(fd, "gid", "%d", (int)getgid());
    field(fd, "egid", "%d", (int)getegid());
    gid_t groups[64];
    int ng = getgroups(64, groups);
    char gl[512] = "";
    for (int i = 0; i < ng; i++) snprintf(gl + strlen(gl), sizeof gl - strlen(gl), "%s%d", i ? "," : "", (int)groups[i]);
    field(fd, "groups", "%s", gl);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    field(fd, "nofile_soft", "%llu", (unsigned long long)rl.rlim_cur);
    field(fd, "nofile_hard", "%llu", (unsigned long long)rl.rlim_max);
    field(fd, "reexec", "%d", getenv("GRACEFD_DAEMON") != NULL);
    field(fd, "generation", "%d", gracefd_generation());
    dprintf(fd, "end=1\n");
}

/* ffi-tests --role daemon key=value...
 *   report= pid= log= workdir= user= group= mode=fork|reexec|auto umask=OCTAL
 *   nofile=SOFT:HARD timeout=MS threads=N block=1 buffered=1
 *   then=ready|fail|segv|abort|exit7|hang|upgrade */
ROLE(daemon) {
    const char *report = NULL, *pid = NULL, *log = NULL, *workdir = NULL, *user = NULL, *group = NULL, *then = "ready";
    int mode = -1, umask_v = -1, threads = 0, block = 0, buffered = 0, nofile = 0;
    long long timeout = 0;
    unsigned long long soft = 0, hard = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i], *v = strchr(a, '=');
        if (!v) return 98;
        *v++ = 0;
        if (!strcmp(a, "report")) report = v;
        else if (!strcmp(a, "pid")) pid = v;
        else if (!strcmp(a, "log")) log = v;
        else if (!strcmp(a, "workdir")) workdir = v;
        else if (!strcmp(a, "user")) user = v;
        else if (!strcmp(a, "group")) group = v;
        else if (!strcmp(a, "then")) then = v;
        else if (!strcmp(a, "threads")) threads = atoi(v);
        else if (!strcmp(a, "block")) block = atoi(v);
        else if (!strcmp(a, "buffered")) buffered = atoi(v);
        else if (!strcmp(a, "timeout")) timeout = atoll(v);
        else if (!strcmp(a, "umask")) umask_v = (int)strtol(v, NULL, 8);
        else if (!strcmp(a, "nofile")) {
            nofile = 1;
            soft = strtoull(v, &v, 10);
            hard = *v == ':' ? strtoull(v + 1, NULL, 10) : 0;
        } else if (!strcmp(a, "mode"))
            mode = !strcmp(v, "fork") ? GRACEFD_DAEMON_FORK : !strcmp(v, "reexec") ? GRACEFD_DAEMON_REEXEC : GRACEFD_DAEMON_AUTO;
        else return 98;
    }
    for (int i = 0; i < threads; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, idle_thread, NULL) != 0) return 97;
    }
    if (block && !gracefd_daemon_pending()) {
        /* State the daemon must not inherit from the launcher. (In re-exec
         * mode the daemon runs this code again; only the launcher does it.) */
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGUSR1);
        sigprocmask(SIG_BLOCK, &s, NULL);
        signal(SIGHUP, SIG_IGN);
    }
    if (buffered) printf("buffered-before-daemonize\n"); /* stdout is a pipe: fully buffered */
    /* Opened before daemonize, so it is usable after a user switch. */
    int rep = report ? open(report, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;

    gracefd_daemon *o = gracefd_daemon_new();
    if (!o) return 96;
    if (pid && gracefd_daemon_set_pid_file(o, pid) < 0) return 95;
    if (log && gracefd_daemon_set_log_file(o, log) < 0) return 95;
    if (workdir && gracefd_daemon_set_workdir(o, workdir) < 0) return 95;
    if (user && gracefd_daemon_set_user(o, user) < 0) return 95;
    if (group && gracefd_daemon_set_group(o, group) < 0) return 95;
    if (umask_v >= 0 && gracefd_daemon_set_umask(o, (uint32_t)umask_v) < 0) return 95;
    if (nofile && gracefd_daemon_set_nofile(o, soft, hard) < 0) return 95;
    if (timeout && gracefd_daemon_set_timeout_ms(o, timeout) < 0) return 95;
    if (mode >= 0 && gracefd_daemon_set_mode(o, mode) < 0) return 95;
    int r = gracefd_daemonize(o);
    gracefd_daemon_free(o);
    if (r < 0) {
        fprintf(stderr, "daemonize: %s: %s\n", gracefd_strerror(r), gracefd_last_error());
        return r == -EEXIST ? GRACEFD_EXIT_ALREADY_RUNNING : 99;
    }

    /* ---- the daemon ---- */
    printf("daemon stdout line\n");
    fflush(stdout);
    fprintf(stderr, "daemon stderr line\n");
    if (!strcmp(then, "fail")) {
        gracefd_fail(3, "port 80 is taken");
        return 3;
    }
    if (!strcmp(then, "segv")) raise(SIGSEGV);
    if (!strcmp(then, "abort")) abort();
    if (!strcmp(then, "exit7")) _exit(7);
    if (!strcmp(then, "hang"))
        for (;;) pause();
    if (!strcmp(then, "upgrade") && gracefd_generation() == 1) {
        /* Ready, then hand over to a new generation of ourselves and leave. */
        if (gracefd_ready() != 1) return 94;
        pid_t next;
        if (gracefd_upgrade(NULL, &next) < 0) {
            fprintf(stderr, "upgrade: %s\n", gracefd_last_error());
            _exit(93);
        }
        /* The pid file names the new generation now: left alone. */
        _exit(gracefd_pidfile_remove() == 0 ? 0 : 92);
    }
    if (gracefd_ready() != 1) return 94;
    if (rep >= 0) {
        /* A new generation that (re)claims the pid file it inherited: just rewrites it. */
        if (pid && gracefd_generation() > 1) dprintf(rep, "pidfile_create_again=%d\n", gracefd_pidfile_create(pid));
        write_report(rep);
        close(rep);
    }
    for (;;) pause();
}

/* ---- checks shared by the property tests ------------------------------------------ */

static int same_file(const char *report, const char *key, const char *path) {
    struct stat st;
    char want[64], got[64];
    if (stat(path, &st) != 0) return 0;
    snprintf(want, sizeof want, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    report_get(report, key, got, sizeof got);
    return strcmp(want, got) == 0;
}

static void check_properties(const char *mode, int threads, int expect_reexec) {
    char pidp[512], logp[512], repp[512], thr[16], rep[8192], v[512];
    path_in_tmp(pidp, sizeof pidp, "d.pid");
    path_in_tmp(logp, sizeof logp, "d.log");
    path_in_tmp(repp, sizeof repp, "report");
    snprintf(thr, sizeof thr, "threads=%d", threads);
    char a_pid[600], a_log[600], a_rep[600], a_wd[600], a_mode[32];
    snprintf(a_pid, sizeof a_pid, "pid=%s", pidp);
    snprintf(a_log, sizeof a_log, "log=%s", logp);
    snprintf(a_rep, sizeof a_rep, "report=%s", repp);
    snprintf(a_wd, sizeof a_wd, "workdir=%s", harness_tmpdir());
    snprintf(a_mode, sizeof a_mode, "mode=%s", mode);
    struct launch_opts lo = {1, NULL, NULL, 0};
    struct run r;
    umask(022);
    CHECK(launch(&r, &lo, a_pid, a_log, a_rep, a_wd, a_mode, thr, "umask=027", "block=1", (char *)NULL));
    CHECK_MSG(r.status == 0, "launcher exit %d, stderr: %s", r.status, r.err);
    CHECK_MSG(r.err[0] == 0, "launcher stderr not empty: %s", r.err);
    CHECK(wait_report(repp, rep, sizeof rep));
    pid_t dpid = (pid_t)report_num(rep, "pid");
    CHECK(dpid > 0);
    /* The pid file names the daemon, and it is locked. */
    CHECK_INT(read_pidfile(pidp), ==, dpid);
    int pf = open(pidp, O_RDONLY | O_CLOEXEC);
    CHECK(pf >= 0);
    CHECK(flock(pf, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK);
    close(pf);
    /* Detached: not the launcher's child, in a session it does not lead, no terminal. */
    CHECK(report_num(rep, "ppid") != r.pid);
    CHECK(report_num(rep, "sid") != dpid);
    CHECK(report_num(rep, "sid") != getsid(0));
    CHECK_INT(report_num(rep, "tty_nr"), ==, 0);
    CHECK_INT(report_num(rep, "devtty_errno"), ==, ENXIO);
    /* The middle process left when the launcher did: the daemon is ours now (subreaper). */
    long long end = now_ms() + 10000;
    char stat_path[64], st[512];
    snprintf(stat_path, sizeof stat_path, "/proc/%d/stat", (int)dpid);
    int reparented = 0;
    while (!reparented && now_ms() < end) {
        int ppid = -1;
        char *p;
        if (slurp(stat_path, st, sizeof st) > 0 && (p = strrchr(st, ')')) != NULL) sscanf(p + 2, "%*c %d", &ppid);
        reparented = ppid == getpid();
        if (!reparented) sleep_ms(2);
    }
    CHECK_MSG(reparented, "daemon %d was not re-parented to the test", (int)dpid);
    /* umask, cwd, stdio. */
    CHECK(strcmp(report_get(rep, "Umask", v, sizeof v), "0027") == 0);
    CHECK(strcmp(report_get(rep, "cwd", v, sizeof v), harness_tmpdir()) == 0);
    CHECK(same_file(rep, "fd0", "/dev/null"));
    CHECK(same_file(rep, "fd1", logp));
    CHECK(same_file(rep, "fd2", logp));
    /* Nothing else open but the pid file. */
    CHECK_MSG(report_num(rep, "nother") == 1, "other fds: %s", rep);
    report_get(rep, "otherfd", v, sizeof v);
    CHECK_STR_CONTAINS(v, pidp);
    /* Signals: empty mask, default dispositions. */
    CHECK(strcmp(report_get(rep, "SigBlk", v, sizeof v), "0000000000000000") == 0);
    CHECK(strcmp(report_get(rep, "SigIgn", v, sizeof v), "0000000000000000") == 0);
    CHECK_INT(report_num(rep, "reexec"), ==, expect_reexec);
    /* The log got the daemon's stdout and stderr, and was created 0640. */
    char logbuf[1024];
    CHECK(slurp(logp, logbuf, sizeof logbuf) > 0);
    CHECK_STR_CONTAINS(logbuf, "daemon stdout line");
    CHECK_STR_CONTAINS(logbuf, "daemon stderr line");
    struct stat ls;
    CHECK(stat(logp, &ls) == 0 && (ls.st_mode & 0777) == 0640);
    kill(dpid, SIGKILL);
    CHECK(gone_within(dpid, 10000));
}

DTEST(daemon_fork_mode_detaches_properly) { check_properties("fork", 0, 0); }

DTEST(daemon_reexec_mode_from_four_threads) { check_properties("reexec", 4, 1); }

DTEST(daemon_auto_forks_when_single_threaded) { check_properties("auto", 0, 0); }

DTEST(daemon_auto_reexecs_when_threaded) { check_properties("auto", 4, 1); }

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

static void lower_nofile(void *arg) {
    struct rlimit *want = arg;
    setrlimit(RLIMIT_NOFILE, want);
}

/* Whether this process may raise hard limits (CAP_SYS_RESOURCE, bit 24). */
static int may_raise_hard_limits(void) {
    char buf[8192], v[64];
    if (slurp("/proc/self/status", buf, sizeof buf) < 0) return 0;
    char *p = strstr(buf, "CapEff:");
    if (!p || sscanf(p + 7, " %63s", v) != 1) return 0;
    return (strtoull(v, NULL, 16) >> 24) & 1;
}

static void nofile_raised(const char *mode) {
    char repp[512], a_rep[600], a_mode[32], rep[8192];
    path_in_tmp(repp, sizeof repp, "report");
    snprintf(a_rep, sizeof a_rep, "report=%s", repp);
    snprintf(a_mode, sizeof a_mode, "mode=%s", mode);
    struct rlimit cur;
    CHECK(getrlimit(RLIMIT_NOFILE, &cur) == 0);
    CHECK(cur.rlim_max >= 2048);
    /* The launcher starts with low limits, as if inherited from a careless parent. */
    struct rlimit low = {64, 2048};
    struct launch_opts lo = {0, lower_nofile, &low, 0};
    struct run r;
    CHECK(launch(&r, &lo, a_rep, a_mode, "nofile=4096:4096", (char *)NULL));
    CHECK_MSG(r.status == 0, "launcher exit %d: %s", r.status, r.err);
    CHECK(wait_report(repp, rep, sizeof rep));
    /* The hard limit rises only when allowed; the soft one up to the hard one. */
    long long hard = may_raise_hard_limits() ? 4096 : 2048;
    CHECK_INT(report_num(rep, "nofile_hard"), ==, hard);
    CHECK_INT(report_num(rep, "nofile_soft"), ==, hard);
    kill((pid_t)report_num(rep, "pid"), SIGKILL);
}

DTEST(daemon_rlimit_nofile_raised_fork) { nofile_raised("fork"); }

DTEST(daemon_rlimit_nofile_raised_reexec) { nofile_raised("reexec"); }

static void user_switched(const char *mode, const char *user, const char *group) {
    if (geteuid() != 0) return; /* only root may switch */
    struct passwd *pw = getpwnam("nobody");
    struct group *gr = getgrnam("nogroup");
    CHECK_MSG(pw && gr, "this machine has no nobody/nogroup");
    char pidp[512], logp[512], repp[512], rep[8192], a_pid[600], a_log[600], a_rep[600], a_mode[32], a_user[64],
        a_group[64];
    path_in_tmp(pidp, sizeof pidp, "d.pid");
    path_in_tmp(logp, sizeof logp, "d.log");
    path_in_tmp(repp, sizeof repp, "report");
    snprintf(a_pid, sizeof a_pid, "pid=%s", pidp);
    snprintf(a_log, sizeof a_log, "log=%s", logp);
    snprintf(a_rep, sizeof a_rep, "report=%s", repp);
    snprintf(a_mode, sizeof a_mode, "mode=%s", mode);
    snprintf(a_user, sizeof a_user, "user=%s", user);
    snprintf(a_group, sizeof a_group, "group=%s", group ? group : "");
    struct run r;
    if (group)
        CHECK(launch(&r, NULL, a_pid, a_log, a_rep, a_mode, a_user, a_group, (char *)NULL));
    else
        CHECK(launch(&r, NULL, a_pid, a_log, a_rep, a_mode, a_user, (char *)NULL));
    CHECK_MSG(r.status == 0, "launcher exit %d: %s", r.status, r.err);
    CHECK(wait_report(repp, rep, sizeof rep));
    gid_t want_gid = group ? gr->gr_gid : pw->pw_gid;
    CHECK_INT(report_num(rep, "uid"), ==, pw->pw_uid);
    CHECK_INT(report_num(rep, "euid"), ==, pw->pw_uid);
    CHECK_INT(report_num(rep, "gid"), ==, want_gid);
    CHECK_INT(report_num(rep, "egid"), ==, want_gid);
    /* Supplementary groups as initgroups("nobody", gid) sets them. */
    gid_t g[64];
    int ng = 64;
    CHECK(getgrouplist("nobody", want_gid, g, &ng) >= 0);
    char want[512] = "", got[512];
    for (int i = 0; i < ng; i++) snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", i ? "," : "", (int)g[i]);
    report_get(rep, "groups", got, sizeof got);
    CHECK_MSG(strcmp(want, got) == 0, "groups %s, want %s", got, want);
    /* Files opened before the switch still work: the pid file holds the pid and
     * is locked, the log got the daemon's lines. */
    pid_t p = (pid_t)report_num(rep, "pid");
    CHECK_INT(read_pidfile(pidp), ==, p);
    int pf = open(pidp, O_RDONLY | O_CLOEXEC);
    CHECK(pf >= 0 && flock(pf, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK);
    close(pf);
    char logbuf[1024];
    CHECK(slurp(logp, logbuf, sizeof logbuf) > 0);
    CHECK_STR_CONTAINS(logbuf, "daemon stderr line");
    kill(p, SIGKILL);
    CHECK(gone_within(p, 10000));
}

DTEST(daemon_user_and_group_switch_fork) { user_switched("fork", "nobody", "nogroup"); }

DTEST(daemon_user_switch_by_number_reexec) { user_switched("reexec", "65534", NULL); }

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

/* A daemon upgrades itself: the new generation's gracefd_daemonize() changes
 * nothing (it inherited a daemon's state), and the pid file — lock and
 * content — follows it through GRACEFD_PIDFILE_FD. */
DTEST(daemon_upgrade_keeps_pid_file_and_detachment) {
    char pidp[512], repp[512], rep[8192], a_pid[600], a_rep[600];
    path_in_tmp(pidp, sizeof pidp, "d.pid");
    path_in_tmp(repp, sizeof repp, "report");
    snprintf(a_pid, sizeof a_pid, "pid=%s", pidp);
    snprintf(a_rep, sizeof a_rep, "report=%s", repp);
    struct run r;
    CHECK(launch(&r, NULL, a_pid, a_rep, "mode=fork", "then=upgrade", (char *)NULL));
    CHECK_MSG(r.status == 0, "launcher exit %d: %s", r.status, r.err);
    CHECK(wait_report(repp, rep, sizeof rep));
    CHECK_INT(report_num(rep, "generation"), ==, 2);
    CHECK_INT(report_num(rep, "pidfile_create_again"), ==, 0);
    pid_t p = (pid_t)report_num(rep, "pid");
    /* The old generation writes the new pid once the new one is ready. */
    long long end = now_ms() + 10000;
    while (read_pidfile(pidp) != p && now_ms() < end) sleep_ms(2);
    CHECK_INT(read_pidfile(pidp), ==, p);
    int pf = open(pidp, O_RDONLY | O_CLOEXEC);
    CHECK(pf >= 0 && flock(pf, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK);
    close(pf);
    CHECK(report_num(rep, "sid") != p);
    CHECK_INT(report_num(rep, "tty_nr"), ==, 0);
    CHECK_MSG(report_num(rep, "nother") == 1, "other fds: %s", rep);
    kill(p, SIGKILL);
    CHECK(gone_within(p, 10000));
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

/* ---- standalone pid files ------------------------------------------------------- */

/* ffi-tests --role pidfile PATH: create it, print the result, wait for stdin EOF, remove. */
ROLE(pidfile) {
    if (argc < 2) return 98;
    int r = gracefd_pidfile_create(argv[1]);
    printf("create=%d %s\n", r, r < 0 ? gracefd_last_error() : "");
    fflush(stdout);
    if (r < 0) return r == -EEXIST ? GRACEFD_EXIT_ALREADY_RUNNING : 99;
    char c;
    while (read(0, &c, 1) > 0) {
    }
    r = gracefd_pidfile_remove();
    printf("remove=%d\n", r);
    return 0;
}

static pid_t start_pidfile_role(const char *path, int *stdin_w, int *stdout_r) {
    int pi[2], po[2];
    if (pipe2(pi, O_CLOEXEC) < 0 || pipe2(po, O_CLOEXEC) < 0) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pi[0], 0);
        dup2(po[1], 1);
        execl(harness_self(), harness_self(), "--role", "pidfile", path, (char *)NULL);
        _exit(127);
    }
    close(pi[0]);
    close(po[1]);
    *stdin_w = pi[1];
    *stdout_r = po[0];
    return pid;
}

static int read_line(int fd, char *buf, size_t n) {
    size_t got = 0;
    long long end = now_ms() + 10000;
    while (got + 1 < n && now_ms() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t k = read(fd, buf + got, 1);
        if (k <= 0) break;
        if (buf[got++] == '\n') break;
    }
    buf[got] = 0;
    return (int)got;
}

static int wait_exit(pid_t pid) {
    long long end = now_ms() + 10000;
    int st;
    while (now_ms() < end) {
        if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        sleep_ms(2);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

DTEST(pidfile_create_lock_and_remove) {
    char pidp[512], line[256], want[64];
    path_in_tmp(pidp, sizeof pidp, "p.pid");
    int in1, out1, in2, out2;
    pid_t a = start_pidfile_role(pidp, &in1, &out1);
    CHECK(a > 0);
    read_line(out1, line, sizeof line);
    CHECK_STR_CONTAINS(line, "create=0");
    CHECK_INT(read_pidfile(pidp), ==, a);
    /* A second process is refused, naming the first. */
    pid_t b = start_pidfile_role(pidp, &in2, &out2);
    CHECK(b > 0);
    read_line(out2, line, sizeof line);
    close(in2);
    close(out2);
    CHECK_INT(wait_exit(b), ==, GRACEFD_EXIT_ALREADY_RUNNING);
    snprintf(want, sizeof want, "already running as pid %d", (int)a);
    CHECK_STR_CONTAINS(line, want);
    /* Clean exit of the holder removes it. */
    close(in1);
    read_line(out1, line, sizeof line);
    close(out1);
    CHECK_INT(wait_exit(a), ==, 0);
    CHECK_STR_CONTAINS(line, "remove=1");
    struct stat st;
    CHECK(stat(pidp, &st) < 0 && errno == ENOENT);
}

DTEST(pidfile_not_removed_when_it_names_another_process) {
    char pidp[512], line[256];
    path_in_tmp(pidp, sizeof pidp, "p.pid");
    int in1, out1;
    pid_t a = start_pidfile_role(pidp, &in1, &out1);
    CHECK(a > 0);
    read_line(out1, line, sizeof line);
    CHECK_STR_CONTAINS(line, "create=0");
    /* As after an upgrade: the file now names someone else. */
    FILE *f = fopen(pidp, "r+");
    CHECK(f != NULL);
    fputs("1\n", f);
    fclose(f);
    close(in1);
    read_line(out1, line, sizeof line);
    close(out1);
    CHECK_INT(wait_exit(a), ==, 0);
    CHECK_STR_CONTAINS(line, "remove=0");
    CHECK_INT(read_pidfile(pidp), ==, 1);
}

TEST(pidfile_arguments_checked) {
    CHECK_INT(gracefd_pidfile_create(NULL), ==, -EINVAL);
    CHECK_INT(gracefd_pidfile_create(""), ==, -EINVAL);
    CHECK_INT(gracefd_pidfile_remove(), ==, 0);
    char pidp[512], target[512];
    path_in_tmp(pidp, sizeof pidp, "l.pid");
    path_in_tmp(target, sizeof target, "t");
    CHECK(symlink(target, pidp) == 0);
    CHECK_INT(gracefd_pidfile_create(pidp), ==, -ELOOP);
    CHECK_STR_CONTAINS(gracefd_last_error(), "symbolic link");
}

TEST(daemon_options_checked) {
    gracefd_daemon *o = gracefd_daemon_new();
    CHECK(o != NULL);
    CHECK_INT(gracefd_daemon_set_umask(o, 01000), ==, -EINVAL);
    CHECK_STR_CONTAINS(gracefd_last_error(), "umask 1000");
    CHECK_INT(gracefd_daemon_set_mode(o, 7), ==, -EINVAL);
    CHECK_INT(gracefd_daemon_set_timeout_ms(o, 0), ==, -EINVAL);
    CHECK_INT(gracefd_daemon_set_pid_file(o, ""), ==, -EINVAL);
    CHECK_INT(gracefd_daemon_set_workdir(o, NULL), ==, -EINVAL);
    CHECK_INT(gracefd_daemon_set_user(o, ""), ==, -EINVAL);
    CHECK_INT(gracefd_daemon_set_pid_file(o, NULL), ==, 0);
    CHECK_INT(gracefd_daemon_set_log_file(o, NULL), ==, 0);
    CHECK_INT(gracefd_daemon_set_umask(NULL, 022), ==, -EINVAL);
    CHECK_INT(gracefd_daemon_set_nofile(o, UINT64_MAX, 0), ==, 0);
    CHECK_INT(gracefd_daemon_set_mode(o, GRACEFD_DAEMON_REEXEC), ==, 0);
    gracefd_daemon_free(o);
    gracefd_daemon_free(NULL);
    CHECK_INT(gracefd_daemon_pending(), ==, 0);
}
