/* sim.c -- the 19 circuit templates of Sim, Johnson & Aspuru-Guzik,
 * "Expressibility and entangling capability of parameterized quantum
 * circuits for hybrid quantum-classical algorithms", Adv. Quantum Technol.
 * 2, 1900070 (2019), arXiv:1905.10876, Fig. 2, for any n >= 2.
 *
 * Wire j of the figure (top = 0) is qdm qubit j. One layer is the whole
 * template of the figure; L layers repeat it with fresh parameters. The gate
 * orders for n = 4 were read from the figure as transcribed in the public
 * replication github.com/bagmk/Quantum_Machine_Learning_Express
 * (Pyfiles/circuits_n1.py, Qiskit); the general-n forms of the rings follow
 * the PennyLane transcriptions of circuit 19 in
 * github.com/benyucong/quantum-code-generation (ansatzes/sim19.py: CRX(n-1 -> 0)
 * then CRX(i -> i+1) for i = n-2..0) and of circuit 14 in the Quixer code
 * (ansatz_14_pennylane: second ring over controls [n-1, 0, 1, ..., n-2] with
 * target i-1 mod n). Ladders run from the bottom wire up: (n-1 -> n-2), ...,
 * (1 -> 0); "pairs" are (1 -> 0), (3 -> 2), ... and "shifted pairs"
 * (2 -> 1), (4 -> 3), ...
 *
 * Parameter counts per layer (n = 4 in brackets, as in the paper's table):
 *  1: 2n [8]      2: 2n [8]       3: 3n-1 [11]   4: 3n-1 [11]
 *  5, 6: 4n + n(n-1) [28]         7, 8: 4n + floor(n/2) + floor((n-1)/2) [19]
 *  9: n [4]      10: 2n [8]      11, 12: 2n + 4 floor((n-1)/2) [12]
 *  13, 14: 4n [16]    15: 2n [8]   16, 17: 2n + n - 1 [11]   18, 19: 3n [12]
 * (circuit 10 at n = 2 drops the closing CZ, which would repeat CZ(1, 0)). */
#include <math.h>
#include "qdm/circuits.h"

#define TRY(x) do { int e_ = (x); if (e_) return -e_; } while (0)

typedef struct {
  qdm_circuit *c;
  int p; /* next parameter index */
} sim_b;

static int rot_all(sim_b *b, qdm_gate_kind k) {
  for (int q = 0; q < b->c->n; q++) TRY(qdm_addr(b->c, k, q, qdm_par(b->p++)));
  return 0;
}

/* Two-qubit gate of kind k (GX = CNOT, GZ = CZ, GRX/GRZ = controlled
 * rotation with a fresh parameter) from ctrl to targ. */
static int two(sim_b *b, qdm_gate_kind k, int ctrl, int targ) {
  if (k == QDM_GX || k == QDM_GZ) return -qdm_addc(b->c, k, ctrl, targ, qdm_fixed(0));
  return -qdm_addc(b->c, k, ctrl, targ, qdm_par(b->p++));
}

#define TWO(b, k, c, t) do { int e_ = two(b, k, c, t); if (e_) return e_; } while (0)
#define SUB(x) do { int e_ = (x); if (e_) return e_; } while (0)

static int ladder(sim_b *b, qdm_gate_kind k) {
  for (int i = b->c->n - 1; i >= 1; i--) TWO(b, k, i, i - 1);
  return 0;
}

/* (i+1 -> i) for i = start, start+2, ... */
static int pairs(sim_b *b, qdm_gate_kind k, int start) {
  for (int i = start; i + 1 < b->c->n; i += 2) TWO(b, k, i + 1, i);
  return 0;
}

/* i -> i+1 mod n for i = n-1 down to 0: (n-1 -> 0), (n-2 -> n-1), ..., (0 -> 1). */
static int ring_down(sim_b *b, qdm_gate_kind k) {
  int n = b->c->n;
  for (int i = n - 1; i >= 0; i--) TWO(b, k, i, (i + 1) % n);
  return 0;
}

/* The other way round: controls n-1, 0, 1, ..., n-2 with target i-1 mod n:
 * (n-1 -> n-2), (0 -> n-1), (1 -> 0), ..., (n-2 -> n-3). */
static int ring_up(sim_b *b, qdm_gate_kind k) {
  int n = b->c->n;
  for (int j = 0; j < n; j++) {
    int i = j == 0 ? n - 1 : j - 1;
    TWO(b, k, i, (i - 1 + n) % n);
  }
  return 0;
}

