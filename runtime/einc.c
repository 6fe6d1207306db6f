/*
 * einc.c — the public C API (include/einc.h) over the front end and the backends.
 *
 * A kernel keeps its parsed expression (an AST in its own arena, read-only after compile);
 * each output/run/explain call binds shapes into a fresh IR in a call-local arena.  So a
 * kernel can be used from many threads at once without locks: nothing shared is written
 * but the CPU backend's cache, which guards itself.  Running binds the shapes, then hands
 * the bound program to the interpreter or to the CPU backend with a key naming everything
 * the compiled code depends on.
 */
#ifdef __linux__
#define _GNU_SOURCE                 /* sched_getaffinity, CPU_COUNT */
#endif
#include "einc.h"
#include "alloc.h"
#include "cc.h"
#include "ir.h"
#include "einl.h"
#include "codegen.h"
#include "loop.h"
#include "strbuf.h"
#include "cpu.h"
#include "cuda.h"
#include "jit.h"
#include "kcache.h"
#include "memo.h"
#include "nvrtc.h"
#include "pipeline.h"
#include "timing.h"

#ifdef __linux__
#include <sched.h>
#endif
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct einc_ctx {
    cpu_backend *cpu;           /* the JIT's cache and the thread pool */
    cuda_backend *cuda;         /* the driver, loaded on first use; module cache */
    kcache *kc;                 /* the on-disk kernel cache (off: kcache_on says so) */
    texts *texts;               /* parsed kernels by text and options (memo.h) */
};

struct einc_kernel {
    einc_ctx *ctx;
    arena A;                    /* the AST, the source, the copied options */
    const char *src;
    ast_expr *ast;              /* an expression's, or NULL for a model */
    el_model *model;            /* a model's (.einl) */
    bind_opts opts;
    einc_target target;
    int64_t max_memory;         /* bytes per intermediate of a contraction path; 0: no limit */
    int ellipsis_rank;          /* "...=N": the rank '...' covers in emitted kernels; -1: unset */
    bool tf32;                  /* CUDA float32 contractions may use TF32 (allow_tf32 resolved) */
    const char *key_base;       /* the cache key's part fixed at compile time (cache_key) */
    size_t key_base_len;
    /* --target=auto's record (auto_choice): the interpreter's estimated ns spent on this
       kernel's runs, and the hash of the last key found neither compiled nor on disk */
    _Atomic int64_t interp_ns;
    _Atomic uint64_t absent;
    memo_slots memo;            /* its runs' plans (memo.h); a shared kernel's are its owner's */
    einc_kernel *shared;        /* the context's kernel this one shares (texts), or NULL */
};

const char *einc_version(void) { return EINC_VERSION; }

/* For einc_kernel_run_device (runtime/cuda.c): a model's labels are read on the host. */
bool einc_kernel_on_device(const einc_kernel *k)
{
    return k && k->target == EINC_TARGET_CUDA && !k->model;
}

_Thread_local einc_timings *einc_timing;

const char *einc_phase_name(einc_phase ph)
{
    static const char *const name[PH_COUNT] = {
        [PH_PARSE] = "parse", [PH_BIND] = "bind", [PH_PATH] = "path and split",
        [PH_LOWER] = "lower and schedule", [PH_JIT_START] = "JIT start", [PH_IR] = "LLVM IR",
        [PH_OPT] = "LLVM passes", [PH_MC] = "machine code", [PH_LINK] = "link",
        [PH_DISK] = "disk cache", [PH_RUN] = "run",
    };
    return (unsigned)ph < PH_COUNT ? name[ph] : "?";
}

/* EINC_NUM_THREADS, or every online core. */
static int default_threads(void)
{
    const char *env = getenv("EINC_NUM_THREADS");
    if (env && *env) {
        long n = strtol(env, NULL, 10);
        if (n >= 1 && n <= 1024)
            return (int)n;
    }
#ifdef __linux__
    /* the CPUs this process may run on: taskset and container cpusets set fewer than online */
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int k = CPU_COUNT(&set);
        if (k >= 1)
            return k <= 1024 ? k : 1024;
    }
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 && n <= 1024 ? (int)n : 1;
}

static void drop_kernel(void *k) { einc_kernel_free(k); }

einc_ctx *einc_ctx_new_with(const einc_ctx_options *opt)
{
    kcache_opts ko = { 0 };
    if (opt)
        ko = (kcache_opts){ opt->disk_cache, opt->cache_dir, opt->cache_max };
    einc_ctx *c = einc_calloc(1, sizeof *c);
    if (c && (!(c->kc = kcache_new(&ko)) || !(c->cpu = cpu_new(default_threads())) ||
              !(c->cuda = cuda_new()) || !(c->texts = texts_new()))) {
        cuda_free(c->cuda);
        cpu_free(c->cpu);
        kcache_free(c->kc);
        einc_free(c);
        c = NULL;
    }
    if (c) {
        cpu_use_kcache(c->cpu, c->kc);
        cuda_use_kcache(c->cuda, c->kc);
    }
    return c;
}

einc_ctx *einc_ctx_new(void) { return einc_ctx_new_with(NULL); }

void einc_ctx_free(einc_ctx *ctx)
{
    if (!ctx)
        return;
    texts_free(ctx->texts, drop_kernel);
    cpu_free(ctx->cpu);
    cuda_free(ctx->cuda);
    kcache_free(ctx->kc);
    einc_free(ctx);
}

int einc_ctx_threads(const einc_ctx *ctx) { return ctx ? cpu_threads(ctx->cpu) : 0; }

long einc_ctx_jit_compiles(const einc_ctx *ctx) { return ctx ? cpu_compiles(ctx->cpu) : 0; }

long einc_ctx_cache_hits(const einc_ctx *ctx) { return ctx ? cpu_disk_hits(ctx->cpu) : 0; }

static einc_status fail(einc_error *err, einc_status st, const char *msg)
{
    if (err) {
        err->status = st;
        err->begin = err->end = -1;
        strncpy(err->message, msg, sizeof err->message - 1);
        err->message[sizeof err->message - 1] = 0;
    }
    return st;
}

