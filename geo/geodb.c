#include "geo/geodb.h"

#include <errno.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "common/mapguard.h"
#include "common/mem.h"

struct geo_db {
    MMDB_s mmdb;
    char *path;
    /* libmaxminddb maps the file shared: a file rewritten in place (cp over
     * it) would fault every lookup past its new end. The mapping is guarded
     * (common/mapguard.h): it then reads zeros, lookups find nothing, and
     * geo_db_faulted tells the owner to reload. -1: not guarded. */
    int guard;
    /* Where IPv4 addresses start in the tree: the record reached after 96
     * zero bits in an IPv6 database (fewer if the tree stops earlier), the
     * root in an IPv4 one. v4_type is an MMDB_RECORD_TYPE_* constant. */
    uint64_t v4_rec;
    uint8_t v4_type;
    unsigned v4_depth;
    /* Every data record decoded once at open, by data offset (open
     * addressing, key offset + 1, 0 free), when there are at most
     * DECODED_MAX of them, as in country databases; NULL otherwise and
     * lookups decode. Immutable after open. */
    uint32_t *dec_keys;
    geo_result_t *dec_res;
    size_t dec_cap, dec_count;
};

#define DECODED_MAX 65536

/* Paths into the GeoIP2/GeoLite2 record layout. */
static const char *const P_COUNTRY[] = {"country", "iso_code", NULL};
static const char *const P_CONTINENT[] = {"continent", "code", NULL};
static const char *const P_SUBDIV[] = {"subdivisions", "0", "iso_code", NULL};
static const char *const P_LAT[] = {"location", "latitude", NULL};
static const char *const P_LON[] = {"location", "longitude", NULL};
static const char *const P_ASN[] = {"autonomous_system_number", NULL};

/* Looks `path` up under `e`. Returns 1 if found with `type`, 0 if absent
 * (or of another type: treated as absent), GS_EINVAL if the data is corrupt. */
static int get(MMDB_entry_s *e, const char *const *path, uint32_t type, MMDB_entry_data_s *d)
{
    int rc = MMDB_aget_value(e, d, path);
    if (rc == MMDB_SUCCESS)
        return d->has_data && d->type == type;
    if (rc == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR || rc == MMDB_INVALID_LOOKUP_PATH_ERROR)
        return 0;
    return GS_EINVAL;
}

static void copy_code(char *dst, size_t cap, const MMDB_entry_data_s *d)
{
    if (d->data_size > 0 && d->data_size < cap) {
        memcpy(dst, d->utf8_string, d->data_size);
        dst[d->data_size] = '\0';
    }
}

/* Fills the data fields of `out` (prefix_len untouched) from the record at
 * `e`. Returns 0 or GS_EINVAL (corrupt data). No allocation. */
static int decode(MMDB_entry_s *e, geo_result_t *out)
{
    MMDB_entry_data_s d;
    int rc;
    out->country[0] = out->continent[0] = out->subdivision[0] = '\0';
    out->has_location = false;
    out->latitude = out->longitude = 0;
    out->asn = 0;

    if ((rc = get(e, P_COUNTRY, MMDB_DATA_TYPE_UTF8_STRING, &d)) < 0)
        return rc;
    if (rc)
        copy_code(out->country, sizeof out->country, &d);
    if ((rc = get(e, P_CONTINENT, MMDB_DATA_TYPE_UTF8_STRING, &d)) < 0)
        return rc;
    if (rc)
        copy_code(out->continent, sizeof out->continent, &d);
    if ((rc = get(e, P_SUBDIV, MMDB_DATA_TYPE_UTF8_STRING, &d)) < 0)
        return rc;
    if (rc && out->country[0] && d.data_size > 0 && d.data_size <= 4) {
        /* "US" + "-" + "CA": ISO 3166-2 carries the country. */
        memcpy(out->subdivision, out->country, 2);
        out->subdivision[2] = '-';
        memcpy(out->subdivision + 3, d.utf8_string, d.data_size);
        out->subdivision[3 + d.data_size] = '\0';
    }
    MMDB_entry_data_s lon;
    int rc2;
    if ((rc = get(e, P_LAT, MMDB_DATA_TYPE_DOUBLE, &d)) < 0)
        return rc;
    if ((rc2 = get(e, P_LON, MMDB_DATA_TYPE_DOUBLE, &lon)) < 0)
        return rc2;
    if (rc && rc2) {
        out->has_location = true;
        out->latitude = d.double_value;
        out->longitude = lon.double_value;
    }
    if ((rc = get(e, P_ASN, MMDB_DATA_TYPE_UINT32, &d)) < 0)
        return rc;
    if (rc)
        out->asn = d.uint32;
    return 0;
}

