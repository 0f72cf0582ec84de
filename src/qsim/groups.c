/* groups.c -- one circuit with a parameter vector per group of rows: the
 * report's circuit table indexed by (t, label) (section 6.4), for callers
 * that hold the whole batch at once (the Python layer). Rows are gathered by
 * group (a stable counting sort) and each group's results are scattered
 * back. Three ways to run a group, chosen by its size:
 *  - a large group takes the fused path: its unitary once, one zgemm for its
 *    rows, and in the adjoint one dL/dU before a single sweep (fused.c);
 *  - small groups share packed tiles: GT rows of several groups in the
 *    engine's split re/im tile layout, fixed gates with their precompiled
 *    matrix on every lane, trainable gates with a matrix per lane (the
 *    lane's group's). The report's table has ~3 rows per group, so a tile
 *    per group would leave most lanes idle; packing cuts the passes over
 *    the gates by the mean group size;
 *  - a group of two tiles or more, and every group of a circuit the packed
 *    kernels do not cover (multi-qubit gates, multi-angle trainable ones),
 *    runs gate by gate on its own tiles (run.c).
 * Groups (and tiles) are independent, so threads take whole ones. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sim.h"

/* The fused path builds dim columns of U: worth it once a group has more
 * rows than a tile of the gate path and at least half as many as dim (the
 * same rule the model's bottleneck uses); U costs 16 dim^2 bytes, so only
 * for registers of up to 8 qubits. */
static int fused_worth(int n, int nr) { return n <= 8 && nr > 8 && nr >= (1 << n) / 2; }

#define GT 8 /* rows per packed tile: one 512-bit vector of doubles per amplitude */

/* A group runs on its own when fused, or when it fills its own tiles
 * (the engine's shared-matrix tiles beat packed ones then); smaller groups
 * are packed. */
static int on_its_own(int n, int nr) { return fused_worth(n, nr) || nr >= 2 * GT; }

typedef struct {
  int *start, *count;  /* group g's rows are perm[start[g] .. start[g] + count[g] - 1] */
  int *perm, *lane_g;  /* row of the batch at each position, and its group */
  int nbig;            /* positions [0, nbig): groups that run on their own; [nbig, rows): the small ones */
  qdm_cplx *P, *L, *X; /* rows x dim each: states, co-gradients, scratch (in plan order) */
  qdm_cplx *UdU;       /* per thread: U and dU, dim x dim each */
  int nth;             /* threads */
  void *mem;
} plan;

static int check(const char *who, const qdm_circuit *c, const double *theta, int ldtheta, int G,
                 const int *group, const qdm_cplx *psi, int rows) {
  if (!c) return qdm_fail(QDM_EINVAL, "%s: circuit is NULL", who);
  if (c->ninputs) return qdm_fail(QDM_EINVAL, "%s: circuit reads per-row inputs; groups share one parameter vector and no inputs", who);
  if (G < 1) return qdm_fail(QDM_EINVAL, "%s: G = %d groups, expected >= 1", who, G);
  if (ldtheta < c->nparams)
    return qdm_fail(QDM_EINVAL, "%s: ldtheta = %d, expected >= the circuit's %d parameters", who, ldtheta, c->nparams);
  if (rows < 0) return qdm_fail(QDM_EINVAL, "%s: rows = %d, expected >= 0", who, rows);
  if (rows > 0 && (!psi || !group)) return qdm_fail(QDM_EINVAL, "%s: psi or group is NULL", who);
  if (c->nparams > 0 && !theta) return qdm_fail(QDM_EINVAL, "%s: theta is NULL", who);
  for (int r = 0; r < rows; r++)
    if (group[r] < 0 || group[r] >= G)
      return qdm_fail(QDM_EINVAL, "%s: row %d has group %d, expected 0..%d", who, r, group[r], G - 1);
  return QDM_OK;
}

/* One allocation: the order and (nbuf of) P, L, X, plus U and dU per
 * thread. Positions: first the groups that run on their own (fused), then
 * the small ones (to be packed), each in group order and, within a group,
 * in batch order (a stable counting sort: deterministic). */
