/* density_run.c -- circuits on density matrices, with a one-qubit noise
 * channel after every gate (the hardware-realism path), and the exact
 * backward pass through them.
 *
 * A d x d matrix rho (row-major, rho[i*d + j]) is also a state vector of 2n
 * qubits: qubits 0..n-1 index the column j, qubits n..2n-1 the row i. Then
 * U rho U^dagger = (U (x) conj U) vec(rho): the gate's local matrix on the
 * row qubits t + n and its conjugate on the column qubits t (QuEST's trick),
 * so one local kernel serves both sides. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "qdm/density.h"

/* ---- the local kernel shared by gates on vectors and on density matrices ---- */

/* Inserts a zero bit at each (ascending) position of pos[0..k-1]. */
static inline size_t insert_zeros(size_t s, const int *pos, int k) {
  for (int b = 0; b < k; b++) {
    size_t lo = s & (((size_t)1 << pos[b]) - 1);
    s = ((s >> pos[b]) << (pos[b] + 1)) | lo;
  }
  return s;
}

static void dm_apply_local(qdm_cplx *v, int nq, int k, const int *t, uint64_t cmask, const qdm_cplx *M,
                    int zero_rest) {
  int d = 1 << k, srt[QDM_MAX_TARGETS];
  size_t off[1 << QDM_MAX_TARGETS];
  for (int b = 0; b < k; b++) srt[b] = t[b];
  for (int a = 1; a < k; a++) /* insertion sort: k <= 6 */
    for (int b = a; b > 0 && srt[b - 1] > srt[b]; b--) { int x = srt[b]; srt[b] = srt[b - 1]; srt[b - 1] = x; }
  for (int l = 0; l < d; l++) {
    off[l] = 0;
    for (int b = 0; b < k; b++)
      if (l >> b & 1) off[l] |= (size_t)1 << t[b];
  }
  size_t nsub = (size_t)1 << (nq - k);
  if (k == 1) {
    size_t bit = off[1];
    qdm_cplx m00 = M[0], m01 = M[1], m10 = M[2], m11 = M[3];
    for (size_t s = 0; s < nsub; s++) {
      size_t i = insert_zeros(s, srt, 1);
      if ((i & cmask) != cmask) {
        if (zero_rest) v[i] = v[i | bit] = 0;
        continue;
      }
      qdm_cplx a = v[i], b = v[i | bit];
      v[i] = m00 * a + m01 * b;
      v[i | bit] = m10 * a + m11 * b;
    }
    return;
  }
  qdm_cplx x[1 << QDM_MAX_TARGETS];
  for (size_t s = 0; s < nsub; s++) {
    size_t i = insert_zeros(s, srt, k);
    if ((i & cmask) != cmask) {
      if (zero_rest)
        for (int l = 0; l < d; l++) v[i + off[l]] = 0;
      continue;
    }
    for (int l = 0; l < d; l++) x[l] = v[i + off[l]];
    for (int r = 0; r < d; r++) {
      qdm_cplx y = 0;
      for (int l = 0; l < d; l++) y += M[r * d + l] * x[l];
      v[i + off[r]] = y;
    }
  }
}

/* rho <- A rho B^dagger for the local matrices A (rows) and B (columns) on
 * the same targets and controls; with A = B = U this is U rho U^dagger.
 * zero_rest zeroes rows outside the control subspace (for dU = P_c (x) dM). */
static void dm_apply_lr(qdm_cplx *rho, int n, int k, const int *t, uint32_t cmask, const qdm_cplx *A,
                 const qdm_cplx *B, int zero_rest) {
  int d = 1 << k, tr[QDM_MAX_TARGETS];
  qdm_cplx Bc[1 << (2 * QDM_MAX_TARGETS)];
  for (int b = 0; b < k; b++) tr[b] = t[b] + n;
  for (int i = 0; i < d * d; i++) Bc[i] = conj(B[i]);
  dm_apply_local(rho, 2 * n, k, tr, (uint64_t)cmask << n, A, zero_rest);
  dm_apply_local(rho, 2 * n, k, t, cmask, Bc, 0);
}

/* ---- one-qubit noise ---- */

