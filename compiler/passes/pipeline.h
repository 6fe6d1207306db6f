/*
 * pipeline.h — the one compilation pipeline (docs/ARCHITECTURE.md §3): every entry point
 * (run on each target, explain, every --emit, bench, the C API) turns a parsed program into
 * a bound index IR and a scheduled loop IR through pipeline_run, which runs the passes a
 * per-target table names, in one order:
 *
 *     bind → contraction path → reduction split → lower (fuses) → schedule
 *
 * with ir_validate / lp_validate after each pass when validate_enabled().  A caller may run
 * the index-IR stages now and the loop-IR ones later (the CPU backend lowers only on a
 * cache miss): pipeline_run continues from the stage it reached.
 */
#ifndef EINC_PIPELINE_H
#define EINC_PIPELINE_H

#include "cc.h"
#include "einl.h"
#include "ir.h"
#include "loop.h"

typedef enum pl_target {
    PL_INTERP,                  /* the reference interpreter runs the bound index IR */
    PL_CPU,                     /* the JIT; explain shows this target */
    PL_GPU,                     /* CUDA through NVRTC */
    PL_EMIT_C,                  /* --emit=c|header */
    PL_EMIT_LLVM,               /* --emit=llvm|asm|obj: exactly what PL_CPU runs */
    PL_EMIT_GPU,                /* --emit=cuda|ptx */
    PL_TARGETS
} pl_target;

typedef enum pl_stage { PL_NONE, PL_BIND, PL_PATH, PL_SPLIT, PL_LOWER, PL_SCHEDULE } pl_stage;

/*
 * Open sizes (emission, explain without arrays) are assumed to be this when choosing a
 * contraction path: the path that is cheapest when every open size is large and alike.
 */
#define PL_SYMBOLIC_SIZE 1024

typedef struct pipeline {
    /* in: the parsed program, an expression's AST or a model */
    const ast_expr *ast;
    const el_model *model;
    bind_opts opts;
    int ninputs;
    const einc_tensor *inputs;  /* NULL: bind without arrays (sizes from opts or symbolic) */
    const bool *strided;        /* per input, then per output; NULL: all contiguous */
    int64_t max_memory;         /* bytes per contraction-path intermediate; 0: no limit */
    lp_machine machine;
    pl_target target;
    bool record;                /* keep each stage's printed form (explain) */

    /* out */
    pl_stage done;              /* the last stage run */
    ir_prog *p;
    lp_prog *lp;
    const char *path;           /* the contraction order ("((in0 in1) in2)"), or NULL */
    double naive, opt, largest; /* its FLOPs before and after, the largest intermediate */
    bool path_symbolic;         /* chosen with open sizes taken as PL_SYMBOLIC_SIZE */
    bool split;                 /* split_reductions rewrote the program */
    bool *tstrided;             /* per tensor of p: strides come at run time */
    const char *text[PL_SCHEDULE + 1];  /* record: ir_print / lp_print after each stage */
} pipeline;

/*
 * Runs the stages after pl->done up to and including `upto` that pl->target's table holds
 * (a stage it skips still counts as reached).  Everything is allocated in c->A.  0, or -1
 * with c->err set (an internal error names the pass when a validator fails).
 */
int pipeline_run(cc *c, pipeline *pl, pl_stage upto);

/*
 * A pipeline that starts from a program already through the index-IR stages (a backend
 * that lowers on a cache miss): strided per tensor of p, or NULL.
 */
pipeline pipeline_from(const ir_prog *p, pl_target target, const bool *strided, const lp_machine *m);

/* Which stages target runs (explain's "passes:" line). */
bool pipeline_runs(pl_target target, pl_stage s);
const char *pipeline_stage_name(pl_stage s);
const char *pipeline_target_name(pl_target t);

#endif
