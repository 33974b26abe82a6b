/* Unit tests for backend/zones/store.c and backend/daemon/state.c: schema handling,
 * zone lifecycle, atomic commits and the cross-record rules. Each test runs
 * in its own process (check's fork mode) with a fresh store file. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/dns/dname.h"
#include "backend/protocol/rb.h"
#include "backend/zones/snap.h"
#include "backend/daemon/state.h"
#include "backend/zones/records.h"
#include "backend/zones/store.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "test/unit/unit.h"

static char dir[64], db[128];

static void setup(void)
{
    log_set_level(LOG_WARNING);
    snprintf(dir, sizeof(dir), "/tmp/gs-unit.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(db, sizeof(db), "%s/zones.db", dir);
}

static void teardown(void)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static int64_t create(const char *zone)
{
    state_zone_opts_t o;
    state_zone_opts_default(&o);
    const char *ns[] = {"ns1.z."};
    o.ns = ns;
    o.nns = 1;
    o.serial = 5;
    int64_t id;
    gs_err_t err;
    ck_assert_int_eq(state_zone_create(zone, &o, &id, &err), 0);
    return id;
}

static const zone_t *zone_now(int64_t id)
{
    return snap_zone_by_id(snap_current(), id);
}

static trx_op_t op_new(bool feed, const char *name, const char *type, const char *content)
{
    trx_op_t op = {
        .feed = feed, .name = mem_strdup(name), .type = rr_type_find(type, strlen(type))};
    if (content) {
        op.recs = mem_calloc(1, sizeof(trx_rec_t));
        op.recs[0] = (trx_rec_t){op.type, mem_strdup(content), 60, NULL};
        op.nrecs = 1;
    }
    return op;
}

START_TEST(test_schema_and_reopen)
{
    gs_err_t err;
    ck_assert_int_eq(state_open(db, &err), 0);
    int64_t a = create("a.test.");
    state_close();
    ck_assert_int_eq(state_open(db, &err), 0);
    ck_assert_ptr_nonnull(zone_now(a));
    ck_assert_uint_eq(zone_now(a)->serial, 5);
    ck_assert_uint_eq(zone_now(a)->nrecords, 2);
    state_close();

    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    char *mode = NULL;
    sqlite3_stmt *st;
    sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    mode = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    ck_assert_str_eq(mode, "wal");
    free(mode);
    sqlite3_exec(h, "PRAGMA user_version=99", NULL, NULL, NULL);
    sqlite3_close(h);
    ck_assert_int_eq(state_open(db, &err), GS_ESCHEMA);
    ck_assert_ptr_nonnull(strstr(err.text, "schema version 99"));
}
END_TEST

START_TEST(test_not_a_store)
{
    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_exec(h, "CREATE TABLE other(x)", NULL, NULL, NULL);
    sqlite3_close(h);
    gs_err_t err;
    ck_assert_int_eq(state_open(db, &err), GS_ESCHEMA);
    FILE *f = fopen(db, "w");
    fputs("garbage that is not sqlite at all, long enough to be a header......", f);
    fclose(f);
    ck_assert_int_lt(state_open(db, &err), 0);
}
END_TEST

/* Returns the whole content of `path` (owned) and its size in *len. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    buf_t b;
    buf_init(&b);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        buf_put(&b, tmp, n);
    fclose(f);
    *len = b.len;
    return buf_take(&b);
}

/* Makes `db` an SQLite file in rollback-journal mode holding `sql`. */
static void make_sqlite(const char *sql)
{
    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
}

/* A file that is not a store of a supported version is refused before
 * anything is written to it: no switch to WAL, no schema upgrade. */
START_TEST(test_refused_file_untouched)
{
    static const char *const files[] = {
        /* foreign: tables of another program */
        "CREATE TABLE other(x); INSERT INTO other VALUES(1);",
        /* a newer geosteer store */
        "CREATE TABLE zones(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,"
        " created INTEGER NOT NULL); PRAGMA user_version=5;",
        /* foreign, but with user_version 1 (would be "upgraded" to 2) */
        "CREATE TABLE other(x); PRAGMA user_version=1;",
        /* version 1 with a foreign table of the same name */
        "CREATE TABLE zones(a, b); CREATE TABLE records(c); CREATE TABLE metadata(d);"
        " PRAGMA user_version=1;",
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        unlink(db);
        make_sqlite(files[i]);
        size_t before_len, after_len;
        char *before = slurp(db, &before_len);
        gs_err_t err;
        ck_assert_int_eq(state_open(db, &err), GS_ESCHEMA);
        ck_assert_ptr_nonnull(strstr(err.text, db));
        char *after = slurp(db, &after_len);
        ck_assert_msg(before_len == after_len && memcmp(before, after, before_len) == 0,
                      "file %zu changed by a refused open", i);
        free(before);
        free(after);
        char wal[160];
        snprintf(wal, sizeof(wal), "%s-wal", db);
        ck_assert_int_ne(access(wal, F_OK), 0);
    }
}
END_TEST

