/*
 * test_validate.c — the IR validators (compiler/ir/validate.c).  Real programs from every front
 * end, after each pass, pass both validators; hand-broken copies, one per invariant, fail
 * with an internal error whose exact text names the pass and the invariant.
 *
 * argv[1]: the examples directory (its *.einl models are elaborated and checked); argv[2]:
 * tests/golden (every expression there that binds is checked, with and without its arrays).
 */
#define _POSIX_C_SOURCE 200809L
#include "codegen.h"
#include "einl.h"
#include "loop.h"
#include "validate.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static const char *examples, *golden;

/* One compilation: its arena, context and error. */
typedef struct T {
    arena A;
    einc_error err;
    cc c;
} T;

static void t_init(T *t, const char *src)
{
    memset(t, 0, sizeof *t);
    t->c = (cc){ .A = &t->A, .src = src, .err = &t->err };
}

/*
 * expr bound to arrays of the given shapes (float32, or dtype; shape lists end with -1
 * between operands, -2 at the end), or symbolically when shapes is NULL.
 */
static ir_prog *bind_dtype(T *t, const char *expr, einc_reduce reduce, const int64_t *shapes,
                           einc_dtype dtype)
{
    einc_tensor in[8];
    int n = 0;
    for (const int64_t *s = shapes; s && *s != -2; n++) {
        in[n] = (einc_tensor){ .dtype = dtype, .shape = s };
        while (*s >= 0)
            s++, in[n].ndim++;
        s += *s == -1;
    }
    ast_expr *e = parse_expr(&t->c);
    bind_opts o = { .reduce = reduce, .dtype = dtype, .open_repeats = true };
    ir_prog *p = e ? bind_expr(&t->c, e, &o, n, shapes ? in : NULL) : NULL;
    if (!p)
        fail_msg("%s: %s", expr, t->err.message);
    return p;
}

static ir_prog *bind_shapes(T *t, const char *expr, einc_reduce reduce, const int64_t *shapes)
{
    return bind_dtype(t, expr, reduce, shapes, EINC_F32);
}

static void valid_ir(T *t, const ir_prog *p, const char *what)
{
    if (!ir_validate(&t->c, p, "test"))
        fail_msg("%s: %s", what, t->err.message);
}

static void valid_lp(T *t, const ir_prog *p, lp_target target, const char *what)
{
    lp_prog *lp = lower(&t->c, p, target, NULL);
    if (!lp)
        fail_msg("%s: lower: %s", what, t->err.message);
    if (!lp_validate(&t->c, lp, "test"))
        fail_msg("%s (%s): %s", what, target == LP_CPU ? "cpu" : "gpu", t->err.message);
}

static void check_passes(T *t, ir_prog *p, const char *what);

/* Every pass an expression goes through, validated after each, in float32 and dtype. */
static void check_expr_dtype(const char *expr, einc_reduce reduce, const int64_t *shapes,
                             einc_dtype dtype)
{
    einc_dtype dts[2] = { EINC_F32, dtype };
    for (int i = 0; i < 2; i++) {
        T t;
        t_init(&t, expr);
        check_passes(&t, bind_dtype(&t, expr, reduce, shapes, dts[i]), expr);
        arena_free(&t.A);
    }
}

static void check_expr(const char *expr, einc_reduce reduce, const int64_t *shapes)
{
    check_expr_dtype(expr, reduce, shapes, EINC_F32);
}

#define S(...) ((const int64_t[]){ __VA_ARGS__, -2 })

