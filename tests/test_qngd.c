/* test_qngd.c -- the Fubini-Study metric, quantum natural gradient and the
 * gradient-variance test (report section 8) against outside values:
 * hand-derived metrics of small circuits, the identity
 * g = -1/2 Hessian of |<psi(theta)|psi(theta')>|^2 at theta' = theta by
 * finite differences (every parametric gate kind, controls, affine and
 * shared parameters, per-row inputs, averaged over input states), the
 * state Jacobian against central differences, the block/diagonal
 * approximations against the full matrix, the Cholesky solve against a
 * direct residual, QNGD against tuned gradient descent on a state-learning
 * problem, gradient variances computed by hand, and the state-learning
 * experiment (qdm_learn_*): its loss against a fidelity computed here, its
 * curves against medians taken here, convergence on a one-qubit target. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "qdm/circuits.h"
#include "qdm/qngd.h"

static qdm_rng rng;

static double metric1(qdm_circuit *c, const double *th, int i, int j) {
  int P = c->nparams;
  double *g = malloc((size_t)P * P * sizeof *g), v;
  CHECK(qdm_fs_metric(c, th, NULL, 0, NULL, 1, QDM_METRIC_FULL, 0, NULL, g) == QDM_OK, "metric: %s", qdm_errmsg());
  v = g[i * P + j];
  free(g);
  return v;
}

/* ---- hand-derived metrics; generators are P/2, so g_ii = Var(P)/4 ---- */
static void test_hand(void) {
  double a = 0.7, b = 1.3, th[2] = {a, b};
  /* RY(a) then RZ(b) on |0>: diag(1/4, sin^2(a)/4) */
  qdm_circuit *c = qdm_circuit_new(1);
  qdm_addr(c, QDM_GRY, 0, qdm_par(0));
  qdm_addr(c, QDM_GRZ, 0, qdm_par(1));
  CHECK_NEAR(metric1(c, th, 0, 0), 0.25, 1e-14, "RY RZ: g00 = 1/4");
  CHECK_NEAR(metric1(c, th, 1, 1), sin(a) * sin(a) / 4, 1e-14, "RY RZ: g11 = sin^2(a)/4");
  CHECK(fabs(metric1(c, th, 0, 1)) < 1e-15, "RY RZ: g01 = 0");
  qdm_circuit_free(c);
  /* the same through the ansatz library: hea on one qubit is RY then RZ */
  c = qdm_circuit_new(1);
  CHECK(qdm_ansatz_build(c, "hea", 1, 0, NULL) == 2, "hea(1 qubit) has 2 parameters");
  CHECK_NEAR(metric1(c, th, 1, 1), sin(a) * sin(a) / 4, 1e-14, "hea n=1: g11 = sin^2(a)/4");
  qdm_circuit_free(c);
  /* affine angle RZ(pi/2 - 2 theta): the chain rule's factor 4 */
  c = qdm_circuit_new(1);
  qdm_addr(c, QDM_GRY, 0, qdm_par(0));
  qdm_addr(c, QDM_GRZ, 0, qdm_par_affine(1, -2, M_PI / 2));
  CHECK_NEAR(metric1(c, th, 1, 1), sin(a) * sin(a), 1e-14, "RZ(pi/2 - 2 theta): g11 = sin^2(a)");
  qdm_circuit_free(c);
  /* RX(a) then RY(b): Bloch vector (0, -sin a, cos a) before RY, so
   * g11 = (1 - sin^2 a)/4, and g01 = <X><Y>/4 ... = 0 */
  c = qdm_circuit_new(1);
  qdm_addr(c, QDM_GRX, 0, qdm_par(0));
  qdm_addr(c, QDM_GRY, 0, qdm_par(1));
  CHECK_NEAR(metric1(c, th, 1, 1), cos(a) * cos(a) / 4, 1e-14, "RX RY: g11 = cos^2(a)/4");
  CHECK(fabs(metric1(c, th, 0, 1)) < 1e-15, "RX RY: g01 = 0");
  qdm_circuit_free(c);
  /* H then P(theta): generator |1><1|, variance 1/4 on |+> */
  c = qdm_circuit_new(1);
  qdm_add1(c, QDM_GH, 0);
  qdm_addr(c, QDM_GP, 0, qdm_par(0));
  CHECK_NEAR(metric1(c, th, 0, 0), 0.25, 1e-14, "H P: g = 1/4");
  qdm_circuit_free(c);
  /* controlled RY with the control in |+>: d psi = |1> (x) dRY|0> / sqrt 2,
   * <d|d> = 1/8, <psi|d> = 0 */
  c = qdm_circuit_new(2);
  qdm_add1(c, QDM_GH, 0);
  qdm_addc(c, QDM_GRY, 0, 1, qdm_par(0));
  CHECK_NEAR(metric1(c, th, 0, 0), 0.125, 1e-14, "CRY with control |+>: g = 1/8");
  qdm_circuit_free(c);
  /* one parameter in two gates: RY(theta) on both qubits of |00> */
  c = qdm_circuit_new(2);
  qdm_addr(c, QDM_GRY, 0, qdm_par(0));
  qdm_addr(c, QDM_GRY, 1, qdm_par(0));
  CHECK_NEAR(metric1(c, th, 0, 0), 0.5, 1e-14, "shared RY on two qubits: g = 1/2");
  qdm_circuit_free(c);
  /* RZZ on |++>: generator ZZ/2 with <ZZ> = 0 */
  c = qdm_circuit_new(2);
  qdm_add1(c, QDM_GH, 0);
  qdm_add1(c, QDM_GH, 1);
  qdm_add2(c, QDM_GRZZ, 0, 1, qdm_par(0));
  CHECK_NEAR(metric1(c, th, 0, 0), 0.25, 1e-14, "RZZ on |++>: g = 1/4");
  qdm_circuit_free(c);
}

