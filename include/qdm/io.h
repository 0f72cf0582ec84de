/* qdm/io.h -- files out: atomic writes, JSON, safetensors checkpoints, PNG
 * image grids and plots (cairo). Every writer goes through a temporary file
 * renamed into place, so an interrupted run never leaves a half file. */
#ifndef QDM_IO_H
#define QDM_IO_H
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include "qdm/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- atomic files: write to "<path>.tmp.<pid>", fsync, rename ---- */
typedef struct {
  FILE *f;
  char path[4096];
  char tmp[4096];
} qdm_atomic;
int qdm_atomic_open(qdm_atomic *a, const char *path);   /* QDM_OK or QDM_EIO (message names the file) */
int qdm_atomic_commit(qdm_atomic *a);                   /* flush, fsync, rename */
void qdm_atomic_abort(qdm_atomic *a);                   /* close and delete the temp file */
/* mkdir -p */
int qdm_mkdirs(const char *dir);
/* The longest prefix of dir that exists now (dir itself, an ancestor, "/"
 * or "."), in buf; before qdm_mkdirs, it is what qdm_rmdirs must keep. */
const char *qdm_existing_prefix(const char *dir, char *buf, size_t len);
/* rmdir dir and then its parents while they are empty, stopping at `keep`
 * (a prefix of dir, e.g. from qdm_existing_prefix; NULL: no stop). A
 * non-empty directory ends it quietly. */
int qdm_rmdirs(const char *dir, const char *keep);

/* ---- the lock of one writer per directory: flock(2) on a file holding
 * the holder's pid. The kernel drops the lock when its process dies (even
 * by SIGKILL), so a file left behind is a stale lock, taken over. ---- */
typedef struct {
  int fd;
  char path[4096];
} qdm_lock;
/* QDM_OK with the lock held; QDM_EIO if another live process holds it (the
 * message names the file and that process's pid) or the file cannot be
 * made. *stale_pid (may be NULL) receives the pid of a dead holder whose
 * lock was taken over (0: none). */
int qdm_lock_acquire(qdm_lock *l, const char *path, long *stale_pid);
/* Removes the file and drops the lock (l->fd = -1 afterwards; idempotent). */
void qdm_lock_release(qdm_lock *l);

/* ---- JSON writer (streaming, commas and escaping handled) ---- */
#define QDM_JSON_MAX_DEPTH 64 /* nested containers the reader accepts and the writer writes */
typedef struct {
  FILE *f;
  int depth;
  int pretty;
  unsigned char first[QDM_JSON_MAX_DEPTH + 1]; /* per depth: no element written yet */
  int after_key;
} qdm_json;
void qdm_json_init(qdm_json *j, FILE *f, int pretty);
void qdm_json_obj(qdm_json *j);          /* { */
void qdm_json_obj_end(qdm_json *j);      /* } */
void qdm_json_arr(qdm_json *j);          /* [ */
void qdm_json_arr_end(qdm_json *j);      /* ] */
void qdm_json_key(qdm_json *j, const char *k);
void qdm_json_num(qdm_json *j, double v);   /* %.17g; NaN/Inf as null */
void qdm_json_int(qdm_json *j, long long v);
void qdm_json_str(qdm_json *j, const char *s);
void qdm_json_bool(qdm_json *j, int b);
void qdm_json_null(qdm_json *j);
void qdm_json_end(qdm_json *j);          /* final newline */
/* Helpers for the common case: "key": value */
void qdm_json_kv_num(qdm_json *j, const char *k, double v);
void qdm_json_kv_int(qdm_json *j, const char *k, long long v);
void qdm_json_kv_str(qdm_json *j, const char *k, const char *s);
void qdm_json_kv_nums(qdm_json *j, const char *k, const double *v, size_t n);

/* ---- minimal JSON reader (safetensors headers, qdm's own output): parses a
 * whole document into a tree. Numbers are doubles, strings unescaped UTF-8,
 * object keys in file order. Errors: QDM_EFORMAT, message with byte offset. */
enum { QDM_JNULL, QDM_JBOOL, QDM_JNUM, QDM_JSTR, QDM_JARR, QDM_JOBJ };
typedef struct qdm_jv {
  int type;            /* QDM_J* */
  double num;          /* JNUM value; JBOOL 0 or 1 */
  char *str;           /* JSTR text */
  int n;               /* JARR/JOBJ element count */
  struct qdm_jv *kid;  /* JARR/JOBJ elements */
  char **key;          /* JOBJ keys, key[i] names kid[i] */
} qdm_jv;
int qdm_json_parse(const char *text, size_t len, qdm_jv **out); /* free with qdm_jv_free */
void qdm_jv_free(qdm_jv *v);
const qdm_jv *qdm_jv_get(const qdm_jv *obj, const char *key);   /* NULL if absent or not an object */

/* ---- safetensors (https://huggingface.co/docs/safetensors): an 8-byte
 * little-endian header length, a JSON header {name: {dtype, shape,
 * data_offsets}, "__metadata__": {str: str}}, then raw little-endian data.
 * A tensor's values are doubles (data) or floats (f32): written as F64 or
 * F32, read from either (F32 into doubles exactly; F64 into floats rounded
 * to nearest). ---- */
