/* qdiff.c -- the quantum diffusion model of the report's section 2.2.
 *
 * Forward (eqs. 9-10): rho_t^k = alpha_t |psi_k><psi_k| + (1 - alpha_t) I/d.
 * Reverse: one learned channel per step, D_t(rho) = sum_a K_a rho K_a^dagger
 * with K_a = (<a| (x) I) V(theta_t) (|0> (x) I): a circuit on system + ancilla
 * qubits, then the ancillas traced out. With no ancilla D_t is the unitary
 * step of eq. 11, and U (I/d) U^dagger = I/d: a unitary reverse process
 * started from the maximally mixed state never leaves it (fidelity 1/d to
 * any pure state, purity 1/d). The ancillas carry entropy away: with m of
 * them a step can lower the rank by at most a factor 2^m.
 *
 * Gradients: the loss is linear in the generated density matrix for eq. 12,
 * so it is back-propagated as a matrix co-gradient G through each channel
 * (Heisenberg picture, G <- sum_a K_a^dagger G K_a), giving dL/dK_a = 2 G K_a rho
 * per step; the Kraus co-gradients go through the circuit by one adjoint
 * sweep of the engine (qdm_run_adjoint) over the d basis columns. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "qdm/nn.h"
#include "qdm/qdiff.h"

int qdm_qdiff_schedule(int T, int kind, double p1, double pT, double *p, double *alpha) {
  if (T < 1 || T > 10000) return qdm_fail(QDM_EINVAL, "qdm_qdiff_schedule: T = %d steps, expected 1..10000", T);
  if (!p || !alpha) return qdm_fail(QDM_EINVAL, "qdm_qdiff_schedule: NULL p or alpha");
  if (kind != QDM_QSCHED_COSINE && kind != QDM_QSCHED_LINEAR)
    return qdm_fail(QDM_EINVAL, "qdm_qdiff_schedule: unknown schedule kind %d", kind);
  if (kind == QDM_QSCHED_LINEAR && !(p1 >= 0 && p1 <= 1 && pT >= 0 && pT <= 1))
    return qdm_fail(QDM_EINVAL, "qdm_qdiff_schedule: p1 = %g, pT = %g, expected in [0, 1]", p1, pT);
  p[0] = 0;
  alpha[0] = 1;
  for (int t = 1; t <= T; t++) {
    if (kind == QDM_QSCHED_COSINE) {
      double c = cos(M_PI * t / (2.0 * T));
      alpha[t] = t == T ? 0 : c * c;
      p[t] = alpha[t - 1] > 0 ? 1 - alpha[t] / alpha[t - 1] : 1;
    } else {
      p[t] = T == 1 ? pT : p1 + (pT - p1) * (t - 1) / (double)(T - 1);
      alpha[t] = alpha[t - 1] * (1 - p[t]);
    }
  }
  return QDM_OK;
}

/* layers x [RY, RZ on every qubit; CNOT ring], then a last RY, RZ layer:
 * a plain hardware-efficient ansatz on system + ancilla qubits. */
static int build_step_circuit(qdm_circuit *c, int N, int layers) {
  int p = 0, r = QDM_OK;
  for (int l = 0; l <= layers && !r; l++) {
    for (int q = 0; q < N && !r; q++) {
      r = qdm_addr(c, QDM_GRY, q, qdm_par(p++));
      if (!r) r = qdm_addr(c, QDM_GRZ, q, qdm_par(p++));
    }
    if (l == layers || N < 2) continue;
    for (int q = 0; q < N && !r; q++) {
      if (N == 2 && q == 1) break; /* the ring of two is one CNOT */
      r = qdm_cnot(c, q, (q + 1) % N);
    }
  }
  return r;
}