/* ---- a circuit with every parametric gate kind ---- */
static qdm_circuit *zoo(int *P) {
  qdm_circuit *c = qdm_circuit_new(3);
  int q[3] = {0, 1, 2};
  qdm_addr(c, QDM_GRY, 2, qdm_input(0, 1.0, 0.2)); /* a per-row input */
  for (int l = 0, p = 0; l < 2; l++) {
    qdm_add1(c, QDM_GH, 0);
    qdm_addr(c, QDM_GRX, 0, qdm_par(p + 0));
    qdm_addr(c, QDM_GRY, 1, qdm_par(p + 1));
    qdm_addr(c, QDM_GRZ, 2, qdm_par_affine(p + 2, -2, M_PI / 2));
    qdm_addr(c, QDM_GP, 1, qdm_par(p + 3));
    qdm_u3(c, 0, qdm_par(p + 4), qdm_par(p + 5), qdm_par_affine(p + 6, 0.5, 0.3));
    qdm_cnot(c, 0, 2);
    qdm_add2(c, QDM_GRXX, 0, 1, qdm_par(p + 7));
    qdm_add2(c, QDM_GRYY, 1, 2, qdm_par(p + 8));
    qdm_add2(c, QDM_GRZZ, 2, 0, qdm_par(p + 9));
    qdm_addc(c, QDM_GRX, 2, 0, qdm_par(p + 10));
    qdm_addc(c, QDM_GRY, 0, 1, qdm_par(p + 11));
    qdm_addc(c, QDM_GRZ, 1, 2, qdm_par_affine(p + 1, 0.5, 0.3)); /* shared with RY above */
    qdm_addc(c, QDM_GP, 2, 1, qdm_par(p + 12));
    qdm_gate g = {0};
    g.kind = QDM_GRZZ; /* RZZ on (0, 1) controlled by qubit 2 */
    g.nt = 2;
    g.t[0] = 0;
    g.t[1] = 1;
    g.cmask = 1u << 2;
    g.ang[0] = qdm_par(p + 13);
    g.ang[1] = g.ang[2] = qdm_fixed(0);
    g.mat = -1;
    CHECK(qdm_add(c, g) == QDM_OK, "controlled RZZ: %s", qdm_errmsg());
    g.kind = QDM_GU3; /* controlled U3 */
    g.nt = 1;
    g.t[0] = 1;
    g.cmask = 1u;
    g.ang[0] = qdm_par(p + 14);
    g.ang[1] = qdm_par(p + 15);
    g.ang[2] = qdm_par(p + 14); /* the same parameter twice in one gate */
    CHECK(qdm_add(c, g) == QDM_OK, "controlled U3: %s", qdm_errmsg());
    qdm_add2(c, QDM_GSWAP, 0, 2, qdm_fixed(0));
    qdm_cz(c, 1, 2);
    qdm_qft(c, 3, q);
    qdm_cplx d[4] = {1, cexp(0.3 * I), cexp(-1.1 * I), I};
    int t2[2] = {0, 2};
    qdm_diag(c, 2, t2, d);
    p += 16;
    *P = p;
  }
  return c;
}

/* states of `rows` rows at theta */
static void states(const qdm_circuit *c, const double *th, const double *x, const qdm_cplx *in, int rows,
                   qdm_cplx *out) {
  size_t dim = (size_t)1 << c->n;
  memcpy(out, in, rows * dim * sizeof *out);
  qdm_run(c, th, x, 1, out, rows);
}

static double fid(const qdm_cplx *a, const qdm_cplx *b, size_t dim, int rows) {
  double s = 0;
  for (int r = 0; r < rows; r++) {
    qdm_cplx o = 0;
    for (size_t i = 0; i < dim; i++) o += conj(a[r * dim + i]) * b[r * dim + i];
    s += creal(o * conj(o));
  }
  return s / rows;
}

