/*
 * model_pool.c — the layer language's pooling: max_pool2d, avg_pool2d (affine windows;
 * max pooling's padding is a guarded read that gives max's identity, avg pooling's counts
 * a table) and adaptive_avg/max_pool2d (windows of varying length), with torch's output
 * sizes, on (N, C, H, W) or (C, H, W): float for the averages, float or integer for the
 * maxima.
 */
#include "model_int.h"

#include <string.h>

/*
 * false, after an error at v, unless x (v's tensor) is a (C, H, W) or (N, C, H, W) of
 * floats, or for a max of integers too (bool has no order torch pools)
 */
static bool pool_input(elab *E, const val *v, const lz *x, const char *fn, bool isMax)
{
    if (x->ndim != 3 && x->ndim != 4)
        return shape_err(E, v->begin, v->end, "%s: expected a 3-d (C, H, W) or 4-d (N, C, H, W) "
                         "input, got %d-d", fn, x->ndim), false;
    if (!dtype_is_float(x->dtype) && !(isMax && (x->dtype == EINC_I32 || x->dtype == EINC_I64)))
        return shape_err(E, v->begin, v->end, "%s: x must be a %s tensor, not %s", fn,
                         isMax ? "float or integer" : "float", einc_dtype_name(x->dtype)), false;
    return true;
}

/*
 * The [O] table of an average pool's window lengths along one side: the sum over k of a
 * guarded read of a tensor of L ones at o·s + k − off, which is 1 inside and 0 outside.
 */
static int count_table(elab *E, int64_t O, int64_t K, int64_t s, int64_t off, int64_t L, einc_dtype t)
{
    int one = new_tensor(E, NULL, IR_TEMP, t, 1, &L, -1, -1);
    int *la = one >= 0 ? fresh_axes(E, 1, &L) : NULL;
    if (!la || add_stmt(E, access_axes(E, one, la), IR_COMB_ASSIGN, ex_const(E, 1), false) < 0)
        return -1;
    int tab = new_tensor(E, NULL, IR_TEMP, t, 1, &O, -1, -1);
    int ao = O > 1 ? new_axis(E, O) : -1, ak = K > 1 ? new_axis(E, K) : -1;
    if (tab < 0 || E->c->failed)
        return -1;
    dimspec rd[1] = { { 2, { ao, ak }, { s, 1 }, -off } };
    dimspec td[1] = { { 1, { ao }, { 1 }, 0 } };
    ir_expr *in = ex_load(E, access_affine(E, one, rd, true));
    if (add_stmt(E, access_affine(E, tab, td, false), IR_COMB_SUM, in, false) < 0)
        return -1;
    return tab;
}

