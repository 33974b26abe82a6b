#include "backend/dns/rr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend/dns/dname.h"

/* The types geosteer stores. Anything else is refused at write time: pdns
 * answers SERVFAIL for a type string it does not know, so storing one would
 * only break the name later. */
static const rr_type_t types[] = {
    {"A", RR_TYPE_A, RR_KIND_CHECKED},
    {"NS", RR_TYPE_NS, RR_KIND_CHECKED},
    {"CNAME", RR_TYPE_CNAME, RR_KIND_CHECKED},
    {"SOA", RR_TYPE_SOA, RR_KIND_CHECKED},
    {"PTR", 12, RR_KIND_CHECKED},
    {"HINFO", 13, RR_KIND_OPAQUE},
    {"MX", 15, RR_KIND_CHECKED},
    {"TXT", RR_TYPE_TXT, RR_KIND_CHECKED},
    {"RP", 17, RR_KIND_OPAQUE},
    {"AAAA", RR_TYPE_AAAA, RR_KIND_CHECKED},
    {"LOC", 29, RR_KIND_OPAQUE},
    {"SRV", 33, RR_KIND_CHECKED},
    {"NAPTR", 35, RR_KIND_OPAQUE},
    {"DNAME", 39, RR_KIND_CHECKED},
    {"DS", RR_TYPE_DS, RR_KIND_OPAQUE},
    {"SSHFP", 44, RR_KIND_OPAQUE},
    {"DNSKEY", 48, RR_KIND_OPAQUE},
    {"TLSA", 52, RR_KIND_OPAQUE},
    {"CDS", 59, RR_KIND_OPAQUE},
    {"CDNSKEY", 60, RR_KIND_OPAQUE},
    {"OPENPGPKEY", 61, RR_KIND_OPAQUE},
    {"SVCB", 64, RR_KIND_OPAQUE},
    {"HTTPS", 65, RR_KIND_OPAQUE},
    {"SPF", 99, RR_KIND_CHECKED},
    {"URI", 256, RR_KIND_OPAQUE},
    {"CAA", 257, RR_KIND_CHECKED},
    {"LUA", RR_TYPE_LUA, RR_KIND_LUA},
};

const rr_type_t *rr_type_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strlen(types[i].name) == len && strncasecmp(types[i].name, name, len) == 0)
            return &types[i];
    return NULL;
}

/* A cursor over whitespace-separated fields of one content string. */
typedef struct {
    const char *p;
    const char *tok;
    size_t len;
} fields_t;

static bool next_field(fields_t *f)
{
    while (*f->p == ' ' || *f->p == '\t')
        f->p++;
    if (!*f->p)
        return false;
    f->tok = f->p;
    while (*f->p && *f->p != ' ' && *f->p != '\t')
        f->p++;
    f->len = (size_t)(f->p - f->tok);
    return true;
}

static bool at_end(fields_t *f)
{
    while (*f->p == ' ' || *f->p == '\t')
        f->p++;
    return *f->p == '\0';
}

static int field_uint(fields_t *f, const char *type, const char *what, unsigned long max,
                      unsigned long *v, gs_err_t *err)
{
    if (!next_field(f))
        return gs_err_set(err, GS_EINVAL, "%s: missing %s", type, what);
    char tmp[24];
    if (f->len >= sizeof(tmp))
        return gs_err_set(err, GS_EINVAL, "%s: %s '%.*s' is not a number in 0..%lu", type, what,
                          (int)f->len, f->tok, max);
    memcpy(tmp, f->tok, f->len);
    tmp[f->len] = '\0';
    char *end;
    errno = 0;
    unsigned long n = strtoul(tmp, &end, 10);
    if (!isdigit((unsigned char)tmp[0]) || *end || errno || n > max)
        return gs_err_set(err, GS_EINVAL, "%s: %s '%s' is not a number in 0..%lu", type, what, tmp,
                          max);
    *v = n;
    return 0;
}

/* Validates a name field and appends it without the trailing dot (the form
 * pdnsutil check-zone expects from list); the root stays ".". */
static int field_name(fields_t *f, const char *type, const char *what, buf_t *out, gs_err_t *err)
{
    if (!next_field(f))
        return gs_err_set(err, GS_EINVAL, "%s: missing %s", type, what);
    char canon[DNAME_MAXTEXT + 1];
    gs_err_t e;
    if (f->len > DNAME_MAXTEXT || dname_canon(f->tok, f->len, true, canon, &e) < 0)
        return gs_err_set(err, GS_EINVAL, "%s: %s '%.*s' is not a valid name", type, what,
                          (int)(f->len > 255 ? 255 : f->len), f->tok);
    size_t n = f->len;
    if (n > 1 && f->tok[n - 1] == '.')
        n--;
    buf_put(out, f->tok, n);
    return 0;
}

