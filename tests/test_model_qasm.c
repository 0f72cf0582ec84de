/* test_model_qasm.c -- a trained checkpoint's bottleneck as OpenQASM
 * (qdm_unet_write_qasm): the exported files and observables.json, read
 * back and run by the test itself (block 1, the ancilla circuit of block 2
 * with its |0> branch kept, renormalised and leaky-ReLU'd as model.h says,
 * block 3, then <psi|H_k|psi>), give the features the model's own forward
 * computes for every (t, label) group. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "qdm/data.h"
#include "qdm/io.h"
#include "qdm/train.h"
#include "tmpdir.h"

static void make_data(const char *d) {
  int n = 16;
  float *img = calloc((size_t)n * 784, sizeof *img);
  uint8_t lab[16];
  for (int i = 0; i < n; i++) {
    lab[i] = i % 2;
    for (int p = 0; p < 784; p++) img[(size_t)i * 784 + p] = (p % (7 + i % 3) == 0) != (lab[i] && p > 392) ? 1.0f : 0.0f;
  }
  qdm_mkdirs(d);
  CHECK(qdm_idx_write_images(tpath("data/train-images-idx3-ubyte"), img, n, 28, 28) == QDM_OK, "images");
  CHECK(qdm_idx_write_labels(tpath("data/train-labels-idx1-ubyte"), lab, n) == QDM_OK, "labels");
  free(img);
}

/* the checkpoint of a tiny run: conditional, ancilla block, ANO or Pauli-Z */
static void train_tiny(const char *out, int measure, int ancilla, int conditional, int mode) {
  qdm_train_opts o;
  qdm_train_preset(&o, "default");
  snprintf(o.data, sizeof o.data, "%s", tpath("data"));
  snprintf(o.digits, sizeof o.digits, "all");
  snprintf(o.out, sizeof o.out, "%s", tpath(out));
  o.model.hidden = 8;
  o.model.layers = 1;
  o.model.K = 3;
  o.model.T = 2;
  o.model.classes = 2;
  o.model.measure = measure;
  o.model.ancilla = ancilla;
  o.model.ancilla_mode = mode;
  o.model.conditional = conditional;
  o.heldout = 0;
  o.batch = 8;
  o.epochs = 1;
  o.quiet = 1;
  o.samples_per_class = 1;
  o.force = 1; /* the test directory outlives a run of the test */
  CHECK(qdm_train(&o) == QDM_OK, "tiny run %s: %s", out, qdm_errmsg());
}

/* U |in> for the file dir/name with n qubits; psi holds 2^n values */
static int run_file(const char *dir, const char *name, int n, qdm_cplx *psi) {
  char p[4400];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  qdm_qasm q;
  int e = qdm_qasm_read(p, &q);
  CHECK(e == QDM_OK && q.c->n == n && q.nparams == 0, "%s: %d qubits, bound (%s)", name, n, qdm_errmsg());
  if (!e) e = qdm_run(q.c, NULL, NULL, 0, psi, 1);
  qdm_qasm_free(&q);
  return e;
}

static void normalise(qdm_cplx *v, int d) {
  double s = 0;
  for (int i = 0; i < d; i++) s += creal(v[i] * conj(v[i]));
  for (int i = 0; i < d; i++) v[i] /= sqrt(s);
}

/* The features of group g recomputed from the files: y (K values) and z. */
static void features_from_files(const char *dir, const qdm_unet_cfg *c, int t, int label, const qdm_cplx *psi0,
                                const qdm_jv *obs, double *y, double *z) {
  int n = c->n, d = 1 << n;
  char nm[3][64];
  for (int b = 0; b < 3; b++) {
    if (c->conditional) snprintf(nm[b], 64, "t%02d_label%d_block%d.qasm", t, label, b + 1);
    else snprintf(nm[b], 64, "t%02d_block%d.qasm", t, b + 1);
  }
  qdm_cplx psi[128], phi[128];
  memcpy(psi, psi0, d * sizeof *psi);
  run_file(dir, nm[0], n, psi);
  if (c->ancilla) {
    memset(phi, 0, sizeof phi); /* psi (x) |0> on the ancilla q[n], the top bit */
    memcpy(phi, psi, d * sizeof *psi);
    run_file(dir, nm[1], n + 1, phi);
    *z = 0;
    for (int i = 0; i < 2 * d; i++) *z += (i < d ? 1 : -1) * creal(phi[i] * conj(phi[i]));
    if (c->ancilla_mode == QDM_ANCILLA_SUM) /* the sum of both branches, s0 + s1 */
      for (int i = 0; i < d; i++) phi[i] += phi[i + d];
    normalise(phi, d); /* the |0> branch (I + U2) psi / 2, or s0 + s1, renormalised */
    for (int i = 0; i < d; i++) /* complex leaky ReLU on Re and Im (nn.h) */
      psi[i] = (creal(phi[i]) > 0 ? creal(phi[i]) : c->leak * creal(phi[i])) +
               I * (cimag(phi[i]) > 0 ? cimag(phi[i]) : c->leak * cimag(phi[i]));
    normalise(psi, d);
  }
  run_file(dir, nm[2], n, psi);
  const qdm_jv *re = qdm_jv_get(obs, "re"), *im = qdm_jv_get(obs, "im");
  int K = (int)qdm_jv_get(obs, "K")->num;
  for (int k = 0; k < K; k++) {
    double s = 0;
    for (int i = 0; i < d; i++)
      for (int j = 0; j < d; j++) {
        qdm_cplx H = re ? re->kid[k].kid[i].kid[j].num + I * im->kid[k].kid[i].kid[j].num
                        : (i == j ? ((i >> k) & 1 ? -1 : 1) : 0); /* Pauli Z_k */
        s += creal(conj(psi[i]) * H * psi[j]);
      }
    y[k] = s;
  }
}

