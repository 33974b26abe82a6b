/* geosteer lua-check <zonefile> [--origin ZONE]: the LUA-record migration
 * check on a zone file, without a daemon (backend/luacheck.c). For a zone
 * already loaded, `geosteer lua-check <zone>` asks the daemon instead. */
#include "cli/commands.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include "backend/luacheck.h"
#include "common/buf.h"

bool cli_lua_check_is_file(int argc, char **argv)
{
    struct stat st;
    return argc >= 1 && stat(argv[0], &st) == 0 && S_ISREG(st.st_mode);
}

int cli_lua_check(int argc, char **argv)
{
    const char *origin = NULL;
    if (argc == 3 && strcmp(argv[1], "--origin") == 0)
        origin = argv[2];
    else if (argc != 1) {
        fputs("usage: geosteer lua-check <zonefile> [--origin ZONE]   (a file)\n"
              "       geosteer lua-check <zone>                        (a zone geosteerd serves)\n"
              "Exit status: 0 every LUA record supported, 1 some are not, 66 unreadable file.\n",
              stderr);
        return EX_USAGE;
    }
    buf_t out;
    buf_init(&out);
    int bad = luacheck_zonefile(argv[0], origin, &out);
    fputs(out.data ? out.data : "", bad < 0 ? stderr : stdout);
    buf_free(&out);
    return bad < 0 ? EX_NOINPUT : bad ? 1 : 0;
}
