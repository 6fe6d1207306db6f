/*
 * model_nn.c — the layer language's torch.nn.functional built-ins: linear, conv2d,
 * batchnorm2d, layernorm, softmax and log_softmax, squeeze and unsqueeze, the activations,
 * flatten, argmax and argmin (pooling is in model_pool.c).  Each is a row of MODEL_BUILTINS
 * (model_int.h) and one function here, given its arguments bound and defaulted.
 *
 * Every activation is a formula over the IR's existing operators (max, min, exp, log, tanh,
 * sigmoid, eq, divz), so the interpreter, the JIT, C and CUDA all get it without a case of
 * their own.  The IR has no select: where torch's definition is piecewise, the formula is
 * chosen so that each piece is exact on its side (max(x, 0) is x or 0, never a rounded
 * blend), and NaN stays NaN because max and min propagate it.
 */
#include "model_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- linear, conv2d, normalisations, softmax -------------------------------------------------- */

/* v seen as [1 × lead] + [n] + [1 × trail]: a per-channel vector against a value of rank nd. */
static lz *channel_view(elab *E, lz *v, int nd, int at)
{
    int t = materialize(E, v);
    if (t < 0)
        return NULL;
    int64_t sh[EINC_MAX_RANK];
    int td[1] = { 0 };   /* the view's first dimension indexes the vector */
    for (int d = 0; d < nd - at; d++)
        sh[d] = d == 0 ? tdim(E, t, 0) : 1;
    return lz_view(E, t, nd - at, sh, td);
}

static bool check_vector(elab *E, const val *v, lz *z, const char *fn, const char *what, int64_t n,
                         const char *of, const lz *x)
{
    if (z->ndim != 1 || z->shape[0] != n) {
        cc_error(E->c, EINC_ERR_SHAPE, v->begin, v->end,
                 "%s: %s has shape %s, but the input has %lld %s (its shape is %s)", fn, what,
                 shape_text(E, z->ndim, z->shape), (long long)n, of, shape_text(E, x->ndim, x->shape));
        return false;
    }
    return true;
}

/* softmax / log_softmax over dim: max-subtracted, one pass per row after lower.c's fusion. */
static val *softmax(elab *E, const el_node *call, val *const *arg, bool logsm)
{
    const char *fn = logsm ? "log_softmax" : "softmax";
    lz *x = need_tensor(E, arg[0], fn, "x");
    int dim;
    if (!x || !get_dim(E, arg[1], fn, x->ndim, &dim))
        return NULL;
    if (x->ndim == 0)
        return tensor_val(E, logsm ? lz_const(E, 0, float_of(x->dtype)) : lz_const(E, 1, float_of(x->dtype)),
                          call->begin, call->end);
    if (!dtype_is_float(x->dtype)) {
        x = lz_binary(E, IR_MUL, x, lz_const(E, 1, EINC_F32), call->begin, call->end);
        if (x)
            x->dtype = EINC_F32;    /* integers normalise in float32, as torch's default dtype */
        if (!x)
            return NULL;
    }
    int t = materialize(E, x);
    if (t < 0)
        return NULL;
    lz *X = lz_tensor(E, t);
    int *ax = X ? axes_for(E, X) : NULL;
    if (!ax)
        return NULL;
    bool keep[EINC_MAX_RANK];
    for (int d = 0; d < X->ndim; d++)
        keep[d] = d != dim;
    int m = reduce_to(E, X, keep, IR_COMB_MAX, false, ax, X->dtype);
    if (m < 0)
        return NULL;
    /*
     * e = exp(x − max) is computed once and stored in the result, then scaled in place by
     * the row's 1/Σe: one exponential an element, and after lower.c fuses the four
     * statements by rows, each row is read from memory once and written once.
     */
    lz *shifted = lz_binary(E, IR_SUB, X, lz_tensor(E, m), call->begin, call->end);
    int r = new_tensor(E, NULL, IR_TEMP, X->dtype, X->ndim, X->shape, -1, -1);
    if (r < 0 || add_stmt(E, access_axes(E, r, ax), IR_COMB_ASSIGN,
                          inst(E, logsm ? shifted : lz_unary(E, IR_EXP, shifted), ax), false) < 0)
        return NULL;
    lz *R = lz_tensor(E, r);
    int s = reduce_to(E, logsm ? lz_unary(E, IR_EXP, R) : R, keep, IR_COMB_SUM, false, ax, X->dtype);
    if (s < 0)
        return NULL;
    /* the row's factor, folded into the sum as its epilogue: 1/Σe, or log Σe */
    int64_t ksh[EINC_MAX_RANK];
    int oax[EINC_MAX_RANK];
    kept_shape(X, keep, ax, ksh, oax);
    int f = new_tensor(E, NULL, IR_TEMP, X->dtype, X->ndim, ksh, -1, -1);
    ir_expr *sum = ex_load(E, access_axes(E, s, oax));
    if (f < 0 || add_stmt(E, access_axes(E, f, oax), IR_COMB_ASSIGN,
                          logsm ? ex(E, IR_LOG, sum, NULL) : ex(E, IR_DIV, ex_const(E, 1), sum), false) < 0)
        return NULL;
    lz *out = lz_binary(E, logsm ? IR_SUB : IR_MUL, R, lz_tensor(E, f), call->begin, call->end);
    if (add_stmt(E, access_axes(E, r, ax), IR_COMB_ASSIGN, inst(E, out, ax), false) < 0)
        return NULL;
    return tensor_val(E, lz_tensor(E, r), call->begin, call->end);
}

