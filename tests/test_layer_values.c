/*
 * test_layer_values.c — numbers in the layer language (README.md, "The layer language"):
 * declared size names used as integer values, functions and arithmetic of numbers folded to
 * constants at elaboration, and torch's dotted spellings (F.relu) answered with "did you
 * mean".  Values are checked against references computed here in double precision, on the
 * interpreter and on the CPU JIT (skipped where this build has none); errors by their exact
 * text, status and span.
 */
#include "einc.h"

#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static einc_ctx *ctx;

static const einc_target targets[] = { EINC_TARGET_INTERP, EINC_TARGET_CPU };

/*
 * Runs src on n inputs for target into out (room for cap doubles, converted from the
 * output's dtype); false where the target is the JIT and this build has none.
 */
static bool run(einc_target t, const char *src, int n, const einc_tensor *in, einc_dtype *dt, int *nd,
                int64_t *sh, double *out, int64_t cap)
{
    einc_options opt = { .target = t };
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    einc_status st = einc_compile_model(ctx, src, &opt, &k, &err);
    if (t == EINC_TARGET_CPU && st == EINC_ERR_UNSUPPORTED)
        return false;
    if (st != EINC_OK)
        fail_msg("compile failed: %s [%d, %d)\n%s", err.message, err.begin, err.end, src);
    if (einc_kernel_output(k, n, in, dt, nd, sh, &err) != EINC_OK)
        fail_msg("output failed: %s [%d, %d)\n%s", err.message, err.begin, err.end, src);
    int64_t cnt = 1;
    for (int d = 0; d < *nd; d++)
        cnt *= sh[d];
    assert_true(cnt <= cap);
    size_t es = *dt == EINC_F64 || *dt == EINC_I64 ? 8 : 4;
    unsigned char buf[8 * 64];
    memset(buf, 0xff, sizeof buf);      /* poison: NaN in float32 and float64, -1 in integers */
    einc_tensor o = { .dtype = *dt, .ndim = *nd, .shape = sh, .data = buf };
    if (einc_kernel_run(k, n, in, &o, &err) != EINC_OK)
        fail_msg("run failed: %s [%d, %d)\n%s", err.message, err.begin, err.end, src);
    for (int64_t i = 0; i < cnt; i++) {
        const unsigned char *p = buf + (size_t)i * es;
        switch (*dt) {
        case EINC_F32: { float v; memcpy(&v, p, 4); out[i] = v; break; }
        case EINC_F64: { double v; memcpy(&v, p, 8); out[i] = v; break; }
        case EINC_I32: { int32_t v; memcpy(&v, p, 4); out[i] = v; break; }
        default: { int64_t v; memcpy(&v, p, 8); out[i] = (double)v; break; }
        }
    }
    einc_kernel_free(k);
    return true;
}

/*
 * src on x ([2, 3]) must give want[6] of dtype dt on every target: a float32 within a few
 * ulps of want rounded to float32, an integer exactly.
 */
static void check_on(const char *src, const einc_tensor *x, einc_dtype want_dt, const double *want)
{
    for (size_t t = 0; t < sizeof targets / sizeof *targets; t++) {
        einc_dtype dt;
        int nd;
        int64_t sh[EINC_MAX_RANK];
        double got[64];
        if (!run(targets[t], src, 1, x, &dt, &nd, sh, got, 64))
            continue;
        assert_int_equal(dt, want_dt);
        assert_int_equal(nd, 2);
        assert_int_equal(sh[0], 2);
        assert_int_equal(sh[1], 3);
        for (int i = 0; i < 6; i++) {
            double e = dt == EINC_F32 ? (float)want[i] : want[i];
            double tol = dt == EINC_F32 ? 4 * FLT_EPSILON * fmax(1, fabs(e)) : 0;
            if (!(fabs(got[i] - e) <= tol) && !(isinf(e) && got[i] == e))
                fail_msg("target %d, element %d: %.9g, expected %.9g\n%s", (int)t, i, got[i], e, src);
        }
    }
}

/* src on x (float32 [2, 3], values 0..5) must give want[6] (float32, rounded from double). */
static void check_x(const char *src, const double *want)
{
    float xv[6] = { 0, 1, 2, 3, 4, 5 };
    int64_t xs[2] = { 2, 3 };
    einc_tensor x = { .dtype = EINC_F32, .ndim = 2, .shape = xs, .data = xv };
    check_on(src, &x, EINC_F32, want);
}

