/* ingest.c: the ingest pipeline: decoding outside the server lock on the threads that
 * receive requests, a cache of stream schemas for it, the leader path, and the
 * committer thread that stores queued requests with one commit per group (see
 * ingest.h).
 *
 * One commit at a time (ing->busy): a request that finds none running and nothing
 * queued is stored by the thread that received it when that thread serves no other
 * connection (the leader path, a group of one: a thread that commits reads none of its
 * other connections meanwhile, which shrank the groups of many clients);
 * every other request is queued, and the committer stores the queue as one group once
 * the running commit is done.  So a connection thread commits only when nothing else
 * waits, and while it does, the other threads decode and queue the next group.
 *
 * Invariants (under ing->mu): a job is in the queue exactly while queued and not yet
 * taken into a group; busy is true exactly while a group (the committer's or a
 * leader's) is being stored; done is set once, after the job's group was stored and
 * published; suspended is true exactly while its connection is suspended and nobody
 * resumed it, so MHD_resume_connection is called once per suspend; an abandoned job is
 * finished by the committer and never touched by the access handler again.  A cached
 * schema holds one reference for the cache and one per job using it; it is freed when
 * the last goes. */
#include "ingest.h"

#include "json_in.h"
#include "limits.h"
#include "mem.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The events one group takes at most (a single larger request still makes a group of
 * its own): it bounds how long one commit holds the server lock. */
#define GROUP_MAX_EVENTS 16384
/* Schema copies kept at most; past it the cache starts again empty. */
#define CACHE_MAX 64

struct sl_schema_ref {
    char *name;        /* the stream as a request path named it */
    sl_schema *schema; /* a copy, owned */
    uint64_t version;  /* sl_instance_catalog_version when it was copied */
    unsigned refs;
    sl_schema_ref *next;
};

struct sl_ingest {
    sl_instance *in;
    pthread_mutex_t *lock; /* the server lock (borrowed) */
    void (*finish)(void *ctx, sl_ingest_job *job);
    bool (*pace)(void *ctx, bool wait);
    void *ctx;
    pthread_t committer;
    bool started;

    pthread_mutex_t mu;
    pthread_cond_t wake;
    bool stopping;
    bool busy;                  /* a group is being stored */
    sl_ingest_job *head, *tail; /* the queue */
    sl_schema_ref *cache;
    size_t ncached;

    uint64_t events; /* under the server lock */
    /* Commits made (groups stored), and of them the leader path's; under the server
     * lock. */
    uint64_t commits, led;
};

int sl_ingest_stream_lookup(sl_instance *in, const char *name, sl_stream_info *info)
{
    char upper[SL_MAX_IDENT + 1];
    size_t n = strlen(name);

    if (sl_instance_stream_get(in, name, info) == 0)
        return 0;
    if (n > SL_MAX_IDENT)
        return -1;
    for (size_t i = 0; i <= n; i++)
        upper[i] = (char)toupper((unsigned char)name[i]);
    return sl_instance_stream_get(in, upper, info);
}

/* --- the schema cache ------------------------------------------------------------------ */

/* Drops a reference (under ing->mu). */
static void ref_drop(sl_schema_ref *r)
{
    if (!r || --r->refs > 0)
        return;
    sl_schema_free(r->schema);
    free(r->name);
    free(r);
}

/* Empties the cache (under ing->mu); jobs keep the copies they hold. */
static void cache_clear(sl_ingest *ing)
{
    while (ing->cache) {
        sl_schema_ref *r = ing->cache;
        ing->cache = r->next;
        ref_drop(r);
    }
    ing->ncached = 0;
}

/* A reference to the schema of the stream the path names (the caller drops it), or NULL
 * with err set when there is no such stream.  A miss copies the schema under the server
 * lock. */
