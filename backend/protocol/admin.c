#include "backend/protocol/admin.h"
#include "backend/protocol/exposition.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "backend/dns/dname.h"
#include "backend/steering/health.h"
#include "backend/steering/luacheck.h"
#include "backend/steering/luaeval.h"
#include "backend/protocol/rb.h"
#include "backend/zones/snap.h"
#include "backend/daemon/declog.h"
#include "backend/daemon/state.h"
#include "backend/zones/store.h"
#include "backend/steering/steer.h"
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
    "  status [--json]                     daemon and zone store summary: zones' kinds,\n"
    "                                      serials and transfers, the config's sha256\n"
    "  metrics                             the Prometheus exposition (doc/metrics.md)\n"
    "  explain <qname> <client>[/len] [qtype]  the whole steering decision for a client\n"
    "  health [endpoint]                   health checks: state, since, streak, rtt, error\n"
    "  lua-check <zone>                    each LUA record: supported, and the policy to use\n"
    "  drain|force-up|force-down <endpoint> [for <duration>]   operator override (30s, 10m, 2h, "
    "1d)\n"
    "  undrain <endpoint>                  remove the override of an endpoint\n"
    "  reload                              reload geosteer.json (kept if invalid)\n"
    "  geoip info                          the GeoIP databases in use\n"
    "  geoip lookup <ip>                   what the GeoIP database says about an address\n"
    "  zone list                           zones with id, serial and record count\n"
    "  zone create <zone> [--ns <name>]... [--soa-mname <name>] [--soa-rname <mailbox>]\n"
    "              [--soa-serial N] [--soa-refresh N] [--soa-retry N] [--soa-expire N]\n"
    "              [--soa-minimum N] [--ttl N] [--kind native|primary]\n"
    "  zone create <zone> --secondary --primary ADDR[:PORT] [--primary ...]\n"
    "                                      an empty secondary zone, filled by transfers\n"
    "  zone set-kind <zone> native|primary|secondary  primary: pdns NOTIFYs its changes;\n"
    "                                      secondary: pdns transfers it from its primaries\n"
    "  zone set-primaries <zone> ADDR[:PORT]...  a secondary zone's primaries\n"
    "  autoprimary add <ip> <nameserver> [account]  NOTIFYs from <ip> for unknown zones whose\n"
    "                                      NS set names <nameserver> create secondary zones\n"
    "  autoprimary list | remove <ip> <nameserver>\n"
    "  zone delete <zone>                  delete a zone with all its records and metadata\n"
    "  zone load <zone> <file>             replace a zone's records with a zone file (absolute\n"
    "                                      path, read by geosteerd), all or nothing\n"
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

/* Pins the current snapshot for a command; NULL (with the ERR reply
 * written) when every reader slot is taken. Release with unpin. */
static const snap_t *pin(buf_t *out, snap_slot_t **slot)
{
    if (!(*slot = snap_slot_get())) {
        buf_puts(out, "ERR too many concurrent readers, try again\n");
        return NULL;
    }
    return snap_pin(*slot);
}

/* A zone kind argument; -1 (and the reply) for anything else. */
static int kind_arg(const char *s, buf_t *out)
{
    int k = store_kind_parse(s);
    if (k < 0) {
        buf_printf(out, "ERR kind '%s': must be native, primary or secondary\n", s);
        return -1;
    }
    return k;
}

static void zone_set_kind(char **w, int n, buf_t *out)
{
    if (n != 4) {
        buf_puts(out, "ERR usage: zone set-kind <zone> native|primary|secondary\n");
        return;
    }
    char zone[DNAME_MAXTEXT + 1];
    if (canon_arg("zone", w[2], zone, out))
        return;
    int k = kind_arg(w[3], out);
    if (k < 0)
        return;
    gs_err_t e;
    if (state_zone_set_kind(zone, k, &e) != 0) {
        buf_printf(out, "ERR zone set-kind %s: %s\n", zone, e.text);
        return;
    }
    buf_printf(out, "OK zone %s is %s\n", zone, store_kind_name((store_kind_t)k));
}

static void zone_set_primaries(char **w, int n, buf_t *out)
{
    if (n < 4) {
        buf_puts(out, "ERR usage: zone set-primaries <zone> ADDR[:PORT]...\n");
        return;
    }
    char zone[DNAME_MAXTEXT + 1];
    if (canon_arg("zone", w[2], zone, out))
        return;
    buf_t in, canon;
    buf_init(&in);
    buf_init(&canon);
    for (int i = 3; i < n; i++)
        buf_printf(&in, "%s%s", i > 3 ? " " : "", w[i]);
    gs_err_t e;
    if (state_masters_canon(in.data, &canon, &e) != 0)
        buf_printf(out, "ERR zone set-primaries: %s\n", e.text);
    else if (state_zone_set_masters(zone, canon.data, &e) != 0)
        buf_printf(out, "ERR zone set-primaries %s: %s\n", zone, e.text);
    else
        buf_printf(out, "OK zone %s: primaries %s\n", zone, canon.data);
    buf_free(&in);
    buf_free(&canon);
}

static void autoprimary_line(void *ctx, const char *ip, const char *nameserver, const char *account)
{
    buf_printf(ctx, "%s %s%s%s\n", ip, nameserver, *account ? " account=" : "", account);
}

