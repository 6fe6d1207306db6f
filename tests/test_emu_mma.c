/*
 * test_emu_mma.c — einc's tensor-core and cp.async wrappers (codegen/cuda_mma.c for NVRTC,
 * runtime/cuda_emu_mma.hh on the emulator), each in a small hand-written kernel through the
 * emulator's driver entry points, against a plain computation here:
 *   - einc_tf32 rounds to 10 mantissa bits, to nearest, ties away from zero;
 *   - einc_mma_tf32 (m16n8k8), einc_mma_f16 and einc_mma_bf16 (m16n8k16): each lane loads
 *     its fragments by the PTX ISA's tables (written out here, apart from the emulator's),
 *     and D must be A·B + C with a distinct value in every element of A, B and C, so a
 *     lane or register the emulator places wrongly changes D;
 *   - einc_ldmatrix_x4 and its .trans: every lane's four registers against the table;
 *   - einc_cp_async16 with commit and wait_group: a group is in shared memory after the
 *     wait that retires it (not before, on the emulator), 0 source bytes zero-fill, and a
 *     destination outside shared memory is an error;
 *   - an mma that half a warp reaches is an error naming the lane, in both thread orders.
 * Then NVRTC compiles the wrappers for sm_80 and sm_90: their PTX holds the instructions.
 * Without a C++ compiler (or NVRTC, for the last test) the tests skip and say why.
 */
#define _GNU_SOURCE
#include "alloc.h"
#include "cuda_emu.h"
#include "cuda_launch.h"
#include "ptx_check.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static bool have_cxx;
static char *prelude;           /* cu_mma_routine's text */
static int prelude_lines;

typedef struct drv {
    cuda_emu *emu;
    int (*load)(void **m, const void *image);
    int (*unload)(void *m);
    int (*function)(void **f, void *m, const char *name);
    int (*launch)(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                  unsigned shmem, void *stream, void **params, void **extra);
    int (*error_string)(int r, const char **s);
} drv;

static void drv_open(drv *d, const char *order)
{
    setenv("EINC_CUDA_EMU_ORDER", order, 1);
    char why[256];
    *d = (drv){ 0 };
    if (cuda_emu_open(&d->emu, why, sizeof why) < 0)
        fail_msg("%s", why);
    unsetenv("EINC_CUDA_EMU_ORDER");
    *(void **)&d->load = cuda_emu_sym("cuModuleLoadData");
    *(void **)&d->unload = cuda_emu_sym("cuModuleUnload");
    *(void **)&d->function = cuda_emu_sym("cuModuleGetFunction");
    *(void **)&d->launch = cuda_emu_sym("cuLaunchKernel");
    *(void **)&d->error_string = cuda_emu_sym("cuGetErrorString");
    assert_non_null(d->launch);
}

/* The wrappers, then src; kernel k on 1 block of `block` threads with pointer arguments
   a[0..n); the first error's message ("" when none) in msg. */
static void drv_run(drv *d, const char *src, const char *k, unsigned block, void **a, int n, char *msg,
                    size_t len)
{
    size_t pl = strlen(prelude), sl = strlen(src);
    char *text = malloc(pl + sl + 1);
    assert_non_null(text);
    memcpy(text, prelude, pl);
    memcpy(text + pl, src, sl + 1);
    void *m = NULL, *f = NULL;
    unsigned long long ptr[8];
    void *args[8];
    const char *s = "";
    int r = d->load(&m, text);
    if (!r)
        r = d->function(&f, m, k);
    for (int i = 0; i < n; i++) {
        ptr[i] = (unsigned long long)(uintptr_t)a[i];
        args[i] = &ptr[i];
    }
    if (!r)
        r = d->launch(f, 1, 1, 1, block, 1, 1, 0, NULL, args, NULL);
    if (r)
        d->error_string(r, &s);
    snprintf(msg, len, "%s", s);
    if (m)
        d->unload(m);
    free(text);
}

static void drv_close(drv *d) { cuda_emu_close(d->emu); }

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* An integer |v| < 2048 as float16's bits, exactly. */
static uint16_t f16_of_int(int v)
{
    if (v == 0)
        return 0;
    unsigned s = v < 0, m = (unsigned)(v < 0 ? -v : v), e = 0;
    while ((m >> (e + 1)) != 0)
        e++;
    return (uint16_t)(s << 15 | (e + 15) << 10 | ((m << (10 - e)) & 0x3ffu));
}

