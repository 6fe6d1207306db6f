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
 * wrapper with the C ABI of README.md's "Emitted kernels" calls the nests in order on one thread.
 *
 * Sizes and strides are loaded or computed once at entry, so every address in a loop is an
 * affine function of induction variables and loop invariants, which is what LLVM's
 * vectorizer and LICM want.  Float adds and multiplies carry the reassoc and contract
 * flags, so reductions vectorize and fuse into FMAs, as numpy's own SIMD loops reassociate;
 * but a long float sum reassociates only inside its blocks ("pairwise sums" below), and a
 * float prod not at all: it multiplies in numpy's order, one element after another, so
 * that an underflow to 0 in one lane and an overflow to inf in another cannot meet as NaN
 * where numpy's running product has none.  max and min use llvm.maximum/llvm.minimum,
 * which propagate NaN as numpy does.  Integer arithmetic wraps (no nsw), as numpy's does.
 * Version-specific LLVM code lives here only.
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
    bool *shifted;              /* per axis: that tile loop's first block may start below its range */
    LLVMValueRef *blk_lo;       /* per axis: where that tile loop's range starts (0, or lo when parallel) */
    LLVMValueRef **stride;      /* per tensor, per dimension */
    LLVMValueRef *base;         /* per tensor */
    LLVMValueRef lo, hi;
    LLVMValueRef acc;           /* the innermost ACC's alloca */
    LLVMValueRef pw_levels;     /* a pairwise ACC's cascade (pairwise_begin), or NULL: ... */
    LLVMValueRef pw_count;      /* ... the blocks it holds, ... */
    LLVMValueRef pw_fill;       /* ... and the elements in the block acc holds */
    int64_t pw_block;           /* that ACC's block length */
    const lp_nest *nest;
    const ir_access *store_dst;
    const ir_expr **hoisted;    /* subexpressions computed before the innermost loop ... */
    LLVMValueRef *hoisted_v;    /* ... and their values */
    int nhoisted;
    bool streamed;              /* the nest may make non-temporal stores: fence before returning */
    int inner;                  /* the axis of the innermost plain loop open, or -1 */
    struct dconv *dc;           /* the nest's direct convolutions (conv_find), ndc of them */
    int ndc;
    struct helper *helper;      /* the module's functions that kernels call (helper_fn), ... */
    int nhelper;                /* ... HELPERS_MAX at most */
    bool plain;                 /* a statement in a plain loop: LLVM's vectorizers have work */
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

/* A call of the LLVM intrinsic name, overloaded on types tys[0..ntys). */
static LLVMValueRef intrinsic(cgl *g, const char *name, LLVMTypeRef *tys, size_t ntys, LLVMValueRef *args,
                              unsigned nargs)
{
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    return LLVMBuildCall2(g->b, LLVMIntrinsicGetType(g->ctx, id, tys, ntys),
                          LLVMGetIntrinsicDeclaration(g->m, id, tys, ntys), args, nargs, "");
}

static LLVMValueRef call_intrinsic(cgl *g, const char *name, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b)
{
    LLVMValueRef args[2] = { a, b };
    return intrinsic(g, name, &t, 1, args, 2);
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
    if (dtype_is_float(from))       /* a float read by an integer statement (argmax's index) */
        return LLVMBuildFPToSI(g->b, v, ctype(g), "");
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
    case IR_COMB_PROD:      /* no reassoc: in order, as numpy's (see the top of the file) */
        return fp(g) ? LLVMBuildFMul(g->b, acc, v, "") : LLVMBuildMul(g->b, acc, v, "");
    case IR_COMB_MAX:
        return call_intrinsic(g, fp(g) ? "llvm.maximum" : "llvm.smax", ctype(g), acc, v);
    case IR_COMB_MIN:
        return call_intrinsic(g, fp(g) ? "llvm.minimum" : "llvm.smin", ctype(g), acc, v);
    default:
        return v;
    }
}

/* ---- addresses --------------------------------------------------------------------------- */

static LLVMValueRef dim_index(cgl *g, const ir_dim *dim)
{
    LLVMValueRef idx = ci64(g, dim->off);
    for (int t = 0; t < dim->n; t++) {
        LLVMValueRef term = g->iv[dim->t[t].axis];
        const ir_mono *c = &dim->t[t].coef;
        if (c->n || c->k != 1)
            term = LLVMBuildMul(g->b, term, mono(g, c), "");
        idx = LLVMBuildAdd(g->b, idx, term, "");
    }
    return idx;
}

static LLVMValueRef address(cgl *g, const ir_access *a)
{
    LLVMValueRef off = ci64(g, 0);
    for (int d = 0; d < a->ndim; d++)
        off = LLVMBuildAdd(g->b, off, LLVMBuildMul(g->b, dim_index(g, &a->dim[d]), g->stride[a->tensor][d], ""), "");
    LLVMTypeRef et = elem_type(g, g->p->tensor[a->tensor].dtype);
    return LLVMBuildInBoundsGEP2(g->b, et, g->base[a->tensor], &off, 1, "");
}

static LLVMValueRef load_plain(cgl *g, const ir_access *a)
{
    einc_dtype t = g->p->tensor[a->tensor].dtype;
    LLVMValueRef v = LLVMBuildLoad2(g->b, elem_type(g, t), address(g, a), "");
    if (t == EINC_BOOL)   /* any nonzero byte is true */
        v = LLVMBuildZExt(g->b, LLVMBuildICmp(g->b, LLVMIntNE, v, LLVMConstInt(g->i8, 0, 0), ""), g->i8, "");
    return to_compute(g, v, t);
}

/*
 * A guarded access (zero padding) loads only when every index is inside the tensor (one
 * unsigned compare per dimension also catches negative ones) and is 0 otherwise.  The
 * branch is what the loop vectorizer if-converts into a masked load.
 */
static LLVMValueRef load(cgl *g, const ir_access *a)
{
    if (!a->guard)
        return load_plain(g, a);
    const ir_tensor *T = &g->p->tensor[a->tensor];
    LLVMValueRef inb = LLVMConstInt(g->i1, 1, 0);
    for (int d = 0; d < a->ndim; d++)
        inb = LLVMBuildAnd(g->b, inb, LLVMBuildICmp(g->b, LLVMIntULT, dim_index(g, &a->dim[d]),
                                                    mono(g, &T->shape[d]), ""), "");
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
    LLVMBasicBlockRef in = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "inside");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "join");
    LLVMBuildCondBr(g->b, inb, in, join);
    LLVMPositionBuilderAtEnd(g->b, in);
    LLVMValueRef v = load_plain(g, a);
    LLVMBasicBlockRef in_end = LLVMGetInsertBlock(g->b);
    LLVMBuildBr(g->b, join);
    LLVMPositionBuilderAtEnd(g->b, join);
    LLVMValueRef phi = LLVMBuildPhi(g->b, ctype(g), "");
    LLVMValueRef vals[2] = { v, fp(g) ? LLVMConstReal(ctype(g), 0) : LLVMConstInt(ctype(g), 0, 0) };
    LLVMBasicBlockRef bbs[2] = { in_end, pre };
    LLVMAddIncoming(phi, vals, bbs, 2);
    return phi;
}

/* ---- math functions ------------------------------------------------------------------------ */

static LLVMValueRef fc(cgl *g, double v) { return LLVMConstReal(ctype(g), v); }

static LLVMValueRef fmul(cgl *g, LLVMValueRef a, LLVMValueRef b)
{
    LLVMValueRef r = LLVMBuildFMul(g->b, a, b, "");
    fast(r);
    return r;
}

static LLVMValueRef fadd(cgl *g, LLVMValueRef a, LLVMValueRef b)
{
    LLVMValueRef r = LLVMBuildFAdd(g->b, a, b, "");
    fast(r);
    return r;
}

static LLVMValueRef call1(cgl *g, const char *name, LLVMValueRef a)
{
    LLVMTypeRef t = ctype(g);
    return intrinsic(g, name, &t, 1, &a, 1);
}

/* double NAME(double), from the C library (float64 only; jit.c lets these through). */
static LLVMValueRef libcall(cgl *g, const char *name, LLVMValueRef a)
{
    LLVMTypeRef ft = LLVMFunctionType(g->f64, &g->f64, 1, 0);
    LLVMValueRef f = LLVMGetNamedFunction(g->m, name);
    if (!f)
        f = LLVMAddFunction(g->m, name, ft);
    return LLVMBuildCall2(g->b, ft, f, &a, 1, "");
}

/* Horner: c[0] x^(n-1) + ... + c[n-1]. */
static LLVMValueRef poly(cgl *g, LLVMValueRef x, const double *c, int n)
{
    LLVMValueRef r = fc(g, c[0]);
    for (int i = 1; i < n; i++)
        r = fadd(g, fmul(g, r, x), fc(g, c[i]));
    return r;
}

static LLVMValueRef fselect(cgl *g, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b,
                            LLVMValueRef t, LLVMValueRef f)
{
    return LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, p, a, b, ""), t, f, "");
}

/* a·b + c rounded once (llvm.fma: exact, unlike a multiply-add under "contract") */
static LLVMValueRef fma3(cgl *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c)
{
    LLVMTypeRef t = LLVMTypeOf(a);
    LLVMValueRef args[3] = { a, b, c };
    return intrinsic(g, "llvm.fma", &t, 1, args, 3);
}

/*
 * exp for float32 inline, so loops that call it vectorize (a call to expf would keep them
 * scalar): Cephes' expf.  n = round(x·log2 e), r = x − n·ln 2 in two parts, exp(r) by a
 * degree-6 polynomial, then scaled by 2^n as two halves so that denormal results and
 * n = 128 stay exact.  Within 2 ulp of expf; NaN stays NaN.
 */
static LLVMValueRef exp_f32(cgl *g, LLVMValueRef x)
{
    static const double c[] = { 1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                                4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1 };
    LLVMValueRef xc = fselect(g, LLVMRealOGT, x, fc(g, 88.7228), fc(g, 88.7228), x);
    xc = fselect(g, LLVMRealOLT, xc, fc(g, -104.0), fc(g, -104.0), xc);
    LLVMValueRef n = call1(g, "llvm.rint", fmul(g, xc, fc(g, 1.44269504088896341)));
    LLVMValueRef r = fma3(g, n, fc(g, -0.693359375), xc);
    r = fma3(g, n, fc(g, 2.12194440e-4), r);
    LLVMValueRef z = fmul(g, r, r);
    LLVMValueRef y = fadd(g, fadd(g, fmul(g, poly(g, r, c, 6), z), r), fc(g, 1));
    LLVMValueRef ni = LLVMBuildFPToSI(g->b, n, g->i32, "");
    LLVMValueRef n1 = LLVMBuildAShr(g->b, ni, LLVMConstInt(g->i32, 1, 0), "");
    LLVMValueRef n2 = LLVMBuildSub(g->b, ni, n1, "");
    for (int h = 0; h < 2; h++) {
        LLVMValueRef e = LLVMBuildAdd(g->b, h ? n2 : n1, LLVMConstInt(g->i32, 127, 0), "");
        LLVMValueRef bits = LLVMBuildShl(g->b, e, LLVMConstInt(g->i32, 23, 0), "");
        y = LLVMBuildFMul(g->b, y, LLVMBuildBitCast(g->b, bits, g->f32, ""), "");
    }
    return y;       /* a NaN x passed the clamps (unordered compares are false) and stayed NaN */
}

static LLVMValueRef m_exp(cgl *g, LLVMValueRef x)
{
    return g->nest->compute == EINC_F32 ? exp_f32(g, x) : libcall(g, "exp", x);
}

/* tanh: Cephes' odd polynomial near 0, (1 − e^−2|x|)/(1 + e^−2|x|) with x's sign beyond. */
static LLVMValueRef m_tanh(cgl *g, LLVMValueRef x)
{
    if (g->nest->compute != EINC_F32)
        return libcall(g, "tanh", x);
    static const double c[] = { -5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2,
                                1.33314422036e-1, -3.33332819422e-1 };
    LLVMValueRef ax = call1(g, "llvm.fabs", x), z = fmul(g, x, x);
    LLVMValueRef small = fadd(g, fmul(g, fmul(g, poly(g, z, c, 5), z), x), x);
    LLVMValueRef t = m_exp(g, fmul(g, ax, fc(g, -2)));
    LLVMValueRef big = LLVMBuildFDiv(g->b, LLVMBuildFSub(g->b, fc(g, 1), t, ""), fadd(g, fc(g, 1), t), "");
    big = call_intrinsic(g, "llvm.copysign", ctype(g), big, x);
    return fselect(g, LLVMRealOLT, ax, fc(g, 0.625), small, big);
}

/* erf: Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7), odd. */
static LLVMValueRef m_erf(cgl *g, LLVMValueRef x)
{
    if (g->nest->compute != EINC_F32)
        return libcall(g, "erf", x);
    static const double c[] = { 1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592 };
    LLVMValueRef ax = call1(g, "llvm.fabs", x);
    LLVMValueRef t = LLVMBuildFDiv(g->b, fc(g, 1), fadd(g, fc(g, 1), fmul(g, ax, fc(g, 0.3275911))), "");
    LLVMValueRef e = m_exp(g, LLVMBuildFNeg(g->b, fmul(g, ax, ax), ""));
    LLVMValueRef y = LLVMBuildFSub(g->b, fc(g, 1), fmul(g, fmul(g, poly(g, t, c, 5), t), e), "");
    return call_intrinsic(g, "llvm.copysign", ctype(g), y, x);
}

/*
 * Integer a / b as emitted C computes it: 0 where b is 0 (numpy warns and gives 0), and
 * MIN / -1 wraps to MIN; never the undefined behaviour (a trap on x86) of a bare sdiv.
 */
static LLVMValueRef sdiv0(cgl *g, LLVMValueRef a, LLVMValueRef b)
{
    LLVMTypeRef t = ctype(g);
    LLVMValueRef zero = LLVMConstInt(t, 0, 0), one = LLVMConstInt(t, 1, 0);
    LLVMValueRef by0 = LLVMBuildICmp(g->b, LLVMIntEQ, b, zero, "");
    LLVMValueRef bym1 = LLVMBuildICmp(g->b, LLVMIntEQ, b, LLVMConstAllOnes(t), "");
    LLVMValueRef safe = LLVMBuildSelect(g->b, LLVMBuildOr(g->b, by0, bym1, ""), one, b, "");
    LLVMValueRef q = LLVMBuildSDiv(g->b, a, safe, "");
    q = LLVMBuildSelect(g->b, bym1, LLVMBuildSub(g->b, zero, a, ""), q, "");
    return LLVMBuildSelect(g->b, by0, zero, q, "");
}

static LLVMValueRef unary(cgl *g, ir_op op, LLVMValueRef a)
{
    if (!fp(g))     /* integers: only negation is integral (lower.c keeps the rest float) */
        return op == IR_NEG ? LLVMBuildSub(g->b, LLVMConstInt(ctype(g), 0, 0), a, "") : a;
    switch (op) {
    case IR_NEG: return LLVMBuildFNeg(g->b, a, "");
    case IR_EXP: return m_exp(g, a);
    case IR_LOG: return call1(g, "llvm.log", a);
    case IR_SQRT: return call1(g, "llvm.sqrt", a);
    case IR_RSQRT: return LLVMBuildFDiv(g->b, fc(g, 1), call1(g, "llvm.sqrt", a), "");
    case IR_TANH: return m_tanh(g, a);
    case IR_ERF: return m_erf(g, a);
    case IR_SIGMOID:
        return LLVMBuildFDiv(g->b, fc(g, 1), fadd(g, fc(g, 1), m_exp(g, LLVMBuildFNeg(g->b, a, ""))), "");
    default: return a;
    }
}

