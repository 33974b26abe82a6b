#include "common/metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/htab.h"
#include "common/mem.h"

struct metrics_labels {
    _Atomic int refs;
    size_t n;
    unsigned *family;
    char **text;
};

/* A series by (family, label text): the retired counts of label sets no
 * shard counts against any more, and the scratch table of a read. */
typedef struct {
    unsigned family;
    char *text; /* borrowed from a label set (scratch) or owned (totals) */
    uint64_t value;
} series_t;

typedef struct {
    series_t *v;
    size_t n, cap;
    htab_t idx;
    bool owns_text;
} series_tab_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static metrics_shard_t *shards;             /* live, guarded by lock */
static uint64_t retired[METRICS_FIXED_MAX]; /* guarded by lock */
static _Atomic uint64_t process[METRICS_FIXED_MAX];
static series_tab_t totals = {.owns_text = true}; /* guarded by lock */

static uint64_t series_hash(unsigned family, const char *text)
{
    return gs_fnv64(text, strlen(text)) ^ htab_hash_u64(family);
}

static void tab_rebuild(series_tab_t *t, size_t cap)
{
    t->cap = cap;
    t->v = mem_realloc_n(t->v, cap, sizeof(*t->v));
    htab_free(&t->idx);
    htab_init(&t->idx, cap);
    for (size_t i = 0; i < t->n; i++)
        htab_add(&t->idx, series_hash(t->v[i].family, t->v[i].text), (uint32_t)i);
}

/* Adds `value` to the series (family, text), creating it. */
static void tab_add(series_tab_t *t, unsigned family, char *text, uint64_t value)
{
    uint64_t h = series_hash(family, text);
    uint32_t i;
    for (size_t k = t->cap ? htab_start(&t->idx, h) : 0;
         t->cap && (i = htab_next(&t->idx, &k)) != HTAB_END;) {
        if (t->v[i].family == family && strcmp(t->v[i].text, text) == 0) {
            t->v[i].value += value;
            return;
        }
    }
    if (t->n == t->cap)
        tab_rebuild(t, t->cap ? 2 * t->cap : 64);
    t->v[t->n] = (series_t){family, t->owns_text ? mem_strdup(text) : text, value};
    htab_add(&t->idx, h, (uint32_t)t->n);
    t->n++;
}

static void tab_free(series_tab_t *t)
{
    for (size_t i = 0; t->owns_text && i < t->n; i++)
        free(t->v[i].text);
    free(t->v);
    htab_free(&t->idx);
    bool owns = t->owns_text;
    memset(t, 0, sizeof(*t));
    t->owns_text = owns;
}

/* Adds the counts of `dyn` (over `l`) to `t`, skipping zeros (a series
 * appears once something was counted in it). */
static void tab_add_dyn(series_tab_t *t, const metrics_labels_t *l, _Atomic uint64_t *dyn)
{
    for (size_t i = 0; l && i < l->n; i++) {
        uint64_t v = atomic_load_explicit(&dyn[i], memory_order_relaxed);
        if (v && l->text[i])
            tab_add(t, l->family[i], l->text[i], v);
    }
}

metrics_shard_t *metrics_shard_new(void)
{
    metrics_shard_t *sh = mem_calloc(1, sizeof(*sh));
    pthread_mutex_lock(&lock);
    sh->next = shards;
    if (shards)
        shards->prev = sh;
    shards = sh;
    pthread_mutex_unlock(&lock);
    return sh;
}

/* Moves the shard's labelled counts into the totals and drops its label
 * set. Lock held. */
static void fold_dyn(metrics_shard_t *sh)
{
    tab_add_dyn(&totals, sh->labels, sh->dyn);
    free(sh->dyn);
    metrics_labels_release(sh->labels);
    sh->dyn = NULL;
    sh->labels = NULL;
}

void metrics_shard_retire(metrics_shard_t *sh)
{
    if (!sh)
        return;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < METRICS_FIXED_MAX; i++)
        retired[i] += atomic_load_explicit(&sh->fixed[i], memory_order_relaxed);
    fold_dyn(sh);
    if (sh->prev)
        sh->prev->next = sh->next;
    else
        shards = sh->next;
    if (sh->next)
        sh->next->prev = sh->prev;
    pthread_mutex_unlock(&lock);
    free(sh);
}

void metrics_count(unsigned id, uint64_t v)
{
    atomic_fetch_add_explicit(&process[id], v, memory_order_relaxed);
}

void metrics_set(unsigned id, uint64_t v)
{
    atomic_store_explicit(&process[id], v, memory_order_relaxed);
}

metrics_labels_t *metrics_labels_new(size_t n)
{
    metrics_labels_t *l = mem_calloc(1, sizeof(*l));
    atomic_init(&l->refs, 1);
    l->n = n;
    l->family = mem_calloc(n ? n : 1, sizeof(*l->family));
    l->text = mem_calloc(n ? n : 1, sizeof(*l->text));
    return l;
}

void metrics_labels_name(metrics_labels_t *l, size_t i, unsigned family, const char *text)
{
    free(l->text[i]);
    l->family[i] = family;
    l->text[i] = mem_strdup(text);
}

size_t metrics_labels_count(const metrics_labels_t *l)
{
    return l ? l->n : 0;
}

void metrics_labels_release(metrics_labels_t *l)
{
    if (!l || atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->text[i]);
    free(l->text);
    free(l->family);
    free(l);
}

_Atomic uint64_t *metrics_shard_dyn_switch(metrics_shard_t *sh, metrics_labels_t *l)
{
    atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
    _Atomic uint64_t *dyn = mem_calloc(l->n ? l->n : 1, sizeof(*dyn));
    pthread_mutex_lock(&lock);
    fold_dyn(sh);
    sh->dyn = dyn;
    sh->labels = l;
    pthread_mutex_unlock(&lock);
    return dyn;
}

void metrics_read_fixed(uint64_t *out)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < METRICS_FIXED_MAX; i++) {
        uint64_t v = retired[i] + atomic_load_explicit(&process[i], memory_order_relaxed);
        for (const metrics_shard_t *sh = shards; sh; sh = sh->next)
            v += atomic_load_explicit(&sh->fixed[i], memory_order_relaxed);
        out[i] = v;
    }
    pthread_mutex_unlock(&lock);
}

void metrics_read_series(metrics_series_fn fn, void *ctx)
{
    series_tab_t t = {.owns_text = false};
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < totals.n; i++)
        tab_add(&t, totals.v[i].family, totals.v[i].text, totals.v[i].value);
    for (metrics_shard_t *sh = shards; sh; sh = sh->next)
        tab_add_dyn(&t, sh->labels, sh->dyn);
    for (size_t i = 0; i < t.n; i++)
        fn(ctx, t.v[i].family, t.v[i].text, t.v[i].value);
    pthread_mutex_unlock(&lock);
    tab_free(&t);
}

void metrics_reset(void)
{
    pthread_mutex_lock(&lock);
    memset(retired, 0, sizeof(retired));
    for (size_t i = 0; i < METRICS_FIXED_MAX; i++)
        atomic_store_explicit(&process[i], 0, memory_order_relaxed);
    tab_free(&totals);
    pthread_mutex_unlock(&lock);
}
