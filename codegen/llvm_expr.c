/*
 * llvm_expr.c — values: the compute type, constants, addresses, loads and stores, the math
 * functions, unary and expr; and the vector and memory-hint helpers the GEMM, the
 * convolution and the transposes share.
 *
 * Float adds and multiplies carry the reassoc and contract
 * flags, so reductions vectorize and fuse into FMAs, as numpy's own SIMD loops reassociate;
 * but a long float sum reassociates only inside its blocks ("pairwise sums", llvm_loop.c), and a
 * float prod not at all: it multiplies in numpy's order, one element after another, so
 * that an underflow to 0 in one lane and an overflow to inf in another cannot meet as NaN
 * where numpy's running product has none.  max and min use llvm.maximum/llvm.minimum,
 * which propagate NaN as numpy does.  Integer arithmetic wraps (no nsw), as numpy's does.
 * The code generator's version-specific LLVM code lives here only.
 */
#include "llvm_int.h"

#include <llvm/Config/llvm-config.h>    /* LLVM_VERSION_MAJOR; plain C */

#include <string.h>

static void fast(LLVMValueRef v)
{
#if LLVM_VERSION_MAJOR >= 18
    if (LLVMIsAInstruction(v) && LLVMCanValueUseFastMathFlags(v))
        LLVMSetFastMathFlags(v, LLVMFastMathAllowReassoc | LLVMFastMathAllowContract);
#else
    (void)v;
#endif
}

LLVMValueRef cgl_mono(cgl *g, const ir_mono *m)
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

/*
 * bfloat16 is float32's top half, so widening is a shift, and narrowing rounds to nearest
 * even by integer adds (NaN kept quiet): done by hand, so that no CPU feature or compiler
 * runtime function (__truncsfbf2) is needed.  float16 uses LLVM's half, which F16C's
 * vcvtph2ps/vcvtps2ph compute where the CPU has them.
 */
static LLVMValueRef bf16_widen(cgl *g, LLVMValueRef v)
{
    v = LLVMBuildShl(g->b, LLVMBuildZExt(g->b, v, g->i32, ""), LLVMConstInt(g->i32, 16, 0), "");
    return LLVMBuildBitCast(g->b, v, g->f32, "");
}

static LLVMValueRef bf16_narrow(cgl *g, LLVMValueRef f)
{
    if (LLVMTypeOf(f) != g->f32)
        f = LLVMBuildFPTrunc(g->b, f, g->f32, "");
    LLVMValueRef x = LLVMBuildBitCast(g->b, f, g->i32, "");
    LLVMValueRef c16 = LLVMConstInt(g->i32, 16, 0);
    LLVMValueRef odd = LLVMBuildAnd(g->b, LLVMBuildLShr(g->b, x, c16, ""), LLVMConstInt(g->i32, 1, 0), "");
    LLVMValueRef r = LLVMBuildAdd(g->b, x, LLVMBuildAdd(g->b, odd, LLVMConstInt(g->i32, 0x7fff, 0), ""), "");
    LLVMValueRef nan = LLVMBuildFCmp(g->b, LLVMRealUNO, f, f, "");
    LLVMValueRef q = LLVMBuildOr(g->b, x, LLVMConstInt(g->i32, 0x400000, 0), "");
    r = LLVMBuildSelect(g->b, nan, q, r, "");
    return LLVMBuildTrunc(g->b, LLVMBuildLShr(g->b, r, c16, ""), LLVMInt16TypeInContext(g->ctx), "");
}

