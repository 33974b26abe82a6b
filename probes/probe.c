/* geosteer-probe's loop: plan in, checks out, health state file updated. */
#include "probes/probe.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/hstate.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/plan.h"
#include "probes/check.h"
#include "probes/hyst.h"

/* Checks due within this many ms start together: one scan of the schedule
 * per batch rather than per check (1% of the shortest interval). */
#define START_SLACK_MS 10

typedef struct {
    probe_check_t *k; /* NULL until the first run */
    hstate_value_t v;
    int64_t due_ms; /* CLOCK_MONOTONIC */
    int64_t started_us;
    bool running;
} run_t;

struct probe {
    char *plan_path, *state_path;
    plan_t plan; /* the plan being run */
    run_t *runs; /* parallel to plan.checks */
    bool have_plan;
    hstate_writer_t *w;
    CURLM *multi;
    unsigned in_flight;
    int64_t next_scan; /* no check is due before this (CLOCK_MONOTONIC ms) */
    int sigfd;
    struct stat plan_st; /* identity of the plan file applied */
    bool plan_missing_logged, plan_bad_logged;
    bool write_failing; /* the last hstate_create failed (logged once) */
    bool file_lost;     /* our state file is no longer at state_path (logged once) */
    uint64_t rnd;
};

static uint64_t next_rand(probe_t *p)
{
    /* xorshift64*: scheduling jitter needs no quality beyond spreading. */
    p->rnd ^= p->rnd >> 12;
    p->rnd ^= p->rnd << 25;
    p->rnd ^= p->rnd >> 27;
    return p->rnd * 0x2545f4914f6cdd1dull;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int probe_new(const char *runtime_dir, probe_t **out, gs_err_t *err)
{
    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return gs_err_set(err, GS_EINVAL, "libcurl initialisation failed");
    probe_t *p = mem_calloc(1, sizeof(*p));
    buf_t b;
    buf_init(&b);
    buf_printf(&b, "%s/plan.json", runtime_dir);
    p->plan_path = buf_take(&b);
    buf_printf(&b, "%s/health.state", runtime_dir);
    p->state_path = buf_take(&b);
    p->multi = curl_multi_init();
    p->rnd = (uint64_t)now_us() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    p->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (!p->multi || p->sigfd < 0) {
        int rc = gs_err_set(err, p->sigfd < 0 ? -errno : GS_EINVAL, "cannot set up: %s",
                            p->sigfd < 0 ? strerror(errno) : "curl_multi_init failed");
        probe_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

static void stop_run(probe_t *p, run_t *r)
{
    if (r->running) {
        curl_multi_remove_handle(p->multi, probe_check_handle(r->k));
        r->running = false;
        if (p->in_flight-- >= p->plan.max_in_flight)
            p->next_scan = 0; /* a slot freed for checks that were waiting */
    }
}

void probe_free(probe_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; p->runs && i < p->plan.n; i++) {
        stop_run(p, &p->runs[i]);
        probe_check_free(p->runs[i].k);
    }
    free(p->runs);
    plan_free(&p->plan);
    hstate_writer_close(p->w);
    if (p->multi)
        curl_multi_cleanup(p->multi);
    if (p->sigfd >= 0)
        close(p->sigfd);
    free(p->plan_path);
    free(p->state_path);
    free(p);
    curl_global_cleanup();
}

static void check_name(const plan_check_t *c, char *out, size_t len)
{
    char t[64];
    plan_target(c, t, sizeof(t));
    snprintf(out, len, "%s %s %s", c->label && *c->label ? c->label : "-", plan_type_name(c->type),
             t);
}

/* Switches to `np` (taken over): runs of checks that stay are moved over
 * with their state, schedule and any transfer in flight; the rest stop.
 * Writes a new state file. On failure to write it, keeps the old plan. */
static int apply_plan(probe_t *p, plan_t *np, const hstate_view_t *old_file)
{
    run_t *nr = mem_calloc(np->n + 1, sizeof(*nr));
    uint64_t *ids = mem_calloc(np->n + 1, sizeof(*ids));
    hstate_value_t *init = mem_calloc(np->n + 1, sizeof(*init));
    size_t kept = 0, resumed = 0;
    int64_t now = hstate_now_mono_ms();
    for (size_t i = 0; i < np->n; i++) {
        const plan_check_t *c = &np->checks[i];
        ids[i] = c->id;
        long j = p->have_plan ? plan_find(&p->plan, c->id) : -1;
        if (j >= 0) {
            nr[i] = p->runs[j];
            p->runs[j] = (run_t){0};
            kept++;
        } else {
            /* From a previous probe's file, if it knew this check. */
            for (size_t e = 0; old_file && e < old_file->n; e++)
                if (old_file->e[e].id == c->id && hstate_read(old_file, e, &nr[i].v) == 0) {
                    resumed++;
                    break;
                }
            /* First run soon, spread over up to a second (or the interval). */
            uint32_t spread = c->interval_ms < 1000 ? c->interval_ms : 1000;
            nr[i].due_ms = now + (int64_t)(next_rand(p) % (spread ? spread : 1));
        }
        init[i] = nr[i].v;
    }
    hstate_writer_t *w;
    gs_err_t err;
    int rc =
        hstate_create(p->state_path, np->generation, np->heartbeat_ms, ids, init, np->n, &w, &err);
    free(ids);
    free(init);
    if (rc) {
        /* Put the moved runs back before keeping the old plan. */
        for (size_t i = 0; i < np->n; i++) {
            long j = p->have_plan ? plan_find(&p->plan, np->checks[i].id) : -1;
            if (j >= 0)
                p->runs[j] = nr[i];
            else
                probe_check_free(nr[i].k);
        }
        free(nr);
        if (!p->write_failing)
            log_err("probe: cannot write the state file: %s; %s (retrying every heartbeat)",
                    err.text, p->have_plan ? "keeping the running plan" : "no plan applied");
        else
            log_debug("probe: cannot write the state file: %s", err.text);
        p->write_failing = true;
        plan_free(np);
        return rc;
    }
    if (p->write_failing)
        log_notice("probe: state file written again");
    p->write_failing = false;
    p->file_lost = false;
    size_t dropped = 0;
    for (size_t i = 0; p->have_plan && i < p->plan.n; i++) {
        if (p->runs[i].k || p->runs[i].running) {
            stop_run(p, &p->runs[i]);
            probe_check_free(p->runs[i].k);
            dropped++;
        } else if (plan_find(np, p->plan.checks[i].id) < 0) {
            dropped++;
        }
    }
    free(p->runs);
    plan_free(&p->plan);
    p->plan = *np;
    p->runs = nr;
    p->have_plan = true;
    p->next_scan = 0;
    for (size_t i = 0; i < p->plan.n; i++)
        if (p->runs[i].k)
            probe_check_set_slot(p->runs[i].k, i);
    hstate_writer_close(p->w);
    p->w = w;
    log_info("probe: plan generation %llu applied: %zu checks (%zu kept, %zu resumed from the "
             "state file, %zu dropped), at most %u in flight",
             (unsigned long long)p->plan.generation, p->plan.n, kept, resumed, dropped,
             p->plan.max_in_flight);
    return 0;
}

/* Loads the plan file if it changed since the last look. */
static void refresh_plan(probe_t *p, bool force)
{
    struct stat st;
    if (stat(p->plan_path, &st) != 0) {
        if (!p->plan_missing_logged)
            log_warn("probe: no plan at %s yet (geosteerd writes it); waiting", p->plan_path);
        p->plan_missing_logged = true;
        return;
    }
    p->plan_missing_logged = false;
    if (!force && p->have_plan && st.st_ino == p->plan_st.st_ino &&
        st.st_size == p->plan_st.st_size && st.st_mtim.tv_sec == p->plan_st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == p->plan_st.st_mtim.tv_nsec)
        return;
    if (!force && p->plan_bad_logged && st.st_ino == p->plan_st.st_ino &&
        st.st_mtim.tv_nsec == p->plan_st.st_mtim.tv_nsec)
        return; /* the same broken file: said once already */
    plan_t np;
    gs_err_t err;
    if (plan_load(p->plan_path, &np, &st, &err) != 0) {
        log_err("probe: plan refused, %s: %s", p->have_plan ? "keeping the running one" : "waiting",
                err.text);
        p->plan_st = st;
        p->plan_bad_logged = true;
        return;
    }
    p->plan_bad_logged = false;
    p->plan_st = st;
    if (p->have_plan && np.generation == p->plan.generation && plan_same(&np, &p->plan)) {
        plan_free(&np);
        return;
    }
    hstate_map_t *old = NULL;
    if (!p->have_plan) {
        /* Start-up: carry states over from a previous probe's file. */
        gs_err_t why;
        int rc = hstate_map(p->state_path, &old, &why);
        if (rc != 0 && rc != -ENOENT)
            log_warn("probe: previous state file not used: %s", why.text);
    }
    apply_plan(p, &np, old ? &old->view : NULL);
    hstate_unmap(old);
}

/* Once per heartbeat: is our file still the one at state_path, whole? A
 * file deleted, replaced or truncated by someone else is never seen by
 * geosteerd again (a restarted geosteerd would find no health, or a
 * stranger's), so a whole new one is written by write-then-rename with the
 * states held here, as a new plan would be. Logged once per loss; retried
 * every heartbeat while it fails. */
static void check_state_file(probe_t *p)
{
    if (!p->have_plan || !p->w)
        return;
    gs_err_t err;
    if (!p->file_lost && hstate_writer_check(p->w, &err) == 0)
        return;
    if (!p->file_lost)
        log_warn("probe: %s; writing a whole new state file", err.text);
    p->file_lost = true;
    uint64_t *ids = mem_calloc(p->plan.n + 1, sizeof(*ids));
    hstate_value_t *vals = mem_calloc(p->plan.n + 1, sizeof(*vals));
    for (size_t i = 0; i < p->plan.n; i++) {
        ids[i] = p->plan.checks[i].id;
        vals[i] = p->runs[i].v;
    }
    hstate_writer_t *w;
    int rc = hstate_create(p->state_path, p->plan.generation, p->plan.heartbeat_ms, ids, vals,
                           p->plan.n, &w, &err);
    free(ids);
    free(vals);
    if (rc) {
        if (!p->write_failing)
            log_err("probe: cannot write the state file: %s (retrying every heartbeat)", err.text);
        p->write_failing = true;
        return;
    }
    hstate_writer_close(p->w);
    p->w = w;
    p->file_lost = false;
    p->write_failing = false;
    log_notice("probe: wrote a new state file %s: %zu checks, plan generation %llu", p->state_path,
               p->plan.n, (unsigned long long)p->plan.generation);
}

/* Starts the checks that are due, while slots are free, and sets
 * p->next_scan to the earliest start still ahead. O(checks), so skipped
 * until next_scan (or until collect() frees a slot checks wait for). */
static void start_due(probe_t *p, int64_t now, int64_t *next_due)
{
    if (now < p->next_scan) {
        if (p->next_scan < *next_due)
            *next_due = p->next_scan;
        return;
    }
    int64_t earliest = INT64_MAX;
    for (size_t i = 0; i < p->plan.n; i++) {
        run_t *r = &p->runs[i];
        if (r->running)
            continue;
        if (r->due_ms > now + START_SLACK_MS) {
            if (r->due_ms < earliest)
                earliest = r->due_ms;
            continue;
        }
        if (p->in_flight >= p->plan.max_in_flight)
            continue; /* collect() asks for a new scan when a slot frees */
        const plan_check_t *c = &p->plan.checks[i];
        if (!r->k && !(r->k = probe_check_new(c))) {
            log_err("probe: out of curl handles");
            r->due_ms = now + c->interval_ms;
            continue;
        }
        probe_check_set_slot(r->k, i);
        /* Next run one interval after this one was due (or after now, if it
         * is late), jittered by +-5% so checks that started together drift
         * apart. */
        int64_t jitter = (int64_t)(next_rand(p) % (c->interval_ms / 10 + 1)) - c->interval_ms / 20;
        r->due_ms = (r->due_ms > now ? r->due_ms : now) + c->interval_ms + jitter;
        if (r->due_ms < earliest)
            earliest = r->due_ms;
        if (probe_check_start(r->k) != 0 ||
            curl_multi_add_handle(p->multi, probe_check_handle(r->k)) != CURLM_OK) {
            log_err("probe: cannot start check %016llx", (unsigned long long)c->id);
            continue;
        }
        r->running = true;
        r->started_us = now_us();
        p->in_flight++;
    }
    p->next_scan = earliest;
    if (earliest < *next_due)
        *next_due = earliest;
}

static void collect(probe_t *p)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(p->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        probe_check_t *k = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&k);
        CURLcode code = m->data.result;
        curl_multi_remove_handle(p->multi, m->easy_handle);
        size_t i = k ? probe_check_slot(k) : p->plan.n;
        if (i >= p->plan.n || p->runs[i].k != k)
            continue;
        run_t *r = &p->runs[i];
        const plan_check_t *c = &p->plan.checks[i];
        r->running = false;
        if (p->in_flight-- >= p->plan.max_in_flight)
            p->next_scan = 0; /* a slot freed for checks that were waiting */
        char why[HSTATE_ERROR_LEN];
        why[0] = '\0';
        bool ok = probe_check_finish(k, code, why, sizeof(why));
        int64_t us = now_us() - r->started_us;
        hstate_state_t from;
        if (probe_hyst_step(&r->v, ok, (uint32_t)(us > UINT32_MAX ? UINT32_MAX : us), why, c->rise,
                            c->fall, hstate_now_real_ms(), &from)) {
            char name[256], what[160];
            check_name(c, name, sizeof(name));
            probe_hyst_describe(&r->v, from, what, sizeof(what));
            if (r->v.state == HSTATE_DOWN)
                log_warn("probe: check '%s': %s", name, what);
            else
                log_notice("probe: check '%s': %s", name, what);
        }
        hstate_write(p->w, i, &r->v);
    }
}

