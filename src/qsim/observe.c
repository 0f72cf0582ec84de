/* observe.c -- what is read off states: norms, probabilities, Pauli and
 * Hermitian expectation values (with their backward), reduced one-qubit
 * density matrices. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "sim.h"

void qdm_zero_state(qdm_cplx *psi, int n, int rows) {
  size_t dim = (size_t)1 << n;
  memset(psi, 0, dim * rows * sizeof *psi);
  for (int r = 0; r < rows; r++) psi[r * dim] = 1;
}

double qdm_norm2(const qdm_cplx *psi, size_t dim) {
  double s = 0;
  for (size_t i = 0; i < dim; i++) s += creal(psi[i]) * creal(psi[i]) + cimag(psi[i]) * cimag(psi[i]);
  return s;
}

void qdm_probs(const qdm_cplx *psi, size_t dim, double *p) {
  for (size_t i = 0; i < dim; i++) p[i] = creal(psi[i]) * creal(psi[i]) + cimag(psi[i]) * cimag(psi[i]);
}

/* P|i> = phase(i) |i ^ xmask> with phase(i) = i^{#Y} (-1)^{popcount(i & (Y|Z))},
 * since Y|b> = i (-1)^b |1-b> and Z|b> = (-1)^b |b>. */
int qdm_expect_pauli(const qdm_cplx *psi, int n, int rows, const char *pauli, double *out) {
  if (!psi || !pauli || !out || n < 1 || n > QDM_MAX_QUBITS || rows < 0)
    return qdm_fail(QDM_EINVAL, "qdm_expect_pauli: bad arguments");
  if ((int)strlen(pauli) != n)
    return qdm_fail(QDM_EINVAL, "qdm_expect_pauli: Pauli string '%s' has %zu letters, expected n = %d", pauli, strlen(pauli), n);
  size_t xm = 0, yzm = 0;
  int ny = 0;
  for (int q = 0; q < n; q++) {
    char ch = pauli[q];
    if (ch == 'X' || ch == 'Y') xm |= (size_t)1 << q;
    if (ch == 'Y' || ch == 'Z') yzm |= (size_t)1 << q;
    if (ch == 'Y') ny++;
    if (!strchr("IXYZ", ch) || !ch)
      return qdm_fail(QDM_EINVAL, "qdm_expect_pauli: letter '%c' at qubit %d, expected I, X, Y or Z", ch, q);
  }
  static const qdm_cplx ipow[4] = {1, I, -1, -I};
  size_t dim = (size_t)1 << n;
  for (int r = 0; r < rows; r++) {
    const qdm_cplx *p = psi + r * dim;
    qdm_cplx s = 0;
    for (size_t i = 0; i < dim; i++) {
      double sg = __builtin_popcountll(i & yzm) & 1 ? -1.0 : 1.0;
      s += conj(p[i ^ xm]) * sg * p[i];
    }
    out[r] = creal(ipow[ny & 3] * s);
  }
  return QDM_OK;
}

int qdm_expect_herm(const qdm_cplx *psi, int dim, int rows, const qdm_cplx *H, double *y) {
  if (!psi || !H || !y || dim < 1 || rows < 0) return qdm_fail(QDM_EINVAL, "qdm_expect_herm: bad arguments");
  if (rows == 0) return QDM_OK;
  qdm_cplx *hp = malloc((size_t)rows * dim * sizeof *hp);
  if (!hp) return qdm_fail(QDM_ENOMEM, "qdm_expect_herm: out of memory");
  const qdm_cplx one = 1, zero = 0;
  /* HP rows = H psi_r, i.e. HP = PSI H^T */
  cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, dim, dim, &one, psi, dim, H, dim, &zero, hp, dim);
  for (int r = 0; r < rows; r++) {
    double s = 0;
    for (int i = 0; i < dim; i++) s += creal(conj(psi[(size_t)r * dim + i]) * hp[(size_t)r * dim + i]);
    y[r] = s;
  }
  free(hp);
  return QDM_OK;
}

int qdm_expect_herm_backward(const qdm_cplx *psi, int dim, int rows, const qdm_cplx *H, const double *dy,
                             qdm_cplx *gpsi, qdm_cplx *dH) {
  if (!psi || !H || !dy || dim < 1 || rows < 0) return qdm_fail(QDM_EINVAL, "qdm_expect_herm_backward: bad arguments");
  if (rows == 0) return QDM_OK;
  qdm_cplx *w = malloc((size_t)rows * dim * sizeof *w);
  if (!w) return qdm_fail(QDM_ENOMEM, "qdm_expect_herm_backward: out of memory");
  for (int r = 0; r < rows; r++)
    for (int i = 0; i < dim; i++) w[(size_t)r * dim + i] = dy[r] * psi[(size_t)r * dim + i];
  const qdm_cplx one = 1, two = 2;
  /* gpsi_r += 2 dy_r H psi_r  (y = psi^dagger H psi with H Hermitian) */
  if (gpsi) cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, dim, dim, &two, w, dim, H, dim, &one, gpsi, dim);
  /* dH += sum_r dy_r psi_r psi_r^dagger = W^T conj(PSI) */
  if (dH) cblas_zgemm(CblasRowMajor, CblasTrans, CblasConjNoTrans, dim, dim, rows, &one, w, dim, psi, dim, &one, dH, dim);
  free(w);
  return QDM_OK;
}

/* rho_ab = sum over the other qubits of psi_{a,rest} conj(psi_{b,rest}) */
void qdm_reduced1(const qdm_cplx *psi, int n, int q, qdm_cplx rho[4]) {
  size_t dim = (size_t)1 << n, bit = (size_t)1 << q;
  double r00 = 0, r11 = 0;
  qdm_cplx r01 = 0;
  for (size_t i = 0; i < dim; i++) {
    if (i & bit) continue;
    qdm_cplx a = psi[i], b = psi[i | bit];
    r00 += creal(a) * creal(a) + cimag(a) * cimag(a);
    r11 += creal(b) * creal(b) + cimag(b) * cimag(b);
    r01 += a * conj(b);
  }
  rho[0] = r00;
  rho[1] = r01;
  rho[2] = conj(r01);
  rho[3] = r11;
}
/* A normalised vector of i.i.d. complex Gaussians is Haar-distributed
 * (the Gaussian is invariant under every unitary). */
void qdm_rng_haar_state(qdm_rng *r, qdm_cplx *psi, size_t dim) {
  double s = 0;
  for (size_t i = 0; i < dim; i++) {
    double re = qdm_rng_normal(r), im = qdm_rng_normal(r);
    psi[i] = re + I * im;
    s += re * re + im * im;
  }
  s = 1.0 / sqrt(s);
  for (size_t i = 0; i < dim; i++) psi[i] *= s;
}
