#include "backend/daemon/stats.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/metrics.h"

_Atomic bool stats_enabled = true;

void stats_commit(uint64_t ns, bool ok)
{
    if (!ok) {
        metrics_count(STAT_COMMIT_FAILED, 1);
        return;
    }
    metrics_count(
        STAT_COMMIT + stats_bucket_u64(stats_commit_bounds_ns, STATS_COMMIT_BUCKETS - 1, ns), 1);
    metrics_count(STAT_COMMIT_SUM, ns);
}

/* The checks of the last published plan, with what the tick saw of each.
 * Guarded by `lock`: the writer's tick and plan updates, and scrapes. */
typedef struct {
    uint64_t id;
    char type[6];
    char target[INET6_ADDRSTRLEN + 8];
    int64_t since_ms; /* of the last value seen; 0: none yet */
    uint8_t state;    /* hstate_state_t */
    uint64_t transitions;
} check_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static check_t *checks;
static size_t nchecks;

/* The check with `id` in the sorted table, or NULL. */
static check_t *find(check_t *v, size_t n, uint64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].id == id)
            return &v[mid];
        if (v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void stats_health_plan(const plan_t *plan)
{
    static const char *const types[] = {
        [PLAN_TCP] = "tcp", [PLAN_HTTP] = "http", [PLAN_HTTPS] = "https"};
    check_t *v = mem_calloc(plan->n ? plan->n : 1, sizeof(*v));
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < plan->n; i++) {
        const plan_check_t *c = &plan->checks[i];
        check_t *old = find(checks, nchecks, c->id);
        if (old) {
            v[i] = *old; /* a check that stays keeps its count */
            continue;
        }
        v[i].id = c->id;
        snprintf(v[i].type, sizeof(v[i].type), "%s", types[c->type]);
        char a[INET6_ADDRSTRLEN];
        inet_ntop(c->family, c->addr, a, sizeof(a));
        snprintf(v[i].target, sizeof(v[i].target), c->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a,
                 c->port);
    }
    free(checks);
    checks = v; /* plan checks are sorted by id */
    nchecks = plan->n;
    pthread_mutex_unlock(&lock);
}

void stats_health_tick(const health_view_t *view)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; view && i < nchecks; i++) {
        hstate_value_t val;
        if (health_check_value(view, checks[i].id, &val) != 0)
            continue;
        /* A new `since` is a new state; the first value seen is not a
         * transition (the probe may have entered it long ago). */
        if (checks[i].since_ms && val.since_ms != checks[i].since_ms &&
            val.state != checks[i].state)
            checks[i].transitions++;
        checks[i].since_ms = val.since_ms;
        checks[i].state = val.state;
    }
    pthread_mutex_unlock(&lock);
}

void stats_health_each(stats_check_fn fn, void *ctx)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nchecks; i++) {
        char id[17];
        snprintf(id, sizeof(id), "%016llx", (unsigned long long)checks[i].id);
        fn(ctx, id, checks[i].type, checks[i].target, checks[i].state, checks[i].transitions);
    }
    pthread_mutex_unlock(&lock);
}

void stats_shutdown(void)
{
    pthread_mutex_lock(&lock);
    free(checks);
    checks = NULL;
    nchecks = 0;
    pthread_mutex_unlock(&lock);
}
