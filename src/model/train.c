/* train.c -- a training run of the hybrid U-Net, end to end: data, the
 * authors' batch recipe (every image at every step t), Adam with step decay,
 * checkpoints that resume to the same numbers, progress, and the pictures
 * and summaries a user looks at. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "qdm/io.h"
#include "qdm/qngd.h"
#include "runimpl.h"

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

int qdm_train_preset(qdm_train_opts *o, const char *name) {
  memset(o, 0, sizeof *o);
  qdm_unet_cfg_authors(&o->model);
  snprintf(o->data, sizeof o->data, "mnist");
  o->beta_start = 1e-4;
  o->beta_end = 0.02;
  o->batch = 32;
  o->lr = 1e-3;
  o->lr_gamma = 0.97;
  o->lr_step = 10;
  o->seed = 1;
  o->samples_per_class = 8;
  snprintf(o->out, sizeof o->out, "runs/latest");
  snprintf(o->optimizer, sizeof o->optimizer, "adam");
  snprintf(o->qngd_metric, sizeof o->qngd_metric, "block");
  o->qngd_lr = 0.05;
  o->qngd_lambda = 1e-3;
  if (!strcmp(name, "authors")) { /* DESIGN.md section 2, exactly */
    snprintf(o->preset, sizeof o->preset, "authors");
    snprintf(o->digits, sizeof o->digits, "all");
    o->limit = 8096;
    snprintf(o->schedule, sizeof o->schedule, "authors-linear");
    o->target = QDM_PRED_MEAN;
    o->loss = QDM_LOSS_INFIDELITY;
    snprintf(o->sampler, sizeof o->sampler, "mean");
    o->epochs = 100;
    return QDM_OK;
  }
  if (!strcmp(name, "default")) {
    /* qdm's own: a schedule that reaches noise (cosine, alpha_bar_T ~ 0),
     * data at unit RMS per value like the noise, an x0 target with a
     * phase-aware loss, ancestral sampling with t and label passed. */
    snprintf(o->preset, sizeof o->preset, "default");
    snprintf(o->digits, sizeof o->digits, "0,1");
    o->heldout = 0.1;
    snprintf(o->schedule, sizeof o->schedule, "cosine");
    o->target = QDM_PRED_X0;
    o->loss = QDM_LOSS_MSE;
    snprintf(o->sampler, sizeof o->sampler, "ddpm");
    o->epochs = 30;
    o->data_scale = 1;
    return QDM_OK;
  }
  return qdm_fail(QDM_EINVAL, "unknown preset '%s' (expected default or authors)", name);
}

/* ---------------- setting up ---------------- */

int tu_schedule(qdm_schedule *s, const char *name, int T, double b0, double b1) {
  if (!strcmp(name, "authors-linear")) return qdm_schedule_linear_authors(s, T, b0, b1);
  if (!strcmp(name, "linear")) return qdm_schedule_linear(s, T, b0, b1);
  if (!strcmp(name, "cosine")) return qdm_schedule_cosine(s, T, 0.008);
  return qdm_fail(QDM_EINVAL, "--schedule '%s': expected authors-linear, linear or cosine", name);
}

/* x0 rows (complex, interleaved) of images idx[0..n-1]: the preprocessed
 * values as the real part, or scaled to RMS `scale` per value if > 0
 * (qdm's default: the data then sit at the noise's scale). */
void tu_images_to_x0(const qdm_dataset *d, const int *idx, int n, double scale, double *x0) {
  int D = d->h * d->w;
  for (int i = 0; i < n; i++) {
    const float *img = d->x + (size_t)idx[i] * D;
    double nn = 0;
    for (int k = 0; k < D; k++) nn += (double)img[k] * img[k];
    double f = scale > 0 && nn > 0 ? scale * sqrt((double)D / nn) : 1.0;
    for (int k = 0; k < D; k++) {
      x0[((size_t)i * D + k) * 2] = f * img[k];
      x0[((size_t)i * D + k) * 2 + 1] = 0;
    }
  }
}

