/* real_layers.h -- the bodies of the real-valued layers (Linear, LayerNorm,
 * ReLU, L2 normalisation, [Re, Im] reshapes, concatenation; report 6.4),
 * written once for both precisions of nn.h. real_layers.c includes this
 * file twice: with REAL = double and NAME(f) = f, then with REAL = float
 * and NAME(f) = f##_f32. GEMM is cblas_dgemm or cblas_sgemm.
 *
 * Sums that reduce a row (LayerNorm's moments, a row norm) accumulate in
 * double in both precisions: a few hundred terms, off the hot path, and
 * the one place where float rounding would compound over a row.
 *
 * Row loops run over the threads when a call is big enough to pay for
 * waking them (ROWS_PAR(n values), core/parallel.h): each row is computed
 * whole by one thread, so the numbers do not depend on the thread count;
 * column sums (a bias gradient) split the columns, not the rows. */
#ifndef ROWS_PAR
#define ROWS_PAR_(x) _Pragma(#x)
#define ROWS_PAR(n) ROWS_PAR_(omp parallel for schedule(static) if (qdm__parallel_worth((double)(n))))
#endif
#define FNAME_(x) #x
#define FNAME(x) FNAME_(x)

static int NAME(check_dims)(const char *fn, int B, int in, int out) {
  if (B <= 0) return qdm_fail(QDM_EINVAL, "%s: B must be > 0 (got %d)", fn, B);
  if (in <= 0) return qdm_fail(QDM_EINVAL, "%s: in must be > 0 (got %d)", fn, in);
  if (out <= 0) return qdm_fail(QDM_EINVAL, "%s: out must be > 0 (got %d)", fn, out);
  return QDM_OK;
}

/* ---- Linear: one GEMM forward, two backward ---- */

/* C (B x N, ld ldc) = A (B x K, ld lda) op(Bm) + beta C [+ the row bias
 * instead, which seeds C's rows for the GEMM to add onto], the rows over
 * the threads:
 * each thread one single-threaded OpenBLAS call on its contiguous rows,
 * the same rows the row loops after it (bias, ReLU) give that thread, so
 * the outputs stay in its core's cache; and shapes with few columns (the
 * decoder's 16-column head), where OpenBLAS's own threads gain nothing,
 * split as well as the rest. On the authors' step this took the dense
 * part at 2 threads from 3.37-3.50 to 3.15-3.24 ms (`qdm bench train`). */
static void NAME(rows_gemm)(int B, int N, int K, const REAL *A, int lda, CBLAS_TRANSPOSE tb, const REAL *Bm, int ldb,
                            const REAL *bias, REAL beta, REAL *C, int ldc) {
#pragma omp parallel if (qdm__parallel_worth((double)B * N * K / 64) && !omp_in_parallel())
  {
    int lo = 0, hi = B;
    if (omp_in_parallel()) qdm__thread_part(B, &lo, &hi);
    if (bias)
      for (int r = lo; r < hi; r++) memcpy(C + (size_t)r * ldc, bias, sizeof(REAL) * N);
    if (hi > lo)
      GEMM(CblasRowMajor, CblasNoTrans, tb, hi - lo, N, K, 1, A + (size_t)lo * lda, lda, Bm, ldb, bias ? 1 : beta,
           C + (size_t)lo * ldc, ldc);
  }
}

int NAME(qdm_linear_forward)(REAL *y, const REAL *x, const REAL *W, const REAL *b, int B, int in, int out) {
  int rc = NAME(check_dims)(FNAME(NAME(qdm_linear_forward)), B, in, out);
  if (rc) return rc;
  if (!y || !x || !W)
    return qdm_fail(QDM_EINVAL, "%s: y, x and W must be non-NULL", FNAME(NAME(qdm_linear_forward)));
  NAME(rows_gemm)(B, out, in, x, in, CblasTrans, W, in, b, 0, y, out);
  return QDM_OK;
}

