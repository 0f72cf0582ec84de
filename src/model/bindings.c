/* bindings.c -- what a language binding needs to hold qdm's option structs
 * without compiling against the headers (the Python package uses ctypes):
 * their sizes, to check a mirrored layout or to allocate opaque memory, and
 * a run's settings by name, the same key/value strings config.json and
 * checkpoints use. */
#include "run.h"

size_t qdm_train_opts_size(void) { return sizeof(qdm_train_opts); }
size_t qdm_sample_opts_size(void) { return sizeof(qdm_sample_opts); }

int qdm_train_opts_get(const qdm_train_opts *o, int i, const char **key, char *val, size_t len) {
  if (!o || !key || !val || len < 1) return 0;
  return qdm__opts_get(o, i, key, val, len);
}
