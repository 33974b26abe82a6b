#include "backend/protocol/exposition.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/daemon/declog.h"
#include "backend/daemon/stats.h"
#include "backend/protocol/rb.h"
#include "backend/steering/health.h"
#include "backend/steering/steer_stats.h"
#include "common/metrics.h"
#include "geo/geodb.h"

/* Process start, for process_start_time_seconds. */
static double start_time;

__attribute__((constructor)) static void note_start(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    start_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void head(buf_t *o, const char *name, const char *type, const char *help)
{
    buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped as the format requires. */
static void put_value(buf_t *o, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            buf_putc(o, '\\');
        if (*v == '\n')
            buf_puts(o, "\\n");
        else
            buf_putc(o, *v);
    }
}

/* A histogram from per-bucket counters (not cumulative) and a sum, scaled
 * by `unit` (1e-9: nanoseconds to seconds). */
static void histogram(buf_t *o, const char *name, const char *help, const uint64_t *buckets,
                      unsigned n, const double *bounds, uint64_t sum, double unit)
{
    head(o, name, "histogram", help);
    uint64_t acc = 0;
    for (unsigned i = 0; i < n; i++) {
        acc += buckets[i];
        if (i + 1 < n)
            buf_printf(o, "%s_bucket{le=\"%.9g\"} %llu\n", name, bounds[i],
                       (unsigned long long)acc);
        else
            buf_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)acc);
    }
    buf_printf(o, "%s_sum %.9g\n%s_count %llu\n", name, (double)sum * unit, name,
               (unsigned long long)acc);
}

static void requests(buf_t *o, const uint64_t *f)
{
    static const char *const results[STATS_RESULTS] = {"data", "empty", "error"};
    head(o, "geosteer_requests_total", "counter",
         "Requests from pdns by interface (remote: the remote backend's JSON; pipe: the pipe "
         "backend's lines, counted as the remote method they stand for), method and result "
         "(data: records or true; empty: no data; error: refused with a log line).");
    for (unsigned m = 0; rb_method_name(m); m++)
        for (unsigned r = 0; r < STATS_RESULTS; r++)
            buf_printf(o,
                       "geosteer_requests_total{interface=\"remote\",method=\"%s\",result=\"%s\"} "
                       "%llu\n",
                       rb_method_name(m), results[r],
                       (unsigned long long)
                           f[STAT_REQUESTS + stats_request_index(STATS_IFACE_REMOTE, m, r)]);
    static const char *const pipe_methods[] = {"lookup", "list", "initialize", "directBackendCmd",
                                               "other"};
    for (unsigned i = 0; i < sizeof(pipe_methods) / sizeof(pipe_methods[0]); i++) {
        unsigned m = rb_method_index(
            i + 1 < sizeof(pipe_methods) / sizeof(pipe_methods[0]) ? pipe_methods[i] : "");
        for (unsigned r = 0; r < STATS_RESULTS; r++)
            buf_printf(
                o,
                "geosteer_requests_total{interface=\"pipe\",method=\"%s\",result=\"%s\"} "
                "%llu\n",
                pipe_methods[i], results[r],
                (unsigned long long)f[STAT_REQUESTS + stats_request_index(STATS_IFACE_PIPE, m, r)]);
    }
    double lat[STATS_LAT_BUCKETS - 1];
    for (unsigned i = 0; i < STATS_LAT_BUCKETS - 1; i++)
        lat[i] = (double)stats_lat_bounds_ns[i] / 1e9;
    histogram(o, "geosteer_lookup_duration_seconds",
              "Time geosteerd spent answering a lookup, from the request line to the reply.",
              &f[STAT_LOOKUP_LAT], STATS_LAT_BUCKETS, lat, f[STAT_LOOKUP_LAT_SUM], 1e-9);
    head(o, "geosteer_lookup_client_subnet_total", "counter",
         "Lookups by whether pdns passed an EDNS Client Subnet (yes) or only the resolver's "
         "address (no).");
    buf_printf(o, "geosteer_lookup_client_subnet_total{ecs=\"yes\"} %llu\n",
               (unsigned long long)f[STAT_ECS_YES]);
    buf_printf(o, "geosteer_lookup_client_subnet_total{ecs=\"no\"} %llu\n",
               (unsigned long long)f[STAT_ECS_NO]);
    double sc[STATS_SCOPE_BUCKETS - 1];
    for (unsigned i = 0; i < STATS_SCOPE_BUCKETS - 1; i++)
        sc[i] = stats_scope_bounds[i];
    histogram(o, "geosteer_answer_scope_prefix_length",
              "ECS scope (prefix length, bits) returned with each dynamic answer.", &f[STAT_SCOPE],
              STATS_SCOPE_BUCKETS, sc, f[STAT_SCOPE_SUM], 1);
}

