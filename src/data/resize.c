/* resize.c -- the authors' preprocessing (docs/architecture.md): each 28x28
 * image as pixel/255, divided by its L2 norm, then bilinearly resized to
 * 16x16 the way PyTorch's F.interpolate(mode='bilinear',
 * align_corners=False) does it, so that qdm trains on the same 256 numbers.
 *
 * PyTorch's rule (aten/src/ATen/native/UpSample.h, area_pixel_compute_
 * source_index and the linear weights): for output index i along an axis of
 * input length in and output length out, scale = in/out and
 *   src = max(0, (i + 1/2) scale - 1/2),  i0 = floor(src),
 *   i1 = i0 + (i0 < in - 1),  l1 = src - i0,  l0 = 1 - l1,
 * and the 2-D result is the tensor product of the two axes' weights. No
 * antialiasing: a downscale by 1.75 reads only the two nearest pixels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/data.h"
#include "qdm/core.h"

typedef struct {
  int i0, i1;
  double l0, l1;
} tap;

static void taps(int in, int out, tap *t) {
  double scale = (double)in / out;
  for (int i = 0; i < out; i++) {
    double src = (i + 0.5) * scale - 0.5;
    if (src < 0) src = 0;
    int i0 = (int)src;
    if (i0 > in - 1) i0 = in - 1;
    t[i].i0 = i0;
    t[i].i1 = i0 + (i0 < in - 1);
    t[i].l1 = src - i0;
    t[i].l0 = 1 - t[i].l1;
  }
}

static int check_sizes(const char *fn, int h, int w, int oh, int ow) {
  if (h < 1 || w < 1 || oh < 1 || ow < 1 || h > 65536 || w > 65536 || oh > 65536 || ow > 65536)
    return qdm_fail(QDM_EINVAL, "%s: sizes %dx%d -> %dx%d (expected 1..65536 each)", fn, h, w, oh, ow);
  return QDM_OK;
}

/* Resize with precomputed taps; ty has oh entries, tx ow. */
static void resize_taps(const float *src, int w, float *dst, int oh, int ow, const tap *ty, const tap *tx) {
  for (int i = 0; i < oh; i++) {
    const float *r0 = src + (size_t)ty[i].i0 * w, *r1 = src + (size_t)ty[i].i1 * w;
    for (int j = 0; j < ow; j++) {
      const tap *x = &tx[j];
      double top = x->l0 * r0[x->i0] + x->l1 * r0[x->i1], bot = x->l0 * r1[x->i0] + x->l1 * r1[x->i1];
      dst[(size_t)i * ow + j] = (float)(ty[i].l0 * top + ty[i].l1 * bot);
    }
  }
}

static int alloc_taps(int oh, int ow, tap **ty, tap **tx) {
  *ty = malloc((size_t)oh * sizeof **ty);
  *tx = malloc((size_t)ow * sizeof **tx);
  if (!*ty || !*tx) {
    free(*ty);
    free(*tx);
    return qdm_fail(QDM_ENOMEM, "resize: out of memory");
  }
  return QDM_OK;
}

int qdm_resize_bilinear(const float *src, int h, int w, float *dst, int oh, int ow) {
  if (!src || !dst) return qdm_fail(QDM_EINVAL, "qdm_resize_bilinear: src and dst must be non-NULL");
  int rc = check_sizes("qdm_resize_bilinear", h, w, oh, ow);
  if (rc) return rc;
  tap *ty, *tx;
  if ((rc = alloc_taps(oh, ow, &ty, &tx))) return rc;
  taps(h, oh, ty);
  taps(w, ow, tx);
  resize_taps(src, w, dst, oh, ow, ty, tx);
  free(ty);
  free(tx);
  return QDM_OK;
}

int qdm_preprocess(const float *src, int n, int h, int w, float *dst, int oh, int ow) {
  if (n < 0 || (n > 0 && (!src || !dst)))
    return qdm_fail(QDM_EINVAL, "qdm_preprocess: n = %d (expected >= 0) with src and dst non-NULL", n);
  int rc = check_sizes("qdm_preprocess", h, w, oh, ow);
  if (rc) return rc;
  size_t px = (size_t)h * w;
  float *tmp = malloc(px * sizeof *tmp);
  tap *ty, *tx;
  if (!tmp) return qdm_fail(QDM_ENOMEM, "qdm_preprocess: out of memory");
  if ((rc = alloc_taps(oh, ow, &ty, &tx))) {
    free(tmp);
    return rc;
  }
  taps(h, oh, ty);
  taps(w, ow, tx);
  for (int k = 0; k < n; k++) {
    const float *im = src + (size_t)k * px;
    double ss = 0;
    for (size_t i = 0; i < px; i++) ss += (double)im[i] * im[i];
    double inv = ss > 0 ? 1 / sqrt(ss) : 0;
    for (size_t i = 0; i < px; i++) tmp[i] = (float)(im[i] * inv);
    resize_taps(tmp, w, dst + (size_t)k * oh * ow, oh, ow, ty, tx);
  }
  free(tmp);
  free(ty);
  free(tx);
  return QDM_OK;
}

int qdm_resize_area(const float *src, int h, int w, int f, double *dst, int oh, int ow) {
  if (!src || !dst) return qdm_fail(QDM_EINVAL, "qdm_resize_area: src and dst must be non-NULL");
  if (f < 1 || oh < 1 || ow < 1 || (long long)f * oh > h || (long long)f * ow > w)
    return qdm_fail(QDM_EINVAL, "qdm_resize_area: %dx%d blocks of %dx%d do not fit in a %dx%d image", oh, ow, f, f, h, w);
  int oy = (h - f * oh) / 2, ox = (w - f * ow) / 2;
  for (int y = 0; y < oh; y++)
    for (int x = 0; x < ow; x++) {
      double s = 0;
      for (int i = 0; i < f; i++)
        for (int j = 0; j < f; j++) s += src[(size_t)(oy + f * y + i) * w + ox + f * x + j];
      dst[y * ow + x] = s / (f * f);
    }
  return QDM_OK;
}
