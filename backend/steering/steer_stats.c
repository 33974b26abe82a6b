#include "backend/steering/steer_stats.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>

#include "backend/steering/policy.h"
#include "common/buf.h"
#include "common/htab.h"
#include "common/mem.h"
#include "geo/geotree.h"

/* A series key: policy, pool + 1 (0: several pools), endpoint + 1 (0: the
 * decision series of that policy and pool, eight slots from `slot`). */
typedef struct {
    uint64_t key;
    uint32_t slot;
} entry_t;

struct steer_stats {
    metrics_labels_t *labels;
    /* The client's continent index by address, painted from the country
     * database: a tree walk (geo_tree's first-level table skips the first
     * 16 levels), where a database lookup per decision (tree walk plus
     * record) cost microseconds under load. */
    geo_tree_t *cont4, *cont6;
    entry_t *v;
    size_t n, cap;
    htab_t idx;
};

static const char continents[STEER_NCONTINENTS][3] = {"", "AF", "AN", "AS", "EU", "NA", "OC", "SA"};

static uint64_t key_of(uint32_t p, uint32_t pool, uint32_t e)
{
    return (uint64_t)p << 42 | (uint64_t)(pool + 1) << 21 | (e + 1);
}

unsigned steer_stats_continent(const char *code)
{
    for (unsigned i = 1; i < STEER_NCONTINENTS; i++)
        if (code[0] == continents[i][0] && code[1] == continents[i][1] && !code[2])
            return i;
    return 0;
}

/* Keys are unique by construction: each policy's pools and endpoints are
 * visited once. */
static void add_key(steer_stats_t *m, uint64_t key, uint32_t slot)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->v = mem_realloc_n(m->v, m->cap, sizeof(*m->v));
    }
    m->v[m->n++] = (entry_t){key, slot};
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void put_label(buf_t *b, const char *name, const char *value)
{
    if (b->len)
        buf_putc(b, ',');
    buf_puts(b, name);
    buf_puts(b, "=\"");
    for (const char *c = value; *c; c++) {
        if (*c == '\\' || *c == '"')
            buf_putc(b, '\\');
        if (*c == '\n')
            buf_puts(b, "\\n");
        else
            buf_putc(b, *c);
    }
    buf_putc(b, '"');
}

/* Marks in `used` every pool of the fallback chain from `p`. */
static void mark_chain(const steer_t *s, int32_t p, bool *used)
{
    for (int guard = 0; p >= 0 && guard < 64 && !used[p]; guard++) {
        used[p] = true;
        p = s->pools[p].fallback;
    }
}

static int paint_continent(void *ctx, const uint8_t *addr, uint8_t len, const geo_result_t *r)
{
    unsigned c = steer_stats_continent(r->continent);
    if (c)
        geo_tree_paint(ctx, addr, len, c);
    return 0;
}

static void build_continents(steer_stats_t *m, const geo_db_t *country)
{
    static const int families[2] = {AF_INET, AF_INET6};
    for (int f = 0; country && f < 2; f++) {
        geo_tree_t *t = geo_tree_new(families[f], 0);
        /* A walk that fails half way leaves a tree that is right where it
         * was painted and unknown elsewhere: good enough for a label. */
        (void)geo_db_walk(country, families[f], paint_continent, t);
        geo_tree_finish(t);
        if (families[f] == AF_INET)
            m->cont4 = t;
        else
            m->cont6 = t;
    }
}

unsigned steer_stats_client_continent(const steer_stats_t *m, const steer_client_t *c)
{
    const geo_tree_t *t = c->family == AF_INET ? m->cont4 : m->cont6;
    uint8_t depth;
    return t ? geo_tree_lookup(t, c->addr, &depth) : 0;
}

unsigned steer_stats_client_continent_cached(const steer_stats_t *m, steer_cont_cache_t *cache,
                                             const steer_client_t *c)
{
    uint64_t key;
    uint8_t fam;
    if (c->family == AF_INET) {
        key = 1ull << 32 | (uint64_t)c->addr[0] << 24 | (uint64_t)c->addr[1] << 16 |
              (uint64_t)c->addr[2] << 8 | c->addr[3];
        fam = 0;
    } else {
        static const uint8_t zero[8];
        if (memcmp(c->addr + 8, zero, 8) != 0) /* a /128 client: no entry */
            return steer_stats_client_continent(m, c);
        key = 0;
        for (int i = 0; i < 8; i++)
            key = key << 8 | c->addr[i];
        fam = 0x80;
    }
    if (cache->owner != m) {
        memset(cache->key, 0, sizeof(cache->key));
        cache->owner = m;
    }
    size_t i = (size_t)(htab_hash_u64(key ^ fam) & (STEER_CONT_CACHE - 1));
    if (key && cache->key[i] == key && (cache->val[i] & 0x80) == fam)
        return cache->val[i] & 0x7f;
    unsigned cont = steer_stats_client_continent(m, c);
    cache->key[i] = key;
    cache->val[i] = (uint8_t)(cont | fam);
    return cont;
}

