/* Domain names in presentation form, as pdns sends them: absolute, with a
 * trailing dot, in the client's case, special characters escaped (\. \032).
 * geosteer keys names by their canonical form: ASCII-lowercased, trailing
 * dot. Pure functions; any thread. */
#ifndef GS_DNS_DNAME_H
#define GS_DNS_DNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/compiler.h"

/* Longest presentation form accepted: 255 wire octets, every one \DDD. */
#define DNAME_MAXTEXT 1024

/* Validates `in` (`len` bytes, absolute; a missing trailing dot is accepted
 * when `dot_optional`) and writes the canonical form (lowercased, trailing
 * dot, NUL-terminated) to `out`, which has DNAME_MAXTEXT + 1 bytes. Returns
 * the canonical length, or GS_EINVAL with the reason in `err`. */
GS_WARN_UNUSED int dname_canon(const char *in, size_t len, bool dot_optional, char *out,
                               gs_err_t *err);

/* Returns true if canonical `name` equals or lies below canonical `zone`. */
bool dname_in_zone(const char *name, size_t name_len, const char *zone, size_t zone_len);

/* Returns the offset of the parent name inside `name` (just after the first
 * unescaped dot), or -1 for the root. */
int dname_parent(const char *name, size_t len);

/* Lowercases `len` bytes of `src` into `dst` and returns their FNV-1a hash,
 * the hash used by every name table. */
uint32_t dname_lower_hash(char *dst, const char *src, size_t len);

/* Returns the FNV-1a hash of an already canonical name. */
uint32_t dname_hash(const char *name, size_t len);

#endif
