/* cmd_qngd.c -- `qdm qngd`: quantum natural gradient (report section 8).
 *   metric   the Fubini-Study metric of an ansatz at given parameters;
 *   gradvar  gradient variance against qubit count (barren plateaus);
 *   learn    learn a target state with Adam, QNGD, and QNGD then Adam,
 *            loss against step and against wall time. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "qdm/circuits.h"
#include "qdm/io.h"
#include "qdm/qngd.h"

#define CMD "qdm qngd"
enum { MAX_LIST = 32 };

static void help(void) {
  printf("usage: qdm qngd metric|gradvar|learn [options]\n\n"
         "Quantum natural gradient (report section 8, eq. 26): theta <- theta - eta (g + lambda I)^-1 grad L,\n"
         "g the Fubini-Study metric g_ij = Re(<d_i psi|d_j psi> - <d_i psi|psi><psi|d_j psi>), exact from\n"
         "the state vector (all derivative states in one sweep).\n\n"
         "qdm qngd metric   the metric of one circuit applied to |0...0>\n"
         "  --ansatz NAME        ansatz (qdm circuit --list) [hea]\n"
         "  --qubits N           [4]        --layers L   [1]\n"
         "  --init NAME          none or ry-pi4 [none]   --ring   close the ring (hea, hva, conv, paper)\n"
         "  --params LIST|FILE   parameter values (comma/space separated, or a file); default: uniform\n"
         "                       in [0, 2 pi) from --seed K [1]\n"
         "  --kind K             full, block (one block per layer) or diag [full]\n"
         "  --json               print {\"params\": [...], \"metric\": [[...], ...], ...}\n"
         "  --threads N          threads for qdm and OpenBLAS [0 = every core]\n\n"
         "qdm qngd gradvar   Var[dC/dtheta_k] over parameters uniform in [0, 2 pi) against n (McClean\n"
         "                   et al. 2018); reported: the mean over k, and k = 0\n"
         "  --ansatz LIST        [hea,paper,authors]\n"
         "  --min-qubits N       [2]        --max-qubits N   [12]\n"
         "  --layers L|n         layers; 'n' = as many layers as qubits [n]\n"
         "  --cost C             zz = <Z0 Z1>, global = |<0..0|psi>|^2, local = (1/n) sum_j <|0><0|_j> [zz]\n"
         "  --samples S          [200]      --seed K   [1]      --threads T   [0 = OpenMP default]\n"
         "  --json               one JSON object      --plot FILE.png   log-scale plot against n\n\n"
         "qdm qngd learn     learn a target state |t> = U(theta*)|0> (theta* uniform, same ansatz) from\n"
         "                   theta0 uniform in [0, 2 pi), loss 1 - |<t|psi(theta)>|^2\n"
         "  --ansatz LIST        [hea,paper,authors]     --qubits LIST   [4,8]    --layers L   [4]\n"
         "  --steps N            [200]      --trials K  independent (target, start) pairs; curves are\n"
         "                       medians over trials [3]     --seed K   [1]\n"
         "  --lr-adam LIST       Adam rates; with several, each is run and the best final loss kept [0.05]\n"
         "  --lr-qngd LIST       QNGD rates, the same [0.1]\n"
         "  --lambda X           regulariser of g + lambda I [0.001]\n"
         "  --kind K             metric for QNGD: full, block or diag [full]\n"
         "  --refresh K          recompute the metric every K steps [1]\n"
         "  --switch S           qngd+adam: QNGD for the first S steps, then Adam [20]\n"
         "  --tol X              report steps and seconds to reach loss < X [0.001]\n"
         "  --json               curves and summary as JSON    --plot FILE.png   loss vs step and vs time\n\n"
         "examples (docs/qngd.md):\n"
         "  qdm qngd metric --ansatz hea --qubits 1 --params 1,0.5 --json\n"
         "  qdm qngd gradvar --ansatz hea,paper,authors --max-qubits 12 --plot docs/gradvar.png\n"
         "  qdm qngd learn --ansatz hea,paper,authors --qubits 4,8 --plot docs/qngd_learn.png\n");
}

static qdm_ansatz_opts parse_opts(cli_args *a) {
  qdm_ansatz_opts o = {0, 0};
  o.init = cli_enum(a, "--init", qdm_ansatz_init_names, QDM_INIT_NONE);
  o.ring = cli_flag(a, "--ring");
  return o;
}

static int parse_kind(cli_args *a) {
  return cli_enum(a, "--kind", qdm_metric_names, QDM_METRIC_FULL);
}

/* ================= metric ================= */

