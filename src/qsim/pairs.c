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
 * Build (per step, per group): the rotations' sines and cosines and the
 * VW units' block entries, kept for the adjoint. Each step's 4x4 M = F_k
 * ... F_1 is formed from them in the sweep that applies it, forward and
 * adjoint (pairs_lanes.h, step_matrix), its values prefetched a step or
 * two ahead: kept, the 4x4s were five times the values' bytes and cost
 * more to read back than to form again (measured again on a 32 MB L3:
 * 0.35 ms a step slower for the authors' configuration).
 *
 * Run: batches of 8 groups, one per 512-bit vector lane (each lane its own
 * group's matrices; for c64, 16 groups in float lanes, pairs_lanes.h), the
 * groups' rows in slots: slot s is row s of every lane's group, so a
 * lane's matrices serve all its rows; the build stores the values
 * lane-wise, as the sweeps read them (pairs.h). Groups are batched by
 * decreasing size, so the lanes of a batch have about as many rows and
 * the vectors stay full whatever the sizes.
 *
 * Adjoint (Jones & Gacon, as run.c, one step at a time): undo the step on
 * psi, pull lam back, and sum over the step's 2^(n-2) sub-blocks and the
 * group's rows (within its lane) R' = lam_in psi_in^dagger = M^dagger R,
 * R = lam_out psi_in^dagger being dL/dM as Re tr(R^dagger dM), or W =
 * lam_out psi_out^dagger = R M^dagger (before the undo). For factor j
 * with M = A_j F_j B_j, dL/dv = Re tr(S_j^dagger dF_j/dv) with S_j =
 * A_j^dagger R B_j^dagger. The factors are unitary and each angle's dF/dv
 * = G F = F G with G a fixed generator (-i P / 2 for exp(-i v P / 2)), so
 * S_j = F_j T_j with T_j = B_j R' B_j^dagger, and dL/dv = Re tr(T_j^dagger
 * G): a few entries of T_j, no product. Walking back, S_j = V_j F_j with
 * V_j = A_j^dagger W A_j and dL/dv = Re tr(V_j^dagger G) likewise. The
 * running T (V) is conjugated by a passed factor only when the next
 * trainable one does not commute with it (two rotations on different
 * qubits or of one kind, two diagonals), since commuting factors can be
 * reordered without changing M; grad_plans picks per step the direction
 * with fewer conjugations (the authors' conv steps C RX RX VW walk back:
 * one conjugation, by the VW unit; their VW C steps forward: none). A
 * vector's groups at once. A batch is whole groups and its sums run in a fixed
 * order, so the gradients do not depend on the thread count. */
#include <assert.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sim.h"
#include "pairs.h"

enum { F_CONST, F_ROT, F_VW };

typedef struct {
  uint8_t type, kind, bit; /* ROT: gate kind and local bit (0 = the pair's lower qubit) */
  int konst;               /* CONST: index of its 4x4 in konst */
  int val;                 /* ROT, VW: its values' first vector in a chunk (pairs.h) */
  unsigned nz;             /* bit 4 i + j: (F_{k-1} ... F_1)_ij of its step can be nonzero (products) */
  qdm_angle ang[3];        /* ROT: ang[0]; VW: v1, v2, v3 */
} pfac;

typedef struct {
  int8_t lo, hi; /* qubits, lo < hi: local index l = b_lo + 2 b_hi */
  int8_t back;   /* the gradients from the outputs' W, walking F_k .. F_1 (else R', F_1 .. F_k) */
  int8_t im;     /* its gradient program reads only imaginary parts of W or R' (no conjugation, no RY) */
  int f0, nf;    /* factors f[f0 .. f0 + nf - 1], F_1 first */
  int g0, ng;    /* its gradient program gs[g0 .. g0 + ng - 1] (file comment) */
} pop;

/* a constant 4x4's nonzero entries (the sweeps' products skip the rest:
 * the authors' constants are CZ diagonals and H (x) H CZ, often half zero) */
typedef struct {
  int n, real;    /* its nonzero entries; all of them real */
  uint8_t ik[16]; /* entry t is K_ik, ik = 4 i + k (row-major order) */
  qdm_cplx v[16];
} kterms;

/* one instruction of a step's gradient program: contract factor k's
 * generators with the running 4x4, or conjugate it by factor k */
typedef struct { int k, conj; } gstep;

struct qdm__pairs {
  int n, nops, nfac, ngates;
  pop *op;
  pfac *f;
  qdm_cplx *konst;        /* the constant factors' 4x4s */
  kterms *kt;             /* their nonzero entries, and their adjoints' (kt + nkon) */
  gstep *gs;
  int nkon, ngs;
  int npar;     /* the circuit's parameters (a batch sums its lanes' gradients in npar vectors) */
  size_t gd;    /* vectors per chunk (pairs.h): the factors' values, step by step */
  size_t bytes; /* this plan's own allocations */
  int c64;      /* complex64 lanes (pairs_lanes.h) */
};

/* the values factor f keeps in the work: 2 for ROT, 8 for VW, 0 for CONST */
static int factor_nvalues(const pfac *f) { return f->type == F_VW ? 8 : f->type == F_ROT ? 2 : 0; }

/* A chunk in the order the sweeps read it: step o's factors' values (its
 * 4x4 is formed from them, and the adjoint's gradients read them again
 * right after its sweep), then step o + 1's. */
static size_t chunk_layout(qdm__pairs *p) {
  size_t at = 0;
  for (int o = 0; o < p->nops; o++) {
    pop *P = &p->op[o];
    for (int k = P->f0; k < P->f0 + P->nf; k++) p->f[k].val = (int)at, at += factor_nvalues(&p->f[k]);
  }
  return at > 0 ? at : 1; /* a chunk of constants only keeps one vector */
}

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
    P->lo = (int8_t)(a < b ? a : b), P->hi = (int8_t)(a < b ? b : a), P->f0 = nf;
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
        nf++;
      } else {
        p->f[nf] = (pfac){.type = F_VW, .ang = {g[3].ang[0], g[5].ang[0], g[2].ang[0]}};
        nf++;
      }
    }
    P->nf = nf - P->f0;
    nk++;
  }
  p->nops = nk, p->nfac = nf, p->nkon = nkon;
  qdm_cplx *k = realloc(p->konst, ((size_t)nkon + 1) * 16 * sizeof *k); /* shrinks */
  if (k) p->konst = k;
  p->bytes = sizeof *p + ((size_t)u->nemit + 1) * sizeof *p->op + ((size_t)ni + 1) * sizeof *p->f +
             ((size_t)nkon + 1) * 16 * sizeof *k;
  free(order), free(step);
  return 1;
}

