/* listener.c: the listening socket, the thread that accepts, and the polling threads
 * it spreads the connections over.
 *
 * Each polling thread is a libmicrohttpd daemon of its own, started without a listening
 * socket; the accepting thread gives each new connection (MHD_add_connection) to the
 * daemon that serves the fewest, ties taken in turn.  A daemon counts a connection from
 * the moment it is given one until libmicrohttpd reports it closed
 * (MHD_CONNECTION_NOTIFY_CLOSED, on that daemon's thread).
 *
 * --max-connections: the accepting thread takes a connection from the listen queue only
 * while fewer are open; at the limit it waits on the wake-up pipe, which a closing
 * connection writes to, so a new client waits in the kernel's queue, unanswered, rather
 * than being accepted and closed.
 *
 * Invariants: open is the sum of the workers' open, and both change under mu only;
 * the wake-up pipe outlives the daemons (their closing connections write to it). */
#include "listener.h"

#include "http.h"
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long the accepting thread pauses when accept() fails for want of descriptors or
 * memory, so that it does not spin while none come free (ms). */
#define ACCEPT_RETRY_MS 100

typedef struct worker {
    sl_listener *l;
    struct MHD_Daemon *daemon;
    unsigned open; /* connections given to it and not closed yet; under l->mu */
} worker;

struct sl_listener {
    int fd;      /* the listening socket; -1 once closed */
    int wake[2]; /* a pipe: a byte in it wakes the accepting thread */
    unsigned port;
    unsigned max_connections;
    pthread_mutex_t mu;
    unsigned open;    /* connections open, all workers together */
    bool room_wanted; /* the accepting thread waits for a connection to close */
    bool stopping;
    bool accepting; /* the accepting thread runs (until sl_listener_quiesce joins it) */
    pthread_t acceptor;
    unsigned nworkers;
    unsigned next;    /* where the search for the least busy worker starts */
    int accept_errno; /* why accept() failed last, until it works again (0: it works);
                       * the accepting thread's own */
    worker *workers;
};

static void poke(sl_listener *l)
{
    char c = 1;
    ssize_t n = write(l->wake[1], &c, 1);
    (void)n; /* A full pipe already holds a wake-up. */
}

static void drain(int fd)
{
    char buf[64];
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
}

/* MHD_OPTION_NOTIFY_CONNECTION of every daemon: a closed connection makes room. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    worker *w = cls;
    sl_listener *l = w->l;
    bool wake;

    (void)conn;
    (void)socket_context;
    if (code != MHD_CONNECTION_NOTIFY_CLOSED)
        return;
    pthread_mutex_lock(&l->mu);
    w->open--;
    l->open--;
    wake = l->room_wanted;
    l->room_wanted = false;
    pthread_mutex_unlock(&l->mu);
    if (wake)
        poke(l);
}

/* Counts a connection for the worker serving the fewest, or returns NULL when
 * --max-connections are open (then the accepting thread waits for room). */
static worker *reserve(sl_listener *l)
{
    worker *best = NULL;

    pthread_mutex_lock(&l->mu);
    if (!l->stopping && l->open < l->max_connections) {
        for (unsigned i = 0; i < l->nworkers; i++) {
            worker *w = &l->workers[(l->next + i) % l->nworkers];
            if (!best || w->open < best->open)
                best = w;
        }
        best->open++;
        l->open++;
        l->next = (unsigned)(best - l->workers + 1) % l->nworkers;
    }
    pthread_mutex_unlock(&l->mu);
    return best;
}

static void unreserve(sl_listener *l, worker *w)
{
    pthread_mutex_lock(&l->mu);
    w->open--;
    l->open--;
    pthread_mutex_unlock(&l->mu);
}

/* Takes connections from the listen queue until it is empty or the limit is reached.
 * Returns how long to pause before polling again (ms; 0: none). */
static int accept_ready(sl_listener *l)
{
    for (;;) {
        worker *w = reserve(l);
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int c;

        if (!w)
            return 0;
        c = accept4(l->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            int e = errno;
            unreserve(l, w);
            if (e == EINTR || e == ECONNABORTED || e == EPROTO)
                continue;
            if (e == EAGAIN || e == EWOULDBLOCK)
                return 0;
            /* Said once, not at every retry, until accepting works again. */
            if (e != l->accept_errno)
                sl_log(SL_LOG_WARN,
                       "cannot accept a connection: %s (new clients wait; retrying every "
                       "%d ms)",
                       strerror(e), ACCEPT_RETRY_MS);
            l->accept_errno = e;
            return ACCEPT_RETRY_MS;
        }
        if (l->accept_errno) {
            sl_log(SL_LOG_INFO, "accepting connections again");
            l->accept_errno = 0;
        }
        /* libmicrohttpd owns the socket from here, and closes it if it refuses it. */
        if (MHD_add_connection(w->daemon, c, (struct sockaddr *)&peer, len) != MHD_YES) {
            unreserve(l, w);
            sl_log(SL_LOG_WARN, "cannot serve a new connection: %s", strerror(errno));
        }
    }
}

