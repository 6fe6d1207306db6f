/*
 * test_jit_narrow.c — the CPU JIT's GEMM and transposes on 1- and 2-byte dtypes against the
 * interpreter, bit for bit: float16 and bfloat16 GEMMs (widened while packing, summed in
 * float32, rounded once), int8, uint8, int16 and uint16 GEMMs (which wrap in their own
 * width, as numpy's einsum does) and the transposes' squares of bytes and words; and the
 * complex64 and complex128 GEMMs (the real formulation, codegen/llvm_gemm.c), with real
 * operands mixed in, and with inf and nan in the data.  meson runs it twice: as the host
 * allows, and with EINC_MAX_ISA=avx2 (runtime/jit.c) for the AVX2 code.
 *
 * The float data are small integers, so every float32 sum is exact and the JIT's one
 * rounding is the interpreter's (which rounds from double): any rounding of a partial sum
 * (at the end of a k block, say) would show.  Sizes sit on and around the tiles' edges: 1,
 * primes, 16/32/64 ± 1 (vector lanes, the GEMM's NR; a complex NR is half as many
 * columns), K across a k block (KC is 256 or 512 for floats, a complex one half that; 256
 * bytes or 128 words for integers, whose k loop takes 8 bytes or 4 words a trip) and K =
 * 0.  The integer GEMMs also run on extreme values (int8's -128 squared summed past
 * int16, int16's -32768 squared past int32's range) and on views through strides.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "einc.h"
#include "ir.h"

static einc_ctx *ctx;
static uint64_t rng = 0x2545f4914f6cdd1du;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

enum { ANY, EXTREME, LOWEST };     /* integer data: any bits, the type's extremes, all its lowest */

/*
 * floats: integers in [-4, 4]; integers: any bits, so that products and sums wrap, or
 * bit patterns of 0x80.. (int8's -128, int16's -32768, uint8's 128), 0x7f.., 0xff.., 0 and 1.
 */
static void fill(einc_dtype t, void *data, int64_t n, int how)
{
    static const uint64_t extreme[] = { 0x8080808080808080u, 0x7f7f7f7f7f7f7f7fu, ~0ull, 0, 1 };
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = next();
        if (how == LOWEST || (how == EXTREME && r % 2))
            r = how == LOWEST ? extreme[0] : extreme[r / 2 % 5];
        if (how != ANY && dtype_size(t) == 2 && (r & 0xff) == 0x80)
            r = 0x8000;     /* the words' lowest, not 0x8080 */
        else if (how != ANY && dtype_size(t) == 2 && (r & 0xff) == 0x7f)
            r = 0x7fff;
        double f = (double)(int)(r % 9) - 4;
        switch (t) {
        case EINC_F16: ((uint16_t *)data)[i] = f16_from_double(f); break;
        case EINC_BF16: ((uint16_t *)data)[i] = bf16_from_double(f); break;
        case EINC_F32: ((float *)data)[i] = (float)f; break;
        case EINC_F64: ((double *)data)[i] = f; break;
        case EINC_I32: ((int32_t *)data)[i] = (int32_t)f; break;
        case EINC_C64:
            ((float *)data)[2 * i] = (float)f;
            ((float *)data)[2 * i + 1] = (float)((int)(r >> 8 & 7) - 3);
            break;
        case EINC_C128:
            ((double *)data)[2 * i] = f;
            ((double *)data)[2 * i + 1] = (double)((int)(r >> 8 & 7) - 3);
            break;
        default: memcpy((char *)data + i * (int64_t)dtype_size(t), &r, dtype_size(t)); break;
        }
    }
}

enum { MAXIN = 2, MAXD = 4 };

typedef struct narrow_case {
    const char *expr;
    einc_dtype t[MAXIN];        /* the operands' dtypes (EINC_F32 = 0: a second operand's unused) */
    int nin, ndim[MAXIN];
    int64_t shape[MAXIN][MAXD];
    int fill;                   /* ANY, EXTREME or LOWEST (integers) */
    int skip;                   /* > 0: inputs are views of every skip-th element of each last dimension */
} narrow_case;

