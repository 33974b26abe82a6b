/* Unit tests for common/hstate.c: the health state file shared by the probe
 * (one writer) and geosteerd (many readers). Round trip through a real
 * file, the validation table, rename semantics, the latch at each step of
 * a write (through the test hook), and torn-write tests across processes:
 * a writer child SIGKILLed at random moments and at each step of a write,
 * while the parent checks that every value it reads is whole; files
 * truncated, deleted or replaced by someone else, and no space for a new
 * one: never a SIGBUS, a clear error instead. Each test
 * runs in its own process (check's fork mode) with a fresh directory. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/hstate.h"
#include "common/mem.h"
#include "test/unit/unit.h"

static char dir[64], path[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/gs-unit.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/health", dir);
}

static void teardown(void)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The header checksum, written out independently of hstate.c: FNV-1a 64
 * over the bytes before `check`. */
static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t x = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        x = (x ^ b[i]) * 0x100000001b3ull;
    return x;
}

static void reseal(hstate_header_t *h)
{
    h->check = fnv1a(h, offsetof(hstate_header_t, check));
}

/* A value of entry `i` whose every byte derives from the counter `k`, with
 * a checksum of the whole in checked_ms: any mix of two such values (say
 * bytes 0-47 of one and 48-95 of the other, as the writer copies at the
 * hook) that is not byte-for-byte one of them differs from
 * make_value(its own `results`). Values of one entry written 64 apart (the
 * torn tests) differ in both halves: k mod 26 colours the error's tail. */
static void make_value(uint64_t k, size_t i, hstate_value_t *v)
{
    memset(v, 0, sizeof(*v));
    v->state = (uint8_t)(HSTATE_UP + (k & 1));
    v->last_ok = (uint8_t)(k & 1);
    v->consecutive = (uint16_t)(k * 5);
    v->rtt_us = (uint32_t)k * 7;
    v->since_ms = (int64_t)(k * 3);
    v->results = k;
    int n = snprintf(v->error, sizeof(v->error), "k=%" PRIu64 " i=%zu ", k, i);
    for (int j = n; j < HSTATE_ERROR_LEN - 1; j++)
        v->error[j] = (char)('a' + (k + (uint64_t)j) % 26);
    v->checked_ms = (int64_t)(fnv1a(v, sizeof(*v)) >> 1);
}

/* The atomics of a mapping seen through the const view, as hstate.c does. */
static uint32_t seq_of(const hstate_entry_t *e)
{
    return atomic_load(&((hstate_entry_t *)(uintptr_t)e)->seq);
}

static int64_t heartbeat_real(const hstate_view_t *v)
{
    return atomic_load(&((hstate_header_t *)(uintptr_t)v->h)->heartbeat_real_ms);
}

static bool value_whole(const hstate_value_t *v, size_t i)
{
    hstate_value_t want;
    make_value(v->results, i, &want);
    return memcmp(v, &want, sizeof(want)) == 0;
}

