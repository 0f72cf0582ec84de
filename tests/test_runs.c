/* test_runs.c -- runs that cannot destroy or mix work (README, "What qdm
 * guarantees"), tried as a user would: the qdm binary next to this test,
 * killed with SIGKILL at random moments and in the middle of checkpoint
 * writes, then resumed, ends bit for bit where an uninterrupted run ends;
 * a run directory is never replaced silently nor written by two processes;
 * a resume with other settings is refused naming the flag; a run that fails
 * early leaves nothing; a full disk and a file-size limit fail the write
 * naming the file and leave the previous checkpoint as it was; a loss that
 * turns NaN stops the run naming the epoch and batch. The reference every
 * time is another run of qdm itself (uninterrupted) or the file's bytes
 * before the failure. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "check.h"
#include "qdm/data.h"
#include "qdm/io.h"
#include "qdm/train.h"
#include "qdm_child.h"

static char data_dir[800];

/* A small training run (default preset, 16 random images of two classes)
 * with the full-width classical layers, so a checkpoint is about 20 MB and
 * its write takes long enough to be killed in. */
#define TRAIN_ARGS(out, epochs, extra)                                                                                    \
  (const char *const[]) {                                                                                                 \
    "qdm", "train", "--data", data_dir, "--limit", "16", "--batch", "4", "--epochs", epochs, "--seed", "5", "--threads", \
        "1", "--samples", "1", "--hidden", "128", "--quiet", "--out", out, extra, NULL                                                      \
  }

/* 24 random images of two classes in data/<sub> */
static void write_data_in(const char *sub, uint64_t seed, char *out, size_t len) {
  enum { N = 24 };
  float *img = malloc((size_t)N * 784 * sizeof(float));
  uint8_t lab[N];
  qdm_rng r;
  qdm_rng_seed(&r, seed);
  for (int i = 0; i < N; i++) {
    lab[i] = (uint8_t)(i % 2);
    for (int k = 0; k < 784; k++) img[(size_t)i * 784 + k] = (float)qdm_rng_uniform(&r) * (k % 28 < 14 + 4 * lab[i]);
  }
  snprintf(out, len, "%s/%s", dir, sub);
  qdm_mkdirs(out);
  char p[1200];
  snprintf(p, sizeof p, "%s/train-images-idx3-ubyte", out);
  CHECK(qdm_idx_write_images(p, img, N, 28, 28) == QDM_OK, "write %s", p);
  snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte", out);
  CHECK(qdm_idx_write_labels(p, lab, N) == QDM_OK, "write %s", p);
  free(img);
}

static void write_data(void) { write_data_in("data", 11, data_dir, sizeof data_dir); }

/* ---------------- kill -9 at random moments, then resume ---------------- */

/* Wait until the child's temporary checkpoint exists (it is writing one),
 * or the child is gone, or `limit` seconds pass; 1 if the file was seen. */
static int wait_for_write(pid_t p, const char *run, double limit) {
  char tmp[1300];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path_in(run, "checkpoint.safetensors"), (long)p);
  for (double t0 = now_s(); now_s() - t0 < limit;) {
    if (exists(tmp)) return 1;
    siginfo_t si;
    si.si_pid = 0;
    if (waitid(P_PID, (id_t)p, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == p) return 0;
    struct timespec t = {0, 20000};
    nanosleep(&t, NULL);
  }
  return 0;
}

#define KILL_EPOCHS "8"
#define KILLS 12

/* seconds from spawn until config.json exists (startup), and per epoch
 * (the history's training seconds of the uninterrupted run) */
static void ref_timing(const char *run, double *startup, double *per_epoch) {
  char ef[1200], out[1200];
  snprintf(ef, sizeof ef, "%s/stderr-ref.txt", dir);
  snprintf(out, sizeof out, "%s/%s", dir, run);
  double t0 = now_s();
  pid_t p = spawn(TRAIN_ARGS(out, KILL_EPOCHS, NULL), ef);
  *startup = 0;
  while (!*startup && now_s() - t0 < 60) {
    if (exists(path_in(run, "config.json"))) *startup = now_s() - t0;
    sleep_s(0.001);
  }
  CHECK(reap(p) == 0, "uninterrupted run");
  char buf[64] = "";
  qdm_tensor h = {"history", 2, {atoi(KILL_EPOCHS), 4, 0, 0}, NULL, NULL};
  double hist[64 * 4];
  h.data = hist;
  *per_epoch = 0.1;
  if (qdm_safetensors_read(path_in(run, "checkpoint.safetensors"), &h, 1) == QDM_OK)
    *per_epoch = hist[4 * (atoi(KILL_EPOCHS) - 1) + 3] / atoi(KILL_EPOCHS);
  (void)buf;
}