/* An integer |v| <= 256 as bfloat16's bits, exactly (float32's top half). */
static uint16_t bf16_of_int(int v) { return (uint16_t)(bits_of((float)v) >> 16); }

static void tf32_rounding(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    /* 1 + 2^-11 is a tie: away from zero; 1 + 2^-12 rounds down; 1 + 3*2^-12 up; a
       carry into the exponent; sign kept; a value with 10 bits stays */
    const float in[8] = { 1.0f + 0x1p-11f, 1.0f + 0x1p-12f, 1.0f + 3 * 0x1p-12f, -(1.0f + 0x1p-11f),
                          2.0f - 0x1p-23f, 1.0f + 0x1p-10f + 0x1p-11f, 1234.0f, 0.0f };
    const float want[8] = { 1.0f + 0x1p-10f, 1.0f, 1.0f + 0x1p-10f, -(1.0f + 0x1p-10f),
                            2.0f, 1.0f + 0x1p-9f, 1234.0f, 0.0f };
    float out[8];
    void *a[2] = { (void *)in, out };
    char msg[512];
    drv d;
    drv_open(&d, "forward");
    drv_run(&d,
            "extern \"C\" __global__ void r(const float *in, float *out)\n"
            "{\n"
            "    out[threadIdx.x] = __uint_as_float(einc_tf32(in[threadIdx.x]));\n"
            "}\n",
            "r", 8, a, 2, msg, sizeof msg);
    assert_string_equal(msg, "");
    for (int i = 0; i < 8; i++)
        if (bits_of(out[i]) != bits_of(want[i]))
            fail_msg("einc_tf32(%a) = %a, not %a", (double)in[i], (double)out[i], (double)want[i]);
    drv_close(&d);
}

/* D = A·B + C on 16 x K by K x 8, K = 8 (tf32) or 16; fragments by the PTX ISA's tables. */
static const char mma_tf32_src[] =
    "extern \"C\" __global__ void m(const float *A, const float *B, const float *C, float *D)\n"
    "{\n"
    "    const int l = threadIdx.x % 32, g = l / 4, t = l % 4;\n"
    "    unsigned a[4], b[2];\n"
    "    float c[4], d[4];\n"
    "    for (int i = 0; i < 4; i++)\n"
    "        a[i] = einc_tf32(A[(g + 8 * (i % 2)) * 8 + t + 4 * (i / 2)]);\n"
    "    for (int i = 0; i < 2; i++)\n"
    "        b[i] = einc_tf32(B[(t + 4 * i) * 8 + g]);\n"
    "    for (int i = 0; i < 4; i++)\n"
    "        c[i] = C[(g + 8 * (i / 2)) * 8 + 2 * t + i % 2];\n"
    "    einc_mma_tf32(d, a, b, c);\n"
    "    for (int i = 0; i < 4; i++)\n"
    "        D[(g + 8 * (i / 2)) * 8 + 2 * t + i % 2] = d[i];\n"
    "}\n";

static const char mma_16_src[] =
    "extern \"C\" __global__ void m(const unsigned short *A, const unsigned short *B, const float *C, float *D)\n"
    "{\n"
    "    const int l = threadIdx.x % 32, g = l / 4, t = l % 4;\n"
    "    unsigned a[4], b[2];\n"
    "    float c[4], d[4];\n"
    "    for (int i = 0; i < 4; i++) {\n"
    "        const int r = g + 8 * (i % 2), k = 2 * t + 8 * (i / 2);\n"
    "        a[i] = A[r * 16 + k] | (unsigned)A[r * 16 + k + 1] << 16;\n"
    "    }\n"
    "    for (int i = 0; i < 2; i++) {\n"
    "        const int k = 2 * t + 8 * i;\n"
    "        b[i] = B[k * 8 + g] | (unsigned)B[(k + 1) * 8 + g] << 16;\n"
    "    }\n"
    "    for (int i = 0; i < 4; i++)\n"
    "        c[i] = C[(g + 8 * (i / 2)) * 8 + 2 * t + i % 2];\n"
    "    MMA(d, a, b, c);\n"
    "    for (int i = 0; i < 4; i++)\n"
    "        D[(g + 8 * (i / 2)) * 8 + 2 * t + i % 2] = d[i];\n"
    "}\n";

