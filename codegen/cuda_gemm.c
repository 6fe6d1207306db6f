/*
 * cuda_gemm.c — the CUDA kernel of a contraction: a nest lowered for the GPU whose flattened
 * loops (cg_cuda_flat) sit over one sum
 *
 *     out[batch.., m.., n..] (=|+=) final( sum over k.. of  A[..] * B[..] )
 *
 * (docs/ARCHITECTURE.md, "The CUDA kernels"), perhaps among stores of the same element (a linear
 * layer's bias, which the sum accumulates onto, and its activation).  The output's axes are grouped by which factor
 * reads them: both (batch), the first only (M), the second only (N); the reduced axes (K)
 * must be read by both.  An output axis neither factor reads, a reduced axis one factor
 * misses, another shape of statement, an integer or a guarded read leaves the nest to
 * cuda.c's plain form.  Only float32 and float64 are taken (float64: smaller tiles), and
 * float32 sums of two float16 or two bfloat16 factors (tensor cores, below).
 *
 * Like cuda_copy.c, the kernel knows its arrays only through their affine accesses: it
 * evaluates each factor's offset at 0 and at every unit vector, which gives each axis's
 * stride in A and in B whatever the layout (`ik,kj`, `ki,kj`, `ik,jk` alike).  A group of
 * several axes is run as one index when its strides allow it (each axis's stride is the next
 * inner one's times that one's extent, extents of 1 ignored), which only the run time
 * knows; when a group does not merge, the kernel runs the plain form's loop instead (every
 * thread of the grid an output element), so a layout it cannot tile is never a wrong answer.
 * So does a launch whose block is not the tiles' 256 threads (a one-thread test shim).
 *
 * The tiled path, einc_gemm_block (device code printed once per file): a block of 256
 * threads (16 x 16) owns a BM x BN tile of one batch element's output (float32: 128 x 128,
 * each thread 8 x 8 outputs; float64: 64 x 64, 4 x 4), and walks K in steps of BK = 8
 * through two shared-memory buffers of A's and B's slices, stored k-major so that a
 * thread's fragment of a k step is whole 16-byte words (rows ty*4 + 64q, columns tx*4 +
 * 64q: the 16 threads of a half-warp read 256 contiguous bytes).  Each thread loads its
 * quad (4 neighbours along the factor's unit-stride axis) of the next slice into registers
 * before computing the current one, and stores it into the other buffer after: one barrier
 * per k step.  A quad is one 16-byte load when the factor steps by 1 along it, the extent
 * and the other strides are multiples of 4 and the pointer is 16-byte aligned (checked at
 * run time, per tile), else four scalar loads; any element outside M, N or K reads as 0,
 * so edge tiles need no other care and K = 0 stores final(0).  Tiles are handed out with
 * the grid's stride, M tiles in groups of 8 sharing their N tile (neighbouring blocks
 * reuse B's columns in L2); the epilogue applies the nest's final expression (or adds dst
 * for an accumulating sum) per output and stores it as cuda.c does.
 *
 * With TF32 allowed (lp_prog.tf32) a float32 contraction calls cuda_gemm_tc.c's
 * einc_tc_block instead (tensor cores, a cp.async pipeline in 108 KiB of dynamic shared
 * memory: cu_launch.tc and .shmem); the grid, the fallback and the epilogue are the same,
 * each thread's outputs being its accumulator fragments' elements.  A contraction of two
 * float16 (or bfloat16) factors always takes cuda_gemm_h.c's einc_hc_block (mma.sync
 * m16n8k16, float32 sums, 48 KiB of dynamic shared memory: cu_launch.half); a device
 * without it (before sm_80) runs the plain form, since einc_hc_block is compiled only where
 * the instructions exist (EINC_HC).
 */
#include "cuda_int.h"
#include "cuda_launch.h"
#include "alloc.h"

#include <stdio.h>
#include <string.h>

