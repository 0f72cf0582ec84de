/* test_qsim.c -- the engine against independent dense matrix arithmetic:
 * textbook gate matrices typed in here, full-register matrices built from
 * the definition of the tensor-product embedding, the DFT for the QFT,
 * central finite differences for every gradient. */
#include <string.h>
#include "check.h"
#include "qdm/qsim.h"

static qdm_rng rng;
static double urand(void) { return qdm_rng_uniform(&rng); }

/* ---------- reference: dense matrices ---------- */

/* Full 2^n matrix of a k-target gate with local matrix M (t[0] = LSB of the
 * local index) and control mask: by definition of the embedding,
 * <i|G|j> = M[loc(i)][loc(j)] if i and j agree off the targets and the
 * controls of j are all 1; delta_ij if they agree and a control is 0. */
static void embed(int n, int nt, const int8_t *t, uint32_t cmask, const qdm_cplx *M, qdm_cplx *G) {
  size_t dim = (size_t)1 << n, tm = 0;
  for (int j = 0; j < nt; j++) tm |= (size_t)1 << t[j];
  int d = 1 << nt;
  for (size_t i = 0; i < dim; i++)
    for (size_t j = 0; j < dim; j++) {
      qdm_cplx v = 0;
      if ((i & ~tm) == (j & ~tm)) {
        if ((j & cmask) == cmask) {
          int li = 0, lj = 0;
          for (int b = 0; b < nt; b++) {
            li |= (int)((i >> t[b]) & 1) << b;
            lj |= (int)((j >> t[b]) & 1) << b;
          }
          v = M[li * d + lj];
        } else {
          v = i == j;
        }
      }
      G[i * dim + j] = v;
    }
}

static void matmul(size_t d, const qdm_cplx *A, const qdm_cplx *B, qdm_cplx *C) {
  qdm_cplx *T = calloc(d * d, sizeof *T);
  for (size_t i = 0; i < d; i++)
    for (size_t k = 0; k < d; k++)
      for (size_t j = 0; j < d; j++) T[i * d + j] += A[i * d + k] * B[k * d + j];
  memcpy(C, T, d * d * sizeof *T);
  free(T);
}

/* Full unitary of a circuit by multiplying embedded gate matrices. */
static void ref_unitary(const qdm_circuit *c, const double *theta, const double *x, qdm_cplx *U) {
  size_t dim = (size_t)1 << c->n;
  qdm_cplx *G = malloc(dim * dim * sizeof *G), M[4096];
  memset(U, 0, dim * dim * sizeof *U);
  for (size_t i = 0; i < dim; i++) U[i * dim + i] = 1;
  for (int k = 0; k < c->ngates; k++) {
    double v[3];
    qdm_gate_angles(&c->g[k], theta, x, v);
    qdm_gate_matrix(c, &c->g[k], v, M, 0, NULL);
    embed(c->n, c->g[k].nt, c->g[k].t, c->g[k].cmask, M, G);
    matmul(dim, G, U, U);
  }
  free(G);
}

static void matvec(size_t d, const qdm_cplx *A, const qdm_cplx *x, qdm_cplx *y) {
  for (size_t i = 0; i < d; i++) {
    qdm_cplx s = 0;
    for (size_t j = 0; j < d; j++) s += A[i * d + j] * x[j];
    y[i] = s;
  }
}

static double maxdiff(const qdm_cplx *a, const qdm_cplx *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++)
    if (cabs(a[i] - b[i]) > m) m = cabs(a[i] - b[i]);
  return m;
}

static void rand_states(qdm_cplx *psi, int n, int rows) {
  size_t dim = (size_t)1 << n;
  for (int r = 0; r < rows; r++) qdm_rng_haar_state(&rng, psi + r * dim, dim);
}

/* ---------- textbook matrices ---------- */

