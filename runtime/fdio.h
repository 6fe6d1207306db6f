/*
 * fdio.h — writing a whole buffer to a file descriptor, for the kernel cache (kcache.c)
 * and the CLI's atomic file writes (cli/file.c).
 */
#ifndef EINC_FDIO_H
#define EINC_FDIO_H

#include <stddef.h>

/*
 * Writes all n bytes of buf to fd, retrying short writes and EINTR.  0, or -1 with errno
 * set (EIO when the descriptor takes no more bytes and says nothing).
 */
int fd_write_all(int fd, const void *buf, size_t n);

#endif
