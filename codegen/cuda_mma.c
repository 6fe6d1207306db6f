/*
 * cuda_mma.c — einc's wrappers of the sm_80 tensor-core and asynchronous-copy instructions,
 * as device code for NVRTC: inline PTX, no header.  Kernels call only these names; the CUDA
 * emulator defines the same ones (runtime/cuda_emu_mma.hh, which documents each and the
 * fragment layouts), so this text is skipped there (EINC_CUDA_EMU).  Printed once per file,
 * before the kernels that use them (codegen/cuda_gemm.c's tensor-core variant).
 *
 * Shared-memory operands of ldmatrix and cp.async are 32-bit shared-window addresses
 * (cvta.to.shared); cp.async's global operand is the generic pointer, which addresses
 * global memory as it is on every sm_80+ device.  wait_group's count is an immediate,
 * hence the template.  EINC_DYN_SHARED declares a kernel's dynamic shared memory.
 */
#include "cuda_launch.h"

static const char *const mma_routine[] = {
    "#ifndef EINC_CUDA_MMA\n"
    "#define EINC_CUDA_MMA\n"
    "#ifndef EINC_CUDA_EMU\n"
    "#define EINC_DYN_SHARED(T, name) extern __shared__ __align__(16) unsigned char einc_dyn_[]; T *name = (T *)einc_dyn_\n"
    "static __device__ inline unsigned einc_smem(const void *p)\n"
    "{\n"
    "    unsigned r;\n"
    "    asm(\"{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }\" : \"=r\"(r) : \"l\"(p));\n"
    "    return r;\n"
    "}\n"
    "static __device__ inline unsigned einc_tf32(float x)\n"
    "{\n"
    "    unsigned r;\n"
    "    asm(\"cvt.rna.tf32.f32 %0, %1;\" : \"=r\"(r) : \"f\"(x));\n"
    "    return r;\n"
    "}\n",
    "#define EINC_MMA_4x2(shape, types)                                                   \\\n"
    "    asm(\"mma.sync.aligned.\" shape \".row.col.f32.\" types \".f32 {%0, %1, %2, %3}, \"  \\\n"
    "        \"{%4, %5, %6, %7}, {%8, %9}, {%10, %11, %12, %13};\"                           \\\n"
    "        : \"=f\"(d[0]), \"=f\"(d[1]), \"=f\"(d[2]), \"=f\"(d[3])                        \\\n"
    "        : \"r\"(a[0]), \"r\"(a[1]), \"r\"(a[2]), \"r\"(a[3]), \"r\"(b[0]), \"r\"(b[1]),     \\\n"
    "          \"f\"(c[0]), \"f\"(c[1]), \"f\"(c[2]), \"f\"(c[3]))\n"
    "static __device__ inline void einc_mma_tf32(float *d, const unsigned *a, const unsigned *b, const float *c)\n"
    "{\n"
    "    EINC_MMA_4x2(\"m16n8k8\", \"tf32.tf32\");\n"
    "}\n"
    "static __device__ inline void einc_mma_f16(float *d, const unsigned *a, const unsigned *b, const float *c)\n"
    "{\n"
    "    EINC_MMA_4x2(\"m16n8k16\", \"f16.f16\");\n"
    "}\n"
    "static __device__ inline void einc_mma_bf16(float *d, const unsigned *a, const unsigned *b, const float *c)\n"
    "{\n"
    "    EINC_MMA_4x2(\"m16n8k16\", \"bf16.bf16\");\n"
    "}\n",
    "static __device__ inline void einc_ldmatrix_x4(unsigned *r, const void *p)\n"
    "{\n"
    "    asm volatile(\"ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\"\n"
    "                 : \"=r\"(r[0]), \"=r\"(r[1]), \"=r\"(r[2]), \"=r\"(r[3]) : \"r\"(einc_smem(p)) : \"memory\");\n"
    "}\n"
    "static __device__ inline void einc_ldmatrix_x4_trans(unsigned *r, const void *p)\n"
    "{\n"
    "    asm volatile(\"ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\"\n"
    "                 : \"=r\"(r[0]), \"=r\"(r[1]), \"=r\"(r[2]), \"=r\"(r[3]) : \"r\"(einc_smem(p)) : \"memory\");\n"
    "}\n"
    "static __device__ inline void einc_cp_async16(void *dst, const void *src, int n)\n"
    "{\n"
    "    asm volatile(\"cp.async.cg.shared.global [%0], [%1], 16, %2;\" :: \"r\"(einc_smem(dst)), \"l\"(src), \"r\"(n)\n"
    "                 : \"memory\");\n"
    "}\n"
    "static __device__ inline void einc_cp_async_commit(void) { asm volatile(\"cp.async.commit_group;\" ::: \"memory\"); }\n"
    "template <int N> static __device__ inline void einc_cp_async_wait(void)\n"
    "{\n"
    "    asm volatile(\"cp.async.wait_group %0;\" :: \"n\"(N) : \"memory\");\n"
    "}\n"
    "#endif\n"
    "#endif\n\n",
};

void cu_mma_routine(strbuf *b)
{
    for (size_t i = 0; i < sizeof mma_routine / sizeof *mma_routine; i++)
        sb_printf(b, "%s", mma_routine[i]);
}
