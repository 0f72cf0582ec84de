/* test_nn.c -- every backward against central finite differences, Linear
 * against a naive triple loop, LayerNorm and Adam against hand-computed
 * values, the infidelity against a state pair worked out on paper; the
 * float layers and float Adam against those (tested) double ones. */
#include <string.h>
#include <complex.h>
#include "qdm/nn.h"
#include "qdm/qsim.h"
#include "check.h"

#define FD_H 1e-5
#define FD_TOL 1e-6

static qdm_rng rng;

static void randv(double *x, size_t n, double lo, double hi) {
  for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * qdm_rng_uniform(&rng);
}
/* values with |x| in [0.05, 1], so a +-h step never crosses a kink at 0 */
static void rand_away0(double *x, size_t n) {
  for (size_t i = 0; i < n; i++) {
    double a = 0.05 + 0.95 * qdm_rng_uniform(&rng);
    x[i] = qdm_rng_uniform(&rng) < 0.5 ? -a : a;
  }
}
static double dot(const double *a, const double *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

/* A scalar loss L(ctx) = <w, layer(inputs)>; fd() perturbs one array. */
typedef double (*lossfn)(void *ctx);
static void fd(lossfn f, void *ctx, double *x, size_t n, double *g) {
  for (size_t i = 0; i < n; i++) {
    double s = x[i];
    x[i] = s + FD_H;
    double lp = f(ctx);
    x[i] = s - FD_H;
    double lm = f(ctx);
    x[i] = s;
    g[i] = (lp - lm) / (2 * FD_H);
  }
}
static void check_grad(const char *what, const double *an, const double *num, size_t n) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs(an[i] - num[i]);
    if (d > err) err = d;
    if (fabs(num[i]) > scale) scale = fabs(num[i]);
  }
  CHECK(scale > 0 && err <= FD_TOL * scale, "%s: max |analytic - fd| = %.3g, scale %.3g", what,
        err, scale);
}

/* ---------------- Linear ---------------- */
enum { LB = 3, LIN = 5, LOUT = 4 };
typedef struct { double x[LB * LIN], W[LOUT * LIN], b[LOUT], w[LB * LOUT], y[LB * LOUT]; } lin_ctx;
static double lin_loss(void *p) {
  lin_ctx *c = p;
  qdm_linear_forward(c->y, c->x, c->W, c->b, LB, LIN, LOUT);
  return dot(c->w, c->y, LB * LOUT);
}
/* Above 2^20 multiply-adds on exactly two threads, dx = dy W and dW +=
 * dy^T x run side by side, one per thread: both against the naive loops,
 * in double and in float, on 1 and on 2 threads. */
static void test_linear_two_threads(void) {
  enum { B = 64, IN = 160, OUT = 128 };
  static double x[B * IN], W[OUT * IN], dy[B * OUT], dx[B * IN], dW[OUT * IN], rx[B * IN], rW[OUT * IN];
  static float xf[B * IN], Wf[OUT * IN], dyf[B * OUT], dxf[B * IN], dWf[OUT * IN];
  randv(x, B * IN, -1, 1); randv(W, OUT * IN, -1, 1); randv(dy, B * OUT, -1, 1);
  for (int i = 0; i < B * IN; i++) xf[i] = (float)x[i];
  for (int i = 0; i < OUT * IN; i++) Wf[i] = (float)W[i];
  for (int i = 0; i < B * OUT; i++) dyf[i] = (float)dy[i];
  for (int r = 0; r < B; r++)
    for (int i = 0; i < IN; i++) {
      double s = 0;
      for (int o = 0; o < OUT; o++) s += dy[r * OUT + o] * W[o * IN + i];
      rx[r * IN + i] = s;
    }
  for (int o = 0; o < OUT; o++)
    for (int i = 0; i < IN; i++) {
      double s = 0.5; /* accumulated onto */
      for (int r = 0; r < B; r++) s += dy[r * OUT + o] * x[r * IN + i];
      rW[o * IN + i] = s;
    }
  for (int nt = 1; nt <= 2; nt++) {
    qdm_set_threads(nt);
    for (int i = 0; i < OUT * IN; i++) dW[i] = dWf[i] = 0.5;
    CHECK(qdm_linear_backward(dx, dW, NULL, dy, x, W, B, IN, OUT) == QDM_OK, "linear backward, %d threads", nt);
    CHECK(qdm_linear_backward_f32(dxf, dWf, NULL, dyf, xf, Wf, B, IN, OUT) == QDM_OK, "f32, %d threads", nt);
    double ex = 0, eW = 0, exf = 0, eWf = 0;
    for (int i = 0; i < B * IN; i++) ex = fmax(ex, fabs(dx[i] - rx[i])), exf = fmax(exf, fabs(dxf[i] - rx[i]));
    for (int i = 0; i < OUT * IN; i++) eW = fmax(eW, fabs(dW[i] - rW[i])), eWf = fmax(eWf, fabs(dWf[i] - rW[i]));
    CHECK(ex < 1e-12 && eW < 1e-12, "%d threads: dx, dW vs the naive loops: err %g, %g", nt, ex, eW);
    CHECK(exf < 1e-4 && eWf < 1e-4, "%d threads: f32 dx, dW vs the naive loops: err %g, %g", nt, exf, eWf);
  }
  qdm_set_threads(0);
}

/* A layer's forward in two column parts (qdm_linear_forward_cols: the
 * later columns first with the bias, then the first ones added, their x
 * rows inside wider rows), against the naive loop on the joined input; on
 * 1 and 2 threads, f64 and f32, at a size that takes the threads. */
