/* pairs_tiles.h -- the pair program's sweeps over rows (forward, adjoint),
 * written once and included twice by pairs.c: for complex128 lanes (8
 * groups per 512-bit vector of doubles) and for complex64 lanes (16 groups
 * per vector of floats, qdm__pairs_new's c64). The build and the angle
 * gradients stay in double for both: a c64 sweep converts each step's
 * built 4x4s to float when it gathers them, and its summed R (dL/dM) back
 * to double before step_grads. Before including: LT the lane's real type,
 * NLANE the lanes, VT the vector type, SFX(name) the instance's names.
 * pairs.c's file comment has the math. */

typedef struct { VT r[16], i[16]; } SFX(lanemat);

static void SFX(lane_mats)(double *const *w, int o, SFX(lanemat) *L) {
  for (int l = 0; l < NLANE; l++) {
    const double *m = w[l] + (size_t)o * 32;
    for (int e = 0; e < 16; e++) L->r[e][l] = (LT)m[2 * e], L->i[e][l] = (LT)m[2 * e + 1];
  }
}

static void SFX(step_fwd)(VT *xr, VT *xi, int n, const pop *P, const SFX(lanemat) *L) {
  size_t cnt = (size_t)1 << (n - 2), ix[4];
  for (size_t k = 0; k < cnt; k++) {
    quad(P, k, ix);
    VT ar[4], ai[4];
    for (int j = 0; j < 4; j++) ar[j] = xr[ix[j]], ai[j] = xi[ix[j]];
    for (int l = 0; l < 4; l++) {
      VT sr = L->r[l * 4] * ar[0] - L->i[l * 4] * ai[0], si = L->r[l * 4] * ai[0] + L->i[l * 4] * ar[0];
      for (int j = 1; j < 4; j++) {
        sr += L->r[l * 4 + j] * ar[j] - L->i[l * 4 + j] * ai[j];
        si += L->r[l * 4 + j] * ai[j] + L->i[l * 4 + j] * ar[j];
      }
      xr[ix[l]] = sr, xi[ix[l]] = si;
    }
  }
}

/* psi <- M^dagger psi, lam <- M^dagger lam, R += lam_in psi_in^dagger (= M^dagger lam_out psi_in^dagger) */
static void SFX(step_adj)(VT *pr, VT *pi, VT *qr, VT *qi, int n, const pop *P, const SFX(lanemat) *L, VT *Rr, VT *Ri) {
  size_t cnt = (size_t)1 << (n - 2), ix[4];
  for (size_t k = 0; k < cnt; k++) {
    quad(P, k, ix);
    VT ar[4], ai[4], br[4], bi[4], cr[4], ci[4], dr[4], di[4];
    for (int j = 0; j < 4; j++) ar[j] = pr[ix[j]], ai[j] = pi[ix[j]], br[j] = qr[ix[j]], bi[j] = qi[ix[j]];
    for (int l = 0; l < 4; l++) { /* (M^dagger)_{lj} = conj(M_{jl}) */
      VT sr = L->r[l] * ar[0] + L->i[l] * ai[0], si = L->r[l] * ai[0] - L->i[l] * ar[0];
      VT tr = L->r[l] * br[0] + L->i[l] * bi[0], ti = L->r[l] * bi[0] - L->i[l] * br[0];
      for (int j = 1; j < 4; j++) {
        VT mr = L->r[j * 4 + l], mi = L->i[j * 4 + l];
        sr += mr * ar[j] + mi * ai[j], si += mr * ai[j] - mi * ar[j];
        tr += mr * br[j] + mi * bi[j], ti += mr * bi[j] - mi * br[j];
      }
      cr[l] = sr, ci[l] = si, dr[l] = tr, di[l] = ti;
    }
    for (int l = 0; l < 4; l++)
      for (int j = 0; j < 4; j++) {
        Rr[l * 4 + j] += dr[l] * cr[j] + di[l] * ci[j];
        Ri[l * 4 + j] += di[l] * cr[j] - dr[l] * ci[j];
      }
    for (int j = 0; j < 4; j++) pr[ix[j]] = cr[j], pi[ix[j]] = ci[j], qr[ix[j]] = dr[j], qi[ix[j]] = di[j];
  }
}

