#include "backend/protocol/scan.h"

#include <string.h>

typedef struct {
    const char *p, *end;
} cur_t;

static void ws(cur_t *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
        c->p++;
}

static bool lit(cur_t *c, char ch)
{
    ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* A string without escapes or control characters. Anything else (an escape,
 * a control character, a non-ASCII byte) declines rather than decodes: the
 * general path's jansson parser then reads the line, and the scanner never
 * has to agree with it on how an escape or an invalid UTF-8 byte reads. */
static bool str(cur_t *c, scan_str_t *s)
{
    if (!lit(c, '"'))
        return false;
    const char *start = c->p;
    while (c->p < c->end && *c->p != '"') {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '\\' || ch < 0x20 || ch >= 0x80)
            return false;
        c->p++;
    }
    if (c->p == c->end)
        return false;
    s->p = start;
    s->len = (size_t)(c->p - start);
    c->p++;
    return true;
}

static bool key_is(const scan_str_t *k, const char *name)
{
    size_t n = strlen(name);
    return k->len == n && memcmp(k->p, name, n) == 0;
}

/* pdns's remote backend writes the lookup line from a fixed template:
 * "method" first, then "parameters" as a flat object of strings and one
 * integer. The scanner accepts exactly that shape in place (no copies, no
 * allocation) and declines everything else, so being wrong costs only the
 * general path's speed, never a different answer. Unknown keys are
 * skipped, as jansson's reader would ignore them. */
bool scan_lookup(const char *line, size_t len, scan_lookup_t *out)
{
    cur_t c = {line, line + len};
    scan_str_t k, v;
    memset(out, 0, sizeof(*out));
    out->zone_id = -1;
    if (!lit(&c, '{') || !str(&c, &k) || !key_is(&k, "method") || !lit(&c, ':') || !str(&c, &v) ||
        !key_is(&v, "lookup") || !lit(&c, ',') || !str(&c, &k) || !key_is(&k, "parameters") ||
        !lit(&c, ':') || !lit(&c, '{'))
        return false;
    bool have_qtype = false, have_qname = false;
    if (!lit(&c, '}')) {
        for (;;) {
            if (!str(&c, &k) || !lit(&c, ':'))
                return false;
            ws(&c);
            if (c.p == c.end)
                return false;
            if (*c.p == '"') {
                if (!str(&c, &v))
                    return false;
                if (key_is(&k, "qtype")) {
                    out->qtype = v;
                    have_qtype = true;
                } else if (key_is(&k, "qname")) {
                    out->qname = v;
                    have_qname = true;
                } else if (key_is(&k, "remote")) {
                    out->remote = v;
                } else if (key_is(&k, "real-remote")) {
                    out->real_remote = v;
                } else if (key_is(&k, "zone-id")) {
                    return false; /* numeric string: leave it to the general path */
                }
            } else if (*c.p == '-' || (*c.p >= '0' && *c.p <= '9')) {
                bool neg = *c.p == '-';
                if (neg)
                    c.p++;
                const char *d = c.p;
                int64_t n = 0;
                /* At most 18 digits, so n cannot overflow; a longer number
                 * (or a fraction, an exponent) falls to the general path. */
                while (c.p < c.end && *c.p >= '0' && *c.p <= '9' && c.p - d < 18)
                    n = n * 10 + (*c.p++ - '0');
                if (c.p == d || (c.p < c.end && (*c.p == '.' || *c.p == 'e' || *c.p == 'E' ||
                                                 (*c.p >= '0' && *c.p <= '9'))))
                    return false;
                if (d[0] == '0' && c.p - d > 1)
                    return false; /* leading zero: invalid JSON */
                if (key_is(&k, "zone-id"))
                    out->zone_id = neg ? -n : n;
            } else {
                return false; /* true/false/null/objects/arrays: general path */
            }
            if (lit(&c, ','))
                continue;
            if (lit(&c, '}'))
                break;
            return false;
        }
    }
    if (!lit(&c, '}'))
        return false;
    ws(&c);
    return c.p == c.end && have_qtype && have_qname;
}
