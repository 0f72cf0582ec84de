/* density.c -- density matrices (report section 2.2): building, measuring,
 * partial traces, the depolarizing channel of eqs. 9-10, and channels given
 * as Kraus operators of a system + ancilla circuit.
 *
 * Gates and noise on density matrices live in density_run.c. */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "qdm/density.h"

/* ---- building and measuring ---- */

static int check_dim(int dim, int rows, const char *who) {
  if (dim < 1 || (dim & (dim - 1)) || dim > (1 << 14))
    return qdm_fail(QDM_EINVAL, "%s: dim = %d, expected a power of two in 1..16384", who, dim);
  if (rows < 0) return qdm_fail(QDM_EINVAL, "%s: rows = %d, expected >= 0", who, rows);
  return QDM_OK;
}

int qdm_dm_from_states(const qdm_cplx *psi, int dim, int rows, qdm_cplx *rho) {
  int r = check_dim(dim, rows, "qdm_dm_from_states");
  if (r) return r;
  if (!psi || !rho) return qdm_fail(QDM_EINVAL, "qdm_dm_from_states: NULL psi or rho");
  for (int k = 0; k < rows; k++) {
    const qdm_cplx *p = psi + (size_t)k * dim;
    qdm_cplx *m = rho + (size_t)k * dim * dim;
    for (int i = 0; i < dim; i++)
      for (int j = 0; j < dim; j++) m[(size_t)i * dim + j] = p[i] * conj(p[j]);
  }
  return QDM_OK;
}

int qdm_dm_mixed(qdm_cplx *rho, int dim, int rows) {
  int r = check_dim(dim, rows, "qdm_dm_mixed");
  if (r) return r;
  if (!rho) return qdm_fail(QDM_EINVAL, "qdm_dm_mixed: rho is NULL");
  memset(rho, 0, (size_t)rows * dim * dim * sizeof *rho);
  for (int k = 0; k < rows; k++)
    for (int i = 0; i < dim; i++) rho[(size_t)k * dim * dim + (size_t)i * dim + i] = 1.0 / dim;
  return QDM_OK;
}

int qdm_dm_trace(const qdm_cplx *rho, int dim, int rows, double *out) {
  int r = check_dim(dim, rows, "qdm_dm_trace");
  if (r) return r;
  if (!rho || !out) return qdm_fail(QDM_EINVAL, "qdm_dm_trace: NULL rho or out");
  for (int k = 0; k < rows; k++) {
    double s = 0;
    for (int i = 0; i < dim; i++) s += creal(rho[(size_t)k * dim * dim + (size_t)i * dim + i]);
    out[k] = s;
  }
  return QDM_OK;
}

/* tr rho^2 = sum_ij |rho_ij|^2 for Hermitian rho */
int qdm_dm_purity(const qdm_cplx *rho, int dim, int rows, double *out) {
  int r = check_dim(dim, rows, "qdm_dm_purity");
  if (r) return r;
  if (!rho || !out) return qdm_fail(QDM_EINVAL, "qdm_dm_purity: NULL rho or out");
  size_t dd = (size_t)dim * dim;
  for (int k = 0; k < rows; k++) {
    double s = 0;
    for (size_t i = 0; i < dd; i++) {
      qdm_cplx z = rho[k * dd + i];
      s += creal(z) * creal(z) + cimag(z) * cimag(z);
    }
    out[k] = s;
  }
  return QDM_OK;
}

int qdm_dm_fidelity_pure(const qdm_cplx *rho, const qdm_cplx *psi, int psi_stride, int dim, int rows,
                         double *out) {
  int r = check_dim(dim, rows, "qdm_dm_fidelity_pure");
  if (r) return r;
  if (!rho || !psi || !out) return qdm_fail(QDM_EINVAL, "qdm_dm_fidelity_pure: NULL argument");
  if (psi_stride != 0 && psi_stride < dim)
    return qdm_fail(QDM_EINVAL, "qdm_dm_fidelity_pure: psi_stride = %d, expected 0 or >= dim = %d", psi_stride, dim);
  for (int k = 0; k < rows; k++) {
    const qdm_cplx *p = psi + (size_t)k * psi_stride, *m = rho + (size_t)k * dim * dim;
    qdm_cplx s = 0;
    for (int i = 0; i < dim; i++) {
      qdm_cplx y = 0;
      for (int j = 0; j < dim; j++) y += m[(size_t)i * dim + j] * p[j];
      s += conj(p[i]) * y;
    }
    out[k] = creal(s);
  }
  return QDM_OK;
}

