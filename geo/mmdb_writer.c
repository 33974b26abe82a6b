#include "geo/mmdb_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/htab.h"
#include "common/mem.h"

/* Addresses are handled as one 128-bit integer; gcc and clang both have it
 * on every target we build for. */
typedef unsigned __int128 u128;

/* The in-memory tree. A record is EMPTY (0), a data id with REC_DATA set, or
 * a node index. Node 0 is the root, which is never anyone's child, so 0 is
 * free to mean "empty". */
#define REC_EMPTY 0u
#define REC_DATA 0x80000000u
#define IPV4_DEPTH 96

typedef struct {
    uint32_t rec[2];
} wnode_t;

struct mmdbw {
    wnode_t *nodes;
    size_t n_nodes, cap_nodes;
    uint32_t v4root;  /* the node after 96 zero bits; it exists from mmdbw_new on */
    mmdbw_buf_t data; /* the data section, records concatenated */
    uint32_t *offs;   /* offs[id]: offset of record id in `data` */
    size_t n_data, cap_data;
    htab_t index;      /* records by their bytes' hash: each distinct record once */
    size_t index_room; /* entries `index` was sized for */
};

static bool is_node(uint32_t r)
{
    return r != REC_EMPTY && !(r & REC_DATA);
}

/* --- encoders ------------------------------------------------------------ */

void mmdbw_buf_free(mmdbw_buf_t *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static void buf_put(mmdbw_buf_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n)
            cap *= 2;
        b->data = mem_realloc_n(b->data, cap, 1);
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void buf_byte(mmdbw_buf_t *b, uint8_t c)
{
    buf_put(b, &c, 1);
}

/* Big-endian, the `n` low bytes of v. */
static void buf_be(mmdbw_buf_t *b, uint64_t v, unsigned n)
{
    while (n--)
        buf_byte(b, (uint8_t)(v >> (8 * n)));
}

/* Control byte(s): type in the top 3 bits (0 = extended, the real type - 7
 * in the next byte), then the payload size, with 1-3 extra size bytes for
 * sizes of 29 and more. */
static void put_ctrl(mmdbw_buf_t *b, unsigned type, uint32_t size)
{
    uint8_t first = (uint8_t)((type <= 7 ? type : 0) << 5);
    unsigned extra = 0;
    uint32_t ext = 0;
    if (size < 29) {
        first |= (uint8_t)size;
    } else if (size < 29 + 256) {
        first |= 29;
        ext = size - 29, extra = 1;
    } else if (size < 285 + 65536) {
        first |= 30;
        ext = size - 285, extra = 2;
    } else {
        first |= 31;
        ext = size - 65821, extra = 3;
    }
    buf_byte(b, first);
    if (type > 7)
        buf_byte(b, (uint8_t)(type - 7));
    buf_be(b, ext, extra);
}

enum {
    T_STRING = 2,
    T_DOUBLE = 3,
    T_UINT16 = 5,
    T_UINT32 = 6,
    T_MAP = 7,
    T_UINT64 = 9,
    T_ARRAY = 11,
    T_BOOL = 14,
};

static unsigned uint_bytes(uint64_t v)
{
    unsigned n = 0;
    while (v) {
        n++;
        v >>= 8;
    }
    return n;
}

void mmdbw_put_map(mmdbw_buf_t *b, uint32_t pairs)
{
    put_ctrl(b, T_MAP, pairs);
}

void mmdbw_put_array(mmdbw_buf_t *b, uint32_t items)
{
    put_ctrl(b, T_ARRAY, items);
}

void mmdbw_put_str(mmdbw_buf_t *b, const char *s)
{
    size_t n = strlen(s);
    put_ctrl(b, T_STRING, (uint32_t)n);
    buf_put(b, s, n);
}

void mmdbw_put_double(mmdbw_buf_t *b, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_ctrl(b, T_DOUBLE, 8);
    buf_be(b, bits, 8);
}

void mmdbw_put_u16(mmdbw_buf_t *b, uint16_t v)
{
    put_ctrl(b, T_UINT16, uint_bytes(v));
    buf_be(b, v, uint_bytes(v));
}

void mmdbw_put_u32(mmdbw_buf_t *b, uint32_t v)
{
    put_ctrl(b, T_UINT32, uint_bytes(v));
    buf_be(b, v, uint_bytes(v));
}

void mmdbw_put_u64(mmdbw_buf_t *b, uint64_t v)
{
    put_ctrl(b, T_UINT64, uint_bytes(v));
    buf_be(b, v, uint_bytes(v));
}

void mmdbw_put_bool(mmdbw_buf_t *b, bool v)
{
    put_ctrl(b, T_BOOL, v ? 1 : 0);
}

/* --- tree ---------------------------------------------------------------- */

static uint32_t new_node(mmdbw_t *w, uint32_t left, uint32_t right)
{
    if (w->n_nodes == w->cap_nodes) {
        w->cap_nodes = w->cap_nodes ? w->cap_nodes * 2 : 1024;
        w->nodes = mem_realloc_n(w->nodes, w->cap_nodes, sizeof *w->nodes);
    }
    w->nodes[w->n_nodes].rec[0] = left;
    w->nodes[w->n_nodes].rec[1] = right;
    return (uint32_t)w->n_nodes++;
}

mmdbw_t *mmdbw_new(void)
{
    mmdbw_t *w = mem_calloc(1, sizeof *w);
    uint32_t n = new_node(w, REC_EMPTY, REC_EMPTY);
    for (unsigned depth = 0; depth < IPV4_DEPTH; depth++) {
        uint32_t m = new_node(w, REC_EMPTY, REC_EMPTY);
        w->nodes[n].rec[0] = m;
        n = m;
    }
    w->v4root = n;
    return w;
}

void mmdbw_free(mmdbw_t *w)
{
    if (!w)
        return;
    free(w->nodes);
    mmdbw_buf_free(&w->data);
    free(w->offs);
    htab_free(&w->index);
    free(w);
}

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    return gs_fnv64(p, n);
}

