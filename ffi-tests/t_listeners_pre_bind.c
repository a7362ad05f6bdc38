/* gracefd_listen_opts_set_pre_bind(): the hook sees each new socket after
 * socket(2) and before bind(2), can set options there, can refuse (the
 * listen fails with its errno, nothing is registered), may call the library
 * (no lock is held), and is not called for a registered socket. */
#define _GNU_SOURCE
#include "listeners_helpers.h"

#include <netinet/in.h>

struct seen {
    int calls;
    int port_before_bind; /* getsockname's port inside the hook */
    int refuse;           /* what the hook returns */
    int generation;       /* a library call made from the hook */
};

static int hook(int fd, void *userdata) {
    struct seen *s = userdata;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int one = 1;
    s->calls++;
    s->port_before_bind = -1;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -errno;
    if (ss.ss_family == AF_INET) {
        s->port_before_bind = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) return -errno;
    }
    s->generation = gracefd_generation(); /* calling back in must not deadlock */
    return s->refuse;
}

static int reuseport(int fd) {
    int v = 0;
    socklen_t len = sizeof v;
    return getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &v, &len) == 0 ? v : -1;
}

TEST(pre_bind_hook_sets_options_before_bind) {
    struct seen s = {0, 0, 0, 0};
    gracefd_listen_opts *o = gracefd_listen_opts_new();
    int fd, again, plain;
    CHECK(o != NULL);
    CHECK_INT(gracefd_listen_opts_set_pre_bind(o, hook, &s), ==, 0);
    fd = gracefd_listen_with("pre", "127.0.0.1:0", o);
    CHECK_MSG(fd >= 0, "%s", gracefd_last_error());
    CHECK_INT(s.calls, ==, 1);
    CHECK_INT(s.port_before_bind, ==, 0); /* not bound yet */
    CHECK_INT(s.generation, ==, 1);
    CHECK_INT(reuseport(fd), ==, 1);
    CHECK(port_of(fd) > 0);
    /* The registered socket again: no new socket, no call. */
    again = gracefd_listen_with("pre", "127.0.0.1:0", o);
    CHECK(again >= 0);
    CHECK_INT(s.calls, ==, 1);
    CHECK_INT(inode_of(again), ==, inode_of(fd));
    /* Removed: a new socket without it. */
    CHECK_INT(gracefd_listen_opts_set_pre_bind(o, NULL, NULL), ==, 0);
    plain = gracefd_listen_with("pre-plain", "127.0.0.1:0", o);
    CHECK(plain >= 0);
    CHECK_INT(s.calls, ==, 1);
    CHECK_INT(reuseport(plain), ==, 0);
    close(fd);
    close(again);
    close(plain);
    CHECK_INT(gracefd_forget("pre"), ==, 1);
    CHECK_INT(gracefd_forget("pre-plain"), ==, 1);
    gracefd_listen_opts_free(o);
}

TEST(pre_bind_hook_refusal_fails_the_listen) {
    struct seen s = {0, 0, -EPERM, 0};
    char path[300], addr[320];
    struct stat st;
    int fd;
    gracefd_listen_opts *o = gracefd_listen_opts_new();
    CHECK(o != NULL);
    CHECK_INT(gracefd_listen_opts_set_pre_bind(NULL, hook, &s), ==, -EINVAL);
    CHECK_INT(gracefd_listen_opts_set_pre_bind(o, hook, &s), ==, 0);
    CHECK_INT(gracefd_listen_with("refused", "127.0.0.1:0", o), ==, -EPERM);
    CHECK_STR_CONTAINS(gracefd_last_error(), "the pre-bind hook refused tcp 127.0.0.1:0");
    CHECK_INT(gracefd_forget("refused"), ==, -ENOENT); /* nothing registered */
    /* A unix path: refused before bind, so no file is left behind. */
    snprintf(path, sizeof path, "%s/refused.sock", harness_tmpdir());
    snprintf(addr, sizeof addr, "unix:%s", path);
    CHECK_INT(gracefd_listen_with("refused", addr, o), ==, -EPERM);
    CHECK(stat(path, &st) != 0 && errno == ENOENT);
    /* Not a negative errno: ECANCELED. */
    s.refuse = 7;
    CHECK_INT(gracefd_listen_with("refused", "127.0.0.1:0", o), ==, -ECANCELED);
    CHECK_STR_CONTAINS(gracefd_last_error(), "it returned 7, not a negative errno");
    /* UDP and abstract sockets go through it too. */
    s.refuse = 0;
    s.calls = 0;
    fd = gracefd_listen_with(NULL, "udp://127.0.0.1:0", o);
    CHECK(fd >= 0);
    close(fd);
    fd = gracefd_listen_with("pre-abs", "unix:@gracefd-ffi-pre-bind", o);
    CHECK_MSG(fd >= 0, "%s", gracefd_last_error());
    close(fd);
    CHECK_INT(s.calls, ==, 2);
    gracefd_listen_opts_free(o);
}
