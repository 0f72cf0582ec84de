/* test_train.c -- training runs on a small synthetic data set written as
 * IDX files: the loss falls, an interrupted and resumed run ends with the
 * same numbers as an uninterrupted one, checkpoints round-trip, sampling
 * writes its files, bad data gives clear errors. */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "qdm/data.h"
#include "qdm/io.h"
#include "qdm/qngd.h"
#include "qdm/train.h"
#include "model/run.h"

static char dir[512];

/* two classes of 28x28 pictures: a vertical bar (0) and a ring (1), jittered */
static void write_data(const char *d, int n) {
  float *img = calloc((size_t)n * 784, sizeof(float));
  uint8_t *lab = malloc(n);
  qdm_rng r;
  qdm_rng_seed(&r, 4);
  for (int i = 0; i < n; i++) {
    lab[i] = i % 2;
    int cx = 12 + (int)(qdm_rng_u64(&r) % 5), cy = 12 + (int)(qdm_rng_u64(&r) % 5);
    for (int y = 0; y < 28; y++)
      for (int x = 0; x < 28; x++) {
        double dx = x - cx, dy = y - cy, rr = sqrt(dx * dx + dy * dy);
        int on = lab[i] == 0 ? fabs(dx) < 2 && fabs(dy) < 9 : fabs(rr - 7) < 1.5;
        img[(size_t)i * 784 + y * 28 + x] = on ? 1.0f : 0.0f;
      }
  }
  char p[1024];
  snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", d);
  CHECK(qdm_idx_write_images(p, img, n, 28, 28) == QDM_OK, "write images: %s", qdm_errmsg());
  snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte.gz", d);
  CHECK(qdm_idx_write_labels(p, lab, n) == QDM_OK, "write labels: %s", qdm_errmsg());
  free(img);
  free(lab);
}

static void small_opts(qdm_train_opts *o, const char *out) {
  qdm_train_preset(o, "default");
  snprintf(o->data, sizeof o->data, "%s/data", dir);
  snprintf(o->digits, sizeof o->digits, "all");
  snprintf(o->out, sizeof o->out, "%s/%s", dir, out);
  o->model.hidden = 24;
  o->model.layers = 1;
  o->model.K = 4;
  o->model.T = 3;
  o->model.classes = 2;
  o->heldout = 0;
  o->batch = 8;
  o->epochs = 4;
  o->lr = 3e-3;
  o->quiet = 1;
  o->samples_per_class = 2;
}

static int read_metrics(const char *run, double loss[16]) {
  char p[700], line[256];
  snprintf(p, sizeof p, "%s/%s/metrics.csv", dir, run);
  FILE *f = fopen(p, "r");
  if (!f) return 0;
  int n = 0;
  if (!fgets(line, sizeof line, f)) n = -1;
  while (n >= 0 && n < 16 && fgets(line, sizeof line, f)) {
    int e;
    double l;
    if (sscanf(line, "%d,%lf", &e, &l) == 2) loss[n++] = l;
  }
  fclose(f);
  return n;
}

static double *read_theta(const char *run, const char *file, size_t *n) {
  char p[700];
  snprintf(p, sizeof p, "%s/%s/%s", dir, run, file);
  int nd;
  int64_t sh[4];
  if (qdm_safetensors_shape(p, "circuit.theta", &nd, sh)) return NULL;
  *n = (size_t)(sh[0] * sh[1] * sh[2]);
  double *v = malloc(*n * sizeof *v);
  qdm_tensor t = {"circuit.theta", nd, {sh[0], sh[1], sh[2], sh[3]}, v, NULL};
  if (qdm_safetensors_read(p, &t, 1)) { free(v); return NULL; }
  return v;
}