/* src on x as check_x must fail with exactly this status, message and span. */
static void check_err(const char *src, einc_status st, const char *message, const char *culprit, int nth)
{
    float xv[6] = { 0 };
    int64_t xs[2] = { 2, 3 };
    einc_tensor x = { .dtype = EINC_F32, .ndim = 2, .shape = xs, .data = xv };
    einc_options opt = { .target = EINC_TARGET_INTERP };
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    einc_status got = einc_compile_model(ctx, src, &opt, &k, &err);
    if (got == EINC_OK) {
        einc_dtype dt;
        int nd;
        int64_t sh[EINC_MAX_RANK];
        got = einc_kernel_output(k, 1, &x, &dt, &nd, sh, &err);
        einc_kernel_free(k);
    }
    if (got == EINC_OK)
        fail_msg("no error, expected '%s'\n%s", message, src);
    assert_string_equal(err.message, message);
    assert_int_equal(got, st);
    const char *p = src;
    for (;; p++) {
        p = strstr(p, culprit);
        assert_non_null(p);
        if (nth-- == 0)
            break;
    }
    int begin = (int)(p - src), end = begin + (int)strlen(culprit);
    if (err.begin != begin || err.end != end)
        fail_msg("'%s': span [%d, %d), expected [%d, %d)\n%s", message, err.begin, err.end, begin, end, src);
}

/* ---- size names are integer values ------------------------------------------------------- */

static void test_size_values(void **state)
{
    (void)state;
    double want[6];
    for (int i = 0; i < 6; i++)         /* B = 2, K = 3 */
        want[i] = i / 3.0 + 3 * 2 - 2 + 1.0 / 3;
    check_x("input x: f32[B, K]\nreturn x / K + K * 2 - B + 1 / K\n", want);
    /* a block sees the size names too */
    for (int i = 0; i < 6; i++)
        want[i] = i * 3.0 * 2;
    check_x("input x: f32[B, K]\ndef f(y) {\n  return y * K * B\n}\nreturn f(x)\n", want);
    /* an assignment shadows a size name, and so does a block's parameter */
    for (int i = 0; i < 6; i++)
        want[i] = i * 10.0 + 5;
    check_x("input x: f32[B, K]\nK = 10\nreturn x * K + 5\n", want);
    check_x("input x: f32[B, K]\ndef f(y, K) {\n  return y * K + 5\n}\nreturn f(x, 10)\n", want);
}

/* classes=K: the confusion matrix of labels in [0, K) */
static void test_size_as_argument(void **state)
{
    (void)state;
    int64_t p[5] = { 0, 2, 1, 2, 3 }, t[5] = { 0, 1, 1, 2, 3 }, ns[1] = { 5 }, ws[1] = { 4 };
    float w[4] = { 0 };
    einc_tensor in[3] = {
        { .dtype = EINC_I64, .ndim = 1, .shape = ns, .data = p },
        { .dtype = EINC_I64, .ndim = 1, .shape = ns, .data = t },
        { .dtype = EINC_F32, .ndim = 1, .shape = ws, .data = w },
    };
    const char *src = "input p: i64[N]\ninput t: i64[N]\ninput w: f32[K]\n"
                      "return confusion(p, t, classes=K)\n";
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
        einc_dtype dt;
        int nd;
        int64_t sh[EINC_MAX_RANK];
        double got[64];
        if (!run(targets[i], src, 3, in, &dt, &nd, sh, got, 64))
            continue;
        assert_int_equal(dt, EINC_I64);
        assert_int_equal(nd, 2);
        assert_int_equal(sh[0], 4);
        assert_int_equal(sh[1], 4);
        double want[16] = { 0 };
        for (int j = 0; j < 5; j++)
            want[t[j] * 4 + p[j]] += 1;     /* rows: the true class */
        for (int j = 0; j < 16; j++)
            if (got[j] != want[j])
                fail_msg("element %d is %g, expected %g", j, got[j], want[j]);
    }
    check_err("input x: f32[B, K]\nreturn confusion(x, x, classes=K / 2)\n", EINC_ERR_ARG,
              "confusion: classes must be an integer, not a fraction", "K / 2", 0);
}

/* ---- functions of numbers fold to constants ---------------------------------------------- */

