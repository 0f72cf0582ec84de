/* test_qdiff_targets.c -- the target ensembles of the quantum diffusion
 * model (report 2.2) and what is measured on them, against analytic values:
 * the GHZ ensemble's amplitudes, the near-Haar ensemble's fidelity
 * statistics (Haar: E F = 1/d between independent states; members:
 * E F ~ 1/(1 + s^2)^2 between two), the digit glyphs' size, norm and
 * strokes, area downsampling on hand-made images, the forward curve of
 * eq. 10 in closed form, the unitary reverse curve stuck at 1/d, the
 * fidelity bound of orthogonal states, and a small comparison run. */
#include <string.h>
#include "check.h"
#include "qdm/data.h"
#include "qdm/qdiff.h"
#include "tmpdir.h"

static double overlap2(const qdm_cplx *a, const qdm_cplx *b, int d) {
  qdm_cplx s = 0;
  for (int i = 0; i < d; i++) s += conj(a[i]) * b[i];
  return creal(s * conj(s));
}

static double norm2(const qdm_cplx *a, int d) { return overlap2(a, a, d) > 0 ? sqrt(overlap2(a, a, d)) : 0; }

static qdm_qtarget_opts topts(int kind, int K, int n, double spread, uint64_t seed) {
  return (qdm_qtarget_opts){kind, K, n, 3, NULL, 1, spread, seed};
}

static void test_ghz(void) {
  enum { K = 50, n = 3, d = 8 };
  qdm_cplx psi[K * d];
  char src[32];
  qdm_qtarget_opts o = topts(QDM_QTARGET_GHZ, K, n, 0, 1);
  CHECK(qdm_qdiff_targets(&o, psi, NULL, src, sizeof src) == QDM_OK && !strcmp(src, "ghz"), "ghz: %s", qdm_errmsg());
  int exact = 1;
  for (int k = 0; k < K; k++)
    for (int i = 0; i < d; i++)
      exact &= cabs(psi[k * d + i] - (i == 0 || i == d - 1 ? M_SQRT1_2 : 0)) < 1e-15;
  CHECK(exact, "spread 0: every member is (|000> + |111>) / sqrt 2");
  o.spread = 0.3;
  o.seed = 7;
  qdm_qdiff_targets(&o, psi, NULL, NULL, 0);
  int two = 1;
  double mean_p0 = 0;
  for (int k = 0; k < K; k++) {
    for (int i = 1; i < d - 1; i++) two &= psi[k * d + i] == 0;
    two &= fabs(norm2(psi + k * d, d) - 1) < 1e-14 && cimag(psi[k * d]) == 0;
    mean_p0 += creal(psi[k * d] * conj(psi[k * d])) / K;
  }
  CHECK(two, "members are cos a |000> + e^{i phi} sin a |111>, unit norm");
  /* a = pi/4 + 0.3 N: cos^2 a = (1 - sin 0.6 N) / 2 has mean 1/2 (odd in N)
   * and sd ~ 0.27, so the mean over 50 members is 1/2 +- 0.04 */
  CHECK(fabs(mean_p0 - 0.5) < 0.15, "mean |<000|psi>|^2 = %g ~ 1/2", mean_p0);
}

static void test_near(void) {
  /* independent centres (one member, spread 0, one seed each) are Haar
   * states: E |<a|b>|^2 = 1/d, sd of F about 0.19 at d = 4 */
  enum { S = 200, d = 4 };
  static qdm_cplx c[S * d];
  for (int s = 0; s < S; s++) {
    qdm_qtarget_opts o = topts(QDM_QTARGET_NEAR, 1, 2, 0, 100 + s);
    CHECK(qdm_qdiff_targets(&o, c + s * d, NULL, NULL, 0) == QDM_OK, "near: %s", qdm_errmsg());
  }
  double f = 0;
  for (int a = 0; a < S; a++)
    for (int b = a + 1; b < S; b++) f += overlap2(c + a * d, c + b * d, d) / (S * (S - 1) / 2);
  CHECK(fabs(f - 1.0 / d) < 0.04, "centres over seeds: mean pair fidelity %g ~ 1/d = 0.25", f);

  /* members c + s e with E||e||^2 = 1: two members overlap like
   * |1 + O(1/sqrt d)|^2 / (1 + s^2)^2 ~ 0.64 at s = 0.5, d = 256 */
  enum { K = 120, n = 8, D = 256 };
  static qdm_cplx psi[K * D];
  qdm_qtarget_opts o = topts(QDM_QTARGET_NEAR, K, n, 0.5, 3);
  char src[32];
  CHECK(qdm_qdiff_targets(&o, psi, NULL, src, sizeof src) == QDM_OK && !strcmp(src, "near-haar"), "near members");
  double fm = 0, nrm = 0;
  for (int a = 0; a < K; a++) {
    nrm = fmax(nrm, fabs(norm2(psi + a * D, D) - 1));
    for (int b = a + 1; b < K; b++) fm += overlap2(psi + a * D, psi + b * D, D) / (K * (K - 1) / 2);
  }
  CHECK(nrm < 1e-14, "members are unit vectors (worst %g)", nrm);
  CHECK(fabs(fm - 1 / (1.25 * 1.25)) < 0.03, "member pair fidelity %g ~ 1 / (1 + s^2)^2 = 0.64", fm);
  o.spread = 0;
  qdm_qdiff_targets(&o, psi, NULL, NULL, 0);
  CHECK(overlap2(psi, psi + (K - 1) * D, D) > 1 - 1e-13, "spread 0: all members are the centre");
  /* the best single state for identical members reaches fidelity 1 */
  double bound;
  CHECK(qdm_qdiff_fidelity_bound(psi, K, D, &bound) == QDM_OK, "bound: %s", qdm_errmsg());
  CHECK_NEAR(bound, 1, 1e-12, "bound of identical members");
}

