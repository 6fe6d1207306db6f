/*
 * args.c — einc's command line into an args (cli.h): the usage text, the options, which
 * command and which source each applies to, and the AXIS=N words.
 *
 * Options may stand anywhere and take their value as GNU getopt_long reads it: --opt=VALUE
 * or --opt VALUE, -o FILE or -oFILE; "--" ends them.  An option that does not apply to the
 * command is refused, never ignored.  A usage error is exit status 2.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    "bound by name, its sizes come from them or from SIZE=N words (emitted code takes the\n"
    "sizes not given as parameters).\n"
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
    "\n";
/* in two parts: C99 compilers need only support string literals of 4095 bytes */
static const char usage_options[] =
    "Options (--opt=VALUE or --opt VALUE; -o FILE or -oFILE).  An option that does not\n"
    "apply to the command is an error.\n"
    "  --emit=KIND        (emitting) c (default), header, cuda, ptx, llvm, asm or obj\n"
    "  --name=NAME        (emitting) the kernel's function name (default einc_kernel)\n"
    "  --params=a,b,...   (emitting) the order of the size parameters: each once (default:\n"
    "                     order of first appearance; '...' dimensions are ellipsis0, ...)\n"
    "  --cpu=NAME         (--emit=obj|asm|llvm) the x86-64 CPU the code is for, as LLVM\n"
    "                     names it: x86-64, x86-64-v3, skylake-avx512, ... (default: this\n"
    "                     machine's); --march=NAME is the same\n"
    "  --dtype=T          (emitting, bench) every array's dtype, for an expression: f16 bf16\n"
    "                     f32 f64 c64 c128 i8 i16 i32 i64 u8 u16 u32 u64 bool (default\n"
    "                     f32; run takes the inputs' dtypes, a model declares its own)\n"
    "  --reduce=OP        sum (default), mean, max, min or prod, for axes absent from the\n"
    "                     output of a one-operand expression\n"
    "  --dialect=D        auto (default: the rule above), numpy or einops, for an expression\n"
    "  --target=T         (run, bench) auto (default: CUDA when a GPU and its driver are\n"
    "                     there, else the CPU JIT), cpu, cuda, interp (the reference\n"
    "                     interpreter)\n"
    "  --max-memory=BYTES (run, explain, bench) bytes any one intermediate of an expression's\n"
    "                     contraction path may take (64K, 512M, 2G)\n"
    "  --allow-tf32       (run, bench, --emit=cuda|ptx) float32 contractions on CUDA may use\n"
    "                     TF32 tensor cores (inputs rounded to 10 mantissa bits, float32\n"
    "                     sums), as PyTorch's allow_tf32; also EINC_ALLOW_TF32=1 (default off)\n"
    "  --dot              (explain) the fused loop nests as a Graphviz graph\n"
    "  --timings          (run, explain) where the run's time went: parse, bind, path,\n"
    "                     lowering, LLVM IR, passes, machine code, link, run (CPU ms)\n"
    "  -o, --output=FILE  write to FILE what would be printed (run: a .npy file, or an .npz\n"
    "                     with each result under its name for FILE.npz), atomically:\n"
    "                     an error leaves FILE as it was; '-o -' is standard output\n"
    "  -h, --help         this text\n"
    "  --version          einc's version\n"
    "  --                 end of options (for an expression starting with '-')\n";

static const char *const command_names[CMD_COUNT] = {
    [CMD_RUN] = "run", [CMD_EXPLAIN] = "explain", [CMD_BENCH] = "bench", [CMD_CACHE] = "cache",
    [CMD_HELP] = "help",
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
    [OPT_DTYPE] = { "--dtype", NULL, "T" },
    [OPT_REDUCE] = { "--reduce", NULL, "OP" },
    [OPT_DIALECT] = { "--dialect", NULL, "auto|numpy|einops" },
    [OPT_TARGET] = { "--target", NULL, "auto|cpu|cuda|interp" },
    [OPT_MAX_MEMORY] = { "--max-memory", NULL, "BYTES" },
    [OPT_ALLOW_TF32] = { "--allow-tf32", NULL, NULL },
    [OPT_DOT] = { "--dot", NULL, NULL },
    [OPT_TIMINGS] = { "--timings", NULL, NULL },
    [OPT_OUTPUT] = { "--output", "-o", "FILE" },
    [OPT_HELP] = { "--help", "-h", NULL },
    [OPT_VERSION] = { "--version", NULL, NULL },
};

/* einc_emit_kind's order */
static const char *const emit_kinds[] = { "c", "header", "cuda", "llvm", "asm", "ptx", "obj" };
/* einc_target's and einc_dialect's */
static const char *const targets[] = { "auto", "cpu", "cuda", "interp" };
static const char *const dialects[] = { "auto", "numpy", "einops" };
/* --dtype's names, as in .einl declarations, in einc_dtype's order */
static const char *const dtype_names[EINC_DTYPE_COUNT] = {
    "f32", "f64", "i32", "i64", "bool", "i8", "i16", "u8", "u16", "u32", "u64",
    "f16", "bf16", "c64", "c128",
};

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
        for (k = 0; k < EINC_DTYPE_COUNT && strcmp(dtype_names[k], v); k++)
            ;
        if (k == EINC_DTYPE_COUNT)
            return usage_error("--dtype takes f16, bf16, f32, f64, c64, c128, i8, i16, i32, i64, "
                               "u8, u16, u32, u64 or bool, not '%s'", v);
        A->dtype = (einc_dtype)k;
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
    case OPT_ALLOW_TF32:
        if (emit)
            return A->emit == EINC_EMIT_CUDA || A->emit == EINC_EMIT_PTX
                       ? NULL : "it lets CUDA kernels use TF32 tensor cores: --emit=cuda or ptx";
        return A->cmd == CMD_EXPLAIN ? "explain runs nothing (its schedule is the CPU JIT's)" : NULL;
    case OPT_DOT:
        return A->cmd == CMD_EXPLAIN ? NULL : "it draws explain's loop nests (einc explain --dot)";
    case OPT_TIMINGS:
        return A->cmd == CMD_RUN || A->cmd == CMD_EXPLAIN
                   ? NULL : "it times a run (einc run --timings, einc explain --timings)";
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

/* See cli.h. */
int cli_parse_args(int argc, char **argv, args *A)
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
            fputs(usage, stdout), fputs(usage_options, stdout);
            rc = -1;
        } else if (id == OPT_VERSION) {
            printf("einc %s\n", einc_version());
            rc = -1;
        } else if (id == OPT_ALLOW_TF32) {
            A->opt.allow_tf32 = 1;
        } else if (id == OPT_DOT) {
            A->dot = true;
        } else if (id == OPT_TIMINGS) {
            A->timings = true;
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
        fputs(usage, stdout), fputs(usage_options, stdout);
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