static int plan_make(plan *p, const qdm_circuit *c, int G, const int *group, int rows, int nbuf, const char *who) {
  size_t dim = (size_t)1 << c->n, nd = (size_t)rows * dim;
  p->nth = qdm_threads();
  size_t nu = c->n <= 8 ? (size_t)p->nth * 2 * dim * dim : 0;
  size_t ints = 3 * (size_t)G + 2 * (size_t)rows, icx = (ints * sizeof(int) + sizeof(qdm_cplx) - 1) / sizeof(qdm_cplx);
  qdm_cplx *m = malloc((icx + nbuf * nd + nu) * sizeof *m);
  if (!m) return qdm_fail(QDM_ENOMEM, "%s: out of memory for %d rows", who, rows);
  p->mem = m;
  p->start = (int *)m;
  p->count = p->start + G;
  p->perm = p->count + G;
  p->lane_g = p->perm + rows;
  int *fill = p->lane_g + rows;
  p->P = m + icx;
  p->L = nbuf > 2 ? p->P + nd : NULL;
  p->X = p->P + (nbuf - 1) * nd;
  p->UdU = nu ? p->P + nbuf * nd : NULL;
  memset(p->count, 0, G * sizeof(int));
  for (int r = 0; r < rows; r++) p->count[group[r]]++;
  int off = 0;
  for (int pass = 0; pass < 2; pass++) {
    for (int g = 0; g < G; g++)
      if (on_its_own(c->n, p->count[g]) == !pass) {
        p->start[g] = off;
        off += p->count[g];
      }
    if (pass == 0) p->nbig = off;
  }
  memcpy(fill, p->start, G * sizeof(int));
  for (int r = 0; r < rows; r++) {
    int i = fill[group[r]]++;
    p->perm[i] = r;
    p->lane_g[i] = group[r];
  }
  return QDM_OK;
}

static void gather(const plan *p, const qdm_cplx *src, qdm_cplx *dst, int rows, size_t dim) {
  for (int i = 0; i < rows; i++) memcpy(dst + i * dim, src + (size_t)p->perm[i] * dim, dim * sizeof *dst);
}
static void scatter(const plan *p, const qdm_cplx *src, qdm_cplx *dst, int rows, size_t dim) {
  for (int i = 0; i < rows; i++) memcpy(dst + (size_t)p->perm[i] * dim, src + i * dim, dim * sizeof *dst);
}

/* Group g's rows r0..r0+nr-1 (plan order): P = U P. */
static int group_run(const qdm_circuit *c, const double *th, const plan *p, int r0, int nr) {
  size_t dim = (size_t)1 << c->n, off = (size_t)r0 * dim;
  if (!fused_worth(c->n, nr)) return qdm_run(c, th, NULL, 0, p->P + off, nr);
  qdm_cplx *U = p->UdU + (size_t)omp_get_thread_num() * 2 * dim * dim;
  int err = qdm_unitary(c, th, U);
  if (!err) err = qdm_apply_unitary((int)dim, U, p->P + off, p->X + off, nr);
  if (!err) memcpy(p->P + off, p->X + off, nr * dim * sizeof *p->X);
  return err;
}

/* The adjoint of group_run: in, P = outputs, L = dL/dout; out, P = inputs,
 * L = dL/din, dth += dL/dtheta. The fused path recovers the inputs as
 * U^dagger out (as the gate path does gate by gate), then reduces the rows
 * to dU = sum_r L_r in_r^dagger for one sweep through the gates. */
static int group_adjoint(const qdm_circuit *c, const double *th, const plan *p, int r0, int nr, double *dth) {
  size_t dim = (size_t)1 << c->n, off = (size_t)r0 * dim;
  qdm_cplx *P = p->P + off, *L = p->L + off, *X = p->X + off;
  if (!fused_worth(c->n, nr)) return qdm_run_adjoint(c, th, NULL, 0, P, L, nr, dth, NULL);
  qdm_cplx *U = p->UdU + (size_t)omp_get_thread_num() * 2 * dim * dim, *dU = U + dim * dim;
  int err = qdm_unitary(c, th, U);
  if (!err) err = qdm_apply_unitary_backward((int)dim, U, P, P, X, NULL, nr); /* X = inputs */
  memset(dU, 0, dim * dim * sizeof *dU);
  if (!err) err = qdm_apply_unitary_backward((int)dim, U, X, L, P, dU, nr);  /* P = dL/din */
  if (!err) err = qdm_unitary_backward(c, th, U, dU, dth);
  if (!err) {
    memcpy(L, P, nr * dim * sizeof *L);
    memcpy(P, X, nr * dim * sizeof *P);
  }
  return err;
}

/* ---------------- packed tiles ---------------- */

