/* What geosteer's three programs (geosteerd, geosteer-probe, geosteer)
 * share when they start: the default paths, the options every one of them
 * takes (--version, --help, and for the daemons --log-level and --syslog),
 * and the signal mask of the daemons. Each main keeps only its own options.
 * Called from main before any thread starts. */
#ifndef GS_COMMON_PROGRAM_H
#define GS_COMMON_PROGRAM_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/paths.h"

#ifndef GEOSTEER_VERSION
#define GEOSTEER_VERSION "0.0.0"
/* Tells the service manager about the daemon's state when it runs under
 * systemd with Type=notify (NOTIFY_SOCKET set): "READY=1" once it serves,
 * "RELOADING=1" then "READY=1" around a reload, "STOPPING=1", and
 * "STATUS=..." lines for `systemctl status`. One datagram, as sd_notify(3)
 * documents the protocol; without NOTIFY_SOCKET it does nothing. Returns 0,
 * 1 when not under a service manager, or -errno (the daemon goes on). */
int program_notify(const char *state);

#endif

/* getopt_long codes of the shared options without a short form. */
enum { GS_OPT_SYSLOG = 0x100 };

/* The shared long options, to put at the end of a program's table (before
 * the terminating zero row). PROGRAM_LOG_OPTIONS only for the daemons. */
#define PROGRAM_OPTIONS                                                                            \
    {"version", no_argument, NULL, 'V'},                                                           \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }
#define PROGRAM_LOG_OPTIONS                                                                        \
    {"log-level", required_argument, NULL, 'l'},                                                   \
    {                                                                                              \
        "syslog", no_argument, NULL, GS_OPT_SYSLOG                                                 \
    }

typedef struct {
    const char *name;         /* program name for messages and syslog */
    void (*usage)(FILE *out); /* prints the program's usage text */
    const char *log_level;    /* -l/--log-level, NULL if not given */
    bool syslog;              /* --syslog */
} program_t;

/* Takes option `c` as returned by getopt_long if it is a shared one (-V, -h,
 * -l, --syslog) or unknown ('?'). Returns -1 when the caller goes on
 * parsing, or the exit status main returns now: 0 after printing the
 * version or the usage, EX_USAGE after an unknown option. */
int program_option(program_t *p, int c);

/* Checks that no operand is left (EX_USAGE with the usage on stderr if one
 * is), then applies the log options: `default_level` (a log level, or -1
 * for the built-in one) unless -l names one, and syslog. Returns 0 or
 * EX_USAGE (an unknown level). */
int program_start(program_t *p, int argc, int default_level);

/* Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (threads started
 * later inherit the mask) and fills `set` with them, for sigtimedwait or a
 * signalfd; ignores SIGPIPE, so that a peer closing mid-write is a write
 * error and not the end of the daemon. */
void program_block_signals(sigset_t *set);

/* Tells the service manager about the daemon's state when it runs under
 * systemd with Type=notify (NOTIFY_SOCKET set): "READY=1" once it serves,
 * "RELOADING=1" then "READY=1" around a reload, "STOPPING=1", and
 * "STATUS=..." lines for `systemctl status`. One datagram, as sd_notify(3)
 * documents the protocol; without NOTIFY_SOCKET it does nothing. Returns 0,
 * 1 when not under a service manager, or -errno (the daemon goes on). */
int program_notify(const char *state);

#endif
