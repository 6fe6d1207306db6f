/*
 * file.h — writing a file atomically: a temporary in the same directory, then rename(),
 * so a reader (or a failed write) never sees a half-written or truncated file.
 */
#ifndef EINC_FILE_H
#define EINC_FILE_H

#include <stddef.h>

/*
 * Writes the n buffers one after another to path.  0 on success; -1 with a one-line
 * message "PATH: what failed: why" in err, and an existing file at path left untouched.
 */
int file_write_atomic(const char *path, const void *const *bufs, const size_t *lens, int n,
                      char *err, size_t errlen);

#endif
