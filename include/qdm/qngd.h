/* qdm/qngd.h -- quantum natural gradient (report section 8, eq. 26):
 *
 *   theta <- theta - eta (g(theta) + lambda I)^{-1} grad L(theta)
 *
 * with g the Fubini-Study metric of the circuit's output state
 * (Stokes, Izaac, Killoran & Carleo, Quantum 4, 269, 2020):
 *
 *   g_ij = Re( <d_i psi|d_j psi> - <d_i psi|psi><psi|d_j psi> ),
 *
 * and the barren-plateau diagnostic that motivates it: the variance of a
 * cost gradient over random parameters as the register grows (McClean et
 * al., Nat. Commun. 9, 4812, 2018).
 *
 * Three parts:
 *  1. the metric (src/qngd/fubini.c), exact from the state vector. One
 *     forward sweep carries the state and every derivative state |d_i psi>
 *     through the circuit (a parametric gate G(v), v = a theta_i + b, adds
 *     a (dG/dv) G^dagger, restricted to the gate's controlled subspace, times
 *     the current state to row i); the Gram matrix of the derivative
 *     states is then two dsyrk calls. Cost of the full metric: about P/2
 *     circuit passes on one state plus O(P^2 2^n), against ~3 passes for one
 *     adjoint gradient. The block-diagonal metric only carries a block's rows
 *     to the block's last gate (later gates are unitaries common to all
 *     rows and keep the inner products), so one block per layer costs about
 *     P/(2L) passes; the diagonal costs about one pass.
 *  2. the optimizer (src/qngd/qngd.c): factors g + lambda I by Cholesky
 *     (LAPACKE_dpotrf, per block for the block-diagonal metric) and reuses
 *     the factor for `refresh` steps.
 *  3. gradient variance (src/qngd/gradvar.c);
 *  4. the state-learning experiment (src/qngd/learn.c): Adam against QNGD
 *     on learning a state the ansatz can reach.
 *
 * Conventions are the engine's (include/qdm/qsim.h). Parameter indices are
 * the circuit's: the metric is P x P with P = c->nparams (row-major,
 * symmetric); a parameter the circuit never reads has a zero row and
 * column. The ansatz builders number parameters layer by layer, so "one
 * block per layer" is bounds[k] = k * (P / layers).
 *
 * Use in a training loop. One (t, label) group = one circuit (parameters
 * numbered 0..P-1) and one slice theta_g of the parameter table; the metric
 * is averaged over the group's input rows psi_rows (the states entering the
 * circuit). Keep one optimizer per group, or one shared by all groups with
 * refresh = 1 (the factor is then recomputed for every group and step):
 *
 *   qdm_qngd opt;
 *   qdm_qngd_init(&opt, P, QDM_METRIC_BLOCK, L, bounds, 1e-3, refresh);
 *   ...
 *   if (qdm_qngd_due(&opt))
 *     qdm_qngd_refresh(&opt, c, theta_g, NULL, 0, psi_rows, rows);
 *   qdm_qngd_step(&opt, theta_g, grad_g, lr);   (Adam steps the classical
 *                                                 parameters as before)
 *
 * Cost (docs/qngd.md): for the authors' block (4 qubits, 10 layers,
 * P = 160) and 32 rows, a full metric takes ~18 ms, block-diagonal ~3.5 ms,
 * diagonal ~1.7 ms, against ~0.1 ms for the adjoint gradient.
 * Memory: the optimizer keeps one P x P factor (8 P^2 bytes); the metric
 * sweep holds (P + 1) x rows states at a time (split into row chunks of at
 * most ~64 MB). */
#ifndef QDM_QNGD_H
#define QDM_QNGD_H

#include <stdint.h>
#include "qdm/circuits.h"
#include "qdm/qsim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================= the Fubini-Study metric ================= */

/* Which entries are computed (the others are written as 0):
 *  FULL  all P x P;
 *  BLOCK the diagonal blocks [bounds[k], bounds[k+1]) x [same], k < nblocks
 *        (Stokes et al.'s block-diagonal approximation, one block per layer);
 *  DIAG  the diagonal only.
 * Every kind is exact on the entries it computes. */
enum { QDM_METRIC_FULL = 0, QDM_METRIC_BLOCK = 1, QDM_METRIC_DIAG = 2 };

/* Their names "full", "block", "diag" (qdm_enum_parse / qdm_enum_str). */
extern const qdm_enum_name qdm_metric_names[];

/* bounds[k] = k * (P / nblocks), k = 0..nblocks (P divisible by nblocks):
 * one block per layer for the ansatz builders. */
int qdm_metric_layer_bounds(int P, int nblocks, int *bounds);

/* Output states and all derivative states of a batch of rows:
 * psi (rows x dim): in = input states, out = U(theta) psi_in (as qdm_run);
 * dpsi (P x rows x dim, parameter-major: row r of parameter i at
 * (i * rows + r) * dim) is written with d psi_out / d theta_i.
 * x / ldx: per-row inputs as in qdm_run (NULL / 0 if the circuit reads none). */
