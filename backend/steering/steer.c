#include "backend/steering/steer.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "geo/geotree.h"
#include "common/hash.h"
#include "common/htab.h"
#include "common/log.h"
#include "common/mem.h"

typedef struct {
    char *name;
    char **a, **aaaa;
    size_t na, naaaa;
    char *cname;
    bool has_loc;
    double lat, lon;
    uint32_t weight;
} ep_t;

typedef struct {
    char *name;
    uint32_t *eps;
    size_t n;
    uint32_t min_healthy;
    int32_t fallback;
} pool_t;

typedef struct {
    steer_key_t key;
    char code[8];
    uint32_t asn;
    int family;
    uint8_t cidr[16];
    uint8_t len;
    uint32_t pool;
} rule_t;

/* Proximity: the endpoints ordered by biased distance from one location. */
typedef struct {
    uint32_t *order;
    size_t n;
} pclass_t;

typedef struct {
    steer_policy_def_t def; /* pointers below are owned copies */
    char *name;
    uint32_t *pools;
    int32_t *bias;
    rule_t *rules;
    size_t nrules;
    geo_tree_t *tree4, *tree6;
    /* geo/proximity: some client of one family may be answered differently
     * from some client of the other (so no answer may carry scope 0). */
    bool split;
    pclass_t *classes;
    size_t nclasses;
    /* proximity: per endpoint, whether one of the policy's own pools lists
     * it (the others are candidates only through a pool's fallback chain). */
    bool *listed;
} pol_t;

struct steer {
    ep_t *eps;
    size_t neps;
    pool_t *pools;
    size_t npools;
    pol_t *pols;
    size_t npols;
    /* Policies by name hash: every steered lookup resolves its record's
     * policy name here. */
    htab_t by_name;
    bool has_country, has_asn; /* built with a country/city, an ASN database */
};

/* A builder is an engine whose trees are not built yet. */
struct steer_builder {
    struct steer s;
};

static uint64_t name_hash(const char *name, size_t len)
{
    return gs_fnv64(name, len);
}

static char **dup_strv(const char *const *v, size_t n)
{
    char **out = mem_calloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        out[i] = mem_strdup(v[i]);
    return out;
}

steer_builder_t *steer_builder_new(void)
{
    return mem_calloc(1, sizeof(steer_builder_t));
}

uint32_t steer_add_endpoint(steer_builder_t *b, const char *name, const char *const *a, size_t na,
                            const char *const *aaaa, size_t naaaa, const char *cname,
                            bool has_location, double lat, double lon, uint32_t weight)
{
    b->s.eps = mem_realloc_n(b->s.eps, b->s.neps + 1, sizeof(ep_t));
    ep_t *e = &b->s.eps[b->s.neps];
    *e = (ep_t){.name = mem_strdup(name),
                .a = dup_strv(a, na),
                .na = na,
                .aaaa = dup_strv(aaaa, naaaa),
                .naaaa = naaaa,
                .cname = cname ? mem_strdup(cname) : NULL,
                .has_loc = has_location,
                .lat = lat,
                .lon = lon,
                .weight = weight};
    return (uint32_t)b->s.neps++;
}

uint32_t steer_add_pool(steer_builder_t *b, const char *name, const uint32_t *endpoints, size_t n,
                        uint32_t min_healthy, int32_t fallback)
{
    b->s.pools = mem_realloc_n(b->s.pools, b->s.npools + 1, sizeof(pool_t));
    pool_t *p = &b->s.pools[b->s.npools];
    *p = (pool_t){.name = mem_strdup(name),
                  .eps = mem_calloc(n ? n : 1, sizeof(uint32_t)),
                  .n = n,
                  .min_healthy = min_healthy,
                  .fallback = fallback};
    memcpy(p->eps, endpoints, n * sizeof(uint32_t));
    return (uint32_t)b->s.npools++;
}

uint32_t steer_add_policy(steer_builder_t *b, const steer_policy_def_t *def)
{
    b->s.pols = mem_realloc_n(b->s.pols, b->s.npols + 1, sizeof(pol_t));
    pol_t *p = &b->s.pols[b->s.npols];
    memset(p, 0, sizeof(*p));
    p->def = *def;
    p->name = mem_strdup(def->name);
    p->def.name = p->name;
    p->pools = mem_calloc(def->npools ? def->npools : 1, sizeof(uint32_t));
    memcpy(p->pools, def->pools, def->npools * sizeof(uint32_t));
    p->def.pools = p->pools;
    if (def->bias_km) {
        p->bias = mem_calloc(def->npools, sizeof(int32_t));
        memcpy(p->bias, def->bias_km, def->npools * sizeof(int32_t));
    }
    p->def.bias_km = p->bias;
    return (uint32_t)b->s.npols++;
}

void steer_add_rule(steer_builder_t *b, uint32_t policy, steer_key_t key, const char *code,
                    uint32_t asn, int family, const uint8_t *cidr, uint8_t cidr_len, uint32_t pool)
{
    pol_t *p = &b->s.pols[policy];
    p->rules = mem_realloc_n(p->rules, p->nrules + 1, sizeof(rule_t));
    rule_t *r = &p->rules[p->nrules++];
    memset(r, 0, sizeof(*r));
    r->key = key;
    if (code)
        snprintf(r->code, sizeof(r->code), "%s", code);
    r->asn = asn;
    r->family = family;
    if (cidr)
        memcpy(r->cidr, cidr, family == AF_INET ? 4 : 16);
    r->len = cidr_len;
    r->pool = pool;
}