static void real_expressions(void **state)
{
    (void)state;
    check_expr("ik,kj->ij", EINC_REDUCE_SUM, S(64, 32, -1, 32, 48));
    check_expr("ik,kj->ij", EINC_REDUCE_SUM, NULL);
    check_expr("bhid,bhjd->bhij", EINC_REDUCE_SUM, S(2, 4, 16, 8, -1, 2, 4, 16, 8));
    check_expr("ab,bc,cd->ad", EINC_REDUCE_SUM, S(8, 9, -1, 9, 10, -1, 10, 11));
    check_expr("ab,bc,cd,de->ae", EINC_REDUCE_SUM, S(8, 90, -1, 90, 3, -1, 3, 70, -1, 70, 5));
    check_expr("ij->", EINC_REDUCE_SUM, S(100, 200));
    check_expr("ij->", EINC_REDUCE_SUM, NULL);
    check_expr("ijk->", EINC_REDUCE_MAX, S(10, 20, 30));
    check_expr("ii->i", EINC_REDUCE_SUM, S(5, 5));
    check_expr("ii", EINC_REDUCE_SUM, S(5, 5));
    check_expr("abcd->dcba", EINC_REDUCE_SUM, S(8, 16, 32, 64));
    check_expr("ij->ji", EINC_REDUCE_SUM, S(100, 70));
    check_expr("ij,ij->ij", EINC_REDUCE_SUM, S(4, 5, -1, 4, 5));
    check_expr("i,j->ij", EINC_REDUCE_SUM, S(4, -1, 5));
    check_expr("...ij,...jk->...ik", EINC_REDUCE_SUM, S(2, 3, 4, 5, -1, 2, 3, 5, 6));
    check_expr("b (h w) c -> b c h w", EINC_REDUCE_SUM, NULL);
    check_expr("b c h w -> b (h w c)", EINC_REDUCE_SUM, S(2, 3, 4, 5));
    check_expr("b h w c -> b c", EINC_REDUCE_MEAN, S(2, 3, 4, 5));
    /* a float64 mean sums into the output itself, which is then its accumulator */
    check_expr_dtype("b h w c -> b c", EINC_REDUCE_MEAN, S(2, 3, 4, 5), EINC_F64);
    check_expr_dtype("i j -> i", EINC_REDUCE_MEAN, S(4, 300), EINC_F64);
    check_expr_dtype("i j -> i", EINC_REDUCE_SUM, S(4, 300), EINC_I32);
    check_expr_dtype("ij,jk->ik", EINC_REDUCE_SUM, S(4, 3, -1, 3, 5), EINC_I64);
    check_expr_dtype("i j -> i", EINC_REDUCE_MAX, S(4, 300), EINC_BOOL);
    check_expr("b h w c -> b c", EINC_REDUCE_MEAN, NULL);
    check_expr("i j -> i", EINC_REDUCE_PROD, S(6, 7));
    check_expr("i j -> j", EINC_REDUCE_MIN, S(6, 7));
    check_expr("h w -> h w c", EINC_REDUCE_SUM, NULL);
    check_expr("(h 2) (w 2) c -> h w c", EINC_REDUCE_MAX, S(8, 8, 3));
    check_expr("b (h 2) (w 2) c -> b h w c", EINC_REDUCE_MEAN, S(2, 8, 8, 3));
    /* GEMMs into a composed output: j and b walk it with unit stride */
    check_expr_dtype("b i, i j -> (b j)", EINC_REDUCE_SUM, S(2, 3, -1, 3, 4), EINC_F64);
    check_expr("b i, i j -> (j b)", EINC_REDUCE_SUM, S(2, 3, -1, 3, 4));
}

/* The passes after binding, validated after each. */
static void check_passes(T *t, ir_prog *p, const char *what)
{
    valid_ir(t, p, what);
    valid_lp(t, p, LP_CPU, what);
    valid_lp(t, p, LP_GPU, what);
    double naive, opt, largest;
    if (p->bound && path_optimize(&t->c, p, 0, &naive, &opt, &largest))
        valid_ir(t, p, what);
    if (p->bound && split_reductions(&t->c, p) > 0)
        valid_ir(t, p, what);
    valid_lp(t, p, LP_CPU, what);
    valid_lp(t, p, LP_GPU, what);
}

/* A golden case (tests/golden/NAME.expr: expr, input, sizes, reduce lines) that binds. */
static int check_golden_case(const char *name, char *text)
{
    char *expr = NULL;
    einc_tensor in[8];
    int64_t shape[8][8];
    einc_size sizes[16];
    bind_opts o = { .dtype = EINC_F32, .open_repeats = true };
    int nin = 0, checked = 0;
    for (char *save, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *save2, *tok;
        if (strncmp(line, "expr: ", 6) == 0) {
            expr = line + 6;
        } else if (strncmp(line, "reduce: ", 8) == 0) {
            for (int r = 0; r < EINC_REDUCE_COUNT; r++)
                if (strcmp(einc_reduce_name((einc_reduce)r), line + 8) == 0)
                    o.reduce = (einc_reduce)r;
        } else if (strncmp(line, "sizes:", 6) == 0) {
            for (tok = strtok_r(line + 6, " ", &save2); tok && o.nsizes < 16;
                 tok = strtok_r(NULL, " ", &save2)) {
                char *eq = strchr(tok, '=');
                assert_non_null(eq);
                *eq = 0;
                sizes[o.nsizes++] = (einc_size){ tok, atoll(eq + 1) };
            }
            o.sizes = sizes;
        } else if (strncmp(line, "input: ", 7) == 0 && nin < 8) {
            in[nin] = (einc_tensor){ .shape = shape[nin] };
            tok = strtok_r(line + 7, " ", &save2);
            for (int d = 0; d < EINC_DTYPE_COUNT; d++)
                if (strcmp(einc_dtype_name((einc_dtype)d), tok) == 0)
                    in[nin].dtype = (einc_dtype)d;
            while ((tok = strtok_r(NULL, " ", &save2)) && in[nin].ndim < 8)
                shape[nin][in[nin].ndim++] = atoll(tok);
            nin++;
        }
    }
    assert_non_null(expr);
    for (int arrays = 0; arrays < 2; arrays++) {
        T t;
        t_init(&t, expr);
        ast_expr *e = parse_expr(&t.c);
        ir_prog *p = e ? bind_expr(&t.c, e, &o, arrays ? nin : 0, arrays ? in : NULL) : NULL;
        if (p) {
            check_passes(&t, p, name);
            checked++;
        }
        arena_free(&t.A);
    }
    return checked;
}