/* g = -1/2 d^2/dtheta'_i dtheta'_j F(theta, theta') at theta' = theta */
static void test_hessian(int rows) {
  int P;
  qdm_circuit *c = zoo(&P);
  CHECK(c->nparams == P, "zoo parameter count %d", c->nparams);
  enum { D = 8 };
  double th[32], tp[32], x[4], *g = malloc(P * P * sizeof *g);
  qdm_cplx in[4 * D], s0[4 * D], s1[4 * D];
  for (int i = 0; i < P; i++) th[i] = 2 * M_PI * qdm_rng_uniform(&rng);
  for (int r = 0; r < rows; r++) {
    x[r] = qdm_rng_normal(&rng);
    if (rows == 1) { memset(in, 0, sizeof in); in[0] = 1; }
    else qdm_rng_haar_state(&rng, in + r * D, D);
  }
  CHECK(qdm_fs_metric(c, th, x, 1, in, rows, QDM_METRIC_FULL, 0, NULL, g) == QDM_OK, "zoo metric: %s",
        qdm_errmsg());
  states(c, th, x, in, rows, s0);
  const double h = 4e-4;
  double worst = 0;
  for (int i = 0; i < P; i++)
    for (int j = i; j < P; j++) {
      double f[4];
      for (int k = 0; k < 4; k++) {
        memcpy(tp, th, P * sizeof *th);
        tp[i] += (k & 1) ? -h : h;
        tp[j] += (k & 2) ? -h : h;
        states(c, tp, x, in, rows, s1);
        f[k] = fid(s0, s1, D, rows);
      }
      double hess = (f[0] - f[1] - f[2] + f[3]) / (4 * h * h);
      double err = fabs(-0.5 * hess - g[i * P + j]);
      if (err > worst) worst = err;
      CHECK(fabs(g[i * P + j] - g[j * P + i]) < 1e-14, "metric is symmetric");
    }
  CHECK(worst < 1e-6, "metric = -1/2 fidelity Hessian (rows %d): worst |diff| %.3g", rows, worst);
  /* block (one per layer) and diagonal: the full matrix's entries, zero
   * elsewhere (here a parameter is read by two gates, so the diagonal's
   * rows must be carried between them) */
  double *gb = malloc(P * P * sizeof *gb), *gd = malloc(P * P * sizeof *gd);
  int bounds[3] = {0, P / 2, P};
  CHECK(qdm_fs_metric(c, th, x, 1, in, rows, QDM_METRIC_BLOCK, 2, bounds, gb) == QDM_OK, "zoo block");
  CHECK(qdm_fs_metric(c, th, x, 1, in, rows, QDM_METRIC_DIAG, 0, NULL, gd) == QDM_OK, "zoo diag");
  double wb = 0, wd = 0;
  for (int i = 0; i < P; i++)
    for (int j = 0; j < P; j++) {
      double f = g[i * P + j];
      wb = fmax(wb, fabs(gb[i * P + j] - ((i < P / 2) == (j < P / 2) ? f : 0)));
      wd = fmax(wd, fabs(gd[i * P + j] - (i == j ? f : 0)));
    }
  CHECK(wb < 1e-13 && wd < 1e-13, "zoo (rows %d): block and diag = full entries (%.3g, %.3g)", rows, wb, wd);
  free(gb);
  free(gd);
  free(g);
  qdm_circuit_free(c);
}

/* d psi / d theta_i against central differences, on 2 rows with inputs */
static void test_jacobian(void) {
  int P;
  qdm_circuit *c = zoo(&P);
  enum { D = 8, R = 2 };
  double th[32], tp[32], x[R] = {0.4, -1.2};
  qdm_cplx in[R * D], psi[R * D], *dpsi = malloc((size_t)P * R * D * sizeof *dpsi), sp[R * D], sm[R * D];
  for (int i = 0; i < P; i++) th[i] = 2 * M_PI * qdm_rng_uniform(&rng);
  for (int r = 0; r < R; r++) qdm_rng_haar_state(&rng, in + r * D, D);
  memcpy(psi, in, sizeof in);
  CHECK(qdm_state_jacobian(c, th, x, 1, psi, R, dpsi) == QDM_OK, "jacobian: %s", qdm_errmsg());
  states(c, th, x, in, R, sp);
  double worst = 0, h = 1e-5;
  for (int k = 0; k < R * D; k++) worst = fmax(worst, cabs(sp[k] - psi[k]));
  CHECK(worst < 1e-13, "jacobian's output state equals qdm_run's (%.3g)", worst);
  worst = 0;
  for (int i = 0; i < P; i++) {
    memcpy(tp, th, sizeof tp);
    tp[i] = th[i] + h;
    states(c, tp, x, in, R, sp);
    tp[i] = th[i] - h;
    states(c, tp, x, in, R, sm);
    for (int k = 0; k < R * D; k++) worst = fmax(worst, cabs((sp[k] - sm[k]) / (2 * h) - dpsi[(size_t)i * R * D + k]));
  }
  CHECK(worst < 1e-8, "jacobian = central differences (worst %.3g)", worst);
  /* the metric from the Jacobian equals the direct one */
  double *g1 = malloc(P * P * sizeof *g1), *g2 = malloc(P * P * sizeof *g2);
  qdm_fs_metric(c, th, x, 1, in, R, QDM_METRIC_FULL, 0, NULL, g1);
  CHECK(qdm_fs_metric_from_jacobian(psi, dpsi, P, D, R, QDM_METRIC_FULL, 0, NULL, g2) == QDM_OK, "from jacobian");
  worst = 0;
  for (int k = 0; k < P * P; k++) worst = fmax(worst, fabs(g1[k] - g2[k]));
  CHECK(worst < 1e-14, "metric from the Jacobian = direct metric (%.3g)", worst);
  free(g1);
  free(g2);
  free(dpsi);
  qdm_circuit_free(c);
}

