/* geosteer lua-check <zonefile> [--origin ZONE]: the LUA-record migration
 * check on a zone file, without a daemon (backend/steering/luacheck.c). For a zone
 * already loaded, `geosteer lua-check <zone>` asks the daemon instead. */
#include "cli/commands.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include "backend/steering/luacheck.h"
#include "common/buf.h"

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

/* A file when it exists; else a zone when it ends in '.'; else a file when
 * it has a '/', --origin follows, or it ends in .zone, .db or .txt (a
 * missing file must say so, not send a zone name to the daemon); else a
 * zone name. */
bool cli_lua_check_is_file(int argc, char **argv)
{
    struct stat st;
    if (argc < 1)
        return false;
    const char *a = argv[0];
    if (stat(a, &st) == 0)
        return true;
    if (has_suffix(a, ".") || !*a)
        return false;
    return strchr(a, '/') || (argc >= 2 && strcmp(argv[1], "--origin") == 0) ||
           has_suffix(a, ".zone") || has_suffix(a, ".db") || has_suffix(a, ".txt");
}

int cli_lua_check(int argc, char **argv)
{
    const char *origin = NULL;
    if (argc == 3 && strcmp(argv[1], "--origin") == 0)
        origin = argv[2];
    else if (argc != 1) {
        fputs("usage: geosteer lua-check <zonefile> [--origin ZONE]   (a file)\n"
              "       geosteer lua-check <zone>                        (a zone geosteerd serves)\n"
              "Exit status: 0 every LUA record supported, 1 some are not, 65 malformed records\n"
              "in the file, 66 the file cannot be read.\n",
              stderr);
        return EX_USAGE;
    }
    buf_t out;
    buf_init(&out);
    luacheck_result_t res;
    int rc = luacheck_zonefile(argv[0], origin, &out, &res);
    fputs(out.data ? out.data : "", rc < 0 ? stderr : stdout);
    if (rc < 0 && !strchr(argv[0], '/'))
        fprintf(stderr,
                "(a zone geosteerd serves is checked when named with a final dot: "
                "geosteer lua-check %s.)\n",
                argv[0]);
    buf_free(&out);
    if (rc < 0)
        return EX_NOINPUT;
    return res.malformed ? EX_DATAERR : res.bad ? 1 : 0;
}
