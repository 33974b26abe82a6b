/* The steering engine: building it, the lookups of its objects, clients and
 * scopes, and the decision. What differs by policy type lives in the
 * policy_*.c files behind policy.h. */
#include "backend/steering/steer.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "backend/steering/policy.h"
#include "common/hash.h"
#include "common/mem.h"

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
    p->ops = policy_ops_of(def->type);
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

/* Haversine on a sphere of the Earth's mean radius: within about 0.5% of
 * the ellipsoid, far finer than a GeoIP location is. Rounding can put h a
 * hair above 1 for near-antipodal points, where asin would give NaN. */
double steer_distance_km(double lat1, double lon1, double lat2, double lon2)
{
    const double rad = M_PI / 180.0;
    double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
    double h = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
    return 2 * 6371.0 * asin(sqrt(h < 1 ? h : 1));
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
        if (s->pols[i].ops->build)
            s->pols[i].ops->build(s, &s->pols[i], country, asn);
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
    return s->pols[p].ops->name;
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
    if (p->ops->default_pool)
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

/* Hash of the client's address truncated to `bits`: the bits past the
 * prefix count as 0, so every address of one /bits prefix hashes alike and
 * the answer may carry that prefix as its scope. The family seeds the hash
 * (an IPv4 prefix and an IPv6 one with the same leading bytes differ) and
 * each byte goes in with its position. */
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
    return policy_admin_state(adm, e);
}

const char *steer_admin_word(steer_admin_state_t st)
{
    switch (st) {
    case STEER_ADMIN_DRAIN:
        return "drain";
    case STEER_ADMIN_FORCE_UP:
        return "force-up";
    case STEER_ADMIN_FORCE_DOWN:
        return "force-down";
    default:
        return "none";
    }
}

size_t steer_decision_pools(const steer_t *s, uint32_t p, const steer_decision_t *d, uint32_t *out,
                            size_t max)
{
    steer_type_t t = s->pols[p].def.type;
    size_t n = 0;
    if (t == STEER_FAILOVER || t == STEER_PROXIMITY) {
        for (; n < s->pols[p].def.npools && n < max; n++)
            out[n] = s->pols[p].pools[n];
        return n;
    }
    int32_t at = d->rule_pool != UINT32_MAX ? (int32_t)d->rule_pool : (int32_t)d->pool;
    if (d->rule_pool == UINT32_MAX && d->pool == UINT32_MAX)
        return 0;
    /* Fallback chains never loop (the config refuses cycles); the bound
     * is the chain length cfg_load allows at most. */
    for (; at >= 0 && n < max && n < s->npools; at = s->pools[at].fallback) {
        out[n++] = (uint32_t)at;
        if ((uint32_t)at == d->pool)
            break;
    }
    return n;
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
    if (p->ops->default_pool && pool_chain_has(s, (int32_t)p->def.default_pool, e))
        return true;
    return p->def.all_down == STEER_DOWN_POOL && pool_chain_has(s, p->def.all_down_pool, e);
}

/* Walks the shares in order: endpoint i owns [w0 + ... + w(i-1), w0 + ... +
 * wi) of [0, total). r % total has a bias towards the low shares of at most
 * total / 2^64, far below anything a resolver population could show. */
void steer_client_sockaddr(const steer_client_t *c, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (c->family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, c->addr, 4);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        memcpy(&s6->sin6_addr, c->addr, 16);
    }
}

size_t steer_weighted_index(const uint32_t *weights, size_t n, uint64_t r)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += weights[i];
    if (total == 0)
        return (size_t)(r % n);
    uint64_t x = r % total;
    for (size_t i = 0; i < n; i++) {
        if (x < weights[i])
            return i;
        x -= weights[i];
    }
    return n - 1;
}

void steer_decide(const steer_t *s, uint32_t pi, const steer_client_t *c, uint64_t rnd,
                  steer_decision_t *d)
{
    steer_decide_admin(s, pi, c, rnd, NULL, d);
}

/* ---- the all-down rule (step 4) ---------------------------------------------------- */

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
    steer_admin_state_t st = policy_admin_state(adm, e);
    return st != STEER_ADMIN_DRAIN && st != STEER_ADMIN_FORCE_DOWN;
}