/* A flat vector of a checkpoint (all of it as doubles; F32 widens exactly), or NULL if absent. */
static double *read_flat(const char *path, const char *name, size_t *n) {
  int nd;
  int64_t sh[4];
  *n = 0;
  if (qdm_safetensors_shape(path, name, &nd, sh) || nd != 1) return NULL;
  double *v = malloc((size_t)(sh[0] + 1) * sizeof *v);
  qdm_tensor t = {name, 1, {sh[0], 0, 0, 0}, v, NULL};
  if (qdm_safetensors_read(path, &t, 1)) { free(v); return NULL; }
  *n = (size_t)sh[0];
  return v;
}

/* Two runs' checkpoints hold the same numbers: every model tensor and the
 * Adam moments, bit for bit. */
static void check_same_checkpoint(const char *a, const char *b, const char *what) {
  char pa[700], pb[700];
  snprintf(pa, sizeof pa, "%s/%s/checkpoint.safetensors", dir, a);
  snprintf(pb, sizeof pb, "%s/%s/checkpoint.safetensors", dir, b);
  qdm_train_opts oa, ob;
  qdm_unet *ma = NULL, *mb = NULL;
  CHECK(qdm_checkpoint_load(pa, 4, &oa, &ma) == QDM_OK && qdm_checkpoint_load(pb, 4, &ob, &mb) == QDM_OK,
        "%s: checkpoints load: %s", what, qdm_errmsg());
  if (!ma || !mb) return;
  size_t n1, n2, f1, f2;
  const double *w1 = qdm_unet_params(ma, &n1), *w2 = qdm_unet_params(mb, &n2);
  const float *v1 = qdm_unet_params_f32(ma, &f1), *v2 = qdm_unet_params_f32(mb, &f2);
  CHECK(n1 == n2 && f1 == f2 && !memcmp(w1, w2, n1 * sizeof *w1) && (!f1 || !memcmp(v1, v2, f1 * sizeof *v1)),
        "%s: every weight bitwise equal (%zu double, %zu float)", what, n1, f1);
  const char *flats[] = {"optim.adam_m", "optim.adam_v", "optim.adam_m.f32", "optim.adam_v.f32"};
  for (int k = 0; k < 4; k++) {
    size_t na, nb;
    double *x = read_flat(pa, flats[k], &na), *y = read_flat(pb, flats[k], &nb);
    CHECK(na == nb && (!na || !memcmp(x, y, na * sizeof *x)), "%s: %s bitwise equal (%zu values)", what, flats[k], na);
    free(x);
    free(y);
  }
  qdm_unet_free(ma);
  qdm_unet_free(mb);
}

/* An uninterrupted run and one stopped twice and resumed end with the same
 * numbers, at either precision of the classical part. */
static void test_resume_precision(qdm_precision prec, const char *a, const char *b) {
  const char *pn = qdm_enum_str(qdm_precision_names, prec);
  qdm_train_opts o;
  small_opts(&o, a);
  o.model.precision = prec;
  o.ema = 0.9;
  o.epochs = 2;
  CHECK(qdm_train(&o) == QDM_OK, "%s run: %s", pn, qdm_errmsg());
  small_opts(&o, b);
  o.model.precision = prec;
  o.ema = 0.9;
  o.epochs = 2;
  o.stop_after = 3;
  CHECK(qdm_train(&o) == QDM_EINTR, "%s run stopped", pn);
  o.stop_after = 0;
  o.resume = 1;
  CHECK(qdm_train(&o) == QDM_OK, "%s run resumed: %s", pn, qdm_errmsg());
  double la[16], lb[16];
  int na = read_metrics(a, la), nb = read_metrics(b, lb);
  CHECK(na == 2 && nb == 2 && la[1] == lb[1], "%s: resumed run ends with the same loss %.17g vs %.17g", pn, la[1], lb[1]);
  check_same_checkpoint(a, b, pn);
  char p[700], buf[16];
  snprintf(p, sizeof p, "%s/%s/checkpoint.safetensors", dir, a);
  CHECK(qdm_safetensors_meta(p, "precision", buf, sizeof buf) == QDM_OK && !strcmp(buf, pn),
        "the checkpoint records precision %s (got '%s')", pn, buf);
  size_t ne;
  double *e = read_flat(p, prec == QDM_F32 ? "ema.f32" : "ema", &ne);
  CHECK(e && ne > 0, "the EMA copy is stored in the classical part's precision");
  free(e);
}

