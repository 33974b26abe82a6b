/* Unit tests for backend/steering/steer.c: client parsing, every policy type, the
 * all-down rule's candidates, answerable qtypes, CIDR-driven geo decisions
 * with their scope, and consistent hashing's minimal remapping. GeoIP data
 * is not needed here (CIDR rules paint the tree); geo over a real database
 * is tested end to end. */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/steering/steer.h"
#include "common/buf.h"
#include "common/hash.h"
#include "geo/mmdb_writer.h"
#include "test/unit/unit.h"

static steer_client_t client(const char *rr)
{
    steer_client_t c;
    ck_assert_int_eq(steer_client_parse(rr, strlen(rr), "192.0.2.53", 10, &c), 0);
    return c;
}

START_TEST(test_client_parse)
{
    steer_client_t c = client("203.0.113.0/24");
    ck_assert_int_eq(c.family, AF_INET);
    ck_assert_uint_eq(c.source_len, 24);
    ck_assert(!c.from_remote);
    c = client("0.0.0.0/0");
    ck_assert(c.from_remote);
    ck_assert_uint_eq(c.addr[0], 192);
    ck_assert_uint_eq(c.source_len, 32);
    c = client("2001:db8:1234::/48");
    ck_assert_int_eq(c.family, AF_INET6);
    ck_assert_uint_eq(c.source_len, 48);
    c = client("::ffff:198.51.100.9/128");
    ck_assert_int_eq(c.family, AF_INET);
    ck_assert_uint_eq(c.addr[0], 198);
    ck_assert_int_eq(steer_client_parse("junk", 4, "junk", 4, &c), GS_EINVAL);
}
END_TEST

/* Endpoints e0..e3 with A, e3 also AAAA; pools p0 = {e0,e1,e2}, p1 = {e3}. */
static steer_builder_t *base(uint32_t *p0, uint32_t *p1, uint32_t w0)
{
    steer_builder_t *b = steer_builder_new();
    const char *a[][1] = {{"192.0.2.10"}, {"192.0.2.11"}, {"192.0.2.12"}, {"192.0.2.13"}};
    const char *aaaa[] = {"2001:db8::13"};
    uint32_t e[4];
    for (int i = 0; i < 4; i++) {
        char name[8];
        snprintf(name, sizeof(name), "e%d", i);
        e[i] = steer_add_endpoint(b, name, a[i], 1, aaaa, i == 3 ? 1 : 0, NULL, false, 0, 0,
                                  i == 0 ? w0 : 1);
    }
    *p0 = steer_add_pool(b, "p0", e, 3, 1, -1);
    *p1 = steer_add_pool(b, "p1", &e[3], 1, 1, -1);
    return b;
}

static steer_t *one_policy(steer_type_t type, uint32_t w0, uint32_t *pi)
{
    uint32_t p0, p1;
    steer_builder_t *b = base(&p0, &p1, w0);
    uint32_t pools[2] = {p0, p1};
    steer_policy_def_t def = {.name = "pol",
                              .type = type,
                              .ttl = 30,
                              .pools = pools,
                              .npools = type == STEER_FAILOVER ? 2 : 1,
                              .max = 2,
                              .hash_v4 = 24,
                              .hash_v6 = 56,
                              .nearest = 1};
    *pi = steer_add_policy(b, &def);
    return steer_build(b, NULL, NULL);
}

START_TEST(test_all_and_qtypes)
{
    uint32_t pi;
    steer_t *s = one_policy(STEER_ALL, 1, &pi);
    steer_client_t c = client("203.0.113.0/24");
    steer_decision_t d;
    steer_decide(s, pi, &c, 1, &d);
    ck_assert_uint_eq(d.n, 3);
    ck_assert_uint_eq(d.scope, 0);
    ck_assert_uint_eq(d.ttl, 30);
    ck_assert_str_eq(steer_endpoint_name(s, d.picks[2]), "e2");
    ck_assert_uint_eq(steer_policy_qtypes(s, pi), STEER_QT_A);
    ck_assert_int_eq(steer_policy_find(s, "pol", 3), (int32_t)pi);
    ck_assert_int_eq(steer_policy_find(s, "nope", 4), -1);
    size_t nv;
    const char *const *v = steer_endpoint_values(s, d.picks[0], STEER_QT_A, &nv);
    ck_assert_uint_eq(nv, 1);
    ck_assert_str_eq(v[0], "192.0.2.10");
    ck_assert_ptr_null(steer_endpoint_values(s, d.picks[0], STEER_QT_AAAA, &nv));
    ck_assert_uint_eq(nv, 0);
    steer_free(s);
}
END_TEST

START_TEST(test_random_weighted)
{
    uint32_t pi;
    steer_t *s = one_policy(STEER_RANDOM, 1, &pi);
    steer_client_t c = client("203.0.113.0/24");
    int seen[4] = {0};
    steer_decision_t d;
    for (uint64_t r = 0; r < 300; r++) {
        steer_decide(s, pi, &c, r * 7919, &d);
        ck_assert_uint_eq(d.n, 1);
        ck_assert_uint_eq(d.scope, 0);
        seen[d.picks[0]]++;
    }
    ck_assert(seen[0] && seen[1] && seen[2] && !seen[3]);
    steer_free(s);

    s = one_policy(STEER_WEIGHTED, 0, &pi); /* e0 weight 0: never picked */
    memset(seen, 0, sizeof(seen));
    for (uint64_t r = 0; r < 300; r++) {
        steer_decide(s, pi, &c, r * 7919, &d);
        seen[d.picks[0]]++;
    }
    ck_assert_int_eq(seen[0], 0);
    ck_assert(seen[1] > 100 && seen[2] > 100);
    steer_free(s);
}
END_TEST

