/*
 * auto.c — a run's cache key (what the compiled code depends on) and --target=auto's choice
 * without a GPU: the interpreter for small work when no compiled kernel is cached, else the
 * CPU JIT (docs/ARCHITECTURE.md, the run's steps).
 */
#include "auto.h"
#include "kcache.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends v (0 <= v < 1000) in decimal. */
static char *put_small(char *p, int v)
{
    if (v >= 100)
        *p++ = (char)('0' + v / 100);
    if (v >= 10)
        *p++ = (char)('0' + v / 10 % 10);
    *p++ = (char)('0' + v % 10);
    return p;
}

/*
 * Everything a compiled kernel depends on: the kernel's part (key_base), the contraction
 * path, and per array its dtype, rank, which dimensions are 1 (numpy broadcasting turns
 * those into constant accesses) and whether it is strided.  Sizes themselves are run-time
 * arguments.  Written into buf (cap bytes) when it fits, as it does on every call of a
 * small kernel, else malloc'ed; NULL when out of memory.
 */
static char *cache_key(const einc_kernel *k, int n, const einc_tensor *in, int nout,
                       const einc_tensor *out, const char *path, char *buf, size_t cap)
{
    size_t plen = path ? strlen(path) : 0;
    size_t need = k->key_base_len + plen + 2 + (size_t)(n + nout) * (12 + EINC_MAX_RANK);
    char *s = need <= cap ? buf : einc_malloc(need), *p = s;
    if (!s)
        return NULL;
    memcpy(p, k->key_base, k->key_base_len);
    p += k->key_base_len;
    memcpy(p, path ? path : "", plen);
    p += plen;
    for (int i = 0; i < n + nout; i++) {
        const einc_tensor *t = i < n ? &in[i] : &out[i - n];
        *p++ = '\x1f';
        p = put_small(p, (int)t->dtype);
        *p++ = ':';
        p = put_small(p, t->ndim);
        *p++ = ':';
        for (int d = 0; d < t->ndim; d++)
            *p++ = t->shape[d] == 1 ? '1' : 'n';
        if (tensor_strided(t)) {
            *p++ = ':';
            *p++ = 's';
        }
    }
    *p = 0;
    return s;
}

/*
 * --target=auto without a GPU: small work runs on the interpreter, when no compiled kernel
 * is cached and the interpreter's estimated time is below what compiling costs.
 *
 * The estimate is per statement its iterations (the product of its axes' sizes) times
 * AUTO_ITER_NS plus AUTO_ACCESS_NS per array access (the store included), plus
 * AUTO_CALL_NS: measured on the interpreter (runtime/timing.h's clock), 'ij,jk->ik' ran
 * 31 ns an iteration, 'bhid,bhjd->bhij' 40, 'ij,ij->ij' 38, 'ij->' 12, and a 2x2 call
 * 1-2.6 us; the model errs towards compiling.  AUTO_COMPILE_NS is a cold compile of a
 * small kernel (einc-bench's table: 15-80 ms of CPU time; the cheaper end, since a
 * compiled kernel also runs faster afterwards).  Each run the interpreter takes adds its
 * estimate to the kernel's interp_ns, so a kernel called many times on small arrays
 * compiles once the interpreter has cost as much as compiling would have.
 */
enum {
    AUTO_CALL_NS = 2000,
    AUTO_ITER_NS = 10,
    AUTO_ACCESS_NS = 10,
    AUTO_COMPILE_NS = 20000000,
};

/* The interpreter's estimated ns for p (bound), at most INT64_MAX / 4. */
static int64_t interp_estimate(const ir_prog *p)
{
    double ns = AUTO_CALL_NS;
    for (int s = 0; s < p->nstmt; s++) {
        const ir_stmt *st = &p->stmt[s];
        double iters = 1;
        for (int i = 0; i < st->nfree + st->nred; i++) {
            int a = i < st->nfree ? st->free[i] : st->red[i - st->nfree];
            iters *= (double)(p->axis[a].size > 0 ? p->axis[a].size : 0);
        }
        int nacc = 1;                   /* the store */
        const ir_expr *stack[64];
        int sp = 0;
        if (st->rhs)
            stack[sp++] = st->rhs;
        while (sp) {                    /* a tree the parser built: its depth is bounded */
            const ir_expr *x = stack[--sp];
            nacc += x->op == IR_ACCESS;
            if (x->a && sp < 63)
                stack[sp++] = x->a;
            if (x->b && sp < 63)
                stack[sp++] = x->b;
        }
        ns += iters * (AUTO_ITER_NS + AUTO_ACCESS_NS * nacc);
    }
    return ns < (double)(INT64_MAX / 4) ? (int64_t)ns : INT64_MAX / 4;
}