static LLVMValueRef to_compute(cgl *g, LLVMValueRef v, einc_dtype from)
{
    einc_dtype to = g->nest->compute;
    if (from == to)
        return v;
    if (from == EINC_BF16) {
        v = bf16_widen(g, v);
        from = EINC_F32;
        if (from == to)
            return v;
    }
    if (cx(g))
        return cgl_cx_from(g, v, from);
    if (dtype_is_complex(from)) {   /* a real statement reads the real part, as interp.c */
        v = cgl_cx_re(g, v);
        from = from == EINC_C64 ? EINC_F32 : EINC_F64;
        if (from == to)
            return v;
    }
    if (dtype_is_float(to)) {
        if (dtype_is_float(from))   /* half widens to either; float64 narrows to float32 */
            return LLVMBuildFPCast(g->b, v, ctype(g), "");
        return from == EINC_BOOL || dtype_is_unsigned(from) ? LLVMBuildUIToFP(g->b, v, ctype(g), "")
                                                            : LLVMBuildSIToFP(g->b, v, ctype(g), "");
    }
    if (from == EINC_BOOL)
        return LLVMBuildZExt(g->b, v, ctype(g), "");
    if (dtype_is_float(from))       /* a float read by an integer statement (argmax's index) */
        return LLVMBuildFPToSI(g->b, v, ctype(g), "");
    /* narrow integers are computed in int64 (lower.c: compute_type): unsigned ones widen
       with zeros */
    return LLVMBuildIntCast2(g->b, v, ctype(g), !dtype_is_unsigned(from), "");
}

static LLVMValueRef from_compute(cgl *g, LLVMValueRef v, einc_dtype to)
{
    einc_dtype from = g->nest->compute;
    if (from == to)
        return v;
    if (dtype_is_complex(from)) {
        if (dtype_is_complex(to))
            return cgl_cx_to(g, v, to);
        if (to == EINC_BOOL)
            return LLVMBuildZExt(g->b, cgl_cx_nonzero(g, v), g->i8, "");
        v = cgl_cx_re(g, v);        /* a real type keeps the real part, as interp.c */
        from = from == EINC_C64 ? EINC_F32 : EINC_F64;
        if (from == to)
            return v;
    }
    if (dtype_is_complex(to)) {     /* a real value stored as complex: imaginary part 0 */
        LLVMTypeRef pt = to == EINC_C64 ? g->f32 : g->f64;
        LLVMValueRef re = dtype_is_float(from) ? LLVMBuildFPCast(g->b, v, pt, "")
                          : from == EINC_U64   ? LLVMBuildUIToFP(g->b, v, pt, "")
                                               : LLVMBuildSIToFP(g->b, v, pt, "");
        LLVMValueRef z = LLVMBuildInsertValue(g->b, LLVMGetPoison(elem_type(g, to)), re, 0, "");
        return LLVMBuildInsertValue(g->b, z, LLVMConstReal(pt, 0), 1, "");
    }
    if (to == EINC_BOOL) {
        LLVMValueRef nz = dtype_is_float(from) ? LLVMBuildFCmp(g->b, LLVMRealUNE, v, LLVMConstReal(LLVMTypeOf(v), 0), "")
                                               : LLVMBuildICmp(g->b, LLVMIntNE, v, LLVMConstInt(LLVMTypeOf(v), 0, 0), "");
        return LLVMBuildZExt(g->b, nz, g->i8, "");
    }
    if (!dtype_is_float(from) && (to == EINC_BF16 || dtype_is_float(to))) {
        /* uint64 converts as the unsigned value, above 2^63 too (uitofp) */
        LLVMTypeRef ft = to == EINC_BF16 ? g->f32 : elem_type(g, to);
        v = from == EINC_U64 ? LLVMBuildUIToFP(g->b, v, ft, "") : LLVMBuildSIToFP(g->b, v, ft, "");
        return to == EINC_BF16 ? bf16_narrow(g, v) : v;
    }
    if (to == EINC_BF16)
        return bf16_narrow(g, v);
    if (dtype_is_float(to))
        return LLVMBuildFPCast(g->b, v, elem_type(g, to), "");
    if (dtype_is_float(from))
        return LLVMBuildFPToSI(g->b, v, elem_type(g, to), "");
    return LLVMBuildIntCast2(g->b, v, elem_type(g, to), 1, "");
}