static void test_textbook(void) {
  const double s = M_SQRT1_2, th = 0.7321, h = th / 2;
  struct { int kind; qdm_cplx M[4]; } fixed[] = {
      {QDM_GX, {0, 1, 1, 0}},          {QDM_GY, {0, -I, I, 0}},
      {QDM_GZ, {1, 0, 0, -1}},         {QDM_GH, {s, s, s, -s}},
      {QDM_GS, {1, 0, 0, I}},          {QDM_GSDG, {1, 0, 0, -I}},
      {QDM_GT, {1, 0, 0, s + I * s}},  {QDM_GTDG, {1, 0, 0, s - I * s}},
      {QDM_GSX, {0.5 + 0.5 * I, 0.5 - 0.5 * I, 0.5 - 0.5 * I, 0.5 + 0.5 * I}},
      {QDM_GRX, {cos(h), -I * sin(h), -I * sin(h), cos(h)}},
      {QDM_GRY, {cos(h), -sin(h), sin(h), cos(h)}},
      {QDM_GRZ, {cos(h) - I * sin(h), 0, 0, cos(h) + I * sin(h)}},
      {QDM_GP, {1, 0, 0, cos(th) + I * sin(th)}},
  };
  qdm_circuit *c = qdm_circuit_new(1);
  for (size_t k = 0; k < sizeof fixed / sizeof *fixed; k++) {
    qdm_gate g = {0};
    g.kind = fixed[k].kind;
    g.nt = 1;
    qdm_cplx M[4];
    double v[3] = {th, 0, 0};
    qdm_gate_matrix(c, &g, v, M, 0, NULL);
    CHECK(maxdiff(M, fixed[k].M, 4) < 1e-15, "textbook matrix of %s", qdm_gate_name(fixed[k].kind));
  }
  /* U3(theta, phi, lam) = RZ(phi) RY(theta) RZ(lam) e^{i(phi+lam)/2} */
  double v[3] = {0.3, 1.1, -0.4};
  qdm_gate g = {0};
  g.kind = QDM_GU3;
  g.nt = 1;
  qdm_cplx M[4], A[4], B[4], C[4];
  qdm_gate_matrix(c, &g, v, M, 0, NULL);
  double a = v[1] / 2, b = v[0] / 2, l = v[2] / 2;
  qdm_cplx rz1[4] = {cexp(-I * a), 0, 0, cexp(I * a)}, ry[4] = {cos(b), -sin(b), sin(b), cos(b)},
           rz2[4] = {cexp(-I * l), 0, 0, cexp(I * l)};
  matmul(2, ry, rz2, A);
  matmul(2, rz1, A, B);
  for (int i = 0; i < 4; i++) C[i] = B[i] * cexp(I * (v[1] + v[2]) / 2);
  CHECK(maxdiff(M, C, 4) < 1e-14, "U3 = RZ RY RZ up to its phase");
  qdm_circuit_free(c);
  /* RZZ(theta) = diag(e^{-i t/2}, e^{i t/2}, e^{i t/2}, e^{-i t/2}) */
  qdm_circuit *c2 = qdm_circuit_new(2);
  qdm_gate g2 = {0};
  g2.kind = QDM_GRZZ;
  g2.nt = 2;
  qdm_cplx M4[16], Z4[16] = {0};
  double vz[3] = {th, 0, 0};
  qdm_gate_matrix(c2, &g2, vz, M4, 0, NULL);
  Z4[0] = Z4[15] = cexp(-I * h);
  Z4[5] = Z4[10] = cexp(I * h);
  CHECK(maxdiff(M4, Z4, 16) < 1e-15, "RZZ textbook");
  qdm_circuit_free(c2);
}

/* ---------- every gate, every placement, both paths, against the reference ---------- */

static void add_gate(qdm_circuit *c, int kind, const int *q, int nctrl, const int *ctrl, int pidx) {
  qdm_gate g;
  memset(&g, 0, sizeof g);
  g.kind = kind;
  g.mat = -1;
  g.nt = kind >= QDM_GSWAP && kind <= QDM_GRZZ ? 2 : 1;
  for (int i = 0; i < g.nt; i++) g.t[i] = q[i];
  for (int i = 0; i < nctrl; i++) g.cmask |= 1u << ctrl[i];
  for (int j = 0; j < 3; j++) g.ang[j] = qdm_fixed(0);
  int na = kind == QDM_GU3 ? 3 : qdm_gate_nangles(&g);
  for (int j = 0; j < na; j++) g.ang[j] = qdm_par_affine(pidx + j, 1.0 + 0.5 * j, 0.1 * j);
  int r = qdm_add(c, g);
  CHECK(r == QDM_OK, "qdm_add %s: %s", qdm_gate_name(kind), qdm_errmsg());
}