/* What the lane kernels handle: every gate on one target (controls
 * allowed), every trainable gate a rotation RX, RY, RZ or a phase P. */
static int packable(const qdm_circuit *c) {
  const sim_op *pre = c->pre;
  if (c->n > 10) return 0;
  for (int i = 0; i < c->ngates; i++) {
    int k = c->g[i].kind;
    if (c->g[i].nt != 1) return 0;
    if (!pre[2 * i].fixed && k != QDM_GRX && k != QDM_GRY && k != QDM_GRZ && k != QDM_GP) return 0;
  }
  return 1;
}

/* The kernels below work on whole tiles columns: one vector of GT lanes
 * (GCC vector extensions; one 512-bit register with AVX-512, two or four
 * narrower ones otherwise). */
typedef double v8 __attribute__((vector_size(GT * sizeof(double))));
/* Unaligned loads and stores; vectors go by pointer between functions (by
 * value their calling convention would depend on the instruction set). */
#define LD(v, p) memcpy(&(v), (p), sizeof(v8))
#define ST(p, e) do { v8 st_ = (e); memcpy((p), &st_, sizeof(v8)); } while (0)

/* A trainable gate on one lane is (c, s) = (cos, sin) of half its angle v
 * (of v itself for P), the matrices as in qdm_gate_matrix:
 *   RX = [[c, -is], [-is, c]], RY = [[c, -s], [s, c]], RZ = diag(c - is, c + is),
 *   P = diag(1, c + is).
 * Its dagger is the same form with -s, and for RX, RY, RZ dG/dv is half the
 * form at (c, s) -> (-s, c); for P it is diag(0, i(c + is)). */
static inline void rot_pair(int kind, double *x0, double *y0, double *x1, double *y1, const v8 *cp, const v8 *sp) {
  v8 c = *cp, s = *sp, p, u, q, t;
  LD(p, x0), LD(u, y0), LD(q, x1), LD(t, y1);
  switch (kind) {
  case QDM_GRX:
    ST(x0, c * p + s * t); ST(y0, c * u - s * q); ST(x1, c * q + s * u); ST(y1, c * t - s * p);
    break;
  case QDM_GRY:
    ST(x0, c * p - s * q); ST(y0, c * u - s * t); ST(x1, s * p + c * q); ST(y1, s * u + c * t);
    break;
  case QDM_GRZ:
    ST(x0, c * p + s * u); ST(y0, c * u - s * p); ST(x1, c * q - s * t); ST(y1, c * t + s * q);
    break;
  default: /* P */
    ST(x1, c * q - s * t); ST(y1, c * t + s * q);
  }
}

/* Re <lam| dG/dv |psi> on one pair of the gate, per lane. (c, s) are the
 * forward's: the form is taken at (a, b) = (-s, c) and halved. */
static inline void rot_dot(int kind, const double *l0x, const double *l0y, const double *l1x, const double *l1y,
                           const double *p0x, const double *p0y, const double *p1x, const double *p1y, const v8 *cp,
                           const v8 *sp, v8 *acc) {
  v8 a = -*sp, b = *cp, px, py, qx, qy, lx0, ly0, lx1, ly1, ux, uy, vx, vy;
  LD(px, p0x), LD(py, p0y), LD(qx, p1x), LD(qy, p1y), LD(lx0, l0x), LD(ly0, l0y), LD(lx1, l1x), LD(ly1, l1y);
  switch (kind) {
  case QDM_GRX:
    ux = a * px + b * qy, uy = a * py - b * qx, vx = a * qx + b * py, vy = a * qy - b * px;
    break;
  case QDM_GRY:
    ux = a * px - b * qx, uy = a * py - b * qy, vx = b * px + a * qx, vy = b * py + a * qy;
    break;
  case QDM_GRZ:
    ux = a * px + b * py, uy = a * py - b * px, vx = a * qx - b * qy, vy = a * qy + b * qx;
    break;
  default: /* P: diag(0, i(c + is)) = diag(0, -s + ic), not halved: doubled here */
    ux = uy = a - a;
    vx = 2 * (a * qx - b * qy), vy = 2 * (a * qy + b * qx);
  }
  *acc += 0.5 * (lx0 * ux + ly0 * uy + lx1 * vx + ly1 * vy);
}

