#include "backend/zones/store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"

struct store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *insert; /* prepared once: a load-zone inserts thousands */
    int lock_fd;          /* holds the flock that makes the store this process's */
};

static const char *schema_v1 = "CREATE TABLE zones ("
                               "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
                               "  name TEXT NOT NULL UNIQUE,"
                               "  created INTEGER NOT NULL);"
                               "CREATE TABLE records ("
                               "  id INTEGER PRIMARY KEY,"
                               "  zone_id INTEGER NOT NULL REFERENCES zones(id) ON DELETE CASCADE,"
                               "  name TEXT NOT NULL,"
                               "  type TEXT NOT NULL,"
                               "  content TEXT NOT NULL,"
                               "  ttl INTEGER NOT NULL);"
                               "CREATE INDEX records_by_name ON records(zone_id, name, type);"
                               "CREATE TABLE metadata ("
                               "  id INTEGER PRIMARY KEY,"
                               "  zone_id INTEGER NOT NULL REFERENCES zones(id) ON DELETE CASCADE,"
                               "  kind TEXT NOT NULL,"
                               "  value TEXT NOT NULL);"
                               "CREATE INDEX metadata_by_zone ON metadata(zone_id, kind);"
                               "PRAGMA user_version = 1;";

/* Version 2: operator overrides of endpoints (drain, force-up, force-down),
 * by endpoint name, with an optional expiry. */
static const char *schema_v2 = "CREATE TABLE overrides ("
                               "  endpoint TEXT PRIMARY KEY,"
                               "  state TEXT NOT NULL,"
                               "  until INTEGER NOT NULL DEFAULT 0,"
                               "  created INTEGER NOT NULL);"
                               "PRAGMA user_version = 2;";

/* Version 3: replication. A zone's kind (native, primary, secondary: what
 * pdns's getDomainInfo reports as native, master, slave), the serial pdns
 * last sent NOTIFYs for (setNotified), and a secondary's primaries
 * (space-separated ADDR[:PORT]). */
static const char *schema_v3 = "ALTER TABLE zones ADD COLUMN kind TEXT NOT NULL DEFAULT 'native';"
                               "ALTER TABLE zones ADD COLUMN notified_serial INTEGER NOT NULL "
                               "DEFAULT 0;"
                               "ALTER TABLE zones ADD COLUMN masters TEXT NOT NULL DEFAULT '';"
                               "PRAGMA user_version = 3;";

/* Version 4: the secondary side. When pdns last heard from a secondary
 * zone's primary (setFresh: what SOA expire counts from), the autoprimaries
 * whose NOTIFYs create secondary zones (superMasterBackend), and TSIG keys
 * (the store is kept mode 0600 for them). */
static const char *schema_v4 = "ALTER TABLE zones ADD COLUMN refreshed INTEGER NOT NULL DEFAULT 0;"
                               "CREATE TABLE autoprimaries ("
                               "  ip TEXT NOT NULL,"
                               "  nameserver TEXT NOT NULL,"
                               "  account TEXT NOT NULL DEFAULT '',"
                               "  created INTEGER NOT NULL,"
                               "  PRIMARY KEY(ip, nameserver));"
                               "CREATE TABLE tsig_keys ("
                               "  name TEXT PRIMARY KEY,"
                               "  algorithm TEXT NOT NULL,"
                               "  secret TEXT NOT NULL,"
                               "  created INTEGER NOT NULL);"
                               "PRAGMA user_version = 4;";

/* Version 5: DNSSEC. The signing keys pdns keeps through the remote
 * backend (addDomainKey...), private key text included, so the store stays
 * mode 0600. Ids are never reused: pdnsutil names keys by id. */
static const char *schema_v5 = "CREATE TABLE cryptokeys ("
                               "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
                               "  zone_id INTEGER NOT NULL REFERENCES zones(id) ON DELETE CASCADE,"
                               "  flags INTEGER NOT NULL,"
                               "  active INTEGER NOT NULL,"
                               "  published INTEGER NOT NULL,"
                               "  content TEXT NOT NULL,"
                               "  created INTEGER NOT NULL);"
                               "CREATE INDEX cryptokeys_by_zone ON cryptokeys(zone_id);"
                               "PRAGMA user_version = 5;";

static int sql_err(store_t *st, gs_err_t *err, const char *what)
{
    return gs_err_set(err, GS_ESTORE, "zone store '%s': %s: %s", st->path, what,
                      sqlite3_errmsg(st->db));
}

static int exec(store_t *st, const char *sql, gs_err_t *err)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = gs_err_set(err, GS_ESTORE, "zone store '%s': %s", st->path,
                            msg ? msg : "unknown error");
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