val *bi_softmax(elab *E, const el_node *call, val *const *arg) { return softmax(E, call, arg, false); }
val *bi_log_softmax(elab *E, const el_node *call, val *const *arg) { return softmax(E, call, arg, true); }

/* (x − mean) · rsqrt(var + eps) over the dims where keep[d] is false. */
static lz *normalize(elab *E, lz *x, const bool *keep, double eps, const el_node *call)
{
    if (!dtype_is_float(x->dtype)) {
        x = lz_binary(E, IR_MUL, x, lz_const(E, 1, EINC_F32), call->begin, call->end);
        if (x)
            x->dtype = EINC_F32;    /* integers normalise in float32, as torch's default dtype */
    }
    int t = x ? materialize(E, x) : -1;
    lz *X = t >= 0 ? lz_tensor(E, t) : NULL;
    int *ax = X ? axes_for(E, X) : NULL;
    if (!ax)
        return NULL;
    int mean = reduce_to(E, X, keep, IR_COMB_SUM, true, ax, X->dtype);
    if (mean < 0)
        return NULL;
    lz *centered = lz_binary(E, IR_SUB, X, lz_tensor(E, mean), call->begin, call->end);
    int var = reduce_to(E, lz_binary(E, IR_MUL, centered, centered, call->begin, call->end), keep,
                        IR_COMB_SUM, true, ax, X->dtype);
    if (var < 0)
        return NULL;
    lz *rstd = lz_unary(E, IR_RSQRT, lz_binary(E, IR_ADD, lz_tensor(E, var), lz_const(E, eps, X->dtype),
                                               call->begin, call->end));
    return lz_binary(E, IR_MUL, centered, rstd, call->begin, call->end);
}

