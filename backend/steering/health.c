/* geosteerd's side of health: plan out, state file in. */
#include "backend/steering/health.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/htab.h"
#include "common/log.h"
#include "common/mem.h"

/* A state file mapping shared by the views built on it. Writer-only refs. */
typedef struct {
    hstate_map_t *m;
    int refs;
} hmap_t;

struct health_view {
    hmap_t *map; /* NULL: no state file */
    const health_checks_t *hc;
    uint64_t serial;   /* hc->serial, compared without touching an old hc */
    size_t nendpoints; /* hc->nendpoints */
    uint32_t *slots;   /* parallel to hc->ep_ids: entry index in the map, or UINT32_MAX */
    int refs;
    /* Every entry of the map by check id (open addressing), for checks that
     * are not an endpoint's: the addresses of ifportup/ifurlup records. */
    uint64_t *tids; /* the map's check ids, copied: lookups never touch the file */
    htab_t tindex;  /* tids by id */
    /* Writer-only bookkeeping for health_changes. */
    uint8_t *last_down;
    bool primed;
};

typedef enum { MODE_NONE, MODE_FRESH, MODE_GRACE, MODE_STALE } hmode_t;

/* Module state: the writer's. `use_health` is read by every lookup. The
 * settings come from the parsed config (health_configure) before any tick. */
static struct {
    char *runtime_dir, *control_socket;
    unsigned stale_after;
    double grace;
    cfg_stale_rule_t rule;
    uint32_t heartbeat_ms;
    hmap_t *map;   /* current state file */
    dev_t bad_dev; /* a refused file, so it is logged once */
    ino_t bad_ino;
    struct timespec bad_mtime;
    hmode_t mode;
    double hb_age;
    uint64_t plan_gen;
    /* The plan file as published, so that one deleted by someone else is
     * written again (a restarted probe needs it). */
    buf_t plan_bytes;
    bool plan_lost_logged;
    health_view_t *latest; /* last view built, for health_changes continuity */
} H;

static _Atomic bool use_health = false;

/* Guards H against `status` readers on connection threads; lookups never
 * take it. */
static pthread_mutex_t hlock = PTHREAD_MUTEX_INITIALIZER;

/* ---- checks from the config ---- */

static void add_check(health_checks_t *hc, const cfg_monitor_t *m, const cfg_endpoint_t *e,
                      int family, const void *addr, uint64_t **ids, size_t *nids)
{
    plan_check_t c = {0};
    char label[160];
    snprintf(label, sizeof(label), "%s/%s", e->name, m->name);
    c.label = label;
    c.type = m->type == CFG_MON_TCP ? PLAN_TCP : m->type == CFG_MON_HTTP ? PLAN_HTTP : PLAN_HTTPS;
    c.family = family;
    memcpy(c.addr, addr, family == AF_INET ? 4 : 16);
    c.port = m->port;
    c.interval_ms = (uint32_t)(m->interval * 1000 + 0.5);
    c.timeout_ms = (uint32_t)(m->timeout * 1000 + 0.5);
    c.rise = m->rise;
    c.fall = m->fall;
    if (m->type != CFG_MON_TCP) {
        c.path = m->path;
        c.host = m->host;
        for (size_t i = 0; i < m->nexpect && i < PLAN_MAX_EXPECT; i++) {
            c.expect[i][0] = m->expect[i][0];
            c.expect[i][1] = m->expect[i][1];
        }
        c.nexpect = m->nexpect < PLAN_MAX_EXPECT ? m->nexpect : PLAN_MAX_EXPECT;
        c.body = m->body;
        c.body_max = m->body_max;
        for (size_t i = 0; i < m->nheaders && i < PLAN_MAX_HEADERS; i++) {
            c.headers[i][0] = m->headers[i].name;
            c.headers[i][1] = m->headers[i].value;
        }
        c.nheaders = m->nheaders < PLAN_MAX_HEADERS ? m->nheaders : PLAN_MAX_HEADERS;
        c.insecure = m->insecure;
        c.ca_file = m->ca_file;
    }
    plan_check_id(&c);
    /* plan_add copies the strings it keeps. */
    plan_add(&hc->plan, &c);
    *ids = mem_realloc_n(*ids, *nids + 1, sizeof(**ids));
    (*ids)[(*nids)++] = c.id;
}

