/* learn.c -- the state-learning experiment of report section 8: learn a
 * target |t> = U(theta*)|0> reachable by the ansatz itself, from theta0,
 * with Adam, with QNGD (eq. 26) and with QNGD for the first steps then
 * Adam, on the loss L = 1 - |<t|psi(theta)>|^2.
 *
 * L and its gradient take one forward run and one adjoint sweep: with
 * a = <t|psi>, L = 1 - |a|^2 has the co-gradient dL/dpsi = -2 a t.
 * Curves are medians over independent (target, start) pairs, so one lucky
 * or stuck pair does not decide the picture; times are means. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/check.h"
#include "qdm/nn.h"
#include "qdm/qngd.h"

const qdm_enum_name qdm_learn_opt_names[] = {
    {"adam", QDM_LEARN_ADAM}, {"qngd", QDM_LEARN_QNGD}, {"qngd+adam", QDM_LEARN_MIX}, {NULL, 0}};

static const double default_lr_adam = 0.05, default_lr_qngd = 0.1;

void qdm_learn_opts_default(qdm_learn_opts *o) {
  memset(o, 0, sizeof *o);
  o->layers = 4;
  o->steps = 200;
  o->trials = 3;
  o->kind = QDM_METRIC_FULL;
  o->refresh = 1;
  o->sw = 20;
  o->lambda = 1e-3;
  o->lr_adam = &default_lr_adam;
  o->lr_qngd = &default_lr_qngd;
  o->nlr_adam = o->nlr_qngd = 1;
  o->seed = 1;
}

static int check_rates(const double *lr, int n, const char *what) {
  if (n < 1 || !lr) return qdm_fail(QDM_EINVAL, "qdm_learn: %d %s rates (expected a list of >= 1)", n, what);
  for (int k = 0; k < n; k++)
    if (!(lr[k] >= 0) || !isfinite(lr[k]))
      return qdm_fail(QDM_EINVAL, "qdm_learn: %s rate %g (expected a finite value >= 0)", what, lr[k]);
  return QDM_OK;
}

int qdm_learn_opts_check(const qdm_learn_opts *o) {
  if (!o) return qdm_fail(QDM_EINVAL, "qdm_learn: options are NULL");
  if (o->layers < 1 || o->steps < 1 || o->trials < 1)
    return qdm_fail(QDM_EINVAL, "qdm_learn: layers %d, steps %d, trials %d (expected >= 1 each)", o->layers, o->steps,
                    o->trials);
  if (o->kind != QDM_METRIC_FULL && o->kind != QDM_METRIC_BLOCK && o->kind != QDM_METRIC_DIAG)
    return qdm_fail(QDM_EINVAL, "qdm_learn: metric kind %d (expected QDM_METRIC_FULL, _BLOCK or _DIAG)", o->kind);
  if (o->refresh < 1 || o->sw < 0)
    return qdm_fail(QDM_EINVAL, "qdm_learn: refresh %d (expected >= 1), switch %d (expected >= 0)", o->refresh, o->sw);
  if (!(o->lambda >= 0) || !isfinite(o->lambda))
    return qdm_fail(QDM_EINVAL, "qdm_learn: lambda %g (expected a finite value >= 0)", o->lambda);
  int rc = check_rates(o->lr_adam, o->nlr_adam, "Adam");
  return rc ? rc : check_rates(o->lr_qngd, o->nlr_qngd, "QNGD");
}

/* The problem's stream: it depends on (seed, ansatz, n) only, so adding a
 * name to a list of ansatzes or qubit counts leaves the others' problems. */
static uint64_t problem_stream(const char *ansatz, int n) {
  uint64_t h = 0;
  for (const char *p = ansatz; *p; p++) h = qdm_mix64(h ^ (unsigned char)*p);
  return qdm_mix64(h ^ ((uint64_t)n << 32));
}

static void uniform(double *th, int P, qdm_rng *r) {
  for (int i = 0; i < P; i++) th[i] = 2 * M_PI * qdm_rng_uniform(r);
}

