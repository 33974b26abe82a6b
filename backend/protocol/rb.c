#include "backend/protocol/rb.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/daemon/stats.h"
#include "backend/protocol/admin.h"
#include "backend/daemon/declog.h"
#include "backend/steering/health.h"
#include "backend/steering/luaeval.h"
#include "backend/dns/dname.h"
#include "backend/dns/dnskey.h"
#include "backend/dns/nsec.h"
#include "backend/protocol/lookup.h"
#include "backend/protocol/scan.h"
#include "backend/zones/snap.h"
#include "backend/daemon/state.h"
#include "backend/steering/steer.h"
#include "backend/zones/records.h"
#include "backend/zones/store.h"
#include "backend/zones/trx.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"

struct rb_conn {
    /* The lookup path's state. Its snapshot (lk.snap) is the one the
     * request being handled reads, pinned by rb_handle for the whole
     * request and unpinned when its reply is written: one request sees one
     * state, and no handler pins on its own. The one exception is a handler
     * that hands a change to the writer (state.c): it drops the pin first
     * (release_snap), because publishing the new snapshot waits briefly for
     * the readers of the one it replaces. */
    lk_ctx_t lk;
    trx_t trx;
    buf_t out;
    unsigned method; /* the request's index in methods[] (RB_NMETHODS: other) */
};

static const char reply_false[] = "{\"result\":false}\n";

rb_conn_t *rb_conn_new(void)
{
    rb_conn_t *c = mem_calloc(1, sizeof(*c));
    if (!lk_ctx_init(&c->lk)) {
        free(c);
        return NULL;
    }
    buf_init(&c->out);
    buf_reserve(&c->out, 4096);
    return c;
}

void rb_conn_free(rb_conn_t *c)
{
    if (!c)
        return;
    if (c->trx.active)
        log_info("rb: connection closed with an open transaction on zone id %lld: aborted",
                 (long long)c->trx.zone_id);
    trx_clear(&c->trx);
    lk_ctx_fini(&c->lk);
    buf_free(&c->out);
    free(c);
}

void rb_conn_trim(rb_conn_t *c)
{
    if (c->out.cap > RB_REPLY_KEEP)
        buf_free(&c->out); /* buf_free leaves an empty, reusable buffer */
}

/* Drops the request's pin before a change goes to the writer (see
 * rb_conn.snap); nothing of the snapshot may be used after it. */
static void release_snap(rb_conn_t *c)
{
    if (c->lk.snap) {
        snap_unpin(c->lk.slot);
        c->lk.snap = NULL;
    }
}

/* ---- reply helpers ---------------------------------------------------- */

static void put_false_log(rb_conn_t *c, const char *fmt, ...) GS_PRINTF(2, 3);
static void put_false_log(rb_conn_t *c, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    buf_reset(&c->out);
    buf_puts(&c->out, "{\"result\":false,\"log\":[");
    buf_put_jstr(&c->out, msg, strlen(msg));
    buf_puts(&c->out, "]}\n");
}

static void put_true(rb_conn_t *c)
{
    buf_reset(&c->out);
    buf_puts(&c->out, "{\"result\":true}\n");
}

static void put_false(rb_conn_t *c)
{
    buf_reset(&c->out);
    buf_put(&c->out, reply_false, sizeof(reply_false) - 1);
}

/* Takes over `result` (a jansson value) and writes {"result": ...}. */
static void put_json_take(rb_conn_t *c, json_t *result)
{
    json_t *o = mem_check(json_object());
    json_object_set_new(o, "result", result);
    buf_reset(&c->out);
    size_t n = json_dumpb(o, NULL, 0, JSON_COMPACT);
    buf_reserve(&c->out, n + 1);
    json_dumpb(o, c->out.data, n, JSON_COMPACT);
    c->out.len = n;
    buf_putc(&c->out, '\n');
    json_decref(o);
}

const buf_t *rb_error_reply(rb_conn_t *c, const char *msg)
{
    put_false_log(c, "%s", msg);
    return &c->out;
}

/* ---- parameter access --------------------------------------------------- */

/* The one error carrier of a request: the method being served and, once a
 * parameter, record or write is refused, the reason (gs_err_t, the text pdns
 * logs and pdnsutil prints), always starting with the method's name. The
 * getters, add_rec and check_name_after fill it and return the code; the
 * handler replies from it once. */
typedef struct {
    const char *method;
    gs_err_t err;
} perr_t;

static int p_str(json_t *params, const char *key, const char **s, size_t *len, perr_t *e)
{
    json_t *v = json_object_get(params, key);
    if (!json_is_string(v)) {
        gs_err_set(&e->err, GS_EINVAL, "%s: parameter '%s' must be a string", e->method, key);
        return GS_EINVAL;
    }
    *s = json_string_value(v);
    if (len)
        *len = json_string_length(v);
    return 0;
}

/* pdns sends ids as JSON numbers (sometimes serialised from doubles) and
 * accepts numeric strings itself, so both are taken. */
static int p_int(json_t *params, const char *key, bool optional, int64_t def, int64_t *out,
                 perr_t *e)
{
    json_t *v = json_object_get(params, key);
    if (!v && optional) {
        *out = def;
        return 0;
    }
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == floor(d) && d >= -9.0e15 && d <= 9.0e15) {
            *out = (int64_t)d;
            return 0;
        }
    }
    if (json_is_string(v)) {
        char *end;
        long long n = strtoll(json_string_value(v), &end, 10);
        if (*json_string_value(v) && !*end) {
            *out = n;
            return 0;
        }
    }
    return gs_err_set(&e->err, GS_EINVAL, "%s: parameter '%s' must be an integer", e->method, key);
}

/* Canonicalises a name parameter into `out` (DNAME_MAXTEXT + 1 bytes). */
static int p_name(json_t *params, const char *key, char *out, size_t *out_len, perr_t *e)
{
    const char *s;
    size_t len;
    int rc = p_str(params, key, &s, &len, e);
    if (rc)
        return rc;
    gs_err_t ge;
    int n = len <= DNAME_MAXTEXT ? dname_canon(s, len, true, out, &ge)
                                 : gs_err_set(&ge, GS_EINVAL, "name too long");
    if (n < 0)
        return gs_err_set(&e->err, GS_EINVAL, "%s: parameter '%s': %s", e->method, key, ge.text);
    *out_len = (size_t)n;
    return 0;
}

/* ---- lookup --------------------------------------------------------------- */

static void overlay_lookup(rb_conn_t *c, const lookup_req_t *r);

static void m_lookup(rb_conn_t *c, json_t *params, perr_t *e)
{
    lookup_req_t r = {0};
    if (p_str(params, "qname", &r.qname, &r.qlen, e) ||
        p_str(params, "qtype", &r.qtype, &r.qtlen, e) ||
        p_int(params, "zone-id", true, -1, &r.zone_id, e)) {
        put_false_log(c, "%s", e->err.text);
        return;
    }
    json_t *v = json_object_get(params, "remote");
    if (json_is_string(v)) {
        r.remote = json_string_value(v);
        r.remote_len = json_string_length(v);
    }
    v = json_object_get(params, "real-remote");
    if (json_is_string(v)) {
        r.real_remote = json_string_value(v);
        r.real_remote_len = json_string_length(v);
    }
    if (c->trx.active && c->trx.nops)
        overlay_lookup(c, &r);
    else
        lk_answer(&c->lk, &r, LK_JSON, &c->out);
}

/* ---- zones and metadata ------------------------------------------------ */

/* pdns 4.7's remote backend reads `kind` with an exact, case-sensitive
 * compare: "master" and "slave", anything else is native. `serial` and
 * `last_check` must be JSON numbers (a string reads as 0). */
