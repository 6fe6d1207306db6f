/* file.c — see file.h. */
#define _POSIX_C_SOURCE 200809L
#include "file.h"
#include "fdio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Permissions for the new file: mkstemp creates it 0600.  An existing file keeps its
 * mode; a new one gets 0644 (reading the umask would mean changing it, which is
 * process-wide state).
 */
static mode_t target_mode(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        return st.st_mode & 07777;
    return 0644;
}

int file_write_atomic(const char *path, const void *const *bufs, const size_t *lens, int n,
                      char *err, size_t errlen)
{
    const char *stage = "out of memory";
    int fd = -1, created = 0;
    char *tmp = malloc(strlen(path) + 8);
    if (tmp == NULL) {
        errno = ENOMEM;
        goto fail;
    }
    strcpy(tmp, path);
    strcat(tmp, ".XXXXXX");
    stage = "cannot create a temporary file";
    fd = mkstemp(tmp);
    if (fd < 0)
        goto fail;
    created = 1;
    stage = "cannot write";
    if (fchmod(fd, target_mode(path)) != 0)
        goto fail;
    for (int i = 0; i < n; i++)
        if (lens[i] && fd_write_all(fd, bufs[i], lens[i]) != 0)
            goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    stage = "cannot replace the file";
    if (rename(tmp, path) != 0)
        goto fail;
    free(tmp);
    return 0;
fail:
    if (err && errlen)
        snprintf(err, errlen, "%s: %s: %s", path, stage, strerror(errno));
    if (fd >= 0)
        close(fd);
    if (created)
        unlink(tmp);
    free(tmp);
    return -1;
}
