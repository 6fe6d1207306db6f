/*
 * embed.c — einc inside a C program: compile attention scores once, run them, print a
 * checksum.  Build against an installed einc with
 *
 *     cc embed.c $(pkg-config --cflags --libs einc) -Wl,-rpath,$(pkg-config --variable=libdir einc) -o embed
 *
 * (the rpath lets the program find libeinc.so where the loader does not look by itself).
 */
#include <einc.h>

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    enum { B = 2, H = 4, I = 64, J = 64, D = 32 };
    const char *expr = "bhid,bhjd->bhij";     /* q k^T for every batch and head */

    einc_ctx *ctx = einc_ctx_new();
    if (!ctx) {                     /* nothing to format: err is only set by calls that take it */
        fprintf(stderr, "embed: out of memory\n");
        return 1;
    }
    einc_kernel *k = NULL;
    einc_error err;
    if (einc_compile(ctx, expr, NULL, &k, &err) != EINC_OK) {
        char msg[1024];
        einc_error_format(&err, expr, msg, sizeof msg);
        fprintf(stderr, "embed: %s\n", msg);
        einc_ctx_free(ctx);
        return 1;
    }

    float *q = malloc(sizeof(float) * B * H * I * D), *kk = malloc(sizeof(float) * B * H * J * D);
    float *s = malloc(sizeof(float) * B * H * I * J);
    int rc = 1;
    if (!q || !kk || !s) {
        fprintf(stderr, "embed: out of memory\n");
        goto done;
    }
    for (int i = 0; i < B * H * I * D; i++)
        q[i] = (float)(i % 7) - 3;
    for (int i = 0; i < B * H * J * D; i++)
        kk[i] = (float)(i % 5) - 2;

    int64_t qs[4] = { B, H, I, D }, ks[4] = { B, H, J, D }, ss[4] = { B, H, I, J };
    einc_tensor in[2] = { { EINC_F32, 4, qs, NULL, q }, { EINC_F32, 4, ks, NULL, kk } };
    einc_tensor out = { EINC_F32, 4, ss, NULL, s };
    if (einc_kernel_run(k, 2, in, &out, &err) != EINC_OK) {
        fprintf(stderr, "embed: %s\n", err.message);
        goto done;
    }

    double sum = 0;
    for (int i = 0; i < B * H * I * J; i++)
        sum += s[i] * (double)(i % 3);
    printf("%s on (%d,%d,%d,%d): checksum %.1f\n", expr, B, H, I, D, sum);
    rc = 0;
done:
    free(q);
    free(kk);
    free(s);
    einc_kernel_free(k);
    einc_ctx_free(ctx);
    return rc;
}
