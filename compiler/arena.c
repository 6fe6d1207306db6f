/*
 * arena.c — chained bump allocation (see arena.h).
 *
 * Each block is at least 16 KiB, or larger when one allocation needs it; a fresh block goes
 * to the head of the chain, so the common case is a pointer bump in the newest block.
 */
#include "arena.h"
#include "alloc.h"

#include <stdalign.h>
#include <stdint.h>
#include <string.h>

struct arena_block {
    arena_block *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
};

enum { ARENA_MIN_BLOCK = 16 * 1024, ARENA_ALIGN = alignof(max_align_t) };

void *arena_alloc(arena *a, size_t size)
{
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (size == 0)
        size = ARENA_ALIGN;
    arena_block *b = a->head;
    if (!b || b->cap - b->used < size) {
        size_t cap = size > ARENA_MIN_BLOCK ? size : ARENA_MIN_BLOCK;
        if (cap > SIZE_MAX - sizeof(arena_block))
            return NULL;
        b = einc_malloc(sizeof(arena_block) + cap);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += size;
    a->total += size;
    memset(p, 0, size);
    return p;
}

void *arena_array(arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    return arena_alloc(a, n * size);
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

void arena_free(arena *a)
{
    arena_block *b = a->head;
    while (b) {
        arena_block *next = b->next;
        einc_free(b);
        b = next;
    }
    a->head = NULL;
    a->total = 0;
}
