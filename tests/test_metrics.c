/* test_metrics.c -- expressibility and entangling capability (report
 * section 6) against outside values: ln 75 for an idle circuit, Haar
 * states (KL near 0, mean Meyer-Wallach (2^n-2)/(2^n+1)), Meyer-Wallach of
 * product, GHZ and W states, a hand-computed KL, the Haar bin integral,
 * the authors' published benchmark (docs/architecture.md), and the PNG
 * writers. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "qdm/circuits.h"
#include "qdm/io.h"
#include "qdm/metrics.h"

static qdm_rng rng;

static void test_mw_states(void) {
  enum { n = 4, D = 16 };
  qdm_cplx psi[D];
  /* random product state: kron of random one-qubit states */
  memset(psi, 0, sizeof psi);
  psi[0] = 1;
  qdm_cplx q[n][2];
  for (int k = 0; k < n; k++) qdm_rng_haar_state(&rng, q[k], 2);
  for (int i = 0; i < D; i++) {
    psi[i] = 1;
    for (int k = 0; k < n; k++) psi[i] *= q[k][i >> k & 1];
  }
  CHECK(fabs(qdm_meyer_wallach(psi, n)) < 1e-14, "MW of a product state = 0");
  memset(psi, 0, sizeof psi);
  psi[0] = psi[D - 1] = M_SQRT1_2;
  CHECK_NEAR(qdm_meyer_wallach(psi, n), 1.0, 1e-14, "MW of GHZ = 1");
  memset(psi, 0, sizeof psi);
  for (int k = 0; k < n; k++) psi[1 << k] = 0.5;
  CHECK_NEAR(qdm_meyer_wallach(psi, n), 0.75, 1e-14, "MW of the 4-qubit W state = 3/4");
  CHECK_NEAR(qdm_haar_mw(4), 14.0 / 17.0, 1e-15, "Haar MW for 4 qubits = 14/17");
  CHECK(isnan(qdm_meyer_wallach(NULL, 4)), "NULL state gives NaN");
  /* Bloch vectors: |0>, |+>, |+i>, and qubit 0 of a Bell pair */
  double v[3];
  qdm_cplx s1[2] = {1, 0}, plus[2] = {M_SQRT1_2, M_SQRT1_2}, pi[2] = {M_SQRT1_2, I * M_SQRT1_2};
  qdm_bloch_vector(s1, 1, 0, v);
  CHECK(fabs(v[0]) + fabs(v[1]) + fabs(v[2] - 1) < 1e-15, "Bloch(|0>) = (0,0,1)");
  qdm_bloch_vector(plus, 1, 0, v);
  CHECK(fabs(v[0] - 1) + fabs(v[1]) + fabs(v[2]) < 1e-15, "Bloch(|+>) = (1,0,0)");
  qdm_bloch_vector(pi, 1, 0, v);
  CHECK(fabs(v[0]) + fabs(v[1] - 1) + fabs(v[2]) < 1e-15, "Bloch(|+i>) = (0,1,0)");
  qdm_cplx bell[4] = {M_SQRT1_2, 0, 0, M_SQRT1_2};
  qdm_bloch_vector(bell, 2, 0, v);
  CHECK(fabs(v[0]) + fabs(v[1]) + fabs(v[2]) < 1e-15, "Bloch of half a Bell pair = 0");
  CHECK(qdm_bloch_vector(bell, 2, 2, v) == QDM_EINVAL, "qubit out of range");
}

static void test_kl(void) {
  /* Haar bin integrals: sum to 1; closed form for small N; no underflow */
  for (int N = 2; N <= 64; N *= 2) {
    double s = 0;
    for (int b = 0; b < 75; b++) s += qdm_haar_fid_prob(N, b / 75.0, (b + 1) / 75.0);
    CHECK_NEAR(s, 1.0, 1e-12, "Haar bin probabilities sum to 1");
  }
  CHECK_NEAR(qdm_haar_fid_prob(16, 0.1, 0.3), pow(0.9, 15) - pow(0.7, 15), 1e-14, "(1-a)^(N-1) - (1-b)^(N-1)");
  CHECK_NEAR(qdm_haar_fid_prob(1 << 20, 0.0, 1e-5), 1 - pow(1 - 1e-5, (1 << 20) - 1), 1e-12, "first bin, N = 2^20");
  /* one sample at F = 0.55 with 10 bins, N = 2^20: KL = -ln P_haar(bin 5)
   * = -(N-1) ln 0.5 - ln(1 - 0.8^(N-1)), finite although P underflows */
  double f1 = 0.55, klb;
  CHECK(qdm_fid_kl(&f1, 1, 10, 1 << 20, &klb, NULL) == QDM_OK, "fid_kl at N = 2^20");
  CHECK_NEAR(klb, ((1 << 20) - 1) * log(2.0), 1e-12, "KL finite where the Haar bin underflows");
  /* hand-computed KL: 2 bins, N = 2 (Haar uniform): p = (2/3, 1/3) */
  double f[3] = {0.1, 0.2, 0.7}, kl, p[2];
  CHECK(qdm_fid_kl(f, 3, 2, 2, &kl, p) == QDM_OK, "fid_kl");
  CHECK_NEAR(kl, 2.0 / 3 * log(4.0 / 3) + 1.0 / 3 * log(2.0 / 3), 1e-15, "KL by hand");
  CHECK_NEAR(p[0], 2.0 / 3, 1e-15, "histogram bin 0");
  double bad = 1.5;
  CHECK(qdm_fid_kl(&bad, 1, 2, 2, &kl, NULL) == QDM_EINVAL, "fidelity 1.5 rejected");
  CHECK(qdm_fid_kl(f, 3, 0, 2, &kl, NULL) == QDM_EINVAL, "0 bins rejected");
  /* one bin: P_pqc = P_haar = 1 for any circuit, KL 0 -- "perfect" for a
   * circuit that only makes one state; refused with the reason */
  CHECK(qdm_fid_kl(f, 3, 1, 2, &kl, NULL) == QDM_EINVAL && strstr(qdm_errmsg(), "KL is 0 for every circuit"),
        "1 bin rejected with the reason: %s", qdm_errmsg());
}

