/* pairs_lanes.h -- everything of the pair program that runs on vector
 * lanes, one group per lane, written once and included twice by pairs.c:
 * complex128 (8 groups per 512-bit vector of doubles) and complex64 (16
 * groups per vector of floats, qdm__pairs_new's c64). Both build the
 * steps' 4x4s and take the angle gradients in their own lanes' precision,
 * in chunks of the work laid out as the sweeps read them (pairs.h); the
 * angles' sines and cosines are double in both (factor_values), and the
 * rows come in and go out as complex128. Before including: LT the
 * lanes' real type, NLANE their number, VT the vector type, SFX(name) the
 * instance's names; the names below map the plain ones used in this file
 * to the instance's. pairs.c's file comment has the math. */

#define vc SFX(vc)
#define vadd SFX(vadd)
#define vmul2 SFX(vmul2)
#define vmul2_cj SFX(vmul2_cj)
#define vscale SFX(vscale)
#define vre SFX(vre)
#define mix SFX(mix)
#define rot_form SFX(rot_form)
#define mix_of SFX(mix_of)
#define lmul SFX(lmul)
#define lmul_dense_real SFX(lmul_dense_real)
#define lmul_const SFX(lmul_const)
#define pair_rows SFX(pair_rows)
#define rot_rows SFX(rot_rows)
#define lmul_rot SFX(lmul_rot)
#define lmul_vw SFX(lmul_vw)
#define prefetch_values SFX(prefetch_values)
#define rmul_dag SFX(rmul_dag)
#define lane_values SFX(lane_values)
#define factor_mix SFX(factor_mix)
#define build_lanes SFX(build_lanes)
#define step_matrix SFX(step_matrix)
#define lane_matrix SFX(lane_matrix)
#define step_grads SFX(step_grads)
#define generator_trace SFX(generator_trace)
#define mix_dag SFX(mix_dag)
#define lanemat SFX(lanemat)
#define batch_chunk SFX(batch_chunk)
#define step_apply SFX(step_apply)
#define step_adj SFX(step_adj)
#define step_outer SFX(step_outer)
#define outer_sum SFX(outer_sum)
#define slots_io SFX(slots_io)
#define batch_fwd SFX(batch_fwd)
#define forward SFX(forward)
#define batch_adj SFX(batch_adj)
#define batch_sweeps SFX(batch_sweeps)
#define adjoint SFX(adjoint)

typedef struct { VT r, i; } vc;
static inline vc vadd(vc a, vc b) { return (vc){a.r + b.r, a.i + b.i}; }
/* a x + b y, one multiply-add per statement (contracted: a multiply and
 * three FMAs a part, where two products and an add took five operations) */
static inline vc vmul2(vc a, vc x, vc b, vc y) {
  VT r = a.r * x.r, i = a.r * x.i;
  r -= a.i * x.i, i += a.i * x.r;
  r += b.r * y.r, i += b.r * y.i;
  r -= b.i * y.i, i += b.i * y.r;
  return (vc){r, i};
}
/* x conj(a) + y conj(b), the same way */
static inline vc vmul2_cj(vc x, vc a, vc y, vc b) {
  VT r = x.r * a.r, i = x.i * a.r;
  r += x.i * a.i, i -= x.r * a.i;
  r += y.r * b.r, i += y.i * b.r;
  r += y.i * b.i, i -= y.r * b.i;
  return (vc){r, i};
}
static inline vc vscale(qdm_cplx z, vc a) {
  LT zr = (LT)creal(z), zi = (LT)cimag(z);
  return (vc){zr * a.r - zi * a.i, zr * a.i + zi * a.r};
}
static inline vc vre(VT x) { return (vc){x, x - x}; }

/* A ROT or VW factor mixes two pairs of local indices by 2x2 matrices. */
typedef struct { int a[2][2]; vc A[2][4]; } mix;

/* ---------------- factors as 4x4 matrices ---------------- */

/* the rotation at (c, s), as in the comment of factor_values */
static void rot_form(int kind, VT c, VT s, vc *G) {
  VT z = c - c;
  switch (kind) {
  case QDM_GRX: G[0] = G[3] = vre(c); G[1] = G[2] = (vc){z, -s}; break;
  case QDM_GRY: G[0] = G[3] = vre(c); G[1] = vre(-s); G[2] = vre(s); break;
  case QDM_GRZ: G[0] = (vc){c, -s}; G[3] = (vc){c, s}; G[1] = G[2] = vre(z); break;
  default: G[0] = vre(z + 1); G[3] = (vc){c, s}; G[1] = G[2] = vre(z); /* P */
  }
}

