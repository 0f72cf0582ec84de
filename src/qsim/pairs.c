/* pairs.c -- a circuit of one- and two-qubit gates as a short program of
 * 4x4 matrices on qubit pairs (pairs.h), for the report's circuit table:
 * ~100 (t, label) groups of ~3 rows each, every group its own parameters.
 *
 * Compile (once per circuit structure). Gates are fused greedily: each
 * qubit belongs to at most one open pair step; a gate inside an open step
 * joins it, a gate across two steps closes them (they are emitted) and
 * opens a new one, one-qubit steps merge into the pair a two-qubit gate
 * makes. Consecutive fixed diagonal gates (a CZ chain) commute, so within
 * such a run those that join an open step go first. The Vatan-Williams
 * unit (qdm_vw_block, report section 4.3, Fig. 1) is recognised by its
 * eight gates and becomes one factor in closed form (below); runs of fixed
 * gates in a step are multiplied into one constant 4x4. For the authors'
 * layer (conv (0,1), (2,3); conv (1,2), (3,0); H all; CZ chain; RX all)
 * this gives two steps of two 4x4s per layer: H and CZ(1,2) join the
 * units on (1,2), (3,0); CZ(0,1), CZ(2,3) and the RX layer join the next
 * layer's units on (0,1), (2,3). 430 gates a block become 42 steps.
 *
 * The Vatan-Williams unit in closed form. With (a, b, c) its parameters,
 * N(a, b, c) = e^{-i pi/4} exp(-i(alpha XX + beta YY + gamma ZZ)),
 * (alpha, beta, gamma) = (-a, -b, c - pi/2) (include/qdm/circuits.h). XX,
 * YY, ZZ commute and are diagonal in the Bell basis with signs (+,-,+) on
 * Phi+, (-,+,+) on Phi-, (+,+,-) on Psi+, (-,-,-) on Psi-, so on the pair
 * {|00>, |11>} and on {|01>, |10>}:
 *   N = U [[cos(alpha - beta), -i sin(alpha - beta)], [same, swapped]],
 *       U = e^{-i pi/4} e^{-i gamma},
 *   N = V [[cos(alpha + beta), -i sin(alpha + beta)], ...],
 *       V = e^{-i pi/4} e^{+i gamma}.
 * In terms of the gate angles (RY(v1) q1, RY(v2) q1, RZ(v3) q0 of the
 * unit, v1 = pi/2 - 2a, v2 = 2b - pi/2, v3 = 2c - pi/2): alpha =
 * (v1 - pi/2) / 2, beta = -(v2 + pi/2) / 2, gamma = (v3 - pi/2) / 2, for
 * any angles, so the chain rule goes to the gate angles as for any gate.
 *
 * Build (per step, per group): the factors' sines and cosines and each
 * step's 4x4 M = F_k ... F_1, kept for the adjoint.
 *
 * Run: batches of 8 groups, one per 512-bit vector lane (each lane its own
 * group's matrices; for c64, 16 groups in float lanes, pairs_tiles.h), the
 * groups' rows in slots: slot s is row s of every lane's group, so a
 * lane's matrices are gathered once per step for all its rows. Groups are batched by decreasing size, so the lanes of a batch
 * have about as many rows and the vectors stay full whatever the sizes.
 *
 * Adjoint (Jones & Gacon, as run.c, one step at a time): undo the step on
 * psi, pull lam back, and sum over the step's 2^(n-2) sub-blocks and the
 * group's rows (within its lane) R' = lam_in psi_in^dagger = M^dagger R,
 * R = lam_out psi_in^dagger being dL/dM as Re tr(R^dagger dM). Then per
 * group and step, for factor j with M = A_j F_j B_j, dL/dv = Re
 * tr(S_j^dagger dF_j/dv) with S_j = A_j^dagger R B_j^dagger, by the
 * recurrence S_1 = F_1 R', S_{j+1} = F_{j+1} S_j F_j^dagger, 8 groups at
 * once. A batch is whole groups and its sums run in a fixed order, so the
 * gradients do not depend on the thread count. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "sim.h"
#include "pairs.h"

enum { F_CONST, F_ROT, F_VW };

typedef struct {
  uint8_t type, kind, bit; /* ROT: gate kind and local bit (0 = the pair's lower qubit) */
  int konst;               /* CONST: index of its 4x4 in konst */
  qdm_angle ang[3];        /* ROT: ang[0]; VW: v1, v2, v3 */
} pfac;

typedef struct {
  int8_t lo, hi; /* qubits, lo < hi: local index l = b_lo + 2 b_hi */
  int f0, nf;    /* factors f[f0 .. f0 + nf - 1], F_1 first */
  int lastp;     /* last factor with a trainable angle, or -1 */
} pop;

