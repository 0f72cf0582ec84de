/* eval_images.c -- one canonical form for every image that is measured
 * (real or generated), and loading image sets for evaluation. */
#define _DEFAULT_SOURCE /* realpath */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "qdm/eval.h"
#include "qdm/core.h"

/* The map is idempotent on its own output: L2-normalising and resizing a
 * 16 x 16 image to 16 x 16 leave its shape, the max-scaling undoes the
 * normalisation's factor, and rounding to the byte grid is exact the second
 * time. So generated IDX files pass through unchanged, up to the float
 * rounding of (k/255) / max, which the final rounding removes. */
int qdm_eval_canonical(const float *src, int n, int h, int w, float *dst) {
  if (!src || !dst) return qdm_fail(QDM_EINVAL, "qdm_eval_canonical: src and dst must be non-NULL");
  if (n < 1 || h < 1 || w < 1) return qdm_fail(QDM_EINVAL, "qdm_eval_canonical: n, h, w must be >= 1 (got %d, %d, %d)", n, h, w);
  if (src == dst) return qdm_fail(QDM_EINVAL, "qdm_eval_canonical: src and dst must not overlap");
  const int S = QDM_EVAL_SIDE, D = S * S;
  int err = qdm_preprocess(src, n, h, w, dst, S, S);
  if (err) return err;
  for (int i = 0; i < n; i++) {
    float *x = dst + (size_t)i * D, mx = 0;
    for (int k = 0; k < D; k++) mx = x[k] > mx ? x[k] : mx;
    for (int k = 0; k < D; k++) {
      float v = mx > 0 ? x[k] / mx : 0.0f;
      v = v < 0 ? 0 : v > 1 ? 1 : v;
      x[k] = roundf(v * 255.0f) / 255.0f;
    }
  }
  return QDM_OK;
}

int qdm_eval_canonical_dataset(qdm_dataset *d) {
  if (!d || !d->x || d->n < 1) return qdm_fail(QDM_EINVAL, "qdm_eval_canonical_dataset: empty dataset");
  const int D = QDM_EVAL_SIDE * QDM_EVAL_SIDE;
  float *y = malloc((size_t)d->n * D * sizeof(float));
  if (!y) return qdm_fail(QDM_ENOMEM, "qdm_eval_canonical_dataset: out of memory for %d images", d->n);
  int err = qdm_eval_canonical(d->x, d->n, d->h, d->w, y);
  if (err) {
    free(y);
    return err;
  }
  free(d->x);
  d->x = y;
  d->h = d->w = QDM_EVAL_SIDE;
  return QDM_OK;
}

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* ".../x-images-idx3-ubyte.gz" -> ".../x-labels-idx1-ubyte.gz" if present. */
static int labels_beside(const char *images, char *out, size_t len) {
  const char *m = strstr(images, "images-idx3");
  if (!m || strlen(images) >= len) return 0;
  size_t pre = (size_t)(m - images);
  snprintf(out, len, "%.*slabels-idx1%s", (int)pre, images, m + strlen("images-idx3"));
  return exists(out);
}

static int load_file(const char *path, const char *labels, qdm_dataset *d) {
  char lab[4096];
  const char *lp = labels;
  if (!lp && labels_beside(path, lab, sizeof lab)) lp = lab;
  return qdm_dataset_from_idx(path, lp, d);
}

/* the image and label files of a split of a data directory; split NULL:
 * test if the directory has one, else train */
static int dir_files(const char *name, const char *split, char *im, char *lb, size_t len) {
  char dir[4096];
  int err = qdm_data_resolve(name, dir, sizeof dir);
  if (err) return err;
  if (!split) split = qdm_data_files(dir, "test", im, lb, len) == QDM_OK ? "test" : "train";
  return qdm_data_files(dir, split, im, lb, len);
}

static int load_dir(const char *name, const char *split, qdm_dataset *d) {
  char im[4096], lb[4096];
  int err = dir_files(name, split, im, lb, sizeof im);
  return err ? err : qdm_dataset_from_idx(im, lb, d);
}

int qdm_eval_source(const char *path, const char *split, char *images, size_t len) {
  if (!path || !*path || !images || len == 0) return qdm_fail(QDM_EINVAL, "qdm_eval_source: path and images are required");
  char im[4096], lb[4096];
  int err = exists(path) ? (snprintf(im, sizeof im, "%s", path), QDM_OK) : dir_files(path, split, im, lb, sizeof im);
  if (err) return err;
  char *r = realpath(im, NULL);
  if (!r) return qdm_fail(QDM_EIO, "%s: cannot resolve the path", im);
  if (strlen(r) >= len) err = qdm_fail(QDM_EINVAL, "qdm_eval_source: path longer than %zu bytes", len - 1);
  else strcpy(images, r);
  free(r);
  return err;
}

int qdm_eval_load(const char *path, const char *labels, const char *split, const char *classes, long limit,
                  qdm_dataset *d) {
  if (!path || !*path || !d) return qdm_fail(QDM_EINVAL, "qdm_eval_load: path and d must be given");
  memset(d, 0, sizeof *d);
  int err = exists(path) ? load_file(path, labels, d) : load_dir(path, split, d);
  if (err) return err;
  int want = classes && *classes && strcmp(classes, "all");
  if (want && !d->y) err = qdm_fail(QDM_EINVAL, "%s: a class filter (\"%s\") needs labels, and none were found", path, classes);
  if (!err && (want || limit > 0)) err = qdm_dataset_filter(d, classes, limit, 0);
  if (!err && d->n < 1) err = qdm_fail(QDM_EINVAL, "%s: no image left after the class filter \"%s\"", path, classes ? classes : "all");
  if (!err) err = qdm_eval_canonical_dataset(d);
  if (err) qdm_dataset_free(d);
  return err;
}
