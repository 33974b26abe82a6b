/* rb_bench: load generator for a PowerDNS remote backend on a unix socket.
 *
 * It talks to the socket as pdns_server 4.7 does: one connection per
 * distributor thread, "initialize" first, then newline-delimited lookup
 * requests in json11's exact formatting, strictly one request in flight per
 * connection (write the line, block until the reply's newline). Every reply
 * must start with {"result":. Latency is taken per request with
 * CLOCK_MONOTONIC into a log-linear histogram per thread (no allocation per
 * sample), merged at the end.
 *
 *   rb_bench -s SOCKET [-c CONNS] [-d SECONDS] [-w WARMUP] [-n NAMESFILE]
 *            [-m MISS_FRACTION] [-q QTYPE] [-z ZONE_ID] [-R SUBNETSFILE] [-S]
 *
 * real-remote: by default a fixed list of 8 values in rotation; with -R, a
 * value drawn at random per request from the file (one "ADDR/LEN" per line,
 * e.g. the client sample steer_bench -o writes), so that steered names are
 * decided for many distinct clients.
 *
 * Exit status: 0 on success, 1 if any request failed (I/O error, timeout,
 * malformed or unsolicited reply), 64 on usage errors. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ---- log-linear histogram ------------------------------------------------ */

/* Values (ns) below 2^SUB_BITS get one bucket each; above, each power of two
 * is split into 2^SUB_BITS linear sub-buckets: relative error < 1/64. */
#define SUB_BITS 6
#define SUB_COUNT (1u << SUB_BITS)
#define HIST_BUCKETS ((64 - SUB_BITS + 1) * SUB_COUNT)

typedef struct {
    uint64_t count[HIST_BUCKETS];
    uint64_t n, sum, max, min;
} hist_t;

static unsigned hist_index(uint64_t v)
{
    if (v < SUB_COUNT)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* e >= SUB_BITS */
    unsigned sub = (unsigned)(v >> (e - SUB_BITS)) & (SUB_COUNT - 1);
    return (e - SUB_BITS + 1) * SUB_COUNT + sub;
}

/* Upper bound (inclusive) of the values in bucket i. */
static uint64_t hist_upper(unsigned i)
{
    if (i < SUB_COUNT)
        return i;
    unsigned e = i / SUB_COUNT + SUB_BITS - 1, sub = i % SUB_COUNT;
    uint64_t lo = ((uint64_t)SUB_COUNT + sub) << (e - SUB_BITS);
    return lo + ((uint64_t)1 << (e - SUB_BITS)) - 1;
}

static void hist_add(hist_t *h, uint64_t v)
{
    h->count[hist_index(v)]++;
    h->n++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
    if (h->n == 1 || v < h->min)
        h->min = v;
}

static void hist_merge(hist_t *into, const hist_t *h)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->count[i] += h->count[i];
    if (h->n && (into->n == 0 || h->min < into->min))
        into->min = h->min;
    into->n += h->n;
    into->sum += h->sum;
    if (h->max > into->max)
        into->max = h->max;
}

/* Value at quantile q (0..1): the upper bound of the bucket holding it,
 * clamped to the observed maximum. */
static uint64_t hist_quantile(const hist_t *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->n + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > h->n)
        rank = h->n;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->count[i];
        if (seen >= rank) {
            uint64_t u = hist_upper(i);
            return u < h->max ? u : h->max;
        }
    }
    return h->max;
}

/* ---- configuration ---------------------------------------------------------- */

static const char *opt_socket;
static unsigned opt_conns = 3;
static double opt_duration = 10.0, opt_warmup = 1.0, opt_miss = 0.0;
static const char *opt_names_file;
static const char *opt_qtype = "ANY";
static long long opt_zone_id = 1;
static bool opt_strict;

/* real-remote values pdns would send: an ECS subnet, or the source /32. */
static const char *const subnets[] = {
    "198.51.100.0/24", "203.0.113.0/24", "192.0.2.0/24", "8.8.8.0/24",
    "193.0.6.0/24",    "200.160.0.0/24", "127.0.0.1/32", "2001:db8:1234::/56",
};
#define NSUBNETS (sizeof(subnets) / sizeof(subnets[0]))

/* -R: real-remote values from a file. */
static const char *opt_remotes_file;
static char **remotes;
static size_t nremotes;

