/* ingest.h: ingest requests (POST /v1/streams/{name}/events) off the server lock, with
 * group commit.
 *
 * A request's body is decoded into rows (json_in.c) and encoded for the log on the
 * thread that received it, without the server lock, against a copy of its stream's
 * schema taken from a small cache.  A request that finds no commit running and no
 * request queued, received by a thread that serves no other connection (may_lead), is
 * stored at once by that thread, under the server lock (the leader path:
 * sl_instance_ingest_group with a group of one), and answered from there without
 * suspending its connection.  Any other request is queued: one
 * committer thread takes every queued request (up to a bound of events) once the
 * running commit is done and, under the server lock, stores them all with one commit
 * (sl_instance_ingest_group), which then pushes their rows through the queries.  Each
 * request is answered only once that commit is done; its connection is suspended
 * meanwhile (sl_ingest_wait: no thread waits for it) and the committer resumes it.  So
 * a lone request costs no thread switch, the decoding of many requests runs in
 * parallel, and the cost of a commit (and of its fsync with --fsync always) is shared
 * by every request that arrived while the previous one ran.  One commit runs at a
 * time, and every request is answered as if it had come alone.
 *
 * A schema copy is checked when its request is stored: when the catalog changed since
 * the copy was taken (sl_instance_catalog_version), the body is decoded again, under
 * the lock, with the stream's schema of now (or the request fails with UNKNOWN_STREAM
 * if it is gone), and the cache is emptied.
 *
 * Locking: the server lock is taken before the pipeline's own mutex, never after; MHD's
 * suspend and resume are called with the pipeline's mutex held. */
#ifndef SL_INGEST_H
#define SL_INGEST_H

#include "instance.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_ingest sl_ingest;
typedef struct sl_schema_ref sl_schema_ref;

typedef struct sl_ingest_job {
    /* Set by the caller before sl_ingest_submit; everything borrowed until the job ends
     * (sl_ingest_wait returned true, or the pipeline called finish). */
    struct MHD_Connection *conn;
    const char *stream; /* the stream as the request's path names it */
    const char *body;
    size_t len;
    bool ndjson;
    bool keyed; /* key holds the request's Idempotency-Key */
    /* The submitting thread may store it itself when nothing else waits (the leader
     * path): true only when that thread serves no other connection, which it would
     * not read meanwhile. */
    bool may_lead;
    sl_ingest_key key; /* key.key borrowed; key.answer is set by sl_ingest_submit */

    /* The answer, once the job ends: req.rc 0 (stored: answer holds the body to send),
     * 1 (a repeated key: req.replay holds the answer given then) or -1 (req.err). */
    sl_ingest_req req;
    sl_buf answer;

    /* The pipeline's own (under its mutex, or the committer's alone while queued). */
    sl_row **rows;
    sl_schema_ref *schema;
    bool queued, done, suspended, abandoned;
    struct sl_ingest_job *next;
} sl_ingest_job;

/* A pipeline for in (borrowed), whose calls into it are made with lock (borrowed)
 * held; starts the committer thread.  finish(ctx, job) is called on the committer
 * thread, without any lock, for every job abandoned before its answer: the job's owner
 * frees it there.  pace(ctx, wait), when not NULL, is called with lock held before each
 * group is stored and returns whether the group may be stored now: on the committer
 * with wait true, where it may wait on lock (result streams catching up) and the group
 * is stored whatever it returns; on a leader's thread with wait false, where it must
 * not wait (that thread may be the one the streams wait for) and false hands the
 * request to the committer.  Caller frees with sl_ingest_stop and then
 * sl_ingest_free. */
sl_ingest *sl_ingest_new(sl_instance *in, pthread_mutex_t *lock,
                         void (*finish)(void *ctx, sl_ingest_job *job),
                         bool (*pace)(void *ctx, bool wait), void *ctx);
/* Answers every queued job, then stops the committer; later submissions fail with
 * SHUTTING_DOWN.  Call without the server lock. */
void sl_ingest_stop(sl_ingest *ing);
/* Accepts NULL; after sl_ingest_stop. */
void sl_ingest_free(sl_ingest *ing);

/* Decodes the job's body and stores it at once (the leader path, when job->may_lead:
 * the job is done when this returns) or queues it.  Returns 0, or -1 with job->req.err set when it
 * is answered at once (an unknown stream, a bad body, a stopped pipeline).  Call without the server
 * lock, from any thread. */
int sl_ingest_submit(sl_ingest *ing, sl_ingest_job *job);
/* From MHD's access handler of the job's connection: true when the job has its
 * answer; otherwise suspends the connection, which the committer resumes once it has
 * (MHD then calls the handler again). */
bool sl_ingest_wait(sl_ingest *ing, sl_ingest_job *job);
/* The job's connection ended: true when the caller may free the job now, false when
 * it is still queued (finish is called for it once it is answered). */
bool sl_ingest_abandon(sl_ingest *ing, sl_ingest_job *job);
/* Frees what a job holds (not the job itself). */
void sl_ingest_job_clear(sl_ingest_job *job);

/* Events stored since the start (call with the server lock held). */
uint64_t sl_ingest_events(const sl_ingest *ing);
/* Group commits made since the start, and in *led how many of them the leader path
 * made (call with the server lock held). */
uint64_t sl_ingest_commits(const sl_ingest *ing, uint64_t *led);

/* A stream by the name a request path gives: as written, else as an unquoted
 * (upper-cased) identifier.  Call with the server lock held; -1 when there is none. */
int sl_ingest_stream_lookup(sl_instance *in, const char *name, sl_stream_info *info);

#endif
