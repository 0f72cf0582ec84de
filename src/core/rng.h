/* rng.h -- the generator's internals that a test compares. */
#ifndef QDM_CORE_RNG_H
#define QDM_CORE_RNG_H
#include "qdm/core.h"

/* qdm_rng_normals with its eight lanes in portable C, whatever the build
 * vectorises: the same values, bit for bit. */
void qdm__rng_normals_portable(qdm_rng *r, double *out, size_t n);
#endif