/* Prepares `sql`; the statement is finalised by the caller. */
static int prep(store_t *st, const char *sql, sqlite3_stmt **stmt, gs_err_t *err)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL) != SQLITE_OK)
        return sql_err(st, err, "prepare");
    return 0;
}

/* Runs a statement that returns no rows, then finalises it. */
static int run(store_t *st, sqlite3_stmt *stmt, gs_err_t *err, const char *what)
{
    int rc = sqlite3_step(stmt);
    int ret = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : sql_err(st, err, what);
    sqlite3_finalize(stmt);
    return ret;
}

static const char *col_text(sqlite3_stmt *stmt, int i)
{
    const unsigned char *t = sqlite3_column_text(stmt, i);
    return t ? (const char *)t : "";
}

static int query_int(store_t *st, const char *sql, int64_t *v, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st, sql, &stmt, err);
    if (rc)
        return rc;
    *v = 0;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sql_err(st, err, sql);
}

/* Returns the pid holding the flock on the file open as `fd` (from
 * /proc/locks), or -1 if it cannot be told. Only used for the message. */
static long lock_holder(int fd)
{
    struct stat sb;
    FILE *f;
    if (fstat(fd, &sb) != 0 || !(f = fopen("/proc/locks", "re")))
        return -1;
    char line[256], kind[16];
    long pid = -1, p;
    unsigned maj, min;
    unsigned long long ino;
    /* "1: FLOCK  ADVISORY  WRITE 14098 fe:00:10953531 0 EOF"; waiters have
     * "->" where FLOCK is and are skipped. */
    while (pid < 0 && fgets(line, sizeof(line), f))
        if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%llu", kind, &p, &maj, &min, &ino) == 5 &&
            strcmp(kind, "FLOCK") == 0 && ino == (unsigned long long)sb.st_ino &&
            maj == major(sb.st_dev) && min == minor(sb.st_dev))
            pid = p;
    fclose(f);
    return pid;
}

/* The daemon's exclusive claim on the store: flock(2) on a descriptor of the
 * file itself. It is an inode lock, so every path to the file (symlinks,
 * relative paths) meets it; on Linux it is independent of SQLite's own fcntl
 * byte-range locks, so readers such as the sqlite3 shell are never blocked.
 * The descriptor is closed only after SQLite's connection: closing any
 * descriptor of a file drops the process's fcntl locks on it, SQLite's too. */
