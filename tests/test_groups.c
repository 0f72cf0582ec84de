/* test_groups.c -- qdm_run_groups and its adjoint against the engine's
 * per-row path: every row run on its own by qdm_run / qdm_run_adjoint at its
 * group's parameters (that path is checked against dense matrices and
 * finite differences in test_qsim.c). Group sizes cover all three ways a
 * group runs (fused, packed tiles, on its own), rows come in shuffled
 * order, and some groups are empty. */
#include <string.h>
#include "check.h"
#include "qdm/circuits.h"
#include "qdm/qsim.h"

static qdm_rng rng;

static void rand_states(qdm_cplx *psi, int n, int rows) {
  for (int r = 0; r < rows; r++) qdm_rng_haar_state(&rng, psi + (size_t)r * ((size_t)1 << n), (size_t)1 << n);
}

static double maxdiff(const qdm_cplx *a, const qdm_cplx *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, cabs(a[i] - b[i]));
  return m;
}

/* The authors' ansatz and a block with every kind of one-target gate,
 * controlled and not, fixed and trainable (an affine angle among them),
 * which the packed tiles take; with `wide`, also a trainable U3 (three
 * angles) and RXX (two targets), so small groups run one by one. */
static qdm_circuit *make_circuit(int n, int layers, int wide) {
  qdm_circuit *c = qdm_circuit_new(n);
  int p = qdm_authors(c, layers, 0);
  qdm_cplx U[4] = {0, I, I, 0};
  int t0 = 0;
  qdm_addc(c, QDM_GRY, n - 1, 1, qdm_par(p));
  qdm_addr(c, QDM_GP, 1, qdm_par(p + 1));
  qdm_addc(c, QDM_GRX, 0, 2, qdm_par_affine(p + 2, -2, 0.5));
  qdm_addc(c, QDM_GRZ, 2, 0, qdm_par(p + 3));
  qdm_add1(c, QDM_GT, 1);
  qdm_addc(c, QDM_GSX, 1, 0, qdm_fixed(0));
  qdm_addr(c, QDM_GRY, 0, qdm_fixed(0.3));
  qdm_dense(c, 1, &t0, U);
  if (wide) {
    qdm_u3(c, 0, qdm_par(p + 4), qdm_par(p + 5), qdm_par_affine(p + 6, -2, 0.5));
    qdm_add2(c, QDM_GRXX, 0, n - 1, qdm_par(p + 7));
  }
  return c;
}

static void test_groups(int n, int G, int rows, int ldextra, int wide) {
  size_t dim = (size_t)1 << n, nd = (size_t)rows * dim;
  qdm_circuit *c = make_circuit(n, 2, wide);
  int P = c->nparams, ld = P + ldextra;
  double *theta = malloc((size_t)G * ld * sizeof *theta), *dth = calloc((size_t)G * ld, sizeof *dth),
         *dref = calloc((size_t)G * ld, sizeof *dref);
  for (int i = 0; i < G * ld; i++) theta[i] = 2 * M_PI * qdm_rng_uniform(&rng);
  /* group sizes: group 0 gets half the rows (fused), the last group none,
   * the rest a few each (gate by gate), in shuffled order */
  int *grp = malloc(rows * sizeof *grp);
  for (int r = 0; r < rows; r++) grp[r] = r < rows / 2 || G < 3 ? 0 : 1 + (int)(qdm_rng_u64(&rng) % (uint64_t)(G - 2));
  for (int r = rows - 1; r > 0; r--) {
    int k = (int)(qdm_rng_u64(&rng) % (uint64_t)(r + 1)), t = grp[r];
    grp[r] = grp[k];
    grp[k] = t;
  }
  qdm_cplx *in = malloc(nd * sizeof *in), *a = malloc(nd * sizeof *a), *b = malloc(nd * sizeof *b),
           *la = malloc(nd * sizeof *la), *lb = malloc(nd * sizeof *lb);
  rand_states(in, n, rows);
  rand_states(la, n, rows);
  memcpy(lb, la, nd * sizeof *lb);
  memcpy(a, in, nd * sizeof *a);
  CHECK(qdm_run_groups(c, theta, ld, G, grp, a, rows) == QDM_OK, "qdm_run_groups: %s", qdm_errmsg());
  memcpy(b, in, nd * sizeof *b);
  for (int r = 0; r < rows; r++) qdm_run(c, theta + (size_t)grp[r] * ld, NULL, 0, b + r * dim, 1);
  CHECK(maxdiff(a, b, nd) < 1e-12, "grouped forward = per-row (n=%d, G=%d, rows=%d): %g", n, G, rows, maxdiff(a, b, nd));
  CHECK(qdm_run_groups_adjoint(c, theta, ld, G, grp, a, la, rows, dth) == QDM_OK, "adjoint: %s", qdm_errmsg());
  for (int r = 0; r < rows; r++)
    qdm_run_adjoint(c, theta + (size_t)grp[r] * ld, NULL, 0, b + r * dim, lb + r * dim, 1, dref + (size_t)grp[r] * ld, NULL);
  CHECK(maxdiff(a, in, nd) < 1e-11, "the adjoint restores the inputs (n=%d)", n);
  CHECK(maxdiff(la, lb, nd) < 1e-11, "grouped dL/dpsi_in = per-row (n=%d, G=%d): %g", n, G, maxdiff(la, lb, nd));
  double md = 0;
  for (int i = 0; i < G * ld; i++) md = fmax(md, fabs(dth[i] - dref[i]) / fmax(1, fabs(dref[i])));
  CHECK(md < 1e-10, "grouped dL/dtheta = per-row sums (n=%d, G=%d): max rel diff %g", n, G, md);
  int untouched = 1;
  for (int g = 0; g < G; g++)
    for (int i = P; i < ld; i++) untouched &= dth[(size_t)g * ld + i] == 0;
  CHECK(untouched, "columns beyond nparams of the theta table are left alone");
  free(theta); free(dth); free(dref); free(grp); free(in); free(a); free(b); free(la); free(lb);
  qdm_circuit_free(c);
}

