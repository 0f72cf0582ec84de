/* test_pairs.c -- the pair program (src/qsim/pairs.c: gates fused into 4x4
 * steps, the Vatan-Williams unit in closed form, tiles across groups)
 * against a gate-by-gate simulation written here: every gate's local
 * matrix applied to the full state index by index, controls included. The
 * adjoint's dtheta against central finite differences of that simulation,
 * its dL/din against the reference's inverse; thread counts 1 and 2 give
 * bitwise the same results. */
#include <string.h>
#include "check.h"
#include "qdm/circuits.h"
#include "qdm/qsim.h"
#include "qsim/pairs.h"

static qdm_rng rng;

/* psi <- g psi on n qubits, straight from the definition */
static void ref_gate(const qdm_circuit *c, const qdm_gate *g, const double *th, qdm_cplx *psi) {
  int dim = 1 << c->n, d = 1 << g->nt;
  double v[3];
  qdm_cplx M[256], *out = malloc(dim * sizeof *out);
  qdm_gate_angles(g, th, NULL, v);
  qdm_gate_matrix(c, g, v, M, 0, NULL);
  for (int i = 0; i < dim; i++) {
    if ((i & g->cmask) != g->cmask) {
      out[i] = psi[i];
      continue;
    }
    int tout = 0, base = i;
    for (int k = 0; k < g->nt; k++) {
      tout |= (i >> g->t[k] & 1) << k;
      base &= ~(1 << g->t[k]);
    }
    qdm_cplx s = 0;
    for (int tin = 0; tin < d; tin++) {
      int j = base;
      for (int k = 0; k < g->nt; k++) j |= (tin >> k & 1) << g->t[k];
      s += M[tout * d + tin] * psi[j];
    }
    out[i] = s;
  }
  memcpy(psi, out, dim * sizeof *out);
  free(out);
}

static void ref_run(const qdm_circuit *c, const double *th, qdm_cplx *psi) {
  for (int i = 0; i < c->ngates; i++) ref_gate(c, &c->g[i], th, psi);
}

/* Re <w|U(th)|psi> */
static double ref_loss(const qdm_circuit *c, const double *th, const qdm_cplx *psi, const qdm_cplx *w) {
  int dim = 1 << c->n;
  qdm_cplx *x = malloc(dim * sizeof *x);
  memcpy(x, psi, dim * sizeof *x);
  ref_run(c, th, x);
  double s = 0;
  for (int i = 0; i < dim; i++) s += creal(conj(w[i]) * x[i]);
  free(x);
  return s;
}

/* the authors' layers, then a mix of every covered kind on n >= 5 qubits */
static qdm_circuit *mixed(int n) {
  qdm_circuit *c = qdm_circuit_new(n);
  int p = qdm_authors(c, 2, 0);
  p += qdm_vw_block(c, 4, 1, p);
  qdm_addr(c, QDM_GRY, 3, qdm_par_affine(p++, -2, 0.4));
  qdm_addc(c, QDM_GRZ, 0, 2, qdm_fixed(0.7)); /* fixed controlled */
  qdm_addr(c, QDM_GP, 2, qdm_par(p++));
  qdm_add2(c, QDM_GSWAP, 1, 3, qdm_fixed(0));
  qdm_add1(c, QDM_GT, 4);
  qdm_cz(c, 0, 4);
  qdm_cz(c, 2, 3);
  qdm_cnot(c, 3, 0);
  qdm_addr(c, QDM_GRX, 2, qdm_par(3)); /* a shared parameter */
  qdm_add2(c, QDM_GRXX, 0, 1, qdm_fixed(0.9));
  qdm_addr(c, QDM_GRZ, 4, qdm_par(p++)); /* a last lone one-qubit step */
  return c;
}

/* One pair step whose gradients are cheaper walked from its outputs back
 * (the constants H S and CX H S T stand before its trainables, pairs.c's
 * grad_plans): every rotation kind contracted, conjugations by a rotation
 * and by a non-diagonal complex constant (its adjoint) on the way. */