static LLVMValueRef expr(cgl *g, const ir_expr *x)
{
    for (int i = 0; i < g->nhoisted; i++)
        if (g->hoisted[i] == x)
            return g->hoisted_v[i];
    switch (x->op) {
    case IR_ACCESS:
        if (g->lp->acc[x->acc.tensor])
            return g->acc ? LLVMBuildLoad2(g->b, ctype(g), g->acc, "") : load(g, g->store_dst);
        return load(g, &x->acc);
    case IR_CONST:
        return fp(g) ? LLVMConstReal(ctype(g), x->c) : LLVMConstInt(ctype(g), (unsigned long long)(int64_t)x->c, 1);
    case IR_SIZE: {
        LLVMValueRef n = mono(g, &x->m);
        return fp(g) ? LLVMBuildSIToFP(g->b, n, ctype(g), "") : LLVMBuildIntCast2(g->b, n, ctype(g), 1, "");
    }
    case IR_AXIS: {
        LLVMValueRef n = g->iv[x->axis];
        return fp(g) ? LLVMBuildSIToFP(g->b, n, ctype(g), "") : LLVMBuildIntCast2(g->b, n, ctype(g), 1, "");
    }
    default:
        break;
    }
    if (ir_op_arity(x->op) == 1)
        return unary(g, x->op, expr(g, x->a));
    LLVMValueRef a = expr(g, x->a), b = expr(g, x->b), r = NULL;
    switch (x->op) {
    case IR_MUL: r = fp(g) ? LLVMBuildFMul(g->b, a, b, "") : LLVMBuildMul(g->b, a, b, ""); break;
    case IR_ADD: r = fp(g) ? LLVMBuildFAdd(g->b, a, b, "") : LLVMBuildAdd(g->b, a, b, ""); break;
    case IR_SUB: r = fp(g) ? LLVMBuildFSub(g->b, a, b, "") : LLVMBuildSub(g->b, a, b, ""); break;
    case IR_DIV: case IR_DIVZ:
        if (!fp(g)) {
            r = sdiv0(g, a, b);
        } else if (x->op == IR_DIV) {
            r = LLVMBuildFDiv(g->b, a, b, "");
        } else {
            LLVMValueRef zero = fc(g, 0), bad = LLVMBuildFCmp(g->b, LLVMRealOEQ, b, zero, "");
            r = LLVMBuildSelect(g->b, bad, zero, LLVMBuildFDiv(g->b, a, b, ""), "");
        }
        break;
    case IR_MAX: case IR_MIN:
        r = combine(g, x->op == IR_MAX ? IR_COMB_MAX : IR_COMB_MIN, a, b);
        break;
    case IR_EQ: {
        LLVMValueRef e = fp(g) ? LLVMBuildFCmp(g->b, LLVMRealOEQ, a, b, "") : LLVMBuildICmp(g->b, LLVMIntEQ, a, b, "");
        r = fp(g) ? LLVMBuildUIToFP(g->b, e, ctype(g), "") : LLVMBuildZExt(g->b, e, ctype(g), "");
        break;
    }
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
static LLVMValueRef smax(cgl *g, LLVMValueRef a, LLVMValueRef b);

/* Does x use axis ax, or read a tensor the loop body bd[0..nb) writes (or the accumulator)? */
static bool variant(const cgl *g, const ir_expr *x, int ax, lp_node *const *bd, int nb)
{
    if (!x)
        return false;
    if (x->op == IR_AXIS)
        return x->axis == ax;
    if (x->op != IR_ACCESS)
        return variant(g, x->a, ax, bd, nb) || variant(g, x->b, ax, bd, nb);
    if (g->lp->acc[x->acc.tensor])
        return true;
    for (int i = 0; i < nb; i++)
        if (bd[i]->dst->tensor == x->acc.tensor)
            return true;
    return ir_access_uses(&x->acc, ax);
}

/* Collects the largest invariant subexpressions of x that do some arithmetic. */
static void find_invariants(cgl *g, const ir_expr *x, int ax, lp_node *const *bd, int nb, int cap)
{
    if (!x || x->op == IR_ACCESS || x->op == IR_CONST || x->op == IR_SIZE || x->op == IR_AXIS)
        return;
    if (!variant(g, x, ax, bd, nb)) {
        if (g->nhoisted < cap)
            g->hoisted[g->nhoisted++] = x;
        return;
    }
    find_invariants(g, x->a, ax, bd, nb, cap);
    find_invariants(g, x->b, ax, bd, nb, cap);
}

/*
 * Loop-invariant code motion on the IR: in an innermost loop of stores, each subexpression
 * that neither uses the loop's axis nor reads what the loop writes (a batch norm's scale
 * rsqrt(var + eps)·gamma and shift, in a convolution's epilogue) is computed once before
 * the loop.  LLVM cannot hoist it itself: it does not know that the tensors do not alias.
 * Inner loops only, so every axis such an expression uses is bound and in range.
 */
static void hoist(cgl *g, const lp_node *n)
{
    enum { MAX_HOISTED = 16 };
    g->nhoisted = 0;
    for (int i = 0; i < n->n; i++)
        if (n->body[i]->op != LP_STORE || n->tile || n->blocked)
            return;
    g->hoisted = ARENA_ARRAY(g->c->A, const ir_expr *, MAX_HOISTED);
    g->hoisted_v = ARENA_ARRAY(g->c->A, LLVMValueRef, MAX_HOISTED);
    if (!g->hoisted || !g->hoisted_v)
        return;
    for (int i = 0; i < n->n; i++)
        find_invariants(g, n->body[i]->value, n->axis, n->body, n->n, MAX_HOISTED);
    int k = g->nhoisted;
    g->nhoisted = 0;            /* expr() must compute them, not look them up */
    for (int i = 0; i < k; i++) {
        g->hoisted_v[i] = expr(g, g->hoisted[i]);
        g->nhoisted = i + 1;
    }
}

static void loop_plain(cgl *g, const lp_node *n, bool outermost);

/* llvm.prefetch of p into all cache levels, for reading or for writing. */
static void prefetch(cgl *g, LLVMValueRef p, bool write)
{
    LLVMTypeRef pt = g->ptr;
    LLVMValueRef args[4] = { p, LLVMConstInt(g->i32, write, 0), LLVMConstInt(g->i32, 3, 0),
                             LLVMConstInt(g->i32, 1, 0) };
    intrinsic(g, "llvm.prefetch", &pt, 1, args, 4);
}

/* Marks store st non-temporal: it goes to memory without reading its line first. */
static void nontemporal(cgl *g, LLVMValueRef st)
{
    LLVMMetadataRef one = LLVMValueAsMetadata(LLVMConstInt(g->i32, 1, 0));
    LLVMSetMetadata(st, LLVMGetMDKindIDInContext(g->ctx, "nontemporal", 11),
                    LLVMMetadataAsValue(g->ctx, LLVMMDNodeInContext2(g->ctx, &one, 1)));
}

/*
 * The host's L2 per core (cgl_opts.l2_bytes; 1 MiB when unknown), which sizes the GEMM's
 * panel and decides when a transpose streams.
 */
static int vector_bytes(const cgl *g) { return g->o->vector_bytes > 0 ? g->o->vector_bytes : 32; }

static int64_t l2_bytes(const cgl *g) { return g->o->l2_bytes > 0 ? g->o->l2_bytes : 1 << 20; }

/*
 * Outputs of at least 4 L2s (8 MiB with this machine kind's 2 MiB) are written around the
 * caches by a transpose: smaller ones are likely still cached when the next kernel reads
 * them, and a line the store would have to fetch first is then no cost.
 */
static int64_t stream_bytes(const cgl *g) { return 4 * l2_bytes(g); }

/* How far a's element offset moves when axis ax grows by one. */
static LLVMValueRef axis_stride(cgl *g, const ir_access *a, int ax)
{
    LLVMValueRef s = ci64(g, 0);
    for (int d = 0; d < a->ndim; d++)
        for (int t = 0; t < a->dim[d].n; t++)
            if (a->dim[d].t[t].axis == ax)
                s = LLVMBuildAdd(g->b, s, LLVMBuildMul(g->b, mono(g, &a->dim[d].t[t].coef), g->stride[a->tensor][d], ""), "");
    return s;
}

typedef struct square {
    const ir_access *in, *out;
    int r, o, vl, esize;
    LLVMTypeRef vt;
    LLVMValueRef r0, r1, o0, o1;    /* the tile: [r0, r1) x [o0, o1) */
    LLVMValueRef last_o;
    int p, dp, d_o;     /* the output's axis p before o (dimensions dp, d_o), or p = -1 */
    bool joinable;              /* p is there and the o blocks are shifted: the tile may join */
    LLVMValueRef join, skip;    /* i1, in a partial tile: its first square joins row p - 1's last line; its last is left out */
} square;

/*
 * The address of q's output at r = rv, o = ov, as an integer, and (*step) the distance to
 * the next r: streamed stores need both on a vector boundary.
 */
static LLVMValueRef out_row(cgl *g, const square *q, LLVMValueRef rv, LLVMValueRef ov, LLVMValueRef *step)
{
    g->iv[q->r] = rv;
    g->iv[q->o] = ov;
    LLVMValueRef a0 = LLVMBuildPtrToInt(g->b, address(g, q->out), g->i64, "");
    g->iv[q->r] = LLVMBuildAdd(g->b, rv, ci64(g, 1), "");
    *step = LLVMBuildSub(g->b, LLVMBuildPtrToInt(g->b, address(g, q->out), g->i64, ""), a0, "");
    return a0;
}

/* A masked vector load (store == NULL) or store at p: lanes off are neither read nor written. */
static LLVMValueRef masked_op(cgl *g, LLVMTypeRef vt, int esize, LLVMValueRef p, LLVMValueRef mask,
                              LLVMValueRef store)
{
    LLVMTypeRef tys[2] = { vt, g->ptr };
    LLVMValueRef align = LLVMConstInt(g->i32, (unsigned long long)esize, 0);
    if (store) {
        LLVMValueRef args[4] = { store, p, align, mask };
        return intrinsic(g, "llvm.masked.store", tys, 2, args, 4);
    }
    LLVMValueRef args[4] = { p, align, mask, LLVMConstNull(vt) };
    return intrinsic(g, "llvm.masked.load", tys, 2, args, 4);
}

/* The scalar x in every lane of a vl-lane vector. */
static LLVMValueRef splat(cgl *g, LLVMValueRef x, int vl)
{
    LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(x), (unsigned)vl);
    LLVMValueRef one = LLVMBuildInsertElement(g->b, LLVMGetPoison(vt), x, LLVMConstInt(g->i32, 0, 0), "");
    return LLVMBuildShuffleVector(g->b, one, LLVMGetPoison(vt), LLVMConstNull(LLVMVectorType(g->i32, (unsigned)vl)), "");
}

/* The i1 lanes k of a vl-lane mask with lo <= k < hi (lo NULL: 0 <= k). */
static LLVMValueRef lane_range(cgl *g, int vl, LLVMValueRef lo, LLVMValueRef hi)
{
    LLVMValueRef lanes[16];
    for (int k = 0; k < vl; k++)
        lanes[k] = ci64(g, k);
    LLVMValueRef kv = LLVMConstVector(lanes, (unsigned)vl);
    LLVMValueRef m = LLVMBuildICmp(g->b, LLVMIntSLT, kv, splat(g, hi, vl), "");
    return lo ? LLVMBuildAnd(g->b, m, LLVMBuildICmp(g->b, LLVMIntSGE, kv, splat(g, lo, vl), ""), "") : m;
}

/* The mask of the lanes k < vl with from + k < end, and'ed with the scalar also (or NULL). */
static LLVMValueRef lanes_below(cgl *g, int vl, LLVMValueRef from, LLVMValueRef end, LLVMValueRef also)
{
    LLVMValueRef left = LLVMBuildSub(g->b, end, from, "");
    if (also)   /* no lane when also is false */
        left = LLVMBuildSelect(g->b, also, left, ci64(g, 0), "");
    return lane_range(g, vl, NULL, left);
}

/*
 * v[0..vl) as the rows of a vl x vl matrix, transposed in registers: log2(vl) rounds of
 * two-vector shuffles, round b swapping the b x b sub-blocks off the diagonal.
 */
static void transpose_regs(cgl *g, LLVMValueRef *v, int vl)
{
    LLVMValueRef w[16];
    for (int b = 1; b < vl; b *= 2) {
        LLVMValueRef lo_m[16], hi_m[16];
        for (int k = 0; k < vl; k++) {
            lo_m[k] = LLVMConstInt(g->i32, (unsigned long long)((k & b) ? vl + k - b : k), 0);
            hi_m[k] = LLVMConstInt(g->i32, (unsigned long long)((k & b) ? vl + k : k + b), 0);
        }
        LLVMValueRef lm = LLVMConstVector(lo_m, (unsigned)vl), hm = LLVMConstVector(hi_m, (unsigned)vl);
        for (int i = 0; i < vl; i++) {
            if (i & b)
                continue;
            w[i] = LLVMBuildShuffleVector(g->b, v[i], v[i + b], lm, "");
            w[i + b] = LLVMBuildShuffleVector(g->b, v[i], v[i + b], hm, "");
        }
        memcpy(v, w, sizeof *v * (size_t)vl);
    }
}

/* The element off elements past p. */
static LLVMValueRef elem_at(cgl *g, LLVMTypeRef et, LLVMValueRef p, LLVMValueRef off)
{
    return LLVMBuildInBoundsGEP2(g->b, et, p, &off, 1, "");
}

/*
 * The square of a transpose (sub_square), one function per vector type in a module
 * (helper_fn), which every kind of square a kernel makes calls: it was inlined seven ways
 * (whole or partial tile, cached or streamed, whole or ragged, masked), and LLVM then
 * spent four fifths of a transpose's cold compile on those copies (abcd->dcba: 270 ms,
 * 48 ms without the squares, 77 ms with one).  The call costs a few cycles against the
 * VL x VL elements a square moves.  Its parameters, in order:
 *
 *   IN, S_IN     the corner's input element, and the stride from loaded row to row (o)
 *   NLOAD        the rows loaded, at least 1: rows from NLOAD on load nothing, from the
 *                address of row NLOAD - 1
 *   NBACK, BACK  rows below NBACK load BACK elements further (a join: column o < 0 of row
 *                p is column o + O of row p - 1) ...
 *   B_LO         ... their lanes from B_LO on; every row's lanes end at L_HI
 *   L_HI
 *   PF_ADD, PF_ROW, PF_LAST  the input prefetched for row i: IN + PF_ADD + BACK if a join
 *                row, + min(i + PF_ROW, PF_LAST) rows
 *   OUT, S_OUT   the corner's output element, and the stride from stored row to row (r)
 *   NSTORE       the rows stored
 *   S_HI, F_LO   a row stores lanes [0, S_HI), row 0 lanes [F_LO, S_HI)
 *   STREAM       (i1) whole rows go around the cache (their addresses are vector aligned)
 *   AHEAD        for a whole row through the cache: the output prefetched, AHEAD further
 *
 * A square with NLOAD = VL, no join and L_HI >= VL loads whole vectors; a row whose lanes
 * are all stored is a plain (or streamed) store, the rest masked.
 */
enum { SQ_IN, SQ_S_IN, SQ_NLOAD, SQ_NBACK, SQ_BACK, SQ_B_LO, SQ_L_HI, SQ_PF_ADD, SQ_PF_ROW, SQ_PF_LAST,
       SQ_OUT, SQ_S_OUT, SQ_NSTORE, SQ_S_HI, SQ_F_LO, SQ_STREAM, SQ_AHEAD, SQ_NARG };

/* A new block of g->fn, and the builder at its end once cond sent the code to it or to next. */
static void cond_block(cgl *g, LLVMValueRef cond, const char *name, LLVMBasicBlockRef next)
{
    LLVMBasicBlockRef bb = LLVMAppendBasicBlockInContext(g->ctx, g->fn, name);
    LLVMBuildCondBr(g->b, cond, bb, next);
    LLVMPositionBuilderAtEnd(g->b, bb);
}

static void square_body(cgl *g, const square *q, int kind, LLVMValueRef fn)
{
    (void)kind;
    LLVMValueRef a[SQ_NARG], v[16], vp[16], vm[16];
    for (int i = 0; i < SQ_NARG; i++)
        a[i] = LLVMGetParam(fn, (unsigned)i);
    LLVMTypeRef vt = q->vt, et = LLVMGetElementType(vt);
    int vl = q->vl, esize = q->esize;
    LLVMBasicBlockRef whole = LLVMAppendBasicBlockInContext(g->ctx, fn, "whole");
    LLVMBasicBlockRef part = LLVMAppendBasicBlockInContext(g->ctx, fn, "part");
    LLVMBasicBlockRef loaded = LLVMAppendBasicBlockInContext(g->ctx, fn, "loaded");
    LLVMValueRef VL = ci64(g, vl);
    LLVMValueRef all = LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, a[SQ_NLOAD], VL, ""),
        LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntSLE, a[SQ_NBACK], ci64(g, 0), ""),
                     LLVMBuildICmp(g->b, LLVMIntSGE, a[SQ_L_HI], VL, ""), ""), "");
    /* not inbounds: a prefetch may look past the array */
    LLVMValueRef pf_in = LLVMBuildGEP2(g->b, et, a[SQ_IN], &a[SQ_PF_ADD], 1, "");
    LLVMBuildCondBr(g->b, all, whole, part);
    for (int pass = 0; pass < 2; pass++) {  /* whole vectors, then masked ones */
        LLVMPositionBuilderAtEnd(g->b, pass ? part : whole);
        LLVMValueRef last = LLVMBuildSub(g->b, a[SQ_NLOAD], ci64(g, 1), "");
        for (int i = 0; i < vl; i++) {        /* v[i][k] = in[o = i, r = k] */
            LLVMValueRef at = ci64(g, i), off = LLVMBuildMul(g->b, at, a[SQ_S_IN], ""), pf = ci64(g, 0);
            if (pass) {
                LLVMValueRef back = LLVMBuildICmp(g->b, LLVMIntSLT, at, a[SQ_NBACK], "");
                LLVMValueRef lo = LLVMBuildSelect(g->b, back, a[SQ_B_LO], ci64(g, 0), "");
                LLVMValueRef m = LLVMBuildAnd(g->b, lane_range(g, vl, lo, a[SQ_L_HI]),
                    splat(g, LLVMBuildICmp(g->b, LLVMIntSLT, at, a[SQ_NLOAD], ""), vl), "");
                pf = LLVMBuildSelect(g->b, back, a[SQ_BACK], pf, "");
                off = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, smin(g, at, last), a[SQ_S_IN], ""), pf, "");
                vm[i] = masked_op(g, vt, esize, elem_at(g, et, a[SQ_IN], off), m, NULL);
            } else {
                vp[i] = LLVMBuildLoad2(g->b, vt, elem_at(g, et, a[SQ_IN], off), "");
                LLVMSetAlignment(vp[i], (unsigned)esize);
            }
            /* the same row of the next o block, read once this block's r blocks are done */
            LLVMValueRef row = smin(g, LLVMBuildAdd(g->b, at, a[SQ_PF_ROW], ""), a[SQ_PF_LAST]);
            pf = LLVMBuildAdd(g->b, pf, LLVMBuildMul(g->b, row, a[SQ_S_IN], ""), "");
            prefetch(g, LLVMBuildGEP2(g->b, et, pf_in, &pf, 1, ""), false);
        }
        LLVMBuildBr(g->b, loaded);
    }
    LLVMPositionBuilderAtEnd(g->b, loaded);
    for (int i = 0; i < vl; i++) {
        v[i] = LLVMBuildPhi(g->b, vt, "");
        LLVMValueRef in[2] = { vp[i], vm[i] };
        LLVMBasicBlockRef from[2] = { whole, part };
        LLVMAddIncoming(v[i], in, from, 2);
    }
    transpose_regs(g, v, vl);
    LLVMValueRef full = LLVMBuildICmp(g->b, LLVMIntSGE, a[SQ_S_HI], VL, "");
    LLVMValueRef full0 = LLVMBuildAnd(g->b, full, LLVMBuildICmp(g->b, LLVMIntSLE, a[SQ_F_LO], ci64(g, 0), ""), "");
    for (int j = 0; j < vl; j++) {        /* now v[j][i] = in[o = i, r = j] */
        LLVMValueRef at = ci64(g, j), p = elem_at(g, et, a[SQ_OUT], LLVMBuildMul(g->b, at, a[SQ_S_OUT], ""));
        LLVMValueRef whole_row = j ? full : full0;
        LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(g->ctx, fn, "stored");
        LLVMBasicBlockRef masked = LLVMAppendBasicBlockInContext(g->ctx, fn, "masked");
        cond_block(g, LLVMBuildICmp(g->b, LLVMIntSLT, at, a[SQ_NSTORE], ""), "row", next);
        cond_block(g, whole_row, "whole_row", masked);
        LLVMBasicBlockRef cached = LLVMAppendBasicBlockInContext(g->ctx, fn, "cached");
        cond_block(g, a[SQ_STREAM], "streamed", cached);
        LLVMValueRef st = LLVMBuildStore(g->b, v[j], p);
        LLVMSetAlignment(st, (unsigned)(vl * esize));
        nontemporal(g, st);
        LLVMBuildBr(g->b, next);
        LLVMPositionBuilderAtEnd(g->b, cached);
        LLVMSetAlignment(LLVMBuildStore(g->b, v[j], p), (unsigned)esize);
        prefetch(g, LLVMBuildGEP2(g->b, et, p, &a[SQ_AHEAD], 1, ""), true);
        LLVMBuildBr(g->b, next);
        LLVMPositionBuilderAtEnd(g->b, masked);
        masked_op(g, vt, esize, p, lane_range(g, vl, j ? NULL : a[SQ_F_LO], a[SQ_S_HI]), v[j]);
        LLVMBuildBr(g->b, next);
        LLVMPositionBuilderAtEnd(g->b, next);
    }
    LLVMBuildRetVoid(g->b);
}

