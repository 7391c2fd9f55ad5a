/* store.h: everything sluice keeps on disk, in one SQLite database (DIR/sluice.db).
 *
 * The only SQLite user.  It holds the catalog (each stream's CREATE statement, re-parsed
 * at start), the persistent queries (id, SQL, where in the log they start), and the
 * event log.  The log stores events in batches: one SQLite row per ingest request, or
 * per run of small requests stored together (a blob of rows encoded by the engine's
 * rowcodec; storage never looks inside), keyed by (stream, first offset).  Offsets
 * count a stream's events from 0 and never repeat.  Every write is one transaction,
 * committed before the call returns (or, inside a write group, with the group's one
 * commit): with SL_FSYNC_NORMAL (WAL, synchronous=NORMAL) it survives a crash of the
 * process, with SL_FSYNC_ALWAYS (synchronous=FULL) a power loss.  Prepared statements
 * only.  The WAL is copied into the database by a thread of the store's own, with a
 * connection of its own.
 *
 * Not thread-safe: one thread (or a caller-held lock) at a time.  A second thread writes
 * through a side store of its own (sl_store_open_side): a connection of its own to the
 * same file, whose write transactions take turns with the store's. */
#ifndef SL_STORE_H
#define SL_STORE_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum sl_fsync { SL_FSYNC_NORMAL, SL_FSYNC_ALWAYS } sl_fsync;

typedef struct sl_store sl_store;

/* A full disk fails any write with INSUFFICIENT_STORAGE ("disk full"), nothing stored.
 *
 * Opens (creating it and DIR when missing) DIR/sluice.db.  A file that is not a sluice
 * database (wrong application_id) or is damaged fails with STORAGE_ERROR and a message
 * naming the file.  On success *out is the store; caller closes with sl_store_close. */
int sl_store_open(const char *dir, sl_fsync mode, sl_store **out, sl_error *err);
/* Copies what the WAL holds into the database file as far as readers allow (a passive
 * WAL checkpoint) while other writers go on; with catch_up, then what they added
 * meanwhile too, in a write turn (others wait for it, an fsync included), so that the
 * next write can start the WAL over.  For a thread that writes much through a side
 * store, so that the WAL stays bounded without an ingest commit copying it inline.
 * Failures are left for the next copy. */
void sl_store_wal_copy(sl_store *s, bool catch_up);
/* Waits until the store's WAL checkpointer thread has no checkpoint due or running, then
 * returns how many WAL frames it has copied into the database file since the store was
 * opened (0 when it has no such thread).  For tests and statistics. */
uint64_t sl_store_wal_settle(sl_store *s);
/* Accepts NULL.  A store's side stores are closed before it. */
void sl_store_close(sl_store *s);
/* Opens a side store of s (borrowed: it must outlive the side store): another
 * connection to s's file with the same fsync mode, for one other thread.  Every function
 * of this header works on it.  The write transactions of s and of its side stores take
 * turns on one mutex (not SQLite's busy handler, which sleeps), so a write waits at
 * most for the one in progress to commit.  On success *out is the side store; caller
 * closes with sl_store_close. */
int sl_store_open_side(sl_store *s, sl_store **out, sl_error *err);

/* --- Catalog -------------------------------------------------------------------- */

/* Records a stream and the SQL that created it; EXISTS when the name is taken. */
int sl_store_stream_put(sl_store *s, const char *name, const char *ddl, sl_error *err);
/* Removes a stream and all its events; UNKNOWN_STREAM when there is none. */
int sl_store_stream_drop(sl_store *s, const char *name, sl_error *err);
/* Calls fn for every stream, in creation order; strings borrowed for the call.  A
 * non-zero return from fn stops the walk and is returned. */
typedef int (*sl_store_stream_fn)(void *ctx, const char *name, const char *ddl);
int sl_store_stream_list(sl_store *s, sl_store_stream_fn fn, void *ctx, sl_error *err);

/* Where a stream's log stands: the offset the next event gets (== events ever stored),
 * and the largest ROWTIME stored (INT64_MIN when none). */
