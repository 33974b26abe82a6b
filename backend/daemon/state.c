#include "backend/daemon/state.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "backend/daemon/declog.h"
#include "backend/daemon/stats.h"
#include "backend/dns/dname.h"
#include "backend/dns/nsec.h"
#include "backend/steering/health.h"
#include "backend/steering/luac.h"
#include "backend/steering/steer.h"
#include "backend/zones/records.h"
#include "backend/zones/snap.h"
#include "backend/zones/store.h"
#include "common/buf.h"
#include "common/hstate.h"
#include "common/htab.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static pthread_mutex_t writer_lock = PTHREAD_MUTEX_INITIALIZER;
static store_t *store;
static char *config_path; /* geosteer.json of the last load; guarded by writer_lock */
/* The config serving now, as loaded from config_path: a replaced GeoIP file
 * is reopened for it, never for a newer geosteer.json (only SIGHUP or
 * `reload` applies one). writer_lock. */
static cfg_t live_cfg;
static bool live_cfg_loaded;

/* The last failed write of each zone, for `status`. Writer lock. */
typedef struct {
    int64_t zone_id;
    char *zone;
    const char *what; /* static: "commit", "zone load", "write", ... */
    int64_t at;       /* seconds since the epoch */
    char *reason;
    int64_t ok_at; /* a later commit of the zone succeeded at this time, or 0 */
} write_fail_t;
static write_fail_t *fails;
static size_t nfails;

/* Replication state that pdns's communicator thread reads and writes
 * (getUnfreshSlaveInfos, setFresh, setStale, setNotified,
 * superMasterBackend, getTSIGKey) is guarded by repl_lock, never by the
 * writer lock: pdns 4.7 exits when one of its communicator's backend calls
 * outlasts the connector's timeout, and the writer lock is held for seconds
 * at times (a reload compiling a big config, a big commit). What must reach
 * the store (a notified serial, a secondary's refresh time) is written by
 * the main thread's tick (state_flush_repl). Lock order: writer_lock, then
 * repl_lock. */
static pthread_mutex_t repl_lock = PTHREAD_MUTEX_INITIALIZER;

/* What this node knows of each zone's replication (repl_lock): pdns's
 * freshness checks and the last transfer's outcome, in memory only (after
 * a restart every secondary is due for a check, as pdns's own backends do
 * it), and the changes not yet written to the store. */
typedef struct {
    int64_t zone_id;
    int64_t checked_at;      /* last setFresh; 0: due for a check (setStale, start) */
    int64_t xfr_at;          /* end of the last transfer, 0: none since start */
    uint32_t xfr_serial;     /* the serial it carried */
    bool xfr_ok;             /* committed, or refused with xfr_reason */
    char *xfr_reason;        /* owned */
    uint32_t refused_logged; /* the serial whose refusal was last logged */
    bool refused_logged_set;
    bool notified_dirty, refreshed_dirty; /* to be written by state_flush_repl */
    uint32_t notified;
    int64_t refreshed;
} repl_t;
static repl_t *repls;
static size_t nrepls;

/* Autoprimaries and TSIG keys as stored, copied for the communicator's
 * reads (repl_lock); rebuilt after each change. */
typedef struct {
    char *a, *b, *c; /* ip, nameserver, account / name, algorithm, secret */
} row3_t;
static row3_t *aps, *tsigs;
static size_t naps, ntsigs;

/* The index in `repls` (kept sorted by zone id) of `zone_id`, or where it
 * would go. getUnfreshSlaveInfos looks up every secondary zone each time
 * pdns asks: O(log n) each. repl_lock held. */
