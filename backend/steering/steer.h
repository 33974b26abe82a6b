/* The steering engine: a compiled, immutable form of geosteer.json's
 * endpoints, pools and policies (plus the GeoIP-derived decision trees) and
 * the per-client decision. A steer_t is immutable and shared by every snapshot
 * built while its config and GeoIP data are loaded; lookups on
 * any thread call steer_decide on it without locks. Building one (at config
 * or GeoIP load) is the writer's job and may take a second for a geo policy
 * over a full country database.
 *
 * Call order: steer_builder_new, steer_add_* (endpoints, then pools, then
 * policies), steer_build, then steer_decide...; steer_free. */
#ifndef GS_STEERING_STEER_H
#define GS_STEERING_STEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/dns/rr.h"
#include "backend/steering/config.h"
#include "common/buf.h"
#include "common/err.h"
#include "geo/geodb.h"

typedef enum {
    STEER_ALL,
    STEER_RANDOM,
    STEER_WEIGHTED,
    STEER_HASHED,
    STEER_CHASH,
    STEER_FAILOVER,
    STEER_MULTIVALUE,
    STEER_GEO,
    STEER_PROXIMITY,
} steer_type_t;

typedef enum {
    STEER_DOWN_ALL,   /* answer every candidate (fail open; the default) */
    STEER_DOWN_FIRST, /* answer the first candidate */
    STEER_DOWN_POOL,  /* answer a named pool */
    STEER_DOWN_EMPTY, /* answer nothing (NODATA, negatively cached by resolvers) */
} steer_down_t;

typedef enum {
    STEER_KEY_CONTINENT,
    STEER_KEY_COUNTRY,
    STEER_KEY_SUBDIVISION,
    STEER_KEY_ASN,
    STEER_KEY_CIDR,
} steer_key_t;

/* qtypes a policy can answer for every client (bitmask). */
#define STEER_QT_A 1u
#define STEER_QT_AAAA 2u
#define STEER_QT_CNAME 4u

/* The STEER_QT_* bit of the record type with IANA code `code` (A 1, AAAA
 * 28, CNAME 5); 0 for a type no policy answers. */
static inline unsigned steer_qt_bit(unsigned code)
{
    return code == RR_TYPE_A       ? STEER_QT_A
           : code == RR_TYPE_AAAA  ? STEER_QT_AAAA
           : code == RR_TYPE_CNAME ? STEER_QT_CNAME
                                   : 0;
}

/* Endpoints in one answer: a pool's limit (CFG_POOL_MAX_ENDPOINTS). An
 * all-down answer over several pools keeps the first this many. */
#define STEER_MAX_PICKS 256
#define STEER_MAX_POLICY_POOLS 256 /* pools of one policy (the config's limit) */
#define STEER_SCOPE_V4 24          /* longest scope ever returned (doc/design.md §6) */
#define STEER_SCOPE_V6 56

typedef struct steer_builder steer_builder_t;
typedef struct steer steer_t;

/* The client as pdns describes it: the ECS source prefix (real-remote), or
 * the resolver's address when there is no usable ECS (source /0). */
typedef struct {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    uint8_t source_len;
    bool from_remote; /* real-remote was /0: decided on `remote` */
    int wire_family;  /* family of the ECS option (real-remote), which the scope is read in */
} steer_client_t;

/* One decision: the endpoints to answer with, in order, and how to label
 * the answer. */
typedef struct {
    uint32_t ttl;
    uint8_t scope; /* scopeMask for the dynamic records (steer_scope_final applied) */
    bool split;    /* clients of the two families may get different answers */
    uint8_t depth; /* geo/proximity: the uniform prefix before the /24 or /56 cap */
    uint16_t n;
    uint32_t picks[STEER_MAX_PICKS]; /* endpoint indexes */
    uint32_t pool;                   /* pool the picks came from (UINT32_MAX: several) */
    uint32_t rule_pool; /* geo and one-pool types: the pool the rule named, before the pool
                           rule moved along its fallback chain; else UINT32_MAX */
    const char *why;    /* static text: which rule or step decided */
    bool all_down;      /* the all-down rule was applied */
} steer_decision_t;

steer_builder_t *steer_builder_new(void);

/* Adds an endpoint; addresses are presentation strings (validated by the
 * config loader), `cname` canonical or NULL. Returns its index. */
uint32_t steer_add_endpoint(steer_builder_t *b, const char *name, const char *const *a, size_t na,
                            const char *const *aaaa, size_t naaaa, const char *cname,
                            bool has_location, double lat, double lon, uint32_t weight);

