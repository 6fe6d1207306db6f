/*
 * test_einl_parse.c — the layer language's parser (grammar/einl.re, grammar/einl_gram.y,
 * compiler/front/einl_parse.c): the AST of the README's example and of each construct, and the
 * exact message and span of each kind of syntax error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "einl.h"

/* ---- helpers -------------------------------------------------------------------------- */

/* Parses text that must parse; the model lives in *A until the test frees it. */
static const el_model *parse_ok(arena *A, const char *text)
{
    einc_error err = { 0 };
    cc c = { .A = A, .src = text, .err = &err };
    const el_model *m = einl_parse(&c);
    if (!m)
        fail_msg("unexpected error '%s' at [%d, %d) in:\n%s", err.message, err.begin, err.end, text);
    return m;
}

/* Parses text that must fail with exactly this message and span. */
static void parse_err(const char *text, const char *message, int begin, int end)
{
    arena A = { 0 };
    einc_error err = { 0 };
    cc c = { .A = &A, .src = text, .err = &err };
    const el_model *m = einl_parse(&c);
    arena_free(&A);
    if (m)
        fail_msg("parsed, expected error '%s' in:\n%s", message, text);
    assert_int_equal(err.status, EINC_ERR_SYNTAX);
    assert_string_equal(err.message, message);
    if (err.begin != begin || err.end != end)
        fail_msg("'%s': span [%d, %d), expected [%d, %d)", message, err.begin, err.end, begin, end);
}

/* Offset of the nth (0-based) occurrence of needle in text. */
static int at(const char *text, const char *needle, int nth)
{
    const char *p = text;
    for (;;) {
        const char *q = strstr(p, needle);
        assert_non_null(q);
        if (nth-- == 0)
            return (int)(q - text);
        p = q + 1;
    }
}

/* The single return statement's expression of a one-line model "return EXPR". */
static const el_node *ret_expr(arena *A, const char *text)
{
    const el_model *m = parse_ok(A, text);
    assert_int_equal(m->nitems, 1);
    assert_int_equal(m->items[0]->kind, EL_RETURN);
    return m->items[0]->value;
}

static void is_name(const el_node *x, const char *name)
{
    assert_non_null(x);
    assert_int_equal(x->kind, EL_NAME);
    assert_string_equal(x->name, name);
}

static void is_number(const el_node *x, double v, bool is_int)
{
    assert_non_null(x);
    assert_int_equal(x->kind, EL_NUMBER);
    assert_true(x->value == v);
    assert_int_equal(x->is_int, is_int);
}

static void is_binary(const el_node *x, char op)
{
    assert_non_null(x);
    assert_int_equal(x->kind, EL_BINARY);
    assert_int_equal(x->op, op);
}

static void is_call(const el_node *x, const char *name, int nargs)
{
    assert_non_null(x);
    assert_int_equal(x->kind, EL_CALL);
    assert_string_equal(x->name, name);
    assert_int_equal(x->nargs, nargs);
}

static void is_positional(const el_arg *a) { assert_null(a->key); }

static void is_keyword(const el_arg *a, const char *key, const char *text, int nth)
{
    assert_non_null(a->key);
    assert_string_equal(a->key, key);
    assert_int_equal(a->key_begin, at(text, key, nth));
    assert_int_equal(a->key_end, a->key_begin + (int)strlen(key));
}

static void is_decl(const el_item *it, el_item_kind k, const char *name, einc_dtype t, int ndim)
{
    assert_int_equal(it->kind, k);
    assert_string_equal(it->name, name);
    assert_int_equal(it->dtype, t);
    assert_int_equal(it->ndim, ndim);
}

static void dim_is_name(const el_dim *d, const char *name)
{
    assert_non_null(d->name);
    assert_string_equal(d->name, name);
}

static void dim_is(const el_dim *d, int64_t v)
{
    assert_null(d->name);
    assert_int_equal(d->value, v);
}

/* ---- the README's example --------------------------------------------------------------- */

static const char residual[] =
    "# a residual block, NCHW float32\n"
    "input x: f32[N, 64, H, W]\n"
    "param w: f32[64, 64, 3, 3]\n"
    "param mean: f32[64]\n"
    "param var: f32[64]\n"
    "param gamma: f32[64]\n"
    "param beta: f32[64]\n"
    "\n"
    "def block(x, w, mean, var, gamma, beta) {\n"
    "    y = conv2d(x, w, stride=1, padding=1)\n"
    "    y = batchnorm2d(y, mean, var, gamma, beta, eps=1e-5)\n"
    "    return relu(y)\n"
    "}\n"
    "\n"
    "return x + block(x, w, mean, var, gamma, beta)\n";

