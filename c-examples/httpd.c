/* httpd: a small HTTP/1.1 server that upgrades itself with zero downtime.
 *
 * Every request gets "200 OK", the header "X-Pid: <pid>" and the body
 * "ok pid=<pid> generation=<n>\n". A poll loop serves keep-alive connections.
 *
 *   --listen [NAME=]ADDR   listen here (repeatable; default http=127.0.0.1:8080)
 *   --pid-file PATH        keep a locked pid file (follows upgrades)
 *   --daemonize            detach; the launching shell learns whether it came up
 *   --log-file PATH        stdout/stderr of the daemon (default /dev/null)
 *   --drain-timeout MS     how long a draining generation may take (default 10000)
 *   --verbose              print the library's log events on stderr
 *   --upgrade-exe PATH     upgrade to this executable (default: our own, as recorded at start)
 *   --upgrade-timeout MS   how long a new generation has to become ready (default 60000)
 *   --handoff-socket PATH  serve hand-off at PATH: a new instance started by a
 *                          supervisor can take this one's sockets from there
 *   --take-from PATH       start by taking the sockets of the instance serving
 *                          hand-off at PATH (give the same --listen names); once
 *                          this one is ready, that one drains and exits
 *   --daemon-mode MODE     with --daemonize: auto (default), fork or reexec
 *   --ballast MIB          allocate and touch MIB MiB of heap (make bench: the
 *                          cost of an upgrade or daemonize against process size).
 *                          Touched on a thread 1 s after ready (a generation serves,
 *                          and the upgrade that started it is over by then);
 *                          with --daemonize, touched in the launcher before it
 *                          detaches. Prints "ballast MIB MiB touched pid=P mono_ns=N"
 *                          once every page is touched (the thread then ends).
 *   --pass-connections     zero-drain upgrades: after an upgrade, hand every
 *                          open connection to the new generation between two
 *                          requests (no response in flight), with the request
 *                          bytes already read, instead of draining it; and take
 *                          the connections an older generation passes
 *
 * SIGHUP/SIGUSR2: upgrade to a new generation (non-blocking: this one keeps
 * serving while the new one starts; if it fails, this one simply goes on).
 * SIGTERM/SIGINT, a successful upgrade, or a completed hand-off (another
 * instance took the sockets): drain politely and exit.
 *
 * A supervisor-driven restart, from a shell:
 *   httpd --listen http=127.0.0.1:8080 --handoff-socket /tmp/httpd.sock &
 *   httpd --listen http=127.0.0.1:8080 --take-from /tmp/httpd.sock --handoff-socket /tmp/httpd.sock &
 *
 * The polite drain (what loses no request): stop accepting; answer each
 * further request on an open connection with "Connection: close" and close
 * after the response; close a connection early only when it is idle and has no
 * request bytes waiting; exit when none are left or the drain timeout passes.
 * With --pass-connections the drain is the fallback: a connection is passed as
 * soon as nothing of it is in flight, and only what could not be passed (the
 * new generation died, stalled or refused) is drained.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gracefd.h"

#define MAX_LISTENERS 16
#define MAX_CONNS 4096
#define BUF 8192
#define IDLE_CLOSE_MS 200 /* while draining: idle this long, nothing waiting → close */

struct conn {
    int fd;
    size_t in_len;
    char in[BUF];
    size_t out_len, out_off;
    char out[BUF];
    int close_after; /* close once out is flushed */
    long long last_active_ms;
};

static struct conn *conns[MAX_CONNS];
static int nconns;
static int listeners[MAX_LISTENERS];
static int nlisteners;
static int draining;
static int handoff_fd = -1;
static long long drain_deadline_ms;
static int pass_mode;   /* --pass-connections */
static int passing;     /* draining by passing connections to the new generation */
static char body[128];
static size_t body_len;

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_log(void *user, int level, const char *msg) {
    (void)user;
    fprintf(stderr, "<%d>%s\n", level, msg);
}

static void die_startup(const char *what, int r) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", what, r < 0 ? gracefd_last_error() : strerror(errno));
    /* Tell whoever waits (a daemonize launcher, an upgrading old generation);
     * a launcher prints it as "httpd: <msg>". */
    gracefd_fail(1, msg);
    fprintf(stderr, "httpd: %s\n", msg);
    exit(1);
}

static void conn_close(int i) {
    close(conns[i]->fd);
    free(conns[i]);
    conns[i] = conns[--nconns];
}

