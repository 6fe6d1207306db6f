/*
 * pipeline.c — see pipeline.h.  The table below is the only place that says which pass runs
 * for which target; docs/ARCHITECTURE.md §3 describes it.
 */
#include "pipeline.h"
#include "alloc.h"
#include "validate.h"

#include <string.h>

typedef struct pl_row {
    const char *name;
    bool path, split;           /* the index-IR passes */
    bool loops;                 /* lowered and scheduled (the interpreter runs the index IR) */
    lp_target lower;
} pl_row;

/*
 * The interpreter is the oracle: it runs the program as bound.  A GPU reduces in registers,
 * one thread per output element, so it has no use for split_reductions' parallel halves.
 * Emission runs exactly the passes of the target whose code it emits.
 */
static const pl_row table[PL_TARGETS] = {
    [PL_INTERP]    = { "interp", false, false, false, LP_CPU },
    [PL_CPU]       = { "cpu", true, true, true, LP_CPU },
    [PL_GPU]       = { "cuda", true, false, true, LP_GPU },
    [PL_EMIT_C]    = { "c", true, true, true, LP_CPU },
    [PL_EMIT_LLVM] = { "llvm", true, true, true, LP_CPU },
    [PL_EMIT_GPU]  = { "cuda", true, false, true, LP_GPU },
};

const char *pipeline_target_name(pl_target t)
{
    return (unsigned)t < PL_TARGETS ? table[t].name : "?";
}

const char *pipeline_stage_name(pl_stage s)
{
    static const char *const name[] = { "none", "bind", "contraction path", "reduction split",
                                        "lower", "schedule" };
    return (unsigned)s <= PL_SCHEDULE ? name[s] : "?";
}

bool pipeline_runs(pl_target target, pl_stage s)
{
    const pl_row *r = &table[target];
    switch (s) {
    case PL_NONE:
        return false;
    case PL_BIND:
        return true;
    case PL_PATH:
        return r->path;
    case PL_SPLIT:
        return r->split;
    case PL_LOWER:
    case PL_SCHEDULE:
        return r->loops;
    }
    return false;
}

pipeline pipeline_from(const ir_prog *p, pl_target target, const bool *strided, const lp_machine *m)
{
    /* the loop-IR stages only read the program and the flags */
    return (pipeline){ .target = target, .done = PL_SPLIT, .p = (ir_prog *)p,
                       .tstrided = (bool *)strided, .machine = m ? *m : (lp_machine){ 0 } };
}

/* Copies a malloc'ed printed form into the arena; NULL (and c->err) when out of memory. */
static const char *keep(cc *c, char *s)
{
    const char *k = s ? arena_strndup(c->A, s, strlen(s)) : NULL;
    einc_free(s);
    if (!k)
        cc_nomem(c);
    return k;
}

/*
 * The outputs go last, as ir.h promises and split_reductions and the backends' buffer
 * lists assume: a model may return a temporary that stands before later ones.
 */
static int output_last(cc *c, ir_prog *p)
{
    if (p->output + p->noutput == p->ntensor)
        return 0;
    int *outs = ARENA_ARRAY(c->A, int, p->noutput);
    if (!outs)
        return cc_nomem(c);
    for (int i = 0; i < p->noutput; i++)
        outs[i] = p->output + i;
    return ir_outputs_last(c, p, outs, p->noutput);
}

static int bind(cc *c, pipeline *pl)
{
    int n = pl->inputs ? pl->ninputs : 0;
    /* emitted code takes a model's sizes not given as parameters, as an expression's */
    bool open = pl->model && !pl->inputs && (pl->target == PL_EMIT_C || pl->target == PL_EMIT_GPU);
    pl->p = open ? einl_elaborate_open(c, pl->model, pl->opts.nsizes, pl->opts.sizes)
          : pl->model ? einl_elaborate(c, pl->model, pl->opts.nsizes, pl->opts.sizes, n, pl->inputs)
                      : bind_expr(c, pl->ast, &pl->opts, n, pl->inputs);
    if (!pl->p || output_last(c, pl->p) < 0)
        return -1;
    ir_prog *p = pl->p;
    pl->tstrided = ARENA_ARRAY(c->A, bool, p->ntensor + 1);
    if (!pl->tstrided)
        return cc_nomem(c);
    for (int t = 0; pl->strided && t < p->ntensor; t++) {
        if (t < p->ninput && t < n)
            pl->tstrided[t] = pl->strided[t];
        else if (t >= p->output)
            pl->tstrided[t] = pl->strided[n + t - p->output];
    }
    return 0;
}