static size_t dec_slot(const geo_db_t *db, uint32_t off)
{
    size_t mask = db->dec_cap - 1, i = ((uint64_t)off * 2654435761u) & mask;
    while (db->dec_keys[i] && db->dec_keys[i] != off + 1)
        i = (i + 1) & mask;
    return i;
}

static void dec_drop(geo_db_t *db)
{
    free(db->dec_keys);
    free(db->dec_res);
    db->dec_keys = NULL;
    db->dec_res = NULL;
    db->dec_cap = db->dec_count = 0;
}

/* Decodes the data record at `e` into the table unless it is there.
 * Returns 0, or GS_EINVAL if it is not a valid record. */
static int dec_add(geo_db_t *db, MMDB_entry_s *e)
{
    if (!db->dec_keys)
        return 0;
    size_t i = dec_slot(db, e->offset);
    if (db->dec_keys[i])
        return 0;
    MMDB_entry_data_s d;
    if (MMDB_get_value(e, &d, NULL) != MMDB_SUCCESS || d.type != MMDB_DATA_TYPE_MAP ||
        decode(e, &db->dec_res[i]) != 0)
        return GS_EINVAL;
    db->dec_keys[i] = e->offset + 1;
    if (++db->dec_count > DECODED_MAX) {
        dec_drop(db); /* a city-sized database: decode per lookup */
    } else if (2 * db->dec_count > db->dec_cap) {
        uint32_t *keys = db->dec_keys;
        geo_result_t *res = db->dec_res;
        size_t cap = db->dec_cap;
        db->dec_cap *= 2;
        db->dec_keys = mem_calloc(db->dec_cap, sizeof *db->dec_keys);
        db->dec_res = mem_calloc(db->dec_cap, sizeof *db->dec_res);
        for (size_t k = 0; k < cap; k++) {
            if (keys[k]) {
                size_t j = dec_slot(db, keys[k] - 1);
                db->dec_keys[j] = keys[k];
                db->dec_res[j] = res[k];
            }
        }
        free(keys);
        free(res);
    }
    return 0;
}

/* Returns the decoded record at data offset `off`, or NULL if not kept. */
static const geo_result_t *dec_find(const geo_db_t *db, uint32_t off)
{
    if (!db->dec_keys)
        return NULL;
    size_t i = dec_slot(db, off);
    return db->dec_keys[i] ? &db->dec_res[i] : NULL;
}

/* Checks every record of the search tree points at a node, nothing, or
 * inside the data section, decodes the data records (all of them while
 * there are at most DECODED_MAX, else the first), and finds the IPv4
 * start. Linear in the node count (~20 ns a node). */
