/* Commands the geosteer CLI runs locally, without a daemon. Each takes the
 * words after the command name and returns the process exit status. */
#ifndef GS_CLI_COMMANDS_H
#define GS_CLI_COMMANDS_H

#include <stdbool.h>

/* geosteer check [-c FILE]: validates a geosteer.json; 0 valid, 78 errors. */
int cli_check(int argc, char **argv);

/* geosteer geoip build [--v4 FILE] [--v6 FILE] [-o OUT]: builds the default
 * country database from tor-geoipdb's range files. 0 on success. */
int cli_geoip_build(int argc, char **argv);

/* geosteer geoip update --url URL [-o OUT] [--timeout S] [--max-size MIB]:
 * downloads a country database, validates it and renames it over OUT
 * (cli/cmd_geoip_update.c). 0 replaced or already current, 64 usage, 65
 * bad data (the old file kept), 69 download failed, 73 cannot write. */
int cli_geoip_update(int argc, char **argv);

/* The words after a subcommand's name as getopt wants them: `name` (the
 * whole command, for getopt's messages) in front, NULL after; *nargs is
 * argc + 1. Resets getopt (main used it already). Free the array. */
char **cli_getopt_args(const char *name, int argc, char **argv, int *nargs);

/* geosteer [-s SOCKET] relay: copies stdin to geosteerd's socket and its
 * replies to stdout until either side ends (cli/cmd_relay.c), for pdns's
 * remote backend "pipe" connector. 0 at the end, 69 no daemon. */
int cli_relay(const char *sock_path, int argc, char **argv);

/* geosteer lua-check <zonefile> [--origin ZONE]: the LUA-record migration
 * check on a zone file. 0 every LUA record supported, 1 not, 65 malformed
 * records, 66 unreadable. */
int cli_lua_check(int argc, char **argv);

/* True when the lua-check argument names a readable file (else it is a
 * zone the daemon serves). */
bool cli_lua_check_is_file(int argc, char **argv);

#endif
