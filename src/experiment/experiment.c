/* experiment.c -- `qdm experiment`: the report's claims as named sets of
 * training runs, each trained (qdm_train), sampled (qdm_sample_run) and
 * measured (qdm_eval_sets), then summarised as a markdown table and a
 * picture grid. A run that several sets share (the baseline) is trained
 * once; a run directory whose key file matches is reused (finished) or
 * resumed from its checkpoint (interrupted), so an interrupted experiment
 * continues where it stopped. Under MPI (mpirun -np K qdm experiment) the
 * runs are shared out over the ranks, longest first, each trained on its
 * rank alone; rank 0 gathers the results and writes the table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "qdm/dist.h"
#include "qdm/eval.h"
#include "qdm/experiment.h"
#include "qdm/io.h"
#include "qdm/train.h"

#define XSET_MAXR 8       /* runs per set */
#define XMAX_RUNS 24
#define XCACHE 8          /* cached real-image sets */
#define XGRID_COLS 10     /* pictures per run in grid.png */
#define XMAX_SEEDS 10
/* --quick: enough to see the machinery work and the gross differences */
#define XQUICK_EPOCHS 3
#define XQUICK_LIMIT 600
#define XQUICK_NEVAL 100
#define XFULL_NEVAL 500

typedef struct {
  const char *name, *preset, *digits;
  int skip, measure, classical, qubits; /* -1 (0 for qubits): the preset's */
  int precision;                        /* -1: the preset's; else QDM_F64 or QDM_F32 */
  const char *what;
  int encoding;                         /* QDM_ENC_* (0: amplitude, the presets') */
  int ano_layout, ano_k, K;             /* QDM_ANO_* and its k (0: global); K > 0: observables per site set */
  int sixths;                           /* > 0: train sixths/6 of the epochs (the preset's or --epochs) */
  int c64;                              /* 1: complex64 circuits (QDM_C64) */
} xspec;

typedef struct {
  const char *name, *claim;
  const char *runs[XSET_MAXR];
} xset;

typedef struct {
  int ok;
  double loss, infidelity, seconds;
  double params[4]; /* circuit, ano, classical, total */
  qdm_eval_result ev;
} xres;

typedef struct {
  const qdm_experiment_opts *o;
  int chosen[XMAX_RUNS];
  const xspec *runs[XMAX_RUNS];
  xspec specs[XMAX_RUNS];  /* the runs as run here (o->preset in place of qdm's default) */
  char preset_digits[64];  /* o->preset's classes */
  int nruns, n_eval;
  qdm_classifier *clf;
  char ref_path[4096], ref_file[4096];
  const char *ref_split;
  int ref_in_train;
  qdm_dataset ref[XCACHE], tr[XCACHE];
  char ref_digits[XCACHE][64], tr_key[XCACHE][192];
  int nref, ntr;
  xres *res;     /* nruns x seeds */
  float *pics;   /* nruns x XGRID_COLS canonical images */
  double seconds;
  char tag[32];  /* "rank R: " under MPI, else "" */
} xctx;

static int xreport_write(const xctx *c);

/* -1 (qubits: 0) in a field: keep the preset's value */
static const xspec qdm_xruns[] = {
    {"authors-01", "authors", "0,1", -1, -1, -1, 0, -1, "authors' preset, digits 0 and 1", 0, 0, 0, 0, 0, 0},
    {"authors-all", "authors", "all", -1, -1, -1, 0, -1, "authors' preset, all ten digits", 0, 0, 0, 0, 0, 0},
    {"base", "default", "0,1", -1, -1, -1, 0, -1, "qdm default: skip on, ANO, quantum, 4 qubits", 0, 0, 0, 0, 0, 0},
    {"skip-off", "default", "0,1", 0, -1, -1, 0, -1, "base without the skip connection", 0, 0, 0, 0, 0, 0},
    {"pauli", "default", "0,1", -1, QDM_MEASURE_PAULI, -1, 0, -1, "base with Pauli-Z readout in place of ANO", 0, 0, 0, 0, 0, 0},
    {"classical", "default", "0,1", -1, -1, 1, 0, -1, "base with a classical bottleneck of matched size", 0, 0, 0, 0, 0, 0},
    {"qubits-6", "default", "0,1", -1, -1, -1, 6, -1, "base with 6 bottleneck qubits", 0, 0, 0, 0, 0, 0},
    {"qubits-8", "default", "0,1", -1, -1, -1, 8, -1, "base with 8 bottleneck qubits", 0, 0, 0, 0, 0, 0},
    {"base-f64", "default", "0,1", -1, -1, -1, 0, QDM_F64, "base with the classical layers in double", 0, 0, 0, 0, 0, 0},
    {"base-c64", "default", "0,1", -1, -1, -1, 0, -1, "base with complex64 circuits", 0, 0, 0, 0, 0, 1},
    {"enc-angle", "default", "0,1", -1, -1, -1, 0, -1, "base with angle encoding: RY(x_q) on 4 encoder values", QDM_ENC_ANGLE, 0, 0, 0, 0, 0},
    {"enc-phase", "default", "0,1", -1, -1, -1, 0, -1, "base with phase encoding: H then P(x_q), 4 values", QDM_ENC_PHASE, 0, 0, 0, 0, 0},
    {"enc-dense", "default", "0,1", -1, -1, -1, 0, -1, "base with dense angle encoding (eq. 19), 8 values", QDM_ENC_DENSE, 0, 0, 0, 0, 0},
    {"enc-basis", "default", "0,1", -1, -1, -1, 0, -1, "base with basis encoding: 4 bits [x > 0], straight-through",
     QDM_ENC_BASIS, 0, 0, 0, 0, 0},
    /* local layouts: K per site set, chosen for about the global 16 observables */
    {"ano-2local", "default", "0,1", -1, -1, -1, 0, -1, "base, ANO on the 3 windows of 2 qubits, 5 each (15)", 0,
     QDM_ANO_SLIDING, 2, 5, 0, 0},
    {"ano-3local", "default", "0,1", -1, -1, -1, 0, -1, "base, ANO on the 2 windows of 3 qubits, 8 each (16)", 0,
     QDM_ANO_SLIDING, 3, 8, 0, 0},
    /* the training-length curve: base stopped early */
    {"len-1of6", "default", "0,1", -1, -1, -1, 0, -1, "base trained for 1/6 of its epochs", 0, 0, 0, 0, 1, 0},
    {"len-1of3", "default", "0,1", -1, -1, -1, 0, -1, "base trained for 1/3 of its epochs", 0, 0, 0, 0, 2, 0},
    {"len-2of3", "default", "0,1", -1, -1, -1, 0, -1, "base trained for 2/3 of its epochs", 0, 0, 0, 0, 4, 0},
    {"pauli-8", "default", "0,1", -1, QDM_MEASURE_PAULI, -1, 8, -1, "8 qubits, Pauli-Z readout", 0, 0, 0, 0, 0, 0},
    {"ano8-2local", "default", "0,1", -1, -1, -1, 8, -1, "8 qubits, ANO on the 7 windows of 2 qubits, 2 each (14)", 0,
     QDM_ANO_SLIDING, 2, 2, 0, 0},
    {"ano8-3local", "default", "0,1", -1, -1, -1, 8, -1, "8 qubits, ANO on the 6 windows of 3 qubits, 3 each (18)", 0,
     QDM_ANO_SLIDING, 3, 3, 0, 0},
};
static const int qdm_nxruns = sizeof qdm_xruns / sizeof *qdm_xruns;