static size_t rec_len(const mmdbw_t *w, uint32_t id)
{
    size_t end = id + 1 < w->n_data ? w->offs[id + 1] : w->data.len;
    return end - w->offs[id];
}

static void index_grow(mmdbw_t *w)
{
    htab_free(&w->index);
    w->index_room = w->index_room ? w->index_room * 2 : 64;
    htab_init(&w->index, w->index_room);
    for (uint32_t id = 0; id < w->n_data; id++)
        htab_add(&w->index, hash_bytes(w->data.data + w->offs[id], rec_len(w, id)), id);
}

uint32_t mmdbw_data(mmdbw_t *w, const uint8_t *rec, size_t len)
{
    if (w->n_data + 1 > w->index_room)
        index_grow(w);
    uint64_t h = hash_bytes(rec, len);
    uint32_t id;
    for (size_t k = htab_start(&w->index, h); (id = htab_next(&w->index, &k)) != HTAB_END;)
        if (rec_len(w, id) == len && memcmp(w->data.data + w->offs[id], rec, len) == 0)
            return id;
    if (w->n_data == w->cap_data) {
        w->cap_data = w->cap_data ? w->cap_data * 2 : 64;
        w->offs = mem_realloc_n(w->offs, w->cap_data, sizeof *w->offs);
    }
    id = (uint32_t)w->n_data++;
    w->offs[id] = (uint32_t)w->data.len;
    buf_put(&w->data, rec, len);
    htab_add(&w->index, h, id);
    return id;
}

/* Gives every empty record under node n the value `val`; records holding
 * data stay (they belong to more specific networks). */
static void fill_empty(mmdbw_t *w, uint32_t n, uint32_t val)
{
    for (int b = 0; b < 2; b++) {
        uint32_t r = w->nodes[n].rec[b];
        if (r == REC_EMPTY)
            w->nodes[n].rec[b] = val;
        else if (is_node(r))
            fill_empty(w, r, val);
    }
}

