/* Evaluation of compiled LUA-record programs, once per query on the
 * connection's thread. Everything that could fail was refused when the
 * record was compiled (luac.c), so evaluation has no error path.
 *
 * Besides the values, evaluation works out the ECS scope of its answer.
 * Every step that reads the client records, with `need`, how many leading
 * bits of the client's address its outcome depended on: the GeoIP network
 * for a geo condition, the deciding prefix for a netmask, /24 or /56 for a
 * hashed pick. The deepest of these is a prefix inside which every client
 * takes the same path through the program and gets the same answer, which
 * is what the scope promises pdns and resolvers (doc/design.md §6). `split`
 * says that a client of the other address family might take another path;
 * steer_scope_final then keeps the scope above 0, since a scope of 0 would
 * let the answer be cached for both families. Steps that do not read the
 * client (random picks, health) record nothing: their answers vary, but not
 * by client network. */
#include "backend/steering/luaeval.h"

#include "common/hstate.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const luae_env_t *env;
    uint8_t depth; /* prefix length the answer so far depends on */
    bool split;    /* a client of the other family may get another answer */
    /* Each database is looked up at most once per evaluation, however many
     * conditions (or pickclosest distances) consult it. */
    bool geo_done, asn_done;
    int geo_rc, asn_rc;
    geo_result_t geo, asn;
} ev_t;

static void need(ev_t *e, uint8_t depth)
{
    if (depth > e->depth)
        e->depth = depth;
}

static const geo_result_t *geo(ev_t *e, bool asn)
{
    const geo_db_t *db = asn ? e->env->asn : e->env->geo;
    bool *done = asn ? &e->asn_done : &e->geo_done;
    int *rc = asn ? &e->asn_rc : &e->geo_rc;
    geo_result_t *r = asn ? &e->asn : &e->geo;
    if (!*done) {
        *done = true;
        memset(r, 0, sizeof(*r));
        *rc = GS_ENOTFOUND;
        if (db) {
            struct sockaddr_storage ss;
            steer_client_sockaddr(e->env->client, &ss);
            *rc = geo_db_lookup(db, (struct sockaddr *)&ss, r);
        }
    }
    /* Without the database every geo condition is false for every client:
     * nothing depends on the address, so nothing is recorded. */
    if (!db)
        return NULL;
    /* Found or not, the database's answer holds over its network; the
     * other family's addresses are other networks. */
    need(e, r->prefix_len);
    e->split = true;
    return *rc == 0 ? r : NULL;
}

/* Leading bits two addresses share. */
static unsigned common_bits(const uint8_t *a, const uint8_t *b, unsigned max)
{
    unsigned n = 0;
    while (n < max && !((a[n / 8] ^ b[n / 8]) & (0x80u >> (n % 8))))
        n++;
    return n;
}

/* Does the client lie in any of `nets`? Records the prefix that decides:
 * the widest containing net when yes; when no, one bit past the longest
 * prefix the client shares with any net. Records a split when the other
 * family's clients do not all get the same outcome as this client (they all
 * match only through a /0 of their family, and all miss only when the list
 * has none of their family). */
static bool in_nets(ev_t *e, const luac_net_t *nets, size_t n)
{
    const steer_client_t *c = e->env->client;
    unsigned max = c->family == AF_INET ? 32 : 128, widest = max + 1, miss = 0;
    bool other_any = false, other_all = false;
    for (size_t i = 0; i < n; i++) {
        if (nets[i].family != c->family) {
            other_any = true;
            other_all |= nets[i].len == 0;
            continue;
        }
        unsigned common = common_bits(c->addr, nets[i].addr, max);
        if (common >= nets[i].len) {
            if (nets[i].len < widest)
                widest = nets[i].len;
        } else if (common + 1 > miss) {
            miss = common + 1;
        }
    }
    bool in = widest <= max;
    if (in ? !other_all : other_any)
        e->split = true;
    need(e, (uint8_t)(in ? widest : miss));
    return in;
}

/* Does the database's code `have` match any of `codes`? A network the
 * database has no code for matches nothing. */
static bool code_in(const char *have, const char *const *codes, size_t n)
{
    if (!*have)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(have, codes[i]) == 0)
            return true;
        /* region('CA') also matches "US-CA" */
        const char *dash = strchr(have, '-');
        if (dash && !strchr(codes[i], '-') && strcasecmp(dash + 1, codes[i]) == 0)
            return true;
    }
    return false;
}

/* Evaluates a condition tree. `and`/`or` short-circuit, and an operand
 * that is not evaluated records no scope: this client's outcome did not
 * depend on it, and neither does that of any client inside the prefix the
 * evaluated operand recorded, since they all get the same value there. */