static int expect_end(fields_t *f, const char *type, gs_err_t *err)
{
    if (!at_end(f))
        return gs_err_set(err, GS_EINVAL, "%s: unexpected trailing text '%s'", type, f->p);
    return 0;
}

/* Parses one quoted character-string at *pp (escapes \" \\ \DDD), at most 255
 * octets. Appends it, quotes included, to out and advances *pp. */
static int quoted_string(const char **pp, const char *type, buf_t *out, gs_err_t *err)
{
    const char *p = *pp;
    if (*p != '"')
        return gs_err_set(err, GS_EINVAL, "%s: expected '\"' at '%.40s'", type, p);
    const char *start = p++;
    size_t octets = 0;
    while (*p && *p != '"') {
        if ((unsigned char)*p < 0x20)
            return gs_err_set(err, GS_EINVAL, "%s: control character in string", type);
        if (*p == '\\') {
            if (isdigit((unsigned char)p[1])) {
                if (!isdigit((unsigned char)p[2]) || !isdigit((unsigned char)p[3]) ||
                    (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0') > 255)
                    return gs_err_set(err, GS_EINVAL, "%s: bad \\DDD escape", type);
                p += 4;
            } else if (p[1]) {
                p += 2;
            } else {
                return gs_err_set(err, GS_EINVAL, "%s: dangling escape at end", type);
            }
        } else {
            p++;
        }
        if (++octets > 255)
            return gs_err_set(err, GS_EINVAL, "%s: character-string longer than 255 octets", type);
    }
    if (*p != '"')
        return gs_err_set(err, GS_EINVAL, "%s: unterminated string", type);
    p++;
    buf_put(out, start, (size_t)(p - start));
    *pp = p;
    return 0;
}

static int norm_txt(const char *type, const char *c, buf_t *out, gs_err_t *err)
{
    while (*c == ' ' || *c == '\t')
        c++;
    if (*c != '"') {
        /* pdns quotes unquoted TXT content; do the same so list round-trips. */
        size_t n = strlen(c);
        while (n && (c[n - 1] == ' ' || c[n - 1] == '\t'))
            n--;
        if (n == 0)
            return gs_err_set(err, GS_EINVAL, "%s: empty content", type);
        buf_t tmp;
        buf_init(&tmp);
        buf_putc(&tmp, '"');
        for (size_t i = 0; i < n; i++) {
            if (c[i] == '"')
                buf_putc(&tmp, '\\');
            buf_putc(&tmp, c[i]);
        }
        buf_putc(&tmp, '"');
        const char *p = tmp.data;
        int rc = 0;
        while (rc == 0 && *p) {
            /* Split over-long text into 255-octet strings is not attempted:
             * operators should quote long TXT records themselves. */
            rc = quoted_string(&p, type, out, err);
        }
        buf_free(&tmp);
        return rc;
    }
    bool first = true;
    while (*c) {
        if (!first)
            buf_putc(out, ' ');
        int rc = quoted_string(&c, type, out, err);
        if (rc)
            return rc;
        first = false;
        if (*c && *c != ' ' && *c != '\t')
            return gs_err_set(err, GS_EINVAL, "%s: expected a space between strings", type);
        while (*c == ' ' || *c == '\t')
            c++;
    }
    return 0;
}

static int norm_addr(int af, const char *type, const char *c, buf_t *out, gs_err_t *err)
{
    unsigned char bin[16];
    char text[INET6_ADDRSTRLEN];
    fields_t f = {.p = c};
    if (!next_field(&f) || f.len >= sizeof(text))
        return gs_err_set(err, GS_EINVAL, "%s: '%s' is not an %s address", type, c,
                          af == AF_INET ? "IPv4" : "IPv6");
    memcpy(text, f.tok, f.len);
    text[f.len] = '\0';
    if (inet_pton(af, text, bin) != 1 || !at_end(&f))
        return gs_err_set(err, GS_EINVAL, "%s: '%s' is not an %s address", type, c,
                          af == AF_INET ? "IPv4" : "IPv6");
    inet_ntop(af, bin, text, sizeof(text));
    buf_puts(out, text);
    return 0;
}

static int norm_checked(const rr_type_t *t, const char *c, buf_t *out, gs_err_t *err)
{
    fields_t f = {.p = c};
    unsigned long v;
    int rc;
    const char *tn = t->name;

    switch (t->code) {
    case 1:
        return norm_addr(AF_INET, tn, c, out, err);
    case 28:
        return norm_addr(AF_INET6, tn, c, out, err);
    case 2:  /* NS */
    case 5:  /* CNAME */
    case 12: /* PTR */
    case 39: /* DNAME */
        if ((rc = field_name(&f, tn, "target", out, err)))
            return rc;
        return expect_end(&f, tn, err);
    case 15: /* MX */
        if ((rc = field_uint(&f, tn, "preference", 65535, &v, err)))
            return rc;
        buf_put_int(out, (long long)v);
        buf_putc(out, ' ');
        if ((rc = field_name(&f, tn, "exchange", out, err)))
            return rc;
        return expect_end(&f, tn, err);
    case 33: { /* SRV */
        static const char *what[] = {"priority", "weight", "port"};
        for (int i = 0; i < 3; i++) {
            if ((rc = field_uint(&f, tn, what[i], 65535, &v, err)))
                return rc;
            buf_put_int(out, (long long)v);
            buf_putc(out, ' ');
        }
        if ((rc = field_name(&f, tn, "target", out, err)))
            return rc;
        return expect_end(&f, tn, err);
    }
    case 6: { /* SOA */
        static const char *what[] = {"serial", "refresh", "retry", "expire", "minimum"};
        if ((rc = field_name(&f, tn, "primary name server", out, err)))
            return rc;
        buf_putc(out, ' ');
        if ((rc = field_name(&f, tn, "responsible mailbox", out, err)))
            return rc;
        for (int i = 0; i < 5; i++) {
            if ((rc = field_uint(&f, tn, what[i], 4294967295ul, &v, err)))
                return rc;
            buf_putc(out, ' ');
            buf_put_int(out, (long long)v);
        }
        return expect_end(&f, tn, err);
    }
    case 16: /* TXT */
    case 99: /* SPF */
        return norm_txt(tn, c, out, err);
    case 257: { /* CAA */
        if ((rc = field_uint(&f, tn, "flags", 255, &v, err)))
            return rc;
        buf_put_int(out, (long long)v);
        buf_putc(out, ' ');
        if (!next_field(&f))
            return gs_err_set(err, GS_EINVAL, "CAA: missing tag");
        if (f.len > 15)
            return gs_err_set(err, GS_EINVAL, "CAA: tag '%.*s' longer than 15 characters",
                              (int)f.len, f.tok);
        for (size_t i = 0; i < f.len; i++)
            if (!isalnum((unsigned char)f.tok[i]))
                return gs_err_set(err, GS_EINVAL, "CAA: tag '%.*s' must be letters and digits",
                                  (int)f.len, f.tok);
        buf_put(out, f.tok, f.len);
        buf_putc(out, ' ');
        while (*f.p == ' ' || *f.p == '\t')
            f.p++;
        if (!*f.p)
            return gs_err_set(err, GS_EINVAL, "CAA: missing value");
        if (*f.p == '"') {
            if ((rc = quoted_string(&f.p, tn, out, err)))
                return rc;
        } else {
            if (!next_field(&f))
                return gs_err_set(err, GS_EINVAL, "CAA: missing value");
            buf_putc(out, '"');
            buf_put(out, f.tok, f.len);
            buf_putc(out, '"');
        }
        return expect_end(&f, tn, err);
    }
    default:
        return gs_err_set(err, GS_EINVAL, "%s: no validator", tn);
    }
}

int rr_normalize(const rr_type_t *type, const char *content, buf_t *out, gs_err_t *err)
{
    for (const char *p = content; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t')
            return gs_err_set(err, GS_EINVAL, "%s: control character in content", type->name);
    const char *c = content;
    while (*c == ' ' || *c == '\t')
        c++;
    if (!*c)
        return gs_err_set(err, GS_EINVAL, "%s: empty content", type->name);
    if (strlen(c) > 65535)
        return gs_err_set(err, GS_EINVAL, "%s: content longer than 65535 bytes", type->name);

    switch (type->kind) {
    case RR_KIND_CHECKED:
        return norm_checked(type, c, out, err);
    case RR_KIND_LUA:
        /* Stored as given: the code is compiled, and refused, by the zones
         * layer (zone_rec_prepare), which keeps the program. */
        buf_puts(out, c);
        return 0;
    case RR_KIND_OPAQUE:
    default: {
        size_t n = strlen(c);
        while (n && (c[n - 1] == ' ' || c[n - 1] == '\t'))
            n--;
        buf_put(out, c, n);
        return 0;
    }
    }
}

int rr_soa_times(const char *content, uint32_t v[5])
{
    static const char *const what[5] = {"serial", "refresh", "retry", "expire", "minimum"};
    fields_t f = {.p = content};
    if (!next_field(&f) || !next_field(&f))
        return GS_EINVAL;
    for (int i = 0; i < 5; i++) {
        unsigned long n;
        if (field_uint(&f, "SOA", what[i], 4294967295ul, &n, NULL) != 0)
            return GS_EINVAL;
        v[i] = (uint32_t)n;
    }
    return 0;
}

const rr_type_t *rr_lua_qtype(const char *content)
{
    fields_t f = {.p = content};
    if (!next_field(&f))
        return NULL;
    const rr_type_t *t = rr_type_find(f.tok, f.len);
    if (!t || t->kind == RR_KIND_LUA)
        return NULL;
    while (*f.p == ' ' || *f.p == '\t')
        f.p++;
    if (*f.p != '"' && *f.p != '\'' && *f.p != '[')
        return NULL;
    return t;
}