static void write_file(const char *p, const void *data, size_t len)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void *read_file(const char *p, size_t *len)
{
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    *len = (size_t)st.st_size;
    void *data = mem_calloc(1, *len + 8);
    int fd = open(p, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(read(fd, data, *len), (ssize_t)*len);
    close(fd);
    return data;
}

/* ---- round trip ---- */

START_TEST(test_roundtrip)
{
    const uint64_t ids[] = {101, 202, 0xfeedfacecafebeefull};
    hstate_writer_t *w;
    gs_err_t err;
    umask(022);
    int64_t before = hstate_now_real_ms();
    ck_assert_int_eq(hstate_create(path, 42, 500, ids, NULL, 3, &w, &err), 0);
    int64_t after = hstate_now_real_ms();

    /* Renamed into place: only the file itself in the directory, 0644. */
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "test \"$(ls -A '%s')\" = health", dir);
    ck_assert_int_eq(system(cmd), 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0644);
    ck_assert_uint_eq(st.st_size, sizeof(hstate_header_t) + 3 * sizeof(hstate_entry_t));

    hstate_map_t *m;
    ck_assert_int_eq(hstate_map(path, &m, &err), 0);
    ck_assert_uint_eq(m->view.n, 3);
    ck_assert_uint_eq(m->ino, st.st_ino);
    const hstate_header_t *h = m->view.h;
    ck_assert_int_eq(memcmp(h->magic, HSTATE_MAGIC, 8), 0);
    ck_assert_uint_eq(h->layout, HSTATE_LAYOUT);
    ck_assert_uint_eq(h->nentries, 3);
    ck_assert_uint_eq(h->generation, 42);
    ck_assert_int_eq(h->writer_pid, getpid());
    ck_assert_uint_eq(h->heartbeat_ms, 500);
    ck_assert_int_ge(h->writer_start_ms, before);
    ck_assert_int_le(h->writer_start_ms, after);
    ck_assert_uint_eq(h->check, fnv1a(h, offsetof(hstate_header_t, check)));
    for (size_t i = 0; i < 3; i++)
        ck_assert_uint_eq(m->view.e[i].id, ids[i]);

    /* No init: every entry UNKNOWN, never checked. */
    hstate_value_t v;
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(hstate_read(&m->view, i, &v), 0);
        ck_assert_uint_eq(v.state, HSTATE_UNKNOWN);
        ck_assert_uint_eq(v.results, 0);
        ck_assert_int_eq(v.since_ms, 0);
        ck_assert_str_eq(v.error, "");
    }

    hstate_value_t a = {.state = HSTATE_DOWN,
                        .last_ok = 0,
                        .consecutive = 3,
                        .rtt_us = 1500000,
                        .since_ms = 1700000000123,
                        .checked_ms = 1700000004567,
                        .results = 99};
    snprintf(a.error, sizeof(a.error), "connect timeout");
    hstate_value_t b = {.state = HSTATE_UP, .last_ok = 1, .consecutive = 65535, .rtt_us = 812};
    b.results = UINT64_MAX;
    hstate_write(w, 0, &a);
    hstate_write(w, 2, &b);
    ck_assert_int_eq(hstate_read(&m->view, 0, &v), 0);
    ck_assert_uint_eq(v.state, HSTATE_DOWN);
    ck_assert_uint_eq(v.last_ok, 0);
    ck_assert_uint_eq(v.consecutive, 3);
    ck_assert_uint_eq(v.rtt_us, 1500000);
    ck_assert_int_eq(v.since_ms, 1700000000123);
    ck_assert_int_eq(v.checked_ms, 1700000004567);
    ck_assert_uint_eq(v.results, 99);
    ck_assert_str_eq(v.error, "connect timeout");
    ck_assert_int_eq(hstate_read(&m->view, 1, &v), 0);
    ck_assert_uint_eq(v.state, HSTATE_UNKNOWN);
    ck_assert_int_eq(hstate_read(&m->view, 2, &v), 0);
    ck_assert_int_eq(memcmp(&v, &b, sizeof(v)), 0);
    /* The writer reads back what it wrote through its own view. */
    ck_assert_int_eq(hstate_read(hstate_writer_view(w), 0, &v), 0);
    ck_assert_int_eq(memcmp(&v, &a, sizeof(v)), 0);

    /* Rewrites replace the value whole, many times over (both parities). */
    for (uint64_t k = 1; k <= 9; k++) {
        hstate_value_t x;
        make_value(k, 1, &x);
        hstate_write(w, 1, &x);
        ck_assert_int_eq(hstate_read(&m->view, 1, &v), 0);
        ck_assert_int_eq(memcmp(&v, &x, sizeof(v)), 0);
    }
    ck_assert_uint_eq(seq_of(&m->view.e[1]), 18);

    /* A reader never trusts the writer for the invariants it relies on. */
    hstate_value_t bad;
    memset(&bad, 'x', sizeof(bad));
    bad.state = 7;
    hstate_write(w, 2, &bad);
    ck_assert_int_eq(hstate_read(&m->view, 2, &v), 0);
    ck_assert_uint_eq(v.state, HSTATE_UNKNOWN);
    ck_assert_uint_eq(strlen(v.error), HSTATE_ERROR_LEN - 1);

    /* The heartbeat moves on hstate_beat and only then. */
    int64_t hb = hstate_heartbeat(&m->view);
    int64_t hb_real = heartbeat_real(&m->view);
    ck_assert_int_ge(hb_real, before);
    ck_assert_int_le(hb_real, after);
    ck_assert_int_gt(hb, 0);
    ck_assert_int_le(hb, hstate_now_mono_ms());
    sleep_ms(30);
    ck_assert_int_eq(hstate_heartbeat(&m->view), hb);
    hstate_beat(w);
    ck_assert_int_ge(hstate_heartbeat(&m->view), hb + 25);
    ck_assert_int_ge(heartbeat_real(&m->view), hb_real + 25);
    ck_assert_int_eq(hstate_heartbeat(&m->view), hstate_heartbeat(hstate_writer_view(w)));
    /* The heartbeat is outside the checksum: the file stays valid. */
    hstate_map_t *m2;
    ck_assert_int_eq(hstate_map(path, &m2, &err), 0);
    hstate_unmap(m2);

    hstate_writer_close(w);
    /* The file stays after the writer closes, and so does the mapping. */
    ck_assert_int_eq(hstate_read(&m->view, 0, &v), 0);
    ck_assert_str_eq(v.error, "connect timeout");
    hstate_unmap(m);
    hstate_unmap(NULL);
    hstate_writer_close(NULL);
}
END_TEST

START_TEST(test_create_init)
{
    const uint64_t ids[] = {7, 8};
    hstate_value_t init[2];
    make_value(11, 0, &init[0]);
    make_value(12, 1, &init[1]);
    hstate_writer_t *w;
    gs_err_t err;
    ck_assert_int_eq(hstate_create(path, 1, 1000, ids, init, 2, &w, &err), 0);
    hstate_map_t *m;
    ck_assert_int_eq(hstate_map(path, &m, &err), 0);
    hstate_value_t v;
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(hstate_read(&m->view, i, &v), 0);
        ck_assert_int_eq(memcmp(&v, &init[i], sizeof(v)), 0);
        /* Both copies hold the starting value. */
        ck_assert_int_eq(memcmp(&m->view.e[i].copy[0], &init[i], sizeof(v)), 0);
        ck_assert_int_eq(memcmp(&m->view.e[i].copy[1], &init[i], sizeof(v)), 0);
    }
    hstate_unmap(m);
    hstate_writer_close(w);

    /* No checks at all: a header-only file, valid. */
    ck_assert_int_eq(hstate_create(path, 2, 1000, NULL, NULL, 0, &w, &err), 0);
    ck_assert_int_eq(hstate_map(path, &m, &err), 0);
    ck_assert_uint_eq(m->view.n, 0);
    ck_assert_uint_eq(m->len, sizeof(hstate_header_t));
    hstate_unmap(m);
    hstate_writer_close(w);
}
END_TEST

