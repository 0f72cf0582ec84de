/* fuzz_qasm.c -- the OpenQASM 2/3 reader (qdm_qasm_read) on the input as a
 * file. A read circuit is written back with qdm's OpenQASM 3 writer and
 * read again: the same qubits, the circuit's parameters as inputs (the
 * circuit counts up to the last one a gate uses: declared inputs after it
 * are not part of it), and (up to 5 qubits) the same unitary up to a global
 * phase at fixed angles, |tr(U1^H U2)| = 2^n. */
#include <math.h>
#include "fuzz_file.h"
#include "qdm/circuits.h"
#include "qdm/qsim.h"

#define MAXN_UNITARY 5

/* |tr(A^H B)| / dim: 1 when B = e^{i phi} A for unitaries A, B */
static double overlap(const qdm_cplx *A, const qdm_cplx *B, int dim) {
  qdm_cplx t = 0;
  for (size_t k = 0; k < (size_t)dim * dim; k++) t += conj(A[k]) * B[k];
  return cabs(t) / dim;
}

static void round_trip(const qdm_qasm *q) {
  char *out = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&out, &n);
  int rc = qdm_qasm_fwrite(f, q->c, NULL, NULL);
  fclose(f);
  if (rc) { /* a circuit with no OpenQASM form: said so, nothing else */
    fuzz_check_msg(rc, NULL);
    free(out);
    return;
  }
  qdm_qasm r;
  if (qdm_qasm_parse(out, n, "written", &r)) {
    fprintf(stderr, "qdm's writer produced OpenQASM its reader refuses (%s):\n%s\n", qdm_errmsg(), out);
    abort();
  }
  if (r.c->n != q->c->n || r.nparams != q->c->nparams || r.c->nparams != q->c->nparams) {
    fprintf(stderr, "round trip: %d qubits, %d parameters became %d, %d:\n%s\n", q->c->n, q->c->nparams, r.c->n,
            r.nparams, out);
    abort();
  }
  if (q->c->n <= MAXN_UNITARY) {
    int dim = 1 << q->c->n, P = q->c->nparams > r.c->nparams ? q->c->nparams : r.c->nparams;
    double *th = malloc((size_t)(P ? P : 1) * sizeof *th);
    qdm_cplx *U1 = malloc((size_t)dim * dim * sizeof *U1), *U2 = malloc((size_t)dim * dim * sizeof *U2);
    for (int i = 0; i < P; i++) th[i] = 0.3 + 0.7 * i;
    if (qdm_unitary(q->c, th, U1) || qdm_unitary(r.c, th, U2)) abort();
    double o = overlap(U1, U2, dim);
    if (isfinite(o) && fabs(o - 1) > 1e-9) {
      fprintf(stderr, "round trip changed the unitary: |tr(U1^H U2)|/dim = %.12g:\n%s\n", o, out);
      abort();
    }
    free(th);
    free(U1);
    free(U2);
  }
  qdm_qasm_free(&r);
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(data, size);
  qdm_qasm q;
  int rc = qdm_qasm_read(path, &q);
  fuzz_check_msg(rc, path);
  if (rc) {
    if (q.c || q.names) abort(); /* "on error *q is empty" */
    return 0;
  }
  if (!q.c || q.c->n < 1 || q.c->n > 30 || q.c->nparams > q.nparams || (q.version != 2 && q.version != 3)) abort();
  round_trip(&q);
  qdm_qasm_free(&q);
  return 0;
}
