/* ckptwriter.c: the checkpoint writer thread of ckptwriter.h.
 *
 * Invariants: `job` is the job submitted and not collected (NULL when none); `done`
 * says the thread has finished with it; `in_tx` is true exactly while the thread runs a
 * transaction of it, and none starts once the job is cancelled.  The thread reads the
 * job's inputs without the mutex (the submitter does not touch a submitted job until
 * it collects it) and sets its results before setting done. */
#include "ckptwriter.h"

#include "limits.h"
#include "mem.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Parts of other generations deleted per transaction after a checkpoint is written:
 * each frees up to SL_CHECKPOINT_PART_BYTES, like a part's write. */
#define TRIM_PARTS 1
/* After writing this many parts the writer copies the WAL into the database itself
 * (sl_store_wal_copy), off the other writers' path. */
#define WAL_COPY_PARTS 16

struct sl_ckptwriter {
    sl_store *side; /* owned */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* the thread: a job came, or stop */
    pthread_cond_t changed; /* callers: done or in_tx changed */
    sl_ckpt_job *job;
    bool done, in_tx, stop;
};

sl_ckpt_job *sl_ckpt_job_new(const char *query_id, const void *owner)
{
    sl_ckpt_job *job = sl_xcalloc(1, sizeof(*job));

    job->query_id = sl_xstrdup(query_id);
    job->owner = owner;
    return job;
}

void sl_ckpt_job_free(sl_ckpt_job *job)
{
    if (!job)
        return;
    free(job->query_id);
    sl_buf_free(&job->state);
    for (size_t i = 0; i < sizeof(job->kept) / sizeof(job->kept[0]); i++)
        sl_buf_free(&job->kept[i]);
    free(job->snaps);
    free(job);
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Marks the start of a transaction of job; false when it is cancelled (then none may
 * start). */
static bool tx_start(sl_ckptwriter *w, sl_ckpt_job *job)
{
    bool go;

    pthread_mutex_lock(&w->mu);
    go = !job->cancelled;
    w->in_tx = go;
    pthread_mutex_unlock(&w->mu);
    return go;
}

static void tx_done(sl_ckptwriter *w)
{
    pthread_mutex_lock(&w->mu);
    w->in_tx = false;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->mu);
}

/* Writes job: its parts, then the checkpoint row that makes them the checkpoint, then
 * deletes the parts of other generations.  Sets job->rc and job->err. */
static void write_job(sl_ckptwriter *w, sl_ckpt_job *job)
{
    const char *data = job->state.data;
    size_t len = job->state.len;
    uint64_t parts = (len + SL_CHECKPOINT_PART_BYTES - 1) / SL_CHECKPOINT_PART_BYTES;
    double t0 = now_ms(), t1;
    unsigned deleted;
    int rc = 0;

    job->c.parts = parts;
    job->c.state_len = len;
    for (uint64_t n = 0; rc == 0 && n < parts; n++) {
        size_t at = (size_t)n * SL_CHECKPOINT_PART_BYTES;
        size_t part = len - at < SL_CHECKPOINT_PART_BYTES ? len - at : SL_CHECKPOINT_PART_BYTES;

        if (!tx_start(w, job))
            goto cancelled;
        rc = sl_store_checkpoint_part_put(w->side, job->query_id, job->c.gen, n, data + at, part,
                                          &job->err);
        tx_done(w);
        if (rc == 0 && n % WAL_COPY_PARTS == WAL_COPY_PARTS - 1)
            sl_store_wal_copy(w->side, false);
    }
    if (rc < 0)
        goto done;
    if (!tx_start(w, job))
        goto cancelled;
    t1 = now_ms();
    rc = sl_store_checkpoint_put(w->side, job->query_id, &job->c, job->outputs, job->noutputs,
                                 job->snaps, job->nsnaps, &job->err);
    job->commit_ms = now_ms() - t1;
    tx_done(w);
    /* Once per checkpoint the WAL is brought back to empty: it grows by at most about
     * one checkpoint. */
    sl_store_wal_copy(w->side, true);
    /* The parts a former checkpoint or a write cut short left.  A failure here leaves
     * them for the next checkpoint's trim; this one is written. */
    do {
        if (rc < 0 || !tx_start(w, job))
            break;
        sl_error ignored;
        int trc = sl_store_checkpoint_trim(w->side, job->query_id, job->c.gen, TRIM_PARTS, &deleted,
                                           &ignored);
        tx_done(w);
        if (trc < 0)
            break;
    } while (deleted == TRIM_PARTS);
    goto done;
cancelled:
    rc = sl_error_set(&job->err, SL_ERR_QUERY_DROPPED, 0, 0, "the query was dropped");
done:
    job->rc = rc;
    job->write_ms = now_ms() - t0;
}