static void test_residual_block(void **state)
{
    (void)state;
    arena A = { 0 };
    const char *s = residual;
    const el_model *m = parse_ok(&A, s);
    assert_int_equal(m->nitems, 8);

    const el_item *x = m->items[0];
    is_decl(x, EL_INPUT, "x", EINC_F32, 4);
    dim_is_name(&x->dim[0], "N");
    dim_is(&x->dim[1], 64);
    dim_is_name(&x->dim[2], "H");
    dim_is_name(&x->dim[3], "W");
    assert_int_equal(x->begin, at(s, "input", 0));
    assert_int_equal(x->end, at(s, "W]", 0) + 2);
    assert_int_equal(x->name_begin, at(s, "x:", 0));
    assert_int_equal(x->name_end, x->name_begin + 1);
    assert_int_equal(x->dim[0].begin, at(s, "N,", 0));
    assert_int_equal(x->dim[0].end, at(s, "N,", 0) + 1);
    assert_int_equal(x->dim[1].begin, at(s, "64", 0));
    assert_int_equal(x->dim[1].end, at(s, "64", 0) + 2);

    const el_item *w = m->items[1];
    is_decl(w, EL_PARAM, "w", EINC_F32, 4);
    dim_is(&w->dim[0], 64);
    dim_is(&w->dim[1], 64);
    dim_is(&w->dim[2], 3);
    dim_is(&w->dim[3], 3);
    const char *pnames[] = { "mean", "var", "gamma", "beta" };
    for (int i = 0; i < 4; i++) {
        is_decl(m->items[2 + i], EL_PARAM, pnames[i], EINC_F32, 1);
        dim_is(&m->items[2 + i]->dim[0], 64);
    }

    const el_item *d = m->items[6];
    assert_int_equal(d->kind, EL_DEF);
    assert_string_equal(d->name, "block");
    assert_int_equal(d->begin, at(s, "def", 0));
    assert_int_equal(d->end, at(s, "}", 0) + 1);
    const char *params[] = { "x", "w", "mean", "var", "gamma", "beta" };
    assert_int_equal(d->nparams, 6);
    for (int i = 0; i < 6; i++)
        assert_string_equal(d->params[i], params[i]);
    assert_int_equal(d->param_begin[2], at(s, "mean,", 0));
    assert_int_equal(d->param_end[2], at(s, "mean,", 0) + 4);
    assert_int_equal(d->nbody, 3);

    const el_item *b0 = d->body[0];
    assert_int_equal(b0->kind, EL_ASSIGN);
    assert_string_equal(b0->name, "y");
    assert_int_equal(b0->name_begin, at(s, "y = conv2d", 0));
    assert_int_equal(b0->begin, b0->name_begin);
    assert_int_equal(b0->end, at(s, "padding=1)", 0) + 10);
    const el_node *conv = b0->value;
    is_call(conv, "conv2d", 4);
    assert_int_equal(conv->begin, at(s, "conv2d", 0));
    assert_int_equal(conv->end, b0->end);
    is_positional(&conv->args[0]);
    is_name(conv->args[0].value, "x");
    is_positional(&conv->args[1]);
    is_name(conv->args[1].value, "w");
    is_keyword(&conv->args[2], "stride", s, 0);
    is_number(conv->args[2].value, 1, true);
    is_keyword(&conv->args[3], "padding", s, 0);
    is_number(conv->args[3].value, 1, true);

    const el_node *bn = d->body[1]->value;
    assert_string_equal(d->body[1]->name, "y");
    is_call(bn, "batchnorm2d", 6);
    for (int i = 0; i < 5; i++)
        is_positional(&bn->args[i]);
    is_name(bn->args[0].value, "y");
    is_name(bn->args[4].value, "beta");
    is_keyword(&bn->args[5], "eps", s, 0);
    is_number(bn->args[5].value, 1e-5, false);
    assert_int_equal(bn->args[5].value->begin, at(s, "1e-5", 0));
    assert_int_equal(bn->args[5].value->end, at(s, "1e-5", 0) + 4);

    const el_item *r = d->body[2];
    assert_int_equal(r->kind, EL_RETURN);
    assert_null(r->name);
    is_call(r->value, "relu", 1);
    is_name(r->value->args[0].value, "y");

    const el_item *top = m->items[7];
    assert_int_equal(top->kind, EL_RETURN);
    assert_int_equal(top->begin, at(s, "return x", 0));
    is_binary(top->value, '+');
    is_name(top->value->a, "x");
    is_call(top->value->b, "block", 6);
    for (int i = 0; i < 6; i++) {
        is_positional(&top->value->b->args[i]);
        is_name(top->value->b->args[i].value, params[i]);
    }
    assert_int_equal(top->end, (int)strlen(s) - 1);

    arena_free(&A);
}