/* Adds a pool over endpoint indexes; `fallback` is a pool index or -1. */
uint32_t steer_add_pool(steer_builder_t *b, const char *name, const uint32_t *endpoints, size_t n,
                        uint32_t min_healthy, int32_t fallback);

typedef struct {
    const char *name;
    steer_type_t type;
    uint32_t ttl;
    steer_down_t all_down;
    int32_t all_down_pool;
    const uint32_t *pools; /* one for single-pool types, ordered for failover/proximity */
    size_t npools;
    uint32_t max;             /* multivalue */
    uint8_t hash_v4, hash_v6; /* hashed / consistent-hash client prefix */
    const int32_t *bias_km;   /* proximity, parallel to pools, may be NULL */
    uint32_t nearest;         /* proximity */
    uint32_t default_pool;    /* geo */
} steer_policy_def_t;

/* Adds a policy. Returns its index. */
uint32_t steer_add_policy(steer_builder_t *b, const steer_policy_def_t *def);

/* Adds a geo rule to policy `policy`: `code` for continent/country/
 * subdivision, `asn`, or `cidr` (family, 16 address bytes, length). */
void steer_add_rule(steer_builder_t *b, uint32_t policy, steer_key_t key, const char *code,
                    uint32_t asn, int family, const uint8_t *cidr, uint8_t cidr_len, uint32_t pool);

/* Compiles everything, building the geo/proximity decision trees from the
 * databases (either may be NULL: every client then falls to the default).
 * Takes over and frees the builder. Returns an owned engine. */
steer_t *steer_build(steer_builder_t *b, const geo_db_t *country, const geo_db_t *asn);

/* Releases an engine. Accepts NULL. */
void steer_free(steer_t *s);

/* Returns the policy index of `name` (`len` bytes), or -1. */
int32_t steer_policy_find(const steer_t *s, const char *name, size_t len);

/* The qtypes policy `p` answers for every client (STEER_QT_* bits): a type
 * is answerable only if every endpoint the policy can ever pick has it. */
unsigned steer_policy_qtypes(const steer_t *s, uint32_t p);

/* Parses pdns's real-remote ("203.0.113.0/24") and remote ("192.0.2.1")
 * into `c`. Returns 0 or GS_EINVAL. */
int steer_client_parse(const char *real_remote, size_t rr_len, const char *remote,
                       size_t remote_len, steer_client_t *c);

/* The scopeMask to send for an answer that holds over the first `scope`
 * bits of client `c`'s address (capped here at /24 and /56), `split` when a
 * client of the other address family may be answered differently. Scope 0
 * promises the same answer to every client of both families (pdns's query
 * cache, keyed by name alone, then serves it to all), so it is returned only
 * when scope is 0 and !split; otherwise at least 1. For an ECS source /0
 * decided on a resolver address of the other family, the ECS family's cap
 * (the number has no meaning there; it must only not be 0). */
uint8_t steer_scope_final(const steer_client_t *c, uint8_t scope, bool split);

/* SplitMix64's finalizer: a bijection of 64-bit values in which every input
 * bit affects every output bit, so that nearby inputs (consecutive seeds,
 * prefixes one bit apart) give unrelated outputs. Inline: consistent-hash
 * calls it once per candidate of every query. */
static inline uint64_t steer_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* Helpers shared with the LUA-record evaluator besides the mixer above: the
 * hash of the client's address truncated to `bits`, and great-circle
 * distance. */
uint64_t steer_client_hash(const steer_client_t *c, uint8_t bits);

/* The client's address as a socket address (port 0), for GeoIP lookups. */
struct sockaddr_storage;
void steer_client_sockaddr(const steer_client_t *c, struct sockaddr_storage *ss);
double steer_distance_km(double lat1, double lon1, double lat2, double lon2);

/* The weighted pick of the weighted and hashed policies and of pickwrandom
 * and pickwhashed: the index in [0, n) (n > 0) that `r` (a random value or
 * a client hash) selects when item i owns a share of [0, sum of weights)
 * as wide as weights[i]. Weight-0 items are never picked unless every
 * weight is 0; then all count the same (r % n). Pure. */
size_t steer_weighted_index(const uint32_t *weights, size_t n, uint64_t r);

/* Operator overrides (drain, force-up, force-down), indexed by endpoint.
 * An entry applies while `until` is 0 (no expiry) or later than `now`. */
typedef enum {
    STEER_ADMIN_NONE,
    STEER_ADMIN_DRAIN,      /* out of rotation */
    STEER_ADMIN_FORCE_UP,   /* in rotation whatever health says */
    STEER_ADMIN_FORCE_DOWN, /* out of rotation, as if its health were DOWN */
} steer_admin_state_t;

