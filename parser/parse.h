/* parse.h: SQL text to statements.
 *
 * sl_parse splits a text into statements at top-level ';' and parses each with a
 * hand-written recursive-descent parser (lexer.c, parse.c).  DDL statements come out
 * ready to use (a CREATE STREAM carries its schema); a SELECT comes out as an AST
 * (sl_select, private to the compiler) that plan.h turns into an operator plan once a
 * catalog is at hand.  Everything a statement list holds lives in its arena. */
#ifndef SL_PARSE_H
#define SL_PARSE_H

#include "error.h"
#include "mem.h"
#include "schema.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum sl_stmt_kind {
    SL_STMT_CREATE_STREAM, /* name, schema, if_not_exists */
    SL_STMT_DROP_STREAM,   /* name, if_exists */
    SL_STMT_DROP_QUERY,    /* name = the query id */
    SL_STMT_SHOW_STREAMS,
    SL_STMT_SHOW_QUERIES,
    SL_STMT_DESCRIBE, /* name */
    SL_STMT_EXPLAIN,  /* select */
    SL_STMT_SELECT    /* select; has_emit tells continuous from batch */
} sl_stmt_kind;

/* The AST of a SELECT; opaque outside the compiler. */
typedef struct sl_select sl_select;

typedef struct sl_stmt {
    sl_stmt_kind kind;
    const char *text; /* the statement's own SQL (points into the parsed text, no ';') */
    size_t text_len;
    int line, column; /* where the statement starts, 1-based */
    bool if_exists;
    bool if_not_exists;
    char *name;        /* normalised name for CREATE/DROP/DESCRIBE, query id for DROP QUERY */
    sl_schema *schema; /* CREATE STREAM: the declared schema (arena-owned) */
    sl_select *select; /* SELECT, EXPLAIN */
    bool has_emit;     /* SELECT: an EMIT clause was given (continuous) */
} sl_stmt;

typedef struct sl_stmt_list {
    int n;
    sl_stmt *stmts;
    sl_arena *arena;
} sl_stmt_list;

/* Parses sql[0..len) (need not be NUL-terminated; the text must outlive the list since
 * sl_stmt.text points into it).  Empty statements (";;") are skipped; a text with no
 * statement at all is a SYNTAX_ERROR.  On success *out is a new list the caller frees
 * with sl_stmt_list_free; on failure returns -1 with err set (code, line, column, and a
 * SQLite-like message: `near "FROM": syntax error`, or what was expected). */
int sl_parse(const char *sql, size_t len, sl_stmt_list **out, sl_error *err);

/* Frees a statement list and its arena. Accepts NULL. */
void sl_stmt_list_free(sl_stmt_list *list);

#endif
