/* encode.c -- the data encodings of report section 3: basis (eq. 13),
 * amplitude (eqs. 14-15) with its backward through the normalisation, angle
 * (eq. 16), phase (eq. 17), dense angle (eqs. 18 and 19). The feature
 * encodings are circuits whose angles read the row's inputs, so the engine's
 * adjoint pass differentiates them; amplitude encoding is a state
 * preparation with its own backward. */
#include <math.h>
#include <string.h>
#include "qdm/circuits.h"

int qdm_enc_basis_state(const uint8_t *bits, int n, int rows, qdm_cplx *psi) {
  if (!bits || !psi) return qdm_fail(QDM_EINVAL, "qdm_enc_basis_state: bits and psi must be non-NULL");
  if (n < 1 || n > QDM_MAX_QUBITS) return qdm_fail(QDM_EINVAL, "qdm_enc_basis_state: n = %d, expected 1..%d", n, QDM_MAX_QUBITS);
  if (rows < 0) return qdm_fail(QDM_EINVAL, "qdm_enc_basis_state: rows = %d, expected >= 0", rows);
  size_t dim = (size_t)1 << n;
  for (int r = 0; r < rows; r++) {
    size_t idx = 0;
    for (int q = 0; q < n; q++) {
      uint8_t b = bits[(size_t)r * n + q];
      if (b > 1) return qdm_fail(QDM_EINVAL, "qdm_enc_basis_state: bits[%d] = %d, expected 0 or 1", r * n + q, b);
      idx |= (size_t)b << q;
    }
    memset(psi + r * dim, 0, dim * sizeof *psi);
    psi[r * dim + idx] = 1;
  }
  return QDM_OK;
}

static int feat_check(const qdm_circuit *c, int nfeat, int input_offset, int per_qubit, const char *who) {
  if (!c) return qdm_fail(QDM_EINVAL, "%s: circuit is NULL", who);
  if (nfeat < 1 || nfeat % per_qubit || nfeat / per_qubit > c->n)
    return qdm_fail(QDM_EINVAL, "%s: nfeat = %d, expected a multiple of %d with at most %d per qubit on %d qubits",
                    who, nfeat, per_qubit, per_qubit, c->n);
  if (input_offset < 0) return qdm_fail(QDM_EINVAL, "%s: input_offset = %d, expected >= 0", who, input_offset);
  return QDM_OK;
}

int qdm_enc_basis(qdm_circuit *c, int nfeat, int input_offset) {
  int r = feat_check(c, nfeat, input_offset, 1, "qdm_enc_basis");
  for (int k = 0; k < nfeat && !r; k++) r = qdm_addr(c, QDM_GRY, k, qdm_input(input_offset + k, M_PI, 0));
  return r;
}

int qdm_enc_angle(qdm_circuit *c, int nfeat, int input_offset) {
  int r = feat_check(c, nfeat, input_offset, 1, "qdm_enc_angle");
  for (int k = 0; k < nfeat && !r; k++) r = qdm_addr(c, QDM_GRY, k, qdm_input(input_offset + k, 1, 0));
  return r;
}

int qdm_enc_phase(qdm_circuit *c, int nfeat, int input_offset) {
  int r = feat_check(c, nfeat, input_offset, 1, "qdm_enc_phase");
  for (int k = 0; k < nfeat && !r; k++) {
    r = qdm_add1(c, QDM_GH, k);
    if (!r) r = qdm_addr(c, QDM_GP, k, qdm_input(input_offset + k, 1, 0));
  }
  return r;
}

int qdm_enc_dense(qdm_circuit *c, int nfeat, int input_offset, int convention) {
  if (convention != QDM_DENSE_EQ18 && convention != QDM_DENSE_EQ19)
    return qdm_fail(QDM_EINVAL, "qdm_enc_dense: convention = %d, expected QDM_DENSE_EQ18 or QDM_DENSE_EQ19", convention);
  int r = feat_check(c, nfeat, input_offset, 2, "qdm_enc_dense");
  /* eq. (18) halves the polar angle inside R_Y and uses R_Z; eq. (19) writes
   * cos x / sin x with full angles and a bare relative phase. */
  double ay = convention == QDM_DENSE_EQ18 ? 1 : 2;
  qdm_gate_kind kz = convention == QDM_DENSE_EQ18 ? QDM_GRZ : QDM_GP;
  for (int k = 0; k < nfeat / 2 && !r; k++) {
    r = qdm_addr(c, QDM_GRY, k, qdm_input(input_offset + 2 * k, ay, 0));
    if (!r) r = qdm_addr(c, kz, k, qdm_input(input_offset + 2 * k + 1, 1, 0));
  }
  return r;
}

/* ---- amplitude encoding ---- */

static int amp_check(const void *x, int len, int ldx, int n, int rows, const void *psi, const char *who) {
  if (!x || !psi) return qdm_fail(QDM_EINVAL, "%s: input and psi must be non-NULL", who);
  if (n < 1 || n > QDM_MAX_QUBITS) return qdm_fail(QDM_EINVAL, "%s: n = %d, expected 1..%d", who, n, QDM_MAX_QUBITS);
  if (len < 1 || (size_t)len > ((size_t)1 << n))
    return qdm_fail(QDM_EINVAL, "%s: len = %d, expected 1..2^n = %zu", who, len, (size_t)1 << n);
  if (ldx < len) return qdm_fail(QDM_EINVAL, "%s: row stride %d < len %d", who, ldx, len);
  if (rows < 0) return qdm_fail(QDM_EINVAL, "%s: rows = %d, expected >= 0", who, rows);
  return QDM_OK;
}

