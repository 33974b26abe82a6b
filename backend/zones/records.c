#include "backend/zones/records.h"

#include <stdlib.h>
#include <string.h>

#include "backend/dns/dname.h"
#include "common/mem.h"

int zone_rec_prepare(const rr_type_t *type, const char *content, buf_t *norm, luac_prog_t **prog,
                     gs_err_t *err)
{
    *prog = NULL;
    size_t mark = norm->len;
    int rc = rr_normalize(type, content, norm, err);
    if (rc == 0 && type->kind == RR_KIND_LUA) {
        /* compiled from the normal form, which is what is stored */
        rc = luac_compile(norm->data + mark, prog, err);
    }
    return rc;
}

/* Checks one stored row and appends its zone input (strings borrowed from
 * `rows`, except the canonical name and normal content kept in `text` by
 * offset). Returns 0 or GS_EINVAL with the reason in `err`. */
static int load_row(const store_row_t *row, const char *apex, size_t apex_len, zone_prog_fn reuse,
                    void *ctx, buf_t *text, size_t offs[2], zone_input_rec_t *in, gs_err_t *err)
{
    char canon[DNAME_MAXTEXT + 1];
    size_t nlen = strlen(row->name);
    int cl = nlen <= DNAME_MAXTEXT ? dname_canon(row->name, nlen, false, canon, err)
                                   : gs_err_set(err, GS_EINVAL, "name too long");
    if (cl < 0)
        return GS_EINVAL;
    if (!dname_in_zone(canon, (size_t)cl, apex, apex_len))
        return gs_err_set(err, GS_EINVAL, "not in the zone");
    const rr_type_t *t = rr_type_find(row->type, strlen(row->type));
    if (!t)
        return gs_err_set(err, GS_EINVAL, "unknown type");
    if (row->ttl < 0 || row->ttl > UINT32_MAX)
        return gs_err_set(err, GS_EINVAL, "ttl out of range");
    offs[0] = text->len;
    buf_put(text, canon, (size_t)cl + 1);
    offs[1] = text->len;
    const luac_prog_t *prog = NULL;
    if (t->kind == RR_KIND_LUA && reuse)
        prog = reuse(ctx, canon, row->content);
    luac_prog_t *fresh = NULL;
    if (prog) {
        /* Compiled by the write that stored it: the same normal content. */
        buf_put(text, row->content, strlen(row->content));
        in->prog = luac_ref(prog);
    } else {
        if (zone_rec_prepare(t, row->content, text, &fresh, err) != 0) {
            text->len = offs[0];
            return GS_EINVAL;
        }
        in->prog = fresh;
    }
    buf_put(text, "", 1);
    in->type = t;
    in->ttl = (uint32_t)row->ttl;
    return 0;
}

int zone_load(store_t *st, int64_t id, zone_prog_fn reuse, void *ctx, zone_t **out, size_t *skipped,
              gs_err_t *err)
{
    *skipped = 0;
    store_zone_rows_t rows;
    int rc = store_zone_rows(st, id, &rows, err);
    if (rc)
        return rc;
    char apex[DNAME_MAXTEXT + 1];
    size_t apex_len = strlen(rows.apex);
    if (apex_len > DNAME_MAXTEXT || dname_canon(rows.apex, apex_len, false, apex, NULL) < 0 ||
        strcmp(apex, rows.apex) != 0) {
        rc =
            gs_err_set(err, GS_EINVAL, "zone id %lld: stored name '%.255s' is not a canonical name",
                       (long long)id, rows.apex);
        store_zone_rows_free(&rows);
        return rc;
    }

    /* Records: names and normal content live in one buffer; the pointers are
     * set once it stops moving. */
    buf_t text;
    buf_init(&text);
    zone_input_rec_t *recs = mem_calloc(rows.nrows ? rows.nrows : 1, sizeof(*recs));
    size_t *offs = mem_calloc(rows.nrows ? rows.nrows * 2 : 1, sizeof(*offs));
    size_t n = 0;
    for (size_t i = 0; i < rows.nrows; i++) {
        const store_row_t *row = &rows.rows[i];
        gs_err_t e;
        if (load_row(row, apex, apex_len, reuse, ctx, &text, &offs[2 * n], &recs[n], &e) == 0)
            n++;
        else if ((*skipped)++ == 0)
            gs_err_set(err, GS_EINVAL, "zone %s: stored record '%s %s %s' is invalid: %s", apex,
                       row->name, row->type, row->content, e.text);
    }
    for (size_t i = 0; i < n; i++) {
        recs[i].name = text.data + offs[2 * i];
        recs[i].content = text.data + offs[2 * i + 1];
    }

    /* Metadata: the rows come grouped by kind; values must be UTF-8 (they
     * are sent to pdns as JSON strings). */
    zone_input_meta_t *meta = mem_calloc(rows.nmeta ? rows.nmeta : 1, sizeof(*meta));
    const char **vals = mem_calloc(rows.nmeta ? rows.nmeta : 1, sizeof(*vals));
    size_t nmeta = 0, nvals = 0;
    for (size_t i = 0; i < rows.nmeta; i++) {
        const store_meta_row_t *m = &rows.meta[i];
        if (!*m->kind || !buf_utf8_valid(m->kind, strlen(m->kind)) ||
            !buf_utf8_valid(m->value, strlen(m->value))) {
            if ((*skipped)++ == 0)
                gs_err_set(err, GS_EINVAL, "zone %s: stored metadata of kind '%.64s' is not UTF-8",
                           apex, m->kind);
            continue;
        }
        if (nmeta == 0 || strcmp(meta[nmeta - 1].kind, m->kind) != 0)
            meta[nmeta++] = (zone_input_meta_t){m->kind, &vals[nvals], 0};
        vals[nvals++] = m->value;
        meta[nmeta - 1].nvalues++;
    }

    *out = zone_build(id, apex, recs, n, meta, nmeta);
    for (size_t i = 0; i < n; i++)
        luac_free((luac_prog_t *)(uintptr_t)recs[i].prog); /* the image holds its own */
    free(meta);
    free(vals);
    free(recs);
    free(offs);
    buf_free(&text);
    store_zone_rows_free(&rows);
    return 0;
}
