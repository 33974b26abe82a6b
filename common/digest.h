/* SHA-256 of a byte string as 64 lowercase hex digits: the digest `geosteer
 * status` shows of the loaded geosteer.json, equal to `sha256sum FILE`, so
 * that operators can compare nodes and files. Uses nettle (GnuTLS's
 * crypto library). Pure; any thread. */
#ifndef GS_COMMON_DIGEST_H
#define GS_COMMON_DIGEST_H

#include <stddef.h>

#define GS_SHA256_HEX 65 /* 64 digits and the NUL */

void gs_sha256_hex(const void *data, size_t len, char out[GS_SHA256_HEX]);

#endif
