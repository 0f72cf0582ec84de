/* unet_hw.c -- hardware realism for the hybrid U-Net: what a
 * device would give instead of the exact simulation in unet.c.
 *
 *  noise  The circuit blocks run on density matrices rho = psi0 psi0^dagger
 *         with a one-qubit channel after every gate (qdm_dm_run), and the
 *         features are y_k = tr(rho H_k) (eq. 22 for mixed states) or
 *         <Z_q> = sum_i rho_ii z_q(i). The backward pass is exact
 *         (qdm_dm_run_adjoint): dL/drho_out = sum_k dy_k H_k, and with
 *         rho0 = psi psi^dagger the co-gradient at psi is (G + G^dagger) psi.
 *         Block 2 (the ancilla block) is refused with noise: its complex
 *         leaky ReLU acts on amplitudes and depends on their global phase,
 *         which a density matrix does not carry (docs/noise.md).
 *  shots  Every feature is the mean of N simulated measurement outcomes.
 *         An ANO H_k = V diag(w) V^dagger is measured in its eigenbasis
 *         (outcome w_j with probability <v_j|rho|v_j>), each observable
 *         with its own N shots since they do not commute; the Pauli-Z
 *         readouts commute, so one set of N computational-basis shots gives
 *         all n of them; the ancilla's <Z> is a binomial estimate from
 *         P(0) = (1 + <Z>)/2. Backward is straight-through: the forward
 *         passes the shot estimate on, the backward uses the exact gradient
 *         of the exact expectation (unbiased forward, O(1/N) gradient bias,
 *         see docs/noise.md).
 *
 * Determinism: each row's shots come from its own generator, seeded by a
 * hash of (the model's shot seed, the row's input x_t, t, label), so the
 * numbers do not depend on threads, on the batch a row sits in, or on
 * generator state that a checkpoint would have to carry: a resumed run
 * draws the same shots. The dm backward accumulates dtheta per work item
 * (a group's rows in chunks) and reduces the items in a fixed order.
 *
 * The interface is internal to src/model (unet_hw.h): unet.c owns the
 * model and passes its arrays in. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/density.h"
#include "qdm/model.h"

#include "unet_hw.h"

struct qdm__hw {
  int n, d, K, nmeas, nblk, P, measure, max_rows;
  size_t dd;            /* d^2 entries per density matrix */
  long shots;
  qdm_noise noise;
  uint64_t seed;
  qdm_cplx *rho;        /* (nblk + 1) x max_rows x dd: each block's input, then the output (group order) */
  qdm_cplx *G;          /* max_rows x dd: co-gradients at the density matrices */
  qdm_cplx *H;          /* K x dd: the observables of the current parameters */
  qdm_cplx *cs;         /* max_rows x K complex scratch */
  uint64_t *rowseed;    /* per row (row order): its shot generator's seed */
  qdm_cplx *V;          /* d x (K d): eigenvectors of every H_k side by side */
  double *w;            /* K d eigenvalues */
  double *prob;         /* max_rows x nout outcome probabilities */
  qdm_cplx *amp;        /* max_rows x (K d) eigenbasis amplitudes, or d x (K d) scratch */
  double *dth;          /* per work item: nblk x P gradient slices (dm backward) */
  int maxitems;
  qdm_dm_meas meas[QDM_MAX_QUBITS]; /* the block's mid-circuit measurements (qcnn-measured) */
  int nm;
};

void qdm__hw_set_seed(qdm__hw *h, uint64_t seed) {
  if (h) h->seed = qdm_mix64(seed ^ 0x5407c0de5407c0deULL);
}

/* rows per dm work item: small enough that the engine keeps each call on
 * one thread (its row_threads threshold is rows * gates * 4^n > 4e6), so
 * threads only ever split whole items and the sums are in a fixed order */