START_TEST(test_create_errors)
{
    hstate_writer_t *w = (hstate_writer_t *)&w;
    gs_err_t err;
    err.text[0] = '\0';
    ck_assert_int_eq(hstate_create(path, 1, 1000, NULL, NULL, HSTATE_MAX_ENTRIES + 1, &w, &err),
                     GS_ETOOBIG);
    ck_assert_ptr_null(w);
    ck_assert_str_ne(err.text, "");

    char p[200];
    snprintf(p, sizeof(p), "%s/no/such/dir/health", dir);
    err.text[0] = '\0';
    ck_assert_int_eq(hstate_create(p, 1, 1000, NULL, NULL, 0, &w, &err), -ENOENT);
    ck_assert_ptr_null(w);
    ck_assert_str_ne(err.text, "");

    char *longp = mem_calloc(1, 5000);
    memset(longp, 'a', 4999);
    ck_assert_int_eq(hstate_create(longp, 1, 1000, NULL, NULL, 0, &w, &err), GS_EINVAL);
    ck_assert_ptr_null(w);
    free(longp);

    /* Renaming over a directory fails; the temporary file is removed. */
    ck_assert_int_eq(mkdir(path, 0755), 0);
    char sub[200];
    snprintf(sub, sizeof(sub), "%s/x", path);
    write_file(sub, "x", 1);
    ck_assert_int_lt(hstate_create(path, 1, 1000, NULL, NULL, 0, &w, &err), 0);
    ck_assert_ptr_null(w);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "test \"$(ls -A '%s')\" = health", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- validation ---- */

typedef struct {
    const char *name;
    void (*mutate)(hstate_header_t *h); /* on a copy of a valid 2-entry file */
    long dlen;                          /* length change */
    const char *view_reason;            /* substring of hstate_view_init's reason */
} bad_case_t;

static void m_zero(hstate_header_t *h)
{
    memset(h, 0, sizeof(*h) + 2 * sizeof(hstate_entry_t));
}
static void m_magic(hstate_header_t *h)
{
    memcpy(h->magic, "GSHEALTX", 8);
    reseal(h);
}
static void m_layout(hstate_header_t *h)
{
    h->layout = HSTATE_LAYOUT + 1;
    reseal(h);
}
static void m_entry_size(hstate_header_t *h)
{
    h->entry_size = sizeof(hstate_entry_t) + 8;
    reseal(h);
}
static void m_header_size(hstate_header_t *h)
{
    h->header_size = 64;
    reseal(h);
}
static void m_check(hstate_header_t *h)
{
    h->generation ^= 1; /* not resealed */
}
static void m_check_field(hstate_header_t *h)
{
    h->check ^= 1ull << 63;
}
static void m_nentries_big(hstate_header_t *h)
{
    h->nentries = HSTATE_MAX_ENTRIES + 1;
    reseal(h);
}
static void m_nentries_more(hstate_header_t *h)
{
    h->nentries = 3;
    reseal(h);
}
static void m_nentries_less(hstate_header_t *h)
{
    h->nentries = 1;
    reseal(h);
}
static void m_none(hstate_header_t *h)
{
    (void)h;
}

static const bad_case_t bad_cases[] = {
    {"zero-filled", m_zero, 0, "bad magic"},
    {"wrong magic", m_magic, 0, "bad magic"},
    {"wrong layout", m_layout, 0, "layout version 2"},
    {"wrong entry_size", m_entry_size, 0, "sizes 128/216"},
    {"wrong header_size", m_header_size, 0, "sizes 64/208"},
    {"header checksum broken", m_check, 0, "checksum"},
    {"check field broken", m_check_field, 0, "checksum"},
    {"nentries too big", m_nentries_big, 0, "65537 entries, more than the limit"},
    {"nentries one more", m_nentries_more, 0, "expected 752 for 3 entries"},
    {"nentries one less", m_nentries_less, 0, "expected 336 for 1 entries"},
    {"one byte short", m_none, -1, "543 bytes, expected 544"},
    {"one byte long", m_none, +1, "545 bytes, expected 544"},
    {"one entry short", m_none, -(long)sizeof(hstate_entry_t), "336 bytes, expected 544"},
    {"header only", m_none, -2 * (long)sizeof(hstate_entry_t), "128 bytes, expected 544"},
    {"truncated header", m_none, -(544 - 127), "shorter than the 128-byte header"},
    {"empty", m_none, -544, "0 bytes, shorter"},
};

START_TEST(test_validation)
{
    const uint64_t ids[] = {1, 2};
    hstate_writer_t *w;
    gs_err_t err;
    ck_assert_int_eq(hstate_create(path, 5, 1000, ids, NULL, 2, &w, &err), 0);
    hstate_writer_close(w);
    size_t len;
    uint64_t *good = read_file(path, &len);
    ck_assert_uint_eq(len, 544);

    /* The positive control: the same bytes in memory are a valid view. */
    hstate_view_t v;
    ck_assert_int_eq(hstate_view_init(&v, good, len, &err), 0);
    ck_assert_uint_eq(v.n, 2);
    ck_assert_ptr_eq(v.h, (void *)good);
    ck_assert_uint_eq(v.e[1].id, 2);

    char bad[160];
    snprintf(bad, sizeof(bad), "%s/bad", dir);
    for (size_t c = 0; c < sizeof(bad_cases) / sizeof(bad_cases[0]); c++) {
        const bad_case_t *t = &bad_cases[c];
        uint64_t *img = mem_calloc(1, len + 16); /* 8-byte aligned, room to grow */
        memcpy(img, good, len);
        t->mutate((hstate_header_t *)img);
        size_t n = (size_t)((long)len + t->dlen);

        memset(&err, 0, sizeof(err));
        memset(&v, 0xa5, sizeof(v));
        int rc = hstate_view_init(&v, img, n, &err);
        ck_assert_msg(rc == GS_EINVAL, "%s: view_init returned %d", t->name, rc);
        ck_assert_msg(strstr(err.text, t->view_reason), "%s: reason '%s', want '%s'", t->name,
                      err.text, t->view_reason);
        ck_assert_ptr_null(v.h); /* nothing half-filled */
        ck_assert_uint_eq(v.n, 0);

        write_file(bad, img, n);
        hstate_map_t *m = (hstate_map_t *)&m;
        memset(&err, 0, sizeof(err));
        rc = hstate_map(bad, &m, &err);
        ck_assert_msg(rc == GS_EINVAL, "%s: map returned %d", t->name, rc);
        ck_assert_ptr_null(m);
        ck_assert_msg(strstr(err.text, bad) == err.text, "%s: reason '%s' without the path",
                      t->name, err.text);
        ck_assert_msg(strlen(err.text) > strlen(bad) + 2, "%s: reason '%s'", t->name, err.text);
        free(img);
    }

    /* Not a regular file, too big to be one, not there at all. */
    hstate_map_t *m = (hstate_map_t *)&m;
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(hstate_map(dir, &m, &err), GS_EINVAL);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(err.text, "not a regular file"));

    int fd = open(bad, O_WRONLY | O_TRUNC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(
        ftruncate(fd, sizeof(hstate_header_t) + HSTATE_MAX_ENTRIES * sizeof(hstate_entry_t) + 1),
        0);
    close(fd);
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(hstate_map(bad, &m, &err), GS_EINVAL);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(err.text, "plausible size"));

    snprintf(bad, sizeof(bad), "%s/missing", dir);
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(hstate_map(bad, &m, &err), -ENOENT);
    ck_assert_ptr_null(m);
    ck_assert_str_ne(err.text, "");

    /* The largest valid file maps. */
    free(good);
    fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    hstate_header_t h;
    ck_assert_int_eq(read(fd, &h, sizeof(h)), (ssize_t)sizeof(h));
    h.nentries = HSTATE_MAX_ENTRIES;
    reseal(&h);
    ck_assert_int_eq(pwrite(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
    ck_assert_int_eq(
        ftruncate(fd, sizeof(hstate_header_t) + HSTATE_MAX_ENTRIES * sizeof(hstate_entry_t)), 0);
    close(fd);
    ck_assert_int_eq(hstate_map(path, &m, &err), 0);
    ck_assert_uint_eq(m->view.n, HSTATE_MAX_ENTRIES);
    hstate_value_t val;
    ck_assert_int_eq(hstate_read(&m->view, HSTATE_MAX_ENTRIES - 1, &val), 0);
    ck_assert_uint_eq(val.state, HSTATE_UNKNOWN);
    hstate_unmap(m);
}
END_TEST

/* ---- rename semantics ---- */

START_TEST(test_rename)
{
    const uint64_t ids1[] = {1, 2}, ids2[] = {3};
    hstate_writer_t *w1, *w2;
    gs_err_t err;
    hstate_value_t a, b, v;
    make_value(10, 1, &a);
    make_value(20, 0, &b);
    ck_assert_int_eq(hstate_create(path, 1, 1000, ids1, NULL, 2, &w1, &err), 0);
    hstate_write(w1, 1, &a);
    hstate_map_t *m1;
    ck_assert_int_eq(hstate_map(path, &m1, &err), 0);

    /* A new file replaces the old one under the path (a new probe). */
    ck_assert_int_eq(hstate_create(path, 2, 1000, ids2, NULL, 1, &w2, &err), 0);
    hstate_write(w2, 0, &b);

    /* The old mapping still reads the old file, whole and unchanged. */
    ck_assert_uint_eq(m1->view.h->generation, 1);
    ck_assert_uint_eq(m1->view.n, 2);
    ck_assert_uint_eq(m1->view.e[0].id, 1);
    ck_assert_uint_eq(m1->view.e[1].id, 2);
    ck_assert_int_eq(hstate_read(&m1->view, 1, &v), 0);
    ck_assert_int_eq(memcmp(&v, &a, sizeof(v)), 0);
    ck_assert_int_eq(hstate_read(&m1->view, 0, &v), 0);
    ck_assert_uint_eq(v.state, HSTATE_UNKNOWN);

    /* A new mapping sees the new file: another inode. */
    hstate_map_t *m2;
    ck_assert_int_eq(hstate_map(path, &m2, &err), 0);
    ck_assert_uint_eq(m2->view.h->generation, 2);
    ck_assert_uint_eq(m2->view.n, 1);
    ck_assert_uint_eq(m2->view.e[0].id, 3);
    ck_assert(m2->ino != m1->ino || m2->dev != m1->dev);
    ck_assert_int_eq(hstate_read(&m2->view, 0, &v), 0);
    ck_assert_int_eq(memcmp(&v, &b, sizeof(v)), 0);

    /* The old writer still writes into the old (unlinked) file; its
     * readers see that, the new file's readers do not. */
    make_value(11, 1, &a);
    hstate_write(w1, 1, &a);
    ck_assert_int_eq(hstate_read(&m1->view, 1, &v), 0);
    ck_assert_int_eq(memcmp(&v, &a, sizeof(v)), 0);
    ck_assert_int_eq(hstate_read(&m2->view, 0, &v), 0);
    ck_assert_int_eq(memcmp(&v, &b, sizeof(v)), 0);

    /* Writers gone, path gone: both mappings still read. */
    hstate_writer_close(w1);
    hstate_writer_close(w2);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(hstate_read(&m1->view, 1, &v), 0);
    ck_assert_int_eq(memcmp(&v, &a, sizeof(v)), 0);
    ck_assert_int_eq(hstate_read(&m2->view, 0, &v), 0);
    ck_assert_int_eq(memcmp(&v, &b, sizeof(v)), 0);
    hstate_map_t *m3 = (hstate_map_t *)&m3;
    ck_assert_int_eq(hstate_map(path, &m3, &err), -ENOENT);
    ck_assert_ptr_null(m3);
    hstate_unmap(m1);
    hstate_unmap(m2);
}
END_TEST

/* ---- the latch at each step of a write ---- */

typedef struct {
    const hstate_view_t *view; /* a reader's mapping of the file */
    size_t i;
    hstate_value_t old, new;
    int steps;
} hook_ctx_t;

static void check_hook(int step, void *arg)
{
    hook_ctx_t *c = arg;
    const hstate_entry_t *e = &c->view->e[c->i];
    uint32_t seq = seq_of(e);
    hstate_value_t v;
    ck_assert_int_eq(hstate_read(c->view, c->i, &v), 0);
    if (step == 1) {
        /* Copy 0 is half written: the reader must be on copy 1, old. */
        ck_assert_uint_eq(seq & 1, 1);
        ck_assert_int_ne(memcmp(&e->copy[0], &c->old, sizeof(v)), 0);
        ck_assert_int_ne(memcmp(&e->copy[0], &c->new, sizeof(v)), 0);
        ck_assert_msg(memcmp(&v, &c->old, sizeof(v)) == 0, "step 1 read k=%" PRIu64, v.results);
    } else {
        ck_assert_int_eq(step, 2);
        ck_assert_uint_eq(seq & 1, 0);
        ck_assert_int_ne(memcmp(&e->copy[1], &c->old, sizeof(v)), 0);
        ck_assert_int_ne(memcmp(&e->copy[1], &c->new, sizeof(v)), 0);
        ck_assert_msg(memcmp(&v, &c->new, sizeof(v)) == 0, "step 2 read k=%" PRIu64, v.results);
    }
    /* The neighbours are untouched. */
    for (size_t j = 0; j < c->view->n; j++) {
        if (j == c->i)
            continue;
        ck_assert_int_eq(hstate_read(c->view, j, &v), 0);
        ck_assert(value_whole(&v, j));
        ck_assert_uint_eq(v.results, 1);
    }
    c->steps = c->steps * 10 + step;
}

START_TEST(test_hook)
{
    const uint64_t ids[] = {1, 2, 3, 4};
    hstate_value_t init[4];
    for (size_t i = 0; i < 4; i++)
        make_value(1, i, &init[i]);
    hstate_writer_t *w;
    gs_err_t err;
    ck_assert_int_eq(hstate_create(path, 1, 1000, ids, init, 4, &w, &err), 0);
    hstate_map_t *m;
    ck_assert_int_eq(hstate_map(path, &m, &err), 0);

    /* Several writes to one entry, through both the reader's mapping and
     * the writer's own view, so the hook sees both parities of `seq`. */
    hook_ctx_t c = {.i = 2};
    c.old = init[2];
    for (uint64_t k = 2; k < 8; k++) {
        c.view = k & 1 ? hstate_writer_view(w) : &m->view;
        make_value(k, 2, &c.new);
        c.steps = 0;
        hstate_write_hooked(w, 2, &c.new, check_hook, &c);
        ck_assert_int_eq(c.steps, 12);
        hstate_value_t v;
        ck_assert_int_eq(hstate_read(&m->view, 2, &v), 0);
        ck_assert_int_eq(memcmp(&v, &c.new, sizeof(v)), 0);
        ck_assert_int_eq(memcmp(&m->view.e[2].copy[0], &c.new, sizeof(v)), 0);
        ck_assert_int_eq(memcmp(&m->view.e[2].copy[1], &c.new, sizeof(v)), 0);
        c.old = c.new;
    }
    ck_assert_uint_eq(seq_of(&m->view.e[2]), 12);
    hstate_unmap(m);
    hstate_writer_close(w);
}
END_TEST

/* ---- torn writes across processes ---- */

#define TORN_N 64

typedef struct {
    uint64_t reads, mixed, backwards, conflicts, conflicts_dead, unstable;
    char first_mixed[200];
} torn_stats_t;

/* Reads every entry once; checks each value whole and not older than the
 * last one seen. Returns how many entries changed since the last pass. */
static size_t read_pass(const hstate_view_t *v, uint64_t *last, hstate_value_t *snap,
                        torn_stats_t *s, bool writer_dead)
{
    size_t changed = 0;
    for (size_t i = 0; i < v->n; i++) {
        hstate_value_t x;
        s->reads++;
        if (hstate_read(v, i, &x) != 0) {
            s->conflicts++;
            s->conflicts_dead += writer_dead;
            continue;
        }
        if (!value_whole(&x, i)) {
            if (!s->mixed++)
                snprintf(s->first_mixed, sizeof(s->first_mixed),
                         "entry %zu: results=%" PRIu64 " rtt_us=%u since_ms=%" PRId64
                         " error='%.40s'",
                         i, x.results, x.rtt_us, x.since_ms, x.error);
            continue;
        }
        if (x.results < last[i])
            s->backwards++;
        last[i] = x.results;
        if (snap) {
            changed += memcmp(&snap[i], &x, sizeof(x)) != 0;
            snap[i] = x;
        }
    }
    return changed;
}

/* The writer: the probe, as a child process. Creates the file (a new probe
 * makes a new file) and writes forever, entry k % TORN_N taking value k. */
static void torn_writer(uint64_t generation)
{
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(2);
    uint64_t ids[TORN_N];
    hstate_value_t init[TORN_N];
    for (size_t i = 0; i < TORN_N; i++) {
        ids[i] = 1000 + i;
        make_value(0, i, &init[i]);
    }
    hstate_writer_t *w;
    gs_err_t err;
    if (hstate_create(path, generation, 100, ids, init, TORN_N, &w, &err) != 0)
        _exit(3);
    for (uint64_t k = TORN_N;; k++) {
        hstate_value_t v;
        make_value(k, k % TORN_N, &v);
        hstate_write(w, k % TORN_N, &v);
        if (k % TORN_N == 0)
            hstate_beat(w);
    }
}

static hstate_map_t *wait_for_generation(uint64_t generation)
{
    int64_t until = hstate_now_mono_ms() + 10000;
    while (hstate_now_mono_ms() < until) {
        hstate_map_t *m;
        gs_err_t err;
        if (hstate_map(path, &m, &err) == 0) {
            if (m->view.h->generation == generation)
                return m;
            hstate_unmap(m);
        }
        sleep_ms(1);
    }
    return NULL;
}

START_TEST(test_torn_random)
{
    enum { ROUNDS = 30 };
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid() << 8;
    srand(seed);
    torn_stats_t s = {0};
    uint64_t writes = 0;
    int64_t t0 = hstate_now_mono_ms();
    hstate_map_t *prev = NULL;
    uint64_t prev_last[TORN_N] = {0};
    hstate_value_t prev_snap[TORN_N];
    for (int round = 1; round <= ROUNDS; round++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            torn_writer((uint64_t)round);
        hstate_map_t *m = wait_for_generation((uint64_t)round);
        if (!m)
            kill(pid, SIGKILL);
        ck_assert_msg(m, "round %d: the writer never published its file", round);
        ck_assert_uint_eq(m->view.n, TORN_N);
        ck_assert_int_eq(m->view.h->writer_pid, pid);

        /* Read while the writer runs, then kill it at a random moment. */
        uint64_t last[TORN_N] = {0};
        int64_t kill_at = hstate_now_mono_ms() + 20 + rand() % 181;
        while (hstate_now_mono_ms() < kill_at) {
            read_pass(&m->view, last, NULL, &s, false);
            if (prev)
                read_pass(&prev->view, prev_last, NULL, &s, true);
        }
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        int st;
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

        /* Writer dead: every read succeeds at once, whole, and stays put. */
        hstate_value_t snap[TORN_N];
        memset(snap, 0, sizeof(snap));
        read_pass(&m->view, last, snap, &s, true);
        uint64_t kmax = 0;
        for (size_t i = 0; i < TORN_N; i++)
            kmax = last[i] > kmax ? last[i] : kmax;
        writes += kmax >= TORN_N ? kmax - TORN_N + 1 : 0;
        int64_t hb = hstate_heartbeat(&m->view);
        for (int pass = 0; pass < 200; pass++) {
            s.unstable += read_pass(&m->view, last, snap, &s, true);
            ck_assert_int_eq(hstate_heartbeat(&m->view), hb);
        }
        /* The previous round's file, abandoned long ago, too. */
        if (prev) {
            s.unstable += read_pass(&prev->view, prev_last, prev_snap, &s, true);
            hstate_unmap(prev);
        }
        prev = m;
        memcpy(prev_last, last, sizeof(last));
        memcpy(prev_snap, snap, sizeof(snap));
        if (s.mixed)
            break;
    }
    hstate_unmap(prev);
    int64_t ms = hstate_now_mono_ms() - t0;
    printf("hstate torn (random kills): seed %u, %d rounds, %" PRIu64 " reads, ~%" PRIu64
           " writes, %" PRIu64 " mixed, %" PRIu64 " backwards, %" PRIu64
           " conflicts (writer alive), %" PRIu64 " unstable, %" PRId64 " ms\n",
           seed, ROUNDS, s.reads, writes, s.mixed, s.backwards, s.conflicts - s.conflicts_dead,
           s.unstable, ms);
    fflush(stdout);
    ck_assert_msg(s.mixed == 0, "%" PRIu64 " mixed values read; first: %s", s.mixed, s.first_mixed);
    ck_assert_uint_eq(s.backwards, 0);
    ck_assert_uint_eq(s.conflicts_dead, 0);
    ck_assert_uint_eq(s.unstable, 0);
    ck_assert_uint_gt(s.reads, 100000);
}
END_TEST

static void kill_hook(int step, void *arg)
{
    if (step == *(int *)arg)
        raise(SIGKILL);
}

/* A writer killed at step 1 or 2 of a write (by its own hook): the reader
 * gets the old value at step 1, the new one at step 2, never the torn copy
 * the writer left behind. */
START_TEST(test_torn_killed_at_step)
{
    const size_t J = 17;
    torn_stats_t s = {0};
    for (int step = 1; step <= 2; step++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            uint64_t ids[TORN_N];
            for (size_t i = 0; i < TORN_N; i++)
                ids[i] = 1000 + i;
            hstate_writer_t *w;
            gs_err_t err;
            if (hstate_create(path, (uint64_t)step, 100, ids, NULL, TORN_N, &w, &err) != 0)
                _exit(3);
            /* Several full writes first, so `seq` is well past its start. */
            for (uint64_t k = 1; k <= 100; k++) {
                for (size_t i = 0; i < TORN_N; i++) {
                    hstate_value_t v;
                    make_value(k, i, &v);
                    hstate_write(w, i, &v);
                }
            }
            hstate_value_t v;
            make_value(200, J, &v);
            hstate_write_hooked(w, J, &v, kill_hook, &step);
            _exit(4); /* not reached */
        }
        int st;
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "writer exit status %#x", st);

        hstate_map_t *m;
        gs_err_t err;
        ck_assert_int_eq(hstate_map(path, &m, &err), 0);
        ck_assert_uint_eq(m->view.h->generation, (uint64_t)step);
        /* The state the writer died in: counter parity and the torn copy. */
        const hstate_entry_t *e = &m->view.e[J];
        hstate_value_t old, new;
        make_value(100, J, &old);
        make_value(200, J, &new);
        uint32_t seq = seq_of(e);
        ck_assert_uint_eq(seq, 200 + (unsigned)step); /* 100 writes, 2 steps each */
        const hstate_value_t *torn = &e->copy[step == 1 ? 0 : 1];
        ck_assert_int_ne(memcmp(torn, &old, sizeof(old)), 0);
        ck_assert_int_ne(memcmp(torn, &new, sizeof(new)), 0);
        ck_assert(!value_whole(torn, J));

        uint64_t last[TORN_N] = {0};
        hstate_value_t snap[TORN_N];
        memset(snap, 0, sizeof(snap));
        read_pass(&m->view, last, snap, &s, true);
        for (int pass = 0; pass < 1000; pass++)
            s.unstable += read_pass(&m->view, last, snap, &s, true);
        ck_assert_msg(s.mixed == 0, "step %d: %s", step, s.first_mixed);
        for (size_t i = 0; i < TORN_N; i++)
            ck_assert_uint_eq(last[i], i == J ? (step == 1 ? 100 : 200) : 100);
        hstate_unmap(m);
    }
    printf("hstate torn (killed at steps 1 and 2): %" PRIu64 " reads, %" PRIu64 " mixed\n", s.reads,
           s.mixed);
    fflush(stdout);
    ck_assert_uint_eq(s.conflicts, 0);
    ck_assert_uint_eq(s.unstable, 0);
    ck_assert_uint_eq(s.backwards, 0);
}
END_TEST

