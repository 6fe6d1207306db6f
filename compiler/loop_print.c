/* loop_print.c — the loop IR as text, for `einc explain` ("schedule:") and tests. */
#include "loop.h"
#include "strbuf.h"

static void acc_text(strbuf *b, const ir_prog *p, const ir_access *a)
{
    sb_printf(b, "%s[", p->tensor[a->tensor].name);
    for (int d = 0; d < a->ndim; d++) {
        sb_printf(b, d ? ", " : "");
        if (a->dim[d].n == 0)
            sb_printf(b, "%lld", (long long)a->dim[d].off);
        for (int t = 0; t < a->dim[d].n; t++)
            sb_printf(b, "%s%s", t ? "+" : "", p->axis[a->dim[d].t[t].axis].name);
    }
    sb_printf(b, "]");
}

static void node(strbuf *b, const ir_prog *p, const lp_node *n, int depth)
{
    sb_printf(b, "%*s", 2 * depth + 2, "");
    switch (n->op) {
    case LP_LOOP:
        if (n->tile)
            sb_printf(b, "for %s blocks of %lld%s\n", p->axis[n->axis].name, (long long)n->tile,
                      n->parallel ? " parallel" : "");
        else
            sb_printf(b, "for %s%s%s%s\n", p->axis[n->axis].name, n->blocked ? " in its block" : "",
                      n->parallel ? " parallel" : "", n->vector ? " vector" : "");
        break;
    case LP_ACC:
        sb_printf(b, "acc %s -> ", ir_comb_name(n->comb));
        acc_text(b, p, n->dst);
        sb_printf(b, "%s\n", n->final ? " (with a final expression)" : "");
        break;
    case LP_UPDATE:
        sb_printf(b, "acc %s ...\n", ir_comb_name(n->comb));
        break;
    case LP_GEMM:
        sb_printf(b, "gemm m=%s n=%s k=%s%s%s%s%s: ", p->axis[n->m].name, p->axis[n->nn].name,
                  n->k2 >= 0 ? p->axis[n->k2].name : "", n->k2 >= 0 ? "*" : "", p->axis[n->k].name,
                  n->parallel ? " parallel over m" : "",
                  n->accumulate ? "" : ", first k block stores");
        acc_text(b, p, n->dst);
        sb_printf(b, " += ");
        acc_text(b, p, n->a);
        sb_printf(b, " * ");
        acc_text(b, p, n->b);
        sb_printf(b, "\n");
        break;
    case LP_STORE:
        acc_text(b, p, n->dst);
        if (!n->value)
            sb_printf(b, " = identity of %s\n", ir_comb_name(n->comb));
        else
            sb_printf(b, " %s ...\n", ir_comb_name(n->comb));
        break;
    }
    for (int i = 0; i < n->n; i++)
        node(b, p, n->body[i], depth + 1);
}

char *lp_print(const lp_prog *lp)
{
    strbuf b = { 0 };
    for (int i = 0; i < lp->nnest; i++) {
        sb_printf(&b, "nest %d (%s arithmetic):\n", i, einc_dtype_name(lp->nest[i].compute));
        node(&b, lp->ir, lp->nest[i].root, 0);
    }
    return sb_finish(&b);
}