struct qdm__pairs {
  int n, nops, nfac, ngates;
  pop *op;
  pfac *f;
  qdm_cplx *konst;
  size_t gd;    /* doubles per group: nops 4x4 matrices, then 8 values per factor */
  size_t bytes; /* this plan's own allocations */
  int c64;      /* sweeps in complex64 lanes (pairs_tiles.h) */
};

#define GT 8
typedef double v8 __attribute__((vector_size(GT * sizeof(double))));
/* Vectors go by value between this file's static functions; GCC notes that
 * their calling convention depends on the instruction set (AVX-512 or
 * not), which matters only across files: none of them leaves this one. */
#pragma GCC diagnostic ignored "-Wpsabi"

/* ---------------- compile ---------------- */

enum { IT_FIXED, IT_ROT, IT_VW };
typedef struct { int type, gate, nq, diag, q[2]; } item;

static int is_1q(const qdm_gate *g, int kind, int q) { return g->kind == kind && g->nt == 1 && g->t[0] == q && !g->cmask; }
static int is_cx(const qdm_gate *g, int ctrl, int targ) {
  return g->kind == QDM_GX && g->nt == 1 && g->t[0] == targ && g->cmask == 1u << ctrl;
}
static int fixed_at(const qdm_gate *g, double v) { return g->ang[0].src == -1 && g->ang[0].b == v; }

/* the eight gates of qdm_vw_block(q0, q1) at gate i */
static int vw_at(const qdm_circuit *c, int i, int *q0, int *q1) {
  if (i + 8 > c->ngates) return 0;
  const qdm_gate *g = c->g + i;
  if (g[0].nt != 1 || g[1].nt != 1) return 0;
  int a = g[1].t[0], b = g[0].t[0];
  if (a == b || !is_1q(&g[0], QDM_GRZ, b) || !fixed_at(&g[0], M_PI / 2) || !is_cx(&g[1], b, a) ||
      !is_1q(&g[2], QDM_GRZ, a) || !is_1q(&g[3], QDM_GRY, b) || !is_cx(&g[4], a, b) || !is_1q(&g[5], QDM_GRY, b) ||
      !is_cx(&g[6], b, a) || !is_1q(&g[7], QDM_GRZ, a) || !fixed_at(&g[7], -M_PI / 2))
    return 0;
  *q0 = a, *q1 = b;
  return 1;
}

/* The circuit as items (fixed gates, rotations, VW units); 0 if not covered. */
static int items_of(const qdm_circuit *c, item *it, int *ni) {
  const sim_op *pre = c->pre;
  int k = 0;
  for (int i = 0; i < c->ngates; k++) {
    item *x = &it[k];
    int q0, q1;
    if (vw_at(c, i, &q0, &q1)) {
      *x = (item){IT_VW, i, 2, 0, {q0, q1}};
      i += 8;
      continue;
    }
    const qdm_gate *g = &c->g[i];
    uint32_t all = g->cmask;
    for (int t = 0; t < g->nt; t++) all |= 1u << g->t[t];
    int nq = __builtin_popcount(all);
    if (nq > 2) return 0;
    *x = (item){IT_FIXED, i, nq, 0, {__builtin_ctz(all), nq == 2 ? 31 - __builtin_clz(all) : -1}};
    if (pre[2 * i].fixed) {
      x->diag = pre[2 * i].cls == OP_DIAG;
    } else {
      if (g->nt != 1 || g->cmask) return 0;
      if (g->kind != QDM_GRX && g->kind != QDM_GRY && g->kind != QDM_GRZ && g->kind != QDM_GP) return 0;
      x->type = IT_ROT;
    }
    i++;
  }
  *ni = k;
  return 1;
}

typedef struct {
  int nop, nemit, seq;
  int owner[QDM_MAX_QUBITS];
  int *opof, *iseq, *eidx, (*opq)[2];
  int ni;
} fuser;

static void close_op(fuser *u, int o) {
  u->eidx[o] = u->nemit++;
  for (int j = 0; j < 2; j++)
    if (u->opq[o][j] >= 0 && u->owner[u->opq[o][j]] == o) u->owner[u->opq[o][j]] = -1;
}

static int joins(const fuser *u, const item *x) {
  int oa = u->owner[x->q[0]];
  return oa >= 0 && (x->nq == 1 || oa == u->owner[x->q[1]]);
}

