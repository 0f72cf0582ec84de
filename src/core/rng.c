/* rng.c -- xoshiro256** seeded by splitmix64: fast, reproducible across
 * builds, and independent of libc's rand(). */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <string.h>
#include "qdm/core.h"
#include "core/rng.h"

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

/* Bulk normals: the ziggurat of Marsaglia & Tsang (J. Stat. Softw. 5(8),
 * 2000) with 256 layers, as in numpy's legacy generator: one 64-bit draw
 * gives a layer (8 bits), a sign and a 52-bit fraction; 99% of the values
 * need nothing else, the rest a rejection test (exp) or the tail beyond
 * r (log1p). Exact N(0, 1), about 5x faster per value than Box-Muller
 * (3 vs 15 ns on the development machine), which the training rows need:
 * they are part of every step. The tables are made once, thread-safely. */
#define ZIG_R 3.6541528853610088 /* the base layer's edge for 256 layers */
#define ZIG_V 4.92867323399e-3   /* the area of each layer */
static uint64_t zig_k[256];
static double zig_w[256], zig_f[256];
static pthread_once_t zig_once = PTHREAD_ONCE_INIT;

static void zig_tables(void) {
  const double m = 0x1.0p52;
  double dn = ZIG_R, tn = dn, q = ZIG_V / exp(-0.5 * dn * dn);
  zig_k[0] = (uint64_t)(dn / q * m);
  zig_k[1] = 0;
  zig_w[0] = q / m;
  zig_w[255] = dn / m;
  zig_f[0] = 1.0;
  zig_f[255] = exp(-0.5 * dn * dn);
  for (int i = 254; i >= 1; i--) {
    dn = sqrt(-2.0 * log(ZIG_V / dn + exp(-0.5 * dn * dn)));
    zig_k[i + 1] = (uint64_t)(dn / tn * m);
    tn = dn;
    zig_f[i] = exp(-0.5 * dn * dn);
    zig_w[i] = dn / m;
  }
}

/* x with the sign bit of u's bit 8 (branch-free: the sign is a coin flip) */
static double with_sign(double x, uint64_t u) {
  uint64_t b;
  memcpy(&b, &x, sizeof b);
  b |= (u & 0x100) << 55;
  memcpy(&x, &b, sizeof x);
  return x;
}

/* A draw u outside its layer's rectangle (about 1 in 100): the tail
 * beyond r (Marsaglia's exponential rejection) or the wedge's test
 * against the density; rejected, the next draw starts over. Out of line
 * and taking the state by value, so that the fast loop of
 * qdm_rng_normals keeps the state and its pointers in registers (inline,
 * this path's registers spilled them to the stack on every draw). */
typedef struct {
  qdm_rng r;
  double x;
} zig_draw;

static __attribute__((noinline)) zig_draw zig_slow(qdm_rng r, uint64_t u) {
  for (;;) {
    int i = (int)(u & 0xff), neg = (int)(u >> 8) & 1;
    uint64_t a = (u >> 9) & 0x000fffffffffffffULL;
    double x = (double)a * zig_w[i];
    if (a < zig_k[i]) return (zig_draw){r, with_sign(x, u)};
    if (i == 0)
      for (;;) {
        double xx = -log1p(-qdm_rng_uniform(&r)) / ZIG_R, yy = -log1p(-qdm_rng_uniform(&r));
        if (yy + yy > xx * xx) return (zig_draw){r, neg ? -(ZIG_R + xx) : ZIG_R + xx};
      }
    if ((zig_f[i - 1] - zig_f[i]) * qdm_rng_uniform(&r) + zig_f[i] < exp(-0.5 * x * x))
      return (zig_draw){r, neg ? -x : x};
    u = qdm_rng_u64(&r);
  }
}

/* The values one at a time from the caller's stream: short calls, and
 * the tails of long ones. */
static void zig_scalar(qdm_rng *r, double *out, size_t n) {
  qdm_rng s = *r; /* a local copy stays in registers: out cannot alias it */
  for (size_t k = 0; k < n; k++) {
    uint64_t u = qdm_rng_u64(&s), a = (u >> 9) & 0x000fffffffffffffULL;
    int i = (int)(u & 0xff); /* the layer; bit 8 the sign, the rest a 52-bit fraction */
    if (__builtin_expect(a < zig_k[i], 1)) {
      out[k] = with_sign((double)a * zig_w[i], u); /* inside the layer's rectangle */
    } else {
      zig_draw d = zig_slow(s, u);
      s = d.r;
      out[k] = d.x;
    }
  }
  *r = s;
}

/* Long calls draw from eight generators side by side, lane j giving
 * out[j], out[j + 8], ...: one scalar stream is bound by its ~25
 * instructions a value (2 ns), eight in the lanes of 512-bit vectors take
 * about 0.9 ns. Lane j is seeded like qdm_rng_seed from the j-th draw of
 * the caller's stream; a lane's draw outside its layer's rectangle goes
 * to zig_slow on the caller's stream, lanes in order. The portable loop
 * and the AVX-512 one compute the same values (test_diffusion checks). */
enum { LANES = 8, LANES_MIN = 64 /* below: the seeding would cost more than it saves */ };

