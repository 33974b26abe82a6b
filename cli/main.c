/* geosteer: the operator CLI. Every command is sent to the running
 * geosteerd, exactly as `pdnsutil backend-cmd remote "<command>"` would
 * (zone load with its file made an absolute path first). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "common/program.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: geosteer [-s SOCKET] [-t MS] <command> [args...]\n"
            "  -s, --socket PATH   geosteerd socket (default $GEOSTEER_SOCKET or %s)\n"
            "  -t, --timeout MS    reply timeout (default 30000)\n"
            "  -V, --version       print the version\n"
            "Commands are those of the daemon; 'geosteer help' lists them. Local ones:\n"
            "  check [-c FILE], geoip build [...], geoip update --url URL [...],\n"
            "  lua-check <zonefile> [--origin ZONE], relay (stdin/stdout to the socket,\n"
            "  for pdns's remote-backend pipe connector)\n"
            "zone load <zone> <file> sends the file's absolute path: geosteerd reads it.\n"
            "Exit status: 0 OK, 1 ERR reply, 69 daemon unreachable, 64 usage, 66 no such\n"
            "file (zone load).\n",
            GS_DEFAULT_SOCKET);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
                                         {"timeout", required_argument, NULL, 't'},
                                         PROGRAM_OPTIONS,
                                         {NULL, 0, NULL, 0}};
    program_t prog = {.name = "geosteer", .usage = usage};
    const char *sock = getenv("GEOSTEER_SOCKET");
    int timeout = 30000, c, rc;
    if (!sock || !*sock)
        sock = GS_DEFAULT_SOCKET;
    while ((c = getopt_long(argc, argv, "+s:t:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            sock = optarg;
            break;
        case 't':
            timeout = atoi(optarg);
            if (timeout <= 0) {
                fprintf(stderr, "geosteer: --timeout must be a positive number of ms\n");
                return EX_USAGE;
            }
            break;
        default:
            if ((rc = program_option(&prog, c)) >= 0)
                return rc;
        }
    }
    if (optind == argc) {
        usage(stderr);
        return EX_USAGE;
    }
    /* Local commands: no daemon needed. */
    if (strcmp(argv[optind], "check") == 0)
        return cli_check(argc - optind - 1, argv + optind + 1);
    if (strcmp(argv[optind], "geoip") == 0 && optind + 1 < argc &&
        strcmp(argv[optind + 1], "build") == 0)
        return cli_geoip_build(argc - optind - 2, argv + optind + 2);
    if (strcmp(argv[optind], "geoip") == 0 && optind + 1 < argc &&
        strcmp(argv[optind + 1], "update") == 0)
        return cli_geoip_update(argc - optind - 2, argv + optind + 2);
    if (strcmp(argv[optind], "relay") == 0)
        return cli_relay(sock, argc - optind - 1, argv + optind + 1);
    if (strcmp(argv[optind], "lua-check") == 0 &&
        cli_lua_check_is_file(argc - optind - 1, argv + optind + 1))
        return cli_lua_check(argc - optind - 1, argv + optind + 1);

    /* zone load: geosteerd reads the file (a zone can be far larger than one
     * request line), so it gets a path that means the same thing there. */
    char *abs = NULL;
    if (argc - optind == 4 && strcmp(argv[optind], "zone") == 0 &&
        strcmp(argv[optind + 1], "load") == 0) {
        if (!(abs = realpath(argv[optind + 3], NULL))) {
            fprintf(stderr, "geosteer zone load: %s: %s\n", argv[optind + 3], strerror(errno));
            return EX_NOINPUT;
        }
        argv[optind + 3] = abs;
    }
    buf_t cmd, reply;
    buf_init(&cmd);
    buf_init(&reply);
    client_join(argc - optind, argv + optind, &cmd);
    free(abs);
    gs_err_t err;
    rc = client_call(sock, cmd.data, timeout, &reply, &err);
    int status;
    if (rc != 0) {
        fprintf(stderr, "geosteer: %s\n", err.text);
        status = rc == GS_EINVAL ? EX_PROTOCOL : EX_UNAVAILABLE;
    } else {
        const char *text = reply.data ? reply.data : "";
        status = strncmp(text, "OK", 2) == 0 ? 0 : 1;
        /* metrics: the exposition alone, for a parser or node_exporter's
         * textfile collector */
        if (status == 0 && strncmp(text, "OK\n", 3) == 0 &&
            (strcmp(argv[optind], "metrics") == 0 ||
             (strcmp(argv[optind], "status") == 0 && argc - optind == 2)))
            text += 3; /* and status --json: the JSON alone */
        fputs(text, stdout);
    }
    buf_free(&cmd);
    buf_free(&reply);
    return status;
}
