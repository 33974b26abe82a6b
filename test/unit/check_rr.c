/* Unit tests for backend/dns/rr.c and backend/dns/dname.c: record content
 * validation and normalisation, name canonicalisation. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "backend/dns/dname.h"
#include "backend/dns/rr.h"
#include "test/unit/unit.h"

static const struct {
    const char *type, *in, *out; /* out NULL: must be refused */
} content_cases[] = {
    {"A", "192.0.2.1", "192.0.2.1"},
    {"A", " 192.0.2.1 ", "192.0.2.1"},
    {"A", "192.0.2.256", NULL},
    {"A", "not-an-ip", NULL},
    {"A", "192.0.2.1 extra", NULL},
    {"A", "", NULL},
    {"AAAA", "2001:DB8:0:0::1", "2001:db8::1"},
    {"AAAA", "192.0.2.1", NULL},
    {"CNAME", "www.example.test.", "www.example.test"},
    {"CNAME", "www.example.test", "www.example.test"},
    {"CNAME", "a..b", NULL},
    {"CNAME", "two names", NULL},
    {"NS", "ns1.example.test.", "ns1.example.test"},
    {"PTR", ".", "."},
    {"MX", "10 mail.example.test.", "10 mail.example.test"},
    {"MX", "0 .", "0 ."},
    {"MX", "70000 mail", NULL},
    {"MX", "mail", NULL},
    {"SRV", "10 60 5060 sip.example.test.", "10 60 5060 sip.example.test"},
    {"SRV", "10 60 sip", NULL},
    {"TXT", "\"v=spf1 -all\"", "\"v=spf1 -all\""},
    {"TXT", "\"a\"   \"b\"", "\"a\" \"b\""},
    {"TXT", "hello world", "\"hello world\""},
    {"TXT", "\"say \\\"hi\\\"\"", "\"say \\\"hi\\\"\""},
    {"TXT", "\"unterminated", NULL},
    {"TXT", "\"a\"\"b\"", NULL},
    {"CAA", "0 issue \"letsencrypt.org\"", "0 issue \"letsencrypt.org\""},
    {"CAA", "0 issue letsencrypt.org", "0 issue \"letsencrypt.org\""},
    {"CAA", "256 issue \"x\"", NULL},
    {"CAA", "0 is-sue \"x\"", NULL},
    {"SOA", "ns1.example.test. hostmaster.example.test. 1 2 3 4 5",
     "ns1.example.test hostmaster.example.test 1 2 3 4 5"},
    {"SOA", "ns1 hostmaster 1 2 3 4", NULL},
    {"SOA", "ns1 hostmaster 1 2 3 4 5 6", NULL},
    {"SOA", "ns1 hostmaster 4294967296 2 3 4 5", NULL},
    {"LUA", "A \"ifportup(443, {'192.0.2.1'})\"", "A \"ifportup(443, {'192.0.2.1'})\""},
    /* LUA code is compiled, and refused, by zone_rec_prepare (check_zone) */
    {"DS", "12345 8 2 ABCDEF", "12345 8 2 ABCDEF"},
    {"A", "192.0.2.1\n", NULL},
};

START_TEST(test_normalize)
{
    const char *type = content_cases[_i].type;
    const rr_type_t *t = rr_type_find(type, strlen(type));
    ck_assert_ptr_nonnull(t);
    buf_t out;
    buf_init(&out);
    gs_err_t err = {{0}};
    int rc = rr_normalize(t, content_cases[_i].in, &out, &err);
    if (content_cases[_i].out) {
        ck_assert_msg(rc == 0, "%s '%s' refused: %s", type, content_cases[_i].in, err.text);
        ck_assert_str_eq(out.data, content_cases[_i].out);
    } else {
        ck_assert_msg(rc == GS_EINVAL, "%s '%s' accepted as '%s'", type, content_cases[_i].in,
                      out.data ? out.data : "");
        ck_assert_msg(strncmp(err.text, type, strlen(type)) == 0, "reason names the type: %s",
                      err.text);
    }
    buf_free(&out);
}
END_TEST

