/* cmd_train.c -- `qdm train` and `qdm sample`. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "qdm/density.h"
#include "qdm/qngd.h"
#include "qdm/io.h"
#include "qdm/train.h"

static const char *train_help =
    "usage: qdm train [--preset default|ten|fashion|authors] [--data DIR] [--classes LIST] [--epochs N]\n"
    "                 [--batch N] [--lr X] [--seed K] [--threads N] [--resume|--force] [--out DIR] [--json]\n"
    "                 [model and diffusion options]\n\n"
    "Trains the hybrid quantum-classical U-Net (report section 6.4) and writes into DIR:\n"
    "config.json, metrics.csv, checkpoint.safetensors (latest, resumable), best.safetensors,\n"
    "loss.png, forward.png, samples.png (one row per class), evolution.png, summary.json.\n"
    "Ctrl-C saves a checkpoint; --resume continues it to the same numbers.\n"
    "Under mpirun -np K (or srun) each step's rows are split over the K ranks and their\n"
    "gradients summed; --threads is per rank; rank 0 writes DIR (docs/scaling.md).\n\n"
    "run directory:\n"
    "  --out DIR   (runs/latest) one run per directory: a DIR that holds a run is refused\n"
    "              unless --resume continues it or --force starts afresh over it (its files\n"
    "              are removed); DIR/train.lock keeps a second qdm train out while one runs\n"
    "  --resume    continue from DIR/checkpoint.safetensors with its settings; flags given\n"
    "              must match them, except %s\n"
    "  --force     replace the run in DIR\n\n"
    "presets:\n"
    "  default   qdm's choice: digits 0,1, cosine schedule (reaches noise), x0 target,\n"
    "            MSE loss, ancestral DDPM sampling with t and label, 30 epochs\n"
    "  ten       all ten MNIST digits: default's recipe, x0 clipped in sampling (--clip on),\n"
    "            samples from an EMA of the weights (--ema 0.999), 60 epochs\n"
    "  fashion   all ten Fashion-MNIST classes (Debian's dataset-fashion-mnist, 54,000\n"
    "            training images): as ten, 12 epochs\n"
    "  authors   the authors' code exactly: all digits, their first 8096 images (file\n"
    "            order), T = 10 linear betas 1e-4..0.02, posterior-mean target, infidelity\n"
    "            loss, mean sampler, 100 epochs\n\n"
    "data:\n"
    "  --data DIR        IDX directory, or 'mnist' (default, imported by setup) or 'fashion'\n"
    "  --classes LIST    classes to keep, e.g. 0,1 or 0-9 or all (--digits: the same, its older name)\n"
    "  --limit N         N images after filtering (0: all), chosen by --subset\n"
    "  --heldout F       fraction of images kept out of training (for evaluation): a seeded,\n"
    "                    class-stratified choice\n"
    "  --subset seeded|first   how --limit chooses: seeded (default) = each class its share,\n"
    "                    chosen by a hash of (--seed, label, pixels), so the same for any file\n"
    "                    order; first = the first N in file order (the authors' preset)\n"
    "optimisation:\n"
    "  --epochs N  --batch N (images; each is used at all T steps)  --lr X\n"
    "  --lr-gamma X --lr-step N   step decay (default 0.97 every 10 epochs)\n"
    "  --circuit-lr X  --ano-lr X  separate rates for circuit angles and ANO matrices\n"
    "  --weight-decay X  --ema DECAY (sample from an exponential moving average)\n"
    "  --seed K  --quiet\n"
    "  --threads N       threads for qdm and OpenBLAS (0, the default: every core), as on every command\n"
    "  --json            print summary.json to stdout at the end\n"
    "  --precision f32|f64  the classical part (encoder, LayerNorm, decoder, their Adam state) in\n"
    "            float with sgemm (both presets) or double; circuits: --circuit-precision.\n"
    "            --resume at the other precision converts the checkpoint (and says so)\n"
    "  --circuit-precision c128|c64  the circuit blocks' state vectors in complex128 (default,\n"
    "            the authors') or complex64 (16 groups per vector, faster; the angles, the rows\n"
    "            between blocks and the ANO stay double); c64 applies to ansatzes of one- and\n"
    "            two-qubit gates without --noise, others run complex128. May change on --resume\n"
    "  --optimizer adam|qngd   qngd: quantum natural gradient (report eq. 26) for the circuit\n"
    "            angles, Fubini-Study metric per (t, label) group and block; Adam for the rest\n"
    "  --qngd-metric block|diag|full (block)  --qngd-lr X (0.05)  --qngd-lambda X (1e-3)\n"
    "  --qngd-epochs N   QNGD for the first N epochs, then Adam (0: all)\n"
    "  A loss or gradient that turns NaN or Inf stops the run (exit 1) naming the epoch and\n"
    "  batch; the last checkpoint is kept.\n"
    "model (ablations):\n"
    "  --ansatz NAME|FILE.qasm (authors)  --qubits N (4)  --layers L (10)\n"
    "            FILE.qasm: one layer in OpenQASM 2/3, repeated L times with fresh angles (its\n"
    "            inputs are the trainable ones); the checkpoint carries the text\n"
    "  --ancilla-block on|off  --measure ano|pauli  --ano K (16)  --skip on|off\n"
    "  --ano-layout global|sliding:k|subsets:k   where the observables act (report 5): global =\n"
    "            all n qubits (4^n entries each, default); sliding:k = the n-k+1 windows of k\n"
    "            neighbours, subsets:k = all C(n,k) k-subsets, K observables on each (4^k entries)\n"
    "  --encoding amplitude|angle|phase|dense|basis   psi0 from the encoder (report 3):\n"
    "            amplitude = 2^n values, L2-normalised (default); angle RY(x), phase H then P(x):\n"
    "            n values; dense RY(2x) P(y): 2n; basis: n bits [x > 0], gradient straight-through\n"
  "  --ancilla-mode project|sum   block 2's state after H on the ancilla: project = its |0>\n"
    "            branch (I + U) psi / 2 (default preset); sum = both branches, which is psi itself,\n"
    "            so U acts only through the ancilla's <Z> (the authors' code, their preset)\n"
    "  --bottleneck quantum|classical  --conditional on|off  --hidden N (512)\n"
    "hardware realism (docs/noise.md; kept in the checkpoint, so sampling uses them too):\n"
    "  --shots N         features are means of N measurement shots (0: exact, default);\n"
    "                    backward uses the exact gradient (straight-through)\n"
    "  --noise SPEC      none | depolarizing:P | amplitude_damping:G after every gate, circuit\n"
    "                    blocks as density matrices; needs --ancilla-block off\n"
    "diffusion:\n"
    "  --schedule authors-linear|linear|cosine  --T N  --target mean|x0|eps\n"
    "  --t-groups K   the circuit table's t axis in K strata of the T steps (0: one per step);\n"
    "                 each image then trains at one random step of every stratum (K rows)\n"
    "  --loss infidelity|mse  --data-scale X\n"
    "sampling (report 2.1.2, 2.1.4; samples.png, evolution.png and qdm sample):\n"
    "  --sampler mean|ddpm|ddim|sde|ode   mean: the authors' (z <- predicted mean); ddpm:\n"
    "            ancestral; ddim: Song et al.; sde: reverse-time SDE (eq. 8) by Euler-Maruyama;\n"
    "            ode: its probability-flow twin (deterministic)\n"
    "  --sample-steps N  ddim: N of the T steps (0: all)  --eta X  ddim: 0 deterministic .. 1\n"
    "  --sde-substeps M  sde/ode: Euler substeps per step (0: 1)\n"
    "  --clip on|off  clamp every step's predicted x0 to the images' range (real, >= 0), as\n"
    "            Ho et al. clip to [-1, 1]: the chain's last steps cannot leave noise behind\n";

/* The flag of a setting (its checkpoint key with '-' for '_', but two). */
static void key_flag(const char *key, char *buf, size_t len) {
  if (!strcmp(key, "classical_bottleneck")) key = "bottleneck";
  else if (!strcmp(key, "samples_per_class")) key = "samples";
  else if (!strcmp(key, "ansatz_qasm")) key = "ansatz";  /* the text of its .qasm file */
  else if (!strcmp(key, "ano_k")) key = "ano_layout";     /* the k of sliding:k, subsets:k */
  snprintf(buf, len, "--%s", key);
  for (char *c = buf; *c; c++)
    if (*c == '_') *c = '-';
}