int qdm_qdiff_init(qdm_qdiff *m, int n, int nanc, int T, int layers, const qdm_circuit *step, const double *p,
                   double init_scale, uint64_t seed) {
  if (!m) return qdm_fail(QDM_EINVAL, "qdm_qdiff_init: model is NULL");
  memset(m, 0, sizeof *m);
  if (n < 1 || n > 10) return qdm_fail(QDM_EINVAL, "qdm_qdiff_init: n = %d system qubits, expected 1..10", n);
  if (nanc < 0 || n + nanc > 14)
    return qdm_fail(QDM_EINVAL, "qdm_qdiff_init: nanc = %d ancillas, expected 0..%d", nanc, 14 - n);
  if (T < 1 || T > 1000) return qdm_fail(QDM_EINVAL, "qdm_qdiff_init: T = %d steps, expected 1..1000", T);
  if (layers < 0 || layers > 1000) return qdm_fail(QDM_EINVAL, "qdm_qdiff_init: layers = %d, expected 0..1000", layers);
  if (!p) return qdm_fail(QDM_EINVAL, "qdm_qdiff_init: schedule p is NULL");
  if (step && (step->n != n + nanc || step->ninputs))
    return qdm_fail(QDM_EINVAL, "qdm_qdiff_init: step circuit has %d qubits and %d inputs, expected %d qubits, no inputs",
                    step->n, step->ninputs, n + nanc);
  if (!(init_scale >= 0 && isfinite(init_scale)))
    return qdm_fail(QDM_EINVAL, "qdm_qdiff_init: init_scale = %g, expected finite >= 0", init_scale);
  for (int t = 1; t <= T; t++)
    if (!(p[t] >= 0 && p[t] <= 1)) return qdm_fail(QDM_EINVAL, "qdm_qdiff_init: p[%d] = %g, expected in [0, 1]", t, p[t]);
  m->n = n;
  m->nanc = nanc;
  m->T = T;
  m->layers = layers;
  m->dim = 1 << n;
  m->nk = 1 << nanc;
  m->p = malloc((T + 1) * sizeof *m->p);
  m->alpha = malloc((T + 1) * sizeof *m->alpha);
  m->c = qdm_circuit_new(n + nanc);
  int r = !(m->p && m->alpha && m->c) ? QDM_ENOMEM
          : step                      ? qdm_append(m->c, step, 0, 0)
                                      : build_step_circuit(m->c, n + nanc, layers);
  if (!r) {
    m->np = m->c->nparams;
    m->theta = malloc(((size_t)T * m->np + 1) * sizeof *m->theta);
    if (!m->theta) r = QDM_ENOMEM;
  }
  if (r) {
    qdm_qdiff_free(m);
    return r == QDM_ENOMEM ? qdm_fail(QDM_ENOMEM, "qdm_qdiff_init: out of memory") : r;
  }
  m->p[0] = 0;
  m->alpha[0] = 1;
  for (int t = 1; t <= T; t++) {
    m->p[t] = p[t];
    m->alpha[t] = m->alpha[t - 1] * (1 - p[t]);
  }
  qdm_rng g;
  qdm_rng_seed(&g, seed);
  for (size_t i = 0; i < (size_t)T * m->np; i++) m->theta[i] = init_scale * qdm_rng_normal(&g);
  return QDM_OK;
}

void qdm_qdiff_free(qdm_qdiff *m) {
  if (!m) return;
  free(m->p);
  free(m->alpha);
  free(m->theta);
  qdm_circuit_free(m->c);
  memset(m, 0, sizeof *m);
}

static int model_check(const qdm_qdiff *m, const char *who) {
  if (!m || !m->c || !m->theta) return qdm_fail(QDM_EINVAL, "%s: model is NULL or not initialised", who);
  return QDM_OK;
}

int qdm_qdiff_kraus(const qdm_qdiff *m, int t, qdm_cplx *K) {
  int r = model_check(m, "qdm_qdiff_kraus");
  if (r) return r;
  if (t < 1 || t > m->T) return qdm_fail(QDM_EINVAL, "qdm_qdiff_kraus: step t = %d, expected 1..%d", t, m->T);
  if (!K) return qdm_fail(QDM_EINVAL, "qdm_qdiff_kraus: K is NULL");
  return qdm_kraus_from_circuit(m->c, m->n, m->theta + (size_t)(t - 1) * m->np, K);
}