int qdm_state_jacobian(const qdm_circuit *c, const double *theta, const double *x, int ldx,
                       qdm_cplx *psi, int rows, qdm_cplx *dpsi);

/* The Fubini-Study metric averaged over `rows` input states:
 *   g = (1/rows) sum_r g(U(theta) psi_in[r]),
 * the metric the training loop needs for one (t, label) group. psi_in
 * (rows x dim, each of unit norm; NULL = every row starts in |0...0>) is
 * not modified. kind = QDM_METRIC_*, nblocks / bounds only for BLOCK
 * (bounds: nblocks + 1 increasing offsets from 0 to P). g: P x P, written. */
int qdm_fs_metric(const qdm_circuit *c, const double *theta, const double *x, int ldx,
                  const qdm_cplx *psi_in, int rows, int kind, int nblocks, const int *bounds,
                  double *g);

/* The same from states the caller already has (psi: rows x dim output
 * states, dpsi as written by qdm_state_jacobian). */
int qdm_fs_metric_from_jacobian(const qdm_cplx *psi, const qdm_cplx *dpsi, int P, int dim, int rows,
                                int kind, int nblocks, const int *bounds, double *g);

/* ================= the optimizer ================= */

typedef struct {
  int P;              /* parameters */
  int kind;           /* QDM_METRIC_*: which metric refresh computes and how the solve splits */
  int nblocks;
  int *bounds;        /* nblocks + 1 offsets (owned; FULL: {0, P}, DIAG: unused) */
  double lambda;      /* Tikhonov term: solve (g + lambda I) d = grad */
  int refresh;        /* the metric is due every `refresh` steps (>= 1) */
  long long t;        /* steps taken */
  long long t_metric; /* step at which the current factor was set (-1: none) */
  double *chol;       /* P x P: lower Cholesky factor of g + lambda I (per block) */
  double *dir;        /* P: the last natural-gradient direction (g + lambda I)^{-1} grad */
} qdm_qngd;

/* kind / nblocks / bounds as for qdm_fs_metric (bounds is copied; NULL with
 * nblocks = 0 for FULL and DIAG); lambda >= 0 (0 only if the metric is known
 * to be non-singular); refresh >= 1. Allocates. */
int qdm_qngd_init(qdm_qngd *o, int P, int kind, int nblocks, const int *bounds, double lambda,
                  int refresh);
void qdm_qngd_free(qdm_qngd *o);
/* 1 if the next step should use a fresh metric (none set yet, or
 * `refresh` steps since the last one), else 0. */
int qdm_qngd_due(const qdm_qngd *o);
/* Take metric g (P x P, as from qdm_fs_metric with this optimizer's kind;
 * only the entries of that kind are read) and factor g + lambda I.
 * QDM_EINVAL if it is not positive definite (lambda too small). */
int qdm_qngd_set_metric(qdm_qngd *o, const double *g);
/* qdm_fs_metric of (c, theta, psi_in rows) with the optimizer's kind, then
 * qdm_qngd_set_metric. */
int qdm_qngd_refresh(qdm_qngd *o, const qdm_circuit *c, const double *theta, const double *x, int ldx,
                     const qdm_cplx *psi_in, int rows);
/* dir = (g + lambda I)^{-1} grad with the current factor (dir may alias
 * grad). QDM_EINVAL if no metric was set. */
int qdm_qngd_direction(qdm_qngd *o, const double *grad, double *dir);
/* theta <- theta - lr (g + lambda I)^{-1} grad; t++. The factor is reused
 * until the caller refreshes it (see qdm_qngd_due). */
int qdm_qngd_step(qdm_qngd *o, double *theta, const double *grad, double lr);

/* ================= gradient variance (barren plateaus) ================= */

/* Costs C(theta) = <psi|H|psi> with psi = U(theta)|0...0>, H diagonal:
 *  ZZ     H = Z_0 Z_1 (McClean et al. 2018 measure Z_1 Z_2; n >= 2);
 *  GLOBAL H = |0...0><0...0| (Cerezo et al. 2021's global cost is 1 - C);
 *  LOCAL  H = (1/n) sum_j |0><0|_j (their local cost is 1 - C).
 * (A constant offset or sign does not change the gradient variance.) */
enum { QDM_COST_ZZ = 0, QDM_COST_GLOBAL = 1, QDM_COST_LOCAL = 2 };
extern const qdm_enum_name qdm_cost_names[]; /* "zz", "global", "local" */

/* dC/dtheta over `samples` parameter vectors uniform in [0, 2 pi)
 * (sample s draws from its own stream seeded by (seed, s), so the result
 * does not depend on threads): mean[k] and unbiased var[k] (P values each,
 * either may be NULL) of dC/dtheta_k, by one adjoint sweep per sample.
 * The circuit must read no per-row inputs. samples >= 2. */
int qdm_gradvar_circuit(const qdm_circuit *c, int cost, int samples, uint64_t seed, double *mean,
                        double *var);

typedef struct {
  int n, layers, nparams, samples;
  double var_mean;   /* mean over k of Var[dC/dtheta_k] */
  double var_first;  /* Var[dC/dtheta_0] (McClean et al.'s single-parameter form) */
  double var_max;    /* largest Var[dC/dtheta_k] */
  double seconds;
} qdm_gradvar_result;