static void real_golden(void **state)
{
    (void)state;
    DIR *d = opendir(golden);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".expr") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", golden, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static char text[1 << 14];
        size_t got = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[got] = 0;
        n += check_golden_case(e->d_name, text);
    }
    closedir(d);
    assert_true(n >= 40);
}

/* Every declared size name of m bound to v. */
static ir_prog *elaborate(T *t, int64_t v)
{
    el_model *m = einl_parse(&t->c);
    if (!m)
        return NULL;
    int nin = einl_ninputs(m), ns = 0;
    einc_size sz[64];
    for (int i = 0; i < nin; i++) {
        const el_item *it = einl_input(m, i);
        for (int d = 0; d < it->ndim && ns < 64; d++) {
            bool seen = !it->dim[d].name;
            for (int k = 0; k < ns && !seen; k++)
                seen = strcmp(sz[k].name, it->dim[d].name) == 0;
            if (!seen)
                sz[ns++] = (einc_size){ it->dim[d].name, v };
        }
    }
    return einl_elaborate(&t->c, m, ns, sz, 0, NULL);
}

static void check_model(const char *name, const char *src)
{
    T t;
    for (int64_t v = 8; v >= 2; v--) {        /* some models need sizes that divide */
        t_init(&t, src);
        ir_prog *p = elaborate(&t, v);
        if (!p) {
            arena_free(&t.A);
            continue;
        }
        valid_ir(&t, p, name);
        valid_lp(&t, p, LP_CPU, name);
        valid_lp(&t, p, LP_GPU, name);
        if (split_reductions(&t.c, p) > 0)
            valid_ir(&t, p, name);
        valid_lp(&t, p, LP_CPU, name);
        arena_free(&t.A);
        return;
    }
    fail_msg("%s: no size elaborates: %s", name, t.err.message);
}

static void real_models(void **state)
{
    (void)state;
    static const char *const src[] = {
        "input x: f32[N, C]\nreturn softmax(x, dim=1)\n",
        "input x: f32[N, C]\nreturn log_softmax(x, dim=1)\n",
        "input x: f32[N, D]\nparam w: f32[D]\nparam b: f32[D]\nreturn layernorm(x, w, b)\n",
        "input x: f32[N, D]\nparam w: f32[H, D]\nparam b: f32[H]\nreturn relu(linear(x, w, b))\n",
        "input x: f32[N, C]\nreturn reduce(x, 'n c ->', 'sum')\n",
        "input x: f32[N, C]\nreturn reduce(x, 'n c -> n', 'mean')\n",
        "input x: f32[N, C]\nreturn argmax(x, dim=1)\n",
        "input x: f32[N, C]\nreturn gelu(x) + silu(x) * sigmoid(x) - tanh(x)\n",
        "input x: f32[B, C, H, W]\nreturn max_pool2d(x, 2)\n",
        "input x: f32[B, C, H, W]\nreturn adaptive_avg_pool2d(x, 1)\n",
        "input x: f32[B, C, H, W]\nparam w: f32[C, C, 3, 3]\nreturn conv2d(x, w, padding=1)\n",
        "input p: i64[N]\ninput t: i64[N]\nreturn accuracy(confusion(p, t, 4))\n",
    };
    for (size_t i = 0; i < sizeof src / sizeof *src; i++)
        check_model(src[i], src[i]);
    DIR *d = opendir(examples);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".einl") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", examples, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static char text[1 << 16];
        size_t got = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[got] = 0;
        check_model(e->d_name, text);
        n++;
    }
    closedir(d);
    assert_true(n >= 3);
}

/* ---- hand-broken programs ------------------------------------------------------------------ */

static const int64_t mm_shapes[] = { 4, 3, -1, 3, 5, -2 };

/* 'ik,kj->ij' bound: tensors in0, in1, out; axes i, k, j in order of appearance. */
static ir_prog *mm(T *t)
{
    t_init(t, "ik,kj->ij");
    return bind_shapes(t, "ik,kj->ij", EINC_REDUCE_SUM, mm_shapes);
}

static void expect_ir(T *t, const ir_prog *p, const char *msg)
{
    assert_false(ir_validate(&t->c, p, "bind"));
    assert_int_equal(t->err.status, EINC_ERR_INTERNAL);
    assert_string_equal(t->err.message, msg);
    assert_int_equal(t->err.begin, -1);
    arena_free(&t->A);
}

static void expect_lp(T *t, const lp_prog *lp, const char *msg)
{
    assert_false(lp_validate(&t->c, lp, "lower"));
    assert_int_equal(t->err.status, EINC_ERR_INTERNAL);
    assert_string_equal(t->err.message, msg);
    arena_free(&t->A);
}