int NAME(qdm_linear_forward_cols)(REAL *y, const REAL *x, int ldx, const REAL *W, const REAL *b, int B, int in,
                                  int out, int lo, int hi, int acc) {
  const char *fn = FNAME(NAME(qdm_linear_forward_cols));
  int rc = NAME(check_dims)(fn, B, in, out);
  if (rc) return rc;
  if (!y || !x || !W) return qdm_fail(QDM_EINVAL, "%s: y, x and W must be non-NULL", fn);
  if (lo < 0 || hi > in || lo >= hi)
    return qdm_fail(QDM_EINVAL, "%s: columns [lo, hi) = [%d, %d) must be a non-empty part of 0..in = %d", fn, lo, hi,
                    in);
  if (ldx < hi - lo) return qdm_fail(QDM_EINVAL, "%s: ldx must be >= hi - lo = %d (got %d)", fn, hi - lo, ldx);
  if (acc && b) return qdm_fail(QDM_EINVAL, "%s: a bias goes with the first part (acc = 0), not an added one", fn);
  NAME(rows_gemm)(B, out, hi - lo, x, ldx, CblasTrans, W + lo, in, b, acc ? 1 : 0, y, out);
  return QDM_OK;
}

int NAME(qdm_linear_backward)(REAL *dx, REAL *dW, REAL *db, const REAL *dy, const REAL *x, const REAL *W, int B,
                              int in, int out) {
  const char *fn = FNAME(NAME(qdm_linear_backward));
  int rc = NAME(check_dims)(fn, B, in, out);
  if (rc) return rc;
  if (!dy) return qdm_fail(QDM_EINVAL, "%s: dy must be non-NULL", fn);
  if (dx && !W) return qdm_fail(QDM_EINVAL, "%s: W is needed for dx", fn);
  if (dW && !x) return qdm_fail(QDM_EINVAL, "%s: x is needed for dW", fn);
  /* dx = dy W: (B x out)(out x in); dW += dy^T x: (out x B)(B x in) */
  if (dx && dW && qdm__pair_of_threads((double)B * in * out)) {
#pragma omp parallel sections num_threads(2)
    {
#pragma omp section
      GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, in, out, 1, dy, out, W, in, 0, dx, in);
#pragma omp section
      GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, B, 1, dy, out, x, in, 1, dW, in);
    }
  } else {
    if (dx) NAME(rows_gemm)(B, in, out, dy, out, CblasNoTrans, W, in, NULL, 0, dx, in);
    if (dW) GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, B, 1, dy, out, x, in, 1, dW, in);
  }
  if (db) { /* column blocks of 64 over the threads, each summed over the rows in order */
    int nblk = (out + 63) / 64;
    ROWS_PAR((size_t)B * out)
    for (int k = 0; k < nblk; k++) {
      int j0 = 64 * k, j1 = j0 + 64 < out ? j0 + 64 : out;
      for (int r = 0; r < B; r++) {
        const REAL *d = dy + (size_t)r * out;
        for (int j = j0; j < j1; j++) db[j] += d[j];
      }
    }
  }
  return QDM_OK;
}

/* dx = dy W restricted to its first cols columns: W's later columns are
 * skipped by its leading dimension, so the GEMM does cols/in of the work. */
int NAME(qdm_linear_backward_head)(REAL *dx, int cols, const REAL *dy, const REAL *W, int B, int in, int out) {
  const char *fn = FNAME(NAME(qdm_linear_backward_head));
  int rc = NAME(check_dims)(fn, B, in, out);
  if (rc) return rc;
  if (!dx || !dy || !W) return qdm_fail(QDM_EINVAL, "%s: dx, dy and W must be non-NULL", fn);
  if (cols < 1 || cols > in) return qdm_fail(QDM_EINVAL, "%s: cols must be in 1..in = %d (got %d)", fn, in, cols);
  NAME(rows_gemm)(B, cols, out, dy, out, CblasNoTrans, W, in, NULL, 0, dx, cols);
  return QDM_OK;
}

/* ---- LayerNorm over the last dim (PyTorch: biased variance, eps inside the root) ---- */

int NAME(qdm_layernorm_forward)(REAL *y, REAL *mean, REAL *rstd, const REAL *x, const REAL *gamma, const REAL *beta,
                                int B, int C) {
  const char *fn = FNAME(NAME(qdm_layernorm_forward));
  if (B <= 0 || C <= 0) return qdm_fail(QDM_EINVAL, "%s: B and C must be > 0 (got %d, %d)", fn, B, C);
  if (!y || !mean || !rstd || !x) return qdm_fail(QDM_EINVAL, "%s: y, mean, rstd and x must be non-NULL", fn);
  ROWS_PAR((size_t)B * C)
  for (int r = 0; r < B; r++) {
    const REAL *xr = x + (size_t)r * C;
    REAL *yr = y + (size_t)r * C;
    double m = 0, v = 0;
    for (int i = 0; i < C; i++) m += xr[i];
    m /= C;
    for (int i = 0; i < C; i++) v += (xr[i] - m) * (xr[i] - m); /* two-pass: no cancellation */
    v /= C;
    REAL mr = (REAL)m, s = (REAL)(1.0 / sqrt(v + QDM_LN_EPS));
    for (int i = 0; i < C; i++) {
      REAL n = (xr[i] - mr) * s;
      yr[i] = n * (gamma ? gamma[i] : 1) + (beta ? beta[i] : 0);
    }
    mean[r] = mr;
    rstd[r] = s;
  }
  return QDM_OK;
}

