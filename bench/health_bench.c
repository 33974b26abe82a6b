/* health_bench: the lookup path's cost of reading health (common/hstate.h).
 *
 * Default mode: creates a state file of N entries (hstate_create), maps it
 * read-only as geosteerd does (hstate_map) and times hstate_read of entries
 * spread over the file, in four phases of SECS seconds each:
 *   1 reader, no writer; 1 reader while a writer thread updates entries at
 *   RATE writes/s; 2 readers with that writer; 2 readers with an unpaced
 *   writer (the worst case for the latch's retries).
 * The writer keeps every value self-consistent (rtt_us, checked_ms and
 * since_ms are functions of `results`), and readers count any value that
 * is not: a torn read. They also count GS_ECONFLICT (retries exhausted).
 *
 *   health_bench [-n 1000] [-d 2] [-w 1000] [-D DIR]
 *
 * -x ITERS: syscall probe for strace. Maps the file, calls getppid(2) as a
 *   marker, does ITERS reads, calls getppid(2) again and exits. Under
 *   `strace -f` the lines between the two markers are the read loop's
 *   system calls.
 *
 * -s FILE: summary of a live state file (the probe's), one line:
 *   "entries N results R up U down D unknown K failing F rtt_mean_us M
 *    rtt_max_us X heartbeat_age_ms A generation G"
 *   then up to 3 distinct failure causes as "error COUNT TEXT". */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/hstate.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const gs_err_t *err)
{
    fprintf(stderr, "health_bench: %s: %s\n", what, err ? err->text : "");
    exit(1);
}

/* ---- -s: summary of a live file ---- */

static int summary(const char *path)
{
    hstate_map_t *m;
    gs_err_t err;
    if (hstate_map(path, &m, &err) != 0)
        die(path, &err);
    const hstate_view_t *v = &m->view;
    uint64_t results = 0, rtt_sum = 0, rtt_n = 0;
    uint32_t rtt_max = 0;
    size_t by_state[3] = {0}, failing = 0;
    struct {
        char text[HSTATE_ERROR_LEN];
        size_t count;
    } errs[3];
    size_t nerrs = 0;
    for (size_t i = 0; i < v->n; i++) {
        hstate_value_t x;
        hstate_read(v, i, &x);
        results += x.results;
        by_state[x.state]++;
        if (x.results) {
            rtt_sum += x.rtt_us;
            rtt_n++;
            if (x.rtt_us > rtt_max)
                rtt_max = x.rtt_us;
        }
        if (!x.results || x.last_ok)
            continue;
        failing++;
        size_t k = 0;
        while (k < nerrs && strcmp(errs[k].text, x.error) != 0)
            k++;
        if (k == nerrs && nerrs < 3) {
            memcpy(errs[k].text, x.error, sizeof(x.error));
            errs[k].count = 0;
            nerrs++;
        }
        if (k < nerrs)
            errs[k].count++;
    }
    printf("entries %zu results %" PRIu64 " up %zu down %zu unknown %zu failing %zu rtt_mean_us "
           "%.0f rtt_max_us %" PRIu32 " heartbeat_age_ms %" PRId64 " generation %" PRIu64 "\n",
           v->n, results, by_state[HSTATE_UP], by_state[HSTATE_DOWN], by_state[HSTATE_UNKNOWN],
           failing, rtt_n ? (double)rtt_sum / (double)rtt_n : 0.0, rtt_max,
           hstate_now_mono_ms() - hstate_heartbeat(v), v->h->generation);
    for (size_t k = 0; k < nerrs; k++)
        printf("error %zu %s\n", errs[k].count, errs[k].text);
    hstate_unmap(m);
    return 0;
}

/* ---- the micro-benchmark ---- */

static size_t n_entries = 1000;
static atomic_bool stop_readers, stop_writer;

