/* bench.c -- `qdm bench train`: a fixed number of optimisation steps of a
 * training configuration, timed, beside the machine's BLAS GEMM rate
 * measured in the same run on the same shapes. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "run.h"

/* Achieved GFLOP/s of C = A B^T with A: m x k, B: n x k (a Linear layer's
 * forward), best of a few repeats. */
static double gemm_rate(int m, int n, int k) {
  double *A = malloc(sizeof(double) * m * k), *B = malloc(sizeof(double) * n * k), *C = malloc(sizeof(double) * m * n);
  for (long i = 0; i < (long)m * k; i++) A[i] = 1e-3 * (i % 97);
  for (long i = 0; i < (long)n * k; i++) B[i] = 1e-3 * (i % 89);
  double best = 1e30;
  for (int r = 0; r < 7; r++) {
    double t0 = qdm_now();
    for (int q = 0; q < 4; q++) cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, A, k, B, k, 0, C, n);
    double dt = (qdm_now() - t0) / 4;
    if (dt < best) best = dt;
  }
  free(A); free(B); free(C);
  return 2.0 * m * n * k / best / 1e9;
}

/* Random images stand in when no data set is at hand: speed does not
 * depend on the pixel values. */
static int bench_data(qdm__run *R) {
  qdm_data_opts d = {R->o.data, "train", R->o.digits, R->o.limit, 16, R->o.subset, R->o.seed, NULL};
  if (qdm_data_load(&d, &R->data) == QDM_OK) return QDM_OK;
  int n = R->o.batch * 4, D = R->o.model.D;
  R->data.n = n;
  R->data.h = R->data.w = (int)sqrt((double)D);
  R->data.x = malloc((size_t)n * D * sizeof(float));
  R->data.y = malloc(n);
  if (!R->data.x || !R->data.y) return qdm_fail(QDM_ENOMEM, "bench: out of memory");
  qdm_rng r;
  qdm_rng_seed(&r, 3);
  for (long i = 0; i < (long)n * D; i++) R->data.x[i] = (float)qdm_rng_uniform(&r);
  for (int i = 0; i < n; i++) R->data.y[i] = (uint8_t)(i % R->o.model.classes);
  return QDM_OK;
}

int qdm_train_bench(const qdm_train_opts *o, int steps, qdm_train_bench_result *res) {
  int err = qdm_train_opts_check(o);
  if (err) return err;
  qdm__run R;
  memset(&R, 0, sizeof R);
  R.o = *o;
  R.o.quiet = 1;
  memset(res, 0, sizeof *res);
  err = bench_data(&R);
  if (!err) err = qdm__run_alloc(&R);
  if (!err) err = qdm__run_model(&R, o->batch * o->model.T);
  if (!err) err = qdm__run_optimizer(&R);
  if (err) {
    qdm__run_free(&R);
    return err;
  }
  int nb = (R.data.n + o->batch - 1) / o->batch;
  double lr = o->lr, loss, inf;
  qdm_rng order_rng;
  qdm_rng_seed(&order_rng, 9);
  for (int i = 0; i < R.data.n; i++) R.order[i] = i;
  qdm__run_step(&R, 0, o->batch < R.data.n ? o->batch : R.data.n, lr, &loss, &inf); /* warm up */
  qdm_unet_timers(R.m, NULL, NULL, 1);
  long rows = 0;
  double t0 = qdm_now();
  for (int s = 0; s < steps && !err; s++) {
    int b0 = (s % nb) * o->batch, n = R.data.n - b0 < o->batch ? R.data.n - b0 : o->batch;
    err = qdm__run_step(&R, b0, n, lr, &loss, &inf);
    rows += (long)n * R.T;
  }
  res->seconds = qdm_now() - t0;
  qdm_unet_timers(R.m, &res->dense_seconds, &res->circuit_seconds, 0);
  const qdm_unet_cfg *c = &o->model;
  /* forward MACs, then backward: dW for every layer, dx for all but the first */
  double macs = qdm_unet_dense_macs(R.m), first = 2.0 * c->D * c->hidden;
  res->rows = rows;
  res->rows_per_s = rows / res->seconds;
  res->dense_gflops = 2.0 * (3 * macs - first) * rows / res->dense_seconds / 1e9;
  res->gemm_gflops = gemm_rate(o->batch * c->T, c->hidden, c->hidden);
  res->threads = qdm_threads();
  res->loss = loss;
  qdm__run_free(&R);
  return err;
}
