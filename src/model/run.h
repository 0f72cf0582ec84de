/* run.h -- the library's private view of a training run, shared by the
 * files of src/model. The files call each other in one direction only:
 *
 *   train.c (the loop) -> figures.c (pictures, summary) -> sample.c
 *                      -> checkpoint.c                 -> run.c -> opts.c
 *                      -> shard.c (a step over MPI ranks) -> run.c
 *
 * opts.c: presets, option names and checks, settings as key/value strings.
 * run.c: the run object (data, schedule, model, optimiser, buffers).
 * checkpoint.c: safetensors files of a run. sample.c: generation.
 * figures.c: what a finished run leaves to look at. */
#ifndef QDM_MODEL_RUN_H
#define QDM_MODEL_RUN_H
#include "qdm/data.h"
#include "qdm/io.h"
#include "qdm/train.h"

/* ---- opts.c ---- */
/* A setting by its config.json / checkpoint key, from its string form.
 * Unknown keys are an error naming the key (a newer qdm's file says so). */
int qdm__opts_set(qdm_train_opts *o, const char *key, const char *val);
/* Setting i (0..) as key and string value; 0 past the last one. */
int qdm__opts_get(const qdm_train_opts *o, int i, const char **key, char *val, size_t len);
/* The JSON object of every setting (config.json). */
void qdm__opts_json(qdm_json *j, const qdm_train_opts *o);

/* What a run knows of its training images, kept in its checkpoints. */
typedef struct {
  char labels[1024]; /* their labels, a class list ("0,1"): "data.labels" */
  uint64_t id;       /* qdm_dataset.id of the images chosen: "data.id" (0: unknown) */
} qdm__data_info;

/* ---- unet.c ---- */
/* Adds seconds to the model's timing.other (qdm_unet_timing): the part of
 * a training step spent outside the model, measured by qdm__run_step. */
void qdm__unet_add_other(qdm_unet *m, double seconds);

/* ---- run.c ---- */
/* The resumable part of a run. */
typedef struct {
  int epoch, batch;       /* next epoch and batch to run */
  qdm_rng rng, rng_epoch; /* generator now, and at the start of the epoch */
  double loss_sum, inf_sum;
  long loss_n;
  double best, seconds;
} qdm__run_state;

/* ---- shard.c: a step's rows over the ranks of an MPI job ---- */
typedef struct {
  int on;                 /* more than one rank */
  int rank, size;
  int B, Bl;              /* the step's rows, and this rank's */
  int stop;               /* a rank was signalled before this step's sum */
  int *rows, *img;        /* this rank's rows (batch row indices); scratch */
  int *tt, *lab;          /* this rank's rows, gathered */
  qdm_cplx *xin, *tgn;
  qdm_cplx *states, *states2; /* QNGD: block input states of every rank */
  int *cnt, *start;
  double *upd;            /* QNGD: the angles handed over */
} qdm__shard;

typedef struct {
  qdm_train_opts o;
  qdm_schedule sch;
  qdm_dataset data, held;
  qdm_unet *m;
  qdm_adam opt;
  double *ema;             /* EMA copy of the flat parameter buffers (NULL: off): np doubles
                            * (qdm_unet_params), then npf floats (qdm_unet_params_f32) */
  size_t np, npf;          /* parameters in the flat buffers */
  int D, T, rows_max;
  int K;                   /* rows per image: one per step, or one per stratum (t_groups) */
  double *x0;
  int *tt, *lab, *order;
  qdm_cplx *xin, *tgn, *g; /* the rows' unit-norm x_t and target; the loss's co-gradient */
  qdm__run_state st;
  double *hist;            /* per epoch: loss, infidelity, lr, seconds */
  int nhist;
  double rows_per_s;
  int batches_run;
  qdm__data_info info;     /* the training images' labels and fingerprint */
  int nonfinite;           /* the last step stopped on a loss or gradient that is not finite */
  int grads_clear;         /* the last step's optimiser cleared the gradients: no zeroing pass before the next */
  void *qngd;              /* qdm_qngd per (group, block) with the QNGD optimizer */
  qdm__shard sh;           /* the ranks' split (sh.on: more than one rank) */
} qdm__run;

/* The diffusion schedule of the settings o. */
int qdm__schedule(qdm_schedule *s, const qdm_train_opts *o);
/* Buffers for batches of R->o.batch images (R->data must be loaded). */
int qdm__run_alloc(qdm__run *R);
/* Schedule and model from R->o, parameters initialised from the seed;
 * the model takes batches of max(rows, 64) rows (64: a sampling chunk). */
int qdm__run_model(qdm__run *R, int rows);
/* Adam groups, one per tensor in the tensors' order and precision, so
 * that the moments have the layout of the flat buffers (and the EMA copy). */