static void place(fuser *u, const item *x, int k) {
  int a = x->q[0], b = x->nq == 2 ? x->q[1] : -1, o;
  if (joins(u, x)) {
    o = u->owner[a];
  } else if (b < 0) {
    o = u->nop++;
    u->opq[o][0] = a, u->opq[o][1] = -1, u->owner[a] = o;
  } else {
    for (int j = 0; j < 2; j++) { /* a pair step on one of them ends here */
      int oj = u->owner[x->q[j]];
      if (oj >= 0 && u->opq[oj][1] >= 0) close_op(u, oj);
    }
    int oa = u->owner[a], ob = u->owner[b];
    o = oa >= 0 ? oa : ob >= 0 ? ob : u->nop++;
    if (oa >= 0 && ob >= 0) /* two one-qubit steps become one pair step */
      for (int i = 0; i < u->ni; i++)
        if (u->opof[i] == ob) u->opof[i] = oa;
    if (ob >= 0 && oa >= 0) u->eidx[ob] = -2; /* merged away */
    u->opq[o][0] = a, u->opq[o][1] = b, u->owner[a] = u->owner[b] = o;
  }
  u->opof[k] = o;
  u->iseq[k] = u->seq++;
}

/* Greedy fusion of the items into steps: opof[k] and the steps' emission
 * order eidx (see the file comment). */
static void fuse(fuser *u, const item *it, int ni) {
  char *done = calloc(ni, 1);
  for (int q = 0; q < QDM_MAX_QUBITS; q++) u->owner[q] = -1;
  for (int i = 0; i < ni;) {
    int j = i + 1;
    if (it[i].diag)
      while (j < ni && it[j].diag) j++;
    for (int left = j - i; left > 0; left--) {
      int pick = -1, first = -1;
      for (int k = i; k < j; k++)
        if (!done[k]) {
          if (first < 0) first = k;
          if (joins(u, &it[k])) { pick = k; break; }
        }
      if (pick < 0) pick = first;
      place(u, &it[pick], pick);
      done[pick] = 1;
    }
    i = j;
  }
  for (int o = 0; o < u->nop; o++)
    if (u->eidx[o] == -1) close_op(u, o);
  free(done);
}

/* Gate op (fixed, on the pair's qubits lo < hi) as a 4x4 on l = b_lo + 2 b_hi. */
static void embed(const sim_op *op, int lo, qdm_cplx *E) {
  memset(E, 0, 16 * sizeof *E);
  int d = 1 << op->nt;
#define LB(q) ((q) == lo ? 0 : 1)
  for (int j = 0; j < 4; j++) {
    int on = 1;
    for (int q = 0; q < 32; q++)
      if (op->cmask >> q & 1) on &= j >> LB(q) & 1;
    if (!on) {
      E[j * 4 + j] = 1;
      continue;
    }
    int tin = 0;
    for (int k = 0; k < op->nt; k++) tin |= (j >> LB(op->t[k]) & 1) << k;
    for (int tout = 0; tout < d; tout++) {
      int l = j;
      for (int k = 0; k < op->nt; k++) l = (l & ~(1 << LB(op->t[k]))) | ((tout >> k & 1) << LB(op->t[k]));
      E[l * 4 + j] += op->m[tout * d + tin];
    }
  }
#undef LB
}

static void mul4(const qdm_cplx *A, const qdm_cplx *B, qdm_cplx *C) {
  qdm_cplx t[16];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) {
      qdm_cplx s = 0;
      for (int k = 0; k < 4; k++) s += A[i * 4 + k] * B[k * 4 + j];
      t[i * 4 + j] = s;
    }
  memcpy(C, t, sizeof t);
}

