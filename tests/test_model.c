/*
 * test_model.c — the layer language (.einl; README.md, "The layer language") end to end: every built-in, the
 * arithmetic, pattern calls, def blocks, the metrics and the four example models in
 * examples/, each against a reference written here with direct loops in double precision (never the
 * interpreter), on random data with odd sizes, on the interpreter and on the CPU JIT
 * (skipped where this build has no JIT), and confusion() of computed labels.  The model
 * errors, long and deep models, fusion and determinism are test_model_text.c's; the
 * helpers both use are model_common.h's.  test_emu.c includes this file whole.
 *
 * Output buffers are poisoned (NaN, or a sentinel for integers) before every run, so a
 * value the kernel never wrote cannot pass for a right one.  The tolerance is float32's,
 * scaled by the length of the longest reduction behind an element.
 *
 *   test_model EXAMPLES_DIR
 */
#include "einc.h"
#include "model_common.h"

static const char *examples_dir = "examples";

/* ---- linear ---------------------------------------------------------------------------------- */

static void test_linear(void **state)
{
    (void)state;
    int64_t B = 3, T = 5, D = 7, O = 6;
    arr in[3] = { rnd(3, (int64_t[]){ B, T, D }, -1, 1), rnd(2, (int64_t[]){ O, D }, -1, 1),
                  rnd(1, (int64_t[]){ O }, -1, 1) };
    ref with = ref_linear(&in[0], &in[1], &in[2]), without = ref_linear(&in[0], &in[1], NULL);
    check("input x: f32[B, T, D]\nparam w: f32[O, D]\nparam b: f32[O]\nreturn linear(x, w, b)\n", 3, in, &with);
    check("input x: f32[B, T, D]\nparam w: f32[O, D]\nparam b: f32[O]\n"
          "return linear(x=x, weight=w, bias=b)\n", 3, in, &with);
    check("input x: f32[B, T, D]\nparam w: f32[O, D]\nparam b: f32[O]\nreturn linear(x, w, bias=none)\n",
          3, in, &without);
    check("input x: f32[B, T, D]\nparam w: f32[O, D]\nreturn linear(x, w)\n", 2, in, &without);
    /* 2-d input, and an output of one feature */
    arr in2[3] = { rnd(2, (int64_t[]){ 5, 7 }, -1, 1), rnd(2, (int64_t[]){ 1, 7 }, -1, 1),
                   rnd(1, (int64_t[]){ 1 }, -1, 1) };
    ref one = ref_linear(&in2[0], &in2[1], &in2[2]);
    check("input x: f32[M, 7]\nparam w: f32[1, 7]\nparam b: f32[1]\nreturn linear(x, w, b)\n", 3, in2, &one);
    free(with.v);
    free(without.v);
    free(one.v);
    free_arrs(3, in);
    free_arrs(3, in2);
}

/* ---- conv2d ------------------------------------------------------------------------------------ */

typedef struct conv_case {
    const char *call;       /* the return expression */
    int64_t C, O, Cg, KH, KW;
    bool bias;
    convp p;
} conv_case;