/* ---- expressions ---------------------------------------------------------------------- */

static void test_precedence(void **state)
{
    (void)state;
    arena A = { 0 };
    const char *s = "return a + b * -c";
    const el_node *x = ret_expr(&A, s);
    is_binary(x, '+');
    assert_int_equal(x->begin, 7);
    assert_int_equal(x->end, 17);
    is_name(x->a, "a");
    is_binary(x->b, '*');
    is_name(x->b->a, "b");
    assert_int_equal(x->b->b->kind, EL_NEG);
    assert_int_equal(x->b->b->begin, 15);
    assert_int_equal(x->b->b->end, 17);
    is_name(x->b->b->a, "c");

    /* left-associative */
    x = ret_expr(&A, "return a - b - c");
    is_binary(x, '-');
    is_binary(x->a, '-');
    is_name(x->a->a, "a");
    is_name(x->a->b, "b");
    is_name(x->b, "c");

    x = ret_expr(&A, "return a / b * c");
    is_binary(x, '*');
    is_binary(x->a, '/');

    /* unary minus binds tighter than '*' */
    x = ret_expr(&A, "return -a * b");
    is_binary(x, '*');
    assert_int_equal(x->a->kind, EL_NEG);
    is_name(x->a->a, "a");

    x = ret_expr(&A, "return - -a");
    assert_int_equal(x->kind, EL_NEG);
    assert_int_equal(x->a->kind, EL_NEG);

    /* parentheses group, and the span covers them */
    s = "return (a + b) * c";
    x = ret_expr(&A, s);
    is_binary(x, '*');
    is_binary(x->a, '+');
    assert_int_equal(x->a->begin, 7);
    assert_int_equal(x->a->end, 14);
    assert_int_equal(x->begin, 7);

    x = ret_expr(&A, "return a * (b - c) / 2");
    is_binary(x, '/');
    is_binary(x->a, '*');
    is_binary(x->a->b, '-');
    is_number(x->b, 2, true);
    arena_free(&A);
}

static void test_numbers(void **state)
{
    (void)state;
    arena A = { 0 };
    is_number(ret_expr(&A, "return 3"), 3, true);
    is_number(ret_expr(&A, "return 0.5"), 0.5, false);
    is_number(ret_expr(&A, "return .5"), 0.5, false);
    is_number(ret_expr(&A, "return 2."), 2, false);
    is_number(ret_expr(&A, "return 1e-5"), 1e-5, false);
    is_number(ret_expr(&A, "return 1E3"), 1000, false);
    is_number(ret_expr(&A, "return 2.5e+2"), 250, false);
    is_number(ret_expr(&A, "return 9007199254740991"), 9007199254740991.0, true);    /* 2^53 - 1 */
    const el_node *x = ret_expr(&A, "return 12.75");
    assert_int_equal(x->begin, 7);
    assert_int_equal(x->end, 12);
    arena_free(&A);
}

