/*
 * jit.c — the CPU backend: LLVM ORC LLJIT for the host, and the same pipeline for
 * --emit=llvm|asm|obj, for the host or an x86-64 CPU the caller names (check_cpu).
 *
 * A module from codegen/llvm.c is optimised with the new pass manager ("default<O3>",
 * loop and SLP vectorization on, LLVM's own loop unrolling off) for the host CPU and its
 * features (host_features), then handed to one LLJIT per context.  Each compilation gets
 * its own thread-safe LLVM context and a unique symbol prefix, so many threads may compile
 * at once; LLJIT itself is thread-safe for adding modules and looking up symbols.  LLVM
 * errors become messages; nothing here prints.
 */
#define _POSIX_C_SOURCE 200809L
#include "jit.h"
#include "llvm_cg.h"
#include "alloc.h"
#include "kcache.h"
#include "timing.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <llvm/Config/llvm-config.h>    /* LLVM_VERSION_MAJOR; plain C */

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The target machine, the vector width and the disk key's host part are made once per
 * JIT: each cost more than a small kernel's whole compile when made per kernel.  jit_add's
 * callers serialise it (cpu.c holds its mutex), so one target machine serves them all.
 */
struct jit {
    LLVMOrcLLJITRef lljit;
    LLVMTargetMachineRef tm;    /* the host's, for compile_object */
    int vector_bytes;
    bool vnni;                  /* AVX-512 VNNI, EINC_MAX_ISA applied (host_features) */
    char *host;                 /* host_identity(), or NULL */
    atomic_long next_id;        /* symbol prefixes k1_, k2_, ... */
    kcache *kc;                 /* the on-disk cache, or NULL */
};

static pthread_once_t llvm_once = PTHREAD_ONCE_INIT;
static int llvm_ready;

static void init_llvm(void)
{
    llvm_ready = !LLVMInitializeNativeTarget() && !LLVMInitializeNativeAsmPrinter();
}

static int llvm_error(cc *c, LLVMErrorRef e, const char *what)
{
    char *msg = LLVMGetErrorMessage(e);
    cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "%s: %s", what, msg);
    LLVMDisposeErrorMessage(msg);
    return -1;
}

/* Generated code may call these C library functions and no others. */
static int libm_only(void *ctx, LLVMOrcSymbolStringPoolEntryRef sym)
{
    static const char *const allowed[] = { "exp", "log", "tanh", "erf", "logf", "expf", "tanhf",
                                           "erff", "sqrt", "sqrtf" };
    const char *s = LLVMOrcSymbolStringPoolEntryStr(sym);
    (void)ctx;
    for (size_t i = 0; s && i < sizeof allowed / sizeof *allowed; i++)
        if (strcmp(s, allowed[i]) == 0)
            return 1;
    return 0;
}

static LLVMTargetMachineRef host_machine(cc *c, LLVMRelocMode reloc);
static int host_vector_bytes(void);
static char *host_features(void);
static char *host_identity(void);

/* ORC reports a failed materialization here too (it would print it); the lookup that
   asked for the symbol gets the error, which is enough. */
static void quiet_errors(void *ctx, LLVMErrorRef e)
{
    (void)ctx;
    LLVMConsumeError(e);
}