enum { CU_GEMM_THREADS = 256, CU_GEMM_BK = 8, CU_GEMM_MAX_GRID = 1 << 20,
       CU_GEMM_TC_SHMEM = 2 * 3 * 4608 * 4,     /* cuda_gemm_tc.c: 2 factors, 3 stages */
       CU_GEMM_H_SHMEM = 2 * 3 * 4096 * 2 };    /* cuda_gemm_h.c: the same of 16-bit elements */

/* What the kernel needs of a matched nest. */
typedef struct gemm_shape {
    const lp_node *acc;
    int at;                     /* the sum's place among the stores of its element */
    const ir_access *a, *b;     /* the factors: a reads M's axes, b N's */
    int nb, nm, nn, nk;
    int *ax;                    /* batch, then M, N, K axes; each group in loop order */
} gemm_shape;

static int tile_of(einc_dtype t) { return t == EINC_F64 ? 4 : 8; }

/* Is x a factor of the type t the kernel takes (the compute type, or a 16-bit float's)? */
static bool operand_ok(const lp_prog *lp, const ir_expr *x, einc_dtype dt)
{
    if (x->op != IR_ACCESS || x->acc.guard)
        return false;
    int t = x->acc.tensor;
    const ir_tensor *T = &lp->ir->tensor[t];
    if (T->dtype != dt || (lp->acc && lp->acc[t]))
        return false;
    return T->role != IR_TEMP || cg_temp_stored(lp, t);
}

/*
 * Is nest k a contraction this kernel takes?  ax (IR_MAX_AXES long, or NULL to count only)
 * receives the groups' axes.
 */
static bool gemm_match(const lp_prog *lp, int k, const int *flat, int nflat, gemm_shape *s, int *ax)
{
    const lp_nest *nest = &lp->nest[k];
    if (nest->compute != EINC_F32 && nest->compute != EINC_F64)
        return false;
    /* the flattened loops; the last may hold stores of the same element around the sum (a
       linear layer's bias fill, which the sum accumulates onto, and the activation after) */
    const lp_node *n = nest->root, *last = NULL;
    int at = 0;
    for (int i = 0; i < nflat; i++) {
        if (n->op != LP_LOOP || (i + 1 < nflat && n->n != 1) || n->tile || n->blocked)
            return false;
        last = n;
        n = n->body[0];
    }
    for (int i = 0; last && i < last->n; i++)
        if (last->body[i]->op == LP_ACC)
            n = last->body[at = i];
    if (n->op != LP_ACC || n->n != 1 || (n->comb != IR_COMB_SUM && n->comb != IR_COMB_MEAN))
        return false;
    *s = (gemm_shape){ .acc = n, .at = at, .ax = ax };
    int kax[IR_MAX_AXES];
    const lp_node *u = n->body[0];
    for (; u->op == LP_LOOP; u = u->body[0]) {
        if (u->n != 1 || u->tile || u->blocked || s->nk >= IR_MAX_AXES)
            return false;
        kax[s->nk++] = u->axis;
    }
    if (u->op != LP_UPDATE || !s->nk || !u->value || u->value->op != IR_MUL)
        return false;
    const ir_expr *x = u->value;
    einc_dtype dt = x->a->op == IR_ACCESS ? lp->ir->tensor[x->a->acc.tensor].dtype : nest->compute;
    if (!dtype_is_half(dt) || nest->compute != EINC_F32)
        dt = nest->compute;
    if (!operand_ok(lp, x->a, dt) || !operand_ok(lp, x->b, dt))
        return false;
    s->a = &x->a->acc;
    s->b = &x->b->acc;
    for (int i = 0; last && i < last->n; i++) {
        const lp_node *st = last->body[i];
        if (i != at && (st->op != LP_STORE || (st->value && st->comb != IR_COMB_ASSIGN) ||
            st->dst->tensor == s->a->tensor || st->dst->tensor == s->b->tensor))
            return false;
    }
    for (int i = 0; i < s->nk; i++)
        if (!ir_access_uses(s->a, kax[i]) || !ir_access_uses(s->b, kax[i]))
            return false;
    /* the groups, each in loop order: batch, M, N from the flattened loops, then K */
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < nflat; i++) {
            bool ua = ir_access_uses(s->a, flat[i]), ub = ir_access_uses(s->b, flat[i]);
            if (!ua && !ub)
                return false;
            if ((pass == 0 && ua && ub) || (pass == 1 && ua && !ub) || (pass == 2 && !ua && ub)) {
                if (ax)
                    ax[s->nb + s->nm + s->nn] = flat[i];
                *(pass == 0 ? &s->nb : pass == 1 ? &s->nm : &s->nn) += 1;
            }
        }
    if (!s->nm || !s->nn)       /* a matrix-vector product: the plain form's rows suit it */
        return false;
    for (int i = 0; ax && i < s->nk; i++)
        ax[s->nb + s->nm + s->nn + i] = kax[i];
    return true;
}

