/* fuzz_idx_gz.c -- the IDX readers behind a valid gzip stream: the input is
 * the uncompressed IDX file, compressed here (as scripts/setup.sh's files
 * are), so mutations reach the header and payload checks of the gzip path. */
#include <zlib.h>
#include "fuzz_idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort(); /* +16: gzip wrapper */
  uLong cap = deflateBound(&z, (uLong)size);
  uint8_t *gz = malloc(cap);
  z.next_in = (Bytef *)data;
  z.avail_in = (uInt)size;
  z.next_out = gz;
  z.avail_out = (uInt)cap;
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
  size_t n = z.total_out;
  deflateEnd(&z);
  fuzz_idx_both(fuzz_file(gz, n), data, size);
  free(gz);
  return 0;
}
