/* Hand-off between unrelated processes: gracefd_handoff_serve/process/take
 * (the low-level gracefd_send_fds/gracefd_recv_fds: t_handoff_transfer.c;
 * hostile peers: t_handoff_hostile.c).
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
#include "handoff_helpers.h"

static int snap_before[FDCAP], snap_after[FDCAP];

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

static int load_keys(const char *path, struct key *keys, int cap, int *port) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    if (fscanf(f, "port %d\n", port) != 1) { fclose(f); return -1; }
    while (n < cap && fscanf(f, "%llu %llu\n", &keys[n].dev, &keys[n].ino) == 2) n++;
    fclose(f);
    return n;
}

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

/* Free fd numbers the "tight" old side keeps: the accepted connection, its
 * timer and the log file need a few; a chunk of 252 duplicates would not fit. */
#define TIGHT_FREE 24

/* Fill every free fd number below RLIMIT_NOFILE with /dev/null except `keep`
 * of them (the fillers stay open until the process exits). */
static int leave_free_fds(int keep) {
    static int filler[FDCAP];
    int n = 0;
    for (;;) {
        int f = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (f < 0) break;
        if (n == FDCAP) { close(f); return -1; }
        filler[n++] = f;
    }
    if (errno != EMFILE || n < keep) return -1;
    for (int i = 0; i < keep; i++) close(filler[--n]);
    return 0;
}

/* At exit, registered before the hand-off: libc runs exit handlers
 * last-registered first, so this one sees the nice value the library's
 * handler left, and exits with 20 plus it. */
static void exit_with_nice(void) {
    errno = 0;
    int n = getpriority(PRIO_PROCESS, 0);
    _exit(errno ? 99 : 20 + n);
}

/* argv: path n keys_file log_file flags ("gone": the path must be removed at
 * the end; "kept": it must still exist (a taker took it over); "chmod": make
 * the socket 0666 so that any uid can connect, to test SO_PEERCRED alone;
 * "long": 250-byte names, so the header alone overflows the socket buffer;
 * "quick": a 200 ms taker deadline; "nofile20000": serve under RLIMIT_NOFILE
 * 20,000 exactly; "tight": once serving, leave only TIGHT_FREE fd numbers
 * free below RLIMIT_NOFILE, fewer than one chunk of 252; "exitnice": start
 * at nice 0 and exit with 20 plus the nice value at exit; "noyield": the
 * exit yield turned off). */
ROLE(handoff_old) {
    if (argc < 6) return 100;
    const char *path = argv[1], *keys = argv[3], *logp = argv[4], *flags = argv[5];
    int n = atoi(argv[2]);
    static int fds[FDCAP];
    if (strstr(flags, "exitnice")) {
        setpriority(PRIO_PROCESS, 0, 0);
        if (getpriority(PRIO_PROCESS, 0) == 19) return 118; /* the change could not be seen */
        atexit(exit_with_nice);
        if (strstr(flags, "noyield") && gracefd_set_exit_yield(0) != 0) return 119;
    }
    if (strstr(flags, "nofile20000")) {
        struct rlimit r;
        if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_max < 20000) return 115;
        r.rlim_cur = 20000;
        if (setrlimit(RLIMIT_NOFILE, &r) != 0) return 116;
    } else {
        raise_nofile(65536);
    }
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
    if (strstr(flags, "quick") && gracefd_handoff_set_taker_timeout_ms(200) != 0) return 115;
    int ev = gracefd_event_fd();
    int hfd = gracefd_handoff_serve(path);
    if (ev < 0 || hfd < 0) {
        fprintf(stderr, "handoff_old: serve: %s\n", gracefd_last_error());
        return 107;
    }
    if (strstr(flags, "chmod") && chmod(path, 0666) < 0) return 108;
    if (strstr(flags, "tight") && leave_free_fds(TIGHT_FREE) < 0) return 117;
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

static struct key want_keys[FDCAP], got_keys[FDCAP];
static int fresh[FDCAP];

