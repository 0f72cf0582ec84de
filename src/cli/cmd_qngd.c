/* cmd_qngd.c -- `qdm qngd`: quantum natural gradient (report section 8).
 *   metric   the Fubini-Study metric of an ansatz at given parameters;
 *   gradvar  gradient variance against qubit count (barren plateaus);
 *   learn    learn a target state with Adam, QNGD, and QNGD then Adam,
 *            loss against step and against wall time. */
#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "qdm/circuits.h"
#include "qdm/io.h"
#include "qdm/nn.h"
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
         "  --json               print {\"params\": [...], \"metric\": [[...], ...], ...}\n\n"
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

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* ---- argument helpers ---- */

/* Comma list into tokens (buf is a writable copy). */
static int split(char *buf, char **tok, const char *opt) {
  int n = 0;
  for (char *s = strtok(buf, ","); s; s = strtok(NULL, ",")) {
    if (n >= MAX_LIST) cli_die(CMD, 2, "%s: more than %d values", opt, MAX_LIST);
    tok[n++] = s;
  }
  if (!n) cli_die(CMD, 2, "%s expects a comma-separated list", opt);
  return n;
}

static int parse_names(const char *spec, char *buf, size_t len, const char **names) {
  if (strlen(spec) >= len) cli_die(CMD, 2, "--ansatz: list too long");
  strcpy(buf, spec);
  char *tok[MAX_LIST];
  int n = split(buf, tok, "--ansatz");
  for (int i = 0; i < n; i++) {
    if (!qdm_ansatz_about(tok[i])) cli_die(CMD, 2, "--ansatz: unknown name '%s' (see qdm circuit --list)", tok[i]);
    names[i] = tok[i];
  }
  return n;
}

static double parse_num(const char *s, const char *opt, double lo, double hi) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || end == s || !(v >= lo && v <= hi))
    cli_die(CMD, 2, "%s expects numbers in [%g, %g], got '%s'", opt, lo, hi, s);
  return v;
}

