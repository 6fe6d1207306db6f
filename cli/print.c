/*
 * print.c — numpy's str(ndarray), reimplemented for the dtypes einc uses.
 *
 * This follows numpy/_core/arrayprint.py (numpy 1.24 .. 2.x, legacy printing off):
 * _formatArray for the layout and wrapping, IntegerFormat, BoolFormat and FloatingFormat
 * for the elements, and the float scalar str() for 0-d arrays.  Function names below
 * mention their numpy counterpart where the logic is a transcription.
 *
 * Floats: numpy uses Dragon4 in "unique" mode, i.e. the shortest digit string that reads
 * back as the same value, cut to 8 digits (after the point, or after the first digit in
 * scientific form) with exact round-half-even at the cut.  Here the shortest string is
 * found by trying printf("%.*e") with 1, 2, ... significant digits (and the neighbours
 * of each in the last digit) until strtod (strtof for float32) gives the value back;
 * cuts and extra digits come from printf's own exactly rounded output.
 *
 * Known deviations: a decimal exactly halfway between two floats reads back under
 * strtod's round-half-even rule, where Dragon4 treats the interval as open, so such a
 * value could end up with a different last digit than numpy prints; none has turned up
 * in testing (random bit patterns, powers of two and their neighbours).
 * Layout matches numpy 2.3+ (float32 arrays switch to scientific at 1e6 and float32
 * scalars at 1e6, where numpy < 2.3 used 1e8 and 1e16).
 */
#include "print.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PRINT_THRESHOLD 1000   /* more elements than this: summarise */
#define PRINT_EDGEITEMS 3
#define PRINT_LINEWIDTH 75
#define PRINT_PRECISION 8
#define WORD_MAX 96            /* longest element text: sign, 17 digits, padding */

/* ---------------------------------------------------------------- growable string */

typedef struct strbuf {
    char *p;
    size_t len, cap;
    int oom;   /* set once an allocation failed; later appends are dropped */
} strbuf;