static size_t repl_pos(int64_t zone_id)
{
    size_t lo = 0, hi = nrepls;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (repls[mid].zone_id < zone_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static repl_t *repl_get(int64_t zone_id, bool create)
{
    size_t i = repl_pos(zone_id);
    if (i < nrepls && repls[i].zone_id == zone_id)
        return &repls[i];
    if (!create)
        return NULL;
    if (nrepls % 16 == 0)
        repls = mem_realloc_n(repls, nrepls + 16, sizeof(*repls));
    memmove(&repls[i + 1], &repls[i], (nrepls - i) * sizeof(*repls));
    repls[i] = (repl_t){.zone_id = zone_id};
    nrepls++;
    return &repls[i];
}

static void repl_forget(int64_t zone_id)
{
    size_t i = repl_pos(zone_id);
    if (i < nrepls && repls[i].zone_id == zone_id) {
        free(repls[i].xfr_reason);
        memmove(&repls[i], &repls[i + 1], (nrepls - i - 1) * sizeof(*repls));
        nrepls--;
    }
}

static void fail_forget(int64_t zone_id)
{
    for (size_t i = 0; i < nfails; i++)
        if (fails[i].zone_id == zone_id) {
            free(fails[i].zone);
            free(fails[i].reason);
            fails[i] = fails[--nfails];
            return;
        }
}

/* Identity of the GeoIP files the served world was built from (or that last
 * failed to load), so that a replaced file is noticed once. writer_lock. */
typedef struct {
    char *path;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} file_id_t;
static file_id_t geo_files[2];
static void remember_file(file_id_t *f, const char *path);

/* Set once a config named the runtime directory: plans can be published. */
static bool plan_enabled;

/* Publishes the check plan: the config's checks and the health checks of
 * every ifportup/ifurlup address in the served zones, so a record's checks
 * run from its commit on. Unchanged plans are not rewritten. Writer lock. */
static void publish_plan_locked(void)
{
    if (!plan_enabled)
        return;
    const snap_t *s = snap_current();
    const plan_t *cp = &s->world->engine->checks.plan;
    /* Both come from the parsed config, which always holds them. */
    plan_t plan = {.max_in_flight = cp->max_in_flight, .heartbeat_ms = cp->heartbeat_ms};
    for (size_t i = 0; i < cp->n; i++)
        plan_add(&plan, &cp->checks[i]);
    size_t from_zones = 0;
    for (size_t z = 0; z < s->nzones; z++) {
        const zone_t *zone = s->zones[z];
        for (size_t i = 0; i < zone->nnodes; i++) {
            const zone_node_t *node = &zone->nodes[i];
            for (uint32_t r = 0; node->dynamic && r < node->nrecs; r++)
                if (node->recs[r].prog) {
                    char label[300];
                    snprintf(label, sizeof(label), "%s LUA", node->name);
                    from_zones += luac_plan_checks(node->recs[r].prog, &plan, label);
                }
        }
    }
    plan_finish(&plan);
    stats_health_plan(&plan);
    static uint64_t last_gen;
    gs_err_t e;
    if (health_publish_plan(&plan, &e) != 0)
        log_err("state: check plan not published, the probe keeps its old one: %s", e.text);
    else if (plan.generation != last_gen)
        log_info("state: check plan generation %llu: %zu checks (%zu addresses of LUA records)",
                 (unsigned long long)plan.generation, plan.n, from_zones);
    last_gen = plan.generation;
    plan_free(&plan);
}

/* Where the programs of a rebuilt zone come from: the transaction just
 * committed (its new LUA records, compiled when they were written) and the
 * image being replaced (every record it did not touch). */
typedef struct {
    const trx_t *trx;  /* may be NULL */
    const zone_t *old; /* may be NULL */
} prog_source_t;

static const luac_prog_t *prog_reuse(void *ctx, const char *name, const char *content)
{
    const prog_source_t *src = ctx;
    if (src->trx) {
        /* the last pending op on the name wins, as in the store */
        const luac_prog_t *found = NULL;
        for (size_t i = trx_next_on(src->trx, name, SIZE_MAX); i != SIZE_MAX;
             i = trx_next_on(src->trx, name, i)) {
            const trx_op_t *op = &src->trx->ops[i];
            for (size_t k = 0; k < op->nrecs; k++)
                if (op->recs[k].prog && strcmp(op->recs[k].content, content) == 0)
                    found = op->recs[k].prog;
        }
        if (found)
            return found;
    }
    if (src->old) {
        size_t len = strlen(name);
        const zone_node_t *node = zone_find(src->old, name, len, dname_hash(name, len));
        for (uint32_t k = 0; node && node->dynamic && k < node->nrecs; k++)
            if (node->recs[k].prog && strcmp(node->recs[k].content, content) == 0)
                return node->recs[k].prog;
    }
    return NULL;
}

/* Re-reads zone `id` from the store and publishes it; `trx` is the
 * transaction just committed to it, or NULL. Writer lock held. */
static int republish(int64_t id, const trx_t *trx, gs_err_t *err)
{
    zone_t *z = NULL;
    size_t skipped = 0;
    gs_err_t e = {{0}};
    prog_source_t src = {trx, snap_zone_by_id(snap_current(), id)};
    int rc = zone_load(store, id, prog_reuse, &src, &z, &skipped, &e);
    if (rc == GS_ENOTFOUND) {
        snap_replace_zone(id, NULL);
        publish_plan_locked();
        return 0;
    }
    if (rc) {
        /* The change is committed on disk but could not be read back: keep
         * serving the previous image and say so; a restart will load it. */
        log_err("state: zone id %lld: committed but not reloaded: %s", (long long)id, e.text);
        return gs_err_set(err, rc, "%s", e.text);
    }
    if (skipped)
        log_warn("state: %s: %zu invalid stored records skipped; first: %s", z->name, skipped,
                 e.text);
    /* The served notified serial and refresh time are ahead of the store's
     * until the next state_flush_repl: keep them. */
    if (src.old) {
        if (atomic_load(&src.old->refreshed) > atomic_load(&z->refreshed))
            atomic_store(&z->refreshed, atomic_load(&src.old->refreshed));
        atomic_store(&z->notified_serial, atomic_load(&src.old->notified_serial));
    }
    snap_replace_zone(id, z);
    publish_plan_locked();
    return 0;
}

static int reload_rows_locked(gs_err_t *err);

int state_open(const char *db_path, gs_err_t *err)
{
    int rc = store_open(db_path, &store, err);
    if (rc)
        return rc;
    snap_init();
    int64_t *ids = NULL;
    size_t n = 0;
    if ((rc = store_zone_ids(store, &ids, &n, err))) {
        state_close();
        return rc;
    }
    pthread_mutex_lock(&writer_lock);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = republish(ids[i], NULL, err);
        if (rc == GS_EINVAL) {
            /* One damaged zone must not take the others down with it. */
            log_err("state: zone id %lld not served: %s", (long long)ids[i], err->text);
            rc = 0;
        }
    }
    if (rc == 0)
        rc = reload_rows_locked(err);
    pthread_mutex_unlock(&writer_lock);
    free(ids);
    if (rc) {
        state_close();
        return rc;
    }
    log_info("state: zone store '%s': %zu zones loaded", db_path, n);
    return 0;
}

static void rows_free(row3_t **v, size_t *n);

void state_close(void)
{
    state_flush_repl();
    rows_free(&aps, &naps);
    rows_free(&tsigs, &ntsigs);
    store_close(store);
    store = NULL;
    free(config_path);
    config_path = NULL;
    for (int i = 0; i < 2; i++)
        remember_file(&geo_files[i], NULL);
    while (nfails)
        fail_forget(fails[0].zone_id);
    free(fails);
    fails = NULL;
    while (nrepls)
        repl_forget(repls[0].zone_id);
    free(repls);
    repls = NULL;
    cfg_free(&live_cfg);
    live_cfg_loaded = false;
    snap_shutdown();
    health_shutdown();
}

/* Applies one operation inside the open store transaction. A failure
 * names the rrset or record it happened on. */
static int apply_op(int64_t zid, const trx_op_t *op, gs_err_t *err)
{
    int rc = 0;
    gs_err_t e;
    if (!op->feed && (rc = store_rrset_delete(store, zid, op->name, op->type->name, &e)))
        return gs_err_set(err, rc, "%s %s: %s", op->name, op->type->name, e.text);
    for (size_t k = 0; rc == 0 && k < op->nrecs; k++) {
        const trx_rec_t *r = &op->recs[k];
        if ((rc = store_record_insert(store, zid, op->name, r->type->name, r->content, r->ttl, &e)))
            return gs_err_set(err, rc, "%s %u %s %.200s: %s", op->name, r->ttl, r->type->name,
                              r->content, e.text);
    }
    return rc;
}

/* Logs a refused (GS_EINVAL, GS_ECONFLICT, GS_ETOOBIG, GS_ENOTFOUND) or
 * failed (store, system) write to `zone` and remembers it for `status`.
 * pdnsutil exits 0 whatever the backend says, so this and `status` are
 * where an operator finds out. Writer lock held. */
static void write_failed_locked(int64_t zone_id, const char *zone, const char *what, int rc,
                                const char *reason)
{
    bool refused = rc == GS_EINVAL || rc == GS_ECONFLICT || rc == GS_ETOOBIG || rc == GS_ENOTFOUND;
    int prio = refused ? LOG_WARNING : LOG_ERR;
    const char *how = refused ? "refused" : "failed";
    /* Two limiters: a load with many refused records must not hide the
     * line that says the whole commit or load was refused. */
    if (strcmp(what, "write") == 0)
        LOG_RATELIMITED(prio, "state: %s: write %s, nothing changed: %s", zone, how, reason);
    else if (strcmp(what, "transfer") != 0) /* logged once per serial by the caller */
        LOG_RATELIMITED(prio, "state: %s: %s %s, nothing changed: %s", zone, what, how, reason);
    fail_forget(zone_id);
    if (nfails % 16 == 0)
        fails = mem_realloc_n(fails, nfails + 16, sizeof(*fails));
    fails[nfails++] =
        (write_fail_t){zone_id, mem_strdup(zone), what, (int64_t)time(NULL), mem_strdup(reason), 0};
}

void state_write_refused(int64_t zone_id, const char *what, int rc, const char *reason)
{
    pthread_mutex_lock(&writer_lock);
    const zone_t *z = snap_zone_by_id(snap_current(), zone_id);
    char id[32];
    snprintf(id, sizeof(id), "zone id %lld", (long long)zone_id);
    write_failed_locked(zone_id, z ? z->name : id, what, rc, reason);
    pthread_mutex_unlock(&writer_lock);
}

void state_write_failures_each(state_fail_fn fn, void *ctx)
{
    pthread_mutex_lock(&writer_lock);
    for (size_t i = 0; i < nfails; i++)
        fn(ctx, fails[i].zone, fails[i].what, fails[i].at, fails[i].reason, fails[i].ok_at);
    pthread_mutex_unlock(&writer_lock);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* store_commit, timed for the commit duration histogram. */
static int timed_commit(gs_err_t *err)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = store_commit(store, err);
    clock_gettime(CLOCK_MONOTONIC, &b);
    stats_commit((uint64_t)(b.tv_sec - a.tv_sec) * 1000000000u + (uint64_t)b.tv_nsec -
                     (uint64_t)a.tv_nsec,
                 rc == 0);
    return rc;
}

/* health_purge, counted. */
static void purge(const char *names, size_t n)
{
    size_t failed;
    size_t sent = health_purge(names, n, &failed);
    metrics_count(STAT_PURGE_SENT, sent - failed);
    metrics_count(STAT_PURGE_FAILED, failed);
}

/* Records a refused transfer into secondary zone `apex` and logs it once
 * per serial: pdns retries a refused serial at every refresh, and the
 * reason is in `status` and `zone list` meanwhile. Writer lock held. */
static void transfer_refused_locked(const trx_t *trx, const char *apex, uint32_t served, int rc,
                                    const char *reason)
{
    pthread_mutex_lock(&repl_lock);
    repl_t *r = repl_get(trx->zone_id, true);
    r->xfr_at = (int64_t)time(NULL);
    r->xfr_serial = trx->fed_soa ? trx->fed_serial : 0;
    r->xfr_ok = false;
    free(r->xfr_reason);
    r->xfr_reason = mem_strdup(reason);
    bool again = r->refused_logged_set && r->refused_logged == r->xfr_serial;
    uint32_t serial = r->xfr_serial;
    r->refused_logged = r->xfr_serial;
    r->refused_logged_set = true;
    pthread_mutex_unlock(&repl_lock);
    if (again)
        return;
    bool refused = rc == GS_EINVAL || rc == GS_ECONFLICT || rc == GS_ETOOBIG;
    log_msg(refused ? LOG_WARNING : LOG_ERR,
            "state: %s: transfer of serial %u %s, still serving serial %u: %s", apex, serial,
            refused ? "refused" : "failed", served, reason);
}

int state_commit(const trx_t *trx, gs_err_t *err)
{
    pthread_mutex_lock(&writer_lock);
    int rc;
    const zone_t *z = snap_zone_by_id(snap_current(), trx->zone_id);
    if (!z) {
        rc =
            gs_err_set(err, GS_ENOTFOUND, "zone id %lld no longer exists", (long long)trx->zone_id);
        LOG_RATELIMITED(LOG_WARNING, "state: commit refused: %s", err->text);
        goto out;
    }
    char *apex = mem_strdup(z->name);
    double t0 = now_sec();
    /* A whole-zone transaction into a secondary zone is a transfer from
     * its primary (pdns's AXFR), or an operator's load-zone. */
    bool xfr = z->kind == STORE_KIND_SECONDARY && trx->replace_all;
    uint32_t served_serial = z->serial;
    if (trx->poison) {
        rc = gs_err_set(err, GS_EINVAL, "transaction refused: %s", trx->poison);
        goto out_apex;
    }
    if ((rc = store_begin(store, err)))
        goto out_apex;
    if (trx->replace_all)
        rc = store_records_clear(store, trx->zone_id, err);
    for (size_t i = 0; rc == 0 && i < trx->nops; i++)
        rc = apply_op(trx->zone_id, &trx->ops[i], err);
    if (rc == 0) {
        if (trx->replace_all) {
            rc = store_check(store, trx->zone_id, apex, NULL, err);
        } else {
            /* Check each touched name once. */
            const char **names = mem_calloc(trx->nops, sizeof(*names));
            for (size_t i = 0; i < trx->nops; i++)
                names[i] = trx->ops[i].name;
            qsort(names, trx->nops, sizeof(*names), cmp_str);
            for (size_t i = 0; rc == 0 && i < trx->nops; i++)
                if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
                    rc = store_check(store, trx->zone_id, apex, names[i], err);
            free(names);
        }
    }
    /* A primary zone's change that left the serial as it was (pdnsutil
     * add-record, replace-rrset, delete-rrset) raises it by one, in the same
     * transaction: pdns NOTIFYs only serials it has not sent, and a
     * secondary transfers only a higher one (doc/replication.md). A zone
     * load takes its file's serial as it is. */
    uint32_t old_serial = z->serial, new_serial = 0;
    bool bump = rc == 0 && z->kind == STORE_KIND_PRIMARY && !trx->replace_all && trx->nops > 0;
    if (bump)
        rc = store_soa_bump(store, trx->zone_id, apex, old_serial, &new_serial, err);
    if (rc == 0)
        rc = timed_commit(err);
    if (rc) {
        store_rollback(store);
        goto out_apex;
    }
    if (bump && new_serial == old_serial + 1)
        log_info("state: %s: serial raised to %u (primary zone)", apex, new_serial);
    rc = republish(trx->zone_id, trx, err);
    for (size_t i = 0; i < nfails; i++)
        if (fails[i].zone_id == trx->zone_id)
            fails[i].ok_at = (int64_t)time(NULL);
    if (xfr) {
        const zone_t *nz = snap_zone_by_id(snap_current(), trx->zone_id);
        uint32_t serial = nz ? nz->serial : 0;
        pthread_mutex_lock(&repl_lock);
        repl_t *r = repl_get(trx->zone_id, true);
        r->xfr_at = (int64_t)time(NULL);
        r->xfr_serial = serial;
        r->xfr_ok = true;
        free(r->xfr_reason);
        r->xfr_reason = NULL;
        pthread_mutex_unlock(&repl_lock);
        log_info("state: %s: transfer committed: serial %u, %zu records, in %.0f ms", apex, serial,
                 trx->nops, (now_sec() - t0) * 1000);
    } else {
        log_info("state: %s: committed %zu changes%s in %.0f ms", apex, trx->nops,
                 trx->replace_all ? " (zone replaced)" : "", (now_sec() - t0) * 1000);
    }
    free(apex);
    goto out;
out_apex:
    if (xfr)
        transfer_refused_locked(trx, apex, served_serial, rc, err->text);
    write_failed_locked(trx->zone_id, apex,
                        xfr                ? "transfer"
                        : trx->replace_all ? "zone load"
                                           : "commit",
                        rc, err->text);
    free(apex);
out:
    pthread_mutex_unlock(&writer_lock);
    return rc;
}

void state_zone_opts_default(state_zone_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->refresh = 10800;
    o->retry = 3600;
    o->expire = 604800;
    o->minimum = 300;
    o->ttl = 3600;
}

/* Drops the trailing dot of a canonical name, the form stored in content. */
static void put_name(buf_t *b, const char *canon)
{
    size_t n = strlen(canon);
    buf_put(b, canon, n > 1 ? n - 1 : n);
}

int state_zone_create(const char *name, const state_zone_opts_t *o, int64_t *id, gs_err_t *err)
{
    buf_t soa, tmp;
    buf_init(&soa);
    buf_init(&tmp);
    uint32_t serial = o->serial;
    if (!serial) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        serial = (uint32_t)((tm.tm_year + 1900) * 1000000 + (tm.tm_mon + 1) * 10000 +
                            tm.tm_mday * 100 + 1);
    }
    if (o->mname) {
        put_name(&soa, o->mname);
    } else if (o->nns) {
        put_name(&soa, o->ns[0]);
    } else {
        buf_puts(&tmp, "ns1.");
        buf_puts(&tmp, name);
        put_name(&soa, tmp.data);
    }
    buf_putc(&soa, ' ');
    if (o->rname) {
        put_name(&soa, o->rname);
    } else {
        buf_reset(&tmp);
        buf_puts(&tmp, "hostmaster.");
        buf_puts(&tmp, name);
        put_name(&soa, tmp.data);
    }
    buf_printf(&soa, " %u %u %u %u %u", serial, o->refresh, o->retry, o->expire, o->minimum);

    /* A secondary starts empty: its records come with the first transfer. */
    bool secondary = o->kind == STORE_KIND_SECONDARY;
    pthread_mutex_lock(&writer_lock);
    int rc = store_begin(store, err);
    if (rc == 0)
        rc = store_zone_insert(store, name, id, err);
    if (rc == 0 && o->kind != STORE_KIND_NATIVE)
        rc = store_zone_set_kind(store, *id, (store_kind_t)o->kind, err);
    if (rc == 0 && o->masters)
        rc = store_zone_set_masters(store, *id, o->masters, err);
    if (rc == 0 && !secondary)
        rc = store_record_insert(store, *id, name, "SOA", soa.data, o->ttl, err);
    for (size_t i = 0; rc == 0 && !secondary && i < o->nns; i++) {
        buf_reset(&tmp);
        put_name(&tmp, o->ns[i]);
        rc = store_record_insert(store, *id, name, "NS", tmp.data, o->ttl, err);
    }
    if (rc == 0)
        rc = timed_commit(err);
    if (rc)
        store_rollback(store);
    else
        rc = republish(*id, NULL, err);
    pthread_mutex_unlock(&writer_lock);
    if (rc == 0 && secondary)
        log_info("state: zone %s created (id %lld), secondary of %s", name, (long long)*id,
                 o->masters ? o->masters : "no primary yet");
    else if (rc == 0)
        log_info("state: zone %s created (id %lld)", name, (long long)*id);
    buf_free(&soa);
    buf_free(&tmp);
    return rc;
}

