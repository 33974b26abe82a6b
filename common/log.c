#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static atomic_int level = LOG_INFO;
static atomic_bool to_syslog = false;

/* stderr is the systemd journal when JOURNAL_STREAM names its device and
 * inode (systemd sets it for a unit's stdout/stderr; a redirect by a child
 * shell changes the inode, so the check cannot be fooled by inheritance).
 * The journal stamps time itself and reads the "<N>" prefix as the
 * priority (sd-daemon(3)). Decided once, on the first message. */
static pthread_once_t journal_once = PTHREAD_ONCE_INIT;
static bool to_journal;

static void detect_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    to_journal = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
                 (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_set_level(int lvl)
{
    atomic_store(&level, lvl);
}

int log_get_level(void)
{
    return atomic_load_explicit(&level, memory_order_relaxed);
}

void log_use_syslog(const char *ident)
{
    openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    atomic_store(&to_syslog, true);
}

static const char *prio_name(int prio)
{
    switch (prio) {
    case LOG_EMERG:
    case LOG_ALERT:
    case LOG_CRIT:
    case LOG_ERR:
        return "error";
    case LOG_WARNING:
        return "warning";
    case LOG_NOTICE:
        return "notice";
    case LOG_INFO:
        return "info";
    default:
        return "debug";
    }
}

void log_msg(int prio, const char *fmt, ...)
{
    if (prio > log_get_level())
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_text(prio, msg);
}

void log_text(int prio, const char *text)
{
    if (atomic_load(&to_syslog)) {
        syslog(prio, "%s", text);
        return;
    }
    pthread_once(&journal_once, detect_journal);
    if (to_journal) {
        fprintf(stderr, "<%d>%s\n", prio & LOG_PRIMASK, text);
        return;
    }
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            prio_name(prio), text);
}

bool log_limit_pass(log_limit_t *lim, uint32_t per_sec, uint32_t *suppressed)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    int64_t now = ts.tv_sec;
    *suppressed = 0;
    if (__atomic_load_n(&lim->window, __ATOMIC_RELAXED) != now) {
        __atomic_store_n(&lim->window, now, __ATOMIC_RELAXED);
        __atomic_store_n(&lim->count, 0, __ATOMIC_RELAXED);
    }
    if (__atomic_add_fetch(&lim->count, 1, __ATOMIC_RELAXED) > per_sec) {
        __atomic_add_fetch(&lim->suppressed, 1, __ATOMIC_RELAXED);
        return false;
    }
    *suppressed = __atomic_exchange_n(&lim->suppressed, 0, __ATOMIC_RELAXED);
    return true;
}

void log_assert_fail(const char *expr, const char *func, const char *file, int line)
{
    log_msg(LOG_CRIT, "assertion failed: %s in %s() at %s:%d", expr, func, file, line);
    abort();
}

int log_level_parse(const char *name)
{
    static const struct {
        const char *name;
        int level;
    } levels[] = {{"err", LOG_ERR},       {"error", LOG_ERR}, {"warning", LOG_WARNING},
                  {"notice", LOG_NOTICE}, {"info", LOG_INFO}, {"debug", LOG_DEBUG}};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (strcmp(levels[i].name, name) == 0)
            return levels[i].level;
    return -1;
}
