/* Counters for metrics, kept per thread and summed when someone reads them.
 *
 * The lookup path must not share a cache line, a lock or an atomic
 * read-modify-write between threads. So every thread that counts owns a
 * shard: a block of counters only it writes (a relaxed load and store, which
 * on x86-64 is a plain add: no lock prefix) and anyone may read (relaxed
 * loads; a reader sees each counter whole, at most one increment behind).
 * Reading sums the live shards, the counts of retired ones and the process
 * shard (metrics_count) under one mutex; only shard creation, retirement and
 * a change of label set take it on the counting side.
 *
 * Two kinds of counters:
 *   - fixed ones, numbered by the user (0 .. METRICS_FIXED_MAX - 1), whose
 *     names and labels the user knows at compile time;
 *   - labelled ones, whose label sets come from configuration (policy,
 *     pool, endpoint names). A metrics_labels_t numbers them: slot i has a
 *     family (the user's small integer) and a label text. A shard counts
 *     against one label set at a time; when the thread meets a new one (a
 *     reload), its counts are folded into a process-wide table keyed by
 *     family and label text, so a series that survives the reload keeps
 *     counting from where it was (Prometheus counters never go down).
 *
 * Library code: never logs. */
#ifndef GS_COMMON_METRICS_H
#define GS_COMMON_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_FIXED_MAX 320

typedef struct metrics_labels metrics_labels_t;

typedef struct metrics_shard {
    _Atomic uint64_t fixed[METRICS_FIXED_MAX];
    /* The labelled counters of `labels` (nslots of them); both change only
     * under the module's mutex, by the owner. */
    _Atomic uint64_t *dyn;
    metrics_labels_t *labels;
    struct metrics_shard *next, *prev;
} metrics_shard_t;

/* A new shard, registered for reading. Any thread; takes the mutex. */
metrics_shard_t *metrics_shard_new(void);

/* Folds the shard's counts into the retired totals and frees it. Accepts
 * NULL. */
void metrics_shard_retire(metrics_shard_t *sh);

/* Adds `v` to fixed counter `id` of the shard. Owner thread only. */
static inline void metrics_add(metrics_shard_t *sh, unsigned id, uint64_t v)
{
    uint64_t x = atomic_load_explicit(&sh->fixed[id], memory_order_relaxed);
    atomic_store_explicit(&sh->fixed[id], x + v, memory_order_relaxed);
}

/* Adds `v` to fixed counter `id` of the process shard: for events outside
 * the lookup path (reloads, commits, purges), from any thread (an atomic
 * add). */
void metrics_count(unsigned id, uint64_t v);

/* Sets the process shard's counter `id` to `v` (a gauge kept by one writer). */
void metrics_set(unsigned id, uint64_t v);

/* ---- labelled counters ---------------------------------------------- */

/* A label set of `n` slots, each to be named with metrics_labels_name;
 * refcount 1 (the caller's). */
metrics_labels_t *metrics_labels_new(size_t n);

/* Names slot `i`: its family and its label text (copied), for example
 * `policy="web",pool="eu"` (the caller escapes values). */
void metrics_labels_name(metrics_labels_t *l, size_t i, unsigned family, const char *text);

/* Number of slots. */
size_t metrics_labels_count(const metrics_labels_t *l);

/* Drops a reference. Accepts NULL. */
void metrics_labels_release(metrics_labels_t *l);

/* The shard's counters for label set `l`, switching to it (folding the old
 * set's counts, under the mutex) when the shard counts another one. `l`
 * must stay referenced by the caller for this call; the shard takes its own
 * reference. Owner thread only. */
_Atomic uint64_t *metrics_shard_dyn_switch(metrics_shard_t *sh, metrics_labels_t *l);

static inline _Atomic uint64_t *metrics_shard_dyn(metrics_shard_t *sh, metrics_labels_t *l)
{
    return sh->labels == l ? sh->dyn : metrics_shard_dyn_switch(sh, l);
}

static inline void metrics_dyn_add(_Atomic uint64_t *dyn, size_t slot, uint64_t v)
{
    uint64_t x = atomic_load_explicit(&dyn[slot], memory_order_relaxed);
    atomic_store_explicit(&dyn[slot], x + v, memory_order_relaxed);
}

/* ---- reading -------------------------------------------------------- */

/* Every fixed counter summed over all shards, retired and process ones:
 * out[METRICS_FIXED_MAX]. */
void metrics_read_fixed(uint64_t *out);

/* Calls `fn` once per labelled series ever counted (family, label text,
 * total), merged over shards and label sets, in no particular order. The
 * module's mutex is held during the calls: `fn` must not call back into
 * this module. */
typedef void (*metrics_series_fn)(void *ctx, unsigned family, const char *labels, uint64_t value);
void metrics_read_series(metrics_series_fn fn, void *ctx);

/* Forgets every count (tests). No shard may be live. */
void metrics_reset(void);

#endif
