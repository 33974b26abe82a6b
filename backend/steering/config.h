/* geosteer.json: the daemon's configuration (doc/design.md §5, schema in
 * doc/config.md). Sections: "settings" (paths, limits, GeoIP databases) and
 * the steering objects "monitors", "endpoints", "pools" and "policies",
 * each keyed by name and referring to one another by name.
 *
 * cfg_load validates the file and reports every error in compiler style
 * ("FILE:LINE:COL: error: message" for JSON syntax errors, "FILE: error:
 * PATH: message" for the rest, PATH like pools.eu.endpoints[2]), then fails;
 * nothing is applied from a config with errors. cfg_load_all adds the
 * files the config names (GeoIP databases, ...); it is the validation that
 * start-up, reload and both checks run. On success it compiles the
 * steering objects into the plain arrays below: names resolved to indexes,
 * addresses parsed, defaults filled in (every default, range and required
 * key comes from the schema rows of config_schema.h). The steering engine
 * reads a cfg_t and never needs the JSON.
 *
 * Ownership: a cfg_t owns every string and array reachable from it;
 * cfg_free releases them all. Nothing is shared with other cfg_t values, so
 * a reload builds a second cfg_t (cfg_load_all) and swaps.
 * Threads: cfg_load and cfg_free on the main thread only; a loaded cfg_t is
 * immutable and the lookup helpers may be called from any thread. Never
 * logs. */
#ifndef GS_STEERING_CONFIG_H
#define GS_STEERING_CONFIG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/paths.h"
#include "common/plan.h"
#include "geo/geodb.h"
#include "common/compiler.h"

#define CFG_DEFAULT_SOCKET GS_DEFAULT_SOCKET
#define CFG_DEFAULT_ZONE_DB GS_DEFAULT_ZONE_DB

/* Limits the steering engine and the plan rely on; the schema rows
 * (config_schema.c) bound their keys with them. Every other default and
 * range of geosteer.json is in those rows only, so the comments below
 * name no numbers. */
#define CFG_NAME_MAX 63 /* object names: 1..63 of [A-Za-z0-9_.-] */
#define CFG_POOL_MAX_ENDPOINTS 256
#define CFG_MAX_MIN_HEALTHY 64
#define CFG_MAX_EXPECT PLAN_MAX_EXPECT
#define CFG_DEFAULT_RUNTIME_DIR GS_DEFAULT_RUNTIME_DIR

/* What geosteerd does with health once the probe's heartbeat is stale and
 * the grace period is over. */
typedef enum {
    CFG_STALE_IGNORE,     /* treat every endpoint as up (fail open) */
    CFG_STALE_LAST_KNOWN, /* keep the last known states */
} cfg_stale_rule_t;

/* ---- monitors: how an endpoint is checked (by the probe process) ---- */

typedef enum { CFG_MON_TCP, CFG_MON_HTTP, CFG_MON_HTTPS } cfg_monitor_type_t;

typedef struct {
    char *name;  /* owned */
    char *value; /* owned */
} cfg_header_t;

typedef struct {
    char *name; /* owned */
    cfg_monitor_type_t type;
    unsigned port;         /* required for tcp */
    char *path;            /* owned; http/https request path; NULL for tcp */
    char *host;            /* owned; Host header and SNI name, or NULL (use the address) */
    uint16_t (*expect)[2]; /* owned; accepted status ranges [lo, hi] in 100..599;
                              "3xx" in the file is [300, 399] */
    size_t nexpect;        /* 0 for tcp; at most CFG_MAX_EXPECT */
    char *body;            /* owned; required substring of the body, or NULL */
    unsigned body_max;     /* bytes of body read for the "body" match; 0 for tcp */
    cfg_header_t *headers; /* owned; extra request headers, in file order */
    size_t nheaders;
    double interval; /* seconds between checks */
    double timeout;  /* seconds, < interval */
    unsigned rise;   /* consecutive successes DOWN -> UP */
    unsigned fall;   /* consecutive failures UP -> DOWN */
    bool insecure;   /* https: skip certificate verification */
    char *ca_file;   /* owned; https: CA bundle verifying the server, or NULL (system) */
} cfg_monitor_t;