/* With n = (x - mean) rstd and dn = dy * gamma, the mean and the variance both
 * depend on every x_i, which gives
 * dx = rstd (dn - mean(dn) - n mean(dn n)). */
int NAME(qdm_layernorm_backward)(REAL *dx, REAL *dgamma, REAL *dbeta, const REAL *dy, const REAL *x,
                                 const REAL *gamma, const REAL *mean, const REAL *rstd, int B, int C) {
  const char *fn = FNAME(NAME(qdm_layernorm_backward));
  if (B <= 0 || C <= 0) return qdm_fail(QDM_EINVAL, "%s: B and C must be > 0 (got %d, %d)", fn, B, C);
  if (!dy || !x || !mean || !rstd) return qdm_fail(QDM_EINVAL, "%s: dy, x, mean and rstd must be non-NULL", fn);
  for (int r = 0; r < B; r++) {
    const REAL *xr = x + (size_t)r * C, *dyr = dy + (size_t)r * C;
    REAL m = mean[r], s = rstd[r];
    double mdn = 0, mdnn = 0;
    for (int i = 0; i < C; i++) {
      REAL n = (xr[i] - m) * s, dn = dyr[i] * (gamma ? gamma[i] : 1);
      mdn += dn;
      mdnn += (double)dn * n;
      if (dgamma) dgamma[i] += dyr[i] * n;
      if (dbeta) dbeta[i] += dyr[i];
    }
    REAL a = (REAL)(mdn / C), c = (REAL)(mdnn / C);
    if (dx) {
      REAL *dxr = dx + (size_t)r * C;
      for (int i = 0; i < C; i++) {
        REAL n = (xr[i] - m) * s, dn = dyr[i] * (gamma ? gamma[i] : 1);
        dxr[i] = s * (dn - a - n * c);
      }
    }
  }
  return QDM_OK;
}

/* ---- ReLU (derivative 0 at 0, as PyTorch) ---- */

int NAME(qdm_relu_forward)(REAL *y, const REAL *x, size_t n) {
  if (!y || !x) return qdm_fail(QDM_EINVAL, "%s: arrays must be non-NULL", FNAME(NAME(qdm_relu_forward)));
  ROWS_PAR(n)
  for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
  return QDM_OK;
}

int NAME(qdm_relu_backward)(REAL *dx, const REAL *dy, const REAL *x, size_t n) {
  if (!dx || !dy || !x) return qdm_fail(QDM_EINVAL, "%s: arrays must be non-NULL", FNAME(NAME(qdm_relu_backward)));
  ROWS_PAR(n)
  for (size_t i = 0; i < n; i++) dx[i] = x[i] > 0 ? dy[i] : 0;
  return QDM_OK;
}

/* ---- L2 normalisation of each row (F.normalize: max(||x||, eps)) ---- */

/* sum_i a_i b_i over n values in double, as 8 interleaved partial sums (one
 * vector register wide, so the loop vectorises without reassociation). */
