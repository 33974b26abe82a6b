/* The LUA-record migration check. */
#include "backend/luacheck.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend/luac.h"

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

/* What to write instead of code outside the subset. */
static const char *instead(const char *content)
{
    static const struct {
        const char *fn, *hint;
    } hints[] = {
        {"createReverse", "static PTR records (generate them with a script)"},
        {"createForward", "static A/AAAA records (generate them with a script)"},
        {"filterForward", "a geo policy with cidr rules"},
        {"ifurlextup", "a failover policy whose endpoints have an http monitor and a "
                       "probe_address"},
        {"pickselfweighted", "a weighted policy with monitored endpoints (weights are fixed)"},
        {"picknamehashed", "a hashed policy, or one name per shard"},
        {"closestMagic", "a proximity policy"},
        {"latlon", "geosteer explain / geosteer geoip lookup (no record equivalent)"},
        {"geoiplookup", "a geo policy; geosteer geoip lookup to inspect"},
        {"dblookup", "endpoints and pools in geosteer.json"},
        {"include", "endpoints and pools in geosteer.json, shared by policies"},
        {"countryCode", "a geo policy with country rules"},
        {"continentCode", "a geo policy with continent rules"},
        {"regionCode", "a geo policy with subdivision rules"},
    };
    for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
        if (strstr(content, hints[i].fn))
            return hints[i].hint;
    return "a policy in geosteer.json answered with steer('<policy>'), or a conditional chain "
           "over country/continent/region/asnum/netmask";
}

bool luacheck_record(const char *owner, const char *content, buf_t *out)
{
    luac_prog_t *p;
    gs_err_t err;
    buf_printf(out, "%s LUA %s: ", owner, content);
    if (luac_compile(content, &p, &err) != 0) {
        buf_printf(out, "NOT supported: %s; instead: %s\n", err.text, instead(content));
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

/* The next blank-separated token of `s` (quoted strings kept whole). */
static const char *token(const char *s, size_t *len)
{
    while (*s == ' ' || *s == '\t')
        s++;
    const char *t = s;
    while (*s && *s != ' ' && *s != '\t') {
        if (*s == '"') {
            for (s++; *s && *s != '"'; s++)
                if (*s == '\\' && s[1])
                    s++;
            if (*s)
                s++;
            continue;
        }
        s++;
    }
    *len = (size_t)(s - t);
    return t;
}

static bool is_class(const char *t, size_t n)
{
    return n == 2 && (strncasecmp(t, "IN", 2) == 0 || strncasecmp(t, "CH", 2) == 0);
}

int luacheck_zonefile(const char *path, const char *origin, buf_t *out)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        int rc = -errno;
        buf_printf(out, "ERR %s: %s\n", path, strerror(errno));
        return rc;
    }
    char org[1100], owner[1100] = "", line[70000];
    snprintf(org, sizeof(org), "%s", origin ? origin : ".");
    buf_t body;
    buf_init(&body);
    unsigned total = 0, bad = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        /* Comments: ';' outside quotes. */
        bool q = false;
        for (char *c = line; *c; c++) {
            if (*c == '\\' && c[1])
                c++;
            else if (*c == '"')
                q = !q;
            else if (*c == ';' && !q) {
                *c = '\0';
                break;
            }
        }
        size_t n;
        const char *t = token(line, &n);
        if (!n)
            continue;
        if (n == 7 && strncasecmp(t, "$ORIGIN", 7) == 0) {
            t = token(t + n, &n);
            snprintf(org, sizeof(org), "%.*s", (int)n, t);
            continue;
        }
        if (*t == '$')
            continue;
        /* The owner: given in the first column, else inherited. */
        if (line[0] != ' ' && line[0] != '\t') {
            if (n == 1 && *t == '@')
                snprintf(owner, sizeof(owner), "%s", org);
            else if (t[n - 1] == '.')
                snprintf(owner, sizeof(owner), "%.*s", (int)n, t);
            else
                snprintf(owner, sizeof(owner), "%.*s.%s", (int)n, t, strcmp(org, ".") ? org : "");
            t = token(t + n, &n);
        }
        /* [ttl] [class] type, in either order of ttl and class */
        for (int i = 0; i < 2 && n && (isdigit((unsigned char)*t) || is_class(t, n)); i++)
            t = token(t + n, &n);
        if (n != 3 || strncasecmp(t, "LUA", 3) != 0)
            continue;
        char *content = line + (t + n - line);
        while (*content == ' ' || *content == '\t')
            content++;
        size_t end = strlen(content);
        while (end && (content[end - 1] == ' ' || content[end - 1] == '\t'))
            end--;
        content[end] = '\0';
        total++;
        if (!luacheck_record(owner, content, &body))
            bad++;
    }
    fclose(f);
    luacheck_summary(out, path, total, bad, &body);
    buf_free(&body);
    return (int)bad;
}
