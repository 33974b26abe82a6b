/* steer_bench: the steering engine in-process, without a socket.
 *
 * Opens a GeoIP database (-g), compiles a geosteer.json (-c, or an embedded
 * config with one policy of each measured type) into an engine with
 * steer_from_cfg, draws N distinct client subnets (IPv4 /24, IPv6 /56) from
 * real address ranges (Tor's geoip/geoip6 files by default, -r to override),
 * then for each policy type times steer_client_parse + steer_decide over the
 * sample on one thread and prints decisions/s. It also prints the build
 * times, the process RSS with the engine loaded, and the mean ECS scope the
 * engine returns over the sample next to the mean of the database netmask
 * (geo_db_lookup's prefix_len) for the same addresses.
 *
 * The engine reports both the scope capped at /24 (IPv4) and /56 (IPv6)
 * and the uncapped depth of the decision tree (steer_decision_t.depth).
 *
 *   steer_bench -g DB.mmdb [-c geosteer.json] [-r RANGES]... [-n N] [-6 FRAC]
 *               [-d SECONDS] [-C CPU] [-s SEED] [-o SAMPLE_OUT]
 *   steer_bench -g DB.mmdb -P      print the embedded config (for geosteerd)
 *
 * Exit status: 0, 1 on errors, 64 on usage errors. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backend/steering/config.h"
#include "backend/steering/steer.h"
#include "common/buf.h"
#include "common/err.h"
#include "geo/geodb.h"

/* ---- the embedded configuration ---------------------------------------------- */

/* %s: the database path. One policy per measured type; the geo policy has
 * continent rules plus country rules that carve countries out of their
 * continent (more tree nodes, smaller uniform areas). */