void health_checks_from_cfg(const cfg_t *cfg, health_checks_t *out)
{
    memset(out, 0, sizeof(*out));
    static uint64_t serial;
    out->serial = ++serial;
    out->nendpoints = cfg->nendpoints;
    out->plan.max_in_flight = cfg->probe_max_in_flight;
    out->plan.heartbeat_ms = (uint32_t)(cfg->probe_heartbeat * 1000 + 0.5);
    out->ep_start = mem_calloc(cfg->nendpoints + 1, sizeof(uint32_t));
    size_t nids = 0;
    for (size_t i = 0; i < cfg->nendpoints; i++) {
        const cfg_endpoint_t *e = &cfg->endpoints[i];
        out->ep_start[i] = (uint32_t)nids;
        if (e->monitor < 0)
            continue;
        const cfg_monitor_t *m = &cfg->monitors[e->monitor];
        if (e->probe_family) {
            add_check(out, m, e, e->probe_family, e->probe_addr, &out->ep_ids, &nids);
            continue;
        }
        for (size_t k = 0; k < e->na; k++)
            add_check(out, m, e, AF_INET, &e->a[k], &out->ep_ids, &nids);
        for (size_t k = 0; k < e->naaaa; k++)
            add_check(out, m, e, AF_INET6, &e->aaaa[k], &out->ep_ids, &nids);
    }
    out->ep_start[cfg->nendpoints] = (uint32_t)nids;
    plan_finish(&out->plan);
}

void health_checks_free(health_checks_t *hc)
{
    if (!hc)
        return;
    plan_free(&hc->plan);
    free(hc->ep_start);
    free(hc->ep_ids);
    memset(hc, 0, sizeof(*hc));
}

void health_configure(const cfg_t *cfg, const char *default_dir)
{
    pthread_mutex_lock(&hlock);
    free(H.runtime_dir);
    free(H.control_socket);
    H.runtime_dir = mem_strdup(cfg->runtime_dir ? cfg->runtime_dir : default_dir);
    H.control_socket = cfg->pdns_control_socket ? mem_strdup(cfg->pdns_control_socket) : NULL;
    H.stale_after = cfg->health_stale_after;
    H.grace = cfg->health_grace;
    H.rule = cfg->health_stale_rule;
    H.heartbeat_ms = (uint32_t)(cfg->probe_heartbeat * 1000 + 0.5);
    pthread_mutex_unlock(&hlock);
}

/* ---- the plan file ---- */

/* Writes `b` to `path` by write-then-rename through `tmp` and records the
 * file's identity. Returns 0 or -errno with the reason in `err`. */
