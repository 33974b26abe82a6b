#include "backend/protocol/pipe.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/daemon/state.h"
#include "backend/daemon/stats.h"
#include "backend/protocol/admin.h"
#include "backend/protocol/lookup.h"
#include "backend/protocol/rb.h"
#include "backend/dns/dname.h"
#include "backend/zones/zone.h"
#include "common/log.h"
#include "common/mem.h"

/* Lowest ABI geosteerd serves: ABI 3 added the client subnet to questions
 * and the scope to answers, without which steering would be cached wrongly. */
#define PIPE_MIN_ABI 3
#define PIPE_MAX_ABI 5
#define PIPE_MAX_FIELDS 10

struct pipe_conn {
    lk_ctx_t lk;
    buf_t out;
    int abi;         /* from HELO; 0 before it */
    unsigned method; /* rb_method_name index counted for the request */
    /* The remote-backend methods each request is counted as (metrics). */
    unsigned m_lookup, m_list, m_init, m_cmd, m_other;
};

pipe_conn_t *pipe_conn_new(void)
{
    pipe_conn_t *c = mem_calloc(1, sizeof(*c));
    if (!lk_ctx_init(&c->lk)) {
        free(c);
        return NULL;
    }
    buf_init(&c->out);
    buf_reserve(&c->out, 4096);
    c->m_lookup = rb_method_index("lookup");
    c->m_list = rb_method_index("list");
    c->m_init = rb_method_index("initialize");
    c->m_cmd = rb_method_index("directBackendCmd");
    c->m_other = rb_method_index("");
    return c;
}

void pipe_conn_free(pipe_conn_t *c)
{
    if (!c)
        return;
    lk_ctx_fini(&c->lk);
    buf_free(&c->out);
    free(c);
}

void pipe_conn_trim(pipe_conn_t *c)
{
    if (c->out.cap > RB_REPLY_KEEP)
        buf_free(&c->out);
}

/* Replaces the reply with a LOG line (pdns logs it at error level) and
 * FAIL. The message is also logged here, rate-limited. */
static void fail(pipe_conn_t *c, const char *fmt, ...) GS_PRINTF(2, 3);
static void fail(pipe_conn_t *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    LOG_RATELIMITED(LOG_WARNING, "pipe: %s", msg);
    buf_reset(&c->out);
    buf_puts(&c->out, "LOG\tgeosteerd: ");
    buf_puts(&c->out, msg);
    buf_puts(&c->out, "\nFAIL\n");
}

const buf_t *pipe_error_reply(pipe_conn_t *c, const char *msg)
{
    fail(c, "%s", msg);
    return &c->out;
}

/* Splits `line` on tabs into at most PIPE_MAX_FIELDS fields; returns the
 * count, or PIPE_MAX_FIELDS + 1 when there are more. Empty fields count
 * (pdns never sends them; a request with one is refused by its checks). */
static int split(const char *line, size_t len, const char **f, size_t *flen)
{
    int n = 0;
    const char *p = line, *end = line + len;
    for (;;) {
        const char *t = memchr(p, '\t', (size_t)(end - p));
        if (n == PIPE_MAX_FIELDS)
            return PIPE_MAX_FIELDS + 1;
        f[n] = p;
        flen[n] = (size_t)((t ? t : end) - p);
        n++;
        if (!t)
            return n;
        p = t + 1;
    }
}

static bool field_is(const char *f, size_t len, const char *s)
{
    return strlen(s) == len && memcmp(f, s, len) == 0;
}

/* Parses a zone id field ("-1" or a non-negative decimal). */
static bool parse_id(const char *f, size_t len, int64_t *out)
{
    if (len == 2 && memcmp(f, "-1", 2) == 0) {
        *out = -1;
        return true;
    }
    if (len == 0 || len > 18)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (f[i] < '0' || f[i] > '9')
            return false;
        v = v * 10 + (f[i] - '0');
    }
    *out = v;
    return true;
}

