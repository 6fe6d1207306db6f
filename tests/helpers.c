/* helpers.c — see helpers.h. */
#define _GNU_SOURCE
#include "helpers.h"
#include "nvrtc.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

uint64_t th_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

double th_uniform(uint64_t *state, double lo, double hi)
{
    return lo + (hi - lo) * (double)(th_next(state) >> 11) / 9007199254740992.0;
}

size_t th_dtype_size(einc_dtype t)
{
    return t == EINC_F64 || t == EINC_I64 ? 8 : t == EINC_BOOL ? 1 : 4;
}

double th_get(einc_dtype t, const void *p, int64_t i)
{
    switch (t) {
    case EINC_F32: return ((const float *)p)[i];
    case EINC_F64: return ((const double *)p)[i];
    case EINC_I32: return ((const int32_t *)p)[i];
    case EINC_I64: return (double)((const int64_t *)p)[i];
    default: return ((const uint8_t *)p)[i];
    }
}

void th_put(einc_dtype t, void *p, int64_t i, double v)
{
    switch (t) {
    case EINC_F32: ((float *)p)[i] = (float)v; break;
    case EINC_F64: ((double *)p)[i] = v; break;
    case EINC_I32: ((int32_t *)p)[i] = (int32_t)v; break;
    case EINC_I64: ((int64_t *)p)[i] = (int64_t)v; break;
    default: ((uint8_t *)p)[i] = v != 0; break;
    }
}

int th_parse_sizes(const char *text, char names[][32], einc_size *out, int max)
{
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    char *save;
    for (char *tok = strtok_r(buf, " ", &save); tok && n < max; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        snprintf(names[n], 32, "%.*s", (int)(eq - tok), tok);
        out[n] = (einc_size){ names[n], atoll(eq + 1) };
        n++;
    }
    return n;
}

void th_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

int th_rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

bool th_have(const char *cmd)
{
    char line[512];
    snprintf(line, sizeof line, "%s >/dev/null 2>&1", cmd);
    return system(line) == 0;
}

bool th_have_jit(void)
{
    einc_ctx *ctx = einc_ctx_new();
    einc_kernel *k = NULL;
    einc_options o = { .target = EINC_TARGET_CPU };
    bool jit = einc_compile(ctx, "i->i", &o, &k, NULL) == EINC_OK;
    einc_kernel_free(k);
    einc_ctx_free(ctx);
    return jit;
}

bool th_have_nvrtc(void)
{
    nvrtc_lib L;
    char err[256];
    if (nvrtc_open(&L, err, sizeof err) < 0)
        return false;
    nvrtc_close(&L);
    return true;
}

void *th_dlsym(void **h, const char *so, const char *sym)
{
    if (!*h && !(*h = dlopen(so, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)))
        fail_msg("dlopen: %s", dlerror());
    void *f = dlsym(*h, sym);
    if (!f)
        fail_msg("no %s in %s", sym, so);
    return f;
}

/* ---- index-IR programs by hand -------------------------------------------------------------- */

void pb_init(pb *b, arena *A, bool bound)
{
    *b = (pb){ .A = A, .bound = bound };
    b->p = ARENA_NEW(A, ir_prog);
    b->p->axis = ARENA_ARRAY(A, ir_axis, PB_MAXAX);
    b->p->tensor = ARENA_ARRAY(A, ir_tensor, PB_MAXT);
    b->p->stmt = ARENA_ARRAY(A, ir_stmt, PB_MAXS);
    b->p->bound = bound;
    b->p->kind = IR_EINSUM;
    b->p->reduce = IR_COMB_SUM;
}

int pb_axis(pb *b, const char *name, int64_t size)
{
    ir_prog *p = b->p;
    assert_true(p->naxis < PB_MAXAX);
    p->axis[p->naxis] = (ir_axis){ .name = name, .size = b->bound ? size : -1, .given = b->bound,
                                   .in_input = true, .in_output = true };
    return p->naxis++;
}