/* The same matrix M on every lane (a fixed gate), by the engine's classes. */
static inline void shared_pair(double *x0, double *y0, double *x1, double *y1, const qdm_cplx *M, int cls) {
  const double ar = creal(M[0]), ai = cimag(M[0]), br = creal(M[1]), bi = cimag(M[1]);
  const double cr = creal(M[2]), ci = cimag(M[2]), dr = creal(M[3]), di = cimag(M[3]);
  v8 p, u, q, t;
  LD(p, x0), LD(u, y0), LD(q, x1), LD(t, y1);
  switch (cls) {
  case OP_SWAP:
    ST(x0, q); ST(y0, t); ST(x1, p); ST(y1, u);
    break;
  case OP_DIAG:
    ST(x0, ar * p - ai * u); ST(y0, ar * u + ai * p); ST(x1, dr * q - di * t); ST(y1, dr * t + di * q);
    break;
  case OP_REAL:
    ST(x0, ar * p + br * q); ST(y0, ar * u + br * t); ST(x1, cr * p + dr * q); ST(y1, cr * u + dr * t);
    break;
  default:
    ST(x0, ar * p - ai * u + br * q - bi * t); ST(y0, ar * u + ai * p + br * t + bi * q);
    ST(x1, cr * p - ci * u + dr * q - di * t); ST(y1, cr * u + ci * p + dr * t + di * q);
  }
}

/* The op's pairs of amplitude rows (i0, i1 = i0 | target bit, controls set)
 * in a tile, as offsets into re/im. */
#define FOR_PAIRS(n, op, i0, i1, ...)                                             \
  do {                                                                            \
    size_t cnt_ = ((size_t)1 << (n)) >> (op)->npos, bit_ = (size_t)1 << (op)->t[0]; \
    for (size_t k_ = 0; k_ < cnt_; k_++) {                                        \
      size_t i0 = (insert0(k_, (op)->pos, (op)->npos) | (op)->cmask) * GT;        \
      size_t i1 = i0 + bit_ * GT;                                                 \
      __VA_ARGS__;                                                                \
    }                                                                             \
  } while (0)

static void tile_shared(double *re, double *im, int n, const sim_op *op) {
  FOR_PAIRS(n, op, i0, i1, shared_pair(re + i0, im + i0, re + i1, im + i1, op->m, op->cls));
}
static void tile_rot(double *re, double *im, int n, const sim_op *op, int kind, const v8 *c, const v8 *s) {
  FOR_PAIRS(n, op, i0, i1, rot_pair(kind, re + i0, im + i0, re + i1, im + i1, c, s));
}
static void tile_rot_dot(const double *lre, const double *lim, const double *re, const double *im, int n,
                         const sim_op *op, int kind, const v8 *c, const v8 *s, v8 *acc) {
  FOR_PAIRS(n, op, i0, i1,
            rot_dot(kind, lre + i0, lim + i0, lre + i1, lim + i1, re + i0, im + i0, re + i1, im + i1, c, s, acc));
}

static void tile_load(double *re, double *im, const qdm_cplx *psi, int dim, int rows) {
  for (int i = 0; i < dim; i++)
    for (int r = 0; r < GT; r++) {
      qdm_cplx z = r < rows ? psi[(size_t)r * dim + i] : 0;
      re[i * GT + r] = creal(z);
      im[i * GT + r] = cimag(z);
    }
}
static void tile_store(const double *re, const double *im, qdm_cplx *psi, int dim, int rows) {
  for (int r = 0; r < rows; r++)
    for (int i = 0; i < dim; i++) psi[(size_t)r * dim + i] = re[i * GT + r] + I * im[i * GT + r];
}

typedef struct {
  int np;      /* trainable gates */
  int *pidx;   /* gate -> index among the trainable gates, or -1 */
  double *CS;  /* group g, trainable gate j: (c, s) at CS + (g * np + j) * 2 */
} packing;

/* (c, s) of every trainable gate of every small group. */
static void packing_angles(const qdm_circuit *c, const double *theta, int ldtheta, const plan *p, packing *k, int G) {
  int par = qdm__parallel_worth((double)G * k->np * 16);
#pragma omp parallel for schedule(static) if (par) num_threads(p->nth)
  for (int g = 0; g < G; g++) {
    if (p->count[g] == 0 || p->start[g] < p->nbig) continue;
    double *cs = k->CS + (size_t)g * k->np * 2;
    for (int i = 0; i < c->ngates; i++) {
      if (k->pidx[i] < 0) continue;
      double v[3];
      qdm_gate_angles(&c->g[i], theta + (size_t)g * ldtheta, NULL, v);
      double h = c->g[i].kind == QDM_GP ? v[0] : 0.5 * v[0];
      cs[2 * k->pidx[i]] = cos(h);
      cs[2 * k->pidx[i] + 1] = sin(h);
    }
  }
}

