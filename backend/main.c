/* geosteerd: the pdns remote backend (and, when configured, its pipe-backend
 * fast path). Parses the command line, reads the config once, opens the
 * zone store, serves the sockets until SIGTERM or
 * SIGINT, reloads on SIGHUP, reopens the decision log on SIGUSR1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "backend/daemon/declog.h"
#include "backend/daemon/state.h"
#include "backend/protocol/metrics_http.h"
#include "backend/protocol/server.h"
#include "backend/steering/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/program.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: geosteerd [options]\n"
            "  -c, --config FILE     geosteer.json (settings override the defaults)\n"
            "  -s, --socket PATH     unix socket pdns connects to (default %s)\n"
            "  -p, --pipe-socket PATH\n"
            "                        also serve pdns's pipe backend (ABI 5) on PATH\n"
            "  -d, --zone-db PATH    zone store (default %s)\n"
            "  -l, --log-level LVL   error, warning, notice, info (default), debug\n"
            "      --syslog          log to syslog instead of stderr\n"
            "      --check           validate the configuration and every file it names, as\n"
            "                        start-up does, and exit (0 ok, 78 errors)\n"
            "  -V, --version         print the version\n"
            "  -h, --help            this text\n",
            CFG_DEFAULT_SOCKET, CFG_DEFAULT_ZONE_DB);
}

/* What start-up needs of the command line. */
typedef struct {
    program_t prog;
    const char *config, *socket, *pipe_socket, *zone_db;
    bool check;
} args_t;

/* Returns -1 to go on, or main's exit status. */
static int parse_args(int argc, char **argv, args_t *a)
{
    enum { OPT_CHECK = 0x200 };
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"socket", required_argument, NULL, 's'},
                                         {"pipe-socket", required_argument, NULL, 'p'},
                                         {"zone-db", required_argument, NULL, 'd'},
                                         {"check", no_argument, NULL, OPT_CHECK},
                                         PROGRAM_LOG_OPTIONS,
                                         PROGRAM_OPTIONS,
                                         {NULL, 0, NULL, 0}};
    int c, rc;
    while ((c = getopt_long(argc, argv, "c:s:p:d:l:Vh", opts, NULL)) != -1) {
        if (c == 'c')
            a->config = optarg;
        else if (c == 's')
            a->socket = optarg;
        else if (c == 'p')
            a->pipe_socket = optarg;
        else if (c == 'd')
            a->zone_db = optarg;
        else if (c == OPT_CHECK)
            a->check = true;
        else if ((rc = program_option(&a->prog, c)) >= 0)
            return rc;
    }
    if (optind != argc) {
        usage(stderr);
        return EX_USAGE;
    }
    return -1;
}

/* Follows settings.metrics_listen of the live config; a failure leaves the
 * listener as it was (logged). Returns 0 or the error's code. */
static int apply_metrics_listen(void)
{
    char *listen = state_metrics_listen();
    gs_err_t err;
    int rc = metrics_http_apply(listen, &err);
    if (rc)
        log_err("geosteerd: %s", err.text);
    else if (listen)
        log_info("geosteerd: metrics on http://%s/metrics", listen);
    free(listen);
    return rc;
}

/* Serves until SIGTERM or SIGINT. The main thread takes the signals
 * synchronously and wakes every second to follow the probe and to notice
 * replaced GeoIP files (two stat calls), so that a replacement is served
 * within the bound doc/steering.md states. */
static void serve(const sigset_t *set)
{
    for (;;) {
        struct timespec tick = {1, 0};
        int sig = sigtimedwait(set, NULL, &tick);
        if (sig < 0) {
            state_check_health();
            state_flush_repl();
            state_check_geoip();
            continue;
        }
        if (sig == SIGUSR1) { /* logrotate moved the decision log away */
            declog_reopen();
            continue;
        }
        if (sig != SIGHUP) {
            log_info("geosteerd: signal %d, shutting down", sig);
            program_notify("STOPPING=1");
            return;
        }
        buf_t errors;
        buf_init(&errors);
        program_notify("RELOADING=1");
        bool ok = state_reload(&errors) == 0;
        if (ok) {
            log_info("geosteerd: SIGHUP: config reloaded");
        } else {
            log_err("geosteerd: SIGHUP: reload refused, the running config keeps serving:");
            for (char *line = strtok(errors.data ? errors.data : "", "\n"); line;
                 line = strtok(NULL, "\n"))
                log_err("  %s", line);
        }
        if (ok)
            apply_metrics_listen();
        else
            declog_reopen(); /* an applied config reopened it already */
        program_notify(ok ? "READY=1\nSTATUS=serving; last reload applied"
                          : "READY=1\nSTATUS=serving; last reload refused, see the log");
        buf_free(&errors);
    }
}

