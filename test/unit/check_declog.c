/* Unit tests for backend/daemon/declog.c: the 1-in-N counter, the
 * per-second token bucket (against explicit times) and the line format of
 * a steered decision and of a literal LUA selection, parsed back with a
 * strict JSON parser (jansson), names with bytes that need escaping
 * included. The file target, rotation and sampling through pdns are tested
 * end to end (test/e2e/t_decision_log.sh). */
#include <check.h>
#include <jansson.h>
#include <string.h>

#include "backend/daemon/declog.h"
#include "backend/steering/luac.h"
#include "backend/steering/luaeval.h"
#include "backend/steering/steer.h"
#include "test/unit/unit.h"

START_TEST(test_sample)
{
    uint32_t t = 0;
    char got[13] = {0};
    for (int i = 0; i < 12; i++)
        got[i] = declog_sample_pass(&t, 4) ? 'x' : '.';
    ck_assert_str_eq(got, "x...x...x...");
    for (int i = 0; i < 5; i++)
        ck_assert(declog_sample_pass(&t, 1));
    t = 40; /* left by an earlier, larger n: starts over */
    ck_assert(!declog_sample_pass(&t, 3));
    ck_assert(declog_sample_pass(&t, 3));
}
END_TEST

START_TEST(test_bucket)
{
    const int64_t s = 1000000000;
    declog_bucket_t b = {0};
    int64_t now = 100 * s;
    int ok = 0;
    for (int i = 0; i < 50; i++)
        ok += declog_bucket_take(&b, now, 10);
    ck_assert_int_eq(ok, 10); /* a burst gets one second's worth */
    ck_assert(!declog_bucket_take(&b, now + s / 20, 10));
    ck_assert(declog_bucket_take(&b, now + s / 10, 10)); /* one token back after 0.1 s */
    ck_assert(!declog_bucket_take(&b, now + s / 10, 10));
    /* Idle for a minute: full again, but never more than one second's worth. */
    ok = 0;
    for (int i = 0; i < 50; i++)
        ok += declog_bucket_take(&b, now + 60 * s, 10);
    ck_assert_int_eq(ok, 10);
    /* Over T seconds of steady demand: at most per_sec * (1 + T). */
    declog_bucket_t c = {0};
    ok = 0;
    for (int64_t t = 0; t < 3 * s; t += s / 1000)
        ok += declog_bucket_take(&c, now + t, 100);
    ck_assert_int_le(ok, 100 * 4);
    ck_assert_int_ge(ok, 100 * 3);
    ck_assert(declog_bucket_take(&c, now, 0)); /* 0: no cap */
}
END_TEST

/* An engine: endpoints "fra" and "d\"al" (a name that needs escaping),
 * pool eu = {fra} falling back to us = {d"al}, policy p (all) over eu. */
static steer_t *engine(uint32_t *pi)
{
    steer_builder_t *b = steer_builder_new();
    const char *a1[] = {"192.0.2.1"}, *a2[] = {"192.0.2.2"};
    uint32_t fra = steer_add_endpoint(b, "fra", a1, 1, NULL, 0, NULL, false, 0, 0, 1);
    uint32_t dal = steer_add_endpoint(b, "d\"al", a2, 1, NULL, 0, NULL, false, 0, 0, 1);
    uint32_t us = steer_add_pool(b, "us", &dal, 1, 1, -1);
    uint32_t eu = steer_add_pool(b, "eu", &fra, 1, 1, (int32_t)us);
    steer_policy_def_t def = {.name = "p", .type = STEER_ALL, .ttl = 30, .pools = &eu, .npools = 1};
    *pi = steer_add_policy(b, &def);
    return steer_build(b, NULL, NULL);
}

/* Evaluates `content` for client `rr` and returns the parsed line. */
static json_t *line_of(const char *content, const snap_world_t *w, const char *qname, size_t qlen,
                       const char *rr, const char *remote)
{
    luac_prog_t *prog;
    gs_err_t err;
    ck_assert_msg(luac_compile(content, &prog, &err) == 0, "%s", err.text);
    steer_client_t cl;
    ck_assert_int_eq(steer_client_parse(rr, strlen(rr), remote, strlen(remote), &cl), 0);
    luae_env_t env = {.client = &cl, .rnd = 7, .steer = w->steer, .admin = &w->admin};
    luae_result_t res;
    luae_eval(prog, &env, &res);
    zone_rec_t rec = {.type = NULL, .ttl = 60, .dyn_type = prog->type, .prog = prog};
    declog_event_t ev = {.world = w,
                         .qname = qname,
                         .qname_len = qlen,
                         .qtype = "ANY",
                         .qtype_len = 3,
                         .remote = remote,
                         .remote_len = strlen(remote),
                         .rec = &rec,
                         .client = &cl,
                         .res = &res,
                         .ttl = res.steered ? res.sd.ttl : rec.ttl};
    buf_t b;
    buf_init(&b);
    declog_format(&b, &ev, 1765000000123);
    ck_assert_ptr_null(memchr(b.data, '\n', b.len));
    json_error_t je;
    json_t *j = json_loadb(b.data, b.len, 0, &je);
    ck_assert_msg(j != NULL, "%s: %s", je.text, b.data);
    buf_free(&b);
    luac_free(prog);
    return j;
}

static const char *jstr(json_t *j, const char *k)
{
    return json_string_value(json_object_get(j, k));
}

