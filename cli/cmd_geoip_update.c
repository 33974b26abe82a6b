/* geosteer geoip update: downloads a country database (plain or gzip'd
 * MaxMind DB) from a URL, validates it as geosteerd would load it plus the
 * checks that make it a country database, and renames it over the installed
 * file; a refused download leaves the installed file as it was. Conditional
 * requests with the validators of the installed file make a repeated run
 * cheap (doc/operations.md, "Keeping GeoIP data fresh"). */
#include "cli/commands.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "cli/http_get.h"
#include "common/buf.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/mem.h"
#include "geo/geodb.h"

#define DEFAULT_OUT "/var/lib/geosteer/geoip.mmdb"
#define DEFAULT_TIMEOUT_S 300
#define DEFAULT_MAX_MIB 128
/* The validators of the installed file, next to it. */
#define STATE_SUFFIX ".update.json"

static const char *const cmd = "geosteer geoip update";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: geosteer geoip update --url URL [-o OUT] [--timeout S] [--max-size MIB]\n"
            "  --url URL         where to download the database (http or https); %%Y and %%m\n"
            "                    become this month's year and month (UTC), and when that\n"
            "                    file is 404, last month's is tried\n"
            "  -o, --output OUT  the database to replace (default " DEFAULT_OUT ")\n"
            "  --timeout S       limit on the whole download (default %d s)\n"
            "  --max-size MIB    limit on the file, downloaded and unpacked (default %d)\n"
            "The file may be a MaxMind DB or one compressed with gzip. It replaces OUT only\n"
            "if it opens as geosteerd opens a database, has country and continent codes\n"
            "and answers 8.8.8.8, 9.9.9.9, 1.1.1.1 (and 2001:4860:4860::8888 in an IPv6\n"
            "database) with a country. A 304 answer to the conditional request leaves OUT\n"
            "alone. Exit status: 0 replaced or current, 64 usage, 65 bad data, 69 download\n"
            "failed, 73 cannot write OUT.\n",
            DEFAULT_TIMEOUT_S, DEFAULT_MAX_MIB);
}

/* ---------------------------------------------------------------------- */
/* The URL template                                                       */

/* Writes `tmpl` with %Y and %m replaced by the year and month `back` months
 * before the current one (UTC) into `out`. Every other '%' stays, so
 * percent-encoded URLs keep their meaning. Returns true if the template
 * named the month. */
static bool expand_url(const char *tmpl, int back, buf_t *out)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    int month = tm.tm_year * 12 + tm.tm_mon - back; /* months since 1900 */
    int year = 1900 + month / 12, mon = month % 12 + 1;
    bool dated = false;
    buf_reset(out);
    for (const char *p = tmpl; *p; p++) {
        if (p[0] == '%' && p[1] == 'Y') {
            buf_printf(out, "%04d", year);
            p++;
            dated = true;
        } else if (p[0] == '%' && p[1] == 'm') {
            buf_printf(out, "%02d", mon);
            p++;
            dated = true;
        } else {
            buf_putc(out, *p);
        }
    }
    return dated;
}

/* ---------------------------------------------------------------------- */
/* What the last run installed                                            */

typedef struct {
    char *url;
    char *etag;
    char *last_modified;
} state_t;

static void state_free(state_t *s)
{
    free(s->url);
    free(s->etag);
    free(s->last_modified);
    memset(s, 0, sizeof *s);
}

static char *state_str(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? mem_strdup(v) : NULL;
}

/* Reads the state file of `out`. Its validators are used only while `out`
 * is still the very file that run installed (inode, size and modification
 * time as recorded): a database rebuilt or copied in since (geosteer geoip
 * build from tor-geoipdb, an operator's cp) makes the next request
 * unconditional. A missing or unreadable state file is no error: the
 * request is then unconditional. */