#define MM(e, ta, tb, m, k, n) { e, { ta, tb }, 2, { 2, 2 }, { { m, k }, { k, n } }, ANY, 0 }
#define KM(e, t, m, k, b0, b1) { e, { t, t }, 2, { 2, 2 }, { { k, m }, { b0, b1 } }, ANY, 0 }     /* a is k x m */
#define IMM(t, m, k, n) MM("ik,kj->ij", t, t, m, k, n)
#define IMMX(t, m, k, n, how, skip) { "ik,kj->ij", { t, t }, 2, { 2, 2 }, { { m, k }, { k, n } }, how, skip }
#define KI(e, ta, tb, m, k, n) { e, { ta, tb }, 2, { 2, 2 }, { { k, m }, { k, n } }, ANY, 0 }
#define MT(e, ta, tb, m, k, n) { e, { ta, tb }, 2, { 2, 2 }, { { m, k }, { n, k } }, ANY, 0 }
#define TR2(t, m, n) { "ij->ji", { t }, 1, { 2 }, { { m, n } }, ANY, 0 }
#define TR4(t, a, b, c, d) { "abcd->dcba", { t }, 1, { 4 }, { { a, b, c, d } }, ANY, 0 }


static const narrow_case cases[] = {
    /* float16 and bfloat16 GEMMs: edges, K across a k block, a transposed b, a batch, mixed */
    MM("ik,kj->ij", EINC_F16, EINC_F16, 1, 1, 1),
    MM("ik,kj->ij", EINC_F16, EINC_F16, 7, 13, 17),
    MM("ik,kj->ij", EINC_F16, EINC_F16, 31, 600, 65),
    MM("ik,kj->ij", EINC_F16, EINC_F16, 6, 0, 5),
    MM("ik,kj->ij", EINC_BF16, EINC_BF16, 13, 257, 63),
    MM("ik,kj->ij", EINC_BF16, EINC_BF16, 17, 513, 129),
    MM("ik,kj->ij", EINC_BF16, EINC_BF16, 3, 0, 2),
    MT("ik,jk->ij", EINC_F16, EINC_F16, 19, 37, 33),
    MT("ik,jk->ij", EINC_BF16, EINC_BF16, 5, 16, 16),
    MM("ik,kj->ij", EINC_F16, EINC_F32, 11, 70, 47),
    MM("ik,kj->ij", EINC_F32, EINC_BF16, 11, 70, 47),
    MM("ik,kj->ij", EINC_F16, EINC_BF16, 23, 300, 31),
    { "bik,bkj->bij", { EINC_F16, EINC_F16 }, 2, { 3, 3 }, { { 3, 7, 29 }, { 3, 29, 33 } }, ANY, 0 },
    /* int8 and uint8 GEMMs (4-byte dot products in int32, the low byte kept): edges, K
       across a k block and not a multiple of 4, a transposed b, a batch, a reduced batch */
    MM("ik,kj->ij", EINC_I8, EINC_I8, 1, 1, 1),
    MM("ik,kj->ij", EINC_I8, EINC_I8, 7, 13, 17),
    MM("ik,kj->ij", EINC_I8, EINC_I8, 31, 601, 65),
    MM("ik,kj->ij", EINC_I8, EINC_I8, 6, 0, 5),
    MM("ik,kj->ij", EINC_U8, EINC_U8, 13, 257, 63),
    MM("ik,kj->ij", EINC_U8, EINC_U8, 67, 1031, 129),
    MM("ik,kj->ij", EINC_U8, EINC_U8, 2, 0, 70),
    MT("ik,jk->ij", EINC_I8, EINC_I8, 19, 37, 64),
    MT("ik,jk->ij", EINC_U8, EINC_U8, 5, 3, 16),
    { "bik,bkj->bij", { EINC_I8, EINC_I8 }, 2, { 3, 3 }, { { 3, 7, 29 }, { 3, 29, 65 } }, ANY, 0 },
    { "bik,bkj->ij", { EINC_U8, EINC_U8 }, 2, { 3, 3 }, { { 3, 8, 9 }, { 3, 9, 66 } }, ANY, 0 },
    /* the tile's edges (MR = 6, NR = 64) +- 1, K around the k loop's trip of 8 bytes (the
       packs padded with zeros to it) and a k block, primes */
    IMM(EINC_I8, 5, 7, 63), IMM(EINC_I8, 6, 8, 64), IMM(EINC_I8, 7, 9, 65), IMM(EINC_U8, 12, 255, 127),
    IMM(EINC_U8, 13, 256, 128), IMM(EINC_I8, 11, 257, 129), IMM(EINC_I8, 2, 1, 1), IMM(EINC_U8, 97, 31, 3),
    KM("ki,kj->ij", EINC_I8, 23, 19, 19, 70),      /* a's k stride is not 1: packed by bytes */
    KM("ki,jk->ij", EINC_U8, 9, 41, 66, 41),
    /* int16 and uint16 GEMMs (pairs of word products in int32, the low word kept): the same
       edges, K around the trip of 4 words and the k block of 128 */
    IMM(EINC_I16, 1, 1, 1), IMM(EINC_I16, 7, 13, 17), IMM(EINC_I16, 6, 0, 5), IMM(EINC_U16, 2, 0, 70),
    IMM(EINC_I16, 5, 3, 63), IMM(EINC_I16, 6, 4, 64), IMM(EINC_U16, 7, 5, 65), IMM(EINC_I16, 13, 127, 31),
    IMM(EINC_U16, 12, 128, 128), IMM(EINC_I16, 31, 129, 129), IMM(EINC_U16, 67, 601, 67), IMM(EINC_I16, 2, 1, 2),
    MT("ik,jk->ij", EINC_I16, EINC_I16, 19, 37, 64), MT("ik,jk->ij", EINC_U16, EINC_U16, 5, 3, 16),
    KM("ki,kj->ij", EINC_I16, 17, 11, 11, 33), KM("ki,jk->ij", EINC_U16, 9, 41, 66, 41),
    { "bik,bkj->bij", { EINC_I16, EINC_I16 }, 2, { 3, 3 }, { { 3, 7, 29 }, { 3, 29, 65 } }, ANY, 0 },
    { "bik,bkj->ij", { EINC_U16, EINC_U16 }, 2, { 3, 3 }, { { 3, 8, 9 }, { 3, 9, 66 } }, ANY, 0 },
    /* extremes: sums of -128 x -128 (2^14 each) and of -32768 x -32768 (2^30 each, past
       int32 after two), max x min, -1 x -1; then views through strides */
    IMMX(EINC_I8, 7, 1031, 65, LOWEST, 0), IMMX(EINC_I16, 7, 517, 65, LOWEST, 0),
    IMMX(EINC_U8, 6, 300, 64, LOWEST, 0), IMMX(EINC_U16, 5, 300, 66, LOWEST, 0),
    IMMX(EINC_I8, 19, 263, 70, EXTREME, 0), IMMX(EINC_U8, 13, 64, 64, EXTREME, 0),
    IMMX(EINC_I16, 19, 263, 70, EXTREME, 0), IMMX(EINC_U16, 13, 64, 64, EXTREME, 0),
    IMMX(EINC_I8, 13, 37, 65, ANY, 2), IMMX(EINC_U8, 6, 264, 64, EXTREME, 3),
    IMMX(EINC_I16, 13, 37, 65, ANY, 2), IMMX(EINC_U16, 7, 130, 129, ANY, 3),
    /* complex GEMMs: edges (a complex64 NR is 32 columns with AVX-512, 8 with AVX2), K
       across a k block and 0, a transposed b, a transposed a, batches (a reduced one adds
       into the output), attention's shape, k run together with k2, real and other-width
       operands (converted as they load: numpy's result_type) */
    MM("ik,kj->ij", EINC_C64, EINC_C64, 1, 1, 1),
    MM("ik,kj->ij", EINC_C64, EINC_C64, 7, 13, 17),
    MM("ik,kj->ij", EINC_C64, EINC_C64, 6, 0, 5),
    MM("ik,kj->ij", EINC_C64, EINC_C64, 13, 129, 31),
    MM("ik,kj->ij", EINC_C64, EINC_C64, 5, 257, 33),
    MM("ik,kj->ij", EINC_C64, EINC_C64, 31, 300, 65),
    MM("ik,kj->ij", EINC_C64, EINC_C64, 12, 64, 32),
    MM("ik,kj->ij", EINC_C128, EINC_C128, 1, 1, 1),
    MM("ik,kj->ij", EINC_C128, EINC_C128, 7, 257, 15),
    MM("ik,kj->ij", EINC_C128, EINC_C128, 11, 129, 17),
    MM("ik,kj->ij", EINC_C128, EINC_C128, 3, 0, 16),
    MT("ik,jk->ij", EINC_C64, EINC_C64, 19, 37, 33),
    MT("ik,jk->ij", EINC_C128, EINC_C128, 5, 16, 16),
    MT("ik,jk->ij", EINC_C64, EINC_C64, 4, 64, 64),
    MT("ik,jk->ij", EINC_C64, EINC_C64, 7, 131, 97),
    KI("ki,kj->ij", EINC_C64, EINC_C64, 23, 41, 9),
    KI("ki,kj->ij", EINC_C128, EINC_C128, 2, 130, 31),
    { "bik,bkj->bij", { EINC_C64, EINC_C64 }, 2, { 3, 3 }, { { 3, 7, 29 }, { 3, 29, 33 } }, ANY, 0 },
    { "bik,bkj->ij", { EINC_C128, EINC_C128 }, 2, { 3, 3 }, { { 3, 8, 9 }, { 3, 9, 17 } }, ANY, 0 },
    { "bik,bkj->ij", { EINC_C64, EINC_C64 }, 2, { 3, 3 }, { { 4, 13, 140 }, { 4, 140, 40 } }, ANY, 0 },
    { "bhid,bhjd->bhij", { EINC_C64, EINC_C64 }, 2, { 4, 4 }, { { 2, 3, 9, 16 }, { 2, 3, 33, 16 } }, ANY, 0 },
    { "ijk,jkl->il", { EINC_C64, EINC_C64 }, 2, { 3, 3 }, { { 5, 3, 7 }, { 3, 7, 19 } }, ANY, 0 },
    MM("ik,kj->ij", EINC_C64, EINC_F32, 11, 70, 47),
    MM("ik,kj->ij", EINC_F32, EINC_C64, 11, 70, 47),
    MM("ik,kj->ij", EINC_C64, EINC_F64, 9, 40, 33),
    MM("ik,kj->ij", EINC_I32, EINC_C64, 5, 13, 9),
    MM("ik,kj->ij", EINC_C128, EINC_C64, 7, 20, 17),
    /* transposes: squares of 32 x 32 (16 x 16 words with AVX2) in tiles of 128 bytes (and edges) */
    TR2(EINC_U8, 1, 1), TR2(EINC_U8, 16, 17), TR2(EINC_U8, 129, 127), TR2(EINC_U8, 256, 300),
    TR2(EINC_I8, 128, 128), TR2(EINC_I8, 131, 7), TR2(EINC_I8, 31, 33), TR2(EINC_U16, 33, 95),
    TR2(EINC_I16, 64, 64), TR2(EINC_I16, 65, 63), TR2(EINC_I16, 200, 33), TR2(EINC_U16, 15, 257),
    TR2(EINC_F16, 1, 97), TR2(EINC_F16, 130, 190), TR2(EINC_BF16, 64, 129), TR2(EINC_BF16, 3, 2),
    TR4(EINC_U8, 17, 5, 3, 131), TR4(EINC_I16, 33, 2, 3, 65), TR4(EINC_F16, 16, 16, 16, 16),
    TR4(EINC_BF16, 7, 1, 1, 64),
    { "b c h w -> b h w c", { EINC_U8 }, 1, { 4 }, { { 2, 35, 9, 19 } }, ANY, 0 },
    { "b c h w -> b h w c", { EINC_F16 }, 1, { 4 }, { { 2, 3, 9, 19 } }, ANY, 0 },
};