static int axis_named(const ir_prog *p, const char *name)
{
    for (int a = 0; a < p->naxis; a++)
        if (strcmp(p->axis[a].name, name) == 0)
            return a;
    fail_msg("no axis %s", name);
    return -1;
}

static void ir_mm_is_valid(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    assert_true(ir_validate(&t.c, p, "bind"));
    assert_int_equal(t.err.status, EINC_OK);
    arena_free(&t.A);
}

static void ir_tensor_out_of_range(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    p->stmt[0].rhs->a->acc.tensor = 7;
    expect_ir(&t, p, "internal error after bind: statement 0: an access to tensor 7, of 3");
}

static void ir_axis_out_of_range(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    p->stmt[0].rhs->b->acc.dim[1].t[0].axis = 9;
    expect_ir(&t, p, "internal error after bind: statement 0: index 1 of in1 uses axis 9, of 3");
}

static void ir_input_role(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    p->tensor[1].role = IR_TEMP;
    expect_ir(&t, p, "internal error after bind: tensor 1 (in1) has role TEMP, but the inputs "
                     "are 0 to 1");
}

static void ir_output_role(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    p->output = 1;
    expect_ir(&t, p, "internal error after bind: tensor 1 (in1) has role INPUT, but the output "
                     "is tensor 1");
    p = mm(&t);
    p->tensor[2].role = IR_TEMP;
    expect_ir(&t, p, "internal error after bind: tensor 2 (out) has role TEMP, but the "
                     "output is tensor 2");
    p = mm(&t);
    p->output = 3;
    expect_ir(&t, p, "internal error after bind: the output is tensor 3, of 3");
}

static void ir_rank(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    p->stmt[0].rhs->a->acc.ndim = 1;
    expect_ir(&t, p, "internal error after bind: statement 0: an access to in0 with 1 indices; "
                     "its rank is 2");
}

static void ir_free_not_output(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    ir_stmt *s = &p->stmt[0];   /* free {i, j}, red {k}: make k free and j reduced */
    int k = s->red[0];
    s->red[0] = s->free[1];
    s->free[1] = k;
    expect_ir(&t, p, "internal error after bind: statement 0: free axis k is not an index of out");
}

static void ir_output_axis_not_free(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    p->stmt[0].nfree = 1;       /* j is left out of free */
    expect_ir(&t, p, "internal error after bind: statement 0: out uses axis j, which is neither "
                     "free nor reduced");
}

static void ir_axis_twice(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    p->stmt[0].red[0] = p->stmt[0].free[0];
    expect_ir(&t, p, "internal error after bind: statement 0: axis i is free or reduced twice");
}

static void ir_read_axis_unbound(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    p->stmt[0].nred = 0;        /* k is used by both inputs, and neither free nor reduced */
    expect_ir(&t, p, "internal error after bind: statement 0: in0 uses axis k, which is neither "
                     "free nor reduced");
}

static void ir_mean(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    p->stmt[0].comb = IR_COMB_MEAN;
    expect_ir(&t, p, "internal error after bind: statement 0: a statement that combines with "
                     "mean (a sum and a division)");
}

static void ir_guarded_store(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    p->stmt[0].out.guard = true;
    expect_ir(&t, p, "internal error after bind: statement 0: a guarded store to out");
}

/* a read padded with another identity than 0 only where that identity is combined away */
static void ir_padding(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    p->stmt[0].rhs->a->acc.pad = IR_COMB_MAX;
    expect_ir(&t, p, "internal error after bind: statement 0: an unguarded access to in0 padded with -inf");
    p = mm(&t);
    p->stmt[0].rhs->a->acc.guard = true;
    p->stmt[0].rhs->a->acc.pad = (ir_comb)17;
    expect_ir(&t, p, "internal error after bind: statement 0: an access to in0 padded with combiner 17");
    p = mm(&t);
    p->stmt[0].rhs->b->acc.guard = true;
    p->stmt[0].rhs->b->acc.pad = IR_COMB_PROD;
    expect_ir(&t, p, "internal error after bind: statement 0: a read of in1 padded with 1 inside an expression");
    p = mm(&t);
    p->stmt[0].rhs = p->stmt[0].rhs->a;         /* out[i, j] += in0[i, k]? */
    p->stmt[0].rhs->acc.guard = true;
    p->stmt[0].rhs->acc.pad = IR_COMB_MIN;
    expect_ir(&t, p, "internal error after bind: statement 0: a read of in0 padded with +inf where its value "
                     "goes to '+='");
    p = mm(&t);
    p->stmt[0].rhs = p->stmt[0].rhs->a;
    p->stmt[0].rhs->acc.guard = true;
    p->stmt[0].rhs->acc.pad = IR_COMB_MAX;
    p->stmt[0].comb = IR_COMB_MAX;
    assert_true(ir_validate(&t.c, p, "bind"));
    arena_free(&t.A);
}

