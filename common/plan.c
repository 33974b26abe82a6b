/* The check plan: ids, encoding and decoding. */
#include "common/plan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/mem.h"

static const char *const type_names[] = {"tcp", "http", "https"};

const char *plan_type_name(plan_type_t t)
{
    return (unsigned)t <= PLAN_HTTPS ? type_names[t] : "?";
}

void plan_target(const plan_check_t *c, char *out, size_t len)
{
    char a[INET6_ADDRSTRLEN];
    inet_ntop(c->family, c->addr, a, sizeof(a));
    if (c->family == AF_INET6)
        snprintf(out, len, "[%s]:%u", a, c->port);
    else
        snprintf(out, len, "%s:%u", a, c->port);
}

/* FNV-1a over a field, with a separator so ("ab","c") != ("a","bc"). */
static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return (h ^ 0xff) * 0x100000001b3ull;
}

static uint64_t mix_str(uint64_t h, const char *s)
{
    /* NULL and "" differ: a missing Host is not an empty one. */
    return s ? mix(h, s, strlen(s) + 1) : mix(h, "\xfe", 1);
}

static uint64_t mix_u(uint64_t h, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    return mix(h, b, 8);
}

void plan_check_id(plan_check_t *c)
{
    uint64_t h = 0xcbf29ce484222325ull;
    h = mix_u(h, c->type);
    h = mix_u(h, (uint64_t)c->family);
    h = mix(h, c->addr, c->family == AF_INET ? 4 : 16);
    h = mix_u(h, c->port);
    h = mix_u(h, c->interval_ms);
    h = mix_u(h, c->timeout_ms);
    h = mix_u(h, c->rise);
    h = mix_u(h, c->fall);
    if (c->type != PLAN_TCP) {
        h = mix_str(h, c->path);
        h = mix_str(h, c->host);
        h = mix_u(h, c->nexpect);
        for (size_t i = 0; i < c->nexpect; i++)
            h = mix_u(h, (uint64_t)c->expect[i][0] << 16 | c->expect[i][1]);
        h = mix_str(h, c->body);
        h = mix_u(h, c->body_max);
        h = mix_u(h, c->nheaders);
        for (size_t i = 0; i < c->nheaders; i++) {
            h = mix_str(h, c->headers[i][0]);
            h = mix_str(h, c->headers[i][1]);
        }
        h = mix_u(h, c->insecure);
        h = mix_str(h, c->ca_file);
    }
    c->id = h;
}

static char *dup_or_null(const char *s)
{
    return s ? mem_strdup(s) : NULL;
}

size_t plan_add(plan_t *p, const plan_check_t *c)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->checks[i].id != c->id)
            continue;
        /* The label names every user, up to a readable length. */
        plan_check_t *d = &p->checks[i];
        size_t have = strlen(d->label);
        if (have < 200 && c->label) {
            buf_t b;
            buf_init(&b);
            buf_printf(&b, "%s, %s", d->label, c->label);
            free(d->label);
            d->label = buf_take(&b);
        }
        return i;
    }
    p->checks = mem_realloc_n(p->checks, p->n + 1, sizeof(*p->checks));
    plan_check_t *d = &p->checks[p->n];
    *d = *c;
    d->label = mem_strdup(c->label ? c->label : "");
    d->path = dup_or_null(c->path);
    d->host = dup_or_null(c->host);
    d->body = dup_or_null(c->body);
    d->ca_file = dup_or_null(c->ca_file);
    for (size_t i = 0; i < c->nheaders; i++) {
        d->headers[i][0] = mem_strdup(c->headers[i][0]);
        d->headers[i][1] = mem_strdup(c->headers[i][1]);
    }
    return p->n++;
}

static int by_id(const void *a, const void *b)
{
    uint64_t x = ((const plan_check_t *)a)->id, y = ((const plan_check_t *)b)->id;
    return x < y ? -1 : x > y;
}

void plan_finish(plan_t *p)
{
    if (p->n > 1)
        qsort(p->checks, p->n, sizeof(*p->checks), by_id);
}

