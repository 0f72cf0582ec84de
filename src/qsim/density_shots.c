/* density_shots.c -- what a device reports: expectation values estimated
 * from a finite number of measurements. An observable H = V diag(w) V^dagger
 * is measured by rotating into its eigenbasis and reading one basis state per
 * shot, outcome w_j with probability |<v_j|psi>|^2 (Born rule); the mean of
 * N outcomes is unbiased for <psi|H|psi> with variance Var_psi(H) / N. */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "qdm/density.h"

int qdm_herm_eig_init(qdm_herm_eig *e, const qdm_cplx *H, int dim) {
  if (!e || !H) return qdm_fail(QDM_EINVAL, "qdm_herm_eig_init: NULL argument");
  memset(e, 0, sizeof *e);
  if (dim < 1 || dim > (1 << 14)) return qdm_fail(QDM_EINVAL, "qdm_herm_eig_init: dim = %d, expected 1..16384", dim);
  e->w = malloc(dim * sizeof *e->w);
  e->V = malloc((size_t)dim * dim * sizeof *e->V);
  if (!e->w || !e->V) {
    qdm_herm_eig_free(e);
    return qdm_fail(QDM_ENOMEM, "qdm_herm_eig_init: out of memory");
  }
  e->dim = dim;
  /* hermitise first: zheev reads one triangle only */
  for (int i = 0; i < dim; i++)
    for (int j = 0; j < dim; j++) e->V[(size_t)i * dim + j] = 0.5 * (H[(size_t)i * dim + j] + conj(H[(size_t)j * dim + i]));
  lapack_int info = LAPACKE_zheev(LAPACK_ROW_MAJOR, 'V', 'U', dim, e->V, dim, e->w);
  if (info) {
    qdm_herm_eig_free(e);
    return qdm_fail(QDM_EINVAL, "qdm_herm_eig_init: zheev failed (info = %d)", (int)info);
  }
  return QDM_OK;
}

void qdm_herm_eig_free(qdm_herm_eig *e) {
  if (!e) return;
  free(e->w);
  free(e->V);
  e->w = NULL;
  e->V = NULL;
  e->dim = 0;
}

