/* expressibility.c -- the circuit descriptors of report section 6 (after
 * Sim, Johnson & Aspuru-Guzik 2019): expressibility as KL(P_pqc || P_haar)
 * of the pair-fidelity distribution (6.1, eq. 23) and entangling capability
 * as the mean Meyer-Wallach measure (6.2, eqs. 24-25).
 *
 * Speed: every sample has its own theta, while the engine shares theta
 * across rows, so each state is its own engine call (see UNITARY_MAX_N for
 * which call). Pairs are independent,
 * so they are spread over threads, each pair drawing from its own RNG
 * stream so the numbers do not depend on the thread count; sums are taken
 * afterwards in pair order. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/metrics.h"

double qdm_haar_mw(int n) {
  double N = ldexp(1.0, n);
  return (N - 2) / (N + 1);
}

/* Meyer-Wallach via the single-qubit purities: for rho_k = [[a, b], [b*, d]],
 * tr rho_k^2 = a^2 + d^2 + 2 |b|^2 (eq. 24 with D = (1 - tr rho^2) / 2). */
static double mw_nocheck(const qdm_cplx *psi, int n) {
  double s = 0;
  for (int q = 0; q < n; q++) {
    qdm_cplx r[4];
    qdm_reduced1(psi, n, q, r);
    double a = creal(r[0]), d = creal(r[3]);
    s += a * a + d * d + 2 * (creal(r[1]) * creal(r[1]) + cimag(r[1]) * cimag(r[1]));
  }
  double Q = 2 * (1 - s / n);
  return Q > 0 ? Q : 0; /* rounding can leave -1e-16 for product states */
}

double qdm_meyer_wallach(const qdm_cplx *psi, int n) {
  if (!psi || n < 1 || n > QDM_MAX_QUBITS) {
    qdm_fail(QDM_EINVAL, "qdm_meyer_wallach: need a state and n in 1..%d (got n = %d)", QDM_MAX_QUBITS, n);
    return NAN;
  }
  return mw_nocheck(psi, n);
}

static void bloch_nocheck(const qdm_cplx *psi, int n, int q, double *v) {
  qdm_cplx r[4];
  qdm_reduced1(psi, n, q, r);
  v[0] = 2 * creal(r[1]);   /* tr(rho X) = 2 Re rho_01 */
  v[1] = -2 * cimag(r[1]);  /* tr(rho Y) = -2 Im rho_01 */
  v[2] = creal(r[0]) - creal(r[3]);
}

int qdm_bloch_vector(const qdm_cplx *psi, int n, int q, double xyz[3]) {
  if (!psi || !xyz) return qdm_fail(QDM_EINVAL, "qdm_bloch_vector: psi and xyz must be non-NULL");
  if (n < 1 || n > QDM_MAX_QUBITS) return qdm_fail(QDM_EINVAL, "qdm_bloch_vector: n = %d, expected 1..%d", n, QDM_MAX_QUBITS);
  if (q < 0 || q >= n) return qdm_fail(QDM_EINVAL, "qdm_bloch_vector: qubit %d, expected 0..%d", q, n - 1);
  bloch_nocheck(psi, n, q, xyz);
  return QDM_OK;
}

/* (1-a)^{N-1} - (1-b)^{N-1} = (1-a)^{N-1} (1 - ((1-b)/(1-a))^{N-1}); the KL
 * uses its logarithm, so that a bin whose Haar probability underflows a
 * double (N = 2^20, F = 0.5: about e^{-726817}) still gives a finite term. */
static double haar_fid_logprob(double N, double a, double b) {
  double la = log1p(-a), lb = b < 1 ? log1p(-b) : -INFINITY;
  double lr = (N - 1) * (lb - la); /* log of the ratio term */
  return (N - 1) * la + log(-expm1(lr));
}

double qdm_haar_fid_prob(double N, double a, double b) {
  if (!(N >= 2) || !(a >= 0) || !(b <= 1) || !(a < b)) return NAN;
  return exp(haar_fid_logprob(N, a, b));
}

/* One bin holds every fidelity of any circuit and of Haar alike: the KL
 * divergence would be 0, "perfectly expressive", whatever the circuit. */
#define BINS_WHY(b) ((b) == 1 ? " (with one bin P_pqc = P_haar = 1 and the KL is 0 for every circuit)" : "")

