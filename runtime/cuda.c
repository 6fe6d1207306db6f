/*
 * cuda.c — the CUDA target (see cuda.h).
 *
 * The driver's types and entry points are declared here (its ABI), so no CUDA header is
 * needed to build.  Several entry points are exported under versioned names (cuMemAlloc is
 * cuMemAlloc_v2 since CUDA 3.2): the table names the symbol each member loads.  A program
 * is lowered for the GPU (one thread per output element), bound to its sizes, spelled as
 * CUDA C by codegen/cuda.c and compiled by NVRTC for compute_XY of device 0; each nest is
 * launched by its plan (codegen/cuda_launch.h), the rule the emitted launcher follows too
 * (rows and reduce kernels also by the device's multiprocessor count).
 * NOTE: written and compiled without a GPU; benchmarks/gpu/check.sh is the test
 * that runs it against the interpreter on a lent GPU machine.
 */
#define _POSIX_C_SOURCE 200809L
#include "cuda.h"
#include "alloc.h"
#include "cuda_emu.h"
#include "codegen.h"
#include "cuda_launch.h"
#include "loop.h"
#include "nvrtc.h"
#include "pipeline.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int cu_result;              /* CUresult: 0 is CUDA_SUCCESS */
typedef int cu_device;
typedef struct cu_context_ *cu_context;
typedef struct cu_module_ *cu_module;
typedef struct cu_function_ *cu_function;
typedef struct cu_stream_ *cu_stream;
typedef unsigned long long cu_ptr;  /* CUdeviceptr */

enum { CU_ATTR_SMS = 16, CU_ATTR_CC_MAJOR = 75, CU_ATTR_CC_MINOR = 76, CU_FUNC_MAX_DYNAMIC_SHARED = 8 };

/* return type, exported symbol, member, parameters */
#define CUDA_SYMS(X)                                                                        \
    X(cu_result, "cuInit", init, (unsigned flags))                                          \
    X(cu_result, "cuDeviceGetCount", device_count, (int *n))                                \
    X(cu_result, "cuDeviceGet", device_get, (cu_device *d, int ordinal))                    \
    X(cu_result, "cuDeviceGetAttribute", attribute, (int *v, int attr, cu_device d))        \
    X(cu_result, "cuDevicePrimaryCtxRetain", ctx_retain, (cu_context *c, cu_device d))      \
    X(cu_result, "cuDevicePrimaryCtxRelease_v2", ctx_release, (cu_device d))                \
    X(cu_result, "cuCtxSetCurrent", ctx_set, (cu_context c))                                \
    X(cu_result, "cuModuleLoadData", module_load, (cu_module *m, const void *image))        \
    X(cu_result, "cuModuleUnload", module_unload, (cu_module m))                            \
    X(cu_result, "cuModuleGetFunction", function, (cu_function *f, cu_module m, const char *name)) \
    X(cu_result, "cuMemAlloc_v2", mem_alloc, (cu_ptr *p, size_t n))                         \
    X(cu_result, "cuMemFree_v2", mem_free, (cu_ptr p))                                      \
    X(cu_result, "cuMemcpyHtoD_v2", htod, (cu_ptr dst, const void *src, size_t n))          \
    X(cu_result, "cuMemcpyDtoH_v2", dtoh, (void *dst, cu_ptr src, size_t n))                \
    X(cu_result, "cuLaunchKernel", launch,                                                  \
      (cu_function f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,       \
       unsigned bz, unsigned shmem, cu_stream s, void **params, void **extra))              \
    X(cu_result, "cuFuncSetAttribute", func_attribute, (cu_function f, int attr, int value)) \
    X(cu_result, "cuCtxSynchronize", sync, (void))                                          \
    X(cu_result, "cuGetErrorString", error_string, (cu_result r, const char **s))

typedef struct cu_lib {
#define X(ret, sym, member, args) ret (*member) args;
    CUDA_SYMS(X)
#undef X
} cu_lib;

typedef struct cu_entry cu_entry;
struct cu_entry {
    cu_entry *next;
    char *key;
    cu_module module;
    int nk;
    cu_function *fn;
};

struct cuda_backend {
    pthread_mutex_t mu;         /* guards everything below */
    bool tried, ok;
    char why[256];              /* why there is no CUDA, once tried */
    void *handle;
    cu_lib lib;
    cu_device dev;
    cu_context ctx;
    char arch[32];              /* "compute_90" */
    int sms;                    /* multiprocessors, for the launch geometry (0: unknown) */
    cu_entry *cache;
    cuda_emu *emu;              /* EINC_CUDA_EMU=1: the emulator is the driver (cuda_emu.h) */
};

