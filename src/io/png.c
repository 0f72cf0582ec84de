/* png.c -- grids of grayscale images as PNG through cairo. Pixels are
 * written straight into the image surface (nearest-neighbour upscaling, so
 * a 16x16 sample stays a crisp 16x16 mosaic), cells are separated by thin
 * white gaps, and optional row labels are drawn with cairo's toy text API. */
#include <math.h>
#include <cairo.h>
#include <errno.h>
#include <string.h>
#include "io/canvas.h"
#include "qdm/io.h"
#include "qdm/core.h"

/* cairo hands over PNG bytes in pieces; they go into the atomic temp file
 * (and the reason of a failed write is kept: cairo's own says only that). */
typedef struct {
  FILE *f;
  int err;
} png_sink;

static cairo_status_t to_file(void *closure, const unsigned char *data, unsigned int len) {
  png_sink *s = closure;
  if (fwrite(data, 1, len, s->f) == len) return CAIRO_STATUS_SUCCESS;
  if (!s->err) s->err = errno ? errno : EIO;
  return CAIRO_STATUS_WRITE_ERROR;
}

int qdm_png_write_surface(const char *path, void *surface) {
  cairo_surface_t *s = surface;
  if (!path || !*path || !s) return qdm_fail(QDM_EINVAL, "qdm_png_write_surface: path and surface must be given");
  qdm_atomic a;
  int rc = qdm_atomic_open(&a, path);
  if (rc) return rc;
  png_sink sink = {a.f, 0};
  errno = 0;
  cairo_status_t st = cairo_surface_write_to_png_stream(s, to_file, &sink);
  if (st != CAIRO_STATUS_SUCCESS) {
    qdm_atomic_abort(&a);
    return qdm_fail(QDM_EIO, "cannot write %s: %s", path, sink.err ? strerror(sink.err) : cairo_status_to_string(st));
  }
  return qdm_atomic_commit(&a);
}

static unsigned gray(float v) {
  if (!(v > 0)) v = 0; /* NaN too */
  if (v > 1) v = 1;
  unsigned g = (unsigned)lrintf(v * 255.0f);
  return 0xff000000u | g << 16 | g << 8 | g;
}

/* Widest of n strings (NULL entries skipped) at font size fs, bold or not. */
static double widest(const char *const *t, int n, double fs, int bold) {
  qdm__canvas cv;
  if (!t || qdm__canvas_open(&cv, 1, 1, 1, "qdm_png_grid")) return 0;
  qdm__canvas_font(cv.cr, fs, bold);
  double w = 0;
  for (int r = 0; r < n; r++)
    if (t[r]) w = fmax(w, qdm__canvas_text_w(cv.cr, t[r]));
  qdm__canvas_close(&cv);
  return w;
}

/* The title split at '\n' into at most 4 lines (the first drawn bold). */
enum { TITLE_LINES = 4, TITLE_LEN = 256 };
static int title_lines(const char *title, char lines[TITLE_LINES][TITLE_LEN], const char *ptr[TITLE_LINES]) {
  int nl = 0;
  for (const char *s = title; s && *s && nl < TITLE_LINES; nl++) {
    const char *e = strchr(s, '\n');
    size_t k = e ? (size_t)(e - s) : strlen(s);
    snprintf(lines[nl], TITLE_LEN, "%.*s", (int)k, s);
    ptr[nl] = lines[nl];
    s = e ? e + 1 : s + k;
  }
  return nl;
}

/* Layout of a labelled grid, in pixels. */
typedef struct {
  int sep, pad, margin, top, ntl;
  long long cw, ch, W, H, gridw;
  double fs, tfs, cfs;
} grid_layout;

static void grid_layout_make(grid_layout *g, int h, int w, int rows, int cols, int scale, const qdm_grid_text *tx,
                             const char *tl[TITLE_LINES]) {
  g->sep = scale >= 3 ? 2 : 1;
  g->cw = (long long)w * scale;
  g->ch = (long long)h * scale;
  g->fs = g->ch * 0.4 < 11 ? 11 : g->ch * 0.4 > 20 ? 20 : g->ch * 0.4;
  g->tfs = 15;
  g->cfs = g->cw * 0.3 < 10 ? 10 : g->cw * 0.3 > 13 ? 13 : g->cw * 0.3;
  g->pad = 6;
  g->margin = tx->row_labels ? (int)ceil(widest(tx->row_labels, rows, g->fs, 0)) + 2 * g->pad : 0;
  g->gridw = cols * (g->cw + g->sep) + g->sep;
  double tw = 0;
  for (int i = 0; i < g->ntl; i++) tw = fmax(tw, widest(&tl[i], 1, g->tfs, i == 0));
  if (tx->col_title) tw = fmax(tw, widest(&tx->col_title, 1, g->cfs, 0));
  g->top = (g->ntl ? 8 + (int)(g->ntl * (g->tfs + 6)) : 0) + (tx->col_title ? (int)g->cfs + 8 : 0) +
           (tx->col_labels ? (int)g->cfs + 8 : 0);
  g->W = g->margin + g->gridw;
  if (tw + 2 * g->pad > g->W) g->W = (long long)ceil(tw) + 2 * g->pad;
  g->H = g->top + rows * (g->ch + g->sep) + g->sep;
}