int qdm_noise_parse(const char *s, qdm_noise *out) {
  if (!s || !out) return qdm_fail(QDM_EINVAL, "qdm_noise_parse: NULL argument");
  out->kind = QDM_NOISE_NONE;
  out->p = 0;
  if (!strcmp(s, "none")) return QDM_OK;
  const char *colon = strchr(s, ':');
  size_t len = colon ? (size_t)(colon - s) : strlen(s);
  int kind = -1;
  if ((len == 12 && !strncmp(s, "depolarizing", len)) || (len == 5 && !strncmp(s, "depol", len))) kind = QDM_NOISE_DEPOL;
  if ((len == 17 && !strncmp(s, "amplitude_damping", len)) || (len == 7 && !strncmp(s, "ampdamp", len)))
    kind = QDM_NOISE_AMPDAMP;
  char *end = NULL;
  double p = colon ? strtod(colon + 1, &end) : NAN;
  if (kind < 0 || !colon || end == colon + 1 || *end || !(p >= 0 && p <= 1))
    return qdm_fail(QDM_EINVAL,
                    "noise '%s': expected none, depolarizing:P or amplitude_damping:G with P, G in [0, 1]", s);
  out->kind = kind;
  out->p = p;
  return QDM_OK;
}

/* The channel on the 2x2 block [[a, b], [c, e]] of qubit q (row bit q + n,
 * column bit q), for every setting of the other qubits.
 *  depolarizing:  (1-p) rho + p I/2 (x) tr_q rho; a Pauli channel, self-adjoint.
 *  amp. damping:  a' = a + g e, b' = s b, c' = s c, e' = (1-g) e, s = sqrt(1-g);
 *                 adjoint (sum K^dagger G K): a' = a, e' = (1-g) e + g a. */
static void noise1(qdm_cplx *rho, int n, int q, const qdm_noise *nz, int adjoint) {
  if (!nz || nz->kind == QDM_NOISE_NONE || nz->p == 0) return;
  int pos[2] = {q, q + n};
  size_t cb = (size_t)1 << q, rb = (size_t)1 << (q + n), nsub = (size_t)1 << (2 * n - 2);
  double p = nz->p, s = sqrt(1 - p);
  for (size_t k = 0; k < nsub; k++) {
    size_t i = insert_zeros(k, pos, 2);
    qdm_cplx a = rho[i], b = rho[i | cb], c = rho[i | rb], e = rho[i | rb | cb];
    if (nz->kind == QDM_NOISE_DEPOL) {
      qdm_cplx m = 0.5 * p * (a + e);
      rho[i] = (1 - p) * a + m;
      rho[i | rb | cb] = (1 - p) * e + m;
      rho[i | cb] = (1 - p) * b;
      rho[i | rb] = (1 - p) * c;
    } else if (!adjoint) {
      rho[i] = a + p * e;
      rho[i | rb | cb] = (1 - p) * e;
      rho[i | cb] = s * b;
      rho[i | rb] = s * c;
    } else {
      rho[i | rb | cb] = (1 - p) * e + p * a;
      rho[i | cb] = s * b;
      rho[i | rb] = s * c;
    }
  }
}

static int noise_check(const qdm_noise *nz, const char *who) {
  if (!nz) return QDM_OK;
  if (nz->kind < QDM_NOISE_NONE || nz->kind > QDM_NOISE_AMPDAMP)
    return qdm_fail(QDM_EINVAL, "%s: unknown noise kind %d", who, nz->kind);
  if (!(nz->p >= 0 && nz->p <= 1)) return qdm_fail(QDM_EINVAL, "%s: noise strength %g, expected in [0, 1]", who, nz->p);
  return QDM_OK;
}

static int dm_n_check(int n, int rows, const char *who) {
  if (n < 1 || n > 13) return qdm_fail(QDM_EINVAL, "%s: n = %d qubits, expected 1..13 for density matrices", who, n);
  if (rows < 0) return qdm_fail(QDM_EINVAL, "%s: rows = %d, expected >= 0", who, rows);
  return QDM_OK;
}