static const char *pdns_kind(int kind)
{
    return kind == STORE_KIND_PRIMARY     ? "master"
           : kind == STORE_KIND_SECONDARY ? "slave"
                                          : "native";
}

/* A zone as pdns's DomainInfo: `masters` are the secondary's primaries
 * (state_masters_canon's form, which pdns parses), `last_check` pdns's last
 * freshness check of it. */
json_t *rb_masters_json(const zone_t *z)
{
    json_t *masters = mem_check(json_array());
    for (const char *p = z->masters; *p;) {
        size_t len = strcspn(p, " ");
        json_array_append_new(masters, mem_check(json_stringn(p, len)));
        p += len + strspn(p + len, " ");
    }
    return masters;
}

static json_t *domain_info(const zone_t *z)
{
    json_t *masters = rb_masters_json(z);
    state_repl_info_t ri;
    if (z->kind == STORE_KIND_SECONDARY)
        state_repl_info(z->id, &ri);
    else
        ri.checked_at = 0;
    return mem_check(json_pack("{s:s, s:I, s:s, s:I, s:I, s:I, s:o}", "zone", z->name, "id",
                               (json_int_t)z->id, "kind", pdns_kind(z->kind), "serial",
                               (json_int_t)z->serial, "notified_serial",
                               (json_int_t)z->notified_serial, "last_check",
                               (json_int_t)ri.checked_at, "masters", masters));
}

/* The secondary zones due for a freshness check: never checked since start
 * or setStale, or checked longer ago than their SOA refresh (at once when
 * they have no SOA yet). pdns asks each one's primary for its serial and
 * transfers the zone when it is newer, then calls setFresh. */
static void m_get_unfresh(rb_conn_t *c, json_t *params, perr_t *e)
{
    (void)params;
    (void)e;
    json_t *arr = mem_check(json_array());
    const snap_t *s = c->lk.snap;
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < s->nzones; i++) {
        const zone_t *z = s->zones[i];
        if (z->kind != STORE_KIND_SECONDARY || !*z->masters)
            continue;
        state_repl_info_t ri;
        state_repl_info(z->id, &ri);
        if (!ri.checked_at || !z->serial || now - ri.checked_at >= (int64_t)z->refresh)
            json_array_append_new(arr, domain_info(z));
    }
    put_json_take(c, arr);
}

/* setFresh / setStale {id}. */
static void fresh_stale(rb_conn_t *c, json_t *params, perr_t *e, bool fresh)
{
    int64_t id;
    if (p_int(params, "id", false, 0, &id, e)) {
        put_false_log(c, "%s", e->err.text);
        return;
    }
    zone_t *z = (zone_t *)(uintptr_t)snap_zone_by_id(c->lk.snap, id);
    if (!z) {
        put_false_log(c, "%s: zone id %lld does not exist", e->method, (long long)id);
        return;
    }
    if (fresh)
        state_zone_fresh(z);
    else
        state_zone_stale(id);
    put_true(c);
}

static void m_set_fresh(rb_conn_t *c, json_t *params, perr_t *e)
{
    fresh_stale(c, params, e, true);
}

static void m_set_stale(rb_conn_t *c, json_t *params, perr_t *e)
{
    fresh_stale(c, params, e, false);
}

/* superMasterBackend {ip, domain, nsset}: a NOTIFY for a zone this node does
 * not have came from `ip`. It is an autoprimary when an entry has that
 * address and one of the NS names pdns got from it for the zone; the reply
 * names them ({nameserver, account}), and pdns then calls createSlaveDomain.
 * Otherwise false: pdns refuses the NOTIFY and logs it. */
typedef struct {
    char ip[64];
    char (*ns)[DNAME_MAXTEXT + 1];
    size_t nns;
    char nameserver[DNAME_MAXTEXT + 1];
    char account[256];
    bool found;
} ap_match_t;

static void ap_match(void *ctx, const char *ip, const char *nameserver, const char *account)
{
    ap_match_t *m = ctx;
    if (m->found || strcmp(ip, m->ip) != 0)
        return;
    for (size_t i = 0; i < m->nns; i++)
        if (strcmp(m->ns[i], nameserver) == 0) {
            snprintf(m->nameserver, sizeof(m->nameserver), "%s", nameserver);
            snprintf(m->account, sizeof(m->account), "%s", account);
            m->found = true;
            return;
        }
}

static void m_supermaster(rb_conn_t *c, json_t *params, perr_t *e)
{
    const char *ip;
    char zone[DNAME_MAXTEXT + 1];
    size_t zlen;
    json_t *nsset = json_object_get(params, "nsset");
    if (p_str(params, "ip", &ip, NULL, e) || p_name(params, "domain", zone, &zlen, e)) {
        put_false_log(c, "%s", e->err.text);
        return;
    }
    buf_t canon;
    buf_init(&canon);
    gs_err_t ge;
    ap_match_t m = {0};
    if (state_masters_canon(ip, &canon, &ge) != 0 || canon.len >= sizeof(m.ip)) {
        put_false_log(c, "superMasterBackend: %s", ge.text);
        buf_free(&canon);
        return;
    }
    memcpy(m.ip, canon.data, canon.len + 1);
    buf_free(&canon);
    size_t n = json_is_array(nsset) ? json_array_size(nsset) : 0;
    m.ns = mem_calloc(n ? n : 1, sizeof(*m.ns));
    for (size_t i = 0; i < n; i++) {
        json_t *rr = json_array_get(nsset, i), *t = json_object_get(rr, "qtype");
        json_t *v = json_object_get(rr, "content");
        if (!json_is_string(t) || strcmp(json_string_value(t), "NS") != 0 || !json_is_string(v) ||
            json_string_length(v) > DNAME_MAXTEXT)
            continue;
        if (dname_canon(json_string_value(v), json_string_length(v), true, m.ns[m.nns], &ge) > 0)
            m.nns++;
    }
    state_autoprimaries_each(ap_match, &m);
    if (!m.found) {
        LOG_RATELIMITED(LOG_WARNING,
                        "rb: NOTIFY for unknown zone %s from %s: not an autoprimary (geosteer "
                        "autoprimary list), refused",
                        zone, m.ip);
        put_false_log(c, "superMasterBackend: %s is not an autoprimary for %s", m.ip, zone);
    } else {
        put_json_take(c, mem_check(json_pack("{s:s, s:s}", "nameserver", m.nameserver, "account",
                                             m.account)));
    }
    free(m.ns);
}

/* createSlaveDomain {ip, domain, nameserver, account}: after an autoprimary
 * matched, creates the secondary zone with `ip` as its primary; pdns then
 * checks it at once and transfers it. */
static void m_create_slave(rb_conn_t *c, json_t *params, perr_t *e)
{
    const char *ip;
    char zone[DNAME_MAXTEXT + 1];
    size_t zlen;
    if (p_str(params, "ip", &ip, NULL, e) || p_name(params, "domain", zone, &zlen, e)) {
        put_false_log(c, "%s", e->err.text);
        return;
    }
    buf_t masters;
    buf_init(&masters);
    gs_err_t ge;
    const zone_t *z = snap_zone_by_name(c->lk.snap, zone, zlen);
    if (z && z->kind == STORE_KIND_SECONDARY) {
        put_true(c); /* already there: a NOTIFY raced the first one */
    } else if (z) {
        put_false_log(c, "createSlaveDomain: zone %s exists and is %s here", zone,
                      store_kind_name((store_kind_t)z->kind));
    } else if (state_masters_canon(ip, &masters, &ge) != 0) {
        put_false_log(c, "createSlaveDomain: %s", ge.text);
    } else {
        release_snap(c);
        state_zone_opts_t o;
        state_zone_opts_default(&o);
        o.kind = STORE_KIND_SECONDARY;
        o.masters = masters.data;
        int64_t id;
        if (state_zone_create(zone, &o, &id, &ge) == 0) {
            log_notice("rb: zone %s created as a secondary of autoprimary %s", zone, masters.data);
            put_true(c);
        } else {
            put_false_log(c, "createSlaveDomain: %s", ge.text);
        }
    }
    buf_free(&masters);
}