static const char embedded_cfg[] =
    "{\n"
    "  \"settings\": {\"geoip\": {\"database\": \"%s\", \"max_age_days\": 3650}},\n"
    "  \"endpoints\": {\n"
    "    \"fra\": {\"a\": [\"192.0.2.10\"], \"aaaa\": [\"2001:db8:10::1\"], \"location\": [50.11, "
    "8.68], \"weight\": 100},\n"
    "    \"ams\": {\"a\": [\"192.0.2.20\"], \"aaaa\": [\"2001:db8:20::1\"], \"location\": [52.37, "
    "4.90], \"weight\": 50},\n"
    "    \"lon\": {\"a\": [\"192.0.2.30\"], \"aaaa\": [\"2001:db8:21::1\"], \"location\": [51.51, "
    "-0.13], \"weight\": 50},\n"
    "    \"nyc\": {\"a\": [\"198.51.100.10\"], \"aaaa\": [\"2001:db8:30::1\"], \"location\": "
    "[40.71, -74.01], \"weight\": 100},\n"
    "    \"sjc\": {\"a\": [\"198.51.100.20\"], \"aaaa\": [\"2001:db8:31::1\"], \"location\": "
    "[37.36, -121.93], \"weight\": 80},\n"
    "    \"gru\": {\"a\": [\"198.51.100.30\"], \"aaaa\": [\"2001:db8:32::1\"], \"location\": "
    "[-23.55, -46.63], \"weight\": 20},\n"
    "    \"tyo\": {\"a\": [\"203.0.113.10\"], \"aaaa\": [\"2001:db8:40::1\"], \"location\": "
    "[35.68, 139.69], \"weight\": 60},\n"
    "    \"sin\": {\"a\": [\"203.0.113.20\"], \"aaaa\": [\"2001:db8:41::1\"], \"location\": [1.35, "
    "103.82], \"weight\": 40},\n"
    "    \"bom\": {\"a\": [\"203.0.113.30\"], \"aaaa\": [\"2001:db8:42::1\"], \"location\": "
    "[19.08, 72.88], \"weight\": 30},\n"
    "    \"syd\": {\"a\": [\"203.0.113.40\"], \"aaaa\": [\"2001:db8:43::1\"], \"location\": "
    "[-33.87, 151.21], \"weight\": 20},\n"
    "    \"jnb\": {\"a\": [\"203.0.113.50\"], \"aaaa\": [\"2001:db8:44::1\"], \"location\": "
    "[-26.20, 28.05], \"weight\": 10}\n"
    "  },\n"
    "  \"pools\": {\n"
    "    \"eu-central\": {\"endpoints\": [\"fra\", \"ams\"], \"fallback\": \"eu-west\"},\n"
    "    \"eu-west\": {\"endpoints\": [\"lon\", \"ams\"], \"fallback\": \"global\"},\n"
    "    \"na-east\": {\"endpoints\": [\"nyc\"], \"fallback\": \"na-west\"},\n"
    "    \"na-west\": {\"endpoints\": [\"sjc\"], \"fallback\": \"global\"},\n"
    "    \"sa\": {\"endpoints\": [\"gru\"], \"fallback\": \"na-east\"},\n"
    "    \"asia-ne\": {\"endpoints\": [\"tyo\"], \"fallback\": \"asia-se\"},\n"
    "    \"asia-se\": {\"endpoints\": [\"sin\"], \"fallback\": \"global\"},\n"
    "    \"asia-s\": {\"endpoints\": [\"bom\"], \"fallback\": \"asia-se\"},\n"
    "    \"oceania\": {\"endpoints\": [\"syd\"], \"fallback\": \"asia-se\"},\n"
    "    \"africa\": {\"endpoints\": [\"jnb\"], \"fallback\": \"eu-central\"},\n"
    "    \"global\": {\"endpoints\": [\"fra\", \"ams\", \"lon\", \"nyc\", \"sjc\", \"gru\", "
    "\"tyo\", \"sin\", \"bom\", \"syd\", \"jnb\"]}\n"
    "  },\n"
    "  \"policies\": {\n"
    "    \"geo\": {\n"
    "      \"type\": \"geo\", \"ttl\": 60,\n"
    "      \"rules\": [\n"
    "        {\"country\": [\"DE\", \"AT\", \"CH\", \"PL\", \"CZ\", \"NL\", \"BE\", \"DK\"], "
    "\"pool\": \"eu-central\"},\n"
    "        {\"country\": [\"GB\", \"IE\", \"FR\", \"ES\", \"PT\", \"IS\"], \"pool\": "
    "\"eu-west\"},\n"
    "        {\"country\": [\"US\", \"CA\", \"MX\"], \"pool\": \"na-east\"},\n"
    "        {\"country\": [\"JP\", \"KR\", \"TW\", \"CN\", \"HK\"], \"pool\": \"asia-ne\"},\n"
    "        {\"country\": [\"IN\", \"PK\", \"BD\", \"LK\", \"NP\"], \"pool\": \"asia-s\"},\n"
    "        {\"country\": [\"AU\", \"NZ\"], \"pool\": \"oceania\"},\n"
    "        {\"country\": [\"RU\", \"UA\", \"TR\"], \"pool\": \"eu-central\"},\n"
    "        {\"continent\": \"EU\", \"pool\": \"eu-central\"},\n"
    "        {\"continent\": \"NA\", \"pool\": \"na-west\"},\n"
    "        {\"continent\": \"SA\", \"pool\": \"sa\"},\n"
    "        {\"continent\": \"AS\", \"pool\": \"asia-se\"},\n"
    "        {\"continent\": \"OC\", \"pool\": \"oceania\"},\n"
    "        {\"continent\": \"AF\", \"pool\": \"africa\"}\n"
    "      ],\n"
    "      \"default\": \"global\"\n"
    "    },\n"
    "    \"near\": {\"type\": \"proximity\", \"pools\": [\"eu-central\", \"eu-west\", "
    "\"na-east\", \"na-west\", \"sa\", \"asia-ne\", \"asia-se\", \"asia-s\", \"oceania\", "
    "\"africa\"], \"bias\": {\"africa\": 1500}, \"nearest\": 2, \"ttl\": 60},\n"
    "    \"sticky\": {\"type\": \"hashed\", \"pool\": \"global\", \"ttl\": 60},\n"
    "    \"chash\": {\"type\": \"consistent-hash\", \"pool\": \"global\", \"ttl\": 60},\n"
    "    \"weighted\": {\"type\": \"weighted\", \"pool\": \"global\", \"ttl\": 60}\n"
    "  }\n"
    "}\n";

