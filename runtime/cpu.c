/* cpu.c — see cpu.h. */
#define _POSIX_C_SOURCE 200809L
#include "cpu.h"
#include "alloc.h"
#include "jit.h"
#include "loop.h"
#include "pipeline.h"
#include "pool.h"

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

/* Compiles p into a new cache entry; called with b->mu held. */
static centry *compile(cpu_backend *b, cc *c, const char *key, uint64_t h, const ir_prog *p,
                       const int64_t *const *strides)
{
    if (!b->jit && !(b->jit = jit_new(c, b->kc)))
        return NULL;
    lp_prog *lp = NULL;
    bool *strided = ARENA_ARRAY(c->A, bool, p->ntensor);
    centry *e = einc_calloc(1, sizeof *e);
    if (!strided || !e) {
        einc_free(e);
        cc_nomem(c);
        return NULL;
    }
    for (int t = 0; t < p->ntensor; t++)
        strided[t] = strides && t < p->ntensor && strides[t] && p->tensor[t].role != IR_TEMP;
    lp_machine m;
    jit_machine(NULL, &m);
    pipeline pl = pipeline_from(p, PL_CPU, strided, &m);
    if (pipeline_run(c, &pl, PL_SCHEDULE) < 0) {
        einc_free(e);
        return NULL;
    }
    lp = pl.lp;
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
    int64_t *sizes = ARENA_ARRAY(c->A, int64_t, p->naxis + 1);
    if (!sizes)
        return cc_nomem(c);
    for (int a = 0; a < p->naxis; a++)
        sizes[a] = p->axis[a].size;
    /* temporaries (the steps of a contraction path) live for this run only, but for those
       the caller reads after it (computed labels, ir.h), in zeroed buffers of its own */
    void **all = ARENA_ARRAY(c->A, void *, p->ntensor);
    if (!all)
        return cc_nomem(c);
    int rc = 0;
    for (int t = 0; t < p->ntensor; t++) {
        all[t] = buf[t];
        if (p->tensor[t].role == IR_TEMP && !buf[t]) {
            int64_t n = ir_tensor_elems(p, &p->tensor[t]);
            size_t es = dtype_size(p->tensor[t].dtype), ne = (size_t)(n > 0 ? n : 1);
            /* zeroed only when its first writer may leave elements alone (3.5 MB of zeros
               were 15% of 'ijk,jl,kl->il' 96^4 on two threads) */
            if (ne > SIZE_MAX / es)
                all[t] = NULL;
            else if (ir_temp_written_whole(p, t))
                all[t] = einc_malloc(ne * es);
            else
                all[t] = einc_calloc(ne, es);
            if (!all[t])
                rc = cc_nomem(c);
        }
    }
    for (int i = 0; i < e->nnest && rc == 0; i++) {
        nest_call n = { e->fn[i], all, sizes, strides };
        int ax = e->par_axis[i];
        if (ax < 0) {
            n.fn(all, sizes, strides, 0, 0);
            continue;
        }
        /* the nest's own axes: a model's program has many nests, each over fresh axes,
           whose product says nothing about one nest's work */
        pool_for(b->pool, sizes[ax], cpu_nest_grain(e->axes[i], e->naxes[i], ax, sizes), run_chunk,
                 &n);
    }
    for (int t = 0; t < p->ntensor; t++)
        if (p->tensor[t].role == IR_TEMP && !buf[t])
            einc_free(all[t]);
    return rc;
}
