/*
 * cuda_copy.c — CUDA kernels for copies: the `transpose` and `elementwise` nests whose one
 * statement is out[..] = in[..], both arrays of one dtype (docs/ARCHITECTURE.md §7).
 *
 * The kernel knows its arrays only through their accesses, which are affine in the loop
 * variables; it evaluates each access's offset at 0 and at each unit vector, which gives
 * every axis's stride in both arrays (0 for a broadcast, a sum for a diagonal) whatever
 * the sizes, and hands sizes and strides to one device routine, einc_copy, printed once
 * per file.  At run time it:
 *   - drops axes of extent 1, orders the rest by the output's stride and merges an axis
 *     into the next one where both arrays are contiguous across them (as the CPU backend
 *     runs its coalesced pairs), so `b h w c -> b c h w` becomes (b, c, hw) and a reshape
 *     one axis;
 *   - when the output's innermost axis is also the one the input reads with the smallest
 *     stride, copies rows: 16 bytes a thread where both strides there are 1 and the
 *     pointers, the row length and the other strides allow it, else element by element;
 *   - otherwise goes through tiles of shared memory: a tile spans TR elements of r (the
 *     input's innermost axis) and TO of o (the output's), is read in r order and written
 *     in o order, so both sides are coalesced, with 256 threads moving its up to 1024
 *     elements (several each).  TR and TO are 32 unless one extent is smaller: then the
 *     other axis takes up the rest of the 1024 (c = 3 gives 3 x 320 tiles, each read as one
 *     run of 960 elements where c's neighbour follows it in the input).  A tile's rows in
 *     shared memory are padded to an odd length, so neither phase's accesses share a bank;
 *   - uses 32-bit index arithmetic when every offset fits.
 * Each block loops over tiles (or rows) with the grid's stride, so any grid is correct;
 * cuda_launch.c sizes it to one block per 1024 elements.  Every tile's barriers are
 * reached by the whole block: the loop bounds depend on the block alone.
 */
#include "cuda_launch.h"
#include "codegen.h"

#include <stdio.h>

enum { CU_COPY_BLOCK = 256, CU_COPY_PER_BLOCK = 1024, CU_COPY_MAX_GRID = 65535 };

/* The copy at the end of a nest's flattened loops, or NULL. */
static const lp_node *copy_store(const lp_prog *lp, const lp_nest *nest, int nflat)
{
    const lp_node *n = nest->root;
    for (int i = 0; i < nflat; i++) {
        if (n->op != LP_LOOP || n->n != 1 || n->tile || n->blocked)
            return NULL;
        n = n->body[0];
    }
    const ir_prog *p = lp->ir;
    if (n->op != LP_STORE || n->comb != IR_COMB_ASSIGN || !n->value || n->value->op != IR_ACCESS ||
        n->value->acc.guard)
        return NULL;
    int s = n->value->acc.tensor, d = n->dst->tensor;
    if (s == d || p->tensor[s].dtype != p->tensor[d].dtype)
        return NULL;
    if ((lp->acc && lp->acc[s]) || (p->tensor[s].role == IR_TEMP && !cg_temp_stored(lp, s)))
        return NULL;
    return n;
}

bool cu_copy_plan(const lp_prog *lp, int k, const int *flat, int nflat, cu_launch *L)
{
    (void)flat;
    if (!copy_store(lp, &lp->nest[k], nflat))
        return false;
    L->form = CU_FORM_COPY;
    L->per_block = CU_COPY_PER_BLOCK;
    L->max_grid = CU_COPY_MAX_GRID;
    L->block = CU_COPY_BLOCK;
    L->shmem = 0;
    return true;
}