int state_zone_delete(const char *name, gs_err_t *err)
{
    int64_t id;
    pthread_mutex_lock(&writer_lock);
    int rc = store_zone_find(store, name, &id, err);
    if (rc == 0)
        rc = store_begin(store, err);
    if (rc == 0) {
        rc = store_zone_remove(store, id, err);
        if (rc == 0)
            rc = timed_commit(err);
        if (rc) {
            store_rollback(store);
        } else {
            snap_replace_zone(id, NULL);
            publish_plan_locked();
            fail_forget(id);
            pthread_mutex_lock(&repl_lock);
            repl_forget(id);
            pthread_mutex_unlock(&repl_lock);
        }
    }
    pthread_mutex_unlock(&writer_lock);
    if (rc == 0)
        log_info("state: zone %s deleted (id %lld)", name, (long long)id);
    return rc;
}

/* Runs one zone-row update (`set`) in its own transaction and republishes
 * the zone. Under the writer lock. */
static int zone_row_update_locked(int64_t id, int (*set)(int64_t, const void *, gs_err_t *),
                                  const void *arg, gs_err_t *err)
{
    int rc = store_begin(store, err);
    if (rc)
        return rc;
    rc = set(id, arg, err);
    if (rc == 0)
        rc = timed_commit(err);
    if (rc) {
        store_rollback(store);
        return rc;
    }
    return republish(id, NULL, err);
}

static int set_kind(int64_t id, const void *arg, gs_err_t *err)
{
    return store_zone_set_kind(store, id, *(const store_kind_t *)arg, err);
}

int state_zone_set_kind(const char *name, int kind, gs_err_t *err)
{
    if (kind < STORE_KIND_NATIVE || kind > STORE_KIND_SECONDARY)
        return gs_err_set(err, GS_EINVAL, "unknown zone kind %d", kind);
    store_kind_t k = (store_kind_t)kind;
    int64_t id;
    pthread_mutex_lock(&writer_lock);
    int rc = store_zone_find(store, name, &id, err);
    if (rc == 0)
        rc = zone_row_update_locked(id, set_kind, &k, err);
    pthread_mutex_unlock(&writer_lock);
    if (rc == 0)
        log_info("state: zone %s is now %s", name, store_kind_name(k));
    return rc;
}

void state_zone_notified(zone_t *z, uint32_t serial)
{
    atomic_store(&z->notified_serial, serial);
    pthread_mutex_lock(&repl_lock);
    repl_t *r = repl_get(z->id, true);
    r->notified = serial;
    r->notified_dirty = true;
    pthread_mutex_unlock(&repl_lock);
}

/* ---- the secondary side ------------------------------------------------ */

/* Appends the canonical text of one primary address `in` (NUL-terminated,
 * `len` bytes): IPv4 or IPv6 with an optional port (ADDR, ADDR:PORT,
 * [V6]:PORT, a bare V6 without one), in the form pdns's getDomainInfo
 * parser reads (it throws, killing its thread, on any other): "a.b.c.d[:port]"
 * and "[v6]:port" or "v6". */
