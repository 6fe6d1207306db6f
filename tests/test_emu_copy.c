/*
 * test_emu_copy.c — CUDA copies (codegen/cuda_copy.c) and the vector form of elementwise
 * maps (codegen/cuda.c) on the CUDA emulator against the interpreter: every shape class of
 * a transpose and of an elementwise copy, in every dtype,
 * with each block's threads forward and in reverse (a missing barrier between a tile's
 * two phases reads poisoned shared memory in one of them).  (The CUDA target refuses
 * strided views today, so there are none here.)
 * Each case's kernel text must also be the copy (or vector) form (the test fails if a case falls back
 * to one thread per element, which would pass the value checks without testing anything).
 * Without a C++ compiler every test skips and says why.
 */
#define _GNU_SOURCE
#include "cc.h"
#include "codegen.h"
#include "cuda.h"
#include "helpers.h"
#include "ir.h"
#include "pipeline.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static bool have_cxx;
static cuda_backend *gpu[2];     /* EINC_CUDA_EMU_ORDER forward, reverse */

/*
 * out[axes in perm order] = x[axes in order], or a class of its own: a diagonal read
 * (x[i, i]) or a broadcast (x[i] into out[i, j]); MAP is no copy but the elementwise map
 * out[a, b] = x[a, b] * y[b], float32, whose vector form (cuda.c) runs where b % 4 == 0.
 */
typedef enum shape { PERMUTE, DIAGONAL, BROADCAST, MAP } shape;

typedef struct ccase {
    const char *name;
    shape kind;
    int ndim;
    int64_t size[4];
    int perm[4];                /* out's dimension d is axis perm[d] */
    einc_dtype dt;
} ccase;

static const ccase cases[] = {
    /* transposes: tiles through shared memory */
    { "abcd->dcba", PERMUTE, 4, { 3, 5, 7, 11 }, { 3, 2, 1, 0 }, EINC_F32 },
    { "abcd->dcba tile+1", PERMUTE, 4, { 33, 2, 3, 33 }, { 3, 2, 1, 0 }, EINC_F32 },
    { "ij->ji tile-1", PERMUTE, 2, { 31, 31 }, { 1, 0 }, EINC_F64 },
    { "ij->ji tile", PERMUTE, 2, { 32, 64 }, { 1, 0 }, EINC_I32 },
    { "ij->ji primes", PERMUTE, 2, { 37, 101 }, { 1, 0 }, EINC_I64 },
    { "ij->ji bool", PERMUTE, 2, { 45, 67 }, { 1, 0 }, EINC_BOOL },
    { "ij->ji 1x1", PERMUTE, 2, { 1, 1 }, { 1, 0 }, EINC_F32 },
    { "ij->ji 1xn", PERMUTE, 2, { 1, 70 }, { 1, 0 }, EINC_F32 },
    { "ij->ji 2xn", PERMUTE, 2, { 2, 700 }, { 1, 0 }, EINC_F32 },
    { "ij->ji nx3", PERMUTE, 2, { 700, 3 }, { 1, 0 }, EINC_F64 },
    { "ij->ji 0xn", PERMUTE, 2, { 0, 5 }, { 1, 0 }, EINC_F32 },
    { "b h w c -> b c h w", PERMUTE, 4, { 2, 5, 7, 3 }, { 0, 3, 1, 2 }, EINC_F32 },
    { "b h w c -> b c h w u8", PERMUTE, 4, { 2, 9, 13, 3 }, { 0, 3, 1, 2 }, EINC_BOOL },
    { "b c h w -> b h w c", PERMUTE, 4, { 2, 3, 9, 17 }, { 0, 2, 3, 1 }, EINC_F32 },
    { "b c h w -> b h w c i64", PERMUTE, 4, { 3, 33, 4, 8 }, { 0, 2, 3, 1 }, EINC_I64 },
    { "abc->acb", PERMUTE, 3, { 4, 40, 33 }, { 0, 2, 1 }, EINC_F32 },
    /* the same innermost axis on both sides: rows, 16 bytes a thread where they allow */
    { "abc->bac", PERMUTE, 3, { 5, 6, 8 }, { 1, 0, 2 }, EINC_F32 },
    { "abc->bac odd", PERMUTE, 3, { 5, 6, 7 }, { 1, 0, 2 }, EINC_F32 },
    { "abc->bac i64", PERMUTE, 3, { 3, 4, 6 }, { 1, 0, 2 }, EINC_I64 },
    { "abc->bac u8", PERMUTE, 3, { 3, 5, 32 }, { 1, 0, 2 }, EINC_BOOL },
    { "ij->ij", PERMUTE, 2, { 9, 12 }, { 0, 1 }, EINC_I32 },
    { "ij->ij prime", PERMUTE, 2, { 7, 13 }, { 0, 1 }, EINC_F64 },
    { "i->i 1", PERMUTE, 1, { 1 }, { 0 }, EINC_F32 },
    { "i->i 0", PERMUTE, 1, { 0 }, { 0 }, EINC_F32 },
    /* strides that are not a permutation's */
    { "ii->i", DIAGONAL, 1, { 9 }, { 0 }, EINC_F32 },
    { "i->ij", BROADCAST, 2, { 7, 33 }, { 0, 1 }, EINC_I32 },
    /* elementwise maps: 16 bytes a thread where the row allows, else one element */
    { "ij,j->ij", MAP, 2, { 5, 8 }, { 0, 1 }, EINC_F32 },
    { "ij,j->ij 1x4", MAP, 2, { 1, 4 }, { 0, 1 }, EINC_F32 },
    { "ij,j->ij odd", MAP, 2, { 5, 7 }, { 0, 1 }, EINC_F32 },
    { "ij,j->ij 0", MAP, 2, { 0, 8 }, { 0, 1 }, EINC_F32 },
};
enum { NCASE = sizeof cases / sizeof *cases };

