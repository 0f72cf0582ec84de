/* qdm/circuits.h -- what the report's sections 3-5 put around the engine:
 * data encodings (section 3), the ansatz library (section 4) and adaptive
 * non-local observables (section 5). Everything here BUILDS circuits for
 * include/qdm/qsim.h or maps states to features; nothing here simulates.
 *
 * Conventions are the engine's: qubit 0 is the least significant bit of a
 * basis index, batches are rows of 2^n amplitudes, gradients of a real loss
 * w.r.t. complex numbers are co-gradients g = dL/dRe + i dL/dIm.
 *
 * Builders append gates to an existing circuit and act on qubits
 * 0..c->n-1. Parameters of a builder are the contiguous block
 * theta[param_offset .. param_offset + count - 1], layer by layer, so blocks
 * compose (e.g. three ansatz blocks one after the other in a model).
 * Builders return that count (>= 0), or a NEGATIVE qdm status (-QDM_EINVAL,
 * -QDM_ENOMEM) after qdm_fail() on bad input. */
#ifndef QDM_CIRCUITS_H
#define QDM_CIRCUITS_H

#include <stdint.h>
#include <stdio.h>
#include "qdm/density.h"
#include "qdm/qsim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================= encodings (report section 3) ================= */

/* Basis encoding, eq. (13), as a state: row r is |b> with b_q =
 * bits[r * n + q] in {0, 1} on qubit q (so the ket |b_{n-1} ... b_1 b_0>). */
int qdm_enc_basis_state(const uint8_t *bits, int n, int rows, qdm_cplx *psi);

/* The feature circuits below read per-row inputs x[input_offset + k] (see
 * qdm_input in qsim.h): feature k drives qubit k, k = 0..nfeat-1 <= c->n.
 * qdm_run_adjoint then gives dL/dx, so they are trainable end to end.
 * Each returns QDM_OK or an error code. */

/* Basis encoding as a circuit: RY(pi x_k) on qubit k, x_k in {0, 1};
 * RY(pi)|0> = |1> exactly (no phase), so the state is eq. (13). */
int qdm_enc_basis(qdm_circuit *c, int nfeat, int input_offset);
/* Angle encoding, eq. (16): RY(x_k) on qubit k. */
int qdm_enc_angle(qdm_circuit *c, int nfeat, int input_offset);
/* Phase encoding, eq. (17): H then P(x_k) on qubit k. */
int qdm_enc_phase(qdm_circuit *c, int nfeat, int input_offset);

/* Dense angle encoding: two features per qubit, qubit k gets
 * (x_{2k}, x_{2k+1}) (0-based; nfeat even, nfeat / 2 <= n). The report's
 * two equations differ:
 *   QDM_DENSE_EQ18: RY(x_{2k}) then RZ(x_{2k+1}), as eq. (18) is written:
 *     cos(x/2)|0> + e^{i y} sin(x/2)|1>, times the global phase e^{-i y/2}
 *     that R_Z carries (eq. 18 drops it);
 *   QDM_DENSE_EQ19: RY(2 x_{2k}) then P(x_{2k+1}), eq. (19) exactly:
 *     cos(x)|0> + e^{i y} sin(x)|1> (full angles, no global phase). */
enum { QDM_DENSE_EQ18 = 18, QDM_DENSE_EQ19 = 19 };
int qdm_enc_dense(qdm_circuit *c, int nfeat, int input_offset, int convention);

/* Amplitude encoding, eqs. (14)-(15): psi_r = (x_r, 0, ..., 0) / alpha_r with
 * alpha_r = ||x_r||_2; x_r has len <= 2^n entries (row stride ldx >= len)
 * and is zero-padded. alpha (rows values) may be NULL. A zero row is an
 * error (it has no state). */
int qdm_enc_amplitude(const qdm_cplx *x, int len, int ldx, int n, int rows,
                      qdm_cplx *psi, double *alpha);
int qdm_enc_amplitude_real(const double *x, int len, int ldx, int n, int rows,
                           qdm_cplx *psi, double *alpha);
/* Backward through the normalisation: with psi = x / ||x|| and co-gradient
 * g = dL/dpsi, dL/dx = (g - Re<psi, g> psi) / alpha (first len entries).
 * gx is OVERWRITTEN (row stride ldgx). The _real form writes Re of it,
 * which is dL/dx for a real input. */
int qdm_enc_amplitude_backward(const qdm_cplx *psi, const double *alpha, const qdm_cplx *gpsi,
                               int len, int n, int rows, qdm_cplx *gx, int ldgx);
int qdm_enc_amplitude_real_backward(const qdm_cplx *psi, const double *alpha, const qdm_cplx *gpsi,
                                    int len, int n, int rows, double *gx, int ldgx);

/* ================= ansatz library (report section 4) ================= */

