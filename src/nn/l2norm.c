/* l2norm.c -- row normalisation y = x / ||x||: amplitude encoding of the
 * encoder output and the unit-norm prediction of the decoder (report 6.4). */
#include <math.h>
#include "qdm/nn.h"

int qdm_l2norm_forward(double *y, double *norm, const double *x, int B, int D) {
  if (B <= 0 || D <= 0)
    return qdm_fail(QDM_EINVAL, "qdm_l2norm_forward: B and D must be > 0 (got %d, %d)", B, D);
  if (!y || !x) return qdm_fail(QDM_EINVAL, "qdm_l2norm_forward: y and x must be non-NULL");
  for (int r = 0; r < B; r++) {
    const double *xr = x + (size_t)r * D;
    double *yr = y + (size_t)r * D, s = 0;
    for (int i = 0; i < D; i++) s += xr[i] * xr[i];
    s = sqrt(s);
    if (s < QDM_L2_EPS) s = QDM_L2_EPS; /* F.normalize: max(||x||, eps) */
    if (norm) norm[r] = s;
    double inv = 1.0 / s;
    for (int i = 0; i < D; i++) yr[i] = xr[i] * inv;
  }
  return QDM_OK;
}

/* dy/dx = (I - y y^T) / ||x||; a clamped row has a constant denominator. */
int qdm_l2norm_backward(double *dx, const double *dy, const double *y, const double *norm,
                        int B, int D) {
  if (B <= 0 || D <= 0)
    return qdm_fail(QDM_EINVAL, "qdm_l2norm_backward: B and D must be > 0 (got %d, %d)", B, D);
  if (!dx || !dy || !y || !norm)
    return qdm_fail(QDM_EINVAL, "qdm_l2norm_backward: dx, dy, y and norm must be non-NULL");
  for (int r = 0; r < B; r++) {
    const double *yr = y + (size_t)r * D, *dyr = dy + (size_t)r * D;
    double *dxr = dx + (size_t)r * D, inv = 1.0 / norm[r], p = 0;
    if (norm[r] > QDM_L2_EPS)
      for (int i = 0; i < D; i++) p += yr[i] * dyr[i];
    for (int i = 0; i < D; i++) dxr[i] = (dyr[i] - yr[i] * p) * inv;
  }
  return QDM_OK;
}

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
