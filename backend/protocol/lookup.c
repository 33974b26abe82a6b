#include "backend/protocol/lookup.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/daemon/declog.h"
#include "backend/daemon/state.h"
#include "backend/daemon/stats.h"
#include "backend/dns/dname.h"
#include "backend/steering/health.h"
#include "backend/steering/luaeval.h"
#include "backend/steering/steer.h"
#include "backend/zones/zone.h"
#include "common/log.h"
#include "common/mem.h"

static const char json_false[] = "{\"result\":false}\n";

static uint64_t mix_seed(uint64_t x)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    x ^= (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec;
    return x ? x : 0x853c49e6748fea9bull;
}

bool lk_ctx_init(lk_ctx_t *c)
{
    memset(c, 0, sizeof(*c));
    c->slot = snap_slot_get();
    if (!c->slot)
        return false;
    c->rnd = mix_seed((uintptr_t)c);
    c->sh = metrics_shard_new();
    return true;
}

void lk_ctx_fini(lk_ctx_t *c)
{
    snap_slot_put(c->slot);
    metrics_shard_retire(c->sh);
    free(c->cont);
    free(c->held);
    memset(c, 0, sizeof(*c));
}

/* Wall-clock seconds for override expiry; the coarse clock costs a few ns. */
static int64_t now_coarse(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (int64_t)ts.tv_sec;
}

static uint64_t next_random(lk_ctx_t *c)
{
    uint64_t x = c->rnd;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return c->rnd = x;
}

/* The pipe backend splits a DATA line on tabs and joins the content's
 * fields with single spaces, so content must carry no tab: one inside a
 * quoted string becomes the \009 escape (the same octet once parsed), one
 * outside is a separator and becomes a space. */
static void put_pipe_content(buf_t *out, const char *s)
{
    bool quoted = false;
    for (const char *p = s; *p; p++) {
        if (*p == '\t') {
            buf_puts(out, quoted ? "\\009" : " ");
            continue;
        }
        if (*p == '\\' && quoted && p[1]) {
            buf_putc(out, *p++);
        } else if (*p == '"') {
            quoted = !quoted;
        }
        buf_putc(out, *p);
    }
}

void lk_put_rec(buf_t *out, lk_format_t f, int64_t zone_id, const char *name, size_t name_len,
                const char *type, const char *content, uint32_t ttl, bool auth, uint8_t scope)
{
    if (f == LK_JSON) {
        buf_puts(out, "{\"qtype\":\"");
        buf_puts(out, type);
        buf_puts(out, "\",\"qname\":");
        buf_put_jstr(out, name, name_len);
        buf_puts(out, ",\"content\":");
        buf_put_jstr(out, content, strlen(content));
        buf_puts(out, ",\"ttl\":");
        buf_put_int(out, ttl);
        buf_puts(out, auth ? ",\"auth\":1,\"domain_id\":" : ",\"auth\":0,\"domain_id\":");
        buf_put_int(out, zone_id);
        buf_puts(out, ",\"scopeMask\":");
        buf_put_int(out, scope);
        buf_putc(out, '}');
        return;
    }
    /* DATA scope auth qname class type ttl id content. pdns keeps only the
     * first two content fields of MX and SRV, so their priority is a field
     * of its own. An ENT cannot be written at all: its content must be
     * empty, and pdns drops empty fields and trailing blanks from the line
     * (4.7 then fails the whole answer). Callers leave ENTs out; see
     * lk_answer. */
    if (strcmp(type, "ENT") == 0)
        return;
    buf_puts(out, "DATA\t");
    buf_put_int(out, scope);
    buf_puts(out, auth ? "\t1\t" : "\t0\t");
    buf_put(out, name, name_len);
    buf_puts(out, "\tIN\t");
    buf_puts(out, type);
    buf_putc(out, '\t');
    buf_put_int(out, ttl);
    buf_putc(out, '\t');
    buf_put_int(out, zone_id);
    buf_putc(out, '\t');
    if (strcmp(type, "MX") == 0 || strcmp(type, "SRV") == 0) {
        const char *sp = strchr(content, ' ');
        if (sp) {
            buf_put(out, content, (size_t)(sp - content));
            buf_putc(out, '\t');
            content = sp + 1;
        }
        put_pipe_content(out, content);
    } else {
        put_pipe_content(out, content);
    }
    buf_putc(out, '\n');
}