typedef struct {
  const char *name;
  int n, L, P, kind;
  double *th, *g, secs;
} metric_run;

static void metric_print(const metric_run *m, int json) {
  int P = m->P;
  if (!json) {
    printf("# Fubini-Study metric (%s), %s, %d qubits, %d layers, %d parameters, %.3g s\n",
           qdm_enum_str(qdm_metric_names, m->kind), m->name, m->n, m->L, P, m->secs);
    for (int i = 0; i < P; i++) {
      for (int k = 0; k < P; k++) printf("%s%10.6f", k ? " " : "", m->g[(size_t)i * P + k]);
      printf("\n");
    }
    return;
  }
  qdm_json j;
  qdm_json_init(&j, stdout, 0);
  qdm_json_obj(&j);
  qdm_json_kv_str(&j, "ansatz", m->name);
  qdm_json_kv_int(&j, "qubits", m->n);
  qdm_json_kv_int(&j, "layers", m->L);
  qdm_json_kv_str(&j, "kind", qdm_enum_str(qdm_metric_names, m->kind));
  qdm_json_kv_nums(&j, "params", m->th, P);
  qdm_json_key(&j, "metric");
  qdm_json_arr(&j);
  for (int i = 0; i < P; i++) {
    qdm_json_arr(&j);
    for (int k = 0; k < P; k++) qdm_json_num(&j, m->g[(size_t)i * P + k]);
    qdm_json_arr_end(&j);
  }
  qdm_json_arr_end(&j);
  qdm_json_kv_num(&j, "seconds", m->secs);
  qdm_json_obj_end(&j);
  qdm_json_end(&j);
}

/* --params, or P values uniform in [0, 2 pi) from --seed */
static double *metric_params(const metric_run *m, const char *spec, long seed) {
  int nv;
  if (spec) {
    double *th = cli_numbers(CMD, spec, &nv);
    if (nv != m->P) {
      free(th); /* before exiting, so leak checkers see no lost block */
      cli_die(CMD, 2, "--params: %s with %d qubits and %d layers takes %d parameters, got %d", m->name, m->n, m->L,
              m->P, nv);
    }
    return th;
  }
  qdm_rng r;
  qdm_rng_seed(&r, (uint64_t)seed);
  double *th = malloc(m->P * sizeof *th);
  if (!th) cli_die(CMD, 1, "out of memory");
  for (int i = 0; i < m->P; i++) th[i] = 2 * M_PI * qdm_rng_uniform(&r);
  return th;
}

static int act_metric(int argc, char **argv) {
  cli_args a;
  cli_init(&a, CMD " metric", argc, argv);
  metric_run m = {0};
  m.name = cli_str(&a, "--ansatz", "hea");
  m.n = (int)cli_int(&a, "--qubits", 4, 1, 14);
  m.L = (int)cli_int(&a, "--layers", 1, 1, 1000);
  qdm_ansatz_opts o = parse_opts(&a);
  const char *spec = cli_str(&a, "--params", NULL);
  long seed = cli_int(&a, "--seed", 1, 0, 1L << 62);
  m.kind = parse_kind(&a);
  int json = cli_flag(&a, "--json");
  cli_threads(&a, 0);
  cli_done(&a);
  const char *names[1];
  char nbuf[1024];
  cli_ansatz_names(CMD, m.name, nbuf, sizeof nbuf, names, 1, 0);
  m.name = names[0];
  qdm_circuit *c = cli_ansatz_circuit(CMD, m.name, m.n, m.L, &o, 1, &m.P);
  m.th = metric_params(&m, spec, seed);
  int *bounds = malloc((m.L + 1) * sizeof *bounds);
  m.g = malloc((size_t)m.P * m.P * sizeof *m.g);
  if (!bounds || !m.g) cli_die(CMD, 1, "out of memory");
  if (m.kind == QDM_METRIC_BLOCK && qdm_metric_layer_bounds(m.P, m.L, bounds))
    cli_die(CMD, 2, "--kind block: %s", qdm_errmsg());
  double t0 = qdm_now();
  if (qdm_fs_metric(c, m.th, NULL, 0, NULL, 1, m.kind, m.L, bounds, m.g)) cli_die(CMD, 1, "%s", qdm_errmsg());
  m.secs = qdm_now() - t0;
  metric_print(&m, json);
  free(m.g);
  free(bounds);
  free(m.th);
  qdm_circuit_free(c);
  return 0;
}

