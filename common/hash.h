/* FNV-1a, the one hash of names and byte strings in geosteer (hash tables,
 * rendezvous scores, deduplication). Not for anything an adversary could
 * exploit beyond a slower table: inputs are zone names, config names and
 * the writer's own records. Header-only; pure; any thread.
 *
 * Values are not stored anywhere (tables are rebuilt at every load), but
 * consistent-hash policies score endpoints with gs_fnv64 of their names, so
 * changing this function moves clients between endpoints. */
#ifndef GS_COMMON_HASH_H
#define GS_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#define GS_FNV32_BASIS 2166136261u
#define GS_FNV32_PRIME 16777619u
#define GS_FNV64_BASIS 14695981039346656037ull
#define GS_FNV64_PRIME 1099511628211ull

/* One byte more into a running 32-bit hash that started at GS_FNV32_BASIS. */
static inline uint32_t gs_fnv32_step(uint32_t h, unsigned char c)
{
    return (h ^ c) * GS_FNV32_PRIME;
}

static inline uint32_t gs_fnv32(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint32_t h = GS_FNV32_BASIS;
    for (size_t i = 0; i < n; i++)
        h = gs_fnv32_step(h, s[i]);
    return h;
}

static inline uint64_t gs_fnv64(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = GS_FNV64_BASIS;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * GS_FNV64_PRIME;
    return h;
}

#endif
