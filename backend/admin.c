#include "backend/admin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/dname.h"
#include "backend/snap.h"
#include "backend/state.h"
#include "common/err.h"
#include "common/mem.h"

#ifndef GEOSTEER_VERSION
#define GEOSTEER_VERSION "0.0.0"
#endif

#define ADMIN_MAX_WORDS 64

int admin_split(const char *cmd, char *store, char **words, int max)
{
    int n = 0;
    const char *p = cmd;
    char *o = store;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (!*p)
            return n;
        if (n == max)
            return GS_EINVAL;
        words[n++] = o;
        char quote = 0;
        while (*p && (quote || (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r'))) {
            if (quote && *p == quote) {
                quote = 0;
                p++;
            } else if (!quote && (*p == '\'' || *p == '"')) {
                quote = *p++;
            } else if (*p == '\\' && p[1] && quote != '\'') {
                *o++ = p[1];
                p += 2;
            } else {
                *o++ = *p++;
            }
        }
        if (quote)
            return GS_EINVAL;
        *o++ = '\0';
    }
}

static const char help_text[] =
    "OK commands:\n"
    "  status                              daemon and zone store summary\n"
    "  zone list                           zones with id, serial and record count\n"
    "  zone create <zone> [--ns <name>]... [--soa-mname <name>] [--soa-rname <mailbox>]\n"
    "              [--soa-serial N] [--soa-refresh N] [--soa-retry N] [--soa-expire N]\n"
    "              [--soa-minimum N] [--ttl N]\n"
    "  zone delete <zone>                  delete a zone with all its records and metadata\n"
    "  version                             geosteerd version\n"
    "  help                                this text\n";

static int canon_arg(const char *what, const char *s, char *out, buf_t *reply)
{
    gs_err_t e;
    size_t len = strlen(s);
    if (len > DNAME_MAXTEXT || dname_canon(s, len, true, out, &e) < 0) {
        buf_printf(reply, "ERR %s '%s' is not a valid name\n", what, s);
        return GS_EINVAL;
    }
    return 0;
}

static int uint_arg(const char *opt, const char *s, uint32_t *v, buf_t *reply)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(s, &end, 10);
    if (!*s || *end || errno || n > 4294967295ul || *s == '-') {
        buf_printf(reply, "ERR %s: expected a number in 0..4294967295, got '%s'\n", opt, s);
        return GS_EINVAL;
    }
    *v = (uint32_t)n;
    return 0;
}

static void zone_create(char **w, int n, buf_t *out)
{
    if (n < 3) {
        buf_puts(out, "ERR usage: zone create <zone> [--ns <name>]... [--soa-...]\n");
        return;
    }
    char zone[DNAME_MAXTEXT + 1];
    if (canon_arg("zone", w[2], zone, out))
        return;
    state_zone_opts_t o;
    state_zone_opts_default(&o);
    char(*ns)[DNAME_MAXTEXT + 1] = mem_calloc((size_t)n, sizeof(*ns));
    const char **nsp = mem_calloc((size_t)n, sizeof(*nsp));
    char mname[DNAME_MAXTEXT + 1], rname[DNAME_MAXTEXT + 1];
    for (int i = 3; i < n; i++) {
        const char *opt = w[i];
        const char *val = i + 1 < n ? w[i + 1] : NULL;
        if (!val || strncmp(opt, "--", 2) != 0) {
            buf_printf(out, "ERR zone create: unexpected '%s' (options take one value)\n", opt);
            goto done;
        }
        i++;
        int rc = 0;
        if (strcmp(opt, "--ns") == 0) {
            rc = canon_arg("--ns", val, ns[o.nns], out);
            nsp[o.nns] = ns[o.nns];
            o.nns++;
        } else if (strcmp(opt, "--soa-mname") == 0) {
            rc = canon_arg("--soa-mname", val, mname, out);
            o.mname = mname;
        } else if (strcmp(opt, "--soa-rname") == 0) {
            rc = canon_arg("--soa-rname", val, rname, out);
            o.rname = rname;
        } else if (strcmp(opt, "--soa-serial") == 0) {
            rc = uint_arg(opt, val, &o.serial, out);
        } else if (strcmp(opt, "--soa-refresh") == 0) {
            rc = uint_arg(opt, val, &o.refresh, out);
        } else if (strcmp(opt, "--soa-retry") == 0) {
            rc = uint_arg(opt, val, &o.retry, out);
        } else if (strcmp(opt, "--soa-expire") == 0) {
            rc = uint_arg(opt, val, &o.expire, out);
        } else if (strcmp(opt, "--soa-minimum") == 0) {
            rc = uint_arg(opt, val, &o.minimum, out);
        } else if (strcmp(opt, "--ttl") == 0) {
            rc = uint_arg(opt, val, &o.ttl, out);
            if (rc == 0 && o.ttl > 2147483647u) {
                buf_printf(out, "ERR --ttl: must be 0..2147483647\n");
                rc = GS_EINVAL;
            }
        } else {
            buf_printf(out, "ERR zone create: unknown option '%s'\n", opt);
            rc = GS_EINVAL;
        }
        if (rc)
            goto done;
    }
    o.ns = nsp;
    int64_t id;
    gs_err_t e;
    if (state_zone_create(zone, &o, &id, &e) != 0) {
        buf_printf(out, "ERR zone create %s: %s\n", zone, e.text);
        goto done;
    }
    buf_printf(out, "OK zone %s created with id %lld", zone, (long long)id);
    if (o.nns == 0)
        buf_puts(out, "; it has no NS records yet, add them with pdnsutil add-record");
    buf_puts(out, "; run 'pdns_control rediscover' so pdns_server serves it now\n");
done:
    free(ns);
    free(nsp);
}

