/* classifier_layers.c -- the layers the digit classifier needs beyond
 * qdm/nn.h: softmax cross-entropy, 3x3 convolution (im2col + one dgemm
 * through qdm_linear) and 2x2 max pooling, each forward beside its backward. */
#include <math.h>
#include <string.h>
#include "qdm/eval.h"
#include "qdm/nn.h"

/* p = softmax(z) computed as exp(z - max z) / sum, so no overflow;
 * -log p_y = log sum exp(z - max) - (z_y - max). dL/dz = (p - e_y) / B. */
int qdm_softmax_xent(double *loss, double *prob, double *dlogits, const double *logits, const uint8_t *y,
                     int B, int C) {
  if (!loss || !logits || !y) return qdm_fail(QDM_EINVAL, "qdm_softmax_xent: loss, logits and y must be non-NULL");
  if (B < 1 || C < 1) return qdm_fail(QDM_EINVAL, "qdm_softmax_xent: B and C must be >= 1 (got %d, %d)", B, C);
  for (int r = 0; r < B; r++)
    if (y[r] >= C) return qdm_fail(QDM_EINVAL, "qdm_softmax_xent: label %d at row %d, expected 0..%d", y[r], r, C - 1);
  double sum = 0;
  for (int r = 0; r < B; r++) {
    const double *z = logits + (size_t)r * C;
    double mx = z[0], s = 0;
    for (int c = 1; c < C; c++) mx = z[c] > mx ? z[c] : mx;
    for (int c = 0; c < C; c++) s += exp(z[c] - mx);
    sum += log(s) - (z[y[r]] - mx);
    for (int c = 0; c < C; c++) {
      double p = exp(z[c] - mx) / s;
      if (prob) prob[(size_t)r * C + c] = p;
      if (dlogits) dlogits[(size_t)r * C + c] = (p - (c == y[r])) / B;
    }
  }
  *loss = sum / B;
  return QDM_OK;
}

static int conv_check(const char *who, const void *a, const void *b, const void *c, int B, int H, int Wd, int Cin,
                      int Cout) {
  if (!a || !b || !c) return qdm_fail(QDM_EINVAL, "%s: buffers must be non-NULL", who);
  if (B < 1 || H < 1 || Wd < 1 || Cin < 1 || Cout < 1)
    return qdm_fail(QDM_EINVAL, "%s: B, H, W, Cin, Cout must be >= 1 (got %d, %d, %d, %d, %d)", who, B, H, Wd, Cin, Cout);
  return QDM_OK;
}

/* im2col: row (b, i, j) holds the 3 x 3 x Cin neighbourhood, zeros outside. */
static void im2col(double *cols, const double *x, int B, int H, int Wd, int Cin) {
  size_t K = 9 * (size_t)Cin;
  for (int b = 0; b < B; b++)
    for (int i = 0; i < H; i++)
      for (int j = 0; j < Wd; j++) {
        double *row = cols + (((size_t)b * H + i) * Wd + j) * K;
        for (int di = 0; di < 3; di++)
          for (int dj = 0; dj < 3; dj++) {
            int ii = i + di - 1, jj = j + dj - 1;
            double *dst = row + (size_t)(3 * di + dj) * Cin;
            if (ii < 0 || ii >= H || jj < 0 || jj >= Wd) memset(dst, 0, Cin * sizeof(double));
            else memcpy(dst, x + (((size_t)b * H + ii) * Wd + jj) * Cin, Cin * sizeof(double));
          }
      }
}

/* col2im: the adjoint of im2col (each input pixel gathers from the up to 9
 * rows it was copied to). */
