/* cmd_eval.c -- `qdm classifier train|test`, `qdm eval` and `qdm experiment`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "qdm/eval.h"
#include "qdm/experiment.h"
#include "qdm/io.h"
#include "qdm/train.h"

#define DEFAULT_CLASSIFIER "runs/classifier.safetensors"

static const char *classifier_help =
    "usage: qdm classifier train [--data DIR] [--heldout F] [--arch cnn|mlp] [--epochs N]\n"
    "                            [--batch N] [--lr X] [--seed K] [--out FILE] [--threads N] [--json] [--quiet]\n"
    "       qdm classifier test --classifier FILE --data DIR|FILE [--split train|test]\n"
    "                           [--classes LIST] [--limit N] [--threads N] [--json]\n\n"
    "The digit classifier whose penultimate layer is the feature space of qdm eval.\n"
    "Images take the canonical form of qdm eval (L2-normalise, bilinear resize to 16x16,\n"
    "scale to max 1, round to bytes), the same for real and generated images.\n"
    "  cnn (default): conv3x3(1->32) ReLU maxpool, conv3x3(32->64) ReLU maxpool,\n"
    "                 Linear(1024->128) ReLU = 128 features, Linear(128->10)\n"
    "  mlp:           Linear(256->256) ReLU = 256 features, Linear(256->10)\n"
    "train: AdamW (lr 2e-3, cosine decay, weight decay 1e-4), batch 64, 12 epochs,\n"
    "random 1-pixel shifts; a --heldout fraction (0.1) of the train split of --data\n"
    "(default: the mnist data), each class its share chosen by a hash of (--seed, label,\n"
    "pixels) so the same for any file order, is kept out and scored. Writes safetensors (default\n"
    "" DEFAULT_CLASSIFIER ").\n"
    "test: accuracy on a labelled IDX set (--split default: test if the directory has one).\n"
    "  --classes LIST  keep these classes (--digits: the same, its older name)\n"
    "  --threads N     threads for qdm and OpenBLAS (0, the default: every core)\n";

/* --split-like options: a split name of a data directory, or def */
static const char *split_arg(cli_args *a, const char *name, const char *def) {
  static const qdm_enum_name splits[] = {{"train", 0}, {"test", 1}, {NULL, 0}};
  const char *s = cli_str(a, name, NULL);
  if (s && qdm_enum_parse(splits, name, s) < 0) cli_die(a->cmd, 2, "%s", qdm_errmsg());
  return s ? s : def;
}

static void copy_to(cli_args *a, char *dst, size_t len, const char *s) {
  if (strlen(s) >= len) cli_die(a->cmd, 2, "value too long: '%s'", s);
  strcpy(dst, s);
}

static void classifier_print(const char *out, const char *arch, const qdm_classifier *c, double acc, int ntr, int json) {
  if (!json) {
    printf("classifier %s (%s, %zu parameters, %d features): held-out accuracy %.4f (trained on %d images)\n", out, arch,
           qdm_classifier_nparams(c), qdm_classifier_features_dim(c), acc, ntr);
    return;
  }
  qdm_json j;
  qdm_json_init(&j, stdout, 1);
  qdm_json_obj(&j);
  qdm_json_kv_str(&j, "classifier", out);
  qdm_json_kv_str(&j, "arch", arch);
  qdm_json_kv_int(&j, "params", (long long)qdm_classifier_nparams(c));
  qdm_json_kv_int(&j, "features", qdm_classifier_features_dim(c));
  qdm_json_kv_int(&j, "train_images", ntr);
  qdm_json_kv_num(&j, "heldout_accuracy", acc);
  qdm_json_obj_end(&j);
  qdm_json_end(&j);
}

