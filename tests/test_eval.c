/* test_eval.c -- the evaluation layer against values that do not come from
 * it: hand-computed statistics and neighbours, closed-form Frechet
 * distances of Gaussians, analytic square roots, central finite differences
 * for every backward function, and a classifier that must learn a task
 * whose answer is known. No data files. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "qdm/eval.h"
#include "qdm/io.h"
#include "qdm/qsim.h"

static qdm_rng rng;

static void randu(double *x, size_t n, double lo, double hi) {
  for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * qdm_rng_uniform(&rng);
}

/* ---- layers: hand values and finite differences ---- */

static void test_softmax_xent(void) {
  /* logits (0, log 3): p = (1/4, 3/4); label 1 -> loss -log(3/4) */
  double z[2] = {0, log(3.0)}, p[2], g[2], loss;
  uint8_t y[1] = {1};
  CHECK(qdm_softmax_xent(&loss, p, g, z, y, 1, 2) == QDM_OK, "softmax_xent runs");
  CHECK_NEAR(loss, -log(0.75), 1e-14, "xent of (0, log 3), label 1");
  CHECK_NEAR(p[0], 0.25, 1e-14, "softmax p0");
  CHECK_NEAR(g[0], 0.25, 1e-14, "dlogit0 = p0 - 0");
  CHECK_NEAR(g[1], -0.25, 1e-14, "dlogit1 = p1 - 1");
  /* large logits do not overflow */
  double zb[2] = {1000, 0};
  uint8_t y0[1] = {0};
  CHECK(qdm_softmax_xent(&loss, NULL, NULL, zb, y0, 1, 2) == QDM_OK && loss < 1e-300 + 1e-12, "xent with logit 1000 is ~0");
  /* finite differences on a batch */
  enum { B = 3, C = 5 };
  double L[B * C], dL[B * C], lp, lm;
  uint8_t yy[B] = {4, 0, 2};
  randu(L, B * C, -2, 2);
  qdm_softmax_xent(&loss, NULL, dL, L, yy, B, C);
  double worst = 0;
  for (int i = 0; i < B * C; i++) {
    double s = L[i], h = 1e-5;
    L[i] = s + h; qdm_softmax_xent(&lp, NULL, NULL, L, yy, B, C);
    L[i] = s - h; qdm_softmax_xent(&lm, NULL, NULL, L, yy, B, C);
    L[i] = s;
    worst = fmax(worst, fabs((lp - lm) / (2 * h) - dL[i]));
  }
  CHECK(worst < 1e-9, "softmax_xent backward vs central differences: max error %g", worst);
  uint8_t bad[1] = {7};
  CHECK(qdm_softmax_xent(&loss, NULL, NULL, z, bad, 1, 2) == QDM_EINVAL, "label out of range rejected");
}

/* L = sum(y .* R) so dL/dy = R; every gradient checked by central differences */
static double conv_loss(const double *x, const double *W, const double *b, const double *R, int B, int H, int Wd, int Ci, int Co) {
  double *y = malloc((size_t)B * H * Wd * Co * sizeof(double)), *cols = malloc((size_t)B * H * Wd * 9 * Ci * sizeof(double));
  qdm_conv3x3_forward(y, cols, x, W, b, B, H, Wd, Ci, Co);
  double s = 0;
  for (int i = 0; i < B * H * Wd * Co; i++) s += y[i] * R[i];
  free(y);
  free(cols);
  return s;
}

static double fd_worst(double *v, int n, const double *g, double (*f)(void *), void *ctx) {
  double worst = 0;
  for (int i = 0; i < n; i++) {
    double s = v[i], h = 1e-6;
    v[i] = s + h;
    double lp = f(ctx);
    v[i] = s - h;
    double lm = f(ctx);
    v[i] = s;
    worst = fmax(worst, fabs((lp - lm) / (2 * h) - g[i]));
  }
  return worst;
}

typedef struct { double *x, *W, *b, *R; int B, H, Wd, Ci, Co; } conv_ctx;
static double conv_f(void *p) {
  conv_ctx *c = p;
  return conv_loss(c->x, c->W, c->b, c->R, c->B, c->H, c->Wd, c->Ci, c->Co);
}