/* ================= gradvar ================= */

typedef struct {
  char nbuf[1024];
  const char *names[MAX_LIST];
  int na, n0, n1, nn, Lfix, cost, S;
  long seed;
  qdm_ansatz_opts o;
  qdm_gradvar_result *res; /* na x nn */
} gradvar_run;

static void gradvar_parse(gradvar_run *g, int argc, char **argv, int *json, const char **plot) {
  cli_args a;
  cli_init(&a, CMD " gradvar", argc, argv);
  g->na = cli_ansatz_names(CMD, cli_str(&a, "--ansatz", "hea,paper,authors"), g->nbuf, sizeof g->nbuf, g->names,
                           MAX_LIST, 0);
  g->n0 = (int)cli_int(&a, "--min-qubits", 2, 1, 20);
  g->n1 = (int)cli_int(&a, "--max-qubits", 12, 1, 20);
  const char *ls = cli_str(&a, "--layers", "n");
  g->cost = cli_enum(&a, "--cost", qdm_cost_names, QDM_COST_ZZ);
  g->S = (int)cli_int(&a, "--samples", 200, 2, 10000000);
  g->seed = cli_int(&a, "--seed", 1, 0, 1L << 62);
  cli_threads(&a, 0);
  g->o = parse_opts(&a);
  *json = cli_flag(&a, "--json");
  *plot = cli_str(&a, "--plot", NULL);
  cli_done(&a);
  if (g->n1 < g->n0) cli_die(CMD, 2, "--max-qubits %d < --min-qubits %d", g->n1, g->n0);
  if (g->cost == QDM_COST_ZZ && g->n0 < 2) cli_die(CMD, 2, "--min-qubits: the zz cost needs at least 2 qubits");
  double v;
  if (strcmp(ls, "n")) {
    cli_num_list(CMD, "--layers (an integer or 'n')", ls, 1, 1000, 0, &v, 1);
    if (v != floor(v)) cli_die(CMD, 2, "--layers expects an integer or 'n', got '%s'", ls);
    g->Lfix = (int)v;
  }
  g->nn = g->n1 - g->n0 + 1;
}

static void gradvar_json(const gradvar_run *g) {
  qdm_json j;
  qdm_json_init(&j, stdout, 1);
  qdm_json_obj(&j);
  qdm_json_kv_str(&j, "cost", qdm_enum_str(qdm_cost_names, g->cost));
  qdm_json_kv_int(&j, "samples", g->S);
  if (g->Lfix) qdm_json_kv_int(&j, "layers", g->Lfix);
  else qdm_json_kv_str(&j, "layers", "n");
  qdm_json_kv_int(&j, "seed", g->seed);
  qdm_json_key(&j, "results");
  qdm_json_arr(&j);
  double *col = malloc(g->nn * sizeof *col);
  if (!col) cli_die(CMD, 1, "out of memory");
  for (int k = 0; k < g->na; k++) {
    const qdm_gradvar_result *r = &g->res[k * g->nn];
    qdm_json_obj(&j);
    qdm_json_kv_str(&j, "ansatz", g->names[k]);
#define COL(key, expr)                                  \
  do {                                                  \
    for (int i = 0; i < g->nn; i++) col[i] = (expr);    \
    qdm_json_kv_nums(&j, key, col, g->nn);              \
  } while (0)
    COL("qubits", r[i].n);
    COL("layers", r[i].layers);
    COL("params", r[i].nparams);
    COL("var_mean", r[i].var_mean);
    COL("var_first", r[i].var_first);
    COL("var_max", r[i].var_max);
    COL("seconds", r[i].seconds);
#undef COL
    qdm_json_obj_end(&j);
  }
  free(col);
  qdm_json_arr_end(&j);
  qdm_json_obj_end(&j);
  qdm_json_end(&j);
}

