/* window.c: assignment of TUMBLING, HOPPING and CUMULATING windows, and closing times.
 *
 * Invariant: for every span returned, start <= rowtime < end, except where the true
 * bounds lie beyond int64, in which case they are clamped to INT64_MIN / INT64_MAX.
 * Spans come out ordered by end, then start (the order windows close in). */
#include "window.h"

#include <assert.h>

#define DAY_MS 86400000ll

int64_t sl_window_add_sat(int64_t a, int64_t b)
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
    return sl_window_add_sat(t, -rem);
}

/* floor(a / b) for b > 0. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && a < 0) ? q - 1 : q;
}

int sl_window_max_spans(const sl_window *w)
{
    int64_t step = w->advance_ms > 0 ? w->advance_ms : 1;

    switch (w->kind) {
    case SL_WINDOW_HOPPING:
        return (int)(w->size_ms / step + 1);
    case SL_WINDOW_CUMULATING:
        /* In a time zone, a period with longer days may hold a step or two more than
         * SIZE / STEP; the period's end is always the last one. */
        return (int)(w->size_ms / step + (w->time_zone ? 3 : 1));
    default:
        return 1;
    }
}

/* The local-day period of tz holding t for windows of `days` whole days: its first and
 * last day (exclusive). */
static void day_period(const sl_tz *tz, int64_t t, int64_t days, int64_t *d0, int64_t *d1)
{
    *d0 = floor_div(sl_tz_day(tz, t), days) * days;
    *d1 = *d0 + days;
}

static int assign_tumbling(const sl_window *w, const sl_tz *tz, int64_t t, sl_window_span *out)
{
    int64_t d0, d1, day_start, day_end;

    if (!tz) {
        out[0].start = floor_to(t, w->size_ms);
        out[0].end = sl_window_add_sat(out[0].start, w->size_ms);
        return 1;
    }
    if (w->size_ms >= DAY_MS) {
        day_period(tz, t, w->size_ms / DAY_MS, &d0, &d1);
        out[0].start = sl_tz_day_start(tz, d0);
        out[0].end = sl_tz_day_start(tz, d1);
        return 1;
    }
    d0 = sl_tz_day(tz, t);
    day_start = sl_tz_day_start(tz, d0);
    day_end = sl_tz_day_start(tz, d0 + 1);
    out[0].start = sl_window_add_sat(day_start, floor_to(t - day_start, w->size_ms));
    out[0].end = sl_window_add_sat(out[0].start, w->size_ms);
    if (out[0].end > day_end)
        out[0].end = day_end;
    return 1;
}

static int assign_hopping(const sl_window *w, const sl_tz *tz, int64_t t, sl_window_span *out)
{
    int n = 0, max = sl_window_max_spans(w);

    if (tz) {
        int64_t day = sl_tz_day(tz, t), size = w->size_ms / DAY_MS, adv = w->advance_ms / DAY_MS;

        for (int64_t s = floor_div(day, adv) * adv; s + size > day && n < max; s -= adv) {
            out[n].start = sl_tz_day_start(tz, s);
            out[n].end = sl_tz_day_start(tz, s + size);
            n++;
        }
    } else {
        int64_t s = floor_to(t, w->advance_ms);

        while (n < max) {
            int64_t end = sl_window_add_sat(s, w->size_ms);

            if (end <= t && end != INT64_MAX)
                break;
            out[n].start = s;
            out[n].end = end;
            n++;
            if (s == INT64_MIN)
                break;
            s = sl_window_add_sat(s, -w->advance_ms);
        }
    }
    /* Found latest start first: reverse into (end, start) order. */
    for (int i = 0, j = n - 1; i < j; i++, j--) {
        sl_window_span tmp = out[i];
        out[i] = out[j];
        out[j] = tmp;
    }
    return n;
}

static int assign_cumulating(const sl_window *w, const sl_tz *tz, int64_t t, sl_window_span *out)
{
    int64_t start, period_end, end;
    int n = 0, max = sl_window_max_spans(w);

    if (tz) {
        int64_t d0, d1;

        day_period(tz, t, w->size_ms / DAY_MS, &d0, &d1);
        start = sl_tz_day_start(tz, d0);
        period_end = sl_tz_day_start(tz, d1);
    } else {
        start = floor_to(t, w->size_ms);
        period_end = sl_window_add_sat(start, w->size_ms);
    }
    /* The first end after t, then every STEP up to the period's end (which is always
     * one of the ends, even when a local day is not a multiple of STEP). */
    end = sl_window_add_sat(start,
                            sl_window_add_sat(floor_to(t - start, w->advance_ms), w->advance_ms));
    while (n < max) {
        if (end >= period_end || n == max - 1) {
            out[n].start = start;
            out[n++].end = period_end;
            break;
        }
        out[n].start = start;
        out[n++].end = end;
        end = sl_window_add_sat(end, w->advance_ms);
    }
    return n;
}

int sl_window_assign(const sl_window *w, const sl_tz *tz, int64_t rowtime, sl_window_span *out)
{
    switch (w->kind) {
    case SL_WINDOW_TUMBLING:
        assert(w->size_ms > 0);
        return assign_tumbling(w, tz, rowtime, out);
    case SL_WINDOW_HOPPING:
        assert(w->size_ms > 0 && w->advance_ms > 0);
        return assign_hopping(w, tz, rowtime, out);
    case SL_WINDOW_CUMULATING:
        assert(w->size_ms > 0 && w->advance_ms > 0);
        return assign_cumulating(w, tz, rowtime, out);
    case SL_WINDOW_NONE:
    case SL_WINDOW_SESSION:
    case SL_WINDOW_SLIDING:
    case SL_WINDOW_COUNT:
        break;
    }
    return 0;
}

int64_t sl_window_close_at(const sl_window *w, const sl_window_span *span)
{
    return sl_window_add_sat(span->end, w->grace_ms);
}
