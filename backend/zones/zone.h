/* Immutable in-memory image of one zone: its names, records, metadata and the
 * lookup replies, prebuilt as the exact JSON bytes sent to pdns. Built once
 * (by the writer, from the zone store) and then only read, concurrently, by
 * every connection thread; nothing in it changes after zone_build returns.
 * Lifetime is managed by the snapshot module through `refs`. */
#ifndef GS_ZONES_ZONE_H
#define GS_ZONES_ZONE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/dns/nsec.h"
#include "backend/dns/rr.h"
#include "backend/zones/store.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/htab.h"

/* One record as the builder receives it (all borrowed). `name` is
 * canonical (lowercase, trailing dot), `content` normalised by rr_normalize;
 * a LUA record carries its compiled program (zone_rec_prepare), of which
 * the image takes a reference. */
typedef struct {
    const char *name;
    const rr_type_t *type;
    const char *content;
    uint32_t ttl;
    const struct luac_prog *prog;
} zone_input_rec_t;

/* One metadata item as the builder receives it: a kind and its ordered values. */
typedef struct {
    const char *kind;
    const char *const *values;
    size_t nvalues;
} zone_input_meta_t;

typedef struct {
    const rr_type_t *type;
    const char *content;
    uint32_t ttl;
    bool auth; /* false for delegation NS, glue and occluded data */
    /* LUA records (steer('policy') included): the compiled program, one
     * reference held by the zone, and the type it answers; NULL for every
     * other record. */
    const rr_type_t *dyn_type;
    const struct luac_prog *prog;
} zone_rec_t;

/* A prebuilt reply to a lookup: `{"result":[...]}` without a newline. */
typedef struct {
    const rr_type_t *type; /* NULL for the ANY reply */
    const char *json;
    uint32_t len;
} zone_reply_t;

typedef struct {
    const char *name; /* canonical */
    uint32_t name_len;
    uint32_t hash;
    uint32_t nrecs; /* 0 for an empty non-terminal */
    uint32_t nreplies;
    bool dynamic; /* holds LUA records (steer() included): answered per client, not prebuilt */
    zone_rec_t *recs;
    zone_reply_t *replies; /* [0] is ANY, then one per type present */
} zone_node_t;

typedef struct {
    const char *kind;
    const char **values;
    size_t nvalues;
} zone_meta_t;

/* Denial of existence for a signed zone (doc/dnssec.md). The NSEC chain:
 * nodes in canonical DNS order, each with its wire name. The NSEC3 chain:
 * hashed owner names in order. Both hold indexes into `nodes`. */
typedef struct {
    const uint8_t *wire;
    uint32_t wlen;
    uint32_t node;
} zone_nsec_t;
typedef struct {
    uint8_t hash[NSEC3_HASH_LEN];
    uint32_t node;
} zone_nsec3_t;

typedef struct zone {
    int64_t id;
    const char *name; /* canonical apex */
    uint32_t name_len;
    uint32_t serial; /* from the apex SOA, 0 if there is none */
    int kind;        /* store_kind_t: native, primary, secondary */
    /* The serial pdns last sent NOTIFYs for. Like `refreshed` below, set in
     * a published image (setNotified, state.c) and read atomically. */
    _Atomic uint32_t notified_serial;
    uint32_t refresh, expire; /* from the apex SOA, 0 if there is none */
    const char *masters;      /* a secondary's primaries, space-separated, or "" */
    /* A secondary's last contact with its primary (seconds since the epoch,
     * 0: never): the one field that changes in a published image, written
     * by setFresh (state.c) and read by lookups, both atomically. */
    _Atomic int64_t refreshed;
    size_t nrecords;    /* stored records, ENTs not counted */
    zone_node_t *nodes; /* sorted by canonical name; ENT nodes included */
    size_t nnodes;
    htab_t index; /* nodes by name hash */
    zone_meta_t *meta;
    size_t nmeta;
    /* DNSSEC (zone_set_keys): the keys, oldest first, and for a zone with
     * at least one key the chain its denials are answered from: NSEC, or
     * NSEC3 when NSEC3PARAM is set and NSEC3NARROW is not "1" (narrow
     * NSEC3 needs no chain: pdns hashes by itself). */
    store_key_t *keys;
    size_t nkeys;
    zone_nsec_t *nsec;
    size_t nnsec;
    zone_nsec3_t *nsec3;
    size_t nnsec3;
    bool use_nsec3;    /* NSEC3 non-narrow: answer from nsec3 */
    bool nsec3_narrow; /* NSEC3 narrow: pdns needs no chain */
    arena_t *arena;
    struct luac_prog **progs; /* the LUA programs the zone holds a reference to */
    size_t nprogs;
    int refs; /* owned by the snapshot writer; see snap.h */
} zone_t;

/* Builds the image of zone `id` named `apex` (canonical) from `recs` (any
 * order) and `meta`. Returns an owned zone with refs 0. Never fails: inputs
 * were validated when they were written. A LUA record without a program is
 * kept (listed) but answers nothing. Cost: O(n log n) in records. */
zone_t *zone_build(int64_t id, const char *apex, const zone_input_rec_t *recs, size_t nrecs,
                   const zone_input_meta_t *meta, size_t nmeta);

/* Gives a freshly built zone (not yet published) its DNSSEC keys and, when
 * it has any, the chain for its denials, per its NSEC3PARAM and
 * NSEC3NARROW metadata (an unparsable NSEC3PARAM is treated as absent:
 * state.c refuses one on write). Cost: O(n log n) in names, plus one NSEC3
 * hash per name for NSEC3. */
void zone_set_keys(zone_t *z, const store_key_t *keys, size_t nkeys);

/* How a signed zone denies: "nsec", "nsec3" or "nsec3-narrow"; NULL for a
 * zone without keys. Sets *active to the number of active keys. */
const char *zone_dnssec_mode(const zone_t *z, size_t *active);

/* getBeforeAndAfterNamesAbsolute for zone `z`: `q` is what pdns sends
 * (for NSEC a name relative to the apex, "." for the apex itself; for
 * NSEC3 the 32-character base32hex hash). Finds the last chain entry at or
 * before it and the first after it, wrapping around the chain's ends, and
 * returns their nodes in *before / *after, or false for an unsigned zone
 * or a `q` of the wrong form. */
bool zone_denial_neighbours(const zone_t *z, const char *q, size_t qlen, const zone_node_t **before,
                            const zone_node_t **after, const uint8_t **before_hash,
                            const uint8_t **after_hash);

/* Releases a zone. Accepts NULL. */
void zone_free(zone_t *z);

/* Finds the node for canonical `name` (`len` bytes, hash from dname_hash or
 * dname_lower_hash). Returns a borrowed node or NULL. Lock-free, O(1). */
const zone_node_t *zone_find(const zone_t *z, const char *name, size_t len, uint32_t hash);

/* Returns the prebuilt reply of `node` for `qtype` (NULL or "ANY" for all
 * types), or NULL when the node has no records of that type. */
const zone_reply_t *zone_node_reply(const zone_node_t *node, const char *qtype, size_t qtype_len);

/* Appends one record object, as lookup and list return it, to `out`. */
void zone_rec_json(buf_t *out, const zone_t *z, const zone_node_t *node, const zone_rec_t *rec);

/* Returns the metadata values of `kind` (exact match), or NULL. */
const zone_meta_t *zone_meta_find(const zone_t *z, const char *kind);

#endif
