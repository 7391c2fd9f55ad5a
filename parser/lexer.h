/* lexer.h: SQL text to tokens, one at a time (private to the compiler).
 *
 * A token is a kind and a span of the source text (borrowed: the text must outlive its
 * tokens) with the 1-based line and column where it starts.  Columns count characters
 * (UTF-8 code points), not bytes.  The lexer never allocates: literal values and
 * identifier normalisation are the parser's business.  Whitespace and comments
 * (`-- to end of line` and C-style block comments) are skipped. */
#ifndef SL_LEXER_H
#define SL_LEXER_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum sl_tok {
#define TOK(name, text) SL_TK_##name,
#define KW(name, reserved) SL_TK_##name,
#include "tokens.def"
#undef TOK
#undef KW
    SL_TK__COUNT
} sl_tok;

typedef struct sl_token {
    sl_tok kind;
    const char *start; /* the token's text, borrowed from the source */
    size_t len;        /* quotes included for STRING and QIDENT; 0 for EOF */
    int line, column;
} sl_token;

typedef struct sl_lexer {
    const char *pos, *end;
    int line, column;
} sl_lexer;

/* Starts lexing src[0..len) (borrowed, need not be NUL-terminated). */
void sl_lexer_init(sl_lexer *lx, const char *src, size_t len);

/* Reads the next token into *tok; at the end of the text, EOF again and again.  Returns
 * 0, or -1 with err set to a SYNTAX_ERROR at the bad spot (unterminated string, quoted
 * identifier or comment; unrecognized token). */
int sl_lexer_next(sl_lexer *lx, sl_token *tok, sl_error *err);

/* How messages name a kind: "(" for punctuation, "identifier", the keyword itself.
 * Static storage. */
const char *sl_tok_name(sl_tok kind);

/* True when kind is a keyword; *reserved (may be NULL) says whether it is reserved. */
bool sl_tok_is_keyword(sl_tok kind, bool *reserved);

#endif