/* KILLS kills, every other one as soon as a checkpoint write has begun
 * (its temporary file exists), the others at a random moment within about
 * the next epoch and a half (so that the run moves on), each followed by
 * --resume (or a fresh start while there is no checkpoint yet); then the
 * run goes to its end. */
static void test_kill9_resume(void) {
  char run[1200];
  snprintf(run, sizeof run, "%s/killed", dir);
  double startup, per_epoch;
  ref_timing("ref", &startup, &per_epoch);
  qdm_rng r;
  qdm_rng_seed(&r, (uint64_t)time(NULL)); /* random moments: a different set every time the test runs */
  int kills = 0, mid_write = 0, done = 0, tries = 0, epochs = atoi(KILL_EPOCHS);
  char ef[1200];
  snprintf(ef, sizeof ef, "%s/stderr-kill.txt", dir);
  while (!done && tries < 60) {
    tries++;
    int resume = exists(path_in("killed", "checkpoint.safetensors"));
    char ep[64] = "0";
    if (resume) qdm_safetensors_meta(path_in("killed", "checkpoint.safetensors"), "state.epoch", ep, sizeof ep);
    int left = epochs - atoi(ep);
    pid_t p = spawn(TRAIN_ARGS(run, KILL_EPOCHS, resume ? "--resume" : "--force"), ef);
    int in_write = 0;
    if (kills < KILLS) {
      if (kills % 2 && left > 0) in_write = wait_for_write(p, "killed", 30 * (startup + per_epoch) + 5);
      else sleep_s(qdm_rng_uniform(&r) * (startup + 1.5 * per_epoch));
      kill(p, SIGKILL);
    }
    int st = reap(p);
    if (st == 128 + SIGKILL) {
      kills++;
      /* a temporary file left by the kill is the proof it came mid-write */
      if (in_write && count_tmp("killed") > 0) mid_write++;
      if (exists(path_in("killed", "checkpoint.safetensors"))) {
        qdm_train_opts o;
        CHECK(qdm_checkpoint_settings(path_in("killed", "checkpoint.safetensors"), &o) == QDM_OK,
              "after kill %d the checkpoint is whole: %s", kills, qdm_errmsg());
      }
    } else {
      CHECK(st == 0, "run %d ended with status %d", tries, st);
      done = st == 0;
    }
  }
  printf("uninterrupted run: startup %.2f s, %.3f s per epoch; %d kills, %d of them in a checkpoint write\n", startup,
         per_epoch, kills, mid_write);
  CHECK(done && kills >= 10, "%d kills (%d in a checkpoint write), then the run finished", kills, mid_write);
  CHECK(mid_write >= 3, "at least 3 kills landed in a checkpoint write (%d)", mid_write);
  char why[256] = "";
  CHECK(same_file(path_in("ref", "best.safetensors"), path_in("killed", "best.safetensors")),
        "best.safetensors bitwise equal to the uninterrupted run's after %d kills", kills);
  CHECK(same_checkpoint(path_in("ref", "checkpoint.safetensors"), path_in("killed", "checkpoint.safetensors"), why,
                        sizeof why),
        "checkpoint.safetensors equal to the uninterrupted run's (model, Adam moments, history, state): %s", why);
  CHECK(same_metrics(path_in("ref", "metrics.csv"), path_in("killed", "metrics.csv")),
        "metrics.csv equal but for the seconds");
  CHECK(count_tmp("killed") == 0, "no temporary file left behind");
  CHECK(!exists(path_in("killed", "train.lock")), "the lock is gone after the last run");
}

/* ---------------- one run per directory ---------------- */