/* The flags that may change on --resume, from the settings table; with
 * wrap > 0, lines of about wrap characters after the first (for --help). */
static void resumable_flags(char *buf, size_t len, int wrap) {
  const char *key;
  int chg, col = 40, nf = 0;
  char f[64][32];
  for (int i = 0; qdm_train_setting(i, &key, &chg) && nf < 62; i++)
    if (chg) key_flag(key, f[nf++], sizeof f[0]);
  snprintf(f[nf++], sizeof f[0], "--threads");
  snprintf(f[nf++], sizeof f[0], "--quiet");
  size_t n = 0;
  buf[0] = 0;
  for (int i = 0; i < nf && n + 40 < len; i++) {
    int w = (int)strlen(f[i]) + 2, brk = wrap > 0 && col + w > wrap;
    n += snprintf(buf + n, len - n, "%s%s%s", i ? "," : "", i == 0 ? "" : brk ? "\n              " : " ", f[i]);
    col = brk ? 14 + w : col + w;
  }
}

static void copy_opt(cli_args *a, const char *name, char *dst, size_t len) {
  const char *s = cli_str(a, name, NULL);
  if (!s) return;
  if (strlen(s) >= len) cli_die(a->cmd, 2, "%s: value too long", name);
  strcpy(dst, s);
}

