/* authors_export.c DIR -- qdm's side of tests/python/test_authors_torch.py.
 * Trains the authors' preset (docs/architecture.md, "The authors'
 * configuration", full size) for one epoch on 16 synthetic 28x28 digits in
 * DIR/data, leaving DIR/run/checkpoint.safetensors; then takes one step of
 * qdm's own training loop (qdm__run_step, what every batch of `qdm train`
 * goes through) from that checkpoint on its first 8 images, and writes
 * DIR/step.safetensors:
 *   images   8 x 784  the batch's 28x28 pixels as read from the IDX file
 *   x0       8 x 512  the preprocessed images as complex rows ([re, im] pairs)
 *   eps      80 x 512 the complex Gaussian noise drawn for the 80 rows
 *   t, label 80       each row's step and label (as doubles)
 *   xin      80 x 512 the unit x_t the model saw; target 80 x 512 the unit target
 *   loss     1        the batch's infidelity
 *   grad.NAME         every parameter tensor's gradient
 *   after.NAME        every parameter tensor after the Adam step
 * and metadata lr (the step's learning rate). The test computes all of it
 * again in plain PyTorch from the checkpoint's weights and Adam moments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/run.h"
#include "qdm/data.h"
#include "qdm/io.h"
#include "qdm/train.h"

enum { N_IMG = 16, B_IMG = 8 };

static int die(const char *what) {
  fprintf(stderr, "authors_export: %s: %s\n", what, qdm_errmsg());
  return 1;
}

/* digit-like strokes with noise: a bar whose place and slant follow the label */
static int write_data(const char *dir) {
  float *img = calloc((size_t)N_IMG * 784, sizeof(float));
  uint8_t lab[N_IMG];
  qdm_rng r;
  qdm_rng_seed(&r, 2025);
  for (int i = 0; i < N_IMG; i++) {
    lab[i] = (uint8_t)(i % 10);
    for (int y = 0; y < 28; y++)
      for (int x = 0; x < 28; x++) {
        double cx = 6 + 1.6 * lab[i] + (y - 14) * 0.05 * (lab[i] - 4.5);
        double v = (x > cx - 2 && x < cx + 2 && y > 4 && y < 24) ? 0.9 : 0;
        img[(size_t)i * 784 + y * 28 + x] = (float)(v + 0.1 * qdm_rng_uniform(&r));
      }
  }
  char p[1200];
  int err = qdm_mkdirs(dir);
  snprintf(p, sizeof p, "%s/train-images-idx3-ubyte", dir);
  if (!err) err = qdm_idx_write_images(p, img, N_IMG, 28, 28);
  snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte", dir);
  if (!err) err = qdm_idx_write_labels(p, lab, N_IMG);
  free(img);
  return err;
}

