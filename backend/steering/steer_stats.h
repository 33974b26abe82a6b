/* Counting steering decisions for metrics: the label set of one engine
 * (which policy, pool and endpoint names a decision can carry) and the
 * per-decision count against a thread's shard (common/metrics.h).
 *
 * Two families of series, both bounded by the config, never by clients:
 *   STEER_FAM_ANSWERS    {policy, pool, endpoint}: one per endpoint picked,
 *                        for each pool the policy can answer from (through
 *                        its pools, rules, default, fallbacks and all-down
 *                        pool) and each endpoint of that pool; pool "" when
 *                        the answer spans several pools (the all-down rule).
 *   STEER_FAM_DECISIONS  {policy, continent, pool}: one per decision, the
 *                        client's continent from the country database
 *                        ("" when unknown or no database), the same pools.
 * Built by the writer with the engine; read-only afterwards, any thread. */
#ifndef GS_STEERING_STEER_STATS_H
#define GS_STEERING_STEER_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/steering/steer.h"
#include "common/metrics.h"
#include "geo/geodb.h"

enum { STEER_FAM_ANSWERS = 1, STEER_FAM_DECISIONS = 2 };

/* Continents as counted: index 0 is unknown, then AF AN AS EU NA OC SA. */
#define STEER_NCONTINENTS 8

typedef struct steer_stats steer_stats_t;

/* The label set of engine `s` (may be NULL: an empty set) and, when
 * `country` is given, the continent of every address painted from it (a
 * walk of the database: about as long as building one geo policy). */
steer_stats_t *steer_stats_new(const steer_t *s, const geo_db_t *country);

/* Releases it (the label set lives on while shards count against it).
 * Accepts NULL. */
void steer_stats_free(steer_stats_t *m);

/* The label set, for metrics_shard_dyn. */
metrics_labels_t *steer_stats_labels(const steer_stats_t *m);

/* The continent index (0..STEER_NCONTINENTS-1) of a two-letter code; 0
 * for anything else. */
unsigned steer_stats_continent(const char *code);

/* The continent index of client `c` (0 without a country database). A
 * lookup in a prefix tree; any thread. */
unsigned steer_stats_client_continent(const steer_stats_t *m, const steer_client_t *c);

/* A thread's memory of recent clients' continents: direct-mapped, keyed by
 * the client address as decided on (an ECS source is a network address, so
 * one entry covers its whole subnet), cleared when the label set changes.
 * The tree walk it saves is a chain of cache misses, and a connection sees
 * the same resolvers and subnets again and again. 144 KiB. */
#define STEER_CONT_CACHE 16384
typedef struct {
    const steer_stats_t *owner; /* the entries were looked up in this one */
    uint64_t key[STEER_CONT_CACHE];
    uint8_t val[STEER_CONT_CACHE]; /* continent | 0x80 for IPv6 keys */
} steer_cont_cache_t;

/* steer_stats_client_continent through `cache` (owned by one thread). */
unsigned steer_stats_client_continent_cached(const steer_stats_t *m, steer_cont_cache_t *cache,
                                             const steer_client_t *c);

/* Counts decision `d` of policy `p` for a client of continent index `cont`
 * into `dyn` (the shard's counters for this label set). Returns how many
 * counts found no series (0 unless `d` is not a decision of this engine). */
unsigned steer_stats_count(const steer_stats_t *m, _Atomic uint64_t *dyn, uint32_t p,
                           const steer_decision_t *d, unsigned cont);

#endif
