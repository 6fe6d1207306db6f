/*
 * npy.c — NumPy .npy reader and writer.
 *
 * The format (numpy/lib/format.py): the magic "\x93NUMPY", a major and a minor version
 * byte, a little-endian header length (2 bytes in 1.0, 4 bytes in 2.0 and 3.0), then the
 * header: the repr of a Python dict with the keys 'descr', 'fortran_order' and 'shape',
 * padded with spaces and a newline.  The raw array data follows.
 *
 * The header is parsed with a small recursive-descent parser over the Python literal
 * rather than by matching numpy's exact spelling, because other writers (older numpy,
 * other languages) order keys differently, quote differently or add trailing commas.
 */
#define _POSIX_C_SOURCE 200809L

#include "npy.h"
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* Data is copied byte for byte between file and memory; a big-endian host would need swaps. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && \
    __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "npy.c assumes a little-endian host"
#endif

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64               /* numpy aligns the data to this many bytes */
#define NPY_GROWTH_DIGITS 21       /* numpy's GROWTH_AXIS_MAX_DIGITS header slack */
#define NPY_DESCR_MAX 64           /* longest descr string kept for messages */

#if defined(__GNUC__)
#define NPY_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define NPY_PRINTF(f, a)
#endif

static void set_err(char *err, size_t errlen, const char *fmt, ...) NPY_PRINTF(3, 4);

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* strerror is not guaranteed thread-safe; the XSI strerror_r is. */
static const char *errno_text(int e, char *buf, size_t n)
{
    if (strerror_r(e, buf, n) != 0)
        snprintf(buf, n, "error %d", e);
    return buf;
}

size_t npy_dtype_size(einc_dtype t)
{
    switch (t) {
    case EINC_BOOL: case EINC_I8: case EINC_U8: return 1;
    case EINC_I16: case EINC_U16: case EINC_F16: case EINC_BF16: return 2;
    case EINC_F32: case EINC_I32: case EINC_U32: return 4;
    case EINC_F64: case EINC_I64: case EINC_U64: case EINC_C64: return 8;
    case EINC_C128: return 16;
    default: return 0;
    }
}