/* The checkpoint of a run at precision `from`, loaded for a run at the
 * other precision: weights, Adam moments and EMA arrive in the new layout,
 * widened exactly (f32 -> f64) or rounded to nearest (f64 -> f32). The
 * expected values are the file's own tensors, mapped here tensor by tensor. */
static void check_conversion(const char *run, qdm_precision to) {
  char p[700];
  snprintf(p, sizeof p, "%s/%s/checkpoint.safetensors", dir, run);
  qdm_train_opts o;
  qdm_unet *ref = NULL; /* the model as saved */
  CHECK(qdm_checkpoint_load(p, 8, &o, &ref) == QDM_OK, "%s loads: %s", run, qdm_errmsg());
  if (!ref) return;
  qdm__run R;
  memset(&R, 0, sizeof R);
  R.o = o;
  R.o.model.precision = to;
  double hist[64];
  int nh = 0;
  CHECK(qdm__run_model(&R, 8) == QDM_OK && qdm__run_optimizer(&R) == QDM_OK, "a %s run is built",
        qdm_enum_str(qdm_precision_names, to));
  CHECK(qdm__ckpt_load(p, R.m, &R.st, &R.opt, R.ema, hist, &nh, 16) == QDM_OK, "%s resumes at the other precision: %s",
        run, qdm_errmsg());
  size_t nd, nf, fd, ff;
  double *md = read_flat(p, "optim.adam_m", &fd), *ed = read_flat(p, "ema", &nd);
  double *mf = read_flat(p, "optim.adam_m.f32", &ff), *ef = read_flat(p, "ema.f32", &nf);
  size_t at_d = 0, at_f = 0, od = 0, of = 0; /* offsets in the file's two parts, in the run's two parts */
  int wok = 1, mok = 1, eok = 1;
  float *emaf = (float *)(R.ema + R.np);
  for (int i = 0; i < qdm_unet_nparams(R.m); i++) {
    qdm_unet_param *q = qdm_unet_param_at(R.m, i), *r = qdm_unet_param_at(ref, i);
    int file_f32 = r->dtype == QDM_F32;
    const double *m_src = file_f32 ? mf + at_f : md + at_d, *e_src = file_f32 ? ef + at_f : ed + at_d;
    for (size_t j = 0; j < q->n; j++) {
      double w = file_f32 ? r->pf[j] : r->p[j];
      if (q->dtype == QDM_F32) {
        wok &= q->pf[j] == (float)w;
        mok &= R.opt.mf[of + j] == (float)m_src[j];
        eok &= emaf[of + j] == (float)e_src[j];
      } else {
        wok &= q->p[j] == w;
        mok &= R.opt.m[od + j] == m_src[j];
        eok &= R.ema[od + j] == e_src[j];
      }
    }
    *(file_f32 ? &at_f : &at_d) += q->n;
    *(q->dtype == QDM_F32 ? &of : &od) += q->n;
  }
  CHECK(wok && mok && eok, "%s -> %s: weights %d, moments %d, EMA %d converted", run,
        qdm_enum_str(qdm_precision_names, to), wok, mok, eok);
  CHECK(at_f == ff && at_d == fd && R.opt.t > 0 && nh == 2, "... all of the file's state (%zu + %zu values, t = %lld)",
        fd, ff, R.opt.t);
  free(md); free(ed); free(mf); free(ef);
  qdm__run_free(&R);
  qdm_unet_free(ref);
}

