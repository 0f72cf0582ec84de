/* cmd_qstate.c -- `qdm qstate train`: the quantum diffusion model of the
 * report's section 2.2 on density matrices. A target ensemble of pure states
 * is depolarized towards I/d (eqs. 9-10); two reverse processes, one learned
 * channel per step, are trained with eq. 12 (or the trace distance):
 * unitary steps (eq. 11) and system + ancilla circuits with the ancillas
 * traced out. Both are run from I/d and compared. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cblas.h>
#include "cli.h"
#include "qdm/circuits.h"
#include "qdm/data.h"
#include "qdm/qdiff.h"
#include "qdm/io.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

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
         "                    one thread is fastest on a shared 2-core machine [1]\n"
         "output:\n"
         "  --out DIR         write curve.png, loss.png (and samples.png for digits) here [qstate-out]\n"
         "  --no-png          write no pictures\n"
         "  --quick           tiny configuration (for tests): T=3, K=8, L=2, 20 iterations, 4 qubits for near/ghz\n"
         "  --json            one JSON object on stdout\n"
         "  --quiet           no progress lines\n");
}

/* ---- built-in targets ---- */

/* 8x8 glyphs of the ten digits, '#' = ink */
static const char *glyph[10][8] = {
    {"..###...", ".#...#..", ".#...#..", ".#...#..", ".#...#..", ".#...#..", "..###...", "........"},
    {"...#....", "..##....", "...#....", "...#....", "...#....", "...#....", "..###...", "........"},
    {"..###...", ".#...#..", ".....#..", "....#...", "...#....", "..#.....", ".#####..", "........"},
    {"..###...", ".#...#..", ".....#..", "...##...", ".....#..", ".#...#..", "..###...", "........"},
    {"....#...", "...##...", "..#.#...", ".#..#...", ".#####..", "....#...", "....#...", "........"},
    {".#####..", ".#......", ".####...", ".....#..", ".....#..", ".#...#..", "..###...", "........"},
    {"..###...", ".#......", ".#......", ".####...", ".#...#..", ".#...#..", "..###...", "........"},
    {".#####..", ".....#..", "....#...", "...#....", "...#....", "..#.....", "..#.....", "........"},
    {"..###...", ".#...#..", ".#...#..", "..###...", ".#...#..", ".#...#..", "..###...", "........"},
    {"..###...", ".#...#..", ".#...#..", "..####..", ".....#..", "....#...", "..##....", "........"}};

static double pix_at(const double *g, double y, double x) { /* bilinear, zero outside */
  int y0 = (int)floor(y), x0 = (int)floor(x);
  double fy = y - y0, fx = x - x0, s = 0;
  for (int dy = 0; dy < 2; dy++)
    for (int dx = 0; dx < 2; dx++) {
      int yy = y0 + dy, xx = x0 + dx;
      if (yy < 0 || yy > 7 || xx < 0 || xx > 7) continue;
      s += (dy ? fy : 1 - fy) * (dx ? fx : 1 - fx) * g[yy * 8 + xx];
    }
  return s;
}

/* A glyph under a random shift (+-0.8 px), scale (0.85-1.15), shear, and
 * stroke weight, plus faint noise: digit-like variety without data files. */
static void synth_digit(int digit, qdm_rng *r, double *img) {
  double g[64];
  for (int y = 0; y < 8; y++)
    for (int x = 0; x < 8; x++) g[y * 8 + x] = glyph[digit][y][x] == '#';
  double sy = 0.8 * (2 * qdm_rng_uniform(r) - 1), sx = 0.8 * (2 * qdm_rng_uniform(r) - 1);
  double sc = 0.85 + 0.3 * qdm_rng_uniform(r), sh = 0.25 * (2 * qdm_rng_uniform(r) - 1);
  double wgt = 0.6 + 0.4 * qdm_rng_uniform(r);
  for (int y = 0; y < 8; y++)
    for (int x = 0; x < 8; x++) {
      double yy = (y - 3.5 - sy) / sc + 3.5, xx = (x - 3.5 - sx) / sc + 3.5 + sh * (y - 3.5);
      double v = pix_at(g, yy, xx);
      v = pow(v, wgt) + 0.03 * fabs(qdm_rng_normal(r));
      img[y * 8 + x] = v;
    }
}

