/* test_circuits.c -- encodings, ansatz builders and ANO against values that
 * do not come from the code under test: the report's equations evaluated
 * directly, exp(-i(a XX + b YY + c ZZ)) built in the Bell basis, a tiny
 * independent state-vector helper, Sim et al.'s parameter counts, and
 * central finite differences for every backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "qdm/circuits.h"

static qdm_rng rng;
static double unif(double lo, double hi) { return lo + (hi - lo) * qdm_rng_uniform(&rng); }
static qdm_cplx cgauss(void) { return qdm_rng_normal(&rng) + I * qdm_rng_normal(&rng); }

/* |<a|b>| for unit vectors: 1 iff equal up to a global phase. */
static double overlap(const qdm_cplx *a, const qdm_cplx *b, size_t n) {
  qdm_cplx s = 0;
  for (size_t i = 0; i < n; i++) s += conj(a[i]) * b[i];
  return cabs(s);
}

static double maxdiff(const qdm_cplx *a, const qdm_cplx *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, cabs(a[i] - b[i]));
  return m;
}

/* ---- an independent little simulator: 1- and 2-qubit matrices applied
 * by index arithmetic (qubit 0 = least significant bit). ---- */
static void apply1(qdm_cplx *psi, int n, int q, const qdm_cplx m[4]) {
  size_t dim = (size_t)1 << n, b = (size_t)1 << q;
  for (size_t i = 0; i < dim; i++)
    if (!(i & b)) {
      qdm_cplx x0 = psi[i], x1 = psi[i | b];
      psi[i] = m[0] * x0 + m[1] * x1;
      psi[i | b] = m[2] * x0 + m[3] * x1;
    }
}
/* U 4x4 on (q0 = local LSB, q1) */
static void apply2(qdm_cplx *psi, int n, int q0, int q1, const qdm_cplx U[16]) {
  size_t dim = (size_t)1 << n, b0 = (size_t)1 << q0, b1 = (size_t)1 << q1;
  for (size_t i = 0; i < dim; i++)
    if (!(i & b0) && !(i & b1)) {
      size_t idx[4] = {i, i | b0, i | b1, i | b0 | b1};
      qdm_cplx x[4], y[4];
      for (int k = 0; k < 4; k++) x[k] = psi[idx[k]];
      for (int r = 0; r < 4; r++) {
        y[r] = 0;
        for (int k = 0; k < 4; k++) y[r] += U[r * 4 + k] * x[k];
      }
      for (int k = 0; k < 4; k++) psi[idx[k]] = y[k];
    }
}

/* exp(-i(a XX + b YY + c ZZ)) from its eigen-decomposition: the Bell
 * states diagonalise XX, YY, ZZ with signs
 *   Phi+ (+,-,+), Phi- (-,+,+), Psi+ (+,+,-), Psi- (-,-,-). */
static void canonical(double a, double b, double c, qdm_cplx V[16]) {
  const double r = M_SQRT1_2;
  const double B[4][4] = {{r, 0, 0, r}, {r, 0, 0, -r}, {0, r, r, 0}, {0, r, -r, 0}};
  const double sx[4] = {1, -1, 1, -1}, sy[4] = {-1, 1, 1, -1}, sz[4] = {1, 1, -1, -1};
  memset(V, 0, 16 * sizeof *V);
  for (int k = 0; k < 4; k++) {
    qdm_cplx e = cexp(-I * (a * sx[k] + b * sy[k] + c * sz[k]));
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) V[i * 4 + j] += e * B[k][i] * B[k][j];
  }
}

/* |tr(V^dagger U)| / dim: 1 iff U = e^{i phi} V. */
static double same_up_to_phase(const qdm_cplx *U, const qdm_cplx *V, int dim) {
  qdm_cplx s = 0;
  for (int i = 0; i < dim * dim; i++) s += conj(V[i]) * U[i];
  return cabs(s) / dim;
}

static void test_vw_block(void) {
  for (int t = 0; t < 20; t++) {
    double a = unif(-4, 4), b = unif(-4, 4), c = unif(-4, 4);
    double th[3] = {a, b, c};
    qdm_circuit *cc = qdm_circuit_new(2);
    CHECK(qdm_vw_block(cc, 0, 1, 0) == 3, "vw block uses 3 parameters");
    qdm_cplx U[16], V[16], W[16];
    CHECK(qdm_unitary(cc, th, U) == QDM_OK, "unitary: %s", qdm_errmsg());
    /* the documented mapping, no local correction */
    canonical(-a, -b, c - M_PI / 2, V);
    CHECK_NEAR(same_up_to_phase(U, V, 4), 1.0, 1e-12, "N(a,b,c) = exp(-i(-a XX - b YY + (c - pi/2) ZZ))");
    /* equivalently (Z x Z) exp(-i(-a XX - b YY + c ZZ)) */
    canonical(-a, -b, c, V);
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) W[i * 4 + j] = ((__builtin_popcount(i) & 1) ? -1 : 1) * V[i * 4 + j];
    CHECK_NEAR(same_up_to_phase(U, W, 4), 1.0, 1e-12, "N(a,b,c) = (Z x Z) exp(-i(-a XX - b YY + c ZZ))");
    /* and the naive reading (a, b, c) is NOT it for generic angles */
    canonical(a, b, c, V);
    CHECK(same_up_to_phase(U, V, 4) < 0.999, "block differs from exp(-i(a XX + b YY + c ZZ))");
    qdm_circuit_free(cc);
  }
}

