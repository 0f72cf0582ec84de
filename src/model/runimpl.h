/* runimpl.h -- the state of a training run, shared by train.c (the loop),
 * figures.c (pictures and summaries) and sample.c (generation). */
#ifndef QDM_RUNIMPL_H
#define QDM_RUNIMPL_H
#include "trainutil.h"

typedef struct {
  qdm_train_opts o;
  qdm_schedule sch;
  qdm_dataset data, held;
  qdm_unet *m;
  qdm_adam opt;
  double *ema;
  size_t np;
  int D, T, rows_max;
  double *x0, *xt, *tgt;
  int *tt, *lab, *order;
  qdm_cplx *xin, *tgn, *out, *g;
  tu_state st;
  double *hist; /* per epoch: loss, infidelity, lr, seconds */
  int nhist;
  double rows_per_s;
  int batches_run;
  void *qngd;          /* qdm_qngd per (group, block) when --optimizer qngd */
} run;

/* buffers for batches of R->o.batch images (R->data must be loaded) */
int run_alloc(run *R);
/* Adam groups (and the EMA copy) for R->m */
int run_optimizer(run *R);
/* one optimisation step on images order[b0 .. b0+nb-1], each at every t */
int run_step(run *R, int b0, int nb, double lr, double *loss, double *infid);
/* schedule and model from R->o (parameters initialised from the seed) */
int run_model(run *R);
void run_free(run *R);
void run_qngd_free(run *R);
void run_unit_rows(qdm_cplx *dst, const double *src, int B, int D);
/* loss.png, forward.png, samples.png, evolution.png, summary.json */
int run_outputs(run *R);

/* Generate n images with labels[i] (may be NULL): img (n x D) gets |z_0|;
 * traj (optional, n x (T + 1) x D) gets |z_t| for t = T..0. */
int run_generate(qdm_unet *m, const qdm_train_opts *o, const qdm_schedule *sch, const char *sampler,
                 const int *labels, int n, uint64_t seed, float *img, float *traj);
/* each image scaled to max 1, for display and IDX output */
void run_scale_max(float *img, int n, int D);
#endif