static qdm_jv *read_json(const char *path) {
  FILE *f = fopen(path, "rb");
  static char buf[1 << 20];
  size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
  if (f) fclose(f);
  qdm_jv *v = NULL;
  CHECK(n > 0 && qdm_json_parse(buf, n, &v) == QDM_OK, "%s parses", path);
  return v;
}

static void check_export(const char *run, int measure, int ancilla, int conditional) {
  char ck[4400], out[4400];
  snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", tpath(run));
  snprintf(out, sizeof out, "%s/qasm", tpath(run));
  qdm_train_opts o;
  qdm_unet *m;
  CHECK(qdm_checkpoint_load(ck, 8, &o, &m) == QDM_OK, "%s: load: %s", run, qdm_errmsg());
  if (!m) return;
  CHECK(qdm_unet_write_qasm(m, out) == QDM_OK, "%s: export: %s", run, qdm_errmsg());
  const qdm_unet_cfg *c = qdm_unet_config(m);
  int per = conditional ? c->classes : 1, G = c->T * per, D = c->D, F, K = measure == QDM_MEASURE_ANO ? c->K : c->n;
  /* one row per group: x random unit vectors */
  qdm_cplx *x = malloc(sizeof *x * G * D), *yout = malloc(sizeof *x * G * D);
  int t[8], lab[8];
  qdm_rng r;
  qdm_rng_seed(&r, 3);
  for (int g = 0; g < G; g++) {
    qdm_rng_haar_state(&r, x + (size_t)g * D, D);
    t[g] = g / per + 1;
    lab[g] = g % per;
  }
  CHECK(qdm_unet_forward(m, x, t, lab, G, yout) == QDM_OK, "forward");
  const double *feat = qdm_unet_features(m, &F);
  CHECK(F == K + ancilla, "%d features", F);
  char op[4500];
  snprintf(op, sizeof op, "%s/observables.json", out);
  qdm_jv *obs = read_json(op);
  if (!obs) exit(check_done());
  const qdm_jv *ms = qdm_jv_get(obs, "measure");
  CHECK(ms && !strcmp(ms->str, measure == QDM_MEASURE_ANO ? "ano" : "pauli-z"), "observables.json: measure");
  double worst = 0;
  for (int g = 0; g < G; g++) {
    const qdm_cplx *psi0;
    int rows;
    qdm_unet_block_inputs(m, g, 0, &psi0, &rows);
    double y[16], z = 0;
    features_from_files(out, c, t[g], lab[g], psi0, obs, y, &z);
    for (int k = 0; k < K; k++) worst = fmax(worst, fabs(y[k] - feat[(size_t)g * F + k]));
    if (ancilla) worst = fmax(worst, fabs(z - feat[(size_t)g * F + K]));
  }
  CHECK(worst < 1e-10, "%s: features from the OpenQASM files = the model's (max diff %.3g)", run, worst);
  char p2[4500];
  snprintf(p2, sizeof p2, "%s/t01%s_block2.qasm", out, conditional ? "_label0" : "");
  FILE *f = fopen(p2, "r");
  CHECK((f != NULL) == (ancilla != 0), "%s: block 2 file exists iff the ancilla block is on", run);
  if (f) fclose(f);
  qdm_jv_free(obs);
  qdm_unet_free(m);
  free(x);
  free(yout);
}

int main(void) {
  setup_dir_named("model_qasm");
  make_data(tpath("data"));
  train_tiny("ano", QDM_MEASURE_ANO, 1, 1, QDM_ANCILLA_PROJECT);
  check_export("ano", QDM_MEASURE_ANO, 1, 1);
  train_tiny("sum", QDM_MEASURE_ANO, 1, 1, QDM_ANCILLA_SUM);
  check_export("sum", QDM_MEASURE_ANO, 1, 1);
  train_tiny("pauli", QDM_MEASURE_PAULI, 0, 0, QDM_ANCILLA_PROJECT);
  check_export("pauli", QDM_MEASURE_PAULI, 0, 0);
  /* a classical bottleneck has nothing to export */
  qdm_unet_cfg cfg;
  qdm_unet_cfg_authors(&cfg);
  cfg.D = 8, cfg.hidden = 4, cfg.layers = 1, cfg.T = 1, cfg.classes = 1, cfg.classical = 1;
  qdm_rng r;
  qdm_rng_seed(&r, 1);
  qdm_unet *m = qdm_unet_new(&cfg, 1, &r);
  CHECK(m && qdm_unet_write_qasm(m, tpath("cl")) == QDM_EINVAL && strstr(qdm_errmsg(), "classical"),
        "classical bottleneck refused: %s", qdm_errmsg());
  qdm_unet_free(m);
  return check_done();
}
