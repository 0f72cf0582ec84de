/* main.c -- the qdm command: dispatch to subcommands. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *what;
} command;

/* One line per subcommand; each lives in cmd_<name>.c. */
static const command commands[] = {
    {"train", cmd_train, "train the hybrid quantum-classical U-Net on MNIST-style data"},
    {"sample", cmd_sample, "generate images from a trained checkpoint"},
    {"plot", cmd_plot, "curves from the metrics.csv of training runs, side by side"},
    {"bench", cmd_bench, "benchmark the engine (sim) and training (train)"},
    {"qstate", cmd_qstate, "quantum diffusion of density matrices: unitary vs ancilla reverse steps"},
    {"circuit", cmd_circuit, "expressibility, entangling capability and Bloch pictures of ansatzes"},
    {"export", cmd_export, "a checkpoint's trained circuits as OpenQASM 3 files, its observables as JSON"},
    {"qngd", cmd_qngd, "quantum natural gradient: Fubini-Study metric, gradient variance, state learning"},
    {"classifier", cmd_classifier, "train or test the digit classifier whose features qdm eval uses"},
    {"eval", cmd_eval, "Frechet distance, classifier score, precision/recall, memorisation of images"},
    {"experiment", cmd_experiment, "train and evaluate named sets of runs: the report's claims as a table"},
};

static void usage(FILE *f) {
  fprintf(f,
          "qdm %s -- hybrid quantum-classical diffusion models\n\n"
          "usage: qdm <command> [options]   (qdm <command> --help for details)\n\n"
          "commands:\n",
          QDM_VERSION);
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].what);
}

/* OpenBLAS chose its kernels when it loaded; if it fell back to the generic
 * ones on a CPU it does not know (core/blas.c), start again with the right
 * ones named. A user's own OPENBLAS_CORETYPE is left alone, and so the new
 * process never comes back here. If exec fails, run on as we are. */
static void blas_kernels(char **argv) {
  const char *core = qdm_blas_core_fix();
  if (!core || setenv("OPENBLAS_CORETYPE", core, 1)) return;
  execv("/proc/self/exe", argv);
}

static void version(void) {
  const char *forced = getenv("OPENBLAS_CORETYPE");
  printf("qdm %s\nBLAS: %s\n", QDM_VERSION, qdm_blas_config());
  if (forced) printf("OPENBLAS_CORETYPE=%s\n", forced);
}

int main(int argc, char **argv) {
  blas_kernels(argv);
  /* past a file-size limit (ulimit -f) a write fails with EFBIG, which the
   * writers report naming the file, instead of the process dying */
  signal(SIGXFSZ, SIG_IGN);
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "--version")) {
    version();
    return 0;
  }
  /* under mpirun or srun: MPI_Init (a plain qdm stays one process) */
  if (qdm_dist_init()) cli_die("qdm", 1, "%s", qdm_errmsg());
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "qdm: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
