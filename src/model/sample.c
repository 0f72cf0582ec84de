/* sample.c -- generation: the reverse chain from noise with a trained
 * model, by the authors' deterministic mean sampler or by qdm's ancestral
 * DDPM, DDIM and reverse-SDE samplers (report 2.1.2, 2.1.4). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/io.h"
#include "run.h"

/* The model sees unit vectors and predicts a unit vector; the denoiser
 * restores the scale of what it predicts (x0 at the data's norm, eps at the
 * noise's) so that the samplers' formulas apply in the raw space. */
typedef struct {
  qdm_unet *m;
  int D;
  double scale;
  int *t;
  qdm_cplx *in, *out;
  double *lo, *hi; /* x0's box (qdm_train_opts.clip): (0, 0) .. (inf, 0) per complex value */
} denoise_ctx;

/* The box of the model's x0 (2D values): images are real and non-negative
 * (qdm__images_to_x0 scales them by a positive factor). */
static int x0_box(denoise_ctx *c) {
  int D2 = 2 * c->D;
  c->lo = malloc(D2 * sizeof(double));
  c->hi = malloc(D2 * sizeof(double));
  if (!c->lo || !c->hi) return qdm_fail(QDM_ENOMEM, "sample: out of memory");
  for (int k = 0; k < D2; k++) {
    c->lo[k] = 0;
    c->hi[k] = k % 2 ? 0 : INFINITY;
  }
  return QDM_OK;
}

static int predict(void *ctx, const double *z, int B, int D2, int t, const int *labels, double *out) {
  denoise_ctx *c = ctx;
  (void)D2;
  for (int r = 0; r < B; r++) c->t[r] = t;
  qdm_cl2norm_forward(c->in, NULL, (const qdm_cplx *)z, B, c->D);
  int err = qdm_unet_forward(c->m, c->in, c->t, labels, B, c->out);
  if (err) return err;
  for (size_t k = 0; k < (size_t)B * c->D; k++) ((qdm_cplx *)out)[k] = c->scale * c->out[k];
  return QDM_OK;
}

static void magnitudes(const double *z, int B, int D, float *dst, size_t stride) {
  for (int r = 0; r < B; r++)
    for (int k = 0; k < D; k++) {
      double re = z[((size_t)r * D + k) * 2], im = z[((size_t)r * D + k) * 2 + 1];
      dst[r * stride + k] = (float)sqrt(re * re + im * im);
    }
}

void qdm_train_sampler(const qdm_train_opts *o, qdm_sampler_cfg *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->kind = o->sampler;
  cfg->steps = o->sampler == QDM_SAMPLER_DDIM ? o->sample_steps : 0;
  cfg->eta = o->eta;
  cfg->substeps = o->sde_substeps;
  cfg->renorm = o->sampler == QDM_SAMPLER_MEAN; /* the authors renormalise after every step */
}

/* One chunk of B chains from fresh noise; traj (if non-NULL) gets |z| after
 * each of the n model steps (columns 0..n of a (T + 1)-column row). */
static int chain(denoise_ctx *c, const qdm_train_opts *o, const qdm_schedule *sch, const qdm_sampler_cfg *cfg,
                 const int *times, int nsteps, const int *labels, int B, qdm_rng *rng, double *z, double *work, float *img,
                 float *traj) {
  int D = c->D, T = o->model.T, err = QDM_OK;
  qdm_denoiser den = {predict, c, o->target, o->clip ? c->lo : NULL, o->clip ? c->hi : NULL};
  size_t stride = (size_t)(T + 1) * D;
  qdm_randn(z, (size_t)B * 2 * D, rng);
  if (cfg->kind == QDM_SAMPLER_MEAN) /* the authors start from unit noise */
    qdm_cl2norm_forward((qdm_cplx *)z, NULL, (const qdm_cplx *)z, B, D);
  for (int k = 0; k < nsteps && !err; k++) {
    if (traj) magnitudes(z, B, D, traj + (size_t)k * D, stride);
    err = qdm_sampler_step(z, sch, &den, cfg, times[k], times[k + 1], labels, B, 2 * D, rng, work);
  }
  if (traj) magnitudes(z, B, D, traj + (size_t)nsteps * D, stride);
  magnitudes(z, B, D, img, D);
  return err;
}

