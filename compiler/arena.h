/*
 * arena.h — one bump allocator per compilation.
 *
 * IR and AST nodes are never freed one by one: a compilation allocates from its arena and
 * ends with one arena_free.  Blocks are chained, so nobody guesses a capacity.  An
 * allocation failure returns NULL and leaves the arena usable (and freeable).
 */
#ifndef EINC_ARENA_H
#define EINC_ARENA_H

#include <stddef.h>

typedef struct arena_block arena_block;

typedef struct arena {
    arena_block *head;      /* newest block first */
    size_t total;           /* bytes handed out, for explain and limits */
} arena;

void *arena_alloc(arena *a, size_t size);                  /* zeroed, max-aligned, or NULL */
void *arena_array(arena *a, size_t n, size_t size);        /* overflow-checked n*size */
char *arena_strndup(arena *a, const char *s, size_t n);
void arena_free(arena *a);                                 /* back to the empty state */

#define ARENA_NEW(a, T)       ((T *)arena_alloc((a), sizeof(T)))
#define ARENA_ARRAY(a, T, n)  ((T *)arena_array((a), (size_t)(n), sizeof(T)))

#endif
