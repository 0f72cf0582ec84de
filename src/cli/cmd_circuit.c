/* cmd_circuit.c -- `qdm circuit`: the circuit benchmarks of report section
 * 6 (after Sim, Johnson & Aspuru-Guzik 2019): expressibility (KL of the
 * pair-fidelity histogram to the Haar law, eq. 23) and entangling
 * capability (mean Meyer-Wallach Q, eqs. 24-25) for one or more ansatzes
 * and layer counts, the Bloch-ball picture of reduced states (6.3), the
 * fidelity histogram, and the state of a circuit at given parameters so
 * outside tools can check any circuit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "qdm/circuits.h"
#include "qdm/io.h"
#include "qdm/metrics.h"

#define CMD "qdm circuit"
enum { MAX_ROWS = 512, MAX_LAYERS = 64 };

static void help(void) {
  printf("usage: qdm circuit [options]\n\n"
         "Expressibility and entangling capability of parameterised circuits (report section 6,\n"
         "Sim, Johnson & Aspuru-Guzik 2019): S pairs of parameter vectors uniform in [0, 2 pi),\n"
         "states from |0...0>, expressibility = KL(P_pqc || P_haar) in nats of the pair-fidelity\n"
         "histogram against the Haar law (N-1)(1-F)^(N-2) integrated per bin (eq. 23); entangling\n"
         "capability = mean Meyer-Wallach Q over all 2S states (eqs. 24-25). Lower KL = more\n"
         "expressive; the Haar row shows the estimator's floor at this S and bin count.\n\n"
         "circuit:\n"
         "  --ansatz LIST        comma-separated names; 'sims' = sim1..sim19, 'all' = every ansatz,\n"
         "                       'haar' = exact Haar-random states (reference row) [hea]\n"
         "  --qubits N           qubits [4]\n"
         "  --layers L           layers [1]\n"
         "  --sweep-layers SPEC  a row per layer count: A..B or A,B,C (replaces --layers)\n"
         "  --init NAME          none, or ry-pi4 = fixed RY(pi/4) on every qubit first [none]\n"
         "  --ring               hea, hva, conv, paper: also couple qubit n-1 with qubit 0\n"
         "  --list               print the ansatz names and what each builds, then exit\n"
         "estimators:\n"
         "  --samples S          pairs of parameter draws [5000]\n"
         "  --bins B             histogram bins on [0, 1] [75]\n"
         "  --seed K             random seed; results do not depend on --threads [1]\n"
         "  --threads T          threads (0 = OpenMP default) [0]\n"
         "output (default: a table on stdout):\n"
         "  --json               one JSON object (an array when there are several rows) with ansatz,\n"
         "                       qubits, layers, params, samples, bins, expressibility,\n"
         "                       entangling_capability, haar_mw, seconds, ...\n"
         "  --markdown           the table as Markdown (ansatz rows, a column pair per layer count)\n"
         "  --bloch FILE.png     Bloch ball of qubit Q's reduced state for every sample (report Fig. 4)\n"
         "  --bloch-qubit Q      [0]\n"
         "  --hist FILE.png      fidelity histogram over the Haar curve\n"
         "                       (with several rows, -ANSATZ-LL is added before .png)\n"
         "one circuit at given parameters:\n"
         "  --params LIST|FILE   parameter values (comma/space separated, or a file of them)\n"
         "  --state              print {\"params\": [...], \"state\": [[re, im], ...]} for the circuit\n"
         "                       applied to |0...0>; basis index i = sum_q b_q 2^q (qubit 0 is the\n"
         "                       least significant bit)\n"
         "  --metric             with --params: print {\"params\", \"metric\"}, the Fubini-Study\n"
         "                       metric at those parameters (same as qdm qngd metric)\n"
         "  --gradient-variance  barren-plateau test: variance of a cost gradient over random\n"
         "                       parameters vs qubits, JSON and --plot FILE.png (qdm qngd gradvar)\n"
         "OpenQASM:\n"
         "  --qasm FILE          write the circuit (one --ansatz, one --layers) as OpenQASM 3 and exit:\n"
         "                       parameters as 'input float[64] theta_<i>', or bound to --params;\n"
         "                       q[i] is qubit i. Any --ansatz may itself be a FILE.qasm (OpenQASM 2\n"
         "                       or 3): the file's circuit is one layer, its inputs the parameters\n\n"
         "examples (the first makes the table in docs/circuits_table.md):\n"
         "  qdm circuit --ansatz haar,hea,paper,authors,sims --qubits 4 --sweep-layers 1,3 --markdown\n"
         "  qdm circuit --ansatz authors --layers 2 --qasm authors.qasm\n"
         "  qdm circuit --ansatz authors.qasm --json\n");
}

/* ---- argument helpers ---- */

