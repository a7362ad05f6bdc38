/* Daemonize: what the daemon is once detached, in every mode (session, no
 * terminal, umask, working directory, stdio, signals, pid file, limits, user),
 * and across an upgrade. Refusals and failures: t_daemon_reports.c; pid files
 * alone: t_pidfile.c.
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
#include "daemon_helpers.h"

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
 *   cloexec=FD (first, before any library call: "fd FD cloexec=0|1|-1" to stderr)
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
        else if (!strcmp(a, "cloexec")) {
            int f = fcntl(atoi(v), F_GETFD);
            fprintf(stderr, "fd %d cloexec=%d\n", atoi(v), f < 0 ? -1 : (f & FD_CLOEXEC) != 0);
        }
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

    gracefd_daemon_opts *o = gracefd_daemon_opts_new();
    if (!o) return 96;
    if (pid && gracefd_daemon_opts_set_pid_file(o, pid) < 0) return 95;
    if (log && gracefd_daemon_opts_set_log_file(o, log) < 0) return 95;
    if (workdir && gracefd_daemon_opts_set_workdir(o, workdir) < 0) return 95;
    if (user && gracefd_daemon_opts_set_user(o, user) < 0) return 95;
    if (group && gracefd_daemon_opts_set_group(o, group) < 0) return 95;
    if (umask_v >= 0 && gracefd_daemon_opts_set_umask(o, (uint32_t)umask_v) < 0) return 95;
    if (nofile && gracefd_daemon_opts_set_nofile(o, soft, hard) < 0) return 95;
    if (timeout && gracefd_daemon_opts_set_timeout_ms(o, timeout) < 0) return 95;
    if (mode >= 0 && gracefd_daemon_opts_set_mode(o, mode) < 0) return 95;
    int r = gracefd_daemonize(o);
    gracefd_daemon_opts_free(o);
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
    /* Detached: in a session it does not lead, no terminal. Its parent while
     * the launcher waits is the launcher itself, in both modes (the middle
     * process starts it as its sibling and leaves, so the launcher sees how
     * it dies); the report is written after gracefd_ready(), so the launcher
     * may be gone and the daemon ours. */
    CHECK(report_num(rep, "ppid") == r.pid || report_num(rep, "ppid") == getpid());
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
