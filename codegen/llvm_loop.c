/*
 * llvm_loop.c — statements and loops: counted loops, loop-invariant hoisting, coalesced
 * axes, pairwise sums, ACC nodes, and node, which sends a loop to the transposes
 * (llvm_transpose.c) or the direct convolution (llvm_conv.c) when they recognise it, and
 * a GEMM to llvm_gemm.c.
 */
#include "llvm_int.h"

LLVMValueRef cgl_loop_begin(cgl *g, cloop *L, LLVMValueRef start, LLVMValueRef end, const char *name)
{
    L->pre = LLVMGetInsertBlock(g->b);
    L->start = start;
    L->head = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "loop");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "body");
    L->exit = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "exit");
    LLVMBuildBr(g->b, L->head);
    LLVMPositionBuilderAtEnd(g->b, L->head);
    L->iv = LLVMBuildPhi(g->b, g->i64, name);
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, L->iv, end, ""), body, L->exit);
    LLVMPositionBuilderAtEnd(g->b, body);
    return L->iv;
}

void cgl_loop_end(cgl *g, cloop *L, int64_t step)
{
    LLVMValueRef next = LLVMBuildAdd(g->b, L->iv, ci64(g, step), "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
    LLVMBuildBr(g->b, L->head);
    LLVMValueRef in_v[2] = { L->start, next };
    LLVMBasicBlockRef in_b[2] = { L->pre, latch };
    LLVMAddIncoming(L->iv, in_v, in_b, 2);
    LLVMPositionBuilderAtEnd(g->b, L->exit);
}

/* Does x use axis ax, or read a tensor the loop body bd[0..nb) writes (or the accumulator)? */
static bool variant(const cgl *g, const ir_expr *x, int ax, lp_node *const *bd, int nb)
{
    if (!x)
        return false;
    if (x->op == IR_AXIS)
        return x->axis == ax;
    if (x->op != IR_ACCESS)
        return variant(g, x->a, ax, bd, nb) || variant(g, x->b, ax, bd, nb);
    if (g->lp->acc[x->acc.tensor])
        return true;
    for (int i = 0; i < nb; i++)
        if (bd[i]->dst->tensor == x->acc.tensor)
            return true;
    return ir_access_uses(&x->acc, ax);
}

/* Collects the largest invariant subexpressions of x that do some arithmetic. */
static void find_invariants(cgl *g, const ir_expr *x, int ax, lp_node *const *bd, int nb, int cap)
{
    if (!x || x->op == IR_ACCESS || x->op == IR_CONST || x->op == IR_SIZE || x->op == IR_AXIS)
        return;
    if (!variant(g, x, ax, bd, nb)) {
        if (g->nhoisted < cap)
            g->hoisted[g->nhoisted++] = x;
        return;
    }
    find_invariants(g, x->a, ax, bd, nb, cap);
    find_invariants(g, x->b, ax, bd, nb, cap);
}

/*
 * Loop-invariant code motion on the IR: in an innermost loop of stores, each subexpression
 * that neither uses the loop's axis nor reads what the loop writes (a batch norm's scale
 * rsqrt(var + eps)·gamma and shift, in a convolution's epilogue) is computed once before
 * the loop.  LLVM cannot hoist it itself: it does not know that the tensors do not alias.
 * Inner loops only, so every axis such an expression uses is bound and in range.
 */
static void hoist(cgl *g, const lp_node *n)
{
    enum { MAX_HOISTED = 16 };
    g->nhoisted = 0;
    for (int i = 0; i < n->n; i++)
        if (n->body[i]->op != LP_STORE || n->tile || n->blocked)
            return;
    g->hoisted = ARENA_ARRAY(g->c->A, const ir_expr *, MAX_HOISTED);
    g->hoisted_v = ARENA_ARRAY(g->c->A, LLVMValueRef, MAX_HOISTED);
    if (!g->hoisted || !g->hoisted_v)
        return;
    for (int i = 0; i < n->n; i++)
        find_invariants(g, n->body[i]->value, n->axis, n->body, n->n, MAX_HOISTED);
    /* a hoisted value is computed for one stored type (cgl_wrap): the stores must share it */
    for (int i = 1; i < n->n; i++)
        if (g->p->tensor[n->body[i]->dst->tensor].dtype != g->p->tensor[n->body[0]->dst->tensor].dtype)
            g->nhoisted = 0;
    g->wrap = g->p->tensor[n->body[0]->dst->tensor].dtype;
    int k = g->nhoisted;
    g->nhoisted = 0;            /* cgl_expr() must compute them, not look them up */
    for (int i = 0; i < k; i++) {
        g->hoisted_v[i] = cgl_expr(g, g->hoisted[i]);
        g->nhoisted = i + 1;
    }
}

static void loop_plain(cgl *g, const lp_node *n, bool outermost);

/*
 * A loop: a transpose's tile or a direct convolution where the nest's schedule names them
 * (llvm_transpose.c: square_match, llvm_conv.c: conv_match), else plain loops.
 */
static void loop(cgl *g, const lp_node *n, bool outermost)
{
    if (!cgl_transpose_block(g, n) && !cgl_conv_site(g, n))
        loop_plain(g, n, outermost);
}

/*
 * The axis w that loop n's axis h runs together with (as numpy's nditer coalesces), or -1:
 * the schedule's pair (h, w) (lp_sched.pair, compiler/passes/schedule.c: copy_pairs).  The shape
 * the addressing relies on is checked again, so that a pair that does not fit this tree
 * runs as plain loops: n's nest is a chain of loops around one copy, out[..] = in[..],
 * with a loop over w inside n, and in both arrays h and w index two dimensions one after
 * the other, alone.  *ok: whether both are contiguous across the two, as the kernel runs
 * (only known then); where they are, h = 0 and w over [0, H W) address every element that
 * h, w did.
 */
static int coalesce_axis(cgl *g, const lp_node *n, LLVMValueRef *ok)
{
    const lp_sched *sc = &g->nest->sched;
    const lp_node *s = n;
    int h = n->axis, w = -1, dh[2];
    for (int i = 0; i < sc->npair && w < 0; i++)
        if (sc->pair[i][0] == h)
            w = sc->pair[i][1];
    if (w < 0)
        return -1;
    while (s->op == LP_LOOP && s->n == 1)
        s = s->body[0];
    if (s->op != LP_STORE || s->comb != IR_COMB_ASSIGN || !s->value || s->value->op != IR_ACCESS || s->value->acc.guard)
        return -1;
    const ir_access *acc[2] = { s->dst, &s->value->acc };
    for (int i = 0; i < 2; i++) {
        dh[i] = ir_sole_dim(acc[i], h);
        if (dh[i] < 0 || dh[i] + 1 >= acc[i]->ndim || ir_dim_axis(&acc[i]->dim[dh[i] + 1]) != w ||
            ir_sole_dim(acc[i], w) != dh[i] + 1)
            return -1;
    }
    for (s = n->body[0]; s->op == LP_LOOP && s->axis != w; s = s->body[0])
        ;
    if (s->op != LP_LOOP)
        return -1;
    *ok = LLVMConstInt(g->i1, 1, 0);
    for (int i = 0; i < 2; i++) {
        LLVMValueRef *st = g->stride[acc[i]->tensor];
        *ok = LLVMBuildAnd(g->b, *ok, LLVMBuildICmp(g->b, LLVMIntEQ, st[dh[i]],
                                                    LLVMBuildMul(g->b, g->size[w], st[dh[i] + 1], ""), ""), "");
    }
    return w;
}

static bool pairwise_loop(cgl *g, const lp_node *n, LLVMValueRef start, LLVMValueRef end);

static void loop_plain(cgl *g, const lp_node *n, bool outermost)
{
    /*
     * A rearrange's h that runs together with w (coalesce_axis): one turn of h, and w over
     * H W, so that a transpose's tiles along w are H W long, not W ('b c h w -> b h w c'
     * with 7 x 7 images: squares 49 rows long, not 7).  size(h) size(w) stays the same.
     */
    LLVMValueRef ok = NULL;
    int w = !n->tile && !n->blocked && !(outermost && n->parallel) ? coalesce_axis(g, n, &ok) : -1;
    LLVMValueRef size_h = g->size[n->axis], size_w = w >= 0 ? g->size[w] : NULL;
    if (w >= 0) {
        g->size[w] = LLVMBuildSelect(g->b, ok, LLVMBuildMul(g->b, size_h, size_w, ""), size_w, "");
        g->size[n->axis] = LLVMBuildSelect(g->b, ok, ci64(g, 1), size_h, "");
    }
    LLVMValueRef start = ci64(g, 0), end = g->size[n->axis];
    if (outermost && n->parallel) {
        start = g->lo;
        end = g->hi;
    }
    if (n->blocked) {   /* inside the block loop of the same axis */
        start = g->blk[n->axis];
        end = smin(g, LLVMBuildAdd(g->b, start, ci64(g, g->tile[n->axis]), ""), g->blk_end[n->axis]);
        if (g->shifted[n->axis])
            start = smax(g, start, g->blk_lo[n->axis]);
    }
    if (w < 0 && pairwise_loop(g, n, start, end))
        return;
    LLVMValueRef lo = start, shift = n->tile ? cgl_block_shift(g, n, start) : NULL;
    if (shift)
        start = shift;
    hoist(g, n);
    cloop L;
    LLVMValueRef iv = cgl_loop_begin(g, &L, start, end, g->p->axis[n->axis].name);
    if (n->tile) {
        g->blk[n->axis] = iv;
        g->blk_end[n->axis] = end;
        g->tile[n->axis] = n->tile;
        g->shifted[n->axis] = shift != NULL;
        g->blk_lo[n->axis] = lo;
    } else {
        g->iv[n->axis] = iv;
    }
    int inner = g->inner;
    if (!n->tile)
        g->inner = n->axis;
    for (int i = 0; i < n->n; i++)
        cgl_node(g, n->body[i], false);
    g->inner = inner;
    g->nhoisted = 0;
    cgl_loop_end(g, &L, n->tile ? n->tile : 1);
    g->size[n->axis] = size_h;
    if (w >= 0)
        g->size[w] = size_w;
}

/* A slot in the function's entry block, where mem2reg promotes it to registers. */
LLVMValueRef cgl_entry_alloca(cgl *g, LLVMTypeRef t, const char *name)
{
    LLVMBuilderRef eb = LLVMCreateBuilderInContext(g->ctx);
    LLVMValueRef first = LLVMGetFirstInstruction(g->entry);
    if (first)
        LLVMPositionBuilderBefore(eb, first);
    else
        LLVMPositionBuilderAtEnd(eb, g->entry);
    LLVMValueRef slot = LLVMBuildAlloca(eb, t, name);
    LLVMDisposeBuilder(eb);
    return slot;
}

/* A new block of g->fn, and the builder at its end once cond sent the code to it or to next. */
void cgl_cond_block(cgl *g, LLVMValueRef cond, const char *name, LLVMBasicBlockRef next)
{
    LLVMBasicBlockRef bb = LLVMAppendBasicBlockInContext(g->ctx, g->fn, name);
    LLVMBuildCondBr(g->b, cond, bb, next);
    LLVMPositionBuilderAtEnd(g->b, bb);
}

/* ---- pairwise sums ----------------------------------------------------------------------------
 *
 * A pairwise ACC (lp_node.pairwise) sums blocks of pw_block elements in its register, with
 * reassociation, so that LLVM's vectorizer spreads each block over its VF x IC lanes: the
 * loop that holds the UPDATE runs in chunks that end where a block does (pairwise_loop).
 * Each block's sum then joins a cascade, with no reassociation: levels[k] holds the sum of
 * 2^k blocks, and a new block carries up through the levels as a binary counter does
 * (pairwise_push), so that the blocks combine as numpy's pairwise halves do.  At the end
 * the last, partial block and the levels add up, the smallest first (pairwise_end).  A
 * block is PW_LANE_RUN vectors of the host's width, about 16 additions a lane at VF x 4
 * lanes: the error bound is that of numpy's blocks of 128 over 8 accumulators, O(eps (16 +
 * log2(n / block))), and the horizontal sum and the push cost one block in a hundred or
 * so of its loads.  A sum known to fit in one block stays a plain accumulator.
 */
enum { PW_LANE_RUN = 64, PW_LEVELS = 64 };

/* The elements the loops under n (an ACC's reduction) run over, at most. */
static LLVMValueRef acc_length(cgl *g, const lp_node *n)
{
    LLVMValueRef len = ci64(g, 1);
    for (int i = 0; i < n->n; i++)
        if (n->body[i]->op == LP_LOOP)
            len = smax(g, len, LLVMBuildMul(g->b, g->size[n->body[i]->axis], acc_length(g, n->body[i]), ""));
    return len;
}

/*
 * Whether ACC n sums pairwise: NULL when it does not (not pairwise, or known to fit in
 * one block), else the condition, true at run time when its length exceeds a block.
 */
static LLVMValueRef pairwise_needed(cgl *g, const lp_node *n)
{
    if (!n->pairwise || !fp(g))
        return NULL;
    g->pw_block = vector_bytes(g) / (int64_t)dtype_size(g->nest->compute) * PW_LANE_RUN;
    LLVMValueRef len = acc_length(g, n);
    if (is_const(len) && cval(len) <= g->pw_block)
        return NULL;
    return LLVMBuildICmp(g->b, LLVMIntSGT, len, ci64(g, g->pw_block), "");
}

/* An empty cascade for the ACC whose register is g->acc. */
static void pairwise_begin(cgl *g)
{
    g->pw_levels = cgl_entry_alloca(g, LLVMArrayType2(ctype(g), PW_LEVELS), "levels");
    g->pw_count = cgl_entry_alloca(g, g->i64, "blocks");
    g->pw_fill = cgl_entry_alloca(g, g->i64, "fill");
    LLVMBuildStore(g->b, ci64(g, 0), g->pw_count);
    LLVMBuildStore(g->b, ci64(g, 0), g->pw_fill);
}

static LLVMValueRef level_at(cgl *g, LLVMValueRef k)
{
    return LLVMBuildInBoundsGEP2(g->b, ctype(g), g->pw_levels, &k, 1, "");
}

/*
 * A walk up the cascade's levels k = 0, 1, ... with the block count c shifted right at each
 * step and a sum s carried along, from the sum in acc (pairwise_push, pairwise_end): the
 * loop head's phis, and the step that returns to it.
 */
typedef struct pw_walk {
    LLVMBasicBlockRef pre;      /* where the walk starts */
    LLVMValueRef s0, c0;        /* acc's sum and the block count, there */
    LLVMValueRef c, k, s;       /* the head's phis */
} pw_walk;

/* Branches to head, the loop's first block (made by the caller, with the others), and enters it. */
static void walk_begin(cgl *g, pw_walk *w, LLVMBasicBlockRef head)
{
    w->pre = LLVMGetInsertBlock(g->b);
    w->s0 = LLVMBuildLoad2(g->b, ctype(g), g->acc, "");
    w->c0 = LLVMBuildLoad2(g->b, g->i64, g->pw_count, "");
    LLVMBuildBr(g->b, head);
    LLVMPositionBuilderAtEnd(g->b, head);
    w->c = LLVMBuildPhi(g->b, g->i64, "");
    w->k = LLVMBuildPhi(g->b, g->i64, "");
    w->s = LLVMBuildPhi(g->b, ctype(g), "");
}

/* From latch, with the sum s1, on to the next level. */
static void walk_next(cgl *g, pw_walk *w, LLVMBasicBlockRef head, LLVMBasicBlockRef latch, LLVMValueRef s1)
{
    LLVMValueRef c1 = LLVMBuildLShr(g->b, w->c, ci64(g, 1), ""), k1 = LLVMBuildAdd(g->b, w->k, ci64(g, 1), "");
    LLVMBuildBr(g->b, head);
    LLVMAddIncoming(w->c, (LLVMValueRef[]){ w->c0, c1 }, (LLVMBasicBlockRef[]){ w->pre, latch }, 2);
    LLVMAddIncoming(w->k, (LLVMValueRef[]){ ci64(g, 0), k1 }, (LLVMBasicBlockRef[]){ w->pre, latch }, 2);
    LLVMAddIncoming(w->s, (LLVMValueRef[]){ w->s0, s1 }, (LLVMBasicBlockRef[]){ w->pre, latch }, 2);
}

/* The block sum in acc joins the cascade, and acc starts the next block at 0. */
static void pairwise_push(cgl *g)
{
    LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "carry");
    LLVMBasicBlockRef up = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "carry_up");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "carried");
    pw_walk w;
    walk_begin(g, &w, head);
    LLVMValueRef odd = LLVMBuildTrunc(g->b, w.c, g->i1, "");
    LLVMBuildCondBr(g->b, odd, up, done);
    LLVMPositionBuilderAtEnd(g->b, up);
    walk_next(g, &w, head, up, LLVMBuildFAdd(g->b, LLVMBuildLoad2(g->b, ctype(g), level_at(g, w.k), ""), w.s, ""));
    LLVMPositionBuilderAtEnd(g->b, done);
    LLVMBuildStore(g->b, w.s, level_at(g, w.k));
    LLVMBuildStore(g->b, LLVMBuildAdd(g->b, w.c0, ci64(g, 1), ""), g->pw_count);
    LLVMBuildStore(g->b, LLVMConstReal(ctype(g), 0), g->acc);
}