/* The steps' factors, in order, from the fused items. */
static int factors(qdm__pairs *p, const qdm_circuit *c, const item *it, int ni, const fuser *u) {
  int *order = malloc((size_t)ni * sizeof(int)), *step = malloc((size_t)u->nop * sizeof(int));
  p->op = calloc((size_t)u->nemit + 1, sizeof *p->op);
  p->f = calloc((size_t)ni + 1, sizeof *p->f);
  p->konst = malloc(((size_t)ni + 1) * 16 * sizeof *p->konst);
  if (!order || !step || !p->op || !p->f || !p->konst) {
    free(order), free(step);
    return 0;
  }
  for (int o = 0; o < u->nop; o++) step[o] = u->eidx[o];
  /* items sorted by (step, placement order): a counting pass per step */
  int nk = 0, nf = 0, nkon = 0;
  for (int s = 0; s < u->nemit; s++) {
    int o = -1;
    for (int q = 0; q < u->nop; q++)
      if (step[q] == s) o = q;
    pop *P = &p->op[s];
    int a = u->opq[o][0], b = u->opq[o][1];
    if (b < 0) b = a == 0 ? 1 : 0; /* a one-qubit step: any partner, identity on it */
    P->lo = (int8_t)(a < b ? a : b), P->hi = (int8_t)(a < b ? b : a), P->f0 = nf, P->lastp = -1;
    int m = 0;
    for (int k = 0; k < ni; k++)
      if (u->opof[k] == o) order[m++] = k;
    for (int x = 1; x < m; x++) /* by placement order (insertion sort: steps are short) */
      for (int y = x; y > 0 && u->iseq[order[y]] < u->iseq[order[y - 1]]; y--) {
        int t = order[y];
        order[y] = order[y - 1], order[y - 1] = t;
      }
    for (int x = 0; x < m; x++) {
      const item *itm = &it[order[x]];
      const qdm_gate *g = &c->g[itm->gate];
      if (itm->type == IT_FIXED) {
        qdm_cplx E[16];
        embed((const sim_op *)c->pre + 2 * itm->gate, P->lo, E);
        if (nf > P->f0 && p->f[nf - 1].type == F_CONST) { /* joins the constant before it */
          qdm_cplx *K = p->konst + 16 * p->f[nf - 1].konst;
          mul4(E, K, K);
          continue;
        }
        memcpy(p->konst + 16 * nkon, E, sizeof E);
        p->f[nf++] = (pfac){.type = F_CONST, .konst = nkon++};
      } else if (itm->type == IT_ROT) {
        p->f[nf] = (pfac){.type = F_ROT, .kind = g->kind, .bit = g->t[0] == P->lo ? 0 : 1, .ang = {g->ang[0]}};
        P->lastp = nf++ - P->f0;
      } else {
        p->f[nf] = (pfac){.type = F_VW, .ang = {g[3].ang[0], g[5].ang[0], g[2].ang[0]}};
        P->lastp = nf++ - P->f0;
      }
    }
    P->nf = nf - P->f0;
    nk++;
  }
  p->nops = nk, p->nfac = nf;
  qdm_cplx *k = realloc(p->konst, ((size_t)nkon + 1) * 16 * sizeof *k); /* shrinks */
  if (k) p->konst = k;
  p->bytes = sizeof *p + ((size_t)u->nemit + 1) * sizeof *p->op + ((size_t)ni + 1) * sizeof *p->f +
             ((size_t)nkon + 1) * 16 * sizeof *k;
  free(order), free(step);
  return 1;
}

qdm__pairs *qdm__pairs_new(const qdm_circuit *c, int c64) {
  if (!c || c->n < 2 || c->ninputs || c->n > 16) return NULL;
  int ng = c->ngates > 0 ? c->ngates : 1, ni = 0;
  item *it = malloc((size_t)ng * sizeof *it);
  fuser u = {0};
  u.opof = malloc((size_t)ng * sizeof(int));
  u.iseq = malloc((size_t)ng * sizeof(int));
  u.eidx = malloc((size_t)ng * sizeof(int));
  u.opq = malloc((size_t)ng * sizeof *u.opq);
  qdm__pairs *p = calloc(1, sizeof *p);
  int ok = it && u.opof && u.iseq && u.eidx && u.opq && p;
  if (ok && items_of(c, it, &ni)) {
    for (int k = 0; k < ng; k++) u.eidx[k] = -1;
    u.ni = ni;
    fuse(&u, it, ni);
    p->n = c->n, p->ngates = c->ngates, p->c64 = !!c64;
    ok = factors(p, c, it, ni, &u);
    p->gd = (size_t)p->nops * 32 + (size_t)p->nfac * 8;
  } else if (ok) {
    ok = -1; /* not covered */
  }
  free(it), free(u.opof), free(u.iseq), free(u.eidx), free(u.opq);
  if (ok != 1) {
    if (!ok) qdm_fail(QDM_ENOMEM, "qdm__pairs_new: out of memory");
    qdm__pairs_free(p);
    return NULL;
  }
  return p;
}

void qdm__pairs_free(qdm__pairs *p) {
  if (!p) return;
  free(p->op), free(p->f), free(p->konst), free(p);
}

int qdm__pairs_nops(const qdm__pairs *p, int *ngates) {
  if (ngates) *ngates = p->ngates;
  return p->nops;
}
size_t qdm__pairs_group_doubles(const qdm__pairs *p) { return p->gd; }
size_t qdm__pairs_bytes(const qdm__pairs *p) { return p ? p->bytes : 0; }

/* ---------------- factors as 4x4 matrices ---------------- */

/* The build and the gradients below take 8 groups at once, one per vector
 * lane (the groups share the program's structure; their values differ). */
typedef struct { v8 r, i; } vc;
static inline vc vmul(vc a, vc b) { return (vc){a.r * b.r - a.i * b.i, a.r * b.i + a.i * b.r}; }
static inline vc vmul_cj(vc a, vc b) { return (vc){a.r * b.r + a.i * b.i, a.i * b.r - a.r * b.i}; } /* a conj(b) */
static inline vc vadd(vc a, vc b) { return (vc){a.r + b.r, a.i + b.i}; }
static inline vc vscale(qdm_cplx z, vc a) { return (vc){creal(z) * a.r - cimag(z) * a.i, creal(z) * a.i + cimag(z) * a.r}; }
static inline vc vre(v8 x) { return (vc){x, x - x}; }