/* 28x28 -> 8x8 by area averaging over the central 24x24 (MNIST's digits sit
 * in a 20x20 box), so strokes survive the downsampling. */
static void area_8x8(const float *src, int h, int w, double *dst) {
  int oy = (h - 24) / 2, ox = (w - 24) / 2;
  for (int y = 0; y < 8; y++)
    for (int x = 0; x < 8; x++) {
      double s = 0;
      for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) s += src[(oy + 3 * y + i) * w + ox + 3 * x + j];
      dst[y * 8 + x] = s / 9;
    }
}

/* digits from IDX files; returns 0 and fills img (K x 64) or non-zero */
static int mnist_digits(const char *dir, int digit, int K, double *img, char *src, size_t srclen) {
  char cls[8];
  snprintf(cls, sizeof cls, "%d", digit);
  const char *splits[2] = {"train", "test"};
  int rc = QDM_EINVAL;
  for (int s = 0; s < 2 && rc; s++) {
    qdm_data_opts o = {dir, splits[s], cls, K, 0};
    qdm_dataset ds;
    rc = qdm_data_load(&o, &ds);
    if (rc) continue;
    if (ds.n < K || ds.h < 24 || ds.w < 24) {
      rc = qdm_fail(QDM_EINVAL, "%s: only %d images of digit %d (need %d of at least 24x24)", dir, ds.n, digit, K);
    } else {
      for (int k = 0; k < K; k++) area_8x8(ds.x + (size_t)k * ds.h * ds.w, ds.h, ds.w, img + 64 * k);
      snprintf(src, srclen, "idx:%s/%s", dir, splits[s]);
    }
    qdm_dataset_free(&ds);
  }
  return rc;
}

static void normalise(qdm_cplx *v, int d) {
  double s = 0;
  for (int i = 0; i < d; i++) s += creal(v[i] * conj(v[i]));
  s = 1 / sqrt(s);
  for (int i = 0; i < d; i++) v[i] *= s;
}

typedef struct {
  const char *target, *data;
  int digit, K, n;
  double spread;
  uint64_t seed;
} target_opts;

/* Fills psi (K x 2^n). For digits also img (K x 64, the pictures). */
static int make_targets(const target_opts *o, qdm_cplx *psi, double *img, char *src, size_t srclen) {
  int d = 1 << o->n;
  qdm_rng r;
  qdm_rng_seed(&r, o->seed ^ 0x7a5e7u);
  if (!strcmp(o->target, "digits")) {
    int rc = 1;
    if (o->data && strcmp(o->data, "synthetic")) {
      rc = mnist_digits(o->data, o->digit, o->K, img, src, srclen);
      if (rc) return rc;
    } else if (!o->data) {
      char dir[4096];
      if (!qdm_data_dir(dir, sizeof dir)) rc = mnist_digits(dir, o->digit, o->K, img, src, srclen);
    }
    if (rc) {
      for (int k = 0; k < o->K; k++) synth_digit(o->digit, &r, img + 64 * k);
      snprintf(src, srclen, "synthetic");
    }
    /* amplitude encoding (eqs. 14-15): the 64 pixels, L2-normalised */
    for (int k = 0; k < o->K; k++) {
      for (int i = 0; i < 64; i++) psi[(size_t)k * d + i] = img[64 * k + i];
      normalise(psi + (size_t)k * d, d);
    }
  } else if (!strcmp(o->target, "near")) {
    qdm_cplx c[1 << 10];
    qdm_rng_haar_state(&r, c, d);
    for (int k = 0; k < o->K; k++) {
      qdm_cplx *p = psi + (size_t)k * d;
      for (int i = 0; i < d; i++)
        p[i] = c[i] + o->spread * (qdm_rng_normal(&r) + I * qdm_rng_normal(&r)) / sqrt(2.0 * d);
      normalise(p, d);
    }
    snprintf(src, srclen, "near-haar");
  } else {
    /* GHZ-like: cos a |0..0> + e^{i phi} sin a |1..1>, a = pi/4 + spread N, phi = spread pi N */
    for (int k = 0; k < o->K; k++) {
      qdm_cplx *p = psi + (size_t)k * d;
      memset(p, 0, d * sizeof *p);
      double a = M_PI / 4 + o->spread * qdm_rng_normal(&r), ph = o->spread * M_PI * qdm_rng_normal(&r);
      p[0] = cos(a);
      p[d - 1] = cexp(I * ph) * sin(a);
    }
    snprintf(src, srclen, "ghz");
  }
  return QDM_OK;
}

