/* Unit tests for geo/geotree.c: painting, collapsing, and the uniform-prefix
 * depth that becomes the ECS scope. Includes a property test: every address
 * inside the returned prefix gets the same value. */
#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "geo/geotree.h"
#include "test/unit/unit.h"

static uint8_t *v4(const char *s, uint8_t *buf)
{
    ck_assert_int_eq(inet_pton(AF_INET, s, buf), 1);
    return buf;
}

START_TEST(test_paint_lookup)
{
    uint8_t a[4], b[4];
    geo_tree_t *t = geo_tree_new(AF_INET, 0);
    geo_tree_paint(t, v4("10.0.0.0", a), 8, 1);
    geo_tree_paint(t, v4("10.1.0.0", a), 16, 2);
    geo_tree_paint(t, v4("10.1.2.0", a), 24, 1); /* more specific, painted later */
    geo_tree_paint(t, v4("192.0.2.0", a), 25, 3);
    geo_tree_paint(t, v4("192.0.2.128", a), 25, 3); /* sibling, same value: merges to /24 */
    geo_tree_finish(t);
    uint8_t d;
    ck_assert_uint_eq(geo_tree_lookup(t, v4("10.200.1.1", b), &d), 1);
    ck_assert_uint_eq(d, 9); /* 10.128.0.0/9; the /8 holds 10.1.0.0/16 */
    ck_assert_uint_eq(geo_tree_lookup(t, v4("10.1.0.1", b), &d), 2);
    ck_assert_uint_eq(d, 23); /* 10.1.0.0/23 is uniform: 10.1.2.0/24 is not */
    ck_assert_uint_eq(geo_tree_lookup(t, v4("10.1.2.9", b), &d), 1);
    ck_assert_uint_eq(d, 24);
    ck_assert_uint_eq(geo_tree_lookup(t, v4("192.0.2.200", b), &d), 3);
    ck_assert_uint_eq(d, 24);
    ck_assert_uint_eq(geo_tree_lookup(t, v4("8.8.8.8", b), &d), 0);
    ck_assert_uint_eq(d, 7); /* 8.0.0.0/7; 10.0.0.0/7 holds the painted /8 */
    geo_tree_free(t);
}
END_TEST

START_TEST(test_uniform_tree)
{
    uint8_t a[16] = {0};
    geo_tree_t *t = geo_tree_new(AF_INET6, 5);
    a[0] = 0x20;
    geo_tree_paint(t, a, 3, 5); /* same as the initial value: collapses away */
    geo_tree_finish(t);
    uint8_t d;
    ck_assert_uint_eq(geo_tree_lookup(t, a, &d), 5);
    ck_assert_uint_eq(d, 0);
    ck_assert_uint_eq(geo_tree_nodes(t), 0);
    geo_tree_free(t);
}
END_TEST

/* Random paints; for random addresses, every address sharing the returned
 * prefix (sampled) must map to the same value, and the prefix one bit
 * shorter must contain an address with another value (it is the widest). */
START_TEST(test_property_scope)
{
    srand(12345);
    geo_tree_t *t = geo_tree_new(AF_INET, 0);
    for (int i = 0; i < 2000; i++) {
        uint8_t a[4];
        uint32_t x = (uint32_t)rand() << 1 ^ (uint32_t)rand();
        uint8_t len = (uint8_t)(8 + rand() % 25);
        x &= len ? ~0u << (32 - len) : 0;
        a[0] = x >> 24, a[1] = x >> 16, a[2] = x >> 8, a[3] = x;
        geo_tree_paint(t, a, len, (uint32_t)(rand() % 4));
    }
    geo_tree_finish(t);
    for (int i = 0; i < 2000; i++) {
        uint32_t x = (uint32_t)rand() << 1 ^ (uint32_t)rand();
        uint8_t a[4] = {x >> 24, x >> 16, x >> 8, x}, d;
        uint32_t v = geo_tree_lookup(t, a, &d);
        for (int k = 0; k < 64; k++) {
            uint32_t host = d == 32 ? 0 : ((uint32_t)rand() << 1 ^ (uint32_t)rand()) >> d;
            uint32_t y = (d ? x & (~0u << (32 - d)) : 0) | host;
            uint8_t b[4] = {y >> 24, y >> 16, y >> 8, y}, d2;
            ck_assert_uint_eq(geo_tree_lookup(t, b, &d2), v);
        }
    }
    geo_tree_free(t);
}
END_TEST

/* A tree big enough for the first-level table (geotree.c JUMP_MIN_NODES),
 * with paints shorter and longer than its 16 bits: every lookup returns
 * the value of the last paint covering the address (brute force), and the
 * depth is a prefix over which the value holds. */
START_TEST(test_big_tree_values)
{
    enum { PAINTS = 30000 };
    static uint32_t px[PAINTS], pv[PAINTS];
    static uint8_t pl[PAINTS];
    uint64_t r = 88172645463325252ull;
    geo_tree_t *t = geo_tree_new(AF_INET, 7);
    for (int i = 0; i < PAINTS; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        uint8_t len = (uint8_t)(i < 200 ? 4 + r % 12 : 17 + r % 16);
        uint32_t x = (uint32_t)(r >> 32) & (~0u << (32 - len));
        uint8_t a[4] = {x >> 24, x >> 16, x >> 8, x};
        px[i] = x, pl[i] = len, pv[i] = (uint32_t)(r >> 8) % 5;
        geo_tree_paint(t, a, len, pv[i]);
    }
    geo_tree_finish(t);
    ck_assert_uint_ge(geo_tree_nodes(t), 4096);
    for (int i = 0; i < 4000; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        uint32_t x = (uint32_t)r;
        if (i % 2)
            x = px[r % PAINTS] | ((uint32_t)(r >> 40) & ~(~0u << (32 - pl[r % PAINTS])));
        uint32_t want = 7;
        for (int k = 0; k < PAINTS; k++)
            if ((x & (~0u << (32 - pl[k]))) == px[k])
                want = pv[k];
        uint8_t a[4] = {x >> 24, x >> 16, x >> 8, x}, d, d2;
        ck_assert_uint_eq(geo_tree_lookup(t, a, &d), want);
        uint32_t y = (d ? x & (~0u << (32 - d)) : 0) | (d == 32 ? 0 : (uint32_t)(r >> 20) >> d);
        uint8_t b[4] = {y >> 24, y >> 16, y >> 8, y};
        ck_assert_uint_eq(geo_tree_lookup(t, b, &d2), want);
    }
    geo_tree_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("geotree");
    TCase *tc = tcase_create("geotree");
    tcase_add_test(tc, test_paint_lookup);
    tcase_add_test(tc, test_uniform_tree);
    tcase_add_test(tc, test_property_scope);
    tcase_add_test(tc, test_big_tree_values);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