static int load_data(run *R) {
  const qdm_train_opts *o = &R->o;
  qdm_dataset all = {0};
  qdm_data_opts d = {o->data, "train", o->digits, o->limit, 16};
  int err = qdm_data_load(&d, &all);
  if (err) return err;
  if (all.h * all.w != o->model.D) {
    qdm_dataset_free(&all);
    return qdm_fail(QDM_EINVAL, "train: images are %dx%d = %d values, the model expects %d", all.h, all.w, all.h * all.w,
                    o->model.D);
  }
  err = qdm_dataset_split(&all, o->heldout, &R->data, &R->held);
  qdm_dataset_free(&all);
  if (!err && R->data.n < 1) err = qdm_fail(QDM_EINVAL, "train: no training images left after the held-out split");
  for (int i = 0; !err && R->data.y && i < R->data.n; i++)
    if (R->data.y[i] >= o->model.classes)
      err = qdm_fail(QDM_EINVAL, "train: label %d at image %d, but the model has %d classes", R->data.y[i], i,
                     o->model.classes);
  return err;
}

int run_alloc(run *R) {
  const qdm_train_opts *o = &R->o;
  R->D = o->model.D;
  R->T = o->model.T;
  R->rows_max = o->batch * R->T;
  size_t rows = R->rows_max, D2 = 2 * (size_t)R->D;
  R->x0 = malloc(o->batch * D2 * sizeof(double));
  R->xt = malloc(rows * D2 * sizeof(double));
  R->tgt = malloc(rows * D2 * sizeof(double));
  R->tt = malloc(rows * sizeof(int));
  R->lab = malloc(rows * sizeof(int));
  R->xin = malloc(rows * R->D * sizeof(qdm_cplx));
  R->tgn = malloc(rows * R->D * sizeof(qdm_cplx));
  R->out = malloc(rows * R->D * sizeof(qdm_cplx));
  R->g = malloc(rows * R->D * sizeof(qdm_cplx));
  R->order = malloc((R->data.n > 0 ? R->data.n : 1) * sizeof(int));
  R->hist = calloc(4 * (size_t)(o->epochs + 1), sizeof(double));
  if (!R->x0 || !R->xt || !R->tgt || !R->tt || !R->lab || !R->xin || !R->tgn || !R->out || !R->g || !R->order ||
      !R->hist)
    return qdm_fail(QDM_ENOMEM, "train: out of memory for batches of %d rows", R->rows_max);
  return QDM_OK;
}

void run_free(run *R) {
  run_qngd_free(R);
  qdm_unet_free(R->m);
  if (R->opt.m) qdm_adam_free(&R->opt);
  qdm_schedule_free(&R->sch);
  qdm_dataset_free(&R->data);
  qdm_dataset_free(&R->held);
  free(R->ema); free(R->x0); free(R->xt); free(R->tgt); free(R->tt); free(R->lab); free(R->xin);
  free(R->tgn); free(R->out); free(R->g); free(R->order); free(R->hist);
  memset(R, 0, sizeof *R);
}

int run_optimizer(run *R) {
  const qdm_train_opts *o = &R->o;
  int err = qdm_adam_init(&R->opt, 0.9, 0.999, 1e-8, 0);
  for (int i = 0; !err && i < qdm_unet_nparams(R->m); i++) {
    qdm_unet_param *p = qdm_unet_param_at(R->m, i);
    double rate = p->group == QDM_PG_CIRCUIT && o->circuit_lr > 0 ? o->circuit_lr
                  : p->group == QDM_PG_ANO && o->ano_lr > 0       ? o->ano_lr
                                                                   : o->lr;
    err = qdm_adam_add_group(&R->opt, p->name, p->p, p->g, p->n, rate / o->lr, o->weight_decay);
  }
  R->np = tu_params_count(R->m);
  if (!err && o->ema > 0) {
    R->ema = malloc(R->np * sizeof(double));
    if (!R->ema) return qdm_fail(QDM_ENOMEM, "train: out of memory for the EMA copy");
    tu_params_get(R->m, R->ema);
  }
  return err;
}

int run_model(run *R) {
  const qdm_train_opts *o = &R->o;
  int err = tu_schedule(&R->sch, o->schedule, o->model.T, o->beta_start, o->beta_end);
  if (err) return err;
  qdm_rng init;
  qdm_rng_seed(&init, o->seed);
  int rows = o->batch * o->model.T;
  R->m = qdm_unet_new(&o->model, rows > 64 ? rows : 64, &init); /* >= 64: a sampling chunk */
  if (!R->m) return QDM_EINVAL;
  qdm_rng_seed(&R->st.rng, o->seed ^ 0x5eedULL);
  R->st.best = INFINITY;
  return QDM_OK;
}

