/* cmd_qstate.c -- `qdm qstate train`: the quantum diffusion model of the
 * report's section 2.2 on density matrices. A target ensemble of pure states
 * is depolarized towards I/d (eqs. 9-10); two reverse processes, one learned
 * channel per step, are trained with eq. 12 (or the trace distance):
 * unitary steps (eq. 11) and system + ancilla circuits with the ancillas
 * traced out. Both are run from I/d and compared (qdm_qdiff_compare_*). */
#include <stdio.h>
#include <string.h>
#include <cblas.h>
#include "cli.h"
#include "qdm/io.h"
#include "qdm/qdiff.h"

#define CMD "qdm qstate train"
#define DEFAULT_OUT "runs/qstate"

static void help(void) {
  printf("usage: qdm qstate train [options]\n\n"
         "Quantum diffusion of density matrices (report 2.2): targets are depolarized to I/d,\n"
         "then two reverse processes (one learned channel per step) are trained and run from I/d:\n"
         "unitary steps (eq. 11), which cannot leave I/d, and system + ancilla circuits with the\n"
         "ancillas traced out, which can.\n\n"
         "targets:\n"
         "  --target NAME     digits (8x8 images of one class, amplitude-encoded on 6 qubits),\n"
         "                    near (random states near a Haar-random state), ghz (GHZ-like states)\n"
         "                    [digits]\n"
         "  --digit D         class for digits [3]\n"
         "  --data DIR        MNIST-style IDX directory for digits; 'synthetic' = built-in 8x8\n"
         "                    glyphs with random distortions [data/mnist if present, else synthetic]\n"
         "  --members K       states in the target ensemble [32]\n"
         "  --qubits N        system qubits for near/ghz (digits: 6) [6]\n"
         "  --spread S        spread of near/ghz states around their centre [0.3]\n"
         "model and training:\n"
         "  --steps T         diffusion steps [8]\n"
         "  --schedule S      cosine (alpha_T = 0, rho_T = I/d) or linear [cosine]\n"
         "  --p1 P, --pT P    linear schedule's first and last depolarizing probability [0.05, 1]\n"
         "  --ancillas M      ancilla qubits per step of the non-unitary model [1]\n"
         "  --layers L        ansatz layers per step (RY, RZ on every qubit + CNOT ring) [4]\n"
         "  --ansatz NAME     builtin (the line above, plus a last RY, RZ layer) or any name of\n"
         "                    qdm circuit's ansatz library (hea, conv, sim1..sim19, ...; ring on) [builtin]\n"
         "  --train MODE      chain (all steps end to end from I/d) or step (each step a one-step\n"
         "                    denoiser of the forward-noised targets) [chain]\n"
         "  --loss L          fidelity (eq. 12) or trace (trace distance; chain only) [fidelity]\n"
         "  --iters N         Adam iterations per model [300]\n"
         "  --lr X            Adam learning rate [0.05]\n"
         "  --init X          initial parameter scale [0.1]\n"
         "  --seed S          random seed [1]\n"
         "  --threads N       threads for the engine and BLAS; the matrices here are small, so\n"
         "                    one thread is fastest on a shared 2-core machine [1]; 0: every core\n"
         "output:\n"
         "  --out DIR         write curve.png, loss.png (and samples.png for digits) here [runs/qstate]\n"
         "  --no-png          write no pictures\n"
         "  --quick           tiny configuration (for tests): T=3, K=8, L=2, 20 iterations, 4 qubits for near/ghz\n"
         "  --json            one JSON object on stdout\n"
         "  --quiet           no progress lines\n");
}

typedef struct {
  int json, quiet, nopng, threads;
  const char *out;
} cli_out;

