/* loadgen statistics: latency histogram, pid sets, merged totals and reports. */
#include "common.h"

/* ------------------------------------------------------------------------ */
/* Statistics                                                                 */

unsigned bucket_of(uint64_t v)
{
    unsigned msb, shift;
    if (v < 64) return (unsigned)v;
    msb = 63u - (unsigned)__builtin_clzll(v);
    shift = msb - 5u;
    return shift * 32u + (unsigned)(v >> shift);
}
static uint64_t bucket_mid(unsigned idx)
{
    unsigned shift;
    if (idx < 64) return idx;
    shift = idx / 32u - 1u;
    return ((uint64_t)(idx % 32u + 32u) << shift) + (((uint64_t)1 << shift) >> 1);
}

/* Returns the record for pid, adding it (first = last = at) if new; *added
 * tells which. NULL only when out of memory. */
struct pidrec *pidset_get(struct pidset *s, long pid, uint64_t at, int *added)
{
    size_t i;
    *added = 0;
    if (s->hint < s->n && s->v[s->hint].pid == pid) return &s->v[s->hint];
    for (i = 0; i < s->n; i++)
        if (s->v[i].pid == pid) {
            s->hint = i;
            return &s->v[i];
        }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct pidrec *v = realloc(s->v, cap * sizeof *v);
        if (!v) return NULL;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n].pid = pid;
    s->v[s->n].first = s->v[s->n].last = at;
    s->v[s->n].count = 0;
    s->hint = s->n;
    *added = 1;
    return &s->v[s->n++];
}

/* The pids seen by any thread, for --watch-pid-change. */
static pthread_mutex_t g_pid_lock = PTHREAD_MUTEX_INITIALIZER;
struct pidset g_pids;

void global_new_pid(long pid, uint64_t at)
{
    int added;
    struct pidrec *r;
    pthread_mutex_lock(&g_pid_lock);
    r = pidset_get(&g_pids, pid, at, &added);
    if (r && added && g_events) {
        fprintf(g_events, "new_pid t_ms=%.3f mono_ns=%" PRIu64 " pid=%ld distinct=%zu\n",
                ms_since_start(at), at, pid, g_pids.n);
        fflush(g_events);
    }
    pthread_mutex_unlock(&g_pid_lock);
}

/* ------------------------------------------------------------------------ */
/* Reports                                                                    */

