/* Unit tests for probes/hyst.c: the rise/fall decision as a pure function.
 * Sequences of results are tables ("+" success, "-" failure) with the state
 * expected after each step; the bookkeeping fields (consecutive, results,
 * since_ms, checked_ms, rtt_us, error) and the log descriptions are checked
 * separately. No network, no clock. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/hstate.h"
#include "probes/hyst.h"
#include "test/unit/unit.h"

/* Applies one result at time `now` and checks the contract of the return
 * value and *from: true exactly when the state changed, *from the old state
 * then (and untouched otherwise). */
static bool step(hstate_value_t *v, bool ok, const char *error, unsigned rise, unsigned fall,
                 int64_t now)
{
    hstate_state_t before = (hstate_state_t)v->state;
    hstate_state_t from = (hstate_state_t)77;
    bool changed = probe_hyst_step(v, ok, 1000, error, rise, fall, now, &from);
    ck_assert_int_eq(changed, v->state != before);
    ck_assert_int_eq(from, changed ? before : (hstate_state_t)77);
    return changed;
}

static char state_char(unsigned s)
{
    return s == HSTATE_UP ? 'U' : s == HSTATE_DOWN ? 'D' : '?';
}

/* ---- state sequences ---- */

static const struct {
    const char *name;
    unsigned rise, fall;
    const char *results; /* '+' success, '-' failure */
    const char *states;  /* after each result: 'U', 'D' */
} seqs[] = {
    {"first success", 3, 3, "+", "U"},
    {"first failure", 3, 3, "-", "D"},
    {"UP holds fall-1 failures, DOWN at the fall-th", 3, 3, "+---", "UUUD"},
    {"UP holds fall-1 failures, fall 5", 2, 5, "+-----", "UUUUUD"},
    {"DOWN holds rise-1 successes, UP at the rise-th", 3, 3, "-+++", "DDDU"},
    {"DOWN holds rise-1 successes, rise 5", 5, 2, "-+++++", "DDDDDU"},
    {"a success resets the failure run", 3, 3, "+--+--+---", "UUUUUUUUUD"},
    {"a failure resets the success run", 3, 3, "-++-++-+++", "DDDDDDDDDU"},
    {"alternating from UP, rise=fall=3", 3, 3, "+-+-+-+-+-+-", "UUUUUUUUUUUU"},
    {"alternating from DOWN, rise=fall=3", 3, 3, "-+-+-+-+-+-+", "DDDDDDDDDDDD"},
    {"alternating from UP, rise=fall=2", 2, 2, "+-+-+-+-+-+-", "UUUUUUUUUUUU"},
    {"alternating from DOWN, rise=fall=2", 2, 2, "-+-+-+-+-+-+", "DDDDDDDDDDDD"},
    {"rise=fall=1 follows every result", 1, 1, "+-+--++-", "UDUDDUUD"},
    {"rise 1, fall 3", 1, 3, "+--+---+", "UUUUUUDU"},
    {"rise 3, fall 1", 3, 1, "+-++-+++", "UDDDDDDU"},
    {"successes while UP and failures while DOWN change nothing", 2, 2, "+++++--------++",
     "UUUUUUDDDDDDDDU"},
    {"flapping around the thresholds", 2, 3, "+--+---++--+--++", "UUUUUUDDUUUUUUUU"},
};

START_TEST(test_sequences)
{
    const char *res = seqs[_i].results, *want = seqs[_i].states;
    ck_assert_uint_eq(strlen(res), strlen(want));
    hstate_value_t v;
    memset(&v, 0, sizeof(v));
    char got[64] = {0};
    for (size_t k = 0; res[k]; k++) {
        step(&v, res[k] == '+', res[k] == '+' ? NULL : "status 500", seqs[_i].rise, seqs[_i].fall,
             1000 + (int64_t)k);
        got[k] = state_char(v.state);
    }
    ck_assert_msg(strcmp(got, want) == 0, "%s: results %s: states %s, expected %s", seqs[_i].name,
                  res, got, want);
}
END_TEST

/* ---- bookkeeping ---- */

START_TEST(test_consecutive_and_results)
{
    hstate_value_t v;
    memset(&v, 0, sizeof(v));
    static const struct {
        bool ok;
        unsigned consecutive;
    } want[] = {{true, 1}, {true, 2},  {true, 3},  {false, 1}, {false, 2},
                {true, 1}, {false, 1}, {false, 2}, {false, 3}, {false, 4}};
    for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
        step(&v, want[k].ok, "x", 3, 3, 10);
        ck_assert_uint_eq(v.last_ok, want[k].ok);
        ck_assert_uint_eq(v.consecutive, want[k].consecutive);
        ck_assert_uint_eq(v.results, k + 1);
    }
}
END_TEST