static const xset qdm_xsets[] = {
    {"fig8", "Report Fig. 8: sharp digits for {0,1}, blurred ones for all ten (authors' recipe).", {"authors-01", "authors-all"}},
    {"skip", "The skip connection matters.", {"base", "skip-off"}},
    {"ano", "Adaptive non-local observables beat Pauli-Z readout; k-local ones (4^k entries, not 4^n) at 4 and 8 qubits.",
     {"base", "ano-2local", "ano-3local", "pauli", "qubits-8", "ano8-2local", "ano8-3local", "pauli-8"}},
    {"encoding", "The bottleneck's state preparation (report section 3): amplitude vs angle, phase, dense, basis.",
     {"base", "enc-angle", "enc-phase", "enc-dense", "enc-basis"}},
    {"bottleneck", "A quantum bottleneck beats a classical one with the same parameter budget.", {"base", "classical"}},
    {"qubits", "More bottleneck qubits: 4 vs 6 vs 8.", {"base", "qubits-6", "qubits-8"}},
    {"quantum", "What the quantum part does, in one table: skip, ANO vs Pauli, quantum vs classical, 4/6/8 qubits.",
     {"base", "skip-off", "pauli", "classical", "qubits-6", "qubits-8"}},
    {"length", "Where FD stops falling with training time (base at 1/6, 1/3, 2/3 and all of its epochs; length.png).",
     {"len-1of6", "len-1of3", "len-2of3", "base"}},
    {"preset", "qdm's default recipe vs the authors' recipe (digits 0,1).", {"base", "authors-01"}},
    {"precision", "Float32 classical layers train as well as float64 (the default preset's choice); complex64 circuits as well as complex128.",
     {"base", "base-f64", "base-c64"}},
};
static const int qdm_nxsets = sizeof qdm_xsets / sizeof *qdm_xsets;

void qdm_experiment_opts_default(qdm_experiment_opts *o) {
  if (!o) return;
  memset(o, 0, sizeof *o);
  snprintf(o->sets, sizeof o->sets, "all");
  snprintf(o->out, sizeof o->out, "runs/experiment");
  snprintf(o->data, sizeof o->data, "mnist");
  snprintf(o->classifier, sizeof o->classifier, "runs/classifier.safetensors");
  o->seeds = 1;
}

void qdm_experiment_list(FILE *f) {
  if (!f) return;
  for (int s = 0; s < qdm_nxsets; s++) {
    fprintf(f, "  %-11s %s\n             runs:", qdm_xsets[s].name, qdm_xsets[s].claim);
    for (int r = 0; r < XSET_MAXR && qdm_xsets[s].runs[r]; r++) fprintf(f, " %s", qdm_xsets[s].runs[r]);
    fputc('\n', f);
  }
}

static const xspec *xrun_find(const char *name) {
  for (int i = 0; i < qdm_nxruns; i++)
    if (!strcmp(qdm_xruns[i].name, name)) return &qdm_xruns[i];
  return NULL;
}

/* the index of the set called name, or -1 */
static int set_index(const char *name) {
  for (int s = 0; s < qdm_nxsets; s++)
    if (!strcmp(qdm_xsets[s].name, name)) return s;
  return -1;
}

/* sets named in o->sets -> chosen[s] = 1 */
static int parse_sets(const char *list, int *chosen) {
  memset(chosen, 0, qdm_nxsets * sizeof(int));
  if (!list || !*list || !strcmp(list, "all")) {
    for (int s = 0; s < qdm_nxsets; s++) chosen[s] = 1;
    return QDM_OK;
  }
  char buf[256];
  snprintf(buf, sizeof buf, "%s", list);
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    int s = set_index(tok);
    if (s >= 0) chosen[s] = 1;
    else return qdm_fail(QDM_EINVAL, "--sets: unknown set '%s' (qdm experiment --list shows them)", tok);
  }
  return QDM_OK;
}

