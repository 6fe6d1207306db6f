/*
 * schedule.c — the schedule pass: decides once what each nest of the loop IR is (loop.h,
 * lp_kind) and records it with its parameters.  Placeholder: every nest is `loops`.
 */
#include "loop.h"

const char *lp_kind_name(lp_kind k)
{
    static const char *const name[] = {
#define X(id, text) text,
        LP_KINDS(X)
#undef X
    };
    return (unsigned)k < sizeof name / sizeof *name ? name[k] : "?";
}

int lp_schedule(cc *c, lp_prog *lp, lp_target target, const lp_machine *m)
{
    (void)c, (void)target, (void)m;
    for (int i = 0; i < lp->nnest; i++)
        lp->nest[i].sched = (lp_sched){ .kind = LP_KIND_LOOPS, .parallel_axis = -1 };
    return 0;
}