static void state_read(const char *out, const char *state_path, state_t *s)
{
    memset(s, 0, sizeof *s);
    struct stat st;
    json_t *o = json_load_file(state_path, 0, NULL);
    if (!o || stat(out, &st) != 0) {
        json_decref(o);
        return;
    }
    json_int_t ino = json_integer_value(json_object_get(o, "inode"));
    json_int_t size = json_integer_value(json_object_get(o, "size"));
    json_int_t mtime = json_integer_value(json_object_get(o, "mtime_ns"));
    if ((json_int_t)st.st_ino == ino && (json_int_t)st.st_size == size &&
        (json_int_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec == mtime) {
        s->url = state_str(o, "url");
        s->etag = state_str(o, "etag");
        s->last_modified = state_str(o, "last_modified");
    }
    json_decref(o);
}

/* Records the validators of the file just installed at `out`. */
static int state_write(const char *out, const char *state_path, const char *url,
                       const http_resp_t *r, gs_err_t *err)
{
    struct stat st;
    if (stat(out, &st) != 0)
        return gs_err_set(err, -errno, "%s: %s", out, strerror(errno));
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "url", url, "etag", r->etag, "last_modified",
                  r->last_modified, "inode", (json_int_t)st.st_ino, "size", (json_int_t)st.st_size,
                  "mtime_ns", (json_int_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
    char *text = json_dumps(o, JSON_INDENT(2));
    json_decref(o);
    int rc = gs_write_file_atomic(state_path, text, strlen(text), 0644, err);
    free(text);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Unpacking                                                              */

/* Inflates the gzip data `in` (one or more members) into `out`, at most
 * `max` bytes. Returns 0, GS_EINVAL (corrupt or truncated) or GS_ETOOBIG,
 * with the reason in `err`. */
static int gunzip(const buf_t *in, size_t max, buf_t *out, gs_err_t *err)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return gs_err_set(err, -ENOMEM, "cannot initialise zlib");
    zs.next_in = (Bytef *)in->data;
    zs.avail_in = (uInt)in->len; /* at most max_bytes, far below 4 GiB */
    int rc = 0, zrc = Z_OK;
    while (rc == 0) {
        if (out->len >= max) {
            rc = gs_err_set(err, GS_ETOOBIG, "unpacked data larger than the limit of %zu bytes",
                            max);
            break;
        }
        size_t room = max - out->len < (1u << 20) ? max - out->len : (1u << 20);
        buf_reserve(out, room);
        zs.next_out = (Bytef *)out->data + out->len;
        zs.avail_out = (uInt)room;
        zrc = inflate(&zs, Z_NO_FLUSH);
        out->len += room - zs.avail_out;
        out->data[out->len] = '\0';
        if (zrc == Z_STREAM_END) {
            if (zs.avail_in == 0)
                break;
            inflateReset(&zs); /* another member follows */
        } else if (zrc == Z_BUF_ERROR && zs.avail_in == 0) {
            rc = gs_err_set(err, GS_EINVAL,
                            "truncated gzip data (the stream ends after %zu "
                            "compressed bytes)",
                            in->len);
        } else if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
            rc = gs_err_set(err, GS_EINVAL, "corrupt gzip data (%s)",
                            zs.msg ? zs.msg : "zlib error");
        } else if (zrc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
            rc = gs_err_set(err, GS_EINVAL,
                            "truncated gzip data (the stream ends after %zu "
                            "compressed bytes)",
                            in->len);
        }
    }
    inflateEnd(&zs);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Checking the new database                                              */

typedef struct {
    size_t networks, with_country, with_continent;
    uint8_t seen[26 * 26]; /* country codes present */
    size_t countries;
} census_t;

static int census_net(void *ctx, const uint8_t *addr, uint8_t plen, const geo_result_t *res)
{
    (void)addr;
    (void)plen;
    census_t *c = ctx;
    c->networks++;
    if (res->country[0]) {
        c->with_country++;
        unsigned a = (unsigned)(res->country[0] - 'A'), b = (unsigned)(res->country[1] - 'A');
        if (a < 26 && b < 26 && !c->seen[a * 26 + b]) {
            c->seen[a * 26 + b] = 1;
            c->countries++;
        }
    }
    if (res->continent[0])
        c->with_continent++;
    return 0;
}

/* Addresses whose country every complete country database knows (large
 * anycast resolvers with stable registrations). */
static const char *const well_known[] = {"8.8.8.8", "9.9.9.9", "1.1.1.1", "2001:4860:4860::8888"};

/* Checks the database file at `path` (the downloaded copy) the way
 * geosteerd will load it (geo_db_open: format, metadata, the whole search
 * tree and data section, a test lookup), then that it is a country
 * database: country and continent codes, and a country for each well-known
 * address. Returns 0 with a one-line description in `summary`, or
 * GS_EINVAL with the reason in `err`. */
static int check_database(const char *path, buf_t *summary, gs_err_t *err)
{
    geo_db_t *db;
    int rc = geo_db_open(path, &db, err);
    if (rc != 0)
        return GS_EINVAL; /* truncated and corrupt files end here */
    geo_db_info_t info;
    geo_db_info(db, &info);
    census_t c;
    memset(&c, 0, sizeof c);
    rc = geo_db_walk(db, AF_INET, census_net, &c);
    if (rc == 0 && info.ip_version == 6)
        rc = geo_db_walk(db, AF_INET6, census_net, &c);
    if (rc != 0) {
        rc = gs_err_set(err, GS_EINVAL, "corrupt search tree (database_type '%s')",
                        info.database_type);
    } else if (c.with_country == 0) {
        rc = gs_err_set(err, GS_EINVAL,
                        "not a country database: none of its %zu networks has a country code "
                        "(country.iso_code; database_type '%s')",
                        c.networks, info.database_type);
    } else if (c.with_continent == 0) {
        rc = gs_err_set(err, GS_EINVAL,
                        "not a country database: none of its %zu networks has a continent code "
                        "(continent.code; database_type '%s')",
                        c.networks, info.database_type);
    }
    for (size_t i = 0; rc == 0 && i < sizeof well_known / sizeof well_known[0]; i++) {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof ss);
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET, well_known[i], &sin->sin_addr) == 1) {
            sin->sin_family = AF_INET;
        } else {
            if (info.ip_version != 6)
                continue;
            sin6->sin6_family = AF_INET6;
            GS_ASSERT(inet_pton(AF_INET6, well_known[i], &sin6->sin6_addr) == 1);
        }
        geo_result_t r;
        int lrc = geo_db_lookup(db, (const struct sockaddr *)&ss, &r);
        if (lrc != 0 || !r.country[0])
            rc = gs_err_set(err, GS_EINVAL,
                            "incomplete country database: no country for %s (%zu networks, "
                            "%zu countries; database_type '%s')",
                            well_known[i], c.networks, c.countries, info.database_type);
    }
    if (rc == 0) {
        char date[32] = "unknown";
        time_t be = (time_t)info.build_epoch;
        struct tm tm;
        if (be && gmtime_r(&be, &tm))
            strftime(date, sizeof date, "%Y-%m-%d", &tm);
        buf_printf(summary, "type '%s', built %s, IPv%u, %zu networks, %zu countries",
                   info.database_type, date, info.ip_version, c.networks, c.countries);
    }
    geo_db_close(db);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Installing                                                             */

