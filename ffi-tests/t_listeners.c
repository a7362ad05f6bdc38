/* Listening sockets and the registry of named fds (issue 4).
 *
 * Hostile environments are tested by re-executing this binary as the role
 * "probe" with a crafted envp and crafted fds at 3.. (and sometimes 0): the
 * library reads them in its start-up constructor, exactly as in a real
 * program. The probe runs the commands it is given and prints one line per
 * result, which the test then checks. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gracefd.h"
#include "harness.h"

/* ---- helpers ------------------------------------------------------------ */

static unsigned long inode_of(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) return 0;
    return (unsigned long)st.st_ino;
}

static int port_of(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

/* A CLOEXEC IPv4 socket on 127.0.0.1, port chosen by the kernel. */
static int inet_socket(int type, int *port_out) {
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin;
    if (fd < 0) return -1;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0) return -1;
    if (type == SOCK_STREAM && listen(fd, 16) != 0) return -1;
    if (port_out) *port_out = port_of(fd);
    return fd;
}

static int unix_listener(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun;
    if (fd < 0) return -1;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    if (bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0) return -1;
    if (listen(fd, 16) != 0) return -1;
    return fd;
}

static int connect_unix(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun;
    int r;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    r = connect(fd, (struct sockaddr *)&sun, sizeof sun);
    close(fd);
    return r;
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define PROBE_TIMEOUT_MS 20000
#define CLOSED_SLOT (-1)

/* Run `ffi-tests --role ROLE CMDS...` with exactly `env` as its environment
 * ("LISTEN_PID=$" becomes the child's own pid), fds[i] at fd 3+i (CLOSED_SLOT:
 * that fd is closed in the child), `stdin_fd` at 0 if >= 0, and no other fd
 * >= 3 open. Collects its stdout into `out`; returns its exit status, or
 * -1 if it had to be killed. Bounded in time; the child is reaped. */
static int run_role(const char *role, const char *const *env, const int *fds, int nfds, int stdin_fd, char *out,
                    size_t outlen, const char *const *cmds) {
    int p[2];
    char *argv[64];
    char *envp[64];
    char pidvar[64];
    int argc = 0, envc = 0, i;
    size_t used = 0;
    pid_t pid;
    long long deadline = now_ms() + PROBE_TIMEOUT_MS;
    int status = 0, got = 0;

    argv[argc++] = (char *)harness_self();
    argv[argc++] = (char *)"--role";
    argv[argc++] = (char *)role;
    for (i = 0; cmds && cmds[i] && argc < 63; i++) argv[argc++] = (char *)cmds[i];
    argv[argc] = NULL;
    for (i = 0; env[i] && envc < 62; i++) envp[envc++] = (char *)env[i];
    envp[envc] = NULL;

    if (pipe2(p, O_CLOEXEC) != 0) return -1;
    fflush(NULL);
    pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int tmp[32];
        for (i = 0; env[i] && i < 62; i++)
            if (strcmp(env[i], "LISTEN_PID=$") == 0) {
                snprintf(pidvar, sizeof pidvar, "LISTEN_PID=%d", (int)getpid());
                envp[i] = pidvar;
            }
        dup2(p[1], 1);
        /* Two phases, so that no target clobbers a source. */
        for (i = 0; i < nfds && i < 32; i++) tmp[i] = fds[i] >= 0 ? fcntl(fds[i], F_DUPFD_CLOEXEC, 200) : -1;
        if (stdin_fd >= 0) dup2(fcntl(stdin_fd, F_DUPFD_CLOEXEC, 200), 0);
        /* Whatever else is open (this process's or its parents') vanishes at exec. */
        close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        for (i = 3; i < 3 + nfds; i++) close(i);
        for (i = 0; i < nfds && i < 32; i++)
            if (tmp[i] >= 0) dup2(tmp[i], 3 + i);
        execve(harness_self(), argv, envp);
        _exit(127);
    }
    close(p[1]);
    for (;;) {
        struct pollfd pf;
        long long left = deadline - now_ms();
        ssize_t n;
        if (left <= 0) break;
        pf.fd = p[0];
        pf.events = POLLIN;
        pf.revents = 0;
        if (poll(&pf, 1, (int)left) <= 0) continue;
        if (used + 1 >= outlen) break;
        n = read(p[0], out + used, outlen - 1 - used);
        if (n <= 0) break;
        used += (size_t)n;
    }
    out[used] = 0;
    close(p[0]);
    while (now_ms() < deadline) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            got = 1;
            break;
        }
        {
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL);
        }
    }
    if (!got) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fprintf(stderr, "    probe timed out; output so far:\n%s\n", out);
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fprintf(stderr, "    probe output:\n%s\n", out);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int run_probe(const char *const *env, const int *fds, int nfds, int stdin_fd, char *out, size_t outlen,
                     const char *const *cmds) {
    return run_role("probe", env, fds, nfds, stdin_fd, out, outlen, cmds);
}