static void queue_response(struct conn *c, int close_it) {
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Pid: %d\r\nContent-Length: %zu\r\n%s\r\n",
                     (int)getpid(), body_len, close_it ? "Connection: close\r\n" : "");
    if (c->out_len + (size_t)n + body_len > sizeof c->out) { /* client pipelines too much */
        c->close_after = 1;
        return;
    }
    memcpy(c->out + c->out_len, head, (size_t)n);
    c->out_len += (size_t)n;
    memcpy(c->out + c->out_len, body, body_len);
    c->out_len += body_len;
    if (close_it) c->close_after = 1;
}

/* Parse complete requests in c->in; returns -1 on a malformed request. */
static int handle_input(struct conn *c) {
    for (;;) {
        if (c->close_after) { c->in_len = 0; return 0; }
        char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (!end) return c->in_len >= sizeof c->in ? -1 : 0;
        size_t head_len = (size_t)(end - c->in) + 4;
        size_t content = 0;
        int client_close = 0;
        /* headers: Content-Length, Connection */
        for (char *line = memchr(c->in, '\n', head_len); line && line < end; line = memchr(line + 1, '\n', (size_t)(end - line))) {
            char *h = line + 1;
            if (strncasecmp(h, "Content-Length:", 15) == 0) content = (size_t)strtoul(h + 15, NULL, 10);
            if (strncasecmp(h, "Connection:", 11) == 0) {
                const char *v = h + 11;
                while (*v == ' ') v++;
                if (strncasecmp(v, "close", 5) == 0) client_close = 1;
            }
        }
        if (memcmp(c->in, "GET ", 4) != 0 && memcmp(c->in, "POST ", 5) != 0 && memcmp(c->in, "HEAD ", 5) != 0) return -1;
        if (memmem(c->in, head_len, " HTTP/1.0\r\n", 11)) client_close = 1;
        if (content > sizeof c->in || head_len + content > sizeof c->in) return -1;
        if (c->in_len < head_len + content) return 0; /* body not complete yet */
        queue_response(c, client_close || (draining && !passing));
        memmove(c->in, c->in + head_len + content, c->in_len - head_len - content);
        c->in_len -= head_len + content;
    }
}

static int flush_out(struct conn *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
        c->out_off += (size_t)n;
    }
    c->out_len = c->out_off = 0;
    return 0;
}

static struct conn *conn_add(int fd) {
    struct conn *c = calloc(1, sizeof *c);
    if (!c) { close(fd); return NULL; }
    c->fd = fd;
    c->last_active_ms = now_ms();
    conns[nconns++] = c;
    return c;
}

static void accept_all(int lfd) {
    while (nconns < MAX_CONNS) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return; /* EAGAIN: the other generation took it, or none left */
        conn_add(fd);
    }
}

/* New side: take the connections the older generation passed. Each comes with
 * the request bytes the old one had read (never a whole request: it passes
 * only between requests); the rest is still in the socket. */
static void take_passed(void) {
    static char state[GRACEFD_CONNS_STATE_MAX];
    while (nconns < MAX_CONNS) {
        uint64_t tag;
        size_t len;
        int fd = gracefd_conns_next(&tag, (uint8_t *)state, sizeof state, &len);
        if (fd < 0) return; /* -EAGAIN: none left */
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        struct conn *c = conn_add(fd);
        if (!c) continue;
        if (len > sizeof c->in) { conn_close(nconns - 1); continue; } /* not ours: we never pass more */
        memcpy(c->in, state, len);
        c->in_len = len;
        if (handle_input(c) < 0) conn_close(nconns - 1);
    }
}

/* Old side, after a successful upgrade: pass every connection with nothing in
 * flight (no response queued, no complete request unanswered) to the new
 * generation. Those passed are closed here (the connection lives on there);
 * the others stay, and are passed on a later round once idle. If the new
 * generation cannot take them, fall back to the polite drain. */
static void pass_idle(void) {
    static int fds[MAX_CONNS];
    static uint32_t lens[MAX_CONNS];
    static uint8_t states[MAX_CONNS > 64 ? 64 * BUF : 0];
    static struct conn *which[MAX_CONNS];
    size_t n = 0, bytes = 0;
    for (int i = 0; i < nconns; i++) {
        struct conn *c = conns[i];
        if (c->out_len || c->close_after || bytes + c->in_len > sizeof states) continue;
        memcpy(states + bytes, c->in, c->in_len);
        bytes += c->in_len;
        lens[n] = (uint32_t)c->in_len;
        fds[n] = c->fd;
        which[n++] = c;
    }
    if (n == 0) return;
    size_t passed = 0;
    int r = gracefd_conns_pass(fds, NULL, states, lens, n, 2000, &passed);
    for (size_t k = 0; k < passed; k++)
        for (int i = nconns - 1; i >= 0; i--)
            if (conns[i] == which[k]) { conn_close(i); break; }
    if (r < 0) {
        fprintf(stderr, "httpd[%d]: passed %zu of %zu connections, draining the rest: %s\n", (int)getpid(), passed, n,
                gracefd_last_error());
        passing = 0; /* the polite drain from here on */
    }
}