/* The routine every copy kernel calls (see the top of this file). */
static const char *const copy_routine[] = {
    "#ifndef EINC_CUDA_COPY\n"
    "#define EINC_CUDA_COPY\n"
    "enum { EINC_TILE = 1024, EINC_TILE_SMEM = 1536 };\n"
    "\n",
    "/* Drops extents of 1, orders the axes by the output's stride and merges neighbours\n"
    "   both arrays are contiguous across; the number of axes left. */\n"
    "template <int D> static __device__ int einc_merge(einc_i64 *n, einc_i64 *s, einc_i64 *d)\n"
    "{\n"
    "    int m = 0;\n"
    "    for (int k = 0; k < D; k++)\n"
    "        if (n[k] != 1) {\n"
    "            n[m] = n[k];\n"
    "            s[m] = s[k];\n"
    "            d[m] = d[k];\n"
    "            m++;\n"
    "        }\n"
    "    for (int k = 1; k < m; k++)\n"
    "        for (int j = k; j > 0 && (d[j - 1] < d[j] || (d[j - 1] == d[j] && s[j - 1] < s[j])); j--) {\n"
    "            einc_i64 t = n[j]; n[j] = n[j - 1]; n[j - 1] = t;\n"
    "            t = s[j]; s[j] = s[j - 1]; s[j - 1] = t;\n"
    "            t = d[j]; d[j] = d[j - 1]; d[j - 1] = t;\n"
    "        }\n"
    "    if (m == 0) {\n"
    "        n[0] = s[0] = d[0] = 1;\n"
    "        return 1;\n"
    "    }\n"
    "    int r = 0;\n"
    "    for (int k = 1; k < m; k++) {\n"
    "        if (s[r] == s[k] * n[k] && d[r] == d[k] * n[k]) {\n"
    "            n[r] *= n[k];\n"
    "        } else {\n"
    "            r++;\n"
    "            n[r] = n[k];\n"
    "        }\n"
    "        s[r] = s[k];\n"
    "        d[r] = d[k];\n"
    "    }\n"
    "    return r + 1;\n"
    "}\n"
    "\n",
    "/* One tile, TR x TO elements, through shared memory: FR and FO are TR and TO when known\n"
    "   here (a constant divisor is a shift), else 0. */\n"
    "template <class T, class I, int FR, int FO> static __device__ void einc_tile_copy(\n"
    "    const T *__restrict__ src, T *__restrict__ dst, T (&tile)[EINC_TILE_SMEM], unsigned tr_,\n"
    "    unsigned to_, unsigned er, unsigned eo, I sr, I so, I dr, I dd)\n"
    "{\n"
    "    const unsigned TR = FR ? FR : tr_, TO = FO ? FO : to_, P = TR | 1u;\n"
    "    for (unsigned e = threadIdx.x; e < TR * TO; e += blockDim.x) {\n"
    "        const unsigned ri = e % TR, oi = e / TR;\n"
    "        if (ri < er && oi < eo)\n"
    "            tile[oi * P + ri] = src[(I)ri * sr + (I)oi * so];\n"
    "    }\n"
    "    __syncthreads();\n"
    "    for (unsigned e = threadIdx.x; e < TR * TO; e += blockDim.x) {\n"
    "        const unsigned oi = e % TO, ri = e / TO;\n"
    "        if (ri < er && oi < eo)\n"
    "            dst[(I)oi * dd + (I)ri * dr] = tile[oi * P + ri];\n"
    "    }\n"
    "    __syncthreads();\n"
    "}\n"
    "\n",
    "template <class T, class I, int D> static __device__ void einc_copy_at(\n"
    "    const T *__restrict__ src, T *__restrict__ dst, const einc_i64 *n64, const einc_i64 *s64,\n"
    "    const einc_i64 *d64, int m, T (&tile)[EINC_TILE_SMEM])\n"
    "{\n"
    "    I n[D], s[D], d[D], total = 1;\n"
    "    for (int k = 0; k < m; k++) {\n"
    "        n[k] = (I)n64[k];\n"
    "        s[k] = (I)s64[k];\n"
    "        d[k] = (I)d64[k];\n"
    "        total *= n[k];\n"
    "    }\n"
    "    const int o = m - 1;\n"
    "    int r = o;\n"
    "    for (int k = 0; k < m; k++)\n"
    "        if (s[k] != 0 && (s[r] == 0 || s[k] < s[r]))\n"
    "            r = k;\n"
    "    const I stride = (I)blockDim.x * gridDim.x;\n"
    "    if (r == o) {           /* rows: the output's innermost axis is the input's too */\n"
    "        const int V = 16 / (int)sizeof(T);\n"
    "        bool vec = s[o] == 1 && d[o] == 1 && n[o] % V == 0 &&\n"
    "                   (unsigned long long)src % 16 == 0 && (unsigned long long)dst % 16 == 0;\n"
    "        for (int k = 0; k < o; k++)\n"
    "            vec = vec && s[k] % V == 0 && d[k] % V == 0;\n"
    "        const int v = vec ? V : 1;\n"
    "        const I row = n[o] / v, chunks = total / v;\n"
    "        for (I c = (I)blockIdx.x * blockDim.x + threadIdx.x; c < chunks; c += stride) {\n"
    "            I at = o == 0 ? 0 : c / row, col = (c - at * row) * v;\n"
    "            I sa = col * s[o], da = col * d[o];\n"
    "            for (int k = o - 1; k >= 0; k--) {\n"
    "                const I x = at % n[k];\n"
    "                at /= n[k];\n"
    "                sa += x * s[k];\n"
    "                da += x * d[k];\n"
    "            }\n"
    "            if (vec)\n"
    "                einc_store_f4(dst + da, einc_load_f4(src + sa));\n"
    "            else\n"
    "                dst[da] = src[sa];\n"
    "        }\n"
    "        return;\n"
    "    }\n"
    "    /* tiles of TR elements of r by TO of o; the smaller extent lends the other its share */\n"
    "    const I nr = n[r], no = n[o];\n"
    "    unsigned TR = nr < 32 ? (unsigned)nr : 32u, TO = no < 32 ? (unsigned)no : 32u;\n"
    "    if (TR < 32) {\n"
    "        const I w = (I)(32u * (32u / TR));\n"
    "        TO = (unsigned)(no < w ? no : w);\n"
    "    } else if (TO < 32) {\n"
    "        const I w = (I)(32u * (32u / TO));\n"
    "        TR = (unsigned)(nr < w ? nr : w);\n"
    "    }\n"
    "    const I tr = (nr + TR - 1) / TR, to = (no + TO - 1) / TO;\n"
    "    const I ntiles = total / (nr * no) * tr * to;\n"
    "    for (I t = blockIdx.x; t < ntiles; t += gridDim.x) {\n"
    "        I at = t;\n"
    "        const I r0 = at % tr * TR;\n"
    "        at /= tr;\n"
    "        const I o0 = at % to * TO;\n"
    "        at /= to;\n"
    "        I sa = r0 * s[r] + o0 * s[o], da = r0 * d[r] + o0 * d[o];\n"
    "        for (int k = m - 1; k >= 0; k--)\n"
    "            if (k != r && k != o) {\n"
    "                const I x = at % n[k];\n"
    "                at /= n[k];\n"
    "                sa += x * s[k];\n"
    "                da += x * d[k];\n"
    "            }\n"
    "        const unsigned er = (unsigned)(nr - r0 < (I)TR ? nr - r0 : (I)TR);\n"
    "        const unsigned eo = (unsigned)(no - o0 < (I)TO ? no - o0 : (I)TO);\n"
    "        if (TR == 32 && TO == 32)\n"
    "            einc_tile_copy<T, I, 32, 32>(src + sa, dst + da, tile, TR, TO, er, eo, s[r], s[o], d[r], d[o]);\n"
    "        else\n"
    "            einc_tile_copy<T, I, 0, 0>(src + sa, dst + da, tile, TR, TO, er, eo, s[r], s[o], d[r], d[o]);\n"
    "    }\n"
    "}\n"
    "\n",
    "/* Sizes and strides of D axes in loop order; src and dst point at the first element. */\n"
    "template <class T, int D> static __device__ void einc_copy(const T *__restrict__ src,\n"
    "    T *__restrict__ dst, einc_i64 *n, einc_i64 *s, einc_i64 *d, T (&tile)[EINC_TILE_SMEM])\n"
    "{\n"
    "    const int m = einc_merge<D>(n, s, d);\n"
    "    einc_i64 reach_s = 0, reach_d = 0, total = 1;\n"
    "    for (int k = 0; k < m; k++) {\n"
    "        reach_s += (n[k] - 1) * (s[k] < 0 ? -s[k] : s[k]);\n"
    "        reach_d += (n[k] - 1) * (d[k] < 0 ? -d[k] : d[k]);\n"
    "        total *= n[k];\n"
    "    }\n"
    "    if (total == 0)\n"
    "        return;\n"
    "    if (reach_s < 0x40000000LL && reach_d < 0x40000000LL && total < 0x40000000LL)\n"
    "        einc_copy_at<T, int, D>(src, dst, n, s, d, m, tile);\n"
    "    else\n"
    "        einc_copy_at<T, einc_i64, D>(src, dst, n, s, d, m, tile);\n"
    "}\n"
    "#endif\n\n",
};

