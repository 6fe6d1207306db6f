/*
 * fuzz_npy.c — libFuzzer harness for the .npy reader and the array printer.
 */
#define _POSIX_C_SOURCE 200809L
#include "npy.h"
#include "print.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink)
        sink = fopen("/dev/null", "w");
    npy_array a = { 0 };
    char err[256];
    if (npy_read_mem(data, size, "fuzz.npy", &a, err, sizeof err) == 0) {
        if (a.nbytes < (1u << 20) && sink)
            npy_print(sink, &a);
        npy_free(&a);
    }
    return 0;
}
