/* targets.c -- target ensembles of pure states for the quantum diffusion
 * model of report 2.2, and what is measured on them: the forward curve
 * (eq. 10 in closed form), the reverse curve from I/d, the best fidelity
 * any single state can reach, and pictures of generated samples. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/circuits.h"
#include "qdm/data.h"
#include "qdm/nn.h"
#include "qdm/qdiff.h"

const qdm_enum_name qdm_qtarget_names[] = {
    {"digits", QDM_QTARGET_DIGITS}, {"near", QDM_QTARGET_NEAR}, {"ghz", QDM_QTARGET_GHZ}, {NULL, 0}};
const qdm_enum_name qdm_qsched_names[] = {{"cosine", QDM_QSCHED_COSINE}, {"linear", QDM_QSCHED_LINEAR}, {NULL, 0}};
const qdm_enum_name qdm_qtrain_names[] = {{"chain", QDM_QTRAIN_CHAIN}, {"step", QDM_QTRAIN_STEP}, {NULL, 0}};
const qdm_enum_name qdm_qloss_names[] = {{"fidelity", QDM_QLOSS_FIDELITY}, {"trace", QDM_QLOSS_TRACE}, {NULL, 0}};

/* K digits of one class from the IDX files in dir (train split, else
 * test), each 28x28 -> 8x8 by area averaging over the central 24x24
 * (MNIST's digits sit in a 20x20 box), so strokes survive. */
static int idx_digits(const char *dir, int digit, int K, double *img, char *src, size_t srclen) {
  char cls[8];
  snprintf(cls, sizeof cls, "%d", digit);
  const char *splits[2] = {"train", "test"};
  int rc = QDM_EINVAL;
  for (int s = 0; s < 2 && rc; s++) {
    qdm_data_opts o = {dir, splits[s], cls, K, 0, QDM_SUBSET_SEEDED, 0, NULL};
    qdm_dataset ds;
    rc = qdm_data_load(&o, &ds);
    if (rc) continue;
    if (ds.n < K || ds.h < 24 || ds.w < 24) {
      rc = qdm_fail(QDM_EINVAL, "%s: only %d images of digit %d (need %d of at least 24x24)", dir, ds.n, digit, K);
    } else {
      for (int k = 0; k < K; k++) qdm_resize_area(ds.x + (size_t)k * ds.h * ds.w, ds.h, ds.w, 3, img + 64 * k, 8, 8);
      snprintf(src, srclen, "idx:%s/%s", dir, splits[s]);
    }
    qdm_dataset_free(&ds);
  }
  return rc;
}

static int digit_targets(const qdm_qtarget_opts *o, qdm_rng *r, qdm_cplx *psi, double *img, char *src, size_t len) {
  int rc = QDM_EINVAL;
  char dir[4096];
  if (!o->synthetic && o->data) {
    if ((rc = idx_digits(o->data, o->digit, o->K, img, src, len))) return rc;
  } else if (!o->synthetic && !qdm_data_dir(dir, sizeof dir)) {
    rc = idx_digits(dir, o->digit, o->K, img, src, len);
  }
  if (rc) { /* synthetic, or no default data: the built-in glyphs */
    qdm_digit_glyphs(o->digit, o->K, r, img);
    snprintf(src, len, "synthetic");
  }
  /* amplitude encoding (eqs. 14-15): the 64 pixels, L2-normalised */
  return qdm_enc_amplitude_real(img, 64, 64, 6, o->K, psi, NULL);
}

