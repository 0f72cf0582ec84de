/* qdm/qdiff.h -- the quantum diffusion model of report section 2.2
 * (eqs. 9-12): density matrices noised by a depolarizing schedule and a
 * learned reverse channel per step, trained with qdm_adam. Built on the
 * density-matrix tools of qdm/density.h; conventions are theirs. */
#ifndef QDM_QDIFF_H
#define QDM_QDIFF_H

#include "qdm/density.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the quantum diffusion model (report 2.2) ----
 * Forward: depolarizing schedule p_1..p_T (eq. 9), alpha_t = prod (1 - p_s)
 * (eq. 10). Reverse: one learned channel D_t per step, each a circuit on
 * n + nanc qubits followed by tracing the ancillas (nanc = 0: unitary, eq. 11).
 * A unitary step maps I/d to I/d, so only nanc > 0 can denoise; one ancilla
 * qubit removes at most one bit of entropy per step (rank >= d / 2^(nanc t)). */
typedef enum { QDM_QSCHED_COSINE = 0, QDM_QSCHED_LINEAR } qdm_qsched;
typedef enum { QDM_QLOSS_FIDELITY = 0, QDM_QLOSS_TRACE } qdm_qloss;
/* chain: all steps trained end to end on the state they generate from I/d.
 * step:  each D_t trained alone, as a one-step denoiser: maximise
 *        mean_k <psi_k| D_t(rho_t^k) |psi_k> on the forward-noised targets. */
typedef enum { QDM_QTRAIN_CHAIN = 0, QDM_QTRAIN_STEP } qdm_qtrain;
/* Their names (qdm_enum_parse / qdm_enum_str): "cosine", "linear";
 * "fidelity", "trace"; "chain", "step". */
extern const qdm_enum_name qdm_qsched_names[], qdm_qloss_names[], qdm_qtrain_names[];

/* p[0] = 0, alpha[0] = 1; p[1..T], alpha[1..T]. cosine: alpha_t = cos^2(pi t / 2T)
 * (so alpha_T = 0 and rho_T = I/d exactly); linear: p_t from p1 to pT. */
int qdm_qdiff_schedule(int T, int kind, double p1, double pT, double *p, double *alpha);

typedef struct {
  int n, nanc, T, layers;
  int dim, nk;        /* 2^n, 2^nanc */
  double *p, *alpha;  /* T + 1 each */
  qdm_circuit *c;     /* one step's circuit on n + nanc qubits */
  int np;             /* parameters per step */
  double *theta;      /* T * np: step t (1..T) uses theta + (t - 1) * np */
} qdm_qdiff;

/* The per-step circuit is a copy of `step` (on n + nanc qubits, no inputs;
 * e.g. an ansatz from qdm/circuits.h) or, if step is NULL, the built-in
 * `layers` x [RY, RZ on every qubit; CNOT ring], then a last RY, RZ layer.
 * Every step has its own parameters, drawn N(0, init_scale^2). */
int qdm_qdiff_init(qdm_qdiff *m, int n, int nanc, int T, int layers, const qdm_circuit *step,
                   const double *p, double init_scale, uint64_t seed);
void qdm_qdiff_free(qdm_qdiff *m);
/* Kraus operators of step t (nk matrices d x d). */
int qdm_qdiff_kraus(const qdm_qdiff *m, int t, qdm_cplx *K);
/* Reverse process: traj[T] = rho_T (input), traj[t-1] = D_t(traj[t]);
 * traj holds (T + 1) d x d matrices. */
int qdm_qdiff_reverse(const qdm_qdiff *m, const qdm_cplx *rho_T, qdm_cplx *traj);
/* Loss (eq. 12 or trace distance) over the target ensemble psi[0..K-1]
 * and its gradient (dtheta += ..., may be NULL). */
int qdm_qdiff_loss(const qdm_qdiff *m, const qdm_cplx *psi, int K, int train, int loss,
                   double *L, double *dtheta);

typedef struct {
  int iters;
  double lr;
  int train, loss;    /* qdm_qtrain, qdm_qloss */
  int verbose;        /* progress lines on stderr */
  const char *tag;
} qdm_qdiff_opts;
/* Adam on the loss; loss_curve (iters values, may be NULL) gets the loss per iteration. */
int qdm_qdiff_train(qdm_qdiff *m, const qdm_cplx *psi, int K, const qdm_qdiff_opts *o,
                    double *loss_curve);

/* ---- target ensembles (src/qdiff/targets.c) ----
 * K pure states on n qubits, psi: K x 2^n, row-major.
 *  DIGITS 8x8 images of one digit class, amplitude-encoded (eqs. 14-15) on
 *         6 qubits: from the IDX files of `data` (train split, else test;
 *         28x28 area-averaged to 8x8 over the central 24x24), or with
 *         data = NULL from the default data directory (qdm_data_dir) if it
 *         has them, else (and always with synthetic = 1) the built-in
 *         glyphs of qdm_digit_glyphs. img (K x 64) gets the pictures.
 *  NEAR   c + spread e, normalised: c one Haar-random state, e complex
 *         Gaussian with E||e||^2 = 1 (so F(c, member) ~ 1 / (1 + spread^2)
 *         for large 2^n).
 *  GHZ    cos a |0..0> + e^{i phi} sin a |1..1>, a = pi/4 + spread N(0, 1),
 *         phi = spread pi N(0, 1) (spread 0: every member is the GHZ state).
 * Deterministic in seed. */
