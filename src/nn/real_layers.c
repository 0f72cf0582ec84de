/* real_layers.c -- the real-valued layers of nn.h in double (qdm_linear_forward,
 * ...) and in float (qdm_linear_forward_f32, ...): one body, real_layers.h,
 * compiled twice. */
#include <math.h>
#include <string.h>
#include <cblas.h>
#include "qdm/nn.h"
#include "core/parallel.h"

#define REAL double
#define NAME(f) f
#define GEMM cblas_dgemm
#include "real_layers.h"
#undef REAL
#undef NAME
#undef GEMM

#define REAL float
#define NAME(f) f##_f32
#define GEMM cblas_sgemm
#include "real_layers.h"
#undef REAL
#undef NAME
#undef GEMM