/* The training options of one run (preset, its changes, the overrides). */
static int xrun_opts(const qdm_experiment_opts *o, const xspec *x, int seed, qdm_train_opts *t) {
  int err = qdm_train_preset(t, x->preset);
  if (err) return err;
  snprintf(t->digits, sizeof t->digits, "%s", x->digits);
  snprintf(t->data, sizeof t->data, "%s", o->data);
  if (x->skip >= 0) t->model.skip = x->skip;
  if (x->measure >= 0) t->model.measure = x->measure;
  if (x->classical >= 0) t->model.classical = x->classical;
  if (x->qubits > 0) t->model.n = x->qubits;
  if (x->precision >= 0) t->model.precision = (qdm_precision)x->precision;
  if (x->c64) t->model.circuit_precision = QDM_C64;
  t->model.encoding = x->encoding;
  t->model.ano_layout = x->ano_layout;
  t->model.ano_k = x->ano_k;
  if (x->K > 0) t->model.K = x->K;
  if (o->quick) {
    t->epochs = XQUICK_EPOCHS;
    t->limit = XQUICK_LIMIT;
  }
  if (o->epochs > 0) t->epochs = o->epochs;
  if (x->sixths > 0) t->epochs = t->epochs * x->sixths / 6 > 0 ? t->epochs * x->sixths / 6 : 1;
  if (o->limit > 0) t->limit = o->limit;
  t->seed = (uint64_t)seed;
  t->threads = o->threads;
  t->quiet = 1;
  int n = snprintf(t->out, sizeof t->out, "%s/runs/%s-s%d", o->out, x->name, seed);
  return n < 0 || (size_t)n >= sizeof t->out ? qdm_fail(QDM_EINVAL, "--out %s: path too long", o->out) : QDM_OK;
}

/* what decides a run's result: every setting of the run (config.json's
 * keys); a directory with the same key is reused */
static int run_key(const qdm_train_opts *t, char *buf, size_t len) {
  const char *key;
  char val[QDM_SETTING_MAX];
  size_t at = 0;
  for (int i = 0; qdm_train_opts_get(t, i, &key, val, sizeof val); i++) {
    if (!strcmp(key, "ansatz_qasm")) continue; /* the ansatz names it; too long for a key */
    int n = snprintf(buf + at, len - at, "%s=%s\n", key, val);
    if (n < 0 || (size_t)n >= len - at) return qdm_fail(QDM_EINVAL, "experiment: run key too long (data path?)");
    at += (size_t)n;
  }
  return QDM_OK;
}

static int read_text(const char *path, char **text, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return QDM_EIO;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  *text = malloc(n > 0 ? (size_t)n + 1 : 1);
  size_t got = *text && n > 0 ? fread(*text, 1, (size_t)n, f) : 0;
  fclose(f);
  if (!*text) return QDM_ENOMEM;
  (*text)[got] = 0;
  *len = got;
  return QDM_OK;
}

static int file_exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static int has_file(const char *dir, const char *name) {
  char p[2200];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return file_exists(p);
}

/* the directory's experiment.key is key: it holds (the start of) this run */
static int same_key(const char *dir, const char *key) {
  char p[2200], *text;
  size_t len;
  snprintf(p, sizeof p, "%s/experiment.key", dir);
  if (read_text(p, &text, &len)) return 0;
  int same = !strcmp(text, key);
  free(text);
  return same;
}

/* 2: finished (reuse it), 1: interrupted past its first epoch (resume it), 0: train afresh */
static int run_state(const char *dir, const char *key) {
  if (!same_key(dir, key)) return 0;
  if (has_file(dir, "best.safetensors") && has_file(dir, "summary.json")) return 2;
  return has_file(dir, "checkpoint.safetensors");
}

static int write_key(const char *dir, const char *key) {
  char p[2200];
  snprintf(p, sizeof p, "%s/experiment.key", dir);
  qdm_atomic a;
  int err = qdm_atomic_open(&a, p);
  if (err) return err;
  fputs(key, a.f);
  return qdm_atomic_commit(&a);
}

static double jnum(const qdm_jv *o, const char *k) {
  const qdm_jv *v = qdm_jv_get(o, k);
  return v && v->type == QDM_JNUM ? v->num : NAN;
}

static int read_summary(const char *dir, xres *r) {
  char p[2200], *text;
  size_t len;
  snprintf(p, sizeof p, "%s/summary.json", dir);
  if (read_text(p, &text, &len)) return qdm_fail(QDM_EIO, "%s: cannot read", p);
  qdm_jv *j;
  int err = qdm_json_parse(text, len, &j);
  free(text);
  if (err) return qdm_fail_wrap(err, "%s", p);
  r->loss = jnum(j, "final_loss");
  r->infidelity = jnum(j, "final_infidelity");
  r->seconds = jnum(j, "seconds");
  const qdm_jv *pm = qdm_jv_get(j, "params");
  static const char *keys[4] = {"circuit", "ano", "classical", "total"};
  for (int i = 0; i < 4; i++) r->params[i] = jnum(pm, keys[i]);
  qdm_jv_free(j);
  return QDM_OK;
}

/* ---- real images, cached per digit set ---- */

static int ref_get(xctx *c, const char *digits, const qdm_dataset **out) {
  for (int i = 0; i < c->nref; i++)
    if (!strcmp(c->ref_digits[i], digits)) {
      *out = &c->ref[i];
      return QDM_OK;
    }
  if (c->nref == XCACHE) return qdm_fail(QDM_EINVAL, "experiment: too many digit sets");
  int i = c->nref;
  int err = qdm_eval_load(c->ref_path, NULL, c->ref_split, digits, 0, &c->ref[i]);
  if (err) return err;
  snprintf(c->ref_digits[i], sizeof c->ref_digits[i], "%s", digits);
  c->nref++;
  *out = &c->ref[i];
  return QDM_OK;
}

/* the run's own training images (as qdm_train selects them), canonical */
static int train_get(xctx *c, const qdm_train_opts *t, const qdm_dataset **out) {
  char key[192];
  snprintf(key, sizeof key, "%s|%ld|%g|%d|%llu", t->digits, t->limit, t->heldout, (int)t->subset,
           (unsigned long long)t->seed);
  for (int i = 0; i < c->ntr; i++)
    if (!strcmp(c->tr_key[i], key)) {
      *out = &c->tr[i];
      return QDM_OK;
    }
  if (c->ntr == XCACHE) return qdm_fail(QDM_EINVAL, "experiment: too many training sets");
  qdm_dataset all, held;
  qdm_data_opts d = {t->data, "train", t->digits, t->limit, QDM_EVAL_SIDE, t->subset, t->seed, NULL};
  int i = c->ntr, err = qdm_data_load(&d, &all);
  if (err) return err;
  err = qdm_dataset_split(&all, t->heldout, t->seed, &c->tr[i], &held);
  qdm_dataset_free(&all);
  if (!err) {
    qdm_dataset_free(&held);
    err = qdm_eval_canonical_dataset(&c->tr[i]);
  }
  if (err) return err;
  snprintf(c->tr_key[i], sizeof c->tr_key[i], "%s", key);
  c->ntr++;
  *out = &c->tr[i];
  return QDM_OK;
}

