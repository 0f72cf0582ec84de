/* parallel.h -- when a loop is worth the threads. Entering an OpenMP
 * parallel region costs about 1.2 us here even when its if() is false
 * (docs/architecture.md, "Where the time goes"), so every threaded loop of
 * the library asks this one rule, with its work in value updates. */
#ifndef QDM_CORE_PARALLEL_H
#define QDM_CORE_PARALLEL_H
#include <omp.h>

/* more than one thread and at least ~2^15 updates */
int qdm__parallel_worth(double work);

/* exactly two threads, outside any parallel region, and at least 2^20
 * multiply-adds: two independent GEMMs then run one per thread */
int qdm__pair_of_threads(double macs);

/* Inside a parallel region: this thread's contiguous part [*lo, *hi) of
 * n items, the parts in thread order (sizes differ by at most one). */
static inline void qdm__thread_part(int n, int *lo, int *hi) {
  int nt = omp_get_num_threads(), id = omp_get_thread_num();
  *lo = (int)((long long)n * id / nt);
  *hi = (int)((long long)n * (id + 1) / nt);
}
#endif
