/*
 * llvm.c — loop IR → LLVM IR through the LLVM C API.
 *
 * Every nest becomes one function
 *
 *     void PREFIX_nestN(ptr bufs, ptr sizes, ptr strides, i64 lo, i64 hi)
 *
 * bufs holds one pointer per tensor, sizes one i64 per axis (read only for axes whose size
 * is not part of the expression), strides one pointer per tensor (NULL entries, or the
 * whole table NULL, mean contiguous).  A parallel outermost loop runs over [lo, hi), so the
 * thread pool can hand out chunks; other nests ignore lo and hi.  For --emit=llvm/asm/obj a
 * wrapper with the C ABI of DESIGN §4 calls the nests in order on one thread.
 *
 * Sizes and strides are loaded or computed once at entry, so every address in a loop is an
 * affine function of induction variables and loop invariants, which is what LLVM's
 * vectorizer and LICM want.  Float adds and multiplies carry the reassoc and contract
 * flags, so reductions vectorize and fuse into FMAs, as numpy's own SIMD loops reassociate;
 * max and min use llvm.maximum/llvm.minimum, which propagate NaN as numpy does.  Integer
 * arithmetic wraps (no nsw), as numpy's does.  Version-specific LLVM code lives here only.
 */
#include "codegen.h"
#include "llvm_cg.h"

#include <llvm-c/Core.h>
#include <llvm/Config/llvm-config.h>    /* LLVM_VERSION_MAJOR; plain C */

#include <stdio.h>
#include <string.h>

typedef struct cgl {
    cc *c;
    const lp_prog *lp;
    const ir_prog *p;
    const cgl_opts *o;
    LLVMContextRef ctx;
    LLVMModuleRef m;
    LLVMBuilderRef b;
    LLVMTypeRef i1, i8, i32, i64, f32, f64, ptr, vt;
    LLVMValueRef fn;
    LLVMBasicBlockRef entry;
    LLVMValueRef *size;         /* per axis */
    LLVMValueRef *iv;           /* per axis: the current induction variable */
    LLVMValueRef *blk, *blk_end; /* per axis: the enclosing tile loop's block and its end */
    int64_t *tile;              /* per axis: that tile loop's block size */
    LLVMValueRef **stride;      /* per tensor, per dimension */
    LLVMValueRef *base;         /* per tensor */
    LLVMValueRef lo, hi;
    LLVMValueRef acc;           /* the innermost ACC's alloca */
    const lp_nest *nest;
    const ir_access *store_dst;
} cgl;

static bool is_runtime_size(const ir_axis *a) { return !(a->given || a->literal); }

static LLVMTypeRef elem_type(cgl *g, einc_dtype t)
{
    switch (t) {
    case EINC_F32: return g->f32;
    case EINC_F64: return g->f64;
    case EINC_I32: return g->i32;
    case EINC_I64: return g->i64;
    default: return g->i8;
    }
}

static LLVMTypeRef ctype(cgl *g) { return elem_type(g, g->nest->compute); }
static bool fp(cgl *g) { return dtype_is_float(g->nest->compute); }

static void fast(LLVMValueRef v)
{
#if LLVM_VERSION_MAJOR >= 18
    if (LLVMIsAInstruction(v) && LLVMCanValueUseFastMathFlags(v))
        LLVMSetFastMathFlags(v, LLVMFastMathAllowReassoc | LLVMFastMathAllowContract);
#else
    (void)v;
#endif
}

static LLVMValueRef ci64(cgl *g, int64_t v) { return LLVMConstInt(g->i64, (unsigned long long)v, 1); }

static LLVMValueRef mono(cgl *g, const ir_mono *m)
{
    LLVMValueRef v = ci64(g, m->k);
    for (int i = 0; i < m->n; i++)
        v = LLVMBuildMul(g->b, v, g->size[m->v[i]], "");
    return v;
}

static LLVMValueRef call_intrinsic(cgl *g, const char *name, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b)
{
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef f = LLVMGetIntrinsicDeclaration(g->m, id, &t, 1);
    LLVMTypeRef ft = LLVMIntrinsicGetType(g->ctx, id, &t, 1);
    LLVMValueRef args[2] = { a, b };
    return LLVMBuildCall2(g->b, ft, f, args, 2, "");
}

