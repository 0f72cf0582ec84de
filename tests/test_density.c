/* test_density.c -- density matrices, channels and the quantum diffusion
 * model (report 2.2) against analytic values, independent computation paths
 * and central finite differences. */
#include <string.h>
#include "check.h"
#include "qdm/circuits.h"
#include "qdm/qdiff.h"

static void rand_herm(qdm_rng *g, qdm_cplx *A, int d) {
  for (int i = 0; i < d; i++)
    for (int j = 0; j <= i; j++) {
      qdm_cplx z = qdm_rng_normal(g) + (i == j ? 0 : I * qdm_rng_normal(g));
      A[i * d + j] = z;
      A[j * d + i] = conj(z);
    }
}

/* random full-rank density matrix B B^dagger / tr */
static void rand_rho(qdm_rng *g, qdm_cplx *rho, int d) {
  qdm_cplx B[256 * 4];
  for (int i = 0; i < d * d; i++) B[i] = qdm_rng_normal(g) + I * qdm_rng_normal(g);
  double tr = 0;
  for (int i = 0; i < d; i++)
    for (int j = 0; j < d; j++) {
      qdm_cplx s = 0;
      for (int k = 0; k < d; k++) s += B[i * d + k] * conj(B[j * d + k]);
      rho[i * d + j] = s;
      if (i == j) tr += creal(s);
    }
  for (int i = 0; i < d * d; i++) rho[i] /= tr;
}

static double re_tr_AdagB(const qdm_cplx *A, const qdm_cplx *B, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += creal(conj(A[i]) * B[i]);
  return s;
}

static double herm_err(const qdm_cplx *A, int d) {
  double e = 0;
  for (int i = 0; i < d; i++)
    for (int j = 0; j < d; j++) e = fmax(e, cabs(A[i * d + j] - conj(A[j * d + i])));
  return e;
}

/* trace 1, Hermitian, smallest eigenvalue >= -1e-12 */
static void check_state(const qdm_cplx *rho, int d, const char *what) {
  double tr, lmin;
  qdm_dm_trace(rho, d, 1, &tr);
  CHECK_NEAR(tr, 1.0, 1e-12, what);
  CHECK(herm_err(rho, d) < 1e-12, "%s: not Hermitian (%g)", what, herm_err(rho, d));
  CHECK(qdm_dm_min_eig(rho, d, &lmin) == QDM_OK && lmin >= -1e-12, "%s: min eigenvalue %g", what, lmin);
}

/* a 3-qubit circuit with every kind of trouble: controls, 2-qubit gates, U3, inputs */
static qdm_circuit *test_circuit(void) {
  qdm_circuit *c = qdm_circuit_new(3);
  qdm_addr(c, QDM_GRY, 0, qdm_par(0));
  qdm_addr(c, QDM_GRX, 1, qdm_input(0, 0.7, 0.1));
  qdm_cnot(c, 0, 1);
  qdm_addc(c, QDM_GRZ, 2, 0, qdm_par(1));
  qdm_add2(c, QDM_GRXX, 1, 2, qdm_par_affine(2, -2.0, 0.3));
  qdm_u3(c, 2, qdm_par(3), qdm_par(4), qdm_par(5));
  qdm_add1(c, QDM_GH, 0);
  qdm_addc(c, QDM_GRY, 0, 2, qdm_par(6));
  qdm_add2(c, QDM_GSWAP, 0, 2, qdm_fixed(0));
  qdm_addr(c, QDM_GRY, 1, qdm_input(1, 1.0, 0.0));
  return c;
}