static char **names;
static size_t nnames;

enum { PHASE_WARMUP, PHASE_MEASURE, PHASE_STOP };
static atomic_int phase = PHASE_WARMUP;

typedef struct {
    pthread_t tid;
    unsigned idx;
    hist_t hist; /* measured phase only */
    uint64_t lookups, records, falses, unexpected, errors, warm_lookups;
    char errmsg[256];
} worker_t;

/* ---- helpers ------------------------------------------------------------------ */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

typedef struct {
    char *data;
    size_t cap;
} rbuf_t;

/* Reads one reply up to and including its newline. Returns its length, or
 * -1 on error (message in err). Bytes after the newline mean the server sent
 * something unsolicited: an error, since only one request is in flight. */
static ssize_t read_reply(int fd, rbuf_t *b, char *err, size_t errsz)
{
    size_t used = 0;
    for (;;) {
        if (used == b->cap) {
            size_t ncap = b->cap * 2;
            char *nd = realloc(b->data, ncap);
            if (!nd) {
                snprintf(err, errsz, "out of memory for a %zu-byte reply", ncap);
                return -1;
            }
            b->data = nd;
            b->cap = ncap;
        }
        ssize_t n = read(fd, b->data + used, b->cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errsz, "read: %s",
                     errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : strerror(errno));
            return -1;
        }
        if (n == 0) {
            snprintf(err, errsz, "connection closed by the server");
            return -1;
        }
        char *nl = memchr(b->data + used, '\n', (size_t)n);
        used += (size_t)n;
        if (nl) {
            size_t len = (size_t)(nl - b->data) + 1;
            if (len != used) {
                snprintf(err, errsz, "%zu unsolicited bytes after a reply", used - len);
                return -1;
            }
            return (ssize_t)len;
        }
    }
}

static int connect_unix(const char *path, char *err, size_t errsz)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errsz, "socket path too long");
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errsz, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        snprintf(err, errsz, "connect %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    /* pdns's default remote-connection-string timeout is 2 s; be laxer but
     * never hang forever on a stuck server. */
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}
#define PUTLIT(p, lit) put((p), (lit), sizeof(lit) - 1)

/* Builds one lookup line exactly as pdns 4.7 (json11) serialises it. `miss`
 * prefixes a label that no zone holds. Names are plain hostnames, so no JSON
 * escaping is needed (checked when the names are loaded). */
static size_t build_lookup(char *out, const char *qname, size_t qlen, bool miss, uint64_t seq,
                           const char *subnet, const char *zone_id)
{
    char *p = out;
    p = PUTLIT(p,
               "{\"method\": \"lookup\", \"parameters\": {\"local\": \"127.0.0.1\", \"qname\": \"");
    if (miss)
        p += sprintf(p, "nx%llu-", (unsigned long long)(seq % 1000000u));
    p = put(p, qname, qlen);
    p = PUTLIT(p, "\", \"qtype\": \"");
    p = put(p, opt_qtype, strlen(opt_qtype));
    p = PUTLIT(p, "\", \"real-remote\": \"");
    p = put(p, subnet, strlen(subnet)); /* (at most 49 bytes: checked at load) */
    p = PUTLIT(p, "\", \"remote\": \"127.0.0.1\", \"zone-id\": ");
    p = put(p, zone_id, strlen(zone_id));
    p = PUTLIT(p, "}}\n");
    return (size_t)(p - out);
}

