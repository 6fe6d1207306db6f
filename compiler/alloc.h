/*
 * alloc.h — the library's one door to the heap.
 *
 * Every allocation in einc goes through these, so a test build can fail the Nth one
 * (failure injection) and check that each public entry point returns EINC_ERR_NOMEM and
 * leaks nothing.  The counter is per thread: no global mutable state is shared.
 */
#ifndef EINC_ALLOC_H
#define EINC_ALLOC_H

#include <stddef.h>

void *einc_malloc(size_t n);
void *einc_calloc(size_t n, size_t size);
void *einc_realloc(void *p, size_t n);
void einc_free(void *p);

/* Test hooks: fail the Nth allocation from now on this thread (0 = never); count them. */
void einc_alloc_fail_after(long n);
long einc_alloc_count(void);            /* allocations on this thread so far */

#endif
