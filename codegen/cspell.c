/* cspell.c — see cspell.h. */
#include "cspell.h"
#include "codegen.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- what the program uses ------------------------------------------------------------- */

/* Helper functions: one bit per (function, compute type).  H_DIV is complex division (a
   real one is the operator). */
enum { H_MAX, H_MIN, H_DIVZ, H_DIV, H_COUNT };
enum { NTYPES = 7 };
static const char *const helper_name[H_COUNT] = { "einc_max_", "einc_min_", "einc_divz_", "einc_div_" };
static const char *const type_suffix[NTYPES] = { "f", "d", "i32", "i64", "u64", "c", "z" };
static const einc_dtype helper_type[NTYPES] = { EINC_F32, EINC_F64, EINC_I32, EINC_I64, EINC_U64, EINC_C64, EINC_C128 };

static int type_index(einc_dtype t)
{
    switch (t) {
    case EINC_F32: return 0;
    case EINC_F64: return 1;
    case EINC_I32: return 2;
    case EINC_U64: return 4;
    case EINC_C64: return 5;
    case EINC_C128: return 6;
    default: return 3;
    }
}

static unsigned helper_bit(int h, einc_dtype t) { return 1u << (h * NTYPES + type_index(t)); }

/* The helper op x calls, or -1. */
static int helper_of(const ir_expr *x, einc_dtype t)
{
    switch (x->op) {
    case IR_MAX: return H_MAX;
    case IR_MIN: return H_MIN;
    case IR_DIVZ: return H_DIVZ;
    case IR_DIV:        /* integers: x / 0 is 0, as the JIT's; complex: Smith's */
        return dtype_is_float(t) ? -1 : dtype_is_complex(t) ? H_DIV : H_DIVZ;
    case IR_ACCESS: case IR_CONST: case IR_SIZE: case IR_AXIS: case IR_MUL: case IR_ADD:
    case IR_SUB: case IR_EQ: case IR_NEG: case IR_EXP: case IR_LOG: case IR_SQRT: case IR_RSQRT:
    case IR_TANH: case IR_ERF: case IR_SIGMOID: case IR_OP_COUNT:
        return -1;
    }
    return -1;
}

/*
 * A case no valid program reaches (an operator or combiner out of range): an internal
 * error, which makes the generator return NULL, never code that drops the value.
 */
static void cs_bug(const cspell *s, const char *what, int v)
{
    cc_error(s->c, EINC_ERR_INTERNAL, -1, -1, "internal error in the C and CUDA code generators: %s %d",
             what, v);
}

static void expr_uses(cspell *s, const ir_expr *x, einc_dtype t)
{
    if (!x)
        return;
    int h = helper_of(x, t);
    if (h >= 0)
        s->helpers |= helper_bit(h, t);
    if (ir_op_arity(x->op) == 1 && x->op != IR_NEG && dtype_is_float(t))
        s->math = true;
    expr_uses(s, x->a, t);
    expr_uses(s, x->b, t);
}

static void node_uses(cspell *s, const lp_node *n, einc_dtype t)
{
    s->pairwise |= n->op == LP_ACC && n->pairwise;
    expr_uses(s, n->value, t);
    expr_uses(s, n->final, t);
    for (int i = 0; i < n->n; i++)
        node_uses(s, n->body[i], t);
}

/* Names the code itself uses, given what the program calls: no size may take them. */
static bool taken(const cspell *s, const char *name)
{
    static const char *const math[] = { "exp", "expf", "log", "logf", "sqrt", "sqrtf", "tanh",
                                        "tanhf", "erf", "erff" };
    static const char *const pw[] = { "cas_", "casn_", "casb_", "cask_", "casc_" };
    for (size_t i = 0; s->math && i < sizeof math / sizeof *math; i++)
        if (strcmp(name, math[i]) == 0)
            return true;
    for (size_t i = 0; s->pairwise && i < sizeof pw / sizeof *pw; i++)
        if (strcmp(name, pw[i]) == 0)
            return true;
    for (int h = 0; h < H_COUNT; h++)
        for (int t = 0; t < NTYPES; t++) {
            size_t n = strlen(helper_name[h]);
            if ((s->helpers & 1u << (h * NTYPES + t)) && strncmp(name, helper_name[h], n) == 0 &&
                strcmp(name + n, type_suffix[t]) == 0)
                return true;
        }
    return s->nstored && (strcmp(name, "workspace") == 0 || strcmp(name, "ws_") == 0);
}