/* acc = the partial block in acc plus every level the count says is full. */
static void pairwise_end(cgl *g)
{
    LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "levels");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "level");
    LLVMBasicBlockRef add = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "level_add");
    LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "level_next");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "levels_done");
    pw_walk w;
    walk_begin(g, &w, head);
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntNE, w.c, ci64(g, 0), ""), body, done);
    LLVMPositionBuilderAtEnd(g->b, body);
    LLVMBuildCondBr(g->b, LLVMBuildTrunc(g->b, w.c, g->i1, ""), add, next);
    LLVMPositionBuilderAtEnd(g->b, add);
    LLVMValueRef sa = LLVMBuildFAdd(g->b, LLVMBuildLoad2(g->b, ctype(g), level_at(g, w.k), ""), w.s, "");
    LLVMBuildBr(g->b, next);
    LLVMPositionBuilderAtEnd(g->b, next);
    LLVMValueRef s1 = LLVMBuildPhi(g->b, ctype(g), "");
    LLVMAddIncoming(s1, (LLVMValueRef[]){ w.s, sa }, (LLVMBasicBlockRef[]){ body, add }, 2);
    walk_next(g, &w, head, next, s1);
    LLVMPositionBuilderAtEnd(g->b, done);
    LLVMBuildStore(g->b, w.s, g->acc);
}