static void test_basics(qdm_rng *g) {
  /* purity and fidelity of I/d and of pure states */
  qdm_cplx rho[64], psi[8], phi[8], sig[64];
  double v, v2;
  qdm_dm_mixed(rho, 8, 1);
  qdm_dm_purity(rho, 8, 1, &v);
  CHECK_NEAR(v, 1.0 / 8, 1e-15, "purity of I/8");
  qdm_rng_haar_state(g, psi, 8);
  qdm_rng_haar_state(g, phi, 8);
  qdm_dm_from_states(psi, 8, 1, rho);
  qdm_dm_from_states(phi, 8, 1, sig);
  qdm_dm_purity(rho, 8, 1, &v);
  CHECK_NEAR(v, 1.0, 1e-13, "purity of a pure state");
  check_state(rho, 8, "pure state");
  /* Uhlmann fidelity of pure states is |<psi|phi>|^2 and symmetric */
  qdm_cplx ov = 0;
  for (int i = 0; i < 8; i++) ov += conj(psi[i]) * phi[i];
  CHECK(qdm_dm_fidelity(rho, sig, 8, &v) == QDM_OK, "fidelity: %s", qdm_errmsg());
  CHECK_NEAR(v, cabs(ov) * cabs(ov), 1e-7, "Uhlmann fidelity of pure states");
  qdm_dm_fidelity_pure(rho, phi, 0, 8, 1, &v2);
  CHECK_NEAR(v2, cabs(ov) * cabs(ov), 1e-13, "<phi|rho|phi> for rho = |psi><psi|");
  /* mixed: symmetric, F(rho, rho) = 1, and for commuting (diagonal) states
   * F = (sum_i sqrt(p_i q_i))^2 (classical fidelity) */
  qdm_cplx a[64], b[64];
  rand_rho(g, a, 8);
  rand_rho(g, b, 8);
  qdm_dm_fidelity(a, b, 8, &v);
  qdm_dm_fidelity(b, a, 8, &v2);
  CHECK_NEAR(v, v2, 1e-10, "Uhlmann fidelity symmetric");
  CHECK(v > 0 && v < 1, "fidelity of random mixed states in (0, 1): %g", v);
  qdm_dm_fidelity(a, a, 8, &v);
  CHECK_NEAR(v, 1.0, 1e-10, "F(rho, rho)");
  double p[8], q[8], sp = 0, sq = 0, cf = 0;
  memset(a, 0, sizeof a);
  memset(b, 0, sizeof b);
  for (int i = 0; i < 8; i++) { p[i] = qdm_rng_uniform(g) + 0.1; q[i] = qdm_rng_uniform(g) + 0.1; sp += p[i]; sq += q[i]; }
  for (int i = 0; i < 8; i++) { a[i * 9] = p[i] / sp; b[i * 9] = q[i] / sq; cf += sqrt(p[i] / sp * q[i] / sq); }
  qdm_dm_fidelity(a, b, 8, &v);
  CHECK_NEAR(v, cf * cf, 1e-12, "Uhlmann fidelity of diagonal states");
  /* trace distance: orthogonal pure states 1, pure states sqrt(1 - |<psi|phi>|^2) */
  qdm_cplx e0[4] = {1, 0, 0, 0}, e1[4] = {0, 0, 1, 0}, r0[16], r1[16];
  qdm_dm_from_states(e0, 4, 1, r0);
  qdm_dm_from_states(e1, 4, 1, r1);
  qdm_dm_trace_distance(r0, r1, 4, &v, NULL);
  CHECK_NEAR(v, 1.0, 1e-13, "trace distance of orthogonal pure states");
  qdm_dm_trace_distance(rho, sig, 8, &v, NULL);
  CHECK_NEAR(v, sqrt(1 - cabs(ov) * cabs(ov)), 1e-12, "trace distance of pure states");
  /* its gradient by finite differences along a Hermitian direction */
  qdm_cplx gr[64], E[64], rp[64], rm[64];
  rand_rho(g, a, 8);
  rand_rho(g, b, 8);
  rand_herm(g, E, 8);
  qdm_dm_trace_distance(a, b, 8, &v, gr);
  const double h = 1e-6;
  for (int i = 0; i < 64; i++) { rp[i] = a[i] + h * E[i]; rm[i] = a[i] - h * E[i]; }
  qdm_dm_trace_distance(rp, b, 8, &v, NULL);
  qdm_dm_trace_distance(rm, b, 8, &v2, NULL);
  CHECK_NEAR(re_tr_AdagB(gr, E, 64), (v - v2) / (2 * h), 1e-6, "trace distance gradient");
  /* bad arguments give a message */
  CHECK(qdm_dm_purity(rho, 6, 1, &v) == QDM_EINVAL && strstr(qdm_errmsg(), "dim"), "dim 6 rejected");
}

static void test_ptrace(qdm_rng *g) {
  /* Bell state: each half is I/2 */
  qdm_cplx bell[4] = {M_SQRT1_2, 0, 0, M_SQRT1_2}, rho[16], red[4];
  qdm_dm_from_states(bell, 4, 1, rho);
  qdm_dm_ptrace(rho, 2, 1u << 1, red, 1);
  CHECK_NEAR(creal(red[0]), 0.5, 1e-15, "Bell reduced 00");
  CHECK_NEAR(cabs(red[1]), 0, 1e-15, "Bell reduced 01");
  /* product rho_A (x) rho_B with A on qubit 1, B on qubits 0 and 2 (non-contiguous) */
  qdm_cplx A[4], B[16], full[64], out[16];
  rand_rho(g, A, 2);
  rand_rho(g, B, 4);
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 8; j++) {
      int ia = i >> 1 & 1, ja = j >> 1 & 1, ib = (i & 1) | (i >> 2) << 1, jb = (j & 1) | (j >> 2) << 1;
      full[i * 8 + j] = A[ia * 2 + ja] * B[ib * 4 + jb];
    }
  qdm_dm_ptrace(full, 3, 1u << 1, out, 1);
  double e = 0;
  for (int i = 0; i < 16; i++) e = fmax(e, cabs(out[i] - B[i]));
  CHECK(e < 1e-14, "ptrace keeps B of A (x) B (err %g)", e);
  qdm_dm_ptrace(full, 3, 5u, out, 1);
  e = 0;
  for (int i = 0; i < 4; i++) e = fmax(e, cabs(out[i] - A[i]));
  CHECK(e < 1e-14, "ptrace keeps A of A (x) B (err %g)", e);
  /* backward is the adjoint: Re tr(G^dag ptrace(X)) = Re tr((G (x) I)^dag X) */
  qdm_cplx Gs[16], Gin[64], X[64];
  rand_herm(g, Gs, 4);
  rand_herm(g, X, 8);
  qdm_dm_ptrace(X, 3, 1u << 1, out, 1);
  qdm_dm_ptrace_backward(Gs, 3, 1u << 1, Gin, 1);
  CHECK_NEAR(re_tr_AdagB(Gin, X, 64), re_tr_AdagB(Gs, out, 16), 1e-12, "ptrace backward is the adjoint");
}