/* ---------------- the steps' products ---------------- */

/* the two pairs of local indices a ROT or VW factor mixes: (0, m) and
 * (3 - m, 3) for a rotation on bit b (m = 2^b), {|00>, |11>} and {|01>,
 * |10>} for the VW unit */
static void pairs_of(const pfac *f, int a[2][2]) {
  int m = f->type == F_ROT ? 1 << f->bit : 3;
  a[0][0] = 0, a[0][1] = m, a[1][0] = f->type == F_ROT ? 3 - m : 1, a[1][1] = f->type == F_ROT ? 3 : 2;
}

#define NZ_IDENTITY 0x8421u /* the nonzero pattern of the 4x4 identity (bit 4 i + j: entry ij) */

/* the nonzero pattern (as lmul's nz) of F X, X's being nz */
static unsigned nz_after(const qdm__pairs *p, const pfac *f, unsigned nz) {
  unsigned out = 0, row[4];
  int a[2][2] = {{0}};
  for (int i = 0; i < 4; i++) row[i] = nz >> (4 * i) & 15;
  if (f->type != F_CONST) pairs_of(f, a);
  for (int i = 0; i < 4; i++) {
    unsigned r = 0;
    if (f->type == F_CONST) {
      const kterms *K = p->kt + f->konst;
      for (int t = 0; t < K->n; t++) r |= K->ik[t] >> 2 == i ? row[K->ik[t] & 3] : 0;
    } else {
      int q = a[1][0] == i || a[1][1] == i; /* the pair holding i */
      r = row[a[q][0]] | row[a[q][1]];
    }
    out |= r << (4 * i);
  }
  return out;
}

/* The constants' nonzero entries and their adjoints', and each factor's
 * input pattern: what step_matrix multiplies (pairs_lanes.h), fixed by
 * the circuit's structure whatever the angles. */