static bool pred(ev_t *e, const luac_pred_t *p)
{
    const geo_result_t *g;
    switch (p->kind) {
    case LUAC_P_TRUE:
        return true;
    case LUAC_P_FALSE:
        return false;
    case LUAC_P_AND:
        return pred(e, p->a) && pred(e, p->b);
    case LUAC_P_OR:
        return pred(e, p->a) || pred(e, p->b);
    case LUAC_P_NOT:
        return !pred(e, p->a);
    case LUAC_P_COUNTRY:
        return (g = geo(e, false)) && code_in(g->country, p->codes, p->n);
    case LUAC_P_CONTINENT:
        return (g = geo(e, false)) && code_in(g->continent, p->codes, p->n);
    case LUAC_P_REGION:
        return (g = geo(e, false)) && code_in(g->subdivision, p->codes, p->n);
    case LUAC_P_ASNUM:
        g = geo(e, true);
        for (size_t i = 0; g && i < p->n; i++)
            if (g->asn == p->asns[i])
                return true;
        return false;
    case LUAC_P_NETMASK:
        return in_nets(e, p->nets, p->n);
    }
    return false;
}

static uint8_t hash_bits(const ev_t *e)
{
    return e->env->client->family == AF_INET ? STEER_SCOPE_V4 : STEER_SCOPE_V6;
}

/* The three-word mix of Bob Jenkins' lookup2 hash (public domain, 1996). */
#define LOOKUP2_MIX(a, b, c)                                                                       \
    do {                                                                                           \
        a -= b + c, a ^= c >> 13;                                                                  \
        b -= c + a, b ^= a << 8;                                                                   \
        c -= a + b, c ^= b >> 13;                                                                  \
        a -= b + c, a ^= c >> 12;                                                                  \
        b -= c + a, b ^= a << 16;                                                                  \
        c -= a + b, c ^= b >> 5;                                                                   \
        a -= b + c, a ^= c >> 3;                                                                   \
        b -= c + a, b ^= a << 10;                                                                  \
        c -= a + b, c ^= b >> 15;                                                                  \
    } while (0)

/* lookup2 of `n` bytes (n is 4 or 16 here) with initial value 0: the hash
 * pdns's pickhashed, pickwhashed and the `hashed` selector take of bestwho
 * (its addressOnlyHash). Bytes enter little-endian; the length goes into
 * the low byte of c, the last bytes above it. */
static uint32_t lookup2(const uint8_t *k, uint32_t n)
{
    uint32_t a = 0x9e3779b9u, b = 0x9e3779b9u, c = 0, left = n;
    for (; left >= 12; left -= 12, k += 12) {
        a += k[0] | (uint32_t)k[1] << 8 | (uint32_t)k[2] << 16 | (uint32_t)k[3] << 24;
        b += k[4] | (uint32_t)k[5] << 8 | (uint32_t)k[6] << 16 | (uint32_t)k[7] << 24;
        c += k[8] | (uint32_t)k[9] << 8 | (uint32_t)k[10] << 16 | (uint32_t)k[11] << 24;
        LOOKUP2_MIX(a, b, c);
    }
    c += n;
    for (uint32_t i = 0; i < left; i++) {
        if (i < 4)
            a += (uint32_t)k[i] << (8 * i);
        else if (i < 8)
            b += (uint32_t)k[i] << (8 * (i - 4));
        else
            c += (uint32_t)k[i] << (8 * (i - 7));
    }
    LOOKUP2_MIX(a, b, c);
    return c;
}

/* The client hash of the hashed selections: pdns's hash of the client's
 * address cut to /24 or /56. With an ECS source of /24 (/56) or wider this
 * is exactly pdns's value, so the same clients get the same answers; a
 * longer source or a resolver address is hashed as its /24 (/56), which is
 * what lets the answer carry that scope (migration guide). */
static uint32_t client_hash(ev_t *e)
{
    const steer_client_t *c = e->env->client;
    uint8_t bits = hash_bits(e), k[16] = {0};
    uint32_t n = c->family == AF_INET ? 4 : 16;
    need(e, bits);
    memcpy(k, c->addr, n);
    for (uint32_t i = bits / 8; i < n; i++)
        k[i] = i == bits / 8 ? (uint8_t)(k[i] & (0xff00u >> (bits % 8))) : 0;
    return lookup2(k, n);
}

/* The engine's weighted pick over the set's weights (all >= 1, so the
 * all-zero case never arises), so a pickwrandom picks as a weighted policy. */
static size_t weighted(const luac_set_t *s, uint64_t r)
{
    uint32_t w[LUAC_MAX_VALUES];
    for (size_t i = 0; i < s->n; i++)
        w[i] = s->items[i].weight;
    return steer_weighted_index(w, s->n, r);
}

