/*
 * test_model_text.c — the layer language (.einl) beyond its values: the exact text, span
 * and status of the model errors; long and deep models as a generator writes them (20,000-term
 * sums, 30,000 chained assignments), nesting past the parser's limits and a byte order
 * mark; the resblock's fusion into one loop nest, and the JIT's determinism.  Split from
 * test_model.c (the values), whose helpers model_common.h holds.
 */
#include "einc.h"
#include "model_common.h"
#include "alloc.h"
#include "einl.h"

/* ---- errors ------------------------------------------------------------------------------------------------- */

enum { AT_COMPILE, AT_OUTPUT, AT_RUN };

typedef struct err_case {
    const char *src;
    int n;                  /* arrays, made by the test from shapes[] and dtypes[] */
    einc_dtype dtype[6];
    int ndim[6];
    int64_t shape[6][4];
    int phase;              /* where the error comes: compile, einc_kernel_output, run */
    einc_status status;
    const char *message;
    const char *span;       /* the culprit's text, its nth occurrence in src; NULL: the end */
    int nth;
    int span_len;           /* 0: strlen(span) */
    const char *sizes;      /* "N=4": one SIZE=N word, or NULL */
} err_case;

static int offset_of(const char *text, const char *needle, int nth)
{
    const char *p = text;
    for (;;) {
        const char *q = strstr(p, needle);
        if (!q)
            fail_msg("'%s' is not in the model:\n%s", needle, text);
        if (nth-- == 0)
            return (int)(q - text);
        p = q + 1;
    }
}

#define F32 EINC_F32
#define I64 EINC_I64

