/* eval_knn.c -- nearest neighbours in feature (or pixel) space: k-NN
 * radii, improved precision and recall (Kynkaanniemi et al. 2019, "Improved
 * Precision and Recall Metric for Assessing Generative Models") and the
 * nearest-training-image distances of the memorisation check.
 *
 * Squared distances come from one dgemm per block of query rows:
 * |q - r|^2 = |q|^2 + |r|^2 - 2 q.r, clamped at 0. The cancellation in that
 * form leaves about 1e-16 (|q|^2 + |r|^2) of noise, so comparisons against a
 * radius allow that much (TOL), and exact-duplicate tests use it too. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "qdm/eval.h"
#include "qdm/core.h"

#define BLOCK 256
#define TOL 1e-10

typedef struct {
  const double *Q, *R;
  int nq, nr, d;
  double *qn, *rn; /* squared norms */
  double *D2;      /* BLOCK x nr squared distances */
} dist_ctx;

static void sqnorms(const double *X, int n, int d, double *out) {
  for (int i = 0; i < n; i++) {
    double s = 0;
    for (int j = 0; j < d; j++) s += X[(size_t)i * d + j] * X[(size_t)i * d + j];
    out[i] = s;
  }
}

static int dist_init(dist_ctx *c, const double *Q, int nq, const double *R, int nr, int d) {
  memset(c, 0, sizeof *c);
  c->Q = Q; c->R = R; c->nq = nq; c->nr = nr; c->d = d;
  c->qn = malloc((size_t)nq * sizeof(double));
  c->rn = malloc((size_t)nr * sizeof(double));
  c->D2 = malloc((size_t)BLOCK * nr * sizeof(double));
  if (!c->qn || !c->rn || !c->D2) return qdm_fail(QDM_ENOMEM, "nearest neighbours: out of memory for %d x %d distances", BLOCK, nr);
  sqnorms(Q, nq, d, c->qn);
  sqnorms(R, nr, d, c->rn);
  return QDM_OK;
}

static void dist_free(dist_ctx *c) {
  free(c->qn); free(c->rn); free(c->D2);
}

/* Rows i0 .. i0 + b - 1 of the squared distance matrix into c->D2. */
static void dist_block(dist_ctx *c, int i0, int b) {
  int nr = c->nr;
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, nr, c->d, -2.0, c->Q + (size_t)i0 * c->d, c->d, c->R, c->d, 0.0,
              c->D2, nr);
  for (int i = 0; i < b; i++) {
    double *row = c->D2 + (size_t)i * nr, q = c->qn[i0 + i];
    for (int j = 0; j < nr; j++) {
      double v = row[j] + q + c->rn[j];
      row[j] = v > 0 ? v : 0;
    }
  }
}

static double sqdist(const double *a, const double *b, int d) {
  double s = 0;
  for (int k = 0; k < d; k++) s += (a[k] - b[k]) * (a[k] - b[k]);
  return s;
}

static double tol(const dist_ctx *c, int i, int j) { return TOL * (c->qn[i] + c->rn[j]); }

int qdm_knn_radius(const double *X, int n, int d, int k, double *radius) {
  if (!X || !radius) return qdm_fail(QDM_EINVAL, "qdm_knn_radius: X and radius must be non-NULL");
  if (d < 1 || k < 1 || k >= n) return qdm_fail(QDM_EINVAL, "qdm_knn_radius: need d >= 1 and 1 <= k < n (got d = %d, k = %d, n = %d)", d, k, n);
  dist_ctx c;
  double *best = malloc((size_t)k * sizeof(double));
  int err = dist_init(&c, X, n, X, n, d);
  if (!err && !best) err = qdm_fail(QDM_ENOMEM, "qdm_knn_radius: out of memory");
  for (int i0 = 0; !err && i0 < n; i0 += BLOCK) {
    int b = n - i0 < BLOCK ? n - i0 : BLOCK;
    dist_block(&c, i0, b);
    for (int i = 0; i < b; i++) {
      const double *row = c.D2 + (size_t)i * n;
      int m = 0; /* k smallest so far, ascending (insertion) */
      for (int j = 0; j < n; j++) {
        if (j == i0 + i) continue;
        double v = row[j];
        if (m == k && v >= best[k - 1]) continue;
        int p = m < k ? m++ : k - 1;
        while (p > 0 && best[p - 1] > v) { best[p] = best[p - 1]; p--; }
        best[p] = v;
      }
      radius[i0 + i] = sqrt(best[k - 1]);
    }
  }
  dist_free(&c);
  free(best);
  return err;
}

/* Fraction of query rows inside the union of balls (ref row j, radius rad[j]). */
static int coverage(const double *Q, int nq, const double *R, const double *rad, int nr, int d, double *frac) {
  dist_ctx c;
  int err = dist_init(&c, Q, nq, R, nr, d);
  long in = 0;
  for (int i0 = 0; !err && i0 < nq; i0 += BLOCK) {
    int b = nq - i0 < BLOCK ? nq - i0 : BLOCK;
    dist_block(&c, i0, b);
    for (int i = 0; i < b; i++) {
      const double *row = c.D2 + (size_t)i * nr;
      for (int j = 0; j < nr; j++)
        if (row[j] <= rad[j] * rad[j] + tol(&c, i0 + i, j)) {
          in++;
          break;
        }
    }
  }
  dist_free(&c);
  *frac = (double)in / nq;
  return err;
}

