/* util.c -- threads, the median, the clock, path joins and enum name
 * tables: the small things every layer needs exactly one of. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "qdm/core.h"
#include "parallel.h"

const char *qdm_version(void) { return QDM_VERSION; }

static int nthreads_ = 0;

void qdm_set_threads(int n) {
  nthreads_ = n > 0 ? n : 0;
  if (n > 0) omp_set_num_threads(n);
}

int qdm_threads(void) { return nthreads_ > 0 ? nthreads_ : omp_get_max_threads(); }

int qdm__parallel_worth(double work) { return qdm_threads() > 1 && work >= 32768.0; }

int qdm__pair_of_threads(double macs) { return qdm_threads() == 2 && !omp_in_parallel() && macs >= 1048576.0; }

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double qdm_median(double *v, int n) {
  if (n < 1 || !v) return NAN;
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double qdm_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int qdm_path_join(char *buf, size_t len, const char *dir, const char *name) {
  int n = snprintf(buf, len, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= len) return qdm_fail(QDM_EINVAL, "path too long: '%s/%s' (at most %zu bytes)", dir, name, len - 1);
  return QDM_OK;
}

int qdm_enum_parse(const qdm_enum_name *table, const char *what, const char *s) {
  for (const qdm_enum_name *e = table; s && e->name; e++)
    if (!strcmp(e->name, s)) return e->value;
  char list[256] = "";
  size_t used = 0;
  for (const qdm_enum_name *e = table; e->name && used < sizeof list; e++) {
    int n = snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", e->name);
    if (n < 0) break;
    used += (size_t)n;
  }
  qdm_fail(QDM_EINVAL, "%s '%s': expected one of %s", what, s ? s : "(null)", list);
  return -1;
}

const char *qdm_enum_str(const qdm_enum_name *table, int v) {
  for (const qdm_enum_name *e = table; e->name; e++)
    if (e->value == v) return e->name;
  return "?";
}
