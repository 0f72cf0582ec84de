/* check.h -- the tests' tiny harness. Each test program counts its checks and
 * ends with the line "N passed, N failed"; exit status is non-zero on failure. */
#ifndef QDM_CHECK_H
#define QDM_CHECK_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <complex.h>

static int check_pass_, check_fail_;

#define CHECK(cond, ...)                                                     \
  do {                                                                       \
    if (cond) check_pass_++;                                                 \
    else {                                                                   \
      check_fail_++;                                                         \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                   \
      fprintf(stderr, __VA_ARGS__);                                          \
      fprintf(stderr, "\n");                                                 \
    }                                                                        \
  } while (0)

/* |a - b| <= tol * max(1, |b|): relative for large values, absolute near 0. */
#define CHECK_NEAR(a, b, tol, what)                                          \
  do {                                                                       \
    double a_ = (a), b_ = (b), s_ = fabs(b_) > 1 ? fabs(b_) : 1;             \
    CHECK(fabs(a_ - b_) <= (tol) * s_, "%s: got %.12g want %.12g (tol %g)",  \
          what, a_, b_, (double)(tol));                                      \
  } while (0)

static inline int check_done(void) {
  printf("%d passed, %d failed\n", check_pass_, check_fail_);
  return check_fail_ ? 1 : 0;
}
#endif
