/* Runs one data-driven protocol case against a real geosteerd server (the
 * library's server and dispatcher, on a unix socket in a temporary directory,
 * with a fresh zone store).
 *
 * A case is a directory with:
 *   request.jsonl   one request per line, sent verbatim (malformed lines too).
 *                   "@N " before a line sends it on connection N (0-9, default
 *                   0); "@N EOF" closes connection N; "#" lines are comments.
 *   expected.jsonl  one line per request that gets a reply: the expected reply
 *                   as JSON (compared structurally), or CLOSED if the server
 *                   must close the connection instead of replying.
 * Exit status 0 when every reply matches. */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend/protocol/server.h"
#include "backend/daemon/state.h"
#include "common/buf.h"
#include "common/log.h"

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf_t b;
    buf_init(&b);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        buf_put(&b, tmp, n);
    fclose(f);
    return buf_take(&b);
}

static int connect_to(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("connect");
        exit(2);
    }
    return fd;
}

/* Reads one newline-terminated reply, or returns NULL on EOF. 5 s timeout. */
static char *read_reply(int fd)
{
    buf_t b;
    buf_init(&b);
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) != 1) {
            fprintf(stderr, "timeout waiting for a reply\n");
            exit(1);
        }
        char c;
        ssize_t n = read(fd, &c, 1);
        if (n <= 0) {
            buf_free(&b);
            return NULL;
        }
        if (c == '\n')
            break;
        buf_putc(&b, c);
    }
    return buf_take(&b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: proto_case CASE_DIR\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_WARNING);
    char path[4096];
    snprintf(path, sizeof(path), "%s/request.jsonl", argv[1]);
    char *req = read_file(path);
    snprintf(path, sizeof(path), "%s/expected.jsonl", argv[1]);
    char *exp = read_file(path);
    if (!req || !exp) {
        fprintf(stderr, "%s: needs request.jsonl and expected.jsonl\n", argv[1]);
        return 2;
    }
    char tmpl[] = "/tmp/gs-proto.XXXXXX";
    char *dir = mkdtemp(tmpl);
    char db[256], sock[256];
    snprintf(db, sizeof(db), "%s/zones.db", dir);
    snprintf(sock, sizeof(sock), "%s/backend.sock", dir);
    gs_err_t err;
    rb_server_t *srv;
    if (state_open(db, &err) != 0) {
        fprintf(stderr, "state_open: %s\n", err.text);
        return 2;
    }
    rb_server_opts_t so = {.socket_path = sock, .socket_mode = 0600, .max_connections = 64};
    if (rb_server_start(&so, &srv, &err) != 0) {
        fprintf(stderr, "server: %s\n", err.text);
        return 2;
    }

    int fds[10];
    for (int i = 0; i < 10; i++)
        fds[i] = -1;
    int failures = 0, lineno = 0;
    char *rsave = NULL, *esave = NULL;
    char *eline = strtok_r(exp, "\n", &esave);
    for (char *line = strtok_r(req, "\n", &rsave); line; line = strtok_r(NULL, "\n", &rsave)) {
        lineno++;
        if (line[0] == '#')
            continue;
        int conn = 0;
        if (line[0] == '@' && line[1] >= '0' && line[1] <= '9' && line[2] == ' ') {
            conn = line[1] - '0';
            line += 3;
        }
        if (strcmp(line, "EOF") == 0) {
            if (fds[conn] >= 0)
                close(fds[conn]);
            fds[conn] = -1;
            usleep(50000); /* let the server notice the EOF */
            continue;
        }
        if (fds[conn] < 0)
            fds[conn] = connect_to(sock);
        size_t len = strlen(line);
        if (write(fds[conn], line, len) != (ssize_t)len || write(fds[conn], "\n", 1) != 1) {
            fprintf(stderr, "line %d: write failed: %s\n", lineno, strerror(errno));
            return 1;
        }
        char *got = read_reply(fds[conn]);
        if (!eline) {
            fprintf(stderr, "line %d: no expected reply left\n", lineno);
            return 1;
        }
        if (strcmp(eline, "CLOSED") == 0) {
            if (got) {
                fprintf(stderr, "line %d: expected the connection to close, got %s\n", lineno, got);
                failures++;
            }
            close(fds[conn]);
            fds[conn] = -1;
        } else {
            json_error_t je;
            json_t *want = json_loads(eline, 0, &je);
            json_t *have = got ? json_loads(got, 0, &je) : NULL;
            if (!want) {
                fprintf(stderr, "expected.jsonl: bad JSON: %s\n", eline);
                return 2;
            }
            if (!have || !json_equal(want, have)) {
                fprintf(stderr, "line %d: %s\n  expected: %s\n  got:      %s\n", lineno, line,
                        eline, got ? got : "(connection closed)");
                failures++;
            }
            json_decref(want);
            json_decref(have);
        }
        free(got);
        eline = strtok_r(NULL, "\n", &esave);
    }
    if (eline) {
        fprintf(stderr, "expected.jsonl has more replies than requests\n");
        failures++;
    }
    for (int i = 0; i < 10; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    rb_server_stop(srv);
    state_close();
    free(req);
    free(exp);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    printf("%s: %s\n", argv[1], failures ? "FAIL" : "ok");
    return failures ? 1 : 0;
}
