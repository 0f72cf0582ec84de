/* gates.c -- what a gate is as a matrix: the local matrices of every gate
 * kind and their derivatives (conventions in qsim.h), and compiling a gate
 * into the engine's op form (structure, matrix class, dagger) that the
 * kernels of kernels.c and tile.h apply. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "sim.h"

static const char *kind_name[QDM_GKINDS] = {
    "I", "X", "Y", "Z", "H", "S", "SDG", "T", "TDG", "SX", "RX", "RY", "RZ", "P", "U3",
    "SWAP", "RXX", "RYY", "RZZ", "DENSE", "DIAG"};

/* number of angles each kind takes */
static int kind_nang(int k) {
  if (k == QDM_GU3) return 3;
  if ((k >= QDM_GRX && k <= QDM_GP) || (k >= QDM_GRXX && k <= QDM_GRZZ)) return 1;
  return 0;
}

void qdm_gate_angles(const qdm_gate *g, const double *theta, const double *x, double v[3]) {
  for (int j = 0; j < 3; j++) {
    const qdm_angle *a = &g->ang[j];
    double s = a->src >= 0 ? theta[a->src] : a->src <= -2 ? x[-a->src - 2] : 0.0;
    v[j] = a->a * s + a->b;
  }
}

/* Matrices of the fixed and parametric gates; see the conventions in qsim.h. */
static void pauli_pair(int kind, qdm_cplx P[16]) {
  /* P (x) P on the 2-qubit local index b1 b0 */
  memset(P, 0, 16 * sizeof *P);
  if (kind == QDM_GRXX) { for (int i = 0; i < 4; i++) P[i * 4 + (3 - i)] = 1; }
  if (kind == QDM_GRYY) { P[0 * 4 + 3] = -1; P[1 * 4 + 2] = 1; P[2 * 4 + 1] = 1; P[3 * 4 + 0] = -1; }
  if (kind == QDM_GRZZ) { P[0] = 1; P[5] = -1; P[10] = -1; P[15] = 1; }
}

int qdm_gate_matrix(const qdm_circuit *c, const qdm_gate *g, const double *v, qdm_cplx *M, int j, qdm_cplx *dM) {
  const double r2 = M_SQRT1_2;
  int d = 1 << g->nt;
  memset(M, 0, (size_t)d * d * sizeof *M);
  if (dM) memset(dM, 0, (size_t)d * d * sizeof *dM);
  double h = v[0] / 2, cs = 1, sn = 0;
  if (qdm_gate_nangles(g) && g->kind != QDM_GP) { /* only rotations need them */
    cs = cos(h);
    sn = sin(h);
  }
  switch (g->kind) {
  case QDM_GI: M[0] = M[3] = 1; break;
  case QDM_GX: M[1] = M[2] = 1; break;
  case QDM_GY: M[1] = -I; M[2] = I; break;
  case QDM_GZ: M[0] = 1; M[3] = -1; break;
  case QDM_GH: M[0] = M[1] = M[2] = r2; M[3] = -r2; break;
  case QDM_GS: M[0] = 1; M[3] = I; break;
  case QDM_GSDG: M[0] = 1; M[3] = -I; break;
  case QDM_GT: M[0] = 1; M[3] = cexp(I * M_PI / 4); break;
  case QDM_GTDG: M[0] = 1; M[3] = cexp(-I * M_PI / 4); break;
  case QDM_GSX: M[0] = M[3] = 0.5 * (1 + I); M[1] = M[2] = 0.5 * (1 - I); break;
  case QDM_GRX:
    M[0] = M[3] = cs; M[1] = M[2] = -I * sn;
    if (dM) { dM[0] = dM[3] = -sn / 2; dM[1] = dM[2] = -I * cs / 2; }
    break;
  case QDM_GRY:
    M[0] = M[3] = cs; M[1] = -sn; M[2] = sn;
    if (dM) { dM[0] = dM[3] = -sn / 2; dM[1] = -cs / 2; dM[2] = cs / 2; }
    break;
  case QDM_GRZ:
    M[0] = cs - I * sn; M[3] = cs + I * sn;
    if (dM) { dM[0] = -0.5 * I * M[0]; dM[3] = 0.5 * I * M[3]; }
    break;
  case QDM_GP:
    M[0] = 1; M[3] = cexp(I * v[0]);
    if (dM) dM[3] = I * M[3];
    break;
  case QDM_GU3: {
    qdm_cplx el = cexp(I * v[2]), ep = cexp(I * v[1]);
    M[0] = cs; M[1] = -el * sn; M[2] = ep * sn; M[3] = ep * el * cs;
    if (dM && j == 0) { dM[0] = -sn / 2; dM[1] = -el * cs / 2; dM[2] = ep * cs / 2; dM[3] = -ep * el * sn / 2; }
    if (dM && j == 1) { dM[2] = I * M[2]; dM[3] = I * M[3]; }
    if (dM && j == 2) { dM[1] = I * M[1]; dM[3] = I * M[3]; }
    break;
  }
  case QDM_GSWAP: M[0] = M[15] = 1; M[1 * 4 + 2] = M[2 * 4 + 1] = 1; break;
  case QDM_GRXX: case QDM_GRYY: case QDM_GRZZ: {
    /* exp(-i theta/2 PP) = cos(theta/2) I - i sin(theta/2) PP since (PP)^2 = I */
    qdm_cplx P[16];
    pauli_pair(g->kind, P);
    for (int i = 0; i < 16; i++) {
      M[i] = (i % 5 == 0 ? cs : 0) - I * sn * P[i];
      if (dM) dM[i] = (i % 5 == 0 ? -sn / 2 : 0) - I * cs / 2 * P[i];
    }
    break;
  }
  case QDM_GDENSE: memcpy(M, c->pool + g->mat, (size_t)d * d * sizeof *M); break;
  case QDM_GDIAG:
    for (int i = 0; i < d; i++) M[i * d + i] = c->pool[g->mat + i];
    break;
  default: return qdm_fail(QDM_EINVAL, "qdm_gate_matrix: unknown gate kind %d", g->kind);
  }
  return QDM_OK;
}