/*
 * The functions a module's kernels call: made once per module, for one vector type and
 * kind (a transpose's square, a weave of K rows either way), by body into the function.
 */
typedef struct helper {
    LLVMTypeRef vt;
    int kind;
    LLVMValueRef fn;
} helper;

enum { HELPERS_MAX = 32 };  /* 4 vector types x (a square, 2 x 3 weaves) is 28 */

typedef void helper_body(cgl *g, const square *q, int kind, LLVMValueRef fn);

static LLVMValueRef helper_fn(cgl *g, const square *q, int kind, LLVMTypeRef *params, int nparam,
                              helper_body *body)
{
    for (int i = 0; i < g->nhelper; i++)
        if (g->helper[i].vt == q->vt && g->helper[i].kind == kind)
            return g->helper[i].fn;
    LLVMValueRef fn = LLVMAddFunction(g->m, "einc_helper", LLVMFunctionType(g->vt, params, (unsigned)nparam, 0));
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(g->ctx, noinline, 0));
    LLVMBasicBlockRef at = LLVMGetInsertBlock(g->b);
    LLVMValueRef caller = g->fn;
    g->fn = fn;
    LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, fn, "entry"));
    body(g, q, kind, fn);
    g->fn = caller;
    LLVMPositionBuilderAtEnd(g->b, at);
    if (g->nhelper < HELPERS_MAX)     /* always, as the kinds are counted */
        g->helper[g->nhelper++] = (helper){ q->vt, kind, fn };
    return fn;
}

/* A call of the helper kind (helper_fn) with args, whose types are its parameters'. */
static void call_helper(cgl *g, const square *q, int kind, LLVMValueRef *args, int nargs, helper_body *body)
{
    LLVMTypeRef params[SQ_NARG];
    for (int i = 0; i < nargs; i++)
        params[i] = LLVMTypeOf(args[i]);
    LLVMValueRef fn = helper_fn(g, q, kind, params, nargs, body);
    LLVMBuildCall2(g->b, LLVMGlobalGetValueType(fn), fn, args, (unsigned)nargs, "");
}

enum { SQ_WHOLE, SQ_RAGGED, SQ_EDGE };

/*
 * One VL x VL square of a transpose, [ri, ri + VL) x [oi, oi + VL), by square_body: VL
 * vectors are loaded along r, transposed in registers (transpose_regs), and stored along
 * o.  Each row's line in the next o block is prefetched on the input side, and, when the
 * stores go through the cache, on the output side too: rows lie a page or more apart, too
 * many short streams for the hardware prefetchers.  Streamed (non-temporal) stores, where
 * stream (i1) says the rows start on a vector boundary, need no prefetch: they fetch
 * nothing.
 *
 * A SQ_RAGGED square, in a partial tile, is whole in o but may end past r1: rows from r1
 * on are neither read nor written, and its stores can still stream.  It may also start
 * before column 0 (the tile's join, square_tile): column o < 0 of row p is column o + O
 * of row p - 1, the line the two rows share, written whole.  A SQ_EDGE square loads and
 * stores masked vectors, through the cache.
 */
static void sub_square(cgl *g, const square *q, LLVMValueRef ri, LLVMValueRef oi, int kind, LLVMValueRef stream)
{
    int r = q->r, o = q->o;
    LLVMValueRef a[SQ_NARG], VL = ci64(g, q->vl), zero = ci64(g, 0);
    g->iv[r] = ri;
    g->iv[o] = oi;
    a[SQ_IN] = address(g, q->in);
    a[SQ_OUT] = address(g, q->out);
    a[SQ_S_IN] = axis_stride(g, q->in, o);
    a[SQ_S_OUT] = axis_stride(g, q->out, r);
    a[SQ_NLOAD] = kind == SQ_EDGE ? LLVMBuildSub(g->b, q->o1, oi, "") : VL;
    a[SQ_L_HI] = a[SQ_NSTORE] = kind == SQ_WHOLE ? VL : LLVMBuildSub(g->b, q->r1, ri, "");
    a[SQ_NBACK] = a[SQ_BACK] = a[SQ_B_LO] = a[SQ_F_LO] = zero;
    a[SQ_S_HI] = a[SQ_NLOAD];
    a[SQ_STREAM] = kind == SQ_EDGE ? LLVMConstInt(g->i1, 0, 0) : stream;
    /* the same rows of the next o block, read once this block's r blocks are done */
    LLVMValueRef o_left = LLVMBuildSub(g->b, q->last_o, oi, "");
    a[SQ_PF_ADD] = zero;
    a[SQ_PF_ROW] = ci64(g, g->tile[o]);
    a[SQ_PF_LAST] = o_left;
    if (kind == SQ_RAGGED && q->join) {
        /* rows before column 0 (only a join square starts there) read from row p - 1 */
        a[SQ_NBACK] = smax(g, LLVMBuildNeg(g->b, oi, ""), zero);
        a[SQ_BACK] = LLVMBuildSub(g->b, LLVMBuildMul(g->b, g->size[o], a[SQ_S_IN], ""),
                                  axis_stride(g, q->in, q->p), "");
        if (q->p == r) {
            /*
             * Lane k of such a row is row ri + k - 1: none before row 0, whose first
             * output row has no row before it and keeps to its own columns.
             */
            LLVMValueRef first = LLVMBuildAnd(g->b, q->join, LLVMBuildICmp(g->b, LLVMIntEQ, ri, zero, ""), "");
            a[SQ_B_LO] = LLVMBuildSub(g->b, ci64(g, 1), ri, "");
            a[SQ_F_LO] = LLVMBuildSelect(g->b, first, LLVMBuildNeg(g->b, oi, ""), zero, "");
        }
        if (g->inner >= 0) {
            /*
             * A join square's rows are the first of their row p: nothing prefetches them.
             * It prefetches the same rows for the next turn of the loop around the tiles
             * (by then likely the next join square's; past the array's end after the last
             * turn, harmlessly).
             */
            a[SQ_PF_ADD] = LLVMBuildSelect(g->b, q->join, axis_stride(g, q->in, g->inner), zero, "");
            a[SQ_PF_ROW] = LLVMBuildSelect(g->b, q->join, zero, a[SQ_PF_ROW], "");
            a[SQ_PF_LAST] = LLVMBuildSelect(g->b, q->join, VL, o_left, "");
        }
    }
    a[SQ_AHEAD] = LLVMBuildMul(g->b, smin(g, ci64(g, g->tile[o]), o_left), axis_stride(g, q->out, o), "");
    call_helper(g, q, 0, a, SQ_NARG, square_body);
}

/* The squares of the whole tile [r0, r1) x [o0, o1) of a transpose. */
static void squares(cgl *g, const square *q, LLVMValueRef stream)
{
    cloop Lr, Lo;
    LLVMValueRef ri = loop_begin(g, &Lr, q->r0, q->r1, "tr");
    LLVMValueRef oi = loop_begin(g, &Lo, q->o0, q->o1, "to");
    sub_square(g, q, ri, oi, SQ_WHOLE, stream);
    loop_end(g, &Lo, q->vl);
    loop_end(g, &Lr, q->vl);
}

static LLVMValueRef joins(cgl *g, const square *q, LLVMValueRef pv);

/* Whether the block of o's shifted tile loop is the first of a row: before 0 (a range from 0) */
static LLVMValueRef first_block(cgl *g, int o)
{
    return LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, g->blk[o], ci64(g, 0), ""),
                        LLVMBuildICmp(g->b, LLVMIntEQ, g->blk_lo[o], ci64(g, 0), ""), "");
}

/*
 * A partial tile's joins (square_tile, narrow_tile): whether its block is the first of a
 * row p that takes in the line it shares with row p - 1 (*join), and whether it ends row
 * p, whose last line row p + 1 takes in (*skip).
 */
static void tile_joins(cgl *g, const square *q, LLVMValueRef *join, LLVMValueRef *skip)
{
    LLVMValueRef pv = q->p == q->r ? NULL : g->iv[q->p];
    *join = LLVMBuildAnd(g->b, first_block(g, q->o), joins(g, q, pv), "");
    *skip = LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, q->o1, g->size[q->o], ""),
                         joins(g, q, pv ? LLVMBuildAdd(g->b, pv, ci64(g, 1), "") : NULL), "");
}

/*
 * The tile [r0, r1) x [o0, o1) of a transpose.  A whole one streams its rows when each
 * starts on a vector boundary and the output is large (stream), and goes through the cache
 * otherwise.  A partial one decides square by square, squares whole in o as before (rows
 * past r1 left out) and the rest masked, so that a grid shifted to the output's alignment
 * (block_shift) streams all but a row's ends.  Where the output is contiguous across the
 * axis p before o, the ends go too: the first tile of row p (q->join) takes its one square
 * back to the line's start, into row p - 1, and row p - 1's last tile leaves that partial
 * square out (q->skip).  Small outputs' partial tiles took the plain loops once; since the
 * squares are one function (square_body), the squares are as fast there or faster (16^4:
 * 1.75x), and a transpose's compile is 10 % shorter without the loops.
 */
static void square_tile(cgl *g, const square *q, LLVMValueRef stream, LLVMValueRef whole)
{
    int vl = q->vl;
    LLVMBasicBlockRef tile = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "tile");
    LLVMBasicBlockRef edge = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "part");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "transposed");
    LLVMBuildCondBr(g->b, whole, tile, edge);
    square e;
    for (int pass = 0; pass < 2; pass++) {    /* the whole tile, then a partial one */
        LLVMPositionBuilderAtEnd(g->b, pass ? edge : tile);
        if (pass && q->joinable) {  /* a partial tile's joins: where the output's rows begin or end */
            e = *q;
            tile_joins(g, q, &e.join, &e.skip);
            q = &e;
        }
        cloop Lr, Lo;
        LLVMValueRef ri = q->r0, oi = q->o0, so = oi, full = NULL;
        if (pass) {
            ri = loop_begin(g, &Lr, q->r0, q->r1, "tr");
            so = oi = loop_begin(g, &Lo, q->o0, q->o1, "to");
            if (q->join)    /* then [o0, o1) is one square, from o1 - vl */
                so = LLVMBuildSelect(g->b, q->join, LLVMBuildSub(g->b, q->o1, ci64(g, vl), ""), oi, "");
            full = LLVMBuildICmp(g->b, LLVMIntSLE, LLVMBuildAdd(g->b, so, ci64(g, vl), ""), q->o1, "");
        }
        LLVMValueRef step, a0 = out_row(g, q, ri, so, &step);
        LLVMValueRef mis = LLVMBuildAnd(g->b, LLVMBuildOr(g->b, a0, step, ""), ci64(g, vl * q->esize - 1), "");
        LLVMValueRef st = LLVMBuildAnd(g->b, stream, LLVMBuildICmp(g->b, LLVMIntEQ, mis, ci64(g, 0), ""), "");
        if (!pass) {
            squares(g, q, st);
            g->streamed = true;
            LLVMBuildBr(g->b, done);
            continue;
        }
        LLVMBasicBlockRef sq = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "square");
        LLVMBasicBlockRef masked = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "masked");
        LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "next");
        LLVMBasicBlockRef ends = q->skip ? LLVMAppendBasicBlockInContext(g->ctx, g->fn, "row_end") : masked;
        LLVMBuildCondBr(g->b, full, sq, ends);
        if (ends != masked) {   /* row p + 1's first square writes it */
            LLVMPositionBuilderAtEnd(g->b, ends);
            LLVMValueRef skip = q->skip;
            if (q->p == q->r)   /* the last row's end has no next row: masked */
                skip = LLVMBuildAnd(g->b, skip, LLVMBuildICmp(g->b, LLVMIntSLT, LLVMBuildAdd(g->b, ri, ci64(g, vl), ""),
                                                              g->size[q->r], ""), "");
            LLVMBuildCondBr(g->b, skip, next, masked);
        }
        LLVMPositionBuilderAtEnd(g->b, sq);
        sub_square(g, q, ri, so, SQ_RAGGED, st);
        LLVMBuildBr(g->b, next);
        LLVMPositionBuilderAtEnd(g->b, masked);
        sub_square(g, q, ri, oi, SQ_EDGE, NULL);
        LLVMBuildBr(g->b, next);
        g->streamed = true;
        LLVMPositionBuilderAtEnd(g->b, next);
        loop_end(g, &Lo, vl);
        loop_end(g, &Lr, vl);
        LLVMBuildBr(g->b, done);
    }
    LLVMPositionBuilderAtEnd(g->b, done);
}