static void test_depolarize(qdm_rng *g) {
  /* eq. 10 equals iterating eq. 9 */
  double p[6], alpha[6];
  CHECK(qdm_qdiff_schedule(5, QDM_QSCHED_LINEAR, 0.1, 0.4, p, alpha) == QDM_OK, "schedule");
  qdm_cplx r9[64], r10[64];
  rand_rho(g, r9, 8);
  memcpy(r10, r9, sizeof r9);
  double a = 1;
  for (int t = 1; t <= 5; t++) {
    qdm_dm_depolarize(r9, 8, 1, p[t]);
    check_state(r9, 8, "after eq. 9");
    a *= 1 - p[t];
  }
  CHECK_NEAR(alpha[5], a, 1e-15, "alpha_t = prod (1 - p_s)");
  qdm_dm_depolarize(r10, 8, 1, 1 - alpha[5]);
  double e = 0;
  for (int i = 0; i < 64; i++) e = fmax(e, cabs(r9[i] - r10[i]));
  CHECK(e < 1e-15, "eq. 10 closed form equals iterated eq. 9 (err %g)", e);
  /* cosine schedule ends at I/d exactly */
  double pc[11], ac[11];
  qdm_qdiff_schedule(10, QDM_QSCHED_COSINE, 0, 0, pc, ac);
  CHECK(ac[10] == 0 && pc[10] == 1, "cosine schedule alpha_T = 0");
  CHECK_NEAR(ac[5], 0.5, 1e-15, "cosine alpha_{T/2} = 1/2");
  CHECK(qdm_dm_depolarize(r9, 8, 1, 1.5) == QDM_EINVAL, "p = 1.5 rejected");
}

static void test_noise(qdm_rng *g) {
  /* X then depolarizing p on |0><0|: (1-p)|1><1| + p I/2 */
  qdm_circuit *c = qdm_circuit_new(1);
  qdm_add1(c, QDM_GX, 0);
  qdm_noise nz;
  CHECK(qdm_noise_parse("depolarizing:0.2", &nz) == QDM_OK && nz.kind == QDM_NOISE_DEPOL, "parse depolarizing");
  qdm_cplx rho[4] = {1, 0, 0, 0};
  qdm_dm_run(c, NULL, NULL, 0, &nz, rho, 1);
  CHECK_NEAR(creal(rho[0]), 0.1, 1e-15, "depolarized X|0>: p0");
  CHECK_NEAR(creal(rho[3]), 0.9, 1e-15, "depolarized X|0>: p1");
  /* X then amplitude damping g: |1> decays to |0> with probability g */
  CHECK(qdm_noise_parse("amplitude_damping:0.3", &nz) == QDM_OK && nz.kind == QDM_NOISE_AMPDAMP, "parse ampdamp");
  qdm_cplx r2[4] = {1, 0, 0, 0};
  qdm_dm_run(c, NULL, NULL, 0, &nz, r2, 1);
  CHECK_NEAR(creal(r2[0]), 0.3, 1e-15, "damped X|0>: p0");
  /* coherence of |+> decays by sqrt(1 - g) under damping */
  qdm_circuit_clear(c);
  qdm_add1(c, QDM_GH, 0);
  qdm_cplx r3[4] = {1, 0, 0, 0};
  qdm_dm_run(c, NULL, NULL, 0, &nz, r3, 1);
  CHECK_NEAR(creal(r3[1]), 0.5 * sqrt(0.7), 1e-15, "damped |+> coherence");
  CHECK(qdm_noise_parse("depolarizing:2", &nz) == QDM_EINVAL, "depolarizing:2 rejected");
  CHECK(qdm_noise_parse("bitflip:0.1", &nz) == QDM_EINVAL, "unknown noise rejected");
  qdm_circuit_free(c);

  /* noiseless dm run of a pure state equals the state-vector engine */
  c = test_circuit();
  double th[7], x[2] = {0.4, -1.1};
  for (int i = 0; i < 7; i++) th[i] = qdm_rng_normal(g);
  qdm_cplx psi[8], R[64];
  qdm_rng_haar_state(g, psi, 8);
  qdm_dm_from_states(psi, 8, 1, R);
  CHECK(qdm_dm_run(c, th, x, 2, NULL, R, 1) == QDM_OK, "dm run: %s", qdm_errmsg());
  qdm_run(c, th, x, 2, psi, 1);
  qdm_cplx P[64];
  qdm_dm_from_states(psi, 8, 1, P);
  double e = 0;
  for (int i = 0; i < 64; i++) e = fmax(e, cabs(P[i] - R[i]));
  CHECK(e < 1e-13, "noiseless dm run equals |U psi><U psi| (err %g)", e);
  /* every channel keeps trace, Hermiticity, positivity */
  const char *specs[2] = {"depolarizing:0.15", "amplitude_damping:0.25"};
  for (int s = 0; s < 2; s++) {
    qdm_noise_parse(specs[s], &nz);
    rand_rho(g, R, 8);
    qdm_dm_run(c, th, x, 2, &nz, R, 1);
    check_state(R, 8, specs[s]);
    for (int q = 0; q < 3; q++) {
      qdm_dm_noise1(R, 3, q, &nz, 0, 1);
      check_state(R, 8, "after one-qubit noise");
    }
  }
  qdm_circuit_free(c);
}

