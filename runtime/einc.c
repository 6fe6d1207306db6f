/*
 * einc.c — the public C API (include/einc.h) over the front end and the backends.
 *
 * A kernel keeps its parsed expression (an AST in its own arena, read-only after compile);
 * each output/run/explain call binds shapes into a fresh IR in a call-local arena.  So a
 * kernel can be used from many threads at once without locks: nothing shared is written
 * but the CPU backend's cache, which guards itself.  Running binds the shapes, then hands
 * the bound program to the interpreter or to the CPU backend with a key naming everything
 * the compiled code depends on (auto.c makes it, and chooses under --target=auto).
 * explain.c and emit.c hold the explain and emit calls; kernel.h the kernel's struct.
 */
#ifdef __linux__
#define _GNU_SOURCE                 /* sched_getaffinity, CPU_COUNT */
#endif
#include "einc.h"
#include "auto.h"
#include "alloc.h"
#include "cc.h"
#include "ir.h"
#include "einl.h"
#include "strbuf.h"
#include "cpu.h"
#include "cuda.h"
#include "jit.h"
#include "kcache.h"
#include "memo.h"
#include "pipeline.h"
#include "timing.h"

#ifdef __linux__
#include <sched.h>
#endif
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    err = error_start(err, &scratch);
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

einc_status check_tensors(int n, const einc_tensor *t, bool need_data, einc_error *err)
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

bool use_jit(einc_target t)
{
#ifdef EINC_HAVE_LLVM
    return t == EINC_TARGET_AUTO || t == EINC_TARGET_CPU;
#else
    return t == EINC_TARGET_CPU;    /* and jit_none.c says why it cannot */
#endif
}

/* Per input, then per output: whether its strides are not the contiguous ones. */
bool *strided_flags(arena *A, int n, const einc_tensor *in, int nout, const einc_tensor *out)
{
    bool *s = ARENA_ARRAY(A, bool, n + nout);
    for (int i = 0; s && i < n; i++)
        s[i] = tensor_strided(&in[i]);
    for (int i = 0; s && i < nout; i++)
        s[n + i] = out && tensor_strided(&out[i]);
    return s;
}

/* A pipeline for k's program: arrays (or NULL) for target. */
pipeline kernel_pipeline(const einc_kernel *k, int n, const einc_tensor *in,
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

/* Output i's dtype and shape for these inputs (checked), bound afresh. */
static einc_status output_shape(einc_kernel *k, int i, int ninputs, const einc_tensor *inputs,
                                einc_dtype *dtype, int *ndim, int64_t *shape, einc_error *err)
{
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

einc_status einc_kernel_output_at(einc_kernel *k, int i, int ninputs, const einc_tensor *inputs,
                                  einc_dtype *dtype, int *ndim, int64_t *shape, einc_error *err)
{
    einc_error scratch;
    err = error_start(err, &scratch);
    if (!k || !dtype || !ndim || !shape)
        return fail(err, EINC_ERR_ARG, "einc_kernel_output_at: NULL argument");
    if (i < 0 || i >= einc_kernel_noutputs(k))
        return failf(err, EINC_ERR_ARG, "einc_kernel_output_at: output %d, of %d", i,
                    einc_kernel_noutputs(k));
    einc_status st = check_tensors(ninputs, inputs, false, err);
    if (st)
        return st;
    return output_shape(k, i, ninputs, inputs, dtype, ndim, shape, err);
}

einc_status einc_kernel_output(einc_kernel *k, int ninputs, const einc_tensor *inputs,
                               einc_dtype *dtype, int *ndim, int64_t *shape, einc_error *err)
{
    einc_error scratch;
    err = error_start(err, &scratch);
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
    return output_shape(k, 0, ninputs, inputs, dtype, ndim, shape, err);
}

einc_status einc_kernel_run(einc_kernel *k, int ninputs, const einc_tensor *inputs,
                            const einc_tensor *out, einc_error *err)
{
    einc_error scratch;
    err = error_start(err, &scratch);
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
    err = error_start(err, &scratch);
    if (!k || !outs)
        return fail(err, EINC_ERR_ARG, "einc_kernel_run_outputs: NULL kernel or outputs");
    if (noutputs != einc_kernel_noutputs(k))
        return failf(err, EINC_ERR_ARG, "einc_kernel_run_outputs: %d output arrays for %d results",
                    noutputs, einc_kernel_noutputs(k));
    einc_status st = check_tensors(ninputs, inputs, true, err);
    if (st || (st = check_tensors(noutputs, outs, true, err)))
        return st;
    /* CUDA computes every dtype but complex (README, "Dtypes"), and refuses complex by name */
    bool on_cuda = true;
    for (int i = 0; i < ninputs + noutputs; i++)
        on_cuda = on_cuda && dtype_on_cuda(i < ninputs ? inputs[i].dtype : outs[i - ninputs].dtype);
    if (!on_cuda && k->target == EINC_TARGET_CUDA)
        return fail(err, EINC_ERR_UNSUPPORTED, "the CUDA target does not compute this dtype yet (complex runs on "
                                               "the CPU): use --target=cpu, interp or auto");
    memo_slots *ms = k->shared ? &k->shared->memo : &k->memo;
    const run_memo *m = einc_timing || noutputs != 1 ? NULL : memo_find(ms, ninputs, inputs, outs);
    if (m)
        return memo_run(k->ctx->cpu, m, ninputs, inputs, outs) < 0 ? fail(err, EINC_ERR_NOMEM, "out of memory")
                                                                  : EINC_OK;
    arena A = { 0 };
    cc c = { .A = &A, .src = k->src, .err = err };
    /* --target=auto follows every PyTorch script: CUDA if a GPU and driver are there */
    bool cuda = k->target == EINC_TARGET_CUDA ||
                (k->target == EINC_TARGET_AUTO && on_cuda && cuda_ready(k->ctx->cuda, NULL));
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

einc_status einc_kernel_input_dtypes(einc_kernel *k, einc_dtype *dtype, einc_error *err)
{
    einc_error scratch;
    err = error_start(err, &scratch);
    if (!k || !dtype)
        return fail(err, EINC_ERR_ARG, "einc_kernel_input_dtypes: NULL argument");
    for (int i = 0; i < einc_kernel_ninputs(k); i++)
        dtype[i] = k->model ? einl_input(k->model, i)->dtype : EINC_F32;
    return EINC_OK;
}

einc_status einc_kernel_input_shapes(einc_kernel *k, int *ninputs, int *ndim,
                                     int64_t (*shape)[EINC_MAX_RANK], int64_t *flops,
                                     einc_error *err)
{
    einc_error scratch;
    err = error_start(err, &scratch);
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
