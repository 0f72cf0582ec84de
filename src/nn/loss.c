/* loss.c -- the training objectives: the authors' infidelity between the
 * predicted and target posterior means as quantum states, and MSE (eq. 6). */
#include <complex.h>
#include "qdm/nn.h"

/* f_r = |<p|t>|^2 = p^dag (t t^dag) p, whose co-gradient w.r.t. p is
 * 2 (t t^dag) p = 2 <t|p> t; L = mean(1 - f_r). */
int qdm_infidelity_loss(double *loss, qdm_cplx *grad, const qdm_cplx *pred,
                        const qdm_cplx *target, int B, int D) {
  if (!loss || !pred || !target)
    return qdm_fail(QDM_EINVAL, "qdm_infidelity_loss: loss, pred and target must be non-NULL");
  if (B <= 0 || D <= 0)
    return qdm_fail(QDM_EINVAL, "qdm_infidelity_loss: B and D must be > 0 (got %d, %d)", B, D);
  double sum = 0, scale = -2.0 / B;
  for (int r = 0; r < B; r++) {
    const qdm_cplx *p = pred + (size_t)r * D, *t = target + (size_t)r * D;
    qdm_cplx tp = 0; /* <t|p> */
    for (int i = 0; i < D; i++) tp += conj(t[i]) * p[i];
    sum += 1.0 - (creal(tp) * creal(tp) + cimag(tp) * cimag(tp));
    if (grad) {
      qdm_cplx *g = grad + (size_t)r * D, c = scale * tp;
      for (int i = 0; i < D; i++) g[i] = c * t[i];
    }
  }
  *loss = sum / B;
  return QDM_OK;
}

int qdm_mse_loss(double *loss, double *grad, const double *pred, const double *target,
                 size_t n) {
  if (!loss || !pred || !target)
    return qdm_fail(QDM_EINVAL, "qdm_mse_loss: loss, pred and target must be non-NULL");
  if (n == 0) return qdm_fail(QDM_EINVAL, "qdm_mse_loss: n must be > 0");
  double sum = 0, s = 2.0 / (double)n;
  for (size_t i = 0; i < n; i++) {
    double d = pred[i] - target[i];
    sum += d * d;
    if (grad) grad[i] = s * d;
  }
  *loss = sum / (double)n;
  return QDM_OK;
}