static void zone_delete(char **w, int n, buf_t *out)
{
    if (n != 3) {
        buf_puts(out, "ERR usage: zone delete <zone>\n");
        return;
    }
    char zone[DNAME_MAXTEXT + 1];
    if (canon_arg("zone", w[2], zone, out))
        return;
    gs_err_t e;
    if (state_zone_delete(zone, &e) != 0) {
        buf_printf(out, "ERR zone delete %s: %s\n", zone, e.text);
        return;
    }
    buf_printf(out, "OK zone %s deleted\n", zone);
}

static void zone_list(buf_t *out)
{
    snap_slot_t *slot = snap_slot_get();
    if (!slot) {
        buf_puts(out, "ERR too many concurrent readers, try again\n");
        return;
    }
    const snap_t *s = snap_pin(slot);
    buf_printf(out, "OK %zu zone%s\n", s->nzones, s->nzones == 1 ? "" : "s");
    for (size_t i = 0; i < s->nzones; i++) {
        const zone_t *z = s->zones[i];
        buf_printf(out, "%s id=%lld serial=%u records=%zu\n", z->name, (long long)z->id, z->serial,
                   z->nrecords);
    }
    snap_unpin(slot);
    snap_slot_put(slot);
}

static void status(buf_t *out)
{
    snap_slot_t *slot = snap_slot_get();
    if (!slot) {
        buf_puts(out, "ERR too many concurrent readers, try again\n");
        return;
    }
    const snap_t *s = snap_pin(slot);
    size_t recs = 0;
    for (size_t i = 0; i < s->nzones; i++)
        recs += s->zones[i]->nrecords;
    buf_printf(out, "OK geosteerd %s\npid %ld\nzones %zu\nrecords %zu\nsnapshot generation %llu\n",
               GEOSTEER_VERSION, (long)getpid(), s->nzones, recs, (unsigned long long)s->gen);
    snap_unpin(slot);
    snap_slot_put(slot);
}

void admin_run(const char *cmd, buf_t *out)
{
    size_t len = strlen(cmd);
    char *store = mem_alloc(len + 1);
    char *w[ADMIN_MAX_WORDS];
    int n = admin_split(cmd, store, w, ADMIN_MAX_WORDS);
    if (n < 0)
        buf_puts(out, "ERR cannot parse command: unbalanced quote or too many words\n");
    else if (n == 0 || strcmp(w[0], "help") == 0)
        buf_puts(out, help_text);
    else if (strcmp(w[0], "version") == 0)
        buf_printf(out, "OK geosteerd %s\n", GEOSTEER_VERSION);
    else if (strcmp(w[0], "status") == 0 && n == 1)
        status(out);
    else if (strcmp(w[0], "zone") == 0 && n >= 2 && strcmp(w[1], "list") == 0 && n == 2)
        zone_list(out);
    else if (strcmp(w[0], "zone") == 0 && n >= 2 && strcmp(w[1], "create") == 0)
        zone_create(w, n, out);
    else if (strcmp(w[0], "zone") == 0 && n >= 2 && strcmp(w[1], "delete") == 0)
        zone_delete(w, n, out);
    else
        buf_printf(out, "ERR unknown command '%s'; try 'help'\n", n ? w[0] : "");
    free(store);
}