static void test_conv(void) {
  /* all-ones 3x3 kernel on a constant image v: 9v inside, 6v on edges, 4v in corners */
  double x1[16], W1[9], y1[16], cols1[16 * 9];
  for (int i = 0; i < 16; i++) x1[i] = 2.0;
  for (int i = 0; i < 9; i++) W1[i] = 1.0;
  qdm_conv3x3_forward(y1, cols1, x1, W1, NULL, 1, 4, 4, 1, 1);
  CHECK_NEAR(y1[0], 8.0, 1e-15, "corner = 4 v");
  CHECK_NEAR(y1[1], 12.0, 1e-15, "edge = 6 v");
  CHECK_NEAR(y1[5], 18.0, 1e-15, "interior = 9 v");
  /* kernel index (3 di + dj) Cin + ci: a kernel with only (di, dj) = (0, 1)
   * set reads the pixel above, so y(i, j) = x(i - 1, j) */
  double W2[9] = {0, 1, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 16; i++) x1[i] = i;
  qdm_conv3x3_forward(y1, cols1, x1, W2, NULL, 1, 4, 4, 1, 1);
  CHECK(y1[0] == 0 && y1[4 + 2] == x1[2] && y1[15] == x1[11], "kernel (0,1) reads the row above");

  enum { B = 2, H = 4, Wd = 6, Ci = 2, Co = 3 };
  double x[B * H * Wd * Ci], W[Co * 9 * Ci], b[Co], R[B * H * Wd * Co];
  double dx[B * H * Wd * Ci], dW[Co * 9 * Ci] = {0}, db[Co] = {0};
  double cols[B * H * Wd * 9 * Ci], dcols[B * H * Wd * 9 * Ci];
  randu(x, sizeof x / sizeof *x, -1, 1);
  randu(W, sizeof W / sizeof *W, -1, 1);
  randu(b, Co, -1, 1);
  randu(R, sizeof R / sizeof *R, -1, 1);
  double y[B * H * Wd * Co];
  qdm_conv3x3_forward(y, cols, x, W, b, B, H, Wd, Ci, Co);
  CHECK(qdm_conv3x3_backward(dx, dW, db, dcols, R, cols, W, B, H, Wd, Ci, Co) == QDM_OK, "conv backward runs");
  conv_ctx c = {x, W, b, R, B, H, Wd, Ci, Co};
  double ex = fd_worst(x, B * H * Wd * Ci, dx, conv_f, &c);
  double eW = fd_worst(W, Co * 9 * Ci, dW, conv_f, &c);
  double eb = fd_worst(b, Co, db, conv_f, &c);
  CHECK(ex < 1e-8 && eW < 1e-8 && eb < 1e-8, "conv3x3 backward vs central differences: dx %g, dW %g, db %g", ex, eW, eb);
  CHECK(qdm_conv3x3_backward(dx, dW, db, NULL, R, cols, W, B, H, Wd, Ci, Co) == QDM_EINVAL, "dx without dcols rejected");
}

typedef struct { double *x, *R; int B, H, W, C; } pool_ctx;
static double pool_f(void *p) {
  pool_ctx *c = p;
  int m = c->B * c->H * c->W * c->C / 4, *arg = malloc(m * sizeof(int));
  double *y = malloc(m * sizeof(double)), s = 0;
  qdm_maxpool2_forward(y, arg, c->x, c->B, c->H, c->W, c->C);
  for (int i = 0; i < m; i++) s += y[i] * c->R[i];
  free(arg);
  free(y);
  return s;
}

static void test_maxpool(void) {
  /* one 4x4 channel: maxima of each 2x2 block by hand */
  double x[16] = {1, 5, 2, 0, 3, 4, 8, 1, 0, 0, 6, 7, -1, 2, 9, 3}, y[4];
  int arg[4];
  qdm_maxpool2_forward(y, arg, x, 1, 4, 4, 1);
  CHECK(y[0] == 5 && y[1] == 8 && y[2] == 2 && y[3] == 9, "maxpool values %g %g %g %g", y[0], y[1], y[2], y[3]);
  CHECK(arg[0] == 1 && arg[1] == 6 && arg[2] == 13 && arg[3] == 14, "maxpool argmax indices");
  enum { B = 2, H = 4, W = 6, C = 3 };
  double xx[B * H * W * C], R[B * H * W * C / 4], dx[B * H * W * C], yy[B * H * W * C / 4];
  int aa[B * H * W * C / 4];
  randu(xx, sizeof xx / sizeof *xx, -1, 1); /* distinct values: no ties */
  randu(R, sizeof R / sizeof *R, -1, 1);
  qdm_maxpool2_forward(yy, aa, xx, B, H, W, C);
  qdm_maxpool2_backward(dx, R, aa, B, H, W, C);
  pool_ctx c = {xx, R, B, H, W, C};
  double e = fd_worst(xx, B * H * W * C, dx, pool_f, &c);
  CHECK(e < 1e-8, "maxpool backward vs central differences: %g", e);
  CHECK(qdm_maxpool2_forward(yy, aa, xx, 1, 3, 4, 1) == QDM_EINVAL, "odd height rejected");
}

/* ---- statistics ---- */

static void test_mean_cov(void) {
  double X[6] = {1, 2, 3, 6, 5, 4}, mu[2], S[4];
  CHECK(qdm_mean_cov(X, 3, 2, mu, S) == QDM_OK, "mean_cov runs");
  /* deviations (-2,-2), (0,2), (2,0): sums 8, 4, 8 over n - 1 = 2 */
  CHECK(mu[0] == 3 && mu[1] == 4, "mean (3, 4)");
  CHECK_NEAR(S[0], 4, 1e-14, "var x");
  CHECK_NEAR(S[1], 2, 1e-14, "cov xy");
  CHECK_NEAR(S[2], 2, 1e-14, "cov yx");
  CHECK_NEAR(S[3], 4, 1e-14, "var y");
  CHECK(qdm_mean_cov(X, 1, 2, mu, S) == QDM_EINVAL, "one row rejected");
}