/* The factor as a mix; v[k]: value k of each lane (factor_values, which
 * has the VW unit's entries). */
static void mix_of(const pfac *f, const VT *v, mix *x) {
  pairs_of(f, x->a);
  if (f->type == F_ROT) {
    rot_form(f->kind, v[0], v[1], x->A[0]);
    memcpy(x->A[1], x->A[0], sizeof x->A[0]);
    return;
  }
  for (int q = 0; q < 2; q++)
    x->A[q][0] = x->A[q][3] = (vc){v[4 * q], v[4 * q + 1]}, x->A[q][1] = x->A[q][2] = (vc){v[4 * q + 2], v[4 * q + 3]};
}

/* rows a, b of X <- [[A0, A1], [A2, A3]] (rows a, b); nz: bit 4 i + j
 * clear where X_ij is known to be 0 (a step's product starts sparse),
 * whose terms are skipped. The 2x2 comes by value: X's stores could alias
 * it. */
static inline void pair_rows(int a, int b, vc A0, vc A1, vc A2, vc A3, vc *X, unsigned nz) {
  for (int j = 0; j < 4; j++) {
    if (!(nz >> (a * 4 + j) & 1) && !(nz >> (b * 4 + j) & 1)) continue; /* stays 0 */
    vc xa = X[a * 4 + j], xb = X[b * 4 + j];
    X[a * 4 + j] = vmul2(A0, xa, A1, xb);
    X[b * 4 + j] = vmul2(A2, xa, A3, xb);
  }
}

/* X <- K X for a dense real K (the authors' H (x) H CZ): every product,
 * in loops the compiler unrolls, where skipping X's zeros took a branch
 * and a load and store of the sum per term */
static void lmul_dense_real(const kterms *K, vc *X) {
  vc T[16];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) {
      VT sr = (LT)creal(K->v[4 * i]) * X[j].r, si = (LT)creal(K->v[4 * i]) * X[j].i;
      for (int k = 1; k < 4; k++) {
        LT v = (LT)creal(K->v[4 * i + k]);
        sr += v * X[4 * k + j].r, si += v * X[4 * k + j].i;
      }
      T[4 * i + j] = (vc){sr, si};
    }
  memcpy(X, T, sizeof T);
}

/* X <- K X for a constant (nz as pair_rows), over K's nonzero entries: a
 * real one (the authors' constants have only real ones) scales by two
 * multiplies, not four operations; X the identity (a step's first
 * factor) becomes K, and a dense real K takes lmul_dense_real. */
static void lmul_const(const kterms *K, vc *X, unsigned nz) {
  VT z = X[0].r - X[0].r;
  if (nz == NZ_IDENTITY) {
    for (int e = 0; e < 16; e++) X[e] = vre(z);
    for (int t = 0; t < K->n; t++) X[K->ik[t]] = (vc){z + (LT)creal(K->v[t]), z + (LT)cimag(K->v[t])};
    return;
  }
  if (K->n == 16 && K->real) {
    lmul_dense_real(K, X);
    return;
  }
  vc T[16];
  for (int e = 0; e < 16; e++) T[e] = vre(z);
  for (int t = 0; t < K->n; t++) {
    int i = K->ik[t] >> 2, k = K->ik[t] & 3;
    LT vr = (LT)creal(K->v[t]), vi = (LT)cimag(K->v[t]);
    for (int j = 0; j < 4; j++) {
      if (!(nz >> (k * 4 + j) & 1)) continue;
      vc u = X[k * 4 + j], *y = &T[i * 4 + j];
      y->r += vr * u.r, y->i += vr * u.i;
      if (vi != 0) y->r -= vi * u.i, y->i += vi * u.r;
    }
  }
  memcpy(X, T, sizeof T);
}

/* X <- F X (F a mix, or the constant K when x is NULL; nz as pair_rows) */
static void lmul(const kterms *K, const mix *x, vc *X, unsigned nz) {
  if (!x) lmul_const(K, X, nz);
  else
    for (int q = 0; q < 2; q++)
      pair_rows(x->a[q][0], x->a[q][1], x->A[q][0], x->A[q][1], x->A[q][2], x->A[q][3], X, nz);
}

