/*
 * cuda_emu.hh - the CUDA emulator's device side (docs/ARCHITECTURE.md, "The CUDA emulator").
 *
 * runtime/cuda_emu.c compiles the CUDA C that NVRTC would get as host C++ after this header
 * (it is embedded in the library as a string), into a shared object it loads with dlopen.
 * Blocks run one after another; the threads of a block are fibers (ucontext) that switch
 * only at a barrier: __syncthreads and each warp collective.  A barrier that part of the
 * block (or of a warp's mask) can never complete is an error, not a hang.  __shared__
 * arrays are statics in one section, filled with 0xff bytes (a NaN in every float type)
 * at each block's start; every index into an array of known size is checked through
 * -fsanitize=bounds, whose handler below reports instead of printing.  Vector accesses
 * go through einc_load_f4/einc_store_f4 (and the f2 pair), which check their alignment.
 *
 * The whole text is one translation unit compiled per module: it stays small and includes
 * only C headers and <utility>.  libstdc++'s <math.h> is <cmath>, which costs most of a
 * module's compile time; the C library's own is what the kernels' C-style calls need.
 */
#define _GLIBCXX_INCLUDE_NEXT_C_HEADERS
#include <math.h>
#undef _GLIBCXX_INCLUDE_NEXT_C_HEADERS
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <utility>

#define EINC_CUDA_EMU 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __shared__ static __attribute__((section("einc_emu_shared"), aligned(16)))

/* The launch, as runtime/cuda_emu.c fills it (the same struct is declared there). */
struct einc_emu_launch {
    unsigned grid[3], block[3];
    unsigned shmem;             /* dynamic shared memory, bytes */
    void **args;                /* each points to a parameter's value, as cuLaunchKernel's */
    int order;                  /* 0 forward, 1 reverse, 2 random */
    unsigned long long seed;
    char *err;                  /* the message when the launch fails */
    unsigned long errlen;
};

struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) double2 { double x, y; };
struct alignas(16) int4 { int x, y, z, w; };
static inline float2 make_float2(float x, float y) { return float2{ x, y }; }
static inline float4 make_float4(float x, float y, float z, float w) { return float4{ x, y, z, w }; }

extern "C" {
extern char __start_einc_emu_shared[] __attribute__((weak, visibility("hidden")));
extern char __stop_einc_emu_shared[] __attribute__((weak, visibility("hidden")));
}

namespace einc_emu {

enum { WARP = 32, STACK = 256 << 10, MAX_THREADS = 1024, SHARED_STATIC = 48 << 10,
       SHARED_ALL = 227 << 10 };
enum state { T_NEW, T_READY, T_BAR, T_WARP, T_DONE };
/* C_MMA, C_LDMATRIX: barriers alone here; runtime/cuda_emu_mma.hh exchanges their data */
enum coll { C_SYNCWARP, C_MMA, C_LDMATRIX, C_SHFL, C_UP, C_DOWN, C_XOR, C_BALLOT, C_ANY, C_ALL };
static const char *const coll_name[] = { "__syncwarp", "mma.sync", "ldmatrix", "__shfl_sync",
                                         "__shfl_up_sync", "__shfl_down_sync", "__shfl_xor_sync",
                                         "__ballot_sync", "__any_sync", "__all_sync" };

struct thread {
    ucontext_t uc;
    char *stack;
    state st;
    int line;                   /* the barrier's source line */
    coll kind;
    unsigned mask;
    unsigned long long val, result;
    int arg, width;
};

/* Not static: written at each switch, so no call may be assumed to leave them alone. */
__attribute__((visibility("hidden"))) uint3 threadIdx_, blockIdx_;
__attribute__((visibility("hidden"))) dim3 blockDim_, gridDim_;
__attribute__((visibility("hidden"))) thread *threads, *cur;
__attribute__((visibility("hidden"))) int nthreads, failed;
__attribute__((visibility("hidden"))) ucontext_t sched;
__attribute__((visibility("hidden"))) einc_emu_launch *L;
__attribute__((visibility("hidden"))) void (*body)(void **);
__attribute__((visibility("hidden"))) char *stacks[MAX_THREADS];
__attribute__((visibility("hidden"))) int nstacks;
__attribute__((visibility("hidden"))) char *dyn_shared;
__attribute__((visibility("hidden"))) unsigned long long block_serial;   /* blocks run so far */

static int tid_of(const thread *t) { return (int)(t - threads); }

static void where(char *s, size_t n)
{
    snprintf(s, n, "block (%u,%u,%u) thread (%u,%u,%u)", blockIdx_.x, blockIdx_.y, blockIdx_.z,
             threadIdx_.x, threadIdx_.y, threadIdx_.z);
}

/* Records the first error; on a fiber, never returns: the launch stops. */
__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
    if (!failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(L->err, L->errlen, fmt, ap);
        va_end(ap);
    }
    failed = 1;
    if (cur) {
        thread *t = cur;
        swapcontext(&t->uc, &sched);
    }
}

