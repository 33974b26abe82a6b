/* The LUA-record migration check and the zone-file reader it uses. */
#include "backend/steering/luacheck.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "backend/steering/luac.h"
#include "common/mem.h"

/* ---- the zone-file reader ---- */

#define ZF_MAX_RECORD (1u << 20) /* bytes of one record's text, all lines together */
#define ZF_DEFAULT_TTL 3600u     /* pdns's zone parser, before any $TTL or SOA */

struct luacheck_zf {
    FILE *f;
    char *path;
    char *line; /* getline's buffer */
    size_t line_cap;
    unsigned lineno;
    buf_t origin;    /* ends in '.' */
    buf_t owner;     /* the last owner, for inherited ones; empty before the first */
    uint32_t dflt;   /* the TTL of records that give none */
    bool dollar_ttl; /* $TTL seen: the SOA minimum no longer sets dflt */
    /* The record being read: tokens NUL-separated in `toks`, offsets in `tok`. */
    buf_t toks;
    size_t *tok, ntok, cap_tok;
    buf_t rec_origin, rec_owner, rec_type, rec_content;
};

static void zf_tok_start(luacheck_zf_t *z)
{
    if (z->ntok == z->cap_tok) {
        z->cap_tok = z->cap_tok ? z->cap_tok * 2 : 32;
        z->tok = mem_realloc_n(z->tok, z->cap_tok, sizeof(*z->tok));
    }
    z->tok[z->ntok++] = z->toks.len;
}

static const char *zf_tok(const luacheck_zf_t *z, size_t i)
{
    return z->toks.data + z->tok[i];
}

/* `name` made absolute against `origin` (ending in '.') into `out`. */
static void zf_absolute(const char *name, const char *origin, buf_t *out)
{
    buf_reset(out);
    size_t n = strlen(name);
    if (strcmp(name, "@") == 0) {
        buf_puts(out, origin);
        return;
    }
    /* A trailing dot makes a name absolute unless it is escaped ("a\."). */
    size_t bs = 0;
    while (bs + 1 < n && name[n - 2 - bs] == '\\')
        bs++;
    buf_puts(out, name);
    if (n && name[n - 1] == '.' && bs % 2 == 0)
        return;
    if (strcmp(origin, ".") != 0)
        buf_putc(out, '.');
    buf_puts(out, origin);
}

/* A TTL: digits, or digits with units ("1h30m"; s m h d w). */
static bool zf_ttl(const char *s, uint32_t *out)
{
    if (!isdigit((unsigned char)*s))
        return false;
    unsigned long long total = 0;
    while (*s) {
        unsigned long long v = 0;
        if (!isdigit((unsigned char)*s))
            return false;
        while (isdigit((unsigned char)*s)) {
            v = v * 10 + (unsigned)(*s++ - '0');
            if (v > 0x7fffffffull)
                return false;
        }
        unsigned long long mul = 1;
        switch (tolower((unsigned char)*s)) {
        case '\0':
            break;
        case 's':
            s++;
            break;
        case 'm':
            mul = 60, s++;
            break;
        case 'h':
            mul = 3600, s++;
            break;
        case 'd':
            mul = 86400, s++;
            break;
        case 'w':
            mul = 604800, s++;
            break;
        default:
            return false;
        }
        total += v * mul;
        if (total > 0x7fffffffull)
            return false;
    }
    *out = (uint32_t)total;
    return true;
}

/* Reads one line into z->line (without its line break); false at the end or
 * on a read error (ferror tells). */
static bool zf_getline(luacheck_zf_t *z)
{
    ssize_t len = getline(&z->line, &z->line_cap, z->f);
    if (len < 0)
        return false;
    z->lineno++;
    while (len > 0 && (z->line[len - 1] == '\n' || z->line[len - 1] == '\r'))
        z->line[--len] = '\0';
    return true;
}

typedef struct {
    int depth;          /* open parentheses */
    unsigned open_line; /* where the open one is */
    bool in_tok;
    char err[200]; /* the first error of this record, if any */
} zf_scan_t;

static void zf_scan_fail(zf_scan_t *sc, const char *what, unsigned line)
{
    if (!sc->err[0])
        snprintf(sc->err, sizeof(sc->err), "%s (line %u)", what, line);
}

/* Splits the current line into tokens (appended to the record's), tracking
 * parentheses. Quoted strings stay whole, quotes and escapes included;
 * ';' outside quotes starts a comment. */
