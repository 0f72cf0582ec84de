/* train.c -- a training run of the hybrid U-Net, end to end: data, the
 * authors' batch recipe (every image at every step t), Adam with step decay,
 * checkpoints that resume to the same numbers, progress, and the pictures
 * and summaries a user looks at. */
#include <assert.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "qdm/dist.h"
#include "qdm/io.h"
#include "qdm/qngd.h"
#include "core/check.h"
#include "core/parallel.h"
#include "run.h"

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

static int load_data(qdm__run *R) {
  const qdm_train_opts *o = &R->o;
  qdm_dataset all = {0};
  qdm_data_opts d = {o->data, "train", o->digits, o->limit, 16, o->subset, o->seed, &R->info.id};
  int err = qdm_data_load(&d, &all);
  if (err) return err;
  if (all.h * all.w != o->model.D) {
    qdm_dataset_free(&all);
    return qdm_fail(QDM_EINVAL, "train: images are %dx%d = %d values, the model expects %d", all.h, all.w, all.h * all.w,
                    o->model.D);
  }
  err = qdm_dataset_split(&all, o->heldout, o->seed, &R->data, &R->held);
  qdm_dataset_free(&all);
  if (!err && R->data.n < 1) err = qdm_fail(QDM_EINVAL, "train: no training images left after the held-out split");
  unsigned char seen[256] = {0};
  for (int i = 0; !err && i < R->data.n; i++) {
    int y = R->data.y ? R->data.y[i] : 0; /* images without labels train as label 0 */
    if (y >= o->model.classes)
      err = qdm_fail(QDM_EINVAL, "train: label %d at image %d, but the model has %d classes", y, i, o->model.classes);
    seen[y] = 1;
  }
  if (!err) err = qdm_classes_str(seen, R->info.labels, sizeof R->info.labels);
  return err;
}

/* Under MPI every rank reads the data itself: all must have read the same
 * images (one node's copy may differ), and all must have read them. */
