/* Resource record types and content validation. Every record written to the
 * zone store passes rr_normalize first, so what is served and listed is
 * well-formed presentation text. Pure functions; any thread; never logs. */
#ifndef GS_DNS_RR_H
#define GS_DNS_RR_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/compiler.h"

typedef enum {
    RR_KIND_CHECKED, /* content parsed and normalised field by field */
    RR_KIND_OPAQUE,  /* known to pdns, stored as given after basic checks */
    RR_KIND_LUA,     /* dynamic record: stored as-is, never served by lookup */
} rr_kind_t;

/* IANA codes of the types the code refers to by name (rr.c's table holds
 * every stored type). */
enum {
    RR_TYPE_A = 1,
    RR_TYPE_NS = 2,
    RR_TYPE_CNAME = 5,
    RR_TYPE_SOA = 6,
    RR_TYPE_TXT = 16,
    RR_TYPE_AAAA = 28,
    RR_TYPE_DS = 43,
    RR_TYPE_LUA = 65402,
};

typedef struct {
    const char *name; /* upper-case mnemonic, the string pdns uses */
    uint16_t code;    /* IANA type code */
    rr_kind_t kind;
} rr_type_t;

/* Returns the type whose mnemonic equals `name` (case-insensitive, `len`
 * bytes), or NULL if geosteer does not store that type. The returned pointer
 * is static; its `name` may be used as an interned string. */
const rr_type_t *rr_type_find(const char *name, size_t len);

/* Validates `content` of a record of `type` and appends its normal form to
 * `out`: names without a trailing dot, IPv6 compressed, TXT quoted. Returns 0,
 * or GS_EINVAL with a reason naming the type and the bad field in `err`. */
GS_WARN_UNUSED int rr_normalize(const rr_type_t *type, const char *content, buf_t *out,
                                gs_err_t *err);

/* Reads an SOA content's serial, refresh, retry, expire and minimum into
 * v[0..4]; GS_EINVAL if it has no such fields. */
int rr_soa_times(const char *content, uint32_t v[5]);

/* For LUA content (`QTYPE "expr"`), returns the type it produces, or NULL. */
const rr_type_t *rr_lua_qtype(const char *content);

#endif
