/* dataset.c -- datasets from a directory of IDX files: find the files of a
 * split, check that images and labels agree, keep the wanted classes and a
 * subset of them (before converting, so a 2-class run of 1000 images never
 * holds 60,000 images as floats), and preprocess. Subsets (--limit) and
 * held-out splits are seeded, class-stratified choices keyed by each
 * image's content, so they do not depend on the order of the file; the
 * authors' "first N" is kept as a choice (QDM_SUBSET_FIRST). */
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* the last part of the path (trailing slashes dropped) contains "fashion" */
static int names_fashion(const char *data) {
  if (!data) return 0;
  size_t n = strlen(data);
  while (n > 1 && data[n - 1] == '/') n--;
  size_t s = n;
  while (s > 0 && data[s - 1] != '/') s--;
  for (size_t i = s; i + 7 <= n; i++)
    if (!strncasecmp(data + i, "fashion", 7)) return 1;
  return 0;
}

const char *qdm_class_name(const char *data, int label, char *buf, size_t len) {
  static const char *fashion[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  if (!buf || !len) return buf;
  if (names_fashion(data) && label >= 0 && label < 10) snprintf(buf, len, "%s", fashion[label]);
  else snprintf(buf, len, "%d", label);
  return buf;
}

const char *qdm_class_word(const char *data) { return names_fashion(data) ? "classes" : "digits"; }

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

int qdm_classes_str(const unsigned char mask[256], char *buf, size_t len) {
  if (!mask || !buf || len == 0) return qdm_fail(QDM_EINVAL, "qdm_classes_str: mask and buf must be given");
  size_t n = 0;
  buf[0] = 0;
  for (int c = 0; c < 256; c++) {
    if (!mask[c]) continue;
    int e = c;
    while (e + 1 < 256 && mask[e + 1]) e++;
    int k = e > c + 1 ? snprintf(buf + n, len - n, "%s%d-%d", n ? "," : "", c, e)
            : e == c + 1 ? snprintf(buf + n, len - n, "%s%d,%d", n ? "," : "", c, e)
                         : snprintf(buf + n, len - n, "%s%d", n ? "," : "", c);
    if (k < 0 || (size_t)k >= len - n) return qdm_fail(QDM_EINVAL, "qdm_classes_str: %zu characters are too few", len);
    n += (size_t)k;
    c = e;
  }
  return QDM_OK;
}

/* ---------------- subsets that do not depend on the file's order ---------------- */

const qdm_enum_name qdm_subset_names[] = {{"seeded", QDM_SUBSET_SEEDED}, {"first", QDM_SUBSET_FIRST}, {NULL, 0}};

/* An image's key: the seed, its label and its bytes (little-endian 64-bit
 * words) through the splitmix64 finaliser. Equal images get equal keys;
 * different ones collide with probability 2^-64 per pair. */
static uint64_t content_key(uint64_t seed, int label, const unsigned char *b, size_t n) {
  uint64_t h = qdm_mix64(seed ^ 0x243f6a8885a308d3ULL) ^ qdm_mix64((uint64_t)label + 1);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = 0;
    for (int k = 7; k >= 0; k--) w = w << 8 | b[i + k];
    h = qdm_mix64(h ^ w);
  }
  uint64_t w = n;
  for (; i < n; i++) w = w << 8 | b[i];
  return qdm_mix64(h ^ w);
}

typedef struct {
  uint64_t key;
  int row;
} keyed;

/* By key; equal keys are equal images (see content_key), whose order does
 * not change the data, so the row breaks the tie only for qsort. */
static int by_key(const void *a, const void *b) {
  const keyed *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return (x->row > y->row) - (x->row < y->row);
}

/* Each class's share of `count` picks among n rows, cnt[c] of class c:
 * floor(count cnt[c] / n), and one more for the classes with the largest
 * remainders (ties to the smaller label) until the shares add up. */
static void class_quota(const long *cnt, long n, long count, long *quota) {
  long left = count;
  long long rem[256];
  for (int c = 0; c < 256; c++) {
    quota[c] = n ? (long)((long long)count * cnt[c] / n) : 0;
    rem[c] = n ? (long long)count * cnt[c] % n : 0;
    left -= quota[c];
  }
  while (left-- > 0) {
    int best = -1;
    for (int c = 0; c < 256; c++)
      if (cnt[c] > quota[c] && (best < 0 || rem[c] > rem[best])) best = c;
    assert(best >= 0);
    quota[best]++;
    rem[best] = -1;
  }
}

