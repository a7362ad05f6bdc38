/* loadgen command line. */
#include "common.h"

/* ------------------------------------------------------------------------ */
/* Command line                                                               */

static void usage(FILE *f)
{
    fprintf(f,
"usage: loadgen (--addr HOST:PORT | --unix PATH) [options]\n"
"\n"
"HTTP/1.1 load client: K keep-alive connections kept busy plus M workers that\n"
"open a new connection per request, for a fixed duration; counts failures by\n"
"kind and the distinct X-Pid response header values.\n"
"\n"
"  --addr HOST:PORT      TCP target; IPv6 as [::1]:8080\n"
"  --unix PATH           Unix stream socket target (@NAME: abstract namespace)\n"
"  --path /PATH          request target (default /)\n"
"  --host NAME           Host header value (default x)\n"
"  --keepalive K         keep-alive connections (default 1)\n"
"  --new M               new-connection-per-request workers (default 0)\n"
"  --duration SECONDS    run length, fractional ok (default 10); 0 runs until\n"
"                        SIGINT/SIGTERM\n"
"  --timeout-ms MS       per request: connect, send and full response (default 5000)\n"
"  --backoff-ms MS       pause of a worker after a failed request (default 10)\n"
"  --idle-ms MS          keep-alive workers wait MS between requests, their\n"
"                        connection idle (long-lived clients; default 0)\n"
"  --threads N           poll loops the connections are shared among (default 1)\n"
"  --json                print one JSON object at the end instead of a summary\n"
"  --watch-pid-change    print 'new_pid t_ms=T mono_ns=N pid=P distinct=D' when a\n"
"                        pid answers for the first time (T: ms since start;\n"
"                        N: CLOCK_MONOTONIC ns, comparable with other processes)\n"
"  --events-file PATH    write those lines to PATH instead of stdout (implies\n"
"                        --watch-pid-change)\n"
"  -h, --help            this text\n"
"\n"
"Requests: GET /PATH HTTP/1.1 with Host; new-connection workers add\n"
"Connection: close and read to EOF. Only a 200 response is ok.\n"
"\n"
"Deadline: a request begins before its connect() or before its first byte on a\n"
"reused connection. None begins at/after the deadline or a SIGINT/SIGTERM (a\n"
"second signal kills); each one begun before is carried to its end (response,\n"
"failure or timeout) and counted. The run ends by duration + timeout.\n"
"\n"
"Not failures (connection reopened): a 'Connection: close' (or EOF-delimited)\n"
"response on a keep-alive connection [reconnects.server_close]; a reused\n"
"connection found closed before any byte of the next request was written\n"
"[reconnects.idle_close]. reconnects.total is their sum: the connections the\n"
"server closed that a keep-alive worker had to open again.\n"
"\n"
"Failure kinds:\n"
"  connect_refused  ECONNREFUSED (or ENOENT for a Unix path)\n"
"  connect_other    any other socket()/connect() error\n"
"  reset            ECONNRESET/EPIPE/other socket error after connecting,\n"
"                   before the response was complete\n"
"  timeout          no complete response within --timeout-ms of the start\n"
"  bad_response     unparseable, status not 200, unsupported\n"
"                   Transfer-Encoding, header > 16 KiB, or unsolicited bytes\n"
"  short_response   EOF after sending, before the response was complete\n"
"\n"
"Exit status: 0 no failed request, 1 some failed, 2 usage or setup error.\n");
}

static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die_usage(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "loadgen: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(try loadgen --help)\n");
    exit(2);
}

static long parse_long(const char *opt, const char *s, long lo, long hi)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        die_usage("%s: expected an integer in [%ld, %ld], got '%s'", opt, lo, hi, s);
    return v;
}

static void set_tcp_addr(const char *spec)
{
    char host[256], port[16];
    const char *colon;
    size_t hl;
    struct addrinfo hints, *res = NULL;
    int rc;
    if (spec[0] == '[') {
        const char *rb = strchr(spec, ']');
        if (!rb || rb[1] != ':') die_usage("--addr: expected [IPV6]:PORT, got '%s'", spec);
        hl = (size_t)(rb - spec - 1);
        if (hl == 0 || hl >= sizeof host) die_usage("--addr: bad host in '%s'", spec);
        memcpy(host, spec + 1, hl);
        colon = rb + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon || strchr(spec, ':') != colon)
            die_usage("--addr: expected HOST:PORT (IPv6 in brackets), got '%s'", spec);
        hl = (size_t)(colon - spec);
        if (hl == 0 || hl >= sizeof host) die_usage("--addr: bad host in '%s'", spec);
        memcpy(host, spec, hl);
    }
    host[hl] = '\0';
    if (strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof port)
        die_usage("--addr: bad port in '%s'", spec);
    parse_long("--addr port", colon + 1, 1, 65535);
    strcpy(port, colon + 1);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res) die_usage("--addr %s: %s", spec, rc ? gai_strerror(rc) : "no address");
    if (res->ai_addrlen > sizeof O.addr) die_usage("--addr %s: address too long", spec);
    memcpy(&O.addr, res->ai_addr, res->ai_addrlen);
    O.addrlen = (socklen_t)res->ai_addrlen;
    O.family = res->ai_family;
    freeaddrinfo(res);
    snprintf(O.target, sizeof O.target, "%s", spec);
}

