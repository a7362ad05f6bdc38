/* Listening sockets and the registry in this process: the same name twice,
 * unix socket paths, options, gracefd_add_fd(), gracefd_inherited_at(). */
#define _GNU_SOURCE
#include "listeners_helpers.h"

TEST(same_name_twice_is_the_same_socket) {
    int a = gracefd_listen("web", "127.0.0.1:0");
    int b = gracefd_listen("web", "127.0.0.1:0");
    int c, port;
    char addr[64];
    CHECK(a >= 0 && b >= 0);
    CHECK(a != b);
    CHECK_INT(inode_of(a), ==, inode_of(b));
    CHECK(fcntl(a, F_GETFD) & FD_CLOEXEC);
    CHECK(fcntl(b, F_GETFD) & FD_CLOEXEC);
    CHECK(!(fcntl(a, F_GETFL) & O_NONBLOCK));
    /* The port it got is the same address too. */
    port = port_of(a);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    c = gracefd_listen("web", addr);
    CHECK_INT(inode_of(c), ==, inode_of(a));
    /* Another address under the same name: EEXIST naming both. */
    CHECK_INT(gracefd_listen("web", "127.0.0.1:1"), ==, -EEXIST);
    CHECK_STR_CONTAINS(gracefd_last_error(), "already listening on tcp 127.0.0.1:0");
    CHECK_STR_CONTAINS(gracefd_last_error(), "asked for tcp 127.0.0.1:1");
    /* Closing the caller's fds does not close the socket; forget does. */
    close(a);
    close(b);
    close(c);
    c = gracefd_listen("web", addr);
    CHECK(c >= 0);
    close(c);
    CHECK_INT(gracefd_forget("web"), ==, 1);
    CHECK_INT(gracefd_forget("web"), ==, -ENOENT);
}

TEST(unix_socket_stale_replaced_live_refused_file_refused) {
    char path[300], addr[320], fpath[300], faddr[320];
    int stale, live, r;
    struct stat st;
    gracefd_listen_opts *o = gracefd_listen_opts_new();
    CHECK(o != NULL);
    snprintf(path, sizeof path, "%s/s.sock", harness_tmpdir());
    snprintf(addr, sizeof addr, "unix:%s", path);
    /* Stale: a socket file whose socket is closed. */
    stale = unix_listener(path);
    CHECK(stale >= 0);
    close(stale);
    CHECK(connect_unix(path) != 0);
    CHECK_INT(gracefd_listen_opts_set_unix_mode(o, 0600), ==, 0);
    live = gracefd_listen_with("sock", addr, o);
    CHECK_MSG(live >= 0, "%s", gracefd_last_error());
    CHECK(stat(path, &st) == 0);
    CHECK_INT(st.st_mode & 0777, ==, 0600);
    CHECK(connect_unix(path) == 0);
    /* Live: refused, and the live socket is left alone. */
    r = gracefd_listen("other", addr);
    CHECK_INT(r, ==, -EADDRINUSE);
    CHECK_STR_CONTAINS(gracefd_last_error(), "something is listening on it");
    CHECK(connect_unix(path) == 0);
    /* A regular file: refused, left alone. */
    snprintf(fpath, sizeof fpath, "%s/file", harness_tmpdir());
    snprintf(faddr, sizeof faddr, "unix:%s", fpath);
    CHECK(close(open(fpath, O_WRONLY | O_CREAT, 0600)) == 0);
    CHECK_INT(gracefd_listen("file", faddr), ==, -EEXIST);
    CHECK_STR_CONTAINS(gracefd_last_error(), "is a regular file: refusing to replace it");
    CHECK(stat(fpath, &st) == 0 && S_ISREG(st.st_mode));
    gracefd_listen_opts_free(o);
    close(live);
}

TEST(listen_opts_validate_and_apply) {
    gracefd_listen_opts *o = gracefd_listen_opts_new();
    int fd;
    CHECK(o != NULL);
    CHECK_INT(gracefd_listen_opts_set_backlog(o, 0), ==, -EINVAL);
    CHECK_STR_CONTAINS(gracefd_last_error(), "backlog 0");
    CHECK_INT(gracefd_listen_opts_set_backlog(NULL, 5), ==, -EINVAL);
    CHECK_INT(gracefd_listen_opts_set_unix_mode(o, 04755), ==, -EINVAL);
    CHECK_INT(gracefd_listen_opts_set_nonblocking(o, 2), ==, -EINVAL);
    CHECK_INT(gracefd_listen_opts_set_backlog(o, 7), ==, 0);
    CHECK_INT(gracefd_listen_opts_set_nonblocking(o, 1), ==, 0);
    fd = gracefd_listen_with(NULL, "udp://127.0.0.1:0", o);
    CHECK(fd >= 0);
    CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
    close(fd);
    fd = gracefd_listen_with("plain", "127.0.0.1:0", NULL);
    CHECK(fd >= 0);
    CHECK(!(fcntl(fd, F_GETFL) & O_NONBLOCK));
    close(fd);
    CHECK_INT(gracefd_listen("x", NULL), ==, -EINVAL);
    CHECK_STR_CONTAINS(gracefd_last_error(), "address is NULL");
    CHECK_INT(gracefd_listen("x", "127.0.0.1:99999"), ==, -EINVAL);
    CHECK_STR_CONTAINS(gracefd_last_error(), "above 65535");
    CHECK_INT(gracefd_listen("a:b", "127.0.0.1:0"), ==, -EINVAL);
    CHECK_STR_CONTAINS(gracefd_last_error(), "contains ':'");
    gracefd_listen_opts_free(o);
    gracefd_listen_opts_free(NULL);
}

