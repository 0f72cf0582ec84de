/* qdm/model.h -- the Hybrid Quantum-Classical U-Net of report section 6.4,
 * in the authors' form (docs/architecture.md) with every part
 * switchable for ablations:
 *
 *   x_t (D complex) -> [Re, Im] -> Linear(2D, H) -> ReLU -> Linear(H, 2^n)
 *     -> LayerNorm -> L2-normalise = amplitude state psi0 (eqs. 14-15)
 *   block 1: U1(theta[g]) psi0                                 (section 4)
 *   block 2 (ancilla): controlled-U2 from an ancilla in |+>, H on the
 *     ancilla; <Z_ancilla> = Re <psi|U2|psi> is a feature; the state goes
 *     on as (ancilla_mode) the ancilla's |0> branch (I + U2) psi / 2
 *     (projection, qdm's default) or the sum of both branches, which is psi
 *     itself (the authors' code); then renormalise, complex leaky ReLU,
 *     renormalise
 *   block 3: U3(theta[g]) then K adaptive non-local observables
 *     y_k = <psi|H_k|psi>, H_k = (M_k + M_k^dagger)/2          (eqs. 21-22)
 *   decoder: concat(features, skip = [Re, Im] of x_t) -> Linear -> ReLU
 *     -> Linear(H, 2D) -> complex D -> L2-normalise
 *
 * The circuit parameters are a table indexed by g = (t, label) (or t alone
 * when unconditional): every row of a group shares one circuit, so each
 * block is applied as one 2^n x 2^n unitary per group (the engine's fused
 * path) and its gradient is reduced to one dL/dU per group. */
#ifndef QDM_MODEL_H
#define QDM_MODEL_H
#include "qdm/circuits.h"
#include "qdm/nn.h"
#include "qdm/qsim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest OpenQASM text a model's ansatz may be (one layer). */
#define QDM_QASM_ANSATZ_MAX 16384

typedef struct {
  int D;            /* complex values per image (16 x 16 = 256) */
  int hidden;       /* width of the classical layers (512) */
  int n;            /* bottleneck qubits (4) */
  int layers;       /* ansatz layers per block (10) */
  char ansatz[64];  /* ansatz name from circuits.h ("authors"), or the name of the file ansatz_qasm came from */
  char ansatz_qasm[QDM_QASM_ANSATZ_MAX]; /* "" or the OpenQASM 2/3 text of one layer of the
                     * ansatz (qdm_qasm_parse); a checkpoint carries it, so
                     * the model is rebuilt without the file */
  int ancilla;      /* block 2 on/off */
  int ancilla_mode; /* QDM_ANCILLA_PROJECT (0) or QDM_ANCILLA_SUM: what of block 2's state goes on */
  int measure;      /* QDM_MEASURE_ANO or QDM_MEASURE_PAULI */
  int K;            /* ANO observables (16): on the whole register (global), or on EACH
                     * site set of a local layout, so K x sets features */
  int ano_layout;   /* QDM_ANO_GLOBAL (0, the authors'), QDM_ANO_SLIDING (windows of
                     * ano_k consecutive qubits) or QDM_ANO_SUBSETS (all ano_k-subsets):
                     * circuits.h; a local observable has 4^k real pairs, not 4^n */
  int ano_k;        /* qubits per observable of a local layout (0 for global) */
  int encoding;     /* the bottleneck's state preparation (report section 3):
                     * QDM_ENC_AMPLITUDE (0, the authors'), _ANGLE, _PHASE, _DENSE, _BASIS */
  int skip;         /* skip connection on/off */
  int classical;    /* classical bottleneck in place of the circuit */
  int conditional;  /* circuit table indexed by (t, label) (1) or t (0) */
  int T, classes;   /* diffusion steps and label count */
  int t_groups;     /* the circuit table's t axis: 0 = one row per step t; K = one per
                     * stratum of steps (qdm_t_stratum: K contiguous runs of the
                     * T steps share a circuit), for long diffusions */
  double leak;      /* slope of the complex leaky ReLU in block 2 */
  qdm_precision precision; /* of the classical part (encoder, LayerNorm, decoder, the
                     * classical bottleneck): their weights, activations and
                     * GEMMs in double (QDM_F64, 0) or float (QDM_F32, sgemm).
                     * The circuits (see circuit_precision), their angles and
                     * the ANO matrices are complex128 / double in both. */
  qdm_circuit_precision circuit_precision; /* the blocks' state vectors on the pair
                     * path (ansatzes of one- and two-qubit gates, no noise):
                     * QDM_C128 (0, the authors') or QDM_C64: the blocks' fused
                     * matrices, sweeps and angle gradients in complex64, twice
                     * the groups per vector; the angles, their sines and
                     * cosines, the rows between blocks and the ANO stay double. */
  /* hardware realism (docs/noise.md). Both default to off, and
   * off leaves the exact state-vector path untouched. */
  long shots;       /* 0: exact expectation values; N >= 1: every measured
                     * feature (ANO, Pauli-Z, ancilla <Z>) is the mean of N
                     * simulated shots, in training and sampling. Backward is
                     * straight-through: the exact gradient of the exact
                     * expectation (the forward value is unbiased; the
                     * gradient misses only the O(1/N) shot-variance term). */
  char noise[32];   /* "" or "none"; "depolarizing:P" or "amplitude_damping:G"
                     * (qdm_noise_parse): the circuit blocks run as density
                     * matrices with that one-qubit channel after every gate,
                     * features tr(rho H_k). Needs ancilla = 0 (block 2's
                     * leaky ReLU is not defined on a mixed state) and n <= 6. */
} qdm_unet_cfg;

