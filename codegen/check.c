/* check.c — what every code generator asks of a lowered program. */
#include "codegen.h"

bool cg_temp_stored(const lp_prog *lp, int t)
{
    if (lp->ir->tensor[t].role != IR_TEMP || lp->acc[t])
        return false;           /* an accumulator is a register (or dst) */
    for (int i = 0; i < lp->nnest; i++)
        if (lp_touches(lp->nest[i].root, t))
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
