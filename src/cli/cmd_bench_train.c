/* cmd_bench_train.c -- `qdm bench train`: training steps of a configuration
 * for each thread count and precision asked, with the time split and the
 * dense-only ceiling measured in the same run (qdm_train_bench). */
#define _DEFAULT_SOURCE /* getloadavg */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "cli.h"
#include "qdm/io.h"
#include "qdm/train.h"

void cli_model_options(cli_args *a, qdm_train_opts *o);

static const char help[] =
    "usage: qdm bench train [--preset NAME] [--steps N] [--threads LIST] [--precision LIST]\n"
    "                       [--circuit-precision LIST] [--qubits LIST] [--plot FILE.png] [--json]\n"
    "                       [--data DIR] [--digits LIST] [--batch N]\n"
    "                       [model options as in qdm train]\n\n"
    "For each thread count and precision (defaults: 1,2 threads where there are 2 cores; f64,f32),\n"
    "runs N optimisation steps (default 30, after one warm-up step) of a training configuration\n"
    "(default: the authors', 32 images x T = 10 steps = 320 rows per step, all ten digits) and\n"
    "prints rows/s (median step), the time per step in the dense layers, the circuits, the ANO\n"
    "measurement and the rest (data rows, loss, Adam), and the dense-only ceiling: the rows/s of\n"
    "a step that did nothing but its own GEMMs (every Linear layer's forward, weight gradient and\n"
    "input gradient at the step's shapes), timed with sgemm or dgemm in the same run and threads;\n"
    "and the all-GEMM ceiling: that, plus the ANO's and the circuits' flops at zgemm's rate (cgemm's\n"
    "for c64 circuits) measured on the ANO's shapes: the step at the matrix-multiply rate where the\n"
    "quantum part dominates (6 and 8 qubits).\n"
    "Uses the MNIST of --data (default: as qdm train) when present, so that the (t, label)\n"
    "groups have their real sizes; random images otherwise (said in the output).\n"
    "Each line with 2 or more threads also times a cache line passed between two threads and back,\n"
    "right after its steps: on a VM the second vCPU may sit on the first one's die (under 100 ns)\n"
    "or on another (about 350 ns), and the step's thread scaling follows it.\n\n"
    "  --threads LIST     e.g. 1,2 or 2\n"
    "  --qubits LIST      bottleneck sizes, e.g. 4,6,8 (default: the preset's); with the ANO, each line\n"
    "                     also gives the ANO's GFLOP/s against zgemm's on the same shapes, same run\n"
    "                     (both counting the complex form's flops, Psi [H_1..H_K]^T: up to 6 qubits qdm\n"
    "                     does a quarter of them on packed densities, so its rate can pass zgemm's),\n"
    "                     and the circuits' GFLOP/s (their fused 4x4 steps' multiply-adds, 8 flops each,\n"
    "                     over the circuit time) against zgemm's (cgemm's for c64) on those shapes\n"
    "  --precision LIST   f64, f32 or f64,f32 (the classical part)\n"
    "  --circuit-precision LIST  c128 (default), c64 or c128,c64: the circuits' state vectors (each\n"
    "                     with each --precision)\n"
    "  --plot FILE.png    the split as bars: ms per step in the dense layers, circuits, ANO and the\n"
    "                     rest for each line, the dense bar marked at the step's GEMMs alone (the\n"
    "                     dense-only ceiling's time)\n"
    "  --json             {preset, rows_per_step, steps, blas_core, runs: [{threads, precision,\n"
    "                     circuit_precision, rows_per_s,\n"
    "                     ceiling_rows_per_s, ceiling_fraction, matmul_ceiling_rows_per_s,\n"
    "                     matmul_ceiling_fraction, split: {dense_s, circuit_s, ano_s,\n"
    "                     other_s} (seconds per step), gemm_gflops, dense_gflops, mnist, loss, qubits,\n"
    "                     ano_gflops, ano_zgemm_gflops, circuit_gflops, circuit_gemm_gflops,\n"
    "                     core_round_trip_ns (0: one thread)}]}\n\n"
    "Under mpirun -np K (--threads: per rank), each line is measured three ways in the same job:\n"
    "rank 0 alone at the rank's threads (-np 1), rank 0 alone at K x those threads (one process\n"
    "on the job's cores), and all K ranks sharing each step; printed: the three rows/s, the\n"
    "parallel efficiency (K ranks / (K x -np 1)), K ranks against the one process, and the\n"
    "bytes and seconds per step in the gradient allreduce (in the step, with the wait for the\n"
    "slowest rank; and alone, the ranks started together) (--json: a list of those records).\n";

