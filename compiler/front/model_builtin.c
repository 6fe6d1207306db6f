/*
 * model_builtin.c — the layer language's built-ins as one table (MODEL_BUILTINS in
 * model_int.h: a row per function, with its parameters and their defaults), the binding of
 * a call's arguments to a row, the checks of argument values the built-ins share, and the
 * "did you mean" of an unknown function.
 *
 * Binding happens here once for every built-in, as Python binds a call: positional
 * arguments first, then keywords, each parameter at most once; what the call leaves out is
 * the row's default, a value with the call's span, so a function never asks whether an
 * argument was given.
 */
#include "model_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- errors ------------------------------------------------------------------------------ */

val *err_at(elab *E, einc_status st, int b, int e, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cc_error(E->c, st, b, e, "%s", msg);
    return NULL;
}

/* ---- values ------------------------------------------------------------------------------ */

val *new_val(elab *E, vkind k, int begin, int end)
{
    val *v = ARENA_NEW(E->A, val);
    if (!v)
        return cc_nomem(E->c), NULL;
    v->kind = k;
    v->begin = begin;
    v->end = end;
    return v;
}

val *tensor_val(elab *E, lz *t, int begin, int end)
{
    if (!t)
        return NULL;
    val *v = new_val(E, V_TENSOR, begin, end);
    if (v)
        v->t = t;
    return v;
}

const char *kind_name(vkind k)
{
    static const char *const n[] = { "a tensor", "a number", "a string", "none", "a tuple" };
    return n[k];
}

/* A tensor operand: a tensor, or a number seen as a 0-d tensor of dtype like. */
lz *as_tensor(elab *E, const val *v, const char *fn, const char *what, einc_dtype like)
{
    if (!v)
        return NULL;
    if (v->kind == V_TENSOR)
        return v->t;
    if (v->kind == V_NUMBER) {
        einc_dtype t = v->is_int ? like : float_of(like);
        return lz_const(E, v->num, t == EINC_BOOL ? EINC_I64 : t);
    }
    shape_err(E, v->begin, v->end, "%s: %s must be a tensor, not %s", fn, what, kind_name(v->kind));
    return NULL;
}

lz *need_tensor(elab *E, const val *v, const char *fn, const char *what)
{
    if (v && v->kind != V_TENSOR) {
        shape_err(E, v->begin, v->end, "%s: %s must be a tensor, not %s", fn, what, kind_name(v->kind));
        return NULL;
    }
    return v ? v->t : NULL;
}

bool get_int(elab *E, const val *v, const char *fn, const char *what, int64_t *out)
{
    if (v->kind != V_NUMBER || !v->is_int) {
        cc_error(E->c, EINC_ERR_ARG, v->begin, v->end, "%s: %s must be an integer, not %s", fn,
                 what, v->kind == V_NUMBER ? "a fraction" : kind_name(v->kind));
        return false;
    }
    *out = (int64_t)v->num;    /* within ±2^53: einl_parse.c and model.c's arith keep it */
    return true;
}

bool get_num(elab *E, const val *v, const char *fn, const char *what, double *out)
{
    if (v->kind != V_NUMBER) {
        cc_error(E->c, EINC_ERR_ARG, v->begin, v->end, "%s: %s must be a number, not %s", fn,
                 what, kind_name(v->kind));
        return false;
    }
    *out = v->num;
    return true;
}

/* An int or a pair of ints (stride=2, padding=(1, 0)). */
bool get_pair(elab *E, const val *v, const char *fn, const char *what, int64_t out[2])
{
    if (v->kind == V_TUPLE) {
        if (v->n != 2) {
            cc_error(E->c, EINC_ERR_ARG, v->begin, v->end, "%s: %s must be an integer or a "
                     "pair of integers, not a tuple of %d", fn, what, v->n);
            return false;
        }
        return get_int(E, v->item[0], fn, what, &out[0]) && get_int(E, v->item[1], fn, what, &out[1]);
    }
    if (!get_int(E, v, fn, what, &out[0]))
        return false;
    out[1] = out[0];
    return true;
}

/* dim in [-ndim, ndim) → [0, ndim), as torch's wrap_dim. */
bool get_dim(elab *E, const val *v, const char *fn, int ndim, int *out)
{
    int64_t d;
    if (!get_int(E, v, fn, "dim", &d))
        return false;
    int64_t lo = ndim ? -ndim : -1, hi = ndim ? ndim - 1 : 0;
    if (d < lo || d > hi) {
        cc_error(E->c, EINC_ERR_ARG, v->begin, v->end,
                 "%s: dim %lld is out of range for a %d-d tensor (expected %lld to %lld)", fn,
                 (long long)d, ndim, (long long)lo, (long long)hi);
        return false;
    }
    *out = (int)(d < 0 ? d + ndim : d);
    return true;
}

/* ---- the table ---------------------------------------------------------------------------- */

#define ROW(name, fn, ...)                                                                          \
    { name, fn, (int)(sizeof((const bi_param[]){ __VA_ARGS__ }) / sizeof(bi_param)),                \
      (const bi_param[]){ __VA_ARGS__ } },
static const builtin builtins[] = { MODEL_BUILTINS(ROW) };
#undef ROW

const builtin *builtin_find(const char *name)
{
    for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return &builtins[i];
    return NULL;
}