int pb_tensor(pb *b, const char *name, ir_role role, einc_dtype dt, fill f, int ndim, ...)
{
    ir_prog *p = b->p;
    assert_true(p->ntensor < PB_MAXT);
    ir_tensor *T = &p->tensor[p->ntensor];
    *T = (ir_tensor){ .name = name, .role = role, .dtype = dt, .ndim = ndim };
    T->shape = ARENA_ARRAY(b->A, ir_mono, ndim + 1);
    va_list ap;
    va_start(ap, ndim);
    for (int d = 0; d < ndim; d++) {
        int *v = ARENA_NEW(b->A, int);
        *v = va_arg(ap, int);
        T->shape[d] = (ir_mono){ 1, 1, v };
    }
    va_end(ap);
    b->fill[p->ntensor] = f;
    if (role == IR_INPUT)
        p->ninput++;
    if (role == IR_OUTPUT && !p->noutput++)
        p->output = p->ntensor;
    return p->ntensor++;
}

ir_dim pb_dim(pb *b, int a1, int64_t c1, int a2, int64_t off)
{
    int n = a2 >= 0 ? 2 : 1;
    ir_term *t = ARENA_ARRAY(b->A, ir_term, n);
    t[0] = (ir_term){ a1, { c1, 0, NULL } };
    if (a2 >= 0)
        t[1] = (ir_term){ a2, { 1, 0, NULL } };
    return (ir_dim){ n, t, off };
}

ir_access pb_at(pb *b, int t, ...)
{
    int ndim = b->p->tensor[t].ndim;
    ir_access a = { .tensor = t, .ndim = ndim, .dim = ARENA_ARRAY(b->A, ir_dim, ndim + 1) };
    va_list ap;
    va_start(ap, t);
    for (int d = 0; d < ndim; d++)
        a.dim[d] = pb_dim(b, va_arg(ap, int), 1, -1, 0);
    va_end(ap);
    return a;
}

static ir_expr *ex(pb *b, ir_op op)
{
    ir_expr *x = ARENA_NEW(b->A, ir_expr);
    x->op = op;
    return x;
}

ir_expr *pb_rd(pb *b, ir_access a)
{
    ir_expr *x = ex(b, IR_ACCESS);
    x->acc = a;
    return x;
}

ir_expr *pb_cst(pb *b, double v)
{
    ir_expr *x = ex(b, IR_CONST);
    x->c = v;
    return x;
}

ir_expr *pb_ax(pb *b, int a)
{
    ir_expr *x = ex(b, IR_AXIS);
    x->axis = a;
    return x;
}

ir_expr *pb_op1(pb *b, ir_op op, ir_expr *a)
{
    ir_expr *x = ex(b, op);
    x->a = a;
    return x;
}

ir_expr *pb_op2(pb *b, ir_op op, ir_expr *a, ir_expr *c)
{
    ir_expr *x = ex(b, op);
    x->a = a;
    x->b = c;
    return x;
}

static void add_axis(int *v, int *n, int a)
{
    for (int i = 0; i < *n; i++)
        if (v[i] == a)
            return;
    v[(*n)++] = a;
}

static void expr_axes(const ir_expr *x, int *v, int *n)
{
    if (!x)
        return;
    if (x->op == IR_AXIS)
        add_axis(v, n, x->axis);
    if (x->op == IR_ACCESS)
        for (int d = 0; d < x->acc.ndim; d++)
            for (int t = 0; t < x->acc.dim[d].n; t++)
                add_axis(v, n, x->acc.dim[d].t[t].axis);
    expr_axes(x->a, v, n);
    expr_axes(x->b, v, n);
}

ir_stmt *pb_stmt(pb *b, ir_access out, ir_comb comb, ir_expr *rhs)
{
    ir_prog *p = b->p;
    assert_true(p->nstmt < PB_MAXS);
    ir_stmt *s = &p->stmt[p->nstmt++];
    *s = (ir_stmt){ .out = out, .comb = comb, .rhs = rhs };
    s->free = ARENA_ARRAY(b->A, int, PB_MAXAX);
    s->red = ARENA_ARRAY(b->A, int, PB_MAXAX);
    for (int d = 0; d < out.ndim; d++)
        add_axis(s->free, &s->nfree, out.dim[d].t[0].axis);
    int all[PB_MAXAX], n = 0;
    expr_axes(rhs, all, &n);
    for (int i = 0; i < n; i++) {
        bool is_free = false;
        for (int k = 0; k < s->nfree; k++)
            is_free |= s->free[k] == all[i];
        if (!is_free)
            s->red[s->nred++] = all[i];
    }
    return s;
}
