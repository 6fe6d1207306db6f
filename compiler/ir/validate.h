/*
 * validate.h — checks of the index IR and the loop IR between passes, as Mesa's
 * nir_validate: the invariants of docs/ARCHITECTURE.md §5 and §6.
 *
 * A failure is a bug in einc, not in the user's input: it is reported as an internal error
 * that names the pass that broke the invariant.  The pipeline runs the validators after
 * every pass when validate_enabled() (debug builds, and EINC_VALIDATE=1, which the test
 * suite sets).
 */
#ifndef EINC_VALIDATE_H
#define EINC_VALIDATE_H

#include "ir.h"
#include "loop.h"

/* Whether the pipeline should validate after each pass. */
bool validate_enabled(void);

/* true when p keeps the index IR's invariants; else false with c->err naming `pass`. */
bool ir_validate(cc *c, const ir_prog *p, const char *pass);

/* The same for the loop IR. */
bool lp_validate(cc *c, const lp_prog *lp, const char *pass);

#endif