/* ---- files changed by someone else ---- */

/* A file of `n` entries (several pages), every value make_value(100 + i). */
static hstate_writer_t *make_pages(size_t n)
{
    uint64_t *ids = mem_calloc(n, sizeof(*ids));
    hstate_value_t *init = mem_calloc(n, sizeof(*init));
    for (size_t i = 0; i < n; i++) {
        ids[i] = 1000 + i;
        make_value(100 + i, i, &init[i]);
    }
    hstate_writer_t *w;
    gs_err_t err;
    ck_assert_int_eq(hstate_create(path, 5, 1000, ids, init, n, &w, &err), 0);
    free(ids);
    free(init);
    return w;
}

/* Truncated in place under a reader and the writer: no SIGBUS. Entries
 * still in the file read as before, the rest as UNKNOWN zeros once a page
 * faulted; both sides learn of it. */
START_TEST(test_truncated_in_place)
{
    const size_t n = 100; /* 20,928 bytes: 6 pages */
    hstate_writer_t *w = make_pages(n);
    hstate_map_t *m;
    gs_err_t err;
    ck_assert_int_eq(hstate_map(path, &m, &err), 0);
    hstate_value_t v;
    ck_assert_int_eq(hstate_read(&m->view, n - 1, &v), 0);
    ck_assert(value_whole(&v, n - 1));
    ck_assert(!hstate_map_faulted(m));
    ck_assert_int_eq(hstate_writer_check(w, &err), 0);

    /* Keep the first page: entries wholly in it still read from the file. */
    ck_assert_int_eq(truncate(path, 4096), 0);
    ck_assert_int_eq(hstate_read(&m->view, 0, &v), 0);
    ck_assert(value_whole(&v, 0));
    ck_assert(!hstate_map_faulted(m));
    /* Beyond the new end: a fault, handled; the mapping reads zeros. */
    ck_assert_int_eq(hstate_read(&m->view, n - 1, &v), 0);
    ck_assert_int_eq(v.state, HSTATE_UNKNOWN);
    ck_assert_uint_eq(v.results, 0);
    ck_assert(hstate_map_faulted(m));
    ck_assert_int_eq(hstate_heartbeat(&m->view), 0);
    ck_assert_int_eq(hstate_read(&m->view, 0, &v), 0);
    ck_assert_int_eq(v.state, HSTATE_UNKNOWN);

    /* The writer: size changed in place, seen before any write faults. */
    err.text[0] = '\0';
    ck_assert_int_eq(hstate_writer_check(w, &err), GS_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.text, "changed size in place"));
    /* Truncated to nothing: its writes fault, are absorbed, and say so. */
    ck_assert_int_eq(truncate(path, 0), 0);
    make_value(7, n - 1, &v);
    hstate_write(w, n - 1, &v);
    hstate_beat(w);
    ck_assert_int_eq(hstate_writer_check(w, &err), GS_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.text, "truncated under the writer"));
    hstate_unmap(m);
    hstate_writer_close(w);

    /* A new mapping of the emptied file is refused, not faulted on. */
    ck_assert_int_eq(hstate_map(path, &m, &err), GS_EINVAL);
}
END_TEST