void npy_free(npy_array *a)
{
    if (a == NULL)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* Overflow-checked a*b for non-negative values; returns -1 when the product exceeds INT64_MAX. */
static int mul_checked(int64_t a, int64_t b, int64_t *out)
{
    if (a != 0 && b > INT64_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

/*
 * Byte count of an array of this shape.  Zero-sized dimensions are skipped while
 * multiplying so that a huge-but-empty shape is judged by its non-zero dimensions, as
 * numpy does.  Returns -1 on overflow (also past SIZE_MAX).
 */
static int shape_nbytes(int ndim, const int64_t *shape, size_t elsize, size_t *out)
{
    int64_t n = (int64_t)elsize;
    int empty = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 0)
            empty = 1;
        else if (mul_checked(n, shape[i], &n) != 0)
            return -1;
    }
    if ((uint64_t)n > (uint64_t)SIZE_MAX)
        return -1;
    *out = empty ? 0 : (size_t)n;
    return 0;
}

/* ---------------------------------------------------------------- header parsing */

typedef struct hparser {
    const char *s;       /* the header text (not NUL-terminated) */
    size_t n, pos;
    const char *name;    /* for messages */
    char *err;
    size_t errlen;
} hparser;

/* What the dict said; *_seen tell which keys were present. */
typedef struct hfields {
    int descr_seen, fortran_seen, shape_seen;
    char descr[NPY_DESCR_MAX + 1];   /* the descr string, or the raw text of a non-string descr */
    int descr_is_string;
    int fortran_order;
    int ndim;                        /* may exceed EINC_MAX_RANK: only the count is kept then */
    int64_t shape[EINC_MAX_RANK];
} hfields;

static int malformed(hparser *p, const char *what)
{
    set_err(p->err, p->errlen, "%s: malformed header: %s at byte %zu of the header dict",
            p->name, what, p->pos);
    return -1;
}

static void skip_ws(hparser *p)
{
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                             p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static int peek(hparser *p)
{
    skip_ws(p);
    return p->pos < p->n ? (unsigned char)p->s[p->pos] : -1;
}

static int expect(hparser *p, char c, const char *what)
{
    if (peek(p) != (unsigned char)c)
        return malformed(p, what);
    p->pos++;
    return 0;
}

static int is_ident_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

/*
 * A quoted string, single or double quotes; a backslash takes the next byte literally
 * (enough for dtype strings, which never need real escapes).  Keeps at most cap-1 bytes
 * in out; *truncated says whether more were dropped.
 */
static int parse_string(hparser *p, char *out, size_t cap, int *truncated)
{
    int q = peek(p);
    size_t k = 0;
    *truncated = 0;
    if (q != '\'' && q != '"')
        return malformed(p, "expected a quoted string");
    p->pos++;
    while (p->pos < p->n && p->s[p->pos] != q) {
        char c = p->s[p->pos];
        if (c == '\n')
            return malformed(p, "unterminated string");
        if (c == '\0')
            return malformed(p, "NUL byte in a string");
        if (c == '\\' && p->pos + 1 < p->n)
            c = p->s[++p->pos];
        if (k + 1 < cap)
            out[k++] = c;
        else
            *truncated = 1;
        p->pos++;
    }
    if (p->pos >= p->n)
        return malformed(p, "unterminated string");
    p->pos++;
    out[k] = '\0';
    return 0;
}

/*
 * Skips any Python literal: strings, names/numbers, and bracketed groups.  Only a
 * structured descr needs this; the depth limit keeps a hostile header from exhausting
 * the stack.
 */
static int skip_value(hparser *p, int depth)
{
    int c = peek(p);
    if (depth > 32)
        return malformed(p, "nesting too deep");
    if (c == '\'' || c == '"') {
        char tmp[2];
        int trunc;
        return parse_string(p, tmp, sizeof tmp, &trunc);
    }
    if (c == '(' || c == '[' || c == '{') {
        char close = c == '(' ? ')' : c == '[' ? ']' : '}';
        p->pos++;
        while (peek(p) != (unsigned char)close) {
            if (skip_value(p, depth + 1) != 0)
                return -1;
            c = peek(p);
            if (c == ',' || c == ':')
                p->pos++;
            else if (c != (unsigned char)close)
                return malformed(p, "expected ',' or a closing bracket");
        }
        p->pos++;
        return 0;
    }
    if (c == '-' || c == '+' || c == '.' || is_ident_char(c)) {
        p->pos++;
        while (p->pos < p->n && (is_ident_char((unsigned char)p->s[p->pos]) ||
                                 p->s[p->pos] == '.' || p->s[p->pos] == '-' ||
                                 p->s[p->pos] == '+'))
            p->pos++;
        return 0;
    }
    return malformed(p, "expected a value");
}

/* True or False. */
static int parse_bool(hparser *p, int *out)
{
    size_t start;
    peek(p);
    start = p->pos;
    while (p->pos < p->n && is_ident_char((unsigned char)p->s[p->pos]))
        p->pos++;
    if (p->pos - start == 4 && memcmp(p->s + start, "True", 4) == 0)
        *out = 1;
    else if (p->pos - start == 5 && memcmp(p->s + start, "False", 5) == 0)
        *out = 0;
    else {
        p->pos = start;
        return malformed(p, "fortran_order must be True or False");
    }
    return 0;
}

/*
 * One shape entry: a decimal integer, optionally negative (rejected with its value in
 * the message) and with Python 2's long suffix 'L' that old numpy wrote.
 */
static int parse_dim(hparser *p, int64_t *out)
{
    int neg = 0;
    int64_t v = 0;
    size_t start;
    int c = peek(p);
    if (c == '-' || c == '+') {
        neg = c == '-';
        p->pos++;
    }
    start = p->pos;
    while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        int d = p->s[p->pos] - '0';
        if (v > (INT64_MAX - d) / 10) {
            set_err(p->err, p->errlen, "%s: shape is too large: a dimension overflows 64 bits",
                    p->name);
            return -1;
        }
        v = v * 10 + d;
        p->pos++;
    }
    if (p->pos == start)
        return malformed(p, "shape must be a tuple of integers");
    if (p->pos < p->n && (p->s[p->pos] == 'L' || p->s[p->pos] == 'l'))
        p->pos++;
    if (neg && v != 0) {
        set_err(p->err, p->errlen, "%s: negative dimension -%lld in shape", p->name,
                (long long)v);
        return -1;
    }
    *out = v;
    return 0;
}

/* A tuple of integers: (), (5,), (2, 3) or (2, 3,).  "(5)" is an int in Python, not a tuple. */
static int parse_shape(hparser *p, hfields *f)
{
    int trailing_comma = 0;
    f->ndim = 0;
    if (expect(p, '(', "shape must be a tuple of integers") != 0)
        return -1;
    while (peek(p) != ')') {
        int64_t d;
        if (parse_dim(p, &d) != 0)
            return -1;
        if (f->ndim < EINC_MAX_RANK)
            f->shape[f->ndim] = d;
        if (f->ndim < INT_MAX)
            f->ndim++;
        trailing_comma = 0;
        if (peek(p) == ',') {
            p->pos++;
            trailing_comma = 1;
        } else if (peek(p) != ')') {
            return malformed(p, "expected ',' or ')' in shape");
        }
    }
    p->pos++;
    if (f->ndim == 1 && !trailing_comma)
        return malformed(p, "shape must be a tuple of integers, e.g. (5,)");
    return 0;
}

/*
 * Header text quoted in a message must keep the message on one line: whitespace becomes
 * a space and other control bytes become '?'.
 */
static void make_printable(char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\n' || *s == '\r' || *s == '\t')
            *s = ' ';
        else if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
    }
}