static const err_case err_cases[] = {
    /* 0: conv2d channel mismatch, at the weight */
    { "input x: f32[N, C, H, W]\nparam w: f32[4, 3, 3, 3]\nreturn conv2d(x, w)\n", 2, { F32, F32 }, { 4, 4 },
      { { 3, 5, 7, 6 }, { 4, 3, 3, 3 } }, AT_OUTPUT, EINC_ERR_SHAPE,
      "conv2d: weight [4, 3, 3, 3] expects 3 input channels (3 per group x groups=1), but x [3, 5, 7, 6] has 5 channels",
      "w)", 0, 1, NULL },
    /* 1: groups not dividing the channels, at the groups value */
    { "input x: f32[N, C, H, W]\nparam w: f32[4, 1, 3, 3]\nreturn conv2d(x, w, groups=2)\n", 2, { F32, F32 }, { 4, 4 },
      { { 3, 5, 7, 6 }, { 4, 1, 3, 3 } }, AT_OUTPUT, EINC_ERR_SHAPE,
      "conv2d: groups=2 must divide both the input's 5 channels and the weight's 4 output channels",
      "2)", 0, 1, NULL },
    /* 2: the output size formula with its numbers */
    { "input x: f32[N, C, H, W]\nparam w: f32[4, 5, 5, 3]\ny = conv2d(x, w, padding=1)\nreturn y\n", 2, { F32, F32 }, { 4, 4 },
      { { 3, 5, 2, 6 }, { 4, 5, 5, 3 } }, AT_OUTPUT, EINC_ERR_SHAPE,
      "conv2d: the output height is (2 + 2*1 - 1*(5 - 1) - 1)/1 + 1 = 0: the kernel is larger than the padded input",
      "conv2d(x, w, padding=1)", 0, 0, NULL },
    /* 3: broadcasting, at the whole binary expression */
    { "input a: f32[N, C]\ninput b: f32[K]\nreturn relu(a) + b * 2\n", 2, { F32, F32 }, { 2, 1 },
      { { 3, 5 }, { 4 } }, AT_OUTPUT, EINC_ERR_SHAPE,
      "shapes [3, 5] and [4] do not broadcast: dimension -1 is 5 in one and 4 in the other",
      "relu(a) + b * 2", 0, 0, NULL },
    /* 4: an unknown function, at its name */
    { "input x: f32[N]\nreturn 1 + frobnicate(x, 2)\n", 1, { F32 }, { 1 }, { { 3 } }, AT_OUTPUT, EINC_ERR_SYNTAX,
      "unknown function 'frobnicate'", "frobnicate", 0, 0, NULL },
    /* 5: an unknown keyword argument, at the keyword */
    { "input x: f32[N, C]\nreturn softmax(x, axis=1)\n", 1, { F32 }, { 2 }, { { 3, 5 } }, AT_OUTPUT, EINC_ERR_ARG,
      "softmax() got an unexpected keyword argument 'axis'", "axis", 0, 0, NULL },
    /* 6: a missing required argument, at the call */
    { "input x: f32[N, D]\nreturn linear(x)\n", 1, { F32 }, { 2 }, { { 3, 5 } }, AT_OUTPUT, EINC_ERR_ARG,
      "linear() missing required argument 'weight'", "linear(x)", 0, 0, NULL },
    /* 7: a name not defined */
    { "input x: f32[N]\ny = x * 2\nreturn x + z\n", 1, { F32 }, { 1 }, { { 3 } }, AT_OUTPUT, EINC_ERR_SYNTAX,
      "name 'z' is not defined", "z", 0, 0, NULL },
    /* 8: a block sees only its parameters, not the model's names */
    { "input x: f32[N]\ndef f(a) {\n    return a + x\n}\nreturn f(x)\n", 1, { F32 }, { 1 }, { { 3 } }, AT_OUTPUT,
      EINC_ERR_SYNTAX, "name 'x' is not defined", "x\n}", 0, 1, NULL },
    /* 9: a block used before its definition */
    { "input x: f32[N]\ny = f(x)\ndef f(a) {\n    return a\n}\nreturn y\n", 1, { F32 }, { 1 }, { { 3 } }, AT_OUTPUT,
      EINC_ERR_SHAPE, "block 'f' is used before its definition", "f(x)", 0, 1, NULL },
    /* 10: a block calling a later block */
    { "input x: f32[N]\ndef f(a) {\n    return g(a)\n}\ndef g(a) {\n    return a\n}\nreturn f(x)\n", 1, { F32 }, { 1 },
      { { 3 } }, AT_OUTPUT, EINC_ERR_SHAPE, "block 'g' is used before its definition", "g(a)", 0, 1, NULL },
    /* 11: a block without return, at its name */
    { "input x: f32[N]\ndef f(a) {\n    b = a * 2\n}\nreturn f(x)\n", 1, { F32 }, { 1 }, { { 3 } }, AT_OUTPUT,
      EINC_ERR_SHAPE, "block 'f' has no return", "f(a)", 0, 1, NULL },
    /* 12: a bound array's dtype contradicting its declaration */
    { "input x: f32[N, C]\nparam w: f32[C]\nreturn x * w\n", 2, { F32, I64 }, { 2, 1 }, { { 3, 5 }, { 5 } }, AT_OUTPUT,
      EINC_ERR_DTYPE, "param 'w' is declared float32[C], but the array is int64[5]", "param w: f32[C]", 0, 0, NULL },
    /* 13: a bound array's rank contradicting its declaration */
    { "input x: f32[N, C]\nparam w: f32[C]\nreturn x * w\n", 2, { F32, F32 }, { 2, 2 }, { { 3, 5 }, { 1, 5 } }, AT_OUTPUT,
      EINC_ERR_SHAPE, "param 'w' is declared float32[C], but the array is float32[1, 5]", "param w: f32[C]", 0, 0, NULL },
    /* 14: a fixed dimension contradicted */
    { "input x: f32[N, 5]\nreturn x\n", 1, { F32 }, { 2 }, { { 3, 4 } }, AT_OUTPUT, EINC_ERR_SHAPE,
      "input 'x': dimension 1 is declared 5, but the array's is 4", "5", 0, 0, NULL },
    /* 15: one size name, two sizes */
    { "input x: f32[N, C]\ninput y: f32[C, N]\nreturn x + 1\n", 2, { F32, F32 }, { 2, 2 }, { { 3, 5 }, { 5, 4 } },
      AT_OUTPUT, EINC_ERR_SHAPE, "size N is 3 in 'x' but 4 in 'y'", "N]\nreturn", 0, 1, NULL },
    /* 16: a SIZE=N word the arrays contradict */
    { "input x: f32[N, C]\nreturn x\n", 1, { F32 }, { 2 }, { { 3, 5 } }, AT_OUTPUT, EINC_ERR_SHAPE,
      "size N is 4 on the command line, but input 'x' has N=3", "N", 0, 0, "N=4" },
    /* 17: a label outside [0, classes), found when the model runs */
    { "input pred: i64[N]\ninput target: i64[N]\nreturn confusion(pred, target, classes=3)\n", 2, { I64, I64 }, { 1, 1 },
      { { 5 }, { 5 } }, AT_RUN, EINC_ERR_ARG,
      "confusion: target holds the label 7 at [3], outside [0, 3) (classes=3)", "target, classes", 0, 6, NULL },
    /* 18: a negative prediction */
    { "input pred: i64[N]\ninput target: i64[N]\nreturn f1(confusion(pred, target, classes=3))\n", 2, { I64, I64 },
      { 1, 1 }, { { 5 }, { 5 } }, AT_RUN, EINC_ERR_ARG,
      "confusion: pred holds the label -1 at [1], outside [0, 3) (classes=3)", "pred, target, classes", 0, 4, NULL },
    /* 19: squeeze of a dimension that is not 1, at the dim */
    { "input x: f32[N, C]\nreturn squeeze(x, 1)\n", 1, { F32 }, { 2 }, { { 3, 5 } }, AT_OUTPUT, EINC_ERR_SHAPE,
      "squeeze: dimension 1 of [3, 5] has size 5, not 1", "1)", 0, 1, NULL },
    /* 20: layernorm's weight against the normalized shape */
    { "input x: f32[B, T, D]\nparam w: f32[T]\nreturn layernorm(x, w)\n", 2, { F32, F32 }, { 3, 1 },
      { { 3, 5, 7 }, { 5 } }, AT_OUTPUT, EINC_ERR_SHAPE,
      "layernorm: weight has shape [5], but the normalized shape of input [3, 5, 7] is [7]", "w)", 0, 1, NULL },
    /* 21: no top-level return: the span is the end of the text */
    { "input x: f32[N]\ny = relu(x)\n", 1, { F32 }, { 1 }, { { 3 } }, AT_OUTPUT, EINC_ERR_SYNTAX,
      "the model has no top-level return", NULL, 0, 0, NULL },
    /* 22: linear's weight against the features */
    { "input x: f32[N, D]\nparam w: f32[4, 6]\nreturn linear(x, w)\n", 2, { F32, F32 }, { 2, 2 }, { { 3, 5 }, { 4, 6 } },
      AT_OUTPUT, EINC_ERR_SHAPE,
      "linear: weight has shape [4, 6], but the input [3, 5] has 5 features (weight must be [out, 5])", "w)", 0, 1, NULL },
    /* 23: batchnorm in inference needs the running statistics */
    { "input x: f32[N, C, H, W]\nreturn batchnorm2d(x, none, none)\n", 1, { F32 }, { 4 }, { { 3, 5, 7, 6 } }, AT_OUTPUT,
      EINC_ERR_SHAPE, "batchnorm2d: running_mean is none, which needs training=1 (normalise with the batch's statistics)",
      "batchnorm2d(x, none, none)", 0, 0, NULL },
    /* 24: softmax's dim out of range */
    { "input x: f32[N, C]\nreturn softmax(x, dim=2)\n", 1, { F32 }, { 2 }, { { 3, 5 } }, AT_OUTPUT, EINC_ERR_ARG,
      "softmax: dim 2 is out of range for a 2-d tensor (expected -2 to 1)", "2)", 0, 1, NULL },
    /* 25: an error inside a pattern string points into the string */
    { "input x: f32[N, C]\nreturn rearrange(x, 'b c -> b k')\n", 1, { F32 }, { 2 }, { { 3, 5 } }, AT_OUTPUT, EINC_ERR_SHAPE,
      "rearrange: index 'k' appears in the output but in no input; give its size (k=N) to repeat along it",
      "k'", 0, 1, NULL },
    /* 25b: a diagonal is einsum()'s, as in einops; rearrange() refuses it */
    { "input x: f32[N, N]\nreturn rearrange(x, 'i i -> i')\n", 1, { F32 }, { 2 }, { { 3, 3 } }, AT_OUTPUT, EINC_ERR_SHAPE,
      "rearrange: an axis repeated in the input is a diagonal, which einsum() takes and rearrange() does not (as in einops)",
      "'i i -> i'", 0, 0, NULL },
    /* 26: a metric of a float matrix */
    { "input m: f32[K, K]\nreturn precision(m)\n", 1, { F32 }, { 2 }, { { 3, 3 } }, AT_OUTPUT, EINC_ERR_SHAPE,
      "precision: expected an integer confusion matrix (from confusion()), got float32", "m)", 0, 1, NULL },
    /* 27: conv2d with an unknown padding word */
    { "input x: f32[N, C, H, W]\nparam w: f32[4, 5, 3, 3]\nreturn conv2d(x, w, padding='full')\n", 2, { F32, F32 },
      { 4, 4 }, { { 3, 5, 7, 6 }, { 4, 5, 3, 3 } }, AT_OUTPUT, EINC_ERR_SHAPE,
      "conv2d: padding 'full' is not 'same', 'valid' or an integer", "'full'", 0, 0, NULL },
    /* 28: a second top-level return */
    { "input x: f32[N]\nreturn x\nreturn x * 2\n", 1, { F32 }, { 1 }, { { 3 } }, AT_OUTPUT, EINC_ERR_SYNTAX,
      "a second top-level return", "return x * 2", 0, 0, NULL },
    /* 29: the same argument twice */
    { "input x: f32[N, C]\nreturn softmax(x, 1, dim=0)\n", 1, { F32 }, { 2 }, { { 3, 5 } }, AT_OUTPUT, EINC_ERR_ARG,
      "softmax() got multiple values for argument 'dim'", "dim", 0, 0, NULL },
    /* 30: a block's parameters are its keywords */
    { "input x: f32[N]\ndef f(a, b) {\n    return a * b\n}\nreturn f(x, c=x)\n", 1, { F32 }, { 1 }, { { 3 } }, AT_OUTPUT,
      EINC_ERR_ARG, "f() got an unexpected keyword argument 'c'", "c=", 0, 1, NULL },
    /* 31: a block given too many arguments, at the first one too many */
    { "input x: f32[N]\ndef f(a) {\n    return a\n}\nreturn f(x, x * 2)\n", 1, { F32 }, { 1 }, { { 3 } }, AT_OUTPUT,
      EINC_ERR_ARG, "f() takes at most 1 argument", "x * 2", 0, 0, NULL },
    /* 32: the output size formula floors a negative numerator, as Python's // */
    { "input x: f32[N, C, H, W]\nparam w: f32[4, 5, 5, 3]\nreturn conv2d(x, w, stride=2)\n", 2, { F32, F32 }, { 4, 4 },
      { { 3, 5, 2, 6 }, { 4, 5, 5, 3 } }, AT_OUTPUT, EINC_ERR_SHAPE,
      "conv2d: the output height is (2 + 2*0 - 1*(5 - 1) - 1)/2 + 1 = -1: the kernel is larger than the padded input",
      "conv2d(x, w, stride=2)", 0, 0, NULL },
    /* 33: a block missing an argument */
    { "input x: f32[N]\ndef f(a, b) {\n    return a * b\n}\nreturn f(x)\n", 1, { F32 }, { 1 }, { { 3 } }, AT_OUTPUT,
      EINC_ERR_ARG, "f() missing required argument 'b'", "f(x)", 0, 0, NULL },
    /* 34: torch's spelling of a built-in gets a suggestion */
    { "input x: f32[N]\nreturn layer_norm(x)\n", 1, { F32 }, { 1 }, { { 3 } }, AT_OUTPUT, EINC_ERR_SYNTAX,
      "unknown function 'layer_norm' (did you mean 'layernorm'?)", "layer_norm", 0, 0, NULL },
    /* 35: a typo, within two edits */
    { "input x: f32[N]\nreturn sofmax(x)\n", 1, { F32 }, { 1 }, { { 3 } }, AT_OUTPUT, EINC_ERR_SYNTAX,
      "unknown function 'sofmax' (did you mean 'softmax'?)", "sofmax", 0, 0, NULL },
    /* 36: an alias torch has */
    { "input x: f32[N]\nreturn swish(x)\n", 1, { F32 }, { 1 }, { { 3 } }, AT_OUTPUT, EINC_ERR_SYNTAX,
      "unknown function 'swish' (did you mean 'silu'?)", "swish", 0, 0, NULL },
    /* 37: gelu's approximate is one of two strings */
    { "input x: f32[N]\nreturn gelu(x, approximate='tan')\n", 1, { F32 }, { 1 }, { { 3 } }, AT_OUTPUT,
      EINC_ERR_ARG, "gelu: approximate must be 'none' or 'tanh', not 'tan'", "'tan'", 0, 0, NULL },
    /* 38: flatten's dims in order */
    { "input x: f32[N, C, H]\nreturn flatten(x, 2, 1)\n", 1, { F32 }, { 3 }, { { 3, 4, 5 } }, AT_OUTPUT,
      EINC_ERR_ARG, "flatten: start_dim 2 comes after end_dim 1", "flatten(x, 2, 1)", 0, 0, NULL },
    /* 39: softplus's beta positive */
    { "input x: f32[N]\nreturn softplus(x, beta=0)\n", 1, { F32 }, { 1 }, { { 3 } }, AT_OUTPUT, EINC_ERR_ARG,
      "softplus: beta must be a positive number and threshold a finite one", "0)", 0, 1, NULL },
    /* 40: pooling's padding at most half the kernel, as torch */
    { "input x: f32[N, C, H, W]\nreturn max_pool2d(x, 2, padding=2)\n", 1, { F32 }, { 4 }, { { 1, 2, 6, 6 } },
      AT_OUTPUT, EINC_ERR_ARG, "max_pool2d: padding should be at most half of kernel_size, but got padding=2 and "
      "kernel_size=2", "max_pool2d(x, 2, padding=2)", 0, 0, NULL },
    /* 41: pooling takes floats */
    { "input x: i64[N, C, H, W]\nreturn avg_pool2d(x, 2)\n", 1, { I64 }, { 4 }, { { 1, 2, 6, 6 } }, AT_OUTPUT,
      EINC_ERR_SHAPE, "avg_pool2d: x must be a float tensor, not int64", "x, 2", 0, 1, NULL },
    /* 42: a window larger than the input */
    { "input x: f32[N, C, H, W]\nreturn max_pool2d(x, 5)\n", 1, { F32 }, { 4 }, { { 1, 2, 4, 6 } }, AT_OUTPUT,
      EINC_ERR_SHAPE, "max_pool2d: the output height would be empty: input 4, kernel_size 5, padding 0, dilation 1",
      "max_pool2d(x, 5)", 0, 0, NULL },
};

