/* dataset.c -- datasets from a directory of IDX files: find the files of a
 * split, check that images and labels agree, keep the wanted classes and the
 * first N of them (before converting, so a 2-class run of 1000 images never
 * holds 60,000 images as floats), and preprocess. Splits are deterministic:
 * the held-out part is the tail of the (filtered) file order. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "qdm/data.h"
#include "qdm/core.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

void qdm_dataset_free(qdm_dataset *d) {
  if (!d) return;
  free(d->x);
  free(d->y);
  memset(d, 0, sizeof *d);
}

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int copy_out(char *buf, size_t len, const char *s) {
  if (strlen(s) >= len) return qdm_fail(QDM_EINVAL, "data directory name '%s' longer than the buffer (%zu)", s, len);
  memcpy(buf, s, strlen(s) + 1);
  return QDM_OK;
}

int qdm_data_dir(char *buf, size_t len) {
  if (!buf || len == 0) return qdm_fail(QDM_EINVAL, "qdm_data_dir: buf is NULL or len is 0");
  const char *env = getenv("QDM_DATA_DIR");
  if (env && *env) return copy_out(buf, len, env);
  if (is_dir("data/mnist")) return copy_out(buf, len, "data/mnist");
  /* A build directory inside the repository: <repo>/build/qdm. */
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 32);
  if (n > 0) {
    exe[n] = 0;
    char *s = strrchr(exe, '/');
    for (int up = 1; s && up <= 2; up++) {
      *s = 0;
      s = strrchr(exe, '/');
      if (!s) break;
      char cand[4200];
      snprintf(cand, sizeof cand, "%.*s/data/mnist", (int)(s - exe), exe);
      if (is_dir(cand)) return copy_out(buf, len, cand);
    }
  }
  return copy_out(buf, len, "data/mnist");
}

int qdm_data_resolve(const char *name, char *buf, size_t len) {
  if (!buf || len == 0) return qdm_fail(QDM_EINVAL, "qdm_data_resolve: buf is NULL or len is 0");
  if (!name || !*name || !strcmp(name, "mnist")) return qdm_data_dir(buf, len);
  if ((!strcmp(name, "fashion") || !strcmp(name, "fashion-mnist")) && !is_dir(name))
    return copy_out(buf, len, FASHION_DIR);
  return copy_out(buf, len, name);
}

/* First existing file among the spellings of <prefix>-<kind>-ubyte:
 * "images-idx3" as shipped, or "images.idx3" as some mirrors rename it;
 * gzip preferred. */
static int find_file(const char *dir, const char *prefix, const char *kind, char *out, size_t len) {
  char alt[32];
  snprintf(alt, sizeof alt, "%s", kind);
  char *dash = strchr(alt, '-');
  if (dash) *dash = '.';
  const char *kinds[2] = {kind, alt}, *ext[2] = {".gz", ""};
  for (int k = 0; k < 2; k++)
    for (int e = 0; e < 2; e++) {
      int m = snprintf(out, len, "%s/%s-%s-ubyte%s", dir, prefix, kinds[k], ext[e]);
      if (m > 0 && (size_t)m < len && is_file(out)) return QDM_OK;
    }
  return qdm_fail(QDM_EIO, "no %s-%s-ubyte[.gz] in %s (run scripts/setup.sh, or give another data directory)", prefix,
                  kind, dir);
}