static void block_wait(int line)
{
    cur->st = T_BAR;
    cur->line = line;
    swapcontext(&cur->uc, &sched);
}

static unsigned long long collective(int line, coll kind, unsigned mask, unsigned long long v, int arg,
                                     int width)
{
    thread *t = cur;
    int lane = tid_of(t) % WARP;
    if (!(mask >> lane & 1u)) {
        char w[96];
        where(w, sizeof w);
        fail("%s at einc.cu:%d: %s calls it with a mask 0x%08x that leaves out its own lane %d",
             coll_name[kind], line, w, mask, lane);
    }
    if (width < 1 || width > WARP || (width & (width - 1)))
        fail("%s at einc.cu:%d: width %d is not a power of 2 up to 32", coll_name[kind], line, width);
    t->st = T_WARP;
    t->line = line;
    t->kind = kind;
    t->mask = mask;
    t->val = v;
    t->arg = arg;
    t->width = width;
    swapcontext(&t->uc, &sched);
    return t->result;
}

template <class T> static unsigned long long bits(T v)
{
    unsigned long long b = 0;
    memcpy(&b, &v, sizeof v);
    return b;
}

template <class T> static T from_bits(unsigned long long b)
{
    T v;
    memcpy(&v, &b, sizeof v);
    return v;
}

static void fiber(void)
{
    body(L->args);
    cur->st = T_DONE;
}