static int same_data(qdm__run *R, int err) {
  if ((err = qdm_dist_agree(err)) || qdm_dist_size() == 1) return err;
  uint64_t id0 = R->info.id;
  if ((err = qdm_dist_bcast(&id0, sizeof id0, 0))) return err;
  if (id0 != R->info.id)
    err = qdm_fail(QDM_EINVAL, "train: the training images under %s are not rank 0's (fingerprint %016llx, rank 0 "
                   "%016llx): every node must see the same data", R->o.data, (unsigned long long)R->info.id,
                   (unsigned long long)id0);
  return qdm_dist_agree(err);
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

/* The loss of the prediction against the unit target, with its co-gradient
 * in R->g; the infidelity is always reported (the report's figure). */
static void loss_and_grad(qdm__run *R, const qdm_cplx *tgn, int B, double *loss, double *infid) {
  int D = R->D;
  const qdm_cplx *out = qdm_unet_output(R->m);
  qdm_infidelity_loss(infid, R->o.loss == QDM_LOSS_INFIDELITY ? R->g : NULL, out, tgn, B, D);
  *loss = *infid;
  if (R->o.loss == QDM_LOSS_MSE)
    qdm_mse_loss(loss, (double *)R->g, (const double *)out, (const double *)tgn, 2 * (size_t)B * D);
}

/* ---------------- quantum natural gradient (report section 8, eq. 26) ---------------- */

static int qngd_on(const qdm__run *R) {
  return R->o.optimizer == QDM_OPTIM_QNGD && (R->o.qngd_epochs <= 0 || R->st.epoch < R->o.qngd_epochs);
}

/* the circuit table's tensor (NULL: no circuit) */
static qdm_unet_param *circuit_param(qdm__run *R) {
  qdm_unet_param *th = NULL;
  for (int i = 0; i < qdm_unet_nparams(R->m); i++)
    if (qdm_unet_param_at(R->m, i)->group == QDM_PG_CIRCUIT) th = qdm_unet_param_at(R->m, i);
  return th;
}

static int angle_grads_finite(qdm__run *R) {
  const qdm_unet_param *th = circuit_param(R);
  for (size_t k = 0; k < th->n; k++)
    if (!isfinite(th->g[k])) return 0;
  return 1;
}

/* The step of group g's block b on the rows' input states psi. */
static int qngd_one(qdm__run *R, int g, int b, const qdm_cplx *psi, int rows) {
  int nb, P, G;
  const qdm_circuit *c = qdm_unet_block_circuit(R->m, &nb, &P, &G);
  qdm_unet_param *th = circuit_param(R);
  qdm_qngd *q = (qdm_qngd *)R->qngd + (size_t)g * nb + b;
  double *theta = th->p + ((size_t)g * nb + b) * P, *grad = th->g + ((size_t)g * nb + b) * P;
  int err = qdm_qngd_due(q) ? qdm_qngd_refresh(q, c, theta, NULL, 0, psi, rows) : QDM_OK;
  return err ? err : qdm_qngd_step(q, theta, grad, R->o.qngd_lr);
}

/* theta[g, b] <- theta[g, b] - eta (G + lambda I)^-1 grad for every group of
 * the batch and every block, G the Fubini-Study metric of the block's
 * circuit averaged over the states that entered it; then the circuit
 * gradient is cleared so Adam leaves the angles alone (their Adam moments
 * stay zero until QNGD hands over). */
static int qngd_step(qdm__run *R) {
  int nb, P, G, rows, err = QDM_OK;
  const qdm_circuit *c = qdm_unet_block_circuit(R->m, &nb, &P, &G);
  qdm_unet_param *th = circuit_param(R);
  assert(c && th); /* qdm_train_opts_check refused QNGD without a circuit */
  int kind = R->o.qngd_metric, L = R->o.model.layers;
  if (!R->qngd) {
    int bounds[202];
    if (kind == QDM_METRIC_BLOCK && qdm_metric_layer_bounds(P, L, bounds))
      return qdm_fail(QDM_EINVAL, "qngd metric block: %d angles do not split into %d layers", P, L);
    R->qngd = calloc((size_t)G * nb, sizeof(qdm_qngd));
    if (!R->qngd) return qdm_fail(QDM_ENOMEM, "qngd: out of memory");
    for (int i = 0; i < G * nb && !err; i++)
      err = qdm_qngd_init((qdm_qngd *)R->qngd + i, P, kind, kind == QDM_METRIC_BLOCK ? L : 0,
                          kind == QDM_METRIC_BLOCK ? bounds : NULL, R->o.qngd_lambda, 1);
    if (err) return err;
  }
  if (R->sh.on) err = qdm__shard_qngd(R, qngd_one, th->p, G, nb, P, 1 << c->n); /* over the ranks */
  for (int g = 0; g < G && !err && !R->sh.on; g++)
    for (int b = 0; b < nb && !err; b++) {
      const qdm_cplx *psi;
      if ((err = qdm_unet_block_inputs(R->m, g, b, &psi, &rows)) || rows == 0) continue;
      err = qngd_one(R, g, b, psi, rows);
    }
  memset(th->g, 0, th->n * sizeof(double));
  return err;
}

/* The batch's rows: image i of the batch at every t (or at one random t of
 * each of the K strata the circuit table has, qdm_make_rows_strata), its noise from stream
 * i of one seed drawn from the run's generator, so that the images are
 * made in parallel and the numbers do not depend on the thread count. The
 * authors normalise both the input and the target to unit norm. */
static void make_rows(qdm__run *R, int b0, int nb) {
  const qdm_train_opts *o = &R->o;
  int D = R->D, T = R->K; /* rows per image */
  uint64_t seed = qdm_rng_u64(&R->st.rng);
#pragma omp parallel for schedule(static) if (nb >= 4)
  for (int i = 0; i < nb; i++) {
    size_t r0 = (size_t)i * T, x0 = (size_t)i * 2 * D;
    qdm_rng rng;
    qdm_rng_stream(&rng, seed, (uint64_t)i);
    qdm__images_to_x0(&R->data, R->order + b0 + i, 1, o->data_scale, R->x0 + x0);
    qdm_cplx *xt = R->xin + r0 * D, *tg = R->tgn + r0 * D; /* normalised in place */
    QDM__OK(qdm_make_rows_strata((double *)xt, NULL, (double *)tg, R->tt + r0, &R->sch, o->target, R->x0 + x0, 1,
                                 2 * D, T, &rng));
    for (int t = 0; t < T; t++) R->lab[r0 + t] = R->data.y ? R->data.y[R->order[b0 + i]] : 0;
    QDM__OK(qdm_cl2norm_forward(xt, NULL, xt, T, D));
    QDM__OK(qdm_cl2norm_forward(tg, NULL, tg, T, D));
  }
}

/* The gradient of a step on images order[b0 .. b0+nb-1], all at every t.
 * Over several ranks each runs forward and backward on its share of the
 * rows (shard.c); the loss and the gradient are summed over the ranks
 * before anything is decided on them, so that every rank decides alike. */
int qdm__run_grads(qdm__run *R, int b0, int nb, double *loss, double *infid) {
  int B = nb * R->K, Bl = B, on = R->sh.on, err;
  double t0 = qdm_now(); /* the time outside the model goes to its timing.other */
  make_rows(R, b0, nb);
  const qdm_cplx *xin = R->xin, *tgn = R->tgn;
  const int *tt = R->tt, *lab = R->lab;
  if (on) {
    qdm__shard_take(R, nb);
    xin = R->sh.xin, tgn = R->sh.tgn, tt = R->sh.tt, lab = R->sh.lab, Bl = R->sh.Bl;
  }
  if (!R->grads_clear) qdm_unet_zero_grad(R->m);
  R->grads_clear = 0;
  double t1 = qdm_now();
  err = Bl > 0 ? qdm_unet_forward(R->m, xin, tt, lab, Bl, NULL) : QDM_OK;
  if (err && !on) return err;
  double t2 = qdm_now();
  *loss = *infid = 0;
  if (Bl > 0 && !err) loss_and_grad(R, tgn, Bl, loss, infid);
  if (on && (err = qdm__shard_loss(R, err, stop_flag, loss, infid))) return err;
  /* a NaN or Inf must not reach the parameters (nor, through them, a
   * checkpoint): the step stops before the optimiser */
  R->nonfinite = !isfinite(*loss) || !isfinite(*infid);
  if (R->nonfinite) return qdm_fail(QDM_EINVAL, "the loss is %g", isfinite(*loss) ? *infid : *loss);
  double t3 = qdm_now();
  err = Bl > 0 ? qdm_unet_backward(R->m, R->g, NULL) : QDM_OK;
  if (on) err = qdm__shard_grads(R, err);
  qdm__unet_add_other(R->m, (t1 - t0) + (t3 - t2));
  return err;
}

/* The optimiser's update from the gradient qdm__run_grads left (it
 * consumes it: the gradient is zero afterwards). */
int qdm__run_update(qdm__run *R, double lr, double loss) {
  double t0 = qdm_now();
  int err;
  /* QNGD moves the angles before Adam reads the gradients: their own check */
  R->nonfinite = qngd_on(R) && !angle_grads_finite(R);
  if (R->nonfinite) return qdm_fail(QDM_EINVAL, "the circuit gradient is not finite (loss %g)", loss);
  if (qngd_on(R) && (err = qngd_step(R))) return err;
  /* the step checks the gradients as it reads them: a NaN or an Inf has
   * then reached the parameters in memory, and the run ends saving nothing */
  int finite;
  if ((err = qdm_adam_step_clear(&R->opt, lr, &finite))) return err;
  R->grads_clear = finite;
  R->nonfinite = !finite;
  if (R->nonfinite) return qdm_fail(QDM_EINVAL, "the gradient is not finite (loss %g)", loss);
  qdm__run_ema_update(R, R->o.ema);
  qdm__unet_add_other(R->m, qdm_now() - t0);
  return QDM_OK;
}

int qdm__run_step(qdm__run *R, int b0, int nb, double lr, double *loss, double *infid) {
  int err = qdm__run_grads(R, b0, nb, loss, infid);
  return err ? err : qdm__run_update(R, lr, *loss);
}

/* ---------------- progress ---------------- */

static void fmt_time(double s, char *buf, size_t len) {
  int x = (int)(s + 0.5);
  if (x >= 3600) snprintf(buf, len, "%d:%02d:%02d", x / 3600, x / 60 % 60, x % 60);
  else snprintf(buf, len, "%d:%02d", x / 60, x % 60);
}

static void progress(const qdm__run *R, int nbatches, double rows_per_s, double eta, int final) {
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

/* Under MPI, rank 0 alone writes the run's files (the callers agree on
 * the outcome, qdm_dist_agree, so that a failed write stops every rank). */
static int write_config(const qdm__run *R) {
  char p[2048];
  if (R->sh.rank) return QDM_OK;
  qdm_atomic a;
  int err = qdm_path_join(p, sizeof p, R->o.out, "config.json");
  if (err || (err = qdm_atomic_open(&a, p))) return err;
  qdm_json j;
  qdm_json_init(&j, a.f, 1);
  qdm__opts_json(&j, &R->o);
  qdm_json_end(&j);
  return qdm_atomic_commit(&a);
}

static int write_metrics(const qdm__run *R) {
  char p[2048];
  if (R->sh.rank) return QDM_OK;
  qdm_atomic a;
  int err = qdm_path_join(p, sizeof p, R->o.out, "metrics.csv");
  if (err || (err = qdm_atomic_open(&a, p))) return err;
  fprintf(a.f, "epoch,loss,infidelity,lr,seconds\n");
  for (int e = 0; e < R->nhist; e++) {
    const double *h = R->hist + 4 * e;
    fprintf(a.f, "%d,%.8g,%.8g,%.8g,%.3f\n", e + 1, h[0], h[1], h[2], h[3]);
  }
  return qdm_atomic_commit(&a);
}

static int save_state(qdm__run *R) {
  char p[2048];
  if (R->sh.rank) return QDM_OK;
  int err = qdm_path_join(p, sizeof p, R->o.out, "checkpoint.safetensors");
  if (!err) err = qdm__ckpt_save(p, R->m, &R->o, &R->info, &R->st, &R->opt, R->ema, R->hist, R->nhist);
  return err;
}

/* best.safetensors holds the model to sample from: the EMA weights if on */
static int save_best(qdm__run *R) {
  char p[2048];
  if (R->sh.rank) return QDM_OK;
  int err = qdm_path_join(p, sizeof p, R->o.out, "best.safetensors");
  if (err) return err;
  qdm__run_ema_swap(R);
  err = qdm__ckpt_save(p, R->m, &R->o, &R->info, NULL, NULL, NULL, NULL, 0);
  qdm__run_ema_swap(R);
  return err;
}

static int resume(qdm__run *R) {
  char p[2048];
  int err = qdm_path_join(p, sizeof p, R->o.out, "checkpoint.safetensors");
  if (err) return err;
  /* the same settings may read other images if the files changed */
  char id[64];
  if (!qdm_safetensors_meta(p, "data.id", id, sizeof id) && strtoull(id, NULL, 16) != R->info.id)
    return qdm_fail(QDM_EINVAL, "resume %s: the training images are not the ones it was trained on (fingerprint %s, "
                    "now %016llx): the files under %s changed?", p, id, (unsigned long long)R->info.id, R->o.data);
  qdm_train_opts saved;
  if ((err = qdm__ckpt_load_opts(p, &saved))) return err;
  if (saved.model.precision != R->o.model.precision && !R->o.quiet)
    fprintf(stderr, "resume: %s is %s, this run %s: its weights and optimiser state are converted\n", p,
            qdm_enum_str(qdm_precision_names, saved.model.precision),
            qdm_enum_str(qdm_precision_names, R->o.model.precision));
  err = qdm__ckpt_load(p, R->m, &R->st, &R->opt, R->ema, R->hist, &R->nhist, R->o.epochs + 1);
  if (err) return err;
  int nb = (R->data.n + R->o.batch - 1) / R->o.batch;
  if (R->st.batch > nb)
    return qdm_fail(QDM_EFORMAT, "%s: at batch %d of an epoch of %d batches (other data or batch size?)", p,
                    R->st.batch, nb);
  /* the epoch's image order is regenerated from the generator state saved
   * at its start; the generator then continues from where it stopped */
  qdm_rng r = R->st.rng_epoch;
  shuffle(R->order, R->data.n, &r);
  return QDM_OK;
}

/* ---------------- the run directory ---------------- */

/* What a run writes into its directory; the first three are all it can
 * have written before its first checkpoint. */
static const char *const run_files[] = {"config.json", "metrics.csv", "best.safetensors", "checkpoint.safetensors",
                                        "loss.png", "forward.png", "samples.png", "evolution.png", "summary.json", NULL};
enum { BEFORE_CHECKPOINT = 3, ALL_FILES = 9 };

static int exists_in(const char *dir, const char *name) {
  char p[2048];
  return !qdm_path_join(p, sizeof p, dir, name) && access(p, F_OK) == 0;
}

int qdm_train_dir_has_run(const char *dir) {
  return dir && *dir && (exists_in(dir, "checkpoint.safetensors") || exists_in(dir, "best.safetensors"));
}

/* The first `nfiles` of run_files, and the temporary files of all of them
 * that writers killed mid-write left ("<file>.tmp.<pid>", atomic.c): we
 * hold the lock, so no writer of them is alive. */
static void remove_run_files(const char *dir, int nfiles) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char p[2048];
  while (d && (e = readdir(d))) {
    for (int i = 0; run_files[i]; i++) {
      size_t n = strlen(run_files[i]);
      int tmp = !strncmp(e->d_name, run_files[i], n) && !strncmp(e->d_name + n, ".tmp.", 5);
      if ((tmp || (i < nfiles && !strcmp(e->d_name, run_files[i]))) && !qdm_path_join(p, sizeof p, dir, e->d_name))
        unlink(p);
    }
  }
  if (d) closedir(d);
}

typedef struct {
  char keep[2048]; /* the part of out that existed before this run */
  qdm_lock lock;
  int ours;        /* the checks passed: this run writes here */
} run_dir;

/* The checkpoint's settings against this run's: on resume, only those that
 * may change may differ, and the run cannot have done more epochs than
 * asked for now. */
static int resume_check(const qdm__run *R) {
  char p[2048];
  qdm_train_opts c;
  int err = qdm_path_join(p, sizeof p, R->o.out, "checkpoint.safetensors");
  if (err) return err;
  if (access(p, F_OK))
    return qdm_fail(QDM_EIO, "resume: no checkpoint at %s (the run stopped before its first epoch ended?)", p);
  if ((err = qdm__ckpt_load_opts(p, &c))) return err;
  if ((err = qdm_train_opts_resumable(&c, &R->o, NULL, NULL, NULL, 0))) return qdm_fail_wrap(err, "resume %s", p);
  char buf[64];
  if (!qdm_safetensors_meta(p, "state.epoch", buf, sizeof buf) && atol(buf) > R->o.epochs)
    return qdm_fail(QDM_EINVAL, "resume %s: the run has done %ld epochs, more than the %d asked for", p, atol(buf),
                    R->o.epochs);
  return QDM_OK;
}

/* Before any work: the directory made, its lock taken, and what it holds
 * checked: a run is continued only on resume and replaced only on force. */
static int dir_open(qdm__run *R, run_dir *rd) {
  const qdm_train_opts *o = &R->o;
  rd->lock.fd = -1;
  rd->ours = 0;
  qdm_existing_prefix(o->out, rd->keep, sizeof rd->keep);
  char p[2048];
  long stale;
  int err = qdm_mkdirs(o->out);
  if (!err) err = qdm_path_join(p, sizeof p, o->out, "train.lock");
  if (!err) err = qdm_lock_acquire(&rd->lock, p, &stale);
  if (err) return err;
  if (stale && !o->quiet)
    fprintf(stderr, "qdm train: %s was left by process %ld, which is gone; taking it over\n", p, stale);
  if (o->resume) err = resume_check(R);
  else if (qdm_train_dir_has_run(o->out) && !o->force)
    err = qdm_fail(QDM_EINVAL, "%s holds a run already (its best.safetensors would be replaced): resume it, or "
                   "start afresh over it with force", o->out);
  if (err) return err;
  remove_run_files(o->out, o->force && !o->resume ? ALL_FILES : 0); /* force: the old run goes */
  rd->ours = 1;
  return QDM_OK;
}

/* After the run: a run that failed before its first checkpoint leaves
 * nothing (its files, and the directories made for it); the lock goes. */
static void dir_close(qdm__run *R, run_dir *rd, int err) {
  const char *out = R->o.out;
  int failed = err && err != QDM_EINTR && rd->ours && !exists_in(out, "checkpoint.safetensors");
  if (rd->ours) remove_run_files(out, failed ? BEFORE_CHECKPOINT : 0);
  qdm_lock_release(&rd->lock);
  if (failed) qdm_rmdirs(out, rd->keep);
}

/* ---------------- the run ---------------- */

/* wall clock of this invocation, for rows/s and the ETA */
typedef struct {
  double t_start, sec0, last;
  long rows_done;
} wallclock;

static void tick(qdm__run *R, wallclock *ck, int nb, int final) {
  double el = qdm_now() - ck->t_start, rps = ck->rows_done / (el > 0 ? el : 1);
  double left = ((double)(R->o.epochs - R->st.epoch) * nb - R->st.batch) * R->o.batch * R->K;
  R->st.seconds = ck->sec0 + el;
  if (!final && el - ck->last < 0.25) return;
  ck->last = el;
  progress(R, nb, rps, left / rps, final);
}

/* A loss or gradient that is not finite stopped the step (a gradient in
 * the optimiser's pass, which found it): the run ends there, saving
 * nothing, so the files on disk are those of the last good checkpoint. */
static int nonfinite_stop(const qdm__run *R, int nb) {
  char why[256], keep[160];
  snprintf(why, sizeof why, "%s", qdm_errmsg());
  if (R->st.epoch > 0 || R->o.resume)
    snprintf(keep, sizeof keep, "checkpoint.safetensors keeps the last good state");
  else snprintf(keep, sizeof keep, "no checkpoint had been written yet");
  return qdm_fail(QDM_EINVAL, "train: %s at epoch %d, batch %d of %d; the run stopped there and saved nothing (a "
                  "lower learning rate may help); %s", why, R->st.epoch + 1, R->st.batch + 1, nb, keep);
}

/* The batches of the current epoch from R->st.batch on; after an interrupt
 * (Ctrl-C, SIGTERM, or stop_after) the state is saved for --resume. */
static int epoch_batches(qdm__run *R, int nb, double lr, wallclock *ck) {
  const qdm_train_opts *o = &R->o;
  for (; R->st.batch < nb; R->st.batch++) {
    int b0 = R->st.batch * o->batch, n = R->data.n - b0 < o->batch ? R->data.n - b0 : o->batch;
    double loss, inf;
    int err = qdm__run_step(R, b0, n, lr, &loss, &inf);
    if (err && R->nonfinite) return nonfinite_stop(R, nb);
    if (err) return err;
    R->st.loss_sum += loss * n;
    R->st.inf_sum += inf * n;
    R->st.loss_n += n;
    ck->rows_done += (long)n * R->K;
    tick(R, ck, nb, 0);
    int after = o->stop_after > 0 && ++R->batches_run >= o->stop_after;
    /* a signal reaches the ranks at different batches (mpirun forwards it):
     * they stop after the same one, the first whose loss sum carried any
     * rank's flag (qdm__shard_loss) */
    if (after || (R->sh.on ? R->sh.stop : stop_flag)) {
      R->st.batch++;
      if (!o->quiet) fprintf(stderr, "\ninterrupted: saving a checkpoint (continue with --resume)\n");
      err = qdm_dist_agree(save_state(R));
      return err ? err : QDM_EINTR;
    }
  }
  return QDM_OK;
}

/* An epoch is done: its line in the history, then, if it is the best so
 * far, the model, then metrics.csv, and last the checkpoint (pointing at
 * the next epoch). The checkpoint is the commit: killed before it, a
 * resumed run redoes the epoch and writes the same best model and metrics
 * again; written first, a kill before best.safetensors would lose the
 * epoch's best model for good (the checkpoint's best loss already has it). */
static int epoch_close(qdm__run *R, int nb, double lr, wallclock *ck) {
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
  err = best ? save_best(R) : QDM_OK;
  if (!err) err = write_metrics(R);
  if (!err) err = save_state(R);
  return qdm_dist_agree(err);
}

static int epochs(qdm__run *R) {
  const qdm_train_opts *o = &R->o;
  int nb = (R->data.n + o->batch - 1) / o->batch, err = QDM_OK;
  wallclock ck = {qdm_now(), R->st.seconds, 0, 0};
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
  double el = qdm_now() - ck.t_start;
  R->rows_per_s = ck.rows_done / (el > 0 ? el : 1);
  return err;
}

/* Buffers, model, optimiser, the checkpoint's state if resumed,
 * config.json (the data are loaded). */
static int run_setup(qdm__run *R) {
  const qdm_train_opts *o = &R->o;
  int err = qdm__run_alloc(R);
  if (!err) err = qdm__run_model(R, o->batch * o->model.T);
  if (!err) err = qdm__run_optimizer(R);
  if (!err) err = qdm__shard_init(R);
  if (!err && o->resume) err = resume(R); /* every rank reads the checkpoint */
  if (!err) err = write_config(R);
  if ((err = qdm_dist_agree(err))) return err;
  if (!err && !o->quiet) {
    size_t nc, na, ncl;
    qdm_unet_counts(R->m, &nc, &na, &ncl);
    fprintf(stderr, "qdm train: preset %s, %d images (%s), %d epochs x %d batches of %d rows; parameters: circuit %zu, ANO %zu, classical %zu\n",
            o->preset, R->data.n, o->digits, o->epochs, (R->data.n + o->batch - 1) / o->batch, o->batch * o->model.T, nc,
            na, ncl);
  }
  return err;
}

int qdm_train(const qdm_train_opts *opts) {
  if (!opts) return qdm_fail(QDM_EINVAL, "qdm_train: NULL options");
  int err = qdm_train_opts_check(opts);
  if (err) return err;
  qdm__run R;
  memset(&R, 0, sizeof R);
  R.o = *opts;
  R.sh.rank = qdm_dist_rank();
  if (R.sh.rank) R.o.quiet = 1; /* rank 0 prints */
  if (R.o.threads > 0) qdm_set_threads(R.o.threads);
  run_dir rd = {.lock = {.fd = -1}};
  err = load_data(&R); /* before the run directory: bad data leaves nothing behind */
  err = same_data(&R, err);
  if (!err) err = qdm_dist_agree(R.sh.rank ? QDM_OK : dir_open(&R, &rd)); /* rank 0's directory */
  if (!err) err = run_setup(&R);
  if (!err) {
    void (*old_int)(int) = signal(SIGINT, on_signal);
    void (*old_term)(int) = signal(SIGTERM, on_signal);
    /* a file-size limit (ulimit -f) fails the write with EFBIG, named, rather
     * than killing the run mid-checkpoint */
    void (*old_xfsz)(int) = signal(SIGXFSZ, SIG_IGN);
    stop_flag = 0;
    err = epochs(&R);
    signal(SIGINT, old_int);
    signal(SIGTERM, old_term);
    if (!err && !R.sh.rank) err = qdm__run_outputs(&R);
    signal(SIGXFSZ, old_xfsz);
  }
  if (!R.sh.rank) dir_close(&R, &rd, err);
  qdm__shard_free(&R.sh);
  qdm__run_free(&R);
  return err;
}
