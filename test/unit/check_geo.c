/* Unit tests for geo/: the MaxMind DB writer (geo/mmdb_writer.c), the
 * tor-geoipdb country database builder (geo/geoip_build.c), the country
 * table (geo/countries.c, built from geo/data/countries.tsv) and the reader (geo/geodb.c). The
 * fixture database is built from test/data/geo/ranges.txt and checked against
 * test/data/geo/expected.txt. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <maxminddb.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "geo/countries.h"
#include "geo/geodb.h"
#include "geo/geoip_build.h"
#include "geo/mmdb_writer.h"
#include "test/unit/unit.h"

/* 2026-06-25 04:33:59 UTC, the date written into the fixture's headers. */
#define FIXTURE_EPOCH 1782362039u

static char src_dir[PATH_MAX]; /* the repository root */
static char tmp_dir[PATH_MAX];

static void find_src_dir(void)
{
    const char *env = getenv("GS_SOURCE_DIR");
    if (env && *env) {
        snprintf(src_dir, sizeof src_dir, "%s", env);
        return;
    }
    /* __FILE__ is absolute under CMake: <root>/test/unit/check_geo.c. */
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", __FILE__);
    snprintf(src_dir, sizeof src_dir, "%s/../..", dirname(buf));
}

static void make_tmp(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/check_geo.XXXXXX", t && *t ? t : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

static void rm_tmp(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "check_geo: could not remove %s\n", tmp_dir);
}

static void path_in(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* --- fixture --------------------------------------------------------------- */

static void v6_last(uint8_t a[16], unsigned plen)
{
    for (unsigned i = plen; i < 128; i++)
        a[i / 8] |= (uint8_t)(0x80 >> (i % 8));
}

/* Turns ranges.txt into tor-geoipdb files dir/geoip and dir/geoip6 (the
 * format the builder reads) and builds dir/fixture.mmdb from them. */
static void build_fixture(const char *dir, char *db_path, size_t cap)
{
    char src[PATH_MAX], p4[PATH_MAX], p6[PATH_MAX];
    path_in(src, sizeof src, src_dir, "test/data/geo/ranges.txt");
    path_in(p4, sizeof p4, dir, "geoip");
    path_in(p6, sizeof p6, dir, "geoip6");
    FILE *in = fopen(src, "r"), *o4 = fopen(p4, "w"), *o6 = fopen(p6, "w");
    ck_assert_msg(in != NULL, "cannot open %s", src);
    ck_assert_ptr_nonnull(o4);
    ck_assert_ptr_nonnull(o6);
    const char *hdr = "# Converted from test/data/geo/ranges.txt\n"
                      "# Generated: Thu, 25 Jun 2026 04:33:59 GMT\n";
    fputs(hdr, o4);
    fputs(hdr, o6);
    char line[256];
    while (fgets(line, sizeof line, in)) {
        char range[128], cc[8];
        if (line[0] == '#' || sscanf(line, "%127s %7s", range, cc) != 2)
            continue;
        char *dash = strchr(range, '-'), *slash = strchr(range, '/');
        unsigned plen = slash ? (unsigned)atoi(slash + 1) : 0;
        if (dash)
            *dash = '\0';
        if (slash)
            *slash = '\0';
        const char *last = dash ? dash + 1 : range;
        struct in_addr a4, b4;
        uint8_t a6[16], b6[16];
        if (inet_pton(AF_INET, range, &a4) == 1) {
            ck_assert_int_eq(inet_pton(AF_INET, last, &b4), 1);
            uint32_t lo = ntohl(a4.s_addr), hi = ntohl(b4.s_addr);
            if (slash)
                hi = lo | (plen ? (uint32_t)(0xffffffffu >> plen) : 0xffffffffu);
            fprintf(o4, "%u,%u,%s\n", lo, hi, cc);
        } else {
            ck_assert_int_eq(inet_pton(AF_INET6, range, a6), 1);
            ck_assert_int_eq(inet_pton(AF_INET6, last, b6), 1);
            if (slash)
                v6_last(b6, plen);
            char lo[INET6_ADDRSTRLEN], hi[INET6_ADDRSTRLEN];
            inet_ntop(AF_INET6, a6, lo, sizeof lo);
            inet_ntop(AF_INET6, b6, hi, sizeof hi);
            fprintf(o6, "%s,%s,%s\n", lo, hi, cc);
        }
    }
    fclose(in);
    ck_assert_int_eq(fclose(o4), 0);
    ck_assert_int_eq(fclose(o6), 0);

    path_in(db_path, cap, dir, "fixture.mmdb");
    geo_build_stats_t st;
    gs_err_t err = {{0}};
    int rc = geo_build_country_db(p4, p6, db_path, &st, &err);
    ck_assert_msg(rc == 0, "build: %s", err.text);
    ck_assert_uint_eq(st.v4_ranges, 9);
    ck_assert_uint_eq(st.v6_ranges, 5);
    ck_assert_uint_eq(st.skipped, 2);
    ck_assert_str_eq(st.skipped_codes, "?? CS");
    ck_assert_uint_eq(st.build_epoch, FIXTURE_EPOCH);
}

static geo_db_t *open_fixture(void)
{
    char db_path[PATH_MAX];
    build_fixture(tmp_dir, db_path, sizeof db_path);
    geo_db_t *db = NULL;
    gs_err_t err = {{0}};
    int rc = geo_db_open(db_path, &db, &err);
    ck_assert_msg(rc == 0, "open: %s", err.text);
    return db;
}

static FILE *open_expected(void)
{
    char p[PATH_MAX];
    path_in(p, sizeof p, src_dir, "test/data/geo/expected.txt");
    FILE *f = fopen(p, "r");
    ck_assert_msg(f != NULL, "cannot open %s", p);
    return f;
}

static void to_sockaddr(const char *text, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        return;
    }
    ck_assert_msg(inet_pton(AF_INET6, text, &s6->sin6_addr) == 1, "bad address %s", text);
    s6->sin6_family = AF_INET6;
}

