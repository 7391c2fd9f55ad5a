/* instance.h: one sluice server's state, below HTTP: the live catalog of streams, the
 * running queries and the store, wired together.
 *
 * It knows nothing of HTTP or JSON: the HTTP layer decodes requests into rows and
 * statements, calls in here, and encodes what comes back.  All functions must be called
 * by one thread at a time (the HTTP layer holds one lock around every call), except the
 * few said to be callable from any thread.
 *
 * A live query (sl_live) is a plan running over one stream, its output numbered by seq
 * (1, 2, ... per query; deterministic: a query's output is a function of the log).  The
 * last SL_MAX_OUTPUT_HISTORY changes are kept for `?from=SEQ`; the latest row per key is
 * kept for snapshots.  Listeners (the HTTP fan-out) are told of each change once it is
 * recorded.
 *
 * Checkpoints: a persistent query's engine state, its seqs, the log offset it has read
 * up to, and what it keeps for `?from=SEQ` and snapshots are written to the store now
 * and then (sl_instance_checkpoint_step, from the server's upkeep; encoded under the
 * caller's lock, written by a thread of the instance's own without it) and at a clean
 * stop (sl_instance_checkpoint_all).  At start each persistent query restores its checkpoint
 * and replays the log from that offset, so every later change gets the seq it had before
 * the restart; without a usable checkpoint it replays the log from where it started. */
#ifndef SL_INSTANCE_H
#define SL_INSTANCE_H

#include "error.h"
#include "parse.h"
#include "plan.h"
#include "query.h"
#include "row.h"
#include "schema.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_instance sl_instance;
typedef struct sl_live sl_live;

typedef struct sl_instance_opts {
    const char *data_dir;
    sl_fsync fsync;
    /* Wall clock in epoch ms: arrival time for events without ROWTIME. */
    int64_t (*clock_ms)(void *ctx);
    void *clock_ctx;
    /* Bytes of state a query may hold before it fails alone, unless it has its own
     * limit; 0: SL_DEFAULT_QUERY_STATE_LIMIT. */
    uint64_t query_state_limit;
    /* How long (by the injected clock) a persistent query that changed goes without a
     * checkpoint, at most, in ms; 0: SL_DEFAULT_CHECKPOINT_INTERVAL_MS. */
    int64_t checkpoint_interval_ms;
    /* Receives a line for the server's log (borrowed for the call): a checkpoint found
     * at start that could not be used.  May be NULL. */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
} sl_instance_opts;

/* Opens the store, loads the catalog and restarts every persistent query (each restores
 * its checkpoint and replays the log from the checkpoint's offset, or from where it
 * started when it has no usable checkpoint).  Caller closes with sl_instance_close. */
int sl_instance_open(const sl_instance_opts *opts, sl_instance **out, sl_error *err);
/* Stops every query (listeners get on_close) and closes the store. Accepts NULL. */
void sl_instance_close(sl_instance *in);

/* The injected clock (which must be thread-safe): callable from any thread. */
int64_t sl_instance_now_ms(sl_instance *in);

/* The wall-clock upkeep the server calls about once a second (under its lock): for
 * every stream declared WITH (IDLE_TIMEOUT='t') that has had no event for t or longer
 * (by the injected clock), the stream time of every query on it advances to now - t,
 * closing the windows that end by then (docs/sql.md). */
void sl_instance_tick(sl_instance *in);

/* The catalog for the compiler (valid while the instance lives). */
const sl_catalog *sl_instance_catalog(sl_instance *in);

/* Checkpoints, a bounded step.  First collects the checkpoint the writer thread
 * finished, if any (the query's statistics then count it).  Then, unless one is still
 * being written, starts the checkpoint of the persistent query that has waited longest
 * among those due (one that changed since its last checkpoint, that went
 * checkpoint_interval_ms without one or read SL_CHECKPOINT_EVENTS events since, and,
 * whichever it is, at least twenty times as long as its last checkpoint took): its
 * state is encoded into memory here, as of the query's current log offset and seq, and
 * written to the store by the writer thread, without the caller's lock, in parts of at
 * most SL_CHECKPOINT_PART_BYTES, each a short transaction, then made the query's
 * checkpoint in one more.  Returns 1 when it started one, 0 when none is due or one is
 * being written, -1 with err set when one failed (that query is tried again after its
 * interval; one whose state cannot be saved is not tried again). */
int sl_instance_checkpoint_step(sl_instance *in, sl_error *err);
/* Waits for the checkpoint being written, if any, and collects it.  Returns 0, or -1
 * with err set when it failed. */