static void compare_run(const qdm_circuit *c, const double *theta, const char *what) {
  size_t dim = (size_t)1 << c->n;
  int rows = 5;
  qdm_cplx *U = malloc(dim * dim * sizeof *U), *psi = malloc(rows * dim * sizeof *psi),
           *ref = malloc(rows * dim * sizeof *ref), *w = malloc(rows * dim * sizeof *w);
  ref_unitary(c, theta, NULL, U);
  rand_states(psi, c->n, rows);
  for (int r = 0; r < rows; r++) matvec(dim, U, psi + r * dim, ref + r * dim);
  for (int path = 1; path <= 2; path++) {
    qdm_set_sim_path(path);
    memcpy(w, psi, rows * dim * sizeof *w);
    qdm_run(c, theta, NULL, 0, w, rows);
    CHECK(maxdiff(w, ref, rows * dim) < 1e-12, "%s (path %d): diff %g", what, path, maxdiff(w, ref, rows * dim));
  }
  qdm_set_sim_path(0);
  free(U); free(psi); free(ref); free(w);
}

static void test_every_gate(void) {
  double theta[3] = {0.913, -1.37, 2.2};
  for (int n = 1; n <= 6; n++) {
    for (int kind = QDM_GI; kind <= QDM_GRZZ; kind++) {
      int nt = kind >= QDM_GSWAP ? 2 : 1;
      if (nt > n) continue;
      for (int t0 = 0; t0 < n; t0++)
        for (int t1 = 0; t1 < (nt == 2 ? n : 1); t1++) {
          if (nt == 2 && t1 == t0) continue;
          int q[2] = {t0, t1};
          /* uncontrolled, then with one control and (n >= 4) two controls */
          for (int nc = 0; nc <= 2; nc++) {
            int ctrl[2], k = 0;
            for (int cq = n - 1; cq >= 0 && k < nc; cq--)
              if (cq != t0 && !(nt == 2 && cq == t1)) ctrl[k++] = cq;
            if (k < nc) continue;
            if (n > 4 && (t0 % 2 || nc == 2)) continue; /* keep n = 5, 6 quick */
            qdm_circuit *c = qdm_circuit_new(n);
            add_gate(c, kind, q, nc, ctrl, 0);
            char what[96];
            snprintf(what, sizeof what, "%s n=%d t=(%d,%d) nctrl=%d", qdm_gate_name(kind), n, t0, t1, nc);
            compare_run(c, theta, what);
            qdm_circuit_free(c);
          }
        }
    }
  }
  /* dense k-qubit and diagonal gates: a random unitary from a QR-like Gram-Schmidt */
  for (int k = 1; k <= 3; k++) {
    int n = 4, d = 1 << k, tq[3] = {2, 0, 3};
    qdm_cplx *Um = malloc(d * d * sizeof *Um), dg[8];
    for (int j = 0; j < d; j++) { /* columns orthonormalised */
      qdm_cplx v[8];
      for (int i = 0; i < d; i++) v[i] = qdm_rng_normal(&rng) + I * qdm_rng_normal(&rng);
      for (int p = 0; p < j; p++) {
        qdm_cplx s = 0;
        for (int i = 0; i < d; i++) s += conj(Um[i * d + p]) * v[i];
        for (int i = 0; i < d; i++) v[i] -= s * Um[i * d + p];
      }
      double nn = 0;
      for (int i = 0; i < d; i++) nn += cabs(v[i]) * cabs(v[i]);
      for (int i = 0; i < d; i++) Um[i * d + j] = v[i] / sqrt(nn);
      dg[j] = cexp(I * 6.28 * urand());
    }
    qdm_circuit *c = qdm_circuit_new(n);
    CHECK(qdm_dense(c, k, tq, Um) == QDM_OK, "qdm_dense k=%d", k);
    CHECK(qdm_diag(c, k, tq, dg) == QDM_OK, "qdm_diag k=%d", k);
    qdm_circuit *cc = qdm_circuit_new(n);
    qdm_append(cc, c, 0, 1u << 1); /* controlled by qubit 1 */
    compare_run(c, NULL, "dense+diag");
    compare_run(cc, NULL, "controlled dense+diag");
    qdm_circuit_free(c);
    qdm_circuit_free(cc);
    free(Um);
  }
}