static void test_conv2d(void **state)
{
    (void)state;
    const int64_t N = 3, H = 7, W = 6;
    static const conv_case cases[] = {
        { "conv2d(x, w, b)", 5, 4, 5, 3, 3, true, { { 1, 1 }, { 0, 0 }, { 0, 0 }, { 1, 1 }, 1 } },
        { "conv2d(x, w, b, stride=(2, 1), padding=(1, 2))", 5, 4, 5, 3, 3, true,
          { { 2, 1 }, { 1, 2 }, { 1, 2 }, { 1, 1 }, 1 } },
        { "conv2d(x, w, stride=2, padding=1)", 5, 4, 5, 3, 2, false, { { 2, 2 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, 1 } },
        { "conv2d(x, w, b, stride=(1, 3))", 5, 4, 5, 2, 3, true, { { 1, 3 }, { 0, 0 }, { 0, 0 }, { 1, 1 }, 1 } },
        /* 'same' with an odd and an even kernel side: torch puts the extra pad after */
        { "conv2d(x, w, b, padding='same')", 5, 4, 5, 3, 4, true, { { 1, 1 }, { 1, 1 }, { 1, 2 }, { 1, 1 }, 1 } },
        { "conv2d(x, w, padding='same', dilation=2)", 5, 4, 5, 3, 2, false,
          { { 1, 1 }, { 2, 1 }, { 2, 1 }, { 2, 2 }, 1 } },
        { "conv2d(x, w, b, padding='valid')", 5, 4, 5, 3, 3, true, { { 1, 1 }, { 0, 0 }, { 0, 0 }, { 1, 1 }, 1 } },
        { "conv2d(x, w, b, padding=1, dilation=(2, 1))", 5, 4, 5, 3, 3, true,
          { { 1, 1 }, { 1, 1 }, { 1, 1 }, { 2, 1 }, 1 } },
        { "conv2d(x, w, b, groups=2)", 6, 4, 3, 3, 3, true, { { 1, 1 }, { 0, 0 }, { 0, 0 }, { 1, 1 }, 2 } },
        { "conv2d(x, w, b, padding=1, groups=2, stride=2)", 6, 6, 3, 3, 3, true,
          { { 2, 2 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, 2 } },
        /* depthwise: groups = C, and a channel multiplier of 2 */
        { "conv2d(x, w, b, padding=1, groups=5)", 5, 5, 1, 3, 3, true, { { 1, 1 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, 5 } },
        { "conv2d(x, w, groups=5, padding=(0, 1))", 5, 10, 1, 3, 3, false,
          { { 1, 1 }, { 0, 1 }, { 0, 1 }, { 1, 1 }, 5 } },
        { "conv2d(x=x, weight=w, bias=b, stride=1, padding=0, dilation=1, groups=1)", 5, 4, 5, 1, 1, true,
          { { 1, 1 }, { 0, 0 }, { 0, 0 }, { 1, 1 }, 1 } },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const conv_case *c = &cases[i];
        arr in[3] = { rnd(4, (int64_t[]){ N, c->C, H, W }, -1, 1), rnd(4, (int64_t[]){ c->O, c->Cg, c->KH, c->KW }, -1, 1),
                      rnd(1, (int64_t[]){ c->O }, -1, 1) };
        ref r = ref_conv(&in[0], &in[1], c->bias ? &in[2] : NULL, c->p);
        char src[512];
        snprintf(src, sizeof src, "input x: f32[N, C, H, W]\nparam w: f32[O, G, KH, KW]\n%sreturn %s\n",
                 c->bias ? "param b: f32[O]\n" : "", c->call);
        check(src, c->bias ? 3 : 2, in, &r);
        free(r.v);
        free_arrs(3, in);
    }
}

/*
 * Convolutions wide enough for the JIT's direct convolution (codegen/llvm.c, conv_emit):
 * tiles of 14 columns by 32 channels, whole and partial (W = 28, 31; O = 40, and 20 per
 * group), taps that pad one column at a tile's end (padding 1) or more (padding 2, 'same'
 * with an even kernel), dilation.  Against the same direct-loop reference.
 */
static void test_conv2d_tiles(void **state)
{
    (void)state;
    static const struct {
        const char *call;
        int64_t W, O, C, Cg, KH, KW;
        convp p;
    } cases[] = {
        { "conv2d(x, w, b, padding=1)", 28, 40, 5, 5, 3, 3, { { 1, 1 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, 1 } },
        { "conv2d(x, w, b, padding=1)", 31, 40, 5, 5, 3, 3, { { 1, 1 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, 1 } },
        { "conv2d(x, w, b, padding=2, dilation=(1, 2))", 30, 33, 3, 3, 3, 3,
          { { 1, 1 }, { 2, 2 }, { 2, 2 }, { 1, 2 }, 1 } },
        { "conv2d(x, w, b, padding='same')", 29, 16, 4, 4, 3, 4, { { 1, 1 }, { 1, 1 }, { 1, 2 }, { 1, 1 }, 1 } },
        { "conv2d(x, w, b, padding=1, groups=2)", 28, 40, 6, 3, 3, 3, { { 1, 1 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, 2 } },
        { "conv2d(x, w, b)", 16, 64, 7, 7, 1, 3, { { 1, 1 }, { 0, 0 }, { 0, 0 }, { 1, 1 }, 1 } },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        arr in[3] = { rnd(4, (int64_t[]){ 2, cases[i].C, 4, cases[i].W }, -1, 1),
                      rnd(4, (int64_t[]){ cases[i].O, cases[i].Cg, cases[i].KH, cases[i].KW }, -1, 1),
                      rnd(1, (int64_t[]){ cases[i].O }, -1, 1) };
        ref r = ref_conv(&in[0], &in[1], &in[2], cases[i].p);
        char src[512];
        snprintf(src, sizeof src, "input x: f32[N, C, H, W]\nparam w: f32[O, G, KH, KW]\nparam b: f32[O]\nreturn %s\n",
                 cases[i].call);
        check(src, 3, in, &r);
        free(r.v);
        free_arrs(3, in);
    }
    /*
     * 1 x 1 without a bias: a GEMM that stores its first k block, run as a direct convolution
     * on short rows, its 1,100 k channels in two blocks of 550; into NaN-poisoned outputs.
     */
    for (int64_t s = 1; s <= 2; s++) {
        arr in[2] = { rnd(4, (int64_t[]){ 2, 1100, 4, 7 * s }, -1, 1), rnd(4, (int64_t[]){ 64, 1100, 1, 1 }, -1, 1) };
        ref r = ref_conv(&in[0], &in[1], NULL, (convp){ { s, s }, { 0, 0 }, { 0, 0 }, { 1, 1 }, 1 });
        char src[160];
        snprintf(src, sizeof src, "input x: f32[N, C, H, W]\nparam w: f32[O, C, 1, 1]\nreturn conv2d(x, w, stride=%d)\n",
                 (int)s);
        check(src, 2, in, &r);
        free(r.v);
        free_arrs(2, in);
    }
}

/* ---- batchnorm2d, layernorm ---------------------------------------------------------------------- */

static void test_batchnorm2d(void **state)
{
    (void)state;
    int64_t N = 3, C = 5, H = 7, W = 6;
    arr in[5] = { rnd(4, (int64_t[]){ N, C, H, W }, -2, 3), rnd(1, (int64_t[]){ C }, -1, 1),
                  rnd(1, (int64_t[]){ C }, 0.25, 2), rnd(1, (int64_t[]){ C }, -2, 2), rnd(1, (int64_t[]){ C }, -1, 1) };
    const char *decl = "input x: f32[N, C, H, W]\nparam mean: f32[C]\nparam var: f32[C]\n"
                       "param gamma: f32[C]\nparam beta: f32[C]\n";
    char src[512];
    struct {
        const char *call;
        bool training, w, b;
        double eps;
    } cases[] = {
        { "batchnorm2d(x, mean, var, gamma, beta)", false, true, true, 1e-5 },
        { "batchnorm2d(x, mean, var, gamma, beta, eps=0.1)", false, true, true, 0.1 },
        { "batchnorm2d(x, mean, var)", false, false, false, 1e-5 },
        { "batchnorm2d(x, mean, var, bias=beta)", false, false, true, 1e-5 },
        { "batchnorm2d(x, running_mean=mean, running_var=var, weight=gamma, training=0)", false, true, false, 1e-5 },
        { "batchnorm2d(x, none, none, gamma, beta, training=1)", true, true, true, 1e-5 },
        { "batchnorm2d(x, none, none, training=1, eps=0.01)", true, false, false, 0.01 },
        /* training=1 ignores the running statistics */
        { "batchnorm2d(x, mean, var, gamma, beta, training=1)", true, true, true, 1e-5 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(src, sizeof src, "%sreturn %s\n", decl, cases[i].call);
        ref r = ref_bn(&in[0], &in[1], &in[2], cases[i].w ? &in[3] : NULL, cases[i].b ? &in[4] : NULL,
                       cases[i].training, cases[i].eps);
        check(src, 5, in, &r);
        free(r.v);
    }
    free_arrs(5, in);
}

static void test_layernorm(void **state)
{
    (void)state;
    int64_t B = 3, T = 5, D = 7;
    arr in1[3] = { rnd(3, (int64_t[]){ B, T, D }, -2, 3), rnd(1, (int64_t[]){ D }, -2, 2), rnd(1, (int64_t[]){ D }, -1, 1) };
    arr in2[3] = { rnd(3, (int64_t[]){ B, T, D }, -2, 3), rnd(2, (int64_t[]){ T, D }, -2, 2),
                   rnd(2, (int64_t[]){ T, D }, -1, 1) };
    char src[512];
    struct {
        const char *call;
        int dims;
        bool w, b;
        double eps;
    } cases[] = {
        { "layernorm(x)", 1, false, false, 1e-5 },
        { "layernorm(x, w, b)", 1, true, true, 1e-5 },
        { "layernorm(x, w, b, dims=1, eps=0.5)", 1, true, true, 0.5 },
        { "layernorm(x, w)", 1, true, false, 1e-5 },
        { "layernorm(x, bias=b)", 1, false, true, 1e-5 },
        { "layernorm(x, none, b, eps=1e-3)", 1, false, true, 1e-3 },
        { "layernorm(x, dims=2)", 2, false, false, 1e-5 },
        { "layernorm(x, w, b, dims=2)", 2, true, true, 1e-5 },
        { "layernorm(x, weight=w, dims=2, eps=0.25)", 2, true, false, 0.25 },
        { "layernorm(x, dims=3)", 3, false, false, 1e-5 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        arr *in = cases[i].dims == 2 ? in2 : in1;
        if (cases[i].dims != 2)
            snprintf(src, sizeof src, "input x: f32[B, T, D]\nparam w: f32[D]\nparam b: f32[D]\nreturn %s\n",
                     cases[i].call);
        else
            snprintf(src, sizeof src, "input x: f32[B, T, D]\nparam w: f32[T, D]\nparam b: f32[T, D]\nreturn %s\n",
                     cases[i].call);
        ref r = ref_ln(&in[0], cases[i].dims, cases[i].w ? &in[1] : NULL, cases[i].b ? &in[2] : NULL, cases[i].eps);
        check(src, 3, in, &r);
        free(r.v);
    }
    free_arrs(3, in1);
    free_arrs(3, in2);
}

/* ---- elementwise functions ---------------------------------------------------------------------- */

static double f_sigmoid(double x) { return 1 / (1 + exp(-x)); }

static void test_elementwise(void **state)
{
    (void)state;
    int64_t sh[3] = { 3, 5, 7 };
    arr x = rnd(3, sh, -4, 4), pos = rnd(3, sh, 0.05, 9);
    struct {
        const char *src;
        double (*f)(double);
        bool positive;
    } cases[] = {
        { "input x: f32[N, C, H]\nreturn relu(x)\n", f_relu, false },
        { "input x: f32[N, C, H]\nreturn relu(x=x)\n", f_relu, false },
        { "input x: f32[N, C, H]\nreturn gelu(x)\n", f_gelu, false },
        { "input x: f32[N, C, H]\nreturn sigmoid(x)\n", f_sigmoid, false },
        { "input x: f32[N, C, H]\nreturn tanh(x)\n", tanh, false },
        { "input x: f32[N, C, H]\nreturn exp(x)\n", exp, false },
        { "input x: f32[N, C, H]\nreturn log(x)\n", log, true },
        { "input x: f32[N, C, H]\nreturn sqrt(x)\n", sqrt, true },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        arr *in = cases[i].positive ? &pos : &x;
        ref r = mkref(EINC_F32, 3, sh, 1);
        for (int64_t e = 0; e < count(in); e++)
            r.v[e] = cases[i].f(get(in, e));
        check(cases[i].src, 1, in, &r);
        free(r.v);
    }
    /* gelu is the erf form, not the tanh approximation: they differ by ~1e-3 near |x| = 2 */
    arr g = mk(EINC_F32, 1, (int64_t[]){ 4 });
    set(&g, 0, 2.0);
    set(&g, 1, -2.0);
    set(&g, 2, 1.5);
    set(&g, 3, -0.75);
    ref rg = mkref(EINC_F32, 1, (int64_t[]){ 4 }, 1);
    for (int e = 0; e < 4; e++)
        rg.v[e] = f_gelu(get(&g, e));
    check("input x: f32[4]\nreturn gelu(x)\n", 1, &g, &rg);
    free(rg.v);
    free(g.data);
    free_arrs(1, &x);
    free_arrs(1, &pos);
}

/* ---- activations and flatten (compiler/front/model_nn.c) --------------------------------------------------- */

static double f_silu(double x) { return x / (1 + exp(-x)); }
static double f_leaky(double x) { return x >= 0 ? x : 0.01 * x; }
static double f_leaky2(double x) { return x >= 0 ? x : 0.2 * x; }
static double f_elu(double x) { return x > 0 ? x : expm1(x); }
static double f_elu_half(double x) { return x > 0 ? x : 0.5 * expm1(x); }
static double softplus_ref(double x, double beta, double thr) { return beta * x > thr ? x : log1p(exp(beta * x)) / beta; }
static double f_softplus(double x) { return softplus_ref(x, 1, 20); }
static double f_softplus2(double x) { return softplus_ref(x, 2, 5); }
static double f_hardswish(double x) { return x * fmin(fmax(x + 3, 0), 6) / 6; }
static double f_gelu_tanh(double x)
{
    return 0.5 * x * (1 + tanh(sqrt(2 / acos(-1.0)) * (x + 0.044715 * x * x * x)));
}

static void test_activations(void **state)
{
    (void)state;
    int64_t sh[2] = { 6, 11 };
    arr x = rnd(2, sh, -30, 30), s = rnd(2, sh, -4, 4);
    /* both sides of softplus's threshold (βx = 5 at x = 2.5) and of every kink */
    const double edge[] = { -30, -20, -3, -2.5, -1e-4, 0, 1e-4, 2.49, 2.51, 3, 19.9, 20.1 };
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++)
        set(&x, (int64_t)i, edge[i]);
    struct {
        const char *call;
        double (*f)(double);
        const arr *in;
    } cases[] = {
        { "silu(x)", f_silu, &x },
        { "leaky_relu(x)", f_leaky, &x },
        { "leaky_relu(x, negative_slope=0.2)", f_leaky2, &x },
        { "elu(x)", f_elu, &s },
        { "elu(x, alpha=0.5)", f_elu_half, &s },
        { "softplus(x)", f_softplus, &x },
        { "softplus(x, beta=2, threshold=5)", f_softplus2, &x },
        { "hardswish(x)", f_hardswish, &s },
        { "gelu(x, approximate='tanh')", f_gelu_tanh, &s },
        { "gelu(x, approximate='none')", f_gelu, &s },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char src[160];
        snprintf(src, sizeof src, "input x: f32[N, C]\nreturn %s\n", cases[i].call);
        ref r = mkref(EINC_F32, 2, sh, 1);
        for (int64_t e = 0; e < count(cases[i].in); e++)
            r.v[e] = cases[i].f(get(cases[i].in, e));
        check(src, 1, cases[i].in, &r);
        free(r.v);
    }
    /* softplus far below 0 keeps its relative precision (log1p, not log(1 + u)) */
    ref r = mkref(EINC_F32, 2, sh, 1);
    arr neg = rnd(2, sh, -60, -18);
    for (int64_t e = 0; e < count(&neg); e++)
        r.v[e] = f_softplus(get(&neg, e)) * 1e6;
    check("input x: f32[N, C]\nreturn softplus(x) * 1000000\n", 1, &neg, &r);
    free(r.v);
    free_arrs(1, &neg);
    free_arrs(1, &x);
    free_arrs(1, &s);
}

static void test_flatten(void **state)
{
    (void)state;
    int64_t sh[4] = { 2, 3, 4, 5 };
    arr x = rnd(4, sh, -1, 1);
    struct {
        const char *call;
        int ndim;
        int64_t shape[4];
    } cases[] = {
        { "flatten(x)", 2, { 2, 60 } },
        { "flatten(x, 0)", 1, { 120 } },
        { "flatten(x, start_dim=1, end_dim=2)", 3, { 2, 12, 5 } },
        { "flatten(x, -2)", 3, { 2, 3, 20 } },
        { "flatten(x, 2, 2)", 4, { 2, 3, 4, 5 } },
        { "flatten(relu(x) * 2, 1)", 2, { 2, 60 } },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char src[160];
        snprintf(src, sizeof src, "input x: f32[N, C, H, W]\nreturn %s\n", cases[i].call);
        ref r = mkref(EINC_F32, cases[i].ndim, cases[i].shape, 1);
        bool twice = strstr(cases[i].call, "relu") != NULL;
        for (int64_t e = 0; e < count(&x); e++)     /* row-major order is unchanged */
            r.v[e] = twice ? 2 * f_relu(get(&x, e)) : get(&x, e);
        check(src, 1, &x, &r);
        free(r.v);
    }
    /* a 0-d tensor becomes 1-d of size 1, as torch.flatten (whose dims there are -1 and 0) */
    arr z = mk(EINC_F32, 0, NULL);
    set(&z, 0, 1.5);
    ref rz = mkref(EINC_F32, 1, (int64_t[]){ 1 }, 1);
    rz.v[0] = 1.5;
    check("input x: f32[]\nreturn flatten(x, 0)\n", 1, &z, &rz);
    free(rz.v);
    free(z.data);
    free_arrs(1, &x);
}

/* The first index of x's max (min) along dim of a [R, C] array, NaN counting as the extreme, as torch. */
static int64_t ref_argext(const arr *x, int dim, int64_t at, bool isMax)
{
    int64_t R = x->shape[0], C = x->shape[1], n = dim == 1 ? C : R;
    int64_t best = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = get(x, dim == 1 ? at * C + i : i * C + at);
        double b = get(x, dim == 1 ? at * C + best : best * C + at);
        if (isnan(b))
            break;
        if (isnan(v) || (isMax ? v > b : v < b))
            best = i;
    }
    return best;
}

static void test_argmax(void **state)
{
    (void)state;
    int64_t sh[2] = { 5, 9 };
    arr x = mk(EINC_F32, 2, sh);
    for (int64_t e = 0; e < count(&x); e++)     /* few values: many ties */
        set(&x, e, floor(uniform(-3, 3)));
    set(&x, 2 * 9 + 4, NAN);                     /* row 2 and column 4 hold a NaN, */
    set(&x, 3 * 9 + 1, NAN);                     /* row 3 two, column 1 one */
    set(&x, 3 * 9 + 7, NAN);
    for (int mx = 0; mx < 2; mx++)
        for (int dim = 0; dim < 2; dim++)
            for (int keep = 0; keep < 2; keep++) {
                char src[160];
                snprintf(src, sizeof src, "input x: f32[R, C]\nreturn %s(x, %d%s)\n", mx ? "argmax" : "argmin",
                         dim - 2 * (dim == 1 && keep), keep ? ", keepdim=1" : "");
                int64_t n = sh[1 - dim];
                int64_t osh[2] = { dim == 0 ? 1 : n, dim == 0 ? n : 1 };
                ref r = keep ? mkref(EINC_I64, 2, osh, 1) : mkref(EINC_I64, 1, &n, 1);
                for (int64_t i = 0; i < n; i++)
                    r.v[i] = (double)ref_argext(&x, dim, i, mx);
                check(src, 1, &x, &r);
                free(r.v);
            }
    /* dim=None: the index into the flattened array */
    arr flat = mk(EINC_F32, 2, (int64_t[]){ 1, 45 });
    memcpy(flat.data, x.data, sizeof(float) * 45);
    ref r0 = mkref(EINC_I64, 0, NULL, 1);
    r0.v[0] = (double)ref_argext(&flat, 1, 0, true);
    check("input x: f32[R, C]\nreturn argmax(x)\n", 1, &x, &r0);
    ref r1 = mkref(EINC_I64, 2, (int64_t[]){ 1, 1 }, 1);
    for (int64_t e = 0; e < 45; e++)            /* without NaN, argmin finds the first -3 */
        if (isnan(get(&flat, e)))
            set(&flat, e, 0), set(&x, e, 0);
    r1.v[0] = (double)ref_argext(&flat, 1, 0, false);
    check("input x: f32[R, C]\nreturn argmin(x, keepdim=1)\n", 1, &x, &r1);
    /* integer input, and a lazy operand */
    arr xi = labels(EINC_I64, 2, sh, -4, 4);
    ref ri = mkref(EINC_I64, 1, (int64_t[]){ 5 }, 1);
    for (int64_t i = 0; i < 5; i++)
        ri.v[i] = (double)ref_argext(&xi, 1, i, true);
    check("input x: i64[R, C]\nreturn argmax(x, 1)\n", 1, &xi, &ri);
    check("input x: i64[R, C]\nreturn argmax(-(0 - x) * 2, dim=-1)\n", 1, &xi, &ri);
    free(ri.v);
    free(r1.v);
    free(r0.v);
    free_arrs(1, &xi);
    free_arrs(1, &flat);
    free_arrs(1, &x);
}

/* ---- pooling -------------------------------------------------------------------------------------- */

typedef struct poolp {
    const char *args;
    bool max;
    int k[2], s[2], p[2], d[2];
    bool ceil, incl;
} poolp;

static int64_t pool_out(int64_t in, int k, int s, int p, int d, bool ceil)
{
    int64_t num = in + 2 * p - (int64_t)d * (k - 1) - 1 + (ceil ? s - 1 : 0);
    int64_t o = num / s + 1;
    if (ceil && (o - 1) * s >= in + p)
        o--;
    return o;
}

/* torch's max_pool2d / avg_pool2d over a [N, C, H, W] array, plain loops in double */
static ref ref_pool(const arr *x, const poolp *q)
{
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t OH = pool_out(H, q->k[0], q->s[0], q->p[0], q->d[0], q->ceil);
    int64_t OW = pool_out(W, q->k[1], q->s[1], q->p[1], q->d[1], q->ceil);
    ref r = mkref(x->dtype, 4, (int64_t[]){ N, C, OH, OW }, (double)(q->k[0] * q->k[1]));
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    double acc = q->max ? -INFINITY : 0;
                    int64_t h0 = oh * q->s[0] - q->p[0], w0 = ow * q->s[1] - q->p[1];
                    for (int kh = 0; kh < q->k[0]; kh++)
                        for (int kw = 0; kw < q->k[1]; kw++) {
                            int64_t h = h0 + kh * q->d[0], w = w0 + kw * q->d[1];
                            if (h < 0 || h >= H || w < 0 || w >= W)
                                continue;
                            double v = get(x, ((n * C + c) * H + h) * W + w);
                            acc = q->max ? (v > acc ? v : acc) : acc + v;
                        }
                    if (!q->max) {
                        int64_t h1 = h0 + q->k[0] < H + q->p[0] ? h0 + q->k[0] : H + q->p[0];
                        int64_t w1 = w0 + q->k[1] < W + q->p[1] ? w0 + q->k[1] : W + q->p[1];
                        int64_t pool = (h1 - h0) * (w1 - w0);
                        int64_t hc = (h1 < H ? h1 : H) - (h0 > 0 ? h0 : 0), wc = (w1 < W ? w1 : W) - (w0 > 0 ? w0 : 0);
                        acc /= (double)(q->incl ? pool : hc * wc);
                    }
                    r.v[((n * C + c) * OH + oh) * OW + ow] = acc;
                }
    return r;
}

static void test_pool(void **state)
{
    (void)state;
    int64_t sh[4] = { 2, 3, 7, 8 };
    /* all negative: a padding read as 0 would win every border window */
    arr neg = rnd(4, sh, -9, -1), x = rnd(4, sh, -2, 2);
    const poolp cases[] = {
        { "max_pool2d(x, 2)", true, { 2, 2 }, { 2, 2 }, { 0, 0 }, { 1, 1 }, false, true },
        { "max_pool2d(x, 3, stride=1, padding=1)", true, { 3, 3 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, false, true },
        { "max_pool2d(x, (3, 2), stride=(2, 1), padding=(1, 1))", true, { 3, 2 }, { 2, 1 }, { 1, 1 }, { 1, 1 }, false, true },
        { "max_pool2d(x, 2, padding=1, dilation=2)", true, { 2, 2 }, { 2, 2 }, { 1, 1 }, { 2, 2 }, false, true },
        { "max_pool2d(x, 3, 2, ceil_mode=1)", true, { 3, 3 }, { 2, 2 }, { 0, 0 }, { 1, 1 }, true, true },
        { "max_pool2d(x, 2, 2, 1, ceil_mode=1)", true, { 2, 2 }, { 2, 2 }, { 1, 1 }, { 1, 1 }, true, true },
        { "avg_pool2d(x, 2)", false, { 2, 2 }, { 2, 2 }, { 0, 0 }, { 1, 1 }, false, true },
        { "avg_pool2d(x, 3, stride=2, padding=1)", false, { 3, 3 }, { 2, 2 }, { 1, 1 }, { 1, 1 }, false, true },
        { "avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=0)", false, { 3, 3 }, { 2, 2 }, { 1, 1 }, { 1, 1 }, false, false },
        { "avg_pool2d(x, (3, 2), 2, (1, 0), ceil_mode=1)", false, { 3, 2 }, { 2, 2 }, { 1, 0 }, { 1, 1 }, true, true },
        { "avg_pool2d(x, 3, 2, 1, ceil_mode=1, count_include_pad=0)", false, { 3, 3 }, { 2, 2 }, { 1, 1 }, { 1, 1 }, true, false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (int sign = 0; sign < 2; sign++) {
            const arr *in = sign ? &neg : &x;
            char src[200];
            snprintf(src, sizeof src, "input x: f32[N, C, H, W]\nreturn %s\n", cases[i].args);
            ref r = ref_pool(in, &cases[i]);
            check(src, 1, in, &r);
            free(r.v);
        }
    /* adaptive: output o covers [floor(o I / O), ceil((o + 1) I / O)), windows of varying length */
    const int64_t outs[][2] = { { 3, 4 }, { 1, 1 }, { 7, 8 }, { 5, 3 }, { 4, 6 } };
    for (size_t i = 0; i < sizeof outs / sizeof *outs; i++)
        for (int mx = 0; mx < 2; mx++) {
            const arr *in = mx ? &neg : &x;
            int64_t OH = outs[i][0], OW = outs[i][1], H = sh[2], W = sh[3];
            ref r = mkref(EINC_F32, 4, (int64_t[]){ sh[0], sh[1], OH, OW }, (double)(H * W));
            for (int64_t nc = 0; nc < sh[0] * sh[1]; nc++)
                for (int64_t oh = 0; oh < OH; oh++)
                    for (int64_t ow = 0; ow < OW; ow++) {
                        int64_t h0 = oh * H / OH, h1 = ((oh + 1) * H + OH - 1) / OH;
                        int64_t w0 = ow * W / OW, w1 = ((ow + 1) * W + OW - 1) / OW;
                        double acc = mx ? -INFINITY : 0;
                        for (int64_t h = h0; h < h1; h++)
                            for (int64_t w = w0; w < w1; w++) {
                                double v = get(in, (nc * H + h) * W + w);
                                acc = mx ? fmax(acc, v) : acc + v;
                            }
                        r.v[(nc * OH + oh) * OW + ow] = mx ? acc : acc / (double)((h1 - h0) * (w1 - w0));
                    }
            char src[200];
            if (OH == OW)
                snprintf(src, sizeof src, "input x: f32[N, C, H, W]\nreturn adaptive_%s_pool2d(x, %lld)\n",
                         mx ? "max" : "avg", (long long)OH);
            else
                snprintf(src, sizeof src, "input x: f32[N, C, H, W]\nreturn adaptive_%s_pool2d(x, (%lld, %lld))\n",
                         mx ? "max" : "avg", (long long)OH, (long long)OW);
            check(src, 1, in, &r);
            free(r.v);
        }
    /* a 3-d (C, H, W) input pools as one image */
    arr x3 = rnd(3, sh + 1, -9, -1), x4 = x3;
    x4.ndim = 4;
    memcpy(x4.shape, (int64_t[]){ 1, 3, 7, 8 }, 4 * sizeof(int64_t));
    ref r3 = ref_pool(&x4, &cases[2]);
    r3.ndim = 3;
    memmove(r3.shape, r3.shape + 1, 3 * sizeof(int64_t));
    check("input x: f32[C, H, W]\nreturn max_pool2d(x, (3, 2), stride=(2, 1), padding=(1, 1))\n", 1, &x3, &r3);
    free(r3.v);
    free_arrs(1, &x3);
    /* fused with what follows: max_pool2d(relu(conv)) as a CNN writes it */
    ref r = ref_pool(&neg, &cases[1]);
    for (int64_t e = 0; e < elems(4, r.shape); e++)
        r.v[e] = r.v[e] * 2 + 1;
    check("input x: f32[N, C, H, W]\nreturn max_pool2d(x * 1, 3, stride=1, padding=1) * 2 + 1\n", 1, &neg, &r);
    free(r.v);
    free_arrs(1, &neg);
    free_arrs(1, &x);
}

/*
 * Max pooling's padding is max's identity in every dtype (the IR's guarded read, ir.h):
 * negative data in float64, int32 and int64, with padding and with ceil_mode windows that
 * end in the padding or past it; adaptive max windows see neither an inf nor a NaN outside
 * them, and a NaN inside wins, as in torch.
 */
static void test_pool_identity(void **state)
{
    (void)state;
    int64_t sh[4] = { 2, 3, 7, 8 };
    const poolp cases[] = {
        { "max_pool2d(x, 3, stride=2, padding=1)", true, { 3, 3 }, { 2, 2 }, { 1, 1 }, { 1, 1 }, false, true },
        { "max_pool2d(x, 2, 2, 1, ceil_mode=1)", true, { 2, 2 }, { 2, 2 }, { 1, 1 }, { 1, 1 }, true, true },
        { "max_pool2d(x, 3, 3, 1, ceil_mode=1)", true, { 3, 3 }, { 3, 3 }, { 1, 1 }, { 1, 1 }, true, true },
        { "max_pool2d(x, (2, 3), (3, 2), (1, 1), (2, 1), 1)", true, { 2, 3 }, { 3, 2 }, { 1, 1 }, { 2, 1 }, true, true },
    };
    const einc_dtype dts[] = { EINC_F64, EINC_I32, EINC_I64 };
    for (size_t t = 0; t < sizeof dts / sizeof *dts; t++) {
        arr x = dts[t] == EINC_F64 ? mk(EINC_F64, 4, sh) : labels(dts[t], 4, sh, -50, -1);
        for (int64_t e = 0; dts[t] == EINC_F64 && e < count(&x); e++)
            set(&x, e, uniform(-9, -1));
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
            char src[200];
            snprintf(src, sizeof src, "input x: %s[N, C, H, W]\nreturn %s\n",
                     dts[t] == EINC_F64 ? "f64" : dts[t] == EINC_I32 ? "i32" : "i64", cases[i].args);
            ref r = ref_pool(&x, &cases[i]);
            check(src, 1, &x, &r);
            free(r.v);
        }
        free_arrs(1, &x);
    }
    /* adaptive windows of 2 and 3 over 7 rows (4 outputs), 8 columns to 3 (of 3 and 4) */
    arr x = rnd(4, sh, -9, -1);
    set(&x, 3 * 8 + 7, INFINITY);           /* image 0: row 3, column 7 */
    set(&x, 56 + 6 * 8 + 0, NAN);           /* image 1: row 6, column 0 */
    ref r = mkref(EINC_F32, 4, (int64_t[]){ 2, 3, 4, 3 }, 1);
    for (int64_t nc = 0; nc < 6; nc++)
        for (int64_t oh = 0; oh < 4; oh++)
            for (int64_t ow = 0; ow < 3; ow++) {
                double acc = -INFINITY;
                for (int64_t h = oh * 7 / 4; h < ((oh + 1) * 7 + 3) / 4; h++)
                    for (int64_t w = ow * 8 / 3; w < ((ow + 1) * 8 + 2) / 3; w++) {
                        double v = get(&x, (nc * 7 + h) * 8 + w);
                        acc = isnan(v) || isnan(acc) ? NAN : fmax(acc, v);
                    }
                r.v[(nc * 4 + oh) * 3 + ow] = acc;
            }
    check("input x: f32[N, C, H, W]\nreturn adaptive_max_pool2d(x, (4, 3))\n", 1, &x, &r);
    free(r.v);
    free_arrs(1, &x);
    arr xi = labels(EINC_I32, 4, sh, -50, -1);
    r = mkref(EINC_I32, 4, (int64_t[]){ 2, 3, 4, 1 }, 1);
    for (int64_t nc = 0; nc < 6; nc++)
        for (int64_t oh = 0; oh < 4; oh++) {
            double acc = -INFINITY;
            for (int64_t h = oh * 7 / 4; h < ((oh + 1) * 7 + 3) / 4; h++)
                for (int64_t w = 0; w < 8; w++)
                    acc = fmax(acc, get(&xi, (nc * 7 + h) * 8 + w));
            r.v[nc * 4 + oh] = acc;
        }
    check("input x: i32[N, C, H, W]\nreturn adaptive_max_pool2d(x, (4, 1))\n", 1, &xi, &r);
    free(r.v);
    free_arrs(1, &xi);
}

/* ---- softmax, log_softmax -------------------------------------------------------------------------- */

static void test_softmax(void **state)
{
    (void)state;
    int64_t sh[3] = { 3, 5, 7 };
    /* values around 80 (exp(80) alone is near float32's limit, exp(100) past it): only a
       max-subtracted softmax survives them */
    arr big = rnd(3, sh, 60, 100), small = rnd(3, sh, -3, 3);
    set(&big, 0, 80);
    set(&big, 1, 80);
    struct {
        const char *call;
        int dim;
        bool logsm;
    } cases[] = {
        { "softmax(x)", 2, false },
        { "softmax(x, dim=-1)", 2, false },
        { "softmax(x, dim=0)", 0, false },
        { "softmax(x, dim=1)", 1, false },
        { "softmax(x, -2)", 1, false },
        { "softmax(x=x, dim=2)", 2, false },
        { "log_softmax(x)", 2, true },
        { "log_softmax(x, dim=-1)", 2, true },
        { "log_softmax(x, dim=0)", 0, true },
        { "log_softmax(x, dim=1)", 1, true },
        { "log_softmax(x, dim=-3)", 0, true },
    };
    char src[256];
    for (int which = 0; which < 2; which++) {
        arr *x = which ? &small : &big;
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
            snprintf(src, sizeof src, "input x: f32[N, C, H]\nreturn %s\n", cases[i].call);
            ref r = ref_softmax(x, cases[i].dim, cases[i].logsm);
            check(src, 1, x, &r);
            free(r.v);
        }
    }
    /* a 2-d softmax over the rows and the columns */
    arr m = rnd(2, (int64_t[]){ 5, 7 }, -3, 3);
    ref r0 = ref_softmax(&m, 0, false), r1 = ref_softmax(&m, 1, true);
    check("input x: f32[R, K]\nreturn softmax(x, dim=0)\n", 1, &m, &r0);
    check("input x: f32[R, K]\nreturn log_softmax(x, dim=1)\n", 1, &m, &r1);
    free(r0.v);
    free(r1.v);
    free_arrs(1, &m);
    free_arrs(1, &big);
    free_arrs(1, &small);
}

/* ---- squeeze, unsqueeze -------------------------------------------------------------------------- */

static void test_squeeze(void **state)
{
    (void)state;
    arr x = rnd(3, (int64_t[]){ 3, 1, 5 }, -1, 1), y = rnd(2, (int64_t[]){ 3, 5 }, -1, 1);
    struct {
        const char *call;
        int ndim;
        int64_t shape[4];
    } cases[] = {
        { "squeeze(x, 1)", 2, { 3, 5 } },
        { "squeeze(x, dim=-2)", 2, { 3, 5 } },
        { "unsqueeze(x, 0)", 4, { 1, 3, 1, 5 } },
        { "unsqueeze(x, 3)", 4, { 3, 1, 5, 1 } },
        { "unsqueeze(x, -1)", 4, { 3, 1, 5, 1 } },
        { "unsqueeze(x, dim=2)", 4, { 3, 1, 1, 5 } },
        { "squeeze(unsqueeze(x, 0), 0)", 3, { 3, 1, 5 } },
        { "unsqueeze(squeeze(x, 1), 1)", 3, { 3, 1, 5 } },
    };
    char src[256];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(src, sizeof src, "input x: f32[N, 1, C]\nreturn %s\n", cases[i].call);
        ref r = mkref(EINC_F32, cases[i].ndim, cases[i].shape, 1);
        for (int64_t e = 0; e < 15; e++)
            r.v[e] = get(&x, e);
        check(src, 1, &x, &r);
        free(r.v);
    }
    /* an unsqueezed vector broadcasts as a column: out[i, j] = y[i, j] * v[i] */
    arr in[2] = { y, rnd(1, (int64_t[]){ 3 }, -1, 1) };
    ref r = mkref(EINC_F32, 2, (int64_t[]){ 3, 5 }, 1);
    for (int64_t i = 0; i < 3; i++)
        for (int64_t j = 0; j < 5; j++)
            r.v[i * 5 + j] = get(&y, i * 5 + j) * get(&in[1], i);
    check("input y: f32[N, C]\ninput v: f32[N]\nreturn y * unsqueeze(v, 1)\n", 2, in, &r);
    /* and the relu of a squeezed value, so the view is read through an expression */
    ref r2 = mkref(EINC_F32, 2, (int64_t[]){ 3, 5 }, 1);
    for (int64_t e = 0; e < 15; e++)
        r2.v[e] = f_relu(get(&x, e)) + 1;
    check("input x: f32[N, 1, C]\nreturn relu(squeeze(x, 1)) + 1\n", 1, &x, &r2);
    free(r.v);
    free(r2.v);
    free_arrs(2, in);
    free_arrs(1, &x);
}

/* ---- arithmetic -------------------------------------------------------------------------------------- */

static void test_arith(void **state)
{
    (void)state;
    /* a [N, 1, C], b [H, 1], c [C]: every pair broadcasts to [N, H, C] */
    int64_t N = 3, H = 7, C = 5;
    arr in[3] = { rnd(3, (int64_t[]){ N, 1, C }, -2, 2), rnd(2, (int64_t[]){ H, 1 }, 0.5, 1.5),
                  rnd(1, (int64_t[]){ C }, -2, 2) };
    const char *decl = "input a: f32[N, 1, C]\ninput b: f32[H, 1]\ninput c: f32[C]\n";
    struct {
        const char *expr;
        int which;
    } cases[] = {
        { "a + b", 0 },
        { "a - b", 1 },
        { "a * b", 2 },
        { "a / b", 3 },
        { "a + b * c", 4 },             /* * before + */
        { "(a + b) * c", 5 },
        { "a - b - c", 6 },             /* left-associative */
        { "a / b / b", 7 },
        { "-a * b + c", 8 },
        { "a - -b", 9 },
        { "2 - 3 - a * b", 10 },
        { "a * 2.5 + 1 / b", 11 },
        { "(1 + 2) * c - a / (b * b + 1) + 7 / 2", 12 },
        { "-(a + b) * -c", 13 },
        { "c * b + a", 14 },
        { "a - b * c / 4 + 0.5", 15 },
    };
    char src[512];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(src, sizeof src, "%sreturn %s\n", decl, cases[i].expr);
        ref r = mkref(EINC_F32, 3, (int64_t[]){ N, H, C }, 4);
        for (int64_t n = 0; n < N; n++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t k = 0; k < C; k++) {
                    double a = get(&in[0], n * C + k), b = get(&in[1], h), c = get(&in[2], k), v = 0;
                    switch (cases[i].which) {
                    case 0: v = a + b; break;
                    case 1: v = a - b; break;
                    case 2: v = a * b; break;
                    case 3: v = a / b; break;
                    case 4: v = a + b * c; break;
                    case 5: v = (a + b) * c; break;
                    case 6: v = a - b - c; break;
                    case 7: v = a / b / b; break;
                    case 8: v = -a * b + c; break;
                    case 9: v = a + b; break;
                    case 10: v = -1 - a * b; break;
                    case 11: v = a * 2.5 + 1 / b; break;
                    case 12: v = 3 * c - a / (b * b + 1) + 3.5; break;
                    case 13: v = (a + b) * c; break;
                    case 14: v = c * b + a; break;
                    case 15: v = a - b * c / 4 + 0.5; break;
                    }
                    r.v[(n * H + h) * C + k] = v;
                }
        /* a [N, 1, C] and b [H, 1] alone already broadcast to [N, H, C] */
        check(src, 3, in, &r);
        free(r.v);
    }
    /* integer tensors keep their dtype with integer literals; / is true division to float32 */
    arr i64 = labels(EINC_I64, 1, (int64_t[]){ 9 }, -20, 20);
    ref ri = mkref(EINC_I64, 1, (int64_t[]){ 9 }, 1), rf = mkref(EINC_F32, 1, (int64_t[]){ 9 }, 1);
    for (int64_t e = 0; e < 9; e++) {
        ri.v[e] = get(&i64, e) * 3 - 7;
        rf.v[e] = get(&i64, e) / 2;
    }
    check("input i: i64[N]\nreturn i * 3 - 7\n", 1, &i64, &ri);
    check("input i: i64[N]\nreturn i / 2\n", 1, &i64, &rf);
    free(ri.v);
    free(rf.v);
    free(i64.data);
    /* a model may return a number; float64 arrays stay float64 */
    arr d = mk(EINC_F64, 2, (int64_t[]){ 3, 5 });
    for (int64_t e = 0; e < 15; e++)
        set(&d, e, uniform(-1, 1));
    ref rd = mkref(EINC_F64, 2, (int64_t[]){ 3, 5 }, 1);
    for (int64_t e = 0; e < 15; e++)
        rd.v[e] = get(&d, e) * get(&d, e) - 0.25;
    check("input d: f64[N, C]\nreturn d * d - 0.25\n", 1, &d, &rd);
    free(rd.v);
    free(d.data);
    free_arrs(3, in);
}

/* ---- pattern calls ------------------------------------------------------------------------------------- */

static void test_patterns(void **state)
{
    (void)state;
    int64_t B = 3, I = 5, J = 7, D = 6;
    arr q[2] = { rnd(3, (int64_t[]){ B, I, D }, -1, 1), rnd(3, (int64_t[]){ B, J, D }, -1, 1) };
    ref r = mkref(EINC_F32, 3, (int64_t[]){ B, I, J }, (double)D);
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < I; i++)
            for (int64_t j = 0; j < J; j++) {
                double s = 0;
                for (int64_t d = 0; d < D; d++)
                    s += get(&q[0], (b * I + i) * D + d) * get(&q[1], (b * J + j) * D + d);
                r.v[(b * I + i) * J + j] = s;
            }
    check("input q: f32[B, I, D]\ninput k: f32[B, J, D]\nreturn einsum('b i d, b j d -> b i j', q, k)\n", 2, q, &r);
    /* numpy's dialect inside a model, scaled afterwards */
    for (int64_t e = 0; e < B * I * J; e++)
        r.v[e] *= 0.5;
    check("input q: f32[B, I, D]\ninput k: f32[B, J, D]\nreturn einsum('bid,bjd->bij', q, k) * 0.5\n", 2, q, &r);
    free(r.v);

    /* three operands */
    arr t[3] = { rnd(2, (int64_t[]){ 5, 7 }, -1, 1), rnd(2, (int64_t[]){ 7, 6 }, -1, 1), rnd(1, (int64_t[]){ 6 }, -1, 1) };
    ref r3 = mkref(EINC_F32, 1, (int64_t[]){ 5 }, 42);
    for (int64_t i = 0; i < 5; i++) {
        double s = 0;
        for (int64_t j = 0; j < 7; j++)
            for (int64_t k = 0; k < 6; k++)
                s += get(&t[0], i * 7 + j) * get(&t[1], j * 6 + k) * get(&t[2], k);
        r3.v[i] = s;
    }
    check("input a: f32[I, J]\ninput b: f32[J, K]\ninput c: f32[K]\nreturn einsum('i j, j k, k -> i', a, b, c)\n",
          3, t, &r3);
    free(r3.v);

    /* rearrange with a decomposition: x [N, C, (H W)] → [N, H, W, C], H = 7 given */
    int64_t N = 3, C = 5, H = 7, W = 6;
    arr x = rnd(3, (int64_t[]){ N, C, H * W }, -1, 1);
    ref rr = mkref(EINC_F32, 4, (int64_t[]){ N, H, W, C }, 1);
    for (int64_t n = 0; n < N; n++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++)
                for (int64_t c = 0; c < C; c++)
                    rr.v[((n * H + h) * W + w) * C + c] = get(&x, (n * C + c) * H * W + h * W + w);
    check("input x: f32[N, C, S]\nreturn rearrange(x, 'b c (h w) -> b h w c', h=7)\n", 1, &x, &rr);
    free(rr.v);
    free(x.data);

    /* reduce: mean (positional and keyword), max, and one with a composition on the output */
    arr y = rnd(4, (int64_t[]){ N, C, H, W }, -1, 1);
    ref rm = mkref(EINC_F32, 2, (int64_t[]){ N, C }, (double)(H * W)), rx = mkref(EINC_F32, 2, (int64_t[]){ N, C }, 1);
    ref rs = mkref(EINC_F32, 2, (int64_t[]){ C, W }, (double)(N * H));
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            double s = 0, mx = -INFINITY;
            for (int64_t e = 0; e < H * W; e++) {
                s += get(&y, (n * C + c) * H * W + e);
                mx = fmax(mx, get(&y, (n * C + c) * H * W + e));
            }
            rm.v[n * C + c] = s / (double)(H * W);
            rx.v[n * C + c] = mx;
        }
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++)
                    rs.v[c * W + w] += get(&y, ((n * C + c) * H + h) * W + w);
    check("input y: f32[N, C, H, W]\nreturn reduce(y, 'b c h w -> b c', 'mean')\n", 1, &y, &rm);
    check("input y: f32[N, C, H, W]\nreturn reduce(y, 'b c h w -> b c', reduction='mean')\n", 1, &y, &rm);
    check("input y: f32[N, C, H, W]\nreturn reduce(y, 'b c h w -> b c', 'max')\n", 1, &y, &rx);
    check("input y: f32[N, C, H, W]\nreturn reduce(y, 'b c h w -> c w', 'sum')\n", 1, &y, &rs);
    free(rm.v);
    free(rx.v);
    free(rs.v);
    free(y.data);

    /* repeat: a new axis of 3, and a repeated axis inside a composition */
    arr z = rnd(2, (int64_t[]){ H, W }, -1, 1);
    ref rp = mkref(EINC_F32, 3, (int64_t[]){ H, W, 3 }, 1), rp2 = mkref(EINC_F32, 2, (int64_t[]){ H, W * 2 }, 1);
    for (int64_t h = 0; h < H; h++)
        for (int64_t w = 0; w < W; w++) {
            for (int64_t c = 0; c < 3; c++)
                rp.v[(h * W + w) * 3 + c] = get(&z, h * W + w);
            for (int64_t c = 0; c < 2; c++)
                rp2.v[h * W * 2 + w * 2 + c] = get(&z, h * W + w);
        }
    check("input y: f32[H, W]\nreturn repeat(y, 'h w -> h w c', c=3)\n", 1, &z, &rp);
    check("input y: f32[H, W]\nreturn repeat(y, 'h w -> h (w r)', r=2)\n", 1, &z, &rp2);
    free(rp.v);
    free(rp2.v);
    free(z.data);

    /* a pattern call on a lazily built value: rearrange(relu(a) + 1) */
    arr a = rnd(2, (int64_t[]){ 5, 7 }, -1, 1);
    ref ra = mkref(EINC_F32, 2, (int64_t[]){ 7, 5 }, 1);
    for (int64_t i = 0; i < 5; i++)
        for (int64_t j = 0; j < 7; j++)
            ra.v[j * 5 + i] = f_relu(get(&a, i * 7 + j)) + 1;
    check("input a: f32[I, J]\nreturn rearrange(relu(a) + 1, 'i j -> j i')\n", 1, &a, &ra);
    free(ra.v);
    free(a.data);
    free_arrs(2, q);
    free_arrs(3, t);
}

/* ---- def blocks ------------------------------------------------------------------------------------------ */

static void test_def(void **state)
{
    (void)state;
    int64_t N = 3, D = 5, H = 7;
    arr in[4] = { rnd(2, (int64_t[]){ N, D }, -1, 1), rnd(2, (int64_t[]){ H, D }, -1, 1),
                  rnd(2, (int64_t[]){ D, H }, -1, 1), rnd(1, (int64_t[]){ D }, -1, 1) };
    const char *src =
        "input x: f32[N, D]\n"
        "param w1: f32[H, D]\n"
        "param w2: f32[D, H]\n"
        "param s: f32[D]\n"
        "\n"
        "def mlp(x, w1, w2) {\n"
        "    h = relu(linear(x, w1))   # a local\n"
        "    return linear(h, w2)\n"
        "}\n"
        "def res(v, a, b) {\n"
        "    return v + mlp(v, a, b)\n"
        "}\n"
        "def twice(x, w1, w2, s) {\n"
        "    y = res(x, w1, w2)\n"
        "    y = y * s\n"
        "    return res(y, b=w2, a=w1)\n"
        "}\n"
        "h = twice(x, w1, w2, s)\n"
        "return h * 0.5\n";
    /* reference: res(v) = v + relu(v w1ᵀ) w2ᵀ; out = 0.5 res(res(x) * s) */
    double v[3][5], y[3][5];
    for (int pass = 0; pass < 2; pass++)
        for (int64_t n = 0; n < N; n++) {
            double hid[7];
            for (int64_t d = 0; d < D; d++)
                v[n][d] = pass == 0 ? get(&in[0], n * D + d) : y[n][d] * get(&in[3], d);
            for (int64_t h = 0; h < H; h++) {
                double s = 0;
                for (int64_t d = 0; d < D; d++)
                    s += v[n][d] * get(&in[1], h * D + d);
                hid[h] = f_relu(s);
            }
            for (int64_t d = 0; d < D; d++) {
                double s = 0;
                for (int64_t h = 0; h < H; h++)
                    s += hid[h] * get(&in[2], d * H + h);
                y[n][d] = v[n][d] + s;
            }
        }
    ref r = mkref(EINC_F32, 2, (int64_t[]){ N, D }, (double)(D * H * 2));
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++)
            r.v[n * D + d] = 0.5 * y[n][d];
    check(src, 4, in, &r);

    /* the inputs are named by their declarations, in order */
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    assert_int_equal(einc_compile_model(ctx, src, &(einc_options){ .target = EINC_TARGET_INTERP }, &k, &err), EINC_OK);
    assert_int_equal(einc_kernel_ninputs(k), 4);
    assert_string_equal(einc_kernel_input_name(k, 0), "x");
    assert_string_equal(einc_kernel_input_name(k, 1), "w1");
    assert_string_equal(einc_kernel_input_name(k, 2), "w2");
    assert_string_equal(einc_kernel_input_name(k, 3), "s");
    assert_null(einc_kernel_input_name(k, 4));
    einc_kernel_free(k);
    free(r.v);
    free_arrs(4, in);
}

