/* groups.c -- one circuit with a parameter vector per group of rows: the
 * report's circuit table indexed by (t, label) (section 6.4), for callers
 * that hold the whole batch at once (the Python layer). Rows are gathered by
 * group (a stable counting sort, so results do not depend on the order of
 * the batch), each group is simulated on its own, and the results are
 * scattered back. A group large enough runs the fused path: its unitary
 * once, one zgemm for its rows, and in the adjoint one dL/dU before a
 * single sweep through the gates (fused.c); a small group runs gate by gate.
 * Groups are independent, so threads take whole groups and every group's
 * numbers are the same whatever the split. */
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

typedef struct {
  int *start, *perm;   /* group g's rows are perm[start[g] .. start[g+1]-1] */
  qdm_cplx *P, *L, *X; /* rows x dim each: states, co-gradients, scratch (group order) */
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

/* One allocation: the sort and (nbuf of) P, L, X, plus U and dU per thread. */
static int plan_make(plan *p, const qdm_circuit *c, int G, const int *group, int rows, int nbuf, const char *who) {
  size_t dim = (size_t)1 << c->n, nd = (size_t)rows * dim;
  p->nth = qdm_threads();
  size_t nu = c->n <= 8 ? (size_t)p->nth * 2 * dim * dim : 0;
  size_t ints = (size_t)G + 1 + rows + G, icx = (ints * sizeof(int) + sizeof(qdm_cplx) - 1) / sizeof(qdm_cplx);
  qdm_cplx *m = malloc((icx + nbuf * nd + nu) * sizeof *m);
  if (!m) return qdm_fail(QDM_ENOMEM, "%s: out of memory for %d rows", who, rows);
  p->mem = m;
  p->start = (int *)m;
  p->perm = p->start + G + 1;
  int *fill = p->perm + rows;
  p->P = m + icx;
  p->L = nbuf > 2 ? p->P + nd : NULL;
  p->X = p->P + (nbuf - 1) * nd;
  p->UdU = nu ? p->P + nbuf * nd : NULL;
  memset(p->start, 0, (G + 1) * sizeof(int));
  for (int r = 0; r < rows; r++) p->start[group[r] + 1]++;
  for (int g = 0; g < G; g++) p->start[g + 1] += p->start[g];
  memcpy(fill, p->start, G * sizeof(int));
  for (int r = 0; r < rows; r++) p->perm[fill[group[r]]++] = r;
  return QDM_OK;
}

static void gather(const plan *p, const qdm_cplx *src, qdm_cplx *dst, int rows, size_t dim) {
  for (int i = 0; i < rows; i++) memcpy(dst + i * dim, src + (size_t)p->perm[i] * dim, dim * sizeof *dst);
}
static void scatter(const plan *p, const qdm_cplx *src, qdm_cplx *dst, int rows, size_t dim) {
  for (int i = 0; i < rows; i++) memcpy(dst + (size_t)p->perm[i] * dim, src + i * dim, dim * sizeof *dst);
}

/* Group g's rows r0..r0+nr-1 (group order): P = U P. */
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

/* Runs every non-empty group, threads over groups when the work is worth it.
 * A failure inside a worker thread (only out of memory) leaves its message
 * in that thread; it is carried over to the caller's. */
static int each_group(const qdm_circuit *c, const double *theta, int ldtheta, int G, const plan *p, int rows,
                      int adjoint, double *dtheta) {
  size_t dim = (size_t)1 << c->n;
  int err = QDM_OK;
  char msg[512] = "";
  int par = G > 1 && qdm__parallel_worth((double)rows * dim * (c->ngates + 1));
#pragma omp parallel for schedule(dynamic) if (par) num_threads(p->nth)
  for (int g = 0; g < G; g++) {
    int r0 = p->start[g], nr = p->start[g + 1] - r0, e;
    if (nr == 0) continue;
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
  return err ? qdm_fail(err, "%s", msg) : QDM_OK;
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