/* ---- values of the compute type --------------------------------------------------------- */

static LLVMValueRef to_compute(cgl *g, LLVMValueRef v, einc_dtype from)
{
    einc_dtype to = g->nest->compute;
    if (from == to)
        return v;
    if (dtype_is_float(to)) {
        if (dtype_is_float(from))
            return to == EINC_F64 ? LLVMBuildFPExt(g->b, v, g->f64, "") : LLVMBuildFPTrunc(g->b, v, g->f32, "");
        return from == EINC_BOOL ? LLVMBuildUIToFP(g->b, v, ctype(g), "") : LLVMBuildSIToFP(g->b, v, ctype(g), "");
    }
    if (from == EINC_BOOL)
        return LLVMBuildZExt(g->b, v, ctype(g), "");
    return LLVMBuildIntCast2(g->b, v, ctype(g), 1, "");
}

static LLVMValueRef from_compute(cgl *g, LLVMValueRef v, einc_dtype to)
{
    einc_dtype from = g->nest->compute;
    if (from == to)
        return v;
    if (to == EINC_BOOL) {
        LLVMValueRef nz = dtype_is_float(from) ? LLVMBuildFCmp(g->b, LLVMRealUNE, v, LLVMConstReal(ctype(g), 0), "")
                                               : LLVMBuildICmp(g->b, LLVMIntNE, v, LLVMConstInt(ctype(g), 0, 0), "");
        return LLVMBuildZExt(g->b, nz, g->i8, "");
    }
    if (dtype_is_float(to))
        return dtype_is_float(from) ? LLVMBuildFPCast(g->b, v, elem_type(g, to), "")
                                    : LLVMBuildSIToFP(g->b, v, elem_type(g, to), "");
    return LLVMBuildIntCast2(g->b, v, elem_type(g, to), 1, "");
}

static LLVMValueRef identity(cgl *g, ir_comb comb)
{
    LLVMTypeRef t = ctype(g);
    bool i32 = g->nest->compute == EINC_I32;
    switch (comb) {
    case IR_COMB_PROD: return fp(g) ? LLVMConstReal(t, 1) : LLVMConstInt(t, 1, 0);
    case IR_COMB_MAX:
        return fp(g) ? LLVMConstReal(t, -__builtin_inf())
                     : LLVMConstInt(t, i32 ? (unsigned long long)(uint32_t)INT32_MIN : (unsigned long long)INT64_MIN, 0);
    case IR_COMB_MIN:
        return fp(g) ? LLVMConstReal(t, __builtin_inf())
                     : LLVMConstInt(t, i32 ? (unsigned long long)INT32_MAX : (unsigned long long)INT64_MAX, 0);
    default: return fp(g) ? LLVMConstReal(t, 0) : LLVMConstInt(t, 0, 0);
    }
}

static LLVMValueRef combine(cgl *g, ir_comb comb, LLVMValueRef acc, LLVMValueRef v)
{
    LLVMValueRef r;
    switch (comb) {
    case IR_COMB_SUM: case IR_COMB_MEAN:
        r = fp(g) ? LLVMBuildFAdd(g->b, acc, v, "") : LLVMBuildAdd(g->b, acc, v, "");
        fast(r);
        return r;
    case IR_COMB_PROD:
        r = fp(g) ? LLVMBuildFMul(g->b, acc, v, "") : LLVMBuildMul(g->b, acc, v, "");
        fast(r);
        return r;
    case IR_COMB_MAX:
        return call_intrinsic(g, fp(g) ? "llvm.maximum" : "llvm.smax", ctype(g), acc, v);
    case IR_COMB_MIN:
        return call_intrinsic(g, fp(g) ? "llvm.minimum" : "llvm.smin", ctype(g), acc, v);
    default:
        return v;
    }
}

/* ---- addresses --------------------------------------------------------------------------- */