static int item_rows(const qdm_circuit *c, size_t dd) {
  double per = (double)(c->ngates > 0 ? c->ngates : 1) * (double)dd;
  int r = (int)(3.9e6 / per);
  return r < 1 ? 1 : r > 16 ? 16 : r;
}

qdm__hw *qdm__hw_new(const qdm_unet_cfg *cfg, const qdm_noise *noise, int nblk, int P, int max_rows,
                     const qdm_rng *init) {
  if (!cfg || !noise || !init || nblk < 1 || P < 0 || max_rows < 1) {
    qdm_fail(QDM_EINVAL, "unet_hw_new: NULL argument or bad sizes");
    return NULL;
  }
  qdm__hw *h = calloc(1, sizeof *h);
  if (!h) {
    qdm_fail(QDM_ENOMEM, "model: out of memory for the shot/noise state");
    return NULL;
  }
  h->n = cfg->n;
  h->d = 1 << cfg->n;
  h->dd = (size_t)h->d * h->d;
  h->measure = cfg->measure;
  h->K = cfg->measure == QDM_MEASURE_ANO ? cfg->K : 0;
  h->nmeas = cfg->measure == QDM_MEASURE_ANO ? cfg->K : cfg->n;
  h->nblk = nblk;
  h->P = P;
  h->max_rows = max_rows;
  h->shots = cfg->shots;
  h->noise = *noise;
  h->nm = cfg->ansatz_qasm[0] ? 0 : qdm_ansatz_measurements(cfg->ansatz, cfg->n, cfg->layers, NULL, h->meas);
  if (h->nm < 0) {
    free(h);
    return NULL;
  }
  /* from the generator that initialises the parameters, without advancing
   * it: the same training seed gives the same shots, and a model with
   * shots starts from the same parameters as one without */
  uint64_t s = 0x243f6a8885a308d3ULL;
  for (int i = 0; i < 4; i++) s = qdm_mix64(s ^ init->s[i]);
  qdm__hw_set_seed(h, s);
  size_t R = (size_t)max_rows, d = h->d, K = h->K > 0 ? h->K : 1, dd = h->dd;
  int ok = 1;
  if (noise->kind != QDM_NOISE_NONE) {
    h->rho = malloc((size_t)(nblk + 1) * R * dd * sizeof *h->rho);
    h->G = malloc(R * dd * sizeof *h->G);
    h->maxitems = max_rows + 1; /* items <= rows, and >= 1 */
    h->dth = malloc((size_t)h->maxitems * nblk * (P > 0 ? P : 1) * sizeof *h->dth);
    ok = h->rho && h->G && h->dth;
  }
  h->H = malloc(K * dd * sizeof *h->H);
  h->cs = malloc(R * K * sizeof *h->cs);
  ok = ok && h->H && h->cs;
  if (cfg->shots > 0) {
    size_t nout = h->K > 0 ? K * d : d;
    h->rowseed = malloc(R * sizeof *h->rowseed);
    h->V = malloc(d * K * d * sizeof *h->V);
    h->w = malloc(K * d * sizeof *h->w);
    h->prob = malloc(R * nout * sizeof *h->prob);
    h->amp = malloc((R > d ? R : d) * (K + 1) * d * sizeof *h->amp);
    ok = ok && h->rowseed && h->V && h->w && h->prob && h->amp;
  }
  if (!ok) {
    qdm__hw_free(h);
    qdm_fail(QDM_ENOMEM, "model: out of memory for the density matrices / shots of %d rows", max_rows);
    return NULL;
  }
  return h;
}

void qdm__hw_free(qdm__hw *h) {
  if (!h) return;
  free(h->rho); free(h->G); free(h->H); free(h->cs); free(h->rowseed);
  free(h->V); free(h->w); free(h->prob); free(h->amp); free(h->dth);
  free(h);
}

/* A row's shot seed depends only on what the row is: its input bits, t and
 * label (and the model's seed), never on its position in a batch. */
