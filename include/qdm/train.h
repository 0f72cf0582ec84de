/* qdm/train.h -- training and sampling runs of the hybrid U-Net: the
 * authors' recipe (docs/architecture.md, "The authors' configuration") and
 * qdm's default, with checkpoints that resume to the same numbers,
 * pictures and summaries.
 *
 * A run is described by one qdm_train_opts. Every option is checked by
 * qdm_train_opts_check before any work starts (qdm_train calls it first),
 * so a bad value fails in a second, not after the last epoch. */
#ifndef QDM_TRAIN_H
#define QDM_TRAIN_H
#include "qdm/data.h"
#include "qdm/diffusion.h"
#include "qdm/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { QDM_LOSS_INFIDELITY = 0, QDM_LOSS_MSE = 1 } qdm_loss_kind;
typedef enum { QDM_OPTIM_ADAM = 0, QDM_OPTIM_QNGD = 1 } qdm_optim_kind;

/* Name tables of the run's enums (qdm_enum_parse / qdm_enum_str in
 * qdm/core.h): the names the CLI, config.json and checkpoints use. */
extern const qdm_enum_name qdm_schedule_names[]; /* authors-linear linear cosine */
extern const qdm_enum_name qdm_pred_names[];     /* eps x0 mean */
extern const qdm_enum_name qdm_loss_names[];     /* infidelity mse */
extern const qdm_enum_name qdm_sampler_names[];  /* mean ddpm ddim sde ode */
extern const qdm_enum_name qdm_optim_names[];    /* adam qngd */
extern const qdm_enum_name qdm_precision_names[]; /* f64 f32 (qdm_unet_cfg.precision) */
extern const qdm_enum_name qdm_circuit_precision_names[]; /* c128 c64 (qdm_unet_cfg.circuit_precision) */

typedef struct {
  char preset[16];        /* "default" or "authors" */
  qdm_unet_cfg model;
  /* data */
  char data[1024];        /* directory or name (see qdm_data_resolve) */
  char digits[64];        /* class filter, e.g. "0,1"; "all" */
  long limit;             /* images after filtering (authors: 8096) */
  double heldout;         /* fraction kept out of training, for evaluation */
  qdm_subset subset;      /* how the limit and the held-out split choose (qdm_data_opts):
                           * seeded (default) or first (authors: their first N) */
  double data_scale;      /* x0 scaled to this RMS per complex value; 0: unit norm (authors) */
  /* diffusion */
  qdm_sched_kind schedule; /* QDM_SCHED_LINEAR_AUTHORS, _LINEAR or _COSINE */
  double beta_start, beta_end;
  qdm_pred_kind target;   /* what the model predicts */
  qdm_loss_kind loss;
  qdm_sampler_kind sampler; /* QDM_SAMPLER_MEAN (authors), _DDPM, _DDIM, _SDE, _ODE */
  int sample_steps;       /* DDIM: steps of the subsequence (0: all T) */
  double eta;             /* DDIM: 0 deterministic .. 1 ancestral-like */
  int sde_substeps;       /* SDE and ODE: Euler substeps per step (0: 1) */
  int clip;               /* 1: every step's implied x0 clamped to the data's box (real part >= 0,
                           * imaginary part 0: the images are real, non-negative), as Ho et al.
                           * clip x0 to [-1, 1]; 0: off (the authors) */
  /* optimisation */
  int epochs, batch;      /* batch = images; every image is used at all T steps */
  double lr, lr_gamma;    /* step decay: lr * gamma^floor(epoch / lr_step) */
  int lr_step;
  double circuit_lr, ano_lr; /* absolute rates; <= 0: same as lr */
  double weight_decay;
  double ema;             /* 0: off */
  /* quantum natural gradient for the circuit table (report section 8) */
  qdm_optim_kind optimizer; /* ADAM (all parameters) or QNGD (circuit angles; Adam for the rest) */
  int qngd_metric;        /* QDM_METRIC_BLOCK (one block per layer), _DIAG or _FULL */
  double qngd_lr, qngd_lambda;
  int qngd_epochs;        /* QNGD for the first N epochs, then Adam (0: every epoch) */
  uint64_t seed;
  int threads;
  /* output */
  char out[1024];
  int resume;             /* continue the run in out from its checkpoint.safetensors */
  int force;              /* start afresh over a run in out (its files are removed first) */
  int quiet;
  int stop_after;         /* stop as if interrupted after this many batches (0: never); for tests */
  int samples_per_class;
} qdm_train_opts;

/* Fill opts with a preset: "default" or "authors". QDM_EINVAL if unknown. */
int qdm_train_preset(qdm_train_opts *o, const char *name);
/* Every option in its domain and every combination meaningful (model
 * config by qdm_unet_cfg_check, class list parsable, optimizer and
 * bottleneck compatible, ...): QDM_OK or QDM_EINVAL naming the setting. */
int qdm_train_opts_check(const qdm_train_opts *o);

