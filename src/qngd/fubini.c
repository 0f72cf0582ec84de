/* fubini.c -- the Fubini-Study metric of a circuit's output state, exact
 * from the state vector (report section 8, eq. 26; Stokes et al., Quantum
 * 4, 269, 2020):
 *
 *   g_ij = Re( <d_i psi|d_j psi> - <d_i psi|psi><psi|d_j psi> ).
 *
 * All derivative states in one forward sweep. With psi_k = G_k ... G_1 psi_in
 * and a gate G_k(v), v = a theta_i + b,
 *
 *   d psi_out / d theta_i = sum_{k reads theta_i} a G_K ... G_{k+1} (dG_k/dv) psi_{k-1}
 *                         = sum_k a G_K ... G_{k+1} E_k psi_k,   E_k = (dG_k/dv) G_k^dagger,
 *
 * so after running gate k on the state and on every derivative row, we add
 * a E_k psi_k to row i and keep going: each row is then carried by the same
 * gates as the state. For a controlled gate C-G = P0 (x) I + P1 (x) G the
 * derivative is P1 (x) dG, so E_k acts on the controlled subspace and is zero
 * elsewhere. Rows start when their parameter is first read, so the sweep
 * costs about P/2 circuit passes for P parameters spread evenly. The
 * running itself is the engine's (qdm_run on slices of the gate list).
 *
 * The Gram matrix: with the derivative states as a real P x (2 rows dim)
 * matrix D (interleaved re/im), Re <d_i|d_j> summed over rows is D D^T (one
 * dsyrk), and with A_ir = <psi_r|d_ir> split as [Re A | Im A] (P x 2 rows),
 * the second term is A A^T (another dsyrk). For the block-diagonal and
 * diagonal metrics the rows of a block are dropped after its last gate
 * (see "the metric sweep" below). */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/qngd.h"

enum { CHUNK_BYTES = 64 << 20 };

const qdm_enum_name qdm_metric_names[] = {
    {"full", QDM_METRIC_FULL}, {"block", QDM_METRIC_BLOCK}, {"diag", QDM_METRIC_DIAG}, {NULL, 0}};

int qdm_metric_layer_bounds(int P, int nblocks, int *bounds) {
  if (!bounds) return qdm_fail(QDM_EINVAL, "qdm_metric_layer_bounds: bounds is NULL");
  if (P < 1 || nblocks < 1 || P % nblocks)
    return qdm_fail(QDM_EINVAL, "qdm_metric_layer_bounds: P = %d parameters do not split into %d equal blocks", P,
                    nblocks);
  for (int k = 0; k <= nblocks; k++) bounds[k] = k * (P / nblocks);
  return QDM_OK;
}

/* ---------------- argument checks ---------------- */

static int check_kind(const char *who, int P, int kind, int nblocks, const int *bounds) {
  if (kind != QDM_METRIC_FULL && kind != QDM_METRIC_BLOCK && kind != QDM_METRIC_DIAG)
    return qdm_fail(QDM_EINVAL, "%s: kind = %d, expected QDM_METRIC_FULL, _BLOCK or _DIAG", who, kind);
  if (kind != QDM_METRIC_BLOCK) return QDM_OK;
  if (nblocks < 1 || !bounds)
    return qdm_fail(QDM_EINVAL, "%s: block metric needs nblocks >= 1 and bounds (got %d, %s)", who, nblocks,
                    bounds ? "set" : "NULL");
  if (bounds[0] != 0 || bounds[nblocks] != P)
    return qdm_fail(QDM_EINVAL, "%s: bounds must run from 0 to P = %d (got %d .. %d)", who, P, bounds[0],
                    bounds[nblocks]);
  for (int k = 0; k < nblocks; k++)
    if (bounds[k + 1] <= bounds[k])
      return qdm_fail(QDM_EINVAL, "%s: bounds[%d] = %d <= bounds[%d] = %d (blocks must be non-empty)", who, k + 1,
                      bounds[k + 1], k, bounds[k]);
  return QDM_OK;
}

static int check_circuit(const char *who, const qdm_circuit *c, const double *theta, const double *x, int ldx,
                         int rows) {
  if (!c) return qdm_fail(QDM_EINVAL, "%s: circuit is NULL", who);
  if (rows < 1) return qdm_fail(QDM_EINVAL, "%s: rows = %d, expected >= 1", who, rows);
  if (c->nparams > 0 && !theta)
    return qdm_fail(QDM_EINVAL, "%s: circuit uses %d parameters but theta is NULL", who, c->nparams);
  if (c->ninputs > 0 && (!x || ldx < c->ninputs))
    return qdm_fail(QDM_EINVAL, "%s: circuit reads %d inputs per row but x is %s (ldx %d)", who, c->ninputs,
                    x ? "too narrow" : "NULL", ldx);
  return QDM_OK;
}