typedef struct { uint64_t s[4][LANES]; } zig_lanes; /* word w of lane j at s[w][j] */

static void lanes_seed(qdm_rng *r, zig_lanes *L) {
  for (int j = 0; j < LANES; j++) {
    qdm_rng x;
    qdm_rng_seed(&x, qdm_rng_u64(r));
    for (int w = 0; w < 4; w++) L->s[w][j] = x.s[w];
  }
}

/* the lanes' rejected draws (bit j of bad: lane j's u[j]) redrawn on s */
static void lanes_fix(qdm_rng *s, unsigned bad, const uint64_t *u, double *out) {
  for (; bad; bad &= bad - 1) {
    int j = __builtin_ctz(bad);
    zig_draw d = zig_slow(*s, u[j]);
    *s = d.r;
    out[j] = d.x;
  }
}

/* blocks of LANES values while they fit; returns how many were written */
static size_t lanes_portable(zig_lanes *L, qdm_rng *s, double *out, size_t n) {
  size_t k = 0;
  for (; k + LANES <= n; k += LANES) {
    uint64_t u[LANES];
    unsigned bad = 0;
    for (int j = 0; j < LANES; j++) {
      qdm_rng x = {{L->s[0][j], L->s[1][j], L->s[2][j], L->s[3][j]}};
      u[j] = qdm_rng_u64(&x);
      for (int w = 0; w < 4; w++) L->s[w][j] = x.s[w];
      uint64_t a = (u[j] >> 9) & 0x000fffffffffffffULL;
      int i = (int)(u[j] & 0xff);
      out[k + j] = with_sign((double)a * zig_w[i], u[j]);
      bad |= (unsigned)(a >= zig_k[i]) << j;
    }
    lanes_fix(s, bad, u, out + k);
  }
  return k;
}

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>
/* lanes_portable in 512-bit vectors: xoshiro256** on eight states at once
 * (64-bit multiplies: AVX-512DQ), the layer tables gathered */
static size_t lanes_vector(zig_lanes *L, qdm_rng *s, double *out, size_t n) {
  __m512i s0 = _mm512_loadu_si512(L->s[0]), s1 = _mm512_loadu_si512(L->s[1]);
  __m512i s2 = _mm512_loadu_si512(L->s[2]), s3 = _mm512_loadu_si512(L->s[3]);
  const __m512i five = _mm512_set1_epi64(5), nine = _mm512_set1_epi64(9), layer = _mm512_set1_epi64(0xff);
  const __m512i frac = _mm512_set1_epi64(0x000fffffffffffffLL), sign = _mm512_set1_epi64(0x100);
  size_t k = 0;
  for (; k + LANES <= n; k += LANES) {
    __m512i u = _mm512_mullo_epi64(_mm512_rol_epi64(_mm512_mullo_epi64(s1, five), 7), nine);
    __m512i t = _mm512_slli_epi64(s1, 17);
    s2 = _mm512_xor_si512(s2, s0), s3 = _mm512_xor_si512(s3, s1);
    s1 = _mm512_xor_si512(s1, s2), s0 = _mm512_xor_si512(s0, s3);
    s2 = _mm512_xor_si512(s2, t), s3 = _mm512_rol_epi64(s3, 45);
    __m512i i = _mm512_and_si512(u, layer), a = _mm512_and_si512(_mm512_srli_epi64(u, 9), frac);
    __m512i kk = _mm512_i64gather_epi64(i, (const long long *)zig_k, 8);
    __m512d x = _mm512_mul_pd(_mm512_cvtepi64_pd(a), _mm512_i64gather_pd(i, zig_w, 8));
    __m512i sg = _mm512_slli_epi64(_mm512_and_si512(u, sign), 55);
    _mm512_storeu_pd(out + k, _mm512_castsi512_pd(_mm512_or_si512(_mm512_castpd_si512(x), sg)));
    unsigned bad = _mm512_cmpge_epu64_mask(a, kk);
    if (__builtin_expect(bad != 0, 0)) {
      uint64_t us[LANES];
      _mm512_storeu_si512(us, u);
      lanes_fix(s, bad, us, out + k);
    }
  }
  _mm512_storeu_si512(L->s[0], s0), _mm512_storeu_si512(L->s[1], s1);
  _mm512_storeu_si512(L->s[2], s2), _mm512_storeu_si512(L->s[3], s3);
  return k;
}
#define lanes_fast lanes_vector
#else
#define lanes_fast lanes_portable
#endif

static void normals(qdm_rng *r, double *out, size_t n, size_t (*lanes)(zig_lanes *, qdm_rng *, double *, size_t)) {
  pthread_once(&zig_once, zig_tables);
  size_t k = 0;
  if (n >= LANES_MIN) {
    zig_lanes L;
    lanes_seed(r, &L);
    k = lanes(&L, r, out, n);
  }
  zig_scalar(r, out + k, n - k);
}

void qdm_rng_normals(qdm_rng *r, double *out, size_t n) { normals(r, out, n, lanes_fast); }

void qdm__rng_normals_portable(qdm_rng *r, double *out, size_t n) { normals(r, out, n, lanes_portable); }