/* mean variance against n for each ansatz, and the 2^-n of a 2-design */
static void gradvar_plot(const gradvar_run *g, const char *plot) {
  int na = g->na, nn = g->nn;
  qdm_series s[MAX_LIST + 1];
  double *x = malloc(nn * sizeof *x), *y = malloc((size_t)(na + 1) * nn * sizeof *y);
  if (!x || !y) cli_die(CMD, 1, "out of memory");
  for (int i = 0; i < nn; i++) {
    x[i] = g->n0 + i;
    y[na * nn + i] = pow(2, -(g->n0 + i));
  }
  for (int k = 0; k < na; k++) {
    for (int i = 0; i < nn; i++) y[k * nn + i] = g->res[k * nn + i].var_mean;
    s[k] = (qdm_series){g->names[k], x, y + k * nn, nn};
  }
  s[na] = (qdm_series){"2^-n", x, y + na * nn, nn};
  char title[160], lay[16] = "n";
  if (g->Lfix) snprintf(lay, sizeof lay, "%d", g->Lfix);
  snprintf(title, sizeof title, "qdm qngd gradvar: Var[dC/dtheta], cost %s, %s layers, %d samples",
           qdm_enum_str(qdm_cost_names, g->cost), lay, g->S);
  if (qdm_plot_lines(plot, title, "qubits n", "mean_k Var[dC/dtheta_k]", s, na + 1, 1))
    cli_die(CMD, 1, "%s", qdm_errmsg());
  free(x);
  free(y);
}

static int act_gradvar(int argc, char **argv) {
  gradvar_run g = {0};
  int json;
  const char *plot;
  gradvar_parse(&g, argc, argv, &json, &plot);
  g.res = calloc((size_t)g.na * g.nn, sizeof *g.res);
  if (!g.res) cli_die(CMD, 1, "out of memory");
  if (!json)
    printf("%-8s %6s %6s %6s %14s %14s %8s\n", "ansatz", "qubits", "layers", "params", "var(mean k)", "var(k=0)",
           "seconds");
  for (int k = 0; k < g.na; k++)
    for (int n = g.n0; n <= g.n1; n++) {
      qdm_gradvar_result *r = &g.res[k * g.nn + n - g.n0];
      int L = g.Lfix ? g.Lfix : n;
      if (qdm_gradvar_ansatz(g.names[k], n, L, &g.o, g.cost, g.S, (uint64_t)g.seed, r))
        cli_die(CMD, 1, "%s on %d qubits: %s", g.names[k], n, qdm_errmsg());
      if (json) continue;
      printf("%-8s %6d %6d %6d %14.6e %14.6e %8.2f\n", g.names[k], n, L, r->nparams, r->var_mean, r->var_first,
             r->seconds);
      fflush(stdout);
    }
  if (json) gradvar_json(&g);
  if (plot) gradvar_plot(&g, plot);
  free(g.res);
  return 0;
}

/* ================= learn ================= */

enum { NOPT = QDM_LEARN_NOPT, OPT_MIX = QDM_LEARN_MIX };
#define OPT_NAME(o) qdm_enum_str(qdm_learn_opt_names, o)

typedef struct {
  const char *ansatz;
  qdm_learn_result r;
} learn_row;

typedef struct {
  const char *ansatz;
  int n;
} progress_ctx;

static void progress(void *ctx, int opt, double lr, double score) {
  const progress_ctx *p = ctx;
  fprintf(stderr, "\r%s n=%d %s lr %g: score %.3f   ", p->ansatz, p->n, OPT_NAME(opt), lr, score);
}

static int steps_to(const double *loss, int N, double tol) {
  for (int s = 0; s < N; s++)
    if (loss[s] < tol) return s;
  return -1;
}