static void test_idle(void) {
  /* every pair of states is |0...0>, F = 1: all mass in the last bin, whose
   * Haar probability is (1/75)^(N-1), so KL = (N-1) ln 75 */
  for (int n = 1; n <= 3; n++) {
    qdm_circuit *c = qdm_circuit_new(n);
    qdm_expr_opts o;
    qdm_expr_result r;
    qdm_expr_opts_default(&o);
    o.samples = 200;
    CHECK(qdm_expressibility(c, &o, &r) == QDM_OK, "idle: %s", qdm_errmsg());
    CHECK_NEAR(r.expressibility, ((1 << n) - 1) * log(75.0), 1e-12, "idle circuit KL = (2^n-1) ln 75");
    CHECK(fabs(r.entangling) < 1e-15, "idle circuit MW = 0");
    qdm_circuit_free(c);
  }
}

static void test_haar(void) {
  qdm_expr_opts o;
  qdm_expr_result r;
  qdm_expr_opts_default(&o);
  for (int n = 2; n <= 5; n++) {
    CHECK(qdm_expressibility_haar(n, &o, &r) == QDM_OK, "haar");
    /* the plug-in KL estimator's bias is about (occupied bins - 1) / (2 S) */
    CHECK(r.expressibility < 0.008, "Haar states: KL %.4f within sampling error of 0 (n = %d)", r.expressibility, n);
    CHECK(fabs(r.entangling - qdm_haar_mw(n)) < 0.005, "Haar states: MW %.4f vs (2^n-2)/(2^n+1) = %.4f (n = %d)",
          r.entangling, qdm_haar_mw(n), n);
  }
}

static void run_ansatz(const char *name, int n, int L, int init, int samples, qdm_expr_result *r) {
  qdm_circuit *c = qdm_circuit_new(n);
  qdm_ansatz_opts ao = {init, 0};
  int np = qdm_ansatz_build(c, name, L, 0, &ao);
  CHECK(np >= 0, "build %s: %s", name, qdm_errmsg());
  qdm_expr_opts o;
  qdm_expr_opts_default(&o);
  o.samples = samples;
  CHECK(qdm_expressibility(c, &o, r) == QDM_OK, "expressibility %s: %s", name, qdm_errmsg());
  CHECK(r->nparams == np, "nparams reported");
  qdm_circuit_free(c);
}

static void test_circuits(void) {
  qdm_expr_result r;
  /* sim1 builds product states only */
  run_ansatz("sim1", 4, 2, QDM_INIT_NONE, 1000, &r);
  CHECK(r.entangling < 1e-13, "sim1 (no entangling gates) has MW 0, got %g", r.entangling);
  /* The authors' benchmark (docs/architecture.md): 4 qubits, 5 layers,
   * RY(pi/4) first: MW about 0.823 (Haar 14/17), KL about 0.002 (their
   * estimator floor). Our per-state MW spread is 0.077, so at 2S = 10^4
   * states the standard error is 0.0008. */
  run_ansatz("authors", 4, 5, QDM_INIT_RY_PI4, 5000, &r);
  CHECK(fabs(r.entangling - 0.823) < 0.006, "authors L=5 MW %.4f vs published 0.823", r.entangling);
  CHECK(fabs(r.entangling - 0.82) < 0.02, "the authors' MW within 0.02 of 0.82 (got %.4f)", r.entangling);
  CHECK(r.expressibility < 0.01, "authors L=5 KL %.4f < 0.01", r.expressibility);
  /* a weakly expressive circuit is clearly distinguished: one layer of sim9 */
  run_ansatz("sim9", 4, 1, QDM_INIT_NONE, 2000, &r);
  CHECK(r.expressibility > 0.3, "sim9 L=1 is far from Haar (KL %.3f)", r.expressibility);
}