/* The primary zones whose serial pdns has not sent NOTIFYs for: pdns
 * notifies every zone listed here and then calls setNotified with the
 * serial listed, without comparing serials itself. */
static void m_get_updated_masters(rb_conn_t *c, json_t *params, perr_t *e)
{
    (void)params;
    (void)e;
    json_t *arr = mem_check(json_array());
    const snap_t *s = c->lk.snap;
    for (size_t i = 0; i < s->nzones; i++) {
        const zone_t *z = s->zones[i];
        if (z->kind == STORE_KIND_PRIMARY && z->serial && z->serial != z->notified_serial)
            json_array_append_new(arr, domain_info(z));
    }
    put_json_take(c, arr);
}

/* setNotified {id, serial}: pdns has sent (or queued) NOTIFYs for that
 * serial. Kept in the zone store, so a pdns restart does not notify again. */
static void m_set_notified(rb_conn_t *c, json_t *params, perr_t *e)
{
    int64_t id, serial;
    if (p_int(params, "id", false, 0, &id, e) || p_int(params, "serial", false, 0, &serial, e)) {
        put_false_log(c, "%s", e->err.text);
        return;
    }
    if (serial < 0 || serial > UINT32_MAX) {
        put_false_log(c, "setNotified: serial %lld out of range", (long long)serial);
        return;
    }
    /* The zone of the pinned snapshot: the notified serial is set in the
     * image (and carried into newer ones), without the writer lock. */
    zone_t *z = (zone_t *)(uintptr_t)snap_zone_by_id(c->lk.snap, id);
    if (!z) {
        put_false_log(c, "setNotified: zone id %lld not found", (long long)id);
        return;
    }
    state_zone_notified(z, (uint32_t)serial);
    put_true(c);
}

static void m_get_all_domains(rb_conn_t *c, json_t *params, perr_t *e)
{
    (void)params;
    (void)e;
    json_t *arr = mem_check(json_array());
    const snap_t *s = c->lk.snap;
    for (size_t i = 0; i < s->nzones; i++)
        json_array_append_new(arr, domain_info(s->zones[i]));
    put_json_take(c, arr);
}

/* Finds the zone named by parameter `key` (or, with `id_key` present, by
 * that id) in the request's snapshot. Returns 0, GS_EINVAL for a malformed
 * parameter (the reason in `e`), or GS_ENOTFOUND; the caller replies. */
static int find_zone(rb_conn_t *c, json_t *params, const char *id_key, const char *key,
                     const zone_t **z, perr_t *e)
{
    int64_t id = -1;
    if (id_key && p_int(params, id_key, true, -1, &id, e))
        return GS_EINVAL;
    if (id >= 0) {
        *z = snap_zone_by_id(c->lk.snap, id);
    } else {
        char name[DNAME_MAXTEXT + 1];
        size_t len;
        if (p_name(params, key, name, &len, e))
            return GS_EINVAL;
        *z = snap_zone_by_name(c->lk.snap, name, len);
    }
    return *z ? 0 : GS_ENOTFOUND;
}

/* find_zone for the read methods: on failure writes their reply (false,
 * with the reason when the request was malformed) and returns NULL. */
static const zone_t *zone_param(rb_conn_t *c, json_t *params, const char *id_key, const char *key,
                                perr_t *e)
{
    const zone_t *z;
    int rc = find_zone(c, params, id_key, key, &z, e);
    if (rc == GS_EINVAL)
        put_false_log(c, "%s", e->err.text);
    else if (rc)
        put_false(c);
    return rc ? NULL : z;
}

static void m_get_domain_info(rb_conn_t *c, json_t *params, perr_t *e)
{
    const zone_t *z = zone_param(c, params, NULL, "name", e);
    if (z)
        put_json_take(c, domain_info(z));
}

static void m_list(rb_conn_t *c, json_t *params, perr_t *e)
{
    const zone_t *z = zone_param(c, params, "domain_id", "zonename", e);
    if (!z)
        return;
    if (state_zone_expired(z, (int64_t)time(NULL))) {
        put_false_log(c, "list: zone %s has expired (no contact with its primary for %u s)",
                      z->name, z->expire);
        return;
    }
    buf_reset(&c->out);
    buf_reserve(&c->out, z->nrecords * 120 + 64);
    buf_puts(&c->out, "{\"result\":[");
    bool first = true;
    for (size_t i = 0; i < z->nnodes; i++) {
        const zone_node_t *n = &z->nodes[i];
        for (uint32_t k = 0; k < n->nrecs; k++) {
            if (!first)
                buf_putc(&c->out, ',');
            zone_rec_json(&c->out, z, n, &n->recs[k]);
            first = false;
        }
    }
    buf_puts(&c->out, "]}\n");
}

static json_t *meta_values(const zone_meta_t *m)
{
    json_t *arr = mem_check(json_array());
    for (size_t k = 0; m && k < m->nvalues; k++)
        json_array_append_new(arr, mem_check(json_string(m->values[k])));
    return arr;
}

static void m_get_all_meta(rb_conn_t *c, json_t *params, perr_t *e)
{
    const zone_t *z = zone_param(c, params, NULL, "name", e);
    if (!z)
        return;
    json_t *obj = mem_check(json_object());
    for (size_t i = 0; i < z->nmeta; i++)
        json_object_set_new(obj, z->meta[i].kind, meta_values(&z->meta[i]));
    put_json_take(c, obj);
}

static void m_get_meta(rb_conn_t *c, json_t *params, perr_t *e)
{
    const char *kind;
    if (p_str(params, "kind", &kind, NULL, e)) {
        put_false_log(c, "%s", e->err.text);
        return;
    }
    const zone_t *z = zone_param(c, params, NULL, "name", e);
    if (z)
        put_json_take(c, meta_values(zone_meta_find(z, kind)));
}

static void m_set_meta(rb_conn_t *c, json_t *params, perr_t *e)
{
    const char *kind;
    json_t *value = json_object_get(params, "value");
    if (p_str(params, "kind", &kind, NULL, e)) {
        put_false_log(c, "%s", e->err.text);
        return;
    }
    if (!*kind || strlen(kind) > 64) {
        put_false_log(c, "setDomainMetadata: kind must be 1..64 characters");
        return;
    }
    size_t n = json_is_array(value) ? json_array_size(value) : 1;
    if (!json_is_array(value) && !json_is_string(value)) {
        put_false_log(c, "setDomainMetadata: parameter 'value' must be an array of strings");
        return;
    }
    const char **vals = mem_calloc(n, sizeof(*vals));
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_is_array(value) ? json_array_get(value, i) : value;
        if (!json_is_string(v)) {
            free(vals);
            put_false_log(c, "setDomainMetadata: parameter 'value' must be an array of strings");
            return;
        }
        vals[i] = json_string_value(v);
    }
    const zone_t *z = zone_param(c, params, NULL, "name", e);
    if (z) {
        int64_t id = z->id;
        release_snap(c);
        gs_err_t ge;
        if (state_meta_set(id, kind, vals, n, &ge) == 0)
            put_true(c);
        else
            put_false_log(c, "setDomainMetadata: %s", ge.text);
    }
    free(vals);
}

/* ---- TSIG keys (pdns sends these only with remote-dnssec=yes) ------------- */

/* The algorithms pdns 4.7 signs with (its TSIG code knows no others). */
static bool tsig_algorithm_ok(const char *a)
{
    static const char *const known[] = {"hmac-md5.sig-alg.reg.int.",
                                        "hmac-sha1.",
                                        "hmac-sha224.",
                                        "hmac-sha256.",
                                        "hmac-sha384.",
                                        "hmac-sha512."};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(a, known[i]) == 0)
            return true;
    return false;
}

