#include "backend/server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend/rb.h"
#include "common/log.h"
#include "common/mem.h"

typedef struct conn {
    struct conn *next, *prev;
    rb_server_t *srv;
    int fd;
    rb_conn_t *rb;
} conn_t;

struct rb_server {
    rb_server_opts_t opts;
    char *path;
    int listen_fd;
    int wake[2]; /* pipe: written by stop to end the accept loop */
    pthread_t acceptor;
    pthread_mutex_t lock; /* guards conns, nconns, stopping */
    pthread_cond_t drained;
    conn_t *conns;
    unsigned nconns;
    bool stopping;
};

static int send_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads requests until EOF, an I/O error or an over-long line. pdns sends
 * one request and waits, so the buffer holds at most one line in practice;
 * pipelined lines are still answered in order. */
static void *conn_main(void *arg)
{
    conn_t *c = arg;
    size_t cap = 64 * 1024, used = 0, start = 0;
    char *in = mem_alloc(cap);
    for (;;) {
        char *nl;
        while ((nl = memchr(in + start, '\n', used - start))) {
            size_t len = (size_t)(nl - (in + start));
            const buf_t *rep = rb_handle(c->rb, in + start, len);
            start += len + 1;
            if (send_all(c->fd, rep->data, rep->len) < 0)
                goto out;
        }
        if (start == used) {
            start = used = 0;
        } else if (start > 0) {
            memmove(in, in + start, used - start);
            used -= start;
            start = 0;
        }
        if (used > RB_MAX_LINE) {
            LOG_RATELIMITED(LOG_WARNING, "server: request line over %d bytes, closing connection",
                            RB_MAX_LINE);
            const buf_t *rep = rb_error_reply(c->rb, "request line longer than 1048576 bytes");
            send_all(c->fd, rep->data, rep->len);
            goto out;
        }
        if (used == cap) {
            cap *= 2;
            in = mem_realloc_n(in, cap, 1);
        }
        ssize_t n = read(c->fd, in + used, cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
    }
out:
    free(in);
    rb_conn_free(c->rb); /* aborts an open transaction before stop returns */
    rb_server_t *srv = c->srv;
    pthread_mutex_lock(&srv->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    close(c->fd);
    if (srv->nconns == 0)
        pthread_cond_broadcast(&srv->drained);
    pthread_mutex_unlock(&srv->lock);
    free(c);
    return NULL;
}

static void accept_one(rb_server_t *srv)
{
    int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
            LOG_RATELIMITED(LOG_ERR, "server: accept: %s", strerror(errno));
        if (errno == EMFILE || errno == ENFILE)
            usleep(10000);
        return;
    }
    pthread_mutex_lock(&srv->lock);
    bool full = srv->nconns >= srv->opts.max_connections;
    pthread_mutex_unlock(&srv->lock);
    rb_conn_t *rb = full ? NULL : rb_conn_new();
    if (!rb) {
        LOG_RATELIMITED(LOG_WARNING,
                        "server: connection limit (%u) reached, closing new connection",
                        srv->opts.max_connections);
        close(fd);
        return;
    }
    conn_t *c = mem_calloc(1, sizeof(*c));
    c->srv = srv;
    c->fd = fd;
    c->rb = rb;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Deep enough for jansson's nesting limit on a 1 MiB line; untouched
     * stack pages cost no memory. */
    pthread_attr_setstacksize(&attr, 4 * 1024 * 1024);
    pthread_mutex_lock(&srv->lock);
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    pthread_t t;
    int rc = pthread_create(&t, &attr, conn_main, c);
    if (rc) {
        srv->conns = c->next;
        if (c->next)
            c->next->prev = NULL;
        srv->nconns--;
    }
    pthread_mutex_unlock(&srv->lock);
    pthread_attr_destroy(&attr);
    if (rc) {
        LOG_RATELIMITED(LOG_ERR, "server: cannot start connection thread: %s", strerror(rc));
        close(fd);
        rb_conn_free(rb);
        free(c);
    }
}

static void *accept_main(void *arg)
{
    rb_server_t *srv = arg;
    struct pollfd pfd[2] = {{srv->listen_fd, POLLIN, 0}, {srv->wake[0], POLLIN, 0}};
    for (;;) {
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_err("server: poll: %s", strerror(errno));
            usleep(10000);
            continue;
        }
        if (pfd[1].revents)
            return NULL;
        if (pfd[0].revents)
            accept_one(srv);
    }
}

