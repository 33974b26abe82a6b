/* Unit tests for backend/steering/luaeval.c: answers and ECS scopes of compiled
 * LUA-record programs, without a network (a GeoIP database written by our
 * own writer for the geo conditions). */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/steering/luaeval.h"
#include "common/hstate.h"
#include "geo/mmdb_writer.h"
#include "unit.h"

static luac_prog_t *prog(const char *content)
{
    luac_prog_t *p = NULL;
    gs_err_t err;
    ck_assert_msg(luac_compile(content, &p, &err) == 0, "%s: %s", content, err.text);
    return p;
}

static steer_client_t client(const char *rr)
{
    steer_client_t c;
    ck_assert_int_eq(steer_client_parse(rr, strlen(rr), "192.0.2.53", 10, &c), 0);
    return c;
}

/* Evaluates `p` for `rr` with random value `rnd` and health `state` (NULL:
 * all up); "v1 v2 | scope N". */
static const char *run_with(const luac_prog_t *p, const char *rr, uint64_t rnd, const geo_db_t *geo,
                            int (*state)(const void *, uint64_t))
{
    static char text[512];
    steer_client_t c = client(rr);
    luae_env_t env = {.client = &c, .geo = geo, .rnd = rnd, .check_state = state};
    luae_result_t res;
    luae_eval(p, &env, &res);
    size_t off = 0;
    text[0] = '\0';
    for (size_t i = 0; i < res.n; i++)
        off += (size_t)snprintf(text + off, sizeof(text) - off, "%s%s", i ? " " : "", res.vals[i]);
    snprintf(text + off, sizeof(text) - off, " | scope %u", res.scope);
    return text;
}

static const char *run(const luac_prog_t *p, const char *rr, uint64_t rnd, const geo_db_t *geo)
{
    return run_with(p, rr, rnd, geo, NULL);
}

START_TEST(test_client_independent)
{
    luac_prog_t *p = prog("A \"all({'192.0.2.1', '192.0.2.2'})\"");
    ck_assert_str_eq(run(p, "203.0.113.0/24", 1, NULL), "192.0.2.1 192.0.2.2 | scope 0");
    luac_free(p);
    p = prog("A \";return '192.0.2.9'\"");
    ck_assert_str_eq(run(p, "203.0.113.0/24", 1, NULL), "192.0.2.9 | scope 0");
    luac_free(p);
    p = prog("TXT \"pickrandom({'say \\\\\\\"hi\\\\\\\"'})\"");
    ck_assert_str_eq(run(p, "203.0.113.0/24", 1, NULL), "\"say \\\"hi\\\"\" | scope 0");
    luac_free(p);

    /* pickrandom: every value, uniformly; pickwrandom: by weight. */
    p = prog("A \"pickrandom({'192.0.2.1', '192.0.2.2', '192.0.2.3'})\"");
    luac_prog_t *w = prog("A \"pickwrandom({{1, '192.0.2.1'}, {3, '192.0.2.2'}})\"");
    int seen[3] = {0}, heavy = 0;
    for (uint64_t r = 0; r < 4000; r++) {
        const char *t = run(p, "203.0.113.0/24", steer_mix64(r), NULL);
        seen[t[8] - '1']++;
        ck_assert(strstr(t, "| scope 0"));
        heavy += strncmp(run(w, "203.0.113.0/24", steer_mix64(r), NULL), "192.0.2.2", 9) == 0;
    }
    for (int i = 0; i < 3; i++)
        ck_assert_msg(seen[i] > 1200 && seen[i] < 1467, "value %d seen %d times", i, seen[i]);
    ck_assert_msg(heavy > 2800 && heavy < 3200, "weight 3 of 4 picked %d of 4000", heavy);
    luac_free(p);
    luac_free(w);

    p = prog("A \"pickrandomsample(2, {'192.0.2.1', '192.0.2.2', '192.0.2.3'})\"");
    for (uint64_t r = 0; r < 50; r++) {
        const char *t = run(p, "203.0.113.0/24", steer_mix64(r), NULL);
        ck_assert_uint_eq(strlen(t), strlen("192.0.2.x 192.0.2.y | scope 0"));
        ck_assert_int_ne(t[8], t[18]);
    }
    luac_free(p);
}
END_TEST

