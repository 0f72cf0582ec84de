/* opts.c -- the settings of a training run: the two presets, the names of
 * their enums, the checks that run before any work, and the one table that
 * maps every setting to its key in config.json and in checkpoints. */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/qngd.h"
#include "run.h"

const qdm_enum_name qdm_schedule_names[] = {
    {"authors-linear", QDM_SCHED_LINEAR_AUTHORS}, {"linear", QDM_SCHED_LINEAR}, {"cosine", QDM_SCHED_COSINE}, {NULL, 0}};
const qdm_enum_name qdm_pred_names[] = {{"eps", QDM_PRED_EPS}, {"x0", QDM_PRED_X0}, {"mean", QDM_PRED_MEAN}, {NULL, 0}};
const qdm_enum_name qdm_loss_names[] = {{"infidelity", QDM_LOSS_INFIDELITY}, {"mse", QDM_LOSS_MSE}, {NULL, 0}};
const qdm_enum_name qdm_sampler_names[] = {{"mean", QDM_SAMPLER_MEAN}, {"ddpm", QDM_SAMPLER_DDPM},
                                           {"ddim", QDM_SAMPLER_DDIM}, {"sde", QDM_SAMPLER_SDE},
                                           {"ode", QDM_SAMPLER_ODE}, {NULL, 0}};
const qdm_enum_name qdm_optim_names[] = {{"adam", QDM_OPTIM_ADAM}, {"qngd", QDM_OPTIM_QNGD}, {NULL, 0}};
const qdm_enum_name qdm_precision_names[] = {{"f64", QDM_F64}, {"f32", QDM_F32}, {NULL, 0}};
const qdm_enum_name qdm_circuit_precision_names[] = {{"c128", QDM_C128}, {"c64", QDM_C64}, {NULL, 0}};
static const qdm_enum_name measure_names[] = {{"ano", QDM_MEASURE_ANO}, {"pauli", QDM_MEASURE_PAULI}, {NULL, 0}};

/* ---------------- presets ---------------- */

static void preset_common(qdm_train_opts *o) {
  memset(o, 0, sizeof *o);
  qdm_unet_cfg_authors(&o->model);
  snprintf(o->data, sizeof o->data, "mnist");
  o->beta_start = 1e-4;
  o->beta_end = 0.02;
  o->batch = 32;
  o->lr = 1e-3;
  o->lr_gamma = 0.97;
  o->lr_step = 10;
  o->seed = 1;
  o->samples_per_class = 8;
  snprintf(o->out, sizeof o->out, "runs/latest");
  o->optimizer = QDM_OPTIM_ADAM;
  o->qngd_metric = QDM_METRIC_BLOCK;
  o->qngd_lr = 0.05;
  o->qngd_lambda = 1e-3;
  /* float classical layers, as the authors' PyTorch code; measured against
   * f64 in the README ("Precision") */
  o->model.precision = QDM_F32;
}

int qdm_train_preset(qdm_train_opts *o, const char *name) {
  if (!o || !name) return qdm_fail(QDM_EINVAL, "qdm_train_preset: NULL options or name");
  preset_common(o);
  if (!strcmp(name, "authors")) { /* their public code, exactly (docs/architecture.md); block 2
                                    * keeps both ancilla branches (qdm_unet_cfg_authors) */
    snprintf(o->preset, sizeof o->preset, "authors");
    snprintf(o->digits, sizeof o->digits, "all");
    o->limit = 8096;
    o->subset = QDM_SUBSET_FIRST; /* their first 8096, in file order */
    o->schedule = QDM_SCHED_LINEAR_AUTHORS;
    o->target = QDM_PRED_MEAN;
    o->loss = QDM_LOSS_INFIDELITY;
    o->sampler = QDM_SAMPLER_MEAN;
    o->epochs = 100;
    return QDM_OK;
  }
  if (!strcmp(name, "ten") || !strcmp(name, "fashion")) {
    /* all ten classes of MNIST or Fashion-MNIST: qdm's default recipe with
     * x0 clipping in the samplers and sampling from an EMA of the weights,
     * as long as about 15 minutes on 2 cores allow (README, "Ten classes":
     * the measurements behind each choice) */
    int fashion = !strcmp(name, "fashion");
    qdm_train_preset(o, "default");
    snprintf(o->preset, sizeof o->preset, "%s", name);
    snprintf(o->digits, sizeof o->digits, "all");
    snprintf(o->data, sizeof o->data, "%s", fashion ? "fashion" : "mnist");
    o->clip = 1;
    o->ema = 0.999;
    o->epochs = fashion ? 12 : 60; /* 54,000 training images against 9,000 */
    return QDM_OK;
  }
  if (!strcmp(name, "default")) {
    /* qdm's own: a schedule that reaches noise (cosine, alpha_bar_T ~ 0),
     * data at unit RMS per value like the noise, an x0 target with a
     * phase-aware loss, ancestral sampling with t and label passed. */
    snprintf(o->preset, sizeof o->preset, "default");
    snprintf(o->digits, sizeof o->digits, "0,1");
    o->model.ancilla_mode = QDM_ANCILLA_PROJECT; /* block 2 as the report reads: the ancilla's |0> branch */
    o->heldout = 0.1;
    o->schedule = QDM_SCHED_COSINE;
    o->target = QDM_PRED_X0;
    o->loss = QDM_LOSS_MSE;
    o->sampler = QDM_SAMPLER_DDPM;
    o->epochs = 30;
    o->data_scale = 1;
    return QDM_OK;
  }
  return qdm_fail(QDM_EINVAL, "preset '%s': expected default, ten, fashion or authors", name);
}

