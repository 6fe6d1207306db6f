/*
 * c.c — loop IR → one self-contained C99 translation unit (README.md, "Emitted kernels").
 *
 *     void NAME(const float *restrict in0, const float *restrict in1, float *restrict out,
 *               int64_t i, int64_t k, int64_t j);
 *
 * Inputs first, then the output, contiguous row-major; every size that was not given
 * becomes an int64_t parameter named after its axis, in order of first appearance or the
 * caller's (cg_param_at).  A program with temporaries kept in memory takes one more
 * parameter, void *workspace, and the file defines size_t NAME_workspace(sizes) with the
 * bytes it needs (codegen.h).  The file opens with cdoc.c's comment; header_only writes the
 * matching header for C and C++ instead.  The kernel follows the schedule of lower.c
 * exactly (the JIT runs the same one).  Integer
 * arithmetic is done in unsigned types so that overflow wraps as numpy's does instead of
 * being undefined; an OpenMP pragma on the parallel loop sits inside #ifdef _OPENMP, so the
 * file compiles cleanly with -Wall -Wextra -Werror and without -fopenmp.
 */
#include "codegen.h"
#include "cdoc.h"
#include "cspell.h"
#include "strbuf.h"
#include "alloc.h"

#include <stdio.h>
#include <string.h>

typedef struct cgc {
    cspell sp;                  /* the text, the program, names of loops and sizes */
    const lp_prog *lp;
    int64_t *tile;              /* per axis: the block size of the enclosing tile loop */
    const lp_nest *nest;
    bool in_acc;                /* inside an ACC: the accumulator is the variable acc */
    bool pairwise;              /* inside a pairwise ACC (cs_pairwise_start) */
    const ir_access *store_dst; /* the STORE being emitted (memory-mode finals read it) */
} cgc;

bool is_c_keyword(const char *s)
{
    static const char *const kw[] = {
        "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
        "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
        "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch",
        "typedef", "union", "unsigned", "void", "volatile", "while", "_Bool", "_Complex",
        "_Imaginary", "acc", "out", "int64_t", "int32_t", "uint8_t", "uint32_t", "uint64_t",
        "size_t", "NULL", "INFINITY", "NAN", "main", "stream", "m", "v", "memcpy", "a_",
        "s_", "c_", "r_", "t_", "bk_", "bp_", "mb_", "me_", "k0_", "k1_", "n0_", "nw_", "m0_",
        "b0_", "b1_", "b2_", "b3_", "einc_vec",
    };
    for (size_t i = 0; i < sizeof kw / sizeof *kw; i++)
        if (strcmp(s, kw[i]) == 0)
            return true;
    return strncmp(s, "in", 2) == 0 && s[2] >= '0' && s[2] <= '9';
}

static void expr(cgc *g, const ir_expr *x)
{
    cs_expr(&g->sp, g->nest, g->in_acc, g->store_dst, x);
}

static void indent(cgc *g, int depth)
{
    sb_printf(g->sp.b, "%*s", 4 * depth, "");
}

/* lhs = lhs ⊕ v. */
static void combine(cgc *g, ir_comb comb, const char *lhs, const ir_expr *v)
{
    cs_combine(&g->sp, g->nest, g->in_acc, g->store_dst, comb, lhs, v, NULL);
}

/* The conversion of an arithmetic value to the stored type. */
static void store_value(cgc *g, const ir_access *dst, const char *text)
{
    einc_dtype t = g->sp.p->tensor[dst->tensor].dtype;
    if (t == EINC_BOOL)
        sb_printf(g->sp.b, "(uint8_t)((%s) != 0)", text);
    else if (t == g->nest->compute && (dtype_is_float(t) || dtype_is_complex(t)))
        sb_printf(g->sp.b, "%s", text);
    else
        sb_printf(g->sp.b, "(%s)(%s)", cs_host_type(t), text);
}

static void line(cgc *g, int depth, const char *text)
{
    indent(g, depth);
    sb_printf(g->sp.b, "%s\n", text);
}