static bool is_ip(const char *s)
{
    unsigned char a[16];
    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

static void autoprimary_cmd(char **w, int n, buf_t *out)
{
    gs_err_t e;
    char ns[DNAME_MAXTEXT + 1];
    buf_t ip;
    buf_init(&ip);
    bool add = n >= 2 && strcmp(w[1], "add") == 0, rm = n >= 2 && strcmp(w[1], "remove") == 0;
    if (n == 2 && strcmp(w[1], "list") == 0) {
        buf_t lines;
        buf_init(&lines);
        state_autoprimaries_each(autoprimary_line, &lines);
        buf_puts(out, "OK autoprimaries (ip nameserver [account])\n");
        buf_put(out, lines.data ? lines.data : "", lines.len);
        buf_free(&lines);
    } else if (!((add && (n == 4 || n == 5)) || (rm && n == 4))) {
        buf_puts(out, "ERR usage: autoprimary add <ip> <nameserver> [account] | list | remove "
                      "<ip> <nameserver>\n");
    } else if (!is_ip(w[2]) || state_masters_canon(w[2], &ip, &e) != 0) {
        buf_printf(out,
                   "ERR autoprimary: '%s' is not an IP address (no port: pdns asks "
                   "autoprimaries on port 53)\n",
                   w[2]);
    } else if (canon_arg("nameserver", w[3], ns, out) == 0) {
        if (add && n == 5 && strlen(w[4]) > 255) {
            buf_puts(out, "ERR autoprimary add: account is longer than 255 characters\n");
        } else if (add ? state_autoprimary_add(ip.data, ns, n == 5 ? w[4] : "", &e)
                       : state_autoprimary_remove(ip.data, ns, &e)) {
            buf_printf(out, "ERR autoprimary %s: %s\n", w[1], e.text);
        } else {
            buf_printf(out, "OK autoprimary %s %s %s\n", ip.data, ns, add ? "added" : "removed");
        }
    }
    buf_free(&ip);
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
    buf_t prim, canon;
    buf_init(&prim);
    buf_init(&canon);
    for (int i = 3; i < n; i++) {
        const char *opt = w[i];
        const char *val = i + 1 < n ? w[i + 1] : NULL;
        if (strcmp(opt, "--secondary") == 0) {
            o.kind = STORE_KIND_SECONDARY;
            continue;
        }
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
        } else if (strcmp(opt, "--kind") == 0) {
            o.kind = kind_arg(val, out);
            rc = o.kind < 0 ? GS_EINVAL : 0;
        } else if (strcmp(opt, "--primary") == 0) {
            buf_printf(&prim, "%s%s", prim.len ? " " : "", val);
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
    if (o.kind == STORE_KIND_SECONDARY) {
        if (!prim.len) {
            buf_puts(out, "ERR zone create: a secondary zone needs --primary ADDR[:PORT]\n");
            goto done;
        }
        if (state_masters_canon(prim.data, &canon, &e) != 0) {
            buf_printf(out, "ERR zone create: %s\n", e.text);
            goto done;
        }
        o.masters = canon.data;
    } else if (prim.len) {
        buf_puts(out, "ERR zone create: --primary is for a secondary zone (--secondary)\n");
        goto done;
    }
    if (state_zone_create(zone, &o, &id, &e) != 0) {
        buf_printf(out, "ERR zone create %s: %s\n", zone, e.text);
        goto done;
    }
    buf_printf(out, "OK zone %s created with id %lld", zone, (long long)id);
    if (o.kind == STORE_KIND_SECONDARY)
        buf_printf(out, ", secondary of %s: pdns (secondary=yes) transfers it at its next check\n",
                   o.masters);
    else if (o.nns == 0)
        buf_puts(out, "; it has no NS records yet, add them with pdnsutil add-record");
    if (o.kind != STORE_KIND_SECONDARY)
        buf_puts(out, "; run 'pdns_control rediscover' so pdns_server serves it now\n");
done:
    buf_free(&prim);
    buf_free(&canon);
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

/* A secondary zone's replication as " key=value" pairs: its primaries,
 * pdns's last check, the last transfer (ok, or refused with the reason: the
 * node is behind), and its state (state_secondary_state). */
static void put_secondary(buf_t *out, const zone_t *z)
{
    int64_t now = (int64_t)time(NULL);
    state_repl_info_t ri;
    state_repl_info(z->id, &ri);
    buf_puts(out, " primaries=");
    for (const char *p = *z->masters ? z->masters : "-"; *p; p++)
        buf_putc(out, *p == ' ' ? ',' : *p);
    if (ri.checked_at)
        buf_printf(out, " last_check=%llds_ago", (long long)(now - ri.checked_at));
    else
        buf_puts(out, " last_check=due");
    if (!ri.xfr_at)
        buf_puts(out, " transfer=none_since_start");
    else
        buf_printf(out, " transfer=%s transfer_serial=%u transfer_at=%llds_ago",
                   ri.xfr_ok ? "ok" : "refused", ri.xfr_serial, (long long)(now - ri.xfr_at));
    if (ri.xfr_at && !ri.xfr_ok)
        buf_printf(out, " reason=%s", ri.reason);
    buf_printf(out, " state=%s", state_secondary_state(z, &ri, now));
}

static void zone_list(buf_t *out)
{
    snap_slot_t *slot;
    const snap_t *s = pin(out, &slot);
    if (!s)
        return;
    buf_printf(out, "OK %zu zone%s\n", s->nzones, s->nzones == 1 ? "" : "s");
    for (size_t i = 0; i < s->nzones; i++) {
        const zone_t *z = s->zones[i];
        buf_printf(out, "%s id=%lld serial=%u records=%zu kind=%s", z->name, (long long)z->id,
                   z->serial, z->nrecords, store_kind_name((store_kind_t)z->kind));
        if (z->kind == STORE_KIND_PRIMARY)
            buf_printf(out, " notified_serial=%u", z->notified_serial);
        if (z->kind == STORE_KIND_SECONDARY)
            put_secondary(out, z);
        size_t active;
        const char *mode = zone_dnssec_mode(z, &active);
        if (mode)
            buf_printf(out, " dnssec=%s keys=%zu/%zu", mode, active, z->nkeys);
        buf_putc(out, '\n');
    }
    snap_unpin(slot);
    snap_slot_put(slot);
}

static void put_db_info(buf_t *out, const char *what, const geo_db_t *db, unsigned max_age);

static void status_override(void *ctx, const char *endpoint, const char *state, int64_t until);

static void put_time(buf_t *out, int64_t ms);

/* One line per zone whose last write failed: pdnsutil exits 0 whatever
 * the backend says, so this is where a refused load-zone shows. */
static void status_failure(void *ctx, const char *zone, const char *what, int64_t at,
                           const char *reason, int64_t ok_at)
{
    buf_t *out = ctx;
    buf_printf(out, "last failed write %s (%s) at ", zone, what);
    put_time(out, at * 1000);
    buf_printf(out, " (%lld s ago): %s", (long long)((int64_t)time(NULL) - at), reason);
    if (ok_at) {
        buf_puts(out, "; a later commit succeeded at ");
        put_time(out, ok_at * 1000);
    }
    buf_putc(out, '\n');
}

/* One line on the probe: heartbeat age, plan generations, whether health
 * is steering. */
static void put_probe(buf_t *out)
{
    health_status_t h;
    health_status(&h);
    if (!h.mapped) {
        buf_printf(out,
                   "probe: no health state file yet (health unknown: every endpoint counts "
                   "as up); plan generation %llu\n",
                   (unsigned long long)h.plan_gen);
        return;
    }
    buf_printf(out,
               "probe: %s, pid %d, heartbeat %.1f s ago, plan generation %llu (probe has "
               "%llu)%s\n",
               h.mode, h.pid, h.hb_age, (unsigned long long)h.plan_gen,
               (unsigned long long)h.file_gen,
               h.in_use ? ", health in use"
               : strcmp(h.mode, "stale") == 0
                   ? ", health ignored (stale_rule ignore-health: every endpoint counts as up)"
                   : ", health not in use");
}

static void status(buf_t *out)
{
    snap_slot_t *slot;
    const snap_t *s = pin(out, &slot);
    if (!s)
        return;
    size_t recs = 0;
    for (size_t i = 0; i < s->nzones; i++)
        recs += s->zones[i]->nrecords;
    buf_printf(out, "OK geosteerd %s\npid %ld\nzones %zu\nrecords %zu\nsnapshot generation %llu\n",
               GEOSTEER_VERSION, (long)getpid(), s->nzones, recs, (unsigned long long)s->gen);
    char *cfg_path, digest[65];
    if (state_config_info(&cfg_path, digest) && s->world->steer)
        buf_printf(out, "steering config: loaded from %s sha256 %s\n", cfg_path, digest);
    else
        buf_puts(out, s->world->steer ? "steering config: loaded\n" : "steering config: none\n");
    free(cfg_path);
    put_db_info(out, "geoip", s->world->geo, s->world->geo_max_age_days);
    put_probe(out);
    declog_stats_t dl;
    declog_stats(&dl);
    buf_printf(out,
               "decision log: %s, %llu lines, %llu over max_per_second, %llu lost to write "
               "errors\n",
               dl.target, (unsigned long long)dl.lines, (unsigned long long)dl.rate_dropped,
               (unsigned long long)dl.write_errors);
    state_overrides_each(status_override, out);
    state_write_failures_each(status_failure, out);
    for (size_t i = 0; i < s->nzones; i++) {
        const zone_t *z = s->zones[i];
        if (z->kind == STORE_KIND_PRIMARY)
            buf_printf(out, "zone %s primary serial %u notified_serial %u\n", z->name, z->serial,
                       z->notified_serial);
        else if (z->kind == STORE_KIND_SECONDARY) {
            buf_printf(out, "zone %s secondary serial %u", z->name, z->serial);
            put_secondary(out, z);
            buf_putc(out, '\n');
        }
    }
    snap_unpin(slot);
    snap_slot_put(slot);
}

/* status --json: what `status` says of the zones and the config, for tools
 * comparing nodes: every zone's kind and serial, a secondary's transfers,
 * the config's path and SHA-256. */
static void status_json(buf_t *out)
{
    snap_slot_t *slot;
    const snap_t *s = pin(out, &slot);
    if (!s)
        return;
    int64_t now = (int64_t)time(NULL);
    json_t *zones = mem_check(json_array());
    for (size_t i = 0; i < s->nzones; i++) {
        const zone_t *z = s->zones[i];
        json_t *o = mem_check(json_pack("{s:s, s:I, s:s, s:I, s:I}", "name", z->name, "id",
                                        (json_int_t)z->id, "kind",
                                        store_kind_name((store_kind_t)z->kind), "serial",
                                        (json_int_t)z->serial, "records", (json_int_t)z->nrecords));
        if (z->kind == STORE_KIND_PRIMARY)
            json_object_set_new(o, "notified_serial", json_integer(z->notified_serial));
        if (z->kind == STORE_KIND_SECONDARY) {
            state_repl_info_t ri;
            state_repl_info(z->id, &ri);
            json_object_set_new(o, "primaries", rb_masters_json(z));
            json_object_set_new(o, "last_check",
                                ri.checked_at ? json_integer(ri.checked_at) : json_null());
            json_object_set_new(
                o, "transfer",
                !ri.xfr_at ? json_null()
                           : mem_check(json_pack("{s:s, s:I, s:I, s:s}", "result",
                                                 ri.xfr_ok ? "ok" : "refused", "serial",
                                                 (json_int_t)ri.xfr_serial, "at",
                                                 (json_int_t)ri.xfr_at, "reason", ri.reason)));
            json_object_set_new(o, "state", json_string(state_secondary_state(z, &ri, now)));
        }
        size_t active;
        const char *mode = zone_dnssec_mode(z, &active);
        json_object_set_new(
            o, "dnssec",
            mode ? mem_check(json_pack("{s:s, s:I, s:I}", "denial", mode, "keys",
                                       (json_int_t)z->nkeys, "active_keys", (json_int_t)active))
                 : json_null());
        json_array_append_new(zones, o);
    }
    char *cfg_path, digest[65];
    json_t *cfg = state_config_info(&cfg_path, digest)
                      ? mem_check(json_pack("{s:s, s:s}", "path", cfg_path, "sha256", digest))
                      : json_null();
    free(cfg_path);
    json_t *root = mem_check(json_pack("{s:s, s:I, s:I, s:o, s:o}", "version", GEOSTEER_VERSION,
                                       "pid", (json_int_t)getpid(), "snapshot_generation",
                                       (json_int_t)s->gen, "config", cfg, "zones", zones));
    snap_unpin(slot);
    snap_slot_put(slot);
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    buf_puts(out, "OK\n");
    buf_puts(out, text ? text : "{}");
    buf_putc(out, '\n');
    free(text);
    json_decref(root);
}

/* ---- steering: reload, geoip, explain -------------------------------------------- */

static void reload(buf_t *out)
{
    buf_t errors;
    buf_init(&errors);
    if (state_reload(&errors) == 0)
        buf_puts(out, "OK config reloaded\n");
    else
        buf_printf(out, "ERR reload refused; the running config keeps serving:\n%s",
                   errors.data ? errors.data : "");
    buf_free(&errors);
}

static void put_geo(buf_t *out, const geo_result_t *g)
{
    buf_printf(out, "country %s continent %s subdivision %s asn %u", *g->country ? g->country : "-",
               *g->continent ? g->continent : "-", *g->subdivision ? g->subdivision : "-", g->asn);
    if (g->has_location)
        buf_printf(out, " location %.4f,%.4f", g->latitude, g->longitude);
    buf_printf(out, " (database network /%u)", g->prefix_len);
}

static void put_db_info(buf_t *out, const char *what, const geo_db_t *db, unsigned max_age)
{
    if (!db) {
        buf_printf(out, "%s: none configured\n", what);
        return;
    }
    geo_db_info_t info;
    geo_db_info(db, &info);
    time_t built = (time_t)info.build_epoch;
    struct tm tm;
    gmtime_r(&built, &tm);
    double age = difftime(time(NULL), built) / 86400.0;
    buf_printf(out, "%s: %s type %s built %04d-%02d-%02d (%.0f days old%s) nodes %u%s\n", what,
               info.path, info.database_type, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, age,
               max_age && age > max_age ? ", OLDER THAN settings.geoip.max_age_days" : "",
               info.node_count,
               geo_db_faulted(db) ? " (FILE CUT UNDER THE LOADED COPY: per-query lookups find "
                                    "nothing until a whole new file is renamed into place)"
                                  : "");
}

static int parse_ip(const char *text, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        return 0;
    }
    return GS_EINVAL;
}

static void geoip(char **w, int n, buf_t *out)
{
    snap_slot_t *slot;
    const snap_t *s = pin(out, &slot);
    if (!s)
        return;
    const snap_world_t *wd = s->world;
    if (n == 2 && strcmp(w[1], "info") == 0) {
        buf_puts(out, "OK\n");
        put_db_info(out, "country database", wd->geo, wd->geo_max_age_days);
        put_db_info(out, "asn database", wd->asn, wd->geo_max_age_days);
    } else if (n == 3 && strcmp(w[1], "lookup") == 0) {
        struct sockaddr_storage ss;
        geo_result_t g;
        if (parse_ip(w[2], &ss) != 0) {
            buf_printf(out, "ERR '%s' is not an IP address\n", w[2]);
        } else if (!wd->geo) {
            buf_puts(out, "ERR no GeoIP database is configured (settings.geoip.database)\n");
        } else {
            int rc = geo_db_lookup(wd->geo, (struct sockaddr *)&ss, &g);
            geo_result_t ga = {0};
            if (wd->asn && geo_db_lookup(wd->asn, (struct sockaddr *)&ss, &ga) == 0)
                g.asn = ga.asn;
            buf_printf(out, "OK %s: %s", w[2], rc == 0 ? "" : "not in the database; ");
            put_geo(out, &g);
            buf_putc(out, '\n');
        }
    } else {
        buf_puts(out, "ERR usage: geoip info | geoip lookup <ip>\n");
    }
    snap_unpin(slot);
    snap_slot_put(slot);
}

static const char *probe_word(unsigned state)
{
    return state == HSTATE_UP ? "UP" : state == HSTATE_DOWN ? "DOWN" : "UNKNOWN";
}

static const char *admin_name(steer_admin_state_t st)
{
    switch (st) {
    case STEER_ADMIN_DRAIN:
        return "drained";
    case STEER_ADMIN_FORCE_UP:
        return "forced up";
    case STEER_ADMIN_FORCE_DOWN:
        return "forced down";
    default:
        return "none";
    }
}

/* Parses "30s", "10m", "2h", "1d" or plain seconds; 0 on error. */
static int64_t parse_duration(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || v <= 0 || end == s)
        return 0;
    int64_t mult = !*end || strcmp(end, "s") == 0 ? 1
                   : strcmp(end, "m") == 0        ? 60
                   : strcmp(end, "h") == 0        ? 3600
                   : strcmp(end, "d") == 0        ? 86400
                                                  : 0;
    if (!mult || v > 3650LL * 86400 / mult)
        return 0;
    return v * mult;
}

static void override_cmd(char **w, int n, buf_t *out)
{
    bool undrain = strcmp(w[0], "undrain") == 0;
    if (n < 2 || (undrain && n != 2) || (!undrain && n != 2 && n != 4) ||
        (n == 4 && strcmp(w[2], "for") != 0)) {
        buf_printf(out, "ERR usage: %s <endpoint>%s\n", w[0], undrain ? "" : " [for <duration>]");
        return;
    }
    int64_t until = 0;
    if (n == 4) {
        int64_t d = parse_duration(w[3]);
        if (!d) {
            buf_printf(out,
                       "ERR duration '%s': expected a number with s, m, h or d (up to "
                       "3650d)\n",
                       w[3]);
            return;
        }
        until = (int64_t)time(NULL) + d;
    }
    gs_err_t e;
    if (state_override(w[1], undrain ? NULL : w[0], until, &e) != 0) {
        buf_printf(out, "ERR %s %s: %s\n", w[0], w[1], e.text);
        return;
    }
    if (undrain) {
        buf_printf(out, "OK %s: override removed\n", w[1]);
    } else if (until) {
        time_t t = (time_t)until;
        struct tm tm;
        gmtime_r(&t, &tm);
        buf_printf(out, "OK %s: %s until %04d-%02d-%02dT%02d:%02d:%02dZ\n", w[1], w[0],
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    } else {
        buf_printf(out, "OK %s: %s\n", w[1], w[0]);
    }
}

static void status_override(void *ctx, const char *endpoint, const char *state, int64_t until)
{
    buf_t *out = ctx;
    int64_t now = (int64_t)time(NULL);
    if (until && until <= now)
        return; /* expired: no longer applied (steer_admin_get), so not listed */
    if (until)
        buf_printf(out, "override %s %s (%lld s left)\n", endpoint, state,
                   (long long)(until - now));
    else
        buf_printf(out, "override %s %s\n", endpoint, state);
}

/* A plain steer('policy') record: the policy's whole decision. The lines
 * come from one steer_decide_admin run with the snapshot's overrides and
 * health at this moment (doc/design.md §5), so they are what a query sent
 * now would get, random picks aside (a fixed seed stands in for the
 * query's random value):
 *   policy     the engine's name, type and TTL for it;
 *   rule       d.why (the type's choice, or "all candidates down") and
 *              d.pool (absent when the all-down rule answered several pools
 *              or a proximity policy weighed all of its own);
 *   candidate  every endpoint of the pools steer_decision_pools names (the
 *              rule's pool and its fallback chain as far as d.pool, or each
 *              pool a failover or proximity policy weighs), with its override
 *              and what the probe says of it (health_endpoint_word: that is
 *              the probe's word even while a stale probe is ignored, when
 *              the decision counts every endpoint as up), so that a reader
 *              can see why the others were left out;
 *   pick       d.picks with their values of the record's type;
 *   scope/ttl  d.scope (steer_scope_final applied, as sent to pdns), d.ttl. */
static void explain_record(buf_t *out, const snap_t *s, const zone_node_t *node,
                           const zone_rec_t *rec, const char *policy, const steer_client_t *cl)
{
    const steer_t *st = s->world->steer;
    buf_printf(out, "record: %s LUA %s\n", node->name, rec->content);
    int32_t pi = st ? steer_policy_find(st, policy, strlen(policy)) : -1;
    if (pi < 0) {
        buf_printf(out, "policy: '%s' is not in the loaded config: no answer\n", policy);
        return;
    }
    buf_printf(out, "policy: %s (%s, ttl %u)\n", policy, steer_policy_type_name(st, (uint32_t)pi),
               steer_policy_ttl(st, (uint32_t)pi));
    steer_decision_t d;
    steer_admin_t adm = s->world->admin;
    adm.now = (int64_t)time(NULL);
    steer_decide_admin(st, (uint32_t)pi, cl, 0x9e3779b97f4a7c15ull, &adm, &d);
    buf_printf(out, "rule: %s", d.why ? d.why : "-");
    if (d.pool != UINT32_MAX)
        buf_printf(out, " -> pool %s", steer_pool_name(st, d.pool));
    buf_putc(out, '\n');
    /* Candidates: the rule's pool and its fallbacks as far as the pool
     * decided on, or every pool a failover or proximity policy weighs. */
    uint32_t pools[STEER_MAX_POLICY_POOLS];
    size_t np = steer_decision_pools(st, (uint32_t)pi, &d, pools, STEER_MAX_POLICY_POOLS);
    for (size_t k = 0; k < np; k++) {
        size_t ne;
        const uint32_t *eps = steer_pool_endpoints(st, pools[k], &ne);
        for (size_t i = 0; i < ne; i++)
            buf_printf(out, "candidate: %s weight %u health %s admin %s%s%s\n",
                       steer_endpoint_name(st, eps[i]), steer_endpoint_weight(st, eps[i]),
                       health_endpoint_word(s->world->health, eps[i]),
                       admin_name(steer_admin_get(&adm, eps[i])), np > 1 ? " pool " : "",
                       np > 1 ? steer_pool_name(st, pools[k]) : "");
    }
    unsigned bit = steer_qt_bit(rec->dyn_type->code);
    for (uint16_t k = 0; k < d.n; k++) {
        size_t nv;
        const char *const *vals = steer_endpoint_values(st, d.picks[k], bit, &nv);
        buf_printf(out, "pick: %s", steer_endpoint_name(st, d.picks[k]));
        for (size_t v = 0; v < nv; v++)
            buf_printf(out, " %s", vals[v]);
        buf_putc(out, '\n');
    }
    if (d.n == 0)
        buf_puts(out, "pick: none (all_down = empty)\n");
    buf_printf(out, "scope: /%u%s\nttl: %u\n", d.scope,
               d.scope ? "" : " (the answer does not depend on the client)", d.ttl);
}

/* A compiled LUA record (not steer()): the branch that decides, the health
 * of each if*up address of that branch, the values and the scope. */
static void explain_prog(buf_t *out, const snap_t *s, const zone_node_t *node,
                         const zone_rec_t *rec, const steer_client_t *cl)
{
    buf_printf(out, "record: %s LUA %s\n", node->name, rec->content);
    steer_admin_t adm = s->world->admin;
    adm.now = (int64_t)time(NULL);
    luae_env_t env = {.client = cl,
                      .geo = s->world->geo,
                      .asn = s->world->asn,
                      .rnd = 0x9e3779b97f4a7c15ull,
                      .steer = s->world->steer,
                      .admin = &adm,
                      .check_state = health_check_state,
                      .check_ctx = s->world->health};
    luae_result_t res;
    luae_eval(rec->prog, &env, &res);
    buf_printf(out, "rule: %s", res.why);
    if (res.branch < rec->prog->nbranches && rec->prog->nbranches > 1)
        buf_printf(out, " (arm %zu of %zu)", res.branch + 1, rec->prog->nbranches);
    buf_putc(out, '\n');
    if (res.branch < rec->prog->nbranches) {
        const luac_sel_t *sel = &rec->prog->branches[res.branch].sel;
        buf_printf(out, "function: %s\n", luac_sel_name(sel->kind));
        for (size_t k = 0; k < sel->nsets; k++)
            for (size_t i = 0; i < sel->sets[k].n; i++) {
                const luac_item_t *it = &sel->sets[k].items[i];
                if (it->check)
                    buf_printf(
                        out, "candidate: %s set %zu health %s\n", it->value, k + 1,
                        probe_word((unsigned)health_check_state(s->world->health, it->check)));
            }
    }
    for (size_t v = 0; v < res.n; v++)
        buf_printf(out, "pick: %s\n", res.vals[v]);
    for (uint16_t k = 0; res.steered && k < res.sd.n; k++)
        buf_printf(out, "pick: %s\n", steer_endpoint_name(s->world->steer, res.sd.picks[k]));
    if (res.n == 0 && !(res.steered && res.sd.n))
        buf_puts(out, "pick: none (the name has no data of this type for this client)\n");
    buf_printf(out,
               "scope: /%u%s\nttl: %u\nnote: random picks are shown for one random value; "
               "each query draws its own\n",
               res.scope, res.scope ? "" : " (the answer does not depend on the client)", rec->ttl);
}

static void explain(char **w, int n, buf_t *out)
{
    if (n < 3 || n > 4) {
        buf_puts(out, "ERR usage: explain <qname> <client>[/len] [qtype]\n");
        return;
    }
    char name[DNAME_MAXTEXT + 1];
    if (canon_arg("qname", w[1], name, out))
        return;
    steer_client_t cl;
    const char *client = w[2];
    const char *slash = strchr(client, '/');
    size_t alen = slash ? (size_t)(slash - client) : strlen(client);
    if (steer_client_parse(client, strlen(client), client, alen, &cl) != 0) {
        buf_printf(out, "ERR client '%s' is not an address or prefix\n", client);
        return;
    }
    const char *qtype = n == 4 ? w[3] : "ANY";
    snap_slot_t *slot;
    const snap_t *s = pin(out, &slot);
    if (!s)
        return;
    const zone_t *z = snap_zone_for(s, name, strlen(name));
    const zone_node_t *node =
        z ? zone_find(z, name, strlen(name), dname_hash(name, strlen(name))) : NULL;
    if (!node) {
        buf_printf(out, "ERR %s: no such name in any zone\n", name);
    } else {
        char buf[INET6_ADDRSTRLEN];
        inet_ntop(cl.family, cl.addr, buf, sizeof(buf));
        buf_printf(out, "OK explain %s %s for %s\n", name, qtype, client);
        buf_printf(out, "client: %s/%u%s\n", buf, cl.source_len,
                   cl.from_remote ? " (ECS source /0: decided on the resolver address)" : "");
        if (s->world->geo) {
            struct sockaddr_storage ss;
            geo_result_t g;
            if (parse_ip(buf, &ss) == 0) {
                int rc = geo_db_lookup(s->world->geo, (struct sockaddr *)&ss, &g);
                buf_puts(out, "geoip: ");
                if (rc != 0)
                    buf_puts(out, "not in the database; ");
                put_geo(out, &g);
                buf_putc(out, '\n');
            }
            put_db_info(out, "geoip database", s->world->geo, s->world->geo_max_age_days);
        } else {
            buf_puts(out, "geoip: no database configured\n");
        }
        bool any = strcasecmp(qtype, "ANY") == 0, found = false;
        for (uint32_t i = 0; i < node->nrecs; i++) {
            const zone_rec_t *rec = &node->recs[i];
            if (rec->prog && (any || strcasecmp(rec->dyn_type->name, qtype) == 0)) {
                const char *policy = luac_prog_policy(rec->prog);
                if (policy)
                    explain_record(out, s, node, rec, policy, &cl);
                else
                    explain_prog(out, s, node, rec, &cl);
                found = true;
            }
        }
        if (!found)
            buf_printf(out,
                       "static: %s has no dynamic record%s; it is answered from the zone at "
                       "scope /0\n",
                       name, any ? "" : " of that type");
    }
    snap_unpin(slot);
    snap_slot_put(slot);
}

static void put_time(buf_t *out, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    buf_printf(out, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
               tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* One check's line for `health`: id, type, target, state, streak, RTT, error. */
static void put_check(buf_t *out, uint64_t id, const char *type, const char *target,
                      const hstate_value_t *v, int64_t now_ms)
{
    buf_printf(out, "check %016llx %s %s: %s", (unsigned long long)id, type, target,
               probe_word(v->state));
    if (v->since_ms) {
        buf_puts(out, " since ");
        put_time(out, v->since_ms);
        buf_printf(out, " (%lld s)", (long long)((now_ms - v->since_ms) / 1000));
    }
    if (v->results)
        buf_printf(out, ", %u %s in a row, last rtt %.1f ms, last check %.1f s ago", v->consecutive,
                   v->last_ok ? (v->consecutive == 1 ? "success" : "successes")
                              : (v->consecutive == 1 ? "failure" : "failures"),
                   v->rtt_us / 1000.0, (now_ms - v->checked_ms) / 1000.0);
    else
        buf_puts(out, ", no result yet");
    if (v->error[0])
        buf_printf(out, ", last error: %s", v->error);
    buf_putc(out, '\n');
}

static void health_endpoint(buf_t *out, const snap_world_t *w, uint32_t e, int64_t now_ms)
{
    const steer_t *st = w->steer;
    steer_admin_t adm = w->admin;
    adm.now = now_ms / 1000;
    steer_admin_state_t a = steer_admin_get(&adm, e);
    buf_printf(out, "endpoint %s: %s", steer_endpoint_name(st, e),
               health_endpoint_word(w->health, e));
    if (a != STEER_ADMIN_NONE)
        buf_printf(out, ", override: %s%s", admin_name(a),
                   a == STEER_ADMIN_FORCE_UP ? " (health ignored)" : " (out of rotation)");
    buf_putc(out, '\n');
    for (size_t i = 0;; i++) {
        uint64_t id;
        const plan_check_t *c;
        hstate_value_t v;
        size_t n = health_endpoint_check(w->health, e, i, &id, &c, &v);
        if (i >= n)
            break;
        char target[64] = "?";
        if (c)
            plan_target(c, target, sizeof(target));
        buf_puts(out, "  ");
        put_check(out, id, c ? plan_type_name(c->type) : "?", target, &v, now_ms);
    }
}

typedef struct {
    buf_t *out;
    const snap_t *s;
    const zone_node_t *node;
    const luac_prog_t *prog;
    int64_t now_ms;
    size_t shown;
} lua_health_t;

static void health_lua_one(void *ctx, const luac_sel_t *sel, const luac_item_t *it)
{
    lua_health_t *lh = ctx;
    if (!lh->shown++)
        buf_puts(lh->out, "LUA records:\n");
    char target[300];
    if (sel->kind == LUAC_IFPORTUP)
        snprintf(target, sizeof(target), "%s port %u", it->value, sel->port);
    else
        snprintf(target, sizeof(target), "%s via %s", sel->url, it->value);
    hstate_value_t v;
    health_check_value(lh->s->world->health, it->check, &v);
    buf_printf(lh->out, "  %s %s ", lh->node->name, lh->prog->type->name);
    put_check(lh->out, it->check,
              sel->kind == LUAC_IFPORTUP ? "tcp"
              : sel->https               ? "https"
                                         : "http",
              target, &v, lh->now_ms);
}

/* The checks of the compiled LUA records of every served zone: one line per
 * name and address (an address checked by two records shows under both). */
static void health_lua(buf_t *out, const snap_t *s, int64_t now_ms)
{
    lua_health_t lh = {.out = out, .s = s, .now_ms = now_ms};
    for (size_t z = 0; z < s->nzones; z++)
        for (size_t i = 0; i < s->zones[z]->nnodes; i++) {
            lh.node = &s->zones[z]->nodes[i];
            for (uint32_t r = 0; lh.node->dynamic && r < lh.node->nrecs; r++)
                if ((lh.prog = lh.node->recs[r].prog))
                    luac_each_check(lh.prog, health_lua_one, &lh);
        }
}

static void health_cmd(char **w, int n, buf_t *out)
{
    if (n > 2) {
        buf_puts(out, "ERR usage: health [endpoint]\n");
        return;
    }
    snap_slot_t *slot;
    const snap_t *s = pin(out, &slot);
    if (!s)
        return;
    const snap_world_t *wd = s->world;
    int32_t only = -1;
    if (n == 2 && (!wd->steer || (only = steer_endpoint_find(wd->steer, w[1])) < 0)) {
        buf_printf(out, "ERR no endpoint '%s' in the loaded config\n", w[1]);
    } else {
        buf_puts(out, "OK health\n");
        put_probe(out);
        int64_t now_ms = hstate_now_real_ms();
        for (size_t e = 0; wd->steer && e < steer_endpoint_count(wd->steer); e++)
            if (only < 0 || (uint32_t)only == e)
                health_endpoint(out, wd, (uint32_t)e, now_ms);
        if (only < 0)
            health_lua(out, s, now_ms);
    }
    snap_unpin(slot);
    snap_slot_put(slot);
}

static void lua_check_cmd(char **w, int n, buf_t *out)
{
    char name[DNAME_MAXTEXT + 1];
    if (n != 2) {
        buf_puts(out, "ERR usage: lua-check <zone>\n");
        return;
    }
    if (canon_arg("zone", w[1], name, out))
        return;
    snap_slot_t *slot;
    const snap_t *s = pin(out, &slot);
    if (!s)
        return;
    const zone_t *z = snap_zone_by_name(s, name, strlen(name));
    if (!z) {
        buf_printf(out, "ERR no zone %s\n", name);
    } else {
        buf_t body;
        buf_init(&body);
        unsigned total = 0, bad = 0;
        for (size_t i = 0; i < z->nnodes; i++)
            for (uint32_t r = 0; r < z->nodes[i].nrecs; r++) {
                const zone_rec_t *rec = &z->nodes[i].recs[r];
                if (rec->type->kind != RR_KIND_LUA)
                    continue;
                total++;
                bad += !luacheck_record(z->nodes[i].name, rec->content, &body);
            }
        luacheck_summary(out, name, total, bad, &body);
        buf_free(&body);
    }
    snap_unpin(slot);
    snap_slot_put(slot);
}

/* ---- zone load ------------------------------------------------------------------- */

#define ZONE_LOAD_MAX_REASONS 1000

/* Sends one request to the private connection `c`; true when the reply's
 * result is true, else the first "log" line (or a generic text) is put in
 * `why`. */
static bool rb_call(rb_conn_t *c, json_t *req, char *why, size_t whysz)
{
    char *line = mem_check(json_dumps(req, JSON_COMPACT));
    json_decref(req);
    const buf_t *reply = rb_handle(c, line, strlen(line));
    free(line);
    json_t *rep = json_loadb(reply->data, reply->len, 0, NULL);
    bool ok = json_is_true(json_object_get(rep, "result"));
    if (!ok) {
        json_t *log = json_array_get(json_object_get(rep, "log"), 0);
        snprintf(why, whysz, "%s", json_is_string(log) ? json_string_value(log) : "refused");
    }
    json_decref(rep);
    return ok;
}

/* The reason of a method's refusal without its "method: " prefix. */
static const char *strip_method(const char *why, const char *method)
{
    size_t n = strlen(method);
    return strncmp(why, method, n) == 0 && why[n] == ':' && why[n + 1] == ' ' ? why + n + 2 : why;
}

/* zone load <zone> <file>: the records of a zone file replace the zone's,
 * all or nothing, through the very requests `pdnsutil load-zone` sends
 * (startTransaction with the zone id, one feedRecord per record,
 * commitTransaction) on a private connection, so each record gets exactly
 * the validation and compilation of a pdnsutil write. Unlike pdnsutil, every
 * refused record is reported ("FILE:LINE: reason") and anything refused
 * means nothing is committed. The file is read by geosteerd itself (the CLI
 * sends an absolute path), with the zone-file reader of `lua-check`. */
/* What feeding a zone file into a transaction came to. */
typedef struct {
    unsigned records, bad;
    const char *stopped; /* why the file was not read to its end, or "" */
    buf_t reasons;       /* one line per refusal, the first ZONE_LOAD_MAX_REASONS */
} load_feed_t;

/* Sends every record of `zf` as a feedRecord inside the transaction open on
 * `c`, exactly as pdnsutil load-zone would, and counts what was refused
 * (by the reader or by the write checks) with its line. A read error ends
 * the feed. */
static void load_feed(rb_conn_t *c, luacheck_zf_t *zf, const char *file, json_int_t trxid,
                      load_feed_t *f)
{
    char why[1024];
    gs_err_t e;
    while (!*f->stopped) {
        luacheck_zrec_t rec;
        int rc = luacheck_zf_next(zf, &rec, &e);
        if (rc == 0)
            return;
        if (rc < 0 && rc != GS_EINVAL) {
            buf_printf(&f->reasons, "%s\n", e.text);
            f->bad++;
            f->stopped = " (the file could not be read to its end)";
            return;
        }
        if (rc == GS_EINVAL) {
            if (++f->bad <= ZONE_LOAD_MAX_REASONS)
                buf_printf(&f->reasons, "%s\n", e.text);
            continue;
        }
        f->records++;
        json_t *req =
            json_pack("{s:s, s:{s:{s:s, s:s, s:s, s:I, s:b}, s:I}}", "method", "feedRecord",
                      "parameters", "rr", "qname", rec.owner, "qtype", rec.type, "content",
                      rec.content, "ttl", (json_int_t)rec.ttl, "auth", 1, "trxid", trxid);
        if (!req)
            snprintf(why, sizeof(why), "feedRecord: the record is not valid UTF-8");
        else if (rb_call(c, req, why, sizeof(why)))
            continue;
        if (++f->bad <= ZONE_LOAD_MAX_REASONS)
            buf_printf(&f->reasons, "%s:%u: %s\n", file, rec.line, strip_method(why, "feedRecord"));
    }
}

/* Ends the load: a feed with any refusal is aborted whole (and remembered
 * for `status` like a refused commit), else committed. Writes the reply. */
static void load_finish(rb_conn_t *c, int64_t id, const char *zone, const char *file,
                        json_int_t trxid, load_feed_t *f, buf_t *out)
{
    char why[1024];
    if (f->bad) {
        rb_call(c, json_pack("{s:s, s:{}}", "method", "abortTransaction", "parameters"), why,
                sizeof(why));
        if (f->bad > ZONE_LOAD_MAX_REASONS)
            buf_printf(&f->reasons, "... and %u more\n", f->bad - ZONE_LOAD_MAX_REASONS);
        char summary[700];
        snprintf(summary, sizeof(summary), "%s: %u refused of %u records read%s; first: %.400s",
                 file, f->bad, f->records, f->stopped, f->reasons.data);
        summary[strcspn(summary, "\n")] = '\0';
        state_write_refused(id, "zone load", GS_EINVAL, summary);
        buf_printf(out,
                   "ERR zone load %s: %s: %u refused of %u records read%s, nothing changed:\n%s",
                   zone, file, f->bad, f->records, f->stopped, f->reasons.data);
    } else if (!rb_call(c,
                        json_pack("{s:s, s:{s:I}}", "method", "commitTransaction", "parameters",
                                  "trxid", trxid),
                        why, sizeof(why))) {
        /* Refused by the commit (conflicts between records, the store):
         * state_commit has logged it and noted it for `status`. */
        buf_printf(out, "ERR zone load %s: %s: %s; nothing changed\n", zone, file,
                   strip_method(why, "commitTransaction"));
    } else {
        buf_printf(out, "OK zone %s loaded from %s: %u records\n", zone, file, f->records);
    }
}

/* zone load <zone> <file>: the file is read here, by geosteerd, and replayed
 * through the remote-backend requests pdnsutil load-zone sends (on a
 * connection of its own), so a load passes exactly the checks of any other
 * write and is committed or refused whole. */
static void zone_load(char **w, int n, buf_t *out)
{
    if (n != 4) {
        buf_puts(out, "ERR usage: zone load <zone> <file>\n");
        return;
    }
    char zone[DNAME_MAXTEXT + 1];
    if (canon_arg("zone", w[2], zone, out))
        return;
    const char *file = w[3];
    if (file[0] != '/') {
        buf_printf(out,
                   "ERR zone load: '%s' is not an absolute path (geosteerd reads the file; "
                   "'geosteer zone load' makes paths absolute)\n",
                   file);
        return;
    }
    snap_slot_t *slot;
    const snap_t *s = pin(out, &slot);
    if (!s)
        return;
    const zone_t *z = snap_zone_by_name(s, zone, strlen(zone));
    int64_t id = z ? z->id : -1;
    snap_unpin(slot);
    snap_slot_put(slot);
    if (id < 0) {
        buf_printf(out, "ERR zone load: no zone %s (create it with 'zone create')\n", zone);
        return;
    }
    luacheck_zf_t *zf;
    gs_err_t e;
    if (luacheck_zf_open(file, zone, &zf, &e) != 0) {
        buf_printf(out, "ERR zone load %s: cannot read %s\n", zone, e.text);
        return;
    }
    rb_conn_t *c = rb_conn_new();
    if (!c) {
        luacheck_zf_close(zf);
        buf_puts(out, "ERR too many concurrent readers, try again\n");
        return;
    }
    json_int_t trxid = (json_int_t)time(NULL);
    load_feed_t f = {.stopped = ""};
    buf_init(&f.reasons);
    char why[1024];
    if (!rb_call(c,
                 json_pack("{s:s, s:{s:s, s:I, s:I}}", "method", "startTransaction", "parameters",
                           "domain", zone, "domain_id", (json_int_t)id, "trxid", trxid),
                 why, sizeof(why))) {
        buf_printf(&f.reasons, "%s\n", why);
        f.bad++;
        f.stopped = " (no transaction could be started)";
    }
    load_feed(c, zf, file, trxid, &f);
    luacheck_zf_close(zf);
    load_finish(c, id, zone, file, trxid, &f, out);
    buf_free(&f.reasons);
    rb_conn_free(c);
}

/* "OK" and the Prometheus exposition (geosteer metrics prints it without
 * the OK line). */
static void metrics(buf_t *out)
{
    snap_slot_t *slot;
    const snap_t *s = pin(out, &slot);
    if (!s)
        return;
    buf_puts(out, "OK\n");
    exposition_render(out, s);
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
    else if (strcmp(w[0], "drain") == 0 || strcmp(w[0], "undrain") == 0 ||
             strcmp(w[0], "force-up") == 0 || strcmp(w[0], "force-down") == 0)
        override_cmd(w, n, out);
    else if (strcmp(w[0], "reload") == 0 && n == 1)
        reload(out);
    else if (strcmp(w[0], "geoip") == 0)
        geoip(w, n, out);
    else if (strcmp(w[0], "explain") == 0)
        explain(w, n, out);
    else if (strcmp(w[0], "lua-check") == 0)
        lua_check_cmd(w, n, out);
    else if (strcmp(w[0], "health") == 0)
        health_cmd(w, n, out);
    else if (strcmp(w[0], "status") == 0 && n == 1)
        status(out);
    else if (strcmp(w[0], "status") == 0 && n == 2 && strcmp(w[1], "--json") == 0)
        status_json(out);
    else if (strcmp(w[0], "metrics") == 0 && n == 1)
        metrics(out);
    else if (strcmp(w[0], "zone") == 0 && n >= 2 && strcmp(w[1], "list") == 0 && n == 2)
        zone_list(out);
    else if (strcmp(w[0], "zone") == 0 && n >= 2 && strcmp(w[1], "create") == 0)
        zone_create(w, n, out);
    else if (strcmp(w[0], "zone") == 0 && n >= 2 && strcmp(w[1], "set-kind") == 0)
        zone_set_kind(w, n, out);
    else if (strcmp(w[0], "zone") == 0 && n >= 2 && strcmp(w[1], "set-primaries") == 0)
        zone_set_primaries(w, n, out);
    else if (strcmp(w[0], "autoprimary") == 0)
        autoprimary_cmd(w, n, out);
    else if (strcmp(w[0], "zone") == 0 && n >= 2 && strcmp(w[1], "delete") == 0)
        zone_delete(w, n, out);
    else if (strcmp(w[0], "zone") == 0 && n >= 2 && strcmp(w[1], "load") == 0)
        zone_load(w, n, out);
    else
        buf_printf(out, "ERR unknown command '%s'; try 'help'\n", n ? w[0] : "");
    free(store);
}