static void test_sqrtm(void) {
  double D[4] = {4, 0, 0, 9}, S[4];
  qdm_sqrtm_psd(D, 2, S);
  CHECK_NEAR(S[0], 2, 1e-14, "sqrt diag 4");
  CHECK_NEAR(S[3], 3, 1e-14, "sqrt diag 9");
  CHECK_NEAR(S[1], 0, 1e-14, "sqrt diag off-diagonal");
  /* [[2,1],[1,2]] = V diag(3,1) V^T: sqrt = ((sqrt3 + 1)/2) I + ((sqrt3 - 1)/2) (J - I) */
  double A2[4] = {2, 1, 1, 2};
  qdm_sqrtm_psd(A2, 2, S);
  CHECK_NEAR(S[0], (sqrt(3.0) + 1) / 2, 1e-14, "sqrt [[2,1],[1,2]] diagonal");
  CHECK_NEAR(S[1], (sqrt(3.0) - 1) / 2, 1e-14, "sqrt [[2,1],[1,2]] off-diagonal");
  /* random SPD 12 x 12: S symmetric and S S = A */
  enum { d = 12 };
  double Bm[d * d], A[d * d], R[d * d], SS[d * d];
  randu(Bm, d * d, -1, 1);
  for (int i = 0; i < d; i++)
    for (int j = 0; j < d; j++) {
      double s = i == j ? 0.1 : 0;
      for (int k = 0; k < d; k++) s += Bm[i * d + k] * Bm[j * d + k];
      A[i * d + j] = s;
    }
  CHECK(qdm_sqrtm_psd(A, d, R) == QDM_OK, "sqrtm runs");
  double es = 0, ea = 0;
  for (int i = 0; i < d; i++)
    for (int j = 0; j < d; j++) {
      double s = 0;
      for (int k = 0; k < d; k++) s += R[i * d + k] * R[k * d + j];
      SS[i * d + j] = s;
      es = fmax(es, fabs(R[i * d + j] - R[j * d + i]));
      ea = fmax(ea, fabs(SS[i * d + j] - A[i * d + j]));
    }
  CHECK(es < 1e-13 && ea < 1e-11, "sqrtm squares back: asymmetry %g, |S S - A| %g", es, ea);
  A[1] = NAN;
  CHECK(qdm_sqrtm_psd(A, d, R) == QDM_EINVAL, "NaN entry rejected");
}

static void test_frechet(void) {
  /* diagonal covariances: ||mu1 - mu2||^2 + sum (s1 + s2 - 2 sqrt(s1 s2)) */
  enum { d = 4 };
  double m1[d] = {0, 1, 2, 3}, m2[d] = {1, 1, 0, 3}, s1[d] = {1, 2, 0.5, 4}, s2[d] = {4, 2, 2, 0.25};
  double S1[d * d] = {0}, S2[d * d] = {0}, fd, want = 0;
  for (int i = 0; i < d; i++) {
    S1[i * d + i] = s1[i];
    S2[i * d + i] = s2[i];
    want += (m1[i] - m2[i]) * (m1[i] - m2[i]) + s1[i] + s2[i] - 2 * sqrt(s1[i] * s2[i]);
  }
  CHECK(qdm_frechet(m1, S1, m2, S2, d, &fd) == QDM_OK, "frechet runs");
  CHECK_NEAR(fd, want, 1e-12, "FD of diagonal Gaussians = closed form");
  CHECK(qdm_frechet(m1, S1, m1, S1, d, &fd) == QDM_OK && fd < 1e-12, "FD of a Gaussian with itself = 0 (got %g)", fd);
  /* non-commuting 2 x 2: tr (S1 S2)^1/2 = sqrt(tr M + 2 sqrt(det M)), M = S1 S2
   * (the eigenvalues of M are real, >= 0, and (sqrt l1 + sqrt l2)^2 = tr M + 2 sqrt(l1 l2)) */
  double A[4] = {2, 0.7, 0.7, 1}, Bm[4] = {1, -0.4, -0.4, 3}, z[2] = {0.5, -1}, o[2] = {0, 0};
  double M[4] = {A[0] * Bm[0] + A[1] * Bm[2], A[0] * Bm[1] + A[1] * Bm[3], A[2] * Bm[0] + A[3] * Bm[2], A[2] * Bm[1] + A[3] * Bm[3]};
  double trM = M[0] + M[3], detM = M[0] * M[3] - M[1] * M[2];
  double want2 = 0.25 + 1 + (A[0] + A[3] + Bm[0] + Bm[3]) - 2 * sqrt(trM + 2 * sqrt(detM));
  qdm_frechet(z, A, o, Bm, 2, &fd);
  CHECK_NEAR(fd, want2, 1e-12, "FD of non-commuting 2x2 covariances = closed form");
  /* sets: identical sets give 0; a shifted copy gives exactly ||shift||^2 */
  enum { n = 50, f = 6 };
  double X[n * f], Y[n * f];
  randu(X, n * f, -1, 1);
  for (int i = 0; i < n * f; i++) Y[i] = X[i] + (i % f == 2 ? 0.5 : 0);
  CHECK(qdm_frechet_sets(X, n, X, n, f, &fd) == QDM_OK && fd < 1e-10, "FD of identical sets = 0 (got %g)", fd);
  qdm_frechet_sets(X, n, Y, n, f, &fd);
  CHECK_NEAR(fd, 0.25, 1e-10, "FD of a set and its shifted copy = shift^2");
}