static void zf_scan_line(luacheck_zf_t *z, zf_scan_t *sc)
{
    const char *p = z->line;
    sc->in_tok = false;
    while (*p) {
        char c = *p;
        if (c == ';')
            break;
        if (c == ' ' || c == '\t' || c == '(' || c == ')') {
            if (sc->in_tok) {
                buf_putc(&z->toks, '\0');
                sc->in_tok = false;
            }
            if (c == '(') {
                if (sc->depth)
                    zf_scan_fail(sc, "'(' inside parentheses", z->lineno);
                else
                    sc->depth = 1, sc->open_line = z->lineno;
            } else if (c == ')') {
                if (!sc->depth)
                    zf_scan_fail(sc, "')' without '('", z->lineno);
                else
                    sc->depth = 0;
            }
            p++;
            continue;
        }
        if (!sc->in_tok) {
            zf_tok_start(z);
            sc->in_tok = true;
        }
        if (c == '\\' && p[1]) {
            buf_put(&z->toks, p, 2);
            p += 2;
            continue;
        }
        if (c == '"') {
            const char *q = p + 1;
            while (*q && *q != '"')
                q += q[0] == '\\' && q[1] ? 2 : 1;
            if (!*q) {
                zf_scan_fail(sc, "a quoted string is not closed on its line", z->lineno);
                buf_put(&z->toks, p, strlen(p));
                break;
            }
            buf_put(&z->toks, p, (size_t)(q + 1 - p));
            p = q + 1;
            continue;
        }
        buf_putc(&z->toks, c);
        p++;
    }
    if (sc->in_tok)
        buf_putc(&z->toks, '\0');
    if (z->toks.len > ZF_MAX_RECORD)
        zf_scan_fail(sc, "the record is longer than 1 MiB", z->lineno);
}

/* The absolute form of the names in the data of the types whose data holds
 * names, and SOA times in seconds; the record's TTL default follows the SOA
 * minimum until a $TTL is seen. Returns false (reason in `why`) when a SOA
 * time is not one. */
static bool zf_content(luacheck_zf_t *z, size_t first, const char *type, char *why, size_t wsz)
{
    static const struct {
        const char *type;
        int nfields;       /* 0: any count */
        unsigned namemask; /* bit i: field i is a name */
    } names[] = {
        {"NS", 1, 1},    {"CNAME", 1, 1}, {"DNAME", 1, 1}, {"PTR", 1, 1}, {"MX", 2, 2},
        {"AFSDB", 2, 2}, {"RP", 2, 3},    {"SRV", 4, 8},   {"SOA", 7, 3},
    };
    buf_t *out = &z->rec_content;
    buf_reset(out);
    size_t nf = z->ntok - first;
    int k = -1;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(type, names[i].type) == 0 && (size_t)names[i].nfields == nf)
            k = (int)i;
    buf_t name;
    buf_init(&name);
    bool ok = true;
    for (size_t i = 0; i < nf; i++) {
        const char *t = zf_tok(z, first + i);
        if (i)
            buf_putc(out, ' ');
        if (k >= 0 && (names[k].namemask >> i & 1) && strcmp(t, ".") != 0) {
            zf_absolute(t, z->rec_origin.data, &name);
            buf_puts(out, name.data);
        } else if (k >= 0 && strcmp(type, "SOA") == 0 && i >= 2) {
            uint32_t v;
            if (!zf_ttl(t, &v)) {
                snprintf(why, wsz, "SOA field %zu is not a number of seconds, got '%.40s'", i + 1,
                         t);
                ok = false;
                break;
            }
            buf_printf(out, "%u", v);
            if (i == 6 && !z->dollar_ttl)
                z->dflt = v;
        } else if (nf == 1 && strcmp(t, "@") == 0) {
            buf_puts(out, z->rec_origin.data);
        } else {
            buf_puts(out, t);
        }
    }
    buf_free(&name);
    return ok;
}