int sl_instance_checkpoint_wait(sl_instance *in, sl_error *err);
/* Takes the checkpoint of every persistent query that changed since its last one (a
 * clean stop), each written before it returns (the one being written too).  Returns 0,
 * or -1 with err set by the first that failed (the others are still taken). */
int sl_instance_checkpoint_all(sl_instance *in, sl_error *err);

/* --- Streams ----------------------------------------------------------------------- */

typedef struct sl_stream_info {
    const sl_schema *schema; /* borrowed */
    uint64_t events;         /* events stored (next offset) */
    int64_t watermark;       /* largest ROWTIME, INT64_MIN when empty */
    const char *ddl;         /* the CREATE statement */
} sl_stream_info;

/* Executes a CREATE STREAM statement (stmt->kind SL_STMT_CREATE_STREAM).  EXISTS unless
 * IF NOT EXISTS; *created (may be NULL) says whether a stream was made. */
int sl_instance_create_stream(sl_instance *in, const sl_stmt *stmt, bool *created, sl_error *err);
/* DROP STREAM: UNKNOWN_STREAM unless if_exists; UNSUPPORTED (422) while a query reads it. */
int sl_instance_drop_stream(sl_instance *in, const char *name, bool if_exists, bool *dropped,
                            sl_error *err);
size_t sl_instance_stream_count(sl_instance *in);
/* i-th stream in creation order; 0 when i is out of range. */
int sl_instance_stream_at(sl_instance *in, size_t i, sl_stream_info *out);
/* -1 when the name is unknown. */
int sl_instance_stream_get(sl_instance *in, const char *name, sl_stream_info *out);

/* Stores rows (source layout, ROWTIME set, borrowed) as one durable batch, then pushes
 * them through every live query on the stream.  All or nothing: on error nothing is
 * stored. */
int sl_instance_ingest(sl_instance *in, const char *stream, sl_row *const *rows, size_t n,
                       sl_error *err);

/* The Idempotency-Key of an ingest request (SPEC section 3). */
typedef struct sl_ingest_key {
    const char *key;                            /* the header's value (borrowed) */
    unsigned char body_hash[SL_STORE_HASH_LEN]; /* hash of what makes the request */
    const char *answer; /* the answer body given when stored, kept to give again (borrowed) */
} sl_ingest_key;

/* sl_instance_ingest with an optional Idempotency-Key (key NULL: none).  When key
 * repeats a request stored on this stream within SL_IDEMPOTENCY_TTL_MS with the same
 * body hash, nothing is stored and 1 is returned with *replay (caller frees) the answer
 * recorded then; the same key with another hash is IDEMPOTENCY_MISMATCH (422).
 * Otherwise the rows and the key's record are stored in one transaction and 0 is
 * returned (*replay NULL).  replay may be NULL when key is. */
int sl_instance_ingest_keyed(sl_instance *in, const char *stream, sl_row *const *rows, size_t n,
                             const sl_ingest_key *key, char **replay, sl_error *err);

/* One ingest request of a group (group commit, sl_instance_ingest_group). */
typedef struct sl_ingest_req {
    const char *stream;  /* the stream's name (borrowed) */
    sl_row *const *rows; /* n rows of its layout, ROWTIME set (borrowed) */
    size_t n;
    const sl_ingest_key *key; /* the Idempotency-Key, or NULL (borrowed) */
    /* The rows encoded for the log by sl_ingest_req_encode (empty: not yet), and their
     * ROWTIME range; freed by sl_ingest_req_clear. */
    sl_buf blob;
    int64_t min_rowtime, max_rowtime;
    /* The answer: rc 0 stored, 1 a repeated Idempotency-Key (replay: the answer
     * recorded then, freed by sl_ingest_req_clear), -1 failed (err). */
    int rc;
    char *replay;
    sl_error err;
    uint64_t first_offset; /* where the group stored its first event */
} sl_ingest_req;

/* Encodes r's rows for the log.  It touches no instance state, so any thread may call
 * it outside the lock (ingest does this work on the threads that decode requests). */
void sl_ingest_req_encode(sl_ingest_req *r);
/* Frees the blob and the replayed answer r holds. */
void sl_ingest_req_clear(sl_ingest_req *r);

/* Group commit: ingests n requests (borrowed) with one store commit, each answered in
 * its rc exactly as n calls of sl_instance_ingest_keyed in array order would answer
 * it: each is all or nothing (one that fails stores nothing and leaves the others
 * alone), a later request repeating the Idempotency-Key of an earlier one in the group
 * is a replay of it.  Only once all of the group is durable are the rows pushed
 * through the queries, in array order.  When the store fails the group, each request
 * is retried alone, so a store error fails only the requests it belongs to. */