START_TEST(test_hashed)
{
    luac_prog_t *p = prog("A \"pickhashed({'192.0.2.1', '192.0.2.2', '192.0.2.3'})\"");
    char a[64], b[64];
    snprintf(a, sizeof(a), "%s", run(p, "198.51.100.0/24", 1, NULL));
    snprintf(b, sizeof(b), "%s", run(p, "198.51.100.77/32", 2, NULL));
    ck_assert_str_eq(a, b); /* the same /24, whatever the random value */
    ck_assert(strstr(a, "| scope 24"));
    ck_assert(strstr(run(p, "2001:db8:1:2::/64", 1, NULL), "| scope 56"));
    luac_free(p);

    /* pdns's own hash of bestwho: picks read off pdns_server 4.7.3 with
     * enable-lua-records for these ECS sources (kdig +subnet). A /32 source
     * is hashed as its /24 here; pdns 4.7 picked 192.0.2.3 for 10.1.2.77/32. */
    p = prog("A \"pickhashed({'192.0.2.1','192.0.2.2','192.0.2.3','192.0.2.4','192.0.2.5'})\"");
    ck_assert_str_eq(run(p, "10.1.2.0/24", 1, NULL), "192.0.2.1 | scope 24");
    ck_assert_str_eq(run(p, "10.1.3.0/24", 1, NULL), "192.0.2.4 | scope 24");
    ck_assert_str_eq(run(p, "10.200.3.0/24", 1, NULL), "192.0.2.1 | scope 24");
    ck_assert_str_eq(run(p, "10.1.2.77/32", 1, NULL), "192.0.2.1 | scope 24");
    ck_assert_str_eq(run(p, "2001:db8:1:200::/56", 1, NULL), "192.0.2.4 | scope 56");
    luac_free(p);
    /* pickwhashed: pdns 4.7 walks this list backwards (the iteration order
     * of its C++ hash map), so its picks are those of the reversed list. */
    p = prog("A \"pickwhashed({{2,'192.0.2.3'},{3,'192.0.2.2'},{1,'192.0.2.1'}})\"");
    ck_assert_str_eq(run(p, "10.1.2.0/24", 1, NULL), "192.0.2.2 | scope 24");
    ck_assert_str_eq(run(p, "10.1.3.0/24", 1, NULL), "192.0.2.3 | scope 24");
    ck_assert_str_eq(run(p, "10.200.3.0/24", 1, NULL), "192.0.2.2 | scope 24");
    luac_free(p);

    /* pickchashed: dropping a value moves only the clients it had. */
    luac_prog_t *three =
        prog("A \"pickchashed({{1,'192.0.2.1'},{1,'192.0.2.2'},{1,'192.0.2.3'}})\"");
    luac_prog_t *two = prog("A \"pickchashed({{1,'192.0.2.1'},{1,'192.0.2.2'}})\"");
    int moved = 0, had3 = 0;
    for (unsigned i = 0; i < 2000; i++) {
        char rr[32];
        snprintf(rr, sizeof(rr), "10.%u.%u.0/24", i / 256, i % 256);
        snprintf(a, sizeof(a), "%s", run(three, rr, 0, NULL));
        snprintf(b, sizeof(b), "%s", run(two, rr, 0, NULL));
        if (a[8] == '3')
            had3++;
        else
            moved += strcmp(a, b) != 0;
    }
    ck_assert_int_eq(moved, 0);
    ck_assert_msg(had3 > 500 && had3 < 830, "value 3 had %d of 2000 clients", had3);
    luac_free(three);
    luac_free(two);
}
END_TEST