static int problem_alloc(qdm_learn_problem *p, int trials) {
  size_t dim = (size_t)1 << p->n;
  p->target = malloc(trials * dim * sizeof *p->target);
  p->theta0 = malloc((size_t)trials * p->P * sizeof *p->theta0);
  p->psi_ = malloc(2 * dim * sizeof *p->psi_);
  p->grad_ = malloc(p->P * sizeof *p->grad_);
  p->theta_ = malloc(p->P * sizeof *p->theta_);
  p->bounds_ = malloc((p->layers + 1) * sizeof *p->bounds_);
  if (!p->target || !p->theta0 || !p->psi_ || !p->grad_ || !p->theta_ || !p->bounds_)
    return qdm_fail(QDM_ENOMEM, "qdm_learn: out of memory for %d trials on %d qubits", trials, p->n);
  p->lam_ = p->psi_ + dim;
  return QDM_OK;
}

int qdm_learn_problem_init(qdm_learn_problem *p, const char *ansatz, int n, const qdm_learn_opts *o) {
  if (!p) return qdm_fail(QDM_EINVAL, "qdm_learn_problem_init: problem is NULL");
  memset(p, 0, sizeof *p);
  int rc = qdm_learn_opts_check(o);
  if (rc) return rc;
  if (!ansatz || !qdm_ansatz_about(ansatz))
    return qdm_fail(QDM_EINVAL, "qdm_learn: unknown ansatz '%s'", ansatz ? ansatz : "(null)");
  if (n < 1 || n > 24) return qdm_fail(QDM_EINVAL, "qdm_learn: %d qubits (expected 1..24)", n);
  if (!(p->c = qdm_circuit_new(n))) return QDM_ENOMEM;
  p->n = n;
  p->layers = o->layers;
  p->trials = o->trials;
  if ((p->P = qdm_ansatz_build(p->c, ansatz, o->layers, 0, &o->ansatz)) < 0) rc = -p->P;
  else if (p->P == 0)
    rc = qdm_fail(QDM_EINVAL, "qdm_learn: ansatz %s with %d qubits and %d layers has no parameters", ansatz, n, o->layers);
  if (!rc) rc = problem_alloc(p, o->trials);
  if (!rc && o->kind == QDM_METRIC_BLOCK && qdm_metric_layer_bounds(p->P, o->layers, p->bounds_))
    rc = qdm_fail_wrap(QDM_EINVAL, "qdm_learn: metric kind block for %s", ansatz);
  if (rc) {
    qdm_learn_problem_free(p);
    return rc;
  }
  size_t dim = (size_t)1 << n;
  qdm_rng r;
  qdm_rng_stream(&r, o->seed, problem_stream(ansatz, n));
  for (int t = 0; t < o->trials; t++) {
    uniform(p->theta_, p->P, &r); /* theta*, then the start */
    uniform(p->theta0 + (size_t)t * p->P, p->P, &r);
    qdm_cplx *tg = p->target + t * dim;
    qdm_zero_state(tg, n, 1);
    QDM__OK(qdm_run(p->c, p->theta_, NULL, 0, tg, 1));
  }
  return QDM_OK;
}

void qdm_learn_problem_free(qdm_learn_problem *p) {
  if (!p) return;
  qdm_circuit_free(p->c);
  free(p->target);
  free(p->theta0);
  free(p->psi_);
  free(p->grad_);
  free(p->theta_);
  free(p->bounds_);
  memset(p, 0, sizeof *p);
}

/* L = 1 - |<t|psi>|^2 at theta, and its gradient into p->grad_. */
static double loss_grad(qdm_learn_problem *p, const qdm_cplx *target, const double *th) {
  size_t dim = (size_t)1 << p->n;
  qdm_zero_state(p->psi_, p->n, 1);
  QDM__OK(qdm_run(p->c, th, NULL, 0, p->psi_, 1));
  qdm_cplx ov = 0;
  for (size_t i = 0; i < dim; i++) ov += conj(target[i]) * p->psi_[i];
  for (size_t i = 0; i < dim; i++) p->lam_[i] = -2 * ov * target[i];
  memset(p->grad_, 0, p->P * sizeof *p->grad_);
  QDM__OK(qdm_run_adjoint(p->c, th, NULL, 0, p->psi_, p->lam_, 1, p->grad_, NULL));
  return 1 - creal(ov * conj(ov));
}

