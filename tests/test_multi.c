/*
 * test_multi.c — models with several results (`return a, b`; README.md, "The layer
 * language"): the C API (counts, names, shapes, the one-output functions' refusals, the
 * run's checks), the values on the interpreter, the CPU JIT, the CUDA emulator and emitted
 * C against references written here in double precision, and the result names' errors.
 *
 * The model's results cover each way a result becomes an output: a temporary that later
 * statements read (probs, read by argmax), an integer result (pred), an input returned as it
 * is (x, a copy), an expression not yet written (out3) and a view (out4, a transpose).
 * Outputs are poisoned before each run, so an element never written cannot pass.
 */
#define _GNU_SOURCE
#include "einc.h"
#include "helpers.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

enum { N = 5, K = 7, M = 6, NOUT = 5 };

static const char *const src =
    "input x: f32[N, K]\n"
    "input w: f32[K, M]\n"
    "h = relu(einsum('n k, k m -> n m', x, w))\n"
    "probs = softmax(h, dim=1)\n"
    "pred = argmax(probs, dim=1)\n"
    "return probs, pred, x, h * 2, rearrange(x, 'n k -> k n')\n";

static const char *const names[NOUT] = { "probs", "pred", "x", "out3", "out4" };
static const einc_dtype dtypes[NOUT] = { EINC_F32, EINC_I64, EINC_F32, EINC_F32, EINC_F32 };
static const int64_t shapes[NOUT][2] = { { N, M }, { N, 0 }, { N, K }, { N, M }, { K, N } };
static const int ranks[NOUT] = { 2, 1, 2, 2, 2 };

static float x[N * K], w[K * M];
static double want[NOUT][N * M > N * K ? N * M : N * K];
static einc_ctx *ctx;
static bool have_cxx;

static void reference(void)
{
    uint64_t rng = 0x5DEECE66Dull;
    for (int i = 0; i < N * K; i++)
        x[i] = (float)th_uniform(&rng, -2, 2);
    for (int i = 0; i < K * M; i++)
        w[i] = (float)th_uniform(&rng, -2, 2);
    for (int n = 0; n < N; n++) {
        double h[M], mx = -INFINITY, sum = 0;
        for (int m = 0; m < M; m++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += (double)x[n * K + k] * w[k * M + m];
            h[m] = s > 0 ? s : 0;
            mx = h[m] > mx ? h[m] : mx;
            want[3][n * M + m] = 2 * (double)(float)h[m];
        }
        for (int m = 0; m < M; m++)
            sum += exp(h[m] - mx);
        int best = 0;
        for (int m = 0; m < M; m++) {
            want[0][n * M + m] = exp(h[m] - mx) / sum;
            best = h[m] > h[best] ? m : best;
        }
        want[1][n] = best;
        for (int k = 0; k < K; k++) {
            want[2][n * K + k] = x[n * K + k];
            want[4][k * N + n] = x[n * K + k];
        }
    }
}

static einc_kernel *compile_model(const char *text, einc_target target)
{
    einc_options o = { .target = target };
    einc_kernel *k = NULL;
    einc_error e;
    einc_status st = einc_compile_model(ctx, text, &o, &k, &e);
    if (st)
        fail_msg("%s", e.message);
    return k;
}

static void inputs(einc_tensor *in)
{
    static int64_t sx[2] = { N, K }, sw[2] = { K, M };
    in[0] = (einc_tensor){ EINC_F32, 2, sx, NULL, x };
    in[1] = (einc_tensor){ EINC_F32, 2, sw, NULL, w };
}

/* Output arrays of the results' dtypes and shapes, poisoned. */
static void outputs(einc_tensor *out, int64_t sh[NOUT][2])
{
    for (int i = 0; i < NOUT; i++) {
        memcpy(sh[i], shapes[i], sizeof sh[i]);
        int64_t n = sh[i][0] * (ranks[i] == 2 ? sh[i][1] : 1);
        void *d = malloc((size_t)n * 8);
        assert_non_null(d);
        for (int64_t j = 0; j < n; j++)
            th_put(dtypes[i], d, j, dtypes[i] == EINC_I64 ? -777777 : NAN);
        out[i] = (einc_tensor){ dtypes[i], ranks[i], sh[i], NULL, d };
    }
}