/* ---- the probe role ----------------------------------------------------- */

static void print_log(void *user, int level, const char *msg) {
    (void)user;
    printf("log %d: %s\n", level, msg);
}

static void print_fd(const char *what, const char *name, int fd) {
    int type = 0, acc = 0;
    socklen_t len = sizeof type;
    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
    len = sizeof acc;
    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len);
    printf("%s %s ok ino=%lu type=%d acc=%d nb=%d cloexec=%d port=%d\n", what, name, inode_of(fd), type, acc,
           (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0, (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0, port_of(fd));
}

static void print_err(const char *what, const char *name, int r) {
    printf("%s %s err %s: %s\n", what, name, gracefd_strerror(r), gracefd_last_error());
}

static void scan_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (!d) return;
    while ((e = readdir(d)) != NULL) {
        int fd;
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        fd = atoi(e->d_name);
        if (fd == dirfd(d) || fd < 3) continue;
        n++;
        if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC)) printf("leak %d\n", fd);
    }
    closedir(d);
    printf("open %d\n", n);
}

ROLE(probe) {
    int i;
    gracefd_set_log_hook(print_log, NULL, GRACEFD_LOG_DEBUG);
    for (i = 1; i < argc; i++) {
        char cmd[512];
        char *arg;
        snprintf(cmd, sizeof cmd, "%s", argv[i]);
        arg = strchr(cmd, ':');
        if (arg) *arg++ = 0;
        if (strcmp(cmd, "count") == 0) {
            printf("count %d\n", gracefd_inherited_count());
        } else if (strcmp(cmd, "list") == 0) {
            int n = gracefd_inherited_count(), k;
            for (k = 0; k < n; k++) {
                char name[GRACEFD_NAME_MAX + 1];
                int kind = -1, claimed = -1;
                int r = gracefd_inherited_at((size_t)k, name, sizeof name, &kind, &claimed, NULL);
                if (r < 0) print_err("entry", "?", r);
                else printf("entry %d %s kind=%d claimed=%d\n", k, name, kind, claimed);
            }
        } else if (strcmp(cmd, "inherited") == 0 && arg) {
            int r = gracefd_inherited(arg);
            if (r < 0) print_err("inherited", arg, r);
            else print_fd("inherited", arg, r);
        } else if (strcmp(cmd, "listen") == 0 && arg) {
            /* listen:NAME:ADDRESS, NAME "-" for NULL */
            char *addr = strchr(arg, ':');
            int r;
            if (!addr) return 2;
            *addr++ = 0;
            r = gracefd_listen(strcmp(arg, "-") == 0 ? NULL : arg, addr);
            if (r < 0) print_err("listen", arg, r);
            else print_fd("listen", arg, r);
        } else if (strcmp(cmd, "fresh") == 0) {
            int r = gracefd_listen(NULL, "127.0.0.1:0");
            if (r < 0) print_err("fresh", "-", r);
            else printf("fresh ok\n");
            if (r >= 0) close(r);
        } else if (strcmp(cmd, "flags") == 0 && arg) {
            int fd = atoi(arg);
            int fl = fcntl(fd, F_GETFD);
            if (fl < 0) printf("flags %d closed\n", fd);
            else printf("flags %d cloexec=%d ino=%lu\n", fd, (fl & FD_CLOEXEC) != 0, inode_of(fd));
        } else if (strcmp(cmd, "forget") == 0 && arg) {
            int r = gracefd_forget(arg);
            if (r < 0) print_err("forget", arg, r);
            else printf("forget %s %d\n", arg, r);
        } else if (strcmp(cmd, "close_unclaimed") == 0) {
            printf("closed %d\n", gracefd_close_unclaimed());
        } else if (strcmp(cmd, "leaks") == 0) {
            scan_fds();
        } else {
            printf("unknown command %s\n", argv[i]);
            return 2;
        }
    }
    fflush(stdout);
    return 0;
}

