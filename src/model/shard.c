/* shard.c -- data-parallel training: a step's rows split over the ranks
 * of an MPI job, and what they exchange (docs/scaling.md).
 *
 * Every rank makes the whole step's rows (make_rows: image i's noise comes
 * from stream i of the step's seed, so the rows are the one-process rows
 * whatever the split), then keeps its share: the rows in the order
 * (k, label, image) -- k the row's step (or stratum) within its image --
 * cut into `size` runs of equal length (+-1). A circuit group is a
 * (t, label) pair, so a run splits at most the groups at its two ends and
 * the fused circuit path keeps its large groups. Each rank runs forward and
 * backward on its rows with the loss's co-gradient scaled by Bl / B (its
 * rows over the step's), so that the sum over ranks of the gradients is
 * the one-process gradient; one allreduce of the flat gradient buffer (and
 * one of the float buffer for --precision f32) makes every rank's
 * gradient that sum, and every rank applies the same optimiser step to the
 * same parameters, which therefore stay equal without being sent.
 *
 * Summation order: inside a rank it is fixed (fixed rows, fixed thread
 * count); across ranks it is MPI_Allreduce's, which for one communicator
 * size and buffer length is one algorithm with one order (and for two
 * ranks a + b = b + a exactly). So a fixed K repeats its numbers; against
 * one process only the grouping of the sums differs (rounding, about 1e-16
 * relative per step). */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/dist.h"
#include "core/check.h"
#include "run.h"

int qdm__shard_split(const int *lab, int nimg, int K, int rank, int size, int *rows, int *scratch) {
  /* images by label (stable): a counting sort over the labels present */
  int maxl = 0;
  for (int i = 0; i < nimg; i++) maxl = lab[i] > maxl ? lab[i] : maxl;
  int j = 0;
  for (int l = 0; l <= maxl; l++)
    for (int i = 0; i < nimg; i++)
      if (lab[i] == l) scratch[j++] = i;
  long long B = (long long)nimg * K, lo = B * rank / size, hi = B * (rank + 1) / size;
  int n = 0;
  for (long long q = lo; q < hi; q++) /* position q of the (k, label, image) order */
    rows[n++] = scratch[q % nimg] * K + (int)(q / nimg);
  return n;
}

int qdm__shard_init(qdm__run *R) {
  qdm__shard *s = &R->sh;
  s->rank = qdm_dist_rank();
  s->size = qdm_dist_size();
  s->on = s->size > 1;
  if (!s->on) return QDM_OK;
  size_t rows = R->rows_max, D = R->D;
  s->rows = malloc(rows * sizeof(int));
  s->img = malloc((size_t)R->o.batch * 2 * sizeof(int));
  s->tt = malloc(rows * sizeof(int));
  s->lab = malloc(rows * sizeof(int));
  s->xin = malloc(rows * D * sizeof(qdm_cplx));
  s->tgn = malloc(rows * D * sizeof(qdm_cplx));
  if (!s->rows || !s->img || !s->tt || !s->lab || !s->xin || !s->tgn)
    return qdm_fail(QDM_ENOMEM, "train: out of memory for this rank's rows");
  return QDM_OK;
}

void qdm__shard_free(qdm__shard *s) {
  free(s->rows); free(s->img); free(s->tt); free(s->lab); free(s->xin); free(s->tgn);
  free(s->states); free(s->states2); free(s->cnt); free(s->upd);
  memset(s, 0, sizeof *s);
}

void qdm__shard_take(qdm__run *R, int nb) {
  qdm__shard *s = &R->sh;
  int K = R->K, D = R->D, *ilab = s->img + nb;
  for (int i = 0; i < nb; i++) ilab[i] = R->lab[(size_t)i * K];
  s->B = nb * K;
  s->Bl = qdm__shard_split(ilab, nb, K, s->rank, s->size, s->rows, s->img);
  for (int j = 0; j < s->Bl; j++) {
    int r = s->rows[j];
    s->tt[j] = R->tt[r];
    s->lab[j] = R->lab[r];
    memcpy(s->xin + (size_t)j * D, R->xin + (size_t)r * D, D * sizeof(qdm_cplx));
    memcpy(s->tgn + (size_t)j * D, R->tgn + (size_t)r * D, D * sizeof(qdm_cplx));
  }
}

int qdm__shard_loss(qdm__run *R, int err, int stop, double *loss, double *infid) {
  qdm__shard *s = &R->sh;
  /* one small sum carries the step's news: the loss sums, how many ranks
   * failed, how many were signalled (each collective costs a round trip,
   * and a scheduler slice when the ranks share cores) */
  double f = (double)s->Bl / s->B, v[4] = {err ? 0 : *loss * s->Bl, err ? 0 : *infid * s->Bl, err != 0, stop != 0};
  size_t n = err ? 0 : (size_t)s->Bl * R->D;
  for (size_t k = 0; k < n; k++) R->g[k] *= f;
  int e = qdm_dist_sum(v, 4);
  if (e) return e;
  *loss = v[0] / s->B;
  *infid = v[1] / s->B;
  s->stop = v[3] > 0;
  return v[2] > 0 ? qdm_dist_agree(err) : QDM_OK; /* the failing rank's message, on every rank */
}

