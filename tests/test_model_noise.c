/* test_model_noise.c -- the image model's hardware-realism paths:
 * noisy density-matrix blocks (gradients against central finite
 * differences; P = 0 equals the exact state-vector path; P = 1 gives the
 * maximally mixed state, so y_k = tr(H_k) / d), and shot estimates
 * (deterministic given the seed, independent of the batch a row sits in,
 * converging to the exact values at the 1/N rate, within the Popoviciu
 * bound on each observable's spread), plus the settings' round trip through
 * a checkpoint and the refused combinations. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include "model_fixture.h"
#include "qdm/density.h"
#include "model/run.h"

static qdm_unet_cfg small_cfg(const char *noise, int measure) {
  qdm_unet_cfg c = small_model_cfg();
  c.ancilla = 0;
  c.measure = measure;
  snprintf(c.noise, sizeof c.noise, "%s", noise);
  return c;
}

static size_t total_params(qdm_unet *m) {
  size_t n = 0;
  for (int i = 0; i < qdm_unet_nparams(m); i++) n += qdm_unet_param_at(m, i)->n;
  return n;
}

static void grads_of(fixture *f, double *L, double *g) {
  qdm_unet_zero_grad(f->m);
  *L = loss_of(f);
  qdm_unet_backward(f->m, f->g, NULL);
  size_t o = 0;
  for (int i = 0; i < qdm_unet_nparams(f->m); i++) {
    qdm_unet_param *p = qdm_unet_param_at(f->m, i);
    memcpy(g + o, p->g, p->n * sizeof *g);
    o += p->n;
  }
}

/* Every tensor's gradient through the noisy blocks vs central differences. */
static void test_noisy_gradients(const char *noise, int measure) {
  qdm_unet_cfg c = small_cfg(noise, measure);
  fixture f;
  fixture_init(&f, &c, 7, 99);
  if (!f.m) return;
  char what[96];
  snprintf(what, sizeof what, "%s %s", noise, measure ? "pauli" : "ano");
  check_fixture_gradients(&f, what);
  fixture_free(&f);
}

/* A channel of strength 0 is the identity: the density-matrix path must give
 * the exact path's loss and gradients (an independent implementation). */
static void test_zero_noise_is_exact(const char *noise, int measure) {
  qdm_unet_cfg ce = small_cfg("", measure), cn = small_cfg(noise, measure);
  fixture a, b;
  fixture_init(&a, &ce, 9, 7);
  fixture_init(&b, &cn, 9, 7);
  if (!a.m || !b.m) return;
  size_t np = total_params(a.m);
  double *ga = malloc(np * sizeof *ga), *gb = malloc(np * sizeof *gb), La, Lb, md = 0;
  grads_of(&a, &La, ga);
  grads_of(&b, &Lb, gb);
  for (size_t i = 0; i < np; i++) md = fmax(md, fabs(ga[i] - gb[i]));
  CHECK(fabs(La - Lb) < 1e-12, "%s: loss %.15f equals the exact path's %.15f", noise, Lb, La);
  CHECK(md < 1e-10, "%s: gradients equal the exact path's (max diff %g)", noise, md);
  free(ga); free(gb);
  fixture_free(&a);
  fixture_free(&b);
}

/* Full depolarisation after every gate leaves I/d (the last layer touches
 * every qubit), so y_k = tr(H_k)/d = Re tr(M_k)/d and <Z_q> = 0. */
static void test_full_depolarizing(int measure) {
  qdm_unet_cfg c = small_cfg("depolarizing:1", measure);
  fixture f;
  fixture_init(&f, &c, 5, 3);
  if (!f.m) return;
  loss_of(&f);
  int F;
  const double *y = qdm_unet_features(f.m, &F);
  int d = 1 << c.n;
  const qdm_cplx *M = NULL;
  for (int i = 0; i < qdm_unet_nparams(f.m); i++)
    if (!strcmp(qdm_unet_param_at(f.m, i)->name, "ano.M")) M = (const qdm_cplx *)qdm_unet_param_at(f.m, i)->p;
  CHECK(F == (measure ? c.n : c.K), "feature count %d", F);
  double md = 0;
  for (int r = 0; r < f.B; r++)
    for (int k = 0; k < F; k++) {
      double want = 0;
      if (M)
        for (int i = 0; i < d; i++) want += creal(M[(size_t)k * d * d + (size_t)i * (d + 1)]) / d;
      md = fmax(md, fabs(y[(size_t)r * F + k] - want));
    }
  CHECK(md < 1e-12, "depolarizing:1 gives the maximally mixed state's features (max diff %g)", md);
  fixture_free(&f);
}

