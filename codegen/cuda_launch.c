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
    default: {          /* a contraction, rows and reduce, else the generic form */
        int g = cu_gemm_plan(c, lp, k, flat, nflat, L);
        if (g)
            return g < 0 ? -1 : 0;
        cg_cuda_form f = cg_cuda_form_of(nest);
        if (f == CG_CUDA_PLAIN)
            break;
        int m = cu_rows_len_axes(nest, NULL);
        int *len = ARENA_ARRAY(c->A, int, m + 1);
        if (!len)
            return cc_nomem(c);
        cu_rows_len_axes(nest, len);
        L->form = f == CG_CUDA_ROWS ? CU_FORM_ROWS : CU_FORM_REDUCE;
        L->nlen = m;
        L->len = len;
        break;
    }
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

/* A gemm's tiles: W batch elements of ceil(M / tile_m) * ceil(N / tile_n) each. */
static int64_t gemm_tiles(const cu_launch *L, const ir_prog *p, int64_t w)
{
    int64_t m = 1, n = 1;
    for (int i = 0; i < L->ngm; i++)
        m *= p->axis[L->gm[i]].size;
    for (int i = 0; i < L->ngn; i++)
        n *= p->axis[L->gn[i]].size;
    return w * ((m + L->tile_m - 1) / L->tile_m) * ((n + L->tile_n - 1) / L->tile_n);
}

unsigned cu_launch_grid(const cu_launch *L, int64_t work)
{
    int64_t blocks = work / L->per_block + (work % L->per_block != 0);
    return (unsigned)(blocks < L->max_grid ? blocks : L->max_grid);
}

bool cu_launch_dims(const cu_launch *L, const ir_prog *p, int sms, unsigned *grid, unsigned block[2],
                    unsigned *shmem)
{
    int64_t w = cu_launch_work(L, p);
    if (L->form == CU_FORM_ROWS || L->form == CU_FORM_REDUCE) {
        int64_t len = 1;
        for (int i = 0; i < L->nlen; i++)
            len *= p->axis[L->len[i]].size;
        einc_cuda_geometry(L->form == CU_FORM_ROWS ? 1 : 2, w, len, sms, grid, &block[0], &block[1], shmem);
        return w > 0;
    }
    *grid = cu_launch_grid(L, L->form == CU_FORM_GEMM ? gemm_tiles(L, p, w) : w);
    block[0] = L->block;
    block[1] = 1;
    *shmem = L->shmem;
    return *grid > 0;
}

/* The same rule as cu_launch_grid, for the emitted launcher. */
void cu_launch_helper(strbuf *b)
{
    sb_printf(b, "#ifndef EINC_CUDA_GRID2\n#define EINC_CUDA_GRID2\n"
                 "static unsigned einc_grid(int64_t w, int64_t per_block, int64_t max_grid)\n{\n"
                 "    int64_t blocks = w / per_block + (w %% per_block != 0);\n"
                 "    return (unsigned)(blocks < max_grid ? blocks : max_grid);\n}\n#endif\n\n");
}

static void axes_text(const cspell *sp, const int *ax, int n)
{
    sb_printf(sp->b, "(int64_t)%s", n ? sp->size[ax[0]] : "1");
    for (int i = 1; i < n; i++)
        sb_printf(sp->b, " * %s", sp->size[ax[i]]);
}

static void work_text(const cu_launch *L, const cspell *sp) { axes_text(sp, L->work, L->nwork); }

/* A gemm's tile count (gemm_tiles) as text. */
static void tiles_text(const cu_launch *L, const cspell *sp)
{
    if (L->nwork) {
        work_text(L, sp);
        sb_printf(sp->b, " * ");
    }
    sb_printf(sp->b, "((");
    axes_text(sp, L->gm, L->ngm);
    sb_printf(sp->b, " + %d) / %d) * ((", L->tile_m - 1, L->tile_m);
    axes_text(sp, L->gn, L->ngn);
    sb_printf(sp->b, " + %d) / %d)", L->tile_n - 1, L->tile_n);
}