/* ---- encodings ---- */

static void run_inputs(qdm_circuit *c, const double *x, int nx, qdm_cplx *psi) {
  qdm_zero_state(psi, c->n, 1);
  CHECK(qdm_run(c, NULL, x, nx, psi, 1) == QDM_OK, "run: %s", qdm_errmsg());
}

static void test_encodings(void) {
  const int n = 3;
  const size_t dim = 8;
  qdm_cplx psi[8], want[8];
  /* basis, eq. (13) */
  uint8_t bits[6] = {1, 0, 1, 0, 1, 1};
  qdm_cplx two[16];
  CHECK(qdm_enc_basis_state(bits, n, 2, two) == QDM_OK, "basis state");
  CHECK(cabs(two[5] - 1) < 1e-15 && cabs(two[8 + 6] - 1) < 1e-15, "basis: bits (1,0,1) -> |5>, (0,1,1) -> |6>");
  qdm_circuit *c = qdm_circuit_new(n);
  CHECK(qdm_enc_basis(c, n, 0) == QDM_OK, "basis circuit");
  double xb[3] = {1, 1, 0};
  run_inputs(c, xb, 3, psi);
  CHECK(cabs(psi[3] - 1) < 1e-15, "basis circuit: x = (1,1,0) gives |3> with no phase");
  uint8_t bad[3] = {0, 2, 0};
  CHECK(qdm_enc_basis_state(bad, n, 1, psi) == QDM_EINVAL, "bit value 2 rejected");

  /* angle, eq. (16): amplitude of |i> = prod_k (bit_k ? sin : cos)(x_k / 2) */
  double x[6];
  for (int k = 0; k < 6; k++) x[k] = unif(-3, 3);
  qdm_circuit_clear(c);
  CHECK(qdm_enc_angle(c, n, 0) == QDM_OK, "angle circuit");
  run_inputs(c, x, 3, psi);
  for (size_t i = 0; i < dim; i++) {
    want[i] = 1;
    for (int k = 0; k < n; k++) want[i] *= i >> k & 1 ? sin(x[k] / 2) : cos(x[k] / 2);
  }
  CHECK(maxdiff(psi, want, dim) < 1e-14, "angle encoding = eq. (16)");

  /* phase, eq. (17): 2^{-n/2} prod_k (bit_k ? e^{i x_k} : 1) */
  qdm_circuit_clear(c);
  CHECK(qdm_enc_phase(c, n, 0) == QDM_OK, "phase circuit");
  run_inputs(c, x, 3, psi);
  for (size_t i = 0; i < dim; i++) {
    want[i] = pow(2, -n / 2.0);
    for (int k = 0; k < n; k++) want[i] *= i >> k & 1 ? cexp(I * x[k]) : 1;
  }
  CHECK(maxdiff(psi, want, dim) < 1e-14, "phase encoding = eq. (17)");

  /* dense angle, eq. (19) exactly: prod_k (bit ? e^{i x_{2k+1}} sin x_{2k} : cos x_{2k}) */
  qdm_circuit_clear(c);
  CHECK(qdm_enc_dense(c, 6, 0, QDM_DENSE_EQ19) == QDM_OK, "dense eq19 circuit");
  run_inputs(c, x, 6, psi);
  for (size_t i = 0; i < dim; i++) {
    want[i] = 1;
    for (int k = 0; k < n; k++) want[i] *= i >> k & 1 ? cexp(I * x[2 * k + 1]) * sin(x[2 * k]) : cos(x[2 * k]);
  }
  CHECK(maxdiff(psi, want, dim) < 1e-14, "dense encoding = eq. (19)");
  /* eq. (18): half angles, times the documented R_Z phase prod e^{-i y/2} */
  qdm_circuit_clear(c);
  CHECK(qdm_enc_dense(c, 6, 0, QDM_DENSE_EQ18) == QDM_OK, "dense eq18 circuit");
  run_inputs(c, x, 6, psi);
  for (size_t i = 0; i < dim; i++) {
    want[i] = 1;
    for (int k = 0; k < n; k++)
      want[i] *= cexp(-I * x[2 * k + 1] / 2) * (i >> k & 1 ? cexp(I * x[2 * k + 1]) * sin(x[2 * k] / 2) : cos(x[2 * k] / 2));
  }
  CHECK(maxdiff(psi, want, dim) < 1e-14, "dense encoding = eq. (18) with its R_Z phase");
  CHECK(qdm_enc_dense(c, 5, 0, QDM_DENSE_EQ19) == QDM_EINVAL, "odd feature count rejected");
  CHECK(qdm_enc_dense(c, 8, 0, QDM_DENSE_EQ19) == QDM_EINVAL, "too many features rejected");
  CHECK(qdm_enc_angle(c, 4, 0) == QDM_EINVAL, "more features than qubits rejected");

  /* the encodings are trainable: dL/dx from the adjoint pass vs central
   * differences, L = Re <w|psi> for a fixed random w */
  qdm_cplx w[8], lam[8];
  for (size_t i = 0; i < dim; i++) w[i] = cgauss();
  double dx[6] = {0};
  run_inputs(c, x, 6, psi);
  memcpy(lam, w, sizeof lam); /* co-gradient of Re<w|psi> is w */
  CHECK(qdm_run_adjoint(c, NULL, x, 6, psi, lam, 1, NULL, dx) == QDM_OK, "adjoint: %s", qdm_errmsg());
  for (int k = 0; k < 6; k++) {
    double h = 1e-6, xp[6], lp = 0, lm = 0;
    memcpy(xp, x, sizeof xp);
    xp[k] += h;
    run_inputs(c, xp, 6, psi);
    for (size_t i = 0; i < dim; i++) lp += creal(conj(w[i]) * psi[i]);
    xp[k] -= 2 * h;
    run_inputs(c, xp, 6, psi);
    for (size_t i = 0; i < dim; i++) lm += creal(conj(w[i]) * psi[i]);
    CHECK_NEAR(dx[k], (lp - lm) / (2 * h), 1e-7, "dense encoding dL/dx vs finite difference");
  }
  qdm_circuit_free(c);
}

