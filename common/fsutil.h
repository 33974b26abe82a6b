/* Small file-system helpers shared by the daemons. Library code: returns
 * errors, never logs; any thread. */
#ifndef GS_COMMON_FSUTIL_H
#define GS_COMMON_FSUTIL_H

#include <sys/types.h>

#include "common/err.h"
#include "common/compiler.h"

/* Creates directory `dir` and any missing parent with `mode` (as mkdir -p;
 * existing ones are left as they are). Returns 0, or -errno with
 * "cannot create directory 'D': reason" in `err`. */
GS_WARN_UNUSED int gs_mkdir_p(const char *dir, mode_t mode, gs_err_t *err);

/* gs_mkdir_p of the directory part of `path` (nothing when it has none). */
GS_WARN_UNUSED int gs_mkdir_parent(const char *path, mode_t mode, gs_err_t *err);

#endif
