/* qdm/data.h -- image data in: IDX files (MNIST, Fashion-MNIST, KMNIST;
 * plain or gzip), datasets from a directory, class filters, held-out
 * splits, and the authors' preprocessing (per-image L2 normalisation, then
 * bilinear resize as PyTorch F.interpolate(mode='bilinear',
 * align_corners=False)). Also the IDX writer, so generated images can be
 * saved by `qdm sample` and read back by `qdm eval`. Errors name the file. */
#ifndef QDM_DATA_H
#define QDM_DATA_H
#include <stddef.h>
#include <stdint.h>
#include "qdm/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- IDX files (http://yann.lecun.com/exdb/mnist/): big-endian header,
 * magic 0x00000803 for u8 images n x h x w, 0x00000801 for u8 labels.
 * Read plain or gzip alike; write gzip when the path ends in ".gz".
 * Arrays are malloc'ed for the caller (free()). ---- */
int qdm_idx_read_images(const char *path, uint8_t **pix, int *n, int *h, int *w);
int qdm_idx_read_labels(const char *path, uint8_t **lab, int *n);
/* img: n*h*w floats in [0,1] (clamped, NaN -> 0), stored as round(255 v). */
int qdm_idx_write_images(const char *path, const float *img, int n, int h, int w);
int qdm_idx_write_labels(const char *path, const uint8_t *lab, int n);

/* ---- datasets ---- */
typedef struct {
  int n, h, w;   /* n images of h x w */
  float *x;      /* n*h*w values, image-major, row-major inside an image */
  uint8_t *y;    /* n labels, or NULL when there are none */
} qdm_dataset;
void qdm_dataset_free(qdm_dataset *d); /* frees x and y, zeroes the struct */

/* Directory of the default data: $QDM_DATA_DIR if set, else ./data/mnist if
 * it exists, else data/mnist next to the executable's source tree
 * (<exe>/../data/mnist, <exe>/../../data/mnist), else "data/mnist". */
int qdm_data_dir(char *buf, size_t len);
/* A --data argument: "mnist" -> qdm_data_dir(); "fashion" or
 * "fashion-mnist" -> /usr/share/datasets/fashion-mnist (unless a local
 * directory of that name exists); anything else is a directory path. */
int qdm_data_resolve(const char *name, char *buf, size_t len);
/* The name of class `label` of the dataset a --data argument names, for
 * pictures: Fashion-MNIST's ("T-shirt/top", "Trouser", ..., "Ankle boot")
 * when it names Fashion-MNIST ("fashion", "fashion-mnist", or a path whose
 * last part contains "fashion"), else the label as a number ("0".."9").
 * Writes at most len bytes to buf and returns buf. */
const char *qdm_class_name(const char *data, int label, char *buf, size_t len);
/* "digits" for MNIST-like data, "classes" for Fashion-MNIST: the word for
 * the labels in titles. */
const char *qdm_class_word(const char *data);
/* The image and label files of a split ("train", or "test" = "t10k") in dir:
 * <split>-images-idx3-ubyte[.gz] (also the "-images.idx3-ubyte" spelling). */
int qdm_data_files(const char *dir, const char *split, char *images, char *labels, size_t len);

/* ---- subsets that do not depend on the file's order ----
 * A --limit and a held-out split choose images in one of two ways:
 * QDM_SUBSET_SEEDED (qdm's): every image gets a key, a hash of (seed,
 * label, the image's bytes); each class gives its share of the count
 * (count x its fraction of the images, largest remainders rounded up) as
 * its images of smallest key, and the result is in key order. So the same
 * images in any file order give the same subset, in the same order, for
 * the same seed, and no class is left out of a split. QDM_SUBSET_FIRST:
 * the first N in file order (the authors' code: their "first 8096"). */
typedef enum { QDM_SUBSET_SEEDED = 0, QDM_SUBSET_FIRST = 1 } qdm_subset;
extern const qdm_enum_name qdm_subset_names[]; /* seeded first */

