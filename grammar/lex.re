/*
 * lex.re — scanners for the two dialects of index notation (see lex.h).
 *
 * The dialect is chosen before scanning (parse.c), because the same text means different
 * things: "ij" is two axes to numpy and one to einops.
 */
#include "lex.h"
#include "index.h"

/*!re2c
    re2c:define:YYCTYPE = "unsigned char";
    re2c:yyfill:enable = 0;
    re2c:flags:utf-8 = 0;
    space = [ \t\r\n\v\f]+;
*/

int lex_numpy(const char *s, int *len)
{
    const unsigned char *YYCURSOR = (const unsigned char *)s, *YYMARKER;
    (void)YYMARKER;
    /*!re2c
        "\x00"        { *len = 0; return LEX_END; }
        space         { *len = (int)((const char *)YYCURSOR - s); return LEX_SPACE; }
        [a-zA-Z]      { *len = 1; return TK_NAME; }
        "..."         { *len = 3; return TK_ELLIPSIS; }
        "->"          { *len = 2; return TK_ARROW; }
        ","           { *len = 1; return TK_COMMA; }
        *             { *len = 1; return LEX_BAD; }
    */
}

int lex_einops(const char *s, int *len)
{
    const unsigned char *YYCURSOR = (const unsigned char *)s, *YYMARKER;
    (void)YYMARKER;
    /*!re2c
        "\x00"                     { *len = 0; return LEX_END; }
        space                      { *len = (int)((const char *)YYCURSOR - s); return LEX_SPACE; }
        [a-zA-Z_][a-zA-Z0-9_]*     { *len = (int)((const char *)YYCURSOR - s); return TK_NAME; }
        [0-9]+                     { *len = (int)((const char *)YYCURSOR - s); return TK_NUMBER; }
        "..."                      { *len = 3; return TK_ELLIPSIS; }
        "->"                       { *len = 2; return TK_ARROW; }
        ","                        { *len = 1; return TK_COMMA; }
        "("                        { *len = 1; return TK_LPAREN; }
        ")"                        { *len = 1; return TK_RPAREN; }
        *                          { *len = 1; return LEX_BAD; }
    */
}
