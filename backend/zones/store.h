/* The zone store: one SQLite file in WAL mode holding zones, records and
 * domain metadata, with a versioned schema (PRAGMA user_version). Only the
 * writer (state.c, under its lock) uses a store handle; lookups never touch
 * it. The store holds rows and returns rows: content passed in must
 * already be validated (zone_rec_prepare), and images are built from the
 * rows by zone_load. The store checks only the cross-record rules (CNAME
 * exclusivity, SOA at the apex).
 * Functions return 0 or a negative GS_E* code with the reason in `err`. */
#ifndef GS_ZONES_STORE_H
#define GS_ZONES_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/compiler.h"

#define STORE_SCHEMA_VERSION 5

typedef struct store store_t;

/* Opens (creating if missing, with its schema) the store at `path`, first
 * taking an exclusive lock on the file for the life of the handle: while
 * one handle (in any process) holds it, another store_open of the same file
 * fails with GS_ESTORE naming the file and the holder's pid. Readers that do
 * not use store_open (the sqlite3 shell) are not blocked. A file that is not
 * a geosteer store of a supported version is refused with GS_ESCHEMA before
 * anything is written to it (it is left byte for byte as it was). */
GS_WARN_UNUSED int store_open(const char *path, store_t **out, gs_err_t *err);

/* Closes the store. Accepts NULL. */
void store_close(store_t *st);

/* Transaction control: BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
GS_WARN_UNUSED int store_begin(store_t *st, gs_err_t *err);
GS_WARN_UNUSED int store_commit(store_t *st, gs_err_t *err);
void store_rollback(store_t *st);

/* Returns an owned array of every zone id in `*ids`. */
GS_WARN_UNUSED int store_zone_ids(store_t *st, int64_t **ids, size_t *n, gs_err_t *err);

/* One stored record and one metadata value, as stored: nothing about them
 * is checked here (zone_load checks each row again as on write). */
typedef struct {
    const char *name, *type, *content;
    int64_t ttl;
} store_row_t;
typedef struct {
    const char *kind, *value;
} store_meta_row_t;

/* One DNSSEC key of a zone, as pdns's KeyData: DNSKEY flags (256 ZSK, 257
 * KSK), whether it signs (active) and is in the DNSKEY set (published),
 * and its private key in BIND's text form (never logged). */
typedef struct {
    int64_t id;
    unsigned flags;
    bool active, published;
    const char *content;
} store_key_t;

/* The rows of one zone; every string lives in `text`. */
/* A zone's kind, as stored ("native", "primary", "secondary"). */
typedef enum { STORE_KIND_NATIVE, STORE_KIND_PRIMARY, STORE_KIND_SECONDARY } store_kind_t;

/* The stored name of `k`, and the kind named `s` (-1: none). */
const char *store_kind_name(store_kind_t k);
int store_kind_parse(const char *s);

typedef struct {
    const char *apex; /* the zone's stored name */
    store_kind_t kind;
    uint32_t notified_serial; /* the serial pdns last sent NOTIFYs for */
    const char *masters;      /* a secondary's primaries, space-separated ("" if none) */
    int64_t refreshed;        /* a secondary's last contact with a primary (setFresh), or 0 */
    store_row_t *rows;        /* in insertion order */
    size_t nrows;
    store_meta_row_t *meta; /* grouped by kind, values in insertion order */
    size_t nmeta;
    store_key_t *keys; /* oldest first */
    size_t nkeys;
    char *text;
} store_zone_rows_t;

/* Reads every record and metadata row of zone `id` into `out` (owned: free
 * with store_zone_rows_free). GS_ENOTFOUND if there is no such zone. */
GS_WARN_UNUSED int store_zone_rows(store_t *st, int64_t id, store_zone_rows_t *out, gs_err_t *err);
void store_zone_rows_free(store_zone_rows_t *r);

/* Looks up a zone id by canonical name; GS_ENOTFOUND if absent. */
GS_WARN_UNUSED int store_zone_find(store_t *st, const char *name, int64_t *id, gs_err_t *err);

/* Adds an empty zone; ids are never reused. GS_EEXIST if the name exists. */
GS_WARN_UNUSED int store_zone_insert(store_t *st, const char *name, int64_t *id, gs_err_t *err);

/* Sets zone `id`'s kind; GS_ENOTFOUND if there is no such zone. */
GS_WARN_UNUSED int store_zone_set_kind(store_t *st, int64_t id, store_kind_t kind, gs_err_t *err);

/* Sets a secondary zone's primaries (space-separated ADDR[:PORT], checked
 * by the caller). */
GS_WARN_UNUSED int store_zone_set_masters(store_t *st, int64_t id, const char *masters,
                                          gs_err_t *err);

/* Records when pdns last heard from zone `id`'s primary (seconds since the
 * epoch). */
GS_WARN_UNUSED int store_zone_set_refreshed(store_t *st, int64_t id, int64_t when, gs_err_t *err);

/* Records that pdns sent NOTIFYs for `serial` of zone `id`. */
GS_WARN_UNUSED int store_zone_set_notified(store_t *st, int64_t id, uint32_t serial, gs_err_t *err);