static int check_run(const qdm_learn_problem *p, const qdm_learn_opts *o, int opt, const char *who) {
  if (!p || !p->c) return qdm_fail(QDM_EINVAL, "%s: problem is not initialised", who);
  int rc = qdm_learn_opts_check(o);
  if (rc) return rc;
  if (o->trials != p->trials || o->layers != p->layers)
    return qdm_fail(QDM_EINVAL, "%s: options have %d trials and %d layers, the problem %d and %d", who, o->trials,
                    o->layers, p->trials, p->layers);
  if (opt < 0 || opt >= QDM_LEARN_NOPT)
    return qdm_fail(QDM_EINVAL, "%s: optimizer %d (expected QDM_LEARN_ADAM, _QNGD or _MIX)", who, opt);
  return QDM_OK;
}

/* One trial, arguments checked. QNGD (eq. 26) may fail on a metric that
 * g + lambda I does not make positive definite (lambda = 0): that is the
 * caller's choice of lambda, reported as QDM_EINVAL. */
static int run_trial(qdm_learn_problem *p, const qdm_learn_opts *o, int t, int opt, double lq, double la, double *loss,
                     double *secs) {
  int P = p->P;
  double *th = p->theta_;
  memcpy(th, p->theta0 + (size_t)t * P, P * sizeof *th);
  qdm_adam adam;
  qdm_qngd q;
  QDM__OK(qdm_adam_init(&adam, 0.9, 0.999, 1e-8, 0));
  int rc = qdm_adam_add_group(&adam, "theta", th, p->grad_, P, 1, 0);
  if (!rc) rc = qdm_qngd_init(&q, P, o->kind, o->kind == QDM_METRIC_BLOCK ? o->layers : 0,
                              o->kind == QDM_METRIC_BLOCK ? p->bounds_ : NULL, o->lambda, o->refresh);
  if (rc) {
    qdm_adam_free(&adam);
    return rc;
  }
  const qdm_cplx *target = p->target + ((size_t)t << p->n);
  double t0 = qdm_now();
  for (int s = 0; !rc; s++) {
    loss[s] = loss_grad(p, target, th);
    secs[s] = qdm_now() - t0;
    if (s == o->steps) break;
    if (opt == QDM_LEARN_QNGD || (opt == QDM_LEARN_MIX && s < o->sw)) {
      rc = qdm_qngd_due(&q) ? qdm_qngd_refresh(&q, p->c, th, NULL, 0, NULL, 1) : 0;
      if (!rc) rc = qdm_qngd_step(&q, th, p->grad_, lq);
    } else {
      rc = qdm_adam_step(&adam, la);
    }
  }
  qdm_adam_free(&adam);
  qdm_qngd_free(&q);
  return rc;
}

int qdm_learn_trial(qdm_learn_problem *p, const qdm_learn_opts *o, int trial, int opt, double lr_qngd, double lr_adam,
                    double *loss, double *secs) {
  int rc = check_run(p, o, opt, "qdm_learn_trial");
  if (rc) return rc;
  if (trial < 0 || trial >= p->trials)
    return qdm_fail(QDM_EINVAL, "qdm_learn_trial: trial %d (expected 0..%d)", trial, p->trials - 1);
  if (!loss || !secs) return qdm_fail(QDM_EINVAL, "qdm_learn_trial: loss and secs must be non-NULL");
  return run_trial(p, o, trial, opt, lr_qngd, lr_adam, loss, secs);
}