/* --ano-layout global | sliding:K | subsets:K */
static void ano_layout_option(cli_args *a, qdm_unet_cfg *m) {
  const char *s = cli_str(a, "--ano-layout", NULL);
  if (!s) return;
  const char *colon = strchr(s, ':');
  char kind[16];
  snprintf(kind, sizeof kind, "%.*s", colon ? (int)(colon - s) : (int)strlen(s), s);
  int lay = qdm_enum_parse(qdm_ano_layout_names, "--ano-layout", kind);
  char *end = NULL;
  long k = colon ? strtol(colon + 1, &end, 10) : 0;
  if (lay < 0 || (lay == QDM_ANO_GLOBAL) != !colon || (colon && (*end || end == colon + 1 || k < 1 || k > m->n)))
    cli_die(a->cmd, 2, "--ano-layout: '%s', expected global, sliding:K or subsets:K with K in 1..--qubits (%d)", s, m->n);
  m->ano_layout = lay;
  m->ano_k = (int)k;
}

/* model and diffusion options shared by train and bench train */
void cli_model_options(cli_args *a, qdm_train_opts *o) {
  qdm_unet_cfg *m = &o->model;
  const char *ans = cli_str(a, "--ansatz", NULL);
  size_t na = ans ? strlen(ans) : 0;
  if (na > 5 && !strcmp(ans + na - 5, ".qasm")) {
    if (qdm_unet_cfg_ansatz_file(m, ans)) cli_die(a->cmd, 1, "--ansatz: %s", qdm_errmsg());
  } else if (ans) {
    if (na >= sizeof m->ansatz) cli_die(a->cmd, 2, "--ansatz: '%s' is too long for an ansatz name", ans);
    snprintf(m->ansatz, sizeof m->ansatz, "%s", ans);
    m->ansatz_qasm[0] = 0;
  }
  m->n = (int)cli_int(a, "--qubits", m->n, 1, 10);
  m->layers = (int)cli_int(a, "--layers", m->layers, 0, 200);
  static const qdm_enum_name meas[] = {{"ano", QDM_MEASURE_ANO}, {"pauli", QDM_MEASURE_PAULI}, {NULL, 0}};
  static const qdm_enum_name bott[] = {{"quantum", 0}, {"classical", 1}, {NULL, 0}};
  m->ancilla = cli_onoff(a, "--ancilla-block", m->ancilla);
  m->ancilla_mode = cli_enum(a, "--ancilla-mode", qdm_ancilla_mode_names, m->ancilla_mode);
  m->measure = cli_enum(a, "--measure", meas, m->measure);
  m->K = (int)cli_int(a, "--ano", m->K, 1, 4096);
  ano_layout_option(a, m);
  m->encoding = cli_enum(a, "--encoding", qdm_encoding_names, m->encoding);
  m->skip = cli_onoff(a, "--skip", m->skip);
  m->classical = cli_enum(a, "--bottleneck", bott, m->classical);
  m->conditional = cli_onoff(a, "--conditional", m->conditional);
  m->hidden = (int)cli_int(a, "--hidden", m->hidden, 1, 1 << 16);
  m->shots = cli_int(a, "--shots", m->shots, 0, 1000000000L);
  copy_opt(a, "--noise", m->noise, sizeof m->noise);
  qdm_noise nz;
  if (m->noise[0] && qdm_noise_parse(m->noise, &nz)) cli_die(a->cmd, 2, "--noise: %s", qdm_errmsg());
  m->T = (int)cli_int(a, "--T", m->T, 1, QDM_MAX_T);
  m->t_groups = (int)cli_int(a, "--t-groups", m->t_groups, 0, QDM_MAX_T);
  o->schedule = (qdm_sched_kind)cli_enum(a, "--schedule", qdm_schedule_names, o->schedule);
  o->target = (qdm_pred_kind)cli_enum(a, "--target", qdm_pred_names, o->target);
  o->loss = (qdm_loss_kind)cli_enum(a, "--loss", qdm_loss_names, o->loss);
  o->sampler = (qdm_sampler_kind)cli_enum(a, "--sampler", qdm_sampler_names, o->sampler);
  o->sample_steps = (int)cli_int(a, "--sample-steps", o->sample_steps, 0, QDM_MAX_T);
  o->eta = cli_double(a, "--eta", o->eta, 0, 10);
  o->sde_substeps = (int)cli_int(a, "--sde-substeps", o->sde_substeps, 0, 10000);
  o->clip = cli_onoff(a, "--clip", o->clip);
  o->data_scale = cli_double(a, "--data-scale", o->data_scale, 0, 1e6);
}