static void test_score_hist(void) {
  enum { n = 8, C = 4 };
  double P[n * C] = {0}, s;
  for (int i = 0; i < n; i++) P[i * C + i % C] = 1; /* one-hot, balanced */
  qdm_classifier_score(P, n, C, &s);
  CHECK_NEAR(s, 4, 1e-12, "score of confident balanced predictions = C");
  long h[C];
  qdm_class_histogram(P, n, C, h);
  CHECK(h[0] == 2 && h[1] == 2 && h[2] == 2 && h[3] == 2, "histogram 2 per class");
  for (int i = 0; i < n * C; i++) P[i] = i % C == 1 ? 1 : 0; /* all class 1 */
  qdm_classifier_score(P, n, C, &s);
  CHECK_NEAR(s, 1, 1e-12, "score of a one-class set = 1");
  qdm_class_histogram(P, n, C, h);
  CHECK(h[1] == n && h[0] == 0, "histogram: all in class 1");
  /* two classes at p = (3/4, 1/4) and (1/4, 3/4), balanced: KL = 3/4 log 3/2 + 1/4 log 1/2 */
  double Q[4] = {0.75, 0.25, 0.25, 0.75};
  qdm_classifier_score(Q, 2, 2, &s);
  CHECK_NEAR(s, exp(0.75 * log(1.5) + 0.25 * log(0.5)), 1e-12, "score of soft predictions by hand");
}

/* ---- neighbours ---- */

static void test_knn(void) {
  double X[4] = {0, 1, 3, 7}, r[4];
  qdm_knn_radius(X, 4, 1, 1, r);
  CHECK(r[0] == 1 && r[1] == 1 && r[2] == 2 && r[3] == 4, "k=1 radii of {0,1,3,7}: %g %g %g %g", r[0], r[1], r[2], r[3]);
  qdm_knn_radius(X, 4, 1, 2, r);
  CHECK(r[0] == 3 && r[1] == 2 && r[2] == 3 && r[3] == 6, "k=2 radii of {0,1,3,7}: %g %g %g %g", r[0], r[1], r[2], r[3]);
  double D[3] = {2, 2, 5};
  qdm_knn_radius(D, 3, 1, 1, r);
  CHECK(r[0] == 0 && r[1] == 0 && r[2] == 3, "duplicates are each other's neighbours");
  CHECK(qdm_knn_radius(X, 4, 1, 4, r) == QDM_EINVAL, "k >= n rejected");

  /* real {0,1,2,3} (k=1 radii 1), generated {0.5, 10} (radii 9.5):
   * precision 1/2 (10 is outside), recall 1 (every real within 9.5 of 0.5) */
  double R[4] = {0, 1, 2, 3}, G[2] = {0.5, 10}, p, q;
  qdm_precision_recall(R, 4, G, 2, 1, 1, &p, &q);
  CHECK_NEAR(p, 0.5, 1e-15, "precision by hand");
  CHECK_NEAR(q, 1.0, 1e-15, "recall by hand");
  enum { n = 60, f = 5 };
  double A[n * f], Rep[n * f];
  randu(A, n * f, -1, 1);
  qdm_precision_recall(A, n, A, n, f, 3, &p, &q);
  CHECK(p == 1 && q == 1, "identical sets: precision = recall = 1 (got %g, %g)", p, q);
  /* one repeated real image: its manifold is a point, so recall = 1/n */
  for (int i = 0; i < n; i++) memcpy(Rep + i * f, A + 7 * f, f * sizeof(double));
  qdm_precision_recall(A, n, Rep, n, f, 3, &p, &q);
  CHECK(p == 1 && fabs(q - 1.0 / n) < 1e-15, "one repeated image: precision 1, recall 1/n (got %g, %g)", p, q);

  double Qy[2] = {0, 10}, Ry[2] = {1, 4}, m, per[2];
  qdm_nn_distance(Qy, 2, Ry, 2, 1, 0, &m, per);
  CHECK(per[0] == 1 && per[1] == 6 && m == 3.5, "nearest distances by hand");
  double Q1[1] = {1};
  qdm_nn_distance(Q1, 1, Ry, 2, 1, 1, &m, NULL);
  CHECK(m == 3, "skip_zero: leave-one-out distance");
}

/* ---- canonical images ---- */

/* The trap that gives pure noise precision 1.0: one real outlier far from
 * the others has a k-NN ball that reaches far, and a generated set that
 * collapsed into it is "all inside the real manifold". In the plane: 50
 * reals on a unit circle around 0, one at (20, 0); 50 generated points at
 * (10, 0) +- 0.01. The outlier's 3-NN radius is about 19, so its ball holds
 * them all (precision 1) and no circle point's ball (radius < 0.5) does.
 * Then density = 50 / (3 * 50) = 1/3 and coverage = 1/51 exactly, and the
 * warning rule of qdm_eval_warnings flags it. */