static bool clashes(const cspell *s, bool (*reserved)(const char *), const char *name, int upto)
{
    if (reserved(name) || taken(s, name))
        return true;
    for (int a = 0; a < s->p->naxis; a++)
        if (strcmp(name, s->size[a]) == 0 || strcmp(name, s->loopvar[a]) == 0)
            return true;
    for (int t = 0; t < s->p->ntensor; t++)
        if (t != upto && (t < upto || s->p->tensor[t].role != IR_TEMP) &&
            strcmp(name, t < upto ? s->tensor[t] : s->p->tensor[t].name) == 0)
            return true;
    return false;
}

/* A stored temporary's name: its own, or with "_"s appended until nothing else has it. */
static const char *temp_name(cc *c, const cspell *s, bool (*reserved)(const char *), int t)
{
    const char *name = s->p->tensor[t].name;
    size_t len = strlen(name);
    char *buf = arena_alloc(c->A, len + 64);
    if (!buf)
        return NULL;
    memcpy(buf, name, len + 1);
    for (size_t k = 0; k < 63 && clashes(s, reserved, buf, t); k++) {
        buf[len + k] = '_';
        buf[len + k + 1] = 0;
    }
    return buf;
}

/* Names for loops and sizes.  Anonymous axes ("_3", "...0") get names of their own. */
int cs_name_axes(cc *c, cspell *g, bool (*reserved)(const char *))
{
    const ir_prog *p = g->p;
    g->c = c;
    g->loopvar = ARENA_ARRAY(c->A, const char *, p->naxis + 1);
    g->size = ARENA_ARRAY(c->A, const char *, p->naxis + 1);
    g->tensor = ARENA_ARRAY(c->A, const char *, p->ntensor + 1);
    g->stored = ARENA_ARRAY(c->A, bool, p->ntensor + 1);
    if (!g->loopvar || !g->size || !g->tensor || !g->stored)
        return cc_nomem(c);
    g->helpers = 0;
    g->math = false;
    g->pairwise = false;
    g->nstored = 0;
    for (int i = 0; i < g->lp->nnest; i++)
        node_uses(g, g->lp->nest[i].root, g->lp->nest[i].compute);
    for (int t = 0; t < p->ntensor; t++)
        g->nstored += g->stored[t] = cg_temp_stored(g->lp, t);
    for (int a = 0; a < p->naxis; a++) {
        const ir_axis *x = &p->axis[a];
        char buf[160];
        if (x->anonymous)
            snprintf(buf, sizeof buf, "i_%d_", a);
        else
            snprintf(buf, sizeof buf, "i_%s", x->name);
        g->loopvar[a] = arena_strndup(c->A, buf, strlen(buf));
        if (x->size >= 0)
            snprintf(buf, sizeof buf, "%lld", (long long)x->size);
        else if (x->anonymous)      /* the k-th dimension of '...': "ellipsis0", ... */
            snprintf(buf, sizeof buf, "ellipsis%s", x->name + 3);
        else
            snprintf(buf, sizeof buf, "%s%s", x->name,
                     reserved(x->name) || taken(g, x->name) ? "_" : "");
        g->size[a] = arena_strndup(c->A, buf, strlen(buf));
        if (!g->loopvar[a] || !g->size[a])
            return cc_nomem(c);
    }
    for (int t = 0; t < p->ntensor; t++) {
        g->tensor[t] = g->stored[t] ? temp_name(c, g, reserved, t) : p->tensor[t].name;
        if (!g->tensor[t])
            return cc_nomem(c);
    }
    return 0;
}

void cs_mono(const cspell *g, const ir_mono *m)
{
    bool any = false;
    if (m->k != 1 || m->n == 0) {
        sb_printf(g->b, "%lld%s", (long long)m->k, g->int_suffix ? g->int_suffix : "");
        any = true;
    }
    for (int i = 0; i < m->n; i++) {
        sb_printf(g->b, "%s%s", any ? "*" : "", g->size[m->v[i]]);
        any = true;
    }
}

bool cs_mono_is_one(const ir_mono *m) { return m->n == 0 && m->k == 1; }

void cs_dim_index(const cspell *g, const ir_dim *d)
{
    if (d->n == 0) {
        sb_printf(g->b, "%lld", (long long)d->off);
        return;
    }
    for (int t = 0; t < d->n; t++) {
        sb_printf(g->b, "%s%s", t ? " + " : "", g->loopvar[d->t[t].axis]);
        if (!cs_mono_is_one(&d->t[t].coef)) {
            sb_printf(g->b, "*");
            cs_mono(g, &d->t[t].coef);
        }
    }
    if (d->off)     /* a negative one is a convolution's padding: "i_h + i_kh - 1" */
        sb_printf(g->b, " %c %llu", d->off < 0 ? '-' : '+',
                  d->off < 0 ? 0ull - (unsigned long long)d->off : (unsigned long long)d->off);
}

