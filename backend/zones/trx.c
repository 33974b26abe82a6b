#include "backend/zones/trx.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/mem.h"

/* Transactions holding this much are trimmed from the heap when dropped. */
#define TRIM_BYTES ((size_t)1 << 20)

/* Accounted bytes of every open transaction (all connections). */
static _Atomic size_t total_bytes;

/* The limits in force (trx_set_limits); set before serving. */
static size_t max_records = TRX_MAX_RECORDS, max_bytes = TRX_MAX_BYTES, max_total = TRX_TOTAL_BYTES;

void trx_set_limits(size_t records, size_t bytes, size_t total)
{
    max_records = records ? records : TRX_MAX_RECORDS;
    max_bytes = bytes ? bytes : TRX_MAX_BYTES;
    max_total = total ? total : TRX_TOTAL_BYTES;
}

static size_t op_records(const trx_op_t *op)
{
    return op->nrecs ? op->nrecs : 1;
}

static size_t op_bytes(const trx_op_t *op)
{
    size_t n = strlen(op->name) + 1 + TRX_REC_COST * op_records(op);
    for (size_t k = 0; k < op->nrecs; k++)
        n += strlen(op->recs[k].content) + 1;
    return n;
}

#define NONE UINT32_MAX

static uint32_t name_hash(const char *s)
{
    return gs_fnv32(s, strlen(s));
}

/* The pending ops by name. Not common/htab.h: a name has any number of
 * ops, which trx_next_on must return in arrival order while ops keep
 * arriving, so each bucket is a chain with a tail (appending stays O(1))
 * and the chains are rebuilt when the buckets double. */

/* Appends op `k` to the chain of its bucket. */
static void index_add(trx_t *t, size_t k)
{
    size_t b = name_hash(t->ops[k].name) & (t->nbuckets - 1);
    t->next[k] = NONE;
    if (t->head[b] == NONE)
        t->head[b] = (uint32_t)k;
    else
        t->next[t->tail[b]] = (uint32_t)k;
    t->tail[b] = (uint32_t)k;
}

/* Makes room in the index for op `k` (the next one): the buckets grow with
 * the ops and every chain is rebuilt in arrival order. */
static void index_grow(trx_t *t, size_t k)
{
    if (k < t->nbuckets)
        return;
    t->nbuckets = t->nbuckets ? t->nbuckets * 2 : 64;
    free(t->head);
    free(t->tail);
    t->head = mem_alloc(t->nbuckets * sizeof(*t->head));
    t->tail = mem_alloc(t->nbuckets * sizeof(*t->tail));
    memset(t->head, 0xff, t->nbuckets * sizeof(*t->head));
    t->next = mem_realloc_n(t->next, t->nbuckets, sizeof(*t->next));
    for (size_t i = 0; i < k; i++)
        index_add(t, i);
}

size_t trx_next_on(const trx_t *t, const char *name, size_t i)
{
    if (!t->nops)
        return SIZE_MAX;
    uint32_t j = i == SIZE_MAX ? t->head[name_hash(name) & (t->nbuckets - 1)] : t->next[i];
    while (j != NONE && strcmp(t->ops[j].name, name) != 0)
        j = t->next[j];
    return j == NONE ? SIZE_MAX : j;
}

void trx_op_free(trx_op_t *op)
{
    for (size_t k = 0; k < op->nrecs; k++) {
        free(op->recs[k].content);
        luac_free(op->recs[k].prog);
    }
    free(op->recs);
    free(op->name);
    memset(op, 0, sizeof(*op));
}

/* Frees the pending ops and returns their bytes to the shared budget. */
static void drop_ops(trx_t *t)
{
    for (size_t i = 0; i < t->nops; i++)
        trx_op_free(&t->ops[i]);
    free(t->ops);
    free(t->head);
    free(t->tail);
    free(t->next);
    t->ops = NULL;
    t->head = t->tail = t->next = NULL;
    t->nops = t->cap = t->nbuckets = 0;
    atomic_fetch_sub(&total_bytes, t->bytes);
    /* glibc keeps what a thread freed in its arena; a big transaction's
     * memory goes back to the system at once. */
    if (t->bytes >= TRIM_BYTES)
        malloc_trim(0);
    t->bytes = t->records = 0;
}

void trx_begin(trx_t *t, int64_t zone_id, int64_t trxid, bool replace_all)
{
    trx_clear(t);
    t->active = true;
    t->zone_id = zone_id;
    t->trxid = trxid;
    t->replace_all = replace_all;
}

int trx_add_take(trx_t *t, trx_op_t *op, gs_err_t *err)
{
    if (t->poison) {
        trx_op_free(op);
        return 0;
    }
    size_t recs = op_records(op), bytes = op_bytes(op);
    gs_err_t e;
    int rc = 0;
    if (t->records + recs > max_records) {
        rc = gs_err_set(&e, GS_ETOOBIG,
                        "transaction too large: over %zu records (the limit per transaction)",
                        max_records);
    } else if (t->bytes + bytes > max_bytes) {
        rc = gs_err_set(&e, GS_ETOOBIG,
                        "transaction too large: over %zu bytes of records (the limit per "
                        "transaction)",
                        max_bytes);
    } else if (atomic_fetch_add(&total_bytes, bytes) + bytes > max_total) {
        atomic_fetch_sub(&total_bytes, bytes);
        rc = gs_err_set(&e, GS_ETOOBIG,
                        "transactions too large: the open transactions of all connections "
                        "would hold over %zu bytes of records",
                        max_total);
    }
    if (rc) {
        trx_op_free(op);
        if (err)
            *err = e;
        return rc;
    }
    t->records += recs;
    t->bytes += bytes;
    if (t->nops == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->ops = mem_realloc_n(t->ops, t->cap, sizeof(*t->ops));
    }
    index_grow(t, t->nops);
    t->ops[t->nops] = *op;
    index_add(t, t->nops++);
    memset(op, 0, sizeof(*op));
    return 0;
}

void trx_poison(trx_t *t, const char *reason)
{
    if (!t->poison)
        t->poison = mem_strdup(reason);
    drop_ops(t);
}

void trx_clear(trx_t *t)
{
    drop_ops(t);
    free(t->poison);
    memset(t, 0, sizeof(*t));
}

size_t trx_total_bytes(void)
{
    return atomic_load(&total_bytes);
}