/*
 * An operator or combiner that a switch here cannot be given (lower.c never makes such a
 * statement): a bug in the compiler, reported as an error instead of compiled into wrong
 * code.  The poison value lets the caller finish its function; cg_llvm then fails.
 */
static LLVMValueRef not_here(cgl *g, const char *where, const char *name)
{
    cc_error(g->c, EINC_ERR_UNSUPPORTED, -1, -1, "internal error: LLVM code generator: %s given '%s'", where,
             name);
    return LLVMGetPoison(ctype(g));
}

LLVMValueRef cgl_identity(cgl *g, ir_comb comb)
{
    if (cx(g))
        return cgl_cx_identity(g, comb);
    LLVMTypeRef t = ctype(g);
    bool i32 = g->nest->compute == EINC_I32;
    switch (comb) {
    case IR_COMB_SUM: case IR_COMB_MEAN:
    case IR_COMB_ASSIGN:        /* a fill before a statement that assigns: 0, as interp.c's */
        return fp(g) ? LLVMConstReal(t, 0) : LLVMConstInt(t, 0, 0);
    case IR_COMB_PROD: return fp(g) ? LLVMConstReal(t, 1) : LLVMConstInt(t, 1, 0);
    case IR_COMB_MAX:
        return fp(g) ? LLVMConstReal(t, -__builtin_inf())
               : uns(g) ? LLVMConstInt(t, 0, 0)
                        : LLVMConstInt(t, i32 ? (unsigned long long)(uint32_t)INT32_MIN : (unsigned long long)INT64_MIN, 0);
    case IR_COMB_MIN:
        return fp(g) ? LLVMConstReal(t, __builtin_inf())
               : uns(g) ? LLVMConstAllOnes(t)
                        : LLVMConstInt(t, i32 ? (unsigned long long)INT32_MAX : (unsigned long long)INT64_MAX, 0);
    case IR_COMB_COUNT:
        break;
    }
    return not_here(g, "identity", ir_comb_name(comb));
}

/*
 * The identity a reduction in memory first stores into dst: int64's extremes do not
 * survive the store into bool or a narrow integer (INT64_MIN becomes true, or 0), so a
 * max/min there starts from the stored type's own.
 */
LLVMValueRef cgl_identity_in(cgl *g, ir_comb comb, einc_dtype store)
{
    static const struct { einc_dtype t; long long lo, hi; } lim[] = {
        { EINC_BOOL, 0, 1 }, { EINC_I8, INT8_MIN, INT8_MAX }, { EINC_I16, INT16_MIN, INT16_MAX },
        { EINC_U8, 0, UINT8_MAX }, { EINC_U16, 0, UINT16_MAX }, { EINC_U32, 0, UINT32_MAX },
    };
    for (size_t i = 0; (comb == IR_COMB_MAX || comb == IR_COMB_MIN) && !fp(g) && i < sizeof lim / sizeof *lim; i++)
        if (lim[i].t == store)
            return LLVMConstInt(ctype(g), (unsigned long long)(comb == IR_COMB_MAX ? lim[i].lo : lim[i].hi), 1);
    return cgl_identity(g, comb);
}

/*
 * A narrow integer computed in int64 (lower.c: compute_type) wrapped to its stored width,
 * sign- or zero-extended back: +, - and * commute with the truncation on store, but max,
 * min, division and == do not, so their operands are wrapped first, as the interpreter
 * (and numpy, which computes in the type itself) wraps every intermediate.
 */
LLVMValueRef cgl_wrap(cgl *g, LLVMValueRef v)
{
    einc_dtype t = g->wrap;
    if (fp(g) || g->nest->compute != EINC_I64 ||
        (t != EINC_I8 && t != EINC_I16 && t != EINC_U8 && t != EINC_U16 && t != EINC_U32))
        return v;
    v = LLVMBuildTrunc(g->b, v, elem_type(g, t), "");
    return dtype_is_unsigned(t) ? LLVMBuildZExt(g->b, v, g->i64, "") : LLVMBuildSExt(g->b, v, g->i64, "");
}

