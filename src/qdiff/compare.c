/* compare.c -- report 2.2's question as one experiment: can a reverse
 * process of unitary steps (eq. 11) denoise I/d, and can one with ancilla
 * qubits traced out? Both are trained on the same target ensemble and run
 * from I/d; the forward curve and the best single-state fidelity (the top
 * eigenvalue of the ensemble's mean density matrix) frame them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/circuits.h"
#include "qdm/io.h"
#include "qdm/qdiff.h"

void qdm_qdiff_compare_opts_default(qdm_qdiff_compare_opts *o) {
  memset(o, 0, sizeof *o);
  o->target = (qdm_qtarget_opts){QDM_QTARGET_DIGITS, 32, 6, 3, NULL, 0, 0.3, 1};
  o->T = 8;
  o->schedule = QDM_QSCHED_COSINE;
  o->p1 = 0.05;
  o->pT = 1;
  o->nanc = 1;
  o->layers = 4;
  o->init = 0.1;
  o->train = (qdm_qdiff_opts){300, 0.05, QDM_QTRAIN_CHAIN, QDM_QLOSS_FIDELITY, 0, NULL};
}

void qdm_qdiff_compare_free(qdm_qdiff_compare_result *r) {
  if (!r) return;
  qdm_qdiff_free(&r->unitary);
  qdm_qdiff_free(&r->ancilla);
  free(r->psi);
  free(r->img);
  free(r->buf_);
  memset(r, 0, sizeof *r);
}

/* The two step circuits from the ansatz library (ring on), or NULL, NULL
 * for the built-in step. */
static int step_circuits(const qdm_qdiff_compare_opts *o, qdm_circuit **cu, qdm_circuit **ca) {
  *cu = *ca = NULL;
  if (!o->ansatz) return QDM_OK;
  qdm_ansatz_opts ao = {QDM_INIT_NONE, 1};
  *cu = qdm_circuit_new(o->target.n);
  *ca = qdm_circuit_new(o->target.n + o->nanc);
  int rc = !*cu || !*ca ? QDM_ENOMEM : QDM_OK;
  if (!rc && (qdm_ansatz_build(*cu, o->ansatz, o->layers, 0, &ao) < 0 ||
              qdm_ansatz_build(*ca, o->ansatz, o->layers, 0, &ao) < 0))
    rc = qdm_fail_wrap(QDM_EINVAL, "per-step ansatz '%s'", o->ansatz);
  if (rc) {
    qdm_circuit_free(*cu);
    qdm_circuit_free(*ca);
    *cu = *ca = NULL;
  }
  return rc;
}

static int check_opts(const qdm_qdiff_compare_opts *o) {
  if (!o) return qdm_fail(QDM_EINVAL, "qdm_qdiff_compare: options are NULL");
  if (o->nanc < 1) return qdm_fail(QDM_EINVAL, "qdm_qdiff_compare: %d ancillas (expected >= 1)", o->nanc);
  if (o->train.iters < 0) return qdm_fail(QDM_EINVAL, "qdm_qdiff_compare: %d iterations (expected >= 0)", o->train.iters);
  if (o->train.train != QDM_QTRAIN_CHAIN && o->train.train != QDM_QTRAIN_STEP)
    return qdm_fail(QDM_EINVAL, "qdm_qdiff_compare: training mode %d (expected QDM_QTRAIN_CHAIN or _STEP)", o->train.train);
  if (o->train.loss != QDM_QLOSS_FIDELITY && o->train.loss != QDM_QLOSS_TRACE)
    return qdm_fail(QDM_EINVAL, "qdm_qdiff_compare: loss %d (expected QDM_QLOSS_FIDELITY or _TRACE)", o->train.loss);
  if (o->train.loss == QDM_QLOSS_TRACE && o->train.train == QDM_QTRAIN_STEP)
    return qdm_fail(QDM_EINVAL, "qdm_qdiff_compare: the trace-distance loss needs chain training");
  return QDM_OK;
}

