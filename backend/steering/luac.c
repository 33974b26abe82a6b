/* The LUA-record subset compiler: tokens, a generic value parser, then one
 * checker per function. */
#include "backend/steering/luac.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/dns/dname.h"
#include "backend/dns/rr.h"
#include "common/buf.h"
#include "common/compiler.h"
#include "common/mem.h"
#include "geo/countries.h"

/* ---- values: what an argument can be ---- */

typedef enum { V_STR, V_NUM, V_BOOL, V_TABLE } vkind_t;

typedef struct val {
    vkind_t kind;
    size_t pos; /* column, from 1 */
    const char *s;
    double num;
    bool b;
    struct val **items; /* table: positional and keyed, in order */
    const char **keys;  /* table: key per item, NULL for positional */
    size_t n;
} val_t;

typedef struct {
    const char *code;
    size_t len, i;
    arena_t *arena;
    gs_err_t *err;
    int rc;
    uint16_t qtype;
} ctx_t;

static int fail(ctx_t *x, size_t pos, const char *fmt, ...) GS_PRINTF(3, 4);
static int fail(ctx_t *x, size_t pos, const char *fmt, ...)
{
    if (x->rc)
        return x->rc; /* the first error is the one reported */
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    x->rc = gs_err_set(x->err, GS_EINVAL, "LUA: column %zu: %s", pos, msg);
    return x->rc;
}

static void skip_ws(ctx_t *x)
{
    for (;;) {
        while (x->i < x->len && isspace((unsigned char)x->code[x->i]))
            x->i++;
        /* Lua line comments */
        if (x->i + 1 < x->len && x->code[x->i] == '-' && x->code[x->i + 1] == '-') {
            while (x->i < x->len && x->code[x->i] != '\n')
                x->i++;
            continue;
        }
        return;
    }
}

static bool peek(ctx_t *x, char c)
{
    skip_ws(x);
    return x->i < x->len && x->code[x->i] == c;
}

static bool take(ctx_t *x, char c)
{
    if (!peek(x, c))
        return false;
    x->i++;
    return true;
}

static bool want(ctx_t *x, char c, const char *what)
{
    if (take(x, c))
        return true;
    skip_ws(x);
    if (x->i >= x->len)
        fail(x, x->i + 1, "expected %s, got the end of the code", what);
    else
        fail(x, x->i + 1, "expected %s, got '%c'", what, x->code[x->i]);
    return false;
}

/* A name at the cursor (not consumed), its length, or 0. */
static size_t name_len(ctx_t *x)
{
    skip_ws(x);
    size_t n = 0;
    while (x->i + n < x->len &&
           (isalnum((unsigned char)x->code[x->i + n]) || x->code[x->i + n] == '_'))
        n++;
    if (n && isdigit((unsigned char)x->code[x->i]))
        return 0;
    return n;
}

static bool keyword(ctx_t *x, const char *kw)
{
    size_t n = name_len(x);
    if (n != strlen(kw) || memcmp(x->code + x->i, kw, n) != 0)
        return false;
    x->i += n;
    return true;
}

static val_t *new_val(ctx_t *x, vkind_t k, size_t pos)
{
    val_t *v = arena_alloc(x->arena, sizeof(*v));
    memset(v, 0, sizeof(*v));
    v->kind = k;
    v->pos = pos;
    return v;
}

static val_t *parse_string(ctx_t *x)
{
    size_t pos = x->i + 1;
    char q = x->code[x->i++];
    buf_t b;
    buf_init(&b);
    while (x->i < x->len && x->code[x->i] != q) {
        char c = x->code[x->i++];
        if (c == '\n') {
            fail(x, pos, "unfinished string");
            buf_free(&b);
            return NULL;
        }
        if (c == '\\' && x->i < x->len) {
            char e = x->code[x->i++];
            c = e == 'n' ? '\n' : e == 't' ? '\t' : e;
            if (!strchr("nt\\'\"", e)) {
                fail(x, x->i - 1, "escape '\\%c' is not supported in strings", e);
                buf_free(&b);
                return NULL;
            }
        }
        buf_putc(&b, c);
    }
    if (x->i >= x->len) {
        fail(x, pos, "unfinished string");
        buf_free(&b);
        return NULL;
    }
    x->i++;
    val_t *v = new_val(x, V_STR, pos);
    v->s = arena_strndup(x->arena, b.data ? b.data : "", b.len);
    buf_free(&b);
    return v;
}

/* The level of a Lua long bracket opening at x->i (`[[` is 0, `[==[` is 2),
 * or -1 when none opens there. */
static int long_open(const ctx_t *x)
{
    size_t i = x->i;
    if (i >= x->len || x->code[i] != '[')
        return -1;
    int level = 0;
    for (i++; i < x->len && x->code[i] == '='; i++)
        level++;
    return i < x->len && x->code[i] == '[' ? level : -1;
}

/* A Lua long string, [[...]] or [=[...]=]: no escapes; a line break right
 * after the opening bracket is not part of it (as in Lua). */
static val_t *parse_long_string(ctx_t *x, int level)
{
    size_t pos = x->i + 1;
    x->i += (size_t)level + 2;
    if (x->i < x->len && x->code[x->i] == '\n')
        x->i++;
    size_t start = x->i;
    for (; x->i < x->len; x->i++) {
        if (x->code[x->i] != ']')
            continue;
        size_t k = x->i + 1;
        int eq = 0;
        while (k < x->len && x->code[k] == '=')
            k++, eq++;
        if (eq == level && k < x->len && x->code[k] == ']') {
            val_t *v = new_val(x, V_STR, pos);
            v->s = arena_strndup(x->arena, x->code + start, x->i - start);
            x->i = k + 1;
            return v;
        }
    }
    fail(x, pos, "unfinished long string");
    return NULL;
}

static val_t *parse_value(ctx_t *x, int depth);