/* ---- metrics ----------------------------------------------------------------------------------------------- */

typedef struct metrics {
    int64_t cm[4][4];
    double precision[4], recall[4], specificity[4], f1[4], accuracy;
} metrics;

static double divz(double a, double b) { return b == 0 ? 0 : a / b; }

static metrics ref_metrics(const arr *pred, const arr *target, int K)
{
    metrics m = { { { 0 } }, { 0 }, { 0 }, { 0 }, { 0 }, 0 };
    int64_t n = count(pred), diag = 0;
    for (int64_t i = 0; i < n; i++)
        m.cm[(int)get(target, i)][(int)get(pred, i)]++;     /* rows: true class */
    for (int k = 0; k < K; k++) {
        int64_t tp = m.cm[k][k], row = 0, col = 0;
        for (int j = 0; j < K; j++) {
            row += m.cm[k][j];
            col += m.cm[j][k];
        }
        int64_t fp = col - tp, tn = n - row - col + tp;
        m.precision[k] = divz((double)tp, (double)col);
        m.recall[k] = divz((double)tp, (double)row);
        m.specificity[k] = divz((double)tn, (double)(tn + fp));
        m.f1[k] = divz(2 * m.precision[k] * m.recall[k], m.precision[k] + m.recall[k]);
        diag += tp;
    }
    m.accuracy = (double)diag / (double)n;
    return m;
}

