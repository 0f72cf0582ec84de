/* test_diffusion.c -- schedules against products computed here, the
 * authors' T = 10 numbers, noising statistics of eq. (2), the posterior mean
 * against Bayes' rule for a 1-D Gaussian, target conversions, and the
 * samplers with oracle models (a known x0, and the exact score of Gaussian
 * data, whose samples must come out with the data's mean and variance). */
#include <string.h>
#include "core/rng.h"
#include "qdm/diffusion.h"
#include "check.h"

static qdm_rng rng;

/* ---------------- schedules ---------------- */
static void test_schedules(void) {
  qdm_schedule s;
  /* authors' numbers, T = 10, 1e-4 .. 0.02 */
  CHECK(qdm_schedule_linear(&s, 10, 1e-4, 0.02) == QDM_OK, "linear schedule");
  double p = 1;
  for (int k = 0; k < 10; k++) {
    double b = 1e-4 + k * (0.02 - 1e-4) / 9; /* torch.linspace(1e-4, 0.02, 10) */
    CHECK_NEAR(s.beta[k + 1], b, 1e-15, "linear beta");
    p *= 1 - b;
    CHECK_NEAR(s.alpha_bar[k + 1], p, 1e-14, "alpha_bar = independent product");
  }
  CHECK(s.beta[0] == 0 && s.alpha_bar[0] == 1, "beta_0 = 0 prepended");
  /* sum beta = 0.1005, and log(1-b) = -b - b^2/2 - ...: 0.90374 */
  CHECK_NEAR(s.alpha_bar[10], 0.9037394161512371, 1e-12, "linspace(1e-4,0.02,10): alpha_bar_10");
  qdm_schedule_free(&s);

  /* The authors' code prepends 0 to linspace(1e-4, 0.02, 11) and indexes
   * t = 1..10: beta_t = 1e-4 + (t-1) 0.00199. */
  CHECK(qdm_schedule_linear_authors(&s, 10, 1e-4, 0.02) == QDM_OK, "authors schedule");
  double pa = 1, p11 = 1;
  for (int k = 0; k <= 10; k++) {
    double b = 1e-4 + k * 0.00199;
    if (k < 10) pa *= 1 - b;
    p11 *= 1 - b;
  }
  CHECK_NEAR(s.beta[10], 0.01801, 1e-15, "authors beta_10 (0.02 is never reached)");
  CHECK_NEAR(s.alpha_bar[10], pa, 1e-14, "authors alpha_bar_10 = independent product");
  CHECK(fabs(s.alpha_bar[10] - 0.9129) < 1e-4, "authors alpha_bar_10 = %.6f, about 0.913", s.alpha_bar[10]);
  /* The "about 0.89" once quoted / "0.8950": the product over all eleven
   * linspace values, their alphas_bar[11], which no t in 1..T reaches. */
  CHECK(fabs(p11 - 0.8950) < 5e-4, "product of all 11 betas = %.6f ~ 0.8950", p11);
  CHECK(fabs(s.alpha_bar[10] - p11) > 0.01, "authors' alpha_bar_T is not the quoted 0.895");
  qdm_schedule_free(&s);

  /* cosine: alpha_bar_t = f(t)/f(0) wherever the clip is inactive */
  int T = 100;
  double off = 0.008;
  CHECK(qdm_schedule_cosine(&s, T, off) == QDM_OK, "cosine schedule");
  double f0 = pow(cos(M_PI / 2 * off / (1 + off)), 2), maxb = 0;
  for (int t = 1; t < T; t++) {
    double f = pow(cos(M_PI / 2 * ((double)t / T + off) / (1 + off)), 2);
    CHECK_NEAR(s.alpha_bar[t], f / f0, 1e-12, "cosine alpha_bar = f(t)/f(0)");
    maxb = fmax(maxb, s.beta[t]);
  }
  CHECK(maxb < 0.999 && s.beta[T] == 0.999, "cosine clip only at t = T (beta_T = %g)", s.beta[T]);
  double pc = 1;
  for (int t = 1; t <= T; t++) pc *= 1 - s.beta[t];
  CHECK_NEAR(s.alpha_bar[T], pc, 1e-15, "cosine alpha_bar_T = product after clip");
  /* posterior arrays at t = 1: mean = x0 exactly, no variance */
  CHECK(s.post_c0[1] == 1 && s.post_ct[1] == 0 && s.post_var[1] == 0, "posterior at t = 1");
  qdm_schedule_free(&s);

  CHECK(qdm_schedule_linear(&s, 0, 1e-4, 0.02) == QDM_EINVAL, "T = 0 rejected");
  CHECK(qdm_schedule_linear(&s, 10, 1e-4, 1.5) == QDM_EINVAL, "beta_end 1.5 rejected");
  double bad[2] = {0.1, 0};
  CHECK(qdm_schedule_from_betas(&s, 2, bad) == QDM_EINVAL, "beta = 0 rejected");
}

