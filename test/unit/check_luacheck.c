/* Unit tests for the zone-file reader of backend/steering/luacheck.c (luacheck_zf_*),
 * the API `geosteer lua-check FILE` and `geosteer zone load` read records
 * with: owners, TTLs, types, data, line numbers, multi-line records, and
 * malformed records reported with their line and skipped. The check's own
 * texts are pinned end to end in test/e2e/t_lua_check.sh. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/steering/luacheck.h"
#include "test/unit/unit.h"

static char path[PATH_MAX];

static void write_file(const char *text)
{
    const char *t = getenv("TMPDIR");
    snprintf(path, sizeof(path), "%s/check_luacheck.XXXXXX", t && *t ? t : "/tmp");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void teardown(void)
{
    if (path[0])
        unlink(path);
    path[0] = '\0';
}

/* Expects the next record to be exactly this. */
static void expect_rec(luacheck_zf_t *z, unsigned line, unsigned last, const char *owner,
                       uint32_t ttl, const char *type, const char *content)
{
    luacheck_zrec_t r;
    gs_err_t err = {{0}};
    int rc = luacheck_zf_next(z, &r, &err);
    ck_assert_msg(rc == 1, "expected %s %s on line %u, got rc %d (%s)", owner, type, line, rc,
                  err.text);
    ck_assert_uint_eq(r.line, line);
    ck_assert_uint_eq(r.last_line, last);
    ck_assert_str_eq(r.owner, owner);
    ck_assert_uint_eq(r.ttl, ttl);
    ck_assert_str_eq(r.type, type);
    ck_assert_str_eq(r.content, content);
}

/* Expects the next call to refuse a record with `text` in its error. */
static void expect_bad(luacheck_zf_t *z, const char *text)
{
    luacheck_zrec_t r;
    gs_err_t err = {{0}};
    ck_assert_int_eq(luacheck_zf_next(z, &r, &err), GS_EINVAL);
    ck_assert_msg(strstr(err.text, text), "expected '%s' in '%s'", text, err.text);
}

static void expect_end(luacheck_zf_t *z)
{
    luacheck_zrec_t r;
    gs_err_t err = {{0}};
    ck_assert_int_eq(luacheck_zf_next(z, &r, &err), 0);
}

START_TEST(test_records)
{
    write_file("$ORIGIN ml.test.\n"                                              /* 1 */
               "; a comment line\n"                                              /* 2 */
               "@   IN SOA ns1 hostmaster ( 2024010101 ; serial\n"               /* 3 */
               "            3h 1h 1w 300 )\n"                                    /* 4 */
               "    IN NS  ns1\n"                                                /* 5 */
               "www IN LUA A ( \";if country('US') then return '192.0.2.1' \"\n" /* 6 */
               "               \"else return '192.0.2.2' end\" )   ; docs\n"     /* 7 */
               "\n"                                                              /* 8 */
               "txt 60 IN LUA TXT \"pickrandom({'a;b', 'c)d'})\"\n"              /* 9 */
               "$TTL 1h\n"                                                       /* 10 */
               "mx  IN 2m MX 10 mail\n"                                          /* 11 */
               "abs.other. a 192.0.2.7\n"                                        /* 12 */
               "t   TXT \"two  blanks\"    \"x\\\"y\"\n"                         /* 13 */
               "$ORIGIN sub\n"                                                   /* 14 */
               "srv SRV 0 5 443 web\n"                                           /* 15 */
               "c   CNAME @\n");                                                 /* 16 */
    luacheck_zf_t *z;
    gs_err_t err;
    ck_assert_int_eq(luacheck_zf_open(path, NULL, &z, &err), 0);
    /* No $TTL yet: the SOA minimum becomes the default, as in pdns. */
    expect_rec(z, 3, 4, "ml.test.", 3600, "SOA",
               "ns1.ml.test. hostmaster.ml.test. 2024010101 10800 3600 604800 300");
    expect_rec(z, 5, 5, "ml.test.", 300, "NS", "ns1.ml.test.");
    expect_rec(z, 6, 7, "www.ml.test.", 300, "LUA",
               "A \";if country('US') then return '192.0.2.1' \" \"else return '192.0.2.2' "
               "end\"");
    expect_rec(z, 9, 9, "txt.ml.test.", 60, "LUA", "TXT \"pickrandom({'a;b', 'c)d'})\"");
    expect_rec(z, 11, 11, "mx.ml.test.", 120, "MX", "10 mail.ml.test.");
    expect_rec(z, 12, 12, "abs.other.", 3600, "A", "192.0.2.7");
    expect_rec(z, 13, 13, "t.ml.test.", 3600, "TXT", "\"two  blanks\" \"x\\\"y\"");
    expect_rec(z, 15, 15, "srv.sub.ml.test.", 3600, "SRV", "0 5 443 web.sub.ml.test.");
    expect_rec(z, 16, 16, "c.sub.ml.test.", 3600, "CNAME", "sub.ml.test.");
    expect_end(z);
    luacheck_zf_close(z);
}
END_TEST