static int parse_nums(const char *spec, const char *opt, double lo, double hi, double *v) {
  char buf[1024], *tok[MAX_LIST];
  if (strlen(spec) >= sizeof buf) cli_die(CMD, 2, "%s: list too long", opt);
  strcpy(buf, spec);
  int n = split(buf, tok, opt);
  for (int i = 0; i < n; i++) v[i] = parse_num(tok[i], opt, lo, hi);
  return n;
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

static qdm_circuit *build(const char *name, int n, int layers, const qdm_ansatz_opts *o, int *P) {
  qdm_circuit *c = qdm_circuit_new(n);
  if (!c) cli_die(CMD, 1, "out of memory");
  *P = qdm_ansatz_build(c, name, layers, 0, o);
  if (*P < 0) cli_die(CMD, 2, "%s", qdm_errmsg());
  if (*P == 0) cli_die(CMD, 2, "--ansatz %s with %d qubits and %d layers has no parameters", name, n, layers);
  return c;
}

static void uniform(double *th, int P, qdm_rng *r) {
  for (int i = 0; i < P; i++) th[i] = 2 * M_PI * qdm_rng_uniform(r);
}

/* ================= metric ================= */

static int act_metric(int argc, char **argv) {
  cli_args a;
  cli_init(&a, CMD " metric", argc, argv);
  const char *name = cli_str(&a, "--ansatz", "hea");
  int n = (int)cli_int(&a, "--qubits", 4, 1, 14);
  int L = (int)cli_int(&a, "--layers", 1, 1, 1000);
  qdm_ansatz_opts o = parse_opts(&a);
  const char *spec = cli_str(&a, "--params", NULL);
  long seed = cli_int(&a, "--seed", 1, 0, 1L << 62);
  int kind = parse_kind(&a), json = cli_flag(&a, "--json");
  cli_done(&a);
  if (!qdm_ansatz_about(name)) cli_die(CMD, 2, "--ansatz: unknown name '%s' (see qdm circuit --list)", name);
  int P, nv;
  qdm_circuit *c = build(name, n, L, &o, &P);
  double *th;
  if (spec) {
    th = cli_numbers(CMD, spec, &nv);
    if (nv != P)
      cli_die(CMD, 2, "--params: %s with %d qubits and %d layers takes %d parameters, got %d", name, n, L, P, nv);
  } else {
    qdm_rng r;
    qdm_rng_seed(&r, (uint64_t)seed);
    th = malloc(P * sizeof *th);
    if (!th) cli_die(CMD, 1, "out of memory");
    uniform(th, P, &r);
  }
  int *bounds = malloc((L + 1) * sizeof *bounds);
  double *g = malloc((size_t)P * P * sizeof *g);
  if (!bounds || !g) cli_die(CMD, 1, "out of memory");
  if (kind == QDM_METRIC_BLOCK && qdm_metric_layer_bounds(P, L, bounds))
    cli_die(CMD, 2, "--kind block: %s", qdm_errmsg());
  double t0 = now_s();
  if (qdm_fs_metric(c, th, NULL, 0, NULL, 1, kind, L, bounds, g)) cli_die(CMD, 1, "%s", qdm_errmsg());
  double secs = now_s() - t0;
  if (json) {
    qdm_json j;
    qdm_json_init(&j, stdout, 0);
    qdm_json_obj(&j);
    qdm_json_kv_str(&j, "ansatz", name);
    qdm_json_kv_int(&j, "qubits", n);
    qdm_json_kv_int(&j, "layers", L);
    qdm_json_kv_str(&j, "kind", qdm_enum_str(qdm_metric_names, kind));
    qdm_json_kv_nums(&j, "params", th, P);
    qdm_json_key(&j, "metric");
    qdm_json_arr(&j);
    for (int i = 0; i < P; i++) {
      qdm_json_arr(&j);
      for (int k = 0; k < P; k++) qdm_json_num(&j, g[(size_t)i * P + k]);
      qdm_json_arr_end(&j);
    }
    qdm_json_arr_end(&j);
    qdm_json_kv_num(&j, "seconds", secs);
    qdm_json_obj_end(&j);
    qdm_json_end(&j);
  } else {
    printf("# Fubini-Study metric (%s), %s, %d qubits, %d layers, %d parameters, %.3g s\n",
           qdm_enum_str(qdm_metric_names, kind), name, n, L, P, secs);
    for (int i = 0; i < P; i++) {
      for (int k = 0; k < P; k++) printf("%s%10.6f", k ? " " : "", g[(size_t)i * P + k]);
      printf("\n");
    }
  }
  free(g);
  free(bounds);
  free(th);
  qdm_circuit_free(c);
  return 0;
}

/* ================= gradvar ================= */

static int act_gradvar(int argc, char **argv) {
  cli_args a;
  cli_init(&a, CMD " gradvar", argc, argv);
  char nbuf[1024];
  const char *names[MAX_LIST];
  int na = parse_names(cli_str(&a, "--ansatz", "hea,paper,authors"), nbuf, sizeof nbuf, names);
  int n0 = (int)cli_int(&a, "--min-qubits", 2, 1, 20);
  int n1 = (int)cli_int(&a, "--max-qubits", 12, 1, 20);
  const char *ls = cli_str(&a, "--layers", "n");
  const char *cs = cli_str(&a, "--cost", "zz");
  int S = (int)cli_int(&a, "--samples", 200, 2, 10000000);
  long seed = cli_int(&a, "--seed", 1, 0, 1L << 62);
  int threads = (int)cli_int(&a, "--threads", 0, 0, 1024);
  qdm_ansatz_opts o = parse_opts(&a);
  int json = cli_flag(&a, "--json");
  const char *plot = cli_str(&a, "--plot", NULL);
  cli_done(&a);
  int cost = qdm_enum_parse(qdm_cost_names, "--cost", cs);
  if (cost < 0) cli_die(CMD, 2, "%s", qdm_errmsg());
  if (n1 < n0) cli_die(CMD, 2, "--max-qubits %d < --min-qubits %d", n1, n0);
  if (cost == QDM_COST_ZZ && n0 < 2) cli_die(CMD, 2, "--min-qubits: the zz cost needs at least 2 qubits");
  int Lfix = 0;
  if (strcmp(ls, "n")) {
    double v = parse_num(ls, "--layers (an integer or 'n')", 1, 1000);
    if (v != floor(v)) cli_die(CMD, 2, "--layers expects an integer or 'n', got '%s'", ls);
    Lfix = (int)v;
  }
  qdm_set_threads(threads);
  int nn = n1 - n0 + 1;
  qdm_gradvar_result *res = calloc((size_t)na * nn, sizeof *res);
  if (!res) cli_die(CMD, 1, "out of memory");
  if (!json) printf("%-8s %6s %6s %6s %14s %14s %8s\n", "ansatz", "qubits", "layers", "params", "var(mean k)", "var(k=0)", "seconds");
  for (int k = 0; k < na; k++)
    for (int n = n0; n <= n1; n++) {
      qdm_gradvar_result *r = &res[k * nn + n - n0];
      int L = Lfix ? Lfix : n;
      if (qdm_gradvar_ansatz(names[k], n, L, &o, cost, S, (uint64_t)seed, r))
        cli_die(CMD, 1, "%s on %d qubits: %s", names[k], n, qdm_errmsg());
      if (!json) {
        printf("%-8s %6d %6d %6d %14.6e %14.6e %8.2f\n", names[k], n, L, r->nparams, r->var_mean, r->var_first,
               r->seconds);
        fflush(stdout);
      }
    }
  if (json) {
    qdm_json j;
    qdm_json_init(&j, stdout, 1);
    qdm_json_obj(&j);
    qdm_json_kv_str(&j, "cost", qdm_enum_str(qdm_cost_names, cost));
    qdm_json_kv_int(&j, "samples", S);
    if (Lfix) qdm_json_kv_int(&j, "layers", Lfix);
    else qdm_json_kv_str(&j, "layers", "n");
    qdm_json_kv_int(&j, "seed", seed);
    qdm_json_key(&j, "results");
    qdm_json_arr(&j);
    double *col = malloc(nn * sizeof *col);
    for (int k = 0; k < na; k++) {
      qdm_gradvar_result *r = &res[k * nn];
      qdm_json_obj(&j);
      qdm_json_kv_str(&j, "ansatz", names[k]);
#define COL(key, expr)                                   \
  do {                                                   \
    for (int i = 0; i < nn; i++) col[i] = (expr);        \
    qdm_json_kv_nums(&j, key, col, nn);                  \
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
  if (plot) {
    qdm_series s[MAX_LIST + 1];
    double *x = malloc(nn * sizeof *x), *y = malloc((size_t)(na + 1) * nn * sizeof *y);
    if (!x || !y) cli_die(CMD, 1, "out of memory");
    for (int i = 0; i < nn; i++) {
      x[i] = n0 + i;
      y[na * nn + i] = pow(2, -(n0 + i));
    }
    for (int k = 0; k < na; k++) {
      for (int i = 0; i < nn; i++) y[k * nn + i] = res[k * nn + i].var_mean;
      s[k] = (qdm_series){names[k], x, y + k * nn, nn};
    }
    s[na] = (qdm_series){"2^-n", x, y + na * nn, nn};
    char title[160];
    snprintf(title, sizeof title, "gradient variance, cost %s, %s layers, %d samples", qdm_enum_str(qdm_cost_names, cost),
             Lfix ? ls : "n", S);
    if (qdm_plot_lines(plot, title, "qubits n", "mean_k Var[dC/dtheta_k]", s, na + 1, 1))
      cli_die(CMD, 1, "%s", qdm_errmsg());
    free(x);
    free(y);
  }
  free(res);
  return 0;
}

/* ================= learn ================= */

enum { OPT_ADAM, OPT_QNGD, OPT_MIX, NOPT };
static const char *const opt_name[NOPT] = {"adam", "qngd", "qngd+adam"};

typedef struct {
  int steps, trials, layers, kind, refresh, sw;
  double lambda, tol;
  int nla, nlq;
  double lr_adam[MAX_LIST], lr_qngd[MAX_LIST];
  uint64_t seed;
  qdm_ansatz_opts o;
} learn_cfg;

/* One (ansatz, n): the circuit and `trials` (target, start) pairs. */
typedef struct {
  const char *ansatz;
  qdm_circuit *c;
  int n, P;
  qdm_cplx *target; /* trials x dim */
  double *th0;      /* trials x P */
  qdm_cplx *psi, *lam;
  double *grad;
} setup;

/* The problem depends on (seed, ansatz, n) only, not on the other names in the lists. */
static uint64_t problem_seed(uint64_t seed, const char *name, int n) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (const char *p = name; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
  return seed * 0x9E3779B97F4A7C15ull ^ h ^ ((uint64_t)n << 32);
}

static void setup_make(setup *su, const learn_cfg *cf, const char *name, int n) {
  size_t dim = (size_t)1 << n;
  su->ansatz = name;
  su->n = n;
  su->c = build(name, n, cf->layers, &cf->o, &su->P);
  int P = su->P;
  su->target = malloc(cf->trials * dim * sizeof *su->target);
  su->th0 = malloc((size_t)cf->trials * P * sizeof *su->th0);
  su->psi = malloc(2 * dim * sizeof *su->psi);
  su->grad = malloc(P * sizeof *su->grad);
  if (!su->target || !su->th0 || !su->psi || !su->grad) cli_die(CMD, 1, "out of memory");
  su->lam = su->psi + dim;
  qdm_rng r;
  qdm_rng_seed(&r, problem_seed(cf->seed, name, n));
  double *ts = malloc(P * sizeof *ts);
  if (!ts) cli_die(CMD, 1, "out of memory");
  for (int t = 0; t < cf->trials; t++) {
    uniform(ts, P, &r);
    uniform(su->th0 + (size_t)t * P, P, &r);
    qdm_cplx *tg = su->target + t * dim;
    qdm_zero_state(tg, n, 1);
    if (qdm_run(su->c, ts, NULL, 0, tg, 1)) cli_die(CMD, 1, "%s", qdm_errmsg());
  }
  free(ts);
}

static void setup_free(setup *su) {
  qdm_circuit_free(su->c);
  free(su->target);
  free(su->th0);
  free(su->psi);
  free(su->grad);
}

/* L = 1 - |<t|psi>|^2 and its gradient: co-gradient -2 <t|psi> t, one adjoint sweep */
static double loss_grad(setup *su, const qdm_cplx *target, const double *th) {
  size_t dim = (size_t)1 << su->n;
  qdm_zero_state(su->psi, su->n, 1);
  if (qdm_run(su->c, th, NULL, 0, su->psi, 1)) cli_die(CMD, 1, "%s", qdm_errmsg());
  qdm_cplx ov = 0;
  for (size_t i = 0; i < dim; i++) ov += conj(target[i]) * su->psi[i];
  for (size_t i = 0; i < dim; i++) su->lam[i] = -2 * ov * target[i];
  memset(su->grad, 0, su->P * sizeof *su->grad);
  if (qdm_run_adjoint(su->c, th, NULL, 0, su->psi, su->lam, 1, su->grad, NULL)) cli_die(CMD, 1, "%s", qdm_errmsg());
  return 1 - creal(ov * conj(ov));
}

/* One optimizer on trial t: loss[s], secs[s] (s = 0..steps) = loss before
 * step s and the wall time spent until then. QNGD steps use rate lq, Adam
 * steps la; OPT_MIX does QNGD for the first cf->sw steps, then Adam. */
static void run_opt(setup *su, const learn_cfg *cf, int t, int opt, double lq, double la, double *loss, double *secs) {
  int P = su->P, *bounds = malloc((cf->layers + 1) * sizeof *bounds);
  double *th = malloc(P * sizeof *th);
  if (!th || !bounds) cli_die(CMD, 1, "out of memory");
  memcpy(th, su->th0 + (size_t)t * P, P * sizeof *th);
  if (cf->kind == QDM_METRIC_BLOCK && qdm_metric_layer_bounds(P, cf->layers, bounds))
    cli_die(CMD, 2, "--kind block: %s", qdm_errmsg());
  qdm_adam adam;
  qdm_qngd q;
  if (qdm_adam_init(&adam, 0.9, 0.999, 1e-8, 0) || qdm_adam_add_group(&adam, "theta", th, su->grad, P, 1, 0) ||
      qdm_qngd_init(&q, P, cf->kind, cf->layers, bounds, cf->lambda, cf->refresh))
    cli_die(CMD, 1, "%s", qdm_errmsg());
  const qdm_cplx *target = su->target + ((size_t)t << su->n);
  double t0 = now_s();
  for (int s = 0;; s++) {
    loss[s] = loss_grad(su, target, th);
    secs[s] = now_s() - t0;
    if (s == cf->steps) break;
    int e;
    if (opt == OPT_QNGD || (opt == OPT_MIX && s < cf->sw)) {
      e = qdm_qngd_due(&q) ? qdm_qngd_refresh(&q, su->c, th, NULL, 0, NULL, 1) : 0;
      if (!e) e = qdm_qngd_step(&q, th, su->grad, lq);
    } else {
      e = qdm_adam_step(&adam, la);
    }
    if (e) cli_die(CMD, 1, "%s", qdm_errmsg());
  }
  qdm_adam_free(&adam);
  qdm_qngd_free(&q);
  free(th);
  free(bounds);
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* All trials of one optimizer: median loss and mean time per step index.
 * Returns the score used to pick a rate: mean over steps of log10(loss). */
static double run_trials(setup *su, const learn_cfg *cf, int opt, double lq, double la, double *loss, double *secs) {
  int T = cf->trials, N = cf->steps + 1;
  double *L = malloc((size_t)T * N * sizeof *L), *S = malloc((size_t)T * N * sizeof *S), *v = malloc(T * sizeof *v);
  if (!L || !S || !v) cli_die(CMD, 1, "out of memory");
  for (int t = 0; t < T; t++) run_opt(su, cf, t, opt, lq, la, L + (size_t)t * N, S + (size_t)t * N);
  double score = 0;
  for (int s = 0; s < N; s++) {
    double m = 0;
    for (int t = 0; t < T; t++) {
      v[t] = L[(size_t)t * N + s];
      m += S[(size_t)t * N + s] / T;
    }
    qsort(v, T, sizeof *v, cmp_d);
    loss[s] = T % 2 ? v[T / 2] : 0.5 * (v[T / 2 - 1] + v[T / 2]);
    secs[s] = m;
    score += log10(fmax(loss[s], 1e-16)) / N;
  }
  free(L);
  free(S);
  free(v);
  return score;
}

typedef struct {
  const char *ansatz;
  int n, P;
  double lr[NOPT];     /* QNGD part of qngd+adam uses lr[OPT_QNGD], its Adam part lr[OPT_ADAM] */
  double *loss[NOPT], *secs[NOPT];
} learn_result;

/* Tunes Adam and QNGD over their rate lists, then runs QNGD then Adam. */
static void learn_one(const learn_cfg *cf, const char *name, int n, learn_result *r) {
  setup su;
  setup_make(&su, cf, name, n);
  int N = cf->steps + 1;
  r->ansatz = name;
  r->n = n;
  r->P = su.P;
  double *tl = malloc(N * sizeof *tl), *ts = malloc(N * sizeof *ts);
  if (!tl || !ts) cli_die(CMD, 1, "out of memory");
  for (int o = 0; o < NOPT; o++) {
    r->loss[o] = malloc(N * sizeof *r->loss[o]);
    r->secs[o] = malloc(N * sizeof *r->secs[o]);
    if (!r->loss[o] || !r->secs[o]) cli_die(CMD, 1, "out of memory");
  }
  for (int o = OPT_ADAM; o <= OPT_QNGD; o++) {
    int nl = o == OPT_ADAM ? cf->nla : cf->nlq;
    const double *lrs = o == OPT_ADAM ? cf->lr_adam : cf->lr_qngd;
    double best = INFINITY;
    for (int k = 0; k < nl; k++) {
      double sc = run_trials(&su, cf, o, lrs[k], lrs[k], tl, ts);
      if (cli_tty()) fprintf(stderr, "\r%s n=%d %s lr %g: score %.3f   ", name, n, opt_name[o], lrs[k], sc);
      if (sc < best) {
        best = sc;
        r->lr[o] = lrs[k];
        memcpy(r->loss[o], tl, N * sizeof *tl);
        memcpy(r->secs[o], ts, N * sizeof *ts);
      }
    }
  }
  r->lr[OPT_MIX] = r->lr[OPT_QNGD];
  run_trials(&su, cf, OPT_MIX, r->lr[OPT_QNGD], r->lr[OPT_ADAM], r->loss[OPT_MIX], r->secs[OPT_MIX]);
  if (cli_tty()) fprintf(stderr, "\r%60s\r", "");
  free(tl);
  free(ts);
  setup_free(&su);
}

static int steps_to(const double *loss, int N, double tol) {
  for (int s = 0; s < N; s++)
    if (loss[s] < tol) return s;
  return -1;
}

static void print_result(const learn_cfg *cf, const learn_result *r) {
  int N = cf->steps + 1;
  printf("\n%s, %d qubits, %d layers, %d parameters (median of %d trials; seconds = mean wall time)\n", r->ansatz,
         r->n, cf->layers, r->P, cf->trials);
  printf("%6s", "step");
  for (int o = 0; o < NOPT; o++) printf(" %12s %9s", opt_name[o], "seconds");
  printf("\n");
  static const int marks[] = {0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};
  for (size_t m = 0; m <= sizeof marks / sizeof *marks; m++) {
    int s = m < sizeof marks / sizeof *marks ? marks[m] : N - 1;
    if (s >= N - 1 && m < sizeof marks / sizeof *marks) continue;
    printf("%6d", s);
    for (int o = 0; o < NOPT; o++) printf(" %12.4e %9.4f", r->loss[o][s], r->secs[o][s]);
    printf("\n");
  }
  printf("%-10s %8s %12s %14s %14s %10s\n", "optimizer", "lr", "final loss", "steps to tol", "seconds to tol",
         "ms/step");
  for (int o = 0; o < NOPT; o++) {
    int st = steps_to(r->loss[o], N, cf->tol);
    char lr[32];
    if (o == OPT_MIX) snprintf(lr, sizeof lr, "%g/%g", r->lr[OPT_QNGD], r->lr[OPT_ADAM]);
    else snprintf(lr, sizeof lr, "%g", r->lr[o]);
    printf("%-10s %8s %12.4e", opt_name[o], lr, r->loss[o][N - 1]);
    if (st >= 0) printf(" %14d %14.4f", st, r->secs[o][st]);
    else printf(" %14s %14s", "-", "-");
    printf(" %10.3f\n", 1e3 * r->secs[o][N - 1] / cf->steps);
  }
  fflush(stdout);
}

static void json_results(const learn_cfg *cf, const learn_result *res, int nr) {
  int N = cf->steps + 1;
  qdm_json j;
  qdm_json_init(&j, stdout, 1);
  qdm_json_obj(&j);
  qdm_json_kv_str(&j, "loss", "1 - |<target|psi>|^2, median over trials");
  qdm_json_kv_int(&j, "steps", cf->steps);
  qdm_json_kv_int(&j, "trials", cf->trials);
  qdm_json_kv_int(&j, "layers", cf->layers);
  qdm_json_kv_str(&j, "metric", qdm_enum_str(qdm_metric_names, cf->kind));
  qdm_json_kv_num(&j, "lambda", cf->lambda);
  qdm_json_kv_int(&j, "refresh", cf->refresh);
  qdm_json_kv_int(&j, "switch", cf->sw);
  qdm_json_kv_num(&j, "tol", cf->tol);
  qdm_json_kv_int(&j, "seed", (long long)cf->seed);
  qdm_json_key(&j, "results");
  qdm_json_arr(&j);
  for (int i = 0; i < nr; i++) {
    const learn_result *r = &res[i];
    qdm_json_obj(&j);
    qdm_json_kv_str(&j, "ansatz", r->ansatz);
    qdm_json_kv_int(&j, "qubits", r->n);
    qdm_json_kv_int(&j, "params", r->P);
    qdm_json_key(&j, "optimizers");
    qdm_json_arr(&j);
    for (int o = 0; o < NOPT; o++) {
      int st = steps_to(r->loss[o], N, cf->tol);
      qdm_json_obj(&j);
      qdm_json_kv_str(&j, "name", opt_name[o]);
      qdm_json_kv_num(&j, "lr", r->lr[o]);
      if (o == OPT_MIX) qdm_json_kv_num(&j, "lr_adam", r->lr[OPT_ADAM]);
      qdm_json_kv_num(&j, "final_loss", r->loss[o][N - 1]);
      qdm_json_kv_int(&j, "steps_to_tol", st);
      qdm_json_kv_num(&j, "seconds_to_tol", st >= 0 ? r->secs[o][st] : NAN);
      qdm_json_kv_num(&j, "ms_per_step", 1e3 * r->secs[o][N - 1] / cf->steps);
      qdm_json_kv_nums(&j, "loss", r->loss[o], N);
      qdm_json_kv_nums(&j, "seconds", r->secs[o], N);
      qdm_json_obj_end(&j);
    }
    qdm_json_arr_end(&j);
    qdm_json_obj_end(&j);
  }
  qdm_json_arr_end(&j);
  qdm_json_obj_end(&j);
  qdm_json_end(&j);
}

/* Panels drawn one by one with qdm_plot_lines, then tiled at half size
 * into one picture (rows x cols, row-major file list). */
static int tile_pngs(const char *out, char *const *files, int rows, int cols) {
  cairo_surface_t *p0 = cairo_image_surface_create_from_png(files[0]);
  if (cairo_surface_status(p0) != CAIRO_STATUS_SUCCESS) {
    cairo_surface_destroy(p0);
    return qdm_fail(QDM_EIO, "cannot read the panel %s", files[0]);
  }
  int w = cairo_image_surface_get_width(p0) / 2, h = cairo_image_surface_get_height(p0) / 2;
  cairo_surface_destroy(p0);
  cairo_surface_t *big = cairo_image_surface_create(CAIRO_FORMAT_RGB24, cols * w, rows * h);
  cairo_t *cr = cairo_create(big);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  int e = QDM_OK;
  for (int k = 0; k < rows * cols && !e; k++) {
    cairo_surface_t *p = cairo_image_surface_create_from_png(files[k]);
    if (cairo_surface_status(p) != CAIRO_STATUS_SUCCESS) {
      e = qdm_fail(QDM_EIO, "cannot read the panel %s", files[k]);
    } else {
      cairo_save(cr);
      cairo_translate(cr, (k % cols) * w, (k / cols) * h);
      cairo_scale(cr, 0.5, 0.5);
      cairo_set_source_surface(cr, p, 0, 0);
      cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_GOOD);
      cairo_paint(cr);
      cairo_restore(cr);
    }
    cairo_surface_destroy(p);
  }
  cairo_destroy(cr);
  if (!e) e = qdm_png_write_surface(out, big);
  cairo_surface_destroy(big);
  return e;
}

/* Rows: for each n, loss vs step then loss vs seconds; a column per ansatz. */
static void plot_learn(const char *path, const learn_cfg *cf, const learn_result *res, int nq,
                       int na) {
  char dir[] = "/tmp/qdm_qngd_plot.XXXXXX";
  if (!mkdtemp(dir)) cli_die(CMD, 1, "--plot: cannot make a temporary directory");
  int rows = 2 * nq, N = cf->steps + 1;
  char **files = calloc((size_t)rows * na, sizeof *files);
  double *step = malloc(N * sizeof *step), *clamped = malloc((size_t)NOPT * N * sizeof *clamped);
  if (!files || !step || !clamped) cli_die(CMD, 1, "out of memory");
  for (int s = 0; s < N; s++) step[s] = s;
  int e = 0;
  for (int qi = 0; qi < nq && !e; qi++)
    for (int k = 0; k < na && !e; k++) {
      const learn_result *r = &res[k * nq + qi];
      for (int vs_time = 0; vs_time < 2 && !e; vs_time++) {
        qdm_series s[NOPT];
        char lab[NOPT][48], title[160];
        for (int o = 0; o < NOPT; o++) {
          if (o == OPT_MIX) snprintf(lab[o], sizeof lab[o], "qngd %d steps + adam", cf->sw);
          else snprintf(lab[o], sizeof lab[o], "%s lr %g", opt_name[o], r->lr[o]);
          /* at convergence the loss is rounding noise around 0: drawn at 1e-16
           * instead of leaving gaps on the log axis */
          for (int i = 0; i < N; i++) clamped[o * N + i] = fmax(r->loss[o][i], 1e-16);
          s[o] = (qdm_series){lab[o], vs_time ? r->secs[o] : step, clamped + o * N, N};
        }
        snprintf(title, sizeof title, "%s, n = %d, %d params: loss vs %s", r->ansatz, r->n, r->P,
                 vs_time ? "wall time" : "step");
        int idx = (2 * qi + vs_time) * na + k;
        files[idx] = malloc(strlen(dir) + 32);
        if (!files[idx]) cli_die(CMD, 1, "out of memory");
        sprintf(files[idx], "%s/p%d.png", dir, idx);
        e = qdm_plot_lines(files[idx], title, vs_time ? "seconds" : "step", "1 - fidelity (median)", s, NOPT, 1);
      }
    }
  if (!e) e = tile_pngs(path, files, rows, na);
  for (int k = 0; k < rows * na; k++) {
    if (files[k]) unlink(files[k]);
    free(files[k]);
  }
  rmdir(dir);
  free(files);
  free(step);
  free(clamped);
  if (e) cli_die(CMD, 1, "--plot: %s", qdm_errmsg());
}

static int act_learn(int argc, char **argv) {
  cli_args a;
  cli_init(&a, CMD " learn", argc, argv);
  learn_cfg cf;
  memset(&cf, 0, sizeof cf);
  char nbuf[1024];
  const char *names[MAX_LIST];
  int na = parse_names(cli_str(&a, "--ansatz", "hea,paper,authors"), nbuf, sizeof nbuf, names);
  double qv[MAX_LIST];
  int nq = parse_nums(cli_str(&a, "--qubits", "4,8"), "--qubits", 1, 14, qv), qubits[MAX_LIST];
  for (int i = 0; i < nq; i++) {
    qubits[i] = (int)qv[i];
    if (qubits[i] != qv[i]) cli_die(CMD, 2, "--qubits expects integers, got %g", qv[i]);
  }
  cf.layers = (int)cli_int(&a, "--layers", 4, 1, 1000);
  cf.steps = (int)cli_int(&a, "--steps", 200, 1, 1000000);
  cf.trials = (int)cli_int(&a, "--trials", 3, 1, 1000);
  cf.seed = (uint64_t)cli_int(&a, "--seed", 1, 0, 1L << 62);
  cf.nla = parse_nums(cli_str(&a, "--lr-adam", "0.05"), "--lr-adam", 0, 1e3, cf.lr_adam);
  cf.nlq = parse_nums(cli_str(&a, "--lr-qngd", "0.1"), "--lr-qngd", 0, 1e3, cf.lr_qngd);
  cf.lambda = cli_double(&a, "--lambda", 1e-3, 0, 1e6);
  cf.kind = parse_kind(&a);
  cf.refresh = (int)cli_int(&a, "--refresh", 1, 1, 1000000);
  cf.sw = (int)cli_int(&a, "--switch", 20, 0, 1000000);
  cf.tol = cli_double(&a, "--tol", 1e-3, 0, 1);
  cf.o = parse_opts(&a);
  int threads = (int)cli_int(&a, "--threads", 0, 0, 1024);
  int json = cli_flag(&a, "--json");
  const char *plot = cli_str(&a, "--plot", NULL);
  cli_done(&a);
  qdm_set_threads(threads);
  learn_result *res = calloc((size_t)na * nq, sizeof *res);
  if (!res) cli_die(CMD, 1, "out of memory");
  if (!json)
    printf("state learning: loss 1 - |<t|psi(theta)>|^2, t = U(theta*)|0>; %d steps, %d trials, metric %s, "
           "lambda %g, refresh %d, qngd+adam switches after %d steps\n",
           cf.steps, cf.trials, qdm_enum_str(qdm_metric_names, cf.kind), cf.lambda, cf.refresh, cf.sw);
  for (int k = 0; k < na; k++)
    for (int qi = 0; qi < nq; qi++) {
      learn_result *r = &res[k * nq + qi];
      learn_one(&cf, names[k], qubits[qi], r);
      if (!json) print_result(&cf, r);
    }
  if (json) json_results(&cf, res, na * nq);
  if (plot) plot_learn(plot, &cf, res, nq, na);
  for (int i = 0; i < na * nq; i++)
    for (int o = 0; o < NOPT; o++) {
      free(res[i].loss[o]);
      free(res[i].secs[o]);
    }
  free(res);
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