/* auto's choice for p (through the reduction split) under key: AUTO_SMALL interprets. */
auto_why auto_choice(einc_kernel *k, cc *c, const char *key, const ir_prog *p,
                     const int64_t *const *strides, int64_t *est)
{
    *est = interp_estimate(p);
    if (*est + atomic_load_explicit(&k->interp_ns, memory_order_relaxed) >= AUTO_COMPILE_NS)
        return AUTO_BIG;
    /* the disk is read once per signature: a kernel called again on small arrays costs a
       look into memory, not a file's read */
    uint64_t h = kcache_hash(key);
    bool probed = atomic_load_explicit(&k->absent, memory_order_relaxed) == h;
    if (cpu_cached(k->ctx->cpu, c, key, p, strides, !probed))
        return AUTO_CACHED;
    atomic_store_explicit(&k->absent, h, memory_order_relaxed);
    return AUTO_SMALL;
}

/* "12.3 us", "4.56 ms", "1.2 s" */
static void put_ns(char *buf, size_t n, int64_t ns)
{
    if (ns < 1000000)
        snprintf(buf, n, "%.3g us", (double)ns / 1e3);
    else if (ns < 1000000000)
        snprintf(buf, n, "%.3g ms", (double)ns / 1e6);
    else
        snprintf(buf, n, "%.3g s", (double)ns / 1e9);
}

/* explain's line for auto's choice. */
static void explain_auto(strbuf *b, einc_kernel *k, auto_why why, int64_t est)
{
    char e[32], comp[32], spent[32];
    put_ns(e, sizeof e, est);
    put_ns(comp, sizeof comp, AUTO_COMPILE_NS);
    int64_t before = atomic_load_explicit(&k->interp_ns, memory_order_relaxed);
    put_ns(spent, sizeof spent, before);
    if (why == AUTO_CACHED)
        sb_printf(b, "target (auto): cpu, the compiled kernel is cached\n");
    else
        sb_printf(b, "target (auto): %s, the interpreter's estimated %s%s%s%s is %s a compile's %s%s\n",
                  why == AUTO_SMALL ? "interp" : "cpu", e, before ? " (and " : "",
                  before ? spent : "", before ? " before)" : "", why == AUTO_SMALL ? "below" : "not below",
                  comp, why == AUTO_SMALL ? " and no compiled kernel is cached" : "");
}

/*
 * A run's key: cache_key, and for code compiled for its sizes, those: every axis size of
 * gpu's program (CUDA), or every input shape (a model).  In buf or malloc'ed, as
 * cache_key; NULL when out of memory.
 */
char *run_key(const einc_kernel *k, int n, const einc_tensor *in, int nout, const einc_tensor *outs,
              const char *path, const ir_prog *gpu, char *buf, size_t cap)
{
    char *key = cache_key(k, n, in, nout, outs, path, buf, cap);
    if (!key || (!gpu && !k->model))
        return key;
    strbuf kb = { 0 };
    sb_printf(&kb, "%s", key);
    if (gpu)
        for (int a = 0; a < gpu->naxis; a++)
            sb_printf(&kb, ",%lld", (long long)gpu->axis[a].size);
    else
        for (int i = 0; i < n; i++)
            for (int d = 0; d < in[i].ndim; d++)
                sb_printf(&kb, ",%lld", (long long)in[i].shape[d]);
    if (key != buf)
        einc_free(key);
    return sb_finish(&kb);
}

/* explain's last line with arrays under --target=auto: what a run would choose, and why. */
void explain_target(strbuf *b, einc_kernel *k, cc *c, const pipeline *pl, int ninputs,
                    const einc_tensor *inputs)
{
    if (cuda_ready(k->ctx->cuda, NULL)) {
        sb_printf(b, "target (auto): cuda, a GPU and its driver are there\n");
        return;
    }
    const ir_prog *p = pl->p;
    einc_tensor *outs = ARENA_ARRAY(c->A, einc_tensor, p->noutput);
    int64_t *shapes = ARENA_ARRAY(c->A, int64_t, (size_t)p->noutput * EINC_MAX_RANK);
    for (int o = 0; outs && shapes && o < p->noutput; o++) {
        const ir_tensor *O = &p->tensor[p->output + o];
        int64_t *shape = shapes + (size_t)o * EINC_MAX_RANK;
        for (int d = 0; d < O->ndim; d++)
            shape[d] = ir_mono_eval(p, &O->shape[d]);
        outs[o] = (einc_tensor){ O->dtype, O->ndim, shape, NULL, NULL };
    }
    char small[1024];
    char *key = outs && shapes ? run_key(k, ninputs, inputs, p->noutput, outs, pl->path, NULL, small, sizeof small)
                               : NULL;
    const int64_t **strides = ARENA_ARRAY(c->A, const int64_t *, p->ntensor);
    if (!key || !strides) {
        b->failed = true;
        if (key != small)
            einc_free(key);
        return;
    }
    for (int i = 0; i < ninputs; i++)
        strides[i] = tensor_strided(&inputs[i]) ? inputs[i].strides : NULL;
    int64_t est;
    auto_why why = auto_choice(k, c, key, p, strides, &est);
    if (key != small)
        einc_free(key);
    explain_auto(b, k, why, est);
}