/* --- reader against the fixture ---------------------------------------------- */

START_TEST(test_lookup_expected)
{
    geo_db_t *db = open_fixture();
    FILE *f = open_expected();
    char line[256];
    int checked = 0;
    while (fgets(line, sizeof line, f)) {
        char addr[64], a[16], b[16], c[16];
        int n = sscanf(line, "lookup %63s %15s %15s %15s", addr, a, b, c);
        if (n < 3)
            continue;
        struct sockaddr_storage ss;
        to_sockaddr(addr, &ss);
        geo_result_t r;
        int rc = geo_db_lookup(db, (const struct sockaddr *)&ss, &r);
        if (strcmp(a, "NOTFOUND") == 0) {
            ck_assert_msg(rc == GS_ENOTFOUND, "%s: rc %d, country '%s'", addr, rc, r.country);
            ck_assert_msg(r.prefix_len == atoi(b), "%s: prefix %u, expected %s", addr, r.prefix_len,
                          b);
        } else {
            ck_assert_msg(rc == 0, "%s: rc %d", addr, rc);
            ck_assert_msg(strcmp(r.country, strcmp(a, "-") ? a : "") == 0, "%s: country '%s'", addr,
                          r.country);
            ck_assert_msg(strcmp(r.continent, b) == 0, "%s: continent '%s'", addr, r.continent);
            ck_assert_msg(r.prefix_len == atoi(c), "%s: prefix %u, expected %s", addr, r.prefix_len,
                          c);
            ck_assert_str_eq(r.subdivision, "");
            ck_assert_uint_eq(r.asn, 0);
            const geo_country_t *gc = r.country[0] ? geo_country_find(r.country) : NULL;
            ck_assert_int_eq(r.has_location, gc != NULL);
            if (gc) {
                ck_assert_double_eq(r.latitude, gc->latitude);
                ck_assert_double_eq(r.longitude, gc->longitude);
            }
        }
        checked++;
    }
    fclose(f);
    ck_assert_int_ge(checked, 30);
    geo_db_close(db);
}
END_TEST

/* The location as pdns's geoip backend reads it (libmaxminddb, the
 * MaxMind City layout): latitude and longitude as doubles, accuracy_radius
 * as a uint16 (without it pdns sees no location: latlon() and pickclosest()
 * get 0,0), and the time zone of the coordinate. */
