/* Shared by the tests that upgrade (t_upgrade*.c, t_conns_pass.c, t_conns_failure.c). */
#ifndef GRACEFD_UPGRADE_HELPERS_H
#define GRACEFD_UPGRADE_HELPERS_H

#include "gracefd.h"
#include "harness.h"

/* Upgrade options that start this binary again as ROLE(role) [arg]. */
static inline gracefd_upgrade_opts *opts_for_role(const char *role, const char *arg) {
    gracefd_upgrade_opts *o = gracefd_upgrade_opts_new();
    const char *argv[] = {harness_self(), "--role", role, arg};
    gracefd_upgrade_opts_set_argv(o, argv, arg ? 4 : 3);
    return o;
}

#endif