int qdm_precision_recall(const double *real, int nr, const double *gen, int ng, int d, int k, double *precision,
                         double *recall) {
  if (!real || !gen || !precision || !recall) return qdm_fail(QDM_EINVAL, "qdm_precision_recall: arguments must be non-NULL");
  if (d < 1 || k < 1 || k >= nr || k >= ng)
    return qdm_fail(QDM_EINVAL, "qdm_precision_recall: need d >= 1 and 1 <= k < both set sizes (got d = %d, k = %d, %d real, %d generated)",
                    d, k, nr, ng);
  double *rr = malloc((size_t)nr * sizeof(double)), *rg = malloc((size_t)ng * sizeof(double));
  int err = !rr || !rg ? qdm_fail(QDM_ENOMEM, "qdm_precision_recall: out of memory") : QDM_OK;
  if (!err) err = qdm_knn_radius(real, nr, d, k, rr);
  if (!err) err = qdm_knn_radius(gen, ng, d, k, rg);
  if (!err) err = coverage(gen, ng, real, rr, nr, d, precision);
  if (!err) err = coverage(real, nr, gen, rg, ng, d, recall);
  free(rr); free(rg);
  return err;
}

/* For each generated row, how many real balls hold it: density sums the
 * counts, coverage marks the balls that hold at least one. */
int qdm_density_coverage(const double *real, int nr, const double *gen, int ng, int d, int k, double *density,
                         double *cover) {
  if (!real || !gen || !density || !cover) return qdm_fail(QDM_EINVAL, "qdm_density_coverage: arguments must be non-NULL");
  if (d < 1 || k < 1 || k >= nr || ng < 1)
    return qdm_fail(QDM_EINVAL, "qdm_density_coverage: need d >= 1, ng >= 1 and 1 <= k < nr (got d = %d, k = %d, %d real, "
                    "%d generated)", d, k, nr, ng);
  double *rr = malloc((size_t)nr * sizeof(double));
  unsigned char *hit = calloc((size_t)nr, 1);
  dist_ctx c;
  memset(&c, 0, sizeof c);
  int err = !rr || !hit ? qdm_fail(QDM_ENOMEM, "qdm_density_coverage: out of memory") : QDM_OK;
  if (!err) err = qdm_knn_radius(real, nr, d, k, rr);
  if (!err) err = dist_init(&c, gen, ng, real, nr, d);
  long in = 0;
  for (int i0 = 0; !err && i0 < ng; i0 += BLOCK) {
    int b = ng - i0 < BLOCK ? ng - i0 : BLOCK;
    dist_block(&c, i0, b);
    for (int i = 0; i < b; i++) {
      const double *row = c.D2 + (size_t)i * nr;
      for (int j = 0; j < nr; j++)
        if (row[j] <= rr[j] * rr[j] + tol(&c, i0 + i, j)) {
          in++;
          hit[j] = 1;
        }
    }
  }
  if (!err) {
    long covered = 0;
    for (int j = 0; j < nr; j++) covered += hit[j];
    *density = (double)in / ((double)k * ng);
    *cover = (double)covered / nr;
  }
  dist_free(&c);
  free(rr);
  free(hit);
  return err;
}

int qdm_nn_distance(const double *query, int nq, const double *ref, int nr, int d, int skip_zero, double *mean,
                    double *per) {
  if (!query || !ref || !mean) return qdm_fail(QDM_EINVAL, "qdm_nn_distance: query, ref and mean must be non-NULL");
  if (nq < 1 || nr < 1 || d < 1) return qdm_fail(QDM_EINVAL, "qdm_nn_distance: need nq, nr, d >= 1 (got %d, %d, %d)", nq, nr, d);
  dist_ctx c;
  int err = dist_init(&c, query, nq, ref, nr, d);
  double sum = 0;
  int counted = 0;
  for (int i0 = 0; !err && i0 < nq; i0 += BLOCK) {
    int b = nq - i0 < BLOCK ? nq - i0 : BLOCK;
    dist_block(&c, i0, b);
    for (int i = 0; i < b; i++) {
      const double *row = c.D2 + (size_t)i * nr;
      double m = INFINITY;
      int best = -1;
      for (int j = 0; j < nr; j++)
        if (row[j] < m && !(skip_zero && row[j] <= tol(&c, i0 + i, j))) {
          m = row[j];
          best = j;
        }
      /* the winner's distance again, directly: exact 0 for a copy */
      double v = best < 0 ? INFINITY : sqrt(sqdist(query + (size_t)(i0 + i) * d, ref + (size_t)best * d, d));
      if (per) per[i0 + i] = v;
      if (isfinite(v)) {
        sum += v;
        counted++;
      }
    }
  }
  dist_free(&c);
  *mean = counted ? sum / counted : NAN;
  return err;
}