int qdm_dm_noise1(qdm_cplx *rho, int n, int q, const qdm_noise *noise, int adjoint, int rows) {
  int r = dm_n_check(n, rows, "qdm_dm_noise1");
  if (!r) r = noise_check(noise, "qdm_dm_noise1");
  if (r) return r;
  if (!rho) return qdm_fail(QDM_EINVAL, "qdm_dm_noise1: rho is NULL");
  if (q < 0 || q >= n) return qdm_fail(QDM_EINVAL, "qdm_dm_noise1: qubit %d out of range 0..%d", q, n - 1);
  size_t dd = (size_t)1 << (2 * n);
  for (int k = 0; k < rows; k++) noise1(rho + k * dd, n, q, noise, adjoint);
  return QDM_OK;
}

/* noise on every qubit gate g touches */
static void gate_noise(qdm_cplx *rho, int n, const qdm_gate *g, const qdm_noise *nz, int adjoint) {
  if (!nz || nz->kind == QDM_NOISE_NONE || nz->p == 0) return;
  uint32_t touched = g->cmask;
  for (int b = 0; b < g->nt; b++) touched |= 1u << g->t[b];
  for (int q = 0; q < n; q++)
    if (touched >> q & 1) noise1(rho, n, q, nz, adjoint);
}

/* ---- mid-circuit measurement ---- */

/* Non-selective Z measurement of qubit q: rho <- P0 rho P0 + P1 rho P1,
 * i.e. the entries <i|rho|j> with bit q of i and j different become 0.
 * A projector sum is its own adjoint, so this is also its backward. */
static void dephase(qdm_cplx *rho, int n, int q) {
  size_t d = (size_t)1 << n;
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++)
      if ((i ^ j) >> q & 1) rho[i * d + j] = 0;
}

int qdm_dm_measure_z(qdm_cplx *rho, int n, int q, int rows) {
  int r = dm_n_check(n, rows, "qdm_dm_measure_z");
  if (r) return r;
  if (!rho) return qdm_fail(QDM_EINVAL, "qdm_dm_measure_z: rho is NULL");
  if (q < 0 || q >= n) return qdm_fail(QDM_EINVAL, "qdm_dm_measure_z: qubit %d out of range 0..%d", q, n - 1);
  size_t dd = (size_t)1 << (2 * n);
  for (int k = 0; k < rows; k++) dephase(rho + k * dd, n, q);
  return QDM_OK;
}

/* What happens between the gates: the noise channel after each gate, and
 * the measurements (meas[k].before = l: just before gate l). */
typedef struct {
  const qdm_noise *nz;
  const qdm_dm_meas *meas;
  int nm;
} dm_ctx;

static void measure_at(qdm_cplx *rho, int n, const dm_ctx *x, int before) {
  for (int k = 0; k < x->nm; k++)
    if (x->meas[k].before == before) dephase(rho, n, x->meas[k].q);
}

/* ---- gates ---- */

/* local matrices of all gates for one parameter vector and one row's inputs */
typedef struct {
  size_t *off;
  qdm_cplx *M;
  double *v; /* 3 angle values per gate */
} gmats;

static int gmats_alloc(const qdm_circuit *c, gmats *m) {
  size_t tot = 0;
  m->off = malloc((c->ngates + 1) * sizeof *m->off);
  m->v = malloc((3 * c->ngates + 1) * sizeof *m->v);
  for (int l = 0; m->off && l < c->ngates; l++) {
    m->off[l] = tot;
    tot += (size_t)1 << (2 * c->g[l].nt);
  }
  m->M = malloc((tot + 1) * sizeof *m->M);
  if (!m->off || !m->v || !m->M) {
    free(m->off); free(m->v); free(m->M);
    return qdm_fail(QDM_ENOMEM, "density circuit: out of memory for %d gate matrices", c->ngates);
  }
  return QDM_OK;
}

static void gmats_free(gmats *m) { free(m->off); free(m->v); free(m->M); }

static void gmats_fill(const qdm_circuit *c, const double *theta, const double *x, gmats *m) {
  for (int l = 0; l < c->ngates; l++) {
    qdm_gate_angles(&c->g[l], theta, x, m->v + 3 * l);
    qdm_gate_matrix(c, &c->g[l], m->v + 3 * l, m->M + m->off[l], 0, NULL);
  }
}

static void gate_int_targets(const qdm_gate *g, int *t) {
  for (int b = 0; b < g->nt; b++) t[b] = g->t[b];
}