static int classifier_train(int argc, char **argv) {
  cli_args a;
  cli_init(&a, "qdm classifier train", argc, argv);
  if (cli_flag(&a, "--help")) {
    fputs(classifier_help, stdout);
    return 0;
  }
  qdm_classifier_cfg g;
  qdm_classifier_train_opts o;
  qdm_classifier_cfg_default(&g);
  qdm_classifier_train_opts_default(&o);
  const char *data = cli_str(&a, "--data", "mnist");
  double heldout = cli_double(&a, "--heldout", 0.1, 0, 0.9);
  static const qdm_enum_name archs[] = {{"cnn", 0}, {"mlp", 1}, {NULL, 0}};
  int mlp = cli_enum(&a, "--arch", archs, 0);
  o.epochs = (int)cli_int(&a, "--epochs", o.epochs, 1, 10000);
  o.batch = (int)cli_int(&a, "--batch", o.batch, 1, 128);
  o.lr = cli_double(&a, "--lr", o.lr, 1e-9, 10);
  o.weight_decay = cli_double(&a, "--weight-decay", o.weight_decay, 0, 10);
  o.shift = (int)cli_int(&a, "--shift", o.shift, 0, 4);
  o.seed = (uint64_t)cli_int(&a, "--seed", (long)o.seed, 0, 1L << 62);
  g.hidden = (int)cli_int(&a, "--hidden", 0, 0, 65536);
  const char *out = cli_str(&a, "--out", DEFAULT_CLASSIFIER);
  int json = cli_flag(&a, "--json");
  o.quiet = cli_flag(&a, "--quiet");
  cli_threads(&a, 0);
  cli_done(&a);
  if (mlp) g.c1 = g.c2 = 0;
  if (!g.hidden) g.hidden = mlp ? 256 : 128;
  qdm_classifier *c;
  double acc;
  int ntr;
  if (qdm_classifier_fit(data, heldout, &g, &o, &c, &acc, &ntr) || qdm_classifier_save_fit(c, out, acc, ntr, data))
    cli_die(a.cmd, 1, "%s", qdm_errmsg());
  classifier_print(out, qdm_enum_str(archs, mlp), c, acc, ntr, json);
  qdm_classifier_free(c);
  return 0;
}

static int classifier_test(int argc, char **argv) {
  cli_args a;
  cli_init(&a, "qdm classifier test", argc, argv);
  if (cli_flag(&a, "--help")) {
    fputs(classifier_help, stdout);
    return 0;
  }
  const char *file = cli_str(&a, "--classifier", NULL);
  const char *data = cli_str(&a, "--data", NULL);
  const char *split = split_arg(&a, "--split", NULL);
  const char *digits = cli_classes(&a);
  long limit = cli_int(&a, "--limit", 0, 0, 1L << 30);
  int json = cli_flag(&a, "--json");
  cli_threads(&a, 0);
  cli_done(&a);
  if (!file) cli_die(a.cmd, 2, "--classifier FILE is required");
  if (!data) cli_die(a.cmd, 2, "--data DIR|FILE is required");
  qdm_classifier *c;
  if (qdm_classifier_load(file, &c)) cli_die(a.cmd, 1, "%s", qdm_errmsg());
  qdm_dataset d;
  double acc;
  if (qdm_eval_load(data, NULL, split, digits, limit, &d) || qdm_classifier_accuracy(c, &d, &acc))
    cli_die(a.cmd, 1, "%s", qdm_errmsg());
  if (json) printf("{\"accuracy\": %.17g, \"n\": %d}\n", acc, d.n);
  else printf("accuracy %.4f on %d images\n", acc, d.n);
  qdm_dataset_free(&d);
  qdm_classifier_free(c);
  return 0;
}

int cmd_classifier(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    fputs(classifier_help, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "train")) return classifier_train(argc - 1, argv + 1);
  if (!strcmp(argv[1], "test")) return classifier_test(argc - 1, argv + 1);
  cli_die("qdm classifier", 2, "unknown action '%s' (expected train or test)", argv[1]);
}