static int master_canon(const char *in, size_t len, buf_t *out, gs_err_t *err)
{
    char host[INET6_ADDRSTRLEN + 8], txt[INET6_ADDRSTRLEN];
    const char *port = NULL;
    size_t hl = len;
    if (len && in[0] == '[') {
        const char *rb = memchr(in, ']', len);
        if (!rb || (size_t)(rb - in) + 1 == len || rb[1] != ':')
            return gs_err_set(err, GS_EINVAL, "primary '%.*s': expected [IPv6]:PORT", (int)len, in);
        hl = (size_t)(rb - in) - 1;
        in++;
        port = rb + 2;
    } else {
        const char *c1 = memchr(in, ':', len);
        if (c1 && !memchr(c1 + 1, ':', len - (size_t)(c1 - in) - 1)) { /* a.b.c.d:port */
            hl = (size_t)(c1 - in);
            port = c1 + 1;
        }
    }
    if (hl == 0 || hl >= sizeof(host))
        return gs_err_set(err, GS_EINVAL, "primary '%.*s' is not an IP address", (int)len, in);
    memcpy(host, in, hl);
    host[hl] = 0;
    struct in6_addr a6;
    struct in_addr a4;
    bool v6 = false;
    if (inet_pton(AF_INET, host, &a4) == 1)
        inet_ntop(AF_INET, &a4, txt, sizeof(txt));
    else if (inet_pton(AF_INET6, host, &a6) == 1 && (v6 = true))
        inet_ntop(AF_INET6, &a6, txt, sizeof(txt));
    else
        return gs_err_set(err, GS_EINVAL, "primary '%s' is not an IP address", host);
    unsigned long p = 53;
    if (port) {
        char *end;
        p = strtoul(port, &end, 10);
        if (*port < '0' || *port > '9' || *end || p == 0 || p > 65535)
            return gs_err_set(err, GS_EINVAL, "primary '%s': bad port '%.8s'", host, port);
    }
    if (out->len)
        buf_putc(out, ' ');
    if (p == 53)
        buf_puts(out, txt);
    else if (v6)
        buf_printf(out, "[%s]:%lu", txt, p);
    else
        buf_printf(out, "%s:%lu", txt, p);
    return 0;
}

int state_masters_canon(const char *in, buf_t *out, gs_err_t *err)
{
    buf_reset(out);
    size_t n = 0;
    for (const char *p = in; *p;) {
        p += strspn(p, " ,");
        size_t len = strcspn(p, " ,");
        if (!len)
            break;
        char one[128];
        if (len >= sizeof(one))
            return gs_err_set(err, GS_EINVAL, "primary '%.40s...' is not an IP address", p);
        memcpy(one, p, len);
        one[len] = 0;
        int rc = master_canon(one, len, out, err);
        if (rc)
            return rc;
        n++;
        p += len;
    }
    if (!n)
        return gs_err_set(err, GS_EINVAL, "no primary address given");
    if (out->len > 1000)
        return gs_err_set(err, GS_EINVAL, "too many primaries");
    return 0;
}

static int set_masters(int64_t id, const void *arg, gs_err_t *err)
{
    return store_zone_set_masters(store, id, arg, err);
}

int state_zone_set_masters(const char *name, const char *masters, gs_err_t *err)
{
    int64_t id;
    pthread_mutex_lock(&writer_lock);
    int rc = store_zone_find(store, name, &id, err);
    if (rc == 0)
        rc = zone_row_update_locked(id, set_masters, masters, err);
    if (rc == 0) {
        pthread_mutex_lock(&repl_lock);
        repl_t *r = repl_get(id, false);
        if (r)
            r->checked_at = 0; /* new primaries: check them at once */
        pthread_mutex_unlock(&repl_lock);
    }
    pthread_mutex_unlock(&writer_lock);
    if (rc == 0)
        log_info("state: zone %s: primaries now %s", name, *masters ? masters : "(none)");
    return rc;
}

void state_zone_fresh(zone_t *z)
{
    int64_t now = (int64_t)time(NULL);
    atomic_store(&z->refreshed, now);
    pthread_mutex_lock(&repl_lock);
    repl_t *r = repl_get(z->id, true);
    r->checked_at = now;
    r->refreshed = now;
    r->refreshed_dirty = true;
    pthread_mutex_unlock(&repl_lock);
}

void state_zone_stale(int64_t zone_id)
{
    pthread_mutex_lock(&repl_lock);
    repl_get(zone_id, true)->checked_at = 0;
    pthread_mutex_unlock(&repl_lock);
}

bool state_repl_info(int64_t zone_id, state_repl_info_t *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&repl_lock);
    const repl_t *r = repl_get(zone_id, false);
    if (r) {
        out->checked_at = r->checked_at;
        out->xfr_at = r->xfr_at;
        out->xfr_serial = r->xfr_serial;
        out->xfr_ok = r->xfr_ok;
        snprintf(out->reason, sizeof(out->reason), "%s", r->xfr_reason ? r->xfr_reason : "");
    }
    pthread_mutex_unlock(&repl_lock);
    return r != NULL;
}

void state_flush_repl(void)
{
    if (!store)
        return;
    pthread_mutex_lock(&writer_lock);
    typedef struct {
        int64_t id, refreshed;
        uint32_t notified;
        bool n, f;
    } pend_t;
    pend_t *p = NULL;
    size_t np = 0;
    pthread_mutex_lock(&repl_lock);
    for (size_t i = 0; i < nrepls; i++) {
        repl_t *r = &repls[i];
        if (!r->notified_dirty && !r->refreshed_dirty)
            continue;
        p = mem_realloc_n(p, np + 1, sizeof(*p));
        p[np++] =
            (pend_t){r->zone_id, r->refreshed, r->notified, r->notified_dirty, r->refreshed_dirty};
        r->notified_dirty = r->refreshed_dirty = false;
    }
    pthread_mutex_unlock(&repl_lock);
    gs_err_t e;
    int rc = np ? store_begin(store, &e) : 0;
    for (size_t i = 0; rc == 0 && i < np; i++) {
        if (p[i].n &&
            (rc = store_zone_set_notified(store, p[i].id, p[i].notified, &e)) == GS_ENOTFOUND)
            rc = 0; /* deleted meanwhile */
        if (rc == 0 && p[i].f &&
            (rc = store_zone_set_refreshed(store, p[i].id, p[i].refreshed, &e)) == GS_ENOTFOUND)
            rc = 0;
        /* the image served now may be newer than the one these were set on */
        zone_t *z = (zone_t *)(uintptr_t)snap_zone_by_id(snap_current(), p[i].id);
        if (z && p[i].n)
            atomic_store(&z->notified_serial, p[i].notified);
        if (z && p[i].f && atomic_load(&z->refreshed) < p[i].refreshed)
            atomic_store(&z->refreshed, p[i].refreshed);
    }
    if (np && rc == 0)
        rc = timed_commit(&e);
    if (rc) {
        store_rollback(store);
        LOG_RATELIMITED(LOG_ERR, "state: notified serials and refresh times not stored: %s",
                        e.text);
        pthread_mutex_lock(&repl_lock); /* try again at the next tick */
        for (size_t i = 0; i < np; i++) {
            repl_t *r = repl_get(p[i].id, false);
            if (r && p[i].n && !r->notified_dirty) {
                r->notified = p[i].notified;
                r->notified_dirty = true;
            }
            if (r && p[i].f && !r->refreshed_dirty) {
                r->refreshed = p[i].refreshed;
                r->refreshed_dirty = true;
            }
        }
        pthread_mutex_unlock(&repl_lock);
    }
    free(p);
    pthread_mutex_unlock(&writer_lock);
}

const char *state_secondary_state(const zone_t *z, const state_repl_info_t *ri, int64_t now)
{
    return !z->serial                   ? "empty"
           : state_zone_expired(z, now) ? "expired"
           : ri->xfr_at && !ri->xfr_ok  ? "behind"
                                        : "serving";
}

bool state_zone_expired(const zone_t *z, int64_t now)
{
    if (z->kind != STORE_KIND_SECONDARY || !z->expire)
        return false;
    int64_t at = atomic_load_explicit(&z->refreshed, memory_order_relaxed);
    return at > 0 && now - at > (int64_t)z->expire;
}

static void rows_free(row3_t **v, size_t *n)
{
    for (size_t i = 0; i < *n; i++) {
        free((*v)[i].a);
        free((*v)[i].b);
        free((*v)[i].c);
    }
    free(*v);
    *v = NULL;
    *n = 0;
}

typedef struct {
    row3_t *v;
    size_t n;
} rows_t;

static void row_add(void *ctx, const char *a, const char *b, const char *c)
{
    rows_t *r = ctx;
    r->v = mem_realloc_n(r->v, r->n + 1, sizeof(*r->v));
    r->v[r->n++] = (row3_t){mem_strdup(a), mem_strdup(b), mem_strdup(c)};
}

static void tsig_row(void *ctx, const char *name, const char *algorithm, const char *secret)
{
    row_add(ctx, name, algorithm, secret);
}

/* Re-reads the autoprimaries and TSIG keys into their copies. Writer
 * lock held. */
static int reload_rows_locked(gs_err_t *err)
{
    rows_t a = {0}, t = {0};
    int rc = store_autoprimaries_each(store, row_add, &a, err);
    if (rc == 0)
        rc = store_tsig_each(store, NULL, tsig_row, &t, err);
    if (rc) {
        rows_free(&a.v, &a.n);
        rows_free(&t.v, &t.n);
        return rc;
    }
    pthread_mutex_lock(&repl_lock);
    rows_free(&aps, &naps);
    rows_free(&tsigs, &ntsigs);
    aps = a.v;
    naps = a.n;
    tsigs = t.v;
    ntsigs = t.n;
    pthread_mutex_unlock(&repl_lock);
    return 0;
}

/* Runs one autoprimary or TSIG change in its own transaction and refreshes
 * the copies. */
