#include "backend/dns/dname.h"

#include <ctype.h>
#include <string.h>

#include "common/hash.h"

/* One pass over the presentation form. Two lengths are tracked because the
 * limits are on the wire form: `label` counts a label's octets (an escape,
 * \DDD or \c, is one octet however many characters it takes) and `wire`
 * the whole name's (each label plus its length byte, plus the root's), so
 * a name is refused exactly when pdns would refuse it. Escapes are kept
 * as written, except that an escaped letter is lowercased like any other
 * letter: the canonical form must compare equal byte for byte for every
 * spelling of the same name. */
int dname_canon(const char *in, size_t len, bool dot_optional, char *out, gs_err_t *err)
{
    if (len == 0)
        return gs_err_set(err, GS_EINVAL, "empty name");
    if (len == 1 && in[0] == '.') {
        out[0] = '.';
        out[1] = '\0';
        return 1;
    }
    size_t o = 0, wire = 1, label = 0;
    bool ended_with_dot = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        ended_with_dot = false;
        if (c == '.') {
            if (label == 0)
                return gs_err_set(err, GS_EINVAL, "empty label in name '%.*s'", (int)len, in);
            wire += label + 1;
            label = 0;
            out[o++] = '.';
            ended_with_dot = true;
            continue;
        }
        if (c <= ' ' || c == '"' || c >= 0x7f)
            return gs_err_set(err, GS_EINVAL, "invalid character in name '%.*s'", (int)len, in);
        if (c == '\\') {
            if (i + 1 >= len)
                return gs_err_set(err, GS_EINVAL, "dangling escape in name '%.*s'", (int)len, in);
            if (isdigit((unsigned char)in[i + 1])) {
                if (i + 3 >= len + 0 || !isdigit((unsigned char)in[i + 2]) ||
                    !isdigit((unsigned char)in[i + 3]) ||
                    (in[i + 1] - '0') * 100 + (in[i + 2] - '0') * 10 + (in[i + 3] - '0') > 255)
                    return gs_err_set(err, GS_EINVAL, "bad \\DDD escape in name '%.*s'", (int)len,
                                      in);
                memcpy(out + o, in + i, 4);
                o += 4;
                i += 3;
            } else {
                out[o++] = '\\';
                out[o++] = (char)tolower((unsigned char)in[i + 1]);
                i += 1;
            }
        } else {
            out[o++] = (char)tolower(c);
        }
        if (++label > 63)
            return gs_err_set(err, GS_EINVAL, "label longer than 63 octets in name '%.*s'",
                              (int)len, in);
    }
    if (!ended_with_dot) {
        if (!dot_optional)
            return gs_err_set(err, GS_EINVAL, "name '%.*s' is not absolute (no trailing dot)",
                              (int)len, in);
        wire += label + 1;
        out[o++] = '.';
    }
    if (wire > 255)
        return gs_err_set(err, GS_EINVAL, "name longer than 255 octets");
    out[o] = '\0';
    return (int)o;
}

/* True if the character at `pos` is preceded by an odd number of backslashes. */
static bool escaped_at(const char *s, size_t pos)
{
    size_t n = 0;
    while (pos > 0 && s[pos - 1] == '\\') {
        n++;
        pos--;
    }
    return n % 2 == 1;
}

bool dname_in_zone(const char *name, size_t name_len, const char *zone, size_t zone_len)
{
    if (zone_len == 1 && zone[0] == '.')
        return true;
    if (name_len < zone_len || memcmp(name + name_len - zone_len, zone, zone_len) != 0)
        return false;
    if (name_len == zone_len)
        return true;
    size_t dot = name_len - zone_len - 1;
    return name[dot] == '.' && !escaped_at(name, dot);
}

/* The parent starts after the first unescaped dot. The root's parent is
 * -1; a one-label name's parent is the root, returned as the index of its
 * final dot. */
int dname_parent(const char *name, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '\\') {
            i++;
            continue;
        }
        if (name[i] == '.')
            return i + 1 < len ? (int)(i + 1) : (len == 1 ? -1 : (int)i);
    }
    return -1;
}

/* Lowercasing and hashing in one loop is the lookup path's only pass over
 * the query name (pdns sends the name as the client wrote it). ASCII only:
 * DNS case-insensitivity covers A-Z, and bytes above 0x7f in a name are
 * escapes in presentation form anyway. */
uint32_t dname_lower_hash(char *dst, const char *src, size_t len)
{
    uint32_t h = GS_FNV32_BASIS;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c >= 'A' && c <= 'Z')
            c += 32;
        dst[i] = (char)c;
        h = gs_fnv32_step(h, c);
    }
    return h;
}

uint32_t dname_hash(const char *name, size_t len)
{
    return gs_fnv32(name, len);
}