static void test_linear_cols(void) {
  enum { B = 64, IN = 200, OUT = 160, LO = 37, LD = 50 };
  static double x[B * IN], W[OUT * IN], b[OUT], xh[B * LD], xt[B * (IN - LO)], y[B * OUT], ry[B * OUT];
  static float xhf[B * LD], xtf[B * (IN - LO)], Wf[OUT * IN], bf[OUT], yf[B * OUT];
  randv(x, B * IN, -1, 1); randv(W, OUT * IN, -1, 1); randv(b, OUT, -1, 1);
  for (int i = 0; i < OUT * IN; i++) Wf[i] = (float)W[i];
  for (int o = 0; o < OUT; o++) bf[o] = (float)b[o];
  for (int r = 0; r < B; r++) {
    for (int i = 0; i < LO; i++) xh[r * LD + i] = x[r * IN + i], xhf[r * LD + i] = (float)x[r * IN + i];
    for (int i = LO; i < IN; i++) xt[r * (IN - LO) + i - LO] = x[r * IN + i], xtf[r * (IN - LO) + i - LO] = (float)x[r * IN + i];
    for (int o = 0; o < OUT; o++) {
      double s = b[o];
      for (int i = 0; i < IN; i++) s += x[r * IN + i] * W[o * IN + i];
      ry[r * OUT + o] = s;
    }
  }
  for (int nt = 1; nt <= 2; nt++) {
    qdm_set_threads(nt);
    CHECK(qdm_linear_forward_cols(y, xt, IN - LO, W, b, B, IN, OUT, LO, IN, 0) == QDM_OK &&
              qdm_linear_forward_cols(y, xh, LD, W, NULL, B, IN, OUT, 0, LO, 1) == QDM_OK,
          "linear forward in two column parts, %d threads", nt);
    CHECK(qdm_linear_forward_cols_f32(yf, xtf, IN - LO, Wf, bf, B, IN, OUT, LO, IN, 0) == QDM_OK &&
              qdm_linear_forward_cols_f32(yf, xhf, LD, Wf, NULL, B, IN, OUT, 0, LO, 1) == QDM_OK,
          "f32, %d threads", nt);
    double e = 0, ef = 0;
    for (int i = 0; i < B * OUT; i++) e = fmax(e, fabs(y[i] - ry[i])), ef = fmax(ef, fabs(yf[i] - ry[i]));
    CHECK(e < 1e-12 && ef < 1e-4, "%d threads: two column parts vs the joined naive loop: err %g, f32 %g", nt, e, ef);
  }
  qdm_set_threads(0);
  CHECK(qdm_linear_forward_cols(y, xh, LD, W, NULL, B, IN, OUT, 0, IN + 1, 1) == QDM_EINVAL &&
            strstr(qdm_errmsg(), "[lo, hi)"),
        "columns past in rejected, naming [lo, hi): %s", qdm_errmsg());
  CHECK(qdm_linear_forward_cols(y, xh, LO - 1, W, NULL, B, IN, OUT, 0, LO, 1) == QDM_EINVAL &&
            strstr(qdm_errmsg(), "ldx"),
        "ldx narrower than the part rejected, naming ldx: %s", qdm_errmsg());
  CHECK(qdm_linear_forward_cols(y, xh, LD, W, b, B, IN, OUT, 0, LO, 1) == QDM_EINVAL && strstr(qdm_errmsg(), "bias"),
        "a bias on an added part rejected: %s", qdm_errmsg());
}

static void test_linear(void) {
  /* forward against the naive triple loop, with and without bias */
  enum { B = 7, IN = 13, OUT = 5 };
  double x[B * IN], W[OUT * IN], b[OUT], y[B * OUT], y0[B * OUT];
  randv(x, B * IN, -1, 1); randv(W, OUT * IN, -1, 1); randv(b, OUT, -1, 1);
  CHECK(qdm_linear_forward(y, x, W, b, B, IN, OUT) == QDM_OK, "linear forward");
  CHECK(qdm_linear_forward(y0, x, W, NULL, B, IN, OUT) == QDM_OK, "linear forward no bias");
  double e = 0, e0 = 0;
  for (int r = 0; r < B; r++)
    for (int o = 0; o < OUT; o++) {
      double s = 0;
      for (int i = 0; i < IN; i++) s += x[r * IN + i] * W[o * IN + i];
      e = fmax(e, fabs(y[r * OUT + o] - (s + b[o])));
      e0 = fmax(e0, fabs(y0[r * OUT + o] - s));
    }
  CHECK(e < 1e-13 && e0 < 1e-13, "linear vs triple loop: err %g / %g", e, e0);

  /* backward against finite differences; dW and db must accumulate */
  lin_ctx c;
  randv(c.x, LB * LIN, -1, 1); randv(c.W, LOUT * LIN, -1, 1); randv(c.b, LOUT, -1, 1);
  randv(c.w, LB * LOUT, -1, 1);
  double dx[LB * LIN], dW[LOUT * LIN], db[LOUT], num[LOUT * LIN];
  for (int i = 0; i < LOUT * LIN; i++) dW[i] = 0.25;
  for (int i = 0; i < LOUT; i++) db[i] = -0.5;
  CHECK(qdm_linear_backward(dx, dW, db, c.w, c.x, c.W, LB, LIN, LOUT) == QDM_OK, "linear backward");
  for (int i = 0; i < LOUT * LIN; i++) dW[i] -= 0.25;
  for (int i = 0; i < LOUT; i++) db[i] += 0.5;
  fd(lin_loss, &c, c.x, LB * LIN, num); check_grad("linear dx", dx, num, LB * LIN);
  fd(lin_loss, &c, c.W, LOUT * LIN, num); check_grad("linear dW (accumulated)", dW, num, LOUT * LIN);
  fd(lin_loss, &c, c.b, LOUT, num); check_grad("linear db (accumulated)", db, num, LOUT);

  /* the input gradient's first columns alone, against the same finite
   * differences (the later columns' entries of num are not read) */
  enum { HEAD = 3 };
  double dxh[LB * HEAD];
  fd(lin_loss, &c, c.x, LB * LIN, num);
  CHECK(qdm_linear_backward_head(dxh, HEAD, c.w, c.W, LB, LIN, LOUT) == QDM_OK, "linear backward head");
  double eh = 0;
  for (int r = 0; r < LB; r++)
    for (int i = 0; i < HEAD; i++) eh = fmax(eh, fabs(dxh[r * HEAD + i] - num[r * LIN + i]));
  CHECK(eh < 1e-6, "linear dx head vs finite differences: err %g", eh);
  CHECK(qdm_linear_backward_head(dxh, LIN + 1, c.w, c.W, LB, LIN, LOUT) == QDM_EINVAL && strstr(qdm_errmsg(), "cols"),
        "head wider than the input rejected, naming cols: %s", qdm_errmsg());

  test_linear_two_threads();
  test_linear_cols();

  CHECK(qdm_linear_forward(y, x, W, b, 0, IN, OUT) == QDM_EINVAL, "linear B=0 rejected");
  CHECK(strstr(qdm_errmsg(), "B") != NULL, "message names B: %s", qdm_errmsg());
  CHECK(qdm_linear_backward(dx, NULL, NULL, c.w, c.x, NULL, LB, LIN, LOUT) == QDM_EINVAL,
        "linear dx without W rejected");
}