val *bi_layernorm(elab *E, const el_node *call, val *const *arg)
{
    const char *fn = "layernorm";
    lz *x = need_tensor(E, arg[0], fn, "x");
    int64_t dims;
    double eps;
    if (!x || !get_int(E, arg[3], fn, "dims", &dims) || !get_num(E, arg[4], fn, "eps", &eps))
        return NULL;
    if (dims < 1 || dims > x->ndim) {
        cc_error(E->c, EINC_ERR_ARG, arg[3]->begin, arg[3]->end,
                 "%s: dims=%lld, but the input %s has %d dimension%s", fn, (long long)dims,
                 shape_text(E, x->ndim, x->shape), x->ndim, x->ndim == 1 ? "" : "s");
        return NULL;
    }
    int lead = x->ndim - (int)dims;
    bool keep[EINC_MAX_RANK];
    for (int d = 0; d < x->ndim; d++)
        keep[d] = d < lead;
    lz *y = normalize(E, x, keep, eps, call);
    for (int k = 1; k <= 2 && y; k++) {
        if (is_none(arg[k]))
            continue;
        lz *w = need_tensor(E, arg[k], fn, k == 1 ? "weight" : "bias");
        if (!w)
            return NULL;
        bool ok = w->ndim == (int)dims;
        for (int d = 0; ok && d < (int)dims; d++)
            ok = w->shape[d] == x->shape[lead + d];
        if (!ok) {
            cc_error(E->c, EINC_ERR_SHAPE, arg[k]->begin, arg[k]->end,
                     "%s: %s has shape %s, but the normalized shape of input %s is %s", fn,
                     k == 1 ? "weight" : "bias", shape_text(E, w->ndim, w->shape),
                     shape_text(E, x->ndim, x->shape), shape_text(E, (int)dims, x->shape + lead));
            return NULL;
        }
        y = lz_binary(E, k == 1 ? IR_MUL : IR_ADD, y, w, call->begin, call->end);
    }
    return tensor_val(E, y, call->begin, call->end);
}

val *bi_batchnorm2d(elab *E, const el_node *call, val *const *arg)
{
    const char *fn = "batchnorm2d";
    lz *x = need_tensor(E, arg[0], fn, "x");
    int64_t training;
    double eps;
    if (!x || !get_int(E, arg[5], fn, "training", &training) || !get_num(E, arg[6], fn, "eps", &eps))
        return NULL;
    if (x->ndim != 4)
        return shape_err(E, arg[0]->begin, arg[0]->end, "%s: expected a 4-d input (N, C, H, W), got "
                    "shape %s", fn, shape_text(E, x->ndim, x->shape));
    int64_t C = x->shape[1];
    static const char *const what[] = { "x", "running_mean", "running_var", "weight", "bias" };
    lz *v[5] = { x };
    for (int k = 1; k < 5; k++) {
        if (is_none(arg[k]))
            continue;
        if (!(v[k] = need_tensor(E, arg[k], fn, what[k])) || !check_vector(E, arg[k], v[k], fn, what[k], C, "channels", x))
            return NULL;
        v[k] = channel_view(E, v[k], 4, 1);
        if (!v[k])
            return NULL;
    }
    lz *y;
    if (training) {
        bool keep[4] = { false, true, false, false };
        y = normalize(E, x, keep, eps, call);
    } else {
        for (int k = 1; k <= 2; k++)
            if (!v[k])
                return shape_err(E, call->begin, call->end, "%s: %s is none, which needs training=1 "
                            "(normalise with the batch's statistics)", fn, what[k]);
        /*
         * Folded, as inference engines do: per channel, scale = weight·rsqrt(var + eps) and
         * shift = bias − mean·scale, so y = x·scale + shift.  They stay expressions in the
         * element's formula (the code generators compute them once per channel, outside the
         * innermost loop), so the block remains one loop nest.
         */
        int b = call->begin, e = call->end;
        einc_dtype t = float_of(x->dtype);
        lz *scale = lz_unary(E, IR_RSQRT, lz_binary(E, IR_ADD, v[2], lz_const(E, eps, t), b, e));
        if (v[3])
            scale = lz_binary(E, IR_MUL, scale, v[3], b, e);
        lz *shift = lz_binary(E, IR_SUB, v[4] ? v[4] : lz_const(E, 0, t), lz_binary(E, IR_MUL, v[1], scale, b, e), b, e);
        y = lz_binary(E, IR_ADD, lz_binary(E, IR_MUL, x, scale, b, e), shift, b, e);
        return tensor_val(E, y, b, e);
    }
    if (y && v[3])
        y = lz_binary(E, IR_MUL, y, v[3], call->begin, call->end);
    if (y && v[4])
        y = lz_binary(E, IR_ADD, y, v[4], call->begin, call->end);
    return tensor_val(E, y, call->begin, call->end);
}