static const char *eval_help =
    "usage: qdm eval --images FILE [--labels FILE] --reference DIR|FILE [--reference-split S]\n"
    "                [--classes LIST] [--train DIR|FILE|none] [--train-split S]\n"
    "                [--classifier FILE] [--k N] [--max-n N] [--seed K] [--threads N] [--json]\n"
    "                [--per-class-plot F]\n\n"
    "Measures a set of images (an IDX file, e.g. from qdm sample --idx; real images work\n"
    "too) against real ones, in the feature space of the classifier (default\n"
    "" DEFAULT_CLASSIFIER ", trained on first use). Every image, real or generated, takes\n"
    "one canonical form first: L2-normalise, bilinear resize to 16x16, scale to max 1,\n"
    "round to bytes.\n"
    "  Frechet distance   ||mu1-mu2||^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2), beside its\n"
    "                     floor: two disjoint real sets of the same size n\n"
    "  classifier score   exp(mean KL(p(y|x) || p(y))), and the histogram of predicted classes\n"
    "  precision, recall  k-NN manifolds in feature space (Kynkaanniemi et al. 2019)\n"
    "  nn distance        mean pixel distance to the nearest training image, beside the same\n"
    "                     for held-out real images (a much smaller value flags copying)\n"
    "options:\n"
    "  --reference        real images: a data directory (split: test if present, else train)\n"
    "                     or an IDX file; --classes filters it (e.g. 0,1 for a binary model;\n"
    "                     --digits is its older name)\n"
    "  --train            training images for the memorisation check (default: the mnist\n"
    "                     train split, filtered by --classes, if present); none: skip\n"
    "  --k N (3)  --max-n N (cap on n)  --seed K (which real images form the subsets)\n"
    "  --per-class-plot FILE.png  the per-class breakdown (given --labels: label accuracy,\n"
    "                     precision and recall per class, against the real images of that class)\n"
    "  --threads N        threads for qdm and OpenBLAS (0, the default: every core)\n\n"
    "usage: qdm eval --checkpoint FILE [--data DIR] [--split train|test] [--n N] [--seed K]\n"
    "                [--threads N] [--json]\n\n"
    "The variational bound of eqs. 4-5 of a trained model (also in a run's summary.json):\n"
    "L_T + sum_t KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t)) + L_0, with the ancestral sampler's\n"
    "reverse variances and a Gaussian decoder, in nats per image and bits per real dimension,\n"
    "on the first N (256) images of the run's classes (default data: the run's, test split if\n"
    "it has one).\n";

/* --per-class-plot: the breakdown under a title naming both sets, with
 * the reference data's class names (Fashion-MNIST's, or digits) */
static void eval_bars(const char *cmd, const char *path, const qdm_eval_result *r, const char *images, const char *ref) {
  char names[QDM_EVAL_MAXC][24], title[2400];
  const char *nm[QDM_EVAL_MAXC];
  for (int c = 0; c < QDM_EVAL_MAXC; c++) nm[c] = qdm_class_name(ref, c, names[c], sizeof names[c]);
  const char *ib = strrchr(images, '/'), *rb = strrchr(ref, '/');
  snprintf(title, sizeof title, "qdm eval, per class: %s against the real images of %s", ib && ib[1] ? ib + 1 : images,
           rb && rb[1] ? rb + 1 : ref);
  if (qdm_eval_plot_classes(path, r, nm, title)) cli_die(cmd, 1, "%s", qdm_errmsg());
}

static int load_or_die(cli_args *a, const char *path, const char *labels, const char *split, const char *digits, qdm_dataset *d) {
  if (qdm_eval_load(path, labels, split, digits, 0, d)) cli_die(a->cmd, 1, "%s", qdm_errmsg());
  return 0;
}

/* qdm eval --checkpoint: the model's variational bound on real images */
static int eval_vlb(cli_args *a, const char *ckpt) {
  const char *data = cli_str(a, "--data", NULL), *split = split_arg(a, "--split", NULL);
  int n = (int)cli_int(a, "--n", 256, 1, 1 << 20), json = cli_flag(a, "--json");
  uint64_t seed = (uint64_t)cli_int(a, "--seed", 1, 0, 1L << 62);
  cli_threads(a, 0);
  cli_done(a);
  qdm_train_opts o;
  qdm_unet *m;
  if (qdm_checkpoint_load(ckpt, 64, &o, &m)) cli_die(a->cmd, 1, "%s", qdm_errmsg());
  char dir[1024], im[4096], lb[4096];
  if (qdm_data_resolve(data ? data : o.data, dir, sizeof dir)) cli_die(a->cmd, 1, "%s", qdm_errmsg());
  if (!split) split = qdm_data_files(dir, "test", im, lb, sizeof im) == QDM_OK ? "test" : "train";
  qdm_data_opts d = {dir, split, o.digits, n, 16, QDM_SUBSET_SEEDED, seed, NULL}; /* n of them, stratified */
  qdm_dataset ds = {0};
  if (qdm_data_load(&d, &ds)) cli_die(a->cmd, 1, "%s", qdm_errmsg());
  if (n > ds.n) n = ds.n;
  qdm_vlb v;
  double bpd;
  if (qdm_model_vlb(m, &o, &ds, 0, n, seed, &v, &bpd)) cli_die(a->cmd, 1, "%s", qdm_errmsg());
  if (json)
    printf("{\"bits_per_dim\": %.6g, \"nats_per_image\": %.8g, \"prior\": %.8g, \"diffusion\": %.8g, "
           "\"decoder\": %.8g, \"images\": %d, \"split\": \"%s\"}\n", bpd, v.total, v.prior, v.diffusion, v.decoder, n, split);
  else
    printf("variational bound on %d %s images: %.4f bits/dim (%.2f nats per image: prior %.4g, diffusion %.6g, "
           "decoder %.6g)\n", n, split, bpd, v.total, v.prior, v.diffusion, v.decoder);
  qdm_dataset_free(&ds);
  qdm_unet_free(m);
  return 0;
}

