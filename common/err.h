/* Error codes shared by every geosteer module. Functions return 0 on
 * success, -errno for system causes, or one of the GS_E* codes below (all
 * below -1000, so they never collide with errno values). */
#ifndef GS_COMMON_ERR_H
#define GS_COMMON_ERR_H

enum {
    GS_EINVAL = -1001,    /* invalid argument or content */
    GS_ENOTFOUND = -1002, /* no such zone, record or object */
    GS_EEXIST = -1003,    /* already exists */
    GS_ESTORE = -1004,    /* zone store (SQLite) failure */
    GS_ECONFLICT = -1005, /* change conflicts with existing data */
    GS_ETOOBIG = -1006,   /* input over a size limit */
    GS_ESCHEMA = -1007,   /* zone store schema version not supported */
    GS_ECONFIG = -1008,   /* configuration invalid */
};

/* Returns a static description of `code` (a GS_E* code or -errno). */
const char *gs_strerror(int code);

/* Error detail filled by parsers and validators: what went wrong and where. */
typedef struct {
    char text[512];
} gs_err_t;

/* Formats a message into `err` (if non-NULL) and returns `code`. */
int gs_err_set(gs_err_t *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