static val_t *parse_table(ctx_t *x, int depth)
{
    size_t pos = x->i + 1;
    x->i++; /* '{' */
    val_t *t = new_val(x, V_TABLE, pos);
    size_t cap = 0;
    while (!x->rc && !take(x, '}')) {
        const char *key = NULL;
        size_t n = name_len(x); /* skips blanks: x->i is at the name */
        if (n) {
            size_t start = x->i;
            x->i += n;
            if (take(x, '='))
                key = arena_strndup(x->arena, x->code + start, n);
            else
                x->i = start; /* a value such as true, or an error below */
        } else if (peek(x, '[') && long_open(x) < 0) {
            x->i++;
            skip_ws(x);
            if (x->i < x->len && (x->code[x->i] == '\'' || x->code[x->i] == '"')) {
                val_t *k = parse_string(x);
                if (!k)
                    return NULL;
                key = k->s;
            }
            if (!key || !want(x, ']', "']'") || !want(x, '=', "'='")) {
                fail(x, x->i + 1, "table keys in brackets must be strings");
                return NULL;
            }
        }
        val_t *v = parse_value(x, depth + 1);
        if (!v)
            return NULL;
        if (t->n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            val_t **items = arena_alloc(x->arena, ncap * sizeof(*items));
            const char **keys = arena_alloc(x->arena, ncap * sizeof(*keys));
            if (cap) {
                memcpy(items, t->items, cap * sizeof(*items));
                memcpy(keys, t->keys, cap * sizeof(*keys));
            }
            t->items = items;
            t->keys = keys;
            cap = ncap;
        }
        if (t->n >= 4 * LUAC_MAX_VALUES) {
            fail(x, v->pos, "table with more than %d items", 4 * LUAC_MAX_VALUES);
            return NULL;
        }
        t->items[t->n] = v;
        t->keys[t->n++] = key;
        if (!take(x, ',') && !take(x, ';')) {
            if (!want(x, '}', "',' or '}'"))
                return NULL;
            break;
        }
    }
    return x->rc ? NULL : t;
}

static val_t *parse_value(ctx_t *x, int depth)
{
    skip_ws(x);
    if (depth > 8) {
        fail(x, x->i + 1, "tables nested deeper than 8 levels");
        return NULL;
    }
    if (x->i >= x->len) {
        fail(x, x->i + 1, "expected a value, got the end of the code");
        return NULL;
    }
    char c = x->code[x->i];
    if (c == '\'' || c == '"')
        return parse_string(x);
    int level = long_open(x);
    if (level >= 0)
        return parse_long_string(x, level);
    if (c == '{')
        return parse_table(x, depth);
    if (isdigit((unsigned char)c) ||
        (c == '-' && x->i + 1 < x->len && isdigit((unsigned char)x->code[x->i + 1]))) {
        char *end;
        size_t pos = x->i + 1;
        char tmp[64];
        size_t n = 0;
        while (x->i + n < x->len && n < sizeof(tmp) - 1 &&
               (isalnum((unsigned char)x->code[x->i + n]) || x->code[x->i + n] == '.' ||
                (n == 0 && x->code[x->i] == '-')))
            n++;
        memcpy(tmp, x->code + x->i, n);
        tmp[n] = '\0';
        double d = strtod(tmp, &end);
        if (*end) {
            fail(x, pos, "'%s' is not a number", tmp);
            return NULL;
        }
        x->i += n;
        val_t *v = new_val(x, V_NUM, pos);
        v->num = d;
        return v;
    }
    size_t pos = x->i + 1, n = name_len(x);
    if ((n == 4 && memcmp(x->code + x->i, "true", 4) == 0) ||
        (n == 5 && memcmp(x->code + x->i, "false", 5) == 0)) {
        val_t *v = new_val(x, V_BOOL, pos);
        v->b = n == 4;
        x->i += n;
        return v;
    }
    if (n) {
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)(n < 60 ? n : 60), x->code + x->i);
        x->i += n;
        if (peek(x, '('))
            fail(x, pos, "a call to %s() cannot be used as a value here", name);
        else
            fail(x, pos, "variables are not supported (got '%s'); write the value itself", name);
        return NULL;
    }
    fail(x, pos, "unexpected '%c'", c);
    return NULL;
}

/* Parses `name(args)` with the cursor on the name. */
static val_t **parse_args(ctx_t *x, size_t *n)
{
    *n = 0;
    if (!want(x, '(', "'('"))
        return NULL;
    val_t **args = arena_alloc(x->arena, 8 * sizeof(*args));
    if (take(x, ')'))
        return args;
    for (;;) {
        if (*n == 8) {
            fail(x, x->i + 1, "too many arguments");
            return NULL;
        }
        val_t *v = parse_value(x, 0);
        if (!v)
            return NULL;
        args[(*n)++] = v;
        if (take(x, ','))
            continue;
        if (!want(x, ')', "',' or ')'"))
            return NULL;
        return args;
    }
}

/* ---- checks of values ---- */

static const char *kind_name(vkind_t k)
{
    return k == V_STR    ? "a string"
           : k == V_NUM  ? "a number"
           : k == V_BOOL ? "a boolean"
                         : "a table";
}

