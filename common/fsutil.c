/* File-system helpers (common/fsutil.h). */
#include "common/fsutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* The directory part of `path` ("." when it has none), owned. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return mem_strdup(".");
    if (slash == path)
        return mem_strdup("/");
    char *d = mem_strdup(path);
    d[slash - path] = '\0';
    return d;
}

int gs_replace_begin(const char *path, mode_t mode, gs_replace_t *r, gs_err_t *err)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    char *dir = dir_of(path);
    size_t cap = strlen(dir) + strlen(name) + 16;
    r->tmp = mem_alloc(cap);
    snprintf(r->tmp, cap, "%s/.%s.new.XXXXXX", dir, name);
    r->fd = mkostemp(r->tmp, O_CLOEXEC);
    if (r->fd < 0 || fchmod(r->fd, mode) != 0) {
        int rc = -errno;
        gs_err_set(err, rc, "cannot create a temporary file in '%s': %s", dir, strerror(-rc));
        if (r->fd >= 0) {
            close(r->fd);
            unlink(r->tmp);
        }
        free(r->tmp);
        free(dir);
        r->tmp = NULL;
        r->fd = -1;
        return rc;
    }
    free(dir);
    r->path = mem_strdup(path);
    return 0;
}

int gs_replace_write(gs_replace_t *r, const void *data, size_t len, gs_err_t *err)
{
    const char *p = data;
    while (len > 0) {
        ssize_t k = write(r->fd, p, len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            int rc = -errno;
            return gs_err_set(err, rc, "cannot write '%s': %s", r->tmp, strerror(-rc));
        }
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

static void replace_free(gs_replace_t *r)
{
    free(r->tmp);
    free(r->path);
    r->tmp = r->path = NULL;
    r->fd = -1;
}

void gs_replace_abort(gs_replace_t *r)
{
    if (r->fd >= 0)
        close(r->fd);
    if (r->tmp)
        unlink(r->tmp);
    replace_free(r);
}

int gs_replace_commit(gs_replace_t *r, gs_err_t *err)
{
    int rc = 0;
    const char *step = "fsync";
    if (fsync(r->fd) != 0)
        rc = -errno;
    if (close(r->fd) != 0 && rc == 0) {
        rc = -errno;
        step = "close";
    }
    r->fd = -1;
    if (rc == 0 && rename(r->tmp, r->path) != 0) {
        rc = -errno;
        step = "rename";
    }
    if (rc != 0) {
        gs_err_set(err, rc, "cannot replace '%s' (%s of '%s'): %s", r->path, step, r->tmp,
                   strerror(-rc));
        gs_replace_abort(r);
        return rc;
    }
    /* The rename is durable once the directory entry is on disk. */
    char *dir = dir_of(r->path);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        rc = -errno;
        gs_err_set(err, rc, "replaced '%s', but cannot fsync its directory '%s': %s", r->path, dir,
                   strerror(-rc));
    }
    if (dfd >= 0)
        close(dfd);
    free(dir);
    replace_free(r);
    return rc;
}

int gs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, gs_err_t *err)
{
    gs_replace_t r;
    int rc = gs_replace_begin(path, mode, &r, err);
    if (rc != 0)
        return rc;
    if ((rc = gs_replace_write(&r, data, len, err)) != 0) {
        gs_replace_abort(&r);
        return rc;
    }
    return gs_replace_commit(&r, err);
}
