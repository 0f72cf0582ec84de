/* A program outside the tree, built against the installed libqdm through
 * pkg-config: a Bell pair from |00> must be (|00> + |11>)/sqrt 2. */
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include "qdm/qdm.h"

int main(void) {
  qdm_circuit *c = qdm_circuit_new(2);
  qdm_cplx psi[4];
  if (!c || qdm_add1(c, QDM_GH, 0) || qdm_cnot(c, 0, 1)) return fprintf(stderr, "%s\n", qdm_errmsg()), 1;
  qdm_zero_state(psi, 2, 1);
  if (qdm_run(c, NULL, NULL, 0, psi, 1)) return fprintf(stderr, "%s\n", qdm_errmsg()), 1;
  qdm_circuit_free(c);
  double h = 1 / sqrt(2.0);
  double err = cabs(psi[0] - h) + cabs(psi[1]) + cabs(psi[2]) + cabs(psi[3] - h);
  printf("qdm %s: Bell state error %.3g\n", qdm_version(), err);
  return err < 1e-12 ? 0 : 1;
}
