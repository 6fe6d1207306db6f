/*
 * cspell.h — what the C and CUDA generators spell alike: loop and size names for the
 * axes, products of sizes, and the flat offset of an access (Horner's rule over the
 * tensor's shape).  Each generator embeds a cspell as its first member.
 */
#ifndef EINC_CSPELL_H
#define EINC_CSPELL_H

#include "loop.h"
#include "strbuf.h"

typedef struct cspell {
    strbuf *b;                  /* where the text goes */
    const ir_prog *p;
    const char **loopvar;       /* per axis: "i_k", "i_3_" for anonymous axes */
    const char **size;          /* per axis: a parameter name or a literal */
    const char *int_suffix;     /* after integer literals in sizes: "" or "LL" */
} cspell;

/*
 * Names every axis: loops "i_NAME" (anonymous axes "i_ID_"), sizes the axis's own name
 * (with a trailing "_" when reserved(name) says the language or einc uses it) or, when
 * fixed, its value.
 */
int cs_name_axes(cc *c, cspell *s, bool (*reserved)(const char *));
bool cs_mono_is_one(const ir_mono *m);
void cs_mono(const cspell *s, const ir_mono *m);
void cs_dim_index(const cspell *s, const ir_dim *d);
void cs_offset(const cspell *s, const ir_access *a);
void cs_access(const cspell *s, const ir_access *a);   /* NAME[offset] */

#endif
