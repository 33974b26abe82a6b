#include "backend/protocol/server.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend/protocol/pipe.h"
#include "backend/protocol/rb.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/mem.h"

/* A connection's protocol state: one of the two dispatchers. */
typedef struct conn {
    struct conn *next, *prev;
    rb_server_t *srv;
    int fd;
    rb_conn_t *rb;     /* RB_PROTO_REMOTE */
    pipe_conn_t *pipe; /* RB_PROTO_PIPE */
} conn_t;

static const buf_t *conn_handle(conn_t *c, const char *line, size_t len)
{
    return c->pipe ? pipe_handle(c->pipe, line, len) : rb_handle(c->rb, line, len);
}

static const buf_t *conn_error_reply(conn_t *c, const char *msg)
{
    return c->pipe ? pipe_error_reply(c->pipe, msg) : rb_error_reply(c->rb, msg);
}

static void conn_trim(conn_t *c)
{
    if (c->pipe)
        pipe_conn_trim(c->pipe);
    else
        rb_conn_trim(c->rb);
}

struct rb_server {
    rb_server_opts_t opts;
    char *path;
    int listen_fd;
    int wake[2]; /* pipe: written by stop to end the accept loop */
    pthread_t acceptor;
    pthread_mutex_t lock; /* guards conns, nconns */
    pthread_cond_t drained;
    conn_t *conns;
    unsigned nconns;
    size_t budget;              /* opts.input_budget or RB_INPUT_BUDGET */
    _Atomic size_t grown;       /* input buffer bytes over RB_INPUT_BASE, all connections */
    pthread_mutex_t parse_lock; /* guards parse_bytes */
    pthread_cond_t parse_cv;
    size_t parse_bytes; /* bytes of the long lines being handled */
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

/* Waits until a line of `len` bytes may be handled: the long lines being
 * handled hold at most RB_PARSE_BUDGET bytes together (one alone always
 * may). Parsing costs up to ~20 bytes of memory per byte of JSON, so this
 * bounds what many connections sending long lines at once can take. */
static void parse_acquire(rb_server_t *srv, size_t len)
{
    pthread_mutex_lock(&srv->parse_lock);
    while (srv->parse_bytes > 0 && srv->parse_bytes + len > RB_PARSE_BUDGET)
        pthread_cond_wait(&srv->parse_cv, &srv->parse_lock);
    srv->parse_bytes += len;
    pthread_mutex_unlock(&srv->parse_lock);
}

static void parse_release(rb_server_t *srv, size_t len)
{
    pthread_mutex_lock(&srv->parse_lock);
    srv->parse_bytes -= len;
    pthread_cond_broadcast(&srv->parse_cv);
    pthread_mutex_unlock(&srv->parse_lock);
}

/* After a refusal that closes the connection: tells the client that no
 * more is coming (it reads the reply, then EOF) and discards what it still
 * sends, until it stops for a second or 16 MiB were discarded. Closing a
 * unix socket with unread input resets it, and the client would get
 * ECONNRESET instead of the reply. Costs no memory, only the thread. */
static void drain_input(int fd)
{
    char scratch[16384];
    size_t total = 0;
    struct pollfd p = {fd, POLLIN, 0};
    shutdown(fd, SHUT_WR);
    while (total < ((size_t)16 << 20) && poll(&p, 1, 1000) == 1) {
        ssize_t n = read(fd, scratch, sizeof(scratch));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        total += (size_t)n;
    }
}

/* Grows a connection's input buffer to `want` bytes if the server's budget
 * for grown input buffers allows it; false (nothing changed) otherwise. */
static bool input_grow(rb_server_t *srv, char **in, size_t *cap, size_t want)
{
    size_t extra = want - *cap;
    if (atomic_fetch_add(&srv->grown, extra) + extra > srv->budget) {
        atomic_fetch_sub(&srv->grown, extra);
        return false;
    }
    *in = mem_realloc_n(*in, want, 1);
    *cap = want;
    return true;
}

/* Reads requests until EOF, an I/O error, an over-long line or an exhausted
 * input budget. pdns sends one request and waits, so the buffer holds at
 * most one line in practice; pipelined lines are still answered in order.
 * The buffer never holds more than RB_MAX_LINE + 1 bytes, so a line is
 * refused at the same length however its bytes arrive; it shrinks back to
 * RB_INPUT_BASE once empty. */
static void *conn_main(void *arg)
{
    conn_t *c = arg;
    rb_server_t *srv = c->srv;
    size_t cap = RB_INPUT_BASE, used = 0, start = 0;
    char *in = mem_alloc(cap);
    const char *refusal;
    for (;;) {
        char *nl;
        while ((nl = memchr(in + start, '\n', used - start))) {
            size_t len = (size_t)(nl - (in + start));
            if (len > RB_MAX_LINE)
                goto too_long;
            bool big = len > RB_PARSE_SMALL;
            if (big)
                parse_acquire(srv, len);
            const buf_t *rep = conn_handle(c, in + start, len);
            if (big) {
                parse_release(srv, len);
                /* glibc keeps what a thread freed in that thread's arena:
                 * without this, every connection that once parsed a long
                 * line would keep up to ~20 MiB for good. Only for lines
                 * past the base buffer: a trim walks every arena. */
                if (len > RB_INPUT_BASE)
                    malloc_trim(0);
            }
            start += len + 1;
            if (send_all(c->fd, rep->data, rep->len) < 0)
                goto out;
            conn_trim(c);
        }
        if (start == used) {
            start = used = 0;
            if (cap > RB_INPUT_BASE) {
                free(in);
                in = mem_alloc(RB_INPUT_BASE);
                atomic_fetch_sub(&srv->grown, cap - RB_INPUT_BASE);
                cap = RB_INPUT_BASE;
            }
        } else if (start > 0) {
            memmove(in, in + start, used - start);
            used -= start;
            start = 0;
        }
        if (used > RB_MAX_LINE)
            goto too_long;
        if (used == cap) {
            size_t want = cap * 2 < RB_MAX_LINE + 1 ? cap * 2 : RB_MAX_LINE + 1;
            if (!input_grow(srv, &in, &cap, want)) {
                LOG_RATELIMITED(LOG_WARNING,
                                "server: partial requests of all connections hold over %zu "
                                "bytes, closing a connection",
                                srv->budget);
                refusal = "server busy: too many partly received long requests; retry";
                goto refuse;
            }
        }
        ssize_t n = read(c->fd, in + used, cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    goto out;
too_long:
    LOG_RATELIMITED(LOG_WARNING, "server: request line over %d bytes, closing connection",
                    RB_MAX_LINE);
    refusal = "request line longer than 1048576 bytes";
refuse:
    /* The buffer goes back to the budget before the drain. */
    free(in);
    in = NULL;
    atomic_fetch_sub(&srv->grown, cap - RB_INPUT_BASE);
    cap = RB_INPUT_BASE;
    {
        const buf_t *rep = conn_error_reply(c, refusal);
        if (send_all(c->fd, rep->data, rep->len) == 0)
            drain_input(c->fd);
    }
out:
    free(in);
    atomic_fetch_sub(&srv->grown, cap - RB_INPUT_BASE);
    rb_conn_free(c->rb); /* aborts an open transaction before stop returns */
    pipe_conn_free(c->pipe);
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
    rb_conn_t *rb = NULL;
    pipe_conn_t *pc = NULL;
    if (!full && srv->opts.proto == RB_PROTO_PIPE)
        pc = pipe_conn_new();
    else if (!full)
        rb = rb_conn_new();
    if (!rb && !pc) {
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
    c->pipe = pc;
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
        pipe_conn_free(pc);
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

/* Releases what rb_server_start set up besides the listening socket: the
 * wake pipe, the locks, the path. */
static void server_free(rb_server_t *srv)
{
    if (srv->wake[0] >= 0) {
        close(srv->wake[0]);
        close(srv->wake[1]);
    }
    pthread_mutex_destroy(&srv->lock);
    pthread_cond_destroy(&srv->drained);
    pthread_mutex_destroy(&srv->parse_lock);
    pthread_cond_destroy(&srv->parse_cv);
    free(srv->path);
    free(srv);
}

int rb_server_start(const rb_server_opts_t *opts, rb_server_t **out, gs_err_t *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(opts->socket_path) >= sizeof(sa.sun_path))
        return gs_err_set(err, GS_EINVAL, "socket path '%s' is longer than %zu bytes",
                          opts->socket_path, sizeof(sa.sun_path) - 1);
    strcpy(sa.sun_path, opts->socket_path);
    int rc = gs_mkdir_parent(opts->socket_path, 0755, err);
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
    srv->budget = opts->input_budget ? opts->input_budget : RB_INPUT_BUDGET;
    srv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    srv->wake[0] = srv->wake[1] = -1;
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->drained, NULL);
    pthread_mutex_init(&srv->parse_lock, NULL);
    pthread_cond_init(&srv->parse_cv, NULL);
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
    server_free(srv);
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
    for (conn_t *c = srv->conns; c; c = c->next)
        shutdown(c->fd, SHUT_RDWR);
    while (srv->nconns > 0)
        pthread_cond_wait(&srv->drained, &srv->lock);
    pthread_mutex_unlock(&srv->lock);
    server_free(srv);
}
