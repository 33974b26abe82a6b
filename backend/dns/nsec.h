/* The orders DNSSEC denial of existence needs (doc/dnssec.md): the
 * canonical order of names (RFC 4034 §6.1) that NSEC chains follow, and
 * NSEC3 hashed owner names (RFC 5155 §5) in base32hex, whose byte order is
 * the NSEC3 chain's. Also the NSEC3PARAM text pdns stores as metadata.
 * Pure functions; any thread. */
#ifndef GS_DNS_NSEC_H
#define GS_DNS_NSEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "common/err.h"

#define NSEC_WIRE_MAX 255
#define NSEC3_HASH_LEN 20  /* SHA-1, the only NSEC3 hash algorithm */
#define NSEC3_B32_LEN 32   /* base32hex of 20 octets, no padding */
#define NSEC3_MAX_ITER 500 /* accepted iterations; pdns's own limit defaults to 100 */

/* Writes canonical presentation name `name` (`len` bytes, trailing dot, as
 * dname_canon makes it) in wire form, every octet lowercased, to `out`.
 * Returns the wire length (1 for the root). */
size_t nsec_wire(const char *name, size_t len, uint8_t out[NSEC_WIRE_MAX]);

/* Compares two wire names in canonical DNS order: label by label from the
 * rightmost, each label as an octet string (a label that is a prefix of
 * another sorts first). Returns <0, 0 or >0. */
int nsec_canon_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

typedef struct {
    uint8_t flags; /* 1: opt-out */
    uint16_t iterations;
    uint8_t salt_len;
    uint8_t salt[255];
} nsec3_param_t;

/* Parses NSEC3PARAM presentation text ("1 0 0 -", "1 0 10 ab12cd"): hash
 * algorithm 1, flags 0 or 1, iterations 0..NSEC3_MAX_ITER, salt in hex or
 * "-". Returns 0, or GS_EINVAL with the reason. */
GS_WARN_UNUSED int nsec3_param_parse(const char *text, nsec3_param_t *p, gs_err_t *err);

/* The NSEC3 hash of wire name `wire`. */
void nsec3_hash(const nsec3_param_t *p, const uint8_t *wire, size_t wlen,
                uint8_t out[NSEC3_HASH_LEN]);

/* Base32hex, lowercase, without padding (RFC 4648 §7), as NSEC3 owner
 * labels are written; `out` gets 32 characters and a NUL. */
void nsec3_b32(const uint8_t in[NSEC3_HASH_LEN], char out[NSEC3_B32_LEN + 1]);

/* Decodes 32 base32hex characters (either case) into a hash. Returns false
 * when `s` is not exactly that. */
bool nsec3_b32_decode(const char *s, size_t len, uint8_t out[NSEC3_HASH_LEN]);

#endif