static void test_existing_run_and_lock(void) {
  char out[900];
  snprintf(out, sizeof out, "%s/ref", dir);
  unsigned char *before;
  long nb = file_bytes(path_in("ref", "best.safetensors"), &before);
  int st = run_qdm(TRAIN_ARGS(out, "2", NULL));
  CHECK(st == 1 && has(errtext, "--resume") && has(errtext, "--force") && has(errtext, out),
        "a second train into a run's directory is refused, offering --resume and --force (status %d): %s", st, errtext);
  unsigned char *after;
  long na = file_bytes(path_in("ref", "best.safetensors"), &after);
  CHECK(nb > 0 && na == nb && !memcmp(before, after, (size_t)nb), "... and best.safetensors is untouched");
  free(before);
  free(after);
  /* the library refuses it too, without flags in its message */
  qdm_train_opts o;
  CHECK(qdm_checkpoint_settings(path_in("ref", "checkpoint.safetensors"), &o) == QDM_OK, "settings");
  snprintf(o.out, sizeof o.out, "%s", out);
  o.quiet = 1;
  CHECK(qdm_train(&o) == QDM_EINVAL && has(qdm_errmsg(), "holds a run") && !has(qdm_errmsg(), "--"),
        "qdm_train refuses it: %s", qdm_errmsg());

  /* two processes on one directory: the second is refused while the first
   * holds the lock; a lock left by a killed process is taken over */
  char lk[1200], ef[1200];
  snprintf(lk, sizeof lk, "%s/locked", dir);
  snprintf(ef, sizeof ef, "%s/stderr-lock.txt", dir);
  pid_t p = spawn(TRAIN_ARGS(lk, "400", NULL), ef);
  for (double t0 = now_s(); !exists(path_in("locked", "train.lock")) && now_s() - t0 < 20;) sleep_s(0.005);
  sleep_s(0.05); /* its pid is in the file */
  st = run_qdm(TRAIN_ARGS(lk, "2", "--force"));
  char pid[32];
  snprintf(pid, sizeof pid, "pid %ld", (long)p);
  CHECK(st == 1 && has(errtext, "train.lock") && has(errtext, pid),
        "a second qdm train on a directory in use is refused naming the lock and the holder (%s): %s", pid, errtext);
  kill(p, SIGKILL);
  reap(p);
  CHECK(exists(path_in("locked", "train.lock")), "SIGKILL leaves the lock file behind (a stale lock)");
  const char *args[] = {"qdm", "train", "--data", data_dir, "--limit", "16", "--batch", "4", "--epochs", "1", "--seed",
                        "5", "--threads", "1", "--samples", "1", "--out", lk, "--force", NULL};
  st = run_qdm(args);
  snprintf(pid, sizeof pid, "process %ld", (long)p);
  CHECK(st == 0 && has(errtext, pid) && has(errtext, "gone"), "the stale lock is detected and taken over: %s", errtext);
  CHECK(!exists(path_in("locked", "train.lock")), "and released at the end");
}

/* ---------------- resume: every setting that shapes the model or data ---------------- */