/* ---------------- checks before any work ---------------- */

static int in_table(const qdm_enum_name *t, int v) {
  for (; t->name; t++)
    if (t->value == v) return 1;
  return 0;
}

static int check_enums(const qdm_train_opts *o) {
  if (!in_table(qdm_schedule_names, o->schedule)) return qdm_fail(QDM_EINVAL, "schedule %d is not a schedule kind", o->schedule);
  if (!in_table(qdm_pred_names, o->target)) return qdm_fail(QDM_EINVAL, "target %d is not a prediction kind", o->target);
  if (!in_table(qdm_loss_names, o->loss)) return qdm_fail(QDM_EINVAL, "loss %d is not a loss kind", o->loss);
  if (!in_table(qdm_sampler_names, o->sampler)) return qdm_fail(QDM_EINVAL, "sampler %d is not a sampler kind", o->sampler);
  if (!in_table(qdm_subset_names, o->subset)) return qdm_fail(QDM_EINVAL, "subset %d is not a subset kind", o->subset);
  if (!in_table(qdm_optim_names, o->optimizer)) return qdm_fail(QDM_EINVAL, "optimizer %d is not an optimizer", o->optimizer);
  if (!in_table(qdm_metric_names, o->qngd_metric)) return qdm_fail(QDM_EINVAL, "qngd metric %d is not a metric kind", o->qngd_metric);
  if (!in_table(qdm_precision_names, o->model.precision))
    return qdm_fail(QDM_EINVAL, "precision %d is not a precision", (int)o->model.precision);
  return QDM_OK;
}

static int check_numbers(const qdm_train_opts *o) {
  if (o->epochs < 1 || o->batch < 1) return qdm_fail(QDM_EINVAL, "epochs = %d and batch = %d must be >= 1", o->epochs, o->batch);
  if (!(o->lr > 0 && isfinite(o->lr))) return qdm_fail(QDM_EINVAL, "lr = %g, expected a positive number", o->lr);
  if (!(o->lr_gamma > 0 && o->lr_gamma <= 1) || o->lr_step < 1)
    return qdm_fail(QDM_EINVAL, "lr decay %g every %d epochs: expected a factor in (0, 1] and a step >= 1", o->lr_gamma, o->lr_step);
  if (!(o->circuit_lr >= 0 && o->ano_lr >= 0 && o->weight_decay >= 0))
    return qdm_fail(QDM_EINVAL, "circuit_lr, ano_lr and weight_decay must be >= 0");
  if (!(o->ema >= 0 && o->ema < 1)) return qdm_fail(QDM_EINVAL, "ema = %g, expected 0 (off) or a decay in (0, 1)", o->ema);
  if (!(o->heldout >= 0 && o->heldout < 1)) return qdm_fail(QDM_EINVAL, "heldout = %g, expected a fraction in [0, 1)", o->heldout);
  if (!(o->data_scale >= 0 && isfinite(o->data_scale))) return qdm_fail(QDM_EINVAL, "data_scale = %g, expected >= 0", o->data_scale);
  if (o->limit < 0) return qdm_fail(QDM_EINVAL, "limit = %ld, expected >= 0 (0: all images)", o->limit);
  if (o->schedule != QDM_SCHED_COSINE && !(o->beta_start > 0 && o->beta_start <= o->beta_end && o->beta_end < 1))
    return qdm_fail(QDM_EINVAL, "betas %g..%g: expected 0 < start <= end < 1", o->beta_start, o->beta_end);
  if (o->samples_per_class < 1 || o->samples_per_class > 64)
    return qdm_fail(QDM_EINVAL, "samples per class = %d, expected 1..64", o->samples_per_class);
  if (o->model.T > QDM_MAX_T) return qdm_fail(QDM_EINVAL, "T = %d steps, at most %d", o->model.T, QDM_MAX_T);
  qdm_sampler_cfg sc;
  int times[QDM_MAX_T + 1];
  qdm_train_sampler(o, &sc);
  if (qdm_sampler_times(&sc, o->model.T, times) < 0) return QDM_EINVAL;
  if (o->sample_steps && o->sampler != QDM_SAMPLER_DDIM)
    return qdm_fail(QDM_EINVAL, "sample steps = %d: only the ddim sampler skips steps", o->sample_steps);
  if (o->threads < 0) return qdm_fail(QDM_EINVAL, "threads = %d, expected >= 0 (0: the OpenMP default)", o->threads);
  return QDM_OK;
}

