/*
 * model_metric.c — classifier metrics in the layer language: confusion() counts integer
 * labels into a K×K int64 matrix (rows: true class, columns: predicted), and precision,
 * recall, specificity, f1 and accuracy are float32 formulas over its diagonal, row and
 * column sums (README.md, "The layer language"; every 0/0 is 0, through IR_DIVZ).
 */
#include "model_int.h"

val *bi_confusion(elab *E, const el_node *call, val *const *arg)
{
    const char *fn = "confusion";
    int64_t K;
    lz *pr = need_tensor(E, arg[0], fn, "pred"), *tg = need_tensor(E, arg[1], fn, "target");
    if (!pr || !tg)
        return NULL;
    if (!arg[2])
        return shape_err(E, call->begin, call->end, "confusion() missing required argument 'classes'");
    if (!get_int(E, arg[2], fn, "classes", &K))
        return NULL;
    if (K < 1)
        return shape_err(E, arg[2]->begin, arg[2]->end, "confusion: classes must be at least 1, not %lld", (long long)K);
    lz *v[2] = { pr, tg };
    for (int i = 0; i < 2; i++)
        if (dtype_is_float(v[i]->dtype))
            return shape_err(E, arg[i]->begin, arg[i]->end, "confusion: %s must hold integer class "
                        "labels, not %s", i ? "target" : "pred", einc_dtype_name(v[i]->dtype));
    bool same = pr->ndim == tg->ndim;
    for (int d = 0; same && d < pr->ndim; d++)
        same = pr->shape[d] == tg->shape[d];
    if (!same)
        return shape_err(E, call->begin, call->end, "confusion: pred %s and target %s must have the same "
                    "shape", shape_text(E, pr->ndim, pr->shape), shape_text(E, tg->ndim, tg->shape));
    /* an input is checked before the run; computed labels (argmax(probs, 1)) are copied
       to a temporary of their own, which nothing else writes or returns, checked after it
       (ir.h) */
    for (int i = 0; i < 2; i++) {
        bool input = is_whole(E, v[i]) && E->p->tensor[v[i]->tensor].role == IR_INPUT;
        int t = input ? v[i]->tensor : materialize_as(E, v[i], NULL, IR_TEMP);
        ir_prog *p = E->p;
        ir_label *l = t >= 0 ? grow(E, p->label, p->nlabel, &E->cap_label, sizeof *l) : NULL;
        const char *text = input ? NULL : arena_strndup(E->A, E->c->src + arg[i]->begin,
                                                        (size_t)(arg[i]->end - arg[i]->begin));
        if (!l || (!input && !text))
            return E->c->failed ? NULL : (cc_nomem(E->c), NULL);
        p->label = l;
        l[p->nlabel++] = (ir_label){ t, K, arg[i]->begin, arg[i]->end, text };
        v[i] = lz_tensor(E, t);
        if (!v[i])
            return NULL;
    }
    pr = v[0];
    tg = v[1];
    int64_t sh[2] = { K, K };
    int cm = new_tensor(E, NULL, IR_TEMP, EINC_I64, 2, sh, -1, -1);
    int at = K > 1 ? new_axis(E, K) : -1, ap = K > 1 ? new_axis(E, K) : -1;
    int *ax = fresh_axes(E, pr->ndim, pr->shape);
    if (cm < 0 || !ax)
        return NULL;
    ir_expr *t = ex_load(E, access_axes(E, tg->tensor, ax)), *p = ex_load(E, access_axes(E, pr->tensor, ax));
    ir_expr *rhs = ex(E, IR_MUL, ex(E, IR_EQ, t, at >= 0 ? ex_axis(E, at) : ex_const(E, 0)),
                      ex(E, IR_EQ, p, ap >= 0 ? ex_axis(E, ap) : ex_const(E, 0)));
    if (add_stmt(E, access_axes(E, cm, (int[]){ at, ap }), IR_COMB_SUM, rhs, false) < 0)
        return NULL;
    return tensor_val(E, lz_tensor(E, cm), call->begin, call->end);
}

typedef enum metric_kind { M_PRECISION, M_RECALL, M_SPECIFICITY, M_F1, M_ACCURACY } metric_kind;