/* A value whose fields all derive from k, so a mix of two is detectable. */
static void make_value(hstate_value_t *x, uint64_t k)
{
    memset(x, 0, sizeof(*x));
    x->state = (uint8_t)(1 + (k & 1));
    x->last_ok = (uint8_t)(k & 1);
    x->consecutive = (uint16_t)k;
    x->rtt_us = (uint32_t)(k * 7);
    x->since_ms = -(int64_t)k;
    x->checked_ms = (int64_t)k * 3;
    x->results = k;
}

static bool consistent(const hstate_value_t *x)
{
    uint64_t k = x->results;
    return x->rtt_us == (uint32_t)(k * 7) && x->checked_ms == (int64_t)k * 3 &&
           x->since_ms == -(int64_t)k && x->consecutive == (uint16_t)k;
}

typedef struct {
    hstate_writer_t *w;
    unsigned rate; /* writes/s, 0: unpaced */
    uint64_t writes;
} writer_arg_t;

static void *writer_main(void *arg)
{
    writer_arg_t *a = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    uint64_t k = 1;
    while (!atomic_load_explicit(&stop_writer, memory_order_relaxed)) {
        hstate_value_t x;
        make_value(&x, k);
        hstate_write(a->w, (size_t)(k % n_entries), &x);
        k++;
        a->writes++;
        if (a->rate) {
            next.tv_nsec += 1000000000L / a->rate;
            while (next.tv_nsec >= 1000000000L) {
                next.tv_nsec -= 1000000000L;
                next.tv_sec++;
            }
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        }
    }
    return NULL;
}

typedef struct {
    const hstate_view_t *v;
    unsigned seed;
    uint64_t reads, conflicts, torn;
    double secs;
} reader_arg_t;

static void *reader_main(void *arg)
{
    reader_arg_t *a = arg;
    const hstate_view_t *v = a->v;
    size_t i = a->seed % v->n;
    uint64_t reads = 0, conflicts = 0, torn = 0;
    double t0 = now_s();
    while (!atomic_load_explicit(&stop_readers, memory_order_relaxed)) {
        for (int b = 0; b < 4096; b++) {
            hstate_value_t x;
            if (hstate_read(v, i, &x) != 0)
                conflicts++;
            else if (!consistent(&x))
                torn++;
            /* A stride co-prime with most sizes: every entry, no simple
             * sequential pattern for the prefetcher. */
            i += 389;
            if (i >= v->n)
                i %= v->n;
        }
        reads += 4096;
    }
    a->secs = now_s() - t0;
    a->reads = reads;
    a->conflicts = conflicts;
    a->torn = torn;
    return NULL;
}

static void phase(const char *name, const hstate_view_t *v, hstate_writer_t *w, int readers,
                  int writer_rate, double secs)
{
    pthread_t wt, rt[2];
    writer_arg_t wa = {.w = w, .rate = writer_rate > 0 ? (unsigned)writer_rate : 0};
    reader_arg_t ra[2];
    atomic_store(&stop_readers, false);
    atomic_store(&stop_writer, false);
    double w0 = now_s();
    if (writer_rate >= 0)
        pthread_create(&wt, NULL, writer_main, &wa);
    for (int r = 0; r < readers; r++) {
        ra[r] = (reader_arg_t){.v = v, .seed = (unsigned)r * 500};
        pthread_create(&rt[r], NULL, reader_main, &ra[r]);
    }
    struct timespec d = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    nanosleep(&d, NULL);
    atomic_store(&stop_readers, true);
    for (int r = 0; r < readers; r++)
        pthread_join(rt[r], NULL);
    atomic_store(&stop_writer, true);
    if (writer_rate >= 0)
        pthread_join(wt, NULL);
    double wsecs = now_s() - w0;
    uint64_t reads = 0, conflicts = 0, torn = 0;
    double ns = 0, total_rate = 0;
    for (int r = 0; r < readers; r++) {
        reads += ra[r].reads;
        conflicts += ra[r].conflicts;
        torn += ra[r].torn;
        ns += 1e9 * ra[r].secs / (double)ra[r].reads;
        total_rate += (double)ra[r].reads / ra[r].secs;
    }
    char wdesc[64];
    if (writer_rate < 0)
        snprintf(wdesc, sizeof(wdesc), "no writer");
    else
        snprintf(wdesc, sizeof(wdesc), "writer %.0f writes/s%s", (double)wa.writes / wsecs,
                 writer_rate == 0 ? " (unpaced)" : "");
    printf("%-34s %d reader%s, %-32s %7.1f ns/read  %7.1f M reads/s total  conflicts %" PRIu64
           "  torn %" PRIu64 "\n",
           name, readers, readers > 1 ? "s" : " ", wdesc, ns / readers, total_rate / 1e6, conflicts,
           torn);
    (void)reads;
}