/* A ROT or VW factor mixes two pairs of local indices by 2x2 matrices. */
typedef struct { int a[2][2]; vc A[2][4]; } mix;

static double ang_val(const qdm_angle *a, const double *th) { return a->a * (a->src >= 0 ? th[a->src] : 0) + a->b; }

/* sin and cos of 8 angles: x = k pi/2 + r, |r| <= pi/4 (Cody-Waite: pi/2
 * in three parts, k pi/2 exact to 2^20), then fdlibm's kernel polynomials
 * on r (within an ulp or two of libm) and the quadrant k mod 4. Lanes past
 * |x| = 1e5 take libm's. */
typedef long long v8i __attribute__((vector_size(GT * sizeof(long long))));
static void vsincos(v8 x, v8 *sn, v8 *cs) {
  const double S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03, S3 = -1.98412698298579493134e-04,
               S4 = 2.75573137070700676789e-06, S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
  const double C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03, C3 = 2.48015872894767294178e-05,
               C4 = -2.75573143513906633035e-07, C5 = 2.08757232129817482790e-09, C6 = -1.13596475577881948265e-11;
  const double P1 = 1.57079632673412561417e+00, P2 = 6.07710050630396597660e-11, P3 = 2.02226624879595063154e-21;
  const double RND = 6755399441055744.0; /* 1.5 * 2^52: adding it rounds to an integer */
  v8 k = (x * M_2_PI + RND) - RND;
  v8 r = ((x - k * P1) - k * P2) - k * P3, z = r * r;
  v8 sr = r + r * z * (S1 + z * (S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)))));
  v8 cr = 1 - 0.5 * z + z * z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
  v8i q = __builtin_convertvector(k, v8i), odd = -(q & 1);
  v8 s = (v8)(((v8i)cr & odd) | ((v8i)sr & ~odd)), c = (v8)(((v8i)sr & odd) | ((v8i)cr & ~odd));
  v8 ss = 1 - 2 * __builtin_convertvector((q >> 1) & 1, v8), sc = 1 - 2 * __builtin_convertvector(((q + 1) >> 1) & 1, v8);
  *sn = ss * s, *cs = sc * c;
  for (int l = 0; l < GT; l++)
    if (!(fabs(x[l]) <= 1e5)) (*sn)[l] = sin(x[l]), (*cs)[l] = cos(x[l]);
}

/* Factor k's values for the lanes' parameters th[l], into w[l]: ROT (cos,
 * sin) of half its angle (of the angle for P); VW cos and sin of alpha -
 * beta, alpha + beta, gamma. */
static void factor_values(const qdm__pairs *p, int k, const double *const *th, double *const *w, int nl) {
  const pfac *f = &p->f[k];
  if (f->type == F_CONST) return;
  v8 a[3], h[3], v[6];
  int na = f->type == F_VW ? 3 : 1;
  for (int j = 0; j < na; j++)
    for (int l = 0; l < GT; l++) a[j][l] = ang_val(&f->ang[j], th[l < nl ? l : nl - 1]);
  if (f->type == F_ROT) {
    h[0] = f->kind == QDM_GP ? a[0] : 0.5 * a[0];
  } else {
    v8 al = 0.5 * (a[0] - M_PI / 2), be = -0.5 * (a[1] + M_PI / 2);
    h[0] = al - be, h[1] = al + be, h[2] = 0.5 * (a[2] - M_PI / 2);
  }
  for (int j = 0; j < na; j++) vsincos(h[j], &v[2 * j + 1], &v[2 * j]);
  for (int l = 0; l < nl; l++)
    for (int e = 0; e < 2 * na; e++) w[l][(size_t)p->nops * 32 + 8 * (size_t)k + e] = v[e][l];
}

/* the rotation at (c, s), as in the comment of factor_values */
static void rot_form(int kind, v8 c, v8 s, vc *G) {
  v8 z = c - c;
  switch (kind) {
  case QDM_GRX: G[0] = G[3] = vre(c); G[1] = G[2] = (vc){z, -s}; break;
  case QDM_GRY: G[0] = G[3] = vre(c); G[1] = vre(-s); G[2] = vre(s); break;
  case QDM_GRZ: G[0] = (vc){c, -s}; G[3] = (vc){c, s}; G[1] = G[2] = vre(z); break;
  default: G[0] = vre(z + 1); G[3] = (vc){c, s}; G[1] = G[2] = vre(z); /* P */
  }
}

static const qdm_cplx EM = M_SQRT1_2 - I * M_SQRT1_2; /* e^{-i pi/4} */