val *bi_linear(elab *E, const el_node *call, val *const *arg)
{
    const char *fn = "linear";
    lz *x = need_tensor(E, arg[0], fn, "x"), *w = need_tensor(E, arg[1], fn, "weight");
    lz *b = is_none(arg[2]) ? NULL : need_tensor(E, arg[2], fn, "bias");
    if (!x || !w || (!is_none(arg[2]) && !b))
        return NULL;
    if (x->ndim < 1)
        return shape_err(E, arg[0]->begin, arg[0]->end, "%s: the input must have at least 1 dimension", fn);
    int64_t in = x->shape[x->ndim - 1];
    if (w->ndim != 2 || w->shape[1] != in)
        return shape_err(E, arg[1]->begin, arg[1]->end, "%s: weight has shape %s, but the input %s has "
                    "%lld features (weight must be [out, %lld])", fn, shape_text(E, w->ndim, w->shape),
                    shape_text(E, x->ndim, x->shape), (long long)in, (long long)in);
    int64_t out = w->shape[0];
    if (b && (b->ndim != 1 || b->shape[0] != out))
        return shape_err(E, arg[2]->begin, arg[2]->end, "%s: bias has shape %s, but weight gives %lld "
                    "output features", fn, shape_text(E, b->ndim, b->shape), (long long)out);
    einc_dtype t = dtype_promote(x->dtype, w->dtype);
    if (b)
        t = dtype_promote(t, b->dtype);
    int tx = materialize(E, x), tw = materialize(E, w);
    if (tx < 0 || tw < 0)
        return NULL;
    int64_t sh[EINC_MAX_RANK];
    memcpy(sh, x->shape, sizeof *sh * (size_t)x->ndim);
    sh[x->ndim - 1] = out;
    int y = new_tensor(E, NULL, IR_TEMP, t, x->ndim, sh, -1, -1);
    int *ax = y >= 0 ? fresh_axes(E, x->ndim, sh) : NULL;
    int k = new_axis(E, in);
    if (!ax || k < 0)
        return NULL;
    int xa[EINC_MAX_RANK];
    memcpy(xa, ax, sizeof *xa * (size_t)x->ndim);
    xa[x->ndim - 1] = k;
    int wa[2] = { ax[x->ndim - 1], k };
    if (out == 1)       /* the size-1 output axis has no loop */
        wa[0] = -1;
    if (b) {   /* out = bias, then out += x·wᵀ: the product stays a GEMM with nothing after it */
        int tb = materialize(E, b);
        if (tb < 0 || add_stmt(E, access_axes(E, y, ax), IR_COMB_ASSIGN,
                               ex_load(E, access_axes(E, tb, (int[]){ ax[x->ndim - 1] })), false) < 0)
            return NULL;
    }
    if (in == 1)        /* nor does a size-1 reduced axis */
        xa[x->ndim - 1] = wa[1] = -1;
    ir_expr *prod = ex(E, IR_MUL, ex_load(E, access_axes(E, tx, xa)), ex_load(E, access_axes(E, tw, wa)));
    if (add_stmt(E, access_axes(E, y, ax), IR_COMB_SUM, prod, b != NULL) < 0)
        return NULL;
    if (b)
        E->defax[y] = NULL;     /* two writers: nothing may fold into either */
    return tensor_val(E, lz_tensor(E, y), call->begin, call->end);
}