static int products(qdm__pairs *p) {
  p->kt = calloc((size_t)2 * p->nkon + 1, sizeof *p->kt);
  if (!p->kt) return 0;
  for (int k = 0; k < 2 * p->nkon; k++) p->kt[k].real = 1;
  for (int k = 0; k < p->nkon; k++)
    for (int e = 0; e < 16; e++) {
      qdm_cplx v = p->konst[16 * k + e], d = conj(p->konst[16 * k + (e % 4) * 4 + e / 4]);
      kterms *K = &p->kt[k], *D = &p->kt[p->nkon + k];
      if (!is0(v)) K->ik[K->n] = (uint8_t)e, K->v[K->n++] = v;
      if (!is0(d)) D->ik[D->n] = (uint8_t)e, D->v[D->n++] = d;
      K->real &= cimag(v) == 0, D->real &= cimag(d) == 0;
    }
  for (int o = 0; o < p->nops; o++) {
    unsigned nz = NZ_IDENTITY;
    for (int k = p->op[o].f0; k < p->op[o].f0 + p->op[o].nf; k++) p->f[k].nz = nz, nz = nz_after(p, &p->f[k], nz);
  }
  p->bytes += ((size_t)2 * p->nkon + 1) * sizeof *p->kt;
  return 1;
}

/* ---------------- the gradients' programs ---------------- */

/* diagonal in the pair's basis: RZ, P, a diagonal constant */
static int diagonal(const qdm__pairs *p, const pfac *f) {
  if (f->type == F_ROT) return f->kind == QDM_GRZ || f->kind == QDM_GP;
  if (f->type != F_CONST) return 0;
  const qdm_cplx *K = p->konst + 16 * f->konst;
  for (int e = 0; e < 16; e++)
    if (e % 5 && !is0(K[e])) return 0;
  return 1;
}

/* a sufficient test that two factors commute (as matrices) */
static int commute(const qdm__pairs *p, const pfac *a, const pfac *b) {
  if (diagonal(p, a) && diagonal(p, b)) return 1;
  return a->type == F_ROT && b->type == F_ROT && (a->bit != b->bit || a->kind == b->kind);
}

/* Step P's gradient program walking its factors forward (F_1 first) or
 * back (F_k first), into out (NULL: counted only); returns its length,
 * *nconj its conjugations. A factor is contracted on the running matrix
 * when it commutes with every factor passed since the last conjugation
 * (they can be put after it in the product), else those are conjugated
 * in first (file comment). pend: room for nf indices. */
static int grad_walk(const qdm__pairs *p, const pop *P, int back, gstep *out, int *pend, int *nconj) {
  int n = 0, np = 0;
  *nconj = 0;
  for (int t = 0; t < P->nf; t++) {
    int k = P->f0 + (back ? P->nf - 1 - t : t);
    if (p->f[k].type != F_CONST) {
      int all = 1;
      for (int i = 0; i < np; i++) all &= commute(p, &p->f[pend[i]], &p->f[k]);
      for (int i = 0; i < np && !all; i++, ++*nconj)
        if (out) out[n++] = (gstep){pend[i], 1};
        else n++;
      if (!all) np = 0;
      if (out) out[n] = (gstep){k, 0};
      n++;
    }
    pend[np++] = k;
  }
  return n;
}

/* Every step's gradient program, in the direction with fewer
 * conjugations (ties: forward). */
static int grad_plans(qdm__pairs *p) {
  int *pend = malloc(((size_t)p->nfac + 1) * sizeof *pend), at = 0;
  p->gs = malloc(((size_t)2 * p->nfac + 1) * sizeof *p->gs);
  if (!pend || !p->gs) {
    free(pend);
    return 0;
  }
  for (int o = 0; o < p->nops; o++) {
    pop *P = &p->op[o];
    int cf, cb;
    grad_walk(p, P, 0, NULL, pend, &cf);
    grad_walk(p, P, 1, NULL, pend, &cb);
    P->back = cb < cf, P->g0 = at;
    P->ng = grad_walk(p, P, P->back, p->gs + at, pend, &cf);
    P->im = 1;
    for (const gstep *s = p->gs + at; s < p->gs + at + P->ng; s++)
      P->im &= !s->conj && !(p->f[s->k].type == F_ROT && p->f[s->k].kind == QDM_GRY);
    at += P->ng;
  }
  p->ngs = at;
  p->bytes += ((size_t)2 * p->nfac + 1) * sizeof *p->gs;
  free(pend);
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
    p->n = c->n, p->ngates = c->ngates, p->c64 = !!c64, p->npar = c->nparams;
    ok = factors(p, c, it, ni, &u);
    if (ok) ok = products(p);
    if (ok) ok = grad_plans(p);
    if (ok) p->gd = chunk_layout(p);
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
  free(p->op), free(p->f), free(p->konst), free(p->kt), free(p->gs), free(p);
}