/* ---------------- LayerNorm ---------------- */
enum { NB = 3, NC = 6 };
typedef struct { double x[NB * NC], g[NC], b[NC], w[NB * NC], y[NB * NC], m[NB], s[NB]; int affine; } ln_ctx;
static double ln_loss(void *p) {
  ln_ctx *c = p;
  qdm_layernorm_forward(c->y, c->m, c->s, c->x, c->affine ? c->g : NULL, c->affine ? c->b : NULL, NB, NC);
  return dot(c->w, c->y, NB * NC);
}
static void test_layernorm(void) {
  /* hand example: x = (1,2,3,4): mean 2.5, biased var 1.25,
   * rstd = 1/sqrt(1.25001) = 0.894423613312618 */
  double x[4] = {1, 2, 3, 4}, g[4] = {0.5, -1, 2, 1.5}, b[4] = {0.1, 0.2, -0.3, 0};
  double y[4], m, s;
  const double want[4] = {-1.5 * 0.894423613312618 * 0.5 + 0.1, -0.5 * 0.894423613312618 * -1 + 0.2,
                          0.5 * 0.894423613312618 * 2 - 0.3, 1.5 * 0.894423613312618 * 1.5};
  CHECK(qdm_layernorm_forward(y, &m, &s, x, g, b, 1, 4) == QDM_OK, "layernorm forward");
  CHECK_NEAR(m, 2.5, 1e-15, "layernorm mean");
  CHECK_NEAR(s, 0.894423613312618, 1e-14, "layernorm rstd");
  for (int i = 0; i < 4; i++) CHECK_NEAR(y[i], want[i], 1e-14, "layernorm y (hand)");

  for (int affine = 1; affine >= 0; affine--) {
    ln_ctx c;
    c.affine = affine;
    randv(c.x, NB * NC, -2, 2); randv(c.g, NC, -1.5, 1.5); randv(c.b, NC, -1, 1);
    randv(c.w, NB * NC, -1, 1);
    ln_loss(&c);
    double dx[NB * NC], dg[NC] = {0}, dbeta[NC] = {0}, num[NB * NC];
    CHECK(qdm_layernorm_backward(dx, affine ? dg : NULL, affine ? dbeta : NULL, c.w, c.x,
                                 affine ? c.g : NULL, c.m, c.s, NB, NC) == QDM_OK, "ln backward");
    fd(ln_loss, &c, c.x, NB * NC, num);
    check_grad(affine ? "layernorm dx" : "layernorm dx (no affine)", dx, num, NB * NC);
    if (affine) {
      fd(ln_loss, &c, c.g, NC, num); check_grad("layernorm dgamma", dg, num, NC);
      fd(ln_loss, &c, c.b, NC, num); check_grad("layernorm dbeta", dbeta, num, NC);
    }
  }
}

/* ---------------- activations ---------------- */
enum { AN = 40 };
typedef struct { double x[AN], w[AN], y[AN], slope; int kind; } act_ctx;
static double act_loss(void *p) {
  act_ctx *c = p;
  if (c->kind == 0) qdm_relu_forward(c->y, c->x, AN);
  else if (c->kind == 1) qdm_leaky_relu_forward(c->y, c->x, AN, c->slope);
  else qdm_cleaky_relu_forward((qdm_cplx *)c->y, (const qdm_cplx *)c->x, AN / 2, c->slope);
  return dot(c->w, c->y, AN);
}
static void test_activations(void) {
  double x[3] = {-2, 0, 3}, y[3];
  qdm_leaky_relu_forward(y, x, 3, 0.1);
  CHECK(y[0] == -0.2 && y[1] == 0 && y[2] == 3, "leaky relu values");
  qdm_relu_forward(y, x, 3);
  CHECK(y[0] == 0 && y[1] == 0 && y[2] == 3, "relu values");
  qdm_cplx z[2] = {CMPLX(-1, 2), CMPLX(3, -4)}, zy[2];
  qdm_cleaky_relu_forward(zy, z, 2, 0.5);
  CHECK(zy[0] == CMPLX(-0.5, 2) && zy[1] == CMPLX(3, -2), "complex leaky relu acts on Re and Im");

  for (int kind = 0; kind < 3; kind++) {
    act_ctx c;
    c.kind = kind;
    c.slope = 0.2;
    rand_away0(c.x, AN);
    randv(c.w, AN, -1, 1);
    double dx[AN], num[AN], dx2[AN];
    if (kind == 0) qdm_relu_backward(dx, c.w, c.x, AN);
    else if (kind == 1) qdm_leaky_relu_backward(dx, c.w, c.x, AN, c.slope);
    else qdm_cleaky_relu_backward((qdm_cplx *)dx, (const qdm_cplx *)c.w, (const qdm_cplx *)c.x, AN / 2, c.slope);
    fd(act_loss, &c, c.x, AN, num);
    check_grad(kind == 0 ? "relu dx" : kind == 1 ? "leaky relu dx" : "complex leaky relu co-gradient", dx, num, AN);
    /* backward given the output instead of the input (in-place use) */
    act_loss(&c);
    if (kind == 1) {
      qdm_leaky_relu_backward(dx2, c.w, c.y, AN, c.slope);
      CHECK(memcmp(dx, dx2, sizeof dx) == 0, "leaky relu backward from y equals from x");
    }
  }
  CHECK(qdm_leaky_relu_forward(y, x, 3, -1) == QDM_EINVAL, "negative slope rejected");
}