static void test_precision_trap(void) {
  enum { NR = 51, NG = 50 };
  double real[NR * 2], gen[NG * 2], real2[NR * 2];
  for (int i = 0; i < NR - 1; i++) {
    real[2 * i] = cos(2 * M_PI * i / (NR - 1));
    real[2 * i + 1] = sin(2 * M_PI * i / (NR - 1));
    real2[2 * i] = cos(2 * M_PI * (i + 0.5) / (NR - 1));
    real2[2 * i + 1] = sin(2 * M_PI * (i + 0.5) / (NR - 1));
  }
  real[2 * (NR - 1)] = 20;
  real[2 * (NR - 1) + 1] = 0;
  real2[2 * (NR - 1)] = 0;
  real2[2 * (NR - 1) + 1] = 0;
  for (int i = 0; i < NG; i++) {
    gen[2 * i] = 10 + 0.01 * cos(i);
    gen[2 * i + 1] = 0.01 * sin(i);
  }
  double p, rc, dn, cv, pf, rf, df, cf;
  CHECK(qdm_precision_recall(real, NR, gen, NG, 2, 3, &p, &rc) == QDM_OK, "precision/recall");
  CHECK(qdm_density_coverage(real, NR, gen, NG, 2, 3, &dn, &cv) == QDM_OK, "density/coverage");
  CHECK(p == 1 && rc == 0, "the collapsed set: precision %g = 1, recall %g = 0", p, rc);
  CHECK_NEAR(dn, 1.0 / 3, 1e-15, "density = 1/k");
  CHECK_NEAR(cv, 1.0 / NR, 1e-15, "coverage = 1/51");
  /* the floor: another real set of the same shape */
  CHECK(qdm_precision_recall(real, NR, real2, NR, 2, 3, &pf, &rf) == QDM_OK &&
            qdm_density_coverage(real, NR, real2, NR, 2, 3, &df, &cf) == QDM_OK,
        "floors");
  qdm_eval_result r;
  memset(&r, 0, sizeof r);
  r.precision = p, r.recall = rc, r.density = dn, r.coverage = cv;
  r.precision_floor = pf, r.recall_floor = rf, r.density_floor = df, r.coverage_floor = cf;
  CHECK(pf <= 1 && cf > 0.5 && (qdm_eval_warnings(&r) & QDM_EVAL_WARN_PRECISION),
        "flagged: precision %g vs floor %g, coverage %g vs floor %g", p, pf, cv, cf);
  r.precision = pf, r.recall = rf, r.density = df, r.coverage = cf;
  CHECK(qdm_eval_warnings(&r) == 0, "the floor itself is not flagged");
  double bad;
  CHECK(qdm_density_coverage(real, NR, gen, NG, 2, NR, &bad, &bad) == QDM_EINVAL, "k >= nr rejected");
}

static void test_canonical(void) {
  float c28[28 * 28], out[256], out2[256];
  for (int i = 0; i < 28 * 28; i++) c28[i] = 0.3f;
  CHECK(qdm_eval_canonical(c28, 1, 28, 28, out) == QDM_OK, "canonical runs");
  int ones = 1;
  for (int i = 0; i < 256; i++) ones &= out[i] == 1.0f;
  CHECK(ones, "a constant image becomes all ones (bilinear keeps constants, max scaling)");
  /* a 16x16 image on the byte grid with max 1 is a fixed point; scaling it changes nothing */
  float g[256], g3[256];
  for (int i = 0; i < 256; i++) g[i] = (float)((i * 37) % 256) / 255.0f;
  g[5] = 1.0f;
  for (int i = 0; i < 256; i++) g3[i] = 3 * g[i];
  qdm_eval_canonical(g, 1, 16, 16, out);
  qdm_eval_canonical(g3, 1, 16, 16, out2);
  int fixed = 1, same = 1;
  for (int i = 0; i < 256; i++) {
    fixed &= out[i] == g[i];
    same &= out2[i] == out[i];
  }
  CHECK(fixed, "byte-grid 16x16 image with max 1 is a fixed point");
  CHECK(same, "canonical form is scale invariant");
  float z[256] = {0};
  qdm_eval_canonical(z, 1, 16, 16, out);
  CHECK(out[0] == 0 && out[255] == 0, "a zero image stays zero");
}

/* ---- the classifier ---- */

/* 4 classes: a bright 5x5 square in one quadrant, on noise */
static void synth(qdm_dataset *d, int n, int classes) {
  d->n = n;
  d->h = d->w = 16;
  d->x = malloc((size_t)n * 256 * sizeof(float));
  d->y = malloc(n);
  for (int i = 0; i < n; i++) {
    int c = i % classes, oi = 2 + 8 * (c / 2), oj = 2 + 8 * (c % 2);
    d->y[i] = (uint8_t)c;
    float *x = d->x + (size_t)i * 256;
    for (int k = 0; k < 256; k++) x[k] = (float)(0.3 * qdm_rng_uniform(&rng));
    for (int a = 0; a < 5; a++)
      for (int b = 0; b < 5; b++) x[(oi + a) * 16 + oj + b] = 1.0f;
  }
}