/* Writes `data` next to `out`, checks it, and renames it over `out`; with
 * the old file's mode, and its owner when run as root (so that a manual
 * run by root leaves a file geosteerd's user can still read). Returns an
 * exit status; the message is printed here. */
static int install(const char *out, const char *url, const buf_t *data, buf_t *summary)
{
    struct stat old;
    bool had = stat(out, &old) == 0;
    mode_t mode = had ? (old.st_mode & 0666) : 0644;
    gs_replace_t r;
    gs_err_t err;
    if (gs_replace_begin(out, mode, &r, &err) != 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.text);
        return EX_CANTCREAT;
    }
    if (had && geteuid() == 0 && fchown(r.fd, old.st_uid, old.st_gid) != 0) {
        fprintf(stderr, "%s: cannot give %s the owner of %s: %s\n", cmd, r.tmp, out,
                strerror(errno));
        gs_replace_abort(&r);
        return EX_CANTCREAT;
    }
    if (gs_replace_write(&r, data->data, data->len, &err) != 0) {
        fprintf(stderr, "%s: %s; %s is unchanged\n", cmd, err.text, out);
        gs_replace_abort(&r);
        return EX_CANTCREAT;
    }
    if (check_database(r.tmp, summary, &err) != 0) {
        /* geo_db_open names the file: the temporary name means nothing to
         * the reader, the URL is named instead. */
        const char *why = err.text;
        size_t tlen = strlen(r.tmp);
        if (strncmp(why, r.tmp, tlen) == 0 && strncmp(why + tlen, ": ", 2) == 0)
            why += tlen + 2;
        fprintf(stderr, "%s: %s: the downloaded database is refused: %s; %s is unchanged\n", cmd,
                url, why, out);
        gs_replace_abort(&r);
        return EX_DATAERR;
    }
    if (gs_replace_commit(&r, &err) != 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.text);
        return EX_CANTCREAT;
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* The command                                                            */

static bool parse_positive(const char *s, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 0 || v > max)
        return false;
    *out = v;
    return true;
}

