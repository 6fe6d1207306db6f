/*
 * model_pattern.c — einsum, rearrange, reduce and repeat inside a model: the pattern string
 * goes through the expression front end (parse_expr, bind_expr with the operands' shapes,
 * path_optimize), and the bound program is spliced into the model's (inline_prog), its
 * axes and temporaries renumbered.
 */
#include "model_int.h"

#include <string.h>

static int remap_mono(elab *E, ir_mono *m, const int *amap)
{
    if (!m->n)
        return 0;
    int *v = ARENA_ARRAY(E->A, int, m->n);
    if (!v)
        return cc_nomem(E->c);
    for (int i = 0; i < m->n; i++)
        v[i] = amap[m->v[i]];
    m->v = v;
    return 0;
}

static int remap_access(elab *E, ir_access *a, const int *amap, const int *tmap)
{
    ir_dim *d = ARENA_ARRAY(E->A, ir_dim, a->ndim + 1);
    if (!d)
        return cc_nomem(E->c);
    for (int i = 0; i < a->ndim; i++) {
        d[i] = a->dim[i];
        ir_term *t = ARENA_ARRAY(E->A, ir_term, d[i].n + 1);
        if (!t)
            return cc_nomem(E->c);
        for (int k = 0; k < d[i].n; k++) {
            t[k] = d[i].t[k];
            t[k].axis = amap[t[k].axis];
            if (remap_mono(E, &t[k].coef, amap) < 0)
                return -1;
        }
        d[i].t = t;
    }
    a->dim = d;
    a->tensor = tmap[a->tensor];
    return 0;
}

static ir_expr *remap_expr(elab *E, const ir_expr *x, const int *amap, const int *tmap)
{
    if (!x)
        return NULL;
    ir_expr *y = ARENA_NEW(E->A, ir_expr);
    if (!y)
        return cc_nomem(E->c), NULL;
    *y = *x;
    if (x->op == IR_ACCESS && remap_access(E, &y->acc, amap, tmap) < 0)
        return NULL;
    if (x->op == IR_SIZE && remap_mono(E, &y->m, amap) < 0)
        return NULL;
    if (x->op == IR_AXIS)
        y->axis = amap[x->axis];
    y->a = remap_expr(E, x->a, amap, tmap);
    y->b = remap_expr(E, x->b, amap, tmap);
    return y;
}

/* Appends a bound einsum/einops program whose inputs are tensors in[]; returns its output. */
static int inline_prog(elab *E, const ir_prog *q, const int *in)
{
    int *amap = ARENA_ARRAY(E->A, int, q->naxis + 1), *tmap = ARENA_ARRAY(E->A, int, q->ntensor + 1);
    if (!amap || !tmap)
        return cc_nomem(E->c);
    for (int a = 0; a < q->naxis; a++)
        if ((amap[a] = new_axis(E, q->axis[a].size)) < 0)
            return -1;
    for (int t = 0; t < q->ntensor; t++) {
        const ir_tensor *T = &q->tensor[t];
        if (T->role == IR_INPUT) {
            tmap[t] = in[t];
            continue;
        }
        int64_t sh[EINC_MAX_RANK];
        for (int d = 0; d < T->ndim; d++)
            sh[d] = ir_mono_eval(q, &T->shape[d]);
        if ((tmap[t] = new_tensor(E, NULL, IR_TEMP, T->dtype, T->ndim, sh, -1, -1)) < 0)
            return -1;
    }
    for (int s = 0; s < q->nstmt; s++) {
        const ir_stmt *st = &q->stmt[s];
        ir_access out = st->out;
        if (remap_access(E, &out, amap, tmap) < 0 ||
            add_stmt(E, out, st->comb, remap_expr(E, st->rhs, amap, tmap), st->accumulate) < 0)
            return -1;
        /* keep the pattern's own loop order */
        ir_stmt *ns = &E->p->stmt[E->p->nstmt - 1];
        for (int i = 0; i < st->nfree && i < ns->nfree; i++)
            ns->free[i] = amap[st->free[i]];
        for (int i = 0; i < st->nred && i < ns->nred; i++)
            ns->red[i] = amap[st->red[i]];
    }
    return tmap[q->output];
}

static const char *const reduce_names[] = { "sum", "mean", "max", "min", "prod" };
static const char *const pattern_names[] = { "einsum", "rearrange", "reduce", "repeat" };

