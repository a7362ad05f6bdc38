/* A tiny test harness with no external framework.
 *
 * TEST(name) { ... } registers a test (a constructor adds it to a table).
 * Each test runs in its own forked process and process group, with a time
 * limit, so a crash or a hang fails one test and leaks nothing: on timeout the
 * whole group is killed and reaped. Output: one line per test, then
 * "N passed, N failed".
 *
 * ROLE(name) { ... } registers a role: `ffi-tests --role NAME args...` runs it
 * instead of the tests (the self-re-exec pattern: the test binary re-runs
 * itself as the daemon or the new generation).
 */
#ifndef GRACEFD_HARNESS_H
#define GRACEFD_HARNESS_H

#include <stdio.h>
#include <string.h>

typedef void (*harness_test_fn)(void);
typedef int (*harness_role_fn)(int argc, char **argv);

void harness_add_test(const char *name, harness_test_fn fn);
void harness_add_role(const char *name, harness_role_fn fn);
/* Record a failure of the current test (it keeps running unless the macro returns). */
void harness_fail(const char *file, int line, const char *fmt, ...);
/* The path of this test binary (absolute), for re-executing it. */
const char *harness_self(void);
/* A fresh private temporary directory for the current test (removed afterwards). */
const char *harness_tmpdir(void);

#define TEST(name)                                                              \
    static void test_##name(void);                                              \
    __attribute__((constructor)) static void register_test_##name(void) {       \
        harness_add_test(#name, test_##name);                                   \
    }                                                                           \
    static void test_##name(void)

#define ROLE(name)                                                              \
    static int role_##name(int argc, char **argv);                              \
    __attribute__((constructor)) static void register_role_##name(void) {       \
        harness_add_role(#name, role_##name);                                   \
    }                                                                           \
    static int role_##name(int argc, char **argv)

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            harness_fail(__FILE__, __LINE__, "%s", #cond);                      \
            return;                                                             \
        }                                                                       \
    } while (0)

#define CHECK_MSG(cond, ...)                                                    \
    do {                                                                        \
        if (!(cond)) {                                                          \
            harness_fail(__FILE__, __LINE__, __VA_ARGS__);                      \
            return;                                                             \
        }                                                                       \
    } while (0)

#define CHECK_INT(a, op, b)                                                     \
    do {                                                                        \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);         \
        if (!(check_a_ op check_b_)) {                                          \
            harness_fail(__FILE__, __LINE__, "%s %s %s (%lld vs %lld)", #a, #op, \
                         #b, check_a_, check_b_);                               \
            return;                                                             \
        }                                                                       \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                         \
    do {                                                                        \
        const char *check_h_ = (hay), *check_n_ = (needle);                     \
        if (!check_h_ || !strstr(check_h_, check_n_)) {                         \
            harness_fail(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"",  \
                         check_h_ ? check_h_ : "(null)", check_n_);             \
            return;                                                             \
        }                                                                       \
    } while (0)

#endif
