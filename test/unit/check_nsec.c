/* Unit tests for DNSSEC denial of existence and key checks:
 * backend/dns/nsec.c (canonical order, NSEC3 hashes, NSEC3PARAM),
 * backend/dns/dnskey.c (private key text), and the chains a zone image
 * builds from them (zone_set_keys, zone_denial_neighbours). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/dns/dname.h"
#include "backend/dns/dnskey.h"
#include "backend/dns/nsec.h"
#include "backend/zones/zone.h"
#include "test/unit/unit.h"

#define T(name) rr_type_find(name, strlen(name))

static size_t wire_of(const char *name, uint8_t w[NSEC_WIRE_MAX])
{
    char canon[DNAME_MAXTEXT + 1];
    int n = dname_canon(name, strlen(name), false, canon, NULL);
    ck_assert_int_gt(n, 0);
    return nsec_wire(canon, (size_t)n, w);
}

/* RFC 4034 §6.1's example, in canonical order. */
START_TEST(test_canonical_order)
{
    static const char *const sorted[] = {
        "example.",         "a.example.",      "yljkjljk.a.example.",
        "Z.a.example.",     "zABC.a.EXAMPLE.", "z.example.",
        "\\001.z.example.", "*.z.example.",    "\\200.z.example."};
    size_t n = sizeof(sorted) / sizeof(sorted[0]);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            uint8_t a[NSEC_WIRE_MAX], b[NSEC_WIRE_MAX];
            size_t al = wire_of(sorted[i], a), bl = wire_of(sorted[j], b);
            int c = nsec_canon_cmp(a, al, b, bl);
            if (i < j)
                ck_assert_msg(c < 0, "%s should sort before %s", sorted[i], sorted[j]);
            else if (i > j)
                ck_assert_msg(c > 0, "%s should sort after %s", sorted[i], sorted[j]);
            else
                ck_assert_int_eq(c, 0);
        }
    }
    uint8_t w[NSEC_WIRE_MAX];
    ck_assert_uint_eq(wire_of(".", w), 1);
    ck_assert_uint_eq(wire_of("A.b.", w), 5);
    ck_assert_mem_eq(w, "\001a\001b\000", 5);
}
END_TEST