static void col2im(double *dx, const double *dcols, int B, int H, int Wd, int Cin) {
  size_t K = 9 * (size_t)Cin;
  memset(dx, 0, (size_t)B * H * Wd * Cin * sizeof(double));
  for (int b = 0; b < B; b++)
    for (int i = 0; i < H; i++)
      for (int j = 0; j < Wd; j++) {
        const double *row = dcols + (((size_t)b * H + i) * Wd + j) * K;
        for (int di = 0; di < 3; di++)
          for (int dj = 0; dj < 3; dj++) {
            int ii = i + di - 1, jj = j + dj - 1;
            if (ii < 0 || ii >= H || jj < 0 || jj >= Wd) continue;
            double *dst = dx + (((size_t)b * H + ii) * Wd + jj) * Cin;
            const double *src = row + (size_t)(3 * di + dj) * Cin;
            for (int c = 0; c < Cin; c++) dst[c] += src[c];
          }
      }
}

int qdm_conv3x3_forward(double *y, double *cols, const double *x, const double *W, const double *b, int B,
                        int H, int Wd, int Cin, int Cout) {
  int err = conv_check("qdm_conv3x3_forward", y, cols, x, B, H, Wd, Cin, Cout);
  if (err) return err;
  if (!W) return qdm_fail(QDM_EINVAL, "qdm_conv3x3_forward: W must be non-NULL");
  im2col(cols, x, B, H, Wd, Cin);
  return qdm_linear_forward(y, cols, W, b, B * H * Wd, 9 * Cin, Cout);
}

int qdm_conv3x3_backward(double *dx, double *dW, double *db, double *dcols, const double *dy,
                         const double *cols, const double *W, int B, int H, int Wd, int Cin, int Cout) {
  int err = conv_check("qdm_conv3x3_backward", dy, cols, W, B, H, Wd, Cin, Cout);
  if (err) return err;
  if (dx && !dcols) return qdm_fail(QDM_EINVAL, "qdm_conv3x3_backward: dx needs the dcols scratch");
  err = qdm_linear_backward(dx ? dcols : NULL, dW, db, dy, cols, W, B * H * Wd, 9 * Cin, Cout);
  if (!err && dx) col2im(dx, dcols, B, H, Wd, Cin);
  return err;
}

int qdm_maxpool2_forward(double *y, int *arg, const double *x, int B, int H, int W, int C) {
  if (!y || !arg || !x) return qdm_fail(QDM_EINVAL, "qdm_maxpool2_forward: y, arg and x must be non-NULL");
  if (B < 1 || H < 2 || W < 2 || C < 1 || H % 2 || W % 2)
    return qdm_fail(QDM_EINVAL, "qdm_maxpool2_forward: need B, C >= 1 and even H, W >= 2 (got %d, %d, %d, %d)", B, H, W, C);
  int h = H / 2, w = W / 2;
  for (int b = 0; b < B; b++)
    for (int i = 0; i < h; i++)
      for (int j = 0; j < w; j++)
        for (int c = 0; c < C; c++) {
          size_t o = (((size_t)b * h + i) * w + j) * C + c, best = 0;
          double m = -INFINITY;
          for (int a = 0; a < 2; a++)
            for (int e = 0; e < 2; e++) {
              size_t k = (((size_t)b * H + 2 * i + a) * W + 2 * j + e) * C + c;
              if (x[k] > m || (a == 0 && e == 0)) { m = x[k]; best = k; }
            }
          y[o] = m;
          arg[o] = (int)best;
        }
  return QDM_OK;
}

int qdm_maxpool2_backward(double *dx, const double *dy, const int *arg, int B, int H, int W, int C) {
  if (!dx || !dy || !arg) return qdm_fail(QDM_EINVAL, "qdm_maxpool2_backward: dx, dy and arg must be non-NULL");
  if (B < 1 || H < 2 || W < 2 || C < 1 || H % 2 || W % 2)
    return qdm_fail(QDM_EINVAL, "qdm_maxpool2_backward: need B, C >= 1 and even H, W >= 2 (got %d, %d, %d, %d)", B, H, W, C);
  size_t n = (size_t)B * H * W * C, m = n / 4;
  memset(dx, 0, n * sizeof(double));
  for (size_t o = 0; o < m; o++) dx[arg[o]] += dy[o];
  return QDM_OK;
}