static void test_classifier(const char *dir) {
  qdm_dataset tr, va;
  synth(&tr, 256, 4);
  synth(&va, 128, 4);
  qdm_classifier_cfg g = {16, 4, 4, 8, 16};
  qdm_classifier_train_opts o;
  qdm_classifier_train_opts_default(&o);
  o.epochs = 8;
  o.batch = 16;
  o.lr = 5e-3;
  o.quiet = 1;
  qdm_classifier *c = qdm_classifier_new(&g, 3);
  CHECK(c != NULL, "classifier_new");
  double a0, a1;
  qdm_classifier_accuracy(c, &va, &a0);
  CHECK(qdm_classifier_train(c, &tr, &va, &o, &a1) == QDM_OK, "classifier trains: %s", qdm_errmsg());
  CHECK(a1 >= 0.95, "small CNN learns a separable 4-class task: held-out accuracy %.3f (untrained %.3f)", a1, a0);
  /* the MLP variant too */
  qdm_classifier_cfg gm = {16, 4, 0, 0, 16};
  qdm_classifier *m = qdm_classifier_new(&gm, 4);
  double am;
  qdm_classifier_train(m, &tr, &va, &o, &am);
  CHECK(am >= 0.95, "MLP learns it too: %.3f", am);
  qdm_classifier_free(m);
  /* save and load give the same predictions and features */
  char path[4200];
  snprintf(path, sizeof path, "%.4000s/clf.safetensors", dir);
  CHECK(qdm_classifier_save(c, path, NULL) == QDM_OK, "save: %s", qdm_errmsg());
  qdm_classifier *l = NULL;
  CHECK(qdm_classifier_load(path, &l) == QDM_OK && l, "load: %s", qdm_errmsg());
  if (l) {
    double p1[8 * 4], p2[8 * 4], f1[8 * 16], f2[8 * 16];
    qdm_classifier_predict(c, va.x, 8, p1, f1);
    qdm_classifier_predict(l, va.x, 8, p2, f2);
    CHECK(!memcmp(p1, p2, sizeof p1) && !memcmp(f1, f2, sizeof f1), "loaded classifier predicts identically");
    qdm_classifier_free(l);
  }
  qdm_classifier_cfg bad = {16, 4, 4, 0, 16};
  CHECK(qdm_classifier_new(&bad, 1) == NULL, "c1 without c2 rejected");

  /* the whole evaluation: a set of one repeated image covers one class and has recall ~ 0 */
  qdm_dataset rep = {64, 16, 16, malloc(64 * 256 * sizeof(float)), NULL};
  for (int i = 0; i < 64; i++) memcpy(rep.x + i * 256, va.x + 256, 256 * sizeof(float));
  qdm_eval_opts eo;
  qdm_eval_opts_default(&eo);
  qdm_eval_result r;
  CHECK(qdm_eval_sets(c, &rep, &va, &tr, &eo, &r) == QDM_OK, "eval_sets runs: %s", qdm_errmsg());
  long top = 0;
  for (int k = 0; k < r.classes; k++) top = r.class_histogram[k] > top ? r.class_histogram[k] : top;
  CHECK(top == 64 && r.modes == 1, "one repeated image: one class in the histogram (max %ld, modes %d)", top, r.modes);
  CHECK(r.class_histogram[va.y[1]] == 64, "and it is the image's class");
  CHECK(r.n == 64 && r.recall <= 1.0 / 64 + 1e-15, "recall of a repeated image <= 1/n (got %g)", r.recall);
  CHECK(r.classifier_score < 1 + 1e-9, "classifier score of one image = 1 (got %g)", r.classifier_score);
  CHECK(r.fid > r.fid_floor, "FD of a repeated image above the real floor (%g vs %g)", r.fid, r.fid_floor);
  /* one image can fill at most the few k-NN balls that hold it */
  CHECK(r.coverage <= 4.0 / r.n && r.coverage < 0.5 * r.coverage_floor,
        "repeated image: coverage %g (at most 4/n), far below its floor %g", r.coverage, r.coverage_floor);
  CHECK(r.warnings & QDM_EVAL_WARN_FEW_MODES, "repeated image: the mode-collapse warning (0x%x)", r.warnings);
  CHECK(strstr(qdm_eval_warning(QDM_EVAL_WARN_PRECISION), "precision") && !*qdm_eval_warning(8), "warning texts");
  /* the real subsets A and B do not depend on the reference file's order:
   * the same images reversed give the same numbers, bit for bit */
  qdm_dataset rv = {va.n, 16, 16, malloc((size_t)va.n * 256 * sizeof(float)), malloc(va.n)};
  for (int i = 0; i < va.n; i++) {
    memcpy(rv.x + (size_t)i * 256, va.x + (size_t)(va.n - 1 - i) * 256, 256 * sizeof(float));
    rv.y[i] = va.y[va.n - 1 - i];
  }
  qdm_eval_result r1, r2;
  CHECK(qdm_eval_sets(c, &tr, &va, NULL, &eo, &r1) == QDM_OK && qdm_eval_sets(c, &tr, &rv, NULL, &eo, &r2) == QDM_OK,
        "eval against a reversed reference");
  CHECK(r1.fid == r2.fid && r1.fid_floor == r2.fid_floor && r1.precision == r2.precision && r1.recall_floor == r2.recall_floor,
        "reference in reverse order: FD %.17g vs %.17g, floor %.17g vs %.17g", r1.fid, r2.fid, r1.fid_floor, r2.fid_floor);
  CHECK(r1.per_class && !memcmp(r1.class_fid, r2.class_fid, sizeof r1.class_fid) &&
            !memcmp(r1.class_recall, r2.class_recall, sizeof r1.class_recall),
        "reference in reverse order: the same per-class numbers");
  qdm_dataset_free(&rv);
  /* another real set of the same distribution: no warning */
  CHECK(qdm_eval_sets(c, &tr, &va, NULL, &eo, &r) == QDM_OK && r.warnings == 0 && r.coverage > 0.5,
        "real vs real: no warning (0x%x), coverage %g", r.warnings, r.coverage);
  /* pure noise: whatever its precision, coverage is near 0 and a high
   * precision is flagged */
  qdm_dataset nz = {64, 16, 16, malloc(64 * 256 * sizeof(float)), NULL};
  for (int i = 0; i < 64 * 256; i++) nz.x[i] = (float)qdm_rng_uniform(&rng);
  CHECK(qdm_eval_sets(c, &nz, &va, NULL, &eo, &r) == QDM_OK, "noise evaluated");
  CHECK(r.coverage < 0.5 * r.coverage_floor && (r.precision < r.precision_floor || (r.warnings & QDM_EVAL_WARN_PRECISION)),
        "noise: coverage %g (floor %g), precision %g (floor %g) flagged if high (0x%x)", r.coverage, r.coverage_floor,
        r.precision, r.precision_floor, r.warnings);
  qdm_dataset_free(&nz);
  CHECK(qdm_eval_sets(c, &rep, &va, &tr, &eo, &r) == QDM_OK, "eval_sets again");
  /* memorisation: copies of training images sit at distance 0 from them */
  qdm_dataset cp = {64, 16, 16, malloc(64 * 256 * sizeof(float)), tr.y};
  memcpy(cp.x, tr.x, 64 * 256 * sizeof(float));
  qdm_eval_sets(c, &cp, &va, &tr, &eo, &r);
  CHECK(r.nn_distance == 0 && r.nn_distance_heldout > 0.5, "copies of training images: nn distance 0 (held-out %g)", r.nn_distance_heldout);
  CHECK(r.label_accuracy > 0.95, "copies carry their labels (accuracy %g)", r.label_accuracy);
  /* per class: a real set carrying its labels sits at its floor class by
   * class; the same images with every label moved to the next class are
   * far from the real images of the label they carry, and classified as
   * their label almost never. The overall label accuracy is the per-class
   * ones weighted by the classes' counts. */
  qdm_eval_result pc, mis;
  CHECK(qdm_eval_sets(c, &tr, &va, NULL, &eo, &pc) == QDM_OK && pc.per_class, "per-class breakdown: %s", qdm_errmsg());
  qdm_dataset sh = {tr.n, 16, 16, tr.x, malloc(tr.n)};
  for (int i = 0; i < tr.n; i++) sh.y[i] = (uint8_t)((tr.y[i] + 1) % 4);
  CHECK(qdm_eval_sets(c, &sh, &va, NULL, &eo, &mis) == QDM_OK && mis.per_class, "per class, labels shifted");
  double wsum = 0;
  for (int k = 0; k < 4; k++) {
    long nk = 0;
    for (int i = 0; i < tr.n; i++) nk += tr.y[i] == k;
    wsum += pc.class_label_accuracy[k] * nk / tr.n;
    CHECK(pc.class_n[k] == 16, "class %d: m_c = min(64 generated, 32 real / 2) = 16 (got %d)", k, pc.class_n[k]);
    CHECK(pc.class_fid[k] < 3 * pc.class_fid_floor[k] && pc.class_recall[k] > 0.5,
          "class %d of a real set: FD %g near its floor %g, recall %g", k, pc.class_fid[k], pc.class_fid_floor[k], pc.class_recall[k]);
    CHECK(mis.class_fid[k] > 10 * mis.class_fid_floor[k] && mis.class_label_accuracy[k] < 0.05 && mis.class_recall[k] < 0.1,
          "class %d, wrong labels: FD %g vs floor %g, label accuracy %g, recall %g", k, mis.class_fid[k], mis.class_fid_floor[k],
          mis.class_label_accuracy[k], mis.class_recall[k]);
  }
  CHECK(fabs(wsum - pc.label_accuracy) < 1e-12, "per-class label accuracies weighted by counts %.15g = overall %.15g", wsum,
        pc.label_accuracy);
  free(sh.y);
  eo.k = 64;
  CHECK(qdm_eval_sets(c, &cp, &va, &tr, &eo, &r) == QDM_EINVAL, "k >= n rejected");
  free(cp.x);
  qdm_dataset_free(&rep);
  qdm_classifier_free(c);
  qdm_dataset_free(&tr);
  qdm_dataset_free(&va);
}