/*
 * Whether n is the r loop of a tiled transpose (lower.c's transpose_tiles: r blocked, then
 * o blocked, vector and innermost, out[.. o] = in[.. r]) whose whole tiles can go through
 * registers; fills in q's accesses, axes and widths.
 */
static bool square_match(const cgl *g, const lp_node *n, square *q)
{
    const lp_node *c = n->n == 1 ? n->body[0] : NULL, *s = c && c->n == 1 ? c->body[0] : NULL;
    if (!n->blocked || !c || c->op != LP_LOOP || !c->blocked || !c->vector || !s || s->op != LP_STORE ||
        s->comb != IR_COMB_ASSIGN || !s->value || s->value->op != IR_ACCESS || s->value->acc.guard)
        return false;
    *q = (square){ .in = &s->value->acc, .out = s->dst, .r = n->axis, .o = c->axis };
    einc_dtype t = g->p->tensor[q->in->tensor].dtype;
    q->esize = t == EINC_F32 || t == EINC_I32 ? 4 : t == EINC_F64 || t == EINC_I64 ? 8 : 0;
    int vbytes = vector_bytes(g);
    q->vl = q->esize ? vbytes / q->esize : 0;
    return q->esize && g->p->tensor[q->out->tensor].dtype == t && q->vl >= 2 && q->vl <= 16;
}

/* Whether q's output is large enough to stream (stream_bytes). */
static LLVMValueRef stream_size(cgl *g, const square *q)
{
    const ir_tensor *T = &g->p->tensor[q->out->tensor];
    LLVMValueRef bytes = ci64(g, q->esize);
    for (int d = 0; d < T->ndim; d++)
        bytes = LLVMBuildMul(g->b, bytes, mono(g, &T->shape[d]), "");
    return LLVMBuildICmp(g->b, LLVMIntSGE, bytes, ci64(g, stream_bytes(g)), "");
}

/*
 * Whether q's output row (the other axes as they are bound) starts off a vector boundary
 * and can be shifted to it: the output is large (stream_size), element aligned, and its
 * rows along r a whole number of vectors apart.  *mis: the start's distance past the
 * boundary, in bytes.
 */
static LLVMValueRef shift_ok(cgl *g, const square *q, LLVMValueRef *mis)
{
    LLVMValueRef step, a0 = out_row(g, q, ci64(g, 0), ci64(g, 0), &step);
    int64_t vb = (int64_t)q->vl * q->esize;
    *mis = LLVMBuildURem(g->b, a0, ci64(g, vb), "");
    LLVMValueRef ok = LLVMBuildAnd(g->b, stream_size(g, q),
        LLVMBuildAnd(g->b,
            LLVMBuildICmp(g->b, LLVMIntEQ, LLVMBuildURem(g->b, a0, ci64(g, q->esize), ""), ci64(g, 0), ""),
            LLVMBuildICmp(g->b, LLVMIntEQ, LLVMBuildURem(g->b, step, ci64(g, vb), ""), ci64(g, 0), ""), ""),
        "");
    return LLVMBuildAnd(g->b, ok, LLVMBuildICmp(g->b, LLVMIntNE, *mis, ci64(g, 0), ""), "");
}

/*
 * Where the o blocks of a transpose start: at lo (0, or a thread's share of a parallel
 * loop), or, when the output is large and its rows start off a vector boundary (numpy's
 * large arrays start 16 bytes into a page), at the first aligned column from lo on, less
 * one tile, so that every whole tile can be streamed.  n is the o block loop; NULL when n
 * is not one.
 */
static LLVMValueRef block_shift(cgl *g, const lp_node *n, LLVMValueRef lo)
{
    square q;
    const lp_node *br = n->n == 1 ? n->body[0] : NULL;
    if (!n->tile || !br || br->op != LP_LOOP || !br->tile || br->n != 1 ||
        !square_match(g, br->body[0], &q) || q.o != n->axis || br->axis != q.r)
        return NULL;
    LLVMValueRef mis, ok = shift_ok(g, &q, &mis);
    /* the first aligned column, (vb - mis) / esize, and the first from lo on */
    LLVMValueRef first = LLVMBuildUDiv(g->b, LLVMBuildSub(g->b, ci64(g, (int64_t)q.vl * q.esize), mis, ""),
                                       ci64(g, q.esize), "");
    LLVMValueRef ahead = LLVMBuildSRem(g->b, LLVMBuildSub(g->b, first, lo, ""), ci64(g, q.vl), "");
    ahead = LLVMBuildSRem(g->b, LLVMBuildAdd(g->b, ahead, ci64(g, q.vl), ""), ci64(g, q.vl), "");
    first = LLVMBuildSub(g->b, LLVMBuildAdd(g->b, lo, ahead, ""), ci64(g, n->tile), "");
    return LLVMBuildSelect(g->b, ok, first, lo, "");
}

/*
 * Whether row pv of q's output begins with the line it shares with row pv - 1, written
 * whole by its first square (square_tile's join): the row's start is shifted (shift_ok),
 * a row spans a square's columns at least, and the output is contiguous across p and o,
 * so that column o < 0 of row pv is column o + O of row pv - 1.  Row pv - 1 asks the
 * same question to leave that line out.  When p is r (pv NULL), every row of the tile
 * has the same answer but the first and last, which sub_square and square_tile handle.
 */
static LLVMValueRef joins(cgl *g, const square *q, LLVMValueRef pv)
{
    LLVMValueRef bound = pv ? g->iv[q->p] : NULL, mis;
    if (pv)
        g->iv[q->p] = pv;
    LLVMValueRef ok = shift_ok(g, q, &mis);
    if (pv)
        g->iv[q->p] = bound;
    LLVMValueRef *st = g->stride[q->out->tensor], o_n = g->size[q->o];
    LLVMValueRef joined = LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntSGE, o_n, ci64(g, q->vl), ""),
        LLVMBuildICmp(g->b, LLVMIntEQ, st[q->dp], LLVMBuildMul(g->b, o_n, st[q->d_o], ""), ""), "");
    if (pv)
        joined = LLVMBuildAnd(g->b, joined, LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntSGE, pv, ci64(g, 1), ""),
                                             LLVMBuildICmp(g->b, LLVMIntSLT, pv, g->size[q->p], ""), ""), "");
    /* a select, not an and: past the last row the address, and so ok, may be poison */
    return LLVMBuildSelect(g->b, joined, ok, LLVMConstInt(g->i1, 0, 0), "");
}

enum { NARROW_MAX = 4 };     /* the longest rows narrow_tile weaves */

/*
 * Lane l of vector m of a K-way weave of v[0..K), VL lanes each: interleaving (inter), the
 * K vectors are K rows whose elements go out alternating, row after row (flat index
 * m * VL + l is lane f / K of row f % K); deinterleaving, the mirror (lane l of row m is
 * flat index l * K + m of the K vectors run together).  Built from two-vector shuffles,
 * one per further source, which LLVM turns into permutes.
 */
static LLVMValueRef weave(cgl *g, LLVMValueRef *v, int K, int vl, int m, bool inter)
{
    int src[16], lane[16];
    for (int l = 0; l < vl; l++) {
        int f = inter ? m * vl + l : l * K + m;
        src[l] = inter ? f % K : f / vl;
        lane[l] = inter ? f / K : f % vl;
    }
    LLVMValueRef res = NULL, mask[16];
    bool have[NARROW_MAX] = { false };
    for (int s = 0; s < K; s++) {
        bool used = false;
        for (int l = 0; l < vl; l++)
            used |= src[l] == s;
        if (!used)
            continue;
        for (int l = 0; l < vl; l++)
            mask[l] = src[l] == s ? LLVMConstInt(g->i32, (unsigned long long)(lane[l] + (res ? vl : 0)), 0)
                    : res && have[src[l]] ? LLVMConstInt(g->i32, (unsigned long long)l, 0) : LLVMGetUndef(g->i32);
        res = LLVMBuildShuffleVector(g->b, res ? res : v[s], v[s], LLVMConstVector(mask, (unsigned)vl), "");
        have[s] = true;
    }
    return res;
}

/*
 * A chunk of a weave (narrow_tile) as a helper (kind weave_kind(K, out_narrow)): its
 * parameters are the chunk's first input and output elements, the K rows' stride (of the
 * input when out_narrow, of the output otherwise), the chunk's length along its axis (at
 * least 1: VL or more is a whole chunk) and whether a large output streams (i1).
 */
enum { WV_IN, WV_OUT, WV_RS, WV_LEFT, WV_STREAM, WV_NARG };

/* The helper kinds of weaves: 1 to 6 (0 is the square), which weave_body reads back. */
static int weave_kind(int K, bool out_narrow) { return 1 + (K - 2) * 2 + out_narrow; }

static void weave_body(cgl *g, const square *q, int kind, LLVMValueRef fn)
{
    int vl = q->vl, K = (kind - 1) / 2 + 2;
    bool out_narrow = (kind - 1) % 2;
    LLVMTypeRef et = LLVMGetElementType(q->vt);
    LLVMValueRef in0 = LLVMGetParam(fn, WV_IN), out0 = LLVMGetParam(fn, WV_OUT), rs = LLVMGetParam(fn, WV_RS);
    LLVMValueRef left = LLVMGetParam(fn, WV_LEFT), stream = LLVMGetParam(fn, WV_STREAM);
    LLVMValueRef v[NARROW_MAX], w[NARROW_MAX], run = LLVMBuildMul(g->b, left, ci64(g, K), "");
    for (int k = 0; k < K; k++) {
        LLVMValueRef p = out_narrow ? elem_at(g, et, in0, LLVMBuildMul(g->b, ci64(g, k), rs, ""))
                                    : elem_at(g, et, in0, ci64(g, k * vl));
        LLVMValueRef m = out_narrow ? lanes_below(g, vl, ci64(g, 0), left, NULL) : lanes_below(g, vl, ci64(g, k * vl), run, NULL);
        v[k] = masked_op(g, q->vt, q->esize, p, m, NULL);
    }
    for (int k = 0; k < K; k++)
        w[k] = weave(g, v, K, vl, k, out_narrow);
    /* whole: VL of the chunk axis; streamed when large and every vector starts on a line */
    LLVMValueRef whole = LLVMBuildICmp(g->b, LLVMIntSGE, left, ci64(g, vl), "");
    LLVMValueRef mis = LLVMBuildPtrToInt(g->b, out0, g->i64, "");
    if (!out_narrow)
        mis = LLVMBuildOr(g->b, mis, LLVMBuildMul(g->b, rs, ci64(g, q->esize), ""), "");
    mis = LLVMBuildAnd(g->b, mis, ci64(g, vl * q->esize - 1), "");
    LLVMValueRef nt = LLVMBuildAnd(g->b, stream, LLVMBuildICmp(g->b, LLVMIntEQ, mis, ci64(g, 0), ""), "");
    LLVMBasicBlockRef bb[3];
    static const char *const name[3] = { "weave_streamed", "weave_cached", "weave_masked" };
    for (int i = 0; i < 3; i++)
        bb[i] = LLVMAppendBasicBlockInContext(g->ctx, g->fn, name[i]);
    LLVMBasicBlockRef full = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "weave_whole");
    LLVMBuildCondBr(g->b, whole, full, bb[2]);
    LLVMPositionBuilderAtEnd(g->b, full);
    LLVMBuildCondBr(g->b, nt, bb[0], bb[1]);
    for (int i = 0; i < 3; i++) {
        LLVMPositionBuilderAtEnd(g->b, bb[i]);
        for (int k = 0; k < K; k++) {
            LLVMValueRef p = out_narrow ? elem_at(g, et, out0, ci64(g, k * vl))
                                        : elem_at(g, et, out0, LLVMBuildMul(g->b, ci64(g, k), rs, ""));
            if (i == 2) {
                LLVMValueRef m = out_narrow ? lanes_below(g, vl, ci64(g, k * vl), run, NULL)
                                            : lanes_below(g, vl, ci64(g, 0), left, NULL);
                masked_op(g, q->vt, q->esize, p, m, w[k]);
                continue;
            }
            LLVMValueRef st = LLVMBuildStore(g->b, w[k], p);
            LLVMSetAlignment(st, (unsigned)(i == 0 ? vl * q->esize : q->esize));
            if (i == 0)
                nontemporal(g, st);
        }
        LLVMBuildRetVoid(g->b);
    }
}

/*
 * The tile of a transpose whose output rows are K < VL columns long and follow each other
 * along r (out[.., r, o]: 'b c h w -> b h w c' with 3 channels), or whose input rows are
 * (in[.., o, r]: 'b h w c -> b c h w'), out_narrow telling which.  A square would use K of
 * its VL lanes; this reads K rows VL elements at a time and weaves them into K vectors
 * of the run of contiguous output (or the mirror), streamed where that is aligned.
 */
static void narrow_tile(cgl *g, const square *q, int K, bool out_narrow, LLVMValueRef stream)
{
    int vl = q->vl, r = q->r, o = q->o;
    LLVMValueRef c0 = out_narrow ? q->r0 : q->o0, c1 = out_narrow ? q->r1 : q->o1;
    /*
     * Output rows along o that follow each other along p, from an input contiguous across
     * p and o as well: the row ends join as in square_tile, the first chunk of row p
     * reading back into row p - 1 (contiguous in the input too), row p - 1 leaving its
     * last, partial chunk out.
     */
    LLVMValueRef join = NULL, skip = NULL;
    if (!out_narrow && q->joinable && q->p != r) {
        LLVMValueRef in_cont = LLVMBuildICmp(g->b, LLVMIntEQ, axis_stride(g, q->in, q->p),
                                             LLVMBuildMul(g->b, g->size[o], axis_stride(g, q->in, o), ""), "");
        tile_joins(g, q, &join, &skip);
        join = LLVMBuildAnd(g->b, join, in_cont, "");
        skip = LLVMBuildAnd(g->b, skip, in_cont, "");
    }
    cloop L;
    LLVMValueRef ci = loop_begin(g, &L, c0, c1, "chunk");
    LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "woven");
    if (join)   /* then [c0, c1) is one chunk, from c1 - vl */
        ci = LLVMBuildSelect(g->b, join, LLVMBuildSub(g->b, c1, ci64(g, vl), ""), ci, "");
    LLVMValueRef left = LLVMBuildSub(g->b, c1, ci, "");     /* at least 1 */
    if (skip) {     /* row p + 1's first chunk writes it */
        LLVMBasicBlockRef work = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "weave");
        LLVMBuildCondBr(g->b, LLVMBuildAnd(g->b, skip, LLVMBuildICmp(g->b, LLVMIntSLT, left, ci64(g, vl), ""), ""),
                        next, work);
        LLVMPositionBuilderAtEnd(g->b, work);
    }
    g->iv[r] = out_narrow ? ci : ci64(g, 0);
    g->iv[o] = out_narrow ? ci64(g, 0) : ci;
    /* the K rows' stride: of the input (out_narrow), of the output otherwise */
    LLVMValueRef args[WV_NARG] = { address(g, q->in), address(g, q->out),
                                   out_narrow ? axis_stride(g, q->in, o) : axis_stride(g, q->out, r), left, stream };
    call_helper(g, q, weave_kind(K, out_narrow), args, WV_NARG, weave_body);
    LLVMBuildBr(g->b, next);
    g->streamed = true;
    LLVMPositionBuilderAtEnd(g->b, next);
    loop_end(g, &L, vl);
}

/*
 * Whether acc is contiguous across its axes a and b: b alone indexes a dimension of unit
 * stride, and a alone the one before it, whose stride is b's size (as the kernel runs).
 * NULL when acc has no such pair of dimensions.
 */
static LLVMValueRef contiguous_pair(cgl *g, const ir_access *acc, int a, int b)
{
    int db = ir_sole_dim(acc, b);
    if (db <= 0 || ir_dim_axis(&acc->dim[db - 1]) != a || ir_sole_dim(acc, a) != db - 1)
        return NULL;
    LLVMValueRef *st = g->stride[acc->tensor];
    return LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, st[db], ci64(g, 1), ""),
                        LLVMBuildICmp(g->b, LLVMIntEQ, st[db - 1], g->size[b], ""), "");
}

