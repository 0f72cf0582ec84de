/* test_model.c -- the hybrid U-Net end to end: every parameter group's
 * gradient against central finite differences of the whole model's loss,
 * for each switchable part (ancilla block, ANO vs Pauli readout, skip,
 * classical bottleneck, conditioning), and the fused unitary path against
 * the gate-by-gate path, and the gradient w.r.t. the input x_t; the float
 * classical part against the double one. */
#include <malloc.h>
#include <string.h>
#include "model_fixture.h"

/* every tensor's gradient against central differences */
static void check_gradients(const qdm_unet_cfg *cfg, const char *what) {
  fixture f;
  fixture_init(&f, cfg, 7, 99);
  if (!f.m) return;
  check_fixture_gradients(&f, what);
  fixture_free(&f);
}

static qdm_unet_cfg small_cfg(void) {
  qdm_unet_cfg c = small_model_cfg();
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
  double z = 0, p0 = 0, p1 = 0, md = 0, ms = 0;
  for (int i = 0; i < d; i++) {
    z += creal(conj(psi[i]) * phi[i]);
    md = fmax(md, cabs(full[i] - 0.5 * (psi[i] + phi[i])));
    ms = fmax(ms, cabs(full[i] + full[i + d] - psi[i])); /* s0 + s1 */
    p0 += creal(full[i] * conj(full[i]));
    p1 += creal(full[i + d] * conj(full[i + d]));
  }
  CHECK(md < 1e-12, "ancilla |0> branch = (I + U) psi / 2 (diff %g)", md);
  CHECK(ms < 1e-12, "the authors' sum of both branches s0 + s1 = psi, the block's input (diff %g)", ms);
  CHECK_NEAR(p0 - p1, z, 1e-12, "<Z_ancilla> = Re <psi|U|psi>");
  qdm_circuit_free(u);
  qdm_circuit_free(big);
}

/* Block 2 in the model: with the authors' sum its angles change the
 * ancilla's <Z> feature and nothing else (the state passes through it);
 * with the projection they change every feature. */
static void test_block2_modes(void) {
  for (int mode = 0; mode < 2; mode++) {
    qdm_unet_cfg c = small_cfg();
    c.ancilla_mode = mode ? QDM_ANCILLA_SUM : QDM_ANCILLA_PROJECT;
    fixture f;
    fixture_init(&f, &c, 6, 21);
    if (!f.m) return;
    int F;
    double y0[6 * 8], y1[6 * 8];
    loss_of(&f);
    const double *feat = qdm_unet_features(f.m, &F);
    memcpy(y0, feat, (size_t)f.B * F * sizeof *y0);
    qdm_unet_param *th = NULL;
    for (int i = 0; i < qdm_unet_nparams(f.m); i++)
      if (!strcmp(qdm_unet_param_at(f.m, i)->name, "circuit.theta")) th = qdm_unet_param_at(f.m, i);
    int nb, P, G;
    qdm_unet_block_circuit(f.m, &nb, &P, &G);
    for (int g = 0; g < G; g++)
      for (int k = 0; k < P; k++) th->p[((size_t)g * nb + 1) * P + k] += 0.3; /* block 2 of every group */
    loss_of(&f);
    memcpy(y1, qdm_unet_features(f.m, &F), (size_t)f.B * F * sizeof *y1);
    double dmeas = 0, dz = 0;
    for (int r = 0; r < f.B; r++) {
      for (int k = 0; k < F - 1; k++) dmeas = fmax(dmeas, fabs(y0[r * F + k] - y1[r * F + k]));
      dz = fmax(dz, fabs(y0[r * F + F - 1] - y1[r * F + F - 1]));
    }
    if (mode)
      CHECK(dmeas == 0 && dz > 1e-3, "sum: block 2's angles move only <Z_anc> (other features %g, <Z> %g)", dmeas, dz);
    else CHECK(dmeas > 1e-3 && dz > 1e-3, "projection: they move every feature (%g, %g)", dmeas, dz);
    fixture_free(&f);
  }
  qdm_unet_cfg c;
  qdm_unet_cfg_authors(&c);
  CHECK(c.ancilla_mode == QDM_ANCILLA_SUM, "the authors' configuration keeps both branches");
  c.ancilla_mode = 7;
  CHECK(qdm_unet_cfg_check(&c) == QDM_EINVAL && strstr(qdm_errmsg(), "ancilla mode"), "a bad mode: %s", qdm_errmsg());
}

/* dL/dx_t (the model.h contract: through the encoder and the skip
 * connection) against central differences of Re and Im of single inputs */