/*
 * The nest's GEMM tile from the schedule (loop.h: lp_gemm_tile; LP_EMITTED_C_MACHINE when
 * the nest was not scheduled): rows in bands of MC (one per thread), b packed into KC x NR
 * panels, MR x NV-vector register tiles.  With GCC or Clang the tile is
 * written with vector extensions and named accumulators, which both keep in registers
 * (a plain array of accumulators they keep in memory, at a third of the speed); other
 * compilers get the same loops in plain C.  EINC_VL, the vector length, follows -march.
 */
/*
 * "dst += x;", or for a GEMM that writes dst (no fill before it) "dst = (k0_ ? dst : 0) +
 * x;": its first k block stores.
 */
static void gemm_add(cgc *g, const lp_node *n, const char *x)
{
    cs_access(&g->sp, n->dst);
    if (n->accumulate) {
        sb_printf(g->sp.b, " += %s;", x);
        return;
    }
    if (n->k2 >= 0)
        sb_printf(g->sp.b, " = (k0_ || %s ? ", g->sp.loopvar[n->k2]);
    else
        sb_printf(g->sp.b, " = (k0_ ? ");
    cs_access(&g->sp, n->dst);
    sb_printf(g->sp.b, " : 0) + %s;", x);
}

static lp_gemm_tile tile_of(const lp_nest *nest)
{
    return nest->sched.gemm.mr ? nest->sched.gemm : lp_gemm_tile_for(&LP_EMITTED_C_MACHINE, nest->compute);
}

/* The vector tile (EINC_VECTOR), up to the #else of the plain-C one. */
static void gemm_vector_tile(cgc *g, const lp_node *n, lp_gemm_tile t, int d)
{
    const char *T = cs_host_type(g->nest->compute);
    const char *im = g->sp.loopvar[n->m], *in = g->sp.loopvar[n->nn], *ik = g->sp.loopvar[n->k];
    sb_printf(g->sp.b, "#if EINC_VECTOR\n");
    indent(g, d + 5);
    for (int r = 0; r < t.mr; r++)
        for (int v = 0; v < t.nv; v++)
            sb_printf(g->sp.b, "einc_vec t%d%d_ = { 0 };%s", r, v, v == t.nv - 1 ? "\n" : " ");
    if (true)
        indent(g, d + 5);
    sb_printf(g->sp.b, "for (int64_t %s = k0_; %s < k1_; %s++) {\n", ik, ik, ik);
    indent(g, d + 6);
    sb_printf(g->sp.b, "const %s *bk_ = bp_ + (%s - k0_) * EINC_NR;\n", T, ik);
    indent(g, d + 6);
    sb_printf(g->sp.b, "einc_vec");
    for (int v = 0; v < t.nv; v++)
        sb_printf(g->sp.b, " b%d_%s", v, v == t.nv - 1 ? ";\n" : ",");
    for (int v = 0; v < t.nv; v++) {
        indent(g, d + 6);
        sb_printf(g->sp.b, "memcpy(&b%d_, bk_ + %d * EINC_VL, sizeof b%d_);\n", v, v, v);
    }
    for (int r = 0; r < t.mr; r++) {
        indent(g, d + 6);
        sb_printf(g->sp.b, "{ const int64_t %s = m0_ + %d; const %s a_ = ", im, r, T);
        cs_load(&g->sp, g->nest, n->a);
        sb_printf(g->sp.b, ";");
        for (int v = 0; v < t.nv; v++)
            sb_printf(g->sp.b, " t%d%d_ += a_ * b%d_;", r, v, v);
        sb_printf(g->sp.b, " }\n");
    }
    line(g, d + 5, "}");
    for (int r = 0; r < t.mr; r++)
        for (int v = 0; v < t.nv; v++) {
            indent(g, d + 5);
            sb_printf(g->sp.b, "for (int c_ = 0; c_ < EINC_VL; c_++) { const int64_t %s = m0_ + %d, %s = n0_ + %d * EINC_VL + c_; ",
                      im, r, in, v);
            char x[32];
            snprintf(x, sizeof x, "t%d%d_[c_]", r, v);
            gemm_add(g, n, x);
            sb_printf(g->sp.b, " }\n");
        }
    sb_printf(g->sp.b, "#else\n");
}

