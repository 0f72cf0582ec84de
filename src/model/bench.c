/* bench.c -- `qdm bench train`: a fixed number of optimisation steps of a
 * training configuration, timed and split (dense layers, circuits, ANO,
 * the rest), beside the BLAS rate of the step's own GEMMs measured in the
 * same run: their time alone is the dense-only ceiling of the step. */
#include <cblas.h>
#include <complex.h>
#include <math.h>
#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/dist.h"
#include "run.h"

/* One GEMM of a training step: C (M x N) = op(A) op(B) with inner size K. */
typedef struct {
  int M, N, K;
  int ta, tb; /* transpose A, B */
} gemm_shape;

/* The step's GEMMs for B rows (qdm_linear_forward/backward): per layer
 * in -> out the forward x W^T (B, out, in), the weight gradient dy^T x
 * (out, in, B), and the input gradient's columns a training step forms,
 * dx = dy W (B, dx_cols, out): none for the first layer, the features'
 * only for dec1 (qdm_unet_linear_shapes). */
static int step_gemms(const qdm_unet *m, int B, gemm_shape *g) {
  int in[8], out[8], dxc[8], nl = qdm_unet_linear_shapes(m, in, out, dxc, 8), n = 0;
  for (int l = 0; l < nl; l++) {
    g[n++] = (gemm_shape){B, out[l], in[l], 0, 1};
    g[n++] = (gemm_shape){out[l], in[l], B, 1, 0};
    if (dxc[l] > 0) g[n++] = (gemm_shape){B, dxc[l], out[l], 0, 0};
  }
  return n;
}

static double gemm_flops(const gemm_shape *g, int n) {
  double f = 0;
  for (int i = 0; i < n; i++) f += 2.0 * g[i].M * g[i].N * g[i].K;
  return f;
}

/* Seconds for all n GEMMs once, in precision prec with this run's BLAS
 * threads: the median of reps passes (a pass runs each GEMM twice and
 * keeps the second, warm, time). */
static int gemm_seconds(const gemm_shape *g, int n, qdm_precision prec, int reps, double *sec) {
  size_t big = 1;
  for (int i = 0; i < n; i++) {
    size_t a = (size_t)g[i].M * g[i].K, b = (size_t)g[i].K * g[i].N, c = (size_t)g[i].M * g[i].N;
    big = a > big ? a : big;
    big = b > big ? b : big;
    big = c > big ? c : big;
  }
  double *A = malloc(big * sizeof *A), *Bm = malloc(big * sizeof *Bm), *C = calloc(big, sizeof *C), t[15];
  if (!A || !Bm || !C) {
    free(A); free(Bm); free(C);
    return qdm_fail(QDM_ENOMEM, "bench: out of memory for GEMM operands");
  }
  for (size_t i = 0; i < big; i++) { /* small values: no overflow, no subnormals */
    if (prec == QDM_F32) {
      ((float *)A)[i] = 1e-3f * (float)(i % 97);
      ((float *)Bm)[i] = 1e-3f * (float)(i % 89);
    } else {
      A[i] = 1e-3 * (double)(i % 97);
      Bm[i] = 1e-3 * (double)(i % 89);
    }
  }
  if (reps > 15) reps = 15;
  for (int r = 0; r < reps; r++) {
    t[r] = 0;
    for (int i = 0; i < n; i++)
      for (int w = 0; w < 2; w++) {
        const gemm_shape *s = &g[i];
        int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
        CBLAS_TRANSPOSE ta = s->ta ? CblasTrans : CblasNoTrans, tb = s->tb ? CblasTrans : CblasNoTrans;
        double t0 = qdm_now();
        if (prec == QDM_F32)
          cblas_sgemm(CblasRowMajor, ta, tb, s->M, s->N, s->K, 1, (float *)A, lda, (float *)Bm, ldb, 1, (float *)C, s->N);
        else
          cblas_dgemm(CblasRowMajor, ta, tb, s->M, s->N, s->K, 1, A, lda, Bm, ldb, 1, C, s->N);
        if (w) t[r] += qdm_now() - t0;
      }
  }
  *sec = qdm_median(t, reps);
  free(A); free(Bm); free(C);
  return QDM_OK;
}

/* The yardstick for the global ANO (circuits/ano.c), its complex form's
 * GEMMs of a step: Y = Psi H^T in the forward and again in the backward
 * (rows, K d, d), and dM = W^T conj(Psi) (K d, d, rows); each timed warm,
 * the median of 5 passes. In complex128 (zgemm), or complex64 (cgemm) as
 * the yardstick of complex64 circuits: the same products, so the machine's
 * complex rate at each precision on shapes BLAS runs well. */
static double ano_flops(int rows, int K, int d) { return 3 * 8.0 * rows * K * (double)d * d; }

static void cgemm_pass(int c64, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, const void *A, int lda,
                       const void *B, int ldb, int beta1, void *C, int ldc) {
  static const qdm_cplx one = 1, zero = 0;
  static const float complex onef = 1, zerof = 0;
  if (c64) cblas_cgemm(CblasRowMajor, ta, tb, M, N, K, &onef, A, lda, B, ldb, beta1 ? &onef : &zerof, C, ldc);
  else cblas_zgemm(CblasRowMajor, ta, tb, M, N, K, &one, A, lda, B, ldb, beta1 ? &one : &zero, C, ldc);
}

