/*
 * ptx_check.h — static checks of CUDA kernels with no GPU, for tests (test_ptx.c and any
 * test of another kind of kernel): NVRTC compiles a kernel text for sm_90 with
 * `-Xptxas=-v`, which puts ptxas' report per entry (registers, spills, stack, shared
 * memory, barriers) in the program's log, and keeps the PTX for its structure.
 *
 * Each test makes its own kernel text (cg_cuda_kernels); then
 *   ptx_build_src                  compiles; 0, 1 when NVRTC cannot be loaded (skip), -1
 *                                  with NVRTC's log in msg (ptx_build_arch: for another
 *                                  architecture than sm_90);
 *   ptx_find                       one entry's report;
 *   ptx_body                       one entry's PTX (from ".entry NAME(" to the next entry);
 *   ptx_assert_lean                no spills, registers within 65536 / block threads and
 *                                  static shared memory within 48 KiB.
 * Header-only (static inline functions) so that each test executable includes it as it is.
 */
#ifndef EINC_TESTS_PTX_CHECK_H
#define EINC_TESTS_PTX_CHECK_H

#include "nvrtc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PTX_MAXENTRY = 32 };

typedef struct ptx_entry {
    char name[96];
    int regs, spill_stores, spill_loads, stack, smem, barriers;
} ptx_entry;

typedef struct ptx_build {
    char *ptx;                  /* NUL-terminated, malloc'ed */
    char *log;                  /* ptxas' report, malloc'ed */
    int n;
    ptx_entry e[PTX_MAXENTRY];
} ptx_build;

static inline int ptx_number_before(const char *line, const char *what)
{
    const char *w = strstr(line, what);
    if (!w)
        return 0;
    while (w > line && w[-1] == ' ')
        w--;
    while (w > line && w[-1] >= '0' && w[-1] <= '9')
        w--;
    return atoi(w);
}

/* Reads ptxas' -v report: per entry, "Compiling entry function 'NAME'", then its lines. */
static inline void ptx_parse_log(ptx_build *b)
{
    ptx_entry *cur = NULL;
    for (const char *l = b->log; l && *l;) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line - 1 ? len : sizeof line - 1), l);
        const char *q = strstr(line, "Compiling entry function '");
        if (q && b->n < PTX_MAXENTRY) {
            cur = &b->e[b->n++];
            memset(cur, 0, sizeof *cur);
            q += strlen("Compiling entry function '");
            snprintf(cur->name, sizeof cur->name, "%.*s", (int)strcspn(q, "'"), q);
        } else if (cur) {
            if (strstr(line, "spill stores")) {
                cur->stack = ptx_number_before(line, " bytes stack frame");
                cur->spill_stores = ptx_number_before(line, " bytes spill stores");
                cur->spill_loads = ptx_number_before(line, " bytes spill loads");
            }
            if (strstr(line, "Used ")) {
                cur->regs = atoi(strstr(line, "Used ") + 5);
                cur->smem = ptx_number_before(line, " bytes smem");
                cur->barriers = ptx_number_before(line, " barriers");
            }
        }
        l = end ? end + 1 : l + len;
    }
}

/* As ptx_build_src, for the architecture arch ("sm_80", "sm_90"). */
static inline int ptx_build_arch(const char *src, const char *arch, ptx_build *b, char *msg, size_t n)
{
    memset(b, 0, sizeof *b);
    nvrtc_lib L;
    if (nvrtc_open(&L, msg, n) < 0)
        return 1;
    nvrtc_program prog = NULL;
    char gpu[64];
    snprintf(gpu, sizeof gpu, "--gpu-architecture=%s", arch);
    const char *opts[] = { gpu, "-Xptxas=-v" };
    int rc = -1;
    size_t sz = 0;
    nvrtc_result r = L.create(&prog, src, "einc.cu", 0, NULL, NULL);
    nvrtc_result cr = r ? r : L.compile(prog, 2, opts);
    if (!r && !L.log_size(prog, &sz) && (b->log = calloc(1, sz + 1)))
        L.log(prog, b->log);
    if (cr) {
        snprintf(msg, n, "NVRTC: %s: %s", L.error_string(cr), b->log ? b->log : "");
        goto out;
    }
    if (L.ptx_size(prog, &sz) || !(b->ptx = calloc(1, sz + 1)) || L.ptx(prog, b->ptx)) {
        snprintf(msg, n, "NVRTC gives no PTX for %s", arch);
        goto out;
    }
    ptx_parse_log(b);
    rc = 0;
out:
    if (prog)
        L.destroy(&prog);
    nvrtc_close(&L);
    return rc;
}

static inline int ptx_build_src(const char *src, ptx_build *b, char *msg, size_t n)
{
    return ptx_build_arch(src, "sm_90", b, msg, n);
}

static inline void ptx_build_free(ptx_build *b)
{
    free(b->ptx);
    free(b->log);
    memset(b, 0, sizeof *b);
}

static inline const ptx_entry *ptx_find(const ptx_build *b, const char *name)
{
    for (int i = 0; i < b->n; i++)
        if (strcmp(b->e[i].name, name) == 0)
            return &b->e[i];
    return NULL;
}

/* The PTX of entry name, malloc'ed, or NULL when there is none. */
static inline char *ptx_body(const ptx_build *b, const char *name)
{
    char head[128];
    snprintf(head, sizeof head, ".entry %s(", name);
    const char *s = strstr(b->ptx, head);
    if (!s)
        return NULL;
    const char *e = strstr(s + 1, ".entry ");
    size_t len = e ? (size_t)(e - s) : strlen(s);
    char *t = malloc(len + 1);
    if (t) {
        memcpy(t, s, len);
        t[len] = 0;
    }
    return t;
}

/* "" when entry name is lean for blocks of `threads`, else why not (into why). */
static inline const char *ptx_lean(const ptx_build *b, const char *name, int threads, char *why, size_t n)
{
    const ptx_entry *e = ptx_find(b, name);
    if (!e)
        snprintf(why, n, "ptxas reports nothing for %s", name);
    else if (e->spill_stores || e->spill_loads)
        snprintf(why, n, "%s spills: %d bytes stored, %d loaded", name, e->spill_stores, e->spill_loads);
    else if (e->regs < 1 || e->regs > 65536 / threads || e->regs > 255)
        snprintf(why, n, "%s uses %d registers, more than %d threads a block may", name, e->regs, threads);
    else if (e->smem > 48 << 10)
        snprintf(why, n, "%s has %d bytes of static shared memory, more than 48 KiB", name, e->smem);
    else
        snprintf(why, n, "%s", "");
    return why;
}

#endif