/* The Vatan-Williams block N(a, b, c) of section 4.3 / Fig. 1 on (q0, q1),
 * parameters theta[p], theta[p+1], theta[p+2] = (a, b, c):
 *   RZ(pi/2) q1; CNOT q1->q0; RZ(2c - pi/2) q0; RY(pi/2 - 2a) q1;
 *   CNOT q0->q1; RY(2b - pi/2) q1; CNOT q1->q0; RZ(-pi/2) q0.
 * With qdm's rotation convention R(t) = exp(-i t P / 2) its unitary is
 *   N(a, b, c) = e^{i phi} exp(-i(a' XX + b' YY + c' ZZ)),
 *   (a', b', c') = (-a, -b, c - pi/2),
 * with no local correction at all; equivalently
 *   N(a, b, c) = e^{i phi'} (Z (x) Z) exp(-i(-a XX - b YY + c ZZ)).
 * (Derivation: the block is diagonal in the Bell basis, where XX, YY, ZZ are
 * the signs (+-+), (-++), (++-), (---) ...; its four phases fix the three
 * coefficients. Checked exactly in tests/test_circuits.c.) Returns 3. */
int qdm_vw_block(qdm_circuit *c, int q0, int q1, int param_offset);

/* General two-qubit block used by qcnn and mera: RY on q0, RY on q1, then
 * N(a, b, c): 5 parameters. Returns 5. */
int qdm_block5(qdm_circuit *c, int q0, int q1, int param_offset);

/* Optional fixed first layer (no parameters). */
enum { QDM_INIT_NONE = 0, QDM_INIT_RY_PI4 = 1 /* RY(pi/4) on every qubit, authors' benchmark */ };

typedef struct {
  int init; /* QDM_INIT_* */
  int ring; /* hea, hva, conv, paper: also couple qubit n-1 with qubit 0 */
} qdm_ansatz_opts;

/* Build the named ansatz with `layers` layers on all c->n qubits (o may be
 * NULL: no init layer, no ring). Names (see qdm_ansatz_about for each):
 *   hea hva qcnn mera conv phasemix paper authors sim1 ... sim19
 * or a path ending in ".qasm": that OpenQASM file (see "OpenQASM" below)
 * is one layer, repeated with fresh parameters; its qubit count must be
 * c->n; the init layer applies, ring does not.
 * Returns the number of parameters used (>= 0) or a negative status. */
int qdm_ansatz_build(qdm_circuit *c, const char *name, int layers, int param_offset,
                     const qdm_ansatz_opts *o);
/* The mid-circuit measurements of an ansatz built by qdm_ansatz_build with
 * the same arguments on a fresh n-qubit circuit (positions count from its
 * first gate): for "qcnn-measured" (report 4.2's pooling by measurement:
 * the gates of qcnn, each pooled qubit measured before its pooling
 * rotations) n - 1 of them into meas (room for n - 1); 0 for every other
 * ansatz (coherent pooling: qcnn). Run them with qdm_dm_run_measured. */
int qdm_ansatz_measurements(const char *name, int n, int layers, const qdm_ansatz_opts *o, qdm_dm_meas *meas);
/* Parameter count for n qubits and L layers (negative status if invalid). */
int qdm_ansatz_nparams(const char *name, int n, int layers, const qdm_ansatz_opts *o);
/* i-th ansatz name (NULL past the end), and a one-line description with the
 * per-layer parameter count (NULL for an unknown name). */
const char *qdm_ansatz_name(int i);
const char *qdm_ansatz_about(const char *name);
/* Their names "none", "ry-pi4" (qdm_enum_parse / qdm_enum_str). */
extern const qdm_enum_name qdm_ansatz_init_names[];

/* The individual builders (same return convention as qdm_ansatz_build). */
int qdm_hea(qdm_circuit *c, int layers, int param_offset, int ring);      /* 2n / layer */
int qdm_hva(qdm_circuit *c, int layers, int param_offset, int ring);      /* 2 / layer */
int qdm_qcnn(qdm_circuit *c, int layers, int param_offset);
/* The same gates, and the measurement before each pooling (meas: room for
 * c->n - 1, *nm their count; positions are c's gate indices). */
int qdm_qcnn_measured(qdm_circuit *c, int layers, int param_offset, qdm_dm_meas *meas, int *nm);
int qdm_mera(qdm_circuit *c, int layers, int param_offset);               /* n = 2^k */
int qdm_conv(qdm_circuit *c, int layers, int param_offset, int ring);     /* 3 per pair */
int qdm_phasemix(qdm_circuit *c, int layers, int param_offset);           /* n-1 / layer */
int qdm_paper(qdm_circuit *c, int layers, int param_offset, int ring);
int qdm_authors(qdm_circuit *c, int layers, int param_offset);
int qdm_sim(qdm_circuit *c, int id, int layers, int param_offset);        /* id 1..19 */

