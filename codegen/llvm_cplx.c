/*
 * llvm_cplx.c — complex64 and complex128 values for the LLVM code generator: a nest whose
 * compute type is complex (lower.c: compute_type, the output's dtype) holds each value as
 * an LLVM literal struct { re, im } of float or double (llvm_int.h: elem_type), which is
 * also how numpy lays out an element, so loads and stores are of the struct itself, with
 * the part's alignment.  mem2reg and SROA split the struct into its two parts; LLVM's
 * vectorizers then see plain float code.
 *
 * The arithmetic is the interpreter's (compiler/ir/interp.c): +, - and negation part by
 * part; a * b = (ar·br − ai·bi, ar·bi + ai·br), numpy's multiply, no conjugation; a / b by
 * Smith's method, numpy's.  The parts of +, − and × in expressions and sums carry the
 * reassoc and contract flags that real float arithmetic does (llvm_expr.c), so a
 * multiply-add into an accumulator may become FMAs; a product reduction multiplies in
 * order without them, as a real one does; division carries none.  There is no order on
 * complex numbers: max, min and the float functions are refused by the front ends
 * (bind.c, model_lazy.c), and refused here too, by name, should a statement reach the
 * code generator with one.  Computed in the part's own width: complex64 in float32 (the
 * interpreter computes in double, so complex64 results may differ from it in the last
 * bits; integer-valued data agrees exactly).
 */
#include "llvm_int.h"

static LLVMTypeRef part_type(cgl *g) { return g->nest->compute == EINC_C64 ? g->f32 : g->f64; }

static void fast(LLVMValueRef v)
{
    if (LLVMIsAInstruction(v) && LLVMCanValueUseFastMathFlags(v))
        LLVMSetFastMathFlags(v, LLVMFastMathAllowReassoc | LLVMFastMathAllowContract);
}

LLVMValueRef cgl_cx_re(cgl *g, LLVMValueRef v) { return LLVMBuildExtractValue(g->b, v, 0, ""); }
LLVMValueRef cgl_cx_im(cgl *g, LLVMValueRef v) { return LLVMBuildExtractValue(g->b, v, 1, ""); }

/* The complex value (re, im) of struct type t. */
static LLVMValueRef make(cgl *g, LLVMTypeRef t, LLVMValueRef re, LLVMValueRef im)
{
    if (LLVMIsAConstant(re) && LLVMIsAConstant(im))
        return LLVMConstStructInContext(g->ctx, (LLVMValueRef[]){ re, im }, 2, 0);
    LLVMValueRef v = LLVMBuildInsertValue(g->b, LLVMGetPoison(t), re, 0, "");
    return LLVMBuildInsertValue(g->b, v, im, 1, "");
}

LLVMValueRef cgl_cx_const(cgl *g, double re, double im)
{
    return make(g, ctype(g), LLVMConstReal(part_type(g), re), LLVMConstReal(part_type(g), im));
}

/* A real value of the part's type as a complex one (imaginary part 0). */
LLVMValueRef cgl_cx_real(cgl *g, LLVMValueRef re)
{
    return make(g, ctype(g), re, LLVMConstReal(part_type(g), 0));
}

/*
 * v, of dtype from (bfloat16 already widened to float32; bool 0 or 1), as the nest's
 * complex compute type: a complex one part by part, a real one or an integer as the real
 * part, as numpy casts.
 */
LLVMValueRef cgl_cx_from(cgl *g, LLVMValueRef v, einc_dtype from)
{
    LLVMTypeRef pt = part_type(g);
    if (dtype_is_complex(from))
        return make(g, ctype(g), LLVMBuildFPCast(g->b, cgl_cx_re(g, v), pt, ""),
                    LLVMBuildFPCast(g->b, cgl_cx_im(g, v), pt, ""));
    if (dtype_is_float(from))
        return cgl_cx_real(g, LLVMBuildFPCast(g->b, v, pt, ""));
    if (from == EINC_BOOL || dtype_is_unsigned(from))
        return cgl_cx_real(g, LLVMBuildUIToFP(g->b, v, pt, ""));
    return cgl_cx_real(g, LLVMBuildSIToFP(g->b, v, pt, ""));
}

