#include "backend/steering/config_schema.h"

#include <stdbool.h>
#include <string.h>
#include <syslog.h>

#include "backend/steering/config.h"
#include "common/log.h"
#include "common/plan.h"

const char *const cfg_monitor_type_names[] = {"tcp", "http", "https", NULL};
const char *const cfg_policy_type_names[] = {
    "all",      "random",     "weighted", "hashed",    "consistent-hash",
    "failover", "multivalue", "geo",      "proximity", NULL};

static const char *const log_level_names[] = {"error", "warning", "notice", "info", "debug", NULL};
static const int log_level_values[] = {LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG};
static const char *const stale_rule_names[] = {"ignore-health", "last-known", NULL};
static const int stale_rule_values[] = {CFG_STALE_IGNORE, CFG_STALE_LAST_KNOWN};
static const char *const all_down_names[] = {"all", "first", "empty", "pool:NAME", NULL};
static const int all_down_values[] = {CFG_ALL_DOWN_ALL, CFG_ALL_DOWN_FIRST, CFG_ALL_DOWN_EMPTY,
                                      CFG_ALL_DOWN_POOL};

_Static_assert(sizeof(cfg_stale_rule_t) == sizeof(int), "CFG_ENUM values are stored as int");
_Static_assert(sizeof(cfg_all_down_t) == sizeof(int), "CFG_ENUM values are stored as int");

#define MT(t) (1u << CFG_MON_##t)
#define MT_WEB (MT(HTTP) | MT(HTTPS))
#define PT(t) (1u << CFG_POLICY_##t)
#define PT_ONE_POOL                                                                                \
    (PT(ALL) | PT(RANDOM) | PT(WEIGHTED) | PT(HASHED) | PT(CONSISTENT_HASH) | PT(MULTIVALUE))
#define PT_HASH (PT(HASHED) | PT(CONSISTENT_HASH))

/* Where a value lives: offset and size of member `m` of `type`. */
#define AT(type, m) .off = offsetof(type, m), .size = sizeof(((type *)0)->m)
#define RANGE(lo, hi) .min = (lo), .max = (hi)
#define D CFG_ITEM_DEFAULT
#define R CFG_ITEM_RANGE

