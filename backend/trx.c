#include "backend/trx.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

void trx_begin(trx_t *t, int64_t zone_id, int64_t trxid, bool replace_all)
{
    trx_clear(t);
    t->active = true;
    t->zone_id = zone_id;
    t->trxid = trxid;
    t->replace_all = replace_all;
}

void trx_add_take(trx_t *t, trx_op_t *op)
{
    if (t->nops == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->ops = mem_realloc_n(t->ops, t->cap, sizeof(*t->ops));
    }
    t->ops[t->nops++] = *op;
    memset(op, 0, sizeof(*op));
}

void trx_poison(trx_t *t, const char *reason)
{
    if (!t->poison)
        t->poison = mem_strdup(reason);
}

void trx_clear(trx_t *t)
{
    for (size_t i = 0; i < t->nops; i++) {
        trx_op_t *op = &t->ops[i];
        for (size_t k = 0; k < op->nrecs; k++)
            free(op->recs[k].content);
        free(op->recs);
        free(op->name);
    }
    free(t->ops);
    free(t->poison);
    memset(t, 0, sizeof(*t));
}
