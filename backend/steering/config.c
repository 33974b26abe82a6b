#include "backend/steering/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/dns/dname.h"
#include "backend/steering/config_schema.h"
#include "common/compiler.h"
#include "common/digest.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"

/* The four kinds of named objects, in the order of cfg_t.by_name. */
enum { K_MON, K_EP, K_POOL, K_POL, K_COUNT };
static const char *const kind_names[K_COUNT] = {"monitor", "endpoint", "pool", "policy"};
static const char *const section_names[K_COUNT] = {"monitors", "endpoints", "pools", "policies"};
static const char *const kind_articles[K_COUNT] = {"a", "an", "a", "a"};

static const char *const geo_keys[] = {"continent", "country", "subdivision", "asn", "cidr", NULL};

/* ---------------------------------------------------------------------- */
/* Defaults, lifetime, lookups                                            */

static void items_default(cfg_obj_t obj_kind, int type, void *obj);

void cfg_defaults(cfg_t *cfg)
{
    *cfg = (cfg_t){0};
    static const cfg_obj_t settings_objs[] = {CFG_OBJ_SETTINGS, CFG_OBJ_GEOIP, CFG_OBJ_PROBE,
                                              CFG_OBJ_HEALTH, CFG_OBJ_DECLOG};
    for (size_t i = 0; i < sizeof(settings_objs) / sizeof(settings_objs[0]); i++)
        items_default(settings_objs[i], -1, cfg);
}

static void free_steering(cfg_t *cfg)
{
    for (size_t i = 0; i < cfg->nmonitors; i++) {
        cfg_monitor_t *m = &cfg->monitors[i];
        free(m->name);
        free(m->path);
        free(m->host);
        free(m->expect);
        free(m->body);
        free(m->ca_file);
        for (size_t h = 0; h < m->nheaders; h++) {
            free(m->headers[h].name);
            free(m->headers[h].value);
        }
        free(m->headers);
    }
    for (size_t i = 0; i < cfg->nendpoints; i++) {
        cfg_endpoint_t *e = &cfg->endpoints[i];
        free(e->name);
        free(e->a);
        free(e->aaaa);
        free(e->cname);
    }
    for (size_t i = 0; i < cfg->npools; i++) {
        free(cfg->pools[i].name);
        free(cfg->pools[i].endpoints);
    }
    for (size_t i = 0; i < cfg->npolicies; i++) {
        cfg_policy_t *p = &cfg->policies[i];
        free(p->name);
        free(p->pools);
        free(p->bias);
        free(p->rules);
    }
    free(cfg->monitors);
    free(cfg->endpoints);
    free(cfg->pools);
    free(cfg->policies);
    for (int k = 0; k < K_COUNT; k++)
        free(cfg->by_name[k]);
    cfg->monitors = NULL;
    cfg->endpoints = NULL;
    cfg->pools = NULL;
    cfg->policies = NULL;
    cfg->nmonitors = cfg->nendpoints = cfg->npools = cfg->npolicies = 0;
    for (int k = 0; k < K_COUNT; k++)
        cfg->by_name[k] = NULL;
}

void cfg_free(cfg_t *cfg)
{
    if (!cfg)
        return;
    free_steering(cfg);
    free(cfg->socket);
    free(cfg->zone_db);
    free(cfg->geoip_database);
    free(cfg->geoip_asn_database);
    free(cfg->runtime_dir);
    free(cfg->pdns_control_socket);
    free(cfg->pipe_socket);
    cfg->pipe_socket = NULL;
    free(cfg->metrics_listen);
    cfg->metrics_listen = NULL;
    free(cfg->decision_log);
    cfg->decision_log = NULL;
    cfg->socket = cfg->zone_db = cfg->geoip_database = cfg->geoip_asn_database = NULL;
    cfg->runtime_dir = cfg->pdns_control_socket = NULL;
}

int cfg_log_level(const char *name)
{
    return log_level_parse(name);
}

const char *cfg_policy_type_name(cfg_policy_type_t type)
{
    return (unsigned)type <= CFG_POLICY_PROXIMITY ? cfg_policy_type_names[type] : "?";
}

const char *cfg_monitor_type_name(cfg_monitor_type_t type)
{
    return (unsigned)type <= CFG_MON_HTTPS ? cfg_monitor_type_names[type] : "?";
}

const char *cfg_geo_key_name(cfg_geo_key_t key)
{
    return (unsigned)key <= CFG_GEO_CIDR ? geo_keys[key] : "?";
}

static size_t kind_count(const cfg_t *cfg, int kind)
{
    switch (kind) {
    case K_MON:
        return cfg->nmonitors;
    case K_EP:
        return cfg->nendpoints;
    case K_POOL:
        return cfg->npools;
    default:
        return cfg->npolicies;
    }
}

static const char *kind_name_at(const cfg_t *cfg, int kind, size_t i)
{
    switch (kind) {
    case K_MON:
        return cfg->monitors[i].name;
    case K_EP:
        return cfg->endpoints[i].name;
    case K_POOL:
        return cfg->pools[i].name;
    default:
        return cfg->policies[i].name;
    }
}