START_TEST(test_location_layout)
{
    char db_path[PATH_MAX];
    build_fixture(tmp_dir, db_path, sizeof db_path);
    MMDB_s mm;
    ck_assert_int_eq(MMDB_open(db_path, MMDB_MODE_MMAP, &mm), MMDB_SUCCESS);
    static const struct {
        const char *addr, *cc;
    } cases[] = {{"192.0.2.1", "DE"}, {"198.51.100.1", "FR"}, {"10.1.2.3", "AU"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int gai = 0, mmerr = 0;
        MMDB_lookup_result_s res = MMDB_lookup_string(&mm, cases[i].addr, &gai, &mmerr);
        ck_assert_msg(gai == 0 && mmerr == MMDB_SUCCESS && res.found_entry, "%s: not found",
                      cases[i].addr);
        const geo_country_t *gc = geo_country_find(cases[i].cc);
        ck_assert_ptr_nonnull(gc);
        MMDB_entry_data_s d;
        ck_assert_int_eq(MMDB_get_value(&res.entry, &d, "location", "accuracy_radius", NULL),
                         MMDB_SUCCESS);
        ck_assert_msg(d.has_data && d.type == MMDB_DATA_TYPE_UINT16, "%s: accuracy_radius",
                      cases[i].addr);
        ck_assert_uint_eq(d.uint16, GEO_BUILD_ACCURACY_KM);
        ck_assert_int_eq(MMDB_get_value(&res.entry, &d, "location", "latitude", NULL),
                         MMDB_SUCCESS);
        ck_assert(d.has_data && d.type == MMDB_DATA_TYPE_DOUBLE);
        ck_assert_double_eq(d.double_value, gc->latitude);
        ck_assert_int_eq(MMDB_get_value(&res.entry, &d, "location", "longitude", NULL),
                         MMDB_SUCCESS);
        ck_assert(d.has_data && d.type == MMDB_DATA_TYPE_DOUBLE);
        ck_assert_double_eq(d.double_value, gc->longitude);
        ck_assert_int_eq(MMDB_get_value(&res.entry, &d, "location", "time_zone", NULL),
                         MMDB_SUCCESS);
        ck_assert(d.has_data && d.type == MMDB_DATA_TYPE_UTF8_STRING);
        ck_assert_int_eq((int)d.data_size, (int)strlen(gc->time_zone));
        ck_assert(memcmp(d.utf8_string, gc->time_zone, d.data_size) == 0);
    }
    ck_assert_str_eq(geo_country_find("DE")->time_zone, "Europe/Berlin");
    MMDB_close(&mm);
}
END_TEST

typedef struct {
    int family;
    char lines[128][64];
    int n;
} netlist_t;

static int collect(void *ctx, const uint8_t *addr, uint8_t prefix_len, const geo_result_t *res)
{
    netlist_t *nl = ctx;
    ck_assert_int_lt(nl->n, 128);
    char text[INET6_ADDRSTRLEN];
    inet_ntop(nl->family, addr, text, sizeof text);
    ck_assert_uint_eq(res->prefix_len, prefix_len);
    snprintf(nl->lines[nl->n++], 64, "%s/%u %s %s", text, prefix_len,
             res->country[0] ? res->country : "-", res->continent);
    return 0;
}

START_TEST(test_walk_expected)
{
    geo_db_t *db = open_fixture();
    static netlist_t got[2], want[2]; /* [0] IPv4, [1] IPv6 */
    memset(got, 0, sizeof got);
    memset(want, 0, sizeof want);
    got[0].family = AF_INET;
    got[1].family = AF_INET6;
    ck_assert_int_eq(geo_db_walk(db, AF_INET, collect, &got[0]), 0);
    ck_assert_int_eq(geo_db_walk(db, AF_INET6, collect, &got[1]), 0);

    FILE *f = open_expected();
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char net[64], a[8], b[8];
        if (sscanf(line, "network %63s %7s %7s", net, a, b) != 3)
            continue;
        netlist_t *w = &want[strchr(net, ':') ? 1 : 0];
        snprintf(w->lines[w->n++], 64, "%s %s %s", net, a, b);
    }
    fclose(f);
    for (int fam = 0; fam < 2; fam++) {
        for (int i = 0; i < want[fam].n || i < got[fam].n; i++)
            ck_assert_msg(i < got[fam].n && i < want[fam].n &&
                              strcmp(got[fam].lines[i], want[fam].lines[i]) == 0,
                          "IPv%d network %d: got '%s', expected '%s'", fam ? 6 : 4, i,
                          i < got[fam].n ? got[fam].lines[i] : "(none)",
                          i < want[fam].n ? want[fam].lines[i] : "(none)");
    }
    geo_db_close(db);
}
END_TEST

static int stop_after_two(void *ctx, const uint8_t *addr, uint8_t prefix_len,
                          const geo_result_t *res)
{
    (void)addr, (void)prefix_len, (void)res;
    return ++*(int *)ctx == 2 ? 42 : 0;
}

START_TEST(test_walk_stops)
{
    geo_db_t *db = open_fixture();
    int calls = 0;
    ck_assert_int_eq(geo_db_walk(db, AF_INET, stop_after_two, &calls), 42);
    ck_assert_int_eq(calls, 2);
    ck_assert_int_eq(geo_db_walk(db, AF_UNIX, stop_after_two, &calls), GS_EINVAL);
    geo_db_close(db);
}
END_TEST

START_TEST(test_info)
{
    geo_db_t *db = open_fixture();
    geo_db_info_t info;
    geo_db_info(db, &info);
    ck_assert_str_eq(info.database_type, "GeoSteer-Country");
    ck_assert_uint_eq(info.build_epoch, FIXTURE_EPOCH);
    ck_assert_uint_eq(info.ip_version, 6);
    ck_assert_uint_eq(info.record_size, 24);
    ck_assert_uint_gt(info.node_count, 96);
    ck_assert_ptr_nonnull(strstr(info.path, "fixture.mmdb"));
    geo_db_close(db);
    geo_db_close(NULL);
}
END_TEST

START_TEST(test_lookup_speed)
{
    geo_db_t *db = open_fixture();
    enum { N = 200000 };
    struct sockaddr_in sin = {.sin_family = AF_INET};
    geo_result_t r;
    struct timespec t0, t1;
    unsigned found = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint32_t i = 0; i < N; i++) {
        sin.sin_addr.s_addr = htonl(0xc6336400u + (i & 0xff)); /* 198.51.100.x */
        found += geo_db_lookup(db, (const struct sockaddr *)&sin, &r) == 0;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / N;
    printf("check_geo: geo_db_lookup %.0f ns per IPv4 lookup (fixture)\n", ns);
    ck_assert_uint_gt(found, N / 2);
    ck_assert_double_lt(ns, 20000); /* generous: sanitizer builds are slow */
    geo_db_close(db);
}
END_TEST