/* ---------------- L2 normalisation ---------------- */
enum { QB = 3, QD = 7 };
typedef struct { double x[QB * 2 * QD], w[QB * 2 * QD], y[QB * 2 * QD], n[QB]; int cplx; } l2_ctx;
static double l2_loss(void *p) {
  l2_ctx *c = p;
  if (c->cplx) qdm_cl2norm_forward((qdm_cplx *)c->y, c->n, (const qdm_cplx *)c->x, QB, QD);
  else qdm_l2norm_forward(c->y, c->n, c->x, QB, QD);
  return dot(c->w, c->y, (size_t)QB * QD * (c->cplx ? 2 : 1));
}
static void test_l2norm(void) {
  double x[2] = {3, 4}, y[2], n;
  qdm_l2norm_forward(y, &n, x, 1, 2);
  CHECK(n == 5 && fabs(y[0] - 0.6) < 1e-15 && fabs(y[1] - 0.8) < 1e-15, "l2norm of (3,4)");
  qdm_cplx z[2] = {CMPLX(1, 1), CMPLX(0, -2)}, zy[2];
  qdm_cl2norm_forward(zy, &n, z, 1, 2);
  CHECK_NEAR(n, sqrt(6.0), 1e-15, "complex norm of (1+i, -2i)");
  CHECK(cabs(zy[1] - CMPLX(0, -2 / sqrt(6.0))) < 1e-15, "complex l2norm value");

  for (int cp = 0; cp < 2; cp++) {
    l2_ctx c;
    c.cplx = cp;
    size_t n = (size_t)QB * QD * (cp ? 2 : 1);
    randv(c.x, n, -1, 1);
    randv(c.w, n, -1, 1);
    l2_loss(&c);
    double dx[QB * 2 * QD], num[QB * 2 * QD];
    if (cp) qdm_cl2norm_backward((qdm_cplx *)dx, (const qdm_cplx *)c.w, (const qdm_cplx *)c.y, c.n, QB, QD);
    else qdm_l2norm_backward(dx, c.w, c.y, c.n, QB, QD);
    fd(l2_loss, &c, c.x, n, num);
    check_grad(cp ? "complex l2norm co-gradient" : "l2norm dx", dx, num, n);
  }
}

/* ---------------- complex <-> [Re, Im], concat ---------------- */
enum { RB = 2, RD = 3 };
typedef struct { double z[RB * 2 * RD], x[RB * 2 * RD], w[RB * 2 * RD], y[RB * 2 * RD]; int dir; } ri_ctx;
static double ri_loss(void *p) {
  ri_ctx *c = p;
  if (c->dir == 0) qdm_cplx_to_reim(c->y, (const qdm_cplx *)c->z, RB, RD);
  else qdm_reim_to_cplx((qdm_cplx *)c->y, c->x, RB, RD);
  return dot(c->w, c->y, RB * 2 * RD);
}
enum { CB = 3, CA = 2, CD = 4 };
typedef struct { double a[CB * CA], b[CB * CD], w[CB * (CA + CD)], y[CB * (CA + CD)]; } cat_ctx;
static double cat_loss(void *p) {
  cat_ctx *c = p;
  qdm_concat_forward(c->y, c->a, c->b, CB, CA, CD);
  return dot(c->w, c->y, CB * (CA + CD));
}
static void test_reshape(void) {
  qdm_cplx z[2] = {CMPLX(1, 2), CMPLX(3, 4)};
  double o[4];
  qdm_cplx_to_reim(o, z, 1, 2);
  CHECK(o[0] == 1 && o[1] == 3 && o[2] == 2 && o[3] == 4, "[Re, Im] block layout");
  ri_ctx c;
  randv(c.z, sizeof c.z / 8, -1, 1); randv(c.x, sizeof c.x / 8, -1, 1); randv(c.w, sizeof c.w / 8, -1, 1);
  double g[RB * 2 * RD], num[RB * 2 * RD];
  c.dir = 0;
  qdm_cplx_to_reim_backward((qdm_cplx *)g, c.w, RB, RD);
  fd(ri_loss, &c, c.z, RB * 2 * RD, num);
  check_grad("cplx_to_reim co-gradient", g, num, RB * 2 * RD);
  c.dir = 1;
  qdm_reim_to_cplx_backward(g, (const qdm_cplx *)c.w, RB, RD);
  fd(ri_loss, &c, c.x, RB * 2 * RD, num);
  check_grad("reim_to_cplx gradient", g, num, RB * 2 * RD);

  cat_ctx k;
  randv(k.a, CB * CA, -1, 1); randv(k.b, CB * CD, -1, 1); randv(k.w, CB * (CA + CD), -1, 1);
  cat_loss(&k);
  CHECK(k.y[(CA + CD) + CA] == k.b[CD] && k.y[2 * (CA + CD) + 1] == k.a[2 * CA + 1], "concat layout");
  double da[CB * CA], db[CB * CD], na[CB * CA], nb[CB * CD];
  qdm_concat_backward(da, db, k.w, CB, CA, CD);
  fd(cat_loss, &k, k.a, CB * CA, na); check_grad("concat da", da, na, CB * CA);
  fd(cat_loss, &k, k.b, CB * CD, nb); check_grad("concat db", db, nb, CB * CD);
}

/* The decoder's fused end (qdm_reim_to_cplx_l2norm and its backward)
 * against the two calls it replaces, in double and float, with a zero row
 * (the clamp) among rows of odd length (dot8's tail); the calls' own
 * gradients are checked by finite differences above. */