/* ---- evaluation ---- */

typedef struct {
  double *fid, *pur; /* T + 1 each, index t */
  double *loss;      /* iters */
  double final_loss, secs;
} run_result;

/* mean fidelity tr(S rho) and purity along the reverse process from I/d */
static int reverse_curve(const qdm_qdiff *m, const qdm_cplx *psi, int K, double *fid, double *pur) {
  int d = m->dim, T = m->T;
  size_t dd = (size_t)d * d;
  qdm_cplx *traj = malloc((T + 1) * dd * sizeof *traj);
  double *f = malloc(K * sizeof *f);
  if (!traj || !f) { free(traj); free(f); return qdm_fail(QDM_ENOMEM, "out of memory"); }
  qdm_dm_mixed(traj + T * dd, d, 1);
  int rc = qdm_qdiff_reverse(m, traj + T * dd, traj);
  for (int t = 0; t <= T && !rc; t++) {
    double s = 0;
    for (int k = 0; k < K; k++) {
      qdm_dm_fidelity_pure(traj + t * dd, psi + (size_t)k * d, 0, d, 1, f + k);
      s += f[k] / K;
    }
    fid[t] = s;
    qdm_dm_purity(traj + t * dd, d, 1, pur + t);
  }
  free(traj);
  free(f);
  return rc;
}

/* forward: mean over the ensemble of <psi_k|rho_t^k|psi_k> and tr (rho_t^k)^2 */
static int forward_curve(int n, int T, const double *alpha, const qdm_cplx *psi, int K, double *fid, double *pur) {
  int d = 1 << n;
  size_t dd = (size_t)d * d;
  qdm_cplx *rho = malloc(dd * sizeof *rho);
  if (!rho) return qdm_fail(QDM_ENOMEM, "out of memory");
  for (int t = 0; t <= T; t++) {
    fid[t] = pur[t] = 0;
    for (int k = 0; k < K; k++) {
      double f, p;
      qdm_dm_from_states(psi + (size_t)k * d, d, 1, rho);
      qdm_dm_depolarize(rho, d, 1, 1 - alpha[t]); /* eq. 10 */
      qdm_dm_fidelity_pure(rho, psi + (size_t)k * d, 0, d, 1, &f);
      qdm_dm_purity(rho, d, 1, &p);
      fid[t] += f / K;
      pur[t] += p / K;
    }
  }
  free(rho);
  return QDM_OK;
}

/* Generated samples for pictures: I/d unravelled into basis states |j>,
 * each run through the reverse channels; the picture is sqrt(diag rho_0)
 * (the amplitudes' magnitudes for a pure output), scaled to max 1. */
