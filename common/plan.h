/* The check plan: what geosteerd asks geosteer-probe to check (doc/design.md
 * §7). geosteerd derives it from geosteer.json and the zones and publishes
 * it as JSON in the runtime directory by write-then-rename; the probe reads
 * it whenever the file changes. Each check has a stable id computed from
 * every parameter that changes what is checked, so identical checks from
 * several endpoints or records collapse into one, and a check that stays in
 * a new plan keeps its id (and the probe keeps its state).
 *
 * File format (one JSON object):
 *   {"format":1, "generation":N, "max_in_flight":N, "heartbeat_ms":N,
 *    "checks":[{"id":"<16 hex>", "label":"...", "type":"tcp|http|https",
 *               "address":"192.0.2.1", "port":443, "path":"/", "host":"...",
 *               "expect":[[200,299]], "body":"...", "body_max":4096,
 *               "headers":[["Name","value"]], "interval_ms":10000,
 *               "timeout_ms":5000, "rise":3, "fall":3, "insecure":false,
 *               "ca_file":"..."}, ...]}
 * sorted by id. Library code: any thread, never logs. */
#ifndef GS_COMMON_PLAN_H
#define GS_COMMON_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/compiler.h"

#define PLAN_FORMAT 1
/* The heartbeat interval when none is configured: the default of
 * settings.probe.heartbeat_interval (config_schema.c) and the probe's
 * before it has read a plan. */
#define PLAN_DEFAULT_HEARTBEAT_MS 1000
#define PLAN_MAX_CHECKS 65536
#define PLAN_MAX_EXPECT 16
#define PLAN_MAX_HEADERS 32

typedef enum { PLAN_TCP, PLAN_HTTP, PLAN_HTTPS } plan_type_t;

typedef struct {
    uint64_t id;
    char *label; /* owned; who asked for it ("endpoint web1 (monitor web)"), for logs */
    plan_type_t type;
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16]; /* network order */
    unsigned port;
    char *path;                          /* owned; http(s), else NULL */
    char *host;                          /* owned; Host/SNI, or NULL (the address) */
    uint16_t expect[PLAN_MAX_EXPECT][2]; /* accepted status ranges, inclusive */
    size_t nexpect;
    char *body; /* owned; required body substring, or NULL */
    unsigned body_max;
    char *headers[PLAN_MAX_HEADERS][2]; /* owned names and values */
    size_t nheaders;
    uint32_t interval_ms, timeout_ms;
    unsigned rise, fall;
    bool insecure;
    char *ca_file; /* owned, or NULL (the system's CA store) */
} plan_check_t;

typedef struct {
    uint64_t generation;
    unsigned max_in_flight; /* checks running at once, at most */
    uint32_t heartbeat_ms;
    plan_check_t *checks; /* owned, sorted by id, ids unique */
    size_t n;
} plan_t;

/* Computes `c->id` from the check's parameters (not label). */
void plan_check_id(plan_check_t *c);

/* Appends a copy of `c` (strings duplicated) unless a check with the same
 * id is already in `p`; then appends `c->label` to that check's label,
 * comma-separated, while it is under ~200 bytes. Labels are never NULL.
 * Returns the index of the check in `p`. Unsorted until plan_finish. */
size_t plan_add(plan_t *p, const plan_check_t *c);

/* Sorts the checks by id. */
void plan_finish(plan_t *p);

/* Index of check `id` in a finished plan, or -1. O(log n). */
long plan_find(const plan_t *p, uint64_t id);

/* True when both finished plans hold the same checks and settings (the
 * generation is not compared). */
bool plan_same(const plan_t *a, const plan_t *b);

/* Serialises `p` as one JSON object plus a newline. */
void plan_encode(const plan_t *p, buf_t *out);

/* Parses a plan file's text. Returns 0 and fills `p` (owned; plan_free), or
 * GS_EINVAL with the reason (and JSON position) in `err`. */
GS_WARN_UNUSED int plan_decode(const char *text, size_t len, plan_t *p, gs_err_t *err);

/* Reads and decodes the plan file at `path` (at most PLAN_FILE_MAX bytes).
 * Returns 0 and fills `p` (owned) and, if `st` is not NULL, the file's
 * stat; else -errno (-ENOENT: no file), GS_ETOOBIG or GS_EINVAL, with the
 * path and reason in `err`. */
#define PLAN_FILE_MAX (64u << 20)
struct stat;
GS_WARN_UNUSED int plan_load(const char *path, plan_t *p, struct stat *st, gs_err_t *err);

/* Releases what `p` owns and zeroes it. Accepts a zeroed plan. */
void plan_free(plan_t *p);

/* Releases what one check owns. */
void plan_check_free(plan_check_t *c);

/* "tcp", "http", "https". */
const char *plan_type_name(plan_type_t t);

/* The check's target as "192.0.2.1:443" / "[2001:db8::1]:443". */
void plan_target(const plan_check_t *c, char *out, size_t len);

#endif
