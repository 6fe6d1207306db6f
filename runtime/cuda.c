/*
 * cuda.c — the CUDA target (see cuda.h).
 *
 * The driver's types and entry points are declared here (its ABI), so no CUDA header is
 * needed to build.  Several entry points are exported under versioned names (cuMemAlloc is
 * cuMemAlloc_v2 since CUDA 3.2): the table names the symbol each member loads.  A program
 * is lowered for the GPU (one thread per output element), bound to its sizes, spelled as
 * CUDA C by codegen/cuda.c and compiled by NVRTC to a cubin for device 0's architecture
 * (PTX for an older one when NVRTC does not know the device: nvrtc_pick_arch); each nest
 * is launched by its plan (codegen/cuda_launch.h), the rule the emitted launcher follows
 * too (rows and reduce kernels also by the device's multiprocessor count).  Module images
 * persist in the on-disk cache under a key of the image kind,
 * the architecture, the NVRTC and driver versions and the CUDA C source (which spells
 * every size and option the code depends on), so a hit loads without NVRTC; an image that
 * reads back whole but does not load is dropped and compiled again.  NOTE: written and
 * compiled without a GPU; benchmarks/gpu/check.sh is the test that runs it against the
 * interpreter on a lent GPU machine.
 */
#define _POSIX_C_SOURCE 200809L
#include "cuda.h"
#include "alloc.h"
#include "cuda_emu.h"
#include "codegen.h"
#include "cuda_launch.h"
#include "kcache.h"
#include "loop.h"
#include "nvrtc.h"
#include "pipeline.h"
#include "strbuf.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int cu_result;              /* CUresult: 0 is CUDA_SUCCESS */
typedef int cu_device;
typedef struct cu_context_ *cu_context;
typedef struct cu_module_ *cu_module;
typedef struct cu_function_ *cu_function;
typedef struct cu_stream_ *cu_stream;
typedef unsigned long long cu_ptr;  /* CUdeviceptr */
typedef struct cu_event_ *cu_event;

enum { CU_ATTR_SMS = 16, CU_ATTR_CC_MAJOR = 75, CU_ATTR_CC_MINOR = 76 };
/* CUfunction_attribute */
enum { CU_FUNC_SHARED = 1, CU_FUNC_LOCAL = 3, CU_FUNC_REGS = 4, CU_FUNC_MAX_DYNAMIC_SHARED = 8 };

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
    X(cu_result, "cuFuncSetAttribute", func_set_attribute, (cu_function f, int attr, int value)) \
    X(cu_result, "cuCtxSynchronize", sync, (void))                                          \
    X(cu_result, "cuGetErrorString", error_string, (cu_result r, const char **s))          \
    X(cu_result, "cuDriverGetVersion", driver_version, (int *v))                            \
    X(cu_result, "cuDeviceGetName", device_name, (char *name, int len, cu_device d))        \
    X(cu_result, "cuFuncGetAttribute", func_attribute, (int *v, int attr, cu_function f))   \
    X(cu_result, "cuEventCreate", event_create, (cu_event *e, unsigned flags))              \
    X(cu_result, "cuEventRecord", event_record, (cu_event e, cu_stream s))                  \
    X(cu_result, "cuEventSynchronize", event_sync, (cu_event e))                            \
    X(cu_result, "cuEventElapsedTime", event_elapsed, (float *ms, cu_event a, cu_event b))  \
    X(cu_result, "cuEventDestroy_v2", event_destroy, (cu_event e))

typedef struct cu_lib {
#define X(ret, sym, member, args) ret (*member) args;
    CUDA_SYMS(X)
#undef X
} cu_lib;