/* the loss at steps 0, 1, 2, 5, 10, 20, 50, ... and the last one */
static void print_curve(const qdm_learn_opts *o, const qdm_learn_result *r) {
  int N = o->steps + 1;
  printf("%6s", "step");
  for (int k = 0; k < NOPT; k++) printf(" %12s %9s", OPT_NAME(k), "seconds");
  printf("\n");
  static const int marks[] = {0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};
  for (size_t m = 0; m <= sizeof marks / sizeof *marks; m++) {
    int s = m < sizeof marks / sizeof *marks ? marks[m] : N - 1;
    if (s >= N - 1 && m < sizeof marks / sizeof *marks) continue;
    printf("%6d", s);
    for (int k = 0; k < NOPT; k++) printf(" %12.4e %9.4f", r->loss[k][s], r->secs[k][s]);
    printf("\n");
  }
}

static void print_result(const qdm_learn_opts *o, const learn_row *row, double tol) {
  const qdm_learn_result *r = &row->r;
  int N = o->steps + 1;
  printf("\n%s, %d qubits, %d layers, %d parameters (median of %d trials; seconds = mean wall time)\n", row->ansatz,
         r->n, o->layers, r->P, o->trials);
  print_curve(o, r);
  printf("%-10s %8s %12s %14s %14s %10s\n", "optimizer", "lr", "final loss", "steps to tol", "seconds to tol",
         "ms/step");
  for (int k = 0; k < NOPT; k++) {
    int st = steps_to(r->loss[k], N, tol);
    char lr[32];
    if (k == OPT_MIX) snprintf(lr, sizeof lr, "%g/%g", r->lr[QDM_LEARN_QNGD], r->lr[QDM_LEARN_ADAM]);
    else snprintf(lr, sizeof lr, "%g", r->lr[k]);
    printf("%-10s %8s %12.4e", OPT_NAME(k), lr, r->loss[k][N - 1]);
    if (st >= 0) printf(" %14d %14.4f", st, r->secs[k][st]);
    else printf(" %14s %14s", "-", "-");
    printf(" %10.3f\n", 1e3 * r->secs[k][N - 1] / o->steps);
  }
  fflush(stdout);
}

static void json_optimizers(qdm_json *j, const qdm_learn_opts *o, const qdm_learn_result *r, double tol) {
  int N = o->steps + 1;
  qdm_json_key(j, "optimizers");
  qdm_json_arr(j);
  for (int k = 0; k < NOPT; k++) {
    int st = steps_to(r->loss[k], N, tol);
    qdm_json_obj(j);
    qdm_json_kv_str(j, "name", OPT_NAME(k));
    qdm_json_kv_num(j, "lr", r->lr[k]);
    if (k == OPT_MIX) qdm_json_kv_num(j, "lr_adam", r->lr[QDM_LEARN_ADAM]);
    qdm_json_kv_num(j, "final_loss", r->loss[k][N - 1]);
    qdm_json_kv_int(j, "steps_to_tol", st);
    qdm_json_kv_num(j, "seconds_to_tol", st >= 0 ? r->secs[k][st] : NAN);
    qdm_json_kv_num(j, "ms_per_step", 1e3 * r->secs[k][N - 1] / o->steps);
    qdm_json_kv_nums(j, "loss", r->loss[k], N);
    qdm_json_kv_nums(j, "seconds", r->secs[k], N);
    qdm_json_obj_end(j);
  }
  qdm_json_arr_end(j);
}

static void json_results(const qdm_learn_opts *o, const learn_row *rows, int nr, double tol) {
  qdm_json j;
  qdm_json_init(&j, stdout, 1);
  qdm_json_obj(&j);
  qdm_json_kv_str(&j, "loss", "1 - |<target|psi>|^2, median over trials");
  qdm_json_kv_int(&j, "steps", o->steps);
  qdm_json_kv_int(&j, "trials", o->trials);
  qdm_json_kv_int(&j, "layers", o->layers);
  qdm_json_kv_str(&j, "metric", qdm_enum_str(qdm_metric_names, o->kind));
  qdm_json_kv_num(&j, "lambda", o->lambda);
  qdm_json_kv_int(&j, "refresh", o->refresh);
  qdm_json_kv_int(&j, "switch", o->sw);
  qdm_json_kv_num(&j, "tol", tol);
  qdm_json_kv_int(&j, "seed", (long long)o->seed);
  qdm_json_key(&j, "results");
  qdm_json_arr(&j);
  for (int i = 0; i < nr; i++) {
    qdm_json_obj(&j);
    qdm_json_kv_str(&j, "ansatz", rows[i].ansatz);
    qdm_json_kv_int(&j, "qubits", rows[i].r.n);
    qdm_json_kv_int(&j, "params", rows[i].r.P);
    json_optimizers(&j, o, &rows[i].r, tol);
    qdm_json_obj_end(&j);
  }
  qdm_json_arr_end(&j);
  qdm_json_obj_end(&j);
  qdm_json_end(&j);
}

