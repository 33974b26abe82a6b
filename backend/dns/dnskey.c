#include "backend/dns/dnskey.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

/* Fields each algorithm's key text must carry, and the size in octets of
 * the private key where it is fixed (elliptic curves; 0: RSA, any size). */
static const char *const rsa_fields[] = {"Modulus",   "PublicExponent", "PrivateExponent",
                                         "Prime1",    "Prime2",         "Exponent1",
                                         "Exponent2", "Coefficient",    NULL};
static const char *const curve_fields[] = {"PrivateKey", NULL};
static const struct {
    unsigned number;
    const char *name;
    const char *const *fields;
    size_t key_octets;
} algorithms[] = {
    {5, "RSASHA1", rsa_fields, 0},
    {7, "RSASHA1-NSEC3-SHA1", rsa_fields, 0},
    {8, "RSASHA256", rsa_fields, 0},
    {10, "RSASHA512", rsa_fields, 0},
    {13, "ECDSAP256SHA256", curve_fields, 32},
    {14, "ECDSAP384SHA384", curve_fields, 48},
    {15, "ED25519", curve_fields, 32},
    {16, "ED448", curve_fields, 57},
};

/* Finds line "Field: value" in `content`; sets the value and its length
 * (trailing blanks and CR left out). */
static bool field(const char *content, const char *name, const char **val, size_t *len)
{
    size_t nl = strlen(name);
    for (const char *p = content; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, nl) != 0 || p[nl] != ':')
            continue;
        const char *v = p + nl + 1;
        v += strspn(v, " \t");
        size_t n = strcspn(v, "\n");
        while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
            n--;
        *val = v;
        *len = n;
        return true;
    }
    return false;
}

int dnskey_check(const char *content, unsigned flags, unsigned *algorithm, gs_err_t *err)
{
    const char *v;
    size_t n;
    if (flags != 256 && flags != 257)
        return gs_err_set(err, GS_EINVAL, "key flags %u: must be 256 (ZSK) or 257 (KSK)", flags);
    if (!field(content, "Private-key-format", &v, &n) ||
        !((n == 4 && memcmp(v, "v1.2", 4) == 0) || (n == 4 && memcmp(v, "v1.3", 4) == 0)))
        return gs_err_set(err, GS_EINVAL,
                          "key text: no 'Private-key-format: v1.2' line (not a BIND private key)");
    if (!field(content, "Algorithm", &v, &n))
        return gs_err_set(err, GS_EINVAL, "key text: no 'Algorithm:' line");
    char *end;
    unsigned long num = strtoul(v, &end, 10);
    if (end == v || (end < v + n && *end != ' '))
        return gs_err_set(err, GS_EINVAL, "key text: 'Algorithm:' is not a number");
    size_t a = 0;
    while (a < sizeof(algorithms) / sizeof(algorithms[0]) && algorithms[a].number != num)
        a++;
    if (a == sizeof(algorithms) / sizeof(algorithms[0]))
        return gs_err_set(err, GS_EINVAL,
                          "key text: unknown or unsupported DNSSEC algorithm %lu (pdns 4.7 signs "
                          "with 5, 7, 8, 10, 13, 14, 15 and 16)",
                          num);
    for (const char *const *f = algorithms[a].fields; *f; f++) {
        if (!field(content, *f, &v, &n))
            return gs_err_set(err, GS_EINVAL, "key text: algorithm %s without its '%s' field",
                              algorithms[a].name, *f);
        long octets = buf_base64_octets(v, n);
        if (octets < 0)
            return gs_err_set(err, GS_EINVAL, "key text: field '%s' is not base64", *f);
        if (algorithms[a].key_octets && (size_t)octets != algorithms[a].key_octets)
            return gs_err_set(err, GS_EINVAL,
                              "key text: the private key of %s has %zu octets, this one %ld",
                              algorithms[a].name, algorithms[a].key_octets, octets);
    }
    *algorithm = (unsigned)num;
    return 0;
}
