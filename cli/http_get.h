/* One HTTP(S) GET for the CLI (geosteer geoip update), with libcurl: TLS
 * verification on, at most 5 redirects (and none from https to http), a
 * total time limit, a size cap on the body, and conditional requests
 * (If-None-Match, If-Modified-Since). The body is kept in memory. Any
 * thread, one request at a time per call; library-like: never logs,
 * returns errors. */
#ifndef GS_CLI_HTTP_GET_H
#define GS_CLI_HTTP_GET_H

#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/compiler.h"

typedef struct {
    const char *url;
    long timeout_s;            /* whole transfer, > 0 */
    size_t max_bytes;          /* body cap; a larger body is an error */
    const char *etag;          /* sent as If-None-Match when non-NULL and non-empty */
    const char *last_modified; /* sent as If-Modified-Since when non-NULL and non-empty */
} http_req_t;

typedef struct {
    long status;            /* final HTTP status (0 when no response arrived) */
    buf_t body;             /* the final response's body (also for error statuses) */
    char etag[256];         /* ETag of the final response, "" if none */
    char last_modified[64]; /* Last-Modified of the final response, "" if none */
    char effective_url[1024];
} http_resp_t;

/* Calls curl_global_init once; call before any thread starts. Returns 0 or
 * GS_EINVAL. */
GS_WARN_UNUSED int http_global_init(gs_err_t *err);

/* Undoes http_global_init; call once every request is done. */
void http_global_cleanup(void);

/* Performs the GET. Returns 0 whenever a final response arrived, whatever
 * its status (the caller decides what 304 or 404 mean); -EIO for a transfer
 * failure (resolve, connect, TLS, timeout, cut short) and GS_ETOOBIG for a
 * body over max_bytes, each with curl's reason and the URL in `err`.
 * `resp` is initialised here and owned by the caller after (http_resp_free),
 * whatever the result. */
GS_WARN_UNUSED int http_get(const http_req_t *req, http_resp_t *resp, gs_err_t *err);

/* Releases the body. */
void http_resp_free(http_resp_t *resp);

#endif