/* the unit's two 2x2 blocks, each weighted: w0 U [[c1, -i s1], [-i s1, c1]], w1 V [[c2, ...]] */
static void vw_blocks(const v8 *v, qdm_cplx w0, qdm_cplx w1, v8 c1, v8 s1, v8 c2, v8 s2, mix *x) {
  vc U = vscale(EM * w0, (vc){v[4], -v[5]}), V = vscale(EM * w1, (vc){v[4], v[5]});
  x->A[0][0] = x->A[0][3] = (vc){U.r * c1, U.i * c1}, x->A[0][1] = x->A[0][2] = (vc){U.i * s1, -U.r * s1};
  x->A[1][0] = x->A[1][3] = (vc){V.r * c2, V.i * c2}, x->A[1][1] = x->A[1][2] = (vc){V.i * s2, -V.r * s2};
}

/* The factor (j < 0) or its derivative by its angle j, as a mix; v[k]: value k of each lane. */
static void mix_of(const pfac *f, const v8 *v, int j, mix *x) {
  if (f->type == F_ROT) {
    int b = f->bit;
    x->a[0][0] = 0, x->a[0][1] = 1 << b, x->a[1][0] = 3 - (1 << b), x->a[1][1] = 3;
    if (j < 0) rot_form(f->kind, v[0], v[1], x->A[0]);
    else if (f->kind == QDM_GP) x->A[0][0] = x->A[0][1] = x->A[0][2] = vre(v[0] - v[0]), x->A[0][3] = (vc){-v[1], v[0]};
    else { /* dG/dv of exp(-i v P / 2): half the form at (c, s) -> (-s, c) */
      rot_form(f->kind, -0.5 * v[1], 0.5 * v[0], x->A[0]); /* the forms are linear in (c, s) */
    }
    memcpy(x->A[1], x->A[0], sizeof x->A[0]);
    return;
  }
  x->a[0][0] = 0, x->a[0][1] = 3, x->a[1][0] = 1, x->a[1][1] = 2;
  v8 c1 = v[0], s1 = v[1], c2 = v[2], s2 = v[3];
  if (j < 0) vw_blocks(v, 1, 1, c1, s1, c2, s2, x);
  /* d/dv1 = d/dalpha / 2, d/dv2 = -d/dbeta / 2, d/dv3 = d/dgamma / 2 */
  else if (j == 0) vw_blocks(v, 0.5, 0.5, -s1, c1, -s2, c2, x);
  else if (j == 1) vw_blocks(v, -0.5, -0.5, s1, -c1, -s2, c2, x);
  else vw_blocks(v, -0.5 * I, 0.5 * I, c1, s1, c2, s2, x);
}

/* X <- F X (F a mix, or the constant K when x is NULL) */
static void lmul(const qdm_cplx *K, const mix *x, vc *X) {
  if (!x) {
    vc T[16];
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) {
        vc s = vre(X[0].r - X[0].r);
        for (int k = 0; k < 4; k++)
          if (!is0(K[i * 4 + k])) s = vadd(s, vscale(K[i * 4 + k], X[k * 4 + j]));
        T[i * 4 + j] = s;
      }
    memcpy(X, T, sizeof T);
    return;
  }
  for (int q = 0; q < 2; q++) {
    int a = x->a[q][0], b = x->a[q][1];
    const vc *A = x->A[q];
    for (int j = 0; j < 4; j++) {
      vc xa = X[a * 4 + j], xb = X[b * 4 + j];
      X[a * 4 + j] = vadd(vmul(A[0], xa), vmul(A[1], xb));
      X[b * 4 + j] = vadd(vmul(A[2], xa), vmul(A[3], xb));
    }
  }
}

/* X <- X F^dagger */
static void rmul_dag(const qdm_cplx *K, const mix *x, vc *X) {
  if (!x) {
    vc T[16];
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) {
        vc s = vre(X[0].r - X[0].r);
        for (int k = 0; k < 4; k++)
          if (!is0(K[j * 4 + k])) s = vadd(s, vscale(conj(K[j * 4 + k]), X[i * 4 + k]));
        T[i * 4 + j] = s;
      }
    memcpy(X, T, sizeof T);
    return;
  }
  for (int q = 0; q < 2; q++) {
    int a = x->a[q][0], b = x->a[q][1];
    const vc *A = x->A[q];
    for (int i = 0; i < 4; i++) {
      vc xa = X[i * 4 + a], xb = X[i * 4 + b];
      X[i * 4 + a] = vadd(vmul_cj(xa, A[0]), vmul_cj(xb, A[1]));
      X[i * 4 + b] = vadd(vmul_cj(xa, A[2]), vmul_cj(xb, A[3]));
    }
  }
}

/* Re tr(S^dagger D) for D the mix x, per lane */
static v8 contract(const vc *S, const mix *x) {
  v8 s = S[0].r - S[0].r;
  for (int q = 0; q < 2; q++)
    for (int r = 0; r < 2; r++)
      for (int k = 0; k < 2; k++) {
        vc a = S[x->a[q][r] * 4 + x->a[q][k]], b = x->A[q][r * 2 + k];
        s += a.r * b.r + a.i * b.i;
      }
  return s;
}

