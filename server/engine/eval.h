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

/* The value of e (borrowed) on row (borrowed).  A VARCHAR result borrows its bytes from
 * row, from the plan (literals) or from scratch (strings an expression builds); it is
 * valid while all three are.  scratch is caller-owned and reset by the caller. */
sl_value sl_eval(const sl_expr *e, const sl_row *row, sl_arena *scratch);

/* True when e is TRUE on row (FALSE and NULL are not): a WHERE or HAVING test.
 * Pointers as for sl_eval. */
bool sl_eval_pred(const sl_expr *e, const sl_row *row, sl_arena *scratch);

#endif