static int check_tree(geo_db_t *db, gs_err_t *err)
{
    const MMDB_s *m = &db->mmdb;
    bool decoded = false;
    db->dec_cap = 256;
    db->dec_keys = mem_calloc(db->dec_cap, sizeof *db->dec_keys);
    db->dec_res = mem_calloc(db->dec_cap, sizeof *db->dec_res);
    for (uint32_t i = 0; i < m->metadata.node_count; i++) {
        MMDB_search_node_s n;
        int rc = MMDB_read_node(m, i, &n);
        if (rc != MMDB_SUCCESS)
            return gs_err_set(err, GS_EINVAL, "%s: corrupt search tree at node %u: %s", db->path, i,
                              MMDB_strerror(rc));
        if (n.left_record_type == MMDB_RECORD_TYPE_INVALID ||
            n.right_record_type == MMDB_RECORD_TYPE_INVALID)
            return gs_err_set(err, GS_EINVAL,
                              "%s: corrupt search tree: node %u points outside the file", db->path,
                              i);
        for (int b = 0; b < 2; b++) {
            if ((b ? n.right_record_type : n.left_record_type) != MMDB_RECORD_TYPE_DATA)
                continue;
            MMDB_entry_s *e = b ? &n.right_record_entry : &n.left_record_entry;
            MMDB_entry_data_s d;
            geo_result_t r;
            if (db->dec_keys ? dec_add(db, e) != 0
                             : !decoded && (MMDB_get_value(e, &d, NULL) != MMDB_SUCCESS ||
                                            d.type != MMDB_DATA_TYPE_MAP || decode(e, &r) != 0))
                return gs_err_set(err, GS_EINVAL, "%s: corrupt data section (record at %u)",
                                  db->path, e->offset);
            decoded = true;
        }
    }

    /* IPv4 start: 96 left turns from the root in an IPv6 tree. */
    db->v4_rec = 0;
    db->v4_type = MMDB_RECORD_TYPE_SEARCH_NODE;
    db->v4_depth = 0;
    if (m->metadata.ip_version == 6) {
        while (db->v4_depth < 96 && db->v4_type == MMDB_RECORD_TYPE_SEARCH_NODE) {
            MMDB_search_node_s n;
            MMDB_read_node(m, (uint32_t)db->v4_rec, &n);
            db->v4_rec = n.left_record;
            db->v4_type = n.left_record_type;
            db->v4_depth++;
        }
    }
    return 0;
}

int geo_db_open(const char *path, geo_db_t **out, gs_err_t *err)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) {
        int rc = -errno;
        return gs_err_set(err, rc, "%s: cannot open GeoIP database: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        return gs_err_set(err, GS_EINVAL, "%s: not a regular file", path);
    if (st.st_size == 0)
        return gs_err_set(err, GS_EINVAL, "%s: empty file, not a MaxMind DB", path);

    geo_db_t *db = mem_calloc(1, sizeof *db);
    db->path = mem_strdup(path);
    db->guard = -1;
    int rc = MMDB_open(path, MMDB_MODE_MMAP, &db->mmdb);
    if (rc != MMDB_SUCCESS) {
        int code = GS_EINVAL;
        if (rc == MMDB_FILE_OPEN_ERROR || rc == MMDB_IO_ERROR)
            code = errno ? -errno : -EIO;
        else if (rc == MMDB_OUT_OF_MEMORY_ERROR)
            code = -ENOMEM;
        gs_err_set(err, code, "%s: not a valid MaxMind DB file%s (%s)", path,
                   code == GS_EINVAL ? ", truncated or corrupt" : "", MMDB_strerror(rc));
        free(db->path);
        free(db);
        return code;
    }

    /* Unguarded (all slots taken) it still works, as before. */
    db->guard = mapguard_add((void *)(uintptr_t)db->mmdb.file_content, (size_t)db->mmdb.file_size,
                             PROT_READ);
    const MMDB_metadata_s *md = &db->mmdb.metadata;
    if (md->binary_format_major_version != 2)
        rc = gs_err_set(err, GS_EINVAL, "%s: unsupported MaxMind DB format version %u.%u", path,
                        md->binary_format_major_version, md->binary_format_minor_version);
    else if (md->ip_version != 4 && md->ip_version != 6)
        rc =
            gs_err_set(err, GS_EINVAL, "%s: corrupt metadata: ip_version %u", path, md->ip_version);
    else if (md->record_size != 24 && md->record_size != 28 && md->record_size != 32)
        rc = gs_err_set(err, GS_EINVAL, "%s: corrupt metadata: record_size %u", path,
                        md->record_size);
    else if (md->node_count == 0 || !md->database_type)
        rc = gs_err_set(err, GS_EINVAL, "%s: corrupt metadata: %s", path,
                        md->node_count == 0 ? "no nodes" : "no database_type");
    else
        rc = check_tree(db, err);
    if (rc == 0) {
        /* A test lookup exercises the reader end to end. */
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x01010101)};
        geo_result_t r;
        int lrc = geo_db_lookup(db, (const struct sockaddr *)&sin, &r);
        if (lrc != 0 && lrc != GS_ENOTFOUND)
            rc =
                gs_err_set(err, GS_EINVAL, "%s: test lookup of 1.1.1.1 failed: corrupt file", path);
    }
    if (rc != 0) {
        geo_db_close(db);
        return rc;
    }
    *out = db;
    return 0;
}

