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

#ifdef __cplusplus
}
#endif
#endif