void qdm__hw_seed_rows(qdm__hw *h, const qdm_cplx *x, int D, const int *t, const int *labels, int B) {
  if (!h || !h->rowseed) return;
  for (int r = 0; r < B; r++) {
    uint64_t s = qdm_mix64(h->seed ^ (uint64_t)(uint32_t)t[r]);
    s = qdm_mix64(s ^ ((uint64_t)(uint32_t)(labels ? labels[r] : 0) << 32));
    const double *v = (const double *)(x + (size_t)r * D);
    for (size_t k = 0; k < 2 * (size_t)D; k++) {
      uint64_t u;
      memcpy(&u, v + k, sizeof u); /* the value's bits */
      s = qdm_mix64(s ^ u);
    }
    h->rowseed[r] = s;
  }
}

static qdm_cplx *rho_at(const qdm__hw *h, int blk, int row) {
  return h->rho + ((size_t)blk * h->max_rows + row) * h->dd;
}

/* ---------------- measurement of density matrices ---------------- */

/* y[r * nmeas + k] = tr(rho_r H_k) = sum_ij H_ij conj(rho_ij): one zgemm
 * C = H conj(R)^T, or <Z_q> from the diagonal. */
static void dm_measure_forward(qdm__hw *h, const qdm_cplx *R, int B, double *y) {
  int d = h->d, n = h->n;
  if (h->measure == QDM_MEASURE_ANO) {
    const qdm_cplx one = 1, zero = 0;
    cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasConjTrans, h->K, B, (int)h->dd, &one, h->H, (int)h->dd, R,
                (int)h->dd, &zero, h->cs, B);
    for (int r = 0; r < B; r++)
      for (int k = 0; k < h->K; k++) y[(size_t)r * h->K + k] = creal(h->cs[(size_t)k * B + r]);
    return;
  }
  for (int r = 0; r < B; r++)
    for (int q = 0; q < n; q++) {
      double s = 0;
      for (int i = 0; i < d; i++) s += (i >> q & 1 ? -1.0 : 1.0) * creal(R[(size_t)r * h->dd + (size_t)i * (d + 1)]);
      y[(size_t)r * n + q] = s;
    }
}

/* G_r = sum_k dy_rk H_k (the co-gradient of tr(rho H) w.r.t. rho is H), and
 * gM_k += sum_r dy_rk rho_r (ano.c: for Hermitian rho the co-gradient of
 * M in H = (M + M^dagger)/2 is rho). */
static void dm_measure_backward(qdm__hw *h, const qdm_cplx *R, const double *dy, int B, qdm_cplx *G, qdm_cplx *gM) {
  int d = h->d, n = h->n, dd = (int)h->dd;
  if (h->measure == QDM_MEASURE_ANO) {
    for (size_t i = 0; i < (size_t)B * h->K; i++) h->cs[i] = dy[i];
    const qdm_cplx one = 1, zero = 0;
    cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, dd, h->K, &one, h->cs, h->K, h->H, dd, &zero, G, dd);
    if (gM) cblas_zgemm(CblasRowMajor, CblasTrans, CblasNoTrans, h->K, dd, B, &one, h->cs, h->K, R, dd, &one, gM, dd);
    return;
  }
  memset(G, 0, (size_t)B * h->dd * sizeof *G);
  for (int r = 0; r < B; r++)
    for (int i = 0; i < d; i++) {
      double s = 0;
      for (int q = 0; q < n; q++) s += (i >> q & 1 ? -1.0 : 1.0) * dy[(size_t)r * n + q];
      G[(size_t)r * h->dd + (size_t)i * (d + 1)] = s;
    }
}

/* ---------------- the noisy bottleneck ---------------- */

static int nonempty(const int *gstart, int G) {
  int k = 0;
  for (int g = 0; g < G; g++) k += gstart[g + 1] > gstart[g];
  return k;
}