START_TEST(test_netmask_and_view)
{
    luac_prog_t *p = prog("A \";if netmask({'10.0.0.0/8', '2001:db8::/32'}) then return "
                          "'192.0.2.1' else return '192.0.2.2' end\"");
    ck_assert_str_eq(run(p, "10.1.2.0/24", 0, NULL), "192.0.2.1 | scope 8");
    /* 11.x shares 7 bits with 10/8: one more bit decides */
    ck_assert_str_eq(run(p, "11.0.0.0/24", 0, NULL), "192.0.2.2 | scope 8");
    ck_assert_str_eq(run(p, "192.168.1.0/24", 0, NULL), "192.0.2.2 | scope 1");
    ck_assert_str_eq(run(p, "2001:db8:ffff::/48", 0, NULL), "192.0.2.1 | scope 32");
    luac_free(p);

    /* A /28 rule: the decision changes inside the /24, still capped at /24. */
    p = prog("A \";if netmask('203.0.113.16/28') then return '192.0.2.1' end\"");
    ck_assert_str_eq(run(p, "203.0.113.16/32", 0, NULL), "192.0.2.1 | scope 24");
    ck_assert_str_eq(run(p, "203.0.113.0/32", 0, NULL), " | scope 24");
    luac_free(p);

    /* view: the first rule in order wins, not the longest prefix. */
    p = prog("A \"view({{{'10.0.0.0/8'}, {'192.0.2.1'}}, {{'10.1.0.0/16'}, {'192.0.2.2'}}, "
             "{{'0.0.0.0/0'}, {'192.0.2.3'}}})\"");
    ck_assert_str_eq(run(p, "10.1.0.0/24", 0, NULL), "192.0.2.1 | scope 8");
    ck_assert_str_eq(run(p, "172.16.0.0/24", 0, NULL), "192.0.2.3 | scope 1");
    luac_free(p);
    /* No arm for IPv6 clients, while IPv4 clients in 10/8 get data: the
     * empty answer depends on the family, so its scope is not 0. */
    p = prog("A \"view({{{'10.0.0.0/8'}, {'192.0.2.1'}}})\"");
    ck_assert_str_eq(run(p, "2001:db8::/48", 0, NULL), " | scope 1");
    luac_free(p);
    /* The intranet view: IPv6 clients fall to the catch-all arm,
     * which some IPv4 clients (10/8) do not: never scope 0. */
    p = prog("A \"view({{{'10.0.0.0/8'}, {'10.10.10.10'}}, {{'192.168.0.0/16'}, "
             "{'192.168.1.10'}}, {{'0.0.0.0/0', '::/0'}, {'192.0.2.80'}}})\"");
    ck_assert_str_eq(run(p, "2001:db8:2::/48", 0, NULL), "192.0.2.80 | scope 1");
    ck_assert_str_eq(run(p, "10.20.31.0/24", 0, NULL), "10.10.10.10 | scope 8");
    luac_free(p);
    /* Both families wholly in one arm: the same for everyone. */
    p = prog("A \"view({{{'0.0.0.0/0', '::/0'}, {'192.0.2.80'}}})\"");
    ck_assert_str_eq(run(p, "2001:db8:2::/48", 0, NULL), "192.0.2.80 | scope 0");
    ck_assert_str_eq(run(p, "10.20.31.0/24", 0, NULL), "192.0.2.80 | scope 0");
    luac_free(p);

    /* and/or/not evaluate left to right; only what was evaluated counts. */
    p = prog("A \";if netmask('10.0.0.0/8') and not netmask('10.9.0.0/16') then return "
             "'192.0.2.1' end\"");
    ck_assert_str_eq(run(p, "10.1.0.0/24", 0, NULL), "192.0.2.1 | scope 13");
    ck_assert_str_eq(run(p, "10.9.0.0/24", 0, NULL), " | scope 16");
    ck_assert_str_eq(run(p, "192.168.0.0/24", 0, NULL), " | scope 1");
    luac_free(p);
}
END_TEST

/* Health: a set of DOWN check ids stands in for the probe. */
static uint64_t down_ids[8];
static size_t ndown;

static int fake_state(const void *ctx, uint64_t id)
{
    (void)ctx;
    for (size_t i = 0; i < ndown; i++)
        if (down_ids[i] == id)
            return HSTATE_DOWN;
    return HSTATE_UP;
}

static const char *run_health(const luac_prog_t *p, uint64_t rnd)
{
    return run_with(p, "203.0.113.0/24", rnd, NULL, fake_state);
}

/* ifportup: the selector over the live addresses of the first set that has
 * one; none alive: the backupSelector over every set. Checks are one
 * per address, with stable ids that the plan carries. */
