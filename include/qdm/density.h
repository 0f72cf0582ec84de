/* qdm/density.h -- density matrices, channels, Kraus maps from circuits
 * with ancillas, and finite-shot readout (the tools of report section 2.2;
 * the quantum diffusion model built from them is qdm/qdiff.h).
 *
 * Conventions (on top of qsim.h):
 *  - a density matrix of n qubits is dim x dim row-major, dim = 2^n,
 *    rho[i * dim + j] = <i|rho|j>; a batch of `rows` matrices is contiguous.
 *  - gradients w.r.t. a matrix A are co-gradients G = dL/dRe(A) + i dL/dIm(A),
 *    so dL = Re tr(G^dagger dA). For Hermitian A and real L, G is Hermitian.
 *  - ancilla qubits are the HIGH qubits n..n+m-1 and start in |0>.
 *  - eigen-decompositions go through LAPACKE_zheev; eigenvalues ascending,
 *    V[i * dim + j] = component i of eigenvector j.
 */
#ifndef QDM_DENSITY_H
#define QDM_DENSITY_H

#include "qdm/qsim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- building and measuring density matrices ---- */
/* rho[r] = psi[r] psi[r]^dagger */
int qdm_dm_from_states(const qdm_cplx *psi, int dim, int rows, qdm_cplx *rho);
/* rho[r] = I / dim, the maximally mixed state */
int qdm_dm_mixed(qdm_cplx *rho, int dim, int rows);
/* out[r] = Re tr rho[r] and tr rho[r]^2 (purity) */
int qdm_dm_trace(const qdm_cplx *rho, int dim, int rows, double *out);
int qdm_dm_purity(const qdm_cplx *rho, int dim, int rows, double *out);
/* Eq. 12's overlap: out[r] = <psi[r]|rho[r]|psi[r]>. If psi_stride is 0 the
 * same psi is used for every row. */
int qdm_dm_fidelity_pure(const qdm_cplx *rho, const qdm_cplx *psi, int psi_stride, int dim,
                         int rows, double *out);
/* Its backward: G[r] += dF[r] psi psi^dagger (F is linear in rho). */
int qdm_dm_fidelity_pure_backward(const qdm_cplx *psi, int psi_stride, int dim, int rows,
                                  const double *dF, qdm_cplx *G);
/* Hermitian eigen-decomposition (w ascending; V may be NULL for values only). */
int qdm_dm_eigh(const qdm_cplx *A, int dim, double *w, qdm_cplx *V);
/* Uhlmann fidelity F = (tr sqrt(sqrt(rho) sigma sqrt(rho)))^2 (report 2.2.3). */
int qdm_dm_fidelity(const qdm_cplx *rho, const qdm_cplx *sigma, int dim, double *F);
/* Trace distance T = 1/2 ||rho - sigma||_1; if grad is non-NULL it gets
 * dT/drho = 1/2 V sign(Lambda) V^dagger from rho - sigma = V Lambda V^dagger. */
int qdm_dm_trace_distance(const qdm_cplx *rho, const qdm_cplx *sigma, int dim, double *T,
                          qdm_cplx *grad);
/* Smallest eigenvalue (positivity checks). */
int qdm_dm_min_eig(const qdm_cplx *rho, int dim, double *lmin);

/* Partial trace over the qubits in trace_mask of n-qubit matrices; the kept
 * qubits keep their order and become qubits 0..k-1 of out. */
int qdm_dm_ptrace(const qdm_cplx *rho, int n, uint32_t trace_mask, qdm_cplx *out, int rows);
/* Backward: G_in[r] = G_out[r] (x) I on the traced qubits (overwrites). */
int qdm_dm_ptrace_backward(const qdm_cplx *G_out, int n, uint32_t trace_mask, qdm_cplx *G_in,
                           int rows);

/* ---- channels ---- */
/* Eq. 9: rho <- (1 - p) rho + p tr(rho) I / dim. With p = 1 - alpha_t this is
 * eq. 10's closed form. Self-adjoint, so it is also its own backward. */
int qdm_dm_depolarize(qdm_cplx *rho, int dim, int rows, double p);

typedef enum { QDM_NOISE_NONE = 0, QDM_NOISE_DEPOL, QDM_NOISE_AMPDAMP } qdm_noise_kind;
/* One-qubit noise after every gate, on every qubit the gate touches
 * (targets and controls):
 *  depolarizing p:        rho <- (1 - p) rho + p (I/2 (x) tr_q rho)   (eq. 9 on one qubit)
 *  amplitude damping g:   Kraus [[1, 0], [0, sqrt(1-g)]], [[0, sqrt(g)], [0, 0]] */
typedef struct {
  int kind; /* qdm_noise_kind */
  double p;
} qdm_noise;
/* "none", "depolarizing:P" (or "depol:P"), "amplitude_damping:G" (or "ampdamp:G"). */
int qdm_noise_parse(const char *s, qdm_noise *out);
/* Apply the one-qubit channel on qubit q of n-qubit density matrices, or its
 * adjoint (Heisenberg picture, for backward passes) if adjoint != 0. */
int qdm_dm_noise1(qdm_cplx *rho, int n, int q, const qdm_noise *noise, int adjoint, int rows);

/* ---- circuits on density matrices ---- */
/* rho <- U rho U^dagger for one gate of c at angle values v. */
int qdm_dm_apply_gate(const qdm_circuit *c, const qdm_gate *g, const double *v, qdm_cplx *rho,
                      int rows);
/* Run c on density matrices (n = c->n) with the noise channel after every
 * gate (noise may be NULL = noiseless). theta, x, ldx as in qdm_run. */
