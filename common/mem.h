/* Allocation wrappers: they never return NULL. Out of memory, or a size
 * computation that overflows, logs and aborts (OOM is fatal: doc/design.md §12), which
 * removes untestable error branches from the rest of the code. */
#ifndef GS_COMMON_MEM_H
#define GS_COMMON_MEM_H

#include <stddef.h>

#include "common/compiler.h"

/* Returns an owned block of `size` bytes (size 0 gives a valid unique block). */
GS_MALLOC void *mem_alloc(size_t size);

/* Returns an owned zeroed array of `n` elements of `size` bytes. */
GS_MALLOC void *mem_calloc(size_t n, size_t size);

/* Resizes `p` to `n` elements of `size` bytes; returns the new block. */
void *mem_realloc_n(void *p, size_t n, size_t size);

/* Returns an owned copy of the NUL-terminated string `s`. */
GS_MALLOC char *mem_strdup(const char *s);

/* Returns an owned NUL-terminated copy of `len` bytes at `s`. */
GS_MALLOC char *mem_strndup(const char *s, size_t len);

/* Aborts with a log line if `p` is NULL; for library constructors (jansson). */
void *mem_check(void *p);

#endif
