/*
 * model_nn.h — private to the layer language's elaborator (model.c) and its torch.nn.functional
 * built-ins (model_nn.c): the evaluator's values and the helpers the built-ins are made of.
 */
#ifndef EINC_MODEL_NN_H
#define EINC_MODEL_NN_H

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
} elab;

typedef struct sig {
    const char *name;
    int nparam;
    const char *const *param;
    int required;           /* the first `required` parameters have no default */
} sig;

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

/* model.c's helpers, which model_nn.c's built-ins are made of. */
val *shape_err(elab *E, int b, int e, const char *fmt, ...) CC_PRINTF(4, 5);
lz *lz_const(elab *E, double v, einc_dtype t);
lz *lz_unary(elab *E, ir_op op, lz *a);
lz *lz_binary(elab *E, ir_op op, lz *a, lz *b, int begin, int end);
lz *lz_tensor(elab *E, int t);
lz *lz_view(elab *E, int t, int ndim, const int64_t *shape, const int *td);
int materialize(elab *E, lz *z);
val *tensor_val(elab *E, lz *t, int begin, int end);
lz *need_tensor(elab *E, const val *v, const char *fn, const char *what);
bool get_int(elab *E, const val *v, const char *fn, const char *what, int64_t *out);
bool get_num(elab *E, const val *v, const char *fn, const char *what, double *out);
bool get_pair(elab *E, const val *v, const char *fn, const char *what, int64_t out[2]);
bool get_dim(elab *E, const val *v, const char *fn, int ndim, int *out);
bool bind_args(elab *E, const el_node *call, const sig *s, val *const *pos, val **arg);
int new_tensor(elab *E, const char *name, ir_role role, einc_dtype t, int ndim, const int64_t *shape,
               int begin, int end);
ir_access access_axes(elab *E, int tensor, const int *ax);
ir_access access_affine(elab *E, int tensor, const dimspec *ds, bool guard);
int new_axis(elab *E, int64_t size);
ir_expr *ex(elab *E, ir_op op, ir_expr *a, ir_expr *b);
ir_expr *ex_const(elab *E, double c);
ir_expr *ex_axis(elab *E, int axis);
ir_expr *ex_load(elab *E, ir_access a);
int add_stmt(elab *E, ir_access out, ir_comb comb, ir_expr *rhs, bool accumulate);
int reduce_to(elab *E, lz *x, const bool *keep, ir_comb comb, bool mean, const int *xax, einc_dtype t);
int *axes_for(elab *E, const lz *x);
int *fresh_axes(elab *E, int ndim, const int64_t *shape);
val *pattern_call(elab *E, const el_node *call, val *const *pos, const char *fn);

/*
 * A call of one of model_nn.c's built-ins: *found is false (and nothing happens) when the
 * name is none of them; else its value, or NULL after an error.
 */
val *nn_call(elab *E, const el_node *x, val *const *pos, bool *found);

/* The built-in a user most likely meant by an unknown name, or NULL. */
const char *nn_suggest(const char *name, const sig *builtins, int nbuiltins);

#endif