/* F = <psi|rho|psi> = Re tr((psi psi^dagger)^dagger rho): the co-gradient is psi psi^dagger. */
int qdm_dm_fidelity_pure_backward(const qdm_cplx *psi, int psi_stride, int dim, int rows, const double *dF,
                                  qdm_cplx *G) {
  int r = check_dim(dim, rows, "qdm_dm_fidelity_pure_backward");
  if (r) return r;
  if (!psi || !dF || !G) return qdm_fail(QDM_EINVAL, "qdm_dm_fidelity_pure_backward: NULL argument");
  if (psi_stride != 0 && psi_stride < dim)
    return qdm_fail(QDM_EINVAL, "qdm_dm_fidelity_pure_backward: psi_stride = %d, expected 0 or >= dim", psi_stride);
  for (int k = 0; k < rows; k++) {
    const qdm_cplx *p = psi + (size_t)k * psi_stride;
    qdm_cplx *g = G + (size_t)k * dim * dim;
    for (int i = 0; i < dim; i++)
      for (int j = 0; j < dim; j++) g[(size_t)i * dim + j] += dF[k] * p[i] * conj(p[j]);
  }
  return QDM_OK;
}

int qdm_dm_eigh(const qdm_cplx *A, int dim, double *w, qdm_cplx *V) {
  int r = check_dim(dim, 1, "qdm_dm_eigh");
  if (r) return r;
  if (!A || !w) return qdm_fail(QDM_EINVAL, "qdm_dm_eigh: NULL A or w");
  qdm_cplx *a = malloc((size_t)dim * dim * sizeof *a);
  if (!a) return qdm_fail(QDM_ENOMEM, "qdm_dm_eigh: out of memory for dim = %d", dim);
  memcpy(a, A, (size_t)dim * dim * sizeof *a);
  lapack_int info = LAPACKE_zheev(LAPACK_ROW_MAJOR, V ? 'V' : 'N', 'U', dim, a, dim, w);
  if (info == 0 && V) memcpy(V, a, (size_t)dim * dim * sizeof *a);
  free(a);
  if (info) return qdm_fail(QDM_EINVAL, "qdm_dm_eigh: zheev failed (info = %d) on a %dx%d matrix", (int)info, dim, dim);
  return QDM_OK;
}

int qdm_dm_min_eig(const qdm_cplx *rho, int dim, double *lmin) {
  if (!lmin) return qdm_fail(QDM_EINVAL, "qdm_dm_min_eig: lmin is NULL");
  double *w = malloc((dim > 0 ? dim : 1) * sizeof *w);
  if (!w) return qdm_fail(QDM_ENOMEM, "qdm_dm_min_eig: out of memory");
  int r = qdm_dm_eigh(rho, dim, w, NULL);
  if (!r) *lmin = w[0];
  free(w);
  return r;
}

/* out = V f(w) V^dagger */
static void eig_compose(const qdm_cplx *V, const double *f, int d, qdm_cplx *out, qdm_cplx *tmp) {
  for (int i = 0; i < d; i++)
    for (int j = 0; j < d; j++) tmp[(size_t)i * d + j] = V[(size_t)i * d + j] * f[j];
  const qdm_cplx one = 1, zero = 0;
  cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasConjTrans, d, d, d, &one, tmp, d, V, d, &zero, out, d);
}

/* Uhlmann fidelity through two eigen-decompositions: sqrt(rho) from rho's
 * (negative rounding eigenvalues clipped to 0), then the eigenvalues of the
 * Hermitian sqrt(rho) sigma sqrt(rho), whose square roots sum to sqrt(F). */
int qdm_dm_fidelity(const qdm_cplx *rho, const qdm_cplx *sigma, int dim, double *F) {
  int r = check_dim(dim, 1, "qdm_dm_fidelity");
  if (r) return r;
  if (!rho || !sigma || !F) return qdm_fail(QDM_EINVAL, "qdm_dm_fidelity: NULL argument");
  size_t dd = (size_t)dim * dim;
  qdm_cplx *V = malloc(3 * dd * sizeof *V);
  double *w = malloc(dim * sizeof *w);
  if (!V || !w) { free(V); free(w); return qdm_fail(QDM_ENOMEM, "qdm_dm_fidelity: out of memory"); }
  qdm_cplx *S = V + dd, *T = V + 2 * dd;
  r = qdm_dm_eigh(rho, dim, w, V);
  if (!r) {
    for (int i = 0; i < dim; i++) w[i] = w[i] > 0 ? sqrt(w[i]) : 0;
    eig_compose(V, w, dim, S, T); /* S = sqrt(rho) */
    const qdm_cplx one = 1, zero = 0;
    cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, dim, dim, dim, &one, S, dim, sigma, dim, &zero, T, dim);
    cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, dim, dim, dim, &one, T, dim, S, dim, &zero, V, dim);
    r = qdm_dm_eigh(V, dim, w, NULL);
  }
  if (!r) {
    double s = 0;
    for (int i = 0; i < dim; i++) s += w[i] > 0 ? sqrt(w[i]) : 0;
    *F = s * s;
  }
  free(V);
  free(w);
  return r;
}

