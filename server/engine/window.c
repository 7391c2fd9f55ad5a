/* window.c: window assignment and closing times.
 *
 * Invariant: for every span returned, start <= rowtime < end, except where the true
 * bounds lie beyond int64, in which case they are clamped to INT64_MIN / INT64_MAX. */
#include "window.h"

#include <assert.h>

static int64_t add_sat(int64_t a, int64_t b)
{
    int64_t r;

    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* floor(t / size) * size, for any sign of t; size > 0. */
static int64_t floor_to(int64_t t, int64_t size)
{
    int64_t rem = t % size;

    if (rem < 0)
        rem += size;
    return add_sat(t, -rem);
}

int sl_window_assign(const sl_window *w, int64_t rowtime, sl_window_span *out)
{
    switch (w->kind) {
    case SL_WINDOW_TUMBLING:
        assert(w->size_ms > 0);
        out[0].start = floor_to(rowtime, w->size_ms);
        out[0].end = add_sat(out[0].start, w->size_ms);
        return 1;
    case SL_WINDOW_NONE:
        break;
    }
    return 0;
}

int64_t sl_window_close_at(const sl_window *w, const sl_window_span *span)
{
    return add_sat(span->end, w->grace_ms);
}
