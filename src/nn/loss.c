/* loss.c -- the training objectives: the authors' infidelity between the
 * predicted and target posterior means as quantum states, and MSE (eq. 6). */
#include <complex.h>
#include "qdm/nn.h"
#include "core/parallel.h"

/* <t|p> over D complex values as real sums on the [Re, Im] pairs, in 8
 * interleaved partial sums (one vector register wide: the loop vectorises
 * without reassociation, where a complex sum waits on each add). */
static qdm_cplx braket(const qdm_cplx *t, const qdm_cplx *p, int D) {
  const double *a = (const double *)t, *b = (const double *)p; /* C11 6.2.5 */
  double re[8] = {0}, im[8] = {0};
  int i = 0;
  for (; i + 8 <= D; i += 8)
    for (int k = 0; k < 8; k++) {
      double tr = a[2 * (i + k)], ti = a[2 * (i + k) + 1], pr = b[2 * (i + k)], pi = b[2 * (i + k) + 1];
      re[k] += tr * pr + ti * pi;
      im[k] += tr * pi - ti * pr;
    }
  double sr = ((re[0] + re[4]) + (re[1] + re[5])) + ((re[2] + re[6]) + (re[3] + re[7]));
  double si = ((im[0] + im[4]) + (im[1] + im[5])) + ((im[2] + im[6]) + (im[3] + im[7]));
  for (; i < D; i++) {
    sr += a[2 * i] * b[2 * i] + a[2 * i + 1] * b[2 * i + 1];
    si += a[2 * i] * b[2 * i + 1] - a[2 * i + 1] * b[2 * i];
  }
  return sr + I * si;
}

/* f_r = |<p|t>|^2 = p^dag (t t^dag) p, whose co-gradient w.r.t. p is
 * 2 (t t^dag) p = 2 <t|p> t; L = mean(1 - f_r). The rows go over the
 * threads in 64 fixed spans, each summed in row order, then the spans in
 * order: the loss does not depend on the thread count. */
int qdm_infidelity_loss(double *loss, qdm_cplx *grad, const qdm_cplx *pred,
                        const qdm_cplx *target, int B, int D) {
  if (!loss || !pred || !target)
    return qdm_fail(QDM_EINVAL, "qdm_infidelity_loss: loss, pred and target must be non-NULL");
  if (B <= 0 || D <= 0)
    return qdm_fail(QDM_EINVAL, "qdm_infidelity_loss: B and D must be > 0 (got %d, %d)", B, D);
  enum { SPANS = 64 };
  double part[SPANS], sum = 0, scale = -2.0 / B;
  int per = (B + SPANS - 1) / SPANS;
#pragma omp parallel for schedule(static) if (qdm__parallel_worth((double)B * D))
  for (int sp = 0; sp < SPANS; sp++) {
    double s = 0;
    for (int r = sp * per; r < B && r < (sp + 1) * per; r++) {
      const qdm_cplx *p = pred + (size_t)r * D, *t = target + (size_t)r * D;
      qdm_cplx tp = braket(t, p, D);
      s += 1.0 - (creal(tp) * creal(tp) + cimag(tp) * cimag(tp));
      if (grad) {
        qdm_cplx *g = grad + (size_t)r * D, c = scale * tp;
        for (int i = 0; i < D; i++) g[i] = c * t[i];
      }
    }
    part[sp] = s;
  }
  for (int sp = 0; sp < SPANS; sp++) sum += part[sp];
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