/* The options a run starts from: the preset's, or on --resume the
 * checkpoint's (a --preset given then must be the checkpoint's). */
static void train_base(cli_args *a, qdm_train_opts *o, int resume, const char *out) {
  const char *preset = cli_str(a, "--preset", NULL);
  if (!resume) {
    if (qdm_train_preset(o, preset ? preset : "default")) cli_die(a->cmd, 2, "%s", qdm_errmsg());
    return;
  }
  char p[1100];
  if (qdm_path_join(p, sizeof p, out, "checkpoint.safetensors")) cli_die(a->cmd, 2, "--out: %s", qdm_errmsg());
  if (access(p, F_OK))
    cli_die(a->cmd, 1, "--resume: no checkpoint at %s (the run stopped before its first epoch ended?); start it "
            "again without --resume, or with --force if best.safetensors is there", p);
  if (qdm_checkpoint_settings(p, o)) cli_die(a->cmd, 1, "--resume: %s", qdm_errmsg());
  if (preset && strcmp(preset, o->preset))
    cli_die(a->cmd, 2, "--preset: the run in %s was trained with preset %s, not %s", out, o->preset, preset);
}

/* Everything given on the command line over the base options. */
static void train_flags(cli_args *a, qdm_train_opts *o) {
  copy_opt(a, "--data", o->data, sizeof o->data);
  const char *cls = cli_classes(a);
  if (cls) {
    if (strlen(cls) >= sizeof o->digits) cli_die(a->cmd, 2, "--classes: at most %zu characters", sizeof o->digits - 1);
    snprintf(o->digits, sizeof o->digits, "%s", cls);
  }
  o->limit = cli_int(a, "--limit", o->limit, 0, 1L << 30);
  o->heldout = cli_double(a, "--heldout", o->heldout, 0, 0.99);
  o->subset = (qdm_subset)cli_enum(a, "--subset", qdm_subset_names, o->subset);
  o->epochs = (int)cli_int(a, "--epochs", o->epochs, 1, 1000000);
  o->batch = (int)cli_int(a, "--batch", o->batch, 1, 100000);
  o->lr = cli_double(a, "--lr", o->lr, 1e-12, 10);
  o->lr_gamma = cli_double(a, "--lr-gamma", o->lr_gamma, 1e-6, 1);
  o->lr_step = (int)cli_int(a, "--lr-step", o->lr_step, 1, 1000000);
  o->circuit_lr = cli_double(a, "--circuit-lr", o->circuit_lr, 0, 10);
  o->ano_lr = cli_double(a, "--ano-lr", o->ano_lr, 0, 10);
  o->weight_decay = cli_double(a, "--weight-decay", o->weight_decay, 0, 10);
  o->ema = cli_double(a, "--ema", o->ema, 0, 0.999999);
  o->model.precision = (qdm_precision)cli_enum(a, "--precision", qdm_precision_names, o->model.precision);
  o->model.circuit_precision = (qdm_circuit_precision)cli_enum(a, "--circuit-precision", qdm_circuit_precision_names,
                                                               o->model.circuit_precision);
  o->optimizer = (qdm_optim_kind)cli_enum(a, "--optimizer", qdm_optim_names, o->optimizer);
  o->qngd_metric = cli_enum(a, "--qngd-metric", qdm_metric_names, o->qngd_metric);
  o->qngd_lr = cli_double(a, "--qngd-lr", o->qngd_lr, 1e-9, 100);
  o->qngd_lambda = cli_double(a, "--qngd-lambda", o->qngd_lambda, 0, 1e6);
  o->qngd_epochs = (int)cli_int(a, "--qngd-epochs", o->qngd_epochs, 0, 1000000);
  o->seed = (uint64_t)cli_int(a, "--seed", (long)o->seed, 0, 1L << 62);
  o->threads = cli_threads(a, 0);
  o->quiet = cli_flag(a, "--quiet");
  o->samples_per_class = (int)cli_int(a, "--samples", o->samples_per_class, 1, 64);
  cli_model_options(a, o);
}