enum { MAXLINES = 128 }; /* lines of one bench (each rank's three count three under mpirun) */

/* a line's precisions: the classical part's, then "+c64" for complex64 circuits */
static const char *prec_label(const qdm_train_bench_result *x) {
  static const char *const lab[2][2] = {{"f64", "f64+c64"}, {"f32", "f32+c64"}};
  return lab[x->precision == QDM_F32][x->circuit_precision == QDM_C64];
}

/* ---- under mpirun: the ranks against one process, in the same job ---- */

/* r[0]: rank 0 alone at t threads (-np 1); r[1]: rank 0 alone at K x t
 * threads (one process on the job's cores); r[2]: all K ranks at t threads
 * each. The others sleep while rank 0 runs alone (MPI's waits spin). */
static void bench_ranks(const char *cmd, qdm_train_opts *o, int steps, int t, qdm_train_bench_result r[3]) {
  int K = qdm_dist_size(), err = QDM_OK;
  for (int i = 0; i < 2; i++) {
    if (qdm_dist_rank() == 0) {
      qdm_dist_solo(1);
      bench_threads(i ? K * t : t);
      err = qdm_train_bench(o, steps, &r[i]);
      qdm_dist_solo(0);
    }
    qdm_dist_barrier_idle();
    if ((err = qdm_dist_agree(err)) || (err = qdm_dist_bcast(&r[i], sizeof r[i], 0))) cli_die(cmd, 1, "%s", qdm_errmsg());
  }
  bench_threads(t);
  if (qdm_train_bench(o, steps, &r[2])) cli_die(cmd, 1, "%s", qdm_errmsg());
}

static void print_ranks(const qdm_train_opts *o, int steps, const qdm_train_bench_result *r, int n, int json) {
  int K = qdm_dist_size();
  if (qdm_dist_rank() != 0) return;
  if (!json)
    printf("qdm bench train under MPI: %d ranks, preset %s, %d rows per step, %d timed steps per line\n"
           "threads/rank prec    | rows/s: -np 1  1 rank x %d thr  %d ranks | efficiency  vs 1 process | allreduce: "
           "MB/step  ms/step  ms alone\n", K, o->preset, r[0].rows_per_step, steps, K, K);
  for (int i = 0; i < n; i += 3) {
    const qdm_train_bench_result *a = &r[i], *b = &r[i + 1], *c = &r[i + 2];
    double eff = c->rows_per_s / (K * a->rows_per_s), vs = c->rows_per_s / b->rows_per_s;
    if (json)
      printf("%s{\"ranks\": %d, \"threads\": %d, \"precision\": \"%s\", \"circuit_precision\": \"%s\", \"rows_per_s_np1\": %.6g, "
             "\"rows_per_s_one_process\": %.6g, \"rows_per_s\": %.6g, \"efficiency\": %.4f, \"vs_one_process\": %.4f, "
             "\"allreduce_bytes_per_step\": %.0f, \"allreduce_s_per_step\": %.6g, \"allreduce_alone_s\": %.6g}%s\n", i ? " " : "[", K, a->threads,
             qdm_enum_str(qdm_precision_names, a->precision),
             qdm_enum_str(qdm_circuit_precision_names, a->circuit_precision), a->rows_per_s, b->rows_per_s, c->rows_per_s, eff, vs,
             c->comm_bytes, c->comm_seconds, c->allreduce_seconds, i + 3 < n ? "," : "]");
    else
      printf("%12d %-7s | %13.0f %13.0f %8.0f | %9.0f%% %13.0f%% | %12.2f %8.2f %9.2f\n", a->threads,
             prec_label(a), a->rows_per_s, b->rows_per_s, c->rows_per_s, 100 * eff,
             100 * vs, c->comm_bytes / 1e6, 1e3 * c->comm_seconds, 1e3 * c->allreduce_seconds);
  }
}

/* A comma list of names of table tab (f64, f32; c128, c64) for flag. */
static int parse_names(const char *cmd, const char *flag, const qdm_enum_name *tab, const char *spec, int *p, int max) {
  char buf[64];
  int n = 0;
  snprintf(buf, sizeof buf, "%s", spec);
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    int v = qdm_enum_parse(tab, flag, tok);
    if (v < 0 || n == max) cli_die(cmd, 2, v < 0 ? "%s" : "%s: at most 2 names", v < 0 ? qdm_errmsg() : flag);
    p[n++] = v;
  }
  if (!n) cli_die(cmd, 2, "%s: empty list", flag);
  return n;
}

