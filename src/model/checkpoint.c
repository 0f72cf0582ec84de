/* checkpoint.c -- checkpoints as safetensors (so Python users can open
 * them), holding every setting and everything a resumed run needs to end
 * with the same numbers as an uninterrupted one. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/io.h"
#include "run.h"
#include "unet.h"

/* ---------------- checkpoints ---------------- */

#define MAXMETA 96 /* settings (opts.c) + state */

static void rng_str(const qdm_rng *r, char *buf, size_t len) {
  snprintf(buf, len, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, r->s[0], r->s[1], r->s[2], r->s[3]);
}

/* A generator state of the run state (rng_str's 64 hex digits): every
 * digit checked, since strtoull would stop quietly at a bad one and the
 * resumed run would draw from another stream. */
static int meta_rng(const char *path, const char *key, qdm_rng *r) {
  char buf[128];
  int err = qdm_safetensors_meta(path, key, buf, sizeof buf);
  if (err) return err;
  size_t n = strspn(buf, "0123456789abcdefABCDEF");
  if (n != 64 || buf[n])
    return qdm_fail(QDM_EFORMAT, "%s: metadata '%s' = '%s', expected 64 hex digits", path, key, buf);
  for (int i = 0; i < 4; i++) {
    char part[17];
    memcpy(part, buf + 16 * i, 16);
    part[16] = 0;
    r->s[i] = strtoull(part, NULL, 16);
  }
  return QDM_OK;
}

/* A checkpoint holds each model tensor under its name, in the tensor's own
 * precision (F32 for the classical tensors of a QDM_F32 model), and the
 * flat state vectors (Adam moments, EMA) in the model's flat layout
 * (qdm_unet_params): "optim.adam_m" the double tensors' values, then, for a
 * QDM_F32 model, "optim.adam_m.f32" the float ones. A QDM_F64 checkpoint is
 * therefore laid out as before precisions existed. The metadata key
 * "precision" says which layout a file has (absent: f64). */
#define MAXTENSORS 24
static const char *const flat_names[3][2] = {
    {"optim.adam_m", "optim.adam_m.f32"}, {"optim.adam_v", "optim.adam_v.f32"}, {"ema", "ema.f32"}};

/* The three flat vectors of a run in the model's layout: Adam's m, v and
 * the EMA copy (np doubles, then npf floats, in one block), as (double,
 * float) pairs; NULL where absent. */
typedef struct {
  int on[3];
  double *d[3];
  float *f[3];
} flat_set;

static flat_set run_flats(qdm_unet *m, const qdm_adam *opt, const double *ema) {
  size_t np;
  qdm_unet_params(m, &np);
  flat_set fs = {{opt != NULL, opt != NULL, ema != NULL}, {NULL, NULL, NULL}, {NULL, NULL, NULL}};
  if (opt) {
    fs.d[0] = opt->m;
    fs.d[1] = opt->v;
    fs.f[0] = opt->mf;
    fs.f[1] = opt->vf;
  }
  if (ema) {
    fs.d[2] = (double *)ema;
    fs.f[2] = (float *)(ema + np);
  }
  return fs;
}

/* Entries for the flat vectors of fs that are on: np doubles and npf floats each. */
static int flat_tensors(const flat_set *fs, size_t np, size_t npf, qdm_tensor *t) {
  int nt = 0;
  for (int k = 0; k < 3; k++) {
    if (fs->on[k] && np) t[nt++] = (qdm_tensor){flat_names[k][0], 1, {(int64_t)np, 0, 0, 0}, fs->d[k], NULL};
    if (fs->on[k] && npf) t[nt++] = (qdm_tensor){flat_names[k][1], 1, {(int64_t)npf, 0, 0, 0}, NULL, fs->f[k]};
  }
  return nt;
}

/* The model's tensors, then (fs non-NULL) its flat vectors, as safetensors
 * entries pointing at the live arrays. */
static int run_tensors(qdm_unet *m, const flat_set *fs, qdm_tensor *t) {
  int nt = 0;
  for (int i = 0; i < qdm_unet_nparams(m); i++) {
    qdm_unet_param *p = qdm_unet_param_at(m, i);
    t[nt++] = (qdm_tensor){p->name, p->ndim, {p->shape[0], p->shape[1], p->shape[2], p->shape[3]}, p->p, p->pf};
  }
  size_t np, npf;
  qdm_unet_params(m, &np);
  qdm_unet_params_f32(m, &npf);
  return fs ? nt + flat_tensors(fs, np, npf, t + nt) : nt;
}

