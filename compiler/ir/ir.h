/*
 * ir.h — the index IR.
 *
 * A program is a table of axes (named sizes that double as loop indices), a table of
 * tensors (inputs, temporaries, the output; dtype and shape over the axes' sizes) and a
 * list of statements, each a comprehension in the style of Tensor Comprehensions:
 *
 *     out[i, j] ⊕= in0[i, k] * in1[k, j]         ⊕ ∈ {=, +=, *=, max=, min=}
 *
 * Axes on the right that are not on the left are reduced with ⊕.  Every access dimension
 * is affine in the axes — Σ coef·axis + off — where each coefficient is a product of
 * sizes (a monomial), so a composition "(h w)" is the access h·W + w, a diagonal "ii" uses
 * one axis twice, and a size-1 broadcast dimension is the constant 0.  Sizes may stay
 * symbolic (value -1) until shapes are bound; the interpreter and the backends see only
 * bound programs.
 */
#ifndef EINC_IR_H
#define EINC_IR_H

#include "cc.h"

/*
 * Expression operators: name, printed symbol, arity.  Binary operators with a symbol that
 * is not a word print infix; the others print as calls.  Every operator computes in the
 * statement's compute type (lower.c): an integer statement never sees a float function.
 *   divz(a, b)   a / b, but 0 where b is 0 (a metric's 0/0)
 *   eq(a, b)     1 where a == b, else 0
 *   max, min     NaN-propagating, as numpy's maximum/minimum
 *   axis         the current index of an axis (x->axis), as a value
 */
#define IR_OPS(X)                         \
    X(ACCESS, "access", 0)                \
    X(CONST, "const", 0)                  \
    X(SIZE, "size", 0)                    \
    X(AXIS, "axis", 0)                    \
    X(MUL, "*", 2)                        \
    X(ADD, "+", 2)                        \
    X(SUB, "-", 2)                        \
    X(DIV, "/", 2)                        \
    X(DIVZ, "divz", 2)                    \
    X(MAX, "max", 2)                      \
    X(MIN, "min", 2)                      \
    X(EQ, "eq", 2)                        \
    X(NEG, "neg", 1)                      \
    X(EXP, "exp", 1)                      \
    X(LOG, "log", 1)                      \
    X(SQRT, "sqrt", 1)                    \
    X(RSQRT, "rsqrt", 1)                  \
    X(TANH, "tanh", 1)                    \
    X(ERF, "erf", 1)                      \
    X(SIGMOID, "sigmoid", 1)

typedef enum ir_op {
#define X(name, sym, arity) IR_##name,
    IR_OPS(X)
#undef X
    IR_OP_COUNT
} ir_op;

/* Combiners: name, printed form.  The order matches einc_reduce where the names agree. */
#define IR_COMBS(X)   \
    X(SUM, "+=")      \
    X(MEAN, "+=")     \
    X(MAX, "max=")    \
    X(MIN, "min=")    \
    X(PROD, "*=")     \
    X(ASSIGN, "=")

typedef enum ir_comb {
#define X(name, sym) IR_COMB_##name,
    IR_COMBS(X)
#undef X
    IR_COMB_COUNT
} ir_comb;

typedef enum ir_role { IR_INPUT, IR_TEMP, IR_OUTPUT } ir_role;

typedef struct ir_mono {
    int64_t k;              /* constant factor */
    int n;
    int *v;                 /* axes whose sizes multiply it */
} ir_mono;

typedef struct ir_axis {
    const char *name;       /* "i", "batch", "...0" (ellipsis dims), "2" (anonymous) */
    int64_t size;           /* -1: symbolic */
    int begin, end;         /* first appearance in the source */
    bool given;             /* size came from an AXIS=N word */
    bool in_input, in_output;
    bool anonymous;         /* a number or an ellipsis dimension, not a user's name */
    bool literal;           /* an anonymous number: its size is part of the expression */
} ir_axis;

typedef struct ir_term {
    int axis;
    ir_mono coef;
} ir_term;

typedef struct ir_dim {
    int n;                  /* n == 0: the constant off (a broadcast dimension) */
    ir_term *t;
    int64_t off;
} ir_dim;

typedef struct ir_access {
    int tensor;
    int ndim;
    ir_dim *dim;
    bool guard;             /* an index may fall outside the tensor: such a read gives the
                               identity of pad instead; never set on a store */
    ir_comb pad;            /* a guarded read's value outside, as the identity of this
                               combiner in the compute type: SUM (the zero-initialised
                               default) 0, a convolution's zero padding; MAX the lowest value
                               (-inf, an integer type's minimum), so max_pool2d's padding
                               never wins; MIN the highest; PROD 1.  Anything but SUM only on
                               a guarded read that is the whole value of a statement (or loop
                               IR update or store) combining with that same combiner, so
                               padding never changes a result (checked by the validators) */
} ir_access;