int qdm_generate(qdm_unet *m, const qdm_train_opts *o, const qdm_sampler_cfg *sampler, const int *labels, int n,
                 uint64_t seed, float *img, float *traj) {
  if (!m || !o || !img || n < 1) return qdm_fail(QDM_EINVAL, "qdm_generate: NULL model, settings or output, or n = %d < 1", n);
  qdm_sampler_cfg cfg;
  if (sampler) cfg = *sampler;
  else qdm_train_sampler(o, &cfg);
  int times[QDM_MAX_T + 1], nsteps = o->model.T <= QDM_MAX_T ? qdm_sampler_times(&cfg, o->model.T, times) : -QDM_EINVAL;
  if (nsteps < 0) return -nsteps;
  const qdm_unet_cfg *mc = qdm_unet_config(m);
  if (mc->D != o->model.D || mc->T != o->model.T)
    return qdm_fail(QDM_EINVAL, "qdm_generate: the model (D %d, T %d) was not made for these settings (D %d, T %d)", mc->D,
                    mc->T, o->model.D, o->model.T);
  qdm_schedule sch = {0};
  int err = qdm__schedule(&sch, o);
  if (err) return err;
  int D = o->model.D, chunk = 64, T = o->model.T;
  denoise_ctx c = {m, D, 1.0, NULL, NULL, NULL, NULL, NULL};
  if (o->target == QDM_PRED_X0 && o->data_scale > 0) c.scale = o->data_scale * sqrt((double)D);
  if (o->target == QDM_PRED_EPS) c.scale = sqrt(2.0 * D);
  c.t = malloc(chunk * sizeof(int));
  c.in = malloc((size_t)chunk * D * sizeof(qdm_cplx));
  c.out = malloc((size_t)chunk * D * sizeof(qdm_cplx));
  err = x0_box(&c);
  double *z = malloc((size_t)chunk * 2 * D * sizeof(double)), *work = malloc(qdm_sampler_work(chunk, 2 * D) * sizeof(double));
  if (!err && (!c.t || !c.in || !c.out || !z || !work)) err = qdm_fail(QDM_ENOMEM, "sample: out of memory");
  qdm_rng rng;
  qdm_rng_seed(&rng, seed);
  for (int i = 0; !err && i < n; i += chunk) {
    int B = n - i < chunk ? n - i : chunk;
    err = chain(&c, o, &sch, &cfg, times, nsteps, labels ? labels + i : NULL, B, &rng, z, work, img + (size_t)i * D,
                traj ? traj + (size_t)i * (T + 1) * D : NULL);
  }
  free(c.t); free(c.in); free(c.out); free(c.lo); free(c.hi); free(z); free(work);
  qdm_schedule_free(&sch);
  return err;
}