static qdm_circuit *walked_back(void) {
  qdm_circuit *c = qdm_circuit_new(2);
  qdm_add1(c, QDM_GH, 0);
  qdm_add1(c, QDM_GS, 1);
  qdm_addr(c, QDM_GRY, 1, qdm_par(0));
  qdm_cnot(c, 0, 1);
  qdm_add1(c, QDM_GH, 1); /* K Y K^dagger != K^dagger Y K for this constant K on the way to RY */
  qdm_add1(c, QDM_GS, 1);
  qdm_add1(c, QDM_GT, 0);
  qdm_addr(c, QDM_GRZ, 0, qdm_par(1));
  qdm_addr(c, QDM_GP, 1, qdm_par_affine(2, 1.5, -0.2));
  qdm_addr(c, QDM_GRX, 0, qdm_par(3));
  return c;
}

typedef struct { int G, rows, *grp, *pos; } layout;

/* G groups of 0..5 rows, ascending, but group 1 with 21 (more than a
 * batch's pass of 16 slots); the rows at shuffled positions. sorted: the
 * groups' sizes 1..6 by decreasing size, as the model numbers them, so
 * that every batch is one chunk of the work, read in place (pairs.h);
 * otherwise batches gather. */
static void make_layout(layout *L, int G, int sorted) {
  L->G = G;
  L->grp = malloc((6 * G + 21) * sizeof(int));
  L->pos = malloc((6 * G + 21) * sizeof(int));
  L->rows = 0;
  for (int g = 0; g < G; g++) {
    int k = sorted ? 6 - 6 * g / G : g == 1 ? 21 : (int)(qdm_rng_uniform(&rng) * 6);
    for (; k > 0; k--) L->grp[L->rows++] = g;
  }
  for (int r = 0; r < L->rows; r++) L->pos[r] = r;
  for (int r = L->rows - 1; r > 0; r--) {
    int j = (int)(qdm_rng_uniform(&rng) * (r + 1)), t = L->pos[r];
    L->pos[r] = L->pos[j], L->pos[j] = t;
  }
}

static void rand_states(qdm_cplx *x, int dim, int rows) {
  for (int r = 0; r < rows; r++) qdm_rng_haar_state(&rng, x + (size_t)r * dim, dim);
}

/* c64: complex64 sweeps, held to float tolerances (a float's 6e-8 times
 * the ~100 operations a row's amplitude goes through) */