static void test_digits(void) {
  enum { K = 40 };
  static double img[K * 64];
  static qdm_cplx psi[K * 64];
  char src[32];
  qdm_qtarget_opts o = topts(QDM_QTARGET_DIGITS, K, 6, 0, 5);
  o.digit = 1;
  CHECK(qdm_qdiff_targets(&o, psi, img, src, sizeof src) == QDM_OK && !strcmp(src, "synthetic"), "digits: %s",
        qdm_errmsg());
  double worst = 0, stroke = 0, right = 0;
  int real = 1;
  for (int k = 0; k < K; k++) {
    double s = 0;
    for (int i = 0; i < 64; i++) s += img[k * 64 + i] * img[k * 64 + i];
    for (int i = 0; i < 64; i++) {
      real &= cimag(psi[k * 64 + i]) == 0 && creal(psi[k * 64 + i]) >= 0;
      worst = fmax(worst, fabs(creal(psi[k * 64 + i]) - img[k * 64 + i] / sqrt(s)));
    }
    /* a '1' is a vertical stroke near column 3, rows 1..6; columns 6, 7 are paper */
    for (int y = 1; y <= 6; y++) stroke += img[k * 64 + y * 8 + 3] / (6 * K);
    for (int y = 0; y < 8; y++) right += (img[k * 64 + y * 8 + 6] + img[k * 64 + y * 8 + 7]) / (16 * K);
  }
  CHECK(real && worst < 1e-15, "64 amplitudes = pixels / their L2 norm (worst %g)", worst);
  CHECK(stroke > 0.4 && right < 0.1, "digit 1: ink on its stroke (%g), paper on the right (%g)", stroke, right);
  qdm_rng r1, r2;
  qdm_rng_seed(&r1, 9);
  qdm_rng_seed(&r2, 9);
  double a[64], b[64];
  qdm_digit_glyphs(4, 1, &r1, a);
  qdm_digit_glyphs(4, 1, &r2, b);
  CHECK(!memcmp(a, b, sizeof a), "glyphs are deterministic in the generator");
  CHECK(qdm_digit_glyphs(10, 1, &r1, a) == QDM_EINVAL, "digit 10 rejected");
  o.n = 5;
  CHECK(qdm_qdiff_targets(&o, psi, img, NULL, 0) == QDM_EINVAL && strstr(qdm_errmsg(), "6 qubits"), "digits need 6 qubits");
  o.n = 6;
  o.synthetic = 0;
  o.data = "/nonexistent/qdm";
  CHECK(qdm_qdiff_targets(&o, psi, img, NULL, 0) != QDM_OK && strstr(qdm_errmsg(), "/nonexistent/qdm"),
        "a named data directory that is missing is an error naming it");
}

static void test_area(void) {
  /* 28x28: the central 24x24 box starts at (2, 2); block (y, x) covers rows
   * 2 + 3y .. 4 + 3y. A 3x3 block of ones at rows/cols 5..7 is pixel (1, 1). */
  float im[28 * 28] = {0};
  for (int y = 5; y <= 7; y++)
    for (int x = 5; x <= 7; x++) im[y * 28 + x] = 1;
  im[0] = 100; /* outside the box: ignored */
  im[4 * 28 + 4] = 9; /* in block (0, 0): adds 9/9 */
  double out[64];
  CHECK(qdm_resize_area(im, 28, 28, 3, out, 8, 8) == QDM_OK, "area: %s", qdm_errmsg());
  double rest = 0;
  for (int i = 0; i < 64; i++) rest += i == 9 || i == 0 ? 0 : fabs(out[i]);
  CHECK(out[9] == 1 && out[0] == 1 && rest == 0, "block means: (1,1) = %g, (0,0) = %g, others %g", out[9], out[0], rest);
  CHECK(qdm_resize_area(im, 28, 28, 4, out, 8, 8) == QDM_EINVAL, "32x32 blocks do not fit in 28x28");
}

