/*
 * index.y — the grammar of index expressions, both dialects.
 *
 *     expr     := inputs [ "->" side ]
 *     inputs   := side { "," side }
 *     side     := { axis }
 *     axis     := NAME | NUMBER | "..." | "(" { NAME | NUMBER | "..." } ")"
 *
 * Actions are one call each into compiler/front/parse.c, which builds the AST in the arena.
 * Parenthesis balance, nesting and stray separators are diagnosed by the driver before a
 * token reaches this parser, so its syntax errors are the rare leftovers.
 */
%name ixParse
%token_prefix TK_
%token_type { ix_token }
%extra_context { ix_state *ps }
%include {
#include "parse_impl.h"
#include <assert.h>
}
%syntax_error { ix_syntax_error(ps, TOKEN, yymajor); }
%stack_overflow { ix_overflow(ps); }
%stack_size 64

%token NAME NUMBER ELLIPSIS ARROW COMMA LPAREN RPAREN.

%type side { ast_side * }
%type axis { ast_axis * }
%type group { ast_axis * }
%type member { ast_axis * }

expr ::= inputs.                           { ix_implicit(ps); }
expr ::= inputs ARROW(A) side(S).          { ix_output(ps, A, S); }

inputs ::= side(S).                        { ix_input(ps, S); }
inputs ::= inputs COMMA side(S).           { ix_input(ps, S); }

side(R) ::= .                              { R = ix_side(ps); }
side(R) ::= side(S) axis(X).               { R = ix_side_add(ps, S, X); }

axis(R) ::= member(M).                     { R = M; }
axis(R) ::= LPAREN(L) group(G) RPAREN(E).  { R = ix_group_close(ps, G, L, E); }

group(R) ::= .                             { R = ix_group(ps); }
group(R) ::= group(G) member(M).           { R = ix_group_add(ps, G, M); }

member(R) ::= NAME(T).                     { R = ix_axis(ps, AST_NAME, T); }
member(R) ::= NUMBER(T).                   { R = ix_axis(ps, AST_NUMBER, T); }
member(R) ::= ELLIPSIS(T).                 { R = ix_axis(ps, AST_ELLIPSIS, T); }