/* ---------------- the derivative sweep ---------------- */

static int reads_param(const qdm_gate *g) {
  for (int j = 0; j < qdm_gate_nangles(g); j++)
    if (g->ang[j].src >= 0) return 1;
  return 0;
}

static int reads_input(const qdm_gate *g) {
  for (int j = 0; j < qdm_gate_nangles(g); j++)
    if (g->ang[j].src <= -2) return 1;
  return 0;
}

/* E = (dG/dv_j) G^dagger for a gate of nt <= 2 targets (d = 2^nt). */
static void gen_matrix(const qdm_circuit *c, const qdm_gate *g, const double *v, int j, qdm_cplx *E) {
  qdm_cplx M[16], dM[16];
  int d = 1 << g->nt;
  qdm_gate_matrix(c, g, v, M, j, dM);
  for (int l = 0; l < d; l++)
    for (int m = 0; m < d; m++) {
      qdm_cplx s = 0;
      for (int k = 0; k < d; k++) s += dM[l * d + k] * conj(M[m * d + k]);
      E[l * d + m] = s;
    }
}

/* out += coef E in, E acting on the gate's targets inside its controlled
 * subspace (zero outside it: the derivative of a controlled gate). */
static void apply_gen(qdm_cplx *out, const qdm_cplx *in, int n, const qdm_gate *g, const qdm_cplx *E,
                      double coef) {
  size_t dim = (size_t)1 << n, tmask = 0, off[4];
  int d = 1 << g->nt;
  for (int b = 0; b < g->nt; b++) tmask |= (size_t)1 << g->t[b];
  for (int l = 0; l < d; l++) {
    off[l] = 0;
    for (int b = 0; b < g->nt; b++)
      if (l >> b & 1) off[l] |= (size_t)1 << g->t[b];
  }
  size_t cm = g->cmask;
  for (size_t base = 0; base < dim; base++) {
    if ((base & tmask) || (base & cm) != cm) continue;
    qdm_cplx a[4];
    for (int l = 0; l < d; l++) a[l] = in[base | off[l]];
    for (int l = 0; l < d; l++) {
      qdm_cplx s = 0;
      for (int m = 0; m < d; m++) s += E[l * d + m] * a[m];
      out[base | off[l]] += coef * s;
    }
  }
}

/* Runs gates [from, to) of c on blocks 0..nblk-1 of buf (each R rows).
 * Circuits with per-row inputs run block by block so each row meets its
 * own inputs. */
static int run_slice(const qdm_circuit *c, int from, int to, const double *theta, const double *x, int ldx,
                     qdm_cplx *buf, int R, int nblk) {
  if (to <= from) return QDM_OK;
  qdm_circuit v = qdm_circuit_view(c, from, to);
  size_t dim = (size_t)1 << c->n;
  if (c->ninputs == 0) return qdm_run(&v, theta, NULL, 0, buf, R * nblk);
  for (int s = 0; s < nblk; s++) {
    int e = qdm_run(&v, theta, x, ldx, buf + (size_t)s * R * dim, R);
    if (e) return e;
  }
  return QDM_OK;
}

static uint32_t support(const qdm_gate *g) {
  uint32_t m = g->cmask;
  for (int b = 0; b < g->nt; b++) m |= 1u << g->t[b];
  return m;
}

/* Adds a E_j psi for every parameter angle j of gate g to its parameter's
 * row (activating rows on first use); psi = the R states of block 0. */
static void add_generators(const qdm_circuit *c, const qdm_gate *g, const double *theta, const double *x, int ldx,
                           qdm_cplx *buf, int R, int *slot_of, int *param_of, int *m) {
  size_t dim = (size_t)1 << c->n;
  int per_row = reads_input(g);
  for (int j = 0; j < qdm_gate_nangles(g); j++) {
    const qdm_angle *an = &g->ang[j];
    if (an->src < 0 || an->a == 0) continue;
    if (!slot_of[an->src]) {
      slot_of[an->src] = ++*m;
      param_of[*m] = an->src;
    }
    qdm_cplx E[16], *dst = buf + (size_t)slot_of[an->src] * R * dim;
    double v[3];
    for (int r = 0; r < R; r++) {
      if (r == 0 || per_row) {
        qdm_gate_angles(g, theta, x ? x + (size_t)r * ldx : NULL, v);
        gen_matrix(c, g, v, j, E);
      }
      apply_gen(dst + r * dim, buf + r * dim, c->n, g, E, an->a);
    }
  }
}

