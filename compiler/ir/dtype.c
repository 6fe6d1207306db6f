/*
 * dtype.c — the element types: sizes, names, numpy's result_type, and the conversions of
 * the two 16-bit float formats, which C has no portable type for.
 *
 * The promotion rule is numpy's (README, "Dtypes"): bool joins anything; two integers of a
 * sign give the wider; a signed and an unsigned one give the narrowest signed type that
 * holds both (float64 past int64); an integer joins a float as the narrowest float whose
 * significand holds it (8-bit: float16, 16-bit: float32, wider: float64); complex joins
 * like float with the width of its parts.  bfloat16 is not numpy's: it ranks beside
 * float16, and the two together give float32, as ml_dtypes and JAX do.
 */
#include "ir.h"

#include <math.h>
#include <string.h>

static const struct {
    const char *name, *brief;   /* numpy's name; the command line's and .einl's */
    unsigned char size;
} info[EINC_DTYPE_COUNT] = {
    [EINC_F32] = { "float32", "f32", 4 },     [EINC_F64] = { "float64", "f64", 8 },
    [EINC_I32] = { "int32", "i32", 4 },       [EINC_I64] = { "int64", "i64", 8 },
    [EINC_BOOL] = { "bool", "bool", 1 },      [EINC_I8] = { "int8", "i8", 1 },
    [EINC_I16] = { "int16", "i16", 2 },       [EINC_U8] = { "uint8", "u8", 1 },
    [EINC_U16] = { "uint16", "u16", 2 },      [EINC_U32] = { "uint32", "u32", 4 },
    [EINC_U64] = { "uint64", "u64", 8 },      [EINC_F16] = { "float16", "f16", 2 },
    [EINC_BF16] = { "bfloat16", "bf16", 2 },  [EINC_C64] = { "complex64", "c64", 8 },
    [EINC_C128] = { "complex128", "c128", 16 },
};

size_t dtype_size(einc_dtype t)
{
    return (unsigned)t < EINC_DTYPE_COUNT ? info[t].size : 0;
}

const char *einc_dtype_name(einc_dtype t)
{
    return (unsigned)t < EINC_DTYPE_COUNT ? info[t].name : "?";
}

const char *dtype_brief(einc_dtype t)
{
    return (unsigned)t < EINC_DTYPE_COUNT ? info[t].brief : "?";
}

einc_dtype dtype_from_brief(const char *s, size_t n)
{
    for (int t = 0; t < EINC_DTYPE_COUNT; t++)
        if (strlen(info[t].brief) == n && memcmp(info[t].brief, s, n) == 0)
            return (einc_dtype)t;
    return EINC_DTYPE_COUNT;
}

bool dtype_is_float(einc_dtype t)
{
    return t == EINC_F32 || t == EINC_F64 || t == EINC_F16 || t == EINC_BF16;
}

bool dtype_is_complex(einc_dtype t) { return t == EINC_C64 || t == EINC_C128; }

bool dtype_is_unsigned(einc_dtype t)
{
    return t == EINC_U8 || t == EINC_U16 || t == EINC_U32 || t == EINC_U64;
}

bool dtype_is_half(einc_dtype t) { return t == EINC_F16 || t == EINC_BF16; }

bool dtype_is_int(einc_dtype t)
{
    return t == EINC_I8 || t == EINC_I16 || t == EINC_I32 || t == EINC_I64 || dtype_is_unsigned(t);
}

/* The types CUDA computes today; the others run in the interpreter. */
bool dtype_is_classic(einc_dtype t)
{
    return t == EINC_F32 || t == EINC_F64 || t == EINC_I32 || t == EINC_I64 || t == EINC_BOOL;
}

/* ... and the CPU JIT: every one (the narrow integers computed in int64, the 16-bit floats
   in float32, complex as pairs: codegen/llvm_cplx.c) */
bool dtype_on_jit(einc_dtype t)
{
    return (unsigned)t < EINC_DTYPE_COUNT;
}

static einc_dtype int_of(bool uns, size_t size)
{
    static const einc_dtype s[] = { EINC_I8, EINC_I16, EINC_I32, EINC_I64 };
    static const einc_dtype u[] = { EINC_U8, EINC_U16, EINC_U32, EINC_U64 };
    int k = size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3;
    return uns ? u[k] : s[k];
}

