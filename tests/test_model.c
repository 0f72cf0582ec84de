/* test_model.c -- the hybrid U-Net end to end: every parameter group's
 * gradient against central finite differences of the whole model's loss,
 * for each switchable part (ancilla block, ANO vs Pauli readout, skip,
 * classical bottleneck, conditioning), and the fused unitary path against
 * the gate-by-gate path. */
#include <string.h>
#include "check.h"
#include "qdm/model.h"

typedef struct {
  qdm_unet *m;
  qdm_cplx *x, *target, *out, *g;
  int *t, *lab, B;
} fixture;

static double loss_of(fixture *f) {
  double L;
  qdm_unet_forward(f->m, f->x, f->t, f->lab, f->B, f->out);
  qdm_infidelity_loss(&L, f->g, f->out, f->target, f->B, qdm_unet_config(f->m)->D);
  return L;
}

static void rand_unit(qdm_cplx *z, int B, int D, qdm_rng *r) {
  for (int b = 0; b < B; b++) qdm_rng_haar_state(r, z + (size_t)b * D, D);
}

static void fixture_init(fixture *f, const qdm_unet_cfg *cfg, int B, uint64_t seed) {
  qdm_rng r;
  qdm_rng_seed(&r, seed);
  f->B = B;
  f->m = qdm_unet_new(cfg, B, &r);
  CHECK(f->m != NULL, "model built: %s", qdm_errmsg());
  int D = cfg->D;
  f->x = malloc(B * D * sizeof *f->x);
  f->target = malloc(B * D * sizeof *f->target);
  f->out = malloc(B * D * sizeof *f->out);
  f->g = malloc(B * D * sizeof *f->g);
  f->t = malloc(B * sizeof(int));
  f->lab = malloc(B * sizeof(int));
  rand_unit(f->x, B, D, &r);
  rand_unit(f->target, B, D, &r);
  for (int b = 0; b < B; b++) {
    f->t[b] = 1 + b % cfg->T;
    f->lab[b] = (b / cfg->T) % cfg->classes;
  }
}

static void fixture_free(fixture *f) {
  qdm_unet_free(f->m);
  free(f->x); free(f->target); free(f->out); free(f->g); free(f->t); free(f->lab);
}

/* analytic gradients of every tensor vs central differences at a few entries */
static void check_gradients(const qdm_unet_cfg *cfg, const char *what) {
  fixture f;
  fixture_init(&f, cfg, 7, 99);
  if (!f.m) return;
  qdm_unet_zero_grad(f.m);
  loss_of(&f);
  qdm_unet_backward(f.m, f.g, NULL);
  qdm_rng r;
  qdm_rng_seed(&r, 5);
  for (int i = 0; i < qdm_unet_nparams(f.m); i++) {
    qdm_unet_param *p = qdm_unet_param_at(f.m, i);
    for (int k = 0; k < 4; k++) {
      size_t j = qdm_rng_u64(&r) % p->n;
      double save = p->p[j], h = 1e-6;
      p->p[j] = save + h;
      double Lp = loss_of(&f);
      p->p[j] = save - h;
      double Lm = loss_of(&f);
      p->p[j] = save;
      double fd = (Lp - Lm) / (2 * h);
      CHECK(fabs(p->g[j] - fd) <= 1e-6 + 1e-5 * fabs(fd), "%s: d loss / d %s[%zu] = %.10g, finite difference %.10g",
            what, p->name, j, p->g[j], fd);
    }
  }
  fixture_free(&f);
}

static qdm_unet_cfg small_cfg(void) {
  qdm_unet_cfg c;
  qdm_unet_cfg_authors(&c);
  c.D = 8;
  c.hidden = 6;
  c.layers = 1;
  c.K = 3;
  c.T = 2;
  c.classes = 2;
  c.leak = 0.2;
  return c;
}