cuda_backend *cuda_new(void)
{
    cuda_backend *b = einc_calloc(1, sizeof *b);
    if (b)
        pthread_mutex_init(&b->mu, NULL);
    return b;
}

void cuda_free(cuda_backend *b)
{
    if (!b)
        return;
    for (cu_entry *e = b->cache, *n; e; e = n) {
        n = e->next;
        if (b->ok)
            b->lib.module_unload(e->module);
        einc_free(e->key);
        einc_free(e->fn);
        einc_free(e);
    }
    if (b->ok)
        b->lib.ctx_release(b->dev);
    if (b->handle)
        dlclose(b->handle);
    cuda_emu_close(b->emu);
    pthread_mutex_destroy(&b->mu);
    einc_free(b);
}

static const char *cu_err(const cuda_backend *b, cu_result r)
{
    const char *s = NULL;
    if (b->lib.error_string && b->lib.error_string(r, &s) == 0 && s)
        return s;
    return "unknown CUDA error";
}

/* Called with b->mu held, once. */
static void open_driver(cuda_backend *b)
{
    b->tried = true;
    if (cuda_emu_wanted() && cuda_emu_open(&b->emu, b->why, sizeof b->why) < 0)
        return;
    b->handle = b->emu ? NULL : dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!b->handle && !b->emu) {
        snprintf(b->why, sizeof b->why, "no CUDA driver found (libcuda.so.1); use --target=cpu");
        return;
    }
#define X(ret, sym, member, args)                                                           \
    *(void **)&b->lib.member = b->emu ? cuda_emu_sym(sym) : dlsym(b->handle, sym);          \
    if (!b->lib.member) {                                                                   \
        snprintf(b->why, sizeof b->why, "the CUDA driver lacks %s; it is too old for einc", sym); \
        return;                                                                             \
    }
    CUDA_SYMS(X)
#undef X
    int n = 0, major = 0, minor = 0;
    cu_result r = b->lib.init(0);
    if (!r)
        r = b->lib.device_count(&n);
    if (r || n < 1) {
        snprintf(b->why, sizeof b->why, "no CUDA device (%s); use --target=cpu",
                 r ? cu_err(b, r) : "the driver sees none");
        return;
    }
    if ((r = b->lib.device_get(&b->dev, 0)) || (r = b->lib.attribute(&major, CU_ATTR_CC_MAJOR, b->dev)) ||
        (r = b->lib.attribute(&minor, CU_ATTR_CC_MINOR, b->dev)) || (r = b->lib.ctx_retain(&b->ctx, b->dev))) {
        snprintf(b->why, sizeof b->why, "cannot open CUDA device 0: %s", cu_err(b, r));
        return;
    }
    if (b->lib.attribute(&b->sms, CU_ATTR_SMS, b->dev))
        b->sms = 0;
    snprintf(b->arch, sizeof b->arch, "compute_%d%d", major, minor);
    b->ok = true;
}

bool cuda_ready(cuda_backend *b, cc *c)
{
    pthread_mutex_lock(&b->mu);
    if (!b->tried)
        open_driver(b);
    bool ok = b->ok;
    pthread_mutex_unlock(&b->mu);
    if (!ok && c)
        cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "%s", b->why);
    return ok;
}

/* Compiles p's kernels and loads them; called with b->mu held. */
/* The loop IR of p, which einc_kernel_run took through the pipeline's index-IR stages. */
static lp_prog *lower_gpu(cc *c, const ir_prog *p)
{
    pipeline pl = pipeline_from(p, PL_GPU, NULL, NULL);
    return pipeline_run(c, &pl, PL_SCHEDULE) == 0 ? pl.lp : NULL;
}

static cu_entry *compile(cuda_backend *b, cc *c, const char *key, const ir_prog *p, lp_prog **lpo)
{
    lp_prog *lp = lower_gpu(c, p);
    if (!lp)
        return NULL;
    *lpo = lp;
    cg_opts o = { "einc", c->src, false };
    char *src = cg_cuda_kernels(c, lp, &o), *ptx = NULL, msg[sizeof c->err->message];
    if (!src)
        return NULL;
    if (b->emu && !(ptx = cuda_emu_image(src))) {     /* its module image is the source */
        einc_free(src);
        cc_nomem(c);
        return NULL;
    }
    if (!b->emu && nvrtc_ptx(src, "einc.cu", b->arch, &ptx, msg, sizeof msg) < 0) {
        einc_free(src);
        cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "%s", msg);
        return NULL;
    }
    einc_free(src);
    cu_entry *e = einc_calloc(1, sizeof *e);
    if (!e || !(e->key = einc_malloc(strlen(key) + 1)) ||
        !(e->fn = einc_calloc((size_t)lp->nnest + 1, sizeof *e->fn))) {
        if (e)
            einc_free(e->key);
        einc_free(e);
        free(ptx);
        cc_nomem(c);
        return NULL;
    }
    strcpy(e->key, key);
    e->nk = lp->nnest;
    b->lib.ctx_set(b->ctx);
    cu_result r = b->lib.module_load(&e->module, ptx);
    free(ptx);
    for (int i = 0; !r && i < lp->nnest; i++) {
        char name[32];
        snprintf(name, sizeof name, "einc_k%d", i);
        r = b->lib.function(&e->fn[i], e->module, name);
    }
    if (r) {
        cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "CUDA cannot load the kernels: %s", cu_err(b, r));
        einc_free(e->key);
        einc_free(e->fn);
        einc_free(e);
        return NULL;
    }
    e->next = b->cache;
    b->cache = e;
    return e;
}