/* Writes the separator before a JSON record that is not the first. */
static void sep(buf_t *out, lk_format_t f, size_t emitted)
{
    if (f == LK_JSON && emitted)
        buf_putc(out, ',');
}

static void put_rec(buf_t *out, lk_format_t f, const zone_t *z, const zone_node_t *node,
                    const char *type, const char *content, uint32_t ttl, bool auth, uint8_t scope,
                    size_t emitted)
{
    sep(out, f, emitted);
    lk_put_rec(out, f, z->id, node->name, node->name_len, type, content, ttl, auth, scope);
}

/* Appends the records of a steering decision: each picked endpoint's values
 * of type `t`. Returns how many. */
static size_t put_decision(buf_t *out, lk_format_t f, const steer_t *st, const zone_t *z,
                           const zone_node_t *node, const rr_type_t *t, const steer_decision_t *d,
                           size_t emitted)
{
    size_t added = 0;
    for (uint16_t k = 0; k < d->n; k++) {
        size_t nv;
        const char *const *vals =
            steer_endpoint_values(st, d->picks[k], steer_qt_bit(t->code), &nv);
        for (size_t v = 0; v < nv; v++, added++)
            put_rec(out, f, z, node, t->name, vals[v], d->ttl, true, d->scope, emitted + added);
    }
    return added;
}

/* Counts one evaluated dynamic record: the scope it returned and, for a
 * steering decision, the decision and its picks (steer_stats.h). */
static void count_answer(lk_ctx_t *c, const snap_world_t *w, const steer_client_t *cl,
                         const luae_result_t *res)
{
    unsigned b = 0;
    while (b < STATS_SCOPE_BUCKETS - 1 && res->scope > stats_scope_bounds[b])
        b++;
    metrics_add(c->sh, STAT_SCOPE + b, 1);
    metrics_add(c->sh, STAT_SCOPE_SUM, res->scope);
    const steer_stats_t *m = w->engine ? w->engine->stats : NULL;
    if (!res->steered || !m)
        return;
    _Atomic uint64_t *dyn = metrics_shard_dyn(c->sh, steer_stats_labels(m));
    if (!c->cont)
        c->cont = mem_calloc(1, sizeof(*c->cont));
    unsigned missed = steer_stats_count(m, dyn, res->policy, &res->sd,
                                        steer_stats_client_continent_cached(m, c->cont, cl));
    if (missed)
        metrics_add(c->sh, STAT_STEER_UNMAPPED, missed);
}

static bool type_is(const rr_type_t *t, const lookup_req_t *r)
{
    return strlen(t->name) == r->qtlen && memcmp(t->name, r->qtype, r->qtlen) == 0;
}

/* Counts and logs one evaluated dynamic record (metrics, decision log). */
static void settle(lk_ctx_t *c, const zone_node_t *node, const lookup_req_t *r,
                   const zone_rec_t *rec, const steer_client_t *cl, const luae_result_t *res)
{
    const snap_t *s = c->snap;
    const char *policy = luac_prog_policy(rec->prog);
    if (policy && !res->steered && c->counting)
        metrics_add(c->sh, STAT_POLICY_MISSING, 1);
    if (policy && !res->steered)
        LOG_RATELIMITED(LOG_WARNING, "lookup: %s: policy '%s' is not in the loaded config",
                        node->name, policy);
    if (c->counting)
        count_answer(c, s->world, cl, res);
    if (declog_wanted()) /* sampled and capped; no lock or system call when not */
        declog_write(&(declog_event_t){.world = s->world,
                                       .qname = node->name,
                                       .qname_len = node->name_len,
                                       .qtype = r->qtype,
                                       .qtype_len = r->qtlen,
                                       .remote = r->remote,
                                       .remote_len = r->remote_len,
                                       .rec = rec,
                                       .client = cl,
                                       .res = res,
                                       .ttl = res->sd.ttl});
}