jit *jit_new(cc *c, kcache *kc)
{
    int64_t t0 = tm_now();
    pthread_once(&llvm_once, init_llvm);
    if (!llvm_ready) {
        cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "LLVM has no native target for this machine");
        return NULL;
    }
    jit *j = einc_calloc(1, sizeof *j);
    if (!j) {
        cc_nomem(c);
        return NULL;
    }
    /* the JIT generates code for the machine the optimiser targets (host_features) */
    LLVMTargetMachineRef tm = host_machine(c, LLVMRelocDefault);
    if (!tm || !(j->tm = host_machine(c, LLVMRelocDefault))) {
        if (tm)
            LLVMDisposeTargetMachine(tm);
        einc_free(j);
        return NULL;
    }
    LLVMOrcJITTargetMachineBuilderRef jtmb = LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm);
    LLVMErrorRef e;
    LLVMOrcLLJITBuilderRef b = LLVMOrcCreateLLJITBuilder();
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(b, jtmb);
    if ((e = LLVMOrcCreateLLJIT(&j->lljit, b))) {
        llvm_error(c, e, "cannot start the LLVM JIT");
        LLVMDisposeTargetMachine(j->tm);
        einc_free(j);
        return NULL;
    }
    /* The math functions float64 code calls (libm is linked into this process). */
    LLVMOrcDefinitionGeneratorRef gen;
    e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(j->lljit),
                                                             libm_only, NULL);
    if (e) {
        llvm_error(c, e, "cannot let the LLVM JIT see the math library");
        jit_free(j);
        return NULL;
    }
    LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(j->lljit), gen);
    LLVMOrcExecutionSessionSetErrorReporter(LLVMOrcLLJITGetExecutionSession(j->lljit),
                                            quiet_errors, NULL);
    j->kc = kcache_on(kc) ? kc : NULL;
    j->vector_bytes = host_vector_bytes();
    char *f = host_features();
    j->vnni = f && strstr(f, "+avx512vnni");
    LLVMDisposeMessage(f);
    j->host = j->kc ? host_identity() : NULL;
    tm_add(PH_JIT_START, t0);
    return j;
}

void jit_free(jit *j)
{
    if (!j)
        return;
    LLVMErrorRef e = LLVMOrcDisposeLLJIT(j->lljit);
    if (e)
        LLVMConsumeError(e);
    LLVMDisposeTargetMachine(j->tm);
    einc_free(j->host);
    einc_free(j);
}

/*
 * The host CPU's features for LLVM ("+sse2,+avx2,+avx512f,..."), less every AVX-512 (and
 * AVX10, AMX) feature when EINC_MAX_ISA=avx2 asks for it, as oneDNN's ONEDNN_MAX_CPU_ISA
 * does: kernels for AVX2 machines, run and tested on an AVX-512 one.  The CPU name stays
 * the host's; a feature turned off here overrides what the name implies.
 */
static char *host_features(void)
{
    char *f = LLVMGetHostCPUFeatures();
    const char *cap = getenv("EINC_MAX_ISA");
    if (f && cap && strcmp(cap, "avx2") == 0)
        for (char *p = f; *p; p++)
            if (*p == '+' && (!strncmp(p + 1, "avx512", 6) || !strncmp(p + 1, "avx10", 5) ||
                              !strncmp(p + 1, "amx", 3) || !strncmp(p + 1, "evex512", 7)))
                *p = '-';
    return f;
}

/* 64 with AVX-512, 32 with AVX or anything else LLVM splits well. */
static int host_vector_bytes(void)
{
    char *f = host_features();
    int bytes = f && strstr(f, "+avx512f") ? 64 : 32;
    LLVMDisposeMessage(f);
    return bytes;
}

/* The L2 cache of one core, as the C library reads it from the CPU; 0 when it cannot. */
static long host_l2_bytes(void)
{
#ifdef _SC_LEVEL2_CACHE_SIZE
    long v = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return v > 0 ? v : 0;
#else
    return 0;
#endif
}

static pthread_once_t machine_once = PTHREAD_ONCE_INIT;
static lp_machine host_m;

static void init_machine(void)
{
    host_m = (lp_machine){ host_vector_bytes(), host_l2_bytes() };
}

/* The host's, read once: the features string costs more than a small kernel's run. */
static void host_lp_machine(lp_machine *m)
{
    pthread_once(&machine_once, init_machine);
    *m = host_m;
}

/*
 * x86-64 CPUs an emitted object may target: LLVM's names for processors with 64-bit mode,
 * the first LLVM release that knows each (a later bound where unsure: it only refuses), and
 * whether it has AVX-512, which sets the vector width codegen/llvm.c writes its tiles for.
 * A table because LLVM's C API cannot say whether it knows a CPU, and told an unknown one
 * it prints a warning on stderr and ignores it (a library must not print); a 32-bit one
 * aborts it in 64-bit mode.
 */