int qdm_model_vlb(qdm_unet *m, const qdm_train_opts *o, const qdm_dataset *d, int first, int n, uint64_t seed,
                  qdm_vlb *out, double *bits_per_dim) {
  if (!m || !o || !d || !out || first < 0 || n < 1 || first + n > d->n)
    return qdm_fail(QDM_EINVAL, "qdm_model_vlb: NULL argument or images %d..%d not in 0..%d", first, first + n - 1, d->n - 1);
  if (d->h * d->w != o->model.D)
    return qdm_fail(QDM_EINVAL, "qdm_model_vlb: images of %dx%d values, the model takes %d", d->h, d->w, o->model.D);
  int D = o->model.D, chunk = 64, err = QDM_OK;
  qdm_schedule sch = {0};
  if ((err = qdm__schedule(&sch, o))) return err;
  denoise_ctx c = {m, D, 1.0, NULL, NULL, NULL, NULL, NULL};
  if (o->target == QDM_PRED_X0 && o->data_scale > 0) c.scale = o->data_scale * sqrt((double)D);
  if (o->target == QDM_PRED_EPS) c.scale = sqrt(2.0 * D);
  c.t = malloc(chunk * sizeof(int));
  c.in = malloc((size_t)chunk * D * sizeof(qdm_cplx));
  c.out = malloc((size_t)chunk * D * sizeof(qdm_cplx));
  double *x0 = malloc((size_t)chunk * 2 * D * sizeof(double)), *work = malloc((size_t)3 * chunk * 2 * D * sizeof(double));
  int *idx = malloc(chunk * sizeof(int)), *lab = malloc(chunk * sizeof(int));
  if (!c.t || !c.in || !c.out || !x0 || !work || !idx || !lab) err = qdm_fail(QDM_ENOMEM, "vlb: out of memory");
  qdm_rng rng;
  qdm_rng_seed(&rng, seed);
  qdm_denoiser den = {predict, &c, o->target, NULL, NULL}; /* the unclipped reverse steps */
  memset(out, 0, sizeof *out);
  for (int i = 0; !err && i < n; i += chunk) {
    int B = n - i < chunk ? n - i : chunk;
    for (int r = 0; r < B; r++) {
      idx[r] = first + i + r;
      lab[r] = d->y ? d->y[idx[r]] : 0;
    }
    qdm__images_to_x0(d, idx, B, o->data_scale, x0);
    qdm_vlb part;
    if ((err = qdm_vlb_estimate(&sch, &den, x0, o->model.conditional ? lab : NULL, B, 2 * D, &rng, work, &part))) break;
    out->prior += part.prior * B;
    out->diffusion += part.diffusion * B;
    out->decoder += part.decoder * B;
  }
  if (!err) {
    out->prior /= n;
    out->diffusion /= n;
    out->decoder /= n;
    out->total = out->prior + out->diffusion + out->decoder;
    out->rows = n;
    if (bits_per_dim) *bits_per_dim = out->total / (2.0 * D * log(2.0));
  }
  free(c.t); free(c.in); free(c.out); free(x0); free(work); free(idx); free(lab);
  qdm_schedule_free(&sch);
  return err;
}

void qdm_scale_max(float *img, int n, int D) {
  for (int i = 0; i < n; i++) {
    float mx = 0;
    for (int k = 0; k < D; k++) mx = img[(size_t)i * D + k] > mx ? img[(size_t)i * D + k] : mx;
    for (int k = 0; k < D && mx > 0; k++) img[(size_t)i * D + k] /= mx;
  }
}

/* The labels to sample, ascending: those asked for ("0,1"; empty: every
 * label the model was trained on), each one the model saw in training. An
 * unconditional model takes no label (*nl = 1 row of unlabelled images,
 * lab[0] = -1). */
static int sample_labels(const char *s, const qdm_train_opts *o, const char *ckpt, int *lab, int *nl) {
  int conditional = o->model.conditional && o->model.classes > 1;
  *nl = 0;
  if (s && !strcmp(s, "all")) s = NULL; /* every label the model learned, as the default */
  if (!conditional) {
    if (s && *s)
      return qdm_fail(QDM_EINVAL, "labels '%s': %s is unconditional (its circuits do not depend on a label), so "
                      "labels would change nothing", s, ckpt);
    lab[(*nl)++] = -1;
    return QDM_OK;
  }
  unsigned char seen[256], want[256];
  char list[1100];
  int err = qdm__ckpt_labels(ckpt, o, seen);
  if (!err) err = qdm_classes_str(seen, list, sizeof list);
  if (!err) err = qdm_parse_classes(s && *s ? s : list, want);
  if (err) return err;
  for (int c = 0; c < 256; c++) {
    if (!want[c] || (!(s && *s) && !seen[c])) continue;
    if (!seen[c])
      return qdm_fail(QDM_EINVAL, "label %d: %s was trained on labels %s only (its circuits for label %d never "
                      "learned)", c, ckpt, list, c);
    lab[(*nl)++] = c;
  }
  if (!*nl) return qdm_fail(QDM_EINVAL, "labels '%s': none to sample (the model knows %s)", s ? s : "", list);
  return QDM_OK;
}