/* --- refused files ----------------------------------------------------------- */

typedef enum { CUT, GARBAGE, EMPTY, TREE_FF, MISSING, DIRECTORY } damage_t;

static const struct {
    const char *name;
    damage_t how;
    long arg; /* CUT: bytes kept (negative: size + arg) */
    int code;
} damage_cases[] = {
    {"truncated to 10 bytes", CUT, 10, GS_EINVAL},
    {"truncated to half", CUT, 0, GS_EINVAL},
    {"last byte cut", CUT, -1, GS_EINVAL},
    {"metadata cut", CUT, -300, GS_EINVAL},
    {"garbage", GARBAGE, 0, GS_EINVAL},
    {"empty", EMPTY, 0, GS_EINVAL},
    {"search tree overwritten", TREE_FF, 0, GS_EINVAL},
    {"missing", MISSING, 0, -ENOENT},
    {"a directory", DIRECTORY, 0, GS_EINVAL},
};

START_TEST(test_refused)
{
    char db_path[PATH_MAX], bad[PATH_MAX];
    build_fixture(tmp_dir, db_path, sizeof db_path);
    path_in(bad, sizeof bad, tmp_dir, "bad.mmdb");
    struct stat st;
    ck_assert_int_eq(stat(db_path, &st), 0);
    FILE *in = fopen(db_path, "rb");
    uint8_t *content = malloc((size_t)st.st_size);
    ck_assert_uint_eq(fread(content, 1, (size_t)st.st_size, in), (size_t)st.st_size);
    fclose(in);

    long size = (long)st.st_size, keep = size;
    switch (damage_cases[_i].how) {
    case CUT:
        keep = damage_cases[_i].arg > 0   ? damage_cases[_i].arg
               : damage_cases[_i].arg < 0 ? size + damage_cases[_i].arg
                                          : size / 2;
        break;
    case GARBAGE:
        for (long i = 0; i < size; i++)
            content[i] = (uint8_t)(i * 7919 % 251);
        break;
    case EMPTY:
        keep = 0;
        break;
    case TREE_FF:
        memset(content, 0xff, 96 * 6); /* the first 96 nodes, 24-bit records */
        break;
    default:
        break;
    }
    if (damage_cases[_i].how == DIRECTORY) {
        ck_assert_int_eq(mkdir(bad, 0755), 0);
    } else if (damage_cases[_i].how != MISSING) {
        FILE *out = fopen(bad, "wb");
        ck_assert_uint_eq(fwrite(content, 1, (size_t)keep, out), (size_t)keep);
        ck_assert_int_eq(fclose(out), 0);
    }
    free(content);

    geo_db_t *db = (geo_db_t *)1;
    gs_err_t err = {{0}};
    int rc = geo_db_open(bad, &db, &err);
    ck_assert_msg(rc == damage_cases[_i].code, "%s: rc %d (%s), expected %d", damage_cases[_i].name,
                  rc, err.text, damage_cases[_i].code);
    ck_assert_ptr_null(db);
    ck_assert_msg(strstr(err.text, bad) != NULL, "%s: message '%s' does not name the file",
                  damage_cases[_i].name, err.text);
    printf("check_geo: %s: %s\n", damage_cases[_i].name, err.text);
}
END_TEST

/* --- builder input errors ------------------------------------------------------ */

static const struct {
    bool v6;
    const char *text;
    const char *error; /* expected message after "PATH:" */
} bad_inputs[] = {
    {false, "1,2,DE\n16777216\n", "2: error: expected INTIPLOW,INTIPHIGH,CC, got '16777216'"},
    {false, "1,2,DE,X\n", "1: error: expected INTIPLOW,INTIPHIGH,CC, got '1,2,DE,X'"},
    {false, "# c\n1,x,DE\n", "2: error: expected INTIPLOW,INTIPHIGH,CC, got '1,x,DE'"},
    {false, "4294967296,4294967296,DE\n",
     "1: error: expected INTIPLOW,INTIPHIGH,CC, got '4294967296,4294967296,DE'"},
    {false, "5,4,DE\n", "1: error: range ends before it starts, got '5,4,DE'"},
    {false, "1,2,de\n", "1: error: expected a two-letter country code, got '1,2,de'"},
    {false, "1,2,DEU\n", "1: error: expected a two-letter country code, got '1,2,DEU'"},
    {true, "2001:db8::,2001:db8::ff,JP\n::1,1.2.3.4,JP\n",
     "2: error: expected IPV6LOW,IPV6HIGH,CC, got '::1,1.2.3.4,JP'"},
    {true, "2001:db8::ff,2001:db8::,JP\n",
     "1: error: range ends before it starts, got '2001:db8::ff,2001:db8::,JP'"},
};