/* ---- endpoints: one possible answer ---- */

typedef struct {
    char *name;        /* owned */
    struct in_addr *a; /* owned; A addresses in file order */
    size_t na;
    struct in6_addr *aaaa; /* owned; AAAA addresses in file order */
    size_t naaaa;
    char *cname; /* owned; canonical target (lower case, trailing dot), or NULL.
                    Exclusive with a/aaaa: exactly one of (na + naaaa > 0, cname). */
    bool has_location;
    double lat, lon;        /* degrees, valid when has_location */
    unsigned weight;        /* share in weighted and hashed picks */
    int monitor;            /* index into cfg_t.monitors, or -1 (never checked: always UP) */
    int probe_family;       /* AF_INET or AF_INET6 when a probe address is set, else 0 */
    uint8_t probe_addr[16]; /* probe address in network order (4 bytes for AF_INET);
                               without one, the probe checks the answer addresses */
} cfg_endpoint_t;

/* ---- pools: ordered sets of endpoints ---- */

typedef struct {
    char *name;           /* owned */
    int *endpoints;       /* owned; indexes into cfg_t.endpoints, file order, no duplicates */
    size_t nendpoints;    /* 1..256 */
    unsigned min_healthy; /* <= nendpoints */
    int fallback;         /* index into cfg_t.pools, or -1; fallback chains never loop */
} cfg_pool_t;

/* ---- policies: how a name is answered ---- */

typedef enum {
    CFG_POLICY_ALL,
    CFG_POLICY_RANDOM,
    CFG_POLICY_WEIGHTED,
    CFG_POLICY_HASHED,
    CFG_POLICY_CONSISTENT_HASH,
    CFG_POLICY_FAILOVER,
    CFG_POLICY_MULTIVALUE,
    CFG_POLICY_GEO,
    CFG_POLICY_PROXIMITY,
} cfg_policy_type_t;

/* What to answer when no candidate is healthy (doc/design.md §5, step 4). */
typedef enum {
    CFG_ALL_DOWN_ALL,   /* every candidate (fail open) */
    CFG_ALL_DOWN_FIRST, /* the first candidate only */
    CFG_ALL_DOWN_EMPTY, /* NODATA */
    CFG_ALL_DOWN_POOL,  /* every endpoint of cfg_policy_t.all_down_pool */
} cfg_all_down_t;

typedef enum {
    CFG_GEO_CONTINENT,   /* code: "EU" (AF AN AS EU NA OC SA) */
    CFG_GEO_COUNTRY,     /* code: ISO 3166-1 alpha-2, "DE" */
    CFG_GEO_SUBDIVISION, /* code: ISO 3166-2, "US-CA" */
    CFG_GEO_ASN,         /* asn: 1..4294967295 */
    CFG_GEO_CIDR,        /* cidr: network with host bits zero */
} cfg_geo_key_t;

/* One match of a geo policy. A rule of the file that lists several values
 * ("country": ["DE", "AT"]) compiles to one cfg_geo_rule_t per value, all
 * with the same pool and source rule index. No two entries of a policy have
 * the same key and value. The engine picks the most specific match. */
typedef struct {
    cfg_geo_key_t key;
    union {
        char code[8]; /* NUL-terminated, upper case */
        uint32_t asn;
        struct {
            int family;       /* AF_INET or AF_INET6 */
            uint8_t addr[16]; /* network order; 4 bytes used for AF_INET */
            uint8_t len;      /* prefix length, 0..32 or 0..128 */
        } cidr;
    } u;
    int pool;      /* index into cfg_t.pools */
    unsigned rule; /* index of the source rule in the policy's "rules" array */
} cfg_geo_rule_t;

