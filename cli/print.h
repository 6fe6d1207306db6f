/*
 * print.h — text of an npy_array as Python's print(numpy_array) shows it.
 */
#ifndef EINC_PRINT_H
#define EINC_PRINT_H

#include <stdio.h>

#include "npy.h"

/*
 * Writes str(a) with numpy's default print options (numpy >= 1.24: precision 8,
 * threshold 1000, edgeitems 3, linewidth 75, floatmode 'maxprec'), followed by a
 * newline as print() adds.  An invalid array (bad dtype or rank, NULL data with a
 * non-zero size) prints nothing.  Assumes the "C" LC_NUMERIC locale (a '.' decimal
 * point), which is what a program has unless it calls setlocale.
 */
int npy_printable(einc_dtype t);      /* whether npy_print formats this dtype */
void npy_print(FILE *f, const npy_array *a);

#endif