/* The run object of a checkpoint: settings, data, model, optimiser, state. */
static int run_from(qdm__run *R, const char *ckpt) {
  memset(R, 0, sizeof *R);
  int err = qdm_checkpoint_settings(ckpt, &R->o);
  qdm_data_opts d = {R->o.data, "train", R->o.digits, R->o.limit, 16, R->o.subset, R->o.seed, NULL};
  if (!err) err = qdm_data_load(&d, &R->data);
  if (!err) err = qdm__run_alloc(R);
  if (!err) err = qdm__run_model(R, R->o.batch * R->o.model.T);
  if (!err) err = qdm__run_optimizer(R);
  if (!err) err = qdm__ckpt_load(ckpt, R->m, &R->st, &R->opt, R->ema, R->hist, &R->nhist, R->o.epochs + 1);
  for (int i = 0; !err && i < R->data.n; i++) R->order[i] = i; /* the batch: images 0..7 */
  return err;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: authors_export DIR\n");
    return 2;
  }
  char data[900], out[900], ckpt[1000], step[1000];
  snprintf(data, sizeof data, "%s/data", argv[1]);
  snprintf(out, sizeof out, "%s/run", argv[1]);
  snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", out);
  snprintf(step, sizeof step, "%s/step.safetensors", argv[1]);
  if (write_data(data)) return die("data");
  qdm_train_opts o;
  qdm_train_preset(&o, "authors");
  /* in double: the test's PyTorch model is float64, to 1e-6 (the float
   * classical part is checked against the double one by test_model) */
  o.model.precision = QDM_F64;
  snprintf(o.data, sizeof o.data, "%s", data);
  snprintf(o.out, sizeof o.out, "%s", out);
  o.limit = N_IMG;
  o.batch = B_IMG;
  o.epochs = 1;
  o.force = 1;
  o.quiet = 1;
  o.samples_per_class = 1;
  if (qdm_train(&o)) return die("train one epoch");
  qdm__run R;
  if (run_from(&R, ckpt)) return die(ckpt);
  int T = R.T, D = R.D, rows = B_IMG * T;
  double lr = qdm_lr_step_decay(R.o.lr, R.o.lr_gamma, R.o.lr_step, R.st.epoch), loss, inf;
  qdm_rng before = R.st.rng;
  if (qdm__run_grads(&R, 0, B_IMG, &loss, &inf)) return die("step's gradient");
  static double *grads[16]; /* the update consumes them */
  for (int i = 0; i < qdm_unet_nparams(R.m) && i < 16; i++) {
    qdm_unet_param *p = qdm_unet_param_at(R.m, i);
    if (!(grads[i] = malloc(p->n * sizeof(double)))) return die("out of memory");
    memcpy(grads[i], p->g, p->n * sizeof(double));
  }
  if (qdm__run_update(&R, lr, loss)) return die("step's update");
  /* the step's noise, drawn again from the same generator state */
  double *eps = malloc((size_t)rows * 2 * D * sizeof *eps), *xt = malloc((size_t)rows * 2 * D * sizeof *xt);
  double *tg = malloc((size_t)rows * 2 * D * sizeof *tg), *tt = malloc(rows * sizeof *tt), *lb = malloc(rows * sizeof *lb);
  int *ti = malloc(rows * sizeof *ti);
  uint64_t seed = qdm_rng_u64(&before); /* the step's scheme (run.h, qdm__run_step) */
  for (int i = 0; i < B_IMG; i++) {
    qdm_rng r;
    qdm_rng_stream(&r, seed, (uint64_t)i);
    size_t o = (size_t)i * T * 2 * D;
    if (qdm_make_rows_all_t(xt + o, eps + o, tg + o, ti + (size_t)i * T, &R.sch, R.o.target, R.x0 + (size_t)i * 2 * D,
                            1, 2 * D, &r))
      return die("rows");
  }
  qdm_cl2norm_forward((qdm_cplx *)xt, NULL, (const qdm_cplx *)xt, rows, D); /* the step's input is x_t normalised */
  if (memcmp(xt, R.xin, (size_t)rows * 2 * D * sizeof *xt)) {
    fprintf(stderr, "authors_export: the noise drawn again is not the step's\n");
    return 1;
  }
  for (int r = 0; r < rows; r++) tt[r] = R.tt[r], lb[r] = R.lab[r];
  qdm_dataset raw;
  char im[1200], lab[1200];
  snprintf(im, sizeof im, "%s/train-images-idx3-ubyte", data);
  snprintf(lab, sizeof lab, "%s/train-labels-idx1-ubyte", data);
  if (qdm_dataset_from_idx(im, lab, &raw)) return die(im);
  double *img = malloc((size_t)B_IMG * 784 * sizeof *img);
  for (int i = 0; i < B_IMG * 784; i++) img[i] = raw.x[i];
  qdm_tensor t[64];
  int nt = 0;
  t[nt++] = (qdm_tensor){"images", 2, {B_IMG, 784, 0, 0}, img, NULL};
  t[nt++] = (qdm_tensor){"x0", 2, {B_IMG, 2 * D, 0, 0}, R.x0, NULL};
  t[nt++] = (qdm_tensor){"eps", 2, {rows, 2 * D, 0, 0}, eps, NULL};
  t[nt++] = (qdm_tensor){"t", 1, {rows, 0, 0, 0}, tt, NULL};
  t[nt++] = (qdm_tensor){"label", 1, {rows, 0, 0, 0}, lb, NULL};
  t[nt++] = (qdm_tensor){"xin", 2, {rows, 2 * D, 0, 0}, (double *)R.xin, NULL};
  t[nt++] = (qdm_tensor){"target", 2, {rows, 2 * D, 0, 0}, (double *)R.tgn, NULL};
  t[nt++] = (qdm_tensor){"loss", 1, {1, 0, 0, 0}, &loss, NULL};
  static char names[2][16][48];
  for (int i = 0; i < qdm_unet_nparams(R.m) && i < 16; i++) {
    qdm_unet_param *p = qdm_unet_param_at(R.m, i);
    snprintf(names[0][i], sizeof names[0][i], "grad.%s", p->name);
    snprintf(names[1][i], sizeof names[1][i], "after.%s", p->name);
    qdm_tensor a = {names[0][i], p->ndim, {p->shape[0], p->shape[1], p->shape[2], p->shape[3]}, grads[i], NULL};
    t[nt++] = a;
    a.name = names[1][i];
    a.data = p->p;
    t[nt++] = a;
  }
  char lrs[64];
  snprintf(lrs, sizeof lrs, "%.17g", lr);
  const char *meta[] = {"lr", lrs, NULL};
  if (qdm_safetensors_write(step, t, nt, meta)) return die(step);
  printf("authors_export: %s (loss %.12f, %d rows)\n", step, loss, rows);
  free(eps); free(xt); free(tg); free(tt); free(lb); free(ti); free(img);
  for (int i = 0; i < 16; i++) free(grads[i]);
  qdm_dataset_free(&raw);
  qdm__run_free(&R);
  return 0;
}
