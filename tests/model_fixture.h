/* model_fixture.h -- a small hybrid U-Net with random unit inputs and
 * targets, its infidelity loss, and the finite-difference check of every
 * parameter tensor's gradient (shared by test_model and test_model_noise). */
#ifndef QDM_MODEL_FIXTURE_H
#define QDM_MODEL_FIXTURE_H
#include <stdlib.h>
#include "check.h"
#include "qdm/model.h"

typedef struct {
  qdm_unet *m;
  qdm_cplx *x, *target, *out, *g;
  int *t, *lab, B;
} fixture;

static double loss_of(fixture *f) {
  double L = NAN;
  if (qdm_unet_forward(f->m, f->x, f->t, f->lab, f->B, f->out)) return NAN;
  qdm_infidelity_loss(&L, f->g, f->out, f->target, f->B, qdm_unet_config(f->m)->D);
  return L;
}

static void fixture_init(fixture *f, const qdm_unet_cfg *cfg, int B, uint64_t seed) {
  qdm_rng r;
  qdm_rng_seed(&r, seed);
  f->B = B;
  f->m = qdm_unet_new(cfg, B, &r);
  CHECK(f->m != NULL, "model built: %s", qdm_errmsg());
  int D = cfg->D;
  f->x = malloc(B * D * sizeof *f->x);
  f->target = malloc(B * D * sizeof *f->target);
  f->out = malloc(B * D * sizeof *f->out);
  f->g = malloc(B * D * sizeof *f->g);
  f->t = malloc(B * sizeof(int));
  f->lab = malloc(B * sizeof(int));
  /* the inputs come from their own generator: the same for every model */
  qdm_rng_seed(&r, 1234);
  for (int b = 0; b < B; b++) {
    qdm_rng_haar_state(&r, f->x + (size_t)b * D, D);
    qdm_rng_haar_state(&r, f->target + (size_t)b * D, D);
    f->t[b] = 1 + b % cfg->T;
    f->lab[b] = (b / cfg->T) % cfg->classes;
  }
}

static void fixture_free(fixture *f) {
  qdm_unet_free(f->m);
  free(f->x); free(f->target); free(f->out); free(f->g); free(f->t); free(f->lab);
}

/* a model small enough for finite differences of every tensor */
static qdm_unet_cfg small_model_cfg(void) {
  qdm_unet_cfg c;
  qdm_unet_cfg_authors(&c);
  c.D = 8;
  c.hidden = 6;
  c.layers = 1;
  c.K = 3;
  c.T = 2;
  c.classes = 2;
  return c;
}

/* analytic gradients of every tensor vs central differences at 4 entries each */
static void check_fixture_gradients(fixture *f, const char *what) {
  qdm_unet_zero_grad(f->m);
  CHECK(isfinite(loss_of(f)), "%s: forward runs (%s)", what, qdm_errmsg());
  CHECK(qdm_unet_backward(f->m, f->g, NULL) == QDM_OK, "%s: backward runs", what);
  qdm_rng r;
  qdm_rng_seed(&r, 5);
  for (int i = 0; i < qdm_unet_nparams(f->m); i++) {
    qdm_unet_param *p = qdm_unet_param_at(f->m, i);
    for (int k = 0; k < 4; k++) {
      size_t j = qdm_rng_u64(&r) % p->n;
      double save = p->p[j], h = 1e-6;
      p->p[j] = save + h;
      double Lp = loss_of(f);
      p->p[j] = save - h;
      double Lm = loss_of(f);
      p->p[j] = save;
      double fd = (Lp - Lm) / (2 * h);
      CHECK(fabs(p->g[j] - fd) <= 1e-6 + 1e-5 * fabs(fd), "%s: d loss / d %s[%zu] = %.10g, finite difference %.10g",
            what, p->name, j, p->g[j], fd);
    }
  }
}
#endif