/* Features of a model with `shots` and of the exact model, same seed. */
static void features_pair(qdm_unet_cfg c, long shots, int B, double *ys, double *ye, int *F, qdm_unet_cfg *used) {
  fixture a, b;
  c.shots = 0;
  fixture_init(&a, &c, B, 21);
  c.shots = shots;
  fixture_init(&b, &c, B, 21);
  *used = c;
  if (!a.m || !b.m) return;
  loss_of(&a);
  loss_of(&b);
  const double *fa = qdm_unet_features(a.m, F), *fb = qdm_unet_features(b.m, F);
  memcpy(ye, fa, (size_t)B * *F * sizeof *ye);
  memcpy(ys, fb, (size_t)B * *F * sizeof *ys);
  /* shots do not move the parameters' initial values */
  size_t np = total_params(a.m), same = 1, o = 0;
  for (int i = 0; i < qdm_unet_nparams(a.m); i++) {
    qdm_unet_param *p = qdm_unet_param_at(a.m, i), *q = qdm_unet_param_at(b.m, i);
    same &= !memcmp(p->p, q->p, p->n * sizeof(double));
    o += p->n;
  }
  CHECK(same && o == np, "a model with shots starts from the exact model's parameters");
  fixture_free(&a);
  fixture_free(&b);
}

/* Spread bound of each feature: Var <= (w_max - w_min)^2 / 4 (Popoviciu),
 * from the observables' eigenvalues (Pauli-Z and the ancilla: range 2). */
static void feature_ranges(const qdm_unet_cfg *c, double *range) {
  qdm_rng r;
  qdm_rng_seed(&r, 21);
  qdm_unet *m = qdm_unet_new(c, 1, &r);
  int F = c->measure == QDM_MEASURE_ANO ? c->K : c->n, d = 1 << c->n;
  for (int k = 0; k < F + 1; k++) range[k] = 2;
  if (!m || c->measure != QDM_MEASURE_ANO) {
    qdm_unet_free(m);
    return;
  }
  const qdm_cplx *M = NULL;
  for (int i = 0; i < qdm_unet_nparams(m); i++)
    if (!strcmp(qdm_unet_param_at(m, i)->name, "ano.M")) M = (const qdm_cplx *)qdm_unet_param_at(m, i)->p;
  qdm_cplx *H = malloc((size_t)d * d * sizeof *H);
  for (int k = 0; k < F && M; k++) {
    const qdm_cplx *Mk = M + (size_t)k * d * d;
    for (int i = 0; i < d; i++)
      for (int j = 0; j < d; j++) H[i * d + j] = 0.5 * (Mk[i * d + j] + conj(Mk[j * d + i]));
    qdm_herm_eig e;
    if (qdm_herm_eig_init(&e, H, d) == QDM_OK) {
      range[k] = e.w[d - 1] - e.w[0];
      qdm_herm_eig_free(&e);
    }
  }
  free(H);
  qdm_unet_free(m);
}

/* Shot estimates: within 6 standard deviations of the exact values, and
 * the mean squared error falls as 1/N (ratio 100 between N = 100 and 10^4). */
static void test_shots_converge(const char *noise, int measure, int ancilla) {
  qdm_unet_cfg c = small_cfg(noise, measure), used;
  c.ancilla = ancilla;
  int B = 40, F = 0;
  double *ys = malloc((size_t)B * 8 * sizeof *ys), *ye = malloc((size_t)B * 8 * sizeof *ye), range[8];
  double mse[2];
  long Ns[2] = {100, 10000};
  for (int s = 0; s < 2; s++) {
    features_pair(c, Ns[s], B, ys, ye, &F, &used);
    feature_ranges(&used, range);
    double sum = 0, worst = 0;
    for (int r = 0; r < B; r++)
      for (int k = 0; k < F; k++) {
        double e = ys[(size_t)r * F + k] - ye[(size_t)r * F + k], sd = 0.5 * range[k] / sqrt((double)Ns[s]);
        sum += e * e;
        worst = fmax(worst, fabs(e) / sd);
      }
    mse[s] = sum / (B * F);
    CHECK(worst < 6, "%s %s%s N = %ld: shot estimates within 6 sd of the exact values (worst %.2f sd)", noise,
          measure ? "pauli" : "ano", ancilla ? " +ancilla" : "", Ns[s], worst);
    CHECK(mse[s] > 0, "N = %ld: the estimates do differ from the exact values", Ns[s]);
  }
  double ratio = mse[0] / mse[1];
  CHECK(ratio > 50 && ratio < 200, "%s %s: mean squared error falls as 1/N: MSE(100)/MSE(10^4) = %.1f, expected ~100",
        noise, measure ? "pauli" : "ano", ratio);
  free(ys);
  free(ye);
}

/* Same seed, same numbers; another seed, other numbers; a row's shots do
 * not depend on the batch it is in. */