typedef struct {
    buf_t fam[3]; /* by family: 1 answers, 2 decisions */
} series_ctx_t;

static void series(void *ctx, unsigned family, const char *labels, uint64_t v)
{
    series_ctx_t *sc = ctx;
    static const char *const names[3] = {NULL, "geosteer_steered_answers_total",
                                         "geosteer_decisions_total"};
    if (family < 1 || family > 2)
        return;
    buf_printf(&sc->fam[family], "%s{%s} %llu\n", names[family], labels, (unsigned long long)v);
}

static void steering(buf_t *o, const uint64_t *f)
{
    series_ctx_t sc;
    for (int i = 0; i < 3; i++)
        buf_init(&sc.fam[i]);
    metrics_read_series(series, &sc);
    head(o, "geosteer_steered_answers_total", "counter",
         "Endpoints answered by steering decisions, by policy, pool (empty: the all-down rule "
         "over several pools) and endpoint.");
    if (sc.fam[1].len)
        buf_put(o, sc.fam[1].data, sc.fam[1].len);
    head(o, "geosteer_decisions_total", "counter",
         "Steering decisions by policy, client continent (from the country database; empty "
         "when unknown) and the pool answered from.");
    if (sc.fam[2].len)
        buf_put(o, sc.fam[2].data, sc.fam[2].len);
    for (int i = 0; i < 3; i++)
        buf_free(&sc.fam[i]);
    head(o, "geosteer_steer_policy_missing_total", "counter",
         "steer() lookups naming a policy the loaded config lacks (answered with no data).");
    buf_printf(o, "geosteer_steer_policy_missing_total %llu\n",
               (unsigned long long)f[STAT_POLICY_MISSING]);
    head(o, "geosteer_steer_unlabelled_total", "counter",
         "Decisions or picks that matched no labelled series (always 0 unless geosteerd has a "
         "defect).");
    buf_printf(o, "geosteer_steer_unlabelled_total %llu\n",
               (unsigned long long)f[STAT_STEER_UNMAPPED]);
}

typedef struct {
    buf_t state, trans;
} check_ctx_t;

static void check_row(void *ctx, const char *id, const char *type, const char *target,
                      unsigned state, uint64_t transitions)
{
    static const char *const states[3] = {"unknown", "up", "down"};
    check_ctx_t *cc = ctx;
    for (unsigned i = 0; i < 3; i++)
        buf_printf(&cc->state,
                   "geosteer_health_check_state{check=\"%s\",type=\"%s\",target=\"%s\","
                   "state=\"%s\"} %d\n",
                   id, type, target, states[i], state == i);
    buf_printf(&cc->trans,
               "geosteer_health_check_transitions_total{check=\"%s\",type=\"%s\",target=\"%s\"} "
               "%llu\n",
               id, type, target, (unsigned long long)transitions);
}