static void sb_putn(strbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *np;
        while (cap < b->len + n + 1)
            cap *= 2;
        np = realloc(b->p, cap);
        if (np == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(strbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

static void sb_repeat(strbuf *b, char c, size_t n)
{
    char chunk[64];
    memset(chunk, c, sizeof chunk);
    while (n > 0) {
        size_t k = n < sizeof chunk ? n : sizeof chunk;
        sb_putn(b, chunk, k);
        n -= k;
    }
}

/* ---------------------------------------------------------------- decimal digits */

/* A finite non-negative value as digits d0.d1d2... times 10^exp, without trailing zeros. */
typedef struct decimal {
    char digits[40];
    int ndigits;
    int exp;
} decimal;

/* Reads printf's "%e" output back into a decimal, keeping every digit. */
static void parse_sci_raw(const char *s, decimal *d)
{
    d->ndigits = 0;
    for (; *s != '\0' && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9' && d->ndigits < (int)sizeof d->digits - 1)
            d->digits[d->ndigits++] = *s;
    d->exp = *s == 'e' ? atoi(s + 1) : 0;
    d->digits[d->ndigits] = '\0';
}

static void strip_zeros(decimal *d)
{
    while (d->ndigits > 1 && d->digits[d->ndigits - 1] == '0')
        d->ndigits--;
    d->digits[d->ndigits] = '\0';
}

static void parse_sci(const char *s, decimal *d)
{
    parse_sci_raw(s, d);
    strip_zeros(d);
}

/* Whether the decimal reads back (strtod / strtof) as exactly ax. */
static int roundtrips(const decimal *d, double ax, int is_f32)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%c.%se%d", d->digits[0], d->digits + 1, d->exp);
    return is_f32 ? strtof(buf, NULL) == (float)ax : strtod(buf, NULL) == ax;
}

/* Moves a decimal by one unit in its last digit (dir = +1 or -1), keeping its length. */
static void step_last_digit(decimal *d, int dir)
{
    int i = d->ndigits - 1;
    if (dir > 0) {
        while (i >= 0 && d->digits[i] == '9')
            d->digits[i--] = '0';
        if (i >= 0) {
            d->digits[i]++;
        } else {   /* 99..9 + 1 = 100..0 one decade up */
            d->digits[0] = '1';
            d->exp++;
        }
    } else {
        while (i >= 0 && d->digits[i] == '0')
            d->digits[i--] = '9';
        if (i >= 0)
            d->digits[i]--;
        if (d->digits[0] == '0') {   /* 100..0 - 1 = 99..9 one decade down */
            memmove(d->digits, d->digits + 1, (size_t)(d->ndigits - 1));
            d->digits[d->ndigits - 1] = '9';
            d->exp--;
        }
    }
}

/*
 * The shortest digits that read back as ax in its own type (Dragon4's unique mode).
 * For each length the correctly rounded string is tried first, then its neighbours in
 * the last digit: just above a power of two the rounding interval is narrower below the
 * value than above, so the nearest string may fail where the next one up reads back.
 */
static void shortest_decimal(double ax, int is_f32, decimal *d)
{
    char buf[48];
    int maxp = is_f32 ? 9 : 17;   /* always enough to round-trip */
    if (ax == 0) {
        strcpy(d->digits, "0");
        d->ndigits = 1;
        d->exp = 0;
        return;
    }
    for (int p = 1; p <= maxp; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, ax);
        parse_sci_raw(buf, d);
        if (roundtrips(d, ax, is_f32))
            break;
        for (int dir = 1; dir >= -1; dir -= 2) {
            decimal n = *d;
            step_last_digit(&n, dir);
            if (roundtrips(&n, ax, is_f32)) {
                *d = n;
                strip_zeros(d);
                return;
            }
        }
    }
    strip_zeros(d);
}

/*
 * Positional form of ax split at the point: int part and fraction digits (trailing zeros
 * trimmed).  cutoff >= 0 limits the fraction digits, rounding the exact value.
 */
static void positional_parts(double ax, int is_f32, int cutoff, char *ip, char *fp)
{
    decimal d;
    int nfrac, k = 0;
    shortest_decimal(ax, is_f32, &d);
    nfrac = d.ndigits - 1 - d.exp;
    if (cutoff >= 0 && nfrac > cutoff) {
        char buf[WORD_MAX];
        char *dot, *end;
        snprintf(buf, sizeof buf, "%.*f", cutoff, ax);
        dot = strchr(buf, '.');
        end = buf + strlen(buf);
        if (dot == NULL)
            dot = end;
        while (end > dot + 1 && end[-1] == '0')
            end--;
        memcpy(ip, buf, (size_t)(dot - buf));
        ip[dot - buf] = '\0';
        if (dot < end) {
            memcpy(fp, dot + 1, (size_t)(end - dot - 1));
            fp[end - dot - 1] = '\0';
        } else {
            fp[0] = '\0';
        }
        return;
    }
    if (d.exp < 0) {
        ip[k++] = '0';
    } else {
        for (int i = 0; i <= d.exp; i++)
            ip[k++] = i < d.ndigits ? d.digits[i] : '0';
    }
    ip[k] = '\0';
    k = 0;
    for (int i = d.exp + 1; i < d.ndigits; i++)
        fp[k++] = i < 0 ? '0' : d.digits[i];
    fp[k] = '\0';
}

/* Scientific form of ax: mantissa fraction digits limited to cutoff (if >= 0), exact rounding. */
static void scientific_decimal(double ax, int is_f32, int cutoff, decimal *d)
{
    shortest_decimal(ax, is_f32, d);
    if (cutoff >= 0 && d->ndigits - 1 > cutoff) {
        char buf[48];
        snprintf(buf, sizeof buf, "%.*e", cutoff, ax);
        parse_sci(buf, d);
    }
}

/* Exponent text as numpy writes it: sign and at least `digits` (>= 2) digits. */
static void put_exponent(strbuf *b, int exp, int digits)
{
    char buf[16];
    int n = snprintf(buf, sizeof buf, "%d", exp < 0 ? -exp : exp);
    if (digits < 2)
        digits = 2;
    sb_puts(b, exp < 0 ? "e-" : "e+");
    sb_repeat(b, '0', digits > n ? (size_t)(digits - n) : 0);
    sb_puts(b, buf);
}

/* ---------------------------------------------------------------- element access */

static double get_float(const npy_array *a, int64_t i)
{
    if (a->dtype == EINC_F32) {
        float v;
        memcpy(&v, (const char *)a->data + i * 4, 4);
        return v;
    } else {
        double v;
        memcpy(&v, (const char *)a->data + i * 8, 8);
        return v;
    }
}

static int64_t get_int(const npy_array *a, int64_t i)
{
    const char *p = (const char *)a->data;
    switch (a->dtype) {
    case EINC_I8: return ((const int8_t *)p)[i];
    case EINC_U8: return ((const uint8_t *)p)[i];
    case EINC_I16: { int16_t v; memcpy(&v, p + i * 2, 2); return v; }
    case EINC_U16: { uint16_t v; memcpy(&v, p + i * 2, 2); return v; }
    case EINC_U32: { uint32_t v; memcpy(&v, p + i * 4, 4); return v; }
    default: break;
    }
    if (a->dtype == EINC_I32) {
        int32_t v;
        memcpy(&v, (const char *)a->data + i * 4, 4);
        return v;
    } else {
        int64_t v;
        memcpy(&v, (const char *)a->data + i * 8, 8);
        return v;
    }
}

static int get_bool(const npy_array *a, int64_t i)
{
    return ((const unsigned char *)a->data)[i] != 0;
}

static int is_float(einc_dtype t)
{
    return t == EINC_F32 || t == EINC_F64;
}

/* ---------------------------------------------------------------- 0-d arrays */

/*
 * str() of a float scalar (numpy's floattype_str_either): positional with at least one
 * fraction digit for 0 and 1e-4 <= |x| < 1e16 (1e6 for float32 since numpy 2.3), else
 * scientific without a bare point.  The range test is done in long double, as numpy
 * does, so float32 0.0001 (just below 1e-4) is scientific.
 */
static void format_float_scalar(strbuf *b, double x, int is_f32)
{
    long double ax = fabsl((long double)x);
    long double upper = is_f32 ? 1.e6L : 1.e16L;
    if (isnan(x)) {
        sb_puts(b, "nan");
        return;
    }
    if (signbit(x))
        sb_puts(b, "-");
    if (isinf(x)) {
        sb_puts(b, "inf");
    } else if (ax == 0 || (ax < upper && ax >= 1.e-4L)) {
        char ip[WORD_MAX], fp[WORD_MAX];
        positional_parts(fabs(x), is_f32, -1, ip, fp);
        sb_puts(b, ip);
        sb_puts(b, ".");
        sb_puts(b, fp[0] != '\0' ? fp : "0");
    } else {
        decimal d;
        scientific_decimal(fabs(x), is_f32, -1, &d);
        sb_putn(b, d.digits, 1);
        if (d.ndigits > 1) {
            sb_puts(b, ".");
            sb_puts(b, d.digits + 1);
        }
        put_exponent(b, d.exp, 2);
    }
}

static void format_scalar(strbuf *b, const npy_array *a)
{
    char buf[32];
    if (is_float(a->dtype)) {
        format_float_scalar(b, get_float(a, 0), a->dtype == EINC_F32);
    } else if (a->dtype == EINC_BOOL) {
        sb_puts(b, get_bool(a, 0) ? "True" : "False");
    } else {
        snprintf(buf, sizeof buf, "%lld", (long long)get_int(a, 0));
        sb_puts(b, buf);
    }
}

/* ---------------------------------------------------------------- element formats */

/* The common element layout, fixed from the elements that will be shown. */
typedef struct elemfmt {
    einc_dtype dtype;
    int int_width;                /* IntegerFormat: right-align to this width */
    int exp_format;               /* FloatingFormat fields, as numpy names them */
    int precision;                /* scientific: mantissa fraction digits */
    int pad_left, pad_right, exp_size;
} elemfmt;

/* Which elements numpy shows: all, or the first and last PRINT_EDGEITEMS of long axes. */
typedef struct layout {
    const npy_array *a;
    int64_t strides[EINC_MAX_RANK];   /* in elements, C order */
    int summarize;
} layout;

static int64_t shown_count(const layout *l, int axis)
{
    int64_t n = l->a->shape[axis];
    return l->summarize && n > 2 * PRINT_EDGEITEMS ? 2 * PRINT_EDGEITEMS : n;
}

static int64_t shown_index(const layout *l, int axis, int64_t k)
{
    int64_t n = l->a->shape[axis];
    if (l->summarize && n > 2 * PRINT_EDGEITEMS && k >= PRINT_EDGEITEMS)
        return n - 2 * PRINT_EDGEITEMS + k;
    return k;
}

typedef void (*visit_fn)(void *ctx, const npy_array *a, int64_t flat);

/* Calls fn on every shown element (numpy's _leading_trailing). */
static void visit_shown(const layout *l, int axis, int64_t off, visit_fn fn, void *ctx)
{
    if (axis == l->a->ndim) {
        fn(ctx, l->a, off);
        return;
    }
    for (int64_t k = 0; k < shown_count(l, axis); k++)
        visit_shown(l, axis + 1, off + shown_index(l, axis, k) * l->strides[axis], fn, ctx);
}

/* IntegerFormat: the width of the longer of str(max) and str(min). */
typedef struct int_stats {
    int64_t min, max;
    int any;
} int_stats;

static void int_visit(void *ctx, const npy_array *a, int64_t flat)
{
    int_stats *s = ctx;
    int64_t v = get_int(a, flat);
    if (!s->any || v < s->min)
        s->min = v;
    if (!s->any || v > s->max)
        s->max = v;
    s->any = 1;
}

static void int_format_init(const layout *l, elemfmt *f)
{
    int_stats s = {0, 0, 0};
    char buf[32];
    int wmin, wmax;
    visit_shown(l, 0, 0, int_visit, &s);
    wmin = snprintf(buf, sizeof buf, "%lld", (long long)s.min);
    wmax = snprintf(buf, sizeof buf, "%lld", (long long)s.max);
    f->int_width = wmin > wmax ? wmin : wmax;
}

/*
 * FloatingFormat.fillFormat.  The first visit finds the extremes of the finite non-zero
 * magnitudes, compared in the array's own type as numpy 2 does (so float32 0.0001 is not
 * "< 1e-4").  The second measures the digits every finite value needs.
 *
 * Scientific notation is chosen when max >= 10**min(8, finfo(dtype).precision), i.e. 1e8
 * for float64 and 1e6 for float32 (numpy >= 2.3; older numpy used 1e8 for both), or
 * min < 1e-4, or max/min > 1e3.
 */
typedef struct float_stats {
    const elemfmt *f;
    int is_f32;
    double maxv, minv;
    int any_nonzero, any_finite, any_nonfinite, neg_inf;
    int int_len, frac_len, exp_len;
} float_stats;

static void float_range_visit(void *ctx, const npy_array *a, int64_t flat)
{
    float_stats *s = ctx;
    double x = get_float(a, flat);
    if (!isfinite(x)) {
        s->any_nonfinite = 1;
        if (isinf(x) && x < 0)
            s->neg_inf = 1;
        return;
    }
    s->any_finite = 1;
    if (x == 0)
        return;
    x = fabs(x);
    if (!s->any_nonzero || x > s->maxv)
        s->maxv = x;
    if (!s->any_nonzero || x < s->minv)
        s->minv = x;
    s->any_nonzero = 1;
}

static void float_measure_visit(void *ctx, const npy_array *a, int64_t flat)
{
    float_stats *s = ctx;
    double x = get_float(a, flat);
    int ilen, flen;
    if (!isfinite(x))
        return;
    if (s->f->exp_format) {
        decimal d;
        char buf[16];
        int elen;
        scientific_decimal(fabs(x), s->is_f32, PRINT_PRECISION, &d);
        ilen = 1 + (signbit(x) ? 1 : 0);
        flen = d.ndigits - 1;
        elen = snprintf(buf, sizeof buf, "%02d", d.exp < 0 ? -d.exp : d.exp);
        if (elen > s->exp_len)
            s->exp_len = elen;
    } else {
        char ip[WORD_MAX], fp[WORD_MAX];
        positional_parts(fabs(x), s->is_f32, PRINT_PRECISION, ip, fp);
        ilen = (int)strlen(ip) + (signbit(x) ? 1 : 0);
        flen = (int)strlen(fp);
    }
    if (ilen > s->int_len)
        s->int_len = ilen;
    if (flen > s->frac_len)
        s->frac_len = flen;
}

static int wants_exp_format(const float_stats *s)
{
    if (!s->any_nonzero)
        return 0;
    if (s->is_f32) {
        float maxv = (float)s->maxv, minv = (float)s->minv;
        float ratio = maxv / minv;
        return maxv >= 1.e6f || minv < 1.e-4f || ratio > 1000.f;
    }
    return s->maxv >= 1.e8 || s->minv < 1.e-4 || s->maxv / s->minv > 1000.;
}

static void float_format_init(const layout *l, elemfmt *f)
{
    float_stats s;
    memset(&s, 0, sizeof s);
    s.f = f;
    s.is_f32 = l->a->dtype == EINC_F32;
    visit_shown(l, 0, 0, float_range_visit, &s);
    f->exp_format = wants_exp_format(&s);
    visit_shown(l, 0, 0, float_measure_visit, &s);

    if (!s.any_finite) {
        f->pad_left = f->pad_right = 0;
        f->exp_size = -1;
    } else if (f->exp_format) {
        f->exp_size = s.exp_len;
        f->precision = s.frac_len;
        f->pad_left = s.int_len;
        f->pad_right = f->exp_size + 2 + f->precision;
    } else {
        f->pad_left = s.int_len;
        f->pad_right = s.frac_len;
        f->exp_size = -1;
    }
    if (s.any_nonfinite) {
        /* room for "nan" and "inf" / "-inf" in the width pad_left + 1 + pad_right */
        int offset = f->pad_right + 1;
        if (3 - offset > f->pad_left)
            f->pad_left = 3 - offset;
        if (3 + s.neg_inf - offset > f->pad_left)
            f->pad_left = 3 + s.neg_inf - offset;
    }
}

/* FloatingFormat.__call__ */
static void format_float_elem(strbuf *b, const elemfmt *f, double x, int is_f32)
{
    if (!isfinite(x)) {
        const char *s = isnan(x) ? "nan" : x < 0 ? "-inf" : "inf";
        int width = f->pad_left + f->pad_right + 1;
        int n = (int)strlen(s);
        sb_repeat(b, ' ', width > n ? (size_t)(width - n) : 0);
        sb_puts(b, s);
    } else if (f->exp_format) {
        decimal d;
        int ilen = 1 + (signbit(x) ? 1 : 0);
        scientific_decimal(fabs(x), is_f32, f->precision, &d);
        if (d.ndigits - 1 < f->precision) {
            /*
             * min_digits: Dragon4 goes on past the unique digits with the exact value's
             * digits (float32 2/3 prints 6.6666669e-01, not 6.6666670e-01).
             */
            char buf[48];
            snprintf(buf, sizeof buf, "%.*e", f->precision, fabs(x));
            parse_sci(buf, &d);
        }
        sb_repeat(b, ' ', f->pad_left > ilen ? (size_t)(f->pad_left - ilen) : 0);
        sb_puts(b, signbit(x) ? "-" : "");
        sb_putn(b, d.digits, 1);
        sb_puts(b, ".");
        sb_puts(b, d.digits + 1);
        if (f->precision > d.ndigits - 1)
            sb_repeat(b, '0', (size_t)(f->precision - (d.ndigits - 1)));
        put_exponent(b, d.exp, f->exp_size);
    } else {
        char ip[WORD_MAX], fp[WORD_MAX];
        int ilen, flen;
        positional_parts(fabs(x), is_f32, PRINT_PRECISION, ip, fp);
        ilen = (int)strlen(ip) + (signbit(x) ? 1 : 0);
        flen = (int)strlen(fp);
        sb_repeat(b, ' ', f->pad_left > ilen ? (size_t)(f->pad_left - ilen) : 0);
        sb_puts(b, signbit(x) ? "-" : "");
        sb_puts(b, ip);
        sb_puts(b, ".");
        sb_puts(b, fp);
        sb_repeat(b, ' ', f->pad_right > flen ? (size_t)(f->pad_right - flen) : 0);
    }
}

static void format_elem(strbuf *b, const elemfmt *f, const npy_array *a, int64_t flat)
{
    char buf[32];
    if (is_float(f->dtype)) {
        format_float_elem(b, f, get_float(a, flat), f->dtype == EINC_F32);
    } else if (f->dtype == EINC_BOOL) {
        /* BoolFormat: " True" so that it lines up with "False" */
        sb_puts(b, get_bool(a, flat) ? " True" : "False");
    } else {
        snprintf(buf, sizeof buf, "%*lld", f->int_width, (long long)get_int(a, flat));
        sb_puts(b, buf);
    }
}

/* ---------------------------------------------------------------- layout (_formatArray) */

typedef struct printer {
    layout l;
    elemfmt f;
} printer;

/* _extendLine: start a new line when the word would pass width, unless that cannot help. */
static void extend_line(strbuf *s, strbuf *line, const char *word, size_t wlen, size_t width,
                        size_t hang)
{
    int wrap = line->len + wlen > width && line->len > hang;
    if (wrap) {
        size_t n = line->len;
        while (n > 0 && line->p[n - 1] == ' ')
            n--;
        sb_putn(s, line->p, n);
        sb_puts(s, "\n");
        line->len = 0;
        sb_repeat(line, ' ', hang);
    }
    sb_putn(line, word, wlen);
}

static void extend_elem(const printer *pr, strbuf *s, strbuf *line, int64_t flat, size_t width,
                        size_t hang)
{
    strbuf w = {0};
    format_elem(&w, &pr->f, pr->l.a, flat);
    if (w.oom)
        line->oom = 1;
    else
        extend_line(s, line, w.p, w.len, width, hang);
    free(w.p);
}

/* The last axis: elements separated by spaces, wrapped to the line width. */
static void format_row(const printer *pr, strbuf *out, int axis, int64_t off, size_t hang,
                       size_t width)
{
    const layout *l = &pr->l;
    int64_t n = l->a->shape[axis], stride = l->strides[axis];
    int summary = l->summarize && n > 2 * PRINT_EDGEITEMS;
    int64_t leading = summary ? PRINT_EDGEITEMS : 0;
    int64_t trailing = summary ? PRINT_EDGEITEMS : n;
    size_t elem_width = width - 1;   /* room for the closing ']' */
    strbuf s = {0}, line = {0};

    sb_repeat(&line, ' ', hang);
    for (int64_t i = 0; i < leading; i++) {
        extend_elem(pr, &s, &line, off + i * stride, elem_width, hang);
        sb_puts(&line, " ");
    }
    if (summary) {
        extend_line(&s, &line, "...", 3, elem_width, hang);
        sb_puts(&line, " ");
    }
    for (int64_t i = trailing; i > 1; i--) {
        extend_elem(pr, &s, &line, off + (n - i) * stride, elem_width, hang);
        sb_puts(&line, " ");
    }
    extend_elem(pr, &s, &line, off + (n - 1) * stride, elem_width, hang);
    sb_putn(&s, line.p, line.len);

    /* numpy builds the first line with the hanging indent too, then swaps it for '[' */
    sb_puts(out, "[");
    if (s.p != NULL && s.len >= hang)
        sb_putn(out, s.p + hang, s.len - hang);
    sb_puts(out, "]");
    if (s.oom || line.oom)
        out->oom = 1;
    free(s.p);
    free(line.p);
}

/* _formatArray's recurser: sub-arrays on separate lines, blank lines between blocks. */
static void format_block(const printer *pr, strbuf *out, int axis, int64_t off, size_t hang,
                         size_t width)
{
    const layout *l = &pr->l;
    int axes_left = l->a->ndim - axis;
    int64_t n = l->a->shape[axis], stride = l->strides[axis];
    int summary = l->summarize && n > 2 * PRINT_EDGEITEMS;
    int64_t shown = shown_count(l, axis);

    if (axes_left == 1) {
        format_row(pr, out, axis, off, hang, width);
        return;
    }
    sb_puts(out, "[");
    for (int64_t k = 0; k < shown; k++) {
        if (k > 0) {
            sb_repeat(out, '\n', (size_t)(axes_left - 1));
            sb_repeat(out, ' ', hang);
        }
        if (summary && k == PRINT_EDGEITEMS) {
            sb_puts(out, "...");
            sb_repeat(out, '\n', (size_t)(axes_left - 1));
            sb_repeat(out, ' ', hang);
        }
        format_block(pr, out, axis + 1, off + shown_index(l, axis, k) * stride, hang + 1,
                     width - 1);
    }
    sb_puts(out, "]");
}

/* ---------------------------------------------------------------- entry point */

static int valid_array(const npy_array *a, int64_t *size)
{
    int64_t n = 1;
    if (a == NULL || npy_dtype_size(a->dtype) == 0 || a->ndim < 0 || a->ndim > EINC_MAX_RANK)
        return 0;
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] < 0)
            return 0;
        if (a->shape[i] == 0)
            n = 0;
        else if (n > INT64_MAX / a->shape[i])
            return 0;
        else
            n *= a->shape[i];
    }
    if (n > 0 && a->data == NULL)
        return 0;
    if (a->nbytes / npy_dtype_size(a->dtype) < (uint64_t)n)
        return 0;
    *size = n;
    return 1;
}