static bool starts_with(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

/* ---- worker ------------------------------------------------------------------ */

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    char err[200];
    rbuf_t rb = {malloc(65536), 65536};
    size_t *lens = malloc(nnames * sizeof(*lens));
    int fd = -1;
    if (!rb.data || !lens) {
        snprintf(w->errmsg, sizeof(w->errmsg), "out of memory");
        w->errors++;
        goto out;
    }
    for (size_t i = 0; i < nnames; i++)
        lens[i] = strlen(names[i]);
    fd = connect_unix(opt_socket, err, sizeof(err));
    if (fd < 0) {
        snprintf(w->errmsg, sizeof(w->errmsg), "conn %u: %s", w->idx, err);
        w->errors++;
        goto out;
    }

    static const char init[] = "{\"method\": \"initialize\", \"parameters\": {\"path\": "
                               "\"rb_bench\", \"timeout\": \"2000\"}}\n";
    ssize_t r;
    if (write_all(fd, init, sizeof(init) - 1) != 0) {
        snprintf(w->errmsg, sizeof(w->errmsg), "conn %u: initialize: write: %s", w->idx,
                 strerror(errno));
        w->errors++;
        goto out;
    }
    if ((r = read_reply(fd, &rb, err, sizeof(err))) < 0 ||
        !starts_with(rb.data, (size_t)r, "{\"result\":")) {
        snprintf(w->errmsg, sizeof(w->errmsg), "conn %u: initialize: %s", w->idx,
                 r < 0 ? err : "reply does not start with {\"result\":");
        w->errors++;
        goto out;
    }

    char zone_id[32];
    snprintf(zone_id, sizeof(zone_id), "%lld", opt_zone_id);
    char req[1024];
    uint64_t rng = 0x9e3779b97f4a7c15ull * (w->idx + 1);
    uint64_t miss_threshold = (uint64_t)(opt_miss * 18446744073709551615.0);
    if (opt_miss >= 1.0)
        miss_threshold = UINT64_MAX;
    size_t ni = nnames * w->idx / opt_conns; /* spread the connections over the list */
    uint64_t seq = 0;
    for (;;) {
        int ph = atomic_load_explicit(&phase, memory_order_relaxed);
        if (ph == PHASE_STOP)
            break;
        bool miss = opt_miss > 0 && xorshift(&rng) <= miss_threshold;
        const char *subnet =
            nremotes ? remotes[xorshift(&rng) % nremotes] : subnets[(seq + w->idx) % NSUBNETS];
        size_t len = build_lookup(req, names[ni], lens[ni], miss, seq, subnet, zone_id);
        if (++ni == nnames)
            ni = 0;
        seq++;

        uint64_t t0 = now_ns();
        if (write_all(fd, req, len) != 0) {
            snprintf(w->errmsg, sizeof(w->errmsg), "conn %u: write: %s", w->idx, strerror(errno));
            w->errors++;
            break;
        }
        r = read_reply(fd, &rb, err, sizeof(err));
        uint64_t t1 = now_ns();
        if (r < 0) {
            snprintf(w->errmsg, sizeof(w->errmsg), "conn %u: %s", w->idx, err);
            w->errors++;
            break;
        }
        if (ph != PHASE_MEASURE) {
            w->warm_lookups++;
            if (!starts_with(rb.data, (size_t)r, "{\"result\":")) {
                w->errors++;
                snprintf(w->errmsg, sizeof(w->errmsg), "conn %u: bad reply: %.*s", w->idx,
                         (int)(r > 120 ? 120 : r - 1), rb.data);
            }
            continue;
        }
        hist_add(&w->hist, t1 - t0);
        w->lookups++;
        bool is_false = starts_with(rb.data, (size_t)r, "{\"result\":false");
        if (is_false) {
            w->falses++;
        } else if (starts_with(rb.data, (size_t)r, "{\"result\":")) {
            w->records++;
        } else {
            w->errors++;
            snprintf(w->errmsg, sizeof(w->errmsg), "conn %u: bad reply: %.*s", w->idx,
                     (int)(r > 120 ? 120 : r - 1), rb.data);
            continue;
        }
        if (is_false != miss) {
            w->unexpected++;
            if (opt_strict) {
                w->errors++;
                snprintf(w->errmsg, sizeof(w->errmsg), "conn %u: unexpected %s for %.*s: %.*s",
                         w->idx, is_false ? "false" : "records", (int)(len > 120 ? 120 : len - 1),
                         req, (int)(r > 60 ? 60 : r - 1), rb.data);
            }
        }
    }
out:
    if (fd >= 0)
        close(fd);
    free(rb.data);
    free(lens);
    return NULL;
}

/* ---- names ------------------------------------------------------------------- */

static void add_name(const char *s, size_t len, size_t *cap)
{
    if (nnames == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        names = realloc(names, *cap * sizeof(*names));
        if (!names) {
            fprintf(stderr, "rb_bench: out of memory\n");
            exit(1);
        }
    }
    char *n = malloc(len + 2);
    if (!n) {
        fprintf(stderr, "rb_bench: out of memory\n");
        exit(1);
    }
    memcpy(n, s, len);
    if (len == 0 || s[len - 1] != '.')
        n[len++] = '.'; /* pdns always sends absolute names */
    n[len] = '\0';
    names[nnames++] = n;
}

