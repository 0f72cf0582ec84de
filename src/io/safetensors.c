/* safetensors.c -- checkpoints in the safetensors format
 * (https://huggingface.co/docs/safetensors), readable from Python with
 * safetensors.numpy.load_file. Layout: u64 little-endian header length N,
 * N bytes of JSON {name: {"dtype", "shape", "data_offsets": [begin, end]},
 * "__metadata__": {str: str}} padded with spaces so the data starts 8-byte
 * aligned, then the tensors' raw little-endian bytes, offsets relative to the
 * start of the data. qdm writes F64 or F32 and reads either into doubles
 * or floats. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "qdm/io.h"
#include "qdm/core.h"

#define MAX_HEADER (100u << 20) /* the reference implementation's limit */

static int64_t count_of(int ndim, const int64_t *shape) {
  int64_t c = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0) return -1;
    if (shape[d] && c > INT64_MAX / 8 / shape[d]) return -1;
    c *= shape[d];
  }
  return c;
}

static void put_le64(unsigned char *b, uint64_t v) {
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *b, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = v << 8 | b[i];
  return v;
}

static int check_tensors(const qdm_tensor *t, int nt, const char *const *meta) {
  if (nt < 0) return qdm_fail(QDM_EINVAL, "qdm_safetensors_write: nt = %d (expected >= 0)", nt);
  if (nt > 0 && !t) return qdm_fail(QDM_EINVAL, "qdm_safetensors_write: t is NULL with nt = %d", nt);
  for (int i = 0; i < nt; i++) {
    const char *nm = t[i].name;
    if (!nm || !*nm || !strcmp(nm, "__metadata__"))
      return qdm_fail(QDM_EINVAL, "qdm_safetensors_write: tensor %d has %s name", i,
                      !nm ? "a NULL" : !*nm ? "an empty" : "the reserved");
    for (int k = 0; k < i; k++)
      if (!strcmp(t[k].name, nm)) return qdm_fail(QDM_EINVAL, "qdm_safetensors_write: tensor name '%s' repeated", nm);
    if (t[i].ndim < 0 || t[i].ndim > 4)
      return qdm_fail(QDM_EINVAL, "qdm_safetensors_write: tensor '%s' has ndim %d (expected 0..4)", nm, t[i].ndim);
    int64_t c = count_of(t[i].ndim, t[i].shape);
    if (c < 0) return qdm_fail(QDM_EINVAL, "qdm_safetensors_write: tensor '%s' has a negative or huge shape", nm);
    if (c > 0 && !t[i].data && !t[i].f32)
      return qdm_fail(QDM_EINVAL, "qdm_safetensors_write: tensor '%s' has NULL data", nm);
  }
  for (int i = 0; meta && meta[i]; i += 2)
    if (!meta[i + 1]) return qdm_fail(QDM_EINVAL, "qdm_safetensors_write: metadata key '%s' has a NULL value", meta[i]);
  return QDM_OK;
}

/* The JSON header, compact, __metadata__ first, padded to a multiple of 8. */
static int make_header(const qdm_tensor *t, int nt, const char *const *meta, char **hdr, size_t *len) {
  char *buf = NULL;
  size_t n = 0;
  FILE *m = open_memstream(&buf, &n);
  if (!m) return qdm_fail(QDM_ENOMEM, "qdm_safetensors_write: out of memory");
  qdm_json j;
  qdm_json_init(&j, m, 0);
  qdm_json_obj(&j);
  if (meta && meta[0]) {
    qdm_json_key(&j, "__metadata__");
    qdm_json_obj(&j);
    for (int i = 0; meta[i]; i += 2) qdm_json_kv_str(&j, meta[i], meta[i + 1]);
    qdm_json_obj_end(&j);
  }
  int64_t off = 0;
  for (int i = 0; i < nt; i++) {
    int64_t bytes = (t[i].f32 ? 4 : 8) * count_of(t[i].ndim, t[i].shape);
    qdm_json_key(&j, t[i].name);
    qdm_json_obj(&j);
    qdm_json_kv_str(&j, "dtype", t[i].f32 ? "F32" : "F64");
    qdm_json_key(&j, "shape");
    qdm_json_arr(&j);
    for (int d = 0; d < t[i].ndim; d++) qdm_json_int(&j, t[i].shape[d]);
    qdm_json_arr_end(&j);
    qdm_json_key(&j, "data_offsets");
    qdm_json_arr(&j);
    qdm_json_int(&j, off);
    qdm_json_int(&j, off + bytes);
    qdm_json_arr_end(&j);
    qdm_json_obj_end(&j);
    off += bytes;
  }
  qdm_json_obj_end(&j);
  for (int pad = (int)((8 - ftell(m) % 8) % 8); pad > 0; pad--) fputc(' ', m);
  if (fclose(m) != 0 || !buf) {
    free(buf);
    return qdm_fail(QDM_ENOMEM, "qdm_safetensors_write: out of memory");
  }
  *hdr = buf;
  *len = n;
  return QDM_OK;
}