/* L(psi) = Re<w|psi> + 0.7 |psi_1|^2, co-gradient w + 1.4 psi_1 e_1 */
static double amp_loss(const qdm_cplx *psi, const qdm_cplx *w, size_t dim, qdm_cplx *g) {
  double L = 0.7 * (creal(psi[1]) * creal(psi[1]) + cimag(psi[1]) * cimag(psi[1]));
  for (size_t i = 0; i < dim; i++) L += creal(conj(w[i]) * psi[i]);
  if (g) {
    memcpy(g, w, dim * sizeof *g);
    g[1] += 1.4 * psi[1];
  }
  return L;
}

static void test_amplitude(void) {
  enum { n = 4, len = 11, ld = 13, rows = 2 };
  const size_t dim = 16;
  qdm_cplx x[rows * ld], psi[rows * dim], w[dim], g[rows * dim], gx[rows * ld];
  double xr[rows * ld], alpha[rows], gxr[rows * ld];
  for (int i = 0; i < rows * ld; i++) x[i] = cgauss(), xr[i] = qdm_rng_normal(&rng);
  for (size_t i = 0; i < dim; i++) w[i] = cgauss();
  CHECK(qdm_enc_amplitude(x, len, ld, n, rows, psi, alpha) == QDM_OK, "amplitude: %s", qdm_errmsg());
  for (int r = 0; r < rows; r++) {
    double s = 0;
    for (int i = 0; i < len; i++) s += pow(cabs(x[r * ld + i]), 2);
    CHECK_NEAR(alpha[r], sqrt(s), 1e-14, "alpha = ||x|| (eq. 15)");
    double e = 0;
    for (size_t i = 0; i < dim; i++) e = fmax(e, cabs(psi[r * dim + i] - (i < len ? x[r * ld + i] / sqrt(s) : 0)));
    CHECK(e < 1e-15, "psi = x / alpha, zero padded (eq. 14)");
  }
  /* backward vs central differences on Re and Im of every input entry */
  for (int r = 0; r < rows; r++) amp_loss(psi + r * dim, w, dim, g + r * dim);
  CHECK(qdm_enc_amplitude_backward(psi, alpha, g, len, n, rows, gx, ld) == QDM_OK, "amplitude backward");
  double worst = 0;
  for (int r = 0; r < rows; r++)
    for (int i = 0; i < len; i++)
      for (int part = 0; part < 2; part++) {
        double h = 1e-6, lp, lm;
        qdm_cplx xs[ld], ps[dim], d = part ? I * h : h;
        memcpy(xs, x + r * ld, sizeof xs);
        xs[i] += d;
        qdm_enc_amplitude(xs, len, ld, n, 1, ps, NULL);
        lp = amp_loss(ps, w, dim, NULL);
        xs[i] -= 2 * d;
        qdm_enc_amplitude(xs, len, ld, n, 1, ps, NULL);
        lm = amp_loss(ps, w, dim, NULL);
        double fd = (lp - lm) / (2 * h), an = part ? cimag(gx[r * ld + i]) : creal(gx[r * ld + i]);
        worst = fmax(worst, fabs(fd - an));
      }
  CHECK(worst < 1e-8, "amplitude backward vs finite differences (worst %g)", worst);
  /* real input */
  CHECK(qdm_enc_amplitude_real(xr, len, ld, n, rows, psi, alpha) == QDM_OK, "amplitude real");
  for (int r = 0; r < rows; r++) amp_loss(psi + r * dim, w, dim, g + r * dim);
  CHECK(qdm_enc_amplitude_real_backward(psi, alpha, g, len, n, rows, gxr, ld) == QDM_OK, "amplitude real backward");
  worst = 0;
  for (int r = 0; r < rows; r++)
    for (int i = 0; i < len; i++) {
      double h = 1e-6, xs[ld];
      qdm_cplx ps[dim];
      memcpy(xs, xr + r * ld, sizeof xs);
      xs[i] += h;
      qdm_enc_amplitude_real(xs, len, ld, n, 1, ps, NULL);
      double lp = amp_loss(ps, w, dim, NULL);
      xs[i] -= 2 * h;
      qdm_enc_amplitude_real(xs, len, ld, n, 1, ps, NULL);
      double lm = amp_loss(ps, w, dim, NULL);
      worst = fmax(worst, fabs((lp - lm) / (2 * h) - gxr[r * ld + i]));
    }
  CHECK(worst < 1e-8, "real amplitude backward vs finite differences (worst %g)", worst);
  /* bad input */
  qdm_cplx z[4] = {0};
  CHECK(qdm_enc_amplitude(z, 4, 4, 2, 1, psi, NULL) == QDM_EINVAL, "zero vector rejected");
  CHECK(qdm_enc_amplitude(x, 17, 17, 4, 1, psi, NULL) == QDM_EINVAL, "len > 2^n rejected");
}

