/* adam.c -- torch.optim.Adam (L2 weight decay added to the gradient, the
 * authors' optimiser) or AdamW (decoupled decay), with parameter groups and
 * a plain state (t, m, v) that a checkpoint can store as arrays. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/nn.h"

int qdm_adam_init(qdm_adam *opt, double beta1, double beta2, double eps, int decoupled) {
  if (!opt) return qdm_fail(QDM_EINVAL, "qdm_adam_init: opt must be non-NULL");
  if (!(beta1 >= 0 && beta1 < 1)) return qdm_fail(QDM_EINVAL, "qdm_adam_init: beta1 must be in [0,1) (got %g)", beta1);
  if (!(beta2 >= 0 && beta2 < 1)) return qdm_fail(QDM_EINVAL, "qdm_adam_init: beta2 must be in [0,1) (got %g)", beta2);
  if (!(eps >= 0)) return qdm_fail(QDM_EINVAL, "qdm_adam_init: eps must be >= 0 (got %g)", eps);
  memset(opt, 0, sizeof *opt);
  opt->beta1 = beta1;
  opt->beta2 = beta2;
  opt->eps = eps;
  opt->decoupled = decoupled ? 1 : 0;
  return QDM_OK;
}

int qdm_adam_add_group(qdm_adam *opt, const char *name, double *p, double *g, size_t n,
                       double lr_mult, double weight_decay) {
  if (!opt || !p || !g) return qdm_fail(QDM_EINVAL, "qdm_adam_add_group: opt, p and g must be non-NULL");
  if (n == 0) return qdm_fail(QDM_EINVAL, "qdm_adam_add_group: n must be > 0");
  if (!(lr_mult >= 0)) return qdm_fail(QDM_EINVAL, "qdm_adam_add_group: lr_mult must be >= 0 (got %g)", lr_mult);
  if (!(weight_decay >= 0)) return qdm_fail(QDM_EINVAL, "qdm_adam_add_group: weight_decay must be >= 0 (got %g)", weight_decay);
  if (opt->ngroups == opt->capgroups) {
    int cap = opt->capgroups ? 2 * opt->capgroups : 8;
    qdm_param_group *gr = realloc(opt->groups, sizeof *gr * cap);
    if (!gr) return qdm_fail(QDM_ENOMEM, "qdm_adam_add_group: out of memory");
    opt->groups = gr;
    opt->capgroups = cap;
  }
  size_t total = opt->n + n;
  double *m = realloc(opt->m, sizeof(double) * total);
  if (!m) return qdm_fail(QDM_ENOMEM, "qdm_adam_add_group: out of memory for %zu moments", total);
  opt->m = m;
  double *v = realloc(opt->v, sizeof(double) * total);
  if (!v) return qdm_fail(QDM_ENOMEM, "qdm_adam_add_group: out of memory for %zu moments", total);
  opt->v = v;
  memset(opt->m + opt->n, 0, sizeof(double) * n);
  memset(opt->v + opt->n, 0, sizeof(double) * n);
  qdm_param_group *gr = &opt->groups[opt->ngroups++];
  memset(gr, 0, sizeof *gr);
  gr->p = p;
  gr->g = g;
  gr->n = n;
  gr->off = opt->n;
  gr->lr_mult = lr_mult;
  gr->weight_decay = weight_decay;
  if (name) {
    strncpy(gr->name, name, sizeof gr->name - 1);
    gr->name[sizeof gr->name - 1] = 0;
  }
  opt->n = total;
  return QDM_OK;
}

/* The bias corrections 1 - b^t undo the zero start of m and v; torch writes
 * the update as lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps), which is exactly
 * lr * mhat / (sqrt(vhat) + eps) of Kingma & Ba's Algorithm 1. */
int qdm_adam_step(qdm_adam *opt, double lr) {
  if (!opt) return qdm_fail(QDM_EINVAL, "qdm_adam_step: opt must be non-NULL");
  if (!(lr >= 0)) return qdm_fail(QDM_EINVAL, "qdm_adam_step: lr must be >= 0 (got %g)", lr);
  opt->t++;
  double b1 = opt->beta1, b2 = opt->beta2;
  double bc1 = 1.0 - pow(b1, (double)opt->t), sbc2 = sqrt(1.0 - pow(b2, (double)opt->t));
  for (int k = 0; k < opt->ngroups; k++) {
    qdm_param_group *gr = &opt->groups[k];
    double glr = lr * gr->lr_mult, wd = gr->weight_decay, step = glr / bc1;
    double *p = gr->p, *m = opt->m + gr->off, *v = opt->v + gr->off;
    const double *g = gr->g;
    for (size_t i = 0; i < gr->n; i++) {
      double gi = g[i];
      if (opt->decoupled) p[i] *= 1.0 - glr * wd;
      else gi += wd * p[i];
      m[i] = b1 * m[i] + (1.0 - b1) * gi;
      v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
      p[i] -= step * m[i] / (sqrt(v[i]) / sbc2 + opt->eps);
    }
  }
  return QDM_OK;
}

void qdm_adam_zero_grad(qdm_adam *opt) {
  if (!opt) return;
  for (int k = 0; k < opt->ngroups; k++) memset(opt->groups[k].g, 0, sizeof(double) * opt->groups[k].n);
}

int qdm_adam_set_state(qdm_adam *opt, long long t, const double *m, const double *v, size_t n) {
  if (!opt || !m || !v) return qdm_fail(QDM_EINVAL, "qdm_adam_set_state: opt, m and v must be non-NULL");
  if (n != opt->n)
    return qdm_fail(QDM_EINVAL, "qdm_adam_set_state: n must equal the optimiser's %zu parameters (got %zu)", opt->n, n);
  if (t < 0) return qdm_fail(QDM_EINVAL, "qdm_adam_set_state: t must be >= 0 (got %lld)", t);
  memcpy(opt->m, m, sizeof(double) * n);
  memcpy(opt->v, v, sizeof(double) * n);
  opt->t = t;
  return QDM_OK;
}

void qdm_adam_free(qdm_adam *opt) {
  if (!opt) return;
  free(opt->groups);
  free(opt->m);
  free(opt->v);
  memset(opt, 0, sizeof *opt);
}

double qdm_lr_step_decay(double lr0, double gamma, int step_size, int epoch) {
  if (step_size <= 0 || epoch < 0) {
    qdm_fail(QDM_EINVAL, "qdm_lr_step_decay: need step_size > 0 and epoch >= 0 (got %d, %d)", step_size, epoch);
    return NAN; /* qdm_adam_step rejects a NaN lr, so the error surfaces */
  }
  return lr0 * pow(gamma, (double)(epoch / step_size));
}