static void test_resume_settings(void) {
  char out[900];
  snprintf(out, sizeof out, "%s/ref", dir);
  const char *a1[] = {"qdm", "train", "--out", out, "--resume", "--ansatz", "hea", NULL};
  int st = run_qdm(a1);
  CHECK(st == 2 && has(errtext, "--ansatz") && has(errtext, "'authors'") && has(errtext, "'hea'"),
        "--resume --ansatz hea: refused naming the flag, its old and new value: %s", errtext);
  const char *a2[] = {"qdm", "train", "--out", out, "--resume", "--data", "/elsewhere", NULL};
  st = run_qdm(a2);
  CHECK(st == 2 && has(errtext, "--data") && has(errtext, data_dir) && has(errtext, "/elsewhere"),
        "--resume --data: refused: %s", errtext);
  const char *a3[] = {"qdm", "train", "--out", out, "--resume", "--schedule", "linear", NULL};
  st = run_qdm(a3);
  CHECK(st == 2 && has(errtext, "--schedule") && has(errtext, "'cosine'"), "--resume --schedule: refused: %s", errtext);
  const char *a4[] = {"qdm", "train", "--out", out, "--resume", "--target", "eps", NULL};
  st = run_qdm(a4);
  CHECK(st == 2 && has(errtext, "--target") && has(errtext, "'x0'"), "--resume --target: refused: %s", errtext);
  const char *a5[] = {"qdm", "train", "--out", out, "--resume", "--limit", "8", NULL};
  st = run_qdm(a5);
  CHECK(st == 2 && has(errtext, "--limit") && has(errtext, "'16'"), "--resume --limit: refused: %s", errtext);
  /* --help lists, under --resume, every setting the table lets change */
  char hf[1200], cmd[5400];
  snprintf(hf, sizeof hf, "%s/help.txt", dir);
  snprintf(cmd, sizeof cmd, "'%s' train --help > '%s'", qdm_bin, hf);
  CHECK(system(cmd) == 0, "train --help");
  unsigned char *h;
  long nh = file_bytes(hf, &h);
  char *help = nh > 0 ? (char *)realloc(h, (size_t)nh + 1) : NULL, *para = NULL;
  if (help) help[nh] = 0;
  if (help && (para = strstr(help, "  --resume")) && strstr(para, "  --force")) *strstr(para, "  --force") = 0;
  const char *key;
  int chg, listed = 1;
  for (int i = 0; qdm_train_setting(i, &key, &chg); i++)
    if (chg) {
      char f[64];
      snprintf(f, sizeof f, "--%s", !strcmp(key, "samples_per_class") ? "samples" : key);
      for (char *c = f; *c; c++) *c = *c == '_' ? '-' : *c;
      if (!has(para, f)) listed = 0;
    }
  CHECK(para && listed && has(para, "--threads") && has(para, "--quiet") && !has(para, "--ansatz"),
        "--help lists the settings that may change on --resume: %s", para ? para : "(none)");
  free(help);
  /* those may change: 3 more epochs with another learning rate */
  const char *a7[] = {"qdm", "train", "--out", out, "--resume", "--epochs", "9", "--lr", "5e-4", "--quiet", NULL};
  CHECK(run_qdm(a7) == 0, "--resume --epochs 9 --lr 5e-4 runs: %s", errtext);
  /* the same --data with other images in it (the files replaced): the
   * checkpoint's fingerprint of its training images tells */
  char d2[900], o2[900];
  write_data_in("data-b", 21, d2, sizeof d2);
  snprintf(o2, sizeof o2, "%s/changed", dir);
  const char *a8[] = {"qdm", "train", "--data", d2, "--limit", "16", "--epochs", "1", "--hidden", "16", "--quiet",
                      "--out", o2, NULL};
  CHECK(run_qdm(a8) == 0, "a run on data-b: %s", errtext);
  write_data_in("data-b", 22, d2, sizeof d2);
  const char *a9[] = {"qdm", "train", "--out", o2, "--resume", "--epochs", "2", NULL};
  st = run_qdm(a9);
  CHECK(st == 1 && has(errtext, "not the ones it was trained on") && has(errtext, d2),
        "--resume after the data files changed: refused: %s", errtext);
  /* the library: the message names the setting, not a flag */
  qdm_train_opts o;
  qdm_checkpoint_settings(path_in("ref", "checkpoint.safetensors"), &o);
  snprintf(o.out, sizeof o.out, "%s", out);
  o.resume = 1;
  o.quiet = 1;
  o.model.hidden = 64;
  CHECK(qdm_train(&o) == QDM_EINVAL && has(qdm_errmsg(), "setting hidden") && has(qdm_errmsg(), "'128'"),
        "qdm_train on resume with another width: %s", qdm_errmsg());
}

/* ---------------- a run that fails early leaves nothing ---------------- */

static void test_early_failure_leaves_nothing(void) {
  char top[900], out[1000];
  snprintf(top, sizeof top, "%s/fresh", dir);
  snprintf(out, sizeof out, "%s/a/b", top);
  const char *args[] = {"qdm", "train", "--data", dir, "--out", out, "--quiet", NULL}; /* dir has no IDX files */
  int st = run_qdm(args);
  CHECK(st == 1 && has(errtext, "train-images"), "missing data: %s", errtext);
  CHECK(!exists(top), "no directory left behind (%s)", top);
  /* a directory that was there stays, emptied of what the run wrote */
  qdm_mkdirs(out);
  st = run_qdm(args);
  CHECK(st == 1 && exists(out), "an existing directory is kept");
  char p[1400];
  snprintf(p, sizeof p, "%s/config.json", out);
  CHECK(!exists(p) && !exists(path_in("fresh/a/b", "train.lock")), "... without config.json or the lock");
  /* a failure after the directory was made and config.json written: the
   * first epoch's best.safetensors does not fit under a file-size limit */
  char late[1000], ef[1100];
  snprintf(late, sizeof late, "%s/late/x/y", dir);
  snprintf(ef, sizeof ef, "%s/stderr-late.txt", dir);
  const char *a2[] = {"qdm", "train", "--data", data_dir, "--limit", "8", "--batch", "4", "--epochs", "1", "--quiet",
                      "--out", late, NULL};
  pid_t pid = fork();
  if (pid == 0) {
    struct rlimit rl = {65536, 65536}; /* config.json fits, the model does not */
    setrlimit(RLIMIT_FSIZE, &rl);
    int fd = open(ef, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) dup2(fd, 2);
    execv(qdm_bin, (char *const *)a2);
    _exit(127);
  }
  st = reap(pid);
  snprintf(p, sizeof p, "%s/late", dir);
  CHECK(st == 1 && !exists(p), "a run that fails writing its first epoch (status %d) leaves no directory (%s)", st, p);
}