/* ---------------- eq. (2) statistics ---------------- */
static void test_noising(void) {
  qdm_schedule s;
  qdm_schedule_linear(&s, 10, 1e-4, 0.02);
  enum { N = 100000, D = 4 };
  const double x0r[D] = {1.0, -0.5, 0.2, 2.0};
  static double x0[N * D], eps[N * D], xt[N * D];
  static int t[N];
  int tt = 7;
  for (int r = 0; r < N; r++) {
    memcpy(x0 + r * D, x0r, sizeof x0r);
    t[r] = tt;
  }
  qdm_randn(eps, (size_t)N * D, &rng);
  CHECK(qdm_q_sample(xt, &s, x0, eps, t, N, D) == QDM_OK, "q_sample");
  double ab = 1;
  for (int k = 1; k <= tt; k++) ab *= 1 - (1e-4 + (k - 1) * (0.02 - 1e-4) / 9);
  for (int i = 0; i < D; i++) {
    double m = 0, v = 0;
    for (int r = 0; r < N; r++) m += xt[r * D + i];
    m /= N;
    for (int r = 0; r < N; r++) v += (xt[r * D + i] - m) * (xt[r * D + i] - m);
    v /= N - 1;
    double sd = sqrt(1 - ab);
    CHECK(fabs(m - sqrt(ab) * x0r[i]) < 5 * sd / sqrt(N), "E x_t = sqrt(ab) x0: %g vs %g", m, sqrt(ab) * x0r[i]);
    CHECK(fabs(v / (1 - ab) - 1) < 5 * sqrt(2.0 / N), "Var x_t = 1 - ab: %g vs %g", v, 1 - ab);
  }
  /* complex: 2 values, Re and Im of eps each N(0,1) (the authors' noise) */
  enum { DC = 2 };
  const qdm_cplx z0[DC] = {CMPLX(0.6, 0.0), CMPLX(0.0, -0.8)};
  static qdm_cplx c0[N * DC], ce[N * DC], cx[N * DC];
  for (int r = 0; r < N; r++) memcpy(c0 + r * DC, z0, sizeof z0);
  qdm_randn((double *)ce, 2 * (size_t)N * DC, &rng);
  qdm_q_sample((double *)cx, &s, (const double *)c0, (const double *)ce, t, N, 2 * DC);
  for (int i = 0; i < DC; i++) {
    double vr = 0, vi = 0, a2 = 0;
    qdm_cplx m = 0;
    for (int r = 0; r < N; r++) m += cx[r * DC + i];
    m /= N;
    for (int r = 0; r < N; r++) {
      qdm_cplx d = cx[r * DC + i] - sqrt(ab) * z0[i];
      vr += creal(d) * creal(d);
      vi += cimag(d) * cimag(d);
      a2 += creal(d) * creal(d) + cimag(d) * cimag(d);
    }
    vr /= N; vi /= N; a2 /= N;
    CHECK(cabs(m - sqrt(ab) * z0[i]) < 5 * sqrt(2 * (1 - ab) / N), "complex mean");
    CHECK(fabs(vr / (1 - ab) - 1) < 5 * sqrt(2.0 / N) && fabs(vi / (1 - ab) - 1) < 5 * sqrt(2.0 / N),
          "Re and Im variance each 1 - ab: %g %g vs %g", vr, vi, 1 - ab);
    CHECK(fabs(a2 / (2 * (1 - ab)) - 1) < 5 * sqrt(1.0 / N), "E|x_t - mean|^2 = 2 (1 - ab)");
  }
  int tb = 11;
  CHECK(qdm_q_sample(xt, &s, x0, eps, &tb, 1, D) == QDM_EINVAL, "t > T rejected");
  CHECK(strstr(qdm_errmsg(), "t[0]") != NULL, "message names t[0]: %s", qdm_errmsg());
  qdm_schedule_free(&s);
}

/* ---------------- posterior = Bayes ---------------- */
static void test_posterior(void) {
  /* 1-D: q(x_{t-1}|x0) = N(sqrt(ab_{t-1}) x0, 1 - ab_{t-1}) and, as a
   * function of x_{t-1}, q(x_t|x_{t-1}) = N(x_t; sqrt(a_t) x_{t-1}, b_t)
   * = N(x_{t-1}; x_t/sqrt(a_t), b_t/a_t) up to a constant. Their product is
   * Gaussian with precision the sum of precisions. */
  qdm_schedule s;
  qdm_schedule_cosine(&s, 20, 0.008);
  double x0 = 0.7, xt = -1.3;
  for (int t = 2; t <= 20; t++) {
    double abp = 1, a = 0, b = 0;
    for (int k = 1; k < t; k++) abp *= 1 - s.beta[k];
    b = s.beta[t];
    a = 1 - b;
    double prec1 = 1 / (1 - abp), m1 = sqrt(abp) * x0;
    double prec2 = a / b, m2 = xt / sqrt(a);
    double var = 1 / (prec1 + prec2), mean = var * (prec1 * m1 + prec2 * m2);
    double mu;
    int tv = t;
    qdm_posterior_mean(&mu, &s, &x0, &xt, &tv, 1, 1);
    CHECK_NEAR(mu, mean, 1e-12, "posterior mean = Bayes");
    CHECK_NEAR(s.post_var[t], var, 1e-12, "posterior variance = Bayes");
  }
  qdm_schedule_free(&s);
}