static void test_metrics(void **state)
{
    (void)state;
    const int K = 4;
    for (int pass = 0; pass < 2; pass++) {
        einc_dtype t = pass ? EINC_I64 : EINC_I32;
        const char *tn = pass ? "i64" : "i32";
        int64_t N = 37;
        /* targets in {0, 1, 2}, predictions in {0, 1}: class 3 never occurs (0/0 everywhere),
           class 2 is never predicted (precision 0/0) */
        arr in[2] = { labels(t, 1, &N, 0, 1), labels(t, 1, &N, 0, 2) };
        set(&in[1], 0, 2);
        metrics m = ref_metrics(&in[0], &in[1], K);
        assert_true(m.cm[2][0] + m.cm[2][1] > 0);
        assert_true(m.precision[2] == 0 && m.f1[3] == 0 && m.recall[3] == 0 && m.specificity[3] == 1);
        char src[512];
        const char *what[] = { "cm", "precision(cm)", "recall(cm)", "specificity(cm)", "f1(cm)", "accuracy(cm)" };
        for (int w = 0; w < 6; w++) {
            snprintf(src, sizeof src, "input pred: %s[N]\ninput target: %s[N]\ncm = confusion(pred, target, "
                     "classes=4)\nreturn %s\n", tn, tn, what[w]);
            ref r = w == 0 ? mkref(EINC_I64, 2, (int64_t[]){ K, K }, 1)
                  : w == 5 ? mkref(EINC_F32, 0, NULL, 1) : mkref(EINC_F32, 1, (int64_t[]){ K }, 1);
            for (int k = 0; k < K; k++) {
                const double *v = w == 1 ? m.precision : w == 2 ? m.recall : w == 3 ? m.specificity : m.f1;
                if (w == 0)
                    for (int j = 0; j < K; j++)
                        r.v[k * K + j] = (double)m.cm[k][j];
                else if (w < 5)
                    r.v[k] = v[k];
            }
            if (w == 5)
                r.v[0] = m.accuracy;
            check(src, 2, in, &r);
            free(r.v);
        }
        free_arrs(2, in);
    }

    /* an asymmetric case by hand: rows are the true class, columns the predicted one */
    arr in[2] = { mk(EINC_I64, 1, (int64_t[]){ 3 }), mk(EINC_I64, 1, (int64_t[]){ 3 }) };
    int64_t p[3] = { 1, 1, 0 }, g[3] = { 0, 0, 0 };
    memcpy(in[0].data, p, sizeof p);
    memcpy(in[1].data, g, sizeof g);
    ref r = mkref(EINC_I64, 2, (int64_t[]){ 2, 2 }, 1);
    r.v[0] = 1;     /* true 0, predicted 0 */
    r.v[1] = 2;     /* true 0, predicted 1 */
    check("input pred: i64[N]\ninput target: i64[N]\nreturn confusion(pred, target, classes=2)\n", 2, in, &r);
    check("input pred: i64[N]\ninput target: i64[N]\nreturn confusion(target=target, pred=pred, classes=2)\n", 2, in, &r);
    free(r.v);
    free_arrs(2, in);

    /* labels of any shape: a [3, 5] batch */
    arr in2[2] = { labels(EINC_I32, 2, (int64_t[]){ 3, 5 }, 0, 2), labels(EINC_I32, 2, (int64_t[]){ 3, 5 }, 0, 2) };
    metrics m2 = ref_metrics(&in2[0], &in2[1], 3);
    ref r2 = mkref(EINC_F32, 1, (int64_t[]){ 3 }, 1);
    for (int k = 0; k < 3; k++)
        r2.v[k] = m2.f1[k];
    check("input pred: i32[B, T]\ninput target: i32[B, T]\nreturn f1(confusion(pred, target, classes=3))\n", 2, in2, &r2);
    free(r2.v);
    free_arrs(2, in2);
}