val *bi_conv2d(elab *E, const el_node *call, val *const *arg)
{
    const char *fn = "conv2d";
    lz *x = need_tensor(E, arg[0], fn, "x"), *w = need_tensor(E, arg[1], fn, "weight");
    lz *b = is_none(arg[2]) ? NULL : need_tensor(E, arg[2], fn, "bias");
    int64_t stride[2], pad[2] = { 0, 0 }, padr[2], dil[2], groups;
    bool same = false;
    if (!x || !w || (!is_none(arg[2]) && !b))
        return NULL;
    if (!get_pair(E, arg[3], fn, "stride", stride) || !get_pair(E, arg[5], fn, "dilation", dil) ||
        !get_int(E, arg[6], fn, "groups", &groups))
        return NULL;
    if (arg[4]->kind == V_STRING) {
        if (strcmp(arg[4]->str, "same") == 0)
            same = true;
        else if (strcmp(arg[4]->str, "valid") != 0)
            return shape_err(E, arg[4]->begin, arg[4]->end, "%s: padding '%s' is not 'same', 'valid' "
                        "or an integer", fn, arg[4]->str);
    } else if (!get_pair(E, arg[4], fn, "padding", pad)) {
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        if (stride[i] < 1 || dil[i] < 1 || pad[i] < 0)
            return shape_err(E, call->begin, call->end, "%s: stride and dilation must be positive and "
                        "padding non-negative (stride %lld, padding %lld, dilation %lld)", fn,
                        (long long)stride[i], (long long)pad[i], (long long)dil[i]);
    }
    if (x->ndim != 4)
        return shape_err(E, arg[0]->begin, arg[0]->end, "%s: expected a 4-d input (N, C, H, W), got "
                    "shape %s", fn, shape_text(E, x->ndim, x->shape));
    if (w->ndim != 4)
        return shape_err(E, arg[1]->begin, arg[1]->end, "%s: expected a 4-d weight (out, in/groups, kH, "
                    "kW), got shape %s", fn, shape_text(E, w->ndim, w->shape));
    int64_t N = x->shape[0], C = x->shape[1], O = w->shape[0], Cg = w->shape[1];
    if (groups < 1 || C % groups || O % groups)
        return shape_err(E, arg[6]->begin, arg[6]->end, "%s: groups=%lld must divide both the input's "
                    "%lld channels and the weight's %lld output channels", fn, (long long)groups, (long long)C, (long long)O);
    if (Cg * groups != C)
        return shape_err(E, arg[1]->begin, arg[1]->end, "%s: weight %s expects %lld input channels "
                    "(%lld per group x groups=%lld), but x %s has %lld channels", fn,
                    shape_text(E, w->ndim, w->shape), (long long)(Cg * groups), (long long)Cg,
                    (long long)groups, shape_text(E, x->ndim, x->shape), (long long)C);
    if (b && (b->ndim != 1 || b->shape[0] != O))
        return shape_err(E, arg[2]->begin, arg[2]->end, "%s: bias has shape %s, but the weight has %lld "
                    "output channels", fn, shape_text(E, b->ndim, b->shape), (long long)O);
    int64_t osz[2];
    static const char *const side[] = { "height", "width" };
    for (int i = 0; i < 2; i++) {
        int64_t in = x->shape[2 + i], k = w->shape[2 + i];
        if (same) {
            if (stride[i] != 1)
                return shape_err(E, arg[4]->begin, arg[4]->end, "%s: padding='same' needs stride 1", fn);
            int64_t total = dil[i] * (k - 1);
            pad[i] = total / 2;
            padr[i] = total - pad[i];
        } else {
            padr[i] = pad[i];
        }
        int64_t num = in + pad[i] + padr[i] - dil[i] * (k - 1) - 1;
        osz[i] = num < 0 ? 0 : num / stride[i] + 1;
        if (osz[i] <= 0)
            return shape_err(E, call->begin, call->end,
                        "%s: the output %s is (%lld + 2*%lld - %lld*(%lld - 1) - 1)/%lld + 1 = %lld: the "
                        "kernel is larger than the padded input", fn, side[i], (long long)in,
                        (long long)pad[i], (long long)dil[i], (long long)k, (long long)stride[i],
                        (long long)(num < 0 ? (num - stride[i] + 1) / stride[i] + 1 : osz[i]));
    }
    einc_dtype t = dtype_promote(x->dtype, w->dtype);
    int tx = materialize(E, x), tw = materialize(E, w);
    if (tx < 0 || tw < 0)
        return NULL;
    int64_t Og = O / groups, KH = w->shape[2], KW = w->shape[3];
    int64_t ysh[4] = { N, O, osz[0], osz[1] };
    int y = new_tensor(E, NULL, IR_TEMP, t, 4, ysh, -1, -1);
    /* loops: n, g (groups > 1), o within the group, oh, ow; reduced c, kh, kw */
    int an = N > 1 ? new_axis(E, N) : -1, ag = groups > 1 ? new_axis(E, groups) : -1;
    int ao = Og > 1 ? new_axis(E, Og) : -1, ah = osz[0] > 1 ? new_axis(E, osz[0]) : -1;
    int aw = osz[1] > 1 ? new_axis(E, osz[1]) : -1, ac = Cg > 1 ? new_axis(E, Cg) : -1;
    int akh = KH > 1 ? new_axis(E, KH) : -1, akw = KW > 1 ? new_axis(E, KW) : -1;
    if (y < 0 || E->c->failed)
        return NULL;
    bool guard = pad[0] || pad[1] || padr[0] || padr[1];
    dimspec yd[4] = { { 1, { an }, { 1 }, 0 }, { 2, { ag, ao }, { Og, 1 }, 0 },
                      { 1, { ah }, { 1 }, 0 }, { 1, { aw }, { 1 }, 0 } };
    dimspec xd[4] = { { 1, { an }, { 1 }, 0 }, { 2, { ag, ac }, { Cg, 1 }, 0 },
                      { 2, { ah, akh }, { stride[0], dil[0] }, -pad[0] },
                      { 2, { aw, akw }, { stride[1], dil[1] }, -pad[1] } };
    dimspec wd[4] = { { 2, { ag, ao }, { Og, 1 }, 0 }, { 1, { ac }, { 1 }, 0 },
                      { 1, { akh }, { 1 }, 0 }, { 1, { akw }, { 1 }, 0 } };
    ir_expr *prod = ex(E, IR_MUL, ex_load(E, access_affine(E, tx, xd, guard)),
                       ex_load(E, access_affine(E, tw, wd, false)));
    if (add_stmt(E, access_affine(E, y, yd, false), IR_COMB_SUM, prod, false) < 0)
        return NULL;
    lz *r = lz_tensor(E, y);
    if (b)
        r = lz_binary(E, IR_ADD, r, channel_view(E, b, 4, 1), call->begin, call->end);
    return tensor_val(E, r, call->begin, call->end);
}