/* precision, recall, specificity, f1, accuracy from a K×K confusion matrix. */
static val *metric(elab *E, const el_node *call, val *const *arg, metric_kind kind)
{
    static const char *const names[] = { "precision", "recall", "specificity", "f1", "accuracy" };
    const char *fn = names[kind];
    lz *cm = need_tensor(E, arg[0], fn, "cm");
    if (!cm)
        return NULL;
    if (cm->ndim != 2 || cm->shape[0] != cm->shape[1])
        return shape_err(E, arg[0]->begin, arg[0]->end, "%s: expected a square confusion matrix "
                    "[classes, classes], got shape %s", fn, shape_text(E, cm->ndim, cm->shape));
    if (dtype_is_float(cm->dtype))
        return shape_err(E, arg[0]->begin, arg[0]->end, "%s: expected an integer confusion matrix "
                    "(from confusion()), got %s", fn, einc_dtype_name(cm->dtype));
    int t = materialize(E, cm);
    if (t < 0)
        return NULL;
    int64_t K = cm->shape[0];
    lz *M = lz_tensor(E, t);
    int *ax = axes_for(E, M);
    if (!ax)
        return NULL;
    bool keep_row[2] = { true, false }, keep_col[2] = { false, true }, none[2] = { false, false };
    int rows = reduce_to(E, M, keep_row, IR_COMB_SUM, false, ax, EINC_I64);    /* [K, 1]: true class */
    int cols = reduce_to(E, M, keep_col, IR_COMB_SUM, false, ax, EINC_I64);    /* [1, K]: predicted */
    if (rows < 0 || cols < 0)
        return NULL;
    /* per class vectors [K]: tp (the diagonal), row and column sums */
    int64_t k1[1] = { K };
    lz *tp = lz_view(E, t, 1, k1, (int[]){ 0, 0 });
    lz *row = lz_view(E, rows, 1, k1, (int[]){ 0, -1 });
    lz *col = lz_view(E, cols, 1, k1, (int[]){ -1, 0 });
    lz *f = NULL;
    int b = call->begin, e = call->end;
    lz *one = lz_const(E, 1, EINC_F32);
    /* arithmetic in float32: the counts convert when loaded */
    tp = lz_binary(E, IR_MUL, tp, one, b, e);
    if (kind == M_PRECISION) {
        f = lz_binary(E, IR_DIVZ, tp, col, b, e);
    } else if (kind == M_RECALL) {
        f = lz_binary(E, IR_DIVZ, tp, row, b, e);
    } else if (kind == M_F1) {
        f = lz_binary(E, IR_DIVZ, lz_binary(E, IR_MUL, tp, lz_const(E, 2, EINC_F32), b, e),
                      lz_binary(E, IR_ADD, row, col, b, e), b, e);
    } else {
        int tot = reduce_to(E, M, none, IR_COMB_SUM, false, ax, EINC_I64);
        if (tot < 0)
            return NULL;
        lz *total = lz_view(E, tot, 0, NULL, (int[]){ -1, -1 });
        if (kind == M_SPECIFICITY) {   /* tn / (tn + fp) = (N - row - col + tp) / (N - row) */
            lz *neg = lz_binary(E, IR_SUB, total, row, b, e);
            f = lz_binary(E, IR_DIVZ, lz_binary(E, IR_ADD, lz_binary(E, IR_SUB, neg, col, b, e), tp, b, e),
                          lz_binary(E, IR_MUL, neg, one, b, e), b, e);
        } else {                                /* accuracy: Σ tp / N */
            int dg = new_tensor(E, NULL, IR_TEMP, EINC_I64, 0, NULL, -1, -1);
            int *dax = fresh_axes(E, 1, k1);
            if (dg < 0 || !dax || add_stmt(E, access_axes(E, dg, NULL), IR_COMB_SUM,
                                           inst(E, lz_view(E, t, 1, k1, (int[]){ 0, 0 }), dax), false) < 0)
                return NULL;
            f = lz_binary(E, IR_DIVZ, lz_binary(E, IR_MUL, lz_tensor(E, dg), one, b, e), total, b, e);
        }
    }
    if (f)
        f->dtype = EINC_F32;    /* float32 vectors, whatever the counts' type */
    return tensor_val(E, f, b, e);
}

val *bi_precision(elab *E, const el_node *call, val *const *arg) { return metric(E, call, arg, M_PRECISION); }
val *bi_recall(elab *E, const el_node *call, val *const *arg) { return metric(E, call, arg, M_RECALL); }
val *bi_specificity(elab *E, const el_node *call, val *const *arg) { return metric(E, call, arg, M_SPECIFICITY); }
val *bi_f1(elab *E, const el_node *call, val *const *arg) { return metric(E, call, arg, M_F1); }
val *bi_accuracy(elab *E, const el_node *call, val *const *arg) { return metric(E, call, arg, M_ACCURACY); }
