/* run.c -- the run object: its data rows, schedule, model, optimiser and
 * buffers, allocated once for the whole run (llm.c's rule: nothing is
 * allocated per step). */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/qngd.h"
#include "run.h"

int qdm__schedule(qdm_schedule *s, const qdm_train_opts *o) {
  int T = o->model.T;
  switch (o->schedule) {
  case QDM_SCHED_LINEAR_AUTHORS: return qdm_schedule_linear_authors(s, T, o->beta_start, o->beta_end);
  case QDM_SCHED_LINEAR: return qdm_schedule_linear(s, T, o->beta_start, o->beta_end);
  case QDM_SCHED_COSINE: return qdm_schedule_cosine(s, T, 0.008);
  default: return qdm_fail(QDM_EINVAL, "schedule %d: expected authors-linear, linear or cosine", (int)o->schedule);
  }
}

/* The images become the real part of complex rows; scaled to RMS `scale`
 * per value (qdm's default: the data then sit at the noise's scale). */
void qdm__images_to_x0(const qdm_dataset *d, const int *idx, int n, double scale, double *x0) {
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

int qdm__run_alloc(qdm__run *R) {
  const qdm_train_opts *o = &R->o;
  R->D = o->model.D;
  R->T = o->model.T;
  R->K = qdm_unet_t_groups(&o->model);
  R->rows_max = o->batch * R->K;
  size_t rows = R->rows_max, D2 = 2 * (size_t)R->D;
  R->x0 = malloc(o->batch * D2 * sizeof(double));
  R->tt = malloc(rows * sizeof(int));
  R->lab = malloc(rows * sizeof(int));
  R->xin = malloc(rows * R->D * sizeof(qdm_cplx));
  R->tgn = malloc(rows * R->D * sizeof(qdm_cplx));
  R->g = malloc(rows * R->D * sizeof(qdm_cplx));
  R->order = malloc((R->data.n > 0 ? R->data.n : 1) * sizeof(int));
  R->hist = calloc(4 * (size_t)(o->epochs + 1), sizeof(double));
  if (!R->x0 || !R->tt || !R->lab || !R->xin || !R->tgn || !R->g || !R->order ||
      !R->hist)
    return qdm_fail(QDM_ENOMEM, "train: out of memory for batches of %d rows", R->rows_max);
  return QDM_OK;
}

int qdm__run_model(qdm__run *R, int rows) {
  const qdm_train_opts *o = &R->o;
  int err = qdm__schedule(&R->sch, o);
  if (err) return err;
  qdm_rng init;
  qdm_rng_seed(&init, o->seed);
  R->m = qdm_unet_new(&o->model, rows > 64 ? rows : 64, &init);
  if (!R->m) return QDM_EINVAL;
  qdm_rng_seed(&R->st.rng, o->seed ^ 0x5eedULL);
  R->st.best = INFINITY;
  return QDM_OK;
}

int qdm__run_optimizer(qdm__run *R) {
  const qdm_train_opts *o = &R->o;
  int err = qdm_adam_init(&R->opt, 0.9, 0.999, 1e-8, 0);
  for (int i = 0; !err && i < qdm_unet_nparams(R->m); i++) {
    qdm_unet_param *p = qdm_unet_param_at(R->m, i);
    double rate = p->group == QDM_PG_CIRCUIT && o->circuit_lr > 0 ? o->circuit_lr
                  : p->group == QDM_PG_ANO && o->ano_lr > 0       ? o->ano_lr
                                                                   : o->lr;
    if (p->n == 0) continue; /* e.g. the circuit angles of layers = 0: nothing to optimise */
    err = p->dtype == QDM_F32 ? qdm_adam_add_group_f32(&R->opt, p->name, p->pf, p->gf, p->n, rate / o->lr, o->weight_decay)
                              : qdm_adam_add_group(&R->opt, p->name, p->p, p->g, p->n, rate / o->lr, o->weight_decay);
  }
  double *w = qdm_unet_params(R->m, &R->np);
  float *wf = qdm_unet_params_f32(R->m, &R->npf);
  assert(err || (R->opt.n == R->np && R->opt.nf == R->npf)); /* the moments have the buffers' layout */
  if (!err && o->ema > 0) {
    R->ema = malloc(R->np * sizeof(double) + R->npf * sizeof(float) + 1);
    if (!R->ema) return qdm_fail(QDM_ENOMEM, "train: out of memory for the EMA copy");
    memcpy(R->ema, w, R->np * sizeof(double));
    if (R->npf) memcpy(R->ema + R->np, wf, R->npf * sizeof(float));
  }
  return err;
}

void qdm__run_ema_update(qdm__run *R, double decay) {
  if (!R->ema) return;
  const double *w = qdm_unet_params(R->m, NULL);
  const float *wf = qdm_unet_params_f32(R->m, NULL);
  float *ef = (float *)(R->ema + R->np), df = (float)decay;
  for (size_t k = 0; k < R->np; k++) R->ema[k] = decay * R->ema[k] + (1 - decay) * w[k];
  for (size_t k = 0; k < R->npf; k++) ef[k] = df * ef[k] + (1 - df) * wf[k];
}

void qdm__run_ema_swap(qdm__run *R) {
  if (!R->ema) return;
  double *w = qdm_unet_params(R->m, NULL);
  float *wf = qdm_unet_params_f32(R->m, NULL), *ef = (float *)(R->ema + R->np);
  for (size_t k = 0; k < R->np; k++) {
    double t = w[k];
    w[k] = R->ema[k];
    R->ema[k] = t;
  }
  for (size_t k = 0; k < R->npf; k++) {
    float t = wf[k];
    wf[k] = ef[k];
    ef[k] = t;
  }
}

void qdm__run_free(qdm__run *R) {
  if (R->qngd) {
    int nb, P, G;
    qdm_unet_block_circuit(R->m, &nb, &P, &G);
    for (int i = 0; i < G * nb; i++) qdm_qngd_free((qdm_qngd *)R->qngd + i);
    free(R->qngd);
  }
  qdm_unet_free(R->m);
  if (R->opt.m) qdm_adam_free(&R->opt);
  qdm_schedule_free(&R->sch);
  qdm_dataset_free(&R->data);
  qdm_dataset_free(&R->held);
  free(R->ema); free(R->x0); free(R->tt); free(R->lab); free(R->xin);
  free(R->tgn); free(R->g); free(R->order); free(R->hist);
  memset(R, 0, sizeof *R);
}