/* X <- X F^dagger: (X K^dagger)_ij = sum_k X_ik conj(K_jk) */
static void rmul_dag(const kterms *K, const mix *x, vc *X) {
  if (!x) {
    vc T[16];
    VT z = X[0].r - X[0].r;
    for (int e = 0; e < 16; e++) T[e] = vre(z);
    for (int t = 0; t < K->n; t++) {
      int j = K->ik[t] >> 2, k = K->ik[t] & 3;
      for (int i = 0; i < 4; i++) T[i * 4 + j] = vadd(T[i * 4 + j], vscale(conj(K->v[t]), X[i * 4 + k]));
    }
    memcpy(X, T, sizeof T);
    return;
  }
  for (int q = 0; q < 2; q++) {
    int a = x->a[q][0], b = x->a[q][1];
    vc A0 = x->A[q][0], A1 = x->A[q][1], A2 = x->A[q][2], A3 = x->A[q][3];
    for (int i = 0; i < 4; i++) {
      vc xa = X[i * 4 + a], xb = X[i * 4 + b];
      X[i * 4 + a] = vmul2_cj(xa, A0, xb, A1);
      X[i * 4 + b] = vmul2_cj(xa, A2, xb, A3);
    }
  }
}

/* A step's 4x4 for the lanes' groups, entry e of every lane one vector.
 * It is formed from the chunk (pairs.h, pairs.c's chunk_layout: the
 * factors' values, factor k's at ch + f[k].val) by step_matrix, in the
 * sweep that applies it. */
typedef struct { VT r[16], i[16]; } lanemat;

/* factor k's values for the lanes' groups, in the chunk */
static const VT *lane_values(const qdm__pairs *p, const VT *ch, int k) {
  return ch + p->f[k].val;
}

/* Step o's values on their way to L1 (none when o is out of range): the
 * sweeps ask for them a step or two ahead, since forming a step from
 * values that were not in cache waited on the loads more than it
 * multiplied (they were built before the sweep, or read again after the
 * decoder's layers ran) */
static void prefetch_values(const qdm__pairs *p, const VT *ch, int o) {
  if (o < 0 || o >= p->nops) return;
  const pop *P = &p->op[o];
  const pfac *last = &p->f[P->f0 + P->nf - 1];
  for (const VT *a = ch + p->f[P->f0].val; a < ch + last->val + factor_nvalues(last); a++) __builtin_prefetch(a);
}

/* the factor's mix (NULL for a constant, whose nonzero entries are *K) */
static const mix *factor_mix(const qdm__pairs *p, const pfac *f, const VT *v, mix *x, const kterms **K) {
  *K = f->type == F_CONST ? p->kt + f->konst : NULL;
  if (*K) return NULL;
  mix_of(f, v, x);
  return x;
}

/* X <- F X for a rotation with its kind known (lmul_rot), its real 2x2
 * parts apart: two multiply-adds per output part where a general complex
 * 2x2 (lmul) takes four */
static inline __attribute__((always_inline)) void rot_rows(int kind, int pr[2][2], VT c, VT s, vc *X,
                                                           unsigned nz) {
  for (int q = 0; q < 2; q++) {
    int a = pr[q][0], b = pr[q][1];
    for (int j = 0; j < 4; j++) {
      if (!(nz >> (a * 4 + j) & 1) && !(nz >> (b * 4 + j) & 1)) continue; /* stays 0 */
      vc xa = X[a * 4 + j], xb = X[b * 4 + j], *ya = &X[a * 4 + j], *yb = &X[b * 4 + j];
      switch (kind) { /* rot_form's matrices */
      case QDM_GRX: /* [[c, -i s], [-i s, c]] */
        *ya = (vc){c * xa.r + s * xb.i, c * xa.i - s * xb.r}, *yb = (vc){c * xb.r + s * xa.i, c * xb.i - s * xa.r};
        break;
      case QDM_GRY: /* [[c, -s], [s, c]] */
        *ya = (vc){c * xa.r - s * xb.r, c * xa.i - s * xb.i}, *yb = (vc){s * xa.r + c * xb.r, s * xa.i + c * xb.i};
        break;
      case QDM_GRZ: /* diag(c - i s, c + i s) */
        *ya = (vc){c * xa.r + s * xa.i, c * xa.i - s * xa.r}, *yb = (vc){c * xb.r - s * xb.i, c * xb.i + s * xb.r};
        break;
      default: *yb = (vc){c * xb.r - s * xb.i, c * xb.i + s * xb.r}; /* P: diag(1, c + i s) */
      }
    }
  }
}