static LLVMValueRef address(cgl *g, const ir_access *a)
{
    LLVMValueRef off = ci64(g, 0);
    for (int d = 0; d < a->ndim; d++) {
        const ir_dim *dim = &a->dim[d];
        LLVMValueRef idx = ci64(g, dim->off);
        for (int t = 0; t < dim->n; t++) {
            LLVMValueRef term = g->iv[dim->t[t].axis];
            const ir_mono *c = &dim->t[t].coef;
            if (c->n || c->k != 1)
                term = LLVMBuildMul(g->b, term, mono(g, c), "");
            idx = LLVMBuildAdd(g->b, idx, term, "");
        }
        off = LLVMBuildAdd(g->b, off, LLVMBuildMul(g->b, idx, g->stride[a->tensor][d], ""), "");
    }
    LLVMTypeRef et = elem_type(g, g->p->tensor[a->tensor].dtype);
    return LLVMBuildInBoundsGEP2(g->b, et, g->base[a->tensor], &off, 1, "");
}

static LLVMValueRef load(cgl *g, const ir_access *a)
{
    einc_dtype t = g->p->tensor[a->tensor].dtype;
    LLVMValueRef v = LLVMBuildLoad2(g->b, elem_type(g, t), address(g, a), "");
    if (t == EINC_BOOL)   /* any nonzero byte is true */
        v = LLVMBuildZExt(g->b, LLVMBuildICmp(g->b, LLVMIntNE, v, LLVMConstInt(g->i8, 0, 0), ""), g->i8, "");
    return to_compute(g, v, t);
}

static LLVMValueRef expr(cgl *g, const ir_expr *x)
{
    switch (x->op) {
    case IR_ACCESS:
        if (x->acc.tensor == g->nest->acc_tensor)
            return g->acc ? LLVMBuildLoad2(g->b, ctype(g), g->acc, "") : load(g, g->store_dst);
        return load(g, &x->acc);
    case IR_CONST:
        return fp(g) ? LLVMConstReal(ctype(g), x->c) : LLVMConstInt(ctype(g), (unsigned long long)(int64_t)x->c, 1);
    case IR_SIZE: {
        LLVMValueRef n = mono(g, &x->m);
        return fp(g) ? LLVMBuildSIToFP(g->b, n, ctype(g), "") : LLVMBuildIntCast2(g->b, n, ctype(g), 1, "");
    }
    default:
        break;
    }
    LLVMValueRef a = expr(g, x->a), b = expr(g, x->b), r = NULL;
    switch (x->op) {
    case IR_MUL: r = fp(g) ? LLVMBuildFMul(g->b, a, b, "") : LLVMBuildMul(g->b, a, b, ""); break;
    case IR_ADD: r = fp(g) ? LLVMBuildFAdd(g->b, a, b, "") : LLVMBuildAdd(g->b, a, b, ""); break;
    case IR_SUB: r = fp(g) ? LLVMBuildFSub(g->b, a, b, "") : LLVMBuildSub(g->b, a, b, ""); break;
    case IR_DIV:
        if (fp(g)) {
            r = LLVMBuildFDiv(g->b, a, b, "");
        } else {  /* x / 0 is 0 (numpy warns and gives 0); never undefined behaviour */
            LLVMValueRef zero = LLVMConstInt(ctype(g), 0, 0);
            LLVMValueRef bad = LLVMBuildICmp(g->b, LLVMIntEQ, b, zero, "");
            LLVMValueRef safe = LLVMBuildSelect(g->b, bad, LLVMConstInt(ctype(g), 1, 0), b, "");
            r = LLVMBuildSelect(g->b, bad, zero, LLVMBuildSDiv(g->b, a, safe, ""), "");
        }
        break;
    default:
        r = a;
        break;
    }
    fast(r);
    return r;
}

/* ---- statements ---------------------------------------------------------------------------- */

static void node(cgl *g, const lp_node *n, bool outermost);
static void store(cgl *g, const ir_access *dst, LLVMValueRef v);

/* A counted loop: loop_begin positions the builder in the body and returns the IV. */
typedef struct cloop {
    LLVMBasicBlockRef pre, head, exit;
    LLVMValueRef iv, start;
} cloop;