static char *new_stack(void)
{
    if (nstacks)
        return stacks[--nstacks];
    /* a guard page below each stack: an overflow faults instead of corrupting */
    char *s = (char *)mmap(NULL, STACK + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        return NULL;
    mprotect(s, 4096, PROT_NONE);
    return s + 4096;
}

static void set_tid(int t)
{
    cur = &threads[t];
    threadIdx_.x = (unsigned)t % blockDim_.x;
    threadIdx_.y = (unsigned)t / blockDim_.x % blockDim_.y;
    threadIdx_.z = (unsigned)t / (blockDim_.x * blockDim_.y);
}

static unsigned long long rng(unsigned long long *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Completes the collectives every lane of their mask reached; false when none could. */
static bool warps(bool *released)
{
    for (int i = 0; i < nthreads; i++) {
        thread *t = &threads[i];
        if (t->st != T_WARP)
            continue;
        int base = i / WARP * WARP;
        for (int l = 0; l < WARP; l++) {
            if (!(t->mask >> l & 1u))
                continue;
            int j = base + l;
            const char *why = j >= nthreads ? "does not exist"
                              : threads[j].st == T_DONE ? "returned"
                              : threads[j].st == T_BAR ? "waits at __syncthreads()"
                              : threads[j].kind != t->kind || threads[j].line != t->line ||
                                        threads[j].mask != t->mask
                                  ? "waits at another collective"
                                  : NULL;
            if (why) {
                fail("%s at einc.cu:%d in block (%u,%u,%u), warp %d: lane %d of the mask 0x%08x %s",
                     coll_name[t->kind], t->line, blockIdx_.x, blockIdx_.y, blockIdx_.z, i / WARP,
                     l, t->mask, why);
                return false;
            }
        }
        for (int l = 0; l < WARP; l++) {
            if (!(t->mask >> l & 1u))
                continue;
            thread *u = &threads[base + l];
            int w = u->width, seg = l / w * w, src = l;
            switch (u->kind) {
            case C_SHFL: src = seg + (u->arg & (w - 1)); break;
            case C_UP: src = l - seg >= u->arg ? l - u->arg : l; break;
            case C_DOWN: src = l - seg + u->arg < w ? l + u->arg : l; break;
            case C_XOR: src = (l ^ u->arg) < seg + w ? l ^ u->arg : l; break;
            default: break;
            }
            unsigned long long r = 0;
            if (u->kind >= C_BALLOT) {
                unsigned ballot = 0;
                for (int m = 0; m < WARP; m++)
                    if ((t->mask >> m & 1u) && threads[base + m].val)
                        ballot |= 1u << m;
                r = u->kind == C_BALLOT ? ballot : u->kind == C_ANY ? ballot != 0 : ballot == t->mask;
            } else if (u->kind > C_LDMATRIX) {
                if (!(t->mask >> src & 1u)) {
                    fail("%s at einc.cu:%d in block (%u,%u,%u), warp %d: lane %d reads lane %d, "
                         "which is not in the mask 0x%08x", coll_name[u->kind], u->line, blockIdx_.x,
                         blockIdx_.y, blockIdx_.z, i / WARP, l, src, t->mask);
                    return false;
                }
                r = threads[base + src].val;
            }
            u->result = r;
        }
        for (int l = 0; l < WARP; l++)
            if (t->mask >> l & 1u)
                threads[base + l].st = T_READY;
        *released = true;
    }
    return true;
}

/* Runs one block to its end; false after an error. */
static bool block(unsigned long long seed)
{
    static int order[MAX_THREADS];
    block_serial++;
    for (int t = 0; t < nthreads; t++)
        threads[t].st = T_NEW;
    if (__stop_einc_emu_shared != __start_einc_emu_shared)
        memset(__start_einc_emu_shared, 0xff, (size_t)(__stop_einc_emu_shared - __start_einc_emu_shared));
    if (dyn_shared)
        memset(dyn_shared, 0xff, L->shmem);
    for (;;) {
        for (int t = 0; t < nthreads; t++)
            order[t] = L->order == 1 ? nthreads - 1 - t : t;
        if (L->order == 2)
            for (int t = nthreads - 1; t > 0; t--) {
                int j = (int)(rng(&seed) % (unsigned long long)(t + 1)), x = order[t];
                order[t] = order[j];
                order[j] = x;
            }
        for (int k = 0; k < nthreads; k++) {
            thread *t = &threads[order[k]];
            if (t->st != T_NEW && t->st != T_READY)
                continue;
            set_tid(order[k]);
            if (t->st == T_NEW) {
                if (!(t->stack = new_stack())) {
                    cur = NULL;
                    fail("the emulator cannot map a %d KiB fiber stack", STACK >> 10);
                    return false;
                }
                getcontext(&t->uc);
                t->uc.uc_stack.ss_sp = t->stack;
                t->uc.uc_stack.ss_size = STACK;
                t->uc.uc_link = &sched;
                makecontext(&t->uc, fiber, 0);
                t->st = T_READY;
            }
            swapcontext(&sched, &t->uc);
            cur = NULL;
            if (failed)
                return false;
            if (t->st == T_DONE)
                stacks[nstacks++] = t->stack;
        }
        bool released = false;
        if (!warps(&released))
            return false;
        if (released)
            continue;
        int done = 0, bar = 0, line = -1;
        for (int t = 0; t < nthreads; t++) {
            done += threads[t].st == T_DONE;
            if (threads[t].st == T_BAR) {
                if (bar++ && threads[t].line != line) {
                    fail("block (%u,%u,%u): threads wait at different __syncthreads() (einc.cu:%d and "
                         "einc.cu:%d)", blockIdx_.x, blockIdx_.y, blockIdx_.z, line, threads[t].line);
                    return false;
                }
                line = threads[t].line;
            }
        }
        if (done == nthreads)
            return true;
        if (done) {
            fail("__syncthreads() at einc.cu:%d is reached by %d of the %d threads of block (%u,%u,%u); "
                 "the other %d returned", line, bar, nthreads, blockIdx_.x, blockIdx_.y, blockIdx_.z, done);
            return false;
        }
        for (int t = 0; t < nthreads; t++)
            threads[t].st = T_READY;
    }
}

static int launch(einc_emu_launch *l, void (*fn)(void **))
{
    L = l;
    body = fn;
    failed = 0;
    cur = NULL;
    unsigned long long n = (unsigned long long)l->block[0] * l->block[1] * l->block[2];
    size_t shared = (size_t)(__stop_einc_emu_shared - __start_einc_emu_shared);
    if (n == 0 || n > MAX_THREADS || l->grid[0] * (unsigned long long)l->grid[1] * l->grid[2] == 0) {
        fail("a launch of (%u,%u,%u) blocks of (%u,%u,%u) threads: CUDA allows 1 to %d threads a block "
             "and at least one block", l->grid[0], l->grid[1], l->grid[2], l->block[0], l->block[1],
             l->block[2], MAX_THREADS);
        return -1;
    }
    if (shared > SHARED_STATIC || shared + l->shmem > SHARED_ALL) {
        fail("the kernels take %zu bytes of static and %u of dynamic shared memory: more than a block "
             "may have (%d KiB static, %d KiB in all)", shared, l->shmem, SHARED_STATIC >> 10, SHARED_ALL >> 10);
        return -1;
    }
    nthreads = (int)n;
    threads = (thread *)calloc(n, sizeof *threads);
    dyn_shared = l->shmem ? (char *)malloc(l->shmem) : NULL;
    if (!threads || (l->shmem && !dyn_shared)) {
        free(threads);
        fail("the emulator is out of memory");
        return -1;
    }
    blockDim_ = dim3(l->block[0], l->block[1], l->block[2]);
    gridDim_ = dim3(l->grid[0], l->grid[1], l->grid[2]);
    bool ok = true;
    for (unsigned z = 0; ok && z < l->grid[2]; z++)
        for (unsigned y = 0; ok && y < l->grid[1]; y++)
            for (unsigned x = 0; ok && x < l->grid[0]; x++) {
                blockIdx_.x = x;
                blockIdx_.y = y;
                blockIdx_.z = z;
                ok = block(l->seed ^ (0x9E3779B97F4A7C15ull * (1 + x + (unsigned long long)l->grid[0] *
                                                                      (y + (unsigned long long)l->grid[1] * z))));
            }
    /* a failed block leaves fibers suspended mid-kernel: their stacks are simply unmapped */
    for (int t = 0; t < nthreads; t++)
        if (threads[t].st != T_NEW && threads[t].st != T_DONE)
            stacks[nstacks++] = threads[t].stack;
    for (int i = 0; i < nstacks; i++)
        munmap(stacks[i] - 4096, STACK + 4096);
    nstacks = 0;
    free(threads);
    free(dyn_shared);
    threads = NULL;
    dyn_shared = NULL;
    return ok ? 0 : -1;
}

template <class T> static T arg(void *p)
{
    T v;
    memcpy(&v, p, sizeof v);
    return v;
}

template <class... A, size_t... I> static void call(void (*k)(A...), void **args, std::index_sequence<I...>)
{
    k(arg<A>(args[I])...);
}

template <class... A> static void call_all(void (*k)(A...), void **args)
{
    call(k, args, std::index_sequence_for<A...>{});
}

template <class T> static void check_align(const T *p, size_t a, int line, const char *what)
{
    if ((uintptr_t)p % a) {
        char w[96];
        where(w, sizeof w);
        fail("%s at einc.cu:%d in %s: address %p is not %zu-byte aligned", what, line, w, (const void *)p, a);
    }
}

/* __syncthreads() and the warp collectives: the call site's line, then CUDA's arguments. */
struct sync_at {
    int line;
    void operator()() const { block_wait(line); }
};

struct coll_at {
    int line;
    coll kind;
    void operator()(unsigned mask = 0xffffffffu) const   /* __syncwarp */
    {
        collective(line, kind, mask, 0, 0, WARP);
    }
    unsigned operator()(unsigned mask, int pred) const   /* ballot, any, all */
    {
        return (unsigned)collective(line, kind, mask, pred != 0, 0, WARP);
    }
    template <class T> T operator()(unsigned mask, T v, int lane, int width = WARP) const
    {
        return from_bits<T>(collective(line, kind, mask, bits(v), lane, width));
    }
};

} // namespace einc_emu

/* -fsanitize=bounds reports here (GCC's and Clang's ABI): source location, array type. */
extern "C" void __ubsan_handle_out_of_bounds(void *data, void *index)
{
    struct loc { const char *file; unsigned line, col; };
    struct type { unsigned short kind, info; char name[1]; };
    struct oob { loc at; const type *array, *index; };
    const oob *d = (const oob *)data;
    long long i = (d->index->info & 1) ? (long long)(intptr_t)index : (long long)(uintptr_t)index;
    char w[96];
    einc_emu::where(w, sizeof w);
    einc_emu::fail("%s:%u:%u in %s: index %lld is out of bounds for type %s", d->at.file, d->at.line,
                   d->at.col, w, i, d->array->name);
}

extern "C" void __ubsan_handle_out_of_bounds_abort(void *data, void *index)
{
    __ubsan_handle_out_of_bounds(data, index);
    abort();    /* unreachable: fail() does not return on a fiber */
}

#define threadIdx einc_emu::threadIdx_
#define blockIdx einc_emu::blockIdx_
#define blockDim einc_emu::blockDim_
#define gridDim einc_emu::gridDim_
#define warpSize 32
#define __syncthreads einc_emu::sync_at{ __LINE__ }
#define __syncwarp einc_emu::coll_at{ __LINE__, einc_emu::C_SYNCWARP }
#define __shfl_sync einc_emu::coll_at{ __LINE__, einc_emu::C_SHFL }
#define __shfl_up_sync einc_emu::coll_at{ __LINE__, einc_emu::C_UP }
#define __shfl_down_sync einc_emu::coll_at{ __LINE__, einc_emu::C_DOWN }
#define __shfl_xor_sync einc_emu::coll_at{ __LINE__, einc_emu::C_XOR }
#define __ballot_sync einc_emu::coll_at{ __LINE__, einc_emu::C_BALLOT }
#define __any_sync einc_emu::coll_at{ __LINE__, einc_emu::C_ANY }
#define __all_sync einc_emu::coll_at{ __LINE__, einc_emu::C_ALL }

/* Dynamic shared memory: the launch's bytes, poisoned per block like the static arrays. */
#define EINC_DYN_SHARED(T, name) T *name = (T *)einc_emu::dyn_shared

/* Vector accesses: the alignment a GPU's 8- and 16-byte loads and stores need. */
#define einc_load_f4(p) (einc_emu::check_align((p), 16, __LINE__, "a 16-byte load"), *(const float4 *)(const void *)(p))
#define einc_store_f4(p, v) (einc_emu::check_align((p), 16, __LINE__, "a 16-byte store"), (void)(*(float4 *)(void *)(p) = (v)))
#define einc_load_f2(p) (einc_emu::check_align((p), 8, __LINE__, "an 8-byte load"), *(const float2 *)(const void *)(p))
#define einc_store_f2(p, v) (einc_emu::check_align((p), 8, __LINE__, "an 8-byte store"), (void)(*(float2 *)(void *)(p) = (v)))

/* Bit casts, intrinsics and the math functions NVRTC knows without a header. */
static inline float __int_as_float(int i) { return einc_emu::from_bits<float>((unsigned)i); }
static inline int __float_as_int(float f) { return (int)einc_emu::bits(f); }
static inline float __uint_as_float(unsigned i) { return einc_emu::from_bits<float>(i); }
static inline unsigned __float_as_uint(float f) { return (unsigned)einc_emu::bits(f); }
static inline double __longlong_as_double(long long i) { return einc_emu::from_bits<double>((unsigned long long)i); }
static inline long long __double_as_longlong(double d) { return (long long)einc_emu::bits(d); }
/* glibc's <math.h> declares some of these names itself: macros, not functions */
#define __expf(x) expf(x)
#define __logf(x) logf(x)
#define __sinf(x) sinf(x)
#define __cosf(x) cosf(x)
#define __tanf(x) tanf(x)
#define __powf(x, y) powf(x, y)
#define __fdividef(x, y) ((float)(x) / (float)(y))
#define __frcp_rn(x) (1.0f / (float)(x))
#define __fsqrt_rn(x) sqrtf(x)
#define __fmaf_rn(x, y, z) fmaf(x, y, z)
#define __fma_rn(x, y, z) fma(x, y, z)
static inline float __saturatef(float x) { return x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x == x ? x : 0.0f; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline unsigned __brev(unsigned x)
{
    unsigned r = 0;
    for (int i = 0; i < 32; i++)
        r |= (x >> i & 1u) << (31 - i);
    return r;
}
template <class T> static inline T __ldg(const T *p) { return *p; }
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
static inline double min(double a, double b) { return fmin(a, b); }
static inline double max(double a, double b) { return fmax(a, b); }

/* Atomics: fibers switch only at barriers, so a read-modify-write is atomic here. */
template <class T> static inline T atomicAdd(T *p, T v) { T o = *p; *p = o + v; return o; }
template <class T> static inline T atomicSub(T *p, T v) { T o = *p; *p = o - v; return o; }
template <class T> static inline T atomicExch(T *p, T v) { T o = *p; *p = v; return o; }
template <class T> static inline T atomicMax(T *p, T v) { T o = *p; *p = o < v ? v : o; return o; }
template <class T> static inline T atomicMin(T *p, T v) { T o = *p; *p = v < o ? v : o; return o; }
template <class T> static inline T atomicAnd(T *p, T v) { T o = *p; *p = o & v; return o; }
template <class T> static inline T atomicOr(T *p, T v) { T o = *p; *p = o | v; return o; }
template <class T> static inline T atomicCAS(T *p, T cmp, T v) { T o = *p; if (o == cmp) *p = v; return o; }
static inline void __threadfence(void) {}
static inline void __threadfence_block(void) {}

/* What runtime/cuda_emu.c appends per kernel K: the entry point it looks up. */
#define EINC_EMU_ENTRY(K)                                                                       \
    static void einc_emu_body_##K(void **a) { einc_emu::call_all(K, a); }                       \
    extern "C" __attribute__((visibility("default"))) int einc_emu_entry_##K(einc_emu_launch *l) \
    {                                                                                          \
        return einc_emu::launch(l, einc_emu_body_##K);                                         \
    }
