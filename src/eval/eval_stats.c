/* eval_stats.c -- statistics of feature sets: mean and covariance, the
 * matrix square root, the Frechet distance (Heusel et al. 2017, the FID
 * formula on our classifier's features), the classifier score (the
 * Inception-score formula, Salimans et al. 2016) and the class histogram. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include <lapacke.h>
#include "qdm/eval.h"
#include "qdm/core.h"

/* cov = (X - 1 mu^T)^T (X - 1 mu^T) / (n - 1): one dsyrk on centred rows. */
int qdm_mean_cov(const double *X, int n, int d, double *mu, double *cov) {
  if (!X || !mu || !cov) return qdm_fail(QDM_EINVAL, "qdm_mean_cov: X, mu and cov must be non-NULL");
  if (n < 2 || d < 1) return qdm_fail(QDM_EINVAL, "qdm_mean_cov: need n >= 2 rows and d >= 1 (got n = %d, d = %d)", n, d);
  double *C = malloc((size_t)n * d * sizeof(double));
  if (!C) return qdm_fail(QDM_ENOMEM, "qdm_mean_cov: out of memory for %d x %d", n, d);
  memset(mu, 0, (size_t)d * sizeof(double));
  for (int i = 0; i < n; i++)
    for (int j = 0; j < d; j++) mu[j] += X[(size_t)i * d + j];
  for (int j = 0; j < d; j++) mu[j] /= n;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < d; j++) C[(size_t)i * d + j] = X[(size_t)i * d + j] - mu[j];
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, n, 1.0 / (n - 1), C, d, 0.0, cov, d);
  for (int i = 0; i < d; i++)
    for (int j = 0; j < i; j++) cov[(size_t)i * d + j] = cov[(size_t)j * d + i];
  free(C);
  return QDM_OK;
}

/* Eigenvalues (ascending) and, if V != NULL, eigenvectors (columns of V,
 * row-major) of the symmetric d x d matrix A. */
static int sym_eig(const double *A, int d, double *w, double *V) {
  double *M = V ? V : malloc((size_t)d * d * sizeof(double));
  if (!M) return qdm_fail(QDM_ENOMEM, "eigen-decomposition: out of memory for d = %d", d);
  memcpy(M, A, (size_t)d * d * sizeof(double));
  lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, V ? 'V' : 'N', 'U', d, M, d, w);
  if (!V) free(M);
  if (info) return qdm_fail(QDM_EINVAL, "eigen-decomposition failed (LAPACKE_dsyevd info %d, d = %d)", (int)info, d);
  return QDM_OK;
}

static int finite_all(const double *x, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i])) return 0;
  return 1;
}

int qdm_sqrtm_psd(const double *A, int d, double *S) {
  if (!A || !S) return qdm_fail(QDM_EINVAL, "qdm_sqrtm_psd: A and S must be non-NULL");
  if (d < 1) return qdm_fail(QDM_EINVAL, "qdm_sqrtm_psd: d = %d, expected >= 1", d);
  if (!finite_all(A, (size_t)d * d)) return qdm_fail(QDM_EINVAL, "qdm_sqrtm_psd: A has a non-finite entry");
  double *V = malloc((size_t)d * d * sizeof(double)), *w = malloc((size_t)d * sizeof(double));
  double *VL = malloc((size_t)d * d * sizeof(double));
  int err = !V || !w || !VL ? qdm_fail(QDM_ENOMEM, "qdm_sqrtm_psd: out of memory for d = %d", d) : QDM_OK;
  if (!err) err = sym_eig(A, d, w, V);
  if (!err) {
    /* S = (V L^1/4)(V L^1/4)^T with L clipped at 0: symmetric by construction */
    for (int i = 0; i < d; i++)
      for (int j = 0; j < d; j++) VL[(size_t)i * d + j] = V[(size_t)i * d + j] * sqrt(sqrt(fmax(w[j], 0.0)));
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, d, d, 1.0, VL, d, 0.0, S, d);
    for (int i = 0; i < d; i++)
      for (int j = 0; j < i; j++) S[(size_t)i * d + j] = S[(size_t)j * d + i];
  }
  free(V); free(w); free(VL);
  return err;
}