static void test_precision_conversion(void) {
  char p[700];
  unsigned char raw[4096] = {0};
  snprintf(p, sizeof p, "%s/f32-straight/checkpoint.safetensors", dir);
  FILE *f = fopen(p, "rb");
  size_t n = f ? fread(raw, 1, sizeof raw - 1, f) : 0;
  if (f) fclose(f);
  CHECK(n > 8 && strstr((char *)raw + 8, "\"dec2.weight\":{\"dtype\":\"F32\"") &&
            strstr((char *)raw + 8, "\"circuit.theta\":{\"dtype\":\"F64\""),
        "an f32 checkpoint stores the classical tensors as F32, the circuit's as F64");
  check_conversion("f32-straight", QDM_F64);
  check_conversion("f64-straight", QDM_F32);
}

static void test_loss_falls_and_resume(void) {
  qdm_train_opts o;
  small_opts(&o, "straight");
  CHECK(qdm_train(&o) == QDM_OK, "uninterrupted run: %s", qdm_errmsg());
  double la[16], lb[16];
  int na = read_metrics("straight", la);
  CHECK(na == 4, "metrics.csv has 4 epochs (got %d)", na);
  if (na == 4) CHECK(la[3] < 0.8 * la[0], "loss falls: epoch 1 %.5f -> epoch 4 %.5f", la[0], la[3]);
  const char *files[] = {"config.json", "metrics.csv", "checkpoint.safetensors", "best.safetensors", "loss.png",
                         "forward.png", "samples.png", "evolution.png", "summary.json"};
  for (int i = 0; i < 9; i++) {
    char p[700];
    snprintf(p, sizeof p, "%s/straight/%s", dir, files[i]);
    CHECK(access(p, R_OK) == 0, "run wrote %s", files[i]);
  }
  /* interrupted mid-epoch (after 5 of 4 x 4 batches), then resumed twice */
  small_opts(&o, "resumed");
  o.stop_after = 5;
  CHECK(qdm_train(&o) == QDM_EINTR, "stopped run reports the interruption");
  o.stop_after = 6;
  o.resume = 1;
  CHECK(qdm_train(&o) == QDM_EINTR, "second stop");
  o.stop_after = 0;
  CHECK(qdm_train(&o) == QDM_OK, "resumed run finishes: %s", qdm_errmsg());
  int nb = read_metrics("resumed", lb);
  CHECK(nb == na, "resumed run has %d epochs of metrics (want %d)", nb, na);
  for (int e = 0; e < na && e < nb; e++) CHECK(la[e] == lb[e], "epoch %d loss equal: %.17g vs %.17g", e + 1, la[e], lb[e]);
  size_t n1 = 0, n2 = 0;
  double *t1 = read_theta("straight", "checkpoint.safetensors", &n1), *t2 = read_theta("resumed", "checkpoint.safetensors", &n2);
  CHECK(t1 && t2 && n1 == n2 && memcmp(t1, t2, n1 * sizeof *t1) == 0, "final circuit angles bitwise equal after resume");
  free(t1);
  free(t2);
}

/* A long diffusion with a circuit per stratum of steps (t_groups): the
 * batch takes one random step per stratum, the loss falls, and an
 * interrupted run resumes to the same numbers. */
static void test_t_groups_run(void) {
  qdm_train_opts o;
  small_opts(&o, "strata");
  o.model.T = 40;
  o.model.t_groups = 4;
  CHECK(qdm_train(&o) == QDM_OK, "t_groups run: %s", qdm_errmsg());
  double la[16], lb[16];
  int na = read_metrics("strata", la);
  CHECK(na == 4 && la[3] < 0.8 * la[0], "t_groups loss falls: %.5f -> %.5f", la[0], na == 4 ? la[3] : 0);
  small_opts(&o, "strata-resumed");
  o.model.T = 40;
  o.model.t_groups = 4;
  o.stop_after = 6;
  CHECK(qdm_train(&o) == QDM_EINTR, "t_groups run stopped");
  o.stop_after = 0;
  o.resume = 1;
  CHECK(qdm_train(&o) == QDM_OK, "t_groups run resumed: %s", qdm_errmsg());
  int nb = read_metrics("strata-resumed", lb);
  CHECK(nb == na && la[na - 1] == lb[nb - 1], "resumed t_groups run ends equal: %.17g vs %.17g", la[na - 1], lb[nb - 1]);
}