static bool transpose_block(cgl *g, const lp_node *n)
{
    square q;
    if (!square_match(g, n, &q) || g->tile[q.r] % q.vl || g->tile[q.o] % q.vl)
        return false;
    int r = q.r, o = q.o;
    q.vt = LLVMVectorType(elem_type(g, g->p->tensor[q.in->tensor].dtype), (unsigned)q.vl);
    q.last_o = LLVMBuildSub(g->b, g->size[o], ci64(g, 1), "");
    q.r0 = g->blk[r];
    q.o0 = g->blk[o];
    if (g->shifted[o])
        q.o0 = smax(g, q.o0, g->blk_lo[o]);
    LLVMValueRef r1 = LLVMBuildAdd(g->b, g->blk[r], ci64(g, g->tile[r]), "");
    LLVMValueRef o1 = LLVMBuildAdd(g->b, g->blk[o], ci64(g, g->tile[o]), "");
    LLVMValueRef whole = LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntSLE, r1, g->blk_end[r], ""),
                                      LLVMBuildICmp(g->b, LLVMIntSLE, o1, g->blk_end[o], ""), "");
    if (g->shifted[o])
        whole = LLVMBuildAnd(g->b, whole, LLVMBuildICmp(g->b, LLVMIntSGE, g->blk[o], g->blk_lo[o], ""), "");
    q.r1 = smin(g, r1, g->blk_end[r]);
    q.o1 = smin(g, o1, g->blk_end[o]);
    /* p: the output's axis before o: a loop around this one, or r */
    q.d_o = ir_sole_dim(q.out, o);
    q.p = q.d_o > 0 ? ir_dim_axis(&q.out->dim[q.d_o - 1]) : -1;
    q.dp = q.d_o - 1;
    q.joinable = q.p >= 0 && ir_sole_dim(q.out, q.p) == q.dp && g->shifted[o];
    /*
     * Rows of K < VL elements (a few channels), out[.., r, o] or in[.., o, r] contiguous:
     * narrow_tile for K up to NARROW_MAX, squares otherwise.
     */
    LLVMValueRef stream = stream_size(g, &q);
    LLVMValueRef cont[2] = { contiguous_pair(g, q.out, r, o), contiguous_pair(g, q.in, o, r) };
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "transposed_tile");
    for (int side = 0; side < 2 && q.vl > NARROW_MAX; side++) {
        if (!cont[side])
            continue;
        for (int K = 2; K <= NARROW_MAX; K++) {
            LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "narrow");
            LLVMBasicBlockRef no = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "not_narrow");
            LLVMValueRef is = LLVMBuildAnd(g->b, cont[side],
                LLVMBuildICmp(g->b, LLVMIntEQ, g->size[side ? r : o], ci64(g, K), ""), "");
            LLVMBuildCondBr(g->b, is, yes, no);
            LLVMPositionBuilderAtEnd(g->b, yes);
            narrow_tile(g, &q, K, side == 0, stream);
            LLVMBuildBr(g->b, done);
            LLVMPositionBuilderAtEnd(g->b, no);
        }
    }
    square_tile(g, &q, stream, whole);
    LLVMBuildBr(g->b, done);
    LLVMPositionBuilderAtEnd(g->b, done);
    return true;
}

static bool conv_site(cgl *g, const lp_node *n);

static void loop(cgl *g, const lp_node *n, bool outermost)
{
    if (!transpose_block(g, n) && !conv_site(g, n))
        loop_plain(g, n, outermost);
}

/*
 * The axis w that loop n's axis h runs together with (as numpy's nditer coalesces), or -1:
 * n's nest is a chain of loops around one copy, out[..] = in[..] (a rearrange), with a
 * loop over w inside n, and in both arrays h and w index two dimensions one after the
 * other, alone.  *ok: whether both are contiguous across the two, as the kernel runs;
 * where they are, h = 0 and w over [0, H W) address every element that h, w did.
 */
static int coalesce_axis(cgl *g, const lp_node *n, LLVMValueRef *ok)
{
    const lp_node *s = n;
    int h = n->axis, w = -1, dh[2];
    while (s->op == LP_LOOP && s->n == 1)
        s = s->body[0];
    if (s->op != LP_STORE || s->comb != IR_COMB_ASSIGN || !s->value || s->value->op != IR_ACCESS || s->value->acc.guard)
        return -1;
    const ir_access *acc[2] = { s->dst, &s->value->acc };
    for (int i = 0; i < 2; i++) {
        dh[i] = ir_sole_dim(acc[i], h);
        int a = dh[i] >= 0 && dh[i] + 1 < acc[i]->ndim ? ir_dim_axis(&acc[i]->dim[dh[i] + 1]) : -1;
        if (a < 0 || (w >= 0 && a != w) || ir_sole_dim(acc[i], a) != dh[i] + 1)
            return -1;
        w = a;
    }
    for (s = n->body[0]; s->op == LP_LOOP && s->axis != w; s = s->body[0])
        ;
    if (s->op != LP_LOOP)
        return -1;
    *ok = LLVMConstInt(g->i1, 1, 0);
    for (int i = 0; i < 2; i++) {
        LLVMValueRef *st = g->stride[acc[i]->tensor];
        *ok = LLVMBuildAnd(g->b, *ok, LLVMBuildICmp(g->b, LLVMIntEQ, st[dh[i]],
                                                    LLVMBuildMul(g->b, g->size[w], st[dh[i] + 1], ""), ""), "");
    }
    return w;
}

static bool pairwise_loop(cgl *g, const lp_node *n, LLVMValueRef start, LLVMValueRef end);

static void loop_plain(cgl *g, const lp_node *n, bool outermost)
{
    /*
     * A rearrange's h that runs together with w (coalesce_axis): one turn of h, and w over
     * H W, so that a transpose's tiles along w are H W long, not W ('b c h w -> b h w c'
     * with 7 x 7 images: squares 49 rows long, not 7).  size(h) size(w) stays the same.
     */
    LLVMValueRef ok = NULL;
    int w = !n->tile && !n->blocked && !(outermost && n->parallel) ? coalesce_axis(g, n, &ok) : -1;
    LLVMValueRef size_h = g->size[n->axis], size_w = w >= 0 ? g->size[w] : NULL;
    if (w >= 0) {
        g->size[w] = LLVMBuildSelect(g->b, ok, LLVMBuildMul(g->b, size_h, size_w, ""), size_w, "");
        g->size[n->axis] = LLVMBuildSelect(g->b, ok, ci64(g, 1), size_h, "");
    }
    LLVMValueRef start = ci64(g, 0), end = g->size[n->axis];
    if (outermost && n->parallel) {
        start = g->lo;
        end = g->hi;
    }
    if (n->blocked) {   /* inside the block loop of the same axis */
        start = g->blk[n->axis];
        end = smin(g, LLVMBuildAdd(g->b, start, ci64(g, g->tile[n->axis]), ""), g->blk_end[n->axis]);
        if (g->shifted[n->axis])
            start = smax(g, start, g->blk_lo[n->axis]);
    }
    if (w < 0 && pairwise_loop(g, n, start, end))
        return;
    LLVMValueRef lo = start, shift = n->tile ? block_shift(g, n, start) : NULL;
    if (shift)
        start = shift;
    hoist(g, n);
    cloop L;
    LLVMValueRef iv = loop_begin(g, &L, start, end, g->p->axis[n->axis].name);
    if (n->tile) {
        g->blk[n->axis] = iv;
        g->blk_end[n->axis] = end;
        g->tile[n->axis] = n->tile;
        g->shifted[n->axis] = shift != NULL;
        g->blk_lo[n->axis] = lo;
    } else {
        g->iv[n->axis] = iv;
    }
    int inner = g->inner;
    if (!n->tile)
        g->inner = n->axis;
    for (int i = 0; i < n->n; i++)
        node(g, n->body[i], false);
    g->inner = inner;
    g->nhoisted = 0;
    loop_end(g, &L, n->tile ? n->tile : 1);
    g->size[n->axis] = size_h;
    if (w >= 0)
        g->size[w] = size_w;
}

static LLVMValueRef smin(cgl *g, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, a, b, ""), a, b, "");
}

static LLVMValueRef smax(cgl *g, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSGT, a, b, ""), a, b, "");
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

/*
 * KC: the k block, sized so that the panel (KC x NR) takes a sixteenth of L2: 512 for
 * float32 with AVX-512 and this machine kind's 2 MiB (a 128 KiB panel), between 64 and
 * GEMM_KC.  Larger blocks add into dst less often, and L2 streams the panel fast enough:
 * 512 ran 'ik,kj->ij' 1024^3 11% faster than 256 here, and 1024 faster still, but the
 * panel is on the stack of whatever thread runs the kernel, so it stays at most 128 KiB.
 */
enum { GEMM_MR = 6, GEMM_NV = 4, GEMM_KC = 512, GEMM_KU = 4, MAXACC = GEMM_MR * GEMM_NV };

static int gemm_kc(const cgl *g, int nr, int esize)
{
    int64_t kc = l2_bytes(g) / 16 / ((int64_t)nr * esize) / 8 * 8;
    return kc < 64 ? 64 : kc > GEMM_KC ? GEMM_KC : (int)kc;
}

/*
 * MC: how many rows of a one pass over b's panels walks.  Their block of a (MC x KC, or
 * x K when K is shorter) takes at most a quarter of L2, and the rows of [m0, m1) are
 * shared evenly between the fewest such blocks, each a multiple of MR rows (256 rows of
 * float32 with K >= 512 and 2 MiB of L2 are two blocks of 132 and 124; 600 are three of
 * 204, 204 and 192).  The block then stays in L2 from one panel to the next, where before
 * a 2048-row a came from L3 for every panel: 'ik,kj->ij' 2048^3 went from 0.81 to 0.92 of
 * OpenBLAS (with the prefetch of dst in gemm_kloop), at the price of packing each panel
 * once per block.  Computed at run time, where K is known.
 */
static LLVMValueRef gemm_mc(cgl *g, LLVMValueRef m0, LLVMValueRef m1, LLVMValueRef K, int kc, int esize,
                            LLVMValueRef *nblocks)
{
    LLVMValueRef mr = ci64(g, GEMM_MR);
    LLVMValueRef kw = smax(g, smin(g, K, ci64(g, kc)), ci64(g, 1));
    LLVMValueRef most = LLVMBuildSDiv(g->b, ci64(g, l2_bytes(g) / 4 / esize), kw, "");
    most = smax(g, LLVMBuildMul(g->b, LLVMBuildSDiv(g->b, most, mr, ""), mr, ""), mr);
    LLVMValueRef rows = smax(g, LLVMBuildSub(g->b, m1, m0, ""), ci64(g, 0));
    LLVMValueRef nb = LLVMBuildSDiv(g->b, LLVMBuildAdd(g->b, rows, LLVMBuildSub(g->b, most, ci64(g, 1), ""), ""), most, "");
    *nblocks = nb;
    nb = smax(g, nb, ci64(g, 1));
    LLVMValueRef each = LLVMBuildSDiv(g->b, LLVMBuildAdd(g->b, rows, LLVMBuildSub(g->b, nb, ci64(g, 1), ""), ""), nb, "");
    each = LLVMBuildAdd(g->b, each, ci64(g, GEMM_MR - 1), "");
    return LLVMBuildMul(g->b, LLVMBuildSDiv(g->b, each, mr, ""), mr, "");
}

/* Shared by gemm's tile and row paths. */
typedef struct gemm_ctx {
    LLVMTypeRef et, vt, fma_t;
    LLVMValueRef fma, panel;
    LLVMValueRef fresh;         /* a GEMM that writes dst: true in its first k block */
    int esize, vl, nv, nr;
} gemm_ctx;

/*
 * The k index c of a GEMM: k itself, or with a second axis k2 run together with k (lp_node
 * k2), k2 = c / size(k) and k = c mod size(k), for b; a walks (k2, k) as one stretch, so its
 * address takes c as k and 0 as k2 (gemm_kstep).
 */
static void gemm_kset(cgl *g, const lp_node *n, LLVMValueRef c)
{
    if (n->k2 < 0) {
        g->iv[n->k] = c;
        return;
    }
    g->iv[n->k2] = LLVMBuildSDiv(g->b, c, g->size[n->k], "");
    g->iv[n->k] = LLVMBuildSRem(g->b, c, g->size[n->k], "");
}

/* Row m0 + r of a tile, or for a row past m1 (the last tile of a block) the last row m1 - 1. */
static LLVMValueRef gemm_row(cgl *g, LLVMValueRef m0, int r, LLVMValueRef m1)
{
    return r ? smin(g, LLVMBuildAdd(g->b, m0, ci64(g, r), ""), LLVMBuildSub(g->b, m1, ci64(g, 1), "")) : m0;
}

/* acc[r][v] += a[m0 + r, k] * panel[k - k0][v] for one k. */
static void gemm_kstep(cgl *g, const lp_node *n, const gemm_ctx *G, LLVMValueRef *acc, LLVMValueRef m0,
                       LLVMValueRef m1, LLVMValueRef k0)
{
    LLVMValueRef bv[MAXACC];
    LLVMValueRef prow = LLVMBuildMul(g->b, LLVMBuildSub(g->b, g->iv[n->k], k0, ""), ci64(g, G->nr), "");
    for (int v = 0; v < G->nv; v++) {
        LLVMValueRef at = LLVMBuildAdd(g->b, prow, ci64(g, v * G->vl), "");
        bv[v] = LLVMBuildLoad2(g->b, G->vt, LLVMBuildInBoundsGEP2(g->b, G->et, G->panel, &at, 1, ""), "");
        LLVMSetAlignment(bv[v], (unsigned)(G->vl * G->esize));
    }
    if (n->k2 >= 0)
        g->iv[n->k2] = ci64(g, 0);
    for (int r = 0; r < GEMM_MR; r++) {
        g->iv[n->m] = gemm_row(g, m0, r, m1);
        LLVMValueRef a = splat(g, LLVMBuildLoad2(g->b, G->et, address(g, n->a), ""), G->vl);
        for (int v = 0; v < G->nv; v++) {
            LLVMValueRef c = LLVMBuildLoad2(g->b, G->vt, acc[r * G->nv + v], "");
            LLVMValueRef args[3] = { a, bv[v], c };
            LLVMBuildStore(g->b, LLVMBuildCall2(g->b, G->fma_t, G->fma, args, 3, ""), acc[r * G->nv + v]);
        }
    }
}

/*
 * acc[r][v] += a[m0 + r, k] * panel[k - k0][v] for k in [k0, k1).  The tile of dst two
 * tiles further down is prefetched first: a large dst comes from L3 or memory, and its
 * rows lie far apart, so the hardware prefetcher does not fetch them while the loop runs.
 * Prefetching the tile's own lines took 'ik,kj->ij' 2048^3 from 0.84 to 0.89 of OpenBLAS;
 * two tiles ahead, 'bhid,bhjd->bhij' (k = 64: short tiles, whose lines came too late, and
 * a dst of 100 MB no fill has brought into the cache) went from 117 to 150 GFLOP/s.  Rows
 * and lines past dst's end are prefetched too, harmlessly: a prefetch never faults, and
 * its address is computed without inbounds.  The 4-vector tile's k loop is unrolled KU = 4
 * times, which ran 'bij,bjk->bik' 32x256^3 9% faster and 'ik,kj->ij' 1024^3 4% (less loop
 * overhead between the multiply-adds); the narrower tiles' are not, which would cost a
 * fifth more compile time.
 */