int cmd_eval(int argc, char **argv) {
  cli_args a;
  cli_init(&a, "qdm eval", argc, argv);
  if (cli_flag(&a, "--help")) {
    fputs(eval_help, stdout);
    return 0;
  }
  const char *ckpt = cli_str(&a, "--checkpoint", NULL);
  if (ckpt) return eval_vlb(&a, ckpt);
  const char *images = cli_str(&a, "--images", NULL);
  const char *labels = cli_str(&a, "--labels", NULL);
  const char *ref = cli_str(&a, "--reference", NULL);
  const char *rsplit = split_arg(&a, "--reference-split", NULL);
  const char *digits = cli_classes(&a);
  const char *train_opt = cli_str(&a, "--train", NULL), *train = train_opt ? train_opt : "mnist";
  const char *tsplit = split_arg(&a, "--train-split", "train");
  const char *cfile = cli_str(&a, "--classifier", DEFAULT_CLASSIFIER);
  qdm_eval_opts o;
  qdm_eval_opts_default(&o);
  o.k = (int)cli_int(&a, "--k", o.k, 1, 100);
  o.max_n = (int)cli_int(&a, "--max-n", 0, 0, 1 << 30);
  o.seed = (uint64_t)cli_int(&a, "--seed", (long)o.seed, 0, 1L << 62);
  int json = cli_flag(&a, "--json");
  const char *bars = cli_str(&a, "--per-class-plot", NULL);
  cli_threads(&a, 0);
  cli_done(&a);
  if (!images) cli_die(a.cmd, 2, "--images FILE is required");
  if (!ref) cli_die(a.cmd, 2, "--reference DIR|FILE is required");
  qdm_classifier *c;
  if (qdm_classifier_obtain(cfile, NULL, json, &c)) cli_die(a.cmd, 1, "%s", qdm_errmsg());
  qdm_dataset G, R, T;
  int have_train = strcmp(train, "none") != 0;
  load_or_die(&a, images, labels, NULL, NULL, &G);
  load_or_die(&a, ref, NULL, rsplit, digits, &R);
  if (have_train && train_opt) load_or_die(&a, train, NULL, tsplit, digits, &T);
  else if (have_train && qdm_eval_load(train, NULL, tsplit, digits, 0, &T)) {
    /* the default training data is missing: no memorisation check */
    if (!json) fprintf(stderr, "qdm eval: no training data (%s); memorisation check skipped (give --train)\n", qdm_errmsg());
    have_train = 0;
  }
  /* the reference is the training set itself: leave-one-out held-out figure */
  char rf[4096], tf[4096];
  o.ref_in_train = have_train && !qdm_eval_source(ref, rsplit, rf, sizeof rf) && !qdm_eval_source(train, tsplit, tf, sizeof tf) &&
                   !strcmp(rf, tf);
  qdm_eval_result r;
  if (qdm_eval_sets(c, &G, &R, have_train ? &T : NULL, &o, &r)) cli_die(a.cmd, 1, "%s", qdm_errmsg());
  if (json) qdm_eval_print_json(stdout, &r);
  else qdm_eval_print_table(stdout, &r);
  if (bars) eval_bars(a.cmd, bars, &r, images, ref);
  qdm_dataset_free(&G);
  qdm_dataset_free(&R);
  if (have_train) qdm_dataset_free(&T);
  qdm_classifier_free(c);
  return 0;
}