static int lock_path(store_t *st, gs_err_t *err)
{
    /* 0600: the store holds TSIG secrets (and SQLite gives its -wal and
     * -shm files the mode of the database file). */
    st->lock_fd = open(st->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (st->lock_fd < 0)
        return gs_err_set(err, -errno, "zone store '%s': cannot open: %s", st->path,
                          strerror(errno));
    if (flock(st->lock_fd, LOCK_EX | LOCK_NB) == 0)
        return 0;
    int e = errno;
    if (e != EWOULDBLOCK)
        return gs_err_set(err, -e, "zone store '%s': cannot lock: %s", st->path, strerror(e));
    long pid = lock_holder(st->lock_fd);
    if (pid > 0)
        return gs_err_set(err, GS_ESTORE,
                          "zone store '%s' is in use by another geosteerd (pid %ld): one "
                          "daemon per store",
                          st->path, pid);
    return gs_err_set(err, GS_ESTORE,
                      "zone store '%s' is in use by another geosteerd: one daemon per store",
                      st->path);
}

/* Compares the column names of `table` with `cols` ("a,b,c", in order). */
static int table_is(store_t *st, const char *table, const char *cols, bool *ok, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st,
                  "SELECT group_concat(name, ',') FROM (SELECT name FROM pragma_table_info(?) "
                  "ORDER BY cid)",
                  &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_text(stmt, 1, table, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    *ok = rc == SQLITE_ROW && strcmp(col_text(stmt, 0), cols) == 0;
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW ? 0 : sql_err(st, err, "read schema");
}

/* Decides, with reads only, whether the file is a new store (*create), a
 * geosteer store of a version this code reads, or something to refuse:
 * nothing may be written to a file before it is known to be ours. */
static int check_schema(store_t *st, int64_t *version, bool *create, gs_err_t *err)
{
    static const struct {
        const char *table, *cols;
        int64_t since;
        int64_t until; /* 0: still current */
    } tables[] = {{"zones", "id,name,created", 1, 2},
                  {"zones", "id,name,created,kind,notified_serial,masters", 3, 3},
                  {"zones", "id,name,created,kind,notified_serial,masters,refreshed", 4, 0},
                  {"records", "id,zone_id,name,type,content,ttl", 1, 0},
                  {"metadata", "id,zone_id,kind,value", 1, 0},
                  {"overrides", "endpoint,state,until,created", 2, 0},
                  {"autoprimaries", "ip,nameserver,account,created", 4, 0},
                  {"tsig_keys", "name,algorithm,secret,created", 4, 0},
                  {"cryptokeys", "id,zone_id,flags,active,published,content,created", 5, 0}};
    int64_t ntables;
    int rc;
    if ((rc = query_int(st, "PRAGMA user_version", version, err)) ||
        (rc = query_int(st, "SELECT count(*) FROM sqlite_master", &ntables, err)))
        return rc;
    *create = *version == 0 && ntables == 0;
    if (*create)
        return 0;
    if (*version < 1 || *version > STORE_SCHEMA_VERSION)
        return gs_err_set(err, GS_ESCHEMA,
                          "zone store '%s': schema version %lld, this geosteerd supports %d%s",
                          st->path, (long long)*version, STORE_SCHEMA_VERSION,
                          *version == 0 ? " (not a geosteer zone store?)" : "");
    const size_t n = sizeof(tables) / sizeof(tables[0]);
#define APPLIES(t) (*version >= (t).since && (!(t).until || *version <= (t).until))
    for (size_t i = 0; i < n; i++) {
        /* A table's form of this version; a table newer than the version
         * must be absent (cols ""); other forms are skipped. */
        bool other = false;
        for (size_t j = 0; j < n; j++)
            other |= j != i && strcmp(tables[j].table, tables[i].table) == 0 && APPLIES(tables[j]);
        if (!APPLIES(tables[i]) && other)
            continue;
        bool ok;
        if ((rc =
                 table_is(st, tables[i].table, APPLIES(tables[i]) ? tables[i].cols : "", &ok, err)))
            return rc;
        if (!ok)
            return gs_err_set(err, GS_ESCHEMA,
                              "zone store '%s': schema version %lld but table '%s' is not "
                              "geosteer's (not a geosteer zone store?)",
                              st->path, (long long)*version, tables[i].table);
    }
#undef APPLIES
    return 0;
}

int store_open(const char *path, store_t **out, gs_err_t *err)
{
    store_t *st = mem_calloc(1, sizeof(*st));
    st->path = mem_strdup(path);
    st->lock_fd = -1;
    int rc;
    *out = NULL;
    if ((rc = lock_path(st, err)))
        goto fail;
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        rc = gs_err_set(err, GS_ESTORE, "zone store '%s': cannot open: %s", path,
                        st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    /* Until the file is known to be ours, closing must not checkpoint a WAL
     * some other program left behind into it. */
    sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    int64_t version;
    bool create;
    if ((rc = check_schema(st, &version, &create, err)))
        goto fail;
    sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);
    /* Ours: a store readable by others (made before version 4, or by hand)
     * is narrowed to its owner, with its -wal and -shm files. */
    struct stat sb;
    if (fstat(st->lock_fd, &sb) == 0 && (sb.st_mode & 077)) {
        log_warn("zone store '%s': mode %03o gives others access to TSIG secrets and DNSSEC "
                 "private keys: set to 600",
                 path, (unsigned)(sb.st_mode & 0777));
        if (fchmod(st->lock_fd, 0600) != 0)
            log_warn("zone store '%s': chmod 600 failed: %s", path, strerror(errno));
        static const char *const sfx[] = {"-wal", "-shm"};
        for (int i = 0; i < 2; i++) {
            char side[4096];
            snprintf(side, sizeof(side), "%s%s", path, sfx[i]);
            if (chmod(side, 0600) != 0 && errno != ENOENT)
                log_warn("zone store '%s': chmod 600 failed: %s", side, strerror(errno));
        }
    }
    /* WAL: a commit is one append + fsync and readers of the file never block
     * it; FULL makes each commit durable against power loss, not only crashes. */
    if ((rc = exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
                   err)))
        goto fail;
    if (create || version < STORE_SCHEMA_VERSION) {
        /* New store, or an upgrade: each step runs in the same transaction
         * as the version bump, so a crash leaves the old version intact. */
        if ((rc = exec(st, "BEGIN IMMEDIATE", err)))
            goto fail;
        if ((create && (rc = exec(st, schema_v1, err))) ||
            ((create || version < 2) && (rc = exec(st, schema_v2, err))) ||
            ((create || version < 3) && (rc = exec(st, schema_v3, err))) ||
            ((create || version < 4) && (rc = exec(st, schema_v4, err))) ||
            (rc = exec(st, schema_v5, err)) || (rc = exec(st, "COMMIT", err))) {
            exec(st, "ROLLBACK", NULL);
            goto fail;
        }
    }
    *out = st;
    return 0;
fail:
    store_close(st);
    return rc;
}

void store_close(store_t *st)
{
    if (!st)
        return;
    sqlite3_finalize(st->insert);
    sqlite3_close(st->db);
    if (st->lock_fd >= 0)
        close(st->lock_fd); /* after SQLite's descriptor: see lock_path */
    free(st->path);
    free(st);
}

int store_begin(store_t *st, gs_err_t *err)
{
    return exec(st, "BEGIN IMMEDIATE", err);
}

int store_commit(store_t *st, gs_err_t *err)
{
    return exec(st, "COMMIT", err);
}

void store_rollback(store_t *st)
{
    if (!sqlite3_get_autocommit(st->db))
        exec(st, "ROLLBACK", NULL);
}

int store_zone_ids(store_t *st, int64_t **ids, size_t *n, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st, "SELECT id FROM zones ORDER BY id", &stmt, err);
    if (rc)
        return rc;
    size_t cap = 16, cnt = 0;
    int64_t *v = mem_calloc(cap, sizeof(*v));
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (cnt == cap)
            v = mem_realloc_n(v, cap *= 2, sizeof(*v));
        v[cnt++] = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        free(v);
        return sql_err(st, err, "list zones");
    }
    *ids = v;
    *n = cnt;
    return 0;
}

