/* geosteerd's fixed counters (common/metrics.h numbers them; this is the
 * numbering) and the bucket bounds of its histograms. Names, labels and
 * help texts are the exposition's (backend/protocol/exposition.c); the
 * series themselves are listed in doc/metrics.md.
 *
 * Histograms keep one counter per bucket (not cumulative: the exposition
 * adds them up) plus the sum, in nanoseconds for durations. */
#ifndef GS_DAEMON_STATS_H
#define GS_DAEMON_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend/steering/health.h"
#include "common/plan.h"

/* Requests by interface, method (the remote-backend dispatcher's table
 * index, the last one for methods it does not know; pipe requests count as
 * the remote method they stand for) and result. */
#define STATS_METHODS 40
enum { STATS_RESULT_DATA, STATS_RESULT_EMPTY, STATS_RESULT_ERROR, STATS_RESULTS };
enum { STATS_IFACE_REMOTE, STATS_IFACE_PIPE, STATS_IFACES };

/* Offset of a request counter from STAT_REQUESTS. */
static inline unsigned stats_request_index(unsigned iface, unsigned method, unsigned result)
{
    return (iface * STATS_METHODS + method) * STATS_RESULTS + result;
}

/* Lookup duration buckets (upper bounds, ns); the last bucket is +Inf. */
#define STATS_LAT_BUCKETS 12
static const uint64_t stats_lat_bounds_ns[STATS_LAT_BUCKETS - 1] = {
    2000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 5000000, 25000000};

/* Returned scope buckets (upper bounds, prefix length); last is +Inf. */
#define STATS_SCOPE_BUCKETS 10
static const uint8_t stats_scope_bounds[STATS_SCOPE_BUCKETS - 1] = {0,  8,  16, 20, 24,
                                                                    32, 48, 56, 64};

/* Store commit duration buckets (ns); the last is +Inf. */
#define STATS_COMMIT_BUCKETS 11
static const uint64_t stats_commit_bounds_ns[STATS_COMMIT_BUCKETS - 1] = {
    1000000,   5000000,   10000000,   25000000,   50000000,
    100000000, 250000000, 1000000000, 5000000000, 30000000000};

enum {
    STAT_REQUESTS = 0, /* + stats_request_index() */
    STAT_LOOKUP_LAT = STAT_REQUESTS + STATS_IFACES * STATS_METHODS * STATS_RESULTS, /* + bucket */
    STAT_LOOKUP_LAT_SUM = STAT_LOOKUP_LAT + STATS_LAT_BUCKETS,
    STAT_ECS_YES,
    STAT_ECS_NO,
    STAT_SCOPE, /* + bucket */
    STAT_SCOPE_SUM = STAT_SCOPE + STATS_SCOPE_BUCKETS,
    STAT_STEER_UNMAPPED, /* decisions or picks with no series (a defect) */
    STAT_POLICY_MISSING, /* steer() of a policy the loaded config lacks */
    STAT_COMMIT,         /* + bucket */
    STAT_COMMIT_SUM = STAT_COMMIT + STATS_COMMIT_BUCKETS,
    STAT_COMMIT_FAILED,
    STAT_RELOAD_APPLIED,
    STAT_RELOAD_REFUSED,
    STAT_RELOAD_LAST_OK, /* gauge: time of the last applied load (seconds) */
    STAT_CONFIG_GEN,     /* gauge: configs installed since start */
    STAT_PURGE_SENT,
    STAT_PURGE_FAILED,
    STAT_COUNT
};

/* Whether lookups count (settings.metrics.enabled; read once per request). */
extern _Atomic bool stats_enabled;

/* Index of the bucket holding `v` among `n` bounds (n = buckets - 1). */
static inline unsigned stats_bucket_u64(const uint64_t *bounds, unsigned n, uint64_t v)
{
    unsigned i = 0;
    while (i < n && v > bounds[i])
        i++;
    return i;
}

/* Counts a store commit that took `ns` nanoseconds (`ok` false: failed). */
void stats_commit(uint64_t ns, bool ok);

/* Health of checks, as the writer's once-a-second tick sees it: the
 * state each check is in and how often it changed state (changes faster
 * than the tick are seen as one, or none). The checks are those of the
 * plan last published (stats_health_plan, writer); a check that stays in
 * the plan keeps its count. */
void stats_health_plan(const plan_t *plan);
void stats_health_tick(const health_view_t *view);

/* Calls `fn` per check (id as 16 hex digits, type, target address:port,
 * hstate_state_t, transitions seen). Holds the module's lock. */
typedef void (*stats_check_fn)(void *ctx, const char *id, const char *type, const char *target,
                               unsigned state, uint64_t transitions);
void stats_health_each(stats_check_fn fn, void *ctx);

/* Frees the check table. */
void stats_shutdown(void);

#endif
