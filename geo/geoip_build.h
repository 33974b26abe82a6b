/* Builds geosteer's default country database: the IPFire Location data as
 * Debian's tor-geoipdb ships it (/usr/share/tor/geoip and geoip6, country
 * ranges) turned into a MaxMind DB whose records hold, in MaxMind's City
 * layout, country.iso_code, continent.code and a location from the
 * compiled-in country table (geo/countries.h): latitude, longitude,
 * accuracy_radius (GEO_BUILD_ACCURACY_KM) and time_zone (the tz zone of the
 * coordinate, when it has one). pdns's geoip backend needs accuracy_radius
 * to use a location at all (latlon(), pickclosest()). Called by `geosteer geoip build`
 * (cli/cmd_geoip.c) and the unit tests; offline, single-threaded, never
 * logs.
 *
 * Input lines (after '#' comments and blank lines):
 *   IPv4: INTIPLOW,INTIPHIGH,CC   decimal host-order integers, inclusive
 *   IPv6: IPV6LOW,IPV6HIGH,CC     textual addresses, inclusive
 * Codes that are not ISO 3166-1 countries are handled by a fixed table:
 * EU and AP (RIR region blocks) give a continent without a country (EU, AS),
 * UK is GB, and the rest ("??", ZZ, CS, AN, SU, ...) are skipped and counted.
 * The database's build_epoch is the "Generated:" date of the input headers
 * (the data's own date, so a rebuild is byte-identical), or the newest
 * input's mtime if there is none. */
#ifndef GS_GEO_GEOIP_BUILD_H
#define GS_GEO_GEOIP_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "geo/mmdb_writer.h"
#include "common/compiler.h"

#define GEO_BUILD_DATABASE_TYPE "GeoSteer-Country"

/* location.accuracy_radius of every record, in km: the location is one
 * point for a whole country, so the radius is a country's size. */
#define GEO_BUILD_ACCURACY_KM 1000

typedef struct {
    size_t v4_ranges, v6_ranges; /* ranges read, including skipped ones */
    size_t skipped;              /* ranges whose code maps to nothing */
    char skipped_codes[64];      /* the distinct skipped codes, space-separated */
    size_t networks;             /* CIDR networks the ranges were split into */
    uint64_t build_epoch;
    mmdbw_stats_t out; /* what was written (networks there are after merging) */
} geo_build_stats_t;

/* Reads the IPv4 range file `v4_path` and the IPv6 one `v6_path` (either
 * may be NULL to leave that family empty) and writes the database to
 * `out_path` (atomically: temporary file, then rename). Returns 0 and fills
 * `st`, or an error: -errno for a file that cannot be read or written,
 * GS_EINVAL for a malformed line ("FILE:LINE: error: ..." in `err`). */
GS_WARN_UNUSED int geo_build_country_db(const char *v4_path, const char *v6_path,
                                        const char *out_path, geo_build_stats_t *st, gs_err_t *err);

#endif