int qdm_dm_apply_gate(const qdm_circuit *c, const qdm_gate *g, const double *v, qdm_cplx *rho, int rows) {
  if (!c || !g || !v || !rho) return qdm_fail(QDM_EINVAL, "qdm_dm_apply_gate: NULL argument");
  int r = dm_n_check(c->n, rows, "qdm_dm_apply_gate");
  if (r) return r;
  for (int b = 0; b < g->nt; b++)
    if (g->t[b] < 0 || g->t[b] >= c->n)
      return qdm_fail(QDM_EINVAL, "qdm_dm_apply_gate: target %d out of range 0..%d", g->t[b], c->n - 1);
  qdm_cplx M[1 << (2 * QDM_MAX_TARGETS)];
  r = qdm_gate_matrix(c, g, v, M, 0, NULL);
  if (r) return r;
  int t[QDM_MAX_TARGETS];
  gate_int_targets(g, t);
  size_t dd = (size_t)1 << (2 * c->n);
  for (int k = 0; k < rows; k++) dm_apply_lr(rho + k * dd, c->n, g->nt, t, g->cmask, M, M, 0);
  return QDM_OK;
}

/* Gates l0..l1-1, each followed by its noise and by the measurements
 * before the next gate (those before gate 0 are the caller's). */
static void run_one(const qdm_circuit *c, const gmats *m, const dm_ctx *x, qdm_cplx *rho, int l0, int l1) {
  int t[QDM_MAX_TARGETS];
  for (int l = l0; l < l1; l++) {
    const qdm_gate *g = &c->g[l];
    gate_int_targets(g, t);
    dm_apply_lr(rho, c->n, g->nt, t, g->cmask, m->M + m->off[l], m->M + m->off[l], 0);
    gate_noise(rho, c->n, g, x->nz, 0);
    measure_at(rho, c->n, x, l + 1);
  }
}

static int meas_check(const qdm_circuit *c, const qdm_dm_meas *meas, int nm, const char *who) {
  if (nm < 0 || (nm > 0 && !meas)) return qdm_fail(QDM_EINVAL, "%s: %d measurements with meas %s", who, nm, meas ? "set" : "NULL");
  for (int k = 0; k < nm; k++)
    if (meas[k].q < 0 || meas[k].q >= c->n || meas[k].before < 0 || meas[k].before > c->ngates)
      return qdm_fail(QDM_EINVAL, "%s: measurement %d of qubit %d before gate %d (expected qubit 0..%d, gate 0..%d)", who,
                      k, meas[k].q, meas[k].before, c->n - 1, c->ngates);
  return QDM_OK;
}

static int run_check(const qdm_circuit *c, const double *theta, const double *x, int ldx, const qdm_noise *nz,
                     int rows, const char *who) {
  if (!c) return qdm_fail(QDM_EINVAL, "%s: circuit is NULL", who);
  int r = dm_n_check(c->n, rows, who);
  if (!r) r = noise_check(nz, who);
  if (r) return r;
  if (c->nparams && !theta) return qdm_fail(QDM_EINVAL, "%s: circuit has %d parameters but theta is NULL", who, c->nparams);
  if (c->ninputs && (!x || ldx < c->ninputs))
    return qdm_fail(QDM_EINVAL, "%s: circuit reads %d inputs, got x = %p with ldx = %d", who, c->ninputs, (const void *)x,
                    ldx);
  return QDM_OK;
}

/* threads over rows only, and only when a row is real work (docs/architecture.md) */
static int row_threads(const qdm_circuit *c, int rows) {
  double work = (double)rows * c->ngates * (double)((size_t)1 << (2 * c->n));
  int nt = qdm_threads();
  return rows > 1 && work > 4e6 ? (nt < rows ? nt : rows) : 1;
}