/* The flat offset of an access, by Horner's rule over the tensor's shape. */
void cs_offset(const cspell *g, const ir_access *a)
{
    const ir_tensor *t = &g->p->tensor[a->tensor];
    if (a->ndim == 0) {
        sb_printf(g->b, "0");
        return;
    }
    for (int d = 1; d < a->ndim; d++)
        if (!cs_mono_is_one(&t->shape[d]))
            sb_printf(g->b, "(");
    for (int d = 0; d < a->ndim; d++) {
        bool zero = a->dim[d].n == 0 && a->dim[d].off == 0;
        if (d == 0) {
            cs_dim_index(g, &a->dim[d]);
            continue;
        }
        if (!cs_mono_is_one(&t->shape[d])) {
            sb_printf(g->b, ")*");
            cs_mono(g, &t->shape[d]);
        }
        if (!zero) {
            sb_printf(g->b, " + ");
            cs_dim_index(g, &a->dim[d]);
        }
    }
}

void cs_access(const cspell *g, const ir_access *a)
{
    sb_printf(g->b, "%s[", g->tensor[a->tensor]);
    cs_offset(g, a);
    sb_printf(g->b, "]");
}


/* ---- values ------------------------------------------------------------------------------- */

const char *cs_arith_type(const cspell *s, einc_dtype t)
{
    switch (t) {
    case EINC_F32: return "float";
    case EINC_F64: return "double";
    case EINC_I32: return s->u32;
    case EINC_C64: return "float _Complex";
    case EINC_C128: return "double _Complex";
    default: return s->u64;
    }
}

const char *cs_host_type(einc_dtype t)
{
    switch (t) {
    case EINC_F32: return "float";
    case EINC_F64: return "double";
    case EINC_I32: return "int32_t";
    case EINC_I64: return "int64_t";
    case EINC_I8: return "int8_t";
    case EINC_I16: return "int16_t";
    case EINC_U16: case EINC_F16: case EINC_BF16: return "uint16_t";    /* the 16 bits */
    case EINC_U32: return "uint32_t";
    case EINC_U64: return "uint64_t";
    case EINC_C64: return "float _Complex";
    case EINC_C128: return "double _Complex";
    default: return "uint8_t";      /* bool, uint8 */
    }
}

/* The signed (unsigned for uint64) type integers of compute type t compare in. */
static const char *cmp_type(const cspell *s, einc_dtype t)
{
    return t == EINC_I32 ? s->i32 : t == EINC_U64 ? s->u64 : s->i64;
}

/* Opens einc_wrap_T( when s->wrap is a narrow integer computed in int64 (cspell.h). */
static bool wrap_open(const cspell *s, const lp_nest *nest)
{
    einc_dtype w = s->wrap;
    if (nest->compute != EINC_I64 ||
        (w != EINC_I8 && w != EINC_I16 && w != EINC_U8 && w != EINC_U16 && w != EINC_U32))
        return false;
    sb_printf(s->b, "einc_wrap_%s(", dtype_brief(w));
    return true;
}

/* An integer constant of C type at, from its 64 bits (ir_const_bits), as a signed literal
 * (no suffix inside int's range) that the cast takes to those bits: no double is converted. */
static void cs_int_lit(const cspell *s, const char *at, uint64_t bits)
{
    int64_t v = (int64_t)bits;
    if (v == INT64_MIN)
        sb_printf(s->b, "(%s)(-9223372036854775807ll - 1)", at);
    else if (v >= INT32_MIN && v <= INT32_MAX)
        sb_printf(s->b, "(%s)%lld", at, (long long)v);
    else
        sb_printf(s->b, "(%s)%lldll", at, (long long)v);
}

void cs_float_lit(const cspell *s, einc_dtype t, double v)
{
    bool f32 = t == EINC_F32;
    if (isnan(v)) {
        sb_printf(s->b, "%s", f32 ? s->nan_f : s->nan_d);
        return;
    }
    if (isinf(v)) {
        sb_printf(s->b, "%s%s%s", v < 0 ? "(-" : "", f32 ? s->inf_f : s->inf_d, v < 0 ? ")" : "");
        return;
    }
    char buf[40];
    snprintf(buf, sizeof buf, f32 ? "%.9g" : "%.17g", v);
    sb_printf(s->b, "%s%s%s", buf, strpbrk(buf, ".e") ? "" : ".0", f32 ? "f" : "");
}

