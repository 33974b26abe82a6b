/* Unit tests for common/htab.h, the one hash table: every entry is found
 * under its hash, colliding hashes probe on, absent keys end at an empty
 * slot, and an empty table answers nothing. */
#include <check.h>
#include <stdint.h>

#include "common/htab.h"
#include "test/unit/unit.h"

/* The index of `key` among `keys` through table `t` with hash `h`. */
static uint32_t find(const htab_t *t, const uint64_t *keys, uint64_t key, uint64_t h)
{
    uint32_t i;
    for (size_t k = htab_start(t, h); (i = htab_next(t, &k)) != HTAB_END;)
        if (keys[i] == key)
            return i;
    return HTAB_END;
}

START_TEST(test_find_all)
{
    enum { N = 5000 };
    static uint64_t keys[N];
    htab_t t;
    htab_init(&t, N);
    ck_assert_uint_ge(t.mask + 1, 2 * N); /* at most half full */
    for (uint32_t i = 0; i < N; i++) {
        keys[i] = (uint64_t)i * 7919 + 1;
        htab_add(&t, htab_hash_u64(keys[i]), i);
    }
    for (uint32_t i = 0; i < N; i++)
        ck_assert_uint_eq(find(&t, keys, keys[i], htab_hash_u64(keys[i])), i);
    ck_assert_uint_eq(find(&t, keys, 2, htab_hash_u64(2)), HTAB_END);
    htab_free(&t);
    ck_assert_ptr_null(t.slot);
}
END_TEST

START_TEST(test_collisions)
{
    /* Every key under one hash: found by probing past the others. */
    uint64_t keys[10];
    htab_t t;
    htab_init(&t, 10);
    for (uint32_t i = 0; i < 10; i++) {
        keys[i] = 100 + i;
        htab_add(&t, 42, i);
    }
    for (uint32_t i = 0; i < 10; i++)
        ck_assert_uint_eq(find(&t, keys, 100 + i, 42), i);
    ck_assert_uint_eq(find(&t, keys, 99, 42), HTAB_END);
    htab_free(&t);
}
END_TEST

START_TEST(test_empty)
{
    htab_t t;
    htab_init(&t, 0);
    uint64_t none[1] = {0};
    ck_assert_uint_eq(find(&t, none, 0, htab_hash_u64(0)), HTAB_END);
    htab_free(&t);
    htab_free(&t); /* a freed table may be freed again */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("htab");
    TCase *tc = tcase_create("htab");
    tcase_add_test(tc, test_find_all);
    tcase_add_test(tc, test_collisions);
    tcase_add_test(tc, test_empty);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
