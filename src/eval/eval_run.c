/* eval_run.c -- the whole evaluation of a generated set against real
 * images: features through the classifier, Frechet distance beside its
 * real-vs-real floor, classifier score, class histogram, precision and
 * recall beside their real-vs-real values, and the memorisation check. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/eval.h"
#include "qdm/io.h"

void qdm_eval_opts_default(qdm_eval_opts *o) {
  if (!o) return;
  memset(o, 0, sizeof *o);
  o->k = 3;
  o->seed = 1;
}

static int set_check(const qdm_classifier *c, const qdm_dataset *d, const char *what, int min_n) {
  int S = qdm_classifier_config(c)->side;
  if (!d || !d->x || d->n < min_n) return qdm_fail(QDM_EINVAL, "qdm_eval_sets: the %s set needs at least %d images", what, min_n);
  if (d->h != S || d->w != S)
    return qdm_fail(QDM_EINVAL, "qdm_eval_sets: the %s images are %dx%d, expected canonical %dx%d (qdm_eval_canonical)", what, d->h, d->w, S, S);
  return QDM_OK;
}

typedef struct {
  int n;
  float *x;        /* n canonical images */
  double *px;      /* the same as doubles (pixel space), for distances */
  double *feat, *prob;
} fset;

static void fset_free(fset *s) {
  free(s->x); free(s->px); free(s->feat); free(s->prob);
}

/* rows idx[0..n-1] of d (idx NULL: the first n), through the classifier */
static int fset_make(fset *s, qdm_classifier *c, const qdm_dataset *d, const int *idx, int n, int want_px) {
  memset(s, 0, sizeof *s);
  int D = d->h * d->w, F = qdm_classifier_features_dim(c), C = qdm_classifier_config(c)->classes;
  s->n = n;
  s->x = malloc((size_t)n * D * sizeof(float));
  s->feat = malloc((size_t)n * F * sizeof(double));
  s->prob = malloc((size_t)n * C * sizeof(double));
  s->px = want_px ? malloc((size_t)n * D * sizeof(double)) : NULL;
  if (!s->x || !s->feat || !s->prob || (want_px && !s->px)) return qdm_fail(QDM_ENOMEM, "qdm_eval_sets: out of memory for %d images", n);
  for (int i = 0; i < n; i++) memcpy(s->x + (size_t)i * D, d->x + (size_t)(idx ? idx[i] : i) * D, D * sizeof(float));
  for (size_t k = 0; want_px && k < (size_t)n * D; k++) s->px[k] = s->x[k];
  return qdm_classifier_predict(c, s->x, n, s->prob, s->feat);
}

static int memorisation(const fset *G, const fset *A, const qdm_dataset *train, const qdm_eval_opts *o, qdm_eval_result *r) {
  r->nn_distance = r->nn_distance_heldout = NAN;
  if (!train) return QDM_OK;
  size_t nd = (size_t)train->n * train->h * train->w;
  double *T = malloc(nd * sizeof(double));
  if (!T) return qdm_fail(QDM_ENOMEM, "qdm_eval_sets: out of memory for %d training images", train->n);
  for (size_t k = 0; k < nd; k++) T[k] = train->x[k];
  int D = train->h * train->w;
  int err = qdm_nn_distance(G->px, G->n, T, train->n, D, 0, &r->nn_distance, NULL);
  if (!err) err = qdm_nn_distance(A->px, A->n, T, train->n, D, o->ref_in_train, &r->nn_distance_heldout, NULL);
  free(T);
  return err;
}

/* the class the classifier reads image i of G as (first maximum on ties) */
static int predicted(const fset *G, int i, int C) {
  const double *p = G->prob + (size_t)i * C;
  int best = 0;
  for (int k = 1; k < C; k++)
    if (p[k] > p[best]) best = k;
  return best;
}

static double label_accuracy(const fset *G, const uint8_t *y, int C) {
  if (!y) return NAN;
  long right = 0;
  for (int i = 0; i < G->n; i++) right += predicted(G, i, C) == y[i];
  return (double)right / G->n;
}

