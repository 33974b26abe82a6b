/* gs_mkmmdb: writes a MaxMind DB fixture from a readable text description,
 * with geo/mmdb_writer (the writer `geosteer geoip build` uses). The
 * end-to-end tests generate their GeoIP data with it, so that geosteerd and
 * pdns's own geoip backend read the very same file.
 *
 *   gs_mkmmdb OUT.mmdb < DESCRIPTION
 *
 * One network a line, then the fields its record holds:
 *   NETWORK/LEN [country=CC] [continent=XX] [region=CODE] [lat=DEG lon=DEG] [asn=N]
 * Blank lines and '#' comments are skipped. The record layout is MaxMind's
 * (country.iso_code, continent.code, subdivisions[0].iso_code, location
 * {latitude, longitude, accuracy_radius}, autonomous_system_number). Where
 * networks overlap the more specific one wins (mmdb_writer.h).
 * Exit status: 0, 1 on a bad line (with its number) or a write error, 64 on
 * usage errors. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geo/mmdb_writer.h"

typedef struct {
    const char *country, *continent, *region;
    double lat, lon;
    int has_loc, has_lat, has_lon;
    unsigned long asn;
} rec_t;

static int parse_net(const char *s, uint8_t addr[16], unsigned *len)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sizeof buf)
        return -1;
    memcpy(buf, s, (size_t)(slash - s));
    buf[slash - s] = '\0';
    char *end;
    unsigned long l = strtoul(slash + 1, &end, 10);
    if (*end || end == slash + 1)
        return -1;
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, buf, addr + 12) == 1) {
        if (l > 32)
            return -1;
        *len = 96 + (unsigned)l;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, addr) == 1 && l <= 128) {
        *len = (unsigned)l;
        return 0;
    }
    return -1;
}

static void encode(const rec_t *r, mmdbw_buf_t *b)
{
    uint32_t pairs = (r->country != NULL) + (r->continent != NULL) + (r->region != NULL) +
                     (r->has_loc != 0) + (r->asn != 0);
    mmdbw_put_map(b, pairs);
    if (r->country) {
        mmdbw_put_str(b, "country");
        mmdbw_put_map(b, 1);
        mmdbw_put_str(b, "iso_code");
        mmdbw_put_str(b, r->country);
    }
    if (r->continent) {
        mmdbw_put_str(b, "continent");
        mmdbw_put_map(b, 1);
        mmdbw_put_str(b, "code");
        mmdbw_put_str(b, r->continent);
    }
    if (r->region) {
        mmdbw_put_str(b, "subdivisions");
        mmdbw_put_array(b, 1);
        mmdbw_put_map(b, 1);
        mmdbw_put_str(b, "iso_code");
        mmdbw_put_str(b, r->region);
    }
    if (r->has_loc) {
        /* pdns's geoip backend wants accuracy_radius beside the coordinates */
        mmdbw_put_str(b, "location");
        mmdbw_put_map(b, 3);
        mmdbw_put_str(b, "accuracy_radius");
        mmdbw_put_u16(b, 100);
        mmdbw_put_str(b, "latitude");
        mmdbw_put_double(b, r->lat);
        mmdbw_put_str(b, "longitude");
        mmdbw_put_double(b, r->lon);
    }
    if (r->asn) {
        mmdbw_put_str(b, "autonomous_system_number");
        mmdbw_put_u32(b, (uint32_t)r->asn);
    }
}

/* Parses the fields after the network into `r` (pointers into `line`). */
static int parse_fields(char *save, rec_t *r)
{
    memset(r, 0, sizeof(*r));
    for (char *tok; (tok = strtok_r(NULL, " \t", &save));) {
        char *eq = strchr(tok, '='), *end;
        if (!eq)
            return -1;
        *eq++ = '\0';
        if (strcmp(tok, "country") == 0)
            r->country = eq;
        else if (strcmp(tok, "continent") == 0)
            r->continent = eq;
        else if (strcmp(tok, "region") == 0)
            r->region = eq;
        else if (strcmp(tok, "lat") == 0) {
            r->lat = strtod(eq, &end);
            r->has_lat = !*end;
        } else if (strcmp(tok, "lon") == 0) {
            r->lon = strtod(eq, &end);
            r->has_lon = !*end;
        } else if (strcmp(tok, "asn") == 0) {
            r->asn = strtoul(eq, &end, 10);
            if (*end || !r->asn || r->asn > 0xffffffffu)
                return -1;
        } else {
            return -1;
        }
    }
    if (r->has_lat != r->has_lon)
        return -1;
    r->has_loc = r->has_lat;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gs_mkmmdb OUT.mmdb < DESCRIPTION\n");
        return 64;
    }
    mmdbw_t *w = mmdbw_new();
    char line[1024];
    unsigned lineno = 0;
    while (fgets(line, sizeof line, stdin)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        line[strcspn(line, "\r\n")] = '\0';
        char *save, *net = strtok_r(line, " \t", &save);
        if (!net)
            continue;
        uint8_t addr[16];
        unsigned len;
        rec_t r;
        if (parse_net(net, addr, &len) != 0 || parse_fields(save, &r) != 0) {
            fprintf(stderr, "gs_mkmmdb: line %u: expected NETWORK/LEN and key=value fields\n",
                    lineno);
            mmdbw_free(w);
            return 1;
        }
        mmdbw_buf_t b = {0};
        encode(&r, &b);
        mmdbw_insert(w, addr, len, mmdbw_data(w, b.data, b.len));
        mmdbw_buf_free(&b);
    }
    mmdbw_meta_t meta = {.database_type = "GeoSteer-Test", .description = "gs_mkmmdb fixture"};
    gs_err_t err = {0};
    int rc = mmdbw_write(w, argv[1], &meta, NULL, &err);
    mmdbw_free(w);
    if (rc != 0) {
        fprintf(stderr, "gs_mkmmdb: %s\n", err.text);
        return 1;
    }
    return 0;
}
