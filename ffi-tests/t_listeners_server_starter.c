/* Server::Starter's SERVER_STARTER_PORT as the probe (ROLE(probe), in
 * t_listeners_listen_fds.c) reads it at start-up: malformed values, fds
 * announced twice, paths with '=', stdin and sockets of the wrong family. */
#define _GNU_SOURCE
#include "listeners_helpers.h"

TEST(server_starter_malformed_values_inherit_nothing) {
    static const char *const values[] = {";", "80=3;", "80=3;;81=4", "abc", "127.0.0.1:%d=3x", "127.0.0.1:%d=-1",
                                         "=3", "127.0.0.1:%d=3;/tmp/x.sock=3", "99999=3"};
    int port, fd = inet_socket(SOCK_STREAM, &port);
    size_t i;
    CHECK(fd >= 0);
    for (i = 0; i < sizeof values / sizeof values[0]; i++) {
        char out[OUT_LEN], var[128], val[96];
        const char *env[] = {"SERVER_STARTER_PORT=", NULL};
        const char *cmds[] = {"count", "flags:3", "fresh", NULL};
        int fds[1];
        fds[0] = fd;
        snprintf(val, sizeof val, values[i], port);
        snprintf(var, sizeof var, "SERVER_STARTER_PORT=%s", val);
        env[0] = var;
        CHECK_INT(run_probe(env, fds, 1, -1, out, sizeof out, cmds), ==, 0);
        CHECK_MSG(strstr(out, "count 0\n") != NULL, "%s: %s", var, out);
        CHECK_MSG(strstr(out, "flags 3 cloexec=0") != NULL, "%s: %s", var, out);
        CHECK_MSG(strstr(out, "no fd inherited from SERVER_STARTER_PORT") != NULL, "%s: %s", var, out);
        CHECK_MSG(strstr(out, "fresh ok") != NULL, "%s: %s", var, out);
    }
    close(fd);
}

TEST(server_starter_duplicate_fds_are_rejected) {
    char out[OUT_LEN], var[256];
    int port, fd = inet_socket(SOCK_STREAM, &port);
    const char *env[] = {var, NULL};
    const char *cmds[] = {"count", "fresh", NULL};
    int fds[1];
    fds[0] = fd;
    snprintf(var, sizeof var, "SERVER_STARTER_PORT=127.0.0.1:%d=3;%s/x.sock=3", port, harness_tmpdir());
    CHECK_INT(run_probe(env, fds, 1, -1, out, sizeof out, cmds), ==, 0);
    CHECK_STR_CONTAINS(out, "count 0\n");
    CHECK_STR_CONTAINS(out, "fd 3 is announced twice");
    CHECK_STR_CONTAINS(out, "fresh ok");
    close(fd);
}

TEST(server_starter_path_with_equals_and_ports) {
    char out[OUT_LEN], var[512], path[300], lpath[400], lport[64], want[128];
    int port, tcp = inet_socket(SOCK_STREAM, &port), ux;
    const char *env[] = {var, "SERVER_STARTER_GENERATION=4", NULL};
    const char *cmds[] = {"list", lpath, lport, "list", "leaks", NULL};
    int fds[2];
    snprintf(path, sizeof path, "%s/a=b.sock", harness_tmpdir());
    ux = unix_listener(path);
    CHECK(tcp >= 0 && ux >= 0);
    fds[0] = tcp;
    fds[1] = ux;
    snprintf(var, sizeof var, "SERVER_STARTER_PORT=127.0.0.1:%d=3;%s=4", port, path);
    snprintf(lpath, sizeof lpath, "listen:sock:unix:%s", path);
    snprintf(lport, sizeof lport, "listen:web:127.0.0.1:%d", port);
    CHECK_INT(run_probe(env, fds, 2, -1, out, sizeof out, cmds), ==, 0);
    CHECK_STR_CONTAINS(out, "entry 0 unknown kind=1 claimed=0");
    CHECK_STR_CONTAINS(out, "entry 1 unknown kind=2 claimed=0");
    snprintf(want, sizeof want, "listen sock ok ino=%lu", inode_of(ux));
    CHECK_STR_CONTAINS(out, want);
    snprintf(want, sizeof want, "listen web ok ino=%lu", inode_of(tcp));
    CHECK_STR_CONTAINS(out, want);
    CHECK_STR_CONTAINS(out, "entry 0 web kind=1 claimed=1");
    CHECK_STR_CONTAINS(out, "entry 1 sock kind=2 claimed=1");
    CHECK(strstr(out, "leak ") == NULL);
    CHECK(strstr(out, "log 4") == NULL);
    close(tcp);
    close(ux);
}

TEST(server_starter_stdin_and_wrong_family_are_rejected) {
    char out[OUT_LEN], var[512], lcmd[64];
    int port, tcp = inet_socket(SOCK_STREAM, &port), udp_port, udp = inet_socket(SOCK_DGRAM, &udp_port);
    const char *env[] = {var, NULL};
    const char *cmds[] = {"list", "flags:3", lcmd, NULL};
    int fds[2];
    CHECK(tcp >= 0 && udp >= 0);
    fds[0] = tcp;
    fds[1] = udp;
    /* A listening socket at stdin; a TCP listener announced as a unix path;
     * a UDP socket announced by port (start_server's u-ports look the same). */
    snprintf(var, sizeof var, "SERVER_STARTER_PORT=127.0.0.1:%d=0;%s/x.sock=3;127.0.0.1:%d=4", port,
             harness_tmpdir(), udp_port);
    snprintf(lcmd, sizeof lcmd, "listen:dns:udp://127.0.0.1:%d", udp_port);
    CHECK_INT(run_probe(env, fds, 2, tcp, out, sizeof out, cmds), ==, 0);
    CHECK_STR_CONTAINS(out, "fd 0 is stdin, never a listener");
    CHECK_STR_CONTAINS(out, "SERVER_STARTER_PORT: fd 3");
    CHECK_STR_CONTAINS(out, "announces a unix socket");
    CHECK_STR_CONTAINS(out, "flags 3 cloexec=0");
    CHECK_STR_CONTAINS(out, "entry 0 unknown kind=3 claimed=0");
    CHECK(strstr(out, "entry 1") == NULL);
    CHECK_STR_CONTAINS(out, "listen dns ok");
    close(tcp);
    close(udp);
}
