#include "test/fuzz/seed_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/daemon/state.h"
#include "backend/protocol/admin.h"
#include "backend/protocol/rb.h"
#include "common/log.h"

void fuzz_seed_store(const char *const *seed, size_t n)
{
    log_set_level(LOG_CRIT);
    char tmpl[] = "/tmp/gs-fuzz.XXXXXX";
    char *dir = mkdtemp(tmpl);
    char db[256];
    gs_err_t err;
    if (!dir)
        abort();
    snprintf(db, sizeof(db), "%s/zones.db", dir);
    if (state_open(db, &err) != 0)
        abort();
    buf_t out;
    buf_init(&out);
    admin_run("zone create fuzz.test --ns ns1.fuzz.test --soa-serial 1", &out);
    buf_free(&out);
    rb_conn_t *c = rb_conn_new();
    for (size_t i = 0; i < n; i++)
        rb_handle(c, seed[i], strlen(seed[i]));
    rb_conn_free(c);
}
