#include "backend/zones/zone.h"

#include <stdlib.h>
#include <string.h>

#include "backend/dns/dname.h"
#include "backend/dns/nsec.h"
#include "backend/steering/luac.h"
#include "common/mem.h"

/* A name that appears in the zone: as an owner (`real`) or only as an
 * ancestor of one between it and the apex (an empty non-terminal). */
typedef struct {
    const char *name;
    size_t len;
    bool real;
} name_ent_t;

static int cmp_name_ent(const void *a, const void *b)
{
    const name_ent_t *x = a, *y = b;
    return strcmp(x->name, y->name);
}

typedef struct {
    const zone_input_rec_t *rec;
    size_t order;
} rec_ref_t;

static int cmp_rec_ref(const void *a, const void *b)
{
    const rec_ref_t *x = a, *y = b;
    int c = strcmp(x->rec->name, y->rec->name);
    if (c)
        return c;
    if (x->rec->type->code != y->rec->type->code)
        return x->rec->type->code < y->rec->type->code ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

const zone_node_t *zone_find(const zone_t *z, const char *name, size_t len, uint32_t hash)
{
    uint32_t i;
    for (size_t k = htab_start(&z->index, hash); (i = htab_next(&z->index, &k)) != HTAB_END;) {
        const zone_node_t *n = &z->nodes[i];
        if (n->hash == hash && n->name_len == len && memcmp(n->name, name, len) == 0)
            return n;
    }
    return NULL;
}

void zone_rec_json(buf_t *out, const zone_t *z, const zone_node_t *node, const zone_rec_t *rec)
{
    buf_puts(out, "{\"qtype\":\"");
    buf_puts(out, rec ? rec->type->name : "ENT");
    buf_puts(out, "\",\"qname\":");
    buf_put_jstr(out, node->name, node->name_len);
    buf_puts(out, ",\"content\":");
    if (rec)
        buf_put_jstr(out, rec->content, strlen(rec->content));
    else
        buf_puts(out, "\"\"");
    buf_puts(out, ",\"ttl\":");
    buf_put_int(out, rec ? rec->ttl : 0);
    buf_puts(out, (!rec || rec->auth) ? ",\"auth\":1" : ",\"auth\":0");
    buf_puts(out, ",\"domain_id\":");
    buf_put_int(out, z->id);
    buf_puts(out, ",\"scopeMask\":0}");
}

static zone_reply_t make_reply(zone_t *z, zone_node_t *node, const rr_type_t *type, buf_t *tmp)
{
    buf_reset(tmp);
    buf_puts(tmp, "{\"result\":[");
    bool first = true;
    if (node->nrecs == 0) {
        zone_rec_json(tmp, z, node, NULL);
    } else {
        for (uint32_t i = 0; i < node->nrecs; i++) {
            const zone_rec_t *r = &node->recs[i];
            /* ANY never carries LUA records: they are programs, not answers. */
            if (type ? r->type != type : r->type->kind == RR_KIND_LUA)
                continue;
            if (!first)
                buf_putc(tmp, ',');
            zone_rec_json(tmp, z, node, r);
            first = false;
        }
    }
    buf_puts(tmp, "]}");
    zone_reply_t rep = {.type = type, .len = (uint32_t)tmp->len};
    rep.json = first && node->nrecs ? NULL : arena_strndup(z->arena, tmp->data, tmp->len);
    return rep;
}

static void build_replies(zone_t *z, zone_node_t *node, buf_t *tmp)
{
    uint32_t ntypes = 0;
    for (uint32_t i = 0; i < node->nrecs; i++)
        if (i == 0 || node->recs[i].type != node->recs[i - 1].type)
            ntypes++;
    node->replies = arena_alloc(z->arena, sizeof(zone_reply_t) * (ntypes + 1));
    node->replies[0] = make_reply(z, node, NULL, tmp);
    node->nreplies = 1;
    for (uint32_t i = 0; i < node->nrecs; i++)
        if (i == 0 || node->recs[i].type != node->recs[i - 1].type)
            node->replies[node->nreplies++] = make_reply(z, node, node->recs[i].type, tmp);
}

/* Marks records that are not authoritative data of this zone: everything at
 * and below a delegation (NS at a name other than the apex), except the DS
 * at the cut, which belongs to the parent. */
static bool node_has(const zone_node_t *n, uint16_t code)
{
    for (uint32_t k = 0; n && k < n->nrecs; k++)
        if (n->recs[k].type->code == code)
            return true;
    return false;
}

/* Whether node `n` is a delegation point: NS at a name other than the apex. */
static bool is_cut(const zone_t *z, const zone_node_t *n)
{
    return n->name_len != z->name_len && node_has(n, RR_TYPE_NS);
}

/* Whether a proper ancestor of `n`, strictly below the apex, is a cut. */
static bool below_cut(const zone_t *z, const zone_node_t *n)
{
    int off = 0;
    for (;;) {
        int p = dname_parent(n->name + off, n->name_len - off);
        if (p < 0)
            return false;
        off += p;
        size_t len = n->name_len - off;
        if (len <= z->name_len)
            return false;
        if (node_has(zone_find(z, n->name + off, len, dname_hash(n->name + off, len)), RR_TYPE_NS))
            return true;
    }
}

static void mark_auth(zone_t *z)
{
    for (size_t i = 0; i < z->nnodes; i++) {
        zone_node_t *n = &z->nodes[i];
        bool below = below_cut(z, n), cut = is_cut(z, n);
        for (uint32_t k = 0; k < n->nrecs; k++)
            n->recs[k].auth = !below && (!cut || n->recs[k].type->code == RR_TYPE_DS);
    }
}

/* The owner names of `refs` (sorted by name) and each one's ancestors below
 * it and above the apex, sorted, duplicates kept. Returns an owned array. */
static name_ent_t *collect_names(const zone_t *z, const rec_ref_t *refs, size_t nrecs,
                                 size_t *count)
{
    size_t nents = 0, cap = nrecs + 1;
    name_ent_t *ents = mem_calloc(cap, sizeof(*ents));
    for (size_t i = 0; i < nrecs; i++) {
        const char *name = refs[i].rec->name;
        if (i > 0 && strcmp(name, refs[i - 1].rec->name) == 0)
            continue;
        size_t len = strlen(name);
        size_t off = 0;
        bool real = true;
        for (;;) {
            if (nents == cap) {
                cap *= 2;
                ents = mem_realloc_n(ents, cap, sizeof(*ents));
            }
            ents[nents++] = (name_ent_t){name + off, len - off, real};
            real = false;
            int p = dname_parent(name + off, len - off);
            if (p < 0 || len - off - (size_t)p <= z->name_len)
                break;
            off += (size_t)p;
        }
    }
    qsort(ents, nents, sizeof(*ents), cmp_name_ent);
    *count = nents;
    return ents;
}

/* Fills node `n` with records refs[from..to) (all of its name, ordered by
 * type then arrival). A LUA record takes a reference to its program. */
static void fill_records(zone_t *z, zone_node_t *n, const rec_ref_t *refs, size_t from, size_t to)
{
    n->nrecs = (uint32_t)(to - from);
    n->recs = arena_alloc(z->arena, sizeof(zone_rec_t) * n->nrecs);
    for (size_t q = from; q < to; q++) {
        const zone_input_rec_t *in = refs[q].rec;
        zone_rec_t *zr = &n->recs[q - from];
        *zr = (zone_rec_t){.type = in->type,
                           .content = arena_strndup(z->arena, in->content, strlen(in->content)),
                           .ttl = in->ttl,
                           .auth = true};
        if (zr->type->kind == RR_KIND_LUA && in->prog) {
            luac_prog_t *prog = luac_ref(in->prog);
            z->progs[z->nprogs++] = prog;
            zr->prog = prog;
            zr->dyn_type = prog->type;
            n->dynamic = true;
        }
        uint32_t soa[5];
        if (zr->type->code == RR_TYPE_SOA && n->name_len == z->name_len &&
            rr_soa_times(zr->content, soa) == 0) {
            z->serial = soa[0];
            z->refresh = soa[1];
            z->expire = soa[3];
        }
    }
}

/* One node per distinct name of `ents`, in canonical order; real names get
 * their records from `refs` (same order). */
static void build_nodes(zone_t *z, const name_ent_t *ents, size_t nents, const rec_ref_t *refs,
                        size_t nrecs)
{
    size_t nnodes = 0;
    for (size_t i = 0; i < nents; i++)
        if (i == 0 || strcmp(ents[i].name, ents[i - 1].name) != 0)
            nnodes++;
    z->nodes = arena_alloc(z->arena, sizeof(zone_node_t) * (nnodes ? nnodes : 1));
    z->nnodes = 0;
    size_t r = 0; /* cursor into refs */
    for (size_t i = 0; i < nents;) {
        size_t j = i;
        bool real = false;
        while (j < nents && strcmp(ents[j].name, ents[i].name) == 0)
            real |= ents[j++].real;
        zone_node_t *n = &z->nodes[z->nnodes++];
        *n = (zone_node_t){.name_len = (uint32_t)ents[i].len,
                           .name = arena_strndup(z->arena, ents[i].name, ents[i].len)};
        n->hash = dname_hash(n->name, n->name_len);
        if (real) {
            while (r < nrecs && strcmp(refs[r].rec->name, n->name) < 0)
                r++;
            size_t k = r;
            while (k < nrecs && strcmp(refs[k].rec->name, n->name) == 0)
                k++;
            fill_records(z, n, refs, r, k);
            r = k;
        }
        i = j;
    }
}

static void copy_meta(zone_t *z, const zone_input_meta_t *meta, size_t nmeta)
{
    z->meta = arena_alloc(z->arena, sizeof(zone_meta_t) * (nmeta ? nmeta : 1));
    z->nmeta = nmeta;
    for (size_t i = 0; i < nmeta; i++) {
        z->meta[i].kind = arena_strndup(z->arena, meta[i].kind, strlen(meta[i].kind));
        z->meta[i].nvalues = meta[i].nvalues;
        z->meta[i].values = arena_alloc(z->arena, sizeof(char *) * (meta[i].nvalues + 1));
        for (size_t k = 0; k < meta[i].nvalues; k++)
            z->meta[i].values[k] =
                arena_strndup(z->arena, meta[i].values[k], strlen(meta[i].values[k]));
    }
}

/* Phases: sort the records by name and type; collect every name with its
 * empty non-terminal ancestors; build the nodes; index them; mark what
 * lies below a delegation; prebuild each node's replies; copy metadata. */
zone_t *zone_build(int64_t id, const char *apex, const zone_input_rec_t *recs, size_t nrecs,
                   const zone_input_meta_t *meta, size_t nmeta)
{
    zone_t *z = mem_calloc(1, sizeof(*z));
    z->arena = arena_new();
    z->id = id;
    z->masters = "";
    z->name_len = (uint32_t)strlen(apex);
    z->name = arena_strndup(z->arena, apex, z->name_len);
    z->nrecords = nrecs;

    rec_ref_t *refs = mem_calloc(nrecs ? nrecs : 1, sizeof(*refs));
    size_t nprogs = 0;
    for (size_t i = 0; i < nrecs; i++) {
        refs[i] = (rec_ref_t){&recs[i], i};
        nprogs += recs[i].prog != NULL;
    }
    qsort(refs, nrecs, sizeof(*refs), cmp_rec_ref);
    z->progs = mem_calloc(nprogs ? nprogs : 1, sizeof(*z->progs));

    size_t nents;
    name_ent_t *ents = collect_names(z, refs, nrecs, &nents);
    build_nodes(z, ents, nents, refs, nrecs);
    free(ents);
    free(refs);

    htab_init(&z->index, z->nnodes);
    for (size_t i = 0; i < z->nnodes; i++)
        htab_add(&z->index, z->nodes[i].hash, (uint32_t)i);
    mark_auth(z);
    buf_t tmp;
    buf_init(&tmp);
    for (size_t i = 0; i < z->nnodes; i++)
        build_replies(z, &z->nodes[i], &tmp);
    buf_free(&tmp);
    copy_meta(z, meta, nmeta);
    return z;
}

void zone_free(zone_t *z)
{
    if (!z)
        return;
    for (size_t i = 0; i < z->nprogs; i++)
        luac_free(z->progs[i]);
    free(z->progs);
    htab_free(&z->index);
    arena_free(z->arena);
    free(z);
}

const zone_reply_t *zone_node_reply(const zone_node_t *node, const char *qtype, size_t qtype_len)
{
    if (!qtype || (qtype_len == 3 && memcmp(qtype, "ANY", 3) == 0))
        return node->replies[0].json ? &node->replies[0] : NULL;
    for (uint32_t i = 1; i < node->nreplies; i++) {
        const char *tn = node->replies[i].type->name;
        if (strlen(tn) == qtype_len && memcmp(tn, qtype, qtype_len) == 0)
            return &node->replies[i];
    }
    return NULL;
}

const zone_meta_t *zone_meta_find(const zone_t *z, const char *kind)
{
    for (size_t i = 0; i < z->nmeta; i++)
        if (strcmp(z->meta[i].kind, kind) == 0)
            return &z->meta[i];
    return NULL;
}

/* ---- DNSSEC: keys and the denial chains ----------------------------------- */

static int cmp_nsec(const void *a, const void *b)
{
    const zone_nsec_t *x = a, *y = b;
    return nsec_canon_cmp(x->wire, x->wlen, y->wire, y->wlen);
}

static int cmp_nsec3(const void *a, const void *b)
{
    return memcmp(((const zone_nsec3_t *)a)->hash, ((const zone_nsec3_t *)b)->hash, NSEC3_HASH_LEN);
}

/* The chain members, as pdns's own backends choose them: every name not
 * below a cut that holds records (a delegation point included, glue and
 * occluded names not). NSEC3 adds the empty non-terminals above members;
 * with opt-out, a delegation without DS is left out, and so is an empty
 * non-terminal above nothing else. */
static void build_chain(zone_t *z, const nsec3_param_t *n3)
{
    bool *in = mem_calloc(z->nnodes ? z->nnodes : 1, sizeof(*in));
    size_t count = 0;
    for (size_t i = 0; i < z->nnodes; i++) {
        const zone_node_t *n = &z->nodes[i];
        if (!n->nrecs || below_cut(z, n))
            continue;
        if (n3 && n3->flags && is_cut(z, n) && !node_has(n, RR_TYPE_DS))
            continue;
        in[i] = true;
        count++;
        /* NSEC3: the empty non-terminals between it and the apex. */
        for (int off = 0, p; n3 && (p = dname_parent(n->name + off, n->name_len - off)) >= 0;) {
            off += p;
            size_t len = n->name_len - off;
            if (len <= z->name_len)
                break;
            uint32_t idx;
            const zone_node_t *a = zone_find(z, n->name + off, len, dname_hash(n->name + off, len));
            if (!a || a->nrecs || (idx = (uint32_t)(a - z->nodes), in[idx]))
                continue;
            in[idx] = true;
            count++;
        }
    }
    uint8_t wire[NSEC_WIRE_MAX];
    if (n3) {
        z->nsec3 = arena_alloc(z->arena, sizeof(*z->nsec3) * (count ? count : 1));
        for (size_t i = 0; i < z->nnodes; i++) {
            if (!in[i])
                continue;
            zone_nsec3_t *e = &z->nsec3[z->nnsec3++];
            size_t wl = nsec_wire(z->nodes[i].name, z->nodes[i].name_len, wire);
            nsec3_hash(n3, wire, wl, e->hash);
            e->node = (uint32_t)i;
        }
        qsort(z->nsec3, z->nnsec3, sizeof(*z->nsec3), cmp_nsec3);
    } else {
        z->nsec = arena_alloc(z->arena, sizeof(*z->nsec) * (count ? count : 1));
        for (size_t i = 0; i < z->nnodes; i++) {
            if (!in[i])
                continue;
            zone_nsec_t *e = &z->nsec[z->nnsec++];
            size_t wl = nsec_wire(z->nodes[i].name, z->nodes[i].name_len, wire);
            uint8_t *w = arena_alloc(z->arena, wl);
            memcpy(w, wire, wl);
            *e = (zone_nsec_t){w, (uint32_t)wl, (uint32_t)i};
        }
        qsort(z->nsec, z->nnsec, sizeof(*z->nsec), cmp_nsec);
    }
    free(in);
}

void zone_set_keys(zone_t *z, const store_key_t *keys, size_t nkeys)
{
    z->keys = arena_alloc(z->arena, sizeof(*z->keys) * (nkeys ? nkeys : 1));
    z->nkeys = nkeys;
    for (size_t i = 0; i < nkeys; i++) {
        z->keys[i] = keys[i];
        z->keys[i].content = arena_strndup(z->arena, keys[i].content, strlen(keys[i].content));
    }
    if (!nkeys)
        return;
    const zone_meta_t *param = zone_meta_find(z, "NSEC3PARAM");
    const zone_meta_t *narrow = zone_meta_find(z, "NSEC3NARROW");
    nsec3_param_t n3;
    bool nsec3 = param && param->nvalues && nsec3_param_parse(param->values[0], &n3, NULL) == 0;
    if (nsec3 && narrow && narrow->nvalues && strcmp(narrow->values[0], "1") == 0) {
        z->nsec3_narrow = true; /* pdns makes its own white lies */
        return;
    }
    z->use_nsec3 = nsec3;
    build_chain(z, nsec3 ? &n3 : NULL);
}

const char *zone_dnssec_mode(const zone_t *z, size_t *active)
{
    *active = 0;
    for (size_t i = 0; i < z->nkeys; i++)
        *active += z->keys[i].active;
    if (!z->nkeys)
        return NULL;
    return z->nsec3_narrow ? "nsec3-narrow" : z->use_nsec3 ? "nsec3" : "nsec";
}

bool zone_denial_neighbours(const zone_t *z, const char *q, size_t qlen, const zone_node_t **before,
                            const zone_node_t **after, const uint8_t **before_hash,
                            const uint8_t **after_hash)
{
    size_t lo = 0, hi;
    if (z->use_nsec3) {
        uint8_t h[NSEC3_HASH_LEN];
        if (qlen && q[qlen - 1] == '.')
            qlen--;
        if (!z->nnsec3 || !nsec3_b32_decode(q, qlen, h))
            return false;
        /* lo: the first entry greater than h. */
        for (hi = z->nnsec3; lo < hi;) {
            size_t mid = lo + (hi - lo) / 2;
            if (memcmp(z->nsec3[mid].hash, h, NSEC3_HASH_LEN) <= 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        const zone_nsec3_t *b = &z->nsec3[lo ? lo - 1 : z->nnsec3 - 1];
        const zone_nsec3_t *a = &z->nsec3[lo < z->nnsec3 ? lo : 0];
        *before = &z->nodes[b->node];
        *after = &z->nodes[a->node];
        *before_hash = b->hash;
        *after_hash = a->hash;
        return true;
    }
    if (!z->nnsec)
        return false;
    /* The absolute canonical name: the relative one with the apex after it. */
    char abs[DNAME_MAXTEXT + 2], canon[DNAME_MAXTEXT + 1];
    size_t n = 0;
    if (!(qlen == 1 && q[0] == '.') && qlen) {
        if (qlen > DNAME_MAXTEXT)
            return false;
        memcpy(abs, q, qlen);
        n = qlen;
        if (abs[n - 1] != '.')
            abs[n++] = '.';
    }
    if (n + z->name_len > DNAME_MAXTEXT)
        return false;
    memcpy(abs + n, z->name, z->name_len);
    n += z->name_len;
    int cl = dname_canon(abs, n, false, canon, NULL);
    if (cl < 0)
        return false;
    uint8_t w[NSEC_WIRE_MAX];
    size_t wl = nsec_wire(canon, (size_t)cl, w);
    for (hi = z->nnsec; lo < hi;) {
        size_t mid = lo + (hi - lo) / 2;
        if (nsec_canon_cmp(z->nsec[mid].wire, z->nsec[mid].wlen, w, wl) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *before = &z->nodes[z->nsec[lo ? lo - 1 : z->nnsec - 1].node];
    *after = &z->nodes[z->nsec[lo < z->nnsec ? lo : 0].node];
    *before_hash = *after_hash = NULL;
    return true;
}