/* The seeded, class-stratified choice of `count` of the n candidates
 * rows[i] (labels lab[rows[i]], lab may be NULL: one class), keys key[i]:
 * each class gives its quota of smallest keys. order receives all n rows in
 * key order, chosen[i] = 1 for the picked ones (i in key order). */
static int stratified(const int *rows, const uint64_t *key, const uint8_t *lab, int n, long count, int *order,
                      unsigned char *chosen) {
  keyed *k = malloc((size_t)(n ? n : 1) * sizeof *k);
  if (!k) return qdm_fail(QDM_ENOMEM, "dataset: out of memory for the keys of %d images", n);
  long cnt[256] = {0}, quota[256], taken[256] = {0};
  for (int i = 0; i < n; i++) {
    k[i] = (keyed){key[i], rows[i]};
    cnt[lab ? lab[rows[i]] : 0]++;
  }
  qsort(k, (size_t)n, sizeof *k, by_key);
  class_quota(cnt, n, count, quota);
  for (int i = 0; i < n; i++) {
    int c = lab ? lab[k[i].row] : 0;
    order[i] = k[i].row;
    chosen[i] = taken[c] < quota[c];
    taken[c] += chosen[i];
  }
  free(k);
  return QDM_OK;
}

/* Indices of the images to keep: those with a label in the mask, then
 * `limit` of them (<= 0: all), by `how`. */