static void test_reim_l2norm(void) {
  enum { B = 4, D = 37 };
  double x[B * 2 * D], gy[B * 2 * D], dref[B * 2 * D], dfus[B * 2 * D], n1[B], n2[B];
  float xf[B * 2 * D], dfref[B * 2 * D], dffus[B * 2 * D];
  qdm_cplx z[B * D], y1[B * D], y2[B * D], gz[B * D];
  randv(x, B * 2 * D, -1, 1);
  randv(gy, B * 2 * D, -1, 1);
  memset(x + 2 * 2 * D, 0, 2 * D * sizeof *x); /* row 2 is zero */
  for (int i = 0; i < B * 2 * D; i++) xf[i] = (float)x[i];
  int same = 1;
  for (int f = 0; f < 2; f++) {
    if (f) qdm_reim_to_cplx_f32(z, xf, B, D);
    else qdm_reim_to_cplx(z, x, B, D);
    qdm_cl2norm_forward(y1, n1, z, B, D);
    if (f) qdm_reim_to_cplx_l2norm_f32(y2, n2, xf, B, D);
    else qdm_reim_to_cplx_l2norm(y2, n2, x, B, D);
    same &= !memcmp(y1, y2, sizeof y1) && !memcmp(n1, n2, sizeof n1);
    qdm_cl2norm_backward(gz, (const qdm_cplx *)gy, y1, n1, B, D);
    if (f) {
      qdm_reim_to_cplx_backward_f32(dfref, gz, B, D);
      qdm_reim_to_cplx_l2norm_backward_f32(dffus, (const qdm_cplx *)gy, y2, n2, B, D);
      same &= !memcmp(dfref, dffus, sizeof dfref);
    } else {
      qdm_reim_to_cplx_backward(dref, gz, B, D);
      qdm_reim_to_cplx_l2norm_backward(dfus, (const qdm_cplx *)gy, y2, n2, B, D);
      same &= !memcmp(dref, dfus, sizeof dref);
    }
  }
  CHECK(same, "reim_to_cplx_l2norm (both precisions, forward and backward): the two calls' values, bit for bit");
  CHECK(n1[2] == QDM_L2_EPS && creal(y1[2 * D]) == 0, "(the zero row was clamped)");
  CHECK(qdm_reim_to_cplx_l2norm_backward(dref, (const qdm_cplx *)gy, y2, NULL, B, D) == QDM_EINVAL,
        "reim_to_cplx_l2norm_backward: NULL norm rejected");
}

/* ---------------- losses ---------------- */
enum { FB = 3, FD = 5 };
typedef struct { qdm_cplx p[FB * FD], t[FB * FD]; double a[FB * FD], b[FB * FD]; } loss_ctx;
static double inf_loss(void *p) {
  loss_ctx *c = p;
  double L;
  qdm_infidelity_loss(&L, NULL, c->p, c->t, FB, FD);
  return L;
}
static double mse_l(void *p) {
  loss_ctx *c = p;
  double L;
  qdm_mse_loss(&L, NULL, c->a, c->b, FB * FD);
  return L;
}
static void test_losses(void) {
  /* |<0| (|0> + i|1>)/sqrt2>|^2 = 1/2; identical states give 0. */
  qdm_cplx p[4] = {1, 0, CMPLX(0.6, 0), CMPLX(0, 0.8)};
  qdm_cplx t[4] = {M_SQRT1_2, CMPLX(0, M_SQRT1_2), CMPLX(0.6, 0), CMPLX(0, 0.8)};
  double L;
  qdm_infidelity_loss(&L, NULL, p, t, 1, 2);
  CHECK_NEAR(L, 0.5, 1e-15, "infidelity of |0> vs |+i>");
  qdm_infidelity_loss(&L, NULL, p, t, 2, 2);
  CHECK_NEAR(L, 0.25, 1e-15, "batch mean of 0.5 and 0");

  loss_ctx c;
  qdm_rng_haar_state(&rng, c.p, FD * FB);  /* not unit per row: formula must not assume it */
  for (int r = 0; r < FB; r++) qdm_rng_haar_state(&rng, c.t + r * FD, FD);
  qdm_cplx g[FB * FD];
  double num[2 * FB * FD];
  qdm_infidelity_loss(&L, g, c.p, c.t, FB, FD);
  fd(inf_loss, &c, (double *)c.p, 2 * FB * FD, num);
  check_grad("infidelity co-gradient", (const double *)g, num, 2 * FB * FD);

  /* many rows (past 64 spans, over the threads) of a width past 8 (the
   * partial sums and their tail), against the formula written plainly */
  enum { LB = 130, LD = 131 }; /* 17,030 values: the threaded path */
  qdm_cplx *lp = malloc(LB * LD * sizeof *lp), *lt = malloc(LB * LD * sizeof *lt), *lg = malloc(LB * LD * sizeof *lg);
  qdm_rng_haar_state(&rng, lp, LB * LD);
  qdm_rng_haar_state(&rng, lt, LB * LD);
  double want = 0, gworst = 0;
  qdm_infidelity_loss(&L, lg, lp, lt, LB, LD);
  for (int r = 0; r < LB; r++) {
    qdm_cplx tp = 0;
    for (int i = 0; i < LD; i++) tp += conj(lt[r * LD + i]) * lp[r * LD + i];
    want += (1 - cabs(tp) * cabs(tp)) / LB;
    for (int i = 0; i < LD; i++) gworst = fmax(gworst, cabs(lg[r * LD + i] - (-2.0 / LB) * tp * lt[r * LD + i]));
  }
  CHECK_NEAR(L, want, 1e-14, "infidelity over 130 rows of 131");
  CHECK(gworst < 1e-15, "its co-gradient -2/B <t|p> t (worst %g)", gworst);
  free(lp), free(lt), free(lg);

  double a[2] = {1, 3}, b[2] = {0, 1}, gm[2];
  qdm_mse_loss(&L, gm, a, b, 2);
  CHECK(L == 2.5 && gm[0] == 1 && gm[1] == 2, "mse (1+4)/2 and grad (2*1/2, 2*2/2)");
  randv(c.a, FB * FD, -1, 1); randv(c.b, FB * FD, -1, 1);
  double gg[FB * FD];
  qdm_mse_loss(&L, gg, c.a, c.b, FB * FD);
  fd(mse_l, &c, c.a, FB * FD, num);
  check_grad("mse gradient", gg, num, FB * FD);
}