int probe_run(probe_t *p)
{
    refresh_plan(p, false);
    int64_t next_beat = 0;
    for (;;) {
        int64_t now = hstate_now_mono_ms();
        uint32_t hb = p->have_plan ? p->plan.heartbeat_ms : PLAN_DEFAULT_HEARTBEAT_MS;
        if (now >= next_beat) {
            refresh_plan(p, false);
            check_state_file(p);
            if (p->w)
                hstate_beat(p->w);
            next_beat = now + hb;
        }
        int64_t next_due = next_beat;
        if (p->have_plan)
            start_due(p, now, &next_due);
        int running;
        curl_multi_perform(p->multi, &running);
        collect(p);
        if (p->in_flight < p->plan.max_in_flight && p->have_plan)
            start_due(p, hstate_now_mono_ms(), &next_due);

        int64_t wait = next_due - hstate_now_mono_ms();
        if (wait < 0)
            wait = 0;
        if (wait > 1000)
            wait = 1000;
        struct curl_waitfd extra = {.fd = p->sigfd, .events = CURL_WAIT_POLLIN};
        curl_multi_poll(p->multi, &extra, 1, (int)wait, NULL);
        if (extra.revents) {
            struct signalfd_siginfo si;
            while (read(p->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGHUP) {
                    log_info("probe: SIGHUP: re-reading the plan");
                    refresh_plan(p, true);
                } else {
                    log_info("probe: signal %u, stopping", si.ssi_signo);
                    return 0;
                }
            }
        }
    }
}