static int lookup(const cfg_t *cfg, int kind, const char *name)
{
    const int *idx = cfg->by_name[kind];
    size_t lo = 0, hi = kind_count(cfg, kind);
    if (!idx || !name)
        return -1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, kind_name_at(cfg, kind, (size_t)idx[mid]));
        if (c == 0)
            return idx[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

static int by_name_cmp(const void *a, const void *b, void *arg)
{
    const cfg_t *cfg = ((const void *const *)arg)[0];
    int kind = *(const int *)((const void *const *)arg)[1];
    return strcmp(kind_name_at(cfg, kind, (size_t) * (const int *)a),
                  kind_name_at(cfg, kind, (size_t) * (const int *)b));
}

static void build_index(cfg_t *cfg, int kind)
{
    size_t n = kind_count(cfg, kind);
    free(cfg->by_name[kind]);
    cfg->by_name[kind] = mem_calloc(n ? n : 1, sizeof(int));
    for (size_t i = 0; i < n; i++)
        cfg->by_name[kind][i] = (int)i;
    const void *arg[2] = {cfg, &kind};
    qsort_r(cfg->by_name[kind], n, sizeof(int), by_name_cmp, arg);
}

int cfg_monitor_index(const cfg_t *cfg, const char *name)
{
    return lookup(cfg, K_MON, name);
}

int cfg_endpoint_index(const cfg_t *cfg, const char *name)
{
    return lookup(cfg, K_EP, name);
}

int cfg_pool_index(const cfg_t *cfg, const char *name)
{
    return lookup(cfg, K_POOL, name);
}

int cfg_policy_index(const cfg_t *cfg, const char *name)
{
    return lookup(cfg, K_POL, name);
}

const cfg_monitor_t *cfg_monitor_find(const cfg_t *cfg, const char *name)
{
    int i = lookup(cfg, K_MON, name);
    return i < 0 ? NULL : &cfg->monitors[i];
}

const cfg_endpoint_t *cfg_endpoint_find(const cfg_t *cfg, const char *name)
{
    int i = lookup(cfg, K_EP, name);
    return i < 0 ? NULL : &cfg->endpoints[i];
}

const cfg_pool_t *cfg_pool_find(const cfg_t *cfg, const char *name)
{
    int i = lookup(cfg, K_POOL, name);
    return i < 0 ? NULL : &cfg->pools[i];
}

const cfg_policy_t *cfg_policy_find(const cfg_t *cfg, const char *name)
{
    int i = lookup(cfg, K_POL, name);
    return i < 0 ? NULL : &cfg->policies[i];
}

/* ---------------------------------------------------------------------- */
/* Error reporting                                                        */

#define PATH_LEN 512

typedef struct {
    const char *file;
    buf_t *errors;
    int count;
    cfg_t *cfg;                /* the config being built */
    json_t *section[K_COUNT];  /* the section objects, NULL if absent or invalid */
    bool section_bad[K_COUNT]; /* present but not an object: no "unknown X" errors */
} ctx_t;

static void error(ctx_t *x, const char *path, const char *fmt, ...) GS_PRINTF(3, 4);
static void error(ctx_t *x, const char *path, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    buf_printf(x->errors, "%s: error: %s: %s\n", x->file, path, msg);
    x->count++;
}

/* Short JSON text of `v` for error messages, written into `tmp`. */
static const char *json_dumps_short(json_t *v, char tmp[64])
{
    size_t n = json_dumpb(v, tmp, 63, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
    if (n > 63) {
        memcpy(tmp + 56, "...", 4);
        n = 59;
    }
    tmp[n] = '\0';
    return tmp;
}

/* `s` made printable for a message: printable ASCII is kept, other bytes
 * become \xNN, and the result is cut at about 64 characters. */
static const char *esc(const char *s, char out[96])
{
    size_t o = 0;
    for (; *s && o < 64; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c < 0x7f)
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
    }
    if (*s) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

static void path_key(char *dst, const char *parent, const char *key)
{
    char e[96];
    snprintf(dst, PATH_LEN, "%s.%s", parent, esc(key, e));
}

static void path_idx(char *dst, const char *parent, size_t i)
{
    snprintf(dst, PATH_LEN, "%s[%zu]", parent, i);
}

/* Resolves a reference by name; reports an unknown name at `path` unless its
 * section is itself broken. Returns the index or -1. */
static int ref_name(ctx_t *x, int kind, const char *name, const char *path)
{
    int i = lookup(x->cfg, kind, name);
    if (i < 0 && !x->section_bad[kind]) {
        char e[96];
        if (kind_count(x->cfg, kind) == 0)
            error(x, path, "unknown %s \"%s\" (no %s are defined)", kind_names[kind], esc(name, e),
                  section_names[kind]);
        else
            error(x, path, "unknown %s \"%s\"", kind_names[kind], esc(name, e));
    }
    return i;
}

static int ref(ctx_t *x, int kind, json_t *v, const char *path)
{
    if (!json_is_string(v)) {
        char tmp[64];
        error(x, path, "must be %s %s name (a string), got %s", kind_articles[kind],
              kind_names[kind], json_dumps_short(v, tmp));
        return -1;
    }
    return ref_name(x, kind, json_string_value(v), path);
}

/* ---------------------------------------------------------------------- */
/* Schema-driven objects (config_schema.h)                                */

/* Reads a value its row's code handles itself (cfg_item_t.id). */
typedef void custom_fn(ctx_t *x, void *obj, const cfg_item_t *it, json_t *v, const char *path);

/* The row of key `key` of object `obj` (element rows are no keys), or NULL. */
static const cfg_item_t *item_of(cfg_obj_t obj, const char *key)
{
    for (size_t i = 0; i < cfg_nitems; i++) {
        const cfg_item_t *it = &cfg_items[i];
        if (it->obj == obj && !(it->flags & CFG_ITEM_ELEMENT) && strcmp(cfg_item_key(it), key) == 0)
            return it;
    }
    return NULL;
}

/* The row at `path`; the paths config.c asks for are in the table. */
static const cfg_item_t *item_at(const char *path)
{
    const cfg_item_t *it = cfg_item_find(path);
    GS_ASSERT(it); /* a path config.c names is missing from the table */
    return it;
}

/* The names of an enumeration as its errors list them: "a", "b" or "c"; with
 * CFG_ITEM_ONE_OF: one of "a", "b", "c". */
static void enum_expected(const cfg_item_t *it, buf_t *out)
{
    size_t n = 0;
    while (it->names[n])
        n++;
    if (it->flags & CFG_ITEM_ONE_OF)
        buf_puts(out, "one of ");
    for (size_t i = 0; i < n; i++)
        buf_printf(out, "%s\"%s\"",
                   i == 0                                       ? ""
                   : i + 1 < n || (it->flags & CFG_ITEM_ONE_OF) ? ", "
                                                                : " or ",
                   it->names[i]);
}

/* Whether `v` is a valid value of scalar row `it` (octal mode strings and
 * enumerations aside); `*out` is then its value as a double. */
static bool scalar_ok(const cfg_item_t *it, json_t *v, double *out)
{
    switch (it->kind) {
    case CFG_INT:
        if (!json_is_integer(v))
            return false;
        *out = (double)json_integer_value(v);
        break;
    case CFG_NUM:
        if (!json_is_number(v))
            return false;
        *out = json_number_value(v);
        break;
    default:
        return false;
    }
    if (it->flags & CFG_ITEM_MIN_EXCL)
        return *out > it->min;
    return *out >= it->min && *out <= it->max;
}

/* Stores unsigned `u` into the member of `size` bytes at `dst`. */
static void store_uint(void *dst, size_t size, unsigned long long u)
{
    switch (size) {
    case 1:
        *(uint8_t *)dst = (uint8_t)u;
        break;
    case 2:
        *(uint16_t *)dst = (uint16_t)u;
        break;
    case 4:
        *(uint32_t *)dst = (uint32_t)u;
        break;
    default:
        *(uint64_t *)dst = (uint64_t)u;
    }
}

/* Reads `v` as the value of row `it` (a kind other than CFG_OTHER) into
 * `obj`; reports a bad one at `path` and leaves `obj` unchanged. */
static void item_read(ctx_t *x, const cfg_item_t *it, json_t *v, const char *path, void *obj)
{
    char tmp[64];
    void *dst = (char *)obj + it->off;
    double d;
    switch (it->kind) {
    case CFG_INT:
        if (!scalar_ok(it, v, &d))
            error(x, path, "must be an integer in %.0f..%.0f, got %s", it->min, it->max,
                  json_dumps_short(v, tmp));
        else
            store_uint(dst, it->size, (unsigned long long)json_integer_value(v));
        break;
    case CFG_NUM:
        if (scalar_ok(it, v, &d))
            *(double *)dst = d;
        else if (it->flags & CFG_ITEM_MIN_EXCL)
            error(x, path, "must be a number of %s > %g, got %s", it->unit, it->min,
                  json_dumps_short(v, tmp));
        else
            error(x, path, "must be a number in %g..%g, got %s", it->min, it->max,
                  json_dumps_short(v, tmp));
        break;
    case CFG_BOOL:
        if (!json_is_boolean(v))
            error(x, path, "must be true or false, got %s", json_dumps_short(v, tmp));
        else
            *(bool *)dst = json_is_true(v);
        break;
    case CFG_STR:
    case CFG_PATH:
        if (it->kind == CFG_STR && it->id != CFG_ID_NONE)
            break; /* string rows with an id have their own code */
        if (!json_is_string(v) || json_string_length(v) == 0) {
            error(x, path, "must be a non-empty string%s",
                  it->kind == CFG_PATH ? " (an absolute path)" : "");
        } else if (it->kind == CFG_PATH && json_string_value(v)[0] != '/') {
            error(x, path, "must be an absolute path, got '%s'", json_string_value(v));
        } else {
            free(*(char **)dst);
            *(char **)dst = mem_strdup(json_string_value(v));
        }
        break;
    case CFG_ENUM: {
        const char *s = json_string_value(v);
        int val = -1;
        for (int i = 0; s && !it->parse && it->names[i]; i++)
            if (strcmp(s, it->names[i]) == 0)
                val = it->values ? it->values[i] : i;
        if (s && it->parse)
            val = it->parse(s);
        if (val >= 0) {
            *(int *)dst = val;
            break;
        }
        buf_t list;
        buf_init(&list);
        enum_expected(it, &list);
        error(x, path, "must be %s, got %s", list.data, json_dumps_short(v, tmp));
        buf_free(&list);
        break;
    }
    case CFG_MODE: {
        /* The lower bound is also the bits the mode must have: the owner
         * (geosteerd) reads and writes the socket. */
        const char *m = json_string_value(v);
        char *end = NULL;
        long mode = m ? strtol(m, &end, 8) : -1;
        unsigned need = (unsigned)it->min;
        if (!m || !*m || *end || mode < 0 || mode > (long)it->max ||
            ((unsigned)mode & need) != need)
            error(x, path,
                  "must be an octal mode string from \"%04o\" to \"%04o\" that lets the owner "
                  "read and write, got %s",
                  need, (unsigned)it->max, json_dumps_short(v, tmp));
        else
            *(mode_t *)dst = (mode_t)mode;
        break;
    }
    case CFG_OTHER:
        break;
    }
}

/* Fills the members of `obj` (an object of kind `obj_kind` and type `type`,
 * -1 for an unknown type) that have a default with it. Strings are replaced
 * (the old one freed). Keys valid only for some types get their default
 * only in objects of those types. */
static void items_default(cfg_obj_t obj_kind, int type, void *obj)
{
    for (size_t i = 0; i < cfg_nitems; i++) {
        const cfg_item_t *it = &cfg_items[i];
        if (it->obj != obj_kind || !(it->flags & CFG_ITEM_DEFAULT) || it->size == 0 ||
            (it->types && (type < 0 || !(it->types & (1u << type)))))
            continue;
        void *dst = (char *)obj + it->off;
        double def = type >= 0 && (it->alt_types & (1u << type)) ? it->def_alt : it->def;
        switch (it->kind) {
        case CFG_INT:
        case CFG_MODE:
            if (it->kind == CFG_MODE)
                *(mode_t *)dst = (mode_t)def;
            else
                store_uint(dst, it->size, (unsigned long long)def);
            break;
        case CFG_NUM:
            *(double *)dst = def;
            break;
        case CFG_BOOL:
            *(bool *)dst = def != 0;
            break;
        case CFG_STR:
        case CFG_PATH:
            free(*(char **)dst);
            *(char **)dst = it->def_text ? mem_strdup(it->def_text) : NULL;
            break;
        case CFG_ENUM:
            *(int *)dst = it->values ? it->values[(int)def] : (int)def;
            break;
        case CFG_OTHER:
            break;
        }
    }
}

/* Reports the keys an object of `type` (-1: unknown, nothing is reported
 * for typed objects) must have and `o` lacks. */
static void items_required(ctx_t *x, cfg_obj_t obj_kind, int type, json_t *o, const char *path)
{
    const char *const *type_names = cfg_obj_type_names(obj_kind);
    if (type_names && type < 0)
        return;
    for (size_t i = 0; i < cfg_nitems; i++) {
        const cfg_item_t *it = &cfg_items[i];
        if (it->obj != obj_kind || !it->required ||
            (it->flags & (CFG_ITEM_ELEMENT | CFG_ITEM_TYPE)))
            continue;
        if (type_names && !(it->required & (1u << type)))
            continue;
        if (json_object_get(o, cfg_item_key(it)))
            continue;
        char why[64] = "";
        if (type_names)
            snprintf(why, sizeof(why), " (required for type \"%s\")", type_names[type]);
        error(x, path, "missing \"%s\"%s", cfg_item_key(it), why);
    }
}

/* Walks the keys of `o` (an object of kind `obj_kind`) in file order:
 * unknown keys, keys not valid for `type` (-1: unknown type, accept any key
 * of the object) and bad values are reported; good values are stored into
 * `obj`. Keys with their own code go to `custom`. */
static void walk(ctx_t *x, cfg_obj_t obj_kind, json_t *o, const char *path, int type, void *obj,
                 custom_fn *custom)
{
    const char *const *type_names = cfg_obj_type_names(obj_kind);
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        char p[PATH_LEN];
        path_key(p, path, key);
        const cfg_item_t *it = item_of(obj_kind, key);
        if (!it) {
            buf_t list;
            buf_init(&list);
            for (size_t i = 0; i < cfg_nitems; i++)
                if (cfg_items[i].obj == obj_kind && !(cfg_items[i].flags & CFG_ITEM_ELEMENT) &&
                    cfg_item_valid_for(&cfg_items[i], type))
                    buf_printf(&list, "%s%s", list.len ? ", " : "", cfg_item_key(&cfg_items[i]));
            error(x, p, "unknown key (expected %s)", list.data);
            buf_free(&list);
            continue;
        }
        if (!cfg_item_valid_for(it, type)) {
            buf_t list;
            buf_init(&list);
            for (int t = 0; type_names[t]; t++)
                if (it->types & (1u << t))
                    buf_printf(&list, "%s%s", list.len ? ", " : "", type_names[t]);
            error(x, p, "not valid for type \"%s\" (only for %s)", type_names[type], list.data);
            buf_free(&list);
            continue;
        }
        if (it->id != CFG_ID_NONE)
            custom(x, obj, it, v, p);
        else
            item_read(x, it, v, p, obj);
    }
}

/* Reads the "type" key of `o` against `names`; returns the type or -1 after
 * reporting a missing or unknown one. */
static int read_type(ctx_t *x, json_t *o, const char *path, const char *const *names)
{
    buf_t list;
    buf_init(&list);
    for (int t = 0; names[t]; t++)
        buf_printf(&list, "%s\"%s\"", t ? ", " : "", names[t]);
    json_t *v = json_object_get(o, "type");
    int type = -1;
    if (!v) {
        error(x, path, "missing \"type\" (one of %s)", list.data);
    } else {
        for (int t = 0; json_is_string(v) && names[t]; t++)
            if (strcmp(json_string_value(v), names[t]) == 0)
                type = t;
        if (type < 0) {
            char p[PATH_LEN], tmp[64];
            path_key(p, path, "type");
            error(x, p, "must be one of %s, got %s", list.data, json_dumps_short(v, tmp));
        }
    }
    buf_free(&list);
    return type;
}

static void missing(ctx_t *x, const char *path, const char *key, const char *why)
{
    error(x, path, "missing \"%s\"%s", key, why);
}

/* A non-empty string without NUL bytes or control characters. */
static bool plain_string(json_t *v)
{
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v))
        return false;
    for (const char *s = json_string_value(v); *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

static void set_str(char **dst, json_t *v)
{
    free(*dst);
    *dst = mem_strdup(json_string_value(v));
}

/* ---------------------------------------------------------------------- */
/* Addresses                                                              */

/* Parses a literal IPv4 or IPv6 address; returns the family or 0. */
static int parse_ip(const char *s, uint8_t out[16])
{
    if (inet_pton(AF_INET, s, out) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, s, out) == 1)
        return AF_INET6;
    return 0;
}