static sl_schema_ref *schema_get(sl_ingest *ing, const char *name, sl_error *err)
{
    sl_schema_ref *r;
    sl_stream_info info;
    int rc;

    pthread_mutex_lock(&ing->mu);
    for (r = ing->cache; r && strcmp(r->name, name) != 0; r = r->next)
        ;
    if (r)
        r->refs++;
    pthread_mutex_unlock(&ing->mu);
    if (r)
        return r;

    r = sl_xcalloc(1, sizeof(*r));
    pthread_mutex_lock(ing->lock);
    rc = sl_ingest_stream_lookup(ing->in, name, &info);
    if (rc == 0) {
        r->schema = sl_schema_copy(info.schema);
        r->version = sl_instance_catalog_version(ing->in);
    }
    pthread_mutex_unlock(ing->lock);
    if (rc < 0) {
        free(r);
        sl_error_set(err, SL_ERR_UNKNOWN_STREAM, 0, 0, "unknown stream '%s'", name);
        return NULL;
    }
    r->name = sl_xstrdup(name);
    r->refs = 2; /* the cache's and the caller's */
    pthread_mutex_lock(&ing->mu);
    if (ing->ncached >= CACHE_MAX)
        cache_clear(ing);
    r->next = ing->cache;
    ing->cache = r;
    ing->ncached++;
    pthread_mutex_unlock(&ing->mu);
    return r;
}

/* --- jobs -------------------------------------------------------------------------------- */

void sl_ingest_job_clear(sl_ingest_job *job)
{
    sl_json_rows_free(job->rows, job->rows ? job->req.n : 0);
    job->rows = NULL;
    sl_ingest_req_clear(&job->req);
    sl_buf_free(&job->answer);
}

/* Decodes the job's body with schema (borrowed) into its rows, its answer and its
 * encoded blob.  Returns 0, or -1 with job->req.err set. */
static int job_decode(sl_ingest *ing, sl_ingest_job *job, const sl_schema *schema)
{
    size_t n = 0;

    sl_json_rows_free(job->rows, job->rows ? job->req.n : 0);
    job->rows = NULL;
    job->req.n = 0;
    if (sl_json_decode_events(job->body ? job->body : "", job->len, job->ndjson, schema,
                              sl_instance_now_ms(ing->in), &job->rows, &n, &job->req.err) < 0)
        return -1;
    job->req.stream = schema->name;
    job->req.rows = job->rows;
    job->req.n = n;
    sl_buf_reset(&job->answer);
    sl_buf_printf(&job->answer, "{\"accepted\":%zu}", n);
    job->key.answer = job->answer.data;
    job->req.key = job->keyed ? &job->key : NULL;
    sl_ingest_req_encode(&job->req);
    return 0;
}

bool sl_ingest_wait(sl_ingest *ing, sl_ingest_job *job)
{
    bool done;

    pthread_mutex_lock(&ing->mu);
    done = job->done;
    if (!done && !job->suspended) {
        job->suspended = true;
        MHD_suspend_connection(job->conn);
    }
    pthread_mutex_unlock(&ing->mu);
    return done;
}

bool sl_ingest_abandon(sl_ingest *ing, sl_ingest_job *job)
{
    bool pending;

    pthread_mutex_lock(&ing->mu);
    pending = job->queued && !job->done;
    if (pending)
        job->abandoned = true;
    pthread_mutex_unlock(&ing->mu);
    return !pending;
}

uint64_t sl_ingest_events(const sl_ingest *ing)
{
    return ing->events;
}

uint64_t sl_ingest_commits(const sl_ingest *ing, uint64_t *led)
{
    *led = ing->led;
    return ing->commits;
}

/* --- the committer ----------------------------------------------------------------------- */

/* Under the server lock: a job whose schema copy is older than the catalog is decoded
 * again with the stream's schema of now.  Returns 0, or -1 with job->req.err set. */
static int job_refresh(sl_ingest *ing, sl_ingest_job *job, uint64_t version)
{
    sl_stream_info info;

    if (job->schema->version == version)
        return 0;
    pthread_mutex_lock(&ing->mu);
    cache_clear(ing);
    pthread_mutex_unlock(&ing->mu);
    if (sl_ingest_stream_lookup(ing->in, job->stream, &info) < 0)
        return sl_error_set(&job->req.err, SL_ERR_UNKNOWN_STREAM, 0, 0, "unknown stream '%s'",
                            job->stream);
    return job_decode(ing, job, info.schema);
}

/* Under the server lock, paced already: stores one group (jobs linked through next, n
 * of them) with one commit. */
