/* linear.c -- y = x W^T + b on a whole batch: one dgemm forward, two backward
 * (report 6.4: the encoder and decoder are stacks of these). */
#include <string.h>
#include <cblas.h>
#include "qdm/nn.h"

static int check_dims(const char *fn, int B, int in, int out) {
  if (B <= 0) return qdm_fail(QDM_EINVAL, "%s: B must be > 0 (got %d)", fn, B);
  if (in <= 0) return qdm_fail(QDM_EINVAL, "%s: in must be > 0 (got %d)", fn, in);
  if (out <= 0) return qdm_fail(QDM_EINVAL, "%s: out must be > 0 (got %d)", fn, out);
  return QDM_OK;
}

int qdm_linear_forward(double *y, const double *x, const double *W, const double *b,
                       int B, int in, int out) {
  int rc = check_dims("qdm_linear_forward", B, in, out);
  if (rc) return rc;
  if (!y || !x || !W)
    return qdm_fail(QDM_EINVAL, "qdm_linear_forward: y, x and W must be non-NULL");
  double beta = 0.0;
  if (b) { /* seed every row with the bias and let dgemm add onto it */
    for (int r = 0; r < B; r++) memcpy(y + (size_t)r * out, b, sizeof(double) * out);
    beta = 1.0;
  }
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, out, in, 1.0, x, in, W, in,
              beta, y, out);
  return QDM_OK;
}

int qdm_linear_backward(double *dx, double *dW, double *db, const double *dy,
                        const double *x, const double *W, int B, int in, int out) {
  int rc = check_dims("qdm_linear_backward", B, in, out);
  if (rc) return rc;
  if (!dy) return qdm_fail(QDM_EINVAL, "qdm_linear_backward: dy must be non-NULL");
  if (dx && !W) return qdm_fail(QDM_EINVAL, "qdm_linear_backward: W is needed for dx");
  if (dW && !x) return qdm_fail(QDM_EINVAL, "qdm_linear_backward: x is needed for dW");
  if (dx) /* dx = dy W: (B x out)(out x in) */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, in, out, 1.0, dy, out, W, in,
                0.0, dx, in);
  if (dW) /* dW += dy^T x: (out x B)(B x in) */
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, B, 1.0, dy, out, x, in,
                1.0, dW, in);
  if (db)
    for (int r = 0; r < B; r++) {
      const double *d = dy + (size_t)r * out;
      for (int j = 0; j < out; j++) db[j] += d[j];
    }
  return QDM_OK;
}
