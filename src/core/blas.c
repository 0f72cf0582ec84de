/* blas.c -- which OpenBLAS kernels run, and the fix for a known detection
 * bug. OpenBLAS built with DYNAMIC_ARCH (Debian's) picks its kernels from
 * the CPU model at load time; before 0.3.25 (OpenBLAS issue 4267, fixed by
 * pull request 4268) a model it does not know falls back to the generic
 * SSE3 kernels it calls "Prescott", and Debian 12 ships 0.3.21, which does
 * not know Sapphire Rapids. On such a machine every GEMM of a training step
 * runs about 4x slower than with the AVX-512 kernels the CPU supports. The
 * choice can only be made before OpenBLAS loads (its constructor reads
 * OPENBLAS_CORETYPE), so qdm_blas_core_fix() names the kernels and the
 * caller sets the variable before the process starts again (the qdm
 * command re-executes itself; Python users set it before importing). */
#include <stdlib.h>
#include <string.h>
#include "qdm/core.h"

char *openblas_get_corename(void);
char *openblas_get_config(void);

const char *qdm_blas_core(void) { return openblas_get_corename(); }

const char *qdm_blas_config(void) { return openblas_get_config(); }

const char *qdm_blas_core_fix(void) {
  if (getenv("OPENBLAS_CORETYPE") || strcmp(openblas_get_corename(), "Prescott")) return NULL;
  __builtin_cpu_init();
  /* SkylakeX's kernels use AVX-512 F, CD, BW, DQ and VL; Haswell's AVX2
   * and FMA (the builtins also check that the OS saves those registers). */
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return NULL;
}