int qdm_gate_nangles(const qdm_gate *g) { return kind_nang(g->kind); }
const char *qdm_gate_name(int kind) { return kind >= 0 && kind < QDM_GKINDS ? kind_name[kind] : "?"; }

/* ---------------- gates compiled into ops ---------------- */

void qdm__op_struct(sim_op *op, const qdm_gate *g) {
  op->nt = g->nt;
  op->fixed = 0;
  op->cmask = g->cmask;
  memcpy(op->t, g->t, sizeof op->t);
  uint32_t all = g->cmask;
  for (int i = 0; i < g->nt; i++) all |= 1u << g->t[i];
  for (op->npos = 0; all; all &= all - 1) op->pos[op->npos++] = (int8_t)__builtin_ctz(all);
}

void qdm__op_matrix(sim_op *op, const qdm_cplx *M) {
  int d = 1 << op->nt;
  if (d <= 4) {
    memcpy(op->m, M, (size_t)d * d * sizeof *M);
    op->M = op->m;
  } else {
    op->M = M;
  }
  M = op->M;
  int diag = 1, real = 1;
  for (int i = 0; i < d; i++)
    for (int j = 0; j < d; j++) {
      if (i != j && !is0(M[i * d + j])) diag = 0;
      if (cimag(M[i * d + j]) != 0) real = 0;
    }
  op->cls = diag ? OP_DIAG : OP_GENERAL;
  if (d == 2 && !diag) {
    if (is0(M[0]) && is0(M[3]) && M[1] == 1 && M[2] == 1) op->cls = OP_SWAP;
    else if (real) op->cls = OP_REAL;
    else if (cimag(M[0]) == 0 && cimag(M[3]) == 0 && creal(M[1]) == 0 && creal(M[2]) == 0) op->cls = OP_RX;
  }
}

void qdm__op_dagger(const sim_op *op, sim_op *out, qdm_cplx *buf) {
  int d = 1 << op->nt;
  *out = *op;
  qdm_cplx *dst = d <= 4 ? out->m : buf;
  for (int i = 0; i < d; i++)
    for (int j = 0; j < d; j++) dst[i * d + j] = conj(op->M[j * d + i]);
  out->M = dst;
  if (op->cls == OP_SWAP || op->cls == OP_REAL) return; /* classes are closed under dagger */
}

int qdm__precompile(qdm_circuit *c, int i) {
  if (c->precap < c->cap) { /* grows with the gate array */
    sim_op *np = realloc(c->pre, (size_t)c->cap * 2 * sizeof *np);
    if (!np) return qdm_fail(QDM_ENOMEM, "qdm_add: out of memory");
    c->pre = np;
    c->precap = c->cap;
  }
  const qdm_gate *g = &c->g[i];
  sim_op *op = (sim_op *)c->pre + 2 * (size_t)i;
  qdm__op_struct(op, g);
  int na = qdm_gate_nangles(g), fixed = g->nt <= 2;
  for (int j = 0; j < na; j++) fixed &= g->ang[j].src == -1;
  if (fixed) {
    qdm_cplx M[16];
    double v[3] = {g->ang[0].b, g->ang[1].b, g->ang[2].b};
    qdm_gate_matrix(c, g, v, M, 0, NULL);
    qdm__op_matrix(op, M);
    qdm__op_dagger(op, op + 1, NULL);
    op[0].fixed = op[1].fixed = 1;
  }
  return QDM_OK;
}