/* ---- decision trees -------------------------------------------------------- */

/* The pool a geo policy gives a database result, ignoring CIDR and ASN rules
 * (painted over it afterwards): subdivision, then country, then continent,
 * first matching rule of each kind. */
static uint32_t geo_pool_for(const pol_t *p, const geo_result_t *r)
{
    static const steer_key_t order[] = {STEER_KEY_SUBDIVISION, STEER_KEY_COUNTRY,
                                        STEER_KEY_CONTINENT};
    for (size_t k = 0; k < 3; k++) {
        for (size_t i = 0; i < p->nrules; i++) {
            const rule_t *rule = &p->rules[i];
            if (rule->key != order[k])
                continue;
            const char *v = order[k] == STEER_KEY_SUBDIVISION ? r->subdivision
                            : order[k] == STEER_KEY_COUNTRY   ? r->country
                                                              : r->continent;
            if (*v && strcmp(v, rule->code) == 0)
                return rule->pool;
        }
    }
    return p->def.default_pool;
}

typedef struct {
    const pol_t *pol;
    geo_tree_t *tree;
    const steer_t *s;
    pol_t *wpol; /* proximity: where classes are interned */
} walk_ctx_t;

static int paint_geo(void *ctx, const uint8_t *addr, uint8_t len, const geo_result_t *r)
{
    walk_ctx_t *w = ctx;
    uint32_t pool = geo_pool_for(w->pol, r);
    if (pool != w->pol->def.default_pool)
        geo_tree_paint(w->tree, addr, len, pool);
    return 0;
}

static int paint_asn(void *ctx, const uint8_t *addr, uint8_t len, const geo_result_t *r)
{
    walk_ctx_t *w = ctx;
    for (size_t i = 0; i < w->pol->nrules; i++) {
        const rule_t *rule = &w->pol->rules[i];
        if (rule->key == STEER_KEY_ASN && rule->asn == r->asn) {
            geo_tree_paint(w->tree, addr, len, rule->pool);
            break;
        }
    }
    return 0;
}

double steer_distance_km(double lat1, double lon1, double lat2, double lon2)
{
    const double rad = M_PI / 180.0;
    double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
    double h = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
    return 2 * 6371.0 * asin(sqrt(h < 1 ? h : 1));
}

/* Candidates of a proximity policy: its pools' endpoints, each with the
 * bias of the first pool listing it. */
typedef struct {
    uint32_t ep;
    int32_t bias;
    double d;
} cand_t;

static int cmp_cand(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return x->ep < y->ep ? -1 : x->ep > y->ep;
}

static void add_candidate(cand_t **c, size_t *n, size_t *cap, uint32_t ep, int32_t bias)
{
    for (size_t j = 0; j < *n; j++)
        if ((*c)[j].ep == ep)
            return;
    if (*n == *cap)
        *c = mem_realloc_n(*c, *cap *= 2, sizeof(**c));
    (*c)[(*n)++] = (cand_t){ep, bias, 0};
}

/* Candidates of a proximity policy: its pools' endpoints, then the endpoints
 * their fallback chains can bring in, each with the bias of the first
 * policy pool that lists it or falls back to it. */
static size_t proximity_candidates(const steer_t *s, const pol_t *p, cand_t **out)
{
    size_t n = 0, cap = 16;
    cand_t *c = mem_calloc(cap, sizeof(*c));
    for (int chain = 0; chain < 2; chain++)
        for (size_t i = 0; i < p->def.npools; i++) {
            int32_t bias = p->bias ? p->bias[i] : 0;
            int32_t pi = (int32_t)p->pools[i];
            for (int guard = 0; pi >= 0 && guard < 64; guard++) {
                const pool_t *pool = &s->pools[pi];
                for (size_t k = 0; k < pool->n; k++)
                    add_candidate(&c, &n, &cap, pool->eps[k], bias);
                pi = chain ? pool->fallback : -1;
            }
        }
    *out = c;
    return n;
}

/* Interns the ordering for a location as a class; identical orderings share
 * a class so that the tree merges areas with the same nearest endpoints. */
static uint32_t proximity_class(const steer_t *s, pol_t *p, bool has_loc, double lat, double lon)
{
    cand_t *c;
    size_t n = proximity_candidates(s, p, &c);
    for (size_t i = 0; i < n; i++) {
        const ep_t *e = &s->eps[c[i].ep];
        c[i].d = has_loc && e->has_loc ? steer_distance_km(lat, lon, e->lat, e->lon) + c[i].bias
                                       : (double)i; /* unknown location: listed order */
    }
    qsort(c, n, sizeof(*c), cmp_cand);
    for (size_t k = 0; k < p->nclasses; k++) {
        bool same = p->classes[k].n == n;
        for (size_t i = 0; same && i < n; i++)
            same = p->classes[k].order[i] == c[i].ep;
        if (same) {
            free(c);
            return (uint32_t)k;
        }
    }
    p->classes = mem_realloc_n(p->classes, p->nclasses + 1, sizeof(pclass_t));
    pclass_t *pc = &p->classes[p->nclasses];
    pc->n = n;
    pc->order = mem_calloc(n ? n : 1, sizeof(uint32_t));
    for (size_t i = 0; i < n; i++)
        pc->order[i] = c[i].ep;
    free(c);
    return (uint32_t)p->nclasses++;
}

