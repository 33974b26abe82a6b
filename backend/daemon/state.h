/* The daemon's single writer. It owns the zone store and is the only code
 * that publishes snapshots: every change (a pdnsutil commit, zone create or
 * delete, metadata) runs here under one mutex, is committed to SQLite first
 * and then served, so what is served is always what is on disk.
 * Any connection thread may call these; they serialise on the writer lock,
 * which lookups never take. Call state_open once before serving and
 * state_close after the last connection thread has exited. */
#ifndef GS_DAEMON_STATE_H
#define GS_DAEMON_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "backend/steering/luac.h"
#include "backend/zones/snap.h"
#include "backend/zones/store.h"
#include "backend/zones/trx.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/compiler.h"

/* Opens the store at `db_path` and publishes every zone in it. Zones with
 * invalid stored rows are served without those rows (logged). */
GS_WARN_UNUSED int state_open(const char *db_path, gs_err_t *err);

/* Closes the store and frees every snapshot. */
void state_close(void);

/* Applies the transaction to the store and the served state atomically:
 * all of it or (on any refusal or store error) none of it. Returns 0, or an
 * error with the reason in `err`; a refused or failed commit is logged
 * (warning or error, rate-limited) with the zone, the reason and the record
 * it names, and remembered for state_write_failures_each. The transaction
 * is not cleared. */
GS_WARN_UNUSED int state_commit(const trx_t *trx, gs_err_t *err);

/* Logs and remembers, like a refused commit, a write to zone `zone_id`
 * that was refused before any commit (`what`, a static string: "write" for
 * a refused replaceRRSet or feedRecord, "zone load"), with rc as in the
 * commit (GS_EINVAL: refused). Any thread; takes the writer lock. */
void state_write_refused(int64_t zone_id, const char *what, int rc, const char *reason);

/* Calls `fn` for the last failed or refused write of each zone since
 * start-up: zone name, what it was ("write", "commit", "zone load",
 * "metadata"), time (seconds since the epoch), reason, and the time of a
 * later successful commit of the zone (0: none since). Under the writer
 * lock; `fn` must not call back into state. A zone's entry goes with the
 * zone. */
typedef void (*state_fail_fn)(void *ctx, const char *zone, const char *what, int64_t at,
                              const char *reason, int64_t ok_at);
void state_write_failures_each(state_fail_fn fn, void *ctx);

typedef struct {
    const char *const *ns; /* canonical names of the apex NS records */
    size_t nns;
    const char *mname; /* SOA primary (canonical); default: first NS or ns1.<zone> */
    const char *rname; /* SOA mailbox (canonical); default: hostmaster.<zone> */
    uint32_t serial;   /* 0: today's date as YYYYMMDD01 */
    uint32_t refresh, retry, expire, minimum, ttl;
    int kind;            /* store_kind_t; default native */
    const char *masters; /* a secondary's primaries (state_masters_canon), or NULL */
} state_zone_opts_t;

/* Fills `o` with the defaults used by `zone create`. */
void state_zone_opts_default(state_zone_opts_t *o);

/* Creates zone `name` (canonical) with an SOA and NS records; a secondary
 * zone (o->kind) is created empty, its records come by transfer. */
GS_WARN_UNUSED int state_zone_create(const char *name, const state_zone_opts_t *o, int64_t *id,
                                     gs_err_t *err);

/* Deletes zone `name` (canonical) with all its records and metadata. */
GS_WARN_UNUSED int state_zone_delete(const char *name, gs_err_t *err);

/* Sets the kind (store_kind_t) of zone `name` (canonical). */
GS_WARN_UNUSED int state_zone_set_kind(const char *name, int kind, gs_err_t *err);

/* Records that pdns sent NOTIFYs for `serial` of zone `z` (the remote
 * backend's setNotified; `z` from the caller's pinned snapshot): served at
 * once, stored by the next state_flush_repl. Never waits for the writer
 * lock, as none of the calls pdns's communicator thread makes may (pdns
 * exits when one outlasts its timeout). */
void state_zone_notified(zone_t *z, uint32_t serial);

/* ---- the secondary side (doc/replication.md) ---- */

/* Parses a list of primaries (ADDR, ADDR:PORT, [V6]:PORT; separated by
 * spaces or commas) into `out`, canonical and space-separated, port 53
 * left out. GS_EINVAL with the reason for anything else. */
