/* schedule.c -- variance schedules beta_1..beta_T (report eq. 1) and every
 * coefficient derived from them: alpha_bar of eq. (2) and the posterior
 * q(x_{t-1}|x_t, x_0) used by the targets and the samplers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/diffusion.h"

#define QDM_MAX_T 1000000

/* Fill every derived array from beta[1..T] (beta[0] = 0 already set). */
static void derive(qdm_schedule *s) {
  int T = s->T;
  s->alpha[0] = 1.0;
  s->alpha_bar[0] = 1.0;
  for (int t = 1; t <= T; t++) {
    s->alpha[t] = 1.0 - s->beta[t];
    s->alpha_bar[t] = s->alpha_bar[t - 1] * s->alpha[t];
  }
  for (int t = 0; t <= T; t++) {
    s->sqrt_ab[t] = sqrt(s->alpha_bar[t]);
    s->sqrt_1mab[t] = sqrt(1.0 - s->alpha_bar[t]);
  }
  s->post_c0[0] = 1.0;
  s->post_ct[0] = 0.0;
  s->post_var[0] = 0.0;
  for (int t = 1; t <= T; t++) {
    double abp = s->alpha_bar[t - 1], den = 1.0 - s->alpha_bar[t];
    s->post_c0[t] = sqrt(abp) * s->beta[t] / den;
    s->post_ct[t] = sqrt(s->alpha[t]) * (1.0 - abp) / den;
    s->post_var[t] = s->beta[t] * (1.0 - abp) / den;
  }
}

static int alloc(qdm_schedule *s, int T, qdm_sched_kind kind) {
  memset(s, 0, sizeof *s);
  size_t n = (size_t)T + 1;
  s->mem = calloc(8 * n, sizeof(double));
  if (!s->mem) return qdm_fail(QDM_ENOMEM, "qdm_schedule: out of memory for T = %d", T);
  double *p = s->mem;
  s->beta = p; p += n;
  s->alpha = p; p += n;
  s->alpha_bar = p; p += n;
  s->sqrt_ab = p; p += n;
  s->sqrt_1mab = p; p += n;
  s->post_c0 = p; p += n;
  s->post_ct = p; p += n;
  s->post_var = p;
  s->T = T;
  s->kind = kind;
  return QDM_OK;
}

int qdm_schedule_from_betas(qdm_schedule *s, int T, const double *betas) {
  if (!s || !betas) return qdm_fail(QDM_EINVAL, "qdm_schedule_from_betas: s and betas must be non-NULL");
  if (T < 1 || T > QDM_MAX_T) return qdm_fail(QDM_EINVAL, "qdm_schedule_from_betas: T must be in 1..%d (got %d)", QDM_MAX_T, T);
  for (int t = 0; t < T; t++)
    if (!(betas[t] > 0 && betas[t] < 1))
      return qdm_fail(QDM_EINVAL, "qdm_schedule_from_betas: betas[%d] must be in (0, 1) (got %g)", t, betas[t]);
  int rc = alloc(s, T, QDM_SCHED_CUSTOM);
  if (rc) return rc;
  memcpy(s->beta + 1, betas, sizeof(double) * T);
  derive(s);
  return QDM_OK;
}

int qdm_schedule_linear(qdm_schedule *s, int T, double beta_start, double beta_end) {
  if (!s) return qdm_fail(QDM_EINVAL, "qdm_schedule_linear: s must be non-NULL");
  if (T < 1 || T > QDM_MAX_T) return qdm_fail(QDM_EINVAL, "qdm_schedule_linear: T must be in 1..%d (got %d)", QDM_MAX_T, T);
  if (!(beta_start > 0 && beta_start < 1 && beta_end > 0 && beta_end < 1))
    return qdm_fail(QDM_EINVAL, "qdm_schedule_linear: beta_start and beta_end must be in (0, 1) (got %g, %g)", beta_start, beta_end);
  int rc = alloc(s, T, QDM_SCHED_LINEAR);
  if (rc) return rc;
  /* torch.linspace: start + k (end - start)/(T - 1), k = 0..T-1 */
  for (int k = 0; k < T; k++)
    s->beta[k + 1] = T == 1 ? beta_start : beta_start + k * (beta_end - beta_start) / (T - 1);
  derive(s);
  return QDM_OK;
}

int qdm_schedule_linear_authors(qdm_schedule *s, int T, double beta_start, double beta_end) {
  if (!s) return qdm_fail(QDM_EINVAL, "qdm_schedule_linear_authors: s must be non-NULL");
  if (T < 1 || T > QDM_MAX_T) return qdm_fail(QDM_EINVAL, "qdm_schedule_linear_authors: T must be in 1..%d (got %d)", QDM_MAX_T, T);
  if (!(beta_start > 0 && beta_start < 1 && beta_end > 0 && beta_end < 1))
    return qdm_fail(QDM_EINVAL, "qdm_schedule_linear_authors: beta_start and beta_end must be in (0, 1) (got %g, %g)", beta_start, beta_end);
  int rc = alloc(s, T, QDM_SCHED_LINEAR_AUTHORS);
  if (rc) return rc;
  /* np.linspace(start, end, T + 1)[t - 1]: spacing (end - start)/T */
  for (int t = 1; t <= T; t++) s->beta[t] = beta_start + (t - 1) * (beta_end - beta_start) / T;
  derive(s);
  return QDM_OK;
}

int qdm_schedule_cosine(qdm_schedule *s, int T, double off) {
  if (!s) return qdm_fail(QDM_EINVAL, "qdm_schedule_cosine: s must be non-NULL");
  if (T < 1 || T > QDM_MAX_T) return qdm_fail(QDM_EINVAL, "qdm_schedule_cosine: T must be in 1..%d (got %d)", QDM_MAX_T, T);
  if (!(off > 0 && off < 1)) return qdm_fail(QDM_EINVAL, "qdm_schedule_cosine: offset must be in (0, 1) (got %g)", off);
  int rc = alloc(s, T, QDM_SCHED_COSINE);
  if (rc) return rc;
  /* The offset keeps beta_1 from being vanishingly small; the clip at 0.999
   * avoids the singularity at t = T where f(T) = 0. */
  double fprev = 1.0;
  for (int t = 1; t <= T; t++) {
    double c = cos(0.5 * M_PI * ((double)t / T + off) / (1.0 + off));
    double c0 = cos(0.5 * M_PI * off / (1.0 + off));
    double f = (c * c) / (c0 * c0);
    double b = 1.0 - f / fprev;
    s->beta[t] = b < 0.999 ? b : 0.999;
    fprev = f;
  }
  derive(s);
  return QDM_OK;
}

void qdm_schedule_free(qdm_schedule *s) {
  if (!s) return;
  free(s->mem);
  memset(s, 0, sizeof *s);
}
