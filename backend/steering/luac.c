/* The LUA-record subset compiler, in two passes over each call:
 *   1. A generic value parser (parse_value) reads an argument list into a
 *      tree of strings, numbers, booleans and tables (val_t), knowing
 *      nothing of what the values are for. Lua's syntax errors are found
 *      here.
 *   2. The checkers turn that tree into the program's types: the builtin
 *      table (`builtins`) says how many arguments a function takes and what
 *      each must be; the argument checkers, the option table (`opt_rows`)
 *      and the condition table (`conds`) refuse what does not fit, with the
 *      column of the offending value, and store the compiled form.
 * Everything is decided here, once, when the record is written: the
 * evaluator (luaeval.c) never sees a value it would have to check, and has
 * no error path.
 *
 * Memory: a program and everything it points to live in one arena (the
 * program struct itself is malloc'd, for its reference count). The parse
 * tree is allocated in the same arena and stays there, unused, until the
 * program is freed: a few hundred bytes per record, for the simplicity of
 * one owner and no copy. */
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

/* One parsed value. Tables keep Lua's two forms in one list, in the order
 * written: `{'a', 'b'}` has keys NULL, `{selector='all'}` has key
 * "selector"; whether a table is a list or a record is the checker's
 * question, not the parser's. */
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

/* The compiler's state. Every step reports failure both by its return
 * value and in `rc`: `fail` keeps the first error, so a caller that goes on
 * after a failure (or reports a second, vaguer one) cannot overwrite the
 * precise reason given deeper down. */
typedef struct {
    const char *code; /* the unquoted code; not NUL-terminated in general */
    size_t len, i;    /* its length, and the cursor */
    arena_t *arena;   /* the program's */
    gs_err_t *err;
    int rc;         /* 0, or the first failure's code */
    uint16_t qtype; /* the record type the values must have */
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
        /* Lua line comments. A long comment (--[[ ... ]]) is read as a
         * line comment too: its later lines are then code, and refused. */
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

/* A name at the cursor (not consumed), its length, or 0. Names are
 * matched byte for byte against the tables below: Lua is case-sensitive,
 * and so is this subset (`PickRandom` is an unknown function). */
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

/* A Lua short string ('...' or "..."). Only the escapes a value needs are
 * read (\n \t \\ \' \"); Lua's others (\ddd, \x, \z, ...) are refused
 * rather than half-understood. */
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
        /* The parser's own bound, above every checker's (LUAC_MAX_VALUES
         * values, 64 branches...): a list a little too long gets the
         * checker's precise reason, and no table can hold more memory than
         * this. */
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
    /* The subset nests tables three deep at most (view rules); the bound
     * keeps the recursion short on any input. */
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

/* Parses `(args)` with the cursor after a function's name. At most 8
 * arguments: more than any builtin takes (3), so that a few too many get
 * the builtin's "takes N arguments, got M" rather than this bound. */
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

/* Is `s` free of control characters (but tabs, when `tab`)? The check
 * plan's reader refuses them in what becomes a request line or header
 * (plan.c), and refuses the whole plan for one check that has them. */
static bool printable(const char *s, bool tab)
{
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && !(tab && *s == '\t')) || *s == 0x7f)
            return false;
    return true;
}

/* Is `v` a whole number from lo to hi? (In range first: converting a double
 * outside uint32_t's range is undefined.) */
static bool whole_in(const val_t *v, double lo, double hi)
{
    return v->kind == V_NUM && v->num >= lo && v->num <= hi && v->num == (double)(uint32_t)v->num;
}

static const char *kind_name(vkind_t k)
{
    return k == V_STR    ? "a string"
           : k == V_NUM  ? "a number"
           : k == V_BOOL ? "a boolean"
                         : "a table";
}

/* Checks and normalises one answer value for the record's type, into the
 * text pdns will be given: A as written (inet_pton accepts only the dotted
 * quad, so what passes is already canonical), AAAA in RFC 5952 form, CNAME
 * as a canonical absolute name, TXT quoted and escaped as one DNS string
 * (hence 255 bytes). Answers are never checked again at evaluation. */
