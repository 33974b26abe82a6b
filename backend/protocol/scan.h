/* Fast path for the one request pdns sends on every DNS query: a one-line
 * `lookup` object with flat string and integer parameters. The scanner reads
 * it in place, without allocating, and gives up (returns false) on anything
 * outside that plain shape (escapes in strings, nesting, odd numbers), which
 * then goes to the general jansson path. It never accepts input that jansson
 * would reject as a lookup, so both paths answer alike. Pure; any thread. */
#ifndef GS_PROTOCOL_SCAN_H
#define GS_PROTOCOL_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *p; /* points into the scanned line; not NUL-terminated */
    size_t len;
} scan_str_t;

typedef struct {
    scan_str_t qtype, qname, remote, real_remote; /* other keys are skipped */
    int64_t zone_id;                              /* -1 when absent */
} scan_lookup_t;

/* Returns true and fills `out` if `line` (`len` bytes, no newline) is a plain
 * lookup request carrying string `qtype` and `qname`. */
bool scan_lookup(const char *line, size_t len, scan_lookup_t *out);

#endif