/* Appends one row's strings to `text` (NUL-terminated); the offsets are
 * turned into pointers once the buffer stops moving. */
static size_t put_str(buf_t *text, const char *s)
{
    size_t off = text->len;
    buf_put(text, s, strlen(s) + 1);
    return off;
}

static const char *const kind_names[] = {"native", "primary", "secondary"};

const char *store_kind_name(store_kind_t k)
{
    return (unsigned)k < 3 ? kind_names[k] : "native";
}

int store_kind_parse(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, kind_names[i]) == 0)
            return i;
    return -1;
}

/* Finishes an UPDATE of one zone row: GS_ENOTFOUND when there was none. */
static int zone_updated(store_t *st, sqlite3_stmt *stmt, int64_t id, const char *what,
                        gs_err_t *err)
{
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
        return sql_err(st, err, what);
    if (sqlite3_changes(st->db) == 0)
        return gs_err_set(err, GS_ENOTFOUND, "zone id %lld not found", (long long)id);
    return 0;
}

int store_zone_set_kind(store_t *st, int64_t id, store_kind_t kind, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st, "UPDATE zones SET kind=? WHERE id=?", &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_text(stmt, 1, store_kind_name(kind), -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, id);
    return zone_updated(st, stmt, id, "set zone kind", err);
}

int store_zone_set_masters(store_t *st, int64_t id, const char *masters, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st, "UPDATE zones SET masters=? WHERE id=?", &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_text(stmt, 1, masters, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, id);
    return zone_updated(st, stmt, id, "set zone primaries", err);
}

int store_zone_set_refreshed(store_t *st, int64_t id, int64_t when, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st, "UPDATE zones SET refreshed=? WHERE id=?", &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, when);
    sqlite3_bind_int64(stmt, 2, id);
    return zone_updated(st, stmt, id, "set zone refresh time", err);
}

int store_zone_set_notified(store_t *st, int64_t id, uint32_t serial, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st, "UPDATE zones SET notified_serial=? WHERE id=?", &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, serial);
    sqlite3_bind_int64(stmt, 2, id);
    return zone_updated(st, stmt, id, "set notified serial", err);
}