int luacheck_zf_open(const char *path, const char *origin, luacheck_zf_t **out, gs_err_t *err)
{
    *out = NULL;
    FILE *f = fopen(path, "re");
    if (!f) {
        int rc = -errno;
        return gs_err_set(err, rc, "%s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return gs_err_set(err, -EISDIR, "%s: %s", path, strerror(EISDIR));
    }
    luacheck_zf_t *z = mem_calloc(1, sizeof(*z));
    z->f = f;
    z->path = mem_strdup(path);
    z->dflt = ZF_DEFAULT_TTL;
    buf_init(&z->origin);
    buf_init(&z->owner);
    buf_init(&z->toks);
    buf_init(&z->rec_origin);
    buf_init(&z->rec_owner);
    buf_init(&z->rec_type);
    buf_init(&z->rec_content);
    const char *o = origin && *origin ? origin : ".";
    buf_puts(&z->origin, o);
    if (o[strlen(o) - 1] != '.')
        buf_putc(&z->origin, '.');
    *out = z;
    return 0;
}

void luacheck_zf_close(luacheck_zf_t *z)
{
    if (!z)
        return;
    fclose(z->f);
    free(z->path);
    free(z->line);
    free(z->tok);
    buf_free(&z->origin);
    buf_free(&z->owner);
    buf_free(&z->toks);
    buf_free(&z->rec_origin);
    buf_free(&z->rec_owner);
    buf_free(&z->rec_type);
    buf_free(&z->rec_content);
    free(z);
}

static int zf_bad(const luacheck_zf_t *z, unsigned line, gs_err_t *err, const char *why)
{
    return gs_err_set(err, GS_EINVAL, "%s:%u: error: %s", z->path, line, why);
}

/* Handles a $ directive whose tokens are the record's. */
static int zf_directive(luacheck_zf_t *z, unsigned line, gs_err_t *err)
{
    const char *d = zf_tok(z, 0);
    char why[200];
    if (strcasecmp(d, "$ORIGIN") == 0 && z->ntok == 2) {
        buf_t abs;
        buf_init(&abs);
        zf_absolute(zf_tok(z, 1), z->origin.data, &abs);
        buf_reset(&z->origin);
        buf_puts(&z->origin, abs.data);
        buf_free(&abs);
        return 0;
    }
    if (strcasecmp(d, "$TTL") == 0 && z->ntok == 2) {
        if (!zf_ttl(zf_tok(z, 1), &z->dflt)) {
            snprintf(why, sizeof(why), "$TTL needs a time like 300 or 1h, got '%.40s'",
                     zf_tok(z, 1));
            return zf_bad(z, line, err, why);
        }
        z->dollar_ttl = true;
        return 0;
    }
    if (strcasecmp(d, "$INCLUDE") == 0)
        return zf_bad(z, line, err,
                      "$INCLUDE is not supported: put the included records in "
                      "this file");
    if (strcasecmp(d, "$GENERATE") == 0)
        return zf_bad(z, line, err, "$GENERATE is not supported: write out the records it makes");
    if (strcasecmp(d, "$ORIGIN") == 0 || strcasecmp(d, "$TTL") == 0) {
        snprintf(why, sizeof(why), "%.20s takes one argument", d);
        return zf_bad(z, line, err, why);
    }
    snprintf(why, sizeof(why), "unknown directive '%.40s'", d);
    return zf_bad(z, line, err, why);
}

int luacheck_zf_next(luacheck_zf_t *z, luacheck_zrec_t *rec, gs_err_t *err)
{
    for (;;) {
        if (!zf_getline(z))
            return ferror(z->f) ? gs_err_set(err, -EIO, "%s: read error", z->path) : 0;
        unsigned first_line = z->lineno;
        bool inherit = z->line[0] == ' ' || z->line[0] == '\t';
        bool directive = z->line[0] == '$';
        buf_reset(&z->toks);
        z->ntok = 0;
        zf_scan_t sc = {0};
        zf_scan_line(z, &sc);
        while (sc.depth) {
            if (!zf_getline(z)) {
                if (ferror(z->f))
                    return gs_err_set(err, -EIO, "%s: read error", z->path);
                zf_scan_fail(&sc, "a '(' is never closed", sc.open_line);
                break;
            }
            zf_scan_line(z, &sc);
        }
        if (z->ntok == 0 && !sc.err[0])
            continue; /* blank or comment */
        if (sc.err[0])
            return zf_bad(z, first_line, err, sc.err);
        if (directive) {
            if (zf_directive(z, first_line, err))
                return GS_EINVAL;
            continue;
        }

        char why[200];
        size_t i = 0;
        if (!inherit) {
            zf_absolute(zf_tok(z, 0), z->origin.data, &z->owner);
            i = 1;
        } else if (!z->owner.len) {
            return zf_bad(z, first_line, err,
                          "no owner name: the first record must start with one");
        }
        bool have_ttl = false;
        uint32_t ttl = z->dflt;
        for (; i < z->ntok; i++) {
            const char *t = zf_tok(z, i);
            if (strcasecmp(t, "IN") == 0)
                continue;
            if (strcasecmp(t, "CH") == 0 || strcasecmp(t, "HS") == 0 || strcasecmp(t, "CS") == 0) {
                snprintf(why, sizeof(why), "class %s is not supported (only IN)", t);
                return zf_bad(z, first_line, err, why);
            }
            if (!have_ttl && isdigit((unsigned char)*t)) {
                if (!zf_ttl(t, &ttl)) {
                    snprintf(why, sizeof(why), "'%.40s' is not a TTL", t);
                    return zf_bad(z, first_line, err, why);
                }
                have_ttl = true;
                continue;
            }
            break;
        }
        if (i == z->ntok)
            return zf_bad(z, first_line, err, "expected a record type");
        const char *type = zf_tok(z, i);
        bool ok = isalpha((unsigned char)*type);
        for (const char *c = type; *c && ok; c++)
            ok = isalnum((unsigned char)*c) || *c == '-';
        if (!ok) {
            snprintf(why, sizeof(why), "'%.40s' is not a record type", type);
            return zf_bad(z, first_line, err, why);
        }
        buf_reset(&z->rec_type);
        for (const char *c = type; *c; c++)
            buf_putc(&z->rec_type, (char)toupper((unsigned char)*c));
        if (i + 1 == z->ntok) {
            snprintf(why, sizeof(why), "the %s record has no data", z->rec_type.data);
            return zf_bad(z, first_line, err, why);
        }
        buf_reset(&z->rec_origin);
        buf_puts(&z->rec_origin, z->origin.data);
        buf_reset(&z->rec_owner);
        buf_puts(&z->rec_owner, z->owner.data);
        if (!zf_content(z, i + 1, z->rec_type.data, why, sizeof(why)))
            return zf_bad(z, first_line, err, why);
        rec->line = first_line;
        rec->last_line = z->lineno;
        rec->owner = z->rec_owner.data;
        rec->origin = z->rec_origin.data;
        rec->ttl = ttl; /* the default before this record: a SOA sets the next ones */
        rec->type = z->rec_type.data;
        rec->content = z->rec_content.data;
        return 1;
    }
}

/* ---- the check ---- */

/* The closest geosteer.json policy to a compiled selection. */
static const char *policy_for(const luac_prog_t *p)
{
    if (p->nbranches > 1 || p->branches[0].cond)
        return "a geo policy (continent/country/subdivision/asn/cidr rules, most specific wins) "
               "with one pool per branch";
    switch (p->branches[0].sel.kind) {
    case LUAC_IFPORTUP:
        return "a failover policy, one pool per address set, endpoints with a tcp monitor";
    case LUAC_IFURLUP:
        return "a failover policy, one pool per address set, endpoints with an http(s) monitor";
    case LUAC_PICKRANDOM:
        return "a random policy";
    case LUAC_PICKRANDOMSAMPLE:
        return "a multivalue policy";
    case LUAC_PICKWRANDOM:
        return "a weighted policy";
    case LUAC_PICKHASHED:
    case LUAC_PICKWHASHED:
        return "a hashed policy (endpoint weights for pickwhashed)";
    case LUAC_PICKCHASHED:
        return "a consistent-hash policy";
    case LUAC_PICKCLOSEST:
        return "a proximity policy (endpoint locations)";
    case LUAC_ALL:
        return "an all policy";
    case LUAC_VIEW:
        return "a geo policy with cidr rules";
    case LUAC_STEER:
        return "it is one already";
    case LUAC_STATIC:
    default:
        return "static records";
    }
}

/* The code of LUA content `TYPE "..." ["..."]`: the quoted strings joined,
 * escapes resolved, the way luac_compile reads it, so that its columns
 * point into this text. Empty when the content is not of that form. */
static void code_of(const char *content, buf_t *out)
{
    const char *s = content;
    while (*s == ' ' || *s == '\t')
        s++;
    while (*s && *s != ' ' && *s != '\t')
        s++;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s != '"')
            return;
        for (s++; *s && *s != '"'; s++) {
            if (*s == '\\' && s[1])
                s++;
            buf_putc(out, *s);
        }
        if (*s != '"')
            return;
        s++;
    }
}