enum { QDM_MEASURE_ANO = 0, QDM_MEASURE_PAULI = 1 };
/* How the encoder's output becomes the state psi0 (report section 3). The
 * encoder's last Linear and its LayerNorm are as wide as the encoding
 * needs (qdm_unet_enc_width): 2^n values for AMPLITUDE (then L2-normalised,
 * eqs. 14-15), n angles for ANGLE (RY(x_q)|0>, eq. 16), PHASE (P(x_q) H|0>,
 * eq. 17) and BASIS, 2n for DENSE (eq. 19: RY(2 x_2q) then P(x_2q+1)).
 * BASIS (eq. 13) thresholds: bit q = [x_q > 0], the basis state |b>; its
 * backward is straight-through: dL/dx_q := dL/db_q of the relaxation
 * RY(pi b_q)|0> (exact at b in {0,1}), since the true derivative of a
 * threshold is zero almost everywhere. */
enum { QDM_ENC_AMPLITUDE = 0, QDM_ENC_ANGLE = 1, QDM_ENC_PHASE = 2, QDM_ENC_DENSE = 3, QDM_ENC_BASIS = 4 };
extern const qdm_enum_name qdm_encoding_names[];   /* amplitude angle phase dense basis */
extern const qdm_enum_name qdm_ano_layout_names[]; /* global sliding subsets */
/* Values the encoder hands to the state preparation per row (2^n, n or 2n). */
int qdm_unet_enc_width(const qdm_unet_cfg *c);
/* Site sets of the configuration's ANO layout (1 for global); its
 * observables are K per set. */
int qdm_unet_ano_sets(const qdm_unet_cfg *c);
/* Block 2's state after the final H on the ancilla is |0> s0 + |1> s1 with
 * s0 = (I + U) psi / 2, s1 = (I - U) psi / 2. PROJECT keeps s0 (the
 * ancilla measured in |0>, the report's reading); SUM keeps s0 + s1 = psi,
 * what the authors' code computes (their "<+| projection"): the state
 * passes through and only <Z_ancilla> carries U2's effect. */
enum { QDM_ANCILLA_PROJECT = 0, QDM_ANCILLA_SUM = 1 };
extern const qdm_enum_name qdm_ancilla_mode_names[]; /* project sum */

/* The authors' configuration (docs/architecture.md), block 2 as their
 * code computes it (QDM_ANCILLA_SUM). */
void qdm_unet_cfg_authors(qdm_unet_cfg *c);
/* Every field in its domain and the combination buildable: QDM_OK or
 * QDM_EINVAL naming the field (qdm_unet_new calls it). */
int qdm_unet_cfg_check(const qdm_unet_cfg *c);
/* Make the OpenQASM file at path (one layer; qdm_qasm_read) the model's
 * ansatz: its text goes into c->ansatz_qasm, its name into c->ansatz.
 * Errors name the file (too long, unreadable, not OpenQASM). */
