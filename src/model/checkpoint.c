/* checkpoint.c -- settings as key/value strings and checkpoints as
 * safetensors (so Python users can open them), holding everything a resumed
 * run needs to end with the same numbers as an uninterrupted one. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/io.h"
#include "trainutil.h"

/* ---------------- settings table ---------------- */

enum { T_INT, T_DBL, T_STR, T_U64, T_LONG };
typedef struct { const char *key; int type; size_t off, size; } field;
#define F_O(k, ty, mem) {k, ty, offsetof(qdm_train_opts, mem), sizeof(((qdm_train_opts *)0)->mem)}
#define F_M(k, ty, mem) {k, ty, offsetof(qdm_train_opts, model) + offsetof(qdm_unet_cfg, mem), sizeof(((qdm_unet_cfg *)0)->mem)}
static const field fields[] = {
    F_O("preset", T_STR, preset), F_M("pixels", T_INT, D), F_M("hidden", T_INT, hidden), F_M("qubits", T_INT, n),
    F_M("layers", T_INT, layers), F_M("ansatz", T_STR, ansatz), F_M("ancilla_block", T_INT, ancilla),
    F_M("measure", T_INT, measure), F_M("ano", T_INT, K), F_M("skip", T_INT, skip),
    F_M("classical_bottleneck", T_INT, classical), F_M("conditional", T_INT, conditional), F_M("T", T_INT, T),
    F_M("classes", T_INT, classes), F_M("leak", T_DBL, leak), F_O("data", T_STR, data), F_O("digits", T_STR, digits),
    F_O("limit", T_LONG, limit), F_O("heldout", T_DBL, heldout), F_O("data_scale", T_DBL, data_scale),
    F_O("schedule", T_STR, schedule), F_O("beta_start", T_DBL, beta_start), F_O("beta_end", T_DBL, beta_end),
    F_O("target", T_INT, target), F_O("loss", T_INT, loss), F_O("sampler", T_STR, sampler),
    F_O("epochs", T_INT, epochs), F_O("batch", T_INT, batch), F_O("lr", T_DBL, lr), F_O("lr_gamma", T_DBL, lr_gamma),
    F_O("lr_step", T_INT, lr_step), F_O("circuit_lr", T_DBL, circuit_lr), F_O("ano_lr", T_DBL, ano_lr),
    F_O("weight_decay", T_DBL, weight_decay), F_O("ema", T_DBL, ema), F_O("seed", T_U64, seed),
    F_O("samples_per_class", T_INT, samples_per_class), F_O("optimizer", T_STR, optimizer),
    F_O("qngd_metric", T_STR, qngd_metric), F_O("qngd_lr", T_DBL, qngd_lr), F_O("qngd_lambda", T_DBL, qngd_lambda),
    F_O("qngd_epochs", T_INT, qngd_epochs), F_M("shots", T_LONG, shots), F_M("noise", T_STR, noise),
};
#define NFIELDS (int)(sizeof fields / sizeof *fields)

static void field_str(const qdm_train_opts *o, const field *f, char *buf, size_t len) {
  const char *p = (const char *)o + f->off;
  switch (f->type) {
  case T_INT: snprintf(buf, len, "%d", *(const int *)p); break;
  case T_LONG: snprintf(buf, len, "%ld", *(const long *)p); break;
  case T_U64: snprintf(buf, len, "%" PRIu64, *(const uint64_t *)p); break;
  case T_DBL: snprintf(buf, len, "%.17g", *(const double *)p); break;
  default: snprintf(buf, len, "%s", p);
  }
}

int tu_opts_set(qdm_train_opts *o, const char *key, const char *val) {
  for (int i = 0; i < NFIELDS; i++) {
    const field *f = &fields[i];
    if (strcmp(f->key, key)) continue;
    char *p = (char *)o + f->off, *end;
    switch (f->type) {
    case T_INT: *(int *)p = (int)strtol(val, &end, 10); break;
    case T_LONG: *(long *)p = strtol(val, &end, 10); break;
    case T_U64: *(uint64_t *)p = strtoull(val, &end, 10); break;
    case T_DBL: *(double *)p = strtod(val, &end); break;
    default:
      if (strlen(val) >= f->size) return qdm_fail(QDM_EFORMAT, "setting %s: value too long", key);
      strcpy(p, val);
      return QDM_OK;
    }
    if (*end || end == val) return qdm_fail(QDM_EFORMAT, "setting %s: '%s' is not a number", key, val);
    return QDM_OK;
  }
  return QDM_OK; /* unknown keys (e.g. from a newer qdm) are ignored */
}

void tu_opts_json(qdm_json *j, const qdm_train_opts *o) {
  char buf[1100];
  qdm_json_obj(j);
  for (int i = 0; i < NFIELDS; i++) {
    const field *f = &fields[i];
    const char *p = (const char *)o + f->off;
    if (f->type == T_STR) qdm_json_kv_str(j, f->key, p);
    else if (f->type == T_DBL) qdm_json_kv_num(j, f->key, *(const double *)p);
    else {
      field_str(o, f, buf, sizeof buf);
      qdm_json_key(j, f->key);
      qdm_json_int(j, strtoll(buf, NULL, 10));
    }
  }
  qdm_json_kv_str(j, "qdm_version", QDM_VERSION);
  qdm_json_obj_end(j);
}

