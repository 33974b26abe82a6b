/* Unit tests for backend/protocol/scan.c: the lookup fast path must accept exactly
 * the plain pdns shape and hand everything else to the general parser. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "backend/protocol/scan.h"
#include "test/unit/unit.h"

static const struct {
    const char *line;
    int ok;
    const char *qname, *qtype;
    long long zone_id;
} cases[] = {
    {"{\"method\": \"lookup\", \"parameters\": {\"local\": \"127.0.0.1\", \"qname\": "
     "\"www.example.test.\", \"qtype\": \"ANY\", \"real-remote\": \"198.51.100.0/24\", "
     "\"remote\": \"127.0.0.1\", \"zone-id\": 1}}",
     1, "www.example.test.", "ANY", 1},
    {"{\"method\":\"lookup\",\"parameters\":{\"qtype\":\"SOA\",\"qname\":\"a.\",\"zone-id\":-1}}",
     1, "a.", "SOA", -1},
    {"{\"method\":\"lookup\",\"parameters\":{\"qtype\":\"A\",\"qname\":\"a.\"}}  ", 1, "a.", "A",
     -1},
    {"{\"method\":\"lookup\",\"parameters\":{\"qtype\":\"A\"}}", 0, NULL, NULL, 0},
    {"{\"method\":\"lookup\",\"parameters\":{\"qtype\":\"A\",\"qname\":\"a\\\\032b.\"}}", 0, NULL,
     NULL, 0},
    {"{\"method\":\"lookup\",\"parameters\":{\"qtype\":\"A\",\"qname\":\"a.\",\"zone-id\":1.5}}", 0,
     NULL, NULL, 0},
    {"{\"method\":\"lookup\",\"parameters\":{\"qtype\":\"A\",\"qname\":\"a.\",\"zone-id\":01}}", 0,
     NULL, NULL, 0},
    {"{\"method\":\"lookup\",\"parameters\":{\"qtype\":\"A\",\"qname\":\"a.\",\"zone-id\":\"1\"}}",
     0, NULL, NULL, 0},
    {"{\"method\":\"lookup\",\"parameters\":{\"qtype\":\"A\",\"qname\":\"a.\"}} x", 0, NULL, NULL,
     0},
    {"{\"method\":\"lookup\",\"parameters\":{\"qtype\":\"A\",\"qname\":\"a.\"}", 0, NULL, NULL, 0},
    {"{\"method\":\"list\",\"parameters\":{\"zonename\":\"a.\"}}", 0, NULL, NULL, 0},
    {"{\"parameters\":{\"qtype\":\"A\",\"qname\":\"a.\"},\"method\":\"lookup\"}", 0, NULL, NULL, 0},
    {"{\"method\":\"lookup\",\"parameters\":{\"qtype\":\"A\",\"qname\":\"\xc3\xa9.\"}}", 0, NULL,
     NULL, 0},
    {"{\"method\":\"lookup\",\"parameters\":{\"qtype\":\"A\",\"qname\":\"a.\",\"x\":[1]}}", 0, NULL,
     NULL, 0},
    {"", 0, NULL, NULL, 0},
};

START_TEST(test_scan)
{
    scan_lookup_t sl;
    const char *line = cases[_i].line;
    bool ok = scan_lookup(line, strlen(line), &sl);
    ck_assert_msg(ok == cases[_i].ok, "case %d: %s", _i, line);
    if (!ok)
        return;
    ck_assert_int_eq((int)sl.qname.len, (int)strlen(cases[_i].qname));
    ck_assert(memcmp(sl.qname.p, cases[_i].qname, sl.qname.len) == 0);
    ck_assert(memcmp(sl.qtype.p, cases[_i].qtype, sl.qtype.len) == 0);
    ck_assert_int_eq(sl.zone_id, cases[_i].zone_id);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scan");
    TCase *tc = tcase_create("scan_lookup");
    tcase_add_loop_test(tc, test_scan, 0, sizeof(cases) / sizeof(cases[0]));
    suite_add_tcase(s, tc);
    return unit_run(s);
}