START_TEST(test_health)
{
    luac_prog_t *p = prog("A \"ifportup(443, {{'192.0.2.1', '192.0.2.2'}, {'192.0.2.3'}}, "
                          "{selector='all', backupSelector='all'})\"");
    const luac_sel_t *s = &p->branches[0].sel;
    uint64_t a1 = s->sets[0].items[0].check, a2 = s->sets[0].items[1].check,
             a3 = s->sets[1].items[0].check;
    ck_assert(a1 && a2 && a3 && a1 != a2 && a2 != a3);
    ndown = 0;
    ck_assert_str_eq(run_health(p, 0), "192.0.2.1 192.0.2.2 | scope 0");
    down_ids[ndown++] = a1;
    ck_assert_str_eq(run_health(p, 0), "192.0.2.2 | scope 0");
    down_ids[ndown++] = a2;
    ck_assert_str_eq(run_health(p, 0), "192.0.2.3 | scope 0");
    down_ids[ndown++] = a3;
    /* all down: the backupSelector over every set, as pdns 4.7 does */
    ck_assert_str_eq(run_health(p, 0), "192.0.2.1 192.0.2.2 192.0.2.3 | scope 0");

    plan_t plan = {0};
    ck_assert_uint_eq(luac_plan_checks(p, &plan, "www LUA"), 3);
    plan_finish(&plan);
    ck_assert_uint_eq(plan.n, 3);
    ck_assert_int_ge(plan_find(&plan, a1), 0);
    ck_assert_int_eq(plan.checks[plan_find(&plan, a3)].type, PLAN_TCP);
    ck_assert_uint_eq(plan.checks[plan_find(&plan, a3)].port, 443);
    plan_free(&plan);
    luac_free(p);

    /* ifurlup: the URL's host, port and path, pinned to each address. */
    p = prog("A \"ifurlup('https://www.example.com:8443/hc?x=1', {'192.0.2.1'}, "
             "{stringmatch='OK', interval=10, timeout=3, minimumFailures=2})\"");
    plan_t up = {0};
    ck_assert_uint_eq(luac_plan_checks(p, &up, "x"), 1);
    const plan_check_t *c = &up.checks[0];
    ck_assert_int_eq(c->type, PLAN_HTTPS);
    ck_assert_uint_eq(c->port, 8443);
    ck_assert_str_eq(c->host, "www.example.com");
    ck_assert_str_eq(c->path, "/hc?x=1");
    ck_assert_str_eq(c->body, "OK");
    ck_assert_uint_eq(c->expect[0][0], 200);
    ck_assert_uint_eq(c->interval_ms, 10000);
    ck_assert_uint_eq(c->timeout_ms, 3000);
    ck_assert_uint_eq(c->fall, 2);
    ck_assert_uint_eq(c->rise, 1);
    ndown = 0;
    down_ids[ndown++] = c->id;
    ck_assert_str_eq(run_health(p, 0), "192.0.2.1 | scope 0"); /* backup: random */
    plan_free(&up);
    luac_free(p);

    /* The ifurlup with two sets, both down: the default random
     * backupSelector draws from both sets, not only the first. */
    p = prog("A \"ifurlup('http://www.example.com/health', {{'127.0.1.3'}, {'127.0.1.6'}}, "
             "{stringmatch='OK'})\"");
    ndown = 0;
    down_ids[ndown++] = p->branches[0].sel.sets[0].items[0].check;
    down_ids[ndown++] = p->branches[0].sel.sets[1].items[0].check;
    int seen3 = 0, seen6 = 0;
    for (uint64_t r = 0; r < 200; r++) {
        const char *t = run_health(p, steer_mix64(r));
        seen3 += strcmp(t, "127.0.1.3 | scope 0") == 0;
        seen6 += strcmp(t, "127.0.1.6 | scope 0") == 0;
    }
    ck_assert_int_eq(seen3 + seen6, 200);
    ck_assert_msg(seen3 > 50 && seen6 > 50, "backup picks: .3 %d, .6 %d", seen3, seen6);
    luac_free(p);
    ndown = 0;
}
END_TEST

/* A database with DE (Frankfurt) and US (New York) networks of both
 * families: 10.8.0.0/13 and 192.0.2.0/24 DE, 10.16.0.0/12 and
 * 198.51.100.0/24 US, 2001:db8:100::/40 DE, 2001:db8:200::/40 US. */