/* Checks and normalises one answer value for the record's type. */
static const char *answer_value(ctx_t *x, const val_t *v)
{
    if (v->kind != V_STR) {
        fail(x, v->pos, "expected a string value, got %s", kind_name(v->kind));
        return NULL;
    }
    uint8_t a[16];
    char text[INET6_ADDRSTRLEN];
    switch (x->qtype) {
    case 1:
        if (inet_pton(AF_INET, v->s, a) != 1) {
            fail(x, v->pos, "'%.60s' is not an IPv4 address (the record is of type A)", v->s);
            return NULL;
        }
        return arena_strndup(x->arena, v->s, strlen(v->s));
    case 28:
        if (inet_pton(AF_INET6, v->s, a) != 1) {
            fail(x, v->pos, "'%.60s' is not an IPv6 address (the record is of type AAAA)", v->s);
            return NULL;
        }
        inet_ntop(AF_INET6, a, text, sizeof(text));
        return arena_strndup(x->arena, text, strlen(text));
    case 5: {
        char canon[DNAME_MAXTEXT + 1];
        gs_err_t e;
        if (dname_canon(v->s, strlen(v->s), true, canon, &e) < 0) {
            fail(x, v->pos, "'%.60s' is not a domain name: %s", v->s, e.text);
            return NULL;
        }
        return arena_strndup(x->arena, canon, strlen(canon));
    }
    default: {
        if (strlen(v->s) > 255) {
            fail(x, v->pos, "TXT value longer than 255 bytes");
            return NULL;
        }
        /* Presentation form, as pdns expects TXT content: quoted, escaped. */
        buf_t b;
        buf_init(&b);
        buf_putc(&b, '"');
        for (const char *c = v->s; *c; c++) {
            if (*c == '"' || *c == '\\')
                buf_putc(&b, '\\');
            buf_putc(&b, *c);
        }
        buf_putc(&b, '"');
        const char *q = arena_strndup(x->arena, b.data, b.len);
        buf_free(&b);
        return q;
    }
    }
}

/* A list of answer values: a table of strings (or one string). */
static bool value_list(ctx_t *x, const val_t *v, luac_set_t *out, bool allow_single)
{
    if (v->kind == V_STR && allow_single) {
        out->items = arena_alloc(x->arena, sizeof(luac_item_t));
        out->n = 1;
        out->items[0].weight = 1;
        return (out->items[0].value = answer_value(x, v)) != NULL;
    }
    if (v->kind != V_TABLE || v->n == 0) {
        fail(x, v->pos, "expected a non-empty table of values like {'192.0.2.1', '192.0.2.2'}");
        return false;
    }
    if (v->n > LUAC_MAX_VALUES) {
        fail(x, v->pos, "more than %d values", LUAC_MAX_VALUES);
        return false;
    }
    out->items = arena_alloc(x->arena, v->n * sizeof(luac_item_t));
    out->n = v->n;
    for (size_t i = 0; i < v->n; i++) {
        if (v->keys[i]) {
            fail(x, v->items[i]->pos, "unexpected key '%s' in a list of values", v->keys[i]);
            return false;
        }
        out->items[i].weight = 1;
        if (!(out->items[i].value = answer_value(x, v->items[i])))
            return false;
    }
    return true;
}

/* {{weight, value}, ...} */
static bool weighted_list(ctx_t *x, const val_t *v, luac_set_t *out)
{
    if (v->kind != V_TABLE || v->n == 0 || v->n > LUAC_MAX_VALUES) {
        fail(x, v->pos,
             "expected a table of {weight, value} pairs like {{2, '192.0.2.1'}, {1, "
             "'192.0.2.2'}}");
        return false;
    }
    out->items = arena_alloc(x->arena, v->n * sizeof(luac_item_t));
    out->n = v->n;
    for (size_t i = 0; i < v->n; i++) {
        const val_t *p = v->items[i];
        if (p->kind != V_TABLE || p->n != 2 || p->items[0]->kind != V_NUM) {
            fail(x, p->pos, "expected a {weight, value} pair");
            return false;
        }
        double w = p->items[0]->num;
        if (!(w >= 1 && w <= 1000000) || w != (double)(uint32_t)w) {
            fail(x, p->items[0]->pos, "weights are whole numbers from 1 to 1000000, got %g", w);
            return false;
        }
        out->items[i].weight = (uint32_t)w;
        if (!(out->items[i].value = answer_value(x, p->items[1])))
            return false;
    }
    return true;
}

/* addrs or {set1, set2, ...} for if*up: one or several sets. */
static bool address_sets(ctx_t *x, const val_t *v, luac_sel_t *s)
{
    if (x->qtype != RR_TYPE_A && x->qtype != RR_TYPE_AAAA) {
        fail(x, v->pos, "health-checked selection answers addresses: use it in A or AAAA records");
        return false;
    }
    bool nested = v->kind == V_TABLE && v->n && v->items[0]->kind == V_TABLE;
    size_t nsets = nested ? v->n : 1;
    if (nested && nsets > LUAC_MAX_SETS) {
        fail(x, v->pos, "more than %d address sets", LUAC_MAX_SETS);
        return false;
    }
    s->sets = arena_alloc(x->arena, nsets * sizeof(luac_set_t));
    s->nsets = nsets;
    for (size_t i = 0; i < nsets; i++)
        if (!value_list(x, nested ? v->items[i] : v, &s->sets[i], false))
            return false;
    return true;
}

static bool pick_name(ctx_t *x, const val_t *v, bool backup, luac_pick_t *out)
{
    static const char *const names[] = {"random", "hashed", "pickclosest", "all", "empty"};
    for (int i = 0; i < 5 && v->kind == V_STR; i++)
        if (strcmp(v->s, names[i]) == 0 && (backup || i != LUAC_PICK_EMPTY)) {
            *out = (luac_pick_t)i;
            return true;
        }
    fail(x, v->pos, "%s must be 'random', 'hashed', 'pickclosest', 'all'%s",
         backup ? "backupSelector" : "selector", backup ? " or 'empty'" : "");
    return false;
}

static bool num_opt(ctx_t *x, const val_t *v, const char *name, double lo, double hi, double *out)
{
    if (v->kind != V_NUM || v->num < lo || v->num > hi) {
        fail(x, v->pos, "option '%s' must be a number from %g to %g", name, lo, hi);
        return false;
    }
    *out = v->num;
    return true;
}

static bool text_opt(ctx_t *x, const val_t *v, const char *name, const char **out)
{
    if (v->kind != V_STR || strpbrk(v->s, "\r\n") || strlen(v->s) > 1024) {
        fail(x, v->pos, "option '%s' must be a string without line breaks", name);
        return false;
    }
    *out = v->s;
    return true;
}