static const char *ip_text(int family, const uint8_t *addr, char out[INET6_ADDRSTRLEN])
{
    inet_ntop(family, addr, out, INET6_ADDRSTRLEN);
    return out;
}

/* "a" or "aaaa": a non-empty array of literal addresses of `family`. */
static void addr_list(ctx_t *x, json_t *v, const char *path, int family, void **arr, size_t *n)
{
    const char *want = family == AF_INET ? "IPv4" : "IPv6";
    size_t sz = family == AF_INET ? 4 : 16;
    if (!json_is_array(v) || json_array_size(v) == 0) {
        char tmp[64];
        error(x, path, "must be a non-empty array of %s addresses, got %s", want,
              json_dumps_short(v, tmp));
        return;
    }
    free(*arr);
    *arr = mem_calloc(json_array_size(v), sz);
    *n = 0;
    size_t i;
    json_t *a;
    json_array_foreach(v, i, a)
    {
        char p[PATH_LEN], tmp[64], e[96];
        uint8_t bin[16];
        path_idx(p, path, i);
        if (!json_is_string(a)) {
            error(x, p, "must be an %s address (a string), got %s", want, json_dumps_short(a, tmp));
            continue;
        }
        const char *s = json_string_value(a);
        int fam = parse_ip(s, bin);
        if (fam == 0) {
            error(x, p, "\"%s\" is not an %s address", esc(s, e), want);
            continue;
        }
        if (fam != family) {
            error(x, p, "\"%s\" is an %s address; put it in \"%s\"", esc(s, e),
                  fam == AF_INET ? "IPv4" : "IPv6", fam == AF_INET ? "a" : "aaaa");
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < *n && !dup; j++)
            if (memcmp((uint8_t *)*arr + j * sz, bin, sz) == 0) {
                error(x, p, "duplicate address \"%s\"", esc(s, e));
                dup = true;
            }
        if (!dup)
            memcpy((uint8_t *)*arr + (*n)++ * sz, bin, sz);
    }
}

/* Parses "ADDR/LEN" with host bits zero into a geo rule's cidr. */
static bool parse_cidr(ctx_t *x, const char *s, const char *path, cfg_geo_rule_t *r)
{
    char e[96], addr[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : 0;
    int family = 0;
    uint8_t bin[16] = {0};
    if (slash && alen < sizeof(addr)) {
        memcpy(addr, s, alen);
        addr[alen] = '\0';
        family = parse_ip(addr, bin);
    }
    const char *l = slash ? slash + 1 : "";
    size_t llen = strlen(l);
    if (!family || llen == 0 || llen > 3 || strspn(l, "0123456789") != llen) {
        error(x, path, "\"%s\" is not a CIDR prefix (like 198.51.100.0/24 or 2001:db8::/32)",
              esc(s, e));
        return false;
    }
    unsigned len = (unsigned)atoi(l), max = family == AF_INET ? 32 : 128;
    if (len > max) {
        error(x, path, "\"%s\": the prefix length must be 0..%u for %s", esc(s, e), max,
              family == AF_INET ? "IPv4" : "IPv6");
        return false;
    }
    uint8_t net[16] = {0};
    for (unsigned b = 0; b < max / 8; b++) {
        unsigned keep = len >= (b + 1) * 8 ? 8 : len > b * 8 ? len - b * 8 : 0;
        net[b] = (uint8_t)(bin[b] & (uint8_t)(0xff00u >> keep));
    }
    if (memcmp(net, bin, max / 8) != 0) {
        char t[INET6_ADDRSTRLEN];
        error(x, path, "\"%s\" has host bits set (the network is %s/%u)", esc(s, e),
              ip_text(family, net, t), len);
        return false;
    }
    r->u.cidr.family = family;
    memcpy(r->u.cidr.addr, net, 16);
    r->u.cidr.len = (uint8_t)len;
    return true;
}

/* ---------------------------------------------------------------------- */
/* settings                                                               */

/* settings.decision_log.target: "journal", or an absolute path of a file
 * (not a directory name: no trailing slash) without control characters. */
static void declog_custom(ctx_t *x, void *obj, const cfg_item_t *it, json_t *v, const char *path)
{
    (void)it;
    cfg_t *cfg = obj;
    char tmp[64];
    const char *s = json_string_value(v);
    if (!plain_string(v) || (strcmp(s, "journal") != 0 && (s[0] != '/' || s[strlen(s) - 1] == '/')))
        error(x, path, "must be an absolute file path or \"journal\", got %s",
              json_dumps_short(v, tmp));
    else
        set_str(&cfg->decision_log, v);
}

/* settings.geoip, settings.probe, settings.health and settings.decision_log:
 * objects of their own rows. A new "geoip" or "decision_log" object replaces
 * the old one entirely: keys it does not set are back at their defaults. */
static void settings_custom(ctx_t *x, void *obj, const cfg_item_t *it, json_t *v, const char *path)
{
    cfg_t *cfg = obj;
    cfg_obj_t sub = it->id == CFG_ID_GEOIP    ? CFG_OBJ_GEOIP
                    : it->id == CFG_ID_PROBE  ? CFG_OBJ_PROBE
                    : it->id == CFG_ID_DECLOG ? CFG_OBJ_DECLOG
                                              : CFG_OBJ_HEALTH;
    if (!json_is_object(v)) {
        error(x, path, "must be an object");
        return;
    }
    if (sub == CFG_OBJ_GEOIP || sub == CFG_OBJ_DECLOG)
        items_default(sub, -1, cfg);
    if (sub == CFG_OBJ_DECLOG) {
        free(cfg->decision_log);
        cfg->decision_log = NULL;
    }
    walk(x, sub, v, path, -1, cfg, sub == CFG_OBJ_DECLOG ? declog_custom : NULL);
    items_required(x, sub, -1, v, path);
}

static void settings(ctx_t *x, json_t *s, cfg_t *cfg)
{
    if (!json_is_object(s)) {
        error(x, "settings", "must be an object");
        return;
    }
    walk(x, CFG_OBJ_SETTINGS, s, "settings", -1, cfg, settings_custom);
    struct sockaddr_in6 sa;
    if (cfg->metrics_listen && !cfg_parse_listen(cfg->metrics_listen, &sa))
        error(x, "settings.metrics_listen",
              "must be \"ADDRESS:PORT\", \"[IPV6]:PORT\" or a port number (loopback), "
              "with a numeric address and a port in 1..65535");
}

size_t cfg_parse_listen(const char *s, void *out)
{
    char host[INET6_ADDRSTRLEN + 2] = "127.0.0.1";
    const char *port = s;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host))
            return 0;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        port = end + 2;
    } else if (strchr(s, ':')) {
        const char *colon = strrchr(s, ':');
        if ((size_t)(colon - s) >= sizeof(host) || memchr(s, ':', (size_t)(colon - s)))
            return 0;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        port = colon + 1;
    }
    char *end;
    if (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5)
        return 0;
    long p = strtol(port, &end, 10);
    if (p < 1 || p > 65535)
        return 0;
    struct sockaddr_in6 *s6 = out;
    struct sockaddr_in *s4 = out;
    memset(out, 0, sizeof(*s6));
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)p);
        return sizeof(*s4);
    }
    if (s[0] == '[' && inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)p);
        return sizeof(*s6);
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* monitors                                                               */

