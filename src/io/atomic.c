/* atomic.c -- files that appear whole or not at all. A writer fills
 * "<path>.tmp.<pid>" in the same directory (so rename(2) stays within one
 * file system and is atomic), fsyncs it, then renames it over the target; a
 * crash or an error in between leaves the old file untouched. Every step's
 * failure (a full disk at write, flush, fsync or close) is reported with
 * the file's name and the system's reason. Also: directories, and the lock
 * file that keeps two writers out of one run directory. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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

/* A buffered write (fprintf) failed earlier and errno has moved on since:
 * one more byte at the end of the doomed temp file shows the reason again
 * (a full disk stays full). */
static int write_errno(int fd) {
  if (lseek(fd, 0, SEEK_END) < 0) return errno;
  return write(fd, "", 1) < 0 ? errno : EIO;
}

int qdm_atomic_commit(qdm_atomic *a) {
  if (!a || !a->f) return qdm_fail(QDM_EINVAL, "qdm_atomic_commit: no open atomic file");
  int failed_before = ferror(a->f), err = 0;
  if (fflush(a->f) != 0) err = errno ? errno : EIO;
  else if (failed_before) err = write_errno(fileno(a->f));
  else if (fsync(fileno(a->f)) != 0) err = errno ? errno : EIO;
  if (err) {
    qdm_atomic_abort(a);
    return qdm_fail(QDM_EIO, "cannot write %s: %s", a->path, strerror(err));
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

int qdm_rmdirs(const char *dir, const char *keep) {
  if (!dir || !*dir) return qdm_fail(QDM_EINVAL, "qdm_rmdirs: dir is empty");
  char buf[4096];
  size_t nk = keep ? strlen(keep) : 0;
  if (strlen(dir) >= sizeof buf) return qdm_fail(QDM_EINVAL, "qdm_rmdirs: dir is too long");
  strcpy(buf, dir);
  for (;;) {
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;
    if (keep && n <= nk && !strncmp(buf, keep, n)) return QDM_OK; /* reached a directory that was there */
    if (rmdir(buf) != 0) return errno == ENOTEMPTY || errno == EEXIST ? QDM_OK : qdm_fail(QDM_EIO, "cannot remove directory %s: %s", buf, strerror(errno));
    char *s = strrchr(buf, '/');
    if (!s || s == buf) return QDM_OK;
    *s = 0;
  }
}

const char *qdm_existing_prefix(const char *dir, char *buf, size_t len) {
  if (!dir || !buf || len == 0) return NULL;
  snprintf(buf, len, "%s", dir);
  struct stat st;
  for (;;) {
    if (stat(buf, &st) == 0) return buf;
    char *s = strrchr(buf, '/');
    if (!s) {
      snprintf(buf, len, ".");
      return buf;
    }
    if (s == buf) {
      s[1] = 0;
      return buf;
    }
    *s = 0;
  }
}

/* ---------------- the lock of a directory's writer ---------------- */

static long read_pid(int fd) {
  char b[32] = {0};
  ssize_t n = pread(fd, b, sizeof b - 1, 0);
  return n > 0 ? strtol(b, NULL, 10) : 0;
}

int qdm_lock_acquire(qdm_lock *l, const char *path, long *stale_pid) {
  if (!l || !path || !*path) return qdm_fail(QDM_EINVAL, "qdm_lock_acquire: lock and path must be given");
  l->fd = -1;
  if (stale_pid) *stale_pid = 0;
  if (strlen(path) >= sizeof l->path) return qdm_fail(QDM_EINVAL, "qdm_lock_acquire: path too long");
  strcpy(l->path, path);
  for (int tries = 0; tries < 100; tries++) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return qdm_fail(QDM_EIO, "cannot create the lock file %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int e = errno;
      long pid = read_pid(fd);
      close(fd);
      if (e == EWOULDBLOCK)
        return qdm_fail(QDM_EIO, "%s is held by another process (pid %ld) writing there", path, pid);
      return qdm_fail(QDM_EIO, "cannot lock %s: %s", path, strerror(e));
    }
    /* the holder before us may have removed the file between our open and
     * our flock: then the lock is on a dead inode, and we try again */
    struct stat a, b;
    if (fstat(fd, &a) != 0 || stat(path, &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
      close(fd);
      continue;
    }
    /* a pid left in the file is a holder that died without releasing it
     * (the kernel dropped its lock): a stale lock */
    long pid = read_pid(fd);
    if (stale_pid && pid > 0 && pid != (long)getpid()) *stale_pid = pid;
    char s[32];
    int n = snprintf(s, sizeof s, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, s, (size_t)n, 0) != n) {
      int e = errno;
      close(fd);
      return qdm_fail(QDM_EIO, "cannot write the lock file %s: %s", path, strerror(e));
    }
    l->fd = fd;
    return QDM_OK;
  }
  return qdm_fail(QDM_EIO, "cannot lock %s: it keeps being replaced", path);
}

void qdm_lock_release(qdm_lock *l) {
  if (!l || l->fd < 0) return;
  unlink(l->path); /* while still holding it, so no one locks the old inode after us */
  close(l->fd);
  l->fd = -1;
}
