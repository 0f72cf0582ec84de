/* circuit.c -- circuits are data: a validated list of gates whose angles are
 * affine in named parameters or per-row inputs, plus a pool for the matrices
 * of dense and diagonal gates. Nothing here simulates. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/qsim.h"
#include "pairs.h"
#include "sim.h"

qdm_circuit *qdm_circuit_new(int n) {
  if (n < 1 || n > QDM_MAX_QUBITS) {
    qdm_fail(QDM_EINVAL, "qdm_circuit_new: n = %d qubits, expected 1..%d", n, QDM_MAX_QUBITS);
    return NULL;
  }
  qdm_circuit *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->n = n;
  return c;
}

void qdm_circuit_free(qdm_circuit *c) {
  if (!c) return;
  free(c->g);
  free(c->pool);
  free(c->pre);
  free(c);
}

size_t qdm__circuit_bytes(const qdm_circuit *c) {
  if (!c) return 0;
  return sizeof *c + (size_t)c->cap * sizeof *c->g + c->poolcap * sizeof *c->pool + (size_t)c->precap * 2 * sizeof(sim_op);
}

void qdm_circuit_clear(qdm_circuit *c) {
  c->ngates = 0;
  c->npool = 0;
  c->nparams = c->ninputs = 0;
}

static int check_angle(const qdm_circuit *c, qdm_angle a) {
  (void)c;
  if (!isfinite(a.a) || !isfinite(a.b))
    return qdm_fail(QDM_EINVAL, "gate angle: non-finite coefficient (a = %g, b = %g)", a.a, a.b);
  return QDM_OK;
}

int qdm_add(qdm_circuit *c, qdm_gate g) {
  if (!c) return qdm_fail(QDM_EINVAL, "qdm_add: circuit is NULL");
  if (g.kind >= QDM_GKINDS) return qdm_fail(QDM_EINVAL, "qdm_add: unknown gate kind %d", g.kind);
  const char *nm = qdm_gate_name(g.kind);
  int want = g.kind >= QDM_GSWAP && g.kind <= QDM_GRZZ ? 2 : g.kind >= QDM_GDENSE ? -1 : 1;
  if (want > 0 && g.nt != want)
    return qdm_fail(QDM_EINVAL, "qdm_add: %s takes %d target(s), got %d", nm, want, g.nt);
  if (g.nt < 1 || g.nt > QDM_MAX_TARGETS)
    return qdm_fail(QDM_EINVAL, "qdm_add: %s with %d targets, expected 1..%d", nm, g.nt, QDM_MAX_TARGETS);
  uint32_t seen = 0;
  for (int i = 0; i < g.nt; i++) {
    if (g.t[i] < 0 || g.t[i] >= c->n)
      return qdm_fail(QDM_EINVAL, "qdm_add: %s target qubit %d out of range 0..%d", nm, g.t[i], c->n - 1);
    if (seen & (1u << g.t[i]))
      return qdm_fail(QDM_EINVAL, "qdm_add: %s target qubit %d given twice", nm, g.t[i]);
    seen |= 1u << g.t[i];
  }
  if (c->n < 32 && (g.cmask >> c->n))
    return qdm_fail(QDM_EINVAL, "qdm_add: %s control mask 0x%x names qubits beyond n = %d", nm, g.cmask, c->n);
  if (g.cmask & seen)
    return qdm_fail(QDM_EINVAL, "qdm_add: %s control and target share qubit(s) 0x%x", nm, g.cmask & seen);
  if (g.kind >= QDM_GDENSE) {
    size_t need = g.kind == QDM_GDENSE ? (size_t)1 << (2 * g.nt) : (size_t)1 << g.nt;
    if (g.mat < 0 || (size_t)g.mat + need > c->npool)
      return qdm_fail(QDM_EINVAL, "qdm_add: %s matrix offset %d outside the pool", nm, g.mat);
  } else {
    g.mat = -1;
  }
  int na = qdm_gate_nangles(&g);
  for (int j = 0; j < na; j++) {
    int r = check_angle(c, g.ang[j]);
    if (r) return r;
  }
  for (int j = na; j < 3; j++) g.ang[j] = qdm_fixed(0);
  if (c->ngates == c->cap) {
    int cap = c->cap ? 2 * c->cap : 64;
    qdm_gate *ng = realloc(c->g, cap * sizeof *ng);
    if (!ng) return qdm_fail(QDM_ENOMEM, "qdm_add: out of memory for %d gates", cap);
    c->g = ng;
    c->cap = cap;
  }
  for (int j = 0; j < na; j++) {
    int s = g.ang[j].src;
    if (s >= 0 && s + 1 > c->nparams) c->nparams = s + 1;
    if (s <= -2 && -s - 1 > c->ninputs) c->ninputs = -s - 1;
  }
  c->g[c->ngates] = g;
  int r = qdm__precompile(c, c->ngates);
  if (r) return r;
  c->ngates++;
  return QDM_OK;
}

static qdm_gate mk(qdm_gate_kind k, int nt, const int *t, uint32_t cmask) {
  qdm_gate g;
  memset(&g, 0, sizeof g);
  g.kind = k;
  g.nt = nt;
  for (int i = 0; i < nt && i < QDM_MAX_TARGETS; i++) g.t[i] = t[i];
  g.cmask = cmask;
  g.mat = -1;
  for (int j = 0; j < 3; j++) g.ang[j] = qdm_fixed(0);
  return g;
}

static int qubit_ok(const qdm_circuit *c, int q, const char *who) {
  if (!c) return qdm_fail(QDM_EINVAL, "%s: circuit is NULL", who);
  if (q < 0 || q >= c->n) return qdm_fail(QDM_EINVAL, "%s: qubit %d out of range 0..%d", who, q, c->n - 1);
  return QDM_OK;
}

int qdm_add1(qdm_circuit *c, qdm_gate_kind k, int q) {
  if (k > QDM_GSX) return qdm_fail(QDM_EINVAL, "qdm_add1: %s is not a fixed one-qubit gate", qdm_gate_name(k));
  return qdm_add(c, mk(k, 1, &q, 0));
}

int qdm_addr(qdm_circuit *c, qdm_gate_kind k, int q, qdm_angle a) {
  if (k < QDM_GRX || k > QDM_GP) return qdm_fail(QDM_EINVAL, "qdm_addr: %s is not RX, RY, RZ or P", qdm_gate_name(k));
  qdm_gate g = mk(k, 1, &q, 0);
  g.ang[0] = a;
  return qdm_add(c, g);
}

int qdm_addc(qdm_circuit *c, qdm_gate_kind k, int ctrl, int q, qdm_angle a) {
  int r = qubit_ok(c, ctrl, "qdm_addc");
  if (r) return r;
  if (k > QDM_GP) return qdm_fail(QDM_EINVAL, "qdm_addc: %s is not a one-qubit gate", qdm_gate_name(k));
  qdm_gate g = mk(k, 1, &q, 1u << ctrl);
  g.ang[0] = a;
  return qdm_add(c, g);
}

int qdm_add2(qdm_circuit *c, qdm_gate_kind k, int q0, int q1, qdm_angle a) {
  if (k < QDM_GSWAP || k > QDM_GRZZ) return qdm_fail(QDM_EINVAL, "qdm_add2: %s is not SWAP, RXX, RYY or RZZ", qdm_gate_name(k));
  int t[2] = {q0, q1};
  qdm_gate g = mk(k, 2, t, 0);
  g.ang[0] = a;
  return qdm_add(c, g);
}

int qdm_u3(qdm_circuit *c, int q, qdm_angle th, qdm_angle ph, qdm_angle la) {
  qdm_gate g = mk(QDM_GU3, 1, &q, 0);
  g.ang[0] = th;
  g.ang[1] = ph;
  g.ang[2] = la;
  return qdm_add(c, g);
}

int qdm_cnot(qdm_circuit *c, int ctrl, int targ) { return qdm_addc(c, QDM_GX, ctrl, targ, qdm_fixed(0)); }
int qdm_cz(qdm_circuit *c, int q0, int q1) { return qdm_addc(c, QDM_GZ, q0, q1, qdm_fixed(0)); }

static int pool_push(qdm_circuit *c, const qdm_cplx *v, size_t n) {
  if (c->npool + n > c->poolcap) {
    size_t cap = c->poolcap ? 2 * c->poolcap : 256;
    while (cap < c->npool + n) cap *= 2;
    qdm_cplx *np = realloc(c->pool, cap * sizeof *np);
    if (!np) return -1;
    c->pool = np;
    c->poolcap = cap;
  }
  memcpy(c->pool + c->npool, v, n * sizeof *v);
  c->npool += n;
  return (int)(c->npool - n);
}

static int add_pooled(qdm_circuit *c, qdm_gate_kind kind, int k, const int *t, const qdm_cplx *v, size_t n) {
  if (!c) return qdm_fail(QDM_EINVAL, "qdm_dense/qdm_diag: circuit is NULL");
  if (k < 1 || k > QDM_MAX_TARGETS || k > c->n)
    return qdm_fail(QDM_EINVAL, "qdm_%s: k = %d targets, expected 1..%d", kind == QDM_GDENSE ? "dense" : "diag", k,
                    c->n < QDM_MAX_TARGETS ? c->n : QDM_MAX_TARGETS);
  if (!t || !v) return qdm_fail(QDM_EINVAL, "qdm_%s: NULL targets or matrix", kind == QDM_GDENSE ? "dense" : "diag");
  int off = pool_push(c, v, n);
  if (off < 0) return qdm_fail(QDM_ENOMEM, "qdm_dense: out of memory");
  qdm_gate g = mk(kind, k, t, 0);
  g.mat = off;
  int r = qdm_add(c, g);
  if (r) c->npool -= n;
  return r;
}

int qdm_dense(qdm_circuit *c, int k, const int *targets, const qdm_cplx *U) {
  return add_pooled(c, QDM_GDENSE, k, targets, U, (size_t)1 << (2 * (k > 0 && k <= QDM_MAX_TARGETS ? k : 0)));
}

int qdm_diag(qdm_circuit *c, int k, const int *targets, const qdm_cplx *d) {
  return add_pooled(c, QDM_GDIAG, k, targets, d, (size_t)1 << (k > 0 && k <= QDM_MAX_TARGETS ? k : 0));
}

int qdm_append(qdm_circuit *c, const qdm_circuit *sub, int param_offset, uint32_t ctrl_mask) {
  if (!c || !sub) return qdm_fail(QDM_EINVAL, "qdm_append: NULL circuit");
  if (sub->n > c->n) return qdm_fail(QDM_EINVAL, "qdm_append: sub-circuit has %d qubits, target only %d", sub->n, c->n);
  if (param_offset < 0) return qdm_fail(QDM_EINVAL, "qdm_append: param_offset %d < 0", param_offset);
  for (int i = 0; i < sub->ngates; i++) {
    qdm_gate g = sub->g[i];
    for (int j = 0; j < 3; j++)
      if (g.ang[j].src >= 0) g.ang[j].src += param_offset;
    g.cmask |= ctrl_mask;
    if (g.mat >= 0) {
      size_t n = g.kind == QDM_GDENSE ? (size_t)1 << (2 * g.nt) : (size_t)1 << g.nt;
      int off = pool_push(c, sub->pool + g.mat, n);
      if (off < 0) return qdm_fail(QDM_ENOMEM, "qdm_append: out of memory");
      g.mat = off;
    }
    int r = qdm_add(c, g);
    if (r) return r;
  }
  return QDM_OK;
}

/* QFT: the textbook circuit (H, then controlled phases 2 pi / 2^k) reverses
 * the qubit order, so the final swaps restore it. With q[0] the least
 * significant bit this gives |j> -> 2^{-m/2} sum_k e^{2 pi i jk/2^m} |k>. */
int qdm_qft(qdm_circuit *c, int m, const int *q) {
  if (!c || !q || m < 1 || m > c->n) return qdm_fail(QDM_EINVAL, "qdm_qft: m = %d qubits, expected 1..n", m);
  for (int i = m - 1; i >= 0; i--) {
    int r = qdm_add1(c, QDM_GH, q[i]);
    for (int j = i - 1; j >= 0 && !r; j--)
      r = qdm_addc(c, QDM_GP, q[j], q[i], qdm_fixed(M_PI / (double)(1 << (i - j))));
    if (r) return r;
  }
  for (int i = 0; i < m / 2; i++) {
    int r = qdm_add2(c, QDM_GSWAP, q[i], q[m - 1 - i], qdm_fixed(0));
    if (r) return r;
  }
  return QDM_OK;
}