static ir_access at(pb *b, int t, int n, const int *ax)
{
    switch (n) {
    case 1: return pb_at(b, t, ax[0]);
    case 2: return pb_at(b, t, ax[0], ax[1]);
    case 3: return pb_at(b, t, ax[0], ax[1], ax[2]);
    default: return pb_at(b, t, ax[0], ax[1], ax[2], ax[3]);
    }
}

static int tensor(pb *b, const char *name, ir_role role, einc_dtype dt, int n, const int *ax)
{
    switch (n) {
    case 1: return pb_tensor(b, name, role, dt, F_ANY, 1, ax[0]);
    case 2: return pb_tensor(b, name, role, dt, F_ANY, 2, ax[0], ax[1]);
    case 3: return pb_tensor(b, name, role, dt, F_ANY, 3, ax[0], ax[1], ax[2]);
    default: return pb_tensor(b, name, role, dt, F_ANY, 4, ax[0], ax[1], ax[2], ax[3]);
    }
}

static void build(pb *b, const ccase *k)
{
    static const char *const names[] = { "a", "b", "c", "d" };
    int ax[4], oax[4];
    for (int d = 0; d < k->ndim; d++)
        ax[d] = pb_axis(b, names[d], k->size[d]);
    if (k->kind == MAP) {
        int bb[1] = { ax[1] };
        int x = tensor(b, "x", IR_INPUT, k->dt, 2, ax);
        int y = tensor(b, "y", IR_INPUT, k->dt, 1, bb);
        int o = tensor(b, "out", IR_OUTPUT, k->dt, 2, ax);
        pb_stmt(b, at(b, o, 2, ax), IR_COMB_ASSIGN,
                pb_op2(b, IR_MUL, pb_rd(b, at(b, x, 2, ax)), pb_rd(b, at(b, y, 1, bb))));
        return;
    }
    if (k->kind == DIAGONAL) {
        int ii[2] = { ax[0], ax[0] };
        int x = tensor(b, "x", IR_INPUT, k->dt, 2, ii);
        int o = tensor(b, "out", IR_OUTPUT, k->dt, 1, ax);
        pb_stmt(b, at(b, o, 1, ax), IR_COMB_ASSIGN, pb_rd(b, at(b, x, 2, ii)));
        return;
    }
    for (int d = 0; d < k->ndim; d++)
        oax[d] = ax[k->perm[d]];
    int x = tensor(b, "x", IR_INPUT, k->dt, k->kind == BROADCAST ? 1 : k->ndim, ax);
    int o = tensor(b, "out", IR_OUTPUT, k->dt, k->ndim, oax);
    pb_stmt(b, at(b, o, k->ndim, oax), IR_COMB_ASSIGN,
            pb_rd(b, at(b, x, k->kind == BROADCAST ? 1 : k->ndim, ax)));
}

static size_t bytes(const ir_prog *p, int t)
{
    int64_t n = ir_tensor_elems(p, &p->tensor[t]);
    return (size_t)(n > 0 ? n : 1) * th_dtype_size(p->tensor[t].dtype);
}