/* ---------------- parameters as one flat vector ---------------- */

size_t tu_params_count(qdm_unet *m) {
  size_t n = 0;
  for (int i = 0; i < qdm_unet_nparams(m); i++) n += qdm_unet_param_at(m, i)->n;
  return n;
}

void tu_params_get(qdm_unet *m, double *dst) {
  for (int i = 0; i < qdm_unet_nparams(m); i++) {
    qdm_unet_param *p = qdm_unet_param_at(m, i);
    memcpy(dst, p->p, p->n * sizeof *dst);
    dst += p->n;
  }
}

void tu_params_set(qdm_unet *m, const double *src) {
  for (int i = 0; i < qdm_unet_nparams(m); i++) {
    qdm_unet_param *p = qdm_unet_param_at(m, i);
    memcpy(p->p, src, p->n * sizeof *src);
    src += p->n;
  }
}

/* ---------------- checkpoints ---------------- */

#define MAXMETA (NFIELDS + 16)

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
  int64_t np = (int64_t)tu_params_count(m);
  if (opt) {
    t[nt++] = (qdm_tensor){"optim.adam_m", 1, {np, 0, 0, 0}, opt->m};
    t[nt++] = (qdm_tensor){"optim.adam_v", 1, {np, 0, 0, 0}, opt->v};
  }
  if (ema) t[nt++] = (qdm_tensor){"ema", 1, {np, 0, 0, 0}, (double *)ema};
  return nt;
}

typedef struct {
  const char *kv[2 * MAXMETA + 1];
  char val[MAXMETA][1100];
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

int tu_save(const char *path, qdm_unet *m, const qdm_train_opts *o, const tu_state *st, const qdm_adam *opt,
            const double *ema, const double *hist, int nhist) {
  metabuf *mb = calloc(1, sizeof *mb);
  if (!mb) return qdm_fail(QDM_ENOMEM, "checkpoint: out of memory");
  char buf[1100];
  for (int i = 0; i < NFIELDS; i++) {
    field_str(o, &fields[i], buf, sizeof buf);
    meta_add(mb, fields[i].key, "%s", buf);
  }
  meta_add(mb, "format", "qdm-checkpoint-1");
  meta_add(mb, "qdm_version", "%s", QDM_VERSION);
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

int tu_load_opts(const char *path, qdm_train_opts *o) {
  char buf[1100];
  int err = qdm_safetensors_meta(path, "format", buf, sizeof buf);
  if (err) return err;
  if (strcmp(buf, "qdm-checkpoint-1"))
    return qdm_fail(QDM_EFORMAT, "%s: format '%s', expected qdm-checkpoint-1", path, buf);
  qdm_train_preset(o, "authors");
  for (int i = 0; i < NFIELDS; i++) {
    if (qdm_safetensors_meta(path, fields[i].key, buf, sizeof buf)) continue;
    if ((err = tu_opts_set(o, fields[i].key, buf))) return qdm_fail(err, "%s: %s", path, qdm_errmsg());
  }
  return QDM_OK;
}

static double meta_num(const char *path, const char *key, int *err) {
  char buf[128];
  if (*err) return 0;
  *err = qdm_safetensors_meta(path, key, buf, sizeof buf);
  return *err ? 0 : strtod(buf, NULL);
}

int tu_load(const char *path, qdm_unet *m, tu_state *st, qdm_adam *opt, double *ema, double *hist, int *nhist,
            int maxhist) {
  qdm_tensor t[MAXTENSORS];
  int nm = run_tensors(m, NULL, NULL, t), nt = run_tensors(m, opt, ema, t);
  /* the model alone (sampling), or everything a resumed run needs */
  int err = qdm_safetensors_read(path, t, st ? nt : nm);
  if (err || !st) return err;
  st->epoch = (int)meta_num(path, "state.epoch", &err);
  st->batch = (int)meta_num(path, "state.batch", &err);
  st->loss_sum = meta_num(path, "state.loss_sum", &err);
  st->inf_sum = meta_num(path, "state.inf_sum", &err);
  st->loss_n = (long)meta_num(path, "state.loss_n", &err);
  st->best = meta_num(path, "state.best", &err);
  st->seconds = meta_num(path, "state.seconds", &err);
  long long at = (long long)meta_num(path, "state.adam_t", &err);
  if (err) return qdm_fail(err, "%s: not a resumable checkpoint (%s)", path, qdm_errmsg());
  if (opt) opt->t = at;
  char buf[128];
  if ((err = qdm_safetensors_meta(path, "state.rng", buf, sizeof buf)) || (err = rng_parse(buf, &st->rng))) return err;
  if ((err = qdm_safetensors_meta(path, "state.rng_epoch", buf, sizeof buf)) || (err = rng_parse(buf, &st->rng_epoch)))
    return err;
  *nhist = 0;
  int nd;
  int64_t shape[4];
  if (hist && !qdm_safetensors_shape(path, "history", &nd, shape) && nd == 2 && shape[1] == 4 && shape[0] <= maxhist) {
    qdm_tensor h = {"history", 2, {shape[0], 4, 0, 0}, hist};
    if ((err = qdm_safetensors_read(path, &h, 1))) return err;
    *nhist = (int)shape[0];
  }
  return QDM_OK;
}