/* An expect class ("2xx") as the range of status codes it stands for. */
static bool expect_class(const char *cls, uint16_t out[2])
{
    if (!cls || strlen(cls) != 3 || cls[0] < '1' || cls[0] > '5' || strcmp(cls + 1, "xx") != 0)
        return false;
    out[0] = (uint16_t)((cls[0] - '0') * 100);
    out[1] = (uint16_t)((cls[0] - '0') * 100 + 99);
    return true;
}

/* RFC 9110 token characters (header names). */
static bool http_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("!#$%&'*+-.^_`|~", *s)))
            return false;
    return true;
}

static bool host_name(const char *s)
{
    uint8_t bin[16];
    size_t n = strlen(s);
    if (parse_ip(s, bin))
        return true;
    if (n == 0 || n > 253 ||
        strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789-.") != n)
        return false;
    return s[0] != '.' && s[0] != '-' && !strstr(s, "..");
}

/* A CA bundle the probe can hand to libcurl: a readable regular file that
 * holds at least one PEM certificate. Reads at most CA_FILE_MAX bytes. */
#define CA_FILE_MAX (64u << 20)
static bool check_ca_file(ctx_t *x, const char *path, const char *ca)
{
    FILE *f = fopen(ca, "re");
    if (!f) {
        error(x, path, "cannot read '%s': %s", ca, strerror(errno));
        return false;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        error(x, path, "'%s' is not a regular file", ca);
        return false;
    }
    static const char pem[] = "-----BEGIN CERTIFICATE-----";
    char chunk[65536];
    size_t keep = 0, total = 0, n;
    bool found = false;
    while (!found && total < CA_FILE_MAX &&
           (n = fread(chunk + keep, 1, sizeof(chunk) - keep, f)) > 0) {
        total += n;
        n += keep;
        found = memmem(chunk, n, pem, sizeof(pem) - 1) != NULL;
        /* Keep the tail: a marker may straddle two reads. */
        keep = n < sizeof(pem) - 1 ? n : sizeof(pem) - 1;
        memmove(chunk, chunk + n - keep, keep);
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed)
        error(x, path, "cannot read '%s'", ca);
    else if (!found)
        error(x, path, "'%s' holds no PEM certificate (%s)", ca, pem);
    return !failed && found;
}

/* monitors.*.expect: status codes (100..599) and classes ("2xx"), kept
 * as inclusive ranges; the array's bounds come from the schema row. */
static void monitor_expect(ctx_t *x, cfg_monitor_t *m, const cfg_item_t *it, json_t *v,
                           const char *path)
{
    char tmp[64], p[PATH_LEN];
    if (!json_is_array(v) || json_array_size(v) < it->min) {
        error(x, path, "must be a non-empty array of HTTP status codes, got %s",
              json_dumps_short(v, tmp));
        return;
    }
    if (json_array_size(v) > it->max) {
        error(x, path, "must list at most %.0f status codes or classes", it->max);
        return;
    }
    free(m->expect);
    m->expect = mem_calloc(json_array_size(v), sizeof(*m->expect));
    m->nexpect = 0;
    size_t i;
    json_t *c;
    json_array_foreach(v, i, c)
    {
        path_idx(p, path, i);
        const char *cls = json_string_value(c);
        if (json_is_integer(c) && json_integer_value(c) >= 100 && json_integer_value(c) <= 599) {
            m->expect[m->nexpect][0] = m->expect[m->nexpect][1] = (uint16_t)json_integer_value(c);
            m->nexpect++;
        } else if (expect_class(cls, m->expect[m->nexpect])) {
            m->nexpect++;
        } else {
            error(x, p, "must be a status code in 100..599 or a class \"1xx\"..\"5xx\", got %s",
                  json_dumps_short(c, tmp));
        }
    }
}

/* A header value the probe can send and its plan reader accepts: a string
 * without control characters but tab (CR and LF would split the request;
 * any other one makes the probe refuse the whole plan, freezing every
 * check, which is why it is refused here, where the operator sees it). */
static bool header_value(json_t *h)
{
    if (!json_is_string(h) || strlen(json_string_value(h)) != json_string_length(h))
        return false;
    for (const char *s = json_string_value(h); *s; s++)
        if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
            return false;
    return true;
}

/* monitors.*.headers: extra request headers. Names must be HTTP tokens and
 * values single lines (the probe writes them into the request as they
 * are); Host is the monitor's "host" key, so it cannot be set twice. */
static void monitor_headers(ctx_t *x, cfg_monitor_t *m, json_t *v, const char *path)
{
    char tmp[64], p[PATH_LEN];
    if (!json_is_object(v)) {
        error(x, path, "must be an object of header names to values, got %s",
              json_dumps_short(v, tmp));
        return;
    }
    m->headers = mem_calloc(json_object_size(v) + 1, sizeof(cfg_header_t));
    const char *k;
    json_t *h;
    json_object_foreach(v, k, h)
    {
        path_key(p, path, k);
        if (!http_token(k)) {
            error(x, p, "not a valid header name");
            continue;
        }
        if (strcasecmp(k, "Host") == 0) {
            error(x, p, "set the monitor's \"host\" instead");
            continue;
        }
        if (!header_value(h)) {
            error(x, p, "must be a string without line breaks or control characters, got %s",
                  json_dumps_short(h, tmp));
            continue;
        }
        m->headers[m->nheaders].name = mem_strdup(k);
        m->headers[m->nheaders].value = mem_strdup(json_string_value(h));
        m->nheaders++;
    }
}

/* The monitor keys whose values need more than a scalar check. */
static void monitor_custom(ctx_t *x, void *obj, const cfg_item_t *it, json_t *v, const char *path)
{
    cfg_monitor_t *m = obj;
    char tmp[64];
    switch (it->id) {
    case CFG_ID_M_TYPE:
        break; /* read first, by read_type */
    case CFG_ID_M_PATH:
        if (!plain_string(v) || json_string_value(v)[0] != '/' ||
            strchr(json_string_value(v), ' ') || json_string_length(v) > 1024)
            error(x, path,
                  "must be a request path starting with \"/\" (at most 1024 characters, no "
                  "spaces or control characters), got %s",
                  json_dumps_short(v, tmp));
        else
            set_str(&m->path, v);
        break;
    case CFG_ID_M_HOST:
        if (!json_is_string(v) || !host_name(json_string_value(v)))
            error(x, path, "must be a host name or an IP address, got %s",
                  json_dumps_short(v, tmp));
        else
            set_str(&m->host, v);
        break;
    case CFG_ID_M_EXPECT:
        monitor_expect(x, m, it, v, path);
        break;
    case CFG_ID_M_BODY:
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            strlen(json_string_value(v)) != json_string_length(v))
            error(x, path, "must be a non-empty string, got %s", json_dumps_short(v, tmp));
        else
            set_str(&m->body, v);
        break;
    case CFG_ID_M_HEADERS:
        monitor_headers(x, m, v, path);
        break;
    case CFG_ID_M_CA_FILE:
        if (!json_is_string(v) || json_string_value(v)[0] != '/')
            error(x, path, "must be an absolute path, got %s", json_dumps_short(v, tmp));
        else if (check_ca_file(x, path, json_string_value(v)))
            set_str(&m->ca_file, v);
        break;
    }
}

