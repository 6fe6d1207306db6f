/*
 * cuda_gemm_tc.c — the device code of cuda_gemm.c's tensor-core variant: a float32
 * contraction on TF32 tensor cores, taken when the caller allows TF32 (lp_prog.tf32,
 * einc_options.allow_tf32) and the device has them (sm_80 and later).  It calls only
 * einc's wrappers (cuda_mma.c; the emulator's runtime/cuda_emu_mma.hh).
 *
 * A block of 256 threads (8 warps, 2 along M by 4 along N) owns a 128 x 128 output tile;
 * each warp a 64 x 32 part of it as 4 x 4 m16n8 accumulator fragments (64 floats a
 * thread, in registers).  K goes in slices of 32 through three stages of dynamic shared
 * memory: while slice t is multiplied, slices t+1 and t+2 are in flight (cp.async, one
 * commit group a slice, wait_group 1 before each slice).  A factor's slice is stored
 * row by row when it steps by 1 along k (rows of 32 + 4 floats), else k by k (rows of 128
 * + 8 floats): both paddings put the 32 lanes' fragment reads (lane l reads row l / 4,
 * column l % 4, or the transpose) in 32 distinct banks, and keep every 4-float group
 * 16-byte aligned for cp.async.  Each fragment element is rounded to TF32 (cvt.rna) as it
 * is read, then the warp issues 16 mma.sync.m16n8k8 per k step of 8.
 *
 * Loads are cp.async of 16 bytes when the factor is vectorisable (einc_gemm_op.vec: unit
 * stride along its 4-float groups, extents and strides multiples of 4, 16-byte aligned;
 * a group wholly outside M, N or K is zero-filled by reading 0 bytes), else scalar loads
 * stored straight into the stage, zeros outside: the barrier before each slice orders
 * both kinds.  K = 0 leaves the accumulators 0.
 */
#include "cuda_launch.h"