int qdm_fid_kl(const double *fid, int nf, int bins, double dim, double *kl, double *p) {
  if (!fid || !kl) return qdm_fail(QDM_EINVAL, "qdm_fid_kl: fid and kl must be non-NULL");
  if (nf < 1) return qdm_fail(QDM_EINVAL, "qdm_fid_kl: nf = %d fidelities, expected >= 1", nf);
  if (bins < 2 || bins > 100000) return qdm_fail(QDM_EINVAL, "qdm_fid_kl: bins = %d, expected 2..100000%s", bins, BINS_WHY(bins));
  if (!(dim >= 2)) return qdm_fail(QDM_EINVAL, "qdm_fid_kl: dimension %g, expected >= 2", dim);
  double *h = calloc(bins, sizeof *h);
  if (!h) return qdm_fail(QDM_ENOMEM, "qdm_fid_kl: out of memory");
  for (int i = 0; i < nf; i++) {
    double f = fid[i];
    if (!(f >= -1e-9 && f <= 1 + 1e-9)) {
      free(h);
      return qdm_fail(QDM_EINVAL, "qdm_fid_kl: fid[%d] = %g, expected a fidelity in [0, 1]", i, f);
    }
    int b = (int)(f * bins);
    h[b < 0 ? 0 : b >= bins ? bins - 1 : b] += 1;
  }
  double s = 0;
  for (int b = 0; b < bins; b++) {
    double pb = h[b] / nf;
    if (p) p[b] = pb;
    if (pb > 0) s += pb * (log(pb) - haar_fid_logprob(dim, (double)b / bins, (double)(b + 1) / bins));
  }
  free(h);
  *kl = s;
  return QDM_OK;
}

void qdm_expr_opts_default(qdm_expr_opts *o) {
  if (!o) return;
  memset(o, 0, sizeof *o);
  o->samples = 5000;
  o->bins = 75;
  o->seed = 1;
}

/* ---- the sampling loop, shared by circuits and Haar states ---- */

typedef struct {
  const qdm_circuit *c; /* NULL: Haar-random states */
  int n, np;
} source;

/* Up to this many qubits a sample is column 0 of qdm_unitary (the engine's
 * vectorised multi-row path over the 2^n columns); above it, qdm_run on the
 * single row. Measured on the 2-core development VM with sim14, 5 layers:
 * unitary 8 us vs run 41 us at n = 4, 24 vs 62 us at n = 5, 108 vs 84 us at
 * n = 6 (a single-row run pays a fixed cost per gate). */
#define UNITARY_MAX_N 5

/* Fills psi (dim) with one sample; theta (np values) and U (dim^2 when
 * n <= UNITARY_MAX_N) are scratch. */
static int sample_state(const source *s, qdm_rng *rng, double *theta, qdm_cplx *U, qdm_cplx *psi) {
  size_t dim = (size_t)1 << s->n;
  if (!s->c) {
    qdm_rng_haar_state(rng, psi, dim);
    return QDM_OK;
  }
  for (int j = 0; j < s->np; j++) theta[j] = 2 * M_PI * qdm_rng_uniform(rng);
  if (s->n <= UNITARY_MAX_N) {
    int e = qdm_unitary(s->c, theta, U);
    for (size_t i = 0; i < dim; i++) psi[i] = U[i * dim]; /* U |0...0> */
    return e;
  }
  qdm_zero_state(psi, s->n, 1);
  return qdm_run(s->c, theta, NULL, 0, psi, 1);
}

static double fidelity(const qdm_cplx *a, const qdm_cplx *b, size_t dim) {
  double re = 0, im = 0;
  for (size_t i = 0; i < dim; i++) {
    re += creal(a[i]) * creal(b[i]) + cimag(a[i]) * cimag(b[i]);
    im += creal(a[i]) * cimag(b[i]) - cimag(a[i]) * creal(b[i]);
  }
  return re * re + im * im;
}

