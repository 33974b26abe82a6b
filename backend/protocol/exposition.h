/* The Prometheus text exposition (format 0.0.4) of geosteerd: the counters
 * of common/metrics.h under the names stats.h numbers, plus gauges read at
 * scrape time from the snapshot (zones, GeoIP data, config, health). The
 * series are documented in doc/metrics.md. Served over HTTP by
 * metrics_http.h and by the `metrics` operator command. */
#ifndef GS_PROTOCOL_EXPOSITION_H
#define GS_PROTOCOL_EXPOSITION_H

#include "backend/zones/snap.h"
#include "common/buf.h"

/* Appends the whole exposition for snapshot `s` (pinned by the caller). */
void exposition_render(buf_t *out, const snap_t *s);

#endif
