/*
 * cuda_gemm_h.c — the device code of cuda_gemm.c's float16/bfloat16 variant: a contraction
 * of two float16 (or two bfloat16) factors on mma.sync m16n8k16 with float32 accumulators,
 * always (as PyTorch does for half types); the epilogue rounds once, on store.  It calls only
 * einc's wrappers (cuda_mma.c; the emulator's runtime/cuda_emu_mma.hh), and only where the
 * instructions exist: EINC_HC is defined for sm_80 and later and for the emulator, and a
 * kernel compiled without it runs its plain form.
 *
 * The tiles are cuda_gemm_tc.c's: a block of 256 threads (8 warps, 2 along M by 4 along N)
 * owns a 128 x 128 output tile, each warp 64 x 32 of it as 4 x 4 m16n8 accumulator
 * fragments; K goes in slices of 32 through three stages of dynamic shared memory filled by
 * cp.async (one commit group a slice, wait_group 1 before each).  A stage holds a factor's
 * 128 x 32 slice as 16-byte chunks of 8 elements: along k when the factor steps by 1 along
 * k (rows of 32), else along its M or N axis (rows of 128).  The chunks of a row are
 * XOR-swizzled (einc_hc_at), so that the 8 rows one ldmatrix phase reads fall in 8
 * distinct bank groups without padding: three stages of both factors are then exactly
 * 48 KiB.  Fragments are read with ldmatrix x4 (rows along k) or ldmatrix x4 .trans (rows
 * along M or N), the PTX ISA's layouts of m16n8k16's A and B either way.
 *
 * Loads are cp.async of 16 bytes when the factor is vectorisable (einc_gemm_op.vec: unit
 * stride along its chunks, extents and strides multiples of 8, 16-byte aligned; a chunk
 * wholly outside M, N or K is zero-filled by reading 0 bytes), else 8 scalar loads of the
 * elements' bits stored into the stage, zeros outside.  K = 0 leaves the accumulators 0.
 */
#include "cuda_launch.h"