/* ---------- QFT = DFT ---------- */
static void test_qft(void) {
  for (int m = 1; m <= 5; m++) {
    qdm_circuit *c = qdm_circuit_new(m);
    int q[8];
    for (int i = 0; i < m; i++) q[i] = i;
    qdm_qft(c, m, q);
    size_t d = (size_t)1 << m;
    qdm_cplx *U = malloc(d * d * sizeof *U);
    qdm_unitary(c, NULL, U);
    double md = 0;
    for (size_t k = 0; k < d; k++)
      for (size_t j = 0; j < d; j++) {
        qdm_cplx want = cexp(2 * M_PI * I * (double)(j * k) / d) / sqrt((double)d);
        if (cabs(U[k * d + j] - want) > md) md = cabs(U[k * d + j] - want);
      }
    CHECK(md < 1e-12, "QFT(%d) = DFT matrix, max diff %g", m, md);
    free(U);
    qdm_circuit_free(c);
  }
}

/* A random circuit over all parametric kinds, some controlled. */
static qdm_circuit *random_circuit(int n, int ngates, int with_inputs) {
  qdm_circuit *c = qdm_circuit_new(n);
  int p = 0, kinds[] = {QDM_GRX, QDM_GRY, QDM_GRZ, QDM_GP, QDM_GU3, QDM_GRXX, QDM_GRYY, QDM_GRZZ, QDM_GH, QDM_GX, QDM_GSX};
  for (int k = 0; k < ngates; k++) {
    int kind = kinds[qdm_rng_u64(&rng) % (sizeof kinds / sizeof *kinds)];
    int q[2] = {(int)(qdm_rng_u64(&rng) % n), 0};
    q[1] = (q[0] + 1 + (int)(qdm_rng_u64(&rng) % (n - 1))) % n;
    int nt = kind >= QDM_GSWAP ? 2 : 1, ctrl = -1;
    if (n > 2 && urand() < 0.3)
      for (int cq = 0; cq < n; cq++)
        if (cq != q[0] && !(nt == 2 && cq == q[1]) && urand() < 0.5) { ctrl = cq; break; }
    if (with_inputs && kind == QDM_GRY && urand() < 0.5) {
      qdm_gate g = {0};
      g.kind = QDM_GRY; g.nt = 1; g.t[0] = q[0]; g.mat = -1;
      g.ang[0] = qdm_input(k % 3, 0.8, 0.2);
      qdm_add(c, g);
      continue;
    }
    add_gate(c, kind, q, ctrl >= 0, &ctrl, p);
    p += kind == QDM_GU3 ? 3 : qdm_gate_nangles(&c->g[c->ngates - 1]);
  }
  return c;
}

/* L = sum_r Re <w_r|psi_out,r> + |<v_r|psi_out,r>|^2: co-gradient w + 2 <v|psi> v */
static double loss_of(const qdm_cplx *out, const qdm_cplx *w, const qdm_cplx *v, size_t n) {
  double L = 0;
  for (size_t r = 0; r < n; r += 1) L += creal(conj(w[r]) * out[r]);
  return L + cabs(v[0]) * 0; /* v enters through the overlap below */
}
static double loss(const qdm_cplx *out, const qdm_cplx *w, const qdm_cplx *v, size_t dim, int rows) {
  double L = loss_of(out, w, v, dim * rows);
  for (int r = 0; r < rows; r++) {
    qdm_cplx ov = 0;
    for (size_t i = 0; i < dim; i++) ov += conj(v[r * dim + i]) * out[r * dim + i];
    L += creal(ov) * creal(ov) + cimag(ov) * cimag(ov);
  }
  return L;
}
static void loss_grad(const qdm_cplx *out, const qdm_cplx *w, const qdm_cplx *v, size_t dim, int rows, qdm_cplx *g) {
  for (int r = 0; r < rows; r++) {
    qdm_cplx ov = 0;
    for (size_t i = 0; i < dim; i++) ov += conj(v[r * dim + i]) * out[r * dim + i];
    for (size_t i = 0; i < dim; i++) g[r * dim + i] = w[r * dim + i] + 2 * ov * v[r * dim + i];
  }
}

static double eval_loss(const qdm_circuit *c, const double *theta, const double *x, const qdm_cplx *psi0,
                        const qdm_cplx *w, const qdm_cplx *v, int rows) {
  size_t dim = (size_t)1 << c->n;
  qdm_cplx *s = malloc(rows * dim * sizeof *s);
  memcpy(s, psi0, rows * dim * sizeof *s);
  qdm_run(c, theta, x, 3, s, rows);
  double L = loss(s, w, v, dim, rows);
  free(s);
  return L;
}

