#include "backend/config.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "common/compiler.h"
#include "common/err.h"
#include "common/mem.h"

void cfg_defaults(cfg_t *cfg)
{
    cfg->socket = mem_strdup(CFG_DEFAULT_SOCKET);
    cfg->zone_db = mem_strdup(CFG_DEFAULT_ZONE_DB);
    cfg->socket_mode = 0660;
    cfg->max_connections = 256;
    cfg->log_level = LOG_INFO;
}

void cfg_free(cfg_t *cfg)
{
    free(cfg->socket);
    free(cfg->zone_db);
    cfg->socket = cfg->zone_db = NULL;
}

int cfg_log_level(const char *name)
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

typedef struct {
    const char *file;
    buf_t *errors;
    int count;
} ctx_t;

static void error(ctx_t *x, const char *path, const char *fmt, ...) GS_PRINTF(3, 4);
static void error(ctx_t *x, const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    buf_printf(x->errors, "%s: error: %s: %s\n", x->file, path, msg);
    x->count++;
}

/* Short JSON text of `v` for error messages, written into `tmp`. */
static const char *json_dumps_short(json_t *v, char tmp[64])
{
    size_t n = json_dumpb(v, tmp, 63, JSON_COMPACT | JSON_ENCODE_ANY);
    if (n > 63) {
        memcpy(tmp + 56, "...", 4);
        n = 59;
    }
    tmp[n] = '\0';
    return tmp;
}

static void set_path(ctx_t *x, json_t *v, const char *path, char **dst)
{
    if (!json_is_string(v) || json_string_length(v) == 0) {
        error(x, path, "must be a non-empty string (an absolute path)");
        return;
    }
    if (json_string_value(v)[0] != '/') {
        error(x, path, "must be an absolute path, got '%s'", json_string_value(v));
        return;
    }
    free(*dst);
    *dst = mem_strdup(json_string_value(v));
}

static void settings(ctx_t *x, json_t *s, cfg_t *cfg)
{
    if (!json_is_object(s)) {
        error(x, "settings", "must be an object");
        return;
    }
    const char *key;
    json_t *v;
    json_object_foreach(s, key, v)
    {
        char path[128], tmp[64];
        snprintf(path, sizeof(path), "settings.%.100s", key);
        if (strcmp(key, "socket") == 0) {
            set_path(x, v, path, &cfg->socket);
        } else if (strcmp(key, "zone_db") == 0) {
            set_path(x, v, path, &cfg->zone_db);
        } else if (strcmp(key, "socket_mode") == 0) {
            const char *m = json_string_value(v);
            char *end = NULL;
            long mode = m ? strtol(m, &end, 8) : -1;
            if (!m || !*m || *end || mode < 0 || mode > 0777 || (mode & 0600) != 0600)
                error(x, path,
                      "must be an octal mode string from \"0600\" to \"0777\" that lets the owner "
                      "read and write, got %s",
                      json_dumps_short(v, tmp));
            else
                cfg->socket_mode = (mode_t)mode;
        } else if (strcmp(key, "max_connections") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 4 || json_integer_value(v) > 1000)
                error(x, path, "must be an integer in 4..1000, got %s", json_dumps_short(v, tmp));
            else
                cfg->max_connections = (unsigned)json_integer_value(v);
        } else if (strcmp(key, "log_level") == 0) {
            int lvl = json_is_string(v) ? cfg_log_level(json_string_value(v)) : -1;
            if (lvl < 0)
                error(x, path,
                      "must be one of \"error\", \"warning\", \"notice\", \"info\", "
                      "\"debug\", got %s",
                      json_dumps_short(v, tmp));
            else
                cfg->log_level = lvl;
        } else {
            error(x, path,
                  "unknown key (expected socket, socket_mode, zone_db, max_connections, "
                  "log_level)");
        }
    }
}

int cfg_load(const char *path, cfg_t *cfg, buf_t *errors)
{
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (je.line > 0)
            buf_printf(errors, "%s:%d:%d: error: %s\n", path, je.line, je.column, je.text);
        else
            buf_printf(errors, "%s: error: %s\n", path, je.text);
        return GS_ECONFIG;
    }
    ctx_t x = {.file = path, .errors = errors};
    if (!json_is_object(root)) {
        error(&x, "(top level)", "must be an object");
    } else {
        const char *key;
        json_t *v;
        json_object_foreach(root, key, v)
        {
            if (strcmp(key, "settings") == 0)
                settings(&x, v, cfg);
            else
                error(&x, key, "unknown key (expected settings)");
        }
    }
    json_decref(root);
    return x.count ? GS_ECONFIG : 0;
}