static int make_parent(const char *path, gs_err_t *err)
{
    char *dir = mem_strdup(path);
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        for (char *p = dir + 1; rc == 0; p++) {
            if (*p == '/' || *p == '\0') {
                char saved = *p;
                *p = '\0';
                if (mkdir(dir, 0755) != 0 && errno != EEXIST)
                    rc = gs_err_set(err, -errno, "cannot create directory '%s': %s", dir,
                                    strerror(errno));
                *p = saved;
                if (!saved)
                    break;
            }
        }
    }
    free(dir);
    return rc;
}

int rb_server_start(const rb_server_opts_t *opts, rb_server_t **out, gs_err_t *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(opts->socket_path) >= sizeof(sa.sun_path))
        return gs_err_set(err, GS_EINVAL, "socket path '%s' is longer than %zu bytes",
                          opts->socket_path, sizeof(sa.sun_path) - 1);
    strcpy(sa.sun_path, opts->socket_path);
    int rc = make_parent(opts->socket_path, err);
    if (rc)
        return rc;

    struct stat stt;
    if (lstat(opts->socket_path, &stt) == 0) {
        if (!S_ISSOCK(stt.st_mode))
            return gs_err_set(err, GS_EEXIST, "'%s' exists and is not a socket", opts->socket_path);
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            close(probe);
            return gs_err_set(err, GS_EEXIST, "another process is serving '%s'", opts->socket_path);
        }
        if (probe >= 0)
            close(probe);
        unlink(opts->socket_path); /* stale socket of a dead daemon */
    }

    rb_server_t *srv = mem_calloc(1, sizeof(*srv));
    srv->opts = *opts;
    srv->path = mem_strdup(opts->socket_path);
    srv->opts.socket_path = srv->path;
    srv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    srv->wake[0] = srv->wake[1] = -1;
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->drained, NULL);
    if (srv->listen_fd < 0) {
        rc = gs_err_set(err, -errno, "socket: %s", strerror(errno));
        goto fail;
    }
    /* Bind with a restrictive umask so the socket never exists with wider
     * permissions than asked, then set the exact mode. */
    mode_t old = umask(0177);
    int b = bind(srv->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
    int berr = errno;
    umask(old);
    if (b != 0) {
        rc = gs_err_set(err, -berr, "cannot bind '%s': %s", srv->path, strerror(berr));
        goto fail;
    }
    if (chmod(srv->path, opts->socket_mode) != 0 || listen(srv->listen_fd, 128) != 0 ||
        pipe2(srv->wake, O_CLOEXEC) != 0) {
        rc = gs_err_set(err, -errno, "socket '%s': %s", srv->path, strerror(errno));
        unlink(srv->path);
        goto fail;
    }
    if ((rc = pthread_create(&srv->acceptor, NULL, accept_main, srv)) != 0) {
        rc = gs_err_set(err, -rc, "cannot start accept thread: %s", strerror(rc));
        unlink(srv->path);
        goto fail;
    }
    *out = srv;
    return 0;
fail:
    if (srv->listen_fd >= 0)
        close(srv->listen_fd);
    if (srv->wake[0] >= 0) {
        close(srv->wake[0]);
        close(srv->wake[1]);
    }
    pthread_mutex_destroy(&srv->lock);
    pthread_cond_destroy(&srv->drained);
    free(srv->path);
    free(srv);
    return rc;
}

void rb_server_stop(rb_server_t *srv)
{
    if (!srv)
        return;
    if (write(srv->wake[1], "x", 1) != 1)
        log_err("server: cannot wake accept thread: %s", strerror(errno));
    pthread_join(srv->acceptor, NULL);
    close(srv->listen_fd);
    unlink(srv->path);
    pthread_mutex_lock(&srv->lock);
    srv->stopping = true;
    for (conn_t *c = srv->conns; c; c = c->next)
        shutdown(c->fd, SHUT_RDWR);
    while (srv->nconns > 0)
        pthread_cond_wait(&srv->drained, &srv->lock);
    pthread_mutex_unlock(&srv->lock);
    close(srv->wake[0]);
    close(srv->wake[1]);
    pthread_mutex_destroy(&srv->lock);
    pthread_cond_destroy(&srv->drained);
    free(srv->path);
    free(srv);
}