static LLVMValueRef loop_begin(cgl *g, cloop *L, LLVMValueRef start, LLVMValueRef end, const char *name)
{
    L->pre = LLVMGetInsertBlock(g->b);
    L->start = start;
    L->head = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "loop");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "body");
    L->exit = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "exit");
    LLVMBuildBr(g->b, L->head);
    LLVMPositionBuilderAtEnd(g->b, L->head);
    L->iv = LLVMBuildPhi(g->b, g->i64, name);
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, L->iv, end, ""), body, L->exit);
    LLVMPositionBuilderAtEnd(g->b, body);
    return L->iv;
}

static void loop_end(cgl *g, cloop *L, int64_t step)
{
    LLVMValueRef next = LLVMBuildAdd(g->b, L->iv, ci64(g, step), "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
    LLVMBuildBr(g->b, L->head);
    LLVMValueRef in_v[2] = { L->start, next };
    LLVMBasicBlockRef in_b[2] = { L->pre, latch };
    LLVMAddIncoming(L->iv, in_v, in_b, 2);
    LLVMPositionBuilderAtEnd(g->b, L->exit);
}

static LLVMValueRef smin(cgl *g, LLVMValueRef a, LLVMValueRef b);

static void loop(cgl *g, const lp_node *n, bool outermost)
{
    LLVMValueRef start = ci64(g, 0), end = g->size[n->axis];
    if (outermost && n->parallel) {
        start = g->lo;
        end = g->hi;
    }
    if (n->blocked) {   /* inside the block loop of the same axis */
        start = g->blk[n->axis];
        end = smin(g, LLVMBuildAdd(g->b, start, ci64(g, g->tile[n->axis]), ""), g->blk_end[n->axis]);
    }
    cloop L;
    LLVMValueRef iv = loop_begin(g, &L, start, end, g->p->axis[n->axis].name);
    if (n->tile) {
        g->blk[n->axis] = iv;
        g->blk_end[n->axis] = end;
        g->tile[n->axis] = n->tile;
    } else {
        g->iv[n->axis] = iv;
    }
    for (int i = 0; i < n->n; i++)
        node(g, n->body[i], false);
    loop_end(g, &L, n->tile ? n->tile : 1);
}

static LLVMValueRef smin(cgl *g, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, a, b, ""), a, b, "");
}

static LLVMValueRef entry_alloca(cgl *g, LLVMTypeRef t, const char *name)
{
    LLVMBuilderRef eb = LLVMCreateBuilderInContext(g->ctx);
    LLVMValueRef first = LLVMGetFirstInstruction(g->entry);
    if (first)
        LLVMPositionBuilderBefore(eb, first);
    else
        LLVMPositionBuilderAtEnd(eb, g->entry);
    LLVMValueRef slot = LLVMBuildAlloca(eb, t, name);
    LLVMDisposeBuilder(eb);
    return slot;
}

enum { GEMM_MR = 6, GEMM_NV = 4, GEMM_KC = 256, MAXACC = GEMM_MR * GEMM_NV };

/*
 * dst[m, n] += a[m, k] * b[k, n], register-blocked: an MR x (NV vectors) tile of dst lives
 * in vector registers while k runs over a block of KC, so each loaded vector of b feeds MR
 * fused multiply-adds and each element of a is broadcast once.  For each (k block, column
 * block) the KC x NR panel of b is first packed into a contiguous buffer on the stack: then
 * the tile reads it with unit stride whatever b's layout (a transposed b is the same code),
 * and rows of b that sit a power of two apart no longer fight over the same L1 sets.  The
 * panel stays in L1 across all the m tiles.  Edge tiles take a scalar path.
 */
/* Shared by gemm's tile and row paths. */
typedef struct gemm_ctx {
    LLVMTypeRef et, vt, fma_t;
    LLVMValueRef fma, mask, panel, spill;
    int esize, vl, nv, nr;
} gemm_ctx;