static void check(const char *who, const einc_tensor *out)
{
    for (int i = 0; i < NOUT; i++) {
        int64_t n = out[i].shape[0] * (ranks[i] == 2 ? out[i].shape[1] : 1);
        for (int64_t j = 0; j < n; j++) {
            double got = th_get(dtypes[i], out[i].data, j), tol = i == 1 ? 0 : 2e-6 * (1 + fabs(want[i][j]));
            if (!(fabs(got - want[i][j]) <= tol))
                fail_msg("%s: %s[%lld] = %.9g, want %.9g", who, names[i], (long long)j, got, want[i][j]);
        }
    }
}

static void free_outputs(einc_tensor *out)
{
    for (int i = 0; i < NOUT; i++)
        free(out[i].data);
}

static void test_api(void **state)
{
    (void)state;
    einc_kernel *k = compile_model(src, EINC_TARGET_INTERP);
    assert_int_equal(einc_kernel_noutputs(k), NOUT);
    for (int i = 0; i < NOUT; i++)
        assert_string_equal(einc_kernel_output_name(k, i), names[i]);
    assert_null(einc_kernel_output_name(k, NOUT));
    assert_null(einc_kernel_output_name(k, -1));
    einc_tensor in[2], out[NOUT];
    int64_t sh[NOUT][2];
    inputs(in);
    for (int i = 0; i < NOUT; i++) {
        einc_dtype dt;
        int nd;
        int64_t s[EINC_MAX_RANK];
        einc_error e;
        assert_int_equal(einc_kernel_output_at(k, i, 2, in, &dt, &nd, s, &e), EINC_OK);
        assert_int_equal(dt, dtypes[i]);
        assert_int_equal(nd, ranks[i]);
        for (int d = 0; d < nd; d++)
            assert_int_equal(s[d], shapes[i][d]);
    }
    einc_dtype dt;
    int nd;
    int64_t s[EINC_MAX_RANK];
    einc_error e;
    assert_int_equal(einc_kernel_output_at(k, NOUT, 2, in, &dt, &nd, s, &e), EINC_ERR_ARG);
    assert_string_equal(e.message, "einc_kernel_output_at: output 5, of 5");
    assert_int_equal(einc_kernel_output(k, 2, in, &dt, &nd, s, &e), EINC_ERR_ARG);
    assert_string_equal(e.message, "einc_kernel_output: the model returns 5 results (probs, pred, "
                                   "...): use einc_kernel_output_at");
    outputs(out, sh);
    assert_int_equal(einc_kernel_run(k, 2, in, &out[0], &e), EINC_ERR_ARG);
    assert_string_equal(e.message, "einc_kernel_run: the model returns 5 results (probs, pred, "
                                   "...): use einc_kernel_run_outputs");
    assert_int_equal(einc_kernel_run_outputs(k, 2, in, NOUT - 1, out, &e), EINC_ERR_ARG);
    assert_string_equal(e.message, "einc_kernel_run_outputs: 4 output arrays for 5 results");
    sh[2][1] = K + 1;
    assert_int_equal(einc_kernel_run_outputs(k, 2, in, NOUT, out, &e), EINC_ERR_SHAPE);
    assert_string_equal(e.message, "output 2 (x): the array's dtype or shape is not the result's "
                                   "(ask einc_kernel_output_at)");
    sh[2][1] = K;
    out[1].dtype = EINC_I32;
    assert_int_equal(einc_kernel_run_outputs(k, 2, in, NOUT, out, &e), EINC_ERR_SHAPE);
    assert_string_equal(e.message, "output 1 (pred): the array's dtype or shape is not the result's "
                                   "(ask einc_kernel_output_at)");
    free_outputs(out);
    einc_kernel_free(k);

    /* one result: the one-output functions work as ever; an expression's output is "out" */
    k = compile_model("input x: f32[N]\ny = x * 2\nreturn y\n", EINC_TARGET_INTERP);
    assert_int_equal(einc_kernel_noutputs(k), 1);
    assert_string_equal(einc_kernel_output_name(k, 0), "y");
    int64_t n3 = 3;
    float a[3] = { 1, 2, 3 }, b[3];
    einc_tensor t = { EINC_F32, 1, &n3, NULL, a }, o = { EINC_F32, 1, &n3, NULL, b };
    assert_int_equal(einc_kernel_run(k, 1, &t, &o, &e), EINC_OK);
    assert_true(b[0] == 2 && b[1] == 4 && b[2] == 6);
    einc_kernel_free(k);
    assert_int_equal(einc_compile(ctx, "ij->ji", NULL, &k, &e), EINC_OK);
    assert_int_equal(einc_kernel_noutputs(k), 1);
    assert_string_equal(einc_kernel_output_name(k, 0), "out");
    einc_kernel_free(k);
}

