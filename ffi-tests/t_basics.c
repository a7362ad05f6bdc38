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