static void check_dx(const qdm_unet_cfg *cfg, const char *what) {
  fixture f;
  fixture_init(&f, cfg, 5, 17);
  if (!f.m) return;
  int D = cfg->D;
  qdm_cplx *dx = malloc((size_t)f.B * D * sizeof *dx);
  qdm_unet_zero_grad(f.m);
  CHECK(isfinite(loss_of(&f)) && qdm_unet_backward(f.m, f.g, dx) == QDM_OK, "%s: backward with dx", what);
  double worst = 0;
  for (int k = 0; k < 12; k++) {
    size_t j = (size_t)(k * 7919) % ((size_t)f.B * D);
    for (int part = 0; part < 2; part++) {
      qdm_cplx save = f.x[j], h = part ? 1e-6 * I : 1e-6;
      f.x[j] = save + h;
      double Lp = loss_of(&f);
      f.x[j] = save - h;
      double Lm = loss_of(&f);
      f.x[j] = save;
      double fd = (Lp - Lm) / 2e-6, an = part ? cimag(dx[j]) : creal(dx[j]);
      double err = fabs(an - fd) / (1e-6 + fabs(fd));
      if (err > worst) worst = err;
      CHECK(fabs(an - fd) <= 1e-6 + 1e-5 * fabs(fd), "%s: dL/d%s x[%zu] = %.10g, finite difference %.10g", what,
            part ? "Im" : "Re", j, an, fd);
    }
  }
  CHECK(worst < 1e-3, "%s: dx agrees with finite differences (worst relative error %.2g)", what, worst);
  free(dx);
  fixture_free(&f);
}

/* qdm_unet_bytes against the allocator's own count of what qdm_unet_new
 * took (glibc's mallinfo2, heap and mmap'ed blocks; under ASan the allocator is another one, so
 * that build skips it). The ANO object is not counted: up to 2% more
 * (0.8% for the authors' model). */
static void check_bytes(const qdm_unet_cfg *cfg, int rows, const char *what) {
#if defined(__SANITIZE_ADDRESS__)
  (void)cfg; (void)rows; (void)what;
#else
  qdm_rng r;
  qdm_rng_seed(&r, 1);
  struct mallinfo2 a = mallinfo2();
  size_t want = qdm_unet_bytes(cfg, rows);
  qdm_unet *m = qdm_unet_new(cfg, rows, &r);
  struct mallinfo2 b = mallinfo2(); /* heap blocks, and mmap'ed ones (large) */
  size_t got = b.uordblks + b.hblkhd - a.uordblks - a.hblkhd;
  CHECK(m && want > 0 && got >= want && got - want <= 65536 + want / 50, "%s: qdm_unet_bytes %zu, allocated %zu", what,
        want, got);
  qdm_unet_free(m);
#endif
}

/* Model m against the fixture's model f.m on f's batch: the loss, the
 * output and every gradient tensor equal f.m's (which the finite
 * differences above check) to tolerance tol (max |g - g_ref| <= tol *
 * max |g_ref| per tensor). Returns the output's largest difference. */
static double compare_with_reference(qdm_unet *m, fixture *f, int B, double tol, const char *what) {
  int D = qdm_unet_config(m)->D;
  qdm_unet_zero_grad(f->m);
  double Lref = loss_of(f), L = NAN;
  qdm_unet_backward(f->m, f->g, NULL);
  qdm_cplx *out = malloc((size_t)B * D * sizeof *out), *g = malloc((size_t)B * D * sizeof *g);
  qdm_unet_zero_grad(m);
  CHECK(qdm_unet_forward(m, f->x, f->t, f->lab, B, out) == QDM_OK, "%s: forward", what);
  qdm_infidelity_loss(&L, g, out, f->target, B, D);
  CHECK(qdm_unet_backward(m, g, NULL) == QDM_OK, "%s: backward", what);
  CHECK(fabs(L - Lref) <= tol * fabs(Lref), "%s: loss %.9g, reference %.9g", what, L, Lref);
  double od = 0;
  for (int k = 0; k < B * D; k++) od = fmax(od, cabs(out[k] - f->out[k]));
  CHECK(od <= tol, "%s: output differs by %.3g", what, od);
  for (int i = 0; i < qdm_unet_nparams(m); i++) {
    qdm_unet_param *p = qdm_unet_param_at(m, i), *q = qdm_unet_param_at(f->m, i);
    double err = 0, scale = 0;
    for (size_t j = 0; j < p->n; j++) {
      double a = p->dtype == QDM_F32 ? p->gf[j] : p->g[j];
      err = fmax(err, fabs(a - q->g[j]));
      scale = fmax(scale, fabs(q->g[j]));
    }
    CHECK(scale > 0 && err <= tol * scale, "%s: d loss / d %s, max diff %.3g of %.3g", what, p->name, err, scale);
  }
  free(out);
  free(g);
  return od;
}

