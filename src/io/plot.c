/* plot.c -- line plots (loss curves, gradient variance against qubit count)
 * as PNG through cairo: white background, light grid at "nice" ticks
 * (1, 2, 5 x 10^k, or decades on a log axis), muted Tableau-10 colours,
 * anti-aliased 2-pixel lines, markers when there are few points, a legend
 * in the top-right corner. Drawn at 800x500 logical pixels, rendered at 2x
 * for crisp text. Non-finite points (and y <= 0 on a log axis) break the
 * line instead of ruining the range. */
#include <math.h>
#include <cairo.h>
#include <stdio.h>
#include <string.h>
#include "qdm/io.h"
#include "qdm/core.h"

#define PI_ 3.14159265358979323846
enum { PW = 800, PH = 500, HIDPI = 2, MAX_TICKS = 64 };

static const double palette[10][3] = {
    {0x4e, 0x79, 0xa7}, {0xf2, 0x8e, 0x2b}, {0xe1, 0x57, 0x59}, {0x76, 0xb7, 0xb2}, {0x59, 0xa1, 0x4f},
    {0xed, 0xc9, 0x48}, {0xb0, 0x7a, 0xa1}, {0xff, 0x9d, 0xa7}, {0x9c, 0x75, 0x5f}, {0xba, 0xb0, 0xac}};

typedef struct {
  int log;          /* values are log10(v) */
  double lo, hi;    /* in axis units (log10 for log axes) */
  int nt;           /* major ticks */
  double t[MAX_TICKS];
  char lab[MAX_TICKS][24];
} axis;

static double xval(const qdm_series *s, int i) { return s->x ? s->x[i] : i + 1; }

static int usable(double v, int log) { return isfinite(v) && (!log || v > 0); }

static double nice_step(double range, int target) {
  double raw = range / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static void fmt_linear(char *b, double v, double step) {
  if (fabs(v) < step * 1e-6) v = 0;
  double a = fabs(v);
  if (v != 0 && (a >= 1e5 || a < 1e-4)) snprintf(b, 24, "%.3g", v);
  else snprintf(b, 24, "%.*f", step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9), v);
}

/* Range over usable points, widened to nice tick positions. */
static void make_axis(axis *a, const qdm_series *s, int ns, int want_y, int log, double pad) {
  double mn = INFINITY, mx = -INFINITY;
  for (int k = 0; k < ns; k++)
    for (int i = 0; i < s[k].np; i++) {
      double x = xval(&s[k], i), y = s[k].y[i];
      if (!usable(x, 0) || !usable(y, want_y && log)) continue;
      double v = want_y ? y : x;
      if (log) v = log10(v);
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
  a->log = log;
  a->nt = 0;
  if (!(mn <= mx)) { mn = log ? -1 : 0; mx = log ? 0 : 1; }
  if (log) {
    a->lo = floor(mn);
    a->hi = ceil(mx);
    if (a->hi <= a->lo) a->hi = a->lo + 1;
    int every = (int)ceil((a->hi - a->lo) / 8);
    for (double k = a->lo; k <= a->hi + 1e-9 && a->nt < MAX_TICKS; k += every) {
      a->t[a->nt] = k;
      int e = (int)k;
      if (e >= -4 && e <= 4) snprintf(a->lab[a->nt], 24, "%g", pow(10, e));
      else snprintf(a->lab[a->nt], 24, "1e%d", e);
      a->nt++;
    }
    return;
  }
  if (mx == mn) {
    double d = mn != 0 ? fabs(mn) * 0.1 : 1;
    mn -= d;
    mx += d;
  }
  double r = mx - mn;
  mn -= pad * r;
  mx += pad * r;
  double step = nice_step(mx - mn, 5);
  a->lo = floor(mn / step + 1e-9) * step;
  a->hi = ceil(mx / step - 1e-9) * step;
  for (int i = 0; a->nt < MAX_TICKS; i++) {
    double v = a->lo + i * step;
    if (v > a->hi + step * 1e-6) break;
    a->t[a->nt] = v;
    fmt_linear(a->lab[a->nt], v, step);
    a->nt++;
  }
}

static double map(const axis *a, double v, double p0, double p1) {
  return p0 + (v - a->lo) / (a->hi - a->lo) * (p1 - p0);
}

static void font(cairo_t *cr, double size, int bold) {
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

static double text_w(cairo_t *cr, const char *t) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, t, &e);
  return e.x_advance;
}