/* The same for a named ansatz (qdm_ansatz_build; o may be NULL) on n qubits. */
int qdm_gradvar_ansatz(const char *ansatz, int n, int layers, const qdm_ansatz_opts *o, int cost,
                       int samples, uint64_t seed, qdm_gradvar_result *out);

/* ================= learning a state: Adam vs QNGD ================= */

/* Problem: a target |t> = U(theta*)|0> with theta* uniform in [0, 2 pi)
 * (reachable by the same ansatz) and a start theta0 uniform, independent;
 * loss L(theta) = 1 - |<t|psi(theta)>|^2, psi(theta) = U(theta)|0>.
 * Optimizers: Adam (beta 0.9, 0.999, eps 1e-8), QNGD (eq. 26 with the
 * metric kind, lambda and refresh of the options), and QNGD for the first
 * `sw` steps then Adam ("qngd+adam"). */
enum { QDM_LEARN_ADAM = 0, QDM_LEARN_QNGD = 1, QDM_LEARN_MIX = 2, QDM_LEARN_NOPT = 3 };
extern const qdm_enum_name qdm_learn_opt_names[]; /* "adam", "qngd", "qngd+adam" */

typedef struct {
  int layers;             /* ansatz layers [4] */
  qdm_ansatz_opts ansatz; /* init layer, ring [none, off] */
  int steps, trials;      /* optimizer steps [200]; (target, start) pairs [3] */
  int kind;               /* QDM_METRIC_* for QNGD [FULL] (BLOCK: one block per layer) */
  int refresh;            /* metric recomputed every `refresh` steps [1] */
  int sw;                 /* qngd+adam: QNGD steps before Adam [20] */
  double lambda;          /* solve (g + lambda I) d = grad [1e-3] */
  const double *lr_adam, *lr_qngd; /* rates tried (the caller's arrays) [{0.05}, {0.1}] */
  int nlr_adam, nlr_qngd;
  uint64_t seed;          /* [1] */
  /* called after each rate tried by qdm_learn_state (NULL: none): the
   * optimizer, its rate and the score that picks the rate */
  void (*progress)(void *ctx, int opt, double lr, double score);
  void *progress_ctx;
} qdm_learn_opts;
void qdm_learn_opts_default(qdm_learn_opts *o); /* the defaults in [] above */
int qdm_learn_opts_check(const qdm_learn_opts *o);

/* The circuit and `trials` (target, start) pairs of one (ansatz, n). Pair
 * t draws theta* then theta0 from stream (seed, hash of ansatz and n), so
 * the problem depends on (seed, ansatz, n) only. */
typedef struct {
  qdm_circuit *c;
  int n, P, layers, trials;
  qdm_cplx *target; /* trials x 2^n: |t> of pair t */
  double *theta0;   /* trials x P: the start of pair t */
  qdm_cplx *psi_, *lam_; /* work: state and co-gradient */
  double *grad_, *theta_;
  int *bounds_;          /* layers + 1 block bounds for QDM_METRIC_BLOCK */
} qdm_learn_problem;
int qdm_learn_problem_init(qdm_learn_problem *p, const char *ansatz, int n, const qdm_learn_opts *o);
void qdm_learn_problem_free(qdm_learn_problem *p);

/* Optimizer `opt` on pair `trial` (QNGD steps at rate lr_qngd, Adam steps
 * at lr_adam): loss[s] = L before step s and secs[s] = wall time until
 * then, s = 0..steps (steps + 1 values each). o must be the options the
 * problem was made with (or differ only in the optimizer settings). */
int qdm_learn_trial(qdm_learn_problem *p, const qdm_learn_opts *o, int trial, int opt, double lr_qngd,
                    double lr_adam, double *loss, double *secs);
/* Every pair: loss[s] = the median over pairs of their loss[s], secs[s]
 * the mean; score (may be NULL) = mean over s of log10(max(loss[s], 1e-16)),
 * the figure qdm_learn_state minimises to pick a rate. */
int qdm_learn_trials(qdm_learn_problem *p, const qdm_learn_opts *o, int opt, double lr_qngd, double lr_adam,
                     double *loss, double *secs, double *score);

typedef struct {
  int n, P;
  /* chosen rates; qngd+adam uses lr[QDM_LEARN_MIX] (= lr[QDM_LEARN_QNGD])
   * for its QNGD steps and lr[QDM_LEARN_ADAM] for its Adam steps */
  double lr[QDM_LEARN_NOPT];
  double *loss[QDM_LEARN_NOPT], *secs[QDM_LEARN_NOPT]; /* steps + 1 each (owned) */
} qdm_learn_result;
/* The experiment on one (ansatz, n): Adam and QNGD each at every rate of
 * their list, the best score kept; then qngd+adam at those two rates. */
int qdm_learn_state(const char *ansatz, int n, const qdm_learn_opts *o, qdm_learn_result *r);
void qdm_learn_result_free(qdm_learn_result *r);

#ifdef __cplusplus
}
#endif
#endif