int qdm_data_files(const char *dir, const char *split, char *images, char *labels, size_t len) {
  if (!dir || !*dir || !images || !labels || len == 0)
    return qdm_fail(QDM_EINVAL, "qdm_data_files: dir, images and labels must be non-NULL, len > 0");
  const char *prefix;
  if (!split || !strcmp(split, "train")) prefix = "train";
  else if (!strcmp(split, "test") || !strcmp(split, "t10k")) prefix = "t10k";
  else return qdm_fail(QDM_EINVAL, "split '%s' (expected train or test)", split);
  struct stat st;
  if (stat(dir, &st) != 0)
    return qdm_fail(QDM_EIO, "data directory %s: %s (expected a directory of IDX files, or mnist or fashion)", dir,
                    strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return qdm_fail(QDM_EIO, "data directory %s is not a directory: expected one holding %s-images-idx3-ubyte[.gz] and "
                    "%s-labels-idx1-ubyte[.gz]", dir, prefix, prefix);
  int rc = find_file(dir, prefix, "images-idx3", images, len);
  if (!rc) rc = find_file(dir, prefix, "labels-idx1", labels, len);
  return rc;
}

int qdm_parse_classes(const char *classes, unsigned char mask[256]) {
  if (!mask) return qdm_fail(QDM_EINVAL, "qdm_parse_classes: mask is NULL");
  int all = !classes || !*classes || !strcmp(classes, "all");
  memset(mask, all, 256);
  if (all) return QDM_OK;
  const char *p = classes;
  for (;;) {
    char *e;
    long a = strtol(p, &e, 10), b = a;
    if (e == p || a < 0 || a > 255) break;
    p = e;
    if (*p == '-') {
      b = strtol(p + 1, &e, 10);
      if (e == p + 1 || b < a || b > 255) break;
      p = e;
    }
    for (long c = a; c <= b; c++) mask[c] = 1;
    if (*p == 0) return QDM_OK;
    if (*p != ',') break;
    p++;
  }
  return qdm_fail(QDM_EINVAL, "classes \"%s\": expected labels 0..255 like \"0,1\" or \"0-4,7\" or \"all\"", classes);
}

/* Indices of the images to keep, in file order. */
static int select_rows(const uint8_t *lab, int n, const unsigned char *mask, long limit, int **idx, int *m) {
  *m = 0;
  *idx = malloc((size_t)(n ? n : 1) * sizeof **idx);
  if (!*idx) return qdm_fail(QDM_ENOMEM, "dataset: out of memory");
  *m = 0;
  for (int i = 0; i < n && (limit <= 0 || *m < limit); i++)
    if (!lab || mask[lab[i]]) (*idx)[(*m)++] = i;
  return QDM_OK;
}

/* Raw bytes of the kept rows as pixel/255, labels alongside. */
static int gather(const uint8_t *pix, const uint8_t *lab, int h, int w, const int *idx, int m, qdm_dataset *d) {
  size_t px = (size_t)h * w;
  d->x = malloc((m ? m : 1) * px * sizeof *d->x);
  d->y = lab ? malloc(m ? (size_t)m : 1) : NULL;
  if (!d->x || (lab && !d->y)) {
    qdm_dataset_free(d);
    return qdm_fail(QDM_ENOMEM, "dataset: out of memory for %d images", m);
  }
  for (int k = 0; k < m; k++) {
    const uint8_t *s = pix + (size_t)idx[k] * px;
    float *o = d->x + (size_t)k * px;
    for (size_t i = 0; i < px; i++) o[i] = s[i] / 255.0f;
    if (lab) d->y[k] = lab[idx[k]];
  }
  d->n = m;
  d->h = h;
  d->w = w;
  return QDM_OK;
}

/* Reads both files and checks that they describe the same images. */
static int read_pair(const char *images, const char *labels, uint8_t **pix, uint8_t **lab, int *n, int *h, int *w) {
  *lab = NULL;
  int rc = qdm_idx_read_images(images, pix, n, h, w);
  if (rc || !labels) return rc;
  int nl;
  if ((rc = qdm_idx_read_labels(labels, lab, &nl))) {
    free(*pix);
    *pix = NULL;
    return rc;
  }
  if (nl != *n) {
    free(*pix);
    free(*lab);
    *pix = *lab = NULL;
    return qdm_fail(QDM_EFORMAT, "%s has %d images but %s has %d labels", images, *n, labels, nl);
  }
  return QDM_OK;
}

int qdm_dataset_from_idx(const char *images, const char *labels, qdm_dataset *d) {
  if (!d) return qdm_fail(QDM_EINVAL, "qdm_dataset_from_idx: d is NULL");
  memset(d, 0, sizeof *d);
  uint8_t *pix, *lab;
  int n, h, w, *idx, m, rc = read_pair(images, labels, &pix, &lab, &n, &h, &w);
  if (rc) return rc;
  unsigned char mask[256];
  memset(mask, 1, sizeof mask);
  if (!(rc = select_rows(lab, n, mask, 0, &idx, &m))) {
    rc = gather(pix, lab, h, w, idx, m, d);
    free(idx);
  }
  free(pix);
  free(lab);
  return rc;
}

int qdm_data_load(const qdm_data_opts *o, qdm_dataset *d) {
  if (!o || !d) return qdm_fail(QDM_EINVAL, "qdm_data_load: options and dataset must be non-NULL");
  memset(d, 0, sizeof *d);
  if (o->size < 0 || o->size > 4096) return qdm_fail(QDM_EINVAL, "qdm_data_load: size = %d (expected 0..4096)", o->size);
  unsigned char mask[256];
  int rc = qdm_parse_classes(o->classes, mask);
  if (rc) return rc;
  char dir[4096], images[4200], labels[4200];
  if ((rc = qdm_data_resolve(o->dir, dir, sizeof dir))) return rc;
  if ((rc = qdm_data_files(dir, o->split, images, labels, sizeof images))) return rc;
  uint8_t *pix, *lab;
  int n, h, w, *idx, m;
  if ((rc = read_pair(images, labels, &pix, &lab, &n, &h, &w))) return rc;
  if (!(rc = select_rows(lab, n, mask, o->limit, &idx, &m))) {
    if (m == 0) rc = qdm_fail(QDM_EINVAL, "%s: no image with a label in classes \"%s\"", labels,
                         o->classes ? o->classes : "all");
    else rc = gather(pix, lab, h, w, idx, m, d);
    free(idx);
  }
  free(pix);
  free(lab);
  if (!rc && o->size > 0) rc = qdm_dataset_preprocess(d, o->size);
  if (rc) qdm_dataset_free(d);
  return rc;
}

int qdm_dataset_filter(qdm_dataset *d, const char *classes, long limit) {
  if (!d || (d->n > 0 && !d->x)) return qdm_fail(QDM_EINVAL, "qdm_dataset_filter: d is NULL or empty");
  unsigned char mask[256];
  int rc = qdm_parse_classes(classes, mask);
  if (rc) return rc;
  if (!d->y && classes && *classes && strcmp(classes, "all"))
    return qdm_fail(QDM_EINVAL, "qdm_dataset_filter: classes \"%s\" given but the dataset has no labels", classes);
  size_t px = (size_t)d->h * d->w;
  int m = 0;
  for (int i = 0; i < d->n && (limit <= 0 || m < limit); i++) {
    if (d->y && !mask[d->y[i]]) continue;
    if (m != i) {
      memmove(d->x + (size_t)m * px, d->x + (size_t)i * px, px * sizeof *d->x);
      if (d->y) d->y[m] = d->y[i];
    }
    m++;
  }
  d->n = m;
  return QDM_OK;
}

static int copy_rows(const qdm_dataset *d, int from, int m, qdm_dataset *o) {
  size_t px = (size_t)d->h * d->w;
  memset(o, 0, sizeof *o);
  o->x = malloc((m ? m : 1) * px * sizeof *o->x);
  o->y = d->y ? malloc(m ? (size_t)m : 1) : NULL;
  if (!o->x || (d->y && !o->y)) {
    qdm_dataset_free(o);
    return qdm_fail(QDM_ENOMEM, "qdm_dataset_split: out of memory");
  }
  if (m) memcpy(o->x, d->x + (size_t)from * px, (size_t)m * px * sizeof *o->x);
  if (d->y && m) memcpy(o->y, d->y + from, (size_t)m);
  o->n = m;
  o->h = d->h;
  o->w = d->w;
  return QDM_OK;
}

int qdm_dataset_split(const qdm_dataset *d, double heldout, qdm_dataset *train, qdm_dataset *held) {
  if (!d || !train || !held || (d->n > 0 && !d->x))
    return qdm_fail(QDM_EINVAL, "qdm_dataset_split: d, train and held must be non-NULL");
  if (!(heldout >= 0 && heldout < 1)) return qdm_fail(QDM_EINVAL, "qdm_dataset_split: heldout = %g (expected [0, 1))", heldout);
  int nh = (int)(heldout * d->n + 0.5);
  int rc = copy_rows(d, 0, d->n - nh, train);
  if (rc) return rc;
  if ((rc = copy_rows(d, d->n - nh, nh, held))) qdm_dataset_free(train);
  return rc;
}

int qdm_dataset_preprocess(qdm_dataset *d, int size) {
  if (!d || (d->n > 0 && !d->x) || size < 1)
    return qdm_fail(QDM_EINVAL, "qdm_dataset_preprocess: d is NULL or size = %d (expected >= 1)", size);
  float *o = malloc((d->n ? (size_t)d->n : 1) * size * size * sizeof *o);
  if (!o) return qdm_fail(QDM_ENOMEM, "qdm_dataset_preprocess: out of memory for %d images", d->n);
  int rc = qdm_preprocess(d->x, d->n, d->h, d->w, o, size, size);
  if (rc) {
    free(o);
    return rc;
  }
  free(d->x);
  d->x = o;
  d->h = d->w = size;
  return QDM_OK;
}
