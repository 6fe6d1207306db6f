/*
 * model.c — the layer language's elaborator: a model's AST, with concrete shapes, becomes
 * one bound index-IR program.
 *
 * Evaluation is by value over a tiny interpreter of the AST: a name is bound to a value
 * (a tensor, a number, a string, none or a tuple), a `def` block is a macro expanded at
 * each call, and every built-in is a macro that appends index-IR statements.
 *
 * Tensor values are lazy (model_lazy.c): elementwise work grows a tree that is written out
 * only where an array is needed, so a block's layers fuse.  The built-ins are the rows of
 * MODEL_BUILTINS (model_int.h), bound and called by model_builtin.c.
 *
 * Shapes here are always concrete (the arrays' or the SIZE=N words'), so every check
 * PyTorch makes at run time — channel counts, groups, output sizes — is made here, with
 * the numbers, and every axis and tensor shape in the IR is a constant.
 *
 * Nothing here recurses as deep as the model is long.  The evaluator walks the AST with a
 * stack of its own (a generated model's `x + x + ... + x` is a left-deep tree 20,000 nodes
 * deep); a lazy tree is written to a temporary before it grows past MODEL_FUSE_DEPTH
 * levels, which bounds the recursion of every IR walker after us (ir.h: IR_MAX_EXPR_DEPTH);
 * only block calls recurse, at most 64 deep.  Names are found through hash tables, so a
 * 30,000-line model elaborates in linear time.
 */