static void run_on(einc_target target, const char *who)
{
    einc_kernel *k = compile_model(src, target);
    einc_tensor in[2], out[NOUT];
    int64_t sh[NOUT][2];
    inputs(in);
    for (int rep = 0; rep < 2; rep++) {     /* the second run takes the cached kernel */
        outputs(out, sh);
        einc_error e;
        if (einc_kernel_run_outputs(k, 2, in, NOUT, out, &e))
            fail_msg("%s: %s", who, e.message);
        check(who, out);
        free_outputs(out);
    }
    einc_kernel_free(k);
}

static void test_interp(void **state)
{
    (void)state;
    run_on(EINC_TARGET_INTERP, "interp");
}

static void test_jit(void **state)
{
    (void)state;
    if (!th_have_jit())
        skip();
    run_on(EINC_TARGET_CPU, "cpu");
}

static void test_cuda_emulator(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    run_on(EINC_TARGET_CUDA, "cuda (emulated)");
}

typedef void (*kernel_fn)(const float *, const float *, float *, int64_t *, float *, float *,
                          float *, void *);
typedef size_t (*workspace_fn)(void);

/* The emitted C, built into a shared object: its parameters in the results' order. */
static void test_emitted_c(void **state)
{
    (void)state;
    if (!th_have("cc --version"))
        skip();
    einc_size sz[3] = { { "N", N }, { "K", K }, { "M", M } };
    einc_options o = { .nsizes = 3, .sizes = sz };
    einc_kernel *k;
    einc_error e;
    assert_int_equal(einc_compile_model(ctx, src, &o, &k, &e), EINC_OK);
    char *c = einc_kernel_emit(k, EINC_EMIT_C, "multi", EINC_F32, NULL, &e);
    char *h = einc_kernel_emit(k, EINC_EMIT_HEADER, "multi", EINC_F32, NULL, &e);
    assert_non_null(c);
    assert_non_null(h);
    assert_non_null(strstr(h, "void multi(const float *EINC_RESTRICT x, const float *EINC_RESTRICT w, "
                              "float *EINC_RESTRICT probs, int64_t *EINC_RESTRICT pred, float "
                              "*EINC_RESTRICT out_x, float *EINC_RESTRICT out3, float *EINC_RESTRICT "
                              "out4, void *workspace);"));
    assert_non_null(strstr(c, " *   probs      float *        output 0, float32[5, 6]\n"
                              " *   pred       int64_t *      output 1, int64[5]\n"));
    char dir[] = "/tmp/einc-multi-XXXXXX", path[256], so[256], cmd[1024];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/multi.c", dir);
    snprintf(so, sizeof so, "%s/multi.so", dir);
    th_write_file(path, c, strlen(c));
    snprintf(cmd, sizeof cmd, "cc -std=c99 -Wall -Wextra -Werror -O2 -fPIC -shared -o %s %s -lm", so, path);
    assert_int_equal(system(cmd), 0);
    void *lib = NULL;
    kernel_fn f;
    workspace_fn ws;
    *(void **)&f = th_dlsym(&lib, so, "multi");
    *(void **)&ws = th_dlsym(&lib, so, "multi_workspace");
    einc_tensor out[NOUT];
    int64_t sh[NOUT][2];
    outputs(out, sh);
    void *work = malloc(ws());
    assert_non_null(work);
    f(x, w, out[0].data, out[1].data, out[2].data, out[3].data, out[4].data, work);
    check("emitted C", out);
    free(work);
    free_outputs(out);
    free(c);
    free(h);
    einc_kernel_free(k);
    th_rm_rf(dir);
}