static int sample_pictures(const qdm_qdiff *m, int ns, uint64_t seed, float *out) {
  int d = m->dim, T = m->T;
  size_t dd = (size_t)d * d;
  qdm_cplx *traj = malloc((T + 1) * dd * sizeof *traj);
  if (!traj) return qdm_fail(QDM_ENOMEM, "out of memory");
  qdm_rng r;
  qdm_rng_seed(&r, seed);
  int rc = QDM_OK;
  for (int s = 0; s < ns && !rc; s++) {
    int j = (int)(qdm_rng_u64(&r) % (uint64_t)d);
    memset(traj + T * dd, 0, dd * sizeof *traj);
    traj[T * dd + (size_t)j * d + j] = 1;
    rc = qdm_qdiff_reverse(m, traj + T * dd, traj);
    double mx = 1e-300;
    for (int i = 0; i < 64; i++) mx = fmax(mx, sqrt(fmax(creal(traj[(size_t)i * d + i]), 0)));
    for (int i = 0; i < 64; i++) out[s * 64 + i] = (float)(sqrt(fmax(creal(traj[(size_t)i * d + i]), 0)) / mx);
  }
  free(traj);
  return rc;
}

static int train_one(qdm_qdiff *m, const qdm_cplx *psi, int K, const qdm_qdiff_opts *o, run_result *res) {
  double t0 = now_s();
  int rc = qdm_qdiff_train(m, psi, K, o, res->loss);
  res->secs = now_s() - t0;
  if (!rc) rc = qdm_qdiff_loss(m, psi, K, o->train, o->loss, &res->final_loss, NULL);
  if (!rc) rc = reverse_curve(m, psi, K, res->fid, res->pur);
  return rc;
}

static int write_pictures(const char *out, const char *tgt, int T, int iters, const double *ffid, const double *fpur,
                          const run_result *ru, const run_result *ra, const double *img, const qdm_qdiff *mu,
                          const qdm_qdiff *ma, int K, uint64_t seed) {
  char path[4200];
  int rc = qdm_mkdirs(out);
  if (rc) return rc;
  double *tx = malloc((T + 1 + iters) * sizeof *tx), *ix = tx + T + 1;
  if (!tx) return qdm_fail(QDM_ENOMEM, "out of memory");
  for (int t = 0; t <= T; t++) tx[t] = t;
  for (int i = 0; i < iters; i++) ix[i] = i + 1;
  qdm_series s[6] = {{"forward fidelity", tx, ffid, T + 1}, {"forward purity", tx, fpur, T + 1},
                     {"unitary reverse fidelity", tx, ru->fid, T + 1}, {"unitary reverse purity", tx, ru->pur, T + 1},
                     {"ancilla reverse fidelity", tx, ra->fid, T + 1}, {"ancilla reverse purity", tx, ra->pur, T + 1}};
  char title[256];
  snprintf(title, sizeof title, "qstate %s: mean fidelity and purity vs t (reverse runs from I/d at t = T)", tgt);
  snprintf(path, sizeof path, "%s/curve.png", out);
  rc = qdm_plot_lines(path, title, "t", "mean fidelity / purity", s, 6, 0);
  if (!rc && iters > 0) {
    qdm_series l[2] = {{"unitary steps", ix, ru->loss, iters}, {"system + ancilla steps", ix, ra->loss, iters}};
    snprintf(path, sizeof path, "%s/loss.png", out);
    rc = qdm_plot_lines(path, "qstate training loss", "iteration", "loss", l, 2, 0);
  }
  free(tx);
  if (rc || !img) return rc;
  enum { NS = 8 };
  float *pic = malloc(3 * NS * 64 * sizeof *pic);
  if (!pic) return qdm_fail(QDM_ENOMEM, "out of memory");
  for (int k = 0; k < NS; k++) {
    double mx = 1e-300;
    for (int i = 0; i < 64; i++) mx = fmax(mx, img[64 * (k % K) + i]);
    for (int i = 0; i < 64; i++) pic[k * 64 + i] = (float)(img[64 * (k % K) + i] / mx);
  }
  rc = sample_pictures(mu, NS, seed, pic + NS * 64);
  if (!rc) rc = sample_pictures(ma, NS, seed, pic + 2 * NS * 64);
  const char *labels[3] = {"targets", "unitary", "ancilla"};
  snprintf(path, sizeof path, "%s/samples.png", out);
  if (!rc) rc = qdm_png_grid(path, pic, 3 * NS, 8, 8, 3, NS, 8, labels);
  free(pic);
  return rc;
}