/* ================= OpenQASM: circuits in and out ================= */

/* Qubit order: register qubit q[i] is qdm qubit i, the (i+1)-th least
 * significant bit of a basis index (Qiskit's convention); several
 * registers are laid out in declaration order (qreg a[2]; qreg b[1];:
 * a[0], a[1], b[0] = qubits 0, 1, 2).
 *
 * WRITING (OpenQASM 3, `OPENQASM 3.0; include "stdgates.inc";`,
 * register `qubit[n] q;`). A qdm angle a * theta[i] + b is written as an
 * expression in `input float[64] theta_<i>;` (all i < c->nparams are
 * declared, used or not, so the order survives), or as its value when
 * theta is given. Numbers are the shortest decimal that reads back to the
 * same double, or k*pi/m when that is exact: angles read back bit for bit.
 * Gate kinds: I X Y Z H S SDG T TDG SX RX RY RZ P -> id x y z h s sdg t
 * tdg sx rx ry rz p; U3 -> U (OpenQASM 3's U is qsim.h's U3 exactly);
 * SWAP -> swap; RXX RYY RZZ -> rxx ryy rzz, which stdgates.inc lacks, so
 * the file defines them (exactly, from cx, h, rx and rz). Controls (cmask)
 * -> cx cy cz ch cp crx cry crz cswap ccx where those fit, else
 * `ctrl(k) @` in front of the base gate; controls first, ascending. DIAG
 * (unit-modulus entries) -> phase gates: with phi_S the phase at the
 * local index whose bits are the set S, the Moebius coefficients
 * c_S = sum_{T in S} (-1)^{|S|-|T|} phi_T give diag = prod_S
 * exp(i c_S [all qubits of S are 1]), each a (multi-)controlled p(c_S)
 * (c_{} is gphase, or p on a control); exact up to rounding of the phases.
 * DENSE has no exact form short of a synthesis qdm does not do: it is an
 * error naming the gate index, as are per-row inputs (qdm_input angles).
 *
 * READING (OpenQASM 2.0 with include "qelib1.inc", OpenQASM 3 with
 * include "stdgates.inc"; no version line = 3). Without the include only
 * U and CX (2.0) or U and gphase (3) exist. Known gates (the union of both
 * libraries that qdm represents, each with its exact OpenQASM 3 meaning):
 *   U u u3 u2 u1 p phase id u0 x y z h s sdg t tdg sx sxdg rx ry rz
 *   cx CX cy cz ch csx cp cphase cu1 crx cry crz cu3 cu swap cswap ccx
 *   c3x c4x rxx ryy rzz (rxx etc. = exp(-i theta P(x)P / 2)), gphase.
 * Conventions that differ: U/u/u3 (2.0) and U/u (3) are qsim.h's U3;
 * OpenQASM 3's u3(t, f, l) = e^{-i(f+l)/2} U3 and u2(f, l) = u3(pi/2, f, l);
 * rz is R_Z = e^{-i l/2} u1. In 2.0 only global phases differ, which 2.0
 * ignores; under OpenQASM 3's `ctrl @` a global phase becomes a phase on
 * the control and qdm keeps it; at top level a global phase (gphase, the
 * phase of u2/u3) is dropped, since a qdm circuit has none (so a DIAG
 * without controls reads back up to its global phase, and a file meant as
 * the controlled block of the model should use U, not u3, if the phase
 * matters). Controlled gates are the exact controlled
 * matrices (as qelib1.inc's decompositions give up to a global phase):
 * cu1 = cp = diag(1, 1, 1, e^{i l}); crz = controlled R_Z; cu3(t, f, l) =
 * controlled U3; cu(t, f, l, g) = controlled e^{i g} U3 (OpenQASM 3 and
 * Qiskit's 4-parameter cu).
 * Also read: qreg/creg, qubit/bit registers, broadcasting over whole
 * registers (h q; cx a, b;), `gate` definitions (a body may call gates
 * defined before it; checked when called; a definition wins over a known
 * gate of the same name, as in files that define rzz), the modifiers ctrl @,
 * ctrl(k) @, negctrl @, inv @ and pow(k) @ for integer k, barrier
 * (ignored), and measurement (measure q -> c; c = measure q;) when no gate
 * acts on a measured qubit afterwards: the circuit is the unitary before
 * the measurements. Parameters: `input float[..] name;` and `input angle[..]
 * name;` become theta[0..P-1] in declaration order. Angle expressions: numbers,
 * pi/tau/euler (and the letters), the parameters, + - * / ^ ** unary minus,
 * parentheses, and sin cos tan exp ln sqrt arcsin arccos arctan of
 * constants; the result must be a * theta + b in at most one parameter.
 * Anything else (reset, if, for, while, classical variables, opaque, slices,
 * physical qubits $n, mid-circuit measurement, pow with a non-integer
 * exponent, ...) is an error "file:line: what" naming the construct.
 * Limits: 30 qubits, QDM_QASM_MAX_TEXT bytes, expressions 64 deep, gate
 * calls 64 deep, 8M gates + calls + gate-body tokens in all. */