/* acc[r][v] += a[m0 + r, k] * panel[k - k0][v] for k in [k0, k1), rows r < nrows. */
static void gemm_kloop(cgl *g, const lp_node *n, const gemm_ctx *G, LLVMValueRef *acc, int nrows,
                       LLVMValueRef m0, LLVMValueRef k0, LLVMValueRef k1)
{
    cloop Lk;
    g->iv[n->k] = loop_begin(g, &Lk, k0, k1, "k");
    LLVMValueRef bv[MAXACC];
    LLVMValueRef prow = LLVMBuildMul(g->b, LLVMBuildSub(g->b, g->iv[n->k], k0, ""), ci64(g, G->nr), "");
    for (int v = 0; v < G->nv; v++) {
        LLVMValueRef at = LLVMBuildAdd(g->b, prow, ci64(g, v * G->vl), "");
        bv[v] = LLVMBuildLoad2(g->b, G->vt, LLVMBuildInBoundsGEP2(g->b, G->et, G->panel, &at, 1, ""), "");
        LLVMSetAlignment(bv[v], (unsigned)(G->vl * G->esize));
    }
    for (int r = 0; r < nrows; r++) {
        g->iv[n->m] = LLVMBuildAdd(g->b, m0, ci64(g, r), "");
        LLVMValueRef a = LLVMBuildLoad2(g->b, G->et, address(g, n->a), "");
        LLVMValueRef one = LLVMBuildInsertElement(g->b, LLVMGetPoison(G->vt), a, LLVMConstInt(g->i32, 0, 0), "");
        LLVMValueRef splat = LLVMBuildShuffleVector(g->b, one, LLVMGetPoison(G->vt), G->mask, "");
        for (int v = 0; v < G->nv; v++) {
            LLVMValueRef c = LLVMBuildLoad2(g->b, G->vt, acc[r * G->nv + v], "");
            LLVMValueRef args[3] = { splat, bv[v], c };
            LLVMBuildStore(g->b, LLVMBuildCall2(g->b, G->fma_t, G->fma, args, 3, ""), acc[r * G->nv + v]);
        }
    }
    loop_end(g, &Lk, 1);
}

/*
 * dst[m0 + r, n0 + c] += acc[r][c]: whole vectors when the column block is full, otherwise
 * through a spill buffer, only the nw columns that exist.
 */
static void gemm_store(cgl *g, const lp_node *n, const gemm_ctx *G, LLVMValueRef *acc, int nrows,
                       LLVMValueRef m0, LLVMValueRef n0, LLVMValueRef nfull, LLVMValueRef nw)
{
    LLVMBasicBlockRef vec = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "vstore");
    LLVMBasicBlockRef part = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "pstore");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "stored");
    LLVMBuildCondBr(g->b, nfull, vec, part);
    LLVMPositionBuilderAtEnd(g->b, vec);
    for (int r = 0; r < nrows; r++)
        for (int v = 0; v < G->nv; v++) {
            g->iv[n->m] = LLVMBuildAdd(g->b, m0, ci64(g, r), "");
            g->iv[n->nn] = LLVMBuildAdd(g->b, n0, ci64(g, v * G->vl), "");
            LLVMValueRef p = address(g, n->dst);
            LLVMValueRef old = LLVMBuildLoad2(g->b, G->vt, p, "");
            LLVMSetAlignment(old, (unsigned)G->esize);
            LLVMValueRef sum = LLVMBuildFAdd(g->b, old, LLVMBuildLoad2(g->b, G->vt, acc[r * G->nv + v], ""), "");
            LLVMValueRef st = LLVMBuildStore(g->b, sum, p);
            LLVMSetAlignment(st, (unsigned)G->esize);
        }
    LLVMBuildBr(g->b, done);
    LLVMPositionBuilderAtEnd(g->b, part);
    for (int r = 0; r < nrows; r++) {
        for (int v = 0; v < G->nv; v++) {
            LLVMValueRef at = ci64(g, v * G->vl);
            LLVMValueRef st = LLVMBuildStore(g->b, LLVMBuildLoad2(g->b, G->vt, acc[r * G->nv + v], ""),
                                             LLVMBuildInBoundsGEP2(g->b, G->et, G->spill, &at, 1, ""));
            LLVMSetAlignment(st, (unsigned)G->esize);
        }
        cloop Lc;
        LLVMValueRef c = loop_begin(g, &Lc, ci64(g, 0), nw, "pc");
        g->iv[n->m] = LLVMBuildAdd(g->b, m0, ci64(g, r), "");
        g->iv[n->nn] = LLVMBuildAdd(g->b, n0, c, "");
        LLVMValueRef x = LLVMBuildLoad2(g->b, G->et, LLVMBuildInBoundsGEP2(g->b, G->et, G->spill, &c, 1, ""), "");
        store(g, n->dst, LLVMBuildFAdd(g->b, load(g, n->dst), x, ""));
        loop_end(g, &Lc, 1);
    }
    LLVMBuildBr(g->b, done);
    LLVMPositionBuilderAtEnd(g->b, done);
}