/* A base64 secret of 1..1024 characters (no line breaks, padding last). */
static bool base64_ok(const char *s, size_t len)
{
    return len <= 1024 && buf_base64_octets(s, len) >= 0;
}

static void tsig_key_json(void *ctx, const char *name, const char *algorithm, const char *secret)
{
    json_array_append_new(ctx, mem_check(json_pack("{s:s, s:s, s:s}", "name", name, "algorithm",
                                                   algorithm, "content", secret)));
}

static void m_get_tsig_key(rb_conn_t *c, json_t *params, perr_t *e)
{
    char name[DNAME_MAXTEXT + 1];
    size_t len;
    if (p_name(params, "name", name, &len, e)) {
        put_false_log(c, "%s", e->err.text);
        return;
    }
    json_t *keys = mem_check(json_array());
    state_tsig_each(name, tsig_key_json, keys);
    if (json_array_size(keys) == 0) {
        put_false(c); /* pdns: "TSIG key ... not found" */
    } else {
        json_t *k = json_array_get(keys, 0);
        put_json_take(
            c, mem_check(json_pack("{s:O, s:O}", "algorithm", json_object_get(k, "algorithm"),
                                   "content", json_object_get(k, "content"))));
    }
    json_decref(keys);
}

static void m_get_tsig_keys(rb_conn_t *c, json_t *params, perr_t *e)
{
    (void)params;
    (void)e;
    json_t *keys = mem_check(json_array());
    state_tsig_each(NULL, tsig_key_json, keys);
    put_json_take(c, keys);
}

/* setTSIGKey {name, algorithm, content}: pdnsutil generate-tsig-key and
 * import-tsig-key. A refusal names what is wrong, never the secret. */
static void m_set_tsig_key(rb_conn_t *c, json_t *params, perr_t *e)
{
    char name[DNAME_MAXTEXT + 1], algo[DNAME_MAXTEXT + 1];
    size_t nlen, alen, slen;
    const char *secret;
    if (p_name(params, "name", name, &nlen, e) || p_name(params, "algorithm", algo, &alen, e) ||
        p_str(params, "content", &secret, &slen, e)) {
        put_false_log(c, "%s", e->err.text);
        return;
    }
    if (!tsig_algorithm_ok(algo)) {
        put_false_log(c, "setTSIGKey: %s: unknown algorithm '%s'", name, algo);
        return;
    }
    if (!base64_ok(secret, slen)) {
        put_false_log(c, "setTSIGKey: %s: the secret is not base64 of 1..1024 characters", name);
        return;
    }
    release_snap(c);
    gs_err_t ge;
    if (state_tsig_set(name, algo, secret, &ge) == 0)
        put_true(c);
    else
        put_false_log(c, "setTSIGKey: %s", ge.text);
}

static void m_delete_tsig_key(rb_conn_t *c, json_t *params, perr_t *e)
{
    char name[DNAME_MAXTEXT + 1];
    size_t len;
    if (p_name(params, "name", name, &len, e)) {
        put_false_log(c, "%s", e->err.text);
        return;
    }
    release_snap(c);
    gs_err_t ge;
    if (state_tsig_delete(name, &ge) == 0)
        put_true(c);
    else
        put_false_log(c, "deleteTSIGKey: %s", ge.text);
}

/* ---- DNSSEC (pdns sends these only with remote-dnssec=yes) ---------------- */

/* getDomainKeys {name}: the zone's keys from the snapshot, private key text
 * included (pdns signs with it); no writer lock. */
static void m_get_domain_keys(rb_conn_t *c, json_t *params, perr_t *e)
{
    const zone_t *z = zone_param(c, params, NULL, "name", e);
    if (!z)
        return;
    json_t *arr = mem_check(json_array());
    for (size_t i = 0; i < z->nkeys; i++) {
        const store_key_t *k = &z->keys[i];
        json_array_append_new(
            arr, mem_check(json_pack("{s:I, s:i, s:b, s:b, s:s}", "id", (json_int_t)k->id, "flags",
                                     (int)k->flags, "active", k->active, "published", k->published,
                                     "content", k->content)));
    }
    put_json_take(c, arr);
}

/* The zone a key request names, its id released from the snapshot (the
 * change goes through the writer). Replies and returns -1 on failure. */
static int64_t key_zone(rb_conn_t *c, json_t *params, perr_t *e)
{
    const zone_t *z;
    int rc = find_zone(c, params, NULL, "name", &z, e);
    if (rc == GS_ENOTFOUND)
        put_false_log(c, "%s: no such zone", e->method);
    else if (rc)
        put_false_log(c, "%s", e->err.text);
    if (rc)
        return -1;
    int64_t id = z->id;
    release_snap(c);
    return id;
}

static bool p_flag(json_t *key, const char *name, bool def)
{
    json_t *v = json_object_get(key, name);
    return json_is_boolean(v)   ? json_is_true(v)
           : json_is_integer(v) ? json_integer_value(v) != 0
                                : def;
}

/* addDomainKey {name, key{flags, active, published, content}}: replies the
 * new key's id, or false with the reason (never the key text). */
static void m_add_domain_key(rb_conn_t *c, json_t *params, perr_t *e)
{
    json_t *key = json_object_get(params, "key");
    const char *content;
    int64_t flags;
    if (!json_is_object(key)) {
        put_false_log(c, "addDomainKey: parameter 'key' must be an object");
        return;
    }
    if (p_int(key, "flags", false, 0, &flags, e) || p_str(key, "content", &content, NULL, e)) {
        put_false_log(c, "%s", e->err.text);
        return;
    }
    unsigned algorithm;
    gs_err_t ge;
    if (flags < 0 || flags > 65535 || dnskey_check(content, (unsigned)flags, &algorithm, &ge)) {
        if (flags < 0 || flags > 65535)
            gs_err_set(&ge, GS_EINVAL, "key flags %lld out of range", (long long)flags);
        log_warn("rb: addDomainKey refused: %s", ge.text);
        put_false_log(c, "addDomainKey: %s", ge.text);
        return;
    }
    int64_t zid = key_zone(c, params, e);
    if (zid < 0)
        return;
    store_key_t k = {.flags = (unsigned)flags,
                     .active = p_flag(key, "active", false),
                     .published = p_flag(key, "published", true),
                     .content = content};
    int64_t id;
    if (state_key_add(zid, &k, &id, &ge) == 0)
        put_json_take(c, mem_check(json_integer(id)));
    else
        put_false_log(c, "addDomainKey: %s", ge.text);
}

/* removeDomainKey, activateDomainKey... {name, id}. */
static void key_op(rb_conn_t *c, json_t *params, perr_t *e, state_key_op_t op)
{
    int64_t id;
    if (p_int(params, "id", false, 0, &id, e)) {
        put_false_log(c, "%s", e->err.text);
        return;
    }
    int64_t zid = key_zone(c, params, e);
    if (zid < 0)
        return;
    gs_err_t ge;
    if (state_key_change(zid, id, op, &ge) == 0)
        put_true(c);
    else
        put_false_log(c, "%s: %s", e->method, ge.text);
}

static void m_remove_domain_key(rb_conn_t *c, json_t *params, perr_t *e)
{
    key_op(c, params, e, STATE_KEY_REMOVE);
}

static void m_activate_domain_key(rb_conn_t *c, json_t *params, perr_t *e)
{
    key_op(c, params, e, STATE_KEY_ACTIVATE);
}

static void m_deactivate_domain_key(rb_conn_t *c, json_t *params, perr_t *e)
{
    key_op(c, params, e, STATE_KEY_DEACTIVATE);
}