static geo_db_t *fixture_db(char *path)
{
    close(mkstemp(path));
    mmdbw_t *w = mmdbw_new();
    const struct {
        const char *lo, *hi, *cc, *cont;
        double lat, lon;
    } nets[] = {
        {"10.8.0.0", "10.15.255.255", "DE", "EU", 50.1, 8.7},
        {"10.16.0.0", "10.31.255.255", "US", "NA", 40.7, -74.0},
        {"192.0.2.0", "192.0.2.255", "DE", "EU", 50.1, 8.7},
        {"198.51.100.0", "198.51.100.255", "US", "NA", 40.7, -74.0},
        {"2001:db8:100::", "2001:db8:1ff:ffff:ffff:ffff:ffff:ffff", "DE", "EU", 50.1, 8.7},
        {"2001:db8:200::", "2001:db8:2ff:ffff:ffff:ffff:ffff:ffff", "US", "NA", 40.7, -74.0}};
    for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++) {
        mmdbw_buf_t rec = {0};
        mmdbw_put_map(&rec, 3);
        mmdbw_put_str(&rec, "continent");
        mmdbw_put_map(&rec, 1);
        mmdbw_put_str(&rec, "code");
        mmdbw_put_str(&rec, nets[i].cont);
        mmdbw_put_str(&rec, "country");
        mmdbw_put_map(&rec, 1);
        mmdbw_put_str(&rec, "iso_code");
        mmdbw_put_str(&rec, nets[i].cc);
        mmdbw_put_str(&rec, "location");
        mmdbw_put_map(&rec, 2);
        mmdbw_put_str(&rec, "latitude");
        mmdbw_put_double(&rec, nets[i].lat);
        mmdbw_put_str(&rec, "longitude");
        mmdbw_put_double(&rec, nets[i].lon);
        uint32_t data = mmdbw_data(w, rec.data, rec.len);
        uint8_t lo[16] = {0}, hi[16] = {0};
        if (inet_pton(AF_INET, nets[i].lo, lo) == 1) {
            inet_pton(AF_INET, nets[i].hi, hi);
            mmdbw_insert_range4(w, (uint32_t)lo[0] << 24 | lo[1] << 16 | lo[2] << 8 | lo[3],
                                (uint32_t)hi[0] << 24 | hi[1] << 16 | hi[2] << 8 | hi[3], data);
        } else {
            inet_pton(AF_INET6, nets[i].lo, lo);
            inet_pton(AF_INET6, nets[i].hi, hi);
            mmdbw_insert_range6(w, lo, hi, data);
        }
        mmdbw_buf_free(&rec);
    }
    mmdbw_meta_t meta = {.database_type = "GeoSteer-Test", .description = "unit test"};
    gs_err_t err;
    ck_assert_int_eq(mmdbw_write(w, path, &meta, NULL, &err), 0);
    mmdbw_free(w);
    geo_db_t *db;
    ck_assert_int_eq(geo_db_open(path, &db, &err), 0);
    return db;
}

/* The scope rule as a property (issue 10, point 1): over programs covering
 * every construct and a steer() of every policy type, and clients of both
 * families (ECS sources and ECS /0 decided on a resolver), any answer given
 * at scope 0 must be the answer of every client. */
