/*
 * memo.h — what einc.c keeps so that a kernel it has seen costs no parse or bind again.
 *
 * Run memos: binding, the contraction path and the cache key are functions of a kernel
 * and its arrays' dtypes, shapes and strided flags, and a compiled CPU kernel stays in its
 * context's cache until the context is freed.  So a CPU run's plan (cpu_plan) is what
 * every later run with the same signature would build: memo_slots keeps the plans of the
 * first MEMO_SLOTS signatures a kernel ran, each slot written once (compare-and-swap from
 * NULL) and freed with the kernel, so threads running the kernel at once read them
 * without a lock.
 *
 * Texts: a context keeps up to TEXTS_MAX parsed kernels by their text and options
 * (text_key), so that compiling a text again hands out a kernel that shares the parse and
 * the run memos instead of parsing it.  Entries live until the context is freed.
 */
#ifndef EINC_MEMO_H
#define EINC_MEMO_H

#include "einc.h"
#include "cpu.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

enum { MEMO_SLOTS = 4, TEXTS_MAX = 256 };

typedef struct run_memo run_memo;
typedef struct memo_slots {
    _Atomic(run_memo *) slot[MEMO_SLOTS];
} memo_slots;

/* Strides that are not the C-contiguous ones (NULL strides are contiguous). */
bool tensor_strided(const einc_tensor *t);

/* The memo of these arrays (n inputs, then out; out NULL: the inputs alone), or NULL. */
const run_memo *memo_find(memo_slots *s, int n, const einc_tensor *in, const einc_tensor *out);
/* Keeps plan (taken: freed when not kept) for these arrays in a free slot, if any; out of
   memory only means later runs take the whole path. */
void memo_add(memo_slots *s, cpu_plan *plan, int n, const einc_tensor *in, const einc_tensor *out);
/* Runs m's plan on the arrays; 0, or -1 when out of memory. */
int memo_run(cpu_backend *b, const run_memo *m, int n, const einc_tensor *in, const einc_tensor *out);
/* The output's dtype, rank and shape the memo's run had. */
void memo_output(const run_memo *m, einc_dtype *dtype, int *ndim, int64_t *shape);
void memo_free(memo_slots *s);

typedef struct texts texts;
texts *texts_new(void);                             /* NULL when out of memory */
void texts_free(texts *t, void (*drop)(void *));    /* drop frees each kernel kept */
/* The key of a compile: everything but the text's bytes is fixed-width, so no two compiles
   that differ share one.  In buf when it fits in cap, else malloc'ed; NULL: out of memory. */
char *text_key(bool model, const char *src, const einc_options *o, char *buf, size_t cap);
void *texts_find(texts *t, const char *key);
/* Keeps kernel under key, unless the table is full; returns the kernel now kept under key
   (an earlier thread's, when one was first), or NULL when it keeps none. */
void *texts_add(texts *t, const char *key, void *kernel);

#endif