START_TEST(test_build_bad_input)
{
    char in[PATH_MAX], out[PATH_MAX], want[PATH_MAX + 128];
    path_in(in, sizeof in, tmp_dir, "ranges");
    path_in(out, sizeof out, tmp_dir, "out.mmdb");
    write_text(in, bad_inputs[_i].text);
    geo_build_stats_t st;
    gs_err_t err = {{0}};
    int rc = bad_inputs[_i].v6 ? geo_build_country_db(NULL, in, out, &st, &err)
                               : geo_build_country_db(in, NULL, out, &st, &err);
    ck_assert_int_eq(rc, GS_EINVAL);
    snprintf(want, sizeof want, "%s:%s", in, bad_inputs[_i].error);
    ck_assert_str_eq(err.text, want);
    ck_assert_int_eq(access(out, F_OK), -1); /* nothing written */
}
END_TEST

START_TEST(test_build_missing_input)
{
    char in[PATH_MAX], out[PATH_MAX];
    path_in(in, sizeof in, tmp_dir, "no-such-file");
    path_in(out, sizeof out, tmp_dir, "out.mmdb");
    geo_build_stats_t st;
    gs_err_t err = {{0}};
    ck_assert_int_eq(geo_build_country_db(in, NULL, out, &st, &err), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err.text, in));
    /* An unwritable output directory. */
    char in2[PATH_MAX];
    path_in(in2, sizeof in2, tmp_dir, "ok");
    write_text(in2, "16777216,16777471,AU\n");
    path_in(out, sizeof out, tmp_dir, "no-such-dir/out.mmdb");
    ck_assert_int_eq(geo_build_country_db(in2, NULL, out, &st, &err), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err.text, out));
}
END_TEST

/* --- writer ------------------------------------------------------------------ */

/* A record using every type the writer encodes, with strings long enough
 * for each size encoding (< 29, < 285, < 65821, more). */
static uint32_t rich_record(mmdbw_t *w, uint32_t asn, char *long_str, size_t long_len)
{
    mmdbw_buf_t b = {0};
    mmdbw_put_map(&b, 8);
    mmdbw_put_str(&b, "country");
    mmdbw_put_map(&b, 1);
    mmdbw_put_str(&b, "iso_code");
    mmdbw_put_str(&b, "US");
    mmdbw_put_str(&b, "subdivisions");
    mmdbw_put_array(&b, 2);
    mmdbw_put_map(&b, 1);
    mmdbw_put_str(&b, "iso_code");
    mmdbw_put_str(&b, "CA");
    mmdbw_put_map(&b, 1);
    mmdbw_put_str(&b, "iso_code");
    mmdbw_put_str(&b, "XX");
    mmdbw_put_str(&b, "autonomous_system_number");
    mmdbw_put_u32(&b, asn);
    mmdbw_put_str(&b, "location");
    mmdbw_put_map(&b, 2);
    mmdbw_put_str(&b, "latitude");
    mmdbw_put_double(&b, 37.5);
    mmdbw_put_str(&b, "longitude");
    mmdbw_put_double(&b, -122.25);
    mmdbw_put_str(&b, "u16");
    mmdbw_put_u16(&b, 65535);
    mmdbw_put_str(&b, "u64");
    mmdbw_put_u64(&b, 0x0123456789abcdefull);
    mmdbw_put_str(&b, "flag");
    mmdbw_put_bool(&b, true);
    mmdbw_put_str(&b, "long");
    long_str[long_len] = '\0';
    mmdbw_put_str(&b, long_str);
    uint32_t id = mmdbw_data(w, b.data, b.len);
    mmdbw_buf_free(&b);
    return id;
}

static const struct {
    uint16_t record_size;
    size_t long_len;
} writer_cases[] = {
    {24, 5},
    {28, 40},
    {32, 300},
    {0, 70000},
};