/* a case whose arrays start mis bytes past a 64-byte boundary */
typedef struct placed_case {
    narrow_case c;
    int mis;
} placed_case;

#define BIG(e, t, a, b, c, d, m) { { e, { t }, 1, { 4 }, { { a, b, c, d } }, ANY, 0 }, m }
#define BIG2(t, m, n, mis) { { "ij->ji", { t }, 1, { 2 }, { { m, n } }, ANY, 0 }, mis }

static const placed_case big[] = {
    /*
     * Outputs of 8 MiB and more, whose whole rows stream: bytes in squares of 32 x 64 with
     * AVX-512.  Rows a whole number of lines apart, their o blocks shifted to the output's
     * alignment, and rows that start off a line joining the row before (p the r axis:
     * 'b c h w -> b h w c', 'ij->ji'; p another: 'abcd->dcba', where b's rows are 80
     * bytes); rows that cannot shift, 2 bytes off a line apart; partial tiles at the
     * ends; 3 channels woven either way.  Elements stay aligned: the interpreter reads
     * them as their C types.
     */
    BIG("b c h w -> b h w c", EINC_U8, 4, 192, 67, 175, 16),
    BIG("abcd->dcba", EINC_U8, 80, 33, 48, 67, 48),
    BIG2(EINC_I8, 2944, 2900, 0), BIG2(EINC_U8, 2944, 2901, 1), BIG2(EINC_U8, 2899, 2903, 16),
    BIG("b c h w -> b h w c", EINC_F16, 2, 96, 130, 180, 2),
    BIG("b c h w -> b h w c", EINC_I16, 1, 97, 211, 230, 34),
    BIG("b h w c -> b c h w", EINC_U8, 1, 1504, 2000, 3, 16),
    BIG("b c h w -> b h w c", EINC_U8, 1, 3, 1504, 2000, 32),
};

