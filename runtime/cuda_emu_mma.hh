/*
 * cuda_emu_mma.hh - the CUDA emulator's tensor-core and asynchronous-copy wrappers
 * (docs/ARCHITECTURE.md, "The CUDA emulator"), appended to runtime/cuda_emu.hh by the
 * build.  codegen/cuda_mma.c prints the same names as inline PTX for NVRTC; kernels call
 * only these:
 *
 *   einc_tf32(x)                      cvt.rna.tf32.f32: x rounded to 10 mantissa bits,
 *                                     to nearest, ties away from zero (the low 13 bits 0)
 *   einc_mma_tf32(d, a, b, c)         mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
 *   einc_mma_f16(d, a, b, c)          mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
 *   einc_mma_bf16(d, a, b, c)         the same with .bf16 operands
 *   einc_ldmatrix_x4(r, p)            ldmatrix.sync.aligned.m8n8.x4.shared.b16
 *   einc_ldmatrix_x4_trans(r, p)      ... .x4.trans.shared.b16
 *   einc_cp_async16(dst, src, n)      cp.async.cg.shared.global, 16 bytes: n (0 or 16)
 *                                     read from src, the rest of the 16 zero-filled
 *   einc_cp_async_commit()            cp.async.commit_group
 *   einc_cp_async_wait<N>()           cp.async.wait_group N
 *
 * d, c: float[4]; a: unsigned[4]; b: unsigned[2]; r: unsigned[4].  Each mma and ldmatrix
 * is a warp collective: every lane of the warp must reach the same call (the barrier
 * machinery of cuda_emu.hh reports one that cannot complete).  The lanes' registers are
 * read and written following the PTX ISA's fragment tables ("Matrix Fragments for
 * mma.m16n8k8" and "mma.m16n8k16", "Warp-level matrix load instruction: ldmatrix"): with
 * g = lane / 4 and t = lane % 4,
 *
 *   m16n8k8 tf32  A (16 x 8):  a[i] = A[g + 8 (i % 2)][t + 4 (i / 2)]
 *                 B (8 x 8):   b[i] = B[t + 4 i][g]
 *   m16n8k16 f16  A (16 x 16): a[i] = A[g + 8 (i % 2)][2 t + 8 (i / 2) + {0, 1}]
 *                 B (16 x 8):  b[i] = B[2 t + 8 i + {0, 1}][g]   (low half first)
 *   C and D (16 x 8):          c[i] = C[g + 8 (i / 2)][2 t + i % 2]
 *   ldmatrix x4:  lanes 8j..8j+7 give the row addresses of 8 x 8 matrix j; r[j] of lane l
 *                 is its row l / 4, columns 2 (l % 4) + {0, 1} (.trans: column l / 4, rows
 *                 2 (l % 4) + {0, 1})
 *
 * tf32 operands keep their top 19 bits (the hardware ignores the low 13), so products are
 * exact in float32; sums run in float32 in k order, which is exact on integer-valued data
 * whatever order a tensor core uses.  A cp.async copy is applied only when a wait_group
 * retires its group: shared memory read before the wait still holds the poison, as it may
 * on a GPU.  Its destination must lie in shared memory and both addresses be 16-byte
 * aligned; a thread may have up to CP_MAX copies in flight.
 */
namespace einc_emu {

enum { CP_MAX = 64 };

struct tc_copy {
    void *dst;
    const void *src;
    int bytes, group;
};

/* A thread's state, reset when its block changes (block_serial). */
struct tc_thread {
    unsigned long long serial;
    unsigned mma_n;             /* its warp's collectives so far: the staging slot's parity */
    int ncp, committed;         /* copies in flight; groups committed */
    tc_copy cp[CP_MAX];
};

/* One lane's operands, staged for its warp; two slots, since a lane may stage its next
   operation while another still reads this one (all meet again before a third). */
struct tc_lane {
    unsigned a[4], b[2], c[4];
};

__attribute__((visibility("hidden"))) tc_thread tc_threads[MAX_THREADS];
__attribute__((visibility("hidden"))) tc_lane tc_stage[2][MAX_THREADS];

static tc_thread *tc_self(void)
{
    tc_thread *t = &tc_threads[tid_of(cur)];
    if (t->serial != block_serial) {
        t->serial = block_serial;
        t->mma_n = 0;
        t->ncp = t->committed = 0;
    }
    return t;
}

static float tc_f32(unsigned u) { return from_bits<float>(u); }

static float tc_half(unsigned h)
{
    unsigned s = h >> 15 & 1, e = h >> 10 & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), (int)e - 25);
    return s ? -v : v;
}

static float tc_bf16(unsigned h) { return tc_f32((h & 0xffffu) << 16); }

static unsigned tf32_round(float x)
{
    unsigned u = bits(x);
    if ((u & 0x7f800000u) == 0x7f800000u)     /* Inf stays; NaN stays a (quiet) NaN */
        return (u & 0x7fffffu) ? (u & 0xffffe000u) | 0x400000u : u;
    return (u + 0x1000u) & 0xffffe000u;         /* magnitude + half an ulp: ties away */
}

enum tc_kind { TC_TF32, TC_F16, TC_BF16 };

