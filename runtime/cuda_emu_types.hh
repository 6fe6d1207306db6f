/*
 * cuda_emu_types.hh - the CUDA emulator's 16-bit float types (appended to runtime/cuda_emu.hh
 * when the build embeds it).  The kernels' prelude (codegen/cuda.c: types_prelude) defines
 * einc_f16 and einc_bf16, two bytes with the bits of __half and __nv_bfloat16, and their
 * conversions with PTX's cvt for NVRTC; here they are portable C++ on the bits, exact:
 * round to nearest even, subnormals, infinities, NaN kept quiet (README, "Dtypes").
 */
struct einc_f16 { unsigned short x; };
struct einc_bf16 { unsigned short x; };

static inline float einc_h2f(einc_f16 h)
{
    unsigned s = (unsigned)(h.x & 0x8000u) << 16, e = (h.x >> 10) & 0x1fu, m = h.x & 0x3ffu;
    if (e == 0) {               /* zero or subnormal: m * 2^-24, exact in float */
        float f = (float)m * 5.9604644775390625e-8f;
        return s ? -f : f;
    }
    unsigned x = s | (e == 0x1fu ? 0x7f800000u | (m << 13) : ((e + 112u) << 23) | (m << 13));
    return einc_emu::from_bits<float>(x);
}

static inline einc_f16 einc_f2h(float f)
{
    unsigned x = (unsigned)einc_emu::bits(f), a = x & 0x7fffffffu;
    unsigned short s = (unsigned short)((x >> 16) & 0x8000u);
    einc_f16 h;
    if (a > 0x7f800000u) {                  /* NaN: a quiet one */
        h.x = (unsigned short)(s | 0x7e00u);
    } else if (a >= 0x477ff000u) {          /* 65520 and above round to infinity */
        h.x = (unsigned short)(s | 0x7c00u);
    } else if (a >= 0x38800000u) {          /* normal: rebias, round on the 13 dropped bits */
        unsigned r = a - 0x38000000u;
        r += 0x0fffu + ((r >> 13) & 1u);
        h.x = (unsigned short)(s | (r >> 13));
    } else {                                /* below 2^-14: a multiple of 2^-24, or 0 */
        unsigned e = a >> 23, m = (a & 0x7fffffu) | 0x800000u, r = 0;
        if (e >= 102) {                     /* else below 2^-25: rounds to 0 */
            unsigned sh = 126 - e, q = m >> sh, rem = m & ((1u << sh) - 1), half = 1u << (sh - 1);
            r = q + (rem > half || (rem == half && (q & 1u)));
        }
        h.x = (unsigned short)(s | r);
    }
    return h;
}

static inline float einc_bf2f(einc_bf16 h) { return einc_emu::from_bits<float>((unsigned)h.x << 16); }

static inline einc_bf16 einc_f2bf(float f)
{
    unsigned x = (unsigned)einc_emu::bits(f);
    einc_bf16 h;
    h.x = (unsigned short)((x & 0x7fffffffu) > 0x7f800000u ? (x >> 16) | 0x40u
                                                             : (x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
    return h;
}
