/* window.h: which time windows a row belongs to, and when a window closes.
 *
 * TUMBLING, HOPPING and CUMULATING windows are assigned here, one span per window that
 * holds the row.  Without a time zone they are aligned to the Unix epoch: a tumbling
 * window of size s holding ROWTIME t is [floor(t/s)*s, +s); a hopping window starts at
 * every multiple of ADVANCE; a cumulating window of SIZE s and STEP p holding t is
 * [floor(t/s)*s, +j*p) for every j whose end lies after t.  With a time zone they are
 * aligned to the zone's local midnight (docs/sql.md): windows of whole days span local
 * days (23 or 25 hours across daylight saving changes), and shorter windows restart at
 * every local midnight, the last one of a day ending at the next midnight.
 * SESSION, SLIDING and COUNT windows depend on the other rows of their group; their
 * operators (op_session.c, op_sliding.c, op_count.c) compute them.
 * Arithmetic saturates at the ends of int64: no window computation can overflow. */
#ifndef SL_WINDOW_H
#define SL_WINDOW_H

#include "plan.h"
#include "tz.h"

#include <stdint.h>

typedef struct sl_window_span {
    int64_t start; /* inclusive, epoch ms */
    int64_t end;   /* exclusive, epoch ms */
} sl_window_span;

/* The most spans sl_window_assign can return for w (borrowed): at least 1. */
int sl_window_max_spans(const sl_window *w);

/* Writes the windows of w (borrowed) that hold rowtime into out (caller-owned, room for
 * sl_window_max_spans(w)), ordered by end, then start; returns how many (0 for the kinds
 * assigned elsewhere).  tz (borrowed) is w->time_zone loaded, NULL for UTC. */
int sl_window_assign(const sl_window *w, const sl_tz *tz, int64_t rowtime, sl_window_span *out);

/* The watermark at which span closes under w (borrowed): end + grace, saturating. */
int64_t sl_window_close_at(const sl_window *w, const sl_window_span *span);

/* a + b, clamped to the int64 range. */
int64_t sl_window_add_sat(int64_t a, int64_t b);

#endif