/* all steps' Kraus operators: K + (t - 1) * nk * d^2 */
static int all_kraus(const qdm_qdiff *m, qdm_cplx *K) {
  size_t blk = (size_t)m->nk * m->dim * m->dim;
  int r = QDM_OK;
  for (int t = 1; t <= m->T && !r; t++) r = qdm_qdiff_kraus(m, t, K + (t - 1) * blk);
  return r;
}

static void chain(const qdm_qdiff *m, const qdm_cplx *K, qdm_cplx *traj) {
  size_t dd = (size_t)m->dim * m->dim, blk = m->nk * dd;
  for (int t = m->T; t >= 1; t--) qdm_kraus_apply(K + (t - 1) * blk, m->nk, m->dim, traj + t * dd, traj + (t - 1) * dd, 1);
}

int qdm_qdiff_reverse(const qdm_qdiff *m, const qdm_cplx *rho_T, qdm_cplx *traj) {
  int r = model_check(m, "qdm_qdiff_reverse");
  if (r) return r;
  if (!rho_T || !traj) return qdm_fail(QDM_EINVAL, "qdm_qdiff_reverse: NULL rho_T or traj");
  size_t dd = (size_t)m->dim * m->dim;
  qdm_cplx *K = malloc((size_t)m->T * m->nk * dd * sizeof *K);
  if (!K) return qdm_fail(QDM_ENOMEM, "qdm_qdiff_reverse: out of memory");
  r = all_kraus(m, K);
  if (!r) {
    memcpy(traj + (size_t)m->T * dd, rho_T, dd * sizeof *traj);
    chain(m, K, traj);
  }
  free(K);
  return r;
}

/* S = (1/K) sum_k psi_k psi_k^dagger: eq. 12's mean fidelity is tr(S rho). */
static void ensemble_matrix(const qdm_cplx *psi, int K, int d, qdm_cplx *S) {
  memset(S, 0, (size_t)d * d * sizeof *S);
  for (int k = 0; k < K; k++)
    for (int i = 0; i < d; i++)
      for (int j = 0; j < d; j++) S[(size_t)i * d + j] += psi[(size_t)k * d + i] * conj(psi[(size_t)k * d + j]) / K;
}

static double re_tr_prod(const qdm_cplx *A, const qdm_cplx *B, int d) { /* Re tr(A B) */
  double s = 0;
  for (int i = 0; i < d; i++)
    for (int j = 0; j < d; j++) s += creal(A[(size_t)i * d + j] * B[(size_t)j * d + i]);
  return s;
}

/* End to end: L = 1 - tr(S rho_0) (eq. 12) or mean_k T(rho_0, psi_k), rho_0
 * generated from I/d; G_0 = dL/drho_0 back through every channel. */
static int loss_chain(const qdm_qdiff *m, const qdm_cplx *psi, int K, int loss, const qdm_cplx *S, qdm_cplx *Kr,
                      qdm_cplx *dK, qdm_cplx *traj, qdm_cplx *G, double *L, double *dtheta) {
  int d = m->dim, r = QDM_OK;
  size_t dd = (size_t)d * d, blk = m->nk * dd;
  qdm_dm_mixed(traj + (size_t)m->T * dd, d, 1);
  chain(m, Kr, traj);
  qdm_cplx *G2 = G + dd, *P = G + 2 * dd;
  if (loss == QDM_QLOSS_FIDELITY) {
    *L = 1 - re_tr_prod(S, traj, d);
    for (size_t i = 0; i < dd; i++) G[i] = -S[i];
  } else {
    double s = 0;
    memset(G, 0, dd * sizeof *G);
    for (int k = 0; k < K && !r; k++) {
      double Tk;
      qdm_dm_from_states(psi + (size_t)k * d, d, 1, P);
      r = qdm_dm_trace_distance(traj, P, d, &Tk, G2);
      s += Tk / K;
      for (size_t i = 0; i < dd; i++) G[i] += G2[i] / K;
    }
    *L = s;
  }
  if (r || !dtheta) return r;
  memset(dK, 0, (size_t)m->T * blk * sizeof *dK);
  for (int t = 1; t <= m->T; t++) {
    qdm_kraus_apply_backward(Kr + (t - 1) * blk, m->nk, d, traj + t * dd, G, G2, dK + (t - 1) * blk, 1);
    memcpy(G, G2, dd * sizeof *G);
  }
  for (int t = 1; t <= m->T && !r; t++)
    r = qdm_kraus_from_circuit_backward(m->c, m->n, m->theta + (size_t)(t - 1) * m->np, dK + (t - 1) * blk,
                                        dtheta + (size_t)(t - 1) * m->np);
  return r;
}