static int rows_change(int (*fn)(const char *const *args, gs_err_t *err), const char *const *args,
                       gs_err_t *err)
{
    pthread_mutex_lock(&writer_lock);
    int rc = store_begin(store, err);
    if (rc == 0 && (rc = fn(args, err)) == 0)
        rc = timed_commit(err);
    if (rc)
        store_rollback(store);
    else
        rc = reload_rows_locked(err);
    pthread_mutex_unlock(&writer_lock);
    return rc;
}

static int ap_add(const char *const *a, gs_err_t *err)
{
    return store_autoprimary_add(store, a[0], a[1], a[2], err);
}

static int ap_remove(const char *const *a, gs_err_t *err)
{
    return store_autoprimary_remove(store, a[0], a[1], err);
}

static int tsig_set(const char *const *a, gs_err_t *err)
{
    return store_tsig_set(store, a[0], a[1], a[2], err);
}

static int tsig_delete(const char *const *a, gs_err_t *err)
{
    return store_tsig_delete(store, a[0], err);
}

int state_autoprimary_add(const char *ip, const char *nameserver, const char *account,
                          gs_err_t *err)
{
    const char *args[] = {ip, nameserver, account};
    int rc = rows_change(ap_add, args, err);
    if (rc == 0)
        log_info("state: autoprimary %s (%s) added", ip, nameserver);
    return rc;
}

int state_autoprimary_remove(const char *ip, const char *nameserver, gs_err_t *err)
{
    const char *args[] = {ip, nameserver};
    int rc = rows_change(ap_remove, args, err);
    if (rc == 0)
        log_info("state: autoprimary %s (%s) removed", ip, nameserver);
    return rc;
}

void state_autoprimaries_each(store_autoprimary_fn fn, void *ctx)
{
    pthread_mutex_lock(&repl_lock);
    for (size_t i = 0; i < naps; i++)
        fn(ctx, aps[i].a, aps[i].b, aps[i].c);
    pthread_mutex_unlock(&repl_lock);
}

/* ---- TSIG keys ------------------------------------------------------------ */

int state_tsig_set(const char *name, const char *algorithm, const char *secret, gs_err_t *err)
{
    const char *args[] = {name, algorithm, secret};
    int rc = rows_change(tsig_set, args, err);
    if (rc == 0)
        log_info("state: TSIG key %s (%s) stored", name, algorithm); /* never the secret */
    return rc;
}

int state_tsig_delete(const char *name, gs_err_t *err)
{
    const char *args[] = {name};
    int rc = rows_change(tsig_delete, args, err);
    if (rc == 0)
        log_info("state: TSIG key %s deleted", name);
    return rc;
}

void state_tsig_each(const char *name, store_tsig_fn fn, void *ctx)
{
    pthread_mutex_lock(&repl_lock);
    for (size_t i = 0; i < ntsigs; i++)
        if (!name || strcmp(name, tsigs[i].a) == 0)
            fn(ctx, tsigs[i].a, tsigs[i].b, tsigs[i].c);
    pthread_mutex_unlock(&repl_lock);
}

/* ---- DNSSEC keys -------------------------------------------------------------- */

/* After a key or DNSSEC setting changed: pdns keeps keys (30 s), metadata
 * (60 s) and signed answers (its packet cache) for a while. With
 * settings.pdns_control_socket, "purge ZONE$" empties them at once (for
 * the zone's names; pdns 4.7 drops its key and metadata caches whole). */
static void purge_signed_zone(const char *apex)
{
    char name[DNAME_MAXTEXT + 2];
    int n = snprintf(name, sizeof(name), "%s$", apex);
    if (n > 0 && (size_t)n < sizeof(name))
        purge(name, 1);
}

static const store_key_t *zone_key(const zone_t *z, int64_t key_id)
{
    for (size_t i = 0; i < z->nkeys; i++)
        if (z->keys[i].id == key_id)
            return &z->keys[i];
    return NULL;
}

/* The rollover rules (doc/dnssec.md): a key signs only while it is
 * published, and a zone with keys keeps at least one active one. A step
 * that would break them is refused with the step to take first. */
static int key_order_check(const zone_t *z, int64_t key_id, state_key_op_t op, gs_err_t *err)
{
    const store_key_t *k = zone_key(z, key_id);
    if (!k)
        return gs_err_set(err, GS_ENOTFOUND, "zone %s has no key with id %lld", z->name,
                          (long long)key_id);
    if (op == STATE_KEY_REMOVE)
        return 0; /* always allowed: disable-dnssec removes active keys */
    size_t active = 0;
    for (size_t i = 0; i < z->nkeys; i++)
        active += z->keys[i].active;
    if (op == STATE_KEY_ACTIVATE && !k->published)
        return gs_err_set(err, GS_EINVAL,
                          "zone %s: key %lld is not published: publish it first (signatures of a "
                          "key missing from the DNSKEY set cannot be checked)",
                          z->name, (long long)key_id);
    if (op == STATE_KEY_UNPUBLISH && k->active)
        return gs_err_set(err, GS_EINVAL,
                          "zone %s: key %lld is active: deactivate it first (its signatures "
                          "would no longer validate)",
                          z->name, (long long)key_id);
    if (op == STATE_KEY_DEACTIVATE && k->active && active == 1)
        return gs_err_set(err, GS_EINVAL,
                          "zone %s: key %lld is the zone's last active key: activate another "
                          "first, or remove every key (pdnsutil disable-dnssec)",
                          z->name, (long long)key_id);
    return 0;
}

static const char *const key_op_done[] = {
    [STATE_KEY_ACTIVATE] = "activated", [STATE_KEY_DEACTIVATE] = "deactivated",
    [STATE_KEY_PUBLISH] = "published",  [STATE_KEY_UNPUBLISH] = "unpublished",
    [STATE_KEY_REMOVE] = "removed",     [STATE_KEY_ADD] = "added"};

/* One key change in one store transaction, then the zone republished with
 * its keys. `k` is the key to add (op STATE_KEY_ADD) or NULL. */
static int key_change(int64_t zone_id, int64_t key_id, state_key_op_t op, const store_key_t *k,
                      int64_t *new_id, gs_err_t *err)
{
    pthread_mutex_lock(&writer_lock);
    const zone_t *z = snap_zone_by_id(snap_current(), zone_id);
    char name[DNAME_MAXTEXT + 1];
    int rc = 0;
    if (!z) {
        rc = gs_err_set(err, GS_ENOTFOUND, "zone id %lld does not exist", (long long)zone_id);
        goto out;
    }
    snprintf(name, sizeof(name), "%s", z->name);
    if (op != STATE_KEY_ADD && (rc = key_order_check(z, key_id, op, err)))
        goto out;
    if ((rc = store_begin(store, err)))
        goto out;
    switch (op) {
    case STATE_KEY_ADD:
        rc = store_key_add(store, zone_id, k, new_id, err);
        break;
    case STATE_KEY_ACTIVATE:
    case STATE_KEY_DEACTIVATE:
        rc = store_key_set(store, zone_id, key_id, "active", op == STATE_KEY_ACTIVATE, err);
        break;
    case STATE_KEY_PUBLISH:
    case STATE_KEY_UNPUBLISH:
        rc = store_key_set(store, zone_id, key_id, "published", op == STATE_KEY_PUBLISH, err);
        break;
    case STATE_KEY_REMOVE:
        rc = store_key_remove(store, zone_id, key_id, err);
        break;
    }
    if (rc == 0)
        rc = timed_commit(err);
    if (rc) {
        store_rollback(store);
        goto out;
    }
    republish(zone_id, NULL, err); /* committed: a failure here is logged by it */
    purge_signed_zone(name);
    if (op == STATE_KEY_ADD)
        log_info("state: %s: DNSSEC key %lld added (flags %u, %s, %s)", name, (long long)*new_id,
                 k->flags, k->active ? "active" : "inactive",
                 k->published ? "published" : "unpublished"); /* never the key text */
    else
        log_info("state: %s: DNSSEC key %lld %s", name, (long long)key_id, key_op_done[op]);
out:
    if (rc)
        log_warn("state: zone id %lld: DNSSEC key change refused: %s", (long long)zone_id,
                 err->text);
    pthread_mutex_unlock(&writer_lock);
    return rc;
}

int state_key_add(int64_t zone_id, const store_key_t *k, int64_t *id, gs_err_t *err)
{
    if (k->active && !k->published)
        return gs_err_set(err, GS_EINVAL,
                          "an active key must be published (signatures of a key missing from the "
                          "DNSKEY set cannot be checked)");
    return key_change(zone_id, 0, STATE_KEY_ADD, k, id, err);
}

int state_key_change(int64_t zone_id, int64_t key_id, state_key_op_t op, gs_err_t *err)
{
    return key_change(zone_id, key_id, op, NULL, NULL, err);
}

/* Whether pdns reads metadata `kind` for DNSSEC. */
static bool dnssec_meta_kind(const char *kind)
{
    static const char *const kinds[] = {"NSEC3PARAM", "NSEC3NARROW", "PRESIGNED",
                                        "SOA-EDIT",   "PUBLISH-CDS", "PUBLISH-CDNSKEY"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kind, kinds[i]) == 0)
            return true;
    return false;
}

/* Metadata kinds pdns reads for DNSSEC are checked before they are stored:
 * a value pdns cannot parse would break signing of the whole zone. */