static void m_publish_domain_key(rb_conn_t *c, json_t *params, perr_t *e)
{
    key_op(c, params, e, STATE_KEY_PUBLISH);
}

static void m_unpublish_domain_key(rb_conn_t *c, json_t *params, perr_t *e)
{
    key_op(c, params, e, STATE_KEY_UNPUBLISH);
}

/* A chain entry's name relative to the apex, as pdns wants it back ("."
 * for the apex itself). */
static json_t *relative_name(const zone_t *z, const zone_node_t *n)
{
    if (n->name_len == z->name_len)
        return mem_check(json_string("."));
    return mem_check(json_stringn(n->name, n->name_len - z->name_len));
}

/* getBeforeAndAfterNamesAbsolute {id, qname}: the NSEC (or NSEC3 hashed)
 * neighbours of qname in the zone's chain, from the snapshot. `unhashed` is
 * the absolute name of `before`, which pdns looks up for its type bitmap. */
static void m_before_after(rb_conn_t *c, json_t *params, perr_t *e)
{
    const char *q;
    size_t qlen;
    if (p_str(params, "qname", &q, &qlen, e)) {
        put_false_log(c, "%s", e->err.text);
        return;
    }
    const zone_t *z = zone_param(c, params, "id", "zonename", e);
    if (!z)
        return;
    const zone_node_t *b, *a;
    const uint8_t *bh, *ah;
    if (!zone_denial_neighbours(z, q, qlen, &b, &a, &bh, &ah)) {
        put_false_log(c, "getBeforeAndAfterNamesAbsolute: zone %s: %s", z->name,
                      z->nkeys ? "qname is not a name or hash of this zone"
                               : "the zone has no keys");
        return;
    }
    json_t *r = mem_check(json_object());
    json_object_set_new(r, "unhashed", mem_check(json_stringn(b->name, b->name_len)));
    if (bh) {
        char hb[NSEC3_B32_LEN + 1], ha[NSEC3_B32_LEN + 1];
        nsec3_b32(bh, hb);
        nsec3_b32(ah, ha);
        json_object_set_new(r, "before", mem_check(json_string(hb)));
        json_object_set_new(r, "after", mem_check(json_string(ha)));
    } else {
        json_object_set_new(r, "before", relative_name(z, b));
        json_object_set_new(r, "after", relative_name(z, a));
    }
    put_json_take(c, r);
}

/* ---- transactions --------------------------------------------------------- */

/* A refused startTransaction also ends the transaction open on the
 * connection: the writes that follow were meant for the new one and must not
 * land in the old one (they are refused: no transaction is open). */
static void start_refused(rb_conn_t *c)
{
    if (c->trx.active) {
        LOG_RATELIMITED(LOG_INFO,
                        "rb: startTransaction refused; the open transaction on zone id %lld is "
                        "aborted",
                        (long long)c->trx.zone_id);
        trx_clear(&c->trx);
    }
}

static void m_start_trx(rb_conn_t *c, json_t *params, perr_t *e)
{
    int64_t id, trxid;
    const zone_t *z = NULL;
    int rc =
        p_int(params, "domain_id", true, -1, &id, e) || p_int(params, "trxid", true, 0, &trxid, e)
            ? GS_EINVAL
            : find_zone(c, params, "domain_id", "domain", &z, e);
    if (rc) {
        start_refused(c);
        if (rc == GS_EINVAL)
            put_false_log(c, "%s", e->err.text);
        else if (id >= 0)
            put_false_log(c, "startTransaction: zone id %lld does not exist", (long long)id);
        else
            put_false_log(c, "startTransaction: zone does not exist");
        return;
    }
    bool replace_all = id >= 0;
    id = z->id;
    if (c->trx.active)
        log_info("rb: startTransaction replaces an open transaction on zone id %lld",
                 (long long)c->trx.zone_id);
    trx_begin(&c->trx, id, trxid, replace_all);
    put_true(c);
}

/* Validates one record of a write and appends it to `op`. */
static int add_rec(trx_op_t *op, const zone_t *z, const steer_t *st, json_t *rr, perr_t *e)
{
    const char *method = e->method;
    json_t *jn = json_object_get(rr, "qname"), *jt = json_object_get(rr, "qtype");
    json_t *jc = json_object_get(rr, "content"), *jl = json_object_get(rr, "ttl");
    if (!json_is_string(jn) || !json_is_string(jt) || !json_is_string(jc))
        return gs_err_set(&e->err, GS_EINVAL, "%s: record needs string qname, qtype and content",
                          method);
    char name[DNAME_MAXTEXT + 1];
    gs_err_t ge;
    size_t nlen = json_string_length(jn);
    int n = nlen <= DNAME_MAXTEXT ? dname_canon(json_string_value(jn), nlen, true, name, &ge)
                                  : gs_err_set(&ge, GS_EINVAL, "name too long");
    if (n < 0)
        return gs_err_set(&e->err, GS_EINVAL, "%s: %s", method, ge.text);
    if (!dname_in_zone(name, (size_t)n, z->name, z->name_len))
        return gs_err_set(&e->err, GS_EINVAL, "%s: %s is not in zone %s", method, name, z->name);
    const rr_type_t *t = rr_type_find(json_string_value(jt), json_string_length(jt));
    if (!t)
        return gs_err_set(&e->err, GS_EINVAL, "%s: %s: record type '%.32s' is not supported",
                          method, name, json_string_value(jt));
    if (op->name && (strcmp(op->name, name) != 0 || op->type != t))
        return gs_err_set(&e->err, GS_EINVAL, "%s: record %s %s does not belong to the rrset %s %s",
                          method, name, t->name, op->name, op->type->name);
    if (t->code == RR_TYPE_SOA && (size_t)n != z->name_len)
        return gs_err_set(&e->err, GS_EINVAL,
                          "%s: %s: SOA records are only allowed at the zone apex %s", method, name,
                          z->name);
    int64_t ttl = 0;
    if (json_is_integer(jl))
        ttl = json_integer_value(jl);
    else if (json_is_real(jl))
        ttl = (int64_t)json_real_value(jl);
    else if (jl)
        return gs_err_set(&e->err, GS_EINVAL, "%s: %s %s: ttl must be a number", method, name,
                          t->name);
    if (ttl < 0 || ttl > 2147483647)
        return gs_err_set(&e->err, GS_EINVAL, "%s: %s %s: ttl %lld out of range 0..2147483647",
                          method, name, t->name, (long long)ttl);
    buf_t norm;
    buf_init(&norm);
    luac_prog_t *prog = NULL;
    int rc = 0;
    if (zone_rec_prepare(t, json_string_value(jc), &norm, &prog, &ge) != 0)
        rc = gs_err_set(&e->err, GS_EINVAL, "%s: %s: %s", method, name, ge.text);
    /* steer(), alone or inside a chain, names a policy of the config */
    else if (prog && state_check_prog(st, prog, &ge) != 0)
        rc = gs_err_set(&e->err, GS_EINVAL, "%s: %s: LUA %s: %s", method, name, prog->type->name,
                        ge.text);
    if (rc) {
        luac_free(prog);
        buf_free(&norm);
        return rc;
    }
    if (!op->name) {
        op->name = mem_strdup(name);
        op->type = t;
    }
    op->recs = mem_realloc_n(op->recs, op->nrecs + 1, sizeof(*op->recs));
    /* An exact copy: the normalising buffer has room for 256 bytes or more,
     * and a load-zone keeps up to TRX_MAX_RECORDS of these. */
    op->recs[op->nrecs++] = (trx_rec_t){
        .type = t, .content = mem_strndup(norm.data, norm.len), .ttl = (uint32_t)ttl, .prog = prog};
    buf_free(&norm);
    return 0;
}

/* One record of a name as the open transaction would leave it. */
typedef struct {
    const rr_type_t *type;
    const char *content; /* borrowed from the snapshot or the transaction */
    uint32_t ttl;
    bool auth;
} view_rec_t;