/* Packed tile t (plan positions nbig + t GT ...): forward, or (adjoint)
 * the sweep back with dth (G x ldtheta) accumulating. */
static void packed_tile(const qdm_circuit *c, const plan *p, const packing *k, int rows, int t, int adjoint,
                        double *dth, int ldtheta, double *buf) {
  const sim_op *pre = c->pre;
  int n = c->n, dim = 1 << n, rb = p->nbig + t * GT, nr = rows - rb < GT ? rows - rb : GT;
  double *re = buf, *im = re + (size_t)dim * GT, *lre = im + (size_t)dim * GT, *lim = lre + (size_t)dim * GT;
  double cs_c[GT], cs_s[GT];
  const double *cs[GT];
  for (int r = 0; r < GT; r++) /* idle lanes (zero amplitudes) borrow the last row's group */
    cs[r] = k->CS + (size_t)p->lane_g[rb + (r < nr ? r : nr - 1)] * k->np * 2;
  tile_load(re, im, p->P + (size_t)rb * dim, dim, nr);
  if (adjoint) tile_load(lre, lim, p->L + (size_t)rb * dim, dim, nr);
  for (int step = 0; step < c->ngates; step++) {
    int i = adjoint ? c->ngates - 1 - step : step;
    const sim_op *op = &pre[2 * i];
    if (op->fixed) {
      tile_shared(re, im, n, op + adjoint);
      if (adjoint) tile_shared(lre, lim, n, op + 1);
      continue;
    }
    const qdm_gate *g = &c->g[i];
    int j = k->pidx[i];
    for (int r = 0; r < GT; r++) {
      cs_c[r] = cs[r][2 * j];
      cs_s[r] = cs[r][2 * j + 1];
    }
    v8 cv, sv, nsv;
    LD(cv, cs_c), LD(sv, cs_s);
    if (!adjoint) {
      tile_rot(re, im, n, op, g->kind, &cv, &sv);
      continue;
    }
    nsv = -sv;
    tile_rot(re, im, n, op, g->kind, &cv, &nsv); /* G^dagger: re/im now hold the gate's input */
    if (g->ang[0].a != 0) {
      v8 av = cv - cv;
      double acc[GT];
      tile_rot_dot(lre, lim, re, im, n, op, g->kind, &cv, &sv, &av);
      ST(acc, av);
      for (int r = 0; r < nr; r++) dth[(size_t)p->lane_g[rb + r] * ldtheta + g->ang[0].src] += g->ang[0].a * acc[r];
    }
    tile_rot(lre, lim, n, op, g->kind, &cv, &nsv);
  }
  tile_store(re, im, p->P + (size_t)rb * dim, dim, nr);
  if (adjoint) tile_store(lre, lim, p->L + (size_t)rb * dim, dim, nr);
}

/* The packed tiles of the small groups, threads over tiles; per-thread
 * gradient parts are added in thread order (deterministic for a given
 * thread count). */
static int run_packed(const qdm_circuit *c, const double *theta, int ldtheta, int G, const plan *p, int rows,
                      int adjoint, double *dtheta) {
  int ntile = (rows - p->nbig + GT - 1) / GT, dim = 1 << c->n;
  if (ntile == 0) return QDM_OK;
  packing k = {0, NULL, NULL};
  const sim_op *pre = c->pre;
  for (int i = 0; i < c->ngates; i++) k.np += !pre[2 * i].fixed;
  int par = ntile > 1 && qdm__parallel_worth((double)(rows - p->nbig) * dim * c->ngates);
  int nth = par ? p->nth : 1;
  size_t ld = adjoint ? (size_t)G * ldtheta : 0, nbuf = (size_t)4 * dim * GT;
  size_t bytes = (size_t)c->ngates * sizeof(int) + ((size_t)G * k.np * 2 + (size_t)nth * (ld + nbuf)) * sizeof(double);
  char *mem = malloc(bytes);
  if (!mem) return qdm_fail(QDM_ENOMEM, "qdm_run_groups: out of memory for the packed tiles");
  double *part = (double *)mem, *bufs = part + (size_t)nth * ld;
  k.CS = bufs + (size_t)nth * nbuf;
  k.pidx = (int *)(k.CS + (size_t)G * k.np * 2);
  for (int i = 0, j = 0; i < c->ngates; i++) k.pidx[i] = pre[2 * i].fixed ? -1 : j++;
  memset(part, 0, (size_t)nth * ld * sizeof *part);
  packing_angles(c, theta, ldtheta, p, &k, G);
#pragma omp parallel num_threads(nth) if (par)
  {
    int id = omp_get_thread_num(), t0, t1;
    qdm__thread_part(ntile, &t0, &t1);
    for (int t = t0; t < t1; t++)
      packed_tile(c, p, &k, rows, t, adjoint, part + (size_t)id * ld, ldtheta, bufs + (size_t)id * nbuf);
  }
  for (int t = 0; t < nth; t++)
    for (size_t j = 0; j < ld; j++) dtheta[j] += part[(size_t)t * ld + j];
  free(mem);
  return QDM_OK;
}

