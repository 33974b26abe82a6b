/* proximity: the `nearest` usable endpoints to the client, by great-circle
 * distance from the client's GeoIP location to each endpoint's, plus each
 * pool's bias. Distances are not computed per query: every location of the
 * country database is reduced, when the engine is built, to the order it
 * puts the candidates in (a class), and the prefix tree maps client
 * networks to classes. Many locations share an order, so the classes are
 * few and the tree collapses well. */
#include "backend/steering/policy.h"

#include <stdlib.h>

#include "common/mem.h"

/* Candidates of a proximity policy: its pools' endpoints, each with the
 * bias of the first pool listing it. */
typedef struct {
    uint32_t ep;
    int32_t bias;
    double d;
} cand_t;

/* Ties (equal distance, or no location) keep the endpoint order, so the
 * classes do not depend on qsort's whims. */
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
 * policy pool that lists it or falls back to it. Two passes (own pools
 * first, chains second) so that a pool's own endpoints take their bias from
 * it even when an earlier pool's chain also reaches them. */
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

typedef struct {
    const steer_t *s;
    pol_t *pol; /* where classes are interned */
    geo_tree_t *tree;
} walk_ctx_t;

/* Networks without a location stay class 0 (the tree's initial value). */
static int paint_proximity(void *ctx, const uint8_t *addr, uint8_t len, const geo_result_t *r)
{
    walk_ctx_t *w = ctx;
    if (!r->has_location)
        return 0;
    uint32_t k = proximity_class(w->s, w->pol, true, r->latitude, r->longitude);
    if (k != 0)
        geo_tree_paint(w->tree, addr, len, k);
    return 0;
}

static void proximity_paint(const steer_t *s, pol_t *p, geo_tree_t *t, int fam,
                            const geo_db_t *country, const geo_db_t *asn)
{
    (void)asn;
    walk_ctx_t w = {.s = s, .pol = p, .tree = t};
    if (country)
        geo_db_walk(country, fam, paint_proximity, &w);
}

static void proximity_build(const steer_t *s, pol_t *p, const geo_db_t *country,
                            const geo_db_t *asn)
{
    proximity_class(s, p, false, 0, 0); /* class 0: no location known */
    policy_trees_build(s, p, 0, proximity_paint, country, asn);
    p->listed = mem_calloc(s->neps ? s->neps : 1, sizeof(bool));
    for (size_t i = 0; i < p->def.npools; i++) {
        const pool_t *pool = &s->pools[p->pools[i]];
        for (size_t k = 0; k < pool->n; k++)
            p->listed[pool->eps[k]] = true;
    }
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
 * when it is below min_healthy), nearest first, at most `limit`. The class
 * orders every endpoint a chain could bring in; which of them may answer
 * now depends on health, so it is decided here: while every pool answers
 * for itself (the usual case) the precomputed `listed` says, otherwise each
 * endpoint is looked up in the pools that do answer. */
static uint16_t proximity_pick(const steer_t *s, const pol_t *p, const pclass_t *pc,
                               const steer_admin_t *adm, uint32_t limit, uint32_t *cand)
{
    uint32_t used[STEER_MAX_POLICY_POOLS], tmp[STEER_MAX_PICKS];
    size_t nused = 0;
    bool moved = false;
    for (size_t i = 0; i < p->def.npools && i < STEER_MAX_POLICY_POOLS; i++) {
        bool healthy;
        policy_pool_resolve(s, adm, p->pools[i], tmp, &used[nused], &healthy);
        moved |= used[nused] != p->pools[i];
        nused++;
    }
    uint16_t n = 0;
    for (size_t i = 0; i < pc->n && n < limit && n < STEER_MAX_PICKS; i++) {
        uint32_t e = pc->order[i];
        bool eligible = !moved && p->listed[e];
        for (size_t k = 0; moved && k < nused && !eligible; k++)
            eligible = pool_has(s, used[k], e);
        if (eligible && policy_usable(adm, e))
            cand[n++] = e;
    }
    return n;
}

/* The client's leaf names its class; the class's first `nearest` usable
 * endpoints answer. The leaf's depth is the scope. */
static uint16_t proximity_choose(const steer_t *s, const pol_t *p, const steer_client_t *c,
                                 const steer_admin_t *adm, uint32_t *cand, steer_decision_t *d)
{
    const pclass_t *pc = &p->classes[policy_tree_lookup(p, c, &d->depth)];
    d->why = "nearest";
    return proximity_pick(s, p, pc, adm, p->def.nearest ? p->def.nearest : 1, cand);
}

const policy_ops_t policy_proximity_ops = {.name = "proximity",
                                           .build = proximity_build,
                                           .choose = proximity_choose,
                                           .scope = policy_tree_scope};