static void test_strings(void **state)
{
    (void)state;
    arena A = { 0 };
    const char *s = "return einsum('b c h w, o c -> b o h w', y, w)";
    const el_node *x = ret_expr(&A, s);
    is_call(x, "einsum", 3);
    const el_node *p = x->args[0].value;
    assert_int_equal(p->kind, EL_STRING);
    assert_string_equal(p->str, "b c h w, o c -> b o h w");
    assert_int_equal(p->begin, at(s, "'", 0));
    assert_int_equal(p->end, at(s, "'", 1) + 1);
    assert_int_equal(p->str_begin, at(s, "b c", 0));

    s = "return reduce(y, \"b c h w -> b c\", reduction=\"mean\")";
    x = ret_expr(&A, s);
    is_call(x, "reduce", 3);
    assert_string_equal(x->args[1].value->str, "b c h w -> b c");
    assert_int_equal(x->args[1].value->str_begin, at(s, "b c", 0));
    is_keyword(&x->args[2], "reduction", s, 0);
    assert_string_equal(x->args[2].value->str, "mean");
    assert_int_equal(x->args[2].value->str_begin, at(s, "mean", 0));

    /* the other quote, '#' and unicode inside a string are plain characters */
    x = ret_expr(&A, "return f('a \"#\" \xc3\x97', \"it's\", '')");
    assert_string_equal(x->args[0].value->str, "a \"#\" \xc3\x97");
    assert_string_equal(x->args[1].value->str, "it's");
    assert_string_equal(x->args[2].value->str, "");
    arena_free(&A);
}

static void test_tuples_and_calls(void **state)
{
    (void)state;
    arena A = { 0 };
    const char *s = "return conv2d(x, w, stride=(1, 2), padding=(3,),)";
    const el_node *x = ret_expr(&A, s);
    is_call(x, "conv2d", 4);
    const el_node *t = x->args[2].value;
    assert_int_equal(t->kind, EL_TUPLE);
    assert_int_equal(t->nargs, 2);
    assert_null(t->args[0].key);
    is_number(t->args[0].value, 1, true);
    is_number(t->args[1].value, 2, true);
    assert_int_equal(t->begin, at(s, "(1", 0));
    assert_int_equal(t->end, at(s, "2)", 0) + 2);
    t = x->args[3].value;
    assert_int_equal(t->kind, EL_TUPLE);
    assert_int_equal(t->nargs, 1);
    is_number(t->args[0].value, 3, true);

    x = ret_expr(&A, "return (a, b + 1, f(),)");
    assert_int_equal(x->kind, EL_TUPLE);
    assert_int_equal(x->nargs, 3);
    is_binary(x->args[1].value, '+');
    is_call(x->args[2].value, "f", 0);
    assert_null(x->args[2].value->args);

    /* a parenthesised expression alone is not a tuple */
    x = ret_expr(&A, "return (a)");
    is_name(x, "a");
    assert_int_equal(x->begin, 7);
    assert_int_equal(x->end, 10);

    /* nested calls, keyword values that are expressions, negative keyword values */
    x = ret_expr(&A, "return softmax(relu(x) * 2, dim=-1)");
    is_call(x, "softmax", 2);
    is_binary(x->args[0].value, '*');
    is_call(x->args[0].value->a, "relu", 1);
    assert_string_equal(x->args[1].key, "dim");
    assert_int_equal(x->args[1].value->kind, EL_NEG);
    is_number(x->args[1].value->a, 1, true);
    arena_free(&A);
}

/* ---- layout --------------------------------------------------------------------------- */

/* torch's dotted spellings are one name each, allowed where a value or a callee goes */
static void test_dotted_names(void **state)
{
    (void)state;
    arena A = { 0 };
    const char *s = "return torch.nn.functional.relu(F.x, a.b1._c)";
    const el_node *x = ret_expr(&A, s);
    is_call(x, "torch.nn.functional.relu", 2);
    assert_int_equal(x->begin, 7);
    is_name(x->args[0].value, "F.x");
    is_name(x->args[1].value, "a.b1._c");
    assert_int_equal(x->args[1].value->begin, at(s, "a.b1", 0));
    assert_int_equal(x->args[1].value->end, at(s, ")", 0));
    arena_free(&A);
    /* a number is not a name's component, and a dot must join two names */
    parse_err("return F.1", "unexpected '.1': expected an operator or a newline", 8, 10);
    parse_err("return F .relu(x)", "unexpected character '.'", 9, 10);
    parse_err("return F.relu.(x)", "unexpected character '.'", 13, 14);
    parse_err("F.y = x", "'F.y' is not a plain name: an assigned name cannot contain '.'", 0, 3);
    parse_err("input nn.x: f32[N]", "'nn.x' is not a plain name: a declared name cannot contain '.'", 6, 10);
    parse_err("param w: f32[a.N]", "'a.N' is not a plain name: a size cannot contain '.'", 13, 16);
    parse_err("def nn.f(x) { return x }", "'nn.f' is not a plain name: a block's name cannot contain '.'", 4, 8);
    parse_err("def f(x.y) { return x }", "'x.y' is not a plain name: a parameter cannot contain '.'", 6, 9);
    parse_err("return f(x, F.dim=1)", "'F.dim' is not a plain name: a keyword cannot contain '.'", 12, 17);
}

