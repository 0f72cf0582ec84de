/* trainutil.h -- pieces shared by training and sampling runs: settings as
 * key/value metadata, checkpoints, schedules, data rows. */
#ifndef QDM_TRAINUTIL_H
#define QDM_TRAINUTIL_H
#include "qdm/data.h"
#include "qdm/io.h"
#include "qdm/train.h"

/* the resumable part of a run */
typedef struct {
  int epoch, batch;       /* next epoch and batch to run */
  qdm_rng rng, rng_epoch; /* generator now, and at the start of the epoch */
  double loss_sum, inf_sum;
  long loss_n;
  double best, seconds;
} tu_state;

int tu_schedule(qdm_schedule *s, const char *name, int T, double b0, double b1);
void tu_images_to_x0(const qdm_dataset *d, const int *idx, int n, double scale, double *x0);
size_t tu_params_count(qdm_unet *m);
void tu_params_get(qdm_unet *m, double *dst);
void tu_params_set(qdm_unet *m, const double *src);
/* settings <-> strings */
int tu_opts_set(qdm_train_opts *o, const char *key, const char *val);
/* JSON object of every setting */
void tu_opts_json(qdm_json *j, const qdm_train_opts *o);
/* Checkpoint: model tensors, optimiser moments, EMA, history, and every
 * setting and the state as metadata. st/opt/ema/hist may be NULL (best). */
int tu_save(const char *path, qdm_unet *m, const qdm_train_opts *o, const tu_state *st, const qdm_adam *opt,
            const double *ema, const double *hist, int nhist);
/* Settings stored in a checkpoint. */
int tu_load_opts(const char *path, qdm_train_opts *o);
/* Model parameters (and, if non-NULL, the rest) from a checkpoint. */
int tu_load(const char *path, qdm_unet *m, tu_state *st, qdm_adam *opt, double *ema, double *hist, int *nhist,
            int maxhist);
#endif
