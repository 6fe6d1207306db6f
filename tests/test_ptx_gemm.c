/*
 * test_ptx_gemm.c — what NVRTC and ptxas say of the contraction kernels (codegen/cuda_gemm.c)
 * with no GPU (tests/ptx_check.h): `ik,kj->ij` at 4096 (float32 and float64) and
 * `bhid,bhjd->bhij` at (8, 16, 1024, 64) compile for sm_90 without spills, within the
 * registers 256 threads a block may have and 48 KiB of static shared memory, and their PTX
 * has the tiles' structure: shared memory, barriers, and for float32 16-byte global loads
 * and 16-byte shared-memory fragment reads.  With TF32 allowed, `ik,kj->ij` at 4096 and
 * `bhid,bhjd->bhij` compile for sm_80 and sm_90 without spills to the tensor-core variant:
 * mma.sync m16n8k8 tf32, cvt.rna.tf32, cp.async with its groups, shared-memory reads and
 * barriers (ptxas' register count is printed).  float16 and bfloat16 factors of both
 * shapes compile for sm_80 and sm_90 without spills to the 16-bit variant: mma.sync
 * m16n8k16 with float32 accumulators, ldmatrix and its .trans, cp.async, barriers; for
 * sm_75 the same text compiles to the plain form (no mma.sync, no ldmatrix).  Skips, saying
 * why, when NVRTC cannot be loaded.
 */
#define _GNU_SOURCE
#include "einc.h"
#include "ptx_check.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The kernels of expr's .cu at the given sizes: no #include, nothing past the kernels. */
static char *kernels_of(const char *expr, einc_dtype dt, const einc_size *sz, int nsz, int tf32)
{
    einc_error err = { 0 };
    einc_kernel *k = NULL;
    einc_options o = { .nsizes = nsz, .sizes = sz, .allow_tf32 = tf32 };
    einc_ctx *ctx = einc_ctx_new();
    assert_non_null(ctx);
    if (einc_compile(ctx, expr, &o, &k, &err))
        fail_msg("%s: %s", expr, err.message);
    char *cu = einc_kernel_emit(k, EINC_EMIT_CUDA, "g", dt, NULL, &err);
    if (!cu)
        fail_msg("emit: %s", err.message);
    static const char *const host[] = { "\n#ifndef EINC_CUDA_GRID", "\nextern \"C\" cudaError_t",
                                        "\nextern \"C\" size_t" };
    for (size_t i = 0; i < sizeof host / sizeof *host; i++) {
        char *p = strstr(cu, host[i]);
        if (p)
            p[1] = '\0';
    }
    for (char *p; (p = strstr(cu, "#include <"));)
        memset(p, ' ', strcspn(p, "\n"));
    einc_kernel_free(k);
    einc_ctx_free(ctx);
    return cu;
}

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

static void check(const char *expr, einc_dtype dt, const einc_size *sz, int nsz, const char *const *need)
{
    char *src = kernels_of(expr, dt, sz, nsz, -1);
    assert_non_null(strstr(src, "einc_gemm_block<"));      /* the gemm form, not the plain one */
    ptx_build b;
    char msg[8192];
    int rc = ptx_build_src(src, &b, msg, sizeof msg);
    if (rc == 1) {
        fprintf(stderr, "test_ptx_gemm: skipped: %s\n", msg);
        free(src);
        skip();
    }
    if (rc < 0)
        fail_msg("%s: %s", expr, msg);
    assert_int_equal(b.n, 1);
    char why[256];
    if (*ptx_lean(&b, "g_k0", 256, why, sizeof why))
        fail_msg("%s (%s): %s\n%s", expr, einc_dtype_name(dt), why, b.log);
    const ptx_entry *e = ptx_find(&b, "g_k0");
    assert_true(e->barriers >= 1);
    assert_true(e->smem >= 2 * 2 * 8 * 64 * 8);     /* two buffers of two slices */
    char *body = ptx_body(&b, "g_k0");
    assert_non_null(body);
    for (int i = 0; need[i]; i++)
        if (!has_any(body, need[i]))
            fail_msg("%s (%s): no %s in the PTX of g_k0", expr, einc_dtype_name(dt), need[i]);
    free(body);
    ptx_build_free(&b);
    free(src);
}

static void sgemm_4096(void **state)
{
    (void)state;
    einc_size sz[3] = { { "i", 4096 }, { "j", 4096 }, { "k", 4096 } };
    static const char *const need[] = { ".shared", "bar.sync", "ld.global.nc.v4.f32|ld.global.v4.f32",
                                        "ld.shared.v4.f32", "fma.rn.f32", NULL };
    check("ik,kj->ij", EINC_F32, sz, 3, need);
}

/* transposed operands: B read along k, A along m; still 16-byte loads */
static void sgemm_transposed(void **state)
{
    (void)state;
    einc_size sz[3] = { { "i", 4096 }, { "j", 4096 }, { "k", 4096 } };
    static const char *const need[] = { ".shared", "bar.sync", "ld.global.nc.v4.f32|ld.global.v4.f32", NULL };
    check("ik,jk->ij", EINC_F32, sz, 3, need);
    check("ki,kj->ij", EINC_F32, sz, 3, need);
}

static void dgemm_4096(void **state)
{
    (void)state;
    einc_size sz[3] = { { "i", 4096 }, { "j", 4096 }, { "k", 4096 } };
    static const char *const need[] = { ".shared", "bar.sync", "fma.rn.f64", NULL };
    check("ik,kj->ij", EINC_F64, sz, 3, need);
}