typedef struct cu_entry cu_entry;
struct cu_entry {
    cu_entry *next;
    char *key;
    bool from_disk;             /* its image came from the on-disk cache */
    double compile_ms;          /* NVRTC's (or the emulator's image) time; 0 from the disk */
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
    int major, minor;           /* device 0's compute capability */
    int driver;                 /* cuDriverGetVersion */
    int sms;                    /* multiprocessors, for the launch geometry (0: unknown) */
    char device[96];
    char arch[32];              /* "sm_90", or "compute_90" for PTX: nvrtc_pick_arch */
    bool nvrtc_tried;
    nvrtc_lib nvrtc;            /* opened at the first compile that needs it */
    char nvrtc_why[256];        /* why it could not be opened */
    kcache *kc;                 /* the context's on-disk cache, or NULL */
    cu_entry *cache;
    cuda_emu *emu;              /* EINC_CUDA_EMU=1: the emulator is the driver (cuda_emu.h) */
};

static _Thread_local cuda_probe *probe;

void cuda_probe_next(cuda_probe *pr) { probe = pr; }

/* The calling thread's next cuda_run on device pointers (cuda_device_next), and its stream. */
static _Thread_local struct {
    bool on;
    cu_stream stream;
} device_req;

void cuda_device_next(bool on, void *stream)
{
    device_req.on = on;
    device_req.stream = on ? (cu_stream)stream : NULL;
}

cuda_backend *cuda_new(void)
{
    cuda_backend *b = einc_calloc(1, sizeof *b);
    if (b)
        pthread_mutex_init(&b->mu, NULL);
    return b;
}

void cuda_use_kcache(cuda_backend *b, kcache *kc) { b->kc = kcache_on(kc) ? kc : NULL; }

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
    nvrtc_close(&b->nvrtc);
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
    b->major = major;
    b->minor = minor;
    if (b->lib.driver_version(&b->driver))
        b->driver = 0;
    if (b->lib.device_name(b->device, (int)sizeof b->device, b->dev))
        snprintf(b->device, sizeof b->device, "CUDA device 0");
    b->device[sizeof b->device - 1] = 0;
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

/*
 * The loop IR of p, which einc_kernel_run took through the pipeline's index-IR stages;
 * TF32 tensor cores (mma.sync, cp.async) when the caller allows them and the device has
 * them (sm_80 and later; the emulator implements them).
 */
static lp_prog *lower_gpu(const cuda_backend *b, cc *c, const ir_prog *p, bool tf32)
{
    pipeline pl = pipeline_from(p, PL_GPU, NULL, NULL);
    lp_prog *lp = pipeline_run(c, &pl, PL_SCHEDULE) == 0 ? pl.lp : NULL;
    if (lp)
        lp->tf32 = tf32 && (b->emu || b->major >= 8);
    return lp;
}

/* NVRTC, opened once per backend; called with b->mu held.  0, or -1 with why in c. */
static int need_nvrtc(cuda_backend *b, cc *c)
{
    if (!b->nvrtc_tried) {
        b->nvrtc_tried = true;
        if (nvrtc_open(&b->nvrtc, b->nvrtc_why, sizeof b->nvrtc_why) == 0)
            nvrtc_pick_arch(&b->nvrtc, b->major, b->minor, b->arch, sizeof b->arch);
    }
    if (b->nvrtc.handle)
        return 0;
    cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "%s", b->nvrtc_why);
    return -1;
}

/* The on-disk cache's key for src's module: everything the image depends on. */
static char *disk_key(const cuda_backend *b, const char *src)
{
    strbuf kb = { 0 };
    if (b->emu)
        sb_printf(&kb, "cuda-emu\n");
    else
        sb_printf(&kb, "cuda-%s %s\ndevice %d.%d\nnvrtc %d.%d\ndriver %d\n",
                  strncmp(b->arch, "sm_", 3) == 0 ? "cubin" : "ptx", b->arch, b->major,
                  b->minor, b->nvrtc.major, b->nvrtc.minor, b->driver);
    sb_printf(&kb, "%s", src);
    return sb_finish(&kb);
}

