/* The inside of the steering engine, private to backend/steering/: the
 * compiled objects (endpoints, pools, policies), the pool rule every policy
 * type shares, and one operations row per policy type.
 *
 * A policy type is the row its steer_type_t selects (policy_ops_of); the
 * engine (steer.c) runs the same phases for every policy and asks the row
 * only what differs by type:
 *
 *   build   at steer_build: precompute from the GeoIP databases (geo's and
 *           proximity's decision trees); NULL for types that need nothing.
 *   choose  per query, steps 1-3a of doc/design.md §5: map the client to the
 *           pool(s) the type answers from and return their usable
 *           endpoints through the pool rule (policy_pool_resolve). 0 means
 *           nothing usable: the engine then applies the all-down rule.
 *   select  per query, step 3b: the type's pick among the n > 0 candidates
 *           choose returned, in place; NULL answers them all.
 *   scope   the prefix length of the client the answer depends on, before
 *           steer_scope_final caps it; NULL is 0 (the same for every client).
 *
 * The rows live next to each type's code: policy_pick.c (the six types that
 * answer from one pool and differ only in their pick), policy_failover.c,
 * policy_geo.c, policy_proximity.c. Adding a type is a row there, its entry
 * in policy.c's table, and the config's name for it.
 *
 * Everything here is immutable once steer_build returns (build writes only
 * into the policy it is given), so every function may run on any thread. */
#ifndef GS_STEERING_POLICY_H
#define GS_STEERING_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/steering/steer.h"
#include "common/htab.h"
#include "geo/geodb.h"
#include "geo/geotree.h"

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

typedef struct policy_ops policy_ops_t;

typedef struct {
    steer_policy_def_t def; /* pointers below are owned copies */
    const policy_ops_t *ops;
    char *name;
    uint32_t *pools;
    int32_t *bias;
    rule_t *rules;
    size_t nrules;
    geo_tree_t *tree4, *tree6;
    /* geo/proximity: some client of one family may be answered differently
     * from some client of the other (so no answer may carry scope 0). Set
     * by policy_trees_build; false for the types without trees. */
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

struct policy_ops {
    const char *name; /* the type as written in geosteer.json */
    void (*build)(const steer_t *s, pol_t *p, const geo_db_t *country, const geo_db_t *asn);
    /* Fills `cand` (STEER_MAX_PICKS) and sets d->pool and d->why (and, for
     * the tree types, d->depth); returns how many candidates. */
    uint16_t (*choose)(const steer_t *s, const pol_t *p, const steer_client_t *c,
                       const steer_admin_t *adm, uint32_t *cand, steer_decision_t *d);
    uint16_t (*select)(const steer_t *s, const pol_t *p, const steer_client_t *c, uint64_t rnd,
                       uint32_t *cand, uint16_t n);
    /* Called after choose and select or the all-down rule: d->all_down and
     * d->depth are final. */
    uint8_t (*scope)(const pol_t *p, const steer_client_t *c, const steer_decision_t *d);
    /* def.default_pool is a pool the type can answer from (geo: clients no
     * rule matches), so it counts for qtypes, uses and the all-down rule. */
    bool default_pool;
};

extern const policy_ops_t policy_all_ops, policy_random_ops, policy_weighted_ops, policy_hashed_ops,
    policy_chash_ops, policy_multivalue_ops, policy_failover_ops, policy_geo_ops,
    policy_proximity_ops;

/* The row of type `t`. */
const policy_ops_t *policy_ops_of(steer_type_t t);

/* The override in force for endpoint `e` (steer_admin_get's rule, inline:
 * the pool rule asks it for every endpoint of every query). */
static inline steer_admin_state_t policy_admin_state(const steer_admin_t *adm, uint32_t e)
{
    if (!adm || e >= adm->n || adm->state[e] == STEER_ADMIN_NONE)
        return STEER_ADMIN_NONE;
    if (adm->until[e] && adm->until[e] <= adm->now)
        return STEER_ADMIN_NONE;
    return (steer_admin_state_t)adm->state[e];
}

/* Steps 1 and 2 of doc/design.md §5 for endpoint `e`: not drained or forced
 * down, and not DOWN by health unless forced up. With no health (adm NULL
 * or adm->down NULL) every endpoint counts as up.
 *
 * The order matters: an operator's drain or force-down wins over everything
 * (it is how an endpoint is taken out for maintenance while its checks still
 * pass), and force-up wins over health (it is how an operator overrules a
 * check that is wrong). Health itself is a lookup in the probe's state file;
 * what it says while the probe is silent (UNKNOWN, or a stale file) is
 * decided in health.c, and UNKNOWN is never DOWN: a missing probe must not
 * take a name's answers away. */
static inline bool policy_usable(const steer_admin_t *adm, uint32_t e)
{
    steer_admin_state_t st = policy_admin_state(adm, e);
    if (st == STEER_ADMIN_DRAIN || st == STEER_ADMIN_FORCE_DOWN)
        return false;
    if (st == STEER_ADMIN_FORCE_UP || !adm || !adm->down)
        return true;
    return !adm->down(adm->down_ctx, e);
}

/* The pool rule every policy type shares: pool `p` answers with its usable
 * endpoints while at least min_healthy of them are usable; below that its
 * fallback pool stands in, and so on along the chain. Returns the usable
 * endpoints of the pool that answers (at most STEER_MAX_PICKS) in `out` and
 * that pool in *used. *healthy is false when the chain ends below its last
 * pool's min_healthy: `out` then holds what that last pool has left. */
uint16_t policy_pool_resolve(const steer_t *s, const steer_admin_t *adm, uint32_t p, uint32_t *out,
                             uint32_t *used, bool *healthy);

/* Paints one family's tree of a geo or proximity policy (the type's own
 * rules over the databases). */
typedef void (*policy_paint_fn)(const steer_t *s, pol_t *p, geo_tree_t *t, int family,
                                const geo_db_t *country, const geo_db_t *asn);

/* Builds p->tree4 and p->tree6, each starting as one leaf `initial` and
 * painted by `paint`, and sets p->split from the two finished trees. */
void policy_trees_build(const steer_t *s, pol_t *p, uint32_t initial, policy_paint_fn paint,
                        const geo_db_t *country, const geo_db_t *asn);

/* The leaf value of client `c` in the policy's tree of its family, and the
 * leaf's depth (the prefix length every address under it shares) in *depth. */
uint32_t policy_tree_lookup(const pol_t *p, const steer_client_t *c, uint8_t *depth);

/* The scope op of the tree types: the depth of the client's leaf. */
uint8_t policy_tree_scope(const pol_t *p, const steer_client_t *c, const steer_decision_t *d);

#endif
