/* qdm/eval.h -- measuring generated images: a digit classifier
 * trained in qdm, and in its feature space the Frechet distance with its
 * real-vs-real floor, the classifier score, the class histogram, precision
 * and recall (Kynkaanniemi et al. 2019) and a memorisation check. (The experiment
 * runner that turns the report's claims into tables is qdm/experiment.h.)
 *
 * One rule makes the numbers comparable: every image, real or generated,
 * goes through qdm_eval_canonical before the classifier sees it (see there).
 * Feature vectors are rows of doubles (n x d, row-major). */
#ifndef QDM_EVAL_H
#define QDM_EVAL_H
#include <stdint.h>
#include <stdio.h>
#include "qdm/data.h"
#include "qdm/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the canonical image form (16 x 16, values k/255 in [0, 1]) ----
 * Real images take the authors' preprocessing (qdm_preprocess: per-image L2
 * normalisation, bilinear resize to 16 x 16); `qdm sample` writes |z| scaled
 * to max 1 and stored as bytes. To treat both alike, every image is mapped
 * by: L2-normalise, bilinear resize to 16 x 16 (the identity when it already
 * is 16 x 16), divide by its maximum (all-zero images stay zero), round to a
 * multiple of 1/255 (the IDX byte grid). A generated IDX file is therefore a
 * fixed point of the map, and a real image gets exactly the values it would
 * have if it had been written by `qdm sample`. */
#define QDM_EVAL_SIDE 16
int qdm_eval_canonical(const float *src, int n, int h, int w, float *dst); /* dst: n x 256 */
/* In place on a dataset (any size; afterwards 16 x 16, canonical). */
int qdm_eval_canonical_dataset(qdm_dataset *d);
/* A set of images from `path`: an IDX image file (labels from `labels` if
 * non-NULL, else from the matching "-labels-idx1" file beside it if there is
 * one), or a data directory / name (qdm_data_resolve) with split "train",
 * "test" or NULL (= test if the directory has one, else train). Class filter
 * `classes` (NULL/"all": all; needs labels), then `limit` of them (<= 0:
 * all) by qdm_dataset_filter's seeded class-stratified choice with seed 0,
 * which does not depend on the file's order, then canonical form. */
int qdm_eval_load(const char *path, const char *labels, const char *split, const char *classes, long limit,
                  qdm_dataset *d);
/* The image file qdm_eval_load(path, ..., split, ...) reads, as an absolute
 * path (realpath), so two sources can be compared. */
int qdm_eval_source(const char *path, const char *split, char *images, size_t len);

/* ---- classifier (the feature extractor) ----
 * A small CNN on canonical 16 x 16 images (NHWC activations):
 *   conv3x3(1 -> c1) ReLU maxpool2   16x16 -> 8x8
 *   conv3x3(c1 -> c2) ReLU maxpool2   8x8 -> 4x4
 *   Linear(16 c2 -> hidden) ReLU     = the feature vector (penultimate layer)
 *   Linear(hidden -> classes)        = logits, softmax = p(y|x)
 * c1 = 0 drops both conv stages (an MLP: Linear(256 -> hidden) first). */
typedef struct {
  int side;      /* input side (16) */
  int classes;   /* 10 */
  int c1, c2;    /* conv channels (32, 64); c1 = 0: MLP */
  int hidden;    /* feature width (128) */
} qdm_classifier_cfg;
void qdm_classifier_cfg_default(qdm_classifier_cfg *c);

typedef struct qdm_classifier qdm_classifier;
/* Parameters initialised as PyTorch does (uniform +-1/sqrt(fan_in)) from seed. */
qdm_classifier *qdm_classifier_new(const qdm_classifier_cfg *cfg, uint64_t seed);
void qdm_classifier_free(qdm_classifier *c);
const qdm_classifier_cfg *qdm_classifier_config(const qdm_classifier *c);
size_t qdm_classifier_nparams(const qdm_classifier *c);
int qdm_classifier_features_dim(const qdm_classifier *c);