int cu_gemm_plan(cc *c, const lp_prog *lp, int k, const int *flat, int nflat, cu_launch *L)
{
    gemm_shape s;
    if (!gemm_match(lp, k, flat, nflat, &s, NULL))
        return 0;
    int *ax = ARENA_ARRAY(c->A, int, IR_MAX_AXES);
    if (!ax)
        return cc_nomem(c);
    gemm_match(lp, k, flat, nflat, &s, ax);
    int t = 16 * tile_of(lp->nest[k].compute);
    /* the tensor-core variants: 128 x 128 tiles too */
    bool half = dtype_is_half(lp->ir->tensor[s.a->tensor].dtype);
    bool tc = !half && lp->tf32 && lp->nest[k].compute == EINC_F32;
    *L = (cu_launch){ .form = CU_FORM_GEMM, .nwork = s.nb, .work = ax, .per_block = 1,
                      .max_grid = CU_GEMM_MAX_GRID, .block = CU_GEMM_THREADS, .ngm = s.nm,
                      .gm = ax + s.nb, .ngn = s.nn, .gn = ax + s.nb + s.nm, .tile_m = t, .tile_n = t,
                      .tc = tc, .half = half, .shmem = tc ? CU_GEMM_TC_SHMEM : half ? CU_GEMM_H_SHMEM : 0 };
    return 1;
}