/* The series of one panel: the three optimizers' loss against step or
 * wall time. At convergence the loss is rounding noise around 0: drawn at
 * 1e-16 instead of leaving gaps on the log axis. */
typedef struct {
  qdm_series s[NOPT];
  char lab[NOPT][48], title[160];
} panel_data;

static void panel_fill(panel_data *pd, qdm_panel *p, const qdm_learn_opts *o, const learn_row *row, int vs_time,
                       const double *step, double *clamped) {
  const qdm_learn_result *r = &row->r;
  int N = o->steps + 1;
  for (int k = 0; k < NOPT; k++) {
    if (k == OPT_MIX) snprintf(pd->lab[k], sizeof pd->lab[k], "qngd %d steps + adam", o->sw);
    else snprintf(pd->lab[k], sizeof pd->lab[k], "%s lr %g", OPT_NAME(k), r->lr[k]);
    for (int i = 0; i < N; i++) clamped[k * N + i] = fmax(r->loss[k][i], 1e-16);
    pd->s[k] = (qdm_series){pd->lab[k], vs_time ? r->secs[k] : step, clamped + k * N, N};
  }
  snprintf(pd->title, sizeof pd->title, "%s, n = %d, %d params: loss vs %s", row->ansatz, r->n, r->P,
           vs_time ? "wall time" : "step");
  *p = (qdm_panel){pd->title, vs_time ? "seconds" : "step", "1 - fidelity (median)", pd->s, NOPT, 1};
}

/* One column per ansatz; rows: for each n, loss vs step then loss vs seconds. */
static void plot_learn(const char *path, const qdm_learn_opts *o, const learn_row *rows, int nq, int na) {
  int np = 2 * nq * na, N = o->steps + 1;
  qdm_panel *p = malloc(np * sizeof *p);
  panel_data *pd = malloc(np * sizeof *pd);
  double *step = malloc(N * sizeof *step), *clamped = malloc((size_t)np * NOPT * N * sizeof *clamped);
  if (!p || !pd || !step || !clamped) cli_die(CMD, 1, "out of memory");
  for (int s = 0; s < N; s++) step[s] = s;
  for (int qi = 0; qi < nq; qi++)
    for (int k = 0; k < na; k++)
      for (int vs_time = 0; vs_time < 2; vs_time++) {
        int idx = (2 * qi + vs_time) * na + k;
        panel_fill(&pd[idx], &p[idx], o, &rows[k * nq + qi], vs_time, step, clamped + (size_t)idx * NOPT * N);
      }
  char title[256];
  snprintf(title, sizeof title, "qdm qngd learn: a target state, %d layer%s, %d steps, median of %d trial%s", o->layers,
           o->layers == 1 ? "" : "s", o->steps, o->trials, o->trials == 1 ? "" : "s");
  if (qdm_plot_panels(path, title, p, np, na)) cli_die(CMD, 1, "--plot: %s", qdm_errmsg());
  free(p);
  free(pd);
  free(step);
  free(clamped);
}

typedef struct {
  char nbuf[1024];
  const char *names[MAX_LIST];
  int na, nq, qubits[MAX_LIST], json;
  double lr_adam[MAX_LIST], lr_qngd[MAX_LIST], tol;
  const char *plot;
} learn_cli;