/* Distinct integers: A[r][k], B[k][n], C[r][n]; want = A·B + C. */
static void mma_case(int K, int kind /* 0 tf32, 1 f16, 2 bf16 */, const char *order)
{
    float A[16 * 16], B[16 * 8], C[16 * 8], D[16 * 8], want[16 * 8];
    uint16_t Ah[16 * 16], Bh[16 * 8];
    for (int i = 0; i < 16 * K; i++) {
        int v = (i * 37) % (16 * K) - 8 * K;       /* a permutation of -8K .. 8K-1 */
        A[i] = (float)v;
        Ah[i] = kind == 1 ? f16_of_int(v) : bf16_of_int(v);
    }
    for (int i = 0; i < K * 8; i++) {
        int v = (i * 29) % (8 * K) - 4 * K;
        B[i] = (float)v;
        Bh[i] = kind == 1 ? f16_of_int(v) : bf16_of_int(v);
    }
    for (int i = 0; i < 128; i++) {
        C[i] = (float)(1000 * i);
        D[i] = NAN;
    }
    for (int r = 0; r < 16; r++)
        for (int n = 0; n < 8; n++) {
            double s = C[r * 8 + n];
            for (int k = 0; k < K; k++)
                s += (double)A[r * K + k] * B[k * 8 + n];
            want[r * 8 + n] = (float)s;
        }
    char src[4096];
    if (kind == 0)
        snprintf(src, sizeof src, "%s", mma_tf32_src);
    else
        snprintf(src, sizeof src, "#define MMA %s\n%s", kind == 1 ? "einc_mma_f16" : "einc_mma_bf16", mma_16_src);
    void *a[4] = { kind ? (void *)Ah : (void *)A, kind ? (void *)Bh : (void *)B, C, D };
    char msg[512];
    drv d;
    drv_open(&d, order);
    drv_run(&d, src, "m", 32, a, 4, msg, sizeof msg);
    assert_string_equal(msg, "");
    for (int i = 0; i < 128; i++)
        if (D[i] != want[i])
            fail_msg("%s, %s order: D[%d][%d] = %g, not %g", kind == 0 ? "tf32" : kind == 1 ? "f16" : "bf16",
                     order, i / 8, i % 8, (double)D[i], (double)want[i]);
    drv_close(&d);
}

static void mma_tf32(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    mma_case(8, 0, "forward");
    mma_case(8, 0, "reverse");
}

static void mma_f16(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    mma_case(16, 1, "forward");
    mma_case(16, 1, "reverse");
}

static void mma_bf16(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    mma_case(16, 2, "forward");
    mma_case(16, 2, "random:3");
}

/* A 16 x 16 tile of 16-bit values in shared memory; lane l names row l % 8 of matrix l / 8
   (matrix j: rows 8 (j % 2).., columns 8 (j / 2)..); out[l * 4 + j] = its register j. */
static void ldmatrix(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    uint16_t tile[256];
    for (int i = 0; i < 256; i++)
        tile[i] = (uint16_t)(i * 97 % 256 + 1000);
    for (int trans = 0; trans < 2; trans++) {
        unsigned out[128];
        memset(out, 0, sizeof out);
        char src[2048];
        snprintf(src, sizeof src,
                 "extern \"C\" __global__ void x(const unsigned short *in, unsigned *out)\n"
                 "{\n"
                 "    __shared__ unsigned short s[256] __align__(16);\n"
                 "    const int l = threadIdx.x;\n"
                 "    for (int i = 0; i < 8; i++)\n"
                 "        s[l * 8 + i] = in[l * 8 + i];\n"
                 "    __syncwarp();\n"
                 "    unsigned r[4];\n"
                 "    %s(r, &s[(l %% 8 + 8 * (l / 8 %% 2)) * 16 + 8 * (l / 16)]);\n"
                 "    for (int j = 0; j < 4; j++)\n"
                 "        out[l * 4 + j] = r[j];\n"
                 "}\n",
                 trans ? "einc_ldmatrix_x4_trans" : "einc_ldmatrix_x4");
        void *a[2] = { tile, out };
        char msg[512];
        drv d;
        drv_open(&d, "reverse");
        drv_run(&d, src, "x", 32, a, 2, msg, sizeof msg);
        assert_string_equal(msg, "");
        drv_close(&d);
        for (int l = 0; l < 32; l++)
            for (int j = 0; j < 4; j++) {
                int r0 = 8 * (j % 2), c0 = 8 * (j / 2);
                unsigned lo, hi;
                if (!trans) {
                    lo = tile[(r0 + l / 4) * 16 + c0 + 2 * (l % 4)];
                    hi = tile[(r0 + l / 4) * 16 + c0 + 2 * (l % 4) + 1];
                } else {
                    lo = tile[(r0 + 2 * (l % 4)) * 16 + c0 + l / 4];
                    hi = tile[(r0 + 2 * (l % 4) + 1) * 16 + c0 + l / 4];
                }
                if (out[l * 4 + j] != (lo | hi << 16))
                    fail_msg("ldmatrix%s: lane %d register %d = 0x%08x, not 0x%08x", trans ? ".trans" : "", l, j,
                             out[l * 4 + j], lo | hi << 16);
            }
    }
}

