/* unet.h -- what the model's loaders (checkpoint.c) need from unet.c
 * beyond the public API. */
#ifndef QDM_MODEL_UNET_H
#define QDM_MODEL_UNET_H
#include "qdm/io.h"
#include "qdm/model.h"

/* The names and shapes of the parameter tensors qdm_unet_new(cfg) makes,
 * in checkpoint order, into t[0..15] (data NULL), without allocating:
 * their count, or -1 for an invalid cfg (message set). A loader checks a
 * file holds them (qdm_safetensors_check) before building the model. */
int qdm__unet_tensors(const qdm_unet_cfg *cfg, qdm_tensor *t);
#endif