/* ---- one run ---- */

/* keep up to XGRID_COLS sample images of the run for the picture grid,
 * spread evenly over its labels (gen is ordered by label) */
static void keep_pictures(xctx *c, int ri, const qdm_dataset *gen, int per_label, int nlabels) {
  const int D = QDM_EVAL_SIDE * QDM_EVAL_SIDE;
  int each = XGRID_COLS / nlabels > 0 ? XGRID_COLS / nlabels : 1, k = 0;
  float *dst = c->pics + (size_t)ri * XGRID_COLS * D;
  memset(dst, 0, (size_t)XGRID_COLS * D * sizeof(float));
  for (int l = 0; l < nlabels && k < XGRID_COLS; l++)
    for (int j = 0; j < each && j < per_label && k < XGRID_COLS; j++)
      memcpy(dst + (size_t)k++ * D, gen->x + (size_t)(l * per_label + j) * D, D * sizeof(float));
}

static int count_labels(const char *digits) {
  unsigned char mask[256];
  if (qdm_parse_classes(digits, mask)) return 0;
  int n = 0;
  for (int i = 0; i < 10; i++) n += mask[i];
  return n;
}

static int xrun_one(xctx *c, int ri, int seed, xres *r) {
  const qdm_experiment_opts *o = c->o;
  const xspec *x = c->runs[ri];
  qdm_train_opts t;
  int err = xrun_opts(o, x, seed, &t);
  if (err) return err;
  char key[8192];
  if ((err = run_key(&t, key, sizeof key))) return err;
  double t0 = qdm_now();
  int state = run_state(t.out, key);
  static const char *const what[3] = {"training", "resuming", "reusing"};
  if (!o->quiet)
    fprintf(stderr, "qdm experiment: %s%s seed %d: %s (%s, digits %s, %d epochs)\n", c->tag, x->name, seed, what[state],
            x->preset, x->digits, t.epochs);
  /* the key goes first, so that an interrupted run is known as this one's;
   * a directory with another key, or none, is trained afresh over */
  t.resume = state == 1;
  t.force = state == 0;
  if (state < 2 && !(err = qdm_mkdirs(t.out)) && !(err = write_key(t.out, key))) err = qdm_train(&t);
  if (!err) err = read_summary(t.out, r);
  /* sample n_eval images per label into the run directory */
  qdm_sample_opts so;
  qdm_sample_opts_default(&so);
  so.n = c->n_eval;
  snprintf(so.labels, sizeof so.labels, "%s", x->digits);
  so.seed = 1000 + (uint64_t)seed;
  if (!err) err = qdm_path_join(so.checkpoint, sizeof so.checkpoint, t.out, "best.safetensors");
  if (!err) err = qdm_path_join(so.png, sizeof so.png, t.out, "eval-samples.png");
  if (!err) err = qdm_path_join(so.idx, sizeof so.idx, t.out, "eval-images-idx3-ubyte.gz");
  if (!err) err = qdm_path_join(so.idx_labels, sizeof so.idx_labels, t.out, "eval-labels-idx1-ubyte.gz");
  if (!err) err = qdm_sample_run(&so);
  qdm_dataset gen;
  memset(&gen, 0, sizeof gen);
  const qdm_dataset *ref = NULL, *tr = NULL;
  if (!err) err = qdm_eval_load(so.idx, so.idx_labels, NULL, NULL, 0, &gen);
  if (!err) err = ref_get(c, x->digits, &ref);
  if (!err) err = train_get(c, &t, &tr);
  qdm_eval_opts eo;
  qdm_eval_opts_default(&eo);
  eo.seed = (uint64_t)seed;
  eo.ref_in_train = c->ref_in_train;
  if (!err) err = qdm_eval_sets(c->clf, &gen, ref, tr, &eo, &r->ev);
  if (!err && seed == 1) keep_pictures(c, ri, &gen, c->n_eval, count_labels(x->digits));
  qdm_dataset_free(&gen);
  r->ok = !err;
  if (!err && !o->quiet)
    fprintf(stderr, "qdm experiment: %s%s seed %d: loss %.4g, FD %.3f (floor %.3f), score %.2f, precision %.3f, recall %.3f (%.0f s)\n",
            c->tag, x->name, seed, r->loss, r->ev.fid, r->ev.fid_floor, r->ev.classifier_score, r->ev.precision, r->ev.recall,
            qdm_now() - t0);
  return err;
}

/* ---- the runs, over the ranks ---- */

/* A run's cost, for the order: epochs x images x rows per image x the
 * multiply-adds of a row (dense layers, and the bottleneck's 4^n). Only
 * the order of these numbers is used. */
static double run_cost(const xctx *c, int i) {
  qdm_train_opts t;
  if (xrun_opts(c->o, c->runs[i], 1, &t)) return 0;
  const qdm_unet_cfg *m = &t.model;
  double imgs = t.limit > 0 ? (double)t.limit : 60000.0;
  double row = 4.0 * m->hidden * (2.0 * m->D) + 64.0 * (double)(1L << (2 * m->n));
  return t.epochs * imgs * qdm_unet_t_groups(m) * row;
}

/* Item j = (run j / seeds, seed j % seeds + 1): owner[j] and order[] (the
 * items by cost, longest first). Each item goes to the rank with the least
 * work so far (LPT: longest processing time first), so the ranks finish
 * close together; a pure function of the runs and the rank count. */