/* "A..B" or "A,B,C" */
static int parse_layers(const char *spec, int *L) {
  const char *dots = strstr(spec, "..");
  double v[MAX_LAYERS];
  if (!dots) {
    int n = cli_num_list(CMD, "--sweep-layers", spec, 0, 1000, 1, v, MAX_LAYERS);
    for (int i = 0; i < n; i++) L[i] = (int)v[i];
    return n;
  }
  char a[32];
  snprintf(a, sizeof a, "%.*s", (int)(dots - spec < 31 ? dots - spec : 31), spec);
  cli_num_list(CMD, "--sweep-layers", a, 0, 1000, 1, v, 1);
  cli_num_list(CMD, "--sweep-layers", dots + 2, 0, 1000, 1, v + 1, 1);
  if (v[1] < v[0] || v[1] - v[0] >= MAX_LAYERS)
    cli_die(CMD, 2, "--sweep-layers: '%s' is not a range A..B with A <= B (at most %d values)", spec, MAX_LAYERS);
  int n = 0;
  for (int l = (int)v[0]; l <= (int)v[1]; l++) L[n++] = l;
  return n;
}

/* ---- one row ---- */

typedef struct {
  const char *ansatz;
  int layers, params;
  qdm_expr_result r;
  double seconds;
} row;

typedef struct {
  int qubits, init, ring, samples, bins, bloch_q;
  unsigned long long seed;
  const char *bloch, *hist;
  int nrows_total;
  /* what to run and print */
  const char *ansatz, *params, *qasm;
  int L[MAX_LAYERS], nl, json, md, state;
} config;

static qdm_circuit *build(const config *cf, const char *name, int layers, int *np) {
  qdm_ansatz_opts o = {cf->init, cf->ring};
  return cli_ansatz_circuit(CMD, name, cf->qubits, layers, &o, 0, np);
}

/* FILE.png -> FILE-ANSATZ-LL.png when there are several rows. */
static void out_name(char *buf, size_t len, const char *path, const config *cf, const row *r) {
  if (cf->nrows_total <= 1) {
    snprintf(buf, len, "%s", path);
    return;
  }
  const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
  int stem = dot && (!slash || dot > slash) ? (int)(dot - path) : (int)strlen(path);
  snprintf(buf, len, "%.*s-%s-L%d%s", stem, path, r->ansatz, r->layers, path + stem);
}

