#include "common/digest.h"

#include <nettle/sha1.h>
#include <nettle/sha2.h>

void gs_sha256_hex(const void *data, size_t len, char out[GS_SHA256_HEX])
{
    static const char hex[] = "0123456789abcdef";
    struct sha256_ctx ctx;
    unsigned char d[SHA256_DIGEST_SIZE];
    sha256_init(&ctx);
    sha256_update(&ctx, len, data);
    sha256_digest(&ctx, sizeof(d), d);
    for (size_t i = 0; i < sizeof(d); i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * sizeof(d)] = '\0';
}

_Static_assert(sizeof(struct sha1_ctx) <= sizeof(gs_sha1_t), "gs_sha1_t too small for nettle");

void gs_sha1_init(gs_sha1_t *c)
{
    sha1_init((struct sha1_ctx *)c->opaque);
}

void gs_sha1_update(gs_sha1_t *c, const void *data, size_t len)
{
    sha1_update((struct sha1_ctx *)c->opaque, len, data);
}

void gs_sha1_final(gs_sha1_t *c, unsigned char out[GS_SHA1_SIZE])
{
    sha1_digest((struct sha1_ctx *)c->opaque, GS_SHA1_SIZE, out);
}