/* X <- F X for the rotation f at v */
static void lmul_rot(const pfac *f, const VT *v, vc *X, unsigned nz) {
  int pr[2][2];
  pairs_of(f, pr);
  switch (f->kind) {
  case QDM_GRX: rot_rows(QDM_GRX, pr, v[0], v[1], X, nz); break;
  case QDM_GRY: rot_rows(QDM_GRY, pr, v[0], v[1], X, nz); break;
  case QDM_GRZ: rot_rows(QDM_GRZ, pr, v[0], v[1], X, nz); break;
  default: rot_rows(QDM_GP, pr, v[0], v[1], X, nz);
  }
}

/* X <- F X for the VW unit at v: each block [[a, b], [b, a]]
 * (factor_values), without a mix's copy of them */
static void lmul_vw(const pfac *f, const VT *v, vc *X, unsigned nz) {
  int pr[2][2];
  pairs_of(f, pr);
  for (int q = 0; q < 2; q++) {
    vc al = {v[4 * q], v[4 * q + 1]}, be = {v[4 * q + 2], v[4 * q + 3]};
    pair_rows(pr[q][0], pr[q][1], al, be, be, al, X, nz);
  }
}

/* The chunk at work of the lanes' groups, theta rows th[l]: the factors'
 * values (factor_values, in double, 8 lanes at a time), stored as the
 * sweeps read them. */
static void build_lanes(const qdm__pairs *p, const double *const *th, double *work) {
  VT *ch = (VT *)work;
  for (int k = 0; k < p->nfac; k++)
    for (int h = 0; h < NLANE / GT && factor_nvalues(&p->f[k]); h++) {
      v8 v[8];
      factor_values(p, k, th + h * GT, v);
      VT *dst = ch + p->f[k].val;
      for (int e = 0; e < factor_nvalues(&p->f[k]); e++)
        if (NLANE == GT) dst[e] = (VT)v[e]; /* whole vectors: no lane-wise stores to read back */
        else for (int l = 0; l < GT; l++) dst[e][h * GT + l] = (LT)v[e][l];
    }
}

/* Step o's M = F_k ... F_1 from the chunk's values, into L. Formed where
 * it is applied (forward and adjoint), not kept: stored for the adjoint,
 * the 4x4s were five times the values' bytes, and reading them back after
 * the decoder's layers had evicted them cost more than forming them
 * again (a batch of more than SLOTS rows forms it once per pass of
 * slots: one 4x4 product against the pass's 16 slots' sweep). The
 * product starts as the identity's pattern and multiplies only
 * the entries that can be nonzero (a step's first factors are sparse: a
 * CZ's diagonal, a VW unit's two 2x2 blocks). */
static void step_matrix(const qdm__pairs *p, const VT *ch, int o, lanemat *L) {
  vc X[16];
  VT z = {0};
  for (int e = 0; e < 16; e++) X[e] = vre(e % 5 ? z : z + 1);
  const pop *P = &p->op[o];
  for (int k = P->f0; k < P->f0 + P->nf; k++) {
    const pfac *f = &p->f[k];
    if (f->type == F_ROT) lmul_rot(f, lane_values(p, ch, k), X, f->nz);
    else if (f->type == F_VW) lmul_vw(f, lane_values(p, ch, k), X, f->nz);
    else lmul_const(p->kt + f->konst, X, f->nz);
  }
  for (int e = 0; e < 16; e++) L->r[e] = X[e].r, L->i[e] = X[e].i;
}

/* Re tr(T^dagger G) per lane, G = F^dagger dF/dv = dF/dv F^dagger for
 * the factor's angle a (the generators commute with their factors, file
 * comment): -i P / 2 for a rotation exp(-i v P / 2), i |1><1| on the bit
 * for P(v); for the VW unit -i XX / 2, +i YY / 2, -i ZZ / 2 (v1, v2, v3:
 * alpha = (v1 - pi/2) / 2, beta = -(v2 + pi/2) / 2, gamma = (v3 - pi/2) / 2).
 * Only a few entries of T enter: no product is formed. */
static VT generator_trace(const pfac *f, int a, const vc *T) {
  VT g = T[0].r - T[0].r, h = (VT){0} + (LT)0.5;
  if (f->type == F_VW) {
    if (a == 0) return -h * (T[3].i + T[6].i + T[9].i + T[12].i);
    if (a == 1) return h * (T[6].i + T[9].i - T[3].i - T[12].i);
    return h * (T[5].i + T[10].i - T[0].i - T[15].i);
  }
  int m = 1 << f->bit;
  for (int r = 0; r < 4; r++) {
    int up = r & m ? 1 : 0;
    switch (f->kind) {
    case QDM_GRX: g -= h * T[r * 4 + (r ^ m)].i; break;
    case QDM_GRY: if (!up) g += h * (T[(r | m) * 4 + r].r - T[r * 4 + (r | m)].r); break;
    case QDM_GRZ: g += up ? h * T[r * 5].i : -h * T[r * 5].i; break;
    default: if (up) g += T[r * 5].i; /* P */
    }
  }
  return g;
}

