/*
 * fuzz_einl.c — libFuzzer harness for the layer language: parse a model, elaborate it with
 * every size bound to a small number (byte 0 picks it), lower it for CPU and GPU, emit C
 * and CUDA, and interpret it on zeros when the work is small.  Any crash, leak, sanitizer
 * report or hang is a finding, and so is an expression deeper than the IR allows
 * (IR_MAX_EXPR_DEPTH: every walker after elaboration recurses on it); errors are the
 * expected outcome for most inputs.  Seeds: the example models and fuzz/regressions/einl-*
 * (long sums and chains, nesting at and past the parser's limits, a byte order mark).
 */
#include "alloc.h"
#include "codegen.h"
#include "einl.h"
#include "loop.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 8192)
        return 0;
    einc_error err = { 0 };
    arena A = { 0 };
    char *src = malloc(size);
    memcpy(src, data + 1, size - 1);
    src[size - 1] = 0;
    cc c = { .A = &A, .src = src, .err = &err };
    el_model *m = einl_parse(&c);
    if (!m)
        goto done;
    /* every declared size name gets the same small value */
    int nin = einl_ninputs(m), ns = 0;
    einc_size *sz = ARENA_ARRAY(&A, einc_size, 64);
    for (int i = 0; sz && i < nin; i++) {
        const el_item *it = einl_input(m, i);
        for (int d = 0; d < it->ndim && ns < 64; d++) {
            bool seen = !it->dim[d].name;
            for (int k = 0; k < ns && !seen; k++)
                seen = strcmp(sz[k].name, it->dim[d].name) == 0;
            if (!seen)
                sz[ns++] = (einc_size){ it->dim[d].name, 1 + data[0] % 4 };
        }
    }
    ir_prog *p = sz ? einl_elaborate(&c, m, ns, sz, 0, NULL) : NULL;
    if (!p)
        goto done;
    for (int s = 0; s < p->nstmt; s++)
        if (ir_expr_depth(p->stmt[s].rhs) > IR_MAX_EXPR_DEPTH)
            abort();
    einc_free(ir_print(p));
    lp_prog *lp = lower(&c, p, LP_CPU, NULL);
    if (lp) {
        cg_opts o = { "k", src, false };
        einc_free(lp_print(lp));
        einc_free(cg_c(&c, lp, &o));
    }
    cc c2 = { .A = &A, .src = src, .err = &err };
    lp = lower(&c2, p, LP_GPU, NULL);
    if (lp) {
        cg_opts o = { "k", src, false };
        einc_free(cg_cuda(&c2, lp, &o));
        einc_free(cg_cuda_kernels(&c2, lp, &o));
    }
    /* interpret on zeros (labels 0 are in range) when the iteration space is small */
    int64_t work = 0;
    for (int s = 0; s < p->nstmt; s++) {
        int64_t n = 1;
        for (int i = 0; i < p->stmt[s].nfree + p->stmt[s].nred && n <= 100000; i++) {
            int a = i < p->stmt[s].nfree ? p->stmt[s].free[i] : p->stmt[s].red[i - p->stmt[s].nfree];
            n *= p->axis[a].size > 0 ? p->axis[a].size : 1;
        }
        work += n;
    }
    if (work > 100000)
        goto done;
    void **buf = ARENA_ARRAY(&A, void *, p->ntensor + 1);
    bool ok = buf != NULL;
    for (int t = 0; ok && t < p->ntensor; t++) {
        if (p->tensor[t].role == IR_TEMP)
            continue;
        int64_t n = ir_tensor_elems(p, &p->tensor[t]);
        buf[t] = arena_alloc(&A, (size_t)(n > 0 ? n : 1) * dtype_size(p->tensor[t].dtype));
        ok = buf[t] != NULL;
    }
    cc c3 = { .A = &A, .src = src, .err = &err };
    if (ok)
        interp_run(&c3, p, buf, NULL);
done:
    arena_free(&A);
    free(src);
    return 0;
}