typedef struct {
  const char *name;
  int ndim;
  int64_t shape[4];
  double *data;        /* element count = product of shape; NULL when f32 is used */
  float *f32;          /* the values as floats instead of data (NULL: data) */
} qdm_tensor;
/* meta: NULL-terminated array of key, value, key, value, ... (may be NULL) */
int qdm_safetensors_write(const char *path, const qdm_tensor *t, int nt, const char *const *meta);
/* Reads the named tensors into the caller's arrays; shapes must match
 * exactly (error names the file, the tensor and both shapes). Metadata
 * value lookup: qdm_safetensors_meta(path, key, buf, len). */
int qdm_safetensors_read(const char *path, qdm_tensor *t, int nt);
int qdm_safetensors_meta(const char *path, const char *key, char *buf, size_t len);
/* Shape of a stored tensor (to size arrays before reading); ndim <= 4. */
int qdm_safetensors_shape(const char *path, const char *name, int *ndim, int64_t shape[4]);
/* The checks of qdm_safetensors_read without reading: every tensor of t
 * present with its shape, its bytes inside the file (data unused). For
 * loaders that size memory from a file's settings: check, then allocate. */
int qdm_safetensors_check(const char *path, const qdm_tensor *t, int nt);

/* ---- pictures (PNG via cairo) ---- */
/* Grid of grayscale images, values in [0,1] (clamped), each h x w, laid
 * out rows x cols (n <= rows*cols, filled row by row), each pixel drawn as
 * scale x scale; row_labels: NULL or `rows` strings (each may be NULL). */
int qdm_png_grid(const char *path, const float *img, int n, int h, int w,
                 int rows, int cols, int scale, const char *const *row_labels);
/* The words around a grid (any may be NULL): a title of up to 4 lines
 * split at '\n' (the first bold; what, which run, which epoch), a line
 * above the columns (what they are: "t", "sampler ddpm, 10 steps"), a
 * caption over each column (`cols` strings, each may be NULL), and a label
 * left of each row (`rows` strings). The picture widens to fit the title. */
typedef struct {
  const char *title;
  const char *const *row_labels;
  const char *const *col_labels;
  const char *col_title;
} qdm_grid_text;
int qdm_png_grid_text(const char *path, const float *img, int n, int h, int w, int rows, int cols, int scale,
                      const qdm_grid_text *text);
/* Write any cairo image surface (passed as void * so this header needs no
 * cairo.h) to a PNG, atomically. For pictures drawn elsewhere (Bloch spheres). */
int qdm_png_write_surface(const char *path, void *cairo_surface);
/* Line plot: ns series of (x, y) with np points each; log_y for log scale.
 * x may be NULL (then 1..np); non-finite points, and y <= 0 when log_y, are skipped. */
typedef struct {
  const char *label;
  const double *x, *y;
  int np;
} qdm_series;
int qdm_plot_lines(const char *path, const char *title, const char *xlabel, const char *ylabel,
                   const qdm_series *s, int ns, int log_y);
/* One line plot of a figure: what qdm_plot_lines takes, as a struct (the
 * strings may be NULL; the series are the caller's). */
typedef struct {
  const char *title, *xlabel, *ylabel;
  const qdm_series *s;
  int ns;
  int log_y;
} qdm_panel;
/* A figure of npanels line plots, each drawn as qdm_plot_lines draws it
 * (800x500 pixels), row by row in a grid of `cols` columns (cols > npanels:
 * one row), under an optional figure title (NULL: none). Rendered at 2x
 * up to 4 panels, at 1x beyond (a 4 x 3 grid is 2400 x 2000 pixels). */
int qdm_plot_panels(const char *path, const char *title, const qdm_panel *panels, int npanels, int cols);

/* Grouped bars: ncat categories along x (category[c] under each group, one
 * line or two split by "\n"), in
 * each group one bar per series (value[s][c], 1..6 series, legend from
 * series[s]); ref (NULL, or ref[s][c], NaN for none) is drawn as a black
 * line across its bar, named ref_label in the legend. y from 0 to ymax
 * (<= 0: the data's maximum, rounded up). Non-finite values: no bar. */
typedef struct {
  const char *title, *xlabel, *ylabel, *ref_label;
  const char *const *category;
  int ncat;
  const char *const *series;
  int nseries;
  const double *const *value, *const *ref;
  double ymax;
} qdm_bars;
int qdm_plot_bars(const char *path, const qdm_bars *b);

/* Pictures of report section 6 (qdm/metrics.h computes what they show). */
/* Bloch ball with axes, equator, labelled |0>, |1>, and a point per (x, y,
 * z) triple (npts points): points on the sphere are pure, inside mixed. */
int qdm_plot_bloch(const char *path, const double *xyz, int npts, const char *title);
/* Histogram of P_pqc (bars) over the Haar bin probabilities (curve). */
int qdm_plot_fidelity_hist(const char *path, const double *p_pqc, const double *p_haar, int bins,
                           const char *title);

#ifdef __cplusplus
}
#endif
#endif
