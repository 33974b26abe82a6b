/* Growable byte buffer, used to build replies and record text. Not
 * thread-safe; each owner (a connection, a builder) has its own. The content
 * is always NUL-terminated after the used bytes, so it can be printed. */
#ifndef GS_COMMON_BUF_H
#define GS_COMMON_BUF_H

#include <stdbool.h>
#include <stddef.h>

#include "common/compiler.h"

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} buf_t;

/* Initialises an empty buffer (no allocation until the first append). */
void buf_init(buf_t *b);

/* Releases the storage; the buffer may be reused after buf_init. */
void buf_free(buf_t *b);

/* Empties the buffer, keeping its storage. */
static inline void buf_reset(buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Makes room for `extra` more bytes (plus the NUL). */
void buf_reserve(buf_t *b, size_t extra);

/* Appends `len` bytes. */
void buf_put(buf_t *b, const void *p, size_t len);

/* Appends a NUL-terminated string. */
void buf_puts(buf_t *b, const char *s);

/* Appends one character. */
void buf_putc(buf_t *b, char c);

/* Appends a decimal integer. */
void buf_put_int(buf_t *b, long long v);

/* Appends `len` bytes of `s` as a JSON string literal, quotes included,
 * escaping quotes, backslashes and control characters. Valid UTF-8 is
 * copied; each byte of an invalid sequence becomes U+FFFD, so the result is
 * always valid JSON whatever the input. */
void buf_put_jstr(buf_t *b, const char *s, size_t len);

/* Returns true if `len` bytes at `s` are valid UTF-8 (what JSON strings need). */
bool buf_utf8_valid(const char *s, size_t len);

/* The number of octets base64 text `s` (`len` characters, no line breaks,
 * padding only at the end) decodes to, or -1 when it is not that. */
long buf_base64_octets(const char *s, size_t len);

/* Appends printf-formatted text. */
void buf_printf(buf_t *b, const char *fmt, ...) GS_PRINTF(2, 3);

/* Gives the storage to the caller (NUL-terminated, owned) and resets `b`. */
char *buf_take(buf_t *b);

#endif