static void learn_parse(learn_cli *lc, qdm_learn_opts *o, int argc, char **argv) {
  cli_args a;
  cli_init(&a, CMD " learn", argc, argv);
  qdm_learn_opts_default(o);
  lc->na = cli_ansatz_names(CMD, cli_str(&a, "--ansatz", "hea,paper,authors"), lc->nbuf, sizeof lc->nbuf, lc->names,
                            MAX_LIST, 0);
  double qv[MAX_LIST];
  lc->nq = cli_num_list(CMD, "--qubits", cli_str(&a, "--qubits", "4,8"), 1, 14, 1, qv, MAX_LIST);
  for (int i = 0; i < lc->nq; i++) lc->qubits[i] = (int)qv[i];
  o->layers = (int)cli_int(&a, "--layers", 4, 1, 1000);
  o->steps = (int)cli_int(&a, "--steps", 200, 1, 1000000);
  o->trials = (int)cli_int(&a, "--trials", 3, 1, 1000);
  o->seed = (uint64_t)cli_int(&a, "--seed", 1, 0, 1L << 62);
  o->nlr_adam = cli_num_list(CMD, "--lr-adam", cli_str(&a, "--lr-adam", "0.05"), 0, 1e3, 0, lc->lr_adam, MAX_LIST);
  o->nlr_qngd = cli_num_list(CMD, "--lr-qngd", cli_str(&a, "--lr-qngd", "0.1"), 0, 1e3, 0, lc->lr_qngd, MAX_LIST);
  o->lr_adam = lc->lr_adam;
  o->lr_qngd = lc->lr_qngd;
  o->lambda = cli_double(&a, "--lambda", 1e-3, 0, 1e6);
  o->kind = parse_kind(&a);
  o->refresh = (int)cli_int(&a, "--refresh", 1, 1, 1000000);
  o->sw = (int)cli_int(&a, "--switch", 20, 0, 1000000);
  lc->tol = cli_double(&a, "--tol", 1e-3, 0, 1);
  o->ansatz = parse_opts(&a);
  cli_threads(&a, 0);
  lc->json = cli_flag(&a, "--json");
  lc->plot = cli_str(&a, "--plot", NULL);
  cli_done(&a);
}

static int act_learn(int argc, char **argv) {
  learn_cli lc;
  qdm_learn_opts o;
  learn_parse(&lc, &o, argc, argv);
  learn_row *rows = calloc((size_t)lc.na * lc.nq, sizeof *rows);
  if (!rows) cli_die(CMD, 1, "out of memory");
  if (!lc.json)
    printf("state learning: loss 1 - |<t|psi(theta)>|^2, t = U(theta*)|0>; %d steps, %d trials, metric %s, "
           "lambda %g, refresh %d, qngd+adam switches after %d steps\n",
           o.steps, o.trials, qdm_enum_str(qdm_metric_names, o.kind), o.lambda, o.refresh, o.sw);
  for (int k = 0; k < lc.na; k++)
    for (int qi = 0; qi < lc.nq; qi++) {
      learn_row *row = &rows[k * lc.nq + qi];
      progress_ctx pc = {lc.names[k], lc.qubits[qi]};
      o.progress = cli_tty() ? progress : NULL;
      o.progress_ctx = &pc;
      row->ansatz = lc.names[k];
      int e = qdm_learn_state(row->ansatz, pc.n, &o, &row->r);
      if (e) cli_die(CMD, e == QDM_EINVAL ? 2 : 1, "%s on %d qubits: %s", row->ansatz, pc.n, qdm_errmsg());
      if (o.progress) fprintf(stderr, "\r%60s\r", "");
      if (!lc.json) print_result(&o, row, lc.tol);
    }
  if (lc.json) json_results(&o, rows, lc.na * lc.nq, lc.tol);
  if (lc.plot) plot_learn(lc.plot, &o, rows, lc.nq, lc.na);
  for (int i = 0; i < lc.na * lc.nq; i++) qdm_learn_result_free(&rows[i].r);
  free(rows);
  return 0;
}

int cmd_qngd(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help();
      return 0;
    }
  if (argc < 2) {
    help();
    return 2;
  }
  if (!strcmp(argv[1], "metric")) return act_metric(argc - 1, argv + 1);
  if (!strcmp(argv[1], "gradvar")) return act_gradvar(argc - 1, argv + 1);
  if (!strcmp(argv[1], "learn")) return act_learn(argc - 1, argv + 1);
  cli_die(CMD, 2, "unknown action '%s' (expected metric, gradvar or learn; see qdm qngd --help)", argv[1]);
}