/* The writer notices a deleted, a replaced and an extended file. */
START_TEST(test_writer_check)
{
    hstate_writer_t *w = make_pages(3);
    gs_err_t err;
    ck_assert_int_eq(hstate_writer_check(w, &err), 0);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(hstate_writer_check(w, &err), GS_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.text, "was deleted"));
    hstate_writer_close(w);

    w = make_pages(3);
    char other[160];
    snprintf(other, sizeof(other), "%s/other", dir);
    size_t len;
    void *copy = read_file(path, &len);
    write_file(other, copy, len);
    free(copy);
    ck_assert_int_eq(rename(other, path), 0);
    ck_assert_int_eq(hstate_writer_check(w, &err), GS_ECONFLICT);
    ck_assert_ptr_nonnull(strstr(err.text, "replaced by another file"));
    hstate_writer_close(w);

    w = make_pages(3);
    ck_assert_int_eq(truncate(path, 8192), 0);
    ck_assert_int_eq(hstate_writer_check(w, &err), GS_EINVAL);
    hstate_writer_close(w);
}
END_TEST

/* The guard handles only state-file mappings: any other SIGBUS still
 * kills the process as before (sent, and a fault on another mapping). */
START_TEST(test_foreign_sigbus)
{
    for (int how = 0; how < 2; how++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            /* The default disposition comes first, so that the guard's
             * "previous disposition" is to die (not a sanitizer's handler,
             * which would report this intended fault as a finding). */
            signal(SIGBUS, SIG_DFL);
            hstate_writer_t *w = make_pages(3); /* installs the handler */
            hstate_map_t *m;
            gs_err_t err;
            if (hstate_map(path, &m, &err) != 0)
                _exit(2);
            if (how == 0) {
                raise(SIGBUS);
                _exit(3);
            }
            char other[160];
            snprintf(other, sizeof(other), "%s/other", dir);
            write_file(other, "12345678", 8);
            int fd = open(other, O_RDONLY);
            volatile char *p = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
            if (p == MAP_FAILED)
                _exit(4);
            char c = p[5000]; /* beyond the end of the file */
            (void)c;
            hstate_writer_close(w);
            _exit(5);
        }
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS,
                      "how %d: status 0x%x, expected death by SIGBUS", how, status);
    }
}
END_TEST

