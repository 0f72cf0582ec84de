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

/* "runs/x: preset default, MNIST digits 0,1[, 30 epochs]" (Fashion-MNIST:
 * "classes"; the digits option holds the class filter either way) */
static void run_words(const qdm__run *R, char *buf, size_t len, int epochs) {
  int fashion = !strcmp(qdm_class_word(R->o.data), "classes"), k;
  k = snprintf(buf, len, "%s: preset %s, %s %s %s", R->o.out, R->o.preset, fashion ? "Fashion-MNIST" : "MNIST",
               qdm_class_word(R->o.data), R->o.digits[0] ? R->o.digits : "all");
  if (epochs && k > 0 && (size_t)k < len) snprintf(buf + k, len - k, ", %d epoch%s", R->nhist, R->nhist == 1 ? "" : "s");
}

/* Report Fig. 6. Infidelity and the training loss are different numbers
 * when the loss is not the infidelity (MSE of x0 or eps): one panel each,
 * each on its own log axis, instead of two curves on one scale. */
static int loss_png(const qdm__run *R) {
  char p[2048], title[1400], what[1200];
  int err = qdm_path_join(p, sizeof p, R->o.out, "loss.png");
  if (err || R->nhist < 1) return err;
  double *x = malloc(R->nhist * sizeof *x), *l = malloc(R->nhist * sizeof *l), *f = malloc(R->nhist * sizeof *f);
  if (!x || !l || !f) err = qdm_fail(QDM_ENOMEM, "loss.png: out of memory");
  for (int e = 0; !err && e < R->nhist; e++) {
    x[e] = e + 1;
    l[e] = R->hist[4 * e];
    f[e] = R->hist[4 * e + 1];
  }
  run_words(R, what, sizeof what, 1);
  snprintf(title, sizeof title, "qdm train, loss per epoch: %s", what);
  char ltitle[96], llabel[64];
  const char *lname = R->o.loss == QDM_LOSS_MSE ? "MSE" : qdm_enum_str(qdm_loss_names, R->o.loss);
  snprintf(ltitle, sizeof ltitle, "training loss (%s, the objective)", lname);
  snprintf(llabel, sizeof llabel, "%s loss, epoch mean", lname);
  qdm_series sf = {NULL, x, f, R->nhist}, sl = {NULL, x, l, R->nhist}; /* one curve a panel: no legend */
  qdm_panel pn[2] = {{"infidelity 1 - |<pred|target>|^2", "epoch", "infidelity, epoch mean", &sf, 1, 1},
                     {ltitle, "epoch", llabel, &sl, 1, 1}};
  int np = R->o.loss == QDM_LOSS_INFIDELITY ? 1 : 2;
  if (np == 1) pn[0].title = "infidelity 1 - |<pred|target>|^2 (the training loss)";
  if (!err) err = qdm_plot_panels(p, title, pn, np, 2);
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

/* Which of n columns a picture shows: all up to MAX_COLS, else MAX_COLS
 * evenly spaced ones (the first and the last among them), so a long
 * diffusion stays a picture of readable size. */
enum { MAX_COLS = 11 };
static int pick_cols(int n, int *col) {
  int m = n <= MAX_COLS ? n : MAX_COLS;
  for (int j = 0; j < m; j++) col[j] = m == n ? j : (int)lround((double)j * (n - 1) / (m - 1));
  return m;
}

/* One grid: rows x the picked columns of img (rows x n x D), labelled. */
static int labelled_grid(const qdm__run *R, const char *file, const float *img, int rows, int n, const int *col, int m,
                         const char *const *rl, const char *const *cl, const char *title, const char *col_title) {
  char p[2048];
  int D = R->D, side = (int)(sqrt((double)D) + 0.5), err = qdm_path_join(p, sizeof p, R->o.out, file);
  float *pick = err ? NULL : malloc((size_t)rows * m * D * sizeof *pick);
  if (!err && !pick) err = qdm_fail(QDM_ENOMEM, "%s: out of memory", file);
  for (int i = 0; !err && i < rows; i++)
    for (int j = 0; j < m; j++)
      memcpy(pick + ((size_t)i * m + j) * D, img + ((size_t)i * n + col[j]) * D, (size_t)D * sizeof *pick);
  qdm_grid_text tx = {title, rl, cl, col_title};
  if (!err) err = qdm_png_grid_text(p, pick, rows * m, side, side, rows, m, 5, &tx);
  free(pick);
  return err;
}

/* x_t for t = 0..T of one image per class, with one fixed noise draw (report Fig. 7) */
static int forward_png(qdm__run *R, const int *cls, const int *first, int nc) {
  char names[256][QDM__NAME_LEN], cn[MAX_COLS][16], title[1400], what[1200];
  const char *rl[256], *cl[MAX_COLS];
  int err = QDM_OK, D = R->D, T = R->T, col[MAX_COLS], m = pick_cols(T + 1, col);
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
  for (int j = 0; j < m; j++) snprintf(cn[j], sizeof cn[j], "t=%d", col[j]), cl[j] = cn[j];
  run_words(R, what, sizeof what, 0);
  snprintf(title, sizeof title, "qdm train, forward process q(x_t | x_0): %s\n%s schedule, T = %d; |x_t| of one "
           "training image per class, one noise draw", what, qdm_enum_str(qdm_schedule_names, R->o.schedule), T);
  if (!err) {
    qdm_scale_max(img, nc * (T + 1), D);
    qdm__row_names(R->o.data, cls, nc, names, rl);
    err = labelled_grid(R, "forward.png", img, nc, T + 1, col, m, rl, cl, title, "t: noising step (0 = data)");
  }
  free(img); free(eps); free(xt);
  return err;
}

static int best_epoch(const qdm__run *R) {
  int b = R->nhist;
  for (int e = 0; e < R->nhist; e++)
    if (R->hist[4 * e] == R->st.best) b = e + 1;
  return b;
}

/* Pictures and numbers come from the model that best.safetensors holds:
 * the EMA weights when on (qdm__run_ema_swap puts them in, and back out). */
static int samples_pngs(qdm__run *R, const int *cls, int nc) {
  char names[256][QDM__NAME_LEN], title[1600], what[1200], st[128], cn[MAX_COLS][16];
  const char *rl[256], *cl[MAX_COLS];
  int D = R->D, T = R->T, per = R->o.samples_per_class > 0 ? R->o.samples_per_class : 8, n = nc * per;
  int err = QDM_OK, col[MAX_COLS], all[64];
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
  qdm__row_names(R->o.data, cls, nc, names, rl);
  qdm_sampler_cfg sc;
  int times[QDM_MAX_T + 1], S;
  qdm_train_sampler(&R->o, &sc);
  S = qdm_sampler_times(&sc, T, times);
  qdm__sampler_text(&sc, T, st, sizeof st);
  run_words(R, what, sizeof what, 1);
  char model[64];
  snprintf(model, sizeof model, "best model (epoch %d%s)", best_epoch(R), R->o.ema > 0 ? ", EMA weights" : "");
  snprintf(title, sizeof title, "qdm train, samples: %s\n%s, %s; one row per class, each column a chain from noise",
           what, model, st);
  for (int j = 0; j < per; j++) all[j] = j;
  if (!err) {
    qdm_scale_max(img, n, D);
    err = labelled_grid(R, "samples.png", img, nc, per, all, per, rl, NULL, title, NULL);
  }
  /* the chains take S <= T model steps: columns 0..S of each (T + 1)-wide row */
  for (int i = 1; !err && S < T && i < nc; i++)
    memmove(traj + (size_t)i * (S + 1) * D, traj + (size_t)i * (T + 1) * D, (size_t)(S + 1) * D * sizeof *traj);
  int m = pick_cols(S + 1, col);
  for (int j = 0; j < m; j++) snprintf(cn[j], sizeof cn[j], "t=%d", times[col[j]]), cl[j] = cn[j];
  snprintf(title, sizeof title, "qdm train, reverse chains: %s\n%s, %s; |z| from noise (t = T) to the image (t = 0)",
           what, model, st);
  if (!err) {
    qdm_scale_max(traj, nc * (S + 1), D);
    err = labelled_grid(R, "evolution.png", traj, nc, S + 1, col, m, rl, cl, title, "t: the step the chain is at");
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