/* ---------------- Adam, LR decay, init ---------------- */
static void test_adam(void) {
  /* one step, hand-computed: m = (1-b1) g, v = (1-b2) g^2, so mhat = g,
   * vhat = g^2 and p1 = p0 - lr * g / (|g| + eps). */
  double p[3] = {1.0, -2.0, 0.5}, g[3] = {0.5, 0.25, -4.0};
  double q[1] = {1.0}, gq[1] = {0.5};
  qdm_adam opt;
  CHECK(qdm_adam_init(&opt, 0.9, 0.999, 1e-8, 0) == QDM_OK, "adam init");
  qdm_adam_add_group(&opt, "a", p, g, 3, 1.0, 0.0);
  qdm_adam_add_group(&opt, "b", q, gq, 1, 2.0, 0.1);   /* lr x2, L2 decay 0.1 */
  CHECK(opt.n == 4 && opt.groups[1].off == 3, "group layout");
  qdm_adam_step(&opt, 0.1);
  CHECK_NEAR(p[0], 1.0 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-15, "adam step 1, p0");
  CHECK_NEAR(p[1], -2.0 - 0.1 * 0.25 / (0.25 + 1e-8), 1e-15, "adam step 1, p1");
  CHECK_NEAR(p[2], 0.5 + 0.1 * 4.0 / (4.0 + 1e-8), 1e-15, "adam step 1, p2");
  /* L2: g' = 0.5 + 0.1 * 1 = 0.6, group lr = 0.2 */
  CHECK_NEAR(q[0], 1.0 - 0.2 * 0.6 / (0.6 + 1e-8), 1e-15, "adam L2 step 1");

  /* step 2, textbook Algorithm 1 in scalars */
  double g2 = -0.25;
  g[0] = g2;
  qdm_adam_step(&opt, 0.1);
  double m = 0.9 * (0.1 * 0.5) + 0.1 * g2, v = 0.999 * (0.001 * 0.25) + 0.001 * g2 * g2;
  double mh = m / (1 - 0.9 * 0.9), vh = v / (1 - 0.999 * 0.999);
  double p0 = 1.0 - 0.1 * 0.5 / (0.5 + 1e-8);
  CHECK_NEAR(p[0], p0 - 0.1 * mh / (sqrt(vh) + 1e-8), 1e-14, "adam step 2 (bias correction)");

  /* restoring the saved state reproduces the trajectory */
  double p2[3], g2a[3], q2[1], gq2[1];
  memcpy(p2, p, sizeof p); memcpy(g2a, g, sizeof g); memcpy(q2, q, sizeof q); memcpy(gq2, gq, sizeof gq);
  qdm_adam o2;
  qdm_adam_init(&o2, 0.9, 0.999, 1e-8, 0);
  qdm_adam_add_group(&o2, "a", p2, g2a, 3, 1.0, 0.0);
  qdm_adam_add_group(&o2, "b", q2, gq2, 1, 2.0, 0.1);
  CHECK(qdm_adam_set_state(&o2, opt.t, opt.m, opt.v, opt.n) == QDM_OK, "set state");
  qdm_adam_step(&opt, 0.05);
  qdm_adam_step(&o2, 0.05);
  CHECK(memcmp(p, p2, sizeof p) == 0 && q[0] == q2[0], "restored optimiser continues identically");
  CHECK(qdm_adam_set_state(&o2, 1, opt.m, opt.v, 3) == QDM_EINVAL, "wrong state size rejected");
  qdm_adam_zero_grad(&o2);
  CHECK(g2a[0] == 0 && g2a[2] == 0 && gq2[0] == 0, "zero_grad");
  CHECK(qdm_adam_step(&o2, NAN) == QDM_EINVAL, "NaN lr rejected");
  qdm_adam_free(&opt);
  qdm_adam_free(&o2);

  /* AdamW: p <- p (1 - lr wd) first, then the Adam step without decay */
  double w[1] = {1.0}, gw[1] = {0.5};
  qdm_adam_init(&opt, 0.9, 0.999, 1e-8, 1);
  qdm_adam_add_group(&opt, NULL, w, gw, 1, 1.0, 0.1);
  qdm_adam_step(&opt, 0.1);
  CHECK_NEAR(w[0], 0.99 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-15, "adamw step 1");
  qdm_adam_free(&opt);

  CHECK_NEAR(qdm_lr_step_decay(1e-3, 0.97, 10, 0), 1e-3, 1e-15, "lr epoch 0");
  CHECK_NEAR(qdm_lr_step_decay(1e-3, 0.97, 10, 9), 1e-3, 1e-15, "lr epoch 9");
  CHECK_NEAR(qdm_lr_step_decay(1e-3, 0.97, 10, 10), 0.97e-3, 1e-15, "lr epoch 10");
  CHECK_NEAR(qdm_lr_step_decay(1e-3, 0.97, 10, 25), 0.9409e-3, 1e-15, "lr epoch 25");
  CHECK(isnan(qdm_lr_step_decay(1e-3, 0.97, 0, 5)), "lr step_size 0 rejected");
}

/* ---------------- the float variants against the double layers ---------------- */
/* The float layers on float inputs against the double layers on the same
 * values (widened exactly): equal to float rounding, |d| <= tol * scale. */