/* ---------------- targets and conversions ---------------- */
static void test_targets(void) {
  qdm_schedule s;
  qdm_schedule_linear(&s, 50, 1e-4, 0.05);
  enum { B = 6, D = 5 };
  double x0[B * D], eps[B * D], xt[B * D], tg[3][B * D], out[B * D], back[B * D];
  int t[B] = {1, 2, 10, 25, 49, 50};
  qdm_randn(x0, B * D, &rng);
  qdm_randn(eps, B * D, &rng);
  qdm_q_sample(xt, &s, x0, eps, t, B, D);
  for (int k = 0; k < 3; k++) qdm_target(tg[k], &s, (qdm_pred_kind)k, x0, eps, xt, t, B, D);
  CHECK(memcmp(tg[QDM_PRED_EPS], eps, sizeof eps) == 0 && memcmp(tg[QDM_PRED_X0], x0, sizeof x0) == 0,
        "eps and x0 targets");
  /* mean target by the formula, written out here */
  double e = 0;
  for (int r = 0; r < B; r++) {
    double abt = s.alpha_bar[t[r]], abp = s.alpha_bar[t[r] - 1], bt = s.beta[t[r]];
    for (int i = 0; i < D; i++) {
      double mu = sqrt(abp) * bt / (1 - abt) * x0[r * D + i] + sqrt(1 - bt) * (1 - abp) / (1 - abt) * xt[r * D + i];
      e = fmax(e, fabs(mu - tg[QDM_PRED_MEAN][r * D + i]));
    }
  }
  CHECK(e < 1e-13, "mean target = mu_tilde formula (err %g)", e);
  /* every conversion: from the true value of one kind to the true value of another */
  for (int from = 0; from < 3; from++)
    for (int to = 0; to < 3; to++) {
      qdm_pred_convert(out, (qdm_pred_kind)to, tg[from], (qdm_pred_kind)from, xt, &s, t, B, D);
      qdm_pred_convert(back, (qdm_pred_kind)from, out, (qdm_pred_kind)to, xt, &s, t, B, D);
      double e1 = 0, e2 = 0;
      for (int i = 0; i < B * D; i++) {
        e1 = fmax(e1, fabs(out[i] - tg[to][i]));
        e2 = fmax(e2, fabs(back[i] - tg[from][i]));
      }
      /* at t = 1 the mean carries x0 only, and eps from x0 divides by sqrt(1-ab_1) = 0.01 */
      CHECK(e1 < 1e-9 && e2 < 1e-9, "convert %d -> %d: err %g, round trip %g", from, to, e1, e2);
    }
  /* the one-t form equals the per-row form */
  int tc[B];
  for (int r = 0; r < B; r++) tc[r] = 25;
  qdm_pred_convert(out, QDM_PRED_MEAN, eps, QDM_PRED_EPS, xt, &s, tc, B, D);
  qdm_pred_convert_t(back, QDM_PRED_MEAN, eps, QDM_PRED_EPS, xt, &s, 25, B * D);
  CHECK(memcmp(out, back, sizeof out) == 0, "pred_convert_t = pred_convert");

  /* the authors' row layout: image-major, t = 1..T within an image */
  qdm_schedule a;
  qdm_schedule_linear_authors(&a, 10, 1e-4, 0.02);
  enum { NI = 3, DI = 4 };
  double im[NI * DI], rx[NI * 10 * DI], re[NI * 10 * DI], rt[NI * 10 * DI];
  int rtt[NI * 10];
  qdm_randn(im, NI * DI, &rng);
  CHECK(qdm_make_rows_all_t(rx, re, rt, rtt, &a, QDM_PRED_MEAN, im, NI, DI, &rng) == QDM_OK, "rows all t");
  double em = 0;
  int lay = 1;
  for (int i = 0; i < NI; i++)
    for (int tt = 1; tt <= 10; tt++) {
      int r = i * 10 + tt - 1;
      lay &= rtt[r] == tt;
      for (int k = 0; k < DI; k++) {
        double x = im[i * DI + k], n = re[r * DI + k];
        double y = sqrt(a.alpha_bar[tt]) * x + sqrt(1 - a.alpha_bar[tt]) * n;
        double abp = a.alpha_bar[tt - 1], abt = a.alpha_bar[tt], bt = a.beta[tt];
        double mu = sqrt(abp) * bt / (1 - abt) * x + sqrt(1 - bt) * (1 - abp) / (1 - abt) * y;
        em = fmax(em, fmax(fabs(rx[r * DI + k] - y), fabs(rt[r * DI + k] - mu)));
      }
    }
  CHECK(lay && em < 1e-13, "rows: t layout and x_t / mu_tilde values (err %g)", em);
  qdm_schedule_free(&a);
  qdm_schedule_free(&s);
}

/* ---------------- samplers ---------------- */
/* Oracle 1: knows each row's x0 and answers exactly for the current z. */
typedef struct { const qdm_schedule *s; const double *x0; qdm_pred_kind kind; int calls, last_t; } oracle;
static int oracle_fn(void *ctx, const double *z, int B, int D, int t, const int *labels, double *out) {
  oracle *o = ctx;
  (void)labels;
  o->calls++;
  o->last_t = t;
  double a = o->s->sqrt_ab[t], c = o->s->sqrt_1mab[t];
  for (int i = 0; i < B * D; i++) {
    double x0 = o->x0[i];
    out[i] = o->kind == QDM_PRED_X0 ? x0
           : o->kind == QDM_PRED_EPS ? (z[i] - a * x0) / c
           : o->s->post_c0[t] * x0 + o->s->post_ct[t] * z[i];
  }
  return QDM_OK;
}

/* Oracle 2: data x0 ~ N(mu0, s0^2) per coordinate, so p_t = N(a mu0, a^2 s0^2 + c^2)
 * and the optimal eps prediction is -c * score = c (z - a mu0) / (a^2 s0^2 + c^2). */
