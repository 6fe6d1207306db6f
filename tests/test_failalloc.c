/*
 * test_failalloc.c — failure injection: every public entry point, with its Nth allocation
 * failing for N = 1, 2, ... until the call no longer allocates that often.  Each call must
 * return an error (EINC_ERR_NOMEM, or the error the shortage caused) or succeed, and leak
 * nothing: the sanitizer build runs this under LeakSanitizer.  LLVM's own allocations are
 * not ours to fail; the ones around it are.
 */
#include "einc.h"
#include "alloc.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

typedef einc_status (*step_fn)(void *arg);

/*
 * Runs fn once cleanly to count its allocations, then with each of them failing in turn.
 * A failure may be absorbed (the thread pool runs with fewer threads) or reported; it may
 * never crash or leak.
 */
static void each_failure(step_fn fn, void *arg, const char *what)
{
    long before = einc_alloc_count();
    assert_int_equal(fn(arg), EINC_OK);
    long total = einc_alloc_count() - before;
    assert_true(total > 0);
    int reported = 0;
    for (long n = 1; n <= total; n++) {
        einc_alloc_fail_after(n);
        einc_status st = fn(arg);
        einc_alloc_fail_after(0);
        reported += st != EINC_OK;
        if (st != EINC_OK && st != EINC_ERR_NOMEM && st != EINC_ERR_UNSUPPORTED)
            fail_msg("%s: allocation %ld failing gave status %d", what, n, (int)st);
    }
    assert_true(reported > 0);
    if (getenv("EINC_TEST_VERBOSE"))
        printf("%s: %ld allocations, each failed once; %d failures reported, the rest absorbed\n",
               what, total, reported);
}

typedef struct fixture {
    const char *expr;           /* an expression, or a model's source when model is set */
    bool model;
    einc_target target;
    int nin;
    einc_tensor in[3];
    int64_t shape[3][3];
    float data[3][64];
    float out[64];
} fixture;

static einc_status compile_only(void *arg)
{
    fixture *f = arg;
    einc_ctx *ctx = einc_ctx_new();
    if (!ctx)
        return EINC_ERR_NOMEM;
    einc_kernel *k = NULL;
    einc_options o = { .target = f->target };
    einc_status st = einc_compile(ctx, f->expr, &o, &k, NULL);
    einc_kernel_free(k);
    einc_ctx_free(ctx);
    return st;
}

/* compile, bind, run twice (the second a cache hit), explain as text and as a graph */
static einc_status full_run(void *arg)
{
    fixture *f = arg;
    einc_ctx *ctx = einc_ctx_new();
    if (!ctx)
        return EINC_ERR_NOMEM;
    einc_kernel *k = NULL;
    einc_options o = { .target = f->target };
    einc_error err;
    einc_status st = (f->model ? einc_compile_model : einc_compile)(ctx, f->expr, &o, &k, &err);
    einc_dtype dt;
    int nd;
    int64_t os[EINC_MAX_RANK];
    if (!st)
        st = einc_kernel_output(k, f->nin, f->in, &dt, &nd, os, &err);
    for (int i = 0; i < 2 && !st; i++) {
        einc_tensor out = { dt, nd, os, NULL, f->out };
        st = einc_kernel_run(k, f->nin, f->in, &out, &err);
    }
    for (int dot = 0; dot < 2 && !st; dot++) {
        char *s = dot ? einc_kernel_explain_dot(k, f->nin, f->in, &err) : einc_kernel_explain(k, f->nin, f->in, &err);
        st = s ? EINC_OK : err.status;
        free(s);
    }
    einc_kernel_free(k);
    einc_ctx_free(ctx);
    return st;
}

static einc_status emit_all(void *arg)
{
    fixture *f = arg;
    einc_ctx *ctx = einc_ctx_new();
    if (!ctx)
        return EINC_ERR_NOMEM;
    einc_kernel *k = NULL;
    einc_error err;
    einc_status st = einc_compile(ctx, f->expr, NULL, &k, &err);
    static const einc_emit_kind kinds[] = { EINC_EMIT_C, EINC_EMIT_HEADER, EINC_EMIT_CUDA };
    for (size_t i = 0; !st && i < sizeof kinds / sizeof *kinds; i++) {
        char *s = einc_kernel_emit(k, kinds[i], NULL, EINC_F32, NULL, &err);
        st = s ? EINC_OK : err.status;
        free(s);
    }
    einc_kernel_free(k);
    einc_ctx_free(ctx);
    return st;
}