/* the mix of F^dagger from F's: each 2x2 block transposed and conjugated */
static void mix_dag(mix *x) {
  for (int q = 0; q < 2; q++) {
    vc *A = x->A[q], t = A[1];
    A[1] = A[2], A[2] = t;
    for (int e = 0; e < 4; e++) A[e].i = -A[e].i;
  }
}

/* acc[src] += dL/dtheta[src] of the lanes' groups (acc: a vector per
 * parameter, scattered to the groups' rows once per batch) from step o's
 * 4x4 sum R (Rr, Ri: 16 vectors each): R' = M^dagger R taken after the
 * step is undone, or W = lam_out psi_out^dagger before (P->back), run
 * through the step's gradient program (file comment). */
static void step_grads(const qdm__pairs *p, int o, const VT *Rr, const VT *Ri, const VT *ch, VT *acc) {
  const pop *P = &p->op[o];
  vc T[16];
  if (P->ng) for (int e = 0; e < 16; e++) T[e] = (vc){Rr[e], Ri[e]};
  for (const gstep *s = p->gs + P->g0; s < p->gs + P->g0 + P->ng; s++) {
    const pfac *f = &p->f[s->k];
    if (s->conj) { /* forward T <- F T F^dagger; back T <- F^dagger T F */
      mix x;
      const kterms *K;
      const mix *xm = factor_mix(p, f, lane_values(p, ch, s->k), &x, &K);
      if (P->back && xm) mix_dag(&x);
      if (P->back && !xm) K = p->kt + p->nkon + f->konst;
      lmul(K, xm, T, 0xffff);
      rmul_dag(K, xm, T);
      continue;
    }
    for (int a = 0; a < (f->type == F_VW ? 3 : 1); a++) {
      if (f->ang[a].src < 0 || f->ang[a].a == 0) continue;
      acc[f->ang[a].src] += (LT)f->ang[a].a * generator_trace(f, a, T);
    }
  }
}

/* ---------------- sweeps over rows ---------------- */

/* The batch's chunk: the work's own when its lanes are one chunk's
 * groups in order (as the model lays them out), else gathered into
 * scratch (gd vectors). Lanes past nl repeat the last. */
static const VT *batch_chunk(const qdm__pairs *p, const double *work, const prun *b, int nl, VT *scratch) {
  const VT *w = (const VT *)work;
  int a0 = b[0].g, own = a0 % NLANE == 0;
  for (int l = 1; l < nl && own; l++) own = b[l].g == a0 + l;
  if (own) return w + (size_t)(a0 / NLANE) * p->gd;
  for (int l = 0; l < NLANE; l++) {
    int a = b[l < nl ? l : nl - 1].g;
    const VT *src = w + (size_t)(a / NLANE) * p->gd;
    for (size_t e = 0; e < p->gd; e++) scratch[e][l] = src[e][a % NLANE];
  }
  return scratch;
}

/* Step o on the ns slots' states at x (slot s: 2^n real parts, then 2^n
 * imaginary, at x + 2 s 2^n): x <- M x, or x <- M^dagger x when dag
 * ((M^dagger)_{lj} = conj(M_{jl}); dag is a constant at every call, so
 * each call compiles to its own loop). A quadruple's indices serve all
 * slots; a slot's four outputs are stored after all are summed (stored
 * inside the loop, each store held the next output's loads of M behind
 * it: they may alias). */
static inline void step_apply(VT *restrict x, int ns, int n, const pop *P, const lanemat *restrict L, int dag) {
  size_t dim = (size_t)1 << n, cnt = dim >> 2, ix[4];
  for (size_t k = 0; k < cnt; k++) {
    quad(P, k, ix);
    for (int s = 0; s < ns; s++) {
      VT *xr = x + (size_t)s * 2 * dim, *xi = xr + dim, ar[4], ai[4], cr[4], ci[4];
      for (int j = 0; j < 4; j++) ar[j] = xr[ix[j]], ai[j] = xi[ix[j]];
      for (int l = 0; l < 4; l++) {
        /* one multiply-add per statement: contracted, each is one FMA
         * (sr += mr a - mi b in one statement was a multiply, an FMA and
         * an add) */
        VT sr = ar[0] - ar[0], si = sr;
        for (int j = 0; j < 4; j++) {
          int e = dag ? j * 4 + l : l * 4 + j;
          VT mr = L->r[e], mi = L->i[e];
          if (j == 0) sr = mr * ar[0], si = mr * ai[0];
          else sr += mr * ar[j], si += mr * ai[j];
          if (dag) sr += mi * ai[j], si -= mi * ar[j]; /* conj(m) a */
          else sr -= mi * ai[j], si += mi * ar[j];
        }
        cr[l] = sr, ci[l] = si;
      }
      for (int l = 0; l < 4; l++) xr[ix[l]] = cr[l], xi[ix[l]] = ci[l];
    }
  }
}