START_TEST(test_writer_types_and_sizes)
{
    char path[PATH_MAX];
    path_in(path, sizeof path, tmp_dir, "w.mmdb");
    size_t long_len = writer_cases[_i].long_len;
    char *s = malloc(long_len + 1);
    memset(s, 'x', long_len);
    mmdbw_t *w = mmdbw_new();
    uint32_t id = rich_record(w, 64500, s, long_len);
    ck_assert_uint_eq(rich_record(w, 64500, s, long_len), id); /* deduplicated */
    uint32_t id2 = rich_record(w, 64501, s, long_len);
    ck_assert_uint_ne(id2, id);
    uint8_t net[16] = {0x20, 0x01, 0x0d, 0xb8};
    mmdbw_insert(w, net, 32, id2);
    ck_assert_uint_eq(mmdbw_insert_range4(w, 0x0a000000, 0x0a0000ff, id), 1);
    mmdbw_meta_t meta = {.database_type = "Test",
                         .description = "t",
                         .build_epoch = 1,
                         .record_size = writer_cases[_i].record_size};
    mmdbw_stats_t st;
    gs_err_t err = {{0}};
    ck_assert_int_eq(mmdbw_write(w, path, &meta, &st, &err), 0);
    mmdbw_free(w);
    ck_assert_uint_eq(st.record_size,
                      writer_cases[_i].record_size ? writer_cases[_i].record_size : 24);
    ck_assert_uint_eq(st.networks, 2); /* 10.0.0.0/24 (and its ::ffff: alias), 2001:db8::/32 */

    geo_db_t *db;
    ck_assert_msg(geo_db_open(path, &db, &err) == 0, "%s", err.text);
    struct sockaddr_storage ss;
    geo_result_t r;
    to_sockaddr("10.0.0.7", &ss);
    ck_assert_int_eq(geo_db_lookup(db, (struct sockaddr *)&ss, &r), 0);
    ck_assert_str_eq(r.country, "US");
    ck_assert_str_eq(r.subdivision, "US-CA");
    ck_assert_uint_eq(r.asn, 64500);
    ck_assert_int_eq(r.has_location, true);
    ck_assert_double_eq(r.latitude, 37.5);
    ck_assert_double_eq(r.longitude, -122.25);
    ck_assert_uint_eq(r.prefix_len, 24);
    to_sockaddr("2001:db8:1::", &ss);
    ck_assert_int_eq(geo_db_lookup(db, (struct sockaddr *)&ss, &r), 0);
    ck_assert_uint_eq(r.asn, 64501);
    ck_assert_uint_eq(r.prefix_len, 32);
    geo_db_close(db);

    /* The other types, read back with libmaxminddb itself. */
    MMDB_s m;
    ck_assert_int_eq(MMDB_open(path, MMDB_MODE_MMAP, &m), MMDB_SUCCESS);
    int gai, merr;
    MMDB_lookup_result_s lr = MMDB_lookup_string(&m, "10.0.0.1", &gai, &merr);
    ck_assert(lr.found_entry);
    MMDB_entry_data_s d;
    ck_assert_int_eq(MMDB_get_value(&lr.entry, &d, "u16", NULL), MMDB_SUCCESS);
    ck_assert_uint_eq(d.type, MMDB_DATA_TYPE_UINT16);
    ck_assert_uint_eq(d.uint16, 65535);
    ck_assert_int_eq(MMDB_get_value(&lr.entry, &d, "u64", NULL), MMDB_SUCCESS);
    ck_assert_uint_eq(d.uint64, 0x0123456789abcdefull);
    ck_assert_int_eq(MMDB_get_value(&lr.entry, &d, "flag", NULL), MMDB_SUCCESS);
    ck_assert_uint_eq(d.type, MMDB_DATA_TYPE_BOOLEAN);
    ck_assert(d.boolean);
    ck_assert_int_eq(MMDB_get_value(&lr.entry, &d, "subdivisions", "1", "iso_code", NULL),
                     MMDB_SUCCESS);
    ck_assert_uint_eq(d.data_size, 2);
    ck_assert_int_eq(MMDB_get_value(&lr.entry, &d, "long", NULL), MMDB_SUCCESS);
    ck_assert_uint_eq(d.data_size, long_len);
    ck_assert_int_eq(memcmp(d.utf8_string, s, long_len), 0);
    ck_assert_str_eq(m.metadata.database_type, "Test");
    ck_assert_uint_eq(m.metadata.build_epoch, 1);
    ck_assert_uint_eq(m.metadata.languages.count, 1);
    ck_assert_str_eq(m.metadata.languages.names[0], "en");
    ck_assert_str_eq(m.metadata.description.descriptions[0]->description, "t");
    MMDB_close(&m);
    free(s);
}
END_TEST

