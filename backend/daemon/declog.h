/* The decision log (settings.decision_log, doc/operations.md "The decision
 * log"): one JSON line per evaluated dynamic record (a steer() policy or a
 * compiled LUA program), sampled 1 in N and capped at M lines a second,
 * appended to a file or written to the daemon's log (the journal), so that
 * an operator can tell after the fact why a client got the answer it got.
 *
 * The lookup path calls declog_wanted() after each evaluation and, only when
 * it says yes, declog_write(). declog_wanted takes no lock, makes no system
 * call and allocates nothing: a thread-local counter decides the 1-in-N
 * sample, then a lock-free token bucket (one compare-and-swap on a shared
 * word, read against the vDSO's coarse monotonic clock) the per-second cap.
 * Everything else (GeoIP lookups, formatting, the write) happens for logged
 * decisions only.
 *
 * Output. A file target is opened O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC (a
 * file it creates gets mode 0640, whatever the umask), and each line goes
 * out in one write(2), so lines of different threads never interleave. The
 * descriptor the writers use keeps its number for the life of the process:
 * a new file (configure, reopen) is opened first and then dup3'ed over it,
 * and turning the log off dup3's /dev/null over it, so a writer racing with
 * either writes a whole line to the old file or to the new one, never to a
 * closed or reused descriptor. A failed or short write is counted and
 * logged rate-limited; the lookup goes on. The "journal" target writes each
 * line through log_text (common/log.h) at priority info, whatever
 * settings.log_level says.
 *
 * Threads: declog_wanted, declog_write and declog_stats from any thread;
 * declog_prepare/commit/abandon (config installs, under the state writer
 * lock) and declog_reopen (the main thread) serialise on a mutex of their
 * own. declog_format, declog_sample_pass and declog_bucket_take are pure
 * (the unit tests call them). */
#ifndef GS_DAEMON_DECLOG_H
#define GS_DAEMON_DECLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/steering/config.h"
#include "backend/steering/luaeval.h"
#include "backend/steering/steer.h"
#include "backend/zones/snap.h"
#include "backend/zones/zone.h"
#include "common/buf.h"
#include "common/err.h"

/* One evaluation of one dynamic record, as dyn_reply (rb.c) made it. Every
 * pointer is borrowed for the duration of the call. */
typedef struct {
    const snap_world_t *world; /* the pinned snapshot's world the decision read */
    const char *qname;         /* the name (canonical, as the zone holds it) */
    size_t qname_len;
    const char *qtype; /* the type pdns asked for ("ANY" more often than not) */
    size_t qtype_len;
    const char *remote; /* the resolver's address as pdns sent it (may be NULL) */
    size_t remote_len;
    const zone_rec_t *rec;        /* the dynamic record evaluated (rec->prog, rec->dyn_type) */
    const steer_client_t *client; /* who it was decided for */
    const luae_result_t *res;     /* the evaluation (res->scope is the scope answered) */
    uint32_t ttl;                 /* the TTL answered */
} declog_event_t;

/* A configuration about to be applied: the target opened, nothing switched. */
typedef struct {
    int fd;       /* the new file, or -1 (off, journal) */
    char *target; /* owned copy of cfg->decision_log, or NULL (off) */
    unsigned sample, max_per_second;
} declog_plan_t;

/* Opens what `cfg` asks for (its file created if missing) into `p` without
 * changing what is being logged. Returns 0, or -errno with the reason in
 * `err` ("settings.decision_log.target: /x/y: Permission denied"); `p` then
 * holds nothing. */
int declog_prepare(const cfg_t *cfg, declog_plan_t *p, gs_err_t *err);

/* Switches the log to `p` (taken over): off, journal or the file opened by
 * declog_prepare; the counters carry on. Logs the change when it is one. */
void declog_commit(declog_plan_t *p);

/* Releases a prepared plan that will not be committed. */
void declog_abandon(declog_plan_t *p);

/* Opens the file target again by its name and puts it under the writers'
 * descriptor (logrotate renamed the old file away: SIGUSR1, SIGHUP). Without
 * a file target, does nothing and returns 0. On failure (-errno, logged) the
 * old file keeps receiving the lines. */
int declog_reopen(void);

/* Lookup path: whether this decision is to be logged (see the header). */
bool declog_wanted(void);

/* Formats and writes the line of `ev` (declog_wanted said yes). Never
 * fails: a write error is counted and logged rate-limited. */
void declog_write(const declog_event_t *ev);

/* Appends the JSON object of `ev` (no newline) to `out`, stamped `unix_ms`
 * (milliseconds since the epoch). Looks the client up in the world's GeoIP
 * databases; every string is JSON-escaped. */
void declog_format(buf_t *out, const declog_event_t *ev, int64_t unix_ms);

/* 1 in n: true for the first call and then every n-th on the same counter
 * (n 0 or 1: always). */
bool declog_sample_pass(uint32_t *tick, uint32_t n);

/* A token bucket of `per_sec` tokens a second holding at most one second's
 * worth (GCRA: `tat` is the time at which the bucket is full again). True
 * when a token was taken at monotonic time `now_ns`. At most per_sec *
 * (1 + T) calls succeed over any T seconds. Lock-free (compare-and-swap). */
typedef struct {
    int64_t tat; /* accessed atomically */
} declog_bucket_t;
bool declog_bucket_take(declog_bucket_t *b, int64_t now_ns, uint32_t per_sec);

/* Counters since start-up, for status and metrics. */
typedef struct {
    const char *target;    /* "off", "journal" or "file" */
    uint64_t lines;        /* lines written */
    uint64_t rate_dropped; /* sampled decisions dropped by max_per_second */
    uint64_t write_errors; /* lines lost to failed or short writes */
} declog_stats_t;
void declog_stats(declog_stats_t *st);

#endif