/* Applies pending op `o` to the records `v` (count *cnt, room *cap) of its
 * name: a replaceRRSet drops its type first, a feedRecord adds. */
static view_rec_t *view_apply(view_rec_t *v, size_t *cnt, size_t *cap, const trx_op_t *o)
{
    if (!o->feed) {
        size_t keep = 0;
        for (size_t k = 0; k < *cnt; k++)
            if (v[k].type != o->type)
                v[keep++] = v[k];
        *cnt = keep;
    }
    for (size_t k = 0; k < o->nrecs; k++) {
        if (*cnt == *cap)
            v = mem_realloc_n(v, *cap *= 2, sizeof(*v));
        v[(*cnt)++] = (view_rec_t){o->recs[k].type, o->recs[k].content, o->recs[k].ttl, true};
    }
    return v;
}

/* Returns (owned array, count in *n) the records `name` (canonical) of zone
 * `z` would hold after the connection's pending operations and then `extra`
 * (may be NULL): the snapshot's records unless the transaction replaces the
 * whole zone, a replaceRRSet dropping its type first, a feedRecord adding. */
static view_rec_t *name_view(const rb_conn_t *c, const zone_t *z, const char *name,
                             const trx_op_t *extra, size_t *n)
{
    size_t cap = 8, cnt = 0;
    view_rec_t *v = mem_calloc(cap, sizeof(*v));
    if (!c->trx.replace_all) {
        const zone_node_t *node = zone_find(z, name, strlen(name), dname_hash(name, strlen(name)));
        for (uint32_t k = 0; node && k < node->nrecs; k++) {
            if (cnt == cap)
                v = mem_realloc_n(v, cap *= 2, sizeof(*v));
            const zone_rec_t *r = &node->recs[k];
            v[cnt++] = (view_rec_t){r->type, r->content, r->ttl, r->auth};
        }
    }
    /* The pending ops on this name come from the transaction's name index:
     * a transaction of many replaceRRSets stays linear. */
    for (size_t i = trx_next_on(&c->trx, name, SIZE_MAX); i != SIZE_MAX;
         i = trx_next_on(&c->trx, name, i))
        v = view_apply(v, &cnt, &cap, &c->trx.ops[i]);
    if (extra && strcmp(extra->name, name) == 0)
        v = view_apply(v, &cnt, &cap, extra);
    *n = cnt;
    return v;
}

/* Refuses `op` if, after the pending operations, its name would hold a CNAME
 * beside anything else or a second CNAME, or the apex would lose its single
 * SOA. Checked here so that add-record and replace-rrset fail at once with
 * the reason (pdnsutil ignores the result of the commit); the commit checks
 * again against the store. */
static int check_name_after(rb_conn_t *c, const zone_t *z, const trx_op_t *op, perr_t *e)
{
    size_t n, cnames = 0, soas = 0;
    view_rec_t *v = name_view(c, z, op->name, op, &n);
    const rr_type_t *clash = NULL;
    for (size_t k = 0; k < n; k++) {
        const rr_type_t *t = v[k].type;
        if (t->kind == RR_KIND_LUA) {
            /* a static record of the type a LUA record answers */
            const rr_type_t *dt = rr_lua_qtype(v[k].content);
            for (size_t j = 0; dt && j < n; j++)
                if (v[j].type == dt)
                    clash = dt;
            t = rr_lua_qtype(v[k].content); /* a LUA CNAME is a CNAME */
        }
        cnames += t && t->code == RR_TYPE_CNAME;
        soas += t && t->code == RR_TYPE_SOA;
    }
    free(v);
    if (clash) {
        return gs_err_set(&e->err, GS_ECONFLICT,
                          "replaceRRSet: %s: %s is answered by a LUA record at this name; change "
                          "that record instead",
                          op->name, clash->name);
    }
    if (cnames && n > cnames)
        return gs_err_set(
            &e->err, GS_ECONFLICT,
            "replaceRRSet: %s: CNAME cannot coexist with other records at the same name", op->name);
    if (cnames > 1)
        return gs_err_set(&e->err, GS_ECONFLICT,
                          "replaceRRSet: %s: more than one CNAME record at this name", op->name);
    if (strcmp(op->name, z->name) == 0 && op->type->code == RR_TYPE_SOA && soas != 1)
        return gs_err_set(&e->err, GS_ECONFLICT,
                          "replaceRRSet: %s: the zone apex must have exactly one SOA record",
                          op->name);
    return 0;
}

/* A lookup on a connection with pending changes (pdnsutil add-record and
 * replace-rrset look the rrset up again before committing, to print it):
 * answers from the snapshot overlaid with the transaction, built per call.
 * Only pdnsutil's connections ever get here; pdns_server never opens a
 * transaction on its query connections. */
static void overlay_lookup(rb_conn_t *c, const lookup_req_t *r)
{
    const char *qname = r->qname, *qtype = r->qtype;
    size_t qlen = r->qlen, qtlen = r->qtlen;
    int64_t zone_id = r->zone_id;
    char name[DNAME_MAXTEXT + 2];
    gs_err_t ge;
    int len = qlen && qlen <= DNAME_MAXTEXT ? dname_canon(qname, qlen, true, name, &ge) : -1;
    if (len < 0) {
        put_false(c);
        return;
    }
    const snap_t *s = c->lk.snap;
    const zone_t *z =
        zone_id >= 0 ? snap_zone_by_id(s, zone_id) : snap_zone_for(s, name, (size_t)len);
    if (!z || z->id != c->trx.zone_id) {
        lk_answer(&c->lk, r, LK_JSON, &c->out);
        return;
    }
    size_t n;
    view_rec_t *v = name_view(c, z, name, NULL, &n);
    bool any = qtlen == 3 && memcmp(qtype, "ANY", 3) == 0;
    zone_node_t node = {.name = name, .name_len = (uint32_t)len};
    buf_reset(&c->out);
    buf_puts(&c->out, "{\"result\":[");
    size_t emitted = 0;
    for (size_t k = 0; k < n; k++) {
        if (any ? v[k].type->kind == RR_KIND_LUA
                : (strlen(v[k].type->name) != qtlen || memcmp(v[k].type->name, qtype, qtlen)))
            continue;
        zone_rec_t rec = {
            .type = v[k].type, .content = v[k].content, .ttl = v[k].ttl, .auth = v[k].auth};
        if (emitted++)
            buf_putc(&c->out, ',');
        zone_rec_json(&c->out, z, &node, &rec);
    }
    buf_puts(&c->out, "]}\n");
    free(v);
    if (!emitted)
        put_false(c);
}

static void refuse_msg(rb_conn_t *c, const char *msg);

/* The open transaction's zone in the request's snapshot, or NULL with the
 * refusal written. */
static const zone_t *trx_zone(rb_conn_t *c, perr_t *e)
{
    if (!c->trx.active) {
        put_false_log(c, "%s: no transaction is open on this connection", e->method);
        return NULL;
    }
    const zone_t *z = snap_zone_by_id(c->lk.snap, c->trx.zone_id);
    if (!z) {
        gs_err_set(&e->err, GS_ENOTFOUND, "%s: zone id %lld no longer exists", e->method,
                   (long long)c->trx.zone_id);
        refuse_msg(c, e->err.text);
    }
    return z;
}

/* Refuses a write with `msg`. Every refusal of a write method goes through
 * here: inside a transaction the first one poisons it, so its commit is
 * refused whole (pdnsutil load-zone ignores the per-record results). */