typedef enum { QDM_QTARGET_DIGITS = 0, QDM_QTARGET_NEAR, QDM_QTARGET_GHZ } qdm_qtarget;
extern const qdm_enum_name qdm_qtarget_names[]; /* "digits", "near", "ghz" */
typedef struct {
  int kind;          /* qdm_qtarget */
  int K, n;          /* members; qubits (1..10; digits: 6) */
  int digit;         /* digits: the class, 0..9 */
  const char *data;  /* digits: an IDX directory, or NULL (see above) */
  int synthetic;     /* digits: 1 = the built-in glyphs, whatever data says */
  double spread;     /* near, ghz: >= 0 */
  uint64_t seed;
} qdm_qtarget_opts;
/* src (may be NULL) gets where the states came from: "idx:DIR/SPLIT",
 * "synthetic", "near-haar" or "ghz". img may be NULL unless kind = DIGITS. */
int qdm_qdiff_targets(const qdm_qtarget_opts *o, qdm_cplx *psi, double *img, char *src, size_t srclen);

/* ---- what is measured on them ---- */
/* Forward (eq. 10): fid[t] = mean_k <psi_k| rho_t^k |psi_k> = alpha_t + (1 - alpha_t)/d
 * and pur[t] = mean_k tr (rho_t^k)^2, t = 0..T (T + 1 values each). */
int qdm_qdiff_forward_curve(int n, int T, const double *alpha, const qdm_cplx *psi, int K, double *fid,
                            double *pur);
/* Reverse from rho_T = I/d: fid[t] = mean_k <psi_k| rho_t |psi_k>, pur[t] = tr rho_t^2. */
int qdm_qdiff_reverse_curve(const qdm_qdiff *m, const qdm_cplx *psi, int K, double *fid, double *pur);
/* The best mean fidelity one state can reach: the top eigenvalue of
 * S = (1/K) sum_k psi_k psi_k^dagger (psi: K x d). */
int qdm_qdiff_fidelity_bound(const qdm_cplx *psi, int K, int d, double *bound);
/* ns generated samples as pictures: I/d unravelled into basis states |j>
 * (j uniform from seed), each run through the reverse channels; picture =
 * sqrt of the first npix diagonal entries of rho_0 (the amplitudes'
 * magnitudes for a pure output), scaled to max 1. out: ns x npix. */
int qdm_qdiff_sample_pictures(const qdm_qdiff *m, int ns, int npix, uint64_t seed, float *out);

/* ---- report 2.2's comparison: unitary vs system + ancilla reverse steps
 * (src/qdiff/compare.c), trained on one ensemble and run from I/d ---- */
typedef struct {
  qdm_qtarget_opts target; /* [digits, K 32, n 6, digit 3, default data, spread 0.3, seed 1] */
  int T, schedule;         /* steps, qdm_qsched [8, cosine] */
  double p1, pT;           /* linear schedule's first and last p [0.05, 1] */
  int nanc, layers;        /* ancillas of the second model (>= 1), layers per step [1, 4] */
  const char *ansatz;      /* per-step circuit from the ansatz library (ring on); NULL: built-in */
  double init;             /* parameter scale [0.1] */
  qdm_qdiff_opts train;    /* [300 iterations, lr 0.05, chain, fidelity, quiet]; tag is set per model */
} qdm_qdiff_compare_opts;
void qdm_qdiff_compare_opts_default(qdm_qdiff_compare_opts *o); /* the values in [] */

typedef struct {
  double *fid, *pur;       /* T + 1: reverse curve from I/d */
  double *loss;            /* iters: training loss per iteration */
  double final_loss, seconds;
} qdm_qdiff_curve;

typedef struct {
  int K, n, d, T, iters;
  char source[4200];       /* as qdm_qdiff_targets' src */
  qdm_cplx *psi;           /* K x d targets */
  double *img;             /* K x 64 pictures (digits), else NULL */
  double *p, *alpha;       /* the schedule, T + 1 each */
  double *ffid, *fpur;     /* forward curve, T + 1 each */
  double bound;            /* qdm_qdiff_fidelity_bound (0 if it could not be computed) */
  qdm_qdiff unitary, ancilla;
  qdm_qdiff_curve ru, ra;  /* after training: of the unitary and the ancilla model */
  double seconds;          /* both trainings */
  double *buf_;            /* owns the curves */
} qdm_qdiff_compare_result;
/* Targets, schedule, forward curve, bound and both (untrained) models; all
 * arrays owned by r (free with qdm_qdiff_compare_free; on error r is left
 * freed). */
int qdm_qdiff_compare_init(const qdm_qdiff_compare_opts *o, qdm_qdiff_compare_result *r);
/* Trains both models (the same o), then their final loss and reverse curves. */
int qdm_qdiff_compare_train(const qdm_qdiff_compare_opts *o, qdm_qdiff_compare_result *r);
void qdm_qdiff_compare_free(qdm_qdiff_compare_result *r);
/* dir/curve.png (forward and reverse curves), dir/loss.png (iters > 0) and,
 * for 64-amplitude targets with pictures, dir/samples.png (8 targets, 8
 * samples of each model from seed); `what` names the targets in the title. */
int qdm_qdiff_compare_pictures(const qdm_qdiff_compare_result *r, const char *dir, const char *what, uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif
