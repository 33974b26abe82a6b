/* common/metrics (per-thread shards, label sets folded across a switch)
 * and backend/steering/steer_stats (the series of steering decisions). */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/steering/steer.h"
#include "backend/steering/steer_stats.h"
#include "common/metrics.h"
#include "geo/geodb.h"
#include "geo/geoip_build.h"

typedef struct {
    unsigned family;
    char text[128];
    uint64_t value;
} seen_t;

typedef struct {
    seen_t v[64];
    size_t n;
} seen_list_t;

static void collect(void *ctx, unsigned family, const char *labels, uint64_t value)
{
    seen_list_t *l = ctx;
    ck_assert_uint_lt(l->n, 64);
    l->v[l->n].family = family;
    snprintf(l->v[l->n].text, sizeof(l->v[l->n].text), "%s", labels);
    l->v[l->n].value = value;
    l->n++;
}

/* The total of series (family, text) in the last read; 0 if absent. */
static uint64_t series(unsigned family, const char *text)
{
    seen_list_t l = {0};
    metrics_read_series(collect, &l);
    for (size_t i = 0; i < l.n; i++)
        if (l.v[i].family == family && strcmp(l.v[i].text, text) == 0)
            return l.v[i].value;
    return 0;
}

static uint64_t fixed(unsigned id)
{
    uint64_t f[METRICS_FIXED_MAX];
    metrics_read_fixed(f);
    return f[id];
}

START_TEST(test_fixed_sum)
{
    metrics_reset();
    metrics_shard_t *a = metrics_shard_new(), *b = metrics_shard_new();
    metrics_add(a, 3, 5);
    metrics_add(b, 3, 7);
    metrics_count(3, 11);
    ck_assert_uint_eq(fixed(3), 23);
    metrics_shard_retire(a); /* its counts stay */
    ck_assert_uint_eq(fixed(3), 23);
    metrics_add(b, 3, 1);
    metrics_set(4, 42);
    metrics_set(4, 40); /* a gauge */
    ck_assert_uint_eq(fixed(3), 24);
    ck_assert_uint_eq(fixed(4), 40);
    metrics_shard_retire(b);
    metrics_shard_retire(NULL);
    ck_assert_uint_eq(fixed(3), 24);
}
END_TEST

/* A reload replaces the label set: a series in both keeps counting from
 * where it was; one only in the old set keeps its total; one never
 * counted does not appear. */
START_TEST(test_label_switch)
{
    metrics_reset();
    metrics_labels_t *l1 = metrics_labels_new(3), *l2 = metrics_labels_new(2);
    metrics_labels_name(l1, 0, 1, "a=\"x\"");
    metrics_labels_name(l1, 1, 1, "a=\"old\"");
    metrics_labels_name(l1, 2, 2, "a=\"never\"");
    metrics_labels_name(l2, 0, 1, "a=\"new\"");
    metrics_labels_name(l2, 1, 1, "a=\"x\"");
    metrics_shard_t *sh = metrics_shard_new(), *other = metrics_shard_new();
    metrics_dyn_add(metrics_shard_dyn(sh, l1), 0, 4);
    metrics_dyn_add(metrics_shard_dyn(sh, l1), 1, 2);
    metrics_dyn_add(metrics_shard_dyn(other, l1), 0, 1);
    ck_assert_uint_eq(series(1, "a=\"x\""), 5);
    metrics_dyn_add(metrics_shard_dyn(sh, l2), 1, 10); /* switches */
    metrics_labels_release(l1); /* the writer's reference: `other` keeps l1 alive */
    ck_assert_uint_eq(series(1, "a=\"x\""), 15);
    ck_assert_uint_eq(series(1, "a=\"old\""), 2);
    ck_assert_uint_eq(series(1, "a=\"new\""), 0);
    ck_assert_uint_eq(series(2, "a=\"never\""), 0);
    metrics_dyn_add(metrics_shard_dyn(other, l1), 0, 1);
    metrics_shard_retire(other);
    metrics_dyn_add(metrics_shard_dyn(sh, l2), 0, 3);
    ck_assert_uint_eq(series(1, "a=\"x\""), 16);
    ck_assert_uint_eq(series(1, "a=\"new\""), 3);
    metrics_shard_retire(sh);
    metrics_labels_release(l2);
    ck_assert_uint_eq(series(1, "a=\"x\""), 16);
    seen_list_t l = {0};
    metrics_read_series(collect, &l);
    ck_assert_uint_eq(l.n, 3); /* x, old, new */
}
END_TEST

/* Threads count without locks while a reader sums; nothing is lost. */
#define THREADS 4
#define PER_THREAD 200000
static metrics_labels_t *race_labels;

static void *counter_thread(void *arg)
{
    (void)arg;
    metrics_shard_t *sh = metrics_shard_new();
    for (int i = 0; i < PER_THREAD; i++) {
        metrics_add(sh, 7, 1);
        metrics_dyn_add(metrics_shard_dyn(sh, race_labels), 0, 1);
    }
    metrics_shard_retire(sh);
    return NULL;
}

START_TEST(test_concurrent)
{
    metrics_reset();
    race_labels = metrics_labels_new(1);
    metrics_labels_name(race_labels, 0, 1, "r=\"1\"");
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, counter_thread, NULL);
    uint64_t last = 0;
    for (int i = 0; i < 200; i++) {
        uint64_t now = fixed(7);
        ck_assert_uint_ge(now, last); /* never goes down while read */
        last = now;
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    ck_assert_uint_eq(fixed(7), (uint64_t)THREADS * PER_THREAD);
    ck_assert_uint_eq(series(1, "r=\"1\""), (uint64_t)THREADS * PER_THREAD);
    metrics_labels_release(race_labels);
}
END_TEST

/* A failover policy over p0 = {e0, e1} falling back to p1 = {e2}: each
 * pool's decisions and answers land in their own series, the all-down
 * rule's in pool "". */
START_TEST(test_steer_series)
{
    metrics_reset();
    steer_builder_t *b = steer_builder_new();
    const char *a[][1] = {{"192.0.2.10"}, {"192.0.2.11"}, {"192.0.2.12"}, {"192.0.2.13"}};
    uint32_t e[4];
    for (int i = 0; i < 4; i++) {
        char name[8];
        snprintf(name, sizeof(name), "e%d", i);
        e[i] = steer_add_endpoint(b, name, a[i], 1, NULL, 0, NULL, false, 0, 0, 1);
    }
    uint32_t pools[2];
    pools[1] = steer_add_pool(b, "p1", &e[2], 1, 1, -1);
    pools[0] = steer_add_pool(b, "p0", e, 2, 1, -1);
    steer_add_pool(b, "unused", &e[3], 1, 1, -1);
    steer_policy_def_t def = {
        .name = "fo", .type = STEER_FAILOVER, .ttl = 30, .pools = pools, .npools = 2};
    uint32_t pi = steer_add_policy(b, &def);
    steer_t *st = steer_build(b, NULL, NULL);
    steer_stats_t *m = steer_stats_new(st, NULL);
    metrics_shard_t *sh = metrics_shard_new();
    _Atomic uint64_t *dyn = metrics_shard_dyn(sh, steer_stats_labels(m));
    steer_client_t c;
    ck_assert_int_eq(steer_client_parse("203.0.113.0/24", 14, "192.0.2.1", 9, &c), 0);
    steer_decision_t d;
    steer_decide(st, pi, &c, 1, &d);
    ck_assert_uint_eq(steer_stats_count(m, dyn, pi, &d, steer_stats_continent("EU")), 0);
    ck_assert_uint_eq(series(STEER_FAM_DECISIONS, "policy=\"fo\",continent=\"EU\",pool=\"p0\""), 1);
    ck_assert_uint_eq(series(STEER_FAM_ANSWERS, "policy=\"fo\",pool=\"p0\",endpoint=\"e0\""), 1);
    ck_assert_uint_eq(series(STEER_FAM_ANSWERS, "policy=\"fo\",pool=\"p0\",endpoint=\"e1\""), 1);
    /* p0 down: the fallback pool answers */
    steer_admin_t adm = {0};
    uint8_t state[4] = {STEER_ADMIN_FORCE_DOWN, STEER_ADMIN_FORCE_DOWN, 0, 0};
    int64_t until[4] = {0};
    adm.state = state;
    adm.until = until;
    adm.n = 4;
    steer_decide_admin(st, pi, &c, 1, &adm, &d);
    ck_assert_uint_eq(steer_stats_count(m, dyn, pi, &d, 0), 0);
    ck_assert_uint_eq(series(STEER_FAM_DECISIONS, "policy=\"fo\",continent=\"\",pool=\"p1\""), 1);
    ck_assert_uint_eq(series(STEER_FAM_ANSWERS, "policy=\"fo\",pool=\"p1\",endpoint=\"e2\""), 1);
    /* everything down: the all-down rule answers over several pools */
    state[2] = STEER_ADMIN_FORCE_DOWN;
    steer_decide_admin(st, pi, &c, 1, &adm, &d);
    ck_assert(d.all_down);
    ck_assert_uint_eq(steer_stats_count(m, dyn, pi, &d, 4), 0);
    ck_assert_uint_eq(series(STEER_FAM_DECISIONS, "policy=\"fo\",continent=\"EU\",pool=\"\""), 1);
    ck_assert_uint_eq(series(STEER_FAM_ANSWERS, "policy=\"fo\",pool=\"\",endpoint=\"e2\""), 1);
    /* a pool the policy cannot use has no series; a foreign decision
     * is reported, not counted */
    ck_assert_uint_eq(series(STEER_FAM_ANSWERS, "policy=\"fo\",pool=\"unused\",endpoint=\"e3\""),
                      0);
    d.pool = 2; /* "unused" */
    ck_assert_uint_gt(steer_stats_count(m, dyn, pi, &d, 0), 0);
    ck_assert_uint_eq(steer_stats_continent("XX"), 0);
    ck_assert_uint_eq(steer_stats_continent("E"), 0);
    metrics_shard_retire(sh);
    steer_stats_free(m);
    steer_free(st);
}
END_TEST