/* Bad labels for the run-time cases: target[3] = 7, pred[1] = -1. */
static void fill_labels(int which, arr *in)
{
    for (int i = 0; i < 2; i++)
        for (int64_t e = 0; e < count(&in[i]); e++)
            set(&in[i], e, (double)(e % 3));
    if (which == 17)
        set(&in[1], 3, 7);
    if (which == 18)
        set(&in[0], 1, -1);
}

static void test_errors(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof err_cases / sizeof *err_cases; c++) {
        const err_case *e = &err_cases[c];
        arr in[6];
        for (int i = 0; i < e->n; i++)
            in[i] = e->dtype[i] == EINC_F32 ? rnd(e->ndim[i], e->shape[i], -1, 1) : mk(e->dtype[i], e->ndim[i], e->shape[i]);
        if (e->phase == AT_RUN)
            fill_labels((int)c, in);
        einc_size size = { "N", 0 };
        if (e->sizes)
            size.value = atoll(strchr(e->sizes, '=') + 1);
        int begin = e->span ? offset_of(e->src, e->span, e->nth) : (int)strlen(e->src);
        int end = e->span ? begin + (e->span_len ? e->span_len : (int)strlen(e->span)) : begin;
        for (size_t t = 0; t < sizeof targets / sizeof *targets; t++) {
            einc_options opt = { .target = targets[t], .nsizes = e->sizes ? 1 : 0, .sizes = &size };
            einc_kernel *k = NULL;
            einc_error err = { 0 };
            einc_status st = einc_compile_model(ctx, e->src, &opt, &k, &err);
            if (targets[t] == EINC_TARGET_CPU && st == EINC_ERR_UNSUPPORTED)
                continue;
            int phase = AT_COMPILE;
            arr out = { 0 };
            if (st == EINC_OK) {
                einc_tensor ti[6];
                for (int i = 0; i < e->n; i++)
                    ti[i] = tensor_of(&in[i]);
                einc_dtype dt;
                int nd;
                int64_t sh[EINC_MAX_RANK];
                phase = AT_OUTPUT;
                st = einc_kernel_output(k, e->n, ti, &dt, &nd, sh, &err);
                if (st == EINC_OK) {
                    phase = AT_RUN;
                    out = mk(dt, nd, sh);
                    poison(&out);
                    einc_tensor to = tensor_of(&out);
                    st = einc_kernel_run(k, e->n, ti, &to, &err);
                }
            }
            einc_kernel_free(k);
            free(out.data);
            if (st == EINC_OK)
                fail_msg("case %zu (%s): no error, expected '%s'\n%s", c, target_name(targets[t]), e->message,
                         e->src);
            if (phase != e->phase || err.status != e->status || err.status != st ||
                strcmp(err.message, e->message) != 0 ||
                err.begin != begin || err.end != end)
                fail_msg("case %zu (%s):\n  got      phase %d status %d [%d, %d) '%s'\n"
                         "  expected phase %d status %d [%d, %d) '%s'\n%s",
                         c, target_name(targets[t]), phase, (int)err.status, err.begin, err.end, err.message,
                         e->phase, (int)e->status, begin, end, e->message, e->src);
        }
        free_arrs(e->n, in);
    }
}

