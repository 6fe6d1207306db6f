/*
 * test_npy.c — tests for cli/npy.c (the .npy reader and writer) and cli/print.c
 * (numpy-style printing).
 *
 * The expected printer output and the expected header bytes were produced by
 * python3 + numpy 2.4 and are hard-coded here as the independent reference.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "npy.h"
#include "print.h"
#include "helpers.h"

#define NAME "t.npy"

/* ---------------------------------------------------------------- fixtures and helpers */

/* The group state is a mkdtemp directory under /tmp, removed with its contents at the end. */
static int make_tmpdir(void **state)
{
    char *dir = strdup("/tmp/einc_test_npy.XXXXXX");
    if (dir == NULL || mkdtemp(dir) == NULL) {
        free(dir);
        return -1;
    }
    *state = dir;
    return 0;
}

static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL) {
            char sub[4096];
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            remove_tree(sub);
        }
        if (d != NULL)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int remove_tmpdir(void **state)
{
    remove_tree(*state);
    free(*state);
    return 0;
}

static const char *path_in(void **state, const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", (const char *)*state, name);
    return buf;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* Whole file contents, malloc'ed. */
static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t cap = 0, len = 0;
    assert_non_null(f);
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0)
            break;
    }
    fclose(f);
    *n = len;
    return buf;
}

/* A .npy image: magic, version major.0, little-endian header length, header, data. */
static unsigned char *build_npy(int major, const char *header, const void *data, size_t datalen,
                                size_t *outlen)
{
    size_t hlen = strlen(header), lenbytes = major == 1 ? 2 : 4;
    size_t n = 8 + lenbytes + hlen + datalen;
    unsigned char *buf = malloc(n);
    assert_non_null(buf);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    for (size_t i = 0; i < lenbytes; i++)
        buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + 8 + lenbytes, header, hlen);
    if (datalen > 0)
        memcpy(buf + 8 + lenbytes + hlen, data, datalen);
    *outlen = n;
    return buf;
}

static int read_header(int major, const char *header, const void *data, size_t datalen,
                       npy_array *out, char *err, size_t errlen)
{
    size_t len;
    unsigned char *buf = build_npy(major, header, data, datalen, &len);
    int rc = npy_read_mem(buf, len, NAME, out, err, errlen);
    free(buf);
    return rc;
}

/* Reading must fail with exactly this message and leave the output zeroed. */
static void expect_header_error(const char *header, size_t datalen, const char *message)
{
    npy_array a;
    char err[512];
    unsigned char *data = calloc(datalen + 1, 1);
    assert_non_null(data);
    memset(&a, 0x55, sizeof a);
    assert_int_equal(read_header(1, header, data, datalen, &a, err, sizeof err), -1);
    assert_string_equal(err, message);
    assert_null(a.data);
    assert_int_equal(a.nbytes, 0);
    free(data);
}

/* Like expect_header_error, for messages whose tail (byte offsets, lists) is not the point. */
static void expect_header_error_prefix(const char *header, const char *prefix)
{
    npy_array a;
    char err[512];
    unsigned char data[64] = {0};
    assert_int_equal(read_header(1, header, data, sizeof data, &a, err, sizeof err), -1);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("error \"%s\" does not start with \"%s\"", err, prefix);
    assert_null(a.data);
}

/* An array of the given shape with a deterministic, dtype-appropriate fill. */
static npy_array make_array(einc_dtype t, int ndim, const int64_t *shape)
{
    npy_array a;
    size_t n = 1;
    memset(&a, 0, sizeof a);
    a.dtype = t;
    a.ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        a.shape[i] = shape[i];
        n *= (size_t)shape[i];
    }
    a.nbytes = n * npy_dtype_size(t);
    a.data = n > 0 ? malloc(a.nbytes) : NULL;
    for (size_t i = 0; i < n; i++) {
        switch (t) {
        case EINC_F32: ((float *)a.data)[i] = (float)i * 0.25f - 3.0f; break;
        case EINC_F64: ((double *)a.data)[i] = (double)i / 7.0 - 1e10; break;
        case EINC_I32: ((int32_t *)a.data)[i] = (int32_t)(i * 2654435761u); break;
        case EINC_I64: ((int64_t *)a.data)[i] = (int64_t)i * -123456789012345LL; break;
        case EINC_BOOL: ((unsigned char *)a.data)[i] = (unsigned char)(i % 3 == 0); break;
        default: break;
        }
    }
    return a;
}

static void assert_same_array(const npy_array *x, const npy_array *y)
{
    assert_int_equal(x->dtype, y->dtype);
    assert_int_equal(x->ndim, y->ndim);
    for (int i = 0; i < x->ndim; i++)
        assert_int_equal(x->shape[i], y->shape[i]);
    assert_int_equal(x->nbytes, y->nbytes);
    if (x->nbytes > 0)
        assert_memory_equal(x->data, y->data, x->nbytes);
}

/* ---------------------------------------------------------------- round trips */

static void roundtrip(void **state, einc_dtype t, int ndim, const int64_t *shape)
{
    char path[4096], err[512];
    npy_array a = make_array(t, ndim, shape), b;
    path_in(state, "rt.npy", path, sizeof path);
    if (npy_write(path, &a, err, sizeof err) != 0)
        fail_msg("write: %s", err);
    if (npy_read(path, &b, err, sizeof err) != 0)
        fail_msg("read: %s", err);
    assert_same_array(&a, &b);
    if (b.nbytes == 0)
        assert_null(b.data);
    npy_free(&a);
    npy_free(&b);
    unlink(path);
}

static void test_roundtrip_every_dtype_and_shape(void **state)
{
    static const einc_dtype types[] = {EINC_F32, EINC_F64, EINC_I32, EINC_I64, EINC_BOOL};
    static const struct { int ndim; int64_t shape[5]; } shapes[] = {
        {0, {0}},             /* 0-d */
        {1, {7, 0}},
        {2, {3, 4}},
        {1, {0}},             /* empty */
        {3, {2, 0, 3}},       /* empty in the middle */
        {5, {2, 1, 3, 1, 2}}, /* rank 5 */
        {1, {1000}},
    };
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            roundtrip(state, types[t], shapes[s].ndim, shapes[s].shape);
}

static void test_roundtrip_rank_64(void **state)
{
    int64_t shape[EINC_MAX_RANK];
    for (int i = 0; i < EINC_MAX_RANK; i++)
        shape[i] = i == 10 || i == 63 ? 2 : 1;
    roundtrip(state, EINC_F64, EINC_MAX_RANK, shape);
    roundtrip(state, EINC_BOOL, EINC_MAX_RANK, shape);
}

/* The exact bytes numpy.save writes: header text, padding to 64, version and length. */
static void check_header_bytes(void **state, einc_dtype t, int ndim, const int64_t *shape,
                               const char *dict, size_t header_total)
{
    char path[4096], err[512];
    npy_array a = make_array(t, ndim, shape);
    unsigned char *file, *want = malloc(header_total);
    size_t n, hlen = header_total - 10;
    assert_non_null(want);
    memcpy(want, "\x93NUMPY\x01\x00", 8);
    want[8] = (unsigned char)(hlen & 0xff);
    want[9] = (unsigned char)(hlen >> 8);
    memset(want + 10, ' ', hlen);
    memcpy(want + 10, dict, strlen(dict));
    want[header_total - 1] = '\n';

    path_in(state, "hdr.npy", path, sizeof path);
    if (npy_write(path, &a, err, sizeof err) != 0)
        fail_msg("write: %s", err);
    file = slurp(path, &n);
    assert_int_equal(n, header_total + a.nbytes);
    assert_memory_equal(file, want, header_total);
    if (a.nbytes > 0)
        assert_memory_equal(file + header_total, a.data, a.nbytes);
    free(file);
    free(want);
    npy_free(&a);
    unlink(path);
}