/* Arrays of the result: schedule, forward and both reverse curves, losses. */
static int alloc_result(qdm_qdiff_compare_result *r, int digits) {
  int T = r->T, d = r->d, iters = r->iters;
  r->psi = malloc((size_t)r->K * d * sizeof *r->psi);
  r->img = digits ? malloc((size_t)r->K * 64 * sizeof *r->img) : NULL;
  r->buf_ = calloc(8 * (T + 1) + 2 * (size_t)iters + 1, sizeof *r->buf_);
  if (!r->psi || !r->buf_ || (digits && !r->img)) return qdm_fail(QDM_ENOMEM, "qdm_qdiff_compare: out of memory");
  double *b = r->buf_;
  r->p = b, r->alpha = b + (T + 1), r->ffid = b + 2 * (T + 1), r->fpur = b + 3 * (T + 1);
  r->ru = (qdm_qdiff_curve){b + 4 * (T + 1), b + 5 * (T + 1), b + 8 * (T + 1), 0, 0};
  r->ra = (qdm_qdiff_curve){b + 6 * (T + 1), b + 7 * (T + 1), b + 8 * (T + 1) + iters, 0, 0};
  return QDM_OK;
}

int qdm_qdiff_compare_init(const qdm_qdiff_compare_opts *o, qdm_qdiff_compare_result *r) {
  if (!r) return qdm_fail(QDM_EINVAL, "qdm_qdiff_compare_init: result is NULL");
  memset(r, 0, sizeof *r);
  int rc = check_opts(o);
  qdm_circuit *cu = NULL, *ca = NULL;
  if (!rc) rc = step_circuits(o, &cu, &ca);
  if (rc) return rc;
  const qdm_qtarget_opts *to = &o->target;
  r->K = to->K, r->n = to->n, r->d = 1 << to->n, r->T = o->T, r->iters = o->train.iters;
  if (to->n < 1 || to->n > 10) rc = qdm_fail(QDM_EINVAL, "qdm_qdiff_compare: %d qubits (expected 1..10)", to->n);
  if (!rc && (o->T < 1 || o->T > 1000)) rc = qdm_fail(QDM_EINVAL, "qdm_qdiff_compare: T = %d (expected 1..1000)", o->T);
  if (!rc) rc = alloc_result(r, to->kind == QDM_QTARGET_DIGITS);
  if (!rc) rc = qdm_qdiff_targets(to, r->psi, r->img, r->source, sizeof r->source);
  if (!rc) rc = qdm_qdiff_schedule(o->T, o->schedule, o->p1, o->pT, r->p, r->alpha);
  if (!rc) rc = qdm_qdiff_forward_curve(r->n, r->T, r->alpha, r->psi, r->K, r->ffid, r->fpur);
  if (!rc && qdm_qdiff_fidelity_bound(r->psi, r->K, r->d, &r->bound)) r->bound = 0; /* eigh failed: no bound */
  if (!rc) rc = qdm_qdiff_init(&r->unitary, r->n, 0, r->T, o->layers, cu, r->p, o->init, to->seed);
  if (!rc) rc = qdm_qdiff_init(&r->ancilla, r->n, o->nanc, r->T, o->layers, ca, r->p, o->init, to->seed + 1);
  qdm_circuit_free(cu);
  qdm_circuit_free(ca);
  if (rc) qdm_qdiff_compare_free(r);
  return rc;
}

/* Train one model, then its loss on the targets and its reverse curve. */
static int train_one(qdm_qdiff *m, const qdm_cplx *psi, int K, const qdm_qdiff_opts *o, qdm_qdiff_curve *c) {
  double t0 = qdm_now();
  int rc = qdm_qdiff_train(m, psi, K, o, c->loss);
  c->seconds = qdm_now() - t0;
  if (!rc) rc = qdm_qdiff_loss(m, psi, K, o->train, o->loss, &c->final_loss, NULL);
  if (!rc) rc = qdm_qdiff_reverse_curve(m, psi, K, c->fid, c->pur);
  return rc;
}

int qdm_qdiff_compare_train(const qdm_qdiff_compare_opts *o, qdm_qdiff_compare_result *r) {
  int rc = check_opts(o);
  if (rc) return rc;
  if (!r || !r->psi || !r->unitary.c || !r->ancilla.c)
    return qdm_fail(QDM_EINVAL, "qdm_qdiff_compare_train: result not set up by qdm_qdiff_compare_init");
  if (o->train.iters != r->iters)
    return qdm_fail(QDM_EINVAL, "qdm_qdiff_compare_train: %d iterations, the result holds %d", o->train.iters, r->iters);
  qdm_qdiff_opts to = o->train;
  double t0 = qdm_now();
  to.tag = "unitary";
  rc = train_one(&r->unitary, r->psi, r->K, &to, &r->ru);
  to.tag = "ancilla";
  if (!rc) rc = train_one(&r->ancilla, r->psi, r->K, &to, &r->ra);
  r->seconds = qdm_now() - t0;
  return rc;
}