static void test_fold(void **state)
{
    (void)state;
    double s1 = 1 / (1 + exp(-1.0));
    double c = sqrt(8) + exp(1) + log(2) + tanh(0.5) + s1 + 0 /* relu(-3) */ + 1 * s1 /* silu(1.0) */ +
               0.5 * (1 + erf(1 / sqrt(2))) /* gelu(1.0) */ + 3 /* relu(K) */;
    double want[6];
    for (int i = 0; i < 6; i++)
        want[i] = i / sqrt(8) + c;
    check_x("input x: f32[B, K]\nc = sqrt(8) + exp(1) + log(2) + tanh(0.5) + sigmoid(1) + relu(-3)"
            " + silu(1.0) + gelu(1.0) + relu(K)\nreturn x / sqrt(8) + c\n", want);
    /* relu of an integer is an integer: it can be a size */
    check_err("input x: f32[B, K]\nreturn confusion(x, x, classes=relu(K - 7))\n", EINC_ERR_SHAPE,
              "confusion: classes must be at least 1, not 0", "relu(K - 7)", 0);
    /* numpy's float64: log(0) is -inf, a fraction over zero is inf */
    for (int i = 0; i < 6; i++)
        want[i] = -INFINITY;
    check_x("input x: f32[B, K]\nreturn x + log(0)\n", want);
    for (int i = 0; i < 6; i++)
        want[i] = INFINITY;
    check_x("input x: f32[B, K]\nreturn x + 1.0 / 0\n", want);
    check_err("input x: f32[B, K]\nreturn x * (K / (B - 2))\n", EINC_ERR_ARG,
              "division by zero: the divisor is the integer 0", "(B - 2)", 0);
    check_err("input x: f32[B, K]\nreturn x / (1 / 0)\n", EINC_ERR_ARG,
              "division by zero: the divisor is the integer 0", "0", 0);
    /* integers are exact to 2^53 - 1; arithmetic beyond is refused, not rounded */
    check_err("input x: f32[B, K]\nreturn x * (3037000500 * 3037000500)\n", EINC_ERR_ARG,
              "integer overflow: the result, 9.2233720370002493e+18, is beyond 2^53 - 1, where a number "
              "(a double) stops being exact", "(3037000500 * 3037000500)", 0);
    check_err("input x: f32[B, K]\nreturn x + (4503599627370495 * 2 + 2)\n", EINC_ERR_ARG,
              "integer overflow: the result, 9007199254740992, is beyond 2^53 - 1, where a number "
              "(a double) stops being exact", "(4503599627370495 * 2 + 2)", 0);
}

/*
 * An integer tensor times a constant beyond its width wraps, as torch's: in int32,
 * 2^53 - 1 is -1, so x * (2^53 - 1) + (2^53 - 1) is -x - 1, on the interpreter and the JIT.
 */
static void test_int_wrap(void **state)
{
    (void)state;
    int32_t xv[6] = { 0, 1, 2, 3, 4, -5 };
    int64_t xs[2] = { 2, 3 };
    einc_tensor x = { .dtype = EINC_I32, .ndim = 2, .shape = xs, .data = xv };
    double want[6];
    for (int i = 0; i < 6; i++)
        want[i] = -(double)xv[i] - 1;
    check_on("input x: i32[B, K]\nreturn x * 9007199254740991 + (4503599627370495 * 2 + 1)\n", &x, EINC_I32,
             want);
}

/* ---- torch's spellings ------------------------------------------------------------------- */