static void test_shots_deterministic(void) {
  qdm_unet_cfg c = small_cfg("", QDM_MEASURE_ANO);
  c.ancilla = 1;
  c.shots = 50;
  fixture a, b;
  fixture_init(&a, &c, 8, 4);
  fixture_init(&b, &c, 8, 4);
  if (!a.m || !b.m) return;
  int F;
  double La = loss_of(&a), Lb = loss_of(&b);
  CHECK(La == Lb, "same seed, same shots: %.17g vs %.17g", La, Lb);
  double *y0 = malloc(8 * 8 * sizeof *y0);
  const double *ya = qdm_unet_features(a.m, &F);
  memcpy(y0, ya, (size_t)8 * F * sizeof *y0);
  CHECK(loss_of(&a) == La, "the same inputs again draw the same shots");
  /* rows 3..5 alone */
  qdm_unet_forward(a.m, a.x + 3 * c.D, a.t + 3, a.lab + 3, 3, a.out);
  CHECK(!memcmp(qdm_unet_features(a.m, NULL), y0 + 3 * F, (size_t)3 * F * sizeof *y0),
        "a row's shots do not depend on the other rows of its batch");
  qdm_unet_set_shot_seed(b.m, 777);
  loss_of(&b);
  const double *yb = qdm_unet_features(b.m, NULL);
  int differ = 0;
  for (int i = 0; i < 8 * F; i++) differ += yb[i] != y0[i];
  CHECK(differ > 8 * F / 2, "another shot seed gives other estimates (%d of %d differ)", differ, 8 * F);
  free(y0);
  fixture_free(&a);
  fixture_free(&b);
}

/* Straight-through: the backward differentiates the exact expectation, so
 * with many shots the gradients approach the exact model's. */
static void test_shots_gradient(void) {
  qdm_unet_cfg c = small_cfg("", QDM_MEASURE_ANO);
  c.ancilla = 1;
  fixture a, b;
  fixture_init(&a, &c, 6, 8);
  c.shots = 400000;
  fixture_init(&b, &c, 6, 8);
  if (!a.m || !b.m) return;
  size_t np = total_params(a.m);
  double *ga = malloc(np * sizeof *ga), *gb = malloc(np * sizeof *gb), La, Lb, num = 0, den = 0;
  grads_of(&a, &La, ga);
  grads_of(&b, &Lb, gb);
  for (size_t i = 0; i < np; i++) {
    num += (ga[i] - gb[i]) * (ga[i] - gb[i]);
    den += ga[i] * ga[i];
  }
  CHECK(sqrt(num / den) < 0.02, "many shots: gradient within 2%% of the exact one (relative error %.4f)",
        sqrt(num / den));
  CHECK(fabs(La - Lb) < 0.01, "many shots: loss %.6f close to the exact %.6f", Lb, La);
  free(ga); free(gb);
  fixture_free(&a);
  fixture_free(&b);
}

static void test_refused(void) {
  qdm_rng r;
  qdm_rng_seed(&r, 1);
  qdm_unet_cfg c = small_cfg("depolarizing:0.01", QDM_MEASURE_ANO);
  c.ancilla = 1;
  CHECK(qdm_unet_new(&c, 4, &r) == NULL && strstr(qdm_errmsg(), "ancilla block off"),
        "noise with the ancilla block is refused: %s", qdm_errmsg());
  c = small_cfg("depolarizing:1.5", QDM_MEASURE_ANO);
  CHECK(qdm_unet_new(&c, 4, &r) == NULL && strstr(qdm_errmsg(), "noise '"), "P = 1.5 is refused: %s", qdm_errmsg());
  c = small_cfg("thermal:0.1", QDM_MEASURE_ANO);
  CHECK(qdm_unet_new(&c, 4, &r) == NULL, "unknown channel refused: %s", qdm_errmsg());
  c = small_cfg("amplitude_damping:0.1", QDM_MEASURE_ANO);
  c.n = 7;
  CHECK(qdm_unet_new(&c, 4, &r) == NULL && strstr(qdm_errmsg(), "qubits"), "noise on 7 qubits refused: %s",
        qdm_errmsg());
  c = small_cfg("", QDM_MEASURE_ANO);
  c.classical = 1;
  c.shots = 10;
  CHECK(qdm_unet_new(&c, 4, &r) == NULL && strstr(qdm_errmsg(), "classical"), "shots without a circuit refused: %s",
        qdm_errmsg());
  c = small_cfg("", QDM_MEASURE_ANO);
  c.shots = -1;
  CHECK(qdm_unet_new(&c, 4, &r) == NULL && strstr(qdm_errmsg(), "shots = "), "negative shots refused: %s",
        qdm_errmsg());
}

