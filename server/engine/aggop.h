/* aggop.h: what the four AGGREGATE operators (op_aggregate.c, op_session.c,
 * op_sliding.c, op_count.c) share: the head of their structs, with the current row's
 * GROUP BY values and aggregate arguments, the output row and the map of groups; the
 * evaluation of a row into them; aggregate states initialised, stepped and cleared as
 * one array; late rows; output rows; and the sending of a window that closes.
 *
 * An operator's struct starts with an sl_aggop, so that a pointer to either is a pointer
 * to the other.  Output rows have the node's layout: [WINDOWSTART, WINDOWEND,]
 * groups..., aggregates... */
#ifndef SL_AGGOP_H
#define SL_AGGOP_H

#include "agg.h"
#include "groupmap.h"
#include "op.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_aggop {
    sl_operator base;
    const sl_aggcall *calls; /* the node's aggregate calls, naggs of them */
    sl_emit emit;
    int ngroups, naggs;
    bool windowed;      /* output rows start with WINDOWSTART, WINDOWEND */
    sl_value *keys;     /* the current row's GROUP BY values */
    sl_value *args;     /* the current row's aggregate arguments, NULL for a call with none */
    sl_row *out;        /* the output row, refilled per emission */
    sl_groupmap groups; /* payload bytes per group as given to sl_aggop_init */
} sl_aggop;

/* Sets up a (the zeroed head of the caller's operator struct) for node (borrowed from
 * the plan) and ctx (borrowed), with payload bytes per group.  advance and finish pass
 * on; the caller sets push and free, and advance when it closes windows. */
void sl_aggop_init(sl_aggop *a, const sl_node *node, sl_opctx *ctx, size_t payload);
/* Frees the row, the values and the groups (the caller has released what their payloads
 * own), not a itself. */
void sl_aggop_release(sl_aggop *a);

/* Evaluates row's GROUP BY values into a->keys and its aggregate arguments into a->args. */
void sl_aggop_eval(sl_aggop *a, const sl_row *row);
/* Counts the row being pushed as late and hands the source row to sink->late. */
void sl_aggop_late(sl_aggop *a);

/* Initialises, steps (with a->args, the row's offset being ctx->stats.rows_in) and
 * clears one aggregate state per call.  Step returns the heap bytes the states gained. */
void sl_aggop_states_init(const sl_aggop *a, sl_agg_state *states);
size_t sl_aggop_states_step(sl_aggop *a, sl_agg_state *states);
void sl_aggop_states_clear(const sl_aggop *a, sl_agg_state *states);

/* Checkpoints of the states of one group (naggs of them, borrowed). */
void sl_aggop_states_save(const sl_aggop *a, const sl_agg_state *states, sl_ckpt_writer *w);
/* Reads what sl_aggop_states_save wrote into states, which it initialises first, and
 * returns the heap bytes they took.  After a failure (rd->why set) the states still
 * only need sl_aggop_states_clear. */
size_t sl_aggop_states_load(const sl_aggop *a, sl_agg_state *states, sl_ckpt_reader *rd);
/* Reads a group key (ngroups values written with sl_ckpt_put_values) and returns its
 * new entry in m (borrowed), its payload zeroed, with *rowtime the ROWTIME written with
 * it; NULL with rd->why set when the read fails or m already has the key. */
sl_gentry *sl_aggop_key_load(sl_aggop *a, sl_groupmap *m, sl_ckpt_reader *rd, int64_t *rowtime);

/* Fills a->out with ROWTIME rowtime, [start, end) when windowed, key (borrowed: ngroups
 * values) and the final values of states. */
void sl_aggop_fill(sl_aggop *a, int64_t rowtime, int64_t start, int64_t end, const sl_value *key,
                   const sl_agg_state *states);

/* Whether the row of a window that closes is sent: always as an UPSERT unless the node
 * emits changes, then only to an operator above that keeps state by key. */
bool sl_aggop_sends_closing(const sl_aggop *a);
/* Sends a->out, filled with the row of a window that closes, as sl_aggop_sends_closing
 * says. */
void sl_aggop_send_closing(sl_aggop *a);

#endif