int main(int argc, char **argv)
{
    double secs = 2;
    int rate = 1000;
    long syscall_iters = -1;
    const char *dir = "/tmp", *summary_path = NULL;
    int c;
    while ((c = getopt(argc, argv, "n:d:w:D:x:s:h")) != -1) {
        switch (c) {
        case 'n':
            n_entries = strtoul(optarg, NULL, 10);
            break;
        case 'd':
            secs = atof(optarg);
            break;
        case 'w':
            rate = atoi(optarg);
            break;
        case 'D':
            dir = optarg;
            break;
        case 'x':
            syscall_iters = atol(optarg);
            break;
        case 's':
            summary_path = optarg;
            break;
        default:
            fprintf(stderr, "usage: health_bench [-n ENTRIES] [-d SECS] [-w RATE] [-D DIR] "
                            "[-x ITERS] | -s STATE_FILE\n");
            return 2;
        }
    }
    if (summary_path)
        return summary(summary_path);
    if (n_entries < 1 || n_entries > HSTATE_MAX_ENTRIES || secs <= 0 || rate < 1)
        die("bad arguments", NULL);

    char path[4096];
    snprintf(path, sizeof(path), "%s/health_bench.%ld.state", dir, (long)getpid());
    uint64_t *ids = calloc(n_entries, sizeof(*ids));
    hstate_value_t *init = calloc(n_entries, sizeof(*init));
    if (!ids || !init)
        die("out of memory", NULL);
    for (size_t i = 0; i < n_entries; i++)
        ids[i] = 0x1000 + i;
    hstate_writer_t *w;
    hstate_map_t *m;
    gs_err_t err;
    if (hstate_create(path, 1, 1000, ids, init, n_entries, &w, &err) != 0)
        die("hstate_create", &err);
    if (hstate_map(path, &m, &err) != 0)
        die("hstate_map", &err);
    unlink(path); /* the mappings keep it */
    free(ids);
    free(init);
    const hstate_view_t *v = &m->view;

    if (syscall_iters >= 0) {
        uint64_t sum = 0;
        getppid(); /* marker: the read loop starts */
        size_t i = 0;
        for (long k = 0; k < syscall_iters; k++) {
            hstate_value_t x;
            hstate_read(v, i, &x);
            sum += x.results + x.state;
            if (++i == v->n)
                i = 0;
        }
        getppid(); /* marker: the read loop ended */
        printf("syscall probe: %ld reads of %zu entries, checksum %" PRIu64 "\n", syscall_iters,
               v->n, sum);
    } else {
        printf("hstate_read over %zu entries (%zu-byte entries, %zu KiB file), %.1f s per "
               "phase; %ld CPUs online\n",
               v->n, sizeof(hstate_entry_t),
               (sizeof(hstate_header_t) + v->n * sizeof(hstate_entry_t)) / 1024, secs,
               sysconf(_SC_NPROCESSORS_ONLN));
        phase("baseline", v, w, 1, -1, secs);
        phase("with a writer", v, w, 1, rate, secs);
        phase("two readers with a writer", v, w, 2, rate, secs);
        phase("two readers, writer flat out", v, w, 2, 0, secs);
    }
    hstate_unmap(m);
    hstate_writer_close(w);
    return 0;
}