static int xplan(const xctx *c, int *owner, int *order, int size) {
  int n = c->nruns * c->o->seeds;
  double *cost = malloc((size_t)n * sizeof *cost), *load = calloc((size_t)size, sizeof *load);
  if (!cost || !load) {
    free(cost), free(load);
    return qdm_fail(QDM_ENOMEM, "experiment: out of memory");
  }
  for (int j = 0; j < n; j++) cost[j] = run_cost(c, j / c->o->seeds), order[j] = j;
  for (int a = 1; a < n; a++) /* insertion sort, stable: cost descending */
    for (int b = a; b > 0 && cost[order[b]] > cost[order[b - 1]]; b--) {
      int t = order[b];
      order[b] = order[b - 1];
      order[b - 1] = t;
    }
  for (int k = 0; k < n; k++) {
    int r = 0;
    for (int q = 1; q < size; q++)
      if (load[q] < load[r]) r = q;
    owner[order[k]] = r;
    load[r] += cost[order[k]];
  }
  free(cost), free(load);
  return QDM_OK;
}

/* Every item on its owner, alone (qdm_dist_solo: its training is one
 * process), longest first; then each result and grid row from its owner to
 * every rank. A failed run leaves a gap in the table; an interrupt stops
 * this rank's rest, and the agreement then stops the experiment. */
static int xrun_all(xctx *c) {
  const qdm_experiment_opts *o = c->o;
  int n = c->nruns * o->seeds, rank = qdm_dist_rank(), size = qdm_dist_size(), err = QDM_OK;
  int *owner = malloc((size_t)n * sizeof *owner), *order = malloc((size_t)n * sizeof *order);
  if (!owner || !order) err = qdm_fail(QDM_ENOMEM, "experiment: out of memory");
  if (!err) err = xplan(c, owner, order, size);
  if (size > 1) snprintf(c->tag, sizeof c->tag, "rank %d: ", rank);
  qdm_dist_solo(1);
  for (int k = 0; !err && k < n; k++) {
    int j = order[k], i = j / o->seeds, s = j % o->seeds + 1;
    if (owner[j] != rank) continue;
    err = xrun_one(c, i, s, &c->res[j]);
    if (err && err != QDM_EINTR) {
      fprintf(stderr, "qdm experiment: %s%s seed %d failed: %s\n", c->tag, c->runs[i]->name, s, qdm_errmsg());
      err = QDM_OK;
    }
  }
  qdm_dist_solo(0);
  err = qdm_dist_agree(err);
  size_t D = QDM_EVAL_SIDE * QDM_EVAL_SIDE;
  for (int j = 0; !err && size > 1 && j < n; j++) {
    err = qdm_dist_bcast(&c->res[j], sizeof c->res[j], owner[j]);
    if (!err && j % o->seeds == 0) /* seed 1 gives the grid's pictures */
      err = qdm_dist_bcast(c->pics + (size_t)(j / o->seeds) * XGRID_COLS * D, XGRID_COLS * D * sizeof(float), owner[j]);
  }
  free(owner), free(order);
  return err;
}

/* ---- the whole experiment ---- */

static int add_run(xctx *c, const char *name) {
  for (int i = 0; i < c->nruns; i++)
    if (!strcmp(c->runs[i]->name, name)) return QDM_OK;
  const xspec *x = xrun_find(name);
  if (!x) return qdm_fail(QDM_EINVAL, "experiment: set names unknown run '%s'", name);
  /* --preset: the runs built on qdm's default recipe use that preset (its
   * classes, data and recipe) with the same ablation */
  c->specs[c->nruns] = *x;
  if (c->o->preset[0] && !strcmp(x->preset, "default")) {
    c->specs[c->nruns].preset = c->o->preset;
    c->specs[c->nruns].digits = c->preset_digits;
  }
  c->runs[c->nruns] = &c->specs[c->nruns];
  c->nruns++;
  return QDM_OK;
}

static int setup_reference(xctx *c) {
  const qdm_experiment_opts *o = c->o;
  char rf[4096], tf[4096];
  if (o->reference[0]) {
    snprintf(c->ref_path, sizeof c->ref_path, "%s", o->reference);
    c->ref_split = NULL;
  } else {
    snprintf(c->ref_path, sizeof c->ref_path, "%s", o->data);
    c->ref_split = qdm_eval_source(o->data, "test", rf, sizeof rf) == QDM_OK ? "test" : "train";
  }
  int err = qdm_eval_source(c->ref_path, c->ref_split, rf, sizeof rf);
  if (!err) err = qdm_eval_source(o->data, "train", tf, sizeof tf);
  if (!err) {
    c->ref_in_train = !strcmp(rf, tf);
    snprintf(c->ref_file, sizeof c->ref_file, "%s", rf);
  }
  return err;
}

static void xctx_free(xctx *c) {
  for (int i = 0; i < c->nref; i++) qdm_dataset_free(&c->ref[i]);
  for (int i = 0; i < c->ntr; i++) qdm_dataset_free(&c->tr[i]);
  qdm_classifier_free(c->clf);
  free(c->res);
  free(c->pics);
}

static int opts_check(const qdm_experiment_opts *o) {
  if (!o) return qdm_fail(QDM_EINVAL, "qdm_experiment_run: options are NULL");
  if (!o->out[0]) return qdm_fail(QDM_EINVAL, "qdm_experiment_run: an output directory is required");
  if (o->seeds < 1 || o->seeds > XMAX_SEEDS) return qdm_fail(QDM_EINVAL, "--seeds %d: expected 1..%d", o->seeds, XMAX_SEEDS);
  if (o->epochs < 0 || o->limit < 0 || o->n_eval < 0) return qdm_fail(QDM_EINVAL, "qdm_experiment_run: epochs, limit and n_eval must be >= 0");
  qdm_train_opts p;
  if (o->preset[0] && qdm_train_preset(&p, o->preset)) return qdm_fail(QDM_EINVAL, "--preset %s: %s", o->preset, qdm_errmsg());
  return QDM_OK;
}

int qdm_experiment_check(const qdm_experiment_opts *o) {
  int chosen[XMAX_RUNS], err = opts_check(o);
  return err ? err : parse_sets(o->sets, chosen);
}

