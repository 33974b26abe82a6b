/* geosteerd: the pdns remote backend. Parses the command line and config,
 * opens the zone store, serves the socket until SIGTERM/SIGINT. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "backend/steering/config.h"
#include "backend/protocol/server.h"
#include "backend/daemon/state.h"
#include "common/log.h"
#include "common/mem.h"

#ifndef GEOSTEER_VERSION
#define GEOSTEER_VERSION "0.0.0"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: geosteerd [options]\n"
            "  -c, --config FILE     geosteer.json (settings override the defaults)\n"
            "  -s, --socket PATH     unix socket pdns connects to (default %s)\n"
            "  -d, --zone-db PATH    zone store (default %s)\n"
            "  -l, --log-level LVL   error, warning, notice, info (default), debug\n"
            "      --syslog          log to syslog instead of stderr\n"
            "      --check           validate the configuration and every file it names, as\n"
            "                        start-up does, and exit (0 ok, 78 errors)\n"
            "  -V, --version         print the version\n"
            "  -h, --help            this text\n",
            CFG_DEFAULT_SOCKET, CFG_DEFAULT_ZONE_DB);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"socket", required_argument, NULL, 's'},
                                         {"zone-db", required_argument, NULL, 'd'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"syslog", no_argument, NULL, 'S'},
                                         {"check", no_argument, NULL, 'C'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config = NULL, *sock = NULL, *db = NULL, *level = NULL;
    int use_syslog = 0, check = 0, c;
    while ((c = getopt_long(argc, argv, "c:s:d:l:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 's':
            sock = optarg;
            break;
        case 'd':
            db = optarg;
            break;
        case 'l':
            level = optarg;
            break;
        case 'S':
            use_syslog = 1;
            break;
        case 'C':
            check = 1;
            break;
        case 'V':
            printf("geosteerd %s\n", GEOSTEER_VERSION);
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

    /* The check and start-up run the same validation (cfg_load_all: the
     * file, then every file it names), so --check cannot pass a config that
     * start-up refuses. Start-up runs it again below, through the state. */
    cfg_t cfg;
    cfg_defaults(&cfg);
    if (config) {
        buf_t errors;
        buf_init(&errors);
        if (cfg_load_all(config, &cfg, NULL, &errors) != 0) {
            fputs(errors.data, stderr);
            buf_free(&errors);
            cfg_free(&cfg);
            return EX_CONFIG;
        }
        buf_free(&errors);
    }
    if (sock) {
        free(cfg.socket);
        cfg.socket = mem_strdup(sock);
    }
    if (db) {
        free(cfg.zone_db);
        cfg.zone_db = mem_strdup(db);
    }
    if (level && (cfg.log_level = cfg_log_level(level)) < 0) {
        fprintf(stderr, "geosteerd: unknown log level '%s'\n", level);
        cfg_free(&cfg);
        return EX_USAGE;
    }
    if (check) {
        printf("%s: OK (socket %s, zone store %s)\n", config ? config : "(defaults)", cfg.socket,
               cfg.zone_db);
        cfg_free(&cfg);
        return 0;
    }
    log_set_level(cfg.log_level);
    if (use_syslog)
        log_use_syslog("geosteerd");

    /* Signals are taken synchronously by this thread; every other thread
     * inherits the blocked mask. A peer closing mid-write must not kill us. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    gs_err_t err;
    if (state_open(cfg.zone_db, &err) != 0) {
        log_err("geosteerd: %s", err.text);
        cfg_free(&cfg);
        return EX_IOERR;
    }
    /* Plan and health state live beside the socket unless the config says. */
    char *dir = mem_strdup(cfg.socket), *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    state_set_runtime_default(dir);
    free(dir);
    if (config) {
        buf_t errors;
        buf_init(&errors);
        if (state_load_config(config, &errors) != 0) {
            fputs(errors.data ? errors.data : "", stderr);
            buf_free(&errors);
            state_close();
            cfg_free(&cfg);
            return EX_CONFIG;
        }
        buf_free(&errors);
    }
    rb_server_opts_t so = {.socket_path = cfg.socket,
                           .socket_mode = cfg.socket_mode,
                           .max_connections = cfg.max_connections};
    rb_server_t *srv;
    if (rb_server_start(&so, &srv, &err) != 0) {
        log_err("geosteerd: %s", err.text);
        state_close();
        cfg_free(&cfg);
        return EX_UNAVAILABLE;
    }
    log_info("geosteerd %s: serving %s (zone store %s)", GEOSTEER_VERSION, cfg.socket, cfg.zone_db);
    for (;;) {
        /* Wake every second to follow the probe and to notice replaced
         * GeoIP files (two stat calls), so that a replacement is served
         * within the bound the README states. */
        struct timespec tick = {1, 0};
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig < 0) {
            state_check_health();
            state_check_geoip();
            continue;
        }
        if (sig == SIGHUP) {
            buf_t errors;
            buf_init(&errors);
            if (state_reload(&errors) == 0) {
                log_info("geosteerd: SIGHUP: config reloaded");
            } else {
                log_err("geosteerd: SIGHUP: reload refused, the running config keeps serving:");
                for (char *line = strtok(errors.data ? errors.data : "", "\n"); line;
                     line = strtok(NULL, "\n"))
                    log_err("  %s", line);
            }
            buf_free(&errors);
            continue;
        }
        log_info("geosteerd: signal %d, shutting down", sig);
        break;
    }
    rb_server_stop(srv);
    state_close();
    cfg_free(&cfg);
    return 0;
}