int cuda_run(cuda_backend *b, cc *c, const char *key, const ir_prog *p, void *const *buf)
{
    if (!cuda_ready(b, c))
        return -1;
    pthread_mutex_lock(&b->mu);     /* one device context, one run at a time */
    int rc = -1;
    lp_prog *lp = NULL;
    cu_entry *e = NULL;
    for (cu_entry *x = b->cache; x && !e; x = x->next)
        if (strcmp(x->key, key) == 0)
            e = x;
    /* the kernels are compiled for these sizes: lower again for the launch shapes */
    if (e)
        lp = lower_gpu(c, p);
    else
        e = compile(b, c, key, p, &lp);
    cu_ptr *dev = ARENA_ARRAY(c->A, cu_ptr, p->ntensor);
    void **args = ARENA_ARRAY(c->A, void *, p->ntensor);
    cu_launch *plan = lp ? ARENA_ARRAY(c->A, cu_launch, lp->nnest + 1) : NULL;
    for (int i = 0; plan && i < lp->nnest; i++)
        if (cu_launch_plan(c, lp, i, &plan[i]) < 0)
            plan = NULL;
    if (!e || !lp || !dev || !args || !plan) {
        if (!c->failed)
            cc_nomem(c);
        goto out;
    }
    b->lib.ctx_set(b->ctx);
    cu_result r = 0;
    int na = 0;
    for (int t = 0; t < p->ntensor && !r; t++) {
        size_t bytes = (size_t)ir_tensor_elems(p, &p->tensor[t]) * dtype_size(p->tensor[t].dtype);
        r = b->lib.mem_alloc(&dev[t], bytes ? bytes : 1);
        if (!r && p->tensor[t].role == IR_INPUT && bytes)
            r = b->lib.htod(dev[t], buf[t], bytes);
        if (p->tensor[t].role != IR_TEMP || cg_temp_stored(lp, t))
            args[na++] = &dev[t];       /* the kernels' parameters: cg_cuda_kernels */
    }
    for (int i = 0; i < e->nk && !r; i++) {
        const cu_launch *L = &plan[i];
        unsigned grid, block[2], shmem;
        if (!cu_launch_dims(L, p, b->sms, &grid, block, &shmem))
            continue;
        if (shmem > CU_SHMEM_DEFAULT)
            r = b->lib.func_attribute(e->fn[i], CU_FUNC_MAX_DYNAMIC_SHARED, (int)shmem);
        if (!r)
            r = b->lib.launch(e->fn[i], grid, 1, 1, block[0], block[1], 1, shmem, NULL, args, NULL);
    }
    if (!r)
        r = b->lib.sync();
    for (int o = p->output; !r && o < p->output + p->noutput; o++) {
        const ir_tensor *O = &p->tensor[o];
        size_t bytes = (size_t)ir_tensor_elems(p, O) * dtype_size(O->dtype);
        if (bytes)
            r = b->lib.dtoh(buf[o], dev[o], bytes);
    }
    /* temporaries the caller reads after the run (computed labels, ir.h) */
    for (int t = 0; t < p->ntensor && !r; t++)
        if (p->tensor[t].role == IR_TEMP && buf[t] && cg_temp_stored(lp, t) && ir_tensor_elems(p, &p->tensor[t]) > 0)
            r = b->lib.dtoh(buf[t], dev[t], (size_t)ir_tensor_elems(p, &p->tensor[t]) * dtype_size(p->tensor[t].dtype));
    for (int t = 0; t < p->ntensor; t++)
        if (dev[t])
            b->lib.mem_free(dev[t]);
    if (r)
        cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "CUDA: %s", cu_err(b, r));
    else
        rc = 0;
out:
    pthread_mutex_unlock(&b->mu);
    return rc;
}
