/* tile.h -- the tile kernels, instantiated once per tile width (run.c
 * includes this file with TILE = 16 and TILE = 32 and TS(name) adding the
 * width to each name): TILE rows in split re/im layout, re[i * TILE + r],
 * so that one gate is a vector loop over rows, and a whole circuit runs on
 * a tile held in L1. A 16-row tile fits the 16 columns of a 4-qubit
 * unitary exactly; 32 rows amortise the per-pair overhead on big batches. */

static void TS(tile_load)(double *re, double *im, const qdm_cplx *psi, int dim, int rows) {
  for (int i = 0; i < dim; i++)
    for (int r = 0; r < TILE; r++) {
      qdm_cplx z = r < rows ? psi[(size_t)r * dim + i] : 0;
      re[i * TILE + r] = creal(z);
      im[i * TILE + r] = cimag(z);
    }
}

static void TS(tile_store)(const double *re, const double *im, qdm_cplx *psi, int dim, int rows) {
  for (int r = 0; r < rows; r++)
    for (int i = 0; i < dim; i++) psi[(size_t)r * dim + i] = re[i * TILE + r] + I * im[i * TILE + r];
}

/* one 2x2 on a pair of amplitude vectors (x = re, y = im), by class */
static inline void TS(tile_pair)(double *restrict x0, double *restrict y0, double *restrict x1,
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

static void TS(tile_applyk)(double *re, double *im, size_t cnt, const sim_op *op) {
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
        for (int r = 0; r < TILE; r++) { /* one multiply-add per statement: one FMA each */
          x[r] += mr * ar[j][r], y[r] += mr * ai[j][r];
          x[r] -= mi * ai[j][r], y[r] += mi * ar[j][r];
        }
      }
    }
  }
}

static void TS(tile_apply)(double *re, double *im, int n, const sim_op *op) {
  size_t dim = (size_t)1 << n, cnt = dim >> op->npos;
  if (op->nt > 1) {
    TS(tile_applyk)(re, im, cnt, op);
    return;
  }
  size_t bit = (size_t)1 << op->t[0];
  if (op->npos == 1) { /* no controls: blocks of contiguous pairs */
    for (size_t hi = 0; hi < dim; hi += 2 * bit)
      for (size_t lo = 0; lo < bit; lo++) {
        size_t i0 = hi + lo, i1 = i0 + bit;
        TS(tile_pair)(re + i0 * TILE, im + i0 * TILE, re + i1 * TILE, im + i1 * TILE, op);
      }
    return;
  }
  for (size_t k = 0; k < cnt; k++) {
    size_t i0 = insert0(k, op->pos, op->npos) | op->cmask, i1 = i0 | bit;
    TS(tile_pair)(re + i0 * TILE, im + i0 * TILE, re + i1 * TILE, im + i1 * TILE, op);
  }
}

/* Re sum conj(lam) (D psi) for a 2x2 D over one pair of amplitude vectors */
static inline void TS(tile_dot2)(const double *restrict l0x, const double *restrict l0y, const double *restrict l1x,
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
    acc[r] += l0x[r] * ux, acc[r] += l0y[r] * uy, acc[r] += l1x[r] * vx, acc[r] += l1y[r] * vy;
  }
}

static double TS(tile_dot)(const double *lre, const double *lim, const double *re, const double *im,
                int n, const sim_op *op, const qdm_cplx *D) {
  size_t dim = (size_t)1 << n, cnt = dim >> op->npos;
  int d = 1 << op->nt;
  if (d == 2) {
    double acc[TILE] = {0}, s = 0;
    size_t bit = (size_t)1 << op->t[0];
    for (size_t k = 0; k < cnt; k++) {
      size_t i0 = (insert0(k, op->pos, op->npos) | op->cmask) * TILE, i1 = i0 + bit * TILE;
      TS(tile_dot2)(lre + i0, lim + i0, lre + i1, lim + i1, re + i0, im + i0, re + i1, im + i1, D, acc);
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
        for (int r = 0; r < TILE; r++) acc[r] += lx[r] * (mr * x[r] - mi * y[r]), acc[r] += ly[r] * (mr * y[r] + mi * x[r]);
      }
    }
  }
  double s = 0;
  for (int r = 0; r < TILE; r++) s += acc[r];
  return s;
}

