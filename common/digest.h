/* Digests, with nettle (GnuTLS's crypto library).
 *
 * SHA-256 of a byte string as 64 lowercase hex digits: the digest `geosteer
 * status` shows of the loaded geosteer.json, equal to `sha256sum FILE`, so
 * that operators can compare nodes and files. Pure; any thread. */
#ifndef GS_COMMON_DIGEST_H
#define GS_COMMON_DIGEST_H

#include <stddef.h>

#define GS_SHA256_HEX 65 /* 64 digits and the NUL */

void gs_sha256_hex(const void *data, size_t len, char out[GS_SHA256_HEX]);

/* SHA-1 state for hashing in pieces (NSEC3 owner names, RFC 5155 §5).
 * Big enough for nettle's context, which it wraps. */
typedef struct {
    _Alignas(8) unsigned char opaque[128];
} gs_sha1_t;

#define GS_SHA1_SIZE 20

void gs_sha1_init(gs_sha1_t *c);
void gs_sha1_update(gs_sha1_t *c, const void *data, size_t len);
void gs_sha1_final(gs_sha1_t *c, unsigned char out[GS_SHA1_SIZE]);

#endif