static int paint_proximity(void *ctx, const uint8_t *addr, uint8_t len, const geo_result_t *r)
{
    walk_ctx_t *w = ctx;
    if (!r->has_location)
        return 0;
    uint32_t k = proximity_class(w->s, w->wpol, true, r->latitude, r->longitude);
    if (k != 0)
        geo_tree_paint(w->tree, addr, len, k);
    return 0;
}

static void build_trees(const steer_t *s, pol_t *p, const geo_db_t *country, const geo_db_t *asn)
{
    static const int families[2] = {AF_INET, AF_INET6};
    if (p->def.type == STEER_PROXIMITY)
        proximity_class(s, p, false, 0, 0); /* class 0: no location known */
    for (int f = 0; f < 2; f++) {
        int fam = families[f];
        uint32_t initial = p->def.type == STEER_GEO ? p->def.default_pool : 0;
        geo_tree_t *t = geo_tree_new(fam, initial);
        walk_ctx_t w = {.pol = p, .tree = t, .s = s, .wpol = p};
        if (p->def.type == STEER_GEO) {
            if (country)
                geo_db_walk(country, fam, paint_geo, &w);
            bool has_asn_rules = false;
            for (size_t i = 0; i < p->nrules; i++)
                has_asn_rules |= p->rules[i].key == STEER_KEY_ASN;
            if (asn && has_asn_rules)
                geo_db_walk(asn, fam, paint_asn, &w);
            /* Most specific wins: paint shorter prefixes first. */
            for (unsigned len = 0; len <= 128; len++)
                for (size_t i = 0; i < p->nrules; i++)
                    if (p->rules[i].key == STEER_KEY_CIDR && p->rules[i].family == fam &&
                        p->rules[i].len == len)
                        geo_tree_paint(t, p->rules[i].cidr, p->rules[i].len, p->rules[i].pool);
        } else if (country) {
            geo_db_walk(country, fam, paint_proximity, &w);
        }
        geo_tree_finish(t);
        if (fam == AF_INET)
            p->tree4 = t;
        else
            p->tree6 = t;
    }
    /* Scope 0 promises one answer to every client of both families: only
     * when each tree is a single leaf and both leaves agree. */
    static const uint8_t zero[16];
    uint8_t d4, d6;
    uint32_t v4 = geo_tree_lookup(p->tree4, zero, &d4), v6 = geo_tree_lookup(p->tree6, zero, &d6);
    p->split = d4 != 0 || d6 != 0 || v4 != v6;
    if (p->def.type == STEER_PROXIMITY) {
        p->listed = mem_calloc(s->neps ? s->neps : 1, sizeof(bool));
        for (size_t i = 0; i < p->def.npools; i++) {
            const pool_t *pool = &s->pools[p->pools[i]];
            for (size_t k = 0; k < pool->n; k++)
                p->listed[pool->eps[k]] = true;
        }
    }
}

steer_t *steer_build(steer_builder_t *b, const geo_db_t *country, const geo_db_t *asn)
{
    steer_t *s = mem_alloc(sizeof(*s));
    *s = b->s;
    free(b);
    s->has_country = country != NULL;
    s->has_asn = asn != NULL;
    htab_init(&s->by_name, s->npols);
    for (size_t i = 0; i < s->npols; i++)
        htab_add(&s->by_name, name_hash(s->pols[i].name, strlen(s->pols[i].name)), (uint32_t)i);
    for (size_t i = 0; i < s->npols; i++)
        if (s->pols[i].def.type == STEER_GEO || s->pols[i].def.type == STEER_PROXIMITY)
            build_trees(s, &s->pols[i], country, asn);
    return s;
}

void steer_free(steer_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->neps; i++) {
        ep_t *e = &s->eps[i];
        for (size_t k = 0; k < e->na; k++)
            free(e->a[k]);
        for (size_t k = 0; k < e->naaaa; k++)
            free(e->aaaa[k]);
        free(e->a);
        free(e->aaaa);
        free(e->cname);
        free(e->name);
    }
    for (size_t i = 0; i < s->npools; i++) {
        free(s->pools[i].eps);
        free(s->pools[i].name);
    }
    for (size_t i = 0; i < s->npols; i++) {
        pol_t *p = &s->pols[i];
        for (size_t k = 0; k < p->nclasses; k++)
            free(p->classes[k].order);
        free(p->classes);
        geo_tree_free(p->tree4);
        geo_tree_free(p->tree6);
        free(p->listed);
        free(p->rules);
        free(p->pools);
        free(p->bias);
        free(p->name);
    }
    free(s->eps);
    free(s->pools);
    free(s->pols);
    htab_free(&s->by_name);
    free(s);
}

/* ---- lookups of names and types ------------------------------------------------ */

int32_t steer_policy_find(const steer_t *s, const char *name, size_t len)
{
    uint32_t i;
    for (size_t k = htab_start(&s->by_name, name_hash(name, len));
         (i = htab_next(&s->by_name, &k)) != HTAB_END;) {
        const char *pn = s->pols[i].name;
        if (strlen(pn) == len && memcmp(pn, name, len) == 0)
            return (int32_t)i;
    }
    return -1;
}

const uint32_t *steer_pool_endpoints(const steer_t *s, uint32_t p, size_t *n)
{
    *n = s->pools[p].n;
    return s->pools[p].eps;
}

const uint32_t *steer_policy_pools(const steer_t *s, uint32_t p, size_t *n)
{
    *n = s->pols[p].def.npools;
    return s->pols[p].pools;
}

