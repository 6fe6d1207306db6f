/*
 * model_nn.c — the layer language's torch.nn.functional built-ins beyond model.c's core:
 * activations, flatten, argmax/argmin, pooling, and the "did you mean" of an unknown
 * function.
 *
 * Every activation is a formula over the IR's existing operators (max, min, exp, log, tanh,
 * sigmoid, eq, divz), so the interpreter, the JIT, C and CUDA all get it without a case of
 * their own.  The IR has no select: where torch's definition is piecewise, the formula is
 * chosen so that each piece is exact on its side (max(x, 0) is x or 0, never a rounded
 * blend), and NaN stays NaN because max and min propagate it.
 */
#include "model_nn.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- activations ------------------------------------------------------------------------------ */

typedef struct nnctx {
    elab *E;
    int b, e;               /* the call's span, for broadcasting errors (none can happen) */
    einc_dtype t;           /* the result's dtype: x's, or float32 for an integer x */
} nnctx;

/* An error in an argument's value at [b, e); NULL. */
static val *arg_err(elab *E, int b, int e, const char *fmt, ...) CC_PRINTF(4, 5);
static val *arg_err(elab *E, int b, int e, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cc_error(E->c, EINC_ERR_ARG, b, e, "%s", msg);
    return NULL;
}

static lz *k(const nnctx *n, double v) { return lz_const(n->E, v, n->t); }
static lz *bin(const nnctx *n, ir_op op, lz *a, lz *b) { return lz_binary(n->E, op, a, b, n->b, n->e); }
static lz *un(const nnctx *n, ir_op op, lz *a) { return lz_unary(n->E, op, a); }

/*
 * log(1 + u) for u ≥ 0 without a log1p operator, accurate where u is tiny (softplus far
 * below zero): with w = 1 + u rounded, log(w) · u / (w − 1) cancels w's rounding error
 * (Goldberg, "What every computer scientist should know about floating-point arithmetic",
 * theorem 4); where w rounds to 1, u itself.
 */
static lz *log1p_of(const nnctx *n, lz *u)
{
    lz *w = bin(n, IR_ADD, k(n, 1), u);
    lz *wm1 = bin(n, IR_SUB, w, k(n, 1));
    lz *kahan = bin(n, IR_DIVZ, bin(n, IR_MUL, un(n, IR_LOG, w), u), wm1);
    return bin(n, IR_ADD, kahan, bin(n, IR_MUL, bin(n, IR_EQ, w, k(n, 1)), u));
}

/* softplus(x) = log(1 + exp(βx)) / β, and x itself where βx > threshold (as torch). */
static lz *softplus(const nnctx *n, lz *x, double beta, double thr)
{
    lz *z = bin(n, IR_MUL, x, k(n, beta));
    lz *absz = bin(n, IR_MAX, z, un(n, IR_NEG, z));
    /* max(z, 0) + log1p(exp(−|z|)): no overflow on either side */
    lz *sp = bin(n, IR_DIV, bin(n, IR_ADD, bin(n, IR_MAX, z, k(n, 0)),
                                  log1p_of(n, un(n, IR_EXP, un(n, IR_NEG, absz)))), k(n, beta));
    /*
     * m = 1 where βx ≤ threshold (0 for NaN: max propagates it and NaN equals nothing).
     * The result m·sp + (1 − m)·x needs both pieces finite where their weight is 0, so each
     * is clamped on the side where it is not used: sp ≤ (threshold + 1)/β where βx ≤
     * threshold (it is at most threshold/β + log 2/β there), x ≥ threshold/β − 1 where βx >
     * threshold.
     */
    lz *m = bin(n, IR_EQ, bin(n, IR_MAX, z, k(n, thr)), k(n, thr));
    lz *spc = bin(n, IR_MIN, sp, k(n, (thr + 1) / beta));
    lz *xc = bin(n, IR_MAX, x, k(n, thr / beta - 1));
    return bin(n, IR_ADD, bin(n, IR_MUL, m, spc), bin(n, IR_MUL, bin(n, IR_SUB, k(n, 1), m), xc));
}

