/* jit_none.c — the CPU backend in a build without LLVM: every entry says so. */
#include "jit.h"

static const char no_llvm[] =
    "this einc was built without LLVM, so it has no CPU JIT; use --target=interp, or "
    "rebuild with llvm-dev installed";

jit *jit_new(cc *c, kcache *kc)
{
    (void)kc;
    cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "%s", no_llvm);
    return NULL;
}

void jit_free(jit *j) { (void)j; }

int jit_add(jit *j, cc *c, const lp_prog *lp, const bool *strided, const char *key,
            jit_nest_fn *fns)
{
    (void)j, (void)lp, (void)strided, (void)key, (void)fns;
    return cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "%s", no_llvm);
}

bool jit_on_disk(kcache *kc, const lp_prog *lp, const char *key)
{
    (void)kc, (void)lp, (void)key;
    return false;
}

const lp_machine *jit_machine(const char *cpu, lp_machine *m)
{
    (void)cpu;
    *m = (lp_machine){ 0 };
    return m;
}

char *jit_emit(cc *c, const lp_prog *lp, const char *name, const char *cpu, einc_emit_kind kind,
               size_t *len)
{
    (void)lp, (void)name, (void)cpu, (void)kind, (void)len;
    cc_error(c, EINC_ERR_UNSUPPORTED, -1, -1, "%s", no_llvm);
    return NULL;
}