static void parse(int argc, char **argv, qdm_qdiff_compare_opts *o, cli_out *co) {
  cli_args a;
  cli_init(&a, CMD, argc, argv);
  qdm_qdiff_compare_opts_default(o);
  qdm_qtarget_opts *to = &o->target;
  int quick = cli_flag(&a, "--quick");
  co->json = cli_flag(&a, "--json");
  co->quiet = cli_flag(&a, "--quiet");
  co->nopng = cli_flag(&a, "--no-png");
  to->kind = cli_enum(&a, "--target", qdm_qtarget_names, QDM_QTARGET_DIGITS);
  int digits = to->kind == QDM_QTARGET_DIGITS;
  to->data = cli_str(&a, "--data", NULL);
  to->synthetic = to->data && !strcmp(to->data, "synthetic");
  to->digit = (int)cli_int(&a, "--digit", 3, 0, 9);
  to->K = (int)cli_int(&a, "--members", quick ? 8 : 32, 1, 100000);
  to->n = (int)cli_int(&a, "--qubits", digits ? 6 : quick ? 4 : 6, 1, 10);
  if (digits && to->n != 6) cli_die(CMD, 2, "--target digits uses 6 qubits (64 pixels), got --qubits %d", to->n);
  to->spread = cli_double(&a, "--spread", 0.3, 0, 10);
  to->seed = (uint64_t)cli_int(&a, "--seed", 1, 0, 0x7fffffffL);
  o->T = (int)cli_int(&a, "--steps", quick ? 3 : 8, 1, 1000);
  o->schedule = cli_enum(&a, "--schedule", qdm_qsched_names, QDM_QSCHED_COSINE);
  o->p1 = cli_double(&a, "--p1", 0.05, 0, 1);
  o->pT = cli_double(&a, "--pT", 1, 0, 1);
  o->nanc = (int)cli_int(&a, "--ancillas", 1, 1, 4);
  o->layers = (int)cli_int(&a, "--layers", quick ? 2 : 4, 0, 100);
  const char *ansatz = cli_str(&a, "--ansatz", "builtin");
  o->ansatz = strcmp(ansatz, "builtin") ? ansatz : NULL;
  o->train.train = cli_enum(&a, "--train", qdm_qtrain_names, QDM_QTRAIN_CHAIN);
  o->train.loss = cli_enum(&a, "--loss", qdm_qloss_names, QDM_QLOSS_FIDELITY);
  if (o->train.loss == QDM_QLOSS_TRACE && o->train.train == QDM_QTRAIN_STEP)
    cli_die(CMD, 2, "--loss trace needs --train chain");
  o->train.iters = (int)cli_int(&a, "--iters", quick ? 20 : 300, 0, 1000000);
  o->train.lr = cli_double(&a, "--lr", 0.05, 1e-9, 10);
  o->init = cli_double(&a, "--init", 0.1, 0, 10);
  o->train.verbose = !co->quiet;
  co->out = cli_str(&a, "--out", DEFAULT_OUT);
  co->threads = cli_threads(&a, 1);
  cli_done(&a);
}

static void print_json(const qdm_qdiff_compare_opts *o, const qdm_qdiff_compare_result *r, const cli_out *co) {
  int T = r->T;
  qdm_json j;
  qdm_json_init(&j, stdout, 1);
  qdm_json_obj(&j);
  qdm_json_kv_str(&j, "target", qdm_enum_str(qdm_qtarget_names, o->target.kind));
  qdm_json_kv_str(&j, "source", r->source);
  qdm_json_kv_int(&j, "qubits", r->n);
  qdm_json_kv_int(&j, "members", r->K);
  qdm_json_kv_int(&j, "steps", T);
  qdm_json_kv_str(&j, "schedule", qdm_enum_str(qdm_qsched_names, o->schedule));
  qdm_json_kv_int(&j, "ancillas", o->nanc);
  qdm_json_kv_int(&j, "layers", o->layers);
  qdm_json_kv_str(&j, "ansatz", o->ansatz ? o->ansatz : "builtin");
  qdm_json_kv_int(&j, "params_per_step_unitary", r->unitary.np);
  qdm_json_kv_int(&j, "params_per_step_ancilla", r->ancilla.np);
  qdm_json_kv_str(&j, "train", qdm_enum_str(qdm_qtrain_names, o->train.train));
  qdm_json_kv_str(&j, "loss", qdm_enum_str(qdm_qloss_names, o->train.loss));
  qdm_json_kv_int(&j, "iters", r->iters);
  qdm_json_kv_num(&j, "alpha_T", r->alpha[T]);
  qdm_json_kv_num(&j, "fidelity_start", r->ra.fid[T]);
  qdm_json_kv_num(&j, "fidelity_unitary", r->ru.fid[0]);
  qdm_json_kv_num(&j, "fidelity_ancilla", r->ra.fid[0]);
  qdm_json_kv_num(&j, "fidelity_bound", r->bound);
  qdm_json_kv_num(&j, "purity_start", r->ra.pur[T]);
  qdm_json_kv_num(&j, "purity_unitary", r->ru.pur[0]);
  qdm_json_kv_num(&j, "purity_ancilla", r->ra.pur[0]);
  qdm_json_kv_num(&j, "loss_unitary", r->ru.final_loss);
  qdm_json_kv_num(&j, "loss_ancilla", r->ra.final_loss);
  qdm_json_key(&j, "curves");
  qdm_json_obj(&j);
  qdm_json_kv_nums(&j, "forward_fidelity", r->ffid, T + 1);
  qdm_json_kv_nums(&j, "forward_purity", r->fpur, T + 1);
  qdm_json_kv_nums(&j, "unitary_fidelity", r->ru.fid, T + 1);
  qdm_json_kv_nums(&j, "unitary_purity", r->ru.pur, T + 1);
  qdm_json_kv_nums(&j, "ancilla_fidelity", r->ra.fid, T + 1);
  qdm_json_kv_nums(&j, "ancilla_purity", r->ra.pur, T + 1);
  qdm_json_obj_end(&j);
  qdm_json_kv_str(&j, "out", co->nopng ? "" : co->out);
  qdm_json_kv_num(&j, "seconds_unitary", r->ru.seconds);
  qdm_json_kv_num(&j, "seconds_ancilla", r->ra.seconds);
  qdm_json_kv_num(&j, "seconds", r->seconds);
  qdm_json_obj_end(&j);
  qdm_json_end(&j);
}

