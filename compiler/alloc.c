/* alloc.c — see alloc.h. */
#include "alloc.h"

#include <stdlib.h>

static _Thread_local long fail_countdown;   /* 0: off; otherwise allocations left + 1 */
static _Thread_local long allocations;

long einc_alloc_count(void) { return allocations; }

static int should_fail(void)
{
    allocations++;
    if (fail_countdown == 0)
        return 0;
    if (--fail_countdown == 0)
        return 1;
    return 0;
}

void einc_alloc_fail_after(long n) { fail_countdown = n > 0 ? n : 0; }

void *einc_malloc(size_t n) { return should_fail() ? NULL : malloc(n ? n : 1); }

void *einc_calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1);
}

void *einc_realloc(void *p, size_t n) { return should_fail() ? NULL : realloc(p, n ? n : 1); }

void einc_free(void *p) { free(p); }
