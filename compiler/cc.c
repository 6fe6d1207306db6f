/* cc.c — error recording and rendering. */
#include "cc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cc_error(cc *c, einc_status st, int begin, int end, const char *fmt, ...)
{
    if (c->failed)
        return -1;
    c->failed = true;
    if (c->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err->message, sizeof c->err->message, fmt, ap);
        va_end(ap);
        c->err->status = st;
        c->err->begin = begin;
        c->err->end = end < begin ? begin : end;
    }
    return -1;
}

int cc_nomem(cc *c) { return cc_error(c, EINC_ERR_NOMEM, -1, -1, "out of memory"); }

int einc_error_format(const einc_error *err, const char *source, char *buf, size_t n)
{
    if (!err)
        return snprintf(buf, n, "error: (no error)");
    int len = snprintf(buf, n, "error: %s", err->message);
    if (!source || err->begin < 0 || len < 0)
        return len;
    size_t slen = strlen(source);
    size_t b = (size_t)err->begin, e = (size_t)err->end;
    if (b > slen)
        return len;
    if (e > slen)
        e = slen;
    /* Show only the line holding the culprit, so a multi-line source stays one screen. */
    size_t ls = b, le = b;
    while (ls > 0 && source[ls - 1] != '\n')
        ls--;
    while (le < slen && source[le] != '\n')
        le++;
    if (e > le)
        e = le;
    size_t width = e > b ? e - b : 1;
    size_t at = (size_t)len;
    int m = snprintf(at < n ? buf + at : NULL, at < n ? n - at : 0, "\n  %.*s\n  %*s",
                     (int)(le - ls), source + ls, (int)(b - ls), "");
    if (m < 0)
        return m;
    at += (size_t)m;
    for (size_t i = 0; i < width; i++, at++)
        if (at + 1 < n) {
            buf[at] = '^';
            buf[at + 1] = 0;
        }
    return (int)at;
}
