#include "common/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

#define ARENA_CHUNK (64 * 1024)

struct chunk {
    struct chunk *next;
    size_t cap;
    size_t used;
    max_align_t data[];
};

struct arena {
    struct chunk *head;
    size_t total;
};

arena_t *arena_new(void)
{
    return mem_calloc(1, sizeof(arena_t));
}

void arena_free(arena_t *a)
{
    if (!a)
        return;
    struct chunk *c = a->head;
    while (c) {
        struct chunk *n = c->next;
        free(c);
        c = n;
    }
    free(a);
}

void *arena_alloc(arena_t *a, size_t size)
{
    const size_t align = _Alignof(max_align_t);
    size = (size + align - 1) & ~(align - 1);
    struct chunk *c = a->head;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > ARENA_CHUNK / 2 ? size : ARENA_CHUNK;
        c = mem_alloc(sizeof(struct chunk) + cap);
        c->cap = cap;
        c->used = 0;
        /* Oversized blocks go behind the head so the head keeps its free space. */
        if (a->head && size > ARENA_CHUNK / 2) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
        a->total += cap;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    return p;
}

char *arena_strndup(arena_t *a, const char *s, size_t len)
{
    char *p = arena_alloc(a, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

size_t arena_size(const arena_t *a)
{
    return a->total;
}