void geo_db_close(geo_db_t *db)
{
    if (!db)
        return;
    mapguard_del(db->guard);
    MMDB_close(&db->mmdb);
    dec_drop(db);
    free(db->path);
    free(db);
}

int geo_db_lookup(const geo_db_t *db, const struct sockaddr *sa, geo_result_t *out)
{
    int merr = MMDB_SUCCESS;
    memset(out, 0, sizeof *out);
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
        return GS_EINVAL;
    MMDB_lookup_result_s r = MMDB_lookup_sockaddr(&db->mmdb, sa, &merr);
    if (merr == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR)
        return GS_ENOTFOUND; /* an IPv4-only database knows no IPv6 address */
    if (merr != MMDB_SUCCESS)
        return GS_EINVAL;
    unsigned plen = r.netmask;
    if (sa->sa_family == AF_INET && db->mmdb.metadata.ip_version == 6)
        plen = plen > 96 ? plen - 96 : 0;
    if (!r.found_entry) {
        out->prefix_len = (uint8_t)plen;
        return GS_ENOTFOUND;
    }
    const geo_result_t *known = dec_find(db, r.entry.offset);
    int rc = 0;
    if (known)
        *out = *known;
    else
        rc = decode(&r.entry, out);
    out->prefix_len = (uint8_t)plen;
    return rc;
}

void geo_db_info(const geo_db_t *db, geo_db_info_t *info)
{
    const MMDB_metadata_s *md = &db->mmdb.metadata;
    info->path = db->path;
    info->database_type = md->database_type;
    info->build_epoch = md->build_epoch;
    info->ip_version = md->ip_version;
    info->node_count = md->node_count;
    info->record_size = md->record_size;
}

/* --- walk ---------------------------------------------------------------- */

typedef struct {
    const geo_db_t *db;
    int family;
    unsigned bitoff; /* tree bit i is bit i + bitoff of `addr` (96 in an IPv4 tree) */
    uint8_t addr[16];
    geo_walk_fn fn;
    void *ctx;
    /* One-entry decode cache: neighbouring networks often share a record. */
    uint32_t cache_off;
    bool cache_ok;
    geo_result_t cache;
} walk_t;

static void set_bit(uint8_t *a, unsigned i, unsigned v)
{
    uint8_t m = (uint8_t)(0x80 >> (i % 8));
    a[i / 8] = v ? (uint8_t)(a[i / 8] | m) : (uint8_t)(a[i / 8] & ~m);
}

static bool zero_bits(const uint8_t *a, unsigned n)
{
    for (unsigned i = 0; i < n / 8; i++)
        if (a[i])
            return false;
    return true;
}