/* The sweep on R rows. buf: (1 + P) blocks of R states, zeroed, block 0
 * holding the input states; slot_of[i] (P values) receives the block of
 * parameter i (0 if the circuit never reads it).
 * Consecutive parametric gates on disjoint qubits (a layer of rotations)
 * form one group: E_k commutes with the group's later gates, so
 * G_last ... G_{k+1} E_k psi_k = E_k psi_last and all of the group's
 * generators can be applied after one engine call for the whole group. */
static int group_end(const qdm_circuit *c, int k) {
  uint32_t used = support(&c->g[k]);
  int end = k + 1;
  while (end < c->ngates && reads_param(&c->g[end]) && !(support(&c->g[end]) & used)) used |= support(&c->g[end++]);
  return end;
}

static int sweep(const qdm_circuit *c, const double *theta, const double *x, int ldx, qdm_cplx *buf, int R,
                 int *slot_of, int *param_of) {
  int P = c->nparams, m = 0, pos = 0;
  for (int i = 0; i < P; i++) slot_of[i] = 0;
  for (int k = 0; k < c->ngates; k++) {
    if (!reads_param(&c->g[k])) continue;
    int end = group_end(c, k);
    int e = run_slice(c, pos, end, theta, x, ldx, buf, R, 1 + m);
    if (e) return e;
    for (int i = k; i < end; i++) add_generators(c, &c->g[i], theta, x, ldx, buf, R, slot_of, param_of, &m);
    pos = end;
    k = end - 1;
  }
  return run_slice(c, pos, c->ngates, theta, x, ldx, buf, R, 1 + m);
}

/* The sweep makes one engine call per parametric gate (group), each a few
 * gates on (1 + P) R states, and the Gram matrix is a handful of small
 * BLAS calls. Below ~2^20 amplitude updates per gate, waking a second
 * thread per call costs more than the call (docs/architecture.md, "Where the time goes": up to a
 * millisecond here, worse when the machine is loaded), so such calls run
 * on the calling thread: omp_set_num_threads changes only this thread's
 * setting, which the engine's regions and OpenBLAS (OpenMP build) follow.
 * Returns the setting to restore, or 0. */
static int serial_begin(double states) {
  if (states >= (double)(1 << 20)) return 0;
  int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  return saved;
}

static void serial_end(int saved) {
  if (saved > 0) omp_set_num_threads(saved);
}

/* Jacobian of R rows into dpsi (P x R x dim, parameter-major); psi in/out. */
static int jacobian(const qdm_circuit *c, const double *theta, const double *x, int ldx, qdm_cplx *psi, int R,
                    qdm_cplx *dpsi) {
  size_t dim = (size_t)1 << c->n, blk = (size_t)R * dim;
  int P = c->nparams;
  qdm_cplx *buf = calloc((1 + (size_t)P) * blk, sizeof *buf);
  int *slot = malloc((2 * (size_t)P + 1) * sizeof *slot);
  if (!buf || !slot) {
    free(buf);
    free(slot);
    return qdm_fail(QDM_ENOMEM, "qdm_state_jacobian: out of memory for %d derivative states of %zu rows x %zu",
                    P, (size_t)R, dim);
  }
  memcpy(buf, psi, blk * sizeof *buf);
  int saved = serial_begin((double)(1 + P) * blk);
  int e = sweep(c, theta, x, ldx, buf, R, slot, slot + P);
  serial_end(saved);
  if (!e) {
    memcpy(psi, buf, blk * sizeof *buf);
    for (int i = 0; i < P; i++) {
      if (slot[i]) memcpy(dpsi + i * blk, buf + slot[i] * blk, blk * sizeof *buf);
      else memset(dpsi + i * blk, 0, blk * sizeof *buf);
    }
  }
  free(buf);
  free(slot);
  return e;
}

int qdm_state_jacobian(const qdm_circuit *c, const double *theta, const double *x, int ldx, qdm_cplx *psi,
                       int rows, qdm_cplx *dpsi) {
  int e = check_circuit("qdm_state_jacobian", c, theta, x, ldx, rows);
  if (e) return e;
  if (!psi || (c->nparams > 0 && !dpsi))
    return qdm_fail(QDM_EINVAL, "qdm_state_jacobian: %s is NULL", !psi ? "psi" : "dpsi");
  return jacobian(c, theta, x, ldx, psi, rows, dpsi);
}