static const struct x86_cpu {
    const char *name;
    int llvm;                   /* the first LLVM major version that knows it */
    bool avx512;
} x86_cpus[] = {
    { "generic", 15, false }, { "x86-64", 15, false }, { "x86-64-v2", 15, false },
    { "x86-64-v3", 15, false }, { "x86-64-v4", 15, true },
    { "nocona", 15, false }, { "core2", 15, false }, { "penryn", 15, false },
    { "bonnell", 15, false }, { "atom", 15, false }, { "silvermont", 15, false },
    { "slm", 15, false }, { "goldmont", 15, false }, { "goldmont-plus", 15, false },
    { "tremont", 15, false }, { "nehalem", 15, false }, { "corei7", 15, false },
    { "westmere", 15, false }, { "sandybridge", 15, false }, { "corei7-avx", 15, false },
    { "ivybridge", 15, false }, { "core-avx-i", 15, false }, { "haswell", 15, false },
    { "core-avx2", 15, false }, { "broadwell", 15, false }, { "skylake", 15, false },
    { "skylake-avx512", 15, true }, { "skx", 15, true }, { "cascadelake", 15, true },
    { "cooperlake", 15, true }, { "cannonlake", 15, true }, { "icelake-client", 15, true },
    { "icelake-server", 15, true }, { "rocketlake", 15, true }, { "tigerlake", 15, true },
    { "sapphirerapids", 15, true }, { "alderlake", 15, false }, { "knl", 15, true },
    { "knm", 15, true }, { "raptorlake", 16, false }, { "meteorlake", 16, false },
    { "sierraforest", 17, false }, { "grandridge", 17, false }, { "graniterapids", 17, true },
    { "emeraldrapids", 17, true }, { "graniterapids-d", 18, true }, { "arrowlake", 18, false },
    { "arrowlake-s", 18, false }, { "lunarlake", 18, false }, { "gracemont", 18, false },
    { "pantherlake", 19, false }, { "clearwaterforest", 19, false },
    { "k8", 15, false }, { "opteron", 15, false }, { "athlon64", 15, false },
    { "athlon-fx", 15, false }, { "k8-sse3", 15, false }, { "opteron-sse3", 15, false },
    { "athlon64-sse3", 15, false }, { "amdfam10", 15, false }, { "barcelona", 15, false },
    { "btver1", 15, false }, { "btver2", 15, false }, { "bdver1", 15, false },
    { "bdver2", 15, false }, { "bdver3", 15, false }, { "bdver4", 15, false },
    { "znver1", 15, false }, { "znver2", 15, false }, { "znver3", 15, false },
    { "znver4", 17, true }, { "znver5", 19, true },
};

static bool is_host_cpu(const char *cpu)
{
    return !cpu || !*cpu || strcmp(cpu, "host") == 0 || strcmp(cpu, "native") == 0;
}

/*
 * Checks an emitted object's CPU: NULL, "", "host" or "native" is this machine (as the JIT
 * targets), anything else a name from x86_cpus on an x86-64 host ("generic" anywhere).
 * *avx512 tells whether it has AVX-512.
 */
static int check_cpu(cc *c, const char *cpu, bool *avx512)
{
    *avx512 = false;
    if (is_host_cpu(cpu))
        return 0;
    char *triple = LLVMGetDefaultTargetTriple();
    bool x86 = strncmp(triple, "x86_64", 6) == 0;
    LLVMDisposeMessage(triple);
    for (size_t i = 0; i < sizeof x86_cpus / sizeof *x86_cpus; i++) {
        const struct x86_cpu *x = &x86_cpus[i];
        if (strcmp(cpu, x->name) != 0 || (!x86 && strcmp(cpu, "generic") != 0))
            continue;
        if (x->llvm > LLVM_VERSION_MAJOR)
            return cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1,
                            "CPU '%s' needs LLVM %d or later; this einc was built with LLVM %d",
                            cpu, x->llvm, LLVM_VERSION_MAJOR);
        *avx512 = x->avx512;
        return 0;
    }
    if (!x86)
        return cc_error(c, EINC_ERR_ARG, -1, -1,
                        "unknown CPU '%.64s': on this machine an object targets the host or "
                        "'generic'", cpu);
    return cc_error(c, EINC_ERR_ARG, -1, -1,
                    "unknown CPU '%.64s': give an x86-64 CPU as LLVM names it (x86-64, "
                    "x86-64-v2, x86-64-v3, x86-64-v4, haswell, skylake-avx512, znver3, ...) "
                    "or host",
                    cpu);
}