TEST(add_fd_registers_a_dup_and_inherited_at_reports) {
    int p[2], r, kind = -1, claimed = -1, fd = -1;
    char name[4];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    CHECK_INT(gracefd_add_fd("state", p[0]), ==, 0);
    CHECK_INT(gracefd_add_fd("state", p[0]), ==, -EEXIST);
    CHECK_INT(gracefd_add_fd("unknown", p[0]), ==, -EINVAL);
    CHECK_INT(gracefd_add_fd("other", 987), ==, -EBADF);
    CHECK_INT(gracefd_add_fd(NULL, p[0]), ==, -EINVAL);
    CHECK(fcntl(p[0], F_GETFD) >= 0); /* still the caller's */
    /* Registered fds are not inherited ones. */
    CHECK_INT(gracefd_inherited("state"), ==, -ENOENT);
    CHECK_INT(gracefd_inherited_count(), ==, 0);
    CHECK_INT(gracefd_inherited_at(0, name, sizeof name, &kind, &claimed, &fd), ==, -ENOENT);
    CHECK(kind == -1 && claimed == -1 && fd == -1);
    CHECK_INT(gracefd_forget("state"), ==, 1);
    r = gracefd_inherited_at(0, NULL, 5, NULL, NULL, NULL);
    CHECK_INT(r, ==, -EINVAL);
    close(p[0]);
    close(p[1]);
}

TEST(inherited_at_name_buffer_and_claim) {
    char out[OUT_LEN];
    int a = inet_socket(SOCK_STREAM, NULL);
    const char *env[] = {"LISTEN_PID=$", "LISTEN_FDS=1", "LISTEN_FDNAMES=a-long-name", NULL};
    const char *cmds[] = {"list", NULL};
    int fds[1];
    fds[0] = a;
    /* The role prints via gracefd_inherited_at with a full buffer; the
     * corner cases run in the role "at_corners" below. */
    CHECK_INT(run_probe(env, fds, 1, -1, out, sizeof out, cmds), ==, 0);
    CHECK_STR_CONTAINS(out, "entry 0 a-long-name kind=1 claimed=0");
    close(a);
}

ROLE(at_corners) {
    char small[4], big[GRACEFD_NAME_MAX + 1];
    int kind = -1, claimed = -1, fd = -1, r;
    (void)argc;
    (void)argv;
    r = gracefd_inherited_at(0, small, sizeof small, &kind, &claimed, &fd);
    if (r != -ERANGE || kind != -1 || fd != -1) return 10;
    if (!strstr(gracefd_last_error(), "11 bytes")) return 11;
    r = gracefd_inherited_at(0, NULL, 0, NULL, &claimed, NULL);
    if (r != 11 || claimed != 0) return 12; /* nothing was claimed by the failed call */
    r = gracefd_inherited_at(0, big, sizeof big, &kind, &claimed, &fd);
    if (r != 11 || strcmp(big, "a-long-name") != 0 || kind != GRACEFD_KIND_TCP_LISTENER || claimed != 0) return 13;
    if (fd < 0 || !(fcntl(fd, F_GETFD) & FD_CLOEXEC) || fd == 3) return 14;
    r = gracefd_inherited_at(0, NULL, 0, NULL, &claimed, NULL);
    if (r != 11 || claimed != 1) return 15;
    if (gracefd_inherited_at(1, big, sizeof big, NULL, NULL, NULL) != -ENOENT) return 16;
    if (gracefd_close_unclaimed() != 0) return 17;
    return 0;
}

TEST(inherited_at_corner_cases) {
    char out[OUT_LEN];
    int a = inet_socket(SOCK_STREAM, NULL);
    const char *env[] = {"LISTEN_PID=$", "LISTEN_FDS=1", "LISTEN_FDNAMES=a-long-name", NULL};
    int fds[1];
    CHECK(a >= 0);
    fds[0] = a;
    CHECK_INT(run_role("at_corners", env, fds, 1, -1, out, sizeof out, NULL), ==, 0);
    close(a);
}