static void health(buf_t *o, const snap_t *s)
{
    check_ctx_t cc;
    buf_init(&cc.state);
    buf_init(&cc.trans);
    stats_health_each(check_row, &cc);
    head(o, "geosteer_health_check_state", "gauge",
         "Probe result of each check of the plan: 1 for the state it is in.");
    if (cc.state.len)
        buf_put(o, cc.state.data, cc.state.len);
    head(o, "geosteer_health_check_transitions_total", "counter",
         "State changes of each check seen by geosteerd (checked once a second).");
    if (cc.trans.len)
        buf_put(o, cc.trans.data, cc.trans.len);
    buf_free(&cc.state);
    buf_free(&cc.trans);
    const snap_world_t *w = s->world;
    head(o, "geosteer_endpoint_down", "gauge",
         "1 when steering treats the endpoint as DOWN (a check DOWN and health in use).");
    for (size_t e = 0; w->steer && e < steer_endpoint_count(w->steer); e++) {
        buf_puts(o, "geosteer_endpoint_down{endpoint=\"");
        put_value(o, steer_endpoint_name(w->steer, (uint32_t)e));
        buf_printf(o, "\"} %d\n", w->health && health_endpoint_down(w->health, (uint32_t)e));
    }
    health_status_t h;
    health_status(&h);
    head(o, "geosteer_probe_heartbeat_age_seconds", "gauge",
         "Seconds since geosteer-probe last refreshed its heartbeat (absent: no state file).");
    if (h.hb_age >= 0)
        buf_printf(o, "geosteer_probe_heartbeat_age_seconds %.3f\n", h.hb_age);
    head(o, "geosteer_health_in_use", "gauge",
         "1 while probe results steer answers (0: no probe yet, or stale under the ignore "
         "rule).");
    buf_printf(o, "geosteer_health_in_use %d\n", h.in_use);
}

static void geoip(buf_t *o, const snap_t *s)
{
    const geo_db_t *dbs[2] = {s->world->geo, s->world->asn};
    static const char *const names[2] = {"country", "asn"};
    buf_t age;
    buf_init(&age);
    head(o, "geosteer_geoip_build_timestamp_seconds", "gauge",
         "Build time (metadata build_epoch) of each loaded GeoIP database.");
    head(&age, "geosteer_geoip_age_seconds", "gauge",
         "Age of each loaded GeoIP database (now minus its build time).");
    for (int i = 0; i < 2; i++) {
        geo_db_info_t info;
        if (!dbs[i])
            continue;
        geo_db_info(dbs[i], &info);
        buf_printf(o, "geosteer_geoip_build_timestamp_seconds{database=\"%s\"} %llu\n", names[i],
                   (unsigned long long)info.build_epoch);
        buf_printf(&age, "geosteer_geoip_age_seconds{database=\"%s\"} %.0f\n", names[i],
                   difftime(time(NULL), (time_t)info.build_epoch));
    }
    buf_put(o, age.data, age.len);
    buf_free(&age);
}