/* Loads image into e->module and finds its kernels; 0, or the driver's error. */
static cu_result load(cuda_backend *b, cu_entry *e, const void *image)
{
    b->lib.ctx_set(b->ctx);
    cu_result r = b->lib.module_load(&e->module, image);
    for (int i = 0; !r && i < e->nk; i++) {
        char name[32];
        snprintf(name, sizeof name, "einc_k%d", i);
        r = b->lib.function(&e->fn[i], e->module, name);
    }
    if (r && e->module) {
        b->lib.module_unload(e->module);
        e->module = NULL;
    }
    return r;
}

/*
 * The module image of src, from the on-disk cache when it holds one that loads, else
 * compiled (and then stored); loads it into e.  0, or -1 with the error in c.
 */
static int build_module(cuda_backend *b, cc *c, const char *src, cu_entry *e)
{
    if (!b->emu && need_nvrtc(b, c) < 0)
        return -1;
    char *dkey = b->kc ? disk_key(b, src) : NULL;
    size_t len = 0;
    char *image = dkey ? kcache_get(b->kc, dkey, &len) : NULL;
    /* PTX and the emulator's source are text: an entry without its NUL is foreign */
    if (image && (len == 0 || (strncmp(b->arch, "sm_", 3) != 0 && image[len - 1] != 0))) {
        einc_free(image);
        image = NULL;
    }
    if (image) {
        cu_result r = load(b, e, image);
        einc_free(image);
        if (!r) {
            e->from_disk = true;
            einc_free(dkey);
            return 0;
        }
        kcache_drop(b->kc, dkey);
    }
    nvrtc_image img = { 0 };
    char msg[sizeof c->err->message];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (b->emu) {
        if ((img.data = cuda_emu_image(src)) != NULL)
            img.len = strlen(img.data) + 1;
    } else if (nvrtc_build(&b->nvrtc, src, "einc.cu", b->arch, &img, msg, sizeof msg) < 0) {
        einc_free(dkey);
        cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "%s", msg);
        return -1;
    }
    if (!img.data) {
        einc_free(dkey);
        cc_nomem(c);
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    e->compile_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-6;
    cu_result r = load(b, e, img.data);
    if (!r && dkey)
        kcache_put(b->kc, dkey, img.data, img.len);
    einc_free(img.data);
    einc_free(dkey);
    if (r)
        cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "CUDA cannot load the kernels: %s", cu_err(b, r));
    return r ? -1 : 0;
}

/* Compiles p's kernels (or loads them from the disk) into a new entry of the module cache;
   called with b->mu held. */