/* psi <- M^dagger psi, lam <- M^dagger lam on the ns slots: the step
 * undone on both */
static void step_adj(VT *x, VT *y, int ns, int n, const pop *P, const lanemat *L) {
  step_apply(x, ns, n, P, L, 1);
  step_apply(y, ns, n, P, L, 1);
}

/* R (+)= sum over the ns slots' quadruples of lam psi^dagger (the step's
 * 4x4 gradient sum: R' after step_adj, W before it when the step's
 * gradients walk back, step_grads); add 0: R is set, not added to. H rows
 * of R at a time stay in registers over all the quadruples (summed in
 * place per quadruple, R's 32 vectors were loaded and stored for 64
 * multiply-adds, and the stores bound the sweep): two, or all four when
 * only the imaginary parts are wanted (im, a constant at each call), at
 * half the multiply-adds. */
static inline __attribute__((always_inline)) void outer_sum(const VT *x, const VT *y, int ns, int n, const pop *P,
                                                            VT *Rr, VT *Ri, int add, int im) {
  size_t dim = (size_t)1 << n, cnt = dim >> 2, ix[4];
  enum { HMAX = 4 };
  int H = im ? 4 : 2;
  for (int l0 = 0; l0 < 4; l0 += H) {
    VT sr[HMAX][4], si[HMAX][4], z = {0};
    for (int h = 0; h < H; h++)
      for (int j = 0; j < 4; j++)
        sr[h][j] = add && !im ? Rr[(l0 + h) * 4 + j] : z, si[h][j] = add ? Ri[(l0 + h) * 4 + j] : z;
    for (int s = 0; s < ns; s++) {
      const VT *pr = x + (size_t)s * 2 * dim, *pi = pr + dim, *qr = y + (size_t)s * 2 * dim, *qi = qr + dim;
      for (size_t k = 0; k < cnt; k++) {
        quad(P, k, ix);
        for (int h = 0; h < H; h++) {
          VT dr = qr[ix[l0 + h]], di = qi[ix[l0 + h]];
          for (int j = 0; j < 4; j++) { /* one FMA each, as in step_apply */
            if (!im) sr[h][j] += dr * pr[ix[j]], sr[h][j] += di * pi[ix[j]];
            si[h][j] += di * pr[ix[j]], si[h][j] -= dr * pi[ix[j]];
          }
        }
      }
    }
    for (int h = 0; h < H; h++)
      for (int j = 0; j < 4; j++) Rr[(l0 + h) * 4 + j] = sr[h][j], Ri[(l0 + h) * 4 + j] = si[h][j];
  }
}

/* outer_sum for step P: only the imaginary parts when its gradient
 * program reads no real part (P->im: no conjugation, no RY) */
static void step_outer(const VT *x, const VT *y, int ns, int n, const pop *P, VT *Rr, VT *Ri, int add) {
  if (P->im) outer_sum(x, y, ns, n, P, Rr, Ri, add, 1);
  else outer_sum(x, y, ns, n, P, Rr, Ri, add, 0);
}

/* Slots [s0, s0 + ns) of batch b (nl lanes) in or out of x (ns x 2 x dim vectors). */
static void slots_io(const prun *b, int nl, int s0, int ns, const int *pos, qdm_cplx *src, const qdm_cplx *csrc,
                     VT *x, int dim) {
  if (sizeof(LT) == sizeof(double) && NLANE == GT && dim % 4 == 0) { /* complex128: whole lines (slots_io_8) */
    slots_io_8(b, nl, s0, ns, pos, src, csrc, (v8 *)x, dim);
    return;
  }
  if (csrc) memset(x, 0, (size_t)ns * 2 * dim * sizeof *x);
  for (int l = 0; l < nl; l++)
    for (int s = s0; s < s0 + ns && s < b[l].count; s++) {
      size_t r = (size_t)(pos ? pos[b[l].start + s] : b[l].start + s) * dim;
      VT *xr = x + (size_t)(s - s0) * 2 * dim, *xi = xr + dim;
      if (csrc)
        for (int i = 0; i < dim; i++) xr[i][l] = (LT)creal(csrc[r + i]), xi[i][l] = (LT)cimag(csrc[r + i]);
      else
        for (int i = 0; i < dim; i++) src[r + i] = (double)xr[i][l] + I * (double)xi[i][l];
    }
}