static void test_gradients(int n, int with_inputs, int path) {
  qdm_set_sim_path(path);
  int rows = 6;
  size_t dim = (size_t)1 << n;
  qdm_circuit *c = random_circuit(n, 40, with_inputs);
  int np = c->nparams;
  double *theta = malloc(np * sizeof *theta), *dth = calloc(np, sizeof *dth), x[6 * 3], dx[6 * 3] = {0};
  for (int i = 0; i < np; i++) theta[i] = 2 * M_PI * urand();
  for (int i = 0; i < rows * 3; i++) x[i] = urand();
  qdm_cplx *psi0 = malloc(rows * dim * sizeof *psi0), *w = malloc(rows * dim * sizeof *w),
           *v = malloc(rows * dim * sizeof *v), *s = malloc(rows * dim * sizeof *s), *lam = malloc(rows * dim * sizeof *lam);
  rand_states(psi0, n, rows);
  rand_states(w, n, rows);
  rand_states(v, n, rows);
  memcpy(s, psi0, rows * dim * sizeof *s);
  qdm_run(c, theta, x, 3, s, rows);
  loss_grad(s, w, v, dim, rows, lam);
  qdm_run_adjoint(c, theta, x, 3, s, lam, rows, dth, dx);
  CHECK(maxdiff(s, psi0, rows * dim) < 1e-12, "adjoint recovers the input states (n=%d)", n);
  const double h = 1e-5;
  for (int i = 0; i < np; i++) {
    double t0 = theta[i];
    theta[i] = t0 + h;
    double Lp = eval_loss(c, theta, x, psi0, w, v, rows);
    theta[i] = t0 - h;
    double Lm = eval_loss(c, theta, x, psi0, w, v, rows);
    theta[i] = t0;
    CHECK_NEAR(dth[i], (Lp - Lm) / (2 * h), 1e-6, "dL/dtheta vs central difference");
  }
  if (with_inputs)
    for (int i = 0; i < rows * 3; i++) {
      double x0 = x[i];
      x[i] = x0 + h;
      double Lp = eval_loss(c, theta, x, psi0, w, v, rows);
      x[i] = x0 - h;
      double Lm = eval_loss(c, theta, x, psi0, w, v, rows);
      x[i] = x0;
      CHECK_NEAR(dx[i], (Lp - Lm) / (2 * h), 1e-6, "dL/dx (per-row input) vs central difference");
    }
  /* input-state co-gradient: perturb Re and Im of one amplitude per row */
  for (int r = 0; r < rows; r++) {
    size_t i = (r * 7) % dim;
    for (int part = 0; part < 2; part++) {
      qdm_cplx d = part ? I * h : h, save = psi0[r * dim + i];
      psi0[r * dim + i] = save + d;
      double Lp = eval_loss(c, theta, x, psi0, w, v, rows);
      psi0[r * dim + i] = save - d;
      double Lm = eval_loss(c, theta, x, psi0, w, v, rows);
      psi0[r * dim + i] = save;
      double want = (Lp - Lm) / (2 * h), got = part ? cimag(lam[r * dim + i]) : creal(lam[r * dim + i]);
      CHECK_NEAR(got, want, 1e-6, "dL/dpsi_in vs central difference");
    }
  }
  qdm_set_sim_path(0);
  free(theta); free(dth); free(psi0); free(w); free(v); free(s); free(lam);
  qdm_circuit_free(c);
}

