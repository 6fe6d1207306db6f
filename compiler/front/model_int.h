/*
 * model_int.h — private to the layer language's elaborator, whose parts are
 *   model.c          elaboration: sizes, inputs, items, blocks (run_block), the result
 *   model_lazy.c     building the program: lazy values (lz_*), materialize, value_axes
 *   model_builtin.c  the built-in table, argument binding and checking, "did you mean"
 *   model_nn.c       torch.nn.functional built-ins: linear, conv2d, norms, softmax, activations
 *   model_pool.c     pooling
 *   model_metric.c   confusion and the metrics computed from it
 *   model_pattern.c  einsum, rearrange, reduce and repeat strings inside a model
 *   model_open.c     a model with open sizes, for emitted code (two elaborations compared)
 * This header holds the evaluator's values and the helpers the built-ins are made of.
 */
#ifndef EINC_MODEL_INT_H
#define EINC_MODEL_INT_H

#include "einl.h"
#include "alloc.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct lz lz;
struct lz {
    ir_op op;               /* IR_ACCESS (a view of a tensor), IR_CONST, or an operator */
    einc_dtype dtype;
    int ndim;
    int64_t *shape;
    int tensor;             /* IR_ACCESS */
    int *tdim;              /* IR_ACCESS: per tensor dimension, the dimension of this value
                               that indexes it, or -1 (the tensor's size there is 1) */
    double c;               /* IR_CONST */
    lz *a, *b;
    int depth;              /* the tree's depth, each level weighted by nest_cost */
    int nodes;              /* nodes of the tree inst() expands it to */
};

typedef enum vkind { V_TENSOR, V_NUMBER, V_STRING, V_NONE, V_TUPLE } vkind;

typedef struct val val;
struct val {
    vkind kind;
    int begin, end;
    lz *t;                  /* V_TENSOR */
    double num;             /* V_NUMBER */
    bool is_int;
    const char *str;        /* V_STRING */
    int str_begin;
    int n;                  /* V_TUPLE */
    val **item;
};

/*
 * A hash table from names to pointers (open addressing, cap a power of two): a scope's
 * bindings, the blocks, the size names.  A generated model uses thousands of names, each
 * looked up at every use, so a list would make elaboration quadratic.
 */
typedef struct strmap {
    int cap, n;
    const char **key;
    void **val;
} strmap;

/* One AST node on the evaluator's stack (eval). */
typedef struct evframe {
    const el_node *x;
    int done;               /* how many of its operands have values */
    int base;               /* the value stack's height when x started: its operands' values
                               lie from there up */
} evframe;

typedef struct elab {
    cc *c;
    arena *A;
    const el_model *m;
    ir_prog *p;
    int cap_axis, cap_tensor, cap_stmt, cap_label;
    int **defax;            /* per tensor: the loop axis of each dimension in the statement
                               that produced it, when that statement wrote it whole */
    int cap_defax;
    int nsize;
    const char **size_name;
    int64_t *size_value;
    int ntemp;
    int depth;              /* block calls in progress */
    strmap defs;            /* a block's name → its first definition */
    strmap sizes;           /* a size name → its slot in size_value */
    evframe *frame;         /* the evaluator's stacks, shared by the nested block calls */
    int nframe, cap_frame;
    val **vals;
    int nvals, cap_vals;
    int *mark;              /* per axis: the stamp of the last statement that listed it */
    int *axbuf;             /* add_stmt's axes, before they are copied out */
    int cap_mark, stamp, naxbuf;
    const el_item *item;    /* the statement being evaluated: its temporaries' origin */
    int *line_start;        /* the source's line offsets, made at the first temporary */
    int nline;
    const el_item *origin_item; /* the statement whose origin text was made last, and it */
    const char *origin;
} elab;

/* The dtype a float function gives: integers become float32 (PyTorch's default dtype). */
static inline einc_dtype float_of(einc_dtype t) { return dtype_is_float(t) ? t : EINC_F32; }
static inline bool is_none(const val *v) { return !v || v->kind == V_NONE; }