/* QDM_C64: the circuit blocks in complex64. From the same seed (the same
 * weights, checked) and batch, the complex128 model's numbers to float
 * tolerance; and not bitwise the same, so the complex64 path did run. */
static void check_c64_vs_c128(qdm_unet_cfg c, int B, double tol, const char *what) {
  fixture f;
  c.circuit_precision = QDM_C128;
  fixture_init(&f, &c, B, 21);
  c.circuit_precision = QDM_C64;
  qdm_rng r;
  qdm_rng_seed(&r, 21);
  qdm_unet *m = qdm_unet_new(&c, B, &r);
  CHECK(m != NULL, "%s: c64 model built: %s", what, qdm_errmsg());
  if (!f.m || !m) return;
  int same = 1;
  for (int i = 0; i < qdm_unet_nparams(m); i++) {
    qdm_unet_param *p = qdm_unet_param_at(m, i), *q = qdm_unet_param_at(f.m, i);
    same &= p->n == q->n && !memcmp(p->p, q->p, p->n * sizeof *p->p);
  }
  CHECK(same, "%s: the same seed gives the same weights", what);
  CHECK(compare_with_reference(m, &f, B, tol, what) > 0, "%s: the output is not c128's bits (c64 ran)", what);
  qdm_unet_free(m);
  fixture_free(&f);
}

/* QDM_F32: the classical part in float, the circuits in double. On the
 * same weights (the f64 model's rounded to float, and those rounded values
 * put back into the f64 model) and the same batch, the f64 model's
 * numbers to float tolerance. */
static void check_f32_vs_f64(qdm_unet_cfg c, int B, double tol, const char *what) {
  fixture f;
  c.precision = QDM_F64;
  fixture_init(&f, &c, B, 21);
  c.precision = QDM_F32;
  qdm_rng r;
  qdm_rng_seed(&r, 21);
  qdm_unet *m = qdm_unet_new(&c, B, &r);
  CHECK(m != NULL, "%s: f32 model built: %s", what, qdm_errmsg());
  if (!f.m || !m) return;
  int typed = 1, rounded = 1;
  for (int i = 0; i < qdm_unet_nparams(m); i++) {
    qdm_unet_param *p = qdm_unet_param_at(m, i), *q = qdm_unet_param_at(f.m, i);
    int want = p->group == QDM_PG_CLASSICAL ? QDM_F32 : QDM_F64;
    typed &= (int)p->dtype == want && (want == QDM_F32 ? p->pf && p->gf && !p->p : p->p && p->g && !p->pf);
    for (size_t j = 0; j < p->n; j++) {
      if (p->dtype == QDM_F32) {
        rounded &= p->pf[j] == (float)q->p[j];
        q->p[j] = p->pf[j] = (float)q->p[j];
      } else {
        rounded &= p->p[j] == q->p[j];
        p->p[j] = q->p[j];
      }
    }
  }
  CHECK(typed, "%s: classical tensors are float, circuit tensors double", what);
  CHECK(rounded, "%s: the same seed gives the f64 model's weights, rounded to float", what);
  size_t nf;
  CHECK(qdm_unet_params_f32(m, &nf) && nf > 0 && qdm_unet_params_f32(f.m, NULL) == NULL, "%s: a float buffer in f32 only", what);
  compare_with_reference(m, &f, B, tol, what);
  qdm_unet_free(m);
  fixture_free(&f);
}

/* On exactly two threads, above 2^20 multiply-adds, the backward runs
 * enc1's and dec1's weight gradients side by side and each Linear's dx
 * and dW side by side (first_layers_backward, qdm_linear_backward), one
 * per thread: the gradients equal the one-thread path's, which the finite
 * differences above check, to rounding (tol relative to each buffer's
 * largest entry). */
