/*
 * einl_lex.h — the re2c scanner for the layer language (.einl).
 *
 * A pure scanner over a NUL-terminated buffer, as lex.h's: each call looks at one token
 * starting at s and returns its kind (a Lemon EL_TK_ code from einl_gram.h, or one of the
 * EL_LEX_ codes below) and its length.  No state, no YYFILL.
 */
#ifndef EINC_EINL_LEX_H
#define EINC_EINL_LEX_H

enum {
    EL_LEX_END = 0,             /* the terminating NUL (Lemon's end-of-input code) */
    EL_LEX_SPACE = -1,          /* blanks and a '#' comment up to the newline */
    EL_LEX_BAD = -2,            /* one character no token starts with */
    EL_LEX_UNTERMINATED = -3,   /* a string cut by a newline or the end of input */
    EL_LEX_BADNUM = -4          /* digits run into letters: 1e, 3x, 1.5.2 */
};

int lex_einl(const char *s, int *len);

#endif