/* block-diagonal and diagonal are exactly the full matrix's blocks */
static void test_blocks(void) {
  const char *names[3] = {"hea", "paper", "authors"};
  for (int a = 0; a < 3; a++) {
    int n = 4, L = 3;
    qdm_circuit *c = qdm_circuit_new(n);
    int P = qdm_ansatz_build(c, names[a], L, 0, NULL), bounds[4];
    double *th = malloc(P * sizeof *th), *gf = malloc(P * P * sizeof *gf), *gb = malloc(P * P * sizeof *gb),
           *gd = malloc(P * P * sizeof *gd);
    for (int i = 0; i < P; i++) th[i] = 2 * M_PI * qdm_rng_uniform(&rng);
    CHECK(qdm_metric_layer_bounds(P, L, bounds) == QDM_OK, "layer bounds");
    qdm_fs_metric(c, th, NULL, 0, NULL, 1, QDM_METRIC_FULL, 0, NULL, gf);
    CHECK(qdm_fs_metric(c, th, NULL, 0, NULL, 1, QDM_METRIC_BLOCK, L, bounds, gb) == QDM_OK, "block: %s",
          qdm_errmsg());
    CHECK(qdm_fs_metric(c, th, NULL, 0, NULL, 1, QDM_METRIC_DIAG, 0, NULL, gd) == QDM_OK, "diag: %s", qdm_errmsg());
    double wb = 0, wd = 0, off = 0, mx = 0;
    for (int i = 0; i < P; i++)
      for (int j = 0; j < P; j++) {
        double f = gf[i * P + j];
        int same = i / (P / L) == j / (P / L);
        if (same) wb = fmax(wb, fabs(gb[i * P + j] - f));
        else off = fmax(off, fabs(gb[i * P + j])), mx = fmax(mx, fabs(f));
        if (i == j) wd = fmax(wd, fabs(gd[i * P + j] - f));
        else off = fmax(off, fabs(gd[i * P + j]));
      }
    CHECK(wb < 1e-13 && wd < 1e-13, "%s: block/diag = full blocks (%.3g, %.3g)", names[a], wb, wd);
    CHECK(off == 0, "%s: entries outside the blocks are 0", names[a]);
    CHECK(mx > 1e-3, "%s: the full metric has off-block entries (%.3g), so the test means something", names[a], mx);
    free(th);
    free(gf);
    free(gb);
    free(gd);
    qdm_circuit_free(c);
  }
}

/* ---- the solve: (g + lambda I) dir = grad, checked by the residual ---- */
static void test_solve(void) {
  enum { P = 6 };
  double B[P * P], g[P * P], grad[P], dir[P], lam = 0.01;
  for (int k = 0; k < P * P; k++) B[k] = qdm_rng_normal(&rng);
  for (int i = 0; i < P; i++) /* g = B B^T / P: symmetric PSD */
    for (int j = 0; j < P; j++) {
      double s = 0;
      for (int k = 0; k < P; k++) s += B[i * P + k] * B[j * P + k];
      g[i * P + j] = s / P;
    }
  for (int i = 0; i < P; i++) grad[i] = qdm_rng_normal(&rng);
  int bounds[3] = {0, 2, P};
  for (int kind = 0; kind < 3; kind++) {
    qdm_qngd o;
    CHECK(qdm_qngd_init(&o, P, kind, kind == QDM_METRIC_BLOCK ? 2 : 0, kind == QDM_METRIC_BLOCK ? bounds : NULL, lam,
                        3) == QDM_OK,
          "init %s", qdm_errmsg());
    CHECK(qdm_qngd_due(&o) == 1, "a metric is due before the first step");
    CHECK(qdm_qngd_direction(&o, grad, dir) == QDM_EINVAL, "direction without a metric is an error");
    CHECK(qdm_qngd_set_metric(&o, g) == QDM_OK, "set_metric: %s", qdm_errmsg());
    CHECK(qdm_qngd_due(&o) == 0, "not due right after a refresh");
    CHECK(qdm_qngd_direction(&o, grad, dir) == QDM_OK, "direction");
    double worst = 0;
    for (int i = 0; i < P; i++) {
      double s = lam * dir[i];
      for (int j = 0; j < P; j++) {
        int keep = kind == QDM_METRIC_FULL || (kind == QDM_METRIC_BLOCK && (i < 2) == (j < 2)) || i == j;
        if (keep) s += g[i * P + j] * dir[j];
      }
      worst = fmax(worst, fabs(s - grad[i]));
    }
    CHECK(worst < 1e-11, "%s solve: residual %.3g", qdm_enum_str(qdm_metric_names, kind), worst);
    double th[P] = {0};
    for (int s = 0; s < 3; s++) qdm_qngd_step(&o, th, grad, 0.5);
    CHECK_NEAR(th[0], -1.5 * dir[0], 1e-12, "three steps of lr 0.5 move by -1.5 dir");
    CHECK(qdm_qngd_due(&o) == 1, "due again after refresh = 3 steps");
    qdm_qngd_free(&o);
  }
  /* lambda = 0 on a singular metric is refused, with a message */
  qdm_qngd o;
  double z[P * P] = {0};
  qdm_qngd_init(&o, P, QDM_METRIC_FULL, 0, NULL, 0, 1);
  CHECK(qdm_qngd_set_metric(&o, z) == QDM_EINVAL && strstr(qdm_errmsg(), "lambda"), "singular metric refused");
  qdm_qngd_free(&o);
}