/* The values of t little-endian, 8 (double) or 4 (float) bytes each. */
static int write_values(FILE *f, const qdm_tensor *t) {
  unsigned char buf[8 * 1024];
  int64_t n = count_of(t->ndim, t->shape);
  int esize = t->f32 ? 4 : 8;
  for (int64_t i = 0; i < n;) {
    int k = 0;
    for (; k < 1024 && i < n; k++, i++) {
      uint64_t u = 0;
      if (t->f32) {
        uint32_t u32;
        memcpy(&u32, &t->f32[i], 4);
        u = u32;
      } else memcpy(&u, &t->data[i], 8);
      for (int b = 0; b < esize; b++) buf[esize * k + b] = (unsigned char)(u >> (8 * b));
    }
    if (fwrite(buf, (size_t)esize, (size_t)k, f) != (size_t)k) return -1;
  }
  return 0;
}

int qdm_safetensors_write(const char *path, const qdm_tensor *t, int nt, const char *const *meta) {
  if (!path || !*path) return qdm_fail(QDM_EINVAL, "qdm_safetensors_write: path is empty");
  int rc = check_tensors(t, nt, meta);
  if (rc) return rc;
  char *hdr = NULL;
  size_t hlen = 0;
  if ((rc = make_header(t, nt, meta, &hdr, &hlen))) return rc;
  qdm_atomic a;
  if ((rc = qdm_atomic_open(&a, path))) {
    free(hdr);
    return rc;
  }
  unsigned char len8[8];
  put_le64(len8, hlen);
  int bad = fwrite(len8, 1, 8, a.f) != 8 || fwrite(hdr, 1, hlen, a.f) != hlen;
  free(hdr);
  for (int i = 0; i < nt && !bad; i++) bad = write_values(a.f, &t[i]);
  if (bad) {
    int err = errno;
    qdm_atomic_abort(&a);
    return qdm_fail(QDM_EIO, "cannot write %s: %s", path, strerror(err ? err : EIO));
  }
  return qdm_atomic_commit(&a);
}

/* ---- reading ---- */

typedef struct {
  FILE *f;
  qdm_jv *h;
  uint64_t data_start, data_len;
} st_file;

static void st_close(st_file *s) {
  if (s->f) fclose(s->f);
  qdm_jv_free(s->h);
  s->f = NULL;
  s->h = NULL;
}

static int st_open(const char *path, st_file *s) {
  memset(s, 0, sizeof *s);
  if (!path || !*path) return qdm_fail(QDM_EINVAL, "safetensors: path is empty");
  s->f = fopen(path, "rb");
  if (!s->f) return qdm_fail(QDM_EIO, "cannot open %s: %s", path, strerror(errno));
  /* the size from fstat: a directory opens too, and seeking to its end
   * reports an arbitrary number */
  struct stat st;
  int ok = fstat(fileno(s->f), &st) == 0;
  if (!ok || !S_ISREG(st.st_mode)) {
    int dir = ok && S_ISDIR(st.st_mode);
    st_close(s);
    return qdm_fail(QDM_EIO, "%s is %s, expected a safetensors file", path, dir ? "a directory" : "not a regular file");
  }
  uint64_t size = (uint64_t)st.st_size;
  unsigned char len8[8];
  if (size < 8 || fread(len8, 1, 8, s->f) != 8) {
    st_close(s);
    return qdm_fail(QDM_EFORMAT, "%s: not a safetensors file (only %llu bytes)", path, (unsigned long long)size);
  }
  uint64_t hlen = get_le(len8, 8);
  if (hlen > MAX_HEADER || hlen > size - 8) {
    st_close(s);
    return qdm_fail(QDM_EFORMAT, "%s: not a safetensors file (header length %llu, file size %llu)", path,
                    (unsigned long long)hlen, (unsigned long long)size);
  }
  char *txt = malloc(hlen ? hlen : 1);
  if (!txt) {
    st_close(s);
    return qdm_fail(QDM_ENOMEM, "%s: out of memory for a %llu-byte header", path, (unsigned long long)hlen);
  }
  int rc = QDM_OK;
  if (fread(txt, 1, hlen, s->f) != hlen) rc = qdm_fail(QDM_EIO, "%s: cannot read the header", path);
  else if (hlen == 0 || txt[0] != '{') rc = qdm_fail(QDM_EFORMAT, "%s: header does not start with '{'", path);
  else if ((rc = qdm_json_parse(txt, hlen, &s->h))) rc = qdm_fail_wrap(QDM_EFORMAT, "%s: bad header", path);
  else if (s->h->type != QDM_JOBJ) rc = qdm_fail(QDM_EFORMAT, "%s: header is not a JSON object", path);
  free(txt);
  if (rc) {
    st_close(s);
    return rc;
  }
  s->data_start = 8 + hlen;
  s->data_len = size - 8 - hlen;
  return QDM_OK;
}

