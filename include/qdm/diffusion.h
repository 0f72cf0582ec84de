/* qdm/diffusion.h -- the DDPM maths of report 2.1: noise schedules, the
 * closed-form forward process (eq. 2), the posterior q(x_{t-1}|x_t,x_0),
 * the prediction targets (posterior mean, eps of eq. 6, x0) and the reverse
 * samplers (the authors' mean sampler, ancestral DDPM, DDIM, and the
 * reverse-time VP-SDE of eqs. 7-8 by Euler-Maruyama).
 *
 * Data are B rows of D doubles. Every coefficient here is real, so a complex
 * vector of d values is handled as its 2d interleaved doubles (qdm_cplx
 * layout): complex noise then has Re and Im each N(0,1) -- the authors'
 * convention, which is NOT torch.randn(cfloat) (that one has variance 1/2 per
 * part) -- and a row norm over the 2d doubles is the complex vector's norm.
 *
 * Time: t = 1..T are the diffusion steps, t = 0 is the data. Arrays are
 * indexed by t with beta[0] = 0 prepended (the authors' convention).
 * Buffers are the caller's; nothing here allocates except the schedule.
 * Every function returns QDM_OK or QDM_EINVAL after qdm_fail().
 */
#ifndef QDM_DIFFUSION_H
#define QDM_DIFFUSION_H

#include <stddef.h>
#include "qdm/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- schedules ---- */
typedef enum {
  QDM_SCHED_LINEAR = 0, QDM_SCHED_COSINE = 1, QDM_SCHED_CUSTOM = 2, QDM_SCHED_LINEAR_AUTHORS = 3
} qdm_sched_kind;

typedef struct {
  int T;
  qdm_sched_kind kind;
  /* all T+1 long, indexed by t = 0..T */
  double *beta;       /* beta[0] = 0 */
  double *alpha;      /* 1 - beta */
  double *alpha_bar;  /* prod_{s<=t} alpha_s; alpha_bar[0] = 1 */
  double *sqrt_ab;    /* sqrt(alpha_bar) */
  double *sqrt_1mab;  /* sqrt(1 - alpha_bar) */
  /* posterior q(x_{t-1}|x_t, x_0) = N(post_c0 x0 + post_ct x_t, post_var):
   * post_c0  = sqrt(ab_{t-1}) beta_t / (1 - ab_t),
   * post_ct  = sqrt(alpha_t) (1 - ab_{t-1}) / (1 - ab_t),
   * post_var = beta_tilde_t = beta_t (1 - ab_{t-1}) / (1 - ab_t).
   * At t = 1: c0 = 1, ct = 0, var = 0. Index 0 holds c0 = 1, ct = 0, var = 0. */
  double *post_c0, *post_ct, *post_var;
  double *mem;        /* one allocation behind all arrays */
} qdm_schedule;

/* Linear betas (Ho et al.): torch.linspace(beta_start, beta_end, T) for
 * t = 1..T. T = 10, 1e-4 .. 0.02 gives alpha_bar_10 = 0.90374. */
int qdm_schedule_linear(qdm_schedule *s, int T, double beta_start, double beta_end);
/* The authors' code: betas = insert(linspace(beta_start, beta_end, T + 1), 0, 0)
 * indexed by t = 1..T, i.e. beta_t = beta_start + (t-1)(beta_end - beta_start)/T;
 * the last linspace value is never used. T = 10, 1e-4 .. 0.02 gives
 * alpha_bar_10 = 0.91290 (their array's extra entry alpha_bar_11 = 0.89464 is
 * the "about 0.89" once quoted, which no training step reaches). */
int qdm_schedule_linear_authors(qdm_schedule *s, int T, double beta_start, double beta_end);
/* Cosine (Nichol & Dhariwal 2021): f(t) = cos^2(pi/2 (t/T + off)/(1 + off)),
 * beta_t = min(1 - f(t)/f(t-1), 0.999), alpha_bar = cumprod(1 - beta)
 * (recomputed after the clip so the arrays stay consistent). off = 0.008. */
int qdm_schedule_cosine(qdm_schedule *s, int T, double off);
/* Any betas: beta_1..beta_T given as betas[0..T-1], each in (0, 1). */
int qdm_schedule_from_betas(qdm_schedule *s, int T, const double *betas);
void qdm_schedule_free(qdm_schedule *s);

/* ---- forward process ---- */
/* n i.i.d. N(0,1) values (complex noise: pass 2 * count on the interleaved doubles). */
int qdm_randn(double *out, size_t n, qdm_rng *rng);
/* Eq. (2) per row: x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps, t[r] in 0..T.
 * xt may alias x0 or eps. Complex data: D = 2 * (complex count). */
int qdm_q_sample(double *xt, const qdm_schedule *s, const double *x0, const double *eps,
                 const int *t, int B, int D);
/* Posterior mean mu_tilde(x0, x_t) per row, t[r] in 1..T (the authors' target). */
int qdm_posterior_mean(double *mean, const qdm_schedule *s, const double *x0, const double *xt,
                       const int *t, int B, int D);

