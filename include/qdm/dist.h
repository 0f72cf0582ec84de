/* qdm/dist.h -- processes working together over MPI: data-parallel
 * training and sweeps spread over ranks (docs/scaling.md).
 *
 * qdm is started as usual (`qdm train ...`) or by an MPI launcher
 * (`mpirun -np K qdm train ...`, `srun qdm train ...`); qdm_dist_init tells
 * the two apart by the launcher's environment (OMPI_COMM_WORLD_SIZE,
 * PMI_SIZE, PMIX_RANK, ...) and calls MPI_Init only under one, so a plain
 * `qdm` never needs mpirun. Without MPI (a build without it, or not
 * launched by MPI) there is one process: rank 0 of 1, and every collective
 * below is the identity.
 *
 * Only the calling thread talks to MPI (MPI_THREAD_FUNNELED): OpenMP
 * threads inside a rank never do. The collectives are blocking and every
 * rank must call them in the same order with the same sizes. */
#ifndef QDM_DIST_H
#define QDM_DIST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* MPI_Init if launched by an MPI launcher (idempotent; MPI_Finalize runs
 * at exit). QDM_EINVAL if launched by one but qdm was built without MPI,
 * or MPI_Init failed. */
int qdm_dist_init(void);
int qdm_dist_rank(void);   /* 0 .. size-1 (0 without MPI) */
int qdm_dist_size(void);   /* ranks (1 without MPI) */
int qdm_dist_built(void);  /* 1 if this build has MPI */
/* solo = 1: from now on this rank works alone (rank 0 of 1, collectives
 * the identity) until solo = 0 restores the job's view. A distributed
 * sweep trains each of its runs on one rank this way. */
void qdm_dist_solo(int solo);
/* The job's own rank and size, whatever qdm_dist_solo says. */
int qdm_dist_job_rank(void);
int qdm_dist_job_size(void);
/* Ends the job: every rank (MPI_Abort) with exit status code. */
void qdm_dist_abort(int code) __attribute__((noreturn));

/* x[0..n-1] <- the sum over ranks, in place. The summation order is MPI's
 * for this communicator size and count (fixed for a fixed K, the MPI
 * standard's advice that a reduction give the same result for the same
 * arguments in the same order; with K = 2, a + b = b + a exactly). */
int qdm_dist_sum(double *x, size_t n);
int qdm_dist_sum_f32(float *x, size_t n);
int qdm_dist_sum_i64(int64_t *x, size_t n);
int qdm_dist_max_int(int *x, size_t n);
/* bytes of buf from rank root to every rank */
int qdm_dist_bcast(void *buf, size_t bytes, int root);
/* Every rank's send[0..n-1] (n may differ by rank) into recv, by rank:
 * counts[r] = rank r's n (each rank's counts are filled in). */
int qdm_dist_gather_all(const void *send, size_t n, size_t elem, void *recv, size_t *counts);
/* Every rank waits here for every other, sleeping (MPI's own waits spin,
 * taking a core from a rank that works meanwhile). */
int qdm_dist_barrier_idle(void);
/* Collective agreement on a status: every rank passes its own; if any is
 * non-zero, every rank returns the status of the lowest failing rank with
 * its message, prefixed "rank R: " when there is more than one rank. */
int qdm_dist_agree(int err);

/* Traffic and time spent in the collectives above since the start (or the
 * last reset): bytes sent by this rank's payloads, and seconds. */
typedef struct {
  double bytes, seconds;
  long calls;
} qdm_dist_stats;
void qdm_dist_stats_get(qdm_dist_stats *s);
void qdm_dist_stats_reset(void);

#ifdef __cplusplus
}
#endif
#endif
