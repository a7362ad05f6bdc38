/* common.c — the options and globals every part of loadgen reads: their one
 * definition (common.h declares them). main() in loadgen.c fills them in. */
#include "common.h"

const char *const KIND_NAMES[K_NKINDS] = {
    "connect_refused", "connect_other", "reset", "timeout", "bad_response", "short_response"};

struct options O;

char *g_req_ka, *g_req_close;
size_t g_req_ka_len, g_req_close_len;
uint64_t g_start, g_deadline, g_timeout_ns;
int g_stop;                       /* set by SIGINT/SIGTERM, read atomically */
int g_stop_pipe[2] = {-1, -1};    /* readable once a stop signal arrived */
FILE *g_events;                   /* --watch-pid-change output, or NULL */