static void *TS(tile_buf)(int n) { return aligned_alloc(64, sizeof(double) * 2 * TILE * ((size_t)1 << n)); }

/* tiles [t0, t1) of the batch, forward */
static void TS(tiles_fwd)(const qdm_circuit *c, const compiled *cc, qdm_cplx *psi, int rows, int t0, int t1) {
  int dim = 1 << c->n;
  double *re = TS(tile_buf)(c->n), *im = re + (size_t)dim * TILE;
  for (int t = t0; t < t1; t++) {
    int nr = rows - t * TILE < TILE ? rows - t * TILE : TILE;
    qdm_cplx *p = psi + (size_t)t * TILE * dim;
    TS(tile_load)(re, im, p, dim, nr);
    for (int i = 0; i < cc->nops; i++) TS(tile_apply)(re, im, c->n, &cc->op[i]);
    TS(tile_store)(re, im, p, dim, nr);
  }
  free(re);
}

/* the parallel region is entered only when the batch is worth it */
static void TS(run_tiles)(const qdm_circuit *c, const compiled *cc, qdm_cplx *psi, int rows) {
  int dim = 1 << c->n, ntile = (rows + TILE - 1) / TILE;
  if (ntile < 2 || !qdm__parallel_worth((double)rows * dim * cc->nops / 4)) {
    TS(tiles_fwd)(c, cc, psi, rows, 0, ntile);
    return;
  }
#pragma omp parallel
  {
    int t0, t1;
    qdm__thread_part(ntile, &t0, &t1);
    TS(tiles_fwd)(c, cc, psi, rows, t0, t1);
  }
}

typedef struct { const double *lre, *lim, *re, *im; int n; } TS(tile_ctx);
static double TS(tile_dotf)(void *ctx, const sim_op *op, const qdm_cplx *D) {
  TS(tile_ctx) *t = ctx;
  return TS(tile_dot)(t->lre, t->lim, t->re, t->im, t->n, op, D);
}

/* tiles [t0, t1), adjoint sweep; dth accumulates this part's gradient */
static void TS(tiles_adj)(const qdm_circuit *c, const compiled *cc, qdm_cplx *psi, qdm_cplx *lam, int rows,
                          double *dth, int t0, int t1) {
  int dim = 1 << c->n;
  double *re = TS(tile_buf)(c->n), *im = re + (size_t)dim * TILE;
  double *lre = TS(tile_buf)(c->n), *lim = lre + (size_t)dim * TILE;
  TS(tile_ctx) ctx = {lre, lim, re, im, c->n};
  for (int t = t0; t < t1; t++) {
    int nr = rows - t * TILE < TILE ? rows - t * TILE : TILE;
    qdm_cplx *p = psi + (size_t)t * TILE * dim, *l = lam + (size_t)t * TILE * dim;
    TS(tile_load)(re, im, p, dim, nr);
    TS(tile_load)(lre, lim, l, dim, nr);
    for (int i = cc->nops - 1; i >= 0; i--) {
      TS(tile_apply)(re, im, c->n, &cc->dag[i]);
      angle_grads(cc, &c->g[i], i, TS(tile_dotf), &ctx, dth, NULL);
      TS(tile_apply)(lre, lim, c->n, &cc->dag[i]);
    }
    TS(tile_store)(re, im, p, dim, nr);
    TS(tile_store)(lre, lim, l, dim, nr);
  }
  free(re);
  free(lre);
}

/* dth_all: one row of np partial sums per thread */
static void TS(adjoint_tiles)(const qdm_circuit *c, const compiled *cc, qdm_cplx *psi, qdm_cplx *lam, int rows,
                              double *dth_all, int np) {
  int dim = 1 << c->n, ntile = (rows + TILE - 1) / TILE;
  if (ntile < 2 || !qdm__parallel_worth((double)rows * dim * cc->nops / 2)) {
    TS(tiles_adj)(c, cc, psi, lam, rows, dth_all, 0, ntile);
    return;
  }
#pragma omp parallel
  {
    int t0, t1;
    qdm__thread_part(ntile, &t0, &t1);
    TS(tiles_adj)(c, cc, psi, lam, rows, dth_all + (size_t)omp_get_thread_num() * np, t0, t1);
  }
}
