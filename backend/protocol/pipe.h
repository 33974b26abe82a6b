/* The pipe-backend dispatcher: geosteerd's second interface to pdns, the
 * line protocol of pdns's pipe backend (ABI 3 to 5) on its own unix socket.
 * It answers lookups (Q) and zone transfers (AXFR) from the same snapshot,
 * with the same steering and scope as the remote backend (lookup.h), and
 * operator commands (CMD, ABI 5) like directBackendCmd. It has no writes,
 * metadata or transactions: pdns keeps the remote backend for those (see
 * doc/pipe.md for the configuration and what pdns asks each backend).
 *
 * Protocol, one request line in, zero or more lines out:
 *   HELO\t<abi>                      -> OK\t<banner>
 *   Q\tqname\tIN\tqtype\tid\tremote\tlocal\tsubnet
 *                                    -> DATA\tscope\tauth\tqname\tIN\ttype\tttl\tid\tcontent ...
 * END AXFR\tid[\tzone]                 -> DATA ... END (every record of the zone) CMD\t<command> ->
 * the reply's lines, END Anything else, or a request before a HELO with ABI 3 or more (older ABIs
 * carry no client subnet or scope), gets a LOG line saying why and FAIL,
 * which makes pdns answer SERVFAIL rather than something unsteered.
 *
 * One pipe_conn_t per client connection, used by one thread at a time. */
#ifndef GS_PROTOCOL_PIPE_H
#define GS_PROTOCOL_PIPE_H

#include <stddef.h>

#include "common/buf.h"

typedef struct pipe_conn pipe_conn_t;

/* Returns a new connection state, or NULL when the reader limit
 * (SNAP_MAX_READERS) is reached. */
pipe_conn_t *pipe_conn_new(void);

/* Frees a connection. Accepts NULL. */
void pipe_conn_free(pipe_conn_t *c);

/* Handles one request line (`len` bytes, without the newline; a trailing
 * CR is ignored) and returns the reply, borrowed until the next call. */
const buf_t *pipe_handle(pipe_conn_t *c, const char *line, size_t len);

/* Releases a reply buffer grown past RB_REPLY_KEEP (rb.h) by a transfer. */
void pipe_conn_trim(pipe_conn_t *c);

/* Returns the reply to input that is not a request line at all (an
 * over-long line): a LOG line with `msg`, then FAIL. Borrowed. */
const buf_t *pipe_error_reply(pipe_conn_t *c, const char *msg);

#endif
