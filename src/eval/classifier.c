/* classifier.c -- the digit classifier whose penultimate layer is the
 * feature space of qdm eval (the role Inception-v3 plays for FID on natural
 * images): a small CNN on canonical 16 x 16 images, trained with AdamW,
 * cosine learning-rate decay and 1-pixel random translations. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/eval.h"
#include "qdm/io.h"
#include "qdm/nn.h"

#define NT 8     /* parameter tensors */
#define MB 128   /* rows per forward/backward chunk */
#define MAX_ACT ((size_t)512 << 20) /* bytes of activations for MB rows */

struct qdm_classifier {
  qdm_classifier_cfg cfg;
  int S, h, q, F0;           /* side, side/2, side/4, width into fc1 */
  char name[NT][24];
  int nt;
  double *t[NT], *gt[NT];    /* views into p and g */
  size_t tn[NT];
  int64_t shape[NT][2];
  int out[NT], in[NT];       /* fan-out, fan-in of weight tensors (0 for biases) */
  size_t np;
  double *p, *g;
  /* activations and gradients for MB rows */
  double *x0, *cols1, *z1, *p1, *cols2, *dcols2, *z2, *p2, *h1, *logits, *prob;
  double *dlog, *dh1, *dp2, *dz2, *dp1, *dz1;
  int *arg1, *arg2;
};

void qdm_classifier_cfg_default(qdm_classifier_cfg *c) {
  if (!c) return;
  c->side = 16;
  c->classes = 10;
  c->c1 = 32;
  c->c2 = 64;
  c->hidden = 128;
}

void qdm_classifier_train_opts_default(qdm_classifier_train_opts *o) {
  if (!o) return;
  memset(o, 0, sizeof *o);
  o->epochs = 12;
  o->batch = 64;
  o->lr = 2e-3;
  o->weight_decay = 1e-4;
  o->shift = 1;
  o->seed = 1;
}

static void add_tensor(qdm_classifier *c, const char *name, int rows, int cols) {
  int i = c->nt++;
  snprintf(c->name[i], sizeof c->name[i], "%s", name);
  c->tn[i] = (size_t)rows * (cols ? cols : 1);
  c->shape[i][0] = rows;
  c->shape[i][1] = cols;
  c->out[i] = rows;
  c->in[i] = cols;
  c->np += c->tn[i];
}

/* Activations and gradients of one row: doubles, then the max-pool argmax
 * ints (one buffer of each for MB rows, see alloc_acts). */
static size_t act_doubles(const qdm_classifier_cfg *g) {
  size_t S2 = (size_t)g->side * g->side, h2 = S2 / 4, q2 = S2 / 16;
  size_t conv = g->c1 ? S2 * 9 + 2 * S2 * g->c1 + 2 * h2 * g->c1 + 2 * h2 * 9 * g->c1 + 2 * h2 * g->c2 + 2 * q2 * g->c2 : 0;
  return S2 + conv + 2 * (size_t)g->hidden + 3 * (size_t)g->classes;
}

static size_t act_ints(const qdm_classifier_cfg *g) {
  size_t h2 = (size_t)g->side * g->side / 4, q2 = h2 / 4;
  return g->c1 ? h2 * g->c1 + q2 * g->c2 : 0;
}

static int cfg_check(const qdm_classifier_cfg *g) {
  if (!g) return qdm_fail(QDM_EINVAL, "classifier: cfg is NULL");
  if (g->side < 4 || g->side % 4 || g->side > 256)
    return qdm_fail(QDM_EINVAL, "classifier: side %d, expected a multiple of 4 in 4..256", g->side);
  if (g->classes < 2 || g->classes > QDM_EVAL_MAXC) return qdm_fail(QDM_EINVAL, "classifier: classes %d, expected 2..%d", g->classes, QDM_EVAL_MAXC);
  if (g->c1 < 0 || g->c1 > 1024 || g->c2 < 0 || g->c2 > 1024 || (g->c1 > 0) != (g->c2 > 0))
    return qdm_fail(QDM_EINVAL, "classifier: channels c1 = %d, c2 = %d (both 1..1024, or both 0 for an MLP)", g->c1, g->c2);
  if (g->hidden < 1 || g->hidden > 65536) return qdm_fail(QDM_EINVAL, "classifier: hidden %d, expected 1..65536", g->hidden);
  /* (each bound alone still allows terabytes: side 256 with 1024 channels) */
  size_t bytes = MB * (act_doubles(g) * sizeof(double) + act_ints(g) * sizeof(int));
  if (bytes > MAX_ACT)
    return qdm_fail(QDM_EINVAL, "classifier: side %d, c1 = %d, c2 = %d, hidden %d need %.1f MiB of activations for %d "
                    "images, expected at most %zu MiB", g->side, g->c1, g->c2, g->hidden, bytes / 1048576.0, MB,
                    MAX_ACT >> 20);
  return QDM_OK;
}