static void print_table(const qdm_train_opts *o, int steps, const qdm_train_bench_result *r, int n) {
  double load[1] = {-1};
  getloadavg(load, 1);
  printf("qdm bench train: preset %s, %d rows per step (%d images x T = %d), %d timed steps per line\n", o->preset,
         r[0].rows_per_step, o->batch, o->model.T, steps);
  /* a forced kernel set explains a slow GEMM column, so it is named */
  const char *forced = getenv("OPENBLAS_CORETYPE");
  char why[96] = "";
  if (forced) snprintf(why, sizeof why, " (chosen by OPENBLAS_CORETYPE=%s)", forced);
  printf("  data: %s; %d cores, load average %.2f at the end; OpenBLAS %s kernels%s\n",
         r[0].mnist ? "the configured MNIST (real group sizes)" : "random images (no MNIST found)", omp_get_num_procs(),
         load[0], qdm_blas_core(), why);
  printf("qubits threads prec       rows/s  ceiling  of ceiling  all-GEMM  of it | ms/step: dense circuit    ano  other"
         " | GFLOP/s: GEMMs dense | GFLOP/s: ANO vs zgemm, circuits vs z/cgemm | 100 authors' epochs\n");
  for (int i = 0; i < n; i++) {
    const qdm_train_bench_result *x = &r[i];
    printf("%6d %7d  %-7s %9.0f %8.0f  %9.0f%% %9.0f %5.0f%% | %14.1f %7.1f %6.1f %6.1f | %14.1f %5.1f"
           " | %12.1f vs %5.1f, %6.1f vs %5.1f (%3.0f%%) | %6.1f min\n",
           x->qubits, x->threads,
           prec_label(x), x->rows_per_s, x->ceiling_rows_per_s,
           100 * x->rows_per_s / x->ceiling_rows_per_s, x->matmul_ceiling_rows_per_s,
           100 * x->rows_per_s / x->matmul_ceiling_rows_per_s, 1e3 * x->split.dense, 1e3 * x->split.circuit,
           1e3 * x->split.ano, 1e3 * x->split.other, x->gemm_gflops, x->dense_gflops, x->ano_gflops, x->zgemm_gflops,
           x->circuit_gflops, x->circuit_gemm_gflops,
           x->circuit_gemm_gflops > 0 ? 100 * x->circuit_gflops / x->circuit_gemm_gflops : 0,
           8096.0 * 10 * 100 / x->rows_per_s / 60);
  }
  /* each precision at its most threads against one, beside the same ratio
   * of its ceiling: the BLAS's own scaling on the step's shapes bounds it */
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      if (r[j].precision == r[i].precision && r[j].circuit_precision == r[i].circuit_precision &&
          r[j].qubits == r[i].qubits && r[j].threads > r[i].threads &&
          r[i].threads == 1)
        printf("  %d qubits, %s: %d threads %.2fx 1 thread (the dense-only ceiling, the step's GEMMs alone: %.2fx;"
               " a cache line between two threads and back: %.0f ns)\n",
               r[i].qubits, prec_label(&r[i]), r[j].threads, r[j].rows_per_s / r[i].rows_per_s,
               r[j].ceiling_rows_per_s / r[i].ceiling_rows_per_s, r[j].core_round_trip_ns);
}