/* The checkpoint's model, set to sample on another device than the one
 * it was trained on if asked (shots, noise). */
static int sample_model(const qdm_sample_opts *so, qdm_train_opts *o, qdm_unet **m) {
  int err = qdm__ckpt_load_opts(so->checkpoint, o);
  if (err) return err;
  if (so->shots) o->model.shots = so->shots > 0 ? so->shots : 0;
  if (so->noise[0]) snprintf(o->model.noise, sizeof o->model.noise, "%s", so->noise);
  if ((err = qdm_unet_cfg_check(&o->model))) return err;
  qdm_rng init;
  qdm_rng_seed(&init, o->seed);
  if (!(*m = qdm_unet_new(&o->model, 64, &init))) return QDM_EINVAL;
  if ((err = qdm__ckpt_load(so->checkpoint, *m, NULL, NULL, NULL, NULL, NULL, 0))) {
    qdm_unet_free(*m);
    *m = NULL;
  }
  return err;
}

void qdm__sampler_text(const qdm_sampler_cfg *c, int T, char *buf, size_t len) {
  int times[QDM_MAX_T + 1], S = qdm_sampler_times(c, T, times);
  const char *name = qdm_enum_str(qdm_sampler_names, c->kind);
  if (c->kind == QDM_SAMPLER_DDIM) snprintf(buf, len, "sampler ddim (eta %g), %d of T = %d steps", c->eta, S, T);
  else if (c->kind == QDM_SAMPLER_SDE || c->kind == QDM_SAMPLER_ODE)
    snprintf(buf, len, "sampler %s, %d steps x %d Euler substeps", name, S, c->substeps > 0 ? c->substeps : 1);
  else snprintf(buf, len, "sampler %s, %d steps", name, S);
}

void qdm__row_names(const char *data, const int *lab, int nl, char (*names)[QDM__NAME_LEN], const char **rl) {
  for (int i = 0; i < nl; i++) {
    if (lab[i] < 0) snprintf(names[i], QDM__NAME_LEN, "all");
    else qdm_class_name(data, lab[i] & 255, names[i], QDM__NAME_LEN);
    rl[i] = names[i];
  }
}

/* One row per label (lab[i] < 0: "all") of the first (up to 16) of its
 * `per` images, under a title that says what they are. */
static int sample_png(const qdm_sample_opts *so, const qdm_train_opts *o, const qdm_sampler_cfg *cfg, const float *img,
                      const int *lab, int nl, int side) {
  char names[256][QDM__NAME_LEN], title[3000], st[128];
  const char *rl[256];
  qdm__row_names(o->data, lab, nl, names, rl);
  int per = so->n, cols = per > 16 ? 16 : per, D = side * side, err = QDM_OK;
  qdm__sampler_text(cfg, o->model.T, st, sizeof st);
  snprintf(title, sizeof title, "qdm sample: %s\n%s, seed %llu; one row per class, each column a chain from noise%s",
           so->checkpoint, st, (unsigned long long)so->seed, lab[0] < 0 ? " (unconditional)" : "");
  float *pick = malloc((size_t)nl * cols * D * sizeof(float));
  if (!pick) err = qdm_fail(QDM_ENOMEM, "sample: out of memory");
  for (int i = 0; !err && i < nl; i++)
    memcpy(pick + (size_t)i * cols * D, img + (size_t)i * per * D, (size_t)cols * D * sizeof(float));
  qdm_grid_text tx = {title, rl, NULL, NULL};
  if (!err) err = qdm_png_grid_text(so->png, pick, nl * cols, side, side, nl, cols, 6, &tx);
  free(pick);
  return err;
}