/* ---- long and deep models ------------------------------------------------------------------------------------ */

/* A growing text for generated models. */
typedef struct text {
    char *s;
    size_t n, cap;
} text;

static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    while (t->n + (size_t)k + 1 > t->cap) {
        t->cap = t->cap ? 2 * t->cap : 4096;
        t->s = realloc(t->s, t->cap);
        assert_non_null(t->s);
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
    va_end(ap);
    t->n += (size_t)k;
}

/*
 * Elaborates src (every size N = n) and checks the IR's invariant that every walker after
 * elaboration relies on: no expression deeper than IR_MAX_EXPR_DEPTH.  Returns the number
 * of statements.
 */
static int ir_statements(const char *src, int64_t n)
{
    arena A = { 0 };
    einc_error err = { 0 };
    cc c = { .A = &A, .src = src, .err = &err };
    el_model *m = einl_parse(&c);
    ir_prog *p = m ? einl_elaborate(&c, m, 1, &(einc_size){ "N", n }, 0, NULL) : NULL;
    if (!p)
        fail_msg("elaboration failed: %s", err.message);
    for (int s = 0; s < p->nstmt; s++) {
        int d = ir_expr_depth(p->stmt[s].rhs);
        if (d > IR_MAX_EXPR_DEPTH)
            fail_msg("statement %d of %d is deeper than %d", s, p->nstmt, IR_MAX_EXPR_DEPTH);
    }
    int k = p->nstmt;
    arena_free(&A);
    return k;
}