/* Runs hstate_create of 200 entries in a child after `prepare` (which
 * returns 77 to skip) and returns its exit status (0: failed cleanly with
 * `want` and a reason). */
static int create_in_child(int (*prepare)(void), int want)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int rc = prepare();
        if (rc)
            _exit(rc);
        uint64_t ids[200];
        for (size_t i = 0; i < 200; i++)
            ids[i] = i + 1;
        hstate_writer_t *w;
        gs_err_t err;
        err.text[0] = '\0';
        rc = hstate_create(path, 1, 1000, ids, NULL, 200, &w, &err);
        fprintf(stderr, "hstate_create: %d (%s)\n", rc, err.text);
        _exit(rc == want && strstr(err.text, "cannot reserve") ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status), "child died of signal %d (status 0x%x)",
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0, status);
    return WEXITSTATUS(status);
}

/* A full file system: a private tmpfs of 64 KiB filled up (needs mount
 * rights in a new mount namespace; skipped loudly without them). */
static int prepare_full_fs(void)
{
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("gs-unit", dir, "tmpfs", 0, "size=64k") != 0) {
        fprintf(stderr, "SKIP: full file system case: no tmpfs mount in a private namespace: %s\n",
                strerror(errno));
        return 77;
    }
    char fill[160];
    snprintf(fill, sizeof(fill), "%s/fill", dir);
    int fd = open(fill, O_WRONLY | O_CREAT, 0644);
    char block[4096];
    memset(block, 'x', sizeof(block));
    while (fd >= 0 && write(fd, block, sizeof(block)) > 0)
        ;
    if (fd >= 0)
        close(fd);
    return 0;
}

