/* Unit tests for backend/steering/config.c: the compiled model of
 * examples/geosteer-full.json (indexes, parsed addresses, defaults), the
 * name lookups, and that a failed load leaves the config untouched. The
 * error texts themselves are pinned by test/config/invalid/. */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "backend/steering/config.h"
#include "backend/steering/config_schema.h"
#include "common/err.h"
#include "test/unit/unit.h"

static cfg_t cfg;

/* examples/geosteer-full.json, from $GS_SOURCE_DIR or next to this file. */
static void example_path(char *out, size_t n)
{
    const char *src = getenv("GS_SOURCE_DIR");
    if (src && *src) {
        snprintf(out, n, "%s/examples/geosteer-full.json", src);
        return;
    }
    const char *slash = strrchr(__FILE__, '/');
    int dirlen = slash ? (int)(slash - __FILE__) : 1;
    snprintf(out, n, "%.*s/../../examples/geosteer-full.json", dirlen, slash ? __FILE__ : ".");
}

static void setup(void)
{
    char path[PATH_MAX];
    buf_t errors;
    example_path(path, sizeof(path));
    buf_init(&errors);
    cfg_defaults(&cfg);
    int rc = cfg_load(path, &cfg, &errors);
    ck_assert_msg(rc == 0, "cfg_load(%s): %s", path, errors.data ? errors.data : "");
    buf_free(&errors);
}

static void teardown(void)
{
    cfg_free(&cfg);
}

static void assert_v4(const struct in_addr *a, const char *text)
{
    struct in_addr want;
    ck_assert_int_eq(inet_pton(AF_INET, text, &want), 1);
    ck_assert_int_eq(a->s_addr, want.s_addr);
}

static void assert_v6(const struct in6_addr *a, const char *text)
{
    struct in6_addr want;
    ck_assert_int_eq(inet_pton(AF_INET6, text, &want), 1);
    ck_assert_mem_eq(a, &want, sizeof(want));
}

static int pool(const char *name)
{
    int i = cfg_pool_index(&cfg, name);
    ck_assert_msg(i >= 0, "pool %s", name);
    return i;
}

START_TEST(test_counts_and_settings)
{
    ck_assert_uint_eq(cfg.nmonitors, 4);
    ck_assert_uint_eq(cfg.nendpoints, 9);
    ck_assert_uint_eq(cfg.npools, 6);
    ck_assert_uint_eq(cfg.npolicies, 9);
    ck_assert_str_eq(cfg.socket, "/run/geosteer/backend.sock");
    ck_assert_str_eq(cfg.geoip_database, "/var/lib/geosteer/GeoLite2-City.mmdb");
    ck_assert_str_eq(cfg.geoip_asn_database, "/var/lib/geosteer/GeoLite2-ASN.mmdb");
    ck_assert_uint_eq(cfg.geoip_max_age_days, 45);
    ck_assert_uint_eq(cfg.socket_mode, 0660);
    ck_assert_str_eq(cfg.runtime_dir, "/run/geosteer"); /* set in the example */
    ck_assert_uint_eq(cfg.probe_max_in_flight, 256);
    ck_assert_double_eq(cfg.probe_heartbeat, 1);
    ck_assert_uint_eq(cfg.health_stale_after, 3);
    ck_assert_double_eq(cfg.health_grace, 30);
    ck_assert_int_eq(cfg.health_stale_rule, CFG_STALE_IGNORE);
    ck_assert_str_eq(cfg.pdns_control_socket, "/run/pdns/pdns.controlsocket");
}
END_TEST