int sl_store_stream_stats(sl_store *s, const char *stream, uint64_t *next_offset,
                          int64_t *max_rowtime, sl_error *err);

/* --- Persistent queries ---------------------------------------------------------- */

/* Records a query: its id, SQL, the offset of its source stream it starts from, and its
 * own state limit in bytes (0: the server's default).  EXISTS when the id is taken. */
int sl_store_query_put(sl_store *s, const char *id, const char *sql, uint64_t start_offset,
                       uint64_t state_limit, sl_error *err);
/* Removes a query with its checkpoint, kept output and snapshot rows.  UNKNOWN_QUERY
 * when there is none. */
int sl_store_query_drop(sl_store *s, const char *id, sl_error *err);
/* Calls fn for every query in creation order; strings borrowed for the call. */
typedef int (*sl_store_query_fn)(void *ctx, const char *id, const char *sql, uint64_t start_offset,
                                 uint64_t state_limit);
int sl_store_query_list(sl_store *s, sl_store_query_fn fn, void *ctx, sl_error *err);

/* --- Checkpoints ------------------------------------------------------------------- */

/* A persistent query's checkpoint: the log offset of the first event it has not seen
 * (replay starts there), the last seq of its output and of its late rows, when it was
 * taken (epoch ms), and its engine state: bytes storage does not look into, stored
 * beforehand as `parts` parts (sl_store_checkpoint_part_put, numbered from 0) of
 * generation gen, state_len bytes in all.  state is only read (see
 * sl_store_checkpoint_get).  reset (written only) first drops every output chunk and
 * snapshot row the query had, for a checkpoint that carries all of them anew. */
typedef struct sl_store_checkpoint {
    uint64_t log_offset, seq, late_seq;
    int64_t taken_ms;
    uint64_t gen, parts, state_len;
    const void *state;
    int reset;
} sl_store_checkpoint;

/* A chunk of a query's kept output (kind 0: changes, 1: late rows) with seqs
 * first_seq..last_seq, an encoded blob (borrowed).  Written with a checkpoint, after
 * the query's chunks of that kind whose last seq is at most trim_to are deleted; a
 * chunk of length 0 is not stored (it only trims). */
typedef struct sl_store_output {
    int kind;
    uint64_t first_seq, last_seq, trim_to;
    const void *data;
    size_t len;
} sl_store_output;

/* A snapshot row: the latest row of one key, pos being the order the key was first
 * emitted in; row (borrowed, an encoded blob) NULL deletes the entry at pos. */
typedef struct sl_store_snap {
    uint64_t pos, seq;
    const void *row;
    size_t len;
} sl_store_snap;

/* Stores part n of generation gen of query_id's checkpoint state (len bytes at data,
 * borrowed), replacing one stored before, in one transaction of its own.  A part is
 * read only once a checkpoint naming its generation is written (sl_store_checkpoint_put):
 * parts written before a crash, with no checkpoint written after them, are never read. */
int sl_store_checkpoint_part_put(sl_store *s, const char *query_id, uint64_t gen, uint64_t n,
                                 const void *data, size_t len, sl_error *err);
/* Deletes at most max stored parts of query_id of any generation but keep_gen, in one
 * short transaction; *deleted receives how many (call again while it is max). */
int sl_store_checkpoint_trim(sl_store *s, const char *query_id, uint64_t keep_gen, unsigned max,
                             unsigned *deleted, sl_error *err);
/* Writes a checkpoint of query_id in one transaction: replaces its checkpoint row (whose
 * parts must all be stored: else STORAGE_ERROR and nothing is written), trims and
 * appends output chunks, and writes or deletes snapshot rows.  The checkpoint is then
 * the one read back, atomically: a crash keeps the former one or this one whole. */
int sl_store_checkpoint_put(sl_store *s, const char *query_id, const sl_store_checkpoint *c,
                            const sl_store_output *outputs, size_t noutputs,
                            const sl_store_snap *snaps, size_t nsnaps, sl_error *err);
/* Reads query_id's checkpoint: 1 with *c filled and *state (caller frees) holding its
 * state, its parts put together, which c->state points to; 0 when it has none; -1 on
 * error, or with STORAGE_ERROR "damaged checkpoint: ..." when a part is missing or of
 * the wrong size. */