int qdm_dm_trace_distance(const qdm_cplx *rho, const qdm_cplx *sigma, int dim, double *T, qdm_cplx *grad) {
  int r = check_dim(dim, 1, "qdm_dm_trace_distance");
  if (r) return r;
  if (!rho || !sigma || !T) return qdm_fail(QDM_EINVAL, "qdm_dm_trace_distance: NULL argument");
  size_t dd = (size_t)dim * dim;
  qdm_cplx *A = malloc(2 * dd * sizeof *A);
  double *w = malloc(dim * sizeof *w);
  if (!A || !w) { free(A); free(w); return qdm_fail(QDM_ENOMEM, "qdm_dm_trace_distance: out of memory"); }
  for (size_t i = 0; i < dd; i++) A[i] = rho[i] - sigma[i];
  r = qdm_dm_eigh(A, dim, w, grad ? A + dd : NULL);
  if (!r) {
    double s = 0;
    for (int i = 0; i < dim; i++) s += fabs(w[i]);
    *T = 0.5 * s;
    if (grad) {
      /* d||A||_1 = tr(sign(A) dA): the co-gradient is V sign(Lambda) V^dagger / 2 */
      for (int i = 0; i < dim; i++) w[i] = w[i] > 0 ? 0.5 : w[i] < 0 ? -0.5 : 0;
      eig_compose(A + dd, w, dim, grad, A);
    }
  }
  free(A);
  free(w);
  return r;
}

/* ---- partial trace ---- */

/* full index of the kept-index ik (bits scattered to the kept positions) */
static size_t scatter_bits(size_t ik, const int *pos, int k) {
  size_t f = 0;
  for (int b = 0; b < k; b++)
    if (ik >> b & 1) f |= (size_t)1 << pos[b];
  return f;
}

static int ptrace_check(int n, uint32_t mask, int rows, const char *who, int *kp, int *nk, int *tp, int *ntr) {
  if (n < 1 || n > 14) return qdm_fail(QDM_EINVAL, "%s: n = %d qubits, expected 1..14", who, n);
  if (n < 32 && (mask >> n)) return qdm_fail(QDM_EINVAL, "%s: trace_mask 0x%x names qubits beyond n = %d", who, mask, n);
  if (rows < 0) return qdm_fail(QDM_EINVAL, "%s: rows = %d, expected >= 0", who, rows);
  *nk = *ntr = 0;
  for (int q = 0; q < n; q++) {
    if (mask >> q & 1) tp[(*ntr)++] = q;
    else kp[(*nk)++] = q;
  }
  return QDM_OK;
}

int qdm_dm_ptrace(const qdm_cplx *rho, int n, uint32_t trace_mask, qdm_cplx *out, int rows) {
  int kp[32], tp[32], nk, nt;
  int r = ptrace_check(n, trace_mask, rows, "qdm_dm_ptrace", kp, &nk, tp, &nt);
  if (r) return r;
  if (!rho || !out) return qdm_fail(QDM_EINVAL, "qdm_dm_ptrace: NULL rho or out");
  size_t D = (size_t)1 << n, dk = (size_t)1 << nk, dt = (size_t)1 << nt;
  for (int k = 0; k < rows; k++) {
    const qdm_cplx *m = rho + k * D * D;
    qdm_cplx *o = out + k * dk * dk;
    for (size_t i = 0; i < dk; i++) {
      size_t fi = scatter_bits(i, kp, nk);
      for (size_t j = 0; j < dk; j++) {
        size_t fj = scatter_bits(j, kp, nk);
        qdm_cplx s = 0;
        for (size_t b = 0; b < dt; b++) {
          size_t fb = scatter_bits(b, tp, nt);
          s += m[(fi | fb) * D + (fj | fb)];
        }
        o[i * dk + j] = s;
      }
    }
  }
  return QDM_OK;
}