static const char *experiment_help =
    "usage: qdm experiment [--sets LIST|all] [--preset NAME] [--quick] [--seeds N] [--out DIR] [--data DIR]\n"
    "                      [--reference DIR|FILE] [--classifier FILE] [--epochs N] [--limit N]\n"
    "                      [--n-eval N] [--threads N] [--json] [--list] [--dry-run] [--quiet]\n\n"
    "Trains, samples and evaluates named sets of runs (the report's claims) and writes\n"
    "into DIR (default runs/experiment): results.md (one table per set), results.json,\n"
    "grid.png (samples, one row per run) and runs/<run>-s<seed>/ (each a qdm train folder\n"
    "plus eval-samples.png and the evaluated IDX files). A run shared by several sets is\n"
    "trained once; a run folder whose experiment.key matches is reused (finished) or\n"
    "resumed from its checkpoint (interrupted), so an interrupted experiment continues\n"
    "where it stopped. Under mpirun -np K the runs are shared out over the K ranks,\n"
    "longest first, each trained on one rank; rank 0 writes the table (docs/scaling.md).\n"
    "  --quick        3 epochs, 600 images per run, 100 generated images per class\n"
    "                 (default: each preset's epochs and images, 500 per class)\n"
    "  --seeds N      train every run with seeds 1..N; the table shows mean ± sd\n"
    "  --preset NAME  the runs built on qdm's default recipe use this training preset\n"
    "                 instead, with its classes and data (e.g. --preset fashion: the sets\n"
    "                 on Fashion-MNIST, classifier runs/classifier-fashion.safetensors)\n"
    "  --reference    real images to compare with (default: the test split of --data if\n"
    "                 it has one, else its train split)\n"
    "  --classifier   feature extractor (default " DEFAULT_CLASSIFIER ", trained if missing)\n"
    "  --epochs N  --limit N  --n-eval N   override the configuration\n"
    "  --threads N    threads for qdm and OpenBLAS (0, the default: every core)\n"
    "  --json         print results.json to stdout at the end\n"
    "sets:\n";

/* --preset without --data takes the preset's data, and a data set other
 * than MNIST its own default classifier file (features of the right images) */
static void experiment_preset_data(cli_args *a, qdm_experiment_opts *o, int data_given, int classifier_given) {
  qdm_train_opts p;
  if (o->preset[0] && !data_given) {
    if (qdm_train_preset(&p, o->preset)) cli_die(a->cmd, 2, "--preset %s: %s", o->preset, qdm_errmsg());
    snprintf(o->data, sizeof o->data, "%s", p.data);
  }
  const char *base = strrchr(o->data, '/') ? strrchr(o->data, '/') + 1 : o->data;
  if (!classifier_given && strcmp(o->data, "mnist") && *base)
    snprintf(o->classifier, sizeof o->classifier, "runs/classifier-%.900s.safetensors", base);
}

int cmd_experiment(int argc, char **argv) {
  cli_args a;
  cli_init(&a, "qdm experiment", argc, argv);
  if (cli_flag(&a, "--help")) {
    fputs(experiment_help, stdout);
    qdm_experiment_list(stdout);
    return 0;
  }
  qdm_experiment_opts o;
  qdm_experiment_opts_default(&o);
  int list = cli_flag(&a, "--list");
  const char *s;
  struct { const char *name; char *dst; size_t len; } strs[] = {
      {"--sets", o.sets, sizeof o.sets},       {"--out", o.out, sizeof o.out},
      {"--data", o.data, sizeof o.data},       {"--reference", o.reference, sizeof o.reference},
      {"--classifier", o.classifier, sizeof o.classifier}, {"--preset", o.preset, sizeof o.preset},
  };
  int given[6] = {0};
  for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
    if ((s = cli_str(&a, strs[i].name, NULL))) {
      if (!*s) cli_die(a.cmd, 2, "%s expects a non-empty value", strs[i].name);
      copy_to(&a, strs[i].dst, strs[i].len, s);
      given[i] = 1;
    }
  experiment_preset_data(&a, &o, given[2], given[4]);
  o.quick = cli_flag(&a, "--quick");
  o.seeds = (int)cli_int(&a, "--seeds", 1, 1, 10);
  o.epochs = (int)cli_int(&a, "--epochs", 0, 1, 100000);
  o.limit = cli_int(&a, "--limit", 0, 1, 1L << 30);
  o.n_eval = (int)cli_int(&a, "--n-eval", 0, 10, 100000);
  o.threads = cli_threads(&a, 0);
  int json = cli_flag(&a, "--json");
  o.dry_run = cli_flag(&a, "--dry-run");
  o.quiet = cli_flag(&a, "--quiet");
  cli_done(&a);
  if (list) {
    qdm_experiment_list(stdout);
    return 0;
  }
  if (qdm_experiment_check(&o)) cli_die(a.cmd, 2, "%s", qdm_errmsg());
  int err = qdm_experiment_run(&o);
  if (err == QDM_EINTR) return 130;
  if (err) cli_die(a.cmd, 1, "%s", qdm_errmsg());
  char p[sizeof o.out + 16];
  snprintf(p, sizeof p, "%s/results.json", o.out);
  if (json && !o.dry_run) cli_cat(a.cmd, p);
  return 0;
}