/* fail with a formatted message (the kernel API's errors that carry numbers or names). */
static einc_status failf(einc_error *err, einc_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static einc_status failf(einc_error *err, einc_status st, const char *fmt, ...)
{
    if (!err)
        return st;
    fail(err, st, "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return st;
}

static einc_status check_target(einc_target t, einc_error *err)
{
    switch (t) {
    case EINC_TARGET_AUTO:
    case EINC_TARGET_INTERP:
        return EINC_OK;
    case EINC_TARGET_CPU:
#ifdef EINC_HAVE_LLVM
        return EINC_OK;
#else
        return fail(err, EINC_ERR_UNSUPPORTED,
                    "this einc was built without LLVM, so it has no CPU JIT; use "
                    "--target=interp or auto");
#endif
    case EINC_TARGET_CUDA:
        return EINC_OK;     /* whether a device is there is known when it runs */
    default:
        return fail(err, EINC_ERR_ARG, "unknown target");
    }
}

/*
 * The part of every cache key that the kernel fixes: the expression and its options (the
 * dialect it was read in: "ab->" is two axes to numpy, one to einops) and the sizes given.
 * Built once, so that a run only appends what its arrays decide (cache_key).
 */
static int key_base(einc_kernel *k, cc *c)
{
    strbuf b = { 0 };
    sb_printf(&b, "%s\x1f%d\x1f%d\x1f%d\x1f", k->src, k->ast ? (int)k->ast->dialect : -1,
              (int)k->opts.reduce, (int)k->tf32);
    for (int i = 0; i < k->opts.nsizes; i++)
        sb_printf(&b, "%s=%lld,", k->opts.sizes[i].name, (long long)k->opts.sizes[i].value);
    char *s = sb_finish(&b);
    k->key_base = s ? arena_strndup(&k->A, s, strlen(s)) : NULL;
    einc_free(s);
    if (!k->key_base)
        return cc_nomem(c);
    k->key_base_len = strlen(k->key_base);
    return 0;
}

static einc_kernel *share(einc_kernel *k);
static einc_kernel *parse(einc_ctx *ctx, const char *expr, const einc_options *opt, einc_error *err,
                          bool model);

/*
 * An expression's kernel, or (model) a .einl model's: the source text is expr.  A text
 * compiled before in this context with the same options is not parsed again: the kernel
 * shares the context's (memo.h), whose run memos then serve every kernel of that text.
 */
static einc_status compile(einc_ctx *ctx, const char *expr, const einc_options *opt,
                           einc_kernel **out, einc_error *err, bool model)
{
    einc_error scratch;
    if (!err)
        err = &scratch;
    err->status = EINC_OK;
    if (out)
        *out = NULL;
    if (!ctx || !expr || !out)
        return fail(err, EINC_ERR_ARG, model ? "einc_compile_model: NULL context, source or result pointer"
                                             : "einc_compile: NULL context, expression or result pointer");
    einc_options o = opt ? *opt : (einc_options){ 0 };
    if ((unsigned)o.reduce >= EINC_REDUCE_COUNT)
        return fail(err, EINC_ERR_ARG, "unknown reduction");
    if ((unsigned)o.dialect > EINC_DIALECT_EINOPS)
        return fail(err, EINC_ERR_ARG, "unknown dialect");
    if (o.nsizes < 0 || (o.nsizes > 0 && !o.sizes))
        return fail(err, EINC_ERR_ARG, "einc_compile: bad size list");
    einc_status st = check_target(o.target, err);
    if (st)
        return st;
    if (o.max_memory < 0)
        return fail(err, EINC_ERR_ARG, "max_memory must not be negative");
    if (o.allow_tf32 == 0) {    /* resolved now: the texts' key must tell the two apart */
        const char *env = getenv("EINC_ALLOW_TF32");
        o.allow_tf32 = env && strcmp(env, "1") == 0 ? 1 : -1;
    }
    char small[512];
    char *tkey = einc_timing ? NULL : text_key(model, expr, &o, small, sizeof small);
    einc_kernel *k = tkey ? texts_find(ctx->texts, tkey) : NULL;
    if (!k) {
        k = parse(ctx, expr, &o, err, model);
        einc_kernel *kept = k && tkey ? texts_add(ctx->texts, tkey, k) : NULL;
        if (kept && kept != k)      /* another thread kept this text first */
            einc_kernel_free(k);
        k = kept ? kept : k;
        if (!kept) {                /* the table is full (or k failed): k is the caller's */
            if (tkey != small)
                einc_free(tkey);
            *out = k;
            return k ? EINC_OK : err->status ? err->status : EINC_ERR_NOMEM;
        }
    }
    if (tkey != small)
        einc_free(tkey);
    return (*out = share(k)) ? EINC_OK : fail(err, EINC_ERR_NOMEM, "out of memory");
}

/* A kernel of its own that shares k's parse and run memos (k is the context's). */
static einc_kernel *share(einc_kernel *k)
{
    einc_kernel *h = einc_calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->ctx = k->ctx;
    h->src = k->src;
    h->ast = k->ast;
    h->model = k->model;
    h->opts = k->opts;
    h->target = k->target;
    h->max_memory = k->max_memory;
    h->ellipsis_rank = k->ellipsis_rank;
    h->tf32 = k->tf32;
    h->key_base = k->key_base;
    h->key_base_len = k->key_base_len;
    h->shared = k;
    return h;
}

/* Parses expr (model: a .einl model) into a new kernel; NULL on an error (in err). */
static einc_kernel *parse(einc_ctx *ctx, const char *expr, const einc_options *opt, einc_error *err,
                          bool model)
{
    einc_options o = *opt;
    einc_kernel *k = einc_calloc(1, sizeof *k);
    if (!k) {
        fail(err, EINC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    k->ctx = ctx;
    k->target = o.target;
    k->max_memory = o.max_memory;
    k->tf32 = o.allow_tf32 > 0;
    cc c = { .A = &k->A, .err = err };
    size_t len = strlen(expr);
    k->src = c.src = arena_strndup(&k->A, expr, len);
    einc_size *sz = ARENA_ARRAY(&k->A, einc_size, o.nsizes + 1);
    if (!c.src || !sz) {
        cc_nomem(&c);
        goto fail;
    }
    int nsz = 0, ell_rank = -1;
    for (int i = 0; i < o.nsizes; i++) {
        const char *nm = o.sizes[i].name ? o.sizes[i].name : "";
        if (strcmp(nm, "...") == 0) {   /* "...=N": the rank '...' covers in emitted kernels */
            if (model) {
                cc_error(&c, EINC_ERR_ARG, -1, -1, "...=N is for expressions; a model's sizes have names");
                goto fail;
            }
            if (o.sizes[i].value < 0 || o.sizes[i].value > EINC_MAX_RANK) {
                cc_error(&c, EINC_ERR_ARG, -1, -1, "...=%lld: the rank of '...' must be 0 to %d",
                         (long long)o.sizes[i].value, EINC_MAX_RANK);
                goto fail;
            }
            ell_rank = (int)o.sizes[i].value;
            continue;
        }
        sz[nsz].name = arena_strndup(&k->A, nm, strlen(nm));
        sz[nsz].value = o.sizes[i].value;
        if (!sz[nsz++].name) {
            cc_nomem(&c);
            goto fail;
        }
    }
    k->opts = (bind_opts){ o.reduce, EINC_F32, 0, nsz, sz, false };
    k->ellipsis_rank = ell_rank;
    int64_t t0 = tm_now();
    if (model) {                /* shapes come when it runs: elaborating needs them */
        if (!(k->model = einl_parse(&c)) || key_base(k, &c) < 0)
            goto fail;
        tm_add(PH_PARSE, t0);
        return k;
    }
    if (!(k->ast = parse_expr_as(&c, o.dialect)))
        goto fail;
    /*
     * Bind once without shapes: every check that needs no shape happens now.  A repeat's
     * missing size is not one of them: an emitted kernel takes it as a parameter, and
     * running without it is an error then.
     */
    arena tmp = { 0 };
    cc c2 = { .A = &tmp, .src = k->src, .err = err };
    bind_opts bo = k->opts;
    bo.open_repeats = true;
    ir_prog *p = bind_expr(&c2, k->ast, &bo, 0, NULL);
    arena_free(&tmp);
    tm_add(PH_PARSE, t0);
    if (!p || key_base(k, &c) < 0)
        goto fail;
    return k;
fail:
    arena_free(&k->A);
    einc_free(k);
    if (!err->status)
        fail(err, EINC_ERR_NOMEM, "out of memory");
    return NULL;
}

einc_status einc_compile(einc_ctx *ctx, const char *expr, const einc_options *opt,
                         einc_kernel **out, einc_error *err)
{
    return compile(ctx, expr, opt, out, err, false);
}

einc_status einc_compile_model(einc_ctx *ctx, const char *source, const einc_options *opt,
                               einc_kernel **out, einc_error *err)
{
    return compile(ctx, source, opt, out, err, true);
}

void einc_kernel_free(einc_kernel *k)
{
    if (!k)
        return;
    if (!k->shared) {
        memo_free(&k->memo);
        arena_free(&k->A);
    }
    einc_free(k);
}

int einc_kernel_ninputs(const einc_kernel *k)
{
    return !k ? -1 : k->model ? einl_ninputs(k->model) : k->ast->nin;
}

int einc_kernel_noutputs(const einc_kernel *k)
{
    return !k ? -1 : k->model ? einl_nresults(k->model) : 1;
}

const char *einc_kernel_output_name(const einc_kernel *k, int i)
{
    if (!k || i < 0 || i >= einc_kernel_noutputs(k))
        return NULL;
    return k->model ? einl_result_name(k->model, i) : "out";
}

const char *einc_kernel_input_name(const einc_kernel *k, int i)
{
    if (!k || i < 0 || i >= einc_kernel_ninputs(k))
        return NULL;
    return k->model ? einl_input(k->model, i)->name : NULL;
}

/*
 * Labels a model's confusion() counts must lie in [0, classes): checked on the input arrays
 * before anything runs (computed: false), or on the temporaries that hold computed labels
 * after the run (computed: true, temps[tensor] their buffers), so a bad label is an error
 * naming the array and the value rather than a count that silently goes missing.
 */
static int check_labels(cc *c, const ir_prog *p, const einc_tensor *in, bool computed, void *const *temps)
{
    for (int l = 0; l < p->nlabel; l++) {
        const ir_label *L = &p->label[l];
        const ir_tensor *T = &p->tensor[L->tensor];
        if ((T->role == IR_TEMP) != computed)
            continue;
        int64_t shape[EINC_MAX_RANK];
        for (int d = 0; d < T->ndim && d < EINC_MAX_RANK; d++)
            shape[d] = ir_mono_eval(p, &T->shape[d]);
        einc_tensor tmp = { .dtype = T->dtype, .ndim = T->ndim, .shape = shape,
                            .data = computed ? temps[L->tensor] : NULL };
        const einc_tensor *t = computed ? &tmp : &in[L->tensor];
        int64_t n = ir_tensor_elems(p, T), idx[EINC_MAX_RANK] = { 0 };
        for (int64_t e = 0; e < n; e++) {
            int64_t off = 0, rest = e, stride = 1;
            for (int d = t->ndim - 1; d >= 0; d--) {
                idx[d] = rest % t->shape[d];
                rest /= t->shape[d];
                off += idx[d] * (t->strides ? t->strides[d] : stride);
                stride *= t->shape[d];
            }
            int64_t v = t->dtype == EINC_I32 ? ((const int32_t *)t->data)[off]
                      : t->dtype == EINC_I64 ? ((const int64_t *)t->data)[off]
                                             : ((const uint8_t *)t->data)[off];
            if (v < 0 || v >= L->classes) {
                strbuf b = { 0 };
                for (int d = 0; d < t->ndim; d++)
                    sb_printf(&b, "%s%lld", d ? ", " : "", (long long)idx[d]);
                char *at = sb_finish(&b);
                if (computed)
                    cc_error(c, EINC_ERR_ARG, L->begin, L->end,
                             "confusion: %s computed the label %lld at [%s], outside [0, %lld) (classes=%lld)",
                             L->text ? L->text : T->name, (long long)v, at ? at : "?",
                             (long long)L->classes, (long long)L->classes);
                else
                    cc_error(c, EINC_ERR_ARG, L->begin, L->end,
                             "confusion: %s holds the label %lld at [%s], outside [0, %lld) (classes=%lld)",
                             T->name, (long long)v, at ? at : "?", (long long)L->classes,
                             (long long)L->classes);
                einc_free(at);
                return -1;
            }
        }
    }
    return 0;
}

static einc_status check_tensors(int n, const einc_tensor *t, bool need_data, einc_error *err)
{
    if (n > 0 && !t)
        return fail(err, EINC_ERR_ARG, "NULL input array list");
    for (int i = 0; i < n; i++) {
        if ((unsigned)t[i].dtype >= EINC_DTYPE_COUNT || t[i].ndim < 0 || t[i].ndim > EINC_MAX_RANK ||
            (t[i].ndim > 0 && !t[i].shape))
            return fail(err, EINC_ERR_ARG, "an input has a bad dtype, rank or shape pointer");
        int64_t elems = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            if (t[i].shape[d] < 0)
                return fail(err, EINC_ERR_ARG, "an input has a negative dimension");
            if (__builtin_mul_overflow(elems, t[i].shape[d], &elems))
                return fail(err, EINC_ERR_NOMEM, "an input has more elements than 64 bits count");
        }
        if (need_data && elems > 0 && !t[i].data)
            return fail(err, EINC_ERR_ARG, "an input has no data pointer");
    }
    return EINC_OK;
}

static bool use_jit(einc_target t)
{
#ifdef EINC_HAVE_LLVM
    return t == EINC_TARGET_AUTO || t == EINC_TARGET_CPU;
#else
    return t == EINC_TARGET_CPU;    /* and jit_none.c says why it cannot */
#endif
}

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

typedef enum auto_why { AUTO_BIG, AUTO_CACHED, AUTO_SMALL } auto_why;

/* auto's choice for p (through the reduction split) under key: AUTO_SMALL interprets. */
static auto_why auto_choice(einc_kernel *k, cc *c, const char *key, const ir_prog *p,
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
static char *run_key(const einc_kernel *k, int n, const einc_tensor *in, int nout, const einc_tensor *outs,
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

/* Per input, then per output: whether its strides are not the contiguous ones. */
static bool *strided_flags(arena *A, int n, const einc_tensor *in, int nout, const einc_tensor *out)
{
    bool *s = ARENA_ARRAY(A, bool, n + nout);
    for (int i = 0; s && i < n; i++)
        s[i] = tensor_strided(&in[i]);
    for (int i = 0; s && i < nout; i++)
        s[n + i] = out && tensor_strided(&out[i]);
    return s;
}

/* A pipeline for k's program: arrays (or NULL) for target. */
static pipeline kernel_pipeline(const einc_kernel *k, int n, const einc_tensor *in,
                                const bool *strided_in, pl_target target)
{
    pipeline pl = { .ast = k->ast, .model = k->model, .opts = k->opts, .ninputs = n,
                    .inputs = in, .strided = strided_in, .max_memory = k->max_memory,
                    .target = target };
    if (target != PL_INTERP && target != PL_GPU && target != PL_EMIT_GPU)
        jit_machine(NULL, &pl.machine);
    return pl;
}

/*
 * The functions made for one output refuse a kernel with several, naming the one to use,
 * rather than quietly giving the first result.
 */
static einc_status one_output(const einc_kernel *k, const char *fn, const char *instead,
                              einc_error *err)
{
    int n = einc_kernel_noutputs(k);
    if (n == 1)
        return EINC_OK;
    return failf(err, EINC_ERR_ARG, "%s: the model returns %d results (%s, %s%s): use %s", fn, n,
                einc_kernel_output_name(k, 0), einc_kernel_output_name(k, 1), n > 2 ? ", ..." : "",
                instead);
}

einc_status einc_kernel_output_at(einc_kernel *k, int i, int ninputs, const einc_tensor *inputs,
                                  einc_dtype *dtype, int *ndim, int64_t *shape, einc_error *err)
{
    einc_error scratch;
    if (!err)
        err = &scratch;
    err->status = EINC_OK;
    if (!k || !dtype || !ndim || !shape)
        return fail(err, EINC_ERR_ARG, "einc_kernel_output_at: NULL argument");
    if (i < 0 || i >= einc_kernel_noutputs(k))
        return failf(err, EINC_ERR_ARG, "einc_kernel_output_at: output %d, of %d", i,
                    einc_kernel_noutputs(k));
    einc_status st = check_tensors(ninputs, inputs, false, err);
    if (st)
        return st;
    arena A = { 0 };
    cc c = { .A = &A, .src = k->src, .err = err };
    pipeline pl = kernel_pipeline(k, ninputs, inputs, NULL, PL_INTERP);
    ir_prog *p = pipeline_run(&c, &pl, PL_BIND) == 0 ? pl.p : NULL;
    if (p) {
        const ir_tensor *O = &p->tensor[p->output + i];
        *dtype = O->dtype;
        *ndim = O->ndim;
        for (int d = 0; d < O->ndim; d++)
            shape[d] = ir_mono_eval(p, &O->shape[d]);
    }
    arena_free(&A);
    return p ? EINC_OK : err->status;
}

einc_status einc_kernel_output(einc_kernel *k, int ninputs, const einc_tensor *inputs,
                               einc_dtype *dtype, int *ndim, int64_t *shape, einc_error *err)
{
    einc_error scratch;
    if (!err)
        err = &scratch;
    err->status = EINC_OK;
    if (!k || !dtype || !ndim || !shape)
        return fail(err, EINC_ERR_ARG, "einc_kernel_output: NULL argument");
    if (one_output(k, "einc_kernel_output", "einc_kernel_output_at", err))
        return err->status;
    einc_status st = check_tensors(ninputs, inputs, false, err);
    if (st)
        return st;
    /* a run with these inputs left its output's shape */
    const run_memo *m = einc_timing ? NULL : memo_find(k->shared ? &k->shared->memo : &k->memo, ninputs, inputs, NULL);
    if (m) {
        memo_output(m, dtype, ndim, shape);
        return EINC_OK;
    }
    return einc_kernel_output_at(k, 0, ninputs, inputs, dtype, ndim, shape, err);
}

einc_status einc_kernel_run(einc_kernel *k, int ninputs, const einc_tensor *inputs,
                            const einc_tensor *out, einc_error *err)
{
    einc_error scratch;
    if (!err)
        err = &scratch;
    err->status = EINC_OK;
    if (!k || !out)
        return fail(err, EINC_ERR_ARG, "einc_kernel_run: NULL kernel or output");
    if (one_output(k, "einc_kernel_run", "einc_kernel_run_outputs", err))
        return err->status;
    return einc_kernel_run_outputs(k, ninputs, inputs, 1, out, err);
}

einc_status einc_kernel_run_outputs(einc_kernel *k, int ninputs, const einc_tensor *inputs,
                                    int noutputs, const einc_tensor *outs, einc_error *err)
{
    einc_error scratch;
    if (!err)
        err = &scratch;
    err->status = EINC_OK;
    if (!k || !outs)
        return fail(err, EINC_ERR_ARG, "einc_kernel_run_outputs: NULL kernel or outputs");
    if (noutputs != einc_kernel_noutputs(k))
        return failf(err, EINC_ERR_ARG, "einc_kernel_run_outputs: %d output arrays for %d results",
                    noutputs, einc_kernel_noutputs(k));
    einc_status st = check_tensors(ninputs, inputs, true, err);
    if (st || (st = check_tensors(noutputs, outs, true, err)))
        return st;
    /* CUDA computes the five first dtypes; the others run in the interpreter or the JIT under
       --target=auto (README, "Dtypes"), and are refused by name for cuda. */
    bool classic = true;
    for (int i = 0; i < ninputs + noutputs; i++)
        classic = classic && dtype_is_classic(i < ninputs ? inputs[i].dtype : outs[i - ninputs].dtype);
    if (!classic && k->target == EINC_TARGET_CUDA)
        return fail(err, EINC_ERR_UNSUPPORTED, "the CUDA target does not compute this dtype yet (an array is not "
                                               "float32, float64, int32, int64 or bool): use --target=interp or auto");
    memo_slots *ms = k->shared ? &k->shared->memo : &k->memo;
    const run_memo *m = einc_timing || noutputs != 1 ? NULL : memo_find(ms, ninputs, inputs, outs);
    if (m)
        return memo_run(k->ctx->cpu, m, ninputs, inputs, outs) < 0 ? fail(err, EINC_ERR_NOMEM, "out of memory")
                                                                  : EINC_OK;
    arena A = { 0 };
    cc c = { .A = &A, .src = k->src, .err = err };
    /* --target=auto follows every PyTorch script: CUDA if a GPU and driver are there */
    bool cuda = k->target == EINC_TARGET_CUDA ||
                (k->target == EINC_TARGET_AUTO && classic && cuda_ready(k->ctx->cuda, NULL));
    bool *sf = strided_flags(&A, ninputs, inputs, noutputs, outs);
    if (!sf) {
        cc_nomem(&c);
        goto done;
    }
    pipeline pl = kernel_pipeline(k, ninputs, inputs, sf,
                                  cuda ? PL_GPU : use_jit(k->target) ? PL_CPU : PL_INTERP);
    int64_t t0 = tm_now();
    if (pipeline_run(&c, &pl, PL_BIND) < 0 || check_labels(&c, pl.p, inputs, false, NULL) < 0)
        goto done;
    t0 = tm_add(PH_BIND, t0);
    ir_prog *p = pl.p;
    for (int o = 0; o < noutputs; o++) {
        const ir_tensor *O = &p->tensor[p->output + o];
        const einc_tensor *out = &outs[o];
        bool ok = out->dtype == O->dtype && out->ndim == O->ndim;
        for (int d = 0; ok && d < O->ndim; d++)
            ok = out->shape[d] == ir_mono_eval(p, &O->shape[d]);
        if (ok)
            continue;
        if (noutputs == 1)
            fail(err, EINC_ERR_SHAPE, "the output array's dtype or shape is not the expression's "
                                      "(ask einc_kernel_output)");
        else
            failf(err, EINC_ERR_SHAPE, "output %d (%s): the array's dtype or shape is not the "
                 "result's (ask einc_kernel_output_at)", o, einc_kernel_output_name(k, o));
        goto done;
    }
    for (int i = 0; cuda && i < ninputs + noutputs; i++)
        if (sf[i]) {
            cc_error(&c, EINC_ERR_UNSUPPORTED, -1, -1,
                     "strided arrays are not supported on the CUDA target yet");
            goto done;
        }
    /* the contraction path depends on the sizes, so it is part of the key */
    if (pipeline_run(&c, &pl, PL_SPLIT) < 0)
        goto done;
    tm_add(PH_PATH, t0);
    p = pl.p;
    /* the passes keep the inputs first and the outputs last; temporaries are the backend's */
    void **buf = ARENA_ARRAY(&A, void *, p->ntensor);
    const int64_t **strides = ARENA_ARRAY(&A, const int64_t *, p->ntensor);
    if (!buf || !strides) {
        cc_nomem(&c);
        goto done;
    }
    for (int i = 0; i < ninputs; i++) {
        buf[i] = inputs[i].data;
        strides[i] = sf[i] ? inputs[i].strides : NULL;
    }
    for (int o = 0; o < noutputs; o++) {
        buf[p->output + o] = outs[o].data;
        strides[p->output + o] = sf[ninputs + o] ? outs[o].strides : NULL;
    }
    /* computed labels: a zeroed buffer of the runtime's own, which every backend fills
       (ir.h), checked after the run */
    for (int l = 0; l < p->nlabel; l++) {
        const ir_tensor *T = &p->tensor[p->label[l].tensor];
        int64_t n = ir_tensor_elems(p, T);
        if (T->role == IR_TEMP && !buf[p->label[l].tensor] &&
            !(buf[p->label[l].tensor] = ARENA_ARRAY(&A, char, (n > 0 ? n : 1) * (int64_t)dtype_size(T->dtype)))) {
            cc_nomem(&c);
            goto done;
        }
    }
    if (pl.target == PL_INTERP) {
        t0 = tm_now();
        if (interp_run(&c, p, buf, strides) == 0)
            check_labels(&c, p, inputs, true, buf);
        tm_add(PH_RUN, t0);
        if (einc_timing)
            einc_timing->interp++;
        goto done;
    }
    char small[1024];
    char *key = run_key(k, ninputs, inputs, noutputs, outs, pl.path, cuda ? p : NULL, small, sizeof small);
    if (!key) {
        cc_nomem(&c);
        goto done;
    }
    int64_t est = 0;
    bool tiny = !cuda && k->target == EINC_TARGET_AUTO &&
                auto_choice(k, &c, key, p, strides, &est) == AUTO_SMALL;
    if (c.failed) {
        /* the error is in err */
    } else if (tiny) {
        atomic_fetch_add_explicit(&k->interp_ns, est, memory_order_relaxed);
        t0 = tm_now();
        if (interp_run(&c, p, buf, strides) == 0)
            check_labels(&c, p, inputs, true, buf);
        tm_add(PH_RUN, t0);
        if (einc_timing)
            einc_timing->interp++;
    } else if (cuda) {
        if (cuda_run(k->ctx->cuda, &c, key, p, buf, k->tf32) == 0)
            check_labels(&c, p, inputs, true, buf);
    } else if (cpu_run(k->ctx->cpu, &c, key, p, buf, strides) == 0) {
        if (p->nlabel)
            check_labels(&c, p, inputs, true, buf);
        else if (noutputs == 1)     /* a stored run serves one result and no labels */
            memo_add(ms, cpu_plan_new(k->ctx->cpu, key, p), ninputs, inputs, outs);
    }
    if (key != small)
        einc_free(key);
done:
    arena_free(&A);
    return err->status;
}

/* ---- fused groups: what each loop nest of a model reads and writes ------------------------- */

static void mark_expr(const ir_expr *x, const bool *acc, char *rw)
{
    if (!x)
        return;
    if (x->op == IR_ACCESS && !acc[x->acc.tensor])
        rw[x->acc.tensor] |= 1;
    mark_expr(x->a, acc, rw);
    mark_expr(x->b, acc, rw);
}

/* rw[t]: 1 read, 2 written (temporaries folded into an ACC are neither). */
static void mark_node(const lp_node *n, const bool *acc, char *rw)
{
    mark_expr(n->value, acc, rw);
    mark_expr(n->final, acc, rw);
    if (n->dst)
        rw[n->dst->tensor] |= 2;
    if (n->a)
        rw[n->a->tensor] |= 1;
    if (n->b)
        rw[n->b->tensor] |= 1;
    for (int i = 0; i < n->n; i++)
        mark_node(n->body[i], acc, rw);
}

static int count_stmts(const lp_node *n)
{
    int c = n->op == LP_ACC || n->op == LP_GEMM || (n->op == LP_STORE && n->value);
    for (int i = 0; i < n->n; i++)
        c += count_stmts(n->body[i]);
    return c;
}

/* "fused groups" for explain, or a Graphviz digraph when dot. */
static void explain_groups(strbuf *b, const ir_prog *p, const lp_prog *lp, bool dot)
{
    char *rw = einc_calloc((size_t)p->ntensor + 1, 1);
    if (!rw) {
        b->failed = true;
        return;
    }
    if (dot) {
        sb_printf(b, "digraph einc {\n  rankdir=LR;\n  node [fontname=\"monospace\"];\n");
        for (int t = 0; t < p->ntensor; t++) {
            const ir_tensor *T = &p->tensor[t];
            sb_printf(b, "  t%d [label=\"%s\\n%s[", t, T->name, einc_dtype_name(T->dtype));
            ir_print_shape(b, p, T);
            sb_printf(b, "]\", shape=%s];\n", T->role == IR_TEMP ? "box" : T->role == IR_INPUT ? "ellipse" : "doubleoctagon");
        }
    } else {
        sb_printf(b, "fused groups: %d loop nest%s for %d statement%s\n", lp->nnest,
                  lp->nnest == 1 ? "" : "s", p->nstmt, p->nstmt == 1 ? "" : "s");
    }
    for (int i = 0; i < lp->nnest; i++) {
        memset(rw, 0, (size_t)p->ntensor);
        mark_node(lp->nest[i].root, lp->acc, rw);
        if (dot)
            sb_printf(b, "  n%d [label=\"nest %d\\n%d step%s\", shape=component, style=filled, "
                         "fillcolor=\"#dde8ff\"];\n", i, i, count_stmts(lp->nest[i].root),
                      count_stmts(lp->nest[i].root) == 1 ? "" : "s");
        else
            sb_printf(b, "  nest %d (%d step%s): reads", i, count_stmts(lp->nest[i].root),
                      count_stmts(lp->nest[i].root) == 1 ? "" : "s");
        for (int t = 0; t < p->ntensor; t++) {
            if (!(rw[t] & 1))
                continue;
            if (dot)
                sb_printf(b, "  t%d -> n%d;\n", t, i);
            else
                sb_printf(b, " %s", p->tensor[t].name);
        }
        if (!dot)
            sb_printf(b, "; writes");
        for (int t = 0; t < p->ntensor; t++)
            if (rw[t] & 2) {
                if (dot)
                    sb_printf(b, "  n%d -> t%d;\n", i, t);
                else
                    sb_printf(b, " %s", p->tensor[t].name);
            }
        if (!dot)
            sb_printf(b, "\n");
    }
    if (dot)
        sb_printf(b, "}\n");
    einc_free(rw);
}

einc_status einc_kernel_input_dtypes(einc_kernel *k, einc_dtype *dtype, einc_error *err)
{
    einc_error scratch;
    if (!err)
        err = &scratch;
    err->status = EINC_OK;
    if (!k || !dtype)
        return fail(err, EINC_ERR_ARG, "einc_kernel_input_dtypes: NULL argument");
    for (int i = 0; i < einc_kernel_ninputs(k); i++)
        dtype[i] = k->model ? einl_input(k->model, i)->dtype : EINC_F32;
    return EINC_OK;
}

/* The passes pl's target runs, as explain's last line names them. */
static void explain_passes(strbuf *b, const pipeline *pl)
{
    sb_printf(b, "passes (%s):", pipeline_target_name(pl->target));
    for (pl_stage s = PL_BIND; s <= PL_SCHEDULE; s++) {
        if (!pipeline_runs(pl->target, s))
            continue;
        const char *none = s == PL_PATH && !pl->path ? " (kept one nest)"
                         : s == PL_SPLIT && !pl->split ? " (nothing to split)" : "";
        sb_printf(b, "%s %s%s", s == PL_BIND ? "" : ",", pipeline_stage_name(s), none);
    }
    sb_printf(b, "\n");
}

/* The text after ir_print's "statements:" line, up to `stop` when given. */
static void statements_of(strbuf *b, const char *ir, const char *stop)
{
    const char *st = strstr(ir, "statements:\n"), *end = stop ? strstr(ir, stop) : NULL;
    st = st ? st + strlen("statements:\n") : ir;
    sb_printf(b, "%.*s", (int)(end && end > st ? end - st : (ptrdiff_t)strlen(st)), st);
}

/* explain's last line with arrays under --target=auto: what a run would choose, and why. */
static void explain_target(strbuf *b, einc_kernel *k, cc *c, const pipeline *pl, int ninputs,
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

/*
 * explain's text: each stage the CPU pipeline ran, as it printed it; or (dot) only the
 * fused groups as a Graphviz digraph.
 */
static char *explain(einc_kernel *k, int ninputs, const einc_tensor *inputs, einc_error *err, bool dot)
{
    einc_error scratch;
    if (!err)
        err = &scratch;
    err->status = EINC_OK;
    if (!k) {
        fail(err, EINC_ERR_ARG, dot ? "einc_kernel_explain_dot: NULL kernel" : "einc_kernel_explain: NULL kernel");
        return NULL;
    }
    if (inputs && check_tensors(ninputs, inputs, false, err))
        return NULL;
    arena A = { 0 };
    cc c = { .A = &A, .src = k->src, .err = err };
    /* the schedule a run with these arrays gets: their strides too */
    bool *sf = inputs ? strided_flags(&A, ninputs, inputs, einc_kernel_noutputs(k), NULL) : NULL;
    pipeline pl = kernel_pipeline(k, inputs ? ninputs : 0, inputs, sf, PL_CPU);
    pl.record = !dot;
    char *s = NULL;
    if ((inputs && !sf) || pipeline_run(&c, &pl, PL_SCHEDULE) < 0) {
        if (!c.failed)
            cc_nomem(&c);
        arena_free(&A);
        return NULL;
    }
    strbuf b = { 0 };
    if (dot) {
        explain_groups(&b, pl.p, pl.lp, true);
    } else {
        sb_printf(&b, "%s", pl.text[PL_BIND]);
        if (pl.path) {
            sb_printf(&b, "contraction path: %s\n", pl.path);
            if (pl.path_symbolic)
                sb_printf(&b, "  chosen with each open size taken as %d (emitted code uses it; a "
                              "run chooses for its sizes)\n", PL_SYMBOLIC_SIZE);
            sb_printf(&b, "  naive FLOPs %.4g, optimized %.4g (%.1fx fewer), largest intermediate "
                          "%.4g elements\n  steps:\n",
                      pl.naive, pl.opt, pl.naive / pl.opt, pl.largest);
            statements_of(&b, pl.text[PL_PATH], NULL);
        }
        if (pl.split) {
            sb_printf(&b, "full reduction in two steps (the first runs in parallel):\n");
            statements_of(&b, pl.text[PL_SPLIT], "flops:");
        }
        sb_printf(&b, "schedule:\n%s", pl.text[PL_SCHEDULE]);
        if (k->model)
            explain_groups(&b, pl.p, pl.lp, false);
        explain_passes(&b, &pl);
        if (inputs && k->target == EINC_TARGET_AUTO && use_jit(k->target))
            explain_target(&b, k, &c, &pl, ninputs, inputs);
    }
    if (!(s = sb_finish(&b)))
        fail(err, EINC_ERR_NOMEM, "out of memory");
    arena_free(&A);
    return s;
}

char *einc_kernel_explain(einc_kernel *k, int ninputs, const einc_tensor *inputs, einc_error *err)
{
    return explain(k, ninputs, inputs, err, false);
}

char *einc_kernel_explain_dot(einc_kernel *k, int ninputs, const einc_tensor *inputs, einc_error *err)
{
    return explain(k, ninputs, inputs, err, true);
}

einc_status einc_kernel_input_shapes(einc_kernel *k, int *ninputs, int *ndim,
                                     int64_t (*shape)[EINC_MAX_RANK], int64_t *flops,
                                     einc_error *err)
{
    einc_error scratch;
    if (!err)
        err = &scratch;
    err->status = EINC_OK;
    if (!k || !ninputs || !ndim || !shape || !flops)
        return fail(err, EINC_ERR_ARG, "einc_kernel_input_shapes: NULL argument");
    arena A = { 0 };
    cc c = { .A = &A, .src = k->src, .err = err };
    pipeline pl = kernel_pipeline(k, 0, NULL, NULL, PL_INTERP);
    pl.opts.ellipsis_rank = k->ellipsis_rank > 0 ? k->ellipsis_rank : 0;
    ir_prog *p = pipeline_run(&c, &pl, PL_BIND) == 0 ? pl.p : NULL;
    if (p && !p->bound) {
        for (int a = 0; a < p->naxis; a++)
            if (p->axis[a].size < 0) {
                cc_error(&c, EINC_ERR_ARG, p->axis[a].begin, p->axis[a].end,
                         "axis '%s' has no size: give every size (%s=N)", p->axis[a].name,
                         p->axis[a].name);
                break;
            }
    } else if (p) {
        *ninputs = p->ninput;
        *flops = ir_flops(p);
        for (int i = 0; i < p->ninput; i++) {
            ndim[i] = p->tensor[i].ndim;
            for (int d = 0; d < ndim[i]; d++)
                shape[i][d] = ir_mono_eval(p, &p->tensor[i].shape[d]);
        }
    }
    arena_free(&A);
    return err->status;
}

static bool c_identifier(const char *s)
{
    if (!s || !(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    for (s++; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

/* The first '...' in the expression, or NULL: emitted kernels need fixed ranks. */
static const ast_axis *find_ellipsis(const ast_expr *e)
{
    for (int i = 0; i <= e->nin; i++) {
        const ast_side *s = i < e->nin ? e->in[i] : e->out;
        for (int j = 0; s && j < s->n; j++) {
            const ast_axis *a = s->ax[j];
            if (a->kind == AST_ELLIPSIS)
                return a;
            for (int m = 0; a->kind == AST_GROUP && m < a->n; m++)
                if (a->member[m]->kind == AST_ELLIPSIS)
                    return a->member[m];
        }
    }
    return NULL;
}

char *einc_kernel_emit(einc_kernel *k, einc_emit_kind what, const char *name, einc_dtype dtype,
                       size_t *len, einc_error *err)
{
    einc_emit_options o = { .name = name, .dtype = dtype };
    return einc_kernel_emit_opts(k, what, &o, len, err);
}

char *einc_kernel_emit_opts(einc_kernel *k, einc_emit_kind what, const einc_emit_options *opt,
                            size_t *len, einc_error *err)
{
    static const einc_emit_options defaults = { 0 };
    if (!opt)
        opt = &defaults;
    const char *name = opt->name, *cpu = opt->cpu;
    einc_dtype dtype = opt->dtype;
    size_t scratch_len;
    if (!len)
        len = &scratch_len;
    *len = 0;
    einc_error scratch;
    if (!err)
        err = &scratch;
    err->status = EINC_OK;
    if (!k) {
        fail(err, EINC_ERR_ARG, "einc_kernel_emit: NULL kernel");
        return NULL;
    }
    bool llvm = what == EINC_EMIT_LLVM || what == EINC_EMIT_ASM || what == EINC_EMIT_OBJ;
    if ((unsigned)what > EINC_EMIT_OBJ) {
        fail(err, EINC_ERR_ARG, "einc_kernel_emit: unknown kind of output");
        return NULL;
    }
    if (cpu && *cpu && !llvm) {
        fail(err, EINC_ERR_ARG, "a CPU choice applies to object files, assembly and LLVM IR "
                                "(--emit=obj|asm|llvm), not to source");
        return NULL;
    }
    if (opt->nparams && what == EINC_EMIT_PTX) {
        fail(err, EINC_ERR_ARG, "a parameter order is for an emitted function; PTX holds the "
                                "kernels alone, which take their sizes in order of first "
                                "appearance (--emit=cuda's launcher takes any order)");
        return NULL;
    }
    if (!name)
        name = "einc_kernel";
    if (!c_identifier(name)) {
        fail(err, EINC_ERR_ARG, "a kernel name must be a C identifier");
        return NULL;
    }
    /* float16 and bfloat16 are a float32 kernel wrapped in conversions (codegen/cdtype.c) */
    bool half = dtype_is_half(dtype) && (what == EINC_EMIT_C || what == EINC_EMIT_HEADER);
    /* C spells every dtype (integers in <stdint.h> types, complex as C99 _Complex); the
       other emitters float32 and float64 */
    bool c_kind = what == EINC_EMIT_C || what == EINC_EMIT_HEADER;
    if (dtype != EINC_F32 && dtype != EINC_F64 && !half && !(c_kind && (unsigned)dtype < EINC_DTYPE_COUNT)) {
        fail(err, EINC_ERR_DTYPE, dtype_is_half(dtype)
                                      ? "float16 and bfloat16 kernels are emitted as C (--emit=c or "
                                        "--emit=header) today"
                                      : (unsigned)dtype < EINC_DTYPE_COUNT
                                      ? "this dtype is emitted as C only (--emit=c or --emit=header) today; "
                                        "other emitters take float32 or float64"
                                      : "emitted kernels are float32 or float64, or float16 and "
                                        "bfloat16 in C");
        return NULL;
    }
    arena A = { 0 };
    cc c = { .A = &A, .src = k->src, .err = err };
    char *s = NULL;
    const ast_axis *ell = k->ast ? find_ellipsis(k->ast) : NULL;
    if (ell && k->ellipsis_rank < 0) {
        cc_error(&c, EINC_ERR_ARG, ell->begin, ell->end,
                 "a kernel's source needs the number of dimensions '...' stands for: give "
                 "...=N (e.g. ...=2)");
        goto done;
    }
    bool gpu = what == EINC_EMIT_CUDA || what == EINC_EMIT_PTX;
    pipeline pl = kernel_pipeline(k, 0, NULL, NULL, gpu ? PL_EMIT_GPU : llvm ? PL_EMIT_LLVM : PL_EMIT_C);
    /* the schedule plans for the machine the code is for: the named CPU, or the stated one
       emitted C is written for (loop.h) */
    if (llvm)
        jit_machine(cpu, &pl.machine);
    else if (!gpu)
        pl.machine = LP_EMITTED_C_MACHINE;
    pl.opts.dtype = half ? EINC_F32 : dtype;
    pl.opts.ellipsis_rank = k->ellipsis_rank > 0 ? k->ellipsis_rank : 0;
    pl.opts.open_repeats = true;    /* a repeat's size not given is a parameter like any other */
    lp_prog *lp = pipeline_run(&c, &pl, PL_SCHEDULE) == 0 ? pl.lp : NULL;
    cg_opts co = { name, k->src, what == EINC_EMIT_HEADER };
    if (lp)
        lp->tf32 = gpu && k->tf32;
    if (lp && cg_params(&c, lp, opt->params, opt->nparams) < 0)
        lp = NULL;
    for (int t = 0; lp && t < lp->ir->ntensor; t++) {
        /* a model declares its own dtypes: CUDA spells the five first, LLVM the JIT's, C all
           but the 16-bit floats (which --dtype wraps, codegen/cdtype.c) and, in a model, the
           integers it computes in int64 (C does not wrap them before max, min, / or ==) */
        einc_dtype dt = lp->ir->tensor[t].dtype;
        bool narrow = dtype_is_int(dt) && dt != EINC_I32 && dtype_size(dt) < 8;
        if (llvm ? !dtype_on_jit(dt) : gpu ? !dtype_is_classic(dt) : dtype_is_half(dt) || (k->model && narrow)) {
            cc_error(&c, EINC_ERR_DTYPE, -1, -1, "'%s' is %s, which %s does not emit yet (README, "
                     "\"Dtypes\"): run it with einc run", lp->ir->tensor[t].name,
                     einc_dtype_name(dt), llvm ? "LLVM" : gpu ? "CUDA" : "C");
            lp = NULL;
        }
    }
    if (!lp) {
        goto done;
    } else if (half) {
        s = cg_c_half(&c, lp, &co, dtype);
    } else if (what == EINC_EMIT_C || what == EINC_EMIT_HEADER) {
        s = cg_c(&c, lp, &co);
    } else if (what == EINC_EMIT_CUDA) {
        s = cg_cuda(&c, lp, &co);
    } else if (what == EINC_EMIT_PTX) {
        /* the kernels alone (NVRTC has no CUDA headers), for the H100/H200 generation */
        char *cu = cg_cuda_kernels(&c, lp, &co), msg[sizeof err->message];
        if (cu && nvrtc_ptx(cu, name, "compute_90", &s, msg, sizeof msg) < 0)
            cc_error(&c, EINC_ERR_UNSUPPORTED, -1, -1, "%s", msg);
        einc_free(cu);
    } else {
        s = jit_emit(&c, lp, name, cpu, what, len);
        goto done;
    }
    if (s)
        *len = strlen(s);
done:
    arena_free(&A);
    return s;
}