int qdm_dm_ptrace_backward(const qdm_cplx *G_out, int n, uint32_t trace_mask, qdm_cplx *G_in, int rows) {
  int kp[32], tp[32], nk, nt;
  int r = ptrace_check(n, trace_mask, rows, "qdm_dm_ptrace_backward", kp, &nk, tp, &nt);
  if (r) return r;
  if (!G_out || !G_in) return qdm_fail(QDM_EINVAL, "qdm_dm_ptrace_backward: NULL G_out or G_in");
  size_t D = (size_t)1 << n, dk = (size_t)1 << nk, dt = (size_t)1 << nt;
  memset(G_in, 0, (size_t)rows * D * D * sizeof *G_in);
  for (int k = 0; k < rows; k++) {
    const qdm_cplx *g = G_out + k * dk * dk;
    qdm_cplx *o = G_in + k * D * D;
    for (size_t i = 0; i < dk; i++) {
      size_t fi = scatter_bits(i, kp, nk);
      for (size_t j = 0; j < dk; j++) {
        size_t fj = scatter_bits(j, kp, nk);
        for (size_t b = 0; b < dt; b++) {
          size_t fb = scatter_bits(b, tp, nt);
          o[(fi | fb) * D + (fj | fb)] = g[i * dk + j];
        }
      }
    }
  }
  return QDM_OK;
}

/* ---- channels ---- */

int qdm_dm_depolarize(qdm_cplx *rho, int dim, int rows, double p) {
  int r = check_dim(dim, rows, "qdm_dm_depolarize");
  if (r) return r;
  if (!rho) return qdm_fail(QDM_EINVAL, "qdm_dm_depolarize: rho is NULL");
  if (!(p >= 0 && p <= 1)) return qdm_fail(QDM_EINVAL, "qdm_dm_depolarize: p = %g, expected in [0, 1]", p);
  size_t dd = (size_t)dim * dim;
  for (int k = 0; k < rows; k++) {
    qdm_cplx *m = rho + k * dd;
    double tr = 0;
    for (int i = 0; i < dim; i++) tr += creal(m[(size_t)i * dim + i]);
    for (size_t i = 0; i < dd; i++) m[i] *= 1 - p;
    for (int i = 0; i < dim; i++) m[(size_t)i * dim + i] += p * tr / dim;
  }
  return QDM_OK;
}

/* ---- Kraus channels ---- */

static int kraus_check(const qdm_cplx *K, int nk, int dim, int rows, const char *who) {
  int r = check_dim(dim, rows, who);
  if (r) return r;
  if (!K) return qdm_fail(QDM_EINVAL, "%s: K is NULL", who);
  if (nk < 1) return qdm_fail(QDM_EINVAL, "%s: nk = %d Kraus operators, expected >= 1", who, nk);
  return QDM_OK;
}

int qdm_kraus_apply(const qdm_cplx *K, int nk, int dim, const qdm_cplx *rho, qdm_cplx *out, int rows) {
  int r = kraus_check(K, nk, dim, rows, "qdm_kraus_apply");
  if (r) return r;
  if (!rho || !out) return qdm_fail(QDM_EINVAL, "qdm_kraus_apply: NULL rho or out");
  size_t dd = (size_t)dim * dim;
  qdm_cplx *tmp = malloc(dd * sizeof *tmp);
  if (!tmp) return qdm_fail(QDM_ENOMEM, "qdm_kraus_apply: out of memory");
  const qdm_cplx one = 1, zero = 0;
  for (int k = 0; k < rows; k++) {
    for (int a = 0; a < nk; a++) {
      const qdm_cplx *Ka = K + a * dd;
      cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, dim, dim, dim, &one, Ka, dim, rho + k * dd, dim, &zero,
                  tmp, dim);
      cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasConjTrans, dim, dim, dim, &one, tmp, dim, Ka, dim,
                  a ? &one : &zero, out + k * dd, dim);
    }
  }
  free(tmp);
  return QDM_OK;
}

/* out = sum_a K_a rho K_a^dagger: dL = Re tr(G^dagger dout) gives, for
 * Hermitian G and rho, co-gradient 2 G K_a rho for K_a and K_a^dagger G K_a for rho. */