START_TEST(test_monitors)
{
    const cfg_monitor_t *m = cfg_monitor_find(&cfg, "web");
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->type, CFG_MON_HTTPS);
    ck_assert_uint_eq(m->port, 443);
    ck_assert_str_eq(m->path, "/healthz");
    ck_assert_str_eq(m->host, "www.example.com");
    ck_assert_uint_eq(m->nexpect, 2);
    ck_assert_uint_eq(m->expect[0][0], 200);
    ck_assert_uint_eq(m->expect[0][1], 200);
    ck_assert_uint_eq(m->expect[1][0], 204);
    ck_assert_uint_eq(m->expect[1][1], 204);
    ck_assert_str_eq(m->body, "ok");
    ck_assert_str_eq(m->ca_file, "/etc/ssl/certs/ca-certificates.crt");
    ck_assert_uint_eq(m->body_max, 1024);
    ck_assert_uint_eq(m->nheaders, 2);
    ck_assert_str_eq(m->headers[0].name, "User-Agent");
    ck_assert_str_eq(m->headers[1].value, "1");
    ck_assert_double_eq(m->interval, 5);
    ck_assert_double_eq(m->timeout, 2.5);
    ck_assert(!m->insecure);

    /* Defaults of an https monitor with almost nothing set. */
    m = cfg_monitor_find(&cfg, "web-staging");
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->port, 443);
    ck_assert_str_eq(m->path, "/");
    ck_assert_ptr_null(m->host);
    ck_assert_uint_eq(m->nexpect, 1);
    ck_assert_uint_eq(m->expect[0][0], 200); /* "2xx" */
    ck_assert_uint_eq(m->expect[0][1], 299);
    ck_assert_ptr_null(m->body);
    ck_assert_uint_eq(m->body_max, 4096);
    ck_assert_uint_eq(m->nheaders, 0);
    ck_assert_double_eq(m->interval, 30);
    ck_assert_double_eq(m->timeout, 5); /* min(5, interval / 2) */
    ck_assert_uint_eq(m->rise, 3);
    ck_assert_uint_eq(m->fall, 3);
    ck_assert(m->insecure);

    m = cfg_monitor_find(&cfg, "plain-http");
    ck_assert_int_eq(m->type, CFG_MON_HTTP);
    ck_assert_uint_eq(m->port, 8080);
    ck_assert_str_eq(m->path, "/status");

    m = cfg_monitor_find(&cfg, "smtp");
    ck_assert_int_eq(m->type, CFG_MON_TCP);
    ck_assert_uint_eq(m->port, 25);
    ck_assert_ptr_null(m->path);
    ck_assert_uint_eq(m->nexpect, 0);
    ck_assert_uint_eq(m->rise, 1);
    ck_assert_uint_eq(m->fall, 2);
    ck_assert_str_eq(cfg_monitor_type_name(m->type), "tcp");
}
END_TEST

START_TEST(test_endpoints)
{
    const cfg_endpoint_t *e = cfg_endpoint_find(&cfg, "fra-01");
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->na, 2);
    assert_v4(&e->a[0], "192.0.2.10");
    assert_v4(&e->a[1], "192.0.2.11");
    ck_assert_uint_eq(e->naaaa, 1);
    assert_v6(&e->aaaa[0], "2001:db8:10::10");
    ck_assert_ptr_null(e->cname);
    ck_assert(e->has_location);
    ck_assert_double_eq_tol(e->lat, 50.11, 1e-9);
    ck_assert_double_eq_tol(e->lon, 8.68, 1e-9);
    ck_assert_uint_eq(e->weight, 100);
    ck_assert_int_eq(e->monitor, cfg_monitor_index(&cfg, "web"));
    ck_assert_int_eq(e->probe_family, 0);

    e = cfg_endpoint_find(&cfg, "iad-01");
    ck_assert_int_eq(e->probe_family, AF_INET);
    assert_v4((const struct in_addr *)(const void *)e->probe_addr, "10.20.0.10");
    ck_assert_double_eq_tol(e->lon, -77.45, 1e-9);

    e = cfg_endpoint_find(&cfg, "sin-01");
    ck_assert_uint_eq(e->na, 0);
    ck_assert_uint_eq(e->naaaa, 1);
    ck_assert_int_eq(e->monitor, cfg_monitor_index(&cfg, "plain-http"));

    e = cfg_endpoint_find(&cfg, "cdn");
    ck_assert_str_eq(e->cname, "example.cdn.example.net.");
    ck_assert_uint_eq(e->na + e->naaaa, 0);
    ck_assert_uint_eq(e->weight, 0);

    /* Defaults. */
    e = cfg_endpoint_find(&cfg, "sorry");
    ck_assert_uint_eq(e->weight, 1);
    ck_assert_int_eq(e->monitor, -1);
    ck_assert(!e->has_location);
}
END_TEST

