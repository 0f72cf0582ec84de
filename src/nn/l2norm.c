/* l2norm.c -- normalisation of complex rows, z / ||z||: the unit-norm
 * prediction of the decoder and the authors' unit-norm rows (report 6.4).
 * The real row normalisation it reuses is in real_layers.h. */
#include <math.h>
#include "qdm/nn.h"

/* ||z|| over D complex values is the real norm over 2D interleaved doubles,
 * and the co-gradient is the real gradient in the same layout. */
int qdm_cl2norm_forward(qdm_cplx *y, double *norm, const qdm_cplx *x, int B, int D) {
  if (D <= 0 || D > (1 << 29))
    return qdm_fail(QDM_EINVAL, "qdm_cl2norm_forward: D must be in 1..2^29 (got %d)", D);
  return qdm_l2norm_forward((double *)y, norm, (const double *)x, B, 2 * D);
}

int qdm_cl2norm_backward(qdm_cplx *dx, const qdm_cplx *dy, const qdm_cplx *y,
                         const double *norm, int B, int D) {
  if (D <= 0 || D > (1 << 29))
    return qdm_fail(QDM_EINVAL, "qdm_cl2norm_backward: D must be in 1..2^29 (got %d)", D);
  return qdm_l2norm_backward((double *)dx, (const double *)dy, (const double *)y, norm, B, 2 * D);
}