/* QNGD on the circuit angles (report eq. 26) trains too, and an interrupted
 * QNGD run resumes to the same numbers (the metric is refreshed every step) */
static void test_qngd(void) {
  qdm_train_opts o;
  small_opts(&o, "qngd");
  o.optimizer = QDM_OPTIM_QNGD;
  CHECK(qdm_train(&o) == QDM_OK, "QNGD run: %s", qdm_errmsg());
  double la[16], lb[16];
  int na = read_metrics("qngd", la);
  CHECK(na == 4 && la[3] < 0.8 * la[0], "QNGD loss falls: %.5f -> %.5f", la[0], na == 4 ? la[3] : 0);
  small_opts(&o, "qngd-resumed");
  o.optimizer = QDM_OPTIM_QNGD;
  o.stop_after = 7;
  CHECK(qdm_train(&o) == QDM_EINTR, "QNGD run stopped");
  o.stop_after = 0;
  o.resume = 1;
  CHECK(qdm_train(&o) == QDM_OK, "QNGD run resumed: %s", qdm_errmsg());
  int nb = read_metrics("qngd-resumed", lb);
  CHECK(nb == na && la[na - 1] == lb[nb - 1], "QNGD resumed run ends with the same loss: %.17g vs %.17g", la[na - 1],
        lb[nb - 1]);
  size_t n1 = 0, n2 = 0;
  double *t1 = read_theta("straight", "checkpoint.safetensors", &n1), *t2 = read_theta("qngd", "checkpoint.safetensors", &n2);
  CHECK(t1 && t2 && n1 == n2 && memcmp(t1, t2, n1 * sizeof *t1) != 0, "QNGD moves the angles differently from Adam");
  free(t1);
  free(t2);
  small_opts(&o, "qngd-bad");
  o.optimizer = QDM_OPTIM_QNGD;
  CHECK(qdm_enum_parse(qdm_metric_names, "qngd metric", "nope") < 0 && strstr(qdm_errmsg(), "nope") &&
            strstr(qdm_errmsg(), "block"),
        "an unknown metric name is named with the accepted ones: %s", qdm_errmsg());
  o.qngd_metric = 99;
  CHECK(qdm_train(&o) == QDM_EINVAL && strstr(qdm_errmsg(), "metric"), "a bad metric kind is refused: %s", qdm_errmsg());
  CHECK(access(o.out, F_OK) != 0, "... before any work (no run directory %s)", o.out);
}

static void test_sample(void) {
  qdm_sample_opts s;
  qdm_sample_opts_default(&s);
  snprintf(s.checkpoint, sizeof s.checkpoint, "%s/straight/best.safetensors", dir);
  s.n = 3;
  snprintf(s.labels, sizeof s.labels, "0,1");
  s.seed = 7;
  snprintf(s.png, sizeof s.png, "%s/s.png", dir);
  snprintf(s.idx, sizeof s.idx, "%s/s-images-idx3-ubyte", dir);
  snprintf(s.idx_labels, sizeof s.idx_labels, "%s/s-labels-idx1-ubyte", dir);
  CHECK(qdm_sample_run(&s) == QDM_OK, "sample: %s", qdm_errmsg());
  qdm_dataset d = {0};
  CHECK(qdm_dataset_from_idx(s.idx, s.idx_labels, &d) == QDM_OK, "samples read back: %s", qdm_errmsg());
  CHECK(d.n == 6 && d.h == 16 && d.w == 16, "6 samples of 16x16 (got %d of %dx%d)", d.n, d.h, d.w);
  if (d.n == 6 && d.y) CHECK(d.y[0] == 0 && d.y[5] == 1, "labels in order");
  /* same seed, same images */
  float *first = d.n ? malloc((size_t)d.n * 256 * sizeof(float)) : NULL;
  if (first) memcpy(first, d.x, (size_t)d.n * 256 * sizeof(float));
  qdm_dataset_free(&d);
  CHECK(qdm_sample_run(&s) == QDM_OK, "sample again");
  qdm_dataset_from_idx(s.idx, NULL, &d);
  CHECK(first && d.n == 6 && memcmp(first, d.x, (size_t)6 * 256 * sizeof(float)) == 0, "sampling is deterministic with a seed");
  free(first);
  qdm_dataset_free(&d);
}