/* factor k's 8 values for the lanes' groups */
static void lane_values(const qdm__pairs *p, double *const *w, int k, v8 *v) {
  int ne = p->f[k].type == F_VW ? 6 : p->f[k].type == F_ROT ? 2 : 0;
  for (int l = 0; l < GT; l++)
    for (int e = 0; e < ne; e++) v[e][l] = w[l][(size_t)p->nops * 32 + 8 * (size_t)k + e];
}

/* the factor's mix (NULL for a constant, whose matrix is *K) */
static const mix *factor_mix(const qdm__pairs *p, const pfac *f, const v8 *v, mix *x, const qdm_cplx **K) {
  *K = f->type == F_CONST ? p->konst + 16 * f->konst : NULL;
  if (*K) return NULL;
  mix_of(f, v, -1, x);
  return x;
}

/* ---------------- build ---------------- */

/* Lanes' groups: theta rows th[l], work areas w[l] (repeats fill a short batch). */
static void build_lanes(const qdm__pairs *p, const double *const *th, double *const *w, int nl) {
  for (int k = 0; k < p->nfac; k++) factor_values(p, k, th, w, nl);
  for (int o = 0; o < p->nops; o++) {
    vc X[16];
    v8 z = {0};
    for (int e = 0; e < 16; e++) X[e] = vre(e % 5 ? z : z + 1);
    const pop *P = &p->op[o];
    for (int k = P->f0; k < P->f0 + P->nf; k++) {
      v8 v[8];
      mix x;
      const qdm_cplx *K;
      lane_values(p, w, k, v);
      const mix *xm = factor_mix(p, &p->f[k], v, &x, &K);
      lmul(K, xm, X);
    }
    for (int l = 0; l < nl; l++)
      for (int e = 0; e < 16; e++) w[l][(size_t)o * 32 + 2 * e] = X[e].r[l], w[l][(size_t)o * 32 + 2 * e + 1] = X[e].i[l];
  }
}

void qdm__pairs_build(const qdm__pairs *p, const double *theta, int ld, int n, const int *ids, double *work) {
  int nb = (n + GT - 1) / GT, par = nb > 1 && qdm__parallel_worth((double)n * p->nops * 64);
#pragma omp parallel for schedule(static) if (par)
  for (int bt = 0; bt < nb; bt++) {
    const double *tl[GT];
    double *wl[GT];
    int nl = n - bt * GT < GT ? n - bt * GT : GT;
    for (int l = 0; l < GT; l++) {
      int i = bt * GT + (l < nl ? l : nl - 1);
      tl[l] = theta + (size_t)(ids ? ids[i] : i) * ld, wl[l] = work + (size_t)i * p->gd;
    }
    build_lanes(p, tl, wl, nl);
  }
}

/* ---------------- sweeps over rows ---------------- */

/* the four amplitudes of sub-block k of step P */
static inline void quad(const pop *P, size_t k, size_t *ix) {
  size_t bl = (size_t)1 << P->lo, bh = (size_t)1 << P->hi;
  k = ((k >> P->lo) << (P->lo + 1)) | (k & (bl - 1));
  k = ((k >> P->hi) << (P->hi + 1)) | (k & (bh - 1));
  ix[0] = k, ix[1] = k | bl, ix[2] = k | bh, ix[3] = k | bl | bh;
}

/* ---------------- batches: 8 or 16 groups, their rows in slots ---------------- */

/* A batch puts one group in each lane (8 for c128, 16 for c64) and the
 * group's rows in slots: slot s holds row s of every lane's group (zeros where a group has fewer), so
 * a lane's matrices are gathered once per step for all its rows, and the
 * adjoint's R of a group and step sums within its lane. Groups are batched
 * by decreasing size so that a batch's lanes have about as many rows. */
typedef struct { int start, count, g; } prun;

static int run_cmp(const void *a, const void *b) {
  const prun *x = a, *y = b;
  return x->count != y->count ? y->count - x->count : x->g - y->g;
}

/* the runs of equal grp (ascending grp: one per group), by decreasing size */
static prun *runs_of(const int *grp, int rows, int *nrun, int unique) {
  prun *r = malloc((size_t)(rows > 0 ? rows : 1) * sizeof *r);
  if (!r) return NULL;
  int n = 0;
  for (int i = 0; i < rows; i++) {
    if (i == 0 || grp[i] != grp[i - 1]) r[n++] = (prun){i, 0, grp[i]};
    r[n - 1].count++;
    if (unique && i > 0 && grp[i] < grp[i - 1]) {
      free(r);
      *nrun = -1;
      return NULL;
    }
  }
  qsort(r, n, sizeof *r, run_cmp);
  *nrun = n;
  return r;
}

