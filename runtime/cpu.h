/*
 * cpu.h — the CPU target: JIT-compiled kernels, a cache of them, and the thread pool.
 *
 * One cpu_backend per context.  cpu_run compiles a bound program on first sight of its key
 * (LLVM runs once per key, whatever the number of threads asking), then runs its nests in
 * order, each parallel nest split across the pool.
 */
#ifndef EINC_CPU_H
#define EINC_CPU_H

#include "ir.h"
#include "kcache.h"
#include "loop.h"

typedef struct cpu_backend cpu_backend;

cpu_backend *cpu_new(int nthreads);        /* NULL when out of memory */
void cpu_free(cpu_backend *b);
int cpu_threads(const cpu_backend *b);
long cpu_compiles(const cpu_backend *b);   /* how many times LLVM ran, for tests */
long cpu_disk_hits(const cpu_backend *b);  /* kernels the disk cache gave instead */
/* Compiled kernels go to and come from kc (the context's: it outlives b), before the
   first run; NULL: none. */
void cpu_use_kcache(cpu_backend *b, kcache *kc);

/*
 * Whether key's kernel is compiled in this context or (with disk) stored in the disk cache,
 * which it lowers p for, in c->A, to name the entry: --target=auto then runs it rather
 * than the interpreter.  False also on an error (in c->err).
 */
bool cpu_cached(cpu_backend *b, cc *c, const char *key, const ir_prog *p,
                const int64_t *const *strides, bool disk);

/*
 * key identifies everything the compiled code depends on (see einc.c: expression,
 * options, dtypes, ranks, length-1 dimensions, strided arrays).  buf and strides are per
 * tensor; strides[t] NULL means contiguous.
 */
int cpu_run(cpu_backend *b, cc *c, const char *key, const ir_prog *p, void *const *buf,
            const int64_t *const *strides);

/*
 * A compiled kernel's run made ready to repeat: key's entry in b's cache and what p (bound)
 * decides of a run, its axis sizes and temporaries.  einc.c keeps one per signature it
 * has run, and runs it again on arrays of the same dtypes and shapes without binding
 * them.  NULL when key is not compiled in b, or out of memory; einc_free frees it.  It
 * points into b's cache, which keeps its entries until cpu_free.
 */
typedef struct cpu_plan cpu_plan;
cpu_plan *cpu_plan_new(cpu_backend *b, const char *key, const ir_prog *p);
/* Runs pl on io: the inputs' data, a computed label's temporary, then the outputs' (io_strides likewise, NULL:
   contiguous); -1 when out of memory. */
int cpu_plan_run(cpu_backend *b, const cpu_plan *pl, void *const *io, const int64_t *const *io_strides);

/*
 * The axes a nest's loops run over (a tiled axis once), ascending, into axes (room for
 * naxis); their count, or -1 when out of memory.
 */
int cpu_nest_axes(const lp_node *root, int naxis, int *axes);
/*
 * The work per index of the nest's parallel axis par, given its axes: the product of the
 * others' sizes (an empty one counts as 1), INT64_MAX where it overflows.
 */
int64_t cpu_nest_grain(const int *axes, int n, int par, const int64_t *sizes);

#endif