START_TEST(test_hashed_sticky)
{
    uint32_t pi;
    steer_t *s = one_policy(STEER_HASHED, 1, &pi);
    steer_decision_t d1, d2;
    steer_client_t a = client("203.0.113.7/32"), b = client("203.0.113.200/32");
    steer_decide(s, pi, &a, 1, &d1);
    steer_decide(s, pi, &b, 99, &d2);
    ck_assert_uint_eq(d1.picks[0], d2.picks[0]); /* same /24 */
    ck_assert_uint_eq(d1.scope, 24);
    int seen[4] = {0};
    for (int i = 0; i < 256; i++) {
        char rr[32];
        snprintf(rr, sizeof(rr), "198.51.%d.0/24", i);
        steer_client_t c = client(rr);
        steer_decide(s, pi, &c, 0, &d1);
        seen[d1.picks[0]]++;
    }
    ck_assert(seen[0] && seen[1] && seen[2]);
    steer_client_t v6 = client("2001:db8:aa:bb00::/56");
    steer_decide(s, pi, &v6, 0, &d1);
    ck_assert_uint_eq(d1.scope, 56);
    steer_free(s);
}
END_TEST

/* Rendezvous hashing: with e2 removed from the pool, only e2's clients move. */
START_TEST(test_consistent_hash_minimal_remap)
{
    uint32_t pi;
    steer_t *full = one_policy(STEER_CHASH, 1, &pi);
    steer_builder_t *b = steer_builder_new();
    const char *a[][1] = {{"192.0.2.10"}, {"192.0.2.11"}};
    uint32_t e[2];
    e[0] = steer_add_endpoint(b, "e0", a[0], 1, NULL, 0, NULL, false, 0, 0, 1);
    e[1] = steer_add_endpoint(b, "e1", a[1], 1, NULL, 0, NULL, false, 0, 0, 1);
    uint32_t p = steer_add_pool(b, "p0", e, 2, 1, -1);
    steer_policy_def_t def = {.name = "pol",
                              .type = STEER_CHASH,
                              .ttl = 30,
                              .pools = &p,
                              .npools = 1,
                              .hash_v4 = 24,
                              .hash_v6 = 56};
    uint32_t pi2 = steer_add_policy(b, &def);
    steer_t *less = steer_build(b, NULL, NULL);
    int moved = 0, e2_clients = 0;
    for (int i = 0; i < 2000; i++) {
        char rr[32];
        snprintf(rr, sizeof(rr), "10.%d.%d.0/24", i / 256, i % 256);
        steer_client_t c = client(rr);
        steer_decision_t d1, d2;
        steer_decide(full, pi, &c, 0, &d1);
        steer_decide(less, pi2, &c, 0, &d2);
        const char *n1 = steer_endpoint_name(full, d1.picks[0]);
        const char *n2 = steer_endpoint_name(less, d2.picks[0]);
        if (strcmp(n1, "e2") == 0)
            e2_clients++;
        else if (strcmp(n1, n2) != 0)
            moved++;
    }
    ck_assert_int_eq(moved, 0);
    ck_assert(e2_clients > 400 && e2_clients < 950); /* about a third */
    steer_free(full);
    steer_free(less);
}
END_TEST

START_TEST(test_failover_multivalue)
{
    uint32_t p0, p1;
    steer_builder_t *b = base(&p0, &p1, 1);
    /* p0 needs 5 healthy of its 3: it never qualifies, so failover uses p1. */
    uint32_t e[3] = {0, 1, 2};
    uint32_t strict = steer_add_pool(b, "strict", e, 3, 5, -1);
    uint32_t pools[2] = {strict, p1};
    steer_policy_def_t def = {
        .name = "fo", .type = STEER_FAILOVER, .ttl = 10, .pools = pools, .npools = 2};
    uint32_t fo = steer_add_policy(b, &def);
    steer_policy_def_t mv = {
        .name = "mv", .type = STEER_MULTIVALUE, .ttl = 10, .pools = &p0, .npools = 1, .max = 2};
    uint32_t mvi = steer_add_policy(b, &mv);
    steer_t *s = steer_build(b, NULL, NULL);
    steer_client_t c = client("203.0.113.0/24");
    steer_decision_t d;
    steer_decide(s, fo, &c, 0, &d);
    ck_assert_uint_eq(d.n, 1);
    ck_assert_str_eq(steer_endpoint_name(s, d.picks[0]), "e3");
    ck_assert_str_eq(steer_pool_name(s, d.pool), "p1");
    ck_assert_uint_eq(steer_policy_qtypes(s, fo), STEER_QT_A);
    steer_decide(s, mvi, &c, 12345, &d);
    ck_assert_uint_eq(d.n, 2);
    ck_assert_uint_ne(d.picks[0], d.picks[1]);
    ck_assert_uint_eq(d.scope, 0);
    steer_free(s);
}
END_TEST

START_TEST(test_geo_cidr_scope)
{
    uint32_t p0, p1;
    steer_builder_t *b = base(&p0, &p1, 1);
    uint32_t pools[1] = {p0};
    steer_policy_def_t def = {.name = "geo",
                              .type = STEER_GEO,
                              .ttl = 20,
                              .pools = pools,
                              .npools = 1,
                              .default_pool = p0};
    uint32_t pi = steer_add_policy(b, &def);
    uint8_t net4[16] = {198, 51, 100, 0}, net6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1};
    steer_add_rule(b, pi, STEER_KEY_CIDR, NULL, 0, AF_INET, net4, 24, p1);
    steer_add_rule(b, pi, STEER_KEY_CIDR, NULL, 0, AF_INET6, net6, 48, p1);
    steer_t *s = steer_build(b, NULL, NULL);
    steer_decision_t d;
    steer_client_t c = client("198.51.100.77/32");
    steer_decide(s, pi, &c, 0, &d);
    ck_assert_str_eq(steer_pool_name(s, d.pool), "p1");
    ck_assert_uint_eq(d.scope, 24);
    c = client("198.51.101.0/24"); /* the sibling /24: default, uniform over 198.51.101.0/24 */
    steer_decide(s, pi, &c, 0, &d);
    ck_assert_str_eq(steer_pool_name(s, d.pool), "p0");
    ck_assert_uint_eq(d.scope, 24);
    c = client("8.8.8.0/24"); /* far away: a short uniform prefix */
    steer_decide(s, pi, &c, 0, &d);
    ck_assert_uint_eq(d.scope, 1);
    c = client("2001:db8:1:ff00::/56");
    steer_decide(s, pi, &c, 0, &d);
    ck_assert_str_eq(steer_pool_name(s, d.pool), "p1");
    ck_assert_uint_eq(d.scope, 48);
    c = client("2001:db8:1:ff00::1/128"); /* deeper than the cap: capped at /56 */
    steer_decide(s, pi, &c, 0, &d);
    ck_assert_uint_le(d.scope, 56);
    /* p1 has only e3 (A + AAAA); p0 has A only: the policy answers A only. */
    ck_assert_uint_eq(steer_policy_qtypes(s, pi), STEER_QT_A);
    steer_free(s);
}
END_TEST