/* Two groups of 16-byte copies, the second half zero-filled; what shared memory holds
   after wait_group 1 and after wait_group 0. */
static void cp_async(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    float in[256], out[3 * 256];
    for (int i = 0; i < 256; i++)
        in[i] = (float)(i + 1);
    void *a[2] = { in, out };
    char msg[512];
    drv d;
    drv_open(&d, "reverse");
    drv_run(&d,
            "extern \"C\" __global__ void c(const float *in, float *out)\n"
            "{\n"
            "    __shared__ float s[512] __align__(16);\n"
            "    const int t = threadIdx.x;\n"
            "    einc_cp_async16(&s[t * 4], &in[t * 4], 16);\n"
            "    einc_cp_async_commit();\n"
            "    einc_cp_async16(&s[256 + t * 4], &in[t * 4], t % 2 ? 0 : 16);\n"
            "    einc_cp_async_commit();\n"
            "    einc_cp_async_wait<1>();\n"
            "    __syncthreads();\n"
            "    for (int i = 0; i < 4; i++) {\n"
            "        out[t * 4 + i] = s[t * 4 + i];\n"
            "        out[256 + t * 4 + i] = s[256 + t * 4 + i];\n"
            "    }\n"
            "    einc_cp_async_wait<0>();\n"
            "    __syncthreads();\n"
            "    for (int i = 0; i < 4; i++)\n"
            "        out[512 + t * 4 + i] = s[256 + t * 4 + i];\n"
            "}\n",
            "c", 64, a, 2, msg, sizeof msg);
    assert_string_equal(msg, "");
    for (int i = 0; i < 256; i++) {
        assert_true(out[i] == in[i]);
        assert_true(isnan(out[256 + i]));       /* the second group is still in flight */
        assert_true(out[512 + i] == (i / 4 % 2 ? 0.0f : in[i]));
    }
    /* a destination in global memory */
    drv_run(&d,
            "extern \"C\" __global__ void g(const float *in, float *out)\n"
            "{\n"
            "    einc_cp_async16(&out[threadIdx.x * 4], &in[threadIdx.x * 4], 16);\n"
            "}\n",
            "g", 32, a, 2, msg, sizeof msg);
    char want[512];
    snprintf(want, sizeof want, "g: cp.async's destination at einc.cu:%d in block (0,0,0) thread (31,0,0): address %p is not in shared memory",
             prelude_lines + 3, (void *)&out[31 * 4]);
    assert_string_equal(msg, want);
    drv_close(&d);
}

static void mma_half_warp(void **state)
{
    (void)state;
    if (!have_cxx)
        skip();
    float out[64];
    void *a[1] = { out };
    char msg[512], want[512];
    snprintf(want, sizeof want, "h: mma.sync at einc.cu:%d in block (0,0,0), warp 0: lane 16 of the mask 0xffffffff returned",
             prelude_lines + 6);
    for (int o = 0; o < 2; o++) {
        drv d;
        drv_open(&d, o ? "reverse" : "forward");
        drv_run(&d,
                "extern \"C\" __global__ void h(float *out)\n"
                "{\n"
                "    unsigned a[4] = { 0, 0, 0, 0 }, b[2] = { 0, 0 };\n"
                "    float c[4] = { 0, 0, 0, 0 }, d[4];\n"
                "    if (threadIdx.x % 32 < 16)\n"
                "        einc_mma_tf32(d, a, b, c);\n"
                "    out[threadIdx.x] = 1.0f;\n"
                "}\n",
                "h", 64, a, 1, msg, sizeof msg);
        assert_string_equal(msg, want);     /* in either order, the first lane missing */
        drv_close(&d);
    }
}

