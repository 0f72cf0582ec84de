/* cli.h -- shared pieces of the qdm subcommands: a small option parser that
 * rejects unknown or malformed options with one clear line, and the table of
 * subcommands. */
#ifndef QDM_CLI_H
#define QDM_CLI_H
#include <stdio.h>
#include "qdm/circuits.h"
#include "qdm/core.h"
#include "qdm/dist.h"

typedef struct {
  int argc;
  char **argv;
  unsigned char used[256]; /* which argv entries an option consumed */
  const char *cmd;     /* "qdm train" etc., for messages */
} cli_args;

void cli_init(cli_args *a, const char *cmd, int argc, char **argv);
int cli_flag(cli_args *a, const char *name);                       /* --json */
const char *cli_str(cli_args *a, const char *name, const char *def);
long cli_int(cli_args *a, const char *name, long def, long lo, long hi);
double cli_double(cli_args *a, const char *name, double def, double lo, double hi);
/* --name NAME from an enum's name table (qdm/core.h): its value, def if
 * absent; exits 2 naming the flag and the accepted names. */
int cli_enum(cli_args *a, const char *name, const qdm_enum_name *table, int def);
/* --name on|off -> 1|0 */
int cli_onoff(cli_args *a, const char *name, int def);
/* Exit 2 with a message if any argument was not consumed. */
void cli_done(cli_args *a);
/* Print "qdm CMD: message" to stderr and exit with status 2 (bad usage) or 1. */
void cli_die(const char *cmd, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));
/* --params LIST|FILE: numbers separated by commas or spaces, inline or in a
 * file; exits with status 2 naming a token that is not a number. */
double *cli_numbers(const char *cmd, const char *spec, int *count);
/* A comma-separated list of at most max numbers in [lo, hi] into v; returns
 * the count. integers: each must be a whole number. Exits 2 naming opt. */
int cli_num_list(const char *cmd, const char *opt, const char *spec, double lo, double hi, int integers, double *v,
                 int max);
/* Threads for qdm and OpenBLAS alike (cmd_bench.c). */
void bench_threads(int t);
/* --threads N (0 = every core; def when absent), applied to qdm and
 * OpenBLAS when > 0; returns N. The same flag on every command. */
int cli_threads(cli_args *a, int def);
/* --classes LIST or its alias --digits (not both); NULL when absent. */
const char *cli_classes(cli_args *a);
/* Copy a file to stdout (exits 1 naming it when it cannot be read). */
void cli_cat(const char *cmd, const char *path);
/* 1 if stderr is a terminal (progress lines redraw in place). */
int cli_tty(void);

/* ---- circuits named on the command line (circuits_cli.c) ---- */
/* --ansatz LIST: names of the ansatz library (qdm circuit --list) or
 * .qasm files; 'sims' = sim1..sim19, 'all' = every library ansatz; 'haar'
 * (exact Haar-random states) only if allow_haar. At most max names; they
 * point into buf (len bytes, the caller's, alive as long as names). */
int cli_ansatz_names(const char *cmd, const char *spec, char *buf, size_t len, const char **names, int max,
                     int allow_haar);
/* The named ansatz on n qubits with `layers` layers; *P = its parameter
 * count. Exits 2 naming --ansatz if it cannot be built, or if need_params
 * and it has no parameters. */
qdm_circuit *cli_ansatz_circuit(const char *cmd, const char *name, int n, int layers, const qdm_ansatz_opts *o,
                                int need_params, int *P);

/* subcommands: each lives in its own cmd_*.c and prints its --help */
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_qstate(int argc, char **argv);
int cmd_circuit(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_qngd(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_classifier(int argc, char **argv), cmd_eval(int argc, char **argv), cmd_experiment(int argc, char **argv);
#endif
