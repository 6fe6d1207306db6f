/*
 * jit.h — the CPU backend's interface: LLVM stays behind it (runtime/jit.c), and a build
 * without LLVM links runtime/jit_none.c instead, whose functions say so.
 */
#ifndef EINC_JIT_H
#define EINC_JIT_H

#include "loop.h"

/* One compiled nest: see codegen/llvm.c for the calling convention. */
typedef void (*jit_nest_fn)(void *const *bufs, const int64_t *sizes,
                            const int64_t *const *strides, int64_t lo, int64_t hi);

typedef struct jit jit;

jit *jit_new(cc *c);                        /* NULL with c->err set */
void jit_free(jit *j);

/* Compiles lp for the host; fns gets one function per nest. */
int jit_add(jit *j, cc *c, const lp_prog *lp, const bool *strided, jit_nest_fn *fns);

/* --emit=llvm|asm|obj: the same pipeline, with a C-ABI entry point NAME. */
char *jit_emit(cc *c, const lp_prog *lp, const char *name, einc_emit_kind kind, size_t *len);

#endif
