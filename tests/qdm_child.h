/* qdm_child.h -- tests that run the qdm binary (the one built next to the
 * test) as a child process, as a user would, kill it, and compare what two
 * runs left: spawning and reaping, files and checkpoints compared bitwise
 * (but for the wall-clock seconds). Shared by test_runs and the soak test. */
#ifndef QDM_CHILD_H
#define QDM_CHILD_H
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "qdm/io.h"
#include "qdm/train.h"

static char dir[700], qdm_bin[4096];

static inline int has(const char *s, const char *part) { return s && strstr(s, part) != NULL; }

static inline const char *path_in(const char *run, const char *name) {
  static char b[4][2300];
  static int k;
  k = (k + 1) % 4;
  snprintf(b[k], sizeof b[k], "%s/%s/%s", dir, run, name);
  return b[k];
}

static inline int exists(const char *p) { return access(p, F_OK) == 0; }

static inline long file_bytes(const char *p, unsigned char **out) {
  *out = NULL;
  FILE *f = fopen(p, "rb");
  if (!f) return -1;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  *out = malloc(n > 0 ? (size_t)n : 1);
  if (fread(*out, 1, (size_t)n, f) != (size_t)n) n = -1;
  fclose(f);
  return n;
}

static inline int same_file(const char *a, const char *b) {
  unsigned char *x, *y;
  long na = file_bytes(a, &x), nb = file_bytes(b, &y);
  int same = na >= 0 && na == nb && !memcmp(x, y, (size_t)na);
  free(x);
  free(y);
  return same;
}

/* ---------------- the qdm binary as a child process ---------------- */

/* argv[0] is "qdm"; stderr goes to errfile. Only async-signal-safe calls
 * between fork and exec (the test process may have OpenMP threads). */
static inline pid_t spawn(const char *const *args, const char *errfile) {
  pid_t p = fork();
  if (p == 0) {
    int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644), nul = open("/dev/null", O_WRONLY);
    if (fd >= 0) dup2(fd, 2);
    if (nul >= 0) dup2(nul, 1);
    execv(qdm_bin, (char *const *)args);
    _exit(127);
  }
  return p;
}

/* exit status, or 128 + signal */
static inline int reap(pid_t p) {
  int st;
  while (waitpid(p, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char errtext[8192];
static inline int run_qdm(const char *const *args) {
  char ef[1200];
  snprintf(ef, sizeof ef, "%s/stderr.txt", dir);
  int st = reap(spawn(args, ef));
  FILE *f = fopen(ef, "r");
  size_t n = f ? fread(errtext, 1, sizeof errtext - 1, f) : 0;
  errtext[n] = 0;
  if (f) fclose(f);
  return st;
}

static inline int count_tmp(const char *run) {
  char d[1200];
  snprintf(d, sizeof d, "%s/%s", dir, run);
  DIR *h = opendir(d);
  struct dirent *e;
  int n = 0;
  while (h && (e = readdir(h))) n += strstr(e->d_name, ".tmp.") != NULL;
  if (h) closedir(h);
  return n;
}

/* ---------------- comparing two runs' files ---------------- */

/* every tensor of a resumable checkpoint, bitwise, and every setting and
 * state value; the wall-clock seconds (state.seconds, history column 3)
 * are the only numbers allowed to differ */
static inline int same_checkpoint(const char *a, const char *b, char *why, size_t len) {
  qdm_train_opts o;
  qdm_unet *m = NULL;
  if (qdm_checkpoint_load(a, 1, &o, &m)) return snprintf(why, len, "%s", qdm_errmsg()), 0;
  const char *names[20];
  int nt = 0;
  for (int i = 0; i < qdm_unet_nparams(m) && nt < 16; i++) names[nt++] = qdm_unet_param_at(m, i)->name;
  names[nt++] = "optim.adam_m";
  names[nt++] = "optim.adam_v";
  names[nt++] = "history";
  int same = 1;
  for (int i = 0; i < nt && same; i++) {
    int nd, nd2;
    int64_t sh[4] = {0}, sh2[4] = {0};
    if (qdm_safetensors_shape(a, names[i], &nd, sh) || qdm_safetensors_shape(b, names[i], &nd2, sh2) || nd != nd2 ||
        memcmp(sh, sh2, sizeof sh)) {
      snprintf(why, len, "tensor %s: shapes differ or missing", names[i]);
      same = 0;
      break;
    }
    size_t n = 1;
    for (int d = 0; d < nd; d++) n *= (size_t)sh[d];
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    qdm_tensor tx = {names[i], nd, {sh[0], sh[1], sh[2], sh[3]}, x, NULL}, ty = tx;
    ty.data = y;
    if (qdm_safetensors_read(a, &tx, 1) || qdm_safetensors_read(b, &ty, 1)) same = 0;
    if (!strcmp(names[i], "history"))
      for (size_t k = 3; k < n; k += 4) x[k] = y[k] = 0; /* seconds */
    if (same && memcmp(x, y, n * sizeof *x)) {
      snprintf(why, len, "tensor %s differs", names[i]);
      same = 0;
    }
    free(x);
    free(y);
  }
  const char *state[] = {"state.epoch", "state.batch", "state.loss_sum", "state.inf_sum", "state.loss_n", "state.best",
                         "state.adam_t", "state.rng", "state.rng_epoch", "lr", "seed", "epochs", NULL};
  for (int i = 0; same && state[i]; i++) {
    char va[200], vb[200];
    if (qdm_safetensors_meta(a, state[i], va, sizeof va) || qdm_safetensors_meta(b, state[i], vb, sizeof vb) ||
        strcmp(va, vb)) {
      snprintf(why, len, "metadata %s differs", state[i]);
      same = 0;
    }
  }
  qdm_unet_free(m);
  return same;
}

/* metrics.csv without its seconds column */
static inline int same_metrics(const char *a, const char *b) {
  FILE *f = fopen(a, "r"), *g = fopen(b, "r");
  char la[512], lb[512];
  int same = f && g, lines = 0;
  while (same) {
    char *ra = fgets(la, sizeof la, f), *rb = fgets(lb, sizeof lb, g);
    if (!ra || !rb) {
      same = !ra && !rb;
      break;
    }
    char *ca = strrchr(la, ','), *cb = strrchr(lb, ',');
    if (ca) *ca = 0;
    if (cb) *cb = 0;
    same = !strcmp(la, lb);
    lines++;
  }
  if (f) fclose(f);
  if (g) fclose(g);
  return same && lines > 1;
}

static inline double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static inline void sleep_s(double s) {
  struct timespec t = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
  while (nanosleep(&t, &t) < 0 && errno == EINTR) {
  }
}

/* qdm_bin = the qdm next to this executable; dir = $QDM_TEST_DIR/<sub>-<pid>
 * (or /tmp/...). 0 on success. */
static inline int child_setup(const char *argv0, const char *sub) {
  ssize_t n = readlink("/proc/self/exe", qdm_bin, sizeof qdm_bin - 8);
  if (n <= 0) return 1;
  qdm_bin[n] = 0;
  char *s = strrchr(qdm_bin, '/');
  if (!s) return 1;
  strcpy(s + 1, "qdm");
  if (access(qdm_bin, X_OK)) {
    fprintf(stderr, "%s: no qdm binary at %s\n", argv0, qdm_bin);
    return 1;
  }
  const char *base = getenv("QDM_TEST_DIR");
  snprintf(dir, sizeof dir, "%s/%s-%d", base ? base : "/tmp", sub, (int)getpid());
  return qdm_mkdirs(dir) ? 1 : 0;
}
#endif
