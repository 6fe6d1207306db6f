/*
 * jit.c — the CPU backend: LLVM ORC LLJIT for the host, and the same pipeline for
 * --emit=llvm|asm|obj.
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

#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jit {
    LLVMOrcLLJITRef lljit;
    atomic_long next_id;        /* symbol prefixes k1_, k2_, ... */
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

jit *jit_new(cc *c)
{
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
    if (!tm) {
        einc_free(j);
        return NULL;
    }
    LLVMOrcJITTargetMachineBuilderRef jtmb = LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm);
    LLVMErrorRef e;
    LLVMOrcLLJITBuilderRef b = LLVMOrcCreateLLJITBuilder();
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(b, jtmb);
    if ((e = LLVMOrcCreateLLJIT(&j->lljit, b))) {
        llvm_error(c, e, "cannot start the LLVM JIT");
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
    return j;
}

void jit_free(jit *j)
{
    if (!j)
        return;
    LLVMErrorRef e = LLVMOrcDisposeLLJIT(j->lljit);
    if (e)
        LLVMConsumeError(e);
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

static LLVMTargetMachineRef host_machine(cc *c, LLVMRelocMode reloc)
{
    char *triple = LLVMGetDefaultTargetTriple();
    char *cpu = LLVMGetHostCPUName();
    char *features = host_features();
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
            cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "LLVM cannot target the host CPU %s", cpu);
    }
    LLVMDisposeMessage(triple);
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(features);
    return tm;
}

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
    LLVMErrorRef e = LLVMRunPasses(m, plain ? "default<O2>" : "default<O1>", tm, po);
    LLVMDisposePassBuilderOptions(po);
    return e ? llvm_error(c, e, "LLVM optimisation failed") : 0;
}

int jit_add(jit *j, cc *c, const lp_prog *lp, const bool *strided, jit_nest_fn *fns)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "einc_k%ld", (long)atomic_fetch_add(&j->next_id, 1) + 1);
    cgl_opts o = { prefix, NULL, strided, host_vector_bytes(), host_l2_bytes() };
    LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
    bool plain = true;
    LLVMModuleRef m = cg_llvm(c, lp, &o, LLVMOrcThreadSafeContextGetContext(tsc), &plain);
    LLVMTargetMachineRef tm = m ? host_machine(c, LLVMRelocDefault) : NULL;
    int rc = -1;
    if (!m || !tm || optimize(c, m, tm, plain) < 0) {
        if (m)
            LLVMDisposeModule(m);
        goto done;
    }
    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(m, tsc);
    LLVMErrorRef e = LLVMOrcLLJITAddLLVMIRModule(j->lljit, LLVMOrcLLJITGetMainJITDylib(j->lljit), tsm);
    if (e) {
        LLVMOrcDisposeThreadSafeModule(tsm);
        llvm_error(c, e, "the JIT refused the module");
        goto done;
    }
    for (int i = 0; i < lp->nnest; i++) {
        char sym[64];
        snprintf(sym, sizeof sym, "%s_nest%d", prefix, i);
        LLVMOrcExecutorAddress addr = 0;
        if ((e = LLVMOrcLLJITLookup(j->lljit, &addr, sym))) {
            llvm_error(c, e, "JIT compilation failed");
            goto done;
        }
        *(void **)&fns[i] = (void *)(uintptr_t)addr;
    }
    rc = 0;
done:
    if (tm)
        LLVMDisposeTargetMachine(tm);
    LLVMOrcDisposeThreadSafeContext(tsc);
    return rc;
}

char *jit_emit(cc *c, const lp_prog *lp, const char *name, einc_emit_kind kind, size_t *len)
{
    pthread_once(&llvm_once, init_llvm);
    if (!llvm_ready) {
        cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "LLVM has no native target for this machine");
        return NULL;
    }
    LLVMContextRef ctx = LLVMContextCreate();
    cgl_opts o = { "einc", name, NULL, host_vector_bytes(), host_l2_bytes() };
    bool plain = true;
    LLVMModuleRef m = cg_llvm(c, lp, &o, ctx, &plain);
    LLVMTargetMachineRef tm = m ? host_machine(c, LLVMRelocPIC) : NULL;
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