/* Runs the whole job and writes into o->out: config.json, metrics.csv,
 * checkpoint.safetensors, best.safetensors, loss.png, forward.png,
 * samples.png, evolution.png, summary.json. Returns QDM_OK, an error, or
 * QDM_EINTR when stopped by SIGINT/SIGTERM (after saving a checkpoint).
 * What it guarantees (README, "What qdm guarantees"):
 * - one writer per run directory: o->out/train.lock is held for the whole
 *   run (QDM_EIO naming its holder's pid if another process has it; one
 *   left by a killed process is stale and taken over);
 * - an existing run (qdm_train_dir_has_run) is never replaced unless
 *   o->force, nor continued unless o->resume; on resume every setting that
 *   shapes the model or its data must equal the checkpoint's
 *   (qdm_train_opts_resumable);
 * - a run that fails before its first checkpoint leaves nothing behind
 *   (its files, and the directories it made);
 * - a loss or gradient that is not finite stops the run with QDM_EINVAL
 *   naming the epoch and batch, before it reaches the parameters; the last
 *   checkpoint stays as it was;
 * - every file is written atomically (the checkpoint last of an epoch's
 *   files), so a run killed at any moment resumes to the numbers of an
 *   uninterrupted one, and a full disk fails the write with the file named
 *   and leaves the previous checkpoint intact. */
int qdm_train(const qdm_train_opts *o);
/* 1 if dir holds a run's model (checkpoint.safetensors or
 * best.safetensors), which a fresh qdm_train must not replace silently. */
int qdm_train_dir_has_run(const char *dir);

/* ---- settings on resume ----
 * Setting i (0, 1, ... until 0 is returned) of the settings table: its key
 * in config.json and checkpoints, and whether it may change when a run is
 * resumed (*may_change = 1: how long and how fast it trains and what its
 * pictures show: epochs, learning rates, the sampler; 0: everything that
 * shapes the model or its data). threads and quiet are not settings of the
 * run and may always change. */
int qdm_train_setting(int i, const char **key, int *may_change);
/* The settings a checkpoint holds (checkpoint.safetensors or best): the
 * run's options as qdm_train would take them (out, resume, force, quiet,
 * threads left at 0). Errors name the file. */
int qdm_checkpoint_settings(const char *path, qdm_train_opts *o);
/* On resume: QDM_OK if every setting that may not change is the same in
 * `now` as in `ckpt`, else QDM_EINVAL naming the first that differs with
 * both values; key/old_val/new_val (may be NULL) receive them. */
int qdm_train_opts_resumable(const qdm_train_opts *ckpt, const qdm_train_opts *now, const char **key, char *old_val,
                             char *new_val, size_t len);

/* A model from a checkpoint written by qdm_train (checkpoint.safetensors
 * or best.safetensors): *opts receives the run's settings, *model the model
 * with the stored weights (caller frees it with qdm_unet_free), sized for
 * batches of up to max_rows rows (>= 1). Errors name the file. */
int qdm_checkpoint_load(const char *path, int max_rows, qdm_train_opts *opts, qdm_unet **model);

/* Longest string form of one setting (the OpenQASM text of an ansatz). */
#define QDM_SETTING_MAX (QDM_QASM_ANSATZ_MAX + 64)

/* Longest diffusion a run may have (steps T). */
#define QDM_MAX_T 10000

/* The sampler a run's settings describe (kind, DDIM steps and eta, SDE/ODE
 * substeps; the authors' mean sampler renormalises every step). */
void qdm_train_sampler(const qdm_train_opts *o, qdm_sampler_cfg *cfg);
/* Generation: the reverse chain from noise for n rows with labels[i] (may
 * be NULL when unconditional), by `sampler` (NULL: the run's, see
 * qdm_train_sampler), drawing from a generator seeded with `seed`. img
 * (n x D floats) receives |z_0|; traj (optional, n x (T + 1) x D) receives
 * |z| before the first model step and after each of the S steps the sampler
 * takes (columns 0..S, S = qdm_sampler_times; S = T unless DDIM skips).
 * Magnitudes are raw (qdm_scale_max scales them for display). The model
 * must have been created for the settings o. */
int qdm_generate(qdm_unet *m, const qdm_train_opts *o, const qdm_sampler_cfg *sampler, const int *labels, int n,
                 uint64_t seed, float *img, float *traj);
/* The variational bound of eqs. 4-5 (qdm_vlb_estimate: the ancestral
 * sampler's reverse steps, a Gaussian decoder) of the model on images
 * first..first+n-1 of d, preprocessed as the run's training images (16x16,
 * as x0 with o->data_scale), one noise draw per image and t from `seed`.
 * *out is in nats per image; *bits_per_dim (may be NULL) is
 * total / (2 D ln 2), per real value of the complex x0 (Re and Im). */
int qdm_model_vlb(qdm_unet *m, const qdm_train_opts *o, const qdm_dataset *d, int first, int n, uint64_t seed,
                  qdm_vlb *out, double *bits_per_dim);
/* Each of n images of D values scaled to maximum 1 (all-zero images stay). */
void qdm_scale_max(float *img, int n, int D);