/*
 * What a generator writes: a sum of 20,000 terms, a product of 100,001 factors, 30,000
 * chained assignments (each once a stack overflow in elaboration), a value squared 40
 * times and gelu applied 30 times in turn (trees that double at each step), brackets and
 * calls nested to the limit.  Values are chosen so float32 computes them exactly (or, for
 * gelu, within a few ulps a step): a term lost or counted twice changes the result.
 */
static void test_long_models(void **state)
{
    (void)state;
    int64_t N = 7;
    arr in[2] = { mk(EINC_F32, 1, &N), mk(EINC_F32, 1, &N) };
    static const float xs[] = { 2, 4, -2, 0.25f, -1, 1, 0.5f };
    for (int64_t i = 0; i < N; i++) {
        set(&in[0], i, xs[i]);
        set(&in[1], i, 1 / xs[i]);
    }
    ref r = mkref(EINC_F32, 1, &N, 1);
    text t = { 0 };

    put(&t, "input x: f32[N]\ninput y: f32[N]\nreturn x");
    for (int i = 1; i < 20000; i++)
        put(&t, i % 2 ? " + y" : " + x");
    for (int64_t i = 0; i < N; i++)
        r.v[i] = 10000 * (xs[i] + 1 / (double)xs[i]);
    check(t.s, 2, in, &r);
    assert_true(ir_statements(t.s, N) <= 20000 / 128);

    /*
     * x · y = 1 exactly, so every partial product is x or 1.  The JIT's share is 20,001
     * factors: LLVM takes seconds over 100,001 (about 8 s of CPU), and what it would add
     * is more of the same nests.
     */
    for (int n = 20001; n <= 100001; n += 80000) {
        t.n = 0;
        put(&t, "input x: f32[N]\ninput y: f32[N]\nreturn x");
        for (int i = 1; i < n; i++)
            put(&t, i % 2 ? " * y" : " * x");
        for (int64_t i = 0; i < N; i++)
            r.v[i] = xs[i];
        for (size_t k = 0; k < sizeof targets / sizeof *targets; k++) {
            arr out = { 0 };
            if ((n < 100001 || targets[k] == EINC_TARGET_INTERP) && run_model(targets[k], t.s, 2, in, NULL, 0, &out))
                compare(targets[k], t.s, &out, &r);
            free(out.data);
        }
        assert_true(ir_statements(t.s, N) <= n / 128);
    }

    t.n = 0;
    put(&t, "input x: f32[N]\ninput y: f32[N]\ny0 = x\n");
    for (int i = 1; i <= 30000; i++)
        put(&t, "y%d = y%d + x\n", i, i - 1);
    put(&t, "return y30000\n");
    for (int64_t i = 0; i < N; i++)
        r.v[i] = 30001.0 * xs[i];
    check(t.s, 2, in, &r);
    assert_true(ir_statements(t.s, N) <= 30000 / 128);

    t.n = 0;        /* 2^40 nodes if the tree were kept whole */
    put(&t, "input x: f32[N]\ninput y: f32[N]\nz = x * y - 2\n");
    for (int i = 0; i < 40; i++)
        put(&t, "z = z * z\n");
    put(&t, "return z\n");
    for (int64_t i = 0; i < N; i++)
        r.v[i] = 1;
    check(t.s, 2, in, &r);
    assert_true(ir_statements(t.s, N) <= 8);

    t.n = 0;
    put(&t, "input x: f32[N]\ninput y: f32[N]\nz = x\n");
    for (int i = 0; i < 30; i++)
        put(&t, "z = gelu(z)\n");
    put(&t, "return z\n");
    ref g = mkref(EINC_F32, 1, &N, 30);
    for (int64_t i = 0; i < N; i++) {
        g.v[i] = xs[i];
        for (int k = 0; k < 30; k++)
            g.v[i] = f_gelu(g.v[i]);
    }
    check(t.s, 2, in, &g);
    free(g.v);

    /* 64 brackets, the most the parser takes: groups, negations, calls */
    static const char *const open[] = { "(", "-(", "relu(" };
    for (int k = 0; k < 3; k++) {
        t.n = 0;
        put(&t, "input x: f32[N]\ninput y: f32[N]\nreturn ");
        for (int i = 0; i < 64; i++)
            put(&t, "%s", open[k]);
        put(&t, "x");
        for (int i = 0; i < 64; i++)
            put(&t, ")");
        for (int64_t i = 0; i < N; i++)
            r.v[i] = k == 2 ? f_relu(xs[i]) : xs[i];
        check(t.s, 2, in, &r);
    }
    free(r.v);
    free(t.s);
    free_arrs(2, in);
}