/* ---- ansatz builders ---- */

static void test_counts(void) {
  /* Sim et al. (2019), parameter counts of circuits 1..19 at n = 4, L = 1 */
  const int sim4[19] = {8, 8, 11, 11, 28, 28, 19, 19, 4, 8, 12, 12, 16, 16, 8, 11, 11, 12, 12};
  char name[16];
  for (int i = 1; i <= 19; i++) {
    snprintf(name, sizeof name, "sim%d", i);
    CHECK(qdm_ansatz_nparams(name, 4, 1, NULL) == sim4[i - 1], "%s has %d parameters at n = 4", name, sim4[i - 1]);
    CHECK(qdm_ansatz_nparams(name, 4, 3, NULL) == 3 * sim4[i - 1], "%s: 3 layers, 3x the parameters", name);
    CHECK(qdm_ansatz_nparams(name, 5, 1, NULL) > 0 && qdm_ansatz_nparams(name, 2, 2, NULL) > 0, "%s builds at n = 5 and 2", name);
  }
  /* hand counts at n = 4 */
  CHECK(qdm_ansatz_nparams("hea", 4, 2, NULL) == 16, "hea: 2n per layer");
  CHECK(qdm_ansatz_nparams("hva", 4, 3, NULL) == 6, "hva: 2 per layer");
  CHECK(qdm_ansatz_nparams("conv", 4, 1, NULL) == 9, "conv: pairs (0,1),(2,3),(1,2)");
  qdm_ansatz_opts ring = {QDM_INIT_NONE, 1};
  CHECK(qdm_ansatz_nparams("conv", 4, 1, &ring) == 12, "conv ring adds (3,0)");
  CHECK(qdm_ansatz_nparams("phasemix", 4, 2, NULL) == 6, "phasemix: n-1 per layer");
  CHECK(qdm_ansatz_nparams("paper", 4, 1, NULL) == 12, "paper: 9 + 3");
  CHECK(qdm_ansatz_nparams("authors", 4, 10, NULL) == 160, "authors: 16 per layer (the authors' configuration)");
  CHECK(qdm_ansatz_nparams("qcnn", 4, 1, NULL) == 3 * 5 + 2 * 2 + 5 + 2, "qcnn n=4: 3 blocks, 2 pools, 1 block, 1 pool");
  CHECK(qdm_ansatz_nparams("qcnn", 8, 1, NULL) == (7 + 3 + 1) * 5 + (4 + 2 + 1) * 2, "qcnn n=8");
  CHECK(qdm_ansatz_nparams("mera", 4, 1, NULL) == 20, "mera n=4: 4 blocks of 5");
  CHECK(qdm_ansatz_nparams("mera", 8, 1, NULL) == (1 + 2 + 1 + 4 + 3) * 5, "mera n=8: 11 blocks");
  qdm_ansatz_opts init = {QDM_INIT_RY_PI4, 0};
  CHECK(qdm_ansatz_nparams("authors", 4, 1, &init) == 16, "the init layer has no parameters");
  /* every listed name builds; about() describes it */
  int count = 0;
  for (int i = 0; qdm_ansatz_name(i); i++, count++) {
    const char *nm = qdm_ansatz_name(i);
    CHECK(qdm_ansatz_about(nm) != NULL, "%s has a description", nm);
    CHECK(qdm_ansatz_nparams(nm, 4, 2, NULL) >= 0, "%s builds at n=4: %s", nm, qdm_errmsg());
  }
  CHECK(count == 27, "27 named ansatzes (got %d)", count);
  /* errors are negative statuses with a message */
  CHECK(qdm_ansatz_nparams("nope", 4, 1, NULL) == -QDM_EINVAL, "unknown name");
  CHECK(qdm_ansatz_nparams("sim20", 4, 1, NULL) == -QDM_EINVAL, "sim20 does not exist");
  CHECK(qdm_ansatz_nparams("sim05", 4, 1, NULL) == -QDM_EINVAL, "sim05 is not a name");
  CHECK(qdm_ansatz_nparams("mera", 6, 1, NULL) == -QDM_EINVAL, "mera needs 2^k qubits");
  qdm_circuit *c6 = qdm_circuit_new(6);
  qdm_ansatz_opts ini = {QDM_INIT_RY_PI4, 0};
  CHECK(qdm_ansatz_build(c6, "mera", 1, 0, &ini) == -QDM_EINVAL && c6->ngates == 0, "a failed build leaves the circuit unchanged");
  qdm_circuit_free(c6);
  CHECK(qdm_ansatz_nparams("hea", 4, -1, NULL) == -QDM_EINVAL, "negative layers");
  CHECK(qdm_enum_parse(qdm_ansatz_init_names, "init", "ry-pi4") == QDM_INIT_RY_PI4 &&
            qdm_enum_parse(qdm_ansatz_init_names, "init", "x") == -1,
        "init names");
  /* offsets compose: two blocks side by side use disjoint parameters */
  qdm_circuit *c = qdm_circuit_new(4);
  int k1 = qdm_ansatz_build(c, "hea", 1, 0, NULL), k2 = qdm_ansatz_build(c, "sim14", 1, k1, NULL);
  CHECK(k1 == 8 && k2 == 16 && c->nparams == 24, "blocks at offsets 0 and 8 use 24 parameters");
  qdm_circuit_free(c);
}