/* ---- compositions and size-1 dimensions --------------------------------------------------------------- */

/* A float64 array holding f(a[i]) for each element of a. */
static arr mapped(const arr *a, double (*f)(double))
{
    arr b = mk(EINC_F64, a->ndim, a->shape);
    for (int64_t i = 0; i < count(a); i++)
        set(&b, i, f(get(a, i)));
    return b;
}
static double twice_plus_one(double x) { return 2 * x + 1; }
static double relu_minus_half(double x) { return f_relu(x) - 0.5; }
static double doubled(double x) { return 2 * x; }

static void test_compose(void **state)
{
    (void)state;
    int64_t N = 3, C = 5, H = 7, W = 6;
    /* normalisations and softmax over lazily built values */
    arr x = rnd(3, (int64_t[]){ N, C, H }, -2, 2);
    arr t = mapped(&x, twice_plus_one);
    ref r = ref_softmax(&t, 1, false);
    check("input x: f32[N, C, H]\nreturn softmax(x * 2 + 1, dim=1)\n", 1, &x, &r);
    free(r.v);
    free(t.data);
    arr ln[3] = { x, rnd(1, &H, -1, 1), rnd(1, &H, -1, 1) };
    t = mapped(&x, relu_minus_half);
    r = ref_ln(&t, 1, &ln[1], &ln[2], 1e-5);
    check("input x: f32[N, C, H]\nparam w: f32[H]\nparam b: f32[H]\nreturn layernorm(relu(x) - 0.5, w, b)\n", 3, ln, &r);
    free(r.v);
    free(t.data);
    free_arrs(3, ln);

    /* conv → batchnorm2d(training=1) → relu → conv */
    arr cv[3] = { rnd(4, (int64_t[]){ N, C, H, W }, -1, 1), rnd(4, (int64_t[]){ 4, C, 3, 3 }, -1, 1),
                  rnd(4, (int64_t[]){ 2, 4, 2, 2 }, -1, 1) };
    ref c1 = ref_conv(&cv[0], &cv[1], NULL, (convp){ { 1, 1 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, 1 });
    arr c1a = view_of(&c1);
    ref bn = ref_bn(&c1a, NULL, NULL, NULL, NULL, true, 1e-5);
    for (int64_t e = 0; e < count(&c1a); e++)
        bn.v[e] = f_relu(bn.v[e]);
    arr bna = view_of(&bn);
    ref c2 = ref_conv(&bna, &cv[2], NULL, (convp){ { 2, 2 }, { 0, 0 }, { 0, 0 }, { 1, 1 }, 1 });
    c2.K = (double)(N * H * W + C * 9 + 16);
    check("input x: f32[N, C, H, W]\nparam w1: f32[4, C, 3, 3]\nparam w2: f32[2, 4, 2, 2]\n"
          "y = conv2d(x, w1, padding=1)\ny = relu(batchnorm2d(y, none, none, training=1))\n"
          "return conv2d(y, w2, stride=2)\n", 3, cv, &c2);
    free(c1.v);
    free(bn.v);
    free(c2.v);
    free_arrs(3, cv);

    /* linear of a lazy value with a rearranged weight */
    arr li[2] = { rnd(2, (int64_t[]){ N, C }, -1, 1), rnd(2, (int64_t[]){ C, H }, -1, 1) };
    arr xd = mapped(&li[0], doubled), wt = mk(EINC_F64, 2, (int64_t[]){ H, C });
    for (int64_t i = 0; i < C; i++)
        for (int64_t o = 0; o < H; o++)
            set(&wt, o * C + i, get(&li[1], i * H + o));
    r = ref_linear(&xd, &wt, NULL);
    check("input x: f32[N, C]\nparam w: f32[C, H]\nreturn linear(x * 2, rearrange(w, 'i o -> o i'))\n", 2, li, &r);
    free(r.v);
    free(xd.data);
    free(wt.data);
    free_arrs(2, li);

    /* size-1 dimensions everywhere: N = 1, one output channel, a 1-wide output, a 1-tall kernel */
    arr c3[2] = { rnd(4, (int64_t[]){ 1, C, H, W }, -1, 1), rnd(4, (int64_t[]){ 1, C, H, 1 }, -1, 1) };
    r = ref_conv(&c3[0], &c3[1], NULL, (convp){ { 1, 1 }, { 0, 0 }, { 0, 0 }, { 1, 1 }, 1 });
    assert_int_equal(r.shape[2], 1);
    check("input x: f32[N, C, H, W]\nparam w: f32[O, C, KH, KW]\nreturn conv2d(x, w)\n", 2, c3, &r);
    free(r.v);
    free_arrs(2, c3);
    arr c4[2] = { rnd(4, (int64_t[]){ N, 1, H, W }, -1, 1), rnd(4, (int64_t[]){ 3, 1, 1, 3 }, -1, 1) };
    r = ref_conv(&c4[0], &c4[1], NULL, (convp){ { 1, 2 }, { 0, 1 }, { 0, 1 }, { 1, 1 }, 1 });
    check("input x: f32[N, C, H, W]\nparam w: f32[O, C, KH, KW]\nreturn conv2d(x, w, stride=(1, 2), padding=(0, 1))\n",
          2, c4, &r);
    free(r.v);
    free_arrs(2, c4);
    arr l1[3] = { rnd(2, (int64_t[]){ N, 1 }, -1, 1), rnd(2, (int64_t[]){ 1, 1 }, -1, 1), rnd(1, (int64_t[]){ 1 }, -1, 1) };
    r = ref_linear(&l1[0], &l1[1], &l1[2]);
    check("input x: f32[N, 1]\nparam w: f32[1, 1]\nparam b: f32[1]\nreturn linear(x, w, b)\n", 3, l1, &r);
    free(r.v);
    free_arrs(3, l1);

    /* [1, C] against [N, 1] */
    arr bc[2] = { rnd(2, (int64_t[]){ 1, C }, -1, 1), rnd(2, (int64_t[]){ N, 1 }, -1, 1) };
    r = mkref(EINC_F32, 2, (int64_t[]){ N, C }, 1);
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < C; j++)
            r.v[i * C + j] = get(&bc[0], j) * get(&bc[1], i) - get(&bc[0], j);
    check("input a: f32[1, C]\ninput b: f32[N, 1]\nreturn a * b - a\n", 2, bc, &r);
    free(r.v);
    free_arrs(2, bc);

    /* softmax over a dimension of 1 is 1 (log_softmax 0); layernorm over one element is its bias */
    arr s1[2] = { rnd(3, (int64_t[]){ N, 1, C }, -3, 3), rnd(1, (int64_t[]){ 1 }, -1, 1) };
    r = mkref(EINC_F32, 3, (int64_t[]){ N, 1, C }, 1);
    for (int64_t e = 0; e < N * C; e++)
        r.v[e] = 1;
    check("input x: f32[N, 1, C]\nreturn softmax(x, dim=1)\n", 1, s1, &r);
    for (int64_t e = 0; e < N * C; e++)
        r.v[e] = 0;
    check("input x: f32[N, 1, C]\nreturn log_softmax(x, dim=1)\n", 1, s1, &r);
    free(r.v);
    arr s2[3] = { rnd(2, (int64_t[]){ N, 1 }, -3, 3), rnd(1, (int64_t[]){ 1 }, -1, 1), rnd(1, (int64_t[]){ 1 }, -1, 1) };
    r = ref_ln(&s2[0], 1, &s2[1], &s2[2], 1e-5);
    check("input x: f32[N, 1]\nparam w: f32[1]\nparam b: f32[1]\nreturn layernorm(x, w, b)\n", 3, s2, &r);
    free(r.v);
    free_arrs(2, s1);
    free_arrs(3, s2);

    /* 0-d results: a full reduction, a number, arithmetic on accuracy */
    arr f = rnd(2, (int64_t[]){ N, C }, -1, 1);
    r = mkref(EINC_F32, 0, NULL, (double)(N * C));
    for (int64_t e = 0; e < N * C; e++)
        r.v[0] += get(&f, e);
    check("input x: f32[A, B]\nreturn reduce(x, 'a b -> ', 'sum')\n", 1, &f, &r);
    r.v[0] = 2.5;
    check("input x: f32[A, B]\nreturn 2.5\n", 1, &f, &r);
    free(r.v);
    free(f.data);
    int64_t L = 11;
    arr lab[2] = { labels(EINC_I64, 1, &L, 0, 2), labels(EINC_I64, 1, &L, 0, 2) };
    metrics m = ref_metrics(&lab[0], &lab[1], 3);
    r = mkref(EINC_F32, 0, NULL, 1);
    r.v[0] = 100 * m.accuracy - 1;
    check("input pred: i64[N]\ninput target: i64[N]\nreturn accuracy(confusion(pred, target, classes=3)) * 100 - 1\n",
          2, lab, &r);
    free(r.v);
    free_arrs(2, lab);

    /* an integer tensor through a float function becomes float32 (PyTorch's default dtype);
       float64 stays float64 through linear */
    arr iv = labels(EINC_I32, 2, (int64_t[]){ N, C }, -3, 3);
    r = mkref(EINC_F32, 2, (int64_t[]){ N, C }, 1);
    for (int64_t e = 0; e < N * C; e++)
        r.v[e] = f_sigmoid(get(&iv, e)) + exp(get(&iv, e));
    check("input i: i32[N, C]\nreturn sigmoid(i) + exp(i)\n", 1, &iv, &r);
    free(r.v);
    free(iv.data);
    arr d[2] = { mk(EINC_F64, 2, (int64_t[]){ N, C }), mk(EINC_F64, 2, (int64_t[]){ H, C }) };
    for (int k = 0; k < 2; k++)
        for (int64_t e = 0; e < count(&d[k]); e++)
            set(&d[k], e, uniform(-1, 1));
    r = ref_linear(&d[0], &d[1], NULL);
    r.dtype = EINC_F64;
    check("input x: f64[N, C]\nparam w: f64[H, C]\nreturn linear(x, w)\n", 2, d, &r);
    free(r.v);
    free_arrs(2, d);

    /* rebinding a name; unsqueeze of a lazy value */
    arr rb = rnd(2, (int64_t[]){ N, C }, -1, 1);
    r = mkref(EINC_F32, 3, (int64_t[]){ 1, N, C }, 1);
    for (int64_t e = 0; e < N * C; e++)
        r.v[e] = f_relu(get(&rb, e) * 2 + get(&rb, e));
    check("input x: f32[N, C]\ny = x\ny = y * 2\ny = y + x\nreturn unsqueeze(relu(y), 0)\n", 1, &rb, &r);
    free(r.v);
    free(rb.data);
}