int qdm_frechet(const double *mu1, const double *S1, const double *mu2, const double *S2, int d, double *fd) {
  if (!mu1 || !S1 || !mu2 || !S2 || !fd) return qdm_fail(QDM_EINVAL, "qdm_frechet: every argument must be non-NULL");
  if (d < 1) return qdm_fail(QDM_EINVAL, "qdm_frechet: d = %d, expected >= 1", d);
  size_t dd = (size_t)d * d;
  double *R = malloc(dd * sizeof(double)), *T = malloc(dd * sizeof(double)), *M = malloc(dd * sizeof(double));
  double *w = malloc((size_t)d * sizeof(double));
  int err = !R || !T || !M || !w ? qdm_fail(QDM_ENOMEM, "qdm_frechet: out of memory for d = %d", d) : QDM_OK;
  if (!err) err = qdm_sqrtm_psd(S1, d, R);
  if (!err) {
    /* M = R S2 R, symmetrised against rounding before the eigen-solver */
    cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, d, d, 1.0, R, d, S2, d, 0.0, T, d);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, d, d, 1.0, T, d, R, d, 0.0, M, d);
    for (int i = 0; i < d; i++)
      for (int j = 0; j < i; j++) M[(size_t)i * d + j] = M[(size_t)j * d + i] = 0.5 * (M[(size_t)i * d + j] + M[(size_t)j * d + i]);
    err = sym_eig(M, d, w, NULL);
  }
  if (!err) {
    double mean2 = 0, tr = 0, trs = 0;
    for (int i = 0; i < d; i++) {
      mean2 += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]);
      tr += S1[(size_t)i * d + i] + S2[(size_t)i * d + i];
      trs += sqrt(fmax(w[i], 0.0));
    }
    double v = mean2 + tr - 2 * trs;
    *fd = v > 0 ? v : 0;
  }
  free(R); free(T); free(M); free(w);
  return err;
}

int qdm_frechet_sets(const double *X1, int n1, const double *X2, int n2, int d, double *fd) {
  if (!X1 || !X2 || !fd) return qdm_fail(QDM_EINVAL, "qdm_frechet_sets: X1, X2 and fd must be non-NULL");
  if (n1 < 2 || n2 < 2 || d < 1)
    return qdm_fail(QDM_EINVAL, "qdm_frechet_sets: need >= 2 rows per set and d >= 1 (got %d, %d, d = %d)", n1, n2, d);
  size_t dd = (size_t)d * d;
  double *m1 = malloc(d * sizeof(double)), *m2 = malloc(d * sizeof(double));
  double *C1 = malloc(dd * sizeof(double)), *C2 = malloc(dd * sizeof(double));
  int err = !m1 || !m2 || !C1 || !C2 ? qdm_fail(QDM_ENOMEM, "qdm_frechet_sets: out of memory") : QDM_OK;
  if (!err) err = qdm_mean_cov(X1, n1, d, m1, C1);
  if (!err) err = qdm_mean_cov(X2, n2, d, m2, C2);
  if (!err) err = qdm_frechet(m1, C1, m2, C2, d, fd);
  free(m1); free(m2); free(C1); free(C2);
  return err;
}

/* KL(p_i || p_y) = sum_c p_ic (log p_ic - log p_yc), with 0 log 0 = 0. */
int qdm_classifier_score(const double *probs, int n, int C, double *score) {
  if (!probs || !score) return qdm_fail(QDM_EINVAL, "qdm_classifier_score: probs and score must be non-NULL");
  if (n < 1 || C < 1) return qdm_fail(QDM_EINVAL, "qdm_classifier_score: n and C must be >= 1 (got %d, %d)", n, C);
  double *py = calloc(C, sizeof(double));
  if (!py) return qdm_fail(QDM_ENOMEM, "qdm_classifier_score: out of memory");
  for (int i = 0; i < n; i++)
    for (int c = 0; c < C; c++) py[c] += probs[(size_t)i * C + c] / n;
  double kl = 0;
  for (int i = 0; i < n; i++)
    for (int c = 0; c < C; c++) {
      double p = probs[(size_t)i * C + c];
      if (p > 0) kl += p * (log(p) - log(py[c]));
    }
  free(py);
  *score = exp(kl / n);
  return QDM_OK;
}

int qdm_class_histogram(const double *probs, int n, int C, long *hist) {
  if (!probs || !hist) return qdm_fail(QDM_EINVAL, "qdm_class_histogram: probs and hist must be non-NULL");
  if (n < 0 || C < 1) return qdm_fail(QDM_EINVAL, "qdm_class_histogram: n >= 0 and C >= 1 expected (got %d, %d)", n, C);
  memset(hist, 0, (size_t)C * sizeof(long));
  for (int i = 0; i < n; i++) {
    const double *p = probs + (size_t)i * C;
    int best = 0;
    for (int c = 1; c < C; c++)
      if (p[c] > p[best]) best = c;
    hist[best]++;
  }
  return QDM_OK;
}