static int cmp_pid_first(const void *a, const void *b)
{
    const struct pidrec *x = a, *y = b;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

void merge(struct thr *ts, long nt, uint64_t end, struct totals *T)
{
    long i;
    size_t j, k;
    memset(T, 0, sizeof *T);
    for (i = 0; i < nt; i++) {
        struct thr *t = &ts[i];
        T->ok += t->ok;
        T->server_close += t->server_close;
        T->idle_close += t->idle_close;
        T->connections += t->connections;
        for (k = 0; k < K_NKINDS; k++) {
            T->fail[k] += t->fail[k];
            if (t->why[k][0] && (!T->why[k] || t->why_at[k] < T->why_at[k])) {
                T->why[k] = t->why[k];
                T->why_at[k] = t->why_at[k];
            }
        }
        for (k = 0; k < NBUCKETS; k++) T->hist[k] += t->hist[k];
        if (t->lat_max > T->lat_max) T->lat_max = t->lat_max;
        for (j = 0; j < t->pids.n; j++) {
            struct pidrec *p = &t->pids.v[j];
            for (k = 0; k < T->npids && T->pids[k].pid != p->pid; k++) {
            }
            if (k == T->npids) {
                struct pidrec *v = realloc(T->pids, (T->npids + 1) * sizeof *v);
                if (!v) continue;
                T->pids = v;
                T->pids[T->npids++] = *p;
            } else {
                T->pids[k].count += p->count;
                T->pids[k].first = min_u64(T->pids[k].first, p->first);
                if (p->last > T->pids[k].last) T->pids[k].last = p->last;
            }
        }
    }
    if (T->npids > 1) qsort(T->pids, T->npids, sizeof *T->pids, cmp_pid_first);
    for (k = 0; k < K_NKINDS; k++) T->failures += T->fail[k];
    T->requests = T->ok + T->failures;
    T->duration_s = (double)(end - g_start) / 1e9;
    T->rps = T->duration_s > 0 ? (double)T->ok / T->duration_s : 0.0;
}

/* Latency quantile q in ms (0 when nothing was measured). */
static double quantile_ms(const struct totals *T, double q)
{
    uint64_t total = 0, seen = 0, rank;
    unsigned i;
    for (i = 0; i < NBUCKETS; i++) total += T->hist[i];
    if (total == 0) return 0.0;
    rank = (uint64_t)(q * (double)total);
    if ((double)rank < q * (double)total) rank++;
    if (rank == 0) rank = 1;
    for (i = 0; i < NBUCKETS; i++) {
        seen += T->hist[i];
        if (seen >= rank) {
            uint64_t v = bucket_mid(i);
            return (double)(v < T->lat_max ? v : T->lat_max) / NS_PER_MS;
        }
    }
    return (double)T->lat_max / NS_PER_MS;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

void report_json(const struct totals *T)
{
    size_t k;
    int first = 1;
    FILE *f = stdout;
    fprintf(f, "{\"requests\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"failures\":%" PRIu64, T->requests,
            T->ok, T->failures);
    fprintf(f, ",\"failures_by_kind\":{");
    for (k = 0; k < K_NKINDS; k++)
        fprintf(f, "%s\"%s\":%" PRIu64, k ? "," : "", KIND_NAMES[k], T->fail[k]);
    fprintf(f, "},\"failure_reasons\":{");
    for (k = 0; k < K_NKINDS; k++) {
        if (!T->why[k]) continue;
        fprintf(f, "%s\"%s\":", first ? "" : ",", KIND_NAMES[k]);
        json_str(f, T->why[k]);
        first = 0;
    }
    fprintf(f, "},\"reconnects\":{\"server_close\":%" PRIu64 ",\"idle_close\":%" PRIu64 ",\"total\":%" PRIu64 "}",
            T->server_close, T->idle_close, T->server_close + T->idle_close);
    fprintf(f, ",\"connections\":%" PRIu64, T->connections);
    fprintf(f, ",\"distinct_pids\":%zu,\"pids\":[", T->npids);
    for (k = 0; k < T->npids; k++)
        fprintf(f, "%s{\"pid\":%ld,\"responses\":%" PRIu64 ",\"first_ms\":%.3f,\"last_ms\":%.3f}",
                k ? "," : "", T->pids[k].pid, T->pids[k].count, ms_since_start(T->pids[k].first),
                ms_since_start(T->pids[k].last));
    fprintf(f, "],\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}",
            quantile_ms(T, 0.50), quantile_ms(T, 0.90), quantile_ms(T, 0.99),
            (double)T->lat_max / NS_PER_MS);
    fprintf(f, ",\"duration_s\":%.3f,\"rps\":%.1f", T->duration_s, T->rps);
    fprintf(f, ",\"config\":{\"target\":");
    json_str(f, O.target);
    fprintf(f, ",\"path\":");
    json_str(f, O.path);
    fprintf(f, ",\"keepalive\":%ld,\"new\":%ld,\"threads\":%ld,\"duration_s\":%.3f,"
               "\"timeout_ms\":%ld,\"backoff_ms\":%ld,\"idle_ms\":%ld}}\n",
            O.keepalive, O.new_conns, O.threads, O.duration_s, O.timeout_ms, O.backoff_ms, O.idle_ms);
}

void report_human(const struct totals *T)
{
    size_t k;
    FILE *f = stdout;
    char dur[64];
    if (O.duration_s > 0) snprintf(dur, sizeof dur, "duration %.3f s", O.duration_s);
    else snprintf(dur, sizeof dur, "until SIGINT/SIGTERM");
    fprintf(f, "loadgen: %s GET %s, %ld keep-alive + %ld new-connection worker(s), %ld thread(s), "
               "%s, timeout %ld ms\n",
            O.target, O.path, O.keepalive, O.new_conns, O.threads, dur, O.timeout_ms);
    fprintf(f, "requests    %" PRIu64 " total, %" PRIu64 " ok, %" PRIu64
               " failed; %.1f ok/s over %.3f s\n",
            T->requests, T->ok, T->failures, T->rps, T->duration_s);
    fprintf(f, "failures   ");
    for (k = 0; k < K_NKINDS; k++) fprintf(f, " %s=%" PRIu64, KIND_NAMES[k], T->fail[k]);
    fprintf(f, "\n");
    for (k = 0; k < K_NKINDS; k++)
        if (T->why[k])
            fprintf(f, "            first %s at %.3f s: %s\n", KIND_NAMES[k],
                    ms_since_start(T->why_at[k]) / 1000.0, T->why[k]);
    fprintf(f, "reconnects  %" PRIu64 " (server_close=%" PRIu64 " idle_close=%" PRIu64
               "); %" PRIu64 " connections opened\n",
            T->server_close + T->idle_close, T->server_close, T->idle_close, T->connections);
    fprintf(f, "latency     p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n",
            quantile_ms(T, 0.50), quantile_ms(T, 0.90), quantile_ms(T, 0.99),
            (double)T->lat_max / NS_PER_MS);
    fprintf(f, "pids        %zu distinct\n", T->npids);
    for (k = 0; k < T->npids && k < 64; k++)
        fprintf(f, "            pid %ld: %" PRIu64 " responses, first %.3f ms, last %.3f ms\n",
                T->pids[k].pid, T->pids[k].count, ms_since_start(T->pids[k].first),
                ms_since_start(T->pids[k].last));
    if (T->npids > 64) fprintf(f, "            ... and %zu more\n", T->npids - 64);
}