static void grads_copy(qdm_unet *m, double **g, float **gf, size_t *n, size_t *nf) {
  const double *a = qdm_unet_grads(m, n);
  const float *b = qdm_unet_grads_f32(m, nf);
  *g = malloc(*n * sizeof **g);
  *gf = malloc((*nf ? *nf : 1) * sizeof **gf);
  memcpy(*g, a, *n * sizeof **g);
  if (*nf) memcpy(*gf, b, *nf * sizeof **gf);
}
static double max_rel(const double *a, const double *b, const float *af, const float *bf, size_t n, size_t nf) {
  double err = 0, scale = 0, errf = 0, scalef = 0;
  for (size_t i = 0; i < n; i++) err = fmax(err, fabs(a[i] - b[i])), scale = fmax(scale, fabs(b[i]));
  for (size_t i = 0; i < nf; i++) errf = fmax(errf, fabs(af[i] - bf[i])), scalef = fmax(scalef, fabs(bf[i]));
  return fmax(scale > 0 ? err / scale : 1, nf ? (scalef > 0 ? errf / scalef : 1) : 0);
}
static void check_two_threads(qdm_unet_cfg c, int B, double tol, const char *what) {
  fixture f;
  fixture_init(&f, &c, B, 21);
  if (!f.m) return;
  int in[4], out[4];
  qdm_unet_linear_shapes(f.m, in, out, NULL, 4); /* enc1 enc2 dec1 dec2: dec1's is the smaller pair */
  CHECK((double)B * in[2] * out[2] >= 1048576.0, "%s: large enough for the paired GEMMs", what);
  double *g1, *g2;
  float *gf1, *gf2;
  size_t n, nf;
  qdm_set_threads(1);
  qdm_unet_zero_grad(f.m);
  double L1 = loss_of(&f);
  CHECK(qdm_unet_backward(f.m, f.g, NULL) == QDM_OK, "%s: backward on 1 thread", what);
  grads_copy(f.m, &g1, &gf1, &n, &nf);
  qdm_set_threads(2);
  qdm_unet_zero_grad(f.m);
  double L2 = loss_of(&f);
  CHECK(qdm_unet_backward(f.m, f.g, NULL) == QDM_OK, "%s: backward on 2 threads", what);
  grads_copy(f.m, &g2, &gf2, &n, &nf);
  qdm_set_threads(0);
  double e = max_rel(g2, g1, gf2, gf1, n, nf);
  CHECK(fabs(L1 - L2) <= tol * fabs(L1) && e <= tol, "%s: 2 threads vs 1: loss %.9g / %.9g, gradients max rel diff %.3g",
        what, L2, L1, e);
  free(g1), free(g2), free(gf1), free(gf2);
  fixture_free(&f);
}

/* t_groups: rows whose steps fall in one stratum (qdm_t_stratum) share a
 * circuit, so the same input gives the same bottleneck features there, and
 * other features in another stratum. */
static void test_t_groups(void) {
  qdm_unet_cfg c = small_cfg();
  c.T = 6;
  c.t_groups = 3; /* strata {1,2}, {3,4}, {5,6} */
  qdm_rng r;
  qdm_rng_seed(&r, 4);
  qdm_unet *m = qdm_unet_new(&c, 4, &r);
  CHECK(m != NULL, "t_groups model: %s", qdm_errmsg());
  if (!m) return;
  size_t nc;
  qdm_unet_counts(m, &nc, NULL, NULL);
  int P = qdm_unet_block_params(&c);
  CHECK(nc == (size_t)3 * c.classes * 3 * P, "circuit table of 3 strata x %d classes x 3 blocks x %d angles (%zu)",
        c.classes, P, nc);
  int D = c.D, F;
  qdm_cplx *x = malloc(4 * D * sizeof *x), *out = malloc(4 * D * sizeof *out);
  qdm_rng_haar_state(&r, x, D);
  for (int k = 1; k < 4; k++) memcpy(x + k * D, x, D * sizeof *x);
  int t[4] = {1, 2, 3, 6}, lab[4] = {1, 1, 1, 1};
  CHECK(qdm_unet_forward(m, x, t, lab, 4, out) == QDM_OK, "forward: %s", qdm_errmsg());
  const double *f = qdm_unet_features(m, &F);
  CHECK(!memcmp(f, f + F, F * sizeof *f), "t = 1 and 2 share a circuit");
  CHECK(memcmp(f, f + 2 * F, F * sizeof *f) != 0 && memcmp(f + 2 * F, f + 3 * F, F * sizeof *f) != 0,
        "t = 3 and 6 have circuits of their own");
  c.t_groups = 7;
  CHECK(qdm_unet_new(&c, 4, &r) == NULL && strstr(qdm_errmsg(), "t_groups"), "t_groups > T refused: %s", qdm_errmsg());
  free(x);
  free(out);
  qdm_unet_free(m);
}


