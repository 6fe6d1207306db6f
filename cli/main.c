/*
 * main.c — the einc command line.  The only place in einc that prints or chooses an exit
 * code: everything below it reports errors as values.
 *
 *     einc [--emit=KIND] [-o FILE] EXPR|MODEL.einl [AXIS=N ...]
 *     einc run [--target=T] [--reduce=OP] EXPR [AXIS=N ...] IN.npy ... [-o OUT.npy]
 *     einc explain [--dot] EXPR [AXIS=N ...] [IN.npy ...]
 *     einc bench EXPR AXIS=N ... | EXPR IN.npy ...
 *     einc cache [clear]
 *
 * Options may stand anywhere and take their value as GNU getopt_long reads it: --opt=VALUE
 * or --opt VALUE, -o FILE or -oFILE; "--" ends them.  An option that does not apply to the
 * command is refused, never ignored.  Exit status: 0 success, 1 an error in the input,
 * 2 a usage error.
 */
#define _POSIX_C_SOURCE 200809L
#include "einc.h"
#include "npy.h"
#include "print.h"
#include "file.h"
#include "kcache.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { EXIT_INPUT = 1, EXIT_USAGE = 2 };

static const char usage[] =
    "usage: einc [OPTIONS] EXPR [AXIS=N ...]                  print a kernel's source\n"
    "       einc run [OPTIONS] EXPR [AXIS=N ...] IN.npy ...    compute EXPR on .npy files\n"
    "       einc explain [OPTIONS] EXPR [AXIS=N ...] [IN.npy ...]\n"
    "       einc bench [OPTIONS] EXPR AXIS=N ... | EXPR [AXIS=N ...] IN.npy ...\n"
    "       einc [run | explain | bench] [OPTIONS] MODEL.einl [SIZE=N ...] [NAME=FILE.npy ...]\n"
    "       einc cache [clear]\n"
    "       einc help | --help | --version\n"
    "\n"
    "EXPR is a numpy einsum string ('ik,kj->ij', '...ij,...jk', 'ii->i', implicit 'ij,jk')\n"
    "or an einops pattern ('b c (h w) -> b h w c', 'b c h w -> b c', 'h w -> h w c').\n"
    "An expression with whitespace inside an operand, parentheses or digits is einops style\n"
    "(axes are names separated by spaces); otherwise numpy style (one letter per axis).\n"
    "MODEL.einl is a model in the layer language (README): its input and param arrays are\n"
    "bound by name, its sizes come from them or from SIZE=N words (every size, to emit C).\n"
    "\n"
    "  (none)     print a kernel for EXPR: C99 (default), its prototype, a CUDA .cu file,\n"
    "             PTX (through NVRTC, no GPU needed), LLVM IR, host assembly, or an object\n"
    "             file with the same C function (-o needed)\n"
    "  run        compute EXPR on .npy files; prints the result as numpy does, or writes -o\n"
    "  explain    show the dialect, axes, sizes, the index IR and its FLOP count; for a\n"
    "             model also the fused groups\n"
    "  bench      time EXPR on the .npy files given, else on random inputs of the given\n"
    "             sizes: GFLOP/s, GB/s, and the speed-up over the reference interpreter\n"
    "  cache      show the directory of compiled kernels kept between runs, its size and\n"
    "             entries (EINC_CACHE_DIR, EINC_CACHE=0, EINC_CACHE_MAX); 'clear' empties it\n"
    "  help       this text\n"
    "\n"
    "  AXIS=N             the size of an axis the inputs do not determine (h=4, c=3)\n"
    "  ...=N              for an emitted kernel: the number of dimensions '...' stands for\n"
    "\n"
    "Options (--opt=VALUE or --opt VALUE; -o FILE or -oFILE).  An option that does not\n"
    "apply to the command is an error.\n"
    "  --emit=KIND        (emitting) c (default), header, cuda, ptx, llvm, asm or obj\n"
    "  --name=NAME        (emitting) the kernel's function name (default einc_kernel)\n"
    "  --params=a,b,...   (emitting) the order of the size parameters: each once (default:\n"
    "                     order of first appearance; '...' dimensions are ellipsis0, ...)\n"
    "  --cpu=NAME         (--emit=obj|asm|llvm) the x86-64 CPU the code is for, as LLVM\n"
    "                     names it: x86-64, x86-64-v3, skylake-avx512, ... (default: this\n"
    "                     machine's); --march=NAME is the same\n"
    "  --dtype=f32|f64    (emitting, bench) every array's dtype, for an expression (default\n"
    "                     f32; run takes the inputs' dtypes, a model declares its own)\n"
    "  --reduce=OP        sum (default), mean, max, min or prod, for axes absent from the\n"
    "                     output of a one-operand expression\n"
    "  --dialect=D        auto (default: the rule above), numpy or einops, for an expression\n"
    "  --target=T         (run, bench) auto (default: CUDA when a GPU and its driver are\n"
    "                     there, else the CPU JIT), cpu, cuda, interp (the reference\n"
    "                     interpreter)\n"
    "  --max-memory=BYTES (run, explain, bench) bytes any one intermediate of an expression's\n"
    "                     contraction path may take (64K, 512M, 2G)\n"
    "  --dot              (explain) the fused loop nests as a Graphviz graph\n"
    "  -o, --output=FILE  write to FILE what would be printed (run: a .npy file), atomically:\n"
    "                     an error leaves FILE as it was; '-o -' is standard output\n"
    "  -h, --help         this text\n"
    "  --version          einc's version\n"
    "  --                 end of options (for an expression starting with '-')\n";