static void print_json(const qdm_train_opts *o, int steps, const qdm_train_bench_result *r, int n) {
  qdm_json j;
  qdm_json_init(&j, stdout, 1);
  qdm_json_obj(&j);
  qdm_json_kv_str(&j, "preset", o->preset);
  qdm_json_kv_int(&j, "rows_per_step", r[0].rows_per_step);
  qdm_json_kv_int(&j, "steps", steps);
  qdm_json_kv_str(&j, "blas_core", qdm_blas_core());
  qdm_json_key(&j, "openblas_coretype"); /* the variable that chose them, or null */
  if (getenv("OPENBLAS_CORETYPE")) qdm_json_str(&j, getenv("OPENBLAS_CORETYPE"));
  else qdm_json_null(&j);
  qdm_json_key(&j, "runs");
  qdm_json_arr(&j);
  for (int i = 0; i < n; i++) {
    const qdm_train_bench_result *x = &r[i];
    qdm_json_obj(&j);
    qdm_json_kv_int(&j, "threads", x->threads);
    qdm_json_kv_str(&j, "precision", qdm_enum_str(qdm_precision_names, x->precision));
    qdm_json_kv_str(&j, "circuit_precision", qdm_enum_str(qdm_circuit_precision_names, x->circuit_precision));
    qdm_json_kv_num(&j, "rows_per_s", x->rows_per_s);
    qdm_json_kv_num(&j, "ceiling_rows_per_s", x->ceiling_rows_per_s);
    qdm_json_kv_num(&j, "ceiling_fraction", x->rows_per_s / x->ceiling_rows_per_s);
    qdm_json_kv_num(&j, "matmul_ceiling_rows_per_s", x->matmul_ceiling_rows_per_s);
    qdm_json_kv_num(&j, "matmul_ceiling_fraction", x->rows_per_s / x->matmul_ceiling_rows_per_s);
    qdm_json_key(&j, "split");
    qdm_json_obj(&j);
    qdm_json_kv_num(&j, "dense_s", x->split.dense);
    qdm_json_kv_num(&j, "circuit_s", x->split.circuit);
    qdm_json_kv_num(&j, "ano_s", x->split.ano);
    qdm_json_kv_num(&j, "other_s", x->split.other);
    qdm_json_obj_end(&j);
    qdm_json_kv_num(&j, "gemm_gflops", x->gemm_gflops);
    qdm_json_kv_num(&j, "dense_gflops", x->dense_gflops);
    qdm_json_kv_int(&j, "mnist", x->mnist);
    qdm_json_kv_num(&j, "loss", x->loss);
    qdm_json_kv_int(&j, "qubits", x->qubits);
    qdm_json_kv_num(&j, "ano_gflops", x->ano_gflops);
    qdm_json_kv_num(&j, "ano_zgemm_gflops", x->zgemm_gflops);
    qdm_json_kv_num(&j, "circuit_gflops", x->circuit_gflops);
    qdm_json_kv_num(&j, "circuit_gemm_gflops", x->circuit_gemm_gflops);
    qdm_json_kv_num(&j, "core_round_trip_ns", x->core_round_trip_ns);
    qdm_json_obj_end(&j);
  }
  qdm_json_arr_end(&j);
  qdm_json_obj_end(&j);
  qdm_json_end(&j);
}

/* --plot: one group of bars per line (dense, circuits, ANO, the rest, in ms
 * per step), the dense bar marked where the GEMMs alone would end. */
static void plot_split(const char *cmd, const char *path, const qdm_train_opts *o, const qdm_train_bench_result *r,
                       int n) {
  static const char *const series[4] = {"dense layers", "circuits", "ANO", "the rest (rows, loss, Adam)"};
  char lab[MAXLINES][48], title[160];
  const char *cat[MAXLINES];
  double v[4][MAXLINES], ref[4][MAXLINES];
  int mixed = 0; /* several bottleneck sizes: say each line's */
  for (int i = 1; i < n; i++) mixed |= r[i].qubits != r[0].qubits;
  for (int i = 0; i < n; i++) {
    const qdm_train_bench_result *x = &r[i];
    int k = mixed ? snprintf(lab[i], sizeof lab[i], "%d qubits, ", x->qubits) : 0;
    snprintf(lab[i] + k, sizeof lab[i] - k, "%d thread%s\n%s", x->threads, x->threads > 1 ? "s" : "", prec_label(x));
    cat[i] = lab[i];
    const double t[4] = {x->split.dense, x->split.circuit, x->split.ano, x->split.other};
    for (int s = 0; s < 4; s++) v[s][i] = 1e3 * t[s], ref[s][i] = NAN;
    ref[0][i] = 1e3 * x->rows_per_step / x->ceiling_rows_per_s;
  }
  snprintf(title, sizeof title, "qdm bench train --preset %s: time per step of %d rows", o->preset, r[0].rows_per_step);
  const double *vp[4] = {v[0], v[1], v[2], v[3]}, *rp[4] = {ref[0], ref[1], ref[2], ref[3]};
  qdm_bars b = {title, NULL, "ms per step", "the step's GEMMs alone (dense-only ceiling)", cat, n, series, 4, vp, rp, 0};
  if (qdm_plot_bars(path, &b)) cli_die(cmd, 1, "%s", qdm_errmsg());
  fprintf(stderr, "qdm bench train: wrote %s\n", path);
}

