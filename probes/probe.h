/* geosteer-probe's engine: reads the check plan geosteerd publishes in the
 * runtime directory, runs every check on its schedule through one curl
 * multi handle (at most the plan's max_in_flight at once), applies the
 * rise/fall decision, logs transitions and publishes results in the health
 * state file (common/hstate.h). A new plan is applied without a restart:
 * checks that stay keep their state, new ones start UNKNOWN, and a new
 * state file is renamed into place. At start-up the states of an existing
 * state file are carried over for the checks still planned.
 *
 * Call order: probe_new, probe_run (returns on SIGTERM/SIGINT), probe_free.
 * Single-threaded. */
#ifndef GS_PROBES_PROBE_H
#define GS_PROBES_PROBE_H

#include "common/err.h"
#include "common/compiler.h"

typedef struct probe probe_t;

/* A probe working in `runtime_dir` (plan.json in, health.state out).
 * Returns 0 and an owned probe, or an error with the reason in `err`. */
GS_WARN_UNUSED int probe_new(const char *runtime_dir, probe_t **out, gs_err_t *err);

/* Runs until SIGTERM or SIGINT (which the caller has blocked; the probe
 * takes them through a signalfd). SIGHUP re-reads the plan at once.
 * Returns 0 on a clean stop. */
int probe_run(probe_t *p);

/* Releases everything. Accepts NULL. */
void probe_free(probe_t *p);

#endif
