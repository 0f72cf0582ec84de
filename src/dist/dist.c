/* dist.c -- the MPI seam: whether qdm runs under an MPI launcher, and the
 * few collectives data-parallel training and distributed sweeps need.
 * Built without MPI (QDM_HAVE_MPI undefined) every collective is the
 * identity on one rank, so the layers above have one code path. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "qdm/core.h"
#include "qdm/dist.h"
#ifdef QDM_HAVE_MPI
#include <mpi.h>
#endif

static int rank_ = 0, size_ = 1;     /* the view the collectives use */
static int job_rank_ = 0, job_size_ = 1; /* the job's */
static qdm_dist_stats stats_;

int qdm_dist_rank(void) { return rank_; }
int qdm_dist_size(void) { return size_; }
int qdm_dist_job_rank(void) { return job_rank_; }
int qdm_dist_job_size(void) { return job_size_; }
void qdm_dist_solo(int solo) {
  rank_ = solo ? 0 : job_rank_;
  size_ = solo ? 1 : job_size_;
}
void qdm_dist_stats_get(qdm_dist_stats *s) {
  if (s) *s = stats_;
}
void qdm_dist_stats_reset(void) { memset(&stats_, 0, sizeof stats_); }

/* The variables MPI launchers set in the processes they start: Open MPI's
 * mpirun, PMI-1/2 (MPICH's hydra, srun --mpi=pmi2) and PMIx (srun
 * --mpi=pmix, Open MPI 4+). */
static int launched_by_mpi(void) {
  static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK", "MPI_LOCALNRANKS",
                                     NULL};
  for (int i = 0; vars[i]; i++)
    if (getenv(vars[i])) return 1;
  return 0;
}

#ifdef QDM_HAVE_MPI
static int on_ = 0; /* MPI_Init done here */

int qdm_dist_built(void) { return 1; }

static void finalize(void) {
  int fin = 0;
  if (on_ && !MPI_Finalized(&fin) && !fin) MPI_Finalize();
}

int qdm_dist_init(void) {
  if (on_ || !launched_by_mpi()) return QDM_OK;
  int have = 0, prov;
  MPI_Initialized(&have);
  if (!have && MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &prov) != MPI_SUCCESS)
    return qdm_fail(QDM_EINVAL, "MPI_Init failed (started by an MPI launcher, but MPI does not start)");
  MPI_Comm_rank(MPI_COMM_WORLD, &job_rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &job_size_);
  rank_ = job_rank_;
  size_ = job_size_;
  /* errors come back as codes (never MPI's default abort without a word) */
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  on_ = 1;
  if (!have) atexit(finalize);
  return QDM_OK;
}

void qdm_dist_abort(int code) {
  if (on_) MPI_Abort(MPI_COMM_WORLD, code);
  exit(code);
}

static int mpi_fail(int rc, const char *what) {
  char s[MPI_MAX_ERROR_STRING];
  int n = 0;
  MPI_Error_string(rc, s, &n);
  return qdm_fail(QDM_EIO, "%s failed on rank %d: %s", what, rank_, s);
}

/* MPI counts are int: large buffers go in chunks of at most 2^30 elements. */
enum { CHUNK = 1 << 30 };

static int reduce(void *x, size_t n, MPI_Datatype t, size_t elem, MPI_Op op, const char *what) {
  if (!on_ || size_ == 1 || n == 0) return QDM_OK;
  if (!x) return qdm_fail(QDM_EINVAL, "%s: NULL buffer", what);
  double t0 = qdm_now();
  for (size_t at = 0; at < n; at += CHUNK) {
    int c = (int)(n - at < CHUNK ? n - at : CHUNK);
    int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)x + at * elem, c, t, op, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, what);
  }
  stats_.bytes += (double)n * elem;
  stats_.seconds += qdm_now() - t0;
  stats_.calls++;
  return QDM_OK;
}

int qdm_dist_sum(double *x, size_t n) { return reduce(x, n, MPI_DOUBLE, sizeof *x, MPI_SUM, "qdm_dist_sum"); }
int qdm_dist_sum_f32(float *x, size_t n) { return reduce(x, n, MPI_FLOAT, sizeof *x, MPI_SUM, "qdm_dist_sum_f32"); }
int qdm_dist_sum_i64(int64_t *x, size_t n) {
  return reduce(x, n, MPI_INT64_T, sizeof *x, MPI_SUM, "qdm_dist_sum_i64");
}
int qdm_dist_max_int(int *x, size_t n) { return reduce(x, n, MPI_INT, sizeof *x, MPI_MAX, "qdm_dist_max_int"); }

int qdm_dist_bcast(void *buf, size_t bytes, int root) {
  if (!on_ || size_ == 1 || bytes == 0) return QDM_OK;
  if (!buf || root < 0 || root >= size_) return qdm_fail(QDM_EINVAL, "qdm_dist_bcast: NULL buffer or root %d", root);
  double t0 = qdm_now();
  for (size_t at = 0; at < bytes; at += CHUNK) {
    int c = (int)(bytes - at < CHUNK ? bytes - at : CHUNK);
    int rc = MPI_Bcast((char *)buf + at, c, MPI_BYTE, root, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "qdm_dist_bcast");
  }
  stats_.bytes += (double)bytes;
  stats_.seconds += qdm_now() - t0;
  stats_.calls++;
  return QDM_OK;
}