START_TEST(test_pools)
{
    const cfg_pool_t *p = cfg_pool_find(&cfg, "eu");
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(p->nendpoints, 2);
    ck_assert_int_eq(p->endpoints[0], cfg_endpoint_index(&cfg, "fra-01"));
    ck_assert_int_eq(p->endpoints[1], cfg_endpoint_index(&cfg, "ams-01"));
    ck_assert_uint_eq(p->min_healthy, 1);
    ck_assert_int_eq(p->fallback, pool("us"));
    ck_assert_int_eq(cfg.pools[p->fallback].fallback, pool("global"));

    p = cfg_pool_find(&cfg, "global");
    ck_assert_uint_eq(p->nendpoints, 4);
    ck_assert_int_eq(p->endpoints[3], cfg_endpoint_index(&cfg, "cdn"));
    ck_assert_uint_eq(p->min_healthy, 2);
    ck_assert_int_eq(p->fallback, -1);
}
END_TEST

START_TEST(test_policy_geo)
{
    const cfg_policy_t *p = cfg_policy_find(&cfg, "www");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(p->type, CFG_POLICY_GEO);
    ck_assert_uint_eq(p->ttl, 60);
    ck_assert_int_eq(p->all_down, CFG_ALL_DOWN_POOL);
    ck_assert_int_eq(p->all_down_pool, pool("sorry"));
    ck_assert_int_eq(p->default_pool, pool("global"));
    ck_assert_int_eq(p->pool, -1);
    /* 2 cidr + 1 asn + 2 subdivisions + 3 countries + 1 + 2 + 2 continents */
    ck_assert_uint_eq(p->nrules, 13);

    const cfg_geo_rule_t *r = p->rules;
    uint8_t net[16];
    ck_assert_int_eq(r[0].key, CFG_GEO_CIDR);
    ck_assert_int_eq(r[0].u.cidr.family, AF_INET);
    ck_assert_uint_eq(r[0].u.cidr.len, 24);
    inet_pton(AF_INET, "198.51.100.0", net);
    ck_assert_mem_eq(r[0].u.cidr.addr, net, 4);
    ck_assert_int_eq(r[0].pool, pool("us"));
    ck_assert_uint_eq(r[0].rule, 0);
    ck_assert_int_eq(r[1].u.cidr.family, AF_INET6);
    ck_assert_uint_eq(r[1].u.cidr.len, 48);
    inet_pton(AF_INET6, "2001:db8:ffff::", net);
    ck_assert_mem_eq(r[1].u.cidr.addr, net, 16);
    ck_assert_uint_eq(r[1].rule, 0);

    ck_assert_int_eq(r[2].key, CFG_GEO_ASN);
    ck_assert_uint_eq(r[2].u.asn, 3320);
    ck_assert_int_eq(r[2].pool, pool("eu"));
    ck_assert_uint_eq(r[2].rule, 1);

    ck_assert_int_eq(r[3].key, CFG_GEO_SUBDIVISION);
    ck_assert_str_eq(r[3].u.code, "US-CA");
    ck_assert_str_eq(r[4].u.code, "US-WA");
    ck_assert_int_eq(r[5].key, CFG_GEO_COUNTRY);
    ck_assert_str_eq(r[5].u.code, "DE");
    ck_assert_str_eq(r[7].u.code, "CH");
    ck_assert_uint_eq(r[7].rule, 3);
    ck_assert_int_eq(r[8].key, CFG_GEO_CONTINENT);
    ck_assert_str_eq(r[8].u.code, "EU");
    ck_assert_str_eq(r[12].u.code, "OC");
    ck_assert_int_eq(r[12].pool, pool("asia"));
    ck_assert_uint_eq(r[12].rule, 6);
    ck_assert_str_eq(cfg_geo_key_name(r[12].key), "continent");
}
END_TEST

