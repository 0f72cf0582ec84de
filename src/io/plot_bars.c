/* plot_bars.c -- grouped bar charts as PNG through cairo (the per-class
 * breakdown of qdm eval): one group of bars per category along x, one bar
 * per series in each group (the series' colour, legend on top), values on
 * a linear y axis from 0, and for each bar an optional reference value
 * drawn as a short black line across it (the real-vs-real value the bar is
 * read against). Non-finite values leave their bar out. A category's name
 * may have two lines ("a\nb"). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "io/canvas.h"
#include "qdm/io.h"

enum { BW_GROUP = 90, BH = 520, ML = 70, MR = 20, MT = 78, MB = 70, SCALE = 2 };

static const double bar_rgb[6][3] = {{0.306, 0.475, 0.655}, {0.949, 0.557, 0.169}, {0.882, 0.341, 0.349},
                                     {0.463, 0.718, 0.698}, {0.349, 0.631, 0.310}, {0.929, 0.788, 0.282}};

static double bars_top(const qdm_bars *b) {
  double mx = 0;
  for (int s = 0; s < b->nseries; s++)
    for (int c = 0; c < b->ncat; c++) {
      double v = b->value[s][c], r = b->ref ? b->ref[s][c] : NAN;
      if (isfinite(v) && v > mx) mx = v;
      if (isfinite(r) && r > mx) mx = r;
    }
  if (b->ymax > 0) return b->ymax;
  double step = mx > 0 ? pow(10, floor(log10(mx))) : 1;
  return mx > 0 ? ceil(mx / step * 1.0001) * step : 1;
}

/* A category's name, its lines centred under x from y down (width: its
 * widest line, drawn when draw). */
static double cat_name(cairo_t *cr, const char *name, double x, double y, int draw) {
  char line[2][128];
  const char *nl = strchr(name, '\n');
  snprintf(line[0], sizeof line[0], "%.*s", nl ? (int)(nl - name) : 127, name);
  snprintf(line[1], sizeof line[1], "%s", nl ? nl + 1 : "");
  double w = 0;
  for (int k = 0; k < 2; k++) {
    w = fmax(w, qdm__canvas_text_w(cr, line[k]));
    if (draw) qdm__canvas_text(cr, line[k], x, y + 15 * k, 0.5, 0);
  }
  return w;
}

/* Width of the picture: the groups at BW_GROUP each (or their names' width),
 * or wider so that the legend fits, and at least MIN_W (then the groups
 * widen to fill it); the title shrinks to fit (bars_axes). */
enum { MIN_W = 640 };
static int bars_width(const qdm_bars *b) {
  double w = ML + MR + BW_GROUP * b->ncat, lw = 0;
  qdm__canvas cv;
  if (qdm__canvas_open(&cv, 1, 1, 1, "qdm_plot_bars")) return (int)w;
  qdm__canvas_font(cv.cr, 13, 0);
  double cw = BW_GROUP;
  for (int c = 0; c < b->ncat; c++) cw = fmax(cw, 12 + cat_name(cv.cr, b->category[c], 0, 0, 0));
  w = ML + MR + cw * b->ncat;
  for (int s = 0; s < b->nseries; s++) lw += 34 + qdm__canvas_text_w(cv.cr, b->series[s]);
  if (b->ref && b->ref_label) lw += 22 + qdm__canvas_text_w(cv.cr, b->ref_label);
  qdm__canvas_close(&cv);
  return (int)ceil(fmax(fmax(w, MIN_W), ML + MR + lw));
}