static val *squeeze(elab *E, const el_node *call, val *const *arg, bool un)
{
    const char *fn = un ? "unsqueeze" : "squeeze";
    lz *x = need_tensor(E, arg[0], fn, "x");
    int dim;
    if (!x || !get_dim(E, arg[1], fn, x->ndim + un, &dim))
        return NULL;
    if (!un && x->shape[dim] != 1)
        return shape_err(E, arg[1]->begin, arg[1]->end, "squeeze: dimension %d of %s has size %lld, "
                    "not 1", dim, shape_text(E, x->ndim, x->shape), (long long)x->shape[dim]);
    int t = materialize(E, x);
    if (t < 0)
        return NULL;
    int64_t sh[EINC_MAX_RANK + 1];
    int td[EINC_MAX_RANK + 1], n = 0;
    if (un && x->ndim >= EINC_MAX_RANK)
        return shape_err(E, call->begin, call->end, "unsqueeze: at most %d dimensions", EINC_MAX_RANK);
    for (int d = 0; d < x->ndim; d++) {
        if (un && d == dim)
            sh[n++] = 1;
        td[d] = !un && d == dim ? -1 : n;
        if (un || d != dim)
            sh[n++] = x->shape[d];
    }
    if (un && dim == x->ndim)
        sh[n++] = 1;
    return tensor_val(E, lz_view(E, t, n, sh, td), call->begin, call->end);
}

val *bi_squeeze(elab *E, const el_node *call, val *const *arg) { return squeeze(E, call, arg, false); }
val *bi_unsqueeze(elab *E, const el_node *call, val *const *arg) { return squeeze(E, call, arg, true); }

/* ---- activations ------------------------------------------------------------------------------ */

typedef struct nnctx {
    elab *E;
    int b, e;               /* the call's span, for broadcasting errors (none can happen) */
    einc_dtype t;           /* the result's dtype: x's, or float32 for an integer x */
} nnctx;

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