/* n bytes mis bytes past a 64-byte boundary, or (mis < 0) where malloc puts them; freed by release */
static void *place(int mis, size_t n)
{
    if (mis < 0)
        return malloc(n);
    char *p = aligned_alloc(64, (n + 64 + 63) / 64 * 64);
    return p ? p + mis : NULL;
}

static void release(int mis, void *p)
{
    free(p && mis >= 0 ? (char *)p - mis : p);
}

/* out gets a buffer of the kernel's output shape (shape[] its storage); -1 with err set */
static int run(einc_target target, const narrow_case *nc, int mis, const einc_tensor *in, einc_tensor *out,
               int64_t *shape, void **data, einc_error *err)
{
    einc_options o = { .target = target };
    einc_kernel *k = NULL;
    if (einc_compile(ctx, nc->expr, &o, &k, err) != EINC_OK)
        return -1;
    int st = einc_kernel_output(k, nc->nin, in, &out->dtype, &out->ndim, shape, err);
    out->shape = shape;
    if (st == EINC_OK) {
        int64_t n = 1;
        for (int d = 0; d < out->ndim; d++)
            n *= out->shape[d];
        *data = place(mis, (size_t)(n ? n : 1) * dtype_size(out->dtype));
        memset(*data, 0x5a, (size_t)(n ? n : 1) * dtype_size(out->dtype));   /* no zeros to lean on */
        out->data = *data;
        st = einc_kernel_run(k, nc->nin, in, out, err);
    }
    einc_kernel_free(k);
    return st == EINC_OK ? 0 : -1;
}