int qdm__hw_dm_forward(qdm__hw *h, const qdm_circuit *c, const double *theta, const qdm_ano *ano,
                       const qdm_cplx *psi0, const int *gstart, int G, double *y) {
  if (!h || !h->rho || !c || !psi0 || !gstart || !y) return qdm_fail(QDM_EINVAL, "unet_hw_dm_forward: NULL argument");
  int B = gstart[G], d = h->d, fail = 0;
  size_t dd = h->dd;
  if (B > h->max_rows) return qdm_fail(QDM_EINVAL, "unet_hw_dm_forward: %d rows, sized for %d", B, h->max_rows);
  qdm_dm_from_states(psi0, d, B, rho_at(h, 0, 0));
  /* groups are independent and each row is its own work: threads take
   * whole groups when there are enough of them, else the engine splits rows */
#pragma omp parallel for schedule(dynamic) reduction(| : fail) if (nonempty(gstart, G) > 1)
  for (int g = 0; g < G; g++) {
    int r0 = gstart[g], nr = gstart[g + 1] - r0;
    for (int b = 0; b < h->nblk && nr > 0; b++) {
      qdm_cplx *out = rho_at(h, b + 1, r0);
      memcpy(out, rho_at(h, b, r0), (size_t)nr * dd * sizeof *out);
      if (qdm_dm_run_measured(c, theta + ((size_t)g * h->nblk + b) * h->P, NULL, 0, &h->noise, h->meas, h->nm, out, nr))
        fail = 1;
    }
  }
  if (fail) return qdm_fail(QDM_ENOMEM, "model: the noisy circuit blocks failed (out of memory)");
  if (h->measure == QDM_MEASURE_ANO && qdm_ano_hermitian(ano, h->H)) return QDM_EINVAL;
  dm_measure_forward(h, rho_at(h, h->nblk, 0), B, y);
  return QDM_OK;
}

int qdm__hw_dm_backward(qdm__hw *h, const qdm_circuit *c, const double *theta, double *gtheta, const qdm_ano *ano,
                        qdm_cplx *gM, const double *dy, const qdm_cplx *psi0, const int *gstart, int G,
                        qdm_cplx *gpsi0) {
  if (!h || !h->rho || !c || !gtheta || !dy || !psi0 || !gstart || !gpsi0)
    return qdm_fail(QDM_EINVAL, "unet_hw_dm_backward: NULL argument");
  (void)ano; /* H of the forward pass is still in h->H */
  int B = gstart[G], d = h->d, P = h->P, nblk = h->nblk, per = item_rows(c, h->dd), fail = 0;
  size_t dd = h->dd, slice = (size_t)nblk * (P > 0 ? P : 1);
  dm_measure_backward(h, rho_at(h, nblk, 0), dy, B, h->G, gM);
  /* work items: (group, first row, rows); each has its own gradient slice */
  int nit = 0;
  for (int g = 0; g < G; g++) nit += (gstart[g + 1] - gstart[g] + per - 1) / per;
  if (nit > h->maxitems) return qdm_fail(QDM_EINVAL, "unet_hw_dm_backward: %d work items, sized for %d", nit, h->maxitems);
  int *item = malloc((size_t)3 * (nit + 1) * sizeof *item);
  if (!item) return qdm_fail(QDM_ENOMEM, "model: out of memory for the noisy backward pass");
  nit = 0;
  for (int g = 0; g < G; g++)
    for (int r = gstart[g]; r < gstart[g + 1]; r += per) {
      item[3 * nit] = g;
      item[3 * nit + 1] = r;
      item[3 * nit + 2] = gstart[g + 1] - r < per ? gstart[g + 1] - r : per;
      nit++;
    }
  memset(h->dth, 0, (size_t)nit * slice * sizeof *h->dth);
#pragma omp parallel for schedule(dynamic) reduction(| : fail) if (nit > 1)
  for (int it = 0; it < nit; it++) {
    int g = item[3 * it], r0 = item[3 * it + 1], nr = item[3 * it + 2];
    double *dth = h->dth + (size_t)it * slice;
    for (int b = nblk - 1; b >= 0; b--)
      if (qdm_dm_run_measured_adjoint(c, theta + ((size_t)g * nblk + b) * P, NULL, 0, &h->noise, h->meas, h->nm,
                                      rho_at(h, b, r0), h->G + (size_t)r0 * dd, nr, dth + (size_t)b * P, NULL))
        fail = 1;
    /* rho0 = psi psi^dagger: dL = Re tr(G^dagger dpsi psi^dagger + G^dagger psi dpsi^dagger)
     * = Re <(G + G^dagger) psi, dpsi>, so the co-gradient at psi is (G + G^dagger) psi */
    for (int r = r0; r < r0 + nr; r++) {
      const qdm_cplx *Gr = h->G + (size_t)r * dd, *p = psi0 + (size_t)r * d;
      for (int i = 0; i < d; i++) {
        qdm_cplx s = 0;
        for (int j = 0; j < d; j++) s += (Gr[(size_t)i * d + j] + conj(Gr[(size_t)j * d + i])) * p[j];
        gpsi0[(size_t)r * d + i] = s;
      }
    }
  }
  /* fixed-order reduction: the same sums whatever the thread split */
  for (int it = 0; it < nit; it++) {
    double *dst = gtheta + (size_t)item[3 * it] * nblk * P, *src = h->dth + (size_t)it * slice;
    for (size_t k = 0; k < (size_t)nblk * P; k++) dst[k] += src[k];
  }
  free(item);
  return fail ? qdm_fail(QDM_ENOMEM, "model: the noisy backward pass failed (out of memory)") : QDM_OK;
}