static void test_errors(void) {
  qdm_circuit *c = make_circuit(3, 1, 1);
  int P = c->nparams, grp[2] = {0, 2};
  double theta[2 * 64] = {0}, dth[2 * 64];
  qdm_cplx psi[16] = {1, 0, 0, 0, 0, 0, 0, 0, 1}, lam[16] = {0};
  CHECK(qdm_run_groups(c, theta, P, 2, grp, psi, 2) == QDM_EINVAL && strstr(qdm_errmsg(), "row 1 has group 2"),
        "group out of range: %s", qdm_errmsg());
  grp[1] = 1;
  CHECK(qdm_run_groups(c, theta, P - 1, 2, grp, psi, 2) == QDM_EINVAL && strstr(qdm_errmsg(), "ldtheta"),
        "ldtheta below nparams: %s", qdm_errmsg());
  CHECK(qdm_run_groups(c, theta, P, 0, grp, psi, 2) == QDM_EINVAL, "G = 0 rejected");
  CHECK(qdm_run_groups_adjoint(c, theta, P, 2, grp, psi, NULL, 2, dth) == QDM_EINVAL, "NULL lam rejected");
  CHECK(qdm_run_groups_adjoint(c, theta, P, 2, grp, psi, lam, 2, NULL) == QDM_EINVAL, "NULL dtheta rejected");
  qdm_enc_angle(c, 2, 0);
  CHECK(qdm_run_groups(c, theta, P, 2, grp, psi, 2) == QDM_EINVAL && strstr(qdm_errmsg(), "inputs"),
        "a circuit with per-row inputs is rejected: %s", qdm_errmsg());
  qdm_circuit_free(c);
}

int main(void) {
  qdm_rng_seed(&rng, 2024);
  for (int wide = 0; wide <= 1; wide++) {
    test_groups(4, 1, 40, 0, wide);    /* one group: the fused path */
    test_groups(4, 100, 320, 3, wide); /* the report's table: 100 groups of ~3 rows, and one big group */
    test_groups(3, 7, 5, 0, wide);     /* fewer rows than groups */
    test_groups(5, 30, 77, 0, wide);   /* small groups only, a part-filled last tile */
    test_groups(9, 4, 40, 1, wide);    /* too many qubits for the fused path */
    qdm_set_threads(1);
    test_groups(4, 100, 320, 0, wide); /* one thread */
    qdm_set_threads(0);
  }
  test_errors();
  return check_done();
}