const char *steer_policy_type_name(const steer_t *s, uint32_t p)
{
    static const char *names[] = {
        "all",      "random",     "weighted", "hashed",   "consistent-hash",
        "failover", "multivalue", "geo",      "proximity"};
    return names[s->pols[p].def.type];
}

uint32_t steer_policy_ttl(const steer_t *s, uint32_t p)
{
    return s->pols[p].def.ttl;
}

uint32_t steer_endpoint_weight(const steer_t *s, uint32_t e)
{
    return s->eps[e].weight;
}

int32_t steer_endpoint_find(const steer_t *s, const char *name)
{
    for (size_t i = 0; i < s->neps; i++)
        if (strcmp(s->eps[i].name, name) == 0)
            return (int32_t)i;
    return -1;
}

size_t steer_endpoint_count(const steer_t *s)
{
    return s->neps;
}

bool steer_has_country_db(const steer_t *s)
{
    return s && s->has_country;
}

bool steer_has_asn_db(const steer_t *s)
{
    return s && s->has_asn;
}

const char *steer_endpoint_name(const steer_t *s, uint32_t i)
{
    return s->eps[i].name;
}

const char *steer_pool_name(const steer_t *s, uint32_t i)
{
    return s->pools[i].name;
}

const char *steer_policy_name(const steer_t *s, uint32_t i)
{
    return s->pols[i].name;
}

static unsigned ep_qtypes(const ep_t *e)
{
    return (e->na ? STEER_QT_A : 0) | (e->naaaa ? STEER_QT_AAAA : 0) |
           (e->cname ? STEER_QT_CNAME : 0);
}

/* Intersects `mask` with the types of every endpoint of pool `p` and of its
 * fallback chain. */
static unsigned pool_qtypes(const steer_t *s, uint32_t p, unsigned mask)
{
    for (int guard = 0; guard < 64; guard++) {
        const pool_t *pool = &s->pools[p];
        for (size_t k = 0; k < pool->n; k++)
            mask &= ep_qtypes(&s->eps[pool->eps[k]]);
        if (pool->fallback < 0)
            break;
        p = (uint32_t)pool->fallback;
    }
    return mask;
}

unsigned steer_policy_qtypes(const steer_t *s, uint32_t pi)
{
    const pol_t *p = &s->pols[pi];
    unsigned mask = STEER_QT_A | STEER_QT_AAAA | STEER_QT_CNAME;
    for (size_t i = 0; i < p->def.npools; i++)
        mask = pool_qtypes(s, p->pools[i], mask);
    for (size_t i = 0; i < p->nrules; i++)
        mask = pool_qtypes(s, p->rules[i].pool, mask);
    if (p->def.type == STEER_GEO)
        mask = pool_qtypes(s, p->def.default_pool, mask);
    if (p->def.all_down == STEER_DOWN_POOL && p->def.all_down_pool >= 0)
        mask = pool_qtypes(s, (uint32_t)p->def.all_down_pool, mask);
    return mask;
}

const char *const *steer_endpoint_values(const steer_t *s, uint32_t e, unsigned qtype, size_t *n)
{
    const ep_t *ep = &s->eps[e];
    *n = 0;
    if (qtype == STEER_QT_A && ep->na) {
        *n = ep->na;
        return (const char *const *)ep->a;
    }
    if (qtype == STEER_QT_AAAA && ep->naaaa) {
        *n = ep->naaaa;
        return (const char *const *)ep->aaaa;
    }
    if (qtype == STEER_QT_CNAME && ep->cname) {
        *n = 1;
        return (const char *const *)&ep->cname;
    }
    return NULL;
}

/* ---- clients --------------------------------------------------------------------- */

static int parse_addr(const char *s, size_t len, steer_client_t *c)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    if (len == 0 || len >= sizeof(tmp))
        return GS_EINVAL;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    memset(c->addr, 0, sizeof(c->addr));
    if (inet_pton(AF_INET, tmp, c->addr) == 1) {
        c->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, tmp, c->addr) == 1) {
        c->family = AF_INET6;
        /* An IPv4-mapped address is an IPv4 client. */
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(c->addr, mapped, 12) == 0) {
            memmove(c->addr, c->addr + 12, 4);
            memset(c->addr + 4, 0, 12);
            c->family = AF_INET;
        }
        return 0;
    }
    return GS_EINVAL;
}

int steer_client_parse(const char *real_remote, size_t rr_len, const char *remote,
                       size_t remote_len, steer_client_t *c)
{
    memset(c, 0, sizeof(*c));
    const char *slash = real_remote ? memchr(real_remote, '/', rr_len) : NULL;
    size_t alen = slash ? (size_t)(slash - real_remote) : rr_len;
    long plen = -1;
    if (slash) {
        char *end;
        char num[5] = {0};
        size_t nl = rr_len - alen - 1;
        if (nl == 0 || nl > 3)
            return GS_EINVAL;
        memcpy(num, slash + 1, nl);
        plen = strtol(num, &end, 10);
        if (*end)
            return GS_EINVAL;
    }
    if (real_remote && parse_addr(real_remote, alen, c) == 0) {
        c->wire_family = c->family;
        if (plen != 0) {
            uint8_t max = c->family == AF_INET ? 32 : 128;
            c->source_len = plen < 0 || plen > max ? max : (uint8_t)plen;
            return 0;
        }
    }
    /* No usable ECS (source /0, or nothing parsable): decide on the resolver. */
    int wire = c->wire_family;
    if (parse_addr(remote, remote_len, c) != 0)
        return GS_EINVAL;
    c->wire_family = wire ? wire : c->family;
    c->source_len = c->family == AF_INET ? 32 : 128;
    c->from_remote = true;
    return 0;
}

