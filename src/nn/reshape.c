/* reshape.c -- the data movements of the U-Net: complex <-> [Re, Im] rows
 * (the authors' "complex linear" is a real Linear on the concatenation) and
 * the skip connection's concatenation (report 6.4). */
#include <string.h>
#include <complex.h>
#include "qdm/nn.h"
#ifndef CMPLX /* glibc defines it for GCC only; clang (the fuzz build) has the builtin */
#define CMPLX(x, y) __builtin_complex((double)(x), (double)(y))
#endif

static int check(const char *fn, const void *a, const void *b, int B, int D) {
  if (!a || !b) return qdm_fail(QDM_EINVAL, "%s: arrays must be non-NULL", fn);
  if (B <= 0 || D <= 0) return qdm_fail(QDM_EINVAL, "%s: B and D must be > 0 (got %d, %d)", fn, B, D);
  return QDM_OK;
}

int qdm_cplx_to_reim(double *out, const qdm_cplx *z, int B, int D) {
  int rc = check("qdm_cplx_to_reim", out, z, B, D);
  if (rc) return rc;
  for (int r = 0; r < B; r++) {
    const qdm_cplx *zr = z + (size_t)r * D;
    double *o = out + (size_t)r * 2 * D;
    for (int i = 0; i < D; i++) {
      o[i] = creal(zr[i]);
      o[D + i] = cimag(zr[i]);
    }
  }
  return QDM_OK;
}

int qdm_reim_to_cplx(qdm_cplx *z, const double *x, int B, int D) {
  int rc = check("qdm_reim_to_cplx", z, x, B, D);
  if (rc) return rc;
  for (int r = 0; r < B; r++) {
    const double *xr = x + (size_t)r * 2 * D;
    qdm_cplx *zr = z + (size_t)r * D;
    for (int i = 0; i < D; i++) zr[i] = CMPLX(xr[i], xr[D + i]);
  }
  return QDM_OK;
}

/* out = [Re z, Im z] gives dL/dRe z_i = dout_i and dL/dIm z_i = dout_{D+i},
 * i.e. the co-gradient dz = dout[:D] + i dout[D:]: the inverse map. */
int qdm_cplx_to_reim_backward(qdm_cplx *dz, const double *dout, int B, int D) {
  int rc = check("qdm_cplx_to_reim_backward", dz, dout, B, D);
  if (rc) return rc;
  return qdm_reim_to_cplx(dz, dout, B, D);
}

int qdm_reim_to_cplx_backward(double *dx, const qdm_cplx *dz, int B, int D) {
  int rc = check("qdm_reim_to_cplx_backward", dx, dz, B, D);
  if (rc) return rc;
  return qdm_cplx_to_reim(dx, dz, B, D);
}

int qdm_concat_forward(double *out, const double *a, const double *b, int B, int Da, int Db) {
  if (!out || !a || !b)
    return qdm_fail(QDM_EINVAL, "qdm_concat_forward: out, a and b must be non-NULL");
  if (B <= 0 || Da <= 0 || Db <= 0)
    return qdm_fail(QDM_EINVAL, "qdm_concat_forward: B, Da, Db must be > 0 (got %d, %d, %d)", B, Da, Db);
  size_t w = (size_t)Da + Db;
  for (int r = 0; r < B; r++) {
    memcpy(out + r * w, a + (size_t)r * Da, sizeof(double) * Da);
    memcpy(out + r * w + Da, b + (size_t)r * Db, sizeof(double) * Db);
  }
  return QDM_OK;
}

int qdm_concat_backward(double *da, double *db, const double *dout, int B, int Da, int Db) {
  if (!dout) return qdm_fail(QDM_EINVAL, "qdm_concat_backward: dout must be non-NULL");
  if (B <= 0 || Da <= 0 || Db <= 0)
    return qdm_fail(QDM_EINVAL, "qdm_concat_backward: B, Da, Db must be > 0 (got %d, %d, %d)", B, Da, Db);
  size_t w = (size_t)Da + Db;
  for (int r = 0; r < B; r++) {
    if (da) memcpy(da + (size_t)r * Da, dout + r * w, sizeof(double) * Da);
    if (db) memcpy(db + (size_t)r * Db, dout + r * w + Da, sizeof(double) * Db);
  }
  return QDM_OK;
}
