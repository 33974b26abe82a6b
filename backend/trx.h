/* A pdnsutil transaction: the record changes one connection sends between
 * startTransaction and commitTransaction, kept in memory until the commit
 * applies them to the store and the served snapshot in one step. Owned by
 * its connection (pdns keys nothing else: trxid is a timestamp, not unique).
 * A transaction is "poisoned" by the first refused write; its commit is then
 * refused whole, so a zone is never left half-changed. */
#ifndef GS_BACKEND_TRX_H
#define GS_BACKEND_TRX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/rr.h"

typedef struct {
    const rr_type_t *type;
    char *content; /* normalised */
    uint32_t ttl;
} trx_rec_t;

typedef struct {
    bool feed;  /* feedRecord: add one record; else replaceRRSet */
    char *name; /* canonical */
    const rr_type_t *type;
    trx_rec_t *recs;
    size_t nrecs;
} trx_op_t;

typedef struct {
    bool active;
    bool replace_all; /* startTransaction with a real domain_id: load-zone */
    int64_t zone_id;
    int64_t trxid;
    char *poison; /* owned reason of the first refused write, or NULL */
    trx_op_t *ops;
    size_t nops, cap;
} trx_t;

/* Starts a transaction on `zone_id`, dropping any previous one. */
void trx_begin(trx_t *t, int64_t zone_id, int64_t trxid, bool replace_all);

/* Appends an operation; takes over its strings and records. */
void trx_add_take(trx_t *t, trx_op_t *op);

/* Records the first refusal reason (copied) unless one is already set. */
void trx_poison(trx_t *t, const char *reason);

/* Drops all pending changes and ends the transaction. */
void trx_clear(trx_t *t);

#endif