int sl_store_checkpoint_get(sl_store *s, const char *query_id, sl_store_checkpoint *c, void **state,
                            sl_error *err);
/* Calls fn for every output chunk of query_id of kind, by first_seq; data borrowed for
 * the call.  A non-zero return from fn stops the walk and is returned. */
typedef int (*sl_store_output_fn)(void *ctx, uint64_t first_seq, uint64_t last_seq,
                                  const void *data, size_t len);
int sl_store_output_list(sl_store *s, const char *query_id, int kind, sl_store_output_fn fn,
                         void *ctx, sl_error *err);
/* Calls fn for every snapshot row of query_id, by pos; row borrowed for the call.  A
 * non-zero return from fn stops the walk and is returned. */
typedef int (*sl_store_snap_fn)(void *ctx, uint64_t pos, uint64_t seq, const void *row, size_t len);
int sl_store_snapshot_list(sl_store *s, const char *query_id, sl_store_snap_fn fn, void *ctx,
                           sl_error *err);

/* --- Event log --------------------------------------------------------------------- */

/* Bytes of a request body hash kept with an idempotency record (a SHA-256). */
#define SL_STORE_HASH_LEN 32

/* The idempotency record of an ingest request (SPEC section 3): its Idempotency-Key, the
 * hash of its body, the answer it was given and when (epoch ms).  Strings borrowed. */
typedef struct sl_store_idem {
    const char *key;
    unsigned char body_hash[SL_STORE_HASH_LEN];
    const char *answer;
    int64_t created_ms;
} sl_store_idem;

/* Appends one batch of count events (an encoded blob) to a stream, durably, in one
 * transaction.  min_rowtime/max_rowtime are the batch's ROWTIME range.  idem (may be
 * NULL) is stored in the same transaction, replacing an older record of the same stream
 * and key (the caller has checked with sl_store_idem_get that none is still valid).
 * *first_offset (may be NULL) receives the offset of the batch's first event. */
int sl_store_append(sl_store *s, const char *stream, const void *blob, size_t len, uint32_t count,
                    int64_t min_rowtime, int64_t max_rowtime, const sl_store_idem *idem,
                    uint64_t *first_offset, sl_error *err);
/* sl_store_append with the batch's stored time (epoch ms, which a cursor returns with
 * it; sl_store_append stores INT64_MIN: none) and nidem idempotency records
 * (idems[0..nidem), borrowed: those of the requests whose events the batch holds), all
 * stored with the batch. */
int sl_store_append_idems(sl_store *s, const char *stream, const void *blob, size_t len,
                          uint32_t count, int64_t min_rowtime, int64_t max_rowtime,
                          int64_t stored_ms, const sl_store_idem *idems, size_t nidem,
                          uint64_t *first_offset, sl_error *err);

/* Write groups (group commit).  Between sl_store_group_begin and sl_store_group_commit
 * every write call above joins one transaction instead of committing on its own, and
 * reads see what the group wrote so far.  sl_store_group_commit makes all of it
 * durable at once (one commit: one fsync with SL_FSYNC_ALWAYS) and returns 0; when a
 * write of the group failed (that call returned -1; later writes then fail at once) or
 * the commit fails, it rolls all of it back and returns -1 with err set: nothing of the
 * group is stored.  sl_store_group_rollback drops the group. */
int sl_store_group_begin(sl_store *s, sl_error *err);
int sl_store_group_commit(sl_store *s, sl_error *err);
void sl_store_group_rollback(sl_store *s);

/* Looks up the idempotency record of (stream, key) made at or after not_before_ms.
 * Returns 1 with body_hash filled and *answer set (caller frees), 0 when there is none
 * (*answer NULL), -1 on error. */
int sl_store_idem_get(sl_store *s, const char *stream, const char *key, int64_t not_before_ms,
                      unsigned char body_hash[SL_STORE_HASH_LEN], char **answer, sl_error *err);
/* Deletes at most max idempotency records made before before_ms, in one short
 * transaction; *deleted receives how many. */