typedef struct ir_tensor {
    const char *name;
    ir_role role;
    einc_dtype dtype;
    int ndim;
    ir_mono *shape;
    int begin, end;         /* the operand's text */
    const char *origin;     /* for explain, or NULL: the model line a temporary comes from */
} ir_tensor;

typedef struct ir_expr ir_expr;
struct ir_expr {
    ir_op op;
    ir_expr *a, *b;         /* operands (a alone for unary ops) */
    ir_access acc;          /* IR_ACCESS */
    double c;               /* IR_CONST */
    int axis;               /* IR_AXIS */
    ir_mono m;              /* IR_SIZE: the value of a product of sizes */
};

/*
 * No expression tree — a statement's rhs, or a final expression lower.c makes of one — is
 * more than IR_MAX_EXPR_DEPTH nodes deep (a leaf is depth 1).  Every walker over ir_expr
 * (ir_print.c, lower.c, interp.c, codegen/) recurses on the tree, so this bound, not the
 * size of the user's input, is what their recursion can reach.  The front ends keep it by
 * construction: bind.c's products have at most EINC_MAX_OPERANDS factors, and model.c
 * writes a fused tree to a temporary before it grows past MODEL_FUSE_DEPTH levels (a
 * generated model's 20,000-term sum becomes a chain of statements).  ir_expr_depth checks
 * it, for a validator and for tests.
 */
/*
 * The most axes one expression's statement may have (numpy's einsum allows 52 letters plus
 * an ellipsis of at most 64 dimensions).  Each axis is a loop of the statement's nest, and
 * the loop IR's walkers (lower.c, loop_print.c, the code generators) recurse once per loop,
 * so this bound is what keeps their depth out of the user's hands.
 */
#define IR_MAX_AXES 256
#define IR_MAX_EXPR_DEPTH 256

typedef struct ir_stmt {
    ir_access out;
    ir_comb comb;
    ir_expr *rhs;
    int nfree, nred;
    int *free;              /* axes the output is indexed by, in loop order */
    int *red;               /* axes reduced over */
    bool accumulate;        /* out already holds a value (an earlier statement stored it):
                               combine into it instead of starting from the identity */
} ir_stmt;

typedef enum ir_kind { IR_EINSUM, IR_REARRANGE, IR_REDUCE, IR_REPEAT, IR_MODEL } ir_kind;

/*
 * Integer class labels that must lie in [0, classes) (a model's confusion): an input,
 * which the runtime checks before the program runs, or a temporary the program computes
 * (argmax(probs, 1)), which it checks after the run, in a buffer of its own that it hands
 * the backend for that temporary (lower.c never folds such a temporary away).  Counting
 * is eq() against the class axes, so a bad label writes nothing anywhere.
 */
typedef struct ir_label {
    int tensor;
    int64_t classes;
    int begin, end;         /* the argument's text */
    const char *text;       /* a temporary's: that text, for the error (else NULL) */
} ir_label;

typedef struct ir_prog {
    dialect dialect;
    const char *why;        /* the dialect rule that applied */
    ir_kind kind;
    ir_comb reduce;         /* how dropped axes combine */
    int naxis, ntensor, nstmt, ninput;
    ir_axis *axis;
    ir_tensor *tensor;      /* inputs first, in order; then temporaries; the outputs last */
    ir_stmt *stmt;
    /*
     * The outputs are tensors output .. output + noutput - 1, the last ones, in the order of
     * the results (a model's `return a, b`); every other front end makes one.  A later
     * statement may read an output (a result the rest of the model also uses).
     */
    int output, noutput;
    bool bound;             /* every size is known */
    int nlabel;             /* checks the runtime makes on the inputs before running */
    ir_label *label;
    const char *path;       /* the contraction order path_optimize chose ("((in0 in1) in2)"),
                               or NULL; with open sizes, chosen at PL_SYMBOLIC_SIZE */
} ir_prog;

/* Options the front end needs beyond the text. */
typedef struct bind_opts {
    einc_reduce reduce;
    einc_dtype dtype;           /* the operands' dtype when no input arrays are given */
    int ellipsis_rank;          /* dims '...' covers when no input arrays are given */
    int nsizes;
    const einc_size *sizes;
    bool open_repeats;          /* no input arrays: a repeat's size not given stays symbolic
                                   (an emitted kernel's parameter) instead of an error */
} bind_opts;

/*
 * AST → IR with shape inference and every check (bind.c).  inputs may be NULL: sizes then
 * stay symbolic and ellipses cover no dimensions.
 */
ir_prog *bind_expr(cc *c, const ast_expr *e, const bind_opts *o, int ninputs,
                   const einc_tensor *inputs);