#include "model_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- name tables ------------------------------------------------------------------------- */

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u;                   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The slot holding key, or the empty slot where it would go (m->cap > 0). */
static int map_slot(const strmap *m, const char *key)
{
    int i = (int)(hash_name(key) & (uint32_t)(m->cap - 1));
    while (m->key[i] && strcmp(m->key[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static void *map_get(const strmap *m, const char *key)
{
    return m->cap ? m->val[map_slot(m, key)] : NULL;
}

/* Binds key to v (replacing an earlier binding unless keep_first); false when out of memory. */
static bool map_put(elab *E, strmap *m, const char *key, void *v, bool keep_first)
{
    if (2 * (m->n + 1) > m->cap) {              /* at most half full: probes stay short */
        strmap g = { .cap = m->cap ? 2 * m->cap : 16 };
        g.key = ARENA_ARRAY(E->A, const char *, g.cap);
        g.val = ARENA_ARRAY(E->A, void *, g.cap);
        if (!g.key || !g.val)
            return cc_nomem(E->c), false;
        for (int i = 0; i < m->cap; i++)
            if (m->key[i]) {
                int k = map_slot(&g, m->key[i]);
                g.key[k] = m->key[i];
                g.val[k] = m->val[i];
            }
        g.n = m->n;
        *m = g;
    }
    int k = map_slot(m, key);
    if (m->key[k] && keep_first)
        return true;
    m->n += !m->key[k];
    m->key[k] = key;
    m->val[k] = v;
    return true;
}

/* ---- expressions ------------------------------------------------------------------------------- */

static val *eval(elab *E, strmap *env, const el_node *x, int scope_end);
static val *run_block(elab *E, const el_item *def, val **args, const el_node *call);

/* The block a call at scope_end names: its first definition, when that comes before. */
static const el_item *find_def(const elab *E, const char *name, int scope_end)
{
    const el_item *it = map_get(&E->defs, name);
    return it && it->begin < scope_end ? it : NULL;
}

/* A call, its arguments' values arg[0..x->nargs) in order. */
static val *call(elab *E, const el_node *x, val *const *arg, int scope_end)
{
    /* a copy: the value stack moves when a block's body grows it */
    val **pos = ARENA_ARRAY(E->A, val *, x->nargs + 1);
    if (!pos)
        return cc_nomem(E->c), NULL;
    if (x->nargs)
        memcpy(pos, arg, sizeof *pos * (size_t)x->nargs);
    const el_item *def = find_def(E, x->name, scope_end);
    if (def) {      /* a block: every parameter required, by position or by name */
        bi_param *param = ARENA_ARRAY(E->A, bi_param, def->nparams + 1);
        val **args = ARENA_ARRAY(E->A, val *, def->nparams + 1);
        if (!param || !args)
            return cc_nomem(E->c), NULL;
        for (int i = 0; i < def->nparams; i++)
            param[i] = (bi_param){ .name = def->params[i], .kind = D_REQUIRED };
        return bind_args(E, x, def->name, def->nparams, param, pos, args) ? run_block(E, def, args, x) : NULL;
    }
    const builtin *b = builtin_find(x->name);
    if (b)
        return builtin_call(E, b, x, pos);
    for (int i = 0; i < E->m->nitems; i++)
        if (E->m->items[i]->kind == EL_DEF && strcmp(E->m->items[i]->name, x->name) == 0)
            return shape_err(E, x->begin, x->begin + (int)strlen(x->name),
                        "block '%s' is used before its definition", x->name);
    const char *hint = builtin_suggest(x->name);
    cc_error(E->c, EINC_ERR_SYNTAX, x->begin, x->begin + (int)strlen(x->name), "unknown function '%s'%s%s%s",
             x->name, hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
    return NULL;
}

static val *arith(elab *E, char op, val *a, val *b, const el_node *x)
{
    if (a->kind == V_NUMBER && b->kind == V_NUMBER) {
        if (op == '/' && a->is_int && b->is_int && b->num == 0)
            return arg_err(E, b->begin, b->end, "division by zero: the divisor is the integer 0");
        val *r = new_val(E, V_NUMBER, x->begin, x->end);
        if (!r)
            return NULL;
        r->is_int = a->is_int && b->is_int && op != '/';
        r->num = op == '+' ? a->num + b->num : op == '-' ? a->num - b->num : op == '*' ? a->num * b->num : a->num / b->num;
        if (r->is_int && !(fabs(r->num) <= EINL_EXACT_INT))
            return arg_err(E, x->begin, x->end, "integer overflow: the result, %.17g, is beyond 2^53 - 1, "
                           "where a number (a double) stops being exact", r->num);
        return r;
    }
    einc_dtype like = a->kind == V_TENSOR ? a->t->dtype : b->kind == V_TENSOR ? b->t->dtype : EINC_F32;
    lz *p = as_tensor(E, a, "operator", "an operand", like), *q = as_tensor(E, b, "operator", "an operand", like);
    ir_op o = op == '+' ? IR_ADD : op == '-' ? IR_SUB : op == '*' ? IR_MUL : IR_DIV;
    lz *z = lz_binary(E, o, p, q, x->begin, x->end);
    if (z && !dtype_is_float(like) && ((a->kind == V_NUMBER && !a->is_int) || (b->kind == V_NUMBER && !b->is_int)))
        z->dtype = EINC_F32;    /* an integer tensor and a fraction: float32, as torch */
    return tensor_val(E, z, x->begin, x->end);
}

/* x's value, given the values k[0..) of its operands (kid). */
static val *apply(elab *E, strmap *env, const el_node *x, val *const *k, int scope_end)
{
    switch (x->kind) {
    case EL_NUMBER: {
        val *v = new_val(E, V_NUMBER, x->begin, x->end);
        if (v) {
            v->num = x->value;
            v->is_int = x->is_int;
        }
        return v;
    }
    case EL_STRING: {
        val *v = new_val(E, V_STRING, x->begin, x->end);
        if (v) {
            v->str = x->str;
            v->str_begin = x->str_begin;
        }
        return v;
    }
    case EL_NAME: {
        const val *v = map_get(env, x->name);
        if (v) {    /* the value, with this use's span for the errors about it */
            val *u = new_val(E, v->kind, x->begin, x->end);
            if (u) {
                *u = *v;
                u->begin = x->begin;
                u->end = x->end;
            }
            return u;
        }
        /* a declared size name is its integer, in blocks too; a binding shadows it (above) */
        const int64_t *size = map_get(&E->sizes, x->name);
        if (size) {
            val *u = new_val(E, V_NUMBER, x->begin, x->end);
            if (u) {
                u->num = (double)*size;
                u->is_int = true;
            }
            return u;
        }
        if (strcmp(x->name, "none") == 0)
            return new_val(E, V_NONE, x->begin, x->end);
        cc_error(E->c, EINC_ERR_SYNTAX, x->begin, x->end, "name '%s' is not defined", x->name);
        return NULL;
    }
    case EL_TUPLE: {
        val *v = new_val(E, V_TUPLE, x->begin, x->end);
        if (!v || !(v->item = ARENA_ARRAY(E->A, val *, x->nargs + 1)))
            return cc_nomem(E->c), NULL;
        v->n = x->nargs;
        if (x->nargs)
            memcpy(v->item, k, sizeof *v->item * (size_t)x->nargs);
        return v;
    }
    case EL_NEG: {
        const val *a = k[0];
        if (a->kind == V_NUMBER) {
            val *v = new_val(E, V_NUMBER, x->begin, x->end);
            if (v) {
                v->num = -a->num;
                v->is_int = a->is_int;
            }
            return v;
        }
        lz *t = as_tensor(E, a, "unary -", "the operand", EINC_F32);
        return t ? tensor_val(E, lz_unary(E, IR_NEG, t), x->begin, x->end) : NULL;
    }
    case EL_BINARY:
        return arith(E, x->op, k[0], k[1], x);
    case EL_CALL:
        return call(E, x, k, scope_end);
    }
    return NULL;
}

/* How many operands x has: the values apply needs first. */
static int nkids(const el_node *x)
{
    switch (x->kind) {
    case EL_BINARY:
        return 2;
    case EL_NEG:
        return 1;
    case EL_CALL:
    case EL_TUPLE:
        return x->nargs;
    default:
        return 0;
    }
}

static const el_node *kid(const el_node *x, int i)
{
    if (x->kind == EL_BINARY)
        return i ? x->b : x->a;
    return x->kind == EL_NEG ? x->a : x->args[i].value;
}

/* Puts x on the evaluator's stack, with room for its value; false when out of memory. */
static bool push(elab *E, const el_node *x)
{
    evframe *f = grow(E, E->frame, E->nframe, &E->cap_frame, sizeof *f);
    val **v = f ? grow(E, E->vals, E->nvals, &E->cap_vals, sizeof *v) : NULL;
    if (!v)
        return false;
    E->frame = f;
    E->vals = v;
    f[E->nframe++] = (evframe){ x, 0, E->nvals };
    return true;
}

/*
 * The value of x: operands first, left to right, then x (apply).  A stack of frames, not
 * recursion, because x's depth is the user's: `return x + x + ... + x` is a left-deep tree
 * as deep as it is long.  A block call's body is evaluated by a nested eval, which uses
 * the same stacks above this one's top and leaves them as it found them.
 */
static val *eval(elab *E, strmap *env, const el_node *x, int scope_end)
{
    int fbase = E->nframe, vbase = E->nvals;
    if (!push(E, x))
        return NULL;
    while (E->nframe > fbase) {
        evframe *f = &E->frame[E->nframe - 1];
        if (f->done < nkids(f->x)) {
            if (!push(E, kid(f->x, f->done++)))
                break;
            continue;
        }
        int base = f->base;
        val *v = E->c->failed ? NULL : apply(E, env, f->x, E->vals + base, scope_end);
        if (!v)
            break;
        E->nframe--;
        E->nvals = base;
        E->vals[E->nvals++] = v;    /* push made room for it */
    }
    val *v = E->nframe == fbase ? E->vals[vbase] : NULL;
    E->nframe = fbase;
    E->nvals = vbase;
    return v;
}

/* Runs a block's body with its parameters bound; its return is the call's value. */
static val *run_block(elab *E, const el_item *def, val **args, const el_node *callsite)
{
    if (++E->depth > 64)
        return shape_err(E, callsite->begin, callsite->end, "blocks nest more than 64 deep");
    strmap env = { 0 };
    for (int i = 0; i < def->nparams; i++)
        if (!map_put(E, &env, def->params[i], args[i], false))
            return NULL;
    const el_item *caller = E->item;
    for (int i = 0; i < def->nbody; i++) {
        const el_item *it = def->body[i];
        E->item = it;
        val *v = eval(E, &env, it->value, def->begin);
        E->item = caller;
        if (!v)
            return NULL;
        if (it->kind == EL_RETURN) {
            E->depth--;
            return v;
        }
        if (!map_put(E, &env, it->name, v, false))
            return NULL;
    }
    return shape_err(E, def->name_begin, def->name_end, "block '%s' has no return", def->name);
}

/* ---- explain's names ------------------------------------------------------------------------- */

const char *origin_text(elab *E)
{
    const el_item *it = E->item;
    const char *src = E->c->src;
    if (!it || !src)
        return NULL;
    if (it == E->origin_item)
        return E->origin;       /* the statement's other temporaries share its text */
    if (!E->line_start) {       /* once: a model of 30,000 lines makes as many temporaries */
        int n = 1;
        for (const char *q = src; *q; q++)
            n += *q == '\n';
        if (!(E->line_start = ARENA_ARRAY(E->A, int, n + 1)))
            return cc_nomem(E->c), NULL;
        E->line_start[E->nline++] = 0;
        for (const char *q = src; *q; q++)
            if (*q == '\n')
                E->line_start[E->nline++] = (int)(q - src) + 1;
    }
    int lo = 0, hi = E->nline - 1;      /* the last line that starts at or before it */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (E->line_start[mid] <= it->begin)
            lo = mid;
        else
            hi = mid - 1;
    }
    enum { SHOWN = 48 };        /* a statement's first line, shortened */
    const char *text = src + it->begin;
    int len = 0;
    while (len < it->end - it->begin && text[len] != '\n')
        len++;
    bool cut = len < it->end - it->begin || len > SHOWN;
    char *o = arena_alloc(E->A, SHOWN + 48);
    if (!o)
        return cc_nomem(E->c), NULL;
    snprintf(o, SHOWN + 48, "line %d: %.*s%s", lo + 1, len > SHOWN ? SHOWN : len, text, cut ? "..." : "");
    E->origin_item = it;
    return E->origin = o;
}

/*
 * explain's axis names: an axis that indexes a dimension of an input declared with a size
 * name exactly is named after it (N, H, W), the others keep aN; a name already taken gets
 * "_1", "_2", ... so that the printed IR names each axis once.
 */
static void mark_axes(const elab *E, const ir_access *a, const char **cand)
{
    if (a->tensor >= E->p->ninput)
        return;
    const el_item *it = einl_input(E->m, a->tensor);
    for (int d = 0; d < a->ndim && d < it->ndim; d++) {
        int ax = ir_dim_axis(&a->dim[d]);
        if (ax >= 0 && !cand[ax] && it->dim[d].name)
            cand[ax] = it->dim[d].name;
    }
}

/* Recursion as deep as x, which is within IR_MAX_EXPR_DEPTH (model_lazy.c). */
static void mark_expr(const elab *E, const ir_expr *x, const char **cand)
{
    if (!x)
        return;
    if (x->op == IR_ACCESS)
        mark_axes(E, &x->acc, cand);
    mark_expr(E, x->a, cand);
    mark_expr(E, x->b, cand);
}

static bool name_axes(elab *E)
{
    ir_prog *p = E->p;
    const char **cand = ARENA_ARRAY(E->A, const char *, p->naxis + 1);
    strmap used = { 0 };
    if (!cand)
        return cc_nomem(E->c), false;
    for (int s = 0; s < p->nstmt; s++)
        mark_expr(E, p->stmt[s].rhs, cand);
    for (int a = 0; a < p->naxis; a++)
        if (!cand[a] && !map_put(E, &used, p->axis[a].name, &p->axis[a], false))
            return false;
    for (int a = 0; a < p->naxis; a++) {
        if (!cand[a])
            continue;
        size_t n = strlen(cand[a]);
        char *name = arena_alloc(E->A, n + 24);
        if (!name)
            return cc_nomem(E->c), false;
        memcpy(name, cand[a], n + 1);
        for (int k = 1; map_get(&used, name); k++)
            snprintf(name + n, 24, "_%d", k);
        if (!map_put(E, &used, name, &p->axis[a], false))
            return false;
        p->axis[a].name = name;
    }
    return true;
}

/* ---- the model ------------------------------------------------------------------------------- */

int einl_ninputs(const el_model *m) { return m->ninputs; }
int einl_nresults(const el_model *m) { return m->nresults; }
const char *einl_result_name(const el_model *m, int i)
{
    return i >= 0 && i < m->nresults ? m->result_name[i] : NULL;
}

const el_item *einl_input(const el_model *m, int k)
{
    return k >= 0 && k < m->ninputs ? m->inputs[k] : NULL;
}

static int64_t *size_slot(elab *E, const char *name) { return map_get(&E->sizes, name); }

/* Learns every size name's value from the SIZE=N words and the arrays, checking agreement. */
static int bind_sizes(elab *E, int nsizes, const einc_size *sizes, int ninputs, const einc_tensor *in)
{
    const el_model *m = E->m;
    int nin = einl_ninputs(m), maxn = 0;
    for (int i = 0; i < nin; i++)
        maxn += einl_input(m, i)->ndim;
    E->size_name = ARENA_ARRAY(E->A, const char *, maxn + 1);
    E->size_value = ARENA_ARRAY(E->A, int64_t, maxn + 1);
    int *from = ARENA_ARRAY(E->A, int, maxn + 1);       /* which input set it; -1: a word */
    if (!E->size_name || !E->size_value || !from)
        return cc_nomem(E->c);
    for (int i = 0; i < nin; i++) {
        const el_item *it = einl_input(m, i);
        for (int d = 0; d < it->ndim; d++)
            if (it->dim[d].name && !size_slot(E, it->dim[d].name)) {
                if (!map_put(E, &E->sizes, it->dim[d].name, &E->size_value[E->nsize], false))
                    return -1;
                E->size_name[E->nsize] = it->dim[d].name;
                from[E->nsize] = -2;
                E->size_value[E->nsize++] = -1;
            }
    }
    for (int i = 0; i < nsizes; i++) {
        int64_t *s = size_slot(E, sizes[i].name);
        if (!s)
            return cc_error(E->c, EINC_ERR_ARG, -1, -1, "size %s=%lld: the model declares no size "
                            "named '%s'", sizes[i].name, (long long)sizes[i].value, sizes[i].name);
        if (sizes[i].value < 0)
            return cc_error(E->c, EINC_ERR_ARG, -1, -1, "size %s=%lld must not be negative",
                            sizes[i].name, (long long)sizes[i].value);
        *s = sizes[i].value;
        from[s - E->size_value] = -1;
    }
    if (in && ninputs != nin)
        return cc_error(E->c, EINC_ERR_ARG, -1, -1, "the model takes %d array%s (its input and "
                        "param declarations), but %d %s given", nin, nin == 1 ? "" : "s", ninputs,
                        ninputs == 1 ? "was" : "were");
    for (int i = 0; in && i < nin; i++) {
        const el_item *it = einl_input(m, i);
        const einc_tensor *t = &in[i];
        const char *role = it->kind == EL_INPUT ? "input" : "param";
        if (t->dtype != it->dtype || t->ndim != it->ndim) {
            char want[256] = "", got[256] = "";
            size_t wl = 0, gl = 0;
            for (int d = 0; d < it->ndim && wl < sizeof want; d++)
                wl += (size_t)(it->dim[d].name ? snprintf(want + wl, sizeof want - wl, "%s%s", d ? ", " : "", it->dim[d].name)
                                               : snprintf(want + wl, sizeof want - wl, "%s%lld", d ? ", " : "", (long long)it->dim[d].value));
            for (int d = 0; d < t->ndim && gl < sizeof got; d++)
                gl += (size_t)snprintf(got + gl, sizeof got - gl, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
            return cc_error(E->c, t->dtype != it->dtype ? EINC_ERR_DTYPE : EINC_ERR_SHAPE, it->begin, it->end,
                            "%s '%s' is declared %s[%s], but the array is %s[%s]", role, it->name,
                            einc_dtype_name(it->dtype), want, einc_dtype_name(t->dtype), got);
        }
        for (int d = 0; d < it->ndim; d++) {
            const el_dim *dm = &it->dim[d];
            int64_t n = t->shape[d];
            if (!dm->name) {
                if (n != dm->value)
                    return cc_error(E->c, EINC_ERR_SHAPE, dm->begin, dm->end, "%s '%s': dimension %d "
                                    "is declared %lld, but the array's is %lld", role, it->name, d,
                                    (long long)dm->value, (long long)n);
                continue;
            }
            int64_t *s = size_slot(E, dm->name);
            int k = (int)(s - E->size_value);
            if (*s < 0) {
                *s = n;
                from[k] = i;
            } else if (*s != n) {
                if (from[k] == -1)
                    return cc_error(E->c, EINC_ERR_SHAPE, dm->begin, dm->end, "size %s is %lld on "
                                    "the command line, but %s '%s' has %s=%lld", dm->name,
                                    (long long)*s, role, it->name, dm->name, (long long)n);
                return cc_error(E->c, EINC_ERR_SHAPE, dm->begin, dm->end, "size %s is %lld in '%s' "
                                "but %lld in '%s'", dm->name, (long long)*s, einl_input(m, from[k])->name,
                                (long long)n, it->name);
            }
        }
    }
    for (int k = 0; k < E->nsize; k++)
        if (E->size_value[k] < 0)
            for (int i = 0; i < nin; i++) {
                const el_item *it = einl_input(m, i);
                for (int d = 0; d < it->ndim; d++)
                    if (it->dim[d].name && strcmp(it->dim[d].name, E->size_name[k]) == 0)
                        return cc_error(E->c, EINC_ERR_ARG, it->dim[d].begin, it->dim[d].end,
                                        "size %s has no value: give %s=N or the arrays",
                                        E->size_name[k], E->size_name[k]);
            }
    return 0;
}

/*
 * Result i's tensor, an output: the temporary the value already is, else a copy (an input
 * returned as is, a view, an expression not yet written, a tensor an earlier result has).
 */
static int result_tensor(elab *E, val *v, int nres, const char *name, const int *outs, int i)
{
    if (v->kind != V_TENSOR) {
        lz *t = v->kind == V_NUMBER ? lz_const(E, v->num, v->is_int ? EINC_I64 : EINC_F32) : NULL;
        if (!t) {
            cc_error(E->c, EINC_ERR_ARG, v->begin, v->end, "the model must return a tensor, "
                     "not %s", kind_name(v->kind));
            return -1;
        }
        v->t = t;
    }
    /* one result keeps the name "out" emitted code has always had; several their own */
    const char *tname = nres == 1 ? "out" : name;
    for (int t = 0; nres > 1 && t < E->p->ntensor; t++)
        if (E->p->tensor[t].role == IR_INPUT && !strcmp(E->p->tensor[t].name, name)) {
            size_t n = strlen(name) + 5;
            char *buf = arena_alloc(E->A, n);
            if (!buf)
                return cc_nomem(E->c);
            snprintf(buf, n, "out_%s", name);
            tname = buf;
            break;
        }
    lz *r = v->t;
    bool taken = false;
    for (int j = 0; j < i; j++)
        taken |= r->op == IR_ACCESS && outs[j] == r->tensor;
    int out;
    if (is_whole(E, r) && E->p->tensor[r->tensor].role == IR_TEMP && !taken) {
        out = r->tensor;
        E->p->tensor[out].role = IR_OUTPUT;
        E->p->tensor[out].name = tname;
    } else {
        out = materialize_as(E, r, tname, IR_OUTPUT);
    }
    if (out < 0)
        return -1;
    E->p->tensor[out].begin = v->begin;
    E->p->tensor[out].end = v->end;
    return out;
}

ir_prog *einl_elaborate(cc *c, const el_model *m, int nsizes, const einc_size *sizes, int ninputs,
                        const einc_tensor *inputs)
{
    elab E = { .c = c, .A = c->A, .m = m };
    E.p = ARENA_NEW(c->A, ir_prog);
    if (!E.p)
        return cc_nomem(c), NULL;
    E.p->dialect = DIALECT_EINOPS;
    E.p->why = "layer language (.einl)";
    E.p->kind = IR_MODEL;
    E.p->reduce = IR_COMB_SUM;
    for (int i = 0; i < m->nitems; i++)
        if (m->items[i]->kind == EL_DEF && !map_put(&E, &E.defs, m->items[i]->name, m->items[i], true))
            return NULL;
    if (bind_sizes(&E, nsizes, sizes, ninputs, inputs) < 0)
        return NULL;
    strmap env = { 0 };
    int nin = einl_ninputs(m);
    for (int i = 0; i < nin; i++) {
        const el_item *it = einl_input(m, i);
        int64_t sh[EINC_MAX_RANK];
        for (int d = 0; d < it->ndim; d++)
            sh[d] = it->dim[d].name ? *size_slot(&E, it->dim[d].name) : it->dim[d].value;
        int t = new_tensor(&E, it->name, IR_INPUT, it->dtype, it->ndim, sh, it->name_begin, it->name_end);
        val *v = t >= 0 ? tensor_val(&E, lz_tensor(&E, t), it->name_begin, it->name_end) : NULL;
        if (!v || !map_put(&E, &env, it->name, v, false))
            return NULL;
    }
    E.p->ninput = nin;
    val *result = NULL;
    const el_item *ret = NULL;
    for (int i = 0; i < m->nitems && !c->failed; i++) {
        const el_item *it = m->items[i];
        if (it->kind == EL_ASSIGN || it->kind == EL_RETURN) {
            if (it->kind == EL_RETURN && ret) {
                cc_error(c, EINC_ERR_SYNTAX, it->begin, it->end, "a second top-level return");
                return NULL;
            }
            E.item = it;
            val *v = eval(&E, &env, it->value, it->begin);
            if (!v)
                return NULL;
            if (it->kind == EL_RETURN) {
                result = v;
                ret = it;
            } else if (!map_put(&E, &env, it->name, v, false)) {
                return NULL;
            }
        }
    }
    if (c->failed)
        return NULL;
    if (!ret) {
        int end = (int)strlen(c->src);
        cc_error(c, EINC_ERR_SYNTAX, end, end, "the model has no top-level return");
        return NULL;
    }
    bool many = ret->value->kind == EL_TUPLE && result->kind == V_TUPLE;
    int nres = many ? result->n : 1;
    int *outs = ARENA_ARRAY(E.A, int, nres);
    if (!outs)
        return cc_nomem(c), NULL;
    for (int i = 0; i < nres; i++)
        if ((outs[i] = result_tensor(&E, many ? result->item[i] : result, many ? nres : 1,
                                     m->result_name[i], outs, i)) < 0)
            return NULL;
    if (ir_outputs_last(c, E.p, outs, nres) < 0)
        return NULL;
    E.p->bound = true;
    if (!name_axes(&E))
        return NULL;
    return E.p;
}
