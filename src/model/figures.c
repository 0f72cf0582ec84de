/* figures.c -- what a finished run leaves for people to look at: the loss
 * curve (report Fig. 6), the forward process (Fig. 7), a grid of samples
 * with one row per class (Fig. 8), one reverse chain per class, and
 * summary.json with the numbers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/io.h"
#include "run.h"

static int loss_png(const qdm__run *R) {
  char p[2048];
  int err = qdm_path_join(p, sizeof p, R->o.out, "loss.png");
  if (err || R->nhist < 1) return err;
  double *x = malloc(R->nhist * sizeof *x), *l = malloc(R->nhist * sizeof *l), *f = malloc(R->nhist * sizeof *f);
  if (!x || !l || !f) err = qdm_fail(QDM_ENOMEM, "loss.png: out of memory");
  for (int e = 0; !err && e < R->nhist; e++) {
    x[e] = e + 1;
    l[e] = R->hist[4 * e];
    f[e] = R->hist[4 * e + 1];
  }
  qdm_series s[2] = {{"infidelity 1 - |<pred|target>|^2", x, f, R->nhist}, {"training loss", x, l, R->nhist}};
  int ns = R->o.loss == QDM_LOSS_INFIDELITY ? 1 : 2;
  char title[128];
  snprintf(title, sizeof title, "qdm train: preset %s, digits %s", R->o.preset, R->o.digits);
  if (!err) err = qdm_plot_lines(p, title, "epoch", "loss (batch mean)", s, ns, 1);
  free(x); free(l); free(f);
  return err;
}

/* the classes present in the training set, ascending, and one image of each */
static int classes_of(const qdm__run *R, int *cls, int *first) {
  int nc = 0;
  for (int c = 0; c < R->o.model.classes && c < 256; c++)
    for (int i = 0; i < R->data.n; i++)
      if (!R->data.y || R->data.y[i] == c) {
        cls[nc] = c;
        first[nc++] = i;
        break;
      }
  return nc;
}

/* cls[i] < 0: the one row of an unconditional model's samples */
static void row_names(const int *cls, int nc, char names[][16], const char **rl) {
  for (int i = 0; i < nc; i++) {
    if (cls[i] < 0) snprintf(names[i], 16, "all");
    else snprintf(names[i], 16, "%d", cls[i]);
    rl[i] = names[i];
  }
}

/* x_t for t = 0..T of one image per class, with one fixed noise draw */
static int forward_png(qdm__run *R, const int *cls, const int *first, int nc) {
  char p[2048], names[256][16];
  const char *rl[256];
  int err = qdm_path_join(p, sizeof p, R->o.out, "forward.png"), D = R->D, T = R->T;
  if (err) return err;
  float *img = malloc((size_t)nc * (T + 1) * D * sizeof(float));
  double *eps = malloc(2 * (size_t)D * sizeof(double)), *xt = malloc(2 * (size_t)D * sizeof(double));
  if (!img || !eps || !xt) err = qdm_fail(QDM_ENOMEM, "forward.png: out of memory");
  qdm_rng rng;
  qdm_rng_seed(&rng, R->o.seed + 17);
  for (int i = 0; !err && i < nc; i++) {
    qdm__images_to_x0(&R->data, first + i, 1, R->o.data_scale, R->x0);
    qdm_randn(eps, 2 * (size_t)D, &rng);
    for (int t = 0; t <= T; t++) {
      qdm_q_sample(xt, &R->sch, R->x0, eps, &t, 1, 2 * D);
      for (int k = 0; k < D; k++)
        img[((size_t)i * (T + 1) + t) * D + k] = (float)hypot(xt[2 * k], xt[2 * k + 1]);
    }
  }
  if (!err) {
    qdm_scale_max(img, nc * (T + 1), D);
    row_names(cls, nc, names, rl);
    int side = (int)(sqrt((double)D) + 0.5);
    err = qdm_png_grid(p, img, nc * (T + 1), side, side, nc, T + 1, 5, rl);
  }
  free(img); free(eps); free(xt);
  return err;
}

/* Pictures and numbers come from the model that best.safetensors holds:
 * the EMA weights when on (qdm__run_ema_swap puts them in, and back out). */
