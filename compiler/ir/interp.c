/*
 * interp.c — the reference interpreter: runs bound index IR directly.
 *
 * It is the oracle every backend is tested against, so it is written to be obviously
 * right rather than fast: each statement walks its whole iteration space with an
 * odometer, evaluates the right-hand side as a tree at every point, and computes each
 * access dimension by dimension, asserting it lands inside the tensor.  Floating-point
 * work is done in double and integer work in 64-bit wrap-around arithmetic (uint64_t, so
 * overflow wraps as numpy's does instead of being undefined); results are rounded to the
 * output's dtype once, at the store.  Two exceptions, both to give numpy's answer:
 *   - a float sum carries Neumaier's compensation beside its double accumulator, so it is
 *     correctly rounded but for a few ulp whatever the length (a plain double sum of 10^6
 *     float64 values drifts further than numpy's pairwise one);
 *   - a float product is rounded to the output's dtype after every step, in order: numpy
 *     multiplies float32 in float32 one element after another, and where its running
 *     product underflows to 0 (or overflows to inf) it stays there, which a double product
 *     of the same elements would not.
 * An integer statement wraps to its output's width after every operation, as numpy's
 * einsum computes in the result type (an int8 product that overflows is wrapped before a
 * max sees it); unsigned statements compare and divide unsigned.  A complex statement
 * carries the imaginary part beside the real one, with numpy's plain multiply (no
 * conjugation); max, min and the float functions are refused on complex before the
 * interpreter runs (bind.c, model_lazy.c), so reaching one here is an einc bug.
 */
#include "ir.h"
#include "alloc.h"

#include <assert.h>
#include <math.h>
#include <string.h>

typedef struct value {
    double f, im;               /* a float, or a complex's parts */
    uint64_t i;                 /* an integer, wrapped to the statement's width */
} value;

typedef struct interp {
    const ir_prog *p;
    char *const *buf;           /* per tensor */
    const int64_t *const *stride;
    int64_t **shape;            /* per tensor, evaluated */
    int64_t *at;                /* per axis: the current index */
    bool fp;                    /* the statement computes in double */
    bool cx;                    /* ... in double complex (fp is set too) */
    bool uns;                   /* ... in unsigned integers */
    int bits;                   /* an integer statement's width */
    bool broken;                /* an expression or combiner no case knows (an einc bug) */
} interp;

/*
 * The element's offset (in elements; negative behind a view's data pointer, where a
 * stride is negative), or false when a guarded access falls outside the tensor.
 */
static bool offset(const interp *in, const ir_access *a, int64_t *off)
{
    *off = 0;
    for (int d = 0; d < a->ndim; d++) {
        const ir_dim *dim = &a->dim[d];
        int64_t i = dim->off;
        for (int t = 0; t < dim->n; t++)
            i += ir_mono_eval(in->p, &dim->t[t].coef) * in->at[dim->t[t].axis];
        if (a->guard && (i < 0 || i >= in->shape[a->tensor][d]))
            return false;
        assert(i >= 0 && i < in->shape[a->tensor][d]);
        *off += i * in->stride[a->tensor][d];
    }
    return true;
}

static value identity(interp *in, ir_comb c, bool fp);

