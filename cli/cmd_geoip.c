/* geosteer geoip build: the default country database from tor-geoipdb's
 * range files (geo/geoip_build.h does the work; this is the command line). */
#include "cli/commands.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "common/mem.h"
#include "geo/geoip_build.h"

#define DEFAULT_V4 "/usr/share/tor/geoip"
#define DEFAULT_V6 "/usr/share/tor/geoip6"
#define DEFAULT_OUT "./geoip.mmdb"

static void usage(FILE *f)
{
    fprintf(f, "usage: geosteer geoip build [--v4 FILE] [--v6 FILE] [-o OUT]\n"
               "  --v4 FILE        IPv4 ranges, INTIPLOW,INTIPHIGH,CC (default " DEFAULT_V4 ")\n"
               "  --v6 FILE        IPv6 ranges, IPV6LOW,IPV6HIGH,CC (default " DEFAULT_V6 ")\n"
               "  -o, --output OUT database to write (default " DEFAULT_OUT ")\n"
               "An empty FILE (--v6 '') leaves that family out. Builds a MaxMind DB with\n"
               "country, continent and a country coordinate per network (IPFire Location\n"
               "data, CC BY-SA 4.0).\n");
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char **cli_getopt_args(const char *name, int argc, char **argv, int *nargs)
{
    /* getopt wants a program name in argv[0]; we get the words after it. */
    char **args = mem_calloc((size_t)argc + 2, sizeof *args);
    args[0] = (char *)(uintptr_t)name;
    for (int i = 0; i < argc; i++)
        args[i + 1] = argv[i];
    *nargs = argc + 1;
    optind = 0; /* main() used getopt already: start afresh */
    return args;
}

int cli_geoip_build(int argc, char **argv)
{
    static const struct option opts[] = {{"v4", required_argument, NULL, '4'},
                                         {"v6", required_argument, NULL, '6'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *v4 = DEFAULT_V4, *v6 = DEFAULT_V6, *out = DEFAULT_OUT;
    int nargs, c, status = -1;
    char **args = cli_getopt_args("geosteer geoip build", argc, argv, &nargs);
    while (status < 0 && (c = getopt_long(nargs, args, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case '4':
            v4 = optarg;
            break;
        case '6':
            v6 = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            usage(stdout);
            status = 0;
            break;
        default:
            usage(stderr);
            status = EX_USAGE;
            break;
        }
    }
    if (status < 0 && optind < nargs) {
        fprintf(stderr, "geosteer geoip build: unexpected argument '%s'\n", args[optind]);
        usage(stderr);
        status = EX_USAGE;
    }
    if (status < 0 && !*v4 && !*v6) {
        fprintf(stderr, "geosteer geoip build: no input (--v4 and --v6 both empty)\n");
        status = EX_USAGE;
    }
    free(args);
    if (status >= 0)
        return status;
    if (!*out) {
        fprintf(stderr, "geosteer geoip build: -o needs a file name\n");
        return EX_USAGE;
    }

    /* Missing inputs are the likely mistake: say so before any work. */
    const char *inputs[] = {v4, v6};
    for (int i = 0; i < 2; i++) {
        FILE *f = *inputs[i] ? fopen(inputs[i], "r") : NULL;
        if (*inputs[i] && !f) {
            fprintf(stderr, "geosteer geoip build: %s: cannot open: %s%s\n", inputs[i],
                    strerror(errno),
                    strncmp(inputs[i], "/usr/share/tor/", 15) == 0
                        ? " (install the tor-geoipdb package, or pass --v4/--v6)"
                        : "");
            return EX_NOINPUT;
        }
        if (f)
            fclose(f);
    }

    double t0 = now();
    geo_build_stats_t st;
    gs_err_t err;
    int rc = geo_build_country_db(*v4 ? v4 : NULL, *v6 ? v6 : NULL, out, &st, &err);
    double took = now() - t0;
    if (rc != 0) {
        fprintf(stderr, "geosteer geoip build: %s\n", err.text);
        return rc == GS_EINVAL ? EX_DATAERR : EX_CANTCREAT;
    }

    printf("read %zu IPv4 ranges from %s, %zu IPv6 ranges from %s\n", st.v4_ranges,
           *v4 ? v4 : "(none)", st.v6_ranges, *v6 ? v6 : "(none)");
    if (st.skipped)
        printf("skipped %zu ranges with no country or continent (codes: %s)\n", st.skipped,
               st.skipped_codes);
    char date[32] = "unknown";
    time_t be = (time_t)st.build_epoch;
    struct tm tm;
    if (be && gmtime_r(&be, &tm))
        strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", &tm);
    printf("wrote %s: %zu networks (%zu CIDR blocks before merging), %u nodes, %u-bit records, "
           "%llu bytes, data of %s\n",
           out, st.out.networks, st.networks, st.out.node_count, st.out.record_size,
           (unsigned long long)st.out.file_size, date);
    printf("took %.2f s\n", took);
    return 0;
}