GS_WARN_UNUSED int state_masters_canon(const char *in, buf_t *out, gs_err_t *err);

/* Sets the primaries of zone `name` (canonical; `masters` from
 * state_masters_canon, or "" for none). */
GS_WARN_UNUSED int state_zone_set_masters(const char *name, const char *masters, gs_err_t *err);

/* pdns's setFresh: a freshness check of secondary zone `z` (from the
 * caller's pinned snapshot) reached a primary (also after each transfer).
 * Restarts its SOA expire clock, stored by the next state_flush_repl.
 * Never waits for the writer lock (see state_zone_notified). */
void state_zone_fresh(zone_t *z);

/* pdns's setStale: zone `zone_id` is due for a freshness check. */
void state_zone_stale(int64_t zone_id);

/* Writes the notified serials and refresh times recorded since the last
 * call to the zone store, in one transaction (a failure is logged and
 * tried again at the next call). Called every second by the main thread,
 * and by state_close. */
void state_flush_repl(void);

/* A secondary zone's replication as this process has seen it. */
typedef struct {
    int64_t checked_at; /* last setFresh (seconds since the epoch); 0: due */
    int64_t xfr_at;     /* end of the last transfer; 0: none since start */
    uint32_t xfr_serial;
    bool xfr_ok;
    char reason[512]; /* why the last transfer was refused ("" if it was not) */
} state_repl_info_t;

/* Fills `out` (zeroed when nothing is known) and returns whether there was
 * anything. */
bool state_repl_info(int64_t zone_id, state_repl_info_t *out);

/* The state `status` and `zone list` give secondary zone `z` at `now`, with
 * `ri` from state_repl_info: "empty" (no transfer yet), "expired",
 * "behind" (its last transfer was refused) or "serving". */
const char *state_secondary_state(const zone_t *z, const state_repl_info_t *ri, int64_t now);

/* Whether secondary zone `z` has expired at `now`: no contact with a primary
 * for longer than its SOA expire. An expired zone is not answered (pdns
 * then answers REFUSED), but is still transferred. Lock-free. */
bool state_zone_expired(const zone_t *z, int64_t now);

/* Autoprimaries, in the zone store: add (replacing one with the same ip
 * and nameserver), remove (GS_ENOTFOUND if absent), and list (from a copy
 * kept in memory: never waits for the writer lock; `fn` must not call
 * back into state). */
GS_WARN_UNUSED int state_autoprimary_add(const char *ip, const char *nameserver,
                                         const char *account, gs_err_t *err);
GS_WARN_UNUSED int state_autoprimary_remove(const char *ip, const char *nameserver, gs_err_t *err);
void state_autoprimaries_each(store_autoprimary_fn fn, void *ctx);

/* TSIG keys in the zone store (pdns's setTSIGKey, deleteTSIGKey,
 * getTSIGKey(s) with remote-dnssec=yes): name and algorithm canonical,
 * the secret base64. Logged by name, never with the secret. Reads (the key
 * `name`, or every key for NULL) come from a copy kept in memory and never
 * wait for the writer lock; `fn` must not call back into state. */
GS_WARN_UNUSED int state_tsig_set(const char *name, const char *algorithm, const char *secret,
                                  gs_err_t *err);
GS_WARN_UNUSED int state_tsig_delete(const char *name, gs_err_t *err);
void state_tsig_each(const char *name, store_tsig_fn fn, void *ctx);

/* DNSSEC keys (pdns's addDomainKey, activateDomainKey...; doc/dnssec.md):
 * `k` already checked (dnskey_check). Each change is one store commit,
 * after which the zone is republished with its keys and denial chain.
 * Steps that would break validation are refused (GS_EINVAL, the reason
 * naming the step to take first): activating an unpublished key,
 * unpublishing an active one, deactivating the last active one; an active
 * key must be added published. GS_ENOTFOUND: no such zone or key. Key
 * text is never logged. */
typedef enum {
    STATE_KEY_ACTIVATE,
    STATE_KEY_DEACTIVATE,
    STATE_KEY_PUBLISH,
    STATE_KEY_UNPUBLISH,
    STATE_KEY_REMOVE,
    STATE_KEY_ADD
} state_key_op_t;
GS_WARN_UNUSED int state_key_add(int64_t zone_id, const store_key_t *k, int64_t *id, gs_err_t *err);
GS_WARN_UNUSED int state_key_change(int64_t zone_id, int64_t key_id, state_key_op_t op,
                                    gs_err_t *err);