int qdm_dm_run_measured(const qdm_circuit *c, const double *theta, const double *x, int ldx, const qdm_noise *noise,
                        const qdm_dm_meas *meas, int nm, qdm_cplx *rho, int rows) {
  int r = run_check(c, theta, x, ldx, noise, rows, "qdm_dm_run");
  if (!r) r = meas_check(c, meas, nm, "qdm_dm_run");
  if (r) return r;
  if (!rho) return qdm_fail(QDM_EINVAL, "qdm_dm_run: rho is NULL");
  size_t dd = (size_t)1 << (2 * c->n);
  dm_ctx cx = {noise, meas, nm};
  int fail = 0;
#pragma omp parallel num_threads(row_threads(c, rows)) reduction(| : fail)
  {
    gmats m;
    int ok = gmats_alloc(c, &m) == QDM_OK; /* every thread reaches the omp for */
    if (ok && !c->ninputs) gmats_fill(c, theta, NULL, &m);
#pragma omp for schedule(static)
    for (int k = 0; k < rows; k++) {
      if (!ok) { fail = 1; continue; }
      if (c->ninputs) gmats_fill(c, theta, x + (size_t)k * ldx, &m);
      measure_at(rho + k * dd, c->n, &cx, 0);
      run_one(c, &m, &cx, rho + k * dd, 0, c->ngates);
    }
    if (ok) gmats_free(&m);
  }
  return fail ? qdm_fail(QDM_ENOMEM, "qdm_dm_run: out of memory") : QDM_OK;
}

int qdm_dm_run(const qdm_circuit *c, const double *theta, const double *x, int ldx, const qdm_noise *noise,
               qdm_cplx *rho, int rows) {
  return qdm_dm_run_measured(c, theta, x, ldx, noise, NULL, 0, rho, rows);
}

/* 2 Re tr(G^dagger X) */
static double re_dot2(const qdm_cplx *G, const qdm_cplx *X, size_t dd) {
  double s = 0;
  for (size_t i = 0; i < dd; i++) s += creal(G[i]) * creal(X[i]) + cimag(G[i]) * cimag(X[i]);
  return 2 * s;
}

/* Backward through gate l. In: S = the gate's input state, G = dL/d(state
 * after the gate's noise). Out: G = dL/dS. For out = U S U^dagger with G, S
 * Hermitian, dL/dv = 2 Re tr(G'^dagger dU S U^dagger), G' = E^dagger(G). */
static void gate_backward(const qdm_circuit *c, const gmats *m, const dm_ctx *cx, int l, const qdm_cplx *S,
                          qdm_cplx *G, qdm_cplx *X, double *dtheta, double *dxrow) {
  const qdm_gate *g = &c->g[l];
  int n = c->n, t[QDM_MAX_TARGETS], d = 1 << g->nt;
  size_t dd = (size_t)1 << (2 * n);
  const qdm_cplx *M = m->M + m->off[l];
  gate_int_targets(g, t);
  measure_at(G, n, cx, l + 1); /* the measurements after the gate: self-adjoint */
  gate_noise(G, n, g, cx->nz, 1);
  int na = qdm_gate_nangles(g);
  for (int j = 0; j < na; j++) {
    const qdm_angle *a = &g->ang[j];
    if (a->src == -1 || a->a == 0 || (a->src <= -2 && !dxrow)) continue;
    qdm_cplx Mj[1 << (2 * QDM_MAX_TARGETS)], dM[1 << (2 * QDM_MAX_TARGETS)];
    qdm_gate_matrix(c, g, m->v + 3 * l, Mj, j, dM);
    memcpy(X, S, dd * sizeof *X);
    dm_apply_lr(X, n, g->nt, t, g->cmask, dM, M, 1);
    double gv = a->a * re_dot2(G, X, dd);
    if (a->src >= 0) dtheta[a->src] += gv;
    else dxrow[-a->src - 2] += gv;
  }
  qdm_cplx Md[1 << (2 * QDM_MAX_TARGETS)];
  for (int i = 0; i < d; i++)
    for (int k = 0; k < d; k++) Md[i * d + k] = conj(M[k * d + i]);
  dm_apply_lr(G, n, g->nt, t, g->cmask, Md, Md, 0);
}

/* One row: checkpoints every S gates on the way forward, then each segment
 * is recomputed (keeping every gate's input) and walked backwards. */
