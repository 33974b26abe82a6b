/* The unix-socket protocol server. One listening socket; one thread per
 * client connection doing blocking read → rb_handle → write, so a lookup
 * costs two system calls and a slow request (a big list, a commit) on one
 * connection never delays another. pdns opens few connections (one per
 * distributor thread, one for TCP, short-lived ones for pdnsutil), which is
 * what makes a thread each the cheapest correct model; see README "Design".
 *
 * Call order: rb_server_start after state_open; rb_server_stop before
 * state_close. Both from the main thread. */
#ifndef GS_BACKEND_SERVER_H
#define GS_BACKEND_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

/* Longest request line accepted; longer lines get an error reply and the
 * connection is closed (there is no way to find the next request). */
#define RB_MAX_LINE (1024 * 1024)

typedef struct {
    const char *socket_path;
    mode_t socket_mode;       /* e.g. 0660 */
    unsigned max_connections; /* further connections are closed at once */
} rb_server_opts_t;

typedef struct rb_server rb_server_t;

/* Creates the socket (and its parent directory, mode 0755, if missing) and
 * starts accepting. Refuses to start if another process serves the path. */
int rb_server_start(const rb_server_opts_t *opts, rb_server_t **out, gs_err_t *err);

/* Stops accepting, closes every connection (open transactions abort), waits
 * for their threads and removes the socket. Accepts NULL. */
void rb_server_stop(rb_server_t *srv);

#endif
