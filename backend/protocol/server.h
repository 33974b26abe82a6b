/* The unix-socket protocol server, for either of geosteerd's interfaces to
 * pdns: the remote backend's JSON (rb.h) or the pipe backend's lines
 * (pipe.h), one server each. One listening socket; one thread per
 * client connection doing blocking read → rb_handle → write, so a lookup
 * costs two system calls and a slow request (a big list, a commit) on one
 * connection never delays another. pdns opens few connections (one per
 * distributor thread, one for TCP, short-lived ones for pdnsutil), which is
 * what makes a thread each the cheapest correct model; see
 * doc/behaviour.md and doc/design.md §10.
 *
 * Call order: rb_server_start after state_open; rb_server_stop before
 * state_close. Both from the main thread. */
#ifndef GS_PROTOCOL_SERVER_H
#define GS_PROTOCOL_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"
#include "common/compiler.h"

/* Longest request line accepted, newline not counted; a longer line gets an
 * error reply and the connection is closed (there is no way to find the
 * next request), whatever the reads it arrives in. */
#define RB_MAX_LINE (1024 * 1024)

/* Each connection reads into a buffer of RB_INPUT_BASE bytes, grown (up to
 * RB_MAX_LINE + 1) only for a longer line and shrunk back once it is
 * handled. The growth of all connections together is bounded by the input
 * budget: a connection that would exceed it gets an error reply ("server
 * busy") and is closed, so partly sent long lines cannot hold more than
 * max_connections * RB_INPUT_BASE + the budget. */
#define RB_INPUT_BASE (64 * 1024)
#define RB_INPUT_BUDGET ((size_t)32 << 20)

/* Lines longer than RB_PARSE_SMALL (never pdns's lookups) are handled only
 * while the long lines in hand hold at most RB_PARSE_BUDGET bytes together;
 * others wait their turn. A JSON parse costs up to ~20 bytes per input byte
 * (a 1 MiB array of numbers: 20 MiB), so 30 connections sending 1 MiB lines
 * at once would otherwise take 600 MiB. */
#define RB_PARSE_SMALL 4096
#define RB_PARSE_BUDGET ((size_t)4 << 20)

typedef enum {
    RB_PROTO_REMOTE, /* rb.h: one JSON reply per request line */
    RB_PROTO_PIPE,   /* pipe.h: lines ending with END or FAIL */
} rb_proto_t;

typedef struct {
    rb_proto_t proto;
    const char *socket_path;
    mode_t socket_mode;       /* e.g. 0660 */
    unsigned max_connections; /* further connections are closed at once */
    size_t input_budget;      /* 0: RB_INPUT_BUDGET */
} rb_server_opts_t;

typedef struct rb_server rb_server_t;

/* Creates the socket (and its parent directory, mode 0755, if missing) and
 * starts accepting. Refuses to start if another process serves the path. */
GS_WARN_UNUSED int rb_server_start(const rb_server_opts_t *opts, rb_server_t **out, gs_err_t *err);

/* Stops accepting, closes every connection (open transactions abort), waits
 * for their threads and removes the socket. Accepts NULL. */
void rb_server_stop(rb_server_t *srv);

#endif