LLVMValueRef cgl_combine(cgl *g, ir_comb comb, LLVMValueRef acc, LLVMValueRef v)
{
    if (cx(g))
        return cgl_cx_combine(g, comb, acc, v);
    LLVMValueRef r;
    /* v only: acc holds wrapped values or the identity, int64's extreme, which wrapping
       would make 0 (a max of negative int8s gave 0) */
    if (comb == IR_COMB_MAX || comb == IR_COMB_MIN)
        v = cgl_wrap(g, v);
    switch (comb) {
    case IR_COMB_SUM: case IR_COMB_MEAN:
        r = fp(g) ? LLVMBuildFAdd(g->b, acc, v, "") : LLVMBuildAdd(g->b, acc, v, "");
        fast(r);
        return r;
    case IR_COMB_PROD:      /* no reassoc: in order, as numpy's (see the top of the file) */
        return fp(g) ? LLVMBuildFMul(g->b, acc, v, "") : LLVMBuildMul(g->b, acc, v, "");
    case IR_COMB_MAX:
        return call_intrinsic(g, fp(g) ? "llvm.maximum" : uns(g) ? "llvm.umax" : "llvm.smax", ctype(g), acc, v);
    case IR_COMB_MIN:
        return call_intrinsic(g, fp(g) ? "llvm.minimum" : uns(g) ? "llvm.umin" : "llvm.smin", ctype(g), acc, v);
    case IR_COMB_ASSIGN:        /* the new value replaces the old, as interp.c's */
        return v;
    case IR_COMB_COUNT:
        break;
    }
    return not_here(g, "combine", ir_comb_name(comb));
}

/* ---- addresses --------------------------------------------------------------------------- */

LLVMValueRef cgl_dim_index(cgl *g, const ir_dim *dim)
{
    LLVMValueRef idx = ci64(g, dim->off);
    for (int t = 0; t < dim->n; t++) {
        LLVMValueRef term = g->iv[dim->t[t].axis];
        const ir_mono *c = &dim->t[t].coef;
        if (c->n || c->k != 1)
            term = LLVMBuildMul(g->b, term, cgl_mono(g, c), "");
        idx = LLVMBuildAdd(g->b, idx, term, "");
    }
    return idx;
}

LLVMValueRef cgl_address(cgl *g, const ir_access *a)
{
    LLVMValueRef off = ci64(g, 0);
    for (int d = 0; d < a->ndim; d++)
        off = LLVMBuildAdd(g->b, off, LLVMBuildMul(g->b, cgl_dim_index(g, &a->dim[d]), g->stride[a->tensor][d], ""), "");
    LLVMTypeRef et = elem_type(g, g->p->tensor[a->tensor].dtype);
    return LLVMBuildInBoundsGEP2(g->b, et, g->base[a->tensor], &off, 1, "");
}

LLVMValueRef cgl_load_plain(cgl *g, const ir_access *a)
{
    einc_dtype t = g->p->tensor[a->tensor].dtype;
    LLVMValueRef v = LLVMBuildLoad2(g->b, elem_type(g, t), cgl_address(g, a), "");
    if (t == EINC_BOOL)   /* any nonzero byte is true */
        v = LLVMBuildZExt(g->b, LLVMBuildICmp(g->b, LLVMIntNE, v, LLVMConstInt(g->i8, 0, 0), ""), g->i8, "");
    return to_compute(g, v, t);
}

/*
 * A guarded access (padding) loads only when every index is inside the tensor (one
 * unsigned compare per dimension also catches negative ones) and is its pad combiner's
 * identity otherwise (0; -inf for a max pool's padding).  The branch is what the loop
 * vectorizer if-converts into a masked load and a select.
 */