/*
 * KNOWN BUG, reported: an integer tensor through softmax, log_softmax, layernorm or
 * batchnorm2d comes out float64, and an integer tensor meeting a fraction (i * 2.5) too,
 * where every other float function (sigmoid, exp, i / 2) gives float32, PyTorch's default
 * dtype, as compiler/front/model.c's float_of() intends: softmax() and normalize() convert with
 * x * (float32 1) and as_tensor() makes 2.5 a float32 constant, and dtype_promote(int,
 * float32) is numpy's float64.  Set this to false when fixed.
 */
static const bool int_to_float64_bug = false;

static void test_int_to_float(void **state)
{
    (void)state;
    if (int_to_float64_bug)
        skip();
    int64_t N = 3, C = 5, H = 7, W = 6;
    arr iv = labels(EINC_I64, 2, (int64_t[]){ N, C }, -3, 3);
    arr in4 = labels(EINC_I32, 4, (int64_t[]){ N, C, H, W }, -3, 3);
    ref r = ref_softmax(&iv, 0, false);
    check("input i: i64[N, C]\nreturn softmax(i, dim=0)\n", 1, &iv, &r);
    free(r.v);
    r = ref_softmax(&iv, 1, true);
    check("input i: i64[N, C]\nreturn log_softmax(i)\n", 1, &iv, &r);
    free(r.v);
    r = ref_ln(&iv, 1, NULL, NULL, 1e-5);
    check("input i: i64[N, C]\nreturn layernorm(i)\n", 1, &iv, &r);
    free(r.v);
    r = ref_bn(&in4, NULL, NULL, NULL, NULL, true, 1e-5);
    check("input i: i32[N, C, H, W]\nreturn batchnorm2d(i, none, none, training=1)\n", 1, &in4, &r);
    free(r.v);
    r = mkref(EINC_F32, 2, (int64_t[]){ N, C }, 1);
    for (int64_t e = 0; e < N * C; e++)
        r.v[e] = get(&iv, e) * 2.5;
    check("input i: i64[N, C]\nreturn i * 2.5\n", 1, &iv, &r);
    free(r.v);
    free(iv.data);
    free(in4.data);
}