static void test_determinism(void) {
  /* big enough (4 qubits, 48 gates, 3000 pairs) that the pairs are spread
   * over threads when there are several */
  qdm_circuit *c = qdm_circuit_new(4);
  qdm_ansatz_build(c, "sim14", 3, 0, NULL);
  qdm_expr_opts o;
  qdm_expr_result r1, r2, r3;
  qdm_expr_opts_default(&o);
  o.samples = 3000;
  double *b1 = malloc(6 * 3000 * sizeof *b1), *b2 = malloc(6 * 3000 * sizeof *b2);
  o.bloch = b1;
  o.bloch_qubit = 1;
  int nt = omp_get_max_threads();
  omp_set_num_threads(1);
  qdm_expressibility(c, &o, &r1);
  omp_set_num_threads(nt > 1 ? nt : 2);
  o.bloch = b2;
  qdm_expressibility(c, &o, &r2);
  omp_set_num_threads(nt);
  CHECK(r1.expressibility == r2.expressibility && r1.entangling == r2.entangling, "same numbers with 1 and %d threads", nt > 1 ? nt : 2);
  CHECK(!memcmp(b1, b2, 6 * 3000 * sizeof *b1), "same Bloch vectors with any thread count");
  /* Bloch vectors of reduced states lie in the ball, and |r|^2 relates to
   * the qubit's purity: mean (1 - |r|^2) over all qubits = MW */
  double worst = 0;
  for (int i = 0; i < 6000; i++) worst = fmax(worst, b1[3 * i] * b1[3 * i] + b1[3 * i + 1] * b1[3 * i + 1] + b1[3 * i + 2] * b1[3 * i + 2]);
  CHECK(worst <= 1 + 1e-12, "Bloch vectors inside the ball");
  o.seed = 2;
  o.bloch = NULL;
  qdm_expressibility(c, &o, &r3);
  CHECK(r3.entangling != r1.entangling, "another seed, other samples");
  o.samples = 0;
  CHECK(qdm_expressibility(c, &o, &r3) == QDM_EINVAL, "0 samples rejected");
  o.samples = 10;
  o.bloch = b1;
  o.bloch_qubit = 4;
  CHECK(qdm_expressibility(c, &o, &r3) == QDM_EINVAL, "bloch qubit out of range rejected");
  free(b1);
  free(b2);
  qdm_circuit_free(c);
  /* a circuit that reads per-row inputs has no parameter-only ensemble */
  c = qdm_circuit_new(2);
  qdm_enc_angle(c, 2, 0);
  CHECK(qdm_expressibility(c, &o, &r3) == QDM_EINVAL, "circuits with inputs rejected");
  qdm_circuit_free(c);
}

static int is_png(const char *path) {
  FILE *f = fopen(path, "rb");
  unsigned char h[8] = {0};
  size_t k = f ? fread(h, 1, 8, f) : 0;
  if (f) fclose(f);
  return k == 8 && !memcmp(h, "\x89PNG\r\n\x1a\n", 8);
}

static void test_pictures(void) {
  char dir[512];
  const char *env = getenv("QDM_TEST_DIR");
  if (env && *env) {
    mkdir(env, 0755);
    snprintf(dir, sizeof dir, "%s", env);
  } else {
    snprintf(dir, sizeof dir, "/tmp/qdm_test_metrics_XXXXXX");
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp"); return; }
  }
  char pb[600], ph[600];
  snprintf(pb, sizeof pb, "%s/bloch_test.png", dir);
  snprintf(ph, sizeof ph, "%s/hist_test.png", dir);
  double xyz[3 * 200], p[20], q[20];
  for (int i = 0; i < 200; i++) {
    double v[3] = {qdm_rng_normal(&rng), qdm_rng_normal(&rng), qdm_rng_normal(&rng)};
    double s = qdm_rng_uniform(&rng) / sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    for (int k = 0; k < 3; k++) xyz[3 * i + k] = s * v[k];
  }
  for (int b = 0; b < 20; b++) p[b] = q[b] = qdm_haar_fid_prob(16, b / 20.0, (b + 1) / 20.0);
  CHECK(qdm_plot_bloch(pb, xyz, 200, "test") == QDM_OK && is_png(pb), "Bloch PNG written: %s", qdm_errmsg());
  CHECK(qdm_plot_fidelity_hist(ph, p, q, 20, "test") == QDM_OK && is_png(ph), "histogram PNG written: %s", qdm_errmsg());
  CHECK(qdm_plot_bloch("/nonexistent-dir/x.png", xyz, 1, NULL) != QDM_OK, "unwritable path is an error");
  unlink(pb);
  unlink(ph);
  if (!(env && *env)) rmdir(dir);
}

int main(void) {
  qdm_rng_seed(&rng, 7);
  test_mw_states();
  test_kl();
  test_idle();
  test_haar();
  test_circuits();
  test_determinism();
  test_pictures();
  return check_done();
}