START_TEST(test_consecutive_saturates)
{
    hstate_value_t v;
    memset(&v, 0, sizeof(v));
    const uint64_t n = (uint64_t)UINT16_MAX + 5000;
    for (uint64_t k = 0; k < n; k++)
        step(&v, true, NULL, 3, 3, 1);
    ck_assert_uint_eq(v.consecutive, UINT16_MAX); /* not wrapped to a small number */
    ck_assert_uint_eq(v.results, n);
    ck_assert_uint_eq(v.state, HSTATE_UP);
    /* The same holds for a long failure run, and the run restarts at 1. */
    ck_assert(step(&v, false, "down", 3, 3, 2) == false);
    ck_assert_uint_eq(v.consecutive, 1);
    for (uint64_t k = 0; k < n; k++)
        step(&v, false, "down", 3, 3, 3);
    ck_assert_uint_eq(v.consecutive, UINT16_MAX);
    ck_assert_uint_eq(v.state, HSTATE_DOWN);
    ck_assert_uint_eq(v.results, 2 * n + 1);
    step(&v, true, NULL, 3, 3, 4);
    ck_assert_uint_eq(v.consecutive, 1);
    ck_assert_uint_eq(v.state, HSTATE_DOWN);
}
END_TEST

START_TEST(test_since_only_on_transition)
{
    hstate_value_t v;
    memset(&v, 0, sizeof(v));
    /* time, result, since_ms expected after it */
    static const struct {
        int64_t now;
        bool ok;
        int64_t since;
    } seq[] = {
        {1000, true, 1000}, /* UNKNOWN -> UP */
        {2000, true, 1000},  {3000, false, 1000},
        {4000, false, 1000}, {5000, false, 5000}, /* UP -> DOWN (fall 3) */
        {6000, false, 5000}, {7000, true, 5000},
        {8000, true, 5000},  {9000, true, 9000}, /* DOWN -> UP (rise 3) */
        {10000, true, 9000},
    };
    for (size_t k = 0; k < sizeof(seq) / sizeof(seq[0]); k++) {
        step(&v, seq[k].ok, "e", 3, 3, seq[k].now);
        ck_assert_int_eq(v.since_ms, seq[k].since);
        ck_assert_int_eq(v.checked_ms, seq[k].now);
    }
}
END_TEST

START_TEST(test_checked_and_rtt_always)
{
    hstate_value_t v;
    memset(&v, 0, sizeof(v));
    hstate_state_t from;
    for (uint32_t k = 0; k < 20; k++) {
        bool ok = k % 3 != 0;
        int64_t now = 1700000000000 + k * 997;
        uint32_t rtt = k == 7 ? UINT32_MAX : 100 + k;
        probe_hyst_step(&v, ok, rtt, "e", 2, 2, now, &from);
        ck_assert_int_eq(v.checked_ms, now);
        ck_assert_uint_eq(v.rtt_us, rtt);
        ck_assert_uint_eq(v.last_ok, ok);
    }
}
END_TEST

START_TEST(test_error_text)
{
    hstate_value_t v;
    memset(&v, 0, sizeof(v));
    step(&v, false, "connect: Connection refused", 3, 3, 1);
    ck_assert_str_eq(v.error, "connect: Connection refused");
    step(&v, false, NULL, 3, 3, 2); /* no cause given */
    ck_assert_str_eq(v.error, "failed");
    step(&v, true, NULL, 3, 3, 3);
    ck_assert_str_eq(v.error, ""); /* cleared by a success */
    /* Longer than the field: truncated, NUL-terminated, no overflow into the
     * bytes after it (the struct ends with `error`, so check a guard). */
    struct {
        hstate_value_t v;
        char guard[16];
    } g;
    memset(&g, 0, sizeof(g));
    memset(g.guard, 'G', sizeof(g.guard));
    char longer[HSTATE_ERROR_LEN * 3];
    for (size_t k = 0; k < sizeof(longer) - 1; k++)
        longer[k] = (char)('a' + k % 26);
    longer[sizeof(longer) - 1] = '\0';
    step(&g.v, false, longer, 3, 3, 4);
    ck_assert_uint_eq(strlen(g.v.error), HSTATE_ERROR_LEN - 1);
    ck_assert(memcmp(g.v.error, longer, HSTATE_ERROR_LEN - 1) == 0);
    for (size_t k = 0; k < sizeof(g.guard); k++)
        ck_assert_int_eq(g.guard[k], 'G');
    /* Exactly HSTATE_ERROR_LEN - 1 characters fit whole. */
    longer[HSTATE_ERROR_LEN - 1] = '\0';
    step(&g.v, false, longer, 3, 3, 5);
    ck_assert_str_eq(g.v.error, longer);
    step(&g.v, true, NULL, 3, 3, 6);
    ck_assert_str_eq(g.v.error, "");
}
END_TEST