/* ---------------- the Gram matrix ---------------- */

/* The w x w upper triangle at g (leading dimension ldg) += scale (Re D D^H - A A^T)
 * for w derivative rows D of R states each (row i at D + i R dim), with
 * A_ir = <psi_r|d_ir> stored as [Re | Im] (w x 2R, workspace). */
static void gram_add(const qdm_cplx *psi, const qdm_cplx *D, int w, int dim, int R, double scale, double *g, int ldg,
                     double *A) {
  size_t blk = (size_t)R * dim;
  for (int i = 0; i < w; i++)
    for (int r = 0; r < R; r++) {
      qdm_cplx a;
      cblas_zdotc_sub(dim, psi + (size_t)r * dim, 1, D + i * blk + (size_t)r * dim, 1, &a);
      A[(size_t)i * 2 * R + r] = creal(a);
      A[(size_t)i * 2 * R + R + r] = cimag(a);
    }
  const double *Dr = (const double *)D; /* w x 2 blk real, interleaved re/im */
  if (w == 1) {
    g[0] += scale * (cblas_ddot(2 * blk, Dr, 1, Dr, 1) - cblas_ddot(2 * R, A, 1, A, 1));
    return;
  }
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, w, 2 * blk, scale, Dr, 2 * blk, 1.0, g, ldg);
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, w, 2 * R, -scale, A, 2 * R, 1.0, g, ldg);
}

/* Blocks of each kind as parameter ranges: FULL one, BLOCK the caller's,
 * DIAG one per parameter. */
static int block_count(int P, int kind, int nblocks) {
  return kind == QDM_METRIC_FULL ? 1 : kind == QDM_METRIC_BLOCK ? nblocks : P;
}

static void block_range(int P, int kind, const int *bounds, int b, int *lo, int *hi) {
  if (kind == QDM_METRIC_FULL) { *lo = 0; *hi = P; }
  else if (kind == QDM_METRIC_BLOCK) { *lo = bounds[b]; *hi = bounds[b + 1]; }
  else { *lo = b; *hi = b + 1; }
}

/* g += scale * metric blocks from a parameter-major Jacobian (P x R x dim). */
static void accumulate(const qdm_cplx *psi, const qdm_cplx *dpsi, int P, int dim, int R, int kind, int nblocks,
                       const int *bounds, double scale, double *g, double *A) {
  size_t blk = (size_t)R * dim;
  for (int b = 0; b < block_count(P, kind, nblocks); b++) {
    int lo, hi;
    block_range(P, kind, bounds, b, &lo, &hi);
    gram_add(psi, dpsi + lo * blk, hi - lo, dim, R, scale, g + (size_t)lo * P + lo, P, A);
  }
}

static void mirror(double *g, int P) {
  for (int i = 0; i < P; i++)
    for (int j = 0; j < i; j++) g[(size_t)i * P + j] = g[(size_t)j * P + i];
}

int qdm_fs_metric_from_jacobian(const qdm_cplx *psi, const qdm_cplx *dpsi, int P, int dim, int rows, int kind,
                                int nblocks, const int *bounds, double *g) {
  const char *who = "qdm_fs_metric_from_jacobian";
  if (P < 0 || dim < 1 || rows < 1)
    return qdm_fail(QDM_EINVAL, "%s: P = %d, dim = %d, rows = %d (expected P >= 0, dim >= 1, rows >= 1)", who, P,
                    dim, rows);
  if (!psi || (P > 0 && (!dpsi || !g))) return qdm_fail(QDM_EINVAL, "%s: NULL psi, dpsi or g", who);
  int e = check_kind(who, P, kind, nblocks, bounds);
  if (e || P == 0) return e;
  double *A = malloc((size_t)P * 2 * rows * sizeof *A);
  if (!A) return qdm_fail(QDM_ENOMEM, "%s: out of memory", who);
  memset(g, 0, (size_t)P * P * sizeof *g);
  accumulate(psi, dpsi, P, dim, rows, kind, nblocks, bounds, 1.0 / rows, g, A);
  mirror(g, P);
  free(A);
  return QDM_OK;
}