/*
 * Long chains of the operators whose C spelling nests deepest: run right, and emitted as C
 * they stay within the 256 nested brackets, parentheses and braces clang accepts.
 */
static void test_emitted_nesting(void **state)
{
    (void)state;
    int64_t N = 5;
    arr x = rnd(1, &N, -2, 2);
    ref r = mkref(EINC_F32, 1, &N, 4);
    static const char *const step[] = { "z = -z", "z = sigmoid(z)", "z = exp(-z) * 0.5" };
    text t = { 0 };
    for (int k = 0; k < 3; k++) {
        t.n = 0;
        put(&t, "input x: f32[N]\nz = x\n");
        for (int i = 0; i < 400; i++)
            put(&t, "%s\n", step[k]);
        put(&t, "return z\n");
        for (int64_t i = 0; i < N; i++) {
            double z = get(&x, i);
            for (int j = 0; j < 400; j++)
                z = k == 0 ? -z : k == 1 ? 1 / (1 + exp(-z)) : exp(-z) * 0.5;
            r.v[i] = z;
        }
        check(t.s, 1, &x, &r);

        einc_options opt = { .target = EINC_TARGET_INTERP, .nsizes = 1, .sizes = &(einc_size){ "N", N } };
        einc_kernel *kn = NULL;
        einc_error err = { 0 };
        assert_int_equal(einc_compile_model(ctx, t.s, &opt, &kn, &err), EINC_OK);
        char *c = einc_kernel_emit(kn, EINC_EMIT_C, NULL, EINC_F32, NULL, &err);
        if (!c)
            fail_msg("emit: %s", err.message);
        int depth = 0, deepest = 0;
        for (const char *p = c; *p; p++) {
            depth += (*p == '(' || *p == '[' || *p == '{') - (*p == ')' || *p == ']' || *p == '}');
            deepest = depth > deepest ? depth : deepest;
        }
        if (deepest > 256)
            fail_msg("'%s' 400 times: brackets nest %d deep in the emitted C", step[k], deepest);
        free(c);
        einc_kernel_free(kn);
    }
    free(t.s);
    free(r.v);
    free(x.data);
}

/* Compiling src fails with exactly this message, at [begin, end). */
static void compile_err(const char *src, const char *message, int begin, int end)
{
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    einc_options opt = { .target = EINC_TARGET_INTERP };
    einc_status st = einc_compile_model(ctx, src, &opt, &k, &err);
    einc_kernel_free(k);
    assert_int_equal(st, EINC_ERR_SYNTAX);
    assert_string_equal(err.message, message);
    assert_int_equal(err.begin, begin);
    assert_int_equal(err.end, end);
}