/* Overrides: drained / forced-down endpoints are dropped; expired entries do
 * not apply; with everything removed by hand the answer fails open. */
START_TEST(test_admin_overrides)
{
    uint32_t pi;
    steer_t *s = one_policy(STEER_ALL, 1, &pi);
    steer_client_t c = client("203.0.113.0/24");
    uint8_t state[4] = {STEER_ADMIN_DRAIN, STEER_ADMIN_NONE, STEER_ADMIN_FORCE_DOWN, 0};
    int64_t until[4] = {0, 0, 1000, 0};
    steer_admin_t adm = {state, until, 4, 999, NULL, NULL};
    steer_decision_t d;
    steer_decide_admin(s, pi, &c, 0, &adm, &d);
    ck_assert_uint_eq(d.n, 1);
    ck_assert_str_eq(steer_endpoint_name(s, d.picks[0]), "e1");
    ck_assert(!d.all_down);
    adm.now = 1000; /* e2's force-down has expired */
    steer_decide_admin(s, pi, &c, 0, &adm, &d);
    ck_assert_uint_eq(d.n, 2);
    state[1] = STEER_ADMIN_DRAIN;
    state[2] = STEER_ADMIN_DRAIN;
    until[2] = 0;
    steer_decide_admin(s, pi, &c, 0, &adm, &d);
    ck_assert(d.all_down);
    ck_assert_uint_eq(d.n, 3); /* nothing left: fail open to every candidate */
    ck_assert_int_eq(steer_admin_get(&adm, 0), STEER_ADMIN_DRAIN);
    ck_assert_int_eq(steer_admin_get(NULL, 0), STEER_ADMIN_NONE);
    ck_assert_int_eq(steer_endpoint_find(s, "e2"), 2);
    steer_free(s);
}
END_TEST

/* Health, step 2: a bitmask of DOWN endpoints stands in for the probe. */
static bool mask_down(const void *ctx, uint32_t e)
{
    return (*(const unsigned *)ctx >> e) & 1;
}

/* DOWN endpoints are dropped before the rule; FORCE_UP beats health; all
 * down fails open; failover moves to the next pool; hashed clients never
 * get a DOWN endpoint; scope stays 0 for policies that ignore the client. */
START_TEST(test_health_down)
{
    uint32_t pi;
    steer_t *s = one_policy(STEER_ALL, 1, &pi);
    steer_client_t c = client("203.0.113.0/24");
    uint8_t state[4] = {0};
    int64_t until[4] = {0};
    unsigned down = 1u << 1; /* e1 DOWN */
    steer_admin_t adm = {state, until, 4, 0, mask_down, &down};
    steer_decision_t d;
    steer_decide_admin(s, pi, &c, 0, &adm, &d);
    ck_assert_uint_eq(d.n, 2);
    ck_assert_str_eq(steer_endpoint_name(s, d.picks[0]), "e0");
    ck_assert_str_eq(steer_endpoint_name(s, d.picks[1]), "e2");
    ck_assert_uint_eq(d.scope, 0);
    state[1] = STEER_ADMIN_FORCE_UP;
    steer_decide_admin(s, pi, &c, 0, &adm, &d);
    ck_assert_uint_eq(d.n, 3);
    state[1] = STEER_ADMIN_NONE;
    down = 7; /* e0, e1, e2: the whole pool */
    steer_decide_admin(s, pi, &c, 0, &adm, &d);
    ck_assert(d.all_down);
    ck_assert_uint_eq(d.n, 3);
    steer_free(s);

    s = one_policy(STEER_FAILOVER, 1, &pi);
    down = 7;
    steer_decide_admin(s, pi, &c, 0, &adm, &d);
    ck_assert(!d.all_down);
    ck_assert_uint_eq(d.n, 1);
    ck_assert_str_eq(steer_endpoint_name(s, d.picks[0]), "e3");
    down = 0;
    steer_decide_admin(s, pi, &c, 0, &adm, &d);
    ck_assert_uint_eq(d.n, 3);
    steer_free(s);

    s = one_policy(STEER_HASHED, 1, &pi);
    for (unsigned i = 0; i < 64; i++) {
        char buf[32];
        snprintf(buf, sizeof(buf), "198.51.%u.0/24", i);
        steer_client_t ci = client(buf);
        down = 1u << 2; /* e2 DOWN */
        steer_decide_admin(s, pi, &ci, 0, &adm, &d);
        ck_assert_uint_ne(d.picks[0], 2);
        ck_assert_uint_eq(d.n, 1);
        ck_assert_uint_eq(d.scope, 24);
    }
    ck_assert(steer_policy_uses(s, pi, 0));
    ck_assert(!steer_policy_uses(s, pi, 3));
    steer_free(s);
}
END_TEST

/* The pools: prim = {p1, p2} with min_healthy 2 and fallback back =
 * {b1}. With p1 DOWN, prim is below min_healthy and every policy type over
 * it answers from back (b1), through the one pool rule. */
static steer_t *fallback_engine(steer_type_t type, uint32_t *pi)
{
    steer_builder_t *b = steer_builder_new();
    const char *a[][1] = {{"192.0.2.1"}, {"192.0.2.2"}, {"192.0.2.9"}};
    uint32_t e[3];
    for (int i = 0; i < 3; i++)
        e[i] = steer_add_endpoint(b,
                                  i == 0   ? "p1"
                                  : i == 1 ? "p2"
                                           : "b1",
                                  a[i], 1, NULL, 0, NULL, true, 50.0 + i, 8.0, 1);
    uint32_t back = steer_add_pool(b, "back", &e[2], 1, 1, -1);
    uint32_t prim = steer_add_pool(b, "prim", e, 2, 2, (int32_t)back);
    steer_policy_def_t def = {.name = "pol",
                              .type = type,
                              .ttl = 30,
                              .pools = &prim,
                              .npools = 1,
                              .max = 8,
                              .hash_v4 = 24,
                              .hash_v6 = 56,
                              .nearest = 1,
                              .default_pool = prim};
    *pi = steer_add_policy(b, &def);
    return steer_build(b, NULL, NULL);
}