static double *grab(double **cur, size_t n) {
  double *p = *cur;
  *cur += n;
  return p;
}

static int alloc_acts(qdm_classifier *c) {
  const qdm_classifier_cfg *g = &c->cfg;
  size_t S2 = (size_t)c->S * c->S, h2 = (size_t)c->h * c->h, q2 = (size_t)c->q * c->q;
  double *m = malloc(MB * act_doubles(g) * sizeof(double)), *cur = m;
  c->arg1 = g->c1 ? malloc(MB * h2 * g->c1 * sizeof(int)) : NULL;
  c->arg2 = g->c1 ? malloc(MB * q2 * g->c2 * sizeof(int)) : NULL;
  if (!m || (g->c1 && (!c->arg1 || !c->arg2))) {
    free(m);
    return qdm_fail(QDM_ENOMEM, "classifier: out of memory for activations");
  }
  c->x0 = grab(&cur, MB * S2);
  if (g->c1) {
    c->cols1 = grab(&cur, MB * S2 * 9);
    c->z1 = grab(&cur, MB * S2 * g->c1);
    c->dz1 = grab(&cur, MB * S2 * g->c1);
    c->p1 = grab(&cur, MB * h2 * g->c1);
    c->dp1 = grab(&cur, MB * h2 * g->c1);
    c->cols2 = grab(&cur, MB * h2 * 9 * g->c1);
    c->dcols2 = grab(&cur, MB * h2 * 9 * g->c1);
    c->z2 = grab(&cur, MB * h2 * g->c2);
    c->dz2 = grab(&cur, MB * h2 * g->c2);
    c->p2 = grab(&cur, MB * q2 * g->c2);
    c->dp2 = grab(&cur, MB * q2 * g->c2);
  }
  c->h1 = grab(&cur, MB * (size_t)g->hidden);
  c->dh1 = grab(&cur, MB * (size_t)g->hidden);
  c->logits = grab(&cur, MB * (size_t)g->classes);
  c->prob = grab(&cur, MB * (size_t)g->classes);
  c->dlog = grab(&cur, MB * (size_t)g->classes);
  return QDM_OK;
}

/* names and shapes of the parameter tensors */
static void plan(qdm_classifier *c) {
  const qdm_classifier_cfg *g = &c->cfg;
  c->S = g->side;
  c->h = g->side / 2;
  c->q = g->side / 4;
  if (g->c1) {
    c->F0 = c->q * c->q * g->c2;
    add_tensor(c, "conv1.weight", g->c1, 9);
    add_tensor(c, "conv1.bias", g->c1, 0);
    add_tensor(c, "conv2.weight", g->c2, 9 * g->c1);
    add_tensor(c, "conv2.bias", g->c2, 0);
  } else {
    c->F0 = c->S * c->S;
  }
  add_tensor(c, "fc1.weight", g->hidden, c->F0);
  add_tensor(c, "fc1.bias", g->hidden, 0);
  add_tensor(c, "fc2.weight", g->classes, g->hidden);
  add_tensor(c, "fc2.bias", g->classes, 0);
}

static int layout(qdm_classifier *c) {
  plan(c);
  c->p = calloc(c->np, sizeof(double));
  c->g = calloc(c->np, sizeof(double));
  if (!c->p || !c->g) return qdm_fail(QDM_ENOMEM, "classifier: out of memory for %zu parameters", c->np);
  double *cp = c->p, *cg = c->g;
  for (int i = 0; i < c->nt; i++) {
    c->t[i] = grab(&cp, c->tn[i]);
    c->gt[i] = grab(&cg, c->tn[i]);
  }
  return alloc_acts(c);
}