/*
 * dst[m, n] += a[m, k] * b[k, n], register-blocked: an MR x (NV vectors) tile of dst lives
 * in vector registers while k runs over a block of KC, so each loaded vector of b feeds MR
 * fused multiply-adds and each element of a is broadcast once.  For each (k block, column
 * block) the KC x NR panel of b is first packed into a contiguous buffer on the stack: then
 * the tile reads it with unit stride whatever b's layout (a transposed b is the same code),
 * and rows of b that sit a power of two apart no longer fight over the same L1 sets.  A
 * partial column block is packed with zeros beyond its end, so it runs the same vector
 * code and only its store is partial; leftover rows run one row of NV vectors at a time.
 * The panel stays in L1 across all the m tiles.
 */
static void gemm(cgl *g, const lp_node *n, bool outermost)
{
    gemm_ctx G;
    G.et = ctype(g);
    G.esize = g->nest->compute == EINC_F64 ? 8 : 4;
    int vbytes = g->o->vector_bytes > 0 ? g->o->vector_bytes : 32;
    G.vl = vbytes / G.esize;
    /* 6 x 4 vectors: 24 accumulators of AVX-512's 32 registers; 6 x 2 of AVX2's 16 */
    const int mr = GEMM_MR;
    G.nv = vbytes >= 64 ? GEMM_NV : 2;
    G.nr = G.nv * G.vl;
    G.vt = LLVMVectorType(G.et, (unsigned)G.vl);
    LLVMValueRef M0 = ci64(g, 0), M1 = g->size[n->m], N = g->size[n->nn], K = g->size[n->k];
    if (outermost && n->parallel) {
        M0 = g->lo;
        M1 = g->hi;
    }
    LLVMValueRef acc[MAXACC];
    G.panel = entry_alloca(g, LLVMArrayType2(G.et, (uint64_t)GEMM_KC * (uint64_t)G.nr), "panel");
    LLVMSetAlignment(G.panel, 64);
    G.spill = entry_alloca(g, LLVMArrayType2(G.et, (uint64_t)G.nr), "spill");
    for (int i = 0; i < MAXACC; i++)
        acc[i] = entry_alloca(g, G.vt, "c");
    LLVMValueRef zero = LLVMConstNull(G.vt);
    G.mask = LLVMConstNull(LLVMVectorType(g->i32, (unsigned)G.vl));
    LLVMTypeRef fmt = G.vt;
    unsigned fma_id = LLVMLookupIntrinsicID("llvm.fmuladd", 12);
    G.fma = LLVMGetIntrinsicDeclaration(g->m, fma_id, &fmt, 1);
    G.fma_t = LLVMIntrinsicGetType(g->ctx, fma_id, &fmt, 1);

    cloop Lk0, Ln0, Lm0, Lpk, Lpn, Lpz, Lr;
    LLVMValueRef k0 = loop_begin(g, &Lk0, ci64(g, 0), K, "k0");
    LLVMValueRef k1 = smin(g, LLVMBuildAdd(g->b, k0, ci64(g, GEMM_KC), ""), K);
    LLVMValueRef n0 = loop_begin(g, &Ln0, ci64(g, 0), N, "n0");
    LLVMValueRef nw = smin(g, ci64(g, G.nr), LLVMBuildSub(g->b, N, n0, ""));
    LLVMValueRef nfull = LLVMBuildICmp(g->b, LLVMIntEQ, nw, ci64(g, G.nr), "");

    /* pack b[k0:k1, n0:n0+nw], zeros up to NR */
    g->iv[n->k] = loop_begin(g, &Lpk, k0, k1, "pk");
    LLVMValueRef row = LLVMBuildMul(g->b, LLVMBuildSub(g->b, g->iv[n->k], k0, ""), ci64(g, G.nr), "");
    LLVMValueRef c = loop_begin(g, &Lpn, ci64(g, 0), nw, "pn");
    g->iv[n->nn] = LLVMBuildAdd(g->b, n0, c, "");
    LLVMValueRef bval = LLVMBuildLoad2(g->b, G.et, address(g, n->b), "");
    LLVMBuildStore(g->b, bval, LLVMBuildInBoundsGEP2(g->b, G.et, G.panel, (LLVMValueRef[]){ LLVMBuildAdd(g->b, row, c, "") }, 1, ""));
    loop_end(g, &Lpn, 1);
    LLVMValueRef z = loop_begin(g, &Lpz, nw, ci64(g, G.nr), "pz");
    LLVMBuildStore(g->b, LLVMConstReal(G.et, 0), LLVMBuildInBoundsGEP2(g->b, G.et, G.panel, (LLVMValueRef[]){ LLVMBuildAdd(g->b, row, z, "") }, 1, ""));
    loop_end(g, &Lpz, 1);
    loop_end(g, &Lpk, 1);

    LLVMValueRef m0 = loop_begin(g, &Lm0, M0, M1, "m0");
    LLVMValueRef mfull = LLVMBuildICmp(g->b, LLVMIntSLE, LLVMBuildAdd(g->b, m0, ci64(g, mr), ""), M1, "");
    LLVMBasicBlockRef tile = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "tile");
    LLVMBasicBlockRef rows = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "rows");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "join");
    LLVMBuildCondBr(g->b, mfull, tile, rows);

    /* MR rows at once */
    LLVMPositionBuilderAtEnd(g->b, tile);
    for (int i = 0; i < mr * G.nv; i++)
        LLVMBuildStore(g->b, zero, acc[i]);
    gemm_kloop(g, n, &G, acc, mr, m0, k0, k1);
    gemm_store(g, n, &G, acc, mr, m0, n0, nfull, nw);
    LLVMBuildBr(g->b, join);

    /* the last rows, one at a time */
    LLVMPositionBuilderAtEnd(g->b, rows);
    LLVMValueRef m1 = smin(g, LLVMBuildAdd(g->b, m0, ci64(g, mr), ""), M1);
    LLVMValueRef row_iv = loop_begin(g, &Lr, m0, m1, "mr");
    for (int v = 0; v < G.nv; v++)
        LLVMBuildStore(g->b, zero, acc[v]);
    gemm_kloop(g, n, &G, acc, 1, row_iv, k0, k1);
    gemm_store(g, n, &G, acc, 1, row_iv, n0, nfull, nw);
    loop_end(g, &Lr, 1);
    LLVMBuildBr(g->b, join);

    LLVMPositionBuilderAtEnd(g->b, join);
    loop_end(g, &Lm0, mr);
    loop_end(g, &Ln0, G.nr);
    loop_end(g, &Lk0, GEMM_KC);
}