typedef struct {
    char *name; /* owned */
    cfg_policy_type_t type;
    uint32_t ttl; /* seconds */
    cfg_all_down_t all_down;
    int all_down_pool; /* CFG_ALL_DOWN_POOL: index into cfg_t.pools; else -1 */
    /* all, random, weighted, hashed, consistent-hash, multivalue: the pool
     * (for weighted, at least one of its endpoints has weight > 0); else -1. */
    int pool;
    /* failover: pools in order of preference; proximity: candidate pools.
     * Owned; NULL/0 for the other types. */
    int *pools;
    size_t npools;
    double *bias;           /* proximity: km added to the distance of pools[i] (0 for pools
                               not named), owned, npools entries; NULL for the other types */
    unsigned nearest;       /* proximity: answer the N nearest; 0 for the other types */
    unsigned max;           /* multivalue: at most N healthy endpoints; 0 for the other types */
    uint8_t hash_prefix_v4; /* hashed/consistent-hash: client prefix hashed; else 0 */
    uint8_t hash_prefix_v6;
    cfg_geo_rule_t *rules; /* geo: owned, file order; NULL for the other types */
    size_t nrules;
    int default_pool; /* geo: pool when no rule matches (required); else -1 */
} cfg_policy_t;

typedef struct {
    /* settings */
    char *socket;  /* owned */
    char *zone_db; /* owned */
    mode_t socket_mode;
    unsigned max_connections;
    int log_level;                /* syslog priority */
    char *geoip_database;         /* owned; country/city .mmdb, or NULL if not configured */
    char *geoip_asn_database;     /* owned; ASN .mmdb, or NULL */
    unsigned geoip_max_age_days;  /* a database built longer ago is stale */
    char *runtime_dir;            /* owned; check plan and health state file, or NULL:
                                     the directory of the socket geosteerd serves */
    char *pdns_control_socket;    /* owned; pdns's control socket for cache purges, or NULL */
    char *pipe_socket;            /* owned; the pipe-backend socket (pipe.h), or NULL: none */
    bool metrics;                 /* count metrics on the lookup path */
    char *metrics_listen;         /* owned; HTTP address for /metrics, or NULL: none */
    unsigned probe_max_in_flight; /* checks running at once */
    double probe_heartbeat;       /* seconds between probe heartbeats */
    unsigned health_stale_after;  /* heartbeats missed before the probe is stale */
    double health_grace;          /* seconds the last state is kept once stale */
    cfg_stale_rule_t health_stale_rule;
    char *decision_log;                   /* owned; settings.decision_log.target: an absolute
                                             file path or "journal"; NULL: no decision log */
    unsigned decision_log_sample;         /* log 1 decision in this many */
    unsigned decision_log_max_per_second; /* at most this many lines a second; 0: no cap */

    /* steering objects, in file order; indexes in the structs above point
     * into these arrays. Empty (NULL, 0) when the section is absent. */
    cfg_monitor_t *monitors;
    size_t nmonitors;
    cfg_endpoint_t *endpoints;
    size_t nendpoints;
    cfg_pool_t *pools;
    size_t npools;
    cfg_policy_t *policies;
    size_t npolicies;

    /* SHA-256 (hex) of the file as cfg_load read it, "" before a load:
     * `geosteer status` shows it so that nodes can be compared. */
    char digest[65];

    /* Private: indexes of each array sorted by name, for the lookups. */
    int *by_name[4];
} cfg_t;

/* Fills `cfg` with the defaults (owned strings, no steering objects). */
void cfg_defaults(cfg_t *cfg);

/* Loads `path` over the settings already in `cfg` (keys absent from the file
 * keep their value) and replaces its steering objects with the file's.
 * Returns 0, or GS_ECONFIG with one line per error appended to `errors`, in
 * which case `cfg` is left unchanged. */
