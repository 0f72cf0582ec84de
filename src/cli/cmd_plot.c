/* cmd_plot.c -- `qdm plot`: curves from the metrics.csv files of training
 * runs, side by side (e.g. loss against epoch or wall time for several
 * optimisers). */
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "qdm/io.h"
#include "qdm/qsim.h"

#define MAXRUNS 16
#define MAXROWS 100000

/* column `name` and the x column of a metrics.csv header line */
static int column(const char *header, const char *name) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", header);
  int i = 0;
  for (char *tok = strtok(buf, ",\r\n"); tok; tok = strtok(NULL, ",\r\n"), i++)
    if (!strcmp(tok, name)) return i;
  return -1;
}

static int read_csv(const char *path, const char *xname, const char *yname, double **x, double **y) {
  FILE *f = fopen(path, "r");
  if (!f) cli_die("qdm plot", 1, "%s: cannot open", path);
  char line[1024];
  if (!fgets(line, sizeof line, f)) cli_die("qdm plot", 1, "%s: empty file", path);
  int cx = column(line, xname), cy = column(line, yname), n = 0;
  if (cx < 0 || cy < 0) cli_die("qdm plot", 1, "%s: no column '%s' or '%s' in the header", path, xname, yname);
  *x = malloc(MAXROWS * sizeof **x);
  *y = malloc(MAXROWS * sizeof **y);
  while (n < MAXROWS && fgets(line, sizeof line, f)) {
    char *p = line;
    double v[64];
    int k = 0;
    for (char *end; k < 64 && *p && *p != '\n'; p = *end == ',' ? end + 1 : end, k++) {
      v[k] = strtod(p, &end);
      if (end == p) cli_die("qdm plot", 1, "%s: line %d is not numbers", path, n + 2);
    }
    if (cx >= k || cy >= k) cli_die("qdm plot", 1, "%s: line %d has %d fields", path, n + 2, k);
    (*x)[n] = v[cx];
    (*y)[n] = v[cy];
    n++;
  }
  fclose(f);
  return n;
}

/* The curves as JSON: {"x": name, "y": name, "runs": [{"dir", "label", "x": [...], "y": [...]}]} */
static void plot_json(const char *xn, const char *yn, char *const *rs, const qdm_series *s, int nr) {
  qdm_json j;
  qdm_json_init(&j, stdout, 0);
  qdm_json_obj(&j);
  qdm_json_kv_str(&j, "x", xn);
  qdm_json_kv_str(&j, "y", yn);
  qdm_json_key(&j, "runs");
  qdm_json_arr(&j);
  for (int i = 0; i < nr; i++) {
    qdm_json_obj(&j);
    qdm_json_kv_str(&j, "dir", rs[i]);
    qdm_json_kv_str(&j, "label", s[i].label);
    qdm_json_kv_nums(&j, "x", s[i].x, s[i].np);
    qdm_json_kv_nums(&j, "y", s[i].y, s[i].np);
    qdm_json_obj_end(&j);
  }
  qdm_json_arr_end(&j);
  qdm_json_obj_end(&j);
  qdm_json_end(&j);
}

/* comma-separated list into its pieces (buf keeps them) */
static int split_list(const char *spec, char *buf, size_t len, char **out) {
  int n = 0;
  snprintf(buf, len, "%s", spec);
  for (char *t = strtok(buf, ","); t && n < MAXRUNS; t = strtok(NULL, ",")) out[n++] = t;
  return n;
}

int cmd_plot(int argc, char **argv) {
  cli_args a;
  cli_init(&a, "qdm plot", argc, argv);
  if (cli_flag(&a, "--help")) {
    printf("usage: qdm plot --runs DIR[,DIR...] [--labels A,B,...] [--x epoch|seconds] [--y loss|infidelity|lr]\n"
           "                [--title TEXT] [--log] [--out FILE.png] [--json] [--threads N]\n\n"
           "Draws one curve per training run from DIR/metrics.csv (written by qdm train).\n"
           "  --title TEXT  the picture's title (default: 'qdm plot: Y per X' and the runs)\n"
           "  --json        print the curves as one JSON object (with or without --out)\n"
           "  --threads N   accepted as on every command (drawing uses one thread)\n");
    return 0;
  }
  const char *runs = cli_str(&a, "--runs", NULL), *labels = cli_str(&a, "--labels", NULL);
  const char *xn = cli_str(&a, "--x", "epoch"), *yn = cli_str(&a, "--y", "loss");
  const char *title = cli_str(&a, "--title", NULL), *out = cli_str(&a, "--out", NULL);
  int logy = cli_flag(&a, "--log"), json = cli_flag(&a, "--json");
  cli_threads(&a, 0);
  cli_done(&a);
  if (!runs || (!out && !json)) cli_die(a.cmd, 2, "--runs DIR[,DIR...] and --out FILE.png (or --json) are required");
  char rbuf[4096], lbuf[4096], *rs[MAXRUNS], *ls[MAXRUNS], tbuf[4400];
  int nr = split_list(runs, rbuf, sizeof rbuf, rs), nl = split_list(labels ? labels : runs, lbuf, sizeof lbuf, ls);
  if (nl != nr) cli_die(a.cmd, 2, "--labels has %d names for %d runs", nl, nr);
  qdm_series s[MAXRUNS];
  for (int i = 0; i < nr; i++) {
    char path[4200];
    double *x, *y;
    if (qdm_path_join(path, sizeof path, rs[i], "metrics.csv")) cli_die(a.cmd, 2, "--runs: %s", qdm_errmsg());
    int n = read_csv(path, xn, yn, &x, &y);
    s[i] = (qdm_series){ls[i], x, y, n};
  }
  snprintf(tbuf, sizeof tbuf, "qdm plot: %s per %s, %s", yn, xn, runs);
  int err = out ? qdm_plot_lines(out, title ? title : tbuf, xn, yn, s, nr, logy) : QDM_OK;
  if (!err && json) plot_json(xn, yn, rs, s, nr);
  for (int i = 0; i < nr; i++) {
    free((double *)s[i].x);
    free((double *)s[i].y);
  }
  if (err) cli_die(a.cmd, 1, "%s", qdm_errmsg());
  return 0;
}