static void store(cgl *g, const ir_access *dst, LLVMValueRef v)
{
    LLVMBuildStore(g->b, from_compute(g, v, g->p->tensor[dst->tensor].dtype), address(g, dst));
}


static void node(cgl *g, const lp_node *n, bool outermost)
{
    switch (n->op) {
    case LP_LOOP:
        loop(g, n, outermost);
        return;
    case LP_GEMM:
        gemm(g, n, outermost);
        return;
    case LP_ACC: {
        /* the accumulator: an alloca in the entry block, promoted to a register by mem2reg */
        LLVMValueRef slot = entry_alloca(g, ctype(g), "acc");
        LLVMValueRef saved = g->acc;
        LLVMBuildStore(g->b, identity(g, n->comb), slot);
        g->acc = slot;
        for (int i = 0; i < n->n; i++)
            node(g, n->body[i], false);
        LLVMValueRef v = n->final ? expr(g, n->final) : LLVMBuildLoad2(g->b, ctype(g), slot, "");
        g->acc = saved;
        store(g, n->dst, v);
        return;
    }
    case LP_UPDATE: {
        LLVMValueRef v = expr(g, n->value);
        LLVMValueRef a = LLVMBuildLoad2(g->b, ctype(g), g->acc, "");
        LLVMBuildStore(g->b, combine(g, n->comb, a, v), g->acc);
        return;
    }
    case LP_STORE: {
        g->store_dst = n->dst;
        LLVMValueRef v;
        if (!n->value)
            v = identity(g, n->comb);
        else if (n->comb == IR_COMB_ASSIGN)
            v = expr(g, n->value);
        else
            v = combine(g, n->comb, load(g, n->dst), expr(g, n->value));
        store(g, n->dst, v);
        return;
    }
    }
}

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
    if (!g->blk || !g->blk_end || !g->tile)
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
                s = LLVMBuildMul(g->b, s, mono(g, &T->shape[d]), "");
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
    g->fn = fn;
    g->nest = &g->lp->nest[i];
    g->acc = NULL;
    g->entry = LLVMAppendBasicBlockInContext(g->ctx, fn, "entry");
    LLVMPositionBuilderAtEnd(g->b, g->entry);
    g->lo = LLVMGetParam(fn, 3);
    g->hi = LLVMGetParam(fn, 4);
    if (prologue(g, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), LLVMGetParam(fn, 2)) < 0)
        return NULL;
    node(g, g->nest->root, true);
    LLVMBuildRetVoid(g->b);
    return fn;
}