const cfg_item_t cfg_items[] = {
    /* settings */
    {"settings.socket", CFG_OBJ_SETTINGS, CFG_PATH, D, .def_text = CFG_DEFAULT_SOCKET,
     AT(cfg_t, socket)},
    {"settings.socket_mode", CFG_OBJ_SETTINGS, CFG_MODE, D | R, RANGE(0600, 0777), .def = 0660,
     AT(cfg_t, socket_mode)},
    {"settings.zone_db", CFG_OBJ_SETTINGS, CFG_PATH, D, .def_text = CFG_DEFAULT_ZONE_DB,
     AT(cfg_t, zone_db)},
    {"settings.runtime_dir", CFG_OBJ_SETTINGS, CFG_PATH, D, .def_text = NULL,
     AT(cfg_t, runtime_dir)},
    {"settings.max_connections", CFG_OBJ_SETTINGS, CFG_INT, D | R, RANGE(4, 1000), .def = 256,
     AT(cfg_t, max_connections)},
    {"settings.log_level", CFG_OBJ_SETTINGS, CFG_ENUM, D | CFG_ITEM_ONE_OF, .def = 3,
     .names = log_level_names, .values = log_level_values, .parse = log_level_parse,
     AT(cfg_t, log_level)},
    {"settings.geoip", CFG_OBJ_SETTINGS, CFG_OTHER, 0, .id = CFG_ID_GEOIP},
    {"settings.probe", CFG_OBJ_SETTINGS, CFG_OTHER, 0, .id = CFG_ID_PROBE},
    {"settings.health", CFG_OBJ_SETTINGS, CFG_OTHER, 0, .id = CFG_ID_HEALTH},
    {"settings.pdns_control_socket", CFG_OBJ_SETTINGS, CFG_PATH, D, .def_text = NULL,
     AT(cfg_t, pdns_control_socket)},
    {"settings.pipe_socket", CFG_OBJ_SETTINGS, CFG_PATH, D, .def_text = NULL,
     AT(cfg_t, pipe_socket)},
    {"settings.metrics", CFG_OBJ_SETTINGS, CFG_BOOL, D, .def = 1, AT(cfg_t, metrics)},
    {"settings.metrics_listen", CFG_OBJ_SETTINGS, CFG_STR, D, .def_text = NULL,
     AT(cfg_t, metrics_listen)},
    {"settings.decision_log", CFG_OBJ_SETTINGS, CFG_OTHER, 0, .id = CFG_ID_DECLOG},

    /* settings.geoip */
    {"settings.geoip.database", CFG_OBJ_GEOIP, CFG_PATH, D, .required = CFG_REQUIRED_ALWAYS,
     .def_text = NULL, AT(cfg_t, geoip_database)},
    {"settings.geoip.asn_database", CFG_OBJ_GEOIP, CFG_PATH, D, .def_text = NULL,
     AT(cfg_t, geoip_asn_database)},
    {"settings.geoip.max_age_days", CFG_OBJ_GEOIP, CFG_INT, D | R, RANGE(1, 3650), .def = 45,
     AT(cfg_t, geoip_max_age_days)},

    /* settings.probe: the probe's own default heartbeat is the same one */
    {"settings.probe.max_in_flight", CFG_OBJ_PROBE, CFG_INT, D | R, RANGE(1, 10000), .def = 256,
     AT(cfg_t, probe_max_in_flight)},
    {"settings.probe.heartbeat_interval", CFG_OBJ_PROBE, CFG_NUM, D | R, RANGE(0.1, 60),
     .def = PLAN_DEFAULT_HEARTBEAT_MS / 1000.0, .unit = "seconds", AT(cfg_t, probe_heartbeat)},

    /* settings.health */
    {"settings.health.stale_after", CFG_OBJ_HEALTH, CFG_INT, D | R, RANGE(2, 100), .def = 3,
     AT(cfg_t, health_stale_after)},
    {"settings.health.grace", CFG_OBJ_HEALTH, CFG_NUM, D | R, RANGE(0, 86400), .def = 30,
     .unit = "seconds", AT(cfg_t, health_grace)},
    {"settings.health.stale_rule", CFG_OBJ_HEALTH, CFG_ENUM, D, .def = 0, .names = stale_rule_names,
     .values = stale_rule_values, AT(cfg_t, health_stale_rule)},

    /* settings.decision_log: absent means no decision log */
    {"settings.decision_log.target", CFG_OBJ_DECLOG, CFG_STR, 0, .required = CFG_REQUIRED_ALWAYS,
     .id = CFG_ID_DL_TARGET},
    {"settings.decision_log.sample", CFG_OBJ_DECLOG, CFG_INT, D | R, RANGE(1, 1000000), .def = 1,
     AT(cfg_t, decision_log_sample)},
    {"settings.decision_log.max_per_second", CFG_OBJ_DECLOG, CFG_INT, D | R, RANGE(0, 1000000),
     .def = 1000, AT(cfg_t, decision_log_max_per_second)},

    /* monitors */
    {"monitors.*.type", CFG_OBJ_MONITOR, CFG_ENUM, CFG_ITEM_ONE_OF | CFG_ITEM_TYPE,
     .required = CFG_REQUIRED_ALWAYS, .names = cfg_monitor_type_names, .id = CFG_ID_M_TYPE},
    {"monitors.*.port", CFG_OBJ_MONITOR, CFG_INT, D | R, .required = MT(TCP), RANGE(1, 65535),
     .def = 80, .alt_types = MT(HTTPS), .def_alt = 443, AT(cfg_monitor_t, port)},
    {"monitors.*.path", CFG_OBJ_MONITOR, CFG_STR, D, MT_WEB, .def_text = "/",
     AT(cfg_monitor_t, path), .id = CFG_ID_M_PATH},
    {"monitors.*.host", CFG_OBJ_MONITOR, CFG_OTHER, 0, MT_WEB, .id = CFG_ID_M_HOST},
    /* The default is the class written as in the file. */
    {"monitors.*.expect", CFG_OBJ_MONITOR, CFG_OTHER, D | R, MT_WEB, RANGE(1, CFG_MAX_EXPECT),
     .def_text = "2xx", .id = CFG_ID_M_EXPECT},
    {"monitors.*.body", CFG_OBJ_MONITOR, CFG_OTHER, 0, MT_WEB, .id = CFG_ID_M_BODY},
    {"monitors.*.body_max", CFG_OBJ_MONITOR, CFG_INT, D | R, MT_WEB, RANGE(1, 65536), .def = 4096,
     AT(cfg_monitor_t, body_max)},
    {"monitors.*.headers", CFG_OBJ_MONITOR, CFG_OTHER, 0, MT_WEB, .id = CFG_ID_M_HEADERS},
    {"monitors.*.interval", CFG_OBJ_MONITOR, CFG_NUM, D | R, RANGE(1, 3600), .def = 10,
     .unit = "seconds", AT(cfg_monitor_t, interval)},
    /* Default: def, at most half the interval (config.c monitor()); the
     * upper bound is the interval. */
    {"monitors.*.timeout", CFG_OBJ_MONITOR, CFG_NUM, D | R | CFG_ITEM_MIN_EXCL, RANGE(0, 0),
     .def = 5, .unit = "seconds", AT(cfg_monitor_t, timeout)},
    {"monitors.*.rise", CFG_OBJ_MONITOR, CFG_INT, D | R, RANGE(1, 10), .def = 3,
     AT(cfg_monitor_t, rise)},
    {"monitors.*.fall", CFG_OBJ_MONITOR, CFG_INT, D | R, RANGE(1, 10), .def = 3,
     AT(cfg_monitor_t, fall)},
    {"monitors.*.insecure", CFG_OBJ_MONITOR, CFG_BOOL, D, MT(HTTPS), .def = 0,
     AT(cfg_monitor_t, insecure)},
    {"monitors.*.ca_file", CFG_OBJ_MONITOR, CFG_OTHER, 0, MT(HTTPS), .id = CFG_ID_M_CA_FILE},

    /* endpoints */
    {"endpoints.*.a", CFG_OBJ_ENDPOINT, CFG_OTHER, 0, .id = CFG_ID_E_A},
    {"endpoints.*.aaaa", CFG_OBJ_ENDPOINT, CFG_OTHER, 0, .id = CFG_ID_E_AAAA},
    {"endpoints.*.cname", CFG_OBJ_ENDPOINT, CFG_OTHER, 0, .id = CFG_ID_E_CNAME},
    {"endpoints.*.location", CFG_OBJ_ENDPOINT, CFG_OTHER, 0, .id = CFG_ID_E_LOCATION},
    {"endpoints.*.location[0]", CFG_OBJ_ENDPOINT, CFG_NUM, R | CFG_ITEM_ELEMENT, RANGE(-90, 90)},
    {"endpoints.*.location[1]", CFG_OBJ_ENDPOINT, CFG_NUM, R | CFG_ITEM_ELEMENT, RANGE(-180, 180)},
    {"endpoints.*.weight", CFG_OBJ_ENDPOINT, CFG_INT, D | R, RANGE(0, 1000), .def = 1,
     AT(cfg_endpoint_t, weight)},
    {"endpoints.*.monitor", CFG_OBJ_ENDPOINT, CFG_OTHER, 0, .id = CFG_ID_E_MONITOR},
    {"endpoints.*.probe_address", CFG_OBJ_ENDPOINT, CFG_OTHER, 0, .id = CFG_ID_E_PROBE},

    /* pools */
    {"pools.*.endpoints", CFG_OBJ_POOL, CFG_OTHER, R, .required = CFG_REQUIRED_ALWAYS,
     RANGE(1, CFG_POOL_MAX_ENDPOINTS), .id = CFG_ID_P_ENDPOINTS},
    {"pools.*.min_healthy", CFG_OBJ_POOL, CFG_INT, D | R, RANGE(1, CFG_MAX_MIN_HEALTHY), .def = 1,
     AT(cfg_pool_t, min_healthy)},
    {"pools.*.fallback", CFG_OBJ_POOL, CFG_OTHER, 0, .id = CFG_ID_P_FALLBACK},

    /* policies */
    {"policies.*.type", CFG_OBJ_POLICY, CFG_ENUM, CFG_ITEM_ONE_OF | CFG_ITEM_TYPE,
     .required = CFG_REQUIRED_ALWAYS, .names = cfg_policy_type_names, .id = CFG_ID_Y_TYPE},
    {"policies.*.ttl", CFG_OBJ_POLICY, CFG_INT, D | R, RANGE(0, 86400), .def = 30,
     .unit = "seconds", AT(cfg_policy_t, ttl)},
    {"policies.*.all_down", CFG_OBJ_POLICY, CFG_ENUM, D, .def = 0, .names = all_down_names,
     .values = all_down_values, AT(cfg_policy_t, all_down), .id = CFG_ID_Y_ALL_DOWN},
    {"policies.*.pool", CFG_OBJ_POLICY, CFG_OTHER, 0, PT_ONE_POOL, .required = PT_ONE_POOL,
     .id = CFG_ID_Y_POOL},
    {"policies.*.hash_prefix", CFG_OBJ_POLICY, CFG_OTHER, 0, PT_HASH, .id = CFG_ID_Y_HASH_PREFIX},
    {"policies.*.hash_prefix[0]", CFG_OBJ_POLICY, CFG_INT, D | R | CFG_ITEM_ELEMENT, PT_HASH,
     RANGE(8, 32), .def = 24, AT(cfg_policy_t, hash_prefix_v4)},
    {"policies.*.hash_prefix[1]", CFG_OBJ_POLICY, CFG_INT, D | R | CFG_ITEM_ELEMENT, PT_HASH,
     RANGE(16, 128), .def = 56, AT(cfg_policy_t, hash_prefix_v6)},
    {"policies.*.max", CFG_OBJ_POLICY, CFG_INT, D | R, PT(MULTIVALUE), RANGE(1, 64), .def = 8,
     AT(cfg_policy_t, max)},
    {"policies.*.pools", CFG_OBJ_POLICY, CFG_OTHER, R, PT(FAILOVER) | PT(PROXIMITY),
     .required = PT(FAILOVER) | PT(PROXIMITY), RANGE(1, 256), .id = CFG_ID_Y_POOLS},
    {"policies.*.rules", CFG_OBJ_POLICY, CFG_OTHER, 0, PT(GEO), .required = PT(GEO),
     .id = CFG_ID_Y_RULES},
    {"policies.*.default", CFG_OBJ_POLICY, CFG_OTHER, 0, PT(GEO), .required = PT(GEO),
     .id = CFG_ID_Y_DEFAULT},
    {"policies.*.bias", CFG_OBJ_POLICY, CFG_OTHER, 0, PT(PROXIMITY), .id = CFG_ID_Y_BIAS},
    /* Pools not named in "bias" are not moved. */
    {"policies.*.bias.*", CFG_OBJ_POLICY, CFG_NUM, R | CFG_ITEM_ELEMENT, PT(PROXIMITY),
     RANGE(-20000, 20000), .unit = "km"},
    {"policies.*.nearest", CFG_OBJ_POLICY, CFG_INT, D | R, PT(PROXIMITY), RANGE(1, 64), .def = 1,
     AT(cfg_policy_t, nearest)},
};
const size_t cfg_nitems = sizeof(cfg_items) / sizeof(cfg_items[0]);

const char *const *cfg_obj_type_names(cfg_obj_t obj)
{
    return obj == CFG_OBJ_MONITOR  ? cfg_monitor_type_names
           : obj == CFG_OBJ_POLICY ? cfg_policy_type_names
                                   : NULL;
}

const cfg_item_t *cfg_item_find(const char *path)
{
    for (size_t i = 0; i < cfg_nitems; i++)
        if (strcmp(cfg_items[i].path, path) == 0)
            return &cfg_items[i];
    return NULL;
}

const char *cfg_item_key(const cfg_item_t *item)
{
    const char *dot = strrchr(item->path, '.');
    return dot ? dot + 1 : item->path;
}
