#include "common/digest.h"

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