/* ---------------- a loss that turns NaN ---------------- */

static void test_nonfinite_loss(void) {
  char out[900];
  snprintf(out, sizeof out, "%s/nan", dir);
  qdm_train_opts o;
  qdm_train_preset(&o, "default");
  snprintf(o.data, sizeof o.data, "%s", data_dir);
  snprintf(o.out, sizeof o.out, "%s", out);
  o.limit = 16;
  o.batch = 4;
  o.epochs = 1;
  o.model.hidden = 32;
  o.quiet = 1;
  CHECK(qdm_train(&o) == QDM_OK, "one good epoch: %s", qdm_errmsg());
  unsigned char *before;
  long nb = file_bytes(path_in("nan", "checkpoint.safetensors"), &before);
  /* a learning rate of 1e300 throws the weights to 1e300 in one Adam step:
   * the next forward overflows to Inf and NaN */
  o.resume = 1;
  o.epochs = 3;
  o.lr = 1e300;
  int err = qdm_train(&o);
  CHECK(err == QDM_EINVAL && has(qdm_errmsg(), "epoch 2, batch 2 of") &&
            (has(qdm_errmsg(), "nan") || has(qdm_errmsg(), "inf") || has(qdm_errmsg(), "not finite")) &&
            has(qdm_errmsg(), "checkpoint.safetensors keeps"),
        "the run stops naming the epoch and batch: %s", qdm_errmsg());
  unsigned char *after;
  long na = file_bytes(path_in("nan", "checkpoint.safetensors"), &after);
  CHECK(nb > 0 && na == nb && !memcmp(before, after, (size_t)nb), "the last good checkpoint is kept byte for byte");
  free(before);
  free(after);
  CHECK(count_tmp("nan") == 0 && !exists(path_in("nan", "train.lock")), "nothing else left behind");
}

/* ---------------- a full disk, a file-size limit ---------------- */

/* In a child: a file-size limit of `limit` bytes (ulimit -f), then qdm
 * train --resume for one more epoch, whose checkpoint does not fit. */
static void test_file_size_limit(void) {
  char out[1200], ef[1200];
  snprintf(out, sizeof out, "%s/nan", dir); /* the 1-epoch run above, kept intact */
  snprintf(ef, sizeof ef, "%s/stderr-fsize.txt", dir);
  unsigned char *before;
  long nb = file_bytes(path_in("nan", "checkpoint.safetensors"), &before);
  const char *args[] = {"qdm", "train", "--out", out, "--resume", "--epochs", "2", "--lr", "1e-3", "--quiet", NULL};
  pid_t p = fork();
  if (p == 0) {
    struct rlimit rl = {(rlim_t)(nb / 2), (rlim_t)(nb / 2)};
    setrlimit(RLIMIT_FSIZE, &rl);
    int fd = open(ef, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) dup2(fd, 2);
    execv(qdm_bin, (char *const *)args);
    _exit(127);
  }
  int st = reap(p);
  FILE *f = fopen(ef, "r");
  size_t n = f ? fread(errtext, 1, sizeof errtext - 1, f) : 0;
  errtext[n] = 0;
  if (f) fclose(f);
  CHECK(st == 1 && has(errtext, "cannot write") && has(errtext, ".safetensors") && has(errtext, strerror(EFBIG)),
        "a file-size limit: status %d, the file and the reason named: %s", st, errtext);
  unsigned char *after;
  long na = file_bytes(path_in("nan", "checkpoint.safetensors"), &after);
  CHECK(na == nb && !memcmp(before, after, (size_t)nb), "the previous checkpoint is intact");
  CHECK(count_tmp("nan") == 0, "no temporary file left");
  free(before);
  free(after);
}

/* In a child with its own mount namespace (and, unless root, its own user
 * namespace): a tmpfs holding a copy of the 1-epoch run with room for a new
 * best.safetensors but not for a new checkpoint beside the old one (about
 * three times the model's size: weights and Adam's two moments), resumed
 * for one more epoch. */
static int copy_file(const char *from, const char *to) {
  unsigned char *b;
  long n = file_bytes(from, &b);
  FILE *f = n >= 0 ? fopen(to, "wb") : NULL;
  int ok = f && fwrite(b, 1, (size_t)n, f) == (size_t)n;
  if (f) ok &= fclose(f) == 0;
  free(b);
  return ok;
}

