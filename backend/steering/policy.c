/* What every policy type shares: the table of operations rows, the pool
 * rule (overrides, health, min_healthy and fallback chains) and the decision
 * trees of the types that map clients through GeoIP data. */
#include "backend/steering/policy.h"

#include <sys/socket.h>

/* Indexed by steer_type_t; the order of the enum. */
static const policy_ops_t *const by_type[] = {
    [STEER_ALL] = &policy_all_ops,
    [STEER_RANDOM] = &policy_random_ops,
    [STEER_WEIGHTED] = &policy_weighted_ops,
    [STEER_HASHED] = &policy_hashed_ops,
    [STEER_CHASH] = &policy_chash_ops,
    [STEER_FAILOVER] = &policy_failover_ops,
    [STEER_MULTIVALUE] = &policy_multivalue_ops,
    [STEER_GEO] = &policy_geo_ops,
    [STEER_PROXIMITY] = &policy_proximity_ops,
};

const policy_ops_t *policy_ops_of(steer_type_t t)
{
    return by_type[t];
}

/* ---- the pool rule ------------------------------------------------------------- */

/* The 64-step guard bounds a fallback chain the config loader already
 * refuses to let loop; the engine does not trust the builder's callers
 * (tests build engines by hand) to have checked. */
uint16_t policy_pool_resolve(const steer_t *s, const steer_admin_t *adm, uint32_t p, uint32_t *out,
                             uint32_t *used, bool *healthy)
{
    uint16_t n = 0;
    *healthy = false;
    for (int guard = 0; guard < 64; guard++) {
        const pool_t *pool = &s->pools[p];
        n = 0;
        for (size_t k = 0; k < pool->n && n < STEER_MAX_PICKS; k++)
            if (policy_usable(adm, pool->eps[k]))
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

/* ---- decision trees ------------------------------------------------------------ */

void policy_trees_build(const steer_t *s, pol_t *p, uint32_t initial, policy_paint_fn paint,
                        const geo_db_t *country, const geo_db_t *asn)
{
    static const int families[2] = {AF_INET, AF_INET6};
    for (int f = 0; f < 2; f++) {
        geo_tree_t *t = geo_tree_new(families[f], initial);
        paint(s, p, t, families[f], country, asn);
        geo_tree_finish(t);
        if (families[f] == AF_INET)
            p->tree4 = t;
        else
            p->tree6 = t;
    }
    /* Scope 0 promises one answer to every client of both families: only
     * when each tree is a single leaf and both leaves agree. A finished tree
     * is collapsed, so a single leaf is a lookup of depth 0. */
    static const uint8_t zero[16];
    uint8_t d4, d6;
    uint32_t v4 = geo_tree_lookup(p->tree4, zero, &d4), v6 = geo_tree_lookup(p->tree6, zero, &d6);
    p->split = d4 != 0 || d6 != 0 || v4 != v6;
}

uint32_t policy_tree_lookup(const pol_t *p, const steer_client_t *c, uint8_t *depth)
{
    return geo_tree_lookup(c->family == AF_INET ? p->tree4 : p->tree6, c->addr, depth);
}

/* Also when all is down: the all-down answer is the same for every client,
 * but a neighbouring leaf may be answered from a healthy pool, so an answer
 * may not be cached for more than the client's own leaf. */
uint8_t policy_tree_scope(const pol_t *p, const steer_client_t *c, const steer_decision_t *d)
{
    (void)p, (void)c;
    return d->depth;
}
