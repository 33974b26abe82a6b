/* geosteer check [-c FILE]: validates a geosteer.json with the daemon's own
 * start-up validation (cfg_load_all: the file, then the GeoIP databases, CA
 * files and directories it names), so what `check` accepts is exactly what
 * geosteerd accepts. Errors go to stderr, one compiler-style line each. */
#include "cli/commands.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "backend/steering/config.h"
#include "common/buf.h"

#define CHECK_DEFAULT_CONFIG "/etc/geosteer/geosteer.json"

static void check_usage(FILE *f)
{
    fprintf(f,
            "usage: geosteer check [-c FILE]\n"
            "  -c, --config FILE   configuration to validate (default %s)\n"
            "Exit status: 0 valid, 78 errors, 66 file missing or unreadable, 64 usage.\n",
            CHECK_DEFAULT_CONFIG);
}

int cli_check(int argc, char **argv)
{
    const char *path = CHECK_DEFAULT_CONFIG;
    for (int i = 0; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            check_usage(stdout);
            return 0;
        } else {
            check_usage(stderr);
            return EX_USAGE;
        }
    }
    /* A missing file is not a config error: say so plainly, with its own status. */
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "geosteer check: %s: %s\n", path, strerror(errno));
        return EX_NOINPUT;
    }
    fclose(f);

    cfg_t cfg;
    buf_t errors;
    cfg_defaults(&cfg);
    buf_init(&errors);
    int rc = cfg_load_all(path, &cfg, NULL, &errors);
    if (rc != 0) {
        fputs(errors.data ? errors.data : "", stderr);
    } else {
        printf("%s: OK (%zu monitors, %zu endpoints, %zu pools, %zu policies)\n", path,
               cfg.nmonitors, cfg.nendpoints, cfg.npools, cfg.npolicies);
    }
    buf_free(&errors);
    cfg_free(&cfg);
    return rc == 0 ? 0 : EX_CONFIG;
}
