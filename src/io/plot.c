/* plot.c -- line plots (loss curves, gradient variance against qubit count)
 * as PNG through cairo: white background, light grid at "nice" ticks
 * (1, 2, 5 x 10^k, or decades on a log axis), muted Tableau-10 colours,
 * anti-aliased 2-pixel lines, markers when there are few points, a legend
 * in the top-right corner. A panel is 800x500 logical pixels; a figure is
 * a grid of panels under an optional title, rendered at 2x for crisp text
 * (1x past 4 panels, so a large grid stays a few MB). Non-finite points
 * (and y <= 0 on a log axis) break the line instead of ruining the range. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "io/canvas.h"
#include "qdm/io.h"
#include "qdm/core.h"

#define PI_ 3.14159265358979323846
enum { PW = 800, PH = 500, HIDPI = 2, MAX_TICKS = 64, FIG_TITLE_H = 44 };

static const double palette[10][3] = {
    {0x4e, 0x79, 0xa7}, {0xf2, 0x8e, 0x2b}, {0xe1, 0x57, 0x59}, {0x76, 0xb7, 0xb2}, {0x59, 0xa1, 0x4f},
    {0xed, 0xc9, 0x48}, {0xb0, 0x7a, 0xa1}, {0xff, 0x9d, 0xa7}, {0x9c, 0x75, 0x5f}, {0xba, 0xb0, 0xac}};

typedef struct {
  int log;          /* values are log10(v) */
  double lo, hi;    /* in axis units (log10 for log axes) */
  int nt;           /* major ticks */
  double t[MAX_TICKS];
  char lab[MAX_TICKS][24];
  unsigned char minor[MAX_TICKS]; /* a labelled tick between decades (log axes) */
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

/* 1 if every usable value on this axis is a whole number */
static int integers(const qdm_series *s, int ns, int want_y) {
  for (int k = 0; k < ns; k++)
    for (int i = 0; i < s[k].np; i++) {
      double v = want_y ? s[k].y[i] : xval(&s[k], i);
      if (isfinite(v) && v != floor(v)) return 0;
    }
  return 1;
}

static void log_label(char *b, double v) {
  int e = (int)floor(log10(v) + 1e-9);
  if (e >= -4 && e <= 4) snprintf(b, 24, "%g", v);
  else snprintf(b, 24, "%ge%d", v / pow(10, e), e);
}

/* Decades lo..hi (log10 units); over at most 5 decades the 2 and 5 of each
 * are labelled too (minor), and within 1 decade 2..9 are, so an axis over
 * 0.02..0.07 still says where 0.03 is. */