/* Whether tensor p is float in a model of precision prec. */
static int is_f32(const qdm_unet_param *p, qdm_precision prec) {
  return prec == QDM_F32 && p->group == QDM_PG_CLASSICAL;
}

/* The flat vectors of a checkpoint written at another precision (or by a
 * qdm before precisions, which is f64): read in the file's layout (every
 * value as a double, exactly), then each tensor's slice moved to its place
 * in the model's layout, rounded to float where the model is float. */
static int read_flats_converted(const char *path, qdm_unet *m, qdm_precision file_prec, const flat_set *fs) {
  size_t fnp = 0, fnpf = 0;
  for (int i = 0; i < qdm_unet_nparams(m); i++) {
    qdm_unet_param *p = qdm_unet_param_at(m, i);
    *(is_f32(p, file_prec) ? &fnpf : &fnp) += p->n;
  }
  double *buf = malloc((fnp + fnpf + 1) * sizeof *buf);
  if (!buf) return qdm_fail(QDM_ENOMEM, "%s: out of memory for the optimiser state", path);
  int err = QDM_OK;
  for (int k = 0; k < 3 && !err; k++) {
    if (!fs->on[k]) continue;
    qdm_tensor t[2];
    int nt = 0;
    if (fnp) t[nt++] = (qdm_tensor){flat_names[k][0], 1, {(int64_t)fnp, 0, 0, 0}, buf, NULL};
    if (fnpf) t[nt++] = (qdm_tensor){flat_names[k][1], 1, {(int64_t)fnpf, 0, 0, 0}, buf + fnp, NULL};
    if ((err = qdm_safetensors_read(path, t, nt))) break;
    size_t src[2] = {0, fnp}, dst[2] = {0, 0}; /* running offsets: double part, float part */
    for (int i = 0; i < qdm_unet_nparams(m); i++) {
      qdm_unet_param *p = qdm_unet_param_at(m, i);
      const double *from = buf + src[is_f32(p, file_prec)];
      int to = p->dtype == QDM_F32;
      for (size_t j = 0; j < p->n; j++) {
        if (to) fs->f[k][dst[1] + j] = (float)from[j];
        else fs->d[k][dst[0] + j] = from[j];
      }
      src[is_f32(p, file_prec)] += p->n;
      dst[to] += p->n;
    }
  }
  free(buf);
  return err;
}

/* The flat vectors of fs from path, converted if the file's precision is
 * not the model's. */
static int read_flats(const char *path, qdm_unet *m, const flat_set *fs) {
  char buf[64];
  qdm_precision file_prec = QDM_F64; /* a file without the setting predates precisions */
  if (!qdm_safetensors_meta(path, "precision", buf, sizeof buf)) {
    int v = qdm_enum_parse(qdm_precision_names, "precision", buf);
    if (v < 0) return qdm_fail_wrap(QDM_EFORMAT, "%s", path);
    file_prec = (qdm_precision)v;
  }
  if (file_prec != qdm_unet_config(m)->precision) return read_flats_converted(path, m, file_prec, fs);
  size_t np, npf;
  qdm_unet_params(m, &np);
  qdm_unet_params_f32(m, &npf);
  qdm_tensor t[6];
  return qdm_safetensors_read(path, t, flat_tensors(fs, np, npf, t));
}

typedef struct {
  const char *kv[2 * MAXMETA + 1];
  char val[MAXMETA][QDM_SETTING_MAX];
  int n;
} metabuf;

