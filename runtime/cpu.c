/* cpu.c — see cpu.h. */
#define _POSIX_C_SOURCE 200809L
#include "cpu.h"
#include "alloc.h"
#include "jit.h"
#include "loop.h"
#include "pipeline.h"
#include "pool.h"
#include "timing.h"

#include <pthread.h>
#include <string.h>

typedef struct centry centry;
struct centry {
    centry *next;
    uint64_t hash;
    char *key;
    int nnest;
    jit_nest_fn *fn;
    int *par_axis;              /* per nest: the axis its parallel loop runs over, or -1 */
    int **axes;                 /* per nest: the axes its loops run over, each once */
    int *naxes;
};

struct cpu_backend {
    pthread_mutex_t mu;         /* guards the cache and the JIT's creation */
    jit *jit;
    centry *cache;
    pool *pool;
    long compiles;
    kcache *kc;                 /* the on-disk cache (the context's), or NULL */
    long disk_hits;             /* kernels loaded from it instead of compiled */
};

static void free_axes(centry *e)
{
    for (int i = 0; e->axes && i < e->nnest; i++)
        einc_free(e->axes[i]);
    einc_free(e->axes);
    einc_free(e->naxes);
}

cpu_backend *cpu_new(int nthreads)
{
    cpu_backend *b = einc_calloc(1, sizeof *b);
    if (!b)
        return NULL;
    pthread_mutex_init(&b->mu, NULL);
    b->pool = pool_new(nthreads);
    if (!b->pool) {
        pthread_mutex_destroy(&b->mu);
        einc_free(b);
        return NULL;
    }
    return b;
}

void cpu_free(cpu_backend *b)
{
    if (!b)
        return;
    for (centry *e = b->cache, *n; e; e = n) {
        n = e->next;
        einc_free(e->key);
        einc_free(e->fn);
        einc_free(e->par_axis);
        free_axes(e);
        einc_free(e);
    }
    jit_free(b->jit);
    pool_free(b->pool);
    pthread_mutex_destroy(&b->mu);
    einc_free(b);
}

int cpu_threads(const cpu_backend *b) { return pool_threads(b->pool); }

long cpu_compiles(const cpu_backend *b) { return b->compiles; }

long cpu_disk_hits(const cpu_backend *b) { return b->disk_hits; }

