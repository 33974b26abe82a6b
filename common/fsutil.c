/* File-system helpers (common/fsutil.h). */
#include "common/fsutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/mem.h"

/* Creates `dir` (modified in place while walking, restored on return). */
static int mkdir_walk(char *dir, mode_t mode, gs_err_t *err)
{
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(dir, mode) != 0 && errno != EEXIST) {
            int rc = -errno;
            gs_err_set(err, rc, "cannot create directory '%s': %s", dir, strerror(-rc));
            *p = saved;
            return rc;
        }
        *p = saved;
        if (!saved)
            return 0;
    }
}

int gs_mkdir_p(const char *dir, mode_t mode, gs_err_t *err)
{
    if (!*dir)
        return 0;
    char *d = mem_strdup(dir);
    int rc = mkdir_walk(d, mode, err);
    free(d);
    return rc;
}

int gs_mkdir_parent(const char *path, mode_t mode, gs_err_t *err)
{
    char *d = mem_strdup(path);
    char *slash = strrchr(d, '/');
    int rc = 0;
    if (slash && slash != d) {
        *slash = '\0';
        rc = mkdir_walk(d, mode, err);
    }
    free(d);
    return rc;
}