static bool options(ctx_t *x, const val_t *v, luac_sel_t *s)
{
    luac_opts_t *o = &s->opts;
    o->selector = o->backup = LUAC_PICK_RANDOM;
    o->timeout_ms = 2000;
    o->interval_ms = 5000;
    o->min_failures = 1;
    o->httpcode = 200;
    if (!v)
        return true;
    if (v->kind != V_TABLE) {
        fail(x, v->pos, "options must be a table like {selector='all'}");
        return false;
    }
    for (size_t i = 0; i < v->n; i++) {
        const char *k = v->keys[i];
        const val_t *o_v = v->items[i];
        double d;
        if (!k) {
            fail(x, o_v->pos, "options are named: {name=value, ...}");
            return false;
        }
        bool url_only = !strcmp(k, "stringmatch") || !strcmp(k, "useragent") ||
                        !strcmp(k, "byteslimit") || !strcmp(k, "httpcode") || !strcmp(k, "headers");
        if (url_only && s->kind != LUAC_IFURLUP) {
            fail(x, o_v->pos, "option '%s' is only for ifurlup", k);
            return false;
        }
        if (!strcmp(k, "selector")) {
            if (!pick_name(x, o_v, false, &o->selector))
                return false;
        } else if (!strcmp(k, "backupSelector")) {
            if (!pick_name(x, o_v, true, &o->backup))
                return false;
        } else if (!strcmp(k, "timeout")) {
            if (!num_opt(x, o_v, k, 0.01, 60, &d))
                return false;
            o->timeout_ms = (uint32_t)(d * 1000 + 0.5);
        } else if (!strcmp(k, "interval")) {
            if (!num_opt(x, o_v, k, 1, 3600, &d))
                return false;
            o->interval_ms = (uint32_t)(d * 1000 + 0.5);
        } else if (!strcmp(k, "minimumFailures")) {
            if (!num_opt(x, o_v, k, 1, 10, &d))
                return false;
            o->min_failures = (uint32_t)d;
        } else if (!strcmp(k, "byteslimit")) {
            if (!num_opt(x, o_v, k, 0, 1 << 20, &d))
                return false;
            o->byteslimit = (uint32_t)d;
        } else if (!strcmp(k, "httpcode")) {
            if (!num_opt(x, o_v, k, 100, 599, &d))
                return false;
            o->httpcode = (uint32_t)d;
        } else if (!strcmp(k, "stringmatch")) {
            if (!text_opt(x, o_v, k, &o->stringmatch))
                return false;
        } else if (!strcmp(k, "useragent")) {
            if (!text_opt(x, o_v, k, &o->useragent))
                return false;
        } else if (!strcmp(k, "headers")) {
            if (o_v->kind != V_TABLE || o_v->n > 32) {
                fail(x, o_v->pos, "option 'headers' must be a table {['Name']='value', ...}");
                return false;
            }
            o->headers = arena_alloc(x->arena, (o_v->n + 1) * sizeof(*o->headers));
            for (size_t h = 0; h < o_v->n; h++) {
                const char *name = o_v->keys[h], *val;
                if (!name || !*name || strpbrk(name, " :\r\n\t") ||
                    !text_opt(x, o_v->items[h], "headers", &val)) {
                    fail(x, o_v->items[h]->pos, "option 'headers' must map names to strings");
                    return false;
                }
                o->headers[o->nheaders][0] = name;
                o->headers[o->nheaders++][1] = val;
            }
        } else if (!strcmp(k, "source") || !strcmp(k, "failOnIncompleteCheck")) {
            fail(x, o_v->pos, "option '%s' is not supported by geosteer (see the migration guide)",
                 k);
            return false;
        } else {
            fail(x, o_v->pos, "unknown option '%s'", k);
            return false;
        }
    }
    if (o->timeout_ms >= o->interval_ms) {
        fail(x, v->pos, "timeout (%u ms) must be below the check interval (%u ms)", o->timeout_ms,
             o->interval_ms);
        return false;
    }
    return true;
}

static bool parse_net(const char *s, luac_net_t *n)
{
    char tmp[64];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (alen >= sizeof(tmp))
        return false;
    memcpy(tmp, s, alen);
    tmp[alen] = '\0';
    memset(n->addr, 0, sizeof(n->addr));
    if (inet_pton(AF_INET, tmp, n->addr) == 1)
        n->family = AF_INET;
    else if (inet_pton(AF_INET6, tmp, n->addr) == 1)
        n->family = AF_INET6;
    else
        return false;
    unsigned max = n->family == AF_INET ? 32 : 128;
    char *end;
    unsigned long len = slash ? strtoul(slash + 1, &end, 10) : max;
    if (slash && (!slash[1] || *end || len > max))
        return false;
    n->len = (uint8_t)len;
    /* Host bits are ignored, as pdns's Netmask does. */
    for (unsigned bit = n->len; bit < max; bit++)
        n->addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
    return true;
}

static bool net_list(ctx_t *x, const val_t *v, luac_net_t **out, size_t *n)
{
    if (v->kind == V_STR) {
        *out = arena_alloc(x->arena, sizeof(luac_net_t));
        *n = 1;
        if (!parse_net(v->s, *out)) {
            fail(x, v->pos, "'%.60s' is not a network like 192.0.2.0/24", v->s);
            return false;
        }
        return true;
    }
    if (v->kind != V_TABLE || v->n == 0 || v->n > LUAC_MAX_VALUES) {
        fail(x, v->pos, "expected a table of networks like {'192.0.2.0/24', '2001:db8::/32'}");
        return false;
    }
    *out = arena_alloc(x->arena, v->n * sizeof(luac_net_t));
    *n = v->n;
    for (size_t i = 0; i < v->n; i++)
        if (v->items[i]->kind != V_STR || !parse_net(v->items[i]->s, &(*out)[i])) {
            fail(x, v->items[i]->pos, "expected a network like 192.0.2.0/24");
            return false;
        }
    return true;
}