static bool is_ident(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* The position of the first call of function `fn` (as a whole word, not a
 * method or a field, followed by '(') in `code`, or SIZE_MAX. */
static size_t find_call(const char *code, const char *fn)
{
    size_t n = strlen(fn);
    for (const char *p = strstr(code, fn); p; p = strstr(p + 1, fn)) {
        if (p > code && (is_ident(p[-1]) || p[-1] == '.' || p[-1] == ':'))
            continue;
        const char *q = p + n;
        if (is_ident(*q))
            continue;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == '(')
            return (size_t)(p - code);
    }
    return SIZE_MAX;
}

/* What to write instead of code outside the subset: the hint of the first
 * function of pdns's that geosteer has no equivalent for, else the policy
 * of the first selection or condition the code uses, else a general one. */
static const char *instead(const char *code)
{
    static const struct {
        const char *fn, *hint;
    } unsupported[] = {
        {"createReverse", "static PTR records (generate them with a script)"},
        {"createReverse6", "static PTR records (generate them with a script)"},
        {"createForward", "static A/AAAA records (generate them with a script)"},
        {"createForward6", "static AAAA records (generate them with a script)"},
        {"filterForward", "static A/AAAA records for the names whose addresses the netmasks "
                          "allow (generate them with a script; filterForward only limits what "
                          "createForward answers)"},
        {"ifurlextup", "a failover policy whose endpoints have an http monitor and a "
                       "probe_address"},
        {"pickselfweighted", "a weighted policy with monitored endpoints (weights are fixed)"},
        {"picknamehashed", "a hashed policy, or one name per shard"},
        {"closestMagic", "a proximity policy"},
        {"latlon", "geosteer explain / geosteer geoip lookup (no record equivalent)"},
        {"latlonloc", "geosteer explain / geosteer geoip lookup (no record equivalent)"},
        {"geoiplookup", "a geo policy; geosteer geoip lookup to inspect"},
        {"dblookup", "endpoints and pools in geosteer.json"},
        {"resolve", "static records, or endpoints with the addresses in geosteer.json"},
        {"countryCode", "a geo policy with country rules"},
        {"continentCode", "a geo policy with continent rules"},
        {"regionCode", "a geo policy with subdivision rules"},
    };
    static const struct {
        const char *fn, *hint;
    } known[] = {
        {"ifportup", "a failover policy, one pool per address set, endpoints with a tcp monitor"},
        {"ifurlup", "a failover policy, one pool per address set, endpoints with an http(s) "
                    "monitor"},
        {"pickrandomsample", "a multivalue policy"},
        {"pickrandom", "a random policy"},
        {"pickwrandom", "a weighted policy"},
        {"pickwhashed", "a hashed policy with endpoint weights"},
        {"pickhashed", "a hashed policy"},
        {"pickchashed", "a consistent-hash policy"},
        {"pickclosest", "a proximity policy (endpoint locations)"},
        {"all", "an all policy"},
        {"view", "a geo policy with cidr rules"},
        {"country", "a geo policy with country rules, answered with steer('<policy>')"},
        {"continent", "a geo policy with continent rules, answered with steer('<policy>')"},
        {"region", "a geo policy with subdivision rules, answered with steer('<policy>')"},
        {"asnum", "a geo policy with asn rules, answered with steer('<policy>')"},
        {"netmask", "a geo policy with cidr rules, answered with steer('<policy>')"},
    };
    const char *hint = NULL;
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        size_t at = find_call(code, unsupported[i].fn);
        if (at < best)
            best = at, hint = unsupported[i].hint;
    }
    if (hint)
        return hint;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        size_t at = find_call(code, known[i].fn);
        if (at < best)
            best = at, hint = known[i].hint;
    }
    if (hint)
        return hint;
    if (find_call(code, "include") != SIZE_MAX)
        return "endpoints and pools in geosteer.json, shared by policies (what the included "
               "code defines)";
    return "a policy in geosteer.json answered with steer('<policy>'), or a conditional chain "
           "over country/continent/region/asnum/netmask";
}