/* qdm sample defaults to the labels the model was trained on and refuses
 * the others; an unconditional model takes no label. The reference is the
 * training data: labels 0 and 1 only, in a model with ten classes. */
static void test_sample_labels(void) {
  qdm_train_opts o;
  small_opts(&o, "ten");
  o.model.classes = 10;
  snprintf(o.digits, sizeof o.digits, "0-9");
  o.epochs = 1;
  CHECK(qdm_train(&o) == QDM_OK, "10-class model trained on digits 0, 1: %s", qdm_errmsg());
  qdm_sample_opts s;
  qdm_sample_opts_default(&s);
  snprintf(s.checkpoint, sizeof s.checkpoint, "%s/ten/best.safetensors", dir);
  s.n = 2;
  snprintf(s.idx, sizeof s.idx, "%s/ten-images-idx3-ubyte", dir);
  snprintf(s.idx_labels, sizeof s.idx_labels, "%s/ten-labels-idx1-ubyte", dir);
  CHECK(qdm_sample_run(&s) == QDM_OK, "sample with the default labels: %s", qdm_errmsg());
  qdm_dataset d = {0};
  CHECK(qdm_dataset_from_idx(s.idx, s.idx_labels, &d) == QDM_OK, "read back");
  CHECK(d.n == 4 && d.y && d.y[0] == 0 && d.y[1] == 0 && d.y[2] == 1 && d.y[3] == 1,
        "2 images of each trained label, 0 and 1 (got %d images)", d.n);
  qdm_dataset_free(&d);
  snprintf(s.labels, sizeof s.labels, "1,7");
  CHECK(qdm_sample_run(&s) == QDM_EINVAL && strstr(qdm_errmsg(), "label 7") && strstr(qdm_errmsg(), "0,1"),
        "a label the model never saw is refused: %s", qdm_errmsg());
  snprintf(s.labels, sizeof s.labels, "12");
  CHECK(qdm_sample_run(&s) == QDM_EINVAL && strstr(qdm_errmsg(), "label 12"), "a label past its classes too: %s",
        qdm_errmsg());
  /* unconditional */
  small_opts(&o, "uncond");
  o.model.conditional = 0;
  o.epochs = 1;
  CHECK(qdm_train(&o) == QDM_OK, "unconditional model: %s", qdm_errmsg());
  snprintf(s.checkpoint, sizeof s.checkpoint, "%s/uncond/best.safetensors", dir);
  snprintf(s.labels, sizeof s.labels, "0");
  CHECK(qdm_sample_run(&s) == QDM_EINVAL && strstr(qdm_errmsg(), "unconditional"),
        "labels for an unconditional model are refused: %s", qdm_errmsg());
  s.labels[0] = 0;
  CHECK(qdm_sample_run(&s) == QDM_EINVAL && strstr(qdm_errmsg(), "no labels"),
        "and so are label files: %s", qdm_errmsg());
  s.idx_labels[0] = 0;
  s.n = 3;
  CHECK(qdm_sample_run(&s) == QDM_OK, "unconditional sampling: %s", qdm_errmsg());
  CHECK(qdm_dataset_from_idx(s.idx, NULL, &d) == QDM_OK && d.n == 3, "n images, one group (got %d)", d.n);
  qdm_dataset_free(&d);
}

