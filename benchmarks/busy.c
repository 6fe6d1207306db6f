/*
 * busy.c — the thread pool next to a busy neighbour (issue #22, item 5).
 *
 *     einc-busy [--rounds N] [--reps R] [--threads D] [--only WORD]
 *
 * Runs small models through the public API in two contexts, one thread and D threads
 * (default: EINC_NUM_THREADS, else every online core), on an idle machine and with a
 * neighbour process in a busy loop (forked here, so nothing else is needed), interleaved
 * round by round in one process so that the four figures share the machine's weather.
 * Each round times R runs per configuration after a short warm-up.  The table gives the
 * median over rounds of each round's median, the lowest and highest round, and the
 * median over rounds of each round's mean, which the rare slow runs (a worker preempted
 * for a time slice) move and the median hides.  --only runs the workloads whose name
 * contains WORD.  The outputs of the two contexts are compared bit for bit.  Speed is
 * only ever measured here, never asserted by a test.
 */
#define _GNU_SOURCE
#include "einc.h"
#include "timer.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MAXROUNDS = 64, NCONF = 4 };

static void pause_ms(int ms)
{
    struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000 };
    nanosleep(&t, NULL);
}

static double loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* A neighbour process in a busy loop, as `python3 -c 'while True: pass' &` is. */
static pid_t spinner_start(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        volatile unsigned long x = 0;
        for (;;)
            x++;
    }
    if (pid < 0) {
        perror("einc-busy: fork");
        exit(1);
    }
    pause_ms(20);   /* let the scheduler place it */
    return pid;
}

static void spinner_stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

typedef struct workload {
    const char *name, *src;     /* src: a model, or an expression when expr is set */
    int expr, nin;
    int ndim[6];
    int64_t shape[6][4];
} workload;

static const workload loads[] = {
    { "attention B=2 H=8 T=128 D=64",
      "input q: f32[B, H, T, D]\ninput k: f32[B, H, T, D]\ninput v: f32[B, H, T, D]\n"
      "def attention(q, k, v) {\n"
      "    scores = einsum('b h i d, b h j d -> b h i j', q, k) / 8\n"
      "    p = softmax(scores, dim=-1)\n"
      "    return einsum('b h i j, b h j d -> b h i d', p, v)\n"
      "}\nreturn attention(q, k, v)\n",
      0, 3, { 4, 4, 4 }, { { 2, 8, 128, 64 }, { 2, 8, 128, 64 }, { 2, 8, 128, 64 } } },
    { "mlp B=64 D=784 H=512 K=10",
      "input x: f32[B, D]\nparam w1: f32[H, D]\nparam b1: f32[H]\nparam w2: f32[K, H]\n"
      "param b2: f32[K]\nh = relu(linear(x, w1, b1))\n"
      "return softmax(linear(h, w2, b2), dim=-1)\n",
      0, 5, { 2, 2, 1, 2, 1 }, { { 64, 784 }, { 512, 784 }, { 512 }, { 10, 512 }, { 10 } } },
    /* larger regions, cut into more chunks than threads */
    { "matmul 'ik,kj->ij' 512^3", "ik,kj->ij", 1, 2, { 2, 2 }, { { 512, 512 }, { 512, 512 } } },
    { "softmax (2048, 1024), dim=-1", "input x: f32[R, C]\nreturn softmax(x, dim=-1)\n", 0, 1, { 2 },
      { { 2048, 1024 } } },
};

typedef struct run {
    einc_kernel *k;
    int nin;
    einc_tensor in[6];
    einc_tensor out;
    int64_t oshape[EINC_MAX_RANK];
    size_t onelem;
} run;

static void fail(const char *what, const einc_error *e)
{
    fprintf(stderr, "einc-busy: %s: %s\n", what, e->message);
    exit(1);
}

static void setup(run *r, einc_ctx *ctx, const workload *w, float *const *data)
{
    einc_error e;
    einc_options o = { .target = EINC_TARGET_CPU };
    if (w->expr ? einc_compile(ctx, w->src, &o, &r->k, &e) : einc_compile_model(ctx, w->src, &o, &r->k, &e))
        fail("compile", &e);
    r->nin = w->nin;
    for (int i = 0; i < w->nin; i++)
        r->in[i] = (einc_tensor){ EINC_F32, w->ndim[i], w->shape[i], NULL, data[i] };
    einc_dtype dt;
    int nd;
    if (einc_kernel_output(r->k, r->nin, r->in, &dt, &nd, r->oshape, &e))
        fail("output", &e);
    r->onelem = 1;
    for (int d = 0; d < nd; d++)
        r->onelem *= (size_t)r->oshape[d];
    float *out = calloc(r->onelem ? r->onelem : 1, sizeof *out);
    if (!out) {
        fprintf(stderr, "einc-busy: out of memory\n");
        exit(1);
    }
    r->out = (einc_tensor){ dt, nd, r->oshape, NULL, out };
}

static void run_once(void *arg)
{
    run *r = arg;
    einc_error e;
    if (einc_kernel_run(r->k, r->nin, r->in, &r->out, &e))
        fail("run", &e);
}