/* Raises the serial of zone `id`'s SOA record at `apex` by one (RFC 1982
 * arithmetic, skipping 0) when it is still `old`: the automatic increase
 * of a primary zone's commits that left the serial as it was. Sets *serial
 * to the SOA's serial afterwards (0 and no change when there is no single
 * SOA record at the apex, or its content is not an SOA's). */
GS_WARN_UNUSED int store_soa_bump(store_t *st, int64_t id, const char *apex, uint32_t old,
                                  uint32_t *serial, gs_err_t *err);

/* Removes a zone with its records and metadata. */
GS_WARN_UNUSED int store_zone_remove(store_t *st, int64_t id, gs_err_t *err);

/* Deletes the records of `name` of type `type` (every type if NULL). */
GS_WARN_UNUSED int store_rrset_delete(store_t *st, int64_t id, const char *name, const char *type,
                                      gs_err_t *err);

/* Deletes every record of the zone. */
GS_WARN_UNUSED int store_records_clear(store_t *st, int64_t id, gs_err_t *err);

/* Inserts one record. */
GS_WARN_UNUSED int store_record_insert(store_t *st, int64_t id, const char *name, const char *type,
                                       const char *content, uint32_t ttl, gs_err_t *err);

/* Replaces the values of metadata `kind` (n == 0 deletes it). */
GS_WARN_UNUSED int store_meta_replace(store_t *st, int64_t id, const char *kind,
                                      const char *const *values, size_t n, gs_err_t *err);

/* Checks the zone's cross-record rules, for `name` only or (NULL) the whole
 * zone: no CNAME beside other data or a second CNAME, exactly one SOA, at the
 * apex. Returns GS_ECONFLICT with the first violation in `err`. */
GS_WARN_UNUSED int store_check(store_t *st, int64_t id, const char *apex, const char *name,
                               gs_err_t *err);

/* Operator overrides (schema version 2): `state` is "drain", "force-up" or
 * "force-down", `until` seconds since the epoch or 0 for no expiry. Set
 * replaces any override on the endpoint; clear returns GS_ENOTFOUND if there
 * was none. */
GS_WARN_UNUSED int store_override_set(store_t *st, const char *endpoint, const char *state,
                                      int64_t until, gs_err_t *err);
GS_WARN_UNUSED int store_override_clear(store_t *st, const char *endpoint, gs_err_t *err);

/* Calls `fn` for every stored override (expired ones included). */
typedef void (*store_override_fn)(void *ctx, const char *endpoint, const char *state,
                                  int64_t until);
GS_WARN_UNUSED int store_overrides_each(store_t *st, store_override_fn fn, void *ctx,
                                        gs_err_t *err);

/* Autoprimaries (schema version 4): a NOTIFY for an unknown zone from `ip`
 * whose NS set names `nameserver` creates a secondary zone (pdns's
 * superMasterBackend). Add replaces an entry with the same ip and
 * nameserver; remove returns GS_ENOTFOUND if there was none. */
GS_WARN_UNUSED int store_autoprimary_add(store_t *st, const char *ip, const char *nameserver,
                                         const char *account, gs_err_t *err);
GS_WARN_UNUSED int store_autoprimary_remove(store_t *st, const char *ip, const char *nameserver,
                                            gs_err_t *err);
typedef void (*store_autoprimary_fn)(void *ctx, const char *ip, const char *nameserver,
                                     const char *account);
GS_WARN_UNUSED int store_autoprimaries_each(store_t *st, store_autoprimary_fn fn, void *ctx,
                                            gs_err_t *err);

/* TSIG keys (schema version 4), by name (canonical): set replaces a key of
 * the same name; delete returns GS_ENOTFOUND if there was none; each calls
 * `fn` for the key `name`, or every key when `name` is NULL. Secrets are
 * base64 text as pdns gives them. */
GS_WARN_UNUSED int store_tsig_set(store_t *st, const char *name, const char *algorithm,
                                  const char *secret, gs_err_t *err);
GS_WARN_UNUSED int store_tsig_delete(store_t *st, const char *name, gs_err_t *err);
typedef void (*store_tsig_fn)(void *ctx, const char *name, const char *algorithm,
                              const char *secret);
GS_WARN_UNUSED int store_tsig_each(store_t *st, const char *name, store_tsig_fn fn, void *ctx,
                                   gs_err_t *err);

/* DNSSEC keys of zone `zone_id`: add one (its new id in *id), set its
 * `field` ("active" or "published"), or remove it. GS_ENOTFOUND when the
 * zone has no key `key_id`. */
GS_WARN_UNUSED int store_key_add(store_t *st, int64_t zone_id, const store_key_t *k, int64_t *id,
                                 gs_err_t *err);
GS_WARN_UNUSED int store_key_set(store_t *st, int64_t zone_id, int64_t key_id, const char *field,
                                 bool value, gs_err_t *err);
GS_WARN_UNUSED int store_key_remove(store_t *st, int64_t zone_id, int64_t key_id, gs_err_t *err);

#endif