/* The host's machine (the JIT's), or for emitting, the CPU cpu names (check_cpu first). */
static LLVMTargetMachineRef target_machine(cc *c, LLVMRelocMode reloc, const char *cpu_name)
{
    bool host = is_host_cpu(cpu_name);
    char *triple = LLVMGetDefaultTargetTriple();
    char *cpu = host ? LLVMGetHostCPUName() : LLVMCreateMessage(cpu_name);
    char *features = host ? host_features() : LLVMCreateMessage("");
    LLVMTargetRef target;
    char *msg = NULL;
    LLVMTargetMachineRef tm = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &msg)) {
        cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "LLVM has no target for %s: %s", triple, msg);
        LLVMDisposeMessage(msg);
    } else {
        tm = LLVMCreateTargetMachine(target, triple, cpu, features, LLVMCodeGenLevelAggressive,
                                     reloc, LLVMCodeModelDefault);
        if (!tm)
            cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "LLVM cannot target the %sCPU %s",
                     host ? "host " : "", cpu);
    }
    LLVMDisposeMessage(triple);
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(features);
    return tm;
}

static LLVMTargetMachineRef host_machine(cc *c, LLVMRelocMode reloc)
{
    return target_machine(c, reloc, NULL);
}

#if LLVM_VERSION_MAJOR == 19
#define IC "instcombine<max-iterations=1;no-use-loop-info;no-verify-fixpoint>"
#define CFG(opts) "simplifycfg<bonus-inst-threshold=1;speculate-blocks;simplify-cond-branch;" opts ">"
#define CFG_KEEP(opts) CFG("no-forward-switch-cond;no-switch-to-lookup;keep-loops;" \
                           "no-hoist-common-insts;no-sink-common-insts;" opts)
static const char O1_WRITTEN[] =
    "function<eager-inv>(" CFG_KEEP("no-switch-range-to-icmp;no-speculate-unpredictables")
    ",sroa<modify-cfg>,early-cse<>),ipsccp,function<eager-inv>(mem2reg," IC "),always-inline,"
    "require<globals-aa>,function(invalidate<aa>),require<profile-summary>,"
    "cgscc(devirt<4>(inline,function<eager-inv;no-rerun>(sroa<modify-cfg>,early-cse<memssa>," IC ","
    CFG_KEEP("switch-range-to-icmp;no-speculate-unpredictables") ",reassociate,"
    "loop-mssa(licm<no-allowspeculation>,loop-rotate<header-duplication;no-prepare-for-lto>,"
    "licm<allowspeculation>)," IC ",loop(loop-idiom,indvars),sroa<modify-cfg>),function-attrs,"
    "function(require<should-not-run-function-passes>))),deadargelim,"
    "function<eager-inv>(loop-distribute,"
    CFG("forward-switch-cond;switch-range-to-icmp;switch-to-lookup;no-keep-loops;"
        "hoist-common-insts;sink-common-insts;no-speculate-unpredictables")
    ",sroa<preserve-cfg>," IC ",loop-mssa(licm<allowspeculation>),tailcallelim,"
    CFG_KEEP("switch-range-to-icmp;speculate-unpredictables") "),globaldce";
#undef IC
#undef CFG
#undef CFG_KEEP
#else
static const char O1_WRITTEN[] = "default<O1>";
#endif