static void test_lines_and_brackets(void **state)
{
    (void)state;
    arena A = { 0 };
    /* newlines inside ( ) and [ ] do not end a statement; comments and blank lines anywhere;
       CRLF line ends; a one-line def; a '}' after the last statement; 0-d arrays */
    const char *s =
        "\r\n"
        "# comment only\n"
        "input x: f64[N,   # the batch\n"
        "             C]\r\n"
        "param s: bool[]  # a 0-d array\n"
        "param k: i64[2, 0,]\n"
        "def one() { return 1 }\n"
        "def two(a, b,) {\n"
        "\n"
        "  c = f(a,\n"
        "        b)   # still the same statement\n"
        "\n"
        "  return c }\n"
        "y = two(x,\n"
        "  (1,\n"
        "   2))\n"
        "return y\n"
        "\n";
    const el_model *m = parse_ok(&A, s);
    assert_int_equal(m->nitems, 7);
    is_decl(m->items[0], EL_INPUT, "x", EINC_F64, 2);
    dim_is_name(&m->items[0]->dim[1], "C");
    is_decl(m->items[1], EL_PARAM, "s", EINC_BOOL, 0);
    assert_null(m->items[1]->dim);
    is_decl(m->items[2], EL_PARAM, "k", EINC_I64, 2);
    dim_is(&m->items[2]->dim[0], 2);
    dim_is(&m->items[2]->dim[1], 0);

    const el_item *one = m->items[3];
    assert_int_equal(one->kind, EL_DEF);
    assert_int_equal(one->nparams, 0);
    assert_int_equal(one->nbody, 1);
    assert_int_equal(one->body[0]->kind, EL_RETURN);

    const el_item *two = m->items[4];
    assert_int_equal(two->nparams, 2);
    assert_string_equal(two->params[1], "b");
    assert_int_equal(two->nbody, 2);
    assert_string_equal(two->body[0]->name, "c");
    is_call(two->body[0]->value, "f", 2);
    assert_int_equal(two->body[1]->kind, EL_RETURN);
    assert_int_equal(two->end, at(s, "c }", 0) + 3);

    const el_item *y = m->items[5];
    assert_int_equal(y->kind, EL_ASSIGN);
    is_call(y->value, "two", 2);
    assert_int_equal(y->value->args[1].value->kind, EL_TUPLE);
    assert_int_equal(m->items[6]->kind, EL_RETURN);

    /* i32 and an empty model, an empty def */
    m = parse_ok(&A, "input n: i32[3]");
    is_decl(m->items[0], EL_INPUT, "n", EINC_I32, 1);
    m = parse_ok(&A, "");
    assert_int_equal(m->nitems, 0);
    m = parse_ok(&A, "# nothing\n\n");
    assert_int_equal(m->nitems, 0);
    m = parse_ok(&A, "def f(x) {\n}");
    assert_int_equal(m->items[0]->nbody, 0);
    arena_free(&A);
}

static void test_model_name(void **state)
{
    (void)state;
    assert_true(einl_is_model_name("model.einl"));
    assert_true(einl_is_model_name("dir/a.b.einl"));
    assert_true(einl_is_model_name(".einl"));
    assert_false(einl_is_model_name("model.einl.npy"));
    assert_false(einl_is_model_name("einl"));
    assert_false(einl_is_model_name("ij,jk->ik"));
    assert_false(einl_is_model_name(""));
    assert_false(einl_is_model_name(NULL));
}

/* ---- errors --------------------------------------------------------------------------- */

