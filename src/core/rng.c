/* rng.c -- xoshiro256** seeded by splitmix64: fast, reproducible across
 * builds, and independent of libc's rand(). */
#define _GNU_SOURCE
#include <math.h>
#include "qdm/core.h"

uint64_t qdm_mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* splitmix64: the state steps by the golden-ratio increment, each output
 * is the mixed state (Steele, Lea & Flood 2014). */
void qdm_rng_seed(qdm_rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) r->s[i] = qdm_mix64(seed += 0x9e3779b97f4a7c15ULL);
}

/* Stream i starts splitmix64 from seed ^ golden * (i + 1): distinct streams
 * get distinct starting points, each then fully mixed by the seeding. */
void qdm_rng_stream(qdm_rng *r, uint64_t seed, uint64_t i) {
  qdm_rng_seed(r, seed ^ (0x9e3779b97f4a7c15ULL * (i + 1)));
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t qdm_rng_u64(qdm_rng *r) {
  uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
  s[2] ^= t; s[3] = rotl(s[3], 45);
  return res;
}

double qdm_rng_uniform(qdm_rng *r) { return (qdm_rng_u64(r) >> 11) * 0x1.0p-53; }

/* Box-Muller; one value per call keeps the stream position simple to reason about. */
double qdm_rng_normal(qdm_rng *r) {
  double u1 = 1.0 - qdm_rng_uniform(r), u2 = qdm_rng_uniform(r);
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Bulk normals: Box-Muller keeps both of its outputs (cos and sin), half
 * the logarithms and square roots of one-at-a-time draws. */
void qdm_rng_normals(qdm_rng *r, double *out, size_t n) {
  size_t i = 0;
  for (; i + 1 < n; i += 2) {
    double u1 = 1.0 - qdm_rng_uniform(r), u2 = qdm_rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1)), s, c;
    sincos(2.0 * M_PI * u2, &s, &c);
    out[i] = rad * c;
    out[i + 1] = rad * s;
  }
  if (i < n) out[i] = qdm_rng_normal(r);
}
