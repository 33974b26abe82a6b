#include "backend/dns/nsec.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/digest.h"

size_t nsec_wire(const char *name, size_t len, uint8_t out[NSEC_WIRE_MAX])
{
    size_t o = 0;
    if (len == 1 && name[0] == '.') {
        out[0] = 0;
        return 1;
    }
    size_t lab = o++; /* length byte of the current label */
    for (size_t i = 0; i < len && o < NSEC_WIRE_MAX; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '.') {
            out[lab] = (uint8_t)(o - lab - 1);
            lab = o++;
            continue;
        }
        if (c == '\\' && i + 3 < len && isdigit((unsigned char)name[i + 1])) {
            c = (unsigned char)((name[i + 1] - '0') * 100 + (name[i + 2] - '0') * 10 +
                                (name[i + 3] - '0'));
            i += 3;
        } else if (c == '\\' && i + 1 < len) {
            c = (unsigned char)name[++i];
        }
        out[o++] = (uint8_t)tolower(c);
    }
    out[lab] = 0; /* the root label, after the last dot */
    return o;
}

/* Offsets of the labels of wire name `w`, root excluded; returns how many. */
static size_t label_offsets(const uint8_t *w, size_t wlen, uint8_t off[128])
{
    size_t n = 0;
    for (size_t i = 0; i < wlen && w[i] && n < 128; i += (size_t)w[i] + 1)
        off[n++] = (uint8_t)i;
    return n;
}

int nsec_canon_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    uint8_t ao[128], bo[128];
    size_t an = label_offsets(a, alen, ao), bn = label_offsets(b, blen, bo);
    while (an && bn) {
        const uint8_t *la = a + ao[--an], *lb = b + bo[--bn];
        size_t m = la[0] < lb[0] ? la[0] : lb[0];
        int c = memcmp(la + 1, lb + 1, m);
        if (c)
            return c;
        if (la[0] != lb[0])
            return la[0] < lb[0] ? -1 : 1;
    }
    return an ? 1 : bn ? -1 : 0;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

int nsec3_param_parse(const char *text, nsec3_param_t *p, gs_err_t *err)
{
    unsigned long alg, flags, iter;
    char salt[600];
    int used = 0;
    memset(p, 0, sizeof(*p));
    if (sscanf(text, " %lu %lu %lu %599s %n", &alg, &flags, &iter, salt, &used) != 4 ||
        text[used] != '\0')
        return gs_err_set(err, GS_EINVAL,
                          "NSEC3PARAM '%.80s': expected 'ALGORITHM FLAGS ITERATIONS SALT'", text);
    if (alg != 1)
        return gs_err_set(err, GS_EINVAL, "NSEC3PARAM: hash algorithm %lu (only 1, SHA-1, exists)",
                          alg);
    if (flags > 1)
        return gs_err_set(err, GS_EINVAL, "NSEC3PARAM: flags %lu (0, or 1 for opt-out)", flags);
    if (iter > NSEC3_MAX_ITER)
        return gs_err_set(err, GS_EINVAL, "NSEC3PARAM: %lu iterations (at most %d)", iter,
                          NSEC3_MAX_ITER);
    p->flags = (uint8_t)flags;
    p->iterations = (uint16_t)iter;
    if (strcmp(salt, "-") == 0)
        return 0;
    size_t n = strlen(salt);
    if (n % 2 || n / 2 > 255)
        return gs_err_set(err, GS_EINVAL, "NSEC3PARAM: salt '%.40s' is not hex of 1..255 octets",
                          salt);
    for (size_t i = 0; i < n; i += 2) {
        int hi = hexval(salt[i]), lo = hexval(salt[i + 1]);
        if (hi < 0 || lo < 0)
            return gs_err_set(err, GS_EINVAL, "NSEC3PARAM: salt '%.40s' is not hex", salt);
        p->salt[p->salt_len++] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

void nsec3_hash(const nsec3_param_t *p, const uint8_t *wire, size_t wlen,
                uint8_t out[NSEC3_HASH_LEN])
{
    gs_sha1_t c;
    gs_sha1_init(&c);
    gs_sha1_update(&c, wire, wlen);
    gs_sha1_update(&c, p->salt, p->salt_len);
    gs_sha1_final(&c, out);
    for (unsigned k = 0; k < p->iterations; k++) {
        gs_sha1_init(&c);
        gs_sha1_update(&c, out, NSEC3_HASH_LEN);
        gs_sha1_update(&c, p->salt, p->salt_len);
        gs_sha1_final(&c, out);
    }
}

static const char b32[] = "0123456789abcdefghijklmnopqrstuv";

void nsec3_b32(const uint8_t in[NSEC3_HASH_LEN], char out[NSEC3_B32_LEN + 1])
{
    /* 20 octets are 160 bits: exactly 32 groups of 5. */
    for (unsigned g = 0; g < NSEC3_B32_LEN; g++) {
        unsigned bit = g * 5, byte = bit / 8, shift = bit % 8;
        unsigned v = (unsigned)in[byte] << 8 | (byte + 1 < NSEC3_HASH_LEN ? in[byte + 1] : 0);
        out[g] = b32[(v >> (11 - shift)) & 31];
    }
    out[NSEC3_B32_LEN] = '\0';
}

bool nsec3_b32_decode(const char *s, size_t len, uint8_t out[NSEC3_HASH_LEN])
{
    if (len != NSEC3_B32_LEN)
        return false;
    memset(out, 0, NSEC3_HASH_LEN);
    for (unsigned g = 0; g < NSEC3_B32_LEN; g++) {
        const char *p = strchr(b32, tolower((unsigned char)s[g]));
        if (!p || !*p)
            return false;
        unsigned v = (unsigned)(p - b32), bit = g * 5, byte = bit / 8, shift = bit % 8;
        unsigned w = v << (11 - shift); /* the 5 bits placed in a 16-bit window */
        out[byte] |= (uint8_t)(w >> 8);
        if (byte + 1 < NSEC3_HASH_LEN)
            out[byte + 1] |= (uint8_t)w;
    }
    return true;
}
