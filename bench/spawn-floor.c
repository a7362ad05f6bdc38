/* spawn-floor.c: the floor under an upgrade's start of the new generation.
 *
 *   spawn-floor RUNS PROGRAM [ARG...]
 *
 * RUNS times: posix_spawn PROGRAM (glibc starts it with a vfork-style
 * clone, as gracefd does) with a pipe at fd 3, read the CLOCK_MONOTONIC time
 * the child's main() writes there (bench/floor-child.c), and reap it. Prints
 * the median and range, in µs, of: spawn -> posix_spawn returned (the
 * parent is free again: the child has exec'd), spawn -> the child's main(),
 * spawn -> the child reaped. What a program does between exec and main (the
 * dynamic loader, libc's start-up, constructors) is the difference between
 * children built differently. Timing only, never asserted.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void show(const char *what, int64_t *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    printf("  %-28s %8.1f µs  [%.1f–%.1f]\n", what, (double)v[n / 2] / 1e3, (double)v[0] / 1e3, (double)v[n - 1] / 1e3);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: spawn-floor RUNS PROGRAM [ARG...]\n");
        return 2;
    }
    int runs = atoi(argv[1]);
    if (runs < 1 || runs > 100000) return 2;
    int64_t *ret = calloc((size_t)runs, sizeof *ret), *main_at = calloc((size_t)runs, sizeof *main_at),
            *reaped = calloc((size_t)runs, sizeof *reaped);
    if (!ret || !main_at || !reaped) return 1;
    int ok = 0;
    for (int i = 0; i < runs; i++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0) return 1;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 3);
        pid_t pid;
        int64_t t0 = now_ns();
        int r = posix_spawn(&pid, argv[2], &fa, NULL, argv + 2, environ);
        int64_t t1 = now_ns();
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        if (r != 0) {
            fprintf(stderr, "spawn-floor: cannot start %s\n", argv[2]);
            return 1;
        }
        int64_t child = 0;
        ssize_t n = read(p[0], &child, sizeof child);
        close(p[0]);
        int st;
        waitpid(pid, &st, 0);
        int64_t t2 = now_ns();
        if (n != (ssize_t)sizeof child || !WIFEXITED(st) || WEXITSTATUS(st) != 0) continue;
        if (child < 0) child = -child;
        ret[ok] = t1 - t0;
        main_at[ok] = child - t0;
        reaped[ok] = t2 - t0;
        ok++;
    }
    if (ok == 0) {
        fprintf(stderr, "spawn-floor: no run of %s completed\n", argv[2]);
        return 1;
    }
    printf("%s: %d runs, median [min–max]\n", argv[2], ok);
    show("spawn -> parent free", ret, ok);
    show("spawn -> child's main()", main_at, ok);
    show("spawn -> child reaped", reaped, ok);
    return 0;
}