/* Binds a call's arguments to parameters, as Python does; arg[i] NULL: not given. */
bool bind_args(elab *E, const el_node *call, const char *fn, int nparam, const bi_param *param,
               val *const *pos, val **arg)
{
    for (int i = 0; i < nparam; i++)
        arg[i] = NULL;
    int np = 0;
    for (int i = 0; i < call->nargs; i++) {
        const el_arg *a = &call->args[i];
        if (!a->key) {
            if (np >= nparam) {
                cc_error(E->c, EINC_ERR_ARG, a->value->begin, a->value->end,
                         "%s() takes at most %d argument%s", fn, nparam, nparam == 1 ? "" : "s");
                return false;
            }
            arg[np++] = pos[i];
            continue;
        }
        int k = -1;
        for (int j = 0; j < nparam && k < 0; j++)
            if (strcmp(param[j].name, a->key) == 0)
                k = j;
        if (k < 0) {
            cc_error(E->c, EINC_ERR_ARG, a->key_begin, a->key_end,
                     "%s() got an unexpected keyword argument '%s'", fn, a->key);
            return false;
        }
        if (arg[k]) {
            cc_error(E->c, EINC_ERR_ARG, a->key_begin, a->key_end,
                     "%s() got multiple values for argument '%s'", fn, a->key);
            return false;
        }
        arg[k] = pos[i];
    }
    for (int i = 0; i < nparam; i++)
        if (!arg[i] && param[i].kind == D_REQUIRED) {
            cc_error(E->c, EINC_ERR_ARG, call->begin, call->end,
                     "%s() missing required argument '%s'", fn, param[i].name);
            return false;
        }
    return true;
}

/* The defaults of the parameters a call left out, each with the call's span. */
static bool fill_defaults(elab *E, const el_node *call, const builtin *b, val **arg)
{
    for (int i = 0; i < b->nparam; i++) {
        const bi_param *p = &b->param[i];
        if (arg[i] || p->kind == D_REQUIRED || p->kind == D_ABSENT)
            continue;
        val *v = new_val(E, p->kind == D_NONE ? V_NONE : p->kind == D_STR ? V_STRING : V_NUMBER,
                         call->begin, call->end);
        if (!v)
            return false;
        v->num = p->num;
        v->is_int = p->kind == D_INT;
        v->str = p->str;
        v->str_begin = call->begin;
        arg[i] = v;
    }
    return true;
}

val *builtin_call(elab *E, const builtin *b, const el_node *call, val *const *pos)
{
    if (b->nparam == 1 && b->param[0].kind == D_AS_WRITTEN)
        return b->fn(E, call, pos);
    val **arg = ARENA_ARRAY(E->A, val *, b->nparam + 1);
    if (!arg)
        return cc_nomem(E->c), NULL;
    if (!bind_args(E, call, b->name, b->nparam, b->param, pos, arg) || !fill_defaults(E, call, b, arg))
        return NULL;
    if (!b->nparam || !b->param[0].folds || arg[0]->kind != V_NUMBER)
        return b->fn(E, call, arg);
    /* a function of a number: the built-in on a 0-d float64 (or int64) constant, folded,
       as numpy's float64 functions of a Python number */
    val *x = tensor_val(E, lz_const(E, arg[0]->num, arg[0]->is_int ? EINC_I64 : EINC_F64), arg[0]->begin,
                        arg[0]->end);
    if (!x)
        return NULL;
    arg[0] = x;
    val *r = b->fn(E, call, arg);
    double v;
    if (!r || r->kind != V_TENSOR || !lz_fold(r->t, &v))
        return r;
    r->is_int = !dtype_is_float(r->t->dtype);
    r->kind = V_NUMBER;
    r->num = v;
    r->t = NULL;
    return r;
}

/* ---- did you mean -------------------------------------------------------------------------- */

/* a's and b's spelling with case, '_' and '.' ignored (layer_norm, LayerNorm → layernorm) */
static bool same_letters(const char *a, const char *b)
{
    for (;;) {
        while (*a == '_')
            a++;
        while (*b == '_')
            b++;
        char p = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        char q = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;
        if (p != q)
            return false;
        if (!p)
            return true;
        a++, b++;
    }
}

/* The Levenshtein distance of a and b, or more than limit (names are short: 64 bytes kept). */
static int distance(const char *a, const char *b, int limit)
{
    enum { N = 64 };
    size_t n = strlen(a), m = strlen(b);
    if (n >= N || m >= N)
        return limit + 1;
    int row[N], prev[N];
    for (size_t j = 0; j <= m; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        row[0] = (int)i;
        for (size_t j = 1; j <= m; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, row, sizeof *row * (m + 1));
    }
    return prev[m];
}

/* torch's other names for the same functions */
static const struct { const char *alias, *name; } aliases[] = {
    { "batch_norm", "batchnorm2d" }, { "batchnorm", "batchnorm2d" }, { "conv", "conv2d" },
    { "swish", "silu" }, { "dense", "linear" }, { "matmul", "einsum" }, { "view", "rearrange" },
    { "reshape", "rearrange" }, { "permute", "rearrange" }, { "transpose", "rearrange" },
};

const char *builtin_suggest(const char *name)
{
    /* F.relu, torch.nn.functional.relu, nn.ReLU: the part after the last '.' */
    const char *dot = strrchr(name, '.');
    const char *base = dot ? dot + 1 : name;
    int total = (int)(sizeof builtins / sizeof *builtins);
    for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
        if (same_letters(base, aliases[i].alias))
            return aliases[i].name;
    const char *best = NULL;
    int bestd = 3;          /* at most two edits, and fewer than half the name */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < total; i++) {
            const char *c = builtins[i].name;
            if (pass == 0 && same_letters(base, c) && strcmp(c, name) != 0)
                return c;
            if (pass == 1) {
                int d = distance(base, c, bestd);
                if (d < bestd && 2 * d < (int)strlen(c)) {
                    best = c;
                    bestd = d;
                }
            }
        }
    return best;
}