/* L = Re tr(W^dagger rho_out): gradients w.r.t. theta, x and rho_in by central differences */
static void test_dm_adjoint(qdm_rng *g) {
  qdm_circuit *c = test_circuit();
  const char *specs[3] = {"none", "depolarizing:0.1", "amplitude_damping:0.2"};
  for (int s = 0; s < 3; s++) {
    qdm_noise nz;
    qdm_noise_parse(specs[s], &nz);
    double th[7], x[4] = {0.4, -1.1, 0.9, 0.2};
    for (int i = 0; i < 7; i++) th[i] = qdm_rng_normal(g);
    qdm_cplx rho[2 * 64], W[2 * 64], R[2 * 64], G[2 * 64], E[2 * 64];
    for (int r = 0; r < 2; r++) {
      rand_rho(g, rho + 64 * r, 8);
      rand_herm(g, W + 64 * r, 8);
      rand_herm(g, E + 64 * r, 8);
    }
    memcpy(G, W, sizeof G);
    double dth[7] = {0}, dx[4] = {0};
    CHECK(qdm_dm_run_adjoint(c, th, x, 2, &nz, rho, G, 2, dth, dx) == QDM_OK, "adjoint: %s", qdm_errmsg());
    const double h = 1e-6;
#define LOSS(out)                                                              \
  do {                                                                         \
    memcpy(R, rho, sizeof R);                                                  \
    qdm_dm_run(c, th, x, 2, &nz, R, 2);                                        \
    out = re_tr_AdagB(W, R, 128);                                              \
  } while (0)
    double lp, lm, worst = 0;
    for (int i = 0; i < 7; i++) {
      double t0 = th[i];
      th[i] = t0 + h; LOSS(lp);
      th[i] = t0 - h; LOSS(lm);
      th[i] = t0;
      worst = fmax(worst, fabs(dth[i] - (lp - lm) / (2 * h)));
    }
    CHECK(worst < 1e-7, "%s: dL/dtheta vs finite differences (err %g)", specs[s], worst);
    worst = 0;
    for (int i = 0; i < 4; i++) {
      double x0 = x[i];
      x[i] = x0 + h; LOSS(lp);
      x[i] = x0 - h; LOSS(lm);
      x[i] = x0;
      worst = fmax(worst, fabs(dx[i] - (lp - lm) / (2 * h)));
    }
    CHECK(worst < 1e-7, "%s: dL/dx vs finite differences (err %g)", specs[s], worst);
    /* rho_in: L is linear, so the directional derivative is exact */
    qdm_cplx rsave[128];
    memcpy(rsave, rho, sizeof rsave);
    for (int i = 0; i < 128; i++) rho[i] = rsave[i] + E[i];
    LOSS(lp);
    for (int i = 0; i < 128; i++) rho[i] = rsave[i];
    LOSS(lm);
    CHECK_NEAR(re_tr_AdagB(G, E, 128), lp - lm, 1e-10, "dL/drho_in along a direction");
#undef LOSS
  }
  qdm_circuit_free(c);
}

static void test_kraus(qdm_rng *g) {
  /* system 2 qubits + 1 ancilla, random circuit: sum_a K_a^dag K_a = I */
  qdm_qdiff m;
  double p[4] = {0, 0.3, 0.5, 1};
  CHECK(qdm_qdiff_init(&m, 2, 1, 3, 2, NULL, p, 1.0, 7) == QDM_OK, "init: %s", qdm_errmsg());
  qdm_cplx K[2 * 16];
  qdm_qdiff_kraus(&m, 2, K);
  double e = 0;
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) {
      qdm_cplx s = 0;
      for (int a = 0; a < 2; a++)
        for (int k = 0; k < 4; k++) s += conj(K[a * 16 + k * 4 + i]) * K[a * 16 + k * 4 + j];
      e = fmax(e, cabs(s - (i == j)));
    }
  CHECK(e < 1e-13, "ancilla channel is trace preserving: sum K^dag K = I (err %g)", e);
  /* independent path: the full 8x8 density matrix of rho (x) |0><0| through
   * the noiseless dm simulator, then the partial trace over the ancilla */
  qdm_cplx rho[16], out[16], big[64], red[16];
  rand_rho(g, rho, 4);
  qdm_kraus_apply(K, 2, 4, rho, out, 1);
  check_state(out, 4, "ancilla channel output");
  memset(big, 0, sizeof big);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) big[i * 8 + j] = rho[i * 4 + j];
  qdm_dm_run(m.c, m.theta + m.np, NULL, 0, NULL, big, 1);
  qdm_dm_ptrace(big, 3, 1u << 2, red, 1);
  e = 0;
  for (int i = 0; i < 16; i++) e = fmax(e, cabs(red[i] - out[i]));
  CHECK(e < 1e-13, "Kraus form equals circuit + partial trace (err %g)", e);
  /* kraus_apply backward by finite differences along random directions */
  qdm_cplx W[16], dK[32] = {0}, Gin[16], EK[32], Kp[32], o2[16], E[16];
  rand_herm(g, W, 4);
  qdm_kraus_apply_backward(K, 2, 4, rho, W, Gin, dK, 1);
  for (int i = 0; i < 32; i++) EK[i] = qdm_rng_normal(g) + I * qdm_rng_normal(g);
  const double h = 1e-6;
  double lp, lm;
  for (int i = 0; i < 32; i++) Kp[i] = K[i] + h * EK[i];
  qdm_kraus_apply(Kp, 2, 4, rho, o2, 1);
  lp = re_tr_AdagB(W, o2, 16);
  for (int i = 0; i < 32; i++) Kp[i] = K[i] - h * EK[i];
  qdm_kraus_apply(Kp, 2, 4, rho, o2, 1);
  lm = re_tr_AdagB(W, o2, 16);
  CHECK_NEAR(re_tr_AdagB(dK, EK, 32), (lp - lm) / (2 * h), 1e-7, "dL/dK vs finite differences");
  rand_herm(g, E, 4);
  qdm_kraus_apply(K, 2, 4, E, o2, 1);
  CHECK_NEAR(re_tr_AdagB(Gin, E, 16), re_tr_AdagB(W, o2, 16), 1e-12, "dL/drho = adjoint channel");
  /* kraus_from_circuit backward: dL/dtheta for L = Re <C, K(theta)> */
  qdm_cplx C[32];
  for (int i = 0; i < 32; i++) C[i] = qdm_rng_normal(g) + I * qdm_rng_normal(g);
  double *dth = calloc(m.np, sizeof *dth), worst = 0;
  qdm_kraus_from_circuit_backward(m.c, 2, m.theta, C, dth);
  for (int i = 0; i < m.np; i++) {
    double t0 = m.theta[i];
    m.theta[i] = t0 + h; qdm_kraus_from_circuit(m.c, 2, m.theta, Kp); lp = re_tr_AdagB(C, Kp, 32);
    m.theta[i] = t0 - h; qdm_kraus_from_circuit(m.c, 2, m.theta, Kp); lm = re_tr_AdagB(C, Kp, 32);
    m.theta[i] = t0;
    worst = fmax(worst, fabs(dth[i] - (lp - lm) / (2 * h)));
  }
  CHECK(worst < 1e-7, "dK/dtheta through the circuit (err %g)", worst);
  free(dth);
  qdm_qdiff_free(&m);
}