/* Text anchored at (x, y): ax, ay in {0, 0.5, 1} pick left/centre/right and
 * top/middle/bottom of the ink box. */
static void text_at(cairo_t *cr, const char *t, double x, double y, double ax, double ay) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, t, &e);
  cairo_move_to(cr, x - ax * e.x_advance, y - e.y_bearing - ay * e.height);
  cairo_show_text(cr, t);
}

static void gray(cairo_t *cr, double g) { cairo_set_source_rgb(cr, g, g, g); }

/* The line (clipped to the plot area by the caller) or, when there are at
 * most 30 points, the markers (not clipped, so points on the frame stay round). */
static void draw_series(cairo_t *cr, const qdm_series *s, const axis *ax, const axis *ay, double L, double R,
                        double T, double B, int k, int markers) {
  const double *c = palette[k % 10];
  cairo_set_source_rgb(cr, c[0] / 255, c[1] / 255, c[2] / 255);
  cairo_set_line_width(cr, 2);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
  if (markers) {
    for (int i = 0; s->np <= 30 && i < s->np; i++) {
      double x = xval(s, i), y = s->y[i];
      if (!usable(x, 0) || !usable(y, ay->log)) continue;
      double px = map(ax, x, L, R), py = map(ay, ay->log ? log10(y) : y, B, T);
      if (px < L - 1 || px > R + 1 || py < T - 1 || py > B + 1) continue;
      cairo_new_sub_path(cr);
      cairo_arc(cr, px, py, 3.2, 0, 2 * PI_);
    }
    cairo_fill(cr);
    return;
  }
  int pen = 0;
  for (int i = 0; i < s->np; i++) {
    double x = xval(s, i), y = s->y[i];
    if (!usable(x, 0) || !usable(y, ay->log)) { pen = 0; continue; }
    double px = map(ax, x, L, R), py = map(ay, ay->log ? log10(y) : y, B, T);
    if (pen) cairo_line_to(cr, px, py);
    else cairo_move_to(cr, px, py);
    pen = 1;
  }
  cairo_stroke(cr);
}

static void draw_legend(cairo_t *cr, const qdm_series *s, int ns, double R, double T) {
  int nl = 0;
  double w = 0;
  font(cr, 12, 0);
  for (int k = 0; k < ns; k++)
    if (s[k].label && *s[k].label) {
      nl++;
      double tw = text_w(cr, s[k].label);
      if (tw > w) w = tw;
    }
  if (!nl) return;
  double bw = 10 + 24 + 8 + w + 10, bh = 8 + 18 * nl + 4, x0 = R - 10 - bw, y0 = T + 10;
  cairo_rectangle(cr, x0, y0, bw, bh);
  cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
  cairo_fill_preserve(cr);
  gray(cr, 0.8);
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
  int row = 0;
  for (int k = 0; k < ns; k++) {
    if (!s[k].label || !*s[k].label) continue;
    double yc = y0 + 8 + 18 * row + 9;
    const double *c = palette[k % 10];
    cairo_set_source_rgb(cr, c[0] / 255, c[1] / 255, c[2] / 255);
    cairo_set_line_width(cr, 2);
    cairo_move_to(cr, x0 + 10, yc);
    cairo_line_to(cr, x0 + 34, yc);
    cairo_stroke(cr);
    gray(cr, 0.2);
    text_at(cr, s[k].label, x0 + 42, yc, 0, 0.5);
    row++;
  }
}