typedef struct { const qdm_schedule *s; double mu0, s0; } gauss;
static int gauss_fn(void *ctx, const double *z, int B, int D, int t, const int *labels, double *out) {
  gauss *g = ctx;
  (void)labels;
  double a = g->s->sqrt_ab[t], c = g->s->sqrt_1mab[t], v = a * a * g->s0 * g->s0 + c * c;
  for (int i = 0; i < B * D; i++) out[i] = c * (z[i] - a * g->mu0) / v;
  return QDM_OK;
}
static int failing_fn(void *ctx, const double *z, int B, int D, int t, const int *labels, double *out) {
  (void)ctx; (void)z; (void)B; (void)D; (void)t; (void)labels; (void)out;
  return QDM_EIO;
}

static void test_samplers_oracle(void) {
  qdm_schedule s;
  qdm_schedule_linear(&s, 50, 1e-4, 0.05);
  enum { B = 4, D = 6 };
  double x0[B * D], z[B * D], work[B * D];
  qdm_randn(x0, B * D, &rng);
  for (int r = 0; r < B; r++) { /* unit rows, like the authors' data */
    double n = 0;
    for (int i = 0; i < D; i++) n += x0[r * D + i] * x0[r * D + i];
    for (int i = 0; i < D; i++) x0[r * D + i] /= sqrt(n);
  }
  CHECK(qdm_sampler_work(B, D) <= B * D, "work size");
  const char *names[4] = {"mean", "ddpm", "ddim", "sde"};
  for (int kind = 0; kind < 3; kind++)
    for (int sk = 0; sk < 4; sk++) {
      oracle o = {&s, x0, (qdm_pred_kind)kind, 0, -1};
      qdm_denoiser m = {oracle_fn, &o, (qdm_pred_kind)kind, NULL, NULL};
      qdm_sampler_cfg cfg = {(qdm_sampler_kind)sk, sk == QDM_SAMPLER_DDIM ? 7 : 0, 0.0, sk == 0, 0};
      qdm_randn(z, B * D, &rng);
      CHECK(qdm_sample(z, &s, &m, &cfg, NULL, B, D, &rng, work) == QDM_OK, "sample %s", names[sk]);
      double e = 0;
      for (int i = 0; i < B * D; i++) e = fmax(e, fabs(z[i] - x0[i]));
      /* mean, ddpm, ddim end on x0 exactly (t = 1 posterior mean is x0; ddim
       * ends at ab = 1); Euler-Maruyama leaves an O(beta_1) = 1e-4 bias. */
      double tol = sk == QDM_SAMPLER_SDE ? 1e-4 : 1e-9;
      CHECK(e < tol, "oracle(%d) + %s sampler recovers x0: err %g", kind, names[sk], e);
      /* DDIM with 7 of 50 steps visits t = ceil(k 50 / 7): 50, 43, ..., 8 */
      int want = sk == QDM_SAMPLER_DDIM ? 7 : 50, last = sk == QDM_SAMPLER_DDIM ? 8 : 1;
      CHECK(o.calls == want && o.last_t == last, "%s: %d model calls ending at t = %d", names[sk], o.calls, o.last_t);
    }
  /* DDIM eta = 0 from one step at t=T straight to 0 also lands on x0 */
  oracle o = {&s, x0, QDM_PRED_EPS, 0, -1};
  qdm_denoiser m = {oracle_fn, &o, QDM_PRED_EPS, NULL, NULL};
  qdm_randn(z, B * D, &rng);
  qdm_step_ddim(z, &s, &m, 50, 0, 0.0, NULL, B, D, NULL, work);
  double e = 0;
  for (int i = 0; i < B * D; i++) e = fmax(e, fabs(z[i] - x0[i]));
  CHECK(e < 1e-9, "single ddim step T -> 0: err %g", e);

  CHECK(qdm_step_ddpm(z, &s, &m, 51, NULL, B, D, &rng, work) == QDM_EINVAL, "t > T rejected");
  CHECK(qdm_step_ddim(z, &s, &m, 10, 10, 0, NULL, B, D, NULL, work) == QDM_EINVAL, "t_prev = t rejected");
  qdm_denoiser bad = {failing_fn, NULL, QDM_PRED_EPS, NULL, NULL};
  CHECK(qdm_step_sde(z, &s, &bad, 5, 1, NULL, B, D, &rng, work) == QDM_EIO, "callback error passed through");
  qdm_schedule_free(&s);
}

/* One stochastic step from a fixed z: the new rows must have the step's
 * mean and variance (ddpm: mu_tilde and beta_tilde; sde: the Euler-Maruyama
 * drift and beta_t; ddim eta = 1: sigma^2 of Song et al. eq. 16). */