/* The tables versions 2 and 3 of the store share besides `zones`. */
#define OLD_TABLES                                                                                 \
    "CREATE TABLE records (id INTEGER PRIMARY KEY, zone_id INTEGER NOT NULL"                       \
    " REFERENCES zones(id) ON DELETE CASCADE, name TEXT NOT NULL, type TEXT NOT NULL,"             \
    " content TEXT NOT NULL, ttl INTEGER NOT NULL);"                                               \
    "CREATE TABLE metadata (id INTEGER PRIMARY KEY, zone_id INTEGER NOT NULL"                      \
    " REFERENCES zones(id) ON DELETE CASCADE, kind TEXT NOT NULL, value TEXT NOT NULL);"           \
    "CREATE TABLE overrides (endpoint TEXT PRIMARY KEY, state TEXT NOT NULL,"                      \
    " until INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);"

/* A version-2 store (before zone kinds) is upgraded in place: its zones
 * and records stay, each zone is native, and a version-3 file is read
 * again as it is. */
START_TEST(test_upgrade_v2)
{
    make_sqlite("CREATE TABLE zones (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " name TEXT NOT NULL UNIQUE, created INTEGER NOT NULL);" OLD_TABLES
                "INSERT INTO zones VALUES (1, 'old.test.', 0);"
                "INSERT INTO records VALUES (1, 1, 'old.test.', 'SOA',"
                " 'ns1.old.test hostmaster.old.test 9 1 1 1 1', 60);"
                "PRAGMA user_version=2;");
    gs_err_t err;
    ck_assert_int_eq(state_open(db, &err), 0);
    const zone_t *z = zone_now(1);
    ck_assert_ptr_nonnull(z);
    ck_assert_uint_eq(z->serial, 9);
    ck_assert_int_eq(z->kind, STORE_KIND_NATIVE);
    ck_assert_int_eq(state_zone_set_kind("old.test.", STORE_KIND_PRIMARY, &err), 0);
    state_zone_notified((zone_t *)(uintptr_t)zone_now(1), 9);
    state_close();
    /* Kind and notified serial survive a restart. */
    ck_assert_int_eq(state_open(db, &err), 0);
    z = zone_now(1);
    ck_assert_int_eq(z->kind, STORE_KIND_PRIMARY);
    ck_assert_uint_eq(z->notified_serial, 9);
    state_close();
    sqlite3 *h;
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(st, 0), STORE_SCHEMA_VERSION);
    sqlite3_finalize(st);
    sqlite3_close(h);
}
END_TEST

/* A version-3 store (zone kinds, no secondary side) is upgraded in place
 * to 4: kinds and notified serials stay, autoprimaries can be added. */
START_TEST(test_upgrade_v3)
{
    make_sqlite("CREATE TABLE zones (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " name TEXT NOT NULL UNIQUE, created INTEGER NOT NULL,"
                " kind TEXT NOT NULL DEFAULT 'native', notified_serial INTEGER NOT NULL DEFAULT 0,"
                " masters TEXT NOT NULL DEFAULT '');" OLD_TABLES
                "INSERT INTO zones VALUES (1, 'p.test.', 0, 'primary', 9, '');"
                "INSERT INTO records VALUES (1, 1, 'p.test.', 'SOA',"
                " 'ns1.p.test hostmaster.p.test 9 1 1 1 1', 60);"
                "PRAGMA user_version=3;");
    gs_err_t err;
    ck_assert_int_eq(state_open(db, &err), 0);
    const zone_t *z = zone_now(1);
    ck_assert_ptr_nonnull(z);
    ck_assert_int_eq(z->kind, STORE_KIND_PRIMARY);
    ck_assert_uint_eq(z->notified_serial, 9);
    ck_assert_int_eq(state_autoprimary_add("192.0.2.1", "ns1.p.test.", "", &err), 0);
    state_close();
}
END_TEST

/* A secondary zone starts empty with its primaries; setFresh starts its
 * SOA expire clock, which survives a restart; an expired zone says so. */