static void test_errors(void) {
  qdm_qngd o;
  int bad[3] = {0, 3, 2};
  CHECK(qdm_qngd_init(&o, 0, 0, 0, NULL, 0.1, 1) == QDM_EINVAL, "P = 0");
  CHECK(qdm_qngd_init(&o, 4, 0, 0, NULL, -1, 1) == QDM_EINVAL, "lambda < 0");
  CHECK(qdm_qngd_init(&o, 4, 0, 0, NULL, 0.1, 0) == QDM_EINVAL, "refresh 0");
  CHECK(qdm_qngd_init(&o, 4, 7, 0, NULL, 0.1, 1) == QDM_EINVAL, "bad kind");
  CHECK(qdm_qngd_init(&o, 2, QDM_METRIC_BLOCK, 2, bad, 0.1, 1) == QDM_EINVAL, "decreasing bounds");
  qdm_circuit *c = qdm_circuit_new(1);
  qdm_addr(c, QDM_GRY, 0, qdm_par(0));
  double th = 0.3, g;
  qdm_cplx unnorm[2] = {1, 1};
  CHECK(qdm_fs_metric(NULL, &th, NULL, 0, NULL, 1, 0, 0, NULL, &g) == QDM_EINVAL, "NULL circuit");
  CHECK(qdm_fs_metric(c, NULL, NULL, 0, NULL, 1, 0, 0, NULL, &g) == QDM_EINVAL, "NULL theta");
  CHECK(qdm_fs_metric(c, &th, NULL, 0, NULL, 0, 0, 0, NULL, &g) == QDM_EINVAL, "rows 0");
  CHECK(qdm_fs_metric(c, &th, NULL, 0, unnorm, 1, 0, 0, NULL, &g) == QDM_EINVAL && strstr(qdm_errmsg(), "norm"),
        "unnormalised input state");
  CHECK(qdm_fs_metric(c, &th, NULL, 0, NULL, 1, QDM_METRIC_BLOCK, 1, NULL, &g) == QDM_EINVAL, "block without bounds");
  CHECK(qdm_gradvar_circuit(c, QDM_COST_ZZ, 10, 1, NULL, &g) == QDM_EINVAL, "zz cost on one qubit");
  CHECK(qdm_gradvar_circuit(c, QDM_COST_GLOBAL, 1, 1, NULL, &g) == QDM_EINVAL, "one sample");
  CHECK(qdm_enum_parse(qdm_metric_names, "kind", "block") == QDM_METRIC_BLOCK &&
            qdm_enum_parse(qdm_metric_names, "kind", "x") == -1,
        "kind names");
  CHECK(qdm_enum_parse(qdm_cost_names, "cost", "local") == QDM_COST_LOCAL &&
            qdm_enum_parse(qdm_cost_names, "cost", "zzz") == -1,
        "cost names");
  int b[4];
  CHECK(qdm_metric_layer_bounds(10, 3, b) == QDM_EINVAL, "10 parameters do not split into 3 layers");
  qdm_circuit_free(c);
}

/* ---- state learning: QNGD beats gradient descent at its best rate ---- */
static double loss_grad(const qdm_circuit *c, const double *th, const qdm_cplx *target, double *grad) {
  enum { D = 8 };
  qdm_cplx psi[D], lam[D], a = 0;
  qdm_zero_state(psi, c->n, 1);
  qdm_run(c, th, NULL, 0, psi, 1);
  for (int i = 0; i < D; i++) a += conj(target[i]) * psi[i];
  /* L = 1 - |a|^2, co-gradient dL/dpsi = -2 a target */
  for (int i = 0; i < D; i++) lam[i] = -2 * a * target[i];
  memset(grad, 0, c->nparams * sizeof *grad);
  qdm_run_adjoint(c, th, NULL, 0, psi, lam, 1, grad, NULL);
  return 1 - creal(a * conj(a));
}