enum command { CMD_EMIT, CMD_RUN, CMD_EXPLAIN, CMD_BENCH, CMD_CACHE, CMD_HELP, CMD_COUNT };

static const char *const command_names[CMD_COUNT] = {
    [CMD_RUN] = "run", [CMD_EXPLAIN] = "explain", [CMD_BENCH] = "bench", [CMD_CACHE] = "cache",
    [CMD_HELP] = "help",
};

enum option {
    OPT_EMIT, OPT_NAME, OPT_PARAMS, OPT_CPU, OPT_MARCH, OPT_DTYPE, OPT_REDUCE, OPT_DIALECT,
    OPT_TARGET, OPT_MAX_MEMORY, OPT_DOT, OPT_OUTPUT, OPT_HELP, OPT_VERSION, OPT_COUNT
};

static const struct option_spec {
    const char *name;           /* the long spelling */
    const char *letter;         /* the short one, or NULL */
    const char *value;          /* the value's name in messages, or NULL: a flag */
} options[OPT_COUNT] = {
    [OPT_EMIT] = { "--emit", NULL, "KIND" },
    [OPT_NAME] = { "--name", NULL, "NAME" },
    [OPT_PARAMS] = { "--params", NULL, "a,b,..." },
    [OPT_CPU] = { "--cpu", NULL, "NAME" },
    [OPT_MARCH] = { "--march", NULL, "NAME" },
    [OPT_DTYPE] = { "--dtype", NULL, "f32|f64" },
    [OPT_REDUCE] = { "--reduce", NULL, "OP" },
    [OPT_DIALECT] = { "--dialect", NULL, "auto|numpy|einops" },
    [OPT_TARGET] = { "--target", NULL, "auto|cpu|cuda|interp" },
    [OPT_MAX_MEMORY] = { "--max-memory", NULL, "BYTES" },
    [OPT_DOT] = { "--dot", NULL, NULL },
    [OPT_OUTPUT] = { "--output", "-o", "FILE" },
    [OPT_HELP] = { "--help", "-h", NULL },
    [OPT_VERSION] = { "--version", NULL, NULL },
};

/* einc_emit_kind's order */
static const char *const emit_kinds[] = { "c", "header", "cuda", "llvm", "asm", "ptx", "obj" };
/* einc_target's and einc_dialect's */
static const char *const targets[] = { "auto", "cpu", "cuda", "interp" };
static const char *const dialects[] = { "auto", "numpy", "einops" };

typedef struct args {
    enum command cmd;
    const char *expr;           /* the expression, or a model's source text */
    const char *model;          /* the .einl file's path, or NULL */
    const char *given[OPT_COUNT]; /* each option given, as spelled ("-o", "--output"); else NULL */
    bool dot;                   /* explain --dot */
    bool clear;                 /* einc cache clear */
    const char *out;            /* -o FILE; "-" is standard output */
    einc_emit_kind emit;
    const char *name;
    const char *cpu;            /* --cpu, --march: an emitted object's CPU; NULL: the host */
    char *params_text;          /* --params' value, split in place at its commas */
    const char **params;
    int nparams;
    einc_dtype dtype;           /* --dtype: emitted kernels', bench's random inputs' */
    einc_options opt;
    int nsizes, nfiles;
    einc_size *sizes;
    const char **files;         /* .npy operands, or a model's NAME=FILE.npy words */
} args;

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "einc: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(einc --help shows the usage)\n");
    va_end(ap);
    return EXIT_USAGE;
}

static int lookup(const char *const *names, int n, const char *v)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], v) == 0)
            return i;
    return -1;
}

/* The value of a valued option, checked; 0 or a usage error's exit status (printed). */
static int set_option(args *A, enum option id, const char *v)
{
    int k;
    switch (id) {
    case OPT_EMIT:
        if ((k = lookup(emit_kinds, 7, v)) < 0)
            return usage_error("--emit takes c, header, cuda, llvm, asm, ptx or obj, not '%s'", v);
        A->emit = (einc_emit_kind)k;
        return 0;
    case OPT_NAME:
        A->name = v;
        return 0;
    case OPT_CPU:
    case OPT_MARCH:
        A->cpu = v;
        return 0;
    case OPT_PARAMS: {          /* "b,h,i": each name checked by the library */
        free(A->params_text);
        free(A->params);
        A->params_text = strdup(v);
        A->params = calloc(strlen(v) + 2, sizeof *A->params);
        A->nparams = 0;
        if (!A->params_text || !A->params)
            return usage_error("%s", "out of memory");
        for (char *p = A->params_text;; p++) {
            A->params[A->nparams++] = p;
            if (!(p = strchr(p, ',')))
                break;
            *p = 0;
        }
        return 0;
    }
    case OPT_DTYPE:
        if (strcmp(v, "f32") && strcmp(v, "f64"))
            return usage_error("--dtype takes f32 or f64, not '%s'", v);
        A->dtype = v[1] == '3' ? EINC_F32 : EINC_F64;
        return 0;
    case OPT_REDUCE:
        for (k = 0; k < EINC_REDUCE_COUNT && strcmp(einc_reduce_name((einc_reduce)k), v); k++)
            ;
        if (k == EINC_REDUCE_COUNT)
            return usage_error("--reduce takes sum, mean, max, min or prod, not '%s'", v);
        A->opt.reduce = (einc_reduce)k;
        return 0;
    case OPT_DIALECT:
        if ((k = lookup(dialects, 3, v)) < 0)
            return usage_error("--dialect takes auto, numpy or einops, not '%s'", v);
        A->opt.dialect = (einc_dialect)k;
        return 0;
    case OPT_TARGET:
        if ((k = lookup(targets, 4, v)) < 0)
            return usage_error("--target takes auto, cpu, cuda or interp, not '%s'", v);
        A->opt.target = (einc_target)k;
        return 0;
    case OPT_MAX_MEMORY: {
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        long long mul = *end == 'K' || *end == 'k' ? 1LL << 10 : *end == 'M' ? 1LL << 20
                      : *end == 'G' ? 1LL << 30 : 1;
        if (errno || end == v || n < 0 || (mul > 1 && end[1]) || (mul == 1 && *end) ||
            __builtin_mul_overflow(n, mul, &n))
            return usage_error("--max-memory takes a byte count such as 1000000, 64K, 512M or 2G, not '%s'", v);
        A->opt.max_memory = n;
        return 0;
    }
    case OPT_OUTPUT:
        A->out = v;
        return 0;
    default:
        return 0;
    }
}