/* ---- hostile environments ----------------------------------------------- */

#define OUT_LEN 16384

TEST(listen_fds_hostile_values_inherit_nothing_and_touch_nothing) {
    static const char *const values[] = {"-1", "abc", "2x", " 1", "1 ", "+1", "", "99999999999", "2147483647"};
    int port, fd = inet_socket(SOCK_STREAM, &port);
    size_t i;
    CHECK(fd >= 0);
    for (i = 0; i < sizeof values / sizeof values[0]; i++) {
        char out[OUT_LEN], var[64];
        const char *env[] = {"LISTEN_PID=$", var, "LISTEN_FDNAMES=web", NULL};
        const char *cmds[] = {"count", "flags:3", "inherited:web", "fresh", NULL};
        int fds[1];
        fds[0] = fd;
        snprintf(var, sizeof var, "LISTEN_FDS=%s", values[i]);
        CHECK_INT(run_probe(env, fds, 1, -1, out, sizeof out, cmds), ==, 0);
        CHECK_MSG(strstr(out, "count 0\n") != NULL, "%s: %s", var, out);
        /* Rejected as a whole: fd 3 left exactly as it was (open, not CLOEXEC). */
        CHECK_MSG(strstr(out, "flags 3 cloexec=0") != NULL, "%s: %s", var, out);
        CHECK_MSG(strstr(out, "log 4: gracefd") && strstr(out, "LISTEN_FDS="), "%s: no warning: %s", var, out);
        CHECK_MSG(strstr(out, "inherited web err") && strstr(out, "(ENOENT)"), "%s: %s", var, out);
        CHECK_MSG(strstr(out, "no fd inherited from LISTEN_FDS"), "%s: the ENOENT says why: %s", var, out);
        CHECK_MSG(strstr(out, "fresh ok") != NULL, "%s: %s", var, out);
    }
    close(fd);
}

TEST(listen_fds_zero_is_nothing) {
    char out[OUT_LEN];
    const char *env[] = {"LISTEN_PID=$", "LISTEN_FDS=0", NULL};
    const char *cmds[] = {"count", "fresh", "leaks", NULL};
    int fds[1] = {CLOSED_SLOT};
    CHECK_INT(run_probe(env, fds, 1, -1, out, sizeof out, cmds), ==, 0);
    CHECK_STR_CONTAINS(out, "count 0\n");
    CHECK(strstr(out, "log 4") == NULL);
    CHECK_STR_CONTAINS(out, "fresh ok");
    CHECK(strstr(out, "leak ") == NULL);
}

TEST(listen_pid_of_another_process_is_not_for_us) {
    char out[OUT_LEN], listen_cmd[64];
    int port, fd = inet_socket(SOCK_STREAM, &port);
    const char *env[] = {"LISTEN_PID=1", "LISTEN_FDS=1", "LISTEN_FDNAMES=web", NULL};
    const char *cmds[] = {"count", "flags:3", listen_cmd, "fresh", NULL};
    int fds[1];
    CHECK(fd >= 0);
    fds[0] = fd;
    snprintf(listen_cmd, sizeof listen_cmd, "listen:web:127.0.0.1:%d", port);
    CHECK_INT(run_probe(env, fds, 1, -1, out, sizeof out, cmds), ==, 0);
    CHECK_STR_CONTAINS(out, "count 0\n");
    CHECK_STR_CONTAINS(out, "flags 3 cloexec=0");
    CHECK_STR_CONTAINS(out, "LISTEN_PID=1 is not this process");
    /* Not ours, so gracefd binds afresh: the port is taken by that very socket. */
    CHECK_STR_CONTAINS(out, "listen web err");
    CHECK_STR_CONTAINS(out, "(EADDRINUSE)");
    CHECK_STR_CONTAINS(out, "fresh ok");
    close(fd);
}