static value load(interp *in, const ir_access *a)
{
    const char *base = in->buf[a->tensor];
    einc_dtype t = in->p->tensor[a->tensor].dtype;
    int64_t o;
    value v;
    int64_t iv = 0;
    double fv = 0, im = 0;
    bool isf = false;
    if (!offset(in, a, &o))     /* outside: the padding, its combiner's identity (ir.h) */
        return identity(in, a->pad, in->fp);
    switch (t) {
    case EINC_F32: fv = ((const float *)base)[o]; isf = true; break;
    case EINC_F64: fv = ((const double *)base)[o]; isf = true; break;
    case EINC_I32: iv = ((const int32_t *)base)[o]; break;
    case EINC_I64: iv = ((const int64_t *)base)[o]; break;
    case EINC_BOOL: iv = ((const uint8_t *)base)[o] != 0; break;
    case EINC_I8: iv = ((const int8_t *)base)[o]; break;
    case EINC_I16: iv = ((const int16_t *)base)[o]; break;
    case EINC_U8: iv = ((const uint8_t *)base)[o]; break;
    case EINC_U16: iv = ((const uint16_t *)base)[o]; break;
    case EINC_U32: iv = ((const uint32_t *)base)[o]; break;
    case EINC_U64:
        iv = (int64_t)((const uint64_t *)base)[o];
        fv = (double)((const uint64_t *)base)[o];
        isf = in->fp;           /* as a float it is the unsigned value */
        break;
    case EINC_F16: fv = f16_to_double(((const uint16_t *)base)[o]); isf = true; break;
    case EINC_BF16: fv = bf16_to_double(((const uint16_t *)base)[o]); isf = true; break;
    case EINC_C64:
        fv = ((const float *)base)[2 * o];
        im = ((const float *)base)[2 * o + 1];
        isf = true;
        break;
    case EINC_C128:
        fv = ((const double *)base)[2 * o];
        im = ((const double *)base)[2 * o + 1];
        isf = true;
        break;
    default: break;
    }
    /* an integer statement reads a float only as an index (model_nn.c's argmax): truncated
       as C's cast, and 0 outside int64's range, where the cast would be undefined */
    if (isf && !in->fp)
        iv = fv >= -9223372036854775808.0 && fv < 9223372036854775808.0 ? (int64_t)fv : 0;
    if (in->fp) {
        v.f = isf ? fv : (double)iv;
        v.im = im;
    } else {
        v.i = (uint64_t)iv;
    }
    return v;
}

/* v as a double, whatever the statement computes in */
static double as_double(const interp *in, value v)
{
    return in->fp ? v.f : in->uns ? (double)v.i : (double)(int64_t)v.i;
}

static void store(const interp *in, const ir_access *a, value v)
{
    char *base = in->buf[a->tensor];
    int64_t o;
    if (!offset(in, a, &o))
        return;                 /* stores are never guarded (ir.h) */
    switch (in->p->tensor[a->tensor].dtype) {
    case EINC_F32: ((float *)base)[o] = in->fp ? (float)v.f : (float)(int64_t)v.i; break;
    case EINC_F64: ((double *)base)[o] = in->fp ? v.f : (double)(int64_t)v.i; break;
    case EINC_I32: ((int32_t *)base)[o] = (int32_t)(uint32_t)v.i; break;
    case EINC_I64: ((int64_t *)base)[o] = (int64_t)v.i; break;
    case EINC_BOOL: ((uint8_t *)base)[o] = in->fp ? v.f != 0 : v.i != 0; break;
    case EINC_I8: ((int8_t *)base)[o] = (int8_t)(uint8_t)v.i; break;
    case EINC_I16: ((int16_t *)base)[o] = (int16_t)(uint16_t)v.i; break;
    case EINC_U8: ((uint8_t *)base)[o] = (uint8_t)v.i; break;
    case EINC_U16: ((uint16_t *)base)[o] = (uint16_t)v.i; break;
    case EINC_U32: ((uint32_t *)base)[o] = (uint32_t)v.i; break;
    case EINC_U64: ((uint64_t *)base)[o] = v.i; break;
    case EINC_F16: ((uint16_t *)base)[o] = f16_from_double(as_double(in, v)); break;
    case EINC_BF16: ((uint16_t *)base)[o] = bf16_from_double(as_double(in, v)); break;
    case EINC_C64:
        ((float *)base)[2 * o] = (float)as_double(in, v);
        ((float *)base)[2 * o + 1] = in->cx ? (float)v.im : 0;
        break;
    case EINC_C128:
        ((double *)base)[2 * o] = as_double(in, v);
        ((double *)base)[2 * o + 1] = in->cx ? v.im : 0;
        break;
    default: break;
    }
}

/* an integer result wrapped to the statement's width, sign-extended unless unsigned */
static uint64_t wrap(const interp *in, uint64_t x)
{
    if (in->bits >= 64)
        return x;
    uint64_t m = ((uint64_t)1 << in->bits) - 1, top = (uint64_t)1 << (in->bits - 1);
    x &= m;
    return in->uns || !(x & top) ? x : x | ~m;
}

static value cmul(value a, value b)
{
    value v = { .f = a.f * b.f - a.im * b.im, .im = a.f * b.im + a.im * b.f };
    return v;
}

