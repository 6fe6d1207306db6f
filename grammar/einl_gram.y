/*
 * einl_gram.y — the grammar of the layer language (.einl) (README.md, "The layer language").
 *
 *     model   := line { NEWLINE line }
 *     line    := [ INPUT NAME ":" NAME "[" dims "]"
 *                | PARAM NAME ":" NAME "[" dims "]"
 *                | DEF NAME "(" names ")" "{" stmt { NEWLINE stmt } "}"   (stmts may be empty)
 *                | stmt ]
 *     stmt    := NAME "=" expr | RETURN expr { "," expr }      (several: a model's results)
 *     expr    := term { ("+" | "-") term }
 *     term    := unary { ("*" | "/") unary }
 *     unary   := "-" unary | primary
 *     primary := NUMBER | NAME | STRING | NAME "(" args ")" | "(" expr ")"
 *              | "(" expr "," [ expr { "," expr } [ "," ] ] ")"        (a tuple)
 *     args    := [ arg { "," arg } [ "," ] ],  arg := expr | NAME "=" expr
 *
 * Named "einl_gram" rather than "einl" so that Lemon's token header, einl_gram.h, does not
 * collide with the AST header compiler/front/einl.h.  Precedence is stratified (expr, term,
 * unary) rather than declared, so there are no precedence pseudo-tokens.  Actions are one
 * call each into compiler/front/einl_parse.c, which builds the AST in the arena.  Newlines inside
 * brackets never reach this parser: the driver drops them, and it also checks bracket
 * balance, so it can name where a bracket was opened.
 */
%name elParse
%token_prefix EL_TK_
%token_type { el_token }
%extra_context { el_state *ps }
%include {
#include "einl_impl.h"
#include <assert.h>
}
%syntax_error { el_syntax_error(ps, TOKEN, yymajor); }
%stack_overflow { el_overflow(ps); }
/* enough for EL_MAX_DEPTH brackets with EL_MAX_UNARY minus signs at each (einl_impl.h) */
%stack_size 6000

%token NAME NUMBER STRING INPUT PARAM DEF RETURN
       COLON LBRACKET RBRACKET LPAREN RPAREN LBRACE RBRACE COMMA ASSIGN
       PLUS MINUS STAR SLASH NEWLINE.

%type item { el_item * }
%type stmt { el_item * }
%type bline { el_item * }
%type body { el_seq * }
%type params { el_seq * }
%type plist { el_seq * }
%type dims { el_seq * }
%type dlist { el_seq * }
%type size { el_token }
%type args { el_seq * }
%type alist { el_seq * }
%type tlist { el_seq * }
%type expr { el_node * }
%type term { el_node * }
%type unary { el_node * }
%type primary { el_node * }

model ::= lines.
lines ::= line.
lines ::= lines NEWLINE line.
line ::= .
line ::= item(I).                          { el_top(ps, I); }

item(R) ::= INPUT(K) NAME(N) COLON NAME(D) LBRACKET dims(L) RBRACKET(E).
                                           { R = el_decl(ps, EL_INPUT, K, N, D, L, E); }
item(R) ::= PARAM(K) NAME(N) COLON NAME(D) LBRACKET dims(L) RBRACKET(E).
                                           { R = el_decl(ps, EL_PARAM, K, N, D, L, E); }
item(R) ::= DEF(K) NAME(N) LPAREN params(P) RPAREN LBRACE body(B) RBRACE(E).
                                           { R = el_def(ps, K, N, P, B, E); }
item(R) ::= stmt(S).                       { R = S; }

stmt(R) ::= NAME(N) ASSIGN expr(X).        { R = el_assign(ps, N, X); }
stmt(R) ::= RETURN(K) expr(X).             { R = el_return(ps, K, X); }
stmt(R) ::= RETURN(K) tlist(T).            { R = el_return_many(ps, K, T); }

/* A def body: statements separated by newlines, blank lines anywhere. */
body(R) ::= bline(S).                      { R = el_push_item(ps, NULL, S); }
body(R) ::= body(B) NEWLINE bline(S).      { R = el_push_item(ps, B, S); }
bline(R) ::= .                             { R = NULL; }
bline(R) ::= stmt(S).                      { R = S; }

params(R) ::= .                            { R = NULL; }
params(R) ::= plist(L).                    { R = L; }
params(R) ::= plist(L) COMMA.              { R = L; }
plist(R) ::= NAME(N).                      { R = el_push_name(ps, NULL, N); }
plist(R) ::= plist(L) COMMA NAME(N).       { R = el_push_name(ps, L, N); }

dims(R) ::= .                              { R = NULL; }
dims(R) ::= dlist(L).                      { R = L; }
dims(R) ::= dlist(L) COMMA.                { R = L; }
dlist(R) ::= size(T).                      { R = el_push_dim(ps, NULL, T); }
dlist(R) ::= dlist(L) COMMA size(T).       { R = el_push_dim(ps, L, T); }
size(R) ::= NAME(T).                       { R = T; }
size(R) ::= NUMBER(T).                     { R = T; }

expr(R) ::= term(A).                       { R = A; }
expr(R) ::= expr(A) PLUS term(B).          { R = el_binary(ps, '+', A, B); }
expr(R) ::= expr(A) MINUS term(B).         { R = el_binary(ps, '-', A, B); }
term(R) ::= unary(A).                      { R = A; }
term(R) ::= term(A) STAR unary(B).         { R = el_binary(ps, '*', A, B); }
term(R) ::= term(A) SLASH unary(B).        { R = el_binary(ps, '/', A, B); }
unary(R) ::= primary(A).                   { R = A; }
unary(R) ::= MINUS(M) unary(A).            { R = el_neg(ps, M, A); }

primary(R) ::= NUMBER(T).                  { R = el_number(ps, T); }
primary(R) ::= NAME(T).                    { R = el_name(ps, T); }
primary(R) ::= STRING(T).                  { R = el_string(ps, T); }
primary(R) ::= NAME(N) LPAREN args(A) RPAREN(E).
                                           { R = el_call(ps, N, A, E); }
primary(R) ::= LPAREN(L) expr(X) RPAREN(E).
                                           { R = el_paren(ps, L, X, E); }
primary(R) ::= LPAREN(L) expr(X) COMMA RPAREN(E).
                                           { R = el_tuple(ps, L, el_push_arg(ps, NULL, X), E); }
primary(R) ::= LPAREN(L) tlist(T) RPAREN(E).
                                           { R = el_tuple(ps, L, T, E); }
primary(R) ::= LPAREN(L) tlist(T) COMMA RPAREN(E).
                                           { R = el_tuple(ps, L, T, E); }
tlist(R) ::= expr(A) COMMA expr(B).        { R = el_push_arg(ps, el_push_arg(ps, NULL, A), B); }
tlist(R) ::= tlist(L) COMMA expr(X).       { R = el_push_arg(ps, L, X); }

args(R) ::= .                              { R = NULL; }
args(R) ::= alist(L).                      { R = L; }
args(R) ::= alist(L) COMMA.                { R = L; }
alist(R) ::= expr(X).                      { R = el_push_arg(ps, NULL, X); }
alist(R) ::= NAME(K) ASSIGN expr(X).       { R = el_push_kwarg(ps, NULL, K, X); }
alist(R) ::= alist(L) COMMA expr(X).       { R = el_push_arg(ps, L, X); }
alist(R) ::= alist(L) COMMA NAME(K) ASSIGN expr(X).
                                           { R = el_push_kwarg(ps, L, K, X); }