static void monitor(ctx_t *x, json_t *o, const char *path, cfg_monitor_t *m)
{
    int type = read_type(x, o, path, cfg_monitor_type_names);
    m->type = type < 0 ? CFG_MON_TCP : (cfg_monitor_type_t)type;
    items_default(CFG_OBJ_MONITOR, type, m);
    walk(x, CFG_OBJ_MONITOR, o, path, type, m, monitor_custom);
    /* The default timeout is at most half the interval. */
    if (!json_object_get(o, "timeout") && m->interval / 2 < m->timeout)
        m->timeout = m->interval / 2;
    items_required(x, CFG_OBJ_MONITOR, type, o, path);
    if (type == CFG_MON_HTTP || type == CFG_MON_HTTPS) {
        if (!m->expect) {
            m->expect = mem_calloc(1, sizeof(*m->expect));
            bool is_class = expect_class(item_at("monitors.*.expect")->def_text, m->expect[0]);
            GS_ASSERT(is_class); /* the schema's default is a class like "2xx" */
            m->nexpect = 1;
        }
        if (m->body && strlen(m->body) > m->body_max) {
            char p[PATH_LEN];
            path_key(p, path, "body");
            error(x, p, "is %zu bytes, longer than body_max (%u), so it can never match",
                  strlen(m->body), m->body_max);
        }
    }
    /* timeout < interval, when both are otherwise valid */
    json_t *t = json_object_get(o, "timeout"), *i = json_object_get(o, "interval");
    double d;
    bool t_ok = !t || scalar_ok(item_at("monitors.*.timeout"), t, &d);
    bool i_ok = !i || scalar_ok(item_at("monitors.*.interval"), i, &d);
    if (t_ok && i_ok && m->timeout >= m->interval) {
        char p[PATH_LEN];
        path_key(p, path, "timeout");
        error(x, p, "must be less than interval (%g), got %g", m->interval, m->timeout);
    }
}

/* ---------------------------------------------------------------------- */
/* endpoints                                                              */

static void endpoint_custom(ctx_t *x, void *obj, const cfg_item_t *it, json_t *v, const char *path)
{
    cfg_endpoint_t *e = obj;
    char tmp[64], p[PATH_LEN];
    switch (it->id) {
    case CFG_ID_E_A:
        addr_list(x, v, path, AF_INET, (void **)&e->a, &e->na);
        break;
    case CFG_ID_E_AAAA:
        addr_list(x, v, path, AF_INET6, (void **)&e->aaaa, &e->naaaa);
        break;
    case CFG_ID_E_CNAME: {
        char canon[DNAME_MAXTEXT + 1];
        gs_err_t err;
        if (!json_is_string(v)) {
            error(x, path, "must be a domain name (a string), got %s", json_dumps_short(v, tmp));
        } else if (dname_canon(json_string_value(v), json_string_length(v), true, canon, &err) <
                   0) {
            error(x, path, "must be a domain name: %s", err.text);
        } else if (strcmp(canon, ".") == 0) {
            error(x, path, "must be a domain name other than the root");
        } else {
            free(e->cname);
            e->cname = mem_strdup(canon);
        }
        break;
    }
    case CFG_ID_E_LOCATION: {
        if (!json_is_array(v) || json_array_size(v) != 2) {
            error(x, path, "must be [latitude, longitude], got %s", json_dumps_short(v, tmp));
            break;
        }
        json_t *lat = json_array_get(v, 0), *lon = json_array_get(v, 1);
        const cfg_item_t *rlat = item_at("endpoints.*.location[0]"),
                         *rlon = item_at("endpoints.*.location[1]");
        double d;
        bool ok = true;
        if (!scalar_ok(rlat, lat, &d)) {
            path_idx(p, path, 0);
            error(x, p, "latitude must be a number in %g..%g, got %s", rlat->min, rlat->max,
                  json_dumps_short(lat, tmp));
            ok = false;
        }
        if (!scalar_ok(rlon, lon, &d)) {
            path_idx(p, path, 1);
            error(x, p, "longitude must be a number in %g..%g, got %s", rlon->min, rlon->max,
                  json_dumps_short(lon, tmp));
            ok = false;
        }
        if (ok) {
            e->has_location = true;
            e->lat = json_number_value(lat);
            e->lon = json_number_value(lon);
        }
        break;
    }
    case CFG_ID_E_MONITOR:
        e->monitor = ref(x, K_MON, v, path);
        break;
    case CFG_ID_E_PROBE:
        if (!json_is_string(v) ||
            !(e->probe_family = parse_ip(json_string_value(v), e->probe_addr)))
            error(x, path, "must be a literal IP address, got %s", json_dumps_short(v, tmp));
        break;
    }
}

static void endpoint(ctx_t *x, json_t *o, const char *path, cfg_endpoint_t *e)
{
    items_default(CFG_OBJ_ENDPOINT, -1, e);
    e->monitor = -1;
    walk(x, CFG_OBJ_ENDPOINT, o, path, -1, e, endpoint_custom);
    bool has_a = json_object_get(o, "a") || json_object_get(o, "aaaa");
    if (json_object_get(o, "cname") && has_a) {
        char p[PATH_LEN];
        path_key(p, path, "cname");
        error(x, p, "cannot be combined with \"a\" or \"aaaa\"");
    } else if (!json_object_get(o, "cname") && !has_a) {
        error(x, path, "needs \"a\", \"aaaa\" or \"cname\"");
    }
    if (json_object_get(o, "probe_address") && !json_object_get(o, "monitor")) {
        char p[PATH_LEN];
        path_key(p, path, "probe_address");
        error(x, p, "is only used with \"monitor\"");
    }
    if (json_object_get(o, "cname") && !has_a && json_object_get(o, "monitor") &&
        !json_object_get(o, "probe_address")) {
        char p[PATH_LEN];
        path_key(p, path, "monitor");
        error(x, p, "a cname endpoint needs \"probe_address\" to be monitored");
    }
    /* Health checks never go to link-local addresses (cloud metadata
     * services live there): a check is a request geosteer makes. */
    if (json_object_get(o, "monitor")) {
        char p[PATH_LEN], text[INET6_ADDRSTRLEN];
        const uint8_t *pa = e->probe_addr;
        if (e->probe_family == AF_INET
                ? pa[0] == 169 && pa[1] == 254
                : e->probe_family == AF_INET6 && pa[0] == 0xfe && (pa[1] & 0xc0) == 0x80) {
            path_key(p, path, "probe_address");
            error(x, p, "%s is link-local: health checks are never sent there",
                  inet_ntop(e->probe_family, pa, text, sizeof(text)));
        }
        for (size_t i = 0; !e->probe_family && i < e->na; i++)
            if (((const uint8_t *)&e->a[i])[0] == 169 && ((const uint8_t *)&e->a[i])[1] == 254) {
                path_key(p, path, "a");
                error(x, p,
                      "%s is link-local: health checks are never sent there (set a "
                      "\"probe_address\" or drop the monitor)",
                      inet_ntop(AF_INET, &e->a[i], text, sizeof(text)));
            }
        for (size_t i = 0; !e->probe_family && i < e->naaaa; i++)
            if (IN6_IS_ADDR_LINKLOCAL(&e->aaaa[i])) {
                path_key(p, path, "aaaa");
                error(x, p,
                      "%s is link-local: health checks are never sent there (set a "
                      "\"probe_address\" or drop the monitor)",
                      inet_ntop(AF_INET6, &e->aaaa[i], text, sizeof(text)));
            }
    }
}

/* ---------------------------------------------------------------------- */
/* pools                                                                  */

/* An array of distinct names of `kind`, as many as row `it` allows,
 * resolved into `*out`. */
static void name_list(ctx_t *x, int kind, const cfg_item_t *it, json_t *v, const char *path,
                      int **out, size_t *n)
{
    if (!json_is_array(v) || json_array_size(v) < it->min || json_array_size(v) > it->max) {
        char tmp[64];
        error(x, path, "must be an array of %.0f..%.0f %s names, got %s", it->min, it->max,
              kind_names[kind], json_dumps_short(v, tmp));
        return;
    }
    free(*out);
    *out = mem_calloc(json_array_size(v), sizeof(int));
    *n = 0;
    size_t i;
    json_t *a;
    json_array_foreach(v, i, a)
    {
        char p[PATH_LEN], e[96];
        path_idx(p, path, i);
        int idx = ref(x, kind, a, p);
        if (idx < 0)
            continue;
        for (size_t j = 0; j < i; j++)
            if (json_equal(json_array_get(v, j), a)) {
                error(x, p, "duplicate %s \"%s\" (also at [%zu])", kind_names[kind],
                      esc(json_string_value(a), e), j);
                idx = -1;
                break;
            }
        if (idx >= 0)
            (*out)[(*n)++] = idx;
    }
}

static void pool_custom(ctx_t *x, void *obj, const cfg_item_t *it, json_t *v, const char *path)
{
    cfg_pool_t *p = obj;
    if (it->id == CFG_ID_P_ENDPOINTS)
        name_list(x, K_EP, it, v, path, &p->endpoints, &p->nendpoints);
    else
        p->fallback = ref(x, K_POOL, v, path);
}

static void pool(ctx_t *x, json_t *o, const char *path, cfg_pool_t *p)
{
    items_default(CFG_OBJ_POOL, -1, p);
    p->fallback = -1;
    walk(x, CFG_OBJ_POOL, o, path, -1, p, pool_custom);
    items_required(x, CFG_OBJ_POOL, -1, o, path);
    json_t *ep = json_object_get(o, "endpoints");
    if (ep && json_is_array(ep) && json_array_size(ep) > 0 &&
        p->min_healthy > json_array_size(ep)) {
        char q[PATH_LEN];
        path_key(q, path, "min_healthy");
        error(x, q, "must not exceed the number of endpoints (%zu), got %u", json_array_size(ep),
              p->min_healthy);
    }
}

