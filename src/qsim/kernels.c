/* kernels.c -- applying one compiled gate ("op") to states.
 *
 * An op acts on the 2^nt amplitudes whose indices differ only in the target
 * bits, for every setting of the other bits with all control bits set. We
 * enumerate those groups by inserting zero bits at the sorted target and
 * control positions into a counter k, then OR-ing the control mask in. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "sim.h"

int sim_path_override = 0;
void qdm_set_sim_path(int path) { sim_path_override = path; }

static int nthreads_ = 0;
void qdm_set_threads(int n) {
  nthreads_ = n > 0 ? n : 0;
  if (n > 0) omp_set_num_threads(n);
}
int qdm_threads(void) { return nthreads_ > 0 ? nthreads_ : omp_get_max_threads(); }

/* A parallel region costs about 1.2 us here (DESIGN.md section 4): thread only
 * loops of at least ~2^15 amplitude updates. */
int sim_parallel_worth(double work) { return qdm_threads() > 1 && work >= 32768.0; }


void sim_op_struct(sim_op *op, const qdm_gate *g) {
  op->nt = g->nt;
  op->fixed = 0;
  op->cmask = g->cmask;
  memcpy(op->t, g->t, sizeof op->t);
  uint32_t all = g->cmask;
  for (int i = 0; i < g->nt; i++) all |= 1u << g->t[i];
  for (op->npos = 0; all; all &= all - 1) op->pos[op->npos++] = (int8_t)__builtin_ctz(all);
}