START_TEST(test_secondary_expiry)
{
    gs_err_t err;
    ck_assert_int_eq(state_open(db, &err), 0);
    buf_t m;
    buf_init(&m);
    ck_assert_int_eq(state_masters_canon("192.0.2.1:53, [2001:db8::1]:5300 ::1", &m, &err), 0);
    ck_assert_str_eq(m.data, "192.0.2.1 [2001:db8::1]:5300 ::1");
    ck_assert_int_eq(state_masters_canon("192.0.2.1:99999", &m, &err), GS_EINVAL);
    ck_assert_int_eq(state_masters_canon("[::1]", &m, &err), GS_EINVAL);
    ck_assert_int_eq(state_masters_canon(" ", &m, &err), GS_EINVAL);
    ck_assert_int_eq(state_masters_canon("192.0.2.1", &m, &err), 0);
    state_zone_opts_t o;
    state_zone_opts_default(&o);
    o.kind = STORE_KIND_SECONDARY;
    o.masters = m.data;
    int64_t id;
    ck_assert_int_eq(state_zone_create("s.test.", &o, &id, &err), 0);
    const zone_t *z = zone_now(id);
    ck_assert_uint_eq(z->nrecords, 0);
    ck_assert_str_eq(z->masters, "192.0.2.1");
    ck_assert(!state_zone_expired(z, (int64_t)time(NULL) + 100000000)); /* no SOA yet */
    /* a transfer: a whole-zone transaction with an SOA, expire 100 s */
    trx_t t = {0};
    trx_begin(&t, id, 1, true);
    trx_op_t op = op_new(true, "s.test.", "SOA", "ns1.s.test hostmaster.s.test 3 60 30 100 60");
    ck_assert_int_eq(trx_add_take(&t, &op, &err), 0);
    ck_assert_int_eq(state_commit(&t, &err), 0);
    trx_clear(&t);
    state_zone_fresh((zone_t *)(uintptr_t)zone_now(id));
    int64_t now = (int64_t)time(NULL);
    z = zone_now(id);
    ck_assert_uint_eq(z->serial, 3);
    ck_assert(!state_zone_expired(z, now + 100));
    ck_assert(state_zone_expired(z, now + 101));
    state_repl_info_t ri;
    ck_assert(state_repl_info(id, &ri));
    ck_assert(ri.xfr_ok);
    ck_assert_uint_eq(ri.xfr_serial, 3);
    ck_assert_int_ge(ri.checked_at, now - 1);
    state_close();
    ck_assert_int_eq(state_open(db, &err), 0);
    z = zone_now(id);
    ck_assert(state_zone_expired(z, now + 101)); /* the clock was kept */
    ck_assert(!state_zone_expired(z, now + 99));
    ck_assert(!state_repl_info(id, &ri)); /* due for a check after a restart */
    buf_free(&m);
    state_close();
}
END_TEST

/* Each zone keeps its own replication state, whatever the order the zones
 * were first seen in, and a deleted zone's state goes with it. */
START_TEST(test_repl_state_per_zone)
{
    gs_err_t err;
    ck_assert_int_eq(state_open(db, &err), 0);
    int64_t id[5];
    char name[16];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "z%d.", i);
        id[i] = create(name);
    }
    static const int order[] = {3, 0, 4, 1, 2};
    for (int k = 0; k < 5; k++)
        state_zone_notified((zone_t *)(uintptr_t)zone_now(id[order[k]]), 100 + (uint32_t)order[k]);
    state_zone_fresh((zone_t *)(uintptr_t)zone_now(id[4]));
    state_zone_stale(id[1]);
    ck_assert_int_eq(state_zone_delete("z2.", &err), 0);
    state_repl_info_t ri;
    ck_assert(state_repl_info(id[4], &ri) && ri.checked_at > 0);
    ck_assert(state_repl_info(id[1], &ri) && ri.checked_at == 0);
    ck_assert(!state_repl_info(id[2], &ri));
    state_close(); /* stores the notified serials */
    ck_assert_int_eq(state_open(db, &err), 0);
    for (int i = 0; i < 5; i++)
        if (i != 2)
            ck_assert_uint_eq(zone_now(id[i])->notified_serial, 100 + (uint32_t)i);
    state_close();
}
END_TEST

/* The calls pdns's communicator thread makes never wait for the writer
 * lock: pdns exits when one outlasts its connector timeout (2 s by
 * default), and the writer is busy for seconds in a big commit or a
 * reload. Each is timed while a zone load of 100,000 records commits. */
typedef struct {
    trx_t *t;
    atomic_bool started, done;
} bg_commit_t;

static void *bg_commit(void *arg)
{
    bg_commit_t *b = arg;
    gs_err_t err;
    atomic_store(&b->started, true);
    int rc = state_commit(b->t, &err);
    atomic_store(&b->done, true);
    return (void *)(intptr_t)rc;
}