/* A pipe ANY answer whose ENT is needed is not sent (lk_answer), and pdns
 * then asks the remote backend, which evaluates and counts the name again.
 * So for pipe ANY lookups the results are held and settled only once the
 * answer is known to be sent: every decision is counted and logged once.
 * Up to LK_HELD results (32 KiB each, per connection); a name with more
 * dynamic records of the asked types settles as it goes. */
#define LK_HELD 4

/* Answers a name holding dynamic records (compiled LUA records, plain
 * steer('policy') ones included): its static records, then each dynamic
 * record's answer for this client, with the decision's TTL and scope. A
 * dynamic record that yields nothing for this client still leaves the name
 * existing: an ANY lookup then also carries an ENT record with that
 * answer's scope, so that pdns says NOERROR/NODATA (never NXDOMAIN) and, the
 * scope being non-zero whenever other clients may get data, keeps the reply
 * out of its query cache. */
static size_t dyn_reply(lk_ctx_t *c, const zone_t *z, const zone_node_t *node,
                        const lookup_req_t *r, lk_format_t f, buf_t *out, bool *ent, bool internal)
{
    const snap_t *s = c->snap;
    bool any = r->qtlen == 3 && memcmp(r->qtype, "ANY", 3) == 0;
    size_t emitted = 0, ndyn = 0;
    for (uint32_t i = 0; i < node->nrecs; i++) {
        const zone_rec_t *rec = &node->recs[i];
        if (rec->dyn_type && (any || type_is(rec->dyn_type, r)))
            ndyn++;
        if (any ? rec->type->kind == RR_KIND_LUA : !type_is(rec->type, r))
            continue;
        put_rec(out, f, z, node, rec->type->name, rec->content, rec->ttl, rec->auth, 0, emitted++);
    }
    bool hold = f == LK_PIPE && any && ndyn <= LK_HELD;
    if (hold && !c->held)
        c->held = mem_alloc(LK_HELD * sizeof(*c->held));
    const zone_rec_t *held_rec[LK_HELD];
    size_t nheld = 0;
    steer_client_t cl;
    const char *rem = r->remote, *real = r->real_remote;
    size_t rem_len = r->remote_len, real_len = r->real_remote_len;
    if (internal && c->last_remote_len) {
        rem = c->last_remote;
        rem_len = c->last_remote_len;
        real = c->last_real;
        real_len = c->last_real_len;
    }
    if (steer_client_parse(real, real_len, rem, rem_len, &cl) != 0)
        steer_client_parse(NULL, 0, "0.0.0.0", 7, &cl);
    const steer_t *st = s->world->steer;
    steer_admin_t adm = s->world->admin;
    adm.now = now_coarse();
    bool empty = false;
    uint32_t empty_ttl = UINT32_MAX;
    uint8_t empty_scope = 0;
    luae_result_t one;
    for (uint32_t i = 0; i < node->nrecs; i++) {
        const zone_rec_t *rec = &node->recs[i];
        if (!rec->dyn_type || !(any || type_is(rec->dyn_type, r)))
            continue;
        /* The compiled program, steer('policy') included: a plain steer()
         * record takes the policy's TTL, any other the record's own; the
         * scope is what the evaluation needed. */
        luae_env_t env = {.client = &cl,
                          .geo = s->world->geo,
                          .asn = s->world->asn,
                          .rnd = next_random(c),
                          .steer = st,
                          .admin = &adm,
                          .check_state = health_check_state,
                          .check_ctx = s->world->health};
        luae_result_t *res = hold ? &c->held[nheld] : &one;
        luae_eval(rec->prog, &env, res);
        uint32_t ttl = luac_prog_policy(rec->prog) && res->steered ? res->sd.ttl : rec->ttl;
        uint8_t scope = res->scope;
        res->sd.ttl = ttl;
        res->sd.scope = scope;
        if (hold)
            held_rec[nheld++] = rec;
        else if (!internal) /* pdns's own lookups are not decisions */
            settle(c, node, r, rec, &cl, res);
        size_t added;
        if (res->steered) {
            added = put_decision(out, f, st, z, node, rec->dyn_type, &res->sd, emitted);
        } else {
            for (size_t v = 0; v < res->n; v++)
                put_rec(out, f, z, node, rec->dyn_type->name, res->vals[v], ttl, true, scope,
                        emitted + v);
            added = res->n;
        }
        emitted += added;
        if (!added) {
            empty = true;
            if (scope > empty_scope)
                empty_scope = scope;
            if (ttl < empty_ttl)
                empty_ttl = ttl;
        }
    }
    *ent = any && empty;
    /* A held pipe answer needing its ENT is not sent: the remote backend's
     * answer is the one counted. */
    if (!(f == LK_PIPE && *ent))
        for (size_t k = 0; k < nheld; k++)
            settle(c, node, r, held_rec[k], &cl, &c->held[k]);
    /* For pdns's own ANY lookup (an NSEC type bitmap) the ENT is still
     * needed: without a record carrying the scope, pdns would keep the
     * empty result in its query cache and answer NODATA to every client.
     * Marked not authoritative, it stays out of the bitmap (pdns lists
     * only authoritative types and NS there). */
    if (*ent)
        put_rec(out, f, z, node, "ENT", "", empty_ttl, !internal, empty_scope, emitted++);
    return emitted;
}