/* ---- prediction targets ---- */
typedef enum { QDM_PRED_EPS = 0, QDM_PRED_X0 = 1, QDM_PRED_MEAN = 2 } qdm_pred_kind;
/* The training target of `kind` for rows (x0, eps, x_t = q_sample(x0, eps)):
 * eps, x0, or mu_tilde(x0, x_t). t[r] in 1..T. */
int qdm_target(double *out, const qdm_schedule *s, qdm_pred_kind kind, const double *x0,
               const double *eps, const double *xt, const int *t, int B, int D);
/* Given x_t and a prediction of kind `from`, the implied value of kind `to`
 * (via x0: from eps x0 = (x_t - sqrt(1-ab) eps)/sqrt(ab); from the mean
 * x0 = (mu - post_ct x_t)/post_c0). out may alias pred or xt. t[r] in 1..T. */
int qdm_pred_convert(double *out, qdm_pred_kind to, const double *pred, qdm_pred_kind from,
                     const double *xt, const qdm_schedule *s, const int *t, int B, int D);
/* The same for n values that all share one step t (a sampling batch). */
int qdm_pred_convert_t(double *out, qdm_pred_kind to, const double *pred, qdm_pred_kind from,
                       const double *xt, const qdm_schedule *s, int t, size_t n);

/* ---- strata of steps: K contiguous groups of the T steps ----
 * Stratum k = {t : floor((t - 1) K / T) = k}, k = 0..K-1: t in lo..hi with
 * lo = ceil(k T / K) + 1, hi = ceil((k + 1) T / K) (K = T: one step each).
 * A model may share parameters within a stratum, and a batch may take one
 * step per stratum. */
int qdm_t_stratum(int t, int T, int K);
void qdm_t_stratum_bounds(int k, int T, int K, int *lo, int *hi);

/* One training batch with every image at one step of each of K strata,
 * drawn uniformly within the stratum (no draw when it holds one step).
 * Row r = i * K + k. K = T is qdm_make_rows_all_t exactly (the same rows
 * and the same generator sequence). 1 <= K <= T. */
int qdm_make_rows_strata(double *xt, double *eps, double *target, int *t_out, const qdm_schedule *s,
                         qdm_pred_kind kind, const double *x0, int N, int D, int K, qdm_rng *rng);

/* One training batch in the authors' layout: every image at every step.
 * Row r = i * T + (t - 1) for image i < N and t = 1..T. Draws eps, writes
 * xt, eps (may be NULL), target of `kind` and t_out (all N*T rows; t_out
 * N*T ints). x_t and the target are NOT renormalised here (the authors do
 * that next with qdm_l2norm/qdm_cl2norm). */
int qdm_make_rows_all_t(double *xt, double *eps, double *target, int *t_out,
                        const qdm_schedule *s, qdm_pred_kind kind, const double *x0,
                        int N, int D, qdm_rng *rng);

/* ---- reverse process: the model as a batched callback ----
 * predict(ctx, z, B, D, t, labels, out): out (B x D) = the model's prediction
 * at step t (one t for the whole batch) for rows z (B x D); labels has B
 * entries or is NULL. Return QDM_OK or an error code (passed through). */
typedef int (*qdm_predict_fn)(void *ctx, const double *z, int B, int D, int t,
                              const int *labels, double *out);
typedef struct {
  qdm_predict_fn fn;
  void *ctx;
  qdm_pred_kind kind; /* what fn predicts */
  /* NULL, or D bounds each: every prediction's implied x0 is clamped into
   * [x0_lo, x0_hi] before a step uses it (Ho et al. 2020 clip x0 to the data
   * range [-1, 1]). Data known to lie in a box then cannot be left by the
   * chain's last steps, whose residual noise would otherwise stay in the
   * image. */
  const double *x0_lo, *x0_hi;
} qdm_denoiser;

/* Each step maps z = x_t to x_{t'} in place, calling the model once.
 * work: at least qdm_sampler_work(B, D) = B * D doubles. */
size_t qdm_sampler_work(int B, int D);
/* Authors' sampler: z <- the model's posterior mean (converted if the model
 * predicts eps or x0); no noise. If renorm, every row is then scaled to unit
 * norm (the authors' unit-vector data). */
int qdm_step_mean(double *z, const qdm_schedule *s, const qdm_denoiser *m, int t,
                  const int *labels, int B, int D, int renorm, double *work);
/* Ancestral DDPM (eq. 3 with Sigma = beta_tilde): z <- mu + sqrt(beta_tilde_t) n,
 * no noise at t = 1. */
int qdm_step_ddpm(double *z, const qdm_schedule *s, const qdm_denoiser *m, int t,
                  const int *labels, int B, int D, qdm_rng *rng, double *work);
/* DDIM (Song et al. 2021) from t to t_prev < t (t_prev = 0 ends on x0_hat):
 * z <- sqrt(ab_prev) x0_hat + sqrt(1 - ab_prev - sigma^2) eps_hat + sigma n,
 * sigma = eta sqrt((1-ab_prev)/(1-ab_t)) sqrt(1 - ab_t/ab_prev).
 * eta = 0 is deterministic (rng may then be NULL). */
