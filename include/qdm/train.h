/* qdm/train.h -- training and sampling runs of the hybrid U-Net: the
 * authors' recipe (DESIGN.md section 2) and qdm's default, with
 * checkpoints that resume to the same numbers, pictures and summaries. */
#ifndef QDM_TRAIN_H
#define QDM_TRAIN_H
#include "qdm/diffusion.h"
#include "qdm/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { QDM_LOSS_INFIDELITY = 0, QDM_LOSS_MSE = 1 } qdm_loss_kind;

typedef struct {
  char preset[16];        /* "default" or "authors" */
  qdm_unet_cfg model;
  /* data */
  char data[1024];        /* directory or name (see qdm_data_resolve) */
  char digits[64];        /* class filter, e.g. "0,1"; "all" */
  long limit;             /* images after filtering (authors: 8096) */
  double heldout;         /* fraction kept out of training, for evaluation */
  double data_scale;      /* x0 scaled to this RMS per complex value; 0: unit norm (authors) */
  /* diffusion */
  char schedule[16];      /* "authors-linear", "linear", "cosine" */
  double beta_start, beta_end;
  qdm_pred_kind target;   /* what the model predicts */
  qdm_loss_kind loss;
  char sampler[16];       /* "mean" (authors), "ddpm", "ddim", "sde" */
  /* optimisation */
  int epochs, batch;      /* batch = images; every image is used at all T steps */
  double lr, lr_gamma;    /* step decay: lr * gamma^floor(epoch / lr_step) */
  int lr_step;
  double circuit_lr, ano_lr; /* absolute rates; <= 0: same as lr */
  double weight_decay;
  double ema;             /* 0: off */
  /* quantum natural gradient for the circuit table (report section 8) */
  char optimizer[16];     /* "adam" (all parameters) or "qngd" (circuit angles; Adam for the rest) */
  char qngd_metric[8];    /* "block" (one block per layer), "diag" or "full" */
  double qngd_lr, qngd_lambda;
  int qngd_epochs;        /* QNGD for the first N epochs, then Adam (0: every epoch) */
  uint64_t seed;
  int threads;
  /* output */
  char out[1024];
  int resume;
  int quiet;
  int stop_after;         /* stop as if interrupted after this many batches (0: never); for tests */
  int samples_per_class;
} qdm_train_opts;

/* Fill opts with a preset: "default" or "authors". QDM_EINVAL if unknown. */
int qdm_train_preset(qdm_train_opts *o, const char *name);

/* Runs the whole job and writes into o->out: config.json, metrics.csv,
 * checkpoint.safetensors, best.safetensors, loss.png, forward.png,
 * samples.png, evolution.png, summary.json. Returns QDM_OK, an error, or
 * QDM_EINTR when stopped by SIGINT/SIGTERM (after saving a checkpoint). */
enum { QDM_EINTR = 5 };
int qdm_train(const qdm_train_opts *o);

/* Sampling from a checkpoint: n images per label in `labels` (e.g. "0,1";
 * NULL = all classes the model knows). Writes a PNG grid and, if idx_path
 * is non-NULL, the images (16 x 16, scaled to [0, 1]) as an IDX file
 * (labels beside it as <idx_path minus -images...>-labels or given path). */
typedef struct {
  char checkpoint[1024];
  int n;
  char labels[64];
  char sampler[16];       /* "" = the checkpoint's */
  uint64_t seed;
  char png[1024];
  char idx[1024];
  char idx_labels[1024];
  int use_ema;
  long shots;             /* 0: as trained; N > 0: sample with N shots; -1: exact readout */
  char noise[32];         /* "": as trained; else e.g. "depolarizing:0.01" or "none" */
} qdm_sample_opts;
int qdm_sample_run(const qdm_sample_opts *o);

/* `qdm bench train`: `steps` optimisation steps of configuration o, timed. */
typedef struct {
  long rows;
  double seconds, rows_per_s;
  double dense_seconds, circuit_seconds;
  double dense_gflops;  /* achieved by the classical layers (forward + backward) */
  double gemm_gflops;   /* cblas_dgemm on the layers' shape, same run, same threads */
  int threads;
  double loss;
} qdm_train_bench_result;
int qdm_train_bench(const qdm_train_opts *o, int steps, qdm_train_bench_result *res);

#ifdef __cplusplus
}
#endif
#endif
