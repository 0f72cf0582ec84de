/* qdm/metrics.h -- circuit descriptors of report section 6: expressibility
 * as the KL divergence of the fidelity distribution to the Haar law (6.1,
 * eq. 23), entangling capability as the mean Meyer-Wallach measure (6.2,
 * eqs. 24-25) and Bloch vectors of reduced states (6.3); their pictures are
 * drawn by qdm/io.h (qdm_plot_bloch, qdm_plot_fidelity_hist). */
#ifndef QDM_METRICS_H
#define QDM_METRICS_H

#include <stdint.h>
#include "qdm/qsim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Meyer-Wallach Q = 2 (1 - (1/n) sum_k tr(rho_k^2)), eq. (24), of one
 * normalised n-qubit state. 0 for products, 1 for GHZ. Returns NaN (after
 * qdm_fail) on bad arguments. */
double qdm_meyer_wallach(const qdm_cplx *psi, int n);
/* The Haar average of Q for n qubits: (2^n - 2) / (2^n + 1). */
double qdm_haar_mw(int n);

/* Bloch vector (x, y, z) = (tr rho X, tr rho Y, tr rho Z) of qubit q. */
int qdm_bloch_vector(const qdm_cplx *psi, int n, int q, double xyz[3]);

/* Haar probability of a fidelity bin for dimension N = dim >= 2:
 * int_a^b (N-1)(1-F)^{N-2} dF = (1-a)^{N-1} - (1-b)^{N-1} (it underflows to 0
 * for large N far from F = 0; qdm_fid_kl works with its logarithm). */
double qdm_haar_fid_prob(double dim, double a, double b);

/* Histogram of `nf` fidelities into `bins` equal bins on [0, 1] (F = 1 goes
 * to the last bin) and KL(P_pqc || P_haar) in nats, eq. (23), with P_haar
 * integrated exactly per bin. p (bins values, may be NULL) receives P_pqc.
 * bins >= 2: one bin gives KL 0 for every circuit. The plug-in estimate is
 * biased upwards by about (occupied bins - 1) / (2 nf) (docs/metrics.md).
 * Returns QDM_OK or an error code; *kl is set on success. */
int qdm_fid_kl(const double *fid, int nf, int bins, double dim, double *kl, double *p);

typedef struct {
  int samples;      /* S pairs of independent parameter draws (default 5000) */
  int bins;         /* histogram bins on [0, 1] (default 75) */
  uint64_t seed;
  int bloch_qubit;  /* qubit whose reduced state goes to `bloch` */
  double *bloch;    /* optional out: 2 S Bloch vectors (x, y, z), both states of each pair */
  double *fid;      /* optional out: S fidelities */
  double *hist;     /* optional out: `bins` probabilities of P_pqc */
} qdm_expr_opts;

typedef struct {
  double expressibility; /* KL(P_pqc || P_haar), nats */
  double entangling;     /* mean Meyer-Wallach Q over all 2 S states, eq. (25) */
  double entangling_sd;  /* its sample standard deviation (per state) */
  double haar_mw;        /* (2^n - 2) / (2^n + 1) */
  int nparams;
} qdm_expr_result;

void qdm_expr_opts_default(qdm_expr_opts *o);

/* Expressibility and entangling capability of circuit c: parameters
 * uniform in [0, 2 pi), S pairs of states from |0...0>, F = |<a|b>|^2.
 * Deterministic for a given seed, independent of the thread count (pair i
 * draws from its own stream seeded by (seed, i)). The circuit must take no
 * per-row inputs. */
int qdm_expressibility(const qdm_circuit *c, const qdm_expr_opts *o, qdm_expr_result *r);
/* The same estimators on exact Haar-random states of n qubits: the
 * reference row (its KL is the estimator's finite-S floor). */
int qdm_expressibility_haar(int n, const qdm_expr_opts *o, qdm_expr_result *r);

#ifdef __cplusplus
}
#endif
#endif