static int samples_pngs(qdm__run *R, const int *cls, int nc) {
  char p[2048], names[256][16];
  const char *rl[256];
  int D = R->D, T = R->T, per = R->o.samples_per_class > 0 ? R->o.samples_per_class : 8, n = nc * per;
  int side = (int)(sqrt((double)D) + 0.5), err = QDM_OK;
  int *lab = malloc(n * sizeof(int));
  float *img = malloc((size_t)n * D * sizeof(float)), *traj = malloc((size_t)nc * (T + 1) * D * sizeof(float));
  float *one = malloc((size_t)nc * D * sizeof(float));
  if (!lab || !img || !traj || !one) err = qdm_fail(QDM_ENOMEM, "samples.png: out of memory");
  for (int i = 0; !err && i < n; i++) lab[i] = cls[i / per] < 0 ? 0 : cls[i / per];
  qdm__run_ema_swap(R);
  if (!err) err = qdm_generate(R->m, &R->o, NULL, lab, n, R->o.seed + 1, img, NULL);
  for (int i = 0; !err && i < nc; i++) lab[i] = cls[i] < 0 ? 0 : cls[i];
  if (!err) err = qdm_generate(R->m, &R->o, NULL, lab, nc, R->o.seed + 2, one, traj);
  qdm__run_ema_swap(R);
  row_names(cls, nc, names, rl);
  if (!err && !(err = qdm_path_join(p, sizeof p, R->o.out, "samples.png"))) {
    qdm_scale_max(img, n, D);
    err = qdm_png_grid(p, img, n, side, side, nc, per, 5, rl);
  }
  /* the chains take S <= T model steps: columns 0..S of each (T + 1)-wide row */
  qdm_sampler_cfg sc;
  int times[QDM_MAX_T + 1], S;
  qdm_train_sampler(&R->o, &sc);
  S = qdm_sampler_times(&sc, T, times);
  for (int i = 1; !err && S < T && i < nc; i++)
    memmove(traj + (size_t)i * (S + 1) * D, traj + (size_t)i * (T + 1) * D, (size_t)(S + 1) * D * sizeof *traj);
  if (!err && !(err = qdm_path_join(p, sizeof p, R->o.out, "evolution.png"))) {
    qdm_scale_max(traj, nc * (S + 1), D);
    err = qdm_png_grid(p, traj, nc * (S + 1), side, side, nc, S + 1, 5, rl);
  }
  free(lab); free(img); free(traj); free(one);
  return err;
}

/* The variational bound (eqs. 4-5) on up to 128 held-out images (training
 * images when none are held out), with the sampling model's weights. */
#define VLB_IMAGES 128
static int run_vlb(qdm__run *R, qdm_vlb *v, double *bpd, int *heldout) {
  const qdm_dataset *d = R->held.n > 0 ? &R->held : &R->data;
  *heldout = R->held.n > 0;
  qdm__run_ema_swap(R);
  int err = qdm_model_vlb(R->m, &R->o, d, 0, d->n < VLB_IMAGES ? d->n : VLB_IMAGES, R->o.seed + 3, v, bpd);
  qdm__run_ema_swap(R);
  return err;
}

static void vlb_json(qdm_json *j, const qdm_vlb *v, double bpd, int heldout) {
  qdm_json_key(j, "vlb");
  qdm_json_obj(j);
  qdm_json_kv_num(j, "bits_per_dim", bpd);
  qdm_json_kv_num(j, "nats_per_image", v->total);
  qdm_json_kv_num(j, "prior", v->prior);
  qdm_json_kv_num(j, "diffusion", v->diffusion);
  qdm_json_kv_num(j, "decoder", v->decoder);
  qdm_json_kv_int(j, "images", v->rows);
  qdm_json_kv_str(j, "images_from", heldout ? "heldout" : "train");
  qdm_json_obj_end(j);
}

static int summary_json(qdm__run *R) {
  char p[2048];
  qdm_atomic a;
  qdm_vlb v;
  double bpd;
  int heldout;
  int err = run_vlb(R, &v, &bpd, &heldout);
  if (!err) err = qdm_path_join(p, sizeof p, R->o.out, "summary.json");
  if (err || (err = qdm_atomic_open(&a, p))) return err;
  size_t nc, na, ncl;
  qdm_unet_counts(R->m, &nc, &na, &ncl);
  const double *last = R->nhist ? R->hist + 4 * (R->nhist - 1) : NULL;
  double best_inf = INFINITY;
  for (int e = 0; e < R->nhist; e++) best_inf = fmin(best_inf, R->hist[4 * e + 1]);
  qdm_json j;
  qdm_json_init(&j, a.f, 1);
  qdm_json_obj(&j);
  qdm_json_kv_str(&j, "preset", R->o.preset);
  qdm_json_kv_str(&j, "digits", R->o.digits);
  qdm_json_kv_int(&j, "images", R->data.n);
  qdm_json_kv_int(&j, "epochs", R->nhist);
  qdm_json_kv_num(&j, "final_loss", last ? last[0] : NAN);
  qdm_json_kv_num(&j, "best_loss", R->st.best);
  qdm_json_kv_num(&j, "final_infidelity", last ? last[1] : NAN);
  qdm_json_kv_num(&j, "best_infidelity", best_inf);
  qdm_json_kv_num(&j, "seconds", R->st.seconds);
  qdm_json_kv_num(&j, "rows_per_s", R->rows_per_s);
  qdm_json_kv_int(&j, "threads", qdm_threads());
  qdm_json_key(&j, "params");
  qdm_json_obj(&j);
  qdm_json_kv_int(&j, "circuit", (long long)nc);
  qdm_json_kv_int(&j, "ano", (long long)na);
  qdm_json_kv_int(&j, "classical", (long long)ncl);
  qdm_json_kv_int(&j, "total", (long long)(nc + na + ncl));
  qdm_json_obj_end(&j);
  vlb_json(&j, &v, bpd, heldout);
  qdm_json_obj_end(&j);
  qdm_json_end(&j);
  return qdm_atomic_commit(&a);
}

int qdm__run_outputs(qdm__run *R) {
  int cls[256], first[256], nc = classes_of(R, cls, first);
  int err = loss_png(R);
  if (!err) err = forward_png(R, cls, first, nc);
  /* an unconditional model's samples do not depend on a label: one row */
  int one = -1, cond = R->o.model.conditional && R->o.model.classes > 1;
  if (!err) err = samples_pngs(R, cond ? cls : &one, cond ? nc : 1);
  if (!err) err = summary_json(R);
  return err;
}