static void test_write_matches_numpy_save_bytes(void **state)
{
    int64_t s23[] = {2, 3}, s5[] = {5}, s07[] = {0, 7}, ones[EINC_MAX_RANK];
    char dict64[1024];
    check_header_bytes(state, EINC_F32, 2, s23,
                       "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 128);
    check_header_bytes(state, EINC_F64, 0, NULL,
                       "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 128);
    check_header_bytes(state, EINC_BOOL, 1, s5,
                       "{'descr': '|b1', 'fortran_order': False, 'shape': (5,), }", 128);
    check_header_bytes(state, EINC_I32, 2, s07,
                       "{'descr': '<i4', 'fortran_order': False, 'shape': (0, 7), }", 128);
    /* rank 64 of ones: numpy writes a 320-byte header */
    strcpy(dict64, "{'descr': '<i8', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < EINC_MAX_RANK; i++) {
        ones[i] = 1;
        strcat(dict64, i ? ", 1" : "1");
    }
    strcat(dict64, "), }");
    check_header_bytes(state, EINC_I64, EINC_MAX_RANK, ones, dict64, 320);
}

/* ---------------------------------------------------------------- reading hand-built headers */

static void test_read_v1_keys_in_any_order(void **state)
{
    npy_array a;
    char err[512];
    int32_t data[2] = {-5, 70000};
    (void)state;
    assert_int_equal(read_header(1, "{'shape': (2,), 'fortran_order': False, 'descr': '<i4'}\n",
                                 data, sizeof data, &a, err, sizeof err), 0);
    assert_int_equal(a.dtype, EINC_I32);
    assert_int_equal(a.ndim, 1);
    assert_int_equal(a.shape[0], 2);
    assert_int_equal(a.nbytes, 8);
    assert_memory_equal(a.data, data, 8);
    npy_free(&a);
    npy_free(&a);   /* safe twice: npy_free zeroes */
}

static void test_read_v2_double_quotes_trailing_commas(void **state)
{
    npy_array a;
    char err[512];
    double data[4] = {1.5, -2.0, 1e300, 0.0};
    (void)state;
    assert_int_equal(read_header(2,
                                 "{\"descr\": \"<f8\", \"shape\": (2, 2,), "
                                 "\"fortran_order\": False,}        \n",
                                 data, sizeof data, &a, err, sizeof err), 0);
    assert_int_equal(a.dtype, EINC_F64);
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.shape[0], 2);
    assert_int_equal(a.shape[1], 2);
    assert_memory_equal(a.data, data, sizeof data);
    npy_free(&a);
}

static void test_read_v3_header(void **state)
{
    npy_array a;
    char err[512];
    unsigned char data[3] = {1, 0, 1};
    (void)state;
    assert_int_equal(read_header(3, "{'fortran_order': False, 'descr': '|b1', 'shape': (3,), }  \n",
                                 data, sizeof data, &a, err, sizeof err), 0);
    assert_int_equal(a.dtype, EINC_BOOL);
    assert_int_equal(a.shape[0], 3);
    assert_memory_equal(a.data, data, 3);
    npy_free(&a);
}

static void test_read_shape_spellings(void **state)
{
    static const struct { const char *shape; int ndim; int64_t dims[3]; } cases[] = {
        {"()", 0, {0}},
        {"( )", 0, {0}},
        {"(5,)", 1, {5}},
        {"( 5 , )", 1, {5}},
        {"(0, 4)", 2, {0, 4}},
        {"(2,3)", 2, {2, 3}},
        {"(2L, 3L)", 2, {2, 3}},   /* Python 2 era numpy */
        {"(1, 2, 1,)", 3, {1, 2, 1}},
    };
    unsigned char data[64] = {0};
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char header[256], err[512];
        npy_array a;
        snprintf(header, sizeof header,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }\n", cases[i].shape);
        if (read_header(1, header, data, sizeof data, &a, err, sizeof err) != 0)
            fail_msg("%s: %s", cases[i].shape, err);
        assert_int_equal(a.ndim, cases[i].ndim);
        for (int d = 0; d < a.ndim; d++)
            assert_int_equal(a.shape[d], cases[i].dims[d]);
        npy_free(&a);
    }
}

static void test_read_descr_spellings(void **state)
{
    static const struct { const char *descr; einc_dtype t; } cases[] = {
        {"<f4", EINC_F32}, {"=f4", EINC_F32}, {"f4", EINC_F32}, {"<f8", EINC_F64},
        {"=f8", EINC_F64}, {"<i4", EINC_I32}, {"i4", EINC_I32}, {"<i8", EINC_I64},
        {"=i8", EINC_I64}, {"|b1", EINC_BOOL}, {"b1", EINC_BOOL}, {"?", EINC_BOOL},
        {"|?", EINC_BOOL},
    };
    unsigned char data[8] = {0};
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char header[256], err[512];
        npy_array a;
        snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (1,)}",
                 cases[i].descr);
        if (read_header(1, header, data, sizeof data, &a, err, sizeof err) != 0)
            fail_msg("%s: %s", cases[i].descr, err);
        assert_int_equal(a.dtype, cases[i].t);
        npy_free(&a);
    }
}

static void test_read_bools_nonzero_is_true(void **state)
{
    npy_array a;
    char err[512];
    unsigned char data[4] = {0, 1, 2, 255}, want[4] = {0, 1, 1, 1};
    (void)state;
    assert_int_equal(read_header(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (4,), }",
                                 data, sizeof data, &a, err, sizeof err), 0);
    assert_memory_equal(a.data, want, 4);
    npy_free(&a);
}

static void test_read_ignores_trailing_bytes(void **state)
{
    npy_array a;
    char err[512];
    int64_t data[3] = {1, 2, 3};
    (void)state;
    assert_int_equal(read_header(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
                                 data, sizeof data, &a, err, sizeof err), 0);
    assert_int_equal(a.nbytes, 16);
    assert_memory_equal(a.data, data, 16);
    npy_free(&a);
}

static void test_read_empty_array_has_null_data(void **state)
{
    npy_array a;
    char err[512];
    (void)state;
    assert_int_equal(read_header(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 0), }",
                                 NULL, 0, &a, err, sizeof err), 0);
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.nbytes, 0);
    assert_null(a.data);
    npy_free(&a);
}

/* ---------------------------------------------------------------- read errors */

static void expect_mem_error(const void *buf, size_t len, const char *message)
{
    npy_array a;
    char err[512];
    assert_int_equal(npy_read_mem(buf, len, NAME, &a, err, sizeof err), -1);
    assert_string_equal(err, message);
    assert_null(a.data);
}

static void test_error_bad_magic(void **state)
{
    (void)state;
    expect_mem_error("PK\x03\x04 this is a zip file", 20, NAME ": not a .npy file (bad magic string)");
    expect_mem_error("\x93NUMPX\x01\x00", 8, NAME ": not a .npy file (bad magic string)");
    expect_mem_error("x", 1, NAME ": not a .npy file (bad magic string)");
}

static void test_error_truncated_file(void **state)
{
    (void)state;
    expect_mem_error("", 0, NAME ": truncated file: 0 bytes is too short for a .npy header");
    expect_mem_error("\x93NUM", 4, NAME ": truncated file: 4 bytes is too short for a .npy header");
    expect_mem_error("\x93NUMPY\x01\x00\x10", 9,
                     NAME ": truncated file: 9 bytes is too short for a .npy header");
    expect_mem_error("\x93NUMPY\x02\x00\x10\x00", 10,
                     NAME ": truncated file: 10 bytes is too short for a .npy header");
}

static void test_error_unknown_version(void **state)
{
    (void)state;
    expect_mem_error("\x93NUMPY\x04\x00\x10\x00{}", 12,
                     NAME ": unsupported .npy format version 4.0 (supported: 1.0, 2.0, 3.0)");
    expect_mem_error("\x93NUMPY\x01\x01\x10\x00{}", 12,
                     NAME ": unsupported .npy format version 1.1 (supported: 1.0, 2.0, 3.0)");
    expect_mem_error("\x93NUMPY\x00\x00\x10\x00{}", 12,
                     NAME ": unsupported .npy format version 0.0 (supported: 1.0, 2.0, 3.0)");
}

static void test_error_header_length_past_end(void **state)
{
    size_t len;
    unsigned char *buf = build_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
                                   NULL, 0, &len);
    (void)state;
    /* cut the header short: the length field still says 55 */
    expect_mem_error(buf, 40,
                     NAME ": truncated header: the header length is 55 bytes but only 30 follow");
    buf[8] = 0xff;
    buf[9] = 0xff;
    expect_mem_error(buf, len,
                     NAME ": truncated header: the header length is 65535 bytes but only 55 follow");
    free(buf);
}

static void test_error_malformed_dict(void **state)
{
    (void)state;
    expect_header_error_prefix("descr: '<f4'", NAME ": malformed header: expected '{'");
    expect_header_error_prefix("{'descr' '<f4', 'fortran_order': False, 'shape': ()}",
                               NAME ": malformed header: expected ':' after a key");
    expect_header_error_prefix("{'descr': '<f4, 'fortran_order': False, 'shape': ()}",
                               NAME ": malformed header:");
    expect_header_error_prefix("{'descr': '<f4', 'fortran_order': False 'shape': ()}",
                               NAME ": malformed header: expected ',' or '}'");
    expect_header_error_prefix("{'descr': '<f4', 'fortran_order': False, 'shape': ()",
                               NAME ": malformed header: expected ',' or '}'");
    expect_header_error_prefix("{'descr': '<f4', 'fortran_order': False, 'shape': (), 7: 1}",
                               NAME ": malformed header: expected a quoted string");
    expect_header_error_prefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3}",
                               NAME ": malformed header: expected ',' or ')' in shape");
    expect_header_error_prefix("{'descr': '<f4', 'fortran_order': False, 'shape': (a,)}",
                               NAME ": malformed header: shape must be a tuple of integers");
    expect_header_error_prefix("{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}",
                               NAME ": malformed header: shape must be a tuple of integers");
    expect_header_error_prefix("{'descr': '<f4', 'fortran_order': False, 'shape': (5)}",
                               NAME ": malformed header: shape must be a tuple of integers, e.g. (5,)");
    expect_header_error_prefix("{'descr': '<f4', 'fortran_order': 0, 'shape': ()}",
                               NAME ": malformed header: fortran_order must be True or False");
    expect_header_error_prefix("{'descr': '<f4', 'fortran_order': False, 'shape': ()} junk",
                               NAME ": malformed header: unexpected text after the dict");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'extra': 1}", 0,
                        NAME ": malformed header: unexpected key 'extra'");
}