/* Whether pdns passed a client subnet: real-remote is then not the
 * resolver's own address as a /32 or /128 (nor a /0: no subnet asked). */
static bool has_ecs(const lookup_req_t *r)
{
    if (!r->real_remote || r->real_remote_len < 3)
        return false;
    const char *rr = r->real_remote;
    size_t n = r->real_remote_len;
    if (memcmp(rr + n - 2, "/0", 2) == 0)
        return false;
    if (r->remote && n > r->remote_len && memcmp(rr, r->remote, r->remote_len) == 0) {
        const char *pl = rr + r->remote_len;
        size_t pn = n - r->remote_len;
        if ((pn == 3 && memcmp(pl, "/32", 3) == 0) || (pn == 4 && memcmp(pl, "/128", 4) == 0))
            return false;
    }
    return true;
}

/* The static records of `node` for the question, one by one (the pipe
 * format; JSON replies are prebuilt by the zone). */
static size_t static_pipe(const zone_t *z, const zone_node_t *node, const lookup_req_t *r,
                          buf_t *out)
{
    bool any = r->qtlen == 3 && memcmp(r->qtype, "ANY", 3) == 0;
    size_t emitted = 0;
    for (uint32_t i = 0; i < node->nrecs; i++) {
        const zone_rec_t *rec = &node->recs[i];
        if (any ? rec->type->kind == RR_KIND_LUA : !type_is(rec->type, r))
            continue;
        put_rec(out, LK_PIPE, z, node, rec->type->name, rec->content, rec->ttl, rec->auth, 0,
                emitted++);
    }
    return emitted;
}

/* A lookup pdns makes for itself, with no query packet (the type bitmap of
 * an NSEC or NSEC3 record): remote 0.0.0.0 and real-remote 0.0.0.0/0. */
static bool internal_lookup(const lookup_req_t *r)
{
    return (!r->remote || (r->remote_len == 7 && memcmp(r->remote, "0.0.0.0", 7) == 0)) &&
           (!r->real_remote ||
            (r->real_remote_len == 9 && memcmp(r->real_remote, "0.0.0.0/0", 9) == 0));
}

/* Remembers the client of a lookup that has one, in a signed zone
 * (lk_ctx_t.last_remote). */