/* The hashed pick of `s` (weighted: pickwhashed), by client_hash. A set of
 * one value needs no hash, so its answer does not depend on the client. */
static size_t hashed_index(ev_t *e, const luac_set_t *s, bool weights)
{
    if (s->n <= 1)
        return 0;
    uint32_t h = client_hash(e);
    return weights ? weighted(s, h) : h % s->n;
}

/* Weighted rendezvous hashing: each value scores -ln(u)/w with u from the
 * client and the value; the lowest wins. Removing a value moves only its
 * clients. u is built from the hash's top 53 bits plus one half, so it lies
 * strictly between 0 and 1 and the logarithm is always finite. The value's
 * text, not its position, goes into the hash, so reordering the list moves
 * nobody. */
static size_t chashed(ev_t *e, const luac_set_t *s)
{
    uint64_t key = steer_client_hash(e->env->client, hash_bits(e));
    size_t best = 0;
    double best_score = INFINITY;
    for (size_t i = 0; i < s->n; i++) {
        uint64_t h = key;
        for (const char *v = s->items[i].value; *v; v++)
            h = steer_mix64(h ^ (uint8_t)*v);
        double u = ((double)(h >> 11) + 0.5) / 9007199254740992.0;
        double score = -log(u) / s->items[i].weight;
        if (score < best_score) {
            best_score = score;
            best = i;
        }
    }
    return best;
}

/* Great-circle km from the client's GeoIP location to that of address `v`;
 * INFINITY when either is unknown. The candidates' locations are looked up
 * at every evaluation rather than once when compiling: the compiler does
 * not see the GeoIP database, which may be reloaded under a program that
 * stays (a pickclosest of n addresses costs up to n + 1 lookups per query). */
static double distance_to(ev_t *e, const char *v)
{
    const geo_result_t *g = geo(e, false);
    if (!g || !g->has_location)
        return INFINITY;
    struct sockaddr_storage ss;
    steer_client_t a = {0};
    if (inet_pton(AF_INET, v, a.addr) == 1)
        a.family = AF_INET;
    else if (inet_pton(AF_INET6, v, a.addr) == 1)
        a.family = AF_INET6;
    else
        return INFINITY;
    steer_client_sockaddr(&a, &ss);
    geo_result_t t;
    if (geo_db_lookup(e->env->geo, (struct sockaddr *)&ss, &t) != 0 || !t.has_location)
        return INFINITY;
    return steer_distance_km(g->latitude, g->longitude, t.latitude, t.longitude);
}

/* The `i`th item of the concatenation of `nsets` sets. */
static const luac_item_t *nth_item(const luac_set_t *sets, size_t nsets, size_t i)
{
    for (size_t k = 0; k < nsets; k++) {
        if (i < sets[k].n)
            return &sets[k].items[i];
        i -= sets[k].n;
    }
    return NULL;
}

/* The nearest item of the concatenation of `nsets` sets (`total` items),
 * the first when no distance is known. */
static const luac_item_t *closest(ev_t *e, const luac_set_t *sets, size_t nsets, size_t total)
{
    size_t best = 0;
    double best_d = INFINITY;
    for (size_t i = 0; i < total; i++) {
        double d = distance_to(e, nth_item(sets, nsets, i)->value);
        if (d < best_d) {
            best_d = d;
            best = i;
        }
    }
    return nth_item(sets, nsets, best);
}

static void put(luae_result_t *out, const char *v)
{
    if (out->n < LUAE_MAX_VALUES) /* always: LUAE_MAX_VALUES bounds every selection */
        out->vals[out->n++] = v;
}

static void put_all(luae_result_t *out, const luac_set_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        put(out, s->items[i].value);
}

/* A selector of ifportup/ifurlup over the concatenation of `nsets` sets
 * (one set of live addresses, or every set for the backupSelector, as
 * pdns's "apply backupSelector on all candidates"). */
static void pick(ev_t *e, luac_pick_t how, const luac_set_t *sets, size_t nsets, luae_result_t *out)
{
    size_t total = 0;
    for (size_t k = 0; k < nsets; k++)
        total += sets[k].n;
    if (total == 0)
        return;
    switch (how) {
    case LUAC_PICK_ALL:
        for (size_t k = 0; k < nsets; k++)
            put_all(out, &sets[k]);
        break;
    case LUAC_PICK_HASHED:
        put(out, nth_item(sets, nsets, total > 1 ? client_hash(e) % total : 0)->value);
        break;
    case LUAC_PICK_CLOSEST:
        put(out, closest(e, sets, nsets, total)->value);
        break;
    case LUAC_PICK_EMPTY:
        break;
    case LUAC_PICK_RANDOM:
    default:
        put(out, nth_item(sets, nsets, e->env->rnd % total)->value);
        break;
    }
}

