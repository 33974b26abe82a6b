#include "geo/geoip_build.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/mem.h"
#include "geo/countries.h"

/* Codes in the IPFire export that are not ISO 3166-1 countries. EU and AP
 * mark address blocks a RIR assigned to a region rather than a country;
 * MaxMind gives such networks a continent and no country, and so do we.
 * UK is the reserved code some registrants use for GB. Anything else not
 * in the country table (??, ZZ, historic CS/AN/SU, ...) is skipped: an
 * address with no data is better than a guessed one. */
static const struct {
    const char *code, *country, *continent;
} pseudo[] = {
    {"EU", "", "EU"},
    {"AP", "", "AS"},
    {"UK", "GB", NULL},
};

typedef struct {
    mmdbw_t *w;
    uint32_t *ids; /* by (c0 << 8 | c1): data id + 1, 0 not made yet, UINT32_MAX skip */
    geo_build_stats_t *st;
} build_t;

static void encode_record(mmdbw_buf_t *b, const char *country, const char *continent,
                          const geo_country_t *loc)
{
    mmdbw_put_map(b, 1 + (country[0] ? 1 : 0) + (loc ? 1 : 0));
    mmdbw_put_str(b, "continent");
    mmdbw_put_map(b, 1);
    mmdbw_put_str(b, "code");
    mmdbw_put_str(b, continent);
    if (country[0]) {
        mmdbw_put_str(b, "country");
        mmdbw_put_map(b, 1);
        mmdbw_put_str(b, "iso_code");
        mmdbw_put_str(b, country);
    }
    if (loc) {
        /* MaxMind's City layout: readers such as pdns's geoip backend take
         * a location only with its accuracy_radius (a uint16, km). */
        bool tz = loc->time_zone && loc->time_zone[0];
        mmdbw_put_str(b, "location");
        mmdbw_put_map(b, 3 + (tz ? 1 : 0));
        mmdbw_put_str(b, "accuracy_radius");
        mmdbw_put_u16(b, GEO_BUILD_ACCURACY_KM);
        mmdbw_put_str(b, "latitude");
        mmdbw_put_double(b, loc->latitude);
        mmdbw_put_str(b, "longitude");
        mmdbw_put_double(b, loc->longitude);
        if (tz) {
            mmdbw_put_str(b, "time_zone");
            mmdbw_put_str(b, loc->time_zone);
        }
    }
}

static void note_skipped(geo_build_stats_t *st, const char *cc)
{
    char *s = st->skipped_codes;
    size_t len = strlen(s);
    for (const char *p = s; *p; p += 3)
        if (p[0] == cc[0] && p[1] == cc[1])
            return;
    if (len + 4 <= sizeof st->skipped_codes)
        snprintf(s + len, sizeof st->skipped_codes - len, "%s%s", len ? " " : "", cc);
}

/* Returns the data id for code `cc`, or UINT32_MAX if it maps to nothing. */
static uint32_t code_id(build_t *b, const char *cc)
{
    uint32_t *slot = &b->ids[(unsigned char)cc[0] << 8 | (unsigned char)cc[1]];
    if (*slot)
        return *slot == UINT32_MAX ? UINT32_MAX : *slot - 1;
    const char *country = cc, *continent = NULL;
    for (size_t i = 0; i < sizeof pseudo / sizeof pseudo[0]; i++) {
        if (strcmp(cc, pseudo[i].code) == 0) {
            country = pseudo[i].country;
            continent = pseudo[i].continent;
        }
    }
    const geo_country_t *c = country[0] ? geo_country_find(country) : NULL;
    if (c)
        continent = c->continent;
    if (!continent) {
        *slot = UINT32_MAX;
        return UINT32_MAX;
    }
    mmdbw_buf_t rec = {0};
    encode_record(&rec, c ? c->code : "", continent, c);
    uint32_t id = mmdbw_data(b->w, rec.data, rec.len);
    mmdbw_buf_free(&rec);
    *slot = id + 1;
    return id;
}