static void test_circuit(const char *name, qdm_circuit *c, int G, int c64, int sorted) {
  qdm__pairs *p = qdm__pairs_new(c, c64);
  double tol = c64 ? 2e-6 : 1e-12, gtol = c64 ? 1e-5 : 1e-7;
  CHECK(p != NULL, "%s: the pair program covers it", name);
  if (!p) return;
  int dim = 1 << c->n, P = c->nparams, ld = P + 1;
  layout L;
  make_layout(&L, G, sorted);
  size_t nd = (size_t)L.rows * dim;
  double *th = malloc(G * ld * sizeof *th), *work = aligned_alloc(64, qdm__pairs_work_doubles(p, G) * sizeof *work);
  double *d1 = calloc(G * ld, sizeof *d1), *d2 = calloc(G * ld, sizeof *d2);
  qdm_cplx *in = malloc(nd * sizeof *in), *out = malloc(nd * sizeof *out), *w = malloc(nd * sizeof *w);
  qdm_cplx *psi = malloc(nd * sizeof *psi), *lam = malloc(nd * sizeof *lam), *ref = malloc(nd * sizeof *ref);
  for (int i = 0; i < G * ld; i++) th[i] = 6.3 * qdm_rng_uniform(&rng) - 3.1;
  th[0] = 40.3, th[ld + 1] = -55.1, th[2 * ld + 2] = 91.7; /* the sines' range reduction (k up to 60) */
  rand_states(in, dim, L.rows);
  rand_states(w, dim, L.rows);
  qdm__pairs_build(p, th, ld, G, NULL, work);
  qdm__pairs_forward(p, work, L.grp, L.pos, in, out, L.rows);
  double e = 0;
  memcpy(ref, in, nd * sizeof *ref);
  for (int r = 0; r < L.rows; r++) ref_run(c, th + L.grp[r] * ld, ref + (size_t)L.pos[r] * dim);
  for (size_t i = 0; i < nd; i++) e = fmax(e, cabs(out[i] - ref[i]));
  CHECK(e < tol, "%s: forward vs gate by gate: %.3g", name, e);

  /* adjoint of L = sum_r Re <w_r|U psi_r>: lam = w; psi back to in; lam_in = U^dagger w */
  for (int nth = 1; nth <= 2; nth++) {
    qdm_set_threads(nth);
    memcpy(psi, out, nd * sizeof *psi);
    memcpy(lam, w, nd * sizeof *lam);
    CHECK(qdm__pairs_adjoint(p, work, L.grp, L.pos, psi, psi, lam, lam, L.rows, nth == 1 ? d1 : d2, ld, NULL) == QDM_OK,
          "adjoint");
  }
  CHECK(!memcmp(d1, d2, G * ld * sizeof *d1), "%s: dtheta bitwise the same on 1 and 2 threads", name);
  e = 0;
  for (size_t i = 0; i < nd; i++) e = fmax(e, cabs(psi[i] - in[i]));
  CHECK(e < tol, "%s: adjoint recovers the inputs: %.3g", name, e);
  /* <lam_in|x> = <w|U x> for any x: take x = in */
  double lin = 0, lw = 0;
  for (size_t i = 0; i < nd; i++) lin += creal(conj(lam[i]) * in[i]), lw += creal(conj(w[i]) * out[i]);
  CHECK_NEAR(lin, lw, 10 * tol * L.rows, "dL/din is U^dagger dL/dout");
  double emax = 0, gmax = 0, h = 1e-5;
  for (int g = 0; g < G; g++) {
    for (int k = 0; k < P; k++) {
      double fd = 0, *t = th + g * ld;
      for (int r = 0; r < L.rows; r++) {
        if (L.grp[r] != g) continue;
        const qdm_cplx *x = in + (size_t)L.pos[r] * dim, *wr = w + (size_t)L.pos[r] * dim;
        double t0 = t[k];
        t[k] = t0 + h;
        double lp = ref_loss(c, t, x, wr);
        t[k] = t0 - h;
        double lm = ref_loss(c, t, x, wr);
        t[k] = t0;
        fd += (lp - lm) / (2 * h);
      }
      emax = fmax(emax, fabs(fd - d1[g * ld + k]));
      gmax = fmax(gmax, fabs(fd));
    }
    CHECK(d1[g * ld + P] == 0, "the unused column stays 0");
  }
  CHECK(emax < gtol && gmax > 1e-3, "%s: dtheta vs finite differences: %.3g (largest %.3g)", name, emax, gmax);

  /* out of place, psi_in not wanted (the model's call): the same dL/din
   * and dtheta as in place, and the outputs it read left as they were */
  qdm_cplx *lam2 = malloc(nd * sizeof *lam2), *w0 = malloc(nd * sizeof *w0);
  memcpy(ref, out, nd * sizeof *ref);
  memcpy(w0, w, nd * sizeof *w0);
  memset(d2, 0, G * ld * sizeof *d2);
  CHECK(qdm__pairs_adjoint(p, work, L.grp, L.pos, out, NULL, w, lam2, L.rows, d2, ld, NULL) == QDM_OK,
        "adjoint out of place");
  CHECK(!memcmp(lam2, lam, nd * sizeof *lam) && !memcmp(d2, d1, G * ld * sizeof *d1),
        "%s: out of place: dL/din and dtheta bitwise as in place", name);
  CHECK(!memcmp(ref, out, nd * sizeof *ref) && !memcmp(w0, w, nd * sizeof *w0), "%s: out of place: outputs unchanged",
        name);
  free(lam2), free(w0);
  free(th), free(work), free(d1), free(d2), free(in), free(out), free(w), free(psi), free(lam), free(ref);
  free(L.grp), free(L.pos);
  qdm__pairs_free(p);
}

