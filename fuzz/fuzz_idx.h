/* fuzz_idx.h -- both IDX readers on one file, for fuzz_idx and fuzz_idx_gz. */
#ifndef QDM_FUZZ_IDX_H
#define QDM_FUZZ_IDX_H
#include "fuzz_file.h"
#include "qdm/data.h"

/* The file at `path` holds the IDX bytes raw[0..nraw) (gzip-compressed or
 * not; raw NULL: unknown): a successful read returns exactly the payload
 * after the header. */
static inline void fuzz_idx_both(const char *path, const uint8_t *raw, size_t nraw) {
  uint8_t *pix = NULL, *lab = NULL;
  int n = -1, h = -1, w = -1;
  int rc = qdm_idx_read_images(path, &pix, &n, &h, &w);
  fuzz_check_msg(rc, path);
  if (rc == QDM_OK) {
    size_t bytes = (size_t)n * h * w;
    if (n < 0 || h < 1 || w < 1 || !pix) abort();
    if (raw && (nraw != 16 + bytes || memcmp(pix, raw + 16, bytes))) abort();
  }
  free(pix);
  rc = qdm_idx_read_labels(path, &lab, &n);
  fuzz_check_msg(rc, path);
  if (rc == QDM_OK) {
    if (n < 0 || !lab) abort();
    if (raw && (nraw != 8 + (size_t)n || memcmp(lab, raw + 8, (size_t)n))) abort();
  }
  free(lab);
}
#endif