/* One dimension of an affine access: Σ coef[i]·axis[i] + off. */
typedef struct dimspec {
    int n;
    int ax[3];
    int64_t coef[3];
    int64_t off;
} dimspec;

/* ---- errors (model_builtin.c) ------------------------------------------------------------ */

/* An error of this status at [b, e); NULL, for `return shape_err(...)`. */
val *err_at(elab *E, einc_status st, int b, int e, const char *fmt, ...) CC_PRINTF(5, 6);
#define shape_err(E, ...) err_at(E, EINC_ERR_SHAPE, __VA_ARGS__)
#define arg_err(E, ...) err_at(E, EINC_ERR_ARG, __VA_ARGS__)

/* ---- building the program (model_lazy.c) ------------------------------------------------- */

/* Room for n + 1 elements of size in old (capacity *cap), grown in E's arena; NULL: no memory. */
void *grow(elab *E, void *old, int n, int *cap, size_t size);
char *shape_text(elab *E, int ndim, const int64_t *shape);
int new_axis(elab *E, int64_t size);
int new_tensor(elab *E, const char *name, ir_role role, einc_dtype t, int ndim, const int64_t *shape,
               int begin, int end);
/* "line 7: y = conv2d(x, w)" for explain: where the statement being evaluated is; NULL if none. */
const char *origin_text(elab *E);
static inline int64_t tdim(const elab *E, int t, int d) { return E->p->tensor[t].shape[d].k; }
ir_access access_axes(elab *E, int tensor, const int *ax);
ir_access access_affine(elab *E, int tensor, const dimspec *ds, bool guard);
ir_expr *ex(elab *E, ir_op op, ir_expr *a, ir_expr *b);
ir_expr *ex_const(elab *E, double c);
ir_expr *ex_axis(elab *E, int axis);
ir_expr *ex_load(elab *E, ir_access a);
int add_stmt(elab *E, ir_access out, ir_comb comb, ir_expr *rhs, bool accumulate);

lz *lz_const(elab *E, double v, einc_dtype t);
/* The value of a tree of constants (a function of numbers); false when z reads an array. */
bool lz_fold(const lz *z, double *out);
lz *lz_unary(elab *E, ir_op op, lz *a);
lz *lz_binary(elab *E, ir_op op, lz *a, lz *b, int begin, int end);
lz *lz_tensor(elab *E, int t);
lz *lz_view(elab *E, int t, int ndim, const int64_t *shape, const int *td);
ir_expr *inst(elab *E, const lz *z, const int *ax);
bool is_whole(const elab *E, const lz *z);
int materialize(elab *E, lz *z);
int materialize_as(elab *E, lz *z, const char *name, ir_role role);
int64_t kept_shape(const lz *x, const bool *keep, const int *xax, int64_t *sh, int *oax);
int reduce_to(elab *E, lz *x, const bool *keep, ir_comb comb, bool mean, const int *xax, einc_dtype t);
int *axes_for(elab *E, const lz *x);
int *fresh_axes(elab *E, int ndim, const int64_t *shape);

/* ---- values and arguments (model_builtin.c) ---------------------------------------------- */

val *new_val(elab *E, vkind k, int begin, int end);
val *tensor_val(elab *E, lz *t, int begin, int end);
const char *kind_name(vkind k);
lz *as_tensor(elab *E, const val *v, const char *fn, const char *what, einc_dtype like);
lz *need_tensor(elab *E, const val *v, const char *fn, const char *what);
bool get_int(elab *E, const val *v, const char *fn, const char *what, int64_t *out);
bool get_num(elab *E, const val *v, const char *fn, const char *what, double *out);
bool get_pair(elab *E, const val *v, const char *fn, const char *what, int64_t out[2]);
bool get_dim(elab *E, const val *v, const char *fn, int ndim, int *out);

