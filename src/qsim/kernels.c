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

int qdm__sim_path = 0;
void qdm_set_sim_path(int path) { qdm__sim_path = path; }




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
 * worth it: entering one costs ~1.2 us even with if(0) (docs/architecture.md). */
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

void qdm__sim_apply(qdm_cplx *psi, int n, const sim_op *op) {
  size_t dim = (size_t)1 << n, cnt = dim >> op->npos;
  int par = qdm__parallel_worth((double)dim);
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

double qdm__sim_dot(const qdm_cplx *lam, const qdm_cplx *psi, int n, const sim_op *op, const qdm_cplx *D) {
  size_t dim = (size_t)1 << n, cnt = dim >> op->npos;
  double part[64] = {0}, acc = 0; /* per-thread sums added in thread order: deterministic */
  int par = qdm__parallel_worth((double)dim) && qdm_threads() <= 64;
  FOR_PARTS(par, cnt, 1, kb, ke, part[par ? omp_get_thread_num() : 0] = dot_range(lam, psi, op, D, kb, ke));
  for (int t = 0; t < 64; t++) acc += part[t];
  return acc;
}