static void pictures(const config *cf, const row *r, const double *bloch, const double *hist) {
  char path[4200], title[160];
  if (cf->bloch) {
    out_name(path, sizeof path, cf->bloch, cf, r);
    snprintf(title, sizeof title, "%s, n = %d, L = %d: reduced state of qubit %d", r->ansatz, cf->qubits, r->layers, cf->bloch_q);
    if (qdm_plot_bloch(path, bloch, 2 * cf->samples, title)) cli_die(CMD, 1, "%s", qdm_errmsg());
  }
  if (cf->hist) {
    double *ph = malloc(cf->bins * sizeof *ph), N = ldexp(1.0, cf->qubits);
    if (!ph) cli_die(CMD, 1, "out of memory");
    for (int b = 0; b < cf->bins; b++) ph[b] = qdm_haar_fid_prob(N, (double)b / cf->bins, (double)(b + 1) / cf->bins);
    out_name(path, sizeof path, cf->hist, cf, r);
    snprintf(title, sizeof title, "%s, n = %d, L = %d: KL to Haar = %.4f (%d pairs, %d bins)", r->ansatz, cf->qubits,
             r->layers, r->r.expressibility, cf->samples, cf->bins);
    int e = qdm_plot_fidelity_hist(path, hist, ph, cf->bins, title);
    free(ph);
    if (e) cli_die(CMD, 1, "%s", qdm_errmsg());
  }
}

static void run_row(const config *cf, row *r) {
  qdm_expr_opts o;
  qdm_expr_opts_default(&o);
  o.samples = cf->samples;
  o.bins = cf->bins;
  o.seed = cf->seed;
  o.bloch_qubit = cf->bloch_q;
  double *bloch = cf->bloch ? malloc(6 * (size_t)cf->samples * sizeof *bloch) : NULL;
  double *hist = cf->hist ? malloc(cf->bins * sizeof *hist) : NULL;
  if ((cf->bloch && !bloch) || (cf->hist && !hist)) cli_die(CMD, 1, "out of memory");
  o.bloch = bloch;
  o.hist = hist;
  double t0 = qdm_now();
  int e;
  if (!strcmp(r->ansatz, "haar")) {
    r->params = 0;
    e = qdm_expressibility_haar(cf->qubits, &o, &r->r);
  } else {
    qdm_circuit *c = build(cf, r->ansatz, r->layers, &r->params);
    e = qdm_expressibility(c, &o, &r->r);
    qdm_circuit_free(c);
  }
  r->seconds = qdm_now() - t0;
  if (e) cli_die(CMD, e == QDM_EINVAL ? 2 : 1, "%s", qdm_errmsg());
  pictures(cf, r, bloch, hist);
  free(bloch);
  free(hist);
}

/* ---- output ---- */

static void json_row(qdm_json *j, const config *cf, const row *r) {
  qdm_json_obj(j);
  qdm_json_kv_str(j, "ansatz", r->ansatz);
  qdm_json_kv_int(j, "qubits", cf->qubits);
  qdm_json_kv_int(j, "layers", r->layers);
  qdm_json_kv_int(j, "params", r->params);
  qdm_json_kv_str(j, "init", qdm_enum_str(qdm_ansatz_init_names, cf->init));
  qdm_json_kv_int(j, "samples", cf->samples);
  qdm_json_kv_int(j, "bins", cf->bins);
  qdm_json_kv_int(j, "seed", (long long)cf->seed);
  qdm_json_kv_num(j, "expressibility", r->r.expressibility);
  qdm_json_kv_num(j, "entangling_capability", r->r.entangling);
  qdm_json_kv_num(j, "entangling_sd", r->r.entangling_sd);
  qdm_json_kv_num(j, "haar_mw", r->r.haar_mw);
  qdm_json_kv_num(j, "seconds", r->seconds);
  qdm_json_obj_end(j);
}

static void print_table(const config *cf, const row *rows, int n) {
  printf("%-10s %6s %6s %6s %15s %11s %8s\n", "ansatz", "qubits", "layers", "params", "expressibility", "entangling", "seconds");
  for (int i = 0; i < n; i++)
    printf("%-10s %6d %6d %6d %15.5f %11.4f %8.2f\n", rows[i].ansatz, cf->qubits, rows[i].layers, rows[i].params,
           rows[i].r.expressibility, rows[i].r.entangling, rows[i].seconds);
  printf("(S = %d pairs, %d bins, seed %llu; expressibility = KL to Haar in nats, lower is more expressive;\n"
         " entangling = mean Meyer-Wallach Q; Haar value (2^n-2)/(2^n+1) = %.4f)\n",
         cf->samples, cf->bins, cf->seed, qdm_haar_mw(cf->qubits));
}

