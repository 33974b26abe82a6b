/* Unit tests for backend/protocol/admin.c's word splitter and cli/client.c's joiner:
 * whatever words the CLI is given, the daemon must see the same words. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "backend/protocol/admin.h"
#include "cli/client.h"
#include "common/err.h"
#include "test/unit/unit.h"

static const struct {
    const char *in;
    int n;
    const char *w[4];
} split_cases[] = {
    {"zone list", 2, {"zone", "list"}},
    {"  zone   create\tx.test  ", 3, {"zone", "create", "x.test"}},
    {"say \"two words\" 'single \"q\"'", 3, {"say", "two words", "single \"q\""}},
    {"a\\ b c", 2, {"a b", "c"}},
    {"\"\"", 1, {""}},
    {"", 0, {NULL}},
    {"unbalanced \"quote", GS_EINVAL, {NULL}},
};

START_TEST(test_split)
{
    char store[128];
    char *w[8];
    int n = admin_split(split_cases[_i].in, store, w, 8);
    ck_assert_int_eq(n, split_cases[_i].n);
    for (int i = 0; i < n; i++)
        ck_assert_str_eq(w[i], split_cases[_i].w[i]);
}
END_TEST

START_TEST(test_split_limit)
{
    char store[64];
    char *w[2];
    ck_assert_int_eq(admin_split("a b c", store, w, 2), GS_EINVAL);
}
END_TEST

START_TEST(test_join_roundtrip)
{
    char *argv[] = {"zone", "create", "we ird\"name\\", "", "x'y", "tab\there"};
    int argc = sizeof(argv) / sizeof(argv[0]);
    buf_t b;
    buf_init(&b);
    client_join(argc, argv, &b);
    char store[256];
    char *w[16];
    ck_assert_int_eq(admin_split(b.data, store, w, 16), argc);
    for (int i = 0; i < argc; i++)
        ck_assert_str_eq(w[i], argv[i]);
    buf_free(&b);
}
END_TEST

START_TEST(test_replies)
{
    buf_t b;
    buf_init(&b);
    admin_run("help", &b);
    ck_assert(strncmp(b.data, "OK ", 3) == 0);
    ck_assert(b.data[b.len - 1] == '\n');
    buf_reset(&b);
    admin_run("frobnicate now", &b);
    ck_assert_str_eq(b.data, "ERR unknown command 'frobnicate'; try 'help'\n");
    buf_reset(&b);
    admin_run("zone create", &b);
    ck_assert(strncmp(b.data, "ERR usage: zone create", 22) == 0);
    buf_reset(&b);
    admin_run("zone create bad..name", &b);
    ck_assert_str_eq(b.data, "ERR zone 'bad..name' is not a valid name\n");
    buf_reset(&b);
    admin_run("zone create ok.test --soa-refresh -1", &b);
    ck_assert(strncmp(b.data, "ERR --soa-refresh: expected a number", 36) == 0);
    buf_reset(&b);
    admin_run("zone create ok.test --bogus 1", &b);
    ck_assert_str_eq(b.data, "ERR zone create: unknown option '--bogus'\n");
    buf_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("admin");
    TCase *tc = tcase_create("split");
    tcase_add_loop_test(tc, test_split, 0, sizeof(split_cases) / sizeof(split_cases[0]));
    tcase_add_test(tc, test_split_limit);
    tcase_add_test(tc, test_join_roundtrip);
    tcase_add_test(tc, test_replies);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
