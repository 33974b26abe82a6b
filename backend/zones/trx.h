/* A pdnsutil transaction: the record changes one connection sends between
 * startTransaction and commitTransaction, kept in memory until the commit
 * applies them to the store and the served snapshot in one step. Owned by
 * its connection (pdns keys nothing else: trxid is a timestamp, not unique).
 * A transaction is "poisoned" by the first refused write; its commit is then
 * refused whole, so a zone is never left half-changed. A poisoned
 * transaction keeps no pending changes (nothing of it can be committed).
 *
 * Size limits (all refusals poison): one transaction holds at most
 * TRX_MAX_RECORDS records and TRX_MAX_BYTES accounted bytes; the open
 * transactions of all connections together at most TRX_TOTAL_BYTES. A record
 * is accounted as its name and content plus TRX_REC_COST, the bookkeeping
 * measured per pending record (so the bytes follow the memory held: 1,000,000
 * fed A records cost 149 bytes each in RSS, 30 of them name and content). */
#ifndef GS_ZONES_TRX_H
#define GS_ZONES_TRX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/dns/rr.h"
#include "backend/steering/luac.h"
#include "common/err.h"
#include "common/compiler.h"

#define TRX_MAX_RECORDS 1000000
#define TRX_MAX_BYTES ((size_t)256 << 20)
#define TRX_TOTAL_BYTES ((size_t)512 << 20)
#define TRX_REC_COST 120

typedef struct {
    const rr_type_t *type;
    char *content; /* normalised */
    uint32_t ttl;
    luac_prog_t *prog; /* a LUA record's program (zone_rec_prepare), owned; else NULL */
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
    char *poison;          /* owned reason of the first refused write, or NULL */
    bool fed_soa;          /* a fed record was the zone's SOA: a transfer's serial */
    uint32_t fed_serial;   /* its serial, kept when a refusal drops the ops */
    size_t dropped_dnssec; /* fed RRSIG, NSEC, DNSKEY... left out (pdns signs live) */
    trx_op_t *ops;
    size_t nops, cap;
    size_t records; /* accounted: records, or 1 for an op without any */
    size_t bytes;   /* accounted bytes of the pending ops */
    /* Index of the ops by name (trx_next_on): per bucket the first and last
     * op, per op the next one of its bucket, in arrival order. */
    uint32_t *head, *tail, *next;
    size_t nbuckets; /* a power of two, at least nops */
} trx_t;

/* Starts a transaction on `zone_id`, dropping any previous one. */
void trx_begin(trx_t *t, int64_t zone_id, int64_t trxid, bool replace_all);

/* Appends an operation, taking over its strings and records. An op that
 * would take the transaction (or all open transactions) over a size limit
 * is refused: GS_ETOOBIG with the reason in `err`; the caller poisons the
 * transaction (trx_poison, with the reason as it reports it). On a poisoned
 * transaction the op is accepted and dropped (returns 0). `op` is left
 * empty in every case. */
GS_WARN_UNUSED int trx_add_take(trx_t *t, trx_op_t *op, gs_err_t *err);

/* Returns the index in t->ops of the next pending op on `name` (canonical)
 * after op `i`, or with i == SIZE_MAX the first; SIZE_MAX when there is no
 * more. Ops come in the order they were added. */
size_t trx_next_on(const trx_t *t, const char *name, size_t i);

/* Records the first refusal reason (copied) unless one is already set, and
 * drops the pending changes. */
void trx_poison(trx_t *t, const char *reason);

/* Frees an op's strings, records and programs and empties it. */
void trx_op_free(trx_op_t *op);

/* Drops all pending changes and ends the transaction. */
void trx_clear(trx_t *t);

/* Bytes accounted to the open transactions of every connection. */
size_t trx_total_bytes(void);

/* Replaces the limits (0: the default) for the transactions that follow;
 * for tests, before any transaction is open. */
void trx_set_limits(size_t max_records, size_t max_bytes, size_t total_bytes);

#endif