/* Title lines, column title and column labels above the grid. */
static void grid_text(cairo_t *cr, const grid_layout *g, const qdm_grid_text *tx, const char *tl[TITLE_LINES], int cols) {
  double y = 6, x0 = g->margin;
  qdm__canvas_gray(cr, 0.1);
  for (int i = 0; i < g->ntl; i++) {
    qdm__canvas_font(cr, g->tfs, i == 0);
    qdm__canvas_text_base(cr, tl[i], g->pad, y + g->tfs, 0);
    y += g->tfs + 6;
  }
  if (g->ntl) y += 2;
  qdm__canvas_font(cr, g->cfs, 0);
  qdm__canvas_gray(cr, 0.25);
  if (tx->col_title) {
    qdm__canvas_text_base(cr, tx->col_title, fmax(g->pad, x0 + g->sep), y + g->cfs, 0);
    y += g->cfs + 8;
  }
  for (int c = 0; tx->col_labels && c < cols; c++)
    if (tx->col_labels[c])
      qdm__canvas_text_base(cr, tx->col_labels[c], x0 + g->sep + c * (g->cw + g->sep) + g->cw / 2.0, y + g->cfs, 0.5);
}

int qdm_png_grid_text(const char *path, const float *img, int n, int h, int w, int rows, int cols, int scale,
                      const qdm_grid_text *tx) {
  if (!path || !*path) return qdm_fail(QDM_EINVAL, "qdm_png_grid: path is empty");
  if (n < 0 || (n > 0 && !img)) return qdm_fail(QDM_EINVAL, "qdm_png_grid: n = %d with img %s", n, img ? "set" : "NULL");
  if (h < 1 || w < 1) return qdm_fail(QDM_EINVAL, "qdm_png_grid: image size %dx%d (expected >= 1x1)", h, w);
  if (rows < 1 || cols < 1 || (long long)rows * cols < n)
    return qdm_fail(QDM_EINVAL, "qdm_png_grid: %d rows x %d cols cannot hold %d images", rows, cols, n);
  if (scale < 1 || scale > 256) return qdm_fail(QDM_EINVAL, "qdm_png_grid: scale = %d (expected 1..256)", scale);
  qdm_grid_text none = {0};
  if (!tx) tx = &none;
  char lines[TITLE_LINES][TITLE_LEN];
  const char *tl[TITLE_LINES];
  grid_layout g;
  g.ntl = title_lines(tx->title, lines, tl);
  grid_layout_make(&g, h, w, rows, cols, scale, tx, tl);
  if (g.W > QDM__CANVAS_MAX_SIDE || g.H > QDM__CANVAS_MAX_SIDE)
    return qdm_fail(QDM_EINVAL, "qdm_png_grid: picture would be %lldx%lld pixels (at most %d per side)", g.W, g.H,
                    QDM__CANVAS_MAX_SIDE);
  qdm__canvas cv;
  int rc = qdm__canvas_open(&cv, (int)g.W, (int)g.H, 1, "qdm_png_grid");
  if (rc) return rc;
  cairo_surface_flush(cv.sf);
  unsigned char *data = cairo_image_surface_get_data(cv.sf);
  int stride = cairo_image_surface_get_stride(cv.sf);
  for (int k = 0; k < n; k++) {
    long long x0 = g.margin + g.sep + (k % cols) * (g.cw + g.sep), y0 = g.top + g.sep + (k / cols) * (g.ch + g.sep);
    const float *im = img + (size_t)k * h * w;
    for (long long y = 0; y < g.ch; y++) {
      uint32_t *row = (uint32_t *)(data + (y0 + y) * stride) + x0;
      const float *src = im + (y / scale) * w;
      for (long long x = 0; x < g.cw; x++) row[x] = gray(src[x / scale]);
    }
  }
  cairo_surface_mark_dirty(cv.sf);
  grid_text(cv.cr, &g, tx, tl, cols);
  if (tx->row_labels) {
    qdm__canvas_font(cv.cr, g.fs, 0);
    qdm__canvas_gray(cv.cr, 0.2);
    for (int r = 0; r < rows; r++)
      if (tx->row_labels[r])
        qdm__canvas_text(cv.cr, tx->row_labels[r], g.margin - g.pad, g.top + g.sep + r * (g.ch + g.sep) + g.ch / 2.0, 1,
                         0.5);
  }
  return qdm__canvas_write(&cv, path);
}

int qdm_png_grid(const char *path, const float *img, int n, int h, int w, int rows, int cols, int scale,
                 const char *const *row_labels) {
  qdm_grid_text tx = {NULL, row_labels, NULL, NULL};
  return qdm_png_grid_text(path, img, n, h, w, rows, cols, scale, &tx);
}