/* ---------------- shots ---------------- */

/* Eigenbases of every H_k, side by side: V[i, k d + j] = component i of
 * eigenvector j of H_k, w[k d + j] its eigenvalue. */
static int ano_eigs(qdm__hw *h) {
  int d = h->d, Kd = h->K * d;
  for (int k = 0; k < h->K; k++) {
    qdm_herm_eig e;
    int err = qdm_herm_eig_init(&e, h->H + (size_t)k * h->dd, d);
    if (err) return err;
    for (int i = 0; i < d; i++)
      for (int j = 0; j < d; j++) h->V[(size_t)i * Kd + (size_t)k * d + j] = e.V[(size_t)i * d + j];
    memcpy(h->w + (size_t)k * d, e.w, d * sizeof *e.w);
    qdm_herm_eig_free(&e);
  }
  return QDM_OK;
}

/* Born probabilities of every outcome, per row (group order): ANO
 * prob[r, k d + j] = |<v_kj|psi_r>|^2 or <v_kj|rho_r|v_kj>; Pauli
 * prob[r, i] = |psi_ri|^2 or rho_r,ii. */
static void outcome_probs(qdm__hw *h, const qdm_cplx *psi, const qdm_cplx *R, int B) {
  int d = h->d, Kd = h->K * d;
  const qdm_cplx one = 1, zero = 0;
  if (h->measure != QDM_MEASURE_ANO) {
    for (int r = 0; r < B; r++)
      for (int i = 0; i < d; i++) {
        qdm_cplx a = psi ? psi[(size_t)r * d + i] : R[(size_t)r * h->dd + (size_t)i * (d + 1)];
        h->prob[(size_t)r * d + i] = psi ? creal(a) * creal(a) + cimag(a) * cimag(a) : creal(a);
      }
    return;
  }
  if (psi) {
    /* amplitudes <v_kj|psi_r> = sum_i conj(V_i,kj) psi_ri = (conj(psi) V)^* */
    for (size_t i = 0; i < (size_t)B * d; i++) h->amp[i] = conj(psi[i]);
    qdm_cplx *A = h->amp + (size_t)B * d;
    cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, Kd, d, &one, h->amp, d, h->V, Kd, &zero, A, Kd);
    for (size_t i = 0; i < (size_t)B * Kd; i++) h->prob[i] = creal(A[i]) * creal(A[i]) + cimag(A[i]) * cimag(A[i]);
    return;
  }
  for (int r = 0; r < B; r++) {
    /* T = rho_r V, then <v|rho|v> = sum_i conj(V_i) T_i */
    cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, Kd, d, &one, R + (size_t)r * h->dd, d, h->V, Kd, &zero,
                h->amp, Kd);
    for (int c = 0; c < Kd; c++) {
      double s = 0;
      for (int i = 0; i < d; i++) s += creal(conj(h->V[(size_t)i * Kd + c]) * h->amp[(size_t)i * Kd + c]);
      h->prob[(size_t)r * Kd + c] = s;
    }
  }
}