/* Step o of lane l's group in the chunk at ch, as the sweeps form it (qdm__pairs_matrix) */
static void lane_matrix(const qdm__pairs *p, const VT *ch, int o, int l, qdm_cplx *M) {
  lanemat L;
  step_matrix(p, ch, o, &L);
  for (int e = 0; e < 16; e++) M[e] = (double)L.r[e][l] + I * (double)L.i[e][l];
}

static void batch_fwd(const qdm__pairs *p, const double *work, const prun *b, int nl, const int *pos,
                      const qdm_cplx *in, qdm_cplx *out, VT *x, VT *scratch) {
  int dim = 1 << p->n;
  const VT *ch = batch_chunk(p, work, b, nl, scratch);
  for (int s0 = 0; s0 < b[0].count; s0 += SLOTS) {
    int ns = b[0].count - s0 < SLOTS ? b[0].count - s0 : SLOTS;
    slots_io(b, nl, s0, ns, pos, NULL, in, x, dim);
    for (int o = 0; o < p->nops; o++) {
      lanemat L;
      prefetch_values(p, ch, o + AHEAD);
      step_matrix(p, ch, o, &L);
      step_apply(x, ns, p->n, &p->op[o], &L, 0);
    }
    slots_io(b, nl, s0, ns, pos, out, NULL, x, dim);
  }
}

static void forward(const qdm__pairs *p, const double *work, const prun *runs, int nrun, int rows,
                    const int *pos, const qdm_cplx *in, qdm_cplx *out) {
  int dim = 1 << p->n;
  int nb = (nrun + NLANE - 1) / NLANE, par = nb > 1 && qdm__parallel_worth((double)rows * dim * p->nops * 4);
#pragma omp parallel if (par)
  {
    VT *x = aligned_alloc(64, ((size_t)SLOTS * 2 * dim + p->gd) * sizeof *x);
    /* Batch t is chunk t of the work, and the build, this sweep and the
     * adjoint's all deal the chunks round-robin over the threads: a chunk's
     * values and its rows' states stay in the cache of the core that made
     * them (where the two cores of a VM sit on different dies, a line from
     * the other costs about 170 ns). Round-robin of batches sorted by size
     * balances as well as dynamic did: circuits at 2 threads on the
     * authors' step 0.79-0.80 -> 0.76 ms per step, 4 of 4 A/B rounds. */
#pragma omp for schedule(static, 1)
    for (int t = 0; t < nb; t++)
      if (x)
        batch_fwd(p, work, runs + t * NLANE, nrun - t * NLANE < NLANE ? nrun - t * NLANE : NLANE, pos, in, out, x,
                  x + (size_t)SLOTS * 2 * dim);
    free(x);
  }
}

/* Batch b's adjoint sweep of its rows (slots in passes of SLOTS; psi in
 * x, lam in y), R of every step summed per lane into Rb (nops x 32
 * vectors), the gradients into acc. */
