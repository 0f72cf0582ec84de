/* cmd_bench.c -- `qdm bench`, and `qdm bench sim`: the engine's speed, as
 * ratios measured in one run (per-gate GB/s against this machine's memory
 * bandwidth, fused vs gate-by-gate rows/s). `qdm bench train` lives in
 * cmd_bench_train.c. */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "qdm/io.h"
#include "qdm/qsim.h"
#include "qdm/train.h"

void bench_threads(int t) {
  qdm_set_threads(t);
  openblas_set_num_threads(t);
}

/* In-place read+write bandwidth over a state-sized array (the access pattern
 * of one gate), and a STREAM triad a = b + s c; the best of reps passes. */
static void bandwidth(size_t bytes, int reps, double *inplace, double *triad) {
  size_t n = bytes / sizeof(double);
  double *a = aligned_alloc(64, n * sizeof *a), *b = aligned_alloc(64, n * sizeof *b),
         *c = aligned_alloc(64, n * sizeof *c);
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) a[i] = b[i] = c[i] = 1.0 + (double)(i & 7);
  double best1 = 1e30, best2 = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = qdm_now();
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = 0.999 * a[i] + 1e-3;
    double t1 = qdm_now();
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = b[i] + 0.5 * c[i];
    double t2 = qdm_now();
    if (t1 - t0 < best1) best1 = t1 - t0;
    if (t2 - t1 < best2) best2 = t2 - t1;
  }
  *inplace = 2.0 * n * sizeof(double) / best1 / 1e9;
  *triad = 3.0 * n * sizeof(double) / best2 / 1e9;
  volatile double sink = a[n / 2];
  (void)sink;
  free(a); free(b); free(c);
}

typedef struct { int n, threads; const char *gate; double ns, gbs; } single_row;
typedef struct { int n, rows, gates, threads; const char *mode; double rps, grad_rps; } batch_row;

static const char *gate_names[] = {"RX", "RY", "RZ", "H", "CNOT"};

static void add_named(qdm_circuit *c, int which, int q, double ang) {
  int n = c->n;
  switch (which) {
  case 0: qdm_addr(c, QDM_GRX, q, qdm_fixed(ang)); break;
  case 1: qdm_addr(c, QDM_GRY, q, qdm_fixed(ang)); break;
  case 2: qdm_addr(c, QDM_GRZ, q, qdm_fixed(ang)); break;
  case 3: qdm_add1(c, QDM_GH, q); break;
  default: qdm_cnot(c, (q + 1) % n, q); break;
  }
}

/* ns per gate for one gate kind on one state, targets cycling over qubits */
static single_row bench_single(int n, int threads, int which, double budget) {
  size_t dim = (size_t)1 << n;
  int ng = n >= 20 ? 2 * n : 4 * n;
  qdm_circuit *c = qdm_circuit_new(n);
  for (int k = 0; k < ng; k++) add_named(c, which, k % n, 0.1 + 0.01 * k);
  qdm_cplx *psi = aligned_alloc(64, dim * sizeof *psi);
  qdm_zero_state(psi, n, 1);
  bench_threads(threads);
  qdm_run(c, NULL, NULL, 0, psi, 1); /* warm */
  double t[7];
  int reps = 0;
  double start = qdm_now();
  while (reps < 7 && (reps < 3 || qdm_now() - start < budget)) {
    double t0 = qdm_now();
    qdm_run(c, NULL, NULL, 0, psi, 1);
    t[reps++] = (qdm_now() - t0) / ng;
  }
  single_row r = {n, threads, gate_names[which], 0, 0};
  r.ns = qdm_median(t, reps) * 1e9;
  /* bytes touched: all amplitudes read and written, half for CNOT */
  double bytes = 2.0 * dim * sizeof(qdm_cplx) * (which == 4 ? 0.5 : 1.0);
  r.gbs = bytes / r.ns;
  free(psi);
  qdm_circuit_free(c);
  return r;
}

/* ~1000 random RX/RY/RZ/CNOT gates with a parameter per rotation */
static qdm_circuit *mixed_circuit(int n, int ngates, qdm_rng *rng) {
  qdm_circuit *c = qdm_circuit_new(n);
  int p = 0;
  for (int k = 0; k < ngates; k++) {
    int which = (int)(qdm_rng_u64(rng) % 4), q = (int)(qdm_rng_u64(rng) % n);
    if (which == 3) qdm_cnot(c, (q + 1 + (int)(qdm_rng_u64(rng) % (n - 1))) % n, q);
    else qdm_addr(c, which == 0 ? QDM_GRX : which == 1 ? QDM_GRY : QDM_GRZ, q, qdm_par(p++));
  }
  return c;
}

static double time_median(double budget, void (*fn)(void *), void *ctx) {
  double t[9];
  int reps = 0;
  double start = qdm_now();
  fn(ctx);
  while (reps < 9 && (reps < 3 || qdm_now() - start < budget)) {
    double t0 = qdm_now();
    fn(ctx);
    t[reps++] = qdm_now() - t0;
  }
  return qdm_median(t, reps);
}