void sl_instance_ingest_group(sl_instance *in, sl_ingest_req *const *reqs, size_t n);

/* A number that changes whenever a stream is created or dropped: a schema read while
 * it had a value still describes the stream of that name while it has it. */
uint64_t sl_instance_catalog_version(const sl_instance *in);

/* Background upkeep, a bounded step: deletes stored batches past their stream's
 * RETENTION (whole batches whose newest ROWTIME is more than the retention before the
 * stream's watermark) and idempotency records older than SL_IDEMPOTENCY_TTL_MS, at
 * most max_deletes of them, each deletion a short transaction of its own.  Returns how
 * many were deleted (call again while it returns max_deletes), or -1 with err set. */
int sl_instance_maintain(sl_instance *in, unsigned max_deletes, sl_error *err);

/* --- Queries ------------------------------------------------------------------------ */

typedef struct sl_live_stats {
    sl_query_stats engine;
    uint64_t seq;      /* last seq emitted, 0 before the first */
    uint64_t late_seq; /* last seq of a late row, 0 before the first */
    size_t listeners;
    /* The last checkpoint, taken or restored (persistent queries): the log offset a
     * restart replays from, the seq it covers and when it was taken (epoch ms). */
    bool has_checkpoint;
    uint64_t checkpoint_offset, checkpoint_seq;
    int64_t checkpoint_ms;
    uint64_t checkpoints;         /* taken since the server started */
    const char *checkpoint_error; /* why the last attempt failed, NULL (borrowed) */
    /* How the query started: from a checkpoint or not, the log offset its replay began
     * at, the events it replayed, and why a checkpoint found was not used (NULL when
     * there was none or it was; borrowed). */
    bool restored;
    uint64_t replay_from, replayed_events;
    const char *restore_error;
} sl_live_stats;

/* A block of the kept history's storage (instance.c): the rows of kept changes, never
 * changed once written.  A reference keeps it, and every row in it, valid on any
 * thread, without the lock, after the history has dropped those changes. */
typedef struct sl_kept_block sl_kept_block;

/* A change as the history keeps it (handed to sl_live_listener.on_kept). */
typedef struct sl_kept {
    uint64_t seq;
    sl_change change;
    const sl_row *row;    /* in block; result layout */
    size_t bytes;         /* the row's size (sl_row_bytes) */
    sl_kept_block *block; /* borrowed for the call: sl_kept_hold to keep it */
} sl_kept;

/* Takes and drops a reference to a block: callable from any thread, without the lock.
 * The last release frees the block. sl_kept_release accepts NULL. */
void sl_kept_hold(sl_kept_block *b);
void sl_kept_release(sl_kept_block *b);

typedef struct sl_live_listener {
    void *ctx;
    /* A new change (row borrowed for the call; result layout). */
    void (*on_change)(void *ctx, uint64_t seq, sl_change change, const sl_row *row);
    /* The query's output ended: why->code is QUERY_DROPPED, QUERY_FAILED or
     * SHUTTING_DOWN, with a message (borrowed).  After this the listener is gone and
     * must not call back into the instance from here. */
    void (*on_close)(void *ctx, const sl_error *why);
    /* When set, called instead of on_change for each change (not for late rows), with
     * the kept copy: a listener that holds k->block may read k->row later, on another
     * thread, without the lock. */
    void (*on_kept)(void *ctx, const sl_kept *k);
} sl_live_listener;

/* Compiles sql (one SELECT with EMIT) and starts it.  id NULL makes an id ("Q1", ...);
 * persistent queries are recorded and survive restarts; transient ones (push queries
 * of POST /v1/query) are not.  from_earliest replays the stored history first, else
 * the query starts at the log's end.  EXISTS when the id is taken; SQL errors as
 * sl_parse/sl_plan_build give them; UNSUPPORTED when the SELECT has no EMIT. */
int sl_instance_query_create(sl_instance *in, const char *id, const char *sql, size_t len,
                             bool persistent, bool from_earliest, sl_live **out, sl_error *err);
/* sl_instance_query_create with the query's own state limit in bytes (0: the instance's
 * default), recorded with a persistent query.  A query whose state passes its limit
 * fails alone: it stops, its state is freed, its listeners get on_close with
 * QUERY_FAILED, and sl_live_error says why.  A new query that passes it while it
 * replays the stored history is not created (LIMIT_EXCEEDED); a persistent one that
 * passes it while replaying at start is kept, failed. */
int sl_instance_query_create_limited(sl_instance *in, const char *id, const char *sql, size_t len,
                                     bool persistent, bool from_earliest, uint64_t state_limit,
                                     sl_live **out, sl_error *err);
