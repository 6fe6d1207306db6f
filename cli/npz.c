/*
 * npz.c — numpy's .npz writer: a zip archive (PKWARE's APPNOTE, version 2.0 features only)
 * whose entries are .npy images, stored, each with its CRC-32, then the central directory.
 * Entry times are the zip epoch (1980-01-01 00:00), so the same arrays give the same bytes.
 */
#include "npz.h"
#include "file.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

uint32_t npz_crc32(uint32_t crc, const void *buf, size_t len)
{
    uint32_t table[256];        /* per call: 2,048 steps, nothing shared between threads */
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    const unsigned char *p = buf;
    crc = ~crc;
    for (size_t i = 0; i < len; i++)
        crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

static unsigned char *put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    return p + 2;
}

static unsigned char *put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
    return p + 4;
}

/*
 * A local header (central false) or a central directory entry: the fields they share, in
 * the order both have them after their signatures.
 */
static unsigned char *entry_header(unsigned char *p, bool central, const char *name, uint32_t crc,
                                   uint32_t size, uint32_t offset)
{
    size_t nlen = strlen(name);
    p = put32(p, central ? 0x02014b50u : 0x04034b50u);
    if (central)
        p = put16(p, 20);       /* made by: version 2.0, MS-DOS attributes */
    p = put16(p, 20);           /* needed to extract: 2.0 */
    p = put16(p, 0);            /* flags */
    p = put16(p, 0);            /* stored */
    p = put16(p, 0);            /* time 00:00 */
    p = put16(p, 0x21);         /* date 1980-01-01 */
    p = put32(p, crc);
    p = put32(p, size);         /* compressed */
    p = put32(p, size);         /* uncompressed */
    p = put16(p, (unsigned)nlen);
    p = put16(p, 0);            /* extra field */
    if (central) {
        p = put16(p, 0);        /* comment */
        p = put16(p, 0);        /* disk */
        p = put16(p, 0);        /* internal attributes */
        p = put32(p, 0);        /* external attributes */
        p = put32(p, offset);
    }
    memcpy(p, name, nlen);
    return p + nlen;
}

int npz_write(const char *path, int n, const char *const *names, const npy_array *arrays,
              char *err, size_t errlen)
{
    if (!path || n < 1 || n > 0xFFFF || !names || !arrays) {
        set_err(err, errlen, "npz_write: invalid arguments");
        return -1;
    }
    int rc = -1, nparts = 3 * n + 1;
    const void **parts = calloc((size_t)nparts, sizeof *parts);
    size_t *lens = calloc((size_t)nparts, sizeof *lens);
    unsigned char **owned = calloc((size_t)(2 * n + 1), sizeof *owned);
    char **fname = calloc((size_t)n, sizeof *fname);
    uint32_t *crc = calloc((size_t)n, sizeof *crc), *size = calloc((size_t)n, sizeof *size),
             *offset = calloc((size_t)n, sizeof *offset);
    if (!parts || !lens || !owned || !fname || !crc || !size || !offset) {
        set_err(err, errlen, "%s: out of memory", path);
        goto out;
    }
    uint64_t at = 0;
    size_t dirlen = 22;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(names[i]);
        if (nl + 4 > 0xFFFF || !(fname[i] = malloc(nl + 5))) {
            set_err(err, errlen, "%s: cannot write: bad name for array %d", path, i);
            goto out;
        }
        memcpy(fname[i], names[i], nl);
        memcpy(fname[i] + nl, ".npy", 5);
        size_t hlen = 0;
        unsigned char *hdr = npy_header(&arrays[i], path, &hlen, err, errlen);
        if (!hdr)
            goto out;
        owned[2 * i] = hdr;
        uint64_t bytes = (uint64_t)hlen + arrays[i].nbytes;
        if (bytes >= 0xFFFFFFFFu || at + 30 + nl + 4 + bytes >= 0xFFFFFFFFu) {
            set_err(err, errlen, "%s: cannot write: '%s' takes 4 GiB or more, which a zip "
                    "without ZIP64 cannot hold: write it to a .npy file", path, fname[i]);
            goto out;
        }
        crc[i] = npz_crc32(npz_crc32(0, hdr, hlen), arrays[i].data, arrays[i].nbytes);
        size[i] = (uint32_t)bytes;
        offset[i] = (uint32_t)at;
        unsigned char *lh = malloc(30 + nl + 4);
        if (!lh) {
            set_err(err, errlen, "%s: out of memory", path);
            goto out;
        }
        owned[2 * i + 1] = lh;
        parts[3 * i] = lh;
        lens[3 * i] = (size_t)(entry_header(lh, false, fname[i], crc[i], size[i], 0) - lh);
        parts[3 * i + 1] = hdr;
        lens[3 * i + 1] = hlen;
        parts[3 * i + 2] = arrays[i].data;
        lens[3 * i + 2] = arrays[i].nbytes;
        at += lens[3 * i] + bytes;
        dirlen += 46 + nl + 4;
    }
    unsigned char *dir = malloc(dirlen), *p = dir;
    if (!dir) {
        set_err(err, errlen, "%s: out of memory", path);
        goto out;
    }
    owned[2 * n] = dir;
    for (int i = 0; i < n; i++)
        p = entry_header(p, true, fname[i], crc[i], size[i], offset[i]);
    p = put32(p, 0x06054b50u);  /* end of central directory */
    p = put16(p, 0);            /* this disk */
    p = put16(p, 0);            /* the directory's disk */
    p = put16(p, (unsigned)n);
    p = put16(p, (unsigned)n);
    p = put32(p, (uint32_t)(dirlen - 22));
    p = put32(p, (uint32_t)at);
    p = put16(p, 0);            /* comment */
    parts[3 * n] = dir;
    lens[3 * n] = dirlen;
    rc = file_write_atomic(path, parts, lens, nparts, err, errlen);
out:
    for (int i = 0; owned && i < 2 * n + 1; i++)
        free(owned[i]);
    for (int i = 0; fname && i < n; i++)
        free(fname[i]);
    free(parts), free(lens), free(owned), free(fname), free(crc), free(size), free(offset);
    return rc;
}