static int run_pairs(const source *s, const qdm_expr_opts *o, double *F, double *Q) {
  size_t dim = (size_t)1 << s->n;
  int S = o->samples, err = QDM_OK;
  char msg[256] = "";
  double work = (double)S * dim * (s->c ? s->c->ngates + 8 : 8);
#pragma omp parallel if (work > 2e6)
  {
    size_t nu = s->c && s->n <= UNITARY_MAX_N ? dim * dim : 0;
    qdm_cplx *pa = malloc((2 * dim + nu) * sizeof *pa), *pb = pa ? pa + dim : NULL, *U = pa ? pa + 2 * dim : NULL;
    double *theta = malloc((s->np > 0 ? s->np : 1) * sizeof *theta);
    int e = pa && theta ? QDM_OK : qdm_fail(QDM_ENOMEM, "qdm_expressibility: out of memory for %zu amplitudes", dim);
#pragma omp for schedule(dynamic, 64)
    for (int i = 0; i < S; i++) {
      if (e) continue;
      qdm_rng rng;
      qdm_rng_stream(&rng, o->seed, (uint64_t)i);
      if ((e = sample_state(s, &rng, theta, U, pa)) || (e = sample_state(s, &rng, theta, U, pb))) continue;
      F[i] = fidelity(pa, pb, dim);
      Q[2 * i] = mw_nocheck(pa, s->n);
      Q[2 * i + 1] = mw_nocheck(pb, s->n);
      if (o->bloch) {
        bloch_nocheck(pa, s->n, o->bloch_qubit, o->bloch + 6 * (size_t)i);
        bloch_nocheck(pb, s->n, o->bloch_qubit, o->bloch + 6 * (size_t)i + 3);
      }
    }
    if (e) {
#pragma omp critical(qdm_expr_err)
      if (!err) {
        err = e;
        snprintf(msg, sizeof msg, "%s", qdm_errmsg()); /* the message is thread-local */
      }
    }
    free(pa);
    free(theta);
  }
  return err ? qdm_fail(err, "%s", msg) : QDM_OK;
}

static int describe(const source *s, const qdm_expr_opts *o, qdm_expr_result *r) {
  const char *who = s->c ? "qdm_expressibility" : "qdm_expressibility_haar";
  if (!o || !r) return qdm_fail(QDM_EINVAL, "%s: opts and result must be non-NULL", who);
  if (o->samples < 1 || o->samples > 100000000)
    return qdm_fail(QDM_EINVAL, "%s: samples = %d, expected 1..1e8", who, o->samples);
  if (o->bins < 2 || o->bins > 100000)
    return qdm_fail(QDM_EINVAL, "%s: bins = %d, expected 2..100000%s", who, o->bins, BINS_WHY(o->bins));
  if (o->bloch && (o->bloch_qubit < 0 || o->bloch_qubit >= s->n))
    return qdm_fail(QDM_EINVAL, "%s: bloch_qubit = %d, expected 0..%d", who, o->bloch_qubit, s->n - 1);
  int S = o->samples;
  double *F = o->fid ? o->fid : malloc(S * sizeof *F), *Q = malloc(2 * (size_t)S * sizeof *Q);
  if (!F || !Q) {
    if (!o->fid) free(F);
    free(Q);
    return qdm_fail(QDM_ENOMEM, "%s: out of memory for %d samples", who, S);
  }
  int e = run_pairs(s, o, F, Q);
  if (!e) e = qdm_fid_kl(F, S, o->bins, ldexp(1.0, s->n), &r->expressibility, o->hist);
  if (!e) {
    double m = 0, v = 0;
    for (int i = 0; i < 2 * S; i++) m += Q[i];
    m /= 2 * S;
    for (int i = 0; i < 2 * S; i++) v += (Q[i] - m) * (Q[i] - m);
    r->entangling = m;
    r->entangling_sd = sqrt(v / (2 * S - 1));
    r->haar_mw = qdm_haar_mw(s->n);
    r->nparams = s->np;
  }
  if (!o->fid) free(F);
  free(Q);
  return e;
}

int qdm_expressibility(const qdm_circuit *c, const qdm_expr_opts *o, qdm_expr_result *r) {
  if (!c) return qdm_fail(QDM_EINVAL, "qdm_expressibility: circuit is NULL");
  if (c->ninputs > 0)
    return qdm_fail(QDM_EINVAL, "qdm_expressibility: circuit reads %d per-row inputs, expected none", c->ninputs);
  if (c->n > 24) return qdm_fail(QDM_EINVAL, "qdm_expressibility: n = %d qubits, expected at most 24", c->n);
  source s = {c, c->n, c->nparams};
  return describe(&s, o, r);
}

int qdm_expressibility_haar(int n, const qdm_expr_opts *o, qdm_expr_result *r) {
  if (n < 1 || n > 24) return qdm_fail(QDM_EINVAL, "qdm_expressibility_haar: n = %d, expected 1..24", n);
  source s = {NULL, n, 0};
  return describe(&s, o, r);
}