void sim_op_matrix(sim_op *op, const qdm_cplx *M) {
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

void sim_op_dagger(const sim_op *op, sim_op *out, qdm_cplx *buf) {
  int d = 1 << op->nt;
  *out = *op;
  qdm_cplx *dst = d <= 4 ? out->m : buf;
  for (int i = 0; i < d; i++)
    for (int j = 0; j < d; j++) dst[i * d + j] = conj(op->M[j * d + i]);
  out->M = dst;
  if (op->cls == OP_SWAP || op->cls == OP_REAL) return; /* classes are closed under dagger */
}

int sim_precompile(qdm_circuit *c, int i) {
  if (c->precap < c->cap) { /* grows with the gate array */
    sim_op *np = realloc(c->pre, (size_t)c->cap * 2 * sizeof *np);
    if (!np) return qdm_fail(QDM_ENOMEM, "qdm_add: out of memory");
    c->pre = np;
    c->precap = c->cap;
  }
  const qdm_gate *g = &c->g[i];
  sim_op *op = (sim_op *)c->pre + 2 * (size_t)i;
  sim_op_struct(op, g);
  int na = qdm_gate_nangles(g), fixed = g->nt <= 2;
  for (int j = 0; j < na; j++) fixed &= g->ang[j].src == -1;
  if (fixed) {
    qdm_cplx M[16];
    double v[3] = {g->ang[0].b, g->ang[1].b, g->ang[2].b};
    qdm_gate_matrix(c, g, v, M, 0, NULL);
    sim_op_matrix(op, M);
    sim_op_dagger(op, op + 1, NULL);
    op[0].fixed = op[1].fixed = 1;
  }
  return QDM_OK;
}

qdm_circuit qdm_circuit_view(const qdm_circuit *c, int from, int to) {
  qdm_circuit v = *c;
  v.g = c->g + from;
  v.ngates = to - from;
  v.cap = v.precap = to - from;
  v.pre = (sim_op *)c->pre + 2 * (size_t)from;
  return v;
}

/* ---------------- interleaved single-state kernels ---------------- */

/* Groups come in contiguous runs of 2^pos[0] (the lowest target or control
 * bit), so the inner loops walk memory linearly; runs are capped so that a
 * threaded loop still has many chunks. Classes of 2x2 get their own
 * arithmetic: a real matrix (RY, H) acts on re and im alike, RX-type mixes
 * re and im of the partner, diagonals skip unit entries, X/CNOT only move. */
#define RUN_CAP 512

/* Splits the groups [0, cnt) into one contiguous part per thread (parts a
 * multiple of `step`). The parallel region is entered only when the work is
 * worth it: entering one costs ~1.2 us even with if(0) (DESIGN.md 4). */
#define FOR_PARTS(par, cnt, step, kb, ke, BODY)                                     \
  do {                                                                              \
    if (par) {                                                                      \
      _Pragma("omp parallel") {                                                     \
        size_t nt_ = (size_t)omp_get_num_threads(), id_ = (size_t)omp_get_thread_num(); \
        size_t nch_ = ((cnt) + (step) - 1) / (step);                                \
        size_t kb = nch_ * id_ / nt_ * (step), ke = nch_ * (id_ + 1) / nt_ * (step); \
        if (ke > (cnt)) ke = (cnt);                                                 \
        BODY;                                                                       \
      }                                                                             \
    } else {                                                                        \
      size_t kb = 0, ke = (cnt);                                                    \
      BODY;                                                                         \
    }                                                                               \
  } while (0)

static void apply1(qdm_cplx *psi, size_t kb, size_t ke, const sim_op *op) {
  const size_t bit = (size_t)1 << op->t[0], cm = op->cmask;
  const size_t run = ((size_t)1 << op->pos[0]) < RUN_CAP ? (size_t)1 << op->pos[0] : RUN_CAP;
  const qdm_cplx m0 = op->M[0], m1 = op->M[1], m2 = op->M[2], m3 = op->M[3];
  const double a = creal(m0), b = creal(m1), c = creal(m2), d = creal(m3);
  const double bi = cimag(m1), ci = cimag(m2);
  const int8_t *pos = op->pos;
  const int np = op->npos, cls = op->cls, skip0 = cls == OP_DIAG && m0 == 1;
  for (size_t k0 = kb; k0 < ke; k0 += run) {
    size_t i0 = insert0(k0, pos, np) | cm;
    double *restrict x = (double *)(psi + i0), *restrict y = (double *)(psi + i0 + bit);
    const size_t len = 2 * run;
    switch (cls) {
    case OP_SWAP:
      for (size_t j = 0; j < len; j++) { double t = x[j]; x[j] = y[j]; y[j] = t; }
      break;
    case OP_REAL:
      for (size_t j = 0; j < len; j++) {
        double p = x[j], q = y[j];
        x[j] = a * p + b * q;
        y[j] = c * p + d * q;
      }
      break;
    case OP_RX:
      for (size_t j = 0; j < len; j += 2) {
        double pr = x[j], pi = x[j + 1], qr = y[j], qi = y[j + 1];
        x[j] = a * pr - bi * qi;
        x[j + 1] = a * pi + bi * qr;
        y[j] = d * qr - ci * pi;
        y[j + 1] = d * qi + ci * pr;
      }
      break;
    case OP_DIAG:
      for (size_t j = 0; j < run; j++) {
        if (!skip0) psi[i0 + j] *= m0;
        psi[i0 + bit + j] *= m3;
      }
      break;
    default:
      for (size_t j = 0; j < run; j++) {
        qdm_cplx p = psi[i0 + j], q = psi[i0 + bit + j];
        psi[i0 + j] = m0 * p + m1 * q;
        psi[i0 + bit + j] = m2 * p + m3 * q;
      }
    }
  }
}

static void applyk(qdm_cplx *psi, size_t kb, size_t ke, const sim_op *op) {
  int d = 1 << op->nt;
  size_t off[1 << QDM_MAX_TARGETS];
  offsets(op, off);
  const qdm_cplx *M = op->M;
  for (size_t k = kb; k < ke; k++) {
    size_t base = insert0(k, op->pos, op->npos) | op->cmask;
    qdm_cplx a[1 << QDM_MAX_TARGETS];
    for (int l = 0; l < d; l++) a[l] = psi[base + off[l]];
    if (op->cls == OP_DIAG) {
      for (int l = 0; l < d; l++) psi[base + off[l]] = M[l * d + l] * a[l];
      continue;
    }
    for (int l = 0; l < d; l++) {
      qdm_cplx s = 0;
      for (int j = 0; j < d; j++)
        if (!is0(M[l * d + j])) s += M[l * d + j] * a[j];
      psi[base + off[l]] = s;
    }
  }
}

void sim_apply(qdm_cplx *psi, int n, const sim_op *op) {
  size_t dim = (size_t)1 << n, cnt = dim >> op->npos;
  int par = sim_parallel_worth((double)dim);
  size_t run = ((size_t)1 << op->pos[0]) < RUN_CAP ? (size_t)1 << op->pos[0] : RUN_CAP;
  if (op->nt == 1) FOR_PARTS(par, cnt, run, kb, ke, apply1(psi, kb, ke, op));
  else FOR_PARTS(par, cnt, 1, kb, ke, applyk(psi, kb, ke, op));
}

static double dot_range(const qdm_cplx *lam, const qdm_cplx *psi, const sim_op *op, const qdm_cplx *D, size_t kb,
                        size_t ke) {
  int d = 1 << op->nt;
  size_t off[1 << QDM_MAX_TARGETS];
  offsets(op, off);
  double acc = 0;
  for (size_t k = kb; k < ke; k++) {
    size_t base = insert0(k, op->pos, op->npos) | op->cmask;
    for (int l = 0; l < d; l++) {
      qdm_cplx s = 0;
      for (int j = 0; j < d; j++)
        if (!is0(D[l * d + j])) s += D[l * d + j] * psi[base + off[j]];
      acc += creal(conj(lam[base + off[l]]) * s);
    }
  }
  return acc;
}

double sim_dot(const qdm_cplx *lam, const qdm_cplx *psi, int n, const sim_op *op, const qdm_cplx *D) {
  size_t dim = (size_t)1 << n, cnt = dim >> op->npos;
  double part[64] = {0}, acc = 0; /* per-thread sums added in thread order: deterministic */
  int par = sim_parallel_worth((double)dim) && qdm_threads() <= 64;
  FOR_PARTS(par, cnt, 1, kb, ke, part[par ? omp_get_thread_num() : 0] = dot_range(lam, psi, op, D, kb, ke));
  for (int t = 0; t < 64; t++) acc += part[t];
  return acc;
}