uint8_t steer_scope_final(const steer_client_t *c, uint8_t scope, bool split)
{
    uint8_t cap = c->family == AF_INET ? STEER_SCOPE_V4 : STEER_SCOPE_V6;
    if (scope > cap)
        scope = cap;
    if (scope == 0 && !split)
        return 0; /* the same answer for every client of both families */
    if (c->from_remote && c->wire_family != c->family)
        /* Decided on a resolver address of the other family than the ECS
         * option's: a prefix length of that address means nothing in the
         * option's family; what matters is that it is not 0. */
        return c->wire_family == AF_INET ? STEER_SCOPE_V4 : STEER_SCOPE_V6;
    return scope ? scope : 1;
}

/* ---- decisions ------------------------------------------------------------------- */

uint64_t steer_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* Hash of the client's address truncated to `bits`. */
uint64_t steer_client_hash(const steer_client_t *c, uint8_t bits)
{
    uint64_t h = (uint64_t)c->family * 0x9e3779b97f4a7c15ull;
    size_t nbytes = c->family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < nbytes; i++) {
        unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;
        uint8_t b = keep ? (uint8_t)(c->addr[i] & (0xff << (8 - keep))) : 0;
        h = steer_mix64(h ^ b ^ ((uint64_t)i << 8));
    }
    return h;
}

steer_admin_state_t steer_admin_get(const steer_admin_t *adm, uint32_t e)
{
    if (!adm || e >= adm->n || adm->state[e] == STEER_ADMIN_NONE)
        return STEER_ADMIN_NONE;
    if (adm->until[e] && adm->until[e] <= adm->now)
        return STEER_ADMIN_NONE;
    return (steer_admin_state_t)adm->state[e];
}

/* Steps 1 and 2 of every policy: operator overrides, then health (unknown
 * health counts as up). A forced-up endpoint stays in whatever health says. */
static bool usable(const steer_admin_t *adm, uint32_t e)
{
    steer_admin_state_t st = steer_admin_get(adm, e);
    if (st == STEER_ADMIN_DRAIN || st == STEER_ADMIN_FORCE_DOWN)
        return false;
    if (st == STEER_ADMIN_FORCE_UP || !adm || !adm->down)
        return true;
    return !adm->down(adm->down_ctx, e);
}

static bool pool_chain_has(const steer_t *s, int32_t p, uint32_t e)
{
    for (int guard = 0; p >= 0 && guard < 64; guard++) {
        const pool_t *pool = &s->pools[p];
        for (size_t k = 0; k < pool->n; k++)
            if (pool->eps[k] == e)
                return true;
        p = pool->fallback;
    }
    return false;
}

bool steer_policy_uses(const steer_t *s, uint32_t pi, uint32_t e)
{
    const pol_t *p = &s->pols[pi];
    for (size_t i = 0; i < p->def.npools; i++)
        if (pool_chain_has(s, (int32_t)p->pools[i], e))
            return true;
    for (size_t i = 0; i < p->nrules; i++)
        if (pool_chain_has(s, (int32_t)p->rules[i].pool, e))
            return true;
    if (p->def.type == STEER_GEO && pool_chain_has(s, (int32_t)p->def.default_pool, e))
        return true;
    return p->def.all_down == STEER_DOWN_POOL && pool_chain_has(s, p->def.all_down_pool, e);
}

/* The pool rule every policy type shares: pool `p` answers with its usable
 * endpoints while at least min_healthy of them are usable; below that its
 * fallback pool stands in, and so on along the chain. Returns the usable
 * endpoints of the pool that answers (at most STEER_MAX_PICKS) in `out` and
 * that pool in *used. *healthy is false when the chain ends below its last
 * pool's min_healthy: `out` then holds what that last pool has left. */
static uint16_t pool_resolve(const steer_t *s, const steer_admin_t *adm, uint32_t p, uint32_t *out,
                             uint32_t *used, bool *healthy)
{
    uint16_t n = 0;
    *healthy = false;
    for (int guard = 0; guard < 64; guard++) {
        const pool_t *pool = &s->pools[p];
        n = 0;
        for (size_t k = 0; k < pool->n && n < STEER_MAX_PICKS; k++)
            if (usable(adm, pool->eps[k]))
                out[n++] = pool->eps[k];
        *used = p;
        if (n >= pool->min_healthy && n > 0) {
            *healthy = true;
            return n;
        }
        if (pool->fallback < 0)
            return n;
        p = (uint32_t)pool->fallback;
    }
    return n;
}

static uint16_t pool_pick_all(const steer_t *s, const steer_admin_t *adm, uint32_t p, uint32_t *out,
                              uint32_t *used)
{
    bool healthy;
    return pool_resolve(s, adm, p, out, used, &healthy);
}

/* Is endpoint `e` in pool `p`? */
static bool pool_has(const steer_t *s, uint32_t p, uint32_t e)
{
    const pool_t *pool = &s->pools[p];
    for (size_t k = 0; k < pool->n; k++)
        if (pool->eps[k] == e)
            return true;
    return false;
}