static int dnssec_meta_check(const char *kind, const char *const *values, size_t n, gs_err_t *err)
{
    if (strcmp(kind, "PRESIGNED") == 0) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(values[i], "1") == 0)
                return gs_err_set(err, GS_EINVAL,
                                  "PRESIGNED: geosteer zones are signed live by pdns (steered "
                                  "answers differ per client and cannot be signed in advance)");
        return 0;
    }
    if (strcmp(kind, "NSEC3PARAM") == 0) {
        nsec3_param_t p;
        if (n > 1)
            return gs_err_set(err, GS_EINVAL, "NSEC3PARAM takes one value");
        return n ? nsec3_param_parse(values[0], &p, err) : 0;
    }
    if (strcmp(kind, "NSEC3NARROW") == 0 || strcmp(kind, "PUBLISH-CDNSKEY") == 0) {
        if (n > 1 || (n && strcmp(values[0], "0") != 0 && strcmp(values[0], "1") != 0))
            return gs_err_set(err, GS_EINVAL, "%s takes one value, 0 or 1", kind);
        return 0;
    }
    if (strcmp(kind, "PUBLISH-CDS") == 0) {
        /* Digest algorithms, comma-separated: 1 (SHA-1), 2 (SHA-256), 4 (SHA-384). */
        for (size_t i = 0; i < n; i++)
            if (strspn(values[i], "124, ") != strlen(values[i]) || !*values[i])
                return gs_err_set(err, GS_EINVAL,
                                  "PUBLISH-CDS: '%.40s' is not a list of digest types 1, 2, 4",
                                  values[i]);
        return 0;
    }
    if (strcmp(kind, "SOA-EDIT") == 0) {
        static const char *const known[] = {"INCREMENT-WEEKS", "INCEPTION-EPOCH",
                                            "INCEPTION-INCREMENT", "EPOCH", "NONE"};
        for (size_t i = 0; i < n; i++) {
            bool ok = false;
            for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
                ok |= strcmp(values[i], known[k]) == 0;
            if (!ok)
                return gs_err_set(err, GS_EINVAL,
                                  "SOA-EDIT: unknown value '%.40s' (INCREMENT-WEEKS, "
                                  "INCEPTION-EPOCH, INCEPTION-INCREMENT, EPOCH, NONE)",
                                  values[i]);
        }
    }
    return 0;
}

int state_meta_set(int64_t zone_id, const char *kind, const char *const *values, size_t n,
                   gs_err_t *err)
{
    int rc = dnssec_meta_check(kind, values, n, err);
    if (rc) {
        /* pdns sets PRESIGNED at every transfer of a signed zone into a
         * secondary: that refusal is routine (the transfer says so once). */
        if (strcmp(kind, "PRESIGNED") == 0)
            log_debug("state: zone id %lld: metadata %s refused: %s", (long long)zone_id, kind,
                      err->text);
        else
            log_warn("state: zone id %lld: metadata %s refused: %s", (long long)zone_id, kind,
                     err->text);
        return rc;
    }
    pthread_mutex_lock(&writer_lock);
    if (!snap_zone_by_id(snap_current(), zone_id)) {
        rc = gs_err_set(err, GS_ENOTFOUND, "zone id %lld does not exist", (long long)zone_id);
    } else {
        if ((rc = store_begin(store, err)) == 0) {
            rc = store_meta_replace(store, zone_id, kind, values, n, err);
            if (rc == 0)
                rc = timed_commit(err);
            if (rc)
                store_rollback(store);
        }
        if (rc == 0) {
            rc = republish(zone_id, NULL, err); /* committed: a failure here is logged by it */
            const zone_t *z = snap_zone_by_id(snap_current(), zone_id);
            if (z && dnssec_meta_kind(kind))
                purge_signed_zone(z->name);
        } else {
            const zone_t *z = snap_zone_by_id(snap_current(), zone_id);
            char why[700];
            snprintf(why, sizeof(why), "%.64s: %s", kind, err->text);
            write_failed_locked(zone_id, z ? z->name : "?", "metadata", rc, why);
        }
    }
    pthread_mutex_unlock(&writer_lock);
    return rc;
}

/* ---- steering config ---------------------------------------------------------- */

int state_check_steer(const steer_t *st, const char *policy, const rr_type_t *qtype, gs_err_t *err)
{
    if (!st)
        return gs_err_set(err, GS_EINVAL,
                          "steer('%s'): no steering config is loaded (geosteerd -c FILE)", policy);
    int32_t pi = steer_policy_find(st, policy, strlen(policy));
    if (pi < 0)
        return gs_err_set(err, GS_EINVAL, "steer('%s'): no such policy in the loaded config",
                          policy);
    unsigned want = steer_qt_bit(qtype->code);
    if (!want || !(steer_policy_qtypes(st, (uint32_t)pi) & want))
        return gs_err_set(err, GS_EINVAL,
                          "steer('%s'): the policy cannot answer %s for every client (an "
                          "endpoint it may pick has no %s)",
                          policy, qtype->name, qtype->name);
    return 0;
}

/* The GeoIP function of condition `c` that the engine's databases cannot
 * answer (it would never match), or NULL. */
static const char *pred_without_db(const steer_t *st, const luac_pred_t *c)
{
    if (!c)
        return NULL;
    switch (c->kind) {
    case LUAC_P_AND:
    case LUAC_P_OR: {
        const char *a = pred_without_db(st, c->a);
        return a ? a : pred_without_db(st, c->b);
    }
    case LUAC_P_NOT:
        return pred_without_db(st, c->a);
    case LUAC_P_COUNTRY:
        return steer_has_country_db(st) ? NULL : "country()";
    case LUAC_P_CONTINENT:
        return steer_has_country_db(st) ? NULL : "continent()";
    case LUAC_P_REGION:
        return steer_has_country_db(st) ? NULL : "region()";
    case LUAC_P_ASNUM:
        return steer_has_asn_db(st) ? NULL : "asnum()";
    default:
        return NULL;
    }
}

int state_check_prog(const steer_t *st, const luac_prog_t *p, gs_err_t *err)
{
    for (size_t i = 0; i < p->nbranches; i++) {
        const luac_sel_t *sel = &p->branches[i].sel;
        int rc;
        const char *fn = pred_without_db(st, p->branches[i].cond);
        if (fn)
            return gs_err_set(err, GS_EINVAL,
                              "%s needs %s, and the loaded config has none: it would never "
                              "match",
                              fn,
                              strcmp(fn, "asnum()") == 0
                                  ? "an ASN database (settings.geoip.asn_database)"
                                  : "a GeoIP database (settings.geoip.database)");
        bool closest =
            sel->kind == LUAC_PICKCLOSEST ||
            ((sel->kind == LUAC_IFPORTUP || sel->kind == LUAC_IFURLUP) &&
             (sel->opts.selector == LUAC_PICK_CLOSEST || sel->opts.backup == LUAC_PICK_CLOSEST));
        if (closest && !steer_has_country_db(st))
            return gs_err_set(err, GS_EINVAL,
                              "%s needs a GeoIP database with locations "
                              "(settings.geoip.database), and the loaded config has none: "
                              "the client's location is unknown",
                              sel->kind == LUAC_PICKCLOSEST ? "pickclosest()"
                                                            : "the pickclosest selector");
        if (sel->kind == LUAC_STEER && (rc = state_check_steer(st, sel->policy, p->type, err)))
            return rc;
    }
    return 0;
}

/* Every steer record (and steer() in a compiled program) of every served
 * zone must still be answerable by the engine `st`. Writer lock held. */
static int check_orphans(const steer_t *st, buf_t *errors)
{
    const snap_t *s = snap_current();
    int bad = 0;
    for (size_t i = 0; i < s->nzones; i++) {
        const zone_t *z = s->zones[i];
        for (size_t k = 0; k < z->nnodes; k++) {
            const zone_node_t *n = &z->nodes[k];
            for (uint32_t r = 0; n->dynamic && r < n->nrecs; r++) {
                gs_err_t e;
                if (n->recs[r].prog && state_check_prog(st, n->recs[r].prog, &e) != 0) {
                    buf_printf(errors, "%s: LUA %s record: %s\n", n->name,
                               n->recs[r].dyn_type->name, e.text);
                    bad++;
                }
            }
        }
    }
    return bad ? GS_ECONFLICT : 0;
}

static void remember_file(file_id_t *f, const char *path)
{
    free(f->path);
    memset(f, 0, sizeof(*f));
    struct stat st;
    if (!path)
        return;
    f->path = mem_strdup(path);
    if (stat(path, &st) == 0) {
        f->dev = st.st_dev;
        f->ino = st.st_ino;
        f->size = st.st_size;
        f->mtime = st.st_mtim;
    }
}

/* A GeoIP file must be quiet this long before it is read: a writer may
 * still be filling it. With the main thread's check every second, a
 * replacement is read within GEO_SETTLE_NS + 1 s of its last change. */
#define GEO_SETTLE_NS 2000000000LL

/* True if the file at f->path is not the one remembered, and has not been
 * modified for `settle_ns` nanoseconds (real time, full mtime precision). */