static void print_table(const qdm_qdiff_compare_result *r, const cli_out *co) {
  int T = r->T;
  const qdm_qdiff_curve *ru = &r->ru, *ra = &r->ra;
  printf("mean fidelity to the %d target states, reverse process started from I/d (t = %d):\n", r->K, T);
  printf("  %-26s %10s %10s\n", "", "fidelity", "purity");
  printf("  %-26s %10.4f %10.4f\n", "start I/d", ra->fid[T], ra->pur[T]);
  printf("  %-26s %10.4f %10.4f\n", "unitary steps (eq. 11)", ru->fid[0], ru->pur[0]);
  printf("  %-26s %10.4f %10.4f\n", "system + ancilla steps", ra->fid[0], ra->pur[0]);
  printf("  %-26s %10.4f\n", "bound (top eigenvalue)", r->bound);
  printf("  t   fwd-fid  fwd-pur  uni-fid  uni-pur  anc-fid  anc-pur\n");
  for (int t = 0; t <= T; t++)
    printf("  %-3d %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f\n", t, r->ffid[t], r->fpur[t], ru->fid[t], ru->pur[t],
           ra->fid[t], ra->pur[t]);
  if (!co->nopng) printf("pictures in %s/ (%.1f s)\n", co->out, r->seconds);
}

static int qstate_train(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help();
      return 0;
    }
  qdm_qdiff_compare_opts o;
  cli_out co;
  parse(argc, argv, &o, &co);
  qdm_qdiff_compare_result r;
  int e = qdm_qdiff_compare_init(&o, &r);
  if (e) cli_die(CMD, e == QDM_EINVAL ? 2 : 1, "%s", qdm_errmsg());
  const char *target = qdm_enum_str(qdm_qtarget_names, o.target.kind);
  if (!co.quiet)
    fprintf(stderr, "qstate: %s (%s), %d states on %d qubits, T = %d, %d ancilla(s), %d layers, %s training\n",
            target, r.source, r.K, r.n, r.T, o.nanc, o.layers, qdm_enum_str(qdm_qtrain_names, o.train.train));
  if (qdm_qdiff_compare_train(&o, &r)) cli_die(CMD, 1, "%s", qdm_errmsg());
  if (!co.nopng && qdm_qdiff_compare_pictures(&r, co.out, target, o.target.seed)) cli_die(CMD, 1, "%s", qdm_errmsg());
  if (co.json) print_json(&o, &r, &co);
  else print_table(&r, &co);
  qdm_qdiff_compare_free(&r);
  return 0;
}

int cmd_qstate(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    printf("usage: qdm qstate train [options]   (qdm qstate train --help)\n\n"
           "  train   quantum diffusion of density matrices (report 2.2): unitary vs ancilla reverse steps\n");
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "train")) return qstate_train(argc - 1, argv + 1);
  cli_die("qdm qstate", 2, "unknown subcommand '%s' (expected train)", argv[1]);
}