/* The descr: a string for plain dtypes, a list for structured ones (kept as raw text). */
static int parse_descr(hparser *p, hfields *f)
{
    int c = peek(p);
    if (c == '\'' || c == '"') {
        int trunc;
        f->descr_is_string = 1;
        if (parse_string(p, f->descr, sizeof f->descr, &trunc) != 0)
            return -1;
        make_printable(f->descr);
        return 0;
    } else {
        size_t start = p->pos, len;
        if (skip_value(p, 0) != 0)
            return -1;
        len = p->pos - start;
        if (len > NPY_DESCR_MAX) {
            memcpy(f->descr, p->s + start, NPY_DESCR_MAX - 3);
            memcpy(f->descr + NPY_DESCR_MAX - 3, "...", 4);
        } else {
            memcpy(f->descr, p->s + start, len);
            f->descr[len] = '\0';
        }
        make_printable(f->descr);
        f->descr_is_string = 0;
        return 0;
    }
}

static int parse_entry(hparser *p, hfields *f)
{
    char key[32];
    int trunc;
    if (parse_string(p, key, sizeof key, &trunc) != 0)
        return -1;
    if (expect(p, ':', "expected ':' after a key") != 0)
        return -1;
    if (!trunc && strcmp(key, "descr") == 0) {
        f->descr_seen = 1;
        return parse_descr(p, f);
    }
    if (!trunc && strcmp(key, "fortran_order") == 0) {
        f->fortran_seen = 1;
        return parse_bool(p, &f->fortran_order);
    }
    if (!trunc && strcmp(key, "shape") == 0) {
        f->shape_seen = 1;
        return parse_shape(p, f);
    }
    make_printable(key);
    set_err(p->err, p->errlen, "%s: malformed header: unexpected key '%s%s'", p->name, key,
            trunc ? "..." : "");
    return -1;
}