val *pattern_call(elab *E, const el_node *call, val *const *pos, pattern_kind kind)
{
    const char *fn = pattern_names[kind];
    bool ein = kind == PAT_EINSUM;
    val *pat = NULL, *red = NULL, *ops[EINC_MAX_OPERANDS];
    int nops = 0, nsz = 0;
    einc_size *sz = ARENA_ARRAY(E->A, einc_size, call->nargs + 1);
    if (!sz)
        return cc_nomem(E->c), NULL;
    for (int i = 0; i < call->nargs; i++) {
        const el_arg *a = &call->args[i];
        val *v = pos[i];
        if (a->key && (strcmp(a->key, "pattern") == 0 || strcmp(a->key, "reduction") == 0)) {
            if (v->kind != V_STRING)
                return shape_err(E, v->begin, v->end, "%s: %s must be a string", fn, a->key);
            *(strcmp(a->key, "pattern") == 0 ? &pat : &red) = v;
        } else if (a->key) {
            int64_t n;
            if (ein)
                return shape_err(E, a->key_begin, a->key_end, "einsum() got an unexpected keyword argument '%s'", a->key);
            if (!get_int(E, v, fn, a->key, &n))
                return NULL;
            sz[nsz++] = (einc_size){ a->key, n };
        } else if (v->kind == V_STRING && !pat && (ein || nops == 1)) {
            pat = v;
        } else if (v->kind == V_STRING && kind == PAT_REDUCE && pat && !red) {
            red = v;
        } else {
            if (nops >= (ein ? EINC_MAX_OPERANDS : 1))
                return shape_err(E, v->begin, v->end, "%s: too many operands", fn);
            ops[nops++] = v;
        }
    }
    if (!pat)
        return shape_err(E, call->begin, call->end, "%s() needs a pattern string", fn);
    if (!nops)
        return shape_err(E, call->begin, call->end, "%s() needs a tensor to work on", fn);
    einc_reduce r = EINC_REDUCE_SUM;
    if (kind == PAT_REDUCE) {
        if (!red)
            return shape_err(E, call->begin, call->end, "reduce() needs a reduction: 'sum', 'mean', "
                        "'max', 'min' or 'prod'");
        int k = -1;
        for (int i = 0; i < 5 && k < 0; i++)
            if (strcmp(red->str, reduce_names[i]) == 0)
                k = i;
        if (k < 0)
            return shape_err(E, red->begin, red->end, "reduce: unknown reduction '%s' (expected 'sum', "
                        "'mean', 'max', 'min' or 'prod')", red->str);
        r = (einc_reduce)k;
    } else if (red) {
        return shape_err(E, red->begin, red->end, "%s() takes no reduction", fn);
    }
    int tin[EINC_MAX_OPERANDS];
    einc_tensor ti[EINC_MAX_OPERANDS];
    for (int i = 0; i < nops; i++) {
        lz *z = need_tensor(E, ops[i], fn, "an operand");
        if (!z || (tin[i] = materialize(E, z)) < 0)
            return NULL;
        ti[i] = (einc_tensor){ .dtype = z->dtype, .ndim = z->ndim, .shape = z->shape };
    }
    einc_error sub = { 0 };
    cc c2 = { .A = E->A, .src = pat->str, .err = &sub };
    /* rearrange/reduce/repeat are einops' ('... ->', 'index ->'); einsum() also takes
       numpy's strings ('bid,bjd->bij'), so it reads its pattern by the usual rule */
    ast_expr *ast = parse_expr_as(&c2, ein ? EINC_DIALECT_AUTO : EINC_DIALECT_EINOPS);
    bind_opts o = { r, EINC_F32, 0, nsz, sz, false };
    ir_prog *q = ast ? bind_expr(&c2, ast, &o, nops, ti) : NULL;
    if (q && ast->nin != nops)
        cc_error(&c2, EINC_ERR_SHAPE, -1, -1, "the pattern has %d operand%s, but %d tensor%s given",
                 ast->nin, ast->nin == 1 ? "" : "s", nops, nops == 1 ? " is" : "s are");
    if (q && !c2.failed) {
        /* a repeated input axis is a diagonal: einops.einsum takes it, its rearrange,
           reduce and repeat do not */
        bool bad = (!ein && q->kind == IR_EINSUM) ||
                   (kind == PAT_REARRANGE && (q->kind == IR_REDUCE || q->kind == IR_REPEAT)) ||
                   (kind == PAT_REDUCE && q->kind == IR_REPEAT) ||
                   (kind == PAT_REPEAT && q->kind == IR_REDUCE);
        if (bad && q->kind == IR_EINSUM)
            cc_error(&c2, EINC_ERR_SHAPE, -1, -1, "an axis repeated in the input is a diagonal, "
                     "which einsum() takes and %s() does not (as in einops)", fn);
        else if (bad)
            cc_error(&c2, EINC_ERR_SHAPE, -1, -1, "the pattern is a %s, which %s() does not do",
                     ir_kind_name(q->kind), fn);
    }
    if (q && !c2.failed) {
        double naive, opt, largest;
        path_optimize(&c2, q, 0, &naive, &opt, &largest);
    }
    if (c2.failed) {
        int b = sub.begin >= 0 ? pat->str_begin + sub.begin : pat->begin;
        int e = sub.begin >= 0 ? pat->str_begin + sub.end : pat->end;
        cc_error(E->c, sub.status, b, e, "%s: %s", fn, sub.message);
        return NULL;
    }
    int out = inline_prog(E, q, tin);
    return out < 0 ? NULL : tensor_val(E, lz_tensor(E, out), call->begin, call->end);
}

val *bi_einsum(elab *E, const el_node *call, val *const *arg) { return pattern_call(E, call, arg, PAT_EINSUM); }
val *bi_rearrange(elab *E, const el_node *call, val *const *arg) { return pattern_call(E, call, arg, PAT_REARRANGE); }
val *bi_reduce(elab *E, const el_node *call, val *const *arg) { return pattern_call(E, call, arg, PAT_REDUCE); }
val *bi_repeat(elab *E, const el_node *call, val *const *arg) { return pattern_call(E, call, arg, PAT_REPEAT); }