/* Each step alone on the forward-noised targets, eq. 12 per step, averaged over t:
 *   L_t = 1 - alpha_t/K sum_k sum_a |<psi_k|K_a|psi_k>|^2 - (1-alpha_t)/d sum_a tr(S K_a K_a^dagger)
 * (the two terms are the psi_k part and the I/d part of rho_t^k). Co-gradient:
 *   dL_t/dK_a = -2 alpha_t/K sum_k z_ka psi_k psi_k^dagger - 2 (1-alpha_t)/d S K_a. */
static int loss_step(const qdm_qdiff *m, const qdm_cplx *psi, int K, const qdm_cplx *S, qdm_cplx *Kr, qdm_cplx *dK,
                     qdm_cplx *Y, double *L, double *dtheta) {
  int d = m->dim, T = m->T, r = QDM_OK;
  size_t dd = (size_t)d * d, blk = m->nk * dd;
  qdm_cplx *Zc = Y + (size_t)K * d, *SK = Zc + (size_t)K * d;
  const qdm_cplx one = 1, zero = 0;
  double tot = 0;
  if (dtheta) memset(dK, 0, (size_t)T * blk * sizeof *dK);
  for (int t = 1; t <= T; t++) {
    double at = m->alpha[t], lt = 1;
    for (int a = 0; a < m->nk; a++) {
      const qdm_cplx *Ka = Kr + (t - 1) * blk + a * dd;
      qdm_cplx *dKa = dK + (t - 1) * blk + a * dd;
      /* Y[k] = K_a psi_k */
      cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, d, d, &one, psi, d, Ka, d, &zero, Y, d);
      for (int k = 0; k < K; k++) {
        qdm_cplx z = 0;
        for (int i = 0; i < d; i++) z += conj(psi[(size_t)k * d + i]) * Y[(size_t)k * d + i];
        lt -= at / K * (creal(z) * creal(z) + cimag(z) * cimag(z));
        for (int j = 0; j < d; j++) Zc[(size_t)k * d + j] = z * conj(psi[(size_t)k * d + j]);
      }
      cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, d, d, &one, S, d, Ka, d, &zero, SK, d);
      double tr = 0;
      for (size_t i = 0; i < dd; i++) tr += creal(SK[i] * conj(Ka[i]));
      lt -= (1 - at) / d * tr;
      if (!dtheta) continue;
      const qdm_cplx ca = -2.0 * at / K / T, cb = -2.0 * (1 - at) / d / T;
      cblas_zgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, K, &ca, psi, d, Zc, d, &one, dKa, d);
      for (size_t i = 0; i < dd; i++) dKa[i] += cb * SK[i];
    }
    tot += lt / T;
  }
  *L = tot;
  for (int t = 1; t <= T && !r && dtheta; t++)
    r = qdm_kraus_from_circuit_backward(m->c, m->n, m->theta + (size_t)(t - 1) * m->np, dK + (t - 1) * blk,
                                        dtheta + (size_t)(t - 1) * m->np);
  return r;
}