static const char *const tc_routine[] = {
    "#ifndef EINC_CUDA_GEMM_TC\n"
    "#define EINC_CUDA_GEMM_TC\n"
    "enum { EINC_TC_LDK = 36, EINC_TC_LDR = 136, EINC_TC_STAGE = 4608 };\n"
    "\n"
    "/* Factor o's 128 x 32 slice at (r0, k0) into the stage s: four 4-float groups a thread. */\n"
    "static __device__ inline void einc_tc_load(const einc_gemm_op<float> &o, einc_i64 r0, einc_i64 k0, einc_i64 K,\n"
    "                                           float *s)\n"
    "{\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 4; i++) {\n"
    "        const int q = (int)threadIdx.x + i * 256;\n"
    "        const int r = o.along_k ? q / 8 : q % 32 * 4, k = o.along_k ? q % 8 * 4 : q / 32;\n"
    "        float *d = s + (o.along_k ? r * EINC_TC_LDK + k : k * EINC_TC_LDR + r);\n"
    "        const einc_i64 gr = r0 + r, gk = k0 + k;\n"
    "        if (o.vec) {\n"
    "            const bool in = gr < o.R && gk < K;\n"
    "            einc_cp_async16(d, in ? o.p + gr * o.sr + gk * o.sk : o.p, in ? 16 : 0);\n"
    "            continue;\n"
    "        }\n"
    "#pragma unroll\n"
    "        for (int e = 0; e < 4; e++) {\n"
    "            const einc_i64 re = o.along_k ? gr : gr + e, ke = o.along_k ? gk + e : gk;\n"
    "            d[e] = re < o.R && ke < K ? o.p[re * o.sr + ke * o.sk] : 0.0f;\n"
    "        }\n"
    "    }\n"
    "}\n"
    "\n",
    "/* c[i][j]: this warp's m16n8 fragment (i, j) of the tile at (m0, n0) (the warp's part at\n"
    "   rows (warp / 4) * 64, columns (warp % 4) * 32); sm: 3 stages of A, then 3 of B. */\n"
    "static __device__ __forceinline__ void einc_tc_block(const einc_gemm_op<float> &a, const einc_gemm_op<float> &b, einc_i64 m0,\n"
    "                                                     einc_i64 n0, einc_i64 K, float *sm, float (&c)[4][4][4])\n"
    "{\n"
    "    const int warp = (int)threadIdx.x / 32, lane = (int)threadIdx.x % 32, g = lane / 4, t = lane % 4;\n"
    "    const int wm = warp / 4 * 64, wn = warp % 4 * 32;\n"
    "    /* element (r, k) of a stage is at s[r * xr + k * xk] */\n"
    "    const int ar = a.along_k ? EINC_TC_LDK : 1, ak = a.along_k ? 1 : EINC_TC_LDR;\n"
    "    const int br = b.along_k ? EINC_TC_LDK : 1, bk = b.along_k ? 1 : EINC_TC_LDR;\n"
    "    float *sa = sm, *sb = sm + 3 * EINC_TC_STAGE;\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 4; i++)\n"
    "#pragma unroll\n"
    "        for (int j = 0; j < 4; j++)\n"
    "#pragma unroll\n"
    "            for (int e = 0; e < 4; e++)\n"
    "                c[i][j][e] = 0.0f;\n"
    "    const einc_i64 nk = (K + 31) / 32;\n"
    "    for (int s = 0; s < 2; s++) {\n"
    "        if (s < nk) {\n"
    "            einc_tc_load(a, m0, s * 32, K, sa + s * EINC_TC_STAGE);\n"
    "            einc_tc_load(b, n0, s * 32, K, sb + s * EINC_TC_STAGE);\n"
    "        }\n"
    "        einc_cp_async_commit();\n"
    "    }\n",
    "    for (einc_i64 kt = 0; kt < nk; kt++) {\n"
    "        einc_cp_async_wait<1>();        /* slice kt is here (this thread's part) */\n"
    "        __syncthreads();                /* everyone's; and slice kt - 1 is done with */\n"
    "        if (kt + 2 < nk) {\n"
    "            const int st = (int)((kt + 2) % 3);\n"
    "            einc_tc_load(a, m0, (kt + 2) * 32, K, sa + st * EINC_TC_STAGE);\n"
    "            einc_tc_load(b, n0, (kt + 2) * 32, K, sb + st * EINC_TC_STAGE);\n"
    "        }\n"
    "        einc_cp_async_commit();\n"
    "        const float *xa = sa + (int)(kt % 3) * EINC_TC_STAGE + (wm + g) * ar + t * ak;\n"
    "        const float *xb = sb + (int)(kt % 3) * EINC_TC_STAGE + (wn + g) * br + t * bk;\n"
    "#pragma unroll\n"
    "        for (int kk = 0; kk < 32; kk += 8) {\n"
    "            unsigned fa[4][4], fb[4][2];\n"
    "#pragma unroll\n"
    "            for (int i = 0; i < 4; i++)\n"
    "#pragma unroll\n"
    "                for (int e = 0; e < 4; e++)\n"
    "                    fa[i][e] = einc_tf32(xa[(i * 16 + 8 * (e % 2)) * ar + (kk + 4 * (e / 2)) * ak]);\n"
    "#pragma unroll\n"
    "            for (int j = 0; j < 4; j++)\n"
    "#pragma unroll\n"
    "                for (int e = 0; e < 2; e++)\n"
    "                    fb[j][e] = einc_tf32(xb[j * 8 * br + (kk + 4 * e) * bk]);\n"
    "#pragma unroll\n"
    "            for (int i = 0; i < 4; i++)\n"
    "#pragma unroll\n"
    "                for (int j = 0; j < 4; j++)\n"
    "                    einc_mma_tf32(c[i][j], fa[i], fb[j], c[i][j]);\n"
    "        }\n"
    "    }\n"
    "    einc_cp_async_wait<0>();\n"
    "    __syncthreads();                    /* the next tile's loads may overwrite any stage */\n"
    "}\n"
    "#endif\n\n",
};

void cu_gemm_tc_routine(strbuf *b)
{
    for (size_t i = 0; i < sizeof tc_routine / sizeof *tc_routine; i++)
        sb_printf(b, "%s", tc_routine[i]);
}