/* 0 in compute type t. */
static void zero(const cspell *s, einc_dtype t)
{
    if (dtype_is_float(t))
        cs_float_lit(s, t, 0);
    else
        sb_printf(s->b, "(%s)0", cs_arith_type(s, t));
}

void cs_identity(const cspell *s, const lp_nest *nest, ir_comb comb)
{
    einc_dtype t = nest->compute;
    bool fp = dtype_is_float(t), i32 = t == EINC_I32;
    const char *at = cs_arith_type(s, t);
    switch (comb) {
    case IR_COMB_PROD:
        if (fp) cs_float_lit(s, t, 1); else sb_printf(s->b, "(%s)1", at);
        break;
    case IR_COMB_MAX:
        if (fp) cs_float_lit(s, t, -INFINITY);
        else if (t == EINC_U64) sb_printf(s->b, "(%s)0", at);
        else sb_printf(s->b, "(%s)(%s - 1)", at, i32 ? "-2147483647" : "-9223372036854775807LL");
        break;
    case IR_COMB_MIN:
        if (fp) cs_float_lit(s, t, INFINITY);
        else if (t == EINC_U64) sb_printf(s->b, "(%s)0xffffffffffffffffu", at);
        else sb_printf(s->b, "(%s)%s", at, i32 ? "2147483647" : "9223372036854775807LL");
        break;
    case IR_COMB_SUM: case IR_COMB_MEAN: case IR_COMB_ASSIGN:
        zero(s, t);
        break;
    case IR_COMB_COUNT:
        cs_bug(s, "combiner", (int)comb);
        break;
    }
}

/*
 * The identity a fill stores into dst of dtype store: int64's extremes do not survive the
 * store into a narrow integer (INT64_MIN becomes 0), so a max/min there starts from the
 * stored type's own (as llvm_expr.c: cgl_identity_in).
 */
void cs_identity_in(const cspell *s, const lp_nest *nest, ir_comb comb, einc_dtype store)
{
    static const struct { einc_dtype t; const char *lo, *hi; } lim[] = {
        { EINC_I8, "-128", "127" }, { EINC_I16, "-32768", "32767" }, { EINC_U8, "0", "255" },
        { EINC_U16, "0", "65535" }, { EINC_U32, "0", "4294967295" },
    };
    for (size_t i = 0; (comb == IR_COMB_MAX || comb == IR_COMB_MIN) && nest->compute == EINC_I64 &&
                       i < sizeof lim / sizeof *lim; i++)
        if (lim[i].t == store) {
            sb_printf(s->b, "(%s)(%s)%s", cs_arith_type(s, EINC_I64), s->i64, comb == IR_COMB_MAX ? lim[i].lo : lim[i].hi);
            return;
        }
    cs_identity(s, nest, comb);
}

void cs_acc_start(const cspell *s, const lp_nest *nest, const lp_node *acc)
{
    sb_printf(s->b, "%s acc = ", cs_arith_type(s, nest->compute));
    if (acc->accumulate)        /* dst holds an earlier statement's value: go on from it */
        cs_load(s, nest, acc->dst);
    else
        cs_identity(s, nest, acc->comb);
    sb_printf(s->b, ";\n");
}

void cs_combine(const cspell *s, const lp_nest *nest, bool in_acc, const ir_access *store_dst,
                ir_comb comb, const char *lhs, const ir_expr *x, const char *vtext)
{
    einc_dtype t = nest->compute;
    bool fp = dtype_is_float(t), wrap = false;
    /* integers compare in their signed type, uint64 as itself */
    const char *st = cmp_type(s, t), *v = s->tmp;
    if (dtype_is_complex(t) && (comb == IR_COMB_MAX || comb == IR_COMB_MIN)) {   /* bind.c refuses these */
        cc_error(s->c, EINC_ERR_DTYPE, -1, -1, "%s of %s: complex numbers have no order",
                 comb == IR_COMB_MAX ? "max" : "min", einc_dtype_name(t));
        return;
    }
    switch (comb) {
    case IR_COMB_SUM: case IR_COMB_MEAN: case IR_COMB_PROD:
        sb_printf(s->b, "%s %s= ", lhs, comb == IR_COMB_PROD ? "*" : "+");
        break;
    case IR_COMB_MAX: case IR_COMB_MIN:
        sb_printf(s->b, "{ %s %s = ", cs_arith_type(s, t), v);
        /* an expression's value is wrapped; acc and a text (another acc, in a fold) hold
           wrapped values or the identity already, which wrapping would break */
        wrap = x && wrap_open(s, nest);
        break;
    case IR_COMB_ASSIGN:
        sb_printf(s->b, "%s = ", lhs);
        break;
    case IR_COMB_COUNT:
        cs_bug(s, "combiner", (int)comb);
        return;
    }
    if (x)
        cs_expr(s, nest, in_acc, store_dst, x);
    else
        sb_printf(s->b, "%s", vtext);
    if (wrap)
        sb_printf(s->b, ")");
    if (comb == IR_COMB_MAX || comb == IR_COMB_MIN) {
        const char *op = comb == IR_COMB_MAX ? ">" : "<";
        if (fp)   /* NaN wins and then stays: numpy's maximum/minimum */
            sb_printf(s->b, "; if (%s %s %s || %s != %s) %s = %s != %s ? %s : %s; }", v, op, lhs,
                      v, v, lhs, lhs, lhs, lhs, v);
        else
            sb_printf(s->b, "; if ((%s)%s %s (%s)%s) %s = %s; }", st, v, op, st, lhs, lhs, v);
    }
}