long plan_find(const plan_t *p, uint64_t id)
{
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->checks[mid].id == id)
            return (long)mid;
        if (p->checks[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

bool plan_same(const plan_t *a, const plan_t *b)
{
    if (a->n != b->n || a->max_in_flight != b->max_in_flight || a->heartbeat_ms != b->heartbeat_ms)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->checks[i].id != b->checks[i].id || strcmp(a->checks[i].label, b->checks[i].label))
            return false;
    return true;
}

static void put_key_str(buf_t *b, const char *key, const char *v)
{
    if (!v)
        return;
    buf_printf(b, ",\"%s\":", key);
    buf_put_jstr(b, v, strlen(v));
}

void plan_encode(const plan_t *p, buf_t *out)
{
    buf_printf(out,
               "{\"format\":%d,\"generation\":%" PRIu64 ",\"max_in_flight\":%u,"
               "\"heartbeat_ms\":%" PRIu32 ",\"checks\":[",
               PLAN_FORMAT, p->generation, p->max_in_flight, p->heartbeat_ms);
    for (size_t i = 0; i < p->n; i++) {
        const plan_check_t *c = &p->checks[i];
        char a[INET6_ADDRSTRLEN];
        inet_ntop(c->family, c->addr, a, sizeof(a));
        buf_printf(out, "%s\n{\"id\":\"%016" PRIx64 "\",\"type\":\"%s\",\"address\":\"%s\"",
                   i ? "," : "", c->id, plan_type_name(c->type), a);
        put_key_str(out, "label", c->label);
        buf_printf(out,
                   ",\"port\":%u,\"interval_ms\":%" PRIu32 ",\"timeout_ms\":%" PRIu32
                   ",\"rise\":%u,\"fall\":%u",
                   c->port, c->interval_ms, c->timeout_ms, c->rise, c->fall);
        if (c->type != PLAN_TCP) {
            put_key_str(out, "path", c->path);
            put_key_str(out, "host", c->host);
            buf_puts(out, ",\"expect\":[");
            for (size_t k = 0; k < c->nexpect; k++)
                buf_printf(out, "%s[%u,%u]", k ? "," : "", c->expect[k][0], c->expect[k][1]);
            buf_putc(out, ']');
            put_key_str(out, "body", c->body);
            buf_printf(out, ",\"body_max\":%u,\"headers\":[", c->body_max);
            for (size_t k = 0; k < c->nheaders; k++) {
                buf_puts(out, k ? ",[" : "[");
                buf_put_jstr(out, c->headers[k][0], strlen(c->headers[k][0]));
                buf_putc(out, ',');
                buf_put_jstr(out, c->headers[k][1], strlen(c->headers[k][1]));
                buf_putc(out, ']');
            }
            buf_printf(out, "],\"insecure\":%s", c->insecure ? "true" : "false");
            put_key_str(out, "ca_file", c->ca_file);
        }
        buf_putc(out, '}');
    }
    buf_puts(out, "]}\n");
}

/* ---- decoding ---- */

static int get_uint(json_t *o, const char *key, uint64_t lo, uint64_t hi, uint64_t *out,
                    const char *where, gs_err_t *err)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)lo ||
        (uint64_t)json_integer_value(v) > hi)
        return gs_err_set(err, GS_EINVAL, "%s: \"%s\" must be an integer in %" PRIu64 "..%" PRIu64,
                          where, key, lo, hi);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_str(json_t *o, const char *key, bool required, char **out, const char *where,
                   gs_err_t *err)
{
    json_t *v = json_object_get(o, key);
    if (!v && !required)
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return gs_err_set(err, GS_EINVAL, "%s: \"%s\" must be a string", where, key);
    *out = mem_strdup(json_string_value(v));
    return 0;
}

/* No control characters (a tab only where `tab` allows: header values). */
static bool text_ok(const char *s, bool tab)
{
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && !(tab && *s == '\t')) || *s == 0x7f)
            return false;
    return true;
}