steer_stats_t *steer_stats_new(const steer_t *s, const geo_db_t *country)
{
    steer_stats_t *m = mem_calloc(1, sizeof(*m));
    build_continents(m, country);
    size_t nslots = 0;
    bool *used = mem_calloc(s && s->npools ? s->npools : 1, sizeof(bool));
    bool *eps = mem_calloc(s && s->neps ? s->neps : 1, sizeof(bool));
    /* First pass: the keys and their slots; the second names the slots. */
    for (uint32_t pi = 0; s && pi < s->npols; pi++) {
        const pol_t *p = &s->pols[pi];
        memset(used, 0, s->npools * sizeof(bool));
        memset(eps, 0, s->neps * sizeof(bool));
        for (size_t i = 0; i < p->def.npools; i++)
            mark_chain(s, (int32_t)p->pools[i], used);
        for (size_t i = 0; i < p->nrules; i++)
            mark_chain(s, (int32_t)p->rules[i].pool, used);
        if (p->ops->default_pool)
            mark_chain(s, (int32_t)p->def.default_pool, used);
        if (p->def.all_down == STEER_DOWN_POOL)
            mark_chain(s, p->def.all_down_pool, used);
        for (uint32_t q = 0; q <= s->npools; q++) {
            if (q < s->npools && !used[q])
                continue;
            uint32_t pool = q < s->npools ? q : UINT32_MAX;
            add_key(m, key_of(pi, pool, UINT32_MAX), (uint32_t)nslots);
            nslots += STEER_NCONTINENTS;
            if (q == s->npools) {
                for (uint32_t e = 0; e < s->neps; e++)
                    if (eps[e])
                        add_key(m, key_of(pi, pool, e), (uint32_t)nslots++);
                continue;
            }
            for (size_t k = 0; k < s->pools[q].n; k++) {
                uint32_t e = s->pools[q].eps[k];
                eps[e] = true;
                add_key(m, key_of(pi, pool, e), (uint32_t)nslots++);
            }
        }
    }
    free(used);
    free(eps);
    m->labels = metrics_labels_new(nslots);
    htab_init(&m->idx, m->n);
    buf_t b;
    buf_init(&b);
    for (size_t i = 0; i < m->n; i++) {
        uint64_t k = m->v[i].key;
        uint32_t pi = (uint32_t)(k >> 42), q = (uint32_t)(k >> 21 & 0x1fffff),
                 e = (uint32_t)(k & 0x1fffff);
        const char *policy = s->pols[pi].name;
        const char *pool = q ? s->pools[q - 1].name : "";
        htab_add(&m->idx, htab_hash_u64(k), (uint32_t)i);
        if (e) {
            buf_reset(&b);
            put_label(&b, "policy", policy);
            put_label(&b, "pool", pool);
            put_label(&b, "endpoint", s->eps[e - 1].name);
            metrics_labels_name(m->labels, m->v[i].slot, STEER_FAM_ANSWERS, b.data);
            continue;
        }
        for (unsigned c = 0; c < STEER_NCONTINENTS; c++) {
            buf_reset(&b);
            put_label(&b, "policy", policy);
            put_label(&b, "continent", continents[c]);
            put_label(&b, "pool", pool);
            metrics_labels_name(m->labels, m->v[i].slot + c, STEER_FAM_DECISIONS, b.data);
        }
    }
    buf_free(&b);
    return m;
}

void steer_stats_free(steer_stats_t *m)
{
    if (!m)
        return;
    metrics_labels_release(m->labels);
    geo_tree_free(m->cont4);
    geo_tree_free(m->cont6);
    htab_free(&m->idx);
    free(m->v);
    free(m);
}

metrics_labels_t *steer_stats_labels(const steer_stats_t *m)
{
    return m->labels;
}

static uint32_t slot_of(const steer_stats_t *m, uint64_t key)
{
    uint32_t i;
    for (size_t k = htab_start(&m->idx, htab_hash_u64(key));
         (i = htab_next(&m->idx, &k)) != HTAB_END;)
        if (m->v[i].key == key)
            return m->v[i].slot;
    return UINT32_MAX;
}

unsigned steer_stats_count(const steer_stats_t *m, _Atomic uint64_t *dyn, uint32_t p,
                           const steer_decision_t *d, unsigned cont)
{
    unsigned missed = 0;
    uint32_t slot = slot_of(m, key_of(p, d->pool, UINT32_MAX));
    if (slot == UINT32_MAX)
        missed++;
    else
        metrics_dyn_add(dyn, slot + (cont < STEER_NCONTINENTS ? cont : 0), 1);
    for (uint16_t i = 0; i < d->n; i++) {
        slot = slot_of(m, key_of(p, d->pool, d->picks[i]));
        if (slot == UINT32_MAX)
            missed++;
        else
            metrics_dyn_add(dyn, slot, 1);
    }
    return missed;
}