static int emit(walk_t *w, MMDB_entry_s *e, unsigned depth)
{
    if (!w->cache_ok || w->cache_off != e->offset) {
        const geo_result_t *known = dec_find(w->db, e->offset);
        if (known)
            w->cache = *known;
        else if (decode(e, &w->cache) != 0)
            return GS_EINVAL;
        w->cache_off = e->offset;
        w->cache_ok = true;
    }
    unsigned bits = depth + w->bitoff; /* prefix length as an IPv6 address */
    w->cache.prefix_len = (uint8_t)(w->family == AF_INET ? bits - 96 : bits);
    return w->fn(w->ctx, w->family == AF_INET ? w->addr + 12 : w->addr, w->cache.prefix_len,
                 &w->cache);
}

static int walk_node(walk_t *w, uint32_t node, unsigned depth);

/* Visits the record `rec` of type `type` holding the network of the first
 * `depth` tree bits of w->addr. */
static int walk_rec(walk_t *w, uint64_t rec, uint8_t type, MMDB_entry_s *e, unsigned depth)
{
    switch (type) {
    case MMDB_RECORD_TYPE_EMPTY:
        return 0;
    case MMDB_RECORD_TYPE_DATA:
        return emit(w, e, depth);
    case MMDB_RECORD_TYPE_SEARCH_NODE:
        if (depth + w->bitoff >= 128)
            return GS_EINVAL; /* deeper than an address: a corrupt (cyclic) tree */
        return walk_node(w, (uint32_t)rec, depth);
    default:
        return GS_EINVAL;
    }
}

static int walk_node(walk_t *w, uint32_t node, unsigned depth)
{
    MMDB_search_node_s n;
    if (MMDB_read_node(&w->db->mmdb, node, &n) != MMDB_SUCCESS)
        return GS_EINVAL;
    for (unsigned b = 0; b < 2; b++) {
        uint64_t rec = b ? n.right_record : n.left_record;
        uint8_t type = b ? n.right_record_type : n.left_record_type;
        MMDB_entry_s *e = b ? &n.right_record_entry : &n.left_record_entry;
        set_bit(w->addr, depth + w->bitoff, b);
        if (w->family == AF_INET6 && w->db->mmdb.metadata.ip_version == 6) {
            /* ::/96 is the IPv4 subtree; any other way into it (the
             * ::ffff:0:0/96, 2002::/16, ... aliases) is skipped too. */
            if (depth + 1 == 96 && b == 0 && zero_bits(w->addr, 96))
                continue;
            if (type == MMDB_RECORD_TYPE_SEARCH_NODE &&
                w->db->v4_type == MMDB_RECORD_TYPE_SEARCH_NODE && rec == w->db->v4_rec)
                continue;
        }
        int rc = walk_rec(w, rec, type, e, depth + 1);
        if (rc != 0)
            return rc;
    }
    set_bit(w->addr, depth + w->bitoff, 0);
    return 0;
}

int geo_db_walk(const geo_db_t *db, int family, geo_walk_fn fn, void *ctx)
{
    walk_t w = {.db = db, .family = family, .fn = fn, .ctx = ctx};
    unsigned ipv = db->mmdb.metadata.ip_version;
    if (family == AF_INET6)
        return ipv == 6 ? walk_node(&w, 0, 0) : 0;
    if (family != AF_INET)
        return GS_EINVAL;
    if (ipv == 4) {
        w.bitoff = 96;
        return walk_node(&w, 0, 0);
    }
    /* The IPv4 start record holds the network ::/v4_depth; below 96 bits it
     * can only be data or empty, which then covers all of IPv4. */
    if (db->v4_type == MMDB_RECORD_TYPE_SEARCH_NODE)
        return walk_node(&w, (uint32_t)db->v4_rec, 96 - w.bitoff);
    w.bitoff = 96 - db->v4_depth; /* emit() then reports prefix 0 */
    MMDB_entry_s e = {.mmdb = &db->mmdb,
                      .offset = (uint32_t)(db->v4_rec - db->mmdb.metadata.node_count - 16)};
    return walk_rec(&w, db->v4_rec, db->v4_type, &e, db->v4_depth);
}

bool geo_db_faulted(const geo_db_t *db)
{
    return db && mapguard_faulted(db->guard);
}
