/*
 * einl.re — the scanner for the layer language (see einl_lex.h).
 *
 * Keywords are matched before identifiers (re2c prefers the earlier rule on equal length);
 * a dotted name (F.relu, torch.nn.functional.relu) is one NAME, which the parser allows only
 * where a value or a callee goes, so that a torch spelling gets "did you mean" by name;
 * dtypes are plain identifiers, checked by the driver.  A newline is a token because it
 * ends a statement; the driver drops it inside brackets.
 */
#include "einl_lex.h"
#include "einl_gram.h"

/*!re2c
    re2c:define:YYCTYPE = "unsigned char";
    re2c:yyfill:enable = 0;
    re2c:flags:utf-8 = 0;

    digits = [0-9]+;
    exp    = [eE] [+-]? digits;
    number = digits ("." [0-9]*)? exp? | "." digits exp?;
    ident  = [a-zA-Z_][a-zA-Z0-9_]*;
*/

int lex_einl(const char *s, int *len)
{
    const unsigned char *YYCURSOR = (const unsigned char *)s, *YYMARKER;
    (void)YYMARKER;
#define LEN ((int)((const char *)YYCURSOR - s))
    /*!re2c
        "\x00"                      { *len = 0; return EL_LEX_END; }
        [ \t\r]+                    { *len = LEN; return EL_LEX_SPACE; }
        "#" [^\n\x00]*              { *len = LEN; return EL_LEX_SPACE; }
        "\n"                        { *len = 1; return EL_TK_NEWLINE; }

        "input"                     { *len = LEN; return EL_TK_INPUT; }
        "param"                     { *len = LEN; return EL_TK_PARAM; }
        "def"                       { *len = LEN; return EL_TK_DEF; }
        "return"                    { *len = LEN; return EL_TK_RETURN; }
        ident                       { *len = LEN; return EL_TK_NAME; }
        ident ("." ident)+          { *len = LEN; return EL_TK_NAME; }

        number                      { *len = LEN; return EL_TK_NUMBER; }
        (number | digits [eE] [+-]?) [a-zA-Z0-9_.]+
                                    { *len = LEN; return EL_LEX_BADNUM; }
        digits [eE] [+-]?           { *len = LEN; return EL_LEX_BADNUM; }

        ['] [^'\n\x00]* [']         { *len = LEN; return EL_TK_STRING; }
        ["] [^"\n\x00]* ["]         { *len = LEN; return EL_TK_STRING; }
        ['] [^'\n\x00]*             { *len = LEN; return EL_LEX_UNTERMINATED; }
        ["] [^"\n\x00]*             { *len = LEN; return EL_LEX_UNTERMINATED; }

        ":"                         { *len = 1; return EL_TK_COLON; }
        "["                         { *len = 1; return EL_TK_LBRACKET; }
        "]"                         { *len = 1; return EL_TK_RBRACKET; }
        "("                         { *len = 1; return EL_TK_LPAREN; }
        ")"                         { *len = 1; return EL_TK_RPAREN; }
        "{"                         { *len = 1; return EL_TK_LBRACE; }
        "}"                         { *len = 1; return EL_TK_RBRACE; }
        ","                         { *len = 1; return EL_TK_COMMA; }
        "="                         { *len = 1; return EL_TK_ASSIGN; }
        "+"                         { *len = 1; return EL_TK_PLUS; }
        "-"                         { *len = 1; return EL_TK_MINUS; }
        "*"                         { *len = 1; return EL_TK_STAR; }
        "/"                         { *len = 1; return EL_TK_SLASH; }
        *                           { *len = 1; return EL_LEX_BAD; }
    */
#undef LEN
}