static void gemm_kloop(cgl *g, const lp_node *n, const gemm_ctx *G, LLVMValueRef *acc, LLVMValueRef m0,
                       LLVMValueRef m1, LLVMValueRef n0, LLVMValueRef k0, LLVMValueRef k1)
{
    /* rows m0 + 2 MR + r, from row m0's address and dst's row stride */
    g->iv[n->nn] = n0;
    g->iv[n->m] = m0;
    LLVMValueRef p0 = address(g, n->dst), step = axis_stride(g, n->dst, n->m);
    for (int r = 0; r < GEMM_MR; r++) {
        LLVMValueRef rows = LLVMBuildMul(g->b, step, ci64(g, 2 * GEMM_MR + r), "");
        LLVMValueRef p = LLVMBuildGEP2(g->b, G->et, p0, &rows, 1, "");
        for (int v = 0; v < G->nv * G->vl * G->esize; v += 64) {
            LLVMValueRef at = ci64(g, v);
            prefetch(g, LLVMBuildGEP2(g->b, g->i8, p, &at, 1, ""), true);
        }
    }
    cloop Lu, Lk;
    int ku = G->nv == GEMM_NV ? GEMM_KU : 1;  /* AVX-512's 4-vector tile (AVX2's widest is 2) */
    LLVMValueRef kf = loop_begin(g, &Lu, k0, LLVMBuildSub(g->b, k1, ci64(g, ku - 1), ""), "ku");
    for (int u = 0; u < ku; u++) {
        g->iv[n->k] = LLVMBuildAdd(g->b, kf, ci64(g, u), "");
        gemm_kstep(g, n, G, acc, m0, m1, k0);
    }
    loop_end(g, &Lu, ku);
    if (ku > 1) {
        g->iv[n->k] = loop_begin(g, &Lk, Lu.iv, k1, "k");     /* the last (k1 - k0) mod KU */
        gemm_kstep(g, n, G, acc, m0, m1, k0);
        loop_end(g, &Lk, 1);
    }
}

/*
 * dst[m0 + r, n0 + c] += acc[r][c] for the nw columns that exist, through masked vectors
 * whether the column block is whole or not.  A mask costs nothing on AVX-512, and one
 * path (not a whole block and a partial one) keeps the loop over m free of a branch that
 * never changes inside it, which LLVM's O3 would otherwise unswitch, copying every tile
 * and its k loop: that doubled the optimiser's and the code generator's time.  Vector v
 * is addressed from the block's first column without inbounds: past dst's end when no
 * lane of it exists, where the masked load and store touch nothing.
 */
static void gemm_store(cgl *g, const lp_node *n, const gemm_ctx *G, LLVMValueRef *acc, LLVMValueRef m0,
                       LLVMValueRef m1, LLVMValueRef n0, LLVMValueRef nw)
{
    LLVMValueRef mask[MAXACC];
    for (int v = 0; v < G->nv; v++)
        mask[v] = lanes_below(g, G->vl, ci64(g, v * G->vl), nw, NULL);
    /* dst's old value is read unless this is the first k block of a GEMM that writes dst */
    LLVMValueRef old = G->fresh ? splat(g, LLVMBuildNot(g->b, G->fresh, ""), G->vl) : NULL;
    g->iv[n->nn] = n0;
    for (int r = 0; r < GEMM_MR; r++) {
        g->iv[n->m] = gemm_row(g, m0, r, m1);
        LLVMValueRef p0 = address(g, n->dst);
        LLVMValueRef here = r ? LLVMBuildICmp(g->b, LLVMIntSLT, LLVMBuildAdd(g->b, m0, ci64(g, r), ""), m1, "") : NULL;
        for (int v = 0; v < G->nv; v++) {
            LLVMValueRef at = ci64(g, v * G->vl);
            LLVMValueRef p = LLVMBuildGEP2(g->b, G->et, p0, &at, 1, "");
            LLVMValueRef mk = here ? LLVMBuildAnd(g->b, mask[v], splat(g, here, G->vl), "") : mask[v];
            LLVMValueRef sum = LLVMBuildFAdd(g->b, masked_op(g, G->vt, G->esize, p, old ? LLVMBuildAnd(g->b, mk, old, "") : mk, NULL),
                                             LLVMBuildLoad2(g->b, G->vt, acc[r * G->nv + v], ""), "");
            masked_op(g, G->vt, G->esize, p, mk, sum);
        }
    }
}

/*
 * panel[k - k0][c] = b[k, n0 + c] for k in [k0, k1), c < nw, and 0 for nw <= c < NR.  A b
 * that is contiguous along n and needs no conversion or guard is copied a vector at a time
 * (the panel is packed again for every MC block of rows, so a copy an element at a time
 * cost some 8% of a 2048^3 GEMM), through masked loads, which give the zeros past nw (a
 * vector with no lane left is addressed without inbounds, and touches nothing).  A whole
 * block of a b contiguous along k goes through 16 x 16 register transposes; anything
 * else an element at a time.
 */
static void gemm_pack(cgl *g, const lp_node *n, const gemm_ctx *G, int kc, LLVMValueRef k0, LLVMValueRef k1,
                      LLVMValueRef n0, LLVMValueRef nw, LLVMValueRef nfull)
{
    cloop Lk, Ln, Lz;
    LLVMValueRef k0from = k0;
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "packed");
    if (!n->b->guard && g->p->tensor[n->b->tensor].dtype == g->nest->compute) {
        LLVMBasicBlockRef vec = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "vpack");
        LLVMBasicBlockRef one = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "pack");
        LLVMValueRef unit = LLVMBuildICmp(g->b, LLVMIntEQ, axis_stride(g, n->b, n->nn), ci64(g, 1), "");
        LLVMBuildCondBr(g->b, unit, vec, one);
        LLVMPositionBuilderAtEnd(g->b, vec);
        LLVMValueRef mask[MAXACC];
        for (int v = 0; v < G->nv; v++)
            mask[v] = lanes_below(g, G->vl, ci64(g, v * G->vl), nw, NULL);
        LLVMValueRef c = loop_begin(g, &Lk, k0, k1, "pk");
        gemm_kset(g, n, c);
        g->iv[n->nn] = n0;
        LLVMValueRef src = address(g, n->b);
        LLVMValueRef row = LLVMBuildMul(g->b, LLVMBuildSub(g->b, c, k0, ""), ci64(g, G->nr), "");
        for (int v = 0; v < G->nv; v++) {
            LLVMValueRef at = ci64(g, v * G->vl);
            LLVMValueRef x = masked_op(g, G->vt, G->esize, LLVMBuildGEP2(g->b, G->et, src, &at, 1, ""), mask[v], NULL);
            at = LLVMBuildAdd(g->b, row, at, "");
            LLVMValueRef st = LLVMBuildStore(g->b, x, LLVMBuildInBoundsGEP2(g->b, G->et, G->panel, &at, 1, ""));
            LLVMSetAlignment(st, (unsigned)(G->vl * G->esize));
        }
        loop_end(g, &Lk, 1);
        LLVMBuildBr(g->b, done);
        LLVMPositionBuilderAtEnd(g->b, one);
        /* b contiguous along k (a transposed b: 'ik,jk->ij', attention's q k^T) */
        LLVMBasicBlockRef sq = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "tpack");
        LLVMBasicBlockRef rest = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "pack");
        LLVMValueRef kunit = LLVMBuildICmp(g->b, LLVMIntEQ, axis_stride(g, n->b, n->k), ci64(g, 1), "");
        if (n->k2 >= 0)     /* VL values of c in one k2 row: VL | size(k), and blocks start at VL multiples */
            kunit = kc % G->vl ? LLVMConstInt(g->i1, 0, 0)
                               : LLVMBuildAnd(g->b, kunit, LLVMBuildICmp(g->b, LLVMIntEQ, LLVMBuildSRem(g->b, g->size[n->k], ci64(g, G->vl), ""), ci64(g, 0), ""), "");
        LLVMBuildCondBr(g->b, LLVMBuildAnd(g->b, nfull, kunit, ""), sq, rest);
        LLVMPositionBuilderAtEnd(g->b, sq);
        LLVMValueRef kb = loop_begin(g, &Lk, k0, LLVMBuildSub(g->b, k1, ci64(g, G->vl - 1), ""), "tk");
        LLVMValueRef trow = LLVMBuildMul(g->b, LLVMBuildSub(g->b, kb, k0, ""), ci64(g, G->nr), "");
        gemm_kset(g, n, kb);
        /*
         * VL rows of b (n0 + v VL + i, contiguous along k) into VL rows of the panel: a
         * transpose's square (square_body), each row's next VL values prefetched
         */
        square q = { .vt = G->vt, .vl = G->vl, .esize = G->esize };
        LLVMValueRef a[SQ_NARG], VL = ci64(g, G->vl), zero = ci64(g, 0);
        a[SQ_S_IN] = axis_stride(g, n->b, n->nn);
        a[SQ_NLOAD] = a[SQ_L_HI] = a[SQ_NSTORE] = a[SQ_S_HI] = a[SQ_PF_ADD] = a[SQ_PF_LAST] = VL;
        a[SQ_NBACK] = a[SQ_BACK] = a[SQ_B_LO] = a[SQ_F_LO] = a[SQ_PF_ROW] = zero;
        a[SQ_S_OUT] = ci64(g, G->nr);
        a[SQ_STREAM] = LLVMConstInt(g->i1, 0, 0);
        a[SQ_AHEAD] = ci64(g, G->vl * G->nr);
        for (int v = 0; v < G->nv; v++) {
            g->iv[n->nn] = LLVMBuildAdd(g->b, n0, ci64(g, v * G->vl), "");
            a[SQ_IN] = address(g, n->b);
            LLVMValueRef at = LLVMBuildAdd(g->b, trow, ci64(g, v * G->vl), "");
            a[SQ_OUT] = LLVMBuildInBoundsGEP2(g->b, G->et, G->panel, &at, 1, "");
            call_helper(g, &q, 0, a, SQ_NARG, square_body);
        }
        loop_end(g, &Lk, G->vl);
        LLVMBasicBlockRef sq_end = LLVMGetInsertBlock(g->b);
        LLVMBuildBr(g->b, rest);
        LLVMPositionBuilderAtEnd(g->b, rest);
        k0from = LLVMBuildPhi(g->b, g->i64, "");    /* the last (k1 - k0) mod VL rows */
        LLVMValueRef vals[2] = { k0, Lk.iv };
        LLVMBasicBlockRef bbs[2] = { one, sq_end };
        LLVMAddIncoming(k0from, vals, bbs, 2);
    }
    LLVMValueRef kr = loop_begin(g, &Lk, k0from, k1, "pk");
    gemm_kset(g, n, kr);
    LLVMValueRef row = LLVMBuildMul(g->b, LLVMBuildSub(g->b, kr, k0, ""), ci64(g, G->nr), "");
    LLVMValueRef c = loop_begin(g, &Ln, ci64(g, 0), nw, "pn");
    g->iv[n->nn] = LLVMBuildAdd(g->b, n0, c, "");
    LLVMValueRef bval = load(g, n->b);     /* zero where a guarded b (padding) is outside */
    LLVMBuildStore(g->b, bval, LLVMBuildInBoundsGEP2(g->b, G->et, G->panel, (LLVMValueRef[]){ LLVMBuildAdd(g->b, row, c, "") }, 1, ""));
    loop_end(g, &Ln, 1);
    LLVMValueRef z = loop_begin(g, &Lz, nw, ci64(g, G->nr), "pz");
    LLVMBuildStore(g->b, LLVMConstReal(G->et, 0), LLVMBuildInBoundsGEP2(g->b, G->et, G->panel, (LLVMValueRef[]){ LLVMBuildAdd(g->b, row, z, "") }, 1, ""));
    loop_end(g, &Lz, 1);
    loop_end(g, &Lk, 1);
    LLVMBuildBr(g->b, done);
    LLVMPositionBuilderAtEnd(g->b, done);
}

/* dst[m, n] = 0 for m in [m0, m1) when K is 0: a GEMM that writes dst has no k block then. */
static void gemm_zero(cgl *g, const lp_node *n, LLVMValueRef m0, LLVMValueRef m1, LLVMValueRef N, LLVMValueRef K)
{
    LLVMBasicBlockRef empty = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "nok");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "somek");
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLE, K, ci64(g, 0), ""), empty, done);
    LLVMPositionBuilderAtEnd(g->b, empty);
    cloop Lm, Ln;
    g->iv[n->m] = loop_begin(g, &Lm, m0, m1, "zm");
    g->iv[n->nn] = loop_begin(g, &Ln, ci64(g, 0), N, "zn");
    store(g, n->dst, fc(g, 0));
    loop_end(g, &Ln, 1);
    loop_end(g, &Lm, 1);
    LLVMBuildBr(g->b, done);
    LLVMPositionBuilderAtEnd(g->b, done);
}

/* The MR-row tiles of rows [mc0, mc1) against the packed panel at column n0, G->nv vectors wide. */
static void gemm_rows(cgl *g, const lp_node *n, const gemm_ctx *G, LLVMValueRef *acc, LLVMValueRef mc0,
                      LLVMValueRef mc1, LLVMValueRef n0, LLVMValueRef nw, LLVMValueRef k0, LLVMValueRef k1)
{
    cloop Lm;
    LLVMValueRef m0 = loop_begin(g, &Lm, mc0, mc1, "m0");
    for (int i = 0; i < GEMM_MR * G->nv; i++)
        LLVMBuildStore(g->b, LLVMConstNull(G->vt), acc[i]);
    gemm_kloop(g, n, G, acc, m0, mc1, n0, k0, k1);
    gemm_store(g, n, G, acc, m0, mc1, n0, nw);
    loop_end(g, &Lm, GEMM_MR);
}

/*
 * dst[m, n] += a[m, k] * b[k, n], register-blocked: an MR x (NV vectors) tile of dst lives
 * in vector registers while k runs over a block of KC, so each loaded vector of b feeds MR
 * fused multiply-adds and each element of a is broadcast once.  For each (k block, column
 * block) the KC x NR panel of b is first packed into a contiguous buffer on the stack: then
 * the tile reads it with unit stride whatever b's layout (a transposed b is the same code),
 * and rows of b that sit a power of two apart no longer fight over the same L1 sets.  A
 * partial column block is packed with zeros beyond its end; its tile is the narrowest of
 * 4, 2 or 1 vectors that covers it, and only its store is masked.  The last tile of a
 * block of rows is a whole one too: rows past the end read a's last row, and are not
 * stored (one tile's code, where tiles of 4, 2 and 1 rows cost a third of the compile
 * time).  The loops run k blocks, then blocks of MC rows (gemm_mc), then column blocks, then the
 * MR-row tiles: the panel and the KC x MC block of a both stay in L2 while the tiles run.
 */
static void gemm(cgl *g, const lp_node *n)
{
    gemm_ctx G;
    G.et = ctype(g);
    G.esize = g->nest->compute == EINC_F64 ? 8 : 4;
    int vbytes = vector_bytes(g);
    G.vl = vbytes / G.esize;
    /* 6 x 4 vectors: 24 accumulators of AVX-512's 32 registers; 6 x 2 of AVX2's 16 */
    G.nv = vbytes >= 64 ? GEMM_NV : 2;
    G.nr = G.nv * G.vl;
    G.vt = LLVMVectorType(G.et, (unsigned)G.vl);
    LLVMValueRef M0 = ci64(g, 0), M1 = g->size[n->m], N = g->size[n->nn], K = g->size[n->k];
    if (n->k2 >= 0)
        K = LLVMBuildMul(g->b, K, g->size[n->k2], "");
    if (n->parallel) {     /* the nest's parallel rows, perhaps inside loops over reduced axes */
        M0 = g->lo;
        M1 = g->hi;
    }
    LLVMValueRef acc[MAXACC];
    const int kc = gemm_kc(g, G.nr, G.esize);
    G.panel = entry_alloca(g, LLVMArrayType2(G.et, (uint64_t)kc * (uint64_t)G.nr), "panel");
    LLVMSetAlignment(G.panel, 64);
    for (int i = 0; i < MAXACC; i++)
        acc[i] = entry_alloca(g, G.vt, "c");
    LLVMTypeRef fmt = G.vt;
    unsigned fma_id = LLVMLookupIntrinsicID("llvm.fmuladd", 12);
    G.fma = LLVMGetIntrinsicDeclaration(g->m, fma_id, &fmt, 1);
    G.fma_t = LLVMIntrinsicGetType(g->ctx, fma_id, &fmt, 1);

    cloop Lk0, Lmc, Ln0;
    LLVMValueRef nmc, mc = gemm_mc(g, M0, M1, K, kc, G.esize, &nmc);
    if (!n->accumulate)
        gemm_zero(g, n, M0, M1, N, K);
    LLVMValueRef k0 = loop_begin(g, &Lk0, ci64(g, 0), K, "k0");
    LLVMValueRef k1 = smin(g, LLVMBuildAdd(g->b, k0, ci64(g, kc), ""), K);
    G.fresh = n->accumulate ? NULL : LLVMBuildICmp(g->b, LLVMIntEQ, k0, ci64(g, 0), "");
    LLVMValueRef bi = loop_begin(g, &Lmc, ci64(g, 0), nmc, "mc");
    LLVMValueRef mc0 = LLVMBuildAdd(g->b, M0, LLVMBuildMul(g->b, bi, mc, ""), "");
    LLVMValueRef mc1 = smin(g, LLVMBuildAdd(g->b, mc0, mc, ""), M1);
    LLVMValueRef n0 = loop_begin(g, &Ln0, ci64(g, 0), N, "n0");
    LLVMValueRef nw = smin(g, ci64(g, G.nr), LLVMBuildSub(g->b, N, n0, ""));
    LLVMValueRef nfull = LLVMBuildICmp(g->b, LLVMIntEQ, nw, ci64(g, G.nr), "");

    gemm_pack(g, n, &G, kc, k0, k1, n0, nw, nfull);

    /*
     * The tile as wide as the columns left need: 4 vectors, or 2 or 1 for the last block
     * of an N that is not a multiple of NR (N = 96 would otherwise spend a quarter of its
     * multiply-adds on the zeros past its end, N = 16 three quarters).
     */
    LLVMBasicBlockRef next_n = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "next_n");
    for (int nv = G.nv; nv >= 1; nv /= 2) {
        LLVMBasicBlockRef here = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "width");
        LLVMBasicBlockRef other = nv > 1 ? LLVMAppendBasicBlockInContext(g->ctx, g->fn, "narrower") : NULL;
        if (nv > 1)
            LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSGT, nw, ci64(g, nv / 2 * G.vl), ""), here, other);
        else
            LLVMBuildBr(g->b, here);
        LLVMPositionBuilderAtEnd(g->b, here);
        gemm_ctx W = G;
        W.nv = nv;
        gemm_rows(g, n, &W, acc, mc0, mc1, n0, nw, k0, k1);
        LLVMBuildBr(g->b, next_n);
        if (other)
            LLVMPositionBuilderAtEnd(g->b, other);
    }
    LLVMPositionBuilderAtEnd(g->b, next_n);
    loop_end(g, &Ln0, G.nr);
    loop_end(g, &Lmc, 1);
    loop_end(g, &Lk0, kc);
}