static int select_rows(const uint8_t *pix, size_t px, const uint8_t *lab, int n, const unsigned char *mask, long limit,
                       qdm_subset how, uint64_t seed, int **idx, int *m) {
  *m = 0;
  *idx = malloc((size_t)(n ? n : 1) * sizeof **idx);
  if (!*idx) return qdm_fail(QDM_ENOMEM, "dataset: out of memory");
  int cand = 0;
  for (int i = 0; i < n; i++)
    if (!lab || mask[lab[i]]) (*idx)[cand++] = i;
  long want = limit > 0 && limit < cand ? limit : cand;
  if (how == QDM_SUBSET_FIRST) {
    *m = (int)want;
    return QDM_OK;
  }
  uint64_t *key = malloc((size_t)(cand ? cand : 1) * sizeof *key);
  int *order = malloc((size_t)(cand ? cand : 1) * sizeof *order);
  unsigned char *chosen = malloc(cand ? (size_t)cand : 1);
  int rc = key && order && chosen ? QDM_OK : qdm_fail(QDM_ENOMEM, "dataset: out of memory");
  if (!rc) {
    for (int i = 0; i < cand; i++)
      key[i] = content_key(seed, lab ? lab[(*idx)[i]] : 0, pix + (size_t)(*idx)[i] * px, px);
    rc = stratified(*idx, key, lab, cand, want, order, chosen);
  }
  for (int i = 0; !rc && i < cand; i++)
    if (chosen[i]) (*idx)[(*m)++] = order[i];
  free(key);
  free(order);
  free(chosen);
  return rc;
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
  if (!(rc = select_rows(pix, (size_t)h * w, lab, n, mask, 0, QDM_SUBSET_FIRST, 0, &idx, &m))) {
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
  if (o->subset != QDM_SUBSET_SEEDED && o->subset != QDM_SUBSET_FIRST)
    rc = qdm_fail(QDM_EINVAL, "qdm_data_load: subset %d, expected seeded or first", (int)o->subset);
  else if (!(rc = select_rows(pix, (size_t)h * w, lab, n, mask, o->limit, o->subset, o->seed, &idx, &m))) {
    if (m == 0) rc = qdm_fail(QDM_EINVAL, "%s: no image with a label in classes \"%s\"", labels,
                         o->classes ? o->classes : "all");
    else rc = gather(pix, lab, h, w, idx, m, d);
    uint64_t id = qdm_mix64((uint64_t)m);
    for (int k = 0; !rc && k < m; k++)
      id = qdm_mix64(id ^ content_key(0, lab ? lab[idx[k]] : 0, pix + (size_t)idx[k] * h * w, (size_t)h * w));
    if (!rc && o->id) *o->id = id | 1; /* never 0 */
    free(idx);
  }
  free(pix);
  free(lab);
  if (!rc && o->size > 0) rc = qdm_dataset_preprocess(d, o->size);
  if (rc) qdm_dataset_free(d);
  return rc;
}

/* Keys of a dataset's images: their float bytes, so a dataset made in
 * memory has them too. */
static uint64_t *dataset_keys(const qdm_dataset *d, const int *rows, int n, uint64_t seed) {
  size_t px = (size_t)d->h * d->w;
  uint64_t *key = malloc((size_t)(n ? n : 1) * sizeof *key);
  for (int i = 0; key && i < n; i++)
    key[i] = content_key(seed, d->y ? d->y[rows[i]] : 0, (const unsigned char *)(d->x + (size_t)rows[i] * px),
                         px * sizeof *d->x);
  return key;
}

/* rows order[i] of d with chosen[i] == want, in that order, into o (a new copy) */
static int copy_rows(const qdm_dataset *d, const int *order, const unsigned char *chosen, int n, int want,
                     qdm_dataset *o) {
  size_t px = (size_t)d->h * d->w;
  int m = 0;
  for (int i = 0; i < n; i++) m += !chosen || chosen[i] == want;
  memset(o, 0, sizeof *o);
  o->x = malloc((m ? m : 1) * px * sizeof *o->x);
  o->y = d->y ? malloc(m ? (size_t)m : 1) : NULL;
  if (!o->x || (d->y && !o->y)) {
    qdm_dataset_free(o);
    return qdm_fail(QDM_ENOMEM, "dataset: out of memory for %d images", m);
  }
  for (int i = 0, k = 0; i < n; i++) {
    if (chosen && chosen[i] != want) continue;
    memcpy(o->x + (size_t)k * px, d->x + (size_t)order[i] * px, px * sizeof *o->x);
    if (d->y) o->y[k] = d->y[order[i]];
    k++;
  }
  o->n = m;
  o->h = d->h;
  o->w = d->w;
  return QDM_OK;
}

/* The seeded stratified choice of `count` of d's images: order (d->n rows
 * in key order) and chosen (1 = picked), both malloc'ed. */
static int choose(const qdm_dataset *d, long count, uint64_t seed, int **order, unsigned char **chosen) {
  int n = d->n, *rows = malloc((size_t)(n ? n : 1) * sizeof *rows);
  *order = malloc((size_t)(n ? n : 1) * sizeof **order);
  *chosen = malloc(n ? (size_t)n : 1);
  uint64_t *key = NULL;
  for (int i = 0; rows && i < n; i++) rows[i] = i;
  if (rows) key = dataset_keys(d, rows, n, seed);
  int rc = rows && key && *order && *chosen ? stratified(rows, key, d->y, n, count, *order, *chosen)
                                            : qdm_fail(QDM_ENOMEM, "dataset: out of memory for %d images", n);
  free(rows);
  free(key);
  if (rc) {
    free(*order);
    free(*chosen);
    *order = NULL;
    *chosen = NULL;
  }
  return rc;
}

typedef struct {
  double pos;
  uint64_t key;
  int row;
} placed;

static int by_pos(const void *a, const void *b) {
  const placed *x = a, *y = b;
  if (x->pos != y->pos) return x->pos < y->pos ? -1 : 1;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return (x->row > y->row) - (x->row < y->row);
}

int qdm_dataset_order(const qdm_dataset *d, uint64_t seed, int *order) {
  if (!d || !order || d->n < 0 || (d->n > 0 && !d->x))
    return qdm_fail(QDM_EINVAL, "qdm_dataset_order: d and order must be given");
  int n = d->n, *rows = malloc((size_t)(n ? n : 1) * sizeof *rows), *srt = malloc((size_t)(n ? n : 1) * sizeof *srt);
  unsigned char *all = malloc(n ? (size_t)n : 1);
  placed *p = malloc((size_t)(n ? n : 1) * sizeof *p);
  uint64_t *key = NULL;
  for (int i = 0; rows && i < n; i++) rows[i] = i;
  if (rows) key = dataset_keys(d, rows, n, seed);
  int rc = rows && srt && all && p && key ? stratified(rows, key, d->y, n, n, srt, all)
                                          : qdm_fail(QDM_ENOMEM, "qdm_dataset_order: out of memory");
  if (!rc) {
    /* srt: key order; the j-th image of class c (of n_c) sits at (j + 1/2) / n_c */
    long cnt[256] = {0}, seen[256] = {0};
    for (int i = 0; i < n; i++) cnt[d->y ? d->y[i] : 0]++;
    for (int i = 0; i < n; i++) {
      int r = srt[i], c = d->y ? d->y[r] : 0;
      p[i] = (placed){(seen[c]++ + 0.5) / cnt[c], key[r], r};
    }
    qsort(p, (size_t)n, sizeof *p, by_pos);
    for (int i = 0; i < n; i++) order[i] = p[i].row;
  }
  free(rows); free(srt); free(all); free(p); free(key);
  return rc;
}

int qdm_dataset_filter(qdm_dataset *d, const char *classes, long limit, uint64_t seed) {
  if (!d || (d->n > 0 && !d->x)) return qdm_fail(QDM_EINVAL, "qdm_dataset_filter: d is NULL or empty");
  unsigned char mask[256];
  int rc = qdm_parse_classes(classes, mask);
  if (rc) return rc;
  if (!d->y && classes && *classes && strcmp(classes, "all"))
    return qdm_fail(QDM_EINVAL, "qdm_dataset_filter: classes \"%s\" given but the dataset has no labels", classes);
  size_t px = (size_t)d->h * d->w;
  int m = 0;
  for (int i = 0; i < d->n; i++) {
    if (d->y && !mask[d->y[i]]) continue;
    if (m != i) {
      memmove(d->x + (size_t)m * px, d->x + (size_t)i * px, px * sizeof *d->x);
      if (d->y) d->y[m] = d->y[i];
    }
    m++;
  }
  d->n = m;
  if (limit <= 0 || limit >= m) return QDM_OK;
  int *order;
  unsigned char *chosen;
  qdm_dataset sub;
  if ((rc = choose(d, limit, seed, &order, &chosen))) return rc;
  rc = copy_rows(d, order, chosen, m, 1, &sub);
  free(order);
  free(chosen);
  if (rc) return rc;
  qdm_dataset_free(d);
  *d = sub;
  return QDM_OK;
}

int qdm_dataset_split(const qdm_dataset *d, double heldout, uint64_t seed, qdm_dataset *train, qdm_dataset *held) {
  if (!d || !train || !held || (d->n > 0 && !d->x))
    return qdm_fail(QDM_EINVAL, "qdm_dataset_split: d, train and held must be non-NULL");
  if (!(heldout >= 0 && heldout < 1)) return qdm_fail(QDM_EINVAL, "qdm_dataset_split: heldout = %g (expected [0, 1))", heldout);
  int nh = (int)(heldout * d->n + 0.5), rc;
  memset(held, 0, sizeof *held);
  if (nh == 0) { /* nothing held out: the images as they are */
    int *all = malloc((size_t)(d->n ? d->n : 1) * sizeof *all);
    if (!all) return qdm_fail(QDM_ENOMEM, "qdm_dataset_split: out of memory");
    for (int i = 0; i < d->n; i++) all[i] = i;
    rc = copy_rows(d, all, NULL, d->n, 1, train);
    free(all);
    if (!rc) rc = copy_rows(d, NULL, NULL, 0, 1, held);
    if (rc) qdm_dataset_free(train);
    return rc;
  }
  int *order;
  unsigned char *chosen;
  /* a salt of its own, so that a split of a seeded subset is not the
   * subset's own smallest keys */
  if ((rc = choose(d, nh, seed ^ 0x5b11750f1e1d0ULL, &order, &chosen))) return rc;
  rc = copy_rows(d, order, chosen, d->n, 0, train);
  if (!rc && (rc = copy_rows(d, order, chosen, d->n, 1, held))) qdm_dataset_free(train);
  free(order);
  free(chosen);
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
