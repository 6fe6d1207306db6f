/* ir.c — small facts about the IR shared by every pass: sizes, dtypes, names, FLOPs. */
#include "ir.h"

#include <string.h>

static const char *const op_names[] = {
#define X(name, sym, arity) sym,
    IR_OPS(X)
#undef X
};
static const signed char op_arity[] = {
#define X(name, sym, arity) arity,
    IR_OPS(X)
#undef X
};
static const char *const comb_names[] = {
#define X(name, sym) sym,
    IR_COMBS(X)
#undef X
};

const char *ir_op_name(ir_op op) { return (unsigned)op < IR_OP_COUNT ? op_names[op] : "?"; }
int ir_op_arity(ir_op op) { return (unsigned)op < IR_OP_COUNT ? op_arity[op] : 0; }
const char *ir_comb_name(ir_comb c) { return (unsigned)c < IR_COMB_COUNT ? comb_names[c] : "?"; }

const char *ir_kind_name(ir_kind k)
{
    static const char *const names[] = { "einsum", "rearrange", "reduce", "repeat", "model" };
    return (unsigned)k < sizeof names / sizeof *names ? names[k] : "?";
}

int ir_access_dim(const ir_access *a, int axis)
{
    for (int d = 0; d < a->ndim; d++)
        for (int t = 0; t < a->dim[d].n; t++)
            if (a->dim[d].t[t].axis == axis)
                return d;
    return -1;
}

bool ir_access_uses(const ir_access *a, int axis) { return ir_access_dim(a, axis) >= 0; }

int ir_dim_axis(const ir_dim *d)
{
    return d->n == 1 && d->off == 0 && d->t[0].coef.k == 1 && d->t[0].coef.n == 0 ? d->t[0].axis : -1;
}

int ir_sole_dim(const ir_access *a, int axis)
{
    int found = -1;
    for (int d = 0; d < a->ndim; d++)
        for (int t = 0; t < a->dim[d].n; t++)
            if (a->dim[d].t[t].axis == axis) {
                if (found >= 0 || ir_dim_axis(&a->dim[d]) != axis)
                    return -1;
                found = d;
            }
    return found;
}

int64_t ir_mono_eval(const ir_prog *p, const ir_mono *m)
{
    int64_t v = m->k;
    for (int i = 0; i < m->n; i++) {
        int64_t s = p->axis[m->v[i]].size;
        if (s < 0 || __builtin_mul_overflow(v, s, &v))
            return -1;
    }
    return v;
}

int64_t ir_tensor_elems(const ir_prog *p, const ir_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) {
        int64_t s = ir_mono_eval(p, &t->shape[d]);
        if (s < 0 || __builtin_mul_overflow(n, s, &n))
            return -1;
    }
    return n;
}

bool ir_expr_reads(const ir_expr *x, int t)
{
    if (!x)
        return false;
    if (x->op == IR_ACCESS)
        return x->acc.tensor == t;
    return ir_expr_reads(x->a, t) || ir_expr_reads(x->b, t);
}

typedef struct depth_item {
    const ir_expr *x;
    int d;                  /* its depth */
} depth_item;

int ir_expr_depth(const ir_expr *x)
{
    /*
     * Depth first with the pending operands on a stack of its own: while the walk is at
     * depth d, at most one operand per level above waits, so the stack never holds more
     * than the bound plus two, and a deeper tree stops the walk, not the program.
     */
    depth_item st[IR_MAX_EXPR_DEPTH + 2];
    int n = 0, deepest = 0;
    if (x)
        st[n++] = (depth_item){ x, 1 };
    while (n) {
        depth_item it = st[--n];
        if (it.d > IR_MAX_EXPR_DEPTH)
            return IR_MAX_EXPR_DEPTH + 1;
        if (it.d > deepest)
            deepest = it.d;
        if (it.x->b)
            st[n++] = (depth_item){ it.x->b, it.d + 1 };
        if (it.x->a)
            st[n++] = (depth_item){ it.x->a, it.d + 1 };
    }
    return deepest;
}