typedef struct {
    const uint8_t *state; /* steer_admin_state_t per endpoint index */
    const int64_t *until; /* expiry (seconds since the epoch) per endpoint, 0 = none */
    size_t n;
    int64_t now;
    /* Health (doc/design.md §5 step 2): returns true when endpoint `e` is DOWN.
     * NULL: no health known, every endpoint counts as up. Called on the
     * lookup path, so it must not block. FORCE_UP wins over it. */
    bool (*down)(const void *ctx, uint32_t e);
    const void *down_ctx;
} steer_admin_t;

/* The override in force for endpoint `e` (expired ones read as NONE). */
steer_admin_state_t steer_admin_get(const steer_admin_t *adm, uint32_t e);

/* The word for an override as the operator commands and the store write it:
 * "none", "drain", "force-up", "force-down". Static text. */
const char *steer_admin_word(steer_admin_state_t st);

/* The pools whose endpoints decision `d` of policy `p` chose among, in
 * order, into `out` (at most `max`; count returned): every pool a failover
 * or proximity policy weighs; else the pool the rule named and its fallback
 * chain as far as the pool that answered (the whole chain when the all-down
 * rule answered). What `explain` and the decision log list as a decision's
 * candidates. */
size_t steer_decision_pools(const steer_t *s, uint32_t p, const steer_decision_t *d, uint32_t *out,
                            size_t max);

/* True when policy `p` can ever answer with endpoint `e` (through its
 * pools, rules, fallbacks or all-down pool). O(pools x endpoints). */
bool steer_policy_uses(const steer_t *s, uint32_t p, uint32_t e);

/* Returns the index of endpoint `name`, or -1. */
int32_t steer_endpoint_find(const steer_t *s, const char *name);

/* Number of endpoints. */
size_t steer_endpoint_count(const steer_t *s);

/* Whether `s` was built with a country/city database, with an ASN database
 * (steer_build's arguments); false for a NULL engine. */
bool steer_has_country_db(const steer_t *s);
bool steer_has_asn_db(const steer_t *s);

/* Like steer_decide, applying the operator overrides in `adm` (may be NULL)
 * first, as doc/design.md §5 orders it: drained and forced-down endpoints are
 * dropped; if that leaves nothing, the all-down rule picks among the
 * endpoints not administratively removed, or all of them if none is left. */
void steer_decide_admin(const steer_t *s, uint32_t p, const steer_client_t *c, uint64_t rnd,
                        const steer_admin_t *adm, steer_decision_t *d);

/* Decides policy `p` for client `c`. `rnd` seeds the random policies (one
 * value per query). Endpoints are all considered healthy until health
 * arrives. Never fails: the all-down rule guarantees an answer (possibly
 * empty for STEER_DOWN_EMPTY). */
void steer_decide(const steer_t *s, uint32_t p, const steer_client_t *c, uint64_t rnd,
                  steer_decision_t *d);

/* The addresses (qtype STEER_QT_A or _AAAA) or the CNAME target of endpoint
 * `e` as presentation strings (borrowed), all of them; count in *n (0, and
 * NULL returned, when it has none). */
const char *const *steer_endpoint_values(const steer_t *s, uint32_t e, unsigned qtype, size_t *n);

/* Endpoint indexes of pool `p` (borrowed) and their count in *n. */
const uint32_t *steer_pool_endpoints(const steer_t *s, uint32_t p, size_t *n);

/* The pools named by policy `p` (borrowed): its one pool, or the ordered
 * pools of failover/proximity; not geo rules' pools. Count in *n. */
const uint32_t *steer_policy_pools(const steer_t *s, uint32_t p, size_t *n);

/* Type and TTL of policy `p`; the type as written in geosteer.json. */
const char *steer_policy_type_name(const steer_t *s, uint32_t p);
uint32_t steer_policy_ttl(const steer_t *s, uint32_t p);

/* Weight of endpoint `e`. */
uint32_t steer_endpoint_weight(const steer_t *s, uint32_t e);

/* Name of endpoint / pool / policy `i` (borrowed). */
const char *steer_endpoint_name(const steer_t *s, uint32_t i);
const char *steer_pool_name(const steer_t *s, uint32_t i);
const char *steer_policy_name(const steer_t *s, uint32_t i);

/* Compiles the steering objects of a loaded configuration (see steer_build
 * for the databases). Returns an owned engine; never fails on a cfg_t that
 * cfg_load accepted. */
steer_t *steer_from_cfg(const cfg_t *cfg, const geo_db_t *country, const geo_db_t *asn);

#endif
