/*
 * npy.h — reading and writing NumPy .npy files (format versions 1.0, 2.0 and 3.0).
 *
 * Only the element types einc computes with are supported: '<f4', '<f8', '<i4', '<i8'
 * and '|b1' (also spelled with '=' or without a byte-order character, and '?' for bool).
 * Arrays are always C-ordered and held in native (little-endian) byte order.
 */
#ifndef EINC_NPY_H
#define EINC_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "einc.h"

typedef struct npy_array {
    einc_dtype dtype;
    int ndim;
    int64_t shape[EINC_MAX_RANK];
    void *data;      /* malloc'ed, C order, native little-endian; NULL allowed when nbytes == 0 */
    size_t nbytes;
} npy_array;

/*
 * All return 0 on success, -1 on failure with a one-line message (no trailing newline,
 * no "error:" prefix) written into err (errlen bytes, always NUL-terminated; err may be
 * NULL).  They never print, exit or abort.  On failure *out is left zeroed.
 */

/* Parses a whole .npy image held in memory; name is used in messages (e.g. the file name). */
int npy_read_mem(const void *buf, size_t len, const char *name, npy_array *out, char *err,
                 size_t errlen);
int npy_read(const char *path, npy_array *out, char *err, size_t errlen);

/*
 * Writes a as numpy.save would (same header bytes).  The file is replaced atomically:
 * on failure an existing file at path is left untouched.
 */
int npy_write(const char *path, const npy_array *a, char *err, size_t errlen);

/*
 * The bytes numpy.save writes before a's data (malloc'ed, *len long), for writing a .npy
 * image somewhere npy_write cannot (standard output); name is used in messages.  NULL
 * with err set when a is invalid or memory runs out.
 */
unsigned char *npy_header(const npy_array *a, const char *name, size_t *len, char *err,
                          size_t errlen);

/* Frees data and zeroes the struct; safe on a zeroed struct and on NULL. */
void npy_free(npy_array *a);

/* Bytes per element, 0 for an invalid dtype. */
size_t npy_dtype_size(einc_dtype t);

#endif