/* The device code every gemm kernel calls (see the top of this file). */
static const char *const gemm_routine[] = {
    "#ifndef EINC_CUDA_GEMM\n"
    "#define EINC_CUDA_GEMM\n"
    "/* A group's axes (outermost first) as one index of stride *st; false when their strides\n"
    "   do not allow it. */\n"
    "static __device__ bool einc_gemm_merge(const einc_i64 *n, const einc_i64 *s, int c, einc_i64 *st)\n"
    "{\n"
    "    einc_i64 span = 1;\n"
    "    bool first = true;\n"
    "    *st = 0;\n"
    "    for (int a = c - 1; a >= 0; a--) {\n"
    "        if (n[a] == 1)\n"
    "            continue;\n"
    "        if (first)\n"
    "            *st = s[a];\n"
    "        else if (s[a] != *st * span)\n"
    "            return false;\n"
    "        first = false;\n"
    "        span *= n[a];\n"
    "    }\n"
    "    return true;\n"
    "}\n"
    "\n",
    "/* Four neighbours of a fragment: one 16-byte word for float (p 16-byte aligned). */\n"
    "template <class T> struct einc_gemm_v {\n"
    "    static __device__ inline void ld4(const T *p, T *o)\n"
    "    {\n"
    "        o[0] = p[0];\n"
    "        o[1] = p[1];\n"
    "        o[2] = p[2];\n"
    "        o[3] = p[3];\n"
    "    }\n"
    "};\n"
    "template <> struct einc_gemm_v<float> {\n"
    "    static __device__ inline void ld4(const float *p, float *o)\n"
    "    {\n"
    "        const float4 v = einc_load_f4(p);\n"
    "        o[0] = v.x;\n"
    "        o[1] = v.y;\n"
    "        o[2] = v.z;\n"
    "        o[3] = v.w;\n"
    "    }\n"
    "};\n"
    "\n",
    "/* One factor: element (r, k) at p[r * sr + k * sk] for r < R, k < K; quads along k\n"
    "   (along_k) or along r; vec: a quad is one aligned 16-byte word. */\n"
    "template <class T> struct einc_gemm_op {\n"
    "    const T *p;\n"
    "    einc_i64 sr, sk, R;\n"
    "    bool along_k, vec;\n"
    "};\n"
    "\n",
    "/* Quads of the BR x BK slice at (r0, k0) into registers, zeros outside. */\n"
    "template <class T, int BR, int BK, int Q> static __device__ inline void einc_gemm_fetch(\n"
    "    const einc_gemm_op<T> &o, einc_i64 r0, einc_i64 k0, einc_i64 K, T (&v)[Q][4])\n"
    "{\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < Q; i++) {\n"
    "        const int q = (int)threadIdx.x + i * 256;\n"
    "        if (q >= BR * BK / 4)\n"
    "            break;\n"
    "        const einc_i64 r = r0 + (o.along_k ? q / (BK / 4) : q % (BR / 4) * 4);\n"
    "        const einc_i64 k = k0 + (o.along_k ? q % (BK / 4) * 4 : q / (BR / 4));\n"
    "        if (o.vec) {\n"
    "            if (r < o.R && k < K)\n"
    "                einc_gemm_v<T>::ld4(o.p + r * o.sr + k * o.sk, v[i]);\n"
    "            else\n"
    "                v[i][0] = v[i][1] = v[i][2] = v[i][3] = 0;\n"
    "            continue;\n"
    "        }\n"
    "#pragma unroll\n"
    "        for (int e = 0; e < 4; e++) {\n"
    "            const einc_i64 re = o.along_k ? r : r + e, ke = o.along_k ? k + e : k;\n"
    "            v[i][e] = re < o.R && ke < K ? o.p[re * o.sr + ke * o.sk] : (T)0;\n"
    "        }\n"
    "    }\n"
    "}\n"
    "\n"
    "/* The registers einc_gemm_fetch filled into the slice s, k-major. */\n"
    "template <class T, int BR, int BK, int Q> static __device__ inline void einc_gemm_put(\n"
    "    const einc_gemm_op<T> &o, const T (&v)[Q][4], T (&s)[BK][BR])\n"
    "{\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < Q; i++) {\n"
    "        const int q = (int)threadIdx.x + i * 256;\n"
    "        if (q >= BR * BK / 4)\n"
    "            break;\n"
    "        const int r = o.along_k ? q / (BK / 4) : q % (BR / 4) * 4;\n"
    "        const int k = o.along_k ? q % (BK / 4) * 4 : q / (BR / 4);\n"
    "#pragma unroll\n"
    "        for (int e = 0; e < 4; e++)\n"
    "            s[o.along_k ? k + e : k][o.along_k ? r : r + e] = v[i][e];\n"
    "    }\n"
    "}\n"
    "\n",
    "/* c: this thread's TM x TN outputs of the tile at (m0, n0): rows (i / 4) * 64 + ty * 4 +\n"
    "   i % 4, columns likewise with tx; sa, sb: two slices each. */\n"
    "template <class T, int TM, int TN, int BK> static __device__ void einc_gemm_block(\n"
    "    const einc_gemm_op<T> &a, const einc_gemm_op<T> &b, einc_i64 m0, einc_i64 n0, einc_i64 K,\n"
    "    T (&sa)[2][BK][16 * TM], T (&sb)[2][BK][16 * TN], T (&c)[TM][TN])\n"
    "{\n"
    "    enum { BM = 16 * TM, BN = 16 * TN, QA = (BM * BK / 4 + 255) / 256, QB = (BN * BK / 4 + 255) / 256 };\n"
    "    const int tx = (int)threadIdx.x % 16, ty = (int)threadIdx.x / 16;\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < TM; i++)\n"
    "#pragma unroll\n"
    "        for (int j = 0; j < TN; j++)\n"
    "            c[i][j] = 0;\n"
    "    const einc_i64 nk = (K + BK - 1) / BK;\n"
    "    if (nk == 0)\n"
    "        return;\n"
    "    T ra[QA][4], rb[QB][4];\n"
    "    einc_gemm_fetch<T, BM, BK, QA>(a, m0, 0, K, ra);\n"
    "    einc_gemm_fetch<T, BN, BK, QB>(b, n0, 0, K, rb);\n"
    "    einc_gemm_put<T, BM, BK, QA>(a, ra, sa[0]);\n"
    "    einc_gemm_put<T, BN, BK, QB>(b, rb, sb[0]);\n"
    "    __syncthreads();\n"
    "    for (einc_i64 t = 0; t < nk; t++) {\n"
    "        const int cur = (int)(t & 1);\n"
    "        if (t + 1 < nk) {       /* the next slice, in flight while this one is used */\n"
    "            einc_gemm_fetch<T, BM, BK, QA>(a, m0, (t + 1) * BK, K, ra);\n"
    "            einc_gemm_fetch<T, BN, BK, QB>(b, n0, (t + 1) * BK, K, rb);\n"
    "        }\n"
    "#pragma unroll\n"
    "        for (int kk = 0; kk < BK; kk++) {\n"
    "            T fa[TM], fb[TN];\n"
    "#pragma unroll\n"
    "            for (int q = 0; q < TM / 4; q++)\n"
    "                einc_gemm_v<T>::ld4(&sa[cur][kk][q * 64 + ty * 4], &fa[q * 4]);\n"
    "#pragma unroll\n"
    "            for (int q = 0; q < TN / 4; q++)\n"
    "                einc_gemm_v<T>::ld4(&sb[cur][kk][q * 64 + tx * 4], &fb[q * 4]);\n"
    "#pragma unroll\n"
    "            for (int i = 0; i < TM; i++)\n"
    "#pragma unroll\n"
    "                for (int j = 0; j < TN; j++)\n"
    "                    c[i][j] += fa[i] * fb[j];\n"
    "        }\n"
    "        if (t + 1 < nk) {       /* the other buffer: every thread left it at the last barrier */\n"
    "            einc_gemm_put<T, BM, BK, QA>(a, ra, sa[cur ^ 1]);\n"
    "            einc_gemm_put<T, BN, BK, QB>(b, rb, sb[cur ^ 1]);\n"
    "        }\n"
    "        __syncthreads();\n"
    "    }\n"
    "}\n"
    "#endif\n\n",
};