typedef struct {
  qdm_circuit *c;
  double *theta, *dth;
  qdm_cplx *in, *out, *lam, *U, *dU;
  int rows, dim;
} batch_ctx;

static void gate_fwd(void *p) {
  batch_ctx *b = p;
  memcpy(b->out, b->in, (size_t)b->rows * b->dim * sizeof *b->out);
  qdm_run(b->c, b->theta, NULL, 0, b->out, b->rows);
}
static void gate_grad(void *p) {
  batch_ctx *b = p;
  gate_fwd(p);
  memcpy(b->lam, b->in, (size_t)b->rows * b->dim * sizeof *b->lam); /* some co-gradient */
  qdm_run_adjoint(b->c, b->theta, NULL, 0, b->out, b->lam, b->rows, b->dth, NULL);
}
static void fused_fwd(void *p) {
  batch_ctx *b = p;
  qdm_unitary(b->c, b->theta, b->U);
  qdm_apply_unitary(b->dim, b->U, b->in, b->out, b->rows);
}
static void fused_grad(void *p) {
  batch_ctx *b = p;
  fused_fwd(p);
  memset(b->dU, 0, (size_t)b->dim * b->dim * sizeof *b->dU);
  qdm_apply_unitary_backward(b->dim, b->U, b->in, b->in, b->lam, b->dU, b->rows);
  qdm_unitary_backward(b->c, b->theta, b->U, b->dU, b->dth);
}

static void bench_batch(int n, int rows, int ngates, int threads, batch_row out[2], double budget) {
  qdm_rng rng;
  qdm_rng_seed(&rng, 7);
  batch_ctx b = {0};
  b.c = mixed_circuit(n, ngates, &rng);
  b.rows = rows;
  b.dim = 1 << n;
  size_t sz = (size_t)rows * b.dim;
  b.theta = malloc(b.c->nparams * sizeof *b.theta);
  b.dth = calloc(b.c->nparams, sizeof *b.dth);
  for (int i = 0; i < b.c->nparams; i++) b.theta[i] = 6.283 * qdm_rng_uniform(&rng);
  b.in = malloc(sz * sizeof *b.in);
  b.out = malloc(sz * sizeof *b.out);
  b.lam = malloc(sz * sizeof *b.lam);
  b.U = malloc((size_t)b.dim * b.dim * sizeof *b.U);
  b.dU = malloc((size_t)b.dim * b.dim * sizeof *b.dU);
  for (int r = 0; r < rows; r++) qdm_rng_haar_state(&rng, b.in + (size_t)r * b.dim, b.dim);
  bench_threads(threads);
  out[0] = (batch_row){n, rows, ngates, threads, "gate", rows / time_median(budget, gate_fwd, &b),
                       rows / time_median(budget, gate_grad, &b)};
  out[1] = (batch_row){n, rows, ngates, threads, "fused", rows / time_median(budget, fused_fwd, &b),
                       rows / time_median(budget, fused_grad, &b)};
  free(b.theta); free(b.dth); free(b.in); free(b.out); free(b.lam); free(b.U); free(b.dU);
  qdm_circuit_free(b.c);
}

typedef struct {
  double in1, in2, triad1, triad2, best; /* GB/s: in-place r+w and triad, 1 and 2 threads */
  single_row srow[4 * 2 * 5];
  batch_row brow[2 * 2 * 2];
  int nsz, nb;
} sim_bench;

static void sim_bandwidth(sim_bench *b, int quick, int maxq, int nthr_max, int json) {
  bench_threads(1);
  bandwidth((size_t)16 << (quick ? 20 : maxq), quick ? 3 : 5, &b->in1, &b->triad1);
  b->in2 = b->in1, b->triad2 = b->triad1;
  if (nthr_max > 1) {
    bench_threads(2);
    bandwidth((size_t)16 << (quick ? 20 : maxq), quick ? 3 : 5, &b->in2, &b->triad2);
  }
  b->best = b->in1 > b->in2 ? b->in1 : b->in2;
  if (!json)
    fprintf(stderr, "memory bandwidth: in-place r+w %.1f GB/s (1 thread), %.1f GB/s (2); triad %.1f / %.1f GB/s\n",
            b->in1, b->in2, b->triad1, b->triad2);
}

static void sim_gates(sim_bench *b, int maxq, int nthr_max, double budget, int json) {
  static const int sizes[] = {10, 16, 20, 24};
  for (int si = 0; si < 4; si++) {
    if (sizes[si] > maxq) continue;
    for (int th = 1; th <= nthr_max; th++)
      for (int g = 0; g < 5; g++) {
        single_row *r = &b->srow[b->nsz++];
        *r = bench_single(sizes[si], th, g, budget);
        if (!json)
          fprintf(stderr, "  n=%2d threads=%d %-4s %12.1f ns/gate %7.1f GB/s (%3.0f%% of in-place bandwidth)\n", r->n,
                  th, r->gate, r->ns, r->gbs, 100 * r->gbs / b->best);
      }
  }
}

