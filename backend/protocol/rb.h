/* The remote-backend dispatcher: turns one request line from pdns (or
 * pdnsutil, or the geosteer CLI) into exactly one reply, a JSON object with
 * a "result" member (never null) followed by a newline. Lookups take the
 * allocation-free scan path and are answered from the pinned snapshot;
 * everything else is parsed with jansson. Bad input gets {"result":false}
 * with a "log" line and never affects other connections.
 *
 * One rb_conn_t per client connection, used by one thread at a time. */
#ifndef GS_PROTOCOL_RB_H
#define GS_PROTOCOL_RB_H

#include <stddef.h>

#include "common/buf.h"

typedef struct rb_conn rb_conn_t;

/* Returns a new connection state, or NULL when the reader limit
 * (SNAP_MAX_READERS) is reached. */
rb_conn_t *rb_conn_new(void);

/* Frees a connection; an open transaction is aborted (EOF means abort).
 * Accepts NULL. */
void rb_conn_free(rb_conn_t *c);

/* Handles one request line (`len` bytes, without the newline) and returns
 * the reply, borrowed from the connection until the next call. */
const buf_t *rb_handle(rb_conn_t *c, const char *line, size_t len);

/* Releases the reply buffer once a reply (a `list` of a big zone, say) made
 * it larger than RB_REPLY_KEEP, so that idle connections do not each keep
 * their largest reply. Call after the reply was sent. */
#define RB_REPLY_KEEP (256 * 1024)
void rb_conn_trim(rb_conn_t *c);

/* A secondary zone's primaries as a JSON array of strings (new reference):
 * the form getDomainInfo's `masters` and `status --json` share. */
struct json_t;
struct zone;
struct json_t *rb_masters_json(const struct zone *z);

/* Writes an error reply for input that is not a request line at all (used
 * by the server for over-long lines) and returns it, borrowed. */
const buf_t *rb_error_reply(rb_conn_t *c, const char *msg);

/* Name of method `i` of the dispatcher's table as counted in metrics
 * (stats.h STAT_REQUESTS), "other" for the one past the table, NULL
 * beyond. */
const char *rb_method_name(unsigned i);

/* Index of method `name` in that numbering; "other"'s for a name the
 * dispatcher does not implement. */
unsigned rb_method_index(const char *name);

#endif