static const char *const hc_routine[] = {
    "#ifndef EINC_CUDA_GEMM_H\n"
    "#define EINC_CUDA_GEMM_H\n"
    "#if defined(EINC_CUDA_EMU) || __CUDA_ARCH__ >= 800\n"
    "#define EINC_HC 1\n"
    "enum { EINC_HC_STAGE = 4096 };     /* elements: a 128 x 32 slice */\n"
    "\n"
    "/* Element (r, k)'s place in a stage: chunk c of a row at c ^ (row / 2 % 4) (rows of 4\n"
    "   chunks, 64 bytes) or c ^ (row % 8) (rows of 16 chunks, 256 bytes). */\n"
    "static __device__ inline int einc_hc_at(bool along_k, int r, int k)\n"
    "{\n"
    "    return along_k ? r * 32 + ((k / 8) ^ (r / 2 % 4)) * 8 + k % 8 : k * 128 + ((r / 8) ^ (k % 8)) * 8 + r % 8;\n"
    "}\n"
    "\n"
    "/* Factor o's 128 x 32 slice at (r0, k0) into the stage s: two chunks a thread. */\n"
    "template <class T> static __device__ inline void einc_hc_load(const einc_gemm_op<T> &o, einc_i64 r0, einc_i64 k0,\n"
    "                                                              einc_i64 K, unsigned short *s)\n"
    "{\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 2; i++) {\n"
    "        const int q = (int)threadIdx.x + i * 256;\n"
    "        const int r = o.along_k ? q / 4 : q % 16 * 8, k = o.along_k ? q % 4 * 8 : q / 16;\n"
    "        unsigned short *d = s + einc_hc_at(o.along_k, r, k);\n"
    "        const einc_i64 gr = r0 + r, gk = k0 + k;\n"
    "        if (o.vec) {\n"
    "            const bool in = gr < o.R && gk < K;\n"
    "            einc_cp_async16(d, in ? o.p + gr * o.sr + gk * o.sk : o.p, in ? 16 : 0);\n"
    "            continue;\n"
    "        }\n"
    "#pragma unroll\n"
    "        for (int e = 0; e < 8; e++) {\n"
    "            const einc_i64 re = o.along_k ? gr : gr + e, ke = o.along_k ? gk + e : gk;\n"
    "            d[e] = re < o.R && ke < K ? o.p[re * o.sr + ke * o.sk].x : (unsigned short)0;\n"
    "        }\n"
    "    }\n"
    "}\n"
    "\n",
    "/* The four 8 x 8 matrices of one ldmatrix x4 from stage x: matrix l / 8's row l % 8 is\n"
    "   lane l's address; (r, k) is the corner of the lane's matrix. */\n"
    "static __device__ inline void einc_hc_frag(bool along_k, const unsigned short *x, int r, int k, unsigned *f)\n"
    "{\n"
    "    const int i = (int)threadIdx.x % 8;\n"
    "    if (along_k)\n"
    "        einc_ldmatrix_x4(f, x + einc_hc_at(true, r + i, k));\n"
    "    else\n"
    "        einc_ldmatrix_x4_trans(f, x + einc_hc_at(false, r, k + i));\n"
    "}\n"
    "\n"
    "/* c[i][j]: this warp's m16n8 fragment (i, j) of the tile at (m0, n0), as in\n"
    "   cuda_gemm_tc.c; sm: 3 stages of A, then 3 of B.  bf: bfloat16 operands. */\n"
    "template <class T, bool bf> static __device__ __forceinline__ void einc_hc_block(\n"
    "    const einc_gemm_op<T> &a, const einc_gemm_op<T> &b, einc_i64 m0, einc_i64 n0, einc_i64 K, unsigned short *sm,\n"
    "    float (&c)[4][4][4])\n"
    "{\n"
    "    const int warp = (int)threadIdx.x / 32, j = (int)threadIdx.x % 32 / 8;\n"
    "    const int wm = warp / 4 * 64, wn = warp % 4 * 32;\n"
    "    unsigned short *sa = sm, *sb = sm + 3 * EINC_HC_STAGE;\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 4; i++)\n"
    "#pragma unroll\n"
    "        for (int n = 0; n < 4; n++)\n"
    "#pragma unroll\n"
    "            for (int e = 0; e < 4; e++)\n"
    "                c[i][n][e] = 0.0f;\n"
    "    const einc_i64 nk = (K + 31) / 32;\n"
    "    for (int s = 0; s < 2; s++) {\n"
    "        if (s < nk) {\n"
    "            einc_hc_load(a, m0, s * 32, K, sa + s * EINC_HC_STAGE);\n"
    "            einc_hc_load(b, n0, s * 32, K, sb + s * EINC_HC_STAGE);\n"
    "        }\n"
    "        einc_cp_async_commit();\n"
    "    }\n",
    "    for (einc_i64 kt = 0; kt < nk; kt++) {\n"
    "        einc_cp_async_wait<1>();        /* slice kt is here (this thread's part) */\n"
    "        __syncthreads();                /* everyone's; and slice kt - 1 is done with */\n"
    "        if (kt + 2 < nk) {\n"
    "            const int st = (int)((kt + 2) % 3);\n"
    "            einc_hc_load(a, m0, (kt + 2) * 32, K, sa + st * EINC_HC_STAGE);\n"
    "            einc_hc_load(b, n0, (kt + 2) * 32, K, sb + st * EINC_HC_STAGE);\n"
    "        }\n"
    "        einc_cp_async_commit();\n"
    "        const unsigned short *xa = sa + (int)(kt % 3) * EINC_HC_STAGE, *xb = sb + (int)(kt % 3) * EINC_HC_STAGE;\n"
    "#pragma unroll\n"
    "        for (int kk = 0; kk < 32; kk += 16) {\n"
    "            /* A's matrix j: rows 8 (j % 2), k 8 (j / 2) of the 16 x 16 (a[0..3]); B's: n 8 (j / 2),\n"
    "               k 8 (j % 2) of two n8 fragments (b[0..1] of each) */\n"
    "            unsigned fa[4][4], fb[4][2];\n"
    "#pragma unroll\n"
    "            for (int i = 0; i < 4; i++)\n"
    "                einc_hc_frag(a.along_k, xa, wm + i * 16 + 8 * (j % 2), kk + 8 * (j / 2), fa[i]);\n"
    "#pragma unroll\n"
    "            for (int n = 0; n < 2; n++) {\n"
    "                unsigned f[4];\n"
    "                einc_hc_frag(b.along_k, xb, wn + n * 16 + 8 * (j / 2), kk + 8 * (j % 2), f);\n"
    "                fb[2 * n][0] = f[0];\n"
    "                fb[2 * n][1] = f[1];\n"
    "                fb[2 * n + 1][0] = f[2];\n"
    "                fb[2 * n + 1][1] = f[3];\n"
    "            }\n"
    "#pragma unroll\n"
    "            for (int i = 0; i < 4; i++)\n"
    "#pragma unroll\n"
    "                for (int n = 0; n < 4; n++) {\n"
    "                    if (bf)\n"
    "                        einc_mma_bf16(c[i][n], fa[i], fb[n], c[i][n]);\n"
    "                    else\n"
    "                        einc_mma_f16(c[i][n], fa[i], fb[n], c[i][n]);\n"
    "                }\n"
    "        }\n"
    "    }\n"
    "    einc_cp_async_wait<0>();\n"
    "    __syncthreads();                    /* the next tile's loads may overwrite any stage */\n"
    "}\n"
    "#endif\n"
    "#endif\n\n",
};

void cu_gemm_h_routine(strbuf *b)
{
    for (size_t i = 0; i < sizeof hc_routine / sizeof *hc_routine; i++)
        sb_printf(b, "%s", hc_routine[i]);
}