static void setup_fixture(fixture *f, const char *expr, einc_target t)
{
    memset(f, 0, sizeof *f);
    f->expr = expr;
    f->target = t;
    f->nin = 1;
    for (const char *p = expr; *p && !(p[0] == '-' && p[1] == '>'); p++)
        f->nin += *p == ',';
    for (int i = 0; i < f->nin; i++) {
        /* every operand is a 3 x 3 matrix */
        f->shape[i][0] = f->shape[i][1] = f->shape[i][2] = 3;
        f->in[i] = (einc_tensor){ EINC_F32, 2, f->shape[i], NULL, f->data[i] };
        for (int e = 0; e < 64; e++)
            f->data[i][e] = (float)(e % 5);
    }
}

static void test_interp_paths(void **s)
{
    (void)s;
    static const char *const exprs[] = { "ik,kj->ij", "i j -> j", "ij->ji", "ii", "(a b) c -> a b c" };
    for (size_t i = 0; i < sizeof exprs / sizeof *exprs; i++) {
        fixture f;
        setup_fixture(&f, exprs[i], EINC_TARGET_INTERP);
        if (i == 4) {   /* needs a size: compile only */
            each_failure(compile_only, &f, exprs[i]);
            continue;
        }
        each_failure(compile_only, &f, exprs[i]);
        each_failure(full_run, &f, exprs[i]);
    }
}

static void test_jit_paths(void **s)
{
    (void)s;
    static const char *const exprs[] = { "ik,kj->ij", "ij->ji", "i j -> i", "ij,jk,kl->il" };
    for (size_t i = 0; i < sizeof exprs / sizeof *exprs; i++) {
        fixture f;
        setup_fixture(&f, exprs[i], EINC_TARGET_CPU);
        each_failure(full_run, &f, exprs[i]);
    }
}

static void test_emit_paths(void **s)
{
    (void)s;
    static const char *const exprs[] = { "ik,kj->ij", "b c h w -> b c", "ij->" };
    for (size_t i = 0; i < sizeof exprs / sizeof *exprs; i++) {
        fixture f;
        setup_fixture(&f, exprs[i], EINC_TARGET_AUTO);
        each_failure(emit_all, &f, exprs[i]);
    }
}

/*
 * A model with several results (one a temporary later statements read, one an input
 * copied): compile, each output's shape, two runs into every output.
 */
static einc_status multi_run(void *arg)
{
    einc_target t = *(const einc_target *)arg;
    einc_ctx *ctx = einc_ctx_new();
    if (!ctx)
        return EINC_ERR_NOMEM;
    static const char src[] = "input x: f32[R, C]\np = softmax(x, dim=1)\n"
                              "return p, argmax(p, dim=1), x\n";
    einc_kernel *k = NULL;
    einc_options o = { .target = t };
    einc_error err;
    float x[6] = { 1, 2, 3, -1, 0, 1 }, p[6], xc[6];
    int64_t pred[2], shape[3][EINC_MAX_RANK], xs[2] = { 2, 3 };
    void *data[3] = { p, pred, xc };
    einc_tensor in = { EINC_F32, 2, xs, NULL, x }, out[3];
    einc_status st = einc_compile_model(ctx, src, &o, &k, &err);
    for (int i = 0; i < 3 && !st; i++) {
        out[i] = (einc_tensor){ .shape = shape[i], .data = data[i] };
        st = einc_kernel_output_at(k, i, 1, &in, &out[i].dtype, &out[i].ndim, shape[i], &err);
    }
    for (int r = 0; r < 2 && !st; r++)
        st = einc_kernel_run_outputs(k, 1, &in, 3, out, &err);
    einc_kernel_free(k);
    einc_ctx_free(ctx);
    return st;
}