/* ---------------- encodings and ANO layouts (report sections 3 and 5) ---------------- */

/* The encoder's E values for row r, computed here from its tensors
 * (Linear -> ReLU -> Linear -> LayerNorm, the [Re, Im] block layout of
 * nn.h): an implementation independent of unet.c's. */
static void encoder_values(qdm_unet *m, const qdm_cplx *x, double *v) {
  const qdm_unet_cfg *c = qdm_unet_config(m);
  int H = c->hidden, D = c->D, E = qdm_unet_enc_width(c);
  const double *W1 = qdm_unet_param_at(m, 0)->p, *b1 = qdm_unet_param_at(m, 1)->p;
  const double *W2 = qdm_unet_param_at(m, 2)->p, *b2 = qdm_unet_param_at(m, 3)->p;
  const double *g = qdm_unet_param_at(m, 4)->p, *be = qdm_unet_param_at(m, 5)->p;
  double h[64], z[64], mu = 0, var = 0;
  for (int j = 0; j < H; j++) {
    double s = b1[j];
    for (int i = 0; i < D; i++) s += W1[j * 2 * D + i] * creal(x[i]) + W1[j * 2 * D + D + i] * cimag(x[i]);
    h[j] = s > 0 ? s : 0;
  }
  for (int k = 0; k < E; k++) {
    z[k] = b2[k];
    for (int j = 0; j < H; j++) z[k] += W2[k * H + j] * h[j];
    mu += z[k] / E;
  }
  for (int k = 0; k < E; k++) var += (z[k] - mu) * (z[k] - mu) / E;
  for (int k = 0; k < E; k++) v[k] = (z[k] - mu) / sqrt(var + QDM_LN_EPS) * g[k] + be[k];
}

/* The state each encoding makes of values v on n qubits, in closed form:
 * the unit vector (eq. 15), or a product of one-qubit states a_q (report
 * eqs. 13, 16, 17, 19). */
static void product_state(int enc, const double *v, int n, qdm_cplx *psi) {
  if (enc == QDM_ENC_AMPLITUDE) { /* not a product: v / ||v|| (eq. 15) */
    double s = 0;
    for (int i = 0; i < 1 << n; i++) s += v[i] * v[i];
    for (int i = 0; i < 1 << n; i++) psi[i] = v[i] / sqrt(s);
    return;
  }
  qdm_cplx a[16][2];
  for (int q = 0; q < n; q++) {
    double x = v[q];
    if (enc == QDM_ENC_ANGLE) a[q][0] = cos(x / 2), a[q][1] = sin(x / 2);
    else if (enc == QDM_ENC_PHASE) a[q][0] = M_SQRT1_2, a[q][1] = M_SQRT1_2 * cexp(I * x);
    else if (enc == QDM_ENC_DENSE) a[q][0] = cos(v[2 * q]), a[q][1] = cexp(I * v[2 * q + 1]) * sin(v[2 * q]);
    else a[q][0] = x > 0 ? 0 : 1, a[q][1] = x > 0 ? 1 : 0;
  }
  for (int i = 0; i < 1 << n; i++) {
    psi[i] = 1;
    for (int q = 0; q < n; q++) psi[i] *= a[q][i >> q & 1];
  }
}

/* psi0 of every row (the state entering block 1) against the closed form */
static void check_encoding_state(int enc, const char *what) {
  qdm_unet_cfg c = small_cfg();
  c.encoding = enc;
  fixture f;
  fixture_init(&f, &c, 6, 31);
  if (!f.m) return;
  CHECK(qdm_unet_param_at(f.m, 2)->shape[0] == qdm_unet_enc_width(&c) &&
            qdm_unet_enc_width(&c) == (enc == QDM_ENC_AMPLITUDE ? 16 : enc == QDM_ENC_DENSE ? 8 : 4),
        "%s: enc2 is as wide as the encoding (%d)", what, qdm_unet_enc_width(&c));
  loss_of(&f);
  int nb, P, G, d = 1 << c.n, nbits = 0, nrows = 0;
  qdm_unet_block_circuit(f.m, &nb, &P, &G);
  double worst = 0, v[16];
  qdm_cplx want[16];
  for (int g = 0; g < G; g++) {
    const qdm_cplx *psi;
    int rows;
    qdm_unet_block_inputs(f.m, g, 0, &psi, &rows);
    for (int k = 0; k < rows; k++, nrows++) {
      int b = -1; /* the batch row: rows of a group keep their order, labels and t fix the group */
      for (int r = 0, seen = 0; r < f.B && b < 0; r++)
        if ((f.t[r] - 1) * c.classes + f.lab[r] == g && seen++ == k) b = r;
      encoder_values(f.m, f.x + (size_t)b * c.D, v);
      for (int q = 0; q < c.n; q++) nbits += v[q] > 0;
      product_state(enc, v, c.n, want);
      for (int i = 0; i < d; i++) worst = fmax(worst, cabs(psi[(size_t)k * d + i] - want[i]));
    }
  }
  CHECK(nrows == f.B && worst < 1e-9, "%s: psi0 of %d rows is the closed-form state (max diff %.2g)", what, nrows, worst);
  if (enc == QDM_ENC_BASIS) CHECK(nbits > 0 && nbits < f.B * c.n, "basis: both bit values occur (%d ones)", nbits);
  fixture_free(&f);
}

