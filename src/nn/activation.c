/* activation.c -- leaky ReLU and the authors' complex leaky ReLU (block 2
 * of the quantum bottleneck acts on Re and Im separately); ReLU is in
 * real_layers.h with the other layers that exist in both precisions. */
#include "qdm/nn.h"

static int check(const char *fn, const void *a, const void *b, const void *c, double slope) {
  if (!a || !b || !c) return qdm_fail(QDM_EINVAL, "%s: arrays must be non-NULL", fn);
  if (!(slope >= 0.0)) return qdm_fail(QDM_EINVAL, "%s: slope must be >= 0 (got %g)", fn, slope);
  return QDM_OK;
}

int qdm_leaky_relu_forward(double *y, const double *x, size_t n, double slope) {
  int rc = check("qdm_leaky_relu_forward", y, x, x, slope);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : slope * x[i];
  return QDM_OK;
}

int qdm_leaky_relu_backward(double *dx, const double *dy, const double *x, size_t n,
                            double slope) {
  int rc = check("qdm_leaky_relu_backward", dx, dy, x, slope);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) dx[i] = x[i] > 0 ? dy[i] : slope * dy[i];
  return QDM_OK;
}

/* qdm_cplx is two doubles (re, im) and the co-gradient g = dL/dRe + i dL/dIm
 * has the same layout, so the separable complex activation and its backward
 * are the real ones on 2n doubles. */
int qdm_cleaky_relu_forward(qdm_cplx *y, const qdm_cplx *x, size_t n, double slope) {
  int rc = check("qdm_cleaky_relu_forward", y, x, x, slope);
  if (rc) return rc;
  return qdm_leaky_relu_forward((double *)y, (const double *)x, 2 * n, slope);
}

int qdm_cleaky_relu_backward(qdm_cplx *dx, const qdm_cplx *dy, const qdm_cplx *x, size_t n,
                             double slope) {
  int rc = check("qdm_cleaky_relu_backward", dx, dy, x, slope);
  if (rc) return rc;
  return qdm_leaky_relu_backward((double *)dx, (const double *)dy, (const double *)x, 2 * n,
                                 slope);
}