static void select_values(ev_t *e, const luac_sel_t *sel, luae_result_t *out)
{
    const luac_set_t *s = sel->nsets ? &sel->sets[0] : NULL;
    uint64_t rnd = e->env->rnd;
    switch (sel->kind) {
    case LUAC_STATIC:
    case LUAC_ALL:
        put_all(out, s);
        break;
    case LUAC_PICKRANDOM:
        put(out, s->items[rnd % s->n].value);
        break;
    case LUAC_PICKRANDOMSAMPLE: {
        /* A partial Fisher-Yates over indexes: `sample` distinct values.
         * The query's one random value is re-mixed for each draw. Indexes
         * fit 16 bits: a set has at most LUAC_MAX_VALUES items. */
        uint16_t idx[LUAC_MAX_VALUES];
        for (size_t i = 0; i < s->n; i++)
            idx[i] = (uint16_t)i;
        size_t k = sel->sample < s->n ? sel->sample : s->n;
        for (size_t i = 0; i < k; i++) {
            rnd = steer_mix64(rnd + i + 1);
            size_t j = i + rnd % (s->n - i);
            uint16_t t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
            put(out, s->items[idx[i]].value);
        }
        break;
    }
    case LUAC_PICKHASHED:
        put(out, s->items[hashed_index(e, s, false)].value);
        break;
    case LUAC_PICKWRANDOM:
        put(out, s->items[weighted(s, rnd)].value);
        break;
    case LUAC_PICKWHASHED:
        put(out, s->items[hashed_index(e, s, true)].value);
        break;
    case LUAC_PICKCHASHED:
        need(e, hash_bits(e));
        put(out, s->items[chashed(e, s)].value);
        break;
    case LUAC_PICKCLOSEST:
        put(out, closest(e, s, 1, s->n)->value);
        break;
    case LUAC_IFPORTUP:
    case LUAC_IFURLUP: {
        /* The first set with a live address; UNKNOWN counts as live, so
         * that a record answers before the probe's first results. Health
         * is the same for every client, so it records no scope; the
         * selectors record theirs. The live addresses are gathered into a
         * set on the stack (a set has at most LUAC_MAX_VALUES items) for
         * the selector, which picks over sets. */
        luac_item_t live[LUAC_MAX_VALUES];
        for (size_t k = 0; k < sel->nsets; k++) {
            luac_set_t l = {live, 0};
            for (size_t i = 0; i < sel->sets[k].n; i++) {
                const luac_item_t *it = &sel->sets[k].items[i];
                if (!e->env->check_state ||
                    e->env->check_state(e->env->check_ctx, it->check) != HSTATE_DOWN)
                    live[l.n++] = *it;
            }
            if (l.n) {
                pick(e, sel->opts.selector, &l, 1, out);
                return;
            }
        }
        pick(e, sel->opts.backup, sel->sets, sel->nsets, out);
        break;
    }
    case LUAC_VIEW:
        /* Every rule tried records its prefix: a client that missed rule 1
         * and matched rule 2 depends on both. */
        for (size_t i = 0; i < sel->nrules; i++)
            if (in_nets(e, sel->rules[i].nets, sel->rules[i].nnets)) {
                const luac_set_t *v = &sel->rules[i].values;
                put(out, v->items[rnd % v->n].value);
                return;
            }
        break;
    case LUAC_STEER: {
        const steer_t *st = e->env->steer;
        int32_t pi = st ? steer_policy_find(st, sel->policy, strlen(sel->policy)) : -1;
        if (pi < 0)
            break;
        steer_decide_admin(st, (uint32_t)pi, e->env->client, rnd, e->env->admin, &out->sd);
        out->steered = true;
        out->policy = (uint32_t)pi;
        need(e, out->sd.scope);
        e->split |= out->sd.split;
        break;
    }
    }
}

/* The scope is computed even when no branch matched: an empty answer
 * depends on the conditions that failed, and must not be cached for
 * clients who would match one. */
void luae_eval(const luac_prog_t *p, const luae_env_t *env, luae_result_t *out)
{
    ev_t e = {.env = env};
    out->n = 0;
    out->steered = false;
    out->why = "no branch matched";
    out->branch = p->nbranches;
    for (size_t i = 0; i < p->nbranches; i++) {
        const luac_branch_t *b = &p->branches[i];
        if (b->cond && !pred(&e, b->cond))
            continue;
        out->why = b->cond ? "condition" : i ? "else" : "expression";
        out->branch = i;
        select_values(&e, &b->sel, out);
        break;
    }
    out->scope = steer_scope_final(env->client, e.depth, e.split);
}