/* Basis: the downstream tensors' gradients are exact (finite differences);
 * the encoder's are the straight-through surrogate, non-zero where the
 * finite difference of a threshold is zero. */
static void check_basis_gradients(void) {
  qdm_unet_cfg c = small_cfg();
  c.encoding = QDM_ENC_BASIS;
  fixture f;
  fixture_init(&f, &c, 7, 99);
  if (!f.m) return;
  qdm_unet_zero_grad(f.m);
  CHECK(isfinite(loss_of(&f)) && qdm_unet_backward(f.m, f.g, NULL) == QDM_OK, "basis: forward and backward");
  double L0 = loss_of(&f), gmax = 0, fdmax = 0;
  for (int i = 0; i < qdm_unet_nparams(f.m); i++) {
    qdm_unet_param *p = qdm_unet_param_at(f.m, i);
    int enc = !strncmp(p->name, "enc", 3);
    for (size_t j = 0; j < p->n; j += 1 + p->n / 5) {
      double save = p->p[j];
      p->p[j] = save + 1e-6;
      double Lp = loss_of(&f);
      p->p[j] = save - 1e-6;
      double Lm = loss_of(&f);
      p->p[j] = save;
      double fd = (Lp - Lm) / 2e-6;
      if (enc) {
        gmax = fmax(gmax, fabs(p->g[j]));
        fdmax = fmax(fdmax, fabs(fd));
      } else {
        CHECK(fabs(p->g[j] - fd) <= 1e-6 + 1e-5 * fabs(fd), "basis: d loss / d %s[%zu] = %.10g, finite difference %.10g",
              p->name, j, p->g[j], fd);
      }
    }
  }
  CHECK(fdmax == 0 && gmax > 0, "basis: encoder gradients straight-through (max %.3g) where the threshold's "
        "finite differences are %g", gmax, fdmax);
  CHECK(loss_of(&f) == L0, "basis: the loss is reproducible");
  fixture_free(&f);
}

/* A local layout's features: y_j = <psi3| H_j (x) identity |psi3> with H_j
 * embedded on its sites by explicit index arithmetic, psi3 = U3 (input of
 * block 3) run here by the engine; and the ANO parameter count K sets 2 4^k. */