/* ---- options ---------------------------------------------------------------------- */

static const char *opt_db, *opt_cfg;
static const char *opt_ranges[8];
static size_t nranges_files;
static unsigned opt_n = 10000;
static double opt_v6 = 0.25, opt_secs = 2.0;
static int opt_cpu = -1;
static uint64_t opt_seed = 42;
static bool opt_print_cfg;
static const char *opt_sample_out;
static unsigned opt_builds = 1;

/* ---- helpers ----------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state;
static uint64_t rnd64(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void print_status(const char *label)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return;
    char line[256];
    long rss = -1, hwm = -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            rss = atol(line + 6);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            hwm = atol(line + 6);
    }
    fclose(f);
    printf("%-40s VmRSS %ld kB (%.1f MiB)  VmHWM %ld kB (%.1f MiB)\n", label, rss,
           (double)rss / 1024, hwm, (double)hwm / 1024);
}

/* ---- client sample ------------------------------------------------------------------ */

typedef unsigned __int128 u128;

typedef struct {
    int family;
    uint8_t start[16], end[16]; /* network order; 4 bytes for AF_INET */
} range_t;

static range_t *ranges;
static size_t nranges, cap_ranges;

static u128 to128(const uint8_t *b, size_t n)
{
    u128 v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | b[i];
    return v;
}

static void from128(u128 v, uint8_t *b, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        b[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* One end of a range: an integer (Tor's IPv4 file), a dotted quad or an
 * IPv6 address. */
static int parse_end(const char *s, int *family, uint8_t *out)
{
    if (strchr(s, ':')) {
        *family = AF_INET6;
        return inet_pton(AF_INET6, s, out) == 1 ? 0 : -1;
    }
    *family = AF_INET;
    if (strchr(s, '.'))
        return inet_pton(AF_INET, s, out) == 1 ? 0 : -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v > 0xffffffffull)
        return -1;
    from128(v, out, 4);
    return 0;
}

/* Reads "START,END,CC" lines (Tor's geoip/geoip6 format; '#' comments). */
static int load_ranges(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "steer_bench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[512];
    size_t before = nranges;
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        if (!c2)
            continue;
        *c1 = *c2 = '\0';
        range_t r = {0};
        int f2;
        if (parse_end(line, &r.family, r.start) != 0 || parse_end(c1 + 1, &f2, r.end) != 0 ||
            f2 != r.family)
            continue;
        size_t n = r.family == AF_INET ? 4 : 16;
        if (to128(r.end, n) < to128(r.start, n))
            continue;
        if (nranges == cap_ranges) {
            cap_ranges = cap_ranges ? cap_ranges * 2 : 65536;
            ranges = realloc(ranges, cap_ranges * sizeof(*ranges));
            if (!ranges) {
                fprintf(stderr, "steer_bench: out of memory\n");
                exit(1);
            }
        }
        ranges[nranges++] = r;
    }
    fclose(f);
    printf("ranges:         %zu from %s\n", nranges - before, path);
    return 0;
}

typedef struct {
    int family;
    uint8_t addr[16]; /* the network (host bits zero) */
    char str[64];     /* "203.0.113.0/24", as pdns sends real-remote */
    size_t len;
} sample_t;

static sample_t *samples;
static size_t nsamples;

/* Open-addressing set of the sampled networks. */
static uint64_t *seen;
static size_t seen_mask;

static bool seen_add(int family, const uint8_t *a)
{
    uint64_t h = (uint64_t)family * 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < 16; i++)
        h = (h ^ a[i]) * 0x100000001b3ull;
    h |= 1; /* 0 marks an empty slot */
    for (size_t i = h & seen_mask;; i = (i + 1) & seen_mask) {
        if (seen[i] == h)
            return false; /* (a 64-bit hash collision would only lose one candidate) */
        if (seen[i] == 0) {
            seen[i] = h;
            return true;
        }
    }
}

/* Picks a range uniformly among those of `family`, an address uniformly
 * inside it, and keeps its /24 or /56. */
