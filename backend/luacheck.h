/* The migration check for LUA records (`geosteer lua-check <zonefile>`,
 * `lua-check <zone>` over the socket): says for each LUA record whether
 * geosteer's subset compiles it and, either way, what to write as a
 * geosteer.json policy instead (`steer('policy')`). Library code: any thread,
 * never logs. */
#ifndef GS_BACKEND_LUACHECK_H
#define GS_BACKEND_LUACHECK_H

#include <stdbool.h>

#include "common/buf.h"

/* Appends one line about LUA record `owner` with `content` to `out`:
 * "<owner> LUA <content>: supported (<what>); as a policy: <equivalent>" or
 * "<owner> LUA <content>: NOT supported: <reason>; instead: <suggestion>".
 * Returns true when the record is supported. */
bool luacheck_record(const char *owner, const char *content, buf_t *out);

/* Appends the summary line ("OK|ERR lua-check WHAT: N LUA records, S
 * supported, U not") and then `body` (the per-record lines) to `out`. */
void luacheck_summary(buf_t *out, const char *what, unsigned total, unsigned bad,
                      const buf_t *body);

/* Checks every LUA record of a zone file (one record per line; $ORIGIN,
 * $TTL, comments, '@' and inherited owners understood; records split over
 * lines with parentheses are not). Appends a summary line then one line per
 * LUA record to `out`. Returns the number of unsupported records, or -errno
 * when the file cannot be read (reason in `out`). */
int luacheck_zonefile(const char *path, const char *origin, buf_t *out);

#endif