TEST(handoff_take_10000_fds_intact_then_old_drains) {
    /* The old side holds its registry (sent without duplicates). The taker holds what it took. Where the hard limit
     * is below that (no CAP_SYS_RESOURCE) the transfer is scaled to fit and
     * says so; handoff_send_recv_10000_fds_intact moves 10,000 either way. */
    rlim_t lim = raise_nofile(65536);
    int big = BIG;
    if (lim < (rlim_t)BIG + 252 + 200) {
        big = (int)(lim - 252 - 200);
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

/* The serving side once duplicated its whole registry before sending
 * (2 x N fds), so 10,000 fds could not be handed over under RLIMIT_NOFILE
 * 20,000. It now holds its N registry fds and no duplicates. */
TEST(handoff_take_exactly_10000_fds_under_rlimit_nofile_20000) {
    CHECK(raise_nofile(20000) >= 20000); /* the taker: 10,000 and its own */
    struct old o;
    CHECK(start_old(&o, BIG, "gone nofile20000") == 0);
    int r = gracefd_handoff_take(o.path, 30000);
    CHECK_MSG(r == BIG, "take: %d %s", r, gracefd_last_error());
    CHECK_INT(gracefd_ready(), ==, 1);
    CHECK_INT(wait_exit(o.pid, 20), ==, 0);
    CHECK_STR_CONTAINS(read_file(o.log), "took 10000 fds and is ready");
}

/* The serving side once duplicated each chunk of 252 registry fds as
 * it went, so it needed 252 free fd numbers; it now sends the registry's own
 * fds (checked under the registry lock), so a server with fewer free numbers
 * than a chunk still hands off every fd. */
TEST(handoff_serving_side_needs_no_free_fds_for_a_chunk) {
    raise_nofile(65536);
    struct old o;
    CHECK(start_old(&o, 1000, "gone tight") == 0);
    int r = gracefd_handoff_take(o.path, 30000);
    CHECK_MSG(r == 1000, "take: %d %s", r, gracefd_last_error());
    CHECK_INT(gracefd_ready(), ==, 1);
    CHECK_INT(wait_exit(o.pid, 20), ==, 0);
    CHECK_STR_CONTAINS(read_file(o.log), "took 1000 fds and is ready");
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
            /* Came after it was over: the path was gone, nobody listened, or (ECONNRESET) the
             * connection was still queued, never accepted, when the old side exited. */
            if (r == -ENOENT || r == -ECONNREFUSED || r == -ECONNRESET) _exit(3);
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

/* Take, retrying while the slot is busy (bounded). */
static int take_when_free(const char *path) {
    int r = -EBUSY;
    for (int i = 0; i < 400 && r == -EBUSY; i++) {
        r = gracefd_handoff_take(path, 10000);
        if (r == -EBUSY) usleep(50000);
    }
    return r;
}

/* Audit defect 8: one idle same-uid connection held the only slot forever
 * and every taker got EBUSY. With the default deadline (5 s) it is dropped,
 * told why, and a real taker then succeeds. */
TEST(handoff_idle_connection_is_dropped_after_the_deadline) {
    struct old o;
    CHECK(start_old(&o, 3, "gone") == 0);
    int idle = idle_taker(o.path);
    CHECK(idle >= 0);
    usleep(100000); /* the old side has accepted it: the slot is taken */
    CHECK_INT(gracefd_handoff_take(o.path, 10000), ==, -EBUSY);
    int r = take_when_free(o.path);
    CHECK_MSG(r == 3, "%d %s", r, gracefd_last_error());
    char buf[512];
    struct timeval tv = {5, 0};
    setsockopt(idle, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    CHECK(recv(idle, buf, sizeof buf, 0) > 0); /* its REFUSE frame */
    close(idle);
    CHECK_INT(gracefd_ready(), ==, 1);
    CHECK_INT(wait_exit(o.pid, 20), ==, 0);
    CHECK_STR_CONTAINS(read_file(o.log), "held the hand-off for 5000 ms without asking for the fds");
}

TEST(handoff_taker_deadline_is_settable) {
    CHECK_INT(gracefd_handoff_set_taker_timeout_ms(0), ==, -EINVAL);
    CHECK_INT(gracefd_handoff_set_taker_timeout_ms(86400001), ==, -EINVAL);
    CHECK_STR_CONTAINS(gracefd_last_error(), "between 1 ms and a day");
    struct old o;
    CHECK(start_old(&o, 2, "gone quick") == 0);
    int idle = idle_taker(o.path);
    CHECK(idle >= 0);
    int r = take_when_free(o.path);
    CHECK_MSG(r == 2, "%d %s", r, gracefd_last_error());
    close(idle);
    CHECK_INT(gracefd_ready(), ==, 1);
    CHECK_INT(wait_exit(o.pid, 20), ==, 0);
    CHECK_STR_CONTAINS(read_file(o.log), "held the hand-off for 200 ms");
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

/* After handing its fds to a taker that is ready, the old side drains and
 * exits at the lowest priority, as after an upgrade; not with the switch off. */
TEST(handoff_old_side_exits_at_the_lowest_priority) {
    const char *flags[2] = {"gone exitnice", "gone exitnice noyield"};
    int want[2] = {20 + 19, 20 + 0};
    for (int i = 0; i < 2; i++) {
        struct old o;
        CHECK(start_old(&o, 3, flags[i]) == 0);
        fflush(NULL);
        pid_t taker = fork();
        if (taker == 0) _exit(take_when_free(o.path) == 3 && gracefd_ready() == 1 ? 0 : 1);
        CHECK_INT(wait_exit(taker, 30), ==, 0);
        CHECK_INT(wait_exit(o.pid, 20), ==, want[i]);
    }
}