/* Stops and removes a query (listeners get on_close). UNKNOWN_QUERY when none. */
int sl_instance_query_drop(sl_instance *in, const char *id, sl_error *err);
/* Query ids are case-insensitive, like SQL identifiers: `DROP QUERY q1` (which the
 * parser upper-cases) finds a query named "q1".  NULL when there is none. */
sl_live *sl_instance_query_find(sl_instance *in, const char *id);
size_t sl_instance_query_count(sl_instance *in);
sl_live *sl_instance_query_at(sl_instance *in, size_t i);

const char *sl_live_id(const sl_live *q);
const char *sl_live_sql(const sl_live *q);
const sl_plan *sl_live_plan(const sl_live *q);
/* The query's plan for a reader outside the lock (the HTTP layer encoding rows on its
 * own threads): a new reference the caller drops with sl_plan_ref_release (any thread,
 * no lock; accepts NULL).  The plan stays valid while a reference is held, even after
 * the query is dropped.  sl_live_plan_hold must be called under the lock. */
typedef struct sl_plan_ref sl_plan_ref;
sl_plan_ref *sl_live_plan_hold(sl_live *q);
const sl_plan *sl_plan_ref_plan(const sl_plan_ref *p);
void sl_plan_ref_release(sl_plan_ref *p);
bool sl_live_persistent(const sl_live *q);
/* Why the query stopped (it failed alone, e.g. past a limit), or NULL while it runs. */
const char *sl_live_error(const sl_live *q);
/* The state limit in force for the query, in bytes. */
uint64_t sl_live_state_limit(const sl_live *q);
void sl_live_stats_get(const sl_live *q, sl_live_stats *out);

/* Adds a listener (copied); returns a handle (> 0) for sl_live_unlisten. */
int sl_live_listen(sl_live *q, const sl_live_listener *l);
/* Removes a listener without calling on_close. Unknown handles are ignored. */
void sl_live_unlisten(sl_live *q, int handle);
/* Calls fn for every kept change with seq > from_seq, in order.  GONE (410) when changes
 * after from_seq are no longer kept. */
int sl_live_replay(sl_live *q, uint64_t from_seq,
                   void (*fn)(void *ctx, uint64_t seq, sl_change change, const sl_row *row),
                   void *ctx, sl_error *err);

/* Late rows (SPEC section 2): the source rows the query left out because their window
 * had closed.  A late listener's on_change gets each one (change SL_CHANGE_INSERT, the
 * source stream's layout, borrowed) with its own seq, counting from 1 and going on
 * across restarts; the last SL_MAX_LATE_HISTORY are kept for sl_live_replay_late, which
 * works as sl_live_replay (GONE when from_seq is older than what is kept).  A late
 * listener is removed with sl_live_unlisten and closed with the others. */
int sl_live_listen_late(sl_live *q, const sl_live_listener *l);
int sl_live_replay_late(sl_live *q, uint64_t from_seq,
                        void (*fn)(void *ctx, uint64_t seq, sl_change change, const sl_row *row),
                        void *ctx, sl_error *err);

/* The snapshot (the current row of every key of an aggregate), a block at a time: calls
 * fn with the row (borrowed for the call) and the seq of its latest change for every key
 * whose latest change has a seq up to upto_seq, in the order keys were first emitted,
 * starting after position *pos (0: the first), until fn returns false (that row not
 * taken) or no key is left (then it returns true).  *pos is where to go on from.  Keys
 * changed after upto_seq are left out: a caller that then replays the changes after
 * upto_seq (sl_live_replay) gets the state as of upto_seq and each later change once. */
bool sl_live_snapshot_step(sl_live *q, uint64_t *pos, uint64_t upto_seq,
                           bool (*fn)(void *ctx, uint64_t seq, const sl_row *row), void *ctx);

/* --- Batch queries ------------------------------------------------------------------ */

typedef struct sl_batch sl_batch;

/* Starts a batch run of a plan with emit SL_EMIT_BATCH over the stream's stored history
 * (takes ownership of plan).  Caller frees with sl_batch_free. */
int sl_instance_batch_open(sl_instance *in, sl_plan *plan, sl_batch **out, sl_error *err);
/* Runs a bounded step (a few stored batches) and calls fn for each result row produced;
 * after the last stored batch, finishes the query.  Returns 1 while more remains, 0 when
 * done, -1 on error. */
int sl_batch_step(sl_batch *b, void (*fn)(void *ctx, const sl_row *row), void *ctx, sl_error *err);
const sl_plan *sl_batch_plan(const sl_batch *b);
/* Accepts NULL. */
void sl_batch_free(sl_batch *b);

#endif
