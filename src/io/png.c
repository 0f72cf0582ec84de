/* png.c -- grids of grayscale images as PNG through cairo. Pixels are
 * written straight into the image surface (nearest-neighbour upscaling, so
 * a 16x16 sample stays a crisp 16x16 mosaic), cells are separated by thin
 * white gaps, and optional row labels are drawn with cairo's toy text API. */
#include <math.h>
#include <cairo.h>
#include <string.h>
#include "qdm/io.h"
#include "qdm/core.h"

#define MAX_SIDE 32767 /* cairo's largest image surface */

/* cairo hands over PNG bytes in pieces; they go into the atomic temp file. */
static cairo_status_t to_file(void *closure, const unsigned char *data, unsigned int len) {
  return fwrite(data, 1, len, (FILE *)closure) == len ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

int qdm_png_write_surface(const char *path, void *surface) {
  cairo_surface_t *s = surface;
  if (!path || !*path || !s) return qdm_fail(QDM_EINVAL, "qdm_png_write_surface: path and surface must be given");
  qdm_atomic a;
  int rc = qdm_atomic_open(&a, path);
  if (rc) return rc;
  cairo_status_t st = cairo_surface_write_to_png_stream(s, to_file, a.f);
  if (st != CAIRO_STATUS_SUCCESS) {
    qdm_atomic_abort(&a);
    return qdm_fail(QDM_EIO, "cannot write %s: %s", path, cairo_status_to_string(st));
  }
  return qdm_atomic_commit(&a);
}

static unsigned gray(float v) {
  if (!(v > 0)) v = 0; /* NaN too */
  if (v > 1) v = 1;
  unsigned g = (unsigned)lrintf(v * 255.0f);
  return 0xff000000u | g << 16 | g << 8 | g;
}

static void set_font(cairo_t *cr, double size) {
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

/* Width of the widest row label at the given font size (0 without labels). */
static double label_width(const char *const *labels, int rows, double fs) {
  if (!labels) return 0;
  cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
  cairo_t *cr = cairo_create(s);
  set_font(cr, fs);
  double w = 0;
  for (int r = 0; r < rows; r++) {
    if (!labels[r]) continue;
    cairo_text_extents_t e;
    cairo_text_extents(cr, labels[r], &e);
    if (e.x_advance > w) w = e.x_advance;
  }
  cairo_destroy(cr);
  cairo_surface_destroy(s);
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
  if (W > MAX_SIDE || H > MAX_SIDE)
    return qdm_fail(QDM_EINVAL, "qdm_png_grid: picture would be %lldx%lld pixels (at most %d per side)", W, H, MAX_SIDE);

  cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)W, (int)H);
  if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
    cairo_surface_destroy(s);
    return qdm_fail(QDM_ENOMEM, "qdm_png_grid: cannot create a %lldx%lld surface", W, H);
  }
  cairo_t *cr = cairo_create(s);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_surface_flush(s);
  unsigned char *data = cairo_image_surface_get_data(s);
  int stride = cairo_image_surface_get_stride(s);
  for (int k = 0; k < n; k++) {
    long long x0 = margin + sep + (k % cols) * (cw + sep), y0 = sep + (k / cols) * (ch + sep);
    const float *im = img + (size_t)k * h * w;
    for (long long y = 0; y < ch; y++) {
      uint32_t *row = (uint32_t *)(data + (y0 + y) * stride) + x0;
      const float *src = im + (y / scale) * w;
      for (long long x = 0; x < cw; x++) row[x] = gray(src[x / scale]);
    }
  }
  cairo_surface_mark_dirty(s);
  if (row_labels) {
    set_font(cr, fs);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    for (int r = 0; r < rows; r++) {
      if (!row_labels[r]) continue;
      cairo_text_extents_t e;
      cairo_text_extents(cr, row_labels[r], &e);
      double yc = sep + r * (ch + sep) + ch / 2.0;
      cairo_move_to(cr, margin - pad - e.x_advance, yc - (e.y_bearing + e.height / 2));
      cairo_show_text(cr, row_labels[r]);
    }
  }
  cairo_destroy(cr);
  int rc = qdm_png_write_surface(path, s);
  cairo_surface_destroy(s);
  return rc;
}
