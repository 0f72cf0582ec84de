/* qdm/experiment.h -- the application layer: named sets of training runs
 * (the report's ablations, presets, qubit counts, seeds), each trained with
 * qdm/train.h, sampled and scored with qdm/eval.h, and assembled into a
 * markdown table and a picture grid. */
#ifndef QDM_EXPERIMENT_H
#define QDM_EXPERIMENT_H
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  char sets[256];        /* comma list of set names, or "all" */
  char out[1024];        /* output directory */
  char data[1024];       /* training data (qdm_data_resolve) */
  char reference[1024];  /* real reference: directory/IDX; "" = test split of data if any, else train */
  char classifier[1024]; /* classifier file; trained and saved there if missing */
  int quick;             /* reduced configuration */
  int seeds;             /* seeds per run (1) */
  int epochs;            /* > 0: override every run's epochs */
  long limit;            /* > 0: override every run's image limit */
  int n_eval;            /* generated images per class (0: 500, quick 100) */
  int threads;
  int quiet;
  int dry_run;           /* list the runs, train nothing */
  char preset[16];       /* "": as each set says; else the runs on qdm's default recipe use this
                          * training preset (e.g. fashion) and its classes instead */
} qdm_experiment_opts;
void qdm_experiment_opts_default(qdm_experiment_opts *o);
/* Checks the options (set names, counts) without running anything. */
int qdm_experiment_check(const qdm_experiment_opts *o);
/* The names and one-line descriptions of the sets, for --help. */
void qdm_experiment_list(FILE *f);
/* Trains (or reuses, when a run directory already holds its summary), samples
 * and evaluates every run of the sets; writes into out: runs/<name>-s<seed>/,
 * results.json, results.md (the table) and grid.png (one row per run). */
int qdm_experiment_run(const qdm_experiment_opts *o);

#ifdef __cplusplus
}
#endif
#endif
