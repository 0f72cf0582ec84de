/* qngd.c -- quantum natural gradient descent, report section 8, eq. (26):
 * theta <- theta - eta (g + lambda I)^{-1} grad L. The metric g (from
 * src/metrics/fubini.c) is positive semi-definite but often singular
 * (redundant parameters, e.g. an RZ acting on |0>), hence the Tikhonov
 * term lambda I; g + lambda I is then positive definite and is factored
 * once by Cholesky (LAPACKE_dpotrf) and reused for `refresh` steps. A
 * block-diagonal metric factors block by block (O(sum b^3) instead of
 * O(P^3)); a diagonal one is a division. */
#include <lapacke.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/qngd.h"

int qdm_qngd_init(qdm_qngd *o, int P, int kind, int nblocks, const int *bounds, double lambda, int refresh) {
  if (!o) return qdm_fail(QDM_EINVAL, "qdm_qngd_init: optimizer is NULL");
  memset(o, 0, sizeof *o);
  if (P < 1) return qdm_fail(QDM_EINVAL, "qdm_qngd_init: P = %d parameters, expected >= 1", P);
  if (!(lambda >= 0)) return qdm_fail(QDM_EINVAL, "qdm_qngd_init: lambda = %g, expected >= 0", lambda);
  if (refresh < 1) return qdm_fail(QDM_EINVAL, "qdm_qngd_init: refresh = %d, expected >= 1", refresh);
  if (kind != QDM_METRIC_FULL && kind != QDM_METRIC_BLOCK && kind != QDM_METRIC_DIAG)
    return qdm_fail(QDM_EINVAL, "qdm_qngd_init: kind = %d, expected QDM_METRIC_FULL, _BLOCK or _DIAG", kind);
  if (kind == QDM_METRIC_BLOCK) {
    if (nblocks < 1 || !bounds)
      return qdm_fail(QDM_EINVAL, "qdm_qngd_init: block metric needs nblocks >= 1 and bounds");
    if (bounds[0] != 0 || bounds[nblocks] != P)
      return qdm_fail(QDM_EINVAL, "qdm_qngd_init: bounds must run from 0 to P = %d (got %d .. %d)", P, bounds[0],
                      bounds[nblocks]);
    for (int k = 0; k < nblocks; k++)
      if (bounds[k + 1] <= bounds[k])
        return qdm_fail(QDM_EINVAL, "qdm_qngd_init: bounds[%d] = %d <= bounds[%d] = %d", k + 1, bounds[k + 1], k,
                        bounds[k]);
  } else {
    nblocks = 1;
  }
  o->P = P;
  o->kind = kind;
  o->nblocks = nblocks;
  o->lambda = lambda;
  o->refresh = refresh;
  o->t_metric = -1;
  o->bounds = malloc((nblocks + 1) * sizeof *o->bounds);
  o->chol = malloc((size_t)P * P * sizeof *o->chol);
  o->dir = calloc(P, sizeof *o->dir);
  if (!o->bounds || !o->chol || !o->dir) {
    qdm_qngd_free(o);
    return qdm_fail(QDM_ENOMEM, "qdm_qngd_init: out of memory for %d parameters", P);
  }
  if (kind == QDM_METRIC_BLOCK) memcpy(o->bounds, bounds, (nblocks + 1) * sizeof *bounds);
  else { o->bounds[0] = 0; o->bounds[1] = P; }
  return QDM_OK;
}

void qdm_qngd_free(qdm_qngd *o) {
  if (!o) return;
  free(o->bounds);
  free(o->chol);
  free(o->dir);
  memset(o, 0, sizeof *o);
}

int qdm_qngd_due(const qdm_qngd *o) {
  if (!o || !o->chol) return 0;
  return o->t_metric < 0 || o->t - o->t_metric >= o->refresh;
}