static const char *const property_programs[] = {
    "A \"'192.0.2.9'\"",
    "A \"all({'192.0.2.1', '192.0.2.2'})\"",
    "A \"pickrandom({'192.0.2.1', '192.0.2.2', '192.0.2.3'})\"",
    "A \"pickrandomsample(2, {'192.0.2.1', '192.0.2.2', '192.0.2.3'})\"",
    "A \"pickwrandom({{1, '192.0.2.1'}, {3, '192.0.2.2'}})\"",
    "A \"pickhashed({'192.0.2.1', '192.0.2.2', '192.0.2.3'})\"",
    "A \"pickhashed({'192.0.2.1'})\"",
    "A \"pickwhashed({{1, '192.0.2.1'}, {3, '192.0.2.2'}})\"",
    "A \"pickchashed({{1, '192.0.2.1'}, {3, '192.0.2.2'}})\"",
    "A \"pickclosest({'192.0.2.10', '198.51.100.10'})\"",
    "A \"view({{{'10.0.0.0/8'}, {'10.10.10.10'}}, {{'192.168.0.0/16'}, {'192.168.1.10'}}, "
    "{{'0.0.0.0/0', '::/0'}, {'192.0.2.80'}}})\"",
    "A \"view({{{'192.168.0.0/16'}, {'192.168.1.54'}}, {{'0.0.0.0/0'}, {'192.0.2.1'}}})\"",
    "A \"view({{{'0.0.0.0/0', '::/0'}, {'192.0.2.80'}}})\"",
    "A \"view({{{'2001:db8:1::/48'}, {'192.0.2.1'}}, {{'::/0'}, {'192.0.2.2'}}})\"",
    "A \";if netmask({'10.0.0.0/8'}) then return '192.0.2.1' else return '192.0.2.2' end\"",
    "A \";if netmask({'2001:db8::/32'}) then return '192.0.2.1' else return '192.0.2.2' end\"",
    "A \";if netmask({'0.0.0.0/0'}) then return '192.0.2.1' else return '192.0.2.2' end\"",
    "A \";if not netmask({'::/0'}) then return '192.0.2.1' end\"",
    "A \";if country('DE') then return '192.0.2.1' elseif continent('NA') then return "
    "'192.0.2.2' else return '192.0.2.3' end\"",
    "A \";if region('BY') then return '192.0.2.1' else return '192.0.2.3' end\"",
    "A \";if asnum(64500) then return '192.0.2.1' else return '192.0.2.3' end\"",
    "A \"ifportup(443, {'192.0.2.1', '192.0.2.2'})\"",
    "A \"ifportup(443, {'192.0.2.1', '192.0.2.2'}, {selector='hashed'})\"",
    "A \"ifportup(443, {'192.0.2.1', '192.0.2.2'}, {selector='pickclosest'})\"",
    "A \"ifportup(5481, {'127.0.1.250'}, {backupSelector='empty'})\"",
    "A \"ifurlup('http://x.example/', {{'127.0.1.3'}, {'127.0.1.6'}}, {backupSelector='all'})\"",
    "A \"steer('all')\"",
    "A \"steer('random')\"",
    "A \"steer('weighted')\"",
    "A \"steer('hashed')\"",
    "A \"steer('chash')\"",
    "A \"steer('failover')\"",
    "A \"steer('multivalue')\"",
    "A \"steer('geo4')\"",
    "A \"steer('geo6')\"",
    "A \"steer('geocc')\"",
    "A \"steer('proximity')\"",
    "A \"steer('empty')\"",
    "A \";if netmask({'10.0.0.0/8'}) then return steer('geo6') else return steer('all') end\"",
};

/* One policy of every type over endpoints a (192.0.2.1), b (.2), c (.3). */
static steer_t *property_engine(const geo_db_t *db)
{
    steer_builder_t *b = steer_builder_new();
    const char *addr[][1] = {{"192.0.2.1"}, {"192.0.2.2"}, {"192.0.2.3"}};
    uint32_t e[3];
    for (int i = 0; i < 3; i++)
        e[i] = steer_add_endpoint(b,
                                  i == 0   ? "a"
                                  : i == 1 ? "b"
                                           : "c",
                                  addr[i], 1, NULL, 0, NULL, true, i == 0 ? 50.1 : 40.7,
                                  i == 0 ? 8.7 : -74.0 + i, 1);
    uint32_t pa = steer_add_pool(b, "pa", &e[0], 1, 1, -1);
    uint32_t pb = steer_add_pool(b, "pb", &e[1], 1, 1, -1);
    uint32_t pc = steer_add_pool(b, "pc", &e[2], 1, 1, -1);
    uint32_t pall = steer_add_pool(b, "pall", e, 3, 1, -1);
    uint32_t two[2] = {pa, pb};
    static const struct {
        const char *name;
        steer_type_t type;
    } types[] = {{"all", STEER_ALL},
                 {"random", STEER_RANDOM},
                 {"weighted", STEER_WEIGHTED},
                 {"hashed", STEER_HASHED},
                 {"chash", STEER_CHASH},
                 {"failover", STEER_FAILOVER},
                 {"multivalue", STEER_MULTIVALUE},
                 {"proximity", STEER_PROXIMITY}};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        bool many = types[i].type == STEER_FAILOVER || types[i].type == STEER_PROXIMITY;
        steer_policy_def_t def = {.name = types[i].name,
                                  .type = types[i].type,
                                  .ttl = 30,
                                  .pools = many ? two : &pall,
                                  .npools = many ? 2 : 1,
                                  .max = 2,
                                  .hash_v4 = 24,
                                  .hash_v6 = 56,
                                  .nearest = 1};
        steer_add_policy(b, &def);
    }
    steer_policy_def_t g = {.name = "geo4",
                            .type = STEER_GEO,
                            .ttl = 30,
                            .pools = &pa,
                            .npools = 1,
                            .default_pool = pa};
    uint32_t g4 = steer_add_policy(b, &g);
    uint8_t n4[16] = {10}, n6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1};
    steer_add_rule(b, g4, STEER_KEY_CIDR, NULL, 0, AF_INET, n4, 8, pb);
    g.name = "geo6";
    uint32_t g6 = steer_add_policy(b, &g);
    steer_add_rule(b, g6, STEER_KEY_CIDR, NULL, 0, AF_INET6, n6, 48, pb);
    g.name = "geocc";
    uint32_t gc = steer_add_policy(b, &g);
    steer_add_rule(b, gc, STEER_KEY_COUNTRY, "DE", 0, 0, NULL, 0, pb);
    g.name = "empty";
    g.all_down = STEER_DOWN_EMPTY;
    g.pools = &pc;
    g.default_pool = pc;
    steer_add_policy(b, &g);
    return steer_build(b, db, NULL);
}

