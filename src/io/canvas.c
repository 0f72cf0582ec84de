/* canvas.c -- the cairo set-up and text helpers of canvas.h. */
#include "io/canvas.h"
#include <math.h>
#include "qdm/core.h"
#include "qdm/io.h"

int qdm__canvas_open(qdm__canvas *c, int w, int h, int scale, const char *who) {
  c->sf = NULL;
  c->cr = NULL;
  if (w < 1 || h < 1 || scale < 1 || (long long)w * scale > QDM__CANVAS_MAX_SIDE || (long long)h * scale > QDM__CANVAS_MAX_SIDE)
    return qdm_fail(QDM_EINVAL, "%s: picture of %dx%d pixels at %dx (each side 1..%d device pixels)", who, w, h, scale,
                    QDM__CANVAS_MAX_SIDE);
  c->sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w * scale, h * scale);
  if (cairo_surface_status(c->sf) != CAIRO_STATUS_SUCCESS) {
    cairo_surface_destroy(c->sf);
    c->sf = NULL;
    return qdm_fail(QDM_ENOMEM, "%s: cannot create a %dx%d picture", who, w * scale, h * scale);
  }
  c->cr = cairo_create(c->sf);
  c->w = w;
  c->h = h;
  cairo_scale(c->cr, scale, scale);
  cairo_set_source_rgb(c->cr, 1, 1, 1);
  cairo_paint(c->cr);
  qdm__canvas_font(c->cr, 12, 0);
  return QDM_OK;
}

void qdm__canvas_close(qdm__canvas *c) {
  if (c->cr) cairo_destroy(c->cr);
  if (c->sf) cairo_surface_destroy(c->sf);
  c->cr = NULL;
  c->sf = NULL;
}

int qdm__canvas_write(qdm__canvas *c, const char *path) {
  cairo_destroy(c->cr);
  c->cr = NULL;
  int rc = qdm_png_write_surface(path, c->sf);
  qdm__canvas_close(c);
  return rc;
}

void qdm__canvas_font(cairo_t *cr, double size, int bold) {
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

double qdm__canvas_text_w(cairo_t *cr, const char *t) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, t, &e);
  return e.x_advance;
}

void qdm__canvas_text(cairo_t *cr, const char *t, double x, double y, double ax, double ay) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, t, &e);
  cairo_move_to(cr, x - ax * e.x_advance, y - e.y_bearing - ay * e.height);
  cairo_show_text(cr, t);
}

void qdm__canvas_text_base(cairo_t *cr, const char *t, double x, double y, double ax) {
  cairo_move_to(cr, x - ax * qdm__canvas_text_w(cr, t), y);
  cairo_show_text(cr, t);
}

void qdm__canvas_text_up(cairo_t *cr, const char *t, double x, double y) {
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, -M_PI / 2);
  qdm__canvas_text(cr, t, 0, 0, 0.5, 0.5);
  cairo_restore(cr);
}

void qdm__canvas_gray(cairo_t *cr, double g) { cairo_set_source_rgb(cr, g, g, g); }
