/* classifier_fit.c -- the classifier from a data directory: load, hold out,
 * train, score; and "load it, or make it once" for qdm eval/experiment. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "qdm/eval.h"
#include "qdm/io.h"

int qdm_classifier_fit(const char *data, double heldout, const qdm_classifier_cfg *cfg,
                       const qdm_classifier_train_opts *o, qdm_classifier **out, double *acc, int *n_train) {
  if (!out) return qdm_fail(QDM_EINVAL, "qdm_classifier_fit: out is NULL");
  *out = NULL;
  if (!(heldout >= 0 && heldout < 1)) return qdm_fail(QDM_EINVAL, "qdm_classifier_fit: heldout %g, expected [0, 1)", heldout);
  qdm_classifier_cfg g;
  qdm_classifier_train_opts to;
  qdm_classifier_cfg_default(&g);
  qdm_classifier_train_opts_default(&to);
  if (cfg) g = *cfg;
  if (o) to = *o;
  qdm_dataset all, tr, held;
  memset(&tr, 0, sizeof tr);
  memset(&held, 0, sizeof held);
  int err = qdm_eval_load(data ? data : "mnist", NULL, "train", NULL, 0, &all);
  if (err) return err;
  if (!all.y) err = qdm_fail(QDM_EINVAL, "%s: training a classifier needs labels", data ? data : "mnist");
  if (!err) err = qdm_dataset_split(&all, heldout, to.seed, &tr, &held);
  qdm_dataset_free(&all);
  if (!err && tr.n < 2) err = qdm_fail(QDM_EINVAL, "qdm_classifier_fit: %d training images left after the held-out split", tr.n);
  qdm_classifier *c = err ? NULL : qdm_classifier_new(&g, to.seed);
  if (!err && !c) err = QDM_EINVAL;
  double a = NAN;
  if (!err) err = qdm_classifier_train(c, &tr, held.n > 0 ? &held : NULL, &to, &a);
  if (acc) *acc = a;
  if (n_train) *n_train = tr.n;
  qdm_dataset_free(&tr);
  qdm_dataset_free(&held);
  if (err) qdm_classifier_free(c);
  else *out = c;
  return err;
}

int qdm_classifier_save_fit(const qdm_classifier *c, const char *path, double acc, int n_train, const char *data) {
  if (!c || !path || !*path) return qdm_fail(QDM_EINVAL, "qdm_classifier_save_fit: classifier and path are required");
  char dir[4096];
  int err = QDM_OK;
  if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
    return qdm_fail(QDM_EINVAL, "qdm_classifier_save_fit: path too long: '%s'", path);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) {
    *slash = 0;
    err = qdm_mkdirs(dir);
  }
  char a[32], n[32];
  snprintf(a, sizeof a, "%.6f", acc);
  snprintf(n, sizeof n, "%d", n_train);
  const char *meta[] = {"heldout_accuracy", a, "train_images", n, "data", data ? data : "mnist", NULL};
  return err ? err : qdm_classifier_save(c, path, meta);
}

int qdm_classifier_obtain(const char *path, const char *data, int quiet, qdm_classifier **out) {
  if (!path || !*path || !out) return qdm_fail(QDM_EINVAL, "qdm_classifier_obtain: path and out are required");
  struct stat st;
  if (stat(path, &st) == 0) return qdm_classifier_load(path, out);
  if (!quiet) fprintf(stderr, "qdm: no classifier at %s; training one on %s (about a minute)\n", path, data ? data : "mnist");
  double acc;
  int ntr;
  qdm_classifier_train_opts o;
  qdm_classifier_train_opts_default(&o);
  o.quiet = quiet;
  int err = qdm_classifier_fit(data, 0.1, NULL, &o, out, &acc, &ntr);
  if (err) return err;
  err = qdm_classifier_save_fit(*out, path, acc, ntr, data);
  if (!err && !quiet) fprintf(stderr, "qdm: classifier saved to %s (held-out accuracy %.4f)\n", path, acc);
  if (err) {
    qdm_classifier_free(*out);
    *out = NULL;
  }
  return err;
}