/*
 * Loop n over [start, end) in chunks that end where the current block does, when n holds
 * the UPDATE of a pairwise ACC with a cascade; false (nothing emitted) otherwise.
 */
static bool pairwise_loop(cgl *g, const lp_node *n, LLVMValueRef start, LLVMValueRef end)
{
    bool update = false;
    for (int i = 0; i < n->n; i++)
        update |= n->body[i]->op == LP_UPDATE;
    if (!g->pw_levels || !update || n->tile || n->blocked)
        return false;
    LLVMValueRef B = ci64(g, g->pw_block);
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
    LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "chunk");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "chunk_body");
    LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "chunk_exit");
    LLVMBuildBr(g->b, head);
    LLVMPositionBuilderAtEnd(g->b, head);
    LLVMValueRef j0 = LLVMBuildPhi(g->b, g->i64, "");
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, j0, end, ""), body, exit);
    LLVMPositionBuilderAtEnd(g->b, body);
    LLVMValueRef fill = LLVMBuildLoad2(g->b, g->i64, g->pw_fill, "");
    LLVMValueRef m = smin(g, LLVMBuildSub(g->b, end, j0, ""), LLVMBuildSub(g->b, B, fill, ""));
    LLVMValueRef j1 = LLVMBuildAdd(g->b, j0, m, "");
    cloop L;
    g->iv[n->axis] = cgl_loop_begin(g, &L, j0, j1, g->p->axis[n->axis].name);
    int inner = g->inner;
    g->inner = n->axis;
    for (int i = 0; i < n->n; i++)
        cgl_node(g, n->body[i], false);
    g->inner = inner;
    cgl_loop_end(g, &L, 1);
    LLVMValueRef filled = LLVMBuildAdd(g->b, fill, m, "");
    LLVMValueRef full = LLVMBuildICmp(g->b, LLVMIntEQ, filled, B, "");
    LLVMBuildStore(g->b, LLVMBuildSelect(g->b, full, ci64(g, 0), filled, ""), g->pw_fill);
    LLVMBasicBlockRef latch = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "chunk_next");
    cgl_cond_block(g, full, "push", latch);
    pairwise_push(g);
    LLVMBuildBr(g->b, latch);
    LLVMPositionBuilderAtEnd(g->b, latch);
    LLVMBuildBr(g->b, head);
    LLVMAddIncoming(j0, (LLVMValueRef[]){ start, j1 }, (LLVMBasicBlockRef[]){ pre, latch }, 2);
    LLVMPositionBuilderAtEnd(g->b, exit);
    return true;
}


