#include "common/htab.h"

#include <stdlib.h>

#include "common/mem.h"

void htab_init(htab_t *t, size_t n)
{
    size_t size = 8;
    while (size < n * 2)
        size *= 2;
    t->slot = mem_calloc(size, sizeof(*t->slot));
    t->mask = size - 1;
}

void htab_add(htab_t *t, uint64_t hash, uint32_t index)
{
    size_t k = htab_start(t, hash);
    while (t->slot[k])
        k = (k + 1) & t->mask;
    t->slot[k] = index + 1;
}

void htab_free(htab_t *t)
{
    free(t->slot);
    t->slot = NULL;
    t->mask = 0;
}