static int check_qngd(const qdm_train_opts *o) {
  if (o->optimizer != QDM_OPTIM_QNGD) return QDM_OK;
  const qdm_unet_cfg *m = &o->model;
  if (m->classical || (m->noise[0] && strcmp(m->noise, "none")))
    return qdm_fail(QDM_EINVAL, "optimizer qngd needs the noiseless quantum bottleneck");
  if (!(o->qngd_lr > 0) || !(o->qngd_lambda >= 0) || o->qngd_epochs < 0)
    return qdm_fail(QDM_EINVAL, "qngd: lr = %g must be > 0, lambda = %g >= 0, epochs = %d >= 0", o->qngd_lr, o->qngd_lambda,
                    o->qngd_epochs);
  int P = qdm_unet_block_params(m);
  if (P == 0) return qdm_fail(QDM_EINVAL, "optimizer qngd: the circuit has no angles with layers 0, nothing to optimise");
  if (o->qngd_metric == QDM_METRIC_BLOCK && (m->layers < 1 || P % m->layers))
    return qdm_fail(QDM_EINVAL, "qngd metric block: %d angles do not split into %d layers", P, m->layers);
  return QDM_OK;
}

int qdm_train_opts_check(const qdm_train_opts *o) {
  if (!o) return qdm_fail(QDM_EINVAL, "qdm_train_opts_check: NULL options");
  int err = check_enums(o);
  if (!err) err = check_numbers(o);
  if (!err) err = qdm_unet_cfg_check(&o->model);
  unsigned char mask[256];
  if (!err && (err = qdm_parse_classes(o->digits, mask))) return err;
  if (!err) err = check_qngd(o);
  if (!err && !o->out[0]) err = qdm_fail(QDM_EINVAL, "output directory is empty");
  if (!err && o->resume && o->force)
    err = qdm_fail(QDM_EINVAL, "resume and force together: continue the run, or replace it, not both");
  return err;
}

/* ---------------- the settings table ---------------- */

enum { T_INT, T_DBL, T_STR, T_U64, T_LONG, T_ENUM };
/* may_change: the setting may differ when the run is resumed (how long and
 * how fast it trains, what its pictures show); every other one shapes the
 * model or its data and must be the checkpoint's (qdm_train_opts_resumable). */
enum { FIXED = 0, MAY_CHANGE = 1 };
typedef struct {
  const char *key;
  int type;
  size_t off, size;
  const qdm_enum_name *names; /* T_ENUM: the value's names (stored as the name) */
  int may_change;
} field;
#define F_O(k, ty, mem, chg) {k, ty, offsetof(qdm_train_opts, mem), sizeof(((qdm_train_opts *)0)->mem), NULL, chg}
#define F_E(k, mem, tab, chg) {k, T_ENUM, offsetof(qdm_train_opts, mem), sizeof(((qdm_train_opts *)0)->mem), tab, chg}
#define F_M(k, ty, mem) \
  {k, ty, offsetof(qdm_train_opts, model) + offsetof(qdm_unet_cfg, mem), sizeof(((qdm_unet_cfg *)0)->mem), NULL, FIXED}
#define F_ME(k, mem, tab) \
  {k, T_ENUM, offsetof(qdm_train_opts, model) + offsetof(qdm_unet_cfg, mem), sizeof(((qdm_unet_cfg *)0)->mem), tab, FIXED}
/* a model setting that may change on resume (precision: the checkpoint is
 * converted; circuit_precision: nothing stored depends on it) */
#define F_ME_CHANGE(k, mem, tab)                                                                              \
  {k, T_ENUM, offsetof(qdm_train_opts, model) + offsetof(qdm_unet_cfg, mem), sizeof(((qdm_unet_cfg *)0)->mem), tab, \
   MAY_CHANGE}