START_TEST(test_pool_fallback_every_type)
{
    static const steer_type_t types[] = {STEER_ALL,        STEER_RANDOM, STEER_WEIGHTED,
                                         STEER_HASHED,     STEER_CHASH,  STEER_FAILOVER,
                                         STEER_MULTIVALUE, STEER_GEO,    STEER_PROXIMITY};
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        uint32_t pi;
        steer_t *s = fallback_engine(types[t], &pi);
        uint8_t state[3] = {0};
        int64_t until[3] = {0};
        unsigned down = 1u << 0; /* p1 DOWN */
        steer_admin_t adm = {state, until, 3, 0, mask_down, &down};
        for (int k = 0; k < 20; k++) {
            char rr[32];
            snprintf(rr, sizeof(rr), "198.51.%d.0/24", k * 11);
            steer_client_t c = client(rr);
            steer_decision_t d;
            steer_decide_admin(s, pi, &c, (uint64_t)k * 7919, &adm, &d);
            ck_assert_msg(d.n == 1 && strcmp(steer_endpoint_name(s, d.picks[0]), "b1") == 0,
                          "type %zu: %u picks, first %s", t, d.n,
                          d.n ? steer_endpoint_name(s, d.picks[0]) : "-");
            ck_assert_msg(!d.all_down, "type %zu: all_down", t);
        }
        down = 0; /* both up: prim answers, never b1 */
        steer_client_t c = client("198.51.100.0/24");
        steer_decision_t d;
        steer_decide_admin(s, pi, &c, 3, &adm, &d);
        for (uint16_t i = 0; i < d.n; i++)
            ck_assert_str_ne(steer_endpoint_name(s, d.picks[i]), "b1");
        steer_free(s);
    }
}
END_TEST

/* all_down "all" answers every candidate whatever the type's own rule
 * (multivalue's max, random's one pick); the operator's drains stay out
 * while anything else is left. */
START_TEST(test_all_down_every_candidate)
{
    steer_builder_t *b = steer_builder_new();
    uint32_t e[12];
    for (int i = 0; i < 12; i++) {
        char name[8], addr[16];
        snprintf(name, sizeof(name), "e%d", i);
        snprintf(addr, sizeof(addr), "192.0.2.%d", i + 1);
        const char *a[] = {addr};
        e[i] = steer_add_endpoint(b, name, a, 1, NULL, 0, NULL, false, 0, 0, 1);
    }
    uint32_t pool = steer_add_pool(b, "p", e, 12, 1, -1);
    steer_policy_def_t mv = {.name = "mv",
                             .type = STEER_MULTIVALUE,
                             .ttl = 10,
                             .pools = &pool,
                             .npools = 1,
                             .max = 2,
                             .all_down = STEER_DOWN_ALL};
    uint32_t mvi = steer_add_policy(b, &mv);
    steer_policy_def_t rnd = mv;
    rnd.name = "rnd";
    rnd.type = STEER_RANDOM;
    uint32_t rndi = steer_add_policy(b, &rnd);
    steer_t *s = steer_build(b, NULL, NULL);
    uint8_t state[12] = {STEER_ADMIN_DRAIN};
    int64_t until[12] = {0};
    unsigned down = 0xfff; /* all DOWN; e0 drained as well */
    steer_admin_t adm = {state, until, 12, 0, mask_down, &down};
    steer_client_t c = client("203.0.113.0/24");
    steer_decision_t d;
    steer_decide_admin(s, mvi, &c, 5, &adm, &d);
    ck_assert(d.all_down);
    ck_assert_uint_eq(d.n, 11); /* every candidate but the drained e0 */
    for (uint16_t i = 0; i < d.n; i++)
        ck_assert_uint_ne(d.picks[i], e[0]);
    steer_decide_admin(s, rndi, &c, 5, &adm, &d);
    ck_assert_uint_eq(d.n, 11);
    ck_assert_uint_eq(d.scope, 0);
    down = 0; /* healthy again: max applies */
    steer_decide_admin(s, mvi, &c, 5, &adm, &d);
    ck_assert_uint_eq(d.n, 2);
    steer_free(s);
}
END_TEST

/* consistent-hash: a weight-0 endpoint is never picked while one with a
 * weight is a candidate (as weighted and hashed); weights set the shares. */
START_TEST(test_chash_weights)
{
    uint32_t pi;
    steer_t *s = one_policy(STEER_CHASH, 0, &pi); /* e0 weight 0 */
    int seen[4] = {0};
    for (int i = 0; i < 600; i++) {
        char rr[32];
        snprintf(rr, sizeof(rr), "10.%d.%d.0/24", i / 256, i % 256);
        steer_client_t c = client(rr);
        steer_decision_t d;
        steer_decide(s, pi, &c, 0, &d);
        seen[d.picks[0]]++;
    }
    ck_assert_int_eq(seen[0], 0);
    ck_assert(seen[1] > 200 && seen[2] > 200);
    steer_free(s);
}
END_TEST

/* An endpoint's addresses are answered all, however many. */
START_TEST(test_many_addresses)
{
    steer_builder_t *b = steer_builder_new();
    char addrs[40][16];
    const char *a[40];
    for (int i = 0; i < 40; i++) {
        snprintf(addrs[i], sizeof(addrs[i]), "192.0.2.%d", i + 1);
        a[i] = addrs[i];
    }
    uint32_t e = steer_add_endpoint(b, "big", a, 40, NULL, 0, NULL, false, 0, 0, 1);
    uint32_t pool = steer_add_pool(b, "p", &e, 1, 1, -1);
    steer_policy_def_t def = {
        .name = "all", .type = STEER_ALL, .ttl = 10, .pools = &pool, .npools = 1};
    uint32_t pi = steer_add_policy(b, &def);
    steer_t *s = steer_build(b, NULL, NULL);
    steer_client_t c = client("203.0.113.0/24");
    steer_decision_t d;
    steer_decide(s, pi, &c, 0, &d);
    size_t nv;
    const char *const *v = steer_endpoint_values(s, d.picks[0], STEER_QT_A, &nv);
    ck_assert_uint_eq(nv, 40);
    ck_assert_str_eq(v[39], "192.0.2.40");
    steer_free(s);
}
END_TEST