int qdm_experiment_run(const qdm_experiment_opts *o) {
  int err = opts_check(o);
  if (err) return err;
  xctx c;
  memset(&c, 0, sizeof c);
  c.o = o;
  c.n_eval = o->n_eval > 0 ? o->n_eval : o->quick ? XQUICK_NEVAL : XFULL_NEVAL;
  if ((err = parse_sets(o->sets, c.chosen))) return err;
  if (o->preset[0]) {
    qdm_train_opts p;
    if ((err = qdm_train_preset(&p, o->preset))) return err;
    snprintf(c.preset_digits, sizeof c.preset_digits, "%s", p.digits);
  }
  for (int s = 0; !err && s < qdm_nxsets; s++)
    for (int r = 0; !err && c.chosen[s] && r < XSET_MAXR && qdm_xsets[s].runs[r]; r++) err = add_run(&c, qdm_xsets[s].runs[r]);
  if (err) return err;
  if (o->dry_run) {
    for (int i = 0; i < c.nruns && qdm_dist_rank() == 0; i++) {
      qdm_train_opts t;
      xrun_opts(o, c.runs[i], 1, &t);
      printf("%-12s %-8s digits %-4s epochs %3d  limit %5ld  -> %s (x %d seeds)\n", c.runs[i]->name, c.runs[i]->preset,
             c.runs[i]->digits, t.epochs, t.limit, t.out, o->seeds);
    }
    return QDM_OK;
  }
  c.res = calloc((size_t)c.nruns * o->seeds, sizeof(xres));
  c.pics = calloc((size_t)c.nruns * XGRID_COLS * QDM_EVAL_SIDE * QDM_EVAL_SIDE, sizeof(float));
  if (!c.res || !c.pics) err = qdm_fail(QDM_ENOMEM, "experiment: out of memory");
  if (!err) err = qdm_mkdirs(o->out);
  if (!err) err = setup_reference(&c);
  err = qdm_dist_agree(err);
  /* rank 0 first: a classifier that is missing is fitted and saved once */
  if (!err && qdm_dist_rank() == 0) err = qdm_classifier_obtain(o->classifier, o->data, o->quiet, &c.clf);
  if (!(err = qdm_dist_agree(err)) && qdm_dist_rank() != 0) err = qdm_classifier_obtain(o->classifier, o->data, 1, &c.clf);
  if (!err) err = qdm_dist_agree(err);
  double t0 = qdm_now();
  if (!err) err = xrun_all(&c);
  c.seconds = qdm_now() - t0;
  if (!err && qdm_dist_rank() == 0) err = xreport_write(&c);
  if (!err && !o->quiet && qdm_dist_rank() == 0) fprintf(stderr, "qdm experiment: wrote %s/results.md, results.json, grid.png (%.0f s)\n", o->out, c.seconds);
  xctx_free(&c);
  return err;
}

/* ---- the report: results.md, results.json, grid.png ---- */

typedef double (*xget)(const xres *r);
static double g_loss(const xres *r) { return r->loss; }
static double g_infid(const xres *r) { return r->infidelity; }
static double g_secs(const xres *r) { return r->seconds; }
static double g_fid(const xres *r) { return r->ev.fid; }
static double g_floor(const xres *r) { return r->ev.fid_floor; }
static double g_score(const xres *r) { return r->ev.classifier_score; }
static double g_prec(const xres *r) { return r->ev.precision; }
static double g_rec(const xres *r) { return r->ev.recall; }
static double g_nn(const xres *r) { return r->ev.nn_distance; }
static double g_nnh(const xres *r) { return r->ev.nn_distance_heldout; }
static double g_lab(const xres *r) { return r->ev.label_accuracy; }
static double g_modes(const xres *r) { return r->ev.modes; }

/* mean and sample standard deviation over the seeds of run i */
static void stats(const xctx *c, int i, xget f, double *mean, double *sd) {
  int S = c->o->seeds, n = 0;
  double s = 0, s2 = 0;
  for (int k = 0; k < S; k++) {
    const xres *r = &c->res[i * S + k];
    double v = r->ok ? f(r) : NAN;
    if (isnan(v)) continue;
    s += v;
    n++;
  }
  *mean = n ? s / n : NAN;
  for (int k = 0; k < S; k++) {
    const xres *r = &c->res[i * S + k];
    double v = r->ok ? f(r) : NAN;
    if (!isnan(v)) s2 += (v - *mean) * (v - *mean);
  }
  *sd = n > 1 ? sqrt(s2 / (n - 1)) : NAN;
}

/* digits < 0: -digits significant digits (%g), else fixed decimals */
static void cell(FILE *f, const xctx *c, int i, xget g, int digits) {
  double m, sd;
  stats(c, i, g, &m, &sd);
  int sig = digits < 0;
  digits = sig ? -digits : digits;
  if (isnan(m)) fprintf(f, " - |");
  else if (c->o->seeds > 1 && !isnan(sd)) fprintf(f, sig ? " %.*g ± %.*g |" : " %.*f ± %.*f |", digits, m, sig ? 2 : digits, sd);
  else fprintf(f, sig ? " %.*g |" : " %.*f |", digits, m);
}

static int run_index(const xctx *c, const char *name) {
  for (int i = 0; i < c->nruns; i++)
    if (!strcmp(c->runs[i]->name, name)) return i;
  return -1;
}

static void command_line(const qdm_experiment_opts *o, char *buf, size_t len) {
  int n = snprintf(buf, len, "qdm experiment");
  if (o->quick) n += snprintf(buf + n, len - n, " --quick");
  if (strcmp(o->sets, "all")) n += snprintf(buf + n, len - n, " --sets %s", o->sets);
  if (o->preset[0]) n += snprintf(buf + n, len - n, " --preset %s", o->preset);
  if (o->seeds != 1) n += snprintf(buf + n, len - n, " --seeds %d", o->seeds);
  if (o->epochs) n += snprintf(buf + n, len - n, " --epochs %d", o->epochs);
  if (o->limit) n += snprintf(buf + n, len - n, " --limit %ld", o->limit);
  if (o->n_eval) n += snprintf(buf + n, len - n, " --n-eval %d", o->n_eval);
  if (strcmp(o->data, "mnist")) n += snprintf(buf + n, len - n, " --data %s", o->data);
  if (o->reference[0]) n += snprintf(buf + n, len - n, " --reference %s", o->reference);
  snprintf(buf + n, len - n, " --out %s", o->out);
}

