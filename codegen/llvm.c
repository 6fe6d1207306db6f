/*
 * llvm.c — loop IR → LLVM IR through the LLVM C API: the driver.
 *
 * Every nest becomes one function
 *
 *     void PREFIX_nestN(ptr bufs, ptr sizes, ptr strides, i64 lo, i64 hi)
 *
 * bufs holds one pointer per tensor, sizes one i64 per axis (read only for axes whose size
 * is not part of the expression), strides one pointer per tensor (NULL entries, or the
 * whole table NULL, mean contiguous).  A parallel outermost loop runs over [lo, hi), so the
 * thread pool can hand out chunks; other nests ignore lo and hi.  For --emit=llvm/asm/obj a
 * wrapper with the C ABI of README.md's "Emitted kernels" calls the nests in order on one thread.
 *
 * Sizes and strides are loaded or computed once at entry, so every address in a loop is an
 * affine function of induction variables and loop invariants, which is what LLVM's
 * vectorizer and LICM want.  The statements and loops are llvm_loop.c's, their values
 * llvm_expr.c's; llvm_int.h lists the other files.
 */
#include "llvm_int.h"

#include <stdio.h>

/* Sizes, strides and base pointers, computed once in the entry block. */
static int prologue(cgl *g, LLVMValueRef bufs, LLVMValueRef sizes, LLVMValueRef strides)
{
    const ir_prog *p = g->p;
    arena *A = g->c->A;
    g->size = ARENA_ARRAY(A, LLVMValueRef, p->naxis + 1);
    g->iv = ARENA_ARRAY(A, LLVMValueRef, p->naxis + 1);
    g->blk = ARENA_ARRAY(A, LLVMValueRef, p->naxis + 1);
    g->blk_end = ARENA_ARRAY(A, LLVMValueRef, p->naxis + 1);
    g->tile = ARENA_ARRAY(A, int64_t, p->naxis + 1);
    g->shifted = ARENA_ARRAY(A, bool, p->naxis + 1);
    g->blk_lo = ARENA_ARRAY(A, LLVMValueRef, p->naxis + 1);
    if (!g->blk || !g->blk_end || !g->tile || !g->shifted || !g->blk_lo)
        return cc_nomem(g->c);
    g->stride = ARENA_ARRAY(A, LLVMValueRef *, p->ntensor);
    g->base = ARENA_ARRAY(A, LLVMValueRef, p->ntensor);
    if (!g->size || !g->iv || !g->stride || !g->base)
        return cc_nomem(g->c);
    for (int a = 0; a < p->naxis; a++) {
        if (!is_runtime_size(&p->axis[a])) {
            g->size[a] = ci64(g, p->axis[a].size);
            continue;
        }
        LLVMValueRef at = LLVMBuildInBoundsGEP2(g->b, g->i64, sizes, (LLVMValueRef[]){ ci64(g, a) }, 1, "");
        g->size[a] = LLVMBuildLoad2(g->b, g->i64, at, p->axis[a].name);
    }
    for (int t = 0; t < p->ntensor; t++) {
        const ir_tensor *T = &p->tensor[t];
        LLVMValueRef at = LLVMBuildInBoundsGEP2(g->b, g->ptr, bufs, (LLVMValueRef[]){ ci64(g, t) }, 1, "");
        g->base[t] = LLVMBuildLoad2(g->b, g->ptr, at, T->name);
        g->stride[t] = ARENA_ARRAY(A, LLVMValueRef, T->ndim + 1);
        if (!g->stride[t])
            return cc_nomem(g->c);
        if (g->o->strided && g->o->strided[t]) {
            LLVMValueRef sp = LLVMBuildLoad2(g->b, g->ptr,
                                             LLVMBuildInBoundsGEP2(g->b, g->ptr, strides, (LLVMValueRef[]){ ci64(g, t) }, 1, ""), "");
            for (int d = 0; d < T->ndim; d++)
                g->stride[t][d] = LLVMBuildLoad2(g->b, g->i64,
                                                 LLVMBuildInBoundsGEP2(g->b, g->i64, sp, (LLVMValueRef[]){ ci64(g, d) }, 1, ""), "");
        } else {
            LLVMValueRef s = ci64(g, 1);
            for (int d = T->ndim - 1; d >= 0; d--) {
                g->stride[t][d] = s;
                s = LLVMBuildMul(g->b, s, cgl_mono(g, &T->shape[d]), "");
            }
        }
    }
    return 0;
}