static void print_markdown(const config *cf, const row *rows, int nnames) {
  const int *L = cf->L, nl = cf->nl;
  printf("| ansatz |");
  for (int k = 0; k < nl; k++) printf(" params L=%d | expressibility L=%d | entangling L=%d |", L[k], L[k], L[k]);
  printf("\n|---|");
  for (int k = 0; k < nl; k++) printf("---:|---:|---:|");
  printf("\n");
  for (int a = 0; a < nnames; a++) {
    printf("| %s |", rows[a * nl].ansatz);
    for (int k = 0; k < nl; k++) {
      const row *r = &rows[a * nl + k];
      printf(" %d | %.4f | %.4f |", r->params, r->r.expressibility, r->r.entangling);
    }
    printf("\n");
  }
  printf("\nn = %d qubits, S = %d pairs of parameter draws uniform in [0, 2 pi), %d bins, seed %llu%s.\n"
         "expressibility = KL(P_pqc || P_haar) in nats (lower = more expressive; the haar row is the\n"
         "estimator's floor at this S); entangling = mean Meyer-Wallach Q (Haar value (2^n-2)/(2^n+1) = %.4f).\n",
         cf->qubits, cf->samples, cf->bins, cf->seed, cf->init == QDM_INIT_RY_PI4 ? ", initial RY(pi/4) layer" : "",
         qdm_haar_mw(cf->qubits));
}

/* ---- --params / --state ---- */

static int eval_state(const config *cf, const char *name, int layers, const char *spec) {
  if (!strcmp(name, "haar")) cli_die(CMD, 2, "--params: 'haar' is not a circuit");
  int np, nv;
  qdm_circuit *c = build(cf, name, layers, &np);
  double *th = cli_numbers(CMD, spec, &nv);
  if (nv != np) cli_die(CMD, 2, "--params: %s with %d qubits and %d layers takes %d parameters, got %d", name, cf->qubits, layers, np, nv);
  size_t dim = (size_t)1 << cf->qubits;
  qdm_cplx *psi = malloc(dim * sizeof *psi);
  if (!psi) cli_die(CMD, 1, "out of memory");
  qdm_zero_state(psi, cf->qubits, 1);
  if (qdm_run(c, th, NULL, 0, psi, 1)) cli_die(CMD, 1, "%s", qdm_errmsg());
  qdm_json j;
  qdm_json_init(&j, stdout, 0);
  qdm_json_obj(&j);
  qdm_json_kv_str(&j, "ansatz", name);
  qdm_json_kv_int(&j, "qubits", cf->qubits);
  qdm_json_kv_int(&j, "layers", layers);
  qdm_json_kv_str(&j, "init", qdm_enum_str(qdm_ansatz_init_names, cf->init));
  qdm_json_kv_str(&j, "basis", "index i = sum_q b_q 2^q, qubit 0 least significant");
  qdm_json_kv_nums(&j, "params", th, nv);
  qdm_json_key(&j, "state");
  qdm_json_arr(&j);
  for (size_t i = 0; i < dim; i++) {
    qdm_json_arr(&j);
    qdm_json_num(&j, creal(psi[i]));
    qdm_json_num(&j, cimag(psi[i]));
    qdm_json_arr_end(&j);
  }
  qdm_json_arr_end(&j);
  qdm_json_kv_num(&j, "meyer_wallach", qdm_meyer_wallach(psi, cf->qubits));
  qdm_json_obj_end(&j);
  qdm_json_end(&j);
  free(psi);
  free(th);
  qdm_circuit_free(c);
  return 0;
}