/* ---- the built-ins ------------------------------------------------------------------------ */

/* What a parameter is when a call leaves it out. */
typedef enum bi_default {
    D_REQUIRED,             /* nothing: "missing required argument" */
    D_ABSENT,               /* NULL: the function decides (confusion's classes) */
    D_NONE, D_INT, D_NUM, D_STR,
    D_AS_WRITTEN,           /* the only "parameter" of a pattern call: the function gets the
                               call's argument values as written, in order */
} bi_default;

typedef struct bi_param {
    const char *name;
    bi_default kind;
    double num;             /* D_INT, D_NUM */
    const char *str;        /* D_STR */
    bool folds;             /* the x of an elementwise function: a number gives a number
                               (sqrt(8)), folded by builtin_call */
} bi_param;

#define P_REQ(n) { n, D_REQUIRED, 0, NULL, false }
#define P_FOLD(n) { n, D_REQUIRED, 0, NULL, true }
#define P_ABSENT(n) { n, D_ABSENT, 0, NULL, false }
#define P_NONE(n) { n, D_NONE, 0, NULL, false }
#define P_INT(n, v) { n, D_INT, v, NULL, false }
#define P_NUM(n, v) { n, D_NUM, v, NULL, false }
#define P_STR(n, s) { n, D_STR, 0, s, false }
#define P_AS_WRITTEN { NULL, D_AS_WRITTEN, 0, NULL, false }

/*
 * A built-in: arg[i] is parameter i's value, the call's or the row's default (which has the
 * call's span), or NULL for D_ABSENT; a D_AS_WRITTEN function gets call->nargs values.
 * NULL after an error.
 */
typedef val *bi_fn(elab *E, const el_node *call, val *const *arg);

/*
 * Every function a model can call, one row each: name, function, parameters with their
 * defaults (README.md, "The layer language").  The order is the one "did you mean" prefers
 * among equally near names.
 */