START_TEST(test_policy_proximity_failover)
{
    const cfg_policy_t *p = cfg_policy_find(&cfg, "near");
    ck_assert_int_eq(p->type, CFG_POLICY_PROXIMITY);
    ck_assert_uint_eq(p->npools, 3);
    ck_assert_int_eq(p->pools[0], pool("eu"));
    ck_assert_int_eq(p->pools[2], pool("asia"));
    ck_assert_double_eq(p->bias[0], 0);
    ck_assert_double_eq(p->bias[1], -100.5);
    ck_assert_double_eq(p->bias[2], 500);
    ck_assert_uint_eq(p->nearest, 2);
    ck_assert_int_eq(p->all_down, CFG_ALL_DOWN_ALL);
    ck_assert_int_eq(p->all_down_pool, -1);

    p = cfg_policy_find(&cfg, "api");
    ck_assert_int_eq(p->type, CFG_POLICY_FAILOVER);
    ck_assert_uint_eq(p->npools, 3);
    ck_assert_int_eq(p->pools[0], pool("eu"));
    ck_assert_int_eq(p->pools[1], pool("us"));
    ck_assert_int_eq(p->pools[2], pool("sorry"));
    ck_assert_ptr_null(p->bias);
    ck_assert_int_eq(p->all_down, CFG_ALL_DOWN_FIRST);
    ck_assert_uint_eq(p->ttl, 30);
}
END_TEST

START_TEST(test_policy_single_pool)
{
    const cfg_policy_t *p = cfg_policy_find(&cfg, "static");
    ck_assert_int_eq(p->type, CFG_POLICY_WEIGHTED);
    ck_assert_int_eq(p->pool, pool("global"));
    ck_assert_uint_eq(p->ttl, 300);

    p = cfg_policy_find(&cfg, "login");
    ck_assert_int_eq(p->type, CFG_POLICY_HASHED);
    ck_assert_uint_eq(p->hash_prefix_v4, 24);
    ck_assert_uint_eq(p->hash_prefix_v6, 48);

    p = cfg_policy_find(&cfg, "cache");
    ck_assert_int_eq(p->type, CFG_POLICY_CONSISTENT_HASH);
    ck_assert_str_eq(cfg_policy_type_name(p->type), "consistent-hash");
    ck_assert_uint_eq(p->hash_prefix_v4, 24);
    ck_assert_uint_eq(p->hash_prefix_v6, 56);

    p = cfg_policy_find(&cfg, "mail");
    ck_assert_int_eq(p->type, CFG_POLICY_MULTIVALUE);
    ck_assert_int_eq(p->pool, pool("mail"));
    ck_assert_uint_eq(p->max, 2);

    p = cfg_policy_find(&cfg, "img");
    ck_assert_int_eq(p->type, CFG_POLICY_RANDOM);
    ck_assert_uint_eq(p->ttl, 30);
    ck_assert_int_eq(p->all_down, CFG_ALL_DOWN_ALL);

    p = cfg_policy_find(&cfg, "status");
    ck_assert_int_eq(p->type, CFG_POLICY_ALL);
    ck_assert_uint_eq(p->ttl, 0);
    ck_assert_int_eq(p->all_down, CFG_ALL_DOWN_EMPTY);
}
END_TEST

START_TEST(test_lookups)
{
    for (size_t i = 0; i < cfg.nmonitors; i++)
        ck_assert_int_eq(cfg_monitor_index(&cfg, cfg.monitors[i].name), (int)i);
    for (size_t i = 0; i < cfg.nendpoints; i++)
        ck_assert_ptr_eq(cfg_endpoint_find(&cfg, cfg.endpoints[i].name), &cfg.endpoints[i]);
    for (size_t i = 0; i < cfg.npools; i++)
        ck_assert_int_eq(cfg_pool_index(&cfg, cfg.pools[i].name), (int)i);
    for (size_t i = 0; i < cfg.npolicies; i++)
        ck_assert_ptr_eq(cfg_policy_find(&cfg, cfg.policies[i].name), &cfg.policies[i]);
    /* Names are per kind: "mail" is both a pool and a policy. */
    ck_assert_ptr_nonnull(cfg_pool_find(&cfg, "mail"));
    ck_assert_ptr_nonnull(cfg_policy_find(&cfg, "mail"));
    ck_assert_ptr_null(cfg_policy_find(&cfg, "eu"));
    ck_assert_ptr_null(cfg_pool_find(&cfg, ""));
    ck_assert_int_eq(cfg_endpoint_index(&cfg, "nope"), -1);
}
END_TEST