/* void NAME(in0, ..., out, sizes...): the C ABI of DESIGN §4, one thread. */
static void c_abi_wrapper(cgl *g, LLVMValueRef *nests)
{
    const ir_prog *p = g->p;
    int nparam = 0, nsz = 0;
    LLVMTypeRef params[EINC_MAX_OPERANDS + 2 + 256];
    for (int t = 0; t < p->ntensor; t++)
        if (p->tensor[t].role != IR_TEMP)
            params[nparam++] = g->ptr;
    for (int a = 0; a < p->naxis && nsz < 256; a++)
        if (is_runtime_size(&p->axis[a]))
            params[nparam + nsz++] = g->i64;
    LLVMTypeRef ft = LLVMFunctionType(g->vt, params, (unsigned)(nparam + nsz), 0);
    LLVMValueRef fn = LLVMAddFunction(g->m, g->o->name, ft);
    LLVMBasicBlockRef bb = LLVMAppendBasicBlockInContext(g->ctx, fn, "entry");
    LLVMPositionBuilderAtEnd(g->b, bb);
    LLVMValueRef bufs = LLVMBuildArrayAlloca(g->b, g->ptr, ci64(g, p->ntensor), "bufs");
    LLVMValueRef sizes = LLVMBuildArrayAlloca(g->b, g->i64, ci64(g, p->naxis + 1), "sizes");
    int k = 0;
    for (int t = 0; t < p->ntensor; t++) {
        LLVMValueRef v = p->tensor[t].role == IR_TEMP ? LLVMConstNull(g->ptr) : LLVMGetParam(fn, (unsigned)k++);
        LLVMBuildStore(g->b, v, LLVMBuildInBoundsGEP2(g->b, g->ptr, bufs, (LLVMValueRef[]){ ci64(g, t) }, 1, ""));
    }
    for (int a = 0; a < p->naxis; a++) {
        LLVMValueRef v = is_runtime_size(&p->axis[a]) ? LLVMGetParam(fn, (unsigned)k++) : ci64(g, p->axis[a].size);
        LLVMBuildStore(g->b, v, LLVMBuildInBoundsGEP2(g->b, g->i64, sizes, (LLVMValueRef[]){ ci64(g, a) }, 1, ""));
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
}

LLVMModuleRef cg_llvm(cc *c, const lp_prog *lp, const cgl_opts *o, LLVMContextRef ctx)
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
    if (!nests) {
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
    }
    LLVMDisposeBuilder(g.b);
    return g.m;
fail:
    LLVMDisposeBuilder(g.b);
    LLVMDisposeModule(g.m);
    return NULL;
}