/* ---------- fused path = gate-by-gate, forward and backward ---------- */
static void test_fused(int n) {
  int rows = 37;
  size_t dim = (size_t)1 << n;
  qdm_circuit *c = random_circuit(n, 60, 0);
  int np = c->nparams;
  double *theta = malloc(np * sizeof *theta), *g1 = calloc(np, sizeof *g1), *g2 = calloc(np, sizeof *g2);
  for (int i = 0; i < np; i++) theta[i] = 2 * M_PI * urand();
  qdm_cplx *psi = malloc(rows * dim * sizeof *psi), *a = malloc(rows * dim * sizeof *a), *b = malloc(rows * dim * sizeof *b),
           *w = malloc(rows * dim * sizeof *w), *v = malloc(rows * dim * sizeof *v), *la = malloc(rows * dim * sizeof *la),
           *gin = malloc(rows * dim * sizeof *gin), *U = malloc(dim * dim * sizeof *U), *dU = calloc(dim * dim, sizeof *dU),
           *Uref = malloc(dim * dim * sizeof *Uref);
  rand_states(psi, n, rows);
  rand_states(w, n, rows);
  rand_states(v, n, rows);
  qdm_unitary(c, theta, U);
  ref_unitary(c, theta, NULL, Uref);
  CHECK(maxdiff(U, Uref, dim * dim) < 1e-12, "qdm_unitary = product of embedded gate matrices (n=%d)", n);
  memcpy(a, psi, rows * dim * sizeof *a);
  qdm_run(c, theta, NULL, 0, a, rows);
  qdm_apply_unitary((int)dim, U, psi, b, rows);
  CHECK(maxdiff(a, b, rows * dim) < 1e-12, "fused forward = gate-by-gate (n=%d)", n);
  loss_grad(a, w, v, dim, rows, la);
  qdm_apply_unitary_backward((int)dim, U, psi, la, gin, dU, rows);
  qdm_unitary_backward(c, theta, NULL, dU, g2);
  qdm_run_adjoint(c, theta, NULL, 0, a, la, rows, g1, NULL);
  CHECK(maxdiff(gin, la, rows * dim) < 1e-11, "fused input gradient = adjoint (n=%d)", n);
  double md = 0;
  for (int i = 0; i < np; i++) md = fmax(md, fabs(g1[i] - g2[i]) / fmax(1, fabs(g1[i])));
  CHECK(md < 1e-10, "fused parameter gradient = adjoint, max rel diff %g (n=%d)", md, n);
  free(theta); free(g1); free(g2); free(psi); free(a); free(b); free(w); free(v); free(la); free(gin); free(U); free(dU); free(Uref);
  qdm_circuit_free(c);
}

static void test_norm(void) {
  int n = 6;
  qdm_circuit *c = random_circuit(n, 10000, 0);
  double *theta = malloc(c->nparams * sizeof *theta);
  for (int i = 0; i < c->nparams; i++) theta[i] = 2 * M_PI * urand();
  qdm_cplx psi[64 * 2];
  rand_states(psi, n, 2);
  qdm_run(c, theta, NULL, 0, psi, 2);
  CHECK(fabs(qdm_norm2(psi, 64) - 1) < 1e-12, "norm after 10,000 random gates: |1 - %.15f|", qdm_norm2(psi, 64));
  CHECK(fabs(qdm_norm2(psi + 64, 64) - 1) < 1e-12, "norm after 10,000 random gates (row 2)");
  free(theta);
  qdm_circuit_free(c);
}

