/*
 * bind_emit.c — step 5 of binding (bind.c gives the algorithm): tensors, accesses and
 * statements of the index IR.  A mean is a sum followed by a division.
 */
#include "bind_int.h"

#include <stdio.h>
#include <string.h>

/* ---- 5. emission ------------------------------------------------------------------------- */

/* The axis an AST leaf stands for (-1: a unit axis that indexes nothing). */
static int leaf_axis(binder *b, const ast_axis *a)
{
    if (a->kind == AST_NAME)
        return find_axis(b->p, a->name);
    if (a->kind == AST_NUMBER)
        return a->number == 1 ? -1 : anon_find(b, a);
    return -1;
}

/*
 * Builds one dimension (shape and access) from a list of leaves composed left to right:
 * the access is Horner's rule, Σ leaf · (product of the sizes after it).
 */
static int compose(binder *b, const int *ax, int n, ir_mono *shape, ir_dim *dim)
{
    arena *A = b->c->A;
    int *sv = ARENA_ARRAY(A, int, n + 1);
    ir_term *t = ARENA_ARRAY(A, ir_term, n + 1);
    if (!sv || !t)
        return cc_nomem(b->c);
    int ns = 0, nt = 0;
    for (int i = 0; i < n; i++)
        if (ax[i] >= 0)
            sv[ns++] = ax[i];
    *shape = (ir_mono){ 1, ns, sv };
    for (int i = 0, k = 0; i < n; i++) {
        if (ax[i] < 0)
            continue;
        k++;
        t[nt].axis = ax[i];
        t[nt].coef = (ir_mono){ 1, ns - k, sv + k };
        nt++;
    }
    *dim = (ir_dim){ nt, t, 0 };
    return 0;
}

/* An input or output side → a tensor's shape and the access that reads or writes it. */
static int side_access(binder *b, const ast_side *s, int op, int tensor, ir_tensor *T, ir_access *acc)
{
    arena *A = b->c->A;
    int er = op >= 0 ? b->erank[op] : b->nell;
    if (er < 0)
        er = 0;
    int ndim = 0;
    for (int i = 0; i < s->n; i++)
        ndim += s->ax[i]->kind == AST_ELLIPSIS ? er : 1;
    T->ndim = ndim;
    T->shape = ARENA_ARRAY(A, ir_mono, ndim + 1);
    acc->tensor = tensor;
    acc->ndim = ndim;
    acc->dim = ARENA_ARRAY(A, ir_dim, ndim + 1);
    /* room for the largest group: a member repeated ("(k k)") counts each time */
    int most = 1;
    for (int i = 0; i < s->n; i++)
        if (s->ax[i]->kind == AST_GROUP)
            most = s->ax[i]->n * (b->nell + 1) > most ? s->ax[i]->n * (b->nell + 1) : most;
    int *tmp = ARENA_ARRAY(A, int, most + 1);
    if (!T->shape || !acc->dim || !tmp)
        return cc_nomem(b->c);
    int d = 0;
    for (int i = 0; i < s->n; i++) {
        const ast_axis *a = s->ax[i];
        if (a->kind == AST_ELLIPSIS) {
            for (int k = 0; k < er; k++, d++) {
                int id = b->ell0 + b->nell - er + k;
                if (op >= 0 && b->inputs && b->inputs[op].shape[d] == 1 && b->p->axis[id].size != 1) {
                    T->shape[d] = (ir_mono){ 1, 0, NULL };
                    acc->dim[d] = (ir_dim){ 0, NULL, 0 };
                } else if (compose(b, &id, 1, &T->shape[d], &acc->dim[d]) < 0) {
                    return -1;
                }
            }
            continue;
        }
        int n = 0;
        if (a->kind == AST_GROUP) {
            for (int j = 0; j < a->n; j++) {
                const ast_axis *m = a->member[j];
                if (m->kind == AST_ELLIPSIS)
                    for (int k = 0; k < b->nell; k++)
                        tmp[n++] = b->ell0 + k;
                else
                    tmp[n++] = leaf_axis(b, m);
            }
        } else {
            tmp[n++] = leaf_axis(b, a);
        }
        /* numpy broadcasting: a length-1 dimension against a longer axis reads index 0. */
        if (op >= 0 && b->inputs && a->kind == AST_NAME && b->inputs[op].shape[d] == 1 &&
            b->p->axis[tmp[0]].size != 1) {
            T->shape[d] = (ir_mono){ 1, 0, NULL };
            acc->dim[d] = (ir_dim){ 0, NULL, 0 };
        } else if (compose(b, tmp, n, &T->shape[d], &acc->dim[d]) < 0) {
            return -1;
        }
        d++;
    }
    return 0;
}

static einc_dtype result_dtype(binder *b, ir_kind kind)
{
    einc_dtype t = b->inputs ? b->inputs[0].dtype : b->o->dtype;
    for (int i = 1; b->inputs && i < b->nin; i++)
        t = dtype_promote(t, b->inputs[i].dtype);
    /*
     * A one-operand reduction is numpy's sum/mean/max/min/prod, except numpy-dialect sum,
     * which is einsum and keeps the input's type.
     */
    if (kind != IR_REDUCE || dtype_is_float(t) || dtype_is_complex(t))
        return t;
    switch (b->o->reduce) {
    case EINC_REDUCE_MEAN:
        return EINC_F64;
    case EINC_REDUCE_MAX:
    case EINC_REDUCE_MIN:
        return t;
    case EINC_REDUCE_SUM:
        return b->e->dialect == DIALECT_NUMPY ? t : dtype_sum_type(t);
    case EINC_REDUCE_PROD:
    case EINC_REDUCE_COUNT:         /* not a reduction: refused before binding */
        return dtype_sum_type(t);
    }
    return dtype_sum_type(t);
}

