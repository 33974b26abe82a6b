/* The one hash table of geosteer: an open-addressing index over an array
 * the caller keeps. The table holds entry numbers (array index + 1; 0 is an
 * empty slot) placed by the caller's hash, with linear probing in a
 * power-of-two table kept at most half full; the caller compares keys, so
 * one module serves zone names, policy names and check ids alike. Tables
 * are built by one thread and then only read, by any number of threads,
 * without locks (zone images, snapshots, engines, health views are
 * immutable once published). No deletion: tables are rebuilt.
 *
 * Lookup:
 *     uint32_t i;
 *     for (size_t k = htab_start(&t, h); (i = htab_next(&t, &k)) != HTAB_END;)
 *         if (key_of(entries[i]) == key)
 *             return &entries[i];
 */
#ifndef GS_COMMON_HTAB_H
#define GS_COMMON_HTAB_H

#include <stddef.h>
#include <stdint.h>

#define HTAB_END UINT32_MAX

typedef struct {
    uint32_t *slot;
    size_t mask;
} htab_t;

/* An empty table with room for `n` entries (any n, 0 included). */
void htab_init(htab_t *t, size_t n);

/* Adds entry `index` (< HTAB_END - 1) under `hash`. At most the `n` of
 * htab_init entries may be added; keys are not checked for duplicates. */
void htab_add(htab_t *t, uint64_t hash, uint32_t index);

/* Frees the slots. Accepts an initialised or zeroed table. */
void htab_free(htab_t *t);

/* The probe cursor of `hash`, then the candidate entries one by one, and
 * HTAB_END at the first empty slot. */
static inline size_t htab_start(const htab_t *t, uint64_t hash)
{
    return (size_t)hash & t->mask;
}

static inline uint32_t htab_next(const htab_t *t, size_t *k)
{
    uint32_t e = t->slot[*k];
    *k = (*k + 1) & t->mask;
    return e ? e - 1 : HTAB_END;
}

/* A hash of an integer key (Fibonacci hashing: the product's high bits,
 * which depend on every bit of the key, moved down). */
static inline uint64_t htab_hash_u64(uint64_t key)
{
    return (key * 0x9e3779b97f4a7c15ull) >> 20;
}

#endif
