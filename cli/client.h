/* The geosteer CLI's link to a running geosteerd: it sends one command as a
 * directBackendCmd request over the daemon's unix socket (the same path
 * pdnsutil backend-cmd takes) and returns the reply text. */
#ifndef GS_CLI_CLIENT_H
#define GS_CLI_CLIENT_H

#include "common/buf.h"
#include "common/err.h"
#include "common/compiler.h"

/* Joins argv words into one command line, quoting words that need it so the
 * daemon's splitter (admin_split) gives back the same words. */
void client_join(int argc, char *const *argv, buf_t *out);

/* Sends `cmd` to the daemon at `socket_path`, waits at most `timeout_ms` and
 * appends the reply text to `reply`. Returns 0, -errno when the daemon cannot
 * be reached, or GS_EINVAL for a reply that is not a string result. */
GS_WARN_UNUSED int client_call(const char *socket_path, const char *cmd, int timeout_ms,
                               buf_t *reply, gs_err_t *err);

#endif