START_TEST(test_origin_argument)
{
    write_file("www A 192.0.2.1\n");
    luacheck_zf_t *z;
    gs_err_t err;
    ck_assert_int_eq(luacheck_zf_open(path, "example.org", &z, &err), 0);
    expect_rec(z, 1, 1, "www.example.org.", 3600, "A", "192.0.2.1");
    expect_end(z);
    luacheck_zf_close(z);
}
END_TEST

/* Each malformed record is reported with its line; the next call goes on
 * with the following record. */
START_TEST(test_malformed)
{
    write_file("  IN A 192.0.2.1\n"                             /* 1: no owner yet */
               "a IN A 192.0.2.1\n"                             /* 2 */
               "b IN LUA A \"pickrandom({'192.0.2.1'})\n"       /* 3: open quote */
               "$INCLUDE other.zone\n"                          /* 4 */
               "$GENERATE 1-3 h$ A 192.0.2.$\n"                 /* 5 */
               "c CH TXT \"x\"\n"                               /* 6 */
               "d IN\n"                                         /* 7 */
               "e IN A\n"                                       /* 8 */
               "f ) A 192.0.2.1\n"                              /* 9 */
               "$TTL soon\n"                                    /* 10 */
               "g 1x A 192.0.2.1\n"                             /* 11 */
               "h ( ( A 192.0.2.1 ) )\n"                        /* 12 */
               "i A 192.0.2.2\n"                                /* 13 */
               "j IN LUA A ( \"pickrandom({'192.0.2.1'})\"\n"); /* 14: never closed */
    luacheck_zf_t *z;
    gs_err_t err;
    ck_assert_int_eq(luacheck_zf_open(path, "m.test", &z, &err), 0);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "%s:1: error: no owner name", path);
    expect_bad(z, want);
    expect_rec(z, 2, 2, "a.m.test.", 3600, "A", "192.0.2.1");
    expect_bad(z, ":3: error: a quoted string is not closed on its line");
    expect_bad(z, ":4: error: $INCLUDE is not supported");
    expect_bad(z, ":5: error: $GENERATE is not supported");
    expect_bad(z, ":6: error: class CH is not supported");
    expect_bad(z, ":7: error: expected a record type");
    expect_bad(z, ":8: error: the A record has no data");
    expect_bad(z, ":9: error: ')' without '('");
    expect_bad(z, ":10: error: $TTL needs a time");
    expect_bad(z, ":11: error: '1x' is not a TTL");
    expect_bad(z, ":12: error: '(' inside parentheses");
    expect_rec(z, 13, 13, "i.m.test.", 3600, "A", "192.0.2.2");
    expect_bad(z, ":14: error: a '(' is never closed");
    expect_end(z);
    luacheck_zf_close(z);
}
END_TEST

START_TEST(test_open_errors)
{
    luacheck_zf_t *z;
    gs_err_t err;
    ck_assert_int_eq(luacheck_zf_open("/nonexistent/x.zone", NULL, &z, &err), -ENOENT);
    ck_assert_ptr_null(z);
    ck_assert_str_eq(err.text, "/nonexistent/x.zone: No such file or directory");
    ck_assert_int_eq(luacheck_zf_open("/", NULL, &z, &err), -EISDIR);
    ck_assert_ptr_null(z);
}
END_TEST

static Suite *luacheck_suite(void)
{
    Suite *s = suite_create("luacheck");
    TCase *tc = tcase_create("zonefile");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_records);
    tcase_add_test(tc, test_origin_argument);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_open_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(luacheck_suite());
}