/* phasemix = QFT . prod_i CRZ_{0->i}(phi_i), eq. (20), built here from the
 * QFT matrix |j> -> N^{-1/2} sum_k e^{2 pi i jk/N} |k> and the CRZ diagonal. */
static void test_phasemix(void) {
  enum { n = 3, N = 8 };
  double phi[2] = {unif(-3, 3), unif(-3, 3)};
  qdm_circuit *c = qdm_circuit_new(n);
  CHECK(qdm_phasemix(c, 1, 0) == 2, "phasemix n=3 uses 2 parameters");
  qdm_cplx U[N * N], W[N * N];
  CHECK(qdm_unitary(c, phi, U) == QDM_OK, "unitary");
  for (int k = 0; k < N; k++)
    for (int j = 0; j < N; j++) {
      qdm_cplx d = 1;
      if (j & 1)
        for (int i = 1; i < n; i++) d *= cexp((j >> i & 1 ? 0.5 : -0.5) * I * phi[i - 1]);
      W[k * N + j] = cexp(2 * M_PI * I * j * k / N) / sqrt(N) * d;
    }
  CHECK(maxdiff(U, W, N * N) < 1e-13, "phasemix matches eq. (20) exactly");
  qdm_circuit_free(c);
}

/* The authors' layer applied by the independent helper: canonical blocks
 * (documented mapping) on (0,1),(2,3),(1,2),(3,0), H, CZ chain, RX. */
static void test_authors_layer(void) {
  enum { n = 4, N = 16 };
  double th[16];
  for (int i = 0; i < 16; i++) th[i] = unif(0, 2 * M_PI);
  qdm_circuit *c = qdm_circuit_new(n);
  qdm_ansatz_opts o = {QDM_INIT_RY_PI4, 0};
  CHECK(qdm_ansatz_build(c, "authors", 1, 0, &o) == 16, "authors layer");
  qdm_cplx psi[N], ref[N];
  qdm_zero_state(psi, n, 1);
  CHECK(qdm_run(c, th, NULL, 0, psi, 1) == QDM_OK, "run");
  memset(ref, 0, sizeof ref);
  ref[0] = 1;
  const qdm_cplx ry4[4] = {cos(M_PI / 8), -sin(M_PI / 8), sin(M_PI / 8), cos(M_PI / 8)};
  const qdm_cplx h[4] = {M_SQRT1_2, M_SQRT1_2, M_SQRT1_2, -M_SQRT1_2};
  for (int q = 0; q < n; q++) apply1(ref, n, q, ry4);
  const int pairs[4][2] = {{0, 1}, {2, 3}, {1, 2}, {3, 0}};
  for (int k = 0; k < 4; k++) {
    qdm_cplx V[16];
    canonical(-th[3 * k], -th[3 * k + 1], th[3 * k + 2] - M_PI / 2, V);
    apply2(ref, n, pairs[k][0], pairs[k][1], V);
  }
  for (int q = 0; q < n; q++) apply1(ref, n, q, h);
  for (int q = 0; q + 1 < n; q++) {
    qdm_cplx cz[16] = {0};
    for (int i = 0; i < 4; i++) cz[i * 5] = i == 3 ? -1 : 1;
    apply2(ref, n, q, q + 1, cz);
  }
  for (int q = 0; q < n; q++) {
    double t = th[12 + q];
    qdm_cplx rx[4] = {cos(t / 2), -I * sin(t / 2), -I * sin(t / 2), cos(t / 2)};
    apply1(ref, n, q, rx);
  }
  CHECK_NEAR(overlap(psi, ref, N), 1.0, 1e-12, "authors layer equals its independent construction");
  qdm_circuit_free(c);
}