static double NAME(dot8)(const REAL *a, const REAL *b, int n) {
  double acc[8] = {0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) acc[k] += (double)a[i + k] * b[i + k];
  double s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

/* y = x / max(||x||, QDM_L2_EPS) over one row of n values (y may be x);
 * returns the denominator */
static double NAME(unit_row)(REAL *y, const REAL *x, int n) {
  double s = sqrt(NAME(dot8)(x, x, n));
  if (s < QDM_L2_EPS) s = QDM_L2_EPS;
  REAL inv = (REAL)(1.0 / s);
  for (int i = 0; i < n; i++) y[i] = x[i] * inv;
  return s;
}

int NAME(qdm_l2norm_forward)(REAL *y, REAL *norm, const REAL *x, int B, int D) {
  const char *fn = FNAME(NAME(qdm_l2norm_forward));
  if (B <= 0 || D <= 0) return qdm_fail(QDM_EINVAL, "%s: B and D must be > 0 (got %d, %d)", fn, B, D);
  if (!y || !x) return qdm_fail(QDM_EINVAL, "%s: y and x must be non-NULL", fn);
  ROWS_PAR((size_t)B * D)
  for (int r = 0; r < B; r++) {
    double s = NAME(unit_row)(y + (size_t)r * D, x + (size_t)r * D, D);
    if (norm) norm[r] = (REAL)s;
  }
  return QDM_OK;
}

/* dy/dx = (I - y y^T) / ||x||; a clamped row has a constant denominator. */
int NAME(qdm_l2norm_backward)(REAL *dx, const REAL *dy, const REAL *y, const REAL *norm, int B, int D) {
  const char *fn = FNAME(NAME(qdm_l2norm_backward));
  if (B <= 0 || D <= 0) return qdm_fail(QDM_EINVAL, "%s: B and D must be > 0 (got %d, %d)", fn, B, D);
  if (!dx || !dy || !y || !norm) return qdm_fail(QDM_EINVAL, "%s: dx, dy, y and norm must be non-NULL", fn);
  ROWS_PAR((size_t)B * D)
  for (int r = 0; r < B; r++) {
    const REAL *yr = y + (size_t)r * D, *dyr = dy + (size_t)r * D;
    REAL *dxr = dx + (size_t)r * D, inv = (REAL)(1.0 / norm[r]);
    double p = norm[r] > QDM_L2_EPS ? NAME(dot8)(yr, dyr, D) : 0;
    for (int i = 0; i < D; i++) dxr[i] = (dyr[i] - yr[i] * (REAL)p) * inv;
  }
  return QDM_OK;
}

/* ---- complex rows <-> [Re, Im] rows (block layout, not interleaved) ---- */

static int NAME(check_rows)(const char *fn, const void *a, const void *b, int B, int D) {
  if (!a || !b) return qdm_fail(QDM_EINVAL, "%s: arrays must be non-NULL", fn);
  if (B <= 0 || D <= 0) return qdm_fail(QDM_EINVAL, "%s: B and D must be > 0 (got %d, %d)", fn, B, D);
  return QDM_OK;
}

int NAME(qdm_cplx_to_reim)(REAL *out, const qdm_cplx *z, int B, int D) {
  int rc = NAME(check_rows)(FNAME(NAME(qdm_cplx_to_reim)), out, z, B, D);
  if (rc) return rc;
  ROWS_PAR((size_t)B * D)
  for (int r = 0; r < B; r++) {
    const double *zr = (const double *)(z + (size_t)r * D); /* interleaved re, im */
    REAL *o = out + (size_t)r * 2 * D;
    for (int i = 0; i < D; i++) {
      o[i] = (REAL)zr[2 * i];
      o[D + i] = (REAL)zr[2 * i + 1];
    }
  }
  return QDM_OK;
}

/* one [Re, Im] row of 2D values as D complex (interleaved re, im) */
static void NAME(reim_row)(double *zr, const REAL *xr, int D) {
  for (int i = 0; i < D; i++) {
    zr[2 * i] = xr[i];
    zr[2 * i + 1] = xr[D + i];
  }
}

int NAME(qdm_reim_to_cplx)(qdm_cplx *z, const REAL *x, int B, int D) {
  int rc = NAME(check_rows)(FNAME(NAME(qdm_reim_to_cplx)), z, x, B, D);
  if (rc) return rc;
  ROWS_PAR((size_t)B * D)
  for (int r = 0; r < B; r++) NAME(reim_row)((double *)(z + (size_t)r * D), x + (size_t)r * 2 * D, D);
  return QDM_OK;
}

/* out = [Re z, Im z] gives dL/dRe z_i = dout_i and dL/dIm z_i = dout_{D+i},
 * i.e. the co-gradient dz = dout[:D] + i dout[D:]: the inverse map. */
int NAME(qdm_cplx_to_reim_backward)(qdm_cplx *dz, const REAL *dout, int B, int D) {
  return NAME(qdm_reim_to_cplx)(dz, dout, B, D);
}

int NAME(qdm_reim_to_cplx_backward)(REAL *dx, const qdm_cplx *dz, int B, int D) {
  return NAME(qdm_cplx_to_reim)(dx, dz, B, D);
}

/* ---- the decoder's output: [Re, Im] rows read as complex, normalised ---- */

/* qdm_reim_to_cplx then qdm_cl2norm_forward, the same values, each row
 * whole while it is in L1: the two calls wrote the B x D complex rows out
 * (1.3 MB for the authors' step, most of a core's L2) and read them back.
 * The row is normalised by the double unit_row, as qdm_cl2norm_forward's. */
int NAME(qdm_reim_to_cplx_l2norm)(qdm_cplx *y, double *norm, const REAL *x, int B, int D) {
  int rc = NAME(check_rows)(FNAME(NAME(qdm_reim_to_cplx_l2norm)), y, x, B, D);
  if (rc) return rc;
  ROWS_PAR((size_t)B * D)
  for (int r = 0; r < B; r++) {
    double *yr = (double *)(y + (size_t)r * D);
    NAME(reim_row)(yr, x + (size_t)r * 2 * D, D);
    double s = unit_row(yr, yr, 2 * D);
    if (norm) norm[r] = s;
  }
  return QDM_OK;
}

/* qdm_cl2norm_backward then qdm_reim_to_cplx_backward, row by row: the
 * complex gradient of a row is consumed where it is formed. */
int NAME(qdm_reim_to_cplx_l2norm_backward)(REAL *dx, const qdm_cplx *dy, const qdm_cplx *y, const double *norm,
                                           int B, int D) {
  const char *fn = FNAME(NAME(qdm_reim_to_cplx_l2norm_backward));
  int rc = NAME(check_rows)(fn, dx, dy, B, D);
  if (rc) return rc;
  if (!y || !norm) return qdm_fail(QDM_EINVAL, "%s: y and norm must be non-NULL", fn);
  ROWS_PAR((size_t)B * D)
  for (int r = 0; r < B; r++) {
    const double *yr = (const double *)(y + (size_t)r * D), *dyr = (const double *)(dy + (size_t)r * D);
    REAL *o = dx + (size_t)r * 2 * D;
    double inv = 1.0 / norm[r], p = norm[r] > QDM_L2_EPS ? dot8(yr, dyr, 2 * D) : 0;
    for (int i = 0; i < D; i++) {
      o[i] = (REAL)((dyr[2 * i] - yr[2 * i] * p) * inv);
      o[D + i] = (REAL)((dyr[2 * i + 1] - yr[2 * i + 1] * p) * inv);
    }
  }
  return QDM_OK;
}

/* ---- concatenation of two row blocks (the skip connection) ---- */

int NAME(qdm_concat_forward)(REAL *out, const REAL *a, const REAL *b, int B, int Da, int Db) {
  const char *fn = FNAME(NAME(qdm_concat_forward));
  if (!out || !a || !b) return qdm_fail(QDM_EINVAL, "%s: out, a and b must be non-NULL", fn);
  if (B <= 0 || Da <= 0 || Db <= 0)
    return qdm_fail(QDM_EINVAL, "%s: B, Da, Db must be > 0 (got %d, %d, %d)", fn, B, Da, Db);
  size_t w = (size_t)Da + Db;
  ROWS_PAR((size_t)B * w)
  for (int r = 0; r < B; r++) {
    memcpy(out + r * w, a + (size_t)r * Da, sizeof(REAL) * Da);
    memcpy(out + r * w + Da, b + (size_t)r * Db, sizeof(REAL) * Db);
  }
  return QDM_OK;
}

int NAME(qdm_concat_backward)(REAL *da, REAL *db, const REAL *dout, int B, int Da, int Db) {
  const char *fn = FNAME(NAME(qdm_concat_backward));
  if (!dout) return qdm_fail(QDM_EINVAL, "%s: dout must be non-NULL", fn);
  if (B <= 0 || Da <= 0 || Db <= 0)
    return qdm_fail(QDM_EINVAL, "%s: B, Da, Db must be > 0 (got %d, %d, %d)", fn, B, Da, Db);
  size_t w = (size_t)Da + Db;
  ROWS_PAR((size_t)B * w)
  for (int r = 0; r < B; r++) {
    if (da) memcpy(da + (size_t)r * Da, dout + r * w, sizeof(REAL) * Da);
    if (db) memcpy(db + (size_t)r * Db, dout + r * w + Da, sizeof(REAL) * Db);
  }
  return QDM_OK;
}

#undef FNAME
#undef FNAME_