static void test_multi_paths(void **s)
{
    (void)s;
    static const einc_target targets[] = { EINC_TARGET_INTERP, EINC_TARGET_CPU };
    for (size_t t = 0; t < sizeof targets / sizeof *targets; t++)
        each_failure(multi_run, (void *)&targets[t], t ? "several results, cpu" : "several results, interp");
}

/* A layer-language model, through the same steps as an expression. */
static const char model_src[] =
    "input x: f32[R, C]\nparam w: f32[C, C]\n"
    "def block(x, w) {\n    h = layernorm(linear(x, w))\n    return softmax(h, dim=-1) + x\n}\n"
    "return block(x, w)\n";

static void test_model_paths(void **s)
{
    (void)s;
    static const einc_target targets[] = { EINC_TARGET_INTERP, EINC_TARGET_CPU };
    for (size_t t = 0; t < sizeof targets / sizeof *targets; t++) {
        fixture f;
        setup_fixture(&f, "ij,jk", targets[t]);     /* two 3 x 3 operands: x and w */
        f.expr = model_src;
        f.model = true;
        each_failure(full_run, &f, targets[t] == EINC_TARGET_CPU ? "model, cpu" : "model, interp");
    }
    /* a model with an error: the error path under a shortage must not crash or leak */
    static const char bad[] = "input x: f32[N, C]\nparam w: f32[4, 5]\nreturn linear(x, w)\n";
    for (long n = 1; n < 120; n++) {
        einc_ctx *ctx = einc_ctx_new();
        einc_kernel *k = NULL;
        einc_alloc_fail_after(n);
        einc_status st = ctx ? einc_compile_model(ctx, bad, NULL, &k, NULL) : EINC_ERR_NOMEM;
        einc_tensor in[2] = { { EINC_F32, 2, (int64_t[]){ 3, 3 }, NULL, (float[9]){ 0 } },
                              { EINC_F32, 2, (int64_t[]){ 4, 5 }, NULL, (float[20]){ 0 } } };
        einc_dtype dt;
        int nd;
        int64_t os[EINC_MAX_RANK];
        if (!st)    /* the shapes are known only now: binding must fail */
            st = einc_kernel_output(k, 2, in, &dt, &nd, os, NULL);
        einc_alloc_fail_after(0);
        assert_int_not_equal(st, EINC_OK);
        einc_kernel_free(k);
        einc_ctx_free(ctx);
    }
}

static void test_bad_expressions(void **s)
{
    (void)s;
    /* the error paths allocate too: a failure there must not turn into a crash or a leak */
    static const char *const exprs[] = { "ik,kj->ijl", "a (b (c d)) -> a", "i->j->k", "a a -> a c" };
    for (size_t i = 0; i < sizeof exprs / sizeof *exprs; i++)
        for (long n = 1; n < 200; n++) {
            einc_ctx *ctx = einc_ctx_new();
            einc_kernel *k = NULL;
            einc_alloc_fail_after(n);
            einc_status st = ctx ? einc_compile(ctx, exprs[i], NULL, &k, NULL) : EINC_ERR_NOMEM;
            if (!st) {  /* a repeat's missing size is an error once it runs (emitting takes it) */
                einc_tensor in[2] = { { EINC_F32, 2, (int64_t[]){ 3, 3 }, NULL, NULL },
                                      { EINC_F32, 2, (int64_t[]){ 3, 3 }, NULL, NULL } };
                einc_dtype dt;
                int nd;
                int64_t os[EINC_MAX_RANK];
                st = einc_kernel_output(k, 2, in, &dt, &nd, os, NULL);
                einc_kernel_free(k);
                k = NULL;
            }
            einc_alloc_fail_after(0);
            assert_int_not_equal(st, EINC_OK);
            assert_null(k);
            einc_ctx_free(ctx);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interp_paths),
        cmocka_unit_test(test_jit_paths),
        cmocka_unit_test(test_emit_paths),
        cmocka_unit_test(test_bad_expressions),
        cmocka_unit_test(test_model_paths),
        cmocka_unit_test(test_multi_paths),
    };
    return cmocka_run_group_tests_name("failalloc", tests, NULL, NULL);
}