/* Slots [s0, s0 + ns) of batch b (nl lanes) in or out of x (ns x 2 x dim vectors). */
static void SFX(slots_io)(const prun *b, int nl, int s0, int ns, const int *pos, qdm_cplx *src, const qdm_cplx *csrc,
                          VT *x, int dim) {
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

static void SFX(batch_fwd)(const qdm__pairs *p, const double *work, const prun *b, int nl, const int *pos,
                           const qdm_cplx *in, qdm_cplx *out, VT *x, SFX(lanemat) *L) {
  int dim = 1 << p->n;
  double *w[NLANE];
  batch_lanes(p, work, b, nl, w, NLANE);
  for (int s0 = 0; s0 < b[0].count; s0 += SLOTS) {
    int ns = b[0].count - s0 < SLOTS ? b[0].count - s0 : SLOTS;
    SFX(slots_io)(b, nl, s0, ns, pos, NULL, in, x, dim);
    for (int o = 0; o < p->nops; o++) {
      SFX(lane_mats)(w, o, L);
      for (int s = 0; s < ns; s++)
        SFX(step_fwd)(x + (size_t)s * 2 * dim, x + (size_t)s * 2 * dim + dim, p->n, &p->op[o], L);
    }
    SFX(slots_io)(b, nl, s0, ns, pos, out, NULL, x, dim);
  }
}

static void SFX(forward)(const qdm__pairs *p, const double *work, const prun *runs, int nrun, int rows,
                         const int *pos, const qdm_cplx *in, qdm_cplx *out) {
  int dim = 1 << p->n;
  int nb = (nrun + NLANE - 1) / NLANE, par = nb > 1 && qdm__parallel_worth((double)rows * dim * p->nops * 4);
#pragma omp parallel if (par)
  {
    VT *x = aligned_alloc(64, (size_t)SLOTS * 2 * dim * sizeof *x);
    SFX(lanemat) *L = aligned_alloc(64, sizeof *L);
#pragma omp for schedule(dynamic)
    for (int t = 0; t < nb; t++)
      if (x && L)
        SFX(batch_fwd)(p, work, runs + t * NLANE, nrun - t * NLANE < NLANE ? nrun - t * NLANE : NLANE, pos, in, out, x, L);
    free(x), free(L);
  }
}

/* Batch b: the adjoint sweep of its rows (slots in passes of SLOTS), R of
 * every step summed per lane into Rb (nops x 32 vectors), then the grads. */
static void SFX(batch_adj)(const qdm__pairs *p, const double *work, const prun *b, int nl, const int *pos,
                           qdm_cplx *psi, qdm_cplx *lam, double *dtheta, int ld, const int *ids, VT *x, VT *Rb,
                           SFX(lanemat) *L) {
  int dim = 1 << p->n;
  double *w[NLANE], *dl[NLANE];
  batch_lanes(p, work, b, nl, w, NLANE);
  for (int l = 0; l < NLANE; l++) {
    int g = b[l < nl ? l : nl - 1].g;
    dl[l] = dtheta + (size_t)(ids ? ids[g] : g) * ld;
  }
  VT *y = x + (size_t)SLOTS * 2 * dim;
  if (b[0].count <= SLOTS) { /* one pass: each step's gradients right after its sweep, R in place */
    int ns = b[0].count;
    SFX(slots_io)(b, nl, 0, ns, pos, NULL, psi, x, dim);
    SFX(slots_io)(b, nl, 0, ns, pos, NULL, lam, y, dim);
    for (int o = p->nops - 1; o >= 0; o--) {
      SFX(lane_mats)(w, o, L);
      memset(Rb, 0, 32 * sizeof *Rb);
      for (int s = 0; s < ns; s++) {
        VT *xs = x + (size_t)s * 2 * dim, *ys = y + (size_t)s * 2 * dim;
        SFX(step_adj)(xs, xs + dim, ys, ys + dim, p->n, &p->op[o], L, Rb, Rb + 16);
      }
      SFX(grads)(p, o, Rb, Rb + 16, w, dl, nl);
    }
    SFX(slots_io)(b, nl, 0, ns, pos, psi, NULL, x, dim);
    SFX(slots_io)(b, nl, 0, ns, pos, lam, NULL, y, dim);
    return;
  }
  memset(Rb, 0, (size_t)p->nops * 32 * sizeof *Rb);
  for (int s0 = 0; s0 < b[0].count; s0 += SLOTS) {
    int ns = b[0].count - s0 < SLOTS ? b[0].count - s0 : SLOTS;
    SFX(slots_io)(b, nl, s0, ns, pos, NULL, psi, x, dim);
    SFX(slots_io)(b, nl, s0, ns, pos, NULL, lam, y, dim);
    for (int o = p->nops - 1; o >= 0; o--) {
      SFX(lane_mats)(w, o, L);
      VT *Rr = Rb + (size_t)o * 32;
      for (int s = 0; s < ns; s++) {
        VT *xs = x + (size_t)s * 2 * dim, *ys = y + (size_t)s * 2 * dim;
        SFX(step_adj)(xs, xs + dim, ys, ys + dim, p->n, &p->op[o], L, Rr, Rr + 16);
      }
    }
    SFX(slots_io)(b, nl, s0, ns, pos, psi, NULL, x, dim);
    SFX(slots_io)(b, nl, s0, ns, pos, lam, NULL, y, dim);
  }
  for (int o = 0; o < p->nops; o++) SFX(grads)(p, o, Rb + (size_t)o * 32, Rb + (size_t)o * 32 + 16, w, dl, nl);
}

/* batches are whole groups: each writes its groups' dtheta rows only */
static int SFX(adjoint)(const qdm__pairs *p, const double *work, const prun *runs, int nrun, int rows, const int *pos,
                        qdm_cplx *psi, qdm_cplx *lam, double *dtheta, int ld, const int *ids) {
  int dim = 1 << p->n, err = 0;
  int nb = (nrun + NLANE - 1) / NLANE, par = nb > 1 && qdm__parallel_worth((double)rows * dim * p->nops * 12);
#pragma omp parallel if (par) reduction(| : err)
  {
    VT *x = aligned_alloc(64, ((size_t)SLOTS * 4 * dim + (size_t)p->nops * 32) * sizeof *x);
    SFX(lanemat) *L = aligned_alloc(64, sizeof *L);
#pragma omp for schedule(dynamic)
    for (int t = 0; t < nb; t++) {
      if (!x || !L) err = 1;
      else SFX(batch_adj)(p, work, runs + t * NLANE, nrun - t * NLANE < NLANE ? nrun - t * NLANE : NLANE, pos, psi, lam,
                          dtheta, ld, ids, x, x + (size_t)SLOTS * 4 * dim, L);
    }
    free(x), free(L);
  }
  return err;
}
