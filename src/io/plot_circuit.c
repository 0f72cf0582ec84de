/* plot_circuit.c -- the pictures of report section 6: reduced one-qubit
 * states in the Bloch ball (Fig. 4: pure states on the surface, mixed ones
 * inside, so entanglement shows as points filling the volume), and the
 * fidelity histogram of a circuit over the Haar law (6.1).
 *
 * The ball is an orthographic view from azimuth 30 deg, elevation 18 deg:
 * x points out of the page to the lower left, y to the right, z (|0>) up.
 * Points are drawn back to front, the far half paler, over a shaded disc. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "io/canvas.h"
#include "qdm/core.h"
#include "qdm/io.h"

#define PI_ 3.14159265358979323846
enum { HIDPI = 2 };

typedef struct {
  double r[3], u[3], d[3]; /* screen right, screen up, towards the viewer */
  double cx, cy, R;        /* centre and radius on the page */
} view;

static void view_init(view *v, double cx, double cy, double R) {
  double a = 30 * PI_ / 180, e = 18 * PI_ / 180;
  double r[3] = {-sin(a), cos(a), 0}, u[3] = {-sin(e) * cos(a), -sin(e) * sin(a), cos(e)};
  double d[3] = {cos(e) * cos(a), cos(e) * sin(a), sin(e)};
  for (int i = 0; i < 3; i++) v->r[i] = r[i], v->u[i] = u[i], v->d[i] = d[i];
  v->cx = cx, v->cy = cy, v->R = R;
}

