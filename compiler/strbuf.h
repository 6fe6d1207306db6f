/* strbuf.h — a growable string for printers; a failed allocation sticks and is reported once. */
#ifndef EINC_STRBUF_H
#define EINC_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct strbuf {
    char *s;
    size_t len, cap;
    bool failed;
} strbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void sb_printf(strbuf *b, const char *fmt, ...);
char *sb_finish(strbuf *b);     /* the string (caller frees), or NULL if anything failed */

#endif