/* offset of acc with the loop variables of ax[0..n) at 0, except axis one (-1: none) at 1 */
static void offset_at(cspell *sp, const ir_access *a, const ir_access *b, const int *ax, int n, int one,
                      const char *lhs_a, const char *lhs_b, const char *minus_a, const char *minus_b)
{
    sb_printf(sp->b, "    {\n");
    for (int i = 0; i < n; i++)
        if (ir_access_uses(a, ax[i]) || ir_access_uses(b, ax[i]))
            sb_printf(sp->b, "        const einc_i64 %s = %d;\n", sp->loopvar[ax[i]], ax[i] == one);
    sb_printf(sp->b, "        %s = ", lhs_a);
    cs_offset(sp, a);
    sb_printf(sp->b, "%s;\n        %s = ", minus_a, lhs_b);
    cs_offset(sp, b);
    sb_printf(sp->b, "%s;\n    }\n", minus_b);
}

void cu_copy_kernel(cspell *sp, const lp_nest *nest, const int *flat, int nflat)
{
    const lp_node *st = nest->root;
    for (int i = 0; i < nflat; i++)
        st = st->body[0];
    const ir_access *src = &st->value->acc, *dst = st->dst;
    const char *T = cu_copy_type(sp->p->tensor[dst->tensor].dtype);
    int D = nflat ? nflat : 1;
    strbuf *b = sp->b;
    sb_printf(b, "    __shared__ %s einc_tile[EINC_TILE_SMEM];\n", T);
    sb_printf(b, "    einc_i64 einc_n[%d], einc_s[%d], einc_d[%d], einc_sb, einc_db;\n", D, D, D);
    offset_at(sp, src, dst, flat, nflat, -1, "einc_sb", "einc_db", "", "");
    for (int i = 0; i < nflat; i++) {
        char ls[32], ld[32];
        snprintf(ls, sizeof ls, "einc_s[%d]", i);
        snprintf(ld, sizeof ld, "einc_d[%d]", i);
        sb_printf(b, "    einc_n[%d] = %s;\n", i, sp->size[flat[i]]);
        if (ir_access_uses(src, flat[i]) || ir_access_uses(dst, flat[i]))
            offset_at(sp, src, dst, flat, nflat, flat[i], ls, ld, " - einc_sb", " - einc_db");
        else
            sb_printf(b, "    %s = %s = 0;\n", ls, ld);
    }
    if (!nflat)
        sb_printf(b, "    einc_n[0] = 1;\n    einc_s[0] = einc_d[0] = 0;\n");
    if (dtype_is_half(sp->p->tensor[dst->tensor].dtype))   /* the bits, as einc_u16 */
        sb_printf(b, "    einc_copy<%s, %d>((const %s *)(%s + einc_sb), (%s *)(%s + einc_db), einc_n, einc_s, "
                     "einc_d, einc_tile);\n", T, D, T, sp->tensor[src->tensor], T, sp->tensor[dst->tensor]);
    else
        sb_printf(b, "    einc_copy<%s, %d>(%s + einc_sb, %s + einc_db, einc_n, einc_s, einc_d, einc_tile);\n",
                  T, D, sp->tensor[src->tensor], sp->tensor[dst->tensor]);
}

/* The routine, once per file, before the first kernel that needs it. */
void cu_copy_routine(strbuf *b)
{
    for (size_t i = 0; i < sizeof copy_routine / sizeof *copy_routine; i++)
        sb_printf(b, "%s", copy_routine[i]);
}