/* One result under two names: the second is a copy, and both are right. */
static void test_same_value_twice(void **state)
{
    (void)state;
    einc_kernel *k = compile_model("input x: f32[N]\ny = relu(x)\nz = y\nreturn y, z\n",
                                   th_have_jit() ? EINC_TARGET_CPU : EINC_TARGET_INTERP);
    int64_t n = 4;
    float a[4] = { -1, 2, -3, 4 }, y[4], z[4];
    einc_tensor in = { EINC_F32, 1, &n, NULL, a }, out[2] = { { EINC_F32, 1, &n, NULL, y },
                                                             { EINC_F32, 1, &n, NULL, z } };
    einc_error e;
    assert_int_equal(einc_kernel_run_outputs(k, 1, &in, 2, out, &e), EINC_OK);
    for (int i = 0; i < 4; i++) {
        assert_true(y[i] == (a[i] > 0 ? a[i] : 0));
        assert_true(z[i] == y[i]);
    }
    einc_kernel_free(k);
}

static void expect_error(const char *text, const char *msg, int begin, int end)
{
    einc_kernel *k = NULL;
    einc_error e;
    einc_status st = einc_compile_model(ctx, text, NULL, &k, &e);
    if (st == EINC_OK) {        /* an error found when the model is elaborated */
        int64_t n = 3;
        float a[3] = { 0 };
        einc_tensor in = { EINC_F32, 1, &n, NULL, a };
        einc_dtype dt;
        int nd;
        int64_t s[EINC_MAX_RANK];
        st = einc_kernel_output_at(k, 0, 1, &in, &dt, &nd, s, &e);
        einc_kernel_free(k);
    }
    assert_int_not_equal(st, EINC_OK);
    assert_string_equal(e.message, msg);
    assert_int_equal(e.begin, begin);
    assert_int_equal(e.end, end);
}

static void test_errors(void **state)
{
    (void)state;
    /* "input x: f32[N]\n" is 16 bytes; "return " 7 more */
    expect_error("input x: f32[N]\nreturn x, x\n", "'x' is returned twice: each result needs a name "
                 "of its own", 26, 27);
    expect_error("input x: f32[N]\ny = x\nreturn x * 2, y, y\n", "'y' is returned twice: each result "
                 "needs a name of its own", 39, 40);
    /* a plain name that is also another position's generated name */
    expect_error("input x: f32[N]\nout1 = x\nreturn out1, x + 1\n", "'out1' is returned twice: "
                 "each result needs a name of its own", 38, 43);
    expect_error("input x: f32[N]\nreturn x, 'a'\n", "the model must return a tensor, not a string",
                 26, 29);
}

int main(void)
{
    reference();
    have_cxx = th_have("c++ --version");
    if (have_cxx)
        setenv("EINC_CUDA_EMU", "1", 1);
    ctx = einc_ctx_new();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api),
        cmocka_unit_test(test_interp),
        cmocka_unit_test(test_jit),
        cmocka_unit_test(test_cuda_emulator),
        cmocka_unit_test(test_emitted_c),
        cmocka_unit_test(test_same_value_twice),
        cmocka_unit_test(test_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    einc_ctx_free(ctx);
    return rc;
}