static LLVMValueRef nest_fn(cgl *g, int i)
{
    char name[160];
    snprintf(name, sizeof name, "%s_nest%d", g->o->prefix, i);
    LLVMTypeRef params[5] = { g->ptr, g->ptr, g->ptr, g->i64, g->i64 };
    LLVMTypeRef ft = LLVMFunctionType(g->vt, params, 5, 0);
    LLVMValueRef fn = LLVMAddFunction(g->m, name, ft);
    if (g->o->vector_bytes >= 64) {
        /*
         * LLVM's x86 tuning vectorizes at 256 bits even with AVX-512; the elementwise work
         * here (exp, tanh, erf polynomials) is throughput-bound, so use the whole register.
         */
        static const char k[] = "prefer-vector-width", v[] = "512";
        LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                                   LLVMCreateStringAttribute(g->ctx, k, sizeof k - 1, v, sizeof v - 1));
    }
    g->fn = fn;
    g->nest = &g->lp->nest[i];
    g->acc = NULL;
    g->entry = LLVMAppendBasicBlockInContext(g->ctx, fn, "entry");
    LLVMPositionBuilderAtEnd(g->b, g->entry);
    g->lo = LLVMGetParam(fn, 3);
    g->hi = LLVMGetParam(fn, 4);
    if (prologue(g, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), LLVMGetParam(fn, 2)) < 0)
        return NULL;
    g->streamed = false;
    g->inner = -1;
    int whole = cgl_conv_find(g, g->nest->root);       /* 1: it emitted a blocked convolution's nest */
    if (whole < 0)
        return NULL;
    if (!whole)
        cgl_node(g, g->nest->root, true);
    if (g->c->failed)   /* a statement the generators cannot emit (llvm_expr.c: not_here) */
        return NULL;
    if (g->streamed)    /* streamed stores are weakly ordered: done before whoever waits reads */
        LLVMBuildFence(g->b, LLVMAtomicOrderingSequentiallyConsistent, 0, "");
    LLVMBuildRetVoid(g->b);
    return fn;
}

/* The bytes temporary T takes in the workspace, rounded up to 64 (cspell.c's temp_bytes). */
static LLVMValueRef temp_bytes(cgl *g, const ir_tensor *T, LLVMValueRef *sz)
{
    LLVMValueRef bytes = ci64(g, (int64_t)dtype_size(T->dtype));
    for (int d = 0; d < T->ndim; d++) {
        LLVMValueRef m = ci64(g, T->shape[d].k);
        for (int i = 0; i < T->shape[d].n; i++)
            m = LLVMBuildMul(g->b, m, sz[T->shape[d].v[i]], "");
        bytes = LLVMBuildMul(g->b, bytes, m, "");
    }
    return LLVMBuildAnd(g->b, LLVMBuildAdd(g->b, bytes, ci64(g, 63), ""), ci64(g, ~(int64_t)63), "");
}

/*
 * size_t NAME_workspace(sizes...): emitted C's, so that an object file links with the
 * header --emit=header writes for the same kernel.
 */