static void adjoint_row(const qdm_circuit *c, const gmats *m, const dm_ctx *cx, const qdm_cplx *rho,
                        qdm_cplx *G, qdm_cplx *ck, qdm_cplx *seg, int S, qdm_cplx *X, double *dtheta,
                        double *dxrow) {
  size_t dd = (size_t)1 << (2 * c->n);
  int ng = c->ngates, nseg = (ng + S - 1) / S;
  memcpy(ck, rho, dd * sizeof *ck);
  measure_at(ck, c->n, cx, 0);
  for (int s = 1; s < nseg; s++) {
    memcpy(ck + s * dd, ck + (s - 1) * dd, dd * sizeof *ck);
    run_one(c, m, cx, ck + s * dd, (s - 1) * S, s * S);
  }
  for (int s = nseg - 1; s >= 0; s--) {
    int l0 = s * S, l1 = l0 + S < ng ? l0 + S : ng;
    memcpy(seg, ck + s * dd, dd * sizeof *seg);
    for (int l = l0; l < l1 - 1; l++) {
      memcpy(seg + (l - l0 + 1) * dd, seg + (l - l0) * dd, dd * sizeof *seg);
      run_one(c, m, cx, seg + (l - l0 + 1) * dd, l, l + 1);
    }
    for (int l = l1 - 1; l >= l0; l--) gate_backward(c, m, cx, l, seg + (l - l0) * dd, G, X, dtheta, dxrow);
  }
  measure_at(G, c->n, cx, 0);
}

int qdm_dm_run_measured_adjoint(const qdm_circuit *c, const double *theta, const double *x, int ldx,
                                const qdm_noise *noise, const qdm_dm_meas *meas, int nm, const qdm_cplx *rho, qdm_cplx *G,
                                int rows, double *dtheta, double *dx) {
  int r = run_check(c, theta, x, ldx, noise, rows, "qdm_dm_run_adjoint");
  if (!r) r = meas_check(c, meas, nm, "qdm_dm_run_adjoint");
  if (r) return r;
  dm_ctx cx = {noise, meas, nm};
  if (!rho || !G) return qdm_fail(QDM_EINVAL, "qdm_dm_run_adjoint: NULL rho or G");
  if (c->nparams && !dtheta) return qdm_fail(QDM_EINVAL, "qdm_dm_run_adjoint: dtheta is NULL");
  if (rows == 0) return QDM_OK;
  if (c->ngates == 0) {
    for (int k = 0; k < rows; k++) measure_at(G + k * ((size_t)1 << (2 * c->n)), c->n, &cx, 0);
    return QDM_OK;
  }
  size_t dd = (size_t)1 << (2 * c->n);
  int S = (int)ceil(sqrt((double)c->ngates)), nseg = (c->ngates + S - 1) / S, fail = 0;
#pragma omp parallel num_threads(row_threads(c, rows)) reduction(| : fail)
  {
    gmats m;
    double *dth = calloc(c->nparams + 1, sizeof *dth);
    qdm_cplx *buf = malloc((size_t)(nseg + S + 1) * dd * sizeof *buf);
    int ok = dth && buf; /* every thread reaches the omp for */
    if (ok) ok = gmats_alloc(c, &m) == QDM_OK;
    if (ok && !c->ninputs) gmats_fill(c, theta, NULL, &m);
#pragma omp for schedule(static)
    for (int k = 0; k < rows; k++) {
      if (!ok) { fail = 1; continue; }
      const double *xr = c->ninputs ? x + (size_t)k * ldx : NULL;
      if (c->ninputs) gmats_fill(c, theta, xr, &m);
      adjoint_row(c, &m, &cx, rho + k * dd, G + k * dd, buf, buf + nseg * dd, S, buf + (nseg + S) * dd, dth,
                  dx && c->ninputs ? dx + (size_t)k * ldx : NULL);
    }
    if (ok) {
#pragma omp critical(qdm_dm_adjoint)
      for (int i = 0; i < c->nparams; i++) dtheta[i] += dth[i];
      gmats_free(&m);
    }
    free(dth);
    free(buf);
  }
  return fail ? qdm_fail(QDM_ENOMEM, "qdm_dm_run_adjoint: out of memory") : QDM_OK;
}

int qdm_dm_run_adjoint(const qdm_circuit *c, const double *theta, const double *x, int ldx, const qdm_noise *noise,
                       const qdm_cplx *rho, qdm_cplx *G, int rows, double *dtheta, double *dx) {
  return qdm_dm_run_measured_adjoint(c, theta, x, ldx, noise, NULL, 0, rho, G, rows, dtheta, dx);
}