static bool file_changed(const file_id_t *f, long long settle_ns)
{
    struct stat st;
    if (!f->path || stat(f->path, &st) != 0)
        return false; /* deleted: keep serving the loaded copy */
    if (st.st_dev == f->dev && st.st_ino == f->ino && st.st_size == f->size &&
        st.st_mtim.tv_sec == f->mtime.tv_sec && st.st_mtim.tv_nsec == f->mtime.tv_nsec)
        return false;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long quiet = (long long)(now.tv_sec - st.st_mtim.tv_sec) * 1000000000LL +
                      (now.tv_nsec - st.st_mtim.tv_nsec);
    return quiet >= settle_ns;
}

typedef struct {
    const steer_t *steer;
    uint8_t *state;
    int64_t *until;
} admin_ctx_t;

static void admin_row(void *ctx, const char *endpoint, const char *state, int64_t until)
{
    admin_ctx_t *a = ctx;
    int32_t e = a->steer ? steer_endpoint_find(a->steer, endpoint) : -1;
    if (e < 0)
        return; /* kept in the store: it applies again if the endpoint comes back */
    a->state[e] = strcmp(state, "drain") == 0      ? STEER_ADMIN_DRAIN
                  : strcmp(state, "force-up") == 0 ? STEER_ADMIN_FORCE_UP
                                                   : STEER_ADMIN_FORCE_DOWN;
    a->until[e] = until;
}

/* A new world over `eng` with the stored overrides compiled to endpoint
 * indexes. Writer lock held. */
static snap_world_t *world_with_overrides(snap_engine_t *eng)
{
    size_t n = eng->steer ? steer_endpoint_count(eng->steer) : 0;
    admin_ctx_t a = {eng->steer, mem_calloc(n ? n : 1, 1), mem_calloc(n ? n : 1, sizeof(int64_t))};
    gs_err_t e;
    if (store_overrides_each(store, admin_row, &a, &e) != 0)
        log_err("state: operator overrides not applied: %s", e.text);
    return snap_world_new(eng, a.state, a.until, n);
}

/* The runtime directory when the config names none: the socket's. */
static char runtime_default[4096] = CFG_DEFAULT_RUNTIME_DIR;

/* Compiles `cfg` with the databases in `files` into a new engine and
 * publishes it. Refused (nothing changes, `files` left to the caller) when
 * a record of a served zone could no longer be answered. On success the
 * databases belong to the engine and `files` is cleared. `announce` logs
 * the config's warnings (not again when only a GeoIP file changed). */
static int install_locked(const char *path, const cfg_t *cfg, cfg_files_t *files, bool announce,
                          buf_t *errors)
{
    double t0 = now_sec();
    steer_t *st = steer_from_cfg(cfg, files->geo, files->asn);
    int rc = check_orphans(st, errors);
    if (rc) {
        steer_free(st);
        return rc;
    }
    snap_engine_t *eng = mem_calloc(1, sizeof(*eng));
    eng->steer = st;
    /* The continent tree costs memory (about 7 MiB for a full country
     * database) and load time: only when lookups are counted. */
    eng->stats = steer_stats_new(st, cfg->metrics ? files->geo : NULL);
    eng->geo = files->geo;
    eng->asn = files->asn;
    files->geo = files->asn = NULL;
    health_checks_from_cfg(cfg, &eng->checks);
    health_configure(cfg, runtime_default);
    plan_enabled = true;
    health_tick(); /* map the probe's file before the world is built */
    snap_world_t *w = world_with_overrides(eng);
    w->loaded_at = (int64_t)time(NULL);
    w->geo_max_age_days = cfg->geoip_max_age_days;
    for (int i = 0; i < 2; i++) {
        const geo_db_t *db = i ? eng->asn : eng->geo;
        geo_db_info_t info;
        if (!db)
            continue;
        geo_db_info(db, &info);
        double age = difftime(time(NULL), (time_t)info.build_epoch) / 86400.0;
        if (age > cfg->geoip_max_age_days)
            log_warn("state: GeoIP database '%s' is %.0f days old, more than "
                     "settings.geoip.max_age_days (%u): update it",
                     info.path, age, cfg->geoip_max_age_days);
    }
    for (size_t i = 0; announce && i < cfg->nmonitors; i++)
        if (cfg->monitors[i].insecure)
            log_warn("state: monitor '%s': \"insecure\": its HTTPS checks accept any "
                     "certificate, so an impostor answering on the endpoint's address "
                     "counts as healthy",
                     cfg->monitors[i].name);
    for (size_t i = 0; announce && i < cfg->npolicies; i++)
        if (cfg->policies[i].all_down == CFG_ALL_DOWN_EMPTY)
            log_warn("state: policy '%s': all_down \"empty\" answers NODATA when no "
                     "endpoint is left, and resolvers cache NODATA for the zone's SOA "
                     "minimum TTL, longer than the outage may last",
                     cfg->policies[i].name);
    snap_replace_world(w);
    publish_plan_locked();
    remember_file(&geo_files[0], cfg->geoip_database);
    remember_file(&geo_files[1], cfg->geoip_asn_database);
    log_info("state: %s '%s' loaded: %zu endpoints, %zu pools, %zu policies "
             "(compiled in %.0f ms)",
             announce ? "config" : "GeoIP data for the loaded config", path, cfg->nendpoints,
             cfg->npools, cfg->npolicies, (now_sec() - t0) * 1000);
    return 0;
}

/* Installs a config read and validated by cfg_load_all (its GeoIP files
 * open in `files`): on success `cfg` becomes the live config (taken over),
 * on failure it is left to the caller. Writer lock held. */
static int install_config_locked(const char *path, cfg_t *cfg, cfg_files_t *files, buf_t *errors)
{
    /* The decision log's file is opened first: a config whose log cannot
     * be written is refused whole, like any other error. */
    declog_plan_t dl;
    gs_err_t de;
    if (declog_prepare(cfg, &dl, &de) != 0) {
        buf_printf(errors, "%s: error: %s\n", path, de.text);
        return GS_ECONFIG;
    }
    int rc = install_locked(path, cfg, files, true, errors);
    if (rc) {
        declog_abandon(&dl);
        return rc;
    }
    declog_commit(&dl);
    cfg_free(&live_cfg);
    live_cfg = *cfg;
    cfg_defaults(cfg); /* the caller's copy no longer owns anything */
    live_cfg_loaded = true;
    atomic_store(&stats_enabled, live_cfg.metrics);
    metrics_count(STAT_CONFIG_GEN, 1);
    metrics_set(STAT_RELOAD_LAST_OK, (uint64_t)time(NULL));
    if (!config_path || strcmp(config_path, path) != 0) {
        free(config_path);
        config_path = mem_strdup(path);
    }
    return 0;
}

static int load_config_locked(const char *path, buf_t *errors)
{
    cfg_t cfg;
    cfg_files_t files = {0};
    cfg_defaults(&cfg);
    /* The same validation as geosteerd --check and geosteer check. */
    int rc = cfg_load_all(path, &cfg, &files, errors);
    if (rc == 0)
        rc = install_config_locked(path, &cfg, &files, errors);
    cfg_files_close(&files);
    cfg_free(&cfg);
    return rc;
}

int state_install_config(const char *path, cfg_t *cfg, cfg_files_t *files, buf_t *errors)
{
    pthread_mutex_lock(&writer_lock);
    int rc = install_config_locked(path, cfg, files, errors);
    pthread_mutex_unlock(&writer_lock);
    return rc;
}

void state_set_runtime_default(const char *dir)
{
    pthread_mutex_lock(&writer_lock);
    snprintf(runtime_default, sizeof(runtime_default), "%s", dir);
    pthread_mutex_unlock(&writer_lock);
}

int state_load_config(const char *path, buf_t *errors)
{
    pthread_mutex_lock(&writer_lock);
    int rc = load_config_locked(path, errors);
    pthread_mutex_unlock(&writer_lock);
    return rc;
}

bool state_config_info(char **path, char digest[65])
{
    pthread_mutex_lock(&writer_lock);
    bool loaded = live_cfg_loaded && config_path;
    *path = loaded ? mem_strdup(config_path) : NULL;
    memcpy(digest, loaded ? live_cfg.digest : "", loaded ? 65 : 1);
    pthread_mutex_unlock(&writer_lock);
    return loaded;
}

char *state_metrics_listen(void)
{
    pthread_mutex_lock(&writer_lock);
    char *l =
        live_cfg_loaded && live_cfg.metrics_listen ? mem_strdup(live_cfg.metrics_listen) : NULL;
    pthread_mutex_unlock(&writer_lock);
    return l;
}

int state_reload(buf_t *errors)
{
    pthread_mutex_lock(&writer_lock);
    int rc;
    if (!config_path) {
        buf_puts(errors, "no config file was given at start (geosteerd -c FILE)\n");
        rc = GS_ENOTFOUND;
    } else {
        char *path = mem_strdup(config_path);
        rc = load_config_locked(path, errors);
        free(path);
    }
    metrics_count(rc == 0 ? STAT_RELOAD_APPLIED : STAT_RELOAD_REFUSED, 1);
    pthread_mutex_unlock(&writer_lock);
    return rc;
}

