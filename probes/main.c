/* geosteer-probe: runs the health checks geosteerd plans and publishes
 * their results in the health state file. */
#include <stdio.h>
#include <sysexits.h>

#include "common/log.h"
#include "common/program.h"
#include "probes/probe.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: geosteer-probe [options]\n"
            "  -r, --runtime-dir DIR  where geosteerd writes plan.json and the probe writes\n"
            "                         health.state (default %s; settings.runtime_dir)\n"
            "  -l, --log-level LVL    error, warning, notice, info (default), debug\n"
            "      --syslog           log to syslog instead of stderr\n"
            "  -V, --version          print the version\n"
            "  -h, --help             this text\n",
            GS_DEFAULT_RUNTIME_DIR);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"runtime-dir", required_argument, NULL, 'r'},
                                         PROGRAM_LOG_OPTIONS,
                                         PROGRAM_OPTIONS,
                                         {NULL, 0, NULL, 0}};
    program_t prog = {.name = "geosteer-probe", .usage = usage};
    const char *dir = GS_DEFAULT_RUNTIME_DIR;
    int c, rc;
    while ((c = getopt_long(argc, argv, "r:l:Vh", opts, NULL)) != -1) {
        if (c == 'r')
            dir = optarg;
        else if ((rc = program_option(&prog, c)) >= 0)
            return rc;
    }
    if ((rc = program_start(&prog, argc, -1)) != 0)
        return rc;
    sigset_t set; /* taken through the probe's signalfd */
    program_block_signals(&set);

    probe_t *p;
    gs_err_t err;
    if (probe_new(dir, &p, &err) != 0) {
        log_err("geosteer-probe: %s", err.text);
        return EX_OSERR;
    }
    log_info("geosteer-probe %s: runtime directory %s", GEOSTEER_VERSION, dir);
    rc = probe_run(p);
    probe_free(p);
    return rc == 0 ? 0 : EX_SOFTWARE;
}
