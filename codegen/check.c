/* check.c — what every code generator asks of a lowered program. */
#include "codegen.h"
#include "strbuf.h"
#include "alloc.h"

#include <stdio.h>
#include <string.h>

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

/*
 * The name a caller gives an axis's size by: its own, or "ellipsisK" for the K-th dimension
 * of '...' (its parameter's name in emitted code); "" for a number.
 */
static const char *param_name(const ir_axis *x, char *buf, size_t n)
{
    if (!x->anonymous)
        return x->name;
    if (strncmp(x->name, "...", 3) != 0)
        return "";
    snprintf(buf, n, "ellipsis%s", x->name + 3);
    return buf;
}

int cg_param_at(const lp_prog *lp, int i)
{
    if (lp->param)
        return i < lp->nparam ? lp->param[i] : -1;
    for (int a = 0; a < lp->ir->naxis; a++)
        if (lp->ir->axis[a].size < 0 && i-- == 0)
            return a;
    return -1;
}

/* ", "-separated names of the open sizes, as the caller would write them, for messages. */
static void list_open(strbuf *b, const ir_prog *p)
{
    int n = 0;
    for (int a = 0; a < p->naxis; a++) {
        char buf[80];
        if (p->axis[a].size < 0)
            sb_printf(b, "%s%s", n++ ? ", " : "", param_name(&p->axis[a], buf, sizeof buf));
    }
    if (!n)
        sb_printf(b, "none: every size is fixed");
}

static int order_error(cc *c, const ir_prog *p, const ir_axis *x, const char *fmt, const char *name)
{
    strbuf b = { 0 };
    list_open(&b, p);
    char *open = sb_finish(&b);
    if (!open)
        return cc_nomem(c);
    char what[160];
    snprintf(what, sizeof what, fmt, name);
    cc_error(c, EINC_ERR_ARG, x ? x->begin : -1, x ? x->end : -1,
             "%s (the size parameters: %s)", what, open);
    einc_free(open);
    return -1;
}

int cg_params(cc *c, lp_prog *lp, const char *const *names, int n)
{
    const ir_prog *p = lp->ir;
    int nopen = 0;
    for (int a = 0; a < p->naxis; a++)
        nopen += p->axis[a].size < 0;
    int *param = ARENA_ARRAY(c->A, int, nopen + 1);
    bool *seen = ARENA_ARRAY(c->A, bool, p->naxis + 1);
    if (!param || !seen)
        return cc_nomem(c);
    if (n < 0 || (n > 0 && !names))
        return cc_error(c, EINC_ERR_ARG, -1, -1, "a bad size parameter list");
    for (int i = 0; i < n; i++) {
        if (!names[i])
            return cc_error(c, EINC_ERR_ARG, -1, -1, "size parameter %d is NULL", i);
        char buf[80];
        int a = 0;
        while (a < p->naxis && (!*names[i] || strcmp(param_name(&p->axis[a], buf, sizeof buf),
                                                     names[i]) != 0))
            a++;
        if (a == p->naxis)
            return order_error(c, p, NULL, "the parameter order names '%.64s', which is not a "
                                           "size of this kernel", names[i]);
        if (p->axis[a].size >= 0)
            return order_error(c, p, &p->axis[a], "the parameter order names '%.64s', whose "
                                                  "size is fixed", names[i]);
        if (seen[a])
            return order_error(c, p, &p->axis[a], "the parameter order names '%.64s' twice",
                               names[i]);
        seen[a] = true;
        param[i] = a;
    }
    for (int a = 0; a < p->naxis && n > 0; a++)
        if (p->axis[a].size < 0 && !seen[a]) {
            char buf[80];
            return order_error(c, p, &p->axis[a], "the parameter order leaves out '%.64s': "
                                                  "name each once",
                               param_name(&p->axis[a], buf, sizeof buf));
        }
    for (int a = 0, i = 0; n == 0 && a < p->naxis; a++)
        if (p->axis[a].size < 0)
            param[i++] = a;
    lp->param = param;
    lp->nparam = nopen;
    return 0;
}