bool ir_temp_written_whole(const ir_prog *p, int t)
{
    const ir_tensor *T = &p->tensor[t];
    for (int i = 0; i < p->nstmt; i++) {
        const ir_stmt *s = &p->stmt[i];
        if (ir_expr_reads(s->rhs, t))
            return false;           /* read before anything wrote it */
        if (s->out.tensor != t)
            continue;
        if (s->accumulate || s->out.ndim != T->ndim)
            return false;
        uint64_t used = 0;
        for (int d = 0; d < T->ndim; d++) {
            int ax = ir_dim_axis(&s->out.dim[d]);
            if (ax < 0 || ax >= 64 || (used >> ax & 1) || p->axis[ax].size != ir_mono_eval(p, &T->shape[d]) ||
                p->axis[ax].size < 0)
                return false;
            used |= 1ull << ax;
        }
        return true;
    }
    return false;
}

/*
 * numpy's einsum_path cost of one statement: the size of the whole iteration space times
 * the multiplications per point (operands − 1, at least 1), doubled when there is an inner
 * (reduced) axis for the additions.
 */
int64_t ir_flops(const ir_prog *p)
{
    int64_t total = 0;
    for (int s = 0; s < p->nstmt; s++) {
        const ir_stmt *st = &p->stmt[s];
        int64_t n = 1;
        for (int i = 0; i < st->nfree + st->nred; i++) {
            int a = i < st->nfree ? st->free[i] : st->red[i - st->nfree];
            if (p->axis[a].size < 0 || __builtin_mul_overflow(n, p->axis[a].size, &n))
                return -1;
        }
        int nacc = 0;
        const ir_expr *stack[64];
        int sp = 0;
        if (st->rhs)
            stack[sp++] = st->rhs;
        while (sp) {
            const ir_expr *x = stack[--sp];
            nacc += x->op == IR_ACCESS;
            if (x->a && sp < 63)
                stack[sp++] = x->a;
            if (x->b && sp < 63)
                stack[sp++] = x->b;
        }
        int64_t per = nacc > 1 ? nacc - 1 : 1;
        if (st->nred)
            per *= 2;
        if (__builtin_mul_overflow(n, per, &n) || __builtin_add_overflow(total, n, &total))
            return -1;
    }
    return total;
}

const char *einc_reduce_name(einc_reduce r)
{
    static const char *const names[] = { "sum", "mean", "max", "min", "prod" };
    return (unsigned)r < EINC_REDUCE_COUNT ? names[r] : "?";
}

static void renumber_expr(ir_expr *x, const int *to)
{
    if (!x)
        return;
    if (x->op == IR_ACCESS)
        x->acc.tensor = to[x->acc.tensor];
    renumber_expr(x->a, to);
    renumber_expr(x->b, to);
}

int ir_outputs_last(cc *c, ir_prog *p, const int *outs, int n)
{
    bool in_place = true;
    for (int i = 0; i < n; i++)
        in_place &= outs[i] == p->ntensor - n + i;
    if (in_place) {
        p->output = p->ntensor - n;
        p->noutput = n;
        return 0;
    }
    int *to = ARENA_ARRAY(c->A, int, p->ntensor);
    ir_tensor *t = ARENA_ARRAY(c->A, ir_tensor, p->ntensor);
    if (!to || !t)
        return cc_nomem(c);
    for (int i = 0; i < p->ntensor; i++)
        to[i] = -1;
    for (int i = 0; i < n; i++)
        to[outs[i]] = p->ntensor - n + i;
    for (int i = 0, j = 0; i < p->ntensor; i++)
        if (to[i] < 0)
            to[i] = j++;
    for (int i = 0; i < p->ntensor; i++)
        t[to[i]] = p->tensor[i];
    for (int s = 0; s < p->nstmt; s++) {
        p->stmt[s].out.tensor = to[p->stmt[s].out.tensor];
        renumber_expr(p->stmt[s].rhs, to);
    }
    for (int l = 0; l < p->nlabel; l++)
        p->label[l].tensor = to[p->label[l].tensor];
    p->tensor = t;
    p->output = p->ntensor - n;
    p->noutput = n;
    return 0;
}

uint64_t ir_const_bits(double c)
{
    if (c != c)
        return 0;
    if (c >= 9223372036854775808.0)
        return (uint64_t)INT64_MAX;
    if (c < -9223372036854775808.0)
        return (uint64_t)INT64_MIN;
    return (uint64_t)(int64_t)c;
}