START_TEST(test_communicator_calls_never_wait)
{
    gs_err_t err;
    ck_assert_int_eq(state_open(db, &err), 0);
    int64_t big = create("big.");
    int64_t p = create("p.");
    ck_assert_int_eq(state_zone_set_kind("p.", STORE_KIND_PRIMARY, &err), 0);
    ck_assert_int_eq(state_autoprimary_add("192.0.2.1", "ns1.p.", "", &err), 0);
    ck_assert_int_eq(state_tsig_set("k.", "hmac-sha256.", "YWJjZA==", &err), 0);
    trx_t t = {0};
    trx_begin(&t, big, 1, true); /* a zone load: the fastest big commit */
    trx_op_t soa = op_new(true, "big.", "SOA", "ns1.big hostmaster.big 7 1 1 1 1");
    ck_assert_int_eq(trx_add_take(&t, &soa, &err), 0);
    for (int i = 0; i < 100000; i++) {
        char name[32], addr[32];
        snprintf(name, sizeof(name), "h%d.big.", i);
        snprintf(addr, sizeof(addr), "10.%d.%d.1", (i >> 8) & 255, i & 255);
        trx_op_t op = op_new(true, name, "A", addr);
        if (trx_add_take(&t, &op, &err) != 0)
            ck_abort_msg("record %d: %s", i, err.text);
    }
    bg_commit_t b = {.t = &t};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, bg_commit, &b), 0);
    while (!atomic_load(&b.started))
        usleep(1000);
    usleep(50000); /* the commit holds the writer lock now */
    static const char *const reqs[] = {
        "{\"method\":\"getUnfreshSlaveInfos\",\"parameters\":{}}",
        "{\"method\":\"getUpdatedMasters\",\"parameters\":{}}",
        "{\"method\":\"setNotified\",\"parameters\":{\"id\":2,\"serial\":5}}",
        "{\"method\":\"setFresh\",\"parameters\":{\"id\":2}}",
        "{\"method\":\"setStale\",\"parameters\":{\"id\":2}}",
        "{\"method\":\"getDomainInfo\",\"parameters\":{\"name\":\"p.\"}}",
        "{\"method\":\"getTSIGKey\",\"parameters\":{\"name\":\"k.\"}}",
        "{\"method\":\"superMasterBackend\",\"parameters\":{\"ip\":\"192.0.2.1\","
        "\"domain\":\"n.\",\"nsset\":[{\"qtype\":\"NS\",\"content\":\"ns1.p.\"}]}}",
    };
    rb_conn_t *c = rb_conn_new();
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        struct timespec a, z;
        clock_gettime(CLOCK_MONOTONIC, &a);
        const buf_t *rep = rb_handle(c, reqs[i], strlen(reqs[i]));
        clock_gettime(CLOCK_MONOTONIC, &z);
        double ms = (double)(z.tv_sec - a.tv_sec) * 1e3 + (double)(z.tv_nsec - a.tv_nsec) / 1e6;
        ck_assert_msg(strstr(rep->data, "\"result\":false,\"log\"") == NULL, "%s: %.*s", reqs[i],
                      (int)rep->len, rep->data);
        ck_assert_msg(ms < 200, "%s waited %.0f ms", reqs[i], ms);
    }
    ck_assert_msg(!atomic_load(&b.done), "the commit ended before the calls: make it bigger");
    rb_conn_free(c);
    void *rc;
    pthread_join(th, &rc);
    ck_assert_int_eq((int)(intptr_t)rc, 0);
    trx_clear(&t);
    ck_assert_uint_eq(zone_now(p)->notified_serial, 5);
    state_close(); /* writes the notified serial */
    ck_assert_int_eq(state_open(db, &err), 0);
    ck_assert_uint_eq(zone_now(p)->notified_serial, 5);
    state_close();
}
END_TEST

/* One process per store: a second open of the same file (any path to it)
 * fails with a message naming the file and the holder, and works again once
 * the first handle is closed. Readers outside store_open are not blocked. */