/* A float or complex type's precision rank (1: 16-bit, 2: 32, 3: 64); an integer's is the
   rank of the narrowest float that holds it. */
static int rank(einc_dtype t)
{
    switch (t) {
    case EINC_F16: case EINC_BF16: return 1;
    case EINC_F32: case EINC_C64: return 2;
    case EINC_F64: case EINC_C128: return 3;
    default: return dtype_size(t) == 1 ? 1 : dtype_size(t) == 2 ? 2 : 3;
    }
}

einc_dtype dtype_promote(einc_dtype a, einc_dtype b)
{
    if (a == b || b == EINC_BOOL)
        return a;
    if (a == EINC_BOOL)
        return b;
    if (dtype_is_int(a) && dtype_is_int(b)) {
        bool ua = dtype_is_unsigned(a), ub = dtype_is_unsigned(b);
        size_t sa = dtype_size(a), sb = dtype_size(b);
        if (ua == ub)
            return sa >= sb ? a : b;
        size_t ss = ua ? sb : sa, us = ua ? sa : sb;
        if (ss > us)
            return ua ? b : a;
        return us == 8 ? EINC_F64 : int_of(false, us * 2);
    }
    int r = rank(a) > rank(b) ? rank(a) : rank(b);
    if (dtype_is_complex(a) || dtype_is_complex(b))
        return r <= 2 ? EINC_C64 : EINC_C128;
    if (r == 1) {
        if (dtype_is_half(a) && dtype_is_half(b))
            return EINC_F32;                    /* float16 with bfloat16 */
        return dtype_is_half(a) ? a : b;
    }
    return r == 2 ? EINC_F32 : EINC_F64;
}

einc_dtype dtype_sum_type(einc_dtype t)
{
    if (t == EINC_BOOL || (dtype_is_int(t) && !dtype_is_unsigned(t)))
        return EINC_I64;
    return dtype_is_unsigned(t) ? EINC_U64 : t;
}

/* ---- 16-bit floats: binary16 (5-bit exponent) and bfloat16 (float32's 8-bit one). ---- */

/* x rounded to nearest-even into a format of p significand bits, exponents
   [emin, emax] and bias; rounded once, from the double, as a backend computing in float32
   rounds once from its float. */
static uint16_t narrow(double x, int p, int emin, int emax, int bias, int mbits)
{
    uint16_t sign = signbit(x) ? 0x8000 : 0, inf = (uint16_t)((2 * bias + 1) << mbits);
    if (isnan(x))
        return (uint16_t)(sign | inf | (1u << (mbits - 1)));
    x = fabs(x);
    if (x == 0)
        return sign;
    if (isinf(x))
        return sign | inf;
    int e = ilogb(x);
    if (e < emin)
        e = emin;
    double r = rint(ldexp(x, p - 1 - e));  /* exact: p < 53 */
    if (r >= ldexp(1, p)) {
        r /= 2;
        e++;
    }
    if (e > emax)
        return sign | inf;
    if (r < ldexp(1, p - 1))                /* subnormal: e == emin */
        return (uint16_t)(sign | (uint16_t)r);
    return (uint16_t)(sign | (uint16_t)((e + bias) << mbits) | (uint16_t)(r - ldexp(1, p - 1)));
}

static double widen(uint16_t h, int bias, int mbits)
{
    int ex = (h >> mbits) & ((1 << (15 - mbits)) - 1), m = h & ((1 << mbits) - 1);
    double v;
    if (ex == (1 << (15 - mbits)) - 1)
        v = m ? NAN : INFINITY;
    else if (ex == 0)
        v = ldexp(m, 1 - bias - mbits);
    else
        v = ldexp(m + (1 << mbits), ex - bias - mbits);
    return h & 0x8000 ? -v : v;
}

uint16_t f16_from_double(double x) { return narrow(x, 11, -14, 15, 15, 10); }
double f16_to_double(uint16_t h) { return widen(h, 15, 10); }
uint16_t bf16_from_double(double x) { return narrow(x, 8, -126, 127, 127, 7); }
double bf16_to_double(uint16_t h) { return widen(h, 127, 7); }