/* --qasm FILE: the circuit as OpenQASM 3, bound to --params when given. */
static int export_qasm(const config *cf, const char *name, int layers, const char *spec, const char *path) {
  if (!strcmp(name, "haar")) cli_die(CMD, 2, "--qasm: 'haar' is not a circuit");
  int np, nv = 0;
  qdm_circuit *c = build(cf, name, layers, &np);
  double *th = spec ? cli_numbers(CMD, spec, &nv) : NULL;
  if (spec && nv != np) {
    qdm_circuit_free(c);
    free(th);
    cli_die(CMD, 2, "--params: %s with %d qubits and %d layers takes %d parameters, got %d", name, cf->qubits, layers, np, nv);
  }
  char about[256];
  snprintf(about, sizeof about, "ansatz %s, %d layer(s), init %s%s", name, layers,
           qdm_enum_str(qdm_ansatz_init_names, cf->init), cf->ring ? ", ring" : "");
  int e = qdm_qasm_write(path, c, th, about), ng = c->ngates;
  qdm_circuit_free(c);
  free(th);
  if (e) cli_die(CMD, 1, "--qasm: %s", qdm_errmsg());
  printf("wrote %s: %d qubits, %d gates, %d parameters%s\n", path, cf->qubits, ng, np, spec ? " (bound)" : "");
  return 0;
}

/* `qdm circuit --metric ...` and `qdm circuit --gradient-variance ...` are
 * `qdm qngd metric ...` and `qdm qngd gradvar ...` (report section 8): the
 * same options, one implementation. */
static int forward_to_qngd(int argc, char **argv) {
  static const char *flag[2] = {"--metric", "--gradient-variance"}, *action[2] = {"metric", "gradvar"};
  for (int k = 0; k < 2; k++)
    for (int i = 1; i < argc; i++)
      if (!strcmp(argv[i], flag[k])) {
        char *av[258];
        int n = 0;
        av[n++] = "qngd";
        av[n++] = (char *)action[k];
        for (int j = 1; j < argc && n < 257; j++)
          if (j != i && strcmp(argv[j], "--state")) av[n++] = argv[j];
        av[n] = NULL;
        return cmd_qngd(n, av);
      }
  return -1;
}

static void parse(cli_args *a, config *cf) {
  cf->ansatz = cli_str(a, "--ansatz", "hea");
  cf->qubits = (int)cli_int(a, "--qubits", 4, 1, 20);
  int layers = (int)cli_int(a, "--layers", 1, 0, 1000);
  const char *sweep = cli_str(a, "--sweep-layers", NULL);
  cf->init = cli_enum(a, "--init", qdm_ansatz_init_names, QDM_INIT_NONE);
  cf->ring = cli_flag(a, "--ring");
  cf->samples = (int)cli_int(a, "--samples", 5000, 1, 10000000);
  cf->bins = (int)cli_int(a, "--bins", 75, 1, 100000);
  cf->seed = (unsigned long long)cli_int(a, "--seed", 1, 0, 0x7fffffffffffffffL);
  int threads = (int)cli_int(a, "--threads", 0, 0, 1024);
  cf->json = cli_flag(a, "--json");
  cf->md = cli_flag(a, "--markdown");
  cf->bloch = cli_str(a, "--bloch", NULL);
  cf->bloch_q = (int)cli_int(a, "--bloch-qubit", 0, 0, 19);
  cf->hist = cli_str(a, "--hist", NULL);
  cf->params = cli_str(a, "--params", NULL);
  cf->state = cli_flag(a, "--state");
  cf->qasm = cli_str(a, "--qasm", NULL);
  cli_done(a);
  if (cf->bloch_q >= cf->qubits)
    cli_die(CMD, 2, "--bloch-qubit %d is not a qubit of a %d-qubit register", cf->bloch_q, cf->qubits);
  if (cf->json && cf->md) cli_die(CMD, 2, "--json and --markdown exclude each other");
  if (cf->state && !cf->params) cli_die(CMD, 2, "--state needs --params (the parameter vector to evaluate)");
  if (cf->bloch && (size_t)cf->samples * 6 > ((size_t)1 << 31))
    cli_die(CMD, 2, "--bloch with %d samples: at most %d", cf->samples, (1 << 28));
  if (threads > 0) qdm_set_threads(threads);
  cf->nl = sweep ? parse_layers(sweep, cf->L) : (cf->L[0] = layers, 1);
}