int qdm_dist_gather_all(const void *send, size_t n, size_t elem, void *recv, size_t *counts) {
  if (!counts || (n && !send) || elem == 0) return qdm_fail(QDM_EINVAL, "qdm_dist_gather_all: NULL argument");
  if (!on_ || size_ == 1) {
    counts[0] = n;
    if (n && send != recv) memcpy(recv, send, n * elem);
    return QDM_OK;
  }
  double t0 = qdm_now();
  long long mine = (long long)(n * elem), *all = malloc((size_t)size_ * sizeof *all);
  int *cnt = malloc((size_t)size_ * sizeof *cnt), *off = malloc((size_t)size_ * sizeof *off), rc = MPI_SUCCESS;
  if (!all || !cnt || !off) {
    free(all), free(cnt), free(off);
    return qdm_fail(QDM_ENOMEM, "qdm_dist_gather_all: out of memory");
  }
  rc = MPI_Allgather(&mine, 1, MPI_LONG_LONG, all, 1, MPI_LONG_LONG, MPI_COMM_WORLD);
  long long tot = 0;
  for (int r = 0; r < size_; r++) {
    counts[r] = (size_t)all[r] / elem;
    cnt[r] = (int)all[r];
    off[r] = (int)tot;
    tot += all[r];
  }
  if (rc == MPI_SUCCESS && tot > 0x7fffffffLL) {
    free(all), free(cnt), free(off);
    return qdm_fail(QDM_EINVAL, "qdm_dist_gather_all: %lld bytes in all, more than MPI's 2^31 - 1", tot);
  }
  if (rc == MPI_SUCCESS)
    rc = MPI_Allgatherv(send, (int)mine, MPI_BYTE, recv, cnt, off, MPI_BYTE, MPI_COMM_WORLD);
  free(all), free(cnt), free(off);
  if (rc != MPI_SUCCESS) return mpi_fail(rc, "qdm_dist_gather_all");
  stats_.bytes += (double)mine;
  stats_.seconds += qdm_now() - t0;
  stats_.calls++;
  return QDM_OK;
}

int qdm_dist_barrier_idle(void) {
  if (!on_ || size_ == 1) return QDM_OK;
  MPI_Request q;
  int done = 0, rc = MPI_Ibarrier(MPI_COMM_WORLD, &q);
  struct timespec nap = {0, 200000}; /* 0.2 ms */
  while (rc == MPI_SUCCESS && !done) {
    rc = MPI_Test(&q, &done, MPI_STATUS_IGNORE);
    if (!done) nanosleep(&nap, NULL);
  }
  return rc == MPI_SUCCESS ? QDM_OK : mpi_fail(rc, "qdm_dist_barrier_idle");
}

int qdm_dist_agree(int err) {
  if (!on_ || size_ == 1) return err;
  int who = err ? rank_ : size_, first = size_;
  /* the lowest failing rank (size_: none) */
  int rc = MPI_Allreduce(&who, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return mpi_fail(rc, "qdm_dist_agree");
  if (first == size_) return QDM_OK;
  struct {
    int code;
    char msg[512];
  } m = {err, ""};
  if (rank_ == first) snprintf(m.msg, sizeof m.msg, "%s", qdm_errmsg());
  rc = MPI_Bcast(&m, (int)sizeof m, MPI_BYTE, first, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return mpi_fail(rc, "qdm_dist_agree");
  if (rank_ == first) return qdm_fail_wrap(m.code, "rank %d", first);
  return qdm_fail(m.code, "rank %d: %s", first, m.msg);
}

#else /* one process */
int qdm_dist_built(void) { return 0; }

int qdm_dist_init(void) {
  if (launched_by_mpi())
    return qdm_fail(QDM_EINVAL, "started by an MPI launcher (mpirun, srun), but this qdm was built without MPI "
                    "(install libopenmpi-dev and build again)");
  return QDM_OK;
}
void qdm_dist_abort(int code) { exit(code); }
int qdm_dist_sum(double *x, size_t n) { return (void)x, (void)n, QDM_OK; }
int qdm_dist_sum_f32(float *x, size_t n) { return (void)x, (void)n, QDM_OK; }
int qdm_dist_sum_i64(int64_t *x, size_t n) { return (void)x, (void)n, QDM_OK; }
int qdm_dist_max_int(int *x, size_t n) { return (void)x, (void)n, QDM_OK; }
int qdm_dist_bcast(void *buf, size_t bytes, int root) { return (void)buf, (void)bytes, (void)root, QDM_OK; }
int qdm_dist_gather_all(const void *send, size_t n, size_t elem, void *recv, size_t *counts) {
  if (!counts || (n && !send) || elem == 0) return qdm_fail(QDM_EINVAL, "qdm_dist_gather_all: NULL argument");
  counts[0] = n;
  if (n && send != recv) memcpy(recv, send, n * elem);
  return QDM_OK;
}
int qdm_dist_agree(int err) { return err; }
int qdm_dist_barrier_idle(void) { return QDM_OK; }
#endif