int bench_train(int argc, char **argv) {
  cli_args a;
  cli_init(&a, "qdm bench train", argc, argv);
  if (cli_flag(&a, "--help")) {
    fputs(help, stdout);
    return 0;
  }
  qdm_train_opts o;
  if (qdm_train_preset(&o, cli_str(&a, "--preset", "authors"))) cli_die(a.cmd, 2, "--preset: %s", qdm_errmsg());
  int steps = (int)cli_int(&a, "--steps", 30, 1, 1000000), json = cli_flag(&a, "--json");
  double th[8], qv[8];
  int prec[2], cprec[2];
  int nth = cli_num_list(a.cmd, "--threads", cli_str(&a, "--threads", omp_get_num_procs() >= 2 ? "1,2" : "1"), 1, 256, 1,
                         th, 8);
  const char *qs = cli_str(&a, "--qubits", NULL); /* absent: the preset's (qv[0] = 0) */
  int nq = qs ? cli_num_list(a.cmd, "--qubits", qs, 1, 10, 1, qv, 8) : (qv[0] = 0, 1);
  int npr = parse_names(a.cmd, "--precision", qdm_precision_names, cli_str(&a, "--precision", "f64,f32"), prec, 2);
  int ncp = parse_names(a.cmd, "--circuit-precision", qdm_circuit_precision_names,
                        cli_str(&a, "--circuit-precision", "c128"), cprec, 2);
  const char *dig = cli_classes(&a), *data = cli_str(&a, "--data", NULL);
  if (dig) snprintf(o.digits, sizeof o.digits, "%s", dig);
  if (data && snprintf(o.data, sizeof o.data, "%s", data) >= (int)sizeof o.data) cli_die(a.cmd, 2, "--data: path too long");
  o.batch = (int)cli_int(&a, "--batch", o.batch, 1, 100000);
  for (int i = 0; qs && i < a.argc; i++) /* the list is ours: qdm train's --qubits takes one number */
    if (!strncmp(a.argv[i], "--qubits", 8) && (a.argv[i][8] == 0 || a.argv[i][8] == '=')) a.argv[i] = (char *)"--qubits-list";
  const char *plot = cli_str(&a, "--plot", NULL);
  size_t pl = plot ? strlen(plot) : 0;
  if (plot && (pl < 5 || strcasecmp(plot + pl - 4, ".png")))
    cli_die(a.cmd, 2, "--plot: expected a FILE.png (got '%s')", plot);
  if (plot && qdm_dist_size() > 1) cli_die(a.cmd, 2, "--plot: not under mpirun (the per-rank lines are a table)");
  cli_model_options(&a, &o);
  cli_done(&a);
  if (nq * nth * npr * ncp * (qdm_dist_size() > 1 ? 3 : 1) > MAXLINES)
    cli_die(a.cmd, 2, "--qubits x --threads x --precision x --circuit-precision: %d lines, at most %d",
            nq * nth * npr * ncp, MAXLINES / (qdm_dist_size() > 1 ? 3 : 1));
  qdm_train_bench_result r[MAXLINES];
  int n = 0, n0 = o.model.n;
  if (qdm_dist_size() > 1) { /* mpirun -np K qdm bench train */
    for (int q = 0; q < nq; q++)
      for (int i = 0; i < nth; i++)
        for (int k = 0; k < npr * ncp; k++, n += 3) {
          o.model.precision = (qdm_precision)prec[k / ncp];
          o.model.circuit_precision = (qdm_circuit_precision)cprec[k % ncp];
          o.model.n = qv[q] > 0 ? (int)qv[q] : n0;
          bench_ranks(a.cmd, &o, steps, (int)th[i], r + n);
        }
    print_ranks(&o, steps, r, n, json);
    return 0;
  }
  for (int q = 0; q < nq; q++)
    for (int i = 0; i < nth; i++)
      for (int k = 0; k < npr * ncp; k++) {
        bench_threads((int)th[i]);
        o.model.precision = (qdm_precision)prec[k / ncp];
        o.model.circuit_precision = (qdm_circuit_precision)cprec[k % ncp];
        o.model.n = qv[q] > 0 ? (int)qv[q] : n0;
        if (qdm_train_bench(&o, steps, &r[n++])) cli_die(a.cmd, 1, "%s", qdm_errmsg());
      }
  if (json) print_json(&o, steps, r, n);
  else print_table(&o, steps, r, n);
  if (plot) plot_split(a.cmd, plot, &o, r, n);
  return 0;
}