#define SLOTS 16 /* slots per pass: 16 x 2 states of 2^n amplitudes x 8 lanes stay in L1/L2 for n = 4 */

/* the lanes' work areas (repeats of the last fill a short batch) */
static void batch_lanes(const qdm__pairs *p, const double *work, const prun *b, int nl, double **w, int lanes) {
  for (int l = 0; l < lanes; l++) w[l] = (double *)work + (size_t)b[l < nl ? l : nl - 1].g * p->gd;
}

/* dL/dtheta of the lanes' groups from step o's M^dagger R (Rr, Ri: 16
 * vectors each), by the recurrence of the file comment. */
static void step_grads(const qdm__pairs *p, int o, const v8 *Rr, const v8 *Ri, double *const *w, double *const *dth,
                       int nl) {
  const pop *P = &p->op[o];
  if (P->lastp < 0) return;
  vc S[16]; /* M^dagger R, as the sweep summed it */
  for (int e = 0; e < 16; e++) S[e] = (vc){Rr[e], Ri[e]};
  mix xs[2];
  const mix *prev = NULL;
  const qdm_cplx *Kprev = NULL;
  for (int j = 0; j <= P->lastp; j++) {
    const pfac *f = &p->f[P->f0 + j];
    v8 v[8];
    const qdm_cplx *K;
    lane_values(p, w, P->f0 + j, v);
    if (j > 0) rmul_dag(Kprev, prev, S);
    prev = factor_mix(p, f, v, &xs[j & 1], &K);
    Kprev = K;
    lmul(K, prev, S);
    if (f->type == F_CONST) continue;
    for (int a = 0; a < (f->type == F_VW ? 3 : 1); a++) {
      if (f->ang[a].src < 0 || f->ang[a].a == 0) continue;
      mix d;
      mix_of(f, v, a, &d);
      v8 g = contract(S, &d);
      for (int l = 0; l < nl; l++) dth[l][f->ang[a].src] += f->ang[a].a * g[l];
    }
  }
}

static void grads_c128(const qdm__pairs *p, int o, const v8 *Rr, const v8 *Ri, double *const *w, double *const *dth,
                       int nl) {
  step_grads(p, o, Rr, Ri, w, dth, nl);
}

typedef float v16f __attribute__((vector_size(2 * GT * sizeof(float))));

/* a c64 batch's R in double, its two halves of 8 lanes in turn */
static void grads_c64(const qdm__pairs *p, int o, const v16f *Rr, const v16f *Ri, double *const *w,
                      double *const *dth, int nl) {
  for (int h = 0; h < 2 && h * GT < nl; h++) {
    v8 r[16], i[16];
    for (int e = 0; e < 16; e++)
      for (int l = 0; l < GT; l++) r[e][l] = Rr[e][h * GT + l], i[e][l] = Ri[e][h * GT + l];
    step_grads(p, o, r, i, w + h * GT, dth + h * GT, nl - h * GT < GT ? nl - h * GT : GT);
  }
}

#define LT double
#define NLANE GT
#define VT v8
#define SFX(name) name##_c128
#include "pairs_tiles.h"
#undef LT
#undef NLANE
#undef VT
#undef SFX
#define LT float
#define NLANE (2 * GT)
#define VT v16f
#define SFX(name) name##_c64
#include "pairs_tiles.h"

void qdm__pairs_forward(const qdm__pairs *p, const double *work, const int *grp, const int *pos, const qdm_cplx *in,
                        qdm_cplx *out, int rows) {
  int nrun;
  prun *runs = runs_of(grp, rows, &nrun, 0);
  if (!runs) return; /* out of memory: rows == 0 or malloc failed */
  (p->c64 ? forward_c64 : forward_c128)(p, work, runs, nrun, rows, pos, in, out);
  free(runs);
}

int qdm__pairs_adjoint(const qdm__pairs *p, const double *work, const int *grp, const int *pos, qdm_cplx *psi,
                       qdm_cplx *lam, int rows, double *dtheta, int ld, const int *ids) {
  if (rows <= 0) return QDM_OK;
  int nrun;
  prun *runs = runs_of(grp, rows, &nrun, 1);
  if (nrun < 0) return qdm_fail(QDM_EINVAL, "qdm__pairs_adjoint: rows not sorted by group");
  if (!runs) return qdm_fail(QDM_ENOMEM, "qdm__pairs_adjoint: out of memory");
  int err = (p->c64 ? adjoint_c64 : adjoint_c128)(p, work, runs, nrun, rows, pos, psi, lam, dtheta, ld, ids);
  free(runs);
  return err ? qdm_fail(QDM_ENOMEM, "qdm__pairs_adjoint: out of memory") : QDM_OK;
}