void state_check_geoip(void)
{
    pthread_mutex_lock(&writer_lock);
    snap_reclaim();
    if (live_cfg_loaded && (file_changed(&geo_files[0], GEO_SETTLE_NS) ||
                            file_changed(&geo_files[1], GEO_SETTLE_NS))) {
        log_info("state: a GeoIP database file changed on disk: reloading it for the loaded "
                 "config");
        buf_t errors;
        buf_init(&errors);
        cfg_files_t files = {0};
        /* The loaded config, not the file on disk: an edit of geosteer.json
         * that nobody applied must not go live with a new database. */
        int rc = cfg_open_databases(config_path, &live_cfg, &files, &errors);
        if (rc == 0)
            rc = install_locked(config_path, &live_cfg, &files, false, &errors);
        cfg_files_close(&files);
        metrics_count(rc == 0 ? STAT_RELOAD_APPLIED : STAT_RELOAD_REFUSED, 1);
        if (rc == 0)
            metrics_set(STAT_RELOAD_LAST_OK, (uint64_t)time(NULL));
        if (rc != 0) {
            log_err("state: GeoIP reload refused, the loaded data keeps serving: %s",
                    errors.data ? errors.data : "");
            /* Remember the bad files so the failure is logged once per
             * change; any later change (a good file renamed in, a rewrite
             * in place) has a new identity and is tried again. */
            for (int i = 0; i < 2; i++) {
                char *p = geo_files[i].path ? mem_strdup(geo_files[i].path) : NULL;
                remember_file(&geo_files[i], p);
                free(p);
            }
        }
        buf_free(&errors);
    }
    pthread_mutex_unlock(&writer_lock);
}

/* Names in the served zones answered by a policy that can pick one of the
 * `n` endpoints in `eps`, NUL-separated into `out`. Returns how many. */
static size_t steered_names(const snap_t *s, const uint32_t *eps, size_t n, buf_t *out)
{
    const steer_t *st = s->world->steer;
    size_t count = 0;
    for (size_t z = 0; st && z < s->nzones; z++) {
        const zone_t *zone = s->zones[z];
        for (size_t i = 0; i < zone->nnodes; i++) {
            const zone_node_t *node = &zone->nodes[i];
            bool hit = false;
            for (uint32_t r = 0; node->dynamic && r < node->nrecs && !hit; r++) {
                /* every steer() of the program, alone or in a chain */
                const luac_prog_t *p = node->recs[r].prog;
                for (size_t b = 0; p && b < p->nbranches && !hit; b++) {
                    const luac_sel_t *sel = &p->branches[b].sel;
                    int32_t pi = sel->kind == LUAC_STEER
                                     ? steer_policy_find(st, sel->policy, strlen(sel->policy))
                                     : -1;
                    for (size_t k = 0; pi >= 0 && k < n && !hit; k++)
                        hit = steer_policy_uses(st, (uint32_t)pi, eps[k]);
                }
            }
            if (hit) {
                buf_put(out, node->name, node->name_len);
                buf_putc(out, '\0');
                count++;
            }
        }
    }
    return count;
}

/* Last DOWN state of every if*up check of the served LUA records (writer
 * only), rebuilt each tick from the programs: a transition changes the
 * answers of the names using that check, which pdns may hold in its caches
 * (scope-0 answers). */
typedef struct {
    uint64_t *ids; /* in the order first seen */
    uint8_t *down;
    size_t n;
    htab_t index; /* ids */
} lua_seen_t;
static lua_seen_t lua_seen;

/* The DOWN state kept for check `id`, or NULL; with `insert`, a new one
 * (room for it was made when `t` was sized). */
static uint8_t *lua_seen_slot(lua_seen_t *t, uint64_t id, bool insert)
{
    if (!t->ids)
        return NULL;
    uint32_t i;
    for (size_t k = htab_start(&t->index, htab_hash_u64(id));
         (i = htab_next(&t->index, &k)) != HTAB_END;)
        if (t->ids[i] == id)
            return &t->down[i];
    if (!insert)
        return NULL;
    t->ids[t->n] = id;
    htab_add(&t->index, htab_hash_u64(id), (uint32_t)t->n);
    return &t->down[t->n++];
}

typedef struct {
    const health_view_t *hv;
    lua_seen_t *next;
    bool changed;
} lua_scan_t;

static void lua_scan_one(void *ctx, const luac_sel_t *sel, const luac_item_t *it)
{
    (void)sel;
    lua_scan_t *sc = ctx;
    uint8_t down = sc->hv && health_check_state(sc->hv, it->check) == HSTATE_DOWN;
    uint8_t *was = lua_seen_slot(&lua_seen, it->check, false);
    sc->changed |= was && *was != down;
    *lua_seen_slot(sc->next, it->check, true) = down;
}

/* Appends to `out` (NUL-separated) the names of compiled LUA records whose
 * health-checked addresses changed DOWN state since the last call. */
static size_t lua_health_changes(const snap_t *s, const health_view_t *hv, buf_t *out)
{
    size_t nchecks = 0, count = 0;
    for (size_t z = 0; z < s->nzones; z++)
        for (size_t i = 0; i < s->zones[z]->nprogs; i++)
            nchecks += luac_each_check(s->zones[z]->progs[i], NULL, NULL);
    lua_seen_t next = {0};
    if (nchecks) {
        next.ids = mem_calloc(nchecks, sizeof(*next.ids));
        next.down = mem_calloc(nchecks, 1);
        htab_init(&next.index, nchecks);
    }
    for (size_t z = 0; nchecks && z < s->nzones; z++) {
        const zone_t *zone = s->zones[z];
        for (size_t i = 0; i < zone->nnodes; i++) {
            const zone_node_t *node = &zone->nodes[i];
            lua_scan_t sc = {hv, &next, false};
            for (uint32_t r = 0; node->dynamic && r < node->nrecs; r++)
                if (node->recs[r].prog)
                    luac_each_check(node->recs[r].prog, lua_scan_one, &sc);
            if (sc.changed) {
                buf_put(out, node->name, node->name_len);
                buf_putc(out, '\0');
                count++;
            }
        }
    }
    free(lua_seen.ids);
    free(lua_seen.down);
    htab_free(&lua_seen.index);
    lua_seen = next;
    return count;
}

void state_check_health(void)
{
    pthread_mutex_lock(&writer_lock);
    const snap_world_t *cur = snap_current()->world;
    if (health_tick()) {
        snap_world_t *w = world_with_overrides(cur->engine);
        w->loaded_at = cur->loaded_at;
        w->geo_max_age_days = cur->geo_max_age_days;
        snap_replace_world(w);
        cur = w;
    }
    stats_health_tick(cur->health);
    uint32_t changed[256];
    size_t n = cur->health ? health_changes(cur->health, changed, 256) : 0;
    if (n > 0) {
        for (size_t i = 0; i < n; i++)
            log_notice("state: endpoint '%s' is now %s for steering",
                       steer_endpoint_name(cur->steer, changed[i]),
                       health_endpoint_down(cur->health, changed[i]) ? "DOWN" : "UP");
        buf_t names;
        buf_init(&names);
        size_t count = steered_names(snap_current(), changed, n, &names);
        purge(names.data, count);
        buf_free(&names);
    }
    buf_t lua_names;
    buf_init(&lua_names);
    size_t nlua = lua_health_changes(snap_current(), cur->health, &lua_names);
    if (nlua) {
        log_info("state: health of LUA-record addresses changed for %zu name%s", nlua,
                 nlua == 1 ? "" : "s");
        purge(lua_names.data, nlua);
    }
    buf_free(&lua_names);
    pthread_mutex_unlock(&writer_lock);
}

int state_override(const char *endpoint, const char *state, int64_t until, gs_err_t *err)
{
    pthread_mutex_lock(&writer_lock);
    const snap_world_t *cur = snap_current()->world;
    int rc = 0;
    if (!cur->steer || steer_endpoint_find(cur->steer, endpoint) < 0) {
        rc = gs_err_set(err, GS_ENOTFOUND, "no endpoint '%s' in the loaded config", endpoint);
    } else if ((rc = store_begin(store, err)) == 0) {
        rc = state ? store_override_set(store, endpoint, state, until, err)
                   : store_override_clear(store, endpoint, err);
        if (rc == 0)
            rc = timed_commit(err);
        if (rc) {
            store_rollback(store);
        } else {
            snap_world_t *w = world_with_overrides(cur->engine);
            w->loaded_at = cur->loaded_at;
            w->geo_max_age_days = cur->geo_max_age_days;
            snap_replace_world(w);
            log_notice("state: endpoint '%s': %s%s", endpoint, state ? state : "override removed",
                       until ? " (expires)" : "");
            /* The answers change now: pdns's cached copies must go too. */
            uint32_t e = (uint32_t)steer_endpoint_find(w->steer, endpoint);
            buf_t names;
            buf_init(&names);
            size_t count = steered_names(snap_current(), &e, 1, &names);
            purge(names.data, count);
            buf_free(&names);
        }
    }
    pthread_mutex_unlock(&writer_lock);
    return rc;
}

void state_overrides_each(store_override_fn fn, void *ctx)
{
    pthread_mutex_lock(&writer_lock);
    gs_err_t e;
    if (store_overrides_each(store, fn, ctx, &e) != 0)
        log_err("state: %s", e.text);
    pthread_mutex_unlock(&writer_lock);
}