int qdm_learn_trials(qdm_learn_problem *p, const qdm_learn_opts *o, int opt, double lr_qngd, double lr_adam,
                     double *loss, double *secs, double *score) {
  int rc = check_run(p, o, opt, "qdm_learn_trials");
  if (rc) return rc;
  if (!loss || !secs) return qdm_fail(QDM_EINVAL, "qdm_learn_trials: loss and secs must be non-NULL");
  int T = o->trials, N = o->steps + 1;
  double *L = malloc((size_t)T * N * sizeof *L), *S = malloc((size_t)T * N * sizeof *S), *v = malloc(T * sizeof *v);
  if (!L || !S || !v) rc = qdm_fail(QDM_ENOMEM, "qdm_learn_trials: out of memory for %d trials x %d steps", T, N);
  for (int t = 0; t < T && !rc; t++) rc = run_trial(p, o, t, opt, lr_qngd, lr_adam, L + (size_t)t * N, S + (size_t)t * N);
  double sc = 0;
  for (int s = 0; s < N && !rc; s++) {
    double m = 0;
    for (int t = 0; t < T; t++) {
      v[t] = L[(size_t)t * N + s];
      m += S[(size_t)t * N + s] / T;
    }
    loss[s] = qdm_median(v, T);
    secs[s] = m;
    sc += log10(fmax(loss[s], 1e-16)) / N;
  }
  if (!rc && score) *score = sc;
  free(L);
  free(S);
  free(v);
  return rc;
}

void qdm_learn_result_free(qdm_learn_result *r) {
  if (!r) return;
  for (int k = 0; k < QDM_LEARN_NOPT; k++) {
    free(r->loss[k]);
    free(r->secs[k]);
  }
  memset(r, 0, sizeof *r);
}

/* Adam and QNGD each at every rate of their list; the lowest score (mean
 * log10 loss over the run) is kept. */
static int tune(qdm_learn_problem *p, const qdm_learn_opts *o, int opt, qdm_learn_result *r, double *tl, double *ts) {
  int nl = opt == QDM_LEARN_ADAM ? o->nlr_adam : o->nlr_qngd, N = o->steps + 1;
  const double *lrs = opt == QDM_LEARN_ADAM ? o->lr_adam : o->lr_qngd;
  double best = INFINITY;
  for (int k = 0; k < nl; k++) {
    double sc;
    int rc = qdm_learn_trials(p, o, opt, lrs[k], lrs[k], tl, ts, &sc);
    if (rc) return rc;
    if (o->progress) o->progress(o->progress_ctx, opt, lrs[k], sc);
    if (sc < best) {
      best = sc;
      r->lr[opt] = lrs[k];
      memcpy(r->loss[opt], tl, N * sizeof *tl);
      memcpy(r->secs[opt], ts, N * sizeof *ts);
    }
  }
  return QDM_OK;
}

int qdm_learn_state(const char *ansatz, int n, const qdm_learn_opts *o, qdm_learn_result *r) {
  if (!r) return qdm_fail(QDM_EINVAL, "qdm_learn_state: result is NULL");
  memset(r, 0, sizeof *r);
  qdm_learn_problem p;
  int rc = qdm_learn_problem_init(&p, ansatz, n, o);
  if (rc) return rc;
  int N = o->steps + 1;
  r->n = n;
  r->P = p.P;
  double *tl = malloc(2 * N * sizeof *tl);
  for (int k = 0; k < QDM_LEARN_NOPT; k++) {
    r->loss[k] = malloc(N * sizeof *r->loss[k]);
    r->secs[k] = malloc(N * sizeof *r->secs[k]);
    if (!r->loss[k] || !r->secs[k]) rc = QDM_ENOMEM;
  }
  if (rc || !tl) rc = qdm_fail(QDM_ENOMEM, "qdm_learn_state: out of memory for %d steps", o->steps);
  if (!rc) rc = tune(&p, o, QDM_LEARN_ADAM, r, tl, tl + N);
  if (!rc) rc = tune(&p, o, QDM_LEARN_QNGD, r, tl, tl + N);
  r->lr[QDM_LEARN_MIX] = r->lr[QDM_LEARN_QNGD];
  if (!rc)
    rc = qdm_learn_trials(&p, o, QDM_LEARN_MIX, r->lr[QDM_LEARN_QNGD], r->lr[QDM_LEARN_ADAM], r->loss[QDM_LEARN_MIX],
                          r->secs[QDM_LEARN_MIX], NULL);
  free(tl);
  qdm_learn_problem_free(&p);
  if (rc) qdm_learn_result_free(r);
  return rc;
}