/*
 * Why option id does not apply to a model, or NULL.  These and command_refuses below are
 * the table in the README's "The command line" section.
 */
static const char *model_refuses(enum option id)
{
    switch (id) {
    case OPT_DTYPE: return "its arrays have the dtypes it declares";
    case OPT_REDUCE: return "its layers say how they reduce";
    case OPT_DIALECT: return "its pattern calls are einops style";
    case OPT_MAX_MEMORY: return "it bounds an expression's contraction path, and a model has none";
    default: return NULL;
    }
}

/* Why option id does not apply to A's command, or NULL when it does. */
static const char *command_refuses(const args *A, enum option id)
{
    bool emit = A->cmd == CMD_EMIT;
    if (A->cmd == CMD_CACHE && id != OPT_HELP && id != OPT_VERSION)
        return "it takes no options";
    switch (id) {
    case OPT_EMIT:
        return emit ? NULL : "it chooses what a kernel is emitted as (einc --emit=KIND EXPR)";
    case OPT_NAME:
        return emit ? NULL : "it names an emitted kernel (einc --name=NAME EXPR)";
    case OPT_PARAMS:
        return emit ? NULL : "it orders an emitted kernel's size parameters (einc --params=a,b EXPR)";
    case OPT_CPU:
    case OPT_MARCH:
        if (!emit)
            return "it chooses the CPU of an emitted object (einc --emit=obj --cpu=NAME EXPR)";
        return A->emit == EINC_EMIT_OBJ || A->emit == EINC_EMIT_ASM || A->emit == EINC_EMIT_LLVM
                   ? NULL : "it chooses the CPU LLVM compiles for: --emit=obj, asm or llvm";
    case OPT_DTYPE:
        if (A->cmd == CMD_RUN)
            return "the result's dtype follows the inputs' (numpy's rules)";
        if (A->cmd == CMD_EXPLAIN)
            return "an expression's dtypes come from its .npy inputs";
        return A->cmd == CMD_BENCH && A->nfiles ? "the .npy files give the inputs' dtypes" : NULL;
    case OPT_TARGET:
        if (emit)
            return "an emitted kernel's kind is chosen with --emit=c|header|cuda|ptx|llvm|asm|obj";
        return A->cmd == CMD_EXPLAIN ? "explain runs nothing (its schedule is the CPU JIT's)" : NULL;
    case OPT_MAX_MEMORY:
        return emit ? "an emitted kernel computes the expression in one loop nest, without a "
                      "contraction path" : NULL;
    case OPT_DOT:
        return A->cmd == CMD_EXPLAIN ? NULL : "it draws explain's loop nests (einc explain --dot)";
    default:
        return NULL;
    }
}

static bool is_ident(const char *s, size_t n)
{
    if (n == 0 || !(s[0] == '_' || isalpha((unsigned char)s[0])))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(s[i] == '_' || isalnum((unsigned char)s[i])))
            return false;
    return true;
}

static bool is_model(const char *s)
{
    size_t n = strlen(s);
    return n > 5 && strcmp(s + n - 5, ".einl") == 0;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && strcmp(s + n - m, tail) == 0;
}

/*
 * NAME=VALUE → a size.  Returns 1 if w is one, 0 if w is a file (an operand, or a model's
 * NAME=FILE.npy binding), -1 (printed) if it is a size with a bad value: c=3.5, c=abc,
 * c=-1.  A model binds its arrays with NAME=FILE, so there a value that is not a number is
 * a file's name; an expression's operands are plain file names, so NAME=FILE.npy is left
 * for the loader to explain.
 */
static int size_word(const char *w, bool model, einc_size *z)
{
    const char *eq = strchr(w, '=');
    if (!eq || !(is_ident(w, (size_t)(eq - w)) || (eq - w == 3 && strncmp(w, "...", 3) == 0)))
        return 0;
    const char *v = eq + 1;
    if (*v && strspn(v, "0123456789") == strlen(v)) {
        errno = 0;
        long long n = strtoll(v, NULL, 10);
        if (errno) {
            usage_error("bad size '%s': it does not fit in 64 bits", w);
            return -1;
        }
        z->name = strndup(w, (size_t)(eq - w));
        z->value = n;
        if (!z->name)
            usage_error("%s", "out of memory");
        return z->name ? 1 : -1;
    }
    char *end = (char *)v;
    if (*v)
        strtod(v, &end);
    bool number = *v && *end == 0;
    if (*v && !number && (model || ends_with(v, ".npy")))
        return 0;
    usage_error("bad size '%s': a size is a non-negative integer", w);
    return -1;
}

/* The option that the first n bytes of a spell ("--reduce" or "-o"), or OPT_COUNT. */
static int find_option(const char *a, size_t n)
{
    int id = 0;
    for (; id < OPT_COUNT; id++) {
        const char *s = n == 2 && a[1] != '-' ? options[id].letter : options[id].name;
        if (s && strlen(s) == n && strncmp(s, a, n) == 0)
            break;
    }
    return id;
}