static val *pool2d(elab *E, const el_node *call, val *const *arg, bool isMax)
{
    const char *fn = isMax ? "max_pool2d" : "avg_pool2d";
    lz *x = need_tensor(E, arg[0], fn, "x");
    int64_t k[2], s[2], p[2], d[2] = { 1, 1 }, ceil, incl = 1;
    if (!x || !get_pair(E, arg[1], fn, "kernel_size", k))
        return NULL;
    /* max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode),
       avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad) */
    if ((!is_none(arg[2]) && !get_pair(E, arg[2], fn, "stride", s)) ||
        !get_pair(E, arg[3], fn, "padding", p) ||
        (isMax && !get_pair(E, arg[4], fn, "dilation", d)) ||
        !get_int(E, arg[isMax ? 5 : 4], fn, "ceil_mode", &ceil) ||
        (!isMax && !get_int(E, arg[5], fn, "count_include_pad", &incl)))
        return NULL;
    if (is_none(arg[2]))
        s[0] = k[0], s[1] = k[1];       /* stride=None: the kernel size, as torch */
    if (!pool_input(E, arg[0], x, fn, isMax))
        return NULL;
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
    /* padding is read as 0 for the average (count_include_pad's zeros) and as max's
       identity for the max, so it never wins, whatever x holds (torch's -inf padding) */
    ir_access xa = access_affine(E, tx, xd, guard);
    xa.pad = isMax && guard ? IR_COMB_MAX : IR_COMB_SUM;
    ir_expr *rhs = ex_load(E, xa);
    if (add_stmt(E, access_affine(E, y, yd, false), isMax ? IR_COMB_MAX : IR_COMB_SUM, rhs, false) < 0)
        return NULL;
    lz *r = lz_tensor(E, y);
    if (!isMax) {       /* ÷ the window's count, a product of one count per side */
        for (int i = 0; i < 2; i++) {
            int64_t L = incl ? in[i] + 2 * p[i] : in[i], off = incl ? 0 : p[i];
            int cnt = count_table(E, out[i], k[i], s[i], off, L, x->dtype);
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

val *bi_max_pool2d(elab *E, const el_node *call, val *const *arg) { return pool2d(E, call, arg, true); }
val *bi_avg_pool2d(elab *E, const el_node *call, val *const *arg) { return pool2d(E, call, arg, false); }

/*
 * Adaptive pooling's windows along one side, torch's: output o covers inputs
 * [⌊o·I/O⌋, ⌈(o+1)·I/O⌉), whose lengths vary, so for the average they are a [O, I] table
 * of membership rather than an affine read: 1 inside the window, 0 outside.  It is
 * computed in integers from the axes (exact for any size), then converted.
 */
static int window_table(elab *E, int64_t O, int64_t I, einc_dtype t)
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
    if (add_stmt(E, access_axes(E, mf, oax), IR_COMB_ASSIGN, in, false) < 0)
        return -1;
    return mf;
}

/*
 * The adaptive max along dimension dd of t (shape sh, ndim dims) from I to O: one statement
 * when I is a multiple of O (a window of I/O at stride I/O), else one per output, whose
 * window starts at a constant.  Each reads its window's elements alone, so nothing outside
 * it (an inf, a NaN) reaches it, as in torch.  The new tensor, or -1.
 */
static int adaptive_max_side(elab *E, int t, const int64_t *sh, int ndim, int dd, int64_t I, int64_t O,
                             einc_dtype dt)
{
    int64_t nsh[4];
    memcpy(nsh, sh, sizeof nsh);
    nsh[dd] = O;
    int nt = new_tensor(E, NULL, IR_TEMP, dt, ndim, nsh, -1, -1);
    if (nt < 0)
        return -1;
    dimspec cd[4], nd[4];
    for (int d = 0; d < ndim; d++) {
        int a = d == dd ? -1 : sh[d] > 1 ? new_axis(E, sh[d]) : -1;
        cd[d] = nd[d] = (dimspec){ 1, { a }, { 1 }, 0 };
    }
    bool even = I % O == 0;
    for (int64_t o = 0; o < (even ? 1 : O); o++) {
        int64_t start = o * I / O, len = even ? I / O : ((o + 1) * I + O - 1) / O - start;
        int ao = even && O > 1 ? new_axis(E, O) : -1, ak = len > 1 ? new_axis(E, len) : -1;
        cd[dd] = (dimspec){ 2, { ao, ak }, { len, 1 }, start };
        nd[dd] = (dimspec){ 1, { ao }, { 1 }, even ? 0 : o };
        if (E->c->failed || add_stmt(E, access_affine(E, nt, nd, false), len > 1 ? IR_COMB_MAX : IR_COMB_ASSIGN,
                                     ex_load(E, access_affine(E, t, cd, false)), false) < 0)
            return -1;
    }
    return nt;
}

/* adaptive_avg_pool2d(x, output_size) / adaptive_max_pool2d: one side at a time (W, then H). */
static val *adaptive_pool2d(elab *E, const el_node *call, val *const *arg, bool isMax)
{
    const char *fn = isMax ? "adaptive_max_pool2d" : "adaptive_avg_pool2d";
    lz *x = need_tensor(E, arg[0], fn, "x");
    if (!x || !pool_input(E, arg[0], x, fn, isMax))
        return NULL;
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
        if (isMax) {
            if (out[side] != in[side] && (t = adaptive_max_side(E, t, sh, x->ndim, dd, in[side], out[side],
                                                                   x->dtype)) < 0)
                return NULL;
            sh[dd] = out[side];
            continue;
        }
        int win = window_table(E, out[side], in[side], x->dtype);
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
        ir_expr *rhs = ex(E, IR_MUL, ex_load(E, access_affine(E, t, cd, false)),
                          ex_load(E, access_affine(E, win, wd, false)));
        if (add_stmt(E, access_affine(E, nt, nd, false), IR_COMB_SUM, rhs, false) < 0)
            return NULL;
        t = nt;
        memcpy(sh, nsh, sizeof sh);
    }
    lz *r = lz_tensor(E, t);
    if (!isMax) {       /* ÷ the windows' lengths, one per side */
        for (int side = 0; side < 2; side++) {
            int win = window_table(E, out[side], in[side], x->dtype);
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

val *bi_adaptive_avg_pool2d(elab *E, const el_node *call, val *const *arg)
{
    return adaptive_pool2d(E, call, arg, false);
}

val *bi_adaptive_max_pool2d(elab *E, const el_node *call, val *const *arg)
{
    return adaptive_pool2d(E, call, arg, true);
}