static void ir_bound(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    p->axis[1].size = -1;
    expect_ir(&t, p, "internal error after bind: bound, but a size is symbolic");
    t_init(&t, "ik,kj->ij");
    p = bind_shapes(&t, "ik,kj->ij", EINC_REDUCE_SUM, NULL);
    for (int a = 0; a < p->naxis; a++)
        p->axis[a].size = 3;
    expect_ir(&t, p, "internal error after bind: not bound, but every size is known");
}

static void ir_operator(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    p->stmt[0].rhs->op = IR_OP_COUNT;
    expect_ir(&t, p, "internal error after bind: statement 0: an expression with operator 20, "
                     "which is not an ir_op");
    p = mm(&t);
    p->stmt[0].rhs->op = IR_NEG;        /* a unary operator with two operands */
    expect_ir(&t, p, "internal error after bind: statement 0: 'neg' with 2 operands; it takes 1");
    p = mm(&t);
    p->stmt[0].rhs->b = NULL;           /* '*' with one */
    expect_ir(&t, p, "internal error after bind: statement 0: '*' with 1 operands; it takes 2");
}

static void ir_too_deep(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    ir_expr *x = p->stmt[0].rhs;
    for (int i = 0; i < IR_MAX_EXPR_DEPTH; i++) {
        ir_expr *n = ARENA_NEW(&t.A, ir_expr);
        assert_non_null(n);
        *n = (ir_expr){ .op = IR_NEG, .a = x };
        x = n;
    }
    p->stmt[0].rhs = x;
    expect_ir(&t, p, "internal error after bind: statement 0: an expression deeper than 256");
    p = mm(&t);                         /* a cycle is infinitely deep: no hang */
    p->stmt[0].rhs->b = p->stmt[0].rhs;
    expect_ir(&t, p, "internal error after bind: statement 0: an expression deeper than 256");
}

static void ir_float_function_on_integers(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    p->tensor[2].dtype = EINC_I64;
    ir_expr *e = ARENA_NEW(&t.A, ir_expr);
    assert_non_null(e);
    *e = (ir_expr){ .op = IR_EXP, .a = p->stmt[0].rhs };
    p->stmt[0].rhs = e;
    expect_ir(&t, p, "internal error after bind: statement 0: float function exp in an integer "
                     "statement");
}

static void ir_temp_read_before_write(void **state)
{
    (void)state;
    T t;
    t_init(&t, "ab,bc,cd->ad");
    ir_prog *p = bind_shapes(&t, "ab,bc,cd->ad", EINC_REDUCE_SUM, S(8, 90, -1, 90, 3, -1, 3, 70));
    double naive, opt, largest;
    assert_non_null(path_optimize(&t.c, p, 0, &naive, &opt, &largest));
    assert_int_equal(p->nstmt, 2);
    assert_true(ir_validate(&t.c, p, "path"));
    ir_stmt s0 = p->stmt[0];            /* the statements in the wrong order */
    p->stmt[0] = p->stmt[1];
    p->stmt[1] = s0;
    expect_ir(&t, p, "internal error after bind: statement 0: reads t0 before any statement "
                     "writes it");
}

static void ir_accumulate_first(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    p->stmt[0].accumulate = true;
    expect_ir(&t, p, "internal error after bind: statement 0: accumulates into out before any "
                     "statement writes it");
}

static void ir_store_to_input(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    p->stmt[0].out.tensor = 0;
    p->stmt[0].out.dim[1].t[0].axis = axis_named(p, "k");
    expect_ir(&t, p, "internal error after bind: statement 0: a store to input in0");
}

static void ir_label_not_input(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    p->nlabel = 1;
    p->label = ARENA_NEW(&t.A, ir_label);
    assert_non_null(p->label);
    p->label->tensor = 2;
    expect_ir(&t, p, "internal error after bind: label check 0 on tensor 2, not an input or a temporary");
    p = mm(&t);
    p->nlabel = 1;
    p->label = ARENA_NEW(&t.A, ir_label);
    assert_non_null(p->label);
    p->label->tensor = 1;
    expect_ir(&t, p, "internal error after bind: label check 0 on in1, which holds float32");
}

/* ---- the loop IR ---------------------------------------------------------------------------- */

static lp_prog *lowered(T *t, const char *expr, const int64_t *shapes, lp_target target)
{
    t_init(t, expr);
    ir_prog *p = bind_shapes(t, expr, EINC_REDUCE_SUM, shapes);
    lp_prog *lp = lower(&t->c, p, target, NULL);
    assert_non_null(lp);
    assert_true(lp_validate(&t->c, lp, "lower"));
    return lp;
}

/* The first node below root with op, depth first. */
static lp_node *find(lp_node *n, lp_op op)
{
    if (n->op == op)
        return n;
    for (int i = 0; i < n->n; i++) {
        lp_node *f = find(n->body[i], op);
        if (f)
            return f;
    }
    return NULL;
}