static void draw(cairo_t *cr, const char *title, const char *xlabel, const char *ylabel, const qdm_series *s,
                 int ns, const axis *ax, const axis *ay) {
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  font(cr, 12, 0);
  double tw = 0;
  for (int i = 0; i < ay->nt; i++) {
    double w = text_w(cr, ay->lab[i]);
    if (w > tw) tw = w;
  }
  double L = round(16 + (ylabel ? 22 : 0) + tw + 10), R = PW - 28, T = title ? 48 : 22, B = PH - (xlabel ? 58 : 36);

  /* grid: major lines, and the 2..9 minor lines of each decade on log axes */
  cairo_set_line_width(cr, 1);
  for (int i = 0; i < ax->nt; i++) {
    double x = round(map(ax, ax->t[i], L, R));
    cairo_move_to(cr, x, T);
    cairo_line_to(cr, x, B);
  }
  for (int i = 0; i < ay->nt; i++) {
    double y = round(map(ay, ay->t[i], B, T));
    cairo_move_to(cr, L, y);
    cairo_line_to(cr, R, y);
  }
  gray(cr, 0.9);
  cairo_stroke(cr);
  if (ay->log && ay->hi - ay->lo <= 6) {
    for (double d = ay->lo; d < ay->hi; d++)
      for (int m = 2; m <= 9; m++) {
        double y = map(ay, d + log10(m), B, T);
        cairo_move_to(cr, L, y);
        cairo_line_to(cr, R, y);
      }
    gray(cr, 0.96);
    cairo_stroke(cr);
  }

  cairo_save(cr);
  cairo_rectangle(cr, L, T, R - L, B - T);
  cairo_clip(cr);
  for (int k = 0; k < ns; k++) draw_series(cr, &s[k], ax, ay, L, R, T, B, k, 0);
  cairo_restore(cr);

  /* spines, ticks, tick labels */
  gray(cr, 0.27);
  cairo_set_line_width(cr, 1);
  cairo_move_to(cr, L, T);
  cairo_line_to(cr, L, B);
  cairo_line_to(cr, R, B);
  for (int i = 0; i < ax->nt; i++) {
    double x = round(map(ax, ax->t[i], L, R));
    cairo_move_to(cr, x, B);
    cairo_line_to(cr, x, B + 5);
  }
  for (int i = 0; i < ay->nt; i++) {
    double y = round(map(ay, ay->t[i], B, T));
    cairo_move_to(cr, L, y);
    cairo_line_to(cr, L - 5, y);
  }
  cairo_stroke(cr);
  gray(cr, 0.25);
  for (int i = 0; i < ax->nt; i++) text_at(cr, ax->lab[i], map(ax, ax->t[i], L, R), B + 9, 0.5, 0);
  for (int i = 0; i < ay->nt; i++) text_at(cr, ay->lab[i], L - 9, map(ay, ay->t[i], B, T), 1, 0.5);

  for (int k = 0; k < ns; k++) draw_series(cr, &s[k], ax, ay, L, R, T, B, k, 1);

  gray(cr, 0.15);
  font(cr, 14, 0);
  if (xlabel) text_at(cr, xlabel, (L + R) / 2, PH - 22, 0.5, 0.5);
  if (ylabel) {
    cairo_save(cr);
    cairo_translate(cr, 18, (T + B) / 2);
    cairo_rotate(cr, -PI_ / 2);
    text_at(cr, ylabel, 0, 0, 0.5, 0.5);
    cairo_restore(cr);
  }
  if (title) {
    font(cr, 16, 1);
    text_at(cr, title, (L + R) / 2, 22, 0.5, 0.5);
  }
  draw_legend(cr, s, ns, R, T);
}

int qdm_plot_lines(const char *path, const char *title, const char *xlabel, const char *ylabel, const qdm_series *s,
                   int ns, int log_y) {
  if (!path || !*path) return qdm_fail(QDM_EINVAL, "qdm_plot_lines: path is empty");
  if (ns < 0 || (ns > 0 && !s)) return qdm_fail(QDM_EINVAL, "qdm_plot_lines: ns = %d with s %s", ns, s ? "set" : "NULL");
  for (int k = 0; k < ns; k++)
    if (s[k].np < 0 || (s[k].np > 0 && !s[k].y))
      return qdm_fail(QDM_EINVAL, "qdm_plot_lines: series %d has np = %d and y %s (x may be NULL: 1..np)", k, s[k].np,
                      s[k].y ? "set" : "NULL");
  axis ax, ay;
  make_axis(&ax, s, ns, 0, 0, 0);
  make_axis(&ay, s, ns, 1, log_y != 0, 0.03);
  cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, PW * HIDPI, PH * HIDPI);
  if (cairo_surface_status(sf) != CAIRO_STATUS_SUCCESS) {
    cairo_surface_destroy(sf);
    return qdm_fail(QDM_ENOMEM, "qdm_plot_lines: cannot create the picture");
  }
  cairo_t *cr = cairo_create(sf);
  cairo_scale(cr, HIDPI, HIDPI);
  draw(cr, title, xlabel, ylabel, s, ns, &ax, &ay);
  cairo_destroy(cr);
  int rc = qdm_png_write_surface(path, sf);
  cairo_surface_destroy(sf);
  return rc;
}
