/* The six policy types that answer from one pool: all, random, weighted,
 * hashed, consistent-hash and multivalue. They choose alike (the pool, or
 * what the pool rule puts in its place) and differ only in how they pick
 * among its usable endpoints, and in whether the pick depends on the
 * client (hashed and consistent-hash: the answer holds for a client prefix,
 * which is its scope). */
#include "backend/steering/policy.h"

#include <math.h>
#include <string.h>

#include "common/hash.h"

/* One pool: p->pools[0] (steer_from_cfg puts the policy's `pool` there).
 * Unlike failover, which has a next pool to try, a pool whose chain ends
 * below min_healthy still answers with what it has left: fewer endpoints
 * beat the all-down rule, which would answer the DOWN ones too. */
static uint16_t one_pool_choose(const steer_t *s, const pol_t *p, const steer_client_t *c,
                                const steer_admin_t *adm, uint32_t *cand, steer_decision_t *d)
{
    (void)c;
    bool healthy;
    d->why = "pool";
    d->rule_pool = p->pools[0];
    return policy_pool_resolve(s, adm, p->pools[0], cand, &d->pool, &healthy);
}

/* The index in `eps` (n > 0) that `r` lands on when each endpoint owns a
 * share of [0, total weight) as wide as its weight. */
static uint32_t weighted_index(const steer_t *s, const uint32_t *eps, uint16_t n, uint64_t r)
{
    uint32_t w[STEER_MAX_PICKS];
    for (uint16_t i = 0; i < n; i++)
        w[i] = s->eps[eps[i]].weight;
    return (uint32_t)steer_weighted_index(w, n, r);
}

static uint8_t hash_bits(const pol_t *p, const steer_client_t *c)
{
    return c->family == AF_INET ? p->def.hash_v4 : p->def.hash_v6;
}

static uint16_t random_select(const steer_t *s, const pol_t *p, const steer_client_t *c,
                              uint64_t rnd, uint32_t *cand, uint16_t n)
{
    (void)s, (void)p, (void)c;
    cand[0] = cand[rnd % n];
    return 1;
}

static uint16_t weighted_select(const steer_t *s, const pol_t *p, const steer_client_t *c,
                                uint64_t rnd, uint32_t *cand, uint16_t n)
{
    (void)p, (void)c;
    cand[0] = cand[weighted_index(s, cand, n, rnd)];
    return 1;
}

/* The weighted pick with the client's prefix hash for the random number:
 * every client of one /hash_v4 (/hash_v6) gets the same endpoint while the
 * candidates stay the same. */
static uint16_t hashed_select(const steer_t *s, const pol_t *p, const steer_client_t *c,
                              uint64_t rnd, uint32_t *cand, uint16_t n)
{
    (void)rnd;
    cand[0] = cand[weighted_index(s, cand, n, steer_client_hash(c, hash_bits(p, c)))];
    return 1;
}

/* Rendezvous hashing: each client prefix picks the candidate with the
 * highest weighted score; losing an endpoint moves only its clients. A
 * weight-0 endpoint is picked only when every candidate has weight 0 (then
 * all count the same), as in the weighted pick. The score -w/ln(u), u
 * uniform in (0,1) from the client and the endpoint's name, is the
 * weighted form: an endpoint wins a share of clients proportional to its
 * weight. Names, not indexes, feed the hash so that editing the config
 * elsewhere does not move clients. */
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
        uint64_t h = steer_mix64(key ^ gs_fnv64(e->name, strlen(e->name)));
        double u = ((double)(h >> 11) + 0.5) / 9007199254740992.0; /* (0,1) */
        double score = -w / log(u);
        if (score > best) {
            best = score;
            pick = cand[i];
        }
    }
    return pick;
}

static uint16_t chash_select(const steer_t *s, const pol_t *p, const steer_client_t *c,
                             uint64_t rnd, uint32_t *cand, uint16_t n)
{
    (void)rnd;
    cand[0] = chash_pick(s, cand, n, steer_client_hash(c, hash_bits(p, c)));
    return 1;
}

/* A Fisher-Yates shuffle driven by the query's random value (each step
 * remixed so that one 64-bit value serves every swap), then the first `max`
 * (8 when the config leaves it 0). */
static uint16_t multivalue_select(const steer_t *s, const pol_t *p, const steer_client_t *c,
                                  uint64_t rnd, uint32_t *cand, uint16_t n)
{
    (void)s, (void)c;
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

/* The hashed types answer one endpoint per client prefix, so the answer
 * holds for that prefix. When the pool is all down, the all-down answer is
 * the same for every client (one pool, no client in it): scope 0 lets
 * resolvers cache it once. */
static uint8_t hashed_scope(const pol_t *p, const steer_client_t *c, const steer_decision_t *d)
{
    return d->all_down ? 0 : hash_bits(p, c);
}

/* The rows (policy.h). `all` answers every usable endpoint of the pool: no
 * select. */
const policy_ops_t policy_all_ops = {.name = "all", .choose = one_pool_choose};

const policy_ops_t policy_random_ops = {
    .name = "random", .choose = one_pool_choose, .select = random_select};

const policy_ops_t policy_weighted_ops = {
    .name = "weighted", .choose = one_pool_choose, .select = weighted_select};

const policy_ops_t policy_hashed_ops = {
    .name = "hashed", .choose = one_pool_choose, .select = hashed_select, .scope = hashed_scope};

const policy_ops_t policy_chash_ops = {.name = "consistent-hash",
                                       .choose = one_pool_choose,
                                       .select = chash_select,
                                       .scope = hashed_scope};

const policy_ops_t policy_multivalue_ops = {
    .name = "multivalue", .choose = one_pool_choose, .select = multivalue_select};