static void test_dotted(void **state)
{
    (void)state;
    static const struct { const char *call, *message; } cases[] = {
        { "F.relu", "unknown function 'F.relu' (did you mean 'relu'?)" },
        { "torch.relu", "unknown function 'torch.relu' (did you mean 'relu'?)" },
        { "torch.nn.functional.relu", "unknown function 'torch.nn.functional.relu' (did you mean 'relu'?)" },
        { "nn.functional.relu", "unknown function 'nn.functional.relu' (did you mean 'relu'?)" },
        { "F.layer_norm", "unknown function 'F.layer_norm' (did you mean 'layernorm'?)" },
        { "F.sigmoud", "unknown function 'F.sigmoud' (did you mean 'sigmoid'?)" },
        { "F.frobnicate", "unknown function 'F.frobnicate'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char src[256];
        snprintf(src, sizeof src, "input x: f32[B, K]\ny = x + 1\nreturn %s(y)\n", cases[i].call);
        check_err(src, EINC_ERR_SYNTAX, cases[i].message, cases[i].call, 0);
    }
    check_err("input x: f32[B, K]\nreturn x.T\n", EINC_ERR_SYNTAX, "name 'x.T' is not defined", "x.T", 0);
}

/* ---- explain ----------------------------------------------------------------------------- */

/* explain's IR part (up to its schedule, which the scheduler owns) for src with these sizes */
static char *explain_ir(const char *src, int n, const einc_size *sizes)
{
    einc_options opt = { .target = EINC_TARGET_INTERP, .nsizes = n, .sizes = sizes };
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    if (einc_compile_model(ctx, src, &opt, &k, &err) != EINC_OK)
        fail_msg("compile failed: %s\n%s", err.message, src);
    char *text = einc_kernel_explain(k, 0, NULL, &err);
    einc_kernel_free(k);
    if (!text)
        fail_msg("explain failed: %s\n%s", err.message, src);
    char *cut = strstr(text, "schedule:\n");
    assert_non_null(cut);
    *cut = 0;
    return text;
}

/*
 * A model's axes are named after the declared sizes they index exactly (a second axis of
 * the same size gets "_1"), the rest keep aN; temporaries name the line they come from,
 * inside a block too; --dot names symbolic sizes.
 */
static void test_explain(void **state)
{
    (void)state;
    const char *src = "input q: f32[B, T, D]\ninput k: f32[B, T, D]\ndef att(a, b) {\n"
                      "  s = einsum('b i d, b j d -> b i j', a, b)\n  return s / sqrt(D)\n}\n"
                      "y = att(q, k)\nreturn reduce(y, 'b i j -> b i', 'max')\n";
    char *got = explain_ir(src, 3, (einc_size[]){ { "B", 2 }, { "T", 3 }, { "D", 4 } });
    const char *want =
        "dialect: layer language (.einl)\n"
        "kind: model\n"
        "axes: B=2 T=3 D=4 T_1=3 a4=2 a5=3 a6=3\n"
        "tensors:\n"
        "  q    input  float32[2, 3, 4]\n"
        "  k    input  float32[2, 3, 4]\n"
        "  t0   temp   float32[2, 3, 3]    (line 4: s = einsum('b i d, b j d -> b i j', a, b))\n"
        "  t1   temp   float32[2, 3, 3]    (line 8: return reduce(y, 'b i j -> b i', 'max'))\n"
        "  out  output float32[2, 3]    (line 8: return reduce(y, 'b i j -> b i', 'max'))\n"
        "statements:\n"
        "  t0[B, T, T_1] += q[B, T, D] * k[B, T_1, D]    (reduce D)\n"
        "  t1[B, T, T_1] = t0[B, T, T_1] / 2\n"
        "  out[a4, a5] max= t1[a4, a5, a6]    (reduce a6)\n"
        "flops: 198\n";
    assert_non_null(strstr(got, "dialect:"));
    assert_string_equal(strstr(got, "dialect:"), want);
    free(got);

    /* a size name that looks like an axis's name stays unique; a long statement is cut */
    src = "input x: f32[B, a1]\nparam w: f32[a3, a1]\n"
          "h = relu(linear(x, w)) * 1000000 + 1000000 * relu(linear(x, w)) - 1\nreturn h * h\n";
    got = explain_ir(src, 3, (einc_size[]){ { "B", 2 }, { "a1", 3 }, { "a3", 4 } });
    assert_non_null(strstr(got, "axes: B=2 a3=4 a1=3 B_1=2 a3_1=4 a1_1=3\n"));
    assert_non_null(strstr(got, "  t1   temp   float32[2, 4]    (line 3: h = relu(linear(x, w)) * 1000000 + 1000000 * rel...)\n"));
    free(got);

    /* --dot: a symbolic size by name, a given one by its value */
    einc_options opt = { .target = EINC_TARGET_INTERP, .nsizes = 1, .sizes = (einc_size[]){ { "h", 4 } } };
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    assert_int_equal(einc_compile(ctx, "b c (h w) -> b h w c", &opt, &k, &err), EINC_OK);
    char *dot = einc_kernel_explain_dot(k, 0, NULL, &err);
    assert_non_null(dot);
    assert_non_null(strstr(dot, "t0 [label=\"in0\\nfloat32[b, c, h*w]\", shape=ellipse];\n"));
    assert_non_null(strstr(dot, "t1 [label=\"out\\nfloat32[b, 4, w, c]\", shape=doubleoctagon];\n"));
    free(dot);
    einc_kernel_free(k);
}

int main(void)
{
    ctx = einc_ctx_new();
    assert_non_null(ctx);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_values),
        cmocka_unit_test(test_size_as_argument),
        cmocka_unit_test(test_fold),
        cmocka_unit_test(test_int_wrap),
        cmocka_unit_test(test_dotted),
        cmocka_unit_test(test_explain),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    einc_ctx_free(ctx);
    return r;
}