static void test_errors(void **state)
{
    (void)state;
    const char *s;

    s = "y = (a + )";
    parse_err(s, "unexpected ')': expected an expression", 9, 10);
    parse_err("y = ()", "unexpected ')': expected an expression", 5, 6);
    parse_err("y = f(,)", "unexpected ',': expected an expression", 6, 7);

    s = "input x: f32[N]\n\ny = f(a,\n      b";
    parse_err(s, "unexpected end of input: expected ')' to close the '(' at line 3, column 6",
              (int)strlen(s), (int)strlen(s));

    s = "y = f(a]";
    parse_err(s, "unexpected ']': expected ')' to close the '(' at line 1, column 6", 7, 8);
    s = "input x: f32[N)";
    parse_err(s, "unexpected ')': expected ']' to close the '[' at line 1, column 13", 14, 15);

    s = "y = f(x, 'b c -> c)\nreturn y";
    parse_err(s, "unterminated string", 9, 19);
    s = "y = \"abc";
    parse_err(s, "unterminated string", 4, 8);

    s = "input x: f8[N]";
    parse_err(s, "unknown dtype 'f8': expected f16, bf16, f32, f64, c64, c128, i8, i16, i32, "
                 "i64, u8, u16, u32, u64 or bool", 9, 11);

    s = "return a $ b";
    parse_err(s, "unexpected character '$'", 9, 10);
    parse_err("return a \x01", "unexpected byte 0x01", 9, 10);

    s = "def f(x) {\n  def g(y) { return y }\n}";
    parse_err(s, "'def' blocks cannot be nested", 13, 16);
    s = "def f(x) {\n  param p: f32[]\n}";
    parse_err(s, "'param' declarations belong at the top level, not inside a 'def' block", 13, 18);

    s = "y = conv2d(x, stride=1, w)";
    parse_err(s, "a positional argument cannot follow a keyword argument", 24, 25);
    s = "y = f(a=1, b=2, a=3)";
    parse_err(s, "keyword argument 'a' repeated", 16, 17);
    s = "def f(x, y, x) { return x }";
    parse_err(s, "duplicate parameter 'x'", 12, 13);
    s = "input x: f32[N]\nparam w: f32[N]\ninput y: f32[N]\nparam w: f32[N]\ninput x: f32[N]";
    parse_err(s, "'w' is declared twice: an input or param name is declared once", at(s, "w", 1), at(s, "w", 1) + 1);
    s = "param b: f32[N]\ninput b: i64[N]\nreturn b";
    parse_err(s, "'b' is declared twice: an input or param name is declared once", at(s, "b", 1), at(s, "b", 1) + 1);

    s = "y = 99999999999999999999 + 1";
    parse_err(s, "integer literal too large: a number is a double, exact to 2^53 - 1 = 9007199254740991", 4, 24);
    s = "y = 9007199254740992 + 1";     /* 2^53: a double holds it, and 2^53 + 1 as it */
    parse_err(s, "integer literal too large: a number is a double, exact to 2^53 - 1 = 9007199254740991", 4, 20);
    parse_err("y = 1e999", "number literal too large", 4, 9);
    parse_err("y = 1e", "invalid number '1e'", 4, 6);
    parse_err("y = 3x", "invalid number '3x'", 4, 6);
    parse_err("y = 1.5.2", "invalid number '1.5.2'", 4, 9);

    s = "input x: f32[N, 2.5]";
    parse_err(s, "a dimension must be a name or a non-negative integer, not '2.5'", 16, 19);
    s = "input x: f32[-1]";
    parse_err(s, "unexpected '-': expected a size (a name or a non-negative integer)", 13, 14);
    s = "input x: f32[99999999999999999999]";
    parse_err(s, "integer literal too large", 13, 33);
    parse_err("input x: f32[N M]", "unexpected 'M': expected ',' or ']'", 15, 16);
    parse_err("input x f32[N]", "unexpected 'f32': expected ':'", 8, 11);
    parse_err("input x: [N]", "unexpected '[': expected a dtype (f32, f64, i32, i64 or bool)", 9, 10);
    parse_err("input x: f32", "unexpected end of input: expected '['", 12, 12);
    parse_err("param 3: f32[]", "unexpected '3': expected a name", 6, 7);

    s = "def f(x) {\n  return x\n";
    parse_err(s, "unexpected end of input: expected '}' to close the '{' at line 1, column 10",
              (int)strlen(s), (int)strlen(s));
    parse_err("def f(x) {\n  return x +", "unexpected end of input: expected an expression", 23, 23);
    parse_err("def f(x)\n{ return x }", "unexpected newline: expected '{'", 8, 9);
    parse_err("def f(1) { }", "unexpected '1': expected a parameter name", 6, 7);
    parse_err("def (x) { }", "unexpected '(': expected a name", 4, 5);
    parse_err("def f(x) { return x } y = 1", "unexpected 'y': expected a newline", 22, 23);
    parse_err("def f(x) {\n  x + 1\n}", "unexpected '+': expected '='", 15, 16);
    parse_err("def f(x) {\n  return x y\n}", "unexpected 'y': expected an operator, a newline or '}'",
              22, 23);

    parse_err("foo bar", "unexpected 'bar': expected '='", 4, 7);
    parse_err("y = a b", "unexpected 'b': expected an operator or a newline", 6, 7);
    parse_err("y = a +\nb", "unexpected newline: expected an expression", 7, 8);
    parse_err("1 + 2", "unexpected '1': expected 'input', 'param', 'def', 'return' or an assignment", 0, 1);
    parse_err("}", "unexpected '}': expected 'input', 'param', 'def', 'return' or an assignment", 0, 1);
    parse_err("y = x[0]", "unexpected '[': expected an operator or a newline", 5, 6);
    parse_err("return 'abc' 'd'", "unexpected string: expected an operator or a newline", 13, 16);
    parse_err("y = f(a b)", "unexpected 'b': expected ',' or ')'", 8, 9);
    s = "y = f(a\nz = 1)";
    parse_err(s, "unexpected 'z': expected ',' or ')' (the '(' at line 1, column 6 is still open)", 8, 9);
    parse_err("return a\nreturn", "unexpected end of input: expected an expression", 15, 15);
}

