#include "common/program.h"

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include "common/log.h"

int program_option(program_t *p, int c)
{
    switch (c) {
    case 'V':
        printf("%s %s\n", p->name, GEOSTEER_VERSION);
        return 0;
    case 'h':
        p->usage(stdout);
        return 0;
    case 'l':
        p->log_level = optarg;
        return -1;
    case GS_OPT_SYSLOG:
        p->syslog = true;
        return -1;
    default:
        p->usage(stderr);
        return EX_USAGE;
    }
}

int program_start(program_t *p, int argc, int default_level)
{
    if (optind != argc) {
        p->usage(stderr);
        return EX_USAGE;
    }
    int level = default_level;
    if (p->log_level && (level = log_level_parse(p->log_level)) < 0) {
        fprintf(stderr, "%s: unknown log level '%s'\n", p->name, p->log_level);
        return EX_USAGE;
    }
    if (level >= 0)
        log_set_level(level);
    if (p->syslog)
        log_use_syslog(p->name);
    return 0;
}

void program_block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int program_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
        return -EINVAL;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* an abstract socket */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
                       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    int rc = n < 0 ? -errno : 0;
    close(fd);
    return rc;
}