static int plot_curves(const qdm_qdiff_compare_result *r, const char *dir, const char *what) {
  int T = r->T, iters = r->iters;
  char path[4200], title[256];
  double *tx = malloc((T + 1 + iters) * sizeof *tx), *ix = tx + T + 1;
  if (!tx) return qdm_fail(QDM_ENOMEM, "qdm_qdiff_compare_pictures: out of memory");
  for (int t = 0; t <= T; t++) tx[t] = t;
  for (int i = 0; i < iters; i++) ix[i] = i + 1;
  /* Two panels, fidelity and purity, log scale: the unitary reverse run
   * stays at 1/d in both (a unitary cannot purify I/d), which a linear axis
   * would draw on top of the forward run's end and of each other. */
  qdm_series sf[3] = {{"forward (noising) from the targets", tx, r->ffid, T + 1},
                      {"reverse, unitary steps", tx, r->ru.fid, T + 1},
                      {"reverse, system + ancilla steps", tx, r->ra.fid, T + 1}};
  qdm_series sp[3] = {{"forward (noising) from the targets", tx, r->fpur, T + 1},
                      {"reverse, unitary steps", tx, r->ru.pur, T + 1},
                      {"reverse, system + ancilla steps", tx, r->ra.pur, T + 1}};
  qdm_panel pn[2] = {{"mean fidelity to the targets (eq. 12)", "t (reverse runs start from I/d at t = T)",
                      "mean fidelity", sf, 3, 1},
                     {"mean purity tr(rho^2)", "t", "mean purity", sp, 3, 1}};
  snprintf(title, sizeof title, "qdm qstate train, target %s: %d qubits, T = %d, %d iterations", what, r->n, T, iters);
  int rc = qdm_path_join(path, sizeof path, dir, "curve.png");
  if (!rc) rc = qdm_plot_panels(path, title, pn, 2, 2);
  if (!rc && iters > 0) {
    qdm_series l[2] = {{"unitary steps", ix, r->ru.loss, iters}, {"system + ancilla steps", ix, r->ra.loss, iters}};
    rc = qdm_path_join(path, sizeof path, dir, "loss.png");
    snprintf(title, sizeof title, "qdm qstate train, target %s: training loss per iteration", what);
    if (!rc) rc = qdm_plot_lines(path, title, "iteration", "loss", l, 2, 0);
  }
  free(tx);
  return rc;
}

/* Rows: 8 targets, 8 samples of each model, as 8x8 pictures. */
static int plot_samples(const qdm_qdiff_compare_result *r, const char *dir, const char *what, uint64_t seed) {
  enum { NS = 8 };
  char path[4200], title[256];
  float *pic = malloc(3 * NS * 64 * sizeof *pic);
  if (!pic) return qdm_fail(QDM_ENOMEM, "qdm_qdiff_compare_pictures: out of memory");
  for (int k = 0; k < NS; k++) {
    const double *im = r->img + 64 * (k % r->K);
    double mx = 1e-300;
    for (int i = 0; i < 64; i++) mx = fmax(mx, im[i]);
    for (int i = 0; i < 64; i++) pic[k * 64 + i] = (float)(im[i] / mx);
  }
  int rc = qdm_qdiff_sample_pictures(&r->unitary, NS, 64, seed, pic + NS * 64);
  if (!rc) rc = qdm_qdiff_sample_pictures(&r->ancilla, NS, 64, seed, pic + 2 * NS * 64);
  const char *labels[3] = {"targets", "unitary", "ancilla"};
  snprintf(title, sizeof title,
           "qdm qstate train, target %s: %d qubits, T = %d\nrow 1: target states; rows 2-3: the reverse chain "
           "from a basis state of I/d with unitary or system + ancilla steps: sqrt(diag rho_0)",
           what, r->n, r->T);
  qdm_grid_text tx = {title, labels, NULL, NULL};
  if (!rc) rc = qdm_path_join(path, sizeof path, dir, "samples.png");
  if (!rc) rc = qdm_png_grid_text(path, pic, 3 * NS, 8, 8, 3, NS, 8, &tx);
  free(pic);
  return rc;
}

int qdm_qdiff_compare_pictures(const qdm_qdiff_compare_result *r, const char *dir, const char *what, uint64_t seed) {
  if (!r || !r->psi || !dir || !*dir)
    return qdm_fail(QDM_EINVAL, "qdm_qdiff_compare_pictures: result and directory must be given");
  int rc = qdm_mkdirs(dir);
  if (!rc) rc = plot_curves(r, dir, what ? what : "targets");
  if (!rc && r->img && r->d == 64) rc = plot_samples(r, dir, what ? what : "targets", seed);
  return rc;
}