static int decode_check(json_t *o, plan_check_t *c, const char *where, gs_err_t *err)
{
    if (!json_is_object(o))
        return gs_err_set(err, GS_EINVAL, "%s: must be an object", where);
    const char *id = json_string_value(json_object_get(o, "id"));
    if (!id || strlen(id) != 16 || strspn(id, "0123456789abcdef") != 16)
        return gs_err_set(err, GS_EINVAL, "%s: \"id\" must be 16 lower-case hex digits", where);
    c->id = strtoull(id, NULL, 16);
    const char *type = json_string_value(json_object_get(o, "type"));
    int t = -1;
    for (int i = 0; type && i < 3; i++)
        if (strcmp(type, type_names[i]) == 0)
            t = i;
    if (t < 0)
        return gs_err_set(err, GS_EINVAL, "%s: \"type\" must be tcp, http or https", where);
    c->type = (plan_type_t)t;
    const char *addr = json_string_value(json_object_get(o, "address"));
    if (addr && inet_pton(AF_INET, addr, c->addr) == 1)
        c->family = AF_INET;
    else if (addr && inet_pton(AF_INET6, addr, c->addr) == 1)
        c->family = AF_INET6;
    else
        return gs_err_set(err, GS_EINVAL, "%s: \"address\" must be an IP address", where);
    uint64_t v;
    int rc;
    if ((rc = get_uint(o, "port", 1, 65535, &v, where, err)))
        return rc;
    c->port = (unsigned)v;
    if ((rc = get_uint(o, "interval_ms", 100, 3600000, &v, where, err)))
        return rc;
    c->interval_ms = (uint32_t)v;
    if ((rc = get_uint(o, "timeout_ms", 10, c->interval_ms, &v, where, err)))
        return rc;
    c->timeout_ms = (uint32_t)v;
    if ((rc = get_uint(o, "rise", 1, 100, &v, where, err)))
        return rc;
    c->rise = (unsigned)v;
    if ((rc = get_uint(o, "fall", 1, 100, &v, where, err)))
        return rc;
    c->fall = (unsigned)v;
    if ((rc = get_str(o, "label", false, &c->label, where, err)))
        return rc;
    if (!c->label)
        c->label = mem_strdup(""); /* never NULL, as plan_add guarantees */
    if (c->type == PLAN_TCP)
        return 0;
    if ((rc = get_str(o, "path", true, &c->path, where, err)) ||
        (rc = get_str(o, "host", false, &c->host, where, err)) ||
        (rc = get_str(o, "body", false, &c->body, where, err)) ||
        (rc = get_str(o, "ca_file", false, &c->ca_file, where, err)))
        return rc;
    if (c->path[0] != '/' || !text_ok(c->path, false) || strchr(c->path, ' ') ||
        (c->host && (!text_ok(c->host, false) || strpbrk(c->host, " /"))))
        return gs_err_set(err, GS_EINVAL, "%s: bad \"path\" or \"host\"", where);
    if ((rc = get_uint(o, "body_max", 1, 1 << 20, &v, where, err)))
        return rc;
    c->body_max = (unsigned)v;
    json_t *ex = json_object_get(o, "expect");
    if (!json_is_array(ex) || json_array_size(ex) == 0 || json_array_size(ex) > PLAN_MAX_EXPECT)
        return gs_err_set(err, GS_EINVAL, "%s: \"expect\" must be 1..%d ranges", where,
                          PLAN_MAX_EXPECT);
    for (size_t i = 0; i < json_array_size(ex); i++) {
        json_t *r = json_array_get(ex, i);
        json_int_t lo = json_integer_value(json_array_get(r, 0));
        json_int_t hi = json_integer_value(json_array_get(r, 1));
        if (json_array_size(r) != 2 || lo < 100 || hi > 599 || lo > hi)
            return gs_err_set(err, GS_EINVAL, "%s: \"expect\"[%zu] must be [lo,hi] in 100..599",
                              where, i);
        c->expect[i][0] = (uint16_t)lo;
        c->expect[i][1] = (uint16_t)hi;
    }
    c->nexpect = json_array_size(ex);
    json_t *hs = json_object_get(o, "headers");
    if (!json_is_array(hs) || json_array_size(hs) > PLAN_MAX_HEADERS)
        return gs_err_set(err, GS_EINVAL, "%s: \"headers\" must be an array of at most %d pairs",
                          where, PLAN_MAX_HEADERS);
    for (size_t i = 0; i < json_array_size(hs); i++) {
        json_t *h = json_array_get(hs, i);
        const char *n = json_string_value(json_array_get(h, 0));
        const char *val = json_string_value(json_array_get(h, 1));
        if (json_array_size(h) != 2 || !n || !val || !*n || !text_ok(n, false) ||
            !text_ok(val, true) || strpbrk(n, " :"))
            return gs_err_set(err, GS_EINVAL, "%s: \"headers\"[%zu] must be [name, value]", where,
                              i);
        c->headers[i][0] = mem_strdup(n);
        c->headers[i][1] = mem_strdup(val);
        c->nheaders = i + 1;
    }
    json_t *ins = json_object_get(o, "insecure");
    if (ins && !json_is_boolean(ins))
        return gs_err_set(err, GS_EINVAL, "%s: \"insecure\" must be a boolean", where);
    c->insecure = json_is_true(ins);
    return 0;
}