static int load_names(const char *path)
{
    size_t cap = 0;
    if (!path) {
        add_name("www.example.test.", 17, &cap);
        return 0;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "rb_bench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[512];
    unsigned lineno = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        len = strlen(s);
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            s[--len] = '\0';
        if (len == 0 || *s == '#')
            continue;
        if (len > 253) {
            fprintf(stderr, "rb_bench: %s:%u: name longer than 253 characters\n", path, lineno);
            fclose(f);
            return -1;
        }
        for (size_t i = 0; i < len; i++) {
            unsigned char ch = (unsigned char)s[i];
            if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
                fprintf(stderr, "rb_bench: %s:%u: name needs JSON escaping; not supported\n", path,
                        lineno);
                fclose(f);
                return -1;
            }
        }
        add_name(s, len, &cap);
    }
    fclose(f);
    if (nnames == 0) {
        fprintf(stderr, "rb_bench: %s: no names\n", path);
        return -1;
    }
    return 0;
}

/* real-remote values: "ADDR/LEN" or "ADDR", one per line, '#' comments. */
static int load_remotes(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "rb_bench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[256];
    size_t cap = 0;
    unsigned lineno = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        size_t len = strcspn(line, "\r\n \t");
        line[len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        if (len > 49 || strspn(line, "0123456789abcdefABCDEF.:/") != len) {
            fprintf(stderr, "rb_bench: %s:%u: not an address or ADDR/LEN\n", path, lineno);
            fclose(f);
            return -1;
        }
        if (nremotes == cap) {
            cap = cap ? cap * 2 : 1024;
            remotes = realloc(remotes, cap * sizeof(*remotes));
            if (!remotes) {
                fprintf(stderr, "rb_bench: out of memory\n");
                exit(1);
            }
        }
        if (!(remotes[nremotes++] = strdup(line))) {
            fprintf(stderr, "rb_bench: out of memory\n");
            exit(1);
        }
    }
    fclose(f);
    if (nremotes == 0) {
        fprintf(stderr, "rb_bench: %s: no values\n", path);
        return -1;
    }
    return 0;
}