/* Median seconds per run of reps runs, after a warm-up that wakes the context's workers;
   *mean gets their mean, which the rare slow runs move and the median hides. */
static double time_runs(run *r, int reps, double *mean)
{
    double t[4096];
    if (reps > 4096)
        reps = 4096;
    *mean = time_calls(run_once, r, 5, reps, 1, t, NULL) / reps;
    return median(t, reps);
}

static einc_ctx *context(int threads)
{
    char v[16];
    snprintf(v, sizeof v, "%d", threads);
    setenv("EINC_NUM_THREADS", v, 1);
    einc_ctx *c = einc_ctx_new();
    if (!c) {
        fprintf(stderr, "einc-busy: out of memory\n");
        exit(1);
    }
    return c;
}

int main(int argc, char **argv)
{
    int rounds = 9, reps = 60, dthreads = 0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            dthreads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: einc-busy [--rounds N] [--reps R] [--threads D] [--only WORD]\n");
            return 2;
        }
    }
    if (rounds < 1 || rounds > MAXROUNDS || reps < 1) {
        fprintf(stderr, "einc-busy: --rounds is 1 to %d, --reps at least 1\n", MAXROUNDS);
        return 2;
    }
    const char *env = getenv("EINC_NUM_THREADS");
    if (dthreads < 1 && env && *env)
        dthreads = atoi(env);
    if (dthreads < 1)
        dthreads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    einc_ctx *one = context(1), *dflt = context(dthreads);
    printf("einc-busy: %ld online cores, %d threads against 1, %d rounds of %d runs, load %.2f\n",
           sysconf(_SC_NPROCESSORS_ONLN), einc_ctx_threads(dflt), rounds, reps, loadavg());
    static const char *const conf[NCONF] = { "idle, 1 thread", "idle, default", "busy, 1 thread", "busy, default" };
    for (size_t w = 0; w < sizeof loads / sizeof *loads; w++) {
        const workload *wl = &loads[w];
        if (only && !strstr(wl->name, only))
            continue;
        float *data[6];
        for (int i = 0; i < wl->nin; i++) {
            size_t n = 1;
            for (int d = 0; d < wl->ndim[i]; d++)
                n *= (size_t)wl->shape[i][d];
            data[i] = malloc(n * sizeof(float));
            if (!data[i]) {
                fprintf(stderr, "einc-busy: out of memory\n");
                return 1;
            }
            for (size_t j = 0; j < n; j++)
                data[i][j] = (float)((j * 2654435761u + (size_t)i * 97) % 1000) / 1000.0f - 0.5f;
        }
        run r1, rd;
        setup(&r1, one, wl, data);
        setup(&rd, dflt, wl, data);
        double t[NCONF][MAXROUNDS], mean[NCONF][MAXROUNDS];
        for (int k = 0; k < rounds; k++) {
            /* the order alternates, so that neither context always follows the other */
            run *first = k % 2 ? &rd : &r1, *second = k % 2 ? &r1 : &rd;
            int fi = k % 2, si = 1 - fi;
            t[fi][k] = time_runs(first, reps, &mean[fi][k]);
            t[si][k] = time_runs(second, reps, &mean[si][k]);
            pid_t nb = spinner_start();
            t[2 + fi][k] = time_runs(first, reps, &mean[2 + fi][k]);
            t[2 + si][k] = time_runs(second, reps, &mean[2 + si][k]);
            spinner_stop(nb);
            /* after a busy spell the pool runs loops alone for up to 128 ms (runtime/pool.c):
               the idle figures are those of a machine that has been idle a while */
            pause_ms(300);
        }
        int same = memcmp(r1.out.data, rd.out.data, r1.onelem * sizeof(float)) == 0;
        printf("\n%s (outputs of 1 and %d threads %s)\n", wl->name, einc_ctx_threads(dflt),
               same ? "identical" : "DIFFER");
        printf("| %-16s | median ms | lowest round | highest round | / 1 thread | mean ms |\n", "configuration");
        printf("|------------------|-----------|--------------|---------------|------------|---------|\n");
        double med[NCONF];
        for (int c = 0; c < NCONF; c++) {
            double lo = t[c][0], hi = t[c][0];
            for (int k = 1; k < rounds; k++) {
                lo = t[c][k] < lo ? t[c][k] : lo;
                hi = t[c][k] > hi ? t[c][k] : hi;
            }
            med[c] = median(t[c], rounds);
            printf("| %-16s | %9.3f | %12.3f | %13.3f | %10.2f | %7.3f |\n", conf[c], med[c] * 1e3, lo * 1e3,
                   hi * 1e3, med[c] / med[c & 2], median(mean[c], rounds) * 1e3);
        }
        einc_kernel_free(r1.k);
        einc_kernel_free(rd.k);
        free(r1.out.data);
        free(rd.out.data);
        for (int i = 0; i < wl->nin; i++)
            free(data[i]);
    }
    printf("\nload at the end %.2f\n", loadavg());
    einc_ctx_free(one);
    einc_ctx_free(dflt);
    return 0;
}