/* An elementwise function of one IR operator: the function's name says which. */
static val *unary(elab *E, const el_node *call, val *const *arg, const char *fn, ir_op op)
{
    lz *x = need_tensor(E, arg[0], fn, "x");
    return x ? tensor_val(E, lz_unary(E, op, x), call->begin, call->end) : NULL;
}

#define UNARY(name, op)                                                                             \
    val *bi_##name(elab *E, const el_node *call, val *const *arg) { return unary(E, call, arg, #name, op); }
UNARY(sigmoid, IR_SIGMOID)
UNARY(tanh, IR_TANH)
UNARY(exp, IR_EXP)
UNARY(log, IR_LOG)
UNARY(sqrt, IR_SQRT)
#undef UNARY

val *bi_relu(elab *E, const el_node *call, val *const *arg)
{
    lz *x = need_tensor(E, arg[0], "relu", "x");
    if (!x)
        return NULL;
    return tensor_val(E, lz_binary(E, IR_MAX, x, lz_const(E, 0, x->dtype == EINC_BOOL ? EINC_I64 : x->dtype),
                                   call->begin, call->end), call->begin, call->end);
}

/* The x of an activation fn, with its formula's context in *n; NULL after an error. */
static lz *act_x(elab *E, const el_node *call, val *const *arg, const char *fn, nnctx *n)
{
    lz *x = need_tensor(E, arg[0], fn, "x");
    if (x)
        *n = (nnctx){ E, call->begin, call->end, float_of(x->dtype) };
    return x;
}

val *bi_silu(elab *E, const el_node *call, val *const *arg)
{
    nnctx n;
    lz *x = act_x(E, call, arg, "silu", &n);
    return x ? tensor_val(E, bin(&n, IR_MUL, x, un(&n, IR_SIGMOID, x)), call->begin, call->end) : NULL;
}

val *bi_hardswish(elab *E, const el_node *call, val *const *arg)     /* x · relu6(x + 3) / 6 */
{
    nnctx n;
    lz *x = act_x(E, call, arg, "hardswish", &n);
    if (!x)
        return NULL;
    lz *r6 = bin(&n, IR_MIN, bin(&n, IR_MAX, bin(&n, IR_ADD, x, k(&n, 3)), k(&n, 0)), k(&n, 6));
    return tensor_val(E, bin(&n, IR_DIV, bin(&n, IR_MUL, x, r6), k(&n, 6)), call->begin, call->end);
}

val *bi_leaky_relu(elab *E, const el_node *call, val *const *arg)    /* max(x, 0) + s · min(x, 0) */
{
    const char *fn = "leaky_relu";
    nnctx n;
    lz *x = act_x(E, call, arg, fn, &n);
    double s;
    if (!x || !get_num(E, arg[1], fn, "negative_slope", &s))
        return NULL;
    lz *r = bin(&n, IR_ADD, bin(&n, IR_MAX, x, k(&n, 0)), bin(&n, IR_MUL, k(&n, s), bin(&n, IR_MIN, x, k(&n, 0))));
    return tensor_val(E, r, call->begin, call->end);
}

val *bi_elu(elab *E, const el_node *call, val *const *arg)           /* max(x, 0) + α · (exp(min(x, 0)) − 1) */
{
    const char *fn = "elu";
    nnctx n;
    lz *x = act_x(E, call, arg, fn, &n);
    double a;
    if (!x || !get_num(E, arg[1], fn, "alpha", &a))
        return NULL;
    lz *neg = bin(&n, IR_SUB, un(&n, IR_EXP, bin(&n, IR_MIN, x, k(&n, 0))), k(&n, 1));
    return tensor_val(E, bin(&n, IR_ADD, bin(&n, IR_MAX, x, k(&n, 0)), bin(&n, IR_MUL, k(&n, a), neg)),
                      call->begin, call->end);
}