static void test_qdiff(qdm_rng *g) {
  enum { n = 2, d = 4, T = 3, K = 3 };
  double p[T + 1], alpha[T + 1];
  qdm_qdiff_schedule(T, QDM_QSCHED_COSINE, 0, 0, p, alpha);
  qdm_cplx psi[K * d];
  for (int k = 0; k < K; k++) qdm_rng_haar_state(g, psi + k * d, d);
  /* a unitary reverse process cannot leave I/d: purity 1/d at every step */
  qdm_qdiff u;
  qdm_qdiff_init(&u, n, 0, T, 2, NULL, p, 1.0, 3);
  qdm_cplx traj[(T + 1) * d * d], mixed[d * d];
  qdm_dm_mixed(mixed, d, 1);
  qdm_qdiff_reverse(&u, mixed, traj);
  for (int t = 0; t <= T; t++) {
    double pur;
    qdm_dm_purity(traj + t * d * d, d, 1, &pur);
    CHECK_NEAR(pur, 1.0 / d, 1e-13, "unitary reverse purity stays 1/d");
  }
  qdm_qdiff_free(&u);
  /* one ancilla: purity after a step from I/d is at most 2/d (eigenvalues of
   * sum_a K_a K_a^dag / d are <= 2/d), and random parameters exceed 1/d */
  qdm_qdiff m;
  qdm_qdiff_init(&m, n, 1, T, 2, NULL, p, 1.0, 5);
  qdm_qdiff_reverse(&m, mixed, traj);
  double pur;
  qdm_dm_purity(traj + (T - 1) * d * d, d, 1, &pur);
  CHECK(pur <= 2.0 / d + 1e-12 && pur > 1.0 / d + 1e-6, "one ancilla step purity %g in (1/d, 2/d]", pur);
  for (int t = 0; t <= T; t++) check_state(traj + t * d * d, d, "reverse trajectory");

  /* loss values against a direct computation */
  double L, F[K];
  qdm_qdiff_loss(&m, psi, K, QDM_QTRAIN_CHAIN, QDM_QLOSS_FIDELITY, &L, NULL);
  qdm_dm_fidelity_pure(traj, psi, 0, d, 1, F);
  double fm = 0;
  for (int k = 0; k < K; k++) {
    qdm_dm_fidelity_pure(traj, psi + k * d, 0, d, 1, F + k);
    fm += F[k] / K;
  }
  CHECK_NEAR(L, 1 - fm, 1e-13, "chain fidelity loss = 1 - mean <psi|rho_0|psi>");
  qdm_qdiff_loss(&m, psi, K, QDM_QTRAIN_CHAIN, QDM_QLOSS_TRACE, &L, NULL);
  double tdm = 0, Tk;
  qdm_cplx P[d * d];
  for (int k = 0; k < K; k++) {
    qdm_dm_from_states(psi + k * d, d, 1, P);
    qdm_dm_trace_distance(traj, P, d, &Tk, NULL);
    tdm += Tk / K;
  }
  CHECK_NEAR(L, tdm, 1e-13, "chain trace loss = mean trace distance");
  /* step loss: rho_t^k built by eq. 10, through D_t, eq. 12 */
  qdm_qdiff_loss(&m, psi, K, QDM_QTRAIN_STEP, QDM_QLOSS_FIDELITY, &L, NULL);
  double ls = 0;
  qdm_cplx Kr[2 * d * d], rt[d * d], ro[d * d];
  for (int t = 1; t <= T; t++) {
    qdm_qdiff_kraus(&m, t, Kr);
    for (int k = 0; k < K; k++) {
      qdm_dm_from_states(psi + k * d, d, 1, rt);
      qdm_dm_depolarize(rt, d, 1, 1 - m.alpha[t]);
      qdm_kraus_apply(Kr, 2, d, rt, ro, 1);
      double f;
      qdm_dm_fidelity_pure(ro, psi + k * d, 0, d, 1, &f);
      ls += (1 - f) / (K * T);
    }
  }
  CHECK_NEAR(L, ls, 1e-13, "step loss = mean over t, k of 1 - <psi_k|D_t(rho_t^k)|psi_k>");

  /* gradients of all three objectives by central differences */
  int modes[3][2] = {{QDM_QTRAIN_CHAIN, QDM_QLOSS_FIDELITY}, {QDM_QTRAIN_CHAIN, QDM_QLOSS_TRACE},
                     {QDM_QTRAIN_STEP, QDM_QLOSS_FIDELITY}};
  int np = T * m.np;
  double *dth = malloc(np * sizeof *dth);
  for (int s = 0; s < 3; s++) {
    memset(dth, 0, np * sizeof *dth);
    CHECK(qdm_qdiff_loss(&m, psi, K, modes[s][0], modes[s][1], &L, dth) == QDM_OK, "loss: %s", qdm_errmsg());
    double worst = 0, lp, lm, h = 1e-6;
    for (int i = 0; i < np; i++) {
      double t0 = m.theta[i];
      m.theta[i] = t0 + h; qdm_qdiff_loss(&m, psi, K, modes[s][0], modes[s][1], &lp, NULL);
      m.theta[i] = t0 - h; qdm_qdiff_loss(&m, psi, K, modes[s][0], modes[s][1], &lm, NULL);
      m.theta[i] = t0;
      worst = fmax(worst, fabs(dth[i] - (lp - lm) / (2 * h)));
    }
    CHECK(worst < 1e-7, "qdiff gradient mode %d vs finite differences (err %g)", s, worst);
  }
  free(dth);
  CHECK(qdm_qdiff_loss(&m, psi, K, QDM_QTRAIN_STEP, QDM_QLOSS_TRACE, &L, NULL) == QDM_EINVAL, "step + trace rejected");

  /* training with an ancilla lifts the fidelity from I/d well above 1/d;
   * the target is one state, so the bound is 1 */
  qdm_qdiff_opts o = {150, 0.05, QDM_QTRAIN_CHAIN, QDM_QLOSS_FIDELITY, 0, NULL};
  qdm_qdiff_train(&m, psi, 1, &o, NULL);
  qdm_qdiff_loss(&m, psi, 1, QDM_QTRAIN_CHAIN, QDM_QLOSS_FIDELITY, &L, NULL);
  CHECK(1 - L > 0.9, "trained ancilla model: fidelity from I/d %g > 0.9 (unitary: %g)", 1 - L, 1.0 / d);
  qdm_qdiff_free(&m);
}