/* Scope 0 only when every client of both families gets the answer: a geo
 * policy with an IPv4 rule answers IPv6 clients (all the default) at a
 * non-zero scope; with no rules at all, scope 0 for both. An ECS source /0
 * is decided on the resolver; its scope is never taken from the other
 * family's address. */
START_TEST(test_scope_families)
{
    uint32_t p0, p1;
    steer_builder_t *b = base(&p0, &p1, 1);
    steer_policy_def_t def = {.name = "geo4",
                              .type = STEER_GEO,
                              .ttl = 20,
                              .pools = &p0,
                              .npools = 1,
                              .default_pool = p0};
    uint32_t g4 = steer_add_policy(b, &def);
    uint8_t net4[16] = {10, 0, 0, 0};
    steer_add_rule(b, g4, STEER_KEY_CIDR, NULL, 0, AF_INET, net4, 8, p1);
    def.name = "plain";
    uint32_t plain = steer_add_policy(b, &def);
    steer_t *s = steer_build(b, NULL, NULL);
    steer_decision_t d;
    steer_client_t c = client("2001:db8:2::/48");
    steer_decide(s, g4, &c, 0, &d);
    ck_assert_str_eq(steer_pool_name(s, d.pool), "p0");
    ck_assert_uint_ge(d.scope, 1);
    ck_assert(d.split);
    steer_decide(s, plain, &c, 0, &d);
    ck_assert_uint_eq(d.scope, 0);
    c = client("10.20.31.0/24");
    steer_decide(s, g4, &c, 0, &d);
    ck_assert_str_eq(steer_pool_name(s, d.pool), "p1");
    ck_assert_uint_eq(d.scope, 8);
    /* ECS ::/0 from an IPv4 resolver: decided on 192.0.2.53, scope in the
     * option's family and not 0. */
    ck_assert_int_eq(steer_client_parse("::/0", 4, "10.1.2.3", 8, &c), 0);
    ck_assert(c.from_remote);
    ck_assert_int_eq(c.family, AF_INET);
    ck_assert_int_eq(c.wire_family, AF_INET6);
    steer_decide(s, g4, &c, 0, &d);
    ck_assert_str_eq(steer_pool_name(s, d.pool), "p1");
    ck_assert_uint_eq(d.scope, STEER_SCOPE_V6);
    ck_assert_int_eq(steer_client_parse("0.0.0.0/0", 9, "10.1.2.3", 8, &c), 0);
    steer_decide(s, g4, &c, 0, &d);
    ck_assert_uint_eq(d.scope, 8);
    steer_decide(s, plain, &c, 0, &d);
    ck_assert_uint_eq(d.scope, 0);
    /* the final rule itself */
    c = client("2001:db8::/48");
    ck_assert_uint_eq(steer_scope_final(&c, 0, false), 0);
    ck_assert_uint_eq(steer_scope_final(&c, 0, true), 1);
    ck_assert_uint_eq(steer_scope_final(&c, 90, false), STEER_SCOPE_V6);
    steer_free(s);
}
END_TEST

/* Writes a one-record database mapping [lo, hi] (IPv4) to `rec`. */
static void write_db(const char *path, uint32_t lo, uint32_t hi, mmdbw_buf_t *rec)
{
    mmdbw_t *w = mmdbw_new();
    mmdbw_insert_range4(w, lo, hi, mmdbw_data(w, rec->data, rec->len));
    mmdbw_meta_t meta = {.database_type = "GeoSteer-Test", .description = "unit test"};
    gs_err_t err;
    ck_assert_int_eq(mmdbw_write(w, path, &meta, NULL, &err), 0);
    mmdbw_free(w);
    mmdbw_buf_free(rec);
}

