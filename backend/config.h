/* geosteer.json: the daemon's configuration. This schema has one
 * section, "settings" (paths and limits); pools, policies and monitors come
 * with steering. Loading validates everything and reports every error in
 * compiler style ("FILE:LINE:COL: error: PATH: message" for syntax errors,
 * "FILE: error: PATH: message" for the rest), then fails; nothing is applied
 * from a config with errors. Main thread only; never logs. */
#ifndef GS_BACKEND_CONFIG_H
#define GS_BACKEND_CONFIG_H

#include <sys/types.h>

#include "common/buf.h"

#define CFG_DEFAULT_SOCKET "/run/geosteer/backend.sock"
#define CFG_DEFAULT_ZONE_DB "/var/lib/geosteer/zones.db"

typedef struct {
    char *socket;  /* owned */
    char *zone_db; /* owned */
    mode_t socket_mode;
    unsigned max_connections;
    int log_level; /* syslog priority */
} cfg_t;

/* Fills `cfg` with the defaults (owned strings). */
void cfg_defaults(cfg_t *cfg);

/* Loads `path` over the defaults already in `cfg`. Returns 0, or GS_ECONFIG
 * with one line per error appended to `errors`. */
int cfg_load(const char *path, cfg_t *cfg, buf_t *errors);

/* Parses a log level name (err, warning, notice, info, debug); -1 if unknown. */
int cfg_log_level(const char *name);

/* Releases the strings of `cfg`. */
void cfg_free(cfg_t *cfg);

#endif