static void check_ano_layout(int layout, int k, int sets, const char *what) {
  qdm_unet_cfg c = small_cfg();
  c.ano_layout = layout;
  c.ano_k = k;
  fixture f;
  fixture_init(&f, &c, 5, 8);
  if (!f.m) return;
  int n = c.n, d = 1 << n, dk = 1 << k, K = c.K * sets, F;
  size_t na;
  qdm_unet_counts(f.m, NULL, &na, NULL);
  CHECK(qdm_unet_ano_sets(&c) == sets && na == (size_t)K * 2 * dk * dk, "%s: %d sets, %zu ANO parameters (%d x 2 x 4^%d)",
        what, qdm_unet_ano_sets(&c), na, K, k);
  loss_of(&f);
  const double *feat = qdm_unet_features(f.m, &F);
  CHECK(F == K + 1, "%s: %d features (%d observables + <Z_anc>)", what, F, K);
  int nb, P, G;
  const qdm_circuit *u = qdm_unet_block_circuit(f.m, &nb, &P, &G);
  const double *theta = qdm_unet_param_at(f.m, 6)->p;
  const qdm_cplx *M = (const qdm_cplx *)qdm_unet_param_at(f.m, 7)->p;
  /* the site sets as the layout defines them (circuits.h) */
  int site[64][8], ns = 0;
  if (layout == QDM_ANO_SLIDING)
    for (int w = 0; w + k <= n; w++, ns++)
      for (int i = 0; i < k; i++) site[ns][i] = w + i;
  else
    for (int mask = 0; mask < 1 << n; mask++) {
      if (__builtin_popcount(mask) != k) continue;
      for (int q = 0, i = 0; q < n; q++)
        if (mask >> q & 1) site[ns][i++] = q;
      ns++;
    }
  /* subsets in lexicographic order of their sorted qubit lists */
  for (int a = 0; a < ns; a++)
    for (int b = a + 1; b < ns; b++) {
      int i = 0;
      while (i < k && site[a][i] == site[b][i]) i++;
      if (i < k && site[b][i] < site[a][i])
        for (int j = 0; j < k; j++) {
          int t = site[a][j];
          site[a][j] = site[b][j];
          site[b][j] = t;
        }
    }
  double worst = 0;
  qdm_cplx psi[64];
  for (int g = 0; g < G; g++) {
    const qdm_cplx *in;
    int rows;
    qdm_unet_block_inputs(f.m, g, nb - 1, &in, &rows);
    for (int r = 0; r < rows; r++) {
      int b = -1;
      for (int q = 0, seen = 0; q < f.B && b < 0; q++)
        if ((f.t[q] - 1) * c.classes + f.lab[q] == g && seen++ == r) b = q;
      memcpy(psi, in + (size_t)r * d, d * sizeof *psi);
      qdm_run(u, theta + ((size_t)g * nb + nb - 1) * P, NULL, 0, psi, 1);
      for (int j = 0; j < K; j++) {
        const int *st = site[j / c.K];
        const qdm_cplx *Mj = M + (size_t)j * dk * dk;
        qdm_cplx y = 0;
        for (int a = 0; a < d; a++)
          for (int e = 0; e < d; e++) {
            int la = 0, le = 0, rest = 1;
            for (int i = 0; i < k; i++) {
              la |= (a >> st[i] & 1) << i;
              le |= (e >> st[i] & 1) << i;
            }
            for (int q = 0; q < n; q++) {
              int on = 0;
              for (int i = 0; i < k; i++) on |= st[i] == q;
              if (!on && (a >> q & 1) != (e >> q & 1)) rest = 0;
            }
            if (rest) y += conj(psi[a]) * 0.5 * (Mj[la * dk + le] + conj(Mj[le * dk + la])) * psi[e];
          }
        worst = fmax(worst, fabs(creal(y) - feat[(size_t)b * F + j]));
      }
    }
  }
  CHECK(worst < 1e-10, "%s: features are <psi|H_j (x) I|psi> on their sites (max diff %.2g)", what, worst);
  fixture_free(&f);
  check_gradients(&c, what);
}

static void test_encodings_and_layouts(void) {
  static const char *names[] = {"amplitude", "angle", "phase", "dense", "basis"};
  for (int e = QDM_ENC_AMPLITUDE; e <= QDM_ENC_BASIS; e++) {
    char what[64];
    snprintf(what, sizeof what, "encoding %s", names[e]);
    check_encoding_state(e, what);
    qdm_unet_cfg c = small_cfg();
    c.encoding = e;
    if (e != QDM_ENC_BASIS) {
      check_gradients(&c, what);
      check_dx(&c, what);
      c.ancilla = 0;
      c.measure = QDM_MEASURE_PAULI;
      check_gradients(&c, "encoding, Pauli-Z readout, no ancilla");
    }
  }
  check_basis_gradients();
  qdm_unet_cfg c = small_cfg();
  c.encoding = QDM_ENC_ANGLE;
  c.classical = 1;
  CHECK(qdm_unet_cfg_check(&c) == QDM_EINVAL && strstr(qdm_errmsg(), "classical"), "angle + classical refused: %s",
        qdm_errmsg());
  c = small_cfg();
  c.encoding = 9;
  CHECK(qdm_unet_cfg_check(&c) == QDM_EINVAL && strstr(qdm_errmsg(), "encoding"), "bad encoding: %s", qdm_errmsg());
  check_ano_layout(QDM_ANO_SLIDING, 2, 3, "ano sliding:2");
  check_ano_layout(QDM_ANO_SUBSETS, 2, 6, "ano subsets:2");
  check_ano_layout(QDM_ANO_SLIDING, 3, 2, "ano sliding:3");
  c = small_cfg();
  c.ano_layout = QDM_ANO_SLIDING;
  c.ano_k = 5;
  CHECK(qdm_unet_cfg_check(&c) == QDM_EINVAL && strstr(qdm_errmsg(), "locality"), "k > n refused: %s", qdm_errmsg());
  c.ano_k = 2;
  c.shots = 100;
  CHECK(qdm_unet_cfg_check(&c) == QDM_EINVAL && strstr(qdm_errmsg(), "shots"), "local + shots refused: %s", qdm_errmsg());
}