static void lp_update_outside_acc(void **state)
{
    (void)state;
    T t;
    lp_prog *lp = lowered(&t, "ij->i", S(4, 300), LP_GPU);   /* LOOP i { ACC { LOOP j { UPDATE } } } */
    lp_node *acc = find(lp->nest[0].root, LP_ACC);
    assert_non_null(acc);
    acc->op = LP_LOOP;
    acc->axis = axis_named(lp->ir, "j");
    acc->n = 1;
    acc->body[0] = find(acc->body[0], LP_UPDATE);
    expect_lp(&t, lp, "internal error after lower: nest 0: UPDATE outside an ACC");
    lp = lowered(&t, "ij->i", S(4, 300), LP_GPU);
    lp->nest[0].root = find(lp->nest[0].root, LP_UPDATE);
    expect_lp(&t, lp, "internal error after lower: nest 0: UPDATE outside an ACC");
}

static void lp_root_and_kinds(void **state)
{
    (void)state;
    T t;
    lp_prog *lp = lowered(&t, "ij->i", S(4, 300), LP_GPU);
    lp->nest[0].sched.kind = (lp_kind)7;
    expect_lp(&t, lp, "internal error after lower: nest 0: schedule kind 7, which is not an lp_kind");
    lp = lowered(&t, "ij->i", S(4, 300), LP_GPU);
    lp->nest[0].root->op = (lp_op)5;
    expect_lp(&t, lp, "internal error after lower: nest 0: a node with op 5, which is not an lp_op");
    lp = lowered(&t, "ij->i", S(4, 300), LP_GPU);
    lp->nest[0].compute = EINC_BOOL;
    expect_lp(&t, lp, "internal error after lower: nest 0: compute type 4");
}

static void lp_loop_scope(void **state)
{
    (void)state;
    T t;
    lp_prog *lp = lowered(&t, "ij->ji", S(3, 5), LP_GPU);    /* LOOP j { LOOP i { STORE } } */
    lp_node *r = lp->nest[0].root;
    r->body[0]->axis = r->axis;
    expect_lp(&t, lp, "internal error after lower: nest 0: a loop over j inside a loop over j");
    lp = lowered(&t, "ij->ji", S(3, 5), LP_GPU);
    lp->nest[0].root = lp->nest[0].root->body[0];
    expect_lp(&t, lp, "internal error after lower: nest 0: out uses axis j outside a loop over it");
}

static void lp_tiles(void **state)
{
    (void)state;
    T t;
    /* a CPU transpose: LOOP o tile { LOOP r tile { LOOP r blocked { LOOP o blocked { STORE } } } } */
    lp_prog *lp = lowered(&t, "ij->ji", S(256, 256), LP_CPU);
    lp_node *n = lp->nest[0].root;
    assert_true(n->tile > 0);
    while (n->n && !n->blocked)
        n = n->body[0];
    n->blocked = false;             /* the inner r loop: now a second loop over r */
    expect_lp(&t, lp, "internal error after lower: nest 0: a loop over j inside a loop over j");
    lp = lowered(&t, "ij->ji", S(256, 256), LP_CPU);
    lp_node *tile = lp->nest[0].root;
    tile->tile = 0;                 /* the blocked loops of its axis have no tile around them */
    expect_lp(&t, lp, "internal error after lower: nest 0: a blocked loop over i outside a tile "
                      "loop of it");
    lp = lowered(&t, "ij->ji", S(256, 256), LP_CPU);
    n = lp->nest[0].root->body[0];  /* the inner tile loop, its blocked loops left out */
    n->body[0] = find(n, LP_STORE);
    expect_lp(&t, lp, "internal error after lower: nest 0: a tile loop over j without a blocked "
                      "loop of it inside");
}

static void lp_parallel(void **state)
{
    (void)state;
    T t;
    lp_prog *lp = lowered(&t, "ij->ij", S(300, 300), LP_CPU);
    assert_true(lp->nest[0].root->parallel);
    lp->nest[0].root->body[0]->parallel = true;
    expect_lp(&t, lp, "internal error after lower: nest 0: a parallel loop over j below the root");
}

static void lp_gemm(void **state)
{
    (void)state;
    T t;
    lp_prog *lp = lowered(&t, "ik,kj->ij", S(64, 64, -1, 64, 64), LP_CPU);
    int g = lp->nnest - 1;
    lp_node *gemm = find(lp->nest[g].root, LP_GEMM);
    assert_non_null(gemm);
    gemm->nn = gemm->m;
    expect_lp(&t, lp, "internal error after lower: nest 0: a GEMM over axis i twice");
    lp = lowered(&t, "ik,kj->ij", S(64, 64, -1, 64, 64), LP_CPU);
    gemm = find(lp->nest[g].root, LP_GEMM);
    const ir_access *a = gemm->a;       /* a and b swapped: b is not unit-stride in nn */
    gemm->a = gemm->b;
    gemm->b = a;
    expect_lp(&t, lp, "internal error after lower: nest 0: a GEMM whose a (in1) is not indexed "
                      "by m and k without nn");
    lp = lowered(&t, "ik,kj->ij", S(64, 64, -1, 64, 64), LP_CPU);
    gemm = find(lp->nest[g].root, LP_GEMM);
    ir_tensor *out = &((ir_prog *)lp->ir)->tensor[gemm->dst->tensor];
    ir_mono *sh = ARENA_ARRAY(&t.A, ir_mono, 3);    /* out gains a trailing dimension of 2 */
    assert_non_null(sh);
    sh[0] = out->shape[0], sh[1] = out->shape[1], sh[2] = (ir_mono){ .k = 2 };
    out->shape = sh;
    out->ndim = 3;
    ir_access *d = (ir_access *)gemm->dst;
    ir_dim *dims = ARENA_ARRAY(&t.A, ir_dim, 3);
    assert_non_null(dims);
    dims[0] = d->dim[0], dims[1] = d->dim[1], dims[2] = (ir_dim){ .n = 0 };
    d->dim = dims;
    d->ndim = 3;
    expect_lp(&t, lp, "internal error after lower: nest 0: a GEMM whose column axis j is not "
                      "unit-stride in dst");
}