static void gemm_body(cgc *g, const lp_node *n, int depth)
{
    const lp_gemm_tile t = tile_of(g->nest);
    const char *T = cs_host_type(g->nest->compute);
    const char *M = g->sp.size[n->m], *N = g->sp.size[n->nn], *K = g->sp.size[n->k];
    const char *im = g->sp.loopvar[n->m], *in = g->sp.loopvar[n->nn], *ik = g->sp.loopvar[n->k];
    int d = depth;
    if (n->parallel)
        sb_printf(g->sp.b, "#ifdef _OPENMP\n#pragma omp parallel for\n#endif\n");
    indent(g, d);
    sb_printf(g->sp.b, "for (int64_t mb_ = 0; mb_ < %s; mb_ += %d) {\n", M, t.mc);
    indent(g, d + 1);
    sb_printf(g->sp.b, "const int64_t me_ = mb_ + %d < %s ? mb_ + %d : %s;\n", t.mc, M, t.mc, M);
    indent(g, d + 1);
    sb_printf(g->sp.b, "%s bp_[%d * EINC_NR];\n", T, t.kc);
    indent(g, d + 1);
    sb_printf(g->sp.b, "for (int64_t k0_ = 0; k0_ < %s; k0_ += %d) {\n", K, t.kc);
    indent(g, d + 2);
    sb_printf(g->sp.b, "const int64_t k1_ = k0_ + %d < %s ? k0_ + %d : %s;\n", t.kc, K, t.kc, K);
    indent(g, d + 2);
    sb_printf(g->sp.b, "for (int64_t n0_ = 0; n0_ < %s; n0_ += EINC_NR) {\n", N);
    indent(g, d + 3);
    sb_printf(g->sp.b, "const int64_t nw_ = n0_ + EINC_NR <= %s ? EINC_NR : %s - n0_;\n", N, N);
    /* pack */
    indent(g, d + 3);
    sb_printf(g->sp.b, "for (int64_t %s = k0_; %s < k1_; %s++)\n", ik, ik, ik);
    indent(g, d + 4);
    sb_printf(g->sp.b, "for (int64_t c_ = 0; c_ < nw_; c_++) {\n");
    indent(g, d + 5);
    sb_printf(g->sp.b, "const int64_t %s = n0_ + c_;\n", in);
    indent(g, d + 5);
    sb_printf(g->sp.b, "bp_[(%s - k0_) * EINC_NR + c_] = ", ik);
    cs_load(&g->sp, g->nest, n->b);   /* zero where a guarded b (padding) is outside */
    sb_printf(g->sp.b, ";\n");
    line(g, d + 4, "}");
    indent(g, d + 3);
    sb_printf(g->sp.b, "for (int64_t m0_ = mb_; m0_ < me_; m0_ += %d) {\n", t.mr);
    indent(g, d + 4);
    sb_printf(g->sp.b, "if (nw_ == EINC_NR && m0_ + %d <= me_) {\n", t.mr);
    /* the vector tile; a complex one has no vector type (its parts' is einc_vec) */
    bool cx = dtype_is_complex(g->nest->compute);
    if (!cx)
        gemm_vector_tile(g, n, t, d);
    /* the same tile in plain C */
    indent(g, d + 5);
    sb_printf(g->sp.b, "%s t_[%d][EINC_NR] = { { 0 } };\n", T, t.mr);
    indent(g, d + 5);
    sb_printf(g->sp.b, "for (int64_t %s = k0_; %s < k1_; %s++)\n", ik, ik, ik);
    indent(g, d + 6);
    sb_printf(g->sp.b, "for (int r_ = 0; r_ < %d; r_++) {\n", t.mr);
    indent(g, d + 7);
    sb_printf(g->sp.b, "const int64_t %s = m0_ + r_;\n", im);
    indent(g, d + 7);
    sb_printf(g->sp.b, "const %s a_ = ", T);
    cs_load(&g->sp, g->nest, n->a);
    sb_printf(g->sp.b, ";\n");
    indent(g, d + 7);
    sb_printf(g->sp.b, "for (int c_ = 0; c_ < EINC_NR; c_++)\n");
    indent(g, d + 8);
    sb_printf(g->sp.b, "t_[r_][c_] += a_ * bp_[(%s - k0_) * EINC_NR + c_];\n", ik);
    line(g, d + 6, "}");
    indent(g, d + 5);
    sb_printf(g->sp.b, "for (int r_ = 0; r_ < %d; r_++)\n", t.mr);
    indent(g, d + 6);
    sb_printf(g->sp.b, "for (int c_ = 0; c_ < EINC_NR; c_++) { const int64_t %s = m0_ + r_, %s = n0_ + c_; ", im, in);
    gemm_add(g, n, "t_[r_][c_]");
    sb_printf(g->sp.b, " }\n");
    if (!cx)
        sb_printf(g->sp.b, "#endif\n");
    line(g, d + 4, "} else {");
    /* edges, one element at a time */
    indent(g, d + 5);
    sb_printf(g->sp.b, "for (int64_t %s = m0_; %s < (m0_ + %d < me_ ? m0_ + %d : me_); %s++)\n", im, im, t.mr, t.mr, im);
    line(g, d + 6, "for (int64_t c_ = 0; c_ < nw_; c_++) {");
    indent(g, d + 7);
    sb_printf(g->sp.b, "const int64_t %s = n0_ + c_;\n", in);
    indent(g, d + 7);
    sb_printf(g->sp.b, "%s s_ = 0;\n", T);
    indent(g, d + 7);
    sb_printf(g->sp.b, "for (int64_t %s = k0_; %s < k1_; %s++)\n", ik, ik, ik);
    indent(g, d + 8);
    sb_printf(g->sp.b, "s_ += ");
    cs_load(&g->sp, g->nest, n->a);
    sb_printf(g->sp.b, " * bp_[(%s - k0_) * EINC_NR + c_];\n", ik);
    indent(g, d + 7);
    gemm_add(g, n, "s_");
    sb_printf(g->sp.b, "\n");
    line(g, d + 6, "}");
    line(g, d + 4, "}");
    line(g, d + 3, "}");
    line(g, d + 2, "}");
    line(g, d + 1, "}");
    line(g, d, "}");
}

