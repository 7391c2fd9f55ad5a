/* func.h: scalar functions (parser/functions.def), CAST and LIKE, on values.
 *
 * The evaluator (eval.c) computes the arguments and calls in here; the binder has
 * already checked their types (plan.c), so an argument is either NULL or of a type the
 * function's rule accepts.  Strings a function builds are allocated in scratch->arena
 * and live until the scratch is reset.  Nothing here has undefined behaviour on any
 * input: what cannot be computed (overflow, a string that does not parse, an unknown
 * zone) gives NULL. */
#ifndef SL_FUNC_H
#define SL_FUNC_H

#include "eval.h"
#include "plan.h"
#include "value.h"

#include <stdbool.h>
#include <stddef.h>

/* fn applied to args[0..nargs) (borrowed), its result of the type the binder gave the
 * call, whose parameters are desc (borrowed; NULL unless DECIMAL, ARRAY, MAP or STRUCT).
 * The result may borrow from args or from scratch->arena. */
sl_value sl_func_call(sl_func fn, int nargs, const sl_value *args, const sl_typedesc *desc,
                      sl_scratch *scratch);

/* v converted to type to with parameters desc (borrowed; a DECIMAL's precision and
 * scale), a conversion plan.c accepts.  A string that does not parse as the target type,
 * or a number out of its range, gives NULL; a DECIMAL is rounded HALF_UP to its scale,
 * and truncated toward zero to an INT or BIGINT. */
sl_value sl_cast(const sl_value *v, sl_type to, const sl_typedesc *desc, sl_scratch *scratch);

/* SQL LIKE: s[0..n) against pattern p[0..m), where '%' matches any run of characters
 * and '_' exactly one (UTF-8) character; esc[0..esclen) (esclen 0: none) makes the
 * character after it literal. */
bool sl_like(const char *s, size_t n, const char *p, size_t m, const char *esc, size_t esclen);

#endif
