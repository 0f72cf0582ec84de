/* args.c -- option parsing for the subcommands: --name value or --name=value. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

/* Under MPI every rank reaches the same error (argument errors, and the
 * library's agreed ones, qdm_dist_agree): rank 0 alone says it. */
void cli_die(const char *cmd, int status, const char *fmt, ...) {
  va_list ap;
  if (qdm_dist_rank() != 0) exit(status);
  fprintf(stderr, "%s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(status);
}

int cli_tty(void) { return isatty(2); }

void cli_init(cli_args *a, const char *cmd, int argc, char **argv) {
  a->argc = argc;
  a->argv = argv;
  a->cmd = cmd;
  if (argc > 256) cli_die(cmd, 2, "%d arguments: at most 255 are accepted", argc - 1);
  memset(a->used, 0, sizeof a->used);
  a->used[0] = 1;
}

static int is_opt(const char *s, const char *name, size_t n) {
  return strncmp(s, name, n) == 0 && (s[n] == 0 || s[n] == '=');
}

/* Finds --name (returning its index) or --name=value (setting *inl). An
 * option given twice is an error: which of the two was meant is a guess. */
static int find(cli_args *a, const char *name, const char **inl) {
  size_t n = strlen(name);
  int at = -1;
  for (int i = 1; i < a->argc; i++) {
    if (!is_opt(a->argv[i], name, n)) continue;
    if (at >= 0) cli_die(a->cmd, 2, "%s given twice ('%s' and '%s')", name, a->argv[at], a->argv[i]);
    at = i;
  }
  if (at >= 0) *inl = a->argv[at][n] == '=' ? a->argv[at] + n + 1 : NULL;
  return at;
}

int cli_flag(cli_args *a, const char *name) {
  const char *inl;
  int i = find(a, name, &inl);
  if (i < 0) return 0;
  if (inl) cli_die(a->cmd, 2, "%s takes no value (got '%s')", name, inl);
  a->used[i] = 1;
  return 1;
}

const char *cli_str(cli_args *a, const char *name, const char *def) {
  const char *inl;
  int i = find(a, name, &inl);
  if (i < 0) return def;
  a->used[i] = 1;
  if (inl) return inl;
  if (i + 1 >= a->argc) cli_die(a->cmd, 2, "%s expects a value", name);
  a->used[i + 1] = 1;
  return a->argv[i + 1];
}

long cli_int(cli_args *a, const char *name, long def, long lo, long hi) {
  const char *s = cli_str(a, name, NULL);
  if (!s) return def;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || end == s || v < lo || v > hi)
    cli_die(a->cmd, 2, "%s expects an integer in [%ld, %ld], got '%s'", name, lo, hi, s);
  return v;
}

double cli_double(cli_args *a, const char *name, double def, double lo, double hi) {
  const char *s = cli_str(a, name, NULL);
  if (!s) return def;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || end == s || !(v >= lo && v <= hi))
    cli_die(a->cmd, 2, "%s expects a number in [%g, %g], got '%s'", name, lo, hi, s);
  return v;
}

int cli_enum(cli_args *a, const char *name, const qdm_enum_name *table, int def) {
  const char *s = cli_str(a, name, NULL);
  if (!s) return def;
  int v = qdm_enum_parse(table, name, s);
  if (v < 0) cli_die(a->cmd, 2, "%s", qdm_errmsg());
  return v;
}

int cli_onoff(cli_args *a, const char *name, int def) {
  static const qdm_enum_name onoff[] = {{"on", 1}, {"off", 0}, {NULL, 0}};
  return cli_enum(a, name, onoff, def);
}

void cli_done(cli_args *a) {
  for (int i = 1; i < a->argc; i++)
    if (!a->used[i])
      cli_die(a->cmd, 2, "unknown argument '%s' (see %s --help)", a->argv[i], a->cmd);
}

int cli_num_list(const char *cmd, const char *opt, const char *spec, double lo, double hi, int integers, double *v,
                 int max) {
  char *buf = strdup(spec);
  if (!buf) cli_die(cmd, 1, "out of memory");
  int n = 0;
  for (char *s = strtok(buf, ","); s; s = strtok(NULL, ",")) {
    if (n >= max) cli_die(cmd, 2, "%s: more than %d values", opt, max);
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || *end || end == s || !(x >= lo && x <= hi))
      cli_die(cmd, 2, "%s expects numbers in [%g, %g], got '%s'", opt, lo, hi, s);
    if (integers && x != floor(x)) cli_die(cmd, 2, "%s expects integers, got %g", opt, x);
    v[n++] = x;
  }
  free(buf);
  if (!n) cli_die(cmd, 2, "%s expects a comma-separated list", opt);
  return n;
}

/* Numbers from a list "1.5,2 3" or a file of them (brackets ignored). */
double *cli_numbers(const char *cmd, const char *spec, int *count) {
  char *text = NULL;
  FILE *f = fopen(spec, "r");
  if (f) {
    size_t cap = 4096, len = 0;
    int ch;
    text = malloc(cap);
    while (text && (ch = fgetc(f)) != EOF) {
      if (len + 1 >= cap) {
        char *t = realloc(text, cap *= 2);
        if (!t) { free(text); text = NULL; break; }
        text = t;
      }
      text[len++] = (char)ch;
    }
    fclose(f);
    if (text) text[len] = 0;
  } else {
    text = strdup(spec);
  }
  if (!text) cli_die(cmd, 1, "--params: out of memory");
  int n = 0, cap = 64;
  double *v = malloc(cap * sizeof *v);
  for (char *tok = strtok(text, ", \t\r\n[]"); tok && v; tok = strtok(NULL, ", \t\r\n[]")) {
    char *end;
    errno = 0;
    double x = strtod(tok, &end);
    if (errno || *end || !isfinite(x))
      cli_die(cmd, 2, "--params: '%s' is not a number (expected a comma-separated list or a file of numbers)", tok);
    if (n == cap) {
      double *t = realloc(v, (cap *= 2) * sizeof *v);
      if (!t) { free(v); v = NULL; break; }
      v = t;
    }
    v[n++] = x;
  }
  free(text);
  if (!v) cli_die(cmd, 1, "out of memory");
  *count = n;
  return v;
}


/* --threads N: the same everywhere: threads for qdm and OpenBLAS alike,
 * 0 = every core (OpenMP's default); def when absent. */
int cli_threads(cli_args *a, int def) {
  int t = (int)cli_int(a, "--threads", def, 0, 1024);
  if (t > 0) bench_threads(t);
  return t;
}

/* --classes LIST, with --digits its older name (one of the two). */
const char *cli_classes(cli_args *a) {
  const char *c = cli_str(a, "--classes", NULL), *d = cli_str(a, "--digits", NULL);
  if (c && d) cli_die(a->cmd, 2, "--classes and --digits: give one (--digits is the older name of --classes)");
  return c ? c : d;
}

/* Copies a file (summary.json, results.json) to stdout: --json of commands
 * that write their numbers to a file anyway. */
void cli_cat(const char *cmd, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) cli_die(cmd, 1, "--json: cannot read %s", path);
  char buf[4096];
  size_t k;
  while ((k = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, k, stdout);
  fclose(f);
}