/*
 * argv → A.  Returns 0, a usage error's exit status (printed), or -1 after --help or
 * --version (printed: exit 0).
 */
static int parse_args(int argc, char **argv, args *A)
{
    const char **pos = calloc((size_t)argc + 1, sizeof *pos);
    A->sizes = calloc((size_t)argc + 1, sizeof *A->sizes);
    A->files = calloc((size_t)argc + 1, sizeof *A->files);
    int rc = 0, npos = 0, first_after_dashdash = -1;
    if (!pos || !A->sizes || !A->files) {
        free(pos);
        return usage_error("%s", "out of memory");
    }
    bool dashdash = false;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i], *v = NULL, *spelled;
        if (dashdash || a[0] != '-' || a[1] == 0) {
            pos[npos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            dashdash = true;
            first_after_dashdash = npos;
            continue;
        }
        bool attached = false, is_long = a[1] == '-';
        size_t n = is_long ? strcspn(a, "=") : 2;
        int id = find_option(a, n);
        if (id == OPT_COUNT || (!is_long && a[2] && !options[id].value)) {
            rc = usage_error("unknown option '%s'", a);
            break;
        }
        spelled = is_long ? options[id].name : options[id].letter;
        if (a[n]) {             /* --opt=VALUE, -oVALUE */
            v = a + n + is_long;
            attached = true;
        }
        if (!options[id].value && attached) {
            rc = usage_error("option '%s' takes no value", spelled);
        } else if (id == OPT_HELP) {
            fputs(usage, stdout);
            rc = -1;
        } else if (id == OPT_VERSION) {
            printf("einc %s\n", einc_version());
            rc = -1;
        } else if (id == OPT_DOT) {
            A->dot = true;
        } else {
            if (!attached)
                v = i + 1 < argc ? argv[++i] : NULL;
            if (!v || !*v)
                rc = usage_error("option '%s' needs a value (%s%s%s)", spelled, spelled,
                                 is_long ? "=" : " ", options[id].value);
            else
                rc = set_option(A, (enum option)id, v);
        }
        A->given[id] = spelled;
    }
    int i = 0;
    for (int c = CMD_RUN; rc == 0 && c < CMD_COUNT && npos > 0 && first_after_dashdash != 0; c++)
        if (strcmp(pos[0], command_names[c]) == 0) {
            A->cmd = (enum command)c;
            i++;
        }
    if (rc == 0 && A->cmd == CMD_HELP) {
        fputs(usage, stdout);
        rc = -1;
    }
    if (rc == 0 && A->cmd == CMD_CACHE) {
        A->clear = i < npos && strcmp(pos[i], "clear") == 0;
        i += A->clear;
        if (i < npos)
            rc = usage_error("'einc cache' takes 'clear' or nothing, not '%s'", pos[i]);
        i = npos;
    } else {
        if (rc == 0 && i >= npos)
            rc = usage_error("%s", "no expression given");
        if (rc == 0) {
            A->expr = pos[i++];
            A->model = is_model(A->expr) ? A->expr : NULL;
        }
    }
    for (; rc == 0 && i < npos; i++) {
        int r = size_word(pos[i], A->model != NULL, &A->sizes[A->nsizes]);
        if (r < 0)
            rc = EXIT_USAGE;
        else if (r > 0)
            A->nsizes++;
        else
            A->files[A->nfiles++] = pos[i];
    }
    for (int id = 0; rc == 0 && id < OPT_COUNT; id++) {
        const char *why = A->given[id] && A->model ? model_refuses((enum option)id) : NULL;
        if (why) {
            rc = usage_error("option '%s' does not apply to a model: %s", A->given[id], why);
            break;
        }
        why = A->given[id] ? command_refuses(A, (enum option)id) : NULL;
        if (why && A->cmd == CMD_EMIT)
            rc = usage_error("option '%s' does not apply to emitting a kernel: %s", A->given[id], why);
        else if (why)
            rc = usage_error("option '%s' does not apply to 'einc %s': %s", A->given[id],
                             command_names[A->cmd], why);
    }
    A->opt.nsizes = A->nsizes;
    A->opt.sizes = A->sizes;
    free(pos);
    return rc;
}

/*
 * A result or benchmark buffer: 64-byte aligned, as PyTorch aligns its tensors, so that a
 * large transposed result can be streamed to memory whole lines at a time.  free() frees it.
 */
static void *buffer(size_t bytes)
{
    size_t n = bytes ? (bytes + 63) / 64 * 64 : 64;
    return n < bytes ? NULL : aligned_alloc(64, n);
}

static const char *model_path;  /* set while the source is a model: errors say file:line:col */

static void print_error(const einc_error *e, const char *src)
{
    char buf[4096];
    einc_error_format(e, src, buf, sizeof buf);
    if (model_path && e->begin >= 0 && (size_t)e->begin <= strlen(src)) {
        int line = 1, col = 1, i = 0;
        if (strncmp(src, "\xEF\xBB\xBF", 3) == 0)
            i = 3;                      /* a byte-order mark is no column */
        for (; i < e->begin; i++, col++)
            if (src[i] == '\n') {
                line++;
                col = 0;
            }
        fprintf(stderr, "einc: %s:%d:%d: %s\n", model_path, line, col, buf);
    } else if (model_path) {
        fprintf(stderr, "einc: %s: %s\n", model_path, buf);
    } else {
        fprintf(stderr, "einc: %s\n", buf);
    }
}

