/* window.h: which windows a row belongs to, and when a window closes.
 *
 * Time windows are aligned to the Unix epoch: a tumbling window of size s holding
 * ROWTIME t is [floor(t/s)*s, +s).  Assignment returns a list of spans so that HOPPING
 * (several overlapping windows per row) fits the same interface; SESSION windows, which
 * grow and merge, will need their own operator-side logic on top of a span per row.
 * Arithmetic saturates at the ends of int64: no window computation can overflow. */
#ifndef SL_WINDOW_H
#define SL_WINDOW_H

#include "plan.h"

#include <stdint.h>

/* Most windows one row can fall in (HOPPING: SIZE / ADVANCE, bounded by the binder). */
#define SL_WINDOW_MAX_SPANS 1

typedef struct sl_window_span {
    int64_t start; /* inclusive, epoch ms */
    int64_t end;   /* exclusive, epoch ms */
} sl_window_span;

/* Writes the windows of w (borrowed) that hold rowtime into out (caller-owned, room for
 * SL_WINDOW_MAX_SPANS), ordered by start; returns how many (0 for SL_WINDOW_NONE). */
int sl_window_assign(const sl_window *w, int64_t rowtime, sl_window_span *out);

/* The watermark at which span closes under w (borrowed): end + grace, saturating. */
int64_t sl_window_close_at(const sl_window *w, const sl_window_span *span);

#endif