/* A long input is no problem; deep nesting is an error, never a crash. */
static void test_limits(void **state)
{
    (void)state;
    size_t n = 4000;
    char *s = malloc(n + 32);
    assert_non_null(s);

    /* 64 nested brackets parse, 65 do not */
    int k = 0;
    k += sprintf(s + k, "return ");
    for (int i = 0; i < 64; i++)
        s[k++] = '(';
    s[k++] = 'x';
    for (int i = 0; i < 64; i++)
        s[k++] = ')';
    s[k] = 0;
    arena A = { 0 };
    const el_node *x = ret_expr(&A, s);
    is_name(x, "x");
    arena_free(&A);
    memmove(s + 8, s + 7, strlen(s + 7) + 1);
    parse_err(s, "brackets nested too deeply (at most 64)", 71, 72);

    /* 64 unary minus signs in a row parse (a chain of 64 negations), 65 do not */
    k = sprintf(s, "return ");
    for (int i = 0; i < 64; i++)
        s[k++] = '-';
    strcpy(s + k, "x");
    x = ret_expr(&A, s);
    for (int i = 0; i < 64; i++, x = x->a)
        assert_int_equal(x->kind, EL_NEG);
    is_name(x, "x");
    arena_free(&A);
    memmove(s + 8, s + 7, strlen(s + 7) + 1);
    parse_err(s, "more than 64 unary minus signs in a row", 71, 72);
    /* a binary minus does not count; a long run of them is a syntax error, not a crash */
    strcpy(s, "return x - -------------------------------------------------------------y");
    ret_expr(&A, s);
    arena_free(&A);
    k = sprintf(s, "return ");
    for (size_t i = 0; i < n; i++)
        s[k++] = '-';
    strcpy(s + k, "x");
    parse_err(s, "more than 64 unary minus signs in a row", 71, 72);

    /*
     * The deepest nesting the limits allow does not overflow the parser's stack: 64 brackets,
     * each opened after the longest prefix the grammar stacks up (a keyword argument, a sum,
     * a product, 64 minus signs), alternating calls and tuples, inside a def body.
     */
    char *deep = malloc(64 * 100 + 256);
    assert_non_null(deep);
    k = sprintf(deep, "def h(a) {\n    y = a + a * ");
    for (int i = 0; i < 64; i++) {
        for (int j = 0; j < 64; j++)
            deep[k++] = '-';
        k += sprintf(deep + k, i % 2 ? "(a, b + c * " : "g(a, k=b + c * ");
    }
    for (int j = 0; j < 64; j++)
        deep[k++] = '-';
    deep[k++] = 'x';
    for (int i = 0; i < 64; i++)
        deep[k++] = ')';
    strcpy(deep + k, "\n    return y\n}\n");
    const el_model *m = parse_ok(&A, deep);
    assert_int_equal(m->items[0]->nbody, 2);
    arena_free(&A);
    free(deep);

    /* many statements */
    char *big = malloc(20000 * 16);
    assert_non_null(big);
    k = 0;
    for (int i = 0; i < 20000; i++)
        k += sprintf(big + k, "y = y + %d\n", i);
    m = parse_ok(&A, big);
    assert_int_equal(m->nitems, 20000);
    arena_free(&A);
    free(big);
    free(s);
}

