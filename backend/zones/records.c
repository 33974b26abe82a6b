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

/* Keeps `s` (`len` bytes) for a zone input: borrowed from the stored row
 * when it is already in normal form, which is the rule (every write was
 * normalised), else copied to `text` by offset. Returns the offset, or
 * LOAD_BORROWED after setting *field. */
#define LOAD_BORROWED SIZE_MAX
static size_t keep_str(const char *row_s, const char *s, size_t len, buf_t *text,
                       const char **field)
{
    if (strlen(row_s) == len && memcmp(row_s, s, len) == 0) {
        *field = row_s;
        return LOAD_BORROWED;
    }
    size_t off = text->len;
    buf_put(text, s, len);
    buf_put(text, "", 1);
    return off;
}

/* Checks one stored row as a write is checked and fills its zone input.
 * Strings are the row's own unless checking changed them (a name that was
 * not canonical, content that was not in normal form); those go to `text`
 * and their offsets to `offs` (LOAD_BORROWED otherwise). `norm` is scratch.
 * Returns 0 or GS_EINVAL with the reason in `err`. */
static int load_row(const store_row_t *row, const char *apex, size_t apex_len, zone_prog_fn reuse,
                    void *ctx, buf_t *text, buf_t *norm, size_t offs[2], zone_input_rec_t *in,
                    gs_err_t *err)
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
    const luac_prog_t *prog = NULL;
    if (t->kind == RR_KIND_LUA && reuse)
        prog = reuse(ctx, canon, row->content);
    buf_reset(norm);
    if (prog) {
        /* Compiled by the write that stored it: the same normal content. */
        buf_puts(norm, row->content);
        in->prog = luac_ref(prog);
    } else {
        luac_prog_t *fresh;
        if (zone_rec_prepare(t, row->content, norm, &fresh, err) != 0)
            return GS_EINVAL;
        in->prog = fresh;
    }
    offs[0] = keep_str(row->name, canon, (size_t)cl, text, &in->name);
    offs[1] = keep_str(row->content, norm->data, norm->len, text, &in->content);
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

    /* Records: strings borrowed from the rows, or (when checking changed
     * them) kept in one buffer whose pointers are set once it stops moving. */
    buf_t text, norm;
    buf_init(&text);
    buf_init(&norm);
    zone_input_rec_t *recs = mem_calloc(rows.nrows ? rows.nrows : 1, sizeof(*recs));
    size_t *offs = mem_calloc(rows.nrows ? rows.nrows * 2 : 1, sizeof(*offs));
    size_t n = 0;
    for (size_t i = 0; i < rows.nrows; i++) {
        const store_row_t *row = &rows.rows[i];
        gs_err_t e;
        if (load_row(row, apex, apex_len, reuse, ctx, &text, &norm, &offs[2 * n], &recs[n], &e) ==
            0)
            n++;
        else if ((*skipped)++ == 0)
            gs_err_set(err, GS_EINVAL, "zone %s: stored record '%s %s %s' is invalid: %s", apex,
                       row->name, row->type, row->content, e.text);
    }
    buf_free(&norm);
    for (size_t i = 0; i < n; i++) {
        if (offs[2 * i] != LOAD_BORROWED)
            recs[i].name = text.data + offs[2 * i];
        if (offs[2 * i + 1] != LOAD_BORROWED)
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
    (*out)->kind = (int)rows.kind;
    atomic_store(&(*out)->notified_serial, rows.notified_serial);
    (*out)->masters = arena_strndup((*out)->arena, rows.masters, strlen(rows.masters));
    atomic_store(&(*out)->refreshed, rows.refreshed);
    zone_set_keys(*out, rows.keys, rows.nkeys);
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