int qdm_dm_run(const qdm_circuit *c, const double *theta, const double *x, int ldx,
               const qdm_noise *noise, qdm_cplx *rho, int rows);
/* Exact backward of qdm_dm_run. In: rho = the INPUT matrices, G = dL/drho_out.
 * Out: G = dL/drho_in, dtheta += dL/dtheta (summed over rows), dx += dL/dx
 * per row (if non-NULL). rho is left unchanged. Memory: O(sqrt(ngates))
 * matrices per row (checkpoints every sqrt(ngates) gates, segments recomputed),
 * since noisy channels cannot be run backwards stably. */
int qdm_dm_run_adjoint(const qdm_circuit *c, const double *theta, const double *x, int ldx,
                       const qdm_noise *noise, const qdm_cplx *rho, qdm_cplx *G, int rows,
                       double *dtheta, double *dx);

/* ---- mid-circuit measurement (report 4.2: pooling by measurement) ----
 * A Z measurement of qubit q whose outcome is kept only by what it controls
 * later (non-selective: the outcomes weighted by their probabilities) is
 * the channel rho -> P0 rho P0 + P1 rho P1, P_m = |m><m| on q: the
 * coherences between q's two branches vanish. After it, a gate controlled
 * by q acts exactly as a gate applied when the measured bit is 1
 * (classical feed-forward), so a circuit with controlled rotations after
 * the measurement is the measured form of the same circuit. Self-adjoint,
 * so it is its own backward. */
int qdm_dm_measure_z(qdm_cplx *rho, int n, int q, int rows);
/* Measure qubit q just before gate `before` of a circuit (0..ngates;
 * ngates: after the last gate). */
typedef struct {
  int before, q;
} qdm_dm_meas;
/* qdm_dm_run with the nm measurements meas (in any order; several at one
 * position act together, they commute) and its exact backward. */
int qdm_dm_run_measured(const qdm_circuit *c, const double *theta, const double *x, int ldx,
                        const qdm_noise *noise, const qdm_dm_meas *meas, int nm, qdm_cplx *rho, int rows);
int qdm_dm_run_measured_adjoint(const qdm_circuit *c, const double *theta, const double *x, int ldx,
                                const qdm_noise *noise, const qdm_dm_meas *meas, int nm, const qdm_cplx *rho,
                                qdm_cplx *G, int rows, double *dtheta, double *dx);

/* ---- channels from circuits with ancillas: system + ancilla, then trace ----
 * A circuit V on n + m qubits (ancillas high, starting in |0>) followed by
 * tracing out the ancillas is the channel rho -> sum_a K_a rho K_a^dagger with
 * Kraus operators K_a = (<a| (x) I) V (|0> (x) I), a = 0..2^m - 1 (m = 0:
 * the unitary step of eq. 11). K: 2^m matrices of d x d, d = 2^n. */
int qdm_kraus_from_circuit(const qdm_circuit *c, int n, const double *theta, qdm_cplx *K);
/* dtheta += dL/dtheta given dK = co-gradients of the 2^m Kraus operators. */
int qdm_kraus_from_circuit_backward(const qdm_circuit *c, int n, const double *theta,
                                    const qdm_cplx *dK, double *dtheta);
/* out[r] = sum_a K_a rho[r] K_a^dagger (zgemm). */
int qdm_kraus_apply(const qdm_cplx *K, int nk, int dim, const qdm_cplx *rho, qdm_cplx *out,
                    int rows);
/* Backward: dK_a += sum_r 2 G[r] K_a rho[r]; Gin[r] = sum_a K_a^dagger G[r] K_a
 * (Gin may be NULL; dK may be NULL). G and rho Hermitian. */
int qdm_kraus_apply_backward(const qdm_cplx *K, int nk, int dim, const qdm_cplx *rho,
                             const qdm_cplx *G, qdm_cplx *Gin, qdm_cplx *dK, int rows);

/* ---- finite shots: what a device would report ----
 * An observable's eigenbasis, computed once (LAPACKE_zheev). */
typedef struct {
  int dim;
  double *w;     /* eigenvalues */
  qdm_cplx *V;   /* eigenvectors in columns */
} qdm_herm_eig;
int qdm_herm_eig_init(qdm_herm_eig *e, const qdm_cplx *H, int dim);
void qdm_herm_eig_free(qdm_herm_eig *e);
/* y[r] = mean of `shots` outcomes w_j drawn with probability |<v_j|psi_r>|^2:
 * the device estimate of <psi_r|H|psi_r> (unbiased, variance Var_psi(H)/shots). */
int qdm_expect_shots(const qdm_herm_eig *e, const qdm_cplx *psi, int rows, long shots,
                     qdm_rng *rng, double *y);
/* The same for density matrices: probabilities <v_j|rho_r|v_j>. */
int qdm_dm_expect_shots(const qdm_herm_eig *e, const qdm_cplx *rho, int rows, long shots,
                        qdm_rng *rng, double *y);
/* Pauli string readout ("XIZ": char j on qubit j) from `shots` samples after
 * rotating each non-I qubit into the Z basis. */
int qdm_expect_pauli_shots(const qdm_cplx *psi, int n, int rows, const char *pauli, long shots,
                           qdm_rng *rng, double *out);
/* counts[j] of `shots` draws from probabilities p[0..k-1] (sum 1). */
int qdm_sample_counts(const double *p, int k, long shots, qdm_rng *rng, long *counts);

#ifdef __cplusplus
}
#endif
#endif