/* The continent behind the decision counters is the database's: random
 * ranges of countries on every continent (many /16s and /20s mixed, so the
 * first-level tables and the tree both answer), then 300,000 random
 * addresses of each family looked up both ways. */
START_TEST(test_client_continent)
{
    static const char *const cc[] = {"DE", "US", "JP", "BR", "AU", "ZA", "AQ", "FR", "CN", "CA"};
    char dir[] = "/tmp/check_metrics.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char v4[300], v6[300], db[300];
    snprintf(v4, sizeof(v4), "%s/geoip", dir);
    snprintf(v6, sizeof(v6), "%s/geoip6", dir);
    snprintf(db, sizeof(db), "%s/geo.mmdb", dir);
    FILE *f4 = fopen(v4, "w"), *f6 = fopen(v6, "w");
    ck_assert(f4 && f6);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    uint32_t lo = 1u << 24;
    while (lo < 0xdf000000u) { /* runs of 2^8 .. 2^22 addresses */
        x = steer_mix64(x + 1);
        uint32_t len = 1u << (8 + x % 15);
        fprintf(f4, "%u,%u,%s\n", lo, lo + len - 1, cc[(x >> 8) % 10]);
        lo += len + (uint32_t)((x >> 16) % 3 == 0 ? len : 0);
    }
    for (uint32_t a = 0x2000; a < 0x2c00; a += 1 + (uint32_t)(x % 7)) {
        x = steer_mix64(x + 1);
        fprintf(f6, "%x:%x::,%x:%x:ffff:ffff:ffff:ffff:ffff:ffff,%s\n", a, (unsigned)(x & 0xfff0),
                a, (unsigned)(x & 0xfff0) | 0xf, cc[(x >> 20) % 10]);
    }
    fclose(f4);
    fclose(f6);
    geo_build_stats_t st;
    gs_err_t err;
    ck_assert_msg(geo_build_country_db(v4, v6, db, &st, &err) == 0, "%s", err.text);
    geo_db_t *g;
    ck_assert_msg(geo_db_open(db, &g, &err) == 0, "%s", err.text);
    steer_stats_t *m = steer_stats_new(NULL, g);
    steer_cont_cache_t *cache = calloc(1, sizeof(*cache));
    size_t known = 0;
    for (int i = 0; i < 600000; i++) {
        x = steer_mix64(x + (uint64_t)i);
        steer_client_t c = {.family = i % 2 ? AF_INET6 : AF_INET};
        struct sockaddr_storage ss = {0};
        if (c.family == AF_INET) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            s4->sin_family = AF_INET;
            memcpy(&s4->sin_addr, &x, 4);
            memcpy(c.addr, &x, 4);
        } else {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            s6->sin6_family = AF_INET6;
            uint64_t y = steer_mix64(x);
            c.addr[0] = 0x20 | (uint8_t)(x & 0x0b); /* 2000::/4 .. 2bff:: */
            memcpy(c.addr + 1, (uint8_t *)&x + 1, 7);
            memcpy(c.addr + 8, &y, 8);
            memcpy(&s6->sin6_addr, c.addr, 16);
        }
        geo_result_t r;
        unsigned want = geo_db_lookup(g, (struct sockaddr *)&ss, &r) == 0
                            ? steer_stats_continent(r.continent)
                            : 0;
        known += want != 0;
        ck_assert_uint_eq(steer_stats_client_continent(m, &c), want);
        /* through the cache: a miss, then a hit, both right; IPv6 keys
         * with host bits (i % 4 == 3) bypass it */
        if (c.family == AF_INET6 && i % 4 != 3)
            memset(c.addr + 8, 0, 8), want = steer_stats_client_continent(m, &c);
        ck_assert_uint_eq(steer_stats_client_continent_cached(m, cache, &c), want);
        ck_assert_uint_eq(steer_stats_client_continent_cached(m, cache, &c), want);
    }
    ck_assert_uint_gt(known, 100000);
    /* a new label set clears the cache: an address answered by the old one
     * is looked up again (here in an engine without a database: 0) */
    steer_client_t de = {.family = AF_INET};
    for (int i = 0; i < 4096 && steer_stats_client_continent_cached(m, cache, &de) == 0; i++)
        de.addr[1] = (uint8_t)i, de.addr[0] = (uint8_t)(i >> 8);
    ck_assert_uint_ne(steer_stats_client_continent_cached(m, cache, &de), 0);
    steer_stats_t *empty = steer_stats_new(NULL, NULL);
    ck_assert_uint_eq(steer_stats_client_continent_cached(empty, cache, &de), 0);
    steer_stats_free(empty);
    free(cache);
    steer_stats_free(m);
    geo_db_close(g);
    unlink(v4);
    unlink(v6);
    unlink(db);
    rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_fixed_sum);
    tcase_add_test(tc, test_label_switch);
    tcase_add_test(tc, test_concurrent);
    tcase_add_test(tc, test_steer_series);
    tcase_add_test(tc, test_client_continent);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