/* Spot checks of Sim et al. templates with the independent helper. */
static void test_sim_spot(void) {
  enum { n = 4, N = 16 };
  qdm_cplx psi[N], ref[N];
  /* circuit 9: H; CZ(3,2), CZ(2,1), CZ(1,0); RX */
  double th[4];
  for (int i = 0; i < 4; i++) th[i] = unif(0, 2 * M_PI);
  qdm_circuit *c = qdm_circuit_new(n);
  CHECK(qdm_sim(c, 9, 1, 0) == 4, "sim9");
  qdm_zero_state(psi, n, 1);
  qdm_run(c, th, NULL, 0, psi, 1);
  for (int i = 0; i < N; i++) {
    int z = __builtin_popcount(i & (i >> 1) & 7); /* CZ on neighbouring set bits */
    ref[i] = 0.25 * (z & 1 ? -1 : 1);
  }
  for (int q = 0; q < n; q++) {
    qdm_cplx rx[4] = {cos(th[q] / 2), -I * sin(th[q] / 2), -I * sin(th[q] / 2), cos(th[q] / 2)};
    apply1(ref, n, q, rx);
  }
  CHECK_NEAR(overlap(psi, ref, N), 1.0, 1e-12, "sim9 = H, CZ ladder, RX");
  /* circuit 1 is a product of RZ RX per qubit */
  qdm_circuit_clear(c);
  double t1[8];
  for (int i = 0; i < 8; i++) t1[i] = unif(0, 2 * M_PI);
  CHECK(qdm_sim(c, 1, 1, 0) == 8, "sim1");
  qdm_zero_state(psi, n, 1);
  qdm_run(c, t1, NULL, 0, psi, 1);
  for (int i = 0; i < N; i++) {
    ref[i] = 1;
    for (int q = 0; q < n; q++) {
      double a = t1[q], b = t1[4 + q]; /* RX(a) then RZ(b) on |0> */
      ref[i] *= i >> q & 1 ? -I * sin(a / 2) * cexp(I * b / 2) : cos(a / 2) * cexp(-I * b / 2);
    }
  }
  CHECK(maxdiff(psi, ref, N) < 1e-13, "sim1 = RX then RZ on each qubit");
  /* circuit 14 (controlled-X rotations do not commute, so the ring order
   * matters): RY; CRX (3->0), (2->3), (1->2), (0->1); RY;
   * CRX (3->2), (0->3), (1->0), (2->1) -- Sim et al. Fig. 2 */
  qdm_circuit_clear(c);
  double t14[16];
  for (int i = 0; i < 16; i++) t14[i] = unif(0, 2 * M_PI);
  CHECK(qdm_sim(c, 14, 1, 0) == 16, "sim14");
  qdm_zero_state(psi, n, 1);
  qdm_run(c, t14, NULL, 0, psi, 1);
  memset(ref, 0, sizeof ref);
  ref[0] = 1;
  const int ring[8][2] = {{3, 0}, {2, 3}, {1, 2}, {0, 1}, {3, 2}, {0, 3}, {1, 0}, {2, 1}};
  for (int half = 0; half < 2; half++) {
    for (int q = 0; q < n; q++) {
      double a = t14[8 * half + q];
      qdm_cplx ry[4] = {cos(a / 2), -sin(a / 2), sin(a / 2), cos(a / 2)};
      apply1(ref, n, q, ry);
    }
    for (int k = 0; k < 4; k++) {
      double a = t14[8 * half + 4 + k];
      qdm_cplx crx[16] = {0}; /* local index = target bit + 2 control bit */
      crx[0] = crx[5] = 1;
      crx[10] = crx[15] = cos(a / 2);
      crx[11] = crx[14] = -I * sin(a / 2);
      apply2(ref, n, ring[4 * half + k][1], ring[4 * half + k][0], crx);
    }
  }
  CHECK(maxdiff(psi, ref, N) < 1e-13, "sim14 = RY, CRX ring down, RY, CRX ring up");
  qdm_circuit_free(c);
}

/* ---- ANO ---- */

/* The full 2^n operator of a local d x d matrix on the given sites. */
static void embed(const qdm_cplx *h, int k, const int *sites, int n, qdm_cplx *F) {
  int D = 1 << n;
  memset(F, 0, (size_t)D * D * sizeof *F);
  for (int r = 0; r < D; r++)
    for (int c = 0; c < D; c++) {
      int same = 1, lr = 0, lc = 0;
      for (int q = 0; q < n; q++) {
        int on = 0;
        for (int b = 0; b < k; b++)
          if (sites[b] == q) {
            on = 1;
            lr |= (r >> q & 1) << b;
            lc |= (c >> q & 1) << b;
          }
        if (!on && (r >> q & 1) != (c >> q & 1)) same = 0;
      }
      if (same) F[r * D + c] = h[lr * (1 << k) + lc];
    }
}