/* Proximity candidates in the order of class `pc`: the usable endpoints of
 * the pools that answer for the policy's pools (each pool, or its fallback
 * when it is below min_healthy), nearest first, at most `limit`. */
static uint16_t proximity_pick(const steer_t *s, const pol_t *p, const pclass_t *pc,
                               const steer_admin_t *adm, uint32_t limit, uint32_t *cand)
{
    uint32_t used[STEER_MAX_POLICY_POOLS], tmp[STEER_MAX_PICKS];
    size_t nused = 0;
    bool moved = false;
    for (size_t i = 0; i < p->def.npools && i < STEER_MAX_POLICY_POOLS; i++) {
        bool healthy;
        pool_resolve(s, adm, p->pools[i], tmp, &used[nused], &healthy);
        moved |= used[nused] != p->pools[i];
        nused++;
    }
    uint16_t n = 0;
    for (size_t i = 0; i < pc->n && n < limit && n < STEER_MAX_PICKS; i++) {
        uint32_t e = pc->order[i];
        bool eligible = !moved && p->listed[e];
        for (size_t k = 0; moved && k < nused && !eligible; k++)
            eligible = pool_has(s, used[k], e);
        if (eligible && usable(adm, e))
            cand[n++] = e;
    }
    return n;
}

static uint32_t weighted_index(const steer_t *s, const uint32_t *eps, uint16_t n, uint64_t r)
{
    uint64_t total = 0;
    for (uint16_t i = 0; i < n; i++)
        total += s->eps[eps[i]].weight;
    if (total == 0)
        return (uint32_t)(r % n);
    uint64_t x = r % total;
    for (uint16_t i = 0; i < n; i++) {
        uint32_t w = s->eps[eps[i]].weight;
        if (x < w)
            return i;
        x -= w;
    }
    return n - 1;
}

void steer_decide(const steer_t *s, uint32_t pi, const steer_client_t *c, uint64_t rnd,
                  steer_decision_t *d)
{
    steer_decide_admin(s, pi, c, rnd, NULL, d);
}

/* Adds `e` to the all-down candidates unless it is already there. */
static void add_cand(uint32_t *cand, uint16_t *n, uint32_t e)
{
    for (uint16_t i = 0; i < *n; i++)
        if (cand[i] == e)
            return;
    if (*n < STEER_MAX_PICKS)
        cand[(*n)++] = e;
}

/* Not taken out by an operator (drained or forced down); health aside. */
static bool admin_ok(const steer_admin_t *adm, uint32_t e)
{
    steer_admin_state_t st = steer_admin_get(adm, e);
    return st != STEER_ADMIN_DRAIN && st != STEER_ADMIN_FORCE_DOWN;
}

/* Adds the endpoints of pool `p` and of its fallback chain. */
static void add_chain(const steer_t *s, const steer_admin_t *adm, int32_t p, bool any,
                      uint32_t *cand, uint16_t *n)
{
    for (int guard = 0; p >= 0 && guard < 64; guard++) {
        const pool_t *pool = &s->pools[p];
        for (size_t k = 0; k < pool->n; k++)
            if (any || admin_ok(adm, pool->eps[k]))
                add_cand(cand, n, pool->eps[k]);
        p = pool->fallback;
    }
}

/* The all-down rule's answer. `all` and `first` fail open over every
 * candidate (the policy's pools with their fallback chains; geo: its default
 * pool), leaving out endpoints an operator took out unless nothing else is
 * left; `pool:P` answers P (its chain) the same way; `empty` answers nothing. */
static uint16_t all_down_answer(const steer_t *s, const pol_t *p, const steer_admin_t *adm,
                                uint32_t *cand, uint32_t *pool)
{
    uint16_t n = 0;
    for (int any = 0; any < 2 && n == 0; any++) {
        switch (p->def.all_down) {
        case STEER_DOWN_ALL:
        case STEER_DOWN_FIRST:
            for (size_t i = 0; i < p->def.npools; i++)
                add_chain(s, adm, (int32_t)p->pools[i], any, cand, &n);
            if (p->def.type == STEER_GEO)
                add_chain(s, adm, (int32_t)p->def.default_pool, any, cand, &n);
            break;
        case STEER_DOWN_POOL:
            add_chain(s, adm, p->def.all_down_pool, any, cand, &n);
            *pool = (uint32_t)p->def.all_down_pool;
            break;
        case STEER_DOWN_EMPTY:
            return 0;
        }
    }
    return p->def.all_down == STEER_DOWN_FIRST && n > 1 ? 1 : n;
}

/* Rendezvous hashing: each client prefix picks the candidate with the
 * highest weighted score; losing an endpoint moves only its clients. A
 * weight-0 endpoint is picked only when every candidate has weight 0 (then
 * all count the same), as in weighted_index. */
static uint32_t chash_pick(const steer_t *s, const uint32_t *cand, uint16_t n, uint64_t key)
{
    bool any_weight = false;
    for (uint16_t i = 0; i < n; i++)
        any_weight |= s->eps[cand[i]].weight > 0;
    double best = -1;
    uint32_t pick = cand[0];
    for (uint16_t i = 0; i < n; i++) {
        const ep_t *e = &s->eps[cand[i]];
        double w = any_weight ? e->weight : 1;
        if (w == 0)
            continue;
        uint64_t h = steer_mix64(key ^ name_hash(e->name, strlen(e->name)));
        double u = ((double)(h >> 11) + 0.5) / 9007199254740992.0; /* (0,1) */
        double score = -w / log(u);
        if (score > best) {
            best = score;
            pick = cand[i];
        }
    }
    return pick;
}