static void attention_scores(void **state)
{
    (void)state;
    einc_size sz[5] = { { "b", 8 }, { "h", 16 }, { "i", 1024 }, { "j", 1024 }, { "d", 64 } };
    static const char *const need[] = { ".shared", "bar.sync", "ld.global.nc.v4.f32|ld.global.v4.f32", NULL };
    check("bhid,bhjd->bhij", EINC_F32, sz, 5, need);
}

/* The tensor-core variant of expr (float32 with TF32, or float16 or bfloat16) for sm_80
   and sm_90, and for sm_75 where a 16-bit one must be the plain form; also: more PTX the
   sm_80 and sm_90 bodies must have, or NULL. */
static void check_tc(const char *expr, einc_dtype dt, const einc_size *sz, int nsz, const char *also)
{
    bool half = dt != EINC_F32;
    char *src = kernels_of(expr, dt, sz, nsz, half ? -1 : 1);
    assert_non_null(strstr(src, half ? "einc_hc_block<" : "einc_tc_block(einc_a"));
    assert_null(strstr(src, "einc_gemm_block<"));
    static const char *const need_tf32[] = { "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32", "cvt.rna.tf32.f32",
                                             "cp.async.cg.shared.global", "cp.async.commit_group",
                                             "cp.async.wait_group 1", "ld.shared.f32", "bar.sync", NULL };
    static const char *const need_f16[] = { "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32",
                                            "ldmatrix.sync.aligned.m8n8.x4.shared.b16",
                                            "cp.async.cg.shared.global", "cp.async.commit_group",
                                            "cp.async.wait_group 1", "bar.sync", NULL };
    static const char *const need_bf16[] = { "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32",
                                             "ldmatrix.sync.aligned.m8n8.x4.shared.b16",
                                             "cp.async.cg.shared.global", "bar.sync", NULL };
    const char *const *need = dt == EINC_F16 ? need_f16 : dt == EINC_BF16 ? need_bf16 : need_tf32;
    const char *arch[] = { "sm_80", "sm_90", "sm_75" };
    for (int a = 0; a < (half ? 3 : 2); a++) {
        ptx_build b;
        char msg[8192];
        int rc = ptx_build_arch(src, arch[a], &b, msg, sizeof msg);
        if (rc == 1) {
            fprintf(stderr, "test_ptx_gemm: skipped: %s\n", msg);
            free(src);
            skip();
        }
        if (rc < 0)
            fail_msg("%s: %s", expr, msg);
        char why[256];
        const char *what = half ? einc_dtype_name(dt) : "TF32";
        if (*ptx_lean(&b, "g_k0", 256, why, sizeof why))
            fail_msg("%s (%s, %s): %s\n%s", expr, what, arch[a], why, b.log);
        char *body = ptx_body(&b, "g_k0");
        assert_non_null(body);
        if (a == 2) {           /* sm_75: no m16n8k16 f32 or cp.async there */
            if (strstr(body, "mma.sync") || strstr(body, "ldmatrix") || strstr(body, "cp.async"))
                fail_msg("%s (%s, %s): tensor-core instructions in the PTX of g_k0", expr, what, arch[a]);
            free(body);
            ptx_build_free(&b);
            continue;
        }
        const ptx_entry *e = ptx_find(&b, "g_k0");
        assert_true(e->barriers >= 1);
        fprintf(stderr, "test_ptx_gemm: %s with %s on %s: %d registers, %d bytes stack, %d spilled\n", expr,
                what, arch[a], e->regs, e->stack, e->spill_stores + e->spill_loads);
        for (int i = 0; need[i]; i++)
            if (!strstr(body, need[i]))
                fail_msg("%s (%s, %s): no %s in the PTX of g_k0", expr, what, arch[a], need[i]);
        if (also && !strstr(body, also))
            fail_msg("%s (%s, %s): no %s in the PTX of g_k0", expr, what, arch[a], also);
        free(body);
        ptx_build_free(&b);
    }
    free(src);
}

static void sgemm_tf32(void **state)
{
    (void)state;
    einc_size sz[3] = { { "i", 4096 }, { "j", 4096 }, { "k", 4096 } };
    check_tc("ik,kj->ij", EINC_F32, sz, 3, NULL);
}

static void attention_scores_tf32(void **state)
{
    (void)state;
    einc_size sz[5] = { { "b", 8 }, { "h", 16 }, { "i", 1024 }, { "j", 1024 }, { "d", 64 } };
    check_tc("bhid,bhjd->bhij", EINC_F32, sz, 5, NULL);
}

/* float16 and bfloat16: `ik,kj->ij` (B's fragments through .trans) and attention scores
   (both along k) */
static void hgemm(void **state)
{
    (void)state;
    einc_size sz[3] = { { "i", 4096 }, { "j", 4096 }, { "k", 4096 } };
    einc_size sa[5] = { { "b", 8 }, { "h", 16 }, { "i", 1024 }, { "j", 1024 }, { "d", 64 } };
    const char *trans = "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16";
    check_tc("ik,kj->ij", EINC_F16, sz, 3, trans);
    check_tc("ik,kj->ij", EINC_BF16, sz, 3, trans);
    check_tc("bhid,bhjd->bhij", EINC_F16, sa, 5, NULL);
    check_tc("bhid,bhjd->bhij", EINC_BF16, sa, 5, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sgemm_4096),
        cmocka_unit_test(sgemm_transposed),
        cmocka_unit_test(dgemm_4096),
        cmocka_unit_test(attention_scores),
        cmocka_unit_test(sgemm_tf32),
        cmocka_unit_test(attention_scores_tf32),
        cmocka_unit_test(hgemm),
    };
    return cmocka_run_group_tests_name("ptx gemm", tests, NULL, NULL);
}