/* Inverse-CDF sampling: one uniform and one binary search per shot. */
int qdm_sample_counts(const double *p, int k, long shots, qdm_rng *rng, long *counts) {
  if (!p || !rng || !counts) return qdm_fail(QDM_EINVAL, "qdm_sample_counts: NULL argument");
  if (k < 1) return qdm_fail(QDM_EINVAL, "qdm_sample_counts: k = %d outcomes, expected >= 1", k);
  if (shots < 0) return qdm_fail(QDM_EINVAL, "qdm_sample_counts: shots = %ld, expected >= 0", shots);
  double *cum = malloc(k * sizeof *cum), s = 0;
  if (!cum) return qdm_fail(QDM_ENOMEM, "qdm_sample_counts: out of memory");
  for (int j = 0; j < k; j++) {
    s += p[j] > 0 ? p[j] : 0; /* rounding can leave tiny negatives */
    cum[j] = s;
    counts[j] = 0;
  }
  if (!(s > 0)) {
    free(cum);
    return qdm_fail(QDM_EINVAL, "qdm_sample_counts: probabilities sum to %g, expected > 0", s);
  }
  for (long i = 0; i < shots; i++) {
    double u = qdm_rng_uniform(rng) * s;
    int lo = 0, hi = k - 1;
    while (lo < hi) {
      int mid = (lo + hi) / 2;
      if (cum[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    counts[lo]++;
  }
  free(cum);
  return QDM_OK;
}

/* mean outcome of `shots` draws from probabilities p over eigenvalues w */
static int shots_mean(const double *p, const double *w, int dim, long shots, qdm_rng *rng, long *cnt, double *y) {
  int r = qdm_sample_counts(p, dim, shots, rng, cnt);
  if (r) return r;
  double s = 0;
  for (int j = 0; j < dim; j++) s += (double)cnt[j] * w[j];
  *y = s / (double)shots;
  return QDM_OK;
}

static int shots_check(const qdm_herm_eig *e, const void *x, int rows, long shots, qdm_rng *rng, double *y,
                       const char *who) {
  if (!e || !e->V || !x || !rng || !y) return qdm_fail(QDM_EINVAL, "%s: NULL argument", who);
  if (rows < 0) return qdm_fail(QDM_EINVAL, "%s: rows = %d, expected >= 0", who, rows);
  if (shots < 1) return qdm_fail(QDM_EINVAL, "%s: shots = %ld, expected >= 1", who, shots);
  return QDM_OK;
}

int qdm_expect_shots(const qdm_herm_eig *e, const qdm_cplx *psi, int rows, long shots, qdm_rng *rng, double *y) {
  int r = shots_check(e, psi, rows, shots, rng, y, "qdm_expect_shots");
  if (r || rows == 0) return r;
  int d = e->dim;
  qdm_cplx *C = malloc(((size_t)rows * d + (size_t)d * d) * sizeof *C);
  double *p = malloc(d * sizeof *p);
  long *cnt = malloc(d * sizeof *cnt);
  if (!C || !p || !cnt) {
    free(C); free(p); free(cnt);
    return qdm_fail(QDM_ENOMEM, "qdm_expect_shots: out of memory");
  }
  /* amplitudes in the eigenbasis: C[r][j] = <v_j|psi_r> = sum_i psi_ri conj(V_ij) */
  qdm_cplx *Vc = C + (size_t)rows * d;
  for (size_t i = 0; i < (size_t)d * d; i++) Vc[i] = conj(e->V[i]);
  const qdm_cplx one = 1, zero = 0;
  cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d, d, &one, psi, d, Vc, d, &zero, C, d);
  for (int k = 0; k < rows && !r; k++) {
    for (int j = 0; j < d; j++) {
      qdm_cplx z = C[(size_t)k * d + j];
      p[j] = creal(z) * creal(z) + cimag(z) * cimag(z);
    }
    r = shots_mean(p, e->w, d, shots, rng, cnt, y + k);
  }
  free(C); free(p); free(cnt);
  return r;
}

int qdm_dm_expect_shots(const qdm_herm_eig *e, const qdm_cplx *rho, int rows, long shots, qdm_rng *rng, double *y) {
  int r = shots_check(e, rho, rows, shots, rng, y, "qdm_dm_expect_shots");
  if (r || rows == 0) return r;
  int d = e->dim;
  size_t dd = (size_t)d * d;
  qdm_cplx *RV = malloc(dd * sizeof *RV);
  double *p = malloc(d * sizeof *p);
  long *cnt = malloc(d * sizeof *cnt);
  if (!RV || !p || !cnt) {
    free(RV); free(p); free(cnt);
    return qdm_fail(QDM_ENOMEM, "qdm_dm_expect_shots: out of memory");
  }
  const qdm_cplx one = 1, zero = 0;
  for (int k = 0; k < rows && !r; k++) {
    /* p_j = <v_j|rho|v_j> = sum_i conj(V_ij) (rho V)_ij */
    cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, d, d, &one, rho + k * dd, d, e->V, d, &zero, RV, d);
    for (int j = 0; j < d; j++) {
      double s = 0;
      for (int i = 0; i < d; i++) s += creal(conj(e->V[(size_t)i * d + j]) * RV[(size_t)i * d + j]);
      p[j] = s;
    }
    r = shots_mean(p, e->w, d, shots, rng, cnt, y + k);
  }
  free(RV); free(p); free(cnt);
  return r;
}

/* Each non-I qubit is rotated into the Z basis (X: H; Y: H S^dagger, since
 * H S^dagger Y S H = Z), then a shot's outcome is (-1)^(parity of the
 * measured bits on those qubits). */
int qdm_expect_pauli_shots(const qdm_cplx *psi, int n, int rows, const char *pauli, long shots, qdm_rng *rng,
                           double *out) {
  if (!psi || !pauli || !rng || !out) return qdm_fail(QDM_EINVAL, "qdm_expect_pauli_shots: NULL argument");
  if (n < 1 || n > 26) return qdm_fail(QDM_EINVAL, "qdm_expect_pauli_shots: n = %d, expected 1..26", n);
  if ((int)strlen(pauli) != n)
    return qdm_fail(QDM_EINVAL, "qdm_expect_pauli_shots: Pauli string '%s' has %zu characters, expected n = %d", pauli,
                    strlen(pauli), n);
  if (shots < 1 || rows < 0) return qdm_fail(QDM_EINVAL, "qdm_expect_pauli_shots: shots = %ld, rows = %d", shots, rows);
  size_t mask = 0, D = (size_t)1 << n;
  for (int q = 0; q < n; q++) {
    if (!strchr("IXYZ", pauli[q]))
      return qdm_fail(QDM_EINVAL, "qdm_expect_pauli_shots: '%c' in '%s' is not one of I, X, Y, Z", pauli[q], pauli);
    if (pauli[q] != 'I') mask |= (size_t)1 << q;
  }
  qdm_cplx *v = malloc(D * sizeof *v);
  double *p = malloc(D * sizeof *p);
  long *cnt = malloc(D * sizeof *cnt);
  if (!v || !p || !cnt) {
    free(v); free(p); free(cnt);
    return qdm_fail(QDM_ENOMEM, "qdm_expect_pauli_shots: out of memory");
  }
  int r = QDM_OK;
  const double h = M_SQRT1_2;
  for (int k = 0; k < rows && !r; k++) {
    memcpy(v, psi + k * D, D * sizeof *v);
    for (int q = 0; q < n; q++) {
      if (pauli[q] != 'X' && pauli[q] != 'Y') continue;
      size_t bit = (size_t)1 << q;
      for (size_t i = 0; i < D; i++) {
        if (i & bit) continue;
        qdm_cplx a = v[i], b = pauli[q] == 'Y' ? -I * v[i | bit] : v[i | bit];
        v[i] = h * (a + b);
        v[i | bit] = h * (a - b);
      }
    }
    for (size_t i = 0; i < D; i++) p[i] = creal(v[i]) * creal(v[i]) + cimag(v[i]) * cimag(v[i]);
    r = qdm_sample_counts(p, (int)D, shots, rng, cnt);
    double s = 0;
    for (size_t i = 0; i < D && !r; i++) s += (__builtin_popcountll(i & mask) & 1 ? -1.0 : 1.0) * (double)cnt[i];
    out[k] = s / (double)shots;
  }
  free(v); free(p); free(cnt);
  return r;
}