/* ---- pairwise sums ------------------------------------------------------------------------ */

/* 64 levels: a 64-bit count of blocks carries through 63 of them at most. */
void cs_pairwise_start(const cspell *s, const lp_nest *nest)
{
    sb_printf(s->b, "%s cas_[64]; %s casn_ = 0; %s casb_ = 0; /* a pairwise sum: blocks of %d, in a cascade */",
              cs_arith_type(s, nest->compute), s->u64, s->i64, CS_PAIRWISE_BLOCK);
}

void cs_pairwise_step(const cspell *s, const lp_nest *nest)
{
    sb_printf(s->b, "if (++casb_ == %d) { %s casc_ = casn_++, cask_ = 0; for (; casc_ & 1; casc_ >>= 1) "
                    "acc += cas_[cask_++]; cas_[cask_] = acc; acc = ", CS_PAIRWISE_BLOCK, s->u64);
    zero(s, nest->compute);
    sb_printf(s->b, "; casb_ = 0; }");
}

void cs_pairwise_end(const cspell *s)
{
    sb_printf(s->b, "for (%s cask_ = 0; casn_; cask_++, casn_ >>= 1) if (casn_ & 1) acc += cas_[cask_];", s->u64);
}

/* ---- expressions -------------------------------------------------------------------------- */

/* Is index d of an access always inside dimension `shape` (the bare loop of its axis)? */
static bool always_inside(const ir_dim *d, const ir_mono *shape)
{
    return d->n == 1 && d->off == 0 && cs_mono_is_one(&d->t[0].coef) && shape->k == 1 &&
           shape->n == 1 && shape->v[0] == d->t[0].axis;
}

void cs_load(const cspell *s, const lp_nest *nest, const ir_access *a)
{
    einc_dtype t = nest->compute;
    const ir_tensor *T = &s->p->tensor[a->tensor];
    bool guard = false;
    for (int d = 0; a->guard && d < a->ndim; d++) {
        if (always_inside(&a->dim[d], &T->shape[d]))
            continue;
        /* one unsigned compare also catches a negative index */
        sb_printf(s->b, "%s(%s)(", guard ? " && " : "(", s->u64);
        cs_dim_index(s, &a->dim[d]);
        sb_printf(s->b, ") < (%s)(", s->u64);
        cs_mono(s, &T->shape[d]);
        sb_printf(s->b, ")");
        guard = true;
    }
    if (guard)
        sb_printf(s->b, " ? ");
    bool half = dtype_is_half(T->dtype);
    if (half ? t != EINC_F32 : T->dtype != t || (!dtype_is_float(t) && !dtype_is_complex(t)))
        sb_printf(s->b, "(%s)", cs_arith_type(s, t));
    if (half)
        sb_printf(s->b, "%s(", T->dtype == EINC_F16 ? "einc_h2f" : "einc_bf2f");
    cs_access(s, a);
    if (half)
        sb_printf(s->b, ")");
    if (guard) {                /* outside: the identity of its pad combiner (ir.h) */
        sb_printf(s->b, " : ");
        cs_identity(s, nest, a->pad);
        sb_printf(s->b, ")");
    }
}

static void call1(const cspell *s, const lp_nest *nest, bool in_acc, const ir_access *store_dst,
                  const char *fn, const ir_expr *x)
{
    sb_printf(s->b, "%s%s(", fn, nest->compute == EINC_F32 ? "f" : "");
    cs_expr(s, nest, in_acc, store_dst, x);
    sb_printf(s->b, ")");
}

