/* mem.c: the abort-on-failure allocators and a block arena.
 *
 * The arena is a list of blocks; each allocation is carved from the newest block, and
 * a request larger than a block gets a block of its own.  Invariant: `used <= size` in
 * every block, and every pointer handed out is aligned to max_align_t. */
#include "mem.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK 8192

static void out_of_memory(size_t n)
{
    fprintf(stderr, "sluice: out of memory (allocating %zu bytes)\n", n);
    abort();
}

void *sl_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p)
        out_of_memory(n);
    return p;
}

void *sl_xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);

    if (!p)
        out_of_memory(count * n);
    return p;
}

void *sl_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (!q)
        out_of_memory(n);
    return q;
}

char *sl_xstrndup(const char *s, size_t n)
{
    char *p = sl_xmalloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *sl_xstrdup(const char *s)
{
    return sl_xstrndup(s, strlen(s));
}

typedef struct block {
    struct block *next;
    size_t size;
    size_t used;
    alignas(max_align_t) unsigned char data[];
} block;

struct sl_arena {
    block *head;
    size_t bytes;
};

sl_arena *sl_arena_new(void)
{
    return sl_xcalloc(1, sizeof(sl_arena));
}

static void free_blocks(block *b)
{
    while (b) {
        block *next = b->next;
        free(b);
        b = next;
    }
}

void sl_arena_free(sl_arena *a)
{
    if (!a)
        return;
    free_blocks(a->head);
    free(a);
}

void sl_arena_reset(sl_arena *a)
{
    block *last = a->head;

    if (!last)
        return;
    while (last->next)
        last = last->next;
    /* Keep the oldest block (the first one allocated), drop the rest. */
    for (block *b = a->head; b != last;) {
        block *next = b->next;
        free(b);
        b = next;
    }
    last->used = 0;
    a->head = last;
    a->bytes = sizeof(block) + last->size;
}

void *sl_arena_alloc(sl_arena *a, size_t n)
{
    const size_t align = alignof(max_align_t);
    size_t need = (n + align - 1) & ~(align - 1);
    block *b = a->head;

    if (!b || b->size - b->used < need) {
        size_t size = need > ARENA_BLOCK ? need : ARENA_BLOCK;

        b = sl_xmalloc(sizeof(block) + size);
        b->size = size;
        b->used = 0;
        b->next = a->head;
        a->head = b;
        a->bytes += sizeof(block) + size;
    }
    void *p = b->data + b->used;
    b->used += need;
    memset(p, 0, n);
    return p;
}

char *sl_arena_strndup(sl_arena *a, const char *s, size_t n)
{
    char *p = sl_arena_alloc(a, n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *sl_arena_strdup(sl_arena *a, const char *s)
{
    return sl_arena_strndup(a, s, strlen(s));
}

size_t sl_arena_bytes(const sl_arena *a)
{
    return a->bytes;
}