/* c is DOWN (so "empty" answers nothing), and so are the if*up targets
 * 127.0.1.250 and 127.0.1.3/.6 (by check id: every id is DOWN except
 * those of 192.0.2.x). */
static bool prop_ep_down(const void *ctx, uint32_t e)
{
    (void)ctx;
    return e == 2;
}

static int prop_check_state(const void *ctx, uint64_t id)
{
    const uint64_t *up = ctx;
    for (size_t i = 0; up[i]; i++)
        if (up[i] == id)
            return HSTATE_UP;
    return HSTATE_DOWN;
}

START_TEST(test_scope_property)
{
    char path[] = "/tmp/gs-luaeval-prop.XXXXXX";
    geo_db_t *db = fixture_db(path);
    steer_t *st = property_engine(db);
    /* Clients: ECS sources of both families inside and outside every
     * network above, a spread over the address space, and ECS /0 from
     * resolvers of both families. */
    char clients[700][48], remotes[700][48];
    size_t nc = 0;
    static const char *const fixed[] = {
        "10.20.31.0/24",      "10.8.1.0/24",       "10.17.0.0/24",      "192.168.1.0/24",
        "192.0.2.0/24",       "198.51.100.0/24",   "172.16.0.0/24",     "2001:db8:1::/48",
        "2001:db8:2::/48",    "2001:db8:100::/48", "2001:db8:200::/48", "2001:db8::/48",
        "::ffff:10.1.2.3/128"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        snprintf(clients[nc], sizeof(clients[nc]), "%s", fixed[i]);
        snprintf(remotes[nc++], sizeof(remotes[0]), "192.0.2.53");
    }
    for (unsigned i = 0; i < 300; i++) {
        snprintf(clients[nc], sizeof(clients[nc]), "%u.%u.%u.0/24", i % 224, (i * 37) % 256,
                 (i * 101) % 256);
        snprintf(remotes[nc++], sizeof(remotes[0]), "192.0.2.53");
        snprintf(clients[nc], sizeof(clients[nc]), "%x:%x:%x::/48", 0x2000 + (i * 977) % 0x2000,
                 (i * 131) % 0x10000, i);
        snprintf(remotes[nc++], sizeof(remotes[0]), "192.0.2.53");
    }
    static const char *const zero[][2] = {
        {"0.0.0.0/0", "10.9.9.9"}, {"::/0", "10.9.9.9"},     {"0.0.0.0/0", "2001:db8:1::5"},
        {"::/0", "2001:db8:1::5"}, {"::/0", "198.51.100.7"}, {"0.0.0.0/0", "172.16.0.1"}};
    for (size_t i = 0; i < 6; i++) {
        snprintf(clients[nc], sizeof(clients[nc]), "%s", zero[i][0]);
        snprintf(remotes[nc++], sizeof(remotes[0]), "%s", zero[i][1]);
    }
    static char answers[700][128];
    static uint8_t scopes[700];
    uint8_t state[3] = {0};
    int64_t until[3] = {0};
    steer_admin_t adm = {state, until, 3, 0, prop_ep_down, NULL};
    for (size_t k = 0; k < sizeof(property_programs) / sizeof(property_programs[0]); k++) {
        luac_prog_t *p = prog(property_programs[k]);
        uint64_t up[16] = {0};
        size_t nup = 0;
        for (size_t br = 0; br < p->nbranches; br++)
            for (size_t si = 0; si < p->branches[br].sel.nsets; si++)
                for (size_t it = 0; it < p->branches[br].sel.sets[si].n; it++) {
                    const luac_item_t *item = &p->branches[br].sel.sets[si].items[it];
                    if (item->check && strncmp(item->value, "192.0.2.", 8) == 0 && nup < 15)
                        up[nup++] = item->check;
                }
        for (size_t i = 0; i < nc; i++) {
            steer_client_t c;
            if (steer_client_parse(clients[i], strlen(clients[i]), remotes[i], strlen(remotes[i]),
                                   &c) != 0)
                ck_abort_msg("client %s remote %s does not parse", clients[i], remotes[i]);
            luae_env_t env = {.client = &c,
                              .geo = db,
                              .rnd = 77,
                              .steer = st,
                              .admin = &adm,
                              .check_state = prop_check_state,
                              .check_ctx = up};
            luae_result_t res;
            luae_eval(p, &env, &res);
            size_t off = 0;
            answers[i][0] = '\0';
            for (size_t v = 0; v < res.n; v++)
                off += (size_t)snprintf(answers[i] + off, sizeof(answers[i]) - off, "%s ",
                                        res.vals[v]);
            for (uint16_t v = 0; res.steered && v < res.sd.n; v++)
                off += (size_t)snprintf(answers[i] + off, sizeof(answers[i]) - off, "%s ",
                                        steer_endpoint_name(st, res.sd.picks[v]));
            scopes[i] = res.scope;
        }
        /* (every assertion costs check a write: one per program) */
        size_t bad_i = nc, bad_j = nc;
        for (size_t i = 0; i < nc && bad_i == nc; i++)
            for (size_t j = 0; scopes[i] == 0 && j < nc && bad_i == nc; j++)
                if (strcmp(answers[i], answers[j]) != 0) {
                    bad_i = i;
                    bad_j = j;
                }
        ck_assert_msg(bad_i == nc,
                      "%s: %s (remote %s) got [%s] at scope 0 but %s (remote %s) gets [%s]",
                      property_programs[k], clients[bad_i], remotes[bad_i], answers[bad_i],
                      clients[bad_j], remotes[bad_j], answers[bad_j]);
        luac_free(p);
    }
    steer_free(st);
    geo_db_close(db);
    unlink(path);
}
END_TEST