static bool valid_code(const char *s)
{
    for (int i = 0; i < 2; i++)
        if (!(isupper((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '?'))
            return false;
    return s[2] == '\0';
}

/* "# Generated: Thu, 25 Jun 2026 04:33:59 GMT" -> seconds, or 0. */
static uint64_t parse_generated(const char *line)
{
    const char *p = strstr(line, "Generated:");
    if (!p)
        return 0;
    p += strlen("Generated:");
    while (*p == ' ' || *p == '\t')
        p++;
    struct tm tm = {0};
    if (!strptime(p, "%a, %d %b %Y %H:%M:%S", &tm))
        return 0;
    time_t t = timegm(&tm);
    return t > 0 ? (uint64_t)t : 0;
}

static bool parse_u32(const char *s, uint32_t *out)
{
    if (!isdigit((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

static int bad_line(gs_err_t *err, const char *path, size_t lineno, const char *what,
                    const char *line)
{
    return gs_err_set(err, GS_EINVAL, "%s:%zu: error: %s, got '%.80s'", path, lineno, what, line);
}

/* Reads one range file of family `v6`. */
static int read_ranges(build_t *b, const char *path, bool v6, gs_err_t *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int rc = -errno;
        return gs_err_set(err, rc, "%s: cannot open: %s", path, strerror(errno));
    }
    const char *expect = v6 ? "expected IPV6LOW,IPV6HIGH,CC" : "expected INTIPLOW,INTIPHIGH,CC";
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int rc = 0;
    uint64_t generated = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (line[0] == '#') {
            if (!generated)
                generated = parse_generated(line);
            continue;
        }
        if (len == 0)
            continue;
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        if (!c2 || strchr(c2 + 1, ',')) {
            rc = bad_line(err, path, lineno, expect, line);
            break;
        }
        *c1 = *c2 = '\0';
        const char *cc = c2 + 1;
        if (!valid_code(cc)) {
            *c1 = *c2 = ',';
            rc = bad_line(err, path, lineno, "expected a two-letter country code", line);
            break;
        }
        uint32_t lo4, hi4;
        uint8_t lo6[16], hi6[16];
        bool ok = v6 ? inet_pton(AF_INET6, line, lo6) == 1 && inet_pton(AF_INET6, c1 + 1, hi6) == 1
                     : parse_u32(line, &lo4) && parse_u32(c1 + 1, &hi4);
        bool ordered = ok && (v6 ? memcmp(lo6, hi6, 16) <= 0 : lo4 <= hi4);
        if (!ordered) {
            *c1 = *c2 = ',';
            rc = bad_line(err, path, lineno, ok ? "range ends before it starts" : expect, line);
            break;
        }
        if (v6)
            b->st->v6_ranges++;
        else
            b->st->v4_ranges++;
        uint32_t id = code_id(b, cc);
        if (id == UINT32_MAX) {
            b->st->skipped++;
            note_skipped(b->st, cc);
            continue;
        }
        b->st->networks +=
            v6 ? mmdbw_insert_range6(b->w, lo6, hi6, id) : mmdbw_insert_range4(b->w, lo4, hi4, id);
    }
    if (rc == 0 && ferror(f)) {
        rc = -EIO;
        gs_err_set(err, rc, "%s: read error", path);
    }
    if (rc == 0) {
        if (!generated) {
            struct stat sb;
            if (fstat(fileno(f), &sb) == 0 && sb.st_mtime > 0)
                generated = (uint64_t)sb.st_mtime;
        }
        if (generated > b->st->build_epoch)
            b->st->build_epoch = generated;
    }
    free(line);
    fclose(f);
    return rc;
}

int geo_build_country_db(const char *v4_path, const char *v6_path, const char *out_path,
                         geo_build_stats_t *st, gs_err_t *err)
{
    memset(st, 0, sizeof *st);
    build_t b = {.w = mmdbw_new(), .ids = mem_calloc(65536, sizeof(uint32_t)), .st = st};
    int rc = 0;
    if (v4_path)
        rc = read_ranges(&b, v4_path, false, err);
    if (rc == 0 && v6_path)
        rc = read_ranges(&b, v6_path, true, err);
    if (rc == 0) {
        mmdbw_meta_t meta = {
            .database_type = GEO_BUILD_DATABASE_TYPE,
            .description = "GeoSteer country database built from IPFire Location data "
                           "(CC BY-SA 4.0, https://location.ipfire.org/) via tor-geoipdb",
            .build_epoch = st->build_epoch,
        };
        rc = mmdbw_write(b.w, out_path, &meta, &st->out, err);
    }
    free(b.ids);
    mmdbw_free(b.w);
    return rc;
}