static void refuse_msg(rb_conn_t *c, const char *msg)
{
    put_false_log(c, "%s", msg);
    if (c->trx.active) {
        /* A transfer into a secondary zone is logged once per serial by
         * its refused commit (state_commit), with the first reason. */
        const zone_t *z = c->lk.snap ? snap_zone_by_id(c->lk.snap, c->trx.zone_id) : NULL;
        bool xfr = c->trx.replace_all && z && z->kind == STORE_KIND_SECONDARY;
        trx_poison(&c->trx, msg);
        if (!xfr)
            state_write_refused(c->trx.zone_id, "write", GS_EINVAL, msg); /* logged, in status */
    }
}

/* Ends a write: appends the validated `op` to the transaction (or refuses
 * it: size limits) when `rc` is 0, else drops it and refuses the write with
 * the reason in `e`. Writes the reply. */
static void take_op(rb_conn_t *c, trx_op_t *op, int rc, perr_t *e)
{
    gs_err_t ge;
    if (rc == 0 && (rc = trx_add_take(&c->trx, op, &ge)) == 0) {
        put_true(c);
        return;
    }
    if (rc == GS_ETOOBIG)
        gs_err_set(&e->err, rc, "%s: %s", e->method, ge.text);
    trx_op_free(op);
    refuse_msg(c, e->err.text);
}

static void m_replace_rrset(rb_conn_t *c, json_t *params, perr_t *e)
{
    char name[DNAME_MAXTEXT + 1];
    size_t nlen;
    const char *qtype;
    size_t qtlen;
    json_t *rrset = json_object_get(params, "rrset");
    if (p_name(params, "qname", name, &nlen, e) || p_str(params, "qtype", &qtype, &qtlen, e)) {
        refuse_msg(c, e->err.text);
        return;
    }
    if (!json_is_array(rrset)) {
        refuse_msg(c, "replaceRRSet: parameter 'rrset' must be an array");
        return;
    }
    const zone_t *z = trx_zone(c, e);
    if (!z)
        return;
    trx_op_t op = {0};
    int rc = 0;
    const rr_type_t *t = rr_type_find(qtype, qtlen);
    if (!t)
        rc = gs_err_set(&e->err, GS_EINVAL,
                        "replaceRRSet: %s: record type '%.32s' is not supported", name, qtype);
    else if (!dname_in_zone(name, nlen, z->name, z->name_len))
        rc = gs_err_set(&e->err, GS_EINVAL, "replaceRRSet: %s is not in zone %s", name, z->name);
    if (rc == 0) {
        op.name = mem_strdup(name);
        op.type = t;
    }
    size_t i;
    json_t *rr;
    json_array_foreach(rrset, i, rr)
    {
        if (rc)
            break;
        if (!json_is_object(rr))
            rc = gs_err_set(&e->err, GS_EINVAL, "replaceRRSet: rrset[%zu] is not an object", i);
        else
            rc = add_rec(&op, z, c->lk.snap->world->steer, rr, e);
    }
    if (rc == 0)
        rc = check_name_after(c, z, &op, e);
    take_op(c, &op, rc, e);
}

static void m_feed_record(rb_conn_t *c, json_t *params, perr_t *e)
{
    json_t *rr = json_object_get(params, "rr");
    if (!json_is_object(rr)) {
        refuse_msg(c, "feedRecord: parameter 'rr' must be an object");
        return;
    }
    const zone_t *z = trx_zone(c, e);
    if (!z)
        return;
    /* A transfer's serial, for the log and status even if it is refused. */
    json_t *jt = json_object_get(rr, "qtype"), *jc = json_object_get(rr, "content");
    uint32_t soa[5];
    if (json_is_string(jt) && strcmp(json_string_value(jt), "SOA") == 0 && json_is_string(jc) &&
        rr_soa_times(json_string_value(jc), soa) == 0) {
        c->trx.fed_soa = true;
        c->trx.fed_serial = soa[0];
    }
    /* A signed zone's transfer (and a zone file exported from one) carries
     * what pdns makes by itself when it signs live: left out, said once. */
    static const char *const derived[] = {"RRSIG",  "NSEC",    "NSEC3", "NSEC3PARAM",
                                          "DNSKEY", "CDNSKEY", "CDS"};
    for (size_t i = 0; json_is_string(jt) && i < sizeof(derived) / sizeof(derived[0]); i++) {
        if (strcmp(json_string_value(jt), derived[i]) == 0) {
            if (c->trx.dropped_dnssec++ == 0)
                log_info("rb: %s: fed %s record (and any more DNSSEC records of this "
                         "transaction) not stored: pdns signs geosteer zones live",
                         z->name, derived[i]);
            put_true(c);
            return;
        }
    }
    trx_op_t op = {.feed = true};
    take_op(c, &op, add_rec(&op, z, c->lk.snap->world->steer, rr, e), e);
}

/* feedEnts / feedEnts3 (pdns sends them after an AXFR into a secondary
 * zone): empty non-terminals are derived from the records at every commit,
 * so the names are only checked (strings, or pdns 4's {"nonterm": name}
 * objects, inside the zone) and not kept. A bad one is a refused write. */
static void feed_ents(rb_conn_t *c, json_t *params, perr_t *e)
{
    json_t *nt = json_object_get(params, "nonterm");
    if (!json_is_array(nt)) {
        gs_err_set(&e->err, GS_EINVAL, "%s: parameter 'nonterm' must be an array", e->method);
        refuse_msg(c, e->err.text);
        return;
    }
    const zone_t *z = trx_zone(c, e);
    if (!z)
        return;
    size_t i;
    json_t *v;
    int rc = 0;
    json_array_foreach(nt, i, v)
    {
        json_t *s = json_is_object(v) ? json_object_get(v, "nonterm") : v;
        char name[DNAME_MAXTEXT + 1];
        gs_err_t ge;
        size_t len = json_string_length(s);
        int n = !json_is_string(s)     ? gs_err_set(&ge, GS_EINVAL, "not a name")
                : len <= DNAME_MAXTEXT ? dname_canon(json_string_value(s), len, true, name, &ge)
                                       : gs_err_set(&ge, GS_EINVAL, "name too long");
        if (n < 0)
            rc = gs_err_set(&e->err, GS_EINVAL, "%s: nonterm[%zu]: %s", e->method, i, ge.text);
        else if (!dname_in_zone(name, (size_t)n, z->name, z->name_len))
            rc = gs_err_set(&e->err, GS_EINVAL, "%s: %s is not in zone %s", e->method, name,
                            z->name);
        if (rc)
            break;
    }
    if (rc)
        refuse_msg(c, e->err.text);
    else
        put_true(c);
}

static void m_commit(rb_conn_t *c, json_t *params, perr_t *e)
{
    (void)params;
    (void)e;
    if (!c->trx.active) {
        put_false_log(c, "commitTransaction: no transaction is open on this connection");
        return;
    }
    release_snap(c);
    gs_err_t ge;
    int rc = state_commit(&c->trx, &ge);
    trx_clear(&c->trx);
    if (rc == 0)
        put_true(c);
    else
        put_false_log(c, "commitTransaction: %s", ge.text);
}

static void m_abort(rb_conn_t *c, json_t *params, perr_t *e)
{
    (void)params;
    (void)e;
    trx_clear(&c->trx);
    put_true(c);
}

static void m_initialize(rb_conn_t *c, json_t *params, perr_t *e)
{
    (void)params;
    (void)e;
    put_true(c);
}

static void m_backend_cmd(rb_conn_t *c, json_t *params, perr_t *e)
{
    const char *q;
    if (p_str(params, "query", &q, NULL, e)) {
        put_false_log(c, "%s", e->err.text);
        return;
    }
    release_snap(c); /* commands change state through the writer */
    buf_t text;
    buf_init(&text);
    admin_run(q, &text);
    buf_reset(&c->out);
    buf_puts(&c->out, "{\"result\":");
    buf_put_jstr(&c->out, text.data, text.len);
    buf_puts(&c->out, "}\n");
    buf_free(&text);
}