void cu_gemm_routine(strbuf *b)
{
    for (size_t i = 0; i < sizeof gemm_routine / sizeof *gemm_routine; i++)
        sb_printf(b, "%s", gemm_routine[i]);
}

/* Offsets of the factors with every loop variable of ax[0..n) 0, but ax[one] (-1: none) 1. */
static void offsets_at(cgu *g, const gemm_shape *s, int n, int one, const char *la, const char *lb)
{
    cspell *sp = &g->sp;
    sb_printf(sp->b, "    {\n");
    for (int i = 0; i < n; i++)
        sb_printf(sp->b, "        const einc_i64 %s = %d;\n", sp->loopvar[s->ax[i]], i == one);
    sb_printf(sp->b, "        %s = ", la);
    cs_offset(sp, s->a);
    sb_printf(sp->b, "%s;\n        %s = ", one < 0 ? "" : " - einc_a0", lb);
    cs_offset(sp, s->b);
    sb_printf(sp->b, "%s;\n    }\n", one < 0 ? "" : " - einc_b0");
}

/* A group's index idx as its axes' loop variables (rest: a fresh name for the remainder). */
static void unflatten(cgu *g, const int *ax, int n, const char *idx, const char *rest, int depth)
{
    cspell *sp = &g->sp;
    cu_indent(g, depth);
    sb_printf(sp->b, "einc_i64 %s = %s;\n", rest, idx);
    for (int i = n - 1; i >= 0; i--) {
        cu_indent(g, depth);
        if (i == 0) {
            sb_printf(sp->b, "const einc_i64 %s = %s;\n", sp->loopvar[ax[i]], rest);
            break;
        }
        sb_printf(sp->b, "const einc_i64 %s = %s %% %s;\n", sp->loopvar[ax[i]], rest, sp->size[ax[i]]);
        cu_indent(g, depth);
        sb_printf(sp->b, "%s /= %s;\n", rest, sp->size[ax[i]]);
    }
}