static int ano_seconds(int rows, int K, int d, int c64, double *sec) {
  size_t Kd = (size_t)K * d, big = (size_t)rows * Kd > Kd * d ? (size_t)rows * Kd : Kd * d;
  size_t esz = c64 ? sizeof(float complex) : sizeof(qdm_cplx);
  char *A = malloc(big * esz), *B = malloc(big * esz), *C = calloc(big, esz);
  double t[5];
  if (!A || !B || !C) {
    free(A); free(B); free(C);
    return qdm_fail(QDM_ENOMEM, "bench: out of memory for the ANO's GEMM operands");
  }
  for (size_t i = 0; i < big; i++) {
    double a = 1e-3 * (double)(i % 97), b = 1e-3 * (double)(i % 89);
    if (c64) ((float complex *)A)[i] = (float)a, ((float complex *)B)[i] = (float)b;
    else ((qdm_cplx *)A)[i] = a, ((qdm_cplx *)B)[i] = b;
  }
  for (int r = 0; r < 5; r++) {
    t[r] = 0;
    for (int w = 0; w < 2; w++) {
      double t0 = qdm_now();
      for (int k = 0; k < 2; k++)
        cgemm_pass(c64, CblasNoTrans, CblasTrans, rows, (int)Kd, d, A, d, B, d, 0, C, (int)Kd);
      cgemm_pass(c64, CblasTrans, CblasConjNoTrans, (int)Kd, d, rows, A, (int)Kd, B, d, 1, C, d);
      if (w) t[r] = qdm_now() - t0;
    }
  }
  *sec = qdm_median(t, 5);
  free(A); free(B); free(C);
  return QDM_OK;
}

/* Random images stand in when no data set is at hand: speed does not
 * depend on the pixel values (but the groups' sizes do: with MNIST's
 * labels they are the real ones). */
