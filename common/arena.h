/* Bump allocator for data that lives and dies together (one immutable zone
 * image). Allocation is a pointer bump; everything is released at once by
 * arena_free. Not thread-safe: the builder owns the arena while filling it,
 * afterwards the data is read-only and may be shared between threads. */
#ifndef GS_COMMON_ARENA_H
#define GS_COMMON_ARENA_H

#include <stddef.h>

typedef struct arena arena_t;

/* Returns a new empty arena (owned; release with arena_free). */
arena_t *arena_new(void);

/* Releases the arena and everything allocated from it. Accepts NULL. */
void arena_free(arena_t *a);

/* Returns `size` bytes aligned for any type, owned by the arena. */
void *arena_alloc(arena_t *a, size_t size);

/* Returns an arena-owned NUL-terminated copy of `len` bytes at `s`. */
char *arena_strndup(arena_t *a, const char *s, size_t len);

/* Total bytes reserved from the system, for memory reporting. */
size_t arena_size(const arena_t *a);

#endif