/*
 * What a generator writes: a sum of 20,000 terms, a product of 100,000 factors (left-deep
 * trees as deep as they are long, which the parser reduces as it goes), 30,000 chained
 * assignments, a call with 20,000 arguments.
 */
static void test_long(void **state)
{
    (void)state;
    arena A = { 0 };
    char *s = malloc(30000 * 32);
    assert_non_null(s);
    static const struct { const char *op; char c; int n; } runs[] = { { " + ", '+', 20000 }, { "*", '*', 100000 } };
    for (int r = 0; r < 2; r++) {
        int k = sprintf(s, "return x");
        for (int i = 1; i < runs[r].n; i++)
            k += sprintf(s + k, "%sx", runs[r].op);
        const el_node *x = ret_expr(&A, s);
        for (int i = 1; i < runs[r].n; i++, x = x->a) {
            is_binary(x, runs[r].c);
            is_name(x->b, "x");
        }
        is_name(x, "x");
        arena_free(&A);
    }

    int k = sprintf(s, "input x: f32[N]\ny0 = x\n");
    for (int i = 1; i <= 30000; i++)
        k += sprintf(s + k, "y%d = y%d + x\n", i, i - 1);
    sprintf(s + k, "return y30000\n");
    const el_model *m = parse_ok(&A, s);
    assert_int_equal(m->nitems, 30003);
    assert_int_equal(einl_ninputs(m), 1);
    assert_string_equal(m->items[30001]->name, "y30000");
    arena_free(&A);

    k = sprintf(s, "return f(x");
    for (int i = 1; i < 20000; i++)
        k += sprintf(s + k, ", x%d", i);
    sprintf(s + k, ")");
    const el_node *x = ret_expr(&A, s);
    is_call(x, "f", 20000);
    is_name(x->args[19999].value, "x19999");
    arena_free(&A);
    free(s);
}

/* A UTF-8 byte order mark at the start is skipped; spans stay offsets into the text. */
static void test_bom(void **state)
{
    (void)state;
    arena A = { 0 };
    const char *s = "\xEF\xBB\xBFinput x: f32[N]\nreturn x * 2\n";
    const el_model *m = parse_ok(&A, s);
    assert_int_equal(m->nitems, 2);
    is_decl(m->items[0], EL_INPUT, "x", EINC_F32, 1);
    assert_int_equal(m->items[0]->begin, 3);
    assert_int_equal(einl_input(m, 0), m->items[0]);
    is_binary(m->items[1]->value, '*');
    arena_free(&A);
    m = parse_ok(&A, "\xEF\xBB\xBF");
    assert_int_equal(m->nitems, 0);
    arena_free(&A);

    /* columns in messages count from after the mark */
    parse_err("\xEF\xBB\xBFy = f(x,\n1 +)",
              "unexpected ')': expected an expression (the '(' at line 1, column 6 is still open)", 15, 16);
    parse_err("\xEF\xBB\xBFreturn $", "unexpected character '$'", 10, 11);
    /* only at the start: elsewhere it is a stray byte */
    parse_err("return x\xEF\xBB\xBF", "unexpected byte 0xef", 8, 9);
    parse_err("\xEF\xBB", "unexpected byte 0xef", 0, 1);
}

/* Each allocation failing in turn gives EINC_ERR_NOMEM (or parses), never a crash or leak. */
static void test_out_of_memory(void **state)
{
    (void)state;
    long before = einc_alloc_count();
    arena A = { 0 };
    parse_ok(&A, residual);
    arena_free(&A);
    long total = einc_alloc_count() - before;
    assert_true(total > 0);
    for (long i = 1; i <= total; i++) {
        einc_error err = { 0 };
        cc c = { .A = &A, .src = residual, .err = &err };
        einc_alloc_fail_after(i);
        const el_model *m = einl_parse(&c);
        einc_alloc_fail_after(0);
        assert_null(m);
        assert_int_equal(err.status, EINC_ERR_NOMEM);
        arena_free(&A);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_residual_block),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_tuples_and_calls),
        cmocka_unit_test(test_dotted_names),
        cmocka_unit_test(test_lines_and_brackets),
        cmocka_unit_test(test_model_name),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_long),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