/* Most specific wins across databases: CIDR > ASN > subdivision > country. */
START_TEST(test_geo_asn_country_cidr)
{
    char cpath[] = "/tmp/gs-steer-country.XXXXXX", apath[] = "/tmp/gs-steer-asn.XXXXXX";
    gs_err_t err0;
    close(mkstemp(cpath));
    close(mkstemp(apath));
    mmdbw_buf_t rec = {0};
    mmdbw_put_map(&rec, 2);
    mmdbw_put_str(&rec, "continent");
    mmdbw_put_map(&rec, 1);
    mmdbw_put_str(&rec, "code");
    mmdbw_put_str(&rec, "EU");
    mmdbw_put_str(&rec, "country");
    mmdbw_put_map(&rec, 1);
    mmdbw_put_str(&rec, "iso_code");
    mmdbw_put_str(&rec, "DE");
    mmdbw_buf_t sub = {0}; /* 10.8.0.0/13: DE, Bavaria */
    mmdbw_put_map(&sub, 3);
    mmdbw_put_str(&sub, "continent");
    mmdbw_put_map(&sub, 1);
    mmdbw_put_str(&sub, "code");
    mmdbw_put_str(&sub, "EU");
    mmdbw_put_str(&sub, "country");
    mmdbw_put_map(&sub, 1);
    mmdbw_put_str(&sub, "iso_code");
    mmdbw_put_str(&sub, "DE");
    mmdbw_put_str(&sub, "subdivisions");
    mmdbw_put_array(&sub, 1);
    mmdbw_put_map(&sub, 1);
    mmdbw_put_str(&sub, "iso_code");
    mmdbw_put_str(&sub, "BY");
    {
        mmdbw_t *w = mmdbw_new();
        mmdbw_insert_range4(w, 0x0a000000u, 0x0affffffu, mmdbw_data(w, rec.data, rec.len));
        mmdbw_insert_range4(w, 0x0a080000u, 0x0a0fffffu, mmdbw_data(w, sub.data, sub.len));
        mmdbw_meta_t meta = {.database_type = "GeoSteer-Test", .description = "unit test"};
        ck_assert_int_eq(mmdbw_write(w, cpath, &meta, NULL, &err0), 0);
        mmdbw_free(w);
        mmdbw_buf_free(&rec);
        mmdbw_buf_free(&sub);
    }
    mmdbw_put_map(&rec, 1);
    mmdbw_put_str(&rec, "autonomous_system_number");
    mmdbw_put_u32(&rec, 64500);
    write_db(apath, 0x0a010000u, 0x0a01ffffu, &rec); /* 10.1.0.0/16: AS64500 */
    geo_db_t *country, *asn;
    gs_err_t err;
    ck_assert_int_eq(geo_db_open(cpath, &country, &err), 0);
    ck_assert_int_eq(geo_db_open(apath, &asn, &err), 0);

    uint32_t p0, p1;
    steer_builder_t *b = base(&p0, &p1, 1);
    uint32_t pools[1] = {p0};
    steer_policy_def_t def = {.name = "geo",
                              .type = STEER_GEO,
                              .ttl = 20,
                              .pools = pools,
                              .npools = 1,
                              .default_pool = p1};
    uint32_t pi = steer_add_policy(b, &def);
    uint8_t net[16] = {10, 1, 2, 0};
    steer_add_rule(b, pi, STEER_KEY_CIDR, NULL, 0, AF_INET, net, 24, p0);
    steer_add_rule(b, pi, STEER_KEY_ASN, NULL, 64500, 0, NULL, 0, p1);
    steer_add_rule(b, pi, STEER_KEY_COUNTRY, "DE", 0, 0, NULL, 0, p0);
    steer_add_rule(b, pi, STEER_KEY_SUBDIVISION, "DE-BY", 0, 0, NULL, 0, p1);
    steer_t *s = steer_build(b, country, asn);
    static const struct {
        const char *client;
        const char *pool;
        uint8_t scope;
    } cases[] = {
        {"10.5.0.1/32", "p0", 14}, /* country; 10.4.0.0/14 holds no AS64500 address */
        {"10.1.5.1/32", "p1", 22}, /* ASN; 10.1.4.0/22 holds no CIDR rule */
        {"10.1.2.1/32", "p0", 24}, /* CIDR beats ASN */
        {"192.0.2.1/32", "p1", 1}, /* no data: default */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        steer_client_t c = client(cases[i].client);
        steer_decision_t d;
        steer_decide(s, pi, &c, 0, &d);
        ck_assert_msg(strcmp(steer_pool_name(s, d.pool), cases[i].pool) == 0, "%s: pool %s",
                      cases[i].client, steer_pool_name(s, d.pool));
        ck_assert_msg(d.scope == cases[i].scope, "%s: scope %u", cases[i].client, d.scope);
    }
    steer_free(s);
    geo_db_close(country);
    geo_db_close(asn);
    unlink(cpath);
    unlink(apath);
}
END_TEST

/* ---- every decision, pinned ----------------------------------------------------------
 * A digest of every field of every decision over a grid: every policy type
 * with each all-down rule, clients of both families (with and without ECS,
 * inside and outside the databases' networks), several random seeds, and
 * operator/health states from "nothing known" to "everything out"; plus
 * each policy's type name, answerable qtypes and used endpoints. The
 * constant was computed on the engine before the per-policy operations
 * table (commit 97508f7); a refactoring must leave it unchanged. A change
 * of behaviour changes it on purpose: say which in the commit. To see what
 * moved, run this test with GS_STEER_DUMP=<file> on both trees and diff. */

/* A database of five networks with locations (one with a subdivision, one
 * IPv6) and an ASN database of one network. */
static void pin_databases(const char *cpath, const char *apath)
{
    static const struct {
        const char *cont, *country, *sub;
        double lat, lon;
        uint32_t lo, hi;
        bool v6;
    } nets[] = {
        {"EU", "DE", NULL, 50.1, 8.7, 0x0a000000u, 0x0a07ffffu, false},    /* 10.0/13 */
        {"EU", "DE", "BY", 48.1, 11.6, 0x0a080000u, 0x0a0fffffu, false},   /* 10.8/13 */
        {"AS", "JP", NULL, 35.7, 139.7, 0xac100000u, 0xac13ffffu, false},  /* 172.16/14 */
        {"NA", "US", NULL, 37.8, -122.4, 0xac140000u, 0xac17ffffu, false}, /* 172.20/14 */
        {"OC", "AU", NULL, -33.9, 151.2, 0, 0, true},                      /* 2001:db8:77::/48 */
    };
    mmdbw_t *w = mmdbw_new();
    for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++) {
        mmdbw_buf_t rec = {0};
        mmdbw_put_map(&rec, nets[i].sub ? 4 : 3);
        mmdbw_put_str(&rec, "continent");
        mmdbw_put_map(&rec, 1);
        mmdbw_put_str(&rec, "code");
        mmdbw_put_str(&rec, nets[i].cont);
        mmdbw_put_str(&rec, "country");
        mmdbw_put_map(&rec, 1);
        mmdbw_put_str(&rec, "iso_code");
        mmdbw_put_str(&rec, nets[i].country);
        mmdbw_put_str(&rec, "location");
        mmdbw_put_map(&rec, 2);
        mmdbw_put_str(&rec, "latitude");
        mmdbw_put_double(&rec, nets[i].lat);
        mmdbw_put_str(&rec, "longitude");
        mmdbw_put_double(&rec, nets[i].lon);
        if (nets[i].sub) {
            mmdbw_put_str(&rec, "subdivisions");
            mmdbw_put_array(&rec, 1);
            mmdbw_put_map(&rec, 1);
            mmdbw_put_str(&rec, "iso_code");
            mmdbw_put_str(&rec, nets[i].sub);
        }
        uint32_t data = mmdbw_data(w, rec.data, rec.len);
        if (nets[i].v6) {
            uint8_t lo[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0x77}, hi[16];
            memcpy(hi, lo, 16);
            memset(hi + 6, 0xff, 10);
            mmdbw_insert_range6(w, lo, hi, data);
        } else {
            mmdbw_insert_range4(w, nets[i].lo, nets[i].hi, data);
        }
        mmdbw_buf_free(&rec);
    }
    mmdbw_meta_t meta = {.database_type = "GeoSteer-Test", .description = "unit test"};
    gs_err_t err;
    ck_assert_int_eq(mmdbw_write(w, cpath, &meta, NULL, &err), 0);
    mmdbw_free(w);
    mmdbw_buf_t rec = {0};
    mmdbw_put_map(&rec, 1);
    mmdbw_put_str(&rec, "autonomous_system_number");
    mmdbw_put_u32(&rec, 64500);
    write_db(apath, 0x0a010000u, 0x0a01ffffu, &rec); /* 10.1.0.0/16: AS64500 */
}