/* A seeded Fisher-Yates shuffle of 0..n-1. */
static int *shuffled(int n, uint64_t seed) {
  int *p = malloc((size_t)n * sizeof(int));
  if (!p) return NULL;
  qdm_rng rng;
  qdm_rng_seed(&rng, seed);
  for (int i = 0; i < n; i++) p[i] = i;
  for (int i = n - 1; i > 0; i--) {
    int j = (int)(qdm_rng_u64(&rng) % (uint64_t)(i + 1)), t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/* m of the n rows of X (width F), chosen by a seeded shuffle */
static double *gather_rows(const double *X, int n, int F, int m, uint64_t seed) {
  int *p = shuffled(n, seed);
  double *out = malloc((size_t)m * F * sizeof(double));
  if (p && out)
    for (int i = 0; i < m; i++) memcpy(out + (size_t)i * F, X + (size_t)p[i] * F, F * sizeof(double));
  free(p);
  if (!p) {
    free(out);
    return NULL;
  }
  return out;
}

/* The rows of X (n x F) whose label is c, in their order: count in *m. */
static double *rows_of_class(const double *X, const uint8_t *y, const int *idx, int n, int F, int c, int *m) {
  double *out = malloc((size_t)(n > 0 ? n : 1) * F * sizeof(double));
  *m = 0;
  for (int i = 0; out && i < n; i++) {
    int r = idx ? idx[i] : i;
    if (y[r] == c) memcpy(out + (size_t)(*m)++ * F, X + (size_t)i * F, F * sizeof(double));
  }
  return out;
}

/* One class's breakdown (the per_class fields of qdm_eval_result): the
 * generated images labelled c (Gc) against two disjoint halves of the real
 * images of class c (Rc in the seeded class-balanced order, so A_c and B_c
 * do not depend on the file's order). FD needs m_c >= 2 and P/R m_c > k. */
static int eval_class(const fset *G, const uint8_t *gy, const fset *R, const uint8_t *ry, const int *ord, int F, int C,
                      int c, const qdm_eval_opts *o, qdm_eval_result *r) {
  int ng, nr, err = QDM_OK;
  double *Gc = rows_of_class(G->feat, gy, NULL, G->n, F, c, &ng);
  double *Rc = rows_of_class(R->feat, ry, ord, R->n, F, c, &nr);
  double nan = NAN;
  r->class_fid[c] = r->class_fid_floor[c] = r->class_precision[c] = r->class_recall[c] = nan;
  r->class_precision_floor[c] = r->class_recall_floor[c] = r->class_label_accuracy[c] = nan;
  int m = ng < nr / 2 ? ng : nr / 2;
  if (o->max_n > 0 && m > o->max_n) m = o->max_n;
  r->class_n[c] = m >= 2 ? m : 0;
  if (!Gc || !Rc) err = qdm_fail(QDM_ENOMEM, "qdm_eval_sets: out of memory");
  long right = 0;
  for (int i = 0; !err && i < G->n; i++) right += gy[i] == c && predicted(G, i, C) == c;
  if (!err && ng) r->class_label_accuracy[c] = (double)right / ng;
  double *Gm = !err && m >= 2 ? gather_rows(Gc, ng, F, m, o->seed + 2 + c) : NULL;
  if (!err && m >= 2 && !Gm) err = qdm_fail(QDM_ENOMEM, "qdm_eval_sets: out of memory");
  const double *A = Rc, *B = Rc + (size_t)m * F;
  if (!err && m >= 2) err = qdm_frechet_sets(Gm, m, A, m, F, &r->class_fid[c]);
  if (!err && m >= 2) err = qdm_frechet_sets(B, m, A, m, F, &r->class_fid_floor[c]);
  if (!err && m > o->k) err = qdm_precision_recall(A, m, Gm, m, F, o->k, &r->class_precision[c], &r->class_recall[c]);
  if (!err && m > o->k)
    err = qdm_precision_recall(A, m, B, m, F, o->k, &r->class_precision_floor[c], &r->class_recall_floor[c]);
  free(Gm); free(Gc); free(Rc);
  return err;
}

/* Every class's breakdown, when both sets carry labels: the real set's
 * features over all its images (in the seeded order ord). */
static int per_class(qdm_classifier *clf, const fset *G, const qdm_dataset *gen, const qdm_dataset *ref, const int *ord,
                     const qdm_eval_opts *o, qdm_eval_result *r) {
  if (!gen->y || !ref->y) return QDM_OK;
  int F = r->features, C = r->classes;
  fset R;
  int err = fset_make(&R, clf, ref, ord, ref->n, 0);
  for (int c = 0; !err && c < C; c++) err = eval_class(G, gen->y, &R, ref->y, ord, F, C, c, o, r);
  fset_free(&R);
  if (!err) r->per_class = 1;
  return err;
}

static const char *const warning_text[] = {
    "precision is at least half its real-vs-real value while recall or coverage is below half of theirs: the "
    "generated features sit in a few real neighbourhoods (a collapsed set, or pure noise, can score precision 1.0); "
    "read precision beside recall, density and coverage",
    "the generated images fall into at most half the classes the real images show (mode collapse)",
};

const char *qdm_eval_warning(unsigned bit) {
  for (unsigned i = 0; i < sizeof warning_text / sizeof *warning_text; i++)
    if (bit == 1u << i) return warning_text[i];
  return "";
}

unsigned qdm_eval_warnings(const qdm_eval_result *r) {
  if (!r) return 0;
  unsigned w = 0;
  if (2 * r->precision >= r->precision_floor && (2 * r->recall < r->recall_floor || 2 * r->coverage < r->coverage_floor))
    w |= QDM_EVAL_WARN_PRECISION;
  int real_modes = 0;
  long nreal = 0;
  for (int c = 0; c < r->classes; c++) nreal += r->class_histogram_real[c];
  for (int c = 0; c < r->classes; c++) real_modes += r->class_histogram_real[c] * 100 >= nreal;
  if (r->modes < real_modes && 2 * r->modes <= real_modes) w |= QDM_EVAL_WARN_FEW_MODES;
  return w;
}

int qdm_eval_sets(qdm_classifier *clf, const qdm_dataset *gen, const qdm_dataset *ref, const qdm_dataset *train,
                  const qdm_eval_opts *o, qdm_eval_result *r) {
  if (!clf || !o || !r) return qdm_fail(QDM_EINVAL, "qdm_eval_sets: classifier, options and result are required");
  int err = set_check(clf, gen, "generated", 2);
  if (!err) err = set_check(clf, ref, "reference", 4);
  if (!err && train) err = set_check(clf, train, "training", 1);
  if (err) return err;
  int k = o->k, m = gen->n < ref->n / 2 ? gen->n : ref->n / 2;
  if (o->max_n > 0 && m > o->max_n) m = o->max_n;
  if (k < 1 || k >= m)
    return qdm_fail(QDM_EINVAL, "qdm_eval_sets: k = %d needs more than k images per compared set (have %d)", k, m);
  memset(r, 0, sizeof *r);
  int C = qdm_classifier_config(clf)->classes, F = qdm_classifier_features_dim(clf);
  r->n = m;
  r->n_images = gen->n;
  r->n_reference = ref->n;
  r->n_train = train ? train->n : 0;
  r->features = F;
  r->classes = C;
  /* which real images form A and B: consecutive runs of one seeded,
   * class-balanced order that does not depend on the file's order */
  int *ord = malloc((size_t)ref->n * sizeof *ord);
  if (ord && (err = qdm_dataset_order(ref, o->seed, ord))) {
    free(ord);
    return err;
  }
  fset G, A, B;
  memset(&G, 0, sizeof G); memset(&A, 0, sizeof A); memset(&B, 0, sizeof B);
  if (!ord) err = qdm_fail(QDM_ENOMEM, "qdm_eval_sets: out of memory");
  if (!err) err = fset_make(&G, clf, gen, NULL, gen->n, train != NULL);
  if (!err) err = fset_make(&A, clf, ref, ord, m, train != NULL);
  if (!err) err = fset_make(&B, clf, ref, ord + m, m, 0);
  /* FD and P/R on equal sizes m: a random m of G against A; B against A.
   * Random, not the first m: sample files are ordered by label, and real
   * files can be ordered too (MNIST's t10k has its easier half first). */
  double *Gm = err ? NULL : gather_rows(G.feat, gen->n, F, m, o->seed + 1);
  if (!err && !Gm) err = qdm_fail(QDM_ENOMEM, "qdm_eval_sets: out of memory");
  if (!err) err = qdm_frechet_sets(Gm, m, A.feat, m, F, &r->fid);
  if (!err) err = qdm_frechet_sets(B.feat, m, A.feat, m, F, &r->fid_floor);
  if (!err) err = qdm_precision_recall(A.feat, m, Gm, m, F, k, &r->precision, &r->recall);
  if (!err) err = qdm_density_coverage(A.feat, m, Gm, m, F, k, &r->density, &r->coverage);
  free(Gm);
  if (!err) err = qdm_precision_recall(A.feat, m, B.feat, m, F, k, &r->precision_floor, &r->recall_floor);
  if (!err) err = qdm_density_coverage(A.feat, m, B.feat, m, F, k, &r->density_floor, &r->coverage_floor);
  /* the per-image statistics use every generated image */
  if (!err) err = qdm_classifier_score(G.prob, G.n, C, &r->classifier_score);
  if (!err) err = qdm_classifier_score(A.prob, m, C, &r->classifier_score_real);
  if (!err) err = qdm_class_histogram(G.prob, G.n, C, r->class_histogram);
  if (!err) err = qdm_class_histogram(A.prob, m, C, r->class_histogram_real);
  for (int c = 0; !err && c < C; c++) r->modes += r->class_histogram[c] * 100 >= G.n;
  if (!err) r->label_accuracy = label_accuracy(&G, gen->y, C);
  if (!err) err = memorisation(&G, &A, train, o, r);
  if (!err) err = per_class(clf, &G, gen, ref, ord, o, r);
  if (!err) r->warnings = qdm_eval_warnings(r);
  free(ord);
  fset_free(&G); fset_free(&A); fset_free(&B);
  return err;
}

void qdm_eval_print_json(FILE *f, const qdm_eval_result *r) {
  if (!f || !r) return;
  qdm_json j;
  qdm_json_init(&j, f, 1);
  qdm_json_obj(&j);
  qdm_json_kv_num(&j, "fid", r->fid);
  qdm_json_kv_num(&j, "fid_floor", r->fid_floor);
  qdm_json_kv_num(&j, "classifier_score", r->classifier_score);
  qdm_json_kv_num(&j, "classifier_score_real", r->classifier_score_real);
  qdm_json_key(&j, "class_histogram");
  qdm_json_arr(&j);
  for (int c = 0; c < r->classes; c++) qdm_json_int(&j, r->class_histogram[c]);
  qdm_json_arr_end(&j);
  qdm_json_key(&j, "class_histogram_real");
  qdm_json_arr(&j);
  for (int c = 0; c < r->classes; c++) qdm_json_int(&j, r->class_histogram_real[c]);
  qdm_json_arr_end(&j);
  qdm_json_kv_int(&j, "modes", r->modes);
  qdm_json_kv_num(&j, "precision", r->precision);
  qdm_json_kv_num(&j, "recall", r->recall);
  qdm_json_kv_num(&j, "precision_floor", r->precision_floor);
  qdm_json_kv_num(&j, "recall_floor", r->recall_floor);
  qdm_json_kv_num(&j, "density", r->density);
  qdm_json_kv_num(&j, "coverage", r->coverage);
  qdm_json_kv_num(&j, "density_floor", r->density_floor);
  qdm_json_kv_num(&j, "coverage_floor", r->coverage_floor);
  qdm_json_key(&j, "warnings");
  qdm_json_arr(&j);
  for (unsigned b = 1; b && b <= r->warnings; b <<= 1)
    if (r->warnings & b) qdm_json_str(&j, qdm_eval_warning(b));
  qdm_json_arr_end(&j);
  qdm_json_kv_num(&j, "nn_distance", r->nn_distance);
  qdm_json_kv_num(&j, "nn_distance_heldout", r->nn_distance_heldout);
  qdm_json_kv_num(&j, "label_accuracy", r->label_accuracy);
  if (r->per_class) {
    qdm_json_key(&j, "per_class");
    qdm_json_arr(&j);
    for (int c = 0; c < r->classes; c++) {
      qdm_json_obj(&j);
      qdm_json_kv_int(&j, "class", c);
      qdm_json_kv_int(&j, "n", r->class_n[c]);
      qdm_json_kv_num(&j, "fid", r->class_fid[c]);
      qdm_json_kv_num(&j, "fid_floor", r->class_fid_floor[c]);
      qdm_json_kv_num(&j, "precision", r->class_precision[c]);
      qdm_json_kv_num(&j, "recall", r->class_recall[c]);
      qdm_json_kv_num(&j, "precision_floor", r->class_precision_floor[c]);
      qdm_json_kv_num(&j, "recall_floor", r->class_recall_floor[c]);
      qdm_json_kv_num(&j, "label_accuracy", r->class_label_accuracy[c]);
      qdm_json_obj_end(&j);
    }
    qdm_json_arr_end(&j);
  }
  qdm_json_kv_int(&j, "n", r->n);
  qdm_json_kv_int(&j, "n_images", r->n_images);
  qdm_json_kv_int(&j, "n_reference", r->n_reference);
  qdm_json_kv_int(&j, "n_train", r->n_train);
  qdm_json_kv_int(&j, "features", r->features);
  qdm_json_obj_end(&j);
  qdm_json_end(&j);
}

void qdm_eval_print_table(FILE *f, const qdm_eval_result *r) {
  if (!f || !r) return;
  fprintf(f, "%-26s %12s %12s\n", "", "generated", "real (floor)");
  fprintf(f, "%-26s %12.4f %12.4f\n", "Frechet distance", r->fid, r->fid_floor);
  fprintf(f, "%-26s %12.4f %12.4f\n", "classifier score", r->classifier_score, r->classifier_score_real);
  fprintf(f, "%-26s %12.4f %12.4f\n", "precision (k-NN)", r->precision, r->precision_floor);
  fprintf(f, "%-26s %12.4f %12.4f\n", "recall (k-NN)", r->recall, r->recall_floor);
  fprintf(f, "%-26s %12.4f %12.4f\n", "density (k-NN)", r->density, r->density_floor);
  fprintf(f, "%-26s %12.4f %12.4f\n", "coverage (k-NN)", r->coverage, r->coverage_floor);
  fprintf(f, "%-26s %12.4f %12.4f\n", "nearest training image", r->nn_distance, r->nn_distance_heldout);
  if (!isnan(r->label_accuracy)) fprintf(f, "%-26s %12.4f\n", "classified as its label", r->label_accuracy);
  fprintf(f, "predicted classes (generated):");
  for (int c = 0; c < r->classes; c++) fprintf(f, " %d:%ld", c, r->class_histogram[c]);
  fprintf(f, "  (%d modes >= 1%%)\n", r->modes);
  fprintf(f, "predicted classes (real):     ");
  for (int c = 0; c < r->classes; c++) fprintf(f, " %d:%ld", c, r->class_histogram_real[c]);
  fprintf(f, "\nsets of %d images (generated %d, reference %d, training %d); %d features\n", r->n, r->n_images, r->n_reference,
          r->n_train, r->features);
  for (int c = 0; r->per_class && c < r->classes; c++) {
    if (c == 0) fprintf(f, "per class (generated vs real of that class; floor in brackets):\n%6s %6s %17s %15s %15s %9s\n",
                        "class", "n", "Frechet", "precision", "recall", "label acc");
    if (!r->class_n[c]) continue;
    fprintf(f, "%6d %6d %8.3f (%6.3f) %6.3f (%5.3f) %6.3f (%5.3f) %9.3f\n", c, r->class_n[c], r->class_fid[c],
            r->class_fid_floor[c], r->class_precision[c], r->class_precision_floor[c], r->class_recall[c],
            r->class_recall_floor[c], r->class_label_accuracy[c]);
  }
  for (unsigned b = 1; b && b <= r->warnings; b <<= 1)
    if (r->warnings & b) fprintf(f, "warning: %s\n", qdm_eval_warning(b));
}

int qdm_eval_plot_classes(const char *path, const qdm_eval_result *r, const char *const *names, const char *title) {
  if (!path || !r) return qdm_fail(QDM_EINVAL, "qdm_eval_plot_classes: path and result are required");
  if (!r->per_class)
    return qdm_fail(QDM_EINVAL, "%s: no per-class breakdown to draw (the generated and the real images both need labels)", path);
  char num[QDM_EVAL_MAXC][12];
  const char *cat[QDM_EVAL_MAXC];
  int n = 0, cls[QDM_EVAL_MAXC];
  for (int c = 0; c < r->classes; c++)
    if (r->class_n[c]) {
      snprintf(num[n], sizeof num[n], "%d", c);
      cls[n] = c;
      cat[n] = names && names[c] ? names[c] : num[n];
      n++;
    }
  double v[3][QDM_EVAL_MAXC], ref[3][QDM_EVAL_MAXC];
  for (int i = 0; i < n; i++) {
    int c = cls[i];
    v[0][i] = r->class_label_accuracy[c], ref[0][i] = NAN;
    v[1][i] = r->class_precision[c], ref[1][i] = r->class_precision_floor[c];
    v[2][i] = r->class_recall[c], ref[2][i] = r->class_recall_floor[c];
  }
  const double *vp[3] = {v[0], v[1], v[2]}, *rp[3] = {ref[0], ref[1], ref[2]};
  const char *series[3] = {"classified as its label", "precision (k-NN)", "recall (k-NN)"};
  qdm_bars b = {title ? title : "per class: generated images against the real images of their class", "class", "fraction",
                "real vs real", cat, n, series, 3, vp, rp, 1.0};
  return qdm_plot_bars(path, &b);
}
