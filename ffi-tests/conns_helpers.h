/* Helpers of the connection-pass tests (t_conns_*.c): client/server pairs on
 * 127.0.0.1, addresses as text, line I/O with timeouts, reaping by pid, the
 * wire frames written by hand (to play a hostile or dying peer), and the
 * new-generation roles that serve passed connections. */
#ifndef GRACEFD_CONNS_HELPERS_H
#define GRACEFD_CONNS_HELPERS_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gracefd.h"

static inline int conns_port_of(int fd) {
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &l) < 0) return -1;
    return ntohs(a.sin_port);
}

/* "127.0.0.1:PORT" of the local (peer = 0) or remote (peer = 1) end. */
static inline void conns_addr(int fd, int peer, char *out, size_t cap) {
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    int r = peer ? getpeername(fd, (struct sockaddr *)&a, &l) : getsockname(fd, (struct sockaddr *)&a, &l);
    char ip[INET_ADDRSTRLEN] = "?";
    if (r == 0) inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
    snprintf(out, cap, "%s:%d", ip, r == 0 ? ntohs(a.sin_port) : -1);
}

/* A plain listener on 127.0.0.1 (not registered with the library). */
static inline int conns_listener(void) {
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 512) < 0) return -1;
    return l;
}

/* Connect a client to listener l and accept its server end. 5 s read timeout
 * on the client. */
static inline int conns_pair(int l, int *client, int *server) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)conns_port_of(l))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {5, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0) return -1;
    int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    if (s < 0) return -1;
    *client = c;
    *server = s;
    return 0;
}

static inline int conns_send_str(int fd, const char *s) {
    return send(fd, s, strlen(s), MSG_NOSIGNAL) == (ssize_t)strlen(s) ? 0 : -1;
}

/* Read one line (without its newline) within the socket's read timeout;
 * returns its length, 0 at EOF before any byte, -1 on error/timeout. */
static inline int conns_read_line(int fd, char *buf, size_t cap) {
    size_t n = 0;
    while (n + 1 < cap) {
        char ch;
        ssize_t r = recv(fd, &ch, 1, 0);
        if (r == 0) break;
        if (r < 0) return -1;
        if (ch == '\n') break;
        buf[n++] = ch;
    }
    buf[n] = 0;
    return (int)n;
}

/* Whether the client end sees EOF within ms (nothing else arrives first). */
static inline int conns_sees_eof(int fd, int ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, ms) != 1) return 0;
    char ch;
    return recv(fd, &ch, 1, MSG_DONTWAIT) == 0;
}

/* Whether nothing (no byte, no EOF) is readable on fd within ms. */
static inline int conns_quiet(int fd, int ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 0;
}

/* Reap pid within ms (SIGKILL after that); returns its wait status or -1. */
static inline int conns_reap(pid_t pid, int ms) {
    int st;
    for (int i = 0; i < ms; i++) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) return st;
        if (w < 0) return -1;
        usleep(1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

static inline int conns_count_open_fds(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1;
}

static inline int conns_append_file(const char *path, const char *text) {
    int f = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (f < 0) return -1;
    ssize_t w = write(f, text, strlen(text));
    close(f);
    return w == (ssize_t)strlen(text) ? 0 : -1;
}

static inline int conns_read_file(const char *path, char *buf, size_t cap) {
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) return -1;
    ssize_t n = read(f, buf, cap - 1);
    close(f);
    if (n < 0) return -1;
    buf[n] = 0;
    return (int)n;
}

/* ---- the wire, by hand (docs/zero-drain.md) ------------------------------- */

static inline void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static inline void put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint32_t get32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Head of a frame of `kind` with `len` body bytes. */
static inline void conns_head(unsigned char *p, int kind, uint32_t len) {
    memcpy(p, "GFDC", 4);
    p[4] = 1;
    p[5] = (unsigned char)kind;
    p[6] = p[7] = 0;
    put32(p + 8, len);
}