static void test_shots(qdm_rng *g) {
  /* H = random Hermitian on 2 qubits: the shot mean is within 5 sigma of
   * <psi|H|psi>, sigma^2 = Var(H) / N computed from <H^2> */
  enum { d = 4 };
  qdm_cplx H[d * d], H2[d * d], psi[d];
  rand_herm(g, H, d);
  for (int i = 0; i < d; i++)
    for (int j = 0; j < d; j++) {
      qdm_cplx s = 0;
      for (int k = 0; k < d; k++) s += H[i * d + k] * H[k * d + j];
      H2[i * d + j] = s;
    }
  qdm_rng_haar_state(g, psi, d);
  double ex, ex2, y;
  qdm_expect_herm(psi, d, 1, H, &ex);
  qdm_expect_herm(psi, d, 1, H2, &ex2);
  qdm_herm_eig e;
  CHECK(qdm_herm_eig_init(&e, H, d) == QDM_OK, "eig init");
  long N = 20000;
  qdm_expect_shots(&e, psi, 1, N, g, &y);
  double sig = sqrt((ex2 - ex * ex) / N);
  CHECK(fabs(y - ex) < 5 * sig, "shot estimate %g vs exact %g (sigma %g)", y, ex, sig);
  /* density-matrix version on a pure state agrees in law; on I/d the mean is tr(H)/d */
  qdm_cplx rho[d * d];
  qdm_dm_mixed(rho, d, 1);
  double trH = 0, trH2 = 0;
  for (int i = 0; i < d; i++) { trH += creal(H[i * d + i]) / d; trH2 += creal(H2[i * d + i]) / d; }
  qdm_dm_expect_shots(&e, rho, 1, N, g, &y);
  sig = sqrt((trH2 - trH * trH) / N);
  CHECK(fabs(y - trH) < 5 * sig, "shots on I/d: %g vs %g", y, trH);
  /* an eigenstate gives its eigenvalue exactly */
  qdm_cplx v[d];
  for (int i = 0; i < d; i++) v[i] = e.V[i * d + 2];
  qdm_expect_shots(&e, v, 1, 100, g, &y);
  CHECK_NEAR(y, e.w[2], 1e-12, "eigenstate: every shot gives its eigenvalue");
  qdm_herm_eig_free(&e);
  /* Pauli readouts: |+>|0> (q0 = +): X on q0 is +1 exactly, Z on q0 within 5/sqrt(N) of 0,
   * and Y on |+i> = S|+> is +1 exactly */
  qdm_cplx plus[4] = {M_SQRT1_2, M_SQRT1_2, 0, 0}, pi[2] = {M_SQRT1_2, I * M_SQRT1_2};
  qdm_expect_pauli_shots(plus, 2, 1, "XI", 1000, g, &y);
  CHECK_NEAR(y, 1.0, 1e-15, "X readout of |+>");
  qdm_expect_pauli_shots(plus, 2, 1, "XZ", 1000, g, &y);
  CHECK_NEAR(y, 1.0, 1e-15, "XZ readout of |0>|+>");
  qdm_expect_pauli_shots(plus, 2, 1, "ZI", 10000, g, &y);
  CHECK(fabs(y) < 0.05, "Z readout of |+> near 0: %g", y);
  qdm_expect_pauli_shots(pi, 1, 1, "Y", 1000, g, &y);
  CHECK_NEAR(y, 1.0, 1e-15, "Y readout of |+i>");
  /* a random state: within 5 sigma of the engine's exact value */
  qdm_cplx r8[8];
  qdm_rng_haar_state(g, r8, 8);
  double ez;
  qdm_expect_pauli(r8, 3, 1, "YXZ", &ez);
  qdm_expect_pauli_shots(r8, 3, 1, "YXZ", N, g, &y);
  CHECK(fabs(y - ez) < 5 * sqrt((1 - ez * ez) / N) + 1e-9, "YXZ shots %g vs exact %g", y, ez);
  CHECK(qdm_expect_pauli_shots(r8, 3, 1, "XQZ", 10, g, &y) == QDM_EINVAL, "bad Pauli letter rejected");
  long cnt[3];
  double pr[3] = {0.2, 0, 0.8};
  qdm_sample_counts(pr, 3, 1000, g, cnt);
  CHECK(cnt[1] == 0 && cnt[0] + cnt[2] == 1000, "zero-probability outcome never drawn");
}

