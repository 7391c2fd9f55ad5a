/* query.h: running a plan.
 *
 * An sl_query is the run-time state of one plan: one state object per plan node (the
 * operators in op_*.c), statistics, and the stream time.  Rows are pushed in one at a
 * time, in log order; the engine never reads a clock: time moves only through the rows'
 * ROWTIMEs and sl_query_advance, so a test drives it completely.
 *
 * Stream time (the watermark) is the largest ROWTIME pushed so far (or advanced to).
 * sl_query_push first raises it to the row's ROWTIME if larger, then processes the row;
 * a row whose window already closed (window end + grace <= watermark) is late: it is
 * left out, counted, and handed to sink->late.  A window [start, end) closes when the
 * watermark reaches end + grace; on close, an EMIT FINAL (or batch) aggregate emits its
 * final rows, ordered by window start and then by the order groups were first seen,
 * and frees the window's state.  Batch mode is the same pipeline followed by
 * sl_query_finish, which advances to +infinity: batch equals continuous by
 * construction. */
#ifndef SL_QUERY_H
#define SL_QUERY_H

#include "buf.h"
#include "error.h"
#include "plan.h"
#include "row.h"

#include <stddef.h>
#include <stdint.h>

typedef enum sl_change {
    SL_CHANGE_INSERT, /* a new row of a non-aggregate query */
    SL_CHANGE_UPSERT, /* the new value of an aggregate row, keyed by plan->keys */
    SL_CHANGE_DELETE  /* the row with this key is gone */
} sl_change;

typedef struct sl_sink {
    void *ctx;
    /* Called for every result change; row has the plan's result layout and is borrowed
     * for the duration of the call. */
    void (*emit)(void *ctx, sl_change change, const sl_row *row);
    /* Called for every late source row (source layout, borrowed). May be NULL. */
    void (*late)(void *ctx, const sl_row *row);
    /* The clock, epoch ms, that UNIX_TIMESTAMP() reads (once per source row, with
     * clock_ctx; the instance's gives the time the row was stored).  May be NULL:
     * UNIX_TIMESTAMP() is then NULL. */
    int64_t (*clock_ms)(void *clock_ctx);
    void *clock_ctx;
} sl_sink;

typedef struct sl_query_stats {
    uint64_t rows_in;   /* source rows pushed */
    uint64_t rows_out;  /* changes emitted */
    uint64_t late_rows; /* rows dropped as late */
    size_t state_bytes; /* memory the state holds (groups, windows, rows kept) */
    int64_t watermark;  /* stream time, INT64_MIN before the first row */
} sl_query_stats;

typedef struct sl_query sl_query;

/* A new running query for plan (borrowed: it must outlive the query) sending its output
 * to sink (copied).  Caller frees with sl_query_free. */
sl_query *sl_query_new(const sl_plan *plan, const sl_sink *sink);
/* Accepts NULL. */
void sl_query_free(sl_query *q);

/* Processes one source row (borrowed; the stream's layout).  Returns 0, or -1 with err
 * set when the query cannot go on: LIMIT_EXCEEDED when, after the row, its state holds
 * more than its state limit (the row was processed; the query must not be used
 * further but to free it and read its statistics). */
int sl_query_push(sl_query *q, const sl_row *row, sl_error *err);
/* Sets the most bytes of state (sl_query_stats.state_bytes) a push may leave; 0 (the
 * default) is no limit. */
void sl_query_set_state_limit(sl_query *q, size_t bytes);
/* Raises stream time to wm (nothing when wm is not larger), closing windows. */
void sl_query_advance(sl_query *q, int64_t wm);
/* Accounts for n source rows, the largest ROWTIME among them max_rowtime, that the
 * plan's filter right above its source would drop, without pushing them: the caller
 * knows they fail it (instance.c's dispatch by an equality the filter requires).  They
 * count as rows in and raise stream time, exactly as pushing them would. */
void sl_query_skip(sl_query *q, uint64_t n, int64_t max_rowtime);
/* End of input (batch): closes every window and emits every remaining final row; a
 * non-windowed aggregate in batch mode emits its groups now. */
void sl_query_finish(sl_query *q);

void sl_query_stats_get(const sl_query *q, sl_query_stats *out);

/* Checkpoints.  sl_query_save appends the query's whole state (statistics, stream time,
 * every operator's state) to out as one versioned blob that names its plan by a
 * fingerprint and carries a checksum.  Returns 0, or -1 with UNSUPPORTED when part of
 * the state cannot be saved (a batch plan, an aggregate without a checkpoint format);
 * out then holds garbage after its former length.
 *
 * sl_query_restore rebuilds that state into q, which must be new (no row pushed, no
 * advance) and run the same plan: afterwards q emits exactly what the saved query would
 * have emitted for the same further input, and its statistics go on from the saved
 * ones (state_bytes is recounted, not copied).  data (borrowed) is read only during the
 * call.  Returns 0, or -1 with STORAGE_ERROR saying why: a blob that is damaged,
 * truncated, of another format version or made by another plan.  After a failure q may
 * only be freed.  Neither calls the sink. */
int sl_query_save(const sl_query *q, sl_buf *out, sl_error *err);
int sl_query_restore(sl_query *q, const void *data, size_t len, sl_error *err);

#endif