/* The settings travel in the checkpoint, so sampling runs the same device. */
static void test_checkpoint_settings(void) {
  char dir[4200], path[4300];
  const char *base = getenv("QDM_TEST_DIR");
  if (base && *base) {
    snprintf(dir, sizeof dir, "%s", base);
    qdm_mkdirs(dir);
  } else {
    snprintf(dir, sizeof dir, "/tmp/qdm_test_noise.XXXXXX");
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp"); return; }
  }
  snprintf(path, sizeof path, "%s/noise_ckpt.safetensors", dir);
  qdm_train_opts o, back;
  qdm_train_preset(&o, "default");
  o.model = small_cfg("amplitude_damping:0.125", QDM_MEASURE_ANO);
  o.model.shots = 123;
  qdm_rng r;
  qdm_rng_seed(&r, 2);
  qdm_unet *m = qdm_unet_new(&o.model, 2, &r);
  CHECK(m != NULL, "model: %s", qdm_errmsg());
  if (!m) return;
  CHECK(qdm__ckpt_save(path, m, &o, NULL, NULL, NULL, NULL, NULL, 0) == QDM_OK, "save: %s", qdm_errmsg());
  qdm_unet *m2 = NULL;
  CHECK(qdm_checkpoint_load(path, 2, &back, &m2) == QDM_OK, "load: %s", qdm_errmsg());
  CHECK(back.model.shots == 123 && !strcmp(back.model.noise, "amplitude_damping:0.125"),
        "shots and noise come back from the checkpoint: %ld, '%s'", back.model.shots, back.model.noise);
  size_t n1, n2;
  const double *w1 = qdm_unet_params(m, &n1), *w2 = qdm_unet_params(m2, &n2);
  CHECK(m2 && n1 == n2 && !memcmp(w1, w2, n1 * sizeof *w1), "the loaded model has the saved weights");
  qdm_unet_free(m);
  qdm_unet_free(m2);
  remove(path);
}

/* The measured QCNN (report 4.2) in the model: refused on the exact path,
 * its gradients through the measured, noisy blocks against central
 * differences, and its loss not the coherent QCNN's (the measurements
 * remove the coherences the later blocks and the ANO would see). */
static void test_qcnn_measured(void) {
  qdm_unet_cfg c = small_cfg("", QDM_MEASURE_ANO);
  snprintf(c.ansatz, sizeof c.ansatz, "qcnn-measured");
  qdm_rng r;
  qdm_rng_seed(&r, 3);
  CHECK(qdm_unet_new(&c, 4, &r) == NULL && strstr(qdm_errmsg(), "density"),
        "qcnn-measured without the density-matrix path is refused: %s", qdm_errmsg());
  snprintf(c.noise, sizeof c.noise, "depolarizing:0.05");
  fixture f, g;
  fixture_init(&f, &c, 7, 99);
  CHECK(f.m != NULL, "qcnn-measured with a noise builds: %s", qdm_errmsg());
  if (f.m) check_fixture_gradients(&f, "qcnn-measured depolarizing:0.05");
  snprintf(c.noise, sizeof c.noise, "depolarizing:0");
  qdm_unet_cfg coh = c;
  snprintf(coh.ansatz, sizeof coh.ansatz, "qcnn");
  fixture_free(&f);
  fixture_init(&f, &c, 7, 5);
  fixture_init(&g, &coh, 7, 5);
  CHECK(f.m && g.m, "measured and coherent models build");
  if (f.m && g.m) {
    double a = loss_of(&f), b = loss_of(&g);
    CHECK(isfinite(a) && fabs(a - b) > 1e-9, "measured pooling changes the loss (%.12f vs coherent %.12f)", a, b);
  }
  fixture_free(&f);
  fixture_free(&g);
}

int main(void) {
  test_refused();
  test_qcnn_measured();
  test_zero_noise_is_exact("depolarizing:0", QDM_MEASURE_ANO);
  test_zero_noise_is_exact("amplitude_damping:0", QDM_MEASURE_PAULI);
  test_full_depolarizing(QDM_MEASURE_ANO);
  test_full_depolarizing(QDM_MEASURE_PAULI);
  test_noisy_gradients("depolarizing:0.05", QDM_MEASURE_ANO);
  test_noisy_gradients("amplitude_damping:0.1", QDM_MEASURE_ANO);
  test_noisy_gradients("depolarizing:0.2", QDM_MEASURE_PAULI);
  test_shots_deterministic();
  test_shots_converge("", QDM_MEASURE_ANO, 1);
  test_shots_converge("", QDM_MEASURE_PAULI, 0);
  test_shots_converge("depolarizing:0.05", QDM_MEASURE_ANO, 0);
  test_shots_gradient();
  test_checkpoint_settings();
  return check_done();
}