static double dot3(const double *a, const double *b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

static void proj(const view *v, const double p[3], double *x, double *y) {
  *x = v->cx + v->R * dot3(p, v->r);
  *y = v->cy - v->R * dot3(p, v->u);
}

/* A great circle spanned by unit vectors a, b; the half facing away dashed. */
static void great_circle(cairo_t *cr, const view *v, const double a[3], const double b[3]) {
  for (int pass = 0; pass < 2; pass++) {
    double dash = 4;
    cairo_set_dash(cr, pass ? NULL : &dash, pass ? 0 : 1, 0);
    cairo_set_source_rgba(cr, 0.25, 0.3, 0.4, pass ? 0.7 : 0.35);
    int open = 0;
    for (int i = 0; i <= 240; i++) {
      double t = 2 * PI_ * i / 240, p[3], x, y;
      for (int k = 0; k < 3; k++) p[k] = cos(t) * a[k] + sin(t) * b[k];
      int front = dot3(p, v->d) >= 0;
      if (front != pass) {
        if (open) cairo_stroke(cr);
        open = 0;
        continue;
      }
      proj(v, p, &x, &y);
      if (open) cairo_line_to(cr, x, y);
      else cairo_move_to(cr, x, y);
      open = 1;
    }
    if (open) cairo_stroke(cr);
  }
  cairo_set_dash(cr, NULL, 0, 0);
}

static void label(cairo_t *cr, const view *v, const double p[3], const char *s, double dx, double dy) {
  double x, y;
  cairo_text_extents_t te;
  proj(v, p, &x, &y);
  cairo_text_extents(cr, s, &te);
  cairo_move_to(cr, x - te.width / 2 - te.x_bearing + dx, y - te.height / 2 - te.y_bearing + dy);
  cairo_show_text(cr, s);
}

static void axes(cairo_t *cr, const view *v) {
  static const char *names[3][2] = {{"x", "-x"}, {"y", "-y"}, {"|0>", "|1>"}};
  cairo_set_line_width(cr, 1.2);
  for (int k = 0; k < 3; k++) {
    double p[3] = {0, 0, 0}, m[3] = {0, 0, 0}, x0, y0, x1, y1;
    p[k] = 1.18, m[k] = -1.18;
    proj(v, m, &x0, &y0);
    proj(v, p, &x1, &y1);
    cairo_set_source_rgba(cr, 0.15, 0.15, 0.2, 0.8);
    cairo_move_to(cr, x0, y0);
    cairo_line_to(cr, x1, y1);
    cairo_stroke(cr);
    /* arrow head at the + end */
    double ang = atan2(y1 - y0, x1 - x0), h = 9;
    cairo_move_to(cr, x1, y1);
    cairo_line_to(cr, x1 - h * cos(ang - 0.35), y1 - h * sin(ang - 0.35));
    cairo_line_to(cr, x1 - h * cos(ang + 0.35), y1 - h * sin(ang + 0.35));
    cairo_close_path(cr);
    cairo_fill(cr);
    double lp[3] = {0, 0, 0}, lm[3] = {0, 0, 0};
    lp[k] = k == 2 ? 1.27 : 1.32, lm[k] = -1.27;
    cairo_set_font_size(cr, k == 2 ? 18 : 15);
    label(cr, v, lp, names[k][0], 0, k == 2 ? -4 : 0);
    if (k == 2) label(cr, v, lm, names[k][1], 0, 4);
  }
}

static void disc(cairo_t *cr, const view *v) {
  cairo_pattern_t *g = cairo_pattern_create_radial(v->cx - 0.35 * v->R, v->cy - 0.4 * v->R, 0.05 * v->R,
                                                    v->cx, v->cy, v->R);
  cairo_pattern_add_color_stop_rgba(g, 0, 0.97, 0.98, 1.0, 0.9);
  cairo_pattern_add_color_stop_rgba(g, 0.75, 0.78, 0.84, 0.93, 0.75);
  cairo_pattern_add_color_stop_rgba(g, 1, 0.55, 0.62, 0.78, 0.8);
  cairo_arc(cr, v->cx, v->cy, v->R, 0, 2 * PI_);
  cairo_set_source(cr, g);
  cairo_fill_preserve(cr);
  cairo_pattern_destroy(g);
  cairo_set_source_rgba(cr, 0.2, 0.25, 0.35, 0.9);
  cairo_set_line_width(cr, 1.5);
  cairo_stroke(cr);
}

typedef struct {
  double depth;
  int i;
} pt;

static int by_depth(const void *a, const void *b) {
  double x = ((const pt *)a)->depth, y = ((const pt *)b)->depth;
  return x < y ? -1 : x > y;
}

static void points(cairo_t *cr, const view *v, const double *xyz, int npts) {
  pt *o = malloc((size_t)npts * sizeof *o);
  if (!o) return;
  for (int i = 0; i < npts; i++) o[i].depth = dot3(xyz + 3 * (size_t)i, v->d), o[i].i = i;
  qsort(o, npts, sizeof *o, by_depth);
  double rad = npts > 4000 ? 1.6 : npts > 500 ? 2.2 : 3.2, alpha = npts > 4000 ? 0.55 : 0.8;
  for (int k = 0; k < npts; k++) {
    double x, y;
    const double *p = xyz + 3 * (size_t)o[k].i;
    proj(v, p, &x, &y);
    double front = o[k].depth >= 0;
    cairo_set_source_rgba(cr, 0.85, 0.1, 0.1, front ? alpha : 0.35 * alpha);
    cairo_arc(cr, x, y, rad, 0, 2 * PI_);
    cairo_fill(cr);
  }
  free(o);
}

int qdm_plot_bloch(const char *path, const double *xyz, int npts, const char *title) {
  if (!path || !*path) return qdm_fail(QDM_EINVAL, "qdm_plot_bloch: path is empty");
  if (npts < 0 || (npts > 0 && !xyz)) return qdm_fail(QDM_EINVAL, "qdm_plot_bloch: %d points but no data", npts);
  const int W = 620, H = 660;
  qdm__canvas cv;
  int rc = qdm__canvas_open(&cv, W, H, HIDPI, "qdm_plot_bloch");
  if (rc) return rc;
  cairo_t *cr = cv.cr;
  view v;
  view_init(&v, W / 2.0, H / 2.0 + 22, 225);
  disc(cr, &v);
  const double ex[3] = {1, 0, 0}, ey[3] = {0, 1, 0}, ez[3] = {0, 0, 1};
  cairo_set_line_width(cr, 1.0);
  great_circle(cr, &v, ex, ey); /* equator */
  great_circle(cr, &v, ex, ez);
  great_circle(cr, &v, ey, ez);
  points(cr, &v, xyz, npts);
  axes(cr, &v);
  /* title and a summary line: mean Bloch length 1 means pure reduced states */
  double len = 0;
  for (int i = 0; i < npts; i++) len += sqrt(dot3(xyz + 3 * (size_t)i, xyz + 3 * (size_t)i));
  char sub[128];
  snprintf(sub, sizeof sub, "%d states, mean |r| = %.3f (1 = pure, 0 = maximally mixed)", npts, npts ? len / npts : 0.0);
  qdm__canvas_gray(cr, 0.1);
  qdm__canvas_font(cr, 17, 0);
  qdm__canvas_text_base(cr, title ? title : "Bloch ball", W / 2.0, 28, 0.5);
  qdm__canvas_gray(cr, 0.35);
  qdm__canvas_font(cr, 12.5, 0);
  qdm__canvas_text_base(cr, sub, W / 2.0, 48, 0.5);
  return qdm__canvas_write(&cv, path);
}

/* ---- fidelity histogram ---- */

static double nice(double raw) {
  double mag = pow(10, floor(log10(raw))), f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

/* The plot area of the histogram: F in [0, 1] across, probability in
 * [0, ymax] up, grid lines every `step`. */
typedef struct {
  double L, T, pw, ph, ymax, step;
} hframe;

static double hx(const hframe *f, double F) { return f->L + F * f->pw; }
static double hy(const hframe *f, double p) { return f->T + f->ph - p / f->ymax * f->ph; }

static const double bar_rgba[4] = {0x4e / 255.0, 0x79 / 255.0, 0xa7 / 255.0, 0.85};
static const double haar_rgb[3] = {0xe1 / 255.0, 0x57 / 255.0, 0x59 / 255.0};

static void hist_grid(cairo_t *cr, const hframe *f) {
  qdm__canvas_font(cr, 12, 0);
  cairo_set_line_width(cr, 1);
  char buf[32];
  for (double y = 0; y <= f->ymax + f->step * 1e-9; y += f->step) {
    qdm__canvas_gray(cr, 0.9);
    cairo_move_to(cr, f->L, hy(f, y));
    cairo_line_to(cr, f->L + f->pw, hy(f, y));
    cairo_stroke(cr);
    snprintf(buf, sizeof buf, "%g", y);
    qdm__canvas_gray(cr, 0.3);
    qdm__canvas_text(cr, buf, f->L - 8, hy(f, y), 1, 0.5);
  }
  for (int i = 0; i <= 5; i++) {
    snprintf(buf, sizeof buf, "%.1f", i / 5.0);
    qdm__canvas_text_base(cr, buf, hx(f, i / 5.0), f->T + f->ph + 18, 0.5);
  }
}

/* Bars of P_pqc, and the Haar curve through the bin centres. */
static void hist_data(cairo_t *cr, const hframe *f, const double *p_pqc, const double *p_haar, int bins) {
  cairo_set_source_rgba(cr, bar_rgba[0], bar_rgba[1], bar_rgba[2], bar_rgba[3]);
  for (int b = 0; b < bins; b++) {
    double p = isfinite(p_pqc[b]) ? p_pqc[b] : 0;
    cairo_rectangle(cr, hx(f, (double)b / bins) + 0.5, hy(f, p), f->pw / bins - 1, hy(f, 0) - hy(f, p));
  }
  cairo_fill(cr);
  if (!p_haar) return;
  cairo_set_source_rgb(cr, haar_rgb[0], haar_rgb[1], haar_rgb[2]);
  cairo_set_line_width(cr, 2.2);
  for (int b = 0; b < bins; b++) {
    double x = hx(f, (b + 0.5) / bins), y = hy(f, fmin(p_haar[b], f->ymax));
    if (b) cairo_line_to(cr, x, y);
    else cairo_move_to(cr, x, y);
  }
  cairo_stroke(cr);
}

/* Frame, axis labels, title and legend. */
static void hist_labels(cairo_t *cr, const hframe *f, int H, const char *title, int haar) {
  qdm__canvas_gray(cr, 0.2);
  cairo_set_line_width(cr, 1.2);
  cairo_rectangle(cr, f->L, f->T, f->pw, f->ph);
  cairo_stroke(cr);
  qdm__canvas_font(cr, 14, 0);
  qdm__canvas_text_base(cr, "fidelity F = |<psi|phi>|^2", f->L + f->pw / 2, H - 18, 0.5);
  qdm__canvas_text_up(cr, "probability per bin", 19, f->T + f->ph / 2);
  qdm__canvas_font(cr, 16, 0);
  qdm__canvas_text_base(cr, title ? title : "fidelity distribution", f->L + f->pw / 2, 30, 0.5);
  qdm__canvas_font(cr, 13, 0);
  double lx = f->L + f->pw - 180, ly = f->T + 16;
  cairo_set_source_rgba(cr, bar_rgba[0], bar_rgba[1], bar_rgba[2], bar_rgba[3]);
  cairo_rectangle(cr, lx, ly - 9, 22, 11);
  cairo_fill(cr);
  qdm__canvas_gray(cr, 0.15);
  qdm__canvas_text_base(cr, "circuit P_pqc(F)", lx + 30, ly, 0);
  if (!haar) return;
  cairo_set_source_rgb(cr, haar_rgb[0], haar_rgb[1], haar_rgb[2]);
  cairo_set_line_width(cr, 2.2);
  cairo_move_to(cr, lx, ly + 17);
  cairo_line_to(cr, lx + 22, ly + 17);
  cairo_stroke(cr);
  qdm__canvas_gray(cr, 0.15);
  qdm__canvas_text_base(cr, "Haar P_haar(F)", lx + 30, ly + 21, 0);
}

int qdm_plot_fidelity_hist(const char *path, const double *p_pqc, const double *p_haar, int bins, const char *title) {
  if (!path || !*path) return qdm_fail(QDM_EINVAL, "qdm_plot_fidelity_hist: path is empty");
  if (bins < 1 || !p_pqc) return qdm_fail(QDM_EINVAL, "qdm_plot_fidelity_hist: need bins >= 1 and P_pqc (bins = %d)", bins);
  const int W = 800, H = 500, L = 80, R = 24, T = 52, B = 62;
  double ymax = 0;
  for (int b = 0; b < bins; b++) {
    if (isfinite(p_pqc[b])) ymax = fmax(ymax, p_pqc[b]);
    if (p_haar && isfinite(p_haar[b])) ymax = fmax(ymax, p_haar[b]);
  }
  if (!(ymax > 0)) ymax = 1;
  double step = nice(ymax / 5);
  hframe f = {L, T, W - L - R, H - T - B, ceil(ymax * 1.05 / step) * step, step};
  qdm__canvas cv;
  int rc = qdm__canvas_open(&cv, W, H, HIDPI, "qdm_plot_fidelity_hist");
  if (rc) return rc;
  hist_grid(cv.cr, &f);
  hist_data(cv.cr, &f, p_pqc, p_haar, bins);
  hist_labels(cv.cr, &f, H, title, p_haar != NULL);
  return qdm__canvas_write(&cv, path);
}