static int is_count(const qdm_jv *v) { return v && v->type == QDM_JNUM && v->num >= 0 && v->num <= 9007199254740992.0 && v->num == (double)(int64_t)v->num; }

static void shape_str(char *b, size_t n, int ndim, const int64_t *sh) {
  size_t k = (size_t)snprintf(b, n, "[");
  for (int d = 0; d < ndim && k < n; d++) k += (size_t)snprintf(b + k, n - k, d ? ",%lld" : "%lld", (long long)sh[d]);
  if (k < n) snprintf(b + k, n - k, "]");
}

/* Entry of tensor `name`: dtype size, shape and byte range, all validated. */
static int st_entry(const char *path, const st_file *s, const char *name, int *esize, int *ndim, int64_t sh[4],
                    uint64_t *begin) {
  const qdm_jv *e = qdm_jv_get(s->h, name);
  if (!e) return qdm_fail(QDM_EFORMAT, "%s: no tensor '%s'", path, name);
  const qdm_jv *dt = qdm_jv_get(e, "dtype"), *shp = qdm_jv_get(e, "shape"), *off = qdm_jv_get(e, "data_offsets");
  if (!dt || dt->type != QDM_JSTR || !shp || shp->type != QDM_JARR || !off || off->type != QDM_JARR || off->n != 2 ||
      !is_count(&off->kid[0]) || !is_count(&off->kid[1]))
    return qdm_fail(QDM_EFORMAT, "%s: tensor '%s' lacks a valid dtype, shape or data_offsets", path, name);
  if (!strcmp(dt->str, "F64")) *esize = 8;
  else if (!strcmp(dt->str, "F32")) *esize = 4;
  else return qdm_fail(QDM_EFORMAT, "%s: tensor '%s' has dtype %s (qdm reads F64 and F32)", path, name, dt->str);
  if (shp->n > 4) return qdm_fail(QDM_EFORMAT, "%s: tensor '%s' has %d dimensions (qdm reads at most 4)", path, name, shp->n);
  *ndim = shp->n;
  for (int d = 0; d < shp->n; d++) {
    if (!is_count(&shp->kid[d])) return qdm_fail(QDM_EFORMAT, "%s: tensor '%s' has a bad shape", path, name);
    sh[d] = (int64_t)shp->kid[d].num;
  }
  int64_t c = count_of(*ndim, sh);
  uint64_t b = (uint64_t)off->kid[0].num, en = (uint64_t)off->kid[1].num;
  if (c < 0 || en < b || en - b != (uint64_t)c * (uint64_t)*esize || en > s->data_len)
    return qdm_fail(QDM_EFORMAT, "%s: tensor '%s' data_offsets [%llu,%llu] do not fit its shape or the file", path,
                    name, (unsigned long long)b, (unsigned long long)en);
  *begin = s->data_start + b;
  return QDM_OK;
}

/* n values of esize bytes into t's doubles or floats (converted if the
 * sizes differ). */
