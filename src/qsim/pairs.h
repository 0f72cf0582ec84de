/* pairs.h -- circuits of one- and two-qubit gates compiled into a short
 * program of 4x4 matrices on qubit pairs, for many small groups of rows
 * that each have their own parameters (the report's circuit table,
 * section 6.4). Internal to the library (qdm__ names); pairs.c has the
 * math. The model's bottleneck (src/model/unet.c) is the caller.
 *
 * Use: qdm__pairs_new once per circuit structure; per optimisation step
 * qdm__pairs_build for every group's parameters (one work area per group),
 * then any number of forward and adjoint calls that read those matrices.
 *
 * The work is lane-wise: work areas i = c L .. c L + L - 1 (L =
 * qdm__pairs_lanes) share chunk c, each value of theirs one vector of L
 * lanes, as the sweeps read them. A forward or adjoint batch takes L
 * groups at a time, by decreasing row count (ties: ascending area); when
 * those are one chunk's areas in order, it reads the chunk in place, else
 * it gathers a copy. So a caller that numbers its groups by decreasing
 * row count (the model, unet.c's pairs_setup) pays no gathers. */
#ifndef QDM_PAIRS_H
#define QDM_PAIRS_H
#include "qdm/qsim.h"

typedef struct qdm__pairs qdm__pairs;

/* c64: the steps' matrices, the sweeps over rows and the angle gradients
 * in complex64, 16 groups per vector (the model's circuit_precision); the
 * angles' sines and cosines, the rows in and out and dtheta stay double.
 * NULL, with no error set, when the circuit has a gate the pair program
 * does not cover (three or more qubits with controls, a trainable gate
 * other than RX, RY, RZ, P or the Vatan-Williams unit's, per-row inputs,
 * one qubit); NULL with QDM_ENOMEM set when out of memory. */
qdm__pairs *qdm__pairs_new(const qdm_circuit *c, int c64);
void qdm__pairs_free(qdm__pairs *p);
/* number of fused 4x4 steps, and of the circuit's gates they replace */
int qdm__pairs_nops(const qdm__pairs *p, int *ngates);
/* groups per vector: 8 (complex128) or 16 (c64) */
int qdm__pairs_lanes(const qdm__pairs *p);
/* doubles of work for areas 0..n-1 (whole chunks) */
size_t qdm__pairs_work_doubles(const qdm__pairs *p, int n);
/* the plan's own memory, and a circuit's (NULL: 0), for qdm_unet_bytes */
size_t qdm__circuit_bytes(const qdm_circuit *c);
size_t qdm__pairs_bytes(const qdm__pairs *p);

/* Work areas i < n (work 64-byte aligned, qdm__pairs_work_doubles(p, n)
 * doubles): the factors' values (rotations' sines and cosines, VW units'
 * block entries) of the parameters at theta +
 * ids[i] * ld (ids NULL: i), from which the sweeps form each step's 4x4. */
void qdm__pairs_build(const qdm__pairs *p, const double *theta, int ld, int n, const int *ids, double *work);
/* M = work area i's step o, as the sweeps form it (row-major 4x4; for tests) */
void qdm__pairs_matrix(const qdm__pairs *p, const double *work, int i, int o, qdm_cplx *M);

/* Rows pos[0..rows-1] (pos NULL: 0..rows-1) of the (. x 2^n) arrays; row
 * pos[i] runs the circuit of work area grp[i]: out = U in (in == out
 * allowed). */
void qdm__pairs_forward(const qdm__pairs *p, const double *work, const int *grp, const int *pos, const qdm_cplx *in,
                        qdm_cplx *out, int rows);
/* The adjoint: from the outputs psi_out and dL/dout lam_out, the inputs
 * psi_in (NULL: not wanted) and dL/din lam_in, and dtheta + ids[i] * ld
 * (ids NULL: i) += dL/dtheta of work area i; each in may be its out (in
 * place). grp must be ascending (each area's rows consecutive). */
int qdm__pairs_adjoint(const qdm__pairs *p, const double *work, const int *grp, const int *pos,
                       const qdm_cplx *psi_out, qdm_cplx *psi_in, const qdm_cplx *lam_out, qdm_cplx *lam_in, int rows,
                       double *dtheta, int ld, const int *ids);
#endif