static void *writer_main(void *arg)
{
    sl_ckptwriter *w = arg;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stop && (!w->job || w->done))
            pthread_cond_wait(&w->wake, &w->mu);
        if (!w->job || w->done)
            break;
        sl_ckpt_job *job = w->job;
        pthread_mutex_unlock(&w->mu);
        write_job(w, job);
        pthread_mutex_lock(&w->mu);
        w->done = true;
        pthread_cond_broadcast(&w->changed);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int sl_ckptwriter_new(sl_store *store, sl_ckptwriter **out, sl_error *err)
{
    sl_ckptwriter *w = sl_xcalloc(1, sizeof(*w));

    *out = NULL;
    if (sl_store_open_side(store, &w->side, err) < 0) {
        free(w);
        return -1;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_cond_init(&w->changed, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        sl_error_set(err, SL_ERR_INTERNAL, 0, 0, "cannot start the checkpoint writer thread");
        pthread_cond_destroy(&w->changed);
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->mu);
        sl_store_close(w->side);
        free(w);
        return -1;
    }
    *out = w;
    return 0;
}

void sl_ckptwriter_free(sl_ckptwriter *w)
{
    if (!w)
        return;
    sl_ckpt_job_free(sl_ckptwriter_wait(w));
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->changed);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->mu);
    sl_store_close(w->side);
    free(w);
}

bool sl_ckptwriter_busy(sl_ckptwriter *w)
{
    bool busy;

    pthread_mutex_lock(&w->mu);
    busy = w->job != NULL;
    pthread_mutex_unlock(&w->mu);
    return busy;
}

void sl_ckptwriter_submit(sl_ckptwriter *w, sl_ckpt_job *job)
{
    pthread_mutex_lock(&w->mu);
    w->job = job;
    w->done = false;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
}

/* Takes the job when it is done (w->mu held). */
static sl_ckpt_job *take_done(sl_ckptwriter *w)
{
    sl_ckpt_job *job = NULL;

    if (w->job && w->done) {
        job = w->job;
        w->job = NULL;
    }
    return job;
}

sl_ckpt_job *sl_ckptwriter_poll(sl_ckptwriter *w)
{
    sl_ckpt_job *job;

    pthread_mutex_lock(&w->mu);
    job = take_done(w);
    pthread_mutex_unlock(&w->mu);
    return job;
}

sl_ckpt_job *sl_ckptwriter_wait(sl_ckptwriter *w)
{
    sl_ckpt_job *job;

    pthread_mutex_lock(&w->mu);
    while (w->job && !w->done)
        pthread_cond_wait(&w->changed, &w->mu);
    job = take_done(w);
    pthread_mutex_unlock(&w->mu);
    return job;
}

void sl_ckptwriter_cancel(sl_ckptwriter *w, const void *owner)
{
    pthread_mutex_lock(&w->mu);
    if (w->job && w->job->owner == owner) {
        w->job->cancelled = true;
        while (w->in_tx)
            pthread_cond_wait(&w->changed, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
}