static void workspace_fn(cgl *g, LLVMTypeRef *sizes, int nsz)
{
    const ir_prog *p = g->p;
    char name[300];
    snprintf(name, sizeof name, "%s_workspace", g->o->name);
    LLVMValueRef fn = LLVMAddFunction(g->m, name, LLVMFunctionType(g->i64, sizes, (unsigned)nsz, 0));
    LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, fn, "entry"));
    LLVMValueRef *sz = ARENA_ARRAY(g->c->A, LLVMValueRef, p->naxis + 1), total = ci64(g, 0);
    if (!sz) {
        cc_nomem(g->c);
        LLVMBuildRet(g->b, total);
        return;
    }
    for (int a = 0; a < p->naxis; a++)
        sz[a] = ci64(g, p->axis[a].size);
    for (int i = 0, a; (a = cg_param_at(g->lp, i)) >= 0; i++)
        sz[a] = LLVMGetParam(fn, (unsigned)i);
    for (int t = 0; t < p->ntensor; t++)
        if (cg_temp_stored(g->lp, t))
            total = LLVMBuildAdd(g->b, total, temp_bytes(g, &p->tensor[t], sz), "");
    LLVMBuildRet(g->b, total);
}

/*
 * void NAME(in0, ..., out, sizes... [, void *workspace]): the C ABI of README.md's "Emitted kernels", one
 * thread, the sizes in emitted C's order (cg_param_at).  A program with temporaries kept in
 * memory (cg_temp_stored) takes a workspace, as emitted C does, each at a 64-byte-aligned
 * offset in tensor order, and the module defines NAME_workspace too.
 */
static void c_abi_wrapper(cgl *g, LLVMValueRef *nests)
{
    const ir_prog *p = g->p;
    int nparam = 0, nsz = 0;
    bool temps = false;
    LLVMTypeRef *params = ARENA_ARRAY(g->c->A, LLVMTypeRef, p->ntensor + p->naxis + 2);
    if (!params) {
        cc_nomem(g->c);
        return;
    }
    for (int t = 0; t < p->ntensor; t++)
        if (p->tensor[t].role != IR_TEMP)
            params[nparam++] = g->ptr;
        else
            temps |= cg_temp_stored(g->lp, t);
    while (cg_param_at(g->lp, nsz) >= 0)
        params[nparam + nsz++] = g->i64;
    if (temps)
        params[nparam + nsz++] = g->ptr;
    LLVMTypeRef ft = LLVMFunctionType(g->vt, params, (unsigned)(nparam + nsz), 0);
    LLVMValueRef fn = LLVMAddFunction(g->m, g->o->name, ft);
    LLVMBasicBlockRef bb = LLVMAppendBasicBlockInContext(g->ctx, fn, "entry");
    LLVMPositionBuilderAtEnd(g->b, bb);
    LLVMValueRef bufs = LLVMBuildArrayAlloca(g->b, g->ptr, ci64(g, p->ntensor), "bufs");
    LLVMValueRef sizes = LLVMBuildArrayAlloca(g->b, g->i64, ci64(g, p->naxis + 1), "sizes");
    int k = 0;
    for (int t = 0; t < p->ntensor; t++) {
        if (p->tensor[t].role == IR_TEMP)
            continue;
        LLVMValueRef v = LLVMGetParam(fn, (unsigned)k++);
        LLVMBuildStore(g->b, v, LLVMBuildInBoundsGEP2(g->b, g->ptr, bufs, (LLVMValueRef[]){ ci64(g, t) }, 1, ""));
    }
    LLVMValueRef *sz = ARENA_ARRAY(g->c->A, LLVMValueRef, p->naxis + 1);
    if (!sz) {
        cc_nomem(g->c);
        return;
    }
    for (int a = 0; a < p->naxis; a++)
        sz[a] = ci64(g, p->axis[a].size);
    for (int i = 0, a; (a = cg_param_at(g->lp, i)) >= 0; i++)
        sz[a] = LLVMGetParam(fn, (unsigned)k++);
    for (int a = 0; a < p->naxis; a++)
        LLVMBuildStore(g->b, sz[a], LLVMBuildInBoundsGEP2(g->b, g->i64, sizes, (LLVMValueRef[]){ ci64(g, a) }, 1, ""));
    LLVMValueRef ws = temps ? LLVMGetParam(fn, (unsigned)k++) : NULL, off = ci64(g, 0);
    for (int t = 0; t < p->ntensor; t++) {
        if (p->tensor[t].role != IR_TEMP)
            continue;
        /* one no nest keeps in memory (an accumulator's) gets no room, and no address */
        bool stored = cg_temp_stored(g->lp, t);
        LLVMValueRef at = stored ? LLVMBuildInBoundsGEP2(g->b, g->i8, ws, &off, 1, "") : LLVMConstNull(g->ptr);
        LLVMBuildStore(g->b, at, LLVMBuildInBoundsGEP2(g->b, g->ptr, bufs, (LLVMValueRef[]){ ci64(g, t) }, 1, ""));
        if (stored)
            off = LLVMBuildAdd(g->b, off, temp_bytes(g, &p->tensor[t], sz), "");
    }
    for (int i = 0; i < g->lp->nnest; i++) {
        const lp_node *r = g->lp->nest[i].root;
        LLVMValueRef hi = ci64(g, 0);
        int ax = lp_parallel_axis(r);
        if (ax >= 0)
            hi = is_runtime_size(&p->axis[ax]) ? LLVMBuildLoad2(g->b, g->i64,
                     LLVMBuildInBoundsGEP2(g->b, g->i64, sizes, (LLVMValueRef[]){ ci64(g, ax) }, 1, ""), "")
                                               : ci64(g, p->axis[ax].size);
        LLVMValueRef args[5] = { bufs, sizes, LLVMConstNull(g->ptr), ci64(g, 0), hi };
        LLVMBuildCall2(g->b, LLVMGlobalGetValueType(nests[i]), nests[i], args, 5, "");
    }
    LLVMBuildRetVoid(g->b);
    if (temps)
        workspace_fn(g, params + nparam, nsz - 1);
}