/*
 * Verifies and optimises m for tm.  A module that left plain loops to LLVM's vectorizers
 * (cg_llvm's *plain: elementwise work, reductions) gets O2 with both; one whose vector
 * work is all written out (GEMMs, convolutions, transposes) gets O1, where they do not
 * run: 'bhid,bhjd->bhij' compiles in 90 ms, not 104, 'ik,kj->ij' in 63, not 71, and
 * einc-bench's GEMMs and transposes run as fast.  Not O3: its non-trivial loop
 * unswitching copied the GEMM's loops once per run-time condition (145 ms for that
 * kernel) and made nothing faster.  LLVM's loop unroller is off: codegen/llvm.c unrolls
 * the loops where it pays (the GEMM's k loop, the convolution's columns, the squares) and
 * the loop vectorizer still interleaves the rest, while the unroller took a third of the
 * optimiser's time, mostly on loops it then left alone.
 *
 * With LLVM 19 that O1 is O1_WRITTEN: default<O1> as LLVM 19 spells it out (opt
 * -passes='default<O1>' -print-pipeline-passes, unrollers off), less each pass that changed
 * no machine code of the kernels measured: GEMMs of float32/64, float16, int8, batched
 * and attention products, a five-operand chain, transposes of 1- to 8-byte types (--emit=asm
 * of 34 expressions and examples/ models, host and x86-64-v3, is byte for byte the O1
 * one), and the optimiser runs 18-33% fewer instructions (valgrind): 'ik,kj->ij' 233M to
 * 168M, 'bhid,bhjd->bhij' 326M to 231M.  Another LLVM gets default<O1>: its O1 is another
 * list, and so may be which of its passes matter.
 */
static int optimize(cc *c, LLVMModuleRef m, LLVMTargetMachineRef tm, bool plain)
{
    char *msg = NULL;
    if (LLVMVerifyModule(m, LLVMReturnStatusAction, &msg)) {
        cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "internal error: invalid LLVM IR: %.300s", msg);
        LLVMDisposeMessage(msg);
        return -1;
    }
    LLVMDisposeMessage(msg);
    char *triple = LLVMGetTargetMachineTriple(tm);
    LLVMSetTarget(m, triple);
    LLVMDisposeMessage(triple);
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(m, td);
    LLVMDisposeTargetData(td);
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    LLVMPassBuilderOptionsSetLoopVectorization(po, 1);
    LLVMPassBuilderOptionsSetSLPVectorization(po, 1);
    LLVMPassBuilderOptionsSetLoopUnrolling(po, 0);
    LLVMPassBuilderOptionsSetLoopInterleaving(po, 1);
    LLVMErrorRef e = LLVMRunPasses(m, plain ? "default<O2>" : O1_WRITTEN, tm, po);
    LLVMDisposePassBuilderOptions(po);
    return e ? llvm_error(c, e, "LLVM optimisation failed") : 0;
}

/*
 * What a kernel's machine code depends on besides its program, for the disk cache's key:
 * LLVM (its version and its binary's identity), the target, the host CPU and the features
 * the code may use (EINC_MAX_ISA applied), and the L2 size codegen/llvm.c tiles for.
 * kcache.c adds einc's own build.  Read once per JIT, when its target machine is made
 * from the same features.  NULL when out of memory or LLVM's binary is unknown.
 */
static char *host_identity(void)
{
    void (*fn)(void) = (void (*)(void))LLVMCreateTargetMachine;
    const void *in_llvm;
    memcpy(&in_llvm, &fn, sizeof in_llvm);      /* ISO C has no function-to-data cast */
    char llvm_id[160];
    if (kcache_module_id(in_llvm, llvm_id, sizeof llvm_id) < 0)
        return NULL;
    char *triple = LLVMGetDefaultTargetTriple(), *cpu = LLVMGetHostCPUName();
    char *features = host_features();
    size_t n = strlen(llvm_id) + strlen(triple) + strlen(cpu) + strlen(features) + 128;
    char *s = einc_malloc(n);
    if (s)
        snprintf(s, n, "cpu-obj\nllvm %s %s\ntriple %s\ncpu %s\nfeatures %s\nl2 %ld\n",
                 LLVM_VERSION_STRING, llvm_id, triple, cpu, features, host_l2_bytes());
    LLVMDisposeMessage(triple);
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(features);
    return s;
}

