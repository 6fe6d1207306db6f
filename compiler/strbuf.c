/* strbuf.c — see strbuf.h. */
#include "strbuf.h"
#include "alloc.h"

#include <stdarg.h>
#include <stdio.h>

void sb_printf(strbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len <= (size_t)n)
            cap *= 2;
        char *s = einc_realloc(b->s, cap);
        if (!s) {
            b->failed = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

char *sb_finish(strbuf *b)
{
    if (b->failed || !b->s) {
        if (!b->failed && !b->s) {
            char *s = einc_malloc(1);
            if (s)
                *s = 0;
            return s;
        }
        einc_free(b->s);
        return NULL;
    }
    return b->s;
}