int qdm__pairs_nops(const qdm__pairs *p, int *ngates) {
  if (ngates) *ngates = p->ngates;
  return p->nops;
}
size_t qdm__pairs_bytes(const qdm__pairs *p) { return p ? p->bytes : 0; }

/* ---------------- the angles' sines and cosines ---------------- */

/* angle a of the 8 lanes' parameter rows th[l], as one vector: built in
 * registers (an element-wise fill of a vector in memory, read back whole,
 * stalls on store forwarding: the build's largest cost once) */
static v8 ang_lanes(const qdm_angle *a, const double *const *th) {
  if (a->src < 0) return (v8){0} + a->b;
  int s = a->src;
  v8 t = {th[0][s], th[1][s], th[2][s], th[3][s], th[4][s], th[5][s], th[6][s], th[7][s]};
  return a->a * t + a->b;
}

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
  v8i big = ~((x <= 1e5) & (x >= -1e5)); /* NaN too */
  long long any = 0;
  for (int l = 0; l < GT; l++) any |= big[l];
  if (any)
    for (int l = 0; l < GT; l++)
      if (big[l]) (*sn)[l] = sin(x[l]), (*cs)[l] = cos(x[l]);
}

static const qdm_cplx EM = M_SQRT1_2 - I * M_SQRT1_2; /* e^{-i pi/4}, in the VW unit's blocks */

/* Factor k's values for 8 lanes' parameters th[l], into v: ROT (cos, sin)
 * of half its angle (of the angle for P); VW its blocks' entries (file
 * comment) as real and imaginary parts, a0 = U cos(alpha - beta), b0 =
 * -i U sin(alpha - beta) on {|00>, |11>}, a1 = V cos(alpha + beta), b1 =
 * -i V sin(alpha + beta) on {|01>, |10>}: formed once here, where the
 * sweeps' products and the adjoint's conjugation each read them. */
static void factor_values(const qdm__pairs *p, int k, const double *const *th, v8 *v) {
  const pfac *f = &p->f[k];
  if (f->type == F_CONST) return;
  v8 a[3], h[3], c[3], s[3];
  int na = f->type == F_VW ? 3 : 1;
  for (int j = 0; j < na; j++) a[j] = ang_lanes(&f->ang[j], th);
  if (f->type == F_ROT) {
    h[0] = f->kind == QDM_GP ? a[0] : 0.5 * a[0];
    vsincos(h[0], &v[1], &v[0]);
    return;
  }
  v8 al = 0.5 * (a[0] - M_PI / 2), be = -0.5 * (a[1] + M_PI / 2);
  h[0] = al - be, h[1] = al + be, h[2] = 0.5 * (a[2] - M_PI / 2);
  for (int j = 0; j < 3; j++) vsincos(h[j], &s[j], &c[j]);
  double er = creal(EM), ei = cimag(EM); /* U = EM (c2 - i s2), V = EM (c2 + i s2) */
  v8 ur = er * c[2] + ei * s[2], ui = ei * c[2] - er * s[2], vr = er * c[2] - ei * s[2], vi = ei * c[2] + er * s[2];
  v[0] = ur * c[0], v[1] = ui * c[0], v[2] = ui * s[0], v[3] = -ur * s[0];
  v[4] = vr * c[1], v[5] = vi * c[1], v[6] = vi * s[1], v[7] = -vr * s[1];
}

/* ---------------- a step's sub-blocks ---------------- */

/* the four amplitudes of sub-block k of step P */
static inline void quad(const pop *P, size_t k, size_t *ix) {
  size_t bl = (size_t)1 << P->lo, bh = (size_t)1 << P->hi;
  k = ((k >> P->lo) << (P->lo + 1)) | (k & (bl - 1));
  k = ((k >> P->hi) << (P->hi + 1)) | (k & (bh - 1));
  ix[0] = k, ix[1] = k | bl, ix[2] = k | bh, ix[3] = k | bl | bh;
}