/* steps to reach loss < 1e-4 (cap if never); natural = use QNGD */
static int steps_to(const qdm_circuit *c, const double *th0, const qdm_cplx *target, double lr, int natural, int cap) {
  int P = c->nparams;
  double th[64], grad[64];
  memcpy(th, th0, P * sizeof *th);
  qdm_qngd o;
  qdm_qngd_init(&o, P, QDM_METRIC_FULL, 0, NULL, 1e-4, 1);
  int s;
  for (s = 0; s < cap; s++) {
    if (loss_grad(c, th, target, grad) < 1e-4) break;
    if (natural) {
      qdm_qngd_refresh(&o, c, th, NULL, 0, NULL, 1);
      qdm_qngd_step(&o, th, grad, lr);
    } else {
      for (int i = 0; i < P; i++) th[i] -= lr * grad[i];
    }
  }
  qdm_qngd_free(&o);
  return s;
}

static void test_learning(void) {
  qdm_circuit *c = qdm_circuit_new(3);
  int P = qdm_ansatz_build(c, "hea", 2, 0, NULL);
  double ts[64], th0[64];
  qdm_cplx target[8];
  for (int i = 0; i < P; i++) ts[i] = 2 * M_PI * qdm_rng_uniform(&rng);
  for (int i = 0; i < P; i++) th0[i] = ts[i] + 0.8 * qdm_rng_normal(&rng);
  qdm_zero_state(target, 3, 1);
  qdm_run(c, ts, NULL, 0, target, 1);
  enum { CAP = 2000 };
  const double gd_lr[] = {0.2, 0.4, 0.8, 1.2, 1.6, 2.0, 2.4, 3.2}, ng_lr[] = {0.1, 0.2, 0.3, 0.5};
  int best_gd = CAP, best_ng = CAP;
  for (int k = 0; k < 8; k++) {
    int s = steps_to(c, th0, target, gd_lr[k], 0, CAP);
    if (s < best_gd) best_gd = s;
  }
  for (int k = 0; k < 4; k++) {
    int s = steps_to(c, th0, target, ng_lr[k], 1, CAP);
    if (s < best_ng) best_ng = s;
  }
  printf("state learning to loss 1e-4: gradient descent %d steps (best of 8 rates), QNGD %d steps\n", best_gd, best_ng);
  CHECK(best_ng < CAP, "QNGD reaches the target");
  CHECK(best_ng < best_gd, "QNGD needs fewer steps (%d) than tuned gradient descent (%d)", best_ng, best_gd);
  qdm_circuit_free(c);
}

/* ---- gradient variance, by hand for hea on 2 qubits, 1 layer:
 * RY(p0) q0, RY(p1) q1, RZ(p2) q0, RZ(p3) q1, CNOT 0->1.
 * zz: CNOT maps Z0 Z1 to Z1, C = cos p1: Var dC/dp1 = E sin^2 = 1/2, others 0.
 * global: C = cos^2(p0/2) cos^2(p1/2): Var dC/dp0 = (1/4)(1/2)(3/8) = 3/64.
 * local: C = ((1 + cos p0) + (1 + cos p0 cos p1)) / 4:
 *   Var dC/dp0 = (1/16)(1/2)(3/2) = 3/64, Var dC/dp1 = (1/16)(1/4) = 1/64. */
static void test_gradvar(void) {
  qdm_circuit *c = qdm_circuit_new(2);
  qdm_ansatz_build(c, "hea", 1, 0, NULL);
  double v[4], m[4];
  const int S = 6000;
  CHECK(qdm_gradvar_circuit(c, QDM_COST_ZZ, S, 7, m, v) == QDM_OK, "gradvar: %s", qdm_errmsg());
  CHECK_NEAR(v[1], 0.5, 0.03, "zz: Var dC/dp1 = 1/2");
  CHECK(v[0] < 1e-25 && v[2] < 1e-25 && v[3] < 1e-25, "zz: the other gradients vanish (%g %g %g)", v[0], v[2], v[3]);
  CHECK(fabs(m[1]) < 0.04, "zz: mean gradient 0 (%g)", m[1]);
  qdm_gradvar_circuit(c, QDM_COST_GLOBAL, S, 7, NULL, v);
  CHECK_NEAR(v[0], 3.0 / 64, 0.005, "global: Var dC/dp0 = 3/64");
  CHECK_NEAR(v[1], 3.0 / 64, 0.005, "global: Var dC/dp1 = 3/64");
  qdm_gradvar_circuit(c, QDM_COST_LOCAL, S, 7, NULL, v);
  CHECK_NEAR(v[0], 3.0 / 64, 0.005, "local: Var dC/dp0 = 3/64");
  CHECK_NEAR(v[1], 1.0 / 64, 0.002, "local: Var dC/dp1 = 1/64");
  qdm_gradvar_result r;
  CHECK(qdm_gradvar_ansatz("hea", 2, 1, NULL, QDM_COST_ZZ, S, 7, &r) == QDM_OK, "gradvar_ansatz");
  CHECK_NEAR(r.var_mean, 0.125, 0.01, "hea n=2 zz: mean variance 1/8");
  CHECK(r.nparams == 4 && r.var_first < 1e-25, "hea n=2: 4 parameters, Var dC/dp0 = 0");
  CHECK(qdm_gradvar_ansatz("nope", 2, 1, NULL, QDM_COST_ZZ, S, 7, &r) != QDM_OK, "unknown ansatz");
  qdm_circuit_free(c);
}