static void sim_batches(sim_bench *b, int rows, int nthr_max, double budget, int json) {
  for (int n = 4; n <= 5; n++)
    for (int th = 1; th <= nthr_max; th++) {
      bench_batch(n, rows, 1000, th, b->brow + b->nb, budget);
      for (int k = 0; k < 2 && !json; k++)
        fprintf(stderr, "  n=%d rows=%d gates=1000 threads=%d %-5s %10.0f rows/s forward %10.0f rows/s forward+gradient\n",
                n, rows, th, b->brow[b->nb + k].mode, b->brow[b->nb + k].rps, b->brow[b->nb + k].grad_rps);
      b->nb += 2;
    }
}

static void sim_json(const sim_bench *b) {
  qdm_json j;
  qdm_json_init(&j, stdout, 1);
  qdm_json_obj(&j);
  qdm_json_kv_num(&j, "bandwidth_gbs", b->best);
  qdm_json_kv_num(&j, "bandwidth_inplace_1t_gbs", b->in1);
  qdm_json_kv_num(&j, "bandwidth_inplace_2t_gbs", b->in2);
  qdm_json_kv_num(&j, "triad_1t_gbs", b->triad1);
  qdm_json_kv_num(&j, "triad_2t_gbs", b->triad2);
  qdm_json_key(&j, "single");
  qdm_json_arr(&j);
  for (int i = 0; i < b->nsz; i++) {
    const single_row *r = &b->srow[i];
    qdm_json_obj(&j);
    qdm_json_kv_int(&j, "n", r->n);
    qdm_json_kv_int(&j, "threads", r->threads);
    qdm_json_kv_str(&j, "gate", r->gate);
    qdm_json_kv_num(&j, "ns_per_gate", r->ns);
    qdm_json_kv_num(&j, "gbs", r->gbs);
    qdm_json_obj_end(&j);
  }
  qdm_json_arr_end(&j);
  qdm_json_key(&j, "batch");
  qdm_json_arr(&j);
  for (int i = 0; i < b->nb; i++) {
    const batch_row *r = &b->brow[i];
    qdm_json_obj(&j);
    qdm_json_kv_int(&j, "n", r->n);
    qdm_json_kv_int(&j, "rows", r->rows);
    qdm_json_kv_int(&j, "gates", r->gates);
    qdm_json_kv_int(&j, "threads", r->threads);
    qdm_json_kv_str(&j, "mode", r->mode);
    qdm_json_kv_num(&j, "rows_per_s", r->rps);
    qdm_json_kv_num(&j, "grad_rows_per_s", r->grad_rps);
    qdm_json_obj_end(&j);
  }
  qdm_json_arr_end(&j);
  qdm_json_obj_end(&j);
  qdm_json_end(&j);
}

static int bench_sim(int argc, char **argv) {
  cli_args a;
  cli_init(&a, "qdm bench sim", argc, argv);
  if (cli_flag(&a, "--help")) {
    printf("usage: qdm bench sim [--json] [--quick] [--max-qubits N]\n\n"
           "Measures in one run: the machine's memory bandwidth (in-place read+write\n"
           "and a STREAM triad); ns per gate and GB/s for RX, RY, RZ, H, CNOT on one\n"
           "state of n = 10, 16, 20, 24 qubits with 1 and 2 threads; rows/s for a\n"
           "4- and a 5-qubit circuit of 1000 random RX/RY/RZ/CNOT gates applied to\n"
           "10,000 rows, gate by gate and fused (one unitary, one zgemm), forward\n"
           "and forward+gradient. Medians of repeated runs.\n\n"
           "  --json          one JSON object instead of tables\n"
           "  --quick         smaller sizes (n <= 16, 2,000 rows) for a fast look\n"
           "  --max-qubits N  largest single-state size (default 24)\n");
    return 0;
  }
  int json = cli_flag(&a, "--json"), quick = cli_flag(&a, "--quick");
  int maxq = (int)cli_int(&a, "--max-qubits", quick ? 16 : 24, 10, 28);
  cli_done(&a);
  int nthr_max = omp_get_num_procs() >= 2 ? 2 : 1;
  double budget = quick ? 0.05 : 0.3;
  sim_bench b = {0};
  sim_bandwidth(&b, quick, maxq, nthr_max, json);
  sim_gates(&b, maxq, nthr_max, budget, json);
  sim_batches(&b, quick ? 2000 : 10000, nthr_max, budget, json);
  if (json) sim_json(&b);
  return 0;
}

int bench_train(int argc, char **argv); /* cmd_bench_train.c */

int cmd_bench(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    printf("usage: qdm bench <sim|train> [options]   (qdm bench sim --help)\n\n"
           "  sim    state-vector engine: per-gate speed vs memory bandwidth, batched rows/s\n"
           "  train  a training configuration in f64 and f32: rows/s, time split, dense-only ceiling\n");
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "sim")) return bench_sim(argc - 1, argv + 1);
  if (!strcmp(argv[1], "train")) return bench_train(argc - 1, argv + 1);
  cli_die("qdm bench", 2, "unknown benchmark '%s' (expected sim or train)", argv[1]);
}