int store_zone_rows(store_t *st, int64_t id, store_zone_rows_t *out, gs_err_t *err)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *stmt = NULL;
    buf_t text;
    buf_init(&text);
    int rc;
    if ((rc = prep(st,
                   "SELECT name, kind, notified_serial, masters, refreshed FROM zones WHERE id=?",
                   &stmt, err)))
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    if (sqlite3_step(stmt) != SQLITE_ROW) {
        sqlite3_finalize(stmt);
        return gs_err_set(err, GS_ENOTFOUND, "zone id %lld not found", (long long)id);
    }
    size_t apex = put_str(&text, col_text(stmt, 0));
    int kind = store_kind_parse(col_text(stmt, 1));
    out->kind = kind < 0 ? STORE_KIND_NATIVE : (store_kind_t)kind;
    out->notified_serial = (uint32_t)sqlite3_column_int64(stmt, 2);
    size_t masters = put_str(&text, col_text(stmt, 3));
    out->refreshed = sqlite3_column_int64(stmt, 4);
    sqlite3_finalize(stmt);

    /* Records in insertion order; the text offsets are kept in the pointer
     * fields until the end. */
    size_t cap = 0;
    if ((rc = prep(st, "SELECT name, type, content, ttl FROM records WHERE zone_id=? ORDER BY id",
                   &stmt, err)))
        goto fail;
    sqlite3_bind_int64(stmt, 1, id);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (out->nrows == cap)
            out->rows = mem_realloc_n(out->rows, cap = cap ? cap * 2 : 256, sizeof(*out->rows));
        store_row_t *r = &out->rows[out->nrows++];
        r->name = (const char *)(uintptr_t)put_str(&text, col_text(stmt, 0));
        r->type = (const char *)(uintptr_t)put_str(&text, col_text(stmt, 1));
        r->content = (const char *)(uintptr_t)put_str(&text, col_text(stmt, 2));
        r->ttl = sqlite3_column_int64(stmt, 3);
    }
    sqlite3_finalize(stmt);
    stmt = NULL;
    if (rc != SQLITE_DONE) {
        rc = sql_err(st, err, "read records");
        goto fail;
    }

    /* Metadata, grouped by kind, each kind's values in insertion order. */
    cap = 0;
    if ((rc = prep(st, "SELECT kind, value FROM metadata WHERE zone_id=? ORDER BY kind, id", &stmt,
                   err)))
        goto fail;
    sqlite3_bind_int64(stmt, 1, id);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (out->nmeta == cap)
            out->meta = mem_realloc_n(out->meta, cap = cap ? cap * 2 : 16, sizeof(*out->meta));
        store_meta_row_t *m = &out->meta[out->nmeta++];
        m->kind = (const char *)(uintptr_t)put_str(&text, col_text(stmt, 0));
        m->value = (const char *)(uintptr_t)put_str(&text, col_text(stmt, 1));
    }
    sqlite3_finalize(stmt);
    stmt = NULL;
    if (rc != SQLITE_DONE) {
        rc = sql_err(st, err, "read metadata");
        goto fail;
    }

    /* DNSSEC keys, oldest first. */
    cap = 0;
    if ((rc = prep(st,
                   "SELECT id, flags, active, published, content FROM cryptokeys WHERE zone_id=? "
                   "ORDER BY id",
                   &stmt, err)))
        goto fail;
    sqlite3_bind_int64(stmt, 1, id);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (out->nkeys == cap)
            out->keys = mem_realloc_n(out->keys, cap = cap ? cap * 2 : 4, sizeof(*out->keys));
        store_key_t *k = &out->keys[out->nkeys++];
        k->id = sqlite3_column_int64(stmt, 0);
        k->flags = (unsigned)sqlite3_column_int64(stmt, 1);
        k->active = sqlite3_column_int64(stmt, 2) != 0;
        k->published = sqlite3_column_int64(stmt, 3) != 0;
        k->content = (const char *)(uintptr_t)put_str(&text, col_text(stmt, 4));
    }
    sqlite3_finalize(stmt);
    stmt = NULL;
    if (rc != SQLITE_DONE) {
        rc = sql_err(st, err, "read DNSSEC keys");
        goto fail;
    }

    out->text = buf_take(&text);
#define AT(p) (p) = out->text + (uintptr_t)(p)
    out->apex = out->text + apex;
    out->masters = out->text + masters;
    for (size_t i = 0; i < out->nrows; i++) {
        AT(out->rows[i].name);
        AT(out->rows[i].type);
        AT(out->rows[i].content);
    }
    for (size_t i = 0; i < out->nmeta; i++) {
        AT(out->meta[i].kind);
        AT(out->meta[i].value);
    }
    for (size_t i = 0; i < out->nkeys; i++)
        AT(out->keys[i].content);
#undef AT
    return 0;
fail:
    sqlite3_finalize(stmt);
    buf_free(&text);
    store_zone_rows_free(out);
    return rc;
}

void store_zone_rows_free(store_zone_rows_t *r)
{
    free(r->rows);
    free(r->meta);
    free(r->keys);
    free(r->text);
    memset(r, 0, sizeof(*r));
}

int store_zone_find(store_t *st, const char *name, int64_t *id, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st, "SELECT id FROM zones WHERE name=?", &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(stmt, 0);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = gs_err_set(err, GS_ENOTFOUND, "zone '%s' does not exist", name);
    } else {
        rc = sql_err(st, err, "find zone");
    }
    sqlite3_finalize(stmt);
    return rc;
}

