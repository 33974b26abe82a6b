#include "common/arena.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* Chunks start small and double up to ARENA_CHUNK: a compiled LUA record
 * (one arena each, thousands per zone) takes a few hundred bytes, a zone
 * image megabytes. */
#define ARENA_FIRST 512
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
    size_t next; /* capacity of the next regular chunk */
};

arena_t *arena_new(void)
{
    arena_t *a = mem_calloc(1, sizeof(arena_t));
    a->next = ARENA_FIRST;
    return a;
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
        bool oversized = size > a->next / 2;
        size_t cap = oversized ? size : a->next;
        c = mem_alloc(sizeof(struct chunk) + cap);
        c->cap = cap;
        c->used = 0;
        /* Oversized blocks go behind the head so the head keeps its free space. */
        if (a->head && oversized) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
            if (a->next < ARENA_CHUNK)
                a->next *= 2;
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
