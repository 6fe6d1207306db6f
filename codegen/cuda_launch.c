/*
 * cuda_launch.c — every CUDA kernel's launch geometry (see cuda_launch.h).
 */
#include "cuda_launch.h"
#include "codegen.h"
#include "alloc.h"

/* The generic form's rule: 256 threads, at most 4096 blocks of one element a thread. */
enum { CU_BLOCK = 256, CU_MAX_GRID = 4096 };

int cu_launch_plan(cc *c, const lp_prog *lp, int k, cu_launch *L)
{
    const lp_nest *nest = &lp->nest[k];
    int nflat = cg_cuda_flat(nest->root, NULL);
    int *flat = ARENA_ARRAY(c->A, int, nflat + 1);
    if (!flat)
        return cc_nomem(c);
    cg_cuda_flat(nest->root, flat);
    *L = (cu_launch){ .form = CU_FORM_GRID, .nwork = nflat, .work = flat, .per_block = CU_BLOCK,
                      .max_grid = CU_MAX_GRID, .block = CU_BLOCK };
    switch (nest->sched.kind) {
    case LP_KIND_TRANSPOSE:
    case LP_KIND_ELEMENTWISE:
        cu_copy_plan(lp, k, flat, nflat, L);
        break;
    default:            /* the generic form */
        break;
    }
    return 0;
}

int64_t cu_launch_work(const cu_launch *L, const ir_prog *p)
{
    int64_t w = 1;
    for (int i = 0; i < L->nwork; i++)
        w *= p->axis[L->work[i]].size;
    return w;
}

unsigned cu_launch_grid(const cu_launch *L, int64_t work)
{
    int64_t blocks = work / L->per_block + (work % L->per_block != 0);
    return (unsigned)(blocks < L->max_grid ? blocks : L->max_grid);
}

/* The same rule as cu_launch_grid, for the emitted launcher. */
void cu_launch_helper(strbuf *b)
{
    sb_printf(b, "#ifndef EINC_CUDA_GRID2\n#define EINC_CUDA_GRID2\n"
                 "static unsigned einc_grid(int64_t w, int64_t per_block, int64_t max_grid)\n{\n"
                 "    int64_t blocks = w / per_block + (w %% per_block != 0);\n"
                 "    return (unsigned)(blocks < max_grid ? blocks : max_grid);\n}\n#endif\n\n");
}

static void work_text(const cu_launch *L, const cspell *sp)
{
    sb_printf(sp->b, "(int64_t)%s", L->nwork ? sp->size[L->work[0]] : "1");
    for (int i = 1; i < L->nwork; i++)
        sb_printf(sp->b, " * %s", sp->size[L->work[i]]);
}

void cu_launch_emit(const cu_launch *L, const cspell *sp, const char *name, int k, const char *args)
{
    strbuf *b = sp->b;
    if (L->shmem > CU_SHMEM_DEFAULT)
        sb_printf(b, "    einc_err = cudaFuncSetAttribute(%s_k%d, cudaFuncAttributeMaxDynamicSharedMemorySize, %u);\n"
                     "    if (einc_err != cudaSuccess)\n        return einc_err;\n", name, k, L->shmem);
    if (!L->nwork) {
        sb_printf(b, "    %s_k%d<<<1, %u, %u, stream>>>(%s);\n", name, k, L->block, L->shmem, args);
    } else {
        sb_printf(b, "    if (");
        work_text(L, sp);
        sb_printf(b, " > 0)\n        %s_k%d<<<einc_grid(", name, k);
        work_text(L, sp);
        sb_printf(b, ", %lld, %lld), %u, %u, stream>>>(%s);\n", (long long)L->per_block,
                  (long long)L->max_grid, L->block, L->shmem, args);
    }
    sb_printf(b, "    if ((einc_err = cudaGetLastError()) != cudaSuccess)\n        return einc_err;\n");
}

void cu_launch_describe(const cu_launch *L, const cspell *sp, strbuf *b)
{
    sb_printf(b, "W = ");
    if (!L->nwork)
        sb_printf(b, "1");
    for (int j = 0; j < L->nwork; j++)
        sb_printf(b, "%s%s", j ? "*" : "", sp->size[L->work[j]]);
    sb_printf(b, "; %u threads on min(ceil(W/%lld), %lld) blocks", L->block, (long long)L->per_block,
              (long long)L->max_grid);
    if (L->shmem)
        sb_printf(b, ", %u bytes of shared memory", L->shmem);
    if (L->form == CU_FORM_COPY)
        sb_printf(b, "; a copy (shared-memory tiles or 16-byte vectors)");
    else if (!L->nwork)
        sb_printf(b, "; one block");
}