/* Nesting past the parser's limits is refused with a message, never a crash. */
static void test_too_deep(void **state)
{
    (void)state;
    text t = { 0 };
    static const char *const open[] = { "(", "-(", "relu(" };
    for (int k = 0; k < 3; k++) {
        t.n = 0;
        put(&t, "input x: f32[N]\nreturn ");
        int at = (int)t.n + 64 * (int)strlen(open[k]) + (int)strlen(open[k]) - 1;
        for (int i = 0; i < (k == 2 ? 50000 : 100000); i++)
            put(&t, "%s", open[k]);
        put(&t, "x");
        for (int i = 0; i < (k == 2 ? 50000 : 100000); i++)
            put(&t, ")");
        compile_err(t.s, "brackets nested too deeply (at most 64)", at, at + 1);
    }
    t.n = 0;
    put(&t, "input x: f32[N]\nreturn ");
    for (int i = 0; i < 100000; i++)
        put(&t, "-");
    put(&t, "x\n");
    compile_err(t.s, "more than 64 unary minus signs in a row", 23 + 64, 23 + 65);
    free(t.s);
}

/* A UTF-8 byte order mark before a model (as some editors save one) is skipped. */
static void test_bom(void **state)
{
    (void)state;
    int64_t N = 5;
    arr x = rnd(1, &N, -2, 2);
    ref r = mkref(EINC_F32, 1, &N, 1);
    for (int64_t i = 0; i < N; i++)
        r.v[i] = 2 * get(&x, i) + 1;
    check("\xEF\xBB\xBF# saved by an editor that marks UTF-8\ninput x: f32[N]\nreturn 2 * x + 1\n", 1, &x, &r);
    free(r.v);
    free(x.data);
    const char *src = "\xEF\xBB\xBFinput x: f32[N]\nreturn x + $\n";
    compile_err(src, "unexpected character '$'", offset_of(src, "$", 0), offset_of(src, "$", 0) + 1);
}

/* ---- fusion, determinism ------------------------------------------------------------------------------------ */

static const char *resblock5 =
    "input x: f32[N, 5, H, W]\n"
    "param w: f32[5, 5, 3, 3]\n"
    "param mean: f32[5]\n"
    "param var: f32[5]\n"
    "param gamma: f32[5]\n"
    "param beta: f32[5]\n"
    "\n"
    "def block(x, w, mean, var, gamma, beta) {\n"
    "    y = conv2d(x, w, stride=1, padding=1)\n"
    "    y = batchnorm2d(y, mean, var, gamma, beta, eps=1e-5)\n"
    "    return relu(y)\n"
    "}\n"
    "\n"
    "return x + block(x, w, mean, var, gamma, beta)\n";

/* The nest of the "fused groups" section that reads x and w: true when it writes out itself. */
static bool conv_nest_writes_out(const char *text)
{
    const char *g = strstr(text, "fused groups:");
    for (const char *l = g; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        size_t n = strcspn(l, "\n");
        char line[256];
        snprintf(line, sizeof line, "%.*s", (int)n, l);
        if (strstr(line, "reads x w "))
            return n >= 12 && strcmp(line + n - 12, "; writes out") == 0;
    }
    return false;
}

/* einc explain for src on target t, to free(); NULL when this build has no JIT for t. */
static char *explain_model(const char *src, einc_target t, int n, const einc_tensor *ti)
{
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    einc_status st = einc_compile_model(ctx, src, &(einc_options){ .target = t }, &k, &err);
    if (t == EINC_TARGET_CPU && st == EINC_ERR_UNSUPPORTED)
        return NULL;
    assert_int_equal(st, EINC_OK);
    char *text = einc_kernel_explain(k, n, ti, &err);
    einc_kernel_free(k);
    if (!text)
        fail_msg("explain failed: %s", err.message);
    return text;
}

static void test_fused(void **state)
{
    (void)state;
    arr in[6];
    resblock_inputs(in, 3, 5, 7, 6);
    ref r = ref_resblock(in, 1e-5);
    check(resblock5, 6, in, &r);        /* the fused nest computes the right thing */
    free(r.v);
    einc_tensor ti[6];
    for (int i = 0; i < 6; i++)
        ti[i] = tensor_of(&in[i]);
    for (size_t t = 0; t < sizeof targets / sizeof *targets; t++) {
        char *text = explain_model(resblock5, targets[t], 6, ti);
        if (!text)
            continue;
        /* one nest, and it is the convolution's: it reads x and w and writes out, nothing else */
        if (!strstr(text, "fused groups: 1 loop nest for") || !conv_nest_writes_out(text)) {
            const char *g = strstr(text, "fused groups:");
            char shown[1024];
            snprintf(shown, sizeof shown, "%s", g ? g : text);
            free(text);
            fail_msg("%s: explain does not say 'fused groups: 1 loop nest' writing out:\n%s",
                     target_name(targets[t]), shown);
        }
        /* the taps stay loops around the GEMM (the direct convolution runs them), not a k */
        const char *gm = strstr(text, "gemm m=");
        if (gm && strcspn(gm, "*") < strcspn(gm, ":")) {
            char shown[256];
            snprintf(shown, sizeof shown, "%.*s", (int)strcspn(gm, "\n"), gm);
            free(text);
            fail_msg("%s: the convolution's taps were run together with its channels: %s",
                     target_name(targets[t]), shown);
        }
        free(text);
    }
    free_arrs(6, in);
}

