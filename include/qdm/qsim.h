/* qdm/qsim.h -- the state-vector engine: gates, circuits as data, batched
 * forward, exact adjoint gradients, and the fused-unitary path.
 *
 * Conventions (used everywhere in qdm, pictures included):
 *  - qubit 0 is the LEAST significant bit of the basis index: for n = 2,
 *    index 1 = |q1 q0> = |01> means q0 = 1.
 *  - a batch of `rows` states of dimension dim = 2^n is one contiguous array
 *    psi[row * dim + i] of double complex (row-major).
 *  - Gradients of a real loss L w.r.t. a complex vector z are Wirtinger
 *    "co-gradients" g = dL/dRe(z) + i dL/dIm(z), so that
 *    dL = sum_i Re(conj(g_i) dz_i). For z_out = U z_in: g_in = U^dagger g_out.
 *  - Rotations: R_P(theta) = exp(-i theta P / 2); P(phi) = diag(1, e^{i phi});
 *    U3(theta, phi, lam) = [[cos(t/2), -e^{i lam} sin(t/2)],
 *                           [e^{i phi} sin(t/2), e^{i(phi+lam)} cos(t/2)]];
 *    RXX/RYY/RZZ(theta) = exp(-i theta P(x)P / 2).
 */
#ifndef QDM_QSIM_H
#define QDM_QSIM_H

#include <stddef.h>
#include <stdint.h>
#include "qdm/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Errors, random numbers and threads are qdm/core.h's (every public
 * function here returns a qdm status and leaves a one-line message). */

#define QDM_MAX_QUBITS 30
#define QDM_MAX_TARGETS 6 /* dense k-qubit unitaries, k <= 6 */

/* ---- gate kinds ---- */
typedef enum {
  /* fixed one-qubit */
  QDM_GI, QDM_GX, QDM_GY, QDM_GZ, QDM_GH, QDM_GS, QDM_GSDG, QDM_GT, QDM_GTDG, QDM_GSX,
  /* parametric one-qubit (angles in ang[0..2]) */
  QDM_GRX, QDM_GRY, QDM_GRZ, QDM_GP, QDM_GU3,
  /* two-qubit on t[0], t[1] */
  QDM_GSWAP, QDM_GRXX, QDM_GRYY, QDM_GRZZ,
  /* fixed matrices stored in the circuit's pool */
  QDM_GDENSE, /* 2^k x 2^k unitary on t[0..k-1], row-major, t[0] = LSB of local index */
  QDM_GDIAG,  /* 2^k diagonal on t[0..k-1] */
  QDM_GKINDS
} qdm_gate_kind;

/* An angle is affine in one source: value = a * v + b, where v is
 * theta[src] (src >= 0), the row's input x[-src - 2] (src <= -2), or 0
 * (src == -1, a fixed angle b). The report's blocks need the affine form,
 * e.g. RZ(pi/2 - 2 theta). */
typedef struct {
  int32_t src;
  double a, b;
} qdm_angle;

static inline qdm_angle qdm_fixed(double v) { qdm_angle r = {-1, 0.0, v}; return r; }
static inline qdm_angle qdm_par(int i) { qdm_angle r = {i, 1.0, 0.0}; return r; }
static inline qdm_angle qdm_par_affine(int i, double a, double b) { qdm_angle r = {i, a, b}; return r; }
static inline qdm_angle qdm_input(int k, double a, double b) { qdm_angle r = {-2 - k, a, b}; return r; }

typedef struct {
  uint8_t kind;   /* qdm_gate_kind */
  uint8_t nt;     /* number of targets */
  int8_t t[QDM_MAX_TARGETS];
  uint32_t cmask; /* control qubits (act when all are |1>) */
  qdm_angle ang[3];
  int32_t mat;    /* offset into the pool for DENSE/DIAG, else -1 */
} qdm_gate;

typedef struct {
  int n;          /* qubits */
  int nparams;    /* 1 + largest parameter index referenced */
  int ninputs;    /* 1 + largest input index referenced */
  int ngates, cap;
  qdm_gate *g;
  qdm_cplx *pool; /* matrices of DENSE/DIAG gates */
  size_t npool, poolcap;
  void *pre;      /* the engine's per-gate precompiled form (internal; kept in step by qdm_add) */
  int precap;
} qdm_circuit;