int qdm_qngd_set_metric(qdm_qngd *o, const double *g) {
  if (!o || !o->chol) return qdm_fail(QDM_EINVAL, "qdm_qngd_set_metric: optimizer is NULL or not initialised");
  if (!g) return qdm_fail(QDM_EINVAL, "qdm_qngd_set_metric: g is NULL");
  int P = o->P;
  o->t_metric = -1;
  if (o->kind == QDM_METRIC_DIAG) {
    for (int i = 0; i < P; i++) {
      double d = g[(size_t)i * P + i] + o->lambda;
      if (!(d > 0))
        return qdm_fail(QDM_EINVAL, "qdm_qngd_set_metric: g[%d][%d] + lambda = %g is not positive (raise lambda)", i,
                        i, d);
      o->chol[(size_t)i * P + i] = d;
    }
    o->t_metric = o->t;
    return QDM_OK;
  }
  /* Small factorizations run on this thread: OpenBLAS's second thread costs
   * more to wake than a P <= 1024 Cholesky takes (docs/architecture.md, "Where the time goes"). */
  int saved = P <= 1024 ? omp_get_max_threads() : 0, e = QDM_OK;
  if (saved) omp_set_num_threads(1);
  /* Only the blocks are copied: the solve never reads anything else. */
  for (int k = 0; k < o->nblocks && !e; k++) {
    int lo = o->bounds[k], w = o->bounds[k + 1] - lo;
    for (int i = lo; i < lo + w; i++) {
      memcpy(o->chol + (size_t)i * P + lo, g + (size_t)i * P + lo, w * sizeof *g);
      o->chol[(size_t)i * P + i] += o->lambda;
    }
    lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', w, o->chol + (size_t)lo * P + lo, P);
    if (info)
      e = qdm_fail(QDM_EINVAL,
                   "qdm_qngd_set_metric: g + lambda I is not positive definite (block %d, lapack info %d; raise "
                   "lambda = %g)",
                   k, (int)info, o->lambda);
  }
  if (saved) omp_set_num_threads(saved);
  if (!e) o->t_metric = o->t;
  return e;
}

int qdm_qngd_direction(qdm_qngd *o, const double *grad, double *dir) {
  if (!o || !o->chol) return qdm_fail(QDM_EINVAL, "qdm_qngd_direction: optimizer is NULL or not initialised");
  if (!grad || !dir) return qdm_fail(QDM_EINVAL, "qdm_qngd_direction: grad or dir is NULL");
  if (o->t_metric < 0) return qdm_fail(QDM_EINVAL, "qdm_qngd_direction: no metric set (call qdm_qngd_set_metric)");
  int P = o->P;
  if (dir != grad) memcpy(dir, grad, P * sizeof *dir);
  if (o->kind == QDM_METRIC_DIAG) {
    for (int i = 0; i < P; i++) dir[i] /= o->chol[(size_t)i * P + i];
    return QDM_OK;
  }
  int saved = P <= 1024 ? omp_get_max_threads() : 0, e = QDM_OK;
  if (saved) omp_set_num_threads(1);
  for (int k = 0; k < o->nblocks && !e; k++) {
    int lo = o->bounds[k], w = o->bounds[k + 1] - lo;
    lapack_int info = LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'L', w, 1, o->chol + (size_t)lo * P + lo, P, dir + lo, 1);
    if (info) e = qdm_fail(QDM_EINVAL, "qdm_qngd_direction: dpotrs failed (info %d)", (int)info);
  }
  if (saved) omp_set_num_threads(saved);
  return e;
}

int qdm_qngd_step(qdm_qngd *o, double *theta, const double *grad, double lr) {
  if (!theta) return qdm_fail(QDM_EINVAL, "qdm_qngd_step: theta is NULL");
  if (!(lr >= 0) || lr > 1e6) return qdm_fail(QDM_EINVAL, "qdm_qngd_step: lr = %g, expected a finite value >= 0", lr);
  int e = qdm_qngd_direction(o, grad, o ? o->dir : NULL);
  if (e) return e;
  for (int i = 0; i < o->P; i++) theta[i] -= lr * o->dir[i];
  o->t++;
  return QDM_OK;
}
