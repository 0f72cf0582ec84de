/* kernels.c -- applying one compiled gate ("op") to states.
 *
 * An op acts on the 2^nt amplitudes whose indices differ only in the target
 * bits, for every setting of the other bits with all control bits set. We
 * enumerate those groups by inserting zero bits at the sorted target and
 * control positions into a counter k, then OR-ing the control mask in. */
#include <omp.h>
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

static int is0(qdm_cplx z) { return creal(z) == 0 && cimag(z) == 0; }

void sim_op_init(sim_op *op, const qdm_gate *g, const qdm_cplx *M) {
  int d = 1 << g->nt;
  op->nt = g->nt;
  op->cmask = g->cmask;
  memcpy(op->t, g->t, sizeof op->t);
  uint32_t all = g->cmask;
  for (int i = 0; i < g->nt; i++) all |= 1u << g->t[i];
  op->npos = 0;
  for (int q = 0; q < 32; q++)
    if (all & (1u << q)) op->pos[op->npos++] = q;
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

static inline size_t insert0(size_t k, const int8_t *pos, int npos) {
  for (int j = 0; j < npos; j++) {
    size_t p = (size_t)pos[j];
    k = ((k >> p) << (p + 1)) | (k & (((size_t)1 << p) - 1));
  }
  return k;
}

/* local index l -> offset of the amplitude within a group */
static void offsets(const sim_op *op, size_t *off) {
  int d = 1 << op->nt;
  for (int l = 0; l < d; l++) {
    size_t o = 0;
    for (int j = 0; j < op->nt; j++)
      if (l >> j & 1) o |= (size_t)1 << op->t[j];
    off[l] = o;
  }
}

/* ---------------- interleaved single-state kernels ---------------- */

/* Groups come in contiguous runs of 2^pos[0] (the lowest target or control
 * bit), so the inner loops walk memory linearly; runs are capped so that a
 * threaded loop still has many chunks. Classes of 2x2 get their own
 * arithmetic: a real matrix (RY, H) acts on re and im alike, RX-type mixes
 * re and im of the partner, diagonals skip unit entries, X/CNOT only move. */
#define RUN_CAP 512

static void apply1(qdm_cplx *psi, size_t cnt, const sim_op *op, int par) {
  const size_t bit = (size_t)1 << op->t[0], cm = op->cmask;
  const size_t run = ((size_t)1 << op->pos[0]) < RUN_CAP ? (size_t)1 << op->pos[0] : RUN_CAP;
  const qdm_cplx m0 = op->M[0], m1 = op->M[1], m2 = op->M[2], m3 = op->M[3];
  const double a = creal(m0), b = creal(m1), c = creal(m2), d = creal(m3);
  const double bi = cimag(m1), ci = cimag(m2);
  const int8_t *pos = op->pos;
  const int np = op->npos, cls = op->cls, skip0 = cls == OP_DIAG && m0 == 1;
#pragma omp parallel for schedule(static) if (par)
  for (size_t k0 = 0; k0 < cnt; k0 += run) {
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

static void applyk(qdm_cplx *psi, size_t cnt, const sim_op *op, int par) {
  int d = 1 << op->nt;
  size_t off[1 << QDM_MAX_TARGETS];
  offsets(op, off);
  const qdm_cplx *M = op->M;
#pragma omp parallel for schedule(static) if (par)
  for (size_t k = 0; k < cnt; k++) {
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
  if (op->nt == 1) apply1(psi, cnt, op, par);
  else applyk(psi, cnt, op, par);
}

double sim_dot(const qdm_cplx *lam, const qdm_cplx *psi, int n, const sim_op *op, const qdm_cplx *D) {
  size_t dim = (size_t)1 << n, cnt = dim >> op->npos;
  int d = 1 << op->nt;
  size_t off[1 << QDM_MAX_TARGETS];
  offsets(op, off);
  double acc = 0;
#pragma omp parallel for schedule(static) reduction(+ : acc) if (sim_parallel_worth((double)dim))
  for (size_t k = 0; k < cnt; k++) {
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

/* ---------------- tile kernels: TILE rows, split re/im ---------------- */

void tile_load(double *re, double *im, const qdm_cplx *psi, int dim, int rows) {
  for (int i = 0; i < dim; i++)
    for (int r = 0; r < TILE; r++) {
      qdm_cplx z = r < rows ? psi[(size_t)r * dim + i] : 0;
      re[i * TILE + r] = creal(z);
      im[i * TILE + r] = cimag(z);
    }
}

void tile_store(const double *re, const double *im, qdm_cplx *psi, int dim, int rows) {
  for (int r = 0; r < rows; r++)
    for (int i = 0; i < dim; i++) psi[(size_t)r * dim + i] = re[i * TILE + r] + I * im[i * TILE + r];
}

/* one 2x2 on a pair of amplitude vectors (x = re, y = im), by class */
static inline void tile_pair(double *restrict x0, double *restrict y0, double *restrict x1,
                             double *restrict y1, const sim_op *op) {
  const qdm_cplx *M = op->M;
  switch (op->cls) {
  case OP_SWAP:
    for (int r = 0; r < TILE; r++) {
      double t = x0[r]; x0[r] = x1[r]; x1[r] = t;
      t = y0[r]; y0[r] = y1[r]; y1[r] = t;
    }
    break;
  case OP_DIAG: {
    const double ar = creal(M[0]), ai = cimag(M[0]), dr = creal(M[3]), di = cimag(M[3]);
    if (ar != 1 || ai != 0)
      for (int r = 0; r < TILE; r++) {
        double a = x0[r], b = y0[r];
        x0[r] = ar * a - ai * b;
        y0[r] = ar * b + ai * a;
      }
    for (int r = 0; r < TILE; r++) {
      double a = x1[r], b = y1[r];
      x1[r] = dr * a - di * b;
      y1[r] = dr * b + di * a;
    }
    break;
  }
  case OP_REAL: {
    const double a = creal(M[0]), b = creal(M[1]), c = creal(M[2]), d = creal(M[3]);
    for (int r = 0; r < TILE; r++) {
      double p = x0[r], q = x1[r], s = y0[r], t = y1[r];
      x0[r] = a * p + b * q;
      x1[r] = c * p + d * q;
      y0[r] = a * s + b * t;
      y1[r] = c * s + d * t;
    }
    break;
  }
  case OP_RX: { /* [[a, i b], [i c, d]] with a, b, c, d real */
    const double a = creal(M[0]), b = cimag(M[1]), c = cimag(M[2]), d = creal(M[3]);
    for (int r = 0; r < TILE; r++) {
      double p = x0[r], q = x1[r], s = y0[r], t = y1[r];
      x0[r] = a * p - b * t;
      y0[r] = a * s + b * q;
      x1[r] = d * q - c * s;
      y1[r] = d * t + c * p;
    }
    break;
  }
  default: {
    const double ar = creal(M[0]), ai = cimag(M[0]), br = creal(M[1]), bi = cimag(M[1]);
    const double cr = creal(M[2]), ci = cimag(M[2]), dr = creal(M[3]), di = cimag(M[3]);
    for (int r = 0; r < TILE; r++) {
      double p = x0[r], s = y0[r], q = x1[r], t = y1[r];
      x0[r] = ar * p - ai * s + br * q - bi * t;
      y0[r] = ar * s + ai * p + br * t + bi * q;
      x1[r] = cr * p - ci * s + dr * q - di * t;
      y1[r] = cr * s + ci * p + dr * t + di * q;
    }
  }
  }
}

static void tile_applyk(double *re, double *im, size_t cnt, const sim_op *op) {
  int d = 1 << op->nt;
  size_t off[1 << QDM_MAX_TARGETS];
  offsets(op, off);
  const qdm_cplx *M = op->M;
  double ar[1 << QDM_MAX_TARGETS][TILE], ai[1 << QDM_MAX_TARGETS][TILE];
  for (size_t k = 0; k < cnt; k++) {
    size_t base = insert0(k, op->pos, op->npos) | op->cmask;
    if (op->cls == OP_DIAG) {
      for (int l = 0; l < d; l++) {
        double mr = creal(M[l * d + l]), mi = cimag(M[l * d + l]);
        double *x = re + (base + off[l]) * TILE, *y = im + (base + off[l]) * TILE;
        for (int r = 0; r < TILE; r++) {
          double a = x[r], b = y[r];
          x[r] = mr * a - mi * b;
          y[r] = mr * b + mi * a;
        }
      }
      continue;
    }
    for (int l = 0; l < d; l++) {
      memcpy(ar[l], re + (base + off[l]) * TILE, sizeof ar[l]);
      memcpy(ai[l], im + (base + off[l]) * TILE, sizeof ai[l]);
    }
    for (int l = 0; l < d; l++) {
      double *x = re + (base + off[l]) * TILE, *y = im + (base + off[l]) * TILE;
      for (int r = 0; r < TILE; r++) x[r] = y[r] = 0;
      for (int j = 0; j < d; j++) {
        qdm_cplx m = M[l * d + j];
        if (is0(m)) continue;
        double mr = creal(m), mi = cimag(m);
        for (int r = 0; r < TILE; r++) {
          x[r] += mr * ar[j][r] - mi * ai[j][r];
          y[r] += mr * ai[j][r] + mi * ar[j][r];
        }
      }
    }
  }
}

void tile_apply(double *re, double *im, int n, const sim_op *op) {
  size_t dim = (size_t)1 << n, cnt = dim >> op->npos;
  if (op->nt > 1) {
    tile_applyk(re, im, cnt, op);
    return;
  }
  size_t bit = (size_t)1 << op->t[0];
  if (op->npos == 1) { /* no controls: blocks of contiguous pairs */
    for (size_t hi = 0; hi < dim; hi += 2 * bit)
      for (size_t lo = 0; lo < bit; lo++) {
        size_t i0 = hi + lo, i1 = i0 + bit;
        tile_pair(re + i0 * TILE, im + i0 * TILE, re + i1 * TILE, im + i1 * TILE, op);
      }
    return;
  }
  for (size_t k = 0; k < cnt; k++) {
    size_t i0 = insert0(k, op->pos, op->npos) | op->cmask, i1 = i0 | bit;
    tile_pair(re + i0 * TILE, im + i0 * TILE, re + i1 * TILE, im + i1 * TILE, op);
  }
}

/* Re sum conj(lam) (D psi) for a 2x2 D over one pair of amplitude vectors */
static inline void tile_dot2(const double *restrict l0x, const double *restrict l0y, const double *restrict l1x,
                             const double *restrict l1y, const double *restrict p0x, const double *restrict p0y,
                             const double *restrict p1x, const double *restrict p1y, const qdm_cplx *D,
                             double *restrict acc) {
  const double ar = creal(D[0]), ai = cimag(D[0]), br = creal(D[1]), bi = cimag(D[1]);
  const double cr = creal(D[2]), ci = cimag(D[2]), dr = creal(D[3]), di = cimag(D[3]);
  for (int r = 0; r < TILE; r++) {
    double ux = ar * p0x[r] - ai * p0y[r] + br * p1x[r] - bi * p1y[r];
    double uy = ar * p0y[r] + ai * p0x[r] + br * p1y[r] + bi * p1x[r];
    double vx = cr * p0x[r] - ci * p0y[r] + dr * p1x[r] - di * p1y[r];
    double vy = cr * p0y[r] + ci * p0x[r] + dr * p1y[r] + di * p1x[r];
    acc[r] += l0x[r] * ux + l0y[r] * uy + l1x[r] * vx + l1y[r] * vy;
  }
}

double tile_dot(const double *lre, const double *lim, const double *re, const double *im,
                int n, const sim_op *op, const qdm_cplx *D) {
  size_t dim = (size_t)1 << n, cnt = dim >> op->npos;
  int d = 1 << op->nt;
  if (d == 2) {
    double acc[TILE] = {0}, s = 0;
    size_t bit = (size_t)1 << op->t[0];
    for (size_t k = 0; k < cnt; k++) {
      size_t i0 = (insert0(k, op->pos, op->npos) | op->cmask) * TILE, i1 = i0 + bit * TILE;
      tile_dot2(lre + i0, lim + i0, lre + i1, lim + i1, re + i0, im + i0, re + i1, im + i1, D, acc);
    }
    for (int r = 0; r < TILE; r++) s += acc[r];
    return s;
  }
  size_t off[1 << QDM_MAX_TARGETS];
  offsets(op, off);
  double acc[TILE] = {0};
  for (size_t k = 0; k < cnt; k++) {
    size_t base = insert0(k, op->pos, op->npos) | op->cmask;
    for (int l = 0; l < d; l++) {
      const double *lx = lre + (base + off[l]) * TILE, *ly = lim + (base + off[l]) * TILE;
      for (int j = 0; j < d; j++) {
        qdm_cplx m = D[l * d + j];
        if (is0(m)) continue;
        double mr = creal(m), mi = cimag(m);
        const double *x = re + (base + off[j]) * TILE, *y = im + (base + off[j]) * TILE;
        /* Re(conj(l) * m * z) = lx (mr x - mi y) + ly (mr y + mi x) */
        for (int r = 0; r < TILE; r++) acc[r] += lx[r] * (mr * x[r] - mi * y[r]) + ly[r] * (mr * y[r] + mi * x[r]);
      }
    }
  }
  double s = 0;
  for (int r = 0; r < TILE; r++) s += acc[r];
  return s;
}
