/* A small generic MaxMind DB writer: a map from IP networks to data records,
 * serialised as a format 2.0 file that libmaxminddb and mmdblookup read.
 * Used offline by `geosteer geoip build` (geo/geoip_build.c) and by the unit
 * tests that make fixture databases; never by the daemon. Single-threaded.
 *
 * Order: mmdbw_new, then any number of mmdbw_data (encode each record with
 * the mmdbw_put_* encoders first) and mmdbw_insert*, then mmdbw_write once,
 * then mmdbw_free.
 *
 * The tree is always an IPv6 tree (ip_version 6); IPv4 networks live under
 * ::/96 as in MaxMind's own databases, and ::ffff:0:0/96 is made an alias of
 * that subtree when the IPv6 data leaves it empty. Where networks overlap,
 * the more specific one wins; for two identical networks the later insert
 * wins. Sibling networks with the same data are merged when written. */
#ifndef GS_GEO_MMDB_WRITER_H
#define GS_GEO_MMDB_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/compiler.h"

/* A growable byte buffer holding values encoded in the MaxMind DB data
 * format. Zero-initialise it ({0}); release with mmdbw_buf_free. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
} mmdbw_buf_t;

void mmdbw_buf_free(mmdbw_buf_t *b);

/* Encoders: each appends one value. A map of n pairs is followed by 2n
 * values (key string, value); an array of n by n values. No pointers are
 * written, so an encoded record is self-contained. */
void mmdbw_put_map(mmdbw_buf_t *b, uint32_t pairs);
void mmdbw_put_array(mmdbw_buf_t *b, uint32_t items);
void mmdbw_put_str(mmdbw_buf_t *b, const char *s);
void mmdbw_put_double(mmdbw_buf_t *b, double v);
void mmdbw_put_u16(mmdbw_buf_t *b, uint16_t v);
void mmdbw_put_u32(mmdbw_buf_t *b, uint32_t v);
void mmdbw_put_u64(mmdbw_buf_t *b, uint64_t v);
void mmdbw_put_bool(mmdbw_buf_t *b, bool v);

typedef struct mmdbw mmdbw_t;

/* Returns an owned, empty writer. */
mmdbw_t *mmdbw_new(void);

/* Releases a writer. Accepts NULL. */
void mmdbw_free(mmdbw_t *w);

/* Adds one encoded record (`len` bytes, a single complete value) to the
 * data section and returns its id for mmdbw_insert*. Identical records get
 * the same id, so each is stored once. The bytes are copied. */
uint32_t mmdbw_data(mmdbw_t *w, const uint8_t *rec, size_t len);

/* Maps the IPv6 network addr/prefix_len (addr: 16 bytes, network order,
 * host bits ignored; prefix_len 0..128) to record `data`. */
void mmdbw_insert(mmdbw_t *w, const uint8_t addr[16], unsigned prefix_len, uint32_t data);

/* Maps every address lo..hi (inclusive; IPv4 in host order, or IPv6 as 16
 * network-order bytes) to `data`, split into the fewest CIDR networks.
 * Returns the number of networks inserted, or 0 if lo > hi. */
size_t mmdbw_insert_range4(mmdbw_t *w, uint32_t lo, uint32_t hi, uint32_t data);
size_t mmdbw_insert_range6(mmdbw_t *w, const uint8_t lo[16], const uint8_t hi[16], uint32_t data);

typedef struct {
    const char *database_type; /* metadata database_type, e.g. "GeoSteer-Country" */
    const char *description;   /* metadata description.en */
    uint64_t build_epoch;      /* metadata build_epoch (seconds); 0: now (readers
                                  refuse a zero build_epoch) */
    uint16_t record_size;      /* 24, 28 or 32; 0 picks the smallest that fits */
} mmdbw_meta_t;

/* What mmdbw_write produced. */
typedef struct {
    uint32_t node_count;
    uint16_t record_size;
    size_t networks;  /* networks with data in the written tree, after merging,
                         not counting the ::ffff:0:0/96 alias twice */
    size_t data_size; /* bytes in the data section */
    uint64_t file_size;
} mmdbw_stats_t;

/* Writes the database to `path`: a temporary file in the same directory,
 * flushed, then renamed over `path`, so readers never see a partial file.
 * Returns 0 and fills `st` (may be NULL), or -errno / GS_ETOOBIG (tree too
 * big for the requested record size) with the reason in `err`. The writer
 * is left unusable for further inserts; only mmdbw_free may follow. */
GS_WARN_UNUSED int mmdbw_write(mmdbw_t *w, const char *path, const mmdbw_meta_t *meta,
                               mmdbw_stats_t *st, gs_err_t *err);

#endif
