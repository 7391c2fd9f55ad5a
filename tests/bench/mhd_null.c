/* mhd_null.c: libmicrohttpd answering ingest requests without storing them (see
 * mhd_null.h).  With handoff, a request whose body is read is queued and its
 * connection suspended; one thread takes everything queued at once (a "group", as
 * sluice's committer does, minus the commit and the queries) and resumes each
 * connection, whose polling thread then answers.  So the figures separate what
 * libmicrohttpd and the cross-thread hand-off cost from what sluice's own work adds. */
#include "mhd_null.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct pending {
    struct MHD_Connection *conn;
    bool done;
    pthread_cond_t cond; /* MHD_NULL_BLOCK: its thread waits on it */
    struct pending *next;
} pending;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pending *queue;
static bench_mhd_mode mode;

static enum MHD_Result answer(struct MHD_Connection *conn)
{
    static const char body[] = "{\"accepted\":1}";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, r);

    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
    pending *p = *con_cls;

    (void)cls, (void)url, (void)method, (void)version, (void)data;
    if (!p) {
        p = calloc(1, sizeof(*p));
        if (!p)
            return MHD_NO;
        p->conn = conn;
        pthread_cond_init(&p->cond, NULL);
        *con_cls = p;
        return MHD_YES;
    }
    if (*size) {
        *size = 0; /* the body is read and dropped */
        return MHD_YES;
    }
    if (mode == MHD_NULL_AT_ONCE || p->done)
        return answer(conn);
    pthread_mutex_lock(&mu);
    p->next = queue;
    queue = p;
    pthread_cond_signal(&wake);
    if (mode == MHD_NULL_BLOCK) {
        while (!p->done)
            pthread_cond_wait(&p->cond, &mu);
        pthread_mutex_unlock(&mu);
        return answer(conn);
    }
    pthread_mutex_unlock(&mu);
    MHD_suspend_connection(conn);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    pending *p = *con_cls;

    (void)cls, (void)conn, (void)why;
    if (p)
        pthread_cond_destroy(&p->cond);
    free(p);
    *con_cls = NULL;
}

/* The stand-in for sluice's committer: takes the whole queue and resumes it. */
static void *resumer(void *arg)
{
    (void)arg;
    for (;;) {
        pending *group;

        pthread_mutex_lock(&mu);
        while (!queue)
            pthread_cond_wait(&wake, &mu);
        group = queue;
        queue = NULL;
        if (mode == MHD_NULL_BLOCK) {
            for (; group; group = group->next) {
                group->done = true;
                pthread_cond_signal(&group->cond);
            }
        }
        pthread_mutex_unlock(&mu);
        while (group) {
            pending *next = group->next;
            group->done = true;
            MHD_resume_connection(group->conn);
            group = next;
        }
    }
    return NULL;
}

int bench_mhd_null_start(unsigned threads, bench_mhd_mode how)
{
    struct sockaddr_in sa;
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *di;
    pthread_t t;

    unsigned flags =
        how == MHD_NULL_BLOCK
            ? MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO
            : MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME;

    mode = how;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                         MHD_OPTION_THREAD_POOL_SIZE, how == MHD_NULL_BLOCK ? 0 : threads,
                         MHD_OPTION_END);
    if (!d)
        return -1;
    if (how != MHD_NULL_AT_ONCE) {
        if (pthread_create(&t, NULL, resumer, NULL) != 0)
            return -1;
        pthread_detach(t);
    }
    di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    return di ? di->port : -1;
}