int qdm_qdiff_loss(const qdm_qdiff *m, const qdm_cplx *psi, int K, int train, int loss, double *L, double *dtheta) {
  int r = model_check(m, "qdm_qdiff_loss");
  if (r) return r;
  if (!psi || !L) return qdm_fail(QDM_EINVAL, "qdm_qdiff_loss: NULL psi or L");
  if (K < 1) return qdm_fail(QDM_EINVAL, "qdm_qdiff_loss: K = %d target states, expected >= 1", K);
  if (train != QDM_QTRAIN_CHAIN && train != QDM_QTRAIN_STEP)
    return qdm_fail(QDM_EINVAL, "qdm_qdiff_loss: train mode %d, expected chain (0) or step (1)", train);
  if (loss != QDM_QLOSS_FIDELITY && loss != QDM_QLOSS_TRACE)
    return qdm_fail(QDM_EINVAL, "qdm_qdiff_loss: loss %d, expected fidelity (0) or trace (1)", loss);
  if (train == QDM_QTRAIN_STEP && loss == QDM_QLOSS_TRACE)
    return qdm_fail(QDM_EINVAL, "qdm_qdiff_loss: the trace-distance loss needs chain training");
  int d = m->dim, T = m->T;
  size_t dd = (size_t)d * d, blk = m->nk * dd;
  size_t nbuf = 2 * (size_t)T * blk + dd + (T + 1) * dd + 3 * dd + 2 * (size_t)K * d + dd;
  qdm_cplx *buf = malloc(nbuf * sizeof *buf);
  if (!buf) return qdm_fail(QDM_ENOMEM, "qdm_qdiff_loss: out of memory");
  qdm_cplx *Kr = buf, *dK = Kr + T * blk, *S = dK + T * blk, *traj = S + dd, *G = traj + (T + 1) * dd;
  ensemble_matrix(psi, K, d, S);
  r = all_kraus(m, Kr);
  if (!r && train == QDM_QTRAIN_CHAIN) r = loss_chain(m, psi, K, loss, S, Kr, dK, traj, G, L, dtheta);
  if (!r && train == QDM_QTRAIN_STEP) r = loss_step(m, psi, K, S, Kr, dK, G, L, dtheta);
  free(buf);
  return r;
}

int qdm_qdiff_train(qdm_qdiff *m, const qdm_cplx *psi, int K, const qdm_qdiff_opts *o, double *loss_curve) {
  int r = model_check(m, "qdm_qdiff_train");
  if (r) return r;
  if (!o || !psi) return qdm_fail(QDM_EINVAL, "qdm_qdiff_train: NULL options or targets");
  if (o->iters < 0) return qdm_fail(QDM_EINVAL, "qdm_qdiff_train: iters = %d, expected >= 0", o->iters);
  if (!(o->lr > 0 && isfinite(o->lr))) return qdm_fail(QDM_EINVAL, "qdm_qdiff_train: lr = %g, expected > 0", o->lr);
  size_t np = (size_t)m->T * m->np;
  double *g = calloc(np + 1, sizeof *g);
  if (!g) return qdm_fail(QDM_ENOMEM, "qdm_qdiff_train: out of memory");
  qdm_adam opt;
  r = qdm_adam_init(&opt, 0.9, 0.999, 1e-8, 0);
  if (!r) r = qdm_adam_add_group(&opt, "qdiff.theta", m->theta, g, np, 1.0, 0.0);
  for (int it = 1; it <= o->iters && !r; it++) {
    double L;
    memset(g, 0, np * sizeof *g);
    r = qdm_qdiff_loss(m, psi, K, o->train, o->loss, &L, g);
    if (!r) r = qdm_adam_step(&opt, o->lr);
    if (r) break;
    if (loss_curve) loss_curve[it - 1] = L;
    if (o->verbose && (it == 1 || it == o->iters || it % (o->iters / 10 > 0 ? o->iters / 10 : 1) == 0))
      fprintf(stderr, "  %s iter %4d/%d  loss %.6f\n", o->tag ? o->tag : "qdiff", it, o->iters, L);
  }
  qdm_adam_free(&opt);
  free(g);
  return r;
}