static void test_observables(void) {
  int n = 3;
  size_t dim = 8;
  qdm_cplx psi[8], P[64], X[4] = {0, 1, 1, 0}, Y[4] = {0, -I, I, 0}, Z[4] = {1, 0, 0, -1}, Id[4] = {1, 0, 0, 1};
  rand_states(psi, n, 1);
  const char *strs[] = {"XYZ", "ZZI", "IYX", "YYY"};
  for (int s = 0; s < 4; s++) {
    /* kron with qubit 0 the least significant: P = P_2 (x) P_1 (x) P_0 */
    qdm_cplx A[64] = {0}, B[64];
    A[0] = 1;
    int da = 1;
    for (int q = n - 1; q >= 0; q--) {
      qdm_cplx *m = strs[s][q] == 'X' ? X : strs[s][q] == 'Y' ? Y : strs[s][q] == 'Z' ? Z : Id;
      for (int i = 0; i < da; i++)
        for (int j = 0; j < da; j++)
          for (int k = 0; k < 2; k++)
            for (int l = 0; l < 2; l++) B[(2 * i + k) * (2 * da) + 2 * j + l] = A[i * da + j] * m[k * 2 + l];
      da *= 2;
      memcpy(A, B, da * da * sizeof *A);
    }
    memcpy(P, A, sizeof P);
    qdm_cplx Pp[8];
    matvec(dim, P, psi, Pp);
    qdm_cplx want = 0;
    for (size_t i = 0; i < dim; i++) want += conj(psi[i]) * Pp[i];
    double got;
    qdm_expect_pauli(psi, n, 1, strs[s], &got);
    CHECK_NEAR(got, creal(want), 1e-13, "Pauli expectation vs Kronecker matrix");
  }
  /* Hermitian expectation: gradients by finite differences */
  qdm_cplx H[64], gp[8] = {0}, dH[64] = {0};
  for (int i = 0; i < 8; i++)
    for (int j = 0; j <= i; j++) {
      qdm_cplx z = qdm_rng_normal(&rng) + (i == j ? 0 : I * qdm_rng_normal(&rng));
      H[i * 8 + j] = z;
      H[j * 8 + i] = conj(z);
    }
  double y, dy = 1.7, h = 1e-6;
  qdm_expect_herm(psi, 8, 1, H, &y);
  qdm_expect_herm_backward(psi, 8, 1, H, &dy, gp, dH);
  for (int i = 0; i < 8; i++)
    for (int part = 0; part < 2; part++) {
      qdm_cplx save = psi[i], d = part ? I * h : h;
      double yp, ym;
      psi[i] = save + d; qdm_expect_herm(psi, 8, 1, H, &yp);
      psi[i] = save - d; qdm_expect_herm(psi, 8, 1, H, &ym);
      psi[i] = save;
      CHECK_NEAR(part ? cimag(gp[i]) : creal(gp[i]), dy * (yp - ym) / (2 * h), 1e-7, "d<H>/dpsi");
    }
  for (int k = 0; k < 64; k += 9) {
    qdm_cplx save = H[k];
    double yp, ym;
    H[k] = save + h; qdm_expect_herm(psi, 8, 1, H, &yp);
    H[k] = save - h; qdm_expect_herm(psi, 8, 1, H, &ym);
    H[k] = save;
    CHECK_NEAR(creal(dH[k]), dy * (yp - ym) / (2 * h), 1e-7, "d<H>/dRe H");
  }
  /* reduced state of |+> (x) |0> (x) |1>: qubit 0 is |1>, qubit 2 is |+> */
  qdm_cplx st[8] = {0}, rho[4];
  st[1] = st[5] = M_SQRT1_2; /* q0 = 1, q1 = 0, q2 = 0 or 1 */
  qdm_reduced1(st, 3, 0, rho);
  CHECK(cabs(rho[3] - 1) < 1e-15 && cabs(rho[0]) < 1e-15, "reduced state of qubit 0 is |1><1|");
  qdm_reduced1(st, 3, 2, rho);
  CHECK(cabs(rho[0] - 0.5) < 1e-15 && cabs(rho[1] - 0.5) < 1e-15, "reduced state of qubit 2 is |+><+|");
}

static void test_errors(void) {
  qdm_circuit *c = qdm_circuit_new(3);
  CHECK(qdm_addr(c, QDM_GRX, 5, qdm_par(0)) == QDM_EINVAL, "qubit out of range rejected");
  CHECK(strstr(qdm_errmsg(), "out of range") != NULL, "message names the problem: %s", qdm_errmsg());
  CHECK(qdm_addc(c, QDM_GX, 1, 1, qdm_fixed(0)) == QDM_EINVAL, "control = target rejected");
  CHECK(qdm_add2(c, QDM_GRXX, 2, 2, qdm_par(0)) == QDM_EINVAL, "repeated target rejected");
  CHECK(qdm_circuit_new(0) == NULL, "n = 0 rejected");
  qdm_addr(c, QDM_GRX, 0, qdm_par(2));
  qdm_cplx psi[8];
  CHECK(qdm_run(c, NULL, NULL, 0, psi, 1) == QDM_EINVAL, "missing theta rejected");
  CHECK(c->ngates == 1 && c->nparams == 3, "only the valid gate was added");
  qdm_circuit_free(c);
}

int main(void) {
  qdm_rng_seed(&rng, 12345);
  test_textbook();
  test_every_gate();
  test_qft();
  for (int n = 2; n <= 5; n++) {
    test_gradients(n, 0, 1);
    test_gradients(n, 0, 2);
  }
  test_gradients(3, 1, 0);
  test_gradients(4, 1, 0);
  for (int n = 1; n <= 5; n++) test_fused(n < 2 ? 2 : n);
  test_norm();
  test_observables();
  test_errors();
  return check_done();
}