void cpu_use_kcache(cpu_backend *b, kcache *kc) { b->kc = kc; }

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static centry *find(cpu_backend *b, const char *key, uint64_t h)
{
    for (centry *e = b->cache; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

/* The depth is the nest's: at most a tile loop and a blocked loop per axis (IR_MAX_AXES). */
static void mark_axes(const lp_node *r, bool *seen)
{
    if (r->op == LP_LOOP)
        seen[r->axis] = true;
    if (r->op == LP_GEMM) {
        seen[r->m] = seen[r->nn] = seen[r->k] = true;
        if (r->k2 >= 0)
            seen[r->k2] = true;
    }
    for (int i = 0; i < r->n; i++)
        mark_axes(r->body[i], seen);
}

int cpu_nest_axes(const lp_node *root, int naxis, int *axes)
{
    bool *seen = einc_calloc((size_t)naxis + 1, sizeof *seen);
    if (!seen)
        return -1;
    mark_axes(root, seen);
    int n = 0;
    for (int a = 0; a < naxis; a++)
        if (seen[a])
            axes[n++] = a;
    einc_free(seen);
    return n;
}

int64_t cpu_nest_grain(const int *axes, int n, int par, const int64_t *sizes)
{
    int64_t g = 1;
    for (int i = 0; i < n; i++)
        if (axes[i] != par && sizes[axes[i]] > 1 && __builtin_mul_overflow(g, sizes[axes[i]], &g))
            return INT64_MAX;
    return g;
}

/* p lowered and scheduled for the JIT, in c->A; *strided the flags it was lowered with. */
static lp_prog *schedule(cc *c, const ir_prog *p, const int64_t *const *strides, bool **strided)
{
    *strided = ARENA_ARRAY(c->A, bool, p->ntensor);
    if (!*strided) {
        cc_nomem(c);
        return NULL;
    }
    for (int t = 0; t < p->ntensor; t++)
        (*strided)[t] = strides && strides[t] && p->tensor[t].role != IR_TEMP;
    lp_machine m;
    jit_machine(NULL, &m);
    pipeline pl = pipeline_from(p, PL_CPU, *strided, &m);
    int64_t t0 = tm_now();
    if (pipeline_run(c, &pl, PL_SCHEDULE) < 0)
        return NULL;
    tm_add(PH_LOWER, t0);
    return pl.lp;
}

bool cpu_cached(cpu_backend *b, cc *c, const char *key, const ir_prog *p,
                const int64_t *const *strides, bool disk)
{
    uint64_t h = fnv1a(key);
    pthread_mutex_lock(&b->mu);
    bool found = find(b, key, h) != NULL;
    pthread_mutex_unlock(&b->mu);
    if (found || !disk || !kcache_on(b->kc))
        return found;
    bool *strided;
    lp_prog *lp = schedule(c, p, strides, &strided);
    return lp && jit_on_disk(b->kc, lp, key);
}

/* Compiles p into a new cache entry; called with b->mu held. */
static centry *compile(cpu_backend *b, cc *c, const char *key, uint64_t h, const ir_prog *p,
                       const int64_t *const *strides)
{
    if (!b->jit && !(b->jit = jit_new(c, b->kc)))
        return NULL;
    bool *strided;
    lp_prog *lp = schedule(c, p, strides, &strided);
    if (!lp)
        return NULL;
    centry *e = einc_calloc(1, sizeof *e);
    if (!e) {
        cc_nomem(c);
        return NULL;
    }
    e->hash = h;
    e->nnest = lp->nnest;
    e->key = einc_malloc(strlen(key) + 1);
    e->fn = einc_calloc((size_t)lp->nnest + 1, sizeof *e->fn);
    e->par_axis = einc_calloc((size_t)lp->nnest + 1, sizeof *e->par_axis);
    e->axes = einc_calloc((size_t)lp->nnest + 1, sizeof *e->axes);
    e->naxes = einc_calloc((size_t)lp->nnest + 1, sizeof *e->naxes);
    if (!e->key || !e->fn || !e->par_axis || !e->axes || !e->naxes) {
        cc_nomem(c);
        goto fail;
    }
    strcpy(e->key, key);
    for (int i = 0; i < lp->nnest; i++) {
        e->par_axis[i] = lp_parallel_axis(lp->nest[i].root);
        if (e->par_axis[i] < 0)
            continue;
        if (!(e->axes[i] = einc_calloc((size_t)p->naxis + 1, sizeof *e->axes[i])) ||
            (e->naxes[i] = cpu_nest_axes(lp->nest[i].root, p->naxis, e->axes[i])) < 0) {
            cc_nomem(c);
            goto fail;
        }
    }
    int got = jit_add(b->jit, c, lp, strided, key, e->fn);
    if (got < 0)
        goto fail;
    if (got == 1)
        b->disk_hits++;
    else
        b->compiles++;
    if (einc_timing)
        *(got == 1 ? &einc_timing->disk_hits : &einc_timing->compiled) += 1;
    e->next = b->cache;
    b->cache = e;
    return e;
fail:
    einc_free(e->key);
    einc_free(e->fn);
    einc_free(e->par_axis);
    free_axes(e);
    einc_free(e);
    return NULL;
}

typedef struct nest_call {
    jit_nest_fn fn;
    void *const *buf;
    const int64_t *sizes;
    const int64_t *const *strides;
} nest_call;

static void run_chunk(void *arg, int64_t lo, int64_t hi)
{
    nest_call *n = arg;
    n->fn(n->buf, n->sizes, n->strides, lo, hi);
}

struct cpu_plan {
    centry *e;
    int naxis, ntensor;
    int64_t *sizes;             /* per axis */
    int *io;                    /* per tensor: its place among the arrays given, -1: a temporary */
    size_t *bytes;              /* per tensor: a temporary's size */
    bool *zero;                 /* per tensor: whether the temporary starts zeroed */
};

/* e's plan for p: one allocation, so that einc_free frees it. */
static cpu_plan *plan_new(centry *e, const ir_prog *p)
{
    size_t nt = (size_t)p->ntensor, na = (size_t)p->naxis;
    size_t sz = sizeof(cpu_plan) + na * sizeof(int64_t) + nt * sizeof(size_t) + nt * sizeof(int) + nt;
    cpu_plan *pl = einc_malloc(sz);
    if (!pl)
        return NULL;
    pl->e = e;
    pl->naxis = p->naxis;
    pl->ntensor = p->ntensor;
    pl->sizes = (int64_t *)(pl + 1);
    pl->bytes = (size_t *)(pl->sizes + na);
    pl->io = (int *)(pl->bytes + nt);
    pl->zero = (bool *)(pl->io + nt);
    for (size_t a = 0; a < na; a++)
        pl->sizes[a] = p->axis[a].size;
    /* the passes keep the inputs first and the outputs last; a computed label's temporary
       is the caller's too (it reads it after the run, ir.h) */
    int nio = 0;
    for (int t = 0; t < p->ntensor; t++) {
        pl->bytes[t] = 0;
        pl->zero[t] = false;
        pl->io[t] = -1;
    }
    for (int l = 0; l < p->nlabel; l++)
        pl->io[p->label[l].tensor] = 0;
    for (int t = 0; t < p->ntensor; t++) {
        bool given = p->tensor[t].role != IR_TEMP || pl->io[t] == 0;
        pl->io[t] = given ? nio++ : -1;
        if (given)
            continue;
        int64_t n = ir_tensor_elems(p, &p->tensor[t]);
        size_t es = dtype_size(p->tensor[t].dtype), ne = (size_t)(n > 0 ? n : 1);
        pl->bytes[t] = ne > SIZE_MAX / es ? SIZE_MAX : ne * es;
        /* zeroed only when its first writer may leave elements alone (3.5 MB of zeros
           were 15% of 'ijk,jl,kl->il' 96^4 on two threads) */
        pl->zero[t] = !ir_temp_written_whole(p, t);
    }
    return pl;
}

cpu_plan *cpu_plan_new(cpu_backend *b, const char *key, const ir_prog *p)
{
    uint64_t h = fnv1a(key);
    pthread_mutex_lock(&b->mu);
    centry *e = find(b, key, h);
    pthread_mutex_unlock(&b->mu);
    return e ? plan_new(e, p) : NULL;
}

enum { STACK_TENSORS = 32 };

int cpu_plan_run(cpu_backend *b, const cpu_plan *pl, void *const *io, const int64_t *const *io_strides)
{
    /* temporaries (the steps of a contraction path) live for this run only */
    void *stack_all[STACK_TENSORS];
    const int64_t *stack_strides[STACK_TENSORS];
    bool heap = pl->ntensor > STACK_TENSORS;
    void **all = heap ? einc_malloc((size_t)pl->ntensor * sizeof *all) : stack_all;
    const int64_t **strides = heap ? einc_malloc((size_t)pl->ntensor * sizeof *strides) : stack_strides;
    int rc = all && strides ? 0 : -1;
    int64_t t0 = tm_now();
    for (int t = 0; rc == 0 && t < pl->ntensor; t++) {
        int i = pl->io[t];
        all[t] = i >= 0 ? io[i] : NULL;
        strides[t] = i >= 0 ? io_strides[i] : NULL;
        if (i >= 0)
            continue;
        if (pl->bytes[t] != SIZE_MAX)
            all[t] = pl->zero[t] ? einc_calloc(1, pl->bytes[t]) : einc_malloc(pl->bytes[t]);
        if (!all[t]) {
            for (int u = 0; u < t; u++)     /* none runs: free what this run has taken */
                if (pl->io[u] < 0)
                    einc_free(all[u]);
            rc = -1;
        }
    }
    const centry *e = pl->e;
    for (int i = 0; i < e->nnest && rc == 0; i++) {
        nest_call n = { e->fn[i], all, pl->sizes, strides };
        int ax = e->par_axis[i];
        if (ax < 0) {
            n.fn(all, pl->sizes, strides, 0, 0);
            continue;
        }
        /* the nest's own axes: a model's program has many nests, each over fresh axes,
           whose product says nothing about one nest's work */
        pool_for(b->pool, pl->sizes[ax], cpu_nest_grain(e->axes[i], e->naxes[i], ax, pl->sizes),
                 run_chunk, &n);
    }
    for (int t = 0; rc == 0 && t < pl->ntensor; t++)
        if (pl->io[t] < 0)
            einc_free(all[t]);
    tm_add(PH_RUN, t0);
    if (heap) {
        einc_free(all);
        einc_free(strides);
    }
    return rc;
}

int cpu_run(cpu_backend *b, cc *c, const char *key, const ir_prog *p, void *const *buf,
            const int64_t *const *strides)
{
    uint64_t h = fnv1a(key);
    pthread_mutex_lock(&b->mu);
    centry *e = find(b, key, h);
    if (!e)
        e = compile(b, c, key, h, p, strides);
    pthread_mutex_unlock(&b->mu);
    if (!e)
        return -1;
    cpu_plan *pl = plan_new(e, p);
    /* the plan's arrays: the inputs, the labels' temporaries, the outputs (plan_new) */
    void **io = ARENA_ARRAY(c->A, void *, p->ntensor);
    const int64_t **ios = ARENA_ARRAY(c->A, const int64_t *, p->ntensor);
    int rc = pl && io && ios ? 0 : -1;
    for (int t = 0; rc == 0 && t < p->ntensor; t++)
        if (pl->io[t] >= 0) {
            io[pl->io[t]] = buf[t];
            ios[pl->io[t]] = strides ? strides[t] : NULL;
        }
    if (rc == 0)
        rc = cpu_plan_run(b, pl, io, ios);
    einc_free(pl);
    return rc < 0 ? cc_nomem(c) : 0;
}