/* The product of a group's sizes. */
static void group_size(cgu *g, const int *ax, int n)
{
    sb_printf(g->sp.b, "(einc_i64)1");
    for (int i = 0; i < n; i++)
        sb_printf(g->sp.b, " * %s", g->sp.size[ax[i]]);
}

/* One factor's operand description for the tile at hand (T: its element type). */
static void operand(cgu *g, const char *v, const char *ptr, const char *base, const char *sr, const char *sk,
                    const char *R, int vec)
{
    sb_printf(g->sp.b,
              "            %s.p = %s + %s;\n"
              "            %s.sr = %s;\n            %s.sk = %s;\n            %s.R = %s;\n"
              "            %s.along_k = %s == 1 || (%s != 1 && (%s < 0 ? -%s : %s) < (%s < 0 ? -%s : %s));\n",
              v, ptr, base, v, sr, v, sk, v, R, v, sk, sr, sk, sk, sk, sr, sr, sr);
    if (vec)    /* vec elements a 16-byte word */
        sb_printf(g->sp.b,
                  "            %s.vec = (%s.along_k ? %s == 1 && einc_K %% %d == 0 && %s %% %d == 0\n"
                  "                                 : %s == 1 && %s %% %d == 0 && %s %% %d == 0) &&\n"
                  "                     (unsigned long long)%s.p %% 16 == 0;\n",
                  v, v, sk, vec, sr, vec, sr, R, vec, sk, vec, v);
    else
        sb_printf(g->sp.b, "            %s.vec = false;\n", v);
}