TEST(fewer_names_than_fds_become_unknown) {
    char out[OUT_LEN], listen_cmd[64], want[64];
    int p1, p2, a = inet_socket(SOCK_STREAM, &p1), b = inet_socket(SOCK_STREAM, &p2);
    const char *env[] = {"LISTEN_PID=$", "LISTEN_FDS=2", "LISTEN_FDNAMES=a", NULL};
    const char *cmds[] = {"list", listen_cmd, "list", NULL};
    int fds[2];
    fds[0] = a;
    fds[1] = b;
    snprintf(listen_cmd, sizeof listen_cmd, "listen:b:127.0.0.1:%d", p2);
    CHECK_INT(run_probe(env, fds, 2, -1, out, sizeof out, cmds), ==, 0);
    CHECK_STR_CONTAINS(out, "entry 0 a kind=1 claimed=0");
    CHECK_STR_CONTAINS(out, "entry 1 unknown kind=1 claimed=0");
    CHECK_STR_CONTAINS(out, "fewer fds than LISTEN_FDS=2");
    /* The unnamed one is found by its address, and takes the name. */
    snprintf(want, sizeof want, "listen b ok ino=%lu", inode_of(b));
    CHECK_STR_CONTAINS(out, want);
    CHECK_STR_CONTAINS(out, "entry 1 b kind=1 claimed=1");
    close(a);
    close(b);
}

TEST(more_names_than_fds_is_rejected) {
    char out[OUT_LEN];
    int fd = inet_socket(SOCK_STREAM, NULL);
    const char *env[] = {"LISTEN_PID=$", "LISTEN_FDS=1", "LISTEN_FDNAMES=a:b", NULL};
    const char *cmds[] = {"count", "flags:3", "inherited:a", "fresh", NULL};
    int fds[1];
    fds[0] = fd;
    CHECK_INT(run_probe(env, fds, 1, -1, out, sizeof out, cmds), ==, 0);
    CHECK_STR_CONTAINS(out, "count 0\n");
    CHECK_STR_CONTAINS(out, "flags 3 cloexec=0");
    CHECK_STR_CONTAINS(out, "LISTEN_FDNAMES names 2 fds but LISTEN_FDS=1");
    CHECK_STR_CONTAINS(out, "inherited a err");
    CHECK_STR_CONTAINS(out, "fresh ok");
    close(fd);
}

TEST(announced_fds_closed_file_udp_are_handled) {
    char out[OUT_LEN], path[512], want[128];
    int file, udp, tcp;
    const char *env[] = {"LISTEN_PID=$", "LISTEN_FDS=4", "LISTEN_FDNAMES=gone:state:web:api", NULL};
    const char *cmds[] = {"list",
                          "listen:web:127.0.0.1:0",
                          "listen:state:127.0.0.1:0",
                          "inherited:state",
                          "inherited:gone",
                          "listen:api:udp://127.0.0.1:0",
                          "forget:web",
                          "listen:web:127.0.0.1:0",
                          "fresh",
                          NULL};
    int fds[4];
    snprintf(path, sizeof path, "%s/state", harness_tmpdir());
    file = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    udp = inet_socket(SOCK_DGRAM, NULL);
    tcp = inet_socket(SOCK_STREAM, NULL);
    CHECK(file >= 0 && udp >= 0 && tcp >= 0);
    fds[0] = CLOSED_SLOT;
    fds[1] = file;
    fds[2] = udp;
    fds[3] = tcp;
    CHECK_INT(run_probe(env, fds, 4, -1, out, sizeof out, cmds), ==, 0);
    /* fd 3 closed: rejected with a warning naming the variable and the fd. */
    CHECK_STR_CONTAINS(out, "LISTEN_FDS: fd 3 \"gone\" rejected: it is not open");
    CHECK_STR_CONTAINS(out, "entry 0 state kind=5 claimed=0");
    CHECK_STR_CONTAINS(out, "entry 1 web kind=3 claimed=0");
    CHECK_STR_CONTAINS(out, "entry 2 api kind=1 claimed=0");
    /* A UDP socket where a TCP listener is asked: refused, never the wrong socket. */
    CHECK_STR_CONTAINS(out, "listen web err protocol wrong type for socket (EPROTOTYPE): fd 5 \"web\" (LISTEN_FDS) is a UDP socket");
    CHECK_STR_CONTAINS(out, "listen state err socket operation on non-socket (ENOTSOCK): fd 4 \"state\" (LISTEN_FDS) is not a socket");
    snprintf(want, sizeof want, "inherited state ok ino=%lu", inode_of(file));
    CHECK_STR_CONTAINS(out, want);
    CHECK_STR_CONTAINS(out, "inherited gone err no such file or directory (ENOENT): no inherited fd named \"gone\"; LISTEN_FDS fd 3 was rejected: it is not open");
    CHECK_STR_CONTAINS(out, "listen api err protocol wrong type for socket (EPROTOTYPE): fd 6 \"api\" (LISTEN_FDS) is a listening TCP socket");
    /* After forgetting the name, the program binds afresh. */
    CHECK_STR_CONTAINS(out, "forget web 1");
    CHECK_STR_CONTAINS(out, "listen web ok");
    CHECK_STR_CONTAINS(out, "fresh ok");
    close(file);
    close(udp);
    close(tcp);
}

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

