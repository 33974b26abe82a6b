/* Records on their way into a zone image. Every record is checked the same
 * way whether it arrives in a write (replaceRRSet, feedRecord) or is read
 * back from the store: zone_rec_prepare normalises its content and compiles
 * a LUA record. The program compiled for a write is kept with the pending
 * record and handed to the image the commit builds, so a record is compiled
 * once when it is written (and once when geosteerd starts), not again each
 * time its zone changes. Writer-side code; pure apart from the store read. */
#ifndef GS_ZONES_RECORDS_H
#define GS_ZONES_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "backend/dns/rr.h"
#include "backend/steering/luac.h"
#include "backend/zones/store.h"
#include "backend/zones/zone.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/compiler.h"

/* Validates `content` of a record of `type` and appends its normal form to
 * `norm` (rr_normalize). For a LUA record it also compiles the code and
 * returns the program in `*prog` (owned; NULL for other types). Returns 0,
 * or GS_EINVAL with the reason in `err` ("LUA: column N: ..." for code). */
GS_WARN_UNUSED int zone_rec_prepare(const rr_type_t *type, const char *content, buf_t *norm,
                                    luac_prog_t **prog, gs_err_t *err);

/* Finds the program already compiled for LUA record `content` (normalised)
 * at `name` (canonical), or NULL; zone_load takes its own reference. */
typedef const luac_prog_t *(*zone_prog_fn)(void *ctx, const char *name, const char *content);

/* Builds the image of zone `id` from its stored rows. Each row is checked
 * as a write is (name in the zone, known type, TTL, zone_rec_prepare); rows
 * that fail are skipped and counted in `*skipped`, the first reason in
 * `err`. LUA programs come from `reuse` (may be NULL) and are compiled
 * only when it has none. GS_ENOTFOUND if there is no such zone, GS_EINVAL
 * if its stored name is not canonical, store errors as they come. */
GS_WARN_UNUSED int zone_load(store_t *st, int64_t id, zone_prog_fn reuse, void *ctx, zone_t **out,
                             size_t *skipped, gs_err_t *err);

#endif