static int parse_dict(hparser *p, hfields *f)
{
    if (expect(p, '{', "expected '{'") != 0)
        return -1;
    while (peek(p) != '}') {
        if (parse_entry(p, f) != 0)
            return -1;
        if (peek(p) == ',')
            p->pos++;
        else if (peek(p) != '}')
            return malformed(p, "expected ',' or '}'");
    }
    p->pos++;
    if (peek(p) != -1)
        return malformed(p, "unexpected text after the dict");
    return 0;
}

/* ---------------------------------------------------------------- descr → dtype */

/*
 * Maps a descr string to a dtype.  The byte-order character may be '<', '=' (native,
 * i.e. little-endian here), '|' (not applicable) or absent; '>' is rejected with its own
 * message for types where it matters.
 */
static int descr_dtype(const char *name, const char *descr, einc_dtype *out, char *err,
                       size_t errlen)
{
    static const struct { const char *code; einc_dtype t; } codes[] = {
        {"f4", EINC_F32}, {"f8", EINC_F64}, {"i4", EINC_I32}, {"i8", EINC_I64},
        {"b1", EINC_BOOL}, {"?", EINC_BOOL}, {"i1", EINC_I8}, {"i2", EINC_I16},
        {"u1", EINC_U8}, {"u2", EINC_U16}, {"u4", EINC_U32}, {"u8", EINC_U64},
        {"f2", EINC_F16}, {"c8", EINC_C64}, {"c16", EINC_C128},
    };
    const char *code = descr;
    char order = 0;
    if (*code == '<' || *code == '>' || *code == '=' || *code == '|')
        order = *code++;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        if (strcmp(code, codes[i].code) != 0)
            continue;
        if (order == '>' && npy_dtype_size(codes[i].t) > 1) {
            set_err(err, errlen,
                    "%s: big-endian dtype '%s' is not supported; convert it with "
                    "a.astype('<%s')", name, descr, code);
            return -1;
        }
        *out = codes[i].t;
        return 0;
    }
    if (strcmp(code, "O") == 0)
        set_err(err, errlen, "%s: object arrays (dtype '%s') are not supported", name, descr);
    else
        set_err(err, errlen,
                "%s: unsupported dtype '%s' (supported: float16 '<f2', float32 '<f4', "
                "float64 '<f8', complex64 '<c8', complex128 '<c16', int8 '|i1', int16 '<i2', "
                "int32 '<i4', int64 '<i8', uint8 '|u1', uint16 '<u2', uint32 '<u4', "
                "uint64 '<u8', bool '|b1')", name, descr);
    return -1;
}

/* Checks the parsed fields and turns them into out's dtype, shape and nbytes. */
static int fields_to_array(const char *name, const hfields *f, npy_array *out, char *err,
                           size_t errlen)
{
    const char *missing = !f->descr_seen ? "descr"
                          : !f->fortran_seen ? "fortran_order"
                          : !f->shape_seen ? "shape" : NULL;
    if (missing != NULL) {
        set_err(err, errlen, "%s: header is missing the '%s' key", name, missing);
        return -1;
    }
    if (!f->descr_is_string) {
        set_err(err, errlen, "%s: structured dtype %s is not supported", name, f->descr);
        return -1;
    }
    if (descr_dtype(name, f->descr, &out->dtype, err, errlen) != 0)
        return -1;
    if (f->fortran_order) {
        set_err(err, errlen,
                "%s: Fortran-ordered arrays are not supported; save with np.ascontiguousarray",
                name);
        return -1;
    }
    if (f->ndim > EINC_MAX_RANK) {
        set_err(err, errlen, "%s: array has %d dimensions; at most %d are supported", name,
                f->ndim, EINC_MAX_RANK);
        return -1;
    }
    out->ndim = f->ndim;
    memcpy(out->shape, f->shape, sizeof(int64_t) * (size_t)f->ndim);
    if (shape_nbytes(f->ndim, f->shape, npy_dtype_size(out->dtype), &out->nbytes) != 0) {
        set_err(err, errlen, "%s: shape is too large: the array size overflows", name);
        return -1;
    }
    return 0;
}