/* softmax, log_softmax and layernorm run row by row: one loop nest each, on the CPU. */
static void test_fused_rows(void **state)
{
    (void)state;
    static const char *const src[] = {
        "input x: f32[R, C]\nreturn softmax(x, dim=-1)\n",
        "input x: f32[R, C]\nreturn log_softmax(x, dim=1)\n",
        "input x: f32[R, C]\nparam g: f32[C]\nparam b: f32[C]\nreturn layernorm(x, g, b)\n",
    };
    int64_t sh[2] = { 6, 37 }, c[1] = { 37 };
    arr in[3] = { rnd(2, sh, -3, 3), rnd(1, c, -1, 1), rnd(1, c, -1, 1) };
    einc_tensor ti[3];
    for (int i = 0; i < 3; i++)
        ti[i] = tensor_of(&in[i]);
    for (size_t i = 0; i < sizeof src / sizeof *src; i++) {
        char *text = explain_model(src[i], EINC_TARGET_CPU, i == 2 ? 3 : 1, ti);
        if (!text) {            /* built without LLVM */
            free_arrs(3, in);
            skip();
        }
        const char *g = strstr(text, "fused groups:");
        bool one = g && strncmp(g, "fused groups: 1 loop nest for", 29) == 0;
        char shown[512];
        snprintf(shown, sizeof shown, "%s", g ? g : text);
        free(text);
        if (!one)
            fail_msg("not one loop nest:\n%s\n%s", src[i], shown);
    }
    free_arrs(3, in);
}

/*
 * A model that returns a temporary computed before others: the pipeline moves it last,
 * where split_reductions (a full sum) and the backends look for the output.
 */
static void test_output_not_last(void **state)
{
    (void)state;
    static const char src[] = "input x: f32[N, D]\n"
                              "t = reduce(x, 'a b ->', 'sum')\n"
                              "s = softmax(x, dim=-1)\n"
                              "return t\n";
    int64_t sx[2] = { 3, 4 };
    arr x = rnd(2, sx, -1, 1);
    ref r = mkref(EINC_F32, 0, NULL, 12);
    for (int64_t i = 0; i < 12; i++)
        r.v[0] += get(&x, i);
    check(src, 1, &x, &r);
    free(r.v);
    free_arrs(1, &x);
}

/* The JIT gives the same bits on every run of the same kernel (no race, no reordering). */
static void test_determinism(void **state)
{
    (void)state;
    const char *src =
        "input x: f32[B, D]\nparam w1: f32[H, D]\nparam b1: f32[H]\nparam w2: f32[K, H]\n"
        "h = layernorm(gelu(linear(x, w1, b1)))\n"
        "return log_softmax(linear(h, w2), dim=-1) + reduce(x, 'b d -> b ()', 'mean')\n";
    arr in[4] = { rnd(2, (int64_t[]){ 67, 301 }, -1, 1), rnd(2, (int64_t[]){ 129, 301 }, -1, 1),
                  rnd(1, (int64_t[]){ 129 }, -1, 1), rnd(2, (int64_t[]){ 33, 129 }, -1, 1) };
    einc_kernel *k = NULL;
    einc_error err = { 0 };
    einc_status st = einc_compile_model(ctx, src, &(einc_options){ .target = EINC_TARGET_CPU }, &k, &err);
    if (st == EINC_ERR_UNSUPPORTED) {
        free_arrs(4, in);
        skip();
    }
    assert_int_equal(st, EINC_OK);
    einc_tensor ti[4];
    for (int i = 0; i < 4; i++)
        ti[i] = tensor_of(&in[i]);
    arr out[2];
    for (int run = 0; run < 2; run++) {
        out[run] = mk(EINC_F32, 2, (int64_t[]){ 67, 33 });
        poison(&out[run]);
        einc_tensor to = tensor_of(&out[run]);
        if (einc_kernel_run(k, 4, ti, &to, &err) != EINC_OK)
            fail_msg("run %d: %s", run, err.message);
    }
    for (int64_t e = 0; e < count(&out[0]); e++)
        assert_false(isnan(get(&out[0], e)));
    assert_memory_equal(out[0].data, out[1].data, (size_t)count(&out[0]) * sizeof(float));
    einc_kernel_free(k);
    free_arrs(2, out);
    free_arrs(4, in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_long_models),
        cmocka_unit_test(test_emitted_nesting),
        cmocka_unit_test(test_too_deep),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_fused),
        cmocka_unit_test(test_fused_rows),
        cmocka_unit_test(test_output_not_last),
        cmocka_unit_test(test_determinism),
    };
    if (getenv("EINC_TEST_FILTER"))    /* one test while iterating: EINC_TEST_FILTER=test_bom */
        cmocka_set_test_filter(getenv("EINC_TEST_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