/* The closed-form unit: one step, one factor, the product of its eight gates. */
static void test_vw_unit(void) {
  qdm_circuit *c = qdm_circuit_new(2);
  qdm_vw_block(c, 0, 1, 0);
  qdm__pairs *p = qdm__pairs_new(c, 0);
  int ng = 0;
  CHECK(p && qdm__pairs_nops(p, &ng) == 1 && ng == 8, "a VW unit is one step");
  double th[3] = {0.3, -1.1, 0.7}, *work = aligned_alloc(64, qdm__pairs_work_doubles(p, 1) * sizeof *work);
  qdm__pairs_build(p, th, 3, 1, NULL, work);
  qdm_cplx M[16];
  qdm__pairs_matrix(p, work, 0, 0, M);
  double e = 0;
  for (int j = 0; j < 4; j++) {
    qdm_cplx col[4] = {0};
    col[j] = 1;
    ref_run(c, th, col);
    for (int i = 0; i < 4; i++) e = fmax(e, cabs(M[i * 4 + j] - col[i]));
  }
  CHECK(e < 1e-14, "closed-form N(a, b, c) equals its gates' product (global phase too): %.3g", e);
  free(work);
  qdm__pairs_free(p);
  qdm_circuit_free(c);
}

static void test_fusion(void) {
  /* authors' layer: two steps of two 4x4s, and a last pair step for the final CZ and RX */
  qdm_circuit *c = qdm_circuit_new(4);
  qdm_authors(c, 10, 0);
  qdm__pairs *p = qdm__pairs_new(c, 0);
  int ng = 0;
  CHECK(p && qdm__pairs_nops(p, &ng) == 42 && ng == 430, "authors' 10 layers: 430 gates in 42 steps (%d)",
        p ? qdm__pairs_nops(p, NULL) : -1);
  qdm__pairs_free(p);
  qdm_circuit_free(c);
  /* not covered: a trainable U3, a Toffoli, inputs */
  const char *why[3] = {"U3", "CCX", "inputs"};
  for (int k = 0; k < 3; k++) {
    c = qdm_circuit_new(3);
    if (k == 0) qdm_add(c, (qdm_gate){.kind = QDM_GU3, .nt = 1, .t = {0}, .ang = {qdm_par(0), qdm_par(1), qdm_par(2)}, .mat = -1});
    if (k == 1) qdm_add(c, (qdm_gate){.kind = QDM_GX, .nt = 1, .t = {2}, .cmask = 3u, .ang = {qdm_fixed(0), qdm_fixed(0), qdm_fixed(0)}, .mat = -1});
    if (k == 2) qdm_addr(c, QDM_GRY, 0, qdm_input(0, 1, 0));
    p = qdm__pairs_new(c, 0);
    CHECK(!p, "%s: not covered", why[k]);
    qdm__pairs_free(p);
    qdm_circuit_free(c);
  }
}

int main(void) {
  qdm_rng_seed(&rng, 11);
  test_vw_unit();
  test_fusion();
  qdm_circuit *c = qdm_circuit_new(4);
  qdm_authors(c, 3, 0);
  test_circuit("authors n=4", c, 9, 0, 0);
  test_circuit("authors n=4 c64", c, 37, 1, 0); /* 16 groups a batch: two full, one short */
  test_circuit("authors n=4, in place", c, 21, 0, 1);
  test_circuit("authors n=4 c64, in place", c, 37, 1, 1);
  qdm_circuit_free(c);
  c = walked_back();
  test_circuit("walked back n=2", c, 9, 0, 0);
  test_circuit("walked back n=2 c64", c, 19, 1, 0);
  qdm_circuit_free(c);
  c = mixed(5);
  test_circuit("mixed n=5", c, 7, 0, 0);
  test_circuit("mixed n=5 c64", c, 19, 1, 0);
  test_circuit("mixed n=5 c64, in place", c, 19, 1, 1);
  qdm_circuit_free(c);
  return check_done();
}