/* ---- building circuits (all return QDM_OK or an error code) ---- */
qdm_circuit *qdm_circuit_new(int n);
void qdm_circuit_free(qdm_circuit *c);
void qdm_circuit_clear(qdm_circuit *c);
/* Append a fully described gate (validated: qubits in range, distinct,
 * controls disjoint from targets, pool offsets valid). */
int qdm_add(qdm_circuit *c, qdm_gate g);
int qdm_add1(qdm_circuit *c, qdm_gate_kind k, int q);                    /* fixed 1q */
int qdm_addr(qdm_circuit *c, qdm_gate_kind k, int q, qdm_angle a);       /* RX RY RZ P */
int qdm_addc(qdm_circuit *c, qdm_gate_kind k, int ctrl, int q, qdm_angle a); /* CRX.., CX (a ignored for fixed) */
int qdm_add2(qdm_circuit *c, qdm_gate_kind k, int q0, int q1, qdm_angle a); /* SWAP RXX RYY RZZ */
int qdm_u3(qdm_circuit *c, int q, qdm_angle th, qdm_angle ph, qdm_angle la);
int qdm_cnot(qdm_circuit *c, int ctrl, int targ);
int qdm_cz(qdm_circuit *c, int q0, int q1);
int qdm_dense(qdm_circuit *c, int k, const int *targets, const qdm_cplx *U);
int qdm_diag(qdm_circuit *c, int k, const int *targets, const qdm_cplx *d);
/* A view of gates [from, to) of c (sharing c's storage; do not free or
 * add to it): for running a part of a circuit. */
qdm_circuit qdm_circuit_view(const qdm_circuit *c, int from, int to);
/* Append all gates of `sub` (same or fewer qubits) with its parameter
 * indices shifted by param_offset and every gate additionally controlled by
 * the qubits in ctrl_mask (the authors' ancilla block: ctrl_mask = 1<<anc). */
int qdm_append(qdm_circuit *c, const qdm_circuit *sub, int param_offset, uint32_t ctrl_mask);
/* QFT on qubits q[0..m-1] (q[0] least significant of the Fourier index):
 * |j> -> 2^{-m/2} sum_k e^{2 pi i j k / 2^m} |k>, swaps included. */
int qdm_qft(qdm_circuit *c, int m, const int *q);

/* The gate's local matrix (2^nt x 2^nt, row-major; controls not included)
 * at angle values v[0..2], and the derivative w.r.t. angle j (dM may be NULL). */
int qdm_gate_matrix(const qdm_circuit *c, const qdm_gate *g, const double *v,
                    qdm_cplx *M, int j, qdm_cplx *dM);
int qdm_gate_nangles(const qdm_gate *g);
const char *qdm_gate_name(int kind);
/* Resolve a gate's angle values for a parameter vector and one row's inputs. */
void qdm_gate_angles(const qdm_gate *g, const double *theta, const double *x, double v[3]);

/* ---- running circuits ----
 * theta: nparams values (may be NULL if none); x: per-row inputs with row
 * stride ldx (NULL if the circuit uses none). psi is updated in place. */
int qdm_run(const qdm_circuit *c, const double *theta, const double *x, int ldx,
            qdm_cplx *psi, int rows);
/* Adjoint sweep. In: psi = output states of qdm_run, lam = dL/dpsi_out.
 * Out: psi = input states, lam = dL/dpsi_in, dtheta += dL/dtheta (summed
 * over rows), dx += dL/dx per row (if non-NULL). O(1) extra memory per row. */
int qdm_run_adjoint(const qdm_circuit *c, const double *theta, const double *x, int ldx,
                    qdm_cplx *psi, qdm_cplx *lam, int rows, double *dtheta, double *dx);