static void *acceptor_main(void *arg)
{
    sl_listener *l = arg;
    int pause_ms = 0;

    for (;;) {
        struct pollfd p[2] = {{.fd = l->wake[0], .events = POLLIN},
                              {.fd = l->fd, .events = POLLIN}};
        bool room;

        pthread_mutex_lock(&l->mu);
        if (l->stopping) {
            pthread_mutex_unlock(&l->mu);
            break;
        }
        room = l->open < l->max_connections && pause_ms == 0;
        if (l->open >= l->max_connections)
            l->room_wanted = true;
        pthread_mutex_unlock(&l->mu);
        if (poll(p, room ? 2 : 1, room ? -1 : (pause_ms ? pause_ms : -1)) < 0)
            continue;
        pause_ms = 0;
        if (p[0].revents & POLLIN)
            drain(l->wake[0]);
        if (room && (p[1].revents & POLLIN))
            pause_ms = accept_ready(l);
    }
    return NULL;
}

/* The listening socket on addr; -1 with a message in msg. */
static int listen_on(sl_listener *l, const struct sockaddr *addr, char *msg, size_t msglen)
{
    socklen_t len =
        addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    struct sockaddr_storage bound;
    int one = 1;

    l->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0)
        goto fail;
    if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto fail;
    /* An IPv6 address means that address only, not the IPv4 ones too. */
    if (addr->sa_family == AF_INET6 &&
        setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
        goto fail;
    if (bind(l->fd, addr, len) < 0 || listen(l->fd, SOMAXCONN) < 0)
        goto fail;
    len = sizeof(bound);
    if (getsockname(l->fd, (struct sockaddr *)&bound, &len) < 0)
        goto fail;
    l->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    return 0;
fail:
    snprintf(msg, msglen, "cannot listen: %s", strerror(errno));
    return -1;
}

int sl_listener_start(const struct sockaddr *addr, unsigned threads, unsigned max_connections,
                      sl_listener_start_fn start, void *ctx, sl_listener **out, char *msg,
                      size_t msglen)
{
    sl_listener *l = sl_xcalloc(1, sizeof(*l));

    *out = NULL;
    l->fd = l->wake[0] = l->wake[1] = -1;
    l->max_connections = max_connections;
    pthread_mutex_init(&l->mu, NULL);
    l->workers = sl_xcalloc(threads, sizeof(*l->workers));
    if (listen_on(l, addr, msg, msglen) < 0)
        goto fail;
    if (pipe2(l->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
        snprintf(msg, msglen, "cannot create a pipe: %s", strerror(errno));
        goto fail;
    }
    for (; l->nworkers < threads; l->nworkers++) {
        worker *w = &l->workers[l->nworkers];
        w->l = l;
        w->daemon = start(ctx, on_connection, w, msg, msglen);
        if (!w->daemon)
            goto fail;
    }
    if (pthread_create(&l->acceptor, NULL, acceptor_main, l) != 0) {
        snprintf(msg, msglen, "cannot start the thread that accepts connections");
        goto fail;
    }
    l->accepting = true;
    *out = l;
    return 0;
fail:
    sl_listener_free(l);
    return -1;
}

unsigned sl_listener_port(const sl_listener *l)
{
    return l->port;
}

unsigned sl_listener_threads(const sl_listener *l)
{
    return l->nworkers;
}

unsigned sl_listener_open(sl_listener *l, unsigned *per_thread, unsigned n)
{
    unsigned open;

    pthread_mutex_lock(&l->mu);
    open = l->open;
    for (unsigned i = 0; i < n && i < l->nworkers; i++)
        per_thread[i] = l->workers[i].open;
    pthread_mutex_unlock(&l->mu);
    return open;
}

bool sl_listener_alone(sl_listener *l, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_DAEMON);
    bool alone = false;

    pthread_mutex_lock(&l->mu);
    for (unsigned i = 0; ci && i < l->nworkers; i++)
        if (l->workers[i].daemon == ci->daemon)
            alone = l->workers[i].open == 1;
    pthread_mutex_unlock(&l->mu);
    return alone;
}

void sl_listener_quiesce(sl_listener *l)
{
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    pthread_mutex_unlock(&l->mu);
    if (l->accepting) {
        poke(l);
        pthread_join(l->acceptor, NULL);
        l->accepting = false;
    }
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}

void sl_listener_free(sl_listener *l)
{
    if (!l)
        return;
    sl_listener_quiesce(l);
    for (unsigned i = 0; i < l->nworkers; i++)
        MHD_stop_daemon(l->workers[i].daemon);
    for (int i = 0; i < 2; i++)
        if (l->wake[i] >= 0)
            close(l->wake[i]);
    pthread_mutex_destroy(&l->mu);
    free(l->workers);
    free(l);
}