val *bi_softplus(elab *E, const el_node *call, val *const *arg)
{
    const char *fn = "softplus";
    nnctx n;
    lz *x = act_x(E, call, arg, fn, &n);
    double beta, thr;
    if (!x || !get_num(E, arg[1], fn, "beta", &beta) || !get_num(E, arg[2], fn, "threshold", &thr))
        return NULL;
    if (!(beta > 0) || !isfinite(beta) || !isfinite(thr)) {
        /* a default is never the culprit: the defaults are fine */
        const val *bad = !(beta > 0 && isfinite(beta)) ? arg[1] : arg[2];
        return arg_err(E, bad->begin, bad->end,
                       "softplus: beta must be a positive number and threshold a finite one");
    }
    return tensor_val(E, softplus(&n, x, beta, thr), call->begin, call->end);
}

val *bi_gelu(elab *E, const el_node *call, val *const *arg)
{
    nnctx n;
    lz *x = act_x(E, call, arg, "gelu", &n);
    if (!x)
        return NULL;
    if (arg[1]->kind != V_STRING)
        return arg_err(E, arg[1]->begin, arg[1]->end, "gelu: approximate must be 'none' or 'tanh'");
    const char *mode = arg[1]->str;
    lz *r;
    if (strcmp(mode, "none") == 0) {                /* x/2 · (1 + erf(x/√2)) */
        lz *e = un(&n, IR_ERF, bin(&n, IR_MUL, x, k(&n, 0.70710678118654752440)));
        r = bin(&n, IR_MUL, bin(&n, IR_MUL, x, k(&n, 0.5)), bin(&n, IR_ADD, k(&n, 1), e));
    } else if (strcmp(mode, "tanh") == 0) {         /* x/2 · (1 + tanh(√(2/π) (x + 0.044715 x³))) */
        lz *x3 = bin(&n, IR_MUL, bin(&n, IR_MUL, x, x), x);
        lz *in = bin(&n, IR_MUL, k(&n, 0.79788456080286535588),
                     bin(&n, IR_ADD, x, bin(&n, IR_MUL, k(&n, 0.044715), x3)));
        r = bin(&n, IR_MUL, bin(&n, IR_MUL, x, k(&n, 0.5)), bin(&n, IR_ADD, k(&n, 1), un(&n, IR_TANH, in)));
    } else {
        return arg_err(E, arg[1]->begin, arg[1]->end, "gelu: approximate must be 'none' or 'tanh', not '%s'",
                       mode);
    }
    return tensor_val(E, r, call->begin, call->end);
}

/* ---- flatten ------------------------------------------------------------------------------- */

/* flatten(x, start_dim=1, end_dim=-1): dimensions start_dim..end_dim become one, as torch. */
val *bi_flatten(elab *E, const el_node *call, val *const *arg)
{
    const char *fn = "flatten";
    lz *x = need_tensor(E, arg[0], fn, "x");
    int s, e;
    if (!x || !get_dim(E, arg[1], fn, x->ndim, &s) || !get_dim(E, arg[2], fn, x->ndim, &e))
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
    return pattern_call(E, &c2, pos, PAT_REARRANGE);
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
static val *argext(elab *E, const el_node *call, val *const *arg, bool isMax)
{
    const char *fn = isMax ? "argmax" : "argmin";
    lz *x = need_tensor(E, arg[0], fn, "x");
    if (!x)
        return NULL;
    int64_t keepdim;
    if (!get_int(E, arg[2], fn, "keepdim", &keepdim))
        return NULL;
    int ndim0 = x->ndim;
    int dim = 0;
    bool all = is_none(arg[1]);
    if (!all && !get_dim(E, arg[1], fn, x->ndim, &dim))
        return NULL;
    if (all && x->ndim > 1) {   /* dim=None: over the flattened tensor */
        val zero = { .kind = V_NUMBER, .num = 0, .is_int = true, .begin = call->begin, .end = call->end };
        val last = { .kind = V_NUMBER, .num = -1, .is_int = true, .begin = call->begin, .end = call->end };
        val *fa[3] = { arg[0], &zero, &last };
        val *f = bi_flatten(E, call, fa);
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
    kept_shape(X, keep, ax, ksh, oax);
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

val *bi_argmax(elab *E, const el_node *call, val *const *arg) { return argext(E, call, arg, true); }
val *bi_argmin(elab *E, const el_node *call, val *const *arg) { return argext(E, call, arg, false); }