static int qstate_train(int argc, char **argv) {
  cli_args a;
  const char *cmd = "qdm qstate train";
  cli_init(&a, cmd, argc, argv);
  if (cli_flag(&a, "--help") || cli_flag(&a, "-h")) {
    help();
    return 0;
  }
  int quick = cli_flag(&a, "--quick"), json = cli_flag(&a, "--json"), quiet = cli_flag(&a, "--quiet");
  int nopng = cli_flag(&a, "--no-png");
  target_opts to;
  to.target = cli_str(&a, "--target", "digits");
  if (strcmp(to.target, "digits") && strcmp(to.target, "near") && strcmp(to.target, "ghz"))
    cli_die(cmd, 2, "--target expects digits, near or ghz, got '%s'", to.target);
  int digits = !strcmp(to.target, "digits");
  to.data = cli_str(&a, "--data", NULL);
  to.digit = (int)cli_int(&a, "--digit", 3, 0, 9);
  to.K = (int)cli_int(&a, "--members", quick ? 8 : 32, 1, 100000);
  to.n = (int)cli_int(&a, "--qubits", digits ? 6 : quick ? 4 : 6, 1, 10);
  if (digits && to.n != 6) cli_die(cmd, 2, "--target digits uses 6 qubits (64 pixels), got --qubits %d", to.n);
  to.spread = cli_double(&a, "--spread", 0.3, 0, 10);
  to.seed = (uint64_t)cli_int(&a, "--seed", 1, 0, 0x7fffffffL);
  int T = (int)cli_int(&a, "--steps", quick ? 3 : 8, 1, 1000);
  const char *sched = cli_str(&a, "--schedule", "cosine");
  int skind = !strcmp(sched, "cosine") ? QDM_QSCHED_COSINE : !strcmp(sched, "linear") ? QDM_QSCHED_LINEAR : -1;
  if (skind < 0) cli_die(cmd, 2, "--schedule expects cosine or linear, got '%s'", sched);
  double p1 = cli_double(&a, "--p1", 0.05, 0, 1), pT = cli_double(&a, "--pT", 1, 0, 1);
  int nanc = (int)cli_int(&a, "--ancillas", 1, 1, 4);
  int layers = (int)cli_int(&a, "--layers", quick ? 2 : 4, 0, 100);
  const char *ansatz = cli_str(&a, "--ansatz", "builtin");
  const char *train = cli_str(&a, "--train", "chain");
  int tmode = !strcmp(train, "chain") ? QDM_QTRAIN_CHAIN : !strcmp(train, "step") ? QDM_QTRAIN_STEP : -1;
  if (tmode < 0) cli_die(cmd, 2, "--train expects chain or step, got '%s'", train);
  const char *loss = cli_str(&a, "--loss", "fidelity");
  int lkind = !strcmp(loss, "fidelity") ? QDM_QLOSS_FIDELITY : !strcmp(loss, "trace") ? QDM_QLOSS_TRACE : -1;
  if (lkind < 0) cli_die(cmd, 2, "--loss expects fidelity or trace, got '%s'", loss);
  if (lkind == QDM_QLOSS_TRACE && tmode == QDM_QTRAIN_STEP) cli_die(cmd, 2, "--loss trace needs --train chain");
  int iters = (int)cli_int(&a, "--iters", quick ? 20 : 300, 0, 1000000);
  double lr = cli_double(&a, "--lr", 0.05, 1e-9, 10), init = cli_double(&a, "--init", 0.1, 0, 10);
  const char *out = cli_str(&a, "--out", "qstate-out");
  int threads = (int)cli_int(&a, "--threads", 1, 1, 256);
  cli_done(&a);
  qdm_set_threads(threads);
  openblas_set_num_threads(threads);
  qdm_circuit *cu = NULL, *ca = NULL;
  if (strcmp(ansatz, "builtin")) {
    qdm_ansatz_opts ao = {QDM_INIT_NONE, 1};
    cu = qdm_circuit_new(to.n);
    ca = qdm_circuit_new(to.n + nanc);
    if (!cu || !ca) cli_die(cmd, 1, "out of memory");
    if (qdm_ansatz_build(cu, ansatz, layers, 0, &ao) < 0 || qdm_ansatz_build(ca, ansatz, layers, 0, &ao) < 0)
      cli_die(cmd, 2, "--ansatz: %s", qdm_errmsg());
  }

  int d = 1 << to.n;
  qdm_cplx *psi = malloc((size_t)to.K * d * sizeof *psi);
  double *img = digits ? malloc((size_t)to.K * 64 * sizeof *img) : NULL;
  double *buf = calloc(8 * (T + 1) + 2 * (size_t)iters + 1, sizeof *buf);
  if (!psi || !buf || (digits && !img)) cli_die(cmd, 1, "out of memory");
  char src[4200];
  if (make_targets(&to, psi, img, src, sizeof src)) cli_die(cmd, 1, "%s", qdm_errmsg());
  double *p = buf, *alpha = p + T + 1, *ffid = alpha + T + 1, *fpur = ffid + T + 1;
  double *loss0 = buf + 8 * (T + 1);
  run_result ru = {buf + 4 * (T + 1), buf + 5 * (T + 1), loss0, 0, 0};
  run_result ra = {buf + 6 * (T + 1), buf + 7 * (T + 1), loss0 + iters, 0, 0};
  if (qdm_qdiff_schedule(T, skind, p1, pT, p, alpha)) cli_die(cmd, 2, "%s", qdm_errmsg());
  forward_curve(to.n, T, alpha, psi, to.K, ffid, fpur);

  /* the best any single state can do: the top eigenvalue of S = mean psi psi^dag */
  qdm_cplx *S = calloc((size_t)d * d, sizeof *S);
  double *w = malloc(d * sizeof *w), bound = 0;
  if (!S || !w) cli_die(cmd, 1, "out of memory");
  for (int k = 0; k < to.K; k++) {
    double dF = 1.0 / to.K;
    qdm_dm_fidelity_pure_backward(psi + (size_t)k * d, 0, d, 1, &dF, S);
  }
  if (!qdm_dm_eigh(S, d, w, NULL)) bound = w[d - 1];
  free(S);
  free(w);

  if (!quiet)
    fprintf(stderr, "qstate: %s (%s), %d states on %d qubits, T = %d, %d ancilla(s), %d layers, %s training\n",
            to.target, src, to.K, to.n, T, nanc, layers, train);
  qdm_qdiff mu, ma;
  if (qdm_qdiff_init(&mu, to.n, 0, T, layers, cu, p, init, to.seed) ||
      qdm_qdiff_init(&ma, to.n, nanc, T, layers, ca, p, init, to.seed + 1))
    cli_die(cmd, 1, "%s", qdm_errmsg());
  qdm_circuit_free(cu);
  qdm_circuit_free(ca);
  qdm_qdiff_opts o = {iters, lr, tmode, lkind, !quiet, "unitary"};
  double t0 = now_s();
  if (train_one(&mu, psi, to.K, &o, &ru)) cli_die(cmd, 1, "%s", qdm_errmsg());
  o.tag = "ancilla";
  if (train_one(&ma, psi, to.K, &o, &ra)) cli_die(cmd, 1, "%s", qdm_errmsg());
  double secs = now_s() - t0;
  if (!nopng && write_pictures(out, to.target, T, iters, ffid, fpur, &ru, &ra, img, &mu, &ma, to.K, to.seed))
    cli_die(cmd, 1, "%s", qdm_errmsg());

  if (json) {
    qdm_json j;
    qdm_json_init(&j, stdout, 1);
    qdm_json_obj(&j);
    qdm_json_kv_str(&j, "target", to.target);
    qdm_json_kv_str(&j, "source", src);
    qdm_json_kv_int(&j, "qubits", to.n);
    qdm_json_kv_int(&j, "members", to.K);
    qdm_json_kv_int(&j, "steps", T);
    qdm_json_kv_str(&j, "schedule", sched);
    qdm_json_kv_int(&j, "ancillas", nanc);
    qdm_json_kv_int(&j, "layers", layers);
    qdm_json_kv_str(&j, "ansatz", ansatz);
    qdm_json_kv_int(&j, "params_per_step_unitary", mu.np);
    qdm_json_kv_int(&j, "params_per_step_ancilla", ma.np);
    qdm_json_kv_str(&j, "train", train);
    qdm_json_kv_str(&j, "loss", loss);
    qdm_json_kv_int(&j, "iters", iters);
    qdm_json_kv_num(&j, "alpha_T", alpha[T]);
    qdm_json_kv_num(&j, "fidelity_start", ra.fid[T]);
    qdm_json_kv_num(&j, "fidelity_unitary", ru.fid[0]);
    qdm_json_kv_num(&j, "fidelity_ancilla", ra.fid[0]);
    qdm_json_kv_num(&j, "fidelity_bound", bound);
    qdm_json_kv_num(&j, "purity_start", ra.pur[T]);
    qdm_json_kv_num(&j, "purity_unitary", ru.pur[0]);
    qdm_json_kv_num(&j, "purity_ancilla", ra.pur[0]);
    qdm_json_kv_num(&j, "loss_unitary", ru.final_loss);
    qdm_json_kv_num(&j, "loss_ancilla", ra.final_loss);
    qdm_json_key(&j, "curves");
    qdm_json_obj(&j);
    qdm_json_kv_nums(&j, "forward_fidelity", ffid, T + 1);
    qdm_json_kv_nums(&j, "forward_purity", fpur, T + 1);
    qdm_json_kv_nums(&j, "unitary_fidelity", ru.fid, T + 1);
    qdm_json_kv_nums(&j, "unitary_purity", ru.pur, T + 1);
    qdm_json_kv_nums(&j, "ancilla_fidelity", ra.fid, T + 1);
    qdm_json_kv_nums(&j, "ancilla_purity", ra.pur, T + 1);
    qdm_json_obj_end(&j);
    qdm_json_kv_str(&j, "out", nopng ? "" : out);
    qdm_json_kv_num(&j, "seconds_unitary", ru.secs);
    qdm_json_kv_num(&j, "seconds_ancilla", ra.secs);
    qdm_json_kv_num(&j, "seconds", secs);
    qdm_json_obj_end(&j);
    qdm_json_end(&j);
  } else {
    printf("mean fidelity to the %d target states, reverse process started from I/d (t = %d):\n", to.K, T);
    printf("  %-26s %10s %10s\n", "", "fidelity", "purity");
    printf("  %-26s %10.4f %10.4f\n", "start I/d", ra.fid[T], ra.pur[T]);
    printf("  %-26s %10.4f %10.4f\n", "unitary steps (eq. 11)", ru.fid[0], ru.pur[0]);
    printf("  %-26s %10.4f %10.4f\n", "system + ancilla steps", ra.fid[0], ra.pur[0]);
    printf("  %-26s %10.4f\n", "bound (top eigenvalue)", bound);
    printf("  t   fwd-fid  fwd-pur  uni-fid  uni-pur  anc-fid  anc-pur\n");
    for (int t = 0; t <= T; t++)
      printf("  %-3d %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f\n", t, ffid[t], fpur[t], ru.fid[t], ru.pur[t], ra.fid[t],
             ra.pur[t]);
    if (!nopng) printf("pictures in %s/ (%.1f s)\n", out, secs);
  }
  qdm_qdiff_free(&mu);
  qdm_qdiff_free(&ma);
  free(psi);
  free(img);
  free(buf);
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
