/*
 * nvrtc.c — see nvrtc.h.
 *
 * Symbols are looked up from one table (NVRTC_SYMS) into the struct's members by offset,
 * and every one must be there: a half-loaded table is never handed out.  The library is
 * opened RTLD_NODELETE where the loader has it, so closing it only drops a reference:
 * unloading NVRTC (an LLVM inside) and loading it again per compilation costs time and
 * runs its static destructors for nothing.
 */
#include "nvrtc.h"
#include "alloc.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifndef RTLD_NODELETE
#define RTLD_NODELETE 0
#endif

/* dlsym gives a void *; POSIX guarantees it can hold a function pointer. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "function pointers fit in void *");

static const struct {
    const char *sym;
    size_t offset;
} syms[] = {
#define X(ret, sym, member, args) { #sym, offsetof(nvrtc_lib, member) },
    NVRTC_SYMS(X)
#undef X
};

static const char *const sonames[] = { "libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12" };

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int failf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int nvrtc_open(nvrtc_lib *L, char *err, size_t errlen)
{
    memset(L, 0, sizeof *L);
    for (size_t i = 0; i < sizeof sonames / sizeof *sonames && !L->handle; i++) {
        L->handle = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        L->soname = sonames[i];
    }
    if (!L->handle)
        return failf(err, errlen, "NVRTC not found (%s): install the CUDA toolkit, or use "
                                  "--emit=cuda", sonames[0]);
    for (size_t i = 0; i < sizeof syms / sizeof *syms; i++) {
        void *f = dlsym(L->handle, syms[i].sym);
        if (!f) {
            const char *so = L->soname;
            nvrtc_close(L);
            return failf(err, errlen, "NVRTC (%s) has no %s: it is older than einc needs", so,
                         syms[i].sym);
        }
        memcpy((char *)L + syms[i].offset, &f, sizeof f);
    }
    if (L->version(&L->major, &L->minor) != 0) {
        const char *so = L->soname;
        nvrtc_close(L);
        return failf(err, errlen, "NVRTC (%s) does not report its version", so);
    }
    return 0;
}

void nvrtc_close(nvrtc_lib *L)
{
    if (L->handle)
        dlclose(L->handle);
    memset(L, 0, sizeof *L);
}

/* NVRTC's log on one line, into out[size]: each run of line breaks becomes "; ". */
static void one_line(char *out, size_t size, const char *log)
{
    size_t w = 0;
    for (const char *r = log; *r && w + 1 < size;) {
        if (*r != '\n' && *r != '\r') {
            out[w++] = *r++;
            continue;
        }
        while (*r == '\n' || *r == '\r')
            r++;
        if (*r && w && w + 3 < size) {
            out[w++] = ';';
            out[w++] = ' ';
        }
    }
    out[w] = 0;
}

/* Compiles src for arch (NULL: NVRTC's default); the cubin when cubin, else the PTX. */
static int compile(const nvrtc_lib *L, const char *src, const char *name, const char *arch,
                   int cubin, char **out, size_t *len, char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    if (!L->handle)
        return failf(err, errlen, "NVRTC is not loaded");
    nvrtc_program prog = NULL;
    nvrtc_result r = L->create(&prog, src, name, 0, NULL, NULL);
    if (r != 0)
        return failf(err, errlen, "NVRTC could not create a program: %s", L->error_string(r));
    char opt[96];
    snprintf(opt, sizeof opt, "--gpu-architecture=%s", arch ? arch : "");
    const char *opts[] = { opt };
    const char *what = cubin ? "cubin" : "PTX";
    int rc = 0;
    r = L->compile(prog, arch ? 1 : 0, opts);
    if (r != 0) {
        size_t n = 0;
        char *log = NULL, *line = NULL;
        if (L->log_size(prog, &n) == 0 && n > 1 && (log = einc_malloc(n + 1)) != NULL &&
            (line = einc_malloc(2 * n + 1)) != NULL && L->log(prog, log) == 0) {
            log[n] = 0;
            one_line(line, 2 * n + 1, log);
        } else {
            einc_free(line);
            line = NULL;
        }
        rc = failf(err, errlen, "NVRTC could not compile %s%s%s: %s%s%s",
                   name ? name : "the kernels", arch ? " for " : "", arch ? arch : "",
                   L->error_string(r), line ? ": " : "", line ? line : "");
        einc_free(line);
        einc_free(log);
    } else {
        size_t n = 0;
        /* PTX's size counts its NUL; a cubin is binary and gets one more byte, zeroed */
        if ((r = cubin ? L->cubin_size(prog, &n) : L->ptx_size(prog, &n)) != 0 || n == 0)
            rc = failf(err, errlen, "NVRTC gave no %s: %s", what, L->error_string(r));
        else if (!(*out = einc_malloc(n + 1)))
            rc = failf(err, errlen, "out of memory");
        else if ((r = cubin ? L->cubin(prog, *out) : L->ptx(prog, *out)) != 0) {
            einc_free(*out);
            *out = NULL;
            rc = failf(err, errlen, "NVRTC gave no %s: %s", what, L->error_string(r));
        } else {
            (*out)[n] = 0;
            *len = n;
        }
    }
    L->destroy(&prog);
    return rc;
}

int nvrtc_compile(const nvrtc_lib *L, const char *src, const char *name, const char *arch,
                  char **ptx_out, char *err, size_t errlen)
{
    size_t len;
    return compile(L, src, name, arch, 0, ptx_out, &len, err, errlen);
}

int nvrtc_pick_arch(const nvrtc_lib *L, int major, int minor, char *arch, size_t n)
{
    int want = major * 10 + minor, best = 0, count = 0, *list = NULL;
    if (L->handle && L->narchs(&count) == 0 && count > 0 && count < 4096 &&
        (list = einc_calloc((size_t)count, sizeof *list)) != NULL && L->archs(list) == 0)
        for (int i = 0; i < count; i++) {
            if (list[i] == want) {
                einc_free(list);
                snprintf(arch, n, "sm_%d", want);
                return 1;
            }
            if (list[i] < want && list[i] > best)
                best = list[i];
        }
    einc_free(list);
    snprintf(arch, n, "compute_%d", best ? best : want);
    return 0;
}

int nvrtc_build(const nvrtc_lib *L, const char *src, const char *name, const char *arch,
                nvrtc_image *out, char *err, size_t errlen)
{
    out->cubin = strncmp(arch, "sm_", 3) == 0;
    return compile(L, src, name, arch, out->cubin, &out->data, &out->len, err, errlen);
}

int nvrtc_ptx(const char *src, const char *name, const char *arch, char **ptx_out, char *err,
              size_t errlen)
{
    nvrtc_lib L;
    *ptx_out = NULL;
    if (nvrtc_open(&L, err, errlen) < 0)
        return -1;
    int rc = nvrtc_compile(&L, src, name, arch, ptx_out, err, errlen);
    nvrtc_close(&L);
    return rc;
}