static void test_step_moments(void) {
  qdm_schedule s;
  qdm_schedule_linear(&s, 10, 1e-4, 0.02);
  enum { N = 50000 };
  static double x0[N], z[N], work[N];
  int t = 3;
  for (int i = 0; i < N; i++) x0[i] = 0.8;
  for (int sk = 0; sk < 3; sk++) {
    oracle o = {&s, x0, QDM_PRED_X0, 0, -1};
    qdm_denoiser m = {oracle_fn, &o, QDM_PRED_X0, NULL, NULL};
    for (int i = 0; i < N; i++) z[i] = -0.4;
    double ab = s.alpha_bar[t], abp = s.alpha_bar[t - 1], b = s.beta[t], a = 1 - b;
    double want_m, want_v;
    if (sk == 0) {
      qdm_step_ddpm(z, &s, &m, t, NULL, N, 1, &rng, work);
      want_m = sqrt(abp) * b / (1 - ab) * 0.8 + sqrt(a) * (1 - abp) / (1 - ab) * -0.4;
      want_v = b * (1 - abp) / (1 - ab);
    } else if (sk == 1) {
      qdm_step_sde(z, &s, &m, t, 1, NULL, N, 1, &rng, work);
      double score = -(-0.4 - sqrt(ab) * 0.8) / (1 - ab);
      want_m = -0.4 + b * (-0.2 + score);
      want_v = b;
    } else {
      qdm_step_ddim(z, &s, &m, t, t - 1, 1.0, NULL, N, 1, &rng, work);
      double sig2 = (1 - abp) / (1 - ab) * (1 - ab / abp);
      double e = (-0.4 - sqrt(ab) * 0.8) / sqrt(1 - ab);
      want_m = sqrt(abp) * 0.8 + sqrt(1 - abp - sig2) * e;
      want_v = sig2;
    }
    double mu = 0, v = 0;
    for (int i = 0; i < N; i++) mu += z[i];
    mu /= N;
    for (int i = 0; i < N; i++) v += (z[i] - mu) * (z[i] - mu);
    v /= N - 1;
    CHECK(fabs(mu - want_m) < 5 * sqrt(want_v / N), "step %d mean %g want %g", sk, mu, want_m);
    CHECK(fabs(v / want_v - 1) < 5 * sqrt(2.0 / N), "step %d variance %g want %g", sk, v, want_v);
  }
  qdm_schedule_free(&s);
}

/* mean and unbiased variance of n values */
static void moments(const double *z, int n, double *mu, double *v) {
  *mu = *v = 0;
  for (int i = 0; i < n; i++) *mu += z[i];
  *mu /= n;
  for (int i = 0; i < n; i++) *v += (z[i] - *mu) * (z[i] - *mu);
  *v /= n - 1;
}

/* The law DDIM with eta = 0 and S steps (t_k = ceil(k T / S), as
 * qdm_sampler_times documents) makes of z_T ~ N(0, 1) under the exact score of N(mu0, s0^2),
 * written out here from Song et al.'s eq. 12: each step is linear,
 * z' = sqrt(ab') x0_hat + sqrt(1 - ab') eps_hat with x0_hat the posterior
 * mean (c^2 mu0 + a s0^2 z) / (a^2 s0^2 + c^2), so the output is
 * N(mean, var) exactly, the steps' discretisation included (50 steps:
 * variance 0.222, not the data's 0.25). */
static void ddim_gauss_law(const qdm_schedule *s, int S, double mu0, double s0, double *mean, double *var) {
  int T = s->T;
  double m = 0, v = 1;
  for (int k = S; k >= 1; k--) {
    int t = (int)(((long long)k * T + S - 1) / S), tp = (int)(((long long)(k - 1) * T + S - 1) / S);
    double ab = s->alpha_bar[t], abp = s->alpha_bar[tp], a = sqrt(ab), c = sqrt(1 - ab);
    double kx = a * s0 * s0 / (ab * s0 * s0 + c * c), bx = mu0 - kx * a * mu0; /* x0_hat = kx z + bx */
    double ke = (1 - a * kx) / c, be = -a * bx / c;                            /* eps_hat = ke z + be */
    double al = sqrt(abp) * kx + sqrt(1 - abp) * ke, be2 = sqrt(abp) * bx + sqrt(1 - abp) * be;
    m = al * m + be2, v = al * al * v;
  }
  *mean = m, *var = v;
}