static int rxrz(sim_b *b) {
  SUB(rot_all(b, QDM_GRX));
  return rot_all(b, QDM_GRZ);
}

static int all_to_all(sim_b *b, qdm_gate_kind k) {
  int n = b->c->n;
  for (int j = n - 1; j >= 0; j--)
    for (int i = n - 1; i >= 0; i--)
      if (i != j) TWO(b, k, j, i);
  return 0;
}

/* Circuits 11 and 12: the second rotations act on the qubits that the
 * shifted pairs touch, 1 .. 2 floor((n-1)/2). */
static int inner_ryrz(sim_b *b) {
  int hi = 2 * ((b->c->n - 1) / 2);
  for (int q = 1; q <= hi; q++) TRY(qdm_addr(b->c, QDM_GRY, q, qdm_par(b->p++)));
  for (int q = 1; q <= hi; q++) TRY(qdm_addr(b->c, QDM_GRZ, q, qdm_par(b->p++)));
  return 0;
}

static int layer(sim_b *b, int id) {
  int n = b->c->n;
  switch (id) {
  case 1: return rxrz(b);
  case 2: SUB(rxrz(b)); return ladder(b, QDM_GX);
  case 3: SUB(rxrz(b)); return ladder(b, QDM_GRZ);
  case 4: SUB(rxrz(b)); return ladder(b, QDM_GRX);
  case 5: case 6:
    SUB(rxrz(b)); SUB(all_to_all(b, id == 5 ? QDM_GRZ : QDM_GRX)); return rxrz(b);
  case 7: case 8: {
    qdm_gate_kind k = id == 7 ? QDM_GRZ : QDM_GRX;
    SUB(rxrz(b)); SUB(pairs(b, k, 0)); SUB(rxrz(b)); return pairs(b, k, 1);
  }
  case 9:
    for (int q = 0; q < n; q++) TRY(qdm_add1(b->c, QDM_GH, q));
    SUB(ladder(b, QDM_GZ));
    return rot_all(b, QDM_GRX);
  case 10:
    SUB(rot_all(b, QDM_GRY)); SUB(ladder(b, QDM_GZ));
    if (n > 2) TWO(b, QDM_GZ, n - 1, 0);
    return rot_all(b, QDM_GRY);
  case 11: case 12: {
    qdm_gate_kind k = id == 11 ? QDM_GX : QDM_GZ;
    SUB(rot_all(b, QDM_GRY)); SUB(rot_all(b, QDM_GRZ)); SUB(pairs(b, k, 0));
    SUB(inner_ryrz(b)); return pairs(b, k, 1);
  }
  case 13: case 14: case 15: {
    qdm_gate_kind k = id == 13 ? QDM_GRZ : id == 14 ? QDM_GRX : QDM_GX;
    SUB(rot_all(b, QDM_GRY)); SUB(ring_down(b, k)); SUB(rot_all(b, QDM_GRY)); return ring_up(b, k);
  }
  case 16: case 17: {
    qdm_gate_kind k = id == 16 ? QDM_GRZ : QDM_GRX;
    SUB(rxrz(b)); SUB(pairs(b, k, 0)); return pairs(b, k, 1);
  }
  default: /* 18, 19 */
    SUB(rxrz(b)); return ring_down(b, id == 18 ? QDM_GRZ : QDM_GRX);
  }
}

int qdm_sim(qdm_circuit *c, int id, int layers, int param_offset) {
  if (!c) return -qdm_fail(QDM_EINVAL, "qdm_sim: circuit is NULL");
  if (id < 1 || id > 19) return -qdm_fail(QDM_EINVAL, "qdm_sim: circuit id %d, expected 1..19", id);
  if (c->n < 2) return -qdm_fail(QDM_EINVAL, "qdm_sim: needs at least 2 qubits, circuit has %d", c->n);
  if (layers < 0) return -qdm_fail(QDM_EINVAL, "qdm_sim: layers = %d, expected >= 0", layers);
  if (param_offset < 0) return -qdm_fail(QDM_EINVAL, "qdm_sim: param_offset = %d, expected >= 0", param_offset);
  sim_b b = {c, param_offset};
  for (int l = 0; l < layers; l++) SUB(layer(&b, id));
  return b.p - param_offset;
}