int plan_decode(const char *text, size_t len, plan_t *p, gs_err_t *err)
{
    memset(p, 0, sizeof(*p));
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return gs_err_set(err, GS_EINVAL, "%d:%d: %s", je.line, je.column, je.text);
    int rc = 0;
    uint64_t v;
    json_t *checks = json_object_get(root, "checks");
    if (!json_is_object(root)) {
        rc = gs_err_set(err, GS_EINVAL, "not a JSON object");
    } else if ((rc = get_uint(root, "format", PLAN_FORMAT, PLAN_FORMAT, &v, "plan", err))) {
    } else if ((rc = get_uint(root, "generation", 0, INT64_MAX, &p->generation, "plan", err))) {
    } else if ((rc = get_uint(root, "max_in_flight", 1, 100000, &v, "plan", err))) {
    } else if ((p->max_in_flight = (unsigned)v,
                rc = get_uint(root, "heartbeat_ms", 10, 600000, &v, "plan", err))) {
    } else if (!json_is_array(checks) || json_array_size(checks) > PLAN_MAX_CHECKS) {
        rc = gs_err_set(err, GS_EINVAL, "\"checks\" must be an array of at most %d checks",
                        PLAN_MAX_CHECKS);
    } else {
        p->heartbeat_ms = (uint32_t)v;
        p->checks = mem_calloc(json_array_size(checks) + 1, sizeof(*p->checks));
        for (size_t i = 0; i < json_array_size(checks) && rc == 0; i++) {
            char where[32];
            snprintf(where, sizeof(where), "checks[%zu]", i);
            p->n = i + 1;
            rc = decode_check(json_array_get(checks, i), &p->checks[i], where, err);
            if (rc == 0 && i > 0 && p->checks[i].id <= p->checks[i - 1].id)
                rc = gs_err_set(err, GS_EINVAL, "%s: ids not sorted and unique", where);
        }
    }
    json_decref(root);
    if (rc)
        plan_free(p);
    return rc;
}

int plan_load(const char *path, plan_t *p, struct stat *st, gs_err_t *err)
{
    memset(p, 0, sizeof(*p));
    FILE *f = fopen(path, "re");
    if (!f)
        return gs_err_set(err, -errno, "%s: %s", path, strerror(errno));
    struct stat own;
    if (!st)
        st = &own;
    if (fstat(fileno(f), st) != 0 || st->st_size > (off_t)PLAN_FILE_MAX) {
        fclose(f);
        return gs_err_set(err, GS_ETOOBIG, "%s: not a file of at most %u bytes", path,
                          PLAN_FILE_MAX);
    }
    buf_t b;
    buf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len <= PLAN_FILE_MAX)
        buf_put(&b, chunk, n);
    fclose(f);
    gs_err_t why;
    int rc = plan_decode(b.data ? b.data : "", b.len, p, &why);
    buf_free(&b);
    if (rc)
        return gs_err_set(err, rc, "%s: %s", path, why.text);
    return 0;
}

void plan_check_free(plan_check_t *c)
{
    free(c->label);
    free(c->path);
    free(c->host);
    free(c->body);
    free(c->ca_file);
    for (size_t i = 0; i < c->nheaders; i++) {
        free(c->headers[i][0]);
        free(c->headers[i][1]);
    }
    memset(c, 0, sizeof(*c));
}

void plan_free(plan_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        plan_check_free(&p->checks[i]);
    free(p->checks);
    memset(p, 0, sizeof(*p));
}
