/* eval.h: evaluating bound expressions on rows.
 *
 * An expression from a plan (plan.h) is evaluated against one row of the layout it was
 * bound to.  NULL follows SQL's three-valued logic; arithmetic never has undefined
 * behaviour: integer overflow, division or modulo by zero, and an INT result outside 32
 * bits all give NULL, as does a DOUBLE result that is not finite. */
#ifndef SL_EVAL_H
#define SL_EVAL_H

#include "mem.h"
#include "plan.h"
#include "row.h"

#include <stdbool.h>
#include <stdint.h>

/* What evaluation uses besides the row: an arena for the strings expressions build, and
 * the wall clock that UNIX_TIMESTAMP() reads, at most once per source row, so that every
 * call in one row sees the same time.  The engine never reads a clock of its own: a
 * query gets clock_ms from its sink (NULL: UNIX_TIMESTAMP() is NULL). */
typedef struct sl_scratch {
    sl_arena *arena; /* owned by whoever made the scratch */
    int64_t (*clock_ms)(void *ctx);
    void *clock_ctx;
    bool have_now; /* now_ms was read since the last reset */
    int64_t now_ms;
} sl_scratch;

/* Forgets the arena's allocations and the clock reading (before each source row). */
void sl_scratch_reset(sl_scratch *s);
/* The clock reading for the current row (read on first use); false without a clock. */
bool sl_scratch_now(sl_scratch *s, int64_t *ms);

/* The value of e (borrowed) on row (borrowed).  A VARCHAR result borrows its bytes from
 * row, from the plan (literals) or from scratch->arena (strings an expression builds);
 * it is valid while all three are.  scratch is caller-owned and reset by the caller; it
 * may be NULL for expressions that build no strings and call no clock. */
sl_value sl_eval(const sl_expr *e, const sl_row *row, sl_scratch *scratch);

/* True when e is TRUE on row (FALSE and NULL are not): a WHERE or HAVING test.
 * Pointers as for sl_eval. */
bool sl_eval_pred(const sl_expr *e, const sl_row *row, sl_scratch *scratch);

#endif
