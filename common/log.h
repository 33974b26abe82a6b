/* Logging for the geosteer daemons and tools.
 * Every thread may log. Messages go to stderr with a timestamp (foreground,
 * tests), to stderr with an sd-daemon priority prefix ("<3>" ... "<7>") and
 * no timestamp when stderr is the systemd journal (JOURNAL_STREAM matches
 * it), or to syslog once log_use_syslog() was called. Messages at or below
 * the configured level are written; debug formatting is skipped when off.
 * Anything that can fire per request must go through LOG_RATELIMITED. */
#ifndef GS_COMMON_LOG_H
#define GS_COMMON_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

#include "common/compiler.h"

/* Sets the highest priority written (LOG_ERR .. LOG_DEBUG). Default LOG_INFO. */
void log_set_level(int level);

/* Parses a level name (err, error, warning, notice, info, debug) into a
 * syslog priority; -1 if unknown. */
int log_level_parse(const char *name);

/* Returns the current level; cheap, used to skip building debug messages. */
int log_get_level(void);

/* Sends later messages to syslog under `ident` instead of stderr. */
void log_use_syslog(const char *ident);

/* Writes one message at `prio`; a trailing newline is added. */
void log_msg(int prio, const char *fmt, ...) GS_PRINTF(2, 3);

/* Writes `text` (any length, no format, one line: it must hold no newline)
 * at `prio` as log_msg would, but whatever the configured level: for output
 * an operator asked for on its own (the decision log's "journal" target),
 * which a quiet log_level must not drop and a long line must not cut. */
void log_text(int prio, const char *text);

/* Returns true at most `per_sec` times per second for this limiter; callers
 * keep one limiter per message site. `suppressed` counts what was dropped
 * since the last true and is reset by it. Thread-safe (atomics). */
typedef struct {
    int64_t window;
    uint32_t count;
    uint32_t suppressed;
} log_limit_t;
bool log_limit_pass(log_limit_t *lim, uint32_t per_sec, uint32_t *suppressed);

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_get_level() >= LOG_DEBUG)                                                          \
            log_msg(LOG_DEBUG, __VA_ARGS__);                                                       \
    } while (0)

/* Logs at `prio` at most 5 times a second from this call site. */
#define LOG_RATELIMITED(prio, ...)                                                                 \
    do {                                                                                           \
        static log_limit_t lim_;                                                                   \
        uint32_t supp_;                                                                            \
        if (log_limit_pass(&lim_, 5, &supp_)) {                                                    \
            if (supp_)                                                                             \
                log_msg(prio, "(%u similar messages suppressed)", supp_);                          \
            log_msg(prio, __VA_ARGS__);                                                            \
        }                                                                                          \
    } while (0)

/* Logs "assertion failed" with the location and aborts. Used by GS_ASSERT. */
GS_NORETURN void log_assert_fail(const char *expr, const char *func, const char *file, int line);

/* Invariant check, always on: broken invariants are fatal (doc/design.md §12). */
#define GS_ASSERT(e) ((e) ? (void)0 : log_assert_fail(#e, __func__, __FILE__, __LINE__))

#endif