int64_t ir_mono_eval(const ir_prog *p, const ir_mono *m);   /* -1 if symbolic */
bool ir_access_uses(const ir_access *a, int axis);         /* does any index use axis? */
int ir_access_dim(const ir_access *a, int axis);           /* the first dimension using it, or -1 */
int ir_dim_axis(const ir_dim *d);   /* the axis d is exactly (one term, coefficient 1, no offset), or -1 */
int ir_sole_dim(const ir_access *a, int axis);   /* the dimension that is exactly axis, used nowhere else in a, or -1 */
int64_t ir_tensor_elems(const ir_prog *p, const ir_tensor *t);
bool ir_expr_reads(const ir_expr *x, int t);   /* whether x reads tensor t anywhere */
/* x's depth (a leaf is 1, NULL 0), or IR_MAX_EXPR_DEPTH + 1 when it is deeper; no recursion. */
int ir_expr_depth(const ir_expr *x);
/*
 * Whether the first statement that writes temporary t writes every element of it before
 * any statement reads it: it does not accumulate, and each dimension of its output is one
 * axis alone (no two the same), as long as the dimension.  Such a temporary needs no
 * zeroing before a run.
 */
bool ir_temp_written_whole(const ir_prog *p, int t);
/*
 * Renumbers p's tensors so that outs[0..n) are the last n, in that order, the others
 * keeping theirs (ir.c); sets output and noutput.  0, or -1 out of memory.
 */
int ir_outputs_last(cc *c, ir_prog *p, const int *outs, int n);
const char *ir_op_name(ir_op op);
int ir_op_arity(ir_op op);
/*
 * An IR_CONST of an integer program as the 64 bits every backend computes with: the value
 * truncated toward zero within int64's range, saturated beyond it, NaN as 0, so that no
 * backend converts a double out of its range and all agree.  The front ends keep integer
 * constants exact (a .einl integer is within ±2^53, model.c); this is the backstop.
 */
uint64_t ir_const_bits(double c);
const char *ir_comb_name(ir_comb c);
const char *ir_kind_name(ir_kind k);

/*
 * Rewrites a bound einsum of three or more operands into pairwise steps through
 * temporaries when that is cheaper (path.c).  Returns the order as text ("((in0 in1) in2)")
 * and the naive and optimised FLOP counts and the largest intermediate (elements), or NULL
 * when the program stays as it was.  max_elems (0: no limit) bounds every intermediate.
 */
char *path_optimize(cc *c, ir_prog *p, int64_t max_elems, double *naive, double *opt,
                    double *largest);
/*
 * The same with the costs taken at sizes[axis] (NULL: the program's), so a program with
 * open sizes gets the path that is cheapest at those: its temporaries' shapes stay symbolic.
 */
char *path_optimize_at(cc *c, ir_prog *p, const int64_t *sizes, int64_t max_elems, double *naive,
                       double *opt, double *largest);

/*
 * Splits each full sum, max or min of floats over two or more axes ('ij->') in two,
 * through a temporary over its outermost reduced axis: part[i] ⊕= x[i, j], then out ⊕=
 * part[i] (a prod stays whole, in numpy's order: path.c).  The first step runs in
 * parallel over i (the CPU backend runs a reduction into a scalar on one thread), and the
 * result does not depend on the number of threads.  Returns 1 when it rewrote p, 0 when
 * nothing applies, -1 out of memory (path.c).
 */
int split_reductions(cc *c, ir_prog *p);

/* FLOPs as numpy's einsum_path counts them; -1 if symbolic. */
int64_t ir_flops(const ir_prog *p);

/* Printing (ir_print.c): a malloc'ed string, or NULL when out of memory. */
char *ir_print(const ir_prog *p);
/* t's shape, each dimension a number where known, else by name: "4*w, 3" */
struct strbuf;
void ir_print_shape(struct strbuf *b, const ir_prog *p, const ir_tensor *t);

/* The reference interpreter (interp.c): buffers in tensor order, NULL for temporaries. */
int interp_run(cc *c, const ir_prog *p, void *const *buf, const int64_t *const *strides);

/* einc_dtype helpers (dtype.c). */
size_t dtype_size(einc_dtype t);
bool dtype_is_float(einc_dtype t);         /* f16, bf16, f32, f64: not complex */
bool dtype_is_complex(einc_dtype t);
bool dtype_is_int(einc_dtype t);           /* every width and sign; not bool */
bool dtype_is_unsigned(einc_dtype t);
bool dtype_is_half(einc_dtype t);          /* f16, bf16 */
bool dtype_is_classic(einc_dtype t);       /* f32 f64 i32 i64 bool: every backend's */
bool dtype_on_jit(einc_dtype t);           /* the CPU JIT's: every dtype */
bool dtype_on_cuda(einc_dtype t);          /* CUDA's: every dtype but complex */
einc_dtype dtype_promote(einc_dtype a, einc_dtype b);     /* numpy.result_type */
einc_dtype dtype_sum_type(einc_dtype t);   /* numpy's sum/prod of one array */
const char *dtype_brief(einc_dtype t);     /* "f32", "bf16", "c64", "u8", ... */
einc_dtype dtype_from_brief(const char *s, size_t n);     /* EINC_DTYPE_COUNT if none */
uint16_t f16_from_double(double x);        /* rounded to nearest even, once */
double f16_to_double(uint16_t h);
uint16_t bf16_from_double(double x);
double bf16_to_double(uint16_t h);

#endif
