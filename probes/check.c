/* One health check on a libcurl easy handle. */
#include "probes/check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"

#ifndef GEOSTEER_VERSION
#define GEOSTEER_VERSION "0.0.0"
#endif

struct probe_check {
    CURL *h;
    size_t slot;
    plan_type_t type;
    uint32_t timeout_ms;
    char *url;
    struct curl_slist *connect_to, *headers;
    uint16_t expect[PLAN_MAX_EXPECT][2];
    size_t nexpect;
    char *needle; /* body substring, or NULL */
    size_t needle_len;
    unsigned body_max;
    char *body; /* body_max bytes, only with a needle */
    size_t got;
    bool matched; /* needle found */
    bool stopped; /* we ended the transfer on purpose (enough read) */
    bool insecure;
    char *ca_file;
    char errbuf[CURL_ERROR_SIZE];
};

/* Receives body bytes. Returning less than `n` makes curl stop with
 * CURLE_WRITE_ERROR, which is how the transfer is cut short: at once when
 * no body match is asked for (the status line is all that counts), else as
 * soon as the needle is found or body_max bytes were read. So a huge or
 * endless body costs at most body_max bytes of memory and reading. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    probe_check_t *k = ctx;
    size_t n = size * nmemb;
    if (!k->needle) {
        k->stopped = true;
        return 0;
    }
    size_t take = k->body_max - k->got < n ? k->body_max - k->got : n;
    memcpy(k->body + k->got, data, take);
    k->got += take;
    if (memmem(k->body, k->got, k->needle, k->needle_len)) {
        k->matched = true;
        k->stopped = true;
        return 0;
    }
    if (k->got >= k->body_max) {
        k->stopped = true;
        return 0;
    }
    return n;
}

probe_check_t *probe_check_new(const plan_check_t *c)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    probe_check_t *k = mem_calloc(1, sizeof(*k));
    k->h = h;
    k->type = c->type;
    k->timeout_ms = c->timeout_ms;
    k->insecure = c->insecure;
    k->body_max = c->body_max;
    memcpy(k->expect, c->expect, sizeof(k->expect));
    k->nexpect = c->nexpect;
    if (c->body) {
        k->needle = mem_strdup(c->body);
        k->needle_len = strlen(c->body);
        k->body = mem_alloc(c->body_max ? c->body_max : 1);
    }
    if (c->ca_file)
        k->ca_file = mem_strdup(c->ca_file);

    /* The URL names the Host/SNI name (or the address); CONNECT_TO pins the
     * connection to the address, so nothing is ever resolved. */
    char addr[INET6_ADDRSTRLEN + 2], a[INET6_ADDRSTRLEN];
    inet_ntop(c->family, c->addr, a, sizeof(a));
    snprintf(addr, sizeof(addr), c->family == AF_INET6 ? "[%s]" : "%s", a);
    buf_t b;
    buf_init(&b);
    const char *scheme = c->type == PLAN_HTTPS ? "https" : "http";
    buf_printf(&b, "%s://%s:%u%s", scheme, c->host ? c->host : addr, c->port,
               c->type == PLAN_TCP ? "/" : c->path);
    k->url = buf_take(&b);
    buf_printf(&b, "::%s:%u", addr, c->port);
    k->connect_to = curl_slist_append(NULL, b.data);
    buf_free(&b);
    for (size_t i = 0; i < c->nheaders; i++) {
        buf_init(&b);
        buf_printf(&b, "%s: %s", c->headers[i][0], c->headers[i][1]);
        k->headers = curl_slist_append(k->headers, b.data);
        buf_free(&b);
    }
    return k;
}

void probe_check_free(probe_check_t *k)
{
    if (!k)
        return;
    curl_easy_cleanup(k->h);
    curl_slist_free_all(k->connect_to);
    curl_slist_free_all(k->headers);
    free(k->url);
    free(k->needle);
    free(k->body);
    free(k->ca_file);
    free(k);
}

CURL *probe_check_handle(const probe_check_t *k)
{
    return k->h;
}

void probe_check_set_slot(probe_check_t *k, size_t slot)
{
    k->slot = slot;
}

