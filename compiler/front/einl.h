/*
 * einl.h — the layer language (.einl): its AST, parser and elaborator.
 *
 * A model file is a list of items in source order: declarations of the arrays bound at run
 * time (input, param), block definitions (def), bindings (NAME = expr) and one top-level
 * return.  The parser (grammar/einl.re, grammar/einl.y, compiler/front/einl_parse.c) builds the
 * AST; the elaborator (compiler/front/model.c) evaluates it against concrete shapes and expands
 * every built-in into index-IR statements (the macros), which the usual passes then fuse,
 * schedule and compile.
 *
 * Every node carries the byte span of its text in the model source, so errors point at it.
 */
#ifndef EINC_EINL_H
#define EINC_EINL_H

#include "cc.h"
#include "ir.h"

/*
 * 2^53 - 1: a number is a double, so integers up to this are exact; an integer literal or
 * an integer result beyond it is an error (einl_parse.c, model.c).  A result of + - * at or
 * past 2^53 rounds to at least 2^53, so the check of the rounded value is sound.
 */
#define EINL_EXACT_INT 9007199254740991

typedef enum el_kind {
    EL_NUMBER,      /* 3, 1e-5, 0.5: value; is_int when written without '.', 'e' */
    EL_NAME,        /* x, none: name */
    EL_STRING,      /* 'b c h w -> b c' or "...": str (quotes removed, no escapes) */
    EL_CALL,        /* name(args): name, nargs, args */
    EL_BINARY,      /* a op b, op one of '+' '-' '*' '/' */
    EL_NEG,         /* -a */
    EL_TUPLE        /* (a, b, ...): nargs >= 2 (or "(a,)"), args with NULL keys */
} el_kind;

typedef struct el_node el_node;

typedef struct el_arg {
    const char *key;        /* keyword, or NULL for a positional argument */
    int key_begin, key_end; /* the keyword's span (when key is set) */
    el_node *value;
} el_arg;

struct el_node {
    el_kind kind;
    int begin, end;         /* byte span in the source, end exclusive */
    double value;           /* EL_NUMBER */
    bool is_int;            /* EL_NUMBER: an integer literal, |value| <= EINL_EXACT_INT */
    const char *name;       /* EL_NAME, EL_CALL (the callee) */
    const char *str;        /* EL_STRING: contents without the quotes */
    int str_begin;          /* EL_STRING: offset of the first character inside the quotes */
    char op;                /* EL_BINARY */
    el_node *a, *b;         /* EL_BINARY: operands; EL_NEG: a */
    int nargs;              /* EL_CALL, EL_TUPLE */
    el_arg *args;
};

typedef struct el_dim {
    const char *name;       /* a size name, or NULL for a number */
    int64_t value;          /* the number when name is NULL */
    int begin, end;
} el_dim;

typedef enum el_item_kind {
    EL_INPUT,               /* input NAME: DTYPE[dims] */
    EL_PARAM,               /* param NAME: DTYPE[dims] */
    EL_DEF,                 /* def NAME(params) { body } */
    EL_ASSIGN,              /* NAME = expr */
    EL_RETURN               /* return expr */
} el_item_kind;

typedef struct el_item el_item;
struct el_item {
    el_item_kind kind;
    int begin, end;         /* the whole item */
    const char *name;       /* declared, defined or bound name; NULL for return */
    int name_begin, name_end;
    /* EL_INPUT, EL_PARAM */
    einc_dtype dtype;
    int ndim;               /* f32[] is a 0-d array */
    el_dim *dim;
    /* EL_DEF */
    int nparams;
    const char **params;
    int *param_begin, *param_end;
    int nbody;
    el_item **body;         /* EL_ASSIGN and EL_RETURN items only */
    /* EL_ASSIGN, EL_RETURN */
    el_node *value;
};

typedef struct el_model {
    int nitems;
    el_item **items;        /* top level, in source order */
    int ninputs;
    el_item **inputs;       /* the input and param items among them, in order */
    /*
     * The top-level return's results, in order: `return a, b` (or a tuple) has several.
     * Each is named after the variable it is when it is a plain name, else "out0", "out1",
     * … by position (README.md, "The layer language").
     */
    int nresults;
    const char **result_name;
} el_model;

/*
 * Parses a model (c->src is the whole file).  NULL with c->err set on failure: a syntax
 * error's span is the offending token (a zero-width span at the end of input for an
 * unexpected end of file), its message says what was expected where possible, e.g.
 *     unexpected ')' : expected an expression
 */
el_model *einl_parse(cc *c);

/* Does this text look like a model rather than an einsum/einops expression? */
bool einl_is_model_name(const char *path);

/*
 * Elaborates a model into a bound index-IR program (model.c).  The model's inputs are its
 * input and param declarations, in order; inputs may be NULL when every size name is given
 * in sizes (as `einc model.einl N=8` needs for emitted code).  Sizes from the arrays and
 * from sizes must agree.
 */
ir_prog *einl_elaborate(cc *c, const el_model *m, int nsizes, const einc_size *sizes,
                        int ninputs, const einc_tensor *inputs);

/*
 * For emitted code: einl_elaborate without arrays, where the size names sizes leaves out
 * stay symbolic, one axis each, named after the size (model_open.c); an error where a
 * built-in computes another size from one of them.
 */
ir_prog *einl_elaborate_open(cc *c, const el_model *m, int nsizes, const einc_size *sizes);

/* The model's declared arrays (input and param items), in order. */
int einl_ninputs(const el_model *m);
/* The model's results (1 unless it returns several) and their names. */
int einl_nresults(const el_model *m);
const char *einl_result_name(const el_model *m, int i);
const el_item *einl_input(const el_model *m, int i);

#endif