int store_zone_insert(store_t *st, const char *name, int64_t *id, gs_err_t *err)
{
    int64_t existing;
    if (store_zone_find(st, name, &existing, NULL) == 0)
        return gs_err_set(err, GS_EEXIST, "zone '%s' already exists (id %lld)", name,
                          (long long)existing);
    sqlite3_stmt *stmt;
    int rc = prep(st, "INSERT INTO zones(name, created) VALUES(?, ?)", &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, (int64_t)time(NULL));
    if ((rc = run(st, stmt, err, "insert zone")))
        return rc;
    *id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

int store_zone_remove(store_t *st, int64_t id, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st, "DELETE FROM zones WHERE id=?", &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    return run(st, stmt, err, "delete zone");
}

int store_soa_bump(store_t *st, int64_t id, const char *apex, uint32_t old, uint32_t *serial,
                   gs_err_t *err)
{
    *serial = 0;
    sqlite3_stmt *stmt;
    int rc = prep(st, "SELECT id, content FROM records WHERE zone_id=? AND name=? AND type='SOA'",
                  &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_text(stmt, 2, apex, -1, SQLITE_STATIC);
    int64_t row = 0;
    int n = 0;
    char content[1100] = "";
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        row = sqlite3_column_int64(stmt, 0);
        snprintf(content, sizeof(content), "%s", col_text(stmt, 1));
        n++;
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
        return sql_err(st, err, "read SOA");
    /* "mname rname serial refresh retry expire minimum" */
    char mname[300], rname[300], rest[300];
    unsigned long cur;
    if (n != 1 || sscanf(content, "%299s %299s %lu %299[^\n]", mname, rname, &cur, rest) != 4 ||
        cur > UINT32_MAX)
        return 0;
    *serial = (uint32_t)cur;
    if (*serial != old)
        return 0;
    uint32_t next = *serial + 1;
    if (next == 0)
        next = 1;
    char bumped[1100];
    snprintf(bumped, sizeof(bumped), "%s %s %u %s", mname, rname, next, rest);
    if ((rc = prep(st, "UPDATE records SET content=? WHERE id=?", &stmt, err)))
        return rc;
    sqlite3_bind_text(stmt, 1, bumped, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, row);
    if ((rc = run(st, stmt, err, "raise serial")))
        return rc;
    *serial = next;
    return 0;
}

int store_rrset_delete(store_t *st, int64_t id, const char *name, const char *type, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st,
                  type ? "DELETE FROM records WHERE zone_id=? AND name=? AND type=?"
                       : "DELETE FROM records WHERE zone_id=? AND name=?",
                  &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
    if (type)
        sqlite3_bind_text(stmt, 3, type, -1, SQLITE_STATIC);
    return run(st, stmt, err, "delete rrset");
}

int store_records_clear(store_t *st, int64_t id, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st, "DELETE FROM records WHERE zone_id=?", &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    return run(st, stmt, err, "clear zone");
}

int store_record_insert(store_t *st, int64_t id, const char *name, const char *type,
                        const char *content, uint32_t ttl, gs_err_t *err)
{
    int rc;
    if (!st->insert &&
        (rc = prep(st, "INSERT INTO records(zone_id, name, type, content, ttl) VALUES(?,?,?,?,?)",
                   &st->insert, err)))
        return rc;
    sqlite3_stmt *stmt = st->insert;
    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, content, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, ttl);
    rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : sql_err(st, err, "insert record");
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc;
}

int store_meta_replace(store_t *st, int64_t id, const char *kind, const char *const *values,
                       size_t n, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st, "DELETE FROM metadata WHERE zone_id=? AND kind=?", &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_text(stmt, 2, kind, -1, SQLITE_STATIC);
    if ((rc = run(st, stmt, err, "delete metadata")))
        return rc;
    for (size_t i = 0; i < n; i++) {
        if ((rc = prep(st, "INSERT INTO metadata(zone_id, kind, value) VALUES(?,?,?)", &stmt, err)))
            return rc;
        sqlite3_bind_int64(stmt, 1, id);
        sqlite3_bind_text(stmt, 2, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, values[i], -1, SQLITE_STATIC);
        if ((rc = run(st, stmt, err, "insert metadata")))
            return rc;
    }
    return 0;
}

/* Runs a zone check `sql` (?1 zone id, ?2 one name or NULL for all) and
 * leaves its first row in *stmt. Returns SQLITE_ROW (a conflict: the caller
 * reads the row and finalizes), 0 (none; finalized) or a negative error. */
static int conflict_row(store_t *st, const char *sql, int64_t id, const char *name,
                        sqlite3_stmt **stmt, gs_err_t *err)
{
    int rc = prep(st, sql, stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(*stmt, 1, id);
    if (name)
        sqlite3_bind_text(*stmt, 2, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(*stmt);
    if (rc == SQLITE_ROW)
        return rc;
    sqlite3_finalize(*stmt);
    return rc == SQLITE_DONE ? 0 : sql_err(st, err, "check zone");
}

/* The conflict queries, over the zone (NAME_FILTER "") or one name: a
 * separate text per case, since `(?2 IS NULL OR name=?2)` keeps SQLite from
 * using records_by_name and made a commit of n names cost n scans of the
 * zone. */
#define CNAME_CONFLICT(NAME_FILTER)                                                                \
    "SELECT name, SUM(type='CNAME' OR (type='LUA' AND upper(substr(content,1,6))='CNAME ')) "      \
    "AS c, COUNT(*) FROM records WHERE zone_id=?1" NAME_FILTER " GROUP BY name "                   \
    "HAVING c >= 1 AND COUNT(*) > 1 LIMIT 1"
#define LUA_STATIC_CONFLICT(NAME_FILTER)                                                           \
    "SELECT l.name, r.type FROM records l JOIN records r ON "                                      \
    "r.zone_id=l.zone_id AND r.name=l.name AND r.type<>'LUA' AND "                                 \
    "upper(substr(l.content,1,length(r.type)+1))=upper(r.type)||' ' WHERE "                        \
    "l.zone_id=?1 AND l.type='LUA'" NAME_FILTER " LIMIT 1"

int store_check(store_t *st, int64_t id, const char *apex, const char *name, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    /* A LUA record that produces a CNAME counts as a CNAME. */
    int rc = conflict_row(st, name ? CNAME_CONFLICT(" AND name=?2") : CNAME_CONFLICT(""), id, name,
                          &stmt, err);
    if (rc == SQLITE_ROW) {
        int64_t c = sqlite3_column_int64(stmt, 1);
        rc = gs_err_set(err, GS_ECONFLICT,
                        c > 1 ? "%s: more than one CNAME record at this name"
                              : "%s: CNAME cannot coexist with other records at the same name",
                        col_text(stmt, 0));
        sqlite3_finalize(stmt);
    }
    if (rc)
        return rc;
    /* A static record of the type a LUA record at the same name answers:
     * which one would be served is undefined, so neither is accepted. */
    rc = conflict_row(st, name ? LUA_STATIC_CONFLICT(" AND l.name=?2") : LUA_STATIC_CONFLICT(""),
                      id, name, &stmt, err);
    if (rc == SQLITE_ROW) {
        rc = gs_err_set(err, GS_ECONFLICT,
                        "%s: %s is answered by a LUA record at this name and cannot also be a "
                        "static record",
                        col_text(stmt, 0), col_text(stmt, 1));
        sqlite3_finalize(stmt);
    }
    if (rc)
        return rc;

    if (name && strcmp(name, apex) != 0)
        return 0;
    if ((rc = prep(st, "SELECT COUNT(*) FROM records WHERE zone_id=? AND name=? AND type='SOA'",
                   &stmt, err)))
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_text(stmt, 2, apex, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    int64_t soas = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    if (soas < 0)
        return sql_err(st, err, "check zone");
    if (soas != 1)
        return gs_err_set(err, GS_ECONFLICT,
                          "%s: the zone apex must have exactly one SOA record, "
                          "this change leaves %lld",
                          apex, (long long)soas);
    return 0;
}

int store_override_set(store_t *st, const char *endpoint, const char *state, int64_t until,
                       gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st,
                  "INSERT OR REPLACE INTO overrides(endpoint, state, until, created) "
                  "VALUES(?,?,?,?)",
                  &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_text(stmt, 1, endpoint, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, until);
    sqlite3_bind_int64(stmt, 4, (int64_t)time(NULL));
    return run(st, stmt, err, "set override");
}

int store_override_clear(store_t *st, const char *endpoint, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st, "DELETE FROM overrides WHERE endpoint=?", &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_text(stmt, 1, endpoint, -1, SQLITE_STATIC);
    if ((rc = run(st, stmt, err, "clear override")))
        return rc;
    return sqlite3_changes(st->db) ? 0
                                   : gs_err_set(err, GS_ENOTFOUND, "no override on '%s'", endpoint);
}

int store_overrides_each(store_t *st, store_override_fn fn, void *ctx, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st, "SELECT endpoint, state, until FROM overrides ORDER BY endpoint", &stmt, err);
    if (rc)
        return rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        fn(ctx, col_text(stmt, 0), col_text(stmt, 1), sqlite3_column_int64(stmt, 2));
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? 0 : sql_err(st, err, "read overrides");
}

int store_autoprimary_add(store_t *st, const char *ip, const char *nameserver, const char *account,
                          gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st,
                  "INSERT OR REPLACE INTO autoprimaries(ip, nameserver, account, created) "
                  "VALUES(?,?,?,?)",
                  &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_text(stmt, 1, ip, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, nameserver, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, account, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 4, (int64_t)time(NULL));
    return run(st, stmt, err, "add autoprimary");
}

int store_autoprimary_remove(store_t *st, const char *ip, const char *nameserver, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st, "DELETE FROM autoprimaries WHERE ip=? AND nameserver=?", &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_text(stmt, 1, ip, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, nameserver, -1, SQLITE_STATIC);
    if ((rc = run(st, stmt, err, "remove autoprimary")))
        return rc;
    return sqlite3_changes(st->db)
               ? 0
               : gs_err_set(err, GS_ENOTFOUND, "no autoprimary %s %s", ip, nameserver);
}

int store_autoprimaries_each(store_t *st, store_autoprimary_fn fn, void *ctx, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st, "SELECT ip, nameserver, account FROM autoprimaries ORDER BY ip, nameserver",
                  &stmt, err);
    if (rc)
        return rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        fn(ctx, col_text(stmt, 0), col_text(stmt, 1), col_text(stmt, 2));
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? 0 : sql_err(st, err, "read autoprimaries");
}

int store_tsig_set(store_t *st, const char *name, const char *algorithm, const char *secret,
                   gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st,
                  "INSERT OR REPLACE INTO tsig_keys(name, algorithm, secret, created) "
                  "VALUES(?,?,?,?)",
                  &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, algorithm, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, secret, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 4, (int64_t)time(NULL));
    return run(st, stmt, err, "set TSIG key");
}

int store_tsig_delete(store_t *st, const char *name, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st, "DELETE FROM tsig_keys WHERE name=?", &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    if ((rc = run(st, stmt, err, "delete TSIG key")))
        return rc;
    return sqlite3_changes(st->db) ? 0 : gs_err_set(err, GS_ENOTFOUND, "no TSIG key '%s'", name);
}

int store_tsig_each(store_t *st, const char *name, store_tsig_fn fn, void *ctx, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st,
                  name ? "SELECT name, algorithm, secret FROM tsig_keys WHERE name=?"
                       : "SELECT name, algorithm, secret FROM tsig_keys ORDER BY name",
                  &stmt, err);
    if (rc)
        return rc;
    if (name)
        sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        fn(ctx, col_text(stmt, 0), col_text(stmt, 1), col_text(stmt, 2));
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? 0 : sql_err(st, err, "read TSIG keys");
}

