/* cc.c — error recording and rendering. */
#include "cc.h"

#include <limits.h>
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

/* Appends to a caller's buffer as snprintf does: what fits, always terminated, while at
   counts every byte the whole text needs. */
typedef struct fmt_out {
    char *buf;
    size_t n, at;
} fmt_out;

static void fmt_put(fmt_out *o, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++, o->at++)
        if (o->at + 1 < o->n) {
            o->buf[o->at] = s[i];
            o->buf[o->at + 1] = 0;
        }
}

static void fmt_repeat(fmt_out *o, char c, size_t times)
{
    for (size_t i = 0; i < times; i++)
        fmt_put(o, &c, 1);
}

/* A column is a character: UTF-8 continuation bytes take none. */
static bool is_column(char c) { return ((unsigned char)c & 0xC0) != 0x80; }

static size_t columns(const char *s, size_t from, size_t to)
{
    size_t n = 0;
    for (size_t i = from; i < to; i++)
        n += is_column(s[i]);
    return n;
}

/* The byte offset, at or after from, where column col (counted from from) starts. */
static size_t column_byte(const char *s, size_t from, size_t to, size_t col)
{
    size_t i = from;
    for (size_t c = 0; i < to; i++)
        if (is_column(s[i]) && c++ == col)
            return i;
    return to;
}

/*
 * A source line longer than this many columns is shown as a window of it around the
 * caret, with "..." where it was cut: a generated 100,000-character expression would
 * otherwise be echoed whole.
 */
#define ERROR_WINDOW 76

int einc_error_format(const einc_error *err, const char *source, char *buf, size_t n)
{
    if (!err)
        return snprintf(buf, n, "error: (no error)");
    int len = snprintf(buf, n, "error: %s", err->message);
    if (!source || err->begin < 0 || len < 0)
        return len;
    size_t slen = strlen(source);
    size_t b = (size_t)err->begin, e = err->end > err->begin ? (size_t)err->end : b;
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
    /* a UTF-8 byte-order mark (a model file may start with one) takes no column */
    if (ls == 0 && slen >= 3 && memcmp(source, "\xEF\xBB\xBF", 3) == 0) {
        ls = 3;
        b = b < 3 ? 3 : b;
        e = e < b ? b : e;
    }
    if (e > le)
        e = le;
    size_t ncol = columns(source, ls, le), cb = columns(source, ls, b);
    size_t span = e > b ? columns(source, b, e) : 1;
    /* the window, in columns [ws, we) of the line; a caret just past its end counts too */
    size_t ws = 0, we = ncol;
    bool cut_left = false, cut_right = false;
    if ((cb < ncol ? ncol : cb + 1) > ERROR_WINDOW) {
        size_t inner = ERROR_WINDOW - 6;            /* room left by two "..." marks */
        size_t before = span + 10 >= inner ? 5 : (inner - span) / 2;
        size_t start = cb > before ? cb - before : 0;
        if (start <= 3) {
            we = ERROR_WINDOW - 3;
            cut_right = true;
        } else if (start + inner + 3 >= ncol) {
            ws = ncol - (ERROR_WINDOW - 3);
            cut_left = true;
        } else {
            ws = start;
            we = start + inner;
            cut_left = cut_right = true;
        }
    }
    size_t wb = column_byte(source, ls, le, ws), wend = column_byte(source, ls, le, we);
    fmt_out o = { buf, n, (size_t)len };
    fmt_put(&o, "\n  ", 3);
    if (cut_left)
        fmt_put(&o, "...", 3);
    fmt_put(&o, source + wb, wend - wb);
    if (cut_right)
        fmt_put(&o, "...", 3);
    fmt_put(&o, "\n  ", 3);
    fmt_repeat(&o, ' ', cut_left ? 3 : 0);
    /* a tab above stays a tab below, so the caret lines up whatever the tab width */
    for (size_t i = wb; i < b; i++)
        if (is_column(source[i]))
            fmt_put(&o, source[i] == '\t' ? "\t" : " ", 1);
    size_t last = (cb + span < we || !cut_right) ? cb + span : we;
    fmt_repeat(&o, '^', last > cb ? last - cb : 1);
    return o.at > INT_MAX ? INT_MAX : (int)o.at;
}