LLVMValueRef cgl_load(cgl *g, const ir_access *a)
{
    if (!a->guard)
        return cgl_load_plain(g, a);
    const ir_tensor *T = &g->p->tensor[a->tensor];
    LLVMValueRef inb = LLVMConstInt(g->i1, 1, 0);
    for (int d = 0; d < a->ndim; d++)
        inb = LLVMBuildAnd(g->b, inb, LLVMBuildICmp(g->b, LLVMIntULT, cgl_dim_index(g, &a->dim[d]),
                                                    cgl_mono(g, &T->shape[d]), ""), "");
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
    LLVMBasicBlockRef in = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "inside");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "join");
    LLVMBuildCondBr(g->b, inb, in, join);
    LLVMPositionBuilderAtEnd(g->b, in);
    LLVMValueRef v = cgl_load_plain(g, a);
    LLVMBasicBlockRef in_end = LLVMGetInsertBlock(g->b);
    LLVMBuildBr(g->b, join);
    LLVMPositionBuilderAtEnd(g->b, join);
    LLVMValueRef phi = LLVMBuildPhi(g->b, ctype(g), "");
    LLVMValueRef vals[2] = { v, cgl_identity(g, a->pad) };
    LLVMBasicBlockRef bbs[2] = { in_end, pre };
    LLVMAddIncoming(phi, vals, bbs, 2);
    return phi;
}

/* ---- math functions ------------------------------------------------------------------------ */


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
LLVMValueRef cgl_fma3(cgl *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c)
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
    LLVMValueRef r = cgl_fma3(g, n, fc(g, -0.693359375), xc);
    r = cgl_fma3(g, n, fc(g, 2.12194440e-4), r);
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
    if (uns(g))     /* uint64: unsigned, and no -1 to mind */
        return LLVMBuildSelect(g->b, by0, zero, LLVMBuildUDiv(g->b, a, LLVMBuildSelect(g->b, by0, one, b, ""), ""), "");
    LLVMValueRef bym1 = LLVMBuildICmp(g->b, LLVMIntEQ, b, LLVMConstAllOnes(t), "");
    LLVMValueRef safe = LLVMBuildSelect(g->b, LLVMBuildOr(g->b, by0, bym1, ""), one, b, "");
    LLVMValueRef q = LLVMBuildSDiv(g->b, a, safe, "");
    q = LLVMBuildSelect(g->b, bym1, LLVMBuildSub(g->b, zero, a, ""), q, "");
    return LLVMBuildSelect(g->b, by0, zero, q, "");
}

static LLVMValueRef unary(cgl *g, ir_op op, LLVMValueRef a)
{
    if (cx(g))
        return cgl_cx_unary(g, op, a);
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
    case IR_ACCESS: case IR_CONST: case IR_SIZE: case IR_AXIS:
    case IR_MUL: case IR_ADD: case IR_SUB: case IR_DIV: case IR_DIVZ: case IR_MAX: case IR_MIN: case IR_EQ:
    case IR_OP_COUNT:
        break;
    }
    return not_here(g, "unary", ir_op_name(op));
}