static void unary(const cspell *s, const lp_nest *nest, bool in_acc, const ir_access *store_dst,
                  const ir_expr *x)
{
    einc_dtype t = nest->compute;
    if (dtype_is_complex(t) && x->op != IR_NEG) {   /* refused by the front ends (bind.c, model_lazy.c) */
        cc_error(s->c, EINC_ERR_DTYPE, -1, -1, "%s of %s: emitted C computes +, -, *, / and sums "
                 "and products of complex numbers only", ir_op_name(x->op), einc_dtype_name(t));
        return;
    }
    if (!dtype_is_float(t) && !dtype_is_complex(t)) {   /* integers: only negation is integral (lower.c keeps the rest float) */
        if (x->op == IR_NEG)
            sb_printf(s->b, "((%s)0 - ", cs_arith_type(s, t));
        cs_expr(s, nest, in_acc, store_dst, x->a);
        if (x->op == IR_NEG)
            sb_printf(s->b, ")");
        return;
    }
    switch (x->op) {
    case IR_NEG:
        sb_printf(s->b, "(-(");
        cs_expr(s, nest, in_acc, store_dst, x->a);
        sb_printf(s->b, "))");
        return;
    case IR_EXP: call1(s, nest, in_acc, store_dst, "exp", x->a); return;
    case IR_LOG: call1(s, nest, in_acc, store_dst, "log", x->a); return;
    case IR_SQRT: call1(s, nest, in_acc, store_dst, "sqrt", x->a); return;
    case IR_TANH: call1(s, nest, in_acc, store_dst, "tanh", x->a); return;
    case IR_ERF: call1(s, nest, in_acc, store_dst, "erf", x->a); return;
    case IR_RSQRT:
        sb_printf(s->b, "(");
        cs_float_lit(s, t, 1);
        sb_printf(s->b, " / ");
        call1(s, nest, in_acc, store_dst, "sqrt", x->a);
        sb_printf(s->b, ")");
        return;
    case IR_SIGMOID:
        sb_printf(s->b, "(");
        cs_float_lit(s, t, 1);
        sb_printf(s->b, " / (");
        cs_float_lit(s, t, 1);
        sb_printf(s->b, " + exp%s(-(", t == EINC_F32 ? "f" : "");
        cs_expr(s, nest, in_acc, store_dst, x->a);
        sb_printf(s->b, "))))");
        return;
    case IR_ACCESS: case IR_CONST: case IR_SIZE: case IR_AXIS: case IR_MUL: case IR_ADD:
    case IR_SUB: case IR_DIV: case IR_DIVZ: case IR_MAX: case IR_MIN: case IR_EQ:
    case IR_OP_COUNT:
        break;
    }
    cs_bug(s, "unary operator", (int)x->op);
}

/* An operand of max, min, division or ==: wrapped to a narrow stored type (cspell.h). */
static void operand(const cspell *s, const lp_nest *nest, bool in_acc, const ir_access *store_dst,
                    const ir_expr *x)
{
    bool w = wrap_open(s, nest);
    cs_expr(s, nest, in_acc, store_dst, x);
    if (w)
        sb_printf(s->b, ")");
}

