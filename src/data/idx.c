/* idx.c -- IDX files, the format MNIST, Fashion-MNIST and KMNIST ship in:
 * a big-endian u32 magic (0x00000803 = u8 data in 3 dims, 0x00000801 = u8
 * in 1 dim), one big-endian u32 per dimension, then the bytes. zlib's
 * gzopen reads gzip and plain files alike; writing picks gzip by the ".gz"
 * extension ("T" mode writes plain through the same code path). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "qdm/data.h"
#include "qdm/io.h"
#include "qdm/core.h"

#define MAGIC_IMAGES 0x00000803u
#define MAGIC_LABELS 0x00000801u
#define MAX_BYTES ((size_t)1 << 34) /* 16 GiB: a header claiming more is corrupt */

static uint32_t be32(const unsigned char *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void put_be32(unsigned char *b, uint32_t v) {
  b[0] = (unsigned char)(v >> 24);
  b[1] = (unsigned char)(v >> 16);
  b[2] = (unsigned char)(v >> 8);
  b[3] = (unsigned char)v;
}

/* Reads up to n bytes; returns how many arrived (short at end of data). A
 * damaged gzip stream is an error of its own, not a short read. */
static int read_some(gzFile g, const char *path, void *buf, size_t n, size_t *got) {
  *got = 0;
  while (*got < n) {
    size_t chunk = n - *got < (1u << 30) ? n - *got : (1u << 30);
    int r = gzread(g, (char *)buf + *got, (unsigned)chunk);
    if (r < 0) {
      int zerr;
      const char *m = gzerror(g, &zerr);
      return qdm_fail(QDM_EFORMAT, "%s: corrupt gzip data (%s)", path, m ? m : "read error");
    }
    if (r == 0) break;
    *got += (size_t)r;
  }
  return QDM_OK;
}

/* The payload the header announces, in a buffer that grows with the bytes
 * that arrive (doubling from 1 MiB): a header claiming gigabytes in a short
 * (or small gzip) file costs what the file holds, not what it claims. */
static int read_payload(gzFile g, const char *path, size_t want, uint8_t **out, size_t *got) {
  size_t cap = want < ((size_t)1 << 20) ? want : ((size_t)1 << 20), n = 0, k;
  uint8_t *buf = malloc(cap ? cap : 1);
  int rc = buf ? QDM_OK : qdm_fail(QDM_ENOMEM, "%s: out of memory for %zu bytes", path, cap);
  while (!rc) {
    if ((rc = read_some(g, path, buf + n, cap - n, &k))) break;
    n += k;
    if (n < cap || cap == want) break; /* end of data, or all of it */
    cap = want / 2 < cap ? want : 2 * cap;
    uint8_t *b = realloc(buf, cap);
    if (!b) rc = qdm_fail(QDM_ENOMEM, "%s: out of memory for %zu bytes", path, cap);
    else buf = b;
  }
  if (rc) {
    free(buf);
    buf = NULL;
  }
  *out = buf;
  *got = n;
  return rc;
}

static int open_idx(const char *path, gzFile *g) {
  if (!path || !*path) return qdm_fail(QDM_EINVAL, "IDX reader: path is empty");
  struct stat st; /* (a directory opens, and then fails to read as "corrupt gzip") */
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return qdm_fail(QDM_EIO, "%s is a directory, expected an IDX file", path);
  errno = 0;
  *g = gzopen(path, "rb");
  if (!*g) return qdm_fail(QDM_EIO, "cannot open %s: %s", path, errno ? strerror(errno) : "out of memory");
  gzbuffer(*g, 1 << 17);
  return QDM_OK;
}

/* Header (magic + ndim sizes) and payload of an IDX file of u8 data. */
static int read_idx(const char *path, uint32_t magic, int ndim, uint32_t *dims, uint8_t **out) {
  gzFile g;
  int rc = open_idx(path, &g);
  if (rc) return rc;
  unsigned char hdr[16];
  size_t hlen = 4 + 4 * (size_t)ndim, got, data = 1;
  uint8_t *buf = NULL;
  if ((rc = read_some(g, path, hdr, 4, &got))) goto done;
  if (got < 4) {
    rc = qdm_fail(QDM_EFORMAT, "%s: truncated file: expected at least %zu header bytes, got %zu", path, hlen, got);
    goto done;
  }
  uint32_t m = be32(hdr);
  if (m != magic) {
    const char *hint = m == MAGIC_LABELS ? " (this is a label file)" : m == MAGIC_IMAGES ? " (this is an image file)" : "";
    rc = qdm_fail(QDM_EFORMAT, "%s: wrong magic number 0x%08x, expected 0x%08x (IDX %s)%s", path, m, magic,
                  magic == MAGIC_IMAGES ? "u8 images" : "u8 labels", hint);
    goto done;
  }
  if ((rc = read_some(g, path, hdr + 4, hlen - 4, &got))) goto done;
  if (got < hlen - 4) {
    rc = qdm_fail(QDM_EFORMAT, "%s: truncated file: expected at least %zu header bytes, got %zu", path, hlen, 4 + got);
    goto done;
  }
  for (int d = 0; d < ndim; d++) {
    dims[d] = be32(hdr + 4 + 4 * d);
    if (dims[d] > INT_MAX || (d > 0 && dims[d] == 0)) {
      rc = qdm_fail(QDM_EFORMAT, "%s: dimension %d is %u (expected 1..%d)", path, d, dims[d], INT_MAX);
      goto done;
    }
    if (dims[d] && data > MAX_BYTES / dims[d]) {
      rc = qdm_fail(QDM_EFORMAT, "%s: header claims more than %zu bytes of data", path, MAX_BYTES);
      goto done;
    }
    data *= dims[d];
  }
  if ((rc = read_payload(g, path, data, &buf, &got))) goto done;
  if (got < data) {
    rc = qdm_fail(QDM_EFORMAT, "%s: truncated file: expected %zu bytes, got %zu", path, hlen + data, hlen + got);
    goto done;
  }
  unsigned char extra;
  if ((rc = read_some(g, path, &extra, 1, &got))) goto done;
  if (got) rc = qdm_fail(QDM_EFORMAT, "%s: file is longer than its header says (%zu bytes)", path, hlen + data);
done:
  gzclose(g);
  if (rc) free(buf);
  else *out = buf;
  return rc;
}

int qdm_idx_read_images(const char *path, uint8_t **pix, int *n, int *h, int *w) {
  if (!pix || !n || !h || !w) return qdm_fail(QDM_EINVAL, "qdm_idx_read_images: output pointers must be non-NULL");
  *pix = NULL;
  uint32_t d[3];
  int rc = read_idx(path, MAGIC_IMAGES, 3, d, pix);
  if (rc) return rc;
  *n = (int)d[0];
  *h = (int)d[1];
  *w = (int)d[2];
  return QDM_OK;
}

int qdm_idx_read_labels(const char *path, uint8_t **lab, int *n) {
  if (!lab || !n) return qdm_fail(QDM_EINVAL, "qdm_idx_read_labels: output pointers must be non-NULL");
  *lab = NULL;
  uint32_t d[1];
  int rc = read_idx(path, MAGIC_LABELS, 1, d, lab);
  if (rc) return rc;
  *n = (int)d[0];
  return QDM_OK;
}

static int ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Header then payload through zlib on a duplicate of the atomic file's
 * descriptor; the atomic commit then fsyncs and renames as usual. */
static int write_idx(const char *path, const unsigned char *hdr, size_t hlen, const uint8_t *data, size_t n,
                     const float *fdata) {
  qdm_atomic a;
  int rc = qdm_atomic_open(&a, path);
  if (rc) return rc;
  int fd = dup(fileno(a.f));
  gzFile g = fd >= 0 ? gzdopen(fd, ends_with(path, ".gz") ? "wb6" : "wbT") : NULL;
  if (!g) {
    if (fd >= 0) close(fd);
    qdm_atomic_abort(&a);
    return qdm_fail(QDM_EIO, "cannot write %s: %s", path, strerror(errno ? errno : ENOMEM));
  }
  errno = 0;
  int ok = gzwrite(g, hdr, (unsigned)hlen) == (int)hlen, why = ok ? 0 : errno;
  unsigned char buf[1 << 16];
  for (size_t i = 0; ok && i < n;) {
    size_t k = n - i < sizeof buf ? n - i : sizeof buf;
    const unsigned char *src = data ? data + i : buf;
    if (!data)
      for (size_t j = 0; j < k; j++) {
        float v = fdata[i + j];
        v = v > 0 ? (v < 1 ? v : 1) : 0; /* NaN -> 0 */
        buf[j] = (unsigned char)lrintf(v * 255.0f);
      }
    ok = gzwrite(g, src, (unsigned)k) == (int)k;
    if (!ok) why = errno;
    i += k;
  }
  if (gzclose(g) != Z_OK) { /* the last bytes are written here */
    if (ok) why = errno;
    ok = 0;
  }
  if (!ok) {
    qdm_atomic_abort(&a);
    return qdm_fail(QDM_EIO, "cannot write %s: %s", path, strerror(why ? why : EIO));
  }
  return qdm_atomic_commit(&a);
}

int qdm_idx_write_images(const char *path, const float *img, int n, int h, int w) {
  if (!path || !*path) return qdm_fail(QDM_EINVAL, "qdm_idx_write_images: path is empty");
  if (n < 0 || h < 1 || w < 1 || (n > 0 && !img))
    return qdm_fail(QDM_EINVAL, "qdm_idx_write_images: %s: n = %d, h = %d, w = %d, img %s (expected n >= 0, h, w >= 1, data)",
                    path, n, h, w, img ? "set" : "NULL");
  unsigned char hdr[16];
  put_be32(hdr, MAGIC_IMAGES);
  put_be32(hdr + 4, (uint32_t)n);
  put_be32(hdr + 8, (uint32_t)h);
  put_be32(hdr + 12, (uint32_t)w);
  return write_idx(path, hdr, 16, NULL, (size_t)n * h * w, img);
}

int qdm_idx_write_labels(const char *path, const uint8_t *lab, int n) {
  if (!path || !*path) return qdm_fail(QDM_EINVAL, "qdm_idx_write_labels: path is empty");
  if (n < 0 || (n > 0 && !lab))
    return qdm_fail(QDM_EINVAL, "qdm_idx_write_labels: %s: n = %d with lab %s", path, n, lab ? "set" : "NULL");
  unsigned char hdr[8];
  put_be32(hdr, MAGIC_LABELS);
  put_be32(hdr + 4, (uint32_t)n);
  return write_idx(path, hdr, 8, lab, (size_t)n, NULL);
}