static void set_unix_addr(const char *path)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)&O.addr;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof sun->sun_path) die_usage("--unix: path empty or too long");
    memset(&O.addr, 0, sizeof O.addr);
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, n);
    if (path[0] == '@') sun->sun_path[0] = '\0'; /* abstract: no trailing NUL */
    O.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
    O.family = AF_UNIX;
    snprintf(O.target, sizeof O.target, "unix:%s", path);
}

static int visible_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f) return 0;
    return 1;
}

void parse_args(int argc, char **argv)
{
    enum { OPT_ADDR = 256, OPT_UNIX, OPT_PATH, OPT_HOST, OPT_KA, OPT_NEW, OPT_DUR, OPT_TMO, OPT_BACKOFF, OPT_IDLE,
           OPT_THREADS, OPT_JSON, OPT_WATCH, OPT_EVENTS };
    static const struct option longopts[] = {
        {"addr", required_argument, NULL, OPT_ADDR},
        {"unix", required_argument, NULL, OPT_UNIX},
        {"path", required_argument, NULL, OPT_PATH},
        {"host", required_argument, NULL, OPT_HOST},
        {"keepalive", required_argument, NULL, OPT_KA},
        {"new", required_argument, NULL, OPT_NEW},
        {"duration", required_argument, NULL, OPT_DUR},
        {"timeout-ms", required_argument, NULL, OPT_TMO},
        {"backoff-ms", required_argument, NULL, OPT_BACKOFF},
        {"idle-ms", required_argument, NULL, OPT_IDLE},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"json", no_argument, NULL, OPT_JSON},
        {"watch-pid-change", no_argument, NULL, OPT_WATCH},
        {"events-file", required_argument, NULL, OPT_EVENTS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int ch, have_target = 0;
    char *end;
    O.path = "/";
    O.host = "x";
    O.keepalive = 1;
    O.new_conns = 0;
    O.threads = 1;
    O.duration_s = 10;
    O.timeout_ms = 5000;
    O.backoff_ms = 10;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case OPT_ADDR:
        case OPT_UNIX:
            if (have_target++) die_usage("give exactly one of --addr and --unix");
            if (ch == OPT_ADDR) set_tcp_addr(optarg);
            else set_unix_addr(optarg);
            break;
        case OPT_PATH:
            if (optarg[0] != '/' || !visible_ascii(optarg))
                die_usage("--path: must start with '/' and hold only visible ASCII");
            O.path = optarg;
            break;
        case OPT_HOST:
            if (!optarg[0] || !visible_ascii(optarg)) die_usage("--host: must be visible ASCII");
            O.host = optarg;
            break;
        case OPT_KA: O.keepalive = parse_long("--keepalive", optarg, 0, MAX_CONNS); break;
        case OPT_NEW: O.new_conns = parse_long("--new", optarg, 0, MAX_CONNS); break;
        case OPT_DUR:
            errno = 0;
            O.duration_s = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(O.duration_s >= 0) || O.duration_s > 1e7)
                die_usage("--duration: expected seconds >= 0, got '%s'", optarg);
            break;
        case OPT_TMO: O.timeout_ms = parse_long("--timeout-ms", optarg, 1, 86400000L); break;
        case OPT_BACKOFF: O.backoff_ms = parse_long("--backoff-ms", optarg, 0, 86400000L); break;
        case OPT_IDLE: O.idle_ms = parse_long("--idle-ms", optarg, 0, 86400000L); break;
        case OPT_THREADS: O.threads = parse_long("--threads", optarg, 1, MAX_THREADS); break;
        case OPT_JSON: O.json = 1; break;
        case OPT_WATCH: O.watch = 1; break;
        case OPT_EVENTS: O.events_file = optarg; O.watch = 1; break;
        case 'h': usage(stdout); exit(0);
        case '?':
        default:
            if (optopt > 0 && optopt < 128)
                die_usage("option -%c: unknown or missing its argument", optopt);
            die_usage("option %s: unknown or missing its argument", argv[optind - 1]);
        }
    }
    if (optind < argc) die_usage("unexpected argument '%s'", argv[optind]);
    if (!have_target) die_usage("give --addr HOST:PORT or --unix PATH");
    if (O.keepalive + O.new_conns == 0) die_usage("nothing to do: --keepalive and --new are both 0");
    if (O.keepalive + O.new_conns > MAX_CONNS) die_usage("at most %d connections", MAX_CONNS);
    if (O.threads > O.keepalive + O.new_conns) O.threads = O.keepalive + O.new_conns;
}