static void batch_sweeps(const qdm__pairs *p, const prun *b, int nl, const int *pos, const adj_io *io, const VT *ch,
                         VT *x, VT *y, VT *Rb, VT *acc) {
  int dim = 1 << p->n;
  if (b[0].count <= SLOTS) { /* one pass: each step's gradients right after its sweep, one step's R at a time */
    int ns = b[0].count;
    slots_io(b, nl, 0, ns, pos, NULL, io->psi_out, x, dim);
    slots_io(b, nl, 0, ns, pos, NULL, io->lam_out, y, dim);
    for (int o = p->nops - 1; o >= 0; o--) {
      lanemat L;
      prefetch_values(p, ch, o - AHEAD);
      step_matrix(p, ch, o, &L);
      if (p->op[o].back) step_outer(x, y, ns, p->n, &p->op[o], Rb, Rb + 16, 0);
      step_adj(x, y, ns, p->n, &p->op[o], &L);
      if (!p->op[o].back) step_outer(x, y, ns, p->n, &p->op[o], Rb, Rb + 16, 0);
      step_grads(p, o, Rb, Rb + 16, ch, acc);
    }
    if (io->psi_in) slots_io(b, nl, 0, ns, pos, io->psi_in, NULL, x, dim);
    slots_io(b, nl, 0, ns, pos, io->lam_in, NULL, y, dim);
    return;
  }
  memset(Rb, 0, (size_t)p->nops * 32 * sizeof *Rb);
  for (int s0 = 0; s0 < b[0].count; s0 += SLOTS) {
    int ns = b[0].count - s0 < SLOTS ? b[0].count - s0 : SLOTS;
    slots_io(b, nl, s0, ns, pos, NULL, io->psi_out, x, dim);
    slots_io(b, nl, s0, ns, pos, NULL, io->lam_out, y, dim);
    for (int o = p->nops - 1; o >= 0; o--) {
      lanemat L;
      prefetch_values(p, ch, o - AHEAD);
      step_matrix(p, ch, o, &L);
      VT *Rr = Rb + (size_t)o * 32;
      if (p->op[o].back) step_outer(x, y, ns, p->n, &p->op[o], Rr, Rr + 16, 1);
      step_adj(x, y, ns, p->n, &p->op[o], &L);
      if (!p->op[o].back) step_outer(x, y, ns, p->n, &p->op[o], Rr, Rr + 16, 1);
    }
    if (io->psi_in) slots_io(b, nl, s0, ns, pos, io->psi_in, NULL, x, dim);
    slots_io(b, nl, s0, ns, pos, io->lam_in, NULL, y, dim);
  }
  for (int o = 0; o < p->nops; o++) step_grads(p, o, Rb + (size_t)o * 32, Rb + (size_t)o * 32 + 16, ch, acc);
}

/* Batch b: its adjoint sweep, then each lane's gradient sums into its
 * group's dtheta row. */
static void batch_adj(const qdm__pairs *p, const double *work, const prun *b, int nl, const int *pos,
                      const adj_io *io, double *dtheta, int ld, const int *ids, VT *x, VT *Rb, VT *acc,
                      VT *scratch) {
  int dim = 1 << p->n;
  const VT *ch = batch_chunk(p, work, b, nl, scratch);
  VT *y = x + (size_t)SLOTS * 2 * dim;
  memset(acc, 0, (size_t)p->npar * sizeof *acc);
  batch_sweeps(p, b, nl, pos, io, ch, x, y, Rb, acc);
  for (int l = 0; l < nl; l++) { /* the lanes' sums into their groups' rows */
    double *dl = dtheta + (size_t)(ids ? ids[b[l].g] : b[l].g) * ld;
    for (int i = 0; i < p->npar; i++) dl[i] += (double)acc[i][l];
  }
}

/* batches are whole groups: each writes its groups' dtheta rows only */
static int adjoint(const qdm__pairs *p, const double *work, const prun *runs, int nrun, int rows, const int *pos,
                   const adj_io *io, double *dtheta, int ld, const int *ids) {
  int dim = 1 << p->n, err = 0;
  int nb = (nrun + NLANE - 1) / NLANE, par = nb > 1 && qdm__parallel_worth((double)rows * dim * p->nops * 12);
  size_t nx = (size_t)SLOTS * 4 * dim, nR = (size_t)p->nops * 32;
#pragma omp parallel if (par) reduction(| : err)
  {
    VT *x = aligned_alloc(64, (nx + nR + p->npar + p->gd) * sizeof *x);
#pragma omp for schedule(static, 1) /* as forward's: each chunk on the thread that built it */
    for (int t = 0; t < nb; t++) {
      if (!x) err = 1;
      else batch_adj(p, work, runs + t * NLANE, nrun - t * NLANE < NLANE ? nrun - t * NLANE : NLANE, pos, io, dtheta,
                     ld, ids, x, x + nx, x + nx + nR, x + nx + nR + p->npar);
    }
    free(x);
  }
  return err;
}

#undef vc
#undef vadd
#undef vmul2
#undef vmul2_cj
#undef vscale
#undef vre
#undef mix
#undef rot_form
#undef mix_of
#undef lmul
#undef lmul_dense_real
#undef lmul_const
#undef pair_rows
#undef rot_rows
#undef lmul_rot
#undef lmul_vw
#undef prefetch_values
#undef rmul_dag
#undef lane_values
#undef factor_mix
#undef build_lanes
#undef step_matrix
#undef lane_matrix
#undef step_grads
#undef generator_trace
#undef mix_dag
#undef lanemat
#undef batch_chunk
#undef step_apply
#undef step_adj
#undef step_outer
#undef outer_sum
#undef slots_io
#undef batch_fwd
#undef forward
#undef batch_adj
#undef batch_sweeps
#undef adjoint