/* ---------------- the metric sweep: rows retire after their block ----------------
 * After the last gate that reads a block's parameters, every remaining gate
 * acts on the block's derivative rows and on the state alike; unitaries keep
 * <d_i|d_j> and <psi|d_i>, so the block's Gram matrix can be taken right
 * there and its rows dropped. A per-layer block then costs a pass over its
 * own layer instead of over the rest of the circuit, a diagonal entry of a
 * parameter read by one gate costs no propagation at all, and FULL (one
 * block, retired after the last parametric gate) is the plain sweep. */

typedef struct {
  const qdm_circuit *c;
  const double *theta, *x;
  int ldx, R, P, kind, nblocks;
  const int *bounds;
  int *blk_of;   /* P: block of each parameter */
  int *last;     /* per block: index of the last gate reading it (-1: none) */
  int *slot_of;  /* P: row block of each parameter, 0 = none */
  int *param_of; /* P + 1: parameter of each row block */
  qdm_cplx *buf; /* (1 + P) x R states: block 0 the state, then derivative rows */
  qdm_cplx *T;   /* widest block x R states: a block's rows gathered */
  double *A;     /* widest block x 2R */
  double scale, *g;
  int m;         /* derivative row blocks in use */
} msweep;

static void retire(msweep *w, int b) {
  size_t dim = (size_t)1 << w->c->n, blk = (size_t)w->R * dim;
  int lo, hi, any = 0;
  block_range(w->P, w->kind, w->bounds, b, &lo, &hi);
  for (int i = lo; i < hi; i++) any |= w->slot_of[i] != 0;
  if (!any) return;
  for (int i = lo; i < hi; i++) {
    qdm_cplx *d = w->T + (size_t)(i - lo) * blk;
    if (w->slot_of[i]) memcpy(d, w->buf + (size_t)w->slot_of[i] * blk, blk * sizeof *d);
    else memset(d, 0, blk * sizeof *d);
  }
  gram_add(w->buf, w->T, hi - lo, (int)dim, w->R, w->scale, w->g + (size_t)lo * w->P + lo, w->P, w->A);
  /* compact the rows still in use; freed rows are zeroed for reuse */
  int keep = 0, old = w->m;
  for (int s = 1; s <= old; s++) {
    int p = w->param_of[s];
    if (w->blk_of[p] == b) {
      w->slot_of[p] = 0;
      continue;
    }
    if (++keep != s) memcpy(w->buf + (size_t)keep * blk, w->buf + (size_t)s * blk, blk * sizeof *w->buf);
    w->slot_of[p] = keep;
    w->param_of[keep] = p;
  }
  memset(w->buf + (size_t)(keep + 1) * blk, 0, (size_t)(old - keep) * blk * sizeof *w->buf);
  w->m = keep;
}

static int metric_sweep(msweep *w) {
  const qdm_circuit *c = w->c;
  int pos = 0;
  w->m = 0;
  for (int i = 0; i < w->P; i++) w->slot_of[i] = 0;
  for (int k = 0; k < c->ngates; k++) {
    if (!reads_param(&c->g[k])) continue;
    int end = group_end(c, k);
    int e = run_slice(c, pos, end, w->theta, w->x, w->ldx, w->buf, w->R, 1 + w->m);
    if (e) return e;
    for (int i = k; i < end; i++)
      add_generators(c, &c->g[i], w->theta, w->x, w->ldx, w->buf, w->R, w->slot_of, w->param_of, &w->m);
    for (int i = k; i < end; i++)
      for (int j = 0; j < qdm_gate_nangles(&c->g[i]); j++) {
        const qdm_angle *an = &c->g[i].ang[j];
        if (an->src >= 0 && an->a != 0 && w->last[w->blk_of[an->src]] == i) retire(w, w->blk_of[an->src]);
      }
    pos = end;
    k = end - 1;
  }
  return QDM_OK; /* every block retired at its last gate: the rest of the circuit is not needed */
}

static int check_states(const char *who, const qdm_cplx *psi, size_t dim, int rows) {
  for (int r = 0; r < rows; r++) {
    double nn = qdm_norm2(psi + (size_t)r * dim, dim);
    if (!(fabs(nn - 1) <= 1e-6))
      return qdm_fail(QDM_EINVAL, "%s: input state %d has squared norm %.9g, expected 1", who, r, nn);
  }
  return QDM_OK;
}