static void draw(int family, size_t *idx_v4, size_t nv4, size_t *idx_v6, size_t nv6, sample_t *s)
{
    const range_t *r =
        family == AF_INET ? &ranges[idx_v4[rnd64() % nv4]] : &ranges[idx_v6[rnd64() % nv6]];
    size_t n = family == AF_INET ? 4 : 16;
    u128 lo = to128(r->start, n), hi = to128(r->end, n);
    u128 span = hi - lo; /* + 1 may overflow for ::/0 */
    u128 x = ((u128)rnd64() << 64) | rnd64();
    u128 off = span == ~(u128)0 ? x : x % (span + 1);
    uint8_t a[16] = {0};
    from128(lo + off, a, n);
    unsigned plen = family == AF_INET ? 24 : 56;
    for (unsigned bit = plen; bit < 8 * n; bit++)
        a[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
    s->family = family;
    memcpy(s->addr, a, 16);
    char txt[INET6_ADDRSTRLEN];
    inet_ntop(family, a, txt, sizeof(txt));
    s->len = (size_t)snprintf(s->str, sizeof(s->str), "%s/%u", txt, plen);
}

static int make_sample(void)
{
    size_t nv4 = 0, nv6 = 0;
    size_t *i4 = malloc((nranges + 1) * sizeof(size_t)),
           *i6 = malloc((nranges + 1) * sizeof(size_t));
    for (size_t i = 0; i < nranges; i++) {
        if (ranges[i].family == AF_INET)
            i4[nv4++] = i;
        else
            i6[nv6++] = i;
    }
    size_t want6 = (size_t)lround(opt_v6 * opt_n);
    if (nv6 == 0)
        want6 = 0;
    if (nv4 == 0)
        want6 = opt_n;
    if (want6 && nv6 == 0) {
        fprintf(stderr, "steer_bench: no ranges to draw clients from\n");
        return -1;
    }
    size_t slots = 1;
    while (slots < 4 * (size_t)opt_n)
        slots <<= 1;
    seen = calloc(slots, sizeof(*seen));
    seen_mask = slots - 1;
    samples = calloc(opt_n, sizeof(*samples));
    size_t got6 = 0, got4 = 0, tries = 0;
    while (nsamples < opt_n && tries++ < 100u * opt_n) {
        int fam =
            got6 < want6 && (got4 >= opt_n - want6 || rnd64() % opt_n < want6) ? AF_INET6 : AF_INET;
        sample_t s;
        draw(fam, i4, nv4, i6, nv6, &s);
        if (!seen_add(s.family, s.addr))
            continue;
        samples[nsamples++] = s;
        if (fam == AF_INET6)
            got6++;
        else
            got4++;
    }
    /* Shuffle so that families interleave in the timed loop. */
    for (size_t i = nsamples; i > 1; i--) {
        size_t j = rnd64() % i;
        sample_t t = samples[i - 1];
        samples[i - 1] = samples[j];
        samples[j] = t;
    }
    free(i4);
    free(i6);
    printf("clients:        %zu distinct subnets (%zu IPv4 /24, %zu IPv6 /56; ranges drawn "
           "uniformly)\n",
           nsamples, got4, got6);
    return nsamples == opt_n ? 0 : -1;
}

/* ---- timing ----------------------------------------------------------------------- */

static volatile uint64_t sink;

typedef enum { MODE_PARSE_DECIDE, MODE_DECIDE, MODE_PARSE } mode_t_;

typedef struct {
    double median, best; /* wall-clock rate over the slices */
    double cpu;          /* count / thread CPU time over all slices */
} rate_t;

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define SLICES 5

/* Runs `mode` over the sample for `secs` in SLICES slices (the machine is
 * shared: the best slice is the least disturbed, the CPU-time rate ignores
 * time spent preempted). */
static rate_t time_policy(const steer_t *s, uint32_t pi, mode_t_ mode, const steer_client_t *pre,
                          double secs, uint64_t *errors)
{
    static const char remote[] = "192.0.2.1";
    steer_decision_t d;
    steer_client_t c;
    uint64_t total = 0, acc = 0, rnd = 0x12345678u;
    size_t i = 0;
    double rates[SLICES], cpu0 = cpu_s();
    for (int sl = 0; sl < SLICES; sl++) {
        uint64_t n = 0;
        double t0 = now_s(), t1;
        for (;;) {
            for (int k = 0; k < 4096; k++) {
                const sample_t *sm = &samples[i];
                rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
                if (mode == MODE_DECIDE) {
                    steer_decide(s, pi, &pre[i], rnd, &d);
                    acc += d.picks[0] + d.scope;
                } else {
                    if (steer_client_parse(sm->str, sm->len, remote, sizeof(remote) - 1, &c) != 0)
                        (*errors)++;
                    if (mode == MODE_PARSE_DECIDE) {
                        steer_decide(s, pi, &c, rnd, &d);
                        acc += d.picks[0] + d.scope;
                    } else {
                        acc += c.addr[2] + c.source_len;
                    }
                }
                if (++i == nsamples)
                    i = 0;
            }
            n += 4096;
            t1 = now_s();
            if (t1 - t0 >= secs / SLICES)
                break;
        }
        rates[sl] = (double)n / (t1 - t0);
        total += n;
    }
    double cpu = cpu_s() - cpu0;
    sink += acc;
    qsort(rates, SLICES, sizeof(double), cmp_double);
    return (rate_t){rates[SLICES / 2], rates[SLICES - 1], cpu > 0 ? (double)total / cpu : 0};
}

/* ---- main ----------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: steer_bench -g DB.mmdb [options]\n"
               "  -g FILE     GeoIP database (e.g. from `geosteer geoip build -o FILE`)\n"
               "  -c FILE     geosteer.json to compile (default: an embedded config with geo,\n"
               "              proximity, hashed, consistent-hash and weighted policies)\n"
               "  -P          print the embedded config (with -g's path) and exit\n"
               "  -r FILE     address ranges START,END,CC (Tor geoip format); repeatable\n"
               "              (default /usr/share/tor/geoip and /usr/share/tor/geoip6)\n"
               "  -n N        distinct client subnets (default 10000)\n"
               "  -6 FRAC     fraction of IPv6 /56 clients (default 0.25)\n"
               "  -d SECONDS  timed duration per policy and mode (default 2)\n"
               "  -C CPU      pin to this CPU (sched_setaffinity)\n"
               "  -s SEED     sample seed (default 42)\n"
               "  -b N        build the engine N times and print each time (the first build pays\n"
               "              the page faults of fresh heap; later ones reuse it)\n"
               "  -o FILE     also write the client sample, one ADDR/LEN per line (rb_bench -R)\n");
}

typedef struct {
    uint64_t n;
    double sum_db, sum_db_cap, sum_scope, sum_depth;
    uint64_t at_cap, notfound, depth_over_cap, scope_lt_db;
} fstat_t;

int main(int argc, char **argv)
{
    int ch;
    while ((ch = getopt(argc, argv, "g:c:Pr:n:6:d:C:s:o:b:h")) != -1) {
        char *end;
        switch (ch) {
        case 'g':
            opt_db = optarg;
            break;
        case 'c':
            opt_cfg = optarg;
            break;
        case 'P':
            opt_print_cfg = true;
            break;
        case 'r':
            if (nranges_files == sizeof(opt_ranges) / sizeof(opt_ranges[0]))
                goto bad;
            opt_ranges[nranges_files++] = optarg;
            break;
        case 'n':
            opt_n = (unsigned)strtoul(optarg, &end, 10);
            if (*end || opt_n < 1 || opt_n > 10000000)
                goto bad;
            break;
        case '6':
            opt_v6 = strtod(optarg, &end);
            if (*end || opt_v6 < 0 || opt_v6 > 1)
                goto bad;
            break;
        case 'd':
            opt_secs = strtod(optarg, &end);
            if (*end || opt_secs <= 0)
                goto bad;
            break;
        case 'C':
            opt_cpu = (int)strtol(optarg, &end, 10);
            if (*end || opt_cpu < 0)
                goto bad;
            break;
        case 's':
            opt_seed = strtoull(optarg, &end, 10);
            if (*end)
                goto bad;
            break;
        case 'o':
            opt_sample_out = optarg;
            break;
        case 'b':
            opt_builds = (unsigned)strtoul(optarg, &end, 10);
            if (*end || opt_builds < 1 || opt_builds > 100)
                goto bad;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            goto bad;
        }
    }
    if (!opt_db || optind != argc)
        goto bad;

    char dbabs[PATH_MAX];
    if (!realpath(opt_db, dbabs)) {
        fprintf(stderr, "steer_bench: %s: %s\n", opt_db, strerror(errno));
        return 1;
    }
    if (opt_print_cfg) {
        printf(embedded_cfg, dbabs);
        return 0;
    }
    if (opt_cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(opt_cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) != 0)
            fprintf(stderr, "steer_bench: sched_setaffinity(%d): %s (not pinned)\n", opt_cpu,
                    strerror(errno));
    }
    rng_state = opt_seed;
    print_status("start:");

    /* ---- config ---- */
    char tmpcfg[] = "/tmp/steer_bench.XXXXXX";
    const char *cfg_path = opt_cfg;
    if (!cfg_path) {
        int fd = mkstemp(tmpcfg);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!f) {
            fprintf(stderr, "steer_bench: %s: %s\n", tmpcfg, strerror(errno));
            return 1;
        }
        fprintf(f, embedded_cfg, dbabs);
        fclose(f);
        cfg_path = tmpcfg;
    }
    cfg_t cfg;
    cfg_defaults(&cfg);
    buf_t errs;
    buf_init(&errs);
    double t0 = now_s();
    int rc = cfg_load(cfg_path, &cfg, &errs);
    double t_cfg = now_s() - t0;
    if (!opt_cfg)
        unlink(tmpcfg);
    if (rc != 0) {
        fprintf(stderr, "steer_bench: config errors:\n%s", errs.data ? errs.data : "");
        return 1;
    }
    buf_free(&errs);

    /* ---- database + engine ---- */
    geo_db_t *db = NULL;
    gs_err_t gerr;
    t0 = now_s();
    if (geo_db_open(dbabs, &db, &gerr) != 0) {
        fprintf(stderr, "steer_bench: %s: cannot open\n", dbabs);
        return 1;
    }
    double t_open = now_s() - t0;
    geo_db_info_t info;
    geo_db_info(db, &info);
    print_status("database open:");
    t0 = now_s();
    steer_t *s = steer_from_cfg(&cfg, db, NULL);
    double t_build = now_s() - t0;
    print_status("engine built:");
    for (unsigned b = 1; b < opt_builds; b++) {
        double tb = now_s();
        steer_t *s2 = steer_from_cfg(&cfg, db, NULL);
        tb = now_s() - tb;
        steer_free(s);
        s = s2;
        char label[64];
        snprintf(label, sizeof(label), "engine rebuilt (%u, %.1f ms):", b + 1, tb * 1e3);
        print_status(label);
    }
    printf("database:       %s (%s, IPv%u, %u nodes, %u-bit records)\n", dbabs, info.database_type,
           info.ip_version, info.node_count, info.record_size);
    printf("config:         %s (%zu endpoints, %zu pools, %zu policies)\n",
           opt_cfg ? opt_cfg : "(embedded)", cfg.nendpoints, cfg.npools, cfg.npolicies);
    printf("cfg_load:       %.1f ms\n", t_cfg * 1e3);
    printf("geo_db_open:    %.1f ms\n", t_open * 1e3);
    printf(
        "steer_from_cfg: %.1f ms (engine build: decision trees for every geo/proximity policy)\n",
        t_build * 1e3);

    /* ---- sample ---- */
    if (nranges_files == 0) {
        opt_ranges[nranges_files++] = "/usr/share/tor/geoip";
        opt_ranges[nranges_files++] = "/usr/share/tor/geoip6";
    }
    for (size_t i = 0; i < nranges_files; i++)
        if (load_ranges(opt_ranges[i]) != 0)
            return 1;
    if (make_sample() != 0) {
        fprintf(stderr, "steer_bench: could not draw %u distinct subnets\n", opt_n);
        return 1;
    }
    free(ranges);
    ranges = NULL;
    if (opt_sample_out) {
        FILE *f = fopen(opt_sample_out, "w");
        if (!f) {
            fprintf(stderr, "steer_bench: %s: %s\n", opt_sample_out, strerror(errno));
            return 1;
        }
        for (size_t i = 0; i < nsamples; i++)
            fprintf(f, "%s\n", samples[i].str);
        if (fclose(f) != 0) {
            fprintf(stderr, "steer_bench: %s: write failed\n", opt_sample_out);
            return 1;
        }
        printf("sample written: %s\n", opt_sample_out);
    }
    steer_client_t *pre = calloc(nsamples, sizeof(*pre));
    for (size_t i = 0; i < nsamples; i++)
        if (steer_client_parse(samples[i].str, samples[i].len, "192.0.2.1", 9, &pre[i]) != 0) {
            fprintf(stderr, "steer_bench: steer_client_parse refused %s\n", samples[i].str);
            return 1;
        }

    /* ---- timing: one row per policy ---- */
    printf("\n== decisions/s, one thread%s, %.1f s per figure, %zu clients round-robin\n",
           opt_cpu >= 0 ? " (pinned)" : "", opt_secs, nsamples);
    printf("  %-10s %-16s | %-33s | %-22s\n", "", "", "parse + decide", "decide only (parsed)");
    printf("  %-10s %-16s | %10s %10s %11s | %10s %11s\n", "policy", "type", "median/s", "best/s",
           "per-CPU-s", "median/s", "per-CPU-s");
    uint64_t errors = 0;
    rate_t geo_rate = {-1, -1, -1};
    for (size_t pi = 0; pi < cfg.npolicies; pi++) {
        time_policy(s, (uint32_t)pi, MODE_PARSE_DECIDE, pre, 0.2, &errors); /* warm caches */
        rate_t r1 = time_policy(s, (uint32_t)pi, MODE_PARSE_DECIDE, pre, opt_secs, &errors);
        rate_t r2 = time_policy(s, (uint32_t)pi, MODE_DECIDE, pre, opt_secs, &errors);
        printf("  %-10s %-16s | %10.0f %10.0f %11.0f | %10.0f %11.0f\n", cfg.policies[pi].name,
               cfg_policy_type_name(cfg.policies[pi].type), r1.median, r1.best, r1.cpu, r2.median,
               r2.cpu);
        if (cfg.policies[pi].type == CFG_POLICY_GEO && (geo_rate.cpu < 0 || r1.cpu < geo_rate.cpu))
            geo_rate = r1;
    }
    rate_t rp = time_policy(s, 0, MODE_PARSE, pre, opt_secs, &errors);
    printf("  %-10s %-16s | %10.0f %10.0f %11.0f | %10s %11s\n", "-", "parse only", rp.median,
           rp.best, rp.cpu, "-", "-");
    /* geo_db_lookup on the same clients: what a per-query database lookup costs. */
    {
        double tl0 = now_s(), c0 = cpu_s(), tl1;
        uint64_t n = 0, acc = 0;
        size_t i = 0;
        for (;;) {
            for (int k = 0; k < 1024; k++) {
                struct sockaddr_in6 sa6 = {.sin6_family = AF_INET6};
                struct sockaddr_in sa4 = {.sin_family = AF_INET};
                geo_result_t gr;
                const struct sockaddr *sa;
                if (samples[i].family == AF_INET) {
                    memcpy(&sa4.sin_addr, samples[i].addr, 4);
                    sa = (const struct sockaddr *)&sa4;
                } else {
                    memcpy(&sa6.sin6_addr, samples[i].addr, 16);
                    sa = (const struct sockaddr *)&sa6;
                }
                geo_db_lookup(db, sa, &gr);
                acc += gr.prefix_len;
                if (++i == nsamples)
                    i = 0;
            }
            n += 1024;
            tl1 = now_s();
            if (tl1 - tl0 >= opt_secs)
                break;
        }
        double c1 = cpu_s();
        sink += acc;
        printf("  %-10s %-16s | %10.0f %10s %11.0f | %10s %11s   (reference: a database lookup)\n",
               "-", "geo_db_lookup", (double)n / (tl1 - tl0), "-", (double)n / (c1 - c0), "-", "-");
    }
    printf(
        "  median/best: wall-clock rate over %d slices; per-CPU-s: decisions per second of this\n"
        "  thread's CPU time (discounts preemption on a shared machine)\n",
        SLICES);
    if (errors)
        printf("  parse errors: %llu\n", (unsigned long long)errors);
    if (geo_rate.cpu >= 0)
        printf("  target: geo parse+decide >= 1,000,000/s on one core: median %.0f/s, best %.0f/s, "
               "per CPU-s %.0f/s -> %s\n",
               geo_rate.median, geo_rate.best, geo_rate.cpu,
               geo_rate.cpu >= 1e6
                   ? (geo_rate.median >= 1e6 ? "ok" : "ok per CPU-s (wall median below)")
                   : "MISSED");

    /* ---- scope over the sample ---- */
    printf("\n== ECS scope over the sample (engine: capped at /%d IPv4, /%d IPv6) vs the "
           "database netmask\n",
           STEER_SCOPE_V4, STEER_SCOPE_V6);
    int bad = 0;
    for (size_t pi = 0; pi < cfg.npolicies; pi++) {
        const cfg_policy_t *pol = &cfg.policies[pi];
        if (pol->type != CFG_POLICY_GEO && pol->type != CFG_POLICY_PROXIMITY)
            continue;
        fstat_t st[2] = {{0}};
        for (size_t i = 0; i < nsamples; i++) {
            const sample_t *sm = &samples[i];
            int f = sm->family == AF_INET ? 0 : 1;
            uint8_t cap = f == 0 ? STEER_SCOPE_V4 : STEER_SCOPE_V6;
            steer_decision_t d;
            steer_decide(s, (uint32_t)pi, &pre[i], 1, &d);
            struct sockaddr_in6 sa6 = {.sin6_family = AF_INET6};
            struct sockaddr_in sa4 = {.sin_family = AF_INET};
            const struct sockaddr *sa;
            if (f == 0) {
                memcpy(&sa4.sin_addr, sm->addr, 4);
                sa = (const struct sockaddr *)&sa4;
            } else {
                memcpy(&sa6.sin6_addr, sm->addr, 16);
                sa = (const struct sockaddr *)&sa6;
            }
            geo_result_t gr;
            if (geo_db_lookup(db, sa, &gr) != 0)
                st[f].notfound++;
            st[f].n++;
            st[f].sum_db += gr.prefix_len;
            st[f].sum_db_cap += gr.prefix_len > cap ? cap : gr.prefix_len;
            st[f].sum_scope += d.scope;
            st[f].sum_depth += d.depth;
            st[f].at_cap += d.scope == cap;
            st[f].depth_over_cap += d.depth > cap;
            st[f].scope_lt_db += d.scope < (gr.prefix_len > cap ? cap : gr.prefix_len);
        }
        printf("\n  policy %s (%s)\n", pol->name, cfg_policy_type_name(pol->type));
        printf("    %-6s %7s %10s %12s %10s %12s %9s %11s %10s\n", "family", "clients", "db mask",
               "db mask cap", "scope", "tree depth", "at cap", "depth>cap", "no data");
        for (int f = 0; f < 2; f++) {
            const fstat_t *x = &st[f];
            if (!x->n)
                continue;
            double n = (double)x->n;
            printf("    %-6s %7llu %10.2f %12.2f %10.2f %12.2f %8.1f%% %10.1f%% %10llu\n",
                   f ? "IPv6" : "IPv4", (unsigned long long)x->n, x->sum_db / n, x->sum_db_cap / n,
                   x->sum_scope / n, x->sum_depth / n, 100.0 * (double)x->at_cap / n,
                   100.0 * (double)x->depth_over_cap / n, (unsigned long long)x->notfound);
        }
    }
    printf("\n  db mask      mean prefix_len of geo_db_lookup (the database network holding the "
           "address)\n"
           "  db mask cap  the same capped at /%d and /%d\n"
           "  scope        mean scope steer_decide returns (capped)\n"
           "  tree depth   mean uncapped depth of the decision tree leaf (steer_decision_t.depth)\n"
           "  at cap       clients answered at the cap; depth>cap: tree deeper than the cap\n",
           STEER_SCOPE_V4, STEER_SCOPE_V6);

    steer_free(s);
    geo_db_close(db);
    cfg_free(&cfg);
    free(pre);
    free(samples);
    free(seen);
    return bad;
bad:
    usage(stderr);
    return 64;
}