static void bars_axes(cairo_t *cr, const qdm_bars *b, double top, int W, double gw) {
  double y0 = BH - MB, h = BH - MB - MT;
  qdm__canvas_font(cr, 13, 0);
  for (int k = 0; k <= 5; k++) {
    double v = top * k / 5, y = y0 - h * k / 5;
    char lab[32];
    snprintf(lab, sizeof lab, "%g", v);
    qdm__canvas_gray(cr, 0.88);
    cairo_move_to(cr, ML, y);
    cairo_line_to(cr, W - MR, y);
    cairo_stroke(cr);
    qdm__canvas_gray(cr, 0.2);
    qdm__canvas_text(cr, lab, ML - 6, y, 1, 0.5);
  }
  for (int c = 0; c < b->ncat; c++) cat_name(cr, b->category[c], ML + gw * (c + 0.5), y0 + 8, 1);
  if (b->ylabel) qdm__canvas_text_up(cr, b->ylabel, 18, MT + h / 2);
  if (b->xlabel) qdm__canvas_text(cr, b->xlabel, ML + gw * b->ncat / 2.0, BH - 22, 0.5, 0);
  qdm__canvas_font(cr, 17, 1);
  if (b->title) {
    double tw = qdm__canvas_text_w(cr, b->title);
    if (tw > W - 20) qdm__canvas_font(cr, fmax(9, 17 * (W - 20) / tw), 1);
    qdm__canvas_text(cr, b->title, W / 2.0, 14, 0.5, 0);
  }
}

static void bars_legend(cairo_t *cr, const qdm_bars *b) {
  double x = ML;
  qdm__canvas_font(cr, 13, 0);
  for (int s = 0; s < b->nseries; s++) {
    const double *rgb = bar_rgb[s % 6];
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_rectangle(cr, x, 44, 14, 14);
    cairo_fill(cr);
    qdm__canvas_gray(cr, 0.1);
    qdm__canvas_text(cr, b->series[s], x + 20, 51, 0, 0.5);
    x += 34 + qdm__canvas_text_w(cr, b->series[s]);
  }
  if (b->ref && b->ref_label) {
    cairo_set_line_width(cr, 2.5);
    cairo_move_to(cr, x, 51);
    cairo_line_to(cr, x + 16, 51);
    cairo_stroke(cr);
    qdm__canvas_text(cr, b->ref_label, x + 22, 51, 0, 0.5);
  }
}

int qdm_plot_bars(const char *path, const qdm_bars *b) {
  if (!path || !b || !b->category || !b->series || !b->value || b->ncat < 1 || b->nseries < 1 || b->nseries > 6)
    return qdm_fail(QDM_EINVAL, "qdm_plot_bars: need a path, 1+ categories and 1..6 series");
  int W = bars_width(b);
  double gw = (double)(W - ML - MR) / b->ncat; /* a group's width */
  qdm__canvas cv;
  int err = qdm__canvas_open(&cv, W, BH, SCALE, "qdm_plot_bars");
  if (err) return err;
  cairo_t *cr = cv.cr;
  double top = bars_top(b), y0 = BH - MB, h = BH - MB - MT, bw = (fmin(gw, 2.0 * BW_GROUP) - 16.0) / b->nseries;
  double inset = (gw - bw * b->nseries) / 2; /* the bars centred in their group */
  bars_axes(cr, b, top, W, gw);
  for (int c = 0; c < b->ncat; c++)
    for (int s = 0; s < b->nseries; s++) {
      double x = ML + gw * c + inset + bw * s, v = b->value[s][c], r = b->ref ? b->ref[s][c] : NAN;
      const double *rgb = bar_rgb[s % 6];
      if (isfinite(v)) {
        double hv = h * fmin(fmax(v, 0), top) / top;
        cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
        cairo_rectangle(cr, x + 1, y0 - hv, bw - 2, hv);
        cairo_fill(cr);
      }
      if (isfinite(r)) {
        double yr = y0 - h * fmin(fmax(r, 0), top) / top;
        qdm__canvas_gray(cr, 0);
        cairo_set_line_width(cr, 2.5);
        cairo_move_to(cr, x, yr);
        cairo_line_to(cr, x + bw, yr);
        cairo_stroke(cr);
      }
    }
  qdm__canvas_gray(cr, 0.2);
  cairo_set_line_width(cr, 1);
  cairo_move_to(cr, ML, y0);
  cairo_line_to(cr, W - MR, y0);
  cairo_stroke(cr);
  bars_legend(cr, b);
  return qdm__canvas_write(&cv, path);
}