int cmd_train(int argc, char **argv) {
  cli_args a;
  cli_init(&a, "qdm train", argc, argv);
  char may[1024];
  if (cli_flag(&a, "--help")) {
    resumable_flags(may, sizeof may, 88);
    printf(train_help, may);
    return 0;
  }
  resumable_flags(may, sizeof may, 0);
  qdm_train_opts o, ckpt;
  int resume = cli_flag(&a, "--resume"), force = cli_flag(&a, "--force"), json = cli_flag(&a, "--json");
  if (resume && force) cli_die(a.cmd, 2, "--resume and --force: give one (continue the run, or replace it)");
  char out[1024] = "runs/latest";
  copy_opt(&a, "--out", out, sizeof out);
  train_base(&a, &o, resume, out);
  ckpt = o;
  train_flags(&a, &o);
  cli_done(&a);
  snprintf(o.out, sizeof o.out, "%s", out);
  o.resume = resume;
  o.force = force;
  o.quiet |= qdm_dist_rank() != 0; /* under MPI rank 0 speaks */
  const char *key;
  char was[1100], now[1100], flag[64];
  if (resume && qdm_train_opts_resumable(&ckpt, &o, &key, was, now, sizeof was)) {
    key_flag(key, flag, sizeof flag);
    cli_die(a.cmd, 2, "%s: the run in %s was trained with '%s', not '%s'; on --resume only %s may change", flag, out, was, now,
            may);
  }
  if (!resume && !force && qdm_train_dir_has_run(out))
    cli_die(a.cmd, 1, "--out %s holds a run already (its best.safetensors would be replaced): --resume continues it, "
            "--force starts afresh over it", out);
  int err = qdm_train(&o);
  if (err == QDM_EINTR) return 130;
  if (err) cli_die(a.cmd, 1, "%s", qdm_errmsg());
  if (!o.quiet) fprintf(stderr, "qdm train: wrote %s/{samples,evolution,forward,loss}.png, metrics.csv, summary.json\n", o.out);
  if (json && !qdm_path_join(was, sizeof was, o.out, "summary.json")) cli_cat(a.cmd, was);
  return 0;
}

static void sample_json(const qdm_sample_opts *o, int threads, double seconds) {
  qdm_json j;
  qdm_json_init(&j, stdout, 0);
  qdm_json_obj(&j);
  qdm_json_kv_str(&j, "checkpoint", o->checkpoint);
  qdm_json_kv_int(&j, "n_per_label", o->n);
  qdm_json_kv_str(&j, "labels", o->labels[0] ? o->labels : "as trained");
  qdm_json_kv_int(&j, "seed", (long long)o->seed);
  qdm_json_kv_str(&j, "png", o->png);
  qdm_json_kv_str(&j, "idx", o->idx);
  qdm_json_kv_str(&j, "idx_labels", o->idx_labels);
  qdm_json_kv_int(&j, "threads", threads > 0 ? threads : qdm_threads());
  qdm_json_kv_num(&j, "seconds", seconds);
  qdm_json_obj_end(&j);
  qdm_json_end(&j);
}

