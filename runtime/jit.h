/*
 * jit.h — the CPU backend's interface: LLVM stays behind it (runtime/jit.c), and a build
 * without LLVM links runtime/jit_none.c instead, whose functions say so.
 */
#ifndef EINC_JIT_H
#define EINC_JIT_H

#include "loop.h"
#include "kcache.h"

/* One compiled nest: see codegen/llvm.c for the calling convention. */
typedef void (*jit_nest_fn)(void *const *bufs, const int64_t *sizes,
                            const int64_t *const *strides, int64_t lo, int64_t hi);

typedef struct jit jit;

jit *jit_new(cc *c, kcache *kc);            /* NULL with c->err set; kc may be NULL */
void jit_free(jit *j);

/*
 * Compiles lp for the host; fns gets one function per nest.  key names everything lp's
 * code depends on (cpu.h): with it and the JIT's kcache, the object code is looked up on
 * disk first and stored after compiling.  1 when it came from disk, 0 compiled, -1 error.
 */
int jit_add(jit *j, cc *c, const lp_prog *lp, const bool *strided, const char *key,
            jit_nest_fn *fns);

/*
 * Whether kc holds lp's object code under key, as jit_add would find it (a whole entry,
 * read back and checked): --target=auto compiles rather than interprets when it does.
 */
bool jit_on_disk(kcache *kc, const lp_prog *lp, const char *key);

/*
 * --emit=llvm|asm|obj: the same pipeline, with a C-ABI entry point NAME that runs on the
 * caller's thread alone, its sizes in lp's parameter order (cg_param_at).  cpu names the
 * processor the code is for, as LLVM does ("x86-64-v3", "skylake-avx512"); NULL, "",
 * "host" or "native": this machine's, with EINC_MAX_ISA applied, as the JIT's code.
 */
/*
 * The machine the schedule pass plans for (loop.h): cpu's vector width as jit_emit reads it
 * (NULL, "", "host", "native": the host's, with EINC_MAX_ISA applied, and its L2), in *m.
 */
const lp_machine *jit_machine(const char *cpu, lp_machine *m);

char *jit_emit(cc *c, const lp_prog *lp, const char *name, const char *cpu, einc_emit_kind kind,
               size_t *len);

#endif