static void close_f32(const char *what, const float *f, const double *d, size_t n, double tol) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < n; i++) {
    err = fmax(err, fabs(f[i] - d[i]));
    scale = fmax(scale, fabs(d[i]));
  }
  CHECK(scale > 0 && err <= tol * scale, "%s: f32 vs f64 max diff %.3g, scale %.3g", what, err, scale);
}
/* n random values in [-1, 1], rounded to float, in both precisions */
static void rand_pair(float *f, double *d, size_t n) {
  for (size_t i = 0; i < n; i++) d[i] = f[i] = (float)(2 * qdm_rng_uniform(&rng) - 1);
}
static void test_float_layers(void) {
  enum { B = 9, IN = 70, OUT = 33, C = 16 };
  static float xf[B * IN], Wf[OUT * IN], bf[OUT], yf[B * OUT], dyf[B * OUT], dxf[B * IN], dWf[OUT * IN], dbf[OUT];
  static double xd[B * IN], Wd[OUT * IN], bd[OUT], yd[B * OUT], dyd[B * OUT], dxd[B * IN], dWd[OUT * IN], dbd[OUT];
  rand_pair(xf, xd, B * IN); rand_pair(Wf, Wd, OUT * IN); rand_pair(bf, bd, OUT); rand_pair(dyf, dyd, B * OUT);
  rand_pair(dWf, dWd, OUT * IN); rand_pair(dbf, dbd, OUT); /* accumulated onto */
  CHECK(qdm_linear_forward_f32(yf, xf, Wf, bf, B, IN, OUT) == QDM_OK, "linear f32 forward");
  qdm_linear_forward(yd, xd, Wd, bd, B, IN, OUT);
  close_f32("linear forward", yf, yd, B * OUT, 1e-5);
  CHECK(qdm_linear_backward_f32(dxf, dWf, dbf, dyf, xf, Wf, B, IN, OUT) == QDM_OK, "linear f32 backward");
  qdm_linear_backward(dxd, dWd, dbd, dyd, xd, Wd, B, IN, OUT);
  close_f32("linear dx", dxf, dxd, B * IN, 1e-5);
  close_f32("linear dW", dWf, dWd, OUT * IN, 1e-5);
  close_f32("linear db", dbf, dbd, OUT, 1e-5);
  float dxhf[B * 5];
  CHECK(qdm_linear_backward_head_f32(dxhf, 5, dyf, Wf, B, IN, OUT) == QDM_OK, "linear f32 backward head");
  double eh = 0;
  for (int r = 0; r < B; r++)
    for (int i = 0; i < 5; i++) eh = fmax(eh, fabs(dxhf[r * 5 + i] - dxd[r * IN + i]));
  CHECK(eh < 1e-5, "linear f32 dx head vs the double dx's first columns: err %g", eh);
  CHECK(qdm_linear_forward_f32(yf, xf, Wf, bf, 0, IN, OUT) == QDM_EINVAL && strstr(qdm_errmsg(), "_f32: B"),
        "f32 linear names itself: %s", qdm_errmsg());

  float gf[C], btf[C], mf[B], sf[B], lnf[B * C], dlf[B * C], dgf[C] = {0}, dbtf[C] = {0};
  double gd[C], btd[C], md[B], sd[B], lnd[B * C], dld[B * C], dgd[C] = {0}, dbtd[C] = {0};
  rand_pair(gf, gd, C); rand_pair(btf, btd, C);
  qdm_layernorm_forward_f32(lnf, mf, sf, xf, gf, btf, B, C);
  qdm_layernorm_forward(lnd, md, sd, xd, gd, btd, B, C);
  close_f32("layernorm forward", lnf, lnd, B * C, 1e-5);
  qdm_layernorm_backward_f32(dlf, dgf, dbtf, dyf, xf, gf, mf, sf, B, C);
  qdm_layernorm_backward(dld, dgd, dbtd, dyd, xd, gd, md, sd, B, C);
  close_f32("layernorm dx", dlf, dld, B * C, 1e-5);
  close_f32("layernorm dgamma", dgf, dgd, C, 1e-5);
  close_f32("layernorm dbeta", dbtf, dbtd, C, 1e-5);

  float nf[B], rf[B * IN];
  double nd[B], rd[B * IN];
  qdm_l2norm_forward_f32(rf, nf, xf, B, IN);
  qdm_l2norm_forward(rd, nd, xd, B, IN);
  close_f32("l2norm forward", rf, rd, B * IN, 1e-6);
  qdm_l2norm_backward_f32(dxf, dxf, rf, nf, B, IN); /* in place, on the gradient left by linear */
  qdm_l2norm_backward(dxd, dxd, rd, nd, B, IN);
  close_f32("l2norm backward", dxf, dxd, B * IN, 1e-5);
  qdm_relu_forward_f32(rf, xf, B * IN);
  qdm_relu_forward(rd, xd, B * IN);
  close_f32("relu forward", rf, rd, B * IN, 0);
  qdm_relu_backward_f32(rf, xf, xf, B * IN);
  qdm_relu_backward(rd, xd, xd, B * IN);
  close_f32("relu backward", rf, rd, B * IN, 0);

  /* [Re, Im] rows: complex -> float rounds, float -> complex is exact */
  qdm_cplx z[B * 4], zb[B * 4];
  for (int i = 0; i < B * 4; i++) z[i] = CMPLX(qdm_rng_normal(&rng), qdm_rng_normal(&rng));
  float ri[B * 8];
  qdm_cplx_to_reim_f32(ri, z, B, 4);
  qdm_reim_to_cplx_f32(zb, ri, B, 4);
  int ok = 1;
  for (int i = 0; i < B * 4; i++)
    ok &= creal(zb[i]) == (float)creal(z[i]) && cimag(zb[i]) == (float)cimag(z[i]) && ri[(i / 4) * 8 + i % 4] == (float)creal(z[i]);
  CHECK(ok, "f32 [Re, Im] rows round each part once and come back exactly");
  float cc[B * 3];
  qdm_concat_forward_f32(cc, bf, bf + 1, B / 3, 2, 1);
  CHECK(cc[0] == bf[0] && cc[2] == bf[1] && cc[3] == bf[2], "f32 concat");
}

/* An optimiser of a double group (lr x1) and a float one (lr x0.5), decay wd. */
static void adam_two_groups(qdm_adam *o, double *p, double *g, size_t nd, float *q, float *h, size_t nf, double wd) {
  qdm_adam_init(o, 0.9, 0.999, 1e-8, 0);
  qdm_adam_add_group(o, "d", p, g, nd, 1.0, wd);
  qdm_adam_add_group_f32(o, "f", q, h, nf, 0.5, wd);
}

/* Float groups next to double ones: the float update follows the same
 * formula (equal to float rounding), and a step splits the flat range over
 * threads without changing a bit. */
