/*
 * hit.c — einc's own overhead on a kernel it has already compiled (issue #22, item 4).
 *
 *     einc-hit [--calls N] [--target cpu|auto]
 *
 * 'ij,jk->ik' on 2x2 float32 arrays: the kernel's work is eight multiply-adds, so what is
 * timed is einc's: parsing the text again (einc_compile), binding the shapes, the
 * contraction path, the key and its lookup in the context's cache, and the call.  Rows:
 * a kernel compiled once and run N times (einc_kernel_run), and the whole round trip a
 * binding without its own kernel cache makes (einc_compile, einc_kernel_output,
 * einc_kernel_run, einc_kernel_free) N times.  Calls are timed in batches of 1000 (the
 * clock's own cost drops out); the table gives the median batch's time per call in wall
 * clock and the thread's CPU time, and the fastest batch.  One thread: the pool never
 * starts for work this small.  Speed is only ever measured here, never asserted by a test.
 */
#define _POSIX_C_SOURCE 200809L
#include "einc.h"
#include "timer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { BATCH = 1000, MAXBATCH = 4096 };

static einc_ctx *ctx;
static einc_options opts;
static einc_kernel *kept;
static int64_t shape[2] = { 2, 2 };
static float a[4] = { 1, 2, 3, 4 }, b[4] = { 5, 6, 7, 8 }, c[4];
static einc_tensor in[2], out;

static void fail(const char *what, const einc_error *e)
{
    fprintf(stderr, "einc-hit: %s: %s\n", what, e->message);
    exit(1);
}

static void run_kept(void *arg)
{
    (void)arg;
    einc_error e;
    if (einc_kernel_run(kept, 2, in, &out, &e))
        fail("run", &e);
}

static void round_trip(void *arg)
{
    (void)arg;
    einc_error e;
    einc_kernel *k;
    einc_dtype dt;
    int nd;
    int64_t osh[EINC_MAX_RANK];
    if (einc_compile(ctx, "ij,jk->ik", &opts, &k, &e))
        fail("compile", &e);
    if (einc_kernel_output(k, 2, in, &dt, &nd, osh, &e))
        fail("output", &e);
    if (einc_kernel_run(k, 2, in, &out, &e))
        fail("run", &e);
    einc_kernel_free(k);
}

static void row(const char *name, void (*f)(void *), int calls)
{
    static double wall[MAXBATCH], cpu[MAXBATCH];
    int nb = calls / BATCH < 1 ? 1 : calls / BATCH > MAXBATCH ? MAXBATCH : calls / BATCH;
    time_calls(f, NULL, BATCH, nb, BATCH, wall, cpu);
    double mw = median(wall, nb), best = wall[0], mc = median(cpu, nb);
    printf("| %-44s | %9.3f | %10.3f | %7.3f |\n", name, mw * 1e6, best * 1e6, mc * 1e6);
}

int main(int argc, char **argv)
{
    int calls = 200000;
    opts.target = EINC_TARGET_CPU;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--calls") && i + 1 < argc)
            calls = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--target") && i + 1 < argc && !strcmp(argv[i + 1], "auto"))
            opts.target = EINC_TARGET_AUTO, i++;
        else if (!strcmp(argv[i], "--target") && i + 1 < argc && !strcmp(argv[i + 1], "cpu"))
            i++;
        else {
            fprintf(stderr, "usage: einc-hit [--calls N] [--target cpu|auto]\n");
            return 2;
        }
    }
    setenv("EINC_NUM_THREADS", "1", 1);
    setenv("EINC_CACHE", "0", 1);
    if (!(ctx = einc_ctx_new())) {
        fprintf(stderr, "einc-hit: out of memory\n");
        return 1;
    }
    in[0] = (einc_tensor){ EINC_F32, 2, shape, NULL, a };
    in[1] = (einc_tensor){ EINC_F32, 2, shape, NULL, b };
    out = (einc_tensor){ EINC_F32, 2, shape, NULL, c };
    einc_error e;
    if (einc_compile(ctx, "ij,jk->ik", &opts, &kept, &e))
        fail("compile", &e);
    /* auto interprets a small kernel until the interpreter has cost a compile: have it
       compiled, so that both rows time the cached kernel */
    einc_options cpu = opts;
    cpu.target = EINC_TARGET_CPU;
    einc_kernel *warm;
    if (einc_compile(ctx, "ij,jk->ik", &cpu, &warm, &e) || einc_kernel_run(warm, 2, in, &out, &e))
        fail("compile", &e);
    einc_kernel_free(warm);
    run_kept(NULL);
    if (c[0] != 19 || c[1] != 22 || c[2] != 43 || c[3] != 50) {
        fprintf(stderr, "einc-hit: wrong result\n");
        return 1;
    }
    printf("einc-hit: 'ij,jk->ik' on 2x2 float32, target %s, %d calls per row in batches of %d\n\n",
           opts.target == EINC_TARGET_AUTO ? "auto" : "cpu", calls, BATCH);
    printf("| %-44s | median us | fastest us | CPU us |\n", "call");
    printf("|----------------------------------------------|-----------|------------|--------|\n");
    row("einc_kernel_run (compiled once)", run_kept, calls);
    row("einc_compile + _output + _run + _free", round_trip, calls);
    if (einc_ctx_jit_compiles(ctx) != 1)
        fprintf(stderr, "einc-hit: %ld compiles, expected 1\n", einc_ctx_jit_compiles(ctx));
    einc_kernel_free(kept);
    einc_ctx_free(ctx);
    return 0;
}