/* country/continent/pickclosest over fixture_db. */
START_TEST(test_geo)
{
    char path[] = "/tmp/gs-luaeval.XXXXXX";
    geo_db_t *db = fixture_db(path);

    luac_prog_t *p = prog("A \";if country('DE') then return '192.0.2.1' elseif "
                          "continent({'NA', 'SA'}) then return '198.51.100.1' else return "
                          "'203.0.113.1' end\"");
    ck_assert_str_eq(run(p, "10.8.1.0/24", 0, db), "192.0.2.1 | scope 13");
    ck_assert_str_eq(run(p, "10.17.0.0/24", 0, db), "198.51.100.1 | scope 12");
    ck_assert_str_eq(run(p, "10.0.0.0/24", 0, NULL), "203.0.113.1 | scope 0"); /* no database */
    const char *t = run(p, "172.16.0.0/24", 0, db);
    ck_assert_msg(strncmp(t, "203.0.113.1 | scope ", 20) == 0 && atoi(t + 20) >= 1, "%s", t);
    luac_free(p);

    /* pickclosest: the address nearest to the client, by the database. */
    p = prog("A \"pickclosest({'192.0.2.10', '198.51.100.10'})\"");
    ck_assert_str_eq(run(p, "10.8.1.0/24", 0, db), "192.0.2.10 | scope 13");
    ck_assert_str_eq(run(p, "10.17.0.0/24", 0, db), "198.51.100.10 | scope 12");
    luac_free(p);
    geo_db_close(db);
    unlink(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("luaeval");
    TCase *tc = tcase_create("eval");
    tcase_add_test(tc, test_client_independent);
    tcase_add_test(tc, test_hashed);
    tcase_add_test(tc, test_netmask_and_view);
    tcase_add_test(tc, test_geo);
    tcase_add_test(tc, test_health);
    tcase_add_test(tc, test_scope_property);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
