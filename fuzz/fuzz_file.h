/* fuzz_file.h -- what every harness of fuzz/ shares. The readers under test
 * take paths, so the input goes into an anonymous in-memory file (memfd)
 * that the reader opens by its /proc/self/fd name: the public code path,
 * fopen/gzopen included, with no disk traffic per input. And the property
 * every reader must keep on bad input: a status code, and a one-line
 * message that names the file. */
#ifndef QDM_FUZZ_FILE_H
#define QDM_FUZZ_FILE_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "qdm/qsim.h"

/* The path of a memfd holding exactly data[0..n). */
static inline const char *fuzz_file(const uint8_t *data, size_t n) {
  static int fd = -1;
  static char path[64];
  if (fd < 0) {
    fd = memfd_create("qdm-fuzz", 0);
    if (fd < 0) {
      perror("memfd_create");
      abort();
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  }
  if (ftruncate(fd, 0) != 0 || (n && pwrite(fd, data, n, 0) != (ssize_t)n)) {
    perror("memfd write");
    abort();
  }
  return path;
}

/* `name` as a message shows it: control bytes as '?' (a message is one
 * line), and only its first 64 bytes, since a message has a bounded length. */
static inline int fuzz_names(const char *m, const char *name) {
  char shown[65];
  size_t k = strnlen(name, sizeof shown - 1);
  for (size_t i = 0; i < k; i++) {
    unsigned char c = (unsigned char)name[i];
    shown[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
  }
  shown[k] = 0;
  return strstr(m, shown) != NULL;
}

/* A failed read must say what was wrong in one line naming `name` (the
 * file's path, or a name from the input; NULL: no name to check). A
 * violation is a finding. */
static inline void fuzz_check_msg(int rc, const char *name) {
  if (rc == QDM_OK) return;
  const char *m = qdm_errmsg();
  if (rc != QDM_EFORMAT && rc != QDM_EIO && rc != QDM_ENOMEM && rc != QDM_EINVAL) {
    fprintf(stderr, "unexpected status %d: %s\n", rc, m);
    abort();
  }
  if (!*m || strchr(m, '\n') || (name && !fuzz_names(m, name))) {
    fprintf(stderr, "status %d with a message that is empty, spans lines or does not name %s: '%s'\n", rc,
            name ? name : "the file", m);
    abort();
  }
}
#endif