/* blk_of, last and the widest block for this circuit and kind */
static int plan(msweep *w) {
  const qdm_circuit *c = w->c;
  int P = w->P, nb = block_count(P, w->kind, w->nblocks), widest = 1;
  for (int b = 0; b < nb; b++) {
    int lo, hi;
    block_range(P, w->kind, w->bounds, b, &lo, &hi);
    for (int i = lo; i < hi; i++) w->blk_of[i] = b;
    if (hi - lo > widest) widest = hi - lo;
    w->last[b] = -1;
  }
  for (int k = 0; k < c->ngates; k++)
    for (int j = 0; j < qdm_gate_nangles(&c->g[k]); j++) {
      const qdm_angle *an = &c->g[k].ang[j];
      if (an->src >= 0 && an->a != 0) w->last[w->blk_of[an->src]] = k;
    }
  return widest;
}

int qdm_fs_metric(const qdm_circuit *c, const double *theta, const double *x, int ldx, const qdm_cplx *psi_in,
                  int rows, int kind, int nblocks, const int *bounds, double *g) {
  const char *who = "qdm_fs_metric";
  int e = check_circuit(who, c, theta, x, ldx, rows);
  if (e) return e;
  int P = c->nparams;
  if (P > 0 && !g) return qdm_fail(QDM_EINVAL, "%s: g is NULL", who);
  size_t dim = (size_t)1 << c->n;
  if ((e = check_kind(who, P, kind, nblocks, bounds))) return e;
  if (psi_in && (e = check_states(who, psi_in, dim, rows))) return e;
  if (P == 0) return QDM_OK;
  msweep w = {c, theta, x, ldx, 0, P, kind, nblocks, bounds, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1.0 / rows, g, 0};
  int nb = block_count(P, kind, nblocks);
  w.blk_of = malloc((size_t)(3 * P + 1 + nb) * sizeof *w.blk_of);
  if (!w.blk_of) return qdm_fail(QDM_ENOMEM, "%s: out of memory", who);
  w.slot_of = w.blk_of + P;
  w.param_of = w.slot_of + P;
  w.last = w.param_of + P + 1;
  int widest = plan(&w);
  /* rows per chunk: the sweep holds 1 + P row blocks, the gathered block `widest` */
  size_t per_row = ((size_t)P + 1 + widest) * dim * sizeof(qdm_cplx);
  int R = per_row * rows <= CHUNK_BYTES ? rows : (int)(CHUNK_BYTES / per_row > 0 ? CHUNK_BYTES / per_row : 1);
  w.buf = malloc((1 + (size_t)P) * R * dim * sizeof *w.buf);
  w.T = malloc((size_t)widest * R * dim * sizeof *w.T);
  w.A = malloc((size_t)widest * 2 * R * sizeof *w.A);
  if (!w.buf || !w.T || !w.A) {
    e = qdm_fail(QDM_ENOMEM, "%s: out of memory for %d derivative states x %d rows of dimension %zu", who, P, R, dim);
  } else {
    memset(g, 0, (size_t)P * P * sizeof *g);
    int saved = serial_begin((double)(1 + P) * R * dim);
    for (int r0 = 0; r0 < rows && !e; r0 += R) {
      w.R = rows - r0 < R ? rows - r0 : R;
      memset(w.buf, 0, (1 + (size_t)P) * w.R * dim * sizeof *w.buf);
      if (psi_in) memcpy(w.buf, psi_in + (size_t)r0 * dim, (size_t)w.R * dim * sizeof *w.buf);
      else qdm_zero_state(w.buf, c->n, w.R);
      w.x = x ? x + (size_t)r0 * ldx : NULL;
      e = metric_sweep(&w);
    }
    serial_end(saved);
    if (!e) mirror(g, P);
  }
  free(w.buf);
  free(w.T);
  free(w.A);
  free(w.blk_of);
  return e;
}

int qdm_qngd_refresh(qdm_qngd *o, const qdm_circuit *c, const double *theta, const double *x, int ldx,
                     const qdm_cplx *psi_in, int rows) {
  if (!o || !o->chol) return qdm_fail(QDM_EINVAL, "qdm_qngd_refresh: optimizer is NULL or not initialised");
  if (!c || c->nparams != o->P)
    return qdm_fail(QDM_EINVAL, "qdm_qngd_refresh: circuit has %d parameters, the optimizer %d", c ? c->nparams : -1,
                    o->P);
  double *g = malloc((size_t)o->P * o->P * sizeof *g);
  if (!g) return qdm_fail(QDM_ENOMEM, "qdm_qngd_refresh: out of memory for a %d x %d metric", o->P, o->P);
  int e = qdm_fs_metric(c, theta, x, ldx, psi_in, rows, o->kind, o->nblocks, o->bounds, g);
  if (!e) e = qdm_qngd_set_metric(o, g);
  free(g);
  return e;
}