static int bench_data(qdm__run *R, int *real) {
  qdm_data_opts d = {R->o.data, "train", R->o.digits, R->o.limit, 16, R->o.subset, R->o.seed, NULL};
  *real = qdm_data_load(&d, &R->data) == QDM_OK;
  if (*real) return QDM_OK;
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

/* The timed steps: batches in data order, one warm-up step first. */
static int timed_steps(qdm__run *R, int steps, qdm_train_bench_result *res) {
  const qdm_train_opts *o = &R->o;
  int nb = (R->data.n + o->batch - 1) / o->batch, err;
  double loss, inf, *dt = malloc((size_t)steps * sizeof *dt);
  if (!dt) return qdm_fail(QDM_ENOMEM, "bench: out of memory");
  for (int i = 0; i < R->data.n; i++) R->order[i] = i;
  err = qdm__run_step(R, 0, o->batch < R->data.n ? o->batch : R->data.n, o->lr, &loss, &inf);
  qdm_unet_timing_get(R->m, NULL, 1);
  qdm_dist_stats_reset();
  for (int s = 0; s < steps && !err; s++) {
    int b0 = (s % nb) * o->batch, n = R->data.n - b0 < o->batch ? R->data.n - b0 : o->batch;
    double t0 = qdm_now();
    err = qdm__run_step(R, b0, n, o->lr, &loss, &inf);
    dt[s] = qdm_now() - t0;
    res->seconds += dt[s];
    res->rows += (long)n * R->K;
  }
  if (!err) {
    qdm_dist_stats c;
    qdm_dist_stats_get(&c);
    res->step_seconds = qdm_median(dt, steps);
    res->loss = loss;
    res->ranks = qdm_dist_size();
    res->comm_bytes = c.bytes / steps;
    res->comm_seconds = c.seconds / steps;
  }
  free(dt);
  return err;
}

/* A cache line's round trip between two threads (ns; 0 on one thread):
 * thread 0 sets a flag, thread 1 clears it, n times. The second of a
 * VM's vCPUs may sit on the same die as the first (here: 75 ns) or on
 * another (340 ns), and the authors' step at 2 threads ran at about 80 k
 * rows/s in the one case and 68 k in the other, so each line says which.
 * A waiting thread yields after many spins, so threads sharing one CPU
 * still finish. */
static double core_round_trip_ns(void) {
  if (qdm_threads() < 2) return 0;
  static _Alignas(64) _Atomic int flag;
  const int n = 20000;
  double sec = 0;
#pragma omp parallel num_threads(2)
  {
    int me = omp_get_thread_num(), two = omp_get_num_threads() == 2; /* (a runtime may give fewer) */
#pragma omp barrier
    double t0 = qdm_now();
    for (int i = 0; i < n && two; i++) {
      if (me == 0) atomic_store_explicit(&flag, 1, memory_order_release);
      for (long spin = 0; atomic_load_explicit(&flag, memory_order_acquire) != me; spin++)
        if (spin > 100000) sched_yield();
      if (me == 1) atomic_store_explicit(&flag, 0, memory_order_release);
    }
    if (me == 0 && two) sec = qdm_now() - t0;
  }
  return sec / n * 1e9;
}

/* The gradient allreduce alone: each of 9 passes starts with the ranks
 * together (a barrier), so its time is the exchange, not a wait for the
 * slowest rank's step; the best pass (as for bandwidth: the cost without
 * other processes' interference). (The gradients are spoilt: the bench's
 * model is thrown away.) */
static int allreduce_alone(qdm__run *R, double *sec) {
  double t[9];
  int err = QDM_OK;
  for (int i = 0; i < 9 && !err; i++) {
    int z = 0; /* a spinning barrier: a sleeping rank would wake up late */
    err = qdm_dist_max_int(&z, 1);
    double t0 = qdm_now();
    if (!err) err = qdm__shard_grads(R, QDM_OK);
    t[i] = qdm_now() - t0;
  }
  double best = t[0];
  for (int i = 1; i < 9; i++) best = t[i] < best ? t[i] : best;
  *sec = err ? 0 : best;
  return err;
}

int qdm_train_bench(const qdm_train_opts *o, int steps, qdm_train_bench_result *res) {
  if (!o || !res || steps < 1) return qdm_fail(QDM_EINVAL, "qdm_train_bench: NULL argument or steps = %d < 1", steps);
  int err = qdm_train_opts_check(o);
  if (err) return err;
  qdm__run R;
  memset(&R, 0, sizeof R);
  R.o = *o;
  R.o.quiet = 1;
  memset(res, 0, sizeof *res);
  err = bench_data(&R, &res->mnist);
  if (!err) err = qdm__run_alloc(&R);
  if (!err) err = qdm__run_model(&R, o->batch * o->model.T);
  if (!err) err = qdm__run_optimizer(&R);
  if (!err) err = qdm__shard_init(&R); /* under MPI: the ranks share each step */
  if ((err = qdm_dist_agree(err)) == QDM_OK) err = timed_steps(&R, steps, res);
  if (!err) res->core_round_trip_ns = core_round_trip_ns();
  if (!err && R.sh.on) err = allreduce_alone(&R, &res->allreduce_seconds);
  gemm_shape g[24];
  int ng = err ? 0 : step_gemms(R.m, o->batch * o->model.T, g);
  if (!err) err = gemm_seconds(g, ng, o->model.precision, 9, &res->gemm_seconds);
  const qdm_unet_cfg *mc = err ? NULL : qdm_unet_config(R.m);
  int rows_all = o->batch * o->model.T, d = 1 << o->model.n;
  int global = !err && mc->measure == QDM_MEASURE_ANO && mc->ano_layout == QDM_ANO_GLOBAL;
  if (!err && !mc->classical && global) { /* the yardstick is the global form's */
    err = ano_seconds(rows_all, mc->K, d, 0, &res->ano_zgemm_seconds);
    res->zgemm_gflops = ano_flops(rows_all, mc->K, d) / res->ano_zgemm_seconds / 1e9;
  }
  if (!err && !mc->classical) { /* the circuits' yardstick: those shapes (K = 16 without an ANO), their precision */
    int K = global ? mc->K : 16, c64 = mc->circuit_precision == QDM_C64;
    double sec = res->ano_zgemm_seconds;
    if (c64 || !(sec > 0)) err = ano_seconds(rows_all, K, d, c64, &sec);
    res->circuit_gemm_gflops = err ? 0 : ano_flops(rows_all, K, d) / sec / 1e9;
  }
  if (!err) {
    qdm_unet_timing t;
    qdm_unet_timing_get(R.m, &t, 0);
    res->split = (qdm_unet_timing){t.dense / steps, t.circuit / steps, t.ano / steps, t.other / steps,
                                   t.circuit_flops / steps};
    res->circuit_gflops = res->split.circuit > 0 ? res->split.circuit_flops / res->split.circuit / 1e9 : 0;
    int rows = o->batch * o->model.T; /* a full batch; the timed steps are full unless the data are tiny */
    res->precision = o->model.precision;
    res->circuit_precision = o->model.circuit_precision;
    res->threads = qdm_threads();
    res->rows_per_step = rows;
    res->rows_per_s = rows / res->step_seconds;
    res->ceiling_rows_per_s = rows / res->gemm_seconds;
    res->gemm_gflops = gemm_flops(g, ng) / res->gemm_seconds / 1e9;
    res->dense_gflops = gemm_flops(g, ng) / res->split.dense / 1e9;
    res->qubits = o->model.n;
    if (res->ano_zgemm_seconds > 0) res->ano_gflops = ano_flops(rows, mc->K, d) / res->split.ano / 1e9;
    double qsec = res->ano_zgemm_seconds; /* the global ANO at zgemm's rate (0: none; a local one is small) */
    if (res->circuit_gemm_gflops > 0) qsec += res->split.circuit_flops / (res->circuit_gemm_gflops * 1e9);
    res->matmul_ceiling_rows_per_s = rows / (res->gemm_seconds + qsec);
  }
  qdm__shard_free(&R.sh);
  qdm__run_free(&R);
  return err;
}