/* uint64 past INT64_MAX, float16, bfloat16 and complex are not formatted yet */
int npy_printable(einc_dtype t)
{
    return t == EINC_F32 || t == EINC_F64 || t == EINC_I32 || t == EINC_I64 || t == EINC_BOOL ||
           t == EINC_I8 || t == EINC_I16 || t == EINC_U8 || t == EINC_U16 || t == EINC_U32;
}

void npy_print(FILE *f, const npy_array *a)
{
    strbuf out = {0};
    int64_t size;
    if (f == NULL || !valid_array(a, &size) || !npy_printable(a->dtype))
        return;
    if (a->ndim == 0) {
        format_scalar(&out, a);
    } else if (size == 0) {
        sb_puts(&out, "[]");
    } else {
        printer pr;
        memset(&pr, 0, sizeof pr);
        pr.l.a = a;
        pr.l.summarize = size > PRINT_THRESHOLD;
        pr.l.strides[a->ndim - 1] = 1;
        for (int i = a->ndim - 2; i >= 0; i--)
            pr.l.strides[i] = pr.l.strides[i + 1] * a->shape[i + 1];
        pr.f.dtype = a->dtype;
        if (is_float(a->dtype))
            float_format_init(&pr.l, &pr.f);
        else if (a->dtype != EINC_BOOL)
            int_format_init(&pr.l, &pr.f);
        /* the top level hangs one space (for the '['), in the full line width */
        format_block(&pr, &out, 0, 0, 1, PRINT_LINEWIDTH);
    }
    if (!out.oom && out.p != NULL) {
        fputs(out.p, f);
        fputc('\n', f);
    }
    free(out.p);
}