int sl_store_idem_expire(sl_store *s, int64_t before_ms, unsigned max, unsigned *deleted,
                         sl_error *err);

/* Retention: deletes at most max_batches stored batches of the stream whose largest
 * ROWTIME is before before_rowtime and whose events all lie below below_offset (the
 * oldest offset a query restart may still replay from; UINT64_MAX: any), in one short
 * transaction (whole batches only, so an event goes with the newest event of its
 * batch).  *batches and *events receive how many were deleted.  Offsets do not move: a
 * cursor skips the gaps. */
int sl_store_retention_delete(sl_store *s, const char *stream, int64_t before_rowtime,
                              uint64_t below_offset, unsigned max_batches, unsigned *batches,
                              uint64_t *events, sl_error *err);

/* IDLE_TIMEOUT advances.  sl_store_advance_put records that the stream's time was
 * advanced to watermark before the event at at_offset (the stream's next offset when the
 * advance was made: an advance lies between two stored batches, or after the last),
 * replacing an earlier record at that offset; inside a write group it joins the group.
 * UNKNOWN_STREAM when there is no such stream.  A cursor reports the advance recorded
 * before each batch it returns (sl_store_cursor_advance); retention deletes the advances
 * before the oldest batch it keeps, and dropping the stream deletes all of them. */
int sl_store_advance_put(sl_store *s, const char *stream, uint64_t at_offset, int64_t watermark,
                         sl_error *err);
/* The stream's last recorded advance (the largest at_offset): 1 with *at_offset and
 * *watermark set, 0 when it has none, -1 on error. */
int sl_store_advance_last(sl_store *s, const char *stream, uint64_t *at_offset, int64_t *watermark,
                          sl_error *err);

/* A cursor over a stream's batches in offset order.  It starts at the batch holding
 * from_offset (events before from_offset in that batch are the caller's to skip: the
 * batch's first offset is reported) and ends at the log's end as it was when the cursor
 * was opened, so rows appended while it is open are not seen. */
typedef struct sl_store_cursor sl_store_cursor;

/* On success *out is the cursor (UNKNOWN_STREAM when there is no such stream); caller
 * closes it with sl_store_cursor_close, before closing the store.  A cursor holds no
 * SQLite statement between calls, so the caller may append while it is open. */
int sl_store_scan(sl_store *s, const char *stream, uint64_t from_offset, sl_store_cursor **out,
                  sl_error *err);
/* sl_store_scan over only the batches that hold a ROWTIME in [lo, hi] (by each batch's
 * smallest and largest ROWTIME) or have an advance recorded before them: the others are
 * skipped without being read.  The batches returned may hold rows outside the range
 * too. */
int sl_store_scan_range(sl_store *s, const char *stream, uint64_t from_offset, int64_t lo,
                        int64_t hi, sl_store_cursor **out, sl_error *err);
/* Next batch: returns 1 and sets blob/len (valid until the next call or close), count
 * and first_offset; 0 at the end; -1 on error. */
int sl_store_cursor_next(sl_store_cursor *c, const void **blob, size_t *len, uint32_t *count,
                         uint64_t *first_offset, sl_error *err);
/* The stream time recorded (sl_store_advance_put) before the first event of the batch
 * the last sl_store_cursor_next returned, INT64_MIN when none was. */
int64_t sl_store_cursor_advance(const sl_store_cursor *c);
/* The stored time of the batch the last sl_store_cursor_next returned (see
 * sl_store_append_idems), INT64_MIN when it has none. */
int64_t sl_store_cursor_stored_ms(const sl_store_cursor *c);
/* A ranged cursor: the events it skipped between the batch before and the batch the last
 * sl_store_cursor_next returned (0 for a cursor that is not ranged), with their largest
 * ROWTIME in *max_rowtime (INT64_MIN when none).  They still moved stream time along
 * when they arrived, which a query replaying the batches must know (sl_query_skip). */
uint64_t sl_store_cursor_skipped(const sl_store_cursor *c, int64_t *max_rowtime);
/* Accepts NULL. */
void sl_store_cursor_close(sl_store_cursor *c);

#endif