int qdm_step_ddim(double *z, const qdm_schedule *s, const qdm_denoiser *m, int t, int t_prev,
                  double eta, const int *labels, int B, int D, qdm_rng *rng, double *work);
/* Reverse-time VP-SDE (eqs. 7-8) by Euler-Maruyama from t to t - 1 in
 * `substeps` equal substeps of size h = 1/substeps (>= 1): f = -beta x / 2,
 * g^2 = beta with beta(t) dt = beta_t over one step, so each substep is
 *   z <- z + beta_t h (z/2 + score) + sqrt(beta_t h) n,  score = -eps_hat / sqrt(1 - ab_t),
 * the model asked at every substep (at step t: it knows integer steps only).
 * The last substep of t = 1 adds no noise (it returns the drift mean). */
int qdm_step_sde(double *z, const qdm_schedule *s, const qdm_denoiser *m, int t, int substeps,
                 const int *labels, int B, int D, qdm_rng *rng, double *work);
/* The probability-flow ODE, the reverse SDE's deterministic twin with the
 * same marginals (Song et al. 2021): dx = [f - g^2 score / 2] dt, by Euler
 * in `substeps` substeps: z <- z + beta_t h (z/2 + score/2). */
int qdm_step_ode(double *z, const qdm_schedule *s, const qdm_denoiser *m, int t, int substeps,
                 const int *labels, int B, int D, double *work);

/* Append-only: the values are stored in checkpoints by name, not number. */
typedef enum {
  QDM_SAMPLER_MEAN = 0, QDM_SAMPLER_DDPM, QDM_SAMPLER_DDIM, QDM_SAMPLER_SDE, QDM_SAMPLER_ODE
} qdm_sampler_kind;
typedef struct {
  qdm_sampler_kind kind;
  int steps;     /* DDIM: number of steps, 1..T (0 = T); the subsequence t_k = ceil(k T / steps) */
  double eta;    /* DDIM: 0 deterministic, 1 ancestral-like (Song et al.'s eta) */
  int renorm;    /* scale rows to unit norm after every step (any sampler) */
  int substeps;  /* SDE and ODE: Euler substeps per step t (0 = 1) */
} qdm_sampler_cfg;
/* The steps a sampler visits: t[0] = T > t[1] > ... > t[n] = 0; returns n
 * (the number of model steps), or a negative status on a bad cfg. t needs
 * T + 1 entries. */
int qdm_sampler_times(const qdm_sampler_cfg *cfg, int T, int *t);
/* One step of cfg's sampler from t to t_prev (consecutive entries of
 * qdm_sampler_times), including cfg->renorm. */
int qdm_sampler_step(double *z, const qdm_schedule *s, const qdm_denoiser *m, const qdm_sampler_cfg *cfg,
                     int t, int t_prev, const int *labels, int B, int D, qdm_rng *rng, double *work);
/* Runs the chosen sampler from t = T down to 0 on z, which holds the
 * starting noise x_T (the caller draws it, e.g. qdm_randn then renormalise
 * as the authors do). rng may be NULL for the mean sampler, the ODE and
 * DDIM eta = 0. */
int qdm_sample(double *z, const qdm_schedule *s, const qdm_denoiser *m,
               const qdm_sampler_cfg *cfg, const int *labels, int B, int D, qdm_rng *rng,
               double *work);

/* ---- the variational bound (eqs. 4-5) ----
 * For a model whose reverse steps are p(x_{t-1}|x_t) = N(mu_theta, sigma_t^2 I)
 * with sigma_t^2 = beta_tilde_t (the ancestral sampler's), per row x0:
 *   L_T     = KL(q(x_T|x0) || N(0, I))                              (closed form)
 *   L_{t-1} = ||mu_tilde(x_t, x0) - mu_theta(x_t, t)||^2 / (2 beta_tilde_t), t >= 2
 *   L_0     = -log N(x0; mu_theta(x_1, 1), beta_1 I)  (beta_tilde_1 = 0, so beta_1
 *             as Ho et al.; a continuous density, not their 8-bit decoder)
 * with one x_t = q_sample(x0, eps) per row and t. Values in nats per row
 * (D values), averaged over the rows. It is the bound of a continuous
 * density in the model's own data space: comparable between runs with the
 * same data representation, not with the discretised 8-bit bits/dim of
 * image papers (a different decoder on data scaled to [-1, 1]). */
typedef struct {
  double prior;      /* L_T */
  double diffusion;  /* sum over t = 2..T of L_{t-1} */
  double decoder;    /* L_0 */
  double total;      /* their sum: an upper bound on -log p(x0) */
  int rows;
} qdm_vlb;
/* x0: B rows of D; work: 3 B D doubles. */
int qdm_vlb_estimate(const qdm_schedule *s, const qdm_denoiser *m, const double *x0, const int *labels, int B, int D,
                     qdm_rng *rng, double *work, qdm_vlb *out);

#ifdef __cplusplus
}
#endif
#endif
