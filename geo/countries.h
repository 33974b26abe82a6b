/* The country table `geosteer geoip build` compiles in: per ISO 3166-1
 * alpha-2 code, its continent code, one representative coordinate and the
 * time zone of that coordinate.
 * The table is generated at build time from geo/data/countries.tsv by
 * geo/data/tsv_to_c.cmake; geo/data/gen_countries.py rewrites that .tsv from
 * its sources (sources and licences in geo/data/README.md).
 * Immutable static data; any thread may call these at any time. */
#ifndef GS_GEO_COUNTRIES_H
#define GS_GEO_COUNTRIES_H

#include <stddef.h>

typedef struct {
    char code[3];      /* "DE" */
    char continent[3]; /* AF AN AS EU NA OC SA */
    double latitude, longitude;
    const char *time_zone; /* the tz zone of the coordinate ("Europe/Berlin"), "" if none */
} geo_country_t;

/* Returns the number of countries in the table. */
size_t geo_country_count(void);

/* Returns the i-th country (sorted by code), borrowed; NULL if i is past the end. */
const geo_country_t *geo_country_at(size_t i);

/* Returns the country with ISO code `code` ("DE"), borrowed, or NULL. */
const geo_country_t *geo_country_find(const char *code);

#endif
