/* fuzz_classifier.c -- qdm_classifier_load (the feature extractor of qdm
 * eval) on the input as a file; a loaded classifier must also run: one
 * prediction on a blank image gives probabilities that sum to 1. */
#include <math.h>
#include "fuzz_file.h"
#include "qdm/eval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(data, size);
  qdm_classifier *c = NULL;
  int rc = qdm_classifier_load(path, &c);
  fuzz_check_msg(rc, path);
  if (rc) {
    if (c) abort();
    return 0;
  }
  const qdm_classifier_cfg *g = qdm_classifier_config(c);
  float *x = calloc((size_t)g->side * g->side, sizeof *x);
  double *p = malloc((size_t)g->classes * sizeof *p), s = 0;
  double *f = malloc((size_t)qdm_classifier_features_dim(c) * sizeof *f);
  if (qdm_classifier_predict(c, x, 1, p, f)) abort();
  for (int k = 0; k < g->classes; k++) s += p[k];
  /* weights from the file may be NaN or huge: then so is the sum */
  if (isfinite(s) && fabs(s - 1) > 1e-9) abort();
  free(x);
  free(p);
  free(f);
  qdm_classifier_free(c);
  return 0;
}