void cu_gemm_kernel(cgu *g, const cu_kernel *k, const cu_launch *L, int idx)
{
    (void)idx;
    cspell *sp = &g->sp;
    strbuf *b = sp->b;
    gemm_shape s;
    int *ax = ARENA_ARRAY(sp->c->A, int, IR_MAX_AXES);
    if (!ax || !gemm_match(sp->lp, (int)(g->nest - sp->lp->nest), k->flat, k->nflat, &s, ax)) {
        b->failed = true;       /* out of memory; the plan matched this nest */
        return;
    }
    bool fp32 = g->nest->compute == EINC_F32, tc = L->tc, half = L->half;
    einc_dtype ft = sp->p->tensor[s.a->tensor].dtype;     /* the factors' */
    const char *T = half ? cu_elem_type(ft) : fp32 ? "float" : "double";
    int tm = tile_of(g->nest->compute), bm = 16 * tm, na = s.nb + s.nm + s.nn + s.nk;
    const int *gb = ax, *gm = ax + s.nb, *gn = gm + s.nm, *gk = gn + s.nn;
    if (tc)
        sb_printf(b, "    EINC_DYN_SHARED(float, einc_sm);     /* cuda_gemm_tc.c's three stages */\n");
    else if (half)
        sb_printf(b, "    EINC_DYN_SHARED(unsigned short, einc_sm);    /* cuda_gemm_h.c's three stages */\n");
    else
        sb_printf(b, "    /* aligned: fragments are read as 16-byte words */\n"
                     "    __shared__ %s einc_sa[2][%d][%d] __align__(16), einc_sb[2][%d][%d] __align__(16);\n", T, CU_GEMM_BK, bm, CU_GEMM_BK, bm);
    sb_printf(b, "    einc_i64 einc_n[%d], einc_sta[%d], einc_stb[%d], einc_a0, einc_b0;\n", na, na, na);
    offsets_at(g, &s, na, -1, "einc_a0", "einc_b0");
    for (int i = 0; i < na; i++) {
        char la[32], lb[32];
        snprintf(la, sizeof la, "einc_sta[%d]", i);
        snprintf(lb, sizeof lb, "einc_stb[%d]", i);
        sb_printf(b, "    einc_n[%d] = %s;\n", i, sp->size[ax[i]]);
        offsets_at(g, &s, na, i, la, lb);
    }
    sb_printf(b, "    einc_i64 einc_sam, einc_sak, einc_sbn, einc_sbk;\n"
                 "    const bool einc_ok = einc_gemm_merge(einc_n + %d, einc_sta + %d, %d, &einc_sam) &&\n"
                 "                         einc_gemm_merge(einc_n + %d, einc_stb + %d, %d, &einc_sbn) &&\n"
                 "                         einc_gemm_merge(einc_n + %d, einc_sta + %d, %d, &einc_sak) &&\n"
                 "                         einc_gemm_merge(einc_n + %d, einc_stb + %d, %d, &einc_sbk);\n",
              s.nb, s.nb, s.nm, s.nb + s.nm, s.nb + s.nm, s.nn, na - s.nk, na - s.nk, s.nk, na - s.nk,
              na - s.nk, s.nk);
    sb_printf(b, "    const einc_i64 einc_M = ");
    group_size(g, gm, s.nm);
    sb_printf(b, ", einc_N = ");
    group_size(g, gn, s.nn);
    sb_printf(b, ", einc_K = ");
    group_size(g, gk, s.nk);
    sb_printf(b, ", einc_B = ");
    group_size(g, gb, s.nb);
    sb_printf(b, ";\n%s    if (einc_ok && blockDim.x == %d) {\n"
                 "        const einc_i64 einc_tm = (einc_M + %d) / %d, einc_tn = (einc_N + %d) / %d;\n"
                 "        const einc_i64 einc_per = einc_tm * einc_tn;\n"
                 "        %s\n"
                 "        einc_gemm_op<%s> einc_a, einc_b;\n"
                 "        for (einc_i64 einc_t = blockIdx.x; einc_t < einc_B * einc_per; einc_t += gridDim.x) {\n"
                 "            /* M tiles in groups of 8 over one N tile, then the next N tile */\n"
                 "            const einc_i64 einc_pid = einc_t %% einc_per;\n"
                 "            const einc_i64 einc_g0 = einc_pid / (8 * einc_tn) * 8;\n"
                 "            const einc_i64 einc_gs = einc_tm - einc_g0 < 8 ? einc_tm - einc_g0 : 8;\n"
                 "            const einc_i64 einc_m0 = (einc_g0 + einc_pid %% (8 * einc_tn) %% einc_gs) * %d;\n"
                 "            const einc_i64 einc_n0 = einc_pid %% (8 * einc_tn) / einc_gs * %d;\n",
              half ? "#ifdef EINC_HC\n" : "", CU_GEMM_THREADS, bm - 1, bm, bm - 1, bm,
              tc || half ? "const int einc_w = (int)threadIdx.x / 32, einc_g = (int)threadIdx.x % 32 / 4, "
                   "einc_q = (int)threadIdx.x % 4;"
                 : "const int einc_tx = (int)threadIdx.x % 16, einc_ty = (int)threadIdx.x / 16;",
              T, bm, bm);
    sb_printf(b, "            einc_i64 einc_ao = 0, einc_bo = 0;\n");
    if (s.nb) {
        sb_printf(b, "            const einc_i64 einc_bi = einc_t / einc_per;\n");
        unflatten(g, gb, s.nb, "einc_bi", "einc_rb", 3);
        for (int i = 0; i < s.nb; i++)
            sb_printf(b, "            einc_ao += %s * einc_sta[%d];\n            einc_bo += %s * einc_stb[%d];\n",
                      sp->loopvar[gb[i]], i, sp->loopvar[gb[i]], i);
    }
    int vec = half ? 8 : fp32 ? 4 : 0;
    operand(g, "einc_a", sp->tensor[s.a->tensor], "einc_a0 + einc_ao", "einc_sam", "einc_sak", "einc_M", vec);
    operand(g, "einc_b", sp->tensor[s.b->tensor], "einc_b0 + einc_bo", "einc_sbn", "einc_sbk", "einc_N", vec);
    /* each thread's outputs: i (rows) by j (columns), at einc_m, einc_nj; its value */
    const char *row, *col, *val;
    if (tc || half) {
        /* fragment (i / 2, j / 2) of the warp's 4 x 4, its element (i % 2) * 2 + j % 2
           (cuda_emu_mma.hh's C and D table) */
        sb_printf(b, "            float einc_c[4][4][4];\n");
        if (tc)
            sb_printf(b, "            einc_tc_block(einc_a, einc_b, einc_m0, einc_n0, einc_K, einc_sm, einc_c);\n");
        else
            sb_printf(b, "            einc_hc_block<%s, %s>(einc_a, einc_b, einc_m0, einc_n0, einc_K, einc_sm, einc_c);\n",
                      T, ft == EINC_BF16 ? "true" : "false");
        row = "einc_w / 4 * 64 + einc_i / 2 * 16 + einc_g + 8 * (einc_i % 2)";
        col = "einc_w % 4 * 32 + einc_j / 2 * 8 + 2 * einc_q + einc_j % 2";
        val = "einc_c[einc_i / 2][einc_j / 2][einc_i % 2 * 2 + einc_j % 2]";
    } else {
        sb_printf(b, "            %s einc_c[%d][%d];\n"
                     "            einc_gemm_block<%s, %d, %d, %d>(einc_a, einc_b, einc_m0, einc_n0, einc_K, einc_sa, einc_sb, einc_c);\n",
                  T, tm, tm, T, tm, tm, CU_GEMM_BK);
        row = "einc_i / 4 * 64 + einc_ty * 4 + einc_i % 4";
        col = "einc_j / 4 * 64 + einc_tx * 4 + einc_j % 4";
        val = "einc_c[einc_i][einc_j]";
    }
    sb_printf(b, "#pragma unroll\n"
                 "            for (int einc_i = 0; einc_i < %d; einc_i++) {\n"
                 "                const einc_i64 einc_m = einc_m0 + %s;\n"
                 "                if (einc_m >= einc_M)\n                    continue;\n",
              tc || half ? 8 : tm, row);
    unflatten(g, gm, s.nm, "einc_m", "einc_rm", 4);
    sb_printf(b, "#pragma unroll\n"
                 "                for (int einc_j = 0; einc_j < %d; einc_j++) {\n"
                 "                    const einc_i64 einc_nj = einc_n0 + %s;\n"
                 "                    if (einc_nj >= einc_N)\n                        continue;\n",
              tc || half ? 8 : tm, col);
    unflatten(g, gn, s.nn, "einc_nj", "einc_rn", 5);
    /* the ACC's end, as the plain form spells it, with acc the sum (plus dst's value when
       the statement accumulates into it) */
    for (int i = 0; i < s.at; i++)     /* the stores before the sum, in order */
        cu_node(g, k->body[i], 5);
    cu_indent(g, 5);
    sb_printf(b, "{\n");
    cu_indent(g, 6);
    sb_printf(b, "%s acc = %s;\n", cs_arith_type(sp, g->nest->compute), val);
    if (s.acc->accumulate) {
        cu_indent(g, 6);
        sb_printf(b, "acc = ");
        cs_load(sp, g->nest, s.acc->dst);
        sb_printf(b, " + acc;\n");
    }
    cu_acc_store(g, s.acc, 6);
    cu_indent(g, 5);
    sb_printf(b, "}\n");
    for (int i = s.at + 1; i < k->nbody; i++)  /* and those after it */
        cu_node(g, k->body[i], 5);
    sb_printf(b, "                }\n            }\n        }\n    } else%s {\n"
                 "        /* a group whose strides do not merge (or another block than the tiles',\n"
                 "           or 16-bit floats before sm_80): the plain form, an output a thread */\n"
                 "        const einc_i64 count_ = ", half ? "\n#endif\n   " : "");
    cu_count(g, k->flat, k->nflat, "einc_i64");
    sb_printf(b, ";\n        for (einc_i64 tid_ = (einc_i64)blockIdx.x * blockDim.x + threadIdx.x; tid_ < count_;\n"
                 "             tid_ += (einc_i64)blockDim.x * gridDim.x) {\n");
    cu_unflatten(g, k->flat, k->nflat, "tid_", 3);
    for (int i = 0; i < k->nbody; i++)
        cu_node(g, k->body[i], 3);
    sb_printf(b, "        }\n    }\n");
}
