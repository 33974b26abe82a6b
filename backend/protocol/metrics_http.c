#include "backend/protocol/metrics_http.h"

#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/protocol/exposition.h"
#include "backend/steering/config.h"
#include "backend/zones/snap.h"
#include "common/buf.h"
#include "common/mem.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static struct MHD_Daemon *daemon_;
static char *bound; /* the listen text the running daemon was started with */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body,
                             size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            status == MHD_HTTP_OK ? CONTENT_TYPE : "text/plain; charset=utf-8");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)cls;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)state;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        static const char msg[] = "only GET /metrics\n";
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, msg, sizeof(msg) - 1);
    }
    if (strcmp(url, "/metrics") != 0) {
        static const char msg[] = "not found: the metrics are at /metrics\n";
        return reply(conn, MHD_HTTP_NOT_FOUND, msg, sizeof(msg) - 1);
    }
    snap_slot_t *slot = snap_slot_get();
    if (!slot) {
        static const char msg[] = "too many readers, try again\n";
        return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, msg, sizeof(msg) - 1);
    }
    buf_t out;
    buf_init(&out);
    exposition_render(&out, snap_pin(slot));
    snap_unpin(slot);
    snap_slot_put(slot);
    enum MHD_Result rc = reply(conn, MHD_HTTP_OK, out.data ? out.data : "", out.len);
    buf_free(&out);
    return rc;
}

int metrics_http_apply(const char *listen, gs_err_t *err)
{
    if ((!listen && !bound) || (listen && bound && strcmp(listen, bound) == 0))
        return 0;
    struct MHD_Daemon *d = NULL;
    if (listen) {
        struct sockaddr_in6 sa;
        size_t len = cfg_parse_listen(listen, &sa);
        if (!len)
            return gs_err_set(err, GS_EINVAL, "metrics: '%s' is not ADDRESS:PORT", listen);
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
        if (sa.sin6_family == AF_INET6)
            flags |= MHD_USE_IPv6;
        errno = 0;
        d = MHD_start_daemon(flags, 0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR,
                             (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, 16u,
                             MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
        if (!d)
            return gs_err_set(err, errno ? -errno : GS_EINVAL, "metrics: cannot listen on %s: %s",
                              listen, errno ? strerror(errno) : "libmicrohttpd refused to start");
    }
    metrics_http_stop();
    daemon_ = d;
    bound = listen ? mem_strdup(listen) : NULL;
    return 0;
}

void metrics_http_stop(void)
{
    if (daemon_)
        MHD_stop_daemon(daemon_);
    daemon_ = NULL;
    free(bound);
    bound = NULL;
}