/* Splits an http(s) URL into scheme, host, port and path (arena copies). */
static bool parse_url(ctx_t *x, const val_t *v, luac_sel_t *s)
{
    const char *u = v->s;
    s->https = strncmp(u, "https://", 8) == 0;
    const char *h = u + (s->https ? 8 : 7);
    const char *end = h + strcspn(h, "/?#");
    const char *colon = NULL;
    if (*h == '[') {
        const char *rb = memchr(h, ']', (size_t)(end - h));
        if (!rb) {
            fail(x, v->pos, "bad IPv6 literal in the URL");
            return false;
        }
        colon = rb[1] == ':' ? rb + 1 : NULL;
        s->url_host = arena_strndup(x->arena, h + 1, (size_t)(rb - h - 1));
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
        s->url_host = arena_strndup(x->arena, h, (size_t)((colon ? colon : end) - h));
    }
    s->url_port = s->https ? 443 : 80;
    if (colon) {
        char *pe;
        unsigned long port = strtoul(colon + 1, &pe, 10);
        if (pe != end || port < 1 || port > 65535) {
            fail(x, v->pos, "bad port in the URL");
            return false;
        }
        s->url_port = (uint32_t)port;
    }
    if (!*s->url_host || strpbrk(s->url_host, "@ ")) {
        fail(x, v->pos, "the URL needs a host name (and no user information)");
        return false;
    }
    s->url_path =
        *end == '/' ? arena_strndup(x->arena, end, strlen(end)) : arena_strndup(x->arena, "/", 1);
    return true;
}

/* The health check of one ifportup/ifurlup address, borrowing strings from
 * the program. */
static void fill_check(const luac_sel_t *s, const luac_item_t *it, plan_check_t *c)
{
    memset(c, 0, sizeof(*c));
    if (inet_pton(AF_INET, it->value, c->addr) == 1)
        c->family = AF_INET;
    else if (inet_pton(AF_INET6, it->value, c->addr) == 1)
        c->family = AF_INET6;
    c->interval_ms = s->opts.interval_ms;
    c->timeout_ms = s->opts.timeout_ms;
    c->rise = 1; /* pdns: back up after one good check */
    c->fall = s->opts.min_failures;
    if (s->kind == LUAC_IFPORTUP) {
        c->type = PLAN_TCP;
        c->port = s->port;
        return;
    }
    c->type = s->https ? PLAN_HTTPS : PLAN_HTTP;
    c->port = s->url_port;
    c->path = (char *)(uintptr_t)s->url_path;
    c->host = (char *)(uintptr_t)s->url_host;
    c->expect[0][0] = c->expect[0][1] = (uint16_t)s->opts.httpcode;
    c->nexpect = 1;
    c->body = (char *)(uintptr_t)s->opts.stringmatch;
    c->body_max = s->opts.byteslimit ? s->opts.byteslimit : 4096;
    for (size_t i = 0; i < s->opts.nheaders && c->nheaders < PLAN_MAX_HEADERS; i++, c->nheaders++) {
        c->headers[c->nheaders][0] = (char *)(uintptr_t)s->opts.headers[i][0];
        c->headers[c->nheaders][1] = (char *)(uintptr_t)s->opts.headers[i][1];
    }
    if (s->opts.useragent && c->nheaders < PLAN_MAX_HEADERS) {
        c->headers[c->nheaders][0] = (char *)(uintptr_t) "User-Agent";
        c->headers[c->nheaders++][1] = (char *)(uintptr_t)s->opts.useragent;
    }
}

/* Gives every address of an if*up selection its check id. */
static void set_check_ids(luac_sel_t *s)
{
    for (size_t k = 0; k < s->nsets; k++)
        for (size_t i = 0; i < s->sets[k].n; i++) {
            plan_check_t c;
            fill_check(s, &s->sets[k].items[i], &c);
            plan_check_id(&c);
            s->sets[k].items[i].check = c.id;
        }
}

size_t luac_each_check(const luac_prog_t *p, luac_check_fn fn, void *ctx)
{
    size_t n = 0;
    for (size_t b = 0; b < p->nbranches; b++) {
        const luac_sel_t *s = &p->branches[b].sel;
        if (s->kind != LUAC_IFPORTUP && s->kind != LUAC_IFURLUP)
            continue;
        for (size_t k = 0; k < s->nsets; k++)
            for (size_t i = 0; i < s->sets[k].n; i++, n++)
                if (fn)
                    fn(ctx, s, &s->sets[k].items[i]);
    }
    return n;
}

typedef struct {
    plan_t *plan;
    const char *label;
} plan_ctx_t;

static void plan_one(void *ctx, const luac_sel_t *s, const luac_item_t *it)
{
    const plan_ctx_t *pc = ctx;
    plan_check_t c;
    fill_check(s, it, &c);
    c.id = it->check;
    c.label = (char *)(uintptr_t)pc->label;
    plan_add(pc->plan, &c);
}

size_t luac_plan_checks(const luac_prog_t *p, plan_t *plan, const char *label)
{
    plan_ctx_t pc = {plan, label};
    return luac_each_check(p, plan_one, &pc);
}

/* ---- selections ---- */

static const char *const sel_names[] = {
    "values",     "ifportup",    "ifurlup",     "pickrandom",  "pickrandomsample",
    "pickhashed", "pickwrandom", "pickwhashed", "pickchashed", "pickclosest",
    "all",        "view",        "steer",
};

const char *luac_sel_name(luac_sel_kind_t k)
{
    return (unsigned)k <= LUAC_STEER ? sel_names[k] : "?";
}