/* One compiled model meets new shapes: it elaborates and compiles again for each. */
static void test_reshape(void **state)
{
    (void)state;
    const char *src = "input x: f32[N, D]\nparam w: f32[O, D]\nreturn softmax(linear(x, w), dim=0)\n";
    for (size_t t = 0; t < sizeof targets / sizeof *targets; t++) {
        einc_kernel *k = NULL;
        einc_status st = einc_compile_model(ctx, src, &(einc_options){ .target = targets[t] }, &k, NULL);
        if (targets[t] == EINC_TARGET_CPU && st == EINC_ERR_UNSUPPORTED)
            continue;
        assert_int_equal(st, EINC_OK);
        static const int64_t sizes[][3] = { { 3, 5, 7 }, { 4, 6, 2 }, { 3, 5, 7 }, { 1, 9, 3 } };
        for (int s = 0; s < 4; s++) {
            int64_t N = sizes[s][0], D = sizes[s][1], O = sizes[s][2];
            arr in[2] = { rnd(2, (int64_t[]){ N, D }, -1, 1), rnd(2, (int64_t[]){ O, D }, -1, 1) };
            ref lin = ref_linear(&in[0], &in[1], NULL);
            arr la = view_of(&lin);
            ref r = ref_softmax(&la, 0, false);
            r.K = (double)(D + N);
            einc_tensor ti[2] = { tensor_of(&in[0]), tensor_of(&in[1]) };
            arr out = mk(EINC_F32, 2, (int64_t[]){ N, O });
            poison(&out);
            einc_tensor to = tensor_of(&out);
            einc_error err = { 0 };
            if (einc_kernel_run(k, 2, ti, &to, &err) != EINC_OK)
                fail_msg("%s: sizes %d: %s", target_name(targets[t]), s, err.message);
            compare(targets[t], src, &out, &r);
            free(out.data);
            free(r.v);
            free(lin.v);
            free_arrs(2, in);
        }
        einc_kernel_free(k);
    }
    /* SIZE=N words that agree with the arrays */
    arr in[2] = { rnd(2, (int64_t[]){ 3, 5 }, -1, 1), rnd(2, (int64_t[]){ 7, 5 }, -1, 1) };
    ref lin = ref_linear(&in[0], &in[1], NULL);
    arr la = view_of(&lin);
    ref r = ref_softmax(&la, 0, false);
    r.K = 8;
    einc_size sz[2] = { { "N", 3 }, { "O", 7 } };
    check_sized(src, 2, in, sz, 2, &r);
    free(r.v);
    free(lin.v);
    free_arrs(2, in);
}

/* Inputs passed as strided views (a transposed buffer) read as their logical shape. */
static void test_strided(void **state)
{
    (void)state;
    int64_t N = 3, D = 5, O = 7;
    arr xt = rnd(2, (int64_t[]){ D, N }, -1, 1), w = rnd(2, (int64_t[]){ O, D }, -1, 1);
    arr x = mk(EINC_F32, 2, (int64_t[]){ N, D });       /* the same values, contiguous */
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++)
            set(&x, n * D + d, get(&xt, d * N + n));
    /* relu(x wᵀ) + the row's max */
    ref lin = ref_linear(&x, &w, NULL);
    const char *src = "input x: f32[N, D]\nparam w: f32[O, D]\nreturn relu(linear(x, w)) + reduce(x, 'n d -> n ()', 'max')\n";
    for (int64_t e = 0; e < N * O; e++) {
        double mx = -INFINITY;
        for (int64_t d = 0; d < D; d++)
            mx = fmax(mx, get(&x, (e / O) * D + d));
        lin.v[e] = f_relu(lin.v[e]) + mx;
    }
    int64_t strides[2] = { 1, N };
    for (size_t t = 0; t < sizeof targets / sizeof *targets; t++) {
        einc_kernel *k = NULL;
        einc_status st = einc_compile_model(ctx, src, &(einc_options){ .target = targets[t] }, &k, NULL);
        if (targets[t] == EINC_TARGET_CPU && st == EINC_ERR_UNSUPPORTED)
            continue;
        assert_int_equal(st, EINC_OK);
        einc_tensor ti[2] = { { .dtype = EINC_F32, .ndim = 2, .shape = x.shape, .strides = strides, .data = xt.data },
                              tensor_of(&w) };
        arr out = mk(EINC_F32, 2, (int64_t[]){ N, O });
        poison(&out);
        einc_tensor to = tensor_of(&out);
        einc_error err = { 0 };
        if (einc_kernel_run(k, 2, ti, &to, &err) != EINC_OK)
            fail_msg("%s: %s", target_name(targets[t]), err.message);
        compare(targets[t], src, &out, &lin);
        free(out.data);
        einc_kernel_free(k);
    }
    free(lin.v);
    free(x.data);
    free(xt.data);
    free(w.data);
}

/* ---- the examples ------------------------------------------------------------------------------------------- */

static char *read_example(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", examples_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s (pass the examples directory as the argument)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    return s;
}

static void test_example_attention(void **state)
{
    (void)state;
    char *src = read_example("attention.einl");
    int64_t B = 2, H = 3, T = 5, D = 7, sh[4] = { B, H, T, D };
    arr in[3] = { rnd(4, sh, -2, 2), rnd(4, sh, -2, 2), rnd(4, sh, -1, 1) };
    ref r = mkref(EINC_F32, 4, sh, (double)(T * D));
    for (int64_t bh = 0; bh < B * H; bh++)
        for (int64_t i = 0; i < T; i++) {
            double s[5], mx = -INFINITY, z = 0;
            for (int64_t j = 0; j < T; j++) {
                s[j] = 0;
                for (int64_t d = 0; d < D; d++)
                    s[j] += get(&in[0], (bh * T + i) * D + d) * get(&in[1], (bh * T + j) * D + d);
                s[j] /= 8;
                mx = fmax(mx, s[j]);
            }
            for (int64_t j = 0; j < T; j++)
                z += exp(s[j] - mx);
            for (int64_t d = 0; d < D; d++) {
                double o = 0;
                for (int64_t j = 0; j < T; j++)
                    o += exp(s[j] - mx) / z * get(&in[2], (bh * T + j) * D + d);
                r.v[(bh * T + i) * D + d] = o;
            }
        }
    check(src, 3, in, &r);
    free(r.v);
    free_arrs(3, in);
    free(src);
}

