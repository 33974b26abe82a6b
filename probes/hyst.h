/* The health decision: a pure function from (state, new result,
 * thresholds) to the next state, with rise/fall hysteresis (doc/design.md §7).
 * No clock, no I/O: the probe passes the time in, unit tests pass anything.
 *
 * UNKNOWN becomes UP or DOWN on the first result. UP becomes DOWN after
 * `fall` failures in a row; DOWN becomes UP after `rise` successes in a row.
 * Any result of the other kind resets the run. */
#ifndef GS_PROBES_HYST_H
#define GS_PROBES_HYST_H

#include <stdbool.h>
#include <stdint.h>

#include "common/hstate.h"

/* Applies one result to `v` in place: `ok`, its duration `rtt_us`, the time
 * `now_ms` (CLOCK_REALTIME ms) and, for a failure, its cause `error` (NULL
 * keeps ""). Returns true when the state changed; the previous state is then
 * in *from. */
bool probe_hyst_step(hstate_value_t *v, bool ok, uint32_t rtt_us, const char *error, unsigned rise,
                     unsigned fall, int64_t now_ms, hstate_state_t *from);

/* "UNKNOWN", "UP", "DOWN". */
const char *probe_state_name(unsigned state);

/* Describes a transition for the log: "UP -> DOWN after 3 failures (connect
 * timeout after 5000 ms)", "UNKNOWN -> UP on the first result", "UNKNOWN ->
 * DOWN on the first result (status 500)". Writes at most `len` bytes. */
void probe_hyst_describe(const hstate_value_t *v, hstate_state_t from, char *out, size_t len);

#endif
