/* microbatch.h: EMIT CHANGES EVERY n unit: at most one change per key per period.
 *
 * Stream time is cut into periods [k*n, (k+1)*n) aligned to the epoch.  The changes a
 * query makes while its watermark lies in one period are held, the latest per result
 * key (plan->keys) replacing earlier ones, and sent, in the order their keys first
 * changed, as soon as the watermark enters a later period (before the row that moved
 * it is processed), and at the end of a batch.  A delete that follows an upsert of the
 * same key within a period replaces it, and the other way round. */
#ifndef SL_MICROBATCH_H
#define SL_MICROBATCH_H

#include "ckpt.h"
#include "plan.h"
#include "query.h"

#include <stdint.h>

typedef struct sl_microbatch sl_microbatch;

/* A buffer for plan's (borrowed) result rows, every_ms > 0, that sends to out (copied)
 * and keeps stats (borrowed: the query's; rows_out counts what is sent, state_bytes
 * what is held).  *wrapper is set to the sink the query's root must send to.  Caller
 * frees with sl_microbatch_free. */
sl_microbatch *sl_microbatch_new(const sl_plan *plan, int64_t every_ms, const sl_sink *out,
                                 sl_query_stats *stats, sl_sink *wrapper);
/* Stream time moves from `from` to `to`: sends what is held when that enters a later
 * period. */
void sl_microbatch_time(sl_microbatch *mb, int64_t from, int64_t to);
/* Sends everything held (end of input). */
void sl_microbatch_flush(sl_microbatch *mb);
/* Accepts NULL. */
void sl_microbatch_free(sl_microbatch *mb);

/* Checkpoints: the changes held, in the order their keys first changed.  Restore reads
 * them into a buffer that holds nothing yet; -1 with rd->why set on failure (the buffer
 * may then only be freed). */
void sl_microbatch_save(const sl_microbatch *mb, sl_ckpt_writer *w);
int sl_microbatch_restore(sl_microbatch *mb, sl_ckpt_reader *rd);

#endif
