/* Version, error reporting and the log hook. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gracefd.h"
#include "harness.h"

#ifndef CARGO_VERSION
#error "the Makefile passes -DCARGO_VERSION=\"x.y.z\" read from Cargo.toml"
#endif

TEST(version_macros_match_runtime_and_cargo) {
    CHECK_INT(gracefd_version_number(), ==, GRACEFD_VERSION_NUMBER);
    CHECK_INT(GRACEFD_VERSION_NUMBER, ==,
              GRACEFD_VERSION_MAJOR * 10000 + GRACEFD_VERSION_MINOR * 100 + GRACEFD_VERSION_PATCH);
    CHECK(strcmp(gracefd_version_string(), GRACEFD_VERSION_STRING) == 0);
    CHECK_MSG(strcmp(gracefd_version_string(), CARGO_VERSION) == 0, "runtime %s, Cargo.toml %s",
              gracefd_version_string(), CARGO_VERSION);
}

TEST(strerror_names_codes) {
    CHECK_STR_CONTAINS(gracefd_strerror(-EINVAL), "EINVAL");
    CHECK_STR_CONTAINS(gracefd_strerror(EBADMSG), "bad message");
    CHECK(strcmp(gracefd_strerror(-100000), "unknown error") == 0);
    CHECK(gracefd_strerror(-2147483647 - 1) != NULL);
}

TEST(last_error_starts_empty) { CHECK(strcmp(gracefd_last_error(), "") == 0); }

static int log_calls;
static void on_log(void *user, int level, const char *msg) {
    (void)level;
    (void)msg;
    *(int *)user += 1;
    log_calls++;
}

TEST(log_hook_rejects_bad_level_with_detail) {
    int count = 0;
    int r = gracefd_set_log_hook(on_log, &count, 9);
    CHECK_INT(r, ==, -EINVAL);
    CHECK_STR_CONTAINS(gracefd_last_error(), "max_level 9");
    CHECK_INT(gracefd_set_log_hook(on_log, &count, GRACEFD_LOG_DEBUG), ==, 0);
    CHECK_INT(gracefd_set_log_hook(NULL, NULL, 99), ==, 0);
}

/* The daemonize options were `gracefd_daemon` with gracefd_daemon_new(),
 * _set_*() and _free(); they are `gracefd_daemon_opts` now, like
 * gracefd_listen_opts and gracefd_upgrade_opts. The old names must keep
 * compiling, linking and behaving: a handle from either name works with the
 * other's functions. */
TEST(deprecated_daemon_option_names_are_the_same_functions) {
    gracefd_daemon *old = gracefd_daemon_new();
    gracefd_daemon_opts *now = gracefd_daemon_opts_new();
    CHECK(old != NULL && now != NULL);
    CHECK_INT(gracefd_daemon_opts_set_umask(old, 027), ==, 0);
    CHECK_INT(gracefd_daemon_set_umask(now, 027), ==, 0);
    CHECK_INT(gracefd_daemon_set_umask(now, 01000), ==, -EINVAL);
    CHECK_STR_CONTAINS(gracefd_last_error(), "umask");
    CHECK_INT(gracefd_daemon_set_mode(old, 9), ==, gracefd_daemon_opts_set_mode(now, 9));
    CHECK_INT(gracefd_daemon_set_pid_file(NULL, "x"), ==, -EINVAL);
    CHECK_INT(gracefd_daemon_set_timeout_ms(old, 0), ==, -EINVAL);
    CHECK_INT(gracefd_daemon_set_nofile(old, 64, 32), ==, gracefd_daemon_opts_set_nofile(now, 64, 32));
    gracefd_daemon_free(now);
    gracefd_daemon_opts_free(old);
    gracefd_daemon_free(NULL);
}