/*
 * The GEMM; one that writes dst zeroes it when k is empty (it has no k block to store),
 * and one whose k runs over k2 and k together (lp_node k2) loops over k2 here, its first
 * k block storing at k2 = 0.
 */
static void gemm(cgc *g, const lp_node *n, int depth)
{
    const char *M = g->sp.size[n->m], *N = g->sp.size[n->nn], *K = g->sp.size[n->k];
    const char *im = g->sp.loopvar[n->m], *in = g->sp.loopvar[n->nn];
    if (!n->accumulate) {
        indent(g, depth);
        if (n->k2 >= 0)
            sb_printf(g->sp.b, "if (%s <= 0 || %s <= 0)\n", K, g->sp.size[n->k2]);
        else
            sb_printf(g->sp.b, "if (%s <= 0)\n", K);
        indent(g, depth + 1);
        sb_printf(g->sp.b, "for (int64_t %s = 0; %s < %s; %s++)\n", im, im, M, im);
        indent(g, depth + 2);
        sb_printf(g->sp.b, "for (int64_t %s = 0; %s < %s; %s++) ", in, in, N, in);
        cs_access(&g->sp, n->dst);
        sb_printf(g->sp.b, " = 0;\n");
    }
    if (n->k2 < 0) {
        gemm_body(g, n, depth);
        return;
    }
    const char *ik2 = g->sp.loopvar[n->k2];
    indent(g, depth);
    sb_printf(g->sp.b, "for (int64_t %s = 0; %s < %s; %s++) {\n", ik2, ik2, g->sp.size[n->k2], ik2);
    gemm_body(g, n, depth + 1);
    line(g, depth, "}");
}