START_TEST(test_writer_merge_and_overlap)
{
    char path[PATH_MAX];
    path_in(path, sizeof path, tmp_dir, "m.mmdb");
    mmdbw_t *w = mmdbw_new();
    mmdbw_buf_t a = {0}, b = {0};
    mmdbw_put_u32(&a, 1);
    mmdbw_put_u32(&b, 2);
    uint32_t ida = mmdbw_data(w, a.data, a.len), idb = mmdbw_data(w, b.data, b.len);
    mmdbw_buf_free(&a);
    mmdbw_buf_free(&b);
    /* Two halves of 10.0.0.0/8 with the same data merge into one /8; a
     * less specific network inserted after a more specific one keeps it. */
    mmdbw_insert_range4(w, 0x0a800000, 0x0affffff, ida);
    mmdbw_insert_range4(w, 0x0a000000, 0x0a7fffff, ida);
    mmdbw_insert_range4(w, 0x0b010100, 0x0b0101ff, idb);
    mmdbw_insert_range4(w, 0x0b000000, 0x0bffffff, ida);
    /* Ranges at the ends of the address spaces. */
    mmdbw_insert_range4(w, 0xffffff00, 0xffffffff, idb);
    uint8_t lo[16], hi[16];
    memset(lo, 0xff, 16);
    memset(hi, 0xff, 16);
    lo[15] = 0xf0;
    ck_assert_uint_eq(mmdbw_insert_range6(w, lo, hi, ida), 1);
    ck_assert_uint_eq(mmdbw_insert_range6(w, hi, lo, ida), 0);
    mmdbw_meta_t meta = {.database_type = "T"};
    mmdbw_stats_t st;
    gs_err_t err;
    ck_assert_int_eq(mmdbw_write(w, path, &meta, &st, &err), 0);
    mmdbw_free(w);

    MMDB_s m;
    ck_assert_int_eq(MMDB_open(path, MMDB_MODE_MMAP, &m), MMDB_SUCCESS);
    static const struct {
        const char *ip;
        int value, netmask; /* value 0: not found */
    } want[] = {
        {"10.1.2.3", 1, 96 + 8},
        {"10.200.0.1", 1, 96 + 8},
        {"11.1.1.1", 2, 96 + 24},
        {"11.1.2.1", 1, 96 + 23},
        {"11.200.0.0", 1, 96 + 9},
        {"255.255.255.1", 2, 96 + 24},
        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffef", 0, 0},
        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff1", 1, 124},
        {"::ffff:10.0.0.1", 1, 96 + 8},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int gai, merr;
        MMDB_lookup_result_s lr = MMDB_lookup_string(&m, want[i].ip, &gai, &merr);
        ck_assert_int_eq(merr, MMDB_SUCCESS);
        ck_assert_msg(lr.found_entry == (want[i].value != 0), "%s", want[i].ip);
        if (want[i].value) {
            MMDB_entry_data_s d;
            ck_assert_int_eq(MMDB_get_value(&lr.entry, &d, NULL), MMDB_SUCCESS);
            ck_assert_msg((int)d.uint32 == want[i].value, "%s: %u", want[i].ip, d.uint32);
            ck_assert_msg(lr.netmask == want[i].netmask, "%s: netmask %u", want[i].ip, lr.netmask);
        }
    }
    MMDB_close(&m);
}
END_TEST

static int count_nets(void *ctx, const uint8_t *addr, uint8_t prefix_len, const geo_result_t *res)
{
    size_t *n = ctx;
    /* Network i is 10.0.0.0 + 256 i, a /24, with ASN 64512 + i. */
    uint32_t i = ((uint32_t)addr[0] << 16 | (uint32_t)addr[1] << 8 | addr[2]) - (10u << 16);
    ck_assert_uint_eq(prefix_len, 24);
    ck_assert_uint_eq(res->asn, 64512 + i);
    ++*n;
    return 0;
}

/* More distinct records than geo_db_open decodes up front (a city-sized
 * database): lookups and walks decode as they go. */
START_TEST(test_many_records)
{
    enum { N = 65536 + 100 };
    char path[PATH_MAX];
    path_in(path, sizeof path, tmp_dir, "many.mmdb");
    mmdbw_t *w = mmdbw_new();
    for (uint32_t i = 0; i < N; i++) {
        mmdbw_buf_t b = {0};
        mmdbw_put_map(&b, 1);
        mmdbw_put_str(&b, "autonomous_system_number");
        mmdbw_put_u32(&b, 64512 + i);
        uint32_t id = mmdbw_data(w, b.data, b.len);
        mmdbw_buf_free(&b);
        uint32_t net = 0x0a000000u + (i << 8);
        mmdbw_insert_range4(w, net, net | 0xff, id);
    }
    mmdbw_meta_t meta = {.database_type = "GeoLite2-ASN-like", .build_epoch = 2};
    gs_err_t err;
    mmdbw_stats_t st;
    ck_assert_int_eq(mmdbw_write(w, path, &meta, &st, &err), 0);
    mmdbw_free(w);
    ck_assert_uint_eq(st.networks, N);
    geo_db_t *db;
    ck_assert_msg(geo_db_open(path, &db, &err) == 0, "%s", err.text);
    struct sockaddr_storage ss;
    geo_result_t r;
    to_sockaddr("10.1.2.3", &ss);
    ck_assert_int_eq(geo_db_lookup(db, (struct sockaddr *)&ss, &r), 0);
    ck_assert_uint_eq(r.asn, 64512 + 0x102);
    ck_assert_str_eq(r.country, "");
    ck_assert_uint_eq(r.prefix_len, 24);
    size_t n = 0;
    ck_assert_int_eq(geo_db_walk(db, AF_INET, count_nets, &n), 0);
    ck_assert_uint_eq(n, N);
    n = 0;
    ck_assert_int_eq(geo_db_walk(db, AF_INET6, count_nets, &n), 0);
    ck_assert_uint_eq(n, 0);
    geo_db_close(db);
}
END_TEST

/* A database rewritten in place under an open handle (cp over it: the file
 * is cut, then written): lookups past the new end would fault (SIGBUS) in
 * libmaxminddb's shared mapping. They find nothing instead, and the handle
 * says it faulted. */