void cs_expr(const cspell *s, const lp_nest *nest, bool in_acc, const ir_access *store_dst,
             const ir_expr *x)
{
    einc_dtype t = nest->compute;
    const char *at = cs_arith_type(s, t);
    switch (x->op) {
    case IR_ACCESS:
        if (s->lp->acc[x->acc.tensor]) {
            if (in_acc) {
                sb_printf(s->b, "acc");
            } else {
                einc_dtype dt = s->p->tensor[store_dst->tensor].dtype;
                if (!dtype_is_float(t))
                    sb_printf(s->b, "(%s)", at);
                if (dtype_is_half(dt))
                    sb_printf(s->b, "%s(", dt == EINC_F16 ? "einc_h2f" : "einc_bf2f");
                cs_access(s, store_dst);
                if (dtype_is_half(dt))
                    sb_printf(s->b, ")");
            }
            return;
        }
        cs_load(s, nest, &x->acc);
        return;
    case IR_CONST:
        if (dtype_is_float(t))
            cs_float_lit(s, t, x->c);
        else
            cs_int_lit(s, at, ir_const_bits(x->c));
        return;
    case IR_SIZE:
        sb_printf(s->b, "(%s)(", at);
        cs_mono(s, &x->m);
        sb_printf(s->b, ")");
        return;
    case IR_AXIS:
        sb_printf(s->b, "(%s)%s", at, s->loopvar[x->axis]);
        return;
    case IR_NEG: case IR_EXP: case IR_LOG: case IR_SQRT: case IR_RSQRT: case IR_TANH: case IR_ERF:
    case IR_SIGMOID:
        unary(s, nest, in_acc, store_dst, x);
        return;
    case IR_MUL: case IR_ADD: case IR_SUB: case IR_DIV: case IR_DIVZ: case IR_MAX: case IR_MIN:
    case IR_EQ:
        break;
    case IR_OP_COUNT:
        cs_bug(s, "operator", (int)x->op);
        return;
    }
    if ((unsigned)x->op >= IR_OP_COUNT) {   /* no case above */
        cs_bug(s, "operator", (int)x->op);
        return;
    }
    int h = helper_of(x, t);
    if (h >= 0) {               /* a function, so each operand is evaluated once */
        sb_printf(s->b, "%s%s(", helper_name[h], type_suffix[type_index(t)]);
        operand(s, nest, in_acc, store_dst, x->a);
        sb_printf(s->b, ", ");
        operand(s, nest, in_acc, store_dst, x->b);
        sb_printf(s->b, ")");
        return;
    }
    bool eq = x->op == IR_EQ;
    if (eq)
        sb_printf(s->b, "(%s)", at);
    sb_printf(s->b, "(");
    if (eq)
        operand(s, nest, in_acc, store_dst, x->a);
    else
        cs_expr(s, nest, in_acc, store_dst, x->a);
    sb_printf(s->b, " %s ", eq ? "==" : ir_op_name(x->op));
    if (eq)
        operand(s, nest, in_acc, store_dst, x->b);
    else
        cs_expr(s, nest, in_acc, store_dst, x->b);
    sb_printf(s->b, ")");
}

/* ---- helper functions ----------------------------------------------------------------------- */

/*
 * A complex division NAME(a, b), Smith's as numpy's and the interpreter's: scaled by b's
 * larger part, so |b|^2 cannot overflow; with zero, b == 0 gives 0.  The parts are read
 * and written through a union with the array of two reals that C99 lays a complex out as
 * (6.2.5), so no <complex.h>, I macro or GNU __real__ is needed.
 */
static void complex_div(const cspell *s, einc_dtype t, const char *name, const char *sfx, bool zero)
{
    const char *R = t == EINC_C64 ? "float" : "double", *T = cs_arith_type(s, t);
    const char *abs = t == EINC_C64 ? "fabsf" : "fabs";
    sb_printf(s->b, "#ifndef EINC_H_%s%s\n#define EINC_H_%s%s\n%s %s %s%s(%s a, %s b)\n{\n"
                    "    union { %s z; %s p[2]; } x, y, o;\n    %s r, d;\n    x.z = a;\n    y.z = b;\n",
              name + 5, sfx, name + 5, sfx, s->fn, T, name, sfx, T, T, T, R, R);
    if (zero)
        sb_printf(s->b, "    if (y.p[0] == 0 && y.p[1] == 0)\n        return 0;\n");
    sb_printf(s->b, "    if (%s(y.p[0]) >= %s(y.p[1])) {\n"
                    "        r = y.p[1] / y.p[0];\n        d = y.p[0] + y.p[1] * r;\n"
                    "        o.p[0] = (x.p[0] + x.p[1] * r) / d;\n        o.p[1] = (x.p[1] - x.p[0] * r) / d;\n"
                    "    } else {\n"
                    "        r = y.p[0] / y.p[1];\n        d = y.p[0] * r + y.p[1];\n"
                    "        o.p[0] = (x.p[0] * r + x.p[1]) / d;\n        o.p[1] = (x.p[1] * r - x.p[0]) / d;\n"
                    "    }\n    return o.z;\n}\n#endif\n", abs, abs);
}

