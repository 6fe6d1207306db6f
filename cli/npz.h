/*
 * npz.h — writing numpy's .npz: a zip archive of .npy files, stored uncompressed, as
 * numpy.savez writes it (README.md, "einc run").  No compression and no ZIP64: an array
 * of 4 GiB or more, or an archive that large, is an error.
 */
#ifndef EINC_NPZ_H
#define EINC_NPZ_H

#include "npy.h"

/*
 * Writes the n arrays to path, array i as the entry "names[i].npy", atomically (file.h).
 * 0, or -1 with a one-line message in err.
 */
int npz_write(const char *path, int n, const char *const *names, const npy_array *arrays,
              char *err, size_t errlen);

/* The CRC-32 of zip and PNG (polynomial 0xEDB88320), continued from crc (0 to start). */
uint32_t npz_crc32(uint32_t crc, const void *buf, size_t len);

#endif