START_TEST(test_format_steered)
{
    uint32_t pi;
    steer_t *st = engine(&pi);
    uint8_t state[2] = {STEER_ADMIN_DRAIN, STEER_ADMIN_NONE};
    int64_t until[2] = {0, 0};
    snap_world_t w = {.steer = st, .admin = {.state = state, .until = until, .n = 2, .now = 1}};
    static const char qname[] = "a\"b\\c\x01\xff.test.";
    json_t *j =
        line_of("A \"steer('p')\"", &w, qname, sizeof(qname) - 1, "198.51.100.0/24", "192.0.2.53");
    ck_assert_str_eq(jstr(j, "time"), "2025-12-06T05:46:40.123Z");
    /* Escaped: the quote, the backslash and the control byte survive; the
     * byte that is no UTF-8 becomes U+FFFD, so the line stays valid JSON. */
    ck_assert_str_eq(jstr(j, "qname"), "a\"b\\c\x01\xef\xbf\xbd.test.");
    ck_assert_str_eq(jstr(j, "qtype"), "ANY");
    ck_assert_str_eq(jstr(j, "type"), "A");
    ck_assert_str_eq(jstr(j, "client"), "198.51.100.0/24");
    ck_assert(json_is_true(json_object_get(j, "ecs")));
    ck_assert(json_is_null(json_object_get(j, "country")));
    ck_assert(json_is_null(json_object_get(j, "asn")));
    ck_assert_str_eq(jstr(j, "policy"), "p");
    ck_assert_str_eq(jstr(j, "function"), "steer");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "branch")), 1);
    ck_assert_str_eq(jstr(j, "rule"), "pool");
    char *cands = json_dumps(json_object_get(j, "candidates"), JSON_COMPACT);
    ck_assert_str_eq(cands, "[{\"endpoint\":\"fra\",\"pool\":\"eu\",\"health\":\"not monitored\","
                            "\"admin\":\"drain\"},{\"endpoint\":\"d\\\"al\",\"pool\":\"us\","
                            "\"health\":\"not monitored\",\"admin\":\"none\"}]");
    free(cands);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "picks"), 0)), "d\"al");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "answer"), 0)),
                     "192.0.2.2");
    ck_assert_str_eq(jstr(j, "pool"), "us");
    ck_assert(json_is_false(json_object_get(j, "all_down")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "scope")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "ttl")), 30);
    json_decref(j);

    /* Without ECS pdns sends the resolver's own address as a full prefix. */
    j = line_of("A \"steer('p')\"", &w, "x.", 2, "192.0.2.53/32", "192.0.2.53");
    ck_assert(json_is_false(json_object_get(j, "ecs")));
    json_decref(j);
    j = line_of("A \"steer('p')\"", &w, "x.", 2, "0.0.0.0/0", "192.0.2.53");
    ck_assert(json_is_false(json_object_get(j, "ecs")));
    ck_assert_str_eq(jstr(j, "client"), "192.0.2.53/32");
    json_decref(j);

    /* Everything drained: the all-down rule answers, the whole chain listed. */
    state[1] = STEER_ADMIN_FORCE_DOWN;
    j = line_of("A \"steer('p')\"", &w, "x.", 2, "2001:db8::/48", "::1");
    ck_assert(json_is_true(json_object_get(j, "all_down")));
    ck_assert(json_is_null(json_object_get(j, "pool")));
    ck_assert_str_eq(jstr(j, "rule"), "all candidates down");
    ck_assert_uint_eq(json_array_size(json_object_get(j, "candidates")), 2);
    ck_assert_str_eq(jstr(j, "client"), "2001:db8::/48");
    json_decref(j);
    steer_free(st);
}
END_TEST

START_TEST(test_format_literal)
{
    snap_world_t w = {0};
    json_t *j = line_of("A \";if netmask({'10.0.0.0/8'}) then return '192.0.2.9' else return "
                        "pickrandom({'192.0.2.81', '192.0.2.82'}) end\"",
                        &w, "lit.", 4, "198.51.100.0/24", "192.0.2.53");
    ck_assert(json_is_null(json_object_get(j, "policy")));
    ck_assert_str_eq(jstr(j, "function"), "pickrandom");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "branch")), 2);
    ck_assert_str_eq(jstr(j, "rule"), "else");
    ck_assert_uint_eq(json_array_size(json_object_get(j, "candidates")), 2);
    json_t *c0 = json_array_get(json_object_get(j, "candidates"), 0);
    ck_assert_str_eq(jstr(c0, "endpoint"), "192.0.2.81");
    ck_assert_str_eq(jstr(c0, "health"), "not monitored");
    ck_assert(json_is_null(json_object_get(c0, "admin")));
    ck_assert(json_equal(json_object_get(j, "picks"), json_object_get(j, "answer")));
    ck_assert_uint_eq(json_array_size(json_object_get(j, "answer")), 1);
    ck_assert(json_is_null(json_object_get(j, "pool")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "ttl")), 60);
    json_decref(j);
    /* No arm matches: no function, no branch, nothing answered. */
    j = line_of("A \";if netmask({'10.0.0.0/8'}) then return '192.0.2.9' end\"", &w, "n.", 2,
                "198.51.100.0/24", "192.0.2.53");
    ck_assert(json_is_null(json_object_get(j, "function")));
    ck_assert(json_is_null(json_object_get(j, "branch")));
    ck_assert_str_eq(jstr(j, "rule"), "no branch matched");
    ck_assert_uint_eq(json_array_size(json_object_get(j, "answer")), 0);
    json_decref(j);
}
END_TEST

static Suite *declog_suite(void)
{
    Suite *s = suite_create("declog");
    TCase *tc = tcase_create("declog");
    tcase_add_test(tc, test_sample);
    tcase_add_test(tc, test_bucket);
    tcase_add_test(tc, test_format_steered);
    tcase_add_test(tc, test_format_literal);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(declog_suite());
}
