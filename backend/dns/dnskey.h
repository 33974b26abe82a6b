/* The DNSSEC private keys pdns stores through a backend (addDomainKey): the
 * BIND private-key text pdnsutil writes ("Private-key-format: v1.2",
 * "Algorithm: 13 (ECDSAP256SHA256)", then the algorithm's fields in
 * base64). geosteerd only checks and keeps them; pdns signs. Error texts
 * name what is wrong, never a key's value. Pure; any thread. */
#ifndef GS_DNS_DNSKEY_H
#define GS_DNS_DNSKEY_H

#include "common/compiler.h"
#include "common/err.h"

/* Checks key text `content` and DNSKEY `flags` (256: ZSK, 257: KSK): the
 * format line, a DNSSEC algorithm pdns 4.7 signs with (5, 7, 8, 10, 13, 14,
 * 15, 16), and every field that algorithm needs, each base64 of the right
 * size. Sets *algorithm. Returns 0, or GS_EINVAL with the reason. */
GS_WARN_UNUSED int dnskey_check(const char *content, unsigned flags, unsigned *algorithm,
                                gs_err_t *err);

#endif
