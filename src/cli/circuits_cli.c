/* circuits_cli.c -- ansatzes named on the command line, for qdm circuit and
 * qdm qngd: one list syntax, one way to build. */
#include <string.h>
#include "cli.h"

static int add_name(const char *cmd, const char **names, int n, int max, const char *s) {
  if (n >= max) cli_die(cmd, 2, "--ansatz: more than %d names", max);
  names[n] = s;
  return n + 1;
}

int cli_ansatz_names(const char *cmd, const char *spec, char *buf, size_t len, const char **names, int max,
                     int allow_haar) {
  if (strlen(spec) >= len) cli_die(cmd, 2, "--ansatz: list too long (at most %zu characters)", len - 1);
  strcpy(buf, spec);
  int n = 0;
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    if (!strcmp(tok, "all") || !strcmp(tok, "sims")) {
      for (int i = 0; qdm_ansatz_name(i); i++)
        if (tok[0] == 'a' || !strncmp(qdm_ansatz_name(i), "sim", 3))
          n = add_name(cmd, names, n, max, qdm_ansatz_name(i));
    } else if ((allow_haar && !strcmp(tok, "haar")) || qdm_ansatz_about(tok)) {
      n = add_name(cmd, names, n, max, tok);
    } else {
      cli_die(cmd, 2, "--ansatz: unknown name '%s' (see qdm circuit --list)", tok);
    }
  }
  if (!n) cli_die(cmd, 2, "--ansatz expects at least one name");
  return n;
}

qdm_circuit *cli_ansatz_circuit(const char *cmd, const char *name, int n, int layers, const qdm_ansatz_opts *o,
                                int need_params, int *P) {
  if (!strcmp(name, "qcnn-measured")) /* these commands run pure states */
    cli_die(cmd, 2, "--ansatz qcnn-measured: pooling by measurement leaves mixed states; it runs on density matrices "
            "(qdm train --noise ...); here use qcnn (coherent pooling)");
  qdm_circuit *c = qdm_circuit_new(n);
  if (!c) cli_die(cmd, 1, "%s", qdm_errmsg());
  *P = qdm_ansatz_build(c, name, layers, 0, o);
  if (*P < 0 || (need_params && *P == 0)) {
    qdm_circuit_free(c);
    if (*P < 0) cli_die(cmd, 2, "%s", qdm_errmsg());
    cli_die(cmd, 2, "--ansatz %s with %d qubits and %d layers has no parameters", name, n, layers);
  }
  return c;
}
