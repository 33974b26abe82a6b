/* plan_gen: prints a check plan (common/plan.h) of N HTTP or TCP checks
 * against local targets, for bench/run_probe_bench.sh. The plan is built
 * the way geosteerd builds one (plan_check_id, plan_add, plan_finish,
 * plan_encode), so the ids are the real ones. HTTP checks differ by path
 * ("/c/<i>"), spread over NPORTS consecutive ports; TCP checks need one
 * port each (PORT + i).
 *
 * usage: plan_gen -p PORT [-n 1000] [-P 1] [-a 127.0.0.1] [-T http|tcp]
 *                 [-i 1000] [-t 500] [-r 3] [-f 3] [-m 256] [-b 1000] [-g 1] */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "common/plan.h"

static void usage(void)
{
    fprintf(stderr, "usage: plan_gen -p PORT [-n CHECKS] [-P NPORTS] [-a ADDRESS] [-T http|tcp]\n"
                    "                [-i INTERVAL_MS] [-t TIMEOUT_MS] [-r RISE] [-f FALL]\n"
                    "                [-m MAX_IN_FLIGHT] [-b HEARTBEAT_MS] [-g GENERATION]\n");
    exit(2);
}

static unsigned long num(const char *s, unsigned long lo, unsigned long hi)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "plan_gen: '%s' is not a number in %lu..%lu\n", s, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    unsigned long n = 1000, port = 0, nports = 1, interval = 1000, timeout = 500, rise = 3,
                  fall = 3, in_flight = 256, heartbeat = 1000, generation = 1;
    const char *address = "127.0.0.1", *type = "http";
    int c;
    while ((c = getopt(argc, argv, "n:p:P:a:T:i:t:r:f:m:b:g:h")) != -1) {
        switch (c) {
        case 'n':
            n = num(optarg, 1, PLAN_MAX_CHECKS);
            break;
        case 'p':
            port = num(optarg, 1, 65535);
            break;
        case 'P':
            nports = num(optarg, 1, 65535);
            break;
        case 'a':
            address = optarg;
            break;
        case 'T':
            type = optarg;
            break;
        case 'i':
            interval = num(optarg, 100, 3600000);
            break;
        case 't':
            timeout = num(optarg, 10, 3600000);
            break;
        case 'r':
            rise = num(optarg, 1, 100);
            break;
        case 'f':
            fall = num(optarg, 1, 100);
            break;
        case 'm':
            in_flight = num(optarg, 1, 100000);
            break;
        case 'b':
            heartbeat = num(optarg, 10, 600000);
            break;
        case 'g':
            generation = num(optarg, 0, (unsigned long)INT32_MAX);
            break;
        default:
            usage();
        }
    }
    bool tcp = strcmp(type, "tcp") == 0;
    if (optind != argc || !port || (!tcp && strcmp(type, "http") != 0))
        usage();
    if (tcp)
        nports = n;
    if (port + nports - 1 > 65535 || timeout > interval) {
        fprintf(stderr, "plan_gen: ports beyond 65535 or timeout > interval\n");
        return 2;
    }

    plan_t p;
    memset(&p, 0, sizeof(p));
    p.generation = generation;
    p.max_in_flight = (unsigned)in_flight;
    p.heartbeat_ms = (uint32_t)heartbeat;
    for (unsigned long i = 0; i < n; i++) {
        plan_check_t k;
        memset(&k, 0, sizeof(k));
        char label[64], path[32];
        snprintf(label, sizeof(label), "bench c%lu", i);
        snprintf(path, sizeof(path), "/c/%lu", i);
        k.label = label;
        k.type = tcp ? PLAN_TCP : PLAN_HTTP;
        if (inet_pton(AF_INET, address, k.addr) == 1) {
            k.family = AF_INET;
        } else if (inet_pton(AF_INET6, address, k.addr) == 1) {
            k.family = AF_INET6;
        } else {
            fprintf(stderr, "plan_gen: '%s' is not an IP address\n", address);
            return 2;
        }
        k.port = (unsigned)(port + i % nports);
        if (!tcp) {
            k.path = path;
            k.expect[0][0] = 200;
            k.expect[0][1] = 299;
            k.nexpect = 1;
            k.body_max = 4096;
        }
        k.interval_ms = (uint32_t)interval;
        k.timeout_ms = (uint32_t)timeout;
        k.rise = (unsigned)rise;
        k.fall = (unsigned)fall;
        plan_check_id(&k);
        plan_add(&p, &k);
    }
    plan_finish(&p);
    if (p.n != n) {
        fprintf(stderr, "plan_gen: %zu distinct ids for %lu checks\n", p.n, n);
        return 1;
    }
    buf_t out;
    buf_init(&out);
    plan_encode(&p, &out);
    fwrite(out.data, 1, out.len, stdout);
    buf_free(&out);
    plan_free(&p);
    return fflush(stdout) == 0 ? 0 : 1;
}