/* Step 3 of every policy: its rule over the `n` > 0 usable candidates, in
 * place. Returns how many are answered. */
static uint16_t select_among(const steer_t *s, const pol_t *p, const steer_client_t *c,
                             uint64_t rnd, uint32_t *cand, uint16_t n)
{
    uint8_t hash_bits = c->family == AF_INET ? p->def.hash_v4 : p->def.hash_v6;
    switch (p->def.type) {
    case STEER_RANDOM:
        cand[0] = cand[rnd % n];
        return 1;
    case STEER_WEIGHTED:
        cand[0] = cand[weighted_index(s, cand, n, rnd)];
        return 1;
    case STEER_HASHED:
        cand[0] = cand[weighted_index(s, cand, n, steer_client_hash(c, hash_bits))];
        return 1;
    case STEER_CHASH:
        cand[0] = chash_pick(s, cand, n, steer_client_hash(c, hash_bits));
        return 1;
    case STEER_MULTIVALUE: {
        uint64_t r = rnd;
        for (uint16_t i = n; i > 1; i--) {
            r = steer_mix64(r + i);
            uint16_t j = (uint16_t)(r % i);
            uint32_t tmp = cand[i - 1];
            cand[i - 1] = cand[j];
            cand[j] = tmp;
        }
        uint32_t max = p->def.max ? p->def.max : 8;
        return n > max ? (uint16_t)max : n;
    }
    default:
        return n;
    }
}

void steer_decide_admin(const steer_t *s, uint32_t pi, const steer_client_t *c, uint64_t rnd,
                        const steer_admin_t *adm, steer_decision_t *d)
{
    const pol_t *p = &s->pols[pi];
    uint32_t cand[STEER_MAX_PICKS];
    uint16_t n = 0;
    /* Every field but picks[] (filled up to n below): no 1 KiB memset per lookup. */
    d->ttl = p->def.ttl;
    d->scope = d->depth = 0;
    d->split = d->all_down = false;
    d->n = 0;
    d->pool = UINT32_MAX;
    d->why = NULL;
    uint8_t hash_bits = c->family == AF_INET ? p->def.hash_v4 : p->def.hash_v6;

    switch (p->def.type) {
    case STEER_ALL:
    case STEER_RANDOM:
    case STEER_WEIGHTED:
    case STEER_HASHED:
    case STEER_CHASH:
    case STEER_MULTIVALUE:
        n = pool_pick_all(s, adm, p->pools[0], cand, &d->pool);
        d->why = "pool";
        break;
    case STEER_FAILOVER:
        /* The first pool (through its fallback chain) that has min_healthy
         * usable endpoints; none: the all-down rule. */
        for (size_t i = 0; i < p->def.npools && n == 0; i++) {
            bool healthy;
            uint16_t m = pool_resolve(s, adm, p->pools[i], cand, &d->pool, &healthy);
            if (healthy) {
                n = m;
                d->why = i == 0 && d->pool == p->pools[0] ? "first pool healthy"
                         : d->pool == p->pools[i]         ? "earlier pools below min_healthy"
                                                          : "pool below min_healthy: its fallback";
            }
        }
        break;
    case STEER_GEO: {
        uint8_t depth;
        const geo_tree_t *t = c->family == AF_INET ? p->tree4 : p->tree6;
        uint32_t pool = geo_tree_lookup(t, c->addr, &depth);
        d->depth = depth;
        d->scope = depth; /* capped by steer_scope_final */
        n = pool_pick_all(s, adm, pool, cand, &d->pool);
        d->why = pool == p->def.default_pool ? "default" : "geo rule";
        break;
    }
    case STEER_PROXIMITY: {
        uint8_t depth;
        const geo_tree_t *t = c->family == AF_INET ? p->tree4 : p->tree6;
        const pclass_t *pc = &p->classes[geo_tree_lookup(t, c->addr, &depth)];
        d->depth = depth;
        d->scope = depth; /* capped by steer_scope_final */
        n = proximity_pick(s, p, pc, adm, p->def.nearest ? p->def.nearest : 1, cand);
        d->why = "nearest";
        break;
    }
    }

    if (n == 0) {
        /* All down (or nothing usable): never NXDOMAIN/SERVFAIL because of
         * health; the policy's all-down rule is the whole answer. */
        d->all_down = true;
        d->pool = UINT32_MAX;
        d->why = "all candidates down";
        n = all_down_answer(s, p, adm, cand, &d->pool);
    } else {
        n = select_among(s, p, c, rnd, cand, n);
    }
    if (p->def.type == STEER_HASHED || p->def.type == STEER_CHASH)
        d->scope = d->all_down ? 0 : hash_bits; /* all down: the same for everyone */
    d->split = (p->def.type == STEER_GEO || p->def.type == STEER_PROXIMITY) && p->split;
    d->scope = steer_scope_final(c, d->scope, d->split);
    d->n = n;
    memcpy(d->picks, cand, n * sizeof(uint32_t));
}

/* ---- from the configuration ------------------------------------------------------ */