/* Smith's division, numpy's: it scales by the larger part of b so |b|^2 cannot overflow */
static value cdiv(value a, value b)
{
    value v = { 0 };
    if (fabs(b.f) >= fabs(b.im)) {
        double r = b.im / b.f, d = b.f + b.im * r;
        v.f = (a.f + a.im * r) / d;
        v.im = (a.im - a.f * r) / d;
    } else {
        double r = b.f / b.im, d = b.f * r + b.im;
        v.f = (a.f * r + a.im) / d;
        v.im = (a.im * r - a.f) / d;
    }
    return v;
}


/* Integer division as the backends compute it: x / 0 is 0, and INT64_MIN / -1 wraps to
   INT64_MIN (numpy's result) instead of trapping, which C leaves undefined. */
static uint64_t idiv(const interp *in, uint64_t a, uint64_t b)
{
    if (b == 0)
        return 0;
    if (in->uns)
        return a / b;
    if ((int64_t)b == -1)
        return 0 - a;
    return (uint64_t)((int64_t)a / (int64_t)b);
}

/* A float function's value; an integer statement passes the operand through (ir.h). */
#define FLOAT_FN(expr)          \
    do {                        \
        if (!in->fp)            \
            return a;           \
        v.f = (expr);           \
        return v;               \
    } while (0)

static value load(interp *in, const ir_access *a);

/* A complex statement's operators; the others are refused before it runs. */
static value ceval(interp *in, const ir_expr *x, value a, value b)
{
    value v = { 0 };
    switch (x->op) {
    case IR_ACCESS: return load(in, &x->acc);
    case IR_CONST: v.f = x->c; return v;
    case IR_SIZE: v.f = (double)ir_mono_eval(in->p, &x->m); return v;
    case IR_AXIS: v.f = (double)in->at[x->axis]; return v;
    case IR_NEG: v.f = -a.f; v.im = -a.im; return v;
    case IR_ADD: v.f = a.f + b.f; v.im = a.im + b.im; return v;
    case IR_SUB: v.f = a.f - b.f; v.im = a.im - b.im; return v;
    case IR_MUL: return cmul(a, b);
    case IR_DIV: return cdiv(a, b);
    case IR_DIVZ: return b.f == 0 && b.im == 0 ? v : cdiv(a, b);
    case IR_EQ: v.f = a.f == b.f && a.im == b.im; return v;
    default: break;
    }
    in->broken = true;
    return v;
}

static value eval(interp *in, const ir_expr *x)
{
    value v = { 0 }, a = { 0 }, b = { 0 };
    int arity = ir_op_arity(x->op);
    if (arity >= 1)
        a = eval(in, x->a);
    if (arity == 2)
        b = eval(in, x->b);
    if (in->cx)
        return ceval(in, x, a, b);
    switch (x->op) {
    case IR_ACCESS:
        return load(in, &x->acc);
    case IR_CONST:
        if (in->fp)
            v.f = x->c;
        else
            v.i = ir_const_bits(x->c);
        return v;
    case IR_SIZE: {
        int64_t n = ir_mono_eval(in->p, &x->m);
        if (in->fp)
            v.f = (double)n;
        else
            v.i = (uint64_t)n;
        return v;
    }
    case IR_AXIS:
        if (in->fp)
            v.f = (double)in->at[x->axis];
        else
            v.i = (uint64_t)in->at[x->axis];
        return v;
    case IR_NEG:
        if (in->fp)
            v.f = -a.f;
        else
            v.i = wrap(in, 0 - a.i);
        return v;
    case IR_EXP: FLOAT_FN(exp(a.f));
    case IR_LOG: FLOAT_FN(log(a.f));
    case IR_SQRT: FLOAT_FN(sqrt(a.f));
    case IR_RSQRT: FLOAT_FN(1 / sqrt(a.f));
    case IR_TANH: FLOAT_FN(tanh(a.f));
    case IR_ERF: FLOAT_FN(erf(a.f));
    case IR_SIGMOID: FLOAT_FN(1 / (1 + exp(-a.f)));
    case IR_MUL: if (in->fp) v.f = a.f * b.f; else v.i = wrap(in, a.i * b.i); return v;
    case IR_ADD: if (in->fp) v.f = a.f + b.f; else v.i = wrap(in, a.i + b.i); return v;
    case IR_SUB: if (in->fp) v.f = a.f - b.f; else v.i = wrap(in, a.i - b.i); return v;
    case IR_DIV:
        if (in->fp)
            v.f = a.f / b.f;
        else
            v.i = idiv(in, a.i, b.i);
        return v;
    case IR_DIVZ:
        if (in->fp)
            v.f = b.f == 0 ? 0 : a.f / b.f;
        else
            v.i = idiv(in, a.i, b.i);
        return v;
    case IR_MAX:
        if (in->fp)
            v.f = isnan(a.f) || isnan(b.f) ? NAN : a.f > b.f ? a.f : b.f;
        else
            v.i = in->uns ? (a.i > b.i ? a.i : b.i) : (int64_t)a.i > (int64_t)b.i ? a.i : b.i;
        return v;
    case IR_MIN:
        if (in->fp)
            v.f = isnan(a.f) || isnan(b.f) ? NAN : a.f < b.f ? a.f : b.f;
        else
            v.i = in->uns ? (a.i < b.i ? a.i : b.i) : (int64_t)a.i < (int64_t)b.i ? a.i : b.i;
        return v;
    case IR_EQ:
        if (in->fp)
            v.f = a.f == b.f;
        else
            v.i = a.i == b.i;
        return v;
    case IR_OP_COUNT:
        break;
    }
    in->broken = true;          /* not an operator: interp_run reports it */
    return v;
}