/*
 * An ACC: its register is an alloca in the entry block, which mem2reg promotes.  A
 * pairwise one inside a loop runs its reduction in two forms: plain, when it fits in one
 * block, and pairwise when longer (pairwise_needed), because the chunks and the cascade
 * cost a few instructions a row: 10% of 'ij->i' on rows of 100.  A nest's root ACC runs
 * once a call, so it takes the pairwise form alone: the second form would double what
 * LLVM compiles for nothing.
 */
static void acc_node(cgl *g, const lp_node *n, bool outermost)
{
    LLVMValueRef slot = cgl_entry_alloca(g, ctype(g), "acc");
    LLVMValueRef saved = g->acc, levels = g->pw_levels, count = g->pw_count, fill = g->pw_fill;
    int64_t block = g->pw_block;
    einc_dtype wrap = g->wrap;
    g->wrap = g->p->tensor[n->dst->tensor].dtype;
    LLVMBuildStore(g->b, n->accumulate ? cgl_load(g, n->dst) : cgl_identity(g, n->comb), slot);
    g->acc = slot;
    g->pw_levels = NULL;
    LLVMValueRef pw = pairwise_needed(g, n);
    LLVMBasicBlockRef summed = NULL;
    if (pw && !outermost) {
        summed = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "summed");
        LLVMBasicBlockRef pairs = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "pairwise");
        LLVMBasicBlockRef one = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "one_block");
        LLVMBuildCondBr(g->b, pw, pairs, one);
        LLVMPositionBuilderAtEnd(g->b, one);
        for (int i = 0; i < n->n; i++)
            cgl_node(g, n->body[i], false);
        LLVMBuildBr(g->b, summed);
        LLVMPositionBuilderAtEnd(g->b, pairs);
    }
    if (pw)
        pairwise_begin(g);
    for (int i = 0; i < n->n; i++)
        cgl_node(g, n->body[i], false);
    if (pw)
        pairwise_end(g);
    if (summed) {
        LLVMBuildBr(g->b, summed);
        LLVMPositionBuilderAtEnd(g->b, summed);
    }
    LLVMValueRef v = n->final ? cgl_expr(g, n->final) : LLVMBuildLoad2(g->b, ctype(g), slot, "");
    g->acc = saved;
    g->wrap = wrap;
    g->pw_levels = levels;
    g->pw_count = count;
    g->pw_fill = fill;
    g->pw_block = block;
    cgl_store(g, n->dst, v);
}