static double ano_loss(const qdm_ano *a, const qdm_cplx *psi, int rows, const double *w) {
  double *y = malloc((size_t)rows * a->K * sizeof *y), L = 0;
  qdm_ano_forward(a, psi, rows, y);
  for (int i = 0; i < rows * a->K; i++) L += w[i] * y[i];
  free(y);
  return L;
}

static void test_ano_layout(int n, int k, int layout, int per, int want_sets, int rows) {
  qdm_ano *a = qdm_ano_new(n, k, layout, per);
  CHECK(a != NULL, "ano_new: %s", qdm_errmsg());
  if (!a) return;
  CHECK(a->nsets == want_sets && a->K == want_sets * per, "layout %d n=%d k=%d: %d sets", layout, n, k, want_sets);
  qdm_ano_init(a, &rng, 0.5);
  int D = 1 << n, d = a->d;
  qdm_cplx *psi = malloc((size_t)rows * D * sizeof *psi), *F = malloc((size_t)D * D * sizeof *F);
  qdm_cplx *H = malloc((size_t)a->K * d * d * sizeof *H);
  double *y = malloc((size_t)rows * a->K * sizeof *y), *w = malloc((size_t)rows * a->K * sizeof *w);
  for (int i = 0; i < rows * D; i++) psi[i] = cgauss(); /* y is a quadratic form: no need to normalise */
  for (int i = 0; i < rows * a->K; i++) w[i] = qdm_rng_normal(&rng);
  CHECK(qdm_ano_forward(a, psi, rows, y) == QDM_OK, "ano forward");
  qdm_ano_hermitian(a, H);
  double worst = 0, herm = 0;
  for (int j = 0; j < a->K; j++) {
    const qdm_cplx *M = a->M + (size_t)j * d * d, *h = H + (size_t)j * d * d;
    for (int r = 0; r < d; r++)
      for (int c = 0; c < d; c++) herm = fmax(herm, cabs(h[r * d + c] - 0.5 * (M[r * d + c] + conj(M[c * d + r]))));
    embed(h, a->k, a->sites + (j / per) * a->k, n, F);
    for (int r = 0; r < rows; r++) {
      qdm_cplx s = 0;
      const qdm_cplx *p = psi + (size_t)r * D;
      for (int i = 0; i < D; i++)
        for (int l = 0; l < D; l++) s += conj(p[i]) * F[i * D + l] * p[l];
      worst = fmax(worst, fabs(y[r * a->K + j] - creal(s)));
    }
  }
  CHECK(herm < 1e-15, "H = (M + M^dagger) / 2 (eq. 21)");
  CHECK(worst < 1e-11, "y = <psi|H (x) I|psi> (eq. 22), worst %g", worst);
  /* backward vs central differences, L = sum w y */
  qdm_cplx *gpsi = calloc((size_t)rows * D, sizeof *gpsi), *dM = calloc((size_t)a->K * d * d, sizeof *dM);
  CHECK(qdm_ano_backward(a, psi, rows, w, gpsi, dM) == QDM_OK, "ano backward");
  /* y is quadratic in psi and linear in M: central differences are exact
   * up to rounding, so a large step keeps rounding small */
  double h = 1e-2, wp = 0, wm = 0;
  for (int i = 0; i < rows * D; i += 3)
    for (int part = 0; part < 2; part++) {
      qdm_cplx keep = psi[i], dd = part ? I * h : h;
      psi[i] = keep + dd;
      double lp = ano_loss(a, psi, rows, w);
      psi[i] = keep - dd;
      double lm = ano_loss(a, psi, rows, w);
      psi[i] = keep;
      wp = fmax(wp, fabs((lp - lm) / (2 * h) - (part ? cimag(gpsi[i]) : creal(gpsi[i]))));
    }
  size_t nm = (size_t)a->K * d * d;
  for (size_t i = 0; i < nm; i += 1 + nm / 40)
    for (int part = 0; part < 2; part++) {
      qdm_cplx keep = a->M[i], dd = part ? I * h : h;
      a->M[i] = keep + dd;
      double lp = ano_loss(a, psi, rows, w);
      a->M[i] = keep - dd;
      double lm = ano_loss(a, psi, rows, w);
      a->M[i] = keep;
      wm = fmax(wm, fabs((lp - lm) / (2 * h) - (part ? cimag(dM[i]) : creal(dM[i]))));
    }
  CHECK(wp < 1e-9, "ano dL/dpsi vs finite differences (worst %g)", wp);
  CHECK(wm < 1e-9, "ano dL/dM vs finite differences (worst %g)", wm);
  free(psi); free(F); free(H); free(y); free(w); free(gpsi); free(dM);
  qdm_ano_free(a);
}