static void test_curves(void) {
  enum { n = 2, d = 4, T = 4, K = 3 };
  double p[T + 1], alpha[T + 1], fid[T + 1], pur[T + 1];
  qdm_qdiff_schedule(T, QDM_QSCHED_LINEAR, 0.1, 0.5, p, alpha);
  qdm_cplx psi[K * d];
  qdm_qtarget_opts o = topts(QDM_QTARGET_NEAR, K, n, 1, 2);
  qdm_qdiff_targets(&o, psi, NULL, NULL, 0);
  CHECK(qdm_qdiff_forward_curve(n, T, alpha, psi, K, fid, pur) == QDM_OK, "forward: %s", qdm_errmsg());
  for (int t = 0; t <= T; t++) {
    double a = alpha[t];
    CHECK_NEAR(fid[t], a + (1 - a) / d, 1e-13, "forward fidelity alpha + (1 - alpha)/d");
    CHECK_NEAR(pur[t], a * a + (1 - a * a) / d, 1e-13, "forward purity alpha^2 + (1 - alpha^2)/d");
  }
  qdm_qdiff u;
  qdm_qdiff_init(&u, n, 0, T, 2, NULL, p, 1.0, 4);
  CHECK(qdm_qdiff_reverse_curve(&u, psi, K, fid, pur) == QDM_OK, "reverse: %s", qdm_errmsg());
  int stuck = 1;
  for (int t = 0; t <= T; t++) stuck &= fabs(fid[t] - 1.0 / d) < 1e-13 && fabs(pur[t] - 1.0 / d) < 1e-13;
  CHECK(stuck, "a unitary reverse process from I/d keeps fidelity and purity 1/d");
  float pic[3 * d];
  CHECK(qdm_qdiff_sample_pictures(&u, 3, d, 1, pic) == QDM_OK, "pictures: %s", qdm_errmsg());
  int unit = 1;
  for (int s = 0; s < 3; s++) {
    float mx = 0;
    for (int i = 0; i < d; i++) mx = fmaxf(mx, pic[s * d + i]), unit &= pic[s * d + i] >= 0;
    unit &= fabsf(mx - 1) < 1e-6f;
  }
  CHECK(unit, "sample pictures are scaled to max 1");
  qdm_qdiff_free(&u);
  /* two orthogonal states: S = diag(1/2, 1/2, 0, 0), top eigenvalue 1/2 */
  qdm_cplx two[2 * d] = {1, 0, 0, 0, 0, I, 0, 0};
  double bound;
  qdm_qdiff_fidelity_bound(two, 2, d, &bound);
  CHECK_NEAR(bound, 0.5, 1e-13, "bound of two orthogonal states");
}

static void test_compare(void) {
  setup_dir_named("qdiff_targets");
  qdm_qdiff_compare_opts o;
  qdm_qdiff_compare_opts_default(&o);
  o.target = topts(QDM_QTARGET_DIGITS, 4, 6, 0, 1);
  o.T = 2;
  o.layers = 1;
  o.train.iters = 3;
  qdm_qdiff_compare_result r;
  CHECK(qdm_qdiff_compare_init(&o, &r) == QDM_OK, "compare init: %s", qdm_errmsg());
  CHECK(qdm_qdiff_compare_train(&o, &r) == QDM_OK, "compare train: %s", qdm_errmsg());
  CHECK(r.d == 64 && r.img && !strcmp(r.source, "synthetic"), "digit targets, 64 amplitudes");
  CHECK_NEAR(r.alpha[2], 0, 1e-15, "cosine schedule ends at alpha_T = 0");
  CHECK_NEAR(r.ru.fid[0], 1.0 / 64, 1e-12, "unitary model stays at 1/d");
  CHECK_NEAR(r.ra.fid[2], 1.0 / 64, 1e-12, "ancilla model starts at I/d");
  CHECK(r.ru.loss[2] > 0 && r.ra.loss[2] > 0, "loss curves written");
  CHECK(qdm_qdiff_compare_pictures(&r, dir, "digits", 1) == QDM_OK, "pictures: %s", qdm_errmsg());
  FILE *f = fopen(tpath("samples.png"), "rb");
  CHECK(f != NULL, "samples.png written");
  if (f) fclose(f);
  qdm_qdiff_compare_free(&r);
  o.ansatz = "nosuch";
  CHECK(qdm_qdiff_compare_init(&o, &r) == QDM_EINVAL && strstr(qdm_errmsg(), "nosuch"), "unknown ansatz named");
  o.ansatz = NULL;
  o.train.train = QDM_QTRAIN_STEP;
  o.train.loss = QDM_QLOSS_TRACE;
  CHECK(qdm_qdiff_compare_init(&o, &r) == QDM_EINVAL && strstr(qdm_errmsg(), "chain"), "step + trace rejected");
}

int main(void) {
  /* small matrices: one thread (the BLAS shares qdm's OpenMP pool), so a
   * busy machine's idle-spinning threads do not slow the test 20x */
  qdm_set_threads(1);
  test_ghz();
  test_near();
  test_digits();
  test_area();
  test_curves();
  test_compare();
  return check_done();
}
