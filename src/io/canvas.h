/* canvas.h -- io's one cairo set-up, shared by every picture it draws
 * (plots, Bloch balls, histograms, image grids): an RGB image surface of
 * w x h logical pixels rendered at `scale` device pixels each, painted
 * white, with the sans-serif face selected; text helpers; and the atomic
 * PNG write that ends it. Internal to src/io. */
#ifndef QDM_IO_CANVAS_H
#define QDM_IO_CANVAS_H
#include <cairo.h>

enum { QDM__CANVAS_MAX_SIDE = 32767 }; /* cairo's largest image surface, device pixels */

typedef struct {
  cairo_surface_t *sf;
  cairo_t *cr; /* scaled: draw in logical pixels */
  int w, h;    /* logical size */
} qdm__canvas;

/* QDM_OK, or QDM_EINVAL / QDM_ENOMEM naming `who` if the surface
 * (w * scale x h * scale device pixels) cannot be made. */
int qdm__canvas_open(qdm__canvas *c, int w, int h, int scale, const char *who);
/* Writes the PNG to path (atomically) and frees the canvas. */
int qdm__canvas_write(qdm__canvas *c, const char *path);
/* Frees the canvas without writing. */
void qdm__canvas_close(qdm__canvas *c);

/* Font size (logical pixels) and weight of the sans-serif face. */
void qdm__canvas_font(cairo_t *cr, double size, int bold);
/* Advance width of t at the current font. */
double qdm__canvas_text_w(cairo_t *cr, const char *t);
/* Text anchored at (x, y): ax, ay in [0, 1] pick left .. right of the
 * advance width and top .. bottom of the ink box. */
void qdm__canvas_text(cairo_t *cr, const char *t, double x, double y, double ax, double ay);
/* Text with its baseline at y, ax as above. */
void qdm__canvas_text_base(cairo_t *cr, const char *t, double x, double y, double ax);
/* Text rotated by -90 degrees (reading upwards), centred on (x, y). */
void qdm__canvas_text_up(cairo_t *cr, const char *t, double x, double y);
void qdm__canvas_gray(cairo_t *cr, double g);

#endif