/* Classifier files whose settings ask for far more memory than the file
 * holds: refused, naming the file, before anything is sized by them. */
static void test_classifier_file_sizes(const char *dir) {
  char path[4200];
  snprintf(path, sizeof path, "%.4000s/huge.safetensors", dir);
  double w[4] = {0};
  qdm_tensor t[1] = {{"fc2.bias", 1, {2, 0, 0, 0}, w, NULL}};
  /* side 256 with 1024 channels: 481 GB of activations for a 128-image chunk */
  const char *big_act[] = {"format", "qdm-classifier", "side", "256", "classes", "2", "c1", "1024", "c2", "1",
                           "hidden", "1", NULL};
  CHECK(qdm_safetensors_write(path, t, 1, big_act) == QDM_OK, "write: %s", qdm_errmsg());
  qdm_classifier *c = NULL;
  int rc = qdm_classifier_load(path, &c);
  CHECK(rc == QDM_EFORMAT && !c && strstr(qdm_errmsg(), path) && strstr(qdm_errmsg(), "expected at most 512 MiB"),
        "activations beyond the cap refused: rc %d '%s'", rc, qdm_errmsg());
  /* an MLP on 256x256 with 65536 features: 4.3e9 parameters (34 GB), the
   * file has 2 numbers */
  const char *big_par[] = {"format", "qdm-classifier", "side", "256", "classes", "2", "c1", "0", "c2", "0",
                           "hidden", "65536", NULL};
  CHECK(qdm_safetensors_write(path, t, 1, big_par) == QDM_OK, "write: %s", qdm_errmsg());
  rc = qdm_classifier_load(path, &c);
  CHECK(rc == QDM_EFORMAT && !c && strstr(qdm_errmsg(), path) && strstr(qdm_errmsg(), "'fc1.weight'"),
        "parameters the file does not hold refused: rc %d '%s'", rc, qdm_errmsg());
  /* a setting past int: not silently wrapped to a small one (2^32 + 16 = 16 mod 2^32) */
  const char *wrap[] = {"format", "qdm-classifier", "side", "4294967312", "classes", "2", "c1", "0", "c2", "0",
                        "hidden", "1", NULL};
  CHECK(qdm_safetensors_write(path, t, 1, wrap) == QDM_OK, "write: %s", qdm_errmsg());
  rc = qdm_classifier_load(path, &c);
  CHECK(rc == QDM_EFORMAT && strstr(qdm_errmsg(), "'side'") && strstr(qdm_errmsg(), "4294967312"),
        "side 2^32 + 16 refused: rc %d '%s'", rc, qdm_errmsg());
}