static int check_targets(const qdm_qtarget_opts *o, const qdm_cplx *psi, const double *img) {
  const char *who = "qdm_qdiff_targets";
  if (!o || !psi) return qdm_fail(QDM_EINVAL, "%s: options and psi must be non-NULL", who);
  if (o->kind != QDM_QTARGET_DIGITS && o->kind != QDM_QTARGET_NEAR && o->kind != QDM_QTARGET_GHZ)
    return qdm_fail(QDM_EINVAL, "%s: target kind %d (expected QDM_QTARGET_DIGITS, _NEAR or _GHZ)", who, o->kind);
  if (o->K < 1) return qdm_fail(QDM_EINVAL, "%s: %d members (expected >= 1)", who, o->K);
  if (o->n < 1 || o->n > 10) return qdm_fail(QDM_EINVAL, "%s: %d qubits (expected 1..10)", who, o->n);
  if (!(o->spread >= 0) || !isfinite(o->spread))
    return qdm_fail(QDM_EINVAL, "%s: spread %g (expected a finite value >= 0)", who, o->spread);
  if (o->kind != QDM_QTARGET_DIGITS) return QDM_OK;
  if (o->n != 6) return qdm_fail(QDM_EINVAL, "%s: digit targets use 6 qubits (64 pixels), got %d", who, o->n);
  if (o->digit < 0 || o->digit > 9) return qdm_fail(QDM_EINVAL, "%s: digit %d (expected 0..9)", who, o->digit);
  if (!img) return qdm_fail(QDM_EINVAL, "%s: digit targets need img (K x 64 values)", who);
  return QDM_OK;
}

int qdm_qdiff_targets(const qdm_qtarget_opts *o, qdm_cplx *psi, double *img, char *src, size_t srclen) {
  int rc = check_targets(o, psi, img);
  if (rc) return rc;
  char none[8];
  if (!src || !srclen) src = none, srclen = sizeof none;
  int d = 1 << o->n;
  qdm_rng r;
  qdm_rng_seed(&r, o->seed ^ 0x7a5e7u);
  if (o->kind == QDM_QTARGET_DIGITS) return digit_targets(o, &r, psi, img, src, srclen);
  if (o->kind == QDM_QTARGET_NEAR) {
    /* centre c Haar-random; members c + spread e, e complex Gaussian with
     * E||e||^2 = 1, normalised */
    qdm_cplx c[1 << 10];
    qdm_rng_haar_state(&r, c, d);
    for (int k = 0; k < o->K; k++) {
      qdm_cplx *p = psi + (size_t)k * d;
      for (int i = 0; i < d; i++)
        p[i] = c[i] + o->spread * (qdm_rng_normal(&r) + I * qdm_rng_normal(&r)) / sqrt(2.0 * d);
    }
    snprintf(src, srclen, "near-haar");
    return qdm_cl2norm_forward(psi, NULL, psi, o->K, d);
  }
  /* GHZ-like: cos a |0..0> + e^{i phi} sin a |1..1>, a = pi/4 + spread N, phi = spread pi N */
  for (int k = 0; k < o->K; k++) {
    qdm_cplx *p = psi + (size_t)k * d;
    memset(p, 0, d * sizeof *p);
    double a = M_PI / 4 + o->spread * qdm_rng_normal(&r), ph = o->spread * M_PI * qdm_rng_normal(&r);
    p[0] = cos(a);
    p[d - 1] = cexp(I * ph) * sin(a);
  }
  snprintf(src, srclen, "ghz");
  return QDM_OK;
}

int qdm_qdiff_forward_curve(int n, int T, const double *alpha, const qdm_cplx *psi, int K, double *fid, double *pur) {
  if (n < 1 || n > 10 || T < 1 || K < 1 || !alpha || !psi || !fid || !pur)
    return qdm_fail(QDM_EINVAL, "qdm_qdiff_forward_curve: n = %d (1..10), T = %d, K = %d (>= 1), arrays non-NULL", n,
                    T, K);
  int d = 1 << n;
  size_t dd = (size_t)d * d;
  qdm_cplx *rho = malloc(dd * sizeof *rho);
  if (!rho) return qdm_fail(QDM_ENOMEM, "qdm_qdiff_forward_curve: out of memory");
  for (int t = 0; t <= T; t++) {
    fid[t] = pur[t] = 0;
    for (int k = 0; k < K; k++) {
      double f, p;
      qdm_dm_from_states(psi + (size_t)k * d, d, 1, rho);
      qdm_dm_depolarize(rho, d, 1, 1 - alpha[t]); /* eq. 10 */
      qdm_dm_fidelity_pure(rho, psi + (size_t)k * d, 0, d, 1, &f);
      qdm_dm_purity(rho, d, 1, &p);
      fid[t] += f / K;
      pur[t] += p / K;
    }
  }
  free(rho);
  return QDM_OK;
}