/* A complex value of the compute type as complex dtype to (the other width, or itself). */
LLVMValueRef cgl_cx_to(cgl *g, LLVMValueRef v, einc_dtype to)
{
    LLVMTypeRef pt = to == EINC_C64 ? g->f32 : g->f64;
    return make(g, elem_type(g, to), LLVMBuildFPCast(g->b, cgl_cx_re(g, v), pt, ""),
                LLVMBuildFPCast(g->b, cgl_cx_im(g, v), pt, ""));
}

/* bool of a complex value: either part nonzero, as numpy's */
LLVMValueRef cgl_cx_nonzero(cgl *g, LLVMValueRef v)
{
    LLVMValueRef zero = LLVMConstReal(part_type(g), 0);
    return LLVMBuildOr(g->b, LLVMBuildFCmp(g->b, LLVMRealUNE, cgl_cx_re(g, v), zero, ""),
                       LLVMBuildFCmp(g->b, LLVMRealUNE, cgl_cx_im(g, v), zero, ""), "");
}

static LLVMValueRef op2(cgl *g, LLVMOpcode op, LLVMValueRef a, LLVMValueRef b, bool flags)
{
    LLVMValueRef r = LLVMBuildBinOp(g->b, op, a, b, "");
    if (flags)
        fast(r);
    return r;
}

static LLVMValueRef mul(cgl *g, LLVMValueRef a, LLVMValueRef b, bool flags)
{
    LLVMValueRef ar = cgl_cx_re(g, a), ai = cgl_cx_im(g, a), br = cgl_cx_re(g, b), bi = cgl_cx_im(g, b);
    LLVMValueRef re = op2(g, LLVMFSub, op2(g, LLVMFMul, ar, br, flags), op2(g, LLVMFMul, ai, bi, flags), flags);
    LLVMValueRef im = op2(g, LLVMFAdd, op2(g, LLVMFMul, ar, bi, flags), op2(g, LLVMFMul, ai, br, flags), flags);
    return make(g, ctype(g), re, im);
}

static LLVMValueRef addsub(cgl *g, LLVMOpcode op, LLVMValueRef a, LLVMValueRef b)
{
    return make(g, ctype(g), op2(g, op, cgl_cx_re(g, a), cgl_cx_re(g, b), true),
                op2(g, op, cgl_cx_im(g, a), cgl_cx_im(g, b), true));
}

static LLVMValueRef fabs_of(cgl *g, LLVMValueRef x)
{
    LLVMTypeRef t = LLVMTypeOf(x);
    unsigned id = LLVMLookupIntrinsicID("llvm.fabs", 9);
    return LLVMBuildCall2(g->b, LLVMIntrinsicGetType(g->ctx, id, &t, 1), LLVMGetIntrinsicDeclaration(g->m, id, &t, 1),
                          &x, 1, "");
}

/*
 * Smith's division, numpy's and interp.c's: scaled by b's larger part, so |b|^2 cannot
 * overflow.  With |br| >= |bi|: r = bi/br, d = br + bi·r, ((ar + ai·r)/d, (ai − ar·r)/d);
 * else r = br/bi, d = br·r + bi, ((ar·r + ai)/d, (ai·r − ar)/d).  Both are computed and one
 * selected, so the code stays branch-free for the vectorizers.
 */
static LLVMValueRef divide(cgl *g, LLVMValueRef a, LLVMValueRef b)
{
    LLVMValueRef ar = cgl_cx_re(g, a), ai = cgl_cx_im(g, a), br = cgl_cx_re(g, b), bi = cgl_cx_im(g, b);
    LLVMValueRef big_re = LLVMBuildFCmp(g->b, LLVMRealOGE, fabs_of(g, br), fabs_of(g, bi), "");
    /* the |br| >= |bi| form */
    LLVMValueRef r1 = op2(g, LLVMFDiv, bi, br, false);
    LLVMValueRef d1 = op2(g, LLVMFAdd, br, op2(g, LLVMFMul, bi, r1, false), false);
    LLVMValueRef re1 = op2(g, LLVMFDiv, op2(g, LLVMFAdd, ar, op2(g, LLVMFMul, ai, r1, false), false), d1, false);
    LLVMValueRef im1 = op2(g, LLVMFDiv, op2(g, LLVMFSub, ai, op2(g, LLVMFMul, ar, r1, false), false), d1, false);
    /* the other */
    LLVMValueRef r2 = op2(g, LLVMFDiv, br, bi, false);
    LLVMValueRef d2 = op2(g, LLVMFAdd, op2(g, LLVMFMul, br, r2, false), bi, false);
    LLVMValueRef re2 = op2(g, LLVMFDiv, op2(g, LLVMFAdd, op2(g, LLVMFMul, ar, r2, false), ai, false), d2, false);
    LLVMValueRef im2 = op2(g, LLVMFDiv, op2(g, LLVMFSub, op2(g, LLVMFMul, ai, r2, false), ar, false), d2, false);
    return make(g, ctype(g), LLVMBuildSelect(g->b, big_re, re1, re2, ""), LLVMBuildSelect(g->b, big_re, im1, im2, ""));
}

