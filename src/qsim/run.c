/* run.c -- running a circuit on a batch: forward, and the exact adjoint sweep.
 *
 * Adjoint method (Jones & Gacon 2020): with psi_out = G_K ... G_1 psi_in and
 * lam = dL/dpsi_out (co-gradient), walk the gates backwards keeping two
 * vectors: undo the gate on psi (psi <- G^dagger psi, exact for unitaries),
 * read dL/dv = Re <lam| dG/dv |psi> for each angle v of the gate, then pull
 * lam back (lam <- G^dagger lam). Memory is two states per row, whatever
 * the depth. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "sim.h"

/* A circuit compiled for one parameter vector (no per-row inputs). */
typedef struct {
  int nops;
  sim_op *op, *dag;  /* forward ops and their conjugate transposes */
  qdm_cplx (*dm)[3][16]; /* d(local matrix)/d(angle j), gates of <= 2 targets */
  qdm_cplx *arena;   /* matrices of ops with more than 2 targets */
} compiled;

/* adjoint: also the conjugate transposes and the angle derivatives */
static int compile(const qdm_circuit *c, const double *theta, const double *x, compiled *cc, int adjoint) {
  size_t big = 0;
  for (int i = 0; i < c->ngates; i++)
    if (c->g[i].nt > 2) big += 2 * ((size_t)1 << (2 * c->g[i].nt));
  size_t ng = c->ngates > 0 ? (size_t)c->ngates : 1;
  cc->nops = c->ngates;
  cc->op = malloc(ng * 2 * sizeof(sim_op));
  cc->dm = adjoint ? malloc(ng * sizeof *cc->dm) : NULL;
  cc->arena = big ? malloc(big * sizeof(qdm_cplx)) : NULL;
  if (!cc->op || (adjoint && !cc->dm) || (big && !cc->arena)) {
    free(cc->op);
    free(cc->dm);
    free(cc->arena);
    return qdm_fail(QDM_ENOMEM, "qdm_run: out of memory compiling %d gates", c->ngates);
  }
  cc->dag = cc->op + c->ngates;
  qdm_cplx *a = cc->arena, m[16];
  const sim_op *pre = c->pre;
  for (int i = 0; i < c->ngates; i++) {
    const qdm_gate *g = &c->g[i];
    if (pre[2 * i].fixed) { /* matrices made once, when the gate was added */
      cc->op[i] = pre[2 * i];
      cc->op[i].M = cc->op[i].m;
      if (adjoint) {
        cc->dag[i] = pre[2 * i + 1];
        cc->dag[i].M = cc->dag[i].m;
      }
      continue;
    }
    double v[3];
    qdm_gate_angles(g, theta, x, v);
    size_t d2 = (size_t)1 << (2 * g->nt);
    qdm_cplx *M = g->nt > 2 ? a : m;
    int na = adjoint ? qdm_gate_nangles(g) : 0;
    qdm_cplx scratch[16];
    qdm_gate_matrix(c, g, v, M, 0, na ? cc->dm[i][0] : NULL);
    for (int j = 1; j < na; j++) qdm_gate_matrix(c, g, v, scratch, j, cc->dm[i][j]);
    cc->op[i] = pre[2 * i];
    qdm__op_matrix(&cc->op[i], M);
    if (adjoint) qdm__op_dagger(&cc->op[i], &cc->dag[i], g->nt > 2 ? a + d2 : NULL);
    if (g->nt > 2) a += 2 * d2;
  }
  return QDM_OK;
}

static void release(compiled *cc) {
  free(cc->op);
  free(cc->dm);
  free(cc->arena);
}

/* dL/dv_j for every angle of gate i that depends on a parameter or an input,
 * pushed into dtheta (a * dL/dv) or the row's dx. dot(D) computes
 * Re <lam|D|psi_in> on the gate's subspace. */
typedef double (*dot_fn)(void *ctx, const sim_op *op, const qdm_cplx *D);

