/* test_shard.c -- the split of a step's rows over ranks (model/shard.c),
 * against what it promises, checked by brute force: every row on exactly
 * one rank, shares within one row of each other, and a circuit group
 * (k, label) cut between ranks only at a share's two ends; and the
 * one-rank split is the whole step in the documented order. */
#include <string.h>
#include "check.h"
#include "model/run.h"

static void check_split(int nimg, int K, int size, int classes, unsigned seed) {
  int lab[64], rows[64 * 16], scratch[64], owner[64 * 16], B = nimg * K;
  for (int i = 0; i < nimg; i++) lab[i] = (int)((seed * 2654435761u + (unsigned)i * 40503u) >> 7) % classes;
  for (int r = 0; r < B; r++) owner[r] = -1;
  int lo = B, hi = 0, total = 0;
  for (int q = 0; q < size; q++) {
    int n = qdm__shard_split(lab, nimg, K, q, size, rows, scratch);
    lo = n < lo ? n : lo;
    hi = n > hi ? n : hi;
    total += n;
    int twice = 0, cuts = 0;
    for (int j = 0; j < n; j++) {
      twice += owner[rows[j]] >= 0;
      owner[rows[j]] = q;
    }
    CHECK(!twice, "nimg %d K %d size %d: a row on two ranks", nimg, K, size);
    /* the groups this rank holds that some other rank holds a part of */
    for (int k = 0; k < K; k++)
      for (int l = 0; l < classes; l++) {
        int here = 0, there = 0;
        for (int i = 0; i < nimg; i++)
          if (lab[i] == l) {
            int in = 0;
            for (int j = 0; j < n; j++) in |= rows[j] == i * K + k;
            here += in, there += !in;
          }
        cuts += here && there;
      }
    CHECK(cuts <= 2, "nimg %d K %d size %d rank %d: %d groups cut (at most its two ends)", nimg, K, size, q, cuts);
  }
  int missing = 0;
  for (int r = 0; r < B; r++) missing += owner[r] < 0;
  CHECK(total == B && !missing, "nimg %d K %d size %d: %d rows placed of %d", nimg, K, size, total, B);
  CHECK(hi - lo <= 1, "nimg %d K %d size %d: shares %d..%d", nimg, K, size, lo, hi);
}

int main(void) {
  /* one rank: the whole step, k-major, images by label (stable) */
  int lab[4] = {1, 0, 1, 0}, rows[8], scratch[4];
  int n = qdm__shard_split(lab, 4, 2, 0, 1, rows, scratch);
  int want[8] = {2, 6, 0, 4, 3, 7, 1, 5}; /* k = 0: images 1, 3 (label 0), 0, 2; then k = 1 */
  CHECK(n == 8 && !memcmp(rows, want, sizeof want), "one rank: the (k, label, image) order");
  /* the authors' step on 2 ranks: T = 10 rows per image, cut between k = 4 and 5, no group cut */
  int l32[32], r320[320], s32[32], owner5 = 1;
  for (int i = 0; i < 32; i++) l32[i] = i % 10;
  n = qdm__shard_split(l32, 32, 10, 0, 2, r320, s32);
  for (int j = 0; j < n; j++) owner5 &= r320[j] % 10 < 5;
  CHECK(n == 160 && owner5, "authors' step, rank 0 of 2: the rows of t = 1..5");
  unsigned seed = 1;
  for (int size = 1; size <= 7; size++)
    for (int K = 1; K <= 10; K += 3)
      for (int nimg = 1; nimg <= 33; nimg += 8, seed++) check_split(nimg, K, size, 1 + (int)(seed % 4), seed);
  return check_done();
}