/* ---------------------------------------------------------------------- */
/* policies                                                               */

static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

/* Validates one match value of a geo rule into `r`; false after an error. */
static bool geo_value(ctx_t *x, cfg_geo_key_t key, json_t *v, const char *path, cfg_geo_rule_t *r)
{
    static const char *const continents[] = {"AF", "AN", "AS", "EU", "NA", "OC", "SA", NULL};
    char tmp[64];
    const char *s = json_string_value(v);
    r->key = key;
    switch (key) {
    case CFG_GEO_CONTINENT:
        for (int i = 0; s && continents[i]; i++)
            if (strcmp(s, continents[i]) == 0) {
                strcpy(r->u.code, s);
                return true;
            }
        error(x, path, "must be a continent code (AF, AN, AS, EU, NA, OC, SA), got %s",
              json_dumps_short(v, tmp));
        return false;
    case CFG_GEO_COUNTRY:
        if (s && strlen(s) == 2 && is_upper(s[0]) && is_upper(s[1])) {
            strcpy(r->u.code, s);
            return true;
        }
        error(x, path, "must be an ISO 3166-1 country code (2 upper-case letters), got %s",
              json_dumps_short(v, tmp));
        return false;
    case CFG_GEO_SUBDIVISION: {
        size_t n = s ? strlen(s) : 0, tail = n > 3 ? strspn(s + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                                   "0123456789")
                                                   : 0;
        if (n >= 4 && n <= 6 && is_upper(s[0]) && is_upper(s[1]) && s[2] == '-' && tail == n - 3) {
            strcpy(r->u.code, s);
            return true;
        }
        error(x, path,
              "must be an ISO 3166-2 subdivision code (like \"US-CA\": country, '-', 1..3 "
              "upper-case letters or digits), got %s",
              json_dumps_short(v, tmp));
        return false;
    }
    case CFG_GEO_ASN:
        if (json_is_integer(v) && json_integer_value(v) >= 1 &&
            json_integer_value(v) <= 4294967295LL) {
            r->u.asn = (uint32_t)json_integer_value(v);
            return true;
        }
        error(x, path, "must be an AS number in 1..4294967295, got %s", json_dumps_short(v, tmp));
        return false;
    case CFG_GEO_CIDR:
        if (!s) {
            error(x, path, "must be a CIDR prefix (a string like \"198.51.100.0/24\"), got %s",
                  json_dumps_short(v, tmp));
            return false;
        }
        return parse_cidr(x, s, path, r);
    }
    return false;
}

static const char *geo_value_text(const cfg_geo_rule_t *r, char out[64])
{
    char t[INET6_ADDRSTRLEN];
    switch (r->key) {
    case CFG_GEO_ASN:
        snprintf(out, 64, "%u", r->u.asn);
        break;
    case CFG_GEO_CIDR:
        snprintf(out, 64, "%s/%u", ip_text(r->u.cidr.family, r->u.cidr.addr, t), r->u.cidr.len);
        break;
    default:
        snprintf(out, 64, "%s", r->u.code);
    }
    return out;
}

static int geo_rule_cmp(const cfg_geo_rule_t *a, const cfg_geo_rule_t *b)
{
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    switch (a->key) {
    case CFG_GEO_ASN:
        return a->u.asn < b->u.asn ? -1 : a->u.asn > b->u.asn;
    case CFG_GEO_CIDR:
        if (a->u.cidr.family != b->u.cidr.family)
            return a->u.cidr.family < b->u.cidr.family ? -1 : 1;
        if (a->u.cidr.len != b->u.cidr.len)
            return a->u.cidr.len < b->u.cidr.len ? -1 : 1;
        return memcmp(a->u.cidr.addr, b->u.cidr.addr, 16);
    default:
        return strcmp(a->u.code, b->u.code);
    }
}

static int geo_sort_cmp(const void *a, const void *b, void *arg)
{
    const cfg_geo_rule_t *rules = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = geo_rule_cmp(&rules[i], &rules[j]);
    return c ? c : (i < j ? -1 : i > j);
}

static int size_cmp(const void *a, const void *b)
{
    const size_t *p = a, *q = b;
    return p[0] < q[0] ? -1 : p[0] > q[0];
}

/* Reports every compiled rule whose key and value an earlier one has. */
static void geo_duplicates(ctx_t *x, const cfg_policy_t *pol, const char *path)
{
    size_t n = pol->nrules, *ord = mem_calloc(n + 1, sizeof(size_t));
    size_t *dups = mem_calloc(2 * n + 2, sizeof(size_t)), ndups = 0;
    for (size_t i = 0; i < n; i++)
        ord[i] = i;
    qsort_r(ord, n, sizeof(size_t), geo_sort_cmp, pol->rules);
    for (size_t i = 1; i < n; i++) {
        size_t first = i - 1;
        while (first > 0 && geo_rule_cmp(&pol->rules[ord[first - 1]], &pol->rules[ord[i]]) == 0)
            first--;
        if (geo_rule_cmp(&pol->rules[ord[first]], &pol->rules[ord[i]]) == 0) {
            dups[2 * ndups] = ord[i];
            dups[2 * ndups + 1] = ord[first];
            ndups++;
        }
    }
    qsort(dups, ndups, 2 * sizeof(size_t), size_cmp); /* file order of the later one */
    for (size_t d = 0; d < ndups; d++) {
        const cfg_geo_rule_t *r = &pol->rules[dups[2 * d]], *o = &pol->rules[dups[2 * d + 1]];
        char p[PATH_LEN], t[64];
        snprintf(p, PATH_LEN, "%s.rules[%u]", path, r->rule);
        if (o->rule == r->rule)
            error(x, p, "%s %s is listed twice", geo_keys[r->key], geo_value_text(r, t));
        else
            error(x, p, "%s %s is already matched by rules[%u]", geo_keys[r->key],
                  geo_value_text(r, t), o->rule);
    }
    free(ord);
    free(dups);
}

static void geo_rules(ctx_t *x, cfg_policy_t *pol, json_t *v, const char *path)
{
    char tmp[64];
    if (!json_is_array(v) || json_array_size(v) == 0) {
        error(x, path, "must be a non-empty array of rules, got %s", json_dumps_short(v, tmp));
        return;
    }
    size_t i;
    json_t *rule;
    json_array_foreach(v, i, rule)
    {
        char p[PATH_LEN], q[PATH_LEN];
        path_idx(p, path, i);
        if (!json_is_object(rule)) {
            error(x, p, "must be an object like {\"country\": \"DE\", \"pool\": \"eu\"}, got %s",
                  json_dumps_short(rule, tmp));
            continue;
        }
        int nkeys = 0, key = -1, pool_idx = -1;
        buf_t keys;
        buf_init(&keys);
        const char *k;
        json_t *mv;
        json_object_foreach(rule, k, mv)
        {
            path_key(q, p, k);
            int g = -1;
            for (int j = 0; geo_keys[j]; j++)
                if (strcmp(k, geo_keys[j]) == 0)
                    g = j;
            if (g >= 0) {
                buf_printf(&keys, "%s\"%s\"", nkeys ? ", " : "", k);
                nkeys++;
                key = g;
            } else if (strcmp(k, "pool") == 0) {
                pool_idx = ref(x, K_POOL, mv, q);
            } else {
                error(x, q,
                      "unknown key (expected continent, country, subdivision, asn, cidr, "
                      "pool)");
            }
        }
        if (nkeys == 0)
            error(x, p, "needs a match key (continent, country, subdivision, asn or cidr)");
        else if (nkeys > 1)
            error(x, p, "has %d match keys (%s); use one per rule", nkeys, keys.data);
        buf_free(&keys);
        if (!json_object_get(rule, "pool"))
            missing(x, p, "pool", "");
        if (nkeys != 1)
            continue;
        /* One value or a non-empty array of them; one compiled rule each. */
        path_key(q, p, geo_keys[key]);
        json_t *val = json_object_get(rule, geo_keys[key]);
        size_t nv = json_is_array(val) ? json_array_size(val) : 1;
        if (json_is_array(val) && nv == 0) {
            error(x, q, "must not be an empty array");
            continue;
        }
        pol->rules = mem_realloc_n(pol->rules, pol->nrules + nv, sizeof(cfg_geo_rule_t));
        for (size_t j = 0; j < nv; j++) {
            char r[PATH_LEN];
            json_t *one = val;
            if (json_is_array(val)) {
                one = json_array_get(val, j);
                path_idx(r, q, j);
            } else {
                snprintf(r, PATH_LEN, "%s", q);
            }
            cfg_geo_rule_t *out = &pol->rules[pol->nrules];
            memset(out, 0, sizeof(*out));
            if (geo_value(x, (cfg_geo_key_t)key, one, r, out)) {
                out->pool = pool_idx;
                out->rule = (unsigned)i;
                pol->nrules++;
            }
        }
    }
}