int qdm_qdiff_reverse_curve(const qdm_qdiff *m, const qdm_cplx *psi, int K, double *fid, double *pur) {
  if (!m || !m->c || !psi || K < 1 || !fid || !pur)
    return qdm_fail(QDM_EINVAL, "qdm_qdiff_reverse_curve: model, psi, fid and pur must be set, K = %d >= 1", K);
  int d = m->dim, T = m->T;
  size_t dd = (size_t)d * d;
  qdm_cplx *traj = malloc((T + 1) * dd * sizeof *traj);
  double *f = malloc(K * sizeof *f);
  if (!traj || !f) {
    free(traj);
    free(f);
    return qdm_fail(QDM_ENOMEM, "qdm_qdiff_reverse_curve: out of memory");
  }
  qdm_dm_mixed(traj + T * dd, d, 1);
  int rc = qdm_qdiff_reverse(m, traj + T * dd, traj);
  for (int t = 0; t <= T && !rc; t++) {
    double s = 0;
    for (int k = 0; k < K; k++) {
      qdm_dm_fidelity_pure(traj + t * dd, psi + (size_t)k * d, 0, d, 1, f + k);
      s += f[k] / K;
    }
    fid[t] = s;
    qdm_dm_purity(traj + t * dd, d, 1, pur + t);
  }
  free(traj);
  free(f);
  return rc;
}

int qdm_qdiff_fidelity_bound(const qdm_cplx *psi, int K, int d, double *bound) {
  if (!psi || !bound || K < 1 || d < 1 || d > 1 << 10)
    return qdm_fail(QDM_EINVAL, "qdm_qdiff_fidelity_bound: K = %d (>= 1), d = %d (1..1024), arrays non-NULL", K, d);
  qdm_cplx *S = calloc((size_t)d * d, sizeof *S);
  double *w = malloc(d * sizeof *w);
  int rc = !S || !w ? qdm_fail(QDM_ENOMEM, "qdm_qdiff_fidelity_bound: out of memory") : QDM_OK;
  for (int k = 0; k < K && !rc; k++) {
    double dF = 1.0 / K;
    rc = qdm_dm_fidelity_pure_backward(psi + (size_t)k * d, 0, d, 1, &dF, S);
  }
  if (!rc) rc = qdm_dm_eigh(S, d, w, NULL);
  if (!rc) *bound = w[d - 1];
  free(S);
  free(w);
  return rc;
}

int qdm_qdiff_sample_pictures(const qdm_qdiff *m, int ns, int npix, uint64_t seed, float *out) {
  if (!m || !m->c || ns < 0 || npix < 1 || npix > m->dim || (ns > 0 && !out))
    return qdm_fail(QDM_EINVAL, "qdm_qdiff_sample_pictures: ns = %d (>= 0), npix = %d (1..%d), model and out set", ns,
                    npix, m ? m->dim : 0);
  int d = m->dim, T = m->T;
  size_t dd = (size_t)d * d;
  qdm_cplx *traj = malloc((T + 1) * dd * sizeof *traj);
  if (!traj) return qdm_fail(QDM_ENOMEM, "qdm_qdiff_sample_pictures: out of memory");
  qdm_rng r;
  qdm_rng_seed(&r, seed);
  int rc = QDM_OK;
  for (int s = 0; s < ns && !rc; s++) {
    int j = (int)(qdm_rng_u64(&r) % (uint64_t)d);
    memset(traj + T * dd, 0, dd * sizeof *traj);
    traj[T * dd + (size_t)j * d + j] = 1;
    rc = qdm_qdiff_reverse(m, traj + T * dd, traj);
    double mx = 1e-300;
    for (int i = 0; i < npix; i++) mx = fmax(mx, sqrt(fmax(creal(traj[(size_t)i * d + i]), 0)));
    for (int i = 0; i < npix; i++)
      out[(size_t)s * npix + i] = (float)(sqrt(fmax(creal(traj[(size_t)i * d + i]), 0)) / mx);
  }
  free(traj);
  return rc;
}