static void test_disk_full(void) {
  char mnt[1200], ef[1200], res[1200];
  snprintf(mnt, sizeof mnt, "%s/small-disk", dir);
  snprintf(ef, sizeof ef, "%s/stderr-full.txt", dir);
  snprintf(res, sizeof res, "%s/full-result.txt", dir);
  qdm_mkdirs(mnt);
  unlink(res);
  const char *files[] = {"checkpoint.safetensors", "best.safetensors", "config.json", "metrics.csv", NULL};
  struct stat sb;
  long total = 0, best = stat(path_in("nan", "best.safetensors"), &sb) == 0 ? (long)sb.st_size : 0;
  for (int i = 0; files[i]; i++) total += stat(path_in("nan", files[i]), &sb) == 0 ? (long)sb.st_size : 0;
  char size[64];
  snprintf(size, sizeof size, "size=%ldk", (total + best + 256 * 1024) / 1024);
  pid_t p = fork();
  if (p == 0) {
    uid_t uid = getuid();
    gid_t gid = getgid();
    int ok = unshare(uid == 0 ? CLONE_NEWNS : CLONE_NEWUSER | CLONE_NEWNS) == 0;
    if (ok && uid != 0) { /* be root in the new user namespace, to mount */
      char m[64];
      FILE *f = fopen("/proc/self/setgroups", "w");
      if (f) fputs("deny", f), fclose(f);
      snprintf(m, sizeof m, "0 %d 1", (int)uid);
      ok = (f = fopen("/proc/self/uid_map", "w")) && fputs(m, f) >= 0 && fclose(f) == 0;
      snprintf(m, sizeof m, "0 %d 1", (int)gid);
      ok = ok && (f = fopen("/proc/self/gid_map", "w")) && fputs(m, f) >= 0 && fclose(f) == 0;
    }
    ok = ok && mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
    ok = ok && mount("qdm-test", mnt, "tmpfs", 0, size) == 0;
    if (!ok) _exit(77); /* no namespaces here: skipped */
    char run[1300];
    snprintf(run, sizeof run, "%s/run", mnt);
    mkdir(run, 0755);
    for (int i = 0; files[i]; i++) {
      char to[1500];
      snprintf(to, sizeof to, "%s/%s", run, files[i]);
      if (!copy_file(path_in("nan", files[i]), to)) _exit(78);
    }
    const char *args[] = {"qdm", "train", "--out", run, "--resume", "--epochs", "2", "--lr", "1e-3", "--quiet", NULL};
    pid_t q = spawn(args, ef);
    int st = reap(q);
    char ck[1500];
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", run);
    int intact = same_file(ck, path_in("nan", "checkpoint.safetensors"));
    FILE *f = fopen(res, "w");
    if (f) fprintf(f, "%d %d %d\n", st, intact, count_tmp("small-disk/run"));
    if (f) fclose(f);
    _exit(0);
  }
  int st = reap(p);
  if (st == 77 || st == 78) {
    printf("test_disk_full: skipped (no mount namespace for a small tmpfs here)\n");
    return;
  }
  int qst = -1, intact = 0, tmps = -1;
  FILE *f = fopen(res, "r");
  if (f && fscanf(f, "%d %d %d", &qst, &intact, &tmps) != 3) qst = -1;
  if (f) fclose(f);
  f = fopen(ef, "r");
  size_t n = f ? fread(errtext, 1, sizeof errtext - 1, f) : 0;
  errtext[n] = 0;
  if (f) fclose(f);
  CHECK(qst == 1 && has(errtext, "cannot write") && has(errtext, "/run/") && has(errtext, strerror(ENOSPC)),
        "a full disk: status %d, the file and 'No space left on device' named: %s", qst, errtext);
  CHECK(intact == 1 && tmps == 0, "the previous checkpoint is intact (%d) and no temporary file is left (%d)", intact,
        tmps);
}

int main(int argc, char **argv) {
  (void)argc;
  if (child_setup(argv[0], "runs")) return 1;
  write_data();
  double t0 = now_s();
  test_kill9_resume();
  printf("kill -9 and resume: %.1f s\n", now_s() - t0);
  test_existing_run_and_lock();
  test_resume_settings();
  test_early_failure_leaves_nothing();
  test_nonfinite_loss();
  test_file_size_limit();
  test_disk_full();
  printf("all: %.1f s\n", now_s() - t0);
  return check_done();
}