static void policy_custom(ctx_t *x, void *obj, const cfg_item_t *it, json_t *v, const char *path)
{
    cfg_policy_t *pol = obj;
    char tmp[64], p[PATH_LEN];
    switch (it->id) {
    case CFG_ID_Y_TYPE:
    case CFG_ID_Y_BIAS: /* after "pools", in policy() */
        break;
    case CFG_ID_Y_ALL_DOWN: {
        /* The names of the row; its last one, "pool:NAME", takes a pool. */
        const char *s = json_string_value(v);
        int found = -1;
        for (int i = 0; s && it->names[i]; i++)
            if (it->values[i] != CFG_ALL_DOWN_POOL && strcmp(s, it->names[i]) == 0)
                found = it->values[i];
        if (found >= 0) {
            pol->all_down = (cfg_all_down_t)found;
        } else if (s && strncmp(s, "pool:", 5) == 0 && s[5]) {
            pol->all_down = CFG_ALL_DOWN_POOL;
            pol->all_down_pool = ref_name(x, K_POOL, s + 5, path);
        } else {
            buf_t list;
            buf_init(&list);
            enum_expected(it, &list);
            error(x, path, "must be %s, got %s", list.data, json_dumps_short(v, tmp));
            buf_free(&list);
        }
        break;
    }
    case CFG_ID_Y_POOL:
        pol->pool = ref(x, K_POOL, v, path);
        break;
    case CFG_ID_Y_POOLS:
        name_list(x, K_POOL, it, v, path, &pol->pools, &pol->npools);
        break;
    case CFG_ID_Y_HASH_PREFIX: {
        if (!json_is_array(v) || json_array_size(v) != 2) {
            error(x, path, "must be [IPv4 prefix length, IPv6 prefix length], got %s",
                  json_dumps_short(v, tmp));
            break;
        }
        for (size_t i = 0; i < 2; i++) {
            path_idx(p, path, i);
            item_read(x, item_at(i ? "policies.*.hash_prefix[1]" : "policies.*.hash_prefix[0]"),
                      json_array_get(v, i), p, pol);
        }
        break;
    }
    case CFG_ID_Y_RULES:
        geo_rules(x, pol, v, path);
        break;
    case CFG_ID_Y_DEFAULT:
        pol->default_pool = ref(x, K_POOL, v, path);
        break;
    }
}

static void policy_bias(ctx_t *x, cfg_policy_t *pol, json_t *v, const char *path)
{
    char tmp[64], p[PATH_LEN], e[96];
    if (!json_is_object(v)) {
        error(x, path, "must be an object of pool names to km, got %s", json_dumps_short(v, tmp));
        return;
    }
    const char *k;
    json_t *b;
    json_object_foreach(v, k, b)
    {
        path_key(p, path, k);
        int idx = ref_name(x, K_POOL, k, p);
        const cfg_item_t *it = item_at("policies.*.bias.*");
        double d;
        if (!scalar_ok(it, b, &d)) {
            error(x, p, "must be a number of %s in %g..%g, got %s", it->unit, it->min, it->max,
                  json_dumps_short(b, tmp));
            continue;
        }
        if (idx < 0)
            continue;
        bool found = false;
        for (size_t i = 0; i < pol->npools; i++)
            if (pol->pools[i] == idx) {
                pol->bias[i] = json_number_value(b);
                found = true;
            }
        if (!found && pol->npools)
            error(x, p, "pool \"%s\" is not in \"pools\"", esc(k, e));
    }
}

static void policy(ctx_t *x, json_t *o, const char *path, cfg_policy_t *pol)
{
    int type = read_type(x, o, path, cfg_policy_type_names);
    pol->type = type < 0 ? CFG_POLICY_ALL : (cfg_policy_type_t)type;
    items_default(CFG_OBJ_POLICY, type, pol);
    pol->all_down_pool = pol->pool = pol->default_pool = -1;
    walk(x, CFG_OBJ_POLICY, o, path, type, pol, policy_custom);
    if (type < 0)
        return;
    items_required(x, CFG_OBJ_POLICY, type, o, path);
    if (type == CFG_POLICY_PROXIMITY) {
        pol->bias = mem_calloc(pol->npools + 1, sizeof(double));
        json_t *b = json_object_get(o, "bias");
        if (b) {
            char p[PATH_LEN];
            path_key(p, path, "bias");
            policy_bias(x, pol, b, p);
        }
    }
    if (type == CFG_POLICY_GEO && pol->nrules)
        geo_duplicates(x, pol, path);
}

/* ---------------------------------------------------------------------- */
/* Cross-object checks, once every section is read                        */

static void check_fallback_cycles(ctx_t *x)
{
    cfg_t *cfg = x->cfg;
    size_t *mark = mem_calloc(cfg->npools + 1, sizeof(size_t));
    for (size_t i = 0; i < cfg->npools; i++) {
        int j = (int)i;
        while (j >= 0 && !mark[j]) {
            mark[j] = i + 1;
            j = cfg->pools[j].fallback;
        }
        if (j < 0 || mark[j] != i + 1)
            continue;
        /* A new cycle through j: name it from j around to j. */
        buf_t text;
        buf_init(&text);
        int k = j;
        do {
            char e[96];
            buf_printf(&text, "%s -> ", esc(cfg->pools[k].name, e));
            k = cfg->pools[k].fallback;
        } while (k != j);
        char e[96], p[PATH_LEN];
        buf_printf(&text, "%s", esc(cfg->pools[j].name, e));
        snprintf(p, PATH_LEN, "pools.%s.fallback", e);
        error(x, p, "fallback cycle: %s", text.data);
        buf_free(&text);
    }
    free(mark);
}

static void check_policies(ctx_t *x)
{
    cfg_t *cfg = x->cfg;
    bool *seen = mem_calloc(cfg->nendpoints + 1, sizeof(bool));
    for (size_t i = 0; i < cfg->npolicies; i++) {
        const cfg_policy_t *pol = &cfg->policies[i];
        char path[PATH_LEN], p[PATH_LEN], e[96], f[96];
        path_key(path, "policies", pol->name);
        if (pol->type == CFG_POLICY_WEIGHTED && pol->pool >= 0) {
            const cfg_pool_t *pl = &cfg->pools[pol->pool];
            bool any = false;
            for (size_t k = 0; k < pl->nendpoints; k++)
                any |= cfg->endpoints[pl->endpoints[k]].weight > 0;
            if (!any && pl->nendpoints) {
                path_key(p, path, "pool");
                error(x, p,
                      "every endpoint of pool \"%s\" has weight 0; a weighted policy needs "
                      "one with weight > 0",
                      esc(pl->name, e));
            }
        }
        if (pol->type == CFG_POLICY_PROXIMITY) {
            memset(seen, 0, cfg->nendpoints * sizeof(bool));
            for (size_t k = 0; k < pol->npools; k++) {
                const cfg_pool_t *pl = &cfg->pools[pol->pools[k]];
                snprintf(p, PATH_LEN, "%s.pools[%zu]", path, k);
                for (size_t m = 0; m < pl->nendpoints; m++) {
                    int ep = pl->endpoints[m];
                    if (cfg->endpoints[ep].has_location || seen[ep])
                        continue;
                    seen[ep] = true;
                    error(x, p, "endpoint \"%s\" of pool \"%s\" has no \"location\"",
                          esc(cfg->endpoints[ep].name, e), esc(pl->name, f));
                }
            }
        }
        /* Rules the databases cannot answer would never match: every client
         * would get the default pool with no error anywhere. */
        if (pol->type == CFG_POLICY_GEO) {
            unsigned last = (unsigned)-1;
            for (size_t k = 0; k < pol->nrules; k++) {
                const cfg_geo_rule_t *r = &pol->rules[k];
                bool asn = r->key == CFG_GEO_ASN;
                if (r->key == CFG_GEO_CIDR || r->rule == last ||
                    (asn ? cfg->geoip_asn_database : cfg->geoip_database))
                    continue;
                last = r->rule;
                snprintf(p, PATH_LEN, "%s.rules[%u].%s", path, last, cfg_geo_key_name(r->key));
                error(x, p, "needs settings.geoip.%s", asn ? "asn_database" : "database");
            }
        }
        if (pol->type == CFG_POLICY_PROXIMITY && !cfg->geoip_database)
            error(x, path,
                  "a proximity policy needs settings.geoip.database (the client's location "
                  "comes from it)");
    }
    free(seen);
}

/* ---------------------------------------------------------------------- */
/* Loading                                                                */

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= CFG_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* Allocates the array of `kind` with one zeroed entry per key of `sec` and
 * sets the names, so that references resolve whatever the section order. */
static void register_names(ctx_t *x, int kind, json_t *sec)
{
    cfg_t *cfg = x->cfg;
    size_t n = json_object_size(sec), i = 0;
    const char *key;
    json_t *v;
    switch (kind) {
    case K_MON:
        cfg->monitors = mem_calloc(n + 1, sizeof(cfg_monitor_t));
        json_object_foreach(sec, key, v) cfg->monitors[i++].name = mem_strdup(key);
        cfg->nmonitors = n;
        break;
    case K_EP:
        cfg->endpoints = mem_calloc(n + 1, sizeof(cfg_endpoint_t));
        json_object_foreach(sec, key, v)
        {
            items_default(CFG_OBJ_ENDPOINT, -1, &cfg->endpoints[i]);
            cfg->endpoints[i].monitor = -1;
            cfg->endpoints[i++].name = mem_strdup(key);
        }
        cfg->nendpoints = n;
        break;
    case K_POOL:
        cfg->pools = mem_calloc(n + 1, sizeof(cfg_pool_t));
        json_object_foreach(sec, key, v)
        {
            items_default(CFG_OBJ_POOL, -1, &cfg->pools[i]);
            cfg->pools[i].fallback = -1;
            cfg->pools[i++].name = mem_strdup(key);
        }
        cfg->npools = n;
        break;
    default:
        cfg->policies = mem_calloc(n + 1, sizeof(cfg_policy_t));
        json_object_foreach(sec, key, v)
        {
            cfg_policy_t *pol = &cfg->policies[i++];
            pol->name = mem_strdup(key);
            pol->pool = pol->all_down_pool = pol->default_pool = -1;
        }
        cfg->npolicies = n;
    }
    build_index(cfg, kind);
}

