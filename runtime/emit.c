/*
 * emit.c — einc_kernel_emit and _emit_opts: a kernel's source (C, CUDA), PTX, LLVM IR,
 * assembly or an object file, from the pipeline's schedule for the machine it is for.
 */
#include "kernel.h"
#include "codegen.h"
#include "jit.h"
#include "loop.h"
#include "nvrtc.h"

#include <stdlib.h>
#include <string.h>

static bool c_identifier(const char *s)
{
    if (!s || !(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    for (s++; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

/* The first '...' in the expression, or NULL: emitted kernels need fixed ranks. */
static const ast_axis *find_ellipsis(const ast_expr *e)
{
    for (int i = 0; i <= e->nin; i++) {
        const ast_side *s = i < e->nin ? e->in[i] : e->out;
        for (int j = 0; s && j < s->n; j++) {
            const ast_axis *a = s->ax[j];
            if (a->kind == AST_ELLIPSIS)
                return a;
            for (int m = 0; a->kind == AST_GROUP && m < a->n; m++)
                if (a->member[m]->kind == AST_ELLIPSIS)
                    return a->member[m];
        }
    }
    return NULL;
}

char *einc_kernel_emit(einc_kernel *k, einc_emit_kind what, const char *name, einc_dtype dtype,
                       size_t *len, einc_error *err)
{
    einc_emit_options o = { .name = name, .dtype = dtype };
    return einc_kernel_emit_opts(k, what, &o, len, err);
}

char *einc_kernel_emit_opts(einc_kernel *k, einc_emit_kind what, const einc_emit_options *opt,
                            size_t *len, einc_error *err)
{
    static const einc_emit_options defaults = { 0 };
    if (!opt)
        opt = &defaults;
    const char *name = opt->name, *cpu = opt->cpu;
    einc_dtype dtype = opt->dtype;
    size_t scratch_len;
    if (!len)
        len = &scratch_len;
    *len = 0;
    einc_error scratch;
    err = error_start(err, &scratch);
    if (!k) {
        fail(err, EINC_ERR_ARG, "einc_kernel_emit: NULL kernel");
        return NULL;
    }
    bool llvm = what == EINC_EMIT_LLVM || what == EINC_EMIT_ASM || what == EINC_EMIT_OBJ;
    if ((unsigned)what > EINC_EMIT_OBJ) {
        fail(err, EINC_ERR_ARG, "einc_kernel_emit: unknown kind of output");
        return NULL;
    }
    if (cpu && *cpu && !llvm) {
        fail(err, EINC_ERR_ARG, "a CPU choice applies to object files, assembly and LLVM IR "
                                "(--emit=obj|asm|llvm), not to source");
        return NULL;
    }
    if (opt->nparams && what == EINC_EMIT_PTX) {
        fail(err, EINC_ERR_ARG, "a parameter order is for an emitted function; PTX holds the "
                                "kernels alone, which take their sizes in order of first "
                                "appearance (--emit=cuda's launcher takes any order)");
        return NULL;
    }
    if (!name)
        name = "einc_kernel";
    if (!c_identifier(name)) {
        fail(err, EINC_ERR_ARG, "a kernel name must be a C identifier");
        return NULL;
    }
    /* float16 and bfloat16 are a float32 kernel wrapped in conversions (codegen/cdtype.c) */
    bool half = dtype_is_half(dtype) && (what == EINC_EMIT_C || what == EINC_EMIT_HEADER);
    /* C spells every dtype (integers in <stdint.h> types, complex as C99 _Complex), CUDA
       every type it computes (codegen/cuda.c: cu_elem_type), LLVM float32 and float64 */
    bool c_kind = what == EINC_EMIT_C || what == EINC_EMIT_HEADER;
    bool gpu_kind = what == EINC_EMIT_CUDA || what == EINC_EMIT_PTX;
    bool known = (unsigned)dtype < EINC_DTYPE_COUNT;
    if (dtype != EINC_F32 && dtype != EINC_F64 && !(c_kind && known) && !(gpu_kind && dtype_on_cuda(dtype))) {
        fail(err, EINC_ERR_DTYPE, !known ? "emitted kernels are float32 or float64, or float16 and "
                                           "bfloat16 in C"
                                  : gpu_kind ? "this dtype is emitted as C or header only today (--emit=c or "
                                               "--emit=header; CUDA takes every dtype but complex, LLVM IR, "
                                               "assembly and objects float32 or float64)"
                                             : "this dtype is emitted as C, header, CUDA or PTX only today "
                                               "(LLVM IR, assembly and objects take float32 or float64)");
        return NULL;
    }
    arena A = { 0 };
    cc c = { .A = &A, .src = k->src, .err = err };
    char *s = NULL;
    const ast_axis *ell = k->ast ? find_ellipsis(k->ast) : NULL;
    if (ell && k->ellipsis_rank < 0) {
        cc_error(&c, EINC_ERR_ARG, ell->begin, ell->end,
                 "a kernel's source needs the number of dimensions '...' stands for: give "
                 "...=N (e.g. ...=2)");
        goto done;
    }
    bool gpu = what == EINC_EMIT_CUDA || what == EINC_EMIT_PTX;
    pipeline pl = kernel_pipeline(k, 0, NULL, NULL, gpu ? PL_EMIT_GPU : llvm ? PL_EMIT_LLVM : PL_EMIT_C);
    /* the schedule plans for the machine the code is for: the named CPU, or the stated one
       emitted C is written for (loop.h) */
    if (llvm)
        jit_machine(cpu, &pl.machine);
    else if (!gpu)
        pl.machine = LP_EMITTED_C_MACHINE;
    pl.opts.dtype = half ? EINC_F32 : dtype;
    pl.opts.ellipsis_rank = k->ellipsis_rank > 0 ? k->ellipsis_rank : 0;
    pl.opts.open_repeats = true;    /* a repeat's size not given is a parameter like any other */
    lp_prog *lp = pipeline_run(&c, &pl, PL_SCHEDULE) == 0 ? pl.lp : NULL;
    cg_opts co = { name, k->src, what == EINC_EMIT_HEADER };
    if (lp)
        lp->tf32 = gpu && k->tf32;
    if (lp && cg_params(&c, lp, opt->params, opt->nparams) < 0)
        lp = NULL;
    for (int t = 0; lp && t < lp->ir->ntensor; t++) {
        /* a model declares its own dtypes: CUDA spells all but complex, LLVM the JIT's, C all
           but the 16-bit floats (which --dtype wraps, codegen/cdtype.c) and, in a model, the
           integers it computes in int64 (C does not wrap them before max, min, / or ==) */
        einc_dtype dt = lp->ir->tensor[t].dtype;
        bool narrow = dtype_is_int(dt) && dt != EINC_I32 && dtype_size(dt) < 8;
        if (llvm ? !dtype_on_jit(dt) : gpu ? !dtype_on_cuda(dt) : dtype_is_half(dt) || (k->model && narrow)) {
            cc_error(&c, EINC_ERR_DTYPE, -1, -1, "'%s' is %s, which %s does not emit yet (README, "
                     "\"Dtypes\"): run it with einc run", lp->ir->tensor[t].name,
                     einc_dtype_name(dt), llvm ? "LLVM" : gpu ? "CUDA" : "C");
            lp = NULL;
        }
    }
    if (!lp) {
        goto done;
    } else if (half) {
        s = cg_c_half(&c, lp, &co, dtype);
    } else if (what == EINC_EMIT_C || what == EINC_EMIT_HEADER) {
        s = cg_c(&c, lp, &co);
    } else if (what == EINC_EMIT_CUDA) {
        s = cg_cuda(&c, lp, &co);
    } else if (what == EINC_EMIT_PTX) {
        /* the kernels alone (NVRTC has no CUDA headers), for the H100/H200 generation */
        char *cu = cg_cuda_kernels(&c, lp, &co), msg[sizeof err->message];
        if (cu && nvrtc_ptx(cu, name, "compute_90", &s, msg, sizeof msg) < 0)
            cc_error(&c, EINC_ERR_UNSUPPORTED, -1, -1, "%s", msg);
        einc_free(cu);
    } else {
        s = jit_emit(&c, lp, name, cpu, what, len);
        goto done;
    }
    if (s)
        *len = strlen(s);
done:
    arena_free(&A);
    return s;
}