static void log_ticks(axis *a, double mn, double mx) {
  a->lo = floor(mn + 1e-9);
  a->hi = ceil(mx - 1e-9);
  if (a->hi <= a->lo) a->hi = a->lo + 1;
  int span = (int)(a->hi - a->lo), every = (int)ceil(span / 8.0);
  static const int m25[] = {2, 5}, m29[] = {2, 3, 4, 5, 6, 7, 8, 9};
  const int *mids = span <= 1 ? m29 : m25;
  int nm = span <= 1 ? 8 : span <= 5 ? 2 : 0;
  for (double k = a->lo; k <= a->hi + 1e-9 && a->nt < MAX_TICKS; k += every) {
    a->t[a->nt] = k;
    log_label(a->lab[a->nt++], pow(10, k));
    for (int j = 0; j < nm && k < a->hi - 1e-9 && a->nt < MAX_TICKS; j++) {
      a->t[a->nt] = k + log10(mids[j]);
      a->minor[a->nt] = 1;
      log_label(a->lab[a->nt++], mids[j] * pow(10, k));
    }
  }
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
  memset(a->minor, 0, sizeof a->minor);
  if (!(mn <= mx)) { mn = log ? -1 : 0; mx = log ? 0 : 1; }
  if (log) {
    log_ticks(a, mn, mx);
    return;
  }
  if (mx == mn) {
    double d = mn != 0 ? fabs(mn) * 0.1 : 1;
    mn -= d;
    mx += d;
  }
  /* values in [0, 1] (fidelities, purities, accuracies) keep the axis
   * inside [0, 1]: no tick at -0.2 or 1.2 */
  double r = mx - mn, lo0 = mn, hi0 = mx;
  mn -= pad * r;
  mx += pad * r;
  if (lo0 >= 0 && mn < 0) mn = 0;
  if (hi0 <= 1 && lo0 >= 0 && mx > 1) mx = 1;
  double step = nice_step(mx - mn, 5);
  if (integers(s, ns, want_y) && step < 1) step = 1; /* epochs, steps, qubits: no tick at 2.5 */
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

/* The plot area inside a panel, in the panel's logical pixels. */
typedef struct {
  double L, R, T, B;
} box;

static void set_colour(cairo_t *cr, int k) {
  const double *c = palette[k % 10];
  cairo_set_source_rgb(cr, c[0] / 255, c[1] / 255, c[2] / 255);
}

/* Series k's look, so that curves on top of each other stay apart: its
 * colour, a dash pattern (solid, dashed, dotted, dash-dot, cycling with the
 * colours out of step) and a marker shape (circle, square, triangle,
 * diamond). */
static void set_dash(cairo_t *cr, int k) {
  static const double dash[4][4] = {{0}, {9, 5}, {2, 4}, {9, 4, 2, 4}};
  static const int nd[4] = {0, 2, 2, 4};
  int d = (k + k / 10) % 4;
  cairo_set_dash(cr, dash[d], nd[d], 0);
}

static void marker(cairo_t *cr, int k, double x, double y) {
  double r = 3.6;
  cairo_new_sub_path(cr);
  switch (k % 4) {
  case 0: cairo_arc(cr, x, y, r, 0, 2 * PI_); break;
  case 1: cairo_rectangle(cr, x - r * 0.9, y - r * 0.9, 1.8 * r, 1.8 * r); break;
  case 2:
    cairo_move_to(cr, x, y - 1.25 * r);
    cairo_line_to(cr, x + 1.1 * r, y + 0.75 * r);
    cairo_line_to(cr, x - 1.1 * r, y + 0.75 * r);
    cairo_close_path(cr);
    break;
  default:
    cairo_move_to(cr, x, y - 1.3 * r);
    cairo_line_to(cr, x + 1.1 * r, y);
    cairo_line_to(cr, x, y + 1.3 * r);
    cairo_line_to(cr, x - 1.1 * r, y);
    cairo_close_path(cr);
  }
}

/* The line (clipped to the plot area by the caller) or, when there are at
 * most 30 points, the markers (not clipped, so points on the frame stay
 * whole), white-edged so that a marker over another stays readable. */
static void draw_series(cairo_t *cr, const qdm_series *s, const axis *ax, const axis *ay, const box *b, int k,
                        int markers) {
  set_colour(cr, k);
  cairo_set_line_width(cr, 2);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
  if (markers) {
    cairo_set_dash(cr, NULL, 0, 0);
    for (int i = 0; s->np <= 30 && i < s->np; i++) {
      double x = xval(s, i), y = s->y[i];
      if (!usable(x, 0) || !usable(y, ay->log)) continue;
      double px = map(ax, x, b->L, b->R), py = map(ay, ay->log ? log10(y) : y, b->B, b->T);
      if (px < b->L - 1 || px > b->R + 1 || py < b->T - 1 || py > b->B + 1) continue;
      marker(cr, k, px, py);
    }
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_set_line_width(cr, 0.8);
    cairo_stroke(cr);
    return;
  }
  set_dash(cr, k);
  int pen = 0;
  for (int i = 0; i < s->np; i++) {
    double x = xval(s, i), y = s->y[i];
    if (!usable(x, 0) || !usable(y, ay->log)) { pen = 0; continue; }
    double px = map(ax, x, b->L, b->R), py = map(ay, ay->log ? log10(y) : y, b->B, b->T);
    if (pen) cairo_line_to(cr, px, py);
    else cairo_move_to(cr, px, py);
    pen = 1;
  }
  cairo_stroke(cr);
  cairo_set_dash(cr, NULL, 0, 0);
}

static void draw_legend(cairo_t *cr, const qdm_series *s, int ns, double R, double T) {
  int nl = 0;
  double w = 0;
  qdm__canvas_font(cr, 12, 0);
  for (int k = 0; k < ns; k++)
    if (s[k].label && *s[k].label) {
      nl++;
      double tw = qdm__canvas_text_w(cr, s[k].label);
      if (tw > w) w = tw;
    }
  if (!nl) return;
  double bw = 10 + 34 + 8 + w + 10, bh = 8 + 18 * nl + 4, x0 = R - 10 - bw, y0 = T + 10;
  cairo_rectangle(cr, x0, y0, bw, bh);
  cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
  cairo_fill_preserve(cr);
  qdm__canvas_gray(cr, 0.8);
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
  int row = 0;
  for (int k = 0; k < ns; k++) {
    if (!s[k].label || !*s[k].label) continue;
    double yc = y0 + 8 + 18 * row + 9;
    set_colour(cr, k);
    cairo_set_line_width(cr, 2);
    set_dash(cr, k);
    cairo_move_to(cr, x0 + 10, yc);
    cairo_line_to(cr, x0 + 44, yc);
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    if (s[k].np <= 30) {
      marker(cr, k, x0 + 27, yc);
      cairo_fill(cr);
    }
    qdm__canvas_gray(cr, 0.2);
    qdm__canvas_text(cr, s[k].label, x0 + 52, yc, 0, 0.5);
    row++;
  }
}

/* Grid: major lines, and the 2..9 minor lines of each decade on log axes. */
static void draw_grid(cairo_t *cr, const axis *ax, const axis *ay, const box *b) {
  cairo_set_line_width(cr, 1);
  for (int i = 0; i < ax->nt; i++) {
    double x = round(map(ax, ax->t[i], b->L, b->R));
    cairo_move_to(cr, x, b->T);
    cairo_line_to(cr, x, b->B);
  }
  for (int i = 0; i < ay->nt; i++) {
    if (ay->minor[i]) continue; /* the 2..9 lines below */
    double y = round(map(ay, ay->t[i], b->B, b->T));
    cairo_move_to(cr, b->L, y);
    cairo_line_to(cr, b->R, y);
  }
  qdm__canvas_gray(cr, 0.9);
  cairo_stroke(cr);
  if (ay->log && ay->hi - ay->lo <= 6) {
    for (double d = ay->lo; d < ay->hi; d++)
      for (int m = 2; m <= 9; m++) {
        double y = map(ay, d + log10(m), b->B, b->T);
        cairo_move_to(cr, b->L, y);
        cairo_line_to(cr, b->R, y);
      }
    qdm__canvas_gray(cr, 0.96);
    cairo_stroke(cr);
  }
}

/* Spines on the left and bottom, ticks, tick labels. */
static void draw_spines(cairo_t *cr, const axis *ax, const axis *ay, const box *b) {
  qdm__canvas_gray(cr, 0.27);
  cairo_set_line_width(cr, 1);
  cairo_move_to(cr, b->L, b->T);
  cairo_line_to(cr, b->L, b->B);
  cairo_line_to(cr, b->R, b->B);
  for (int i = 0; i < ax->nt; i++) {
    double x = round(map(ax, ax->t[i], b->L, b->R));
    cairo_move_to(cr, x, b->B);
    cairo_line_to(cr, x, b->B + 5);
  }
  for (int i = 0; i < ay->nt; i++) {
    if (ay->minor[i]) continue; /* the 2..9 lines below */
    double y = round(map(ay, ay->t[i], b->B, b->T));
    cairo_move_to(cr, b->L, y);
    cairo_line_to(cr, b->L - 5, y);
  }
  cairo_stroke(cr);
  qdm__canvas_gray(cr, 0.25);
  qdm__canvas_font(cr, 12, 0);
  for (int i = 0; i < ax->nt; i++) qdm__canvas_text(cr, ax->lab[i], map(ax, ax->t[i], b->L, b->R), b->B + 9, 0.5, 0);
  for (int i = 0; i < ay->nt; i++) {
    qdm__canvas_font(cr, ay->minor[i] ? 10 : 12, 0);
    qdm__canvas_gray(cr, ay->minor[i] ? 0.45 : 0.25);
    qdm__canvas_text(cr, ay->lab[i], b->L - 9, map(ay, ay->t[i], b->B, b->T), 1, 0.5);
  }
}

/* Bold at `size`, or smaller (down to 10) so that t fits in `width`. */
static void fit_font(cairo_t *cr, const char *t, double size, double width) {
  qdm__canvas_font(cr, size, 1);
  double w = qdm__canvas_text_w(cr, t);
  if (w > width) qdm__canvas_font(cr, fmax(10, size * width / w), 1);
}

/* One panel in the PW x PH box at the current origin. */
static void draw_panel(cairo_t *cr, const qdm_panel *p) {
  axis ax, ay;
  make_axis(&ax, p->s, p->ns, 0, 0, 0);
  make_axis(&ay, p->s, p->ns, 1, p->log_y != 0, 0.03);
  qdm__canvas_font(cr, 12, 0);
  double tw = 0;
  for (int i = 0; i < ay.nt; i++) tw = fmax(tw, qdm__canvas_text_w(cr, ay.lab[i]));
  box b = {round(16 + (p->ylabel ? 22 : 0) + tw + 10), PW - 28, p->title ? 48 : 22, PH - (p->xlabel ? 58 : 36)};
  draw_grid(cr, &ax, &ay, &b);
  cairo_save(cr);
  cairo_rectangle(cr, b.L, b.T, b.R - b.L, b.B - b.T);
  cairo_clip(cr);
  for (int k = 0; k < p->ns; k++) draw_series(cr, &p->s[k], &ax, &ay, &b, k, 0);
  cairo_restore(cr);
  draw_spines(cr, &ax, &ay, &b);
  for (int k = 0; k < p->ns; k++) draw_series(cr, &p->s[k], &ax, &ay, &b, k, 1);
  qdm__canvas_gray(cr, 0.15);
  qdm__canvas_font(cr, 14, 0);
  if (p->xlabel) qdm__canvas_text(cr, p->xlabel, (b.L + b.R) / 2, PH - 22, 0.5, 0.5);
  if (p->ylabel) qdm__canvas_text_up(cr, p->ylabel, 18, (b.T + b.B) / 2);
  if (p->title) {
    fit_font(cr, p->title, 16, PW - 40);
    double hw = qdm__canvas_text_w(cr, p->title) / 2; /* over the plot area, inside the panel */
    qdm__canvas_text(cr, p->title, fmin(fmax((b.L + b.R) / 2, 20 + hw), PW - 20 - hw), 22, 0.5, 0.5);
  }
  draw_legend(cr, p->s, p->ns, b.R, b.T);
}

/* where: "" for a single plot, "panel i, " in a figure */
static int check_panel(const qdm_panel *p, const char *where, const char *who) {
  if (p->ns < 0 || (p->ns > 0 && !p->s))
    return qdm_fail(QDM_EINVAL, "%s: %sns = %d with s %s", who, where, p->ns, p->s ? "set" : "NULL");
  for (int k = 0; k < p->ns; k++)
    if (p->s[k].np < 0 || (p->s[k].np > 0 && !p->s[k].y))
      return qdm_fail(QDM_EINVAL, "%s: %sseries %d has np = %d and y %s (x may be NULL: 1..np)", who, where, k,
                      p->s[k].np, p->s[k].y ? "set" : "NULL");
  return QDM_OK;
}

static int plot_panels(const char *who, const char *path, const char *title, const qdm_panel *p, int np, int cols) {
  if (!path || !*path) return qdm_fail(QDM_EINVAL, "%s: path is empty", who);
  if (np < 1 || !p || cols < 1)
    return qdm_fail(QDM_EINVAL, "%s: %d panels (expected >= 1, non-NULL) in %d columns (expected >= 1)", who, np, cols);
  for (int i = 0; i < np; i++) {
    char where[32] = "";
    if (np > 1) snprintf(where, sizeof where, "panel %d, ", i);
    int rc = check_panel(&p[i], where, who);
    if (rc) return rc;
  }
  if (cols > np) cols = np;
  int rows = (np + cols - 1) / cols, top = title ? FIG_TITLE_H : 0;
  qdm__canvas cv;
  int rc = qdm__canvas_open(&cv, cols * PW, rows * PH + top, np <= 4 ? HIDPI : 1, who);
  if (rc) return rc;
  for (int i = 0; i < np; i++) {
    cairo_save(cv.cr);
    cairo_translate(cv.cr, (i % cols) * PW, top + (i / cols) * PH);
    draw_panel(cv.cr, &p[i]);
    cairo_restore(cv.cr);
  }
  if (title) {
    qdm__canvas_gray(cv.cr, 0.1);
    fit_font(cv.cr, title, 20, cv.w - 40);
    qdm__canvas_text(cv.cr, title, cv.w / 2.0, top / 2.0 + 4, 0.5, 0.5);
  }
  return qdm__canvas_write(&cv, path);
}

int qdm_plot_panels(const char *path, const char *title, const qdm_panel *panels, int npanels, int cols) {
  return plot_panels("qdm_plot_panels", path, title, panels, npanels, cols);
}

int qdm_plot_lines(const char *path, const char *title, const char *xlabel, const char *ylabel, const qdm_series *s,
                   int ns, int log_y) {
  qdm_panel p = {title, xlabel, ylabel, s, ns, log_y};
  return plot_panels("qdm_plot_lines", path, NULL, &p, 1, 1);
}