qdm_classifier *qdm_classifier_new(const qdm_classifier_cfg *cfg, uint64_t seed) {
  if (cfg_check(cfg)) return NULL;
  qdm_classifier *c = calloc(1, sizeof *c);
  if (!c) {
    qdm_fail(QDM_ENOMEM, "classifier: out of memory");
    return NULL;
  }
  c->cfg = *cfg;
  if (layout(c)) {
    qdm_classifier_free(c);
    return NULL;
  }
  qdm_rng rng;
  qdm_rng_seed(&rng, seed);
  /* weight then its bias, each layer U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
  for (int i = 0; i + 1 < c->nt; i += 2) qdm_init_linear(c->t[i], c->t[i + 1], c->in[i], c->out[i], &rng);
  return c;
}

void qdm_classifier_free(qdm_classifier *c) {
  if (!c) return;
  free(c->p);
  free(c->g);
  free(c->x0);
  free(c->arg1);
  free(c->arg2);
  free(c);
}

const qdm_classifier_cfg *qdm_classifier_config(const qdm_classifier *c) { return c ? &c->cfg : NULL; }
size_t qdm_classifier_nparams(const qdm_classifier *c) { return c ? c->np : 0; }
int qdm_classifier_features_dim(const qdm_classifier *c) { return c ? c->cfg.hidden : 0; }

/* ---- forward and backward on B <= MB rows in c->x0 ---- */

static void forward(qdm_classifier *c, int B) {
  const qdm_classifier_cfg *g = &c->cfg;
  const double *in = c->x0;
  int k = 0;
  if (g->c1) {
    qdm_conv3x3_forward(c->z1, c->cols1, c->x0, c->t[0], c->t[1], B, c->S, c->S, 1, g->c1);
    qdm_relu_forward(c->z1, c->z1, (size_t)B * c->S * c->S * g->c1);
    qdm_maxpool2_forward(c->p1, c->arg1, c->z1, B, c->S, c->S, g->c1);
    qdm_conv3x3_forward(c->z2, c->cols2, c->p1, c->t[2], c->t[3], B, c->h, c->h, g->c1, g->c2);
    qdm_relu_forward(c->z2, c->z2, (size_t)B * c->h * c->h * g->c2);
    qdm_maxpool2_forward(c->p2, c->arg2, c->z2, B, c->h, c->h, g->c2);
    in = c->p2;
    k = 4;
  }
  qdm_linear_forward(c->h1, in, c->t[k], c->t[k + 1], B, c->F0, g->hidden);
  qdm_relu_forward(c->h1, c->h1, (size_t)B * g->hidden);
  qdm_linear_forward(c->logits, c->h1, c->t[k + 2], c->t[k + 3], B, g->hidden, g->classes);
}

/* after forward and the loss: c->dlog holds dL/dlogits */
static void backward(qdm_classifier *c, int B) {
  const qdm_classifier_cfg *g = &c->cfg;
  int k = g->c1 ? 4 : 0;
  const double *in = g->c1 ? c->p2 : c->x0;
  qdm_linear_backward(c->dh1, c->gt[k + 2], c->gt[k + 3], c->dlog, c->h1, c->t[k + 2], B, g->hidden, g->classes);
  qdm_relu_backward(c->dh1, c->dh1, c->h1, (size_t)B * g->hidden);
  qdm_linear_backward(g->c1 ? c->dp2 : NULL, c->gt[k], c->gt[k + 1], c->dh1, in, c->t[k], B, c->F0, g->hidden);
  if (!g->c1) return;
  qdm_maxpool2_backward(c->dz2, c->dp2, c->arg2, B, c->h, c->h, g->c2);
  qdm_relu_backward(c->dz2, c->dz2, c->z2, (size_t)B * c->h * c->h * g->c2);
  qdm_conv3x3_backward(c->dp1, c->gt[2], c->gt[3], c->dcols2, c->dz2, c->cols2, c->t[2], B, c->h, c->h, g->c1, g->c2);
  qdm_maxpool2_backward(c->dz1, c->dp1, c->arg1, B, c->S, c->S, g->c1);
  qdm_relu_backward(c->dz1, c->dz1, c->z1, (size_t)B * c->S * c->S * g->c1);
  qdm_conv3x3_backward(NULL, c->gt[0], c->gt[1], NULL, c->dz1, c->cols1, c->t[0], B, c->S, c->S, 1, g->c1);
}

static int data_check(const qdm_classifier *c, const qdm_dataset *d, const char *who, int need_labels) {
  if (!c || !d || !d->x || d->n < 1) return qdm_fail(QDM_EINVAL, "%s: classifier and a non-empty dataset are required", who);
  if (d->h != c->S || d->w != c->S)
    return qdm_fail(QDM_EINVAL, "%s: images are %dx%d, the classifier takes %dx%d (use qdm_eval_canonical)", who, d->h, d->w, c->S, c->S);
  if (need_labels && !d->y) return qdm_fail(QDM_EINVAL, "%s: the dataset has no labels", who);
  for (int i = 0; need_labels && i < d->n; i++)
    if (d->y[i] >= c->cfg.classes) return qdm_fail(QDM_EINVAL, "%s: label %d at image %d, the classifier has %d classes", who, d->y[i], i, c->cfg.classes);
  return QDM_OK;
}

static void softmax_rows(double *p, const double *z, int B, int C) {
  for (int r = 0; r < B; r++) {
    const double *zr = z + (size_t)r * C;
    double mx = zr[0], s = 0;
    for (int k = 1; k < C; k++) mx = zr[k] > mx ? zr[k] : mx;
    for (int k = 0; k < C; k++) s += (p[(size_t)r * C + k] = exp(zr[k] - mx));
    for (int k = 0; k < C; k++) p[(size_t)r * C + k] /= s;
  }
}

int qdm_classifier_predict(qdm_classifier *c, const float *x, int n, double *probs, double *feats) {
  if (!c || !x || n < 1) return qdm_fail(QDM_EINVAL, "qdm_classifier_predict: classifier, images and n >= 1 are required");
  size_t D = (size_t)c->S * c->S;
  int C = c->cfg.classes, Hd = c->cfg.hidden;
  for (int i0 = 0; i0 < n; i0 += MB) {
    int B = n - i0 < MB ? n - i0 : MB;
    for (size_t k = 0; k < (size_t)B * D; k++) c->x0[k] = x[(size_t)i0 * D + k];
    forward(c, B);
    if (feats) memcpy(feats + (size_t)i0 * Hd, c->h1, (size_t)B * Hd * sizeof(double));
    if (probs) softmax_rows(probs + (size_t)i0 * C, c->logits, B, C);
  }
  return QDM_OK;
}

int qdm_classifier_accuracy(qdm_classifier *c, const qdm_dataset *d, double *acc) {
  int err = data_check(c, d, "qdm_classifier_accuracy", 1);
  if (err) return err;
  if (!acc) return qdm_fail(QDM_EINVAL, "qdm_classifier_accuracy: acc is NULL");
  int C = c->cfg.classes;
  double *p = malloc((size_t)d->n * C * sizeof(double));
  if (!p) return qdm_fail(QDM_ENOMEM, "qdm_classifier_accuracy: out of memory");
  err = qdm_classifier_predict(c, d->x, d->n, p, NULL);
  long right = 0;
  for (int i = 0; !err && i < d->n; i++) {
    int best = 0;
    for (int k = 1; k < C; k++)
      if (p[(size_t)i * C + k] > p[(size_t)i * C + best]) best = k;
    right += best == d->y[i];
  }
  free(p);
  *acc = (double)right / d->n;
  return err;
}

/* image src translated by (dy, dx) pixels, zeros shifted in */
static void shifted(double *dst, const float *src, int S, int dy, int dx) {
  for (int i = 0; i < S; i++)
    for (int j = 0; j < S; j++) {
      int si = i - dy, sj = j - dx;
      dst[i * S + j] = si < 0 || si >= S || sj < 0 || sj >= S ? 0.0 : src[si * S + sj];
    }
}

static int setup_adam(qdm_classifier *c, qdm_adam *opt, double wd) {
  int err = qdm_adam_init(opt, 0.9, 0.999, 1e-8, 1);
  /* decay on weights only: biases are tensors without a fan-in */
  for (int i = 0; !err && i < c->nt; i++) err = qdm_adam_add_group(opt, c->name[i], c->t[i], c->gt[i], c->tn[i], 1.0, c->in[i] ? wd : 0.0);
  return err;
}

static int train_check(const qdm_classifier_train_opts *o) {
  if (!o) return qdm_fail(QDM_EINVAL, "qdm_classifier_train: options are NULL");
  if (o->epochs < 1 || o->batch < 1 || o->batch > MB || !(o->lr > 0) || o->weight_decay < 0 || o->shift < 0 || o->shift > 4)
    return qdm_fail(QDM_EINVAL, "qdm_classifier_train: need epochs >= 1, batch 1..%d, lr > 0, weight_decay >= 0, shift 0..4", MB);
  return QDM_OK;
}

/* one epoch over `order`: mean loss and training accuracy (on the
 * augmented images) in *loss, *acc */
static int epoch(qdm_classifier *c, qdm_adam *opt, const qdm_dataset *d, const int *order, const qdm_classifier_train_opts *o,
                 qdm_rng *rng, double lr0, long long *step, long long steps, double *loss, double *acc) {
  int S = c->S, C = c->cfg.classes, n = d->n;
  size_t D = (size_t)S * S;
  double lsum = 0;
  long right = 0;
  uint8_t y[MB];
  for (int i0 = 0; i0 < n; i0 += o->batch) {
    int B = n - i0 < o->batch ? n - i0 : o->batch;
    for (int r = 0; r < B; r++) {
      int k = order[i0 + r], w = 2 * o->shift + 1;
      int dy = o->shift ? (int)(qdm_rng_u64(rng) % w) - o->shift : 0, dx = o->shift ? (int)(qdm_rng_u64(rng) % w) - o->shift : 0;
      shifted(c->x0 + r * D, d->x + (size_t)k * D, S, dy, dx);
      y[r] = d->y[k];
    }
    forward(c, B);
    double l;
    int err = qdm_softmax_xent(&l, c->prob, c->dlog, c->logits, y, B, C);
    if (err) return err;
    lsum += l * B;
    for (int r = 0; r < B; r++) {
      int best = 0;
      for (int k = 1; k < C; k++)
        if (c->prob[r * C + k] > c->prob[r * C + best]) best = k;
      right += best == y[r];
    }
    qdm_adam_zero_grad(opt);
    backward(c, B);
    /* cosine decay from lr0 to 0 over all steps */
    double lr = 0.5 * lr0 * (1 + cos(3.14159265358979323846 * (double)(*step)++ / steps));
    if ((err = qdm_adam_step(opt, lr))) return err;
  }
  *loss = lsum / n;
  *acc = (double)right / n;
  return QDM_OK;
}

int qdm_classifier_train(qdm_classifier *c, const qdm_dataset *train, const qdm_dataset *val,
                         const qdm_classifier_train_opts *o, double *val_acc) {
  int err = data_check(c, train, "qdm_classifier_train", 1);
  if (!err && val) err = data_check(c, val, "qdm_classifier_train (validation set)", 1);
  if (!err) err = train_check(o);
  if (err) return err;
  qdm_adam opt;
  memset(&opt, 0, sizeof opt);
  int n = train->n, *order = malloc((size_t)n * sizeof(int));
  if (!order) return qdm_fail(QDM_ENOMEM, "qdm_classifier_train: out of memory");
  err = setup_adam(c, &opt, o->weight_decay);
  qdm_rng rng;
  qdm_rng_seed(&rng, o->seed);
  for (int i = 0; i < n; i++) order[i] = i;
  long long step = 0, steps = (long long)o->epochs * ((n + o->batch - 1) / o->batch);
  double t0 = qdm_now(), va = NAN;
  for (int e = 0; !err && e < o->epochs; e++) {
    for (int i = n - 1; i > 0; i--) { /* Fisher-Yates */
      int j = (int)(qdm_rng_u64(&rng) % (uint64_t)(i + 1)), t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    double loss, acc;
    err = epoch(c, &opt, train, order, o, &rng, o->lr, &step, steps, &loss, &acc);
    if (!err && val) err = qdm_classifier_accuracy(c, val, &va);
    if (!err && !o->quiet)
      fprintf(stderr, "classifier epoch %d/%d  loss %.4f  train acc %.4f  held-out acc %.4f  (%.1f s)\n", e + 1, o->epochs, loss,
              acc, va, qdm_now() - t0);
  }
  if (val_acc) *val_acc = va;
  qdm_adam_free(&opt);
  free(order);
  return err;
}

/* ---- files ---- */

/* the classifier's weights as safetensors entries (save and load alike) */
static void tensors_of(const qdm_classifier *c, qdm_tensor *t) {
  for (int i = 0; i < c->nt; i++) {
    memset(&t[i], 0, sizeof t[i]);
    t[i].name = c->name[i];
    t[i].ndim = c->in[i] ? 2 : 1;
    t[i].shape[0] = c->shape[i][0];
    t[i].shape[1] = c->shape[i][1];
    t[i].data = c->t[i];
  }
}

int qdm_classifier_save(const qdm_classifier *c, const char *path, const char *const *meta) {
  if (!c || !path) return qdm_fail(QDM_EINVAL, "qdm_classifier_save: classifier and path are required");
  qdm_tensor t[NT];
  tensors_of(c, t);
  char v[5][16];
  const int vals[5] = {c->cfg.side, c->cfg.classes, c->cfg.c1, c->cfg.c2, c->cfg.hidden};
  const char *m[64];
  int k = 0;
  m[k++] = "format";
  m[k++] = "qdm-classifier";
  m[k++] = "arch";
  m[k++] = c->cfg.c1 ? "cnn" : "mlp";
  static const char *keys[5] = {"side", "classes", "c1", "c2", "hidden"};
  for (int i = 0; i < 5; i++) {
    snprintf(v[i], sizeof v[i], "%d", vals[i]);
    m[k++] = keys[i];
    m[k++] = v[i];
  }
  for (int i = 0; meta && meta[i] && meta[i + 1] && k < 62; i += 2) {
    m[k++] = meta[i];
    m[k++] = meta[i + 1];
  }
  m[k] = NULL;
  return qdm_safetensors_write(path, t, c->nt, m);
}

static int meta_int(const char *path, const char *key, int *v) {
  char buf[64];
  int err = qdm_safetensors_meta(path, key, buf, sizeof buf);
  if (err) return err;
  char *end;
  errno = 0;
  long x = strtol(buf, &end, 10);
  if (end == buf || *end || errno || x < INT_MIN || x > INT_MAX)
    return qdm_fail(QDM_EFORMAT, "%s: metadata '%s' = '%s', expected a 32-bit integer", path, key, buf);
  *v = (int)x;
  return QDM_OK;
}

int qdm_classifier_load(const char *path, qdm_classifier **out) {
  if (!path || !out) return qdm_fail(QDM_EINVAL, "qdm_classifier_load: path and out are required");
  *out = NULL;
  char fmt[64];
  int err = qdm_safetensors_meta(path, "format", fmt, sizeof fmt);
  if (!err && strcmp(fmt, "qdm-classifier"))
    err = qdm_fail(QDM_EFORMAT, "%s: not a qdm classifier (format '%s'; make one with qdm classifier train)", path, fmt);
  qdm_classifier_cfg g;
  if (!err) err = meta_int(path, "side", &g.side);
  if (!err) err = meta_int(path, "classes", &g.classes);
  if (!err) err = meta_int(path, "c1", &g.c1);
  if (!err) err = meta_int(path, "c2", &g.c2);
  if (!err) err = meta_int(path, "hidden", &g.hidden);
  if (err) return err;
  if (cfg_check(&g)) return qdm_fail_wrap(QDM_EFORMAT, "%s", path);
  /* the file must hold every tensor its settings imply before they size
   * any memory: a few header bytes could otherwise ask for gigabytes */
  qdm_classifier shape = {.cfg = g};
  qdm_tensor t[NT];
  plan(&shape);
  tensors_of(&shape, t);
  if ((err = qdm_safetensors_check(path, t, shape.nt))) return err;
  qdm_classifier *c = qdm_classifier_new(&g, 0);
  if (!c) return qdm_fail_wrap(QDM_ENOMEM, "%s", path);
  tensors_of(c, t);
  if ((err = qdm_safetensors_read(path, t, c->nt))) {
    qdm_classifier_free(c);
    return err;
  }
  *out = c;
  return QDM_OK;
}
