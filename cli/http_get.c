/* One HTTP(S) GET with libcurl (cli/http_get.h). */
#include "cli/http_get.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct {
    http_resp_t *resp;
    size_t max_bytes;
    bool too_big;
} xfer_t;

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    xfer_t *x = ctx;
    size_t len = size * n;
    if (x->resp->body.len + len > x->max_bytes) {
        x->too_big = true;
        return 0; /* aborts the transfer */
    }
    buf_put(&x->resp->body, data, len);
    return len;
}

/* Copies the value of header line `line` into `dst` if its name is `name`
 * (case-insensitive), trimmed of blanks and the line end. */
static void header_value(const char *line, size_t len, const char *name, char *dst, size_t cap)
{
    size_t nlen = strlen(name);
    if (len <= nlen || line[nlen] != ':' || strncasecmp(line, name, nlen) != 0)
        return;
    const char *v = line + nlen + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vlen = (size_t)(end - v);
    if (vlen >= cap)
        vlen = 0; /* an absurdly long value: better none than a cut one */
    memcpy(dst, v, vlen);
    dst[vlen] = '\0';
}

static size_t on_header(char *line, size_t size, size_t n, void *ctx)
{
    xfer_t *x = ctx;
    size_t len = size * n;
    /* Each response of a redirect chain starts with its status line: only
     * the last response's validators and body count. */
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        x->resp->etag[0] = x->resp->last_modified[0] = '\0';
        buf_reset(&x->resp->body);
    }
    header_value(line, len, "ETag", x->resp->etag, sizeof x->resp->etag);
    header_value(line, len, "Last-Modified", x->resp->last_modified, sizeof x->resp->last_modified);
    return len;
}

int http_global_init(gs_err_t *err)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return gs_err_set(err, GS_EINVAL, "cannot initialise libcurl");
    return 0;
}

void http_global_cleanup(void)
{
    curl_global_cleanup();
}

void http_resp_free(http_resp_t *resp)
{
    buf_free(&resp->body);
}

int http_get(const http_req_t *req, http_resp_t *resp, gs_err_t *err)
{
    memset(resp, 0, sizeof *resp);
    buf_init(&resp->body);
    CURL *c = curl_easy_init();
    if (!c)
        return gs_err_set(err, -ENOMEM, "%s: cannot create a libcurl handle", req->url);
    xfer_t x = {.resp = resp, .max_bytes = req->max_bytes};
    char errbuf[CURL_ERROR_SIZE] = "";
    char inm[300], ims[100];
    struct curl_slist *hdrs = NULL;
    if (req->etag && *req->etag) {
        snprintf(inm, sizeof inm, "If-None-Match: %s", req->etag);
        hdrs = curl_slist_append(hdrs, inm);
    }
    if (req->last_modified && *req->last_modified) {
        snprintf(ims, sizeof ims, "If-Modified-Since: %s", req->last_modified);
        hdrs = curl_slist_append(hdrs, ims);
    }
    /* A download that started on https stays on https. */
    bool https = strncasecmp(req->url, "https:", 6) == 0;
    long connect_s = req->timeout_s < 30 ? req->timeout_s : 30;
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, https ? "https" : "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, req->timeout_s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, connect_s);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_bytes);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "geosteer/" GEOSTEER_VERSION);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

    CURLcode cc = curl_easy_perform(c);
    int rc = 0;
    char *eff = NULL;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    if (curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff)
        snprintf(resp->effective_url, sizeof resp->effective_url, "%s", eff);
    if (x.too_big || cc == CURLE_FILESIZE_EXCEEDED)
        rc = gs_err_set(err, GS_ETOOBIG, "%s: larger than the limit of %zu bytes", req->url,
                        req->max_bytes);
    else if (cc != CURLE_OK)
        rc = gs_err_set(err, -EIO, "%s: download failed: %s", req->url,
                        *errbuf ? errbuf : curl_easy_strerror(cc));
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rc;
}
