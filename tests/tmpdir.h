/* tmpdir.h -- a scratch directory for tests that write files:
 * $QDM_TEST_DIR/<sub> when CTest sets it, else a fresh mkdtemp directory. */
#ifndef QDM_TMPDIR_H
#define QDM_TMPDIR_H
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "qdm/io.h"

static char dir[4096];

static void setup_dir_named(const char *sub) {
  const char *base = getenv("QDM_TEST_DIR");
  if (base && *base) {
    snprintf(dir, sizeof dir, "%s/%s", base, sub);
    if (qdm_mkdirs(dir)) { fprintf(stderr, "%s\n", qdm_errmsg()); exit(1); }
  } else {
    snprintf(dir, sizeof dir, "/tmp/qdm_test_%s.XXXXXX", sub);
    if (!mkdtemp(dir)) { perror("mkdtemp"); exit(1); }
  }
}

/* dir/name, from a small ring of buffers so a few can be alive at once */
static const char *tpath(const char *name) {
  static char b[4][4400];
  static int k;
  k = (k + 1) % 4;
  snprintf(b[k], sizeof b[k], "%s/%s", dir, name);
  return b[k];
}
#endif