typedef void (*method_fn)(rb_conn_t *, json_t *, perr_t *);
static const struct {
    const char *name;
    method_fn fn;
} methods[] = {
    {"lookup", m_lookup},
    {"initialize", m_initialize},
    {"getAllDomains", m_get_all_domains},
    {"getDomainInfo", m_get_domain_info},
    {"list", m_list},
    {"getAllDomainMetadata", m_get_all_meta},
    {"getDomainMetadata", m_get_meta},
    {"setDomainMetadata", m_set_meta},
    {"getUpdatedMasters", m_get_updated_masters},
    {"setNotified", m_set_notified},
    {"getUnfreshSlaveInfos", m_get_unfresh},
    {"setFresh", m_set_fresh},
    {"setStale", m_set_stale},
    {"superMasterBackend", m_supermaster},
    {"createSlaveDomain", m_create_slave},
    {"getTSIGKey", m_get_tsig_key},
    {"getTSIGKeys", m_get_tsig_keys},
    {"setTSIGKey", m_set_tsig_key},
    {"deleteTSIGKey", m_delete_tsig_key},
    {"getDomainKeys", m_get_domain_keys},
    {"addDomainKey", m_add_domain_key},
    {"removeDomainKey", m_remove_domain_key},
    {"activateDomainKey", m_activate_domain_key},
    {"deactivateDomainKey", m_deactivate_domain_key},
    {"publishDomainKey", m_publish_domain_key},
    {"unpublishDomainKey", m_unpublish_domain_key},
    {"getBeforeAndAfterNamesAbsolute", m_before_after},
    {"startTransaction", m_start_trx},
    {"replaceRRSet", m_replace_rrset},
    {"feedRecord", m_feed_record},
    {"feedEnts", feed_ents},
    {"feedEnts3", feed_ents},
    {"commitTransaction", m_commit},
    {"abortTransaction", m_abort},
    {"directBackendCmd", m_backend_cmd},
};

/* A line that is not a well-formed request, inside an open transaction,
 * may have been one of its writes: it poisons the transaction too. */
static void poison_malformed(rb_conn_t *c)
{
    static const char why[] = "a malformed request line inside the transaction";
    if (c->trx.active) {
        trx_poison(&c->trx, why);
        state_write_refused(c->trx.zone_id, "write", GS_EINVAL, why);
    }
}

static void handle(rb_conn_t *c, const char *line, size_t len);

#define RB_NMETHODS (sizeof(methods) / sizeof(methods[0]))
_Static_assert(RB_NMETHODS < STATS_METHODS, "stats.h must number every method and 'other'");

const char *rb_method_name(unsigned i)
{
    return i < RB_NMETHODS ? methods[i].name : i == RB_NMETHODS ? "other" : NULL;
}

unsigned rb_method_index(const char *name)
{
    unsigned i = 0;
    while (i < RB_NMETHODS && strcmp(methods[i].name, name) != 0)
        i++;
    return i;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Counts the request just answered: by method and by what the reply says
 * (records, nothing, or an error with a log line), and a lookup's time. */
static void count_request(rb_conn_t *c, uint64_t t0)
{
    static const char empty[] = "{\"result\":false}";
    static const char error[] = "{\"result\":false,\"log\"";
    const buf_t *o = &c->out;
    unsigned result = STATS_RESULT_DATA;
    if (o->len >= sizeof(error) - 1 && memcmp(o->data, error, sizeof(error) - 1) == 0)
        result = STATS_RESULT_ERROR;
    else if (o->len >= sizeof(empty) - 1 && memcmp(o->data, empty, sizeof(empty) - 1) == 0)
        result = STATS_RESULT_EMPTY;
    metrics_add(c->lk.sh,
                STAT_REQUESTS + stats_request_index(STATS_IFACE_REMOTE, c->method, result), 1);
    if (c->method == 0) { /* lookup */
        uint64_t ns = mono_ns() - t0;
        metrics_add(
            c->lk.sh,
            STAT_LOOKUP_LAT + stats_bucket_u64(stats_lat_bounds_ns, STATS_LAT_BUCKETS - 1, ns), 1);
        metrics_add(c->lk.sh, STAT_LOOKUP_LAT_SUM, ns);
    }
}

const buf_t *rb_handle(rb_conn_t *c, const char *line, size_t len)
{
    c->lk.counting = atomic_load_explicit(&stats_enabled, memory_order_relaxed);
    uint64_t t0 = c->lk.counting ? mono_ns() : 0;
    c->method = RB_NMETHODS;
    c->lk.snap = snap_pin(c->lk.slot);
    handle(c, line, len);
    release_snap(c);
    if (c->lk.counting)
        count_request(c, t0);
    return &c->out;
}

/* pdns's feedEnts3 carries the NSEC3 salt as raw octets in a JSON string:
 * not UTF-8, possibly \u0000, which no strict parser takes. The salt is not
 * used (empty non-terminals are derived at commit), so the line is parsed
 * again with every octet that is not UTF-8 read as '?'. */
static json_t *load_binary_salt(const char *line, size_t len, json_error_t *jerr)
{
    char *copy = mem_alloc(len);
    for (size_t i = 0; i < len; i++) {
        size_t n = (unsigned char)line[i] < 0x80 ? 1 : 0;
        for (size_t k = 2; !n && k <= 4 && i + k <= len; k++)
            if (buf_utf8_valid(line + i, k))
                n = k;
        if (!n) {
            copy[i] = '?';
            continue;
        }
        memcpy(copy + i, line + i, n);
        i += n - 1;
    }
    json_t *req = json_loadb(copy, len, JSON_ALLOW_NUL, jerr);
    free(copy);
    return req;
}

static void handle(rb_conn_t *c, const char *line, size_t len)
{
    scan_lookup_t sl;
    if (scan_lookup(line, len, &sl)) {
        c->method = 0; /* methods[0] is lookup */
        lookup_req_t r = {sl.qname.p,       sl.qtype.p,         sl.remote.p,
                          sl.real_remote.p, sl.qname.len,       sl.qtype.len,
                          sl.remote.len,    sl.real_remote.len, sl.zone_id};
        if (c->trx.active && c->trx.nops)
            overlay_lookup(c, &r);
        else
            lk_answer(&c->lk, &r, LK_JSON, &c->out);
        return;
    }
    json_error_t jerr;
    json_t *req = json_loadb(line, len, 0, &jerr);
    if (!req && len > 24 && memmem(line, len, "\"feedEnts3\"", 11))
        req = load_binary_salt(line, len, &jerr);
    if (!req) {
        put_false_log(c, "malformed request: %s at column %d", jerr.text, jerr.column);
        poison_malformed(c);
        return;
    }
    json_t *m = json_object_get(req, "method");
    json_t *params = json_object_get(req, "parameters");
    bool req_ok = false;
    if (!json_is_object(req)) {
        put_false_log(c, "malformed request: not a JSON object");
    } else if (!json_is_string(m)) {
        put_false_log(c, "malformed request: 'method' must be a string");
    } else if (params && !json_is_object(params)) {
        put_false_log(c, "malformed request: 'parameters' must be an object");
    } else {
        req_ok = true;
        json_t *empty = NULL;
        if (!params)
            params = empty = mem_check(json_object());
        const char *name = json_string_value(m);
        size_t i;
        for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
            if (strcmp(methods[i].name, name) == 0)
                break;
        c->method = (unsigned)i;
        if (i < sizeof(methods) / sizeof(methods[0])) {
            perr_t e = {.method = methods[i].name};
            methods[i].fn(c, params, &e);
        } else {
            put_false(c); /* unsupported method: pdns falls back to its defaults */
        }
        json_decref(empty);
    }
    if (!req_ok)
        poison_malformed(c);
    json_decref(req);
}