/* Adds the endpoints of pool `p` and of its fallback chain; with `any`
 * also those an operator took out. */
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
 * left; `pool:P` answers P (its chain) the same way; `empty` answers nothing.
 *
 * This is the engine's fail-open loop, and health is deliberately not
 * consulted in it. The rule runs when the policy's own step found nothing
 * usable, which has two quite different causes: the endpoints really are
 * down, or the health data is wrong (a probe that cannot reach them from
 * where it runs, a broken check, a state file read as all DOWN). geosteerd
 * cannot tell the two apart, and the costs are not symmetric: answering a
 * dead endpoint costs the clients a retry, while answering nothing (or
 * SERVFAIL) makes the name vanish, and resolvers cache that. So every
 * candidate is answered as if health were unknown. (UNKNOWN health never
 * gets here by itself: it counts as up in policy_usable, and what a silent
 * or stale probe reads as is health.c's staleness rule.)
 *
 * An operator's drain or force-down is different: it is a statement of
 * fact from someone who knows, so the first pass (any = 0) keeps it. Only
 * when it leaves nothing, as when every endpoint is drained by mistake or
 * for a maintenance of the whole policy, does the second pass (any = 1)
 * answer them anyway: a name must never go dark because of steering state. */
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
            if (p->ops->default_pool)
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

/* ---- the decision ------------------------------------------------------------------ */

/* Every field but picks[] (filled up to n at the end): no 1 KiB memset per
 * lookup. */
static void decision_start(const pol_t *p, steer_decision_t *d)
{
    d->ttl = p->def.ttl;
    d->scope = d->depth = 0;
    d->split = d->all_down = false;
    d->n = 0;
    d->pool = d->rule_pool = UINT32_MAX;
    d->why = NULL;
}

/* Step 4: nothing usable (all down, or every candidate taken out). The
 * all-down rule replaces the whole answer, so the pool and the why of the
 * type's choice no longer hold; a `pool:P` rule names P. */
static uint16_t decide_all_down(const steer_t *s, const pol_t *p, const steer_admin_t *adm,
                                uint32_t *cand, steer_decision_t *d)
{
    d->all_down = true;
    d->pool = UINT32_MAX;
    d->why = "all candidates down";
    return all_down_answer(s, p, adm, cand, &d->pool);
}

/* The answer's labels: the scope the type gives (capped, and never 0 when
 * a client of the other family may be answered differently) and split. */
static void decision_finish(const pol_t *p, const steer_client_t *c, const uint32_t *cand,
                            uint16_t n, steer_decision_t *d)
{
    d->split = p->split;
    d->scope = steer_scope_final(c, p->ops->scope ? p->ops->scope(p, c, d) : 0, d->split);
    d->n = n;
    memcpy(d->picks, cand, n * sizeof(uint32_t));
}

/* The phases of doc/design.md §5, the same for every type; the type's row
 * (policy.h) supplies what differs. The decision records each phase for
 * `explain` (backend/protocol/admin.c): ttl is the policy's; pool and why
 * come from the type's choose, or from the all-down rule when it ran
 * (all_down set, pool UINT32_MAX unless `pool:P`); depth is the tree
 * leaf's (geo, proximity; 0 otherwise); picks are the answer after the
 * type's select or the all-down rule; scope and split are decision_finish's. */
void steer_decide_admin(const steer_t *s, uint32_t pi, const steer_client_t *c, uint64_t rnd,
                        const steer_admin_t *adm, steer_decision_t *d)
{
    const pol_t *p = &s->pols[pi];
    uint32_t cand[STEER_MAX_PICKS];
    decision_start(p, d);
    /* Steps 1-3a: the client's pool(s) through the pool rule, the usable
     * endpoints of the pool that answers. */
    uint16_t n = p->ops->choose(s, p, c, adm, cand, d);
    if (n == 0)
        n = decide_all_down(s, p, adm, cand, d);
    else if (p->ops->select) /* step 3b: the type's pick */
        n = p->ops->select(s, p, c, rnd, cand, n);
    decision_finish(p, c, cand, n, d);
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