typedef struct {
  int epochs;        /* 12 */
  int batch;         /* 64 */
  double lr;         /* Adam, 2e-3, cosine-decayed to 0 over the run */
  double weight_decay; /* AdamW decoupled decay (1e-4) */
  int shift;         /* augmentation: random translation by up to `shift` pixels (1) */
  uint64_t seed;
  int quiet;         /* 0: one progress line per epoch on stderr */
} qdm_classifier_train_opts;
void qdm_classifier_train_opts_default(qdm_classifier_train_opts *o);
/* Trains on canonical images with labels. val (may be NULL) is scored after
 * every epoch; *val_acc (may be NULL) receives the final accuracy on it. */
int qdm_classifier_train(qdm_classifier *c, const qdm_dataset *train, const qdm_dataset *val,
                         const qdm_classifier_train_opts *o, double *val_acc);
/* n canonical images -> probs (n x classes) and/or feats (n x hidden);
 * either may be NULL. Deterministic, batched internally. */
int qdm_classifier_predict(qdm_classifier *c, const float *x, int n, double *probs, double *feats);
/* Fraction of d's images whose argmax p(y|x) equals the label. */
int qdm_classifier_accuracy(qdm_classifier *c, const qdm_dataset *d, double *acc);
/* safetensors: the weights plus metadata (architecture; meta: extra
 * NULL-terminated key, value pairs, may be NULL). */
int qdm_classifier_save(const qdm_classifier *c, const char *path, const char *const *meta);
int qdm_classifier_load(const char *path, qdm_classifier **out);

/* Trains a classifier on the train split of `data` (directory, name or IDX
 * file, through qdm_eval_load), a `heldout` fraction kept out (the
 * seeded class-stratified qdm_dataset_split, seed o->seed) and scored: *acc (may be NULL) gets that accuracy,
 * *n_train (may be NULL) the training-set size. cfg/o NULL: defaults. */
int qdm_classifier_fit(const char *data, double heldout, const qdm_classifier_cfg *cfg,
                       const qdm_classifier_train_opts *o, qdm_classifier **out, double *acc, int *n_train);
/* qdm_classifier_save of a fitted classifier with the fit's metadata
 * (heldout_accuracy, train_images, data; data NULL: "mnist"), making the
 * file's directory first. */
int qdm_classifier_save_fit(const qdm_classifier *c, const char *path, double acc, int n_train, const char *data);
/* Loads `path`; if no such file exists, fits one with the defaults on
 * `data` (NULL: the default data), saves it to `path` and says so on
 * stderr unless quiet. */
int qdm_classifier_obtain(const char *path, const char *data, int quiet, qdm_classifier **out);

/* ---- the classifier's layers (forward and backward side by side; same
 * gradient conventions as qdm/nn.h: dx written, parameter gradients
 * accumulated, NULL for outputs not needed) ---- */
/* Softmax cross-entropy, batch mean: L = -(1/B) sum_r log p_r[y_r],
 * p = softmax(logits) (max-shifted). dlogits = (p - onehot(y)) / B.
 * prob (B x C) and dlogits may be NULL. */
int qdm_softmax_xent(double *loss, double *prob, double *dlogits, const double *logits, const uint8_t *y,
                     int B, int C);
/* 3x3 convolution, stride 1, zero padding 1, NHWC: x (B,H,W,Cin) ->
 * y (B,H,W,Cout). W is Cout x (9 Cin), column index (3 di + dj) Cin + ci
 * (kernel row, column, input channel). cols (B H W x 9 Cin) is scratch
 * written by forward (im2col) and read by backward; backward also needs
 * dcols scratch of the same size. */
int qdm_conv3x3_forward(double *y, double *cols, const double *x, const double *W, const double *b, int B,
                        int H, int Wd, int Cin, int Cout);
int qdm_conv3x3_backward(double *dx, double *dW, double *db, double *dcols, const double *dy,
                         const double *cols, const double *W, int B, int H, int Wd, int Cin, int Cout);
/* 2x2 max pooling, stride 2, NHWC (H, W even). arg (B H/2 W/2 C) records
 * the winning input index for backward (first maximum on ties). */
int qdm_maxpool2_forward(double *y, int *arg, const double *x, int B, int H, int W, int C);
int qdm_maxpool2_backward(double *dx, const double *dy, const int *arg, int B, int H, int W, int C);