/* ---- QCNN pooling by measurement (report 4.2) ---- */

/* C = A B, d x d */
static void matmul(const qdm_cplx *A, const qdm_cplx *B, qdm_cplx *C, int d) {
  for (int i = 0; i < d; i++)
    for (int j = 0; j < d; j++) {
      qdm_cplx s = 0;
      for (int k = 0; k < d; k++) s += A[i * d + k] * B[k * d + j];
      C[i * d + j] = s;
    }
}

/* rho <- sum_a K_a rho K_a^dagger with nk explicit d x d matrices */
static void kraus_sum(const qdm_cplx *K, int nk, qdm_cplx *rho, int d) {
  qdm_cplx acc[256] = {0}, T[256], Kd[256], R[256];
  for (int a = 0; a < nk; a++) {
    const qdm_cplx *Ka = K + a * d * d;
    for (int i = 0; i < d; i++)
      for (int j = 0; j < d; j++) Kd[i * d + j] = conj(Ka[j * d + i]);
    matmul(Ka, rho, T, d);
    matmul(T, Kd, R, d);
    for (int i = 0; i < d * d; i++) acc[i] += R[i];
  }
  memcpy(rho, acc, (size_t)d * d * sizeof *rho);
}

/* The projectors |m><m| on qubit q of an n-qubit register, as two dense matrices. */
static void projectors(int n, int q, qdm_cplx *P) {
  int d = 1 << n;
  memset(P, 0, 2 * (size_t)d * d * sizeof *P);
  for (int i = 0; i < d; i++) P[(i >> q & 1) * d * d + i * d + i] = 1;
}

/* Against an independent computation: the circuit cut at its measurements
 * into unitaries (from the state-vector engine), each measurement an
 * explicit sum over the projectors of its qubit; trace 1 and positivity;
 * for n = 2 the feed-forward written out (RZ(t0) on q0 after outcome 1,
 * RX(t1) after 0); the kept qubit's state equal to the coherent pooling's
 * (deferred measurement) while the whole state is not; gradients. */
