/* Small file-system helpers shared by the programs. Library code: returns
 * errors, never logs; any thread. */
#ifndef GS_COMMON_FSUTIL_H
#define GS_COMMON_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"
#include "common/compiler.h"

/* Creates directory `dir` and any missing parent with `mode` (as mkdir -p;
 * existing ones are left as they are). Returns 0, or -errno with
 * "cannot create directory 'D': reason" in `err`. */
GS_WARN_UNUSED int gs_mkdir_p(const char *dir, mode_t mode, gs_err_t *err);

/* gs_mkdir_p of the directory part of `path` (nothing when it has none). */
GS_WARN_UNUSED int gs_mkdir_parent(const char *path, mode_t mode, gs_err_t *err);

/* Replacing a file atomically: gs_replace_begin creates a temporary file
 * "<dir>/.<name>.new.XXXXXX" in the directory of `path` (same file system,
 * so the rename is atomic; hidden, so no glob of *.mmdb or similar picks it
 * up) with mode `mode`, open for writing in `r->fd`. The caller writes it,
 * may check the file at `r->tmp`, then either gs_replace_commit (fsync,
 * close, rename over `path`, fsync the directory: a crash leaves the old or
 * the new file, never a mix) or gs_replace_abort (close, unlink). Exactly
 * one of the two must follow a successful begin; both free `r`'s strings.
 * Readers holding the old file open keep reading the old contents. */
typedef struct {
    int fd;
    char *tmp;  /* owned: the temporary file's path */
    char *path; /* owned: the final path */
} gs_replace_t;

/* Returns 0, or -errno with "cannot create a temporary file in 'D': reason". */
GS_WARN_UNUSED int gs_replace_begin(const char *path, mode_t mode, gs_replace_t *r, gs_err_t *err);

/* Writes all `len` bytes at `data` to r->fd (retrying short writes). Returns
 * 0 or -errno with "cannot write 'TMP': reason". */
GS_WARN_UNUSED int gs_replace_write(gs_replace_t *r, const void *data, size_t len, gs_err_t *err);

/* Returns 0 once `path` names the new file and the rename is durable, or
 * -errno (the temporary file removed, `path` unchanged if the rename did not
 * happen) with the step that failed in `err`. */
GS_WARN_UNUSED int gs_replace_commit(gs_replace_t *r, gs_err_t *err);

/* Drops the temporary file; `path` is untouched. */
void gs_replace_abort(gs_replace_t *r);

/* The whole sequence for a buffer already in memory. */
GS_WARN_UNUSED int gs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                                        gs_err_t *err);

#endif