int qdm__run_optimizer(qdm__run *R);
/* ema <- decay ema + (1 - decay) w over both flat buffers. */
void qdm__run_ema_update(qdm__run *R, double decay);
/* Swap the parameters and the EMA copy (no-op without EMA); twice restores. */
void qdm__run_ema_swap(qdm__run *R);
void qdm__run_free(qdm__run *R);
/* x0 rows (complex, interleaved) of images idx[0..n-1] of d: the image as
 * the real part, scaled to RMS `scale` per value if scale > 0. */
void qdm__images_to_x0(const qdm_dataset *d, const int *idx, int n, double scale, double *x0);

/* ---- checkpoint.c ---- */
/* Model tensors, optimiser moments, EMA (the layout of qdm__run.ema),
 * history, every setting, what is known of the training images (info, may
 * be NULL) and the state as metadata. st/opt/ema/hist may be NULL (the best
 * model). */
int qdm__ckpt_save(const char *path, qdm_unet *m, const qdm_train_opts *o, const qdm__data_info *info,
                   const qdm__run_state *st, const qdm_adam *opt, const double *ema, const double *hist, int nhist);
/* The labels a checkpoint's model was trained on, as a mask: its
 * "data.labels", or for a checkpoint without it, the settings' digits
 * among the model's classes. */
int qdm__ckpt_labels(const char *path, const qdm_train_opts *o, unsigned char mask[256]);
/* The settings stored in a checkpoint. */
int qdm__ckpt_load_opts(const char *path, qdm_train_opts *o);
/* The model's parameters and, if st is non-NULL, everything a resumed run
 * needs (hist: up to maxhist epochs). */
int qdm__ckpt_load(const char *path, qdm_unet *m, qdm__run_state *st, qdm_adam *opt, double *ema, double *hist,
                   int *nhist, int maxhist);

/* ---- shard.c ---- */
/* Rows of rank `rank` of `size` for a step of nimg images (labels lab) at K
 * rows each (row i*K + k: image i, its k-th step): positions lo..hi-1,
 * lo = B rank / size, of the order (k, label, image). Returns their count
 * (rows[]), scratch: nimg ints. */
int qdm__shard_split(const int *lab, int nimg, int K, int rank, int size, int *rows, int *scratch);
/* The split's buffers (R->sh.on = more than one rank; R allocated). */
int qdm__shard_init(qdm__run *R);
void qdm__shard_free(qdm__shard *s);
/* This rank's rows of the step's nb images (R->xin, tgn, tt, lab made):
 * R->sh.xin, tgn, tt, lab, Bl of B. */
void qdm__shard_take(qdm__run *R, int nb);
/* This rank's loss and infidelity (means over its Bl rows) and its
 * co-gradient R->g made the step's: the co-gradient scaled by Bl / B, the
 * means summed over ranks as Bl-weighted sums over B; in the same sum,
 * err (this rank's forward failed: every rank then returns the failing
 * rank's status and message) and stop (a signal here: R->sh.stop = any). */
int qdm__shard_loss(qdm__run *R, int err, int stop, double *loss, double *infid);
/* The flat gradient buffers summed over ranks (in place); err: this rank's
 * backward failed (every rank then returns its status and message). */
int qdm__shard_grads(qdm__run *R, int err);
/* QNGD over ranks: each (group, block) with rows on any rank gets all its
 * input states (in the one-process order) on one rank, which calls `one`
 * on them (stepping theta there); the new angles go to every rank. */
typedef int (*qdm__shard_qngd_fn)(qdm__run *R, int g, int b, const qdm_cplx *psi, int rows);
int qdm__shard_qngd(qdm__run *R, qdm__shard_qngd_fn one, double *theta, int G, int nb, int P, int d);

/* ---- train.c ---- */
/* One optimisation step on images order[b0 .. b0+nb-1], each at every t.
 * The rows' noise: one qdm_rng_u64 of R->st.rng seeds the step, and image
 * i of the batch draws its T rows (qdm_make_rows_all_t with N = 1) from
 * qdm_rng_stream(seed, i). */
int qdm__run_step(qdm__run *R, int b0, int nb, double lr, double *loss, double *infid);
/* Its two halves: the gradient (in the model's gradient buffers), then
 * the optimiser's update, which consumes the gradient (zero after it). */
int qdm__run_grads(qdm__run *R, int b0, int nb, double *loss, double *infid);
int qdm__run_update(qdm__run *R, double lr, double loss);

/* ---- sample.c: words for pictures ---- */
enum { QDM__NAME_LEN = 24 };
/* "sampler ddim (eta 0), 5 of T = 10 steps" and the like. */
void qdm__sampler_text(const qdm_sampler_cfg *c, int T, char *buf, size_t len);
/* Row labels: the class names of data (qdm_class_name) for lab[0..nl-1],
 * "all" for lab[i] < 0; rl[i] points at names[i]. */
void qdm__row_names(const char *data, const int *lab, int nl, char (*names)[QDM__NAME_LEN], const char **rl);

/* ---- figures.c ---- */
/* loss.png, forward.png, samples.png, evolution.png, summary.json */
int qdm__run_outputs(qdm__run *R);
#endif