/* Sampling from a checkpoint: n images per label in `labels` (e.g. "0,1";
 * empty: the labels the model was trained on, which the checkpoint keeps
 * as "data.labels"). A label the model never saw in training is refused,
 * and so is any label for an unconditional model (one unlabelled row of n
 * images; no idx_labels). Writes a PNG grid and, if idx_path
 * is non-NULL, the images (16 x 16, scaled to [0, 1]) as an IDX file
 * (labels beside it as <idx_path minus -images...>-labels or given path). */
typedef struct {
  char checkpoint[1024];
  int n;
  char labels[64];
  int sampler;            /* qdm_sampler_kind, or -1 for the checkpoint's */
  int sample_steps;       /* DDIM steps, -1: the checkpoint's */
  double eta;             /* DDIM eta, < 0: the checkpoint's */
  int sde_substeps;       /* SDE/ODE substeps, -1: the checkpoint's */
  uint64_t seed;
  char png[1024];
  char idx[1024];
  char idx_labels[1024];
  int use_ema;            /* must be 0: the EMA weights of a run are its best.safetensors */
  long shots;             /* 0: as trained; N > 0: sample with N shots; -1: exact readout */
  char noise[32];         /* "": as trained; else e.g. "depolarizing:0.01" or "none" */
  int clip;               /* x0 clipping (qdm_train_opts.clip): 0 off, 1 on, -1 the checkpoint's */
} qdm_sample_opts;
/* Defaults: 8 images per label, seed 1, everything else as trained. Start
 * from these (a zeroed struct would ask for sampler 0, the mean sampler). */
void qdm_sample_opts_default(qdm_sample_opts *o);
int qdm_sample_run(const qdm_sample_opts *o);

/* For bindings that hold these structs as opaque memory or mirror them
 * (the Python package): their sizes, and setting i (0, 1, ...) of a run as
 * the key and string value config.json and checkpoints use (returns 0 past
 * the last setting). */
size_t qdm_train_opts_size(void);
size_t qdm_sample_opts_size(void);
int qdm_train_opts_get(const qdm_train_opts *o, int i, const char **key, char *val, size_t len);

/* `qdm bench train`: `steps` optimisation steps of configuration o (its
 * data if they load, random images otherwise), after one warm-up step,
 * with the threads set by qdm_set_threads; then the step's own GEMMs alone
 * (every Linear layer's forward, weight gradient and input gradient, at
 * the shapes of a full batch) in o's precision, same threads, same run.
 * Their time is the dense-only ceiling: a step that did nothing but its
 * matrix products would run at ceiling_rows_per_s. */
typedef struct {
  qdm_precision precision;
  qdm_circuit_precision circuit_precision;
  int threads;
  int mnist;                  /* 1: the configured data set; 0: random stand-in images */
  int rows_per_step;          /* batch x T */
  long rows;                  /* rows trained in the timed steps */
  double seconds;             /* their wall time */
  double step_seconds;        /* the median step */
  double rows_per_s;          /* rows_per_step / step_seconds */
  qdm_unet_timing split;      /* seconds per step (mean): dense, circuit, ano, other */
  double gemm_seconds;        /* the step's GEMMs alone (median of passes) */
  double ceiling_rows_per_s;  /* rows_per_step / gemm_seconds */
  double gemm_gflops;         /* their rate */
  double dense_gflops;        /* the same flops over the model's dense time (split.dense) */
  double loss;                /* of the last step */
  int qubits;                 /* the bottleneck's */
  double ano_zgemm_seconds;   /* the ANO's GEMMs of a step (global layout) alone, same run; 0: none */
  double ano_gflops, zgemm_gflops; /* their flops over split.ano, and over ano_zgemm_seconds */
  double circuit_gflops;      /* split.circuit_flops over split.circuit (the pair path's rows; 0: none) */
  double circuit_gemm_gflops; /* zgemm's rate (cgemm's for complex64 circuits) on the ANO's shapes, same run */
  double matmul_ceiling_rows_per_s; /* rows_per_step over: gemm_seconds, plus the ANO's complex-form flops at
                                       zgemm_gflops, plus split.circuit_flops at circuit_gemm_gflops (the whole
                                       step at the matrix-multiply rate, for sizes where the quantum part dominates) */
  int ranks;                  /* MPI ranks that ran the steps together (1: one process) */
  double comm_bytes;          /* per step: bytes this rank summed over the ranks (allreduce payload) */
  double comm_seconds;        /* per step: seconds in those collectives (rank 0's; includes waiting) */
  double allreduce_seconds;   /* the gradient allreduce alone, the ranks started together (best of 9) */
  double core_round_trip_ns;  /* a cache line passed between two of the threads and back, right after the
                                 steps (0: one thread); a VM's two vCPUs on one die give under 100 ns, on two
                                 about 350, and the 2-thread step slows with every line its threads share */
} qdm_train_bench_result;
int qdm_train_bench(const qdm_train_opts *o, int steps, qdm_train_bench_result *res);

#ifdef __cplusplus
}
#endif
#endif