static const field fields[] = {
    F_O("preset", T_STR, preset, FIXED), F_M("pixels", T_INT, D), F_M("hidden", T_INT, hidden), F_M("qubits", T_INT, n),
    F_M("layers", T_INT, layers), F_M("ansatz", T_STR, ansatz), F_M("ansatz_qasm", T_STR, ansatz_qasm), F_M("ancilla_block", T_INT, ancilla),
    F_ME("ancilla_mode", ancilla_mode, qdm_ancilla_mode_names),
    F_ME("measure", measure, measure_names), F_M("ano", T_INT, K), F_ME("ano_layout", ano_layout, qdm_ano_layout_names),
    F_M("ano_k", T_INT, ano_k), F_ME("encoding", encoding, qdm_encoding_names), F_M("skip", T_INT, skip),
    F_M("classical_bottleneck", T_INT, classical), F_M("conditional", T_INT, conditional), F_M("T", T_INT, T), F_M("t_groups", T_INT, t_groups),
    F_M("classes", T_INT, classes), F_M("leak", T_DBL, leak), F_O("data", T_STR, data, FIXED),
    F_O("digits", T_STR, digits, FIXED), F_O("limit", T_LONG, limit, FIXED), F_O("heldout", T_DBL, heldout, FIXED),
    F_E("subset", subset, qdm_subset_names, FIXED), F_O("data_scale", T_DBL, data_scale, FIXED),
    F_E("schedule", schedule, qdm_schedule_names, FIXED), F_O("beta_start", T_DBL, beta_start, FIXED),
    F_O("beta_end", T_DBL, beta_end, FIXED), F_E("target", target, qdm_pred_names, FIXED),
    F_E("loss", loss, qdm_loss_names, FIXED), F_E("sampler", sampler, qdm_sampler_names, MAY_CHANGE),
    F_O("sample_steps", T_INT, sample_steps, MAY_CHANGE), F_O("eta", T_DBL, eta, MAY_CHANGE),
    F_O("sde_substeps", T_INT, sde_substeps, MAY_CHANGE), F_O("clip", T_INT, clip, MAY_CHANGE), F_O("epochs", T_INT, epochs, MAY_CHANGE),
    F_O("batch", T_INT, batch, FIXED), F_O("lr", T_DBL, lr, MAY_CHANGE), F_O("lr_gamma", T_DBL, lr_gamma, MAY_CHANGE),
    F_O("lr_step", T_INT, lr_step, MAY_CHANGE), F_O("circuit_lr", T_DBL, circuit_lr, MAY_CHANGE),
    F_O("ano_lr", T_DBL, ano_lr, MAY_CHANGE), F_O("weight_decay", T_DBL, weight_decay, FIXED),
    F_O("ema", T_DBL, ema, FIXED), F_O("seed", T_U64, seed, FIXED),
    F_O("samples_per_class", T_INT, samples_per_class, MAY_CHANGE),
    F_E("optimizer", optimizer, qdm_optim_names, FIXED), F_E("qngd_metric", qngd_metric, qdm_metric_names, FIXED),
    F_O("qngd_lr", T_DBL, qngd_lr, FIXED), F_O("qngd_lambda", T_DBL, qngd_lambda, FIXED),
    F_O("qngd_epochs", T_INT, qngd_epochs, FIXED), F_M("shots", T_LONG, shots), F_M("noise", T_STR, noise),
    F_ME_CHANGE("precision", precision, qdm_precision_names),
    F_ME_CHANGE("circuit_precision", circuit_precision, qdm_circuit_precision_names),
};
#define NFIELDS (int)(sizeof fields / sizeof *fields)

/* enum fields are int-sized in both structs (checked once here) */
_Static_assert(sizeof(qdm_sched_kind) == sizeof(int) && sizeof(qdm_sampler_kind) == sizeof(int) &&
                   sizeof(qdm_optim_kind) == sizeof(int) && sizeof(qdm_pred_kind) == sizeof(int) &&
                   sizeof(qdm_loss_kind) == sizeof(int) && sizeof(qdm_subset) == sizeof(int) &&
                   sizeof(qdm_precision) == sizeof(int) && sizeof(qdm_circuit_precision) == sizeof(int),
               "enum settings are stored as int");

static void field_str(const qdm_train_opts *o, const field *f, char *buf, size_t len) {
  const char *p = (const char *)o + f->off;
  switch (f->type) {
  case T_INT: snprintf(buf, len, "%d", *(const int *)p); break;
  case T_LONG: snprintf(buf, len, "%ld", *(const long *)p); break;
  case T_U64: snprintf(buf, len, "%" PRIu64, *(const uint64_t *)p); break;
  case T_DBL: snprintf(buf, len, "%.17g", *(const double *)p); break;
  case T_ENUM: snprintf(buf, len, "%s", qdm_enum_str(f->names, *(const int *)p)); break;
  default: snprintf(buf, len, "%s", p);
  }
}