int cmd_sample(int argc, char **argv) {
  cli_args a;
  cli_init(&a, "qdm sample", argc, argv);
  if (cli_flag(&a, "--help")) {
    printf("usage: qdm sample --checkpoint FILE [--n N] [--labels LIST] [--sampler NAME]\n"
           "                  [--seed K] --out FILE.png [--idx FILE] [--idx-labels FILE] [--threads N] [--json]\n\n"
           "Generates N images per label from a checkpoint written by qdm train (best or\n"
           "latest). --labels default: the labels the model was trained on; a label it never\n"
           "saw is refused, and so are labels for an unconditional model (--conditional off).\n"
           "--out writes a PNG grid (one row per label); --idx writes the images\n"
           "(16x16, each scaled to max 1) as an IDX file for qdm eval, --idx-labels their labels.\n"
           "  --sampler mean|ddpm|ddim|sde|ode   default: the one the model was trained for\n"
           "  --sample-steps N  ddim: N of the T steps (a subsequence; default: as trained, 0 = all)\n"
           "  --eta X         ddim: 0 deterministic (default) .. 1 ancestral-like (Song et al.)\n"
           "  --sde-substeps M  sde and ode: Euler substeps per step (default: as trained, 1)\n"
           "  --clip on|off   clamp every step's predicted x0 to the images' range (default: as trained)\n"
           "  --shots N       read the circuit out with N shots (0: exact); default: as trained\n"
           "  --noise SPEC    depolarizing:P, amplitude_damping:G or none; default: as trained\n"
           "  --threads N     threads for qdm and OpenBLAS (0, the default: every core)\n"
           "  --json          print what was written and the time taken as one JSON object\n");
    return 0;
  }
  qdm_sample_opts o;
  qdm_sample_opts_default(&o);
  copy_opt(&a, "--checkpoint", o.checkpoint, sizeof o.checkpoint);
  o.n = (int)cli_int(&a, "--n", o.n, 1, 100000);
  copy_opt(&a, "--labels", o.labels, sizeof o.labels);
  o.sampler = cli_enum(&a, "--sampler", qdm_sampler_names, o.sampler);
  o.sample_steps = (int)cli_int(&a, "--sample-steps", o.sample_steps, 0, QDM_MAX_T);
  o.eta = cli_double(&a, "--eta", o.eta, 0, 10);
  o.sde_substeps = (int)cli_int(&a, "--sde-substeps", o.sde_substeps, 1, 10000);
  o.clip = cli_onoff(&a, "--clip", o.clip);
  o.seed = (uint64_t)cli_int(&a, "--seed", (long)o.seed, 0, 1L << 62);
  copy_opt(&a, "--out", o.png, sizeof o.png);
  copy_opt(&a, "--idx", o.idx, sizeof o.idx);
  copy_opt(&a, "--idx-labels", o.idx_labels, sizeof o.idx_labels);
  long shots = cli_int(&a, "--shots", -1, 0, 1L << 40);
  o.shots = shots < 0 ? 0 : shots == 0 ? -1 : shots; /* absent: as trained; 0: exact */
  copy_opt(&a, "--noise", o.noise, sizeof o.noise);
  int threads = cli_threads(&a, 0), json = cli_flag(&a, "--json");
  cli_done(&a);
  if (!o.checkpoint[0]) cli_die(a.cmd, 2, "--checkpoint FILE is required");
  if (!o.png[0] && !o.idx[0]) cli_die(a.cmd, 2, "nothing to write: give --out FILE.png and/or --idx FILE");
  double t0 = qdm_now();
  if (qdm_sample_run(&o)) cli_die(a.cmd, 1, "%s", qdm_errmsg());
  if (json) sample_json(&o, threads, qdm_now() - t0);
  return 0;
}
