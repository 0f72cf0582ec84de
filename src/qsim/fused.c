/* fused.c -- the fused path for small registers (docs/architecture.md, "Where the time goes"): the
 * circuit for a group of rows depends only on the parameters, so build its
 * 2^n x 2^n unitary once, apply it to all rows as one zgemm, and in the
 * backward pass reduce the rows to one dL/dU before a single adjoint sweep
 * through the gates. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include "sim.h"

/* Columns of U are the images of the basis states: run the circuit on the
 * dim basis states as a batch (row j = U e_j = column j of U). */
static int columns(const qdm_circuit *c, const double *theta, qdm_cplx *cols) {
  size_t dim = (size_t)1 << c->n;
  memset(cols, 0, dim * dim * sizeof *cols);
  for (size_t j = 0; j < dim; j++) cols[j * dim + j] = 1;
  return qdm_run(c, theta, NULL, 0, cols, (int)dim);
}

static int check_fused(const char *who, const qdm_circuit *c) {
  if (!c) return qdm_fail(QDM_EINVAL, "%s: circuit is NULL", who);
  if (c->ninputs) return qdm_fail(QDM_EINVAL, "%s: circuit reads per-row inputs; the fused path needs one unitary for all rows", who);
  if (c->n > 12) return qdm_fail(QDM_EINVAL, "%s: %d qubits is too many for a dense unitary (at most 12)", who, c->n);
  return QDM_OK;
}

int qdm_unitary(const qdm_circuit *c, const double *theta, qdm_cplx *U) {
  int err = check_fused("qdm_unitary", c);
  if (err) return err;
  if (!U) return qdm_fail(QDM_EINVAL, "qdm_unitary: U is NULL");
  size_t dim = (size_t)1 << c->n;
  qdm_cplx *cols = malloc(dim * dim * sizeof *cols);
  if (!cols) return qdm_fail(QDM_ENOMEM, "qdm_unitary: out of memory");
  err = columns(c, theta, cols);
  for (size_t i = 0; i < dim; i++)
    for (size_t j = 0; j < dim; j++) U[i * dim + j] = cols[j * dim + i];
  free(cols);
  return err;
}

int qdm_apply_unitary(int dim, const qdm_cplx *U, const qdm_cplx *in, qdm_cplx *out, int rows) {
  if (dim < 1 || !U || !in || !out || rows < 0)
    return qdm_fail(QDM_EINVAL, "qdm_apply_unitary: bad arguments (dim %d, rows %d, or NULL pointer)", dim, rows);
  if (rows == 0) return QDM_OK;
  const qdm_cplx one = 1, zero = 0;
  /* rows as a (rows x dim) matrix: OUT = IN U^T */
  cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, dim, dim, &one, in, dim, U, dim, &zero, out, dim);
  return QDM_OK;
}

int qdm_apply_unitary_backward(int dim, const qdm_cplx *U, const qdm_cplx *in, const qdm_cplx *gout,
                               qdm_cplx *gin, qdm_cplx *dU, int rows) {
  if (dim < 1 || !U || !in || !gout || rows < 0)
    return qdm_fail(QDM_EINVAL, "qdm_apply_unitary_backward: bad arguments (dim %d, rows %d, or NULL pointer)", dim, rows);
  if (rows == 0) return QDM_OK;
  const qdm_cplx one = 1, zero = 0;
  /* GIN = GOUT conj(U) (row r: U^dagger gout_r); OpenBLAS's CblasConjNoTrans */
  if (gin) cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasConjNoTrans, rows, dim, dim, &one, gout, dim, U, dim, &zero, gin, dim);
  /* dU += GOUT^T conj(IN) = sum_r gout_r in_r^dagger */
  if (dU) cblas_zgemm(CblasRowMajor, CblasTrans, CblasConjNoTrans, dim, dim, rows, &one, gout, dim, in, dim, &one, dU, dim);
  return QDM_OK;
}

int qdm_unitary_backward(const qdm_circuit *c, const double *theta, const qdm_cplx *U, const qdm_cplx *dU,
                         double *dtheta) {
  int err = check_fused("qdm_unitary_backward", c);
  if (err) return err;
  if (!dU || (c->nparams && !dtheta)) return qdm_fail(QDM_EINVAL, "qdm_unitary_backward: dU or dtheta is NULL");
  size_t dim = (size_t)1 << c->n;
  qdm_cplx *cols = malloc(2 * dim * dim * sizeof *cols), *lam = cols + dim * dim;
  if (!cols) return qdm_fail(QDM_ENOMEM, "qdm_unitary_backward: out of memory");
  if (U) /* the forward's unitary: its columns are the output states */
    for (size_t j = 0; j < dim; j++)
      for (size_t i = 0; i < dim; i++) cols[j * dim + i] = U[i * dim + j];
  else
    err = columns(c, theta, cols);
  /* column j of U is an output state whose co-gradient is column j of dU */
  for (size_t j = 0; j < dim; j++)
    for (size_t i = 0; i < dim; i++) lam[j * dim + i] = dU[i * dim + j];
  if (!err) err = qdm_run_adjoint(c, theta, NULL, 0, cols, lam, (int)dim, dtheta, NULL);
  free(cols);
  return err;
}