static void test_ano(void) {
  test_ano_layout(4, 4, QDM_ANO_GLOBAL, 16, 1, 3); /* d <= 4 K: the packed densities */
  test_ano_layout(6, 6, QDM_ANO_GLOBAL, 16, 1, 3);
  test_ano_layout(6, 6, QDM_ANO_GLOBAL, 3, 1, 3); /* d > 4 K: the complex GEMMs */
  test_ano_layout(4, 2, QDM_ANO_SLIDING, 2, 3, 3);
  test_ano_layout(4, 2, QDM_ANO_SUBSETS, 1, 6, 3);
  test_ano_layout(5, 3, QDM_ANO_SUBSETS, 2, 10, 3);
  /* enough rows for the packed form's rows over the threads (each thread
   * its range and its own GEMM), on 2 threads */
  qdm_set_threads(2);
  test_ano_layout(4, 4, QDM_ANO_GLOBAL, 16, 1, 200);
  qdm_set_threads(0);
  qdm_ano *a = qdm_ano_new(4, 2, QDM_ANO_SUBSETS, 1);
  const int want[12] = {0, 1, 0, 2, 0, 3, 1, 2, 1, 3, 2, 3};
  CHECK(a && !memcmp(a->sites, want, sizeof want), "k-subsets in lexicographic order");
  qdm_ano_free(a);
  CHECK(qdm_ano_new(4, 5, QDM_ANO_SLIDING, 1) == NULL, "k > n rejected");
  CHECK(qdm_ano_new(4, 2, 7, 1) == NULL, "unknown layout rejected");
  /* the authors' global form agrees with the engine's qdm_expect_herm */
  a = qdm_ano_new(4, 0, QDM_ANO_GLOBAL, 3);
  qdm_ano_init(a, &rng, 1.0);
  qdm_cplx psi[2 * 16], H[3 * 256];
  qdm_rng_haar_state(&rng, psi, 16);
  qdm_rng_haar_state(&rng, psi + 16, 16);
  double y[6], e[2];
  qdm_ano_forward(a, psi, 2, y);
  qdm_ano_hermitian(a, H);
  for (int j = 0; j < 3; j++) {
    qdm_expect_herm(psi, 16, 2, H + 256 * j, e);
    CHECK_NEAR(y[j], e[0], 1e-12, "global ANO = qdm_expect_herm (row 0)");
    CHECK_NEAR(y[3 + j], e[1], 1e-12, "global ANO = qdm_expect_herm (row 1)");
  }
  qdm_ano_free(a);
}

static void test_zreadout(void) {
  enum { n = 3, D = 8, rows = 2 };
  qdm_cplx psi[rows * D], g[rows * D] = {0};
  double y[rows * n], w[rows * n];
  memset(psi, 0, sizeof psi);
  psi[5] = 1;                 /* |101>: q0 = 1, q1 = 0, q2 = 1 */
  psi[D + 0] = M_SQRT1_2;     /* (|000> + |011>)/sqrt 2 */
  psi[D + 3] = M_SQRT1_2;
  CHECK(qdm_zreadout_forward(psi, n, rows, y) == QDM_OK, "z readout");
  CHECK(y[0] == -1 && y[1] == 1 && y[2] == -1, "<Z> of |101> = (-1, 1, -1)");
  CHECK(fabs(y[3]) < 1e-15 && fabs(y[4]) < 1e-15 && fabs(y[5] - 1) < 1e-15, "<Z> of (|000>+|011>)/sqrt2 = (0, 0, 1)");
  for (int i = 0; i < rows * D; i++) psi[i] = cgauss();
  for (int i = 0; i < rows * n; i++) w[i] = qdm_rng_normal(&rng);
  CHECK(qdm_zreadout_backward(psi, n, rows, w, g) == QDM_OK, "z readout backward");
  double worst = 0, h = 1e-2; /* quadratic: central differences are exact */
  for (int i = 0; i < rows * D; i++)
    for (int part = 0; part < 2; part++) {
      qdm_cplx keep = psi[i], dd = part ? I * h : h;
      double lp = 0, lm = 0;
      psi[i] = keep + dd;
      qdm_zreadout_forward(psi, n, rows, y);
      for (int j = 0; j < rows * n; j++) lp += w[j] * y[j];
      psi[i] = keep - dd;
      qdm_zreadout_forward(psi, n, rows, y);
      for (int j = 0; j < rows * n; j++) lm += w[j] * y[j];
      psi[i] = keep;
      worst = fmax(worst, fabs((lp - lm) / (2 * h) - (part ? cimag(g[i]) : creal(g[i]))));
    }
  CHECK(worst < 1e-10, "z readout backward vs finite differences (worst %g)", worst);
}

int main(void) {
  qdm_rng_seed(&rng, 20250701);
  test_vw_block();
  test_encodings();
  test_amplitude();
  test_counts();
  test_phasemix();
  test_authors_layer();
  test_sim_spot();
  test_ano();
  test_zreadout();
  return check_done();
}
