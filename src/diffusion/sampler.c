/* sampler.c -- reverse-process steps (report 2.1.2, 2.1.4). The model is a
 * batched callback so this layer never depends on the model; every step
 * asks it once for the whole batch at one t and converts its prediction to
 * what the step needs (mean, x0 or eps). */
#include <math.h>
#include "qdm/diffusion.h"

size_t qdm_sampler_work(int B, int D) { return B > 0 && D > 0 ? (size_t)B * D : 0; }

static int check(const char *fn, double *z, const qdm_schedule *s, const qdm_denoiser *m, int t,
                 int B, int D, double *work) {
  if (!z || !work) return qdm_fail(QDM_EINVAL, "%s: z and work must be non-NULL", fn);
  if (!s || !s->alpha_bar) return qdm_fail(QDM_EINVAL, "%s: schedule must be initialised", fn);
  if (!m || !m->fn) return qdm_fail(QDM_EINVAL, "%s: denoiser callback must be non-NULL", fn);
  if ((unsigned)m->kind > QDM_PRED_MEAN) return qdm_fail(QDM_EINVAL, "%s: denoiser kind must be QDM_PRED_EPS, _X0 or _MEAN (got %d)", fn, (int)m->kind);
  if (B <= 0 || D <= 0) return qdm_fail(QDM_EINVAL, "%s: B and D must be > 0 (got %d, %d)", fn, B, D);
  if (t < 1 || t > s->T) return qdm_fail(QDM_EINVAL, "%s: t must be in 1..%d (got %d)", fn, s->T, t);
  return QDM_OK;
}

/* out (B x D) = the model's prediction at t, converted to `want`. */
static int predict_as(const qdm_schedule *s, const qdm_denoiser *m, const double *z, int t,
                      const int *labels, int B, int D, qdm_pred_kind want, double *out) {
  int rc = m->fn(m->ctx, z, B, D, t, labels, out);
  if (rc) return rc;
  return qdm_pred_convert_t(out, want, out, m->kind, z, s, t, (size_t)B * D);
}

static void renorm_rows(double *z, int B, int D) {
  for (int r = 0; r < B; r++) {
    double *x = z + (size_t)r * D, n = 0;
    for (int i = 0; i < D; i++) n += x[i] * x[i];
    n = sqrt(n);
    if (n > 0)
      for (int i = 0; i < D; i++) x[i] /= n;
  }
}

int qdm_step_mean(double *z, const qdm_schedule *s, const qdm_denoiser *m, int t,
                  const int *labels, int B, int D, int renorm, double *work) {
  int rc = check("qdm_step_mean", z, s, m, t, B, D, work);
  if (rc) return rc;
  rc = predict_as(s, m, z, t, labels, B, D, QDM_PRED_MEAN, work);
  if (rc) return rc;
  size_t n = (size_t)B * D;
  for (size_t i = 0; i < n; i++) z[i] = work[i];
  if (renorm) renorm_rows(z, B, D);
  return QDM_OK;
}

int qdm_step_ddpm(double *z, const qdm_schedule *s, const qdm_denoiser *m, int t,
                  const int *labels, int B, int D, qdm_rng *rng, double *work) {
  int rc = check("qdm_step_ddpm", z, s, m, t, B, D, work);
  if (rc) return rc;
  if (t > 1 && !rng) return qdm_fail(QDM_EINVAL, "qdm_step_ddpm: rng must be non-NULL for t > 1");
  rc = predict_as(s, m, z, t, labels, B, D, QDM_PRED_MEAN, work);
  if (rc) return rc;
  size_t n = (size_t)B * D;
  double sd = t > 1 ? sqrt(s->post_var[t]) : 0.0;
  for (size_t i = 0; i < n; i++) z[i] = work[i] + (t > 1 ? sd * qdm_rng_normal(rng) : 0.0);
  return QDM_OK;
}