int cli_geoip_update(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},     {"output", required_argument, NULL, 'o'},
        {"timeout", required_argument, NULL, 't'}, {"max-size", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    const char *tmpl = NULL, *out = DEFAULT_OUT;
    long timeout = DEFAULT_TIMEOUT_S, max_mib = DEFAULT_MAX_MIB;
    int nargs, c, status = -1;
    char **args = cli_getopt_args(cmd, argc, argv, &nargs);
    while (status < 0 && (c = getopt_long(nargs, args, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            tmpl = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 't':
            if (!parse_positive(optarg, 86400, &timeout)) {
                fprintf(stderr, "%s: --timeout needs seconds, 1 to 86400\n", cmd);
                status = EX_USAGE;
            }
            break;
        case 'm':
            if (!parse_positive(optarg, 4095, &max_mib)) {
                fprintf(stderr, "%s: --max-size needs MiB, 1 to 4095\n", cmd);
                status = EX_USAGE;
            }
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
        fprintf(stderr, "%s: unexpected argument '%s'\n", cmd, args[optind]);
        status = EX_USAGE;
    }
    free(args);
    if (status >= 0)
        return status;
    if (!tmpl || !*tmpl || !*out) {
        fprintf(stderr, "%s: %s\n", cmd, !*out ? "-o needs a file name" : "--url is required");
        usage(stderr);
        return EX_USAGE;
    }
    if (strncasecmp(tmpl, "http://", 7) != 0 && strncasecmp(tmpl, "https://", 8) != 0) {
        fprintf(stderr, "%s: --url must be an http:// or https:// URL: '%s'\n", cmd, tmpl);
        return EX_USAGE;
    }

    gs_err_t err;
    if (http_global_init(&err) != 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.text);
        return EX_SOFTWARE;
    }
    size_t max_bytes = (size_t)max_mib << 20;
    char *state_path = mem_alloc(strlen(out) + sizeof STATE_SUFFIX);
    sprintf(state_path, "%s%s", out, STATE_SUFFIX);
    state_t st;
    state_read(out, state_path, &st);

    buf_t url, data, summary;
    buf_init(&url);
    buf_init(&data);
    buf_init(&summary);
    http_resp_t resp;
    memset(&resp, 0, sizeof resp);
    status = EX_UNAVAILABLE;
    /* This month's file, then, for a dated URL that is not there (yet),
     * last month's. */
    for (int back = 0; back < 2; back++) {
        bool dated = expand_url(tmpl, back, &url);
        bool cond = st.url && strcmp(st.url, url.data) == 0;
        http_req_t req = {.url = url.data,
                          .timeout_s = timeout,
                          .max_bytes = max_bytes,
                          .etag = cond ? st.etag : NULL,
                          .last_modified = cond ? st.last_modified : NULL};
        http_resp_free(&resp);
        int rc = http_get(&req, &resp, &err);
        if (rc != 0) {
            fprintf(stderr, "%s: %s; %s is unchanged\n", cmd, err.text, out);
            status = rc == GS_ETOOBIG ? EX_DATAERR : EX_UNAVAILABLE;
            break;
        }
        if (resp.status == 404 && dated && back == 0) {
            printf("%s: %s: not found (404), trying last month's file\n", cmd, url.data);
            continue;
        }
        if (resp.status == 304 && cond) {
            printf("%s: %s is current: %s not modified since it was installed\n", cmd, out,
                   url.data);
            status = 0;
        } else if (resp.status != 200) {
            fprintf(stderr, "%s: %s: HTTP status %ld%s; %s is unchanged\n", cmd, url.data,
                    resp.status, resp.status == 304 ? " to an unconditional request" : "", out);
        } else if (resp.body.len == 0) {
            fprintf(stderr, "%s: %s: empty file; %s is unchanged\n", cmd, url.data, out);
            status = EX_DATAERR;
        } else {
            const buf_t *db = &resp.body;
            bool gz = resp.body.len >= 2 && (uint8_t)resp.body.data[0] == 0x1f &&
                      (uint8_t)resp.body.data[1] == 0x8b;
            if (gz && (rc = gunzip(&resp.body, max_bytes, &data, &err)) != 0) {
                fprintf(stderr, "%s: %s: %s; %s is unchanged\n", cmd, url.data, err.text, out);
                status = EX_DATAERR;
                break;
            }
            if (gz)
                db = &data;
            if (db->len > 262 && memcmp(db->data + 257, "ustar", 5) == 0) {
                fprintf(stderr,
                        "%s: %s: a tar archive, not a MaxMind DB (MaxMind's downloads are "
                        "tar archives: use geoipupdate for them); %s is unchanged\n",
                        cmd, url.data, out);
                status = EX_DATAERR;
                break;
            }
            status = install(out, url.data, db, &summary);
            if (status == 0) {
                printf("%s: installed %s from %s%s: %s, %zu bytes\n", cmd, out, url.data,
                       gz ? " (gzip)" : "", summary.data, db->len);
                if (state_write(out, state_path, url.data, &resp, &err) != 0)
                    fprintf(stderr, "%s: warning: %s (the next run downloads the file again)\n",
                            cmd, err.text);
            }
        }
        break;
    }
    http_resp_free(&resp);
    buf_free(&url);
    buf_free(&data);
    buf_free(&summary);
    state_free(&st);
    free(state_path);
    http_global_cleanup();
    return status;
}