TEST(inherited_mode_is_untouched_and_nothing_leaks) {
    char out[OUT_LEN];
    int blocking = inet_socket(SOCK_STREAM, NULL), nonblocking = inet_socket(SOCK_STREAM, NULL);
    const char *env[] = {"LISTEN_PID=$", "LISTEN_FDS=2", "LISTEN_FDNAMES=blk:nb", NULL};
    const char *cmds[] = {"leaks", "flags:3", "flags:4", "listen:blk:127.0.0.1:0", "inherited:nb", "leaks",
                          "close_unclaimed", "list", NULL};
    int fds[2];
    CHECK(blocking >= 0 && nonblocking >= 0);
    CHECK(fcntl(nonblocking, F_SETFL, fcntl(nonblocking, F_GETFL) | O_NONBLOCK) == 0);
    fds[0] = blocking;
    fds[1] = nonblocking;
    CHECK_INT(run_probe(env, fds, 2, -1, out, sizeof out, cmds), ==, 0);
    /* At start-up, before main: inherited fds are CLOEXEC; nothing else leaks. */
    CHECK_STR_CONTAINS(out, "flags 3 cloexec=1");
    CHECK_STR_CONTAINS(out, "flags 4 cloexec=1");
    CHECK(strstr(out, "leak ") == NULL);
    CHECK_STR_CONTAINS(out, "open 2\n");
    CHECK_STR_CONTAINS(out, "listen blk ok");
    CHECK_STR_CONTAINS(out, "nb=0 cloexec=1");
    CHECK_STR_CONTAINS(out, "inherited nb ok");
    CHECK_STR_CONTAINS(out, "nb=1 cloexec=1");
    /* (The name decides: asked for 127.0.0.1:0, the inherited socket was used, with a notice.) */
    CHECK_STR_CONTAINS(out, "an inherited name decides the address");
    CHECK_STR_CONTAINS(out, "open 4\n");
    CHECK_STR_CONTAINS(out, "closed 0\n");
    close(blocking);
    close(nonblocking);
}

TEST(close_unclaimed_closes_only_unclaimed) {
    char out[OUT_LEN];
    int a = inet_socket(SOCK_STREAM, NULL), b = inet_socket(SOCK_STREAM, NULL), c = inet_socket(SOCK_DGRAM, NULL);
    const char *env[] = {"LISTEN_PID=$", "LISTEN_FDS=3", "LISTEN_FDNAMES=a:b:c", NULL};
    const char *cmds[] = {"inherited:b", "close_unclaimed", "flags:3", "flags:4", "flags:5", "list", "leaks", NULL};
    int fds[3];
    fds[0] = a;
    fds[1] = b;
    fds[2] = c;
    CHECK_INT(run_probe(env, fds, 3, -1, out, sizeof out, cmds), ==, 0);
    CHECK_STR_CONTAINS(out, "closed 2\n");
    CHECK_STR_CONTAINS(out, "flags 3 closed");
    CHECK_STR_CONTAINS(out, "flags 4 cloexec=1");
    CHECK_STR_CONTAINS(out, "flags 5 closed");
    CHECK_STR_CONTAINS(out, "entry 0 b kind=1 claimed=1");
    CHECK(strstr(out, "entry 1") == NULL);
    CHECK_STR_CONTAINS(out, "closing unclaimed inherited fd 3 \"a\" (LISTEN_FDS)");
    CHECK(strstr(out, "leak ") == NULL);
    close(a);
    close(b);
    close(c);
}

/* ---- in-process behaviour ---------------------------------------------- */

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
