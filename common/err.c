#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *gs_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
    case GS_EINVAL:
        return "invalid argument";
    case GS_ENOTFOUND:
        return "not found";
    case GS_EEXIST:
        return "already exists";
    case GS_ESTORE:
        return "zone store error";
    case GS_ECONFLICT:
        return "conflicts with existing data";
    case GS_ETOOBIG:
        return "too big";
    case GS_ESCHEMA:
        return "unsupported zone store schema";
    case GS_ECONFIG:
        return "invalid configuration";
    default:
        if (code < 0 && code > -1000)
            return strerror(-code);
        return "unknown error";
    }
}

int gs_err_set(gs_err_t *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->text, sizeof(err->text), fmt, ap);
        va_end(ap);
    }
    return code;
}