/* The compiler's reason in words about the construct at its column: the
 * compiler reports where it stopped ("expected 'return'", "unexpected text
 * after the end"); what stands there says what is outside the subset.
 * Writes "LUA: column N: <reason>" into `out`, or the compiler's text when
 * nothing is recognised. */
static void explain(const char *code, const char *msg, char *out, size_t size)
{
    size_t col;
    int off = 0;
    if (sscanf(msg, "LUA: column %zu: %n", &col, &off) != 1 || off == 0 || col == 0 ||
        col > strlen(code) + 1) {
        snprintf(out, size, "%s", msg);
        return;
    }
    const char *p = code + col - 1;
    while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
    size_t n = 0;
    while (is_ident(p[n]))
        n++;
    const char *after = p + n;
    while (*after == ' ' || *after == '\t')
        after++;
    const char *why = NULL;
    char tmp[200];
#define WORD(w) (n == strlen(w) && strncmp(p, w, n) == 0)
    if (WORD("local"))
        why = "local variables are not in the supported subset: write each value where it is "
              "used";
    else if (WORD("for") || WORD("while") || WORD("repeat") || WORD("goto"))
        why = "loops (for/while/repeat) are not in the supported subset: list the values, or "
              "let a policy pick among endpoints";
    else if (WORD("function"))
        why = "function definitions are not in the supported subset";
    else if (WORD("include"))
        why = "include() of shared code is not in the supported subset: shared addresses "
              "become endpoints and pools in geosteer.json";
    else if (WORD("or") || WORD("and"))
        why = "'or'/'and' between values (Lua fallbacks) are not in the supported subset: "
              "conditions go in ';if ... then return ... end', fallbacks in a policy's pools";
    else if (p[0] == '.' && p[1] == '.')
        why = "string building with '..' is not in the supported subset: write the whole value "
              "as one string";
    else if (n && (*after == '.' || *after == ':') && after[1] != '.') {
        size_t m = (size_t)(after + 1 - p);
        while (is_ident(p[m]))
            m++;
        snprintf(tmp, sizeof(tmp),
                 "Lua library calls and methods ('%.*s') are not in the supported subset",
                 (int)(m < 60 ? m : 60), p);
        why = tmp;
    } else if (n && *after == '=' && after[1] != '=')
        why = (snprintf(tmp, sizeof(tmp),
                        "assignments ('%.*s = ...') are not in the supported subset: write "
                        "each value where it is used",
                        (int)(n < 40 ? n : 40), p),
               tmp);
#undef WORD
    if (why)
        snprintf(out, size, "LUA: column %zu: %s", col, why);
    else
        snprintf(out, size, "%s", msg);
}

