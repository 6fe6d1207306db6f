/*
 * llvm_cg.h — the LLVM code generator's interface (codegen/llvm.c; the generator's other
 * files share llvm_int.h).  Only the CPU backend (runtime/jit.c) includes it, so nothing
 * else sees LLVM's headers.
 */
#ifndef EINC_LLVM_CG_H
#define EINC_LLVM_CG_H

#include "codegen.h"

#include <llvm-c/Core.h>

typedef struct cgl_opts {
    const char *prefix;         /* nest functions are PREFIX_nestN */
    const char *name;           /* non-NULL: also a C-ABI function NAME (README.md, "Emitted kernels") */
    const bool *strided;        /* per tensor: strides come from the strides table */
    int vector_bytes;           /* the host's vector register width (64 with AVX-512) */
    long l2_bytes;              /* the host's L2 cache per core; 0: unknown (1 MiB assumed) */
    bool vnni;                  /* the host has AVX-512 VNNI (vpdpbusd: llvm_gemm_int.c) */
} cgl_opts;

/*
 * A module in ctx, or NULL with c->err set.  *plain: whether it left loops of arithmetic to
 * LLVM's loop and SLP vectorizers (elementwise work, reductions), not only the vector code
 * of its GEMMs, convolutions and transposes.
 */
LLVMModuleRef cg_llvm(cc *c, const lp_prog *lp, const cgl_opts *o, LLVMContextRef ctx, bool *plain);

#endif