int qdm_step_ddim(double *z, const qdm_schedule *s, const qdm_denoiser *m, int t, int t_prev,
                  double eta, const int *labels, int B, int D, qdm_rng *rng, double *work) {
  int rc = check("qdm_step_ddim", z, s, m, t, B, D, work);
  if (rc) return rc;
  if (t_prev < 0 || t_prev >= t) return qdm_fail(QDM_EINVAL, "qdm_step_ddim: t_prev must be in 0..%d (got %d)", t - 1, t_prev);
  if (!(eta >= 0)) return qdm_fail(QDM_EINVAL, "qdm_step_ddim: eta must be >= 0 (got %g)", eta);
  if (eta > 0 && !rng) return qdm_fail(QDM_EINVAL, "qdm_step_ddim: rng must be non-NULL when eta > 0");
  rc = predict_as(s, m, z, t, labels, B, D, QDM_PRED_X0, work);
  if (rc) return rc;
  double ab = s->alpha_bar[t], abp = s->alpha_bar[t_prev];
  double sig = eta * sqrt((1.0 - abp) / (1.0 - ab) * (1.0 - ab / abp));
  double ce = 1.0 - abp - sig * sig;
  ce = ce > 0 ? sqrt(ce) : 0.0;
  double a = s->sqrt_ab[t], c = s->sqrt_1mab[t], ap = sqrt(abp);
  size_t n = (size_t)B * D;
  for (size_t i = 0; i < n; i++) {
    double x0 = work[i], e = (z[i] - a * x0) / c; /* eps implied by x0_hat (eq. 2) */
    z[i] = ap * x0 + ce * e + (sig > 0 ? sig * qdm_rng_normal(rng) : 0.0);
  }
  return QDM_OK;
}

int qdm_step_sde(double *z, const qdm_schedule *s, const qdm_denoiser *m, int t,
                 const int *labels, int B, int D, qdm_rng *rng, double *work) {
  int rc = check("qdm_step_sde", z, s, m, t, B, D, work);
  if (rc) return rc;
  if (t > 1 && !rng) return qdm_fail(QDM_EINVAL, "qdm_step_sde: rng must be non-NULL for t > 1");
  rc = predict_as(s, m, z, t, labels, B, D, QDM_PRED_EPS, work);
  if (rc) return rc;
  /* eq. (8) with dt < 0: x <- x - [f - g^2 score] |dt| + g sqrt|dt| n,
   * f = -beta x/2, g^2 |dt| = beta_t, score = -eps/sqrt(1-ab_t). */
  double b = s->beta[t], inv = 1.0 / s->sqrt_1mab[t], sd = t > 1 ? sqrt(b) : 0.0;
  size_t n = (size_t)B * D;
  for (size_t i = 0; i < n; i++) {
    double score = -work[i] * inv;
    z[i] += b * (0.5 * z[i] + score) + (t > 1 ? sd * qdm_rng_normal(rng) : 0.0);
  }
  return QDM_OK;
}

int qdm_sample(double *z, const qdm_schedule *s, const qdm_denoiser *m,
               const qdm_sampler_cfg *cfg, const int *labels, int B, int D, qdm_rng *rng,
               double *work) {
  if (!cfg) return qdm_fail(QDM_EINVAL, "qdm_sample: cfg must be non-NULL");
  if (!s || !s->alpha_bar) return qdm_fail(QDM_EINVAL, "qdm_sample: schedule must be initialised");
  int T = s->T, rc = QDM_OK;
  switch (cfg->kind) {
  case QDM_SAMPLER_MEAN:
    for (int t = T; t >= 1 && !rc; t--) rc = qdm_step_mean(z, s, m, t, labels, B, D, cfg->renorm, work);
    return rc;
  case QDM_SAMPLER_DDPM:
  case QDM_SAMPLER_SDE:
    for (int t = T; t >= 1 && !rc; t--) {
      rc = cfg->kind == QDM_SAMPLER_DDPM ? qdm_step_ddpm(z, s, m, t, labels, B, D, rng, work)
                                         : qdm_step_sde(z, s, m, t, labels, B, D, rng, work);
      if (!rc && cfg->renorm) renorm_rows(z, B, D);
    }
    return rc;
  case QDM_SAMPLER_DDIM: {
    int S = cfg->steps ? cfg->steps : T;
    if (S < 1 || S > T) return qdm_fail(QDM_EINVAL, "qdm_sample: ddim steps must be in 0..%d (got %d)", T, cfg->steps);
    for (int k = S; k >= 1 && !rc; k--) {
      /* t_k = ceil(k T / S): t_S = T, strictly decreasing, t_0 = 0 */
      int t = (int)(((long long)k * T + S - 1) / S), tp = (int)(((long long)(k - 1) * T + S - 1) / S);
      rc = qdm_step_ddim(z, s, m, t, tp, cfg->eta, labels, B, D, rng, work);
      if (!rc && cfg->renorm) renorm_rows(z, B, D);
    }
    return rc;
  }
  }
  return qdm_fail(QDM_EINVAL, "qdm_sample: unknown sampler kind %d", (int)cfg->kind);
}