static LLVMValueRef binary(cgl *g, const ir_expr *x)
{
    LLVMValueRef a = cgl_expr(g, x->a), b = cgl_expr(g, x->b), r = NULL;
    if (cx(g))
        return cgl_cx_binary(g, x->op, a, b);
    switch (x->op) {
    case IR_MUL: r = fp(g) ? LLVMBuildFMul(g->b, a, b, "") : LLVMBuildMul(g->b, a, b, ""); break;
    case IR_ADD: r = fp(g) ? LLVMBuildFAdd(g->b, a, b, "") : LLVMBuildAdd(g->b, a, b, ""); break;
    case IR_SUB: r = fp(g) ? LLVMBuildFSub(g->b, a, b, "") : LLVMBuildSub(g->b, a, b, ""); break;
    case IR_DIV: case IR_DIVZ:
        if (!fp(g)) {
            r = sdiv0(g, cgl_wrap(g, a), cgl_wrap(g, b));
        } else if (x->op == IR_DIV) {
            r = LLVMBuildFDiv(g->b, a, b, "");
        } else {
            LLVMValueRef zero = fc(g, 0), bad = LLVMBuildFCmp(g->b, LLVMRealOEQ, b, zero, "");
            r = LLVMBuildSelect(g->b, bad, zero, LLVMBuildFDiv(g->b, a, b, ""), "");
        }
        break;
    case IR_MAX: case IR_MIN:
        r = cgl_combine(g, x->op == IR_MAX ? IR_COMB_MAX : IR_COMB_MIN, cgl_wrap(g, a), b);
        break;
    case IR_EQ: {
        LLVMValueRef e = fp(g) ? LLVMBuildFCmp(g->b, LLVMRealOEQ, a, b, "")
                               : LLVMBuildICmp(g->b, LLVMIntEQ, cgl_wrap(g, a), cgl_wrap(g, b), "");
        r = fp(g) ? LLVMBuildUIToFP(g->b, e, ctype(g), "") : LLVMBuildZExt(g->b, e, ctype(g), "");
        break;
    }
    case IR_ACCESS: case IR_CONST: case IR_SIZE: case IR_AXIS:
    case IR_NEG: case IR_EXP: case IR_LOG: case IR_SQRT: case IR_RSQRT: case IR_TANH: case IR_ERF: case IR_SIGMOID:
    case IR_OP_COUNT:
        return not_here(g, "binary", ir_op_name(x->op));
    }
    fast(r);
    return r;
}

LLVMValueRef cgl_expr(cgl *g, const ir_expr *x)
{
    for (int i = 0; i < g->nhoisted; i++)
        if (g->hoisted[i] == x)
            return g->hoisted_v[i];
    switch (x->op) {
    case IR_ACCESS:
        if (g->lp->acc[x->acc.tensor])
            return g->acc ? LLVMBuildLoad2(g->b, ctype(g), g->acc, "") : cgl_load(g, g->store_dst);
        return cgl_load(g, &x->acc);
    case IR_CONST:
        if (cx(g))
            return cgl_cx_const(g, x->c, 0);
        if (fp(g))
            return LLVMConstReal(ctype(g), x->c);
        return LLVMConstInt(ctype(g), ir_const_bits(x->c), 1);
    case IR_SIZE: {
        LLVMValueRef n = cgl_mono(g, &x->m);
        if (cx(g))
            return cgl_cx_real(g, LLVMBuildSIToFP(g->b, n, LLVMStructGetTypeAtIndex(ctype(g), 0), ""));
        return fp(g) ? LLVMBuildSIToFP(g->b, n, ctype(g), "") : LLVMBuildIntCast2(g->b, n, ctype(g), 1, "");
    }
    case IR_AXIS: {
        LLVMValueRef n = g->iv[x->axis];
        if (cx(g))
            return cgl_cx_real(g, LLVMBuildSIToFP(g->b, n, LLVMStructGetTypeAtIndex(ctype(g), 0), ""));
        return fp(g) ? LLVMBuildSIToFP(g->b, n, ctype(g), "") : LLVMBuildIntCast2(g->b, n, ctype(g), 1, "");
    }
    case IR_NEG: case IR_EXP: case IR_LOG: case IR_SQRT: case IR_RSQRT: case IR_TANH: case IR_ERF: case IR_SIGMOID:
        return unary(g, x->op, cgl_expr(g, x->a));
    case IR_MUL: case IR_ADD: case IR_SUB: case IR_DIV: case IR_DIVZ: case IR_MAX: case IR_MIN: case IR_EQ:
        return binary(g, x);
    case IR_OP_COUNT:
        break;
    }
    return not_here(g, "expr", ir_op_name(x->op));
}