/* Endpoints e0..e10 (e7 without AAAA, e10 a CNAME only), pools p0..p5 with fallback
 * chains, and for every type one policy per all-down rule. */
static steer_t *pin_engine(const geo_db_t *country, const geo_db_t *asn)
{
    static const struct {
        bool loc;
        double lat, lon;
        uint32_t weight;
    } eps[] = {{true, 50.1, 8.7, 0},   {true, 40.7, -74.0, 1},  {true, 35.7, 139.7, 2},
               {true, 51.5, -0.1, 3},  {true, -33.9, 151.2, 5}, {true, 37.8, -122.4, 1},
               {false, 0, 0, 4},       {true, 1.3, 103.8, 0},   {true, 48.9, 2.4, 2},
               {true, -23.5, -46.6, 7}};
    steer_builder_t *b = steer_builder_new();
    uint32_t e[11];
    for (int i = 0; i < 10; i++) {
        char name[8], a4[16], a6[24], a4b[16];
        snprintf(name, sizeof(name), "e%d", i);
        snprintf(a4, sizeof(a4), "192.0.2.%d", i + 1);
        snprintf(a4b, sizeof(a4b), "198.51.100.%d", i + 1);
        snprintf(a6, sizeof(a6), "2001:db8::%d", i + 1);
        const char *a[] = {a4, a4b}, *aaaa[] = {a6};
        e[i] = steer_add_endpoint(b, name, a, i % 3 == 0 ? 2 : 1, aaaa, i == 7 ? 0 : 1, NULL,
                                  eps[i].loc, eps[i].lat, eps[i].lon, eps[i].weight);
    }
    e[10] = steer_add_endpoint(b, "e10", NULL, 0, NULL, 0, "target.example.", false, 0, 0, 1);
    uint32_t p3e[] = {e[8], e[9]}, p4e[] = {e[0], e[5], e[9], e[6]};
    uint32_t p3 = steer_add_pool(b, "p3", p3e, 2, 2, -1);
    uint32_t p2 = steer_add_pool(b, "p2", &e[5], 3, 1, -1);
    uint32_t p1 = steer_add_pool(b, "p1", &e[3], 2, 1, (int32_t)p2);
    uint32_t p0 = steer_add_pool(b, "p0", &e[0], 3, 2, (int32_t)p1);
    uint32_t p4 = steer_add_pool(b, "p4", p4e, 4, 2, (int32_t)p3);
    uint32_t p5 = steer_add_pool(b, "p5", &e[10], 1, 1, -1);
    static const steer_type_t types[] = {STEER_ALL,        STEER_RANDOM, STEER_WEIGHTED,
                                         STEER_HASHED,     STEER_CHASH,  STEER_FAILOVER,
                                         STEER_MULTIVALUE, STEER_GEO,    STEER_PROXIMITY};
    static const steer_down_t downs[] = {STEER_DOWN_ALL, STEER_DOWN_FIRST, STEER_DOWN_POOL,
                                         STEER_DOWN_EMPTY};
    static const uint8_t hv4[] = {24, 20, 32, 0}, hv6[] = {56, 48, 64, 0};
    static const int32_t bias[] = {0, 800, -300};
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
        for (size_t k = 0; k < 4; k++) {
            char name[16];
            snprintf(name, sizeof(name), "t%zu-d%zu", t, k);
            uint32_t single[1] = {k % 2 ? p0 : p4}, fo[3] = {p0, p4, p2}, near[3] = {p0, p4, p1};
            bool multi = types[t] == STEER_FAILOVER || types[t] == STEER_PROXIMITY;
            steer_policy_def_t def = {
                .name = name,
                .type = types[t],
                .ttl = 10 + (uint32_t)(t * 4 + k),
                .all_down = downs[k],
                .all_down_pool = downs[k] == STEER_DOWN_POOL ? (int32_t)p3 : -1,
                .pools = types[t] == STEER_FAILOVER    ? fo
                         : types[t] == STEER_PROXIMITY ? near
                         : types[t] == STEER_GEO       ? (uint32_t[]){p0}
                                                       : single,
                .npools = multi ? 3 - (k == 3) : 1,
                .max = (uint32_t)k,
                .hash_v4 = hv4[k],
                .hash_v6 = hv6[k],
                .bias_km = k == 1 ? NULL : bias,
                .nearest = (uint32_t)k,
                .default_pool = k == 2 ? p1 : p2,
            };
            uint32_t pi = steer_add_policy(b, &def);
            if (types[t] != STEER_GEO)
                continue;
            uint8_t n4[16] = {10, 1, 2, 0}, n6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 5};
            steer_add_rule(b, pi, STEER_KEY_CIDR, NULL, 0, AF_INET, n4, 24, p4);
            steer_add_rule(b, pi, STEER_KEY_CIDR, NULL, 0, AF_INET6, n6, 48, p3);
            steer_add_rule(b, pi, STEER_KEY_ASN, NULL, 64500, 0, NULL, 0, p0);
            steer_add_rule(b, pi, STEER_KEY_COUNTRY, "DE", 0, 0, NULL, 0, p1);
            steer_add_rule(b, pi, STEER_KEY_SUBDIVISION, "DE-BY", 0, 0, NULL, 0, p3);
            steer_add_rule(b, pi, STEER_KEY_CONTINENT, "AS", 0, 0, NULL, 0, k == 3 ? p5 : p4);
        }
    return steer_build(b, country, asn);
}

typedef struct {
    uint8_t state[11];
    int64_t until[11];
    int64_t now;
    unsigned down; /* bit e: endpoint e DOWN */
    bool no_health;
} pin_adm_t;

