/* The HTTP listener for Prometheus (settings.metrics_listen): GET /metrics
 * answers the exposition (exposition.h); anything else is 404 or 405. One
 * libmicrohttpd thread with a small connection limit, so scrapes never
 * compete with lookups for more than one core's share. Main thread only. */
#ifndef GS_PROTOCOL_METRICS_HTTP_H
#define GS_PROTOCOL_METRICS_HTTP_H

#include "common/compiler.h"
#include "common/err.h"

/* Makes the listener match `listen` (cfg_parse_listen syntax; NULL: none):
 * nothing changes when it already does; otherwise the new address is
 * bound first and the old listener closed only once that worked, so a
 * reload naming an address in use keeps the old one. Returns 0 or an error
 * (bad address, bind failure) with the reason in `err`. */
GS_WARN_UNUSED int metrics_http_apply(const char *listen, gs_err_t *err);

/* Stops the listener, if any. */
void metrics_http_stop(void);

#endif
