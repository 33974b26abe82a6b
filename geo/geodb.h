/* GeoIP database access (MaxMind DB format, read with libmaxminddb): open
 * and validate a country/city or ASN database, look an address up, report
 * the database's metadata, and enumerate every network it holds (for the
 * steering engine's merged prefix tree). Library-like: never logs, returns
 * errors. A geo_db_t is immutable after geo_db_open and may be used by any
 * number of threads at once; replacing a database is done by the caller
 * (open the new file, swap pointers, close the old one when unused). */
#ifndef GS_GEO_GEODB_H
#define GS_GEO_GEODB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/err.h"
#include "common/compiler.h"

typedef struct geo_db geo_db_t;

/* What a lookup found. Empty strings / zero for what the database lacks. */
typedef struct {
    char country[3];     /* ISO 3166-1 alpha-2, "DE" */
    char continent[3];   /* AF AN AS EU NA OC SA */
    char subdivision[8]; /* ISO 3166-2 with country, "US-CA" (first subdivision) */
    bool has_location;
    double latitude, longitude;
    uint32_t asn;       /* autonomous_system_number, 0 if none */
    uint8_t prefix_len; /* length of the database network holding the address, in the
                           address's own family (0..32 for IPv4, 0..128 for IPv6) */
} geo_result_t;

typedef struct {
    const char *path;
    const char *database_type; /* metadata database_type */
    uint64_t build_epoch;      /* metadata build_epoch (seconds) */
    uint16_t ip_version;       /* 4 or 6 */
    uint32_t node_count;
    uint16_t record_size;
} geo_db_info_t;

/* Opens and validates `path` (format, metadata, a test lookup). Returns 0
 * and an owned handle, or an error (missing, truncated, corrupt: the reason
 * in `err`, naming the path). */
GS_WARN_UNUSED int geo_db_open(const char *path, geo_db_t **out, gs_err_t *err);

/* Releases a database. Accepts NULL. */
void geo_db_close(geo_db_t *db);

/* Looks up the address in `sa` (AF_INET or AF_INET6). Returns 0 with `out`
 * filled (prefix_len always set), or GS_ENOTFOUND when the database has no
 * data for it (prefix_len still set: the empty network's length). Cost: a
 * tree walk plus data decoding, a few hundred ns. (Also GS_ENOTFOUND for an
 * IPv6 address in an IPv4-only database; GS_EINVAL for another address
 * family or corrupt data.) */
int geo_db_lookup(const geo_db_t *db, const struct sockaddr *sa, geo_result_t *out);

/* True once the file was cut under the open database (rewritten in place
 * instead of renamed into place): its mapping now reads zeros, lookups find
 * nothing (never a crash), and the owner should open the file again. */
bool geo_db_faulted(const geo_db_t *db);

/* Fills `info` with borrowed metadata of `db`. */
void geo_db_info(const geo_db_t *db, geo_db_info_t *info);

/* Calls `fn` once per network of family `family` (AF_INET or AF_INET6) that
 * holds data, in address order, with the network's first address (4 or 16
 * bytes, network order), its prefix length in that family, and the decoded
 * result. IPv4 networks are those of the database's IPv4 subtree (::/96 in
 * an IPv6 database); aliases (::ffff:0:0/96, 2002::/16) are not visited
 * twice. Stops early and returns `fn`'s value if it returns non-zero;
 * returns GS_EINVAL for another family or a corrupt tree, else 0. */
typedef int (*geo_walk_fn)(void *ctx, const uint8_t *addr, uint8_t prefix_len,
                           const geo_result_t *res);
int geo_db_walk(const geo_db_t *db, int family, geo_walk_fn fn, void *ctx);

#endif
