/* fuzz_checkpoint.c -- the model checkpoint readers on the input as a file:
 * qdm_checkpoint_load (settings, then the model they describe, then its
 * weights: the path of qdm sample) and, when that succeeds, the resume path
 * of qdm train --resume (optimiser moments, EMA, history, run state).
 * A model's memory is what its settings describe (the library bounds them
 * and checks the file holds every tensor before building); the harness
 * skips settings whose model needs more than MODEL_BYTES, so that the
 * memory limit catches allocations the file does not justify. */
#include "fuzz_file.h"
#include "model/run.h"
#include "qdm/model.h"
#include "qdm/train.h"

#define MODEL_BYTES ((size_t)64 << 20)
#define MAXHIST 64 /* history rows the resume buffer holds */

static void resume(const char *path, const qdm_train_opts *o) {
  qdm__run R;
  memset(&R, 0, sizeof R);
  R.o = *o;
  if (R.o.ema == 0) R.o.ema = 0.5; /* the EMA tensor is read too */
  R.o.epochs = MAXHIST - 1;
  double *hist = calloc(4 * MAXHIST, sizeof *hist);
  int rc = qdm__run_model(&R, 1);
  if (!rc) rc = qdm__run_optimizer(&R);
  if (rc) abort(); /* the same model qdm_checkpoint_load just built */
  int nhist = -1;
  rc = qdm__ckpt_load(path, R.m, &R.st, &R.opt, R.ema, hist, &nhist, MAXHIST);
  fuzz_check_msg(rc, path);
  if (rc == QDM_OK && (R.st.epoch < 0 || R.st.batch < 0 || nhist != R.st.epoch || nhist > MAXHIST)) abort();
  free(hist);
  qdm__run_free(&R);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(data, size);
  qdm_train_opts o;
  int rc = qdm__ckpt_load_opts(path, &o);
  fuzz_check_msg(rc, path);
  if (rc || qdm_unet_bytes(&o.model, 64) > MODEL_BYTES) return 0;
  qdm_unet *m = NULL;
  rc = qdm_checkpoint_load(path, 1, &o, &m);
  fuzz_check_msg(rc, path);
  if (rc) {
    if (m) abort();
    return 0;
  }
  qdm_unet_free(m);
  resume(path, &o);
  return 0;
}
