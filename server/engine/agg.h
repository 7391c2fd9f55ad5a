/* agg.h: aggregate functions (aggs.def) as init / step / final over a per-group state,
 * plus merge (SESSION windows join the states of the sessions a row bridges).
 *
 * An aggregate operator keeps one sl_agg_state per aggregate call per group, embedded
 * in its group records (the struct is public so that it can be).  The call (plan.h's
 * sl_aggcall) says which function and which result type; the state holds the running
 * value.  A state may own heap memory (MIN/MAX copy VARCHAR bytes, COUNT_DISTINCT keeps
 * a set, PERCENTILE_APPROX a sketch), counted in st->heap and released by sl_agg_clear.
 * Every input carries its offset: its position in the source's log (rows are pushed in
 * log order), which EARLIEST_BY_OFFSET and LATEST_BY_OFFSET order by. */
#ifndef SL_AGG_H
#define SL_AGG_H

#include "ckpt.h"
#include "plan.h"
#include "value.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* PERCENTILE_APPROX's sketch: the relative error of a returned percentile (docs/sql.md). */
#define SL_AGG_PERCENTILE_ALPHA 0.01
/* Most buckets one sketch keeps per sign; past it the lowest magnitudes are merged. */
#define SL_AGG_PERCENTILE_MAX_BUCKETS 2048

typedef struct sl_agg_state {
    int64_t n;     /* rows counted (COUNT), or non-NULL inputs seen (every other function) */
    bool overflow; /* SUM over integers left the BIGINT range, or a DECIMAL total 38 digits:
                      the result is NULL */
    union {
        int64_t i;
        double d;
    } sum;         /* SUM, AVG; STDDEV_SAMP's running mean */
    double m2;     /* STDDEV_SAMP: the sum of squared deviations from the mean */
    int64_t off;   /* EARLIEST/LATEST_BY_OFFSET: the offset of the value kept */
    sl_value best; /* MIN, MAX, *_BY_OFFSET: the value kept (VARCHAR bytes live in buf);
                      SUM, AVG of DECIMALs: the exact total */
    char *buf;     /* owned copy of best's VARCHAR bytes */
    uint32_t cap;  /* bytes allocated at buf */
    void *ext;     /* COUNT_DISTINCT's set, PERCENTILE_APPROX's sketch; owned */
    void (*ext_free)(void *ext); /* how sl_agg_clear frees ext */
    size_t heap;                 /* heap bytes the state owns (buf and ext) */
} sl_agg_state;

/* Sets st (caller-owned storage) to the empty state of call (borrowed). */
void sl_agg_init(const sl_aggcall *call, sl_agg_state *st);
/* Adds one input row: arg is the evaluated argument (borrowed; its bytes are copied when
 * kept), or NULL for COUNT(*); offset is the row's position in the log.  Returns the
 * heap bytes the state newly took. */
size_t sl_agg_step(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg, int64_t offset);
/* Folds src (borrowed, unchanged) into dst, as if dst had also seen src's inputs.
 * Returns the heap bytes dst newly took. */
size_t sl_agg_merge(const sl_aggcall *call, sl_agg_state *dst, const sl_agg_state *src);
/* The current result, of type call->type or NULL.  A VARCHAR result borrows the state's
 * bytes: valid until the next step, merge or clear. */
sl_value sl_agg_final(const sl_aggcall *call, const sl_agg_state *st);
/* Frees what the state holds and returns how many heap bytes that was. */
size_t sl_agg_clear(sl_agg_state *st);
/* True when call's function can take inputs back out of a state exactly (sliding
 * windows): COUNT, and SUM over INT, BIGINT and DECIMAL.  (Sums of doubles would drift from a
 * recomputation, and batch must equal continuous to the bit.) */
bool sl_agg_can_retract(const sl_aggcall *call);
/* Takes one input that sl_agg_step added (arg as it was then, borrowed) back out of st,
 * for a function sl_agg_can_retract accepts.  Returns false when the state cannot say
 * exactly what is left (an integer sum that overflowed, or would); st is then
 * unusable and the caller rebuilds it from the remaining inputs. */
bool sl_agg_retract(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg);

/* Checkpoints: sl_agg_save appends st (borrowed) to w; -1 (w->why set) when call's
 * function cannot save what it keeps.  sl_agg_load reads one state saved by sl_agg_save
 * into st, which sl_agg_init has just set up; st->heap then counts what it took, and
 * st must be cleared with sl_agg_clear whatever the result.  Returns 0, or -1 with
 * rd->why set. */
int sl_agg_save(const sl_aggcall *call, const sl_agg_state *st, sl_ckpt_writer *w);
int sl_agg_load(const sl_aggcall *call, sl_agg_state *st, sl_ckpt_reader *rd);

#endif