/* The vector type and tile width the GEMM tile uses, chosen by the compiler's target. */
static void gemm_prelude(cgc *g, einc_dtype t, int nv)
{
    if (dtype_is_complex(t))    /* its tile is plain C: einc_vec only sizes EINC_NR */
        t = t == EINC_C64 ? EINC_F32 : EINC_F64;
    const char *T = cs_host_type(t);
    int es = t == EINC_F64 ? 8 : 4;
    sb_printf(g->sp.b,
              "#include <string.h>\n\n"
              "#if defined(__GNUC__) && defined(__AVX512F__)\n"
              "#define EINC_VL %d\n"
              "#elif defined(__GNUC__) && !defined(__AVX__)\n"
              "#define EINC_VL %d   /* SSE: wider vectors would be split in pairs and spill */\n"
              "#else\n"
              "#define EINC_VL %d\n"
              "#endif\n"
              "#define EINC_NR (%d * EINC_VL)\n"
              "/* fused multiply-adds in the tile even under -std=c99, which turns contraction off */\n"
              "#if defined(__clang__)\n"
              "#pragma STDC FP_CONTRACT ON\n"
              "#define EINC_CONTRACT\n"
              "#elif defined(__GNUC__)\n"
              "#define EINC_CONTRACT __attribute__((optimize(\"fp-contract=fast\")))\n"
              "#else\n"
              "#define EINC_CONTRACT\n"
              "#endif\n"
              "#ifndef EINC_VECTOR   /* -DEINC_VECTOR=0 selects the plain-C tile */\n"
              "#if defined(__GNUC__)\n"
              "#define EINC_VECTOR 1\n"
              "#else\n"
              "#define EINC_VECTOR 0\n"
              "#endif\n"
              "#endif\n"
              "#if EINC_VECTOR\n"
              "typedef %s einc_vec __attribute__((vector_size(EINC_VL * %d)));\n"
              "#endif\n\n",
              64 / es, 16 / es, 32 / es, nv, T, es);
}

static bool has_gemm(const lp_node *n)
{
    if (n->op == LP_GEMM)
        return true;
    for (int i = 0; i < n->n; i++)
        if (has_gemm(n->body[i]))
            return true;
    return false;
}

static void node(cgc *g, const lp_node *n, int depth)
{
    switch (n->op) {
    case LP_LOOP: {
        const char *v = g->sp.loopvar[n->axis];
        if (n->parallel) {
            indent(g, 0);
            sb_printf(g->sp.b, "#ifdef _OPENMP\n#pragma omp parallel for\n#endif\n");
        }
        indent(g, depth);
        if (n->tile) {
            g->tile[n->axis] = n->tile;
            sb_printf(g->sp.b, "for (int64_t blk%d_ = 0; blk%d_ < %s; blk%d_ += %lld) {\n", n->axis,
                      n->axis, g->sp.size[n->axis], n->axis, (long long)n->tile);
        } else if (n->blocked) {
            sb_printf(g->sp.b, "for (int64_t %s = blk%d_; %s < (blk%d_ + %lld < %s ? blk%d_ + %lld : %s); %s++) {\n",
                      v, n->axis, v, n->axis, (long long)g->tile[n->axis], g->sp.size[n->axis], n->axis,
                      (long long)g->tile[n->axis], g->sp.size[n->axis], v);
        } else {
            sb_printf(g->sp.b, "for (int64_t %s = 0; %s < %s; %s++) {\n", v, v, g->sp.size[n->axis], v);
        }
        for (int i = 0; i < n->n; i++)
            node(g, n->body[i], depth + 1);
        indent(g, depth);
        sb_printf(g->sp.b, "}\n");
        return;
    }
    case LP_ACC: {
        indent(g, depth);
        sb_printf(g->sp.b, "{\n");
        indent(g, depth + 1);
        cs_acc_start(&g->sp, g->nest, n);
        if (n->pairwise) {
            indent(g, depth + 1);
            cs_pairwise_start(&g->sp, g->nest);
            sb_printf(g->sp.b, "\n");
        }
        for (int i = 0; i < n->n; i++) {
            g->in_acc = true;
            g->pairwise = n->pairwise;
            node(g, n->body[i], depth + 1);
        }
        g->pairwise = false;
        if (n->pairwise) {
            indent(g, depth + 1);
            cs_pairwise_end(&g->sp);
            sb_printf(g->sp.b, "\n");
        }
        indent(g, depth + 1);
        cs_access(&g->sp, n->dst);
        sb_printf(g->sp.b, " = ");
        if (n->final) {
            strbuf tmp = { 0 };
            strbuf *outer = g->sp.b;
            g->sp.b = &tmp;
            expr(g, n->final);
            g->sp.b = outer;
            char *s = sb_finish(&tmp);
            store_value(g, n->dst, s ? s : "0");
            einc_free(s);
        } else {
            store_value(g, n->dst, "acc");
        }
        g->in_acc = false;
        sb_printf(g->sp.b, ";\n");
        indent(g, depth);
        sb_printf(g->sp.b, "}\n");
        return;
    }
    case LP_UPDATE: {
        indent(g, depth);
        combine(g, n->comb, "acc", n->value);
        sb_printf(g->sp.b, ";");
        if (g->pairwise) {
            sb_printf(g->sp.b, "\n");
            indent(g, depth);
            cs_pairwise_step(&g->sp, g->nest);
        }
        sb_printf(g->sp.b, "\n");
        return;
    }
    case LP_GEMM:
        gemm(g, n, depth);
        return;
    case LP_STORE: {
        g->store_dst = n->dst;
        indent(g, depth);
        if (!n->value || n->comb == IR_COMB_ASSIGN) {
            cs_access(&g->sp, n->dst);
            sb_printf(g->sp.b, " = ");
            strbuf tmp = { 0 };
            strbuf *outer = g->sp.b;
            g->sp.b = &tmp;
            if (n->value)
                expr(g, n->value);
            else    /* a fill: a narrow integer's own extreme for max/min */
                cs_identity_in(&g->sp, g->nest, n->comb, g->sp.p->tensor[n->dst->tensor].dtype);
            g->sp.b = outer;
            char *s = sb_finish(&tmp);
            store_value(g, n->dst, s ? s : "0");
            einc_free(s);
            sb_printf(g->sp.b, ";\n");
            return;
        }
        einc_dtype dt = g->sp.p->tensor[n->dst->tensor].dtype;
        if (dt == g->nest->compute && (dtype_is_float(dt) || dtype_is_complex(dt)) &&
            (n->comb == IR_COMB_SUM || n->comb == IR_COMB_PROD)) {
            cs_access(&g->sp, n->dst);
            sb_printf(g->sp.b, " %s ", n->comb == IR_COMB_SUM ? "+=" : "*=");
            expr(g, n->value);
            sb_printf(g->sp.b, ";\n");
            return;
        }
        /* dst ⊕= value, through a local in the arithmetic type */
        sb_printf(g->sp.b, "{ %s m = (%s)", cs_arith_type(&g->sp, g->nest->compute), cs_arith_type(&g->sp, g->nest->compute));
        cs_access(&g->sp, n->dst);
        sb_printf(g->sp.b, "; ");
        combine(g, n->comb, "m", n->value);
        sb_printf(g->sp.b, "; ");
        cs_access(&g->sp, n->dst);
        sb_printf(g->sp.b, " = ");
        store_value(g, n->dst, "m");
        sb_printf(g->sp.b, "; }\n");
        return;
    }
    }
}

