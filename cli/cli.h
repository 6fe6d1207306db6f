/*
 * cli.h — what the einc command's files share: the parsed command line (args.c) and the
 * helpers of its commands (main.c), which bench_cmd.c uses too.  Only the CLI prints or
 * chooses an exit code; every function here prints its own errors.
 */
#ifndef EINC_CLI_H
#define EINC_CLI_H

#include "einc.h"
#include "npy.h"

#include <stdbool.h>
#include <stddef.h>

enum { EXIT_INPUT = 1, EXIT_USAGE = 2, EXIT_INTERNAL = 3 };

enum command { CMD_EMIT, CMD_RUN, CMD_EXPLAIN, CMD_BENCH, CMD_CACHE, CMD_HELP, CMD_COUNT };

enum option {
    OPT_EMIT, OPT_NAME, OPT_PARAMS, OPT_CPU, OPT_MARCH, OPT_DTYPE, OPT_REDUCE, OPT_DIALECT,
    OPT_TARGET, OPT_MAX_MEMORY, OPT_ALLOW_TF32, OPT_DOT, OPT_TIMINGS, OPT_OUTPUT, OPT_HELP, OPT_VERSION, OPT_COUNT
};

typedef struct args {
    enum command cmd;
    const char *expr;           /* the expression, or a model's source text */
    const char *model;          /* the .einl file's path, or NULL */
    const char *given[OPT_COUNT]; /* each option given, as spelled ("-o", "--output"); else NULL */
    bool dot;                   /* explain --dot */
    bool timings;               /* run, explain --timings */
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

/*
 * argv → A.  Returns 0, a usage error's exit status (printed), or -1 after --help or
 * --version (printed: exit 0).
 */
int cli_parse_args(int argc, char **argv, args *A);

/* A compile error, with a caret under the culprit; a model's as file:line:col. */
void cli_print_error(const einc_error *e, const char *src);

/* A command's text to -o FILE (atomically) or to standard output.  0, or -1 (printed). */
int cli_put_text(const char *out, const char *text, size_t len);

/* bytes, 64-byte aligned, for a result or a benchmark's operand; free() frees it. */
void *cli_buffer(size_t bytes);

/* A's expression or model, compiled with options o. */
einc_status cli_compile(einc_ctx *ctx, const args *A, const einc_options *o, einc_kernel **k,
                        einc_error *e);

/*
 * The kernel's operands from the command line's files: *arr holds *n arrays (the caller
 * frees them with cli_free_operands), *t views them.  0, or -1 (printed).
 */
int cli_load_operands(const args *A, einc_kernel *k, int *n, npy_array **arr, einc_tensor **t);
void cli_free_operands(int n, npy_array *arr, einc_tensor *t);

/* einc bench (bench_cmd.c); an exit status. */
int cli_bench(einc_ctx *ctx, const args *A);

#endif