int qdm_unet_cfg_ansatz_file(qdm_unet_cfg *c, const char *path);
/* The circuit table's number of t rows: c->t_groups, or T when 0. */
int qdm_unet_t_groups(const qdm_unet_cfg *c);
/* Angles per circuit block of the configuration (the ansatz's parameters
 * over its layers), or a negative status for an unbuildable ansatz. */
int qdm_unet_block_params(const qdm_unet_cfg *c);

/* A named parameter tensor of the model: its values, gradient, shape. A
 * tensor is double (p, g) or float (pf, gf; the classical tensors of a
 * QDM_F32 model); the other pair is NULL. */
typedef struct {
  char name[32];
  qdm_precision dtype;
  double *p, *g;
  float *pf, *gf;
  size_t n;
  int ndim;
  int64_t shape[4];
  int group;        /* QDM_PG_CLASSICAL, QDM_PG_CIRCUIT, QDM_PG_ANO */
} qdm_unet_param;
enum { QDM_PG_CLASSICAL = 0, QDM_PG_CIRCUIT = 1, QDM_PG_ANO = 2 };

typedef struct qdm_unet qdm_unet;

/* Allocates the model for batches of up to max_rows rows and initialises
 * its parameters from rng (PyTorch defaults for the classical layers,
 * U(0, 2 pi) for circuit angles, complex Gaussian / sqrt(2^k) for ANO on k
 * qubits, 2^n for the global form). */
qdm_unet *qdm_unet_new(const qdm_unet_cfg *cfg, int max_rows, qdm_rng *rng);
/* Bytes qdm_unet_new(cfg, max_rows) allocates for parameters, gradients and
 * activations (not the shots/noise paths' buffers); 0 for an invalid cfg. */
size_t qdm_unet_bytes(const qdm_unet_cfg *cfg, int max_rows);
void qdm_unet_free(qdm_unet *m);
const qdm_unet_cfg *qdm_unet_config(const qdm_unet *m);
/* Parameter tensors (for the optimiser and checkpoints): views into one
 * flat buffer, tensor after tensor in qdm_unet_param_at order. The model
 * owns them (valid until qdm_unet_free; do not free). */
int qdm_unet_nparams(const qdm_unet *m);
qdm_unet_param *qdm_unet_param_at(qdm_unet *m, int i);
/* The flat parameter and gradient buffers (*n values each, n may be NULL),
 * for EMA copies and reductions in one loop: the double tensors, in
 * qdm_unet_param_at order (every tensor of a QDM_F64 model), and the float
 * tensors (the classical ones of a QDM_F32 model; NULL and 0 otherwise). */
double *qdm_unet_params(qdm_unet *m, size_t *n);
double *qdm_unet_grads(qdm_unet *m, size_t *n);
float *qdm_unet_params_f32(qdm_unet *m, size_t *n);
float *qdm_unet_grads_f32(qdm_unet *m, size_t *n);
/* Totals per group: circuit angles, ANO matrix entries (real count), classical. */
void qdm_unet_counts(const qdm_unet *m, size_t *circuit, size_t *ano, size_t *classical);

/* Forward on rows x (B x D complex, expected unit norm), steps t[r] in
 * 1..T, labels[r] in 0..classes-1 (may be NULL when unconditional or
 * classes == 1). out: B x D complex, unit norm. Activations are kept for
 * the backward pass. */
int qdm_unet_forward(qdm_unet *m, const qdm_cplx *x, const int *t, const int *labels, int B,
                     qdm_cplx *out);
/* The last forward's B x D output, held by the model until its next
 * forward (what out receives; pass out = NULL to skip the copy). */
const qdm_cplx *qdm_unet_output(const qdm_unet *m);
/* Backward of the last forward: dout = co-gradient w.r.t. out. Parameter
 * gradients are ACCUMULATED into each param's g; call qdm_unet_zero_grad
 * before a step. dx (B x D, may be NULL) receives the co-gradient w.r.t. x,
 * through the encoder and the skip connection (an extra GEMM; training
 * passes NULL). */
int qdm_unet_backward(qdm_unet *m, const qdm_cplx *dout, qdm_cplx *dx);
void qdm_unet_zero_grad(qdm_unet *m);