static void test_samplers_gaussian(void) {
  /* 1000 steps reach noise (alpha_bar_T = 4e-5); every sampler driven by the
   * exact score of the data law N(1.5, 0.5^2) (whose posterior mean is known
   * in closed form) must turn N(0, 1) into that law, within sampling error:
   * the sd of the mean is 0.5/sqrt(N) = 0.008, of the variance
   * 0.25 sqrt(2/N) = 0.0056; the bounds are 5 sd. */
  qdm_schedule s;
  qdm_schedule_linear(&s, 1000, 1e-4, 0.02);
  enum { N = 4000 };
  static double z[N], work[N];
  gauss g = {&s, 1.5, 0.5};
  qdm_denoiser m = {gauss_fn, &g, QDM_PRED_EPS, NULL, NULL};
  const struct {
    const char *name;
    qdm_sampler_cfg cfg;
  } cases[] = {
      {"ddpm", {QDM_SAMPLER_DDPM, 0, 0.0, 0, 0}},
      {"ddim 200 steps, eta 0", {QDM_SAMPLER_DDIM, 200, 0.0, 0, 0}},
      {"ddim 50 steps, eta 0", {QDM_SAMPLER_DDIM, 50, 0.0, 0, 0}},
      {"ddim 200 steps, eta 0.5", {QDM_SAMPLER_DDIM, 200, 0.5, 0, 0}},
      {"ddim all steps, eta 1 (ancestral)", {QDM_SAMPLER_DDIM, 0, 1.0, 0, 0}},
      {"sde (Euler-Maruyama)", {QDM_SAMPLER_SDE, 0, 0.0, 0, 1}},
      {"sde, 3 substeps", {QDM_SAMPLER_SDE, 0, 0.0, 0, 3}},
      {"probability-flow ode", {QDM_SAMPLER_ODE, 0, 0.0, 0, 1}},
      {"probability-flow ode, 2 substeps", {QDM_SAMPLER_ODE, 0, 0.0, 0, 2}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    qdm_randn(z, N, &rng);
    CHECK(qdm_sample(z, &s, &m, &cases[c].cfg, NULL, N, 1, &rng, work) == QDM_OK, "gaussian %s: %s", cases[c].name,
          qdm_errmsg());
    double mu, v, wm, wv;
    moments(z, N, &mu, &v);
    if (cases[c].cfg.kind == QDM_SAMPLER_DDIM && cases[c].cfg.eta == 0) { /* its exact law */
      ddim_gauss_law(&s, cases[c].cfg.steps, 1.5, 0.5, &wm, &wv);
      CHECK(fabs(mu - wm) < 5 * sqrt(wv / N), "%s: sample mean %g, want %g", cases[c].name, mu, wm);
      CHECK(fabs(v - wv) < 5 * wv * sqrt(2.0 / N), "%s: sample variance %g, want %g", cases[c].name, v, wv);
      CHECK(fabs(wv - 0.25) < (cases[c].cfg.steps >= 200 ? 0.01 : 0.03), "%s: its law's variance %g near 0.25",
            cases[c].name, wv);
      continue;
    }
    CHECK(fabs(mu - 1.5) < 0.04, "%s: sample mean %g, want 1.5", cases[c].name, mu);
    CHECK(fabs(v - 0.25) < 0.028, "%s: sample variance %g, want 0.25", cases[c].name, v);
  }
  /* the deterministic samplers map the same noise to the same samples */
  static double z2[N];
  qdm_sampler_cfg ode = {QDM_SAMPLER_ODE, 0, 0.0, 0, 1};
  qdm_randn(z, N, &rng);
  memcpy(z2, z, sizeof z);
  qdm_sample(z, &s, &m, &ode, NULL, N, 1, NULL, work);
  qdm_sample(z2, &s, &m, &ode, NULL, N, 1, NULL, work);
  CHECK(!memcmp(z, z2, sizeof z), "the ode needs no generator and repeats itself");
  int times[1001];
  qdm_sampler_cfg bad = {QDM_SAMPLER_SDE, 10, 0.0, 0, 1};
  CHECK(qdm_sampler_times(&bad, 1000, times) < 0 && strstr(qdm_errmsg(), "only DDIM"), "steps refused for sde: %s",
        qdm_errmsg());
  qdm_sampler_cfg d3 = {QDM_SAMPLER_DDIM, 3, 0.0, 0, 0};
  CHECK(qdm_sampler_times(&d3, 10, times) == 3 && times[0] == 10 && times[1] == 7 && times[2] == 4 && times[3] == 0,
        "ddim 3 of 10 steps visits 10, 7, 4, 0");
  qdm_schedule_free(&s);
}

/* x0 clipping (qdm_denoiser's box): a box wider than anything changes
 * the samples only by the round trip through x0 (1e-9); a box whose lower
 * side cuts the data law N(1.5, 0.5^2) in half leaves every DDPM and DDIM
 * sample on its side, because their last step returns the clamped x0
 * itself (post_c0 at t = 1 is beta_1 / (1 - alpha_bar_1) = 1, post_ct 0),
 * where the unclipped chain puts about half of them below. */
static void test_sampler_clip(void) {
  qdm_schedule s;
  qdm_schedule_linear(&s, 200, 1e-4, 0.05);
  enum { N = 2000 };
  static double z[N], z0[N], work[N];
  double wide_lo = -1e9, wide_hi = 1e9, cut = 1.5;
  gauss g = {&s, 1.5, 0.5};
  qdm_denoiser plain = {gauss_fn, &g, QDM_PRED_EPS, NULL, NULL};
  qdm_denoiser wide = {gauss_fn, &g, QDM_PRED_EPS, &wide_lo, &wide_hi};
  qdm_denoiser half = {gauss_fn, &g, QDM_PRED_EPS, &cut, NULL};
  qdm_sampler_cfg cfgs[2] = {{QDM_SAMPLER_DDPM, 0, 0.0, 0, 0}, {QDM_SAMPLER_DDIM, 20, 0.0, 0, 0}};
  for (int c = 0; c < 2; c++) {
    qdm_rng r1, r2;
    qdm_rng_seed(&r1, 11);
    qdm_rng_seed(&r2, 11);
    qdm_randn(z0, N, &r1);
    memcpy(z, z0, sizeof z);
    qdm_randn(work, N, &r2); /* keep r2 in step with r1 */
    CHECK(qdm_sample(z0, &s, &plain, &cfgs[c], NULL, N, 1, &r1, work) == QDM_OK, "plain chain: %s", qdm_errmsg());
    CHECK(qdm_sample(z, &s, &wide, &cfgs[c], NULL, N, 1, &r2, work) == QDM_OK, "wide box: %s", qdm_errmsg());
    double worst = 0;
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs(z[i] - z0[i]));
    CHECK(worst < 1e-9, "sampler %d: a box wider than the data changes the samples by %g", c, worst);
    int below = 0, below_clipped = 0;
    for (int i = 0; i < N; i++) below += z0[i] < cut;
    qdm_rng_seed(&r1, 12);
    qdm_randn(z, N, &r1);
    CHECK(qdm_sample(z, &s, &half, &cfgs[c], NULL, N, 1, &r1, work) == QDM_OK, "half box: %s", qdm_errmsg());
    for (int i = 0; i < N; i++) below_clipped += z[i] < cut - 1e-12;
    CHECK(below > N / 3 && below_clipped == 0, "sampler %d: %d of %d below 1.5 unclipped, %d clipped", c, below, N,
          below_clipped);
  }
  qdm_schedule_free(&s);
}