/* ---------------- batches: 8 or 16 groups, their rows in slots ---------------- */

/* A batch puts one group in each lane (8 for c128, 16 for c64) and the
 * group's rows in slots: slot s holds row s of every lane's group (zeros
 * where a group has fewer), so a lane's matrices serve all its rows, and
 * the adjoint's R of a group and step sums within its lane. Groups are
 * batched by decreasing size so that a batch's lanes have about as many
 * rows. */
typedef struct { int start, count, g; } prun;

/* The adjoint's rows: read from the outputs, written to the inputs (psi_in
 * NULL: the block's input states are not wanted, only dL/din). */
typedef struct {
  const qdm_cplx *psi_out;
  qdm_cplx *psi_in;
  const qdm_cplx *lam_out;
  qdm_cplx *lam_in;
} adj_io;

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
  int sorted = 1; /* the model's rows come in this order already (unet.c's pairs_setup) */
  for (int i = 1; i < n && sorted; i++) sorted = run_cmp(&r[i - 1], &r[i]) <= 0;
  if (!sorted) qsort(r, n, sizeof *r, run_cmp);
  *nrun = n;
  return r;
}

#define SLOTS 16 /* slots per pass: 16 x 2 states of 2^n amplitudes x 8 lanes stay in L1/L2 for n = 4 */
#define AHEAD 2  /* steps between a prefetch of values and their step (pairs_lanes.h, prefetch_values) */

typedef float v16f __attribute__((vector_size(2 * GT * sizeof(float))));

/* r[k][l] <- r[l][k]: an 8 x 8 block of doubles transposed in registers,
 * in three rounds of two-vector shuffles (elements, pairs, quadruples);
 * __builtin_shufflevector, which GCC (12 on) and clang both compile. */