size_t probe_check_slot(const probe_check_t *k)
{
    return k->slot;
}

int probe_check_start(probe_check_t *k)
{
    CURL *h = k->h;
    /* Every option every time: a reset handle carries nothing over from the
     * last run except its caches. */
    curl_easy_reset(h);
    k->got = 0;
    k->matched = k->stopped = false;
    k->errbuf[0] = '\0';
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(h, opt, val);                                                    \
    } while (0)
    SET(CURLOPT_URL, k->url);
    SET(CURLOPT_CONNECT_TO, k->connect_to);
    SET(CURLOPT_PRIVATE, (void *)k);
    SET(CURLOPT_ERRORBUFFER, k->errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROXY, ""); /* never through a proxy from the environment */
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L); /* a redirect is judged by its status code */
    SET(CURLOPT_FORBID_REUSE, 1L);   /* every check opens its own connection */
    SET(CURLOPT_FRESH_CONNECT, 1L);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)k->timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, (long)k->timeout_ms);
    if (k->type == PLAN_TCP) {
        SET(CURLOPT_CONNECT_ONLY, 1L);
    } else {
        SET(CURLOPT_USERAGENT, "geosteer-probe/" GEOSTEER_VERSION);
        SET(CURLOPT_HTTPHEADER, k->headers);
        SET(CURLOPT_WRITEFUNCTION, on_body);
        SET(CURLOPT_WRITEDATA, (void *)k);
        SET(CURLOPT_SSL_VERIFYPEER, k->insecure ? 0L : 1L);
        SET(CURLOPT_SSL_VERIFYHOST, k->insecure ? 0L : 2L);
        /* One CA bundle file, no CA directory: Debian's libcurl defaults to
         * both, and with a directory set it re-reads the whole store for
         * every connection (~40 ms of CPU) instead of using the multi
         * handle's cached copy. The bundle holds the same system CAs. */
        SET(CURLOPT_CAPATH, NULL);
        if (k->ca_file)
            SET(CURLOPT_CAINFO, k->ca_file);
    }
#undef SET
    return rc == CURLE_OK ? 0 : GS_EINVAL;
}

static bool status_expected(const probe_check_t *k, long status)
{
    for (size_t i = 0; i < k->nexpect; i++)
        if (status >= k->expect[i][0] && status <= k->expect[i][1])
            return true;
    return false;
}

bool probe_check_finish(probe_check_t *k, CURLcode code, char *why, size_t len)
{
    if (code == CURLE_OK || (code == CURLE_WRITE_ERROR && k->stopped)) {
        if (k->type == PLAN_TCP)
            return true;
        long status = 0;
        curl_easy_getinfo(k->h, CURLINFO_RESPONSE_CODE, &status);
        if (!status_expected(k, status)) {
            snprintf(why, len, "status %ld%s", status,
                     status >= 300 && status < 400 ? " (redirect not followed)" : "");
            return false;
        }
        if (k->needle && !k->matched) {
            snprintf(why, len, "body match not found in %s%zu bytes",
                     k->got >= k->body_max ? "first " : "", k->got);
            return false;
        }
        return true;
    }
    long oserr = 0;
    curl_off_t connect_us = 0;
    curl_easy_getinfo(k->h, CURLINFO_OS_ERRNO, &oserr);
    curl_easy_getinfo(k->h, CURLINFO_CONNECT_TIME_T, &connect_us);
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(why, len, "%s after %u ms", connect_us ? "timeout" : "connect timeout",
                 k->timeout_ms);
        break;
    case CURLE_COULDNT_CONNECT:
        snprintf(why, len, "connect: %s", oserr ? strerror((int)oserr) : "failed");
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
        snprintf(why, len, "TLS: certificate not trusted or wrong name");
        break;
    case CURLE_SSL_CONNECT_ERROR:
        snprintf(why, len, "TLS handshake: %s", k->errbuf[0] ? k->errbuf : "failed");
        break;
    case CURLE_GOT_NOTHING:
        snprintf(why, len, "connection closed without a reply");
        break;
    default:
        snprintf(why, len, "%s", k->errbuf[0] ? k->errbuf : curl_easy_strerror(code));
        break;
    }
    return false;
}
