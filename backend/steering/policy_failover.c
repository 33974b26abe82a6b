/* failover: an ordered list of pools; the first whose chain is healthy
 * answers with all its usable endpoints. */
#include "backend/steering/policy.h"

/* The first pool (through its fallback chain) that has min_healthy usable
 * endpoints. A chain that ends below min_healthy does not answer here, as
 * it would for a one-pool type: the next pool of the list is the operator's
 * stated preference over a degraded one. None healthy: 0, and the engine
 * applies the all-down rule over every pool of the list. The why text tells
 * `explain` which of the three ways the answering pool was reached. */
static uint16_t failover_choose(const steer_t *s, const pol_t *p, const steer_client_t *c,
                                const steer_admin_t *adm, uint32_t *cand, steer_decision_t *d)
{
    (void)c;
    for (size_t i = 0; i < p->def.npools; i++) {
        bool healthy;
        uint16_t m = policy_pool_resolve(s, adm, p->pools[i], cand, &d->pool, &healthy);
        if (healthy) {
            d->why = i == 0 && d->pool == p->pools[0] ? "first pool healthy"
                     : d->pool == p->pools[i]         ? "earlier pools below min_healthy"
                                                      : "pool below min_healthy: its fallback";
            return m;
        }
    }
    return 0;
}

const policy_ops_t policy_failover_ops = {.name = "failover", .choose = failover_choose};