static void lp_accumulator(void **state)
{
    (void)state;
    T t;
    /* a float32 mean: ACC + -> out, final sum / n, with sum an accumulator */
    t_init(&t, "i j -> i");
    ir_prog *p = bind_shapes(&t, "i j -> i", EINC_REDUCE_MEAN, S(4, 300));
    lp_prog *lp = lower(&t.c, p, LP_GPU, NULL);
    assert_non_null(lp);
    assert_true(lp_validate(&t.c, lp, "lower"));
    lp_node *acc = find(lp->nest[0].root, LP_ACC);
    assert_non_null(acc->final);
    lp_node *u = find(acc, LP_UPDATE);
    u->value = acc->final;              /* the UPDATE reads the accumulator */
    expect_lp(&t, lp, "internal error after lower: nest 0: accumulator sum read outside its "
                      "reduction's final");
    t_init(&t, "i j -> i");
    p = bind_shapes(&t, "i j -> i", EINC_REDUCE_MEAN, S(4, 300));
    lp = lower(&t.c, p, LP_GPU, NULL);
    assert_non_null(lp);
    lp->acc[0] = true;
    expect_lp(&t, lp, "internal error after lower: accumulator in0 is neither a temporary nor "
                      "the output");
}

static void lp_update_comb(void **state)
{
    (void)state;
    T t;
    lp_prog *lp = lowered(&t, "ij->i", S(4, 300), LP_GPU);
    find(lp->nest[0].root, LP_UPDATE)->comb = IR_COMB_MAX;
    expect_lp(&t, lp, "internal error after lower: nest 0: UPDATE with 'max=' in an ACC of '+='");
    lp = lowered(&t, "ij->i", S(4, 300), LP_GPU);
    lp_node *acc = find(lp->nest[0].root, LP_ACC);
    acc->pairwise = true;
    acc->comb = find(acc, LP_UPDATE)->comb = IR_COMB_MAX;
    expect_lp(&t, lp, "internal error after lower: nest 0: a pairwise ACC that is not a float sum");
}

/* the loop IR's padded reads: in an UPDATE of the same combiner only, never in a GEMM */
static void lp_padding(void **state)
{
    (void)state;
    T t;
    lp_prog *lp = lowered(&t, "ij->i", S(4, 300), LP_GPU);
    ir_expr *x = (ir_expr *)find(lp->nest[0].root, LP_UPDATE)->value;
    assert_int_equal(x->op, IR_ACCESS);
    x->acc.guard = true;
    x->acc.pad = IR_COMB_MAX;
    expect_lp(&t, lp, "internal error after lower: nest 0: a read of in0 padded with -inf where its value goes "
                      "to '+='");
    lp = lowered(&t, "ik,kj->ij", S(64, 64, -1, 64, 64), LP_CPU);
    lp_node *gemm = find(lp->nest[lp->nnest - 1].root, LP_GEMM);
    assert_non_null(gemm);
    ir_access *b = (ir_access *)gemm->b;
    b->guard = true;
    b->pad = IR_COMB_MAX;
    expect_lp(&t, lp, "internal error after lower: nest 0: a GEMM operand, in1, padded with -inf");
}

/* ---- impossible cases in the switches over ir_op and ir_comb ------------------------------- */