static void test_adam_f32(void) {
  enum { N = 5 };
  float pf[N], gf[N];
  double pd[N], gd[N];
  rand_pair(pf, pd, N);
  qdm_adam a32, a64;
  qdm_adam_init(&a32, 0.9, 0.999, 1e-8, 0);
  qdm_adam_init(&a64, 0.9, 0.999, 1e-8, 0);
  CHECK(qdm_adam_add_group_f32(&a32, "f", pf, gf, N, 1.0, 0.01) == QDM_OK && a32.nf == N && a32.n == 0,
        "float group: its moments in mf, vf");
  qdm_adam_add_group(&a64, "d", pd, gd, N, 1.0, 0.01);
  for (int s = 0; s < 3; s++) {
    rand_pair(gf, gd, N);
    qdm_adam_step(&a32, 0.05);
    qdm_adam_step(&a64, 0.05);
  }
  close_f32("adam f32 parameters after 3 steps", pf, pd, N, 1e-6);
  close_f32("adam f32 second moments", a32.vf, a64.v, N, 1e-5);
  qdm_adam_zero_grad(&a32);
  CHECK(gf[0] == 0 && gf[N - 1] == 0, "zero_grad of a float group");
  qdm_adam_free(&a32);
  qdm_adam_free(&a64);

  /* one double and one float group, 3 x 2^15 values, with 1 and 2 threads */
  enum { ND = 40001, NF = 58303 };
  static double p1[ND], p2[ND], g[ND];
  static float q1[NF], q2[NF], h[NF];
  for (int i = 0; i < ND; i++) { p1[i] = p2[i] = qdm_rng_normal(&rng); g[i] = qdm_rng_normal(&rng); }
  for (int i = 0; i < NF; i++) { q1[i] = q2[i] = (float)qdm_rng_normal(&rng); h[i] = (float)qdm_rng_normal(&rng); }
  qdm_adam o1, o2;
  adam_two_groups(&o1, p1, g, ND, q1, h, NF, 0.0);
  adam_two_groups(&o2, p2, g, ND, q2, h, NF, 0.0);
  double p0 = p1[ND - 1];
  float q0 = q1[0];
  qdm_set_threads(1);
  qdm_adam_step(&o1, 0.01);
  qdm_adam_step(&o1, 0.01);
  qdm_set_threads(2);
  qdm_adam_step(&o2, 0.01);
  qdm_adam_step(&o2, 0.01);
  CHECK(!memcmp(p1, p2, sizeof p1) && !memcmp(q1, q2, sizeof q1) && !memcmp(o1.vf, o2.vf, NF * sizeof(float)),
        "Adam on 1 and 2 threads: bitwise equal");
  CHECK(p1[ND - 1] != p0 && q1[0] != q0, "(and the parameters moved)");
  qdm_adam_free(&o1);
  qdm_adam_free(&o2);
}

/* qdm_adam_step_clear takes the same step as qdm_adam_step, leaves the
 * gradients zero, and finds one NaN or Inf anywhere: in a double or a float
 * group, on any thread's slice, including the last element. */
static void test_adam_clear(void) {
  enum { ND = 3001, NF = 70003 };
  static double p1[ND], p2[ND], g1[ND], g2[ND];
  static float q1[NF], q2[NF], h1[NF], h2[NF];
  for (int i = 0; i < ND; i++) p1[i] = p2[i] = qdm_rng_normal(&rng), g1[i] = g2[i] = qdm_rng_normal(&rng);
  for (int i = 0; i < NF; i++) q1[i] = q2[i] = (float)qdm_rng_normal(&rng), h1[i] = h2[i] = (float)qdm_rng_normal(&rng);
  qdm_adam o1, o2;
  adam_two_groups(&o1, p1, g1, ND, q1, h1, NF, 0.01);
  adam_two_groups(&o2, p2, g2, ND, q2, h2, NF, 0.01);
  int finite = -1, zero = 1;
  qdm_set_threads(2);
  qdm_adam_step(&o1, 0.01);
  CHECK(qdm_adam_step_clear(&o2, 0.01, &finite) == QDM_OK && finite == 1, "step_clear: finite gradients say so");
  CHECK(!memcmp(p1, p2, sizeof p1) && !memcmp(q1, q2, sizeof q1) && !memcmp(o1.vf, o2.vf, NF * sizeof(float)) &&
            !memcmp(o1.m, o2.m, ND * sizeof(double)),
        "step_clear: the same step as qdm_adam_step, bit for bit");
  for (int i = 0; i < ND; i++) zero &= g2[i] == 0;
  for (int i = 0; i < NF; i++) zero &= h2[i] == 0;
  CHECK(zero && h1[NF - 1] != 0, "step_clear: the gradients are zero after it (qdm_adam_step's are not)");
  CHECK(qdm_adam_step_clear(&o2, 0.01, NULL) == QDM_EINVAL, "step_clear: NULL finite rejected");
  const size_t at[] = {0, ND - 1, ND, ND + NF / 2, ND + NF - 1}; /* flat positions over both groups */
  for (int t = 1; t <= 2; t++)
    for (size_t j = 0; j < sizeof at / sizeof *at; j++)
      for (int kind = 0; kind < 3; kind++) {
        double bad = kind == 0 ? NAN : kind == 1 ? INFINITY : -INFINITY;
        qdm_set_threads(t);
        if (at[j] < ND) g2[at[j]] = bad;
        else h2[at[j] - ND] = (float)bad;
        finite = -1;
        qdm_adam_step_clear(&o2, 0.01, &finite);
        CHECK(finite == 0, "step_clear on %d thread(s) finds %g at flat position %zu", t, bad, at[j]);
        finite = -1;
        qdm_adam_step_clear(&o2, 0.0, &finite); /* its gradients are zero again */
        CHECK(finite == 1, "step_clear after it: the bad value was cleared (position %zu)", at[j]);
      }
  qdm_adam_free(&o1);
  qdm_adam_free(&o2);
}

static void test_init(void) {
  enum { IN = 400, OUT = 50 };
  static double W[IN * OUT], b[OUT];
  CHECK(qdm_init_linear(W, b, IN, OUT, &rng) == QDM_OK, "init linear");
  double bound = 1.0 / 20.0, mx = 0, s = 0, s2 = 0;
  for (int i = 0; i < IN * OUT; i++) {
    mx = fmax(mx, fabs(W[i]));
    s += W[i];
    s2 += W[i] * W[i];
  }
  int inb = 1;
  for (int i = 0; i < OUT; i++) inb &= fabs(b[i]) <= bound;
  CHECK(mx <= bound && mx > 0.99 * bound && inb, "U(-1/sqrt(in), 1/sqrt(in)): max %g", mx);
  double n = IN * OUT, mean = s / n, var = s2 / n - mean * mean;
  /* var of U(-a, a) = a^2/3; the sample variance's relative sd is ~ 0.9/sqrt(n) */
  CHECK(fabs(mean) < 5 * bound / sqrt(3 * n), "init mean %g", mean);
  CHECK(fabs(var / (bound * bound / 3) - 1) < 5 * 0.9 / sqrt(n), "init variance %g", var);
  double gm[3], bt[3];
  qdm_init_layernorm(gm, bt, 3);
  CHECK(gm[2] == 1 && bt[2] == 0, "layernorm init");
}

int main(void) {
  qdm_rng_seed(&rng, 12345);
  test_linear();
  test_layernorm();
  test_activations();
  test_l2norm();
  test_reshape();
  test_reim_l2norm();
  test_losses();
  test_adam();
  test_float_layers();
  test_adam_f32();
  test_adam_clear();
  test_init();
  return check_done();
}