int main(void) {
  qdm_unet_cfg c = small_cfg();
  check_bytes(&c, 7, "small model, 7 rows");
  qdm_unet_cfg_authors(&c);
  check_bytes(&c, 640, "authors' model, 640 rows");
  c.classical = 1;
  check_bytes(&c, 64, "classical bottleneck, 64 rows");
  qdm_unet_cfg_authors(&c);
  c.precision = QDM_F32;
  check_bytes(&c, 640, "authors' model in f32, 640 rows");
  c.circuit_precision = QDM_C64;
  check_bytes(&c, 640, "authors' model in f32 with c64 circuits, 640 rows");
  c.circuit_precision = QDM_C128;
  size_t b64, b32 = qdm_unet_bytes(&c, 640);
  c.precision = QDM_F64;
  b64 = qdm_unet_bytes(&c, 640);
  CHECK(b64 - b32 >= 2 * 804912 * 4, "f32 saves 4 bytes per classical parameter and gradient (%zu vs %zu)", b32, b64);
  c = small_cfg();
  CHECK(qdm_unet_bytes(&c, 0) == 0, "no rows: 0");
  c.T = 0;
  CHECK(qdm_unet_bytes(&c, 1) == 0, "invalid cfg: 0");
  c = small_cfg();
  check_gradients(&c, "authors form (block 2: both branches)");
  c = small_cfg(); c.ancilla_mode = QDM_ANCILLA_PROJECT; check_gradients(&c, "block 2: the ancilla's |0> branch");
  c = small_cfg(); c.ancilla = 0; check_gradients(&c, "no ancilla block");
  c = small_cfg(); c.measure = QDM_MEASURE_PAULI; check_gradients(&c, "Pauli-Z readout");
  c = small_cfg(); c.skip = 0; check_gradients(&c, "no skip");
  c = small_cfg(); c.classical = 1; check_gradients(&c, "classical bottleneck");
  c = small_cfg(); c.conditional = 0; check_gradients(&c, "unconditional");
  c = small_cfg(); c.n = 3; strcpy(c.ansatz, "hea"); c.layers = 2; check_gradients(&c, "hea, 3 qubits");
  c = small_cfg(); c.T = 4; c.t_groups = 2; check_gradients(&c, "t_groups 2 of 4 steps");
  test_encodings_and_layouts();
  test_t_groups();
  test_fused_equals_gate_path();
  test_ancilla_identity();
  test_block2_modes();
  c = small_cfg(); check_dx(&c, "dx with skip");
  c = small_cfg(); c.ancilla_mode = QDM_ANCILLA_PROJECT; check_dx(&c, "dx, projection");
  c = small_cfg(); c.skip = 0; check_dx(&c, "dx without skip");
  c = small_cfg(); c.classical = 1; check_dx(&c, "dx, classical bottleneck");
  check_f32_vs_f64(small_cfg(), 7, 1e-5, "f32, authors form");
  c = small_cfg(); c.classical = 1; check_f32_vs_f64(c, 7, 1e-5, "f32, classical bottleneck");
  c = small_cfg(); c.skip = 0; check_f32_vs_f64(c, 7, 1e-5, "f32, no skip");
  c = small_cfg(); c.encoding = QDM_ENC_DENSE; c.ano_layout = QDM_ANO_SUBSETS; c.ano_k = 2;
  check_f32_vs_f64(c, 7, 1e-5, "f32, dense encoding, 2-local ANO");
  c = small_cfg(); c.D = 64; c.hidden = 96; c.layers = 3; c.K = 8; c.T = 4; c.classes = 3;
  check_f32_vs_f64(c, 40, 1e-5, "f32, 64 pixels, 96 hidden");
  qdm_unet_cfg_authors(&c); c.hidden = 64; check_two_threads(c, 40, 1e-12, "f64, 256 pixels, 64 hidden");
  c.precision = QDM_F32; check_two_threads(c, 40, 1e-5, "f32, 256 pixels, 64 hidden");
  check_c64_vs_c128(small_cfg(), 7, 1e-5, "c64, authors form");
  c = small_cfg(); c.ancilla_mode = QDM_ANCILLA_PROJECT; check_c64_vs_c128(c, 7, 1e-5, "c64, projection");
  return check_done();
}
