/* forward.c -- the forward process in closed form (report eq. 2), the DDPM
 * posterior mean, and the three prediction targets with conversions. All
 * maps are per-element affine with per-row real coefficients. */
#include <math.h>
#include "qdm/diffusion.h"

int qdm_randn(double *out, size_t n, qdm_rng *rng) {
  if (!out || !rng) return qdm_fail(QDM_EINVAL, "qdm_randn: out and rng must be non-NULL");
  qdm_rng_normals(rng, out, n);
  return QDM_OK;
}

/* Validate the shared arguments; t values must lie in tmin..T. */
static int check(const char *fn, const qdm_schedule *s, const int *t, int B, int D, int tmin) {
  if (!s || !s->alpha_bar) return qdm_fail(QDM_EINVAL, "%s: schedule must be initialised", fn);
  if (!t) return qdm_fail(QDM_EINVAL, "%s: t must be non-NULL", fn);
  if (B <= 0 || D <= 0) return qdm_fail(QDM_EINVAL, "%s: B and D must be > 0 (got %d, %d)", fn, B, D);
  for (int r = 0; r < B; r++)
    if (t[r] < tmin || t[r] > s->T)
      return qdm_fail(QDM_EINVAL, "%s: t[%d] must be in %d..%d (got %d)", fn, r, tmin, s->T, t[r]);
  return QDM_OK;
}

int qdm_q_sample(double *xt, const qdm_schedule *s, const double *x0, const double *eps,
                 const int *t, int B, int D) {
  int rc = check("qdm_q_sample", s, t, B, D, 0);
  if (rc) return rc;
  if (!xt || !x0 || !eps) return qdm_fail(QDM_EINVAL, "qdm_q_sample: xt, x0 and eps must be non-NULL");
  for (int r = 0; r < B; r++) {
    double a = s->sqrt_ab[t[r]], c = s->sqrt_1mab[t[r]];
    size_t o = (size_t)r * D;
    for (int i = 0; i < D; i++) xt[o + i] = a * x0[o + i] + c * eps[o + i];
  }
  return QDM_OK;
}

int qdm_posterior_mean(double *mean, const qdm_schedule *s, const double *x0, const double *xt,
                       const int *t, int B, int D) {
  int rc = check("qdm_posterior_mean", s, t, B, D, 1);
  if (rc) return rc;
  if (!mean || !x0 || !xt) return qdm_fail(QDM_EINVAL, "qdm_posterior_mean: mean, x0 and xt must be non-NULL");
  for (int r = 0; r < B; r++) {
    double c0 = s->post_c0[t[r]], ct = s->post_ct[t[r]];
    size_t o = (size_t)r * D;
    for (int i = 0; i < D; i++) mean[o + i] = c0 * x0[o + i] + ct * xt[o + i];
  }
  return QDM_OK;
}

int qdm_target(double *out, const qdm_schedule *s, qdm_pred_kind kind, const double *x0,
               const double *eps, const double *xt, const int *t, int B, int D) {
  int rc = check("qdm_target", s, t, B, D, 1);
  if (rc) return rc;
  if (!out) return qdm_fail(QDM_EINVAL, "qdm_target: out must be non-NULL");
  size_t n = (size_t)B * D;
  switch (kind) {
  case QDM_PRED_EPS:
    if (!eps) return qdm_fail(QDM_EINVAL, "qdm_target: eps must be non-NULL for the eps target");
    for (size_t i = 0; i < n; i++) out[i] = eps[i];
    return QDM_OK;
  case QDM_PRED_X0:
    if (!x0) return qdm_fail(QDM_EINVAL, "qdm_target: x0 must be non-NULL for the x0 target");
    for (size_t i = 0; i < n; i++) out[i] = x0[i];
    return QDM_OK;
  case QDM_PRED_MEAN:
    return qdm_posterior_mean(out, s, x0, xt, t, B, D);
  }
  return qdm_fail(QDM_EINVAL, "qdm_target: kind must be QDM_PRED_EPS, _X0 or _MEAN (got %d)", (int)kind);
}