/*
 * A command's result: to FILE for -o FILE, atomically (an error leaves FILE as it was), or
 * to standard output without -o and for -o -.  0, or -1 (printed).
 */
static int put_result(const char *out, int n, const void *const *parts, const size_t *lens)
{
    if (!out || strcmp(out, "-") == 0) {
        for (int i = 0; i < n; i++)
            if (lens[i] && fwrite(parts[i], 1, lens[i], stdout) != lens[i]) {
                fprintf(stderr, "einc: error: cannot write to standard output: %s\n", strerror(errno));
                return -1;
            }
        return 0;
    }
    char err[512];
    if (file_write_atomic(out, parts, lens, n, err, sizeof err) < 0) {
        fprintf(stderr, "einc: error: %s\n", err);
        return -1;
    }
    return 0;
}

static int put_text(const char *out, const char *text, size_t len)
{
    const void *parts[1] = { text };
    return put_result(out, 1, parts, &len);
}

/* The whole of a model file, NUL-terminated; NULL (printed) on failure. */
static char *read_model(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "einc: error: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (ferror(f) || n < cap - 1)
            break;
        char *b = realloc(buf, cap * 2);
        if (!b) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b;
        cap *= 2;
    }
    bool bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "einc: error: cannot read %s\n", path);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    if (strlen(buf) != n) {
        fprintf(stderr, "einc: error: %s: a model is text, but this file holds a NUL byte\n", path);
        free(buf);
        return NULL;
    }
    return buf;
}

static einc_status compile(einc_ctx *ctx, const args *A, const einc_options *o, einc_kernel **k,
                           einc_error *e)
{
    if (A->model)
        return einc_compile_model(ctx, A->expr, o, k, e);
    return einc_compile(ctx, A->expr, o, k, e);
}

/* A model's NAME=FILE.npy words, each to its input's position. */
static int load_model_inputs(const args *A, einc_kernel *k, npy_array *arr, einc_tensor *t)
{
    int n = einc_kernel_ninputs(k);
    const char **file = calloc((size_t)n + 1, sizeof *file);
    int rc = -1;
    if (!file)
        return fprintf(stderr, "einc: error: out of memory\n"), -1;
    for (int i = 0; i < A->nfiles; i++) {
        const char *w = A->files[i], *eq = strchr(w, '=');
        if (!eq) {
            fprintf(stderr, "einc: error: '%s': a model's arrays are bound by name, as NAME=FILE.npy\n", w);
            goto out;
        }
        int j = 0;
        while (j < n && (strlen(einc_kernel_input_name(k, j)) != (size_t)(eq - w) ||
                         strncmp(einc_kernel_input_name(k, j), w, (size_t)(eq - w))))
            j++;
        if (j == n) {
            fprintf(stderr, "einc: error: '%s': %s declares no input or param named '%.*s'\n", w,
                    A->model, (int)(eq - w), w);
            goto out;
        }
        if (file[j]) {
            fprintf(stderr, "einc: error: '%s': %s is bound twice\n", w, einc_kernel_input_name(k, j));
            goto out;
        }
        file[j] = eq + 1;
    }
    for (int j = 0; j < n; j++) {
        char err[512];
        if (!file[j]) {
            fprintf(stderr, "einc: error: %s needs an array for '%s': give %s=FILE.npy\n", A->model,
                    einc_kernel_input_name(k, j), einc_kernel_input_name(k, j));
            goto out;
        }
        if (npy_read(file[j], &arr[j], err, sizeof err) < 0) {
            fprintf(stderr, "einc: error: %s\n", err);
            goto out;
        }
        t[j] = (einc_tensor){ arr[j].dtype, arr[j].ndim, arr[j].shape, NULL, arr[j].data };
    }
    rc = 0;
out:
    free(file);
    return rc;
}

static int load_inputs(const args *A, npy_array *arr, einc_tensor *t)
{
    for (int i = 0; i < A->nfiles; i++) {
        const char *f = A->files[i];
        char err[512];
        if (strchr(f, '=')) {
            fprintf(stderr, "einc: error: '%s': NAME=FILE binds a model's inputs; an expression "
                            "takes its operands as plain file names\n", f);
            return -1;
        }
        if (npy_read(f, &arr[i], err, sizeof err) < 0) {
            fprintf(stderr, "einc: error: %s\n", err);
            return -1;
        }
        t[i] = (einc_tensor){ arr[i].dtype, arr[i].ndim, arr[i].shape, NULL, arr[i].data };
    }
    return 0;
}

/*
 * The kernel's operands from the command line's files: *arr holds *n arrays (the caller
 * frees them with free_operands), *t views them.  0, or -1 (printed).
 */
static int load_operands(const args *A, einc_kernel *k, int *n, npy_array **arr, einc_tensor **t)
{
    *n = A->model ? einc_kernel_ninputs(k) : A->nfiles;
    *arr = calloc((size_t)*n + 1, sizeof **arr);
    *t = calloc((size_t)*n + 1, sizeof **t);
    if (!*arr || !*t) {
        fprintf(stderr, "einc: error: out of memory\n");
        return -1;
    }
    if (A->model ? load_model_inputs(A, k, *arr, *t) < 0 : load_inputs(A, *arr, *t) < 0)
        return -1;
    if (!A->model && A->nfiles != einc_kernel_ninputs(k)) {
        int want = einc_kernel_ninputs(k);
        fprintf(stderr, "einc: error: the expression takes %d operand%s but %d .npy file%s %s given\n  %s\n",
                want, want == 1 ? "" : "s", A->nfiles, A->nfiles == 1 ? "" : "s",
                A->nfiles == 1 ? "was" : "were", A->expr);
        return -1;
    }
    return 0;
}