/* Stages this lane's operands, meets its warp, and computes its four outputs of D. */
static void mma(int line, tc_kind kind, float *d, const unsigned *a, const unsigned *b, const float *c)
{
    tc_thread *me = tc_self();
    int tid = tid_of(cur), base = tid / WARP * WARP, lane = tid % WARP, slot = (int)(me->mma_n++ & 1);
    tc_lane *s = &tc_stage[slot][tid];
    for (int i = 0; i < 4; i++) {
        s->a[i] = a[i];
        s->c[i] = bits(c[i]);
    }
    s->b[0] = b[0];
    s->b[1] = b[1];
    collective(line, C_MMA, 0xffffffffu, 0, 0, WARP);
    int K = kind == TC_TF32 ? 8 : 16;
    for (int i = 0; i < 4; i++) {
        int row = lane / 4 + 8 * (i / 2), col = 2 * (lane % 4) + i % 2;
        float acc = tc_f32(tc_stage[slot][base + row % 8 * 4 + col / 2].c[(row / 8) * 2 + col % 2]);
        for (int k = 0; k < K; k++) {
            float x, y;
            if (kind == TC_TF32) {
                x = tc_f32(tc_stage[slot][base + row % 8 * 4 + k % 4].a[row / 8 + 2 * (k / 4)] & 0xffffe000u);
                y = tc_f32(tc_stage[slot][base + col * 4 + k % 4].b[k / 4] & 0xffffe000u);
            } else {
                unsigned wa = tc_stage[slot][base + row % 8 * 4 + k % 8 / 2].a[row / 8 + 2 * (k / 8)];
                unsigned wb = tc_stage[slot][base + col * 4 + k % 8 / 2].b[k / 8];
                unsigned ha = k % 2 ? wa >> 16 : wa & 0xffffu, hb = k % 2 ? wb >> 16 : wb & 0xffffu;
                x = kind == TC_F16 ? tc_half(ha) : tc_bf16(ha);
                y = kind == TC_F16 ? tc_half(hb) : tc_bf16(hb);
            }
            acc = fmaf(x, y, acc);
        }
        d[i] = acc;
    }
}

static bool in_shared(const void *p, size_t n)
{
    const char *q = (const char *)p;
    return (q >= __start_einc_emu_shared && q + n <= __stop_einc_emu_shared) ||
           (dyn_shared && q >= dyn_shared && q + n <= dyn_shared + L->shmem);
}

static void check_shared(const void *p, size_t n, int line, const char *what)
{
    check_align(p, 16, line, what);
    if (!in_shared(p, n)) {
        char w[96];
        where(w, sizeof w);
        fail("%s at einc.cu:%d in %s: address %p is not in shared memory", what, line, w, p);
    }
}

/* Each lane's row address goes to the lanes that receive that row's pairs. */
static void ldmatrix(int line, bool trans, unsigned *r, const void *p)
{
    tc_self();
    check_shared(p, 16, line, trans ? "ldmatrix .trans" : "ldmatrix");
    int tid = tid_of(cur), base = tid / WARP * WARP, lane = tid % WARP;
    int slot = (int)(tc_threads[tid].mma_n++ & 1);
    memcpy(tc_stage[slot][tid].a, p, 16);       /* the row: eight 16-bit elements */
    collective(line, C_LDMATRIX, 0xffffffffu, 0, 0, WARP);
    for (int j = 0; j < 4; j++) {
        unsigned short e[2];
        for (int h = 0; h < 2; h++) {
            int row = trans ? 2 * (lane % 4) + h : lane / 4, col = trans ? lane / 4 : 2 * (lane % 4) + h;
            unsigned short v[8];
            memcpy(v, tc_stage[slot][base + 8 * j + row].a, 16);
            e[h] = v[col];
        }
        r[j] = e[0] | (unsigned)e[1] << 16;
    }
}

static void cp_async(int line, void *dst, const void *src, int bytes)
{
    tc_thread *t = tc_self();
    check_shared(dst, 16, line, "cp.async's destination");
    if (bytes != 0 && bytes != 16)
        fail("cp.async at einc.cu:%d: %d source bytes (einc copies 16 or 0)", line, bytes);
    if (bytes)
        check_align(src, 16, line, "cp.async's source");
    if (t->ncp == CP_MAX) {
        char w[96];
        where(w, sizeof w);
        fail("cp.async at einc.cu:%d in %s: more than %d copies in flight", line, w, CP_MAX);
    }
    t->cp[t->ncp++] = tc_copy{ dst, src, bytes, t->committed };
}

static void cp_commit(void) { tc_self()->committed++; }

/* Applies, in issue order, the copies of every group but the n most recently committed. */
static void cp_wait(int n)
{
    tc_thread *t = tc_self();
    int keep = 0;
    for (int i = 0; i < t->ncp; i++) {
        tc_copy *c = &t->cp[i];
        if (c->group < t->committed - n) {
            memset(c->dst, 0, 16);
            if (c->bytes)
                memcpy(c->dst, c->src, 16);
        } else {
            t->cp[keep++] = *c;
        }
    }
    t->ncp = keep;
}

} // namespace einc_emu

static inline unsigned einc_tf32(float x) { return einc_emu::tf32_round(x); }
#define einc_mma_tf32(d, a, b, c) einc_emu::mma(__LINE__, einc_emu::TC_TF32, (d), (a), (b), (c))
#define einc_mma_f16(d, a, b, c) einc_emu::mma(__LINE__, einc_emu::TC_F16, (d), (a), (b), (c))
#define einc_mma_bf16(d, a, b, c) einc_emu::mma(__LINE__, einc_emu::TC_BF16, (d), (a), (b), (c))
#define einc_ldmatrix_x4(r, p) einc_emu::ldmatrix(__LINE__, false, (r), (p))
#define einc_ldmatrix_x4_trans(r, p) einc_emu::ldmatrix(__LINE__, true, (r), (p))
#define einc_cp_async16(dst, src, n) einc_emu::cp_async(__LINE__, (dst), (src), (n))
#define einc_cp_async_commit() einc_emu::cp_commit()
template <int N> static inline void einc_cp_async_wait(void) { einc_emu::cp_wait(N); }