/* ---- direct convolution ------------------------------------------------------------------- */

/*
 * A GEMM inside loops over taps (a convolution: for kh { for kw { dst[m, n] += a[m, k, kh,
 * kw] * b[k, .., n + kw] } }) runs as a direct convolution, the way oneDNN's kernels do:
 * the register tile is DC_R columns of dst by DC_NV vectors of its rows, so the vectors run
 * along m (64 channels: whole vectors, where 56-wide rows left an eighth of the GEMM's tile
 * idle) and b is broadcast; the tile sums k and every tap before it touches dst once,
 * through a register transpose.  a is packed once per call of the nest, as [tap][k][m]
 * with m padded to whole vectors.  AVX-512 and float32 only; sizes must be constants (a
 * model's are).
 */
enum { DC_R = 14, DC_NV = 2, DC_MAXTAPS = 3, DC_MAXSITES = 4, DC_PACK_BYTES = 256 << 10 };

typedef struct dconv {
    const lp_node *site;        /* the outermost tap loop */
    const lp_node *gm;
    int tap[DC_MAXTAPS], ntap;
    int64_t M, K, Mp, T;        /* Mp: M in whole vectors; T: the taps' product */
    LLVMValueRef pack;
} dconv;

static bool is_const(LLVMValueRef v) { return LLVMIsAConstantInt(v) != NULL; }
static int64_t cval(LLVMValueRef v) { return LLVMConstIntGetSExtValue(v); }

static bool conv_match(const cgl *g, const lp_node *n, dconv *d)
{
    if (vector_bytes(g) < 64 || g->nest->compute != EINC_F32 || n->op != LP_LOOP)
        return false;
    const lp_node *x = n;
    d->ntap = 0;
    d->T = 1;
    while (x->op == LP_LOOP && !x->tile && !x->blocked && !x->parallel && x->n == 1 && d->ntap < DC_MAXTAPS) {
        d->tap[d->ntap++] = x->axis;
        x = x->body[0];
    }
    const lp_node *gm = x;
    if (gm->op != LP_GEMM || gm->parallel || !gm->accumulate || gm->k2 >= 0 || !d->ntap || !is_const(g->size[gm->m]) || !is_const(g->size[gm->nn]) ||
        !is_const(g->size[gm->k]) || g->p->tensor[gm->a->tensor].dtype != EINC_F32 ||
        g->p->tensor[gm->b->tensor].dtype != EINC_F32 || g->p->tensor[gm->dst->tensor].dtype != EINC_F32)
        return false;
    for (int i = 0; i < d->ntap; i++) {
        int t = d->tap[i];
        if (!is_const(g->size[t]) || ir_access_uses(gm->dst, t) || !ir_access_uses(gm->a, t))
            return false;
        d->T *= cval(g->size[t]);
    }
    /* a is packed before any loop runs: it may walk only m, k and the taps */
    for (int dm = 0; dm < gm->a->ndim; dm++)
        for (int t = 0; t < gm->a->dim[dm].n; t++) {
            int ax = gm->a->dim[dm].t[t].axis;
            bool ok = ax == gm->m || ax == gm->k;
            for (int i = 0; i < d->ntap; i++)
                ok |= ax == d->tap[i];
            if (!ok)
                return false;
        }
    /* b: n at most once per dimension, with coefficient 1, never beside k */
    for (int dm = 0; dm < gm->b->ndim; dm++) {
        bool has_n = false, has_k = false;
        for (int t = 0; t < gm->b->dim[dm].n; t++) {
            const ir_term *tm = &gm->b->dim[dm].t[t];
            if (tm->axis == gm->nn) {
                if (has_n || tm->coef.n || tm->coef.k != 1)
                    return false;
                has_n = true;
            }
            has_k |= tm->axis == gm->k;
        }
        if (has_n && has_k)
            return false;
    }
    d->site = n;
    d->gm = gm;
    d->M = cval(g->size[gm->m]);
    d->K = cval(g->size[gm->k]);
    d->Mp = (d->M + 31) / 32 * 32;
    return d->M > 0 && d->K > 0 && d->T * d->K * d->Mp * 4 <= DC_PACK_BYTES;
}

/* Opens loops over d's taps; returns their flat index. */
static LLVMValueRef taps_begin(cgl *g, const dconv *d, cloop *L)
{
    LLVMValueRef f = ci64(g, 0);
    for (int i = 0; i < d->ntap; i++) {
        int ax = d->tap[i];
        g->iv[ax] = loop_begin(g, &L[i], ci64(g, 0), g->size[ax], g->p->axis[ax].name);
        f = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, f, g->size[ax], ""), g->iv[ax], "");
    }
    return f;
}

static void taps_end(cgl *g, const dconv *d, cloop *L)
{
    for (int i = d->ntap - 1; i >= 0; i--)
        loop_end(g, &L[i], 1);
}

/* pack[tap][k][m] = a[m, k, tap], 0 for m >= M: at the start of the nest function. */
static void conv_pack(cgl *g, dconv *d)
{
    const lp_node *gm = d->gm;
    d->pack = entry_alloca(g, LLVMArrayType2(g->f32, (uint64_t)(d->T * d->K * d->Mp)), "wpack");
    LLVMSetAlignment(d->pack, 64);
    cloop Lt[DC_MAXTAPS], Lk, Lm;
    LLVMValueRef f = taps_begin(g, d, Lt);
    g->iv[gm->k] = loop_begin(g, &Lk, ci64(g, 0), ci64(g, d->K), "pk");
    LLVMValueRef m = loop_begin(g, &Lm, ci64(g, 0), ci64(g, d->Mp), "pm");
    g->iv[gm->m] = smin(g, m, ci64(g, d->M - 1));
    LLVMValueRef v = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, m, ci64(g, d->M), ""),
                                     load(g, gm->a), LLVMConstReal(g->f32, 0), "");
    LLVMValueRef at = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, LLVMBuildAdd(g->b, LLVMBuildMul(g->b, f, ci64(g, d->K), ""),
                                                                          g->iv[gm->k], ""), ci64(g, d->Mp), ""), m, "");
    LLVMBuildStore(g->b, v, LLVMBuildInBoundsGEP2(g->b, g->f32, d->pack, &at, 1, ""));
    loop_end(g, &Lm, 1);
    loop_end(g, &Lk, 1);
    taps_end(g, d, Lt);
}

/* Finds the direct convolutions under n and packs their a (nest_fn, before the loops). */
static void conv_find(cgl *g, const lp_node *n)
{
    if (g->ndc >= DC_MAXSITES)
        return;
    dconv d;
    if (conv_match(g, n, &d)) {
        conv_pack(g, &d);
        g->dc[g->ndc++] = d;
        return;
    }
    for (int i = 0; i < n->n; i++)
        conv_find(g, n->body[i]);
}

/*
 * For the current taps: the columns r in [*lo, *hi) of the tile at n0 where b lies inside
 * its tensor, for every k (a convolution's zero padding), clamped to [0, rows).
 */
static void conv_span(cgl *g, const dconv *d, LLVMValueRef n0, LLVMValueRef rows, LLVMValueRef *lo,
                      LLVMValueRef *hi)
{
    const lp_node *gm = d->gm;
    const ir_access *b = gm->b;
    const ir_tensor *T = &g->p->tensor[b->tensor];
    LLVMValueRef l = ci64(g, 0), h = rows;
    g->iv[gm->nn] = n0;
    for (int dm = 0; dm < b->ndim; dm++) {
        LLVMValueRef ext = mono(g, &T->shape[dm]);
        bool has_n = false, has_k = false;
        for (int t = 0; t < b->dim[dm].n; t++) {
            has_n |= b->dim[dm].t[t].axis == gm->nn;
            has_k |= b->dim[dm].t[t].axis == gm->k;
        }
        if (has_n) {                        /* 0 <= i0 + r < ext */
            g->iv[gm->k] = ci64(g, 0);
            LLVMValueRef i0 = dim_index(g, &b->dim[dm]);
            l = smax(g, l, LLVMBuildNeg(g->b, i0, ""));
            h = smin(g, h, LLVMBuildSub(g->b, ext, i0, ""));
            continue;
        }
        for (int end = 0; end < 1 + has_k; end++) {     /* all or nothing, at both ends of k */
            g->iv[gm->k] = ci64(g, end ? d->K - 1 : 0);
            LLVMValueRef in = LLVMBuildICmp(g->b, LLVMIntULT, dim_index(g, &b->dim[dm]), ext, "");
            h = LLVMBuildSelect(g->b, in, h, ci64(g, 0), "");
        }
    }
    *lo = smin(g, l, rows);
    *hi = smax(g, h, *lo);
}

/* pack[tap f][k][m0 + 16 v ..], k the current value of the GEMM's k axis. */
static LLVMValueRef conv_weights(cgl *g, const dconv *d, LLVMValueRef f, LLVMValueRef m0, int v)
{
    LLVMValueRef row = LLVMBuildMul(g->b, LLVMBuildAdd(g->b, LLVMBuildMul(g->b, f, ci64(g, d->K), ""),
                                                        g->iv[d->gm->k], ""), ci64(g, d->Mp), "");
    LLVMValueRef at = LLVMBuildAdd(g->b, row, LLVMBuildAdd(g->b, m0, ci64(g, 16 * v), ""), "");
    LLVMValueRef w = LLVMBuildLoad2(g->b, LLVMVectorType(g->f32, 16),
                                    LLVMBuildInBoundsGEP2(g->b, g->f32, d->pack, &at, 1, ""), "");
    LLVMSetAlignment(w, 64);
    return w;
}

/* acc[r][v] += b[k, n0 + r] * pack[tap][k][m0 + 16 v ..] over k, for the columns r in [from, to). */
static void conv_kloop(cgl *g, const dconv *d, LLVMValueRef *acc, LLVMValueRef f, LLVMValueRef n0,
                       LLVMValueRef m0, int from, int to)
{
    const lp_node *gm = d->gm;
    LLVMTypeRef vt = LLVMVectorType(g->f32, 16);
    cloop Lk;
    g->iv[gm->k] = loop_begin(g, &Lk, ci64(g, 0), ci64(g, d->K), "k");
    LLVMValueRef wv[DC_NV];
    for (int v = 0; v < DC_NV; v++)
        wv[v] = conv_weights(g, d, f, m0, v);
    for (int r = from; r < to; r++) {
        g->iv[gm->nn] = LLVMBuildAdd(g->b, n0, ci64(g, r), "");
        LLVMValueRef sp = splat(g, load_plain(g, gm->b), 16);
        for (int v = 0; v < DC_NV; v++)
            LLVMBuildStore(g->b, fma3(g, sp, wv[v], LLVMBuildLoad2(g->b, vt, acc[r * DC_NV + v], "")),
                           acc[r * DC_NV + v]);
    }
    loop_end(g, &Lk, 1);
}

/*
 * The general case of a tap's span [lo, hi) (a partial tile, a wide padding): the tile goes
 * through memory, a column at a time, each vectorized over m.
 */
static void conv_columns(cgl *g, const dconv *d, LLVMValueRef *acc, LLVMValueRef f, LLVMValueRef n0,
                         LLVMValueRef m0, LLVMValueRef lo, LLVMValueRef hi)
{
    const lp_node *gm = d->gm;
    LLVMTypeRef vt = LLVMVectorType(g->f32, 16);
    LLVMValueRef tile = entry_alloca(g, LLVMArrayType2(vt, DC_R * DC_NV), "dc_tile");
    for (int i = 0; i < DC_R * DC_NV; i++) {
        LLVMValueRef at = ci64(g, i);
        LLVMBuildStore(g->b, LLVMBuildLoad2(g->b, vt, acc[i], ""), LLVMBuildInBoundsGEP2(g->b, vt, tile, &at, 1, ""));
    }
    cloop Lr, Lk;
    LLVMValueRef r = loop_begin(g, &Lr, lo, hi, "dc_r");
    g->iv[gm->nn] = LLVMBuildAdd(g->b, n0, r, "");
    g->iv[gm->k] = loop_begin(g, &Lk, ci64(g, 0), ci64(g, d->K), "k");
    LLVMValueRef sp = splat(g, load_plain(g, gm->b), 16);
    for (int v = 0; v < DC_NV; v++) {
        LLVMValueRef ti = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, r, ci64(g, DC_NV), ""), ci64(g, v), "");
        LLVMValueRef p = LLVMBuildInBoundsGEP2(g->b, vt, tile, &ti, 1, "");
        LLVMBuildStore(g->b, fma3(g, sp, conv_weights(g, d, f, m0, v), LLVMBuildLoad2(g->b, vt, p, "")), p);
    }
    loop_end(g, &Lk, 1);
    loop_end(g, &Lr, 1);
    for (int i = 0; i < DC_R * DC_NV; i++) {
        LLVMValueRef at = ci64(g, i);
        LLVMBuildStore(g->b, LLVMBuildLoad2(g->b, vt, LLVMBuildInBoundsGEP2(g->b, vt, tile, &at, 1, ""), ""), acc[i]);
    }
}

/* dst[m0 + 16 v + i, n0 + r] += acc[r][v][i] for r < rows, m < M: by 16 x 16 transposes. */
static void conv_store(cgl *g, const dconv *d, LLVMValueRef *acc, LLVMValueRef n0, LLVMValueRef m0,
                       LLVMValueRef rows)
{
    const lp_node *gm = d->gm;
    LLVMTypeRef vt = LLVMVectorType(g->f32, 16);
    for (int v = 0; v < DC_NV; v++) {
        LLVMValueRef t[16];
        for (int r = 0; r < 16; r++)
            t[r] = r < DC_R ? LLVMBuildLoad2(g->b, vt, acc[r * DC_NV + v], "") : LLVMConstNull(vt);
        transpose_regs(g, t, 16);         /* t[i][r] = acc[r][v][i] */
        for (int i = 0; i < 16; i++) {
            LLVMValueRef m = LLVMBuildAdd(g->b, m0, ci64(g, 16 * v + i), "");
            LLVMValueRef mask = lanes_below(g, 16, ci64(g, 0), rows, LLVMBuildICmp(g->b, LLVMIntSLT, m, ci64(g, d->M), ""));
            g->iv[gm->m] = smin(g, m, ci64(g, d->M - 1));
            g->iv[gm->nn] = n0;
            LLVMValueRef p = address(g, gm->dst);
            masked_op(g, vt, 4, p, mask, LLVMBuildFAdd(g->b, masked_op(g, vt, 4, p, mask, NULL), t[i], ""));
        }
    }
}

