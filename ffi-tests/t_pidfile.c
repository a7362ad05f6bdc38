/* Standalone pid files: gracefd_pidfile_create()/gracefd_pidfile_remove(),
 * held by ROLE(pidfile) until its stdin closes. */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "daemon_helpers.h"

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

/* Audit defect 4: acquire opened the path, then flocked it; a holder that
 * removed the file in between left the lock on an unlinked inode while a
 * third process created and locked a new file: two running instances. Racers
 * take the pid file, count themselves in shared memory while they hold it,
 * and remove it (as a clean exit does). Never two holders at once. */
#define RACERS 8
#define RACE_MS 8000
struct race_shared {
    int holders;
    int overlaps;
    long takes;
};

TEST(pidfile_never_two_holders_when_the_holder_removes_it) {
    char pidp[512];
    path_in_tmp(pidp, sizeof pidp, "race.pid");
    struct race_shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(sh != MAP_FAILED);
    pid_t kids[RACERS];
    long long end = now_ms() + RACE_MS;
    for (int i = 0; i < RACERS; i++) {
        kids[i] = fork();
        CHECK(kids[i] >= 0);
        if (kids[i] == 0) {
            /* Each take in a fresh process: a process holds at most one pid file. */
            while (now_ms() < end && __atomic_load_n(&sh->overlaps, __ATOMIC_SEQ_CST) == 0) {
                pid_t p = fork();
                if (p < 0) _exit(1);
                if (p == 0) {
                    if (gracefd_pidfile_create(pidp) != 0) _exit(0);
                    if (__atomic_add_fetch(&sh->holders, 1, __ATOMIC_SEQ_CST) > 1) __atomic_add_fetch(&sh->overlaps, 1, __ATOMIC_SEQ_CST);
                    __atomic_add_fetch(&sh->takes, 1, __ATOMIC_SEQ_CST);
                    usleep(200);
                    __atomic_sub_fetch(&sh->holders, 1, __ATOMIC_SEQ_CST);
                    gracefd_pidfile_remove(); /* unlinks while still holding the lock */
                    _exit(0);
                }
                waitpid(p, NULL, 0);
            }
            _exit(0);
        }
    }
    for (int i = 0; i < RACERS; i++) waitpid(kids[i], NULL, 0);
    CHECK_MSG(sh->overlaps == 0, "%d times two processes held the pid file at once (in %ld takes)", sh->overlaps, sh->takes);
    CHECK_MSG(sh->takes > 100, "only %ld takes: the race proves nothing", sh->takes);
    munmap(sh, sizeof *sh);
}
