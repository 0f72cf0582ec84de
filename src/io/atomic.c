/* atomic.c -- files that appear whole or not at all. A writer fills
 * "<path>.tmp.<pid>" in the same directory (so rename(2) stays within one
 * file system and is atomic), fsyncs it, then renames it over the target; a
 * crash or an error in between leaves the old file untouched. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include "qdm/io.h"
#include "qdm/core.h"

int qdm_atomic_open(qdm_atomic *a, const char *path) {
  if (!a) return qdm_fail(QDM_EINVAL, "qdm_atomic_open: a is NULL");
  a->f = NULL;
  a->path[0] = a->tmp[0] = 0;
  if (!path || !*path) return qdm_fail(QDM_EINVAL, "qdm_atomic_open: path is empty (expected a file name)");
  size_t n = strlen(path);
  if (n >= sizeof a->path - 32)
    return qdm_fail(QDM_EINVAL, "qdm_atomic_open: path is %zu characters long (at most %zu)", n,
                    sizeof a->path - 33);
  memcpy(a->path, path, n + 1);
  snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld", path, (long)getpid());
  a->f = fopen(a->tmp, "wb");
  if (!a->f) return qdm_fail(QDM_EIO, "cannot write %s: %s", path, strerror(errno));
  return QDM_OK;
}

void qdm_atomic_abort(qdm_atomic *a) {
  if (!a || !a->f) return;
  fclose(a->f);
  a->f = NULL;
  unlink(a->tmp);
}

/* The directory entry of the rename is durable only once the directory
 * itself is synced; failure here is not an error of the write. */
static void sync_dir(const char *path) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *s = strrchr(dir, '/');
  if (s == dir) s[1] = 0;
  else if (s) *s = 0;
  else strcpy(dir, ".");
  int fd = open(dir, O_RDONLY);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

int qdm_atomic_commit(qdm_atomic *a) {
  if (!a || !a->f) return qdm_fail(QDM_EINVAL, "qdm_atomic_commit: no open atomic file");
  int bad = ferror(a->f) || fflush(a->f) != 0 || fsync(fileno(a->f)) != 0;
  int err = errno;
  if (bad) {
    qdm_atomic_abort(a);
    return qdm_fail(QDM_EIO, "cannot write %s: %s", a->path, strerror(err ? err : EIO));
  }
  if (fclose(a->f) != 0) {
    err = errno;
    a->f = NULL;
    unlink(a->tmp);
    return qdm_fail(QDM_EIO, "cannot write %s: %s", a->path, strerror(err));
  }
  a->f = NULL;
  if (rename(a->tmp, a->path) != 0) {
    err = errno;
    unlink(a->tmp);
    return qdm_fail(QDM_EIO, "cannot rename %s to %s: %s", a->tmp, a->path, strerror(err));
  }
  sync_dir(a->path);
  return QDM_OK;
}

int qdm_mkdirs(const char *dir) {
  if (!dir || !*dir) return qdm_fail(QDM_EINVAL, "qdm_mkdirs: dir is empty (expected a directory name)");
  char buf[4096];
  size_t n = strlen(dir);
  if (n >= sizeof buf) return qdm_fail(QDM_EINVAL, "qdm_mkdirs: dir is %zu characters long (at most 4095)", n);
  memcpy(buf, dir, n + 1);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == 0) {
      char c = *p;
      *p = 0;
      if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return qdm_fail(QDM_EIO, "cannot create directory %s: %s", buf, strerror(errno));
      *p = c;
      if (!c) break;
    }
  }
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return qdm_fail(QDM_EIO, "cannot create directory %s: a file of that name exists", dir);
  return QDM_OK;
}