static void md_header(FILE *f, const xctx *c) {
  const qdm_experiment_opts *o = c->o;
  char cmd[4096], acc[64] = "";
  command_line(o, cmd, sizeof cmd);
  if (qdm_safetensors_meta(o->classifier, "heldout_accuracy", acc, sizeof acc) == QDM_OK)
    snprintf(acc, sizeof acc, "%.4f", atof(acc));
  else
    acc[0] = 0;
  fprintf(f, "# qdm experiment\n\nMade by `%s` in %.0f s.\n\n", cmd, c->seconds);
  fprintf(f, "- configuration: %s; %d seed%s per run%s\n",
          o->quick ? "quick (3 epochs, 600 images per run)" : "each preset's own epochs and image count", o->seeds,
          o->seeds > 1 ? "s" : "", o->seeds > 1 ? " (cells: mean ± sample sd)" : "");
  if (o->epochs || o->limit) fprintf(f, "- overrides: epochs %d, images %ld (0: the preset's)\n", o->epochs, o->limit);
  fprintf(f, "- evaluation: %d generated images per class against real images from `%s`%s; "
             "features: the %d-wide penultimate layer of `%s`%s%s%s\n",
          c->n_eval, c->ref_file, c->ref_in_train ? " (the training data itself: no test split found)" : "",
          qdm_classifier_features_dim(c->clf), o->classifier, acc[0] ? " (held-out accuracy " : "", acc, acc[0] ? ")" : "");
  fprintf(f, "- FD: Frechet distance in feature space; floor: FD between two disjoint real sets of the same size. "
             "Precision/recall: k-NN manifolds (k = 3, Kynkaanniemi et al. 2019). Score: exp(mean KL(p(y|x) || p(y))), "
             "2 at most for two classes, 10 for ten. Label acc: generated images the classifier assigns to the label they were "
             "generated for. nn dist: mean pixel distance to the nearest training image (held-out real images in brackets). Loss: the run's own objective (MSE for default, infidelity for authors); "
             "infidelity 1 - |<pred|target>|^2 for both. Seconds: training wall time.\n\n");
}

static void md_set(FILE *f, const xctx *c, const xset *s) {
  fprintf(f, "## %s\n\n%s\n\n", s->name, s->claim);
  fprintf(f, "| run | digits | loss | infidelity | FD | FD floor | score | label acc | precision | recall | nn dist (held-out) "
             "| params circuit / ANO / classical | seconds |\n");
  fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (int r = 0; r < XSET_MAXR && s->runs[r]; r++) {
    int i = run_index(c, s->runs[r]);
    if (i < 0) continue;
    const xres *x = &c->res[i * c->o->seeds];
    fprintf(f, "| %s | %s |", c->runs[i]->name, c->runs[i]->digits);
    cell(f, c, i, g_loss, -4);
    cell(f, c, i, g_infid, 4);
    cell(f, c, i, g_fid, 2);
    cell(f, c, i, g_floor, 2);
    cell(f, c, i, g_score, 2);
    cell(f, c, i, g_lab, 3);
    cell(f, c, i, g_prec, 3);
    cell(f, c, i, g_rec, 3);
    double a, sd, b;
    stats(c, i, g_nn, &a, &sd);
    stats(c, i, g_nnh, &b, &sd);
    fprintf(f, " %.2f (%.2f) |", a, b);
    fprintf(f, " %.0f / %.0f / %.0f |", x->params[0], x->params[1], x->params[2]);
    cell(f, c, i, g_secs, 0);
    fputc('\n', f);
  }
  fputc('\n', f);
}

static int write_md(const xctx *c) {
  char p[2200];
  snprintf(p, sizeof p, "%s/results.md", c->o->out);
  qdm_atomic a;
  int err = qdm_atomic_open(&a, p);
  if (err) return err;
  md_header(a.f, c);
  for (int s = 0; s < qdm_nxsets; s++)
    if (c->chosen[s]) md_set(a.f, c, &qdm_xsets[s]);
  fprintf(a.f, "Runs:\n\n");
  for (int i = 0; i < c->nruns; i++) fprintf(a.f, "- `%s`: %s\n", c->runs[i]->name, c->runs[i]->what);
  fprintf(a.f, "\n![samples, one row per run](grid.png)\n");
  return qdm_atomic_commit(&a);
}

static void json_eval(qdm_json *j, const qdm_eval_result *e) {
  qdm_json_obj(j);
  qdm_json_kv_num(j, "fid", e->fid);
  qdm_json_kv_num(j, "fid_floor", e->fid_floor);
  qdm_json_kv_num(j, "classifier_score", e->classifier_score);
  qdm_json_kv_num(j, "classifier_score_real", e->classifier_score_real);
  qdm_json_key(j, "class_histogram");
  qdm_json_arr(j);
  for (int k = 0; k < e->classes; k++) qdm_json_int(j, e->class_histogram[k]);
  qdm_json_arr_end(j);
  qdm_json_kv_int(j, "modes", e->modes);
  qdm_json_kv_num(j, "precision", e->precision);
  qdm_json_kv_num(j, "recall", e->recall);
  qdm_json_kv_num(j, "precision_floor", e->precision_floor);
  qdm_json_kv_num(j, "recall_floor", e->recall_floor);
  qdm_json_kv_num(j, "nn_distance", e->nn_distance);
  qdm_json_kv_num(j, "nn_distance_heldout", e->nn_distance_heldout);
  qdm_json_kv_num(j, "label_accuracy", e->label_accuracy);
  qdm_json_kv_int(j, "n", e->n);
  qdm_json_obj_end(j);
}

