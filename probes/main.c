/* geosteer-probe: runs the health checks geosteerd plans and publishes
 * their results in the health state file. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "common/log.h"
#include "common/plan.h"
#include "probes/probe.h"

#ifndef GEOSTEER_VERSION
#define GEOSTEER_VERSION "0.0.0"
#endif

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
            PLAN_DEFAULT_RUNTIME_DIR);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"runtime-dir", required_argument, NULL, 'r'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"syslog", no_argument, NULL, 'S'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = PLAN_DEFAULT_RUNTIME_DIR, *level = NULL;
    int use_syslog = 0, c;
    while ((c = getopt_long(argc, argv, "r:l:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            dir = optarg;
            break;
        case 'l':
            level = optarg;
            break;
        case 'S':
            use_syslog = 1;
            break;
        case 'V':
            printf("geosteer-probe %s\n", GEOSTEER_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EX_USAGE;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return EX_USAGE;
    }
    if (level) {
        int lvl = log_level_parse(level);
        if (lvl < 0) {
            fprintf(stderr, "geosteer-probe: unknown log level '%s'\n", level);
            return EX_USAGE;
        }
        log_set_level(lvl);
    }
    if (use_syslog)
        log_use_syslog("geosteer-probe");

    /* Taken through the probe's signalfd. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    probe_t *p;
    gs_err_t err;
    if (probe_new(dir, &p, &err) != 0) {
        log_err("geosteer-probe: %s", err.text);
        return EX_OSERR;
    }
    log_info("geosteer-probe %s: runtime directory %s", GEOSTEER_VERSION, dir);
    int rc = probe_run(p);
    probe_free(p);
    return rc == 0 ? 0 : EX_SOFTWARE;
}