/* A file size limit below the file's size (SIGXFSZ ignored). */
static int prepare_fsize(void)
{
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {.rlim_cur = 4096, .rlim_max = 4096};
    return setrlimit(RLIMIT_FSIZE, &rl) == 0 ? 0 : 2;
}

/* No space for the file: a clear error from hstate_create, never a SIGBUS
 * at the first store into a mapping with no blocks behind it. */
START_TEST(test_create_no_space)
{
    int rc = create_in_child(prepare_full_fs, -ENOSPC);
    if (rc == 77) {
        printf("SKIP: test_create_no_space full-file-system case (no mount rights)\n");
        fflush(stdout);
    } else {
        ck_assert_int_eq(rc, 0);
    }
    ck_assert_int_eq(create_in_child(prepare_fsize, -EFBIG), 0);
    /* Nothing left behind in the (real) directory. */
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s')\"", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hstate");
    TCase *tc = tcase_create("file");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_create_init);
    tcase_add_test(tc, test_create_errors);
    tcase_add_test(tc, test_validation);
    tcase_add_test(tc, test_rename);
    tcase_add_test(tc, test_hook);
    tcase_add_test(tc, test_truncated_in_place);
    tcase_add_test(tc, test_writer_check);
    tcase_add_test(tc, test_foreign_sigbus);
    tcase_add_test(tc, test_create_no_space);
    suite_add_tcase(s, tc);

    tc = tcase_create("torn");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_torn_random);
    tcase_add_test(tc, test_torn_killed_at_step);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