/* max_memory in elements of the program's result type (0: no limit). */
static int64_t max_elems(const pipeline *pl)
{
    if (pl->max_memory <= 0)
        return 0;
    int64_t e = pl->max_memory / (int64_t)dtype_size(pl->p->tensor[pl->p->output].dtype);
    return e > 0 ? e : 1;
}

/*
 * path_optimize at the program's sizes, or with the open ones at PL_SYMBOLIC_SIZE: 0 when
 * it rewrote the program, 1 when it stays one statement, -1 on error.
 */
static int path(cc *c, pipeline *pl)
{
    ir_prog *p = pl->p;
    if (pl->model)              /* a model's pattern calls chose theirs when elaborated */
        return 1;
    int64_t *size = NULL;
    if (!p->bound) {
        if (!(size = ARENA_ARRAY(c->A, int64_t, p->naxis + 1)))
            return cc_nomem(c);
        for (int a = 0; a < p->naxis; a++)
            size[a] = p->axis[a].size >= 0 ? p->axis[a].size : PL_SYMBOLIC_SIZE;
    }
    pl->path = path_optimize_at(c, p, size, max_elems(pl), &pl->naive, &pl->opt, &pl->largest);
    if (c->failed)
        return -1;
    pl->path_symbolic = pl->path && !p->bound;
    return pl->path ? 0 : 1;
}

/* Moves the outputs' strided flags to where the outputs now are (the passes renumber it). */
static int restride(cc *c, pipeline *pl, int old_output)
{
    ir_prog *p = pl->p;
    bool *s = ARENA_ARRAY(c->A, bool, p->ntensor + 1);
    if (!s)
        return cc_nomem(c);
    for (int t = 0; t < p->ninput; t++)
        s[t] = pl->tstrided[t];
    for (int i = 0; i < p->noutput; i++)
        s[p->output + i] = pl->tstrided[old_output + i];
    pl->tstrided = s;
    return 0;
}

static int record_ir(cc *c, pipeline *pl, pl_stage s)
{
    if (pl->record && !(pl->text[s] = keep(c, ir_print(pl->p))))
        return -1;
    return 0;
}

static int stage(cc *c, pipeline *pl, pl_stage s)
{
    const pl_row *r = &table[pl->target];
    const char *name = pipeline_stage_name(s);
    int old = pl->p ? pl->p->output : 0;
    switch (s) {
    case PL_NONE:
        return 0;
    case PL_BIND:
        if (bind(c, pl) < 0)
            return -1;
        break;
    case PL_PATH: {
        if (!r->path)
            return 0;
        int rc = path(c, pl);
        if (rc < 0)
            return -1;
        if (rc > 0)
            return 0;
        if (restride(c, pl, old) < 0)
            return -1;
        break;
    }
    case PL_SPLIT: {
        if (!r->split)
            return 0;
        int rc = split_reductions(c, pl->p);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return 0;
        pl->split = true;
        if (restride(c, pl, old) < 0)
            return -1;
        break;
    }
    case PL_LOWER:
        if (!r->loops)
            return 0;
        if (!(pl->lp = lower(c, pl->p, r->lower, pl->tstrided)))
            return -1;
        if (validate_enabled() && !lp_validate(c, pl->lp, name))
            return -1;
        return 0;
    case PL_SCHEDULE:
        if (!r->loops)
            return 0;
        if (lp_schedule(c, pl->lp, r->lower, &pl->machine) < 0)
            return -1;
        if (validate_enabled() && !lp_validate(c, pl->lp, name))
            return -1;
        if (pl->record && !(pl->text[s] = keep(c, lp_print(pl->lp))))
            return -1;
        return 0;
    }
    if (validate_enabled() && !ir_validate(c, pl->p, name))
        return -1;
    return record_ir(c, pl, s);
}

int pipeline_run(cc *c, pipeline *pl, pl_stage upto)
{
    if ((unsigned)pl->target >= PL_TARGETS) {
        cc_error(c, EINC_ERR_ARG, -1, -1, "internal error: unknown pipeline target");
        return -1;
    }
    while (pl->done < upto) {
        pl_stage s = (pl_stage)(pl->done + 1);
        if (stage(c, pl, s) < 0)
            return -1;
        pl->done = s;
    }
    return 0;
}