static void section(ctx_t *x, int kind, json_t *sec)
{
    if (!json_is_object(sec)) {
        error(x, section_names[kind], "must be an object of %s by name", section_names[kind]);
        return;
    }
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach(sec, key, v)
    {
        char path[PATH_LEN], e[96];
        path_key(path, section_names[kind], key);
        if (!valid_name(key))
            error(x, section_names[kind],
                  "invalid %s name \"%s\" (1..%d characters of A-Z a-z 0-9 _ . -)",
                  kind_names[kind], esc(key, e), CFG_NAME_MAX);
        if (!json_is_object(v)) {
            error(x, path, "must be an object");
        } else {
            switch (kind) {
            case K_MON:
                monitor(x, v, path, &x->cfg->monitors[i]);
                break;
            case K_EP:
                endpoint(x, v, path, &x->cfg->endpoints[i]);
                break;
            case K_POOL:
                pool(x, v, path, &x->cfg->pools[i]);
                break;
            default:
                policy(x, v, path, &x->cfg->policies[i]);
            }
        }
        i++;
    }
}

static char *dup_or_null(const char *s)
{
    return s ? mem_strdup(s) : NULL;
}

/* Reads all of `path` (at most CFG_MAX_FILE bytes) into `out`; 0, or
 * GS_ECONFIG with the reason in `errors`. */
#define CFG_MAX_FILE ((size_t)64 << 20)
static int read_config(const char *path, buf_t *out, buf_t *errors)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        buf_printf(errors, "%s: error: unable to open %s: %s\n", path, path, strerror(errno));
        return GS_ECONFIG;
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && out->len <= CFG_MAX_FILE)
        buf_put(out, chunk, n);
    bool bad = ferror(f);
    fclose(f);
    if (bad || out->len > CFG_MAX_FILE) {
        buf_printf(errors, "%s: error: %s\n", path,
                   bad ? "read error" : "larger than 64 MiB, not a geosteer.json");
        return GS_ECONFIG;
    }
    return 0;
}

int cfg_load(const char *path, cfg_t *cfg, buf_t *errors)
{
    json_error_t je;
    buf_t text;
    buf_init(&text);
    if (read_config(path, &text, errors) != 0) {
        buf_free(&text);
        return GS_ECONFIG;
    }
    char digest[GS_SHA256_HEX];
    gs_sha256_hex(text.data ? text.data : "", text.len, digest);
    json_t *root = json_loadb(text.data ? text.data : "", text.len, JSON_REJECT_DUPLICATES, &je);
    buf_free(&text);
    if (!root) {
        if (je.line > 0)
            buf_printf(errors, "%s:%d:%d: error: %s\n", path, je.line, je.column, je.text);
        else
            buf_printf(errors, "%s: error: %s\n", path, je.text);
        return GS_ECONFIG;
    }
    /* Build into a copy; `cfg` changes only if the whole file is valid. */
    cfg_t t = {
        .socket = mem_strdup(cfg->socket),
        .zone_db = mem_strdup(cfg->zone_db),
        .socket_mode = cfg->socket_mode,
        .max_connections = cfg->max_connections,
        .log_level = cfg->log_level,
        .geoip_database = dup_or_null(cfg->geoip_database),
        .geoip_asn_database = dup_or_null(cfg->geoip_asn_database),
        .geoip_max_age_days = cfg->geoip_max_age_days,
        .runtime_dir = dup_or_null(cfg->runtime_dir),
        .pdns_control_socket = dup_or_null(cfg->pdns_control_socket),
        .pipe_socket = dup_or_null(cfg->pipe_socket),
        .metrics = cfg->metrics,
        .metrics_listen = dup_or_null(cfg->metrics_listen),
        .probe_max_in_flight = cfg->probe_max_in_flight,
        .probe_heartbeat = cfg->probe_heartbeat,
        .health_stale_after = cfg->health_stale_after,
        .health_grace = cfg->health_grace,
        .health_stale_rule = cfg->health_stale_rule,
        .decision_log = dup_or_null(cfg->decision_log),
        .decision_log_sample = cfg->decision_log_sample,
        .decision_log_max_per_second = cfg->decision_log_max_per_second,
    };
    ctx_t x = {.file = path, .errors = errors, .cfg = &t};
    if (!json_is_object(root)) {
        error(&x, "(top level)", "must be an object");
    } else {
        for (int k = 0; k < K_COUNT; k++) {
            json_t *sec = json_object_get(root, section_names[k]);
            if (json_is_object(sec)) {
                x.section[k] = sec;
                register_names(&x, k, sec);
            } else if (sec) {
                x.section_bad[k] = true;
            }
        }
        const char *key;
        json_t *v;
        char e[96];
        json_object_foreach(root, key, v)
        {
            int k = 0;
            while (k < K_COUNT && strcmp(key, section_names[k]) != 0)
                k++;
            if (strcmp(key, "settings") == 0)
                settings(&x, v, &t);
            else if (k < K_COUNT)
                section(&x, k, v);
            else
                error(&x, esc(key, e),
                      "unknown key (expected settings, monitors, endpoints, pools, policies)");
        }
        check_fallback_cycles(&x);
        check_policies(&x);
    }
    json_decref(root);
    if (x.count) {
        cfg_free(&t);
        return GS_ECONFIG;
    }
    cfg_free(cfg);
    memcpy(t.digest, digest, sizeof(t.digest));
    *cfg = t;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* The files a config names                                               */

/* Appends "FILE: error: PATH: reason" for file `name` that failed `what`. */
static int file_error(buf_t *errors, const char *file, const char *path, const char *fmt, ...)
    GS_PRINTF(4, 5);
static int file_error(buf_t *errors, const char *file, const char *path, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    buf_printf(errors, "%s: error: %s: %s\n", file, path, msg);
    return 1;
}

int cfg_open_databases(const char *path, const cfg_t *cfg, cfg_files_t *files, buf_t *errors)
{
    cfg_files_t f = {0};
    gs_err_t e;
    int bad = 0;
    if (cfg->geoip_database && geo_db_open(cfg->geoip_database, &f.geo, &e) != 0)
        bad += file_error(errors, path, "settings.geoip.database", "%s", e.text);
    if (cfg->geoip_asn_database && geo_db_open(cfg->geoip_asn_database, &f.asn, &e) != 0)
        bad += file_error(errors, path, "settings.geoip.asn_database", "%s", e.text);
    if (bad) {
        cfg_files_close(&f);
        return GS_ECONFIG;
    }
    *files = f;
    return 0;
}

int cfg_open_files(const char *path, const cfg_t *cfg, cfg_files_t *files, buf_t *errors)
{
    cfg_files_t f = {0};
    int bad = cfg_open_databases(path, cfg, &f, errors) != 0;
    struct stat st;
    if (cfg->runtime_dir && stat(cfg->runtime_dir, &st) == 0 && !S_ISDIR(st.st_mode))
        bad += file_error(errors, path, "settings.runtime_dir", "'%s' is not a directory",
                          cfg->runtime_dir);
    /* The decision log's file is created when the daemon applies the
     * config; a check only looks, and creates nothing. */
    if (cfg->decision_log && cfg->decision_log[0] == '/') {
        char *dir = mem_strdup(cfg->decision_log);
        *strrchr(dir, '/') = '\0';
        if (stat(cfg->decision_log, &st) == 0 && S_ISDIR(st.st_mode))
            bad += file_error(errors, path, "settings.decision_log.target", "'%s' is a directory",
                              cfg->decision_log);
        else if (stat(*dir ? dir : "/", &st) != 0 || !S_ISDIR(st.st_mode))
            bad += file_error(errors, path, "settings.decision_log.target",
                              "directory '%s' does not exist", *dir ? dir : "/");
        free(dir);
    }
    if (bad) {
        cfg_files_close(&f);
        return GS_ECONFIG;
    }
    if (files)
        *files = f;
    else
        cfg_files_close(&f);
    return 0;
}

void cfg_files_close(cfg_files_t *files)
{
    geo_db_close(files->geo);
    geo_db_close(files->asn);
    files->geo = files->asn = NULL;
}

int cfg_load_all(const char *path, cfg_t *cfg, cfg_files_t *files, buf_t *errors)
{
    cfg_t t;
    cfg_defaults(&t);
    int rc = cfg_load(path, &t, errors);
    if (rc == 0)
        rc = cfg_open_files(path, &t, files, errors);
    if (rc) {
        cfg_free(&t);
        return rc;
    }
    cfg_free(cfg);
    *cfg = t;
    return 0;
}