void cu_launch_emit(const cu_launch *L, const cspell *sp, const char *name, int k, const char *args)
{
    strbuf *b = sp->b;
    if (L->shmem > CU_SHMEM_DEFAULT)
        sb_printf(b, "    einc_err = cudaFuncSetAttribute(%s_k%d, cudaFuncAttributeMaxDynamicSharedMemorySize, %u);\n"
                     "    if (einc_err != cudaSuccess)\n        return einc_err;\n", name, k, L->shmem);
    if (L->form == CU_FORM_ROWS || L->form == CU_FORM_REDUCE) {
        /* einc_cuda_geometry: cuda_rows.c's helpers, printed once before the launcher */
        sb_printf(b, "    {\n        unsigned einc_g, einc_bx, einc_by, einc_sh;\n"
                     "        einc_cuda_geometry(%d, ", L->form == CU_FORM_ROWS ? 1 : 2);
        work_text(L, sp);
        sb_printf(b, ", ");
        axes_text(sp, L->len, L->nlen);
        sb_printf(b, ", einc_sms(), &einc_g, &einc_bx, &einc_by, &einc_sh);\n        if (");
        work_text(L, sp);
        sb_printf(b, " > 0)\n            %s_k%d<<<einc_g, dim3(einc_bx, einc_by), einc_sh, stream>>>(%s);\n"
                     "    }\n", name, k, args);
    } else if (L->form == CU_FORM_GEMM) {
        sb_printf(b, "    if (");
        tiles_text(L, sp);
        sb_printf(b, " > 0)\n        %s_k%d<<<einc_grid(", name, k);
        tiles_text(L, sp);
        sb_printf(b, ", 1, %lld), %u, %u, stream>>>(%s);\n", (long long)L->max_grid, L->block, L->shmem, args);
    } else if (!L->nwork) {
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
    if (L->form == CU_FORM_ROWS || L->form == CU_FORM_REDUCE) {
        sb_printf(b, "; %s: a warp or a block per row%s, by einc_cuda_geometry", L->form == CU_FORM_ROWS ? "rows" : "reduce",
                  L->form == CU_FORM_REDUCE ? ", or two stages when W is small" : "");
        return;
    }
    if (L->form == CU_FORM_GEMM) {
        const char *tc = L->tc     ? " on TF32 tensor cores (mma.sync m16n8k8)"
                         : L->half ? " on 16-bit tensor cores (mma.sync m16n8k16, float32 sums)"
                                   : "";
        sb_printf(b, "; gemm%s: %u threads a %dx%d tile of M = ", tc, L->block, L->tile_m, L->tile_n);
        for (int j = 0; j < L->ngm; j++)
            sb_printf(b, "%s%s", j ? "*" : "", sp->size[L->gm[j]]);
        sb_printf(b, " by N = ");
        for (int j = 0; j < L->ngn; j++)
            sb_printf(b, "%s%s", j ? "*" : "", sp->size[L->gn[j]]);
        sb_printf(b, ", W*ceil(M/%d)*ceil(N/%d) blocks (at most %lld)", L->tile_m, L->tile_n,
                  (long long)L->max_grid);
        if (L->shmem)
            sb_printf(b, ", %u bytes of dynamic shared memory", L->shmem);
        return;
    }
    sb_printf(b, "; %u threads on min(ceil(W/%lld), %lld) blocks", L->block, (long long)L->per_block,
              (long long)L->max_grid);
    if (L->shmem)
        sb_printf(b, ", %u bytes of shared memory", L->shmem);
    if (L->form == CU_FORM_COPY)
        sb_printf(b, "; a copy (shared-memory tiles or 16-byte vectors)");
    else if (!L->nwork)
        sb_printf(b, "; one block");
}