static void test_error_missing_keys(void **state)
{
    (void)state;
    expect_header_error("{'fortran_order': False, 'shape': (2,)}", 8,
                        NAME ": header is missing the 'descr' key");
    expect_header_error("{'descr': '<f4', 'shape': (2,)}", 8,
                        NAME ": header is missing the 'fortran_order' key");
    expect_header_error("{'descr': '<f4', 'fortran_order': False}", 8,
                        NAME ": header is missing the 'shape' key");
    expect_header_error("{}", 8, NAME ": header is missing the 'descr' key");
}

static void test_error_fortran_order(void **state)
{
    (void)state;
    expect_header_error("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24,
                        NAME ": Fortran-ordered arrays are not supported; save with "
                        "np.ascontiguousarray");
}

static void test_error_big_endian(void **state)
{
    (void)state;
    expect_header_error("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8,
                        NAME ": big-endian dtype '>f4' is not supported; convert it with "
                        "a.astype('<f4')");
    expect_header_error("{'descr': '>i8', 'fortran_order': False, 'shape': (2,), }", 16,
                        NAME ": big-endian dtype '>i8' is not supported; convert it with "
                        "a.astype('<i8')");
}

static void test_error_other_dtypes(void **state)
{
    (void)state;
    expect_header_error("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 16,
                        NAME ": object arrays (dtype '|O') are not supported");
    expect_header_error_prefix("{'descr': '<c32', 'fortran_order': False, 'shape': (2,), }",
                               NAME ": unsupported dtype '<c32' (supported: float16 '<f2'");
    expect_header_error_prefix("{'descr': '<U5', 'fortran_order': False, 'shape': (2,), }",
                               NAME ": unsupported dtype '<U5'");
    expect_header_error_prefix("{'descr': '<f16', 'fortran_order': False, 'shape': (2,), }",
                               NAME ": unsupported dtype '<f16'");
    expect_header_error("{'descr': '>c8', 'fortran_order': False, 'shape': (2,), }", 16,
                        NAME ": big-endian dtype '>c8' is not supported; convert it with "
                        "a.astype('<c8')");
    expect_header_error("{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, "
                        "'shape': (2,), }", 16,
                        NAME ": structured dtype [('a', '<f4'), ('b', '<i4')] is not supported");
}

static void test_error_bad_shapes(void **state)
{
    char header[1024];
    (void)state;
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", 64,
                        NAME ": negative dimension -3 in shape");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, "
                        "'shape': (4611686018427387904, 4), }", 64,
                        NAME ": shape is too large: the array size overflows");
    /* 2**61 float32 elements is 2**63 bytes: one past INT64_MAX */
    expect_header_error("{'descr': '<f4', 'fortran_order': False, "
                        "'shape': (2305843009213693952,), }", 64,
                        NAME ": shape is too large: the array size overflows");
    expect_header_error("{'descr': '<f4', 'fortran_order': False, "
                        "'shape': (99999999999999999999,), }", 64,
                        NAME ": shape is too large: a dimension overflows 64 bits");

    strcpy(header, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < EINC_MAX_RANK + 1; i++)
        strcat(header, "1, ");
    strcat(header, "), }");
    expect_header_error(header, 64, NAME ": array has 65 dimensions; at most 64 are supported");
}

static void test_error_truncated_data(void **state)
{
    (void)state;
    expect_header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20,
                        NAME ": truncated: expected 24 bytes of data, found 20");
    expect_header_error("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", 0,
                        NAME ": truncated: expected 8 bytes of data, found 0");
}

static void test_error_message_fits_small_buffer(void **state)
{
    npy_array a;
    char err[12];
    (void)state;
    memset(err, 'x', sizeof err);
    assert_int_equal(npy_read_mem("nope", 4, NAME, &a, err, sizeof err), -1);
    assert_string_equal(err, "t.npy: not ");
    /* a NULL err is allowed */
    assert_int_equal(npy_read_mem("nope", 4, NAME, &a, NULL, 0), -1);
}