LLVMModuleRef cg_llvm(cc *c, const lp_prog *lp, const cgl_opts *o, LLVMContextRef ctx, bool *plain)
{
    if (cg_check(c, lp, true) < 0)
        return NULL;
    cgl g = { .c = c, .lp = lp, .p = lp->ir, .o = o, .ctx = ctx };
    g.m = LLVMModuleCreateWithNameInContext("einc", ctx);
    g.b = LLVMCreateBuilderInContext(ctx);
    g.i1 = LLVMInt1TypeInContext(ctx);
    g.i8 = LLVMInt8TypeInContext(ctx);
    g.i32 = LLVMInt32TypeInContext(ctx);
    g.i64 = LLVMInt64TypeInContext(ctx);
    g.f32 = LLVMFloatTypeInContext(ctx);
    g.f64 = LLVMDoubleTypeInContext(ctx);
    g.ptr = LLVMPointerTypeInContext(ctx, 0);
    g.vt = LLVMVoidTypeInContext(ctx);
    LLVMValueRef *nests = ARENA_ARRAY(c->A, LLVMValueRef, lp->nnest + 1);
    g.helper = ARENA_ARRAY(c->A, helper, HELPERS_MAX);
    if (!nests || !g.helper) {
        cc_nomem(c);
        goto fail;
    }
    for (int i = 0; i < lp->nnest; i++)
        if (!(nests[i] = nest_fn(&g, i)))
            goto fail;
    if (o->name) {
        for (int i = 0; i < lp->nnest; i++) {   /* inlined into the wrapper, not exported */
            LLVMSetLinkage(nests[i], LLVMInternalLinkage);
            unsigned kind = LLVMGetEnumAttributeKindForName("alwaysinline", 12);
            LLVMAddAttributeAtIndex(nests[i], LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(ctx, kind, 0));
        }
        c_abi_wrapper(&g, nests);
        if (c->failed)  /* out of memory */
            goto fail;
    }
    LLVMDisposeBuilder(g.b);
    *plain = g.plain;
    return g.m;
fail:
    LLVMDisposeBuilder(g.b);
    LLVMDisposeModule(g.m);
    return NULL;
}