static void helo(pipe_conn_t *c, const char **f, const size_t *fl, int n)
{
    c->method = c->m_init;
    int abi = 0;
    if (n == 2 && fl[1] > 0 && fl[1] <= 3) {
        for (size_t i = 0; i < fl[1]; i++)
            abi = f[1][i] >= '0' && f[1][i] <= '9' ? abi * 10 + (f[1][i] - '0') : -1000;
    }
    if (abi < PIPE_MIN_ABI || abi > PIPE_MAX_ABI) {
        c->abi = 0;
        fail(c,
             "pipe ABI '%.*s' not served: set pipe-abi-version=5 (geosteer needs ABI %d to %d "
             "for the client subnet and the answer's scope)",
             n >= 2 ? (int)(fl[1] > 16 ? 16 : fl[1]) : 0, n >= 2 ? f[1] : "", PIPE_MIN_ABI,
             PIPE_MAX_ABI);
        return;
    }
    c->abi = abi;
    buf_reset(&c->out);
    buf_printf(&c->out, "OK\tgeosteerd %s, pipe ABI %d\n", GEOSTEER_VERSION, abi);
}

static void question(pipe_conn_t *c, const char **f, const size_t *fl, int n)
{
    c->method = c->m_lookup;
    /* Q qname class qtype id remote local subnet: 8 fields from ABI 3 on. */
    lookup_req_t r;
    if (n != 8 || !parse_id(f[4], fl[4], &r.zone_id)) {
        fail(c,
             "malformed question (%d fields; expected Q, name, class, type, zone id, remote, "
             "local and subnet, tab-separated)",
             n);
        return;
    }
    r.qname = f[1];
    r.qlen = fl[1];
    r.qtype = f[3];
    r.qtlen = fl[3];
    r.remote = f[5];
    r.remote_len = fl[5];
    r.real_remote = f[7];
    r.real_remote_len = fl[7];
    lk_answer(&c->lk, &r, LK_PIPE, &c->out);
}

/* AXFR id [zone]: every record of the zone, LUA records as they are stored
 * (they travel as their own type), with the zone's id. */
static void transfer(pipe_conn_t *c, const char **f, const size_t *fl, int n)
{
    c->method = c->m_list;
    int64_t id;
    if (n < 2 || n > 3 || !parse_id(f[1], fl[1], &id)) {
        fail(c, "malformed AXFR request (expected AXFR, zone id and zone name)");
        return;
    }
    const snap_t *s = c->lk.snap;
    const zone_t *z = id >= 0 ? snap_zone_by_id(s, id) : NULL;
    if (!z && n == 3) {
        char name[DNAME_MAXTEXT + 2];
        size_t len = fl[2] < sizeof(name) - 1 ? fl[2] : 0;
        memcpy(name, f[2], len);
        if (len && name[len - 1] != '.')
            name[len++] = '.';
        for (size_t i = 0; i < len; i++)
            if (name[i] >= 'A' && name[i] <= 'Z')
                name[i] = (char)(name[i] - 'A' + 'a');
        z = len ? snap_zone_by_name(s, name, len) : NULL;
    }
    if (!z) {
        fail(c, "AXFR: no zone with id %lld%s%.*s", (long long)id, n == 3 ? " or name " : "",
             n == 3 ? (int)(fl[2] > 255 ? 255 : fl[2]) : 0, n == 3 ? f[2] : "");
        return;
    }
    if (state_zone_expired(z, (int64_t)time(NULL))) {
        fail(c, "AXFR: zone %s has expired (no contact with its primary for %u s)", z->name,
             z->expire);
        return;
    }
    buf_t *out = &c->out;
    buf_reset(out);
    buf_reserve(out, z->nrecords * 64 + 16);
    for (size_t i = 0; i < z->nnodes; i++) {
        const zone_node_t *nd = &z->nodes[i];
        for (uint32_t k = 0; k < nd->nrecs; k++) {
            const zone_rec_t *rec = &nd->recs[k];
            lk_put_rec(out, LK_PIPE, z->id, nd->name, nd->name_len, rec->type->name, rec->content,
                       rec->ttl, rec->auth, 0);
        }
    }
    buf_puts(out, "END\n");
}

