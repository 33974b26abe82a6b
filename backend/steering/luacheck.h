/* The migration check for LUA records (`geosteer lua-check <zonefile>`,
 * `lua-check <zone>` over the socket): says for each LUA record whether
 * geosteer's subset compiles it and, either way, what to write as a
 * geosteer.json policy instead (`steer('policy')`). Also the zone-file
 * reader the check uses, which other commands reuse to read records the way
 * `pdnsutil load-zone` does. Library code: any thread, never logs. */
#ifndef GS_STEERING_LUACHECK_H
#define GS_STEERING_LUACHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/compiler.h"

/* ---- the zone-file reader ---- */

/* A zone file open for reading, record by record. */
typedef struct luacheck_zf luacheck_zf_t;

/* One record, as luacheck_zf_next yields it. The strings belong to the
 * reader and stay valid until its next luacheck_zf_next or luacheck_zf_close. */
typedef struct {
    unsigned line;       /* the file line the record starts on, from 1 */
    unsigned last_line;  /* the line it ends on (records in parentheses span lines) */
    const char *owner;   /* absolute, ending in '.'; '@' and relative names are made
                            absolute with the $ORIGIN in effect; letter case as written */
    const char *origin;  /* the $ORIGIN in effect, ending in '.' */
    uint32_t ttl;        /* given, else $TTL, else the SOA minimum seen before, else 3600
                            (pdns's zone parser); units s m h d w accepted */
    const char *type;    /* the type mnemonic in upper case: "A", "LUA", "TYPE65534" */
    const char *content; /* the data: comments removed, the parentheses of a multi-line
                            record removed and its lines joined with one space, runs of
                            blanks outside quotes made one space, quoted strings exactly as
                            written (escapes kept); names in the data of NS, CNAME, DNAME,
                            PTR, MX, SRV, AFSDB, RP and SOA made absolute, '@' is the
                            origin, SOA times in seconds, as pdns's zone parser does */
} luacheck_zrec_t;

/* Opens `path` for luacheck_zf_next. `origin` is the initial $ORIGIN (a
 * trailing dot is added if missing; NULL means the root). Returns 0 and an
 * owned reader in *out, or -errno with "PATH: reason" in `err` (a directory
 * is -EISDIR). */
GS_WARN_UNUSED int luacheck_zf_open(const char *path, const char *origin, luacheck_zf_t **out,
                                    gs_err_t *err);

/* Reads the next record into `rec`. Returns 1 for a record, 0 at the end of
 * the file, GS_EINVAL for a malformed record or directive with
 * "PATH:LINE: error: reason" in `err` (the reader has skipped it: call again
 * for the next one), or -errno when the file cannot be read further (stop).
 * Understood: $ORIGIN, $TTL, comments, blank lines, '@', owners inherited
 * by lines starting with a blank, [ttl] [IN] type in either order,
 * parentheses spanning lines (also inside LUA data: `LUA A ( "..." "..." )`).
 * Refused with a reason: $INCLUDE, $GENERATE and other directives, classes
 * other than IN, unbalanced parentheses or quotes, a record with no type or
 * no data. */
GS_WARN_UNUSED int luacheck_zf_next(luacheck_zf_t *zf, luacheck_zrec_t *rec, gs_err_t *err);

/* Releases a reader. Accepts NULL. */
void luacheck_zf_close(luacheck_zf_t *zf);

/* ---- the check ---- */

/* Appends one line about LUA record `owner` with `content` to `out`:
 * "<owner> LUA <content>: supported (<what>); as a policy: <equivalent>" or
 * "<owner> LUA <content>: NOT supported: <reason>; instead: <suggestion>",
 * where the reason names the construct outside the subset (local variables,
 * loops, include(), string building, ...) and the suggestion fits the
 * functions the code uses. Returns true when the record is supported. */
bool luacheck_record(const char *owner, const char *content, buf_t *out);

/* Appends the summary line ("OK|ERR lua-check WHAT: N LUA records, S
 * supported, U not") and then `body` (the per-record lines) to `out`. */
void luacheck_summary(buf_t *out, const char *what, unsigned total, unsigned bad,
                      const buf_t *body);

/* What luacheck_zonefile found. */
typedef struct {
    unsigned total;     /* LUA records */
    unsigned bad;       /* of them not supported */
    unsigned malformed; /* records or directives the reader refused */
} luacheck_result_t;

/* Checks every LUA record of a zone file (read with luacheck_zf_*).
 * Appends the summary line, then one line per LUA record prefixed with
 * "PATH:LINE: ", and one "PATH:LINE: error: ..." line per malformed record,
 * to `out`, and fills `res`. Returns 0, or -errno when the file cannot be
 * opened or read (reason in `out`). */
int luacheck_zonefile(const char *path, const char *origin, buf_t *out, luacheck_result_t *res);

#endif