/* The bound of eqs. 4-5 with the exact posterior mean of Gaussian data
 * (x0 ~ N(mu, s^2) per value): every L_{t-1} term is then the expected KL
 * between the true reverse step and the model's, and the total must equal
 * its closed form, computed here independently by numerical integration
 * of each KL over x_t. Checked loosely (Monte Carlo over eps, 2000 rows). */
static void test_vlb_gaussian(void) {
  qdm_schedule s;
  qdm_schedule_linear(&s, 50, 1e-4, 0.3);
  enum { N = 2000 };
  static double x0[N], work[3 * N];
  double mu0 = 0.7, sd0 = 0.4;
  for (int i = 0; i < N; i++) x0[i] = mu0 + sd0 * qdm_rng_normal(&rng);
  gauss g = {&s, mu0, sd0};
  qdm_denoiser m = {gauss_fn, &g, QDM_PRED_EPS, NULL, NULL};
  qdm_vlb v;
  CHECK(qdm_vlb_estimate(&s, &m, x0, NULL, N, 1, &rng, work, &v) == QDM_OK, "vlb: %s", qdm_errmsg());
  /* independent: E_x0 E_xt ||mu_tilde(xt, x0) - E[mu_tilde | xt]||^2 / (2 beta_tilde)
   * = post_c0^2 Var[x0 | xt] / (2 beta_tilde) for Gaussian data (per value) */
  double want = 0;
  for (int t = 2; t <= s.T; t++) {
    double ab = s.alpha_bar[t], var_post = sd0 * sd0 * (1 - ab) / (ab * sd0 * sd0 + 1 - ab);
    want += s.post_c0[t] * s.post_c0[t] * var_post / (2 * s.post_var[t]);
  }
  CHECK(fabs(v.diffusion - want) < 0.05 * want, "vlb diffusion terms %.5f, closed form %.5f", v.diffusion, want);
  double abT = s.alpha_bar[s.T], e2 = mu0 * mu0 + sd0 * sd0;
  double prior = 0.5 * (abT * e2 + (1 - abT) - 1 - log(1 - abT));
  CHECK(fabs(v.prior - prior) < 0.05 * fabs(prior) + 1e-4, "vlb prior %.6f, closed form %.6f", v.prior, prior);
  CHECK(fabs(v.total - (v.prior + v.diffusion + v.decoder)) < 1e-12, "total is the sum of the terms");
  qdm_schedule_free(&s);
}

/* Strata partition 1..T; every row's t lies in its stratum, uniformly;
 * the rows are eq. 2 with the noise the generator gives, in order. */
static void test_strata(void) {
  int Ts[] = {10, 100, 7, 1000}, Ks[] = {10, 10, 3, 7};
  for (int c = 0; c < 4; c++) {
    int T = Ts[c], K = Ks[c], next = 1;
    for (int k = 0; k < K; k++) {
      int lo, hi;
      qdm_t_stratum_bounds(k, T, K, &lo, &hi);
      CHECK(lo == next && hi >= lo, "T %d K %d: stratum %d is %d..%d after %d", T, K, k, lo, hi, next - 1);
      for (int t = lo; t <= hi; t++) CHECK(qdm_t_stratum(t, T, K) == k, "t %d in stratum %d", t, k);
      next = hi + 1;
    }
    CHECK(next == T + 1, "T %d K %d: the strata cover 1..T", T, K);
  }
  qdm_schedule s;
  qdm_schedule_cosine(&s, 100, 0.008);
  enum { N = 400, K = 10, D = 3 };
  static double x0[N * D], xt[N * K * D], eps[N * K * D], tg[N * K * D];
  static int tt[N * K];
  for (int i = 0; i < N * D; i++) x0[i] = 0.1 * (i % 7);
  qdm_rng r0 = rng;
  CHECK(qdm_make_rows_strata(xt, eps, tg, tt, &s, QDM_PRED_X0, x0, N, D, K, &rng) == QDM_OK, "strata rows");
  int hits[100] = {0}, bad = 0;
  double worst = 0;
  for (int i = 0; i < N; i++)
    for (int k = 0; k < K; k++) {
      int r = i * K + k, t = tt[r];
      bad += t < 10 * k + 1 || t > 10 * k + 10;
      hits[t - 1]++;
      /* the generator's order: a t draw (strata of 10), then the row's D normals */
      int lo = 10 * k + 1, want = lo + (int)(qdm_rng_u64(&r0) % 10);
      bad += want != t;
      double e[D];
      qdm_rng_normals(&r0, e, D);
      for (int j = 0; j < D; j++) {
        double y = s.sqrt_ab[t] * x0[i * D + j] + s.sqrt_1mab[t] * e[j];
        worst = fmax(worst, fabs(y - xt[r * D + j]) + fabs(e[j] - eps[r * D + j]) + fabs(tg[r * D + j] - x0[i * D + j]));
      }
    }
  CHECK(!bad, "every t in its stratum, in the generator's order (%d off)", bad);
  CHECK(worst < 1e-15, "rows are eq. 2 of their noise (worst %.3g)", worst);
  double chi2 = 0; /* 40 expected hits per t; 99 degrees of freedom: mean 99, sd 14 */
  for (int t = 0; t < 100; t++) chi2 += (hits[t] - 40.0) * (hits[t] - 40.0) / 40.0;
  CHECK(chi2 < 99 + 5 * 14, "uniform within strata: chi^2 = %.1f", chi2);
  CHECK(qdm_make_rows_strata(xt, eps, tg, tt, &s, QDM_PRED_X0, x0, N, D, 101, &rng) == QDM_EINVAL, "K > T refused");
  qdm_schedule_free(&s);
}

