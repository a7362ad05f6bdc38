/* The harness runner: see harness.h. */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TESTS 512
#define TEST_TIMEOUT_S 60

struct entry {
    const char *name;
    harness_test_fn test;
    harness_role_fn role;
};

static struct entry tests[MAX_TESTS];
static int ntests;
static struct entry roles[MAX_TESTS];
static int nroles;
static int failed_here; /* in the per-test child */
static char self_path[PATH_MAX];
static char tmpdir[PATH_MAX];

void harness_add_test(const char *name, harness_test_fn fn) {
    if (ntests < MAX_TESTS) {
        tests[ntests].name = name;
        tests[ntests].test = fn;
        ntests++;
    }
}

void harness_add_role(const char *name, harness_role_fn fn) {
    if (nroles < MAX_TESTS) {
        roles[nroles].name = name;
        roles[nroles].role = fn;
        nroles++;
    }
}

void harness_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    failed_here = 1;
    fprintf(stderr, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

const char *harness_self(void) { return self_path; }

const char *harness_tmpdir(void) { return tmpdir; }

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static void rm_rf(const char *dir) {
    pid_t p = fork();
    if (p == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    if (p > 0) waitpid(p, NULL, 0);
}

/* What outlived a test outside its process group (an upgrade's new
 * generation leads a group of its own, and so does whatever it forked) was
 * re-parented to us, the runner being a child subreaper: kill and reap it by
 * pid, then again for what that re-parented to us in turn. Returns how many. */
static int end_strays(void) {
    int total = 0;
    for (int round = 0; round < 50; round++) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {} /* the ones that ended already */
        char path[64];
        snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
        FILE *f = fopen(path, "re");
        if (!f) {
            /* A kernel without CONFIG_PROC_CHILDREN: strays cannot be listed. */
            static int said;
            if (!said++) fprintf(stderr, "harness: %s: %s: processes a test leaves outside its group are not killed\n", path, strerror(errno));
            return total;
        }
        int kids[256], n = 0;
        while (n < 256 && fscanf(f, "%d", &kids[n]) == 1) n++;
        fclose(f);
        if (n == 0) return total;
        for (int i = 0; i < n; i++) kill(kids[i], SIGKILL);
        for (int i = 0; i < n; i++) waitpid(kids[i], NULL, 0);
        total += n;
    }
    return total;
}

/* Run one test in its own process group; 0 = passed. */
static int run_one(const struct entry *t) {
    char tmpl[] = "/tmp/gracefd-test-XXXXXX";
    if (!mkdtemp(tmpl)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    snprintf(tmpdir, sizeof tmpdir, "%s", tmpl);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
        setpgid(0, 0);
        failed_here = 0;
        t->test();
        fflush(NULL);
        _exit(failed_here ? 1 : 0);
    }
    setpgid(pid, pid);
    time_t start = time(NULL);
    int status = 0, done = 0, timed_out = 0;
    while (!done) {
        /* Reap the test, and what was re-parented to us meanwhile (as init
         * would: a test may wait for an orphan to be gone). */
        int st = 0;
        pid_t r;
        while ((r = waitpid(-1, &st, WNOHANG)) > 0) {
            if (r == pid) {
                status = st;
                done = 1;
            }
        }
        if (!done && time(NULL) - start > TEST_TIMEOUT_S) {
            timed_out = 1;
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            done = 1;
        } else if (!done) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    }
    /* Anything the test left in its group (it should have reaped all) dies now. */
    kill(-pid, SIGKILL);
    int strays = end_strays();
    if (strays > 0) fprintf(stderr, "    left %d process(es) outside its group running: killed by pid\n", strays);
    rm_rf(tmpl);
    if (timed_out) {
        fprintf(stderr, "    timed out after %d s\n", TEST_TIMEOUT_S);
        return 1;
    }
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "    crashed with signal %d\n", WTERMSIG(status));
        return 1;
    }
    return WEXITSTATUS(status) != 0;
}

int main(int argc, char **argv) {
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n > 0) self_path[n] = 0;
    if (argc >= 3 && strcmp(argv[1], "--role") == 0) {
        for (int i = 0; i < nroles; i++)
            if (strcmp(roles[i].name, argv[2]) == 0) return roles[i].role(argc - 2, argv + 2);
        fprintf(stderr, "no role %s\n", argv[2]);
        return 125;
    }
    qsort(tests, (size_t)ntests, sizeof tests[0], cmp_entry);
    signal(SIGPIPE, SIG_IGN);
    /* Orphans of the tests come to us, so none outlives the run (end_strays). */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) perror("prctl(PR_SET_CHILD_SUBREAPER)");
    int passed = 0, failed = 0;
    for (int i = 0; i < ntests; i++) {
        /* Arguments select tests by substring; "--skip SUBSTR" leaves some out. */
        int selected = 1, any_filter = 0, hit = 0;
        for (int a = 1; a < argc; a++) {
            if (strcmp(argv[a], "--skip") == 0 && a + 1 < argc) {
                if (strstr(tests[i].name, argv[++a])) selected = 0;
            } else {
                any_filter = 1;
                if (strstr(tests[i].name, argv[a])) hit = 1;
            }
        }
        if (!selected || (any_filter && !hit)) continue;
        int bad = run_one(&tests[i]);
        printf("%s %s\n", bad ? "FAIL" : "ok  ", tests[i].name);
        fflush(stdout);
        if (bad) failed++; else passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