/* ---- the fused path (small n): U once, then one zgemm for all rows ---- */
/* U: dim x dim row-major, U[i*dim + j] = <i|U|j>. Circuit must use no inputs. */
int qdm_unitary(const qdm_circuit *c, const double *theta, qdm_cplx *U);
/* out[r] = U in[r] for all rows (in and out must not overlap). */
int qdm_apply_unitary(int dim, const qdm_cplx *U, const qdm_cplx *in, qdm_cplx *out, int rows);
/* Backward of out = U in: gin = U^dagger gout per row (gin may be NULL),
 * dU += sum_r gout[r] in[r]^dagger (the co-gradient of U). */
int qdm_apply_unitary_backward(int dim, const qdm_cplx *U, const qdm_cplx *in,
                               const qdm_cplx *gout, qdm_cplx *gin, qdm_cplx *dU, int rows);
/* dtheta += dL/dtheta given dU = co-gradient of L w.r.t. U (one adjoint
 * sweep over the gates with the dim columns of U as the batch). U is the
 * forward's unitary at theta (saves rebuilding it), or NULL. */
int qdm_unitary_backward(const qdm_circuit *c, const double *theta, const qdm_cplx *U, const qdm_cplx *dU,
                         double *dtheta);

/* ---- one circuit, a parameter vector per group of rows (the report's
 * circuit table indexed by (t, label), section 6.4) ----
 * Row r runs c at theta + group[r] * ldtheta (group[r] in 0..G-1, ldtheta >=
 * nparams). A large group takes the fused path above (one unitary for its
 * rows); small groups run gate by gate, the rows of several groups sharing
 * one tile. Results agree with qdm_run row by row to rounding. psi in
 * place, as qdm_run. The circuit must use no per-row inputs. */
int qdm_run_groups(const qdm_circuit *c, const double *theta, int ldtheta, int G, const int *group,
                   qdm_cplx *psi, int rows);
/* Its adjoint, as qdm_run_adjoint: in, psi = outputs and lam = dL/dpsi_out;
 * out, psi = inputs, lam = dL/dpsi_in, and dtheta (G x ldtheta) +=
 * dL/dtheta of each group (summed over its rows). */
int qdm_run_groups_adjoint(const qdm_circuit *c, const double *theta, int ldtheta, int G, const int *group,
                           qdm_cplx *psi, qdm_cplx *lam, int rows, double *dtheta);

/* ---- states and observables ---- */
void qdm_zero_state(qdm_cplx *psi, int n, int rows);       /* |0...0> */
double qdm_norm2(const qdm_cplx *psi, size_t dim);
/* <P> for a Pauli string like "XIZ" where character j acts on qubit j. */
int qdm_expect_pauli(const qdm_cplx *psi, int n, int rows, const char *pauli, double *out);
/* y[r] = <psi_r|H|psi_r> for Hermitian H (dim x dim row-major). */
int qdm_expect_herm(const qdm_cplx *psi, int dim, int rows, const qdm_cplx *H, double *y);
/* Backward: gpsi[r] += 2 dy[r] H psi_r (co-gradient w.r.t. psi), and if dH is
 * non-NULL, dH += sum_r dy[r] psi_r psi_r^dagger (dL/dH as a matrix: dL = Re tr(dH^dagger dH')). */
int qdm_expect_herm_backward(const qdm_cplx *psi, int dim, int rows, const qdm_cplx *H,
                             const double *dy, qdm_cplx *gpsi, qdm_cplx *dH);
/* Reduced density matrix of qubit q: rho[0..3] = [[r00, r01], [r10, r11]]. */
void qdm_reduced1(const qdm_cplx *psi, int n, int q, qdm_cplx rho[4]);
void qdm_probs(const qdm_cplx *psi, size_t dim, double *p);

/* Simulation path for small n: 0 = choose by size (default), 1 = per-row
 * interleaved kernels, 2 = row tiles in split re/im layout. For tests and
 * benchmarks that compare paths; results agree to rounding. */
void qdm_set_sim_path(int path);

/* Haar-random pure state of dimension dim (complex Gaussian, normalised). */
void qdm_rng_haar_state(qdm_rng *r, qdm_cplx *psi, size_t dim);

#ifdef __cplusplus
}
#endif
#endif