/* ---- descriptions ---- */

static const struct {
    unsigned rise, fall;
    const char *results;
    const char *error; /* cause of every failure */
    const char *want;  /* description of the last transition */
} descs[] = {
    {3, 3, "+", NULL, "UNKNOWN -> UP on the first result"},
    {3, 3, "-", "connect: Connection refused",
     "UNKNOWN -> DOWN on the first result (connect: Connection refused)"},
    {3, 3, "-", NULL, "UNKNOWN -> DOWN on the first result (failed)"},
    {3, 3, "+---", "status 500", "UP -> DOWN after 3 failures (status 500)"},
    {3, 3, "-+++", "status 500", "DOWN -> UP after 3 successes"},
    {1, 1, "+-", "timeout after 500 ms", "UP -> DOWN after 1 failure (timeout after 500 ms)"},
    {1, 1, "-+", "status 503", "DOWN -> UP after 1 success"},
    {2, 5, "+-----", "connect timeout after 2000 ms",
     "UP -> DOWN after 5 failures (connect timeout after 2000 ms)"},
    {2, 5, "-++", "x", "DOWN -> UP after 2 successes"},
};

START_TEST(test_describe)
{
    hstate_value_t v;
    memset(&v, 0, sizeof(v));
    hstate_state_t last_from = HSTATE_UNKNOWN;
    bool any = false;
    for (size_t k = 0; descs[_i].results[k]; k++) {
        hstate_state_t from;
        bool ok = descs[_i].results[k] == '+';
        if (probe_hyst_step(&v, ok, 10, descs[_i].error, descs[_i].rise, descs[_i].fall, (int64_t)k,
                            &from)) {
            last_from = from;
            any = true;
        }
    }
    ck_assert(any);
    char out[160];
    probe_hyst_describe(&v, last_from, out, sizeof(out));
    ck_assert_str_eq(out, descs[_i].want);
}
END_TEST

START_TEST(test_describe_bounded)
{
    hstate_value_t v;
    memset(&v, 0, sizeof(v));
    hstate_state_t from;
    probe_hyst_step(&v, true, 10, NULL, 1, 1, 1, &from);
    char long_err[HSTATE_ERROR_LEN * 2];
    memset(long_err, 'x', sizeof(long_err) - 1);
    long_err[sizeof(long_err) - 1] = '\0';
    ck_assert(probe_hyst_step(&v, false, 10, long_err, 1, 1, 2, &from));
    char full[256];
    probe_hyst_describe(&v, from, full, sizeof(full));
    /* The cause in the description is the stored (truncated) one. */
    ck_assert_uint_eq(strlen(full), strlen("UP -> DOWN after 1 failure ()") + HSTATE_ERROR_LEN - 1);
    /* A short buffer gets a prefix and a NUL; nothing is written past it. */
    for (size_t len = 1; len < 40; len++) {
        char out[48];
        memset(out, '#', sizeof(out));
        probe_hyst_describe(&v, from, out, len);
        ck_assert_uint_eq(strlen(out), len - 1);
        ck_assert(strncmp(out, full, len - 1) == 0);
        for (size_t k = len; k < sizeof(out); k++)
            ck_assert_int_eq(out[k], '#');
    }
}
END_TEST

START_TEST(test_state_names)
{
    ck_assert_str_eq(probe_state_name(HSTATE_UNKNOWN), "UNKNOWN");
    ck_assert_str_eq(probe_state_name(HSTATE_UP), "UP");
    ck_assert_str_eq(probe_state_name(HSTATE_DOWN), "DOWN");
    ck_assert_str_eq(probe_state_name(3), "?");
    ck_assert_str_eq(probe_state_name(255), "?");
}
END_TEST

static Suite *hyst_suite(void)
{
    Suite *s = suite_create("hyst");
    TCase *tc = tcase_create("step");
    tcase_add_loop_test(tc, test_sequences, 0, (int)(sizeof(seqs) / sizeof(seqs[0])));
    tcase_add_test(tc, test_consecutive_and_results);
    tcase_add_test(tc, test_consecutive_saturates);
    tcase_add_test(tc, test_since_only_on_transition);
    tcase_add_test(tc, test_checked_and_rtt_always);
    tcase_add_test(tc, test_error_text);
    suite_add_tcase(s, tc);
    tc = tcase_create("describe");
    tcase_add_loop_test(tc, test_describe, 0, (int)(sizeof(descs) / sizeof(descs[0])));
    tcase_add_test(tc, test_describe_bounded);
    tcase_add_test(tc, test_state_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(hyst_suite());
}
