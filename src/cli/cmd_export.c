/* cmd_export.c -- `qdm export`: a trained checkpoint's bottleneck as
 * OpenQASM 3 files plus its observables (qdm_unet_write_qasm). */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "qdm/train.h"

#define CMD "qdm export"

static void help(void) {
  printf("usage: qdm export --checkpoint FILE --qasm DIR\n\n"
         "Writes the trained quantum bottleneck of a checkpoint (checkpoint.safetensors or\n"
         "best.safetensors of qdm train) as OpenQASM 3, trained angles bound:\n"
         "  DIR/tTT_labelL_blockB.qasm  one file per diffusion step t, label and circuit block\n"
         "                              (tTT_blockB.qasm for an unconditional model)\n"
         "     block 1  U1 on q[0..n-1], applied to the encoder's amplitude state\n"
         "     block 2  (with the ancilla block) n + 1 qubits, q[n] the ancilla: H, U2\n"
         "              controlled by q[n], H; the model keeps the ancilla's |0> branch,\n"
         "              (I + U2) psi / 2 (--ancilla-mode project), or the sum of both branches,\n"
         "              which is psi itself (sum, the authors' preset), renormalised, then a\n"
         "              complex leaky ReLU (classical); the file's header says which\n"
         "     block 3  U3 on q[0..n-1], then the measurement\n"
         "  DIR/observables.json        the measurement, which is not an OpenQASM object: the K\n"
         "                              Hermitians H_k = (M_k + M_k^dagger)/2 of the adaptive\n"
         "                              observables as \"re\" and \"im\" arrays [k][row][column]\n"
         "                              (features y_k = <psi|H_k|psi>), or \"pauli-z\"\n"
         "q[i] is qubit i: bit i of a basis index (q[0] least significant), in the files and\n"
         "in the matrices alike. Every file is written to a temporary name and renamed.\n\n"
         "  --checkpoint FILE   the checkpoint\n"
         "  --qasm DIR          output directory (created if needed)\n");
}

int cmd_export(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help();
      return 0;
    }
  cli_args a;
  cli_init(&a, CMD, argc, argv);
  const char *ckpt = cli_str(&a, "--checkpoint", NULL), *dir = cli_str(&a, "--qasm", NULL);
  cli_done(&a);
  if (!ckpt) cli_die(CMD, 2, "--checkpoint FILE is required (see qdm export --help)");
  if (!dir) cli_die(CMD, 2, "--qasm DIR is required (the only export format so far)");
  qdm_train_opts o;
  qdm_unet *m;
  int e = qdm_checkpoint_load(ckpt, 1, &o, &m);
  if (e) cli_die(CMD, 1, "--checkpoint: %s", qdm_errmsg());
  e = qdm_unet_write_qasm(m, dir);
  const qdm_unet_cfg *c = qdm_unet_config(m);
  int groups = c->T * (c->conditional ? c->classes : 1), blocks = c->ancilla ? 3 : 2;
  qdm_unet_free(m);
  if (e) cli_die(CMD, e == QDM_EINVAL ? 2 : 1, "--qasm: %s", qdm_errmsg());
  printf("wrote %d OpenQASM files (%d groups x %d blocks) and observables.json to %s\n", groups * blocks, groups,
         blocks, dir);
  return 0;
}