/* The prototype, without ';'; restrict is spelled restrict_kw (the header's is a macro). */
static void params(cgc *g, const char *name, const char *restrict_kw)
{
    const ir_prog *p = g->sp.p;
    sb_printf(g->sp.b, "void %s(", name);
    for (int t = 0; t < p->ntensor; t++) {
        const ir_tensor *T = &p->tensor[t];
        if (T->role == IR_TEMP)
            continue;
        sb_printf(g->sp.b, "%s%s%s *%s %s", t ? ", " : "", T->role == IR_INPUT ? "const " : "",
                  cs_host_type(T->dtype), restrict_kw, T->name);
    }
    for (int i = 0, a; (a = cg_param_at(g->lp, i)) >= 0; i++)
        sb_printf(g->sp.b, ", int64_t %s", g->sp.size[a]);
    if (g->sp.nstored)
        sb_printf(g->sp.b, ", void *workspace");
    sb_printf(g->sp.b, ")");
}

/*
 * NAME.h: the prototypes for C and C++.  restrict is a macro, since C++ has no such keyword
 * (compilers spell it __restrict); a restrict on a parameter is no part of the function's
 * type, so the header and the C file's definition agree whatever it expands to.  The guard
 * is NAME in capitals with _H, underscores squeezed and leading ones dropped, so "_k" or
 * "a__b" give no identifier reserved to the implementation.
 */