static int read_into(FILE *f, int esize, const qdm_tensor *t, int64_t n) {
  unsigned char buf[8 * 1024];
  int per = (int)sizeof buf / esize;
  for (int64_t i = 0; i < n;) {
    int k = n - i < per ? (int)(n - i) : per;
    if (fread(buf, (size_t)esize, (size_t)k, f) != (size_t)k) return -1;
    for (int j = 0; j < k; j++, i++) {
      uint64_t u = get_le(buf + esize * j, esize);
      double v;
      if (esize == 8) memcpy(&v, &u, 8);
      else {
        uint32_t u32 = (uint32_t)u;
        float v32;
        memcpy(&v32, &u32, 4);
        v = v32;
      }
      if (t->f32) t->f32[i] = (float)v;
      else t->data[i] = v;
    }
  }
  return 0;
}

/* Every tensor of t present with its shape; then (read) its data into it. */
static int read_tensors(const char *fn, const char *path, const qdm_tensor *t, int nt, int read) {
  if (nt < 0 || (nt > 0 && !t)) return qdm_fail(QDM_EINVAL, "%s: bad tensor list (nt = %d)", fn, nt);
  for (int i = 0; i < nt; i++)
    if (!t[i].name || t[i].ndim < 0 || t[i].ndim > 4 || count_of(t[i].ndim, t[i].shape) < 0)
      return qdm_fail(QDM_EINVAL, "%s: tensor %d has no name or a bad shape", fn, i);
  st_file s;
  int rc = st_open(path, &s);
  for (int i = 0; i < nt && !rc; i++) {
    int esize, ndim;
    int64_t sh[4];
    uint64_t begin;
    if ((rc = st_entry(path, &s, t[i].name, &esize, &ndim, sh, &begin))) break;
    int same = ndim == t[i].ndim;
    for (int d = 0; d < ndim && same; d++) same = sh[d] == t[i].shape[d];
    if (!same) {
      char a[128], b[128];
      shape_str(a, sizeof a, ndim, sh);
      shape_str(b, sizeof b, t[i].ndim, t[i].shape);
      rc = qdm_fail(QDM_EFORMAT, "%s: tensor '%s' has shape %s in the file, expected %s", path, t[i].name, a, b);
      break;
    }
    int64_t c = count_of(ndim, sh);
    if (!read) continue;
    if (c > 0 && !t[i].data && !t[i].f32) rc = qdm_fail(QDM_EINVAL, "%s: tensor '%s' has NULL data", fn, t[i].name);
    else if (fseeko(s.f, (off_t)begin, SEEK_SET) != 0 || read_into(s.f, esize, &t[i], c) != 0)
      rc = qdm_fail(QDM_EIO, "%s: cannot read tensor '%s' (file truncated?)", path, t[i].name);
  }
  st_close(&s);
  return rc;
}

int qdm_safetensors_read(const char *path, qdm_tensor *t, int nt) {
  return read_tensors("qdm_safetensors_read", path, t, nt, 1);
}

int qdm_safetensors_check(const char *path, const qdm_tensor *t, int nt) {
  return read_tensors("qdm_safetensors_check", path, t, nt, 0);
}

int qdm_safetensors_shape(const char *path, const char *name, int *ndim, int64_t shape[4]) {
  if (!name || !ndim || !shape) return qdm_fail(QDM_EINVAL, "qdm_safetensors_shape: name, ndim and shape must be non-NULL");
  st_file s;
  int rc = st_open(path, &s), esize;
  uint64_t begin;
  if (!rc) rc = st_entry(path, &s, name, &esize, ndim, shape, &begin);
  st_close(&s);
  return rc;
}

int qdm_safetensors_meta(const char *path, const char *key, char *buf, size_t len) {
  if (!key || !buf || len == 0) return qdm_fail(QDM_EINVAL, "qdm_safetensors_meta: key and buf must be non-NULL, len > 0");
  st_file s;
  int rc = st_open(path, &s);
  if (rc) return rc;
  const qdm_jv *v = qdm_jv_get(qdm_jv_get(s.h, "__metadata__"), key);
  if (!v || v->type != QDM_JSTR) rc = qdm_fail(QDM_EFORMAT, "%s: no metadata string '%s'", path, key);
  else if (strlen(v->str) >= len)
    rc = qdm_fail(QDM_EINVAL, "%s: metadata '%s' is %zu bytes, buffer holds %zu", path, key, strlen(v->str), len - 1);
  else memcpy(buf, v->str, strlen(v->str) + 1);
  st_close(&s);
  return rc;
}