/* The noise generator (qdm_rng_normals, a ziggurat): N(0, 1) against its
 * known laws on 2^21 draws: moments 0, 1, 0, 3; the tail masses beyond 2,
 * 3 and 4 sigma (erfc); the Kolmogorov-Smirnov distance to Phi on a sorted
 * subsample. Tolerances are 5 standard errors (6 for the tails' counts). */
static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static void test_normals(void) {
  enum { N = 1 << 21, NKS = 1 << 16 };
  double *x = malloc(N * sizeof *x);
  qdm_rng r;
  qdm_rng_seed(&r, 77);
  qdm_rng_normals(&r, x, N);
  double m1 = 0, m2 = 0, m3 = 0, m4 = 0, tail[3] = {0, 0, 0};
  for (int i = 0; i < N; i++) {
    double v = x[i], a = fabs(v);
    m1 += v; m2 += v * v; m3 += v * v * v; m4 += v * v * v * v;
    for (int k = 0; k < 3; k++) tail[k] += a > 2 + k;
  }
  m1 /= N; m2 /= N; m3 /= N; m4 /= N;
  CHECK(fabs(m1) < 5 / sqrt(N) && fabs(m2 - 1) < 5 * sqrt(2.0 / N) && fabs(m3) < 5 * sqrt(15.0 / N) &&
            fabs(m4 - 3) < 5 * sqrt(96.0 / N),
        "normals: moments %.5f %.5f %.5f %.5f, expected 0 1 0 3", m1, m2, m3, m4);
  for (int k = 0; k < 3; k++) {
    double p = erfc((2 + k) / sqrt(2.0)), sd = sqrt(N * p * (1 - p));
    CHECK(fabs(tail[k] - N * p) < 6 * sd + 1, "normals: %.0f beyond %d sigma, expected %.1f", tail[k], 2 + k, N * p);
  }
  qsort(x, NKS, sizeof *x, cmp_dbl); /* the first NKS draws are an independent sample */
  double ks = 0;
  for (int i = 0; i < NKS; i++) {
    double F = 0.5 * erfc(-x[i] / sqrt(2.0));
    ks = fmax(ks, fmax(fabs(F - (double)i / NKS), fabs(F - (double)(i + 1) / NKS)));
  }
  CHECK(ks < 1.95 / sqrt(NKS), "normals: KS distance %.5f (0.1%% critical value %.5f)", ks, 1.95 / sqrt(NKS));
  free(x);
}

/* The eight lanes: the build's loop (AVX-512 where the compiler targets
 * it) gives the portable loop's values bit for bit, at every length
 * around the lanes' threshold and block; and the values of many short
 * calls (the training rows': 1568 each, every call seeding its lanes)
 * have no correlation between neighbours, lanes, or calls (lag 1, 8, and
 * the call's length), each within 5 standard errors of 0. */
static void test_normals_lanes(void) {
  const size_t lens[] = {0, 1, 7, 63, 64, 65, 71, 72, 1568, 100003};
  int same = 1;
  for (size_t c = 0; c < sizeof lens / sizeof *lens; c++) {
    size_t n = lens[c];
    double *a = malloc((n + 1) * sizeof *a), *b = malloc((n + 1) * sizeof *b);
    qdm_rng r1, r2;
    qdm_rng_seed(&r1, 1000 + c);
    r2 = r1;
    qdm_rng_normals(&r1, a, n);
    qdm__rng_normals_portable(&r2, b, n);
    same &= !memcmp(a, b, n * sizeof *a) && !memcmp(&r1, &r2, sizeof r1);
    free(a);
    free(b);
  }
  CHECK(same, "normals: the build's lanes give the portable lanes' values and end state");
  enum { L = 1568, C = 1000 };
  double *x = malloc((size_t)L * C * sizeof *x);
  qdm_rng r;
  qdm_rng_seed(&r, 99);
  for (int c = 0; c < C; c++) qdm_rng_normals(&r, x + (size_t)c * L, L);
  const int lags[] = {1, 8, L};
  for (int q = 0; q < 3; q++) {
    size_t m = (size_t)L * C - lags[q];
    double s = 0;
    for (size_t k = 0; k < m; k++) s += x[k] * x[k + lags[q]];
    CHECK(fabs(s / m) < 5 / sqrt((double)m), "normals over short calls: lag-%d correlation %.5f", lags[q], s / m);
  }
  double m2 = 0;
  for (size_t k = 0; k < (size_t)L * C; k++) m2 += x[k] * x[k];
  m2 /= (double)L * C;
  CHECK(fabs(m2 - 1) < 5 * sqrt(2.0 / ((double)L * C)), "normals over short calls: variance %.5f", m2);
  free(x);
}

int main(void) {
  qdm_rng_seed(&rng, 2024);
  test_normals();
  test_normals_lanes();
  test_schedules();
  test_noising();
  test_posterior();
  test_targets();
  test_samplers_oracle();
  test_step_moments();
  test_samplers_gaussian();
  test_sampler_clip();
  test_vlb_gaussian();
  test_strata();
  return check_done();
}