static void json_run(qdm_json *j, const xctx *c, int i) {
  static const char *names[] = {"loss", "infidelity", "seconds", "fid", "fid_floor", "classifier_score", "precision",
                                "recall", "nn_distance", "nn_distance_heldout", "label_accuracy", "modes"};
  static const xget gets[] = {g_loss, g_infid, g_secs, g_fid, g_floor, g_score, g_prec, g_rec, g_nn, g_nnh, g_lab, g_modes};
  const xspec *x = c->runs[i];
  qdm_json_obj(j);
  qdm_json_kv_str(j, "name", x->name);
  qdm_json_kv_str(j, "what", x->what);
  qdm_json_kv_str(j, "preset", x->preset);
  qdm_json_kv_str(j, "digits", x->digits);
  const xres *r0 = &c->res[i * c->o->seeds];
  qdm_json_key(j, "params");
  qdm_json_obj(j);
  static const char *pk[4] = {"circuit", "ano", "classical", "total"};
  for (int k = 0; k < 4; k++) qdm_json_kv_num(j, pk[k], r0->params[k]);
  qdm_json_obj_end(j);
  for (int w = 0; w < 2; w++) {
    qdm_json_key(j, w ? "sd" : "mean");
    qdm_json_obj(j);
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
      double m, sd;
      stats(c, i, gets[k], &m, &sd);
      qdm_json_kv_num(j, names[k], w ? sd : m);
    }
    qdm_json_obj_end(j);
  }
  qdm_json_key(j, "seeds");
  qdm_json_arr(j);
  for (int s = 0; s < c->o->seeds; s++) {
    const xres *r = &c->res[i * c->o->seeds + s];
    qdm_json_obj(j);
    qdm_json_kv_int(j, "seed", s + 1);
    qdm_json_kv_num(j, "loss", r->loss);
    qdm_json_kv_num(j, "infidelity", r->infidelity);
    qdm_json_kv_num(j, "seconds", r->seconds);
    qdm_json_key(j, "eval");
    json_eval(j, &r->ev);
    qdm_json_obj_end(j);
  }
  qdm_json_arr_end(j);
  qdm_json_obj_end(j);
}

static int write_json(const xctx *c) {
  char p[2200], cmd[4096];
  snprintf(p, sizeof p, "%s/results.json", c->o->out);
  command_line(c->o, cmd, sizeof cmd);
  qdm_atomic a;
  int err = qdm_atomic_open(&a, p);
  if (err) return err;
  qdm_json j;
  qdm_json_init(&j, a.f, 1);
  qdm_json_obj(&j);
  qdm_json_kv_str(&j, "command", cmd);
  qdm_json_kv_int(&j, "quick", c->o->quick);
  qdm_json_kv_int(&j, "seeds", c->o->seeds);
  qdm_json_kv_int(&j, "n_eval_per_class", c->n_eval);
  qdm_json_kv_str(&j, "reference", c->ref_file);
  qdm_json_kv_int(&j, "reference_is_training_data", c->ref_in_train);
  qdm_json_kv_str(&j, "classifier", c->o->classifier);
  qdm_json_kv_num(&j, "seconds", c->seconds);
  qdm_json_key(&j, "sets");
  qdm_json_arr(&j);
  for (int s = 0; s < qdm_nxsets; s++) {
    if (!c->chosen[s]) continue;
    qdm_json_obj(&j);
    qdm_json_kv_str(&j, "name", qdm_xsets[s].name);
    qdm_json_kv_str(&j, "claim", qdm_xsets[s].claim);
    qdm_json_key(&j, "runs");
    qdm_json_arr(&j);
    for (int r = 0; r < XSET_MAXR && qdm_xsets[s].runs[r]; r++) qdm_json_str(&j, qdm_xsets[s].runs[r]);
    qdm_json_arr_end(&j);
    qdm_json_obj_end(&j);
  }
  qdm_json_arr_end(&j);
  qdm_json_key(&j, "runs");
  qdm_json_arr(&j);
  for (int i = 0; i < c->nruns; i++) json_run(&j, c, i);
  qdm_json_arr_end(&j);
  qdm_json_obj_end(&j);
  qdm_json_end(&j);
  return qdm_atomic_commit(&a);
}

static int write_grid(const xctx *c) {
  char p[2200];
  const char *labels[XMAX_RUNS];
  for (int i = 0; i < c->nruns; i++) labels[i] = c->runs[i]->name;
  snprintf(p, sizeof p, "%s/grid.png", c->o->out);
  char title[2400];
  snprintf(title, sizeof title, "qdm experiment: %s\nsamples of every run (seed 1, the same noise for all), one row per run",
           c->o->out);
  qdm_grid_text tx = {title, labels, NULL, NULL};
  return qdm_png_grid_text(p, c->pics, c->nruns * XGRID_COLS, QDM_EVAL_SIDE, QDM_EVAL_SIDE, c->nruns, XGRID_COLS, 4, &tx);
}

/* length.png: FD (with the real-vs-real floor) and label accuracy against
 * training seconds, the means over seeds of the length set's runs, in the
 * order of their training time. */
static int write_length(const xctx *c) {
  const xset *s = &qdm_xsets[set_index("length")];
  double x[XSET_MAXR], fd[XSET_MAXR], fl[XSET_MAXR], acc[XSET_MAXR], sd;
  const char *preset = "";
  int n = 0;
  for (int r = 0; r < XSET_MAXR && s->runs[r]; r++) {
    int i = run_index(c, s->runs[r]);
    if (i < 0) continue;
    stats(c, i, g_secs, &x[n], &sd);
    stats(c, i, g_fid, &fd[n], &sd);
    stats(c, i, g_floor, &fl[n], &sd);
    stats(c, i, g_lab, &acc[n], &sd);
    preset = c->runs[i]->preset;
    n++;
  }
  qdm_series a[2] = {{"generated vs real", x, fd, n}, {"floor: real vs real", x, fl, n}}, b = {"label accuracy", x, acc, n};
  qdm_panel p[2] = {{"FD against training time (log scale)", "training seconds", "FD", a, 2, 1},
                    {"label accuracy of the samples", "training seconds", "accuracy", &b, 1, 0}};
  char path[2200], title[2400];
  snprintf(path, sizeof path, "%s/length.png", c->o->out);
  snprintf(title, sizeof title, "qdm experiment --sets length: %s, mean of %d seed%s", preset, c->o->seeds,
           c->o->seeds > 1 ? "s" : "");
  return qdm_plot_panels(path, title, p, 2, 2);
}

static int xreport_write(const xctx *c) {
  int err = write_md(c);
  if (!err) err = write_json(c);
  if (!err) err = write_grid(c);
  if (!err && c->chosen[set_index("length")]) err = write_length(c);
  return err;
}