static void store_group(sl_ingest *ing, sl_ingest_job *group, size_t n)
{
    sl_ingest_req *one, **reqs = n == 1 ? &one : sl_xcalloc(n, sizeof(*reqs));
    size_t nreqs = 0;

    uint64_t version = sl_instance_catalog_version(ing->in);
    for (sl_ingest_job *j = group; j; j = j->next) {
        if (job_refresh(ing, j, version) == 0)
            reqs[nreqs++] = &j->req;
        else
            j->req.rc = -1;
    }
    sl_instance_ingest_group(ing->in, reqs, nreqs);
    ing->commits++;
    for (size_t i = 0; i < nreqs; i++)
        if (reqs[i]->rc == 0)
            ing->events += reqs[i]->n;
    if (reqs != &one)
        free(reqs);
}

/* Stores one group with one commit, once the result streams caught up (pace). */
static void commit_group(sl_ingest *ing, sl_ingest_job *group, size_t n)
{
    pthread_mutex_lock(ing->lock);
    if (ing->pace)
        ing->pace(ing->ctx, true);
    store_group(ing, group, n);
    pthread_mutex_unlock(ing->lock);
}

/* Takes a group from the queue (up to GROUP_MAX_EVENTS, at least one job), stores it and
 * answers it.  Called with ing->mu held; releases it while it stores the group and while
 * it finishes abandoned jobs. */
static void commit_round(sl_ingest *ing)
{
    sl_ingest_job *group = ing->head, *last = group, *finished = NULL;
    size_t n = 1, events = group->req.n;

    while (last->next && events + last->next->req.n <= GROUP_MAX_EVENTS) {
        last = last->next;
        events += last->req.n;
        n++;
    }
    ing->head = last->next;
    if (!ing->head)
        ing->tail = NULL;
    last->next = NULL;
    ing->busy = true;
    pthread_mutex_unlock(&ing->mu);

    commit_group(ing, group, n);

    /* The rows are in the log and through the queries: answer (the thread that made
     * them frees them, with the job). */
    pthread_mutex_lock(&ing->mu);
    ing->busy = false;
    for (sl_ingest_job *j = group, *next; j; j = next) {
        next = j->next;
        ref_drop(j->schema);
        j->schema = NULL;
        j->done = true;
        if (j->abandoned) {
            j->next = finished;
            finished = j;
        } else if (j->suspended) {
            j->suspended = false;
            MHD_resume_connection(j->conn);
        }
    }
    if (finished) {
        pthread_mutex_unlock(&ing->mu);
        while (finished) {
            sl_ingest_job *j = finished;
            finished = j->next;
            ing->finish(ing->ctx, j);
        }
        pthread_mutex_lock(&ing->mu);
    }
}

static void *committer_main(void *arg)
{
    sl_ingest *ing = arg;

    pthread_mutex_lock(&ing->mu);
    for (;;) {
        /* A leader's commit running: it wakes the committer when it is done. */
        while (ing->busy || (!ing->head && !ing->stopping))
            pthread_cond_wait(&ing->wake, &ing->mu);
        if (!ing->head)
            break;
        commit_round(ing);
    }
    pthread_mutex_unlock(&ing->mu);
    return NULL;
}

/* --- submitting ----------------------------------------------------------------------- */

/* Appends a job to the queue (under ing->mu); the committer is woken unless a commit
 * runs (whoever runs it looks at the queue when it is done). */
static void enqueue(sl_ingest *ing, sl_ingest_job *job)
{
    if (ing->tail)
        ing->tail->next = job;
    else
        ing->head = job;
    ing->tail = job;
    if (!ing->busy)
        pthread_cond_signal(&ing->wake);
}

/* The leader path, called with ing->mu held when no commit runs and nothing is queued:
 * stores the job on this thread as a group of one, so that it is answered without
 * suspending its connection.  Returns true with ing->mu released and the job done;
 * false, ing->mu held and nothing done, when a result stream is behind (the committer
 * then stores the job, after waiting for it: this thread may be the one that has to
 * send it). */