bool luacheck_record(const char *owner, const char *content, buf_t *out)
{
    luac_prog_t *p;
    gs_err_t err;
    buf_printf(out, "%s LUA %s: ", owner, content);
    if (luac_compile(content, &p, &err) != 0) {
        buf_t code;
        buf_init(&code);
        code_of(content, &code);
        const char *c = code.data ? code.data : "";
        char why[600];
        explain(c, err.text, why, sizeof(why));
        buf_printf(out, "NOT supported: %s; instead: %s\n", why, instead(c));
        buf_free(&code);
        return false;
    }
    buf_printf(out, "supported (%s%s", luac_sel_name(p->branches[0].sel.kind),
               p->nbranches > 1 || p->branches[0].cond ? " in a conditional chain" : "");
    buf_printf(out, "); as a policy: %s\n", policy_for(p));
    luac_free(p);
    return true;
}

void luacheck_summary(buf_t *out, const char *what, unsigned total, unsigned bad, const buf_t *body)
{
    buf_printf(out, "%s lua-check %s: %u LUA record%s, %u supported, %u not\n", bad ? "ERR" : "OK",
               what, total, total == 1 ? "" : "s", total - bad, bad);
    buf_put(out, body->data ? body->data : "", body->len);
}

int luacheck_zonefile(const char *path, const char *origin, buf_t *out, luacheck_result_t *res)
{
    memset(res, 0, sizeof(*res));
    gs_err_t err;
    luacheck_zf_t *z;
    int rc = luacheck_zf_open(path, origin, &z, &err);
    if (rc) {
        buf_printf(out, "ERR %s\n", err.text);
        return rc;
    }
    buf_t body;
    buf_init(&body);
    luacheck_zrec_t rec;
    while ((rc = luacheck_zf_next(z, &rec, &err)) != 0) {
        if (rc == GS_EINVAL) {
            res->malformed++;
            buf_printf(&body, "%s\n", err.text);
            continue;
        }
        if (rc < 0)
            break;
        if (strcmp(rec.type, "LUA") != 0)
            continue;
        res->total++;
        buf_printf(&body, "%s:%u: ", path, rec.line);
        if (!luacheck_record(rec.owner, rec.content, &body))
            res->bad++;
    }
    luacheck_zf_close(z);
    if (rc < 0) {
        buf_printf(out, "ERR %s\n", err.text);
        buf_free(&body);
        return rc;
    }
    if (res->malformed)
        buf_printf(out, "ERR %s: %u malformed record%s or directive%s, not checked (below)\n", path,
                   res->malformed, res->malformed == 1 ? "" : "s", res->malformed == 1 ? "" : "s");
    luacheck_summary(out, path, res->total, res->bad, &body);
    buf_free(&body);
    return 0;
}
