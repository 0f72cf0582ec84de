/* glyphs.c -- digits without data files: 8x8 glyphs of the ten digits,
 * varied by random affine distortions, for the quantum diffusion targets
 * of report 2.2 when no MNIST directory is at hand (and for tests). */
#include <math.h>
#include "qdm/data.h"

/* 8x8 glyphs of the ten digits, '#' = ink */
static const char *glyph[10][8] = {
    {"..###...", ".#...#..", ".#...#..", ".#...#..", ".#...#..", ".#...#..", "..###...", "........"},
    {"...#....", "..##....", "...#....", "...#....", "...#....", "...#....", "..###...", "........"},
    {"..###...", ".#...#..", ".....#..", "....#...", "...#....", "..#.....", ".#####..", "........"},
    {"..###...", ".#...#..", ".....#..", "...##...", ".....#..", ".#...#..", "..###...", "........"},
    {"....#...", "...##...", "..#.#...", ".#..#...", ".#####..", "....#...", "....#...", "........"},
    {".#####..", ".#......", ".####...", ".....#..", ".....#..", ".#...#..", "..###...", "........"},
    {"..###...", ".#......", ".#......", ".####...", ".#...#..", ".#...#..", "..###...", "........"},
    {".#####..", ".....#..", "....#...", "...#....", "...#....", "..#.....", "..#.....", "........"},
    {"..###...", ".#...#..", ".#...#..", "..###...", ".#...#..", ".#...#..", "..###...", "........"},
    {"..###...", ".#...#..", ".#...#..", "..####..", ".....#..", "....#...", "..##....", "........"}};

static double pix_at(const double *g, double y, double x) { /* bilinear, zero outside */
  int y0 = (int)floor(y), x0 = (int)floor(x);
  double fy = y - y0, fx = x - x0, s = 0;
  for (int dy = 0; dy < 2; dy++)
    for (int dx = 0; dx < 2; dx++) {
      int yy = y0 + dy, xx = x0 + dx;
      if (yy < 0 || yy > 7 || xx < 0 || xx > 7) continue;
      s += (dy ? fy : 1 - fy) * (dx ? fx : 1 - fx) * g[yy * 8 + xx];
    }
  return s;
}

/* One glyph under a random shift, scale, shear and stroke weight, plus
 * faint noise: digit-like variety from 64 fixed pixels. */
static void synth_digit(int digit, qdm_rng *r, double *img) {
  double g[64];
  for (int y = 0; y < 8; y++)
    for (int x = 0; x < 8; x++) g[y * 8 + x] = glyph[digit][y][x] == '#';
  double sy = 0.8 * (2 * qdm_rng_uniform(r) - 1), sx = 0.8 * (2 * qdm_rng_uniform(r) - 1);
  double sc = 0.85 + 0.3 * qdm_rng_uniform(r), sh = 0.25 * (2 * qdm_rng_uniform(r) - 1);
  double wgt = 0.6 + 0.4 * qdm_rng_uniform(r);
  for (int y = 0; y < 8; y++)
    for (int x = 0; x < 8; x++) {
      double yy = (y - 3.5 - sy) / sc + 3.5, xx = (x - 3.5 - sx) / sc + 3.5 + sh * (y - 3.5);
      double v = pix_at(g, yy, xx);
      v = pow(v, wgt) + 0.03 * fabs(qdm_rng_normal(r));
      img[y * 8 + x] = v;
    }
}

int qdm_digit_glyphs(int digit, int K, qdm_rng *r, double *img) {
  if (digit < 0 || digit > 9) return qdm_fail(QDM_EINVAL, "qdm_digit_glyphs: digit %d (expected 0..9)", digit);
  if (K < 0 || (K > 0 && (!r || !img)))
    return qdm_fail(QDM_EINVAL, "qdm_digit_glyphs: K = %d (expected >= 0) with r and img non-NULL", K);
  for (int k = 0; k < K; k++) synth_digit(digit, r, img + 64 * (size_t)k);
  return QDM_OK;
}