static void remember_client(lk_ctx_t *c, const lookup_req_t *r)
{
    if (!r->remote || r->remote_len >= sizeof(c->last_remote) ||
        (r->real_remote && r->real_remote_len >= sizeof(c->last_real)))
        return;
    memcpy(c->last_remote, r->remote, r->remote_len);
    c->last_remote_len = (uint8_t)r->remote_len;
    c->last_real_len = r->real_remote ? (uint8_t)r->real_remote_len : 0;
    if (c->last_real_len)
        memcpy(c->last_real, r->real_remote, c->last_real_len);
}

size_t lk_answer(lk_ctx_t *c, const lookup_req_t *r, lk_format_t f, buf_t *out)
{
    buf_reset(out);
    bool internal = internal_lookup(r);
    if (c->counting)
        metrics_add(c->sh, has_ecs(r) ? STAT_ECS_YES : STAT_ECS_NO, 1);
    char name[DNAME_MAXTEXT + 2];
    size_t qlen = r->qlen, n = 0;
    const zone_node_t *node = NULL;
    const zone_t *z = NULL;
    if (qlen > 0 && qlen <= DNAME_MAXTEXT) {
        uint32_t hash = dname_lower_hash(name, r->qname, qlen);
        if (name[qlen - 1] != '.' || (qlen >= 2 && name[qlen - 2] == '\\')) {
            /* pdns always sends absolute names; take a relative one as absolute. */
            name[qlen++] = '.';
            hash = dname_hash(name, qlen);
        }
        const snap_t *s = c->snap;
        z = r->zone_id >= 0 ? snap_zone_by_id(s, r->zone_id) : snap_zone_for(s, name, qlen);
        /* An expired secondary answers nothing (doc/replication.md). */
        if (z && z->kind == STORE_KIND_SECONDARY && state_zone_expired(z, (int64_t)time(NULL)))
            z = NULL;
        node = z ? zone_find(z, name, qlen, hash) : NULL;
    }
    /* Only a signed zone's bitmap lookups need the client; pdns asks them
     * inside the zone it is answering from. */
    if (z && z->nkeys && !internal)
        remember_client(c, r);
    if (f == LK_JSON) {
        if (node && node->dynamic) {
            bool ent;
            buf_puts(out, "{\"result\":[");
            n = dyn_reply(c, z, node, r, f, out, &ent, internal);
            buf_puts(out, "]}\n");
        } else {
            const zone_reply_t *rep = node ? zone_node_reply(node, r->qtype, r->qtlen) : NULL;
            if (rep) {
                buf_put(out, rep->json, rep->len);
                buf_putc(out, '\n');
                n = 1; /* at least one: the count is only compared with 0 */
            }
        }
        if (!n) {
            buf_reset(out);
            buf_put(out, json_false, sizeof(json_false) - 1);
        }
        return n;
    }
    /* The pipe cannot carry an ENT record (lk_put_rec). An answer that
     * needs one (an empty non-terminal; a dynamic record with nothing for
     * this client, whose ENT carries the scope) is left empty: pdns then
     * asks the remote backend, and uses its answer, ENT and scope
     * included. Correct, at the cost of a remote lookup for such names
     * (doc/pipe.md). */
    /* A signed zone's SOA is left to the remote backend: pdns asks the
     * backend that gave it the SOA for its denials (getBeforeAndAfter-
     * NamesAbsolute), which the pipe protocol cannot carry (pdns 4.7 aborts
     * when asked through the pipe backend). */
    if (node && z->nkeys && node->name_len == z->name_len && r->qtlen == 3 &&
        memcmp(r->qtype, "SOA", 3) == 0) {
        buf_puts(out, "END\n");
        return 0;
    }
    if (node && node->dynamic) {
        bool ent;
        n = dyn_reply(c, z, node, r, f, out, &ent, internal);
        if (ent) {
            buf_reset(out);
            n = 0;
        }
    } else if (node) {
        n = static_pipe(z, node, r, out);
    }
    buf_puts(out, "END\n");
    return n;
}