/* Per row the relation between (x_t, x0, eps, mu) is affine:
 *   x_t = a x0 + c eps            (eq. 2, a = sqrt(ab), c = sqrt(1-ab))
 *   mu  = c0 x0 + ct x_t          (posterior mean)
 * so any one prediction fixes the others: x0 = px x_t + pp pred. */
static void to_x0(const qdm_schedule *s, qdm_pred_kind from, int t, double *px, double *pp) {
  switch (from) {
  case QDM_PRED_EPS: *px = 1.0 / s->sqrt_ab[t]; *pp = -s->sqrt_1mab[t] / s->sqrt_ab[t]; break;
  case QDM_PRED_X0: *px = 0.0; *pp = 1.0; break;
  case QDM_PRED_MEAN: *px = -s->post_ct[t] / s->post_c0[t]; *pp = 1.0 / s->post_c0[t]; break;
  }
}
/* value of `to` = u x + v x0 */
static void from_x0(const qdm_schedule *s, qdm_pred_kind to, int t, double *ux, double *v0) {
  switch (to) {
  case QDM_PRED_EPS: *ux = 1.0 / s->sqrt_1mab[t]; *v0 = -s->sqrt_ab[t] / s->sqrt_1mab[t]; break;
  case QDM_PRED_X0: *ux = 0.0; *v0 = 1.0; break;
  case QDM_PRED_MEAN: *ux = s->post_ct[t]; *v0 = s->post_c0[t]; break;
  }
}

/* out = cx x + cp pred for one t (to == from is the exact identity). */
static void convert_coefs(const qdm_schedule *s, qdm_pred_kind to, qdm_pred_kind from, int t,
                          double *cx, double *cp) {
  if (to == from) { *cx = 0; *cp = 1; return; }
  double px = 0, pp = 1, ux = 0, v0 = 1;
  to_x0(s, from, t, &px, &pp);
  from_x0(s, to, t, &ux, &v0);
  *cx = ux + v0 * px;
  *cp = v0 * pp;
}

static int check_kinds(const char *fn, qdm_pred_kind to, qdm_pred_kind from) {
  if ((unsigned)to > QDM_PRED_MEAN || (unsigned)from > QDM_PRED_MEAN)
    return qdm_fail(QDM_EINVAL, "%s: kinds must be QDM_PRED_EPS, _X0 or _MEAN (got %d, %d)", fn, (int)to, (int)from);
  return QDM_OK;
}

int qdm_pred_convert(double *out, qdm_pred_kind to, const double *pred, qdm_pred_kind from,
                     const double *xt, const qdm_schedule *s, const int *t, int B, int D) {
  int rc = check("qdm_pred_convert", s, t, B, D, 1);
  if (rc) return rc;
  if (!out || !pred || !xt) return qdm_fail(QDM_EINVAL, "qdm_pred_convert: out, pred and xt must be non-NULL");
  if ((rc = check_kinds("qdm_pred_convert", to, from))) return rc;
  for (int r = 0; r < B; r++) {
    double cx, cp;
    convert_coefs(s, to, from, t[r], &cx, &cp);
    size_t o = (size_t)r * D;
    for (int i = 0; i < D; i++) out[o + i] = cx * xt[o + i] + cp * pred[o + i];
  }
  return QDM_OK;
}