void qdm_sample_opts_default(qdm_sample_opts *o) {
  memset(o, 0, sizeof *o);
  o->n = 8;
  o->seed = 1;
  o->sampler = -1;
  o->sample_steps = -1;
  o->eta = -1;
  o->sde_substeps = -1;
  o->clip = -1;
}

int qdm_sample_run(const qdm_sample_opts *so) {
  if (!so) return qdm_fail(QDM_EINVAL, "qdm_sample_run: NULL options");
  if (so->n < 1 || so->n > 100000) return qdm_fail(QDM_EINVAL, "n = %d: expected 1..100000 images per label", so->n);
  if (so->use_ema)
    return qdm_fail(QDM_EINVAL, "%s: use_ema: a run trained with --ema keeps its EMA weights as best.safetensors; sample "
                    "from that file", so->checkpoint);
  qdm_train_opts o;
  qdm_unet *m = NULL;
  int err = sample_model(so, &o, &m);
  if (err) return err;
  int lab[256], nl;
  if ((err = sample_labels(so->labels, &o, so->checkpoint, lab, &nl))) {
    qdm_unet_free(m);
    return err;
  }
  if (lab[0] < 0 && so->idx_labels[0]) {
    qdm_unet_free(m);
    return qdm_fail(QDM_EINVAL, "idx labels %s: an unconditional model's images have no labels", so->idx_labels);
  }
  int n = so->n * nl, D = o.model.D;
  int *labels = malloc(n * sizeof(int));
  float *img = malloc((size_t)n * D * sizeof(float));
  if (!labels || !img) err = qdm_fail(QDM_ENOMEM, "sample: out of memory for %d images", n);
  for (int i = 0; !err && i < n; i++) labels[i] = lab[i / so->n];
  qdm_sampler_cfg cfg;
  qdm_train_sampler(&o, &cfg);
  if (so->sampler >= 0) cfg.kind = (qdm_sampler_kind)so->sampler;
  if (so->sample_steps >= 0) cfg.steps = so->sample_steps;
  if (so->eta >= 0) cfg.eta = so->eta;
  if (so->sde_substeps >= 0) cfg.substeps = so->sde_substeps;
  if (so->clip >= 0) o.clip = so->clip != 0;
  if (cfg.kind != QDM_SAMPLER_DDIM && so->sample_steps > 0)
    err = qdm_fail(QDM_EINVAL, "sample steps = %d: only the ddim sampler skips steps", so->sample_steps);
  if (cfg.kind != QDM_SAMPLER_DDIM) cfg.steps = 0; /* the checkpoint's ddim steps do not apply */
  if (!err) err = qdm_generate(m, &o, &cfg, lab[0] < 0 ? NULL : labels, n, so->seed, img, NULL);
  if (!err) qdm_scale_max(img, n, D);
  int side = (int)(sqrt((double)D) + 0.5);
  if (!err && so->png[0]) err = sample_png(so, &o, &cfg, img, lab, nl, side);
  if (!err && so->idx[0]) err = qdm_idx_write_images(so->idx, img, n, side, side);
  if (!err && so->idx_labels[0]) {
    uint8_t *l8 = malloc(n);
    if (!l8) err = qdm_fail(QDM_ENOMEM, "sample: out of memory");
    for (int i = 0; !err && i < n; i++) l8[i] = (uint8_t)labels[i];
    if (!err) err = qdm_idx_write_labels(so->idx_labels, l8, n);
    free(l8);
  }
  free(labels);
  free(img);
  qdm_unet_free(m);
  return err;
}
