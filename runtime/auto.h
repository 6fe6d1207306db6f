/*
 * auto.h — a run's cache key and --target=auto's choice between the interpreter and the
 * CPU JIT (auto.c), for einc.c's runs and its explain.
 */
#ifndef EINC_AUTO_H
#define EINC_AUTO_H

#include "kernel.h"
#include "pipeline.h"
#include "strbuf.h"

typedef enum auto_why { AUTO_BIG, AUTO_CACHED, AUTO_SMALL } auto_why;

/*
 * A run's key: cache_key, and for code compiled for its sizes, those: every axis size of
 * gpu's program (CUDA), or every input shape (a model).  Written into buf (cap bytes) when
 * it fits, else malloc'ed; NULL when out of memory.
 */
char *run_key(const einc_kernel *k, int n, const einc_tensor *in, int nout, const einc_tensor *outs,
              const char *path, const ir_prog *gpu, char *buf, size_t cap);
/* auto's choice for p (through the reduction split) under key: AUTO_SMALL interprets; *est
   is the interpreter's estimated ns. */
auto_why auto_choice(einc_kernel *k, cc *c, const char *key, const ir_prog *p,
                     const int64_t *const *strides, int64_t *est);
/* explain's last line with arrays under --target=auto: what a run would choose, and why. */
void explain_target(strbuf *b, einc_kernel *k, cc *c, const pipeline *pl, int ninputs,
                    const einc_tensor *inputs);

#endif