/* ---- statistics of feature sets ---- */
/* Mean (d) and unbiased covariance (d x d, divisor n - 1; n >= 2). */
int qdm_mean_cov(const double *X, int n, int d, double *mu, double *cov);
/* Principal square root of a symmetric positive semi-definite d x d matrix
 * via its eigen-decomposition A = V diag(l) V^T (LAPACKE dsyevd):
 * S = V diag(sqrt(max(l, 0))) V^T, so S = S^T and S S = A up to the
 * clipping of rounding-negative eigenvalues. */
int qdm_sqrtm_psd(const double *A, int d, double *S);
/* Frechet distance between N(mu1, S1) and N(mu2, S2):
 *   FD = ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2).
 * The product form S1^1/2 S2 S1^1/2 is symmetric PSD and similar to S1 S2,
 * so its square root has the trace tr((S1 S2)^1/2) of the usual FID formula
 * while needing only symmetric eigen-decompositions: S1^1/2 from one, then
 * the eigenvalues l of the product, tr(.)^1/2 = sum sqrt(max(l, 0)).
 * Result clamped at 0 (it is >= 0 exactly; rounding can give -1e-13). */
int qdm_frechet(const double *mu1, const double *S1, const double *mu2, const double *S2, int d, double *fd);
/* The same from two sets of feature rows (n1, n2 >= 2). */
int qdm_frechet_sets(const double *X1, int n1, const double *X2, int n2, int d, double *fd);
/* Classifier score (the Inception-score formula on our classifier):
 * exp( (1/n) sum_i KL(p(y|x_i) || p(y)) ), p(y) = (1/n) sum_i p(y|x_i).
 * 1 for a set the classifier sees as one class, up to C for confident,
 * balanced predictions over C classes. */
int qdm_classifier_score(const double *probs, int n, int C, double *score);
/* hist[c] = number of rows whose argmax is c (first maximum on ties). */
int qdm_class_histogram(const double *probs, int n, int C, long *hist);

/* ---- nearest neighbours (Euclidean; distance matrices by dgemm in blocks) ---- */
/* For each of n rows of X: distance to its k-th nearest other row of X
 * (the point itself excluded by index, duplicates count); 1 <= k < n. */
int qdm_knn_radius(const double *X, int n, int d, int k, double *radius);
/* Improved precision and recall (Kynkaanniemi et al. 2019): the real
 * manifold is the union of balls around each real feature with its k-NN
 * radius among the reals; precision = fraction of generated features inside
 * it. Recall swaps the roles (generated manifold, fraction of reals inside).
 * A point on a ball's boundary counts as inside (identical sets give 1, 1). */
int qdm_precision_recall(const double *real, int nr, const double *gen, int ng, int d, int k,
                         double *precision, double *recall);
/* Density and coverage (Naeem et al. 2020, "Reliable Fidelity and
 * Diversity Metrics for Generative Models"), on the real k-NN balls above:
 * density = (1 / (k ng)) sum over generated features of the number of real
 * balls holding it (about 1 when the generated set is distributed like the
 * reals; it can exceed 1), coverage = the fraction of real balls holding at
 * least one generated feature. A few real outliers have large balls: a set
 * collapsed into one of them gets precision 1 but density about 1/k and
 * coverage about 1/nr (docs/metrics.md). */
int qdm_density_coverage(const double *real, int nr, const double *gen, int ng, int d, int k, double *density,
                         double *coverage);
/* For each query row, the distance to its nearest row of ref; mean over
 * queries in *mean, per-query values in per (may be NULL). skip_zero = 1
 * ignores exact matches (distance 0), i.e. leave-one-out when the queries
 * are themselves rows of ref. */
int qdm_nn_distance(const double *query, int nq, const double *ref, int nr, int d, int skip_zero, double *mean,
                    double *per);

/* ---- the whole evaluation ---- */
typedef struct {
  int k;            /* k of the k-NN manifolds (3) */
  int max_n;        /* cap on the compared set size (0: no cap) */
  uint64_t seed;    /* which real images form the disjoint subsets */
  int ref_in_train; /* the reference images are part of `train`: the held-out
                       memorisation figure is then leave-one-out */
} qdm_eval_opts;
void qdm_eval_opts_default(qdm_eval_opts *o);