static const steer_type_t type_map[] = {
    [CFG_POLICY_ALL] = STEER_ALL,
    [CFG_POLICY_RANDOM] = STEER_RANDOM,
    [CFG_POLICY_WEIGHTED] = STEER_WEIGHTED,
    [CFG_POLICY_HASHED] = STEER_HASHED,
    [CFG_POLICY_CONSISTENT_HASH] = STEER_CHASH,
    [CFG_POLICY_FAILOVER] = STEER_FAILOVER,
    [CFG_POLICY_MULTIVALUE] = STEER_MULTIVALUE,
    [CFG_POLICY_GEO] = STEER_GEO,
    [CFG_POLICY_PROXIMITY] = STEER_PROXIMITY,
};

static const steer_down_t down_map[] = {
    [CFG_ALL_DOWN_ALL] = STEER_DOWN_ALL,
    [CFG_ALL_DOWN_FIRST] = STEER_DOWN_FIRST,
    [CFG_ALL_DOWN_EMPTY] = STEER_DOWN_EMPTY,
    [CFG_ALL_DOWN_POOL] = STEER_DOWN_POOL,
};

static const steer_key_t key_map[] = {
    [CFG_GEO_CONTINENT] = STEER_KEY_CONTINENT,
    [CFG_GEO_COUNTRY] = STEER_KEY_COUNTRY,
    [CFG_GEO_SUBDIVISION] = STEER_KEY_SUBDIVISION,
    [CFG_GEO_ASN] = STEER_KEY_ASN,
    [CFG_GEO_CIDR] = STEER_KEY_CIDR,
};

steer_t *steer_from_cfg(const cfg_t *cfg, const geo_db_t *country, const geo_db_t *asn)
{
    steer_builder_t *b = steer_builder_new();
    for (size_t i = 0; i < cfg->nendpoints; i++) {
        const cfg_endpoint_t *e = &cfg->endpoints[i];
        char(*a)[INET_ADDRSTRLEN] = mem_calloc(e->na ? e->na : 1, INET_ADDRSTRLEN);
        char(*a6)[INET6_ADDRSTRLEN] = mem_calloc(e->naaaa ? e->naaaa : 1, INET6_ADDRSTRLEN);
        const char **pa = mem_calloc(e->na ? e->na : 1, sizeof(char *));
        const char **pa6 = mem_calloc(e->naaaa ? e->naaaa : 1, sizeof(char *));
        for (size_t k = 0; k < e->na; k++) {
            inet_ntop(AF_INET, &e->a[k], a[k], INET_ADDRSTRLEN);
            pa[k] = a[k];
        }
        for (size_t k = 0; k < e->naaaa; k++) {
            inet_ntop(AF_INET6, &e->aaaa[k], a6[k], INET6_ADDRSTRLEN);
            pa6[k] = a6[k];
        }
        steer_add_endpoint(b, e->name, pa, e->na, pa6, e->naaaa, e->cname, e->has_location, e->lat,
                           e->lon, e->weight);
        free(a);
        free(a6);
        free(pa);
        free(pa6);
    }
    for (size_t i = 0; i < cfg->npools; i++) {
        const cfg_pool_t *p = &cfg->pools[i];
        uint32_t *eps = mem_calloc(p->nendpoints ? p->nendpoints : 1, sizeof(uint32_t));
        for (size_t k = 0; k < p->nendpoints; k++)
            eps[k] = (uint32_t)p->endpoints[k];
        steer_add_pool(b, p->name, eps, p->nendpoints, p->min_healthy, p->fallback);
        free(eps);
    }
    for (size_t i = 0; i < cfg->npolicies; i++) {
        const cfg_policy_t *p = &cfg->policies[i];
        size_t np = p->npools ? p->npools : 1;
        uint32_t *pools = mem_calloc(np, sizeof(uint32_t));
        int32_t *bias = p->bias ? mem_calloc(np, sizeof(int32_t)) : NULL;
        if (p->npools) {
            for (size_t k = 0; k < p->npools; k++) {
                pools[k] = (uint32_t)p->pools[k];
                if (bias)
                    bias[k] = (int32_t)lround(p->bias[k]);
            }
        } else {
            /* Single-pool types; geo keeps its default pool as the candidate
             * set used by the all-down rule. */
            pools[0] = (uint32_t)(p->pool >= 0 ? p->pool : p->default_pool);
        }
        steer_policy_def_t def = {
            .name = p->name,
            .type = type_map[p->type],
            .ttl = p->ttl,
            .all_down = down_map[p->all_down],
            .all_down_pool = p->all_down_pool,
            .pools = pools,
            .npools = np,
            .max = p->max,
            .hash_v4 = p->hash_prefix_v4,
            .hash_v6 = p->hash_prefix_v6,
            .bias_km = bias,
            .nearest = p->nearest,
            .default_pool = p->default_pool >= 0 ? (uint32_t)p->default_pool : 0,
        };
        uint32_t pi = steer_add_policy(b, &def);
        for (size_t k = 0; k < p->nrules; k++) {
            const cfg_geo_rule_t *r = &p->rules[k];
            steer_add_rule(b, pi, key_map[r->key], r->key <= CFG_GEO_SUBDIVISION ? r->u.code : NULL,
                           r->key == CFG_GEO_ASN ? r->u.asn : 0,
                           r->key == CFG_GEO_CIDR ? r->u.cidr.family : 0,
                           r->key == CFG_GEO_CIDR ? r->u.cidr.addr : NULL,
                           r->key == CFG_GEO_CIDR ? r->u.cidr.len : 0, (uint32_t)r->pool);
        }
        free(pools);
        free(bias);
    }
    return steer_build(b, country, asn);
}