/* Send `len` bytes of `msg` with `nfds` fds as one message. */
static inline int conns_sendmsg(int ch, const void *msg, size_t len, const int *fds, int nfds) {
    struct iovec iov = {.iov_base = (void *)msg, .iov_len = len};
    union { char buf[CMSG_SPACE(sizeof(int) * 253)]; struct cmsghdr align; } u;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    memset(&u, 0, sizeof u); /* the padding of the control message is sent too */
    if (nfds > 0) {
        m.msg_control = u.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    return sendmsg(ch, &m, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* A well-formed BATCH of n connections (states NUL-terminated strings) into
 * buf; returns its length. */
static inline size_t conns_batch(unsigned char *buf, uint32_t id, int n, const uint64_t *tags, const char *const *states) {
    size_t body = 8 + 12 * (size_t)n, at;
    for (int i = 0; i < n; i++) body += strlen(states[i]);
    conns_head(buf, 1, (uint32_t)body);
    put32(buf + 12, id);
    put32(buf + 16, (uint32_t)n);
    at = 20 + 12 * (size_t)n;
    for (int i = 0; i < n; i++) {
        put64(buf + 20 + 12 * i, tags[i]);
        put32(buf + 28 + 12 * i, (uint32_t)strlen(states[i]));
        memcpy(buf + at, states[i], strlen(states[i]));
        at += strlen(states[i]);
    }
    return at;
}

/* A frame of a batch id alone (ACK 2, COMMIT 4, ABORT 5). */
static inline int conns_send_id(int ch, int kind, uint32_t id) {
    unsigned char f[16];
    conns_head(f, kind, 4);
    put32(f + 12, id);
    return conns_sendmsg(ch, f, sizeof f, NULL, 0);
}

/* Receive one message within ms; returns its length (fds that came are
 * closed unless fds_out is given), -1 on timeout or error. */
static inline int conns_recv(int ch, unsigned char *buf, size_t cap, int ms, int *fds_out, int *nfds_out) {
    struct pollfd p = {.fd = ch, .events = POLLIN};
    if (poll(&p, 1, ms) != 1) return -1;
    struct iovec iov = {.iov_base = buf, .iov_len = cap};
    union { char buf[CMSG_SPACE(sizeof(int) * 253)]; struct cmsghdr align; } u;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    ssize_t n = recvmsg(ch, &m, MSG_CMSG_CLOEXEC);
    if (n < 0) return -1;
    int got = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + sizeof(int) * (size_t)i, sizeof fd);
            if (fds_out) fds_out[got++] = fd;
            else close(fd);
        }
    }
    if (nfds_out) *nfds_out = got;
    return (int)n;
}

/* ---- a new generation that serves passed connections -------------------
 *
 * Line protocol: for each line L it answers "pid=P tag=T line=L"; the state
 * a connection arrives with is the start of its next line. Each connection
 * taken appends "tag=T state=S sock=A peer=B" to the report file (after a
 * first line "base=N": its open fds before ready). It enables the pass and
 * reports ready itself. It exits
 * when `want` connections were taken and all of them closed, or after 10 s.
 * With `keep`, it never answers and exits as soon as `want` were taken,
 * appending "fds=N" (its open fds then). */
struct conns_served {
    int fd;
    uint64_t tag;
    size_t len;
    char buf[512];
};

static inline int conns_serve_passed(const char *report, int want, int keep) {
    static struct conns_served cs[64];
    int taken = 0, open_now = 0;
    int ev = gracefd_event_fd();
    if (ev < 0) return 10;
    if (gracefd_conns_enable() != 1) return 14;
    char first[64];
    snprintf(first, sizeof first, "base=%d\n", conns_count_open_fds());
    conns_append_file(report, first);
    if (gracefd_ready() != 1) return 15;
    for (time_t end = time(NULL) + 10; time(NULL) < end;) {
        struct pollfd p[65];
        int np = 0;
        p[np++] = (struct pollfd){.fd = ev, .events = POLLIN};
        for (int i = 0; i < taken; i++) p[np++] = (struct pollfd){.fd = cs[i].fd, .events = POLLIN};
        if (poll(p, (nfds_t)np, 100) < 0 && errno != EINTR) return 11;
        if (p[0].revents & POLLIN) {
            while (gracefd_event_next() > 0) { /* CONNS: take them below */ }
        }
        for (;;) {
            uint64_t tag;
            char state[GRACEFD_CONNS_STATE_MAX];
            size_t len;
            int fd = gracefd_conns_next(&tag, (uint8_t *)state, sizeof state, &len);
            if (fd < 0) break;
            if (taken >= 64) return 12;
            struct conns_served *c = &cs[taken++];
            open_now++;
            c->fd = fd;
            c->tag = tag;
            c->len = len < sizeof c->buf ? len : 0;
            memcpy(c->buf, state, c->len);
            char sock[64], peer[64], line[1024];
            conns_addr(fd, 0, sock, sizeof sock);
            conns_addr(fd, 1, peer, sizeof peer);
            snprintf(line, sizeof line, "tag=%llu state=%.*s sock=%s peer=%s\n", (unsigned long long)tag, (int)len, state, sock, peer);
            conns_append_file(report, line);
        }
        if (keep && taken >= want) {
            char line[64];
            snprintf(line, sizeof line, "fds=%d taken=%d\n", conns_count_open_fds(), taken);
            conns_append_file(report, line);
            return 0;
        }
        for (int i = 0; i < taken && !keep; i++) {
            struct conns_served *c = &cs[i];
            if (c->fd < 0) continue;
            ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, MSG_DONTWAIT);
            if (r == 0) {
                close(c->fd);
                c->fd = -1;
                open_now--;
                continue;
            }
            if (r < 0) continue;
            c->len += (size_t)r;
            char *nl;
            while ((nl = memchr(c->buf, '\n', c->len))) {
                char out[700];
                int n = snprintf(out, sizeof out, "pid=%d tag=%llu line=%.*s\n", (int)getpid(), (unsigned long long)c->tag, (int)(nl - c->buf), c->buf);
                send(c->fd, out, (size_t)n, MSG_NOSIGNAL);
                c->len -= (size_t)(nl + 1 - c->buf);
                memmove(c->buf, nl + 1, c->len);
            }
        }
        if (!keep && taken >= want && open_now == 0) return 0;
    }
    return 13;
}

#endif