static int write_plan_file(const char *path, const char *tmp, const buf_t *b, gs_err_t *err)
{
    int rc;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return gs_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
    size_t off = 0;
    int e = 0;
    while (off < b->len) {
        ssize_t w = write(fd, b->data + off, b->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            e = w < 0 ? errno : EIO;
            break;
        }
        off += (size_t)w;
    }
    if (e == 0 && fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && e == 0)
        e = errno;
    if (e) {
        rc = gs_err_set(err, -e, "%s: write failed: %s", tmp, strerror(e));
        unlink(tmp);
        return rc;
    }
    if (rename(tmp, path) != 0) {
        rc = gs_err_set(err, -errno, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return rc;
    }
    return 0;
}

/* Remembers `plan` as the content of the published plan file. */
static void note_plan_file(const plan_t *plan)
{
    buf_free(&H.plan_bytes);
    plan_encode(plan, &H.plan_bytes);
    H.plan_lost_logged = false;
}

int health_publish_plan(plan_t *plan, gs_err_t *err)
{
    if (!H.runtime_dir)
        return gs_err_set(err, GS_EINVAL, "no runtime directory configured");
    int rc = gs_mkdir_p(H.runtime_dir, 0755, err);
    if (rc)
        return rc;
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/plan.json", H.runtime_dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());

    /* Same checks as the file already holds: keep its generation. */
    uint64_t gen = 0;
    plan_t old;
    gs_err_t why;
    if (plan_load(path, &old, NULL, &why) == 0) {
        gen = old.generation;
        bool same = plan_same(&old, plan);
        plan_free(&old);
        if (same) {
            plan->generation = gen;
            pthread_mutex_lock(&hlock);
            H.plan_gen = gen;
            note_plan_file(plan);
            pthread_mutex_unlock(&hlock);
            return 0;
        }
    }
    buf_t b;
    buf_init(&b);
    plan->generation = gen + 1;
    plan_encode(plan, &b);
    rc = write_plan_file(path, tmp, &b, err);
    buf_free(&b);
    if (rc)
        return rc;
    pthread_mutex_lock(&hlock);
    H.plan_gen = plan->generation;
    note_plan_file(plan);
    pthread_mutex_unlock(&hlock);
    return 0;
}

/* Once a tick: the published plan file deleted by someone else is written
 * again as published (same generation: a running probe sees no change, a
 * restarted one finds its plan rather than waiting for a config change).
 * Only a missing file: one put there on purpose is left alone. Logged once
 * per loss; the runtime directory itself is not recreated. */
static void keep_plan_file(void)
{
    if (!H.runtime_dir || !H.plan_bytes.data)
        return;
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/plan.json", H.runtime_dir);
    struct stat st;
    if (stat(path, &st) == 0 || errno != ENOENT)
        return;
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    gs_err_t err;
    if (write_plan_file(path, tmp, &H.plan_bytes, &err) != 0) {
        if (!H.plan_lost_logged)
            log_err("health: %s was deleted and cannot be written again: %s (retrying every "
                    "second)",
                    path, err.text);
        H.plan_lost_logged = true;
        return;
    }
    log_warn("health: %s was deleted; wrote plan generation %llu again", path,
             (unsigned long long)H.plan_gen);
    H.plan_lost_logged = false;
}

/* ---- views ---- */

static bool raw_down(const health_view_t *v, uint32_t e);

static void hmap_release(hmap_t *m)
{
    if (m && --m->refs == 0) {
        hstate_unmap(m->m);
        free(m);
    }
}

health_view_t *health_view_new(const health_checks_t *hc)
{
    health_view_t *v = mem_calloc(1, sizeof(*v));
    v->hc = hc;
    v->serial = hc ? hc->serial : 0;
    v->nendpoints = hc ? hc->nendpoints : 0;
    size_t nids = hc && hc->ep_start ? hc->ep_start[hc->nendpoints] : 0;
    v->slots = mem_calloc(nids + 1, sizeof(uint32_t));
    v->last_down = mem_calloc(hc ? hc->nendpoints + 1 : 1, 1);
    v->map = H.map;
    if (v->map)
        v->map->refs++;
    for (size_t i = 0; i < nids; i++) {
        v->slots[i] = UINT32_MAX;
        const hstate_view_t *sv = v->map ? &v->map->m->view : NULL;
        /* Entries are in plan order (sorted by id): binary search. */
        size_t lo = 0, hi = sv ? sv->n : 0;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (sv->e[mid].id == hc->ep_ids[i]) {
                v->slots[i] = (uint32_t)mid;
                break;
            }
            if (sv->e[mid].id < hc->ep_ids[i])
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    if (v->map) {
        const hstate_view_t *sv = &v->map->m->view;
        v->tids = mem_calloc(sv->n ? sv->n : 1, sizeof(uint64_t));
        htab_init(&v->tindex, sv->n);
        for (size_t i = 0; i < sv->n; i++) {
            v->tids[i] = sv->e[i].id;
            htab_add(&v->tindex, htab_hash_u64(v->tids[i]), (uint32_t)i);
        }
    }
    /* Transitions are reported across views of the same config. */
    if (H.latest && hc && H.latest->serial == hc->serial &&
        H.latest->nendpoints == hc->nendpoints && H.latest->primed) {
        memcpy(v->last_down, H.latest->last_down, hc->nendpoints);
        v->primed = true;
    } else if (hc) {
        /* A new config: what it shows now is its starting point, and only
         * later changes are transitions. A config loaded before the probe's
         * file existed starts all up, so endpoints already DOWN in a file
         * mapped later are reported. */
        bool use = atomic_load(&use_health);
        for (uint32_t e = 0; e < hc->nendpoints; e++)
            v->last_down[e] = use && raw_down(v, e);
        v->primed = true;
    }
    if (H.latest)
        health_view_release(H.latest);
    H.latest = v;
    v->refs = 2; /* the caller's and H.latest's */
    return v;
}

void health_view_release(health_view_t *v)
{
    if (!v || --v->refs > 0)
        return;
    hmap_release(v->map);
    free(v->tids);
    htab_free(&v->tindex);
    free(v->slots);
    free(v->last_down);
    free(v);
}

static bool raw_down(const health_view_t *v, uint32_t e)
{
    if (!v->map || !v->hc || e >= v->hc->nendpoints)
        return false;
    const hstate_view_t *sv = &v->map->m->view;
    for (uint32_t i = v->hc->ep_start[e]; i < v->hc->ep_start[e + 1]; i++) {
        hstate_value_t val;
        if (v->slots[i] != UINT32_MAX && hstate_read(sv, v->slots[i], &val) == 0 &&
            val.state == HSTATE_DOWN)
            return true;
    }
    return false;
}

bool health_endpoint_down(const void *view, uint32_t e)
{
    if (!atomic_load_explicit(&use_health, memory_order_relaxed))
        return false;
    return raw_down(view, e);
}

/* The state-file slot of check `id` in view `v`, or UINT32_MAX. */
static uint32_t check_slot(const health_view_t *v, uint64_t id)
{
    uint32_t i;
    for (size_t k = htab_start(&v->tindex, htab_hash_u64(id));
         (i = htab_next(&v->tindex, &k)) != HTAB_END;)
        if (v->tids[i] == id)
            return i;
    return UINT32_MAX;
}

int health_check_state(const void *view, uint64_t id)
{
    const health_view_t *v = view;
    if (!v || !v->tids || !atomic_load_explicit(&use_health, memory_order_relaxed))
        return HSTATE_UNKNOWN;
    uint32_t slot = check_slot(v, id);
    hstate_value_t val;
    if (slot == UINT32_MAX || hstate_read(&v->map->m->view, slot, &val) != 0)
        return HSTATE_UNKNOWN;
    return val.state;
}

int health_check_value(const health_view_t *v, uint64_t id, hstate_value_t *val)
{
    memset(val, 0, sizeof(*val));
    uint32_t slot = v && v->tids ? check_slot(v, id) : UINT32_MAX;
    if (slot == UINT32_MAX || hstate_read(&v->map->m->view, slot, val) != 0)
        return GS_ENOTFOUND;
    return 0;
}

size_t health_changes(const health_view_t *cv, uint32_t *out, size_t max)
{
    health_view_t *v = (health_view_t *)(uintptr_t)cv; /* writer-only fields */
    size_t n = 0;
    if (!v->hc)
        return 0;
    bool use = atomic_load(&use_health);
    for (uint32_t e = 0; e < v->hc->nendpoints; e++) {
        uint8_t down = use && raw_down(v, e);
        if (v->primed && down != v->last_down[e] && n < max)
            out[n++] = e;
        v->last_down[e] = down;
    }
    v->primed = true;
    return n;
}

size_t health_endpoint_check(const health_view_t *v, uint32_t e, size_t i, uint64_t *id,
                             const plan_check_t **check, hstate_value_t *val)
{
    memset(val, 0, sizeof(*val));
    *check = NULL;
    *id = 0;
    if (!v || !v->hc || e >= v->hc->nendpoints)
        return 0;
    size_t n = v->hc->ep_start[e + 1] - v->hc->ep_start[e];
    if (i >= n)
        return n;
    size_t k = v->hc->ep_start[e] + i;
    *id = v->hc->ep_ids[k];
    long p = plan_find(&v->hc->plan, *id);
    *check = p >= 0 ? &v->hc->plan.checks[p] : NULL;
    if (v->map && v->slots[k] != UINT32_MAX)
        hstate_read(&v->map->m->view, v->slots[k], val);
    return n;
}

const char *health_endpoint_word(const health_view_t *v, uint32_t e)
{
    if (!v || !v->hc || e >= v->hc->nendpoints || v->hc->ep_start[e] == v->hc->ep_start[e + 1])
        return "not monitored";
    bool unknown = false;
    for (uint32_t i = v->hc->ep_start[e]; i < v->hc->ep_start[e + 1]; i++) {
        hstate_value_t val = {0};
        if (v->map && v->slots[i] != UINT32_MAX)
            hstate_read(&v->map->m->view, v->slots[i], &val);
        if (val.state == HSTATE_DOWN)
            return "DOWN";
        unknown |= val.state == HSTATE_UNKNOWN;
    }
    return unknown ? "UNKNOWN" : "UP";
}

/* ---- the state file and the heartbeat ---- */

static const char *mode_name(hmode_t m)
{
    static const char *const names[] = {"no probe yet", "fresh", "grace", "stale"};
    return names[m];
}

static void set_mode(hmode_t m, const hstate_view_t *sv)
{
    bool use =
        m == MODE_FRESH || m == MODE_GRACE || (m == MODE_STALE && H.rule == CFG_STALE_LAST_KNOWN);
    atomic_store(&use_health, use);
    if (m == H.mode)
        return;
    int32_t pid = sv ? sv->h->writer_pid : 0;
    switch (m) {
    case MODE_FRESH:
        log_notice("health: probe (pid %d) is publishing, plan generation %llu: health drives "
                   "steering",
                   pid, (unsigned long long)sv->h->generation);
        break;
    case MODE_GRACE:
        log_warn("health: probe (pid %d) heartbeat is %.1f s old: keeping the last known state "
                 "for up to %.0f s",
                 pid, H.hb_age, H.grace);
        break;
    case MODE_STALE:
        log_err("health: probe (pid %d) heartbeat is %.1f s old: stale, %s", pid, H.hb_age,
                H.rule == CFG_STALE_IGNORE
                    ? "ignoring health (every endpoint counts as up) until it returns"
                    : "keeping the last known state (stale_rule last-known)");
        break;
    case MODE_NONE:
        log_warn("health: no usable health state file: every endpoint counts as up");
        break;
    }
    H.mode = m;
}

static bool tick_locked(void);

bool health_tick(void)
{
    pthread_mutex_lock(&hlock);
    bool changed = tick_locked();
    pthread_mutex_unlock(&hlock);
    return changed;
}

static bool tick_locked(void)
{
    bool changed = false;
    keep_plan_file();
    if (H.runtime_dir) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/health.state", H.runtime_dir);
        struct stat st;
        bool exists = stat(path, &st) == 0;
        const hstate_map_t *cur = H.map ? H.map->m : NULL;
        if (cur &&
            (hstate_map_faulted(cur) || (exists && st.st_dev == cur->dev && st.st_ino == cur->ino &&
                                         (size_t)st.st_size != cur->len))) {
            /* Resized in place by someone else (the probe never does).
             * Lookups that touched a page beyond the new end did not fault:
             * hstate's guard put zero pages there (they read UNKNOWN, so
             * the file counts as no file). Drop it; the probe notices too
             * and renames a whole new file into place within a heartbeat. */
            log_err("health: %s changed size in place; dropping it until the probe writes a "
                    "new one (someone other than the probe resized it)",
                    path);
            hmap_release(H.map);
            H.map = NULL;
            cur = NULL;
            changed = true;
        }
        bool is_new = exists && (!cur || st.st_dev != cur->dev || st.st_ino != cur->ino);
        bool known_bad = exists && st.st_dev == H.bad_dev && st.st_ino == H.bad_ino &&
                         st.st_mtim.tv_sec == H.bad_mtime.tv_sec &&
                         st.st_mtim.tv_nsec == H.bad_mtime.tv_nsec;
        if (is_new && !known_bad) {
            hstate_map_t *m;
            gs_err_t err;
            int rc = hstate_map(path, &m, &err);
            if (rc == 0) {
                hmap_t *hm = mem_calloc(1, sizeof(*hm));
                hm->m = m;
                hm->refs = 1;
                hmap_release(H.map);
                H.map = hm;
                changed = true;
                log_info("health: mapped %s: %zu checks, plan generation %llu, writer pid %d", path,
                         m->view.n, (unsigned long long)m->view.h->generation,
                         m->view.h->writer_pid);
            } else if (rc != -ENOENT) {
                log_err("health: state file refused, treated as stale: %s", err.text);
                H.bad_dev = st.st_dev;
                H.bad_ino = st.st_ino;
                H.bad_mtime = st.st_mtim;
            }
        }
    }
    if (!H.map) {
        H.hb_age = -1;
        set_mode(MODE_NONE, NULL);
        return changed;
    }
    const hstate_view_t *sv = &H.map->m->view;
    int64_t hb = hstate_heartbeat(sv), now = hstate_now_mono_ms();
    uint32_t beat = sv->h->heartbeat_ms ? sv->h->heartbeat_ms : H.heartbeat_ms;
    /* A heartbeat from the future is from another boot: as good as none. */
    H.hb_age = hb > now + 1000 ? 1e9 : (double)(now - hb) / 1000.0;
    double stale_s = H.stale_after * beat / 1000.0;
    hmode_t m = H.hb_age <= stale_s             ? MODE_FRESH
                : H.hb_age <= stale_s + H.grace ? MODE_GRACE
                                                : MODE_STALE;
    set_mode(m, sv);
    return changed;
}

void health_status(health_status_t *st)
{
    pthread_mutex_lock(&hlock);
    memset(st, 0, sizeof(*st));
    st->mapped = H.map != NULL;
    st->in_use = atomic_load(&use_health);
    st->mode = mode_name(H.mode);
    st->hb_age = H.map ? H.hb_age : -1;
    st->pid = H.map ? H.map->m->view.h->writer_pid : 0;
    st->file_gen = H.map ? H.map->m->view.h->generation : 0;
    st->plan_gen = H.plan_gen;
    st->stale_rule = H.rule == CFG_STALE_IGNORE ? "ignore-health" : "last-known";
    pthread_mutex_unlock(&hlock);
}

/* pdns's control socket speaks one command line per connection and answers
 * with text until it closes. */
static int pdns_command(const char *path, const char *cmd, char *reply, size_t rlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* Bounded: a stuck pdns must not hold the writer for long. */
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int rc = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) != (ssize_t)strlen(cmd)) {
        rc = -errno;
    } else {
        size_t got = 0;
        ssize_t r;
        while (got + 1 < rlen && (r = recv(fd, reply + got, rlen - 1 - got, 0)) > 0)
            got += (size_t)r;
        reply[got] = '\0';
    }
    close(fd);
    return rc;
}

