/* rise/fall hysteresis. */
#include "probes/hyst.h"

#include <stdio.h>
#include <string.h>

const char *probe_state_name(unsigned state)
{
    static const char *const names[] = {"UNKNOWN", "UP", "DOWN"};
    return state <= HSTATE_DOWN ? names[state] : "?";
}

bool probe_hyst_step(hstate_value_t *v, bool ok, uint32_t rtt_us, const char *error, unsigned rise,
                     unsigned fall, int64_t now_ms, hstate_state_t *from)
{
    if (v->results && v->last_ok == ok) {
        if (v->consecutive < UINT16_MAX)
            v->consecutive++;
    } else {
        v->consecutive = 1;
    }
    v->last_ok = ok;
    v->results++;
    v->rtt_us = rtt_us;
    v->checked_ms = now_ms;
    if (ok) {
        v->error[0] = '\0';
    } else {
        snprintf(v->error, sizeof(v->error), "%s", error ? error : "failed");
    }

    hstate_state_t old = (hstate_state_t)v->state, next = old;
    if (old == HSTATE_UNKNOWN)
        next = ok ? HSTATE_UP : HSTATE_DOWN;
    else if (old == HSTATE_UP && !ok && v->consecutive >= fall)
        next = HSTATE_DOWN;
    else if (old == HSTATE_DOWN && ok && v->consecutive >= rise)
        next = HSTATE_UP;
    if (next == old)
        return false;
    v->state = (uint8_t)next;
    v->since_ms = now_ms;
    *from = old;
    return true;
}

void probe_hyst_describe(const hstate_value_t *v, hstate_state_t from, char *out, size_t len)
{
    const char *to = probe_state_name(v->state);
    if (from == HSTATE_UNKNOWN && v->last_ok)
        snprintf(out, len, "UNKNOWN -> %s on the first result", to);
    else if (from == HSTATE_UNKNOWN)
        snprintf(out, len, "UNKNOWN -> %s on the first result (%s)", to, v->error);
    else if (v->state == HSTATE_DOWN)
        snprintf(out, len, "%s -> DOWN after %u failure%s (%s)", probe_state_name(from),
                 v->consecutive, v->consecutive == 1 ? "" : "s", v->error);
    else
        snprintf(out, len, "%s -> UP after %u success%s", probe_state_name(from), v->consecutive,
                 v->consecutive == 1 ? "" : "es");
}
