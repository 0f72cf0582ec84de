/* layernorm.c -- LayerNorm over the last dim with PyTorch semantics (biased
 * variance, eps inside the root); the encoder's last layer before the
 * amplitude encoding (report 6.4). */
#include <math.h>
#include "qdm/nn.h"

int qdm_layernorm_forward(double *y, double *mean, double *rstd, const double *x,
                          const double *gamma, const double *beta, int B, int C) {
  if (B <= 0 || C <= 0)
    return qdm_fail(QDM_EINVAL, "qdm_layernorm_forward: B and C must be > 0 (got %d, %d)", B, C);
  if (!y || !mean || !rstd || !x)
    return qdm_fail(QDM_EINVAL, "qdm_layernorm_forward: y, mean, rstd and x must be non-NULL");
  for (int r = 0; r < B; r++) {
    const double *xr = x + (size_t)r * C;
    double *yr = y + (size_t)r * C;
    double m = 0, v = 0;
    for (int i = 0; i < C; i++) m += xr[i];
    m /= C;
    for (int i = 0; i < C; i++) v += (xr[i] - m) * (xr[i] - m); /* two-pass: no cancellation */
    v /= C;
    double s = 1.0 / sqrt(v + QDM_LN_EPS);
    for (int i = 0; i < C; i++) {
      double n = (xr[i] - m) * s;
      yr[i] = n * (gamma ? gamma[i] : 1.0) + (beta ? beta[i] : 0.0);
    }
    mean[r] = m;
    rstd[r] = s;
  }
  return QDM_OK;
}

/* With n = (x - mean) rstd and dn = dy * gamma, the mean and the variance both
 * depend on every x_i, which gives
 * dx = rstd (dn - mean(dn) - n mean(dn n)). */
int qdm_layernorm_backward(double *dx, double *dgamma, double *dbeta, const double *dy,
                           const double *x, const double *gamma, const double *mean,
                           const double *rstd, int B, int C) {
  if (B <= 0 || C <= 0)
    return qdm_fail(QDM_EINVAL, "qdm_layernorm_backward: B and C must be > 0 (got %d, %d)", B, C);
  if (!dy || !x || !mean || !rstd)
    return qdm_fail(QDM_EINVAL, "qdm_layernorm_backward: dy, x, mean and rstd must be non-NULL");
  for (int r = 0; r < B; r++) {
    const double *xr = x + (size_t)r * C, *dyr = dy + (size_t)r * C;
    double m = mean[r], s = rstd[r], mdn = 0, mdnn = 0;
    for (int i = 0; i < C; i++) {
      double n = (xr[i] - m) * s, dn = dyr[i] * (gamma ? gamma[i] : 1.0);
      mdn += dn;
      mdnn += dn * n;
      if (dgamma) dgamma[i] += dyr[i] * n;
      if (dbeta) dbeta[i] += dyr[i];
    }
    mdn /= C;
    mdnn /= C;
    if (dx) {
      double *dxr = dx + (size_t)r * C;
      for (int i = 0; i < C; i++) {
        double n = (xr[i] - m) * s, dn = dyr[i] * (gamma ? gamma[i] : 1.0);
        dxr[i] = s * (dn - mdn - n * mdnn);
      }
    }
  }
  return QDM_OK;
}