int store_key_add(store_t *st, int64_t zone_id, const store_key_t *k, int64_t *id, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st,
                  "INSERT INTO cryptokeys(zone_id, flags, active, published, content, created) "
                  "VALUES(?,?,?,?,?,?)",
                  &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, zone_id);
    sqlite3_bind_int64(stmt, 2, k->flags);
    sqlite3_bind_int(stmt, 3, k->active);
    sqlite3_bind_int(stmt, 4, k->published);
    sqlite3_bind_text(stmt, 5, k->content, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 6, (int64_t)time(NULL));
    if ((rc = run(st, stmt, err, "add DNSSEC key")))
        return rc;
    *id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

int store_key_set(store_t *st, int64_t zone_id, int64_t key_id, const char *field, bool value,
                  gs_err_t *err)
{
    sqlite3_stmt *stmt;
    bool active = strcmp(field, "active") == 0;
    int rc = prep(st,
                  active ? "UPDATE cryptokeys SET active=? WHERE id=? AND zone_id=?"
                         : "UPDATE cryptokeys SET published=? WHERE id=? AND zone_id=?",
                  &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_int(stmt, 1, value);
    sqlite3_bind_int64(stmt, 2, key_id);
    sqlite3_bind_int64(stmt, 3, zone_id);
    if ((rc = run(st, stmt, err, "update DNSSEC key")))
        return rc;
    return sqlite3_changes(st->db)
               ? 0
               : gs_err_set(err, GS_ENOTFOUND, "the zone has no key with id %lld",
                            (long long)key_id);
}

int store_key_remove(store_t *st, int64_t zone_id, int64_t key_id, gs_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc = prep(st, "DELETE FROM cryptokeys WHERE id=? AND zone_id=?", &stmt, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, key_id);
    sqlite3_bind_int64(stmt, 2, zone_id);
    if ((rc = run(st, stmt, err, "remove DNSSEC key")))
        return rc;
    return sqlite3_changes(st->db)
               ? 0
               : gs_err_set(err, GS_ENOTFOUND, "the zone has no key with id %lld",
                            (long long)key_id);
}
