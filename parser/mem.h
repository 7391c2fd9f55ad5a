/* mem.h: allocation that cannot fail, and arenas.
 *
 * Every allocation in sluice goes through these wrappers: when the system is out of
 * memory they print one line and abort, so callers never test for NULL.  Sizes chosen by
 * users are bounded by the limits in limits.h before they reach an allocator.
 *
 * An arena hands out memory that lives until the arena is freed (or reset): the AST of
 * a statement, a plan and its expressions live in one arena each. */
#ifndef SL_MEM_H
#define SL_MEM_H

#include <stddef.h>

void *sl_xmalloc(size_t n);
void *sl_xcalloc(size_t count, size_t n);
void *sl_xrealloc(void *p, size_t n);
/* Copies of a string; caller frees. */
char *sl_xstrdup(const char *s);
char *sl_xstrndup(const char *s, size_t n);

typedef struct sl_arena sl_arena;

/* A new, empty arena; caller frees with sl_arena_free. */
sl_arena *sl_arena_new(void);
/* Frees the arena and everything allocated from it. Accepts NULL. */
void sl_arena_free(sl_arena *a);
/* Forgets every allocation but keeps the first block for reuse. */
void sl_arena_reset(sl_arena *a);
/* n bytes aligned for any type, zero-filled; owned by the arena. */
void *sl_arena_alloc(sl_arena *a, size_t n);
/* A NUL-terminated copy of s[0..n) owned by the arena. */
char *sl_arena_strndup(sl_arena *a, const char *s, size_t n);
char *sl_arena_strdup(sl_arena *a, const char *s);
/* Bytes the arena holds from the system (for state accounting). */
size_t sl_arena_bytes(const sl_arena *a);

#endif