static void test_example_metrics(void **state)
{
    (void)state;
    char *src = read_example("metrics.einl");
    int64_t N = 41;
    arr in[2] = { labels(EINC_I64, 1, &N, 0, 2), labels(EINC_I64, 1, &N, 0, 2) };
    metrics m = ref_metrics(&in[0], &in[1], 3);
    ref r = mkref(EINC_F32, 1, (int64_t[]){ 3 }, 1);
    for (int k = 0; k < 3; k++)
        r.v[k] = m.f1[k];
    check(src, 2, in, &r);
    free(r.v);
    free_arrs(2, in);
    free(src);
}

static void test_example_mlp(void **state)
{
    (void)state;
    char *src = read_example("mlp.einl");
    int64_t B = 3, D = 7, H = 5, K = 4;
    arr in[5] = { rnd(2, (int64_t[]){ B, D }, -1, 1), rnd(2, (int64_t[]){ H, D }, -1, 1), rnd(1, &H, -1, 1),
                  rnd(2, (int64_t[]){ K, H }, -1, 1), rnd(1, &K, -1, 1) };
    ref h = ref_linear(&in[0], &in[1], &in[2]);
    for (int64_t e = 0; e < B * H; e++)
        h.v[e] = f_relu(h.v[e]);
    arr ha = view_of(&h);
    ref logits = ref_linear(&ha, &in[3], &in[4]);
    arr la = view_of(&logits);
    ref r = ref_softmax(&la, 1, false);
    r.K = (double)(D + H + K);
    check(src, 5, in, &r);
    const char *names[] = { "x", "w1", "b1", "w2", "b2" };
    einc_kernel *k = NULL;
    assert_int_equal(einc_compile_model(ctx, src, &(einc_options){ .target = EINC_TARGET_INTERP }, &k, NULL), EINC_OK);
    for (int i = 0; i < 5; i++)
        assert_string_equal(einc_kernel_input_name(k, i), names[i]);
    einc_kernel_free(k);
    free(r.v);
    free(h.v);
    free(logits.v);
    free_arrs(5, in);
    free(src);
}

static void test_example_resblock(void **state)
{
    (void)state;
    char *src = read_example("resblock.einl");
    arr in[6];
    resblock_inputs(in, 2, 64, 5, 6);
    ref r = ref_resblock(in, 1e-5);
    check(src, 6, in, &r);
    free(r.v);
    free_arrs(6, in);
    free(src);
}

/* Sizes large enough for the JIT's GEMM and vector paths, with odd tails. */
static void test_large(void **state)
{
    (void)state;
    int64_t B = 67, D = 301, O = 129;
    arr in[3] = { rnd(2, (int64_t[]){ B, D }, -1, 1), rnd(2, (int64_t[]){ O, D }, -1, 1), rnd(1, &O, -1, 1) };
    ref r = ref_linear(&in[0], &in[1], &in[2]);
    for (int64_t e = 0; e < B * O; e++)
        r.v[e] = f_gelu(r.v[e]);
    check("input x: f32[B, D]\nparam w: f32[O, D]\nparam b: f32[O]\nreturn gelu(linear(x, w, b))\n", 3, in, &r);
    free(r.v);
    r = ref_ln(&in[0], 1, NULL, NULL, 1e-5);
    check("input x: f32[B, D]\nreturn layernorm(x)\n", 1, in, &r);
    free(r.v);
    r = ref_softmax(&in[1], 1, false);
    check("input x: f32[O, D]\nreturn softmax(x)\n", 1, &in[1], &r);
    free(r.v);
    r = ref_softmax(&in[1], 0, true);
    check("input x: f32[O, D]\nreturn log_softmax(x, dim=0)\n", 1, &in[1], &r);
    free(r.v);
    free_arrs(3, in);

    /* the residual block with 19 channels on 13 × 11 */
    const char *src =
        "input x: f32[N, C, H, W]\nparam w: f32[C, C, 3, 3]\nparam mean: f32[C]\nparam var: f32[C]\n"
        "param gamma: f32[C]\nparam beta: f32[C]\n"
        "return x + relu(batchnorm2d(conv2d(x, w, padding=1), mean, var, gamma, beta))\n";
    arr rb[6];
    resblock_inputs(rb, 2, 19, 13, 11);
    r = ref_resblock(rb, 1e-5);
    check(src, 6, rb, &r);
    free(r.v);
    free_arrs(6, rb);

    /* a strided, grouped, dilated convolution with a bias */
    arr cv[3] = { rnd(4, (int64_t[]){ 2, 12, 17, 15 }, -1, 1), rnd(4, (int64_t[]){ 20, 3, 3, 3 }, -1, 1),
                  rnd(1, (int64_t[]){ 20 }, -1, 1) };
    r = ref_conv(&cv[0], &cv[1], &cv[2], (convp){ { 2, 1 }, { 2, 1 }, { 2, 1 }, { 2, 1 }, 4 });
    check("input x: f32[N, C, H, W]\nparam w: f32[O, G, KH, KW]\nparam b: f32[O]\n"
          "return conv2d(x, w, b, stride=(2, 1), padding=(2, 1), dilation=(2, 1), groups=4)\n", 3, cv, &r);
    free(r.v);
    free_arrs(3, cv);
}

/*
 * confusion() of labels the model computes (argmax): exact counts against a direct count,
 * and a computed label outside [0, classes) is a run-time error naming the expression and
 * the value, on every target.
 */
static void run_status(einc_target t, const char *src, int n, const arr *in, einc_error *err)
{
    einc_options opt = { .target = t };
    einc_kernel *k = NULL;
    memset(err, 0, sizeof *err);
    einc_status st = einc_compile_model(ctx, src, &opt, &k, err);
    assert_int_equal(st, EINC_OK);
    einc_tensor ti[4];
    for (int i = 0; i < n; i++)
        ti[i] = tensor_of(&in[i]);
    einc_dtype dt;
    int nd;
    int64_t sh[EINC_MAX_RANK];
    assert_int_equal(einc_kernel_output(k, n, ti, &dt, &nd, sh, err), EINC_OK);
    arr out = mk(dt, nd, sh);
    einc_tensor to = tensor_of(&out);
    einc_kernel_run(k, n, ti, &to, err);
    einc_kernel_free(k);
    free(out.data);
}

static void test_confusion_computed(void **state)
{
    (void)state;
    enum { N = 29, K = 4 };
    arr in[2] = { rnd(2, (int64_t[]){ N, K }, 0, 1), labels(EINC_I64, 1, (int64_t[]){ N }, 0, K - 1) };
    int64_t am[N], bad3 = -1, bad0 = -1;
    arr in3[2] = { in[0], labels(EINC_I64, 1, (int64_t[]){ N }, 0, 2) };   /* valid targets for classes=3 */
    for (int64_t n = 0; n < N; n++) {
        am[n] = 0;
        for (int64_t c = 1; c < K; c++)
            if (get(&in[0], n * K + c) > get(&in[0], n * K + am[n]))
                am[n] = c;
        if (am[n] == 3 && bad3 < 0)
            bad3 = n;
        if (get(&in3[1], n) == 0 && bad0 < 0)
            bad0 = n;
    }
    assert_true(bad3 >= 0 && bad0 >= 0);
    ref r = mkref(EINC_I64, 2, (int64_t[]){ K, K }, 1), rt = mkref(EINC_I64, 2, (int64_t[]){ K, K }, 1);
    for (int64_t n = 0; n < N; n++) {
        r.v[(int64_t)get(&in[1], n) * K + am[n]] += 1;          /* rows: the true class */
        rt.v[am[n] * K + (int64_t)get(&in[1], n)] += 1;
    }
    check("input probs: f32[N, K]\ninput target: i64[N]\nreturn confusion(argmax(probs, 1), target, classes=4)\n",
          2, in, &r);
    check("input probs: f32[N, K]\ninput target: i64[N]\nreturn confusion(target, argmax(probs, dim=1), classes=K)\n",
          2, in, &rt);
    free(r.v);
    free(rt.v);
    const char *src3 = "input probs: f32[N, K]\ninput target: i64[N]\n"
                       "return f1(confusion(argmax(probs, 1), target, classes=3))\n";
    const char *src0 = "input probs: f32[N, K]\ninput target: i64[N]\n"
                       "return confusion(argmax(probs, 1) * 0, target - 1, classes=3)\n";
    for (size_t t = 0; t < sizeof targets / sizeof *targets; t++) {
        einc_error err;
        char want[160];
        run_status(targets[t], src3, 2, in3, &err);
        snprintf(want, sizeof want, "confusion: argmax(probs, 1) computed the label 3 at [%lld], outside [0, 3) "
                 "(classes=3)", (long long)bad3);
        assert_int_equal(err.status, EINC_ERR_ARG);
        assert_string_equal(err.message, want);
        assert_int_equal(err.begin, strstr(src3, "argmax") - src3);
        assert_int_equal(err.end, strstr(src3, ", target") - src3);
        run_status(targets[t], src0, 2, in3, &err);
        snprintf(want, sizeof want, "confusion: target - 1 computed the label -1 at [%lld], outside [0, 3) "
                 "(classes=3)", (long long)bad0);
        assert_int_equal(err.status, EINC_ERR_ARG);
        assert_string_equal(err.message, want);
    }
    free_arrs(2, in);
    free_arrs(1, &in3[1]);
}

static void test_jit_ran(void **state)
{
    (void)state;
    /* every differential test above also ran on the JIT, unless this build has none (runs
       last, after them) */
    einc_kernel *k = NULL;
    einc_status st = einc_compile_model(ctx, "input x: f32[N]\nreturn x\n", &(einc_options){ .target = EINC_TARGET_CPU },
                                        &k, NULL);
    einc_kernel_free(k);
    if (st == EINC_ERR_UNSUPPORTED)
        skip();
    assert_int_equal(st, EINC_OK);
    assert_int_equal(jit_skips, 0);
    assert_true(jit_runs > 0);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        examples_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_conv2d),
        cmocka_unit_test(test_conv2d_tiles),
        cmocka_unit_test(test_batchnorm2d),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_elementwise),
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_flatten),
        cmocka_unit_test(test_argmax),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_pool_identity),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_squeeze),
        cmocka_unit_test(test_arith),
        cmocka_unit_test(test_patterns),
        cmocka_unit_test(test_def),
        cmocka_unit_test(test_compose),
        cmocka_unit_test(test_int_to_float),
        cmocka_unit_test(test_reshape),
        cmocka_unit_test(test_strided),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_example_attention),
        cmocka_unit_test(test_example_metrics),
        cmocka_unit_test(test_example_mlp),
        cmocka_unit_test(test_example_resblock),
        cmocka_unit_test(test_large),
        cmocka_unit_test(test_confusion_computed),
        cmocka_unit_test(test_jit_ran),
    };
    if (getenv("EINC_TEST_FILTER"))    /* one test while iterating: EINC_TEST_FILTER=test_pool */
        cmocka_set_test_filter(getenv("EINC_TEST_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