/* One row: copy, pad, divide by the norm (eq. 15). */
static int amp_row(qdm_cplx *p, size_t dim, int len, double *alpha, int r, const char *who) {
  double s = 0;
  for (int i = 0; i < len; i++) s += creal(p[i]) * creal(p[i]) + cimag(p[i]) * cimag(p[i]);
  if (!(s > 0) || !isfinite(s))
    return qdm_fail(QDM_EINVAL, "%s: row %d has norm %g (expected a finite non-zero vector)", who, r, sqrt(s));
  double a = sqrt(s), inv = 1.0 / a;
  for (int i = 0; i < len; i++) p[i] *= inv;
  memset(p + len, 0, (dim - len) * sizeof *p);
  if (alpha) alpha[r] = a;
  return QDM_OK;
}

int qdm_enc_amplitude(const qdm_cplx *x, int len, int ldx, int n, int rows, qdm_cplx *psi, double *alpha) {
  const char *who = "qdm_enc_amplitude";
  int e = amp_check(x, len, ldx, n, rows, psi, who);
  if (e) return e;
  size_t dim = (size_t)1 << n;
  for (int r = 0; r < rows; r++) {
    qdm_cplx *p = psi + r * dim;
    memmove(p, x + (size_t)r * ldx, len * sizeof *p);
    if ((e = amp_row(p, dim, len, alpha, r, who))) return e;
  }
  return QDM_OK;
}

int qdm_enc_amplitude_real(const double *x, int len, int ldx, int n, int rows, qdm_cplx *psi, double *alpha) {
  const char *who = "qdm_enc_amplitude_real";
  int e = amp_check(x, len, ldx, n, rows, psi, who);
  if (e) return e;
  size_t dim = (size_t)1 << n;
  for (int r = 0; r < rows; r++) {
    qdm_cplx *p = psi + r * dim;
    const double *xr = x + (size_t)r * ldx;
    for (int i = 0; i < len; i++) p[i] = xr[i];
    if ((e = amp_row(p, dim, len, alpha, r, who))) return e;
  }
  return QDM_OK;
}

/* psi = x / alpha, alpha = ||x||: d psi = dx / alpha - psi Re<psi, dx> / alpha,
 * so dL = Re<g, d psi> = Re<(g - Re<psi, g> psi) / alpha, dx>. */
static int amp_back_check(const qdm_cplx *psi, const double *alpha, const qdm_cplx *gpsi, int len, int n,
                          int rows, const void *gx, int ldgx, const char *who) {
  if (!psi || !alpha || !gpsi || !gx) return qdm_fail(QDM_EINVAL, "%s: psi, alpha, gpsi and gx must be non-NULL", who);
  if (n < 1 || n > QDM_MAX_QUBITS) return qdm_fail(QDM_EINVAL, "%s: n = %d, expected 1..%d", who, n, QDM_MAX_QUBITS);
  if (len < 1 || (size_t)len > ((size_t)1 << n))
    return qdm_fail(QDM_EINVAL, "%s: len = %d, expected 1..2^n = %zu", who, len, (size_t)1 << n);
  if (ldgx < len) return qdm_fail(QDM_EINVAL, "%s: row stride %d < len %d", who, ldgx, len);
  if (rows < 0) return qdm_fail(QDM_EINVAL, "%s: rows = %d, expected >= 0", who, rows);
  for (int r = 0; r < rows; r++)
    if (!(alpha[r] > 0)) return qdm_fail(QDM_EINVAL, "%s: alpha[%d] = %g, expected > 0", who, r, alpha[r]);
  return QDM_OK;
}

static double re_dot(const qdm_cplx *a, const qdm_cplx *b, int len) {
  double s = 0;
  for (int i = 0; i < len; i++) s += creal(a[i]) * creal(b[i]) + cimag(a[i]) * cimag(b[i]);
  return s;
}

int qdm_enc_amplitude_backward(const qdm_cplx *psi, const double *alpha, const qdm_cplx *gpsi, int len, int n,
                               int rows, qdm_cplx *gx, int ldgx) {
  int e = amp_back_check(psi, alpha, gpsi, len, n, rows, gx, ldgx, "qdm_enc_amplitude_backward");
  if (e) return e;
  size_t dim = (size_t)1 << n;
  for (int r = 0; r < rows; r++) {
    const qdm_cplx *p = psi + r * dim, *g = gpsi + r * dim;
    double pg = re_dot(p, g, len), inv = 1.0 / alpha[r];
    qdm_cplx *o = gx + (size_t)r * ldgx;
    for (int i = 0; i < len; i++) o[i] = (g[i] - pg * p[i]) * inv;
  }
  return QDM_OK;
}

int qdm_enc_amplitude_real_backward(const qdm_cplx *psi, const double *alpha, const qdm_cplx *gpsi, int len,
                                    int n, int rows, double *gx, int ldgx) {
  int e = amp_back_check(psi, alpha, gpsi, len, n, rows, gx, ldgx, "qdm_enc_amplitude_real_backward");
  if (e) return e;
  size_t dim = (size_t)1 << n;
  for (int r = 0; r < rows; r++) {
    const qdm_cplx *p = psi + r * dim, *g = gpsi + r * dim;
    double pg = re_dot(p, g, len), inv = 1.0 / alpha[r];
    double *o = gx + (size_t)r * ldgx;
    for (int i = 0; i < len; i++) o[i] = (creal(g[i]) - pg * creal(p[i])) * inv;
  }
  return QDM_OK;
}