static const char *answer_value(ctx_t *x, const val_t *v)
{
    if (v->kind != V_STR) {
        fail(x, v->pos, "expected a string value, got %s", kind_name(v->kind));
        return NULL;
    }
    uint8_t a[16];
    char text[INET6_ADDRSTRLEN];
    switch (x->qtype) {
    case RR_TYPE_A:
        if (inet_pton(AF_INET, v->s, a) != 1) {
            fail(x, v->pos, "'%.60s' is not an IPv4 address (the record is of type A)", v->s);
            return NULL;
        }
        return arena_strndup(x->arena, v->s, strlen(v->s));
    case RR_TYPE_AAAA:
        if (inet_pton(AF_INET6, v->s, a) != 1) {
            fail(x, v->pos, "'%.60s' is not an IPv6 address (the record is of type AAAA)", v->s);
            return NULL;
        }
        inet_ntop(AF_INET6, a, text, sizeof(text));
        return arena_strndup(x->arena, text, strlen(text));
    case RR_TYPE_CNAME: {
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

/* `n` items, zeroed: `check` is 0 but for health-checked addresses
 * (set_check_ids), and `explain` relies on it. */
static luac_item_t *new_items(ctx_t *x, size_t n)
{
    luac_item_t *items = arena_alloc(x->arena, n * sizeof(luac_item_t));
    memset(items, 0, n * sizeof(luac_item_t));
    return items;
}

/* A list of answer values: a table of strings, or (`allow_single`, a
 * literal answer) one string. The functions take tables only: pdns declares
 * their arguments as lists, so `pickrandom('192.0.2.1')` is refused here
 * rather than given a meaning pdns does not give it. */
static bool value_list(ctx_t *x, const val_t *v, luac_set_t *out, bool allow_single)
{
    if (v->kind == V_STR && allow_single) {
        out->items = new_items(x, 1);
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
    out->items = new_items(x, v->n);
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
    out->items = new_items(x, v->n);
    out->n = v->n;
    for (size_t i = 0; i < v->n; i++) {
        const val_t *p = v->items[i];
        if (p->kind != V_TABLE || p->n != 2 || p->items[0]->kind != V_NUM) {
            fail(x, p->pos, "expected a {weight, value} pair");
            return false;
        }
        /* From 1: a value of weight 0 would never be answered. Up to 10^6:
         * LUAC_MAX_VALUES of them sum below 2^28, far inside the 64-bit
         * sum the evaluator's weighted pick takes. */
        if (!whole_in(p->items[0], 1, 1000000)) {
            fail(x, p->items[0]->pos, "weights are whole numbers from 1 to 1000000, got %g",
                 p->items[0]->num);
            return false;
        }
        out->items[i].weight = (uint32_t)p->items[0]->num;
        if (!(out->items[i].value = answer_value(x, p->items[1])))
            return false;
    }
    return true;
}

/* addrs or {set1, set2, ...} for if*up: one or several sets. Which it is
 * is decided by the first item alone (a table: sets); a mixed table then
 * fails at its first item of the other shape, with that item's column. */
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

/* ---- options of ifportup/ifurlup ---- */

/* The whole option language is checked here, when the record is written:
 * a value out of range is refused with its column rather than clamped or
 * defaulted later, so an accepted record means what it says. Only what
 * cannot be known before the record is served (whether an address answers)
 * is left to run time: the probe checks, the evaluator reads the result by
 * check id (luaeval.c).
 *
 * The ranges keep every check compiled from a record inside what the check
 * plan accepts (plan.c's reader: interval 0.1 s to 1 h, timeout 10 ms up to
 * the interval, fall 1..100, body_max up to 1 MiB, PLAN_MAX_HEADERS
 * headers), so that no record accepted here can make a plan the probe
 * refuses. `timeout` must be below `interval` (checked after every option
 * is read, since either may come first) so that a check never overlaps
 * itself. timeout <= 60 s and minimumFailures <= 10 are narrower than the
 * plan's bounds; widening them is safe for the probe up to those bounds.
 * Text options are one line: in useragent or headers a line break would
 * let a value add headers of its own. What is sent as a header (and the
 * URL) is also free of other control characters, which the plan's reader
 * refuses (check_luac's test_plan_accepted holds the round trip). */

/* How an option's value is read and stored. */
typedef enum {
    OPT_SELECTOR, /* a selector name (no 'empty') -> luac_pick_t */
    OPT_BACKUP,   /* a selector name or 'empty' -> luac_pick_t */
    OPT_SECONDS,  /* seconds in [lo, hi] -> uint32_t milliseconds */
    OPT_NUMBER,   /* a number in [lo, hi] -> uint32_t, fraction dropped */
    OPT_TEXT,     /* one line of text -> const char * (arena) */
    OPT_HEADER,   /* printable text, sent as a header value -> const char * */
    OPT_HEADERS,  /* {['Name']='value', ...} -> headers, nheaders */
    OPT_REFUSED,  /* a pdns option geosteer does not implement */
} opt_kind_t;

typedef struct {
    const char *name;
    opt_kind_t kind;
    bool url_only; /* an HTTP setting: refused in ifportup */
    double lo, hi; /* OPT_SECONDS, OPT_NUMBER: the accepted range */
    double dflt;   /* OPT_SECONDS, OPT_NUMBER: pdns's default, in the unit written */
    size_t field;  /* where the value goes in luac_opts_t */
} opt_row_t;

/* offsetof a field of luac_opts_t, which must have type T: a row cannot
 * point a number at a string field. */
#define OPT_FIELD(f, T)                                                                            \
    (offsetof(luac_opts_t, f) + 0 * sizeof(_Generic(((luac_opts_t *)0)->f, T : 1)))

static const opt_row_t opt_rows[] = {
    {"selector", OPT_SELECTOR, false, 0, 0, 0, OPT_FIELD(selector, luac_pick_t)},
    {"backupSelector", OPT_BACKUP, false, 0, 0, 0, OPT_FIELD(backup, luac_pick_t)},
    {"timeout", OPT_SECONDS, false, 0.01, 60, 2, OPT_FIELD(timeout_ms, uint32_t)},
    {"interval", OPT_SECONDS, false, 1, 3600, 5, OPT_FIELD(interval_ms, uint32_t)},
    {"minimumFailures", OPT_NUMBER, false, 1, 10, 1, OPT_FIELD(min_failures, uint32_t)},
    {"byteslimit", OPT_NUMBER, true, 0, 1 << 20, 0, OPT_FIELD(byteslimit, uint32_t)},
    {"httpcode", OPT_NUMBER, true, 100, 599, 200, OPT_FIELD(httpcode, uint32_t)},
    {"stringmatch", OPT_TEXT, true, 0, 0, 0, OPT_FIELD(stringmatch, const char *)},
    {"useragent", OPT_HEADER, true, 0, 0, 0, OPT_FIELD(useragent, const char *)},
    {"headers", OPT_HEADERS, true, 0, 0, 0, OPT_FIELD(headers, const char *(*)[2])},
    {"source", OPT_REFUSED, false, 0, 0, 0, 0},
    {"failOnIncompleteCheck", OPT_REFUSED, false, 0, 0, 0, 0},
};

static const opt_row_t *opt_find(const char *name)
{
    for (size_t i = 0; i < sizeof(opt_rows) / sizeof(opt_rows[0]); i++)
        if (strcmp(name, opt_rows[i].name) == 0)
            return &opt_rows[i];
    return NULL;
}

/* The number of a numeric row as stored: whole milliseconds for seconds. */
static uint32_t opt_scaled(const opt_row_t *r, double d)
{
    return r->kind == OPT_SECONDS ? (uint32_t)(d * 1000 + 0.5) : (uint32_t)d;
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

/* One line of text; `header`: sent as an HTTP header value, so printable
 * (tabs allowed, as in HTTP). */
static bool text_opt(ctx_t *x, const val_t *v, const char *name, bool header, const char **out)
{
    if (v->kind != V_STR || strpbrk(v->s, "\r\n") || strlen(v->s) > 1024) {
        fail(x, v->pos, "option '%s' must be a string without line breaks", name);
        return false;
    }
    if (header && !printable(v->s, true)) {
        fail(x, v->pos, "option '%s' must be printable text (it is sent as an HTTP header)", name);
        return false;
    }
    *out = v->s;
    return true;
}

/* headers={['Name']='value', ...}. A repeated `headers` key replaces the
 * earlier table, as a Lua table constructor keeps the last value of a
 * repeated key. */
static bool headers_opt(ctx_t *x, const val_t *v, luac_opts_t *o)
{
    if (v->kind != V_TABLE || v->n > 32) {
        fail(x, v->pos, "option 'headers' must be a table {['Name']='value', ...}");
        return false;
    }
    o->headers = arena_alloc(x->arena, (v->n + 1) * sizeof(*o->headers));
    o->nheaders = 0;
    for (size_t h = 0; h < v->n; h++) {
        const char *name = v->keys[h], *val;
        /* The name goes into the request as is: no blank, no colon, no
         * control character. */
        if (!name || !*name || strpbrk(name, " :") || !printable(name, false) ||
            !text_opt(x, v->items[h], "headers", true, &val)) {
            fail(x, v->items[h]->pos, "option 'headers' must map names to strings");
            return false;
        }
        o->headers[o->nheaders][0] = name;
        o->headers[o->nheaders++][1] = val;
    }
    return true;
}

/* Reads the value `v` of option row `r` into `o`. */
static bool opt_read(ctx_t *x, const opt_row_t *r, const val_t *v, luac_opts_t *o)
{
    void *field = (char *)o + r->field;
    double d;
    switch (r->kind) {
    case OPT_SELECTOR:
    case OPT_BACKUP:
        return pick_name(x, v, r->kind == OPT_BACKUP, field);
    case OPT_SECONDS:
    case OPT_NUMBER:
        if (!num_opt(x, v, r->name, r->lo, r->hi, &d))
            return false;
        *(uint32_t *)field = opt_scaled(r, d);
        return true;
    case OPT_TEXT:
    case OPT_HEADER:
        return text_opt(x, v, r->name, r->kind == OPT_HEADER, field);
    case OPT_HEADERS:
        return headers_opt(x, v, o);
    case OPT_REFUSED:
        break;
    }
    fail(x, v->pos, "option '%s' is not supported by geosteer (see the migration guide)", r->name);
    return false;
}

/* The options table of ifportup/ifurlup (NULL when the call has none):
 * pdns's defaults, then each named option over them. Keys repeat as in
 * Lua: the last one counts. */
static bool options(ctx_t *x, const val_t *v, luac_sel_t *s)
{
    luac_opts_t *o = &s->opts;
    o->selector = o->backup = LUAC_PICK_RANDOM;
    for (size_t i = 0; i < sizeof(opt_rows) / sizeof(opt_rows[0]); i++)
        if (opt_rows[i].kind == OPT_SECONDS || opt_rows[i].kind == OPT_NUMBER)
            *(uint32_t *)((char *)o + opt_rows[i].field) =
                opt_scaled(&opt_rows[i], opt_rows[i].dflt);
    if (!v)
        return true;
    if (v->kind != V_TABLE) {
        fail(x, v->pos, "options must be a table like {selector='all'}");
        return false;
    }
    for (size_t i = 0; i < v->n; i++) {
        const char *k = v->keys[i];
        const val_t *o_v = v->items[i];
        if (!k) {
            fail(x, o_v->pos, "options are named: {name=value, ...}");
            return false;
        }
        const opt_row_t *r = opt_find(k);
        if (r && r->url_only && s->kind != LUAC_IFURLUP) {
            fail(x, o_v->pos, "option '%s' is only for ifurlup", k);
            return false;
        }
        if (!r) {
            fail(x, o_v->pos, "unknown option '%s'", k);
            return false;
        }
        if (!opt_read(x, r, o_v, o))
            return false;
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

/* Splits an http(s) URL into scheme, host, port and path (arena copies).
 * The probe connects to each checked address itself and sends the URL's
 * host as Host and SNI (plan.h), so the host is never resolved and may be
 * any name. A query or fragment without a path gives the path "/". */
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
 * the program. Used twice with the same result: at compile time for the id
 * (set_check_ids), and when the plan is built (plan_one). Computing the id
 * once, into the item, is what lets the evaluator read an address's health
 * with one lookup by id, and lets the same address with the same settings
 * in many records (or in geosteer.json) be one check. */
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

/* ---- builtins: the functions a selection may call ---- */

/* What one argument of a builtin must be. Each kind has one checker
 * (arg_checks) that refuses anything else with the argument's column and
 * stores the compiled form in the selection; the messages say what the
 * argument is for, so a kind is as specific as its message. */
typedef enum {
    ARG_PORT,     /* a whole number 1..65535 -> port */
    ARG_URL,      /* an http:// or https:// URL -> url, https, url_host, url_port, url_path */
    ARG_SAMPLE,   /* a whole number 1..LUAC_MAX_VALUES -> sample */
    ARG_VALUES,   /* a non-empty table of answer values -> sets[0] */
    ARG_WEIGHTED, /* a table of {weight, value} pairs -> sets[0] */
    ARG_ADDRS,    /* addresses, or a table of address sets (A, AAAA only) -> sets */
    ARG_OPTIONS,  /* the options table of if*up, optional -> opts */
    ARG_RULES,    /* view rules {{networks}, {values}} -> rules */
    ARG_POLICY,   /* a policy name of geosteer.json -> policy */
} arg_kind_t;

#define BUILTIN_MAX_ARGS 3

/* One row per selection kind, indexed by it. Arguments are checked in
 * order, so that the first wrong one is the one reported, as a reader
 * going left to right would find it. */
typedef struct {
    const char *name;
    uint8_t min, max; /* argument count */
    /* A and AAAA records only. Checked at the name, before the arity: the
     * function cannot be used in the record at all. (if*up have the same
     * restriction, reported at their address argument: ARG_ADDRS.) */
    bool addresses;
    arg_kind_t args[BUILTIN_MAX_ARGS]; /* the first `max` are used */
    /* What is specific to the builtin, once every argument is in place;
     * NULL when nothing is. */
    void (*finish)(luac_sel_t *s);
} builtin_t;

static void set_check_ids(luac_sel_t *s);

static const builtin_t builtins[] = {
    /* Literals (a string or a table of strings) are no call; "values" is
     * only their name in explanations (luac_sel_name). */
    [LUAC_STATIC] = {"values", 0, 0, false, {0}, NULL},
    [LUAC_IFPORTUP] = {"ifportup", 2, 3, false, {ARG_PORT, ARG_ADDRS, ARG_OPTIONS}, set_check_ids},
    [LUAC_IFURLUP] = {"ifurlup", 2, 3, false, {ARG_URL, ARG_ADDRS, ARG_OPTIONS}, set_check_ids},
    [LUAC_PICKRANDOM] = {"pickrandom", 1, 1, false, {ARG_VALUES}, NULL},
    [LUAC_PICKRANDOMSAMPLE] = {"pickrandomsample", 2, 2, false, {ARG_SAMPLE, ARG_VALUES}, NULL},
    [LUAC_PICKHASHED] = {"pickhashed", 1, 1, false, {ARG_VALUES}, NULL},
    [LUAC_PICKWRANDOM] = {"pickwrandom", 1, 1, false, {ARG_WEIGHTED}, NULL},
    [LUAC_PICKWHASHED] = {"pickwhashed", 1, 1, false, {ARG_WEIGHTED}, NULL},
    [LUAC_PICKCHASHED] = {"pickchashed", 1, 1, false, {ARG_WEIGHTED}, NULL},
    [LUAC_PICKCLOSEST] = {"pickclosest", 1, 1, true, {ARG_VALUES}, NULL},
    [LUAC_ALL] = {"all", 1, 1, false, {ARG_VALUES}, NULL},
    [LUAC_VIEW] = {"view", 1, 1, false, {ARG_RULES}, NULL},
    [LUAC_STEER] = {"steer", 1, 1, false, {ARG_POLICY}, NULL},
};
_Static_assert(sizeof(builtins) / sizeof(builtins[0]) == LUAC_STEER + 1,
               "one builtin row per selection kind");

const char *luac_sel_name(luac_sel_kind_t k)
{
    return (unsigned)k <= LUAC_STEER ? builtins[k].name : "?";
}

/* The row of the builtin called `fn`, or NULL. */
static const builtin_t *builtin_find(const char *fn)
{
    for (size_t k = LUAC_STATIC + 1; k < sizeof(builtins) / sizeof(builtins[0]); k++)
        if (strcmp(fn, builtins[k].name) == 0)
            return &builtins[k];
    return NULL;
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

/* The single value set of a selection that has one. */
static luac_set_t *one_set(ctx_t *x, luac_sel_t *s)
{
    s->sets = arena_alloc(x->arena, sizeof(luac_set_t));
    s->nsets = 1;
    return &s->sets[0];
}

static bool arg_port(ctx_t *x, const val_t *v, luac_sel_t *s)
{
    if (!whole_in(v, 1, 65535))
        return fail(x, v->pos, "the port must be a number from 1 to 65535"), false;
    s->port = (uint32_t)v->num;
    return true;
}

static bool arg_url(ctx_t *x, const val_t *v, luac_sel_t *s)
{
    const char *u = v->kind == V_STR ? v->s : NULL;
    if (!u || (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) || strchr(u, ' ') ||
        !printable(u, false))
        return fail(x, v->pos, "the URL must be an http:// or https:// URL"), false;
    s->url = u;
    return parse_url(x, v, s);
}

static bool arg_sample(ctx_t *x, const val_t *v, luac_sel_t *s)
{
    if (!whole_in(v, 1, LUAC_MAX_VALUES))
        return fail(x, v->pos, "the sample size must be a whole number from 1 to %d",
                    LUAC_MAX_VALUES),
               false;
    s->sample = (uint32_t)v->num;
    return true;
}

static bool arg_values(ctx_t *x, const val_t *v, luac_sel_t *s)
{
    return value_list(x, v, one_set(x, s), false);
}

static bool arg_weighted(ctx_t *x, const val_t *v, luac_sel_t *s)
{
    return weighted_list(x, v, one_set(x, s));
}

static bool arg_rules(ctx_t *x, const val_t *r, luac_sel_t *s)
{
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

/* The name is only checked for shape here: policies belong to the config,
 * which may change without the record being written again. Whether it
 * names a policy that can answer the record's type is checked at each
 * write and config reload (state_check_steer), and at evaluation a policy
 * that is gone answers nothing. */
static bool arg_policy(ctx_t *x, const val_t *v, luac_sel_t *s)
{
    if (v->kind != V_STR || !*v->s || strlen(v->s) > 63 ||
        strspn(v->s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
            strlen(v->s))
        return fail(x, v->pos, "steer() takes a policy name from geosteer.json"), false;
    s->policy = v->s;
    return true;
}

/* Indexed by arg_kind_t. Only an optional argument's checker is called with
 * NULL (the call left it out), so that it can fill in defaults. */
static bool (*const arg_checks[])(ctx_t *x, const val_t *v, luac_sel_t *s) = {
    [ARG_PORT] = arg_port,     [ARG_URL] = arg_url,           [ARG_SAMPLE] = arg_sample,
    [ARG_VALUES] = arg_values, [ARG_WEIGHTED] = arg_weighted, [ARG_ADDRS] = address_sets,
    [ARG_OPTIONS] = options,   [ARG_RULES] = arg_rules,       [ARG_POLICY] = arg_policy,
};
_Static_assert(sizeof(arg_checks) / sizeof(arg_checks[0]) == ARG_POLICY + 1,
               "one checker per argument kind");

static const struct cond_row *cond_find(const char *fn);

/* A selection: a literal, or a call of a builtin. The order of the checks
 * decides which error a record with several gets, and the tests pin the
 * messages: the call's own syntax first (parse_args), then the record type,
 * then the argument count, then each argument left to right, then the
 * builtin's own finish. */
static bool selection(ctx_t *x, luac_sel_t *s)
{
    skip_ws(x);
    size_t pos = x->i + 1;
    memset(s, 0, sizeof(*s));
    if (x->i < x->len && (x->code[x->i] == '\'' || x->code[x->i] == '"' || x->code[x->i] == '{' ||
                          long_open(x) >= 0)) {
        val_t *v = parse_value(x, 0);
        s->kind = LUAC_STATIC;
        return v && value_list(x, v, one_set(x, s), true);
    }
    size_t n = name_len(x);
    if (!n) {
        fail(x, pos, "expected a function call like pickrandom({...}) or a value");
        return false;
    }
    char fn[64];
    snprintf(fn, sizeof(fn), "%.*s", (int)(n < 60 ? n : 60), x->code + x->i);
    x->i += n;
    const builtin_t *b = builtin_find(fn);
    if (!b) {
        if (cond_find(fn))
            fail(x, pos, "%s() is a condition: use it in ';if %s(...) then return ... end'", fn,
                 fn);
        else if (!peek(x, '('))
            fail(x, pos, "variables are not supported (got '%s')", fn);
        else
            fail(x, pos, "function %s() is not in geosteer's LUA subset", fn);
        return false;
    }
    s->kind = (luac_sel_kind_t)(b - builtins);
    size_t na;
    val_t **a = parse_args(x, &na);
    if (!a)
        return false;
    if (b->addresses && x->qtype != RR_TYPE_A && x->qtype != RR_TYPE_AAAA)
        return fail(x, pos, "%s() answers addresses: use it in A or AAAA records", fn), false;
    if (!want_args(x, pos, fn, na, b->min, b->max))
        return false;
    for (size_t i = 0; i < b->max; i++)
        if (!arg_checks[b->args[i]](x, i < na ? a[i] : NULL, s))
            return false;
    if (b->finish)
        b->finish(s);
    return true;
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

/* The functions a condition may call: each takes one argument, a value or
 * a table of them, read by `arg` into the predicate. Codes are stored upper
 * case, as GeoIP databases write them (the evaluator compares without case
 * all the same). Country and continent codes are checked against the known
 * lists, so that a typo is refused rather than never matching; region codes
 * are not, since subdivision codes are whatever the database says. */
typedef struct cond_row {
    const char *name;
    luac_pred_kind_t kind;
    bool (*arg)(ctx_t *x, const struct cond_row *r, const val_t *v, luac_pred_t *p);
    /* Codes only: refuses a code (upper-cased in `up`) that cannot match;
     * NULL accepts any. */
    bool (*code_ok)(ctx_t *x, const val_t *c, const char *up);
} cond_row_t;

static bool country_ok(ctx_t *x, const val_t *c, const char *up)
{
    if (strlen(up) == 2 && geo_country_find(up))
        return true;
    fail(x, c->pos, "'%s' is not an ISO 3166-1 country code", c->s);
    return false;
}

static bool continent_ok(ctx_t *x, const val_t *c, const char *up)
{
    if (strlen(up) == 2 && strstr("AF AN AS EU NA OC SA", up))
        return true;
    fail(x, c->pos, "'%s' is not a continent code (AF AN AS EU NA OC SA)", c->s);
    return false;
}

static bool code_list(ctx_t *x, const cond_row_t *r, const val_t *v, luac_pred_t *p)
{
    size_t n = v->kind == V_TABLE ? v->n : 1;
    if ((v->kind != V_STR && v->kind != V_TABLE) || n == 0 || n > LUAC_MAX_VALUES) {
        fail(x, v->pos, "%s() takes a code or a table of codes", r->name);
        return false;
    }
    p->codes = arena_alloc(x->arena, n * sizeof(*p->codes));
    p->n = n;
    for (size_t i = 0; i < n; i++) {
        const val_t *c = v->kind == V_TABLE ? v->items[i] : v;
        if (c->kind != V_STR || !*c->s || strlen(c->s) > 7) {
            fail(x, c->pos, "%s() codes are short strings like 'DE'", r->name);
            return false;
        }
        char up[8];
        size_t l = strlen(c->s);
        for (size_t k = 0; k <= l; k++)
            up[k] = (char)toupper((unsigned char)c->s[k]);
        if (r->code_ok && !r->code_ok(x, c, up))
            return false;
        p->codes[i] = arena_strndup(x->arena, up, l);
    }
    return true;
}

static bool asn_list(ctx_t *x, const cond_row_t *r, const val_t *v, luac_pred_t *p)
{
    (void)r;
    size_t cnt = v->kind == V_TABLE ? v->n : 1;
    if ((v->kind != V_NUM && v->kind != V_TABLE) || cnt == 0 || cnt > LUAC_MAX_VALUES) {
        fail(x, v->pos, "asnum() takes a number or a table of numbers");
        return false;
    }
    p->asns = arena_alloc(x->arena, cnt * sizeof(uint32_t));
    p->n = cnt;
    for (size_t i = 0; i < cnt; i++) {
        const val_t *c = v->kind == V_TABLE ? v->items[i] : v;
        /* Not 0: the GeoIP result says 0 when it has no number (geodb.h),
         * so asnum(0) would match the clients of unknown networks. */
        if (!whole_in(c, 1, 4294967295.0)) {
            fail(x, c->pos, "AS numbers are whole numbers from 1 to 4294967295");
            return false;
        }
        p->asns[i] = (uint32_t)c->num;
    }
    return true;
}

static bool cond_nets(ctx_t *x, const cond_row_t *r, const val_t *v, luac_pred_t *p)
{
    (void)r;
    return net_list(x, v, &p->nets, &p->n);
}

static const cond_row_t conds[] = {
    {"country", LUAC_P_COUNTRY, code_list, country_ok},
    {"continent", LUAC_P_CONTINENT, code_list, continent_ok},
    {"region", LUAC_P_REGION, code_list, NULL},
    {"asnum", LUAC_P_ASNUM, asn_list, NULL},
    {"netmask", LUAC_P_NETMASK, cond_nets, NULL},
};

/* The row of the condition function `fn`, or NULL. */
static const cond_row_t *cond_find(const char *fn)
{
    for (size_t i = 0; i < sizeof(conds) / sizeof(conds[0]); i++)
        if (strcmp(fn, conds[i].name) == 0)
            return &conds[i];
    return NULL;
}

/* One operand of `and`/`or`: a parenthesised condition, `not`, a boolean
 * literal or a condition call. `depth` counts parentheses and `not`, the
 * only ways the parser recurses, so the compiler's stack is bounded by a
 * constant. Chains of `and`/`or` are built by loops (cond_and, cond_or)
 * into left-leaning trees: the evaluator's recursion over a tree is
 * bounded by the length of the code (LUAC_MAX_CODE), not by this limit. */
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
    const cond_row_t *r = cond_find(fn);
    if (!r) {
        if (!peek(x, '(')) {
            fail(x, pos, "variables are not supported (got '%s')", fn);
            return NULL;
        }
        char known[96] = "";
        for (size_t i = 0; i < sizeof(conds) / sizeof(conds[0]); i++)
            snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s", i ? ", " : "",
                     conds[i].name);
        fail(x, pos, "%s() is not a condition geosteer knows (%s)", fn, known);
        return NULL;
    }
    size_t na;
    val_t **a = parse_args(x, &na);
    if (!a || !want_args(x, pos, fn, na, 1, 1))
        return NULL;
    luac_pred_t *p = new_pred(x, r->kind);
    return r->arg(x, r, a[0], p) ? p : NULL;
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

/* Appends the branch `cond` -> `return <selection>`. The branches are one
 * array (the evaluator walks it in order), so the selections are stored
 * inline and conditions by pointer (a tree, built by cond_or). The arena
 * cannot free, so each growth leaves the old array behind: at most as many
 * dead entries as live ones. */
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

/* The whole code. pdns runs a LUA record's code as an expression unless it
 * starts with ';', then as a statement; only the statements that choose an
 * answer are in the subset. A chain without `else` is kept as is: when no
 * condition holds the record answers nothing for that client (luac.h),
 * rather than getting an implicit default. */
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

/* The code of `TYPE "..."`: the quoted strings, unescaped and joined with
 * nothing between them (content may carry the code as several strings).
 * Unescaping removes one level of backslashes, the record content's; the
 * code's own string escapes are Lua's, read later by parse_string. The size
 * limit applies to the joined code, checked as it grows. */
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
    /* Values are kept as C strings: a NUL inside one would cut it short. */
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

/* The reference count is the only thing in a program written after
 * compile. The release decrement is acq_rel so that the thread that frees
 * sees every other holder's reads as done before it (they happen before
 * their own decrement). The increment can be relaxed: a reference is only
 * ever taken from one already held, so the count cannot reach 0 meanwhile,
 * and handing the pointer to another thread is ordered by whatever hands it
 * (the snapshot publication). */
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