/* A row per (ansatz, layer count); every circuit is built before any time is spent. */
static row *run_rows(config *cf, const char **names, int nn) {
  const int *L = cf->L, nl = cf->nl;
  if ((size_t)nn * nl > MAX_ROWS) cli_die(CMD, 2, "%d ansatzes x %d layer counts: at most %d rows", nn, nl, MAX_ROWS);
  for (int i = 0; i < nn; i++)
    for (int k = 0; k < nl && strcmp(names[i], "haar"); k++) {
      int np;
      qdm_circuit_free(build(cf, names[i], L[k], &np));
    }
  cf->nrows_total = nn * nl;
  row *rows = calloc((size_t)nn * nl, sizeof *rows);
  if (!rows) cli_die(CMD, 1, "out of memory");
  for (int i = 0; i < nn; i++)
    for (int k = 0; k < nl; k++) {
      row *r = &rows[i * nl + k];
      r->ansatz = names[i];
      r->layers = strcmp(names[i], "haar") ? L[k] : 0;
      if (!strcmp(names[i], "haar") && k > 0) { /* independent of the layer count */
        *r = rows[i * nl];
        continue;
      }
      run_row(cf, r);
    }
  return rows;
}

static void list_ansatzes(void) {
  printf("%-10s %s\n", "haar", "exact Haar-random states (the reference row; no circuit)");
  for (int i = 0; qdm_ansatz_name(i); i++) printf("%-10s %s\n", qdm_ansatz_name(i), qdm_ansatz_about(qdm_ansatz_name(i)));
}

/* --qasm or --params: one circuit, written out or evaluated */
static int one_circuit(const config *cf, const char *name, int nrows) {
  if (cf->qasm) {
    if (nrows != 1) cli_die(CMD, 2, "--qasm writes one circuit: give one --ansatz and one --layers");
    if (cf->state) cli_die(CMD, 2, "--qasm and --state exclude each other");
    return export_qasm(cf, name, cf->L[0], cf->params, cf->qasm);
  }
  if (nrows != 1) cli_die(CMD, 2, "--params evaluates one circuit: give one --ansatz and one --layers");
  return eval_state(cf, name, cf->L[0], cf->params);
}

int cmd_circuit(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help();
      return 0;
    }
  int fw = forward_to_qngd(argc, argv);
  if (fw >= 0) return fw;
  cli_args a;
  cli_init(&a, CMD, argc, argv);
  if (cli_flag(&a, "--list")) {
    cli_done(&a);
    list_ansatzes();
    return 0;
  }
  config cf = {0};
  parse(&a, &cf);
  char nbuf[4096];
  const char *names[MAX_ROWS];
  int nn = cli_ansatz_names(CMD, cf.ansatz, nbuf, sizeof nbuf, names, MAX_ROWS, 1), nrows = nn * cf.nl;
  if (cf.qasm || cf.params) return one_circuit(&cf, names[0], nrows);
  row *rows = run_rows(&cf, names, nn);
  if (cf.json) {
    qdm_json j;
    qdm_json_init(&j, stdout, 1);
    if (nrows > 1) qdm_json_arr(&j);
    for (int i = 0; i < nrows; i++) json_row(&j, &cf, &rows[i]);
    if (nrows > 1) qdm_json_arr_end(&j);
    qdm_json_end(&j);
  } else if (cf.md) {
    print_markdown(&cf, rows, nn);
  } else {
    print_table(&cf, rows, nrows);
  }
  free(rows);
  return 0;
}