static void conv_emit(cgl *g, const dconv *d)
{
    const lp_node *gm = d->gm;
    LLVMTypeRef vt = LLVMVectorType(g->f32, 16);
    LLVMValueRef acc[DC_R * DC_NV];
    for (int i = 0; i < DC_R * DC_NV; i++)
        acc[i] = entry_alloca(g, vt, "dc");
    LLVMValueRef N = g->size[gm->nn];
    cloop Ln, Lm, Lt[DC_MAXTAPS];
    LLVMValueRef n0 = loop_begin(g, &Ln, ci64(g, 0), N, "n0");
    LLVMValueRef rows = smin(g, ci64(g, DC_R), LLVMBuildSub(g->b, N, n0, ""));
    LLVMValueRef m0 = loop_begin(g, &Lm, ci64(g, 0), ci64(g, d->Mp), "m0");
    for (int i = 0; i < DC_R * DC_NV; i++)
        LLVMBuildStore(g->b, LLVMConstNull(vt), acc[i]);
    LLVMValueRef f = taps_begin(g, d, Lt);
    LLVMValueRef lo, hi;
    conv_span(g, d, n0, rows, &lo, &hi);
    /*
     * Dispatch on the span: the whole tile, or a tap that pads a column at either end
     * (lo < EDGE, hi > R - EDGE), runs a k loop over exactly those columns; an empty span
     * runs nothing; any other goes a column at a time (conv_columns).
     */
    enum { EDGE = 2 };
    LLVMBasicBlockRef bp = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "dc_part");
    LLVMBasicBlockRef bd = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "dc_tap_done");
    LLVMBasicBlockRef bt = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "dc_test");
    LLVMValueRef key = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, lo, ci64(g, 64), ""), hi, "");
    LLVMValueRef sw = LLVMBuildSwitch(g->b, key, bt, EDGE * EDGE);
    for (int l = 0; l < EDGE; l++)
        for (int h = DC_R - EDGE + 1; h <= DC_R; h++) {
            LLVMBasicBlockRef bb = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "dc_cols");
            LLVMAddCase(sw, ci64(g, l * 64 + h), bb);
            LLVMPositionBuilderAtEnd(g->b, bb);
            conv_kloop(g, d, acc, f, n0, m0, l, h);
            LLVMBuildBr(g->b, bd);
        }
    LLVMPositionBuilderAtEnd(g->b, bt);
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSGT, hi, lo, ""), bp, bd);
    LLVMPositionBuilderAtEnd(g->b, bp);
    conv_columns(g, d, acc, f, n0, m0, lo, hi);
    LLVMBuildBr(g->b, bd);
    LLVMPositionBuilderAtEnd(g->b, bd);
    taps_end(g, d, Lt);
    conv_store(g, d, acc, n0, m0, rows);
    loop_end(g, &Lm, 16 * DC_NV);
    loop_end(g, &Ln, DC_R);
}

/* Whether n is a direct convolution site conv_find packed for; emits it. */
static bool conv_site(cgl *g, const lp_node *n)
{
    for (int i = 0; i < g->ndc; i++)
        if (g->dc[i].site == n) {
            conv_emit(g, &g->dc[i]);
            return true;
        }
    return false;
}

static void store(cgl *g, const ir_access *dst, LLVMValueRef v)
{
    LLVMBuildStore(g->b, from_compute(g, v, g->p->tensor[dst->tensor].dtype), address(g, dst));
}

/* ---- pairwise sums ----------------------------------------------------------------------------
 *
 * A pairwise ACC (lp_node.pairwise) sums blocks of pw_block elements in its register, with
 * reassociation, so that LLVM's vectorizer spreads each block over its VF x IC lanes: the
 * loop that holds the UPDATE runs in chunks that end where a block does (pairwise_loop).
 * Each block's sum then joins a cascade, with no reassociation: levels[k] holds the sum of
 * 2^k blocks, and a new block carries up through the levels as a binary counter does
 * (pairwise_push), so that the blocks combine as numpy's pairwise halves do.  At the end
 * the last, partial block and the levels add up, the smallest first (pairwise_end).  A
 * block is PW_LANE_RUN vectors of the host's width, about 16 additions a lane at VF x 4
 * lanes: the error bound is that of numpy's blocks of 128 over 8 accumulators, O(eps (16 +
 * log2(n / block))), and the horizontal sum and the push cost one block in a hundred or
 * so of its loads.  A sum known to fit in one block stays a plain accumulator.
 */
enum { PW_LANE_RUN = 64, PW_LEVELS = 64 };

/* The elements the loops under n (an ACC's reduction) run over, at most. */
static LLVMValueRef acc_length(cgl *g, const lp_node *n)
{
    LLVMValueRef len = ci64(g, 1);
    for (int i = 0; i < n->n; i++)
        if (n->body[i]->op == LP_LOOP)
            len = smax(g, len, LLVMBuildMul(g->b, g->size[n->body[i]->axis], acc_length(g, n->body[i]), ""));
    return len;
}

/*
 * Whether ACC n sums pairwise: NULL when it does not (not pairwise, or known to fit in
 * one block), else the condition, true at run time when its length exceeds a block.
 */
static LLVMValueRef pairwise_needed(cgl *g, const lp_node *n)
{
    if (!n->pairwise || !fp(g))
        return NULL;
    g->pw_block = vector_bytes(g) / (int64_t)dtype_size(g->nest->compute) * PW_LANE_RUN;
    LLVMValueRef len = acc_length(g, n);
    if (is_const(len) && cval(len) <= g->pw_block)
        return NULL;
    return LLVMBuildICmp(g->b, LLVMIntSGT, len, ci64(g, g->pw_block), "");
}

/* An empty cascade for the ACC whose register is g->acc. */
static void pairwise_begin(cgl *g)
{
    g->pw_levels = entry_alloca(g, LLVMArrayType2(ctype(g), PW_LEVELS), "levels");
    g->pw_count = entry_alloca(g, g->i64, "blocks");
    g->pw_fill = entry_alloca(g, g->i64, "fill");
    LLVMBuildStore(g->b, ci64(g, 0), g->pw_count);
    LLVMBuildStore(g->b, ci64(g, 0), g->pw_fill);
}

static LLVMValueRef level_at(cgl *g, LLVMValueRef k)
{
    return LLVMBuildInBoundsGEP2(g->b, ctype(g), g->pw_levels, &k, 1, "");
}

/* The block sum in acc joins the cascade, and acc starts the next block at 0. */
static void pairwise_push(cgl *g)
{
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
    LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "carry");
    LLVMBasicBlockRef up = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "carry_up");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "carried");
    LLVMValueRef s0 = LLVMBuildLoad2(g->b, ctype(g), g->acc, "");
    LLVMValueRef c0 = LLVMBuildLoad2(g->b, g->i64, g->pw_count, "");
    LLVMBuildBr(g->b, head);
    LLVMPositionBuilderAtEnd(g->b, head);
    LLVMValueRef c = LLVMBuildPhi(g->b, g->i64, ""), k = LLVMBuildPhi(g->b, g->i64, "");
    LLVMValueRef s = LLVMBuildPhi(g->b, ctype(g), "");
    LLVMValueRef odd = LLVMBuildTrunc(g->b, c, g->i1, "");
    LLVMBuildCondBr(g->b, odd, up, done);
    LLVMPositionBuilderAtEnd(g->b, up);
    LLVMValueRef s1 = LLVMBuildFAdd(g->b, LLVMBuildLoad2(g->b, ctype(g), level_at(g, k), ""), s, "");
    LLVMValueRef c1 = LLVMBuildLShr(g->b, c, ci64(g, 1), ""), k1 = LLVMBuildAdd(g->b, k, ci64(g, 1), "");
    LLVMBuildBr(g->b, head);
    LLVMAddIncoming(c, (LLVMValueRef[]){ c0, c1 }, (LLVMBasicBlockRef[]){ pre, up }, 2);
    LLVMAddIncoming(k, (LLVMValueRef[]){ ci64(g, 0), k1 }, (LLVMBasicBlockRef[]){ pre, up }, 2);
    LLVMAddIncoming(s, (LLVMValueRef[]){ s0, s1 }, (LLVMBasicBlockRef[]){ pre, up }, 2);
    LLVMPositionBuilderAtEnd(g->b, done);
    LLVMBuildStore(g->b, s, level_at(g, k));
    LLVMBuildStore(g->b, LLVMBuildAdd(g->b, c0, ci64(g, 1), ""), g->pw_count);
    LLVMBuildStore(g->b, LLVMConstReal(ctype(g), 0), g->acc);
}

/* acc = the partial block in acc plus every level the count says is full. */
static void pairwise_end(cgl *g)
{
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
    LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "levels");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "level");
    LLVMBasicBlockRef add = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "level_add");
    LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "level_next");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "levels_done");
    LLVMValueRef s0 = LLVMBuildLoad2(g->b, ctype(g), g->acc, "");
    LLVMValueRef c0 = LLVMBuildLoad2(g->b, g->i64, g->pw_count, "");
    LLVMBuildBr(g->b, head);
    LLVMPositionBuilderAtEnd(g->b, head);
    LLVMValueRef c = LLVMBuildPhi(g->b, g->i64, ""), k = LLVMBuildPhi(g->b, g->i64, "");
    LLVMValueRef s = LLVMBuildPhi(g->b, ctype(g), "");
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntNE, c, ci64(g, 0), ""), body, done);
    LLVMPositionBuilderAtEnd(g->b, body);
    LLVMBuildCondBr(g->b, LLVMBuildTrunc(g->b, c, g->i1, ""), add, next);
    LLVMPositionBuilderAtEnd(g->b, add);
    LLVMValueRef sa = LLVMBuildFAdd(g->b, LLVMBuildLoad2(g->b, ctype(g), level_at(g, k), ""), s, "");
    LLVMBuildBr(g->b, next);
    LLVMPositionBuilderAtEnd(g->b, next);
    LLVMValueRef s1 = LLVMBuildPhi(g->b, ctype(g), "");
    LLVMAddIncoming(s1, (LLVMValueRef[]){ s, sa }, (LLVMBasicBlockRef[]){ body, add }, 2);
    LLVMValueRef c1 = LLVMBuildLShr(g->b, c, ci64(g, 1), ""), k1 = LLVMBuildAdd(g->b, k, ci64(g, 1), "");
    LLVMBuildBr(g->b, head);
    LLVMAddIncoming(c, (LLVMValueRef[]){ c0, c1 }, (LLVMBasicBlockRef[]){ pre, next }, 2);
    LLVMAddIncoming(k, (LLVMValueRef[]){ ci64(g, 0), k1 }, (LLVMBasicBlockRef[]){ pre, next }, 2);
    LLVMAddIncoming(s, (LLVMValueRef[]){ s0, s1 }, (LLVMBasicBlockRef[]){ pre, next }, 2);
    LLVMPositionBuilderAtEnd(g->b, done);
    LLVMBuildStore(g->b, s, g->acc);
}

/*
 * Loop n over [start, end) in chunks that end where the current block does, when n holds
 * the UPDATE of a pairwise ACC with a cascade; false (nothing emitted) otherwise.
 */
static bool pairwise_loop(cgl *g, const lp_node *n, LLVMValueRef start, LLVMValueRef end)
{
    bool update = false;
    for (int i = 0; i < n->n; i++)
        update |= n->body[i]->op == LP_UPDATE;
    if (!g->pw_levels || !update || n->tile || n->blocked)
        return false;
    LLVMValueRef B = ci64(g, g->pw_block);
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
    LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "chunk");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "chunk_body");
    LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "chunk_exit");
    LLVMBuildBr(g->b, head);
    LLVMPositionBuilderAtEnd(g->b, head);
    LLVMValueRef j0 = LLVMBuildPhi(g->b, g->i64, "");
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, j0, end, ""), body, exit);
    LLVMPositionBuilderAtEnd(g->b, body);
    LLVMValueRef fill = LLVMBuildLoad2(g->b, g->i64, g->pw_fill, "");
    LLVMValueRef m = smin(g, LLVMBuildSub(g->b, end, j0, ""), LLVMBuildSub(g->b, B, fill, ""));
    LLVMValueRef j1 = LLVMBuildAdd(g->b, j0, m, "");
    cloop L;
    g->iv[n->axis] = loop_begin(g, &L, j0, j1, g->p->axis[n->axis].name);
    int inner = g->inner;
    g->inner = n->axis;
    for (int i = 0; i < n->n; i++)
        node(g, n->body[i], false);
    g->inner = inner;
    loop_end(g, &L, 1);
    LLVMValueRef filled = LLVMBuildAdd(g->b, fill, m, "");
    LLVMValueRef full = LLVMBuildICmp(g->b, LLVMIntEQ, filled, B, "");
    LLVMBuildStore(g->b, LLVMBuildSelect(g->b, full, ci64(g, 0), filled, ""), g->pw_fill);
    LLVMBasicBlockRef latch = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "chunk_next");
    cond_block(g, full, "push", latch);
    pairwise_push(g);
    LLVMBuildBr(g->b, latch);
    LLVMPositionBuilderAtEnd(g->b, latch);
    LLVMBuildBr(g->b, head);
    LLVMAddIncoming(j0, (LLVMValueRef[]){ start, j1 }, (LLVMBasicBlockRef[]){ pre, latch }, 2);
    LLVMPositionBuilderAtEnd(g->b, exit);
    return true;
}


/*
 * An ACC: its register is an alloca in the entry block, which mem2reg promotes.  A
 * pairwise one inside a loop runs its reduction in two forms: plain, when it fits in one
 * block, and pairwise when longer (pairwise_needed), because the chunks and the cascade
 * cost a few instructions a row: 10% of 'ij->i' on rows of 100.  A nest's root ACC runs
 * once a call, so it takes the pairwise form alone: the second form would double what
 * LLVM compiles for nothing.
 */
static void acc_node(cgl *g, const lp_node *n, bool outermost)
{
    LLVMValueRef slot = entry_alloca(g, ctype(g), "acc");
    LLVMValueRef saved = g->acc, levels = g->pw_levels, count = g->pw_count, fill = g->pw_fill;
    int64_t block = g->pw_block;
    LLVMBuildStore(g->b, n->accumulate ? load(g, n->dst) : identity(g, n->comb), slot);
    g->acc = slot;
    g->pw_levels = NULL;
    LLVMValueRef pw = pairwise_needed(g, n);
    LLVMBasicBlockRef summed = NULL;
    if (pw && !outermost) {
        summed = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "summed");
        LLVMBasicBlockRef pairs = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "pairwise");
        LLVMBasicBlockRef one = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "one_block");
        LLVMBuildCondBr(g->b, pw, pairs, one);
        LLVMPositionBuilderAtEnd(g->b, one);
        for (int i = 0; i < n->n; i++)
            node(g, n->body[i], false);
        LLVMBuildBr(g->b, summed);
        LLVMPositionBuilderAtEnd(g->b, pairs);
    }
    if (pw)
        pairwise_begin(g);
    for (int i = 0; i < n->n; i++)
        node(g, n->body[i], false);
    if (pw)
        pairwise_end(g);
    if (summed) {
        LLVMBuildBr(g->b, summed);
        LLVMPositionBuilderAtEnd(g->b, summed);
    }
    LLVMValueRef v = n->final ? expr(g, n->final) : LLVMBuildLoad2(g->b, ctype(g), slot, "");
    g->acc = saved;
    g->pw_levels = levels;
    g->pw_count = count;
    g->pw_fill = fill;
    g->pw_block = block;
    store(g, n->dst, v);
}

static void node(cgl *g, const lp_node *n, bool outermost)
{
    switch (n->op) {
    case LP_LOOP:
        loop(g, n, outermost);
        return;
    case LP_GEMM:
        gemm(g, n);
        return;
    case LP_ACC:
        acc_node(g, n, outermost);
        return;
    case LP_UPDATE: {
        g->plain |= g->inner >= 0;
        LLVMValueRef v = expr(g, n->value);
        LLVMValueRef a = LLVMBuildLoad2(g->b, ctype(g), g->acc, "");
        LLVMBuildStore(g->b, combine(g, n->comb, a, v), g->acc);
        return;
    }
    case LP_STORE: {
        g->plain |= g->inner >= 0;
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
    g->ndc = 0;
    g->dc = ARENA_ARRAY(g->c->A, dconv, DC_MAXSITES);
    if (!g->dc)
        return cc_nomem(g->c), NULL;
    conv_find(g, g->nest->root);
    node(g, g->nest->root, true);
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
    }
    LLVMDisposeBuilder(g.b);
    *plain = g.plain;
    return g.m;
fail:
    LLVMDisposeBuilder(g.b);
    LLVMDisposeModule(g.m);
    return NULL;
}