static void header(cgc *g, const cg_opts *o)
{
    strbuf *b = g->sp.b;
    char guard[300];
    size_t n = 0;
    if (!((o->name[0] >= 'a' && o->name[0] <= 'z') || (o->name[0] >= 'A' && o->name[0] <= 'Z')))
        n += (size_t)snprintf(guard, sizeof guard, "EINC_");
    for (const char *c = o->name; *c && n + 3 < sizeof guard; c++) {
        if (*c == '_' && (n == 0 || guard[n - 1] == '_'))
            continue;
        guard[n++] = *c >= 'a' && *c <= 'z' ? (char)(*c - 'a' + 'A') : *c;
    }
    snprintf(guard + n, sizeof guard - n, "%s", n && guard[n - 1] == '_' ? "H" : "_H");
    cd_open(&g->sp, o->name, o->source, CD_C);
    cd_path(&g->sp);
    sb_printf(b, " */\n#ifndef %s\n#define %s\n\n%s#include <stdint.h>\n\n", guard, guard,
              g->sp.nstored ? "#include <stddef.h>\n" : "");
    sb_printf(b, "#ifndef EINC_RESTRICT\n"
                 "#if defined(__cplusplus)\n"
                 "#define EINC_RESTRICT __restrict\n"
                 "#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 199901L\n"
                 "#define EINC_RESTRICT restrict\n"
                 "#else\n"
                 "#define EINC_RESTRICT\n"
                 "#endif\n"
                 "#endif\n\n"
                 "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    params(g, o->name, "EINC_RESTRICT");
    sb_printf(b, ";\n");
    if (g->sp.nstored)
        cs_workspace_fn(&g->sp, "", o->name, true);
    sb_printf(b, "\n#ifdef __cplusplus\n}\n#endif\n\n#endif /* %s */\n", guard);
}

char *cg_c(cc *c, const lp_prog *lp, const cg_opts *o)
{
    strbuf b = { 0 };
    cgc g = { .sp = { .b = &b, .p = lp->ir, .lp = lp, .int_suffix = "", .u32 = "uint32_t",
                      .u64 = "uint64_t", .i32 = "int32_t", .i64 = "int64_t", .inf_f = "INFINITY",
                      .inf_d = "INFINITY", .nan_f = "NAN", .nan_d = "NAN", .fn = "static inline",
                      .tmp = "v" },
              .lp = lp };
    const ir_prog *p = lp->ir;
    if (cs_name_axes(c, &g.sp, is_c_keyword) < 0)
        return NULL;
    if (!(g.tile = ARENA_ARRAY(c->A, int64_t, p->naxis + 1)))
        return cc_nomem(c), NULL;
    if (cg_check(c, lp, true) < 0)
        return NULL;
    if (o->header_only) {
        header(&g, o);
        char *s = sb_finish(&b);
        if (!s)
            cc_nomem(c);
        return s;
    }
    cd_open(&g.sp, o->name, o->source, CD_C);
    cd_path(&g.sp);
    sb_printf(&b, " * The parallel loops run on OpenMP's threads when built with -fopenmp, else on the\n"
                  " * caller's alone.\n */\n#include <math.h>\n%s#include <stdint.h>\n",
              g.sp.nstored ? "#include <stddef.h>\n" : "");
    bool gemm_used = false;
    for (int i = 0; i < lp->nnest && !gemm_used; i++)
        if (has_gemm(lp->nest[i].root)) {
            g.nest = &lp->nest[i];
            gemm_prelude(&g, lp->nest[i].compute, tile_of(&lp->nest[i]).nv);
            gemm_used = true;
        }
    if (g.sp.helpers) {
        sb_printf(&b, "\n");
        cs_helpers(&g.sp);
    }
    if (g.sp.nstored) {
        sb_printf(&b, "\n");
        cs_workspace_fn(&g.sp, "", o->name, false);
    }
    sb_printf(&b, "\n%s", gemm_used ? "EINC_CONTRACT " : "");
    params(&g, o->name, "restrict");
    sb_printf(&b, "\n{\n");
    if (g.sp.nstored)
        cs_workspace_locals(&g.sp, 1, "restrict ");
    for (int i = 0; i < lp->nnest; i++) {
        g.nest = &lp->nest[i];
        node(&g, g.nest->root, 1);
    }
    sb_printf(&b, "}\n");
    char *s = sb_finish(&b);
    if (!s)
        cc_nomem(c);
    if (c->failed) {            /* cspell.c met an impossible case */
        einc_free(s);
        return NULL;
    }
    return s;
}