/* Every 97th float part of data (dtype t, n elements) becomes inf, -inf or nan in turn. */
static void poison(einc_dtype t, void *data, int64_t n)
{
    static const double bad[3] = { INFINITY, -INFINITY, NAN };
    int64_t parts = dtype_is_complex(t) ? 2 * n : n;
    for (int64_t i = 40; i < parts; i += 97) {
        double v = bad[i % 3];
        if (t == EINC_F32 || t == EINC_C64)
            ((float *)data)[i] = (float)v;
        else if (t == EINC_F64 || t == EINC_C128)
            ((double *)data)[i] = v;
    }
}

/* part i of a float or complex array as a double */
static double part_at(einc_dtype t, const void *d, int64_t i)
{
    return t == EINC_F32 || t == EINC_C64 ? ((const float *)d)[i] : ((const double *)d)[i];
}

/*
 * With nonfinite, the operands carry inf and nan (poison) and the output's parts agree as
 * values (any nan with any nan); at least one part of the interpreter's must be finite,
 * one infinite and one nan, or the case tests less than it says.
 */
static void check_data(const narrow_case *nc, int mis, bool nonfinite)
{
    einc_tensor in[MAXIN];
    void *buf[MAXIN] = { 0 };
    int64_t stride[MAXIN][MAXD];
    for (int i = 0; i < nc->nin; i++) {
        int64_t n = 1;
        for (int d = 0; d < nc->ndim[i]; d++)
            n *= nc->shape[i][d];
        int skip = nc->skip > 0 ? nc->skip : 1;
        buf[i] = place(mis, (size_t)(n ? n * skip : 1) * dtype_size(nc->t[i]));
        fill(nc->t[i], buf[i], n * skip, nc->fill);
        if (nonfinite)
            poison(nc->t[i], buf[i], n * skip);
        in[i] = (einc_tensor){ nc->t[i], nc->ndim[i], nc->shape[i], NULL, buf[i] };
        if (nc->skip > 0) {     /* every skip-th element of each row: strides skip x C order */
            int64_t st = skip;
            for (int d = nc->ndim[i] - 1; d >= 0; d--) {
                stride[i][d] = st;
                st *= nc->shape[i][d];
            }
            in[i].strides = stride[i];
        }
    }
    int64_t sj[MAXD], si[MAXD];
    einc_tensor oj = { 0 }, oi = { 0 };
    void *dj = NULL, *di = NULL;
    einc_error e;
    if (run(EINC_TARGET_INTERP, nc, mis, in, &oi, si, &di, &e) < 0)
        fail_msg("%s %s (interp): %s", einc_dtype_name(nc->t[0]), nc->expr, e.message);
    if (run(EINC_TARGET_CPU, nc, mis, in, &oj, sj, &dj, &e) < 0)
        fail_msg("%s %s (cpu): %s", einc_dtype_name(nc->t[0]), nc->expr, e.message);
    assert_int_equal(oj.dtype, oi.dtype);
    assert_int_equal(oj.ndim, oi.ndim);
    int64_t n = 1;
    for (int d = 0; d < oi.ndim; d++) {
        assert_int_equal(sj[d], si[d]);
        n *= si[d];
    }
    size_t es = dtype_size(oi.dtype);
    if (nonfinite) {
        int kinds = 0;
        for (int64_t i = 0; i < (dtype_is_complex(oi.dtype) ? 2 * n : n); i++) {
            double x = part_at(oi.dtype, dj, i), y = part_at(oi.dtype, di, i);
            kinds |= isnan(y) ? 1 : isinf(y) ? 2 : 4;
            if (!(isnan(x) && isnan(y)) && x != y)
                fail_msg("%s,%s %s: part %lld of %s is %g, the interpreter's %g", einc_dtype_name(nc->t[0]),
                         einc_dtype_name(nc->t[1]), nc->expr, (long long)i, einc_dtype_name(oi.dtype), x, y);
        }
        assert_int_equal(kinds, 7);
    }
    for (int64_t i = 0; i < n && !nonfinite; i++)
        if (memcmp((char *)dj + i * (int64_t)es, (char *)di + i * (int64_t)es, es))
            fail_msg("%s,%s %s [%lld %lld ...]: element %lld of %s differs", einc_dtype_name(nc->t[0]),
                     einc_dtype_name(nc->t[nc->nin - 1]), nc->expr, (long long)nc->shape[0][0],
                     (long long)nc->shape[0][1], (long long)i, einc_dtype_name(oi.dtype));
    release(mis, dj);
    release(mis, di);
    for (int i = 0; i < nc->nin; i++)
        release(mis, buf[i]);
}

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_data(&cases[i], -1, false);
}