START_TEST(test_cut_under_open_db)
{
    char src[PATH_MAX], path[PATH_MAX];
    build_fixture(tmp_dir, src, sizeof src);
    path_in(path, sizeof path, tmp_dir, "cut.mmdb");
    FILE *in = fopen(src, "rb"), *out = fopen(path, "wb");
    ck_assert(in && out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
    geo_db_t *db;
    gs_err_t err;
    ck_assert_msg(geo_db_open(path, &db, &err) == 0, "%s", err.text);
    ck_assert(!geo_db_faulted(db));
    ck_assert_int_eq(truncate(path, 0), 0);
    static const char *const addrs[] = {"1.1.1.1", "10.1.2.3", "192.0.2.1", "2001:db8::1",
                                        "8.8.8.8"};
    int found = 0;
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
        struct sockaddr_storage ss;
        geo_result_t r;
        to_sockaddr(addrs[i], &ss);
        found += geo_db_lookup(db, (struct sockaddr *)&ss, &r) == 0;
    }
    ck_assert_int_eq(found, 0);
    ck_assert(geo_db_faulted(db));
    geo_db_close(db);
}
END_TEST

/* --- country table -------------------------------------------------------------- */

START_TEST(test_countries)
{
    static const char *const continents = "AF AN AS EU NA OC SA";
    size_t n = geo_country_count();
    ck_assert_uint_ge(n, 249);
    ck_assert_ptr_null(geo_country_at(n));
    for (size_t i = 0; i < n; i++) {
        const geo_country_t *c = geo_country_at(i);
        if (i > 0)
            ck_assert_int_lt(strcmp(geo_country_at(i - 1)->code, c->code), 0);
        ck_assert_ptr_eq(geo_country_find(c->code), c);
        ck_assert_ptr_nonnull(strstr(continents, c->continent));
        ck_assert(fabs(c->latitude) <= 90 && fabs(c->longitude) <= 180);
    }
    ck_assert_ptr_null(geo_country_find("??"));
    ck_assert_ptr_null(geo_country_find("UK"));
    ck_assert_str_eq(geo_country_find("DE")->continent, "EU");
    ck_assert_str_eq(geo_country_find("BR")->continent, "SA");

    /* The compiled table is exactly geo/data/countries.tsv. */
    char p[PATH_MAX];
    path_in(p, sizeof p, src_dir, "geo/data/countries.tsv");
    FILE *f = fopen(p, "r");
    ck_assert_msg(f != NULL, "cannot open %s", p);
    char line[512];
    size_t rows = 0;
    while (fgets(line, sizeof line, f)) {
        char code[8], cont[8];
        double lat, lon;
        if (line[0] == '#' || sscanf(line, "%7s %7s %lf %lf", code, cont, &lat, &lon) != 4)
            continue;
        const geo_country_t *c = geo_country_find(code);
        ck_assert_msg(c != NULL, "%s missing from the compiled country table", code);
        ck_assert_str_eq(c->continent, cont);
        ck_assert_double_eq(c->latitude, lat);
        ck_assert_double_eq(c->longitude, lon);
        /* the time zone is the tz zone the coordinate comes from */
        char src[64] = "";
        sscanf(line, "%*s %*s %*s %*s %63s", src);
        ck_assert_str_eq(c->time_zone, strncmp(src, "tz:", 3) == 0 ? src + 3 : "");
        rows++;
    }
    fclose(f);
    ck_assert_uint_eq(rows, n);
}
END_TEST

static void setup(void)
{
    make_tmp();
}

static void teardown(void)
{
    rm_tmp();
}

static Suite *geo_suite(void)
{
    Suite *s = suite_create("geo");
    TCase *tc;

    tc = tcase_create("geo_db_lookup");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_lookup_expected);
    tcase_add_test(tc, test_lookup_speed);
    tcase_add_test(tc, test_location_layout);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("geo_db_walk");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_walk_expected);
    tcase_add_test(tc, test_walk_stops);
    suite_add_tcase(s, tc);

    tc = tcase_create("geo_db_open");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_info);
    tcase_add_loop_test(tc, test_refused, 0, sizeof damage_cases / sizeof damage_cases[0]);
    tcase_add_test(tc, test_cut_under_open_db);
    suite_add_tcase(s, tc);

    tc = tcase_create("geo_build_country_db");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_build_bad_input, 0, sizeof bad_inputs / sizeof bad_inputs[0]);
    tcase_add_test(tc, test_build_missing_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("mmdbw");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_writer_types_and_sizes, 0,
                        sizeof writer_cases / sizeof writer_cases[0]);
    tcase_add_test(tc, test_writer_merge_and_overlap);
    tcase_add_test(tc, test_many_records);
    suite_add_tcase(s, tc);

    tc = tcase_create("geo_country");
    tcase_add_test(tc, test_countries);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    find_src_dir();
    return unit_run(geo_suite());
}