/* A failed load reports every error and leaves the loaded config as it was. */
START_TEST(test_failed_load_keeps_cfg)
{
    char path[] = "/tmp/gs-cfg.XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *text = "{\"settings\": {\"socket\": \"/other.sock\"},\n"
                       " \"pools\": {\"p\": {\"endpoints\": [\"x\"], \"min_healthy\": 0}}}\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    buf_t errors;
    buf_init(&errors);
    ck_assert_int_eq(cfg_load(path, &cfg, &errors), GS_ECONFIG);
    unlink(path);
    ck_assert_ptr_nonnull(strstr(errors.data, "pools.p.endpoints[0]: unknown endpoint \"x\""));
    ck_assert_ptr_nonnull(strstr(errors.data, "pools.p.min_healthy: must be an integer in 1..64"));
    buf_free(&errors);
    ck_assert_str_eq(cfg.socket, "/run/geosteer/backend.sock");
    ck_assert_uint_eq(cfg.npools, 6);
    ck_assert_ptr_nonnull(cfg_pool_find(&cfg, "eu"));
}
END_TEST

/* cfg_load_all (start-up, reload and both checks) fails on a file the
 * config names, after a clean cfg_load, and leaves the loaded config as it
 * was; without such files it loads like cfg_load. */
START_TEST(test_load_all_files)
{
    char path[] = "/tmp/gs-cfg.XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *text = "{\"settings\": {\"socket\": \"/other.sock\", \"geoip\": {\"database\": "
                       "\"/nonexistent/gs-test.mmdb\"}}}\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    buf_t errors;
    buf_init(&errors);
    cfg_t probe;
    cfg_defaults(&probe);
    ck_assert_int_eq(cfg_load(path, &probe, &errors), 0); /* the file itself is valid */
    cfg_free(&probe);
    cfg_files_t files = {NULL, NULL};
    ck_assert_int_eq(cfg_load_all(path, &cfg, &files, &errors), GS_ECONFIG);
    ck_assert_ptr_nonnull(
        strstr(errors.data, ": error: settings.geoip.database: /nonexistent/gs-test.mmdb"));
    ck_assert_ptr_null(files.geo);
    ck_assert_str_eq(cfg.socket, "/run/geosteer/backend.sock");
    ck_assert_uint_eq(cfg.npools, 6);

    /* The same file without the database: loads, replacing the config. */
    fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_ge(fd, 0);
    text = "{\"settings\": {\"socket\": \"/other.sock\"}}\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    buf_reset(&errors);
    ck_assert_int_eq(cfg_load_all(path, &cfg, NULL, &errors), 0);
    ck_assert_str_eq(cfg.socket, "/other.sock");
    ck_assert_uint_eq(cfg.npools, 0);
    unlink(path);
    buf_free(&errors);
}
END_TEST

/* Settings-only configs still load, with no steering objects. */
START_TEST(test_defaults_only)
{
    cfg_t c;
    cfg_defaults(&c);
    ck_assert_uint_eq(c.npolicies, 0);
    ck_assert_ptr_null(c.geoip_database);
    ck_assert_uint_eq(c.geoip_max_age_days, 45);
    ck_assert_ptr_null(cfg_policy_find(&c, "www"));
    cfg_free(&c);
    cfg_free(&c); /* idempotent */
    cfg_free(NULL);
}
END_TEST

/* Loads `text` (a config) into `c` over the defaults; fails the test on errors. */
static void load_text(cfg_t *c, const char *text)
{
    char path[] = "/tmp/gs-cfg.XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    buf_t errors;
    buf_init(&errors);
    cfg_defaults(c);
    int rc = cfg_load(path, c, &errors);
    ck_assert_msg(rc == 0, "cfg_load: %s", errors.data ? errors.data : "");
    buf_free(&errors);
    unlink(path);
}

/* The defaults of objects that set nothing, as they were before the schema
 * rows held them: per type, and only for the types a key is valid for. */
START_TEST(test_object_defaults)
{
    cfg_t c;
    load_text(&c, "{\"monitors\": {\"t\": {\"type\": \"tcp\", \"port\": 25},"
                  " \"h\": {\"type\": \"http\"}, \"s\": {\"type\": \"https\", \"interval\": 4}},"
                  " \"endpoints\": {\"e\": {\"a\": [\"192.0.2.1\"]}},"
                  " \"pools\": {\"p\": {\"endpoints\": [\"e\"]}},"
                  " \"policies\": {\"m\": {\"type\": \"multivalue\", \"pool\": \"p\"},"
                  " \"x\": {\"type\": \"hashed\", \"pool\": \"p\"},"
                  " \"r\": {\"type\": \"random\", \"pool\": \"p\"}}}\n");
    const cfg_monitor_t *m = cfg_monitor_find(&c, "h");
    ck_assert_uint_eq(m->port, 80);
    ck_assert_str_eq(m->path, "/");
    ck_assert_uint_eq(m->nexpect, 1);
    ck_assert_uint_eq(m->expect[0][0], 200);
    ck_assert_uint_eq(m->expect[0][1], 299);
    ck_assert_uint_eq(m->body_max, 4096);
    ck_assert_double_eq(m->interval, 10);
    ck_assert_double_eq(m->timeout, 5);
    ck_assert_uint_eq(m->rise, 3);
    ck_assert_uint_eq(m->fall, 3);
    ck_assert(!m->insecure);
    m = cfg_monitor_find(&c, "s");
    ck_assert_uint_eq(m->port, 443);
    ck_assert_double_eq(m->timeout, 2); /* min(5, interval / 2) */
    m = cfg_monitor_find(&c, "t");
    ck_assert_ptr_null(m->path);
    ck_assert_uint_eq(m->nexpect, 0);
    ck_assert_double_eq(m->timeout, 5);
    ck_assert_uint_eq(cfg_endpoint_find(&c, "e")->weight, 1);
    ck_assert_uint_eq(cfg_pool_find(&c, "p")->min_healthy, 1);
    const cfg_policy_t *p = cfg_policy_find(&c, "m");
    ck_assert_uint_eq(p->ttl, 30);
    ck_assert_int_eq(p->all_down, CFG_ALL_DOWN_ALL);
    ck_assert_uint_eq(p->max, 8);
    ck_assert_uint_eq(p->hash_prefix_v4, 0);
    p = cfg_policy_find(&c, "x");
    ck_assert_uint_eq(p->hash_prefix_v4, 24);
    ck_assert_uint_eq(p->hash_prefix_v6, 56);
    ck_assert_uint_eq(p->max, 0);
    p = cfg_policy_find(&c, "r");
    ck_assert_uint_eq(p->max + p->nearest + p->hash_prefix_v4 + p->hash_prefix_v6, 0);
    cfg_free(&c);
}
END_TEST

/* cfg_defaults fills every settings row that has a default with the row's
 * value, and those values are the ones geosteer always had. */
START_TEST(test_settings_defaults)
{
    cfg_t c;
    cfg_defaults(&c);
    size_t checked = 0;
    for (size_t i = 0; i < cfg_nitems; i++) {
        const cfg_item_t *it = &cfg_items[i];
        if (it->obj > CFG_OBJ_HEALTH || !(it->flags & CFG_ITEM_DEFAULT) || !it->size)
            continue;
        const void *at = (const char *)&c + it->off;
        switch (it->kind) {
        case CFG_INT:
            ck_assert_msg(*(const unsigned *)at == (unsigned)it->def, "%s", it->path);
            break;
        case CFG_NUM:
            ck_assert_msg(*(const double *)at == it->def, "%s", it->path);
            break;
        case CFG_MODE:
            ck_assert_msg(*(const mode_t *)at == (mode_t)it->def, "%s", it->path);
            break;
        case CFG_ENUM:
            ck_assert_msg(*(const int *)at ==
                              (it->values ? it->values[(int)it->def] : (int)it->def),
                          "%s", it->path);
            break;
        case CFG_PATH:
        case CFG_STR:
            if (it->def_text)
                ck_assert_str_eq(*(char *const *)at, it->def_text);
            else
                ck_assert_ptr_null(*(char *const *)at);
            break;
        case CFG_BOOL:
            ck_assert_msg(*(const bool *)at == (it->def != 0), "%s", it->path);
            break;
        default:
            ck_abort_msg("%s: unexpected kind", it->path);
        }
        checked++;
    }
    ck_assert_uint_eq(checked, 18);
    ck_assert_str_eq(c.socket, "/run/geosteer/backend.sock");
    ck_assert_str_eq(c.zone_db, "/var/lib/geosteer/zones.db");
    ck_assert_uint_eq(c.socket_mode, 0660);
    ck_assert_uint_eq(c.max_connections, 256);
    ck_assert_int_eq(c.log_level, LOG_INFO);
    ck_assert_uint_eq(c.probe_max_in_flight, 256);
    ck_assert_double_eq(c.probe_heartbeat, 1);
    ck_assert_uint_eq(c.health_stale_after, 3);
    ck_assert_double_eq(c.health_grace, 30);
    ck_assert_int_eq(c.health_stale_rule, CFG_STALE_IGNORE);
    ck_assert_ptr_null(c.runtime_dir);
    cfg_free(&c);
}
END_TEST

/* The table itself: paths start with their object's prefix, keys are unique
 * per object, and cfg_item_find finds every row. */
START_TEST(test_schema_table)
{
    static const char *const prefix[] = {"settings.",
                                         "settings.geoip.",
                                         "settings.probe.",
                                         "settings.health.",
                                         "settings.decision_log.",
                                         "monitors.*.",
                                         "endpoints.*.",
                                         "pools.*.",
                                         "policies.*."};
    for (size_t i = 0; i < cfg_nitems; i++) {
        const cfg_item_t *it = &cfg_items[i];
        ck_assert_msg(strncmp(it->path, prefix[it->obj], strlen(prefix[it->obj])) == 0, "%s",
                      it->path);
        ck_assert_ptr_eq(cfg_item_find(it->path), it);
        ck_assert_msg(i == 0 || cfg_items[i - 1].obj <= it->obj, "%s: rows grouped by object",
                      it->path);
        if (it->obj == CFG_OBJ_SETTINGS)
            ck_assert_msg(strchr(cfg_item_key(it), '.') == NULL, "%s", it->path);
    }
    ck_assert_ptr_null(cfg_item_find("settings.nope"));
    ck_assert_str_eq(cfg_item_key(cfg_item_find("monitors.*.rise")), "rise");
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("example");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_counts_and_settings);
    tcase_add_test(tc, test_monitors);
    tcase_add_test(tc, test_endpoints);
    tcase_add_test(tc, test_pools);
    tcase_add_test(tc, test_policy_geo);
    tcase_add_test(tc, test_policy_proximity_failover);
    tcase_add_test(tc, test_policy_single_pool);
    tcase_add_test(tc, test_lookups);
    tcase_add_test(tc, test_failed_load_keeps_cfg);
    tcase_add_test(tc, test_load_all_files);
    suite_add_tcase(s, tc);
    TCase *td = tcase_create("defaults");
    tcase_add_test(td, test_defaults_only);
    tcase_add_test(td, test_object_defaults);
    tcase_add_test(td, test_settings_defaults);
    tcase_add_test(td, test_schema_table);
    suite_add_tcase(s, td);
    return s;
}

int main(void)
{
    return unit_run(config_suite());
}