static void start_drain(void) {
    if (draining) return;
    draining = 1;
    for (int i = 0; i < nlisteners; i++) close(listeners[i]);
    nlisteners = 0;
    if (handoff_fd >= 0) { /* nobody may take the sockets of a process that leaves */
        gracefd_handoff_stop();
        close(handoff_fd);
        handoff_fd = -1;
    }
    /* Open connections with nothing in flight get "Connection: close" on their next request. */
}

static int bytes_waiting(int fd) {
    int n = 0;
    if (ioctl(fd, FIONREAD, &n) < 0) return 1;
    return n > 0;
}

static void usage(void) {
    fprintf(stderr, "usage: httpd [--listen [NAME=]ADDR]... [--pid-file PATH] [--daemonize] [--log-file PATH] "
                    "[--drain-timeout MS] [--upgrade-exe PATH] [--upgrade-timeout MS] [--verbose] "
                    "[--handoff-socket PATH] [--take-from PATH] [--pass-connections] [--daemon-mode auto|fork|reexec] [--ballast MIB]\n");
    exit(2);
}

/* Heap that only has to exist (and be resident): make bench's ballast. */
static volatile char *ballast;

static void *touch_ballast_now(void *arg) {
    long mib = (long)(intptr_t)arg;
    size_t n = (size_t)mib << 20;
    if (mib < 0) {
        /* On the thread: wait out the upgrade that started us first, so the
         * page faults do not compete with it for the CPU. */
        mib = -mib;
        n = (size_t)mib << 20;
        struct timespec pause = {1, 0};
        nanosleep(&pause, NULL);
    }
    char *p = malloc(n);
    if (!p) {
        fprintf(stderr, "httpd: no memory for %ld MiB of ballast\n", mib);
        exit(1);
    }
    for (size_t i = 0; i < n; i += 4096) p[i] = (char)i;
    ballast = p;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    fprintf(stderr, "ballast %ld MiB touched pid=%d mono_ns=%lld\n", mib, (int)getpid(),
            (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    return NULL;
}

/* In the launcher of a daemon: now, before it detaches. In a serving
 * generation: on a thread, so it serves while the pages are touched. */
static void touch_ballast(long mib, int in_background) {
    static int done;
    if (mib <= 0 || done) return;
    done = 1;
    pthread_t t;
    if (!in_background || pthread_create(&t, NULL, touch_ballast_now, (void *)(intptr_t)-mib) != 0)
        touch_ballast_now((void *)(intptr_t)mib);
    else
        pthread_detach(t);
}

int main(int argc, char **argv) {
    const char *specs[MAX_LISTENERS];
    int nspecs = 0;
    const char *pid_file = NULL, *log_file = NULL, *handoff_path = NULL, *take_from = NULL;
    int daemonize = 0, verbose = 0, daemon_mode = GRACEFD_DAEMON_AUTO;
    long ballast_mib = 0;
    long drain_timeout = 10000, upgrade_timeout = 60000;
    const char *upgrade_exe = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc && nspecs < MAX_LISTENERS) specs[nspecs++] = argv[++i];
        else if (!strcmp(argv[i], "--pid-file") && i + 1 < argc) pid_file = argv[++i];
        else if (!strcmp(argv[i], "--log-file") && i + 1 < argc) log_file = argv[++i];
        else if (!strcmp(argv[i], "--drain-timeout") && i + 1 < argc) drain_timeout = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--upgrade-exe") && i + 1 < argc) upgrade_exe = argv[++i];
        else if (!strcmp(argv[i], "--upgrade-timeout") && i + 1 < argc) upgrade_timeout = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--handoff-socket") && i + 1 < argc) handoff_path = argv[++i];
        else if (!strcmp(argv[i], "--take-from") && i + 1 < argc) take_from = argv[++i];
        else if (!strcmp(argv[i], "--daemonize")) daemonize = 1;
        else if (!strcmp(argv[i], "--ballast") && i + 1 < argc) ballast_mib = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--daemon-mode") && i + 1 < argc) {
            const char *m = argv[++i];
            if (!strcmp(m, "fork")) daemon_mode = GRACEFD_DAEMON_FORK;
            else if (!strcmp(m, "reexec")) daemon_mode = GRACEFD_DAEMON_REEXEC;
            else if (strcmp(m, "auto")) usage();
        }
        else if (!strcmp(argv[i], "--verbose")) verbose = 1;
        else if (!strcmp(argv[i], "--pass-connections")) pass_mode = 1;
        else usage();
    }
    if (nspecs == 0) specs[nspecs++] = "http=127.0.0.1:8080";
    if (verbose) gracefd_set_log_hook(on_log, NULL, GRACEFD_LOG_DEBUG);
    signal(SIGPIPE, SIG_IGN);
    if (daemonize) {
        /* Before any listener or thread: the launcher waits until we are ready
         * (or prints why we failed) and exits with the truth. */
        /* The launcher carries the ballast into the start (a re-exec'd daemon,
         * recognisable by the library's marker, touches its own after ready). */
        if (!getenv("GRACEFD_DAEMON")) touch_ballast(ballast_mib, 0);
        gracefd_daemon_opts *d = gracefd_daemon_opts_new();
        if (!d) die_startup("daemonize", -ENOMEM);
        gracefd_daemon_opts_set_mode(d, daemon_mode);
        if (pid_file) gracefd_daemon_opts_set_pid_file(d, pid_file);
        gracefd_daemon_opts_set_log_file(d, log_file);
        int r = gracefd_daemonize(d);
        gracefd_daemon_opts_free(d);
        if (r == -EEXIST) {
            fprintf(stderr, "httpd: %s\n", gracefd_last_error());
            return GRACEFD_EXIT_ALREADY_RUNNING;
        }
        if (r < 0) die_startup("daemonize", r);
    } else if (pid_file) {
        int r = gracefd_pidfile_create(pid_file);
        if (r == -EEXIST) {
            fprintf(stderr, "httpd: %s\n", gracefd_last_error());
            return GRACEFD_EXIT_ALREADY_RUNNING;
        }
        if (r < 0) die_startup("pid file", r);
    }

    /* Take the sockets of the running instance first: gracefd_listen() below
     * then finds each one by name, exactly as if it had been inherited. (A
     * generation started by our own upgrade inherited them already.) */
    if (take_from && !gracefd_is_upgrade()) {
        int n = gracefd_handoff_take(take_from, 10000);
        if (n < 0) die_startup("take", n);
    }

    for (int i = 0; i < nspecs; i++) {
        char name[64] = "";
        const char *addr = specs[i];
        const char *eq = strchr(specs[i], '=');
        if (eq && (size_t)(eq - specs[i]) < sizeof name && !memchr(specs[i], ':', (size_t)(eq - specs[i])) &&
            !memchr(specs[i], '/', (size_t)(eq - specs[i]))) {
            memcpy(name, specs[i], (size_t)(eq - specs[i]));
            name[eq - specs[i]] = 0;
            addr = eq + 1;
        }
        int fd = gracefd_listen(name[0] ? name : NULL, addr);
        if (fd < 0) die_startup(addr, fd);
        /* This program polls before accept, so it wants its listeners non-blocking
         * (another generation may take a connection first). It is our own choice,
         * made explicitly; the library never flips it. */
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        listeners[nlisteners++] = fd;
    }
    int evfd = gracefd_signals_install();
    if (evfd < 0) die_startup("signals", evfd);
    /* Serve hand-off before ready: when the path is the one we took from, we
     * take it over while the old instance still listens there. */
    if (handoff_path) {
        handoff_fd = gracefd_handoff_serve(handoff_path);
        if (handoff_fd < 0) die_startup("hand-off socket", handoff_fd);
    }
    body_len = (size_t)snprintf(body, sizeof body, "ok pid=%d generation=%d\n", (int)getpid(), gracefd_generation());
    /* Before ready: the ready report tells the old generation we take its connections. */
    if (pass_mode) gracefd_conns_enable();
    gracefd_ready(); /* after --take-from: the old instance is told to drain */
    touch_ballast(ballast_mib, 1);

    gracefd_upgrade_opts *uopts = gracefd_upgrade_opts_new();
    if (!uopts) die_startup("upgrade options", -ENOMEM);
    if (upgrade_exe && gracefd_upgrade_opts_set_exe(uopts, upgrade_exe) < 0) die_startup("--upgrade-exe", -EINVAL);
    gracefd_upgrade_opts_set_timeout_ms(uopts, upgrade_timeout);
    int upgrade_fd = -1;
    static struct pollfd pfd[MAX_CONNS + MAX_LISTENERS + 3];
    for (;;) {
        int np = 0;
        pfd[np++] = (struct pollfd){.fd = evfd, .events = POLLIN};
        pfd[np++] = (struct pollfd){.fd = upgrade_fd, .events = POLLIN}; /* -1 is ignored by poll */
        pfd[np++] = (struct pollfd){.fd = handoff_fd, .events = POLLIN};
        int lbase = np;
        for (int i = 0; i < nlisteners; i++) pfd[np++] = (struct pollfd){.fd = listeners[i], .events = POLLIN};
        int cbase = np;
        for (int i = 0; i < nconns; i++)
            pfd[np++] = (struct pollfd){.fd = conns[i]->fd, .events = (short)(POLLIN | (conns[i]->out_len ? POLLOUT : 0))};
        int timeout = (draining || upgrade_fd >= 0) ? 50 : -1;
        if (poll(pfd, (nfds_t)np, timeout) < 0 && errno != EINTR) break;
        long long now = now_ms();

        if (handoff_fd >= 0 && (pfd[2].revents & POLLIN)) {
            /* Accepts takers, sends them the sockets; DONE once one is ready
             * (GRACEFD_EVENT_DRAIN is posted too, handled just below). */
            int r = gracefd_handoff_process();
            if (r < 0) fprintf(stderr, "httpd[%d]: hand-off: %s\n", (int)getpid(), gracefd_last_error());
        }
        /* Events only when the event fd says so: nothing on the per-request path. */
        for (int ev; (pfd[0].revents & POLLIN) && (ev = gracefd_event_next()) > 0;) {
            if (ev == GRACEFD_EVENT_UPGRADE && !draining && upgrade_fd < 0) {
                upgrade_fd = gracefd_upgrade_start(uopts);
                if (upgrade_fd < 0) {
                    fprintf(stderr, "httpd[%d]: upgrade not started: %s\n", (int)getpid(), gracefd_last_error());
                    upgrade_fd = -1;
                }
            } else if (ev == GRACEFD_EVENT_SHUTDOWN || ev == GRACEFD_EVENT_DRAIN) {
                start_drain();
                passing = 0; /* a shutdown drains, even in the middle of a pass */
                drain_deadline_ms = now + drain_timeout;
            } else if (ev == GRACEFD_EVENT_CONNS) {
                take_passed(); /* even while draining: they are ours now, passed on or drained with the rest */
            }
        }
        if (upgrade_fd >= 0) {
            pid_t child;
            int r = gracefd_upgrade_finish(&child);
            if (r == 0) {
                upgrade_fd = -1;
                start_drain();
                drain_deadline_ms = now + drain_timeout;
                passing = pass_mode && gracefd_conns_can_pass() > 0;
            } else if (r != -EAGAIN) {
                fprintf(stderr, "httpd[%d]: upgrade failed, still serving: %s\n", (int)getpid(), gracefd_last_error());
                upgrade_fd = -1;
                if (handoff_fd >= 0) { /* the failed generation may have taken the path over: serve it afresh */
                    gracefd_handoff_stop();
                    close(handoff_fd);
                    handoff_fd = gracefd_handoff_serve(handoff_path);
                    if (handoff_fd < 0) fprintf(stderr, "httpd[%d]: hand-off socket: %s\n", (int)getpid(), gracefd_last_error());
                }
            }
        }
        for (int i = 0; i < nlisteners && lbase + i < np; i++)
            if (pfd[lbase + i].revents & POLLIN) accept_all(listeners[i]);
        /* Connections: walk backwards, conn_close() moves the last one into the hole. */
        int polled = np - cbase;
        for (int i = (polled < nconns ? polled : nconns) - 1; i >= 0; i--) {
            struct conn *c = conns[i];
            short re = pfd[cbase + i].revents;
            int dead = 0;
            if (re & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
                if (n > 0) {
                    c->in_len += (size_t)n;
                    c->last_active_ms = now;
                    if (handle_input(c) < 0) dead = 1;
                } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                    dead = 1;
                }
            }
            if (!dead && c->out_len && flush_out(c) < 0) dead = 1;
            if (!dead && !c->out_len && c->close_after) dead = 1;
            if (!dead && draining && !passing && !c->out_len && c->in_len == 0 && now - c->last_active_ms >= IDLE_CLOSE_MS &&
                !bytes_waiting(c->fd))
                dead = 1;
            if (dead) conn_close(i);
        }
        if (passing) pass_idle();
        if (draining && (nconns == 0 || now >= drain_deadline_ms)) break;
    }
    while (nconns > 0) conn_close(nconns - 1);
    gracefd_upgrade_opts_free(uopts);
    /* Removed only if it still names us: after an upgrade it names the new generation. */
    gracefd_pidfile_remove();
    return 0;
}