size_t health_purge(const char *names, size_t n, size_t *failed)
{
    size_t sent = 0;
    *failed = 0;
    if (!H.control_socket || n == 0)
        return 0;
    /* Several names per command, in lines of modest length. */
    const char *p = names;
    size_t done = 0;
    while (done < n) {
        buf_t cmd;
        buf_init(&cmd);
        buf_puts(&cmd, "purge");
        size_t batch = 0;
        while (done < n && cmd.len < 4000) {
            buf_printf(&cmd, " %s", p);
            p += strlen(p) + 1;
            done++;
            batch++;
        }
        buf_putc(&cmd, '\n');
        char reply[256];
        int rc = pdns_command(H.control_socket, cmd.data, reply, sizeof(reply));
        sent++;
        if (rc)
            ++*failed;
        if (rc)
            log_warn("health: pdns cache purge via %s failed: %s", H.control_socket, strerror(-rc));
        else
            log_info("health: asked pdns to purge %zu name%s (pdns: %s)", batch,
                     batch == 1 ? "" : "s", reply);
        buf_free(&cmd);
    }
    return sent;
}

void health_shutdown(void)
{
    if (H.latest)
        health_view_release(H.latest);
    H.latest = NULL;
    hmap_release(H.map);
    H.map = NULL;
    free(H.runtime_dir);
    free(H.control_socket);
    H.runtime_dir = H.control_socket = NULL;
    buf_free(&H.plan_bytes);
    buf_init(&H.plan_bytes);
}