/* NVRTC: the wrappers used by one kernel compile for sm_80 and sm_90 to their instructions. */
static void ptx_wrappers(void **state)
{
    (void)state;
    const char *kernel =
        "extern \"C\" __global__ void w(const float *x, const unsigned short *h, float *out)\n"
        "{\n"
        "    __shared__ unsigned short s[256] __align__(16);\n"
        "    __shared__ float f[128] __align__(16);\n"
        "    einc_cp_async16(&f[threadIdx.x * 4], &x[threadIdx.x * 4], threadIdx.x < 16 ? 16 : 0);\n"
        "    einc_cp_async_commit();\n"
        "    for (int i = 0; i < 8; i++)\n"
        "        s[threadIdx.x * 8 + i] = h[threadIdx.x * 8 + i];\n"
        "    einc_cp_async_wait<0>();\n"
        "    __syncthreads();\n"
        "    unsigned r[4], q[4], a[4], b[2];\n"
        "    einc_ldmatrix_x4(r, &s[threadIdx.x * 8]);\n"
        "    einc_ldmatrix_x4_trans(q, &s[threadIdx.x * 8]);\n"
        "    float c[4] = { 0, 0, 0, 0 }, d[4], e[4], g[4];\n"
        "    for (int i = 0; i < 4; i++)\n"
        "        a[i] = einc_tf32(f[threadIdx.x + 32 * i]);\n"
        "    b[0] = a[1];\n"
        "    b[1] = a[2];\n"
        "    einc_mma_tf32(d, a, b, c);\n"
        "    einc_mma_f16(e, r, q, d);\n"
        "    einc_mma_bf16(g, q, r, e);\n"
        "    for (int i = 0; i < 4; i++)\n"
        "        out[threadIdx.x * 4 + i] = g[i];\n"
        "}\n";
    size_t pl = strlen(prelude), kl = strlen(kernel);
    char *src = malloc(pl + kl + 1);
    assert_non_null(src);
    memcpy(src, prelude, pl);
    memcpy(src + pl, kernel, kl + 1);
    static const char *const need[] = {
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32", "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32",
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32", "ldmatrix.sync.aligned.m8n8.x4.shared.b16",
        "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16", "cp.async.cg.shared.global", "cp.async.commit_group",
        "cp.async.wait_group 0", "cvt.rna.tf32.f32", NULL,
    };
    const char *arch[] = { "sm_80", "sm_90" };
    for (int i = 0; i < 2; i++) {
        ptx_build b;
        char msg[8192];
        int rc = ptx_build_arch(src, arch[i], &b, msg, sizeof msg);
        if (rc == 1) {
            fprintf(stderr, "test_emu_mma: ptx_wrappers skipped: %s\n", msg);
            free(src);
            skip();
        }
        if (rc < 0)
            fail_msg("%s: %s", arch[i], msg);
        for (int j = 0; need[j]; j++)
            if (!strstr(b.ptx, need[j]))
                fail_msg("%s: no %s in the PTX", arch[i], need[j]);
        char why[256];
        if (*ptx_lean(&b, "w", 32, why, sizeof why))
            fail_msg("%s: %s\n%s", arch[i], why, b.log);
        ptx_build_free(&b);
    }
    free(src);
}

int main(void)
{
    setenv("EINC_CUDA_EMU", "1", 1);
    have_cxx = system("${CXX:-c++} --version >/dev/null 2>&1") == 0;
    if (!have_cxx)
        fprintf(stderr, "test_emu_mma: skipped: no C++ compiler (CXX or c++), which the emulator needs\n");
    strbuf b = { 0 };
    cu_mma_routine(&b);
    prelude = sb_finish(&b);
    if (!prelude)
        return 1;
    for (const char *p = prelude; *p; p++)
        prelude_lines += *p == '\n';
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tf32_rounding), cmocka_unit_test(mma_tf32), cmocka_unit_test(mma_f16),
        cmocka_unit_test(mma_bf16), cmocka_unit_test(ldmatrix), cmocka_unit_test(cp_async),
        cmocka_unit_test(mma_half_warp), cmocka_unit_test(ptx_wrappers),
    };
    int rc = cmocka_run_group_tests_name("emulated tensor cores", tests, NULL, NULL);
    einc_free(prelude);
    return rc;
}
