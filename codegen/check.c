/* check.c — what every source generator requires of a lowered program. */
#include "codegen.h"

static bool reads_temp(const ir_prog *p, const ir_expr *x, int acc_tensor)
{
    if (!x)
        return false;
    if (x->op == IR_ACCESS)
        return p->tensor[x->acc.tensor].role == IR_TEMP && x->acc.tensor != acc_tensor;
    return reads_temp(p, x->a, acc_tensor) || reads_temp(p, x->b, acc_tensor);
}

static bool node_ok(const ir_prog *p, const lp_node *n, int acc_tensor)
{
    if (reads_temp(p, n->value, acc_tensor) || reads_temp(p, n->final, acc_tensor))
        return false;
    if (n->dst && p->tensor[n->dst->tensor].role == IR_TEMP)
        return false;
    for (int i = 0; i < n->n; i++)
        if (!node_ok(p, n->body[i], acc_tensor))
            return false;
    return true;
}

int cg_check(cc *c, const lp_prog *lp, bool temps)
{
    for (int i = 0; i < lp->nnest && !temps; i++)
        if (!node_ok(lp->ir, lp->nest[i].root, lp->nest[i].acc_tensor))
            return cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1,
                            "this program needs a temporary array, which kernel source "
                            "cannot allocate yet");
    return 0;
}