static bool want_args(ctx_t *x, size_t pos, const char *fn, size_t n, size_t lo, size_t hi)
{
    if (n >= lo && n <= hi)
        return true;
    if (lo == hi)
        fail(x, pos, "%s() takes %zu argument%s, got %zu", fn, lo, lo == 1 ? "" : "s", n);
    else
        fail(x, pos, "%s() takes %zu to %zu arguments, got %zu", fn, lo, hi, n);
    return false;
}

static bool one_set(ctx_t *x, luac_sel_t *s)
{
    s->sets = arena_alloc(x->arena, sizeof(luac_set_t));
    s->nsets = 1;
    return true;
}

static bool selection(ctx_t *x, luac_sel_t *s)
{
    skip_ws(x);
    size_t pos = x->i + 1;
    memset(s, 0, sizeof(*s));
    if (x->i < x->len && (x->code[x->i] == '\'' || x->code[x->i] == '"' || x->code[x->i] == '{' ||
                          long_open(x) >= 0)) {
        val_t *v = parse_value(x, 0);
        s->kind = LUAC_STATIC;
        return v && one_set(x, s) && value_list(x, v, &s->sets[0], true);
    }
    size_t n = name_len(x);
    if (!n) {
        fail(x, pos, "expected a function call like pickrandom({...}) or a value");
        return false;
    }
    char fn[64];
    snprintf(fn, sizeof(fn), "%.*s", (int)(n < 60 ? n : 60), x->code + x->i);
    x->i += n;
    int kind = -1;
    for (int k = LUAC_IFPORTUP; k <= LUAC_STEER; k++)
        if (strcmp(fn, sel_names[k]) == 0)
            kind = k;
    if (kind < 0) {
        static const char *const preds[] = {"country", "continent", "region", "asnum", "netmask"};
        for (size_t i = 0; i < 5; i++)
            if (strcmp(fn, preds[i]) == 0) {
                fail(x, pos, "%s() is a condition: use it in ';if %s(...) then return ... end'", fn,
                     fn);
                return false;
            }
        if (!peek(x, '('))
            fail(x, pos, "variables are not supported (got '%s')", fn);
        else
            fail(x, pos, "function %s() is not in geosteer's LUA subset", fn);
        return false;
    }
    s->kind = (luac_sel_kind_t)kind;
    size_t na;
    val_t **a = parse_args(x, &na);
    if (!a)
        return false;
    switch (s->kind) {
    case LUAC_IFPORTUP:
        if (!want_args(x, pos, fn, na, 2, 3))
            return false;
        if (a[0]->kind != V_NUM || a[0]->num < 1 || a[0]->num > 65535 ||
            a[0]->num != (double)(uint32_t)a[0]->num)
            return fail(x, a[0]->pos, "the port must be a number from 1 to 65535"), false;
        s->port = (uint32_t)a[0]->num;
        if (!address_sets(x, a[1], s) || !options(x, na > 2 ? a[2] : NULL, s))
            return false;
        set_check_ids(s);
        return true;
    case LUAC_IFURLUP: {
        if (!want_args(x, pos, fn, na, 2, 3))
            return false;
        const char *u = a[0]->kind == V_STR ? a[0]->s : NULL;
        if (!u || (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) ||
            strpbrk(u, " \r\n\t"))
            return fail(x, a[0]->pos, "the URL must be an http:// or https:// URL"), false;
        s->url = u;
        if (!parse_url(x, a[0], s) || !address_sets(x, a[1], s) ||
            !options(x, na > 2 ? a[2] : NULL, s))
            return false;
        set_check_ids(s);
        return true;
    }
    case LUAC_PICKRANDOM:
    case LUAC_PICKHASHED:
    case LUAC_ALL:
        return want_args(x, pos, fn, na, 1, 1) && one_set(x, s) &&
               value_list(x, a[0], &s->sets[0], false);
    case LUAC_PICKCLOSEST:
        if (x->qtype != RR_TYPE_A && x->qtype != RR_TYPE_AAAA)
            return fail(x, pos, "pickclosest() answers addresses: use it in A or AAAA records"),
                   false;
        return want_args(x, pos, fn, na, 1, 1) && one_set(x, s) &&
               value_list(x, a[0], &s->sets[0], false);
    case LUAC_PICKRANDOMSAMPLE:
        if (!want_args(x, pos, fn, na, 2, 2))
            return false;
        if (a[0]->kind != V_NUM || a[0]->num < 1 || a[0]->num > LUAC_MAX_VALUES ||
            a[0]->num != (double)(uint32_t)a[0]->num)
            return fail(x, a[0]->pos, "the sample size must be a whole number from 1 to %d",
                        LUAC_MAX_VALUES),
                   false;
        s->sample = (uint32_t)a[0]->num;
        return one_set(x, s) && value_list(x, a[1], &s->sets[0], false);
    case LUAC_PICKWRANDOM:
    case LUAC_PICKWHASHED:
    case LUAC_PICKCHASHED:
        return want_args(x, pos, fn, na, 1, 1) && one_set(x, s) &&
               weighted_list(x, a[0], &s->sets[0]);
    case LUAC_VIEW: {
        if (!want_args(x, pos, fn, na, 1, 1))
            return false;
        const val_t *r = a[0];
        if (r->kind != V_TABLE || r->n == 0 || r->n > LUAC_MAX_VALUES)
            return fail(x, r->pos, "view() takes a table of {{networks}, {values}} rules"), false;
        s->rules = arena_alloc(x->arena, r->n * sizeof(luac_view_rule_t));
        s->nrules = r->n;
        for (size_t i = 0; i < r->n; i++) {
            const val_t *rule = r->items[i];
            if (rule->kind != V_TABLE || rule->n != 2)
                return fail(x, rule->pos, "a view rule is {{networks}, {values}}"), false;
            if (!net_list(x, rule->items[0], &s->rules[i].nets, &s->rules[i].nnets) ||
                !value_list(x, rule->items[1], &s->rules[i].values, false))
                return false;
        }
        return true;
    }
    case LUAC_STEER:
        if (!want_args(x, pos, fn, na, 1, 1))
            return false;
        if (a[0]->kind != V_STR || !*a[0]->s || strlen(a[0]->s) > 63 ||
            strspn(a[0]->s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
                strlen(a[0]->s))
            return fail(x, a[0]->pos, "steer() takes a policy name from geosteer.json"), false;
        s->policy = a[0]->s;
        return true;
    default:
        return false;
    }
}

/* ---- conditions ---- */

static luac_pred_t *cond_or(ctx_t *x, int depth);

static luac_pred_t *new_pred(ctx_t *x, luac_pred_kind_t k)
{
    luac_pred_t *p = arena_alloc(x->arena, sizeof(*p));
    memset(p, 0, sizeof(*p));
    p->kind = k;
    return p;
}

static bool code_list(ctx_t *x, const val_t *v, luac_pred_t *p, const char *fn)
{
    size_t n = v->kind == V_TABLE ? v->n : 1;
    if ((v->kind != V_STR && v->kind != V_TABLE) || n == 0 || n > LUAC_MAX_VALUES) {
        fail(x, v->pos, "%s() takes a code or a table of codes", fn);
        return false;
    }
    p->codes = arena_alloc(x->arena, n * sizeof(*p->codes));
    p->n = n;
    for (size_t i = 0; i < n; i++) {
        const val_t *c = v->kind == V_TABLE ? v->items[i] : v;
        if (c->kind != V_STR || !*c->s || strlen(c->s) > 7) {
            fail(x, c->pos, "%s() codes are short strings like 'DE'", fn);
            return false;
        }
        char up[8];
        size_t l = strlen(c->s);
        for (size_t k = 0; k <= l; k++)
            up[k] = (char)toupper((unsigned char)c->s[k]);
        if (p->kind == LUAC_P_COUNTRY && (l != 2 || !geo_country_find(up))) {
            fail(x, c->pos, "'%s' is not an ISO 3166-1 country code", c->s);
            return false;
        }
        if (p->kind == LUAC_P_CONTINENT && (l != 2 || !strstr("AF AN AS EU NA OC SA", up))) {
            fail(x, c->pos, "'%s' is not a continent code (AF AN AS EU NA OC SA)", c->s);
            return false;
        }
        p->codes[i] = arena_strndup(x->arena, up, l);
    }
    return true;
}

static luac_pred_t *cond_atom(ctx_t *x, int depth)
{
    skip_ws(x);
    size_t pos = x->i + 1;
    if (depth > 32) {
        fail(x, pos, "conditions nested too deeply");
        return NULL;
    }
    if (take(x, '(')) {
        luac_pred_t *p = cond_or(x, depth + 1);
        return p && want(x, ')', "')'") ? p : NULL;
    }
    if (keyword(x, "not")) {
        luac_pred_t *a = cond_atom(x, depth + 1);
        if (!a)
            return NULL;
        luac_pred_t *p = new_pred(x, LUAC_P_NOT);
        p->a = a;
        return p;
    }
    if (keyword(x, "true"))
        return new_pred(x, LUAC_P_TRUE);
    if (keyword(x, "false"))
        return new_pred(x, LUAC_P_FALSE);
    size_t n = name_len(x);
    if (!n) {
        fail(x, pos, "expected a condition like country('DE')");
        return NULL;
    }
    char fn[64];
    snprintf(fn, sizeof(fn), "%.*s", (int)(n < 60 ? n : 60), x->code + x->i);
    x->i += n;
    static const struct {
        const char *name;
        luac_pred_kind_t kind;
    } preds[] = {{"country", LUAC_P_COUNTRY},
                 {"continent", LUAC_P_CONTINENT},
                 {"region", LUAC_P_REGION},
                 {"asnum", LUAC_P_ASNUM},
                 {"netmask", LUAC_P_NETMASK}};
    int k = -1;
    for (int i = 0; i < 5; i++)
        if (strcmp(fn, preds[i].name) == 0)
            k = i;
    if (k < 0) {
        if (!peek(x, '('))
            fail(x, pos, "variables are not supported (got '%s')", fn);
        else
            fail(x, pos,
                 "%s() is not a condition geosteer knows (country, continent, region, "
                 "asnum, netmask)",
                 fn);
        return NULL;
    }
    size_t na;
    val_t **a = parse_args(x, &na);
    if (!a || !want_args(x, pos, fn, na, 1, 1))
        return NULL;
    luac_pred_t *p = new_pred(x, preds[k].kind);
    if (p->kind == LUAC_P_NETMASK)
        return net_list(x, a[0], &p->nets, &p->n) ? p : NULL;
    if (p->kind == LUAC_P_ASNUM) {
        const val_t *v = a[0];
        size_t cnt = v->kind == V_TABLE ? v->n : 1;
        if ((v->kind != V_NUM && v->kind != V_TABLE) || cnt == 0 || cnt > LUAC_MAX_VALUES) {
            fail(x, v->pos, "asnum() takes a number or a table of numbers");
            return NULL;
        }
        p->asns = arena_alloc(x->arena, cnt * sizeof(uint32_t));
        p->n = cnt;
        for (size_t i = 0; i < cnt; i++) {
            const val_t *c = v->kind == V_TABLE ? v->items[i] : v;
            if (c->kind != V_NUM || c->num < 1 || c->num > 4294967295.0 ||
                c->num != (double)(uint32_t)c->num) {
                fail(x, c->pos, "AS numbers are whole numbers from 1 to 4294967295");
                return NULL;
            }
            p->asns[i] = (uint32_t)c->num;
        }
        return p;
    }
    return code_list(x, a[0], p, fn) ? p : NULL;
}

static luac_pred_t *cond_and(ctx_t *x, int depth)
{
    luac_pred_t *l = cond_atom(x, depth);
    while (l && keyword(x, "and")) {
        luac_pred_t *r = cond_atom(x, depth);
        if (!r)
            return NULL;
        luac_pred_t *p = new_pred(x, LUAC_P_AND);
        p->a = l;
        p->b = r;
        l = p;
    }
    return l;
}

static luac_pred_t *cond_or(ctx_t *x, int depth)
{
    luac_pred_t *l = cond_and(x, depth);
    while (l && keyword(x, "or")) {
        luac_pred_t *r = cond_and(x, depth);
        if (!r)
            return NULL;
        luac_pred_t *p = new_pred(x, LUAC_P_OR);
        p->a = l;
        p->b = r;
        l = p;
    }
    return l;
}

/* ---- the program ---- */

static bool add_branch(ctx_t *x, luac_prog_t *p, const luac_pred_t *cond)
{
    if (p->nbranches == LUAC_MAX_BRANCHES) {
        fail(x, x->i + 1, "more than %d branches", LUAC_MAX_BRANCHES);
        return false;
    }
    if ((p->nbranches & (p->nbranches - 1)) == 0) {
        /* Room doubles at every power of two (1, 2, 4, ...): most programs
         * have one branch, and thousands of them live in a zone. */
        size_t room = p->nbranches ? p->nbranches * 2 : 1;
        luac_branch_t *grown = arena_alloc(x->arena, room * sizeof(luac_branch_t));
        memset(grown, 0, room * sizeof(luac_branch_t));
        if (p->nbranches)
            memcpy(grown, p->branches, p->nbranches * sizeof(luac_branch_t));
        p->branches = grown;
    }
    luac_branch_t *b = &p->branches[p->nbranches];
    b->cond = cond;
    if (!keyword(x, "return")) {
        fail(x, x->i + 1, "expected 'return'");
        return false;
    }
    if (!selection(x, &b->sel))
        return false;
    p->nbranches++;
    return true;
}

static void program(ctx_t *x, luac_prog_t *p)
{
    skip_ws(x);
    if (!take(x, ';')) {
        /* implicit return of one expression */
        p->branches = arena_alloc(x->arena, sizeof(luac_branch_t));
        memset(p->branches, 0, sizeof(luac_branch_t));
        if (selection(x, &p->branches[0].sel))
            p->nbranches = 1;
    } else if (keyword(x, "if")) {
        for (;;) {
            luac_pred_t *c = cond_or(x, 0);
            if (!c || (!keyword(x, "then") && fail(x, x->i + 1, "expected 'then'")))
                return;
            if (!add_branch(x, p, c))
                return;
            if (keyword(x, "elseif"))
                continue;
            if (keyword(x, "else") && !add_branch(x, p, NULL))
                return;
            if (!keyword(x, "end")) {
                fail(x, x->i + 1, "expected 'elseif', 'else' or 'end'");
                return;
            }
            break;
        }
    } else if (!add_branch(x, p, NULL)) {
        return;
    }
    take(x, ';');
    skip_ws(x);
    if (!x->rc && x->i < x->len)
        fail(x, x->i + 1, "unexpected text after the end: '%.20s'", x->code + x->i);
}

/* The code of `TYPE "..."`: the quoted strings, unescaped and joined. */
static int unquote(const char *s, buf_t *out, gs_err_t *err)
{
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            return 0;
        if (*s != '"')
            return gs_err_set(err, GS_EINVAL, "LUA: the code must be in double quotes");
        s++;
        while (*s && *s != '"') {
            if (*s == '\\' && s[1])
                s++;
            buf_putc(out, *s++);
        }
        if (*s != '"')
            return gs_err_set(err, GS_EINVAL, "LUA: unterminated quoted code");
        s++;
        if (out->len > LUAC_MAX_CODE)
            return gs_err_set(err, GS_EINVAL, "LUA: code longer than %d bytes", LUAC_MAX_CODE);
    }
}