static const char *const p_x[] = { "x" };
static const char *const p_leaky[] = { "x", "negative_slope" };
static const char *const p_elu[] = { "x", "alpha" };
static const char *const p_softplus[] = { "x", "beta", "threshold" };
static const char *const p_gelu[] = { "x", "approximate" };
static const char *const p_flatten[] = { "x", "start_dim", "end_dim" };
static const char *const p_argmax[] = { "x", "dim", "keepdim" };
static const char *const p_adaptive[] = { "x", "output_size" };
static const char *const p_maxpool[] = { "x", "kernel_size", "stride", "padding", "dilation", "ceil_mode" };
static const char *const p_avgpool[] = { "x", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad" };

static const sig nn_sigs[] = {
    { "silu", 1, p_x, 1 },
    { "leaky_relu", 2, p_leaky, 1 },
    { "elu", 2, p_elu, 1 },
    { "softplus", 3, p_softplus, 1 },
    { "hardswish", 1, p_x, 1 },
    { "gelu", 2, p_gelu, 1 },
    { "flatten", 3, p_flatten, 1 },
    { "argmax", 3, p_argmax, 1 },
    { "argmin", 3, p_argmax, 1 },
    { "max_pool2d", 6, p_maxpool, 2 },
    { "avg_pool2d", 6, p_avgpool, 2 },
    { "adaptive_avg_pool2d", 2, p_adaptive, 2 },
    { "adaptive_max_pool2d", 2, p_adaptive, 2 },
};

/* An optional number argument, or dflt where it is not given. */
static bool opt_num(elab *E, const val *v, const char *fn, const char *what, double dflt, double *out)
{
    if (!v) {
        *out = dflt;
        return true;
    }
    return get_num(E, v, fn, what, out);
}

static val *activation(elab *E, const el_node *call, const char *fn, val **arg)
{
    lz *x = need_tensor(E, arg[0], fn, "x");
    if (!x)
        return NULL;
    nnctx n = { E, call->begin, call->end, float_of(x->dtype) };
    lz *r = NULL;
    if (strcmp(fn, "silu") == 0) {
        r = bin(&n, IR_MUL, x, un(&n, IR_SIGMOID, x));
    } else if (strcmp(fn, "hardswish") == 0) {          /* x · relu6(x + 3) / 6 */
        lz *r6 = bin(&n, IR_MIN, bin(&n, IR_MAX, bin(&n, IR_ADD, x, k(&n, 3)), k(&n, 0)), k(&n, 6));
        r = bin(&n, IR_DIV, bin(&n, IR_MUL, x, r6), k(&n, 6));
    } else if (strcmp(fn, "leaky_relu") == 0) {         /* max(x, 0) + s · min(x, 0) */
        double s;
        if (!opt_num(E, arg[1], fn, "negative_slope", 0.01, &s))
            return NULL;
        r = bin(&n, IR_ADD, bin(&n, IR_MAX, x, k(&n, 0)), bin(&n, IR_MUL, k(&n, s), bin(&n, IR_MIN, x, k(&n, 0))));
    } else if (strcmp(fn, "elu") == 0) {                /* max(x, 0) + α · (exp(min(x, 0)) − 1) */
        double a;
        if (!opt_num(E, arg[1], fn, "alpha", 1.0, &a))
            return NULL;
        lz *neg = bin(&n, IR_SUB, un(&n, IR_EXP, bin(&n, IR_MIN, x, k(&n, 0))), k(&n, 1));
        r = bin(&n, IR_ADD, bin(&n, IR_MAX, x, k(&n, 0)), bin(&n, IR_MUL, k(&n, a), neg));
    } else if (strcmp(fn, "softplus") == 0) {
        double beta, thr;
        if (!opt_num(E, arg[1], fn, "beta", 1.0, &beta) || !opt_num(E, arg[2], fn, "threshold", 20.0, &thr))
            return NULL;
        if (!(beta > 0) || !isfinite(beta) || !isfinite(thr)) {
            /* a default is never the culprit */
            const val *bad = arg[1] && !(beta > 0 && isfinite(beta)) ? arg[1] : arg[2];
            return arg_err(E, bad->begin, bad->end,
                           "softplus: beta must be a positive number and threshold a finite one");
        }
        r = softplus(&n, x, beta, thr);
    } else {                                            /* gelu */
        const char *mode = "none";
        if (arg[1] && arg[1]->kind != V_STRING)
            return arg_err(E, arg[1]->begin, arg[1]->end, "gelu: approximate must be 'none' or 'tanh'");
        if (arg[1])
            mode = arg[1]->str;
        if (strcmp(mode, "none") == 0) {                /* x/2 · (1 + erf(x/√2)) */
            lz *e = un(&n, IR_ERF, bin(&n, IR_MUL, x, k(&n, 0.70710678118654752440)));
            r = bin(&n, IR_MUL, bin(&n, IR_MUL, x, k(&n, 0.5)), bin(&n, IR_ADD, k(&n, 1), e));
        } else if (strcmp(mode, "tanh") == 0) {         /* x/2 · (1 + tanh(√(2/π) (x + 0.044715 x³))) */
            lz *x3 = bin(&n, IR_MUL, bin(&n, IR_MUL, x, x), x);
            lz *in = bin(&n, IR_MUL, k(&n, 0.79788456080286535588),
                         bin(&n, IR_ADD, x, bin(&n, IR_MUL, k(&n, 0.044715), x3)));
            r = bin(&n, IR_MUL, bin(&n, IR_MUL, x, k(&n, 0.5)), bin(&n, IR_ADD, k(&n, 1), un(&n, IR_TANH, in)));
        } else {
            return arg_err(E, arg[1]->begin, arg[1]->end,
                           "gelu: approximate must be 'none' or 'tanh', not '%s'", mode);
        }
    }
    return tensor_val(E, r, call->begin, call->end);
}

/* ---- flatten ------------------------------------------------------------------------------- */

/* flatten(x, start_dim=1, end_dim=-1): dimensions start_dim..end_dim become one, as torch. */
static val *flatten(elab *E, const el_node *call, val **arg)
{
    const char *fn = "flatten";
    lz *x = need_tensor(E, arg[0], fn, "x");
    if (!x)
        return NULL;
    val one = { .kind = V_NUMBER, .num = 1, .is_int = true, .begin = call->begin, .end = call->end };
    val last = { .kind = V_NUMBER, .num = -1, .is_int = true, .begin = call->begin, .end = call->end };
    int s, e;
    if (!get_dim(E, arg[1] ? arg[1] : &one, fn, x->ndim, &s) || !get_dim(E, arg[2] ? arg[2] : &last, fn, x->ndim, &e))
        return NULL;
    if (x->ndim == 0) {     /* torch.flatten of a 0-d tensor is 1-d of size 1 */
        int64_t one_elem = 1;
        int t = materialize(E, x);
        return t < 0 ? NULL : tensor_val(E, lz_view(E, t, 1, &one_elem, NULL), call->begin, call->end);
    }
    if (s > e)
        return arg_err(E, call->begin, call->end, "flatten: start_dim %d comes after end_dim %d", s, e);
    if (s == e)
        return tensor_val(E, x, call->begin, call->end);
    /* rearrange(x, 'a0 a1 a2 a3 -> a0 (a1 a2) a3') */
    char pat[EINC_MAX_RANK * 12 + 16];     /* " (a12)" and "a12 " per dimension */
    size_t len = 0;
    for (int d = 0; d < x->ndim; d++)
        len += (size_t)snprintf(pat + len, sizeof pat - len, "a%d ", d);
    len += (size_t)snprintf(pat + len, sizeof pat - len, "->");
    for (int d = 0; d < x->ndim; d++)
        len += (size_t)snprintf(pat + len, sizeof pat - len, " %sa%d%s", d == s ? "(" : "", d, d == e ? ")" : "");
    char *text = arena_strndup(E->A, pat, len);
    el_arg *args = ARENA_ARRAY(E->A, el_arg, 2);
    val *pv = ARENA_NEW(E->A, val);
    if (!text || !args || !pv)
        return cc_nomem(E->c), NULL;
    *pv = (val){ .kind = V_STRING, .str = text, .str_begin = call->begin, .begin = call->begin, .end = call->end };
    el_node c2 = *call;
    c2.nargs = 2;
    c2.args = args;
    val *pos[2] = { arg[0], pv };
    return pattern_call(E, &c2, pos, "rearrange");
}

/* ---- argmax, argmin ------------------------------------------------------------------------ */

/*
 * argmax(x, dim=None, keepdim=0): the first index of the maximum along dim, int64, as torch
 * (NaN counts as the maximum, and argmin's minimum).  The IR's combiners keep a value, not
 * where it was, so it takes two reductions: m = max over dim, then the least index i whose
 * element is m (or is NaN, where m is NaN since max propagates it), as
 *     min over i of  i + D · (1 − hit),   hit = eq(x, m) + (1 − eq(x, x)),
 * computed in float64, where every index (< 2^53) and every float32 value is exact.
 */
static val *argext(elab *E, const el_node *call, val **arg, bool isMax)
{
    const char *fn = isMax ? "argmax" : "argmin";
    lz *x = need_tensor(E, arg[0], fn, "x");
    if (!x)
        return NULL;
    int64_t keepdim = 0;
    if (arg[2] && !get_int(E, arg[2], fn, "keepdim", &keepdim))
        return NULL;
    int ndim0 = x->ndim;
    int dim = 0;
    bool all = is_none(arg[1]);
    if (!all && !get_dim(E, arg[1], fn, x->ndim, &dim))
        return NULL;
    if (all && x->ndim > 1) {   /* dim=None: over the flattened tensor */
        val zero = { .kind = V_NUMBER, .num = 0, .is_int = true, .begin = call->begin, .end = call->end };
        val *fa[3] = { arg[0], &zero, NULL };
        val *f = flatten(E, call, fa);
        if (!f)
            return NULL;
        x = f->t;
    }
    if (x->ndim == 0)
        return tensor_val(E, lz_const(E, 0, EINC_I64), call->begin, call->end);
    if (x->shape[dim] == 0)
        return arg_err(E, call->begin, call->end, "%s: cannot take the %s of an empty dimension", fn,
                       isMax ? "maximum" : "minimum");
    if (x->dtype == EINC_BOOL)
        x = lz_binary(E, IR_MUL, x, lz_const(E, 1, EINC_I64), call->begin, call->end);
    int t = x ? materialize(E, x) : -1;
    lz *X = t >= 0 ? lz_tensor(E, t) : NULL;
    int *ax = X ? axes_for(E, X) : NULL;
    if (!ax)
        return NULL;
    bool keep[EINC_MAX_RANK];
    for (int d = 0; d < X->ndim; d++)
        keep[d] = d != dim;
    int m = reduce_to(E, X, keep, isMax ? IR_COMB_MAX : IR_COMB_MIN, false, ax, X->dtype);
    if (m < 0)
        return NULL;
    /* the indices 0..D-1 along dim */
    int64_t D = X->shape[dim];
    int idx = new_tensor(E, NULL, IR_TEMP, EINC_I64, 1, &D, -1, -1);
    int *iax = idx >= 0 ? fresh_axes(E, 1, &D) : NULL;
    if (!iax || add_stmt(E, access_axes(E, idx, iax), IR_COMB_ASSIGN, ex_axis(E, iax[0]), false) < 0)
        return NULL;
    lz *I = lz_view(E, idx, X->ndim, X->shape, &dim);
    nnctx n = { E, call->begin, call->end, EINC_F64 };
    lz *M = lz_tensor(E, m);
    lz *hit = bin(&n, IR_ADD, bin(&n, IR_EQ, X, M), bin(&n, IR_SUB, k(&n, 1), bin(&n, IR_EQ, X, X)));
    lz *cand = bin(&n, IR_ADD, bin(&n, IR_MUL, I, k(&n, 1)),
                   bin(&n, IR_MUL, k(&n, (double)D), bin(&n, IR_SUB, k(&n, 1), hit)));
    if (!cand)
        return NULL;
    cand->dtype = EINC_F64;
    int r = reduce_to(E, cand, keep, IR_COMB_MIN, false, ax, EINC_F64);
    if (r < 0)
        return NULL;
    int64_t ksh[EINC_MAX_RANK];
    int oax[EINC_MAX_RANK];
    for (int d = 0; d < X->ndim; d++) {
        ksh[d] = keep[d] ? X->shape[d] : 1;
        oax[d] = keep[d] ? ax[d] : -1;
    }
    int out = new_tensor(E, NULL, IR_TEMP, EINC_I64, X->ndim, ksh, -1, -1);
    if (out < 0 || add_stmt(E, access_axes(E, out, oax), IR_COMB_ASSIGN, ex_load(E, access_axes(E, r, oax)), false) < 0)
        return NULL;
    if (all) {      /* a 0-d index, or keepdim's ones in x's rank */
        int64_t ones[EINC_MAX_RANK];
        for (int d = 0; d < ndim0; d++)
            ones[d] = 1;
        int td = -1;
        return tensor_val(E, lz_view(E, out, keepdim ? ndim0 : 0, ones, &td), call->begin, call->end);
    }
    if (keepdim)
        return tensor_val(E, lz_tensor(E, out), call->begin, call->end);
    int td[EINC_MAX_RANK];
    for (int d = 0; d < X->ndim; d++)
        td[d] = d < dim ? d : d == dim ? -1 : d - 1;
    int64_t rsh[EINC_MAX_RANK];
    for (int d = 0, j = 0; d < X->ndim; d++)
        if (d != dim)
            rsh[j++] = X->shape[d];
    return tensor_val(E, lz_view(E, out, X->ndim - 1, rsh, td), call->begin, call->end);
}

/* ---- pooling ------------------------------------------------------------------------------- */

/*
 * A [O, K] or [O] table over one side of a pooling window, from a guarded read of a tensor
 * of L ones at o·s + k·d − off, which is 1 inside and 0 outside:
 *   penalty (max): log of it, 0 inside and −inf at padding, added to x so that padding
 *                  never wins the max, whatever x holds (x + 0 is x exactly);
 *   count (avg):   its sum over k, the window's length along this side.
 */
static int side_table(elab *E, int64_t O, int64_t K, int64_t s, int64_t d, int64_t off, int64_t L, bool count,
                      einc_dtype t)
{
    int one = new_tensor(E, NULL, IR_TEMP, t, 1, &L, -1, -1);
    int *la = one >= 0 ? fresh_axes(E, 1, &L) : NULL;
    if (!la || add_stmt(E, access_axes(E, one, la), IR_COMB_ASSIGN, ex_const(E, 1), false) < 0)
        return -1;
    int64_t sh[2] = { O, K };
    int tab = new_tensor(E, NULL, IR_TEMP, t, count ? 1 : 2, sh, -1, -1);
    int ao = O > 1 ? new_axis(E, O) : -1, ak = K > 1 ? new_axis(E, K) : -1;
    if (tab < 0 || E->c->failed)
        return -1;
    dimspec rd[1] = { { 2, { ao, ak }, { s, d }, -off } };
    dimspec td[2] = { { 1, { ao }, { 1 }, 0 }, { 1, { ak }, { 1 }, 0 } };
    ir_expr *in = ex_load(E, access_affine(E, one, rd, true));
    if (add_stmt(E, access_affine(E, tab, td, false), count ? IR_COMB_SUM : IR_COMB_ASSIGN,
                 count ? in : ex(E, IR_LOG, in, NULL), false) < 0)
        return -1;
    return tab;
}

static val *pool2d(elab *E, const el_node *call, val **arg, bool isMax)
{
    const char *fn = isMax ? "max_pool2d" : "avg_pool2d";
    lz *x = need_tensor(E, arg[0], fn, "x");
    int64_t k[2], s[2], p[2] = { 0, 0 }, d[2] = { 1, 1 }, ceil = 0, incl = 1;
    if (!x || !get_pair(E, arg[1], fn, "kernel_size", k))
        return NULL;
    val *vceil = arg[isMax ? 5 : 4];
    if ((!is_none(arg[2]) && !get_pair(E, arg[2], fn, "stride", s)) ||
        (arg[3] && !get_pair(E, arg[3], fn, "padding", p)) ||
        (isMax && arg[4] && !get_pair(E, arg[4], fn, "dilation", d)) ||
        (vceil && !get_int(E, vceil, fn, "ceil_mode", &ceil)) ||
        (!isMax && arg[5] && !get_int(E, arg[5], fn, "count_include_pad", &incl)))
        return NULL;
    if (is_none(arg[2]))
        s[0] = k[0], s[1] = k[1];       /* stride=None: the kernel size, as torch */
    if (x->ndim != 3 && x->ndim != 4)
        return shape_err(E, arg[0]->begin, arg[0]->end, "%s: expected a 3-d (C, H, W) or 4-d (N, C, H, W) "
                         "input, got %d-d", fn, x->ndim);
    if (!dtype_is_float(x->dtype))
        return shape_err(E, arg[0]->begin, arg[0]->end, "%s: x must be a float tensor, not %s", fn,
                         einc_dtype_name(x->dtype));
    int lead = x->ndim - 2;
    int64_t in[2] = { x->shape[lead], x->shape[lead + 1] }, out[2];
    bool guard = false;
    for (int i = 0; i < 2; i++) {
        if (k[i] < 1 || s[i] < 1 || d[i] < 1 || p[i] < 0)
            return arg_err(E, call->begin, call->end, "%s: kernel_size, stride and dilation must be positive "
                           "and padding non-negative (kernel_size %lld, stride %lld, padding %lld, dilation "
                           "%lld)", fn, (long long)k[i], (long long)s[i], (long long)p[i], (long long)d[i]);
        if (p[i] > k[i] / 2)
            return arg_err(E, call->begin, call->end, "%s: padding should be at most half of kernel_size, "
                           "but got padding=%lld and kernel_size=%lld", fn, (long long)p[i], (long long)k[i]);
        /* torch's pooling_output_shape: the last window must start inside the input or the
           left padding */
        int64_t num = in[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1 + (ceil ? s[i] - 1 : 0);
        out[i] = num < 0 ? 0 : num / s[i] + 1;
        if (ceil && out[i] > 0 && (out[i] - 1) * s[i] >= in[i] + p[i])
            out[i]--;
        if (out[i] < 1)
            return shape_err(E, call->begin, call->end, "%s: the output %s would be empty: input %lld, "
                             "kernel_size %lld, padding %lld, dilation %lld", fn, i ? "width" : "height",
                             (long long)in[i], (long long)k[i], (long long)p[i], (long long)d[i]);
        guard |= p[i] > 0 || (out[i] - 1) * s[i] + (k[i] - 1) * d[i] - p[i] >= in[i];
    }
    int tx = materialize(E, x);
    if (tx < 0)
        return NULL;
    int64_t ysh[4];
    int ax[4];
    dimspec yd[4], xd[4];
    for (int i = 0; i < lead; i++) {
        ysh[i] = x->shape[i];
        ax[i] = ysh[i] > 1 ? new_axis(E, ysh[i]) : -1;
        yd[i] = xd[i] = (dimspec){ 1, { ax[i] }, { 1 }, 0 };
    }
    int ao[2], ak[2];
    for (int i = 0; i < 2; i++) {
        ysh[lead + i] = out[i];
        ao[i] = out[i] > 1 ? new_axis(E, out[i]) : -1;
        ak[i] = k[i] > 1 ? new_axis(E, k[i]) : -1;
        yd[lead + i] = (dimspec){ 1, { ao[i] }, { 1 }, 0 };
        xd[lead + i] = (dimspec){ 2, { ao[i], ak[i] }, { s[i], d[i] }, -p[i] };
    }
    int y = new_tensor(E, NULL, IR_TEMP, x->dtype, x->ndim, ysh, -1, -1);
    if (y < 0 || E->c->failed)
        return NULL;
    ir_expr *rhs = ex_load(E, access_affine(E, tx, xd, guard));
    if (isMax && guard) {
        for (int i = 0; i < 2; i++) {
            int pen = side_table(E, out[i], k[i], s[i], d[i], p[i], in[i], false, x->dtype);
            if (pen < 0)
                return NULL;
            dimspec pd[2] = { { 1, { ao[i] }, { 1 }, 0 }, { 1, { ak[i] }, { 1 }, 0 } };
            rhs = ex(E, IR_ADD, rhs, ex_load(E, access_affine(E, pen, pd, false)));
        }
    }
    if (add_stmt(E, access_affine(E, y, yd, false), isMax ? IR_COMB_MAX : IR_COMB_SUM, rhs, false) < 0)
        return NULL;
    lz *r = lz_tensor(E, y);
    if (!isMax) {       /* ÷ the window's count, a product of one count per side */
        for (int i = 0; i < 2; i++) {
            int64_t L = incl ? in[i] + 2 * p[i] : in[i], off = incl ? 0 : p[i];
            int cnt = side_table(E, out[i], k[i], s[i], 1, off, L, true, x->dtype);
            if (cnt < 0)
                return NULL;
            int64_t vsh[4] = { 1, 1, 1, 1 };
            vsh[lead + i] = out[i];
            int td = lead + i;
            r = lz_binary(E, IR_DIV, r, lz_view(E, cnt, x->ndim, vsh, &td), call->begin, call->end);
        }
    }
    return tensor_val(E, r, call->begin, call->end);
}

/*
 * Adaptive pooling's windows along one side, torch's: output o covers inputs
 * [⌊o·I/O⌋, ⌈(o+1)·I/O⌉), whose lengths vary, so they are a [O, I] table of membership
 * rather than an affine read: 1 (or 0 in log form, for max) inside the window, 0 (−inf)
 * outside.  It is computed in integers from the axes (exact for any size), then
 * converted.
 */
static int window_table(elab *E, int64_t O, int64_t I, bool logged, einc_dtype t)
{
    int64_t sh[2] = { O, I };
    int mi = new_tensor(E, NULL, IR_TEMP, EINC_I64, 2, sh, -1, -1);
    int mf = new_tensor(E, NULL, IR_TEMP, t, 2, sh, -1, -1);
    int *ax = mi >= 0 && mf >= 0 ? fresh_axes(E, 2, sh) : NULL;
    if (!ax)
        return -1;
    ir_expr *o = O > 1 ? ex_axis(E, ax[0]) : ex_const(E, 0), *h = I > 1 ? ex_axis(E, ax[1]) : ex_const(E, 0);
    ir_expr *start = ex(E, IR_DIV, ex(E, IR_MUL, o, ex_const(E, (double)I)), ex_const(E, (double)O));
    ir_expr *o1 = ex(E, IR_ADD, O > 1 ? ex_axis(E, ax[0]) : ex_const(E, 0), ex_const(E, 1));
    ir_expr *end = ex(E, IR_DIV, ex(E, IR_ADD, ex(E, IR_MUL, o1, ex_const(E, (double)I)), ex_const(E, (double)(O - 1))),
                      ex_const(E, (double)O));
    /* start ≤ h  ⇔  min(h − start, 0) = 0;  h < end  ⇔  min(end − 1 − h, 0) = 0 */
    ir_expr *h2 = I > 1 ? ex_axis(E, ax[1]) : ex_const(E, 0);
    ir_expr *lo = ex(E, IR_EQ, ex(E, IR_MIN, ex(E, IR_SUB, h, start), ex_const(E, 0)), ex_const(E, 0));
    ir_expr *hi = ex(E, IR_EQ, ex(E, IR_MIN, ex(E, IR_SUB, ex(E, IR_SUB, end, ex_const(E, 1)), h2), ex_const(E, 0)),
                     ex_const(E, 0));
    int oax[2] = { O > 1 ? ax[0] : -1, I > 1 ? ax[1] : -1 };
    if (add_stmt(E, access_axes(E, mi, oax), IR_COMB_ASSIGN, ex(E, IR_MUL, lo, hi), false) < 0)
        return -1;
    ir_expr *in = ex_load(E, access_axes(E, mi, oax));
    if (add_stmt(E, access_axes(E, mf, oax), IR_COMB_ASSIGN, logged ? ex(E, IR_LOG, in, NULL) : in, false) < 0)
        return -1;
    return mf;
}

/* adaptive_avg_pool2d(x, output_size) / adaptive_max_pool2d: one side at a time (W, then H). */
static val *adaptive_pool2d(elab *E, const el_node *call, val **arg, bool isMax)
{
    const char *fn = isMax ? "adaptive_max_pool2d" : "adaptive_avg_pool2d";
    lz *x = need_tensor(E, arg[0], fn, "x");
    if (!x)
        return NULL;
    if (x->ndim != 3 && x->ndim != 4)
        return shape_err(E, arg[0]->begin, arg[0]->end, "%s: expected a 3-d (C, H, W) or 4-d (N, C, H, W) "
                         "input, got %d-d", fn, x->ndim);
    if (!dtype_is_float(x->dtype))
        return shape_err(E, arg[0]->begin, arg[0]->end, "%s: x must be a float tensor, not %s", fn,
                         einc_dtype_name(x->dtype));
    int lead = x->ndim - 2;
    int64_t in[2] = { x->shape[lead], x->shape[lead + 1] }, out[2];
    const val *os = arg[1];
    if (os->kind == V_TUPLE && os->n != 2)
        return arg_err(E, os->begin, os->end, "%s: output_size must be an integer or a pair", fn);
    for (int i = 0; i < 2; i++) {       /* an int, a pair, or a pair with none: the input's size */
        const val *v = os->kind == V_TUPLE && os->n == 2 ? os->item[i] : os;
        if (is_none(v))
            out[i] = in[i];
        else if (!get_int(E, v, fn, "output_size", &out[i]))
            return NULL;
        if (out[i] < 1)
            return arg_err(E, os->begin, os->end, "%s: output_size must be positive, got %lld", fn,
                           (long long)out[i]);
    }
    int t = materialize(E, x);
    if (t < 0)
        return NULL;
    /* side 1 (W) then side 0 (H): cur[..., H', W'] → next with that side pooled */
    int64_t sh[4];
    for (int d = 0; d < x->ndim; d++)
        sh[d] = x->shape[d];
    for (int side = 1; side >= 0; side--) {
        int dd = lead + side;
        int win = window_table(E, out[side], in[side], isMax, x->dtype);
        int64_t nsh[4];
        memcpy(nsh, sh, sizeof nsh);
        nsh[dd] = out[side];
        int nt = new_tensor(E, NULL, IR_TEMP, x->dtype, x->ndim, nsh, -1, -1);
        if (win < 0 || nt < 0)
            return NULL;
        dimspec cd[4], nd[4];
        int ai = in[side] > 1 ? new_axis(E, in[side]) : -1, ao = out[side] > 1 ? new_axis(E, out[side]) : -1;
        for (int d = 0; d < x->ndim; d++) {
            int a = d == dd ? -1 : sh[d] > 1 ? new_axis(E, sh[d]) : -1;
            cd[d] = nd[d] = (dimspec){ 1, { a }, { 1 }, 0 };
        }
        cd[dd] = (dimspec){ 1, { ai }, { 1 }, 0 };
        nd[dd] = (dimspec){ 1, { ao }, { 1 }, 0 };
        dimspec wd[2] = { { 1, { ao }, { 1 }, 0 }, { 1, { ai }, { 1 }, 0 } };
        if (E->c->failed)
            return NULL;
        ir_expr *rhs = ex(E, isMax ? IR_ADD : IR_MUL, ex_load(E, access_affine(E, t, cd, false)),
                          ex_load(E, access_affine(E, win, wd, false)));
        if (add_stmt(E, access_affine(E, nt, nd, false), isMax ? IR_COMB_MAX : IR_COMB_SUM, rhs, false) < 0)
            return NULL;
        t = nt;
        memcpy(sh, nsh, sizeof sh);
    }
    lz *r = lz_tensor(E, t);
    if (!isMax) {       /* ÷ the windows' lengths, one per side */
        for (int side = 0; side < 2; side++) {
            int win = window_table(E, out[side], in[side], false, x->dtype);
            lz *w = win >= 0 ? lz_tensor(E, win) : NULL;
            int *wax = w ? axes_for(E, w) : NULL;
            bool keep[2] = { true, false };
            int len = wax ? reduce_to(E, w, keep, IR_COMB_SUM, false, wax, x->dtype) : -1;
            if (len < 0)
                return NULL;
            int64_t vsh[4] = { 1, 1, 1, 1 };
            vsh[lead + side] = out[side];
            int td[2] = { lead + side, -1 };
            r = lz_binary(E, IR_DIV, r, lz_view(E, len, x->ndim, vsh, td), call->begin, call->end);
        }
    }
    return tensor_val(E, r, call->begin, call->end);
}

/* ---- dispatch ------------------------------------------------------------------------------ */

val *nn_call(elab *E, const el_node *x, val *const *pos, bool *found)
{
    *found = false;
    for (size_t i = 0; i < sizeof nn_sigs / sizeof *nn_sigs; i++) {
        if (strcmp(nn_sigs[i].name, x->name) != 0)
            continue;
        *found = true;
        val *arg[8] = { 0 };    /* no built-in here takes more */
        if (!bind_args(E, x, &nn_sigs[i], pos, arg))
            return NULL;
        if (strcmp(x->name, "flatten") == 0)
            return flatten(E, x, arg);
        if (strncmp(x->name, "adaptive_", 9) == 0)
            return adaptive_pool2d(E, x, arg, x->name[9] == 'm');
        if (strstr(x->name, "_pool2d"))
            return pool2d(E, x, arg, x->name[0] == 'm');
        if (strncmp(x->name, "arg", 3) == 0)
            return argext(E, x, arg, strcmp(x->name, "argmax") == 0);
        return activation(E, x, x->name, arg);
    }
    return NULL;
}

/* ---- did you mean -------------------------------------------------------------------------- */

/* a's and b's spelling with case, '_' and '.' ignored (layer_norm, LayerNorm → layernorm) */
static bool same_letters(const char *a, const char *b)
{
    for (;;) {
        while (*a == '_')
            a++;
        while (*b == '_')
            b++;
        char p = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        char q = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;
        if (p != q)
            return false;
        if (!p)
            return true;
        a++, b++;
    }
}

/* The Levenshtein distance of a and b, or more than limit (names are short: 64 bytes kept). */
static int distance(const char *a, const char *b, int limit)
{
    enum { N = 64 };
    size_t n = strlen(a), m = strlen(b);
    if (n >= N || m >= N)
        return limit + 1;
    int row[N], prev[N];
    for (size_t j = 0; j <= m; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        row[0] = (int)i;
        for (size_t j = 1; j <= m; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, row, sizeof *row * (m + 1));
    }
    return prev[m];
}

/* torch's other names for the same functions */
static const struct { const char *alias, *name; } aliases[] = {
    { "batch_norm", "batchnorm2d" }, { "batchnorm", "batchnorm2d" }, { "conv", "conv2d" },
    { "swish", "silu" }, { "dense", "linear" }, { "matmul", "einsum" }, { "view", "rearrange" },
    { "reshape", "rearrange" }, { "permute", "rearrange" }, { "transpose", "rearrange" },
};

const char *nn_suggest(const char *name, const sig *builtins, int nbuiltins)
{
    static const char *const patterns[] = { "einsum", "rearrange", "reduce", "repeat" };
    /* F.relu, torch.nn.functional.relu, nn.ReLU: the part after the last '.' */
    const char *dot = strrchr(name, '.');
    const char *base = dot ? dot + 1 : name;
    int nn = (int)(sizeof nn_sigs / sizeof *nn_sigs), np = (int)(sizeof patterns / sizeof *patterns);
    int total = nbuiltins + nn + np;
    for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
        if (same_letters(base, aliases[i].alias))
            return aliases[i].name;
    const char *best = NULL;
    int bestd = 3;          /* at most two edits, and fewer than half the name */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < total; i++) {
            const char *c = i < nbuiltins ? builtins[i].name : i < nbuiltins + nn ? nn_sigs[i - nbuiltins].name
                                                                                 : patterns[i - nbuiltins - nn];
            if (pass == 0 && same_letters(base, c) && strcmp(c, name) != 0)
                return c;
            if (pass == 1) {
                int d = distance(base, c, bestd);
                if (d < bestd && 2 * d < (int)strlen(c)) {
                    best = c;
                    bestd = d;
                }
            }
        }
    return best;
}