/* Runs every group: the ones of plan positions [0, nbig) and, unless the
 * circuit packs, the small ones too, each on its own, threads over groups
 * when the work is worth it; then the packed tiles. A failure inside a
 * worker thread (only out of memory) leaves its message in that thread; it
 * is carried over to the caller's. */
static int each_group(const qdm_circuit *c, const double *theta, int ldtheta, int G, const plan *p, int rows,
                      int adjoint, double *dtheta) {
  size_t dim = (size_t)1 << c->n;
  int err = QDM_OK, pack = packable(c);
  char msg[512] = "";
  int par = G > 1 && qdm__parallel_worth((double)(pack ? p->nbig : rows) * dim * (c->ngates + 1));
#pragma omp parallel for schedule(dynamic) if (par) num_threads(p->nth)
  for (int g = 0; g < G; g++) {
    int r0 = p->start[g], nr = p->count[g], e;
    if (nr == 0 || (pack && r0 >= p->nbig)) continue;
    const double *th = theta ? theta + (size_t)g * ldtheta : NULL;
    e = adjoint ? group_adjoint(c, th, p, r0, nr, dtheta + (size_t)g * ldtheta) : group_run(c, th, p, r0, nr);
    if (e) {
#pragma omp critical(qdm_groups_err)
      if (!err) {
        err = e;
        snprintf(msg, sizeof msg, "%s", qdm_errmsg());
      }
    }
  }
  if (err) return qdm_fail(err, "%s", msg);
  return pack ? run_packed(c, theta, ldtheta, G, p, rows, adjoint, dtheta) : QDM_OK;
}

int qdm_run_groups(const qdm_circuit *c, const double *theta, int ldtheta, int G, const int *group,
                   qdm_cplx *psi, int rows) {
  int err = check("qdm_run_groups", c, theta, ldtheta, G, group, psi, rows);
  if (err || rows == 0) return err;
  plan p;
  size_t dim = (size_t)1 << c->n;
  if ((err = plan_make(&p, c, G, group, rows, 2, "qdm_run_groups"))) return err;
  gather(&p, psi, p.P, rows, dim);
  err = each_group(c, theta, ldtheta, G, &p, rows, 0, NULL);
  if (!err) scatter(&p, p.P, psi, rows, dim);
  free(p.mem);
  return err;
}

int qdm_run_groups_adjoint(const qdm_circuit *c, const double *theta, int ldtheta, int G, const int *group,
                           qdm_cplx *psi, qdm_cplx *lam, int rows, double *dtheta) {
  int err = check("qdm_run_groups_adjoint", c, theta, ldtheta, G, group, psi, rows);
  if (err || rows == 0) return err;
  if (!lam) return qdm_fail(QDM_EINVAL, "qdm_run_groups_adjoint: lam (dL/dpsi_out) is NULL");
  if (!dtheta) return qdm_fail(QDM_EINVAL, "qdm_run_groups_adjoint: dtheta is NULL");
  plan p;
  size_t dim = (size_t)1 << c->n;
  if ((err = plan_make(&p, c, G, group, rows, 3, "qdm_run_groups_adjoint"))) return err;
  gather(&p, psi, p.P, rows, dim);
  gather(&p, lam, p.L, rows, dim);
  err = each_group(c, theta, ldtheta, G, &p, rows, 1, dtheta);
  if (!err) {
    scatter(&p, p.P, psi, rows, dim);
    scatter(&p, p.L, lam, rows, dim);
  }
  free(p.mem);
  return err;
}