static void set_rec(mmdbw_t *w, uint32_t n, unsigned bit, uint32_t val)
{
    uint32_t r = w->nodes[n].rec[bit];
    if (is_node(r))
        fill_empty(w, r, val);
    else
        w->nodes[n].rec[bit] = val;
}

static void insert_u128(mmdbw_t *w, u128 addr, unsigned plen, uint32_t val)
{
    uint32_t n = 0;
    unsigned depth = 0;
    if (plen == 0) {
        set_rec(w, 0, 0, val);
        set_rec(w, 0, 1, val);
        return;
    }
    if (plen > IPV4_DEPTH && (addr >> 32) == 0) {
        n = w->v4root; /* the zero path to it never changes */
        depth = IPV4_DEPTH;
    }
    for (;; depth++) {
        unsigned bit = (unsigned)(addr >> (127 - depth)) & 1;
        if (depth == plen - 1) {
            set_rec(w, n, bit, val);
            return;
        }
        uint32_t r = w->nodes[n].rec[bit];
        if (!is_node(r)) {
            /* Split an empty or data record: both halves keep its value. */
            uint32_t m = new_node(w, r, r);
            w->nodes[n].rec[bit] = m;
            r = m;
        }
        n = r;
    }
}

static u128 load128(const uint8_t a[16])
{
    u128 v = 0;
    for (int i = 0; i < 16; i++)
        v = (v << 8) | a[i];
    return v;
}

void mmdbw_insert(mmdbw_t *w, const uint8_t addr[16], unsigned prefix_len, uint32_t data)
{
    if (prefix_len > 128)
        prefix_len = 128;
    insert_u128(w, load128(addr), prefix_len, data | REC_DATA);
}

static unsigned ctz128(u128 v)
{
    uint64_t lo = (uint64_t)v, hi = (uint64_t)(v >> 64);
    if (lo)
        return (unsigned)__builtin_ctzll(lo);
    if (hi)
        return 64 + (unsigned)__builtin_ctzll(hi);
    return 128;
}

/* Splits lo..hi into aligned blocks of at most 2^max_bits addresses. */
static size_t insert_range(mmdbw_t *w, u128 lo, u128 hi, unsigned max_bits, uint32_t val)
{
    if (lo > hi)
        return 0;
    size_t n = 0;
    for (;;) {
        unsigned k = ctz128(lo);
        if (k > max_bits)
            k = max_bits;
        /* Shrink until the block lo .. lo + 2^k - 1 ends at or before hi. */
        while (k > 0 && (k == 128 ? hi - lo != ~(u128)0 : hi - lo < ((u128)1 << k) - 1))
            k--;
        insert_u128(w, lo, 128 - k, val);
        n++;
        if (k == 128)
            return n;
        u128 last = lo + (((u128)1 << k) - 1);
        if (last >= hi)
            return n;
        lo = last + 1;
    }
}

size_t mmdbw_insert_range4(mmdbw_t *w, uint32_t lo, uint32_t hi, uint32_t data)
{
    return insert_range(w, lo, hi, 32, data | REC_DATA);
}

size_t mmdbw_insert_range6(mmdbw_t *w, const uint8_t lo[16], const uint8_t hi[16], uint32_t data)
{
    return insert_range(w, load128(lo), load128(hi), 128, data | REC_DATA);
}

/* Replaces a node whose two records hold the same non-node value by that
 * value (returned). Nodes on the zero path above ::/96 are kept, so IPv4
 * data is never merged with IPv6 neighbours and ::/96 stays a record. */
static uint32_t collapse(mmdbw_t *w, uint32_t n, unsigned depth, bool zero_path)
{
    for (unsigned b = 0; b < 2; b++) {
        uint32_t r = w->nodes[n].rec[b];
        if (is_node(r))
            w->nodes[n].rec[b] = collapse(w, r, depth + 1, zero_path && b == 0);
    }
    const wnode_t *nd = &w->nodes[n];
    if (nd->rec[0] == nd->rec[1] && !is_node(nd->rec[0]) && !(zero_path && depth < IPV4_DEPTH))
        return nd->rec[0];
    return n;
}

