/* init.c -- PyTorch's default initialisations, drawn from qdm_rng so a run
 * is reproducible from its seed. */
#include <math.h>
#include "qdm/nn.h"

int qdm_init_uniform(double *p, size_t n, double lo, double hi, qdm_rng *rng) {
  if (!p || !rng) return qdm_fail(QDM_EINVAL, "qdm_init_uniform: p and rng must be non-NULL");
  if (!(hi >= lo)) return qdm_fail(QDM_EINVAL, "qdm_init_uniform: need lo <= hi (got %g, %g)", lo, hi);
  for (size_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * qdm_rng_uniform(rng);
  return QDM_OK;
}

/* kaiming_uniform(a = sqrt(5)): gain = sqrt(2 / (1 + a^2)) = 1/sqrt(3),
 * bound = sqrt(3) * gain / sqrt(fan_in) = 1 / sqrt(fan_in); the bias uses
 * 1 / sqrt(fan_in) as well. */
int qdm_init_linear(double *W, double *b, int in, int out, qdm_rng *rng) {
  if (!W || !rng) return qdm_fail(QDM_EINVAL, "qdm_init_linear: W and rng must be non-NULL");
  if (in <= 0 || out <= 0)
    return qdm_fail(QDM_EINVAL, "qdm_init_linear: in and out must be > 0 (got %d, %d)", in, out);
  double bound = 1.0 / sqrt((double)in);
  qdm_init_uniform(W, (size_t)in * out, -bound, bound, rng);
  if (b) qdm_init_uniform(b, (size_t)out, -bound, bound, rng);
  return QDM_OK;
}

int qdm_init_layernorm(double *gamma, double *beta, int C) {
  if (C <= 0) return qdm_fail(QDM_EINVAL, "qdm_init_layernorm: C must be > 0 (got %d)", C);
  for (int i = 0; i < C; i++) {
    if (gamma) gamma[i] = 1.0;
    if (beta) beta[i] = 0.0;
  }
  return QDM_OK;
}
