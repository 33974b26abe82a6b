#include "common/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

GS_NORETURN static void oom(size_t n, size_t size)
{
    log_msg(LOG_CRIT, "out of memory allocating %zu x %zu bytes", n, size);
    abort();
}

void *mem_alloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        oom(1, size);
    return p;
}

void *mem_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n, size);
    return p;
}

void *mem_realloc_n(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        oom(n, size);
    size_t bytes = n * size;
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q)
        oom(n, size);
    return q;
}

char *mem_strdup(const char *s)
{
    return mem_strndup(s, strlen(s));
}

char *mem_strndup(const char *s, size_t len)
{
    char *p = mem_alloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void *mem_check(void *p)
{
    if (!p)
        oom(1, 0);
    return p;
}