/* Makes ::ffff:0:0/96 point at the IPv4 subtree, as MaxMind databases do,
 * if the IPv6 data leaves that network empty. */
static void alias_ipv4_mapped(mmdbw_t *w)
{
    uint32_t n = 0;
    for (unsigned depth = 0; depth < IPV4_DEPTH - 1; depth++)
        n = w->nodes[n].rec[0];
    uint32_t v4 = w->nodes[n].rec[0]; /* the record for ::/96 */
    if (v4 == REC_EMPTY)
        return;
    const u128 mapped = (u128)0xffff << 32;
    n = 0;
    for (unsigned depth = 0; depth < IPV4_DEPTH - 1; depth++) {
        unsigned bit = (unsigned)(mapped >> (127 - depth)) & 1;
        uint32_t r = w->nodes[n].rec[bit];
        if (r & REC_DATA)
            return; /* IPv6 data covers it: leave it alone */
        if (r == REC_EMPTY) {
            r = new_node(w, REC_EMPTY, REC_EMPTY);
            w->nodes[n].rec[bit] = r;
        }
        n = r;
    }
    if (w->nodes[n].rec[1] == REC_EMPTY)
        w->nodes[n].rec[1] = v4;
}

/* --- output -------------------------------------------------------------- */

static void put_metadata(mmdbw_buf_t *b, const mmdbw_meta_t *meta, uint32_t node_count,
                         uint16_t record_size)
{
    mmdbw_put_map(b, 9);
    mmdbw_put_str(b, "binary_format_major_version");
    mmdbw_put_u16(b, 2);
    mmdbw_put_str(b, "binary_format_minor_version");
    mmdbw_put_u16(b, 0);
    mmdbw_put_str(b, "build_epoch");
    mmdbw_put_u64(b, meta->build_epoch ? meta->build_epoch : (uint64_t)time(NULL));
    mmdbw_put_str(b, "database_type");
    mmdbw_put_str(b, meta->database_type ? meta->database_type : "GeoSteer");
    mmdbw_put_str(b, "description");
    mmdbw_put_map(b, 1);
    mmdbw_put_str(b, "en");
    mmdbw_put_str(b, meta->description ? meta->description : "");
    mmdbw_put_str(b, "languages");
    mmdbw_put_array(b, 1);
    mmdbw_put_str(b, "en");
    mmdbw_put_str(b, "ip_version");
    mmdbw_put_u16(b, 6);
    mmdbw_put_str(b, "node_count");
    mmdbw_put_u32(b, node_count);
    mmdbw_put_str(b, "record_size");
    mmdbw_put_u16(b, record_size);
}

static void put_node(mmdbw_buf_t *b, uint32_t left, uint32_t right, unsigned rs)
{
    switch (rs) {
    case 24:
        buf_be(b, left, 3);
        buf_be(b, right, 3);
        break;
    case 28:
        buf_be(b, left & 0xffffff, 3);
        buf_byte(b, (uint8_t)(((left >> 24) & 0xf) << 4 | ((right >> 24) & 0xf)));
        buf_be(b, right & 0xffffff, 3);
        break;
    default:
        buf_be(b, left, 4);
        buf_be(b, right, 4);
        break;
    }
}

/* Numbers the reachable nodes breadth-first (root 0) into `order` (old
 * indexes) and `newidx`; returns the node count and counts data records. */
static uint32_t number_nodes(const mmdbw_t *w, uint32_t *order, uint32_t *newidx, size_t *nets)
{
    for (size_t i = 0; i < w->n_nodes; i++)
        newidx[i] = UINT32_MAX;
    uint32_t count = 0;
    order[count] = 0;
    newidx[0] = count++;
    *nets = 0;
    for (uint32_t q = 0; q < count; q++) {
        const wnode_t *nd = &w->nodes[order[q]];
        for (unsigned b = 0; b < 2; b++) {
            uint32_t r = nd->rec[b];
            if (is_node(r) && newidx[r] == UINT32_MAX) {
                order[count] = r;
                newidx[r] = count++;
            } else if (r & REC_DATA) {
                (*nets)++;
            }
        }
    }
    return count;
}