START_TEST(test_store_lock)
{
    gs_err_t err;
    store_t *a, *b;
    ck_assert_int_eq(store_open(db, &a, &err), 0);
    ck_assert_int_eq(store_open(db, &b, &err), GS_ESTORE);
    ck_assert_ptr_nonnull(strstr(err.text, db));
    char pid[64];
    snprintf(pid, sizeof(pid), "(pid %ld)", (long)getpid());
    ck_assert_msg(strstr(err.text, pid), "no holder pid in: %s", err.text);

    char link[160];
    snprintf(link, sizeof(link), "%s/link.db", dir);
    ck_assert_int_eq(symlink("zones.db", link), 0);
    ck_assert_int_eq(store_open(link, &b, &err), GS_ESTORE);

    /* The lock is independent of SQLite's own locks: a plain reader works
     * while it is held, and the holder keeps writing. */
    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(h, "SELECT count(*) FROM zones", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    int64_t id;
    ck_assert_int_eq(store_begin(a, &err), 0);
    ck_assert_int_eq(store_zone_insert(a, "x.test.", &id, &err), 0);
    ck_assert_int_eq(store_commit(a, &err), 0);

    store_close(a);
    ck_assert_int_eq(store_open(link, &b, &err), 0);
    ck_assert_int_eq(store_zone_find(b, "x.test.", &id, &err), 0);
    store_close(b);
}
END_TEST

START_TEST(test_zone_lifecycle)
{
    gs_err_t err;
    ck_assert_int_eq(state_open(db, &err), 0);
    int64_t a = create("a.test.");
    state_zone_opts_t o;
    state_zone_opts_default(&o);
    int64_t dup;
    ck_assert_int_eq(state_zone_create("a.test.", &o, &dup, &err), GS_EEXIST);
    ck_assert_int_eq(state_zone_delete("a.test.", &err), 0);
    ck_assert_ptr_null(zone_now(a));
    ck_assert_int_eq(state_zone_delete("a.test.", &err), GS_ENOTFOUND);
    /* Ids are never reused: pdns caches them in its zone cache. */
    int64_t b = create("b.test.");
    ck_assert_int_gt(b, a);
    state_close();
}
END_TEST

/* commit_one ID TRXID NAME TYPE CONTENT: one replace of NAME/TYPE, committed. */
static void commit_one(int64_t id, int64_t trxid, const char *name, const char *type,
                       const char *content)
{
    gs_err_t err;
    trx_t t = {0};
    trx_begin(&t, id, trxid, false);
    trx_op_t op = op_new(false, name, type, content);
    ck_assert_int_eq(trx_add_take(&t, &op, &err), 0);
    ck_assert_int_eq(state_commit(&t, &err), 0);
    trx_clear(&t);
}

/* A primary zone's commit that leaves the serial raises it by one (and
 * from 4294967295 to 1, never 0); one that sets the serial keeps it; a
 * native zone's serial is never touched. */
START_TEST(test_primary_serial)
{
    gs_err_t err;
    ck_assert_int_eq(state_open(db, &err), 0);
    int64_t p = create("p.");
    int64_t n = create("n.");
    ck_assert_int_eq(state_zone_set_kind("p.", STORE_KIND_PRIMARY, &err), 0);
    commit_one(p, 1, "www.p.", "A", "192.0.2.1");
    ck_assert_uint_eq(zone_now(p)->serial, 6);
    commit_one(p, 2, "p.", "SOA", "ns1.z hostmaster.p 40 1 1 1 1");
    ck_assert_uint_eq(zone_now(p)->serial, 40);
    commit_one(p, 3, "p.", "SOA", "ns1.z hostmaster.p 4294967295 1 1 1 1");
    commit_one(p, 4, "www.p.", "A", "192.0.2.2");
    ck_assert_uint_eq(zone_now(p)->serial, 1);
    commit_one(n, 5, "www.n.", "A", "192.0.2.1");
    ck_assert_uint_eq(zone_now(n)->serial, 5);
    /* Kept across a restart: it is in the stored SOA. */
    state_close();
    ck_assert_int_eq(state_open(db, &err), 0);
    ck_assert_uint_eq(zone_now(p)->serial, 1);
}
END_TEST

START_TEST(test_commit_atomic)
{
    gs_err_t err;
    ck_assert_int_eq(state_open(db, &err), 0);
    int64_t id = create("z.");
    trx_t t = {0};
    trx_begin(&t, id, 1, false);
    trx_op_t op = op_new(false, "www.z.", "A", "192.0.2.1");
    ck_assert_int_eq(trx_add_take(&t, &op, &err), 0);
    op = op_new(false, "alias.z.", "CNAME", "www.z");
    ck_assert_int_eq(trx_add_take(&t, &op, &err), 0);
    ck_assert_int_eq(state_commit(&t, &err), 0);
    trx_clear(&t);
    ck_assert_uint_eq(zone_now(id)->nrecords, 4);

    /* A CNAME beside the A: the whole transaction is refused, including the
     * unrelated record that came first. */
    trx_begin(&t, id, 2, false);
    op = op_new(false, "other.z.", "A", "192.0.2.7");
    ck_assert_int_eq(trx_add_take(&t, &op, &err), 0);
    op = op_new(true, "www.z.", "CNAME", "alias.z");
    ck_assert_int_eq(trx_add_take(&t, &op, &err), 0);
    ck_assert_int_eq(state_commit(&t, &err), GS_ECONFLICT);
    ck_assert_ptr_nonnull(strstr(err.text, "CNAME"));
    trx_clear(&t);
    ck_assert_uint_eq(zone_now(id)->nrecords, 4);
    const zone_t *z = zone_now(id);
    ck_assert_ptr_null(zone_find(z, "other.z.", 8, dname_hash("other.z.", 8)));

    /* Deleting the SOA is refused. */
    trx_begin(&t, id, 3, false);
    op = op_new(false, "z.", "SOA", NULL);
    ck_assert_int_eq(trx_add_take(&t, &op, &err), 0);
    ck_assert_int_eq(state_commit(&t, &err), GS_ECONFLICT);
    trx_clear(&t);

    /* A poisoned transaction is refused whole. */
    trx_begin(&t, id, 4, false);
    op = op_new(false, "new.z.", "A", "192.0.2.8");
    ck_assert_int_eq(trx_add_take(&t, &op, &err), 0);
    trx_poison(&t, "bad record");
    ck_assert_int_eq(state_commit(&t, &err), GS_EINVAL);
    trx_clear(&t);
    ck_assert_uint_eq(zone_now(id)->nrecords, 4);
    state_close();
}
END_TEST

START_TEST(test_replace_all)
{
    gs_err_t err;
    ck_assert_int_eq(state_open(db, &err), 0);
    int64_t id = create("z.");
    trx_t t = {0};
    trx_begin(&t, id, 1, true);
    trx_op_t op = op_new(true, "z.", "SOA", "ns1.z hm.z 9 1 2 3 4");
    ck_assert_int_eq(trx_add_take(&t, &op, &err), 0);
    op = op_new(true, "a.z.", "A", "192.0.2.1");
    ck_assert_int_eq(trx_add_take(&t, &op, &err), 0);
    ck_assert_int_eq(state_commit(&t, &err), 0);
    trx_clear(&t);
    ck_assert_uint_eq(zone_now(id)->nrecords, 2);
    ck_assert_uint_eq(zone_now(id)->serial, 9);

    /* A full replacement without an SOA is refused and changes nothing. */
    trx_begin(&t, id, 2, true);
    op = op_new(true, "b.z.", "A", "192.0.2.2");
    ck_assert_int_eq(trx_add_take(&t, &op, &err), 0);
    ck_assert_int_eq(state_commit(&t, &err), GS_ECONFLICT);
    trx_clear(&t);
    ck_assert_uint_eq(zone_now(id)->serial, 9);
    ck_assert_uint_eq(zone_now(id)->nrecords, 2);
    state_close();
}
END_TEST

/* The program of a LUA record's node in the served image, or NULL. */
static const luac_prog_t *served_prog(int64_t id, const char *name)
{
    const zone_node_t *n =
        zone_find(zone_now(id), name, strlen(name), dname_hash(name, strlen(name)));
    return n && n->nrecs == 1 ? n->recs[0].prog : NULL;
}

/* A LUA record is compiled once, when it is written: the commit serves the
 * program the write compiled, and later commits of other names keep it. */
START_TEST(test_compiled_once)
{
    gs_err_t err;
    ck_assert_int_eq(state_open(db, &err), 0);
    int64_t id = create("z.");
    const char *code = "A \"ifportup(443, {'192.0.2.1', '192.0.2.2'})\"";
    trx_t t = {0};
    trx_begin(&t, id, 1, false);
    trx_op_t op = op_new(false, "dyn.z.", "LUA", NULL);
    buf_t norm;
    buf_init(&norm);
    luac_prog_t *prog;
    ck_assert_int_eq(zone_rec_prepare(op.type, code, &norm, &prog, &err), 0);
    ck_assert_ptr_nonnull(prog);
    op.recs = mem_calloc(1, sizeof(trx_rec_t));
    op.recs[0] = (trx_rec_t){op.type, buf_take(&norm), 60, prog};
    op.nrecs = 1;
    ck_assert_int_eq(trx_add_take(&t, &op, &err), 0);
    ck_assert_int_eq(state_commit(&t, &err), 0);
    trx_clear(&t);
    ck_assert_ptr_eq(served_prog(id, "dyn.z."), prog);

    trx_begin(&t, id, 2, false);
    op = op_new(false, "www.z.", "A", "192.0.2.9");
    ck_assert_int_eq(trx_add_take(&t, &op, &err), 0);
    ck_assert_int_eq(state_commit(&t, &err), 0);
    trx_clear(&t);
    ck_assert_ptr_eq(served_prog(id, "dyn.z."), prog);

    /* A metadata change rebuilds the image too. */
    const char *v[] = {"x"};
    ck_assert_int_eq(state_meta_set(id, "X-TEST", v, 1, &err), 0);
    ck_assert_ptr_eq(served_prog(id, "dyn.z."), prog);

    /* Read back at start-up: compiled then, from the stored content. */
    state_close();
    ck_assert_int_eq(state_open(db, &err), 0);
    const luac_prog_t *again = served_prog(id, "dyn.z.");
    ck_assert_ptr_nonnull(again);
    ck_assert_uint_eq(again->nbranches, 1);
    state_close();
}
END_TEST

START_TEST(test_metadata)
{
    gs_err_t err;
    ck_assert_int_eq(state_open(db, &err), 0);
    int64_t id = create("z.");
    const char *v[] = {"one", "two"};
    ck_assert_int_eq(state_meta_set(id, "X-A", v, 2, &err), 0);
    ck_assert_uint_eq(zone_meta_find(zone_now(id), "X-A")->nvalues, 2);
    ck_assert_int_eq(state_meta_set(id, "X-A", v, 1, &err), 0);
    ck_assert_str_eq(zone_meta_find(zone_now(id), "X-A")->values[0], "one");
    ck_assert_uint_eq(zone_meta_find(zone_now(id), "X-A")->nvalues, 1);
    ck_assert_int_eq(state_meta_set(id, "X-A", NULL, 0, &err), 0);
    ck_assert_ptr_null(zone_meta_find(zone_now(id), "X-A"));
    ck_assert_int_eq(state_meta_set(id + 100, "X-A", v, 1, &err), GS_ENOTFOUND);
    state_close();
}
END_TEST

/* Size limits of transactions: records and bytes per transaction, bytes of
 * all open transactions; a refusal poisons the transaction and frees what it
 * held, and the ops after it are dropped. */
/* A connection gives back the reply buffer that one big reply (a `list` of
 * a big zone) grew, once the reply was sent: idle connections keep at most
 * RB_REPLY_KEEP each. */
START_TEST(test_reply_buffer_trim)
{
    gs_err_t err;
    ck_assert_int_eq(state_open(db, &err), 0);
    int64_t id = create("z.");
    trx_t t = {0};
    /* 8,000 rrsets replaced in one transaction (an API batch): each touched
     * name is checked through the index; a scan of the zone per name made
     * this commit quadratic (over the test's 4 s before). */
    trx_begin(&t, id, 1, false);
    for (int i = 0; i < 8000; i++) {
        char name[32], addr[32];
        snprintf(name, sizeof(name), "h%d.z.", i);
        snprintf(addr, sizeof(addr), "10.%d.%d.1", i / 256, i % 256);
        trx_op_t op = op_new(false, name, "A", addr);
        if (trx_add_take(&t, &op, &err) != 0) /* (a ck_assert per record is slow) */
            ck_abort_msg("record %d: %s", i, err.text);
    }
    ck_assert_int_eq(state_commit(&t, &err), 0);
    trx_clear(&t);
    rb_conn_t *c = rb_conn_new();
    ck_assert_ptr_nonnull(c);
    char req[160];
    int n =
        snprintf(req, sizeof(req),
                 "{\"method\":\"list\",\"parameters\":{\"zonename\":\"z.\",\"domain_id\":%lld}}",
                 (long long)id);
    const buf_t *rep = rb_handle(c, req, (size_t)n);
    ck_assert_uint_gt(rep->len, RB_REPLY_KEEP);
    rb_conn_trim(c);
    const char small[] = "{\"method\":\"getAllDomains\",\"parameters\":{}}";
    rep = rb_handle(c, small, sizeof(small) - 1);
    ck_assert_uint_le(rep->cap, RB_REPLY_KEEP);
    rb_conn_trim(c); /* a small buffer stays as it is */
    ck_assert_uint_le(rb_handle(c, small, sizeof(small) - 1)->cap, RB_REPLY_KEEP);
    rb_conn_free(c);
    state_close();
}
END_TEST

START_TEST(test_trx_limits)
{
    gs_err_t err;
    trx_t a = {0}, b = {0};
    trx_op_t op;
    /* "x.z." + NUL, "192.0.2.1" + NUL, and the bookkeeping */
    const size_t cost = 5 + 10 + TRX_REC_COST;

    trx_set_limits(3, 0, 0);
    trx_begin(&a, 1, 1, false);
    for (int i = 0; i < 3; i++) {
        op = op_new(true, "x.z.", "A", "192.0.2.1");
        ck_assert_int_eq(trx_add_take(&a, &op, &err), 0);
    }
    ck_assert_uint_eq(trx_total_bytes(), 3 * cost);
    op = op_new(true, "x.z.", "A", "192.0.2.1");
    ck_assert_int_eq(trx_add_take(&a, &op, &err), GS_ETOOBIG);
    ck_assert_ptr_null(op.name);
    ck_assert_ptr_nonnull(strstr(err.text, "over 3 records"));
    ck_assert_uint_eq(a.nops, 3);
    trx_poison(&a, err.text); /* as rb does: the refusal poisons */
    ck_assert_str_eq(a.poison, err.text);
    ck_assert_uint_eq(a.nops, 0);
    ck_assert_uint_eq(trx_total_bytes(), 0);
    op = op_new(true, "x.z.", "A", "192.0.2.1");
    ck_assert_int_eq(trx_add_take(&a, &op, &err), 0); /* accepted, dropped */
    ck_assert_uint_eq(a.nops, 0);
    trx_clear(&a);

    /* An op without records (a replaceRRSet deleting an rrset) counts one. */
    trx_begin(&a, 1, 2, false);
    for (int i = 0; i < 3; i++) {
        op = op_new(false, "x.z.", "A", NULL);
        ck_assert_int_eq(trx_add_take(&a, &op, &err), 0);
    }
    op = op_new(false, "x.z.", "A", NULL);
    ck_assert_int_eq(trx_add_take(&a, &op, &err), GS_ETOOBIG);
    trx_clear(&a);

    trx_set_limits(0, 2 * cost, 0);
    trx_begin(&a, 1, 3, false);
    for (int i = 0; i < 2; i++) {
        op = op_new(true, "x.z.", "A", "192.0.2.1");
        ck_assert_int_eq(trx_add_take(&a, &op, &err), 0);
    }
    op = op_new(true, "x.z.", "A", "192.0.2.1");
    ck_assert_int_eq(trx_add_take(&a, &op, &err), GS_ETOOBIG);
    ck_assert_ptr_nonnull(strstr(err.text, "bytes of records (the limit per transaction)"));
    trx_clear(&a);

    /* The budget of all open transactions: b is refused while a holds most. */
    trx_set_limits(0, 0, 3 * cost);
    trx_begin(&a, 1, 4, false);
    trx_begin(&b, 1, 5, false);
    for (int i = 0; i < 2; i++) {
        op = op_new(true, "x.z.", "A", "192.0.2.1");
        ck_assert_int_eq(trx_add_take(&a, &op, &err), 0);
    }
    op = op_new(true, "x.z.", "A", "192.0.2.1");
    ck_assert_int_eq(trx_add_take(&b, &op, &err), 0);
    op = op_new(true, "x.z.", "A", "192.0.2.1");
    ck_assert_int_eq(trx_add_take(&b, &op, &err), GS_ETOOBIG);
    ck_assert_ptr_nonnull(strstr(err.text, "all connections"));
    ck_assert_uint_eq(trx_total_bytes(), 3 * cost);
    trx_poison(&b, err.text);
    ck_assert_uint_eq(trx_total_bytes(), 2 * cost);
    trx_clear(&b);
    trx_begin(&b, 1, 6, false);
    op = op_new(true, "x.z.", "A", "192.0.2.1");
    ck_assert_int_eq(trx_add_take(&b, &op, &err), 0);
    trx_clear(&a);
    trx_clear(&b);
    ck_assert_uint_eq(trx_total_bytes(), 0);
    trx_set_limits(0, 0, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("state");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_schema_and_reopen);
    tcase_add_test(tc, test_not_a_store);
    tcase_add_test(tc, test_refused_file_untouched);
    tcase_add_test(tc, test_store_lock);
    tcase_add_test(tc, test_upgrade_v2);
    tcase_add_test(tc, test_upgrade_v3);
    tcase_add_test(tc, test_secondary_expiry);
    tcase_add_test(tc, test_communicator_calls_never_wait);
    tcase_add_test(tc, test_repl_state_per_zone);
    tcase_add_test(tc, test_zone_lifecycle);
    tcase_add_test(tc, test_commit_atomic);
    tcase_add_test(tc, test_primary_serial);
    tcase_add_test(tc, test_replace_all);
    tcase_add_test(tc, test_metadata);
    tcase_add_test(tc, test_compiled_once);
    tcase_add_test(tc, test_trx_limits);
    tcase_add_test(tc, test_reply_buffer_trim);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