START_TEST(test_decisions_pinned)
{
    char cpath[] = "/tmp/gs-steer-pin-c.XXXXXX", apath[] = "/tmp/gs-steer-pin-a.XXXXXX";
    close(mkstemp(cpath));
    close(mkstemp(apath));
    pin_databases(cpath, apath);
    geo_db_t *country, *asn;
    gs_err_t err;
    ck_assert_int_eq(geo_db_open(cpath, &country, &err), 0);
    ck_assert_int_eq(geo_db_open(apath, &asn, &err), 0);
    static const struct {
        const char *rr, *remote;
    } clients[] = {
        {"10.5.0.1/32", "192.0.2.53"},
        {"10.9.1.0/24", "192.0.2.53"},
        {"10.1.5.1/32", "192.0.2.53"},
        {"10.1.2.77/32", "192.0.2.53"},
        {"172.16.3.0/24", "192.0.2.53"},
        {"172.21.0.0/16", "192.0.2.53"},
        {"192.0.2.1/32", "192.0.2.53"},
        {"0.0.0.0/0", "172.16.9.9"},
        {"::/0", "10.5.0.9"},
        {"2001:db8:5:1::/64", "192.0.2.53"},
        {"2001:db8:77::/48", "192.0.2.53"},
        {"2001:db8:99::/40", "192.0.2.53"},
    };
    static const uint64_t rnds[] = {0, 1, 0x9e3779b97f4a7c15ull, 12345678901ull};
    static const pin_adm_t adms[] = {
        {.no_health = true},
        {.down = 0},
        {.down = 1u << 1},
        {.down = 7},
        {.down = 0x7ff},
        {.down = 0xfe}, /* failover: p0's whole chain out, p4 healthy */
        {.state =
             {[5] = STEER_ADMIN_DRAIN, [9] = STEER_ADMIN_FORCE_DOWN, [1] = STEER_ADMIN_FORCE_UP},
         .down = (1u << 1) | (1u << 3) | (1u << 4)},
        {.state = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, .down = 0x7ff},
        {.state = {[0] = STEER_ADMIN_DRAIN, [8] = STEER_ADMIN_FORCE_DOWN},
         .until = {[0] = 5, [8] = 50},
         .now = 10,
         .down = 1u << 2},
    };
    steer_t *s = pin_engine(country, asn);
    buf_t text;
    buf_init(&text);
    const uint32_t npol = 36; /* 9 types x 4 all-down rules, in that order */
    ck_assert_int_eq(steer_policy_find(s, "t8-d3", 5), (int32_t)npol - 1);
    for (uint32_t pi = 0; pi < npol; pi++) {
        buf_printf(&text, "policy %s type %s ttl %u qtypes %u uses", steer_policy_name(s, pi),
                   steer_policy_type_name(s, pi), steer_policy_ttl(s, pi),
                   steer_policy_qtypes(s, pi));
        for (uint32_t e = 0; e < steer_endpoint_count(s); e++)
            if (steer_policy_uses(s, pi, e))
                buf_printf(&text, " %u", e);
        buf_putc(&text, '\n');
        for (size_t ci = 0; ci < sizeof(clients) / sizeof(clients[0]); ci++) {
            steer_client_t c;
            ck_assert_int_eq(steer_client_parse(clients[ci].rr, strlen(clients[ci].rr),
                                                clients[ci].remote, strlen(clients[ci].remote), &c),
                             0);
            for (size_t ai = 0; ai < sizeof(adms) / sizeof(adms[0]); ai++) {
                const pin_adm_t *pa = &adms[ai];
                unsigned down = pa->down;
                steer_admin_t adm = {
                    pa->state, pa->until, 11, pa->now, pa->no_health ? NULL : mask_down, &down};
                for (size_t ri = 0; ri < sizeof(rnds) / sizeof(rnds[0]); ri++) {
                    steer_decision_t d;
                    steer_decide_admin(s, pi, &c, rnds[ri], ai ? &adm : NULL, &d);
                    buf_printf(&text,
                               "%s c%zu a%zu r%zu: ttl %u scope %u split %d depth %u pool %d "
                               "why '%s' all_down %d picks",
                               steer_policy_name(s, pi), ci, ai, ri, d.ttl, d.scope, d.split,
                               d.depth, d.pool == UINT32_MAX ? -1 : (int)d.pool,
                               d.why ? d.why : "-", d.all_down);
                    for (uint16_t i = 0; i < d.n; i++)
                        buf_printf(&text, " %u", d.picks[i]);
                    buf_putc(&text, '\n');
                }
            }
        }
    }
    const char *dump = getenv("GS_STEER_DUMP");
    if (dump) {
        FILE *f = fopen(dump, "w");
        ck_assert_ptr_nonnull(f);
        fwrite(text.data, 1, text.len, f);
        fclose(f);
    }
    uint64_t digest = gs_fnv64(text.data, text.len);
    ck_assert_msg(digest == 0x90e17343cb70156bull, "decisions digest %#018llx over %zu bytes",
                  (unsigned long long)digest, text.len);
    buf_free(&text);
    steer_free(s);
    geo_db_close(country);
    geo_db_close(asn);
    unlink(cpath);
    unlink(apath);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("steer");
    TCase *tc = tcase_create("steer");
    tcase_add_test(tc, test_client_parse);
    tcase_add_test(tc, test_all_and_qtypes);
    tcase_add_test(tc, test_random_weighted);
    tcase_add_test(tc, test_hashed_sticky);
    tcase_add_test(tc, test_consistent_hash_minimal_remap);
    tcase_add_test(tc, test_failover_multivalue);
    tcase_add_test(tc, test_geo_cidr_scope);
    tcase_add_test(tc, test_admin_overrides);
    tcase_add_test(tc, test_health_down);
    tcase_add_test(tc, test_geo_asn_country_cidr);
    tcase_add_test(tc, test_pool_fallback_every_type);
    tcase_add_test(tc, test_all_down_every_candidate);
    tcase_add_test(tc, test_chash_weights);
    tcase_add_test(tc, test_many_addresses);
    tcase_add_test(tc, test_scope_families);
    tcase_add_test(tc, test_decisions_pinned);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