static void meta_add(metabuf *mb, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void meta_add(metabuf *mb, const char *key, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(mb->val[mb->n], sizeof mb->val[0], fmt, ap);
  va_end(ap);
  mb->kv[2 * mb->n] = key;
  mb->kv[2 * mb->n + 1] = mb->val[mb->n];
  mb->n++;
  mb->kv[2 * mb->n] = NULL;
}

int qdm__ckpt_save(const char *path, qdm_unet *m, const qdm_train_opts *o, const qdm__data_info *info,
                   const qdm__run_state *st, const qdm_adam *opt, const double *ema, const double *hist, int nhist) {
  metabuf *mb = calloc(1, sizeof *mb);
  if (!mb) return qdm_fail(QDM_ENOMEM, "checkpoint: out of memory");
  char buf[QDM_SETTING_MAX];
  const char *key;
  for (int i = 0; qdm__opts_get(o, i, &key, buf, sizeof buf); i++) meta_add(mb, key, "%s", buf);
  meta_add(mb, "format", "qdm-checkpoint-1");
  meta_add(mb, "qdm_version", "%s", qdm_version());
  if (info) meta_add(mb, "data.labels", "%s", info->labels);
  if (info && info->id) meta_add(mb, "data.id", "%016" PRIx64, info->id);
  if (st) {
    meta_add(mb, "state.epoch", "%d", st->epoch);
    meta_add(mb, "state.batch", "%d", st->batch);
    meta_add(mb, "state.loss_sum", "%.17g", st->loss_sum);
    meta_add(mb, "state.inf_sum", "%.17g", st->inf_sum);
    meta_add(mb, "state.loss_n", "%ld", st->loss_n);
    meta_add(mb, "state.best", "%.17g", st->best);
    meta_add(mb, "state.seconds", "%.17g", st->seconds);
    meta_add(mb, "state.adam_t", "%lld", opt ? opt->t : 0LL);
    rng_str(&st->rng, buf, sizeof buf);
    meta_add(mb, "state.rng", "%s", buf);
    rng_str(&st->rng_epoch, buf, sizeof buf);
    meta_add(mb, "state.rng_epoch", "%s", buf);
  }
  qdm_tensor t[MAXTENSORS];
  flat_set fs = run_flats(m, opt, ema);
  int nt = run_tensors(m, &fs, t);
  if (hist && nhist > 0) t[nt++] = (qdm_tensor){"history", 2, {nhist, 4, 0, 0}, (double *)hist, NULL};
  int err = qdm_safetensors_write(path, t, nt, mb->kv);
  free(mb);
  return err;
}

/* Settings absent from an older checkpoint keep the authors' preset values
 * (the first qdm's defaults). */
int qdm__ckpt_load_opts(const char *path, qdm_train_opts *o) {
  char buf[QDM_SETTING_MAX], dummy[QDM_SETTING_MAX];
  int err = qdm_safetensors_meta(path, "format", buf, sizeof buf);
  if (err) return err;
  if (strcmp(buf, "qdm-checkpoint-1"))
    return qdm_fail(QDM_EFORMAT, "%s: format '%s', expected qdm-checkpoint-1", path, buf);
  qdm_train_opts defaults;
  qdm_train_preset(&defaults, "authors");
  /* checkpoints from before ancilla_mode was a setting were all trained
   * with the projection */
  defaults.model.ancilla_mode = QDM_ANCILLA_PROJECT;
  defaults.model.precision = QDM_F64; /* the first qdm's: a file without the setting is double */
  *o = defaults;
  const char *key;
  for (int i = 0; qdm__opts_get(&defaults, i, &key, dummy, sizeof dummy); i++) {
    if (qdm_safetensors_meta(path, key, buf, sizeof buf)) continue;
    if ((err = qdm__opts_set(o, key, buf))) return qdm_fail_wrap(err, "%s", path);
  }
  if (qdm_train_opts_check(o)) return qdm_fail_wrap(QDM_EFORMAT, "%s: its settings are invalid", path);
  /* the file must hold every tensor of the model its settings describe
   * before those settings size any memory (a few bytes of metadata could
   * otherwise ask for gigabytes of parameters) */
  qdm_tensor t[MAXTENSORS];
  int nt = qdm__unet_tensors(&o->model, t);
  assert(nt >= 0); /* qdm_train_opts_check checked the model */
  return qdm_safetensors_check(path, t, nt);
}

int qdm__ckpt_labels(const char *path, const qdm_train_opts *o, unsigned char mask[256]) {
  char buf[1100];
  int err = qdm_safetensors_meta(path, "data.labels", buf, sizeof buf);
  if (!err) return qdm_parse_classes(*buf ? buf : "", mask) ? qdm_fail_wrap(QDM_EFORMAT, "%s: data.labels", path) : QDM_OK;
  if ((err = qdm_parse_classes(o->digits, mask))) return err;
  for (int c = o->model.classes; c < 256; c++) mask[c] = 0;
  return QDM_OK;
}

int qdm_checkpoint_settings(const char *path, qdm_train_opts *o) {
  if (!path || !*path || !o) return qdm_fail(QDM_EINVAL, "qdm_checkpoint_settings: path and o must be given");
  qdm_train_opts t;
  int err = qdm__ckpt_load_opts(path, &t);
  t.out[0] = 0; /* where a run lives is not one of its settings */
  if (!err) *o = t;
  return err;
}

static double meta_num(const char *path, const char *key, int *err) {
  char buf[128], *end;
  if (*err) return 0;
  if ((*err = qdm_safetensors_meta(path, key, buf, sizeof buf))) return 0;
  double v = strtod(buf, &end);
  if (end == buf || *end) *err = qdm_fail(QDM_EFORMAT, "%s: metadata '%s' = '%s', expected a number", path, key, buf);
  return v;
}

/* An integer setting of the run state, in [0, hi]. */
static long long meta_count(const char *path, const char *key, long long hi, int *err) {
  char buf[128], *end;
  if (*err) return 0;
  if ((*err = qdm_safetensors_meta(path, key, buf, sizeof buf))) return 0;
  errno = 0;
  long long v = strtoll(buf, &end, 10);
  if (end == buf || *end || errno || v < 0 || v > hi)
    *err = qdm_fail(QDM_EFORMAT, "%s: metadata '%s' = '%s', expected an integer in 0..%lld", path, key, buf, hi);
  return v;
}

int qdm__ckpt_load(const char *path, qdm_unet *m, qdm__run_state *st, qdm_adam *opt, double *ema, double *hist,
                   int *nhist, int maxhist) {
  qdm_tensor t[MAXTENSORS];
  /* the model alone (sampling), or everything a resumed run needs; tensors
   * stored at the other precision are converted as they are read */
  int err = qdm_safetensors_read(path, t, run_tensors(m, NULL, t));
  if (err || !st) return err;
  flat_set fs = run_flats(m, opt, ema);
  if ((err = read_flats(path, m, &fs))) return err;
  st->epoch = (int)meta_count(path, "state.epoch", INT_MAX, &err);
  st->batch = (int)meta_count(path, "state.batch", INT_MAX, &err);
  st->loss_sum = meta_num(path, "state.loss_sum", &err);
  st->inf_sum = meta_num(path, "state.inf_sum", &err);
  st->loss_n = (long)meta_count(path, "state.loss_n", LONG_MAX, &err);
  st->best = meta_num(path, "state.best", &err);
  st->seconds = meta_num(path, "state.seconds", &err);
  long long at = meta_count(path, "state.adam_t", LLONG_MAX, &err);
  if (err) return qdm_fail_wrap(err, "not a resumable checkpoint"); /* (the inner message names the file) */
  if (opt) opt->t = at;
  if ((err = meta_rng(path, "state.rng", &st->rng)) || (err = meta_rng(path, "state.rng_epoch", &st->rng_epoch)))
    return err;
  /* one history row per finished epoch (none written before the first) */
  *nhist = 0;
  if (!hist || st->epoch == 0) return QDM_OK;
  if (st->epoch >= maxhist)
    return qdm_fail(QDM_EFORMAT, "%s: at epoch %d, more than this run's %d epochs", path, st->epoch, maxhist - 1);
  qdm_tensor h = {"history", 2, {st->epoch, 4, 0, 0}, hist, NULL};
  if ((err = qdm_safetensors_read(path, &h, 1))) return err;
  *nhist = st->epoch;
  return QDM_OK;
}

int qdm_checkpoint_load(const char *path, int max_rows, qdm_train_opts *opts, qdm_unet **model) {
  if (!path || !opts || !model || max_rows < 1)
    return qdm_fail(QDM_EINVAL, "qdm_checkpoint_load: NULL argument or max_rows = %d < 1", max_rows);
  *model = NULL;
  int err = qdm__ckpt_load_opts(path, opts);
  if (err) return err;
  qdm_rng init;
  qdm_rng_seed(&init, opts->seed);
  qdm_unet *m = qdm_unet_new(&opts->model, max_rows, &init);
  if (!m) return qdm_fail_wrap(QDM_EFORMAT, "%s: cannot build its model", path);
  if ((err = qdm__ckpt_load(path, m, NULL, NULL, NULL, NULL, NULL, 0))) {
    qdm_unet_free(m);
    return err;
  }
  *model = m;
  return QDM_OK;
}
