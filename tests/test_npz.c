/*
 * test_npz.c — cli/npz.c, the .npz writer of `einc run -o FILE.npz`: the CRC-32's check
 * value, and an archive of two arrays read back field by field as a zip reader does (local
 * headers, stored data that is each array's .npy image, CRCs, the central directory and its
 * end record), so the format is checked where numpy is not installed too
 * (tests/python/test_multi.py reads the same files with np.load and zipfile).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "npz.h"
#include "helpers.h"

static uint32_t u16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t u32(const unsigned char *p) { return u16(p) | u16(p + 2) << 16; }

static void test_crc32(void **state)
{
    (void)state;
    /* the check value of CRC-32/ISO-HDLC, zip's */
    assert_int_equal(npz_crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(npz_crc32(npz_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
    assert_int_equal(npz_crc32(0, "", 0), 0);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *b = malloc(1 << 16);
    assert_non_null(b);
    *n = fread(b, 1, 1 << 16, f);
    fclose(f);
    return b;
}

static void test_archive(void **state)
{
    (void)state;
    float p[6] = { 0.5f, 0.25f, 0.25f, 1, 0, 0 };
    int64_t f1[3] = { 7, -1, 3 };
    npy_array a[2] = { { .dtype = EINC_F32, .ndim = 2, .shape = { 2, 3 }, .nbytes = sizeof p, .data = p },
                       { .dtype = EINC_I64, .ndim = 1, .shape = { 3 }, .nbytes = sizeof f1, .data = f1 } };
    const char *names[2] = { "probs", "f1" };
    char dir[] = "/tmp/einc-npz-XXXXXX", path[128], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/out.npz", dir);
    assert_int_equal(npz_write(path, 2, names, a, err, sizeof err), 0);
    size_t n;
    unsigned char *z = slurp(path, &n);
    size_t at = 0;
    uint32_t offset[2];
    for (int i = 0; i < 2; i++) {
        char want[16];
        snprintf(want, sizeof want, "%s.npy", names[i]);
        size_t nl = strlen(want);
        offset[i] = (uint32_t)at;
        assert_true(at + 30 + nl <= n);
        assert_int_equal(u32(z + at), 0x04034b50u);
        assert_int_equal(u16(z + at + 8), 0);                   /* stored */
        uint32_t crc = u32(z + at + 14), size = u32(z + at + 18);
        assert_int_equal(u32(z + at + 22), size);
        assert_int_equal(u16(z + at + 26), nl);
        assert_int_equal(u16(z + at + 28), 0);
        assert_memory_equal(z + at + 30, want, nl);
        const unsigned char *data = z + at + 30 + nl;
        assert_true(data + size <= z + n);
        assert_int_equal(npz_crc32(0, data, size), crc);
        npy_array back;
        assert_int_equal(npy_read_mem(data, size, want, &back, err, sizeof err), 0);
        assert_int_equal(back.dtype, a[i].dtype);
        assert_int_equal(back.ndim, a[i].ndim);
        assert_memory_equal(back.data, a[i].data, a[i].nbytes);
        npy_free(&back);
        at += 30 + nl + size;
    }
    /* the end record points at the central directory, which names both entries */
    const unsigned char *end = z + n - 22;
    assert_int_equal(u32(end), 0x06054b50u);
    assert_int_equal(u16(end + 8), 2);
    assert_int_equal(u16(end + 10), 2);
    assert_int_equal(u32(end + 16), at);
    assert_int_equal(u32(end + 12), n - 22 - at);
    const unsigned char *c = z + at;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(u32(c), 0x02014b50u);
        assert_int_equal(u32(c + 42), offset[i]);
        assert_int_equal(u32(c + 16), u32(z + offset[i] + 14));   /* the same CRC */
        c += 46 + u16(c + 28);
    }
    assert_ptr_equal(c, end);
    free(z);
    assert_int_equal(npz_write(path, 0, names, a, err, sizeof err), -1);
    assert_string_equal(err, "npz_write: invalid arguments");
    th_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_archive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
