/* check.c — what every code generator asks of a lowered program. */
#include "codegen.h"

static bool reads(const ir_expr *x, int t)
{
    if (!x)
        return false;
    if (x->op == IR_ACCESS)
        return x->acc.tensor == t;
    return reads(x->a, t) || reads(x->b, t);
}

static bool touches(const lp_node *n, int t)
{
    if (reads(n->value, t) || reads(n->final, t) ||
        (n->dst && n->dst->tensor == t) || (n->a && n->a->tensor == t) || (n->b && n->b->tensor == t))
        return true;
    for (int i = 0; i < n->n; i++)
        if (touches(n->body[i], t))
            return true;
    return false;
}

bool cg_temp_stored(const lp_prog *lp, int t)
{
    if (lp->ir->tensor[t].role != IR_TEMP || lp->acc[t])
        return false;           /* an accumulator is a register (or dst) */
    for (int i = 0; i < lp->nnest; i++)
        if (touches(lp->nest[i].root, t))
            return true;
    return false;
}

int cg_check(cc *c, const lp_prog *lp, bool temps)
{
    for (int t = 0; t < lp->ir->ntensor && !temps; t++)
        if (cg_temp_stored(lp, t))
            return cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1,
                            "this program needs a temporary array, which this code "
                            "generator cannot allocate");
    return 0;
}
