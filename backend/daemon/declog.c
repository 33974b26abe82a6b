#include "backend/daemon/declog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/steering/health.h"
#include "common/hstate.h"
#include "common/log.h"
#include "common/mem.h"

enum { DL_OFF, DL_FILE, DL_JOURNAL };

/* The live settings. `sample` 0 means off, so that declog_wanted reads one
 * word before it knows there is nothing to do. `fd` is -1 until the first
 * file target, then the same number for good (see the header). */
static struct {
    atomic_uint sample;
    atomic_uint per_sec;
    atomic_int mode;
    atomic_int fd;
    declog_bucket_t bucket;
    atomic_uint_fast64_t lines, rate_dropped, write_errors;
    pthread_mutex_t lock; /* prepare/commit/reopen; never taken by lookups */
    char *target;         /* under lock */
} g = {.fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local uint32_t tick;

/* ---- sampling ------------------------------------------------------------ */

bool declog_sample_pass(uint32_t *t, uint32_t n)
{
    if (n <= 1)
        return true;
    /* A counter left past n by an earlier, larger n starts over. */
    uint32_t v = *t;
    *t = v + 1 >= n ? 0 : v + 1;
    return v == 0;
}

bool declog_bucket_take(declog_bucket_t *b, int64_t now_ns, uint32_t per_sec)
{
    if (per_sec == 0)
        return true;
    const int64_t second = 1000000000;
    int64_t interval = second / per_sec;
    int64_t tat = __atomic_load_n(&b->tat, __ATOMIC_RELAXED);
    for (;;) {
        int64_t next = (tat > now_ns ? tat : now_ns) + interval;
        if (next - now_ns > second)
            return false;
        if (__atomic_compare_exchange_n(&b->tat, &tat, next, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            return true;
    }
}

bool declog_wanted(void)
{
    unsigned n = atomic_load_explicit(&g.sample, memory_order_relaxed);
    if (n == 0 || !declog_sample_pass(&tick, n))
        return false;
    unsigned r = atomic_load_explicit(&g.per_sec, memory_order_relaxed);
    if (r == 0)
        return true;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* the vDSO: no system call */
    if (declog_bucket_take(&g.bucket, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, r))
        return true;
    atomic_fetch_add_explicit(&g.rate_dropped, 1, memory_order_relaxed);
    return false;
}

/* ---- the line ------------------------------------------------------------- */

static void put_key(buf_t *o, const char *key)
{
    buf_putc(o, ',');
    buf_putc(o, '"');
    buf_puts(o, key);
    buf_puts(o, "\":");
}

static void put_str_or_null(buf_t *o, const char *s)
{
    if (s && *s)
        buf_put_jstr(o, s, strlen(s));
    else
        buf_puts(o, "null");
}

/* health_endpoint_word's and the probe's words, in the log's spelling. */
static const char *health_word(const char *w)
{
    return strcmp(w, "UP") == 0        ? "up"
           : strcmp(w, "DOWN") == 0    ? "down"
           : strcmp(w, "UNKNOWN") == 0 ? "unknown"
                                       : w;
}

static const char *check_word(int state)
{
    return state == HSTATE_UP ? "up" : state == HSTATE_DOWN ? "down" : "unknown";
}

/* Whether the decision used an ECS prefix: not when real-remote was /0 or
 * unusable (decided on the resolver), and not when it is the resolver's
 * own address as a full-length prefix, which is what pdns sends for a query
 * without an ECS option. */
static bool used_ecs(const declog_event_t *ev)
{
    const steer_client_t *c = ev->client;
    if (c->from_remote)
        return false;
    if (c->source_len != (c->family == AF_INET ? 32 : 128) || !ev->remote)
        return true;
    steer_client_t r;
    if (steer_client_parse(NULL, 0, ev->remote, ev->remote_len, &r) != 0)
        return true;
    return r.family != c->family || memcmp(r.addr, c->addr, 16) != 0;
}

static void put_geo(buf_t *o, const declog_event_t *ev)
{
    struct sockaddr_storage ss;
    steer_client_sockaddr(ev->client, &ss);
    geo_result_t gr = {0};
    bool have = ev->world->geo && geo_db_lookup(ev->world->geo, (struct sockaddr *)&ss, &gr) == 0;
    put_key(o, "country");
    put_str_or_null(o, have ? gr.country : NULL);
    put_key(o, "continent");
    put_str_or_null(o, have ? gr.continent : NULL);
    geo_result_t a = {0};
    put_key(o, "asn");
    if (ev->world->asn && geo_db_lookup(ev->world->asn, (struct sockaddr *)&ss, &a) == 0 && a.asn)
        buf_put_int(o, a.asn);
    else
        buf_puts(o, "null");
}

/* The candidates, picks and answer of a steer() decision. */
static void put_steered(buf_t *o, const declog_event_t *ev, const char *policy, bool *all_down)
{
    const snap_world_t *w = ev->world;
    const steer_t *st = w->steer;
    const steer_decision_t *d = &ev->res->sd;
    int32_t pi = st && policy ? steer_policy_find(st, policy, strlen(policy)) : -1;
    steer_admin_t adm = w->admin;
    adm.now = (int64_t)time(NULL);
    put_key(o, "candidates");
    buf_putc(o, '[');
    uint32_t pools[STEER_MAX_POLICY_POOLS];
    size_t np =
        pi >= 0 ? steer_decision_pools(st, (uint32_t)pi, d, pools, STEER_MAX_POLICY_POOLS) : 0;
    size_t nc = 0;
    for (size_t k = 0; k < np; k++) {
        size_t ne;
        const uint32_t *eps = steer_pool_endpoints(st, pools[k], &ne);
        for (size_t i = 0; i < ne; i++) {
            const char *name = steer_endpoint_name(st, eps[i]);
            const char *pool = steer_pool_name(st, pools[k]);
            if (nc++)
                buf_putc(o, ',');
            buf_puts(o, "{\"endpoint\":");
            buf_put_jstr(o, name, strlen(name));
            buf_puts(o, ",\"pool\":");
            buf_put_jstr(o, pool, strlen(pool));
            buf_puts(o, ",\"health\":\"");
            buf_puts(o, health_word(health_endpoint_word(w->health, eps[i])));
            buf_puts(o, "\",\"admin\":\"");
            buf_puts(o, steer_admin_word(steer_admin_get(&adm, eps[i])));
            buf_puts(o, "\"}");
        }
    }
    buf_putc(o, ']');
    put_key(o, "picks");
    buf_putc(o, '[');
    for (uint16_t k = 0; k < d->n; k++) {
        const char *name = steer_endpoint_name(st, d->picks[k]);
        if (k)
            buf_putc(o, ',');
        buf_put_jstr(o, name, strlen(name));
    }
    buf_putc(o, ']');
    put_key(o, "answer");
    buf_putc(o, '[');
    unsigned bit = steer_qt_bit(ev->rec->dyn_type->code);
    size_t na = 0;
    for (uint16_t k = 0; k < d->n; k++) {
        size_t nv;
        const char *const *vals = steer_endpoint_values(st, d->picks[k], bit, &nv);
        for (size_t v = 0; v < nv; v++) {
            if (na++)
                buf_putc(o, ',');
            buf_put_jstr(o, vals[v], strlen(vals[v]));
        }
    }
    buf_putc(o, ']');
    put_key(o, "pool");
    put_str_or_null(o, d->pool != UINT32_MAX ? steer_pool_name(st, d->pool) : NULL);
    *all_down = d->all_down;
}

/* The candidates (the values of the deciding selection, with their health
 * checks' states), picks and answer of a literal LUA selection. all_down:
 * every health-checked candidate is down (the backupSelector answered). */
static void put_literal(buf_t *o, const declog_event_t *ev, const luac_sel_t *sel, bool *all_down)
{
    const luae_result_t *res = ev->res;
    put_key(o, "candidates");
    buf_putc(o, '[');
    size_t nc = 0, checked = 0, down = 0;
    for (size_t k = 0; sel && k < sel->nsets; k++)
        for (size_t i = 0; i < sel->sets[k].n; i++) {
            const luac_item_t *it = &sel->sets[k].items[i];
            const char *h = "not monitored";
            if (it->check) {
                int s = health_check_state(ev->world->health, it->check);
                h = check_word(s);
                checked++;
                down += s == HSTATE_DOWN;
            }
            if (nc++)
                buf_putc(o, ',');
            buf_puts(o, "{\"endpoint\":");
            buf_put_jstr(o, it->value, strlen(it->value));
            buf_puts(o, ",\"set\":");
            buf_put_int(o, (long long)k + 1);
            buf_puts(o, ",\"health\":\"");
            buf_puts(o, h);
            buf_puts(o, "\",\"admin\":null}");
        }
    buf_putc(o, ']');
    for (int pass = 0; pass < 2; pass++) {
        put_key(o, pass ? "answer" : "picks");
        buf_putc(o, '[');
        for (size_t v = 0; v < res->n; v++) {
            if (v)
                buf_putc(o, ',');
            buf_put_jstr(o, res->vals[v], strlen(res->vals[v]));
        }
        buf_putc(o, ']');
    }
    put_key(o, "pool");
    buf_puts(o, "null");
    *all_down = checked && down == checked;
}

void declog_format(buf_t *o, const declog_event_t *ev, int64_t unix_ms)
{
    time_t sec = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    buf_printf(o, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900,
               tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(unix_ms % 1000));
    put_key(o, "qname");
    buf_put_jstr(o, ev->qname, ev->qname_len);
    put_key(o, "qtype");
    buf_put_jstr(o, ev->qtype, ev->qtype_len);
    put_key(o, "type");
    buf_put_jstr(o, ev->rec->dyn_type->name, strlen(ev->rec->dyn_type->name));
    char addr[INET6_ADDRSTRLEN];
    inet_ntop(ev->client->family, ev->client->addr, addr, sizeof(addr));
    put_key(o, "client");
    buf_printf(o, "\"%s/%u\"", addr, ev->client->source_len);
    put_key(o, "ecs");
    buf_puts(o, used_ecs(ev) ? "true" : "false");
    put_geo(o, ev);

    const luac_prog_t *p = ev->rec->prog;
    const luae_result_t *res = ev->res;
    const luac_sel_t *sel = res->branch < p->nbranches ? &p->branches[res->branch].sel : NULL;
    const char *policy = sel && sel->kind == LUAC_STEER ? sel->policy : NULL;
    put_key(o, "policy");
    put_str_or_null(o, policy);
    put_key(o, "function");
    put_str_or_null(o, sel ? luac_sel_name(sel->kind) : NULL);
    put_key(o, "branch");
    if (sel)
        buf_put_int(o, (long long)res->branch + 1);
    else
        buf_puts(o, "null");
    put_key(o, "rule");
    const char *why = res->steered && res->sd.why ? res->sd.why : res->why;
    put_str_or_null(o, why);
    bool all_down = false;
    if (res->steered)
        put_steered(o, ev, policy, &all_down);
    else
        put_literal(o, ev, sel && sel->kind != LUAC_STEER ? sel : NULL, &all_down);
    put_key(o, "all_down");
    buf_puts(o, all_down ? "true" : "false");
    put_key(o, "scope");
    buf_put_int(o, res->scope);
    put_key(o, "ttl");
    buf_put_int(o, ev->ttl);
    buf_putc(o, '}');
}

void declog_write(const declog_event_t *ev)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    buf_t b;
    buf_init(&b);
    declog_format(&b, ev, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    int mode = atomic_load_explicit(&g.mode, memory_order_acquire);
    if (mode == DL_JOURNAL) {
        log_text(LOG_INFO, b.data);
        atomic_fetch_add_explicit(&g.lines, 1, memory_order_relaxed);
    } else if (mode == DL_FILE) {
        buf_putc(&b, '\n');
        ssize_t n = write(atomic_load_explicit(&g.fd, memory_order_acquire), b.data, b.len);
        if (n == (ssize_t)b.len) {
            atomic_fetch_add_explicit(&g.lines, 1, memory_order_relaxed);
        } else {
            int e = n < 0 ? errno : ENOSPC;
            uint64_t lost = atomic_fetch_add_explicit(&g.write_errors, 1, memory_order_relaxed);
            LOG_RATELIMITED(LOG_WARNING,
                            "declog: a decision log line was not written (%s); %llu lost so far",
                            strerror(e), (unsigned long long)lost + 1);
        }
    }
    buf_free(&b);
}

/* ---- configuration -------------------------------------------------------- */

/* Opens the file to append to. A file this creates gets mode 0640 whatever
 * the umask (the unit's is 0077), so that group geosteer may read it; an
 * existing file (logrotate's `create`) keeps its mode and owner. */
static int open_target(const char *path, int *fd, gs_err_t *err)
{
    const int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY;
    *fd = open(path, flags | O_CREAT | O_EXCL, 0640);
    if (*fd >= 0)
        (void)fchmod(*fd, 0640);
    else if (errno == EEXIST)
        *fd = open(path, flags);
    if (*fd < 0)
        return gs_err_set(err, -errno, "settings.decision_log.target: %s: %s", path,
                          strerror(errno));
    return 0;
}

int declog_prepare(const cfg_t *cfg, declog_plan_t *p, gs_err_t *err)
{
    *p = (declog_plan_t){.fd = -1,
                         .sample = cfg->decision_log_sample,
                         .max_per_second = cfg->decision_log_max_per_second};
    if (!cfg->decision_log)
        return 0;
    if (cfg->decision_log[0] == '/') {
        int rc = open_target(cfg->decision_log, &p->fd, err);
        if (rc)
            return rc;
    }
    p->target = mem_strdup(cfg->decision_log);
    return 0;
}

void declog_abandon(declog_plan_t *p)
{
    if (p->fd >= 0)
        close(p->fd);
    free(p->target);
    *p = (declog_plan_t){.fd = -1};
}

/* Puts `src` under the writers' descriptor (its number taken from `src` the
 * first time) and closes `src`. Lock held. */
static void install_fd(int src)
{
    int fd = atomic_load(&g.fd);
    if (fd < 0) {
        atomic_store_explicit(&g.fd, src, memory_order_release);
        return;
    }
    if (dup3(src, fd, O_CLOEXEC) < 0)
        log_err("declog: cannot switch the decision log file: %s", strerror(errno));
    close(src);
}

void declog_commit(declog_plan_t *p)
{
    pthread_mutex_lock(&g.lock);
    bool same =
        ((!p->target && !g.target) || (p->target && g.target && !strcmp(p->target, g.target))) &&
        (!p->target ||
         (atomic_load(&g.sample) == p->sample && atomic_load(&g.per_sec) == p->max_per_second));
    int mode = !p->target ? DL_OFF : p->fd >= 0 ? DL_FILE : DL_JOURNAL;
    if (mode == DL_FILE) {
        install_fd(p->fd);
        p->fd = -1;
        atomic_store_explicit(&g.mode, mode, memory_order_release);
    } else {
        /* Stop the file writes first; a writer that already read DL_FILE
         * then writes into /dev/null, never into a closed descriptor. */
        atomic_store_explicit(&g.mode, mode, memory_order_release);
        int null = atomic_load(&g.fd) >= 0 ? open("/dev/null", O_WRONLY | O_CLOEXEC) : -1;
        if (null >= 0)
            install_fd(null);
    }
    atomic_store_explicit(&g.per_sec, mode == DL_OFF ? 0 : p->max_per_second, memory_order_relaxed);
    atomic_store_explicit(&g.sample, mode == DL_OFF ? 0 : p->sample, memory_order_relaxed);
    if (!same) {
        if (mode == DL_OFF)
            log_info("declog: decision log off");
        else
            log_info("declog: decision log to %s, 1 decision in %u, at most %u lines a second%s",
                     p->target, p->sample, p->max_per_second, p->max_per_second ? "" : " (no cap)");
    }
    free(g.target);
    g.target = p->target;
    p->target = NULL;
    pthread_mutex_unlock(&g.lock);
}

int declog_reopen(void)
{
    pthread_mutex_lock(&g.lock);
    int rc = 0;
    if (atomic_load(&g.mode) == DL_FILE && g.target) {
        gs_err_t e;
        int fd;
        rc = open_target(g.target, &fd, &e);
        if (rc == 0) {
            install_fd(fd);
            log_info("declog: decision log reopened: %s", g.target);
        } else {
            log_err("declog: cannot reopen the decision log, the old file keeps receiving "
                    "lines: %s",
                    e.text);
        }
    }
    pthread_mutex_unlock(&g.lock);
    return rc;
}

void declog_stats(declog_stats_t *st)
{
    int mode = atomic_load(&g.mode);
    st->target = mode == DL_FILE ? "file" : mode == DL_JOURNAL ? "journal" : "off";
    st->lines = atomic_load(&g.lines);
    st->rate_dropped = atomic_load(&g.rate_dropped);
    st->write_errors = atomic_load(&g.write_errors);
}