/* lp's object code for the host, its nests named PREFIX_nestN; NULL with c->err set. */
static LLVMMemoryBufferRef compile_object(jit *j, cc *c, const lp_prog *lp, const bool *strided,
                                          const char *prefix)
{
    int64_t t = tm_now();
    cgl_opts o = { prefix, NULL, strided, j->vector_bytes, host_l2_bytes(), j->vnni };
    LLVMContextRef ctx = LLVMContextCreate();
    bool plain = true;
    LLVMModuleRef m = cg_llvm(c, lp, &o, ctx, &plain);
    t = tm_add(PH_IR, t);
    LLVMMemoryBufferRef obj = NULL;
    char *msg = NULL;
    if (m && optimize(c, m, j->tm, plain) == 0) {
        t = tm_add(PH_OPT, t);
        if (LLVMTargetMachineEmitToMemoryBuffer(j->tm, m, LLVMObjectFile, &msg, &obj)) {
            cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "LLVM code generation failed: %s", msg);
            LLVMDisposeMessage(msg);
            obj = NULL;
        }
        tm_add(PH_MC, t);
    }
    if (m)
        LLVMDisposeModule(m);
    LLVMContextDispose(ctx);
    return obj;
}

/* Links obj (which it takes) into the JIT and finds its nests; NULL or the error. */
static LLVMErrorRef add_object(jit *j, LLVMMemoryBufferRef obj, const char *prefix, int nnest,
                               jit_nest_fn *fns)
{
    int64_t t0 = tm_now();
    LLVMErrorRef e = LLVMOrcLLJITAddObjectFile(j->lljit, LLVMOrcLLJITGetMainJITDylib(j->lljit), obj);
    for (int i = 0; !e && i < nnest; i++) {
        char sym[64];
        snprintf(sym, sizeof sym, "%s_nest%d", prefix, i);
        LLVMOrcExecutorAddress addr = 0;
        if (!(e = LLVMOrcLLJITLookup(j->lljit, &addr, sym)))
            *(void **)&fns[i] = (void *)(uintptr_t)addr;
    }
    tm_add(PH_LINK, t0);
    return e;
}

/* The disk cache's key of lp's object code: host (host_identity) and key (cpu.h). */
static char *disk_key(const char *host, const lp_prog *lp, const char *key)
{
    size_t n = strlen(host) + strlen(key) + 48;
    char *dkey = einc_malloc(n);
    if (dkey)
        snprintf(dkey, n, "%snests %d\nprogram %s", host, lp->nnest, key);
    return dkey;
}

bool jit_on_disk(kcache *kc, const lp_prog *lp, const char *key)
{
    if (!kcache_on(kc))
        return false;
    pthread_once(&llvm_once, init_llvm);
    char *host = llvm_ready ? host_identity() : NULL, *dkey = host ? disk_key(host, lp, key) : NULL;
    size_t len = 0;
    int64_t t0 = tm_now();
    void *bytes = dkey ? kcache_get(kc, dkey, &len) : NULL;
    tm_add(PH_DISK, t0);
    einc_free(bytes);
    einc_free(dkey);
    einc_free(host);
    return bytes != NULL;
}

/*
 * The JIT links object code that this function compiled itself, so what the disk cache
 * stores is exactly what runs, and a hit skips LLVM's optimiser and code generator.  With
 * the cache, a kernel's symbols are named by a hash of its disk key, so a stored object is
 * valid in any process.  One that does not link (an entry that read back whole but is not
 * what it says, or another kernel of this JIT under the same hash) is compiled again
 * under a fresh name and not stored.
 */
int jit_add(jit *j, cc *c, const lp_prog *lp, const bool *strided, const char *key,
            jit_nest_fn *fns)
{
    char prefix[32], *dkey = j->host && key ? disk_key(j->host, lp, key) : NULL;
    if (dkey) {
        snprintf(prefix, sizeof prefix, "einc_h%016llx", (unsigned long long)kcache_hash(dkey));
        size_t len = 0;
        int64_t t0 = tm_now();
        void *bytes = kcache_get(j->kc, dkey, &len);
        tm_add(PH_DISK, t0);
        LLVMMemoryBufferRef obj = bytes ? LLVMCreateMemoryBufferWithMemoryRangeCopy(bytes, len, prefix) : NULL;
        einc_free(bytes);
        LLVMErrorRef e = obj ? add_object(j, obj, prefix, lp->nnest, fns) : NULL;
        if (obj && !e) {
            einc_free(dkey);
            return 1;
        }
        if (e) {
            LLVMConsumeError(e);
            kcache_drop(j->kc, dkey);
            einc_free(dkey);
            dkey = NULL;
        }
    }
    int rc = -1;
    LLVMErrorRef e = NULL;
    for (int fresh = !dkey; fresh < 2 && rc < 0; fresh++) {
        if (fresh)
            snprintf(prefix, sizeof prefix, "einc_k%ld", (long)atomic_fetch_add(&j->next_id, 1) + 1);
        LLVMMemoryBufferRef obj = compile_object(j, c, lp, strided, prefix);
        if (!obj)
            break;
        if (!fresh) {
            int64_t t0 = tm_now();
            kcache_put(j->kc, dkey, LLVMGetBufferStart(obj), LLVMGetBufferSize(obj));
            tm_add(PH_DISK, t0);
        }
        if (e)
            LLVMConsumeError(e);
        if (!(e = add_object(j, obj, prefix, lp->nnest, fns)))
            rc = 0;
    }
    einc_free(dkey);
    if (e && !c->failed)
        return llvm_error(c, e, "the JIT could not link the kernel");
    if (e)
        LLVMConsumeError(e);
    return rc;
}

