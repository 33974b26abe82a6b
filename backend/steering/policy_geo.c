/* geo: a pool per client network, from rules on continent, country,
 * subdivision, ASN and CIDR, with a default pool for clients no rule
 * matches. Everything the rules say is painted into one prefix tree per
 * family when the engine is built, so a query is one tree walk. */
#include "backend/steering/policy.h"

#include <string.h>
#include <sys/socket.h>

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
} walk_ctx_t;

/* Networks that fall to the default are left unpainted: the tree starts as
 * the default, and fewer paints collapse into fewer leaves. */
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

/* Later paint wins, so the order of the passes is the order of precedence
 * reversed: database locations, then ASNs, then CIDR rules (most specific
 * wins: shorter prefixes first). */
static void geo_paint(const steer_t *s, pol_t *p, geo_tree_t *t, int fam, const geo_db_t *country,
                      const geo_db_t *asn)
{
    (void)s;
    walk_ctx_t w = {.pol = p, .tree = t};
    if (country)
        geo_db_walk(country, fam, paint_geo, &w);
    bool has_asn_rules = false;
    for (size_t i = 0; i < p->nrules; i++)
        has_asn_rules |= p->rules[i].key == STEER_KEY_ASN;
    if (asn && has_asn_rules)
        geo_db_walk(asn, fam, paint_asn, &w);
    for (unsigned len = 0; len <= 128; len++)
        for (size_t i = 0; i < p->nrules; i++)
            if (p->rules[i].key == STEER_KEY_CIDR && p->rules[i].family == fam &&
                p->rules[i].len == len)
                geo_tree_paint(t, p->rules[i].cidr, p->rules[i].len, p->rules[i].pool);
}

static void geo_build(const steer_t *s, pol_t *p, const geo_db_t *country, const geo_db_t *asn)
{
    policy_trees_build(s, p, p->def.default_pool, geo_paint, country, asn);
}

/* The client's leaf names its pool; the pool rule does the rest. The leaf's
 * depth is the scope: every address under it gets this pool. */
static uint16_t geo_choose(const steer_t *s, const pol_t *p, const steer_client_t *c,
                           const steer_admin_t *adm, uint32_t *cand, steer_decision_t *d)
{
    bool healthy;
    uint32_t pool = policy_tree_lookup(p, c, &d->depth);
    d->why = pool == p->def.default_pool ? "default" : "geo rule";
    d->rule_pool = pool;
    return policy_pool_resolve(s, adm, pool, cand, &d->pool, &healthy);
}

const policy_ops_t policy_geo_ops = {.name = "geo",
                                     .build = geo_build,
                                     .choose = geo_choose,
                                     .scope = policy_tree_scope,
                                     .default_pool = true};