static void test_bad_data(void) {
  char bad[600], p[700];
  snprintf(bad, sizeof bad, "%s/bad", dir);
  mkdir(bad, 0755);
  snprintf(p, sizeof p, "%s/train-images-idx3-ubyte", bad);
  FILE *f = fopen(p, "wb");
  unsigned char hdr[16] = {0, 0, 8, 2, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28}; /* wrong magic 0x802 */
  fwrite(hdr, 1, 16, f);
  fclose(f);
  snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte", bad);
  f = fopen(p, "wb");
  unsigned char lh[9] = {0, 0, 8, 1, 0, 0, 0, 1, 0};
  fwrite(lh, 1, 9, f);
  fclose(f);
  qdm_train_opts o;
  small_opts(&o, "badrun");
  snprintf(o.data, sizeof o.data, "%s", bad);
  CHECK(qdm_train(&o) != QDM_OK, "bad image file rejected");
  CHECK(strstr(qdm_errmsg(), "train-images-idx3-ubyte") != NULL, "message names the file: %s", qdm_errmsg());
  small_opts(&o, "badrun2");
  snprintf(o.data, sizeof o.data, "%s/nowhere", dir);
  CHECK(qdm_train(&o) != QDM_OK, "missing data directory rejected: %s", qdm_errmsg());
  small_opts(&o, "badrun3");
  qdm_train_opts keep = o;
  CHECK(qdm__opts_set(&o, "schedule", "zigzag") != QDM_OK && strstr(qdm_errmsg(), "zigzag"),
        "unknown schedule name refused and named: %s", qdm_errmsg());
  CHECK(o.schedule == keep.schedule, "the setting is left as it was");
  o.schedule = (qdm_sched_kind)42;
  CHECK(qdm_train(&o) == QDM_EINVAL && strstr(qdm_errmsg(), "schedule"), "a bad schedule kind is refused: %s", qdm_errmsg());
  o = keep;
  o.sampler = (qdm_sampler_kind)7;
  CHECK(qdm_train(&o) == QDM_EINVAL && strstr(qdm_errmsg(), "sampler"), "a bad sampler is refused before training: %s",
        qdm_errmsg());
  CHECK(access(o.out, F_OK) != 0, "... before any work (no run directory %s)", o.out);
}

/* A checkpoint whose generator state has a letter that is not a hex digit
 * (the same length, so the header still parses): the resume is refused,
 * naming the file and the key, and the checkpoint is left as it was. A
 * reader that stopped at the bad digit would have resumed on another
 * stream, silently. */
static void test_bad_generator_state(void) {
  qdm_train_opts o;
  small_opts(&o, "bad-rng");
  o.stop_after = 5;
  CHECK(qdm_train(&o) == QDM_EINTR, "run stopped after 5 batches");
  char p[700];
  snprintf(p, sizeof p, "%s/bad-rng/checkpoint.safetensors", dir);
  FILE *f = fopen(p, "r+b");
  static unsigned char head[1 << 16], after[1 << 16];
  size_t n = f ? fread(head, 1, sizeof head - 1, f) : 0;
  char *at = n ? strstr((char *)head + 8, "\"state.rng\":\"") : NULL;
  CHECK(at != NULL, "the checkpoint's header holds state.rng");
  if (!f || !at) { if (f) fclose(f); return; }
  at[strlen("\"state.rng\":\"") + 9] = 'z';
  fseek(f, 0, SEEK_SET);
  CHECK(fwrite(head, 1, n, f) == n, "rewrote %s", p);
  fclose(f);
  o.resume = 1;
  o.stop_after = 0;
  int rc = qdm_train(&o);
  CHECK(rc == QDM_EFORMAT && strstr(qdm_errmsg(), p) && strstr(qdm_errmsg(), "'state.rng'") &&
            strstr(qdm_errmsg(), "expected 64 hex digits"),
        "a bad generator digit: rc %d '%s'", rc, qdm_errmsg());
  f = fopen(p, "rb");
  size_t m = f ? fread(after, 1, sizeof after - 1, f) : 0;
  if (f) fclose(f);
  CHECK(m == n && !memcmp(head, after, n), "the refused checkpoint is left as it was");
}

