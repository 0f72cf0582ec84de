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

/* Width of the widest row label at the given font size (0 without labels). */
static double label_width(const char *const *labels, int rows, double fs) {
  qdm__canvas cv;
  if (!labels || qdm__canvas_open(&cv, 1, 1, 1, "qdm_png_grid")) return 0;
  qdm__canvas_font(cv.cr, fs, 0);
  double w = 0;
  for (int r = 0; r < rows; r++)
    if (labels[r]) w = fmax(w, qdm__canvas_text_w(cv.cr, labels[r]));
  qdm__canvas_close(&cv);
  return w;
}

int qdm_png_grid(const char *path, const float *img, int n, int h, int w, int rows, int cols, int scale,
                 const char *const *row_labels) {
  if (!path || !*path) return qdm_fail(QDM_EINVAL, "qdm_png_grid: path is empty");
  if (n < 0 || (n > 0 && !img)) return qdm_fail(QDM_EINVAL, "qdm_png_grid: n = %d with img %s", n, img ? "set" : "NULL");
  if (h < 1 || w < 1) return qdm_fail(QDM_EINVAL, "qdm_png_grid: image size %dx%d (expected >= 1x1)", h, w);
  if (rows < 1 || cols < 1 || (long long)rows * cols < n)
    return qdm_fail(QDM_EINVAL, "qdm_png_grid: %d rows x %d cols cannot hold %d images", rows, cols, n);
  if (scale < 1 || scale > 256) return qdm_fail(QDM_EINVAL, "qdm_png_grid: scale = %d (expected 1..256)", scale);
  int sep = scale >= 3 ? 2 : 1;
  long long cw = (long long)w * scale, ch = (long long)h * scale;
  double fs = ch * 0.4 < 11 ? 11 : ch * 0.4 > 20 ? 20 : ch * 0.4;
  int pad = 6, margin = row_labels ? (int)ceil(label_width(row_labels, rows, fs)) + 2 * pad : 0;
  long long W = margin + cols * (cw + sep) + sep, H = rows * (ch + sep) + sep;
  if (W > QDM__CANVAS_MAX_SIDE || H > QDM__CANVAS_MAX_SIDE)
    return qdm_fail(QDM_EINVAL, "qdm_png_grid: picture would be %lldx%lld pixels (at most %d per side)", W, H, QDM__CANVAS_MAX_SIDE);

  qdm__canvas cv;
  int rc = qdm__canvas_open(&cv, (int)W, (int)H, 1, "qdm_png_grid");
  if (rc) return rc;
  cairo_surface_flush(cv.sf);
  unsigned char *data = cairo_image_surface_get_data(cv.sf);
  int stride = cairo_image_surface_get_stride(cv.sf);
  for (int k = 0; k < n; k++) {
    long long x0 = margin + sep + (k % cols) * (cw + sep), y0 = sep + (k / cols) * (ch + sep);
    const float *im = img + (size_t)k * h * w;
    for (long long y = 0; y < ch; y++) {
      uint32_t *row = (uint32_t *)(data + (y0 + y) * stride) + x0;
      const float *src = im + (y / scale) * w;
      for (long long x = 0; x < cw; x++) row[x] = gray(src[x / scale]);
    }
  }
  cairo_surface_mark_dirty(cv.sf);
  if (row_labels) {
    qdm__canvas_font(cv.cr, fs, 0);
    qdm__canvas_gray(cv.cr, 0.2);
    for (int r = 0; r < rows; r++)
      if (row_labels[r])
        qdm__canvas_text(cv.cr, row_labels[r], margin - pad, sep + r * (ch + sep) + ch / 2.0, 1, 0.5);
  }
  return qdm__canvas_write(&cv, path);
}