typedef struct {
  const char *dir;     /* directory or name for qdm_data_resolve; NULL: default */
  const char *split;   /* "train" (NULL) or "test" */
  const char *classes; /* e.g. "0,1" or "0-4,7"; NULL, "" or "all": every class */
  long limit;          /* keep `limit` images after filtering (chosen by `subset`); <= 0: all */
  int size;            /* > 0: preprocess to size x size (qdm_preprocess); 0: raw pixel/255 */
  qdm_subset subset;   /* how the images are chosen and ordered (0: seeded) */
  uint64_t seed;       /* the seeded choice's seed */
  uint64_t *id;        /* out (may be NULL): a fingerprint of the chosen images'
                        * file bytes and labels, in their order (never 0) */
} qdm_data_opts;
/* Reads, filters, chooses and preprocesses. With QDM_SUBSET_SEEDED the
 * images come in key order even without a limit (so a run does not depend
 * on the file's order); with QDM_SUBSET_FIRST in file order. Errors:
 * missing files, bad IDX, image and label counts that disagree, no image
 * left after filtering. */
int qdm_data_load(const qdm_data_opts *o, qdm_dataset *d);
/* Images (and optionally labels, NULL: none) from explicit files, as pixel/255, in file order. */
int qdm_dataset_from_idx(const char *images, const char *labels, qdm_dataset *d);

/* classes string -> mask[256] (1 = keep). */
int qdm_parse_classes(const char *classes, unsigned char mask[256]);
/* mask -> the shortest classes string qdm_parse_classes reads back ("0,1",
 * "0-4,7", "" for none); QDM_EINVAL if it does not fit in len. */
int qdm_classes_str(const unsigned char mask[256], char *buf, size_t len);
/* In place: keep images whose label is in `classes`, then, if 0 < limit <
 * the count, the seeded choice of `limit` of them (in key order; the keys
 * hash the images' float values). */
int qdm_dataset_filter(qdm_dataset *d, const char *classes, long limit, uint64_t seed);
/* order[0..n-1]: d's images in a seeded, class-balanced order that does
 * not depend on d's: within each class by key (as qdm_dataset_filter's),
 * the classes interleaved by the fractional positions (j + 1/2) / n_c of
 * their images, so every prefix of m images holds each class's share of m
 * to within one image. For disjoint subsets of one set (qdm_eval_sets). */
int qdm_dataset_order(const qdm_dataset *d, uint64_t seed, int *order);
/* Held-out split: round(heldout * n) images, the seeded class-stratified
 * choice (keys as qdm_dataset_filter's, salted), go to `held`, the rest to
 * `train`, both in key order (new copies; heldout in [0, 1)). With none
 * held out, `train` is d in its order. */
int qdm_dataset_split(const qdm_dataset *d, double heldout, uint64_t seed, qdm_dataset *train, qdm_dataset *held);
/* In place: every image through qdm_preprocess to size x size. */
int qdm_dataset_preprocess(qdm_dataset *d, int size);

/* ---- preprocessing (the authors' pipeline, docs/architecture.md) ---- */
/* Bilinear resize of one h x w image to oh x ow exactly as PyTorch
 * F.interpolate(mode='bilinear', align_corners=False, antialias=False):
 * source coordinate (i + 1/2) h/oh - 1/2, clamped below at 0, neighbours
 * clamped at the last row/column. */
int qdm_resize_bilinear(const float *src, int h, int w, float *dst, int oh, int ow);
/* n images: divide each by its L2 norm (all-zero images stay zero), then
 * resize to oh x ow. src and dst must not overlap. */
int qdm_preprocess(const float *src, int n, int h, int w, float *dst, int oh, int ow);

/* Area averaging: the central (f oh) x (f ow) box of an h x w image, in
 * f x f blocks, to oh x ow (the mean of each block). For MNIST to 8x8,
 * f = 3 keeps the 24x24 box around the 20x20 digit and its strokes. */
int qdm_resize_area(const float *src, int h, int w, int f, double *dst, int oh, int ow);

/* ---- digits without data files ---- */
/* K 8x8 images of `digit` (0..9), K x 64 values, row-major: a fixed 8x8
 * glyph (ink 1, paper 0) under a random shift (+-0.8 px), scale
 * (0.85..1.15), shear (+-0.25) and stroke weight v -> v^(0.6..1), resampled
 * bilinearly, plus faint noise 0.03 |N(0, 1)| on every pixel (so no image
 * is zero). Draws from r. */
int qdm_digit_glyphs(int digit, int K, qdm_rng *r, double *img);

#ifdef __cplusplus
}
#endif
#endif