/* a combiner's name as an operation's ("max", not "max=") */
static const char *comb_word(ir_comb c)
{
    return c == IR_COMB_MAX ? "max" : c == IR_COMB_MIN ? "min" : ir_comb_name(c);
}

static LLVMValueRef refuse(cgl *g, const char *what)
{
    cc_error(g->c, EINC_ERR_DTYPE, -1, -1, "%s of %s: the CPU JIT computes +, -, *, / and sums and "
             "products of complex numbers only", what, einc_dtype_name(g->nest->compute));
    return LLVMGetPoison(ctype(g));
}

LLVMValueRef cgl_cx_identity(cgl *g, ir_comb comb)
{
    switch (comb) {
    case IR_COMB_SUM: case IR_COMB_MEAN: case IR_COMB_ASSIGN: return cgl_cx_const(g, 0, 0);
    case IR_COMB_PROD: return cgl_cx_const(g, 1, 0);
    case IR_COMB_MAX: case IR_COMB_MIN: case IR_COMB_COUNT: break;
    }
    return refuse(g, comb_word(comb));
}

LLVMValueRef cgl_cx_combine(cgl *g, ir_comb comb, LLVMValueRef acc, LLVMValueRef v)
{
    switch (comb) {
    case IR_COMB_SUM: case IR_COMB_MEAN: return addsub(g, LLVMFAdd, acc, v);
    case IR_COMB_PROD: return mul(g, acc, v, false);   /* in order, as a real prod */
    case IR_COMB_ASSIGN: return v;
    case IR_COMB_MAX: case IR_COMB_MIN: case IR_COMB_COUNT: break;
    }
    return refuse(g, comb_word(comb));
}

LLVMValueRef cgl_cx_unary(cgl *g, ir_op op, LLVMValueRef a)
{
    if (op != IR_NEG)
        return refuse(g, ir_op_name(op));
    return make(g, ctype(g), LLVMBuildFNeg(g->b, cgl_cx_re(g, a), ""), LLVMBuildFNeg(g->b, cgl_cx_im(g, a), ""));
}

LLVMValueRef cgl_cx_binary(cgl *g, ir_op op, LLVMValueRef a, LLVMValueRef b)
{
    switch (op) {
    case IR_ADD: return addsub(g, LLVMFAdd, a, b);
    case IR_SUB: return addsub(g, LLVMFSub, a, b);
    case IR_MUL: return mul(g, a, b, true);
    case IR_DIV: return divide(g, a, b);
    case IR_DIVZ: {     /* x / 0 is 0, as interp.c's */
        LLVMValueRef zero = cgl_cx_const(g, 0, 0);
        LLVMValueRef by0 = LLVMBuildNot(g->b, cgl_cx_nonzero(g, b), "");
        return LLVMBuildSelect(g->b, by0, zero, divide(g, a, b), "");
    }
    case IR_EQ: {
        LLVMValueRef e = LLVMBuildAnd(g->b, LLVMBuildFCmp(g->b, LLVMRealOEQ, cgl_cx_re(g, a), cgl_cx_re(g, b), ""),
                                      LLVMBuildFCmp(g->b, LLVMRealOEQ, cgl_cx_im(g, a), cgl_cx_im(g, b), ""), "");
        return cgl_cx_real(g, LLVMBuildUIToFP(g->b, e, part_type(g), ""));
    }
    default:
        break;
    }
    return refuse(g, ir_op_name(op));
}