#define MODEL_BUILTINS(X)                                                                           \
    X("linear", bi_linear, P_REQ("x"), P_REQ("weight"), P_NONE("bias"))                             \
    X("conv2d", bi_conv2d, P_REQ("x"), P_REQ("weight"), P_NONE("bias"), P_INT("stride", 1),         \
      P_INT("padding", 0), P_INT("dilation", 1), P_INT("groups", 1))                                \
    X("batchnorm2d", bi_batchnorm2d, P_REQ("x"), P_REQ("running_mean"), P_REQ("running_var"),       \
      P_NONE("weight"), P_NONE("bias"), P_INT("training", 0), P_NUM("eps", 1e-5))                   \
    X("layernorm", bi_layernorm, P_REQ("x"), P_NONE("weight"), P_NONE("bias"), P_INT("dims", 1),    \
      P_NUM("eps", 1e-5))                                                                           \
    X("softmax", bi_softmax, P_REQ("x"), P_INT("dim", -1))                                          \
    X("log_softmax", bi_log_softmax, P_REQ("x"), P_INT("dim", -1))                                  \
    X("squeeze", bi_squeeze, P_REQ("x"), P_REQ("dim"))                                              \
    X("unsqueeze", bi_unsqueeze, P_REQ("x"), P_REQ("dim"))                                          \
    X("confusion", bi_confusion, P_REQ("pred"), P_REQ("target"), P_ABSENT("classes"))               \
    X("relu", bi_relu, P_FOLD("x"))                                                                  \
    X("sigmoid", bi_sigmoid, P_FOLD("x"))                                                            \
    X("tanh", bi_tanh, P_FOLD("x"))                                                                  \
    X("exp", bi_exp, P_FOLD("x"))                                                                    \
    X("log", bi_log, P_FOLD("x"))                                                                    \
    X("sqrt", bi_sqrt, P_FOLD("x"))                                                                  \
    X("precision", bi_precision, P_REQ("cm"))                                                       \
    X("recall", bi_recall, P_REQ("cm"))                                                             \
    X("specificity", bi_specificity, P_REQ("cm"))                                                   \
    X("f1", bi_f1, P_REQ("cm"))                                                                     \
    X("accuracy", bi_accuracy, P_REQ("cm"))                                                         \
    X("silu", bi_silu, P_FOLD("x"))                                                                  \
    X("leaky_relu", bi_leaky_relu, P_FOLD("x"), P_NUM("negative_slope", 0.01))                       \
    X("elu", bi_elu, P_FOLD("x"), P_NUM("alpha", 1.0))                                               \
    X("softplus", bi_softplus, P_FOLD("x"), P_NUM("beta", 1), P_NUM("threshold", 20))                \
    X("hardswish", bi_hardswish, P_FOLD("x"))                                                        \
    X("gelu", bi_gelu, P_FOLD("x"), P_STR("approximate", "none"))                                    \
    X("flatten", bi_flatten, P_REQ("x"), P_INT("start_dim", 1), P_INT("end_dim", -1))               \
    X("argmax", bi_argmax, P_REQ("x"), P_NONE("dim"), P_INT("keepdim", 0))                          \
    X("argmin", bi_argmin, P_REQ("x"), P_NONE("dim"), P_INT("keepdim", 0))                          \
    X("max_pool2d", bi_max_pool2d, P_REQ("x"), P_REQ("kernel_size"), P_NONE("stride"),              \
      P_INT("padding", 0), P_INT("dilation", 1), P_INT("ceil_mode", 0))                             \
    X("avg_pool2d", bi_avg_pool2d, P_REQ("x"), P_REQ("kernel_size"), P_NONE("stride"),              \
      P_INT("padding", 0), P_INT("ceil_mode", 0), P_INT("count_include_pad", 1))                    \
    X("adaptive_avg_pool2d", bi_adaptive_avg_pool2d, P_REQ("x"), P_REQ("output_size"))              \
    X("adaptive_max_pool2d", bi_adaptive_max_pool2d, P_REQ("x"), P_REQ("output_size"))              \
    X("einsum", bi_einsum, P_AS_WRITTEN)                                                            \
    X("rearrange", bi_rearrange, P_AS_WRITTEN)                                                      \
    X("reduce", bi_reduce, P_AS_WRITTEN)                                                            \
    X("repeat", bi_repeat, P_AS_WRITTEN)

#define MODEL_BUILTIN_DECLARE(name, fn, ...) bi_fn fn;
MODEL_BUILTINS(MODEL_BUILTIN_DECLARE)
#undef MODEL_BUILTIN_DECLARE

typedef struct builtin {
    const char *name;
    bi_fn *fn;
    int nparam;
    const bi_param *param;
} builtin;

/* The built-in called name, or NULL. */
const builtin *builtin_find(const char *name);

/* Binds a call's arguments to b's parameters and calls it; NULL after an error. */
val *builtin_call(elab *E, const builtin *b, const el_node *call, val *const *pos);

/*
 * Binds a call's arguments to parameters as Python does: arg[i] is parameter i's value, or
 * NULL where the call leaves it out (no defaults); false after an error.
 */
bool bind_args(elab *E, const el_node *call, const char *fn, int nparam, const bi_param *param,
               val *const *pos, val **arg);

/* The built-in a user most likely meant by an unknown name, or NULL. */
const char *builtin_suggest(const char *name);

/* ---- shared by the built-ins ------------------------------------------------------------- */

typedef enum pattern_kind { PAT_EINSUM, PAT_REARRANGE, PAT_REDUCE, PAT_REPEAT } pattern_kind;

/* fn(x, PATTERN, [reduction], NAME=size ...) or einsum(PATTERN, x, y, ...) (model_pattern.c). */
val *pattern_call(elab *E, const el_node *call, val *const *pos, pattern_kind kind);

#endif