static uint32_t read_le(const unsigned char *b, int nbytes)
{
    uint32_t v = 0;
    for (int i = nbytes - 1; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

/*
 * Parses the prefix and header of a .npy image: fills out's dtype, ndim, shape and
 * nbytes (data stays NULL) and sets *data_off to where the data starts.  Checks that
 * the data is all there.
 */
static int parse_image(const unsigned char *b, size_t len, const char *name, npy_array *out,
                       size_t *data_off, char *err, size_t errlen)
{
    size_t magic_have = len < NPY_MAGIC_LEN ? len : NPY_MAGIC_LEN;
    int lenbytes;
    size_t prefix, hlen;
    hfields f;
    hparser p;

    if (magic_have > 0 && memcmp(b, NPY_MAGIC, magic_have) != 0) {
        set_err(err, errlen, "%s: not a .npy file (bad magic string)", name);
        return -1;
    }
    if (len < NPY_MAGIC_LEN + 2) {
        set_err(err, errlen, "%s: truncated file: %zu bytes is too short for a .npy header",
                name, len);
        return -1;
    }
    if ((b[6] != 1 && b[6] != 2 && b[6] != 3) || b[7] != 0) {
        set_err(err, errlen,
                "%s: unsupported .npy format version %u.%u (supported: 1.0, 2.0, 3.0)", name,
                b[6], b[7]);
        return -1;
    }
    lenbytes = b[6] == 1 ? 2 : 4;
    prefix = NPY_MAGIC_LEN + 2 + (size_t)lenbytes;
    if (len < prefix) {
        set_err(err, errlen, "%s: truncated file: %zu bytes is too short for a .npy header",
                name, len);
        return -1;
    }
    hlen = read_le(b + NPY_MAGIC_LEN + 2, lenbytes);
    if (hlen > len - prefix) {
        set_err(err, errlen,
                "%s: truncated header: the header length is %zu bytes but only %zu follow",
                name, hlen, len - prefix);
        return -1;
    }

    memset(&f, 0, sizeof f);
    p.s = (const char *)b + prefix;
    p.n = hlen;
    p.pos = 0;
    p.name = name;
    p.err = err;
    p.errlen = errlen;
    if (parse_dict(&p, &f) != 0 || fields_to_array(name, &f, out, err, errlen) != 0)
        return -1;

    *data_off = prefix + hlen;
    if (out->nbytes > len - *data_off) {
        set_err(err, errlen, "%s: truncated: expected %zu bytes of data, found %zu", name,
                out->nbytes, len - *data_off);
        return -1;
    }
    return 0;
}

/* numpy writes bools as 0/1, but any nonzero byte means True; einc relies on 0/1. */
static void normalize_bools(npy_array *a)
{
    unsigned char *d = a->data;
    if (a->dtype != EINC_BOOL)
        return;
    for (size_t i = 0; i < a->nbytes; i++)
        d[i] = d[i] != 0;
}

int npy_read_mem(const void *buf, size_t len, const char *name, npy_array *out, char *err,
                 size_t errlen)
{
    npy_array a;
    size_t off;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (name == NULL)
        name = "<memory>";
    if (out == NULL || (buf == NULL && len > 0)) {
        set_err(err, errlen, "%s: invalid arguments", name);
        return -1;
    }
    memset(out, 0, sizeof *out);
    memset(&a, 0, sizeof a);
    if (parse_image(buf, len, name, &a, &off, err, errlen) != 0)
        return -1;
    if (a.nbytes > 0) {
        a.data = malloc(a.nbytes);
        if (a.data == NULL) {
            set_err(err, errlen, "%s: out of memory reading %zu bytes", name, a.nbytes);
            return -1;
        }
        memcpy(a.data, (const unsigned char *)buf + off, a.nbytes);
    }
    normalize_bools(&a);
    *out = a;
    return 0;
}

/* Reads the whole file at fd; grows the buffer when the size fstat gave was wrong. */
static int read_all(int fd, unsigned char **out, size_t *outlen, int *err_no)
{
    struct stat st;
    size_t cap = 4096, len = 0;
    unsigned char *buf;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (uint64_t)st.st_size < (uint64_t)SIZE_MAX)
        cap = (size_t)st.st_size + 1;   /* +1 so that EOF is seen without a regrow */
    buf = malloc(cap);
    if (buf == NULL) {
        *err_no = ENOMEM;
        return -1;
    }
    for (;;) {
        ssize_t r;
        if (len == cap) {
            unsigned char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                *err_no = ENOMEM;
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *err_no = errno;
            free(buf);
            return -1;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

int npy_read(const char *path, npy_array *out, char *err, size_t errlen)
{
    unsigned char *buf;
    size_t len, off;
    int fd, e = 0;
    char ebuf[128];
    npy_array a;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (path == NULL || out == NULL) {
        set_err(err, errlen, "npy_read: invalid arguments");
        return -1;
    }
    memset(out, 0, sizeof *out);
    do {
        fd = open(path, O_RDONLY);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        set_err(err, errlen, "%s: cannot open: %s", path, errno_text(errno, ebuf, sizeof ebuf));
        return -1;
    }
    if (read_all(fd, &buf, &len, &e) != 0) {
        close(fd);
        set_err(err, errlen, "%s: cannot read: %s", path, errno_text(e, ebuf, sizeof ebuf));
        return -1;
    }
    close(fd);

    /* Parse in place and slide the data to the front, so a big file is not held twice. */
    memset(&a, 0, sizeof a);
    if (parse_image(buf, len, path, &a, &off, err, errlen) != 0) {
        free(buf);
        return -1;
    }
    if (a.nbytes == 0) {
        free(buf);
    } else {
        unsigned char *shrunk;
        memmove(buf, buf + off, a.nbytes);
        shrunk = realloc(buf, a.nbytes);
        a.data = shrunk != NULL ? shrunk : buf;
    }
    normalize_bools(&a);
    *out = a;
    return 0;
}

/* ---------------------------------------------------------------- writing */

static const char *dtype_descr(einc_dtype t)
{
    switch (t) {
    case EINC_F32: return "<f4";
    case EINC_F64: return "<f8";
    case EINC_I32: return "<i4";
    case EINC_I64: return "<i8";
    case EINC_BOOL: return "|b1";
    case EINC_I8: return "|i1";
    case EINC_I16: return "<i2";
    case EINC_U8: return "|u1";
    case EINC_U16: return "<u2";
    case EINC_U32: return "<u4";
    case EINC_U64: return "<u8";
    case EINC_F16: return "<f2";
    case EINC_C64: return "<c8";
    case EINC_C128: return "<c16";
    default: return NULL;       /* bfloat16: numpy has no .npy code for it */
    }
}

/* Appends to a fixed buffer that was sized for the worst case. */
static size_t put(char *buf, size_t pos, const char *s)
{
    size_t n = strlen(s);
    memcpy(buf + pos, s, n);
    return pos + n;
}

/*
 * Builds the complete prefix + header exactly as numpy.save does (_write_array_header):
 * sorted keys, repr'd values, GROWTH_AXIS_MAX_DIGITS spare spaces, then space padding
 * and a newline so the data starts on a 64-byte boundary.  Version 1.0 unless the
 * header length does not fit in 16 bits.  Returns a malloc'ed buffer or NULL.
 */
static unsigned char *build_header(const npy_array *a, size_t *outlen)
{
    size_t cap = 128 + (size_t)a->ndim * 24 + NPY_GROWTH_DIGITS + 2 * NPY_ALIGN;
    char *dict = malloc(cap);
    unsigned char *hdr;
    size_t dlen = 0, hlen, prefix, pad, total;
    char num[32];

    if (dict == NULL)
        return NULL;
    dlen = put(dict, dlen, "{'descr': '");
    dlen = put(dict, dlen, dtype_descr(a->dtype));
    dlen = put(dict, dlen, "', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < a->ndim; i++) {
        snprintf(num, sizeof num, "%s%lld", i > 0 ? ", " : "", (long long)a->shape[i]);
        dlen = put(dict, dlen, num);
    }
    dlen = put(dict, dlen, a->ndim == 1 ? ",), }" : "), }");
    if (a->ndim > 0) {
        int digits = snprintf(num, sizeof num, "%lld", (long long)a->shape[0]);
        for (int i = digits; i < NPY_GROWTH_DIGITS; i++)
            dict[dlen++] = ' ';
    }

    hlen = dlen + 1;   /* the final newline */
    prefix = NPY_MAGIC_LEN + 2 + 2;
    pad = NPY_ALIGN - (prefix + hlen) % NPY_ALIGN;
    if (hlen + pad > 65535) {
        prefix = NPY_MAGIC_LEN + 2 + 4;
        pad = NPY_ALIGN - (prefix + hlen) % NPY_ALIGN;
    }
    total = prefix + hlen + pad;
    hdr = malloc(total);
    if (hdr != NULL) {
        size_t field = hlen + pad;
        memcpy(hdr, NPY_MAGIC, NPY_MAGIC_LEN);
        hdr[6] = prefix == 10 ? 1 : 2;
        hdr[7] = 0;
        for (size_t i = 0; i < prefix - 8; i++)
            hdr[8 + i] = (unsigned char)(field >> (8 * i));
        memcpy(hdr + prefix, dict, dlen);
        memset(hdr + prefix + dlen, ' ', pad);
        hdr[total - 1] = '\n';
        *outlen = total;
    }
    free(dict);
    return hdr;
}

static int check_array(const char *path, const npy_array *a, char *err, size_t errlen)
{
    size_t nbytes;
    if (dtype_descr(a->dtype) == NULL) {
        set_err(err, errlen, "%s: cannot write: invalid dtype %d", path, (int)a->dtype);
        return -1;
    }
    if (a->ndim < 0 || a->ndim > EINC_MAX_RANK) {
        set_err(err, errlen, "%s: cannot write: rank %d is outside 0..%d", path, a->ndim,
                EINC_MAX_RANK);
        return -1;
    }
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] < 0) {
            set_err(err, errlen, "%s: cannot write: negative dimension %lld in shape", path,
                    (long long)a->shape[i]);
            return -1;
        }
    }
    if (shape_nbytes(a->ndim, a->shape, npy_dtype_size(a->dtype), &nbytes) != 0 ||
        nbytes != a->nbytes) {
        set_err(err, errlen, "%s: cannot write: nbytes %zu does not match the shape and dtype",
                path, a->nbytes);
        return -1;
    }
    if (a->nbytes > 0 && a->data == NULL) {
        set_err(err, errlen, "%s: cannot write: data is NULL", path);
        return -1;
    }
    return 0;
}

unsigned char *npy_header(const npy_array *a, const char *name, size_t *len, char *err,
                          size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (name == NULL || a == NULL || len == NULL) {
        set_err(err, errlen, "npy_header: invalid arguments");
        return NULL;
    }
    if (check_array(name, a, err, errlen) != 0)
        return NULL;
    unsigned char *hdr = build_header(a, len);
    if (hdr == NULL)
        set_err(err, errlen, "%s: out of memory", name);
    return hdr;
}

int npy_write(const char *path, const npy_array *a, char *err, size_t errlen)
{
    if (path == NULL || a == NULL) {
        set_err(err, errlen, "npy_write: invalid arguments");
        return -1;
    }
    size_t hdrlen = 0;
    unsigned char *hdr = npy_header(a, path, &hdrlen, err, errlen);
    if (hdr == NULL)
        return -1;
    const void *parts[2] = { hdr, a->data };
    size_t lens[2] = { hdrlen, a->nbytes };
    int rc = file_write_atomic(path, parts, lens, 2, err, errlen);
    free(hdr);
    return rc;
}