static void free_operands(int n, npy_array *arr, einc_tensor *t)
{
    for (int i = 0; arr && i < n; i++)
        npy_free(&arr[i]);
    free(arr);
    free(t);
}

static int cmd_run(einc_ctx *ctx, const args *A)
{
    int rc = EXIT_INPUT, nin = 0;
    einc_error e = { 0 };
    einc_kernel *k = NULL;
    npy_array out = { 0 }, *arr = NULL;
    einc_tensor *t = NULL;
    unsigned char *hdr = NULL;
    if (compile(ctx, A, &A->opt, &k, &e)) {
        print_error(&e, A->expr);
        return rc;
    }
    if (load_operands(A, k, &nin, &arr, &t) < 0)
        goto done;
    if (einc_kernel_output(k, nin, t, &out.dtype, &out.ndim, out.shape, &e)) {
        print_error(&e, A->expr);
        goto done;
    }
    size_t n = npy_dtype_size(out.dtype);
    for (int d = 0; d < out.ndim; d++)
        n *= (size_t)out.shape[d];
    out.nbytes = n;
    out.data = buffer(n);
    if (!out.data) {
        fprintf(stderr, "einc: error: out of memory for a result of %zu bytes\n", n);
        goto done;
    }
    einc_tensor ot = { out.dtype, out.ndim, out.shape, NULL, out.data };
    if (einc_kernel_run(k, nin, t, &ot, &e)) {
        print_error(&e, A->expr);
        goto done;
    }
    char err[512];
    if (A->out && strcmp(A->out, "-") == 0) {       /* the .npy file's bytes */
        size_t hlen = 0;
        if (!(hdr = npy_header(&out, "standard output", &hlen, err, sizeof err))) {
            fprintf(stderr, "einc: error: %s\n", err);
            goto done;
        }
        const void *parts[2] = { hdr, out.data };
        size_t lens[2] = { hlen, out.nbytes };
        if (put_result(NULL, 2, parts, lens) < 0)
            goto done;
    } else if (A->out) {
        if (npy_write(A->out, &out, err, sizeof err) < 0) {
            fprintf(stderr, "einc: error: %s\n", err);
            goto done;
        }
    } else {
        npy_print(stdout, &out);
    }
    rc = 0;
done:
    free(hdr);
    free_operands(nin, arr, t);
    npy_free(&out);
    einc_kernel_free(k);
    return rc;
}