/* qdm classifier train on a class-sorted file: the held-out images are a
 * seeded, class-stratified choice, so they are the same images as from the
 * interleaved file and every class is trained on. (The last 25% of the
 * sorted file would be class 3 alone, never seen in training: accuracy 0.) */
static void write_idx(const char *d, const qdm_dataset *s, const int *perm) {
  float *x = malloc((size_t)s->n * 256 * sizeof(float));
  uint8_t *y = malloc(s->n);
  for (int i = 0; i < s->n; i++) {
    memcpy(x + (size_t)i * 256, s->x + (size_t)perm[i] * 256, 256 * sizeof(float));
    y[i] = s->y[perm[i]];
  }
  char p[4200];
  qdm_mkdirs(d);
  snprintf(p, sizeof p, "%.4000s/train-images-idx3-ubyte", d);
  CHECK(qdm_idx_write_images(p, x, s->n, 16, 16) == QDM_OK, "write %s", p);
  snprintf(p, sizeof p, "%.4000s/train-labels-idx1-ubyte", d);
  CHECK(qdm_idx_write_labels(p, y, s->n) == QDM_OK, "write %s", p);
  free(x);
  free(y);
}

static void test_classifier_sorted_file(const char *dir) {
  enum { N = 240 };
  qdm_dataset s;
  synth(&s, N, 4); /* image i has class i % 4 */
  int inter[N], sorted[N];
  for (int i = 0; i < N; i++) {
    inter[i] = i;
    sorted[i] = (i % 60) * 4 + i / 60; /* all of class 0, then 1, ... */
  }
  char ds[4200], di[4200];
  snprintf(ds, sizeof ds, "%.4000s/clf-sorted", dir);
  snprintf(di, sizeof di, "%.4000s/clf-inter", dir);
  write_idx(ds, &s, sorted);
  write_idx(di, &s, inter);
  qdm_dataset_free(&s);
  qdm_classifier_cfg g = {16, 4, 0, 0, 16};
  qdm_classifier_train_opts o;
  qdm_classifier_train_opts_default(&o);
  o.epochs = 6;
  o.batch = 16;
  o.lr = 5e-3;
  o.quiet = 1;
  qdm_classifier *a = NULL, *b = NULL;
  double acc_s = -1, acc_i = -1;
  int ns = 0, ni = 0;
  CHECK(qdm_classifier_fit(ds, 0.25, &g, &o, &a, &acc_s, &ns) == QDM_OK, "fit on the sorted file: %s", qdm_errmsg());
  CHECK(qdm_classifier_fit(di, 0.25, &g, &o, &b, &acc_i, &ni) == QDM_OK, "fit on the interleaved file: %s", qdm_errmsg());
  CHECK(ns == 180 && ni == 180, "180 training images from each (got %d, %d)", ns, ni);
  CHECK(acc_s >= 0.95, "held-out accuracy on the class-sorted file %.3f (a held-out tail of one class gives 0)", acc_s);
  CHECK(acc_s == acc_i, "same held-out images and training images from both orders: accuracy %.17g vs %.17g", acc_s,
        acc_i);
  qdm_classifier_free(a);
  qdm_classifier_free(b);
}

int main(void) {
  qdm_rng_seed(&rng, 12345);
  char tmpl[] = "/tmp/qdm_test_eval.XXXXXX", dir[4096];
  const char *base = getenv("QDM_TEST_DIR");
  if (base) {
    snprintf(dir, sizeof dir, "%s", base);
    if (qdm_mkdirs(dir)) return 1;
  } else {
    if (!mkdtemp(tmpl)) return 1;
    snprintf(dir, sizeof dir, "%s", tmpl);
  }
  test_softmax_xent();
  test_conv();
  test_maxpool();
  test_mean_cov();
  test_sqrtm();
  test_frechet();
  test_score_hist();
  test_knn();
  test_canonical();
  test_precision_trap();
  test_classifier(dir);
  test_classifier_file_sizes(dir);
  test_classifier_sorted_file(dir);
  return check_done();
}