static void test_qcnn_measured(qdm_rng *g) {
  for (int n = 2; n <= 4; n++) {
    int d = 1 << n, P = qdm_ansatz_nparams("qcnn-measured", n, 1, NULL);
    CHECK(P == qdm_ansatz_nparams("qcnn", n, 1, NULL), "qcnn-measured has qcnn's parameters");
    qdm_circuit *c = qdm_circuit_new(n);
    qdm_dm_meas meas[QDM_MAX_QUBITS];
    CHECK(qdm_ansatz_build(c, "qcnn-measured", 1, 0, NULL) == P, "build qcnn-measured");
    int nm = qdm_ansatz_measurements("qcnn-measured", n, 1, NULL, meas);
    CHECK(nm == n - 1, "n = %d: %d measurements (want n - 1)", n, nm);
    CHECK(qdm_ansatz_measurements("qcnn", n, 1, NULL, meas + nm) == 0, "coherent qcnn measures nothing");
    double th[64];
    for (int i = 0; i < P; i++) th[i] = 2 * qdm_rng_normal(g);
    qdm_cplx rho[256], ref[256], coh[256], U[256], Ud[256], T[256], Pm[512];
    rand_rho(g, rho, d);
    memcpy(ref, rho, sizeof rho);
    memcpy(coh, rho, sizeof rho);
    int from = 0;
    for (int k = 0; k <= nm; k++) {
      int to = k < nm ? meas[k].before : c->ngates;
      qdm_circuit v = qdm_circuit_view(c, from, to);
      CHECK(qdm_unitary(&v, th, U) == QDM_OK, "segment unitary: %s", qdm_errmsg());
      for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) Ud[i * d + j] = conj(U[j * d + i]);
      matmul(U, ref, T, d);
      matmul(T, Ud, ref, d);
      if (k < nm) {
        projectors(n, meas[k].q, Pm);
        kraus_sum(Pm, 2, ref, d);
      }
      from = to;
    }
    CHECK(qdm_dm_run_measured(c, th, NULL, 0, NULL, meas, nm, rho, 1) == QDM_OK, "run measured: %s", qdm_errmsg());
    double e = 0;
    for (int i = 0; i < d * d; i++) e = fmax(e, cabs(rho[i] - ref[i]));
    CHECK(e < 1e-12, "n = %d: measured pooling vs projector sums (err %g)", n, e);
    check_state(rho, d, "measured pooling output");
    for (int k = 0; k < nm; k++) /* no coherence left between a measured qubit's branches */
      for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++)
          if ((i ^ j) >> meas[k].q & 1) CHECK(cabs(rho[i * d + j]) < 1e-14, "coherence across measured qubit");
    if (n == 2) { /* feed-forward by hand: K_1 = RZ(t0) (x) |1><1|, K_0 = RX(t1) (x) |0><0| on (q0, q1) */
      double t0 = th[5], t1 = th[6];
      qdm_cplx rz[4] = {cexp(-I * t0 / 2), 0, 0, cexp(I * t0 / 2)};
      qdm_cplx rx[4] = {cos(t1 / 2), -I * sin(t1 / 2), -I * sin(t1 / 2), cos(t1 / 2)};
      qdm_cplx K[2 * 16] = {0}, r2[16];
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
          if ((i >> 1) == (j >> 1)) K[((i >> 1) ? 16 : 0) + i * 4 + j] = ((i >> 1) ? rz : rx)[(i & 1) * 2 + (j & 1)];
      qdm_circuit v = qdm_circuit_view(c, 0, meas[0].before);
      qdm_unitary(&v, th, U);
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) Ud[i * 4 + j] = conj(U[j * 4 + i]);
      matmul(U, coh, T, 4);
      matmul(T, Ud, r2, 4);
      kraus_sum(K, 2, r2, 4);
      e = 0;
      for (int i = 0; i < 16; i++) e = fmax(e, cabs(rho[i] - r2[i]));
      CHECK(e < 1e-12, "n = 2: measurement + classically controlled rotations (err %g)", e);
    }
    /* deferred measurement: the kept qubit 0 sees the same state either way */
    CHECK(qdm_dm_run(c, th, NULL, 0, NULL, coh, 1) == QDM_OK, "coherent run");
    qdm_cplx k1[4], k2[4];
    qdm_dm_ptrace(rho, n, (uint32_t)(d - 2), k1, 1);
    qdm_dm_ptrace(coh, n, (uint32_t)(d - 2), k2, 1);
    double ek = 0, ew = 0;
    for (int i = 0; i < 4; i++) ek = fmax(ek, cabs(k1[i] - k2[i]));
    for (int i = 0; i < d * d; i++) ew = fmax(ew, cabs(rho[i] - coh[i]));
    CHECK(ek < 1e-12, "n = %d: qubit 0 after measured = after coherent pooling (err %g)", n, ek);
    CHECK(ew > 1e-3, "n = %d: the whole register differs from coherent pooling (%g)", n, ew);
    /* gradients through measurements and noise vs central differences */
    qdm_noise nz = {QDM_NOISE_DEPOL, 0.05};
    qdm_cplx W[256], G[256], R[256], r0[256];
    rand_herm(g, W, d);
    rand_rho(g, r0, d);
    memcpy(G, W, sizeof G);
    double dth[64] = {0}, h = 1e-6, worst = 0;
    CHECK(qdm_dm_run_measured_adjoint(c, th, NULL, 0, &nz, meas, nm, r0, G, 1, dth, NULL) == QDM_OK, "adjoint");
    for (int i = 0; i < P; i++) {
      double l[2], t = th[i];
      for (int sgn = 0; sgn < 2; sgn++) {
        th[i] = t + (sgn ? -h : h);
        memcpy(R, r0, sizeof R);
        qdm_dm_run_measured(c, th, NULL, 0, &nz, meas, nm, R, 1);
        l[sgn] = re_tr_AdagB(W, R, d * d);
      }
      th[i] = t;
      worst = fmax(worst, fabs(dth[i] - (l[0] - l[1]) / (2 * h)));
    }
    CHECK(worst < 1e-7, "n = %d: measured dL/dtheta vs finite differences (err %g)", n, worst);
    qdm_circuit_free(c);
  }
  qdm_dm_meas bad = {99, 0};
  qdm_circuit *c = qdm_circuit_new(2);
  qdm_cplx r[16];
  qdm_dm_mixed(r, 4, 1);
  CHECK(qdm_dm_run_measured(c, NULL, NULL, 0, NULL, &bad, 1, r, 1) == QDM_EINVAL, "measurement past the end refused");
  qdm_circuit_free(c);
}

int main(void) {
  qdm_rng g;
  qdm_rng_seed(&g, 2024);
  test_basics(&g);
  test_ptrace(&g);
  test_depolarize(&g);
  test_noise(&g);
  test_dm_adjoint(&g);
  test_kraus(&g);
  test_qdiff(&g);
  test_shots(&g);
  test_qcnn_measured(&g);
  return check_done();
}
