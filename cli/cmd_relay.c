/* geosteer relay: joins stdin and stdout to geosteerd's remote-backend
 * socket, byte for byte, so that pdns's remote backend can reach geosteerd
 * through its "pipe" connector. That connector reads a reply line by line
 * and parses it once, where the unix connector re-parses the whole reply
 * after every 1,500-byte read: a `list` of a large zone (pdnsutil
 * list-zone, check-zone, edit-zone) costs time linear instead of quadratic
 * in its size. doc/pipe.md says where to use it. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli/commands.h"

/* Writes all of buf to fd; false on an error (the peer went away). */
static bool write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

int cli_relay(const char *sock_path, int argc, char **argv)
{
    (void)argv;
    if (argc != 0) {
        fprintf(stderr, "usage: geosteer [-s SOCKET] relay\n");
        return EX_USAGE;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(sock_path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "geosteer relay: socket path too long: %s\n", sock_path);
        return EX_USAGE;
    }
    strcpy(sa.sun_path, sock_path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "geosteer relay: cannot connect to %s: %s\n", sock_path, strerror(errno));
        return EX_UNAVAILABLE;
    }
    static char buf[1 << 16];
    struct pollfd p[2] = {{STDIN_FILENO, POLLIN, 0}, {s, POLLIN, 0}};
    bool in_open = true;
    for (;;) {
        if (poll(in_open ? p : p + 1, in_open ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (in_open && p[0].revents) {
            ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) { /* pdns is done: let the replies still due drain */
                in_open = false;
                shutdown(s, SHUT_WR);
            } else if (!write_all(s, buf, (size_t)n)) {
                break;
            }
        }
        if (p[1].revents) {
            ssize_t n = read(s, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0 || !write_all(STDOUT_FILENO, buf, (size_t)n))
                break; /* geosteerd went away: pdns sees EOF and starts a new relay */
        }
    }
    close(s);
    return 0;
}