static ir_expr *new_expr(binder *b, ir_op op)
{
    ir_expr *x = ARENA_NEW(b->c->A, ir_expr);
    if (!x)
        cc_nomem(b->c);
    else
        x->op = op;
    return x;
}

int bind_emit(binder *b, const ast_side *out)
{
    ir_prog *p = b->p;
    arena *A = b->c->A;
    /* A float32 mean sums into a float64 temporary, so it rounds once, as numpy's does. */
    bool mean = p->kind == IR_REDUCE && p->reduce == IR_COMB_MEAN;
    einc_dtype odt = result_dtype(b, p->kind);
    bool temp = mean && (odt == EINC_F32 || dtype_is_half(odt));
    p->ninput = b->nin;
    p->ntensor = b->nin + 1 + temp;
    p->tensor = ARENA_ARRAY(A, ir_tensor, p->ntensor);
    ir_access *acc = ARENA_ARRAY(A, ir_access, b->nin + 1);
    if (!p->tensor || !acc)
        return cc_nomem(b->c);
    for (int i = 0; i < b->nin; i++) {
        ir_tensor *T = &p->tensor[i];
        char nm[32];
        snprintf(nm, sizeof nm, "in%d", i);
        T->name = arena_strndup(A, nm, strlen(nm));
        T->role = IR_INPUT;
        T->dtype = b->inputs ? b->inputs[i].dtype : b->o->dtype;
        T->begin = b->e->in[i]->begin;
        T->end = b->e->in[i]->end;
        if (!T->name || side_access(b, b->e->in[i], i, i, T, &acc[i]) < 0)
            return T->name ? -1 : cc_nomem(b->c);
    }
    p->output = p->ntensor - 1;
    p->noutput = 1;
    ir_tensor *O = &p->tensor[p->output];
    O->name = "out";
    O->role = IR_OUTPUT;
    O->dtype = odt;
    O->begin = out->begin;
    O->end = out->end;
    ir_stmt *st = ARENA_ARRAY(A, ir_stmt, 2);
    if (!st)
        return cc_nomem(b->c);
    if (side_access(b, out, -1, p->output, O, &st[0].out) < 0)
        return -1;

    /* The right-hand side: the product of the operands, left to right. */
    ir_expr *rhs = NULL;
    for (int i = 0; i < b->nin; i++) {
        ir_expr *x = new_expr(b, IR_ACCESS);
        if (!x)
            return -1;
        x->acc = acc[i];
        if (rhs) {
            ir_expr *m = new_expr(b, IR_MUL);
            if (!m)
                return -1;
            m->a = rhs;
            m->b = x;
            x = m;
        }
        rhs = x;
    }
    st[0].rhs = rhs;
    st[0].free = ARENA_ARRAY(A, int, p->naxis + 1);
    st[0].red = ARENA_ARRAY(A, int, p->naxis + 1);
    if (!st[0].free || !st[0].red)
        return cc_nomem(b->c);
    /* Loop order: output axes as they appear in the output, then reduced axes in order. */
    for (int d = 0; d < st[0].out.ndim; d++)
        for (int t = 0; t < st[0].out.dim[d].n; t++)
            st[0].free[st[0].nfree++] = st[0].out.dim[d].t[t].axis;
    for (int a = 0; a < p->naxis; a++)
        if (p->axis[a].in_input && !p->axis[a].in_output)
            st[0].red[st[0].nred++] = a;
    st[0].comb = st[0].nred ? p->reduce : IR_COMB_ASSIGN;
    if (st[0].comb == IR_COMB_MEAN)
        st[0].comb = IR_COMB_SUM;
    p->nstmt = 1;
    p->stmt = st;

    if (mean) {
        /* sum first (into the temporary when there is one), then out = sum / count */
        ir_stmt *s2 = &st[1];
        s2->out = st[0].out;
        s2->comb = IR_COMB_ASSIGN;
        s2->free = st[0].free;
        s2->nfree = st[0].nfree;
        ir_expr *num = new_expr(b, IR_ACCESS), *den = new_expr(b, IR_SIZE), *div = new_expr(b, IR_DIV);
        int *v = ARENA_ARRAY(A, int, st[0].nred + 1);
        if (!num || !den || !div || !v)
            return cc_nomem(b->c);
        num->acc = st[0].out;
        if (temp) {
            ir_tensor *T = &p->tensor[b->nin];
            *T = *O;
            T->name = "sum";
            T->role = IR_TEMP;
            T->dtype = EINC_F64;
            st[0].out.tensor = b->nin;
            num->acc.tensor = b->nin;
        }
        memcpy(v, st[0].red, sizeof *v * (size_t)st[0].nred);
        den->m = (ir_mono){ 1, st[0].nred, v };
        div->a = num;
        div->b = den;
        s2->rhs = div;
        p->nstmt = 2;
    }
    return 0;
}
