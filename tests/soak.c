/* soak.c -- qdm under load: short training runs, resumes and samplings back
 * to back, with random valid options and random interruptions (SIGKILL or
 * Ctrl-C's SIGINT at a random moment, up to three times a run), through the
 * qdm binary built next to this program. Run under AddressSanitizer
 * (scripts/soak.sh builds that tree), every process that exits must exit 0:
 * LeakSanitizer turns a leak into a non-zero status, a crash or UB is a
 * signal. The numbers expected are those of the same command run without
 * interruption: for every run, the interrupted and resumed copy must end
 * with the same checkpoint (every tensor and state value bitwise but the
 * wall-clock seconds), the same best.safetensors byte for byte, and the two
 * must sample the same images.
 *
 * usage: soak [OPERATIONS (200)] [SECONDS (240)] [SEED (time)]
 * Stops at OPERATIONS processes or SECONDS, whichever comes first, and
 * prints what it did; the seed reproduces the options and moments. */
#define _GNU_SOURCE
#include <stdarg.h>
#include "check.h"
#include "qdm/data.h"
#include "qdm_child.h"

static char data_dir[800];
static int ops;

typedef struct {
  const char *v[96];
  char buf[64][48];
  int n, nb;
} argl;

static void add(argl *a, const char *s) { a->v[a->n++] = s; }
static void addf(argl *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(argl *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(a->buf[a->nb], sizeof a->buf[0], fmt, ap);
  va_end(ap);
  add(a, a->buf[a->nb++]);
}

static int pick(qdm_rng *r, int n) { return (int)(qdm_rng_u64(r) % (uint64_t)n); }

/* Random options every one of which qdm train accepts together: small
 * models (a run is well under a second), every block and readout, both
 * presets, every schedule, target, loss, sampler, EMA, QNGD, shots, noise. */
static void random_options(qdm_rng *r, argl *a, char *desc, size_t len) {
  int authors = pick(r, 4) == 0, classical = pick(r, 8) == 0, n = 2 + pick(r, 3), layers = 1 + pick(r, 2);
  int noise = !classical && n <= 3 && pick(r, 6) == 0, ancilla = !noise && pick(r, 3) != 0;
  int qngd = !classical && !noise && pick(r, 5) == 0, shots = !classical && pick(r, 6) == 0;
  static const char *ans4[] = {"authors", "hea", "paper", "sim19"}, *ans[] = {"hea", "paper", "sim19", "authors"};
  static const char *sched[] = {"linear", "cosine", "authors-linear"}, *target[] = {"x0", "eps", "mean"};
  static const char *sampler[] = {"mean", "ddpm", "ddim", "sde", "ode"};
  const char *an = n == 4 ? ans4[pick(r, 4)] : ans[pick(r, 4)];
  add(a, "qdm");
  add(a, "train");
  add(a, "--preset");
  add(a, authors ? "authors" : "default");
  add(a, "--data");
  add(a, data_dir);
  add(a, "--limit");
  addf(a, "%d", 8 + 4 * pick(r, 3));
  add(a, "--batch");
  addf(a, "%d", 3 + pick(r, 4));
  add(a, "--epochs");
  addf(a, "%d", 1 + pick(r, 3));
  add(a, "--heldout");
  add(a, pick(r, 3) ? "0" : "0.25");
  add(a, "--subset");
  add(a, pick(r, 2) ? "seeded" : "first");
  add(a, "--hidden");
  addf(a, "%d", 8 << pick(r, 3));
  add(a, "--qubits");
  addf(a, "%d", n);
  add(a, "--layers");
  addf(a, "%d", layers);
  add(a, "--ansatz");
  add(a, an);
  add(a, "--ancilla-block");
  add(a, ancilla ? "on" : "off");
  add(a, "--ancilla-mode");
  add(a, pick(r, 2) ? "sum" : "project");
  add(a, "--measure");
  add(a, pick(r, 3) ? "ano" : "pauli");
  add(a, "--ano");
  addf(a, "%d", 2 + pick(r, 3));
  add(a, "--skip");
  add(a, pick(r, 4) ? "on" : "off");
  add(a, "--bottleneck");
  add(a, classical ? "classical" : "quantum");
  add(a, "--conditional");
  add(a, pick(r, 4) ? "on" : "off");
  add(a, "--T");
  addf(a, "%d", 2 + pick(r, 3));
  add(a, "--schedule");
  add(a, sched[pick(r, 3)]);
  add(a, "--target");
  add(a, target[pick(r, 3)]);
  add(a, "--loss");
  add(a, pick(r, 2) ? "mse" : "infidelity");
  int s = pick(r, 5);
  add(a, "--sampler");
  add(a, sampler[s]);
  if (s == 2 && pick(r, 2)) {
    add(a, "--sample-steps");
    add(a, "2");
  }
  if (pick(r, 3) == 0) {
    add(a, "--ema");
    add(a, "0.9");
  }
  if (qngd) {
    add(a, "--optimizer");
    add(a, "qngd");
  }
  if (shots) {
    add(a, "--shots");
    add(a, "64");
  }
  if (noise) {
    add(a, "--noise");
    add(a, "depolarizing:0.01");
  }
  add(a, "--seed");
  addf(a, "%d", 1 + pick(r, 1000));
  add(a, "--threads");
  addf(a, "%d", 1 + pick(r, 2));
  add(a, "--samples");
  add(a, "1");
  add(a, "--quiet");
  size_t k = 0;
  for (int i = 2; i < a->n && k + 1 < len; i++) k += (size_t)snprintf(desc + k, len - k, "%s ", a->v[i]);
}

static int run_to_end(const char *const *args, const char *ef) {
  ops++;
  return reap(spawn(args, ef));
}

/* The run in B with interruptions: the first command, then --resume (with
 * no other option: the settings are the checkpoint's) until it ends. */
static int interrupted(qdm_rng *r, argl *a, const char *out, double dur, const char *ef, int *nint) {
  const char *threads = NULL;
  for (int i = 0; i + 1 < a->n; i++)
    if (!strcmp(a->v[i], "--threads")) threads = a->v[i + 1];
  const char *resume[] = {"qdm", "train", "--out", out, "--resume", "--quiet", "--threads", threads, NULL};
  char ck[1200];
  snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", out);
  *nint = 0;
  for (int round = 0; round < 8; round++) {
    int fresh = round == 0 || !exists(ck);
    if (fresh && round > 0) add(a, "--force"), a->v[a->n] = NULL;
    pid_t p = spawn(fresh ? a->v : resume, ef);
    ops++;
    if (*nint < 3 && pick(r, 3)) {
      sleep_s(qdm_rng_uniform(r) * dur);
      kill(p, pick(r, 2) ? SIGKILL : SIGINT);
    }
    int st = reap(p);
    if (fresh && round > 0) a->n--, a->v[a->n] = NULL;
    if (st == 0) return 0;
    if (st == 128 + SIGKILL || st == 130) { /* 130: Ctrl-C saved a checkpoint */
      (*nint)++;
      continue;
    }
    return st;
  }
  return -1;
}

/* both runs sample the same images with the same seed and sampler */
static int same_samples(qdm_rng *r, const char *a, const char *b, const char *ef) {
  static const char *sampler[] = {"mean", "ddpm", "ddim", "sde", "ode"};
  const char *s = sampler[pick(r, 5)];
  char seed[32], ca[1200], cb[1200], ia[1200], ib[1200];
  snprintf(seed, sizeof seed, "%d", pick(r, 100000));
  snprintf(ca, sizeof ca, "%s/best.safetensors", a);
  snprintf(cb, sizeof cb, "%s/best.safetensors", b);
  snprintf(ia, sizeof ia, "%s/s-images-idx3-ubyte", a);
  snprintf(ib, sizeof ib, "%s/s-images-idx3-ubyte", b);
  const char *sa[] = {"qdm", "sample", "--checkpoint", ca, "--n", "2", "--seed", seed, "--sampler", s, "--idx", ia, NULL};
  const char *sb[] = {"qdm", "sample", "--checkpoint", cb, "--n", "2", "--seed", seed, "--sampler", s, "--idx", ib, NULL};
  int x = run_to_end(sa, ef), y = run_to_end(sb, ef);
  if (x || y) return -(x ? x : y);
  return same_file(ia, ib);
}

static void write_data(void) {
  enum { N = 24 };
  float *img = malloc((size_t)N * 784 * sizeof(float));
  uint8_t lab[N];
  qdm_rng r;
  qdm_rng_seed(&r, 12);
  for (int i = 0; i < N; i++) {
    lab[i] = (uint8_t)(i % 3);
    for (int k = 0; k < 784; k++) img[(size_t)i * 784 + k] = (float)qdm_rng_uniform(&r) * (k % 28 < 10 + 5 * lab[i]);
  }
  snprintf(data_dir, sizeof data_dir, "%s/data", dir);
  qdm_mkdirs(data_dir);
  char p[1200];
  snprintf(p, sizeof p, "%s/train-images-idx3-ubyte", data_dir);
  qdm_idx_write_images(p, img, N, 28, 28);
  snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte", data_dir);
  qdm_idx_write_labels(p, lab, N);
  free(img);
}

static void print_args(const argl *a) {
  for (int i = 2; i < a->n; i++) fprintf(stderr, " %s", a->v[i]);
  fprintf(stderr, "\n");
}

int main(int argc, char **argv) {
  int max_ops = argc > 1 ? atoi(argv[1]) : 200;
  double budget = argc > 2 ? atof(argv[2]) : 240;
  uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : (uint64_t)time(NULL);
  if (child_setup(argv[0], "soak")) return 1;
  write_data();
  qdm_rng r;
  qdm_rng_seed(&r, seed);
  double t0 = now_s();
  int runs = 0, interruptions = 0;
  char ef[1200];
  snprintf(ef, sizeof ef, "%s/stderr.txt", dir);
  while (ops < max_ops && now_s() - t0 < budget) {
    argl a = {.n = 0, .nb = 0};
    char desc[2048], A[1000], B[1000], why[256] = "";
    random_options(&r, &a, desc, sizeof desc);
    snprintf(A, sizeof A, "%s/run%d-a", dir, runs);
    snprintf(B, sizeof B, "%s/run%d-b", dir, runs);
    argl b = a;
    for (int i = 0; i < b.n; i++) /* b's strings live in b */
      for (int k = 0; k < a.nb; k++)
        if (a.v[i] == a.buf[k]) b.v[i] = b.buf[k];
    add(&a, "--out"), add(&a, A), a.v[a.n] = NULL;
    add(&b, "--out"), add(&b, B), b.v[b.n] = NULL;
    double t1 = now_s();
    int st = run_to_end(a.v, ef);
    double dur = now_s() - t1;
    if (st) {
      CHECK(0, "run %d exited %d (%s):\n%s", runs, st, desc, "see stderr.txt");
      print_args(&a);
      break;
    }
    int nint;
    st = interrupted(&r, &b, B, dur, ef, &nint);
    interruptions += nint;
    char ca[1100], cb[1100], ba[1100], bb[1100];
    snprintf(ca, sizeof ca, "%s/checkpoint.safetensors", A);
    snprintf(cb, sizeof cb, "%s/checkpoint.safetensors", B);
    snprintf(ba, sizeof ba, "%s/best.safetensors", A);
    snprintf(bb, sizeof bb, "%s/best.safetensors", B);
    int same = st == 0 && same_checkpoint(ca, cb, why, sizeof why) && same_file(ba, bb);
    int ss = same ? same_samples(&r, A, B, ef) : 0;
    CHECK(st == 0 && same && ss == 1, "run %d: interrupted %d times, status %d, same files %d (%s), same samples %d: %s",
          runs, nint, st, same, why, ss, desc);
    if (!(st == 0 && same && ss == 1)) {
      print_args(&b);
      break;
    }
    runs++;
  }
  printf("soak: %d operations (%d runs, each also interrupted and resumed: %d interruptions; 2 samplings each) in "
         "%.0f s, seed %llu\n",
         ops, runs, interruptions, now_s() - t0, (unsigned long long)seed);
  return check_done();
}