/* A checkpoint with a bad setting: the message names the file and keeps
 * the setting's own message whole (it was formatted into itself before). */
static void test_bad_checkpoint_message(void) {
  char path[700];
  snprintf(path, sizeof path, "%s/bad-setting.safetensors", dir);
  double v = 1;
  qdm_tensor t = {"x", 1, {1, 0, 0, 0}, &v, NULL};
  const char *meta[] = {"format", "qdm-checkpoint-1", "epochs", "abc", NULL};
  CHECK(qdm_safetensors_write(path, &t, 1, meta) == QDM_OK, "wrote %s", path);
  qdm_train_opts o;
  qdm_unet *m = NULL;
  char want[900];
  snprintf(want, sizeof want, "%s: setting epochs: 'abc' is not a number", path);
  CHECK(qdm_checkpoint_load(path, 4, &o, &m) == QDM_EFORMAT && !strcmp(qdm_errmsg(), want) && !m,
        "message '%s', expected '%s'", qdm_errmsg(), want);
}

/* Checkpoints whose settings describe a model the file does not hold, or
 * beyond the library's bounds: refused, naming the file, before a model is
 * sized by them (2^24 pixels x 65536 hidden would be a 16 TiB layer). */
static void test_checkpoint_sizes(void) {
  char path[700];
  snprintf(path, sizeof path, "%s/huge.safetensors", dir);
  double v = 1;
  qdm_tensor t = {"x", 1, {1, 0, 0, 0}, &v, NULL};
  const char *huge[] = {"format", "qdm-checkpoint-1", "pixels", "16777216", "hidden", "65536", NULL};
  CHECK(qdm_safetensors_write(path, &t, 1, huge) == QDM_OK, "wrote %s", path);
  qdm_train_opts o;
  qdm_unet *m = NULL;
  int rc = qdm_checkpoint_load(path, 4, &o, &m);
  CHECK(rc == QDM_EFORMAT && !m && strstr(qdm_errmsg(), path) && strstr(qdm_errmsg(), "'enc1.weight'"),
        "a model the file does not hold: rc %d '%s'", rc, qdm_errmsg());
  const char *steps[] = {"format", "qdm-checkpoint-1", "T", "20000", NULL};
  CHECK(qdm_safetensors_write(path, &t, 1, steps) == QDM_OK, "wrote %s", path);
  rc = qdm_checkpoint_load(path, 4, &o, &m);
  CHECK(rc == QDM_EFORMAT && !m && strstr(qdm_errmsg(), path) && strstr(qdm_errmsg(), "T = 20000 steps"),
        "T beyond the CLI's bound: rc %d '%s'", rc, qdm_errmsg());
}

int main(void) {
  const char *base = getenv("QDM_TEST_DIR");
  snprintf(dir, sizeof dir, "%s/train-%d", base ? base : "/tmp", (int)getpid());
  char d[600];
  snprintf(d, sizeof d, "%s/data", dir);
  qdm_mkdirs(d);
  write_data(d, 64);
  test_loss_falls_and_resume();
  test_bad_generator_state();
  test_resume_precision(QDM_F32, "f32-straight", "f32-resumed");
  test_resume_precision(QDM_F64, "f64-straight", "f64-resumed");
  test_precision_conversion();
  test_qngd();
  test_t_groups_run();
  test_sample();
  test_sample_labels();
  test_bad_data();
  test_bad_checkpoint_message();
  test_checkpoint_sizes();
  return check_done();
}