/* Runs the daemon on the validated `cfg` (with its GeoIP files open in
 * `files`); returns main's exit status. */
static int run(const args_t *a, cfg_t *cfg, cfg_files_t *files)
{
    sigset_t set;
    program_block_signals(&set);
    sigaddset(&set, SIGUSR1); /* reopens the decision log */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    /* The settings start-up uses, kept: the config itself goes to the state. */
    char *sock = mem_strdup(cfg->socket), *db = mem_strdup(cfg->zone_db);
    char *pipe_sock = cfg->pipe_socket ? mem_strdup(cfg->pipe_socket) : NULL;
    rb_server_opts_t so = {.socket_path = sock,
                           .socket_mode = cfg->socket_mode,
                           .max_connections = cfg->max_connections};
    rb_server_opts_t po = so;
    po.proto = RB_PROTO_PIPE;
    po.socket_path = pipe_sock;
    int status = 0;
    gs_err_t err;
    if (state_open(db, &err) != 0) {
        log_err("geosteerd: %s", err.text);
        status = EX_IOERR;
        goto out;
    }
    /* Plan and health state live beside the socket unless the config says. */
    char *dir = mem_strdup(sock), *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    state_set_runtime_default(dir);
    free(dir);
    if (a->config) {
        buf_t errors;
        buf_init(&errors);
        if (state_install_config(a->config, cfg, files, &errors) != 0) {
            fputs(errors.data ? errors.data : "", stderr);
            status = EX_CONFIG;
        }
        buf_free(&errors);
    }
    rb_server_t *srv = NULL, *pipe_srv = NULL;
    if (status == 0 && rb_server_start(&so, &srv, &err) != 0) {
        log_err("geosteerd: %s", err.text);
        status = EX_UNAVAILABLE;
    }
    if (status == 0 && pipe_sock && rb_server_start(&po, &pipe_srv, &err) != 0) {
        log_err("geosteerd: pipe socket: %s", err.text);
        status = EX_UNAVAILABLE;
    }
    if (status == 0 && apply_metrics_listen() != 0)
        status = EX_UNAVAILABLE;
    if (status == 0) {
        log_info("geosteerd %s: serving %s%s%s (zone store %s)", GEOSTEER_VERSION, sock,
                 pipe_sock ? ", pipe backend on " : "", pipe_sock ? pipe_sock : "", db);
        /* Ready means what pdns needs: the socket accepts, and the zones
         * and the config it was started with are loaded. */
        program_notify("READY=1\nSTATUS=serving");
        serve(&set);
    }
    metrics_http_stop();
    rb_server_stop(pipe_srv);
    rb_server_stop(srv);
    state_close();
out:
    free(sock);
    free(pipe_sock);
    free(db);
    return status;
}

int main(int argc, char **argv)
{
    args_t a = {.prog = {.name = "geosteerd", .usage = usage}};
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;

    /* geosteer.json is read once. --check and start-up run the same
     * validation (cfg_load_all: the file, then every file it names), so
     * --check cannot pass a config that start-up refuses. */
    cfg_t cfg;
    cfg_files_t files = {0};
    cfg_defaults(&cfg);
    if (a.config) {
        buf_t errors;
        buf_init(&errors);
        if (cfg_load_all(a.config, &cfg, &files, &errors) != 0) {
            fputs(errors.data, stderr);
            buf_free(&errors);
            cfg_files_close(&files);
            cfg_free(&cfg);
            return EX_CONFIG;
        }
        buf_free(&errors);
    }
    if (a.socket) {
        free(cfg.socket);
        cfg.socket = mem_strdup(a.socket);
    }
    if (a.pipe_socket) {
        free(cfg.pipe_socket);
        cfg.pipe_socket = mem_strdup(a.pipe_socket);
    }
    if (a.zone_db) {
        free(cfg.zone_db);
        cfg.zone_db = mem_strdup(a.zone_db);
    }
    int status = program_start(&a.prog, argc, cfg.log_level);
    if (status == 0 && a.check)
        printf("%s: OK (socket %s, zone store %s)\n", a.config ? a.config : "(defaults)",
               cfg.socket, cfg.zone_db);
    else if (status == 0)
        status = run(&a, &cfg, &files);
    cfg_files_close(&files);
    cfg_free(&cfg);
    return status;
}
