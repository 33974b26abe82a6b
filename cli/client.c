#include "cli/client.h"

#include <errno.h>
#include <stdbool.h>
#include <jansson.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/mem.h"

void client_join(int argc, char *const *argv, buf_t *out)
{
    for (int i = 0; i < argc; i++) {
        const char *w = argv[i];
        if (i)
            buf_putc(out, ' ');
        bool plain = *w != '\0';
        for (const char *p = w; *p; p++)
            if (strchr(" \t\n\r'\"\\", *p))
                plain = false;
        if (plain) {
            buf_puts(out, w);
            continue;
        }
        buf_putc(out, '"');
        for (const char *p = w; *p; p++) {
            if (*p == '"' || *p == '\\')
                buf_putc(out, '\\');
            buf_putc(out, *p);
        }
        buf_putc(out, '"');
    }
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int client_call(const char *socket_path, const char *cmd, int timeout_ms, buf_t *reply,
                gs_err_t *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof(sa.sun_path))
        return gs_err_set(err, GS_EINVAL, "socket path too long: %s", socket_path);
    strcpy(sa.sun_path, socket_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return gs_err_set(err, -errno, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;
        close(fd);
        return gs_err_set(err, -e, "cannot reach geosteerd at %s: %s", socket_path, strerror(e));
    }
    json_t *req = mem_check(
        json_pack("{s:s, s:{s:s}}", "method", "directBackendCmd", "parameters", "query", cmd));
    char *line = mem_check(json_dumps(req, JSON_COMPACT));
    json_decref(req);
    buf_t out;
    buf_init(&out);
    buf_puts(&out, line);
    buf_putc(&out, '\n');
    free(line);
    int rc = 0;
    for (size_t off = 0; off < out.len;) {
        ssize_t n = send(fd, out.data + off, out.len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = gs_err_set(err, -errno, "send to %s: %s", socket_path, strerror(errno));
            goto done;
        }
        off += (size_t)n;
    }
    buf_reset(&out);
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        if (out.len && out.data[out.len - 1] == '\n')
            break;
        long long left = deadline - now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) == 0) {
            rc = gs_err_set(err, -ETIMEDOUT, "no reply from geosteerd within %d ms", timeout_ms);
            goto done;
        }
        buf_reserve(&out, 4096);
        ssize_t n = read(fd, out.data + out.len, 4096);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = gs_err_set(err, n < 0 ? -errno : -ECONNRESET, "geosteerd closed the connection");
            goto done;
        }
        out.len += (size_t)n;
        out.data[out.len] = '\0';
    }
    json_error_t je;
    json_t *rep = json_loadb(out.data, out.len, 0, &je);
    json_t *res = json_object_get(rep, "result");
    if (json_is_string(res))
        buf_put(reply, json_string_value(res), json_string_length(res));
    else
        rc = gs_err_set(err, GS_EINVAL, "unexpected reply from geosteerd: %.200s", out.data);
    json_decref(rep);
done:
    buf_free(&out);
    close(fd);
    return rc;
}