static void impossible_operator(void **state)
{
    (void)state;
    T t;
    ir_prog *p = mm(&t);
    float a[12] = { 0 }, b[15] = { 0 }, out[20];
    void *buf[3] = { a, b, out };
    lp_prog *lp = lower(&t.c, p, LP_CPU, NULL);
    assert_non_null(lp);
    p->stmt[0].rhs->op = IR_OP_COUNT;       /* what the validators would have caught */
    assert_int_equal(interp_run(&t.c, p, buf, NULL), -1);
    assert_int_equal(t.err.status, EINC_ERR_INTERNAL);
    assert_string_equal(t.err.message, "internal error in the interpreter: an operator or "
                                       "combiner it does not know");
    char *text = ir_print(p);
    assert_non_null(text);
    assert_non_null(strstr(text, "out[i, j] += <operator 20>    (reduce k)\n"));
    free(text);
    arena_free(&t.A);

    for (int cuda = 0; cuda < 2; cuda++) {  /* the generators: an error, not the operand */
        t_init(&t, "ij,ij->ij");
        p = bind_shapes(&t, "ij,ij->ij", EINC_REDUCE_SUM, S(4, 5, -1, 4, 5));
        lp = lower(&t.c, p, cuda ? LP_GPU : LP_CPU, NULL);
        assert_non_null(lp);
        p->stmt[0].rhs->op = IR_OP_COUNT;
        cg_opts o = { "k", "ij,ij->ij", false };
        assert_null(cuda ? cg_cuda(&t.c, lp, &o) : cg_c(&t.c, lp, &o));
        assert_int_equal(t.err.status, EINC_ERR_INTERNAL);
        assert_string_equal(t.err.message, "internal error in the C and CUDA code generators: "
                                           "operator 20");
        arena_free(&t.A);
    }

    p = mm(&t);
    p->stmt[0].comb = IR_COMB_COUNT;
    assert_int_equal(interp_run(&t.c, p, buf, NULL), -1);
    assert_int_equal(t.err.status, EINC_ERR_INTERNAL);
    arena_free(&t.A);
}

/* ---- integer constants ------------------------------------------------------------------------ */

/* every backend takes an integer program's constant through ir_const_bits: never out of range */
static void const_bits(void **state)
{
    (void)state;
    assert_int_equal(ir_const_bits(3), 3);
    assert_int_equal((int64_t)ir_const_bits(-3), -3);
    assert_int_equal(ir_const_bits(2.75), 2);
    assert_int_equal((int64_t)ir_const_bits(-2.75), -2);
    assert_int_equal(ir_const_bits(9007199254740992.0), 9007199254740992);
    assert_int_equal((int64_t)ir_const_bits(-9223372036854775808.0), INT64_MIN);
    assert_int_equal(ir_const_bits(9223372036854775808.0), INT64_MAX);
    assert_int_equal(ir_const_bits(1e300), INT64_MAX);
    assert_int_equal(ir_const_bits(INFINITY), INT64_MAX);
    assert_int_equal((int64_t)ir_const_bits(-INFINITY), INT64_MIN);
    assert_int_equal(ir_const_bits(NAN), 0);
}

/* ---- the switch ------------------------------------------------------------------------------ */

static void enabled_reads_once(void **state)
{
    (void)state;
    /* the suite runs with EINC_VALIDATE=1 (tests/meson.build); later changes are not seen */
    const char *e = getenv("EINC_VALIDATE");
    bool on = validate_enabled();
    if (e && strcmp(e, "1") == 0)
        assert_true(on);
    if (e && strcmp(e, "0") == 0)
        assert_false(on);
    setenv("EINC_VALIDATE", on ? "0" : "1", 1);
    assert_true(validate_enabled() == on);
}

int main(int argc, char **argv)
{
    examples = argc > 1 ? argv[1] : "examples";
    golden = argc > 2 ? argv[2] : "tests/golden";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(real_expressions),
        cmocka_unit_test(real_models),
        cmocka_unit_test(real_golden),
        cmocka_unit_test(ir_mm_is_valid),
        cmocka_unit_test(ir_tensor_out_of_range),
        cmocka_unit_test(ir_axis_out_of_range),
        cmocka_unit_test(ir_input_role),
        cmocka_unit_test(ir_output_role),
        cmocka_unit_test(ir_rank),
        cmocka_unit_test(ir_free_not_output),
        cmocka_unit_test(ir_output_axis_not_free),
        cmocka_unit_test(ir_axis_twice),
        cmocka_unit_test(ir_read_axis_unbound),
        cmocka_unit_test(ir_mean),
        cmocka_unit_test(ir_guarded_store),
        cmocka_unit_test(ir_padding),
        cmocka_unit_test(ir_bound),
        cmocka_unit_test(ir_operator),
        cmocka_unit_test(const_bits),
        cmocka_unit_test(ir_too_deep),
        cmocka_unit_test(ir_float_function_on_integers),
        cmocka_unit_test(ir_temp_read_before_write),
        cmocka_unit_test(ir_accumulate_first),
        cmocka_unit_test(ir_store_to_input),
        cmocka_unit_test(ir_label_not_input),
        cmocka_unit_test(lp_update_outside_acc),
        cmocka_unit_test(lp_root_and_kinds),
        cmocka_unit_test(lp_loop_scope),
        cmocka_unit_test(lp_tiles),
        cmocka_unit_test(lp_parallel),
        cmocka_unit_test(lp_gemm),
        cmocka_unit_test(lp_accumulator),
        cmocka_unit_test(lp_update_comb),
        cmocka_unit_test(lp_padding),
        cmocka_unit_test(impossible_operator),
        cmocka_unit_test(enabled_reads_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