int luac_compile(const char *content, luac_prog_t **out, gs_err_t *err)
{
    *out = NULL;
    const rr_type_t *t = rr_lua_qtype(content);
    if (!t || (t->code != RR_TYPE_A && t->code != RR_TYPE_AAAA && t->code != RR_TYPE_CNAME &&
               t->code != RR_TYPE_TXT))
        return gs_err_set(err, GS_EINVAL,
                          "LUA: content must be '<TYPE> \"<code>\"' with TYPE A, AAAA, CNAME or "
                          "TXT");
    const char *q = content;
    while (*q == ' ' || *q == '\t')
        q++;
    q += strlen(t->name);
    buf_t code;
    buf_init(&code);
    int rc = unquote(q, &code, err);
    if (rc) {
        buf_free(&code);
        return rc;
    }
    luac_prog_t *p = mem_calloc(1, sizeof(*p));
    p->arena = arena_new();
    p->refs = 1;
    p->qtype = (uint16_t)t->code;
    p->type = t;
    ctx_t x = {.code = code.data ? code.data : "",
               .len = code.len,
               .arena = p->arena,
               .err = err,
               .qtype = p->qtype};
    if (memchr(x.code, '\0', x.len))
        fail(&x, 1, "NUL byte in the code");
    else
        program(&x, p);
    buf_free(&code);
    if (x.rc) {
        luac_free(p);
        return x.rc;
    }
    *out = p;
    return 0;
}

void luac_free(luac_prog_t *p)
{
    if (!p || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    arena_free(p->arena);
    free(p);
}

luac_prog_t *luac_ref(const luac_prog_t *p)
{
    luac_prog_t *m = (luac_prog_t *)(uintptr_t)p; /* the count is the one mutable field */
    __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
    return m;
}

const char *luac_prog_policy(const luac_prog_t *p)
{
    if (!p || p->nbranches != 1 || p->branches[0].cond || p->branches[0].sel.kind != LUAC_STEER)
        return NULL;
    return p->branches[0].sel.policy;
}