/*
 * inf and nan through the complex GEMM: its terms are the interpreter's products (ai (-bi)
 * is -(ai bi)), so a sum has an inf or a nan exactly where the interpreter's has; a real
 * operand's imaginary part is 0, and 0 · inf is nan in both, as in numpy's einsum (which
 * casts the real operand to complex first).
 */
static void test_complex_nonfinite(void **state)
{
    (void)state;
    static const narrow_case nf[] = {
        MM("ik,kj->ij", EINC_C64, EINC_C64, 7, 37, 35),
        MM("ik,kj->ij", EINC_C128, EINC_C128, 13, 20, 19),
        MT("ik,jk->ij", EINC_C64, EINC_C64, 9, 30, 17),
        MM("ik,kj->ij", EINC_F32, EINC_C64, 8, 41, 33),
        MM("ik,kj->ij", EINC_C64, EINC_F64, 6, 29, 40),
    };
    for (size_t i = 0; i < sizeof nf / sizeof *nf; i++)
        check_data(&nf[i], -1, true);
}

static void test_placed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof big / sizeof *big; i++)
        check_data(&big[i].c, big[i].mis, false);
}

int main(void)
{
    ctx = einc_ctx_new();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_complex_nonfinite),
        cmocka_unit_test(test_placed),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    einc_ctx_free(ctx);
    return r;
}
