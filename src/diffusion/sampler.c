/* sampler.c -- reverse-process steps (report 2.1.2, 2.1.4). The model is a
 * batched callback so this layer never depends on the model; every step
 * asks it once for the whole batch at one t and converts its prediction to
 * what the step needs (mean, x0 or eps). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
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

/* out (B x D) = the model's prediction at t, converted to `want`; with
 * bounds, through x0 clamped into them (qdm_denoiser). */
static int predict_as(const qdm_schedule *s, const qdm_denoiser *m, const double *z, int t,
                      const int *labels, int B, int D, qdm_pred_kind want, double *out) {
  int rc = m->fn(m->ctx, z, B, D, t, labels, out);
  if (rc) return rc;
  if (!m->x0_lo && !m->x0_hi) return qdm_pred_convert_t(out, want, out, m->kind, z, s, t, (size_t)B * D);
  rc = qdm_pred_convert_t(out, QDM_PRED_X0, out, m->kind, z, s, t, (size_t)B * D);
  for (int r = 0; !rc && r < B; r++)
    for (int i = 0; i < D; i++) {
      double *v = out + (size_t)r * D + i;
      if (m->x0_lo && *v < m->x0_lo[i]) *v = m->x0_lo[i];
      if (m->x0_hi && *v > m->x0_hi[i]) *v = m->x0_hi[i];
    }
  return rc ? rc : qdm_pred_convert_t(out, want, out, QDM_PRED_X0, z, s, t, (size_t)B * D);
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

/* One Euler(-Maruyama) substep of the reverse SDE (noise != 0) or of the
 * probability-flow ODE (noise == 0, half the score), eq. (8) with dt < 0:
 * z <- z - [f - k g^2 score] |dt| + noise g sqrt|dt| n, f = -beta z / 2,
 * g^2 |dt| = beta_t h, score = -eps_hat / sqrt(1 - ab_t), k = 1 or 1/2. */
static int euler_substep(double *z, const qdm_schedule *s, const qdm_denoiser *m, int t, double h, double k,
                         int noise, const int *labels, int B, int D, qdm_rng *rng, double *work) {
  int rc = predict_as(s, m, z, t, labels, B, D, QDM_PRED_EPS, work);
  if (rc) return rc;
  double bh = s->beta[t] * h, inv = 1.0 / s->sqrt_1mab[t], sd = noise ? sqrt(bh) : 0.0;
  size_t n = (size_t)B * D;
  for (size_t i = 0; i < n; i++) {
    double score = -work[i] * inv;
    z[i] += bh * (0.5 * z[i] + k * score) + (noise ? sd * qdm_rng_normal(rng) : 0.0);
  }
  return QDM_OK;
}

int qdm_step_sde(double *z, const qdm_schedule *s, const qdm_denoiser *m, int t, int substeps,
                 const int *labels, int B, int D, qdm_rng *rng, double *work) {
  int rc = check("qdm_step_sde", z, s, m, t, B, D, work);
  if (rc) return rc;
  if (substeps < 1 || substeps > 10000) return qdm_fail(QDM_EINVAL, "qdm_step_sde: substeps = %d, expected 1..10000", substeps);
  if ((t > 1 || substeps > 1) && !rng) return qdm_fail(QDM_EINVAL, "qdm_step_sde: rng must be non-NULL");
  for (int j = 0; j < substeps && !rc; j++)
    rc = euler_substep(z, s, m, t, 1.0 / substeps, 1.0, t > 1 || j < substeps - 1, labels, B, D, rng, work);
  return rc;
}

int qdm_step_ode(double *z, const qdm_schedule *s, const qdm_denoiser *m, int t, int substeps,
                 const int *labels, int B, int D, double *work) {
  int rc = check("qdm_step_ode", z, s, m, t, B, D, work);
  if (rc) return rc;
  if (substeps < 1 || substeps > 10000) return qdm_fail(QDM_EINVAL, "qdm_step_ode: substeps = %d, expected 1..10000", substeps);
  for (int j = 0; j < substeps && !rc; j++) rc = euler_substep(z, s, m, t, 1.0 / substeps, 0.5, 0, labels, B, D, NULL, work);
  return rc;
}

int qdm_sampler_times(const qdm_sampler_cfg *cfg, int T, int *t) {
  if (!cfg || !t || T < 1) return -qdm_fail(QDM_EINVAL, "qdm_sampler_times: NULL argument or T = %d < 1", T);
  if ((unsigned)cfg->kind > QDM_SAMPLER_ODE) return -qdm_fail(QDM_EINVAL, "sampler kind %d is not a sampler", (int)cfg->kind);
  int S = cfg->kind == QDM_SAMPLER_DDIM && cfg->steps ? cfg->steps : T;
  if (S < 1 || S > T) return -qdm_fail(QDM_EINVAL, "sampler steps = %d: expected 0 (all) or 1..%d", cfg->steps, T);
  if (cfg->kind != QDM_SAMPLER_DDIM && cfg->steps && cfg->steps != T)
    return -qdm_fail(QDM_EINVAL, "sampler steps = %d: only DDIM visits a subsequence of the %d steps", cfg->steps, T);
  if (!(cfg->eta >= 0 && cfg->eta <= 10)) return -qdm_fail(QDM_EINVAL, "sampler eta = %g: expected 0..10", cfg->eta);
  if (cfg->substeps < 0 || cfg->substeps > 10000)
    return -qdm_fail(QDM_EINVAL, "sampler substeps = %d: expected 0..10000", cfg->substeps);
  /* t_k = ceil(k T / S): t_S = T, strictly decreasing, t_0 = 0 */
  for (int k = S; k >= 0; k--) t[S - k] = (int)(((long long)k * T + S - 1) / S);
  return S;
}

int qdm_sampler_step(double *z, const qdm_schedule *s, const qdm_denoiser *m, const qdm_sampler_cfg *cfg,
                     int t, int t_prev, const int *labels, int B, int D, qdm_rng *rng, double *work) {
  if (!cfg) return qdm_fail(QDM_EINVAL, "qdm_sampler_step: cfg must be non-NULL");
  int sub = cfg->substeps > 0 ? cfg->substeps : 1, rc;
  if (cfg->kind != QDM_SAMPLER_DDIM && t_prev != t - 1)
    return qdm_fail(QDM_EINVAL, "qdm_sampler_step: this sampler steps from t to t - 1 (got %d -> %d)", t, t_prev);
  switch (cfg->kind) {
  case QDM_SAMPLER_MEAN: return qdm_step_mean(z, s, m, t, labels, B, D, cfg->renorm, work);
  case QDM_SAMPLER_DDPM: rc = qdm_step_ddpm(z, s, m, t, labels, B, D, rng, work); break;
  case QDM_SAMPLER_DDIM: rc = qdm_step_ddim(z, s, m, t, t_prev, cfg->eta, labels, B, D, rng, work); break;
  case QDM_SAMPLER_SDE: rc = qdm_step_sde(z, s, m, t, sub, labels, B, D, rng, work); break;
  case QDM_SAMPLER_ODE: rc = qdm_step_ode(z, s, m, t, sub, labels, B, D, work); break;
  default: return qdm_fail(QDM_EINVAL, "qdm_sampler_step: unknown sampler kind %d", (int)cfg->kind);
  }
  if (!rc && cfg->renorm) renorm_rows(z, B, D);
  return rc;
}

int qdm_sample(double *z, const qdm_schedule *s, const qdm_denoiser *m,
               const qdm_sampler_cfg *cfg, const int *labels, int B, int D, qdm_rng *rng,
               double *work) {
  if (!cfg) return qdm_fail(QDM_EINVAL, "qdm_sample: cfg must be non-NULL");
  if (!s || !s->alpha_bar) return qdm_fail(QDM_EINVAL, "qdm_sample: schedule must be initialised");
  int *t = malloc(((size_t)s->T + 1) * sizeof *t);
  if (!t) return qdm_fail(QDM_ENOMEM, "qdm_sample: out of memory");
  int n = qdm_sampler_times(cfg, s->T, t), rc = n < 0 ? -n : QDM_OK;
  for (int k = 0; k < n && !rc; k++) rc = qdm_sampler_step(z, s, m, cfg, t[k], t[k + 1], labels, B, D, rng, work);
  free(t);
  return rc;
}

/* ---------------- the variational bound (eqs. 4-5) ---------------- */

int qdm_vlb_estimate(const qdm_schedule *s, const qdm_denoiser *m, const double *x0, const int *labels, int B, int D,
                     qdm_rng *rng, double *work, qdm_vlb *out) {
  if (!s || !s->alpha_bar || !m || !m->fn || !x0 || !rng || !work || !out || B < 1 || D < 1)
    return qdm_fail(QDM_EINVAL, "qdm_vlb_estimate: NULL argument or B = %d, D = %d < 1", B, D);
  size_t n = (size_t)B * D;
  double *xt = work, *mu = work + n, *pred = work + 2 * n;
  int T = s->T, rc = QDM_OK;
  memset(out, 0, sizeof *out);
  /* L_T: KL(N(sqrt(ab) x0, 1 - ab) || N(0, 1)) per value, summed over D */
  double abT = s->alpha_bar[T];
  for (size_t i = 0; i < n; i++) out->prior += 0.5 * (abT * x0[i] * x0[i] + (1 - abT) - 1 - log(1 - abT));
  for (int t = 1; t <= T && !rc; t++) {
    qdm_rng_normals(rng, xt, n);
    for (size_t i = 0; i < n; i++) xt[i] = s->sqrt_ab[t] * x0[i] + s->sqrt_1mab[t] * xt[i];
    if ((rc = predict_as(s, m, xt, t, labels, B, D, QDM_PRED_MEAN, pred))) break;
    double acc = 0;
    if (t == 1) { /* L_0: the Gaussian decoder with variance beta_1 */
      for (size_t i = 0; i < n; i++) acc += (x0[i] - pred[i]) * (x0[i] - pred[i]);
      out->decoder += acc / (2 * s->beta[1]) + 0.5 * (double)n * log(2 * M_PI * s->beta[1]);
    } else {
      for (size_t i = 0; i < n; i++) mu[i] = s->post_c0[t] * x0[i] + s->post_ct[t] * xt[i];
      for (size_t i = 0; i < n; i++) acc += (mu[i] - pred[i]) * (mu[i] - pred[i]);
      out->diffusion += acc / (2 * s->post_var[t]);
    }
  }
  out->prior /= B;
  out->diffusion /= B;
  out->decoder /= B;
  out->total = out->prior + out->diffusion + out->decoder;
  out->rows = B;
  return rc;
}