int qdm_kraus_apply_backward(const qdm_cplx *K, int nk, int dim, const qdm_cplx *rho, const qdm_cplx *G,
                             qdm_cplx *Gin, qdm_cplx *dK, int rows) {
  int r = kraus_check(K, nk, dim, rows, "qdm_kraus_apply_backward");
  if (r) return r;
  if (!G || (dK && !rho)) return qdm_fail(QDM_EINVAL, "qdm_kraus_apply_backward: NULL G or rho");
  size_t dd = (size_t)dim * dim;
  qdm_cplx *tmp = malloc(dd * sizeof *tmp);
  if (!tmp) return qdm_fail(QDM_ENOMEM, "qdm_kraus_apply_backward: out of memory");
  const qdm_cplx one = 1, two = 2, zero = 0;
  for (int k = 0; k < rows; k++) {
    const qdm_cplx *g = G + k * dd;
    for (int a = 0; a < nk; a++) {
      const qdm_cplx *Ka = K + a * dd;
      cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, dim, dim, dim, &one, g, dim, Ka, dim, &zero, tmp, dim);
      if (dK)
        cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, dim, dim, dim, &two, tmp, dim, rho + k * dd, dim, &one,
                    dK + a * dd, dim);
      if (Gin)
        cblas_zgemm(CblasRowMajor, CblasConjTrans, CblasNoTrans, dim, dim, dim, &one, Ka, dim, tmp, dim,
                    a ? &one : &zero, Gin + k * dd, dim);
    }
  }
  free(tmp);
  return QDM_OK;
}

static int kraus_circuit_check(const qdm_circuit *c, int n, const char *who) {
  if (!c) return qdm_fail(QDM_EINVAL, "%s: circuit is NULL", who);
  if (n < 1 || n > c->n || n > 13)
    return qdm_fail(QDM_EINVAL, "%s: n = %d system qubits, expected 1..min(%d, 13)", who, n, c->n);
  if (c->ninputs) return qdm_fail(QDM_EINVAL, "%s: the circuit reads %d per-row inputs, expected none", who, c->ninputs);
  return QDM_OK;
}

/* Column s of V(|0>_anc (x) I) is V applied to the basis state |0...0 s>;
 * running the circuit on the d basis states as a batch gives all K_a at once:
 * K_a[i][s] = (V |s>)[a d + i]. */
int qdm_kraus_from_circuit(const qdm_circuit *c, int n, const double *theta, qdm_cplx *K) {
  int r = kraus_circuit_check(c, n, "qdm_kraus_from_circuit");
  if (r) return r;
  if (!K) return qdm_fail(QDM_EINVAL, "qdm_kraus_from_circuit: K is NULL");
  size_t d = (size_t)1 << n, D = (size_t)1 << c->n, na = D / d;
  qdm_cplx *W = calloc(d * D, sizeof *W);
  if (!W) return qdm_fail(QDM_ENOMEM, "qdm_kraus_from_circuit: out of memory");
  for (size_t s = 0; s < d; s++) W[s * D + s] = 1;
  r = qdm_run(c, theta, NULL, 0, W, (int)d);
  if (!r)
    for (size_t a = 0; a < na; a++)
      for (size_t i = 0; i < d; i++)
        for (size_t s = 0; s < d; s++) K[a * d * d + i * d + s] = W[s * D + a * d + i];
  free(W);
  return r;
}

int qdm_kraus_from_circuit_backward(const qdm_circuit *c, int n, const double *theta, const qdm_cplx *dK,
                                    double *dtheta) {
  int r = kraus_circuit_check(c, n, "qdm_kraus_from_circuit_backward");
  if (r) return r;
  if (!dK || !dtheta) return qdm_fail(QDM_EINVAL, "qdm_kraus_from_circuit_backward: NULL dK or dtheta");
  size_t d = (size_t)1 << n, D = (size_t)1 << c->n, na = D / d;
  qdm_cplx *W = calloc(2 * d * D, sizeof *W);
  if (!W) return qdm_fail(QDM_ENOMEM, "qdm_kraus_from_circuit_backward: out of memory");
  qdm_cplx *lam = W + d * D;
  for (size_t s = 0; s < d; s++) W[s * D + s] = 1;
  r = qdm_run(c, theta, NULL, 0, W, (int)d);
  for (size_t a = 0; a < na; a++)
    for (size_t i = 0; i < d; i++)
      for (size_t s = 0; s < d; s++) lam[s * D + a * d + i] = dK[a * d * d + i * d + s];
  if (!r) r = qdm_run_adjoint(c, theta, NULL, 0, W, lam, (int)d, dtheta, NULL);
  free(W);
  return r;
}