/* ---- main ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: rb_bench -s SOCKET [options]\n"
               "  -s SOCKET    unix socket of the remote backend\n"
               "  -c N         connections, one thread each (default 3, as pdns's 3 distributors)\n"
               "  -d SECONDS   measured duration (default 10)\n"
               "  -w SECONDS   warm-up before measuring (default 1)\n"
               "  -n FILE      qnames, one per line (default: www.example.test.)\n"
               "  -m FRACTION  fraction of lookups for a non-existent name (default 0)\n"
               "  -q QTYPE     qtype to ask (default ANY, as pdns with consistent-backends)\n"
               "  -z ID        zone-id to send (default 1)\n"
               "  -R FILE      real-remote values, one ADDR/LEN per line, drawn at random per\n"
               "               request (default: 8 fixed values in rotation)\n"
               "  -S           strict: an answer for a miss or false for a name is an error\n");
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    int c;
    double d;
    while ((c = getopt(argc, argv, "s:c:d:w:n:m:q:z:R:Sh")) != -1) {
        switch (c) {
        case 's':
            opt_socket = optarg;
            break;
        case 'c':
            if (!parse_double(optarg, 1, 1024, &d) || d != (unsigned)d)
                goto bad;
            opt_conns = (unsigned)d;
            break;
        case 'd':
            if (!parse_double(optarg, 0.1, 86400, &opt_duration))
                goto bad;
            break;
        case 'w':
            if (!parse_double(optarg, 0, 3600, &opt_warmup))
                goto bad;
            break;
        case 'n':
            opt_names_file = optarg;
            break;
        case 'm':
            if (!parse_double(optarg, 0, 1, &opt_miss))
                goto bad;
            break;
        case 'q':
            if (!*optarg || strlen(optarg) > 16 || strpbrk(optarg, "\"\\ "))
                goto bad;
            opt_qtype = optarg;
            break;
        case 'z': {
            char *end;
            errno = 0;
            opt_zone_id = strtoll(optarg, &end, 10);
            if (errno || end == optarg || *end)
                goto bad;
            break;
        }
        case 'R':
            opt_remotes_file = optarg;
            break;
        case 'S':
            opt_strict = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            goto bad;
        }
    }
    if (!opt_socket || optind != argc)
        goto bad;
    if (load_names(opt_names_file) != 0)
        return 1;
    if (opt_remotes_file && load_remotes(opt_remotes_file) != 0)
        return 1;

    worker_t *w = calloc(opt_conns, sizeof(*w));
    if (!w) {
        fprintf(stderr, "rb_bench: out of memory\n");
        return 1;
    }
    unsigned started = 0;
    for (unsigned i = 0; i < opt_conns; i++) {
        w[i].idx = i;
        int rc = pthread_create(&w[i].tid, NULL, worker_main, &w[i]);
        if (rc) {
            fprintf(stderr, "rb_bench: pthread_create: %s\n", strerror(rc));
            break;
        }
        started++;
    }
    if (started < opt_conns) {
        atomic_store(&phase, PHASE_STOP);
        for (unsigned i = 0; i < started; i++)
            pthread_join(w[i].tid, NULL);
        return 1;
    }
    sleep_s(opt_warmup);
    uint64_t t_start = now_ns();
    atomic_store(&phase, PHASE_MEASURE);
    sleep_s(opt_duration);
    atomic_store(&phase, PHASE_STOP);
    uint64_t t_end = now_ns();
    for (unsigned i = 0; i < opt_conns; i++)
        pthread_join(w[i].tid, NULL);

    hist_t *all = calloc(1, sizeof(*all));
    if (!all)
        return 1;
    uint64_t lookups = 0, records = 0, falses = 0, unexpected = 0, errors = 0;
    for (unsigned i = 0; i < opt_conns; i++) {
        hist_merge(all, &w[i].hist);
        lookups += w[i].lookups;
        records += w[i].records;
        falses += w[i].falses;
        unexpected += w[i].unexpected;
        errors += w[i].errors;
    }
    double secs = (double)(t_end - t_start) / 1e9;
    printf("socket:          %s\n", opt_socket);
    printf("names:           %zu (qtype %s, zone-id %lld, miss fraction %.3f)\n", nnames, opt_qtype,
           opt_zone_id, opt_miss);
    printf("connections:     %u\n", opt_conns);
    if (nremotes)
        printf("real-remote:     %zu values from %s, random per request\n", nremotes,
               opt_remotes_file);
    else
        printf("real-remote:     %zu fixed values in rotation\n", (size_t)NSUBNETS);
    printf("warmup_s:        %.1f\n", opt_warmup);
    printf("duration_s:      %.3f\n", secs);
    printf("lookups:         %llu\n", (unsigned long long)lookups);
    printf("lookups_per_s:   %.0f\n", secs > 0 ? (double)lookups / secs : 0.0);
    printf("per_connection: ");
    for (unsigned i = 0; i < opt_conns; i++)
        printf(" %llu", (unsigned long long)w[i].lookups);
    printf("\n");
    printf("replies:         %llu with records, %llu false, %llu unexpected\n",
           (unsigned long long)records, (unsigned long long)falses, (unsigned long long)unexpected);
    printf("latency_us:      min %.1f mean %.1f max %.1f\n", (double)all->min / 1e3,
           all->n ? (double)all->sum / (double)all->n / 1e3 : 0.0, (double)all->max / 1e3);
    printf("p50_us:          %.1f\n", (double)hist_quantile(all, 0.50) / 1e3);
    printf("p90_us:          %.1f\n", (double)hist_quantile(all, 0.90) / 1e3);
    printf("p99_us:          %.1f\n", (double)hist_quantile(all, 0.99) / 1e3);
    printf("p99.9_us:        %.1f\n", (double)hist_quantile(all, 0.999) / 1e3);
    printf("errors:          %llu\n", (unsigned long long)errors);
    for (unsigned i = 0; i < opt_conns; i++)
        if (w[i].errmsg[0])
            fprintf(stderr, "rb_bench: %s\n", w[i].errmsg);
    if (lookups == 0 && errors == 0) {
        fprintf(stderr, "rb_bench: no lookups completed in the measured period\n");
        errors = 1;
    }
    free(all);
    free(w);
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    for (size_t i = 0; i < nremotes; i++)
        free(remotes[i]);
    free(remotes);
    return errors ? 1 : 0;
bad:
    usage(stderr);
    return 64;
}
