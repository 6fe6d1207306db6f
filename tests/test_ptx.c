/*
 * test_ptx.c — what NVRTC and ptxas say about the copy and elementwise kernels, with no
 * GPU (tests/ptx_check.h): each kernel compiled for sm_90 spills nothing and fits its
 * registers and shared memory, and its PTX has the structure its kind needs: transposes
 * go through shared memory with barriers, a copy whose rows match and a float32 map whose
 * arrays step along its innermost axis move 16 bytes a load and a store, and an
 * elementwise kernel divides in 32 bits where its sizes allow.  Skips
 * when NVRTC cannot be loaded.
 */
#include "cc.h"
#include "ir.h"
#include "loop.h"
#include "codegen.h"
#include "pipeline.h"
#include "helpers.h"
#include "ptx_check.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* The kernels NVRTC would get for expr (every size open), named NAME_kI; NULL on error. */
static char *kernels(const char *expr, einc_dtype dt, const char *name)
{
    arena A = { 0 };
    einc_error err = { 0 };
    cc c = { .A = &A, .src = expr, .err = &err };
    ast_expr *e = parse_expr(&c);
    bind_opts o = { .reduce = EINC_REDUCE_SUM, .dtype = dt, .open_repeats = true };
    ir_prog *p = e ? bind_expr(&c, e, &o, 0, NULL) : NULL;
    char *s = NULL;
    if (p) {
        pipeline pl = pipeline_from(p, PL_GPU, NULL, NULL);
        if (pipeline_run(&c, &pl, PL_SCHEDULE) == 0) {
            cg_opts co = { name, expr, false };
            s = cg_cuda_kernels(&c, pl.lp, &co);
        }
    }
    if (!s)
        fail_msg("%s: %s", expr, err.message);
    arena_free(&A);
    return s;
}

typedef struct pcase {
    const char *expr;
    einc_dtype dt;
    const char *const need[4];  /* in the entry's PTX, each of them (alternatives split by |) */
} pcase;

static const pcase cases[] = {
    { "abcd->dcba", EINC_F32, { ".shared", "bar.sync", "ld.shared", "st.shared" } },
    { "b c h w -> b h w c", EINC_F32, { ".shared", "bar.sync", "ld.shared", "st.shared" } },
    { "ij->ji", EINC_F64, { ".shared", "bar.sync", "ld.shared.f64|ld.shared.u64|ld.shared.b64" } },
    /* the same innermost axis: rows, 16 bytes a load and a store where aligned */
    { "a b c -> b a c", EINC_F32, { "ld.global.nc.v4|ld.global.v4", "st.global.v4" } },
    { "a b c -> b a c", EINC_F64, { "ld.global.nc.v4|ld.global.v4", "st.global.v4" } },
    /* an elementwise map: 32-bit division where the sizes fit, 64-bit where not */
    { "ij,ij->ij", EINC_F32, { "rem.u32|div.u32", "rem.s64|div.s64|rem.u64|div.u64" } },
    /* float32 maps whose arrays all step along the innermost axis: 16 bytes a thread */
    { "ij,j->ij", EINC_F32, { "ld.global.nc.v4|ld.global.v4", "st.global.v4", "rem.u32|div.u32" } },
    { "abc,abc->abc", EINC_F32, { "ld.global.nc.v4|ld.global.v4", "st.global.v4" } },
};
enum { NCASE = sizeof cases / sizeof *cases };

/* Does text hold one of the |-separated alternatives of need? */
static bool has_any(const char *text, const char *need)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", need);
    char *save = NULL;
    for (char *t = strtok_r(buf, "|", &save); t; t = strtok_r(NULL, "|", &save))
        if (strstr(text, t))
            return true;
    return false;
}

static void ptx_case(void **state)
{
    const pcase *k = &cases[(intptr_t)*state];
    char *src = kernels(k->expr, k->dt, "pc");
    ptx_build b;
    char msg[8192];
    int rc = ptx_build_src(src, &b, msg, sizeof msg);
    if (rc == 1) {
        fprintf(stderr, "test_ptx: skipped: %s\n", msg);
        free(src);
        skip();
    }
    if (rc < 0)
        fail_msg("%s: %s", k->expr, msg);
    assert_int_equal(b.n, 1);
    char why[256];
    if (*ptx_lean(&b, "pc_k0", 256, why, sizeof why))
        fail_msg("%s (%s): %s", k->expr, einc_dtype_name(k->dt), why);
    char *body = ptx_body(&b, "pc_k0");
    assert_non_null(body);
    for (int i = 0; i < 4 && k->need[i]; i++)
        if (!has_any(body, k->need[i]))
            fail_msg("%s (%s): no %s in the PTX of pc_k0:\n%s", k->expr, einc_dtype_name(k->dt), k->need[i], body);
    if (strstr(k->need[0], ".shared")) {      /* the tile's barriers: ptxas counts one */
        const ptx_entry *e = ptx_find(&b, "pc_k0");
        assert_true(e->barriers >= 1);
        assert_true(e->smem > 0);
    }
    free(body);
    ptx_build_free(&b);
    free(src);
}

/* The report parser itself, on ptxas' own words: a test of the helper the others trust. */
static void parse_report(void **state)
{
    (void)state;
    ptx_build b = { 0 };
    b.log = strdup("ptxas info    : 0 bytes gmem\n"
                   "ptxas info    : Compiling entry function 'x_k0' for 'sm_90'\n"
                   "ptxas info    : Function properties for x_k0\n"
                   "    192 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads\n"
                   "ptxas info    : Used 64 registers, used 1 barriers, 192 bytes cumulative stack size, "
                   "6144 bytes smem\n");
    ptx_parse_log(&b);
    assert_int_equal(b.n, 1);
    const ptx_entry *e = ptx_find(&b, "x_k0");
    assert_non_null(e);
    assert_int_equal(e->regs, 64);
    assert_int_equal(e->stack, 192);
    assert_int_equal(e->spill_stores, 8);
    assert_int_equal(e->spill_loads, 4);
    assert_int_equal(e->smem, 6144);
    assert_int_equal(e->barriers, 1);
    char why[256];
    assert_string_equal(ptx_lean(&b, "x_k0", 256, why, sizeof why), "x_k0 spills: 8 bytes stored, 4 loaded");
    ptx_build_free(&b);
}

int main(void)
{
    struct CMUnitTest tests[NCASE + 1];
    for (int i = 0; i < NCASE; i++)
        tests[i] = (struct CMUnitTest){ cases[i].expr, ptx_case, NULL, NULL, (void *)(intptr_t)i };
    tests[NCASE] = (struct CMUnitTest)cmocka_unit_test(parse_report);
    return _cmocka_run_group_tests("ptx", tests, NCASE + 1, NULL, NULL);
}