static void test_read_file_errors(void **state)
{
    char path[4096], err[512], want[4200];
    npy_array a;
    path_in(state, "does-not-exist.npy", path, sizeof path);
    assert_int_equal(npy_read(path, &a, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    assert_string_equal(err, want);

    /* the error names the file */
    path_in(state, "junk.npy", path, sizeof path);
    th_write_file(path, "hello", 5);
    assert_int_equal(npy_read(path, &a, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: not a .npy file (bad magic string)", path);
    assert_string_equal(err, want);
    unlink(path);

    assert_int_equal(npy_read(*state, &a, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: cannot read: Is a directory", (const char *)*state);
    assert_string_equal(err, want);
}

/* ---------------------------------------------------------------- atomic writes */

static void test_write_replaces_existing_file(void **state)
{
    char path[4096], err[512];
    int64_t s1[] = {3}, s2[] = {2, 2};
    npy_array a = make_array(EINC_I64, 1, s1), b = make_array(EINC_F32, 2, s2), c;
    path_in(state, "replace.npy", path, sizeof path);
    assert_int_equal(npy_write(path, &a, err, sizeof err), 0);
    assert_int_equal(npy_write(path, &b, err, sizeof err), 0);
    assert_int_equal(npy_read(path, &c, err, sizeof err), 0);
    assert_same_array(&b, &c);
    assert_int_equal(count_entries(*state), 1);   /* no temporary left behind */
    npy_free(&a);
    npy_free(&b);
    npy_free(&c);
    unlink(path);
}

static void test_write_into_missing_directory(void **state)
{
    char path[4096], err[512], want[4200];
    int64_t s[] = {4};
    npy_array a = make_array(EINC_F64, 1, s);
    path_in(state, "no/such/dir/x.npy", path, sizeof path);
    assert_int_equal(npy_write(path, &a, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: cannot create a temporary file: No such file or directory",
             path);
    assert_string_equal(err, want);
    assert_int_equal(count_entries(*state), 0);
    npy_free(&a);
}

static void test_write_over_directory_leaves_it_alone(void **state)
{
    char dir[4096], keep[4200], err[512], want[4200];
    int64_t s[] = {4};
    npy_array a = make_array(EINC_F64, 1, s);
    size_t n;
    unsigned char *got;
    struct stat st;
    path_in(state, "a-directory", dir, sizeof dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(keep, sizeof keep, "%s/keep", dir);
    th_write_file(keep, "precious", 8);

    assert_int_equal(npy_write(dir, &a, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: cannot replace the file: Is a directory", dir);
    assert_string_equal(err, want);

    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    got = slurp(keep, &n);
    assert_int_equal(n, 8);
    assert_memory_equal(got, "precious", 8);
    free(got);
    assert_int_equal(count_entries(*state), 1);   /* the temporary was removed */
    assert_int_equal(count_entries(dir), 1);
    remove_tree(dir);
    npy_free(&a);
}

/*
 * A write that fails half way: RLIMIT_FSIZE makes write() fail with EFBIG (SIGXFSZ is
 * ignored meanwhile).  This works as root too, unlike a read-only directory.
 */
static void test_failed_write_keeps_existing_file(void **state)
{
    char path[4096], err[512];
    int64_t s[] = {1 << 18};
    npy_array a = make_array(EINC_F64, 1, s);
    struct rlimit old, lim;
    void (*old_handler)(int);
    unsigned char *got;
    size_t n;
    int rc;
    static const char original[] = "the original file contents";

    path_in(state, "keep.npy", path, sizeof path);
    th_write_file(path, original, sizeof original);

    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 65536;
    old_handler = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    rc = npy_write(path, &a, err, sizeof err);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, old_handler);

    assert_int_equal(rc, -1);
    if (strstr(err, ": cannot write: File too large") == NULL)
        fail_msg("unexpected error: %s", err);
    got = slurp(path, &n);
    assert_int_equal(n, sizeof original);
    assert_memory_equal(got, original, sizeof original);
    free(got);
    assert_int_equal(count_entries(*state), 1);   /* the temporary was removed */
    unlink(path);
    npy_free(&a);
}

static void test_write_rejects_inconsistent_arrays(void **state)
{
    char path[4096], err[512], want[4200];
    int64_t s[] = {2, 3};
    npy_array a = make_array(EINC_I32, 2, s);
    path_in(state, "bad.npy", path, sizeof path);

    a.nbytes = 20;
    assert_int_equal(npy_write(path, &a, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "%s: cannot write: nbytes 20 does not match the shape and dtype", path);
    assert_string_equal(err, want);
    a.nbytes = 24;

    a.shape[1] = -3;
    assert_int_equal(npy_write(path, &a, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: cannot write: negative dimension -3 in shape", path);
    assert_string_equal(err, want);
    a.shape[1] = 3;

    a.ndim = EINC_MAX_RANK + 1;
    assert_int_equal(npy_write(path, &a, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: cannot write: rank 65 is outside 0..64", path);
    assert_string_equal(err, want);
    a.ndim = 2;

    a.dtype = EINC_DTYPE_COUNT;
    assert_int_equal(npy_write(path, &a, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: cannot write: invalid dtype %d", path, (int)EINC_DTYPE_COUNT);
    assert_string_equal(err, want);
    a.dtype = EINC_I32;

    assert_int_equal(count_entries(*state), 0);
    npy_free(&a);
}

static void test_dtype_size(void **state)
{
    (void)state;
    assert_int_equal(npy_dtype_size(EINC_F32), 4);
    assert_int_equal(npy_dtype_size(EINC_F64), 8);
    assert_int_equal(npy_dtype_size(EINC_I32), 4);
    assert_int_equal(npy_dtype_size(EINC_I64), 8);
    assert_int_equal(npy_dtype_size(EINC_BOOL), 1);
    assert_int_equal(npy_dtype_size(EINC_DTYPE_COUNT), 0);
    npy_free(NULL);
}

/* ---------------------------------------------------------------- printing */

/*
 * Each case is an array and what print(array) shows in numpy 2.4.  Values come either
 * from vals/ivals, or (nvals < 0) from numpy's np.arange(n) * step / div computed in the
 * element type (bool: i % 3 == 0).
 */
typedef struct print_case {
    const char *label;
    einc_dtype dtype;
    int ndim;
    int64_t shape[6];
    int nvals;
    const double *vals;
    const int64_t *ivals;
    int64_t step, div;
    const char *expect;
} print_case;

static const print_case print_cases[] = {
    {"f64 1-d mixed fractions", EINC_F64, 1, {3}, 3, (const double[]){0x1.0000000000000p+0, 0x1.4000000000000p+1, 0x1.8000000000000p+1}, NULL, 0, 0,
     "[1.  2.5 3. ]"},
    {"f64 0-d", EINC_F64, 0, {0}, 1, (const double[]){0x1.c000000000000p+1}, NULL, 0, 0,
     "3.5"},
    {"f64 0-d integral", EINC_F64, 0, {0}, 1, (const double[]){0x1.0000000000000p+1}, NULL, 0, 0,
     "2.0"},
    {"f64 0-d negative zero", EINC_F64, 0, {0}, 1, (const double[]){-0.0}, NULL, 0, 0,
     "-0.0"},
    {"f64 0-d nan", EINC_F64, 0, {0}, 1, (const double[]){NAN}, NULL, 0, 0,
     "nan"},
    {"f64 0-d -inf", EINC_F64, 0, {0}, 1, (const double[]){-INFINITY}, NULL, 0, 0,
     "-inf"},
    {"f64 0-d 1e16 is scientific", EINC_F64, 0, {0}, 1, (const double[]){0x1.1c37937e08000p+53}, NULL, 0, 0,
     "1e+16"},
    {"f64 0-d 1e15 is positional", EINC_F64, 0, {0}, 1, (const double[]){0x1.c6bf526340000p+49}, NULL, 0, 0,
     "1000000000000000.0"},
    {"f64 0-d small", EINC_F64, 0, {0}, 1, (const double[]){0x1.421f5f40d8376p-23}, NULL, 0, 0,
     "1.5e-07"},
    {"f32 0-d 0.1", EINC_F32, 0, {0}, 1, (const double[]){0x1.99999a0000000p-4}, NULL, 0, 0,
     "0.1"},
    {"f32 0-d 1e-4 is scientific", EINC_F32, 0, {0}, 1, (const double[]){0x1.a36e2e0000000p-14}, NULL, 0, 0,
     "1e-04"},
    {"f32 0-d 1e6 is scientific", EINC_F32, 0, {0}, 1, (const double[]){0x1.e848000000000p+19}, NULL, 0, 0,
     "1e+06"},
    {"f32 0-d power of two boundary", EINC_F32, 0, {0}, 1, (const double[]){0x1.0000000000000p-96}, NULL, 0, 0,
     "1.2621775e-29"},
    {"i32 0-d", EINC_I32, 0, {0}, 1, NULL, (const int64_t[]){7LL}, 0, 0,
     "7"},
    {"i64 0-d negative", EINC_I64, 0, {0}, 1, NULL, (const int64_t[]){-123456789012LL}, 0, 0,
     "-123456789012"},
    {"bool 0-d True", EINC_BOOL, 0, {0}, 1, NULL, (const int64_t[]){1LL}, 0, 0,
     "True"},
    {"bool 0-d False", EINC_BOOL, 0, {0}, 1, NULL, (const int64_t[]){0LL}, 0, 0,
     "False"},
    {"f64 empty 1-d", EINC_F64, 1, {0}, 0, NULL, NULL, 0, 0,
     "[]"},
    {"i32 empty 2-d", EINC_I32, 2, {2, 0}, 0, NULL, NULL, 0, 0,
     "[]"},
    {"bool empty 3-d", EINC_BOOL, 3, {3, 0, 2}, 0, NULL, NULL, 0, 0,
     "[]"},
    {"f64 2-d sevenths", EINC_F64, 2, {2, 3}, -1, NULL, NULL, 1, 7,
     "[[0.         0.14285714 0.28571429]\n"
         " [0.42857143 0.57142857 0.71428571]]"},
    {"f32 3-d sevenths", EINC_F32, 3, {2, 3, 4}, -1, NULL, NULL, 1, 7,
     "[[[0.         0.14285715 0.2857143  0.42857143]\n"
         "  [0.5714286  0.71428573 0.85714287 1.        ]\n"
         "  [1.1428572  1.2857143  1.4285715  1.5714285 ]]\n"
         "\n"
         " [[1.7142857  1.8571428  2.         2.142857  ]\n"
         "  [2.2857144  2.4285715  2.5714285  2.7142856 ]\n"
         "  [2.857143   3.         3.142857   3.2857144 ]]]"},
    {"f32 thirds", EINC_F32, 1, {5}, -1, NULL, NULL, 1, 3,
     "[0.         0.33333334 0.6666667  1.         1.3333334 ]"},
    {"f32 0.1 0.2 0.3", EINC_F32, 1, {3}, 3, (const double[]){0x1.99999a0000000p-4, 0x1.99999a0000000p-3, 0x1.3333340000000p-2}, NULL, 0, 0,
     "[0.1 0.2 0.3]"},
    {"f64 0.1+0.2", EINC_F64, 1, {2}, 2, (const double[]){0x1.3333333333334p-2, 0x1.5555555555555p-2}, NULL, 0, 0,
     "[0.3        0.33333333]"},
    {"i32 2-d negatives", EINC_I32, 2, {2, 3}, 6, NULL, (const int64_t[]){1LL, -20LL, 300LL, 4LL, 5LL, 6LL}, 0, 0,
     "[[  1 -20 300]\n"
         " [  4   5   6]]"},
    {"i64 extremes", EINC_I64, 1, {3}, 3, NULL, (const int64_t[]){INT64_MIN, 0LL, 9223372036854775807LL}, 0, 0,
     "[-9223372036854775808                    0  9223372036854775807]"},
    {"bool 1-d", EINC_BOOL, 1, {3}, 3, NULL, (const int64_t[]){1LL, 0LL, 1LL}, 0, 0,
     "[ True False  True]"},
    {"bool 2-d", EINC_BOOL, 2, {2, 2}, 4, NULL, (const int64_t[]){1LL, 0LL, 0LL, 0LL}, 0, 0,
     "[[ True False]\n"
         " [False False]]"},
    {"f64 nan and -inf", EINC_F64, 1, {3}, 3, (const double[]){NAN, -INFINITY, 0x1.8000000000000p+0}, NULL, 0, 0,
     "[ nan -inf  1.5]"},
    {"f64 nan and inf only", EINC_F64, 1, {2}, 2, (const double[]){NAN, INFINITY}, NULL, 0, 0,
     "[nan inf]"},
    {"f64 negative zero", EINC_F64, 1, {2}, 2, (const double[]){-0.0, 0x1.0000000000000p+0}, NULL, 0, 0,
     "[-0.  1.]"},
    {"f64 all zeros", EINC_F64, 1, {2}, 2, (const double[]){0.0, 0.0}, NULL, 0, 0,
     "[0. 0.]"},
    {"f64 scientific by ratio", EINC_F64, 1, {2}, 2, (const double[]){0x1.0000000000000p+0, 0x1.86a0000000000p+16}, NULL, 0, 0,
     "[1.e+00 1.e+05]"},
    {"f64 scientific by small value", EINC_F64, 1, {2}, 2, (const double[]){0x1.f75104d551d69p-17, 0x1.0000000000000p+0}, NULL, 0, 0,
     "[1.5e-05 1.0e+00]"},
    {"f64 three-digit exponent", EINC_F64, 1, {2}, 2, (const double[]){0x1.249ad2594c37dp+332, 0x1.0000000000000p+0}, NULL, 0, 0,
     "[1.e+100 1.e+000]"},
    {"f64 scientific with nan", EINC_F64, 1, {3}, 3, (const double[]){-0x1.4f8b588e368f1p-17, 0x1.0000000000000p+0, NAN}, NULL, 0, 0,
     "[-1.e-05  1.e+00     nan]"},
    {"f64 round half even at the 8th digit", EINC_F64, 1, {1}, 1, (const double[]){0x1.0080000000000p+0}, NULL, 0, 0,
     "[1.00195312]"},
    {"f64 large positional", EINC_F64, 1, {2}, 2, (const double[]){0x1.78c29d0000000p+23, 0x1.7d78400000000p+23}, NULL, 0, 0,
     "[12345678.5 12500000. ]"},
    {"f32 scientific keeps exact digits", EINC_F32, 1, {2}, 2, (const double[]){0x1.5555560000000p-1, 0x1.86a0000000000p+16}, NULL, 0, 0,
     "[6.666667e-01 1.000000e+05]"},
    {"f32 1e6 switches to scientific", EINC_F32, 1, {2}, 2, (const double[]){0x1.e848000000000p+19, 0x1.4000000000000p+1}, NULL, 0, 0,
     "[1.0e+06 2.5e+00]"},
    {"f32 power of two boundary", EINC_F32, 1, {5}, 5, (const double[]){0x1.0000000000000p-100, 0x1.0000000000000p-99, 0x1.0000000000000p-98, 0x1.0000000000000p-97, 0x1.0000000000000p-96}, NULL, 0, 0,
     "[7.8886091e-31 1.5777218e-30 3.1554436e-30 6.3108872e-30 1.2621775e-29]"},
    {"f64 2-d nan inf", EINC_F64, 2, {2, 2}, 4, (const double[]){0x1.8000000000000p+0, NAN, INFINITY, -INFINITY}, NULL, 0, 0,
     "[[ 1.5  nan]\n"
         " [ inf -inf]]"},
    {"f64 row wraps at 75 columns", EINC_F64, 1, {30}, -1, NULL, NULL, 1, 7,
     "[0.         0.14285714 0.28571429 0.42857143 0.57142857 0.71428571\n"
         " 0.85714286 1.         1.14285714 1.28571429 1.42857143 1.57142857\n"
         " 1.71428571 1.85714286 2.         2.14285714 2.28571429 2.42857143\n"
         " 2.57142857 2.71428571 2.85714286 3.         3.14285714 3.28571429\n"
         " 3.42857143 3.57142857 3.71428571 3.85714286 4.         4.14285714]"},
    {"i64 row wraps", EINC_I64, 1, {40}, -1, NULL, NULL, 1000, 1,
     "[    0  1000  2000  3000  4000  5000  6000  7000  8000  9000 10000 11000\n"
         " 12000 13000 14000 15000 16000 17000 18000 19000 20000 21000 22000 23000\n"
         " 24000 25000 26000 27000 28000 29000 30000 31000 32000 33000 34000 35000\n"
         " 36000 37000 38000 39000]"},
    {"bool rows wrap", EINC_BOOL, 2, {3, 30}, -1, NULL, NULL, 1, 1,
     "[[ True False False  True False False  True False False  True False False\n"
         "   True False False  True False False  True False False  True False False\n"
         "   True False False  True False False]\n"
         " [ True False False  True False False  True False False  True False False\n"
         "   True False False  True False False  True False False  True False False\n"
         "   True False False  True False False]\n"
         " [ True False False  True False False  True False False  True False False\n"
         "   True False False  True False False  True False False  True False False\n"
         "   True False False  True False False]]"},
    {"i64 rank 5", EINC_I64, 5, {2, 2, 2, 2, 2}, -1, NULL, NULL, 1, 1,
     "[[[[[ 0  1]\n"
         "    [ 2  3]]\n"
         "\n"
         "   [[ 4  5]\n"
         "    [ 6  7]]]\n"
         "\n"
         "\n"
         "  [[[ 8  9]\n"
         "    [10 11]]\n"
         "\n"
         "   [[12 13]\n"
         "    [14 15]]]]\n"
         "\n"
         "\n"
         "\n"
         " [[[[16 17]\n"
         "    [18 19]]\n"
         "\n"
         "   [[20 21]\n"
         "    [22 23]]]\n"
         "\n"
         "\n"
         "  [[[24 25]\n"
         "    [26 27]]\n"
         "\n"
         "   [[28 29]\n"
         "    [30 31]]]]]"},
    {"f64 summarised 1-d", EINC_F64, 1, {2000}, -1, NULL, NULL, 1, 1,
     "[0.000e+00 1.000e+00 2.000e+00 ... 1.997e+03 1.998e+03 1.999e+03]"},
    {"i64 summarised 1-d", EINC_I64, 1, {2000}, -1, NULL, NULL, 1, 1,
     "[   0    1    2 ... 1997 1998 1999]"},
    {"i64 summarised 2-d", EINC_I64, 2, {40, 50}, -1, NULL, NULL, 1, 1,
     "[[   0    1    2 ...   47   48   49]\n"
         " [  50   51   52 ...   97   98   99]\n"
         " [ 100  101  102 ...  147  148  149]\n"
         " ...\n"
         " [1850 1851 1852 ... 1897 1898 1899]\n"
         " [1900 1901 1902 ... 1947 1948 1949]\n"
         " [1950 1951 1952 ... 1997 1998 1999]]"},
    {"f32 summarised 2-d", EINC_F32, 2, {40, 50}, -1, NULL, NULL, 1, 3,
     "[[0.0000000e+00 3.3333334e-01 6.6666669e-01 ... 1.5666667e+01\n"
         "  1.6000000e+01 1.6333334e+01]\n"
         " [1.6666666e+01 1.7000000e+01 1.7333334e+01 ... 3.2333332e+01\n"
         "  3.2666668e+01 3.3000000e+01]\n"
         " [3.3333332e+01 3.3666668e+01 3.4000000e+01 ... 4.9000000e+01\n"
         "  4.9333332e+01 4.9666668e+01]\n"
         " ...\n"
         " [6.1666669e+02 6.1700000e+02 6.1733331e+02 ... 6.3233331e+02\n"
         "  6.3266669e+02 6.3300000e+02]\n"
         " [6.3333331e+02 6.3366669e+02 6.3400000e+02 ... 6.4900000e+02\n"
         "  6.4933331e+02 6.4966669e+02]\n"
         " [6.5000000e+02 6.5033331e+02 6.5066669e+02 ... 6.6566669e+02\n"
         "  6.6600000e+02 6.6633331e+02]]"},
    {"i32 summarised 4-d", EINC_I32, 4, {7, 7, 7, 7}, -1, NULL, NULL, 1, 1,
     "[[[[   0    1    2 ...    4    5    6]\n"
         "   [   7    8    9 ...   11   12   13]\n"
         "   [  14   15   16 ...   18   19   20]\n"
         "   ...\n"
         "   [  28   29   30 ...   32   33   34]\n"
         "   [  35   36   37 ...   39   40   41]\n"
         "   [  42   43   44 ...   46   47   48]]\n"
         "\n"
         "  [[  49   50   51 ...   53   54   55]\n"
         "   [  56   57   58 ...   60   61   62]\n"
         "   [  63   64   65 ...   67   68   69]\n"
         "   ...\n"
         "   [  77   78   79 ...   81   82   83]\n"
         "   [  84   85   86 ...   88   89   90]\n"
         "   [  91   92   93 ...   95   96   97]]\n"
         "\n"
         "  [[  98   99  100 ...  102  103  104]\n"
         "   [ 105  106  107 ...  109  110  111]\n"
         "   [ 112  113  114 ...  116  117  118]\n"
         "   ...\n"
         "   [ 126  127  128 ...  130  131  132]\n"
         "   [ 133  134  135 ...  137  138  139]\n"
         "   [ 140  141  142 ...  144  145  146]]\n"
         "\n"
         "  ...\n"
         "\n"
         "  [[ 196  197  198 ...  200  201  202]\n"
         "   [ 203  204  205 ...  207  208  209]\n"
         "   [ 210  211  212 ...  214  215  216]\n"
         "   ...\n"
         "   [ 224  225  226 ...  228  229  230]\n"
         "   [ 231  232  233 ...  235  236  237]\n"
         "   [ 238  239  240 ...  242  243  244]]\n"
         "\n"
         "  [[ 245  246  247 ...  249  250  251]\n"
         "   [ 252  253  254 ...  256  257  258]\n"
         "   [ 259  260  261 ...  263  264  265]\n"
         "   ...\n"
         "   [ 273  274  275 ...  277  278  279]\n"
         "   [ 280  281  282 ...  284  285  286]\n"
         "   [ 287  288  289 ...  291  292  293]]\n"
         "\n"
         "  [[ 294  295  296 ...  298  299  300]\n"
         "   [ 301  302  303 ...  305  306  307]\n"
         "   [ 308  309  310 ...  312  313  314]\n"
         "   ...\n"
         "   [ 322  323  324 ...  326  327  328]\n"
         "   [ 329  330  331 ...  333  334  335]\n"
         "   [ 336  337  338 ...  340  341  342]]]\n"
         "\n"
         "\n"
         " [[[ 343  344  345 ...  347  348  349]\n"
         "   [ 350  351  352 ...  354  355  356]\n"
         "   [ 357  358  359 ...  361  362  363]\n"
         "   ...\n"
         "   [ 371  372  373 ...  375  376  377]\n"
         "   [ 378  379  380 ...  382  383  384]\n"
         "   [ 385  386  387 ...  389  390  391]]\n"
         "\n"
         "  [[ 392  393  394 ...  396  397  398]\n"
         "   [ 399  400  401 ...  403  404  405]\n"
         "   [ 406  407  408 ...  410  411  412]\n"
         "   ...\n"
         "   [ 420  421  422 ...  424  425  426]\n"
         "   [ 427  428  429 ...  431  432  433]\n"
         "   [ 434  435  436 ...  438  439  440]]\n"
         "\n"
         "  [[ 441  442  443 ...  445  446  447]\n"
         "   [ 448  449  450 ...  452  453  454]\n"
         "   [ 455  456  457 ...  459  460  461]\n"
         "   ...\n"
         "   [ 469  470  471 ...  473  474  475]\n"
         "   [ 476  477  478 ...  480  481  482]\n"
         "   [ 483  484  485 ...  487  488  489]]\n"
         "\n"
         "  ...\n"
         "\n"
         "  [[ 539  540  541 ...  543  544  545]\n"
         "   [ 546  547  548 ...  550  551  552]\n"
         "   [ 553  554  555 ...  557  558  559]\n"
         "   ...\n"
         "   [ 567  568  569 ...  571  572  573]\n"
         "   [ 574  575  576 ...  578  579  580]\n"
         "   [ 581  582  583 ...  585  586  587]]\n"
         "\n"
         "  [[ 588  589  590 ...  592  593  594]\n"
         "   [ 595  596  597 ...  599  600  601]\n"
         "   [ 602  603  604 ...  606  607  608]\n"
         "   ...\n"
         "   [ 616  617  618 ...  620  621  622]\n"
         "   [ 623  624  625 ...  627  628  629]\n"
         "   [ 630  631  632 ...  634  635  636]]\n"
         "\n"
         "  [[ 637  638  639 ...  641  642  643]\n"
         "   [ 644  645  646 ...  648  649  650]\n"
         "   [ 651  652  653 ...  655  656  657]\n"
         "   ...\n"
         "   [ 665  666  667 ...  669  670  671]\n"
         "   [ 672  673  674 ...  676  677  678]\n"
         "   [ 679  680  681 ...  683  684  685]]]\n"
         "\n"
         "\n"
         " [[[ 686  687  688 ...  690  691  692]\n"
         "   [ 693  694  695 ...  697  698  699]\n"
         "   [ 700  701  702 ...  704  705  706]\n"
         "   ...\n"
         "   [ 714  715  716 ...  718  719  720]\n"
         "   [ 721  722  723 ...  725  726  727]\n"
         "   [ 728  729  730 ...  732  733  734]]\n"
         "\n"
         "  [[ 735  736  737 ...  739  740  741]\n"
         "   [ 742  743  744 ...  746  747  748]\n"
         "   [ 749  750  751 ...  753  754  755]\n"
         "   ...\n"
         "   [ 763  764  765 ...  767  768  769]\n"
         "   [ 770  771  772 ...  774  775  776]\n"
         "   [ 777  778  779 ...  781  782  783]]\n"
         "\n"
         "  [[ 784  785  786 ...  788  789  790]\n"
         "   [ 791  792  793 ...  795  796  797]\n"
         "   [ 798  799  800 ...  802  803  804]\n"
         "   ...\n"
         "   [ 812  813  814 ...  816  817  818]\n"
         "   [ 819  820  821 ...  823  824  825]\n"
         "   [ 826  827  828 ...  830  831  832]]\n"
         "\n"
         "  ...\n"
         "\n"
         "  [[ 882  883  884 ...  886  887  888]\n"
         "   [ 889  890  891 ...  893  894  895]\n"
         "   [ 896  897  898 ...  900  901  902]\n"
         "   ...\n"
         "   [ 910  911  912 ...  914  915  916]\n"
         "   [ 917  918  919 ...  921  922  923]\n"
         "   [ 924  925  926 ...  928  929  930]]\n"
         "\n"
         "  [[ 931  932  933 ...  935  936  937]\n"
         "   [ 938  939  940 ...  942  943  944]\n"
         "   [ 945  946  947 ...  949  950  951]\n"
         "   ...\n"
         "   [ 959  960  961 ...  963  964  965]\n"
         "   [ 966  967  968 ...  970  971  972]\n"
         "   [ 973  974  975 ...  977  978  979]]\n"
         "\n"
         "  [[ 980  981  982 ...  984  985  986]\n"
         "   [ 987  988  989 ...  991  992  993]\n"
         "   [ 994  995  996 ...  998  999 1000]\n"
         "   ...\n"
         "   [1008 1009 1010 ... 1012 1013 1014]\n"
         "   [1015 1016 1017 ... 1019 1020 1021]\n"
         "   [1022 1023 1024 ... 1026 1027 1028]]]\n"
         "\n"
         "\n"
         " ...\n"
         "\n"
         "\n"
         " [[[1372 1373 1374 ... 1376 1377 1378]\n"
         "   [1379 1380 1381 ... 1383 1384 1385]\n"
         "   [1386 1387 1388 ... 1390 1391 1392]\n"
         "   ...\n"
         "   [1400 1401 1402 ... 1404 1405 1406]\n"
         "   [1407 1408 1409 ... 1411 1412 1413]\n"
         "   [1414 1415 1416 ... 1418 1419 1420]]\n"
         "\n"
         "  [[1421 1422 1423 ... 1425 1426 1427]\n"
         "   [1428 1429 1430 ... 1432 1433 1434]\n"
         "   [1435 1436 1437 ... 1439 1440 1441]\n"
         "   ...\n"
         "   [1449 1450 1451 ... 1453 1454 1455]\n"
         "   [1456 1457 1458 ... 1460 1461 1462]\n"
         "   [1463 1464 1465 ... 1467 1468 1469]]\n"
         "\n"
         "  [[1470 1471 1472 ... 1474 1475 1476]\n"
         "   [1477 1478 1479 ... 1481 1482 1483]\n"
         "   [1484 1485 1486 ... 1488 1489 1490]\n"
         "   ...\n"
         "   [1498 1499 1500 ... 1502 1503 1504]\n"
         "   [1505 1506 1507 ... 1509 1510 1511]\n"
         "   [1512 1513 1514 ... 1516 1517 1518]]\n"
         "\n"
         "  ...\n"
         "\n"
         "  [[1568 1569 1570 ... 1572 1573 1574]\n"
         "   [1575 1576 1577 ... 1579 1580 1581]\n"
         "   [1582 1583 1584 ... 1586 1587 1588]\n"
         "   ...\n"
         "   [1596 1597 1598 ... 1600 1601 1602]\n"
         "   [1603 1604 1605 ... 1607 1608 1609]\n"
         "   [1610 1611 1612 ... 1614 1615 1616]]\n"
         "\n"
         "  [[1617 1618 1619 ... 1621 1622 1623]\n"
         "   [1624 1625 1626 ... 1628 1629 1630]\n"
         "   [1631 1632 1633 ... 1635 1636 1637]\n"
         "   ...\n"
         "   [1645 1646 1647 ... 1649 1650 1651]\n"
         "   [1652 1653 1654 ... 1656 1657 1658]\n"
         "   [1659 1660 1661 ... 1663 1664 1665]]\n"
         "\n"
         "  [[1666 1667 1668 ... 1670 1671 1672]\n"
         "   [1673 1674 1675 ... 1677 1678 1679]\n"
         "   [1680 1681 1682 ... 1684 1685 1686]\n"
         "   ...\n"
         "   [1694 1695 1696 ... 1698 1699 1700]\n"
         "   [1701 1702 1703 ... 1705 1706 1707]\n"
         "   [1708 1709 1710 ... 1712 1713 1714]]]\n"
         "\n"
         "\n"
         " [[[1715 1716 1717 ... 1719 1720 1721]\n"
         "   [1722 1723 1724 ... 1726 1727 1728]\n"
         "   [1729 1730 1731 ... 1733 1734 1735]\n"
         "   ...\n"
         "   [1743 1744 1745 ... 1747 1748 1749]\n"
         "   [1750 1751 1752 ... 1754 1755 1756]\n"
         "   [1757 1758 1759 ... 1761 1762 1763]]\n"
         "\n"
         "  [[1764 1765 1766 ... 1768 1769 1770]\n"
         "   [1771 1772 1773 ... 1775 1776 1777]\n"
         "   [1778 1779 1780 ... 1782 1783 1784]\n"
         "   ...\n"
         "   [1792 1793 1794 ... 1796 1797 1798]\n"
         "   [1799 1800 1801 ... 1803 1804 1805]\n"
         "   [1806 1807 1808 ... 1810 1811 1812]]\n"
         "\n"
         "  [[1813 1814 1815 ... 1817 1818 1819]\n"
         "   [1820 1821 1822 ... 1824 1825 1826]\n"
         "   [1827 1828 1829 ... 1831 1832 1833]\n"
         "   ...\n"
         "   [1841 1842 1843 ... 1845 1846 1847]\n"
         "   [1848 1849 1850 ... 1852 1853 1854]\n"
         "   [1855 1856 1857 ... 1859 1860 1861]]\n"
         "\n"
         "  ...\n"
         "\n"
         "  [[1911 1912 1913 ... 1915 1916 1917]\n"
         "   [1918 1919 1920 ... 1922 1923 1924]\n"
         "   [1925 1926 1927 ... 1929 1930 1931]\n"
         "   ...\n"
         "   [1939 1940 1941 ... 1943 1944 1945]\n"
         "   [1946 1947 1948 ... 1950 1951 1952]\n"
         "   [1953 1954 1955 ... 1957 1958 1959]]\n"
         "\n"
         "  [[1960 1961 1962 ... 1964 1965 1966]\n"
         "   [1967 1968 1969 ... 1971 1972 1973]\n"
         "   [1974 1975 1976 ... 1978 1979 1980]\n"
         "   ...\n"
         "   [1988 1989 1990 ... 1992 1993 1994]\n"
         "   [1995 1996 1997 ... 1999 2000 2001]\n"
         "   [2002 2003 2004 ... 2006 2007 2008]]\n"
         "\n"
         "  [[2009 2010 2011 ... 2013 2014 2015]\n"
         "   [2016 2017 2018 ... 2020 2021 2022]\n"
         "   [2023 2024 2025 ... 2027 2028 2029]\n"
         "   ...\n"
         "   [2037 2038 2039 ... 2041 2042 2043]\n"
         "   [2044 2045 2046 ... 2048 2049 2050]\n"
         "   [2051 2052 2053 ... 2055 2056 2057]]]\n"
         "\n"
         "\n"
         " [[[2058 2059 2060 ... 2062 2063 2064]\n"
         "   [2065 2066 2067 ... 2069 2070 2071]\n"
         "   [2072 2073 2074 ... 2076 2077 2078]\n"
         "   ...\n"
         "   [2086 2087 2088 ... 2090 2091 2092]\n"
         "   [2093 2094 2095 ... 2097 2098 2099]\n"
         "   [2100 2101 2102 ... 2104 2105 2106]]\n"
         "\n"
         "  [[2107 2108 2109 ... 2111 2112 2113]\n"
         "   [2114 2115 2116 ... 2118 2119 2120]\n"
         "   [2121 2122 2123 ... 2125 2126 2127]\n"
         "   ...\n"
         "   [2135 2136 2137 ... 2139 2140 2141]\n"
         "   [2142 2143 2144 ... 2146 2147 2148]\n"
         "   [2149 2150 2151 ... 2153 2154 2155]]\n"
         "\n"
         "  [[2156 2157 2158 ... 2160 2161 2162]\n"
         "   [2163 2164 2165 ... 2167 2168 2169]\n"
         "   [2170 2171 2172 ... 2174 2175 2176]\n"
         "   ...\n"
         "   [2184 2185 2186 ... 2188 2189 2190]\n"
         "   [2191 2192 2193 ... 2195 2196 2197]\n"
         "   [2198 2199 2200 ... 2202 2203 2204]]\n"
         "\n"
         "  ...\n"
         "\n"
         "  [[2254 2255 2256 ... 2258 2259 2260]\n"
         "   [2261 2262 2263 ... 2265 2266 2267]\n"
         "   [2268 2269 2270 ... 2272 2273 2274]\n"
         "   ...\n"
         "   [2282 2283 2284 ... 2286 2287 2288]\n"
         "   [2289 2290 2291 ... 2293 2294 2295]\n"
         "   [2296 2297 2298 ... 2300 2301 2302]]\n"
         "\n"
         "  [[2303 2304 2305 ... 2307 2308 2309]\n"
         "   [2310 2311 2312 ... 2314 2315 2316]\n"
         "   [2317 2318 2319 ... 2321 2322 2323]\n"
         "   ...\n"
         "   [2331 2332 2333 ... 2335 2336 2337]\n"
         "   [2338 2339 2340 ... 2342 2343 2344]\n"
         "   [2345 2346 2347 ... 2349 2350 2351]]\n"
         "\n"
         "  [[2352 2353 2354 ... 2356 2357 2358]\n"
         "   [2359 2360 2361 ... 2363 2364 2365]\n"
         "   [2366 2367 2368 ... 2370 2371 2372]\n"
         "   ...\n"
         "   [2380 2381 2382 ... 2384 2385 2386]\n"
         "   [2387 2388 2389 ... 2391 2392 2393]\n"
         "   [2394 2395 2396 ... 2398 2399 2400]]]]"},
    {"i32 summarised 3-d short axis", EINC_I32, 3, {2, 3, 400}, -1, NULL, NULL, -1, 1,
     "[[[    0    -1    -2 ...  -397  -398  -399]\n"
         "  [ -400  -401  -402 ...  -797  -798  -799]\n"
         "  [ -800  -801  -802 ... -1197 -1198 -1199]]\n"
         "\n"
         " [[-1200 -1201 -1202 ... -1597 -1598 -1599]\n"
         "  [-1600 -1601 -1602 ... -1997 -1998 -1999]\n"
         "  [-2000 -2001 -2002 ... -2397 -2398 -2399]]]"},
    {"bool summarised", EINC_BOOL, 1, {1200}, -1, NULL, NULL, 1, 1,
     "[ True False False ...  True False False]"},
    {"f64 1001 elements", EINC_F64, 1, {1001}, -1, NULL, NULL, 1, 4,
     "[  0.     0.25   0.5  ... 249.5  249.75 250.  ]"},
    {"i64 1000 elements not summarised", EINC_I64, 1, {1000}, -1, NULL, NULL, 1, 1,
     "[  0   1   2   3   4   5   6   7   8   9  10  11  12  13  14  15  16  17\n"
         "  18  19  20  21  22  23  24  25  26  27  28  29  30  31  32  33  34  35\n"
         "  36  37  38  39  40  41  42  43  44  45  46  47  48  49  50  51  52  53\n"
         "  54  55  56  57  58  59  60  61  62  63  64  65  66  67  68  69  70  71\n"
         "  72  73  74  75  76  77  78  79  80  81  82  83  84  85  86  87  88  89\n"
         "  90  91  92  93  94  95  96  97  98  99 100 101 102 103 104 105 106 107\n"
         " 108 109 110 111 112 113 114 115 116 117 118 119 120 121 122 123 124 125\n"
         " 126 127 128 129 130 131 132 133 134 135 136 137 138 139 140 141 142 143\n"
         " 144 145 146 147 148 149 150 151 152 153 154 155 156 157 158 159 160 161\n"
         " 162 163 164 165 166 167 168 169 170 171 172 173 174 175 176 177 178 179\n"
         " 180 181 182 183 184 185 186 187 188 189 190 191 192 193 194 195 196 197\n"
         " 198 199 200 201 202 203 204 205 206 207 208 209 210 211 212 213 214 215\n"
         " 216 217 218 219 220 221 222 223 224 225 226 227 228 229 230 231 232 233\n"
         " 234 235 236 237 238 239 240 241 242 243 244 245 246 247 248 249 250 251\n"
         " 252 253 254 255 256 257 258 259 260 261 262 263 264 265 266 267 268 269\n"
         " 270 271 272 273 274 275 276 277 278 279 280 281 282 283 284 285 286 287\n"
         " 288 289 290 291 292 293 294 295 296 297 298 299 300 301 302 303 304 305\n"
         " 306 307 308 309 310 311 312 313 314 315 316 317 318 319 320 321 322 323\n"
         " 324 325 326 327 328 329 330 331 332 333 334 335 336 337 338 339 340 341\n"
         " 342 343 344 345 346 347 348 349 350 351 352 353 354 355 356 357 358 359\n"
         " 360 361 362 363 364 365 366 367 368 369 370 371 372 373 374 375 376 377\n"
         " 378 379 380 381 382 383 384 385 386 387 388 389 390 391 392 393 394 395\n"
         " 396 397 398 399 400 401 402 403 404 405 406 407 408 409 410 411 412 413\n"
         " 414 415 416 417 418 419 420 421 422 423 424 425 426 427 428 429 430 431\n"
         " 432 433 434 435 436 437 438 439 440 441 442 443 444 445 446 447 448 449\n"
         " 450 451 452 453 454 455 456 457 458 459 460 461 462 463 464 465 466 467\n"
         " 468 469 470 471 472 473 474 475 476 477 478 479 480 481 482 483 484 485\n"
         " 486 487 488 489 490 491 492 493 494 495 496 497 498 499 500 501 502 503\n"
         " 504 505 506 507 508 509 510 511 512 513 514 515 516 517 518 519 520 521\n"
         " 522 523 524 525 526 527 528 529 530 531 532 533 534 535 536 537 538 539\n"
         " 540 541 542 543 544 545 546 547 548 549 550 551 552 553 554 555 556 557\n"
         " 558 559 560 561 562 563 564 565 566 567 568 569 570 571 572 573 574 575\n"
         " 576 577 578 579 580 581 582 583 584 585 586 587 588 589 590 591 592 593\n"
         " 594 595 596 597 598 599 600 601 602 603 604 605 606 607 608 609 610 611\n"
         " 612 613 614 615 616 617 618 619 620 621 622 623 624 625 626 627 628 629\n"
         " 630 631 632 633 634 635 636 637 638 639 640 641 642 643 644 645 646 647\n"
         " 648 649 650 651 652 653 654 655 656 657 658 659 660 661 662 663 664 665\n"
         " 666 667 668 669 670 671 672 673 674 675 676 677 678 679 680 681 682 683\n"
         " 684 685 686 687 688 689 690 691 692 693 694 695 696 697 698 699 700 701\n"
         " 702 703 704 705 706 707 708 709 710 711 712 713 714 715 716 717 718 719\n"
         " 720 721 722 723 724 725 726 727 728 729 730 731 732 733 734 735 736 737\n"
         " 738 739 740 741 742 743 744 745 746 747 748 749 750 751 752 753 754 755\n"
         " 756 757 758 759 760 761 762 763 764 765 766 767 768 769 770 771 772 773\n"
         " 774 775 776 777 778 779 780 781 782 783 784 785 786 787 788 789 790 791\n"
         " 792 793 794 795 796 797 798 799 800 801 802 803 804 805 806 807 808 809\n"
         " 810 811 812 813 814 815 816 817 818 819 820 821 822 823 824 825 826 827\n"
         " 828 829 830 831 832 833 834 835 836 837 838 839 840 841 842 843 844 845\n"
         " 846 847 848 849 850 851 852 853 854 855 856 857 858 859 860 861 862 863\n"
         " 864 865 866 867 868 869 870 871 872 873 874 875 876 877 878 879 880 881\n"
         " 882 883 884 885 886 887 888 889 890 891 892 893 894 895 896 897 898 899\n"
         " 900 901 902 903 904 905 906 907 908 909 910 911 912 913 914 915 916 917\n"
         " 918 919 920 921 922 923 924 925 926 927 928 929 930 931 932 933 934 935\n"
         " 936 937 938 939 940 941 942 943 944 945 946 947 948 949 950 951 952 953\n"
         " 954 955 956 957 958 959 960 961 962 963 964 965 966 967 968 969 970 971\n"
         " 972 973 974 975 976 977 978 979 980 981 982 983 984 985 986 987 988 989\n"
         " 990 991 992 993 994 995 996 997 998 999]"},
};

static npy_array case_array(const print_case *c)
{
    npy_array a;
    size_t n = 1;
    memset(&a, 0, sizeof a);
    a.dtype = c->dtype;
    a.ndim = c->ndim;
    for (int i = 0; i < c->ndim; i++) {
        a.shape[i] = c->shape[i];
        n *= (size_t)c->shape[i];
    }
    a.nbytes = n * npy_dtype_size(c->dtype);
    a.data = n > 0 ? malloc(a.nbytes) : NULL;
    for (size_t i = 0; i < n; i++) {
        int arange = c->nvals < 0;
        switch (c->dtype) {
        case EINC_F32:
            ((float *)a.data)[i] =
                arange ? (float)i * (float)c->step / (float)c->div : (float)c->vals[i];
            break;
        case EINC_F64:
            ((double *)a.data)[i] =
                arange ? (double)i * (double)c->step / (double)c->div : c->vals[i];
            break;
        case EINC_I32:
            ((int32_t *)a.data)[i] = (int32_t)(arange ? (int64_t)i * c->step : c->ivals[i]);
            break;
        case EINC_I64:
            ((int64_t *)a.data)[i] = arange ? (int64_t)i * c->step : c->ivals[i];
            break;
        case EINC_BOOL:
            ((unsigned char *)a.data)[i] = (unsigned char)(arange ? i % 3 == 0 : c->ivals[i] != 0);
            break;
        default:
            break;
        }
    }
    return a;
}

static char *print_to_string(const npy_array *a)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    npy_print(f, a);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void test_print_matches_numpy(void **state)
{
    int failures = 0;
    (void)state;
    for (size_t i = 0; i < sizeof print_cases / sizeof print_cases[0]; i++) {
        const print_case *c = &print_cases[i];
        npy_array a = case_array(c);
        char *got = print_to_string(&a);
        size_t n = strlen(c->expect);
        if (strncmp(got, c->expect, n) != 0 || strcmp(got + n, "\n") != 0) {
            print_error("case '%s':\nnumpy:\n%s\nnpy_print:\n%s", c->label, c->expect, got);
            failures++;
        }
        free(got);
        npy_free(&a);
    }
    assert_int_equal(failures, 0);
}

static void test_print_invalid_array_prints_nothing(void **state)
{
    npy_array a;
    char *got;
    (void)state;
    memset(&a, 0, sizeof a);
    a.dtype = EINC_F32;
    a.ndim = 1;
    a.shape[0] = 4;       /* data NULL with a non-zero size */
    got = print_to_string(&a);
    assert_string_equal(got, "");
    free(got);
    a.dtype = EINC_DTYPE_COUNT;
    a.shape[0] = 0;
    got = print_to_string(&a);
    assert_string_equal(got, "");
    free(got);
}

/* A file written by npy_write, read back and printed, as `einc` does end to end. */
static void test_print_after_roundtrip(void **state)
{
    char path[4096], err[512], *got;
    int64_t s[] = {2, 3};
    npy_array a = make_array(EINC_F32, 2, s), b;
    path_in(state, "print.npy", path, sizeof path);
    assert_int_equal(npy_write(path, &a, err, sizeof err), 0);
    assert_int_equal(npy_read(path, &b, err, sizeof err), 0);
    got = print_to_string(&b);
    /* numpy: print(np.arange(6, dtype=np.float32).reshape(2, 3) * 0.25 - 3) */
    assert_string_equal(got, "[[-3.   -2.75 -2.5 ]\n [-2.25 -2.   -1.75]]\n");
    free(got);
    npy_free(&a);
    npy_free(&b);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_dtype_and_shape),
        cmocka_unit_test(test_roundtrip_rank_64),
        cmocka_unit_test(test_write_matches_numpy_save_bytes),
        cmocka_unit_test(test_read_v1_keys_in_any_order),
        cmocka_unit_test(test_read_v2_double_quotes_trailing_commas),
        cmocka_unit_test(test_read_v3_header),
        cmocka_unit_test(test_read_shape_spellings),
        cmocka_unit_test(test_read_descr_spellings),
        cmocka_unit_test(test_read_bools_nonzero_is_true),
        cmocka_unit_test(test_read_ignores_trailing_bytes),
        cmocka_unit_test(test_read_empty_array_has_null_data),
        cmocka_unit_test(test_error_bad_magic),
        cmocka_unit_test(test_error_truncated_file),
        cmocka_unit_test(test_error_unknown_version),
        cmocka_unit_test(test_error_header_length_past_end),
        cmocka_unit_test(test_error_malformed_dict),
        cmocka_unit_test(test_error_missing_keys),
        cmocka_unit_test(test_error_fortran_order),
        cmocka_unit_test(test_error_big_endian),
        cmocka_unit_test(test_error_other_dtypes),
        cmocka_unit_test(test_error_bad_shapes),
        cmocka_unit_test(test_error_truncated_data),
        cmocka_unit_test(test_error_message_fits_small_buffer),
        cmocka_unit_test(test_read_file_errors),
        cmocka_unit_test(test_write_replaces_existing_file),
        cmocka_unit_test(test_write_into_missing_directory),
        cmocka_unit_test(test_write_over_directory_leaves_it_alone),
        cmocka_unit_test(test_failed_write_keeps_existing_file),
        cmocka_unit_test(test_write_rejects_inconsistent_arrays),
        cmocka_unit_test(test_dtype_size),
        cmocka_unit_test(test_print_matches_numpy),
        cmocka_unit_test(test_print_invalid_array_prints_nothing),
        cmocka_unit_test(test_print_after_roundtrip),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
