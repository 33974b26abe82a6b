/* The operator command language, shared by `geosteer <cmd>` and
 * `pdnsutil backend-cmd remote "<cmd>"` (both arrive as directBackendCmd).
 * Every reply is human-readable text ending in a newline whose first token
 * is OK or ERR, because pdnsutil's exit status is always 0.
 * Called from any connection thread; changes go through state.c. */
#ifndef GS_PROTOCOL_ADMIN_H
#define GS_PROTOCOL_ADMIN_H

#include "common/buf.h"

/* Runs command line `cmd` and appends the reply text to `out`. */
void admin_run(const char *cmd, buf_t *out);

/* Splits `cmd` into at most `max` words (whitespace-separated, with '...'
 * and "..." quoting and backslash escapes) written into `store`, which must
 * hold strlen(cmd) + 1 bytes. Returns the number of words or GS_EINVAL
 * (unbalanced quote, too many words). */
int admin_split(const char *cmd, char *store, char **words, int max);

#endif