static int write_file(const char *path, const mmdbw_buf_t *parts, size_t n_parts, gs_err_t *err)
{
    size_t plen = strlen(path);
    char *tmp = mem_alloc(plen + 16);
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int rc = -errno;
        gs_err_set(err, rc, "cannot create a temporary file next to %s: %s", path, strerror(errno));
        free(tmp);
        return rc;
    }
    int rc = 0;
    for (size_t i = 0; i < n_parts && rc == 0; i++) {
        const uint8_t *p = parts[i].data;
        size_t left = parts[i].len;
        while (left > 0) {
            ssize_t k = write(fd, p, left);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0) {
                rc = -errno;
                break;
            }
            p += k;
            left -= (size_t)k;
        }
    }
    if (rc == 0 && fchmod(fd, 0644) != 0)
        rc = -errno;
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0) {
        gs_err_set(err, rc, "cannot write %s: %s", path, strerror(-rc));
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

int mmdbw_write(mmdbw_t *w, const char *path, const mmdbw_meta_t *meta, mmdbw_stats_t *st,
                gs_err_t *err)
{
    collapse(w, 0, 0, true);
    alias_ipv4_mapped(w);

    uint32_t *order = mem_calloc(w->n_nodes, sizeof *order);
    uint32_t *newidx = mem_calloc(w->n_nodes, sizeof *newidx);
    size_t nets;
    uint32_t node_count = number_nodes(w, order, newidx, &nets);

    /* The largest record value is a pointer just below the end of the data
     * section: node_count + 16 + data size. */
    uint64_t max_rec = (uint64_t)node_count + 16 + w->data.len;
    unsigned rs = meta->record_size;
    if (rs == 0)
        rs = max_rec < (1ull << 24) ? 24 : max_rec < (1ull << 28) ? 28 : 32;
    if ((rs != 24 && rs != 28 && rs != 32) || max_rec >= (1ull << rs)) {
        free(order);
        free(newidx);
        return gs_err_set(err, GS_ETOOBIG,
                          "%s: %u nodes and %zu data bytes do not fit %u-bit records", path,
                          node_count, w->data.len, rs);
    }

    mmdbw_buf_t parts[2] = {{0}, {0}};
    mmdbw_buf_t *tree = &parts[0], *tail = &parts[1];
    tree->cap = (size_t)node_count * rs / 4 + 16;
    tree->data = mem_alloc(tree->cap);
    for (uint32_t i = 0; i < node_count; i++) {
        uint32_t v[2];
        for (unsigned b = 0; b < 2; b++) {
            uint32_t r = w->nodes[order[i]].rec[b];
            if (r == REC_EMPTY)
                v[b] = node_count;
            else if (r & REC_DATA)
                v[b] = node_count + 16 + w->offs[r & ~REC_DATA];
            else
                v[b] = newidx[r];
        }
        put_node(tree, v[0], v[1], rs);
    }
    free(order);
    free(newidx);

    static const uint8_t zeros[16];
    buf_put(tree, zeros, sizeof zeros);
    buf_put(tree, w->data.data, w->data.len);
    buf_put(tail, "\xab\xcd\xefMaxMind.com", 14);
    put_metadata(tail, meta, node_count, (uint16_t)rs);

    int rc = write_file(path, parts, 2, err);
    if (rc == 0 && st) {
        st->node_count = node_count;
        st->record_size = (uint16_t)rs;
        st->networks = nets;
        st->data_size = w->data.len;
        st->file_size = tree->len + tail->len;
    }
    mmdbw_buf_free(tree);
    mmdbw_buf_free(tail);
    return rc;
}
