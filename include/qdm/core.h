/* qdm/core.h -- what every layer of qdm uses: status codes and messages,
 * deterministic random numbers, threads, which BLAS kernels run, the clock,
 * paths, and name tables for enums. Nothing here knows about quantum states or models.
 *
 * Errors (QuEST's rule): every public function validates its arguments at
 * the boundary. On bad input it returns a non-zero status and leaves a
 * one-line message, readable with qdm_errmsg(), that names the argument,
 * field or file and what was expected. A broken internal invariant is a qdm
 * bug, not a user error: it is an assert(). Constructors (`_new`) return
 * NULL with the message set. */
#ifndef QDM_CORE_H
#define QDM_CORE_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef double complex qdm_cplx;

/* The library's version, "major.minor.patch". */
const char *qdm_version(void);

/* ---- status codes (stable values: they are exit-code-like, never reorder) ---- */
enum {
  QDM_OK = 0,
  QDM_EINVAL = 1,  /* an argument, option or setting is out of its domain */
  QDM_ENOMEM = 2,  /* an allocation failed */
  QDM_EIO = 3,     /* a file could not be read or written */
  QDM_EFORMAT = 4, /* a file was read but is not what it claims to be */
  QDM_EINTR = 5    /* stopped by SIGINT/SIGTERM after saving what resumes it */
};
const char *qdm_errmsg(void);                 /* last message (thread-local) */
int qdm_fail(int code, const char *fmt, ...)  /* set the message, return code */
    __attribute__((format(printf, 2, 3)));
/* Prefix the current message: "<fmt...>: <previous message>". The previous
 * message is copied first, so it may be passed along safely (formatting
 * qdm_errmsg() into the buffer it lives in is undefined behaviour). */
int qdm_fail_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- deterministic random numbers: splitmix64 seeding + xoshiro256** ---- */
typedef struct { uint64_t s[4]; } qdm_rng;
void qdm_rng_seed(qdm_rng *r, uint64_t seed);
/* The generator of stream i of a seed: independent streams for parallel
 * work (pair i of an estimate, sample s of a variance, ...), so results do
 * not depend on how the work is split over threads or ranks. */
void qdm_rng_stream(qdm_rng *r, uint64_t seed, uint64_t i);
uint64_t qdm_rng_u64(qdm_rng *r);
double qdm_rng_uniform(qdm_rng *r);   /* [0, 1) */
double qdm_rng_normal(qdm_rng *r);    /* N(0, 1), Box-Muller */
/* n draws of N(0, 1) by a ziggurat, eight streams side by side when n >=
 * 64 (seeded from r): about 10x faster than Box-Muller, so not the values
 * of n calls of qdm_rng_normal; the same values whether or not the build
 * vectorises the lanes. */
void qdm_rng_normals(qdm_rng *r, double *out, size_t n);
/* splitmix64's finaliser: a bijective 64-bit mix, for hashing values into
 * seeds (qdm_mix64(h ^ v) folds v into h). */
uint64_t qdm_mix64(uint64_t z);

/* ---- threads: 0 = the OpenMP default. The library decides by measured
 * work size whether a loop is threaded, never per gate. ---- */
void qdm_set_threads(int nthreads);
int qdm_threads(void);

/* ---- BLAS: which OpenBLAS kernels run ---- */
const char *qdm_blas_core(void);   /* OpenBLAS's name for them: "SkylakeX", "Haswell", ... */
const char *qdm_blas_config(void); /* its build: version, threading, DYNAMIC_ARCH */
/* The kernels OpenBLAS should run on this CPU when it fell back to its
 * generic ones ("Prescott") on a CPU it did not recognise and
 * OPENBLAS_CORETYPE is unset (OpenBLAS before 0.3.25 on Sapphire Rapids and
 * newer: every GEMM about 4x slow), else NULL. It takes effect only as
 * OPENBLAS_CORETYPE in the environment of a process that has not loaded
 * OpenBLAS yet: the qdm command re-executes itself with it. */
const char *qdm_blas_core_fix(void);

/* ---- statistics ---- */
/* The median of v[0..n-1] (n >= 1): the middle value, or the mean of the
 * two middle ones for even n. Sorts v in place. NaN for n < 1. */
double qdm_median(double *v, int n);

/* ---- time and paths ---- */
double qdm_now(void); /* monotonic seconds */
/* buf = "dir/name"; QDM_EINVAL (naming the path) if it does not fit in len. */
int qdm_path_join(char *buf, size_t len, const char *dir, const char *name);

/* ---- names of enum values: one table per enum, {name, value} rows ending
 * with {NULL, 0}, so a string never stands in for an enum past parsing. ---- */
typedef struct {
  const char *name;
  int value;
} qdm_enum_name;
/* The value of `s` in table, or -1 (values are >= 0) after qdm_fail naming
 * `what` and every accepted name. */
int qdm_enum_parse(const qdm_enum_name *table, const char *what, const char *s);
/* The first name of value v, or "?" if it has none. */
const char *qdm_enum_str(const qdm_enum_name *table, int v);

#ifdef __cplusplus
}
#endif
#endif
