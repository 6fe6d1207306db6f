/*
 * fuzz_expr.c — libFuzzer harness for the index-notation front end and everything that
 * consumes its IR without LLVM: parse, bind (symbolic and with shapes), lower for CPU and
 * GPU, emit C and CUDA, and interpret when the shapes are small.
 *
 * Input layout: byte 0 picks the reduction and dtype, bytes 1..16 encode up to four operand
 * shapes (rank and dims 0..4), the rest is the expression.  Any crash, leak, sanitizer
 * report or hang is a finding; errors are the expected outcome for most inputs.
 */
#include "alloc.h"
#include "codegen.h"
#include "loop.h"

#include <stdlib.h>
#include <string.h>

static void consume(const lp_prog *lp, cc *c)
{
    cg_opts o = { "k", c->src, false };
    einc_free(cg_c(c, lp, &o));
    o.header_only = true;
    einc_free(cg_c(c, lp, &o));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 17 || size > 4096)
        return 0;
    einc_error err = { 0 };
    arena A = { 0 };
    char *src = malloc(size - 17 + 1);
    memcpy(src, data + 17, size - 17);
    src[size - 17] = 0;
    cc c = { .A = &A, .src = src, .err = &err };
    static const einc_size sizes[2] = { { "h", 2 }, { "r", 3 } };
    bind_opts bo = { .reduce = (einc_reduce)(data[0] % EINC_REDUCE_COUNT), .dtype = EINC_F32,
                     .ellipsis_rank = data[0] & 0x40 ? 1 : 0, .nsizes = data[0] & 0x80 ? 2 : 0, .sizes = sizes };
    ast_expr *e = parse_expr(&c);
    if (!e)
        goto done;
    ir_prog *p = bind_expr(&c, e, &bo, 0, NULL);
    if (p) {
        einc_free(ir_print(p));
        lp_prog *lp = lower(&c, p, LP_CPU, NULL);
        if (lp) {
            einc_free(lp_print(lp));
            consume(lp, &c);
        }
        cc c2 = { .A = &A, .src = src, .err = &err };
        lp = lower(&c2, p, LP_GPU, NULL);
        if (lp) {
            cg_opts o = { "k", src, false };
            einc_free(cg_cuda(&c2, lp, &o));
            einc_free(cg_cuda_kernels(&c2, lp, &o));
        }
    }
    /* the same with shapes, interpreted when small */
    int n = e->nin < 4 ? e->nin : 4;
    einc_tensor t[4];
    int64_t shape[4][4];
    static const einc_dtype dts[] = { EINC_F32, EINC_F64, EINC_I32, EINC_I64, EINC_BOOL };
    for (int i = 0; i < n; i++) {
        const uint8_t *q = data + 1 + 4 * i;
        int nd = q[0] % 5;
        for (int d = 0; d < nd && d < 4; d++)
            shape[i][d] = q[d] % 5;
        t[i] = (einc_tensor){ dts[(data[0] >> 3) % 5], nd > 4 ? 4 : nd, shape[i], NULL, NULL };
        if (t[i].ndim == 4)
            shape[i][3] = q[3] % 5;
    }
    if (n != e->nin)
        goto done;
    cc c3 = { .A = &A, .src = src, .err = &err };
    p = bind_expr(&c3, e, &bo, n, t);
    if (!p || !p->bound)
        goto done;
    int64_t space = 1;
    for (int a = 0; a < p->naxis && space <= 20000; a++) {
        int64_t s = p->axis[a].size > 0 ? p->axis[a].size : 1;
        space = s > 20000 ? 20001 : space * s;   /* both at most 20000: no overflow */
    }
    if (space > 20000)
        goto done;
    void *buf[8] = { 0 };
    for (int i = 0; i < p->ntensor && i < 8; i++) {
        int64_t el = ir_tensor_elems(p, &p->tensor[i]);
        if (p->tensor[i].role != IR_TEMP)
            buf[i] = calloc((size_t)(el > 0 ? el : 1), 8);
    }
    if (p->ntensor <= 8)
        interp_run(&c3, p, buf, NULL);
    /* the contraction path rewrite, and the schedule of its result */
    double naive, opt, largest;
    if (path_optimize(&c3, p, data[16] % 3 == 0 ? 64 : 0, &naive, &opt, &largest)) {
        lp_prog *lp = lower(&c3, p, LP_CPU, NULL);
        if (lp)
            einc_free(lp_print(lp));
    }
    for (int i = 0; i < 8; i++)
        free(buf[i]);
done:
    arena_free(&A);
    free(src);
    return 0;
}