int qdm_pred_convert_t(double *out, qdm_pred_kind to, const double *pred, qdm_pred_kind from,
                       const double *xt, const qdm_schedule *s, int t, size_t n) {
  if (!s || !s->alpha_bar) return qdm_fail(QDM_EINVAL, "qdm_pred_convert_t: schedule must be initialised");
  if (t < 1 || t > s->T) return qdm_fail(QDM_EINVAL, "qdm_pred_convert_t: t must be in 1..%d (got %d)", s->T, t);
  if (!out || !pred || !xt) return qdm_fail(QDM_EINVAL, "qdm_pred_convert_t: out, pred and xt must be non-NULL");
  int rc = check_kinds("qdm_pred_convert_t", to, from);
  if (rc) return rc;
  double cx, cp;
  convert_coefs(s, to, from, t, &cx, &cp);
  for (size_t i = 0; i < n; i++) out[i] = cx * xt[i] + cp * pred[i];
  return QDM_OK;
}

int qdm_t_stratum(int t, int T, int K) { return (int)(((long long)(t - 1) * K) / T); }

void qdm_t_stratum_bounds(int k, int T, int K, int *lo, int *hi) {
  *lo = (int)(((long long)k * T + K - 1) / K) + 1;
  *hi = (int)(((long long)(k + 1) * T + K - 1) / K);
}

/* Row o of D values: its noise eps, x_t (eq. 2) and the target of `kind`. */
static void make_row(double *xt, double *eps, double *target, const qdm_schedule *s, qdm_pred_kind kind,
                     const double *x, int t, int D, qdm_rng *rng) {
  double a = s->sqrt_ab[t], c = s->sqrt_1mab[t], c0 = s->post_c0[t], ct = s->post_ct[t];
  qdm_rng_normals(rng, xt, (size_t)D); /* the row's noise, replaced by x_t below */
  for (int k = 0; k < D; k++) {
    double e = xt[k], y = a * x[k] + c * e;
    xt[k] = y;
    if (eps) eps[k] = e;
    target[k] = kind == QDM_PRED_EPS ? e : kind == QDM_PRED_X0 ? x[k] : c0 * x[k] + ct * y;
  }
}

int qdm_make_rows_strata(double *xt, double *eps, double *target, int *t_out, const qdm_schedule *s,
                         qdm_pred_kind kind, const double *x0, int N, int D, int K, qdm_rng *rng) {
  if (!s || !s->alpha_bar) return qdm_fail(QDM_EINVAL, "qdm_make_rows: schedule must be initialised");
  if (!xt || !target || !t_out || !x0 || !rng)
    return qdm_fail(QDM_EINVAL, "qdm_make_rows: xt, target, t_out, x0 and rng must be non-NULL");
  if (N <= 0 || D <= 0) return qdm_fail(QDM_EINVAL, "qdm_make_rows: N and D must be > 0 (got %d, %d)", N, D);
  if (K < 1 || K > s->T) return qdm_fail(QDM_EINVAL, "qdm_make_rows: K = %d strata, expected 1..%d", K, s->T);
  if ((unsigned)kind > QDM_PRED_MEAN)
    return qdm_fail(QDM_EINVAL, "qdm_make_rows: kind must be QDM_PRED_EPS, _X0 or _MEAN (got %d)", (int)kind);
  for (int i = 0; i < N; i++)
    for (int k = 0; k < K; k++) {
      size_t r = (size_t)i * K + k, o = r * D;
      int lo, hi;
      qdm_t_stratum_bounds(k, s->T, K, &lo, &hi);
      int t = hi > lo ? lo + (int)(qdm_rng_u64(rng) % (uint64_t)(hi - lo + 1)) : lo;
      t_out[r] = t;
      make_row(xt + o, eps ? eps + o : NULL, target + o, s, kind, x0 + (size_t)i * D, t, D, rng);
    }
  return QDM_OK;
}

int qdm_make_rows_all_t(double *xt, double *eps, double *target, int *t_out,
                        const qdm_schedule *s, qdm_pred_kind kind, const double *x0,
                        int N, int D, qdm_rng *rng) {
  if (!s || !s->alpha_bar) return qdm_fail(QDM_EINVAL, "qdm_make_rows_all_t: schedule must be initialised");
  return qdm_make_rows_strata(xt, eps, target, t_out, s, kind, x0, N, D, s->T, rng);
}
