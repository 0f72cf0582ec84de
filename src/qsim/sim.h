/* sim.h -- the engine's internals: a circuit compiled for one parameter
 * vector into "ops" (local matrix + targets + control mask), and the kernels
 * that apply ops to states in two layouts:
 *   - interleaved: one state, double complex amplitudes (the public layout),
 *     used for large n where a gate is a pass over memory;
 *   - tile: TILE rows in split re/im layout re[i][r], so one gate is a
 *     vector loop over rows; used for small n and many rows, where a whole
 *     circuit runs on a tile that stays in L1. */
#ifndef QDM_SIM_H
#define QDM_SIM_H
#include "qdm/qsim.h"
#include "core/parallel.h" /* qdm__parallel_worth: amplitude-gate updates */


enum { OP_GENERAL, OP_DIAG, OP_REAL, OP_RX, OP_SWAP };

typedef struct {
  uint8_t nt, cls;
  uint8_t fixed;            /* precompiled matrix (a gate without parameters or inputs) */
  int8_t t[QDM_MAX_TARGETS];
  uint32_t cmask;
  int npos;                 /* targets + controls */
  int8_t pos[QDM_MAX_QUBITS]; /* sorted target and control positions */
  const qdm_cplx *M;        /* 2^nt x 2^nt local matrix (row-major) */
  qdm_cplx m[16];           /* storage for nt <= 2 */
} sim_op;

static inline int is0(qdm_cplx z) { return creal(z) == 0 && cimag(z) == 0; }

/* k-th group of an op: k with zero bits inserted at the sorted positions */
static inline size_t insert0(size_t k, const int8_t *pos, int npos) {
  for (int j = 0; j < npos; j++) {
    size_t p = (size_t)pos[j];
    k = ((k >> p) << (p + 1)) | (k & (((size_t)1 << p) - 1));
  }
  return k;
}

/* local index l -> offset of the amplitude within a group */
static inline void offsets(const sim_op *op, size_t *off) {
  int d = 1 << op->nt;
  for (int l = 0; l < d; l++) {
    size_t o = 0;
    for (int j = 0; j < op->nt; j++)
      if (l >> j & 1) o |= (size_t)1 << op->t[j];
    off[l] = o;
  }
}


/* the op's gate structure: targets, controls, sorted positions */
void qdm__op_struct(sim_op *op, const qdm_gate *g);
/* its local matrix (copied if nt <= 2, else referenced) and matrix class */
void qdm__op_matrix(sim_op *op, const qdm_cplx *M);
/* Precompile gate i of c into c->pre (op and dagger): the structure always,
 * the matrices too for gates with no parameter or input (c->pre grows with
 * the gate array). */
int qdm__precompile(qdm_circuit *c, int i);
/* conj-transpose of op into out (buf: storage for its matrix when nt > 2) */
void qdm__op_dagger(const sim_op *op, sim_op *out, qdm_cplx *buf);

/* interleaved single state of n qubits */
void qdm__sim_apply(qdm_cplx *psi, int n, const sim_op *op);
/* Re sum conj(lam) (D psi) over the op's controlled subspace, D local matrix */
double qdm__sim_dot(const qdm_cplx *lam, const qdm_cplx *psi, int n, const sim_op *op, const qdm_cplx *D);


extern int qdm__sim_path;
#endif