/* psi: the exact final states (B x d, group order), or NULL to measure the
 * density matrices of the last dm forward. y (B x nmeas) and z (B, may be
 * NULL) hold the exact values on entry and the shot estimates on return. */
int qdm__hw_shots(qdm__hw *h, const qdm_ano *ano, const qdm_cplx *psi, const int *perm, int B, double *y, double *z) {
  if (!h || !h->rowseed || !perm || !y) return qdm_fail(QDM_EINVAL, "unet_hw_shots: NULL argument or no shots set");
  if (!psi && !h->rho) return qdm_fail(QDM_EINVAL, "unet_hw_shots: no states to measure");
  int d = h->d, n = h->n, fail = 0;
  long N = h->shots;
  const qdm_cplx *R = psi ? NULL : rho_at(h, h->nblk, 0);
  if (h->measure == QDM_MEASURE_ANO) {
    if (qdm_ano_hermitian(ano, h->H)) return QDM_EINVAL;
    int err = ano_eigs(h);
    if (err) return err;
  }
  outcome_probs(h, psi, R, B);
  int nout = h->measure == QDM_MEASURE_ANO ? h->K * d : d;
  double work = (double)B * N * (h->measure == QDM_MEASURE_ANO ? h->K : 1);
#pragma omp parallel for schedule(static) reduction(| : fail) if (work > 2e5)
  for (int i = 0; i < B; i++) {
    qdm_rng rng;
    qdm_rng_seed(&rng, h->rowseed[perm[i]]);
    const double *p = h->prob + (size_t)i * nout;
    long cnt[1 << 10];
    if (h->measure == QDM_MEASURE_ANO) {
      for (int k = 0; k < h->K; k++) {
        if (qdm_sample_counts(p + (size_t)k * d, d, N, &rng, cnt)) { fail = 1; break; }
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)cnt[j] * h->w[(size_t)k * d + j];
        y[(size_t)i * h->K + k] = s / (double)N;
      }
    } else if (!qdm_sample_counts(p, d, N, &rng, cnt)) {
      /* all Z_q commute: one set of N computational-basis shots serves every qubit */
      for (int q = 0; q < n; q++) {
        double s = 0;
        for (int j = 0; j < d; j++) s += (j >> q & 1 ? -1.0 : 1.0) * (double)cnt[j];
        y[(size_t)i * n + q] = s / (double)N;
      }
    } else fail = 1;
    if (z && !fail) {
      /* the ancilla: <Z> = P(0) - P(1), read from N shots of its own */
      double p0 = 0.5 * (1 + z[i]);
      double pz[2] = {p0 < 0 ? 0 : p0 > 1 ? 1 : p0, 0};
      pz[1] = 1 - pz[0];
      if (qdm_sample_counts(pz, 2, N, &rng, cnt)) fail = 1;
      else z[i] = (double)(cnt[0] - cnt[1]) / (double)N;
    }
  }
  return fail ? qdm_fail(QDM_EINVAL, "model: shot sampling failed (probabilities not normalisable, or out of memory)") : QDM_OK;
}