static void angle_grads(const compiled *cc, const qdm_gate *g, int i, dot_fn dot, void *ctx,
                        double *dth, double *dxr) {
  int na = qdm_gate_nangles(g);
  for (int j = 0; j < na; j++) {
    int s = g->ang[j].src;
    if (s == -1 || g->ang[j].a == 0) continue;
    double gv = g->ang[j].a * dot(ctx, &cc->op[i], cc->dm[i][j]);
    if (s >= 0) dth[s] += gv;
    else if (dxr) dxr[-s - 2] += gv;
  }
}

static int check_args(const char *who, const qdm_circuit *c, const double *theta, const double *x,
                      int ldx, const qdm_cplx *psi, int rows) {
  if (!c) return qdm_fail(QDM_EINVAL, "%s: circuit is NULL", who);
  if (rows < 0) return qdm_fail(QDM_EINVAL, "%s: rows = %d < 0", who, rows);
  if (rows > 0 && !psi) return qdm_fail(QDM_EINVAL, "%s: states are NULL", who);
  if (c->nparams > 0 && !theta)
    return qdm_fail(QDM_EINVAL, "%s: circuit uses %d parameters but theta is NULL", who, c->nparams);
  if (c->ninputs > 0 && (!x || ldx < c->ninputs))
    return qdm_fail(QDM_EINVAL, "%s: circuit reads %d inputs per row but x is %s (ldx %d)", who,
                    c->ninputs, x ? "too narrow" : "NULL", ldx);
  return QDM_OK;
}

/* The tile path wins for small registers with several rows: the whole circuit
 * runs on TILE rows held in L1 in vector-friendly layout. */
static int use_tiles(const qdm_circuit *c, int rows) {
  if (qdm__sim_path) return qdm__sim_path == 2 && c->n <= 12 && c->ninputs == 0;
  return c->n <= 10 && rows >= 2 && c->ninputs == 0;
}
/* Tile width by batch size: 8 rows (one AVX-512 vector per amplitude) for
 * tiny batches, 16 for a 4-qubit unitary's columns, 32 for big batches. */