static void config_store(buf_t *o, const snap_t *s, const uint64_t *f)
{
    head(o, "geosteer_config_generation", "gauge",
         "Configurations installed since start (1 after start-up; each applied reload adds 1).");
    buf_printf(o, "geosteer_config_generation %llu\n", (unsigned long long)f[STAT_CONFIG_GEN]);
    head(o, "geosteer_config_reloads_total", "counter",
         "Reloads (SIGHUP, the reload command, a changed GeoIP file) by result.");
    buf_printf(o, "geosteer_config_reloads_total{result=\"applied\"} %llu\n",
               (unsigned long long)f[STAT_RELOAD_APPLIED]);
    buf_printf(o, "geosteer_config_reloads_total{result=\"refused\"} %llu\n",
               (unsigned long long)f[STAT_RELOAD_REFUSED]);
    head(o, "geosteer_config_last_reload_success_timestamp_seconds", "gauge",
         "When the serving configuration or GeoIP data was last applied.");
    buf_printf(o, "geosteer_config_last_reload_success_timestamp_seconds %llu\n",
               (unsigned long long)f[STAT_RELOAD_LAST_OK]);
    head(o, "geosteer_zone_serial", "gauge", "SOA serial of each served zone.");
    for (size_t i = 0; i < s->nzones; i++) {
        buf_puts(o, "geosteer_zone_serial{zone=\"");
        put_value(o, s->zones[i]->name);
        buf_printf(o, "\"} %u\n", s->zones[i]->serial);
    }
    head(o, "geosteer_zones", "gauge", "Zones served.");
    buf_printf(o, "geosteer_zones %zu\n", s->nzones);
    double cb[STATS_COMMIT_BUCKETS - 1];
    for (unsigned i = 0; i < STATS_COMMIT_BUCKETS - 1; i++)
        cb[i] = (double)stats_commit_bounds_ns[i] / 1e9;
    histogram(o, "geosteer_store_commit_duration_seconds",
              "Time of each zone store commit (the SQLite COMMIT, with its fsync).",
              &f[STAT_COMMIT], STATS_COMMIT_BUCKETS, cb, f[STAT_COMMIT_SUM], 1e-9);
    head(o, "geosteer_store_commit_failures_total", "counter", "Zone store commits that failed.");
    buf_printf(o, "geosteer_store_commit_failures_total %llu\n",
               (unsigned long long)f[STAT_COMMIT_FAILED]);
    head(o, "geosteer_pdns_cache_purges_total", "counter",
         "Purge commands sent to pdns's control socket after health changes, by result.");
    buf_printf(o, "geosteer_pdns_cache_purges_total{result=\"ok\"} %llu\n",
               (unsigned long long)f[STAT_PURGE_SENT]);
    buf_printf(o, "geosteer_pdns_cache_purges_total{result=\"failed\"} %llu\n",
               (unsigned long long)f[STAT_PURGE_FAILED]);
}

static void decision_log(buf_t *o)
{
    declog_stats_t st;
    declog_stats(&st);
    head(o, "geosteer_decision_log_lines_total", "counter",
         "Decision log lines by outcome: written, dropped by max_per_second, lost to a failed "
         "write.");
    buf_printf(o, "geosteer_decision_log_lines_total{result=\"written\"} %llu\n",
               (unsigned long long)st.lines);
    buf_printf(o, "geosteer_decision_log_lines_total{result=\"rate_limited\"} %llu\n",
               (unsigned long long)st.rate_dropped);
    buf_printf(o, "geosteer_decision_log_lines_total{result=\"failed\"} %llu\n",
               (unsigned long long)st.write_errors);
}

static void process(buf_t *o)
{
    head(o, "geosteer_build_info", "gauge", "Version of the running geosteerd.");
    buf_printf(o, "geosteer_build_info{version=\"%s\"} 1\n", GEOSTEER_VERSION);
    head(o, "process_start_time_seconds", "gauge", "Start time of the process (Unix time).");
    buf_printf(o, "process_start_time_seconds %.3f\n", start_time);
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size, rss;
    if (f && fscanf(f, "%lu %lu", &size, &rss) == 2) {
        long page = sysconf(_SC_PAGESIZE);
        head(o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        buf_printf(o, "process_resident_memory_bytes %llu\n",
                   (unsigned long long)rss * (unsigned long long)page);
        head(o, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
        buf_printf(o, "process_virtual_memory_bytes %llu\n",
                   (unsigned long long)size * (unsigned long long)page);
    }
    if (f)
        fclose(f);
}

void exposition_render(buf_t *out, const snap_t *s)
{
    uint64_t *f = calloc(METRICS_FIXED_MAX, sizeof(*f));
    if (!f)
        return;
    metrics_read_fixed(f);
    requests(out, f);
    steering(out, f);
    health(out, s);
    geoip(out, s);
    config_store(out, s, f);
    decision_log(out);
    process(out);
    free(f);
}