int qdm__shard_grads(qdm__run *R, int err) {
  size_t n, nf;
  double *g = qdm_unet_grads(R->m, &n);
  float *gf = qdm_unet_grads_f32(R->m, &nf);
  /* a rank whose backward failed sends NaN: the sum is then not finite on
   * every rank, which (rarely) asks for the agreement with the message */
  if (err && n) g[0] = NAN;
  int e = qdm_dist_sum(g, n);
  if (!e && nf) e = qdm_dist_sum_f32(gf, nf);
  if (e) return e;
  return n && isnan(g[0]) ? qdm_dist_agree(err) : QDM_OK;
}

/* Block b's input states of every group, from every rank, into s->states2
 * group by group and, within a group, in rank order (= the one-process
 * order of its rows); start[g] .. start[g+1] are group g's. */
static int block_states(qdm__run *R, int b, int G, int d, int *start) {
  qdm__shard *s = &R->sh;
  const qdm_cplx *psi0 = NULL, *psi;
  int rows, n = 0, *mine = s->cnt + (size_t)s->size * G; /* this rank's counts per group */
  for (int g = 0; g < G; g++) {
    QDM__OK(qdm_unet_block_inputs(R->m, g, b, &psi, &rows));
    if (s->Bl == 0) rows = 0; /* no forward ran here this step */
    if (g == 0) psi0 = psi;
    assert(!rows || psi == psi0 + (size_t)n * d); /* the model keeps groups contiguous */
    mine[g] = rows;
    n += rows;
  }
  size_t got[1024];
  if (s->size > 1024) return qdm_fail(QDM_EINVAL, "qngd: %d ranks, at most 1024", s->size);
  int err = qdm_dist_gather_all(mine, G, sizeof(int), s->cnt, got);
  if (!err) err = qdm_dist_gather_all(psi0, (size_t)n * d, sizeof(qdm_cplx), s->states, got);
  if (err) return err;
  /* the states of rank r start at the sum of the earlier ranks' counts */
  size_t at = 0, off[1024];
  for (int r = 0; r < s->size; r++) off[r] = at, at += got[r] / d;
  start[0] = 0;
  for (int g = 0; g < G; g++) {
    int m = start[g];
    for (int r = 0; r < s->size; r++) {
      int c = s->cnt[(size_t)r * G + g];
      memcpy(s->states2 + (size_t)m * d, s->states + off[r] * d, (size_t)c * d * sizeof(qdm_cplx));
      off[r] += c;
      m += c;
    }
    start[g + 1] = m;
  }
  return QDM_OK;
}

int qdm__shard_qngd(qdm__run *R, qdm__shard_qngd_fn one, double *theta, int G, int nb, int P, int d) {
  qdm__shard *s = &R->sh;
  size_t nt = (size_t)G * nb * P;
  if (!s->states) {
    s->states = malloc((size_t)R->rows_max * d * sizeof(qdm_cplx));
    s->states2 = malloc((size_t)R->rows_max * d * sizeof(qdm_cplx));
    s->cnt = malloc(((size_t)s->size + 1) * G * sizeof(int));
    s->start = malloc(((size_t)G + 1) * nb * sizeof(int));
    s->upd = malloc(nt * sizeof(double));
    if (!s->states || !s->states2 || !s->cnt || !s->start || !s->upd)
      return qdm_fail(QDM_ENOMEM, "qngd: out of memory for the exchanged states");
  }
  /* pair j = (block, group) with rows somewhere is stepped by rank j mod size
   * on all of its states; the others contribute zeros to the sum that
   * hands its new angles to everyone (x + 0 = x: exact) */
  memset(s->upd, 0, nt * sizeof(double));
  /* a failed step here (local) still takes part in every collective */
  int err = QDM_OK, local = QDM_OK, j = 0, *start = s->start;
  for (int b = 0; b < nb && !err; b++) {
    int *st = start + (size_t)b * (G + 1);
    if ((err = block_states(R, b, G, d, st))) return err; /* an MPI failure: every rank's */
    for (int g = 0; g < G; g++) {
      int rows = st[g + 1] - st[g];
      if (rows == 0 || j++ % s->size != s->rank || local) continue;
      size_t o = ((size_t)g * nb + b) * P;
      local = one(R, g, b, s->states2 + (size_t)st[g] * d, rows);
      memcpy(s->upd + o, theta + o, P * sizeof(double));
    }
  }
  if ((err = qdm_dist_agree(local))) return err;
  if ((err = qdm_dist_sum(s->upd, nt))) return err;
  for (int b = 0; b < nb; b++)
    for (int g = 0; g < G; g++) {
      const int *st = start + (size_t)b * (G + 1);
      size_t o = ((size_t)g * nb + b) * P;
      if (st[g + 1] > st[g]) memcpy(theta + o, s->upd + o, P * sizeof(double));
    }
  return QDM_OK;
}