void cs_helpers(const cspell *s)
{
    for (int h = 0; h < H_COUNT; h++)
        for (int i = 0; i < NTYPES; i++) {
            einc_dtype t = helper_type[i];
            if (!(s->helpers & helper_bit(h, t)))
                continue;
            if (dtype_is_complex(t) && (h == H_MAX || h == H_MIN)) {    /* bind.c refuses these */
                cc_error(s->c, EINC_ERR_DTYPE, -1, -1, "%s of %s: complex numbers have no order",
                         h == H_MAX ? "max" : "min", einc_dtype_name(t));
                return;
            }
            const char *T = cs_arith_type(s, t), *S = cmp_type(s, t);
            const char *name = helper_name[h], *sfx = type_suffix[i];
            if (dtype_is_complex(t)) {
                complex_div(s, t, name, sfx, h == H_DIVZ);
                continue;
            }
            sb_printf(s->b, "#ifndef EINC_H_%s%s\n#define EINC_H_%s%s\n%s %s %s%s(%s a, %s b)\n{\n    return ",
                      name + 5, sfx, name + 5, sfx, s->fn, T, name, sfx, T, T);
            if (h == H_DIVZ && t == EINC_U64) {
                sb_printf(s->b, "b == 0 ? (%s)0 : a / b;\n", T);
            } else if (h == H_DIVZ && dtype_is_float(t)) {
                sb_printf(s->b, "b == 0 ? ");
                cs_float_lit(s, t, 0);
                sb_printf(s->b, " : a / b;\n");
            } else if (h == H_DIVZ && t == EINC_U64) {      /* 0 where b is 0 */
                sb_printf(s->b, "b == 0 ? (%s)0 : a / b;\n", T);
            } else if (h == H_DIVZ) {   /* 0 where b is 0; INT_MIN / -1 wraps, as numpy's */
                sb_printf(s->b, "b == 0 ? (%s)0 : b == (%s)-1 ? (%s)0 - a : (%s)((%s)a / (%s)b);\n", T, T,
                          T, T, S, S);
            } else if (dtype_is_float(t)) {     /* NaN propagates, as numpy's maximum */
                sb_printf(s->b, "a != a || a %s b ? a : b;\n", h == H_MAX ? ">" : "<");
            } else {
                sb_printf(s->b, "(%s)a %s (%s)b ? a : b;\n", S, h == H_MAX ? ">" : "<", S);
            }
            sb_printf(s->b, "}\n#endif\n");
        }
}

/* ---- the workspace -------------------------------------------------------------------------- */

/* Temporary t's bytes, rounded up to a multiple of 64. */
static void temp_bytes(const cspell *s, int t)
{
    const ir_tensor *T = &s->p->tensor[t];
    sb_printf(s->b, "((");
    for (int d = 0; d < T->ndim; d++) {
        sb_printf(s->b, "(size_t)(");
        cs_mono(s, &T->shape[d]);
        sb_printf(s->b, ") * ");
    }
    sb_printf(s->b, "%zu + 63) / 64 * 64)", dtype_size(T->dtype));
}

static bool mono_uses(const ir_mono *m, int a)
{
    for (int i = 0; i < m->n; i++)
        if (m->v[i] == a)
            return true;
    return false;
}

void cs_workspace_fn(const cspell *s, const char *prefix, const char *name, bool proto_only)
{
    const ir_prog *p = s->p;
    int nsize = 0;
    sb_printf(s->b, "%s%ssize_t %s_workspace(", prefix, *prefix ? " " : "", name);
    for (int a; (a = cg_param_at(s->lp, nsize)) >= 0;)     /* the kernel's order */
        sb_printf(s->b, "%sint64_t %s", nsize++ ? ", " : "", s->size[a]);
    sb_printf(s->b, "%s)%s", nsize ? "" : "void", proto_only ? ";\n" : "\n{\n");
    if (proto_only)
        return;
    for (int a = 0; a < p->naxis; a++) {
        bool used = false;
        for (int t = 0; t < p->ntensor && !used; t++)
            for (int d = 0; s->stored[t] && d < p->tensor[t].ndim; d++)
                used |= mono_uses(&p->tensor[t].shape[d], a);
        if (p->axis[a].size < 0 && !used)
            sb_printf(s->b, "    (void)%s;\n", s->size[a]);
    }
    sb_printf(s->b, "    return ");
    bool first = true;
    for (int t = 0; t < p->ntensor; t++)
        if (s->stored[t]) {
            sb_printf(s->b, "%s", first ? "" : "\n         + ");
            temp_bytes(s, t);
            sb_printf(s->b, "%s%s", " /* ", s->tensor[t]);
            sb_printf(s->b, " */");
            first = false;
        }
    sb_printf(s->b, ";\n}\n");
}

void cs_workspace_locals(const cspell *s, int depth, const char *restrict_kw)
{
    const ir_prog *p = s->p;
    int left = s->nstored;
    sb_printf(s->b, "%*schar *ws_ = (char *)workspace;\n", 4 * depth, "");
    for (int t = 0; t < p->ntensor; t++) {
        if (!s->stored[t])
            continue;
        const char *T = cs_host_type(p->tensor[t].dtype);
        sb_printf(s->b, "%*s%s *%s%s = (%s *)ws_;\n", 4 * depth, "", T, restrict_kw, s->tensor[t], T);
        if (--left) {
            sb_printf(s->b, "%*sws_ += ", 4 * depth, "");
            temp_bytes(s, t);
            sb_printf(s->b, ";\n");
        }
    }
}