static bool lead(sl_ingest *ing, sl_ingest_job *job)
{
    ing->busy = true;
    pthread_mutex_unlock(&ing->mu);
    pthread_mutex_lock(ing->lock);
    bool paced = !ing->pace || ing->pace(ing->ctx, false);
    if (paced) {
        store_group(ing, job, 1);
        ing->led++;
    }
    pthread_mutex_unlock(ing->lock);
    pthread_mutex_lock(&ing->mu);
    ing->busy = false;
    if (!paced)
        return false;
    ref_drop(job->schema);
    job->schema = NULL;
    job->done = true;
    /* Requests queued meanwhile make the committer's next group. */
    if (ing->head || ing->stopping)
        pthread_cond_signal(&ing->wake);
    pthread_mutex_unlock(&ing->mu);
    return true;
}

/* True when the catalog changed since r was copied (then the cache is emptied). */
static bool schema_stale(sl_ingest *ing, const sl_schema_ref *r)
{
    bool stale;

    pthread_mutex_lock(ing->lock);
    stale = r->version != sl_instance_catalog_version(ing->in);
    pthread_mutex_unlock(ing->lock);
    if (stale) {
        pthread_mutex_lock(&ing->mu);
        cache_clear(ing);
        pthread_mutex_unlock(&ing->mu);
    }
    return stale;
}

int sl_ingest_submit(sl_ingest *ing, sl_ingest_job *job)
{
    sl_schema_ref *r = schema_get(ing, job->stream, &job->req.err);
    int rc;

    job->req.rc = -1;
    if (!r)
        return -1;
    rc = job_decode(ing, job, r->schema);
    if (rc < 0 && schema_stale(ing, r)) {
        /* Not the body's fault maybe: the stream was made again since the copy. */
        pthread_mutex_lock(&ing->mu);
        ref_drop(r);
        pthread_mutex_unlock(&ing->mu);
        r = schema_get(ing, job->stream, &job->req.err);
        if (!r)
            return -1;
        rc = job_decode(ing, job, r->schema);
    }
    if (rc < 0) {
        pthread_mutex_lock(&ing->mu);
        ref_drop(r);
        pthread_mutex_unlock(&ing->mu);
        return -1;
    }
    pthread_mutex_lock(&ing->mu);
    if (ing->stopping) {
        ref_drop(r);
        pthread_mutex_unlock(&ing->mu);
        return sl_error_set(&job->req.err, SL_ERR_SHUTTING_DOWN, 0, 0,
                            "the server is shutting down");
    }
    job->schema = r;
    job->queued = true;
    job->next = NULL;
    if (job->may_lead && !ing->busy && !ing->head && lead(ing, job))
        return 0;
    enqueue(ing, job);
    pthread_mutex_unlock(&ing->mu);
    return 0;
}

/* --- start and stop ------------------------------------------------------------------------ */

sl_ingest *sl_ingest_new(sl_instance *in, pthread_mutex_t *lock,
                         void (*finish)(void *ctx, sl_ingest_job *job),
                         bool (*pace)(void *ctx, bool wait), void *ctx)
{
    sl_ingest *ing = sl_xcalloc(1, sizeof(*ing));
    pthread_mutexattr_t ma;

    ing->in = in;
    ing->lock = lock;
    ing->finish = finish;
    ing->pace = pace;
    ing->ctx = ctx;
    /* Held briefly by the polling threads and the committer: a waiter spins a little
     * before it sleeps. */
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&ing->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_cond_init(&ing->wake, NULL);
    if (pthread_create(&ing->committer, NULL, committer_main, ing) != 0) {
        /* Without a committer every submission is refused. */
        ing->stopping = true;
        return ing;
    }
    ing->started = true;
    return ing;
}

void sl_ingest_stop(sl_ingest *ing)
{
    if (!ing)
        return;
    pthread_mutex_lock(&ing->mu);
    ing->stopping = true;
    pthread_cond_signal(&ing->wake);
    pthread_mutex_unlock(&ing->mu);
    if (ing->started)
        pthread_join(ing->committer, NULL);
    ing->started = false;
}

void sl_ingest_free(sl_ingest *ing)
{
    if (!ing)
        return;
    cache_clear(ing);
    pthread_cond_destroy(&ing->wake);
    pthread_mutex_destroy(&ing->mu);
    free(ing);
}