/* ---- the state-learning experiment (qdm_learn_*) ---- */

/* The median by insertion sort, independent of the library's qsort. */
static double median_here(const double *v, int n) {
  double w[16];
  for (int i = 0; i < n; i++) {
    int j = i;
    for (; j > 0 && w[j - 1] > v[i]; j--) w[j] = w[j - 1];
    w[j] = v[i];
  }
  return n % 2 ? w[n / 2] : (w[n / 2 - 1] + w[n / 2]) / 2;
}

static void test_median(void) {
  double a[5] = {3, -1, 7, 2, 2}, b[4] = {10, -4, 1, 6}, c[1] = {5};
  CHECK(qdm_median(a, 5) == 2, "median of 3, -1, 7, 2, 2 is 2");
  CHECK(qdm_median(b, 4) == 3.5, "median of 10, -4, 1, 6 is (1 + 6) / 2");
  CHECK(qdm_median(c, 1) == 5, "median of one value");
  CHECK(isnan(qdm_median(c, 0)), "median of nothing is NaN");
}

/* 1 - |<t|U(theta)|0>|^2, from the engine's state */
static double infidelity(const qdm_circuit *c, const double *th, const qdm_cplx *t) {
  qdm_cplx psi[16], a = 0;
  qdm_zero_state(psi, c->n, 1);
  qdm_run(c, th, NULL, 0, psi, 1);
  for (int i = 0; i < 1 << c->n; i++) a += conj(t[i]) * psi[i];
  return 1 - creal(a * conj(a));
}

static void test_learn_problem(void) {
  qdm_learn_opts o;
  qdm_learn_opts_default(&o);
  o.layers = 2;
  o.trials = 4;
  o.steps = 12;
  qdm_learn_problem p, q;
  CHECK(qdm_learn_problem_init(&p, "hea", 2, &o) == QDM_OK, "problem: %s", qdm_errmsg());
  CHECK(p.P == 8 && p.trials == 4, "hea on 2 qubits, 2 layers: 8 parameters (P = %d)", p.P);
  for (int t = 0; t < 4; t++) {
    double nrm = 0;
    for (int i = 0; i < 4; i++) nrm += creal(p.target[4 * t + i] * conj(p.target[4 * t + i]));
    CHECK_NEAR(nrm, 1, 1e-14, "target is a unit vector");
    for (int k = 0; k < p.P; k++)
      CHECK(p.theta0[t * p.P + k] >= 0 && p.theta0[t * p.P + k] < 2 * M_PI, "start uniform in [0, 2 pi)");
  }
  /* the problem depends on (seed, ansatz, n) only */
  o.steps = 50;
  o.lr_adam = (const double[]){0.3, 0.1};
  o.nlr_adam = 2;
  CHECK(qdm_learn_problem_init(&q, "hea", 2, &o) == QDM_OK, "second problem");
  CHECK(!memcmp(p.target, q.target, 16 * sizeof *p.target) && !memcmp(p.theta0, q.theta0, 32 * sizeof *p.theta0),
        "same seed, ansatz and n: same problem whatever the other options");
  qdm_learn_problem_free(&q);
  o.seed = 2;
  CHECK(qdm_learn_problem_init(&q, "hea", 2, &o) == QDM_OK && memcmp(p.theta0, q.theta0, 32 * sizeof *p.theta0),
        "another seed: another problem");
  qdm_learn_problem_free(&q);
  o.seed = 1;
  o.steps = 12;

  /* each trial starts at its own 1 - |<t|psi(theta0)>|^2; the curves of all
   * trials are medians of the single trials' curves */
  enum { N = 13 };
  double L[4][N], S[N], med[N], sec[N], score, want_score = 0;
  for (int t = 0; t < 4; t++) {
    CHECK(qdm_learn_trial(&p, &o, t, QDM_LEARN_QNGD, 0.1, 0.05, L[t], S) == QDM_OK, "trial %d: %s", t, qdm_errmsg());
    CHECK_NEAR(L[t][0], infidelity(p.c, p.theta0 + t * p.P, p.target + 4 * t), 1e-13, "loss at step 0");
    CHECK(L[t][N - 1] < L[t][0], "QNGD lowers the loss of trial %d (%g -> %g)", t, L[t][0], L[t][N - 1]);
  }
  CHECK(qdm_learn_trials(&p, &o, QDM_LEARN_QNGD, 0.1, 0.05, med, sec, &score) == QDM_OK, "trials: %s", qdm_errmsg());
  int same = 1;
  for (int s = 0; s < N; s++) {
    double v[4] = {L[0][s], L[1][s], L[2][s], L[3][s]};
    same &= med[s] == median_here(v, 4);
    want_score += log10(fmax(med[s], 1e-16)) / N;
  }
  CHECK(same, "the curve of 4 trials is the median (mean of the middle two) at every step");
  CHECK_NEAR(score, want_score, 1e-14, "score = mean log10 loss");
  o.trials = 3;
  CHECK(qdm_learn_trials(&p, &o, QDM_LEARN_QNGD, 0.1, 0.05, med, sec, NULL) == QDM_EINVAL,
        "options with another trial count are rejected");
  qdm_learn_problem_free(&p);
  CHECK(qdm_learn_problem_init(&p, "hea", 2, &o) == QDM_OK, "3-trial problem");
  CHECK(qdm_learn_trials(&p, &o, QDM_LEARN_ADAM, 0.1, 0.05, med, sec, NULL) == QDM_OK, "adam trials");
  same = 1;
  for (int t = 0; t < 3; t++) qdm_learn_trial(&p, &o, t, QDM_LEARN_ADAM, 0.1, 0.05, L[t], S);
  for (int s = 0; s < N; s++) same &= med[s] == median_here((double[]){L[0][s], L[1][s], L[2][s]}, 3);
  CHECK(same, "the curve of 3 trials is the middle value at every step");
  qdm_learn_problem_free(&p);
}

