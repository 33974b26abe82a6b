/* Answering a lookup: the one code path that turns pdns's question (name,
 * type, zone id, client addresses) into records from the pinned snapshot,
 * applying the steering engine and the client subnet, with each record's
 * scope. It writes the answer in the form of the interface that asked: the
 * remote backend's JSON reply (rb.c) or the pipe backend's DATA lines
 * (pipe.c), so both interfaces answer every question alike.
 *
 * One lk_ctx_t per client connection, used by one thread at a time. */
#ifndef GS_PROTOCOL_LOOKUP_H
#define GS_PROTOCOL_LOOKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/steering/luaeval.h"
#include "backend/steering/steer_stats.h"
#include "backend/zones/snap.h"
#include "common/buf.h"
#include "common/metrics.h"

/* A lookup request: pointers into the request line or the parsed JSON.
 * `real_remote` is the client subnet pdns passes ("a.b.c.0/24", or the
 * remote as a /32 or /128 without ECS, "0.0.0.0/0" for internal lookups). */
typedef struct {
    const char *qname, *qtype, *remote, *real_remote;
    size_t qlen, qtlen, remote_len, real_remote_len;
    int64_t zone_id; /* -1: find the zone from the name */
} lookup_req_t;

typedef enum {
    LK_JSON, /* {"result":[{...},...]}\n, or {"result":false}\n when empty */
    LK_PIPE, /* DATA\tscope\tauth\tqname\tIN\ttype\tttl\tid\tcontent\n ... END\n */
} lk_format_t;

/* Per-connection state of the lookup path. `snap` is the snapshot the
 * request being answered reads: the caller pins it before lk_answer and
 * unpins it after the reply is written. */
typedef struct {
    snap_slot_t *slot;
    const snap_t *snap;
    uint64_t rnd;             /* xorshift state for random policies */
    metrics_shard_t *sh;      /* this connection's counters */
    steer_cont_cache_t *cont; /* continents of recent clients, allocated when needed */
    bool counting;            /* stats_enabled, read once per request */
    /* Results of a pipe ANY answer held until it is known to be sent
     * (lookup.c, dyn_reply); allocated when first needed. */
    luae_result_t *held;
    /* The client of the last lookup in a signed zone. pdns asks for an NSEC or
     * NSEC3 type bitmap with a lookup of its own (no client), right after
     * the client's lookups on the same connection: a dynamic name is then
     * answered for that client (lookup.c, lk_answer). */
    char last_remote[48], last_real[56];
    uint8_t last_remote_len, last_real_len;
} lk_ctx_t;

/* Sets up `c`; false when the reader limit (SNAP_MAX_READERS) is reached. */
bool lk_ctx_init(lk_ctx_t *c);

/* Releases what lk_ctx_init took. */
void lk_ctx_fini(lk_ctx_t *c);

/* Replaces `out` with the answer to `r` from c->snap in format `f`. Returns
 * the number of records written (0: the reply says "nothing"). */
size_t lk_answer(lk_ctx_t *c, const lookup_req_t *r, lk_format_t f, buf_t *out);

/* Appends one record in format `f`: for LK_JSON a JSON object (the caller
 * writes the separating commas), for LK_PIPE one DATA line. `name` is the
 * owner (canonical, absolute), `type` the type's name ("ENT" for an empty
 * non-terminal, with empty content). */
void lk_put_rec(buf_t *out, lk_format_t f, int64_t zone_id, const char *name, size_t name_len,
                const char *type, const char *content, uint32_t ttl, bool auth, uint8_t scope);

#endif