/* 1: run the circuit blocks gate by gate on every row (the engine's
 * per-row path) instead of one fused unitary per group; same numbers to
 * rounding, slower. For tests and benchmarks. */
void qdm_unet_set_gate_path(qdm_unet *m, int on);

/* The seed of the shot generators (only used when cfg.shots > 0). By
 * default it is derived from the rng given to qdm_unet_new, without
 * advancing it; each row's shots are then drawn from a generator seeded by
 * (this seed, the row's x, t, label), so they are reproducible, independent
 * of threads and batch composition, and a resumed run draws the same ones. */
void qdm_unet_set_shot_seed(qdm_unet *m, uint64_t seed);

/* The bottleneck features of the last forward (B x F in row order: the
 * measured values, then <Z_ancilla> if block 2 is on), as the decoder saw
 * them (shot estimates when cfg.shots > 0). Valid until the next backward,
 * which reuses the buffer. *F (may be NULL) receives F. */
const double *qdm_unet_features(const qdm_unet *m, int *F);

/* For an optimiser of the circuit table (QNGD, include/qdm/qngd.h): the
 * block circuit (the same ansatz for every block; nblocks blocks of P angles
 * per group, table "circuit.theta" laid out [group][block][P]), and the
 * states that entered block blk for group g in the last forward (pure
 * states, rows of them; rows = 0 if the batch had none of that group).
 * Noisy blocks (cfg.noise) are density matrices: these are their noiseless
 * inputs. */
const qdm_circuit *qdm_unet_block_circuit(const qdm_unet *m, int *nblocks, int *P, int *groups);
int qdm_unet_block_inputs(const qdm_unet *m, int g, int blk, const qdm_cplx **psi, int *rows);

/* The trained bottleneck as OpenQASM 3 files in dir (created if needed):
 * for every group g = (t, label) and block, tTT_labelL_blockB.qasm
 * (tTT_blockB.qasm when unconditional), angles bound (qdm_qasm_write).
 * Blocks 1 and 3 are U1 and U3 on q[0..n-1]; block 2 is the ancilla
 * circuit on n + 1 qubits, ancilla q[n]: H, U2 controlled by q[n], H
 * (the model keeps the ancilla's |0> branch and renormalises; the leaky
 * ReLU after it is classical). The measurement is not an OpenQASM object:
 * observables.json holds the K Hermitians H_k = (M_k + M_k^dagger) / 2 as
 * "re" and "im" arrays [k][row][column] in the files' basis order (or
 * says "pauli-z"). Every file is written atomically. */
int qdm_unet_write_qasm(qdm_unet *m, const char *dir);

/* Seconds spent so far: dense, the classical layers (encoder, decoder);
 * circuit, the bottleneck's circuits (or the classical bottleneck); ano,
 * the measurement (ANO or Pauli readout, forward and backward); other,
 * what a training step does besides the model (data rows, loss, optimiser),
 * as reported by the training loop. circuit_flops: the arithmetic of the
 * circuits' fused 4x4 steps in those seconds (rows on the pair path only;
 * 8 flops a complex multiply-add), the numerator of a circuit GFLOP/s.
 * reset: set all five to 0 after reading. */
typedef struct {
  double dense, circuit, ano, other, circuit_flops;
} qdm_unet_timing;
void qdm_unet_timing_get(qdm_unet *m, qdm_unet_timing *t, int reset);

/* The Linear layers of the encoder and decoder in forward order (enc1,
 * enc2, dec1, dec2): layer i maps in[i] -> out[i] values per row, and a
 * training step (qdm_unet_backward with dx NULL) forms dx_cols[i] columns
 * of its input gradient: none for enc1 (its input is data), only the
 * features' for dec1 (not the skip's). dx_cols may be NULL. Writes at most
 * max entries; returns the number of layers (4). */
int qdm_unet_linear_shapes(const qdm_unet *m, int *in, int *out, int *dx_cols, int max);
/* Dense multiply-adds per row of those layers (forward), for GFLOP/s
 * accounting: the sum of in[i] * out[i]. */
double qdm_unet_dense_macs(const qdm_unet *m);

#ifdef __cplusplus
}
#endif
#endif