/* One qubit, hea with one layer (RY then RZ): every state is reachable and
 * the metric is diag(1/4, sin^2(a) / 4), so QNGD converges quickly. */
static void test_learn_state(void) {
  qdm_learn_opts o;
  qdm_learn_opts_default(&o);
  o.layers = 1;
  o.steps = 60;
  o.trials = 3;
  o.sw = 10;
  const double la[2] = {1e-4, 0.1}, lq[2] = {0.5, 1e-4};
  o.lr_adam = la;
  o.lr_qngd = lq;
  o.nlr_adam = o.nlr_qngd = 2;
  qdm_learn_result r;
  CHECK(qdm_learn_state("hea", 1, &o, &r) == QDM_OK, "learn: %s", qdm_errmsg());
  int N = o.steps + 1;
  CHECK(r.n == 1 && r.P == 2, "one qubit, two parameters");
  CHECK(r.lr[QDM_LEARN_ADAM] == 0.1 && r.lr[QDM_LEARN_QNGD] == 0.5, "the useful rates are picked (%g, %g)",
        r.lr[QDM_LEARN_ADAM], r.lr[QDM_LEARN_QNGD]);
  CHECK(r.loss[QDM_LEARN_QNGD][N - 1] < 1e-10, "QNGD learns the one-qubit target (final loss %g)",
        r.loss[QDM_LEARN_QNGD][N - 1]);
  CHECK(r.loss[QDM_LEARN_ADAM][N - 1] < 0.1 * r.loss[QDM_LEARN_ADAM][0], "Adam lowers the loss 10x (%g -> %g)",
        r.loss[QDM_LEARN_ADAM][0], r.loss[QDM_LEARN_ADAM][N - 1]);
  int same = 1;
  for (int s = 0; s <= o.sw; s++) same &= r.loss[QDM_LEARN_MIX][s] == r.loss[QDM_LEARN_QNGD][s];
  CHECK(same, "qngd+adam follows QNGD for its first %d steps", o.sw);
  CHECK(r.secs[QDM_LEARN_QNGD][0] >= 0 && r.secs[QDM_LEARN_QNGD][N - 1] > r.secs[QDM_LEARN_QNGD][0], "times grow");
  qdm_learn_result_free(&r);

  CHECK(qdm_learn_state("nosuch", 2, &o, &r) == QDM_EINVAL && strstr(qdm_errmsg(), "nosuch"), "unknown ansatz");
  o.steps = 0;
  CHECK(qdm_learn_state("hea", 2, &o, &r) == QDM_EINVAL && strstr(qdm_errmsg(), "steps"), "steps 0");
  o.steps = 5;
  o.nlr_qngd = 0;
  CHECK(qdm_learn_state("hea", 2, &o, &r) == QDM_EINVAL && strstr(qdm_errmsg(), "QNGD"), "no QNGD rate");
  o.nlr_qngd = 1;
  o.kind = 9;
  CHECK(qdm_learn_state("hea", 2, &o, &r) == QDM_EINVAL && strstr(qdm_errmsg(), "metric kind"), "bad metric kind");
  CHECK(r.loss[0] == NULL, "no result left after an error");
}

int main(void) {
  qdm_rng_seed(&rng, 20240806);
  test_hand();
  test_hessian(1);
  test_hessian(3);
  test_jacobian();
  test_blocks();
  test_solve();
  test_errors();
  test_learning();
  test_gradvar();
  test_median();
  test_learn_problem();
  test_learn_state();
  return check_done();
}