static cu_entry *compile(cuda_backend *b, cc *c, const char *key, const ir_prog *p, bool tf32,
                         lp_prog **lpo)
{
    lp_prog *lp = lower_gpu(b, c, p, tf32);
    if (!lp)
        return NULL;
    *lpo = lp;
    cg_opts o = { "einc", c->src, false };
    char *src = cg_cuda_kernels(c, lp, &o);
    if (!src)
        return NULL;
    cu_entry *e = einc_calloc(1, sizeof *e);
    if (!e || !(e->key = einc_malloc(strlen(key) + 1)) ||
        !(e->fn = einc_calloc((size_t)lp->nnest + 1, sizeof *e->fn))) {
        if (e)
            einc_free(e->key);
        einc_free(e);
        einc_free(src);
        cc_nomem(c);
        return NULL;
    }
    strcpy(e->key, key);
    e->nk = lp->nnest;
    int rc = build_module(b, c, src, e);
    einc_free(src);
    if (rc < 0) {
        einc_free(e->key);
        einc_free(e->fn);
        einc_free(e);
        return NULL;
    }
    e->next = b->cache;
    b->cache = e;
    return e;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* The median of v[0..n), n >= 1, sorting v. */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The facts of the device, the image and each kernel's resources, into pr. */
static void describe(const cuda_backend *b, const cu_entry *e, cuda_probe *pr)
{
    pr->filled = true;
    pr->emulated = b->emu != NULL;
    pr->from_disk = e->from_disk;
    pr->compile_ms = e->compile_ms;
    snprintf(pr->device, sizeof pr->device, "%s", b->device);
    if (b->emu)
        snprintf(pr->image, sizeof pr->image, "emulated");
    else
        snprintf(pr->image, sizeof pr->image, "%s %s", strncmp(b->arch, "sm_", 3) == 0 ? "cubin" : "PTX",
                 b->arch);
    pr->cc_major = b->major;
    pr->cc_minor = b->minor;
    pr->driver = b->driver;
    pr->nvrtc_major = b->nvrtc.major;
    pr->nvrtc_minor = b->nvrtc.minor;
    pr->nk = e->nk;
    memset(pr->k, 0, sizeof pr->k);     /* a kernel with no work keeps a 0 grid */
    for (int i = 0; i < e->nk && i < CUDA_PROBE_KERNELS; i++) {
        cuda_kernel_info *k = &pr->k[i];
        int *at[] = { &k->regs, &k->static_shared, &k->local };
        const int attr[] = { CU_FUNC_REGS, CU_FUNC_SHARED, CU_FUNC_LOCAL };
        for (int a = 0; a < 3; a++)
            if (b->lib.func_attribute(at[a], attr[a], e->fn[i]))
                *at[a] = -1;
    }
}

/*
 * Times reps runs of the launches (after one untimed) with an event before each kernel and
 * after the last; medians into pr.  The driver's first error, or 0.
 */
typedef struct launch {
    int kernel;                 /* its index in the module */
    cu_function fn;
    unsigned grid, block[2], shmem;
} launch;

/* Launches l, first raising the kernel's dynamic shared memory limit when it needs more. */
static cu_result launch_one(cuda_backend *b, const launch *l, void **args, cu_stream s)
{
    cu_result r = 0;
    if (l->shmem > CU_SHMEM_DEFAULT)
        r = b->lib.func_set_attribute(l->fn, CU_FUNC_MAX_DYNAMIC_SHARED, (int)l->shmem);
    return r ? r : b->lib.launch(l->fn, l->grid, 1, 1, l->block[0], l->block[1], 1, l->shmem, s, args, NULL);
}

static cu_result timed_runs(cuda_backend *b, cc *c, const launch *L, int nl, void **args, cuda_probe *pr)
{
    int reps = pr->reps < CUDA_PROBE_REPS ? pr->reps : CUDA_PROBE_REPS, nev = (nl + 1) * reps;
    cu_event *ev = ARENA_ARRAY(c->A, cu_event, nev);
    double *t = ARENA_ARRAY(c->A, double, reps), *tk = ARENA_ARRAY(c->A, double, reps * (nl + 1));
    if (!ev || !t || !tk)
        return 2;   /* CUDA_ERROR_OUT_OF_MEMORY */
    cu_result r = 0;
    int made = 0;
    for (; made < nev && !r; made++)
        if ((r = b->lib.event_create(&ev[made], 0)) != 0)
            break;
    for (int i = 0; i < nl && !r; i++)      /* the untimed run */
        r = launch_one(b, &L[i], args, NULL);
    for (int rep = 0; rep < reps && !r; rep++) {
        cu_event *E = ev + rep * (nl + 1);
        for (int i = 0; i < nl && !r; i++) {
            r = b->lib.event_record(E[i], NULL);
            if (!r)
                r = launch_one(b, &L[i], args, NULL);
        }
        if (!r)
            r = b->lib.event_record(E[nl], NULL);
    }
    if (!r && reps)
        r = b->lib.event_sync(ev[nev - 1]);
    for (int rep = 0; rep < reps && !r; rep++) {
        cu_event *E = ev + rep * (nl + 1);
        float ms = 0;
        r = b->lib.event_elapsed(&ms, E[0], E[nl]);
        t[rep] = ms;
        for (int i = 0; i < nl && !r; i++) {
            r = b->lib.event_elapsed(&ms, E[i], E[i + 1]);
            tk[i * reps + rep] = ms;
        }
    }
    for (int i = 0; i < made; i++)
        b->lib.event_destroy(ev[i]);
    if (!r && reps) {
        pr->ms = median(t, reps);
        for (int i = 0; i < nl; i++)
            if (L[i].kernel < CUDA_PROBE_KERNELS)
                pr->k[L[i].kernel].ms = median(tk + i * reps, reps);
    }
    return r;
}

int cuda_run(cuda_backend *b, cc *c, const char *key, const ir_prog *p, void *const *buf, bool tf32)
{
    cuda_probe *pr = probe;
    probe = NULL;
    if (pr)
        pr->filled = false;
    /* on device pointers: the inputs' and outputs' buffers are the caller's device memory,
       neither copied nor freed here, and the launches go on the caller's stream */
    bool on_device = device_req.on;
    cu_stream stream = device_req.stream;
    device_req.on = false;
    if (on_device)
        pr = NULL;
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
        lp = lower_gpu(b, c, p, tf32);
    else
        e = compile(b, c, key, p, tf32, &lp);
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
        if (on_device && p->tensor[t].role != IR_TEMP) {
            dev[t] = (cu_ptr)(uintptr_t)buf[t];
            args[na++] = &dev[t];
            continue;
        }
        r = b->lib.mem_alloc(&dev[t], bytes ? bytes : 1);
        if (!r && p->tensor[t].role == IR_INPUT && bytes)
            r = b->lib.htod(dev[t], buf[t], bytes);
        if (p->tensor[t].role != IR_TEMP || cg_temp_stored(lp, t))
            args[na++] = &dev[t];       /* the kernels' parameters: cg_cuda_kernels */
    }
    launch *L = ARENA_ARRAY(c->A, launch, e->nk + 1);
    int nl = 0;
    for (int i = 0; i < e->nk && L; i++) {
        launch *l = &L[nl];
        if (cu_launch_dims(&plan[i], p, b->sms, &l->grid, l->block, &l->shmem)) {
            l->kernel = i;
            l->fn = e->fn[i];
            nl++;
        }
    }
    if (!L)
        r = 2;      /* CUDA_ERROR_OUT_OF_MEMORY */
    if (pr && !r) {
        describe(b, e, pr);
        for (int i = 0; i < nl; i++)
            if (L[i].kernel < CUDA_PROBE_KERNELS) {
                cuda_kernel_info *k = &pr->k[L[i].kernel];
                k->grid[0] = L[i].grid;
                k->block[0] = L[i].block[0];
                k->block[1] = L[i].block[1];
                k->grid[1] = k->grid[2] = k->block[2] = 1;
                k->dyn_shared = L[i].shmem;
            }
    }
    for (int i = 0; i < nl && !r && !(pr && pr->reps > 0); i++)
        r = launch_one(b, &L[i], args, stream);
    if (pr && pr->reps > 0 && !r)
        r = timed_runs(b, c, L, nl, args, pr);
    if (!r)
        r = b->lib.sync();
    for (int o = p->output; !r && !on_device && o < p->output + p->noutput; o++) {
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
        if (dev[t] && !(on_device && p->tensor[t].role != IR_TEMP))
            b->lib.mem_free(dev[t]);
    if (r)
        cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "CUDA: %s", cu_err(b, r));
    else
        rc = 0;
out:
    pthread_mutex_unlock(&b->mu);
    return rc;
}

einc_status einc_kernel_run_device(einc_kernel *k, void *stream, int ninputs,
                                   const einc_tensor *inputs, const einc_tensor *out,
                                   einc_error *err)
{
    if (!einc_kernel_on_device(k)) {
        if (err) {
            *err = (einc_error){ .status = EINC_ERR_ARG, .begin = -1, .end = -1 };
            snprintf(err->message, sizeof err->message, "einc_kernel_run_device takes a kernel "
                     "of an expression compiled for EINC_TARGET_CUDA");
        }
        return EINC_ERR_ARG;
    }
    cuda_device_next(true, stream);
    einc_status st = einc_kernel_run(k, ninputs, inputs, out, err);
    cuda_device_next(false, NULL);
    return st;
}