static inline void transpose8(v8 *r) {
  v8 a[8], b[8];
  for (int k = 0; k < 8; k += 2) {
    a[k] = __builtin_shufflevector(r[k], r[k + 1], 0, 8, 2, 10, 4, 12, 6, 14);
    a[k + 1] = __builtin_shufflevector(r[k], r[k + 1], 1, 9, 3, 11, 5, 13, 7, 15);
  }
  for (int k = 0; k < 8; k += 4)
    for (int j = 0; j < 2; j++) {
      b[k + j] = __builtin_shufflevector(a[k + j], a[k + j + 2], 0, 1, 8, 9, 4, 5, 12, 13);
      b[k + j + 2] = __builtin_shufflevector(a[k + j], a[k + j + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    }
  for (int j = 0; j < 4; j++) {
    r[j] = __builtin_shufflevector(b[j], b[j + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    r[j + 4] = __builtin_shufflevector(b[j], b[j + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
}

/* slots_io for 8 lanes of doubles (complex128): a slot's rows move 4
 * amplitudes (one 64-byte line) per lane at a time, 8 lanes transposed
 * into the slot's real and imaginary vectors and back, where lane-wise
 * moves took 16 scalar loads and inserts per line: the circuits' perf
 * samples fell 8% against sgemm's in the same runs (965, 981 -> 888, 910
 * over 4739-4897). A lane whose group has no row in slot s reads zeros. */
static void slots_io_8(const prun *b, int nl, int s0, int ns, const int *pos, qdm_cplx *src, const qdm_cplx *csrc,
                       v8 *x, int dim) {
  for (int s = s0; s < s0 + ns; s++) {
    double *row[GT];
    for (int l = 0; l < GT; l++) {
      int has = l < nl && s < b[l].count;
      size_t r = has ? (size_t)(pos ? pos[b[l].start + s] : b[l].start + s) * dim : 0;
      row[l] = !has ? NULL : csrc ? (double *)(csrc + r) : (double *)(src + r);
    }
    v8 *xr = x + (size_t)(s - s0) * 2 * dim, *xi = xr + dim, t[GT];
    for (int i = 0; i < dim; i += 4) {
      if (csrc) {
        for (int l = 0; l < GT; l++)
          if (row[l]) memcpy(&t[l], row[l] + 2 * i, sizeof t[l]);
          else t[l] = (v8){0};
        transpose8(t); /* t[2j] = Re amplitude i + j, t[2j + 1] its Im, over the lanes */
        for (int j = 0; j < 4; j++) xr[i + j] = t[2 * j], xi[i + j] = t[2 * j + 1];
      } else {
        for (int j = 0; j < 4; j++) t[2 * j] = xr[i + j], t[2 * j + 1] = xi[i + j];
        transpose8(t);
        for (int l = 0; l < GT; l++)
          if (row[l]) memcpy(row[l] + 2 * i, &t[l], sizeof t[l]);
      }
    }
  }
}

#define LT double
#define NLANE GT
#define VT v8
#define SFX(name) name##_c128
#include "pairs_lanes.h"
#undef LT
#undef NLANE
#undef VT
#undef SFX
#define LT float
#define NLANE (2 * GT)
#define VT v16f
#define SFX(name) name##_c64
#include "pairs_lanes.h"

int qdm__pairs_lanes(const qdm__pairs *p) { return p->c64 ? 2 * GT : GT; }

/* a chunk is gd vectors of 64 bytes, 8 doubles */
size_t qdm__pairs_work_doubles(const qdm__pairs *p, int n) {
  int lanes = qdm__pairs_lanes(p);
  return (size_t)((n + lanes - 1) / lanes) * p->gd * GT;
}

void qdm__pairs_build(const qdm__pairs *p, const double *theta, int ld, int n, const int *ids, double *work) {
  assert(((uintptr_t)work & 63) == 0);
  int lanes = qdm__pairs_lanes(p), nb = (n + lanes - 1) / lanes;
  int par = nb > 1 && qdm__parallel_worth((double)n * p->nops * 64);
#pragma omp parallel for schedule(static, 1) if (par) /* round-robin, as the sweeps deal them (forward) */
  for (int bt = 0; bt < nb; bt++) {
    const double *tl[2 * GT];
    for (int l = 0; l < lanes; l++) { /* repeats of the last fill a short chunk */
      int i = bt * lanes + l < n ? bt * lanes + l : n - 1;
      tl[l] = theta + (size_t)(ids ? ids[i] : i) * ld;
    }
    (p->c64 ? build_lanes_c64 : build_lanes_c128)(p, tl, work + (size_t)bt * p->gd * GT);
  }
}

void qdm__pairs_matrix(const qdm__pairs *p, const double *work, int i, int o, qdm_cplx *M) {
  int lanes = qdm__pairs_lanes(p);
  const double *ch = work + (size_t)(i / lanes) * p->gd * GT;
  if (p->c64) lane_matrix_c64(p, (const v16f *)ch, o, i % lanes, M);
  else lane_matrix_c128(p, (const v8 *)ch, o, i % lanes, M);
}

void qdm__pairs_forward(const qdm__pairs *p, const double *work, const int *grp, const int *pos, const qdm_cplx *in,
                        qdm_cplx *out, int rows) {
  assert(((uintptr_t)work & 63) == 0);
  int nrun;
  prun *runs = runs_of(grp, rows, &nrun, 0);
  if (!runs) return; /* out of memory: rows == 0 or malloc failed */
  (p->c64 ? forward_c64 : forward_c128)(p, work, runs, nrun, rows, pos, in, out);
  free(runs);
}

int qdm__pairs_adjoint(const qdm__pairs *p, const double *work, const int *grp, const int *pos,
                       const qdm_cplx *psi_out, qdm_cplx *psi_in, const qdm_cplx *lam_out, qdm_cplx *lam_in, int rows,
                       double *dtheta, int ld, const int *ids) {
  if (rows <= 0) return QDM_OK;
  assert(((uintptr_t)work & 63) == 0);
  int nrun;
  prun *runs = runs_of(grp, rows, &nrun, 1);
  if (nrun < 0) return qdm_fail(QDM_EINVAL, "qdm__pairs_adjoint: rows not sorted by group");
  if (!runs) return qdm_fail(QDM_ENOMEM, "qdm__pairs_adjoint: out of memory");
  const adj_io io = {psi_out, psi_in, lam_out, lam_in};
  int err = (p->c64 ? adjoint_c64 : adjoint_c128)(p, work, runs, nrun, rows, pos, &io, dtheta, ld, ids);
  free(runs);
  return err ? qdm_fail(QDM_ENOMEM, "qdm__pairs_adjoint: out of memory") : QDM_OK;
}
