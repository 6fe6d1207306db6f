/*
 * cdoc.h — the comment that opens emitted C and CUDA (codegen/cdoc.c): where the file came
 * from, the function's parameters in order with the role of each (which array, which
 * dimension of which array a size is), the arrays' dtypes and shapes, and their layout.
 * Everything a user wrote (an expression, a whole model with its # comments) goes in
 * escaped, so no text of theirs can end the comment early.
 */
#ifndef EINC_CDOC_H
#define EINC_CDOC_H

#include "cspell.h"

typedef enum cd_kind {
    CD_C,                       /* a C function: host pointers */
    CD_CUDA,                    /* a CUDA launcher: device pointers, then a stream */
    CD_KERNELS                  /* kernels alone (NVRTC): arrays and shapes, no function */
} cd_kind;

/*
 * Opens the comment ("/" "*" and its lines) on s->b, for function name; s must be named
 * (cs_name_axes).  The caller adds lines of its own (" * ...") and closes it.
 */
void cd_open(const cspell *s, const char *name, const char *source, cd_kind kind);

/*
 * The comment's lines on the contraction path the program's steps follow (ir_prog.path),
 * when there is one: the order, and how it was chosen (the fixed sizes, or the rule for
 * open ones).
 */
void cd_path(const cspell *s);

/*
 * text as comment lines, each after prefix (" *     "), trailing blank lines dropped:
 * "*" "/" and "/" "*" get a space between them, as do the "??" of a trigraph, and control
 * characters become '?'.  A newline in text always starts a new prefixed line, so no line
 * splice can join the user's text into a comment terminator either.
 */
void cd_text(strbuf *b, const char *text, const char *prefix);

#endif
