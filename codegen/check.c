/* check.c — what every code generator asks of a lowered program. */
#include "codegen.h"

static bool reads(const ir_expr *x, int t, int acc_tensor)
{
    if (!x)
        return false;
    if (x->op == IR_ACCESS)
        return x->acc.tensor == t && t != acc_tensor;
    return reads(x->a, t, acc_tensor) || reads(x->b, t, acc_tensor);
}

static bool touches(const lp_node *n, int t, int acc_tensor)
{
    if (reads(n->value, t, acc_tensor) || reads(n->final, t, acc_tensor) ||
        (n->dst && n->dst->tensor == t) || (n->a && n->a->tensor == t) || (n->b && n->b->tensor == t))
        return true;
    for (int i = 0; i < n->n; i++)
        if (touches(n->body[i], t, acc_tensor))
            return true;
    return false;
}

bool cg_temp_stored(const lp_prog *lp, int t)
{
    if (lp->ir->tensor[t].role != IR_TEMP)
        return false;
    for (int i = 0; i < lp->nnest; i++)
        if (touches(lp->nest[i].root, t, lp->nest[i].acc_tensor))
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
