/* One health check in flight: a libcurl easy handle configured from a plan
 * check (TCP connect via CONNECT_ONLY, or an HTTP(S) GET), pinned to the
 * check's address with CONNECT_TO so no name is ever resolved, TLS verified
 * unless the check says `insecure`, redirects never followed, the body read
 * only as far as the `body` match needs (at most body_max bytes). The
 * probe's loop drives the handles with one curl multi handle.
 *
 * Call order: probe_check_new (once per check), probe_check_start before
 * each run (adds the handle to the multi), probe_check_finish with the
 * transfer's result when curl reports it done, probe_check_free.
 * Probe loop thread only. */
#ifndef GS_PROBES_CHECK_H
#define GS_PROBES_CHECK_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/plan.h"

typedef struct probe_check probe_check_t;

/* Creates the runner of check `c` (copied). Returns NULL only if libcurl
 * cannot create a handle. */
probe_check_t *probe_check_new(const plan_check_t *c);

/* Releases the runner; it must not be running. Accepts NULL. */
void probe_check_free(probe_check_t *k);

/* The easy handle (to match curl's completion messages). */
CURL *probe_check_handle(const probe_check_t *k);

/* A slot number the caller keeps with the runner (its index in the
 * probe's tables), so a finished transfer finds its check in O(1). */
void probe_check_set_slot(probe_check_t *k, size_t slot);
size_t probe_check_slot(const probe_check_t *k);

/* Prepares a run. Returns 0, or an error for curl refusing an option. */
int probe_check_start(probe_check_t *k);

/* Judges a finished transfer: returns true for a success; on failure writes
 * the cause ("connection refused", "status 500", "timeout after 2000 ms",
 * "certificate verify failed") into `why`. */
bool probe_check_finish(probe_check_t *k, CURLcode code, char *why, size_t len);

#endif