const lp_machine *jit_machine(const char *cpu, lp_machine *m)
{
    pthread_once(&llvm_once, init_llvm);
    if (is_host_cpu(cpu) && llvm_ready) {
        host_lp_machine(m);
        return m;
    }
    arena A = { 0 };
    einc_error err = { 0 };
    cc c = { .A = &A, .err = &err };
    bool avx512;
    bool host = is_host_cpu(cpu), known = llvm_ready && check_cpu(&c, cpu, &avx512) == 0;
    *m = (lp_machine){ host && llvm_ready ? host_vector_bytes() : known && avx512 ? 64 : 32,
                       host ? host_l2_bytes() : 0 };
    arena_free(&A);
    return m;
}

char *jit_emit(cc *c, const lp_prog *lp, const char *name, const char *cpu, einc_emit_kind kind,
               size_t *len)
{
    pthread_once(&llvm_once, init_llvm);
    if (!llvm_ready) {
        cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "LLVM has no native target for this machine");
        return NULL;
    }
    bool avx512;
    if (check_cpu(c, cpu, &avx512) < 0)
        return NULL;
    /* another CPU's caches are unknown: codegen/llvm.c then assumes a 1 MiB L2 */
    bool host = is_host_cpu(cpu);
    cgl_opts o = { "einc", name, NULL, host ? host_vector_bytes() : avx512 ? 64 : 32,
                   host ? host_l2_bytes() : 0, false };
    LLVMContextRef ctx = LLVMContextCreate();
    bool plain = true;
    LLVMModuleRef m = cg_llvm(c, lp, &o, ctx, &plain);
    LLVMTargetMachineRef tm = m ? target_machine(c, LLVMRelocPIC, cpu) : NULL;
    char *out = NULL;
    if (!m || !tm || optimize(c, m, tm, plain) < 0)
        goto done;
    if (kind == EINC_EMIT_LLVM) {
        char *s = LLVMPrintModuleToString(m);
        *len = strlen(s);
        out = einc_malloc(*len + 1);
        if (out)
            memcpy(out, s, *len + 1);
        else
            cc_nomem(c);
        LLVMDisposeMessage(s);
    } else {
        LLVMMemoryBufferRef buf;
        char *msg = NULL;
        LLVMCodeGenFileType ft = kind == EINC_EMIT_ASM ? LLVMAssemblyFile : LLVMObjectFile;
        if (LLVMTargetMachineEmitToMemoryBuffer(tm, m, ft, &msg, &buf)) {
            cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "LLVM code generation failed: %s", msg);
            LLVMDisposeMessage(msg);
            goto done;
        }
        *len = LLVMGetBufferSize(buf);
        out = einc_malloc(*len + 1);
        if (out) {
            memcpy(out, LLVMGetBufferStart(buf), *len);
            out[*len] = 0;
        } else {
            cc_nomem(c);
        }
        LLVMDisposeMemoryBuffer(buf);
    }
done:
    if (tm)
        LLVMDisposeTargetMachine(tm);
    if (m)
        LLVMDisposeModule(m);
    LLVMContextDispose(ctx);
    return out;
}
