/* loadgen HTTP/1.1 response parsing. */
#include "common.h"

/* ------------------------------------------------------------------------ */
/* HTTP/1.1 response parsing                                                  */

void resp_init(struct resp *r)
{
    r->st = P_HEAD;
    r->close = 0;
    r->pid = -1;
    r->left = 0;
}

static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

static int is_tchar(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int hex_val(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* A decimal number of 1..18 digits and nothing else. */
static int parse_dec(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;
    if (n == 0 || n > 18) return 0;
    for (i = 0; i < n; i++) {
        if (!is_digit(s[i])) return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 1;
}

static int tok_is(const char *t, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(t, lit, n) == 0;
}

/* The next comma-separated element of v[*pos..n), without surrounding
 * spaces/tabs; empty elements are skipped. 0 at the end. */
static int next_elem(const char *v, size_t n, size_t *pos, const char **tok, size_t *tlen)
{
    size_t s, e;
    while (*pos < n && (v[*pos] == ' ' || v[*pos] == '\t' || v[*pos] == ',')) (*pos)++;
    if (*pos >= n) return 0;
    s = *pos;
    while (*pos < n && v[*pos] != ',') (*pos)++;
    e = *pos;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
    *tok = v + s;
    *tlen = e - s;
    return 1;
}

/* Finds the blank line ending a header block in p[0..n). *head_len: bytes
 * before the blank line; *total: bytes through it. Accepts CRLF or bare LF. */
static int find_head_end(const char *p, size_t n, size_t *head_len, size_t *total)
{
    size_t s = 0;
    const char *nl;
    while (s < n && (nl = memchr(p + s, '\n', n - s)) != NULL) {
        size_t i = (size_t)(nl - p), len = i - s;
        if (len == 0 || (len == 1 && p[s] == '\r')) {
            *head_len = s;
            *total = i + 1;
            return 1;
        }
        s = i + 1;
    }
    return 0;
}

static int parse_head(const char *p, size_t n, struct head *h, char *why, size_t whylen)
{
    size_t i = 0;
    int first = 1;
    memset(h, 0, sizeof *h);
    h->pid = -1;
    if (n == 0) {
        snprintf(why, whylen, "empty status line");
        return -1;
    }
    while (i < n) {
        size_t s = i, e, len, c, vl;
        const char *l, *v;
        while (i < n && p[i] != '\n') i++;
        e = i;
        if (i < n) i++;
        if (e > s && p[e - 1] == '\r') e--;
        l = p + s;
        len = e - s;
        if (first) {
            first = 0;
            if (len < 12 || memcmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') ||
                l[8] != ' ' || !is_digit(l[9]) || !is_digit(l[10]) || !is_digit(l[11]) ||
                (len > 12 && l[12] != ' ')) {
                snprintf(why, whylen, "malformed status line \"%.40s\"", l);
                for (c = 0; why[c]; c++)
                    if ((unsigned char)why[c] < 0x20) why[c] = '?';
                return -1;
            }
            h->minor = l[7] - '0';
            h->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
            continue;
        }
        if (len > 0 && (l[0] == ' ' || l[0] == '\t')) {
            snprintf(why, whylen, "obsolete header line folding");
            return -1;
        }
        for (c = 0; c < len && is_tchar(l[c]); c++) {
        }
        if (c == 0 || c >= len || l[c] != ':') {
            snprintf(why, whylen, "malformed header line");
            return -1;
        }
        v = l + c + 1;
        vl = len - c - 1;
        while (vl > 0 && (v[0] == ' ' || v[0] == '\t')) v++, vl--;
        while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
        if (memchr(v, '\r', vl) || memchr(v, '\0', vl)) {
            snprintf(why, whylen, "CR or NUL in a header value");
            return -1;
        }
        if (tok_is(l, c, "content-length")) {
            size_t pos = 0, tl;
            const char *t;
            int any = 0;
            while (next_elem(v, vl, &pos, &t, &tl)) {
                uint64_t x;
                if (!parse_dec(t, tl, &x)) {
                    snprintf(why, whylen, "invalid Content-Length");
                    return -1;
                }
                if (h->has_cl && x != h->cl) {
                    snprintf(why, whylen, "conflicting Content-Length values");
                    return -1;
                }
                h->has_cl = 1;
                h->cl = x;
                any = 1;
            }
            if (!any) {
                snprintf(why, whylen, "empty Content-Length");
                return -1;
            }
        } else if (tok_is(l, c, "transfer-encoding")) {
            size_t pos = 0, tl;
            const char *t;
            while (next_elem(v, vl, &pos, &t, &tl)) {
                h->te_count++;
                h->te_last_chunked = tok_is(t, tl, "chunked");
                h->chunked_count += h->te_last_chunked;
            }
        } else if (tok_is(l, c, "connection")) {
            size_t pos = 0, tl;
            const char *t;
            while (next_elem(v, vl, &pos, &t, &tl)) {
                if (tok_is(t, tl, "close")) h->conn_close = 1;
                if (tok_is(t, tl, "keep-alive")) h->conn_keepalive = 1;
            }
        } else if (tok_is(l, c, "x-pid") && h->pid < 0) {
            uint64_t x;
            if (parse_dec(v, vl, &x) && x <= (uint64_t)INT32_MAX) h->pid = (long)x;
        }
    }
    return 0;
}

/* Feeds c->buf[rpos..wpos) to the response parser (eof: the peer closed, no
 * byte will follow). Returns 1 when the response is complete, 0 when it needs
 * more bytes (with eof: it is short), -1 when it is malformed (c->why says
 * why). Consumed bytes advance c->rpos; body bytes are discarded. */
int parse(struct conn *c, int eof)
{
    struct resp *r = &c->r;
    for (;;) {
        const char *b = c->buf + c->rpos;
        size_t avail = c->wpos - c->rpos, hl, tot, take, i;
        const char *nl;
        switch (r->st) {
        case P_HEAD: {
            struct head h;
            if (!find_head_end(b, avail, &hl, &tot)) {
                if (avail >= BUF_CAP) {
                    snprintf(c->why, sizeof c->why, "response header larger than %d bytes", BUF_CAP);
                    return -1;
                }
                return 0;
            }
            if (parse_head(b, hl, &h, c->why, sizeof c->why) < 0) return -1;
            c->rpos += tot;
            if (h.status >= 100 && h.status < 200) {
                if (h.status == 101) {
                    snprintf(c->why, sizeof c->why, "unexpected 101 Switching Protocols");
                    return -1;
                }
                continue; /* interim response: the final one follows */
            }
            if (h.status != 200) {
                snprintf(c->why, sizeof c->why, "status %d", h.status);
                return -1;
            }
            r->pid = h.pid;
            r->close = h.conn_close || (h.minor == 0 && !h.conn_keepalive);
            if (h.te_count) {
                if (h.minor == 0) {
                    snprintf(c->why, sizeof c->why, "Transfer-Encoding in an HTTP/1.0 response");
                    return -1;
                }
                if (!h.te_last_chunked || h.chunked_count != 1) {
                    snprintf(c->why, sizeof c->why, "unsupported Transfer-Encoding (only chunked)");
                    return -1;
                }
                r->st = P_CSIZE;
            } else if (h.has_cl) {
                r->left = h.cl;
                r->st = h.cl ? P_LEN : P_DONE;
            } else {
                r->st = P_EOF; /* delimited by the server closing */
                r->close = 1;
            }
            break;
        }
        case P_LEN:
        case P_CDATA:
            take = avail < r->left ? avail : (size_t)r->left;
            c->rpos += take;
            r->left -= take;
            if (r->left) return 0;
            r->st = r->st == P_LEN ? P_DONE : P_CCRLF;
            break;
        case P_EOF:
            c->rpos = c->wpos;
            if (!eof) return 0;
            r->st = P_DONE;
            break;
        case P_CCRLF:
            if (avail >= 1 && b[0] == '\n') {
                c->rpos += 1;
            } else if (avail >= 2 && b[0] == '\r' && b[1] == '\n') {
                c->rpos += 2;
            } else if (avail == 0 || (avail == 1 && b[0] == '\r')) {
                return 0;
            } else {
                snprintf(c->why, sizeof c->why, "chunk data not followed by CRLF");
                return -1;
            }
            r->st = P_CSIZE;
            break;
        case P_CSIZE:
        case P_TRAILER: {
            size_t len;
            nl = memchr(b, '\n', avail);
            if (!nl) {
                if (avail >= BUF_CAP) {
                    snprintf(c->why, sizeof c->why, "chunk size or trailer line too long");
                    return -1;
                }
                return 0;
            }
            len = (size_t)(nl - b);
            c->rpos += len + 1;
            if (len > 0 && b[len - 1] == '\r') len--;
            if (r->st == P_TRAILER) {
                if (len == 0) r->st = P_DONE; /* trailer fields are ignored */
                break;
            }
            r->left = 0;
            for (i = 0; i < len && hex_val(b[i]) >= 0; i++) {
                if (i >= 15) {
                    snprintf(c->why, sizeof c->why, "chunk size too large");
                    return -1;
                }
                r->left = r->left * 16 + (uint64_t)hex_val(b[i]);
            }
            if (i == 0 || (i < len && b[i] != ';' && b[i] != ' ' && b[i] != '\t')) {
                snprintf(c->why, sizeof c->why, "malformed chunk size line");
                return -1;
            }
            r->st = r->left ? P_CDATA : P_TRAILER;
            break;
        }
        case P_DONE:
            return 1;
        }
    }
}