#define TILED(fn, rows, ...) \
  ((rows) <= 8 ? fn##8(__VA_ARGS__) : (rows) <= 16 ? fn##16(__VA_ARGS__) : fn##32(__VA_ARGS__))


#define TILE 8
#define TS(name) name##8
#include "tile.h"
#undef TILE
#undef TS
#define TILE 16
#define TS(name) name##16
#include "tile.h"
#undef TILE
#undef TS
#define TILE 32
#define TS(name) name##32
#include "tile.h"
#undef TILE
#undef TS

/* Rows one at a time in the public layout. Large registers thread inside each
 * gate; small ones thread over rows. */
static void run_rows(const qdm_circuit *c, const compiled *cc, qdm_cplx *psi, int rows) {
  size_t dim = (size_t)1 << c->n;
  int outer = rows > 1 && dim < 16384 && qdm__parallel_worth((double)rows * dim * cc->nops / 4);
  if (!outer) {
    for (int r = 0; r < rows; r++)
      for (int i = 0; i < cc->nops; i++) qdm__sim_apply(psi + r * dim, c->n, &cc->op[i]);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; r++)
    for (int i = 0; i < cc->nops; i++) qdm__sim_apply(psi + r * dim, c->n, &cc->op[i]);
}

/* Circuits that read per-row inputs are compiled row by row. */
static int run_inputs(const qdm_circuit *c, const double *theta, const double *x, int ldx,
                      qdm_cplx *psi, int rows) {
  size_t dim = (size_t)1 << c->n;
  int err = 0;
  for (int r = 0; r < rows && !err; r++) {
    compiled cc;
    err = compile(c, theta, x + (size_t)r * ldx, &cc, 0);
    if (err) break;
    for (int i = 0; i < cc.nops; i++) qdm__sim_apply(psi + r * dim, c->n, &cc.op[i]);
    release(&cc);
  }
  return err;
}

int qdm_run(const qdm_circuit *c, const double *theta, const double *x, int ldx, qdm_cplx *psi, int rows) {
  int err = check_args("qdm_run", c, theta, x, ldx, psi, rows);
  if (err || rows == 0) return err;
  if (c->ninputs > 0) return run_inputs(c, theta, x, ldx, psi, rows);
  compiled cc;
  if ((err = compile(c, theta, NULL, &cc, 0))) return err;
  if (use_tiles(c, rows)) TILED(run_tiles, rows, c, &cc, psi, rows);
  else run_rows(c, &cc, psi, rows);
  release(&cc);
  return QDM_OK;
}

/* ---------------- adjoint ---------------- */

typedef struct { const qdm_cplx *lam, *psi; int n; } row_ctx;
static double row_dot(void *ctx, const sim_op *op, const qdm_cplx *D) {
  row_ctx *r = ctx;
  return qdm__sim_dot(r->lam, r->psi, r->n, op, D);
}

static void adjoint_row(const qdm_circuit *c, const compiled *cc, qdm_cplx *psi, qdm_cplx *lam, double *dth, double *dxr) {
  row_ctx ctx = {lam, psi, c->n};
  for (int i = cc->nops - 1; i >= 0; i--) {
    qdm__sim_apply(psi, c->n, &cc->dag[i]);
    angle_grads(cc, &c->g[i], i, row_dot, &ctx, dth, dxr);
    qdm__sim_apply(lam, c->n, &cc->dag[i]);
  }
}

int qdm_run_adjoint(const qdm_circuit *c, const double *theta, const double *x, int ldx, qdm_cplx *psi,
                    qdm_cplx *lam, int rows, double *dtheta, double *dx) {
  int err = check_args("qdm_run_adjoint", c, theta, x, ldx, psi, rows);
  if (err || rows == 0) return err;
  if (!lam) return qdm_fail(QDM_EINVAL, "qdm_run_adjoint: lam (dL/dpsi_out) is NULL");
  if (c->nparams > 0 && !dtheta) return qdm_fail(QDM_EINVAL, "qdm_run_adjoint: dtheta is NULL");
  size_t dim = (size_t)1 << c->n;
  int np = c->nparams, nth = qdm_threads();
  /* per-thread partial sums, added in thread order: deterministic for a
   * given thread count */
  double *part = calloc((size_t)nth * (np ? np : 1), sizeof(double));
  if (!part) return qdm_fail(QDM_ENOMEM, "qdm_run_adjoint: out of memory");
  if (c->ninputs > 0) {
    for (int r = 0; r < rows && !err; r++) {
      compiled cc;
      const double *xr = x + (size_t)r * ldx;
      if ((err = compile(c, theta, xr, &cc, 1))) break;
      adjoint_row(c, &cc, psi + r * dim, lam + r * dim, part, dx ? dx + (size_t)r * ldx : NULL);
      release(&cc);
    }
  } else {
    compiled cc;
    if ((err = compile(c, theta, NULL, &cc, 1))) {
      free(part);
      return err;
    }
    if (use_tiles(c, rows)) {
      TILED(adjoint_tiles, rows, c, &cc, psi, lam, rows, part, np);
    } else {
      int outer = rows > 1 && dim < 16384 && qdm__parallel_worth((double)rows * dim * cc.nops / 2);
      if (!outer)
        for (int r = 0; r < rows; r++) adjoint_row(c, &cc, psi + r * dim, lam + r * dim, part, NULL);
      else
#pragma omp parallel
      {
        double *dth = part + (size_t)omp_get_thread_num() * np;
#pragma omp for schedule(static)
        for (int r = 0; r < rows; r++) adjoint_row(c, &cc, psi + r * dim, lam + r * dim, dth, NULL);
      }
    }
    release(&cc);
  }
  for (int t = 0; t < nth; t++)
    for (int j = 0; j < np; j++) dtheta[j] += part[(size_t)t * np + j];
  free(part);
  return err;
}
