/*
 * ir_print.c — the IR as text, for `einc explain` and the golden tests.
 *
 *     out[i, j] += in0[i, k] * in1[k, j]        (reduce k)
 *
 * In an access, |w| is the size of axis w: "(h w)" reads as in0[h*|w| + w].
 */
#include "ir.h"
#include "strbuf.h"

static void print_mono(strbuf *b, const ir_prog *p, const ir_mono *m, bool bars)
{
    if (m->n == 0 || m->k != 1)
        sb_printf(b, "%lld%s", (long long)m->k, m->n ? "*" : "");
    for (int i = 0; i < m->n; i++)
        sb_printf(b, bars ? "%s|%s|" : "%s%s", i ? "*" : "", p->axis[m->v[i]].name);
}

static void print_access(strbuf *b, const ir_prog *p, const ir_access *a)
{
    sb_printf(b, "%s[", p->tensor[a->tensor].name);
    for (int d = 0; d < a->ndim; d++) {
        const ir_dim *dim = &a->dim[d];
        sb_printf(b, d ? ", " : "");
        for (int t = 0; t < dim->n; t++) {
            sb_printf(b, "%s%s", t ? " + " : "", p->axis[dim->t[t].axis].name);
            if (dim->t[t].coef.n || dim->t[t].coef.k != 1) {
                sb_printf(b, "*");
                print_mono(b, p, &dim->t[t].coef, true);
            }
        }
        if (dim->n == 0 || dim->off)
            sb_printf(b, dim->n ? " + %lld" : "%lld", (long long)dim->off);
    }
    /* ?: may read outside, as 0; ?-inf, ?+inf, ?1: as the identity of max, min, prod (the
       lowest and highest of an integer type where the statement computes in integers) */
    static const char *const pad[IR_COMB_COUNT] = { [IR_COMB_MAX] = "-inf", [IR_COMB_MIN] = "+inf",
                                                    [IR_COMB_PROD] = "1" };
    const char *v = (unsigned)a->pad < IR_COMB_COUNT && pad[a->pad] ? pad[a->pad] : "";
    sb_printf(b, a->guard ? "]?%s" : "]", v);
}

static void print_expr(strbuf *b, const ir_prog *p, const ir_expr *x, int prec)
{
    int my = 0;                 /* an infix operator's precedence */
    switch (x->op) {
    case IR_ACCESS: print_access(b, p, &x->acc); return;
    case IR_CONST: sb_printf(b, "%.17g", x->c); return;
    case IR_SIZE:
        sb_printf(b, "(");
        print_mono(b, p, &x->m, true);
        sb_printf(b, ")");
        return;
    case IR_AXIS: sb_printf(b, "%s", p->axis[x->axis].name); return;
    case IR_ADD: case IR_SUB: my = 1; break;
    case IR_MUL: case IR_DIV: my = 2; break;
    case IR_DIVZ: case IR_MAX: case IR_MIN: case IR_EQ: case IR_NEG: case IR_EXP: case IR_LOG:
    case IR_SQRT: case IR_RSQRT: case IR_TANH: case IR_ERF: case IR_SIGMOID:
        sb_printf(b, "%s(", ir_op_name(x->op));     /* a call: exp(a), max(a, b) */
        print_expr(b, p, x->a, 0);
        if (x->b) {
            sb_printf(b, ", ");
            print_expr(b, p, x->b, 0);
        }
        sb_printf(b, ")");
        return;
    case IR_OP_COUNT:
        break;
    }
    if (!my) {                  /* not an operator: shown, never mistaken for its operand */
        sb_printf(b, "<operator %d>", (int)x->op);
        return;
    }
    if (my < prec)
        sb_printf(b, "(");
    print_expr(b, p, x->a, my);
    sb_printf(b, " %s ", ir_op_name(x->op));
    print_expr(b, p, x->b, my + 1);
    if (my < prec)
        sb_printf(b, ")");
}

void ir_print_shape(strbuf *b, const ir_prog *p, const ir_tensor *t)
{
    for (int d = 0; d < t->ndim; d++) {
        int64_t n = ir_mono_eval(p, &t->shape[d]);
        sb_printf(b, d ? ", " : "");
        if (n >= 0)
            sb_printf(b, "%lld", (long long)n);
        else
            print_mono(b, p, &t->shape[d], false);
    }
}

char *ir_print(const ir_prog *p)
{
    strbuf b = { 0 };
    sb_printf(&b, "dialect: %s\n", p->why);
    sb_printf(&b, "kind: %s", ir_kind_name(p->kind));
    if (p->kind == IR_REDUCE)
        sb_printf(&b, " (%s)", einc_reduce_name((einc_reduce)p->reduce));
    sb_printf(&b, "\naxes:");
    for (int a = 0; a < p->naxis; a++) {
        const ir_axis *x = &p->axis[a];
        if (x->size >= 0)
            sb_printf(&b, " %s=%lld", x->name, (long long)x->size);
        else
            sb_printf(&b, " %s=?", x->name);
    }
    sb_printf(&b, "\ntensors:\n");
    for (int t = 0; t < p->ntensor; t++) {
        const ir_tensor *T = &p->tensor[t];
        static const char *const roles[] = { "input", "temp", "output" };
        sb_printf(&b, "  %-4s %-6s %s[", T->name, roles[T->role], einc_dtype_name(T->dtype));
        for (int d = 0; d < T->ndim; d++) {
            sb_printf(&b, d ? ", " : "");
            print_mono(&b, p, &T->shape[d], false);
        }
        sb_printf(&b, T->origin ? "]    (%s)\n" : "]\n", T->origin);
    }
    sb_printf(&b, "statements:\n");
    for (int s = 0; s < p->nstmt; s++) {
        const ir_stmt *st = &p->stmt[s];
        sb_printf(&b, "  ");
        print_access(&b, p, &st->out);
        sb_printf(&b, " %s ", ir_comb_name(st->comb));
        print_expr(&b, p, st->rhs, 0);
        if (st->accumulate)
            sb_printf(&b, "    (into its value)");
        if (st->nred) {
            sb_printf(&b, "    (reduce");
            for (int i = 0; i < st->nred; i++)
                sb_printf(&b, " %s", p->axis[st->red[i]].name);
            sb_printf(&b, ")");
        }
        sb_printf(&b, "\n");
    }
    int64_t f = ir_flops(p);
    if (f >= 0)
        sb_printf(&b, "flops: %lld\n", (long long)f);
    else
        sb_printf(&b, "flops: depends on the sizes\n");
    return sb_finish(&b);
}