/* CMD <command>: the operator command language (admin.h), one reply line
 * per line, then END. */
static void command(pipe_conn_t *c, const char *line, size_t len)
{
    c->method = c->m_cmd;
    char *cmd = mem_strndup(line + 4, len - 4);
    /* Commands change state through the writer: no snapshot pinned. */
    snap_unpin(c->lk.slot);
    c->lk.snap = NULL;
    buf_t text;
    buf_init(&text);
    admin_run(cmd, &text);
    free(cmd);
    buf_reset(&c->out);
    const char *p = text.data, *end = text.data + text.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = (size_t)((nl ? nl : end) - p);
        if (l == 3 && memcmp(p, "END", 3) == 0)
            buf_puts(&c->out, " END"); /* never the end marker */
        else
            buf_put(&c->out, p, l);
        buf_putc(&c->out, '\n');
        p += l + 1;
    }
    buf_puts(&c->out, "END\n");
    buf_free(&text);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void count_request(pipe_conn_t *c, uint64_t t0)
{
    const buf_t *o = &c->out;
    unsigned result = STATS_RESULT_DATA;
    if (o->len >= 5 && memcmp(o->data + o->len - 5, "FAIL\n", 5) == 0)
        result = STATS_RESULT_ERROR;
    else if (o->len == 4 && memcmp(o->data, "END\n", 4) == 0)
        result = STATS_RESULT_EMPTY;
    metrics_add(c->lk.sh, STAT_REQUESTS + stats_request_index(STATS_IFACE_PIPE, c->method, result),
                1);
    if (c->method == c->m_lookup) {
        uint64_t ns = mono_ns() - t0;
        metrics_add(
            c->lk.sh,
            STAT_LOOKUP_LAT + stats_bucket_u64(stats_lat_bounds_ns, STATS_LAT_BUCKETS - 1, ns), 1);
        metrics_add(c->lk.sh, STAT_LOOKUP_LAT_SUM, ns);
    }
}

static void handle(pipe_conn_t *c, const char *line, size_t len)
{
    const char *f[PIPE_MAX_FIELDS];
    size_t fl[PIPE_MAX_FIELDS];
    if (len >= 4 && memcmp(line, "CMD\t", 4) == 0) {
        if (c->abi < 5)
            fail(c, "CMD needs pipe ABI 5 (this connection said HELO %d)", c->abi);
        else
            command(c, line, len);
        return;
    }
    int n = split(line, len, f, fl);
    if (n > PIPE_MAX_FIELDS) {
        fail(c, "request with more than %d fields", PIPE_MAX_FIELDS);
        return;
    }
    if (field_is(f[0], fl[0], "HELO")) {
        helo(c, f, fl, n);
        return;
    }
    if (c->abi == 0) {
        fail(c, "request before a HELO with pipe ABI %d to %d; set pipe-abi-version=5",
             PIPE_MIN_ABI, PIPE_MAX_ABI);
        return;
    }
    if (field_is(f[0], fl[0], "Q"))
        question(c, f, fl, n);
    else if (field_is(f[0], fl[0], "AXFR"))
        transfer(c, f, fl, n);
    else
        fail(c, "unknown request '%.*s'", (int)(fl[0] > 32 ? 32 : fl[0]), f[0]);
}

const buf_t *pipe_handle(pipe_conn_t *c, const char *line, size_t len)
{
    if (len && line[len - 1] == '\r')
        len--;
    c->lk.counting = atomic_load_explicit(&stats_enabled, memory_order_relaxed);
    uint64_t t0 = c->lk.counting ? mono_ns() : 0;
    c->method = c->m_other; /* until known */
    c->lk.snap = snap_pin(c->lk.slot);
    handle(c, line, len);
    if (c->lk.snap) {
        snap_unpin(c->lk.slot);
        c->lk.snap = NULL;
    }
    if (c->lk.counting)
        count_request(c, t0);
    return &c->out;
}