static void copy_case(void **state)
{
    if (!have_cxx)
        skip();
    const ccase *k = &cases[(intptr_t)*state];
    arena A = { 0 };
    einc_error err = { 0 };
    cc c = { .A = &A, .src = k->name, .err = &err };
    pb b;
    pb_init(&b, &A, true);
    build(&b, k);
    const ir_prog *p = b.p;
    /* the kernel is the copy form */
    pipeline pl = pipeline_from(p, PL_GPU, NULL, NULL);
    assert_int_equal(pipeline_run(&c, &pl, PL_SCHEDULE), 0);
    cg_opts o = { "einc", k->name, false };
    char *src = cg_cuda_kernels(&c, pl.lp, &o);
    assert_non_null(src);
    if (!strstr(src, k->kind == MAP ? "einc_load_f4(&" : "    einc_copy<"))
        fail_msg("%s: not the %s form:\n%s", k->name, k->kind == MAP ? "vector" : "copy", src);
    free(src);
    void *bufs[4] = { 0 };
    int out = p->output;
    for (int x = 0; x < p->ntensor; x++) {
        if (p->tensor[x].role != IR_INPUT)
            continue;
        bufs[x] = malloc(bytes(p, x));
        for (int64_t e = 0; e < ir_tensor_elems(p, &p->tensor[x]); e++)
            th_put(k->dt, bufs[x], e, k->dt == EINC_BOOL ? (double)(e % 3 == 0) : (double)((e + x) % 251) - 100);
    }
    void *want = malloc(bytes(p, out)), *got = malloc(bytes(p, out));
    memset(want, 0xA5, bytes(p, out));
    bufs[out] = want;
    if (interp_run(&c, p, bufs, NULL) < 0)
        fail_msg("%s: the interpreter: %s", k->name, err.message);
    bufs[out] = got;
    for (int g = 0; g < 2; g++) {
        memset(got, 0xA5, bytes(p, out));
        if (cuda_run(gpu[g], &c, k->name, p, bufs, false) < 0)
            fail_msg("%s: the CUDA emulator (%s): %s", k->name, g ? "reverse" : "forward", err.message);
        for (size_t i = 0; i < bytes(p, out); i++)
            if (((unsigned char *)got)[i] != ((unsigned char *)want)[i])
                fail_msg("%s: the CUDA emulator (%s) differs from the interpreter at byte %zu: %d, not %d",
                         k->name, g ? "reverse" : "forward", i, ((unsigned char *)got)[i],
                         ((unsigned char *)want)[i]);
    }
    for (int x = 0; x < p->ntensor; x++)
        if (p->tensor[x].role == IR_INPUT)
            free(bufs[x]);
    free(want);
    free(got);
    arena_free(&A);
}

static int open_gpus(void **state)
{
    (void)state;
    setenv("EINC_CUDA_EMU", "1", 1);
    have_cxx = system("${CXX:-c++} --version >/dev/null 2>&1") == 0;
    if (!have_cxx) {
        fprintf(stderr, "test_emu_copy: skipped: no C++ compiler (CXX or c++), which the emulator needs\n");
        return 0;
    }
    static const char *const order[2] = { "forward", "reverse" };
    for (int g = 0; g < 2; g++) {
        setenv("EINC_CUDA_EMU_ORDER", order[g], 1);
        gpu[g] = cuda_new();
        einc_error err = { 0 };
        arena A = { 0 };
        cc c = { .A = &A, .err = &err };
        if (!gpu[g] || !cuda_ready(gpu[g], &c)) {
            fprintf(stderr, "test_emu_copy: the emulator does not open: %s\n", err.message);
            arena_free(&A);
            return -1;
        }
        arena_free(&A);
    }
    unsetenv("EINC_CUDA_EMU_ORDER");
    return 0;
}

static int close_gpus(void **state)
{
    (void)state;
    for (int g = 0; g < 2; g++)
        cuda_free(gpu[g]);
    return 0;
}

int main(void)
{
    struct CMUnitTest tests[NCASE];
    for (int i = 0; i < NCASE; i++)
        tests[i] = (struct CMUnitTest){ cases[i].name, copy_case, NULL, NULL, (void *)(intptr_t)i };
    return _cmocka_run_group_tests("emu copies", tests, NCASE, open_gpus, close_gpus);
}