#define QDM_EVAL_MAXC 64
typedef struct {
  int n;                 /* images per compared set (generated subset, real A, real B) */
  int n_images, n_reference, n_train; /* sizes given */
  int features;          /* feature width */
  double fid;            /* FD(generated, real A) */
  double fid_floor;      /* FD(real B, real A), two disjoint real sets of size n */
  double classifier_score, classifier_score_real; /* generated; real A */
  int classes;
  long class_histogram[QDM_EVAL_MAXC];      /* predicted classes of the generated set */
  long class_histogram_real[QDM_EVAL_MAXC]; /* of real A */
  int modes;             /* classes predicted for >= 1% of the generated set */
  double precision, recall;             /* generated vs real A */
  double precision_floor, recall_floor; /* real B vs real A */
  double density, coverage;             /* generated vs real A (qdm_density_coverage) */
  double density_floor, coverage_floor; /* real B vs real A */
  unsigned warnings;     /* QDM_EVAL_WARN_* bits: numbers that would mislead on their own */
  double nn_distance;          /* mean pixel distance, generated -> nearest training image */
  double nn_distance_heldout;  /* the same for real A (NaN without a training set) */
  double label_accuracy;       /* generated images classified as their label (NaN: no labels) */
  /* Per class c (when both sets carry labels; else per_class = 0): the
   * generated images labelled c against the real images of class c, with
   * the same equal-size rule as above (m_c = min(generated c, real c / 2),
   * real A_c and B_c disjoint): so that "blurred for complex classes" can
   * be read class by class. class_n[c] = m_c (0: class absent, values NaN). */
  int per_class;
  int class_n[QDM_EVAL_MAXC];
  double class_fid[QDM_EVAL_MAXC], class_fid_floor[QDM_EVAL_MAXC];
  double class_precision[QDM_EVAL_MAXC], class_recall[QDM_EVAL_MAXC];
  double class_precision_floor[QDM_EVAL_MAXC], class_recall_floor[QDM_EVAL_MAXC];
  double class_label_accuracy[QDM_EVAL_MAXC]; /* generated c classified as c */
} qdm_eval_result;

/* Warnings of a result (qdm_eval_warning names each):
 * PRECISION: precision at least half its real-vs-real value while recall
 *   or coverage is below half of theirs: the generated features sit in a
 *   few real neighbourhoods (pure noise can score precision 1.0 this way);
 * FEW_MODES: the generated images are classified into one class (or fewer
 *   than half the classes the real set shows). */
enum { QDM_EVAL_WARN_PRECISION = 1, QDM_EVAL_WARN_FEW_MODES = 2 };
/* The warning bits of a result from its numbers (qdm_eval_sets sets
 * r->warnings with it). */
unsigned qdm_eval_warnings(const qdm_eval_result *r);
/* The one-line text of warning bit `bit` ("" for an unknown bit). */
const char *qdm_eval_warning(unsigned bit);

/* gen, ref: canonical images (ref with >= 4 images); train: canonical
 * training images for the memorisation check (NULL: skipped). Sizes: with
 * m = min(gen->n, ref->n / 2, max_n), real A and B are disjoint random
 * subsets of ref of size m, and a random m of the generated images enter FD
 * and precision/recall, so that a value and its floor have the same
 * sample-size bias. Classifier score, histograms, label accuracy and the
 * memorisation check use every generated image. Memorisation distances are
 * L2 in pixel space (canonical images, values in [0, 1]). */
int qdm_eval_sets(qdm_classifier *clf, const qdm_dataset *gen, const qdm_dataset *ref, const qdm_dataset *train,
                  const qdm_eval_opts *o, qdm_eval_result *r);
/* The result as one JSON object (keys fid, fid_floor, classifier_score,
 * class_histogram, precision, recall, nn_distance, ...) or a short table. */
void qdm_eval_print_json(FILE *f, const qdm_eval_result *r);
void qdm_eval_print_table(FILE *f, const qdm_eval_result *r);
/* The per-class breakdown as a bar chart (PNG): per class, label accuracy,
 * precision and recall, the last two with their real-vs-real values as
 * lines across the bars. names: NULL or one per class (NULL entries:
 * the class number); title NULL: a default. */
int qdm_eval_plot_classes(const char *path, const qdm_eval_result *r, const char *const *names, const char *title);

#ifdef __cplusplus
}
#endif
#endif