#undef FLOAT_FN

static value identity(interp *in, ir_comb c, bool fp)
{
    value v = { 0 };
    switch (c) {
    case IR_COMB_PROD: if (fp) v.f = 1; else v.i = 1; return v;
    case IR_COMB_MAX: if (fp) v.f = -INFINITY; else v.i = in->uns ? 0 : (uint64_t)INT64_MIN; return v;
    case IR_COMB_MIN: if (fp) v.f = INFINITY; else v.i = in->uns ? UINT64_MAX : (uint64_t)INT64_MAX; return v;
    case IR_COMB_SUM: case IR_COMB_MEAN: case IR_COMB_ASSIGN:
        if (fp) v.f = 0; else v.i = 0;
        return v;
    case IR_COMB_COUNT:
        break;
    }
    in->broken = true;
    return v;
}

/* max/min propagate NaN, as numpy's do: once the accumulator is NaN it stays NaN. */
static value combine(interp *in, ir_comb c, bool fp, value acc, value v)
{
    switch (c) {
    case IR_COMB_SUM: case IR_COMB_MEAN:
        if (fp) { acc.f += v.f; acc.im += v.im; } else acc.i = wrap(in, acc.i + v.i);
        break;
    case IR_COMB_PROD:
        if (in->cx) acc = cmul(acc, v); else if (fp) acc.f *= v.f; else acc.i = wrap(in, acc.i * v.i);
        break;
    case IR_COMB_MAX:
        if (in->cx) in->broken = true;
        else if (fp) { if (v.f > acc.f || isnan(v.f)) { if (!isnan(acc.f)) acc.f = v.f; } }
        else if (in->uns ? v.i > acc.i : (int64_t)v.i > (int64_t)acc.i) acc.i = v.i;
        break;
    case IR_COMB_MIN:
        if (in->cx) in->broken = true;
        else if (fp) { if (v.f < acc.f || isnan(v.f)) { if (!isnan(acc.f)) acc.f = v.f; } }
        else if (in->uns ? v.i < acc.i : (int64_t)v.i < (int64_t)acc.i) acc.i = v.i;
        break;
    case IR_COMB_ASSIGN:
        acc = v;
        break;
    case IR_COMB_COUNT:
        in->broken = true;
        break;
    }
    return acc;
}

/* Advances the odometer over axes ax[0..n); false when it wraps around. */
static bool step(const interp *in, const int *ax, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        if (++in->at[ax[i]] < in->p->axis[ax[i]].size)
            return true;
        in->at[ax[i]] = 0;
    }
    return false;
}

static bool empty(const interp *in, const int *ax, int n)
{
    for (int i = 0; i < n; i++)
        if (in->p->axis[ax[i]].size == 0)
            return true;
    return false;
}

/*
 * acc + v with Neumaier's compensation: *comp gathers what each addition rounds away.  Once
 * the sum is infinite or NaN the compensation means nothing (inf - inf); run_stmt then
 * leaves it out.
 */
static double add_compensated(double acc, double v, double *comp)
{
    double t = acc + v;
    if (isfinite(t))
        *comp += fabs(acc) >= fabs(v) ? (acc - t) + v : (v - t) + acc;
    return t;
}

