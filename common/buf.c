#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

void buf_init(buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_free(buf_t *b)
{
    free(b->data);
    buf_init(b);
}

void buf_reserve(buf_t *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    b->data = mem_realloc_n(b->data, cap, 1);
    b->cap = cap;
}

void buf_put(buf_t *b, const void *p, size_t len)
{
    buf_reserve(b, len);
    memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void buf_puts(buf_t *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

void buf_putc(buf_t *b, char c)
{
    buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void buf_put_int(buf_t *b, long long v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%lld", v);
    buf_put(b, tmp, (size_t)n);
}

/* Length of the valid UTF-8 sequence at s (at most len bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    size_t n;
    unsigned min;
    unsigned cp;
    if (s[0] < 0xc2 || s[0] > 0xf4)
        return 0;
    if (s[0] < 0xe0) {
        n = 2;
        min = 0x80;
        cp = s[0] & 0x1f;
    } else if (s[0] < 0xf0) {
        n = 3;
        min = 0x800;
        cp = s[0] & 0x0f;
    } else {
        n = 4;
        min = 0x10000;
        cp = s[0] & 0x07;
    }
    if (n > len)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

bool buf_utf8_valid(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x80)
            continue;
        size_t n = utf8_seq((const unsigned char *)s + i, len - i);
        if (!n)
            return false;
        i += n - 1;
    }
    return true;
}

long buf_base64_octets(const char *s, size_t len)
{
    if (len == 0 || len % 4)
        return -1;
    size_t pad = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '=') {
            if (i + 2 < len)
                return -1;
            pad++;
        } else if (pad || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '+' || c == '/')) {
            return -1;
        }
    }
    return (long)(len / 4 * 3 - pad);
}

void buf_put_jstr(buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case every byte becomes \u00XX or \ufffd. */
    buf_reserve(b, len * 6 + 2);
    char *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            switch (c) {
            case '\n':
                *o++ = '\\';
                *o++ = 'n';
                break;
            case '\t':
                *o++ = '\\';
                *o++ = 't';
                break;
            case '\r':
                *o++ = '\\';
                *o++ = 'r';
                break;
            default:
                memcpy(o, "\\u00", 4);
                o += 4;
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            }
        } else if (c < 0x80) {
            *o++ = (char)c;
        } else {
            size_t n = utf8_seq((const unsigned char *)s + i, len - i);
            if (n) {
                memcpy(o, s + i, n);
                o += n;
                i += n - 1;
            } else {
                /* Invalid UTF-8 would make the whole reply unparsable. */
                memcpy(o, "\\ufffd", 6);
                o += 6;
            }
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
}

void buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *buf_take(buf_t *b)
{
    if (!b->data)
        buf_reserve(b, 0);
    char *p = b->data;
    buf_init(b);
    return p;
}