int qdm__opts_get(const qdm_train_opts *o, int i, const char **key, char *val, size_t len) {
  if (i < 0 || i >= NFIELDS) return 0;
  *key = fields[i].key;
  field_str(o, &fields[i], val, len);
  return 1;
}

int qdm_train_setting(int i, const char **key, int *may_change) {
  if (i < 0 || i >= NFIELDS) return 0;
  if (key) *key = fields[i].key;
  if (may_change) *may_change = fields[i].may_change;
  return 1;
}

/* A setting's value as one line of a message: multi-line or long texts
 * (an ansatz's OpenQASM) as their size. */
static void shown(char *v, size_t len) {
  size_t n = strlen(v);
  if (n > 200 || strchr(v, '\n')) snprintf(v, len, "<%zu bytes of text>", n);
}

int qdm_train_opts_resumable(const qdm_train_opts *ckpt, const qdm_train_opts *now, const char **key, char *old_val,
                             char *new_val, size_t len) {
  if (!ckpt || !now) return qdm_fail(QDM_EINVAL, "qdm_train_opts_resumable: NULL settings");
  char a[QDM_SETTING_MAX], b[QDM_SETTING_MAX];
  for (int i = 0; i < NFIELDS; i++) {
    const field *f = &fields[i];
    if (f->may_change) continue;
    field_str(ckpt, f, a, sizeof a);
    field_str(now, f, b, sizeof b);
    if (!strcmp(a, b)) continue;
    if (key) *key = f->key;
    shown(a, sizeof a);
    shown(b, sizeof b);
    if (old_val && len) snprintf(old_val, len, "%s", a);
    if (new_val && len) snprintf(new_val, len, "%s", b);
    return qdm_fail(QDM_EINVAL, "setting %s is '%s' in the checkpoint and '%s' now: only how long and how fast a "
                    "run trains may change when it is resumed", f->key, a, b);
  }
  return QDM_OK;
}

/* An enum setting from its name, or from the number older checkpoints
 * stored for measure/target/loss. */
static int set_enum(const field *f, int *p, const char *val) {
  char *end;
  long v = strtol(val, &end, 10);
  if (*val && !*end && in_table(f->names, (int)v)) return *p = (int)v, QDM_OK;
  int e = qdm_enum_parse(f->names, f->key, val);
  return e < 0 ? QDM_EFORMAT : (*p = e, QDM_OK);
}

int qdm__opts_set(qdm_train_opts *o, const char *key, const char *val) {
  for (int i = 0; i < NFIELDS; i++) {
    const field *f = &fields[i];
    if (strcmp(f->key, key)) continue;
    char *p = (char *)o + f->off, *end = NULL;
    switch (f->type) {
    case T_INT: *(int *)p = (int)strtol(val, &end, 10); break;
    case T_LONG: *(long *)p = strtol(val, &end, 10); break;
    case T_U64: *(uint64_t *)p = strtoull(val, &end, 10); break;
    case T_DBL: *(double *)p = strtod(val, &end); break;
    case T_ENUM: return set_enum(f, (int *)p, val);
    default:
      if (strlen(val) >= f->size) return qdm_fail(QDM_EFORMAT, "setting %s: value too long", key);
      strcpy(p, val);
      return QDM_OK;
    }
    if (*end || end == val) return qdm_fail(QDM_EFORMAT, "setting %s: '%s' is not a number", key, val);
    return QDM_OK;
  }
  return qdm_fail(QDM_EFORMAT, "unknown setting '%s' (written by a newer qdm?)", key);
}

void qdm__opts_json(qdm_json *j, const qdm_train_opts *o) {
  char buf[QDM_SETTING_MAX];
  qdm_json_obj(j);
  for (int i = 0; i < NFIELDS; i++) {
    const field *f = &fields[i];
    const char *p = (const char *)o + f->off;
    field_str(o, f, buf, sizeof buf);
    if (f->type == T_STR) qdm_json_kv_str(j, f->key, p);
    else if (f->type == T_ENUM) qdm_json_kv_str(j, f->key, buf);
    else if (f->type == T_DBL) qdm_json_kv_num(j, f->key, *(const double *)p);
    else {
      qdm_json_key(j, f->key);
      qdm_json_int(j, strtoll(buf, NULL, 10));
    }
  }
  qdm_json_kv_str(j, "qdm_version", qdm_version());
  qdm_json_obj_end(j);
}