GS_WARN_UNUSED int cfg_load(const char *path, cfg_t *cfg, buf_t *errors);

/* The files a loaded config names that geosteerd keeps open. */
typedef struct {
    geo_db_t *geo; /* settings.geoip.database, or NULL when none is configured */
    geo_db_t *asn; /* settings.geoip.asn_database, or NULL */
} cfg_files_t;

/* Opens and validates the files `cfg` names that cfg_load does not read:
 * the GeoIP and ASN databases (geo_db_open: format, metadata, a test
 * lookup) and settings.runtime_dir (a directory, if it exists; it is
 * created otherwise). (cfg_load itself reads each monitor's ca_file: a
 * readable regular file holding a PEM certificate.) `path` is the config file named in the error
 * lines
 * ("FILE: error: settings.geoip.database: reason"). Returns 0 with the
 * databases in `files` (the caller's: cfg_files_close; NULL `files`: closed
 * again), or GS_ECONFIG with every failure in `errors` and nothing open. */
GS_WARN_UNUSED int cfg_open_files(const char *path, const cfg_t *cfg, cfg_files_t *files,
                                  buf_t *errors);

/* Only the databases of cfg_open_files (a GeoIP file replaced on disk is
 * reopened for the config already loaded). Same contract. */
GS_WARN_UNUSED int cfg_open_databases(const char *path, const cfg_t *cfg, cfg_files_t *files,
                                      buf_t *errors);

/* Closes the databases of `files` and clears it. */
void cfg_files_close(cfg_files_t *files);

/* The whole validation of a config file: cfg_load over the defaults, then,
 * if the file itself is valid, cfg_open_files. This one function is what
 * geosteerd --check, geosteer check, start-up and reload run, so a check
 * can never pass a config the daemon then refuses. On success `cfg` is
 * replaced (the old one freed) and `files` holds the open databases (NULL:
 * closed again); on failure `cfg` is unchanged, nothing is open and
 * `errors` has one line per error. */
GS_WARN_UNUSED int cfg_load_all(const char *path, cfg_t *cfg, cfg_files_t *files, buf_t *errors);

/* Parses a log level name (err, warning, notice, info, debug); -1 if unknown. */
int cfg_log_level(const char *name);

/* Parses settings.metrics_listen: "ADDR:PORT", "[V6ADDR]:PORT" or a bare
 * "PORT" (loopback, 127.0.0.1), the address numeric. Fills `sa` (room for
 * a sockaddr_in6) and returns its length, or 0 when `s` is not one. */
size_t cfg_parse_listen(const char *s, void *sa);

/* Releases everything `cfg` owns; `cfg` may then be refilled by cfg_defaults. */
void cfg_free(cfg_t *cfg);

/* Name lookups on a loaded cfg_t, O(log n). The _index functions return the
 * index into the matching array or -1; the _find functions return a borrowed
 * pointer into `cfg`, valid until cfg_free, or NULL. */
int cfg_monitor_index(const cfg_t *cfg, const char *name);
int cfg_endpoint_index(const cfg_t *cfg, const char *name);
int cfg_pool_index(const cfg_t *cfg, const char *name);
int cfg_policy_index(const cfg_t *cfg, const char *name);
const cfg_monitor_t *cfg_monitor_find(const cfg_t *cfg, const char *name);
const cfg_endpoint_t *cfg_endpoint_find(const cfg_t *cfg, const char *name);
const cfg_pool_t *cfg_pool_find(const cfg_t *cfg, const char *name);
const cfg_policy_t *cfg_policy_find(const cfg_t *cfg, const char *name);

/* Static names for enum values, as written in the file ("consistent-hash",
 * "pool", "subdivision", "https"). */
const char *cfg_policy_type_name(cfg_policy_type_t type);
const char *cfg_monitor_type_name(cfg_monitor_type_t type);
const char *cfg_geo_key_name(cfg_geo_key_t key);

#endif