START_TEST(test_types)
{
    ck_assert_ptr_nonnull(rr_type_find("a", 1));
    ck_assert_ptr_nonnull(rr_type_find("Caa", 3));
    ck_assert_ptr_null(rr_type_find("BOGUS", 5));
    ck_assert_ptr_null(rr_type_find("ANY", 3));
    ck_assert_int_eq(rr_type_find("LUA", 3)->kind, RR_KIND_LUA);
    ck_assert_str_eq(rr_lua_qtype("CNAME \"x\"")->name, "CNAME");
    uint32_t soa[5] = {0};
    ck_assert_int_eq(rr_soa_times("ns hm 2024010101 1 2 3 4", soa), 0);
    ck_assert_uint_eq(soa[0], 2024010101u);
    ck_assert_uint_eq(soa[3], 3);
    ck_assert_uint_eq(soa[4], 4);
    ck_assert_int_eq(rr_soa_times("ns hm 2024010101 1 2 3", soa), GS_EINVAL);
}
END_TEST

static const struct {
    const char *in;
    int dot_optional;
    const char *out; /* NULL: invalid */
} name_cases[] = {
    {"WwW.Example.TEST.", 0, "www.example.test."},
    {"www.example.test", 1, "www.example.test."},
    {"www.example.test", 0, NULL},
    {".", 0, "."},
    {"a..b.", 0, NULL},
    {"", 1, NULL},
    {"sp ace.test.", 0, NULL},
    {"esc\\.dot.test.", 0, "esc\\.dot.test."},
    {"\\065bc.test.", 0, "\\065bc.test."},
    {"bad\\999.test.", 0, NULL},
    {"_sip._tcp.example.test.", 0, "_sip._tcp.example.test."},
    {"*.wild.test.", 0, "*.wild.test."},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test.", 0, NULL},
};

START_TEST(test_canon)
{
    char out[DNAME_MAXTEXT + 1];
    gs_err_t err;
    const char *in = name_cases[_i].in;
    int n = dname_canon(in, strlen(in), name_cases[_i].dot_optional, out, &err);
    if (name_cases[_i].out) {
        ck_assert_msg(n > 0, "'%s' refused: %s", in, err.text);
        ck_assert_str_eq(out, name_cases[_i].out);
        ck_assert_int_eq(n, (int)strlen(out));
    } else {
        ck_assert_msg(n == GS_EINVAL, "'%s' accepted", in);
    }
}
END_TEST

START_TEST(test_in_zone_parent)
{
    ck_assert(dname_in_zone("a.example.test.", 15, "example.test.", 13));
    ck_assert(dname_in_zone("example.test.", 13, "example.test.", 13));
    ck_assert(!dname_in_zone("aexample.test.", 14, "example.test.", 13));
    ck_assert(!dname_in_zone("a\\.example.test.", 16, "example.test.", 13));
    ck_assert(dname_in_zone("anything.", 9, ".", 1));
    ck_assert_int_eq(dname_parent("www.example.test.", 17), 4);
    ck_assert_int_eq(dname_parent("test.", 5), 4);
    ck_assert_int_eq(dname_parent(".", 1), -1);
    ck_assert_int_eq(dname_parent("a\\.b.test.", 10), 5);
    char low[16];
    ck_assert_uint_eq(dname_lower_hash(low, "AbC.", 4), dname_hash("abc.", 4));
    ck_assert(memcmp(low, "abc.", 4) == 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rr");
    TCase *tc = tcase_create("normalize");
    tcase_add_loop_test(tc, test_normalize, 0, sizeof(content_cases) / sizeof(content_cases[0]));
    tcase_add_test(tc, test_types);
    suite_add_tcase(s, tc);
    tc = tcase_create("dname");
    tcase_add_loop_test(tc, test_canon, 0, sizeof(name_cases) / sizeof(name_cases[0]));
    tcase_add_test(tc, test_in_zone_parent);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
