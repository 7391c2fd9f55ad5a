/* agg.h: aggregate functions (aggs.def) as init / step / final over a per-group state.
 *
 * An aggregate operator keeps one sl_agg_state per aggregate call per group, embedded
 * in its group records (the struct is public so that it can be).  The call (plan.h's
 * sl_aggcall) says which function and which result type; the state holds the running
 * value.  A state may own heap memory (MIN/MAX copy VARCHAR bytes), reported by
 * sl_agg_step and released by sl_agg_clear. */
#ifndef SL_AGG_H
#define SL_AGG_H

#include "plan.h"
#include "value.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_agg_state {
    int64_t n;     /* rows counted (COUNT), or non-NULL inputs seen (SUM, AVG, MIN, MAX) */
    bool overflow; /* SUM over integers left the BIGINT range: its result is NULL */
    union {
        int64_t i;
        double d;
    } sum;         /* SUM, AVG */
    sl_value best; /* MIN, MAX: the extreme so far; VARCHAR bytes live in buf */
    char *buf;     /* owned copy of best's VARCHAR bytes */
    uint32_t cap;  /* bytes allocated at buf */
} sl_agg_state;

/* Sets st (caller-owned storage) to the empty state of call (borrowed). */
void sl_agg_init(const sl_aggcall *call, sl_agg_state *st);
/* Adds one input row: arg is the evaluated argument (borrowed; its bytes are copied when
 * kept), or NULL for COUNT(*).  Returns the heap bytes the state newly took. */
size_t sl_agg_step(const sl_aggcall *call, sl_agg_state *st, const sl_value *arg);
/* The current result, of type call->type or NULL.  A VARCHAR result borrows the state's
 * bytes: valid until the next step or clear. */
sl_value sl_agg_final(const sl_aggcall *call, const sl_agg_state *st);
/* Frees what the state holds and returns how many heap bytes that was. */
size_t sl_agg_clear(sl_agg_state *st);

#endif