/* RFC 5155 Appendix A: zone "example", salt aabbccdd, 12 iterations. */
START_TEST(test_nsec3_hash)
{
    static const struct {
        const char *name, *hash;
    } cases[] = {{"example.", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"},
                 {"a.example.", "35mthgpgcu1qg68fab165klnsnk3dpvl"},
                 {"ai.example.", "gjeqe526plbf1g8mklp59enfd789njgi"},
                 {"x.w.example.", "b4um86eghhds6nea196smvmlo4ors995"},
                 {"*.w.example.", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"}};
    nsec3_param_t p;
    ck_assert_int_eq(nsec3_param_parse("1 0 12 aabbccdd", &p, NULL), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t w[NSEC_WIRE_MAX], h[NSEC3_HASH_LEN], back[NSEC3_HASH_LEN];
        char b32[NSEC3_B32_LEN + 1];
        nsec3_hash(&p, w, wire_of(cases[i].name, w), h);
        nsec3_b32(h, b32);
        ck_assert_str_eq(b32, cases[i].hash);
        ck_assert(nsec3_b32_decode(cases[i].hash, NSEC3_B32_LEN, back));
        ck_assert_mem_eq(back, h, NSEC3_HASH_LEN);
    }
    uint8_t h[NSEC3_HASH_LEN];
    ck_assert(!nsec3_b32_decode("0p9mhaveqvm6t7vbl5lop2u3t2rp3to", 31, h));
    ck_assert(!nsec3_b32_decode("0p9mhaveqvm6t7vbl5lop2u3t2rp3toz", 32, h));
}
END_TEST

START_TEST(test_nsec3_param)
{
    nsec3_param_t p;
    gs_err_t e;
    ck_assert_int_eq(nsec3_param_parse("1 0 0 -", &p, NULL), 0);
    ck_assert_uint_eq(p.salt_len, 0);
    ck_assert_int_eq(nsec3_param_parse("1 1 10 AB12", &p, NULL), 0);
    ck_assert_uint_eq(p.flags, 1);
    ck_assert_uint_eq(p.iterations, 10);
    ck_assert_uint_eq(p.salt_len, 2);
    static const char *const bad[] = {"2 0 0 -",  "1 2 0 -", "1 0 501 -", "1 0 0 abc",
                                      "1 0 0 zz", "1 0 0",   "1 0 0 - x", "one 0 0 -"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(nsec3_param_parse(bad[i], &p, &e) == GS_EINVAL, "'%s' accepted", bad[i]);
}
END_TEST

#define ECDSA_KEY "Private-key-format: v1.2\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: "
#define B64_32 "q0Vw8B4Ezv0KqJ5lZk7MOUkqEbfGCW7Jf8t+qtFkxX0="

START_TEST(test_dnskey_check)
{
    unsigned alg = 0;
    gs_err_t e;
    ck_assert_int_eq(dnskey_check(ECDSA_KEY B64_32 "\n", 257, &alg, &e), 0);
    ck_assert_uint_eq(alg, 13);
    ck_assert_int_eq(
        dnskey_check("Private-key-format: v1.2\nAlgorithm: 15 (ED25519)\nPrivateKey: " B64_32, 256,
                     &alg, &e),
        0);
    static const struct {
        const char *text;
        unsigned flags;
        const char *reason;
    } bad[] = {
        {ECDSA_KEY B64_32, 1, "flags"},
        {"Algorithm: 13\nPrivateKey: " B64_32, 256, "Private-key-format"},
        {"Private-key-format: v1.2\nAlgorithm: 99 (FUTURE)\nPrivateKey: " B64_32, 256,
         "unknown or unsupported DNSSEC algorithm 99"},
        {"Private-key-format: v1.2\nAlgorithm: 3 (DSA)\nPrivateKey: " B64_32, 256, "algorithm 3"},
        {ECDSA_KEY "not*base64*", 256, "not base64"},
        {ECDSA_KEY "AAAA", 256, "ECDSAP256SHA256 has 32 octets, this one 3"},
        {"Private-key-format: v1.2\nAlgorithm: 8 (RSASHA256)\nModulus: AAAA\n", 256,
         "'PublicExponent'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(dnskey_check(bad[i].text, bad[i].flags, &alg, &e), GS_EINVAL);
        ck_assert_msg(strstr(e.text, bad[i].reason), "case %zu: '%s'", i, e.text);
        ck_assert_msg(!strstr(e.text, B64_32), "the key text leaked into '%s'", e.text);
    }
}
END_TEST

/* A zone with every kind of name the chains treat differently: the apex,
 * plain names, an empty non-terminal (b.ent), a wildcard, a delegation
 * with glue (sub, ns.sub) and one with a DS (sec), glue below a cut. */
static zone_t *signed_zone(const char *nsec3param, bool narrow)
{
    zone_input_rec_t recs[] = {
        {"z.", T("SOA"), "ns1.z h.z 1 2 3 4 5", 300, NULL},
        {"z.", T("NS"), "ns1.z", 300, NULL},
        {"ns1.z.", T("A"), "192.0.2.1", 300, NULL},
        {"www.z.", T("A"), "192.0.2.2", 300, NULL},
        {"a.b.ent.z.", T("TXT"), "\"x\"", 300, NULL},
        {"*.wild.z.", T("A"), "192.0.2.3", 300, NULL},
        {"sub.z.", T("NS"), "ns.sub.z", 300, NULL},
        {"ns.sub.z.", T("A"), "192.0.2.4", 300, NULL},
        {"sec.z.", T("NS"), "ns.sec.z", 300, NULL},
        {"sec.z.", T("DS"), "1 13 2 AB", 300, NULL},
    };
    const char *pv[] = {nsec3param}, *nv[] = {"1"};
    zone_input_meta_t meta[] = {{"NSEC3PARAM", pv, 1}, {"NSEC3NARROW", nv, 1}};
    zone_t *z = zone_build(1, "z.", recs, sizeof(recs) / sizeof(recs[0]), meta,
                           nsec3param ? (narrow ? 2 : 1) : 0);
    store_key_t key = {
        .id = 1, .flags = 257, .active = true, .published = true, .content = ECDSA_KEY B64_32};
    zone_set_keys(z, &key, 1);
    return z;
}

static void neighbours(const zone_t *z, const char *q, const char *before, const char *after)
{
    const zone_node_t *b, *a;
    const uint8_t *bh, *ah;
    ck_assert_msg(zone_denial_neighbours(z, q, strlen(q), &b, &a, &bh, &ah), "no answer for %s", q);
    ck_assert_msg(strcmp(b->name, before) == 0 && strcmp(a->name, after) == 0,
                  "%s: got %s .. %s, want %s .. %s", q, b->name, a->name, before, after);
}

START_TEST(test_nsec_chain)
{
    zone_t *z = signed_zone(NULL, false);
    ck_assert(!z->use_nsec3);
    /* Chain: z. a.b.ent ns1 sec sub www *.wild -- in canonical order:
     * z. < a.b.ent.z. < ns1.z. < sec.z. < sub.z. < *.wild.z. < www.z.
     * (no ENT b.ent or ent, no glue ns.sub). */
    ck_assert_uint_eq(z->nnsec, 7);
    neighbours(z, ".", "z.", "a.b.ent.z.");
    neighbours(z, "www.", "www.z.", "z.");          /* an existing name: itself, wrapping */
    neighbours(z, "nope.", "a.b.ent.z.", "ns1.z."); /* "nope" < "ns1" */
    neighbours(z, "b.ent.", "z.", "a.b.ent.z.");    /* the ENT is covered */
    neighbours(z, "x.wild.", "*.wild.z.", "www.z.");
    neighbours(z, "ns.sub.", "sub.z.", "*.wild.z."); /* glue is not in the chain */
    neighbours(z, "zzz.", "www.z.", "z.");
    neighbours(z, "NOPE.", "a.b.ent.z.", "ns1.z.");
    neighbours(z, "nz.", "ns1.z.", "sec.z.");
    /* An unsigned zone has no chain. */
    zone_t *u = zone_build(2, "u.", NULL, 0, NULL, 0);
    zone_set_keys(u, NULL, 0);
    const zone_node_t *b, *a;
    const uint8_t *bh, *ah;
    ck_assert(!zone_denial_neighbours(u, "x.", 2, &b, &a, &bh, &ah));
    zone_free(u);
    zone_free(z);
}
END_TEST

START_TEST(test_nsec3_chain)
{
    zone_t *z = signed_zone("1 0 1 ab", false);
    ck_assert(z->use_nsec3);
    /* The NSEC chain's 7 names plus the ENTs b.ent, ent and wild. */
    ck_assert_uint_eq(z->nnsec3, 10);
    for (size_t i = 1; i < z->nnsec3; i++)
        ck_assert(memcmp(z->nsec3[i - 1].hash, z->nsec3[i].hash, NSEC3_HASH_LEN) < 0);
    /* Asking for an entry's own hash gives it as `before`; the next one after. */
    char b32[NSEC3_B32_LEN + 1], q[NSEC3_B32_LEN + 2];
    for (size_t i = 0; i < z->nnsec3; i++) {
        nsec3_b32(z->nsec3[i].hash, b32);
        snprintf(q, sizeof(q), "%s.", b32);
        const zone_node_t *b, *a;
        const uint8_t *bh, *ah;
        ck_assert(zone_denial_neighbours(z, q, strlen(q), &b, &a, &bh, &ah));
        ck_assert_mem_eq(bh, z->nsec3[i].hash, NSEC3_HASH_LEN);
        ck_assert_mem_eq(ah, z->nsec3[(i + 1) % z->nnsec3].hash, NSEC3_HASH_LEN);
        ck_assert_ptr_eq(b, &z->nodes[z->nsec3[i].node]);
    }
    zone_free(z);
    /* Opt-out leaves out the delegation without DS. */
    z = signed_zone("1 1 1 ab", false);
    ck_assert_uint_eq(z->nnsec3, 9);
    zone_free(z);
    /* Narrow: pdns needs no chain. */
    z = signed_zone("1 0 0 -", true);
    ck_assert(!z->use_nsec3);
    ck_assert_uint_eq(z->nnsec3 + z->nnsec, 0);
    zone_free(z);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nsec");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_canonical_order);
    tcase_add_test(tc, test_nsec3_hash);
    tcase_add_test(tc, test_nsec3_param);
    tcase_add_test(tc, test_dnskey_check);
    tcase_add_test(tc, test_nsec_chain);
    tcase_add_test(tc, test_nsec3_chain);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