static void test_fused_equals_gate_path(void) {
  qdm_unet_cfg c = small_cfg();
  fixture f;
  fixture_init(&f, &c, 9, 3);
  if (!f.m) return;
  size_t np = 0;
  for (int i = 0; i < qdm_unet_nparams(f.m); i++) np += qdm_unet_param_at(f.m, i)->n;
  double *ga = malloc(np * sizeof *ga);
  double L[2];
  for (int path = 0; path < 2; path++) {
    qdm_unet_set_gate_path(f.m, path);
    qdm_unet_zero_grad(f.m);
    L[path] = loss_of(&f);
    qdm_unet_backward(f.m, f.g, NULL);
    size_t o = 0;
    double md = 0;
    for (int i = 0; i < qdm_unet_nparams(f.m); i++) {
      qdm_unet_param *p = qdm_unet_param_at(f.m, i);
      for (size_t j = 0; j < p->n; j++, o++) {
        if (path == 0) ga[o] = p->g[j];
        else md = fmax(md, fabs(ga[o] - p->g[j]));
      }
    }
    if (path == 1) CHECK(md < 1e-10, "fused and gate-by-gate gradients agree (max diff %g)", md);
  }
  CHECK(fabs(L[0] - L[1]) < 1e-12, "fused and gate-by-gate losses agree: %.15f vs %.15f", L[0], L[1]);
  free(ga);
  fixture_free(&f);
}

/* The ancilla block without the ancilla: check it against an explicit
 * (n+1)-qubit simulation of controlled-U, H on the ancilla, projection. */
static void test_ancilla_identity(void) {
  int n = 3, d = 8;
  qdm_rng r;
  qdm_rng_seed(&r, 11);
  qdm_circuit *u = qdm_circuit_new(n), *big = qdm_circuit_new(n + 1);
  int P = qdm_ansatz_build(u, "hea", 2, 0, NULL);
  double th[64];
  for (int i = 0; i < P; i++) th[i] = 6.28 * qdm_rng_uniform(&r);
  qdm_add1(big, QDM_GH, n);
  qdm_append(big, u, 0, 1u << n);
  qdm_add1(big, QDM_GH, n);
  qdm_cplx psi[8], full[16], U[64], phi[8];
  qdm_rng_haar_state(&r, psi, d);
  memset(full, 0, sizeof full);
  memcpy(full, psi, sizeof psi); /* ancilla (qubit n) = 0 */
  qdm_run(big, th, NULL, 0, full, 1);
  qdm_unitary(u, th, U);
  qdm_apply_unitary(d, U, psi, phi, 1);
  double z = 0, p0 = 0, p1 = 0, md = 0;
  for (int i = 0; i < d; i++) {
    z += creal(conj(psi[i]) * phi[i]);
    md = fmax(md, cabs(full[i] - 0.5 * (psi[i] + phi[i])));
    p0 += creal(full[i] * conj(full[i]));
    p1 += creal(full[i + d] * conj(full[i + d]));
  }
  CHECK(md < 1e-12, "ancilla |0> branch = (I + U) psi / 2 (diff %g)", md);
  CHECK_NEAR(p0 - p1, z, 1e-12, "<Z_ancilla> = Re <psi|U|psi>");
  qdm_circuit_free(u);
  qdm_circuit_free(big);
}

int main(void) {
  qdm_unet_cfg c = small_cfg();
  check_gradients(&c, "authors form");
  c = small_cfg(); c.ancilla = 0; check_gradients(&c, "no ancilla block");
  c = small_cfg(); c.measure = QDM_MEASURE_PAULI; check_gradients(&c, "Pauli-Z readout");
  c = small_cfg(); c.skip = 0; check_gradients(&c, "no skip");
  c = small_cfg(); c.classical = 1; check_gradients(&c, "classical bottleneck");
  c = small_cfg(); c.conditional = 0; check_gradients(&c, "unconditional");
  c = small_cfg(); c.n = 3; strcpy(c.ansatz, "hea"); c.layers = 2; check_gradients(&c, "hea, 3 qubits");
  test_fused_equals_gate_path();
  test_ancilla_identity();
  return check_done();
}
