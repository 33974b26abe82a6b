/* geosteerd's side of health (doc/design.md §7): derives the check plan from the
 * config, publishes it for geosteer-probe, maps the probe's health state
 * file read-only and answers "is endpoint e DOWN?" on the lookup path
 * without a lock or a system call. It also watches the probe's heartbeat
 * and applies the staleness rules: fresh -> grace (last known state kept)
 * -> stale (settings.health.stale_rule: ignore health, or keep the last
 * known state), each change logged once.
 *
 * Threads: health_endpoint_down may be called from any thread on a view
 * pinned through the snapshot. Everything else is the writer's (the state
 * module, under its writer lock, or the main thread before serving). */
#ifndef GS_STEERING_HEALTH_H
#define GS_STEERING_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/steering/config.h"
#include "common/buf.h"
#include "common/hstate.h"
#include "common/plan.h"
#include "common/compiler.h"

/* The checks of one config: the plan and, per endpoint, the ids of the
 * checks that decide its health (one per probed address). */
typedef struct {
    plan_t plan;        /* finished (sorted), generation 0 until published */
    uint32_t *ep_start; /* nendpoints + 1 offsets into ep_ids */
    uint64_t *ep_ids;
    size_t nendpoints;
    uint64_t serial; /* unique per health_checks_from_cfg call */
} health_checks_t;

/* Derives the checks of `cfg` (an endpoint with a monitor gets one check
 * per probe address: its probe_address, else each A and AAAA address). */
void health_checks_from_cfg(const cfg_t *cfg, health_checks_t *out);

/* Releases what `hc` owns. Accepts a zeroed struct. */
void health_checks_free(health_checks_t *hc);

/* Takes the runtime and staleness settings of a config just loaded;
 * `default_dir` is the runtime directory when the config names none. */
void health_configure(const cfg_t *cfg, const char *default_dir);

/* Writes `plan` to <runtime_dir>/plan.json by write-then-rename, unless the
 * file already holds the same checks; sets plan->generation (the file's
 * generation, plus one when it changed). Creates the directory if needed.
 * Returns 0 or -errno with the reason in `err`. */
GS_WARN_UNUSED int health_publish_plan(plan_t *plan, gs_err_t *err);

/* An immutable view of health for one config: the mapped state file (may be
 * NULL: no probe yet) and each endpoint's entries in it. */
typedef struct health_view health_view_t;

/* A view over the current state file for `hc` (borrowed for the view's
 * lifetime: the engine owning `hc` outlives every world using it). */
health_view_t *health_view_new(const health_checks_t *hc);

/* Drops a reference (the writer's: snapshot worlds hold one each). */
void health_view_release(health_view_t *v);

/* Lookup path: true when the probe says endpoint `e` is DOWN (any of its
 * checks DOWN) and health is in use (not stale under the ignore rule).
 * Matches steer_admin_t.down. A few atomic loads and 96-byte copies. */
bool health_endpoint_down(const void *view, uint32_t e);

/* Called about once a second by the writer: maps a new state file when the
 * probe renamed one into place, drops one resized in place or whose mapping
 * faulted (hstate.h: it then reads as zeros) (either returns true: the
 * caller publishes new views built with health_view_new), re-evaluates the
 * heartbeat and logs changes. Also writes plan.json again, as last
 * published, if someone deleted it. */
bool health_tick(void);

/* Lookup path: the state (hstate_state_t) of check `id` in the mapped file,
 * HSTATE_UNKNOWN when the file lacks it or health is not in use. An atomic
 * load, a hash probe and one latched read. */
int health_check_state(const void *view, uint64_t id);

/* The probe's whole record of check `id` (any check of the plan, LUA
 * records' included) into `val`, whether or not health is in use. Returns 0,
 * or GS_ENOTFOUND (zeroed `val`) without a state file or a record. */
int health_check_value(const health_view_t *v, uint64_t id, hstate_value_t *val);

/* Endpoints whose effective DOWN state changed since the last call for
 * view `v` (indexes appended to `out`, at most `max`); the first call for a
 * view reports nothing. Writer only. */
size_t health_changes(const health_view_t *v, uint32_t *out, size_t max);

/* One check of an endpoint, for `health`: fills `val` (UNKNOWN without a
 * probe). Returns the number of checks of endpoint `e`; `i` selects one. */
size_t health_endpoint_check(const health_view_t *v, uint32_t e, size_t i, uint64_t *id,
                             const plan_check_t **check, hstate_value_t *val);

/* The health of endpoint `e` for people: "not monitored", "UNKNOWN" (no
 * result yet), "UP" or "DOWN" (any check DOWN), whether or not health is in
 * use right now. */
const char *health_endpoint_word(const health_view_t *v, uint32_t e);

/* The probe as seen from here, for `status` and `health`. Any thread. */
typedef struct {
    bool mapped;       /* a valid state file is mapped */
    bool in_use;       /* health currently drives steering */
    const char *mode;  /* "no probe yet", "fresh", "grace", "stale" */
    double hb_age;     /* seconds since the last heartbeat, -1 if unknown */
    int32_t pid;       /* the writer's pid */
    uint64_t file_gen; /* plan generation of the state file */
    uint64_t plan_gen; /* generation of the plan geosteerd published */
    const char *stale_rule;
} health_status_t;
void health_status(health_status_t *st);

/* Asks pdns (settings.pdns_control_socket) to purge `names` (canonical,
 * NUL-separated in `names`, `n` of them) from its caches, several names per
 * command. Writer only; logs failures. Returns the number of commands sent
 * and sets *failed to how many of them failed. No-op (0) without a
 * configured socket. */
size_t health_purge(const char *names, size_t n, size_t *failed);

/* Frees the module's global state (the mapping). */
void health_shutdown(void);

#endif
