/* The country table compiled into geosteer: the rows come from
 * geo/data/countries.tsv, converted at build time (geo/data/tsv_to_c.cmake).
 * Sources and licences: geo/data/README.md. */
#include "geo/countries.h"

#include <string.h>

/* clang-format off */
static const geo_country_t table[] = {
#include "countries_table.inc"
};
/* clang-format on */

size_t geo_country_count(void)
{
    return sizeof table / sizeof table[0];
}

const geo_country_t *geo_country_at(size_t i)
{
    return i < sizeof table / sizeof table[0] ? &table[i] : NULL;
}

const geo_country_t *geo_country_find(const char *code)
{
    size_t lo = 0, hi = sizeof table / sizeof table[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(table[mid].code, code);
        if (c == 0)
            return &table[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