static void run_stmt(interp *in, const ir_stmt *st)
{
    einc_dtype odt = in->p->tensor[st->out.tensor].dtype;
    in->cx = dtype_is_complex(odt);
    in->fp = dtype_is_float(odt) || in->cx;
    in->uns = dtype_is_unsigned(odt);
    in->bits = dtype_is_int(odt) ? (int)dtype_size(odt) * 8 : 64;
    bool sum = in->fp && !in->cx && (st->comb == IR_COMB_SUM || st->comb == IR_COMB_MEAN);
    bool prod32 = odt == EINC_F32 && st->comb == IR_COMB_PROD;
    if (empty(in, st->free, st->nfree))
        return;
    for (int i = 0; i < st->nfree; i++)
        in->at[st->free[i]] = 0;
    do {
        value acc = st->accumulate ? load(in, &st->out) : identity(in, st->comb, in->fp);
        double comp = 0;
        if (!empty(in, st->red, st->nred)) {
            for (int i = 0; i < st->nred; i++)
                in->at[st->red[i]] = 0;
            do {
                value v = eval(in, st->rhs);
                if (sum)
                    acc.f = add_compensated(acc.f, v.f, &comp);
                else if (prod32)
                    acc.f = (float)(acc.f * v.f);
                else
                    acc = combine(in, st->comb, in->fp, acc, v);
            } while (step(in, st->red, st->nred));
        }
        if (sum && isfinite(acc.f))
            acc.f += comp;
        store(in, &st->out, acc);
    } while (step(in, st->free, st->nfree));
}

int interp_run(cc *c, const ir_prog *p, void *const *buf, const int64_t *const *strides)
{
    if (!p->bound)
        return cc_error(c, EINC_ERR_SHAPE, -1, -1, "the interpreter needs every size bound");
    arena A = { 0 };
    int rc = -1;
    interp in = { .p = p };
    char **b = ARENA_ARRAY(&A, char *, p->ntensor);
    const int64_t **st = ARENA_ARRAY(&A, const int64_t *, p->ntensor);
    in.shape = ARENA_ARRAY(&A, int64_t *, p->ntensor);
    in.at = ARENA_ARRAY(&A, int64_t, p->naxis + 1);
    void **owned = ARENA_ARRAY(&A, void *, p->ntensor);
    if (!b || !st || !in.shape || !in.at || !owned) {
        cc_nomem(c);
        goto out;
    }
    for (int t = 0; t < p->ntensor; t++) {
        const ir_tensor *T = &p->tensor[t];
        int64_t *shp = ARENA_ARRAY(&A, int64_t, T->ndim + 1);
        if (!shp) {
            cc_nomem(c);
            goto out;
        }
        for (int d = 0; d < T->ndim; d++)
            shp[d] = ir_mono_eval(p, &T->shape[d]);
        in.shape[t] = shp;
        if (strides && strides[t]) {
            st[t] = strides[t];
        } else {
            int64_t *s = ARENA_ARRAY(&A, int64_t, T->ndim + 1);
            if (!s) {
                cc_nomem(c);
                goto out;
            }
            int64_t acc = 1;
            for (int d = T->ndim - 1; d >= 0; d--) {
                s[d] = acc;
                acc *= shp[d];
            }
            st[t] = s;
        }
        b[t] = buf ? buf[t] : NULL;
        if (!b[t] && ir_tensor_elems(p, T) > 0) {
            int64_t n = ir_tensor_elems(p, T);
            size_t bytes = (size_t)(n > 0 ? n : 1) * dtype_size(T->dtype);
            if (T->role != IR_TEMP) {
                cc_error(c, EINC_ERR_ARG, T->begin, T->end, "no buffer for %s", T->name);
                goto out;
            }
            if (!(owned[t] = b[t] = einc_calloc(bytes, 1))) {
                cc_nomem(c);
                goto out;
            }
        }
    }
    in.buf = b;
    in.stride = st;
    for (int s = 0; s < p->nstmt && !in.broken; s++)
        run_stmt(&in, &p->stmt[s]);
    if (in.broken) {
        cc_error(c, EINC_ERR_INTERNAL, -1, -1,
                 "internal error in the interpreter: an operator or combiner it does not know");
        goto out;
    }
    rc = 0;
out:
    if (owned)
        for (int t = 0; t < p->ntensor; t++)
            einc_free(owned[t]);
    arena_free(&A);
    return rc;
}