static int cmd_explain(einc_ctx *ctx, const args *A)
{
    int rc = EXIT_INPUT, nin = 0;
    einc_error e = { 0 };
    einc_kernel *k = NULL;
    npy_array *arr = NULL;
    einc_tensor *t = NULL;
    char *s = NULL, *text = NULL;
    if (compile(ctx, A, &A->opt, &k, &e)) {
        print_error(&e, A->expr);
        return rc;
    }
    /* without files, sizes stay symbolic */
    if (A->nfiles && load_operands(A, k, &nin, &arr, &t) < 0)
        goto done;
    s = A->dot ? einc_kernel_explain_dot(k, nin, t, &e) : einc_kernel_explain(k, nin, t, &e);
    if (!s) {
        print_error(&e, A->expr);
        goto done;
    }
    const char *what = A->dot ? "" : A->model ? "model: " : "expression: ";
    const char *src = A->dot ? "" : A->model ? A->model : A->expr;
    size_t len = strlen(what) + strlen(src) + strlen(s) + 2;
    if (!(text = malloc(len))) {
        fprintf(stderr, "einc: error: out of memory\n");
        goto done;
    }
    snprintf(text, len, "%s%s%s%s", what, src, A->dot ? "" : "\n", s);
    if (put_text(A->out, text, strlen(text)) == 0)
        rc = 0;
done:
    free(s);
    free(text);
    free_operands(nin, arr, t);
    einc_kernel_free(k);
    return rc;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median seconds of reps runs of k after one warm-up; < 0 on error (printed). */
static double time_runs(einc_kernel *k, const char *expr, int n, const einc_tensor *in,
                        const einc_tensor *out, int reps)
{
    einc_error e;
    double t[16];
    for (int r = -1; r < reps; r++) {
        double t0 = now();
        if (einc_kernel_run(k, n, in, out, &e)) {
            print_error(&e, expr);
            return -1;
        }
        if (r >= 0)
            t[r] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    return t[reps / 2];
}

/*
 * The FLOP count for these inputs: the first "flops: N" line of explain's text (the whole
 * expression's, before any contraction path, as einc_kernel_input_shapes counts it), the
 * one count the public API gives for shapes that arrays bind.  -1 (e set) on error.
 */
static int64_t bound_flops(einc_kernel *k, int n, const einc_tensor *t, einc_error *e)
{
    char *s = einc_kernel_explain(k, n, t, e);
    if (!s)
        return -1;
    const char *f = strstr(s, "\nflops: ");
    long long v = f ? strtoll(f + 8, NULL, 10) : 0;
    free(s);
    return v;
}

/* Random inputs of the shapes every size implies: floats in [-1, 1], integers 0 or 1. */
static int random_operands(const args *A, einc_kernel *k, int *nin, npy_array **arr,
                           einc_tensor **t, int64_t *flops)
{
    int ndim[EINC_MAX_OPERANDS];
    static int64_t shape[EINC_MAX_OPERANDS][EINC_MAX_RANK];
    einc_dtype dt[EINC_MAX_OPERANDS];
    einc_error e = { 0 };
    if (einc_kernel_input_shapes(k, nin, ndim, shape, flops, &e) || einc_kernel_input_dtypes(k, dt, &e)) {
        print_error(&e, A->expr);
        return -1;
    }
    *arr = calloc((size_t)*nin + 1, sizeof **arr);
    *t = calloc((size_t)*nin + 1, sizeof **t);
    if (!*arr || !*t) {
        fprintf(stderr, "einc: error: out of memory\n");
        return -1;
    }
    unsigned seed = 12345;
    for (int i = 0; i < *nin; i++) {
        npy_array *a = &(*arr)[i];
        a->dtype = A->given[OPT_DTYPE] ? A->dtype : dt[i];
        a->ndim = ndim[i];
        size_t n = 1;
        for (int d = 0; d < ndim[i]; d++)
            n *= (size_t)(a->shape[d] = shape[i][d]);
        a->nbytes = n * npy_dtype_size(a->dtype);
        if (!(a->data = buffer(a->nbytes))) {
            fprintf(stderr, "einc: error: out of memory for operand %d (%zu elements)\n", i, n);
            return -1;
        }
        for (size_t j = 0; j < n; j++) {
            seed = seed * 1103515245u + 12345u;
            float f = (float)((seed >> 16) % 2001) / 1000.0f - 1.0f;
            switch (a->dtype) {
            case EINC_F64: ((double *)a->data)[j] = f; break;
            case EINC_I32: ((int32_t *)a->data)[j] = (seed >> 16) & 1; break;
            case EINC_I64: ((int64_t *)a->data)[j] = (seed >> 16) & 1; break;
            case EINC_BOOL: ((uint8_t *)a->data)[j] = (seed >> 16) & 1; break;
            default: ((float *)a->data)[j] = f; break;
            }
        }
        (*t)[i] = (einc_tensor){ a->dtype, a->ndim, a->shape, NULL, a->data };
    }
    return 0;
}

/* "float32[2, 3]" */
static void put_shape(FILE *f, const npy_array *a)
{
    fprintf(f, "%s[", einc_dtype_name(a->dtype));
    for (int d = 0; d < a->ndim; d++)
        fprintf(f, "%s%lld", d ? ", " : "", (long long)a->shape[d]);
    fprintf(f, "]");
}

/* einc bench: the .npy files given, else random inputs of the given sizes; the JIT (or --target) timed. */
static int cmd_bench(einc_ctx *ctx, const args *A)
{
    einc_kernel *k = NULL, *ki = NULL;
    einc_error e = { 0 };
    int rc = EXIT_INPUT, nin = 0;
    int64_t flops = 0, oshape[EINC_MAX_RANK];
    npy_array *arr = NULL;
    einc_tensor *in = NULL;
    void *out = NULL;
    char *report = NULL;
    size_t report_len = 0;
    FILE *rep = NULL;
    einc_options io = A->opt;
    io.target = EINC_TARGET_INTERP;
    if (compile(ctx, A, &A->opt, &k, &e) || compile(ctx, A, &io, &ki, &e)) {
        print_error(&e, A->expr);
        goto done;
    }
    if (A->nfiles ? load_operands(A, k, &nin, &arr, &in) < 0
                  : random_operands(A, k, &nin, &arr, &in, &flops) < 0)
        goto done;
    if (A->nfiles && (flops = bound_flops(k, nin, in, &e)) < 0) {
        print_error(&e, A->expr);
        goto done;
    }
    double bytes = 0, elems = 1;
    for (int i = 0; i < nin; i++)
        bytes += (double)arr[i].nbytes;
    einc_dtype odt;
    int ond;
    if (einc_kernel_output(k, nin, in, &odt, &ond, oshape, &e)) {
        print_error(&e, A->expr);
        goto done;
    }
    for (int d = 0; d < ond; d++)
        elems *= (double)oshape[d];
    out = buffer((size_t)(elems > 0 ? elems : 1) * 8);
    if (!out) {
        fprintf(stderr, "einc: error: out of memory for the result\n");
        goto done;
    }
    bytes += elems * (double)npy_dtype_size(odt);
    einc_tensor ot = { odt, ond, oshape, NULL, out };
    double t0 = now();
    if (einc_kernel_run(k, nin, in, &ot, &e)) {     /* the first run compiles */
        print_error(&e, A->expr);
        goto done;
    }
    double first = now() - t0;
    double t = time_runs(k, A->expr, nin, in, &ot, 7);
    if (t < 0 || !(rep = open_memstream(&report, &report_len)))
        goto done;
    fprintf(rep, "%s: median of 7 runs %.3f ms (first run, with compilation, %.1f ms)\n",
            A->model ? A->model : A->expr, t * 1e3, first * 1e3);
    fprintf(rep, "  %s", A->nfiles ? "inputs" : "random inputs");
    for (int i = 0; i < nin; i++) {
        const char *name = A->model ? einc_kernel_input_name(k, i) : NULL;
        fprintf(rep, "%s%s%s", i ? ", " : " ", name ? name : A->nfiles ? A->files[i] : "",
                name || A->nfiles ? " " : "");
        put_shape(rep, &arr[i]);
    }
    fprintf(rep, "; %lld FLOPs\n", (long long)flops);
    fprintf(rep, "  %.2f GFLOP/s, %.2f GB/s (inputs read and output written once)\n",
            (double)flops / t / 1e9, bytes / t / 1e9);
    /* the interpreter, when it finishes in a few seconds (about 10 M evaluations) */
    if (flops > 0 && flops < 20000000) {
        double ti = time_runs(ki, A->expr, nin, in, &ot, 1);
        if (ti > 0)
            fprintf(rep, "  reference interpreter %.1f ms: %.0fx faster\n", ti * 1e3, ti / t);
    } else {
        fprintf(rep, "  (the reference interpreter is skipped at this size)\n");
    }
    if (fclose(rep) != 0) {
        rep = NULL;
        fprintf(stderr, "einc: error: out of memory\n");
        goto done;
    }
    rep = NULL;
    if (put_text(A->out, report, report_len) == 0)
        rc = 0;
done:
    if (rep)
        fclose(rep);
    free(report);
    free_operands(nin, arr, in);
    free(out);
    einc_kernel_free(k);
    einc_kernel_free(ki);
    return rc;
}

static int cmd_emit(einc_ctx *ctx, const args *A)
{
    if (A->emit == EINC_EMIT_OBJ && !A->out) {
        fprintf(stderr, "einc: error: --emit=obj writes an object file: give it a name with -o "
                        "(-o - for standard output)\n");
        return EXIT_USAGE;
    }
    if (A->nfiles) {
        fprintf(stderr, "einc: error: '%s': emitting a kernel takes sizes (AXIS=N), not files; "
                        "did you mean 'einc run'?\n", A->files[0]);
        return EXIT_USAGE;
    }
    einc_kernel *k = NULL;
    einc_error e = { 0 };
    int rc = EXIT_INPUT;
    char *text = NULL;
    size_t len = 0;
    einc_emit_options eo = { .name = A->name, .dtype = A->dtype, .nparams = A->nparams,
                             .params = A->params, .cpu = A->cpu };
    if (compile(ctx, A, &A->opt, &k, &e) || !(text = einc_kernel_emit_opts(k, A->emit, &eo, &len, &e))) {
        print_error(&e, A->expr);
        goto done;
    }
    if (put_text(A->out, text, len) == 0)
        rc = 0;
done:
    free(text);
    einc_kernel_free(k);
    return rc;
}

/* "41.2 KiB (42163 bytes)", or "512 bytes" */
static void put_bytes(char *buf, size_t n, int64_t bytes)
{
    static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
    double v = (double)bytes / 1024;
    int u = 0;
    for (; v >= 1024 && u < 3; u++)
        v /= 1024;
    if (bytes < 1024)
        snprintf(buf, n, "%lld bytes", (long long)bytes);
    else
        snprintf(buf, n, "%.1f %s (%lld bytes)", v, unit[u], (long long)bytes);
}

/* einc cache [clear]: the on-disk kernel cache's directory, state, entries and size. */
static int cmd_cache(const args *A)
{
    kcache *kc = kcache_new(NULL);
    if (!kc) {
        fprintf(stderr, "einc: error: out of memory\n");
        return EXIT_INPUT;
    }
    const char *dir = kcache_dir(kc), *off = kcache_off_reason(kc);
    int64_t n = 0, bytes = 0;
    char size[64], limit[64];
    int rc = EXIT_INPUT;
    if (!dir) {
        fprintf(stderr, "einc: error: %s\n", off);
    } else if (A->clear) {
        if (kcache_clear(kc, &n, &bytes) < 0 && errno != ENOENT) {  /* none yet: nothing to do */
            fprintf(stderr, "einc: error: cannot clear %s: %s\n", dir, strerror(errno));
        } else {
            put_bytes(size, sizeof size, bytes);
            printf("removed %lld entr%s, %s, from %s\n", (long long)n, n == 1 ? "y" : "ies",
                   size, dir);
            rc = 0;
        }
    } else if (kcache_stat(kc, &n, &bytes) < 0 && errno != ENOENT) {
        fprintf(stderr, "einc: error: cannot read %s: %s\n", dir, strerror(errno));
    } else {
        put_bytes(size, sizeof size, bytes);
        put_bytes(limit, sizeof limit, kcache_max(kc));
        printf("directory  %s\nstate      %s%s%s\nentries    %lld\nsize       %s\n"
               "limit      %s\n", dir, off ? "off (" : "on", off ? off : "", off ? ")" : "",
               (long long)n, size, limit);
        rc = 0;
    }
    kcache_free(kc);
    return rc;
}

int main(int argc, char **argv)
{
    args A = { 0 };
    char *model_src = NULL;
    int rc = parse_args(argc, argv, &A);
    if (rc != 0) {
        rc = rc < 0 ? 0 : rc;
        goto done;
    }
    if (A.cmd == CMD_CACHE) {
        rc = cmd_cache(&A);
        goto done;
    }
    if (A.model) {
        if (!(model_src = read_model(A.model))) {
            rc = EXIT_INPUT;
            goto done;
        }
        model_path = A.model;
        A.expr = model_src;
    }
    einc_ctx *ctx = einc_ctx_new();
    if (!ctx) {
        fprintf(stderr, "einc: error: out of memory\n");
        rc = EXIT_INPUT;
        goto done;
    }
    switch (A.cmd) {
    case CMD_RUN: rc = cmd_run(ctx, &A); break;
    case CMD_EXPLAIN: rc = cmd_explain(ctx, &A); break;
    case CMD_BENCH: rc = cmd_bench(ctx, &A); break;
    default: rc = cmd_emit(ctx, &A); break;
    }
    einc_ctx_free(ctx);
done:
    /* a full disk or a closed pipe shows only when standard output is flushed */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (rc == 0)
            fprintf(stderr, "einc: error: cannot write to standard output: %s\n", strerror(errno));
        rc = rc ? rc : EXIT_INPUT;
    }
    free(model_src);
    for (int i = 0; i < A.nsizes; i++)
        free((void *)A.sizes[i].name);
    free(A.sizes);
    free(A.files);
    free(A.params_text);
    free(A.params);
    return rc;
}