/* Fisher-Yates with the run's generator: the epoch's image order. */
static void shuffle(int *a, int n, qdm_rng *r) {
  for (int i = 0; i < n; i++) a[i] = i;
  for (int i = n - 1; i > 0; i--) {
    int j = (int)(qdm_rng_u64(r) % (uint64_t)(i + 1)), t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

/* ---------------- one step ---------------- */

void run_unit_rows(qdm_cplx *dst, const double *src, int B, int D) {
  for (int r = 0; r < B; r++) {
    const qdm_cplx *s = (const qdm_cplx *)src + (size_t)r * D;
    double nn = sqrt(qdm_norm2(s, D)), f = nn > 0 ? 1.0 / nn : 0;
    for (int k = 0; k < D; k++) dst[(size_t)r * D + k] = f * s[k];
  }
}

/* The loss of the prediction against the unit target, with its co-gradient
 * in R->g; the infidelity is always reported (the report's figure). */
static void loss_and_grad(run *R, int B, double *loss, double *infid) {
  int D = R->D;
  qdm_infidelity_loss(infid, R->o.loss == QDM_LOSS_INFIDELITY ? R->g : NULL, R->out, R->tgn, B, D);
  *loss = *infid;
  if (R->o.loss == QDM_LOSS_MSE)
    qdm_mse_loss(loss, (double *)R->g, (const double *)R->out, (const double *)R->tgn, 2 * (size_t)B * D);
}

/* ---------------- quantum natural gradient (report section 8, eq. 26) ---------------- */

static int qngd_on(const run *R) {
  return !strcmp(R->o.optimizer, "qngd") && (R->o.qngd_epochs <= 0 || R->st.epoch < R->o.qngd_epochs);
}

void run_qngd_free(run *R) {
  int nb, P, G;
  if (!R->qngd) return;
  qdm_unet_block_circuit(R->m, &nb, &P, &G);
  for (int i = 0; i < G * nb; i++) qdm_qngd_free((qdm_qngd *)R->qngd + i);
  free(R->qngd);
  R->qngd = NULL;
}

/* theta[g, b] <- theta[g, b] - eta (G + lambda I)^-1 grad for every group of
 * the batch and every block, G the Fubini-Study metric of the block's
 * circuit averaged over the states that entered it; then the circuit
 * gradient is cleared so Adam leaves the angles alone (their Adam moments
 * stay zero until QNGD hands over). */
static int qngd_step(run *R) {
  int nb, P, G, rows, err = QDM_OK;
  const qdm_circuit *c = qdm_unet_block_circuit(R->m, &nb, &P, &G);
  qdm_unet_param *th = NULL;
  for (int i = 0; i < qdm_unet_nparams(R->m); i++)
    if (qdm_unet_param_at(R->m, i)->group == QDM_PG_CIRCUIT) th = qdm_unet_param_at(R->m, i);
  if (!c || !th) return qdm_fail(QDM_EINVAL, "--optimizer qngd needs the quantum bottleneck");
  int kind = qdm_metric_kind_parse(R->o.qngd_metric), L = R->o.model.layers;
  if (!R->qngd) {
    int bounds[202];
    if (kind == QDM_METRIC_BLOCK && (L < 1 || P % L || qdm_metric_layer_bounds(P, L, bounds)))
      return qdm_fail(QDM_EINVAL, "--qngd-metric block: %d angles do not split into %d layers", P, L);
    R->qngd = calloc((size_t)G * nb, sizeof(qdm_qngd));
    if (!R->qngd) return qdm_fail(QDM_ENOMEM, "qngd: out of memory");
    for (int i = 0; i < G * nb && !err; i++)
      err = qdm_qngd_init((qdm_qngd *)R->qngd + i, P, kind, kind == QDM_METRIC_BLOCK ? L : 0,
                          kind == QDM_METRIC_BLOCK ? bounds : NULL, R->o.qngd_lambda, 1);
    if (err) return err;
  }
  for (int g = 0; g < G && !err; g++)
    for (int b = 0; b < nb && !err; b++) {
      const qdm_cplx *psi;
      if ((err = qdm_unet_block_inputs(R->m, g, b, &psi, &rows)) || rows == 0) continue;
      qdm_qngd *q = (qdm_qngd *)R->qngd + (size_t)g * nb + b;
      double *theta = th->p + ((size_t)g * nb + b) * P, *grad = th->g + ((size_t)g * nb + b) * P;
      if (qdm_qngd_due(q)) err = qdm_qngd_refresh(q, c, theta, NULL, 0, psi, rows);
      if (!err) err = qdm_qngd_step(q, theta, grad, R->o.qngd_lr);
    }
  memset(th->g, 0, th->n * sizeof(double));
  return err;
}

/* One optimisation step on images order[b0 .. b0+nb-1], all at every t. */
int run_step(run *R, int b0, int nb, double lr, double *loss, double *infid) {
  const qdm_train_opts *o = &R->o;
  int D = R->D, T = R->T, B = nb * T;
  tu_images_to_x0(&R->data, R->order + b0, nb, o->data_scale, R->x0);
  int err = qdm_make_rows_all_t(R->xt, NULL, R->tgt, R->tt, &R->sch, o->target, R->x0, nb, 2 * D, &R->st.rng);
  if (err) return err;
  for (int i = 0; i < nb; i++)
    for (int t = 0; t < T; t++) R->lab[i * T + t] = R->data.y ? R->data.y[R->order[b0 + i]] : 0;
  /* the authors normalise both the input and the target to unit norm */
  run_unit_rows(R->xin, R->xt, B, D);
  run_unit_rows(R->tgn, R->tgt, B, D);
  qdm_unet_zero_grad(R->m);
  if ((err = qdm_unet_forward(R->m, R->xin, R->tt, R->lab, B, R->out))) return err;
  loss_and_grad(R, B, loss, infid);
  if ((err = qdm_unet_backward(R->m, R->g, NULL))) return err;
  if (qngd_on(R) && (err = qngd_step(R))) return err;
  if ((err = qdm_adam_step(&R->opt, lr))) return err;
  if (R->ema) {
    size_t k = 0;
    for (int i = 0; i < qdm_unet_nparams(R->m); i++) {
      qdm_unet_param *p = qdm_unet_param_at(R->m, i);
      for (size_t j = 0; j < p->n; j++, k++) R->ema[k] = o->ema * R->ema[k] + (1 - o->ema) * p->p[j];
    }
  }
  return QDM_OK;
}

/* ---------------- progress ---------------- */

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static void fmt_time(double s, char *buf, size_t len) {
  int x = (int)(s + 0.5);
  if (x >= 3600) snprintf(buf, len, "%d:%02d:%02d", x / 3600, x / 60 % 60, x % 60);
  else snprintf(buf, len, "%d:%02d", x / 60, x % 60);
}

static void progress(const run *R, int nbatches, double rows_per_s, double eta, int final) {
  if (R->o.quiet) return;
  char e[32];
  fmt_time(eta, e, sizeof e);
  double loss = R->st.loss_n ? R->st.loss_sum / R->st.loss_n : NAN;
  double inf = R->st.loss_n ? R->st.inf_sum / R->st.loss_n : NAN;
  if (isatty(2)) {
    fprintf(stderr, "\r\033[Kepoch %d/%d  batch %d/%d  %.0f rows/s  loss %.4f  infidelity %.4f  ETA %s",
            R->st.epoch + 1, R->o.epochs, R->st.batch, nbatches, rows_per_s, loss, inf, e);
    if (final) fputc('\n', stderr);
  } else if (final) {
    fprintf(stderr, "epoch %d/%d  %.0f rows/s  loss %.5f  infidelity %.5f  ETA %s\n", R->st.epoch + 1, R->o.epochs,
            rows_per_s, loss, inf, e);
  }
  fflush(stderr);
}

/* ---------------- files ---------------- */

static int path_in(char *buf, size_t len, const char *dir, const char *name) {
  if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len)
    return qdm_fail(QDM_EINVAL, "--out '%s': path too long", dir);
  return QDM_OK;
}

static int write_config(const run *R) {
  char p[2048];
  qdm_atomic a;
  int err = path_in(p, sizeof p, R->o.out, "config.json");
  if (err || (err = qdm_atomic_open(&a, p))) return err;
  qdm_json j;
  qdm_json_init(&j, a.f, 1);
  tu_opts_json(&j, &R->o);
  qdm_json_end(&j);
  return qdm_atomic_commit(&a);
}

static int write_metrics(const run *R) {
  char p[2048];
  qdm_atomic a;
  int err = path_in(p, sizeof p, R->o.out, "metrics.csv");
  if (err || (err = qdm_atomic_open(&a, p))) return err;
  fprintf(a.f, "epoch,loss,infidelity,lr,seconds\n");
  for (int e = 0; e < R->nhist; e++) {
    const double *h = R->hist + 4 * e;
    fprintf(a.f, "%d,%.8g,%.8g,%.8g,%.3f\n", e + 1, h[0], h[1], h[2], h[3]);
  }
  return qdm_atomic_commit(&a);
}

static int save_state(run *R) {
  char p[2048];
  int err = path_in(p, sizeof p, R->o.out, "checkpoint.safetensors");
  if (!err) err = tu_save(p, R->m, &R->o, &R->st, &R->opt, R->ema, R->hist, R->nhist);
  return err;
}

/* best.safetensors holds the model to sample from: the EMA weights if on */
static int save_best(run *R) {
  char p[2048];
  int err = path_in(p, sizeof p, R->o.out, "best.safetensors");
  if (err) return err;
  double *keep = NULL;
  if (R->ema) {
    keep = malloc(R->np * sizeof *keep);
    if (!keep) return qdm_fail(QDM_ENOMEM, "train: out of memory");
    tu_params_get(R->m, keep);
    tu_params_set(R->m, R->ema);
  }
  err = tu_save(p, R->m, &R->o, NULL, NULL, NULL, NULL, 0);
  if (keep) {
    tu_params_set(R->m, keep);
    free(keep);
  }
  return err;
}

static int resume(run *R) {
  char p[2048];
  int err = path_in(p, sizeof p, R->o.out, "checkpoint.safetensors");
  if (err) return err;
  if (access(p, R_OK)) return qdm_fail(QDM_EIO, "--resume: no checkpoint at %s", p);
  err = tu_load(p, R->m, &R->st, &R->opt, R->ema, R->hist, &R->nhist, R->o.epochs + 1);
  if (err) return err;
  /* the epoch's image order is regenerated from the generator state saved
   * at its start; the generator then continues from where it stopped */
  qdm_rng r = R->st.rng_epoch;
  shuffle(R->order, R->data.n, &r);
  return QDM_OK;
}

/* ---------------- the run ---------------- */

/* wall clock of this invocation, for rows/s and the ETA */
typedef struct {
  double t_start, sec0, last;
  long rows_done;
} wallclock;

static void tick(run *R, wallclock *ck, int nb, int final) {
  double el = now_s() - ck->t_start, rps = ck->rows_done / (el > 0 ? el : 1);
  double left = ((double)(R->o.epochs - R->st.epoch) * nb - R->st.batch) * R->o.batch * R->T;
  R->st.seconds = ck->sec0 + el;
  if (!final && el - ck->last < 0.25) return;
  ck->last = el;
  progress(R, nb, rps, left / rps, final);
}

/* The batches of the current epoch from R->st.batch on; after an interrupt
 * (Ctrl-C, SIGTERM, or stop_after) the state is saved for --resume. */
static int epoch_batches(run *R, int nb, double lr, wallclock *ck) {
  const qdm_train_opts *o = &R->o;
  for (; R->st.batch < nb; R->st.batch++) {
    int b0 = R->st.batch * o->batch, n = R->data.n - b0 < o->batch ? R->data.n - b0 : o->batch;
    double loss, inf;
    int err = run_step(R, b0, n, lr, &loss, &inf);
    if (err) return err;
    R->st.loss_sum += loss * n;
    R->st.inf_sum += inf * n;
    R->st.loss_n += n;
    ck->rows_done += (long)n * R->T;
    tick(R, ck, nb, 0);
    if (o->stop_after > 0 && ++R->batches_run >= o->stop_after) stop_flag = 1;
    if (stop_flag) {
      R->st.batch++;
      if (!o->quiet) fprintf(stderr, "\ninterrupted: saving a checkpoint (continue with --resume)\n");
      err = save_state(R);
      return err ? err : QDM_EINTR;
    }
  }
  return QDM_OK;
}

/* An epoch is done: its line in the history, then the checkpoint (pointing
 * at the next epoch), metrics.csv and, if it is the best so far, the model. */
static int epoch_close(run *R, int nb, double lr, wallclock *ck) {
  double *h = R->hist + 4 * R->nhist++;
  h[0] = R->st.loss_sum / R->st.loss_n;
  h[1] = R->st.inf_sum / R->st.loss_n;
  h[2] = lr;
  R->st.batch = nb;
  tick(R, ck, nb, 1);
  h[3] = R->st.seconds;
  int best = h[0] < R->st.best, err;
  if (best) R->st.best = h[0];
  R->st.epoch++;
  R->st.batch = 0;
  err = save_state(R);
  if (!err) err = write_metrics(R);
  if (!err && best) err = save_best(R);
  return err;
}

static int epochs(run *R) {
  const qdm_train_opts *o = &R->o;
  int nb = (R->data.n + o->batch - 1) / o->batch, err = QDM_OK;
  wallclock ck = {now_s(), R->st.seconds, 0, 0};
  while (R->st.epoch < o->epochs && !err) {
    if (R->st.batch == 0) { /* a fresh epoch: its order, from the generator */
      R->st.rng_epoch = R->st.rng;
      shuffle(R->order, R->data.n, &R->st.rng);
      R->st.loss_sum = R->st.inf_sum = 0;
      R->st.loss_n = 0;
    }
    double lr = qdm_lr_step_decay(o->lr, o->lr_gamma, o->lr_step, R->st.epoch);
    err = epoch_batches(R, nb, lr, &ck);
    if (!err) err = epoch_close(R, nb, lr, &ck);
  }
  double el = now_s() - ck.t_start;
  R->rows_per_s = ck.rows_done / (el > 0 ? el : 1);
  return err;
}

int qdm_train(const qdm_train_opts *opts) {
  if (!opts) return qdm_fail(QDM_EINVAL, "qdm_train: NULL options");
  run R;
  memset(&R, 0, sizeof R);
  R.o = *opts;
  const qdm_train_opts *o = &R.o;
  if (o->epochs < 1 || o->batch < 1 || !(o->lr > 0))
    return qdm_fail(QDM_EINVAL, "train: epochs (%d), batch (%d) and lr (%g) must be positive", o->epochs, o->batch, o->lr);
  if (o->threads > 0) qdm_set_threads(o->threads);
  if (strcmp(o->optimizer, "adam") && strcmp(o->optimizer, "qngd"))
    return qdm_fail(QDM_EINVAL, "--optimizer '%s': expected adam or qngd", o->optimizer);
  if (!strcmp(o->optimizer, "qngd") && (qdm_metric_kind_parse(o->qngd_metric) < 0 || o->model.classical ||
                                        (o->model.noise[0] && strcmp(o->model.noise, "none"))))
    return qdm_fail(QDM_EINVAL, "--optimizer qngd: needs the noiseless quantum bottleneck and --qngd-metric "
                                "block, diag or full (got '%s')", o->qngd_metric);
  int err = qdm_mkdirs(o->out);
  if (!err) err = load_data(&R);
  if (!err) err = run_alloc(&R);
  if (!err) err = run_model(&R);
  if (!err) err = run_optimizer(&R);
  if (!err && o->resume) err = resume(&R);
  if (!err) err = write_config(&R);
  if (err) {
    run_free(&R);
    return err;
  }
  if (!o->quiet) {
    size_t nc, na, ncl;
    qdm_unet_counts(R.m, &nc, &na, &ncl);
    fprintf(stderr, "qdm train: preset %s, %d images (%s), %d epochs x %d batches of %d rows; parameters: circuit %zu, ANO %zu, classical %zu\n",
            o->preset, R.data.n, o->digits, o->epochs, (R.data.n + o->batch - 1) / o->batch, o->batch * o->model.T, nc,
            na, ncl);
  }
  void (*old_int)(int) = signal(SIGINT, on_signal);
  void (*old_term)(int) = signal(SIGTERM, on_signal);
  stop_flag = 0;
  err = epochs(&R);
  signal(SIGINT, old_int);
  signal(SIGTERM, old_term);
  if (!err) err = run_outputs(&R);
  run_free(&R);
  return err;
}