#define QDM_QASM_MAX_TEXT (16 << 20)

typedef struct {
  qdm_circuit *c;  /* the circuit (owned); c->n = qubits declared */
  int nparams;     /* input parameters: theta[0..nparams-1] in declaration order */
  char **names;    /* their names as in the file (owned) */
  int version;     /* 2 or 3 */
} qdm_qasm;

/* Read an OpenQASM file / text (name: for messages, e.g. the path; NULL =
 * "<string>"). QDM_OK, or QDM_EFORMAT with "name:line: what" (QDM_EIO,
 * QDM_ENOMEM); on error *q is empty. Free with qdm_qasm_free. */
int qdm_qasm_read(const char *path, qdm_qasm *q);
int qdm_qasm_parse(const char *text, size_t len, const char *name, qdm_qasm *q);
void qdm_qasm_free(qdm_qasm *q);
/* Append q's circuit `layers` times to c (c->n must equal q->c->n), layer
 * l reading theta[param_offset + l P .. + P - 1], P = q->nparams. Returns
 * layers * P, or a negative status (builder convention above). */
int qdm_qasm_append(qdm_circuit *c, const qdm_qasm *q, int layers, int param_offset);
/* Write c as OpenQASM 3 (see above): parameters as inputs (theta NULL) or
 * bound to theta[0..c->nparams-1]. comment (may be NULL): text written as
 * `//` lines after the header. Nothing is written if c has no OpenQASM
 * form. _write goes through a temporary file renamed into place. */
int qdm_qasm_fwrite(FILE *f, const qdm_circuit *c, const double *theta, const char *comment);
int qdm_qasm_write(const char *path, const qdm_circuit *c, const double *theta, const char *comment);

/* ============ adaptive non-local observables (report section 5) ============ */

/* Where the observables act. GLOBAL: one site set, all n qubits (the
 * authors' form, k = n). SLIDING: windows of k consecutive qubits
 * {i, ..., i+k-1}, i = 0..n-k. SUBSETS: all C(n, k) k-subsets, in
 * lexicographic order. Every site set carries `per_set` observables, so
 * K = per_set * nsets; observable j lives on set j / per_set. */
enum { QDM_ANO_GLOBAL = 0, QDM_ANO_SLIDING = 1, QDM_ANO_SUBSETS = 2 };

typedef struct {
  int n;        /* qubits of the state */
  int k;        /* qubits per observable; d = 2^k */
  int d;
  int layout;   /* QDM_ANO_* */
  int nsets, per_set, K;
  int *sites;   /* nsets * k qubits; sites[s*k + 0] is the LSB of the local index */
  qdm_cplx *M;  /* K free complex d x d matrices, row-major (eq. 21); the
                 * trainable parameters: 2 K d^2 doubles (re, im interleaved) */
} qdm_ano;

qdm_ano *qdm_ano_new(int n, int k, int layout, int per_set);
void qdm_ano_free(qdm_ano *a);
/* M entries i.i.d. complex Gaussian times `scale`. */
void qdm_ano_init(qdm_ano *a, qdm_rng *r, double scale);
/* H_j = (M_j + M_j^dagger) / 2 for all j (K d^2 values), eq. (21). */
int qdm_ano_hermitian(const qdm_ano *a, qdm_cplx *H);
/* y[r * K + j] = <psi_r| H_j |psi_r> = tr(rho_r H_j), eq. (22). */
int qdm_ano_forward(const qdm_ano *a, const qdm_cplx *psi, int rows, double *y);
/* Given dy = dL/dy (rows x K): gpsi += co-gradient w.r.t. psi (may be NULL),
 * dM += co-gradient w.r.t. M (may be NULL): dL/dRe M + i dL/dIm M. */
int qdm_ano_backward(const qdm_ano *a, const qdm_cplx *psi, int rows, const double *dy,
                     qdm_cplx *gpsi, qdm_cplx *dM);

/* Fixed Pauli-Z readout for comparison: y[r * n + q] = <Z_q>. */
int qdm_zreadout_forward(const qdm_cplx *psi, int n, int rows, double *y);
/* gpsi += 2 sum_q dy[r*n+q] Z_q psi_r. */
int qdm_zreadout_backward(const qdm_cplx *psi, int n, int rows, const double *dy, qdm_cplx *gpsi);

#ifdef __cplusplus
}
#endif
#endif
