/*
 * lex.h — the re2c scanners for index notation.
 *
 * Pure scanners over a NUL-terminated buffer: each call looks at one token starting at s
 * and returns its kind (a Lemon TK_ code from index.h, or one of the LEX_ codes below) and
 * its length.  No state, no YYFILL.
 */
#ifndef EINC_LEX_H
#define EINC_LEX_H

enum { LEX_END = 0, LEX_SPACE = -1, LEX_BAD = -2 };

int lex_numpy(const char *s, int *len);     /* one letter = one axis */
int lex_einops(const char *s, int *len);    /* identifiers, numbers, parentheses */

#endif