void cgl_store(cgl *g, const ir_access *dst, LLVMValueRef v)
{
    LLVMBuildStore(g->b, from_compute(g, v, g->p->tensor[dst->tensor].dtype), cgl_address(g, dst));
}

/* ---- vectors and memory hints ---------------------------------------------------------------- */

/* llvm.prefetch of p into all cache levels, for reading or for writing. */
void cgl_prefetch(cgl *g, LLVMValueRef p, bool write)
{
    LLVMTypeRef pt = g->ptr;
    LLVMValueRef args[4] = { p, LLVMConstInt(g->i32, write, 0), LLVMConstInt(g->i32, 3, 0),
                             LLVMConstInt(g->i32, 1, 0) };
    intrinsic(g, "llvm.prefetch", &pt, 1, args, 4);
}

/* Marks store st non-temporal: it goes to memory without reading its line first. */
void cgl_nontemporal(cgl *g, LLVMValueRef st)
{
    LLVMMetadataRef one = LLVMValueAsMetadata(LLVMConstInt(g->i32, 1, 0));
    LLVMSetMetadata(st, LLVMGetMDKindIDInContext(g->ctx, "nontemporal", 11),
                    LLVMMetadataAsValue(g->ctx, LLVMMDNodeInContext2(g->ctx, &one, 1)));
}

/* How far a's element offset moves when axis ax grows by one. */
LLVMValueRef cgl_axis_stride(cgl *g, const ir_access *a, int ax)
{
    LLVMValueRef s = ci64(g, 0);
    for (int d = 0; d < a->ndim; d++)
        for (int t = 0; t < a->dim[d].n; t++)
            if (a->dim[d].t[t].axis == ax)
                s = LLVMBuildAdd(g->b, s, LLVMBuildMul(g->b, cgl_mono(g, &a->dim[d].t[t].coef), g->stride[a->tensor][d], ""), "");
    return s;
}

/* A masked vector load (store == NULL) or store at p: lanes off are neither read nor written. */
LLVMValueRef cgl_masked_op(cgl *g, LLVMTypeRef vt, int esize, LLVMValueRef p, LLVMValueRef mask,
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
LLVMValueRef cgl_splat(cgl *g, LLVMValueRef x, int vl)
{
    LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(x), (unsigned)vl);
    LLVMValueRef one = LLVMBuildInsertElement(g->b, LLVMGetPoison(vt), x, LLVMConstInt(g->i32, 0, 0), "");
    return LLVMBuildShuffleVector(g->b, one, LLVMGetPoison(vt), LLVMConstNull(LLVMVectorType(g->i32, (unsigned)vl)), "");
}

/* The i1 lanes k of a vl-lane mask with lo <= k < hi (lo NULL: 0 <= k). */
LLVMValueRef cgl_lane_range(cgl *g, int vl, LLVMValueRef lo, LLVMValueRef hi)
{
    LLVMValueRef lanes[64];
    for (int k = 0; k < vl; k++)
        lanes[k] = ci64(g, k);
    LLVMValueRef kv = LLVMConstVector(lanes, (unsigned)vl);
    LLVMValueRef m = LLVMBuildICmp(g->b, LLVMIntSLT, kv, cgl_splat(g, hi, vl), "");
    return lo ? LLVMBuildAnd(g->b, m, LLVMBuildICmp(g->b, LLVMIntSGE, kv, cgl_splat(g, lo, vl), ""), "") : m;
}

/* The mask of the lanes k < vl with from + k < end, and'ed with the scalar also (or NULL). */
LLVMValueRef cgl_lanes_below(cgl *g, int vl, LLVMValueRef from, LLVMValueRef end, LLVMValueRef also)
{
    LLVMValueRef left = LLVMBuildSub(g->b, end, from, "");
    if (also)   /* no lane when also is false */
        left = LLVMBuildSelect(g->b, also, left, ci64(g, 0), "");
    return cgl_lane_range(g, vl, NULL, left);
}
