/* fuzz_idx.c -- the IDX readers (qdm_idx_read_images, qdm_idx_read_labels)
 * on the input as a file: plain IDX, or gzip (zlib's gzopen reads both, so
 * damaged gzip streams come through here too; fuzz_idx_gz compresses the
 * input first to reach the IDX parsing behind a valid stream). A success
 * must describe exactly the bytes in the file. */
#include "fuzz_idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b; /* what gzopen takes for gzip */
  fuzz_idx_both(fuzz_file(data, size), gz ? NULL : data, size);
  return 0;
}