void cgl_node(cgl *g, const lp_node *n, bool outermost)
{
    switch (n->op) {
    case LP_LOOP:
        loop(g, n, outermost);
        return;
    case LP_GEMM:
        if (!cgl_conv_site(g, n))       /* a 1 x 1 convolution: a site without taps */
            cgl_gemm(g, n);
        return;
    case LP_ACC:
        acc_node(g, n, outermost);
        return;
    case LP_UPDATE: {
        g->plain |= g->inner >= 0;
        LLVMValueRef v = cgl_expr(g, n->value);
        LLVMValueRef a = LLVMBuildLoad2(g->b, ctype(g), g->acc, "");
        LLVMBuildStore(g->b, cgl_combine(g, n->comb, a, v), g->acc);
        return;
    }
    case LP_STORE: {
        g->plain |= g->inner >= 0;
        g->store_dst = n->dst;
        g->wrap = g->p->tensor[n->dst->tensor].dtype;
        LLVMValueRef v;
        if (!n->value)
            v = cgl_identity_in(g, n->comb, g->p->tensor[n->dst->tensor].dtype);
        else if (n->comb == IR_COMB_ASSIGN)
            v = cgl_expr(g, n->value);
        else
            v = cgl_combine(g, n->comb, cgl_load(g, n->dst), cgl_expr(g, n->value));
        cgl_store(g, n->dst, v);
        return;
    }
    }
}
