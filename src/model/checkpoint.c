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

static int rng_parse(const char *s, qdm_rng *r) {
  if (strlen(s) != 64) return qdm_fail(QDM_EFORMAT, "checkpoint: generator state '%s' is not 64 hex digits", s);
  for (int i = 0; i < 4; i++) {
    char part[17];
    memcpy(part, s + 16 * i, 16);
    part[16] = 0;
    r->s[i] = strtoull(part, NULL, 16);
  }
  return QDM_OK;
}

/* The model's tensors, then (opt, ema non-NULL) the optimiser moments and
 * the EMA copy, as safetensors entries pointing at the live arrays. */
#define MAXTENSORS 24
static int run_tensors(qdm_unet *m, const qdm_adam *opt, const double *ema, qdm_tensor *t) {
  int nt = 0;
  for (int i = 0; i < qdm_unet_nparams(m); i++) {
    qdm_unet_param *p = qdm_unet_param_at(m, i);
    t[nt++] = (qdm_tensor){p->name, p->ndim, {p->shape[0], p->shape[1], p->shape[2], p->shape[3]}, p->p};
  }
  size_t n;
  qdm_unet_params(m, &n);
  int64_t np = (int64_t)n;
  if (opt) {
    t[nt++] = (qdm_tensor){"optim.adam_m", 1, {np, 0, 0, 0}, opt->m};
    t[nt++] = (qdm_tensor){"optim.adam_v", 1, {np, 0, 0, 0}, opt->v};
  }
  if (ema) t[nt++] = (qdm_tensor){"ema", 1, {np, 0, 0, 0}, (double *)ema};
  return nt;
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
  int nt = run_tensors(m, opt, ema, t);
  if (hist && nhist > 0) t[nt++] = (qdm_tensor){"history", 2, {nhist, 4, 0, 0}, (double *)hist};
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
  int nm = run_tensors(m, NULL, NULL, t), nt = run_tensors(m, opt, ema, t);
  /* the model alone (sampling), or everything a resumed run needs */
  int err = qdm_safetensors_read(path, t, st ? nt : nm);
  if (err || !st) return err;
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
  char buf[128];
  if ((err = qdm_safetensors_meta(path, "state.rng", buf, sizeof buf)) || (err = rng_parse(buf, &st->rng))) return err;
  if ((err = qdm_safetensors_meta(path, "state.rng_epoch", buf, sizeof buf)) || (err = rng_parse(buf, &st->rng_epoch)))
    return err;
  /* one history row per finished epoch (none written before the first) */
  *nhist = 0;
  if (!hist || st->epoch == 0) return QDM_OK;
  if (st->epoch >= maxhist)
    return qdm_fail(QDM_EFORMAT, "%s: at epoch %d, more than this run's %d epochs", path, st->epoch, maxhist - 1);
  qdm_tensor h = {"history", 2, {st->epoch, 4, 0, 0}, hist};
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
