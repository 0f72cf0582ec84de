/* gradvar.c -- the barren-plateau test (McClean, Boixo, Smelyanskiy,
 * Babbush & Neven, Nat. Commun. 9, 4812, 2018): the variance of a cost
 * gradient over parameters drawn uniformly from [0, 2 pi). When the
 * circuit family forms a 2-design the variance decays like 2^-n, which
 * the report (section 8) names as the reason Adam stalls.
 *
 * Costs are C = <psi|H|psi> with a diagonal H; the co-gradient of C with
 * respect to psi is 2 H psi, and one adjoint sweep (qdm_run_adjoint) gives
 * dC/dtheta for all P parameters of a sample at the price of ~3 circuit
 * passes. Samples are independent, so they run in parallel over whole
 * circuits (docs/architecture.md, "Where the time goes") and each draws from its own stream. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/qngd.h"

const qdm_enum_name qdm_cost_names[] = {
    {"zz", QDM_COST_ZZ}, {"global", QDM_COST_GLOBAL}, {"local", QDM_COST_LOCAL}, {NULL, 0}};

/* diagonal of H at basis index i */
static double cost_diag(int cost, int n, size_t i) {
  if (cost == QDM_COST_ZZ) return (i & 1 ? -1.0 : 1.0) * (i & 2 ? -1.0 : 1.0);
  if (cost == QDM_COST_GLOBAL) return i == 0;
  return (double)(n - __builtin_popcountll(i)) / n;
}

/* dC/dtheta of one sample into grad (P values). */
static int one_sample(const qdm_circuit *c, const double *h, uint64_t seed, int s, double *theta,
                      qdm_cplx *psi, qdm_cplx *lam, double *grad) {
  size_t dim = (size_t)1 << c->n;
  qdm_rng r;
  qdm_rng_stream(&r, seed, (uint64_t)s);
  for (int k = 0; k < c->nparams; k++) theta[k] = 2 * M_PI * qdm_rng_uniform(&r);
  qdm_zero_state(psi, c->n, 1);
  int e = qdm_run(c, theta, NULL, 0, psi, 1);
  if (e) return e;
  for (size_t i = 0; i < dim; i++) lam[i] = 2 * h[i] * psi[i];
  memset(grad, 0, c->nparams * sizeof *grad);
  return qdm_run_adjoint(c, theta, NULL, 0, psi, lam, 1, grad, NULL);
}

int qdm_gradvar_circuit(const qdm_circuit *c, int cost, int samples, uint64_t seed, double *mean, double *var) {
  const char *who = "qdm_gradvar_circuit";
  if (!c) return qdm_fail(QDM_EINVAL, "%s: circuit is NULL", who);
  if (c->ninputs > 0) return qdm_fail(QDM_EINVAL, "%s: circuit reads %d per-row inputs, expected none", who, c->ninputs);
  if (cost != QDM_COST_ZZ && cost != QDM_COST_GLOBAL && cost != QDM_COST_LOCAL)
    return qdm_fail(QDM_EINVAL, "%s: cost = %d, expected QDM_COST_ZZ, _GLOBAL or _LOCAL", who, cost);
  if (cost == QDM_COST_ZZ && c->n < 2) return qdm_fail(QDM_EINVAL, "%s: the zz cost needs n >= 2 qubits, got %d", who, c->n);
  if (samples < 2) return qdm_fail(QDM_EINVAL, "%s: samples = %d, expected >= 2", who, samples);
  int P = c->nparams;
  if (P == 0) return QDM_OK;
  size_t dim = (size_t)1 << c->n;
  double *G = malloc((size_t)samples * P * sizeof *G), *h = malloc(dim * sizeof *h);
  if (!G || !h) {
    free(G);
    free(h);
    return qdm_fail(QDM_ENOMEM, "%s: out of memory for %d samples x %d parameters", who, samples, P);
  }
  for (size_t i = 0; i < dim; i++) h[i] = cost_diag(cost, c->n, i);
  int err = 0;
  /* whole circuits per thread; worth it only when a sample is not tiny */
  int par = (double)samples * dim * (c->ngates + 1) > 2e6;
#pragma omp parallel if (par)
  {
    double *theta = malloc(P * sizeof *theta);
    qdm_cplx *psi = malloc(2 * dim * sizeof *psi);
    if (!theta || !psi) {
#pragma omp atomic write
      err = QDM_ENOMEM;
    }
#pragma omp for schedule(dynamic, 1)
    for (int s = 0; s < samples; s++) {
      if (!theta || !psi) continue;
      int e = one_sample(c, h, seed, s, theta, psi, psi + dim, G + (size_t)s * P);
      if (e) {
#pragma omp atomic write
        err = e;
      }
    }
    free(theta);
    free(psi);
  }
  if (!err) {
    for (int k = 0; k < P; k++) {
      double m = 0, v = 0;
      for (int s = 0; s < samples; s++) m += G[(size_t)s * P + k];
      m /= samples;
      for (int s = 0; s < samples; s++) v += (G[(size_t)s * P + k] - m) * (G[(size_t)s * P + k] - m);
      if (mean) mean[k] = m;
      if (var) var[k] = v / (samples - 1);
    }
  }
  free(G);
  free(h);
  if (err) return qdm_fail(err, "%s: a sample failed (%s)", who, err == QDM_ENOMEM ? "out of memory" : "engine error");
  return QDM_OK;
}

int qdm_gradvar_ansatz(const char *ansatz, int n, int layers, const qdm_ansatz_opts *o, int cost, int samples,
                       uint64_t seed, qdm_gradvar_result *out) {
  const char *who = "qdm_gradvar_ansatz";
  if (!ansatz || !out) return qdm_fail(QDM_EINVAL, "%s: ansatz name or result is NULL", who);
  if (n < 1 || n > QDM_MAX_QUBITS) return qdm_fail(QDM_EINVAL, "%s: n = %d qubits, expected 1..%d", who, n, QDM_MAX_QUBITS);
  memset(out, 0, sizeof *out);
  qdm_circuit *c = qdm_circuit_new(n);
  if (!c) return qdm_fail(QDM_ENOMEM, "%s: out of memory", who);
  int P = qdm_ansatz_build(c, ansatz, layers, 0, o);
  if (P < 0) {
    qdm_circuit_free(c);
    return -P;
  }
  double *var = malloc((P > 0 ? P : 1) * sizeof *var);
  if (!var) {
    qdm_circuit_free(c);
    return qdm_fail(QDM_ENOMEM, "%s: out of memory", who);
  }
  double t0 = qdm_now();
  int e = qdm_gradvar_circuit(c, cost, samples, seed, NULL, var);
  if (!e) {
    out->n = n;
    out->layers = layers;
    out->nparams = P;
    out->samples = samples;
    out->seconds = qdm_now() - t0;
    for (int k = 0; k < P; k++) {
      out->var_mean += var[k] / P;
      if (var[k] > out->var_max) out->var_max = var[k];
    }
    out->var_first = P > 0 ? var[0] : 0;
  }
  free(var);
  qdm_circuit_free(c);
  return e;
}