/* Replaces the values of metadata `kind` of zone `zone_id` (n == 0 deletes).
 * The kinds pdns reads for DNSSEC are checked first (NSEC3PARAM parses,
 * NSEC3NARROW and PUBLISH-CDNSKEY 0 or 1, PUBLISH-CDS digest types,
 * SOA-EDIT a known mode); PRESIGNED 1 is refused: geosteer zones are signed
 * live. */
GS_WARN_UNUSED int state_meta_set(int64_t zone_id, const char *kind, const char *const *values,
                                  size_t n, gs_err_t *err);

/* Loads geosteer.json at `path` (remembered for state_reload) with
 * cfg_load_all (the validation geosteerd --check runs: the file and every
 * file it names), compiles the steering engine and publishes it. Refused
 * (the running config keeps serving) when the file has errors (one line
 * each in `errors`), a file it names fails, or a LUA record of a served
 * zone could no longer be answered (state_check_steer, state_check_prog). */
GS_WARN_UNUSED int state_load_config(const char *path, buf_t *errors);

/* state_load_config for a config the caller has already read and validated
 * with cfg_load_all (`files`: the GeoIP files it opened, still the caller's
 * to close), so that geosteerd reads geosteer.json once at start-up. On
 * success `cfg` is taken over (left holding nothing); on failure it is
 * unchanged. */
GS_WARN_UNUSED int state_install_config(const char *path, cfg_t *cfg, cfg_files_t *files,
                                        buf_t *errors);

/* The runtime directory (check plan, health state file) used when the config
 * sets no settings.runtime_dir: the directory of the socket being served. */
void state_set_runtime_default(const char *dir);

/* Reloads the file given to the last state_load_config. */
GS_WARN_UNUSED int state_reload(buf_t *errors);

/* Sets (`state` "drain", "force-up", "force-down") or, with `state` NULL,
 * removes the operator override of endpoint `endpoint`, persisted in the zone
 * store and applied from the next lookup. `until` is an expiry (seconds since
 * the epoch) or 0. GS_ENOTFOUND for an endpoint the loaded config lacks, or
 * (removal) an endpoint without an override. */
GS_WARN_UNUSED int state_override(const char *endpoint, const char *state, int64_t until,
                                  gs_err_t *err);

/* Calls `fn` for every stored override, under the writer lock. */
void state_overrides_each(store_override_fn fn, void *ctx);

/* Reopens the GeoIP databases if one of the files was replaced on disk (new
 * inode, size or mtime, untouched for 2 s) and rebuilds the engine for the
 * config already loaded: geosteer.json is not read again (only
 * state_reload applies a changed one). A file that fails to load is logged
 * once per change and the old data keeps serving; the next change is tried
 * again. Called every second by the main thread. */
void state_check_geoip(void);

/* Follows the probe: maps a new health state file, re-evaluates its
 * heartbeat, logs endpoints whose health changed and asks pdns to purge
 * the names they answer (settings.pdns_control_socket). Called about once a
 * second by the main thread. */
void state_check_health(void);

/* Checks a steer record about to be written: policy `policy` must exist in
 * engine `st` (NULL: no config loaded) and answer `qtype` for every client.
 * Returns 0 or GS_EINVAL with the reason in `err`. Any thread. */
GS_WARN_UNUSED int state_check_steer(const steer_t *st, const char *policy, const rr_type_t *qtype,
                                     gs_err_t *err);

/* Checks a compiled LUA-record program against engine `st` (NULL: no
 * config loaded): every steer() inside it as state_check_steer does, and
 * every GeoIP function against the databases the engine was built with
 * (country/continent/region and pickclosest or a pickclosest selector need
 * settings.geoip.database, asnum settings.geoip.asn_database; without it
 * they would never match). Returns 0 or GS_EINVAL with the first reason. */
GS_WARN_UNUSED int state_check_prog(const steer_t *st, const luac_prog_t *p, gs_err_t *err);

/* The path (owned copy) and SHA-256 (hex, as `sha256sum` prints it) of
 * the geosteer.json serving now; false (NULL, "") when none is loaded. */
bool state_config_info(char **path, char digest[65]);

/* The live config's settings.metrics_listen (owned copy), or NULL. */
char *state_metrics_listen(void);

#endif
