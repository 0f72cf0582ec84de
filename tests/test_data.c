/* test_data.c -- IDX reading and writing, datasets, and the authors'
 * preprocessing. Resize results are checked against values worked out by
 * hand from PyTorch's align_corners=False rule, and against the exactness of
 * bilinear interpolation on bilinear functions (a ramp x*y). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "check.h"
#include "qdm/data.h"
#include "qdm/io.h"
#include "qdm/qsim.h"

#include "tmpdir.h"

static void setup_dir(void) {
  setup_dir_named("data");
}

static void write_bytes(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(b, 1, n, f) != n) { perror(path); exit(1); }
  fclose(f);
}

static size_t read_bytes(const char *path, unsigned char *b, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(b, 1, cap, f);
  fclose(f);
  return n;
}

static int has(const char *msg, const char *part) { return strstr(msg, part) != NULL; }

/* ---- resize: hand-computed cases ---- */
static void test_resize(void) {
  /* 4x4 -> 2x2: scale 2, source coordinates 0.5 and 2.5, so each output is
   * the mean of a 2x2 block. src = (4i + j)^2. */
  float s4[16], d2[4];
  for (int i = 0; i < 16; i++) s4[i] = (float)(i * i);
  CHECK(qdm_resize_bilinear(s4, 4, 4, d2, 2, 2) == QDM_OK, "resize 4->2");
  const float want2[4] = {10.5f, 24.5f, 114.5f, 160.5f}; /* (0+1+16+25)/4, (4+9+36+49)/4, ... */
  for (int i = 0; i < 4; i++) CHECK_NEAR(d2[i], want2[i], 1e-6, "4x4->2x2 block mean");

  /* 2x2 -> 4x4: scale 1/2, source coordinates -0.25 (clamped to 0), 0.25,
   * 0.75, 1.25 (neighbour clamped): weights of the second pixel 0, .25, .75, 1. */
  const float s2[4] = {1, 2, 3, 4};
  float d4[16];
  CHECK(qdm_resize_bilinear(s2, 2, 2, d4, 4, 4) == QDM_OK, "resize 2->4");
  const float want4[16] = {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4};
  for (int i = 0; i < 16; i++) CHECK_NEAR(d4[i], want4[i], 1e-6, "2x2->4x4 upsample");

  /* Non-square, both directions at once: 2x4 -> 4x2 on f(y,x) = r[y] c[x]
   * with r = (1,3) (rows 2->4: 1, 1.5, 2.5, 3) and c = (1,2,4,8) (columns
   * 4->2: pair means 1.5, 6). Catches a swapped axis. */
  const float sa[8] = {1, 2, 4, 8, 3, 6, 12, 24};
  float da[8];
  CHECK(qdm_resize_bilinear(sa, 2, 4, da, 4, 2) == QDM_OK, "resize 2x4->4x2");
  const float wanta[8] = {1.5f, 6, 2.25f, 9, 3.75f, 15, 4.5f, 18};
  for (int i = 0; i < 8; i++) CHECK_NEAR(da[i], wanta[i], 1e-6, "2x4->4x2 separable");

  /* 1x5 -> 1x3: scale 5/3, source coordinates 1/3, 2, 11/3 on x^2. */
  const float s5[5] = {0, 1, 4, 9, 16};
  float d3[3];
  CHECK(qdm_resize_bilinear(s5, 1, 5, d3, 1, 3) == QDM_OK, "resize 5->3");
  CHECK_NEAR(d3[0], 1.0 / 3, 1e-6, "5->3 first");
  CHECK_NEAR(d3[1], 4, 1e-6, "5->3 middle");
  CHECK_NEAR(d3[2], 41.0 / 3, 1e-6, "5->3 last: 9/3 + 2*16/3");

  /* 28 -> 16 on the ramp x*y: scale 1.75, source coordinate 1.75 j + 0.375
   * (never clamped: 0.375 .. 26.625), and bilinear interpolation of a
   * bilinear function is exact, so out(i,j) = (1.75 i + .375)(1.75 j + .375). */
  float r28[28 * 28], r16[16 * 16];
  for (int y = 0; y < 28; y++)
    for (int x = 0; x < 28; x++) r28[y * 28 + x] = (float)(y * x);
  CHECK(qdm_resize_bilinear(r28, 28, 28, r16, 16, 16) == QDM_OK, "resize 28->16");
  double maxerr = 0;
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 16; j++) {
      double e = fabs(r16[i * 16 + j] - (1.75 * i + 0.375) * (1.75 * j + 0.375));
      if (e > maxerr) maxerr = e;
    }
  CHECK(maxerr < 1e-4, "28->16 ramp x*y: max error %g", maxerr);
  CHECK_NEAR(r16[15 * 16 + 15], 26.625 * 26.625, 1e-6, "28->16 last pixel");

  CHECK(qdm_resize_bilinear(r28, 0, 28, r16, 16, 16) == QDM_EINVAL, "h = 0 rejected");
  CHECK(qdm_resize_bilinear(NULL, 28, 28, r16, 16, 16) == QDM_EINVAL, "NULL src rejected");
}

static void test_preprocess(void) {
  /* Constant 28x28 image c: L2 normalised every pixel is 1/28, and a
   * resize of a constant is that constant. */
  static float src[3 * 784], dst[3 * 256];
  for (int i = 0; i < 784; i++) {
    src[i] = 0.5f;
    src[784 + i] = 0;
    src[2 * 784 + i] = 0;
  }
  src[2 * 784] = 0.2f; /* a single pixel at (0,0): normalised to 1 */
  CHECK(qdm_preprocess(src, 3, 28, 28, dst, 16, 16) == QDM_OK, "preprocess");
  double maxerr = 0;
  for (int i = 0; i < 256; i++) maxerr = fmax(maxerr, fabs(dst[i] - 1.0 / 28));
  CHECK(maxerr < 1e-7, "constant image -> 1/28 everywhere (err %g)", maxerr);
  int zeros = 1;
  for (int i = 0; i < 256; i++) zeros &= dst[256 + i] == 0;
  CHECK(zeros, "all-zero image stays zero (no NaN)");
  /* out(0,0) samples source (0.375, 0.375): weight of pixel (0,0) is .625^2 */
  CHECK_NEAR(dst[512], 0.625 * 0.625, 1e-6, "single pixel after normalisation");
  CHECK_NEAR(dst[512 + 1], 0, 1e-12, "next output pixel reads columns 2,3");
}

/* ---- IDX ---- */
static void test_idx_roundtrip(void) {
  enum { N = 5, H = 3, W = 4 };
  float img[N * H * W];
  uint8_t lab[N] = {7, 0, 9, 1, 255};
  for (int i = 0; i < N * H * W; i++) img[i] = (float)((i * 37) % 256) / 255.0f;
  const char *names[2] = {"rt.idx3-ubyte", "rt.idx3-ubyte.gz"};
  for (int g = 0; g < 2; g++) {
    const char *p = tpath(names[g]);
    CHECK(qdm_idx_write_images(p, img, N, H, W) == QDM_OK, "write %s: %s", p, qdm_errmsg());
    unsigned char raw[256];
    size_t nraw = read_bytes(p, raw, sizeof raw);
    if (g == 0) {
      const unsigned char hdr[16] = {0, 0, 8, 3, 0, 0, 0, N, 0, 0, 0, H, 0, 0, 0, W};
      CHECK(nraw == 16 + N * H * W && memcmp(raw, hdr, 16) == 0, "plain IDX header bytes");
      CHECK(raw[16 + 10] == (10 * 37) % 256, "plain IDX payload byte");
    } else {
      CHECK(nraw > 2 && raw[0] == 0x1f && raw[1] == 0x8b, "a .gz path is written as gzip");
    }
    uint8_t *pix = NULL;
    int n = 0, h = 0, w = 0;
    CHECK(qdm_idx_read_images(p, &pix, &n, &h, &w) == QDM_OK, "read %s: %s", p, qdm_errmsg());
    CHECK(n == N && h == H && w == W, "dims %d %d %d", n, h, w);
    int same = pix != NULL;
    for (int i = 0; same && i < N * H * W; i++) same = pix[i] == (i * 37) % 256;
    CHECK(same, "IDX image bytes round-trip (%s)", names[g]);
    free(pix);
  }
  const char *lp = tpath("rt-labels.gz");
  CHECK(qdm_idx_write_labels(lp, lab, N) == QDM_OK, "write labels");
  uint8_t *l2 = NULL;
  int nl = 0;
  CHECK(qdm_idx_read_labels(lp, &l2, &nl) == QDM_OK && nl == N && memcmp(l2, lab, N) == 0, "labels round-trip");
  free(l2);

  /* clamping: -1 -> 0, 2 -> 255, NaN -> 0, 0.5 -> round(127.5) = 128 */
  float odd[4] = {-1, 2, NAN, 0.5f};
  const char *op = tpath("clamp.idx");
  CHECK(qdm_idx_write_images(op, odd, 1, 1, 4) == QDM_OK, "write clamp");
  unsigned char raw[32];
  CHECK(read_bytes(op, raw, sizeof raw) == 20 && raw[16] == 0 && raw[17] == 255 && raw[18] == 0 && raw[19] == 128,
        "u8 conversion clamps and rounds");
  CHECK(qdm_idx_write_images(op, NULL, 1, 1, 4) == QDM_EINVAL, "NULL data rejected");
}

static void test_idx_errors(void) {
  uint8_t *pix = NULL;
  int n, h, w;
  /* a label file read as images: wrong magic, both numbers named */
  const char *lp = tpath("wrong-magic");
  const unsigned char lab[10] = {0, 0, 8, 1, 0, 0, 0, 2, 3, 4};
  write_bytes(lp, lab, sizeof lab);
  int rc = qdm_idx_read_images(lp, &pix, &n, &h, &w);
  CHECK(rc != 0 && has(qdm_errmsg(), lp) && has(qdm_errmsg(), "0x00000801") && has(qdm_errmsg(), "0x00000803"),
        "wrong magic: rc %d, '%s'", rc, qdm_errmsg());
  CHECK(pix == NULL, "no array on error");

  /* header says 3 images of 2x2 = 12 bytes, only 5 present: 28 vs 21 */
  const char *tp = tpath("truncated");
  const unsigned char tr[21] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5};
  write_bytes(tp, tr, sizeof tr);
  rc = qdm_idx_read_images(tp, &pix, &n, &h, &w);
  CHECK(rc != 0 && has(qdm_errmsg(), tp) && has(qdm_errmsg(), "expected 28 bytes, got 21"), "truncated: '%s'",
        qdm_errmsg());

  /* header shorter than its 16 bytes */
  write_bytes(tp, tr, 6);
  rc = qdm_idx_read_images(tp, &pix, &n, &h, &w);
  CHECK(rc != 0 && has(qdm_errmsg(), tp) && has(qdm_errmsg(), "truncated"), "short header: '%s'", qdm_errmsg());

  /* one byte more than the header says */
  const char *xp = tpath("trailing");
  const unsigned char xl[11] = {0, 0, 8, 1, 0, 0, 0, 2, 3, 4, 5};
  write_bytes(xp, xl, sizeof xl);
  uint8_t *l = NULL;
  rc = qdm_idx_read_labels(xp, &l, &n);
  CHECK(rc != 0 && has(qdm_errmsg(), xp), "trailing data: '%s'", qdm_errmsg());

  /* a gzip stream cut in half: incompressible payload so the cut is in data */
  enum { NB = 4000 };
  float *noise = malloc(NB * sizeof *noise);
  qdm_rng r;
  qdm_rng_seed(&r, 5);
  for (int i = 0; i < NB; i++) noise[i] = (float)qdm_rng_uniform(&r);
  const char *gp = tpath("cut.idx.gz");
  CHECK(qdm_idx_write_images(gp, noise, 10, 20, 20) == QDM_OK, "write gz");
  free(noise);
  unsigned char *gz = malloc(1 << 16);
  size_t ng = read_bytes(gp, gz, 1 << 16);
  write_bytes(gp, gz, ng / 2);
  free(gz);
  rc = qdm_idx_read_images(gp, &pix, &n, &h, &w);
  CHECK(rc != 0 && has(qdm_errmsg(), gp), "truncated gzip: rc %d '%s'", rc, qdm_errmsg());

  const char *np = tpath("does-not-exist.gz");
  rc = qdm_idx_read_images(np, &pix, &n, &h, &w);
  CHECK(rc == QDM_EIO && has(qdm_errmsg(), np), "missing file: '%s'", qdm_errmsg());
  CHECK(qdm_idx_read_images(lp, NULL, &n, &h, &w) == QDM_EINVAL, "NULL output rejected");

  /* a directory: said so, not "corrupt gzip data" */
  const char *dp = tpath("a-directory");
  qdm_mkdirs(dp);
  rc = qdm_idx_read_images(dp, &pix, &n, &h, &w);
  CHECK(rc == QDM_EIO && has(qdm_errmsg(), dp) && has(qdm_errmsg(), "is a directory"), "directory: '%s'", qdm_errmsg());

  /* a header claiming 2^31 - 1 images of 2x2 (8 GiB) in a 16-byte file:
   * reported as truncated (the buffer grows only with the bytes that come) */
  const unsigned char huge[16] = {0, 0, 8, 3, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 2, 0, 0, 0, 2};
  const char *hp = tpath("huge-header");
  write_bytes(hp, huge, sizeof huge);
  rc = qdm_idx_read_images(hp, &pix, &n, &h, &w);
  CHECK(rc == QDM_EFORMAT && has(qdm_errmsg(), "expected 8589934604 bytes, got 16"), "huge header: '%s'",
        qdm_errmsg());
  CHECK(pix == NULL, "no array on error");
}

/* ---- datasets ---- */
enum { DN = 10 };

/* Image k: pixel i = (7k + i) mod 256, except image 0 is constant 100;
 * label k mod 3. */
static void make_set(const char *sub, const char *prefix, int n, int nlab, int gz) {
  float *x = malloc((size_t)n * 784 * sizeof *x);
  uint8_t lab[64];
  for (int k = 0; k < n; k++)
    for (int i = 0; i < 784; i++) x[k * 784 + i] = (k ? (7 * k + i) % 256 : 100) / 255.0f;
  for (int k = 0; k < nlab; k++) lab[k] = (uint8_t)(k % 3);
  char p[4400];
  qdm_mkdirs(tpath(sub));
  snprintf(p, sizeof p, "%s/%s/%s-images-idx3-ubyte%s", dir, sub, prefix, gz ? ".gz" : "");
  CHECK(qdm_idx_write_images(p, x, n, 28, 28) == QDM_OK, "write %s", p);
  snprintf(p, sizeof p, "%s/%s/%s-labels-idx1-ubyte%s", dir, sub, prefix, gz ? ".gz" : "");
  CHECK(qdm_idx_write_labels(p, lab, nlab) == QDM_OK, "write %s", p);
  free(x);
}

static void test_dataset(void) {
  make_set("set", "train", DN, DN, 1);
  make_set("set", "t10k", 4, 4, 0);
  qdm_dataset d;
  qdm_data_opts o = {tpath("set"), "train", "1,2", 3, 0, QDM_SUBSET_FIRST, 0, NULL};
  CHECK(qdm_data_load(&o, &d) == QDM_OK, "load: %s", qdm_errmsg());
  /* labels 0,1,2,0,1,2,...: classes {1,2} keep images 1,2,4,5,...; first 3 */
  CHECK(d.n == 3 && d.h == 28 && d.w == 28, "filtered n %d", d.n);
  CHECK(d.y && d.y[0] == 1 && d.y[1] == 2 && d.y[2] == 1, "filtered labels");
  CHECK_NEAR(d.x[2 * 784 + 5], ((7 * 4 + 5) % 256) / 255.0, 1e-7, "third kept image is image 4");
  qdm_dataset_free(&d);

  o.split = "test";
  o.classes = NULL;
  o.limit = 0;
  CHECK(qdm_data_load(&o, &d) == QDM_OK && d.n == 4, "test split from plain files: %s", qdm_errmsg());
  qdm_dataset_free(&d);

  o.split = "train";
  o.size = 16;
  o.limit = 2;
  CHECK(qdm_data_load(&o, &d) == QDM_OK && d.n == 2 && d.h == 16 && d.w == 16, "preprocessed load");
  double maxerr = 0;
  for (int i = 0; i < 256; i++) maxerr = fmax(maxerr, fabs(d.x[i] - 1.0 / 28));
  CHECK(maxerr < 1e-7, "constant image preprocesses to 1/28 (err %g)", maxerr);
  qdm_dataset_free(&d);

  o.classes = "5";
  CHECK(qdm_data_load(&o, &d) != 0 && has(qdm_errmsg(), "classes"), "no image left: '%s'", qdm_errmsg());
  o.classes = "1,x";
  CHECK(qdm_data_load(&o, &d) == QDM_EINVAL, "bad classes rejected");
  o.classes = NULL;
  o.dir = tpath("no-such-dir");
  CHECK(qdm_data_load(&o, &d) != 0 && has(qdm_errmsg(), "no-such-dir"), "missing dir: '%s'", qdm_errmsg());
  o.split = "valid";
  o.dir = tpath("set");
  CHECK(qdm_data_load(&o, &d) == QDM_EINVAL, "unknown split rejected");

  /* 10 images but 9 labels: both files named */
  make_set("bad", "train", DN, DN - 1, 1);
  qdm_data_opts ob = {tpath("bad"), NULL, NULL, 0, 0, QDM_SUBSET_SEEDED, 0, NULL};
  int rc = qdm_data_load(&ob, &d);
  CHECK(rc != 0 && has(qdm_errmsg(), "train-images-idx3-ubyte.gz") && has(qdm_errmsg(), "train-labels-idx1-ubyte.gz") &&
            has(qdm_errmsg(), "10 images") && has(qdm_errmsg(), "9 labels"),
        "count mismatch: '%s'", qdm_errmsg());
  CHECK(d.x == NULL && d.n == 0, "dataset empty after an error");

  /* the "images.idx3-ubyte" spelling some mirrors use */
  char im[4400], lb[4400];
  qdm_mkdirs(tpath("dots"));
  const unsigned char one[17] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9};
  const unsigned char onel[9] = {0, 0, 8, 1, 0, 0, 0, 1, 4};
  write_bytes(tpath("dots/train-images.idx3-ubyte"), one, sizeof one);
  write_bytes(tpath("dots/train-labels.idx1-ubyte"), onel, sizeof onel);
  CHECK(qdm_data_files(tpath("dots"), "train", im, lb, sizeof im) == QDM_OK && has(im, "images.idx3-ubyte"),
        "dotted names found: %s", qdm_errmsg());
  CHECK(qdm_dataset_from_idx(im, lb, &d) == QDM_OK && d.n == 1 && d.y[0] == 4 && fabs(d.x[0] - 9 / 255.0) < 1e-7,
        "from_idx");
  qdm_dataset_free(&d);
}

static void test_classes_split(void) {
  unsigned char m[256];
  CHECK(qdm_parse_classes("0,1", m) == QDM_OK && m[0] && m[1] && !m[2] && !m[255], "0,1");
  CHECK(qdm_parse_classes("0-3,7", m) == QDM_OK && m[0] && m[3] && !m[4] && m[7] && !m[8], "0-3,7");
  CHECK(qdm_parse_classes("all", m) == QDM_OK && m[0] && m[9] && m[255], "all");
  CHECK(qdm_parse_classes(NULL, m) == QDM_OK && m[5], "NULL = all");
  const char *bad[] = {"a", "1,", "3-1", "256", "-1", "1 2"};
  for (int i = 0; i < 6; i++) CHECK(qdm_parse_classes(bad[i], m) == QDM_EINVAL, "classes '%s' rejected", bad[i]);

  qdm_dataset d = {DN, 1, 2, malloc(DN * 2 * sizeof(float)), malloc(DN)}, tr, he;
  for (int k = 0; k < DN; k++) {
    d.x[2 * k] = (float)k;
    d.x[2 * k + 1] = (float)-k;
    d.y[k] = (uint8_t)(k % 3);
  }
  /* labels 0,1,2,0,1,2,0,1,2,0 (4, 3, 3): 2 held out go to the two classes
   * with the largest remainders of 0.2 x (4, 3, 3) = (0.8, 0.6, 0.6): 0 and 1 */
  CHECK(qdm_dataset_split(&d, 0.2, 1, &tr, &he) == QDM_OK, "split");
  CHECK(tr.n == 8 && he.n == 2 && he.y[0] != he.y[1] && he.y[0] + he.y[1] == 1, "20%% held out, stratified: labels %d %d",
        he.y[0], he.y[1]);
  float seen = 0;
  for (int i = 0; i < tr.n; i++) seen += tr.x[2 * i] == -tr.x[2 * i + 1] ? tr.x[2 * i] : 1000;
  for (int i = 0; i < he.n; i++) seen += he.x[2 * i] == -he.x[2 * i + 1] ? he.x[2 * i] : 1000;
  CHECK(seen == 45, "train and held-out are the 10 images, each once (sum of their first values %g, want 45)", seen);
  qdm_dataset_free(&tr);
  qdm_dataset_free(&he);
  CHECK(qdm_dataset_split(&d, 0, 1, &tr, &he) == QDM_OK && tr.n == DN && he.n == 0 && tr.x[3] == -1,
        "heldout 0: the images as they are");
  qdm_dataset_free(&tr);
  qdm_dataset_free(&he);
  CHECK(qdm_dataset_split(&d, 1, 1, &tr, &he) == QDM_EINVAL, "heldout 1 rejected");
  /* in place: labels 0,1,2,0,...: class 2 keeps images 2, 5, 8 */
  CHECK(qdm_dataset_filter(&d, "2", 0, 1) == QDM_OK && d.n == 3 && d.x[0] == 2 && d.x[2] == 5 && d.x[5] == -8,
        "filter in place");
  CHECK(qdm_dataset_filter(&d, NULL, 1, 1) == QDM_OK && d.n == 1 && d.y[0] == 2 &&
            (d.x[0] == 2 || d.x[0] == 5 || d.x[0] == 8),
        "limit in place: one of the three");
  qdm_dataset_free(&d);
  CHECK(d.x == NULL && d.n == 0, "free zeroes");
}

/* ---- subsets that do not depend on the file's order ----
 * The same 200 images (10 classes of 20, random pixels) written sorted by
 * class and interleaved: the seeded subset and split are the same images in
 * the same order from both files, with every class in its share; the
 * authors' first-N on the sorted file has three classes only. */
static void write_order(const char *sub, const uint8_t *pix, const uint8_t *lab, const int *perm, int n) {
  float *x = malloc((size_t)n * 64 * sizeof(float));
  uint8_t *l = malloc(n);
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < 64; k++) x[i * 64 + k] = pix[perm[i] * 64 + k] / 255.0f;
    l[i] = lab[perm[i]];
  }
  char p[4400];
  qdm_mkdirs(tpath(sub));
  snprintf(p, sizeof p, "%s/%s/train-images-idx3-ubyte", dir, sub);
  CHECK(qdm_idx_write_images(p, x, n, 8, 8) == QDM_OK, "write %s", p);
  snprintf(p, sizeof p, "%s/%s/train-labels-idx1-ubyte", dir, sub);
  CHECK(qdm_idx_write_labels(p, l, n) == QDM_OK, "write %s", p);
  free(x);
  free(l);
}

static int same_data(const qdm_dataset *a, const qdm_dataset *b) {
  return a->n == b->n && a->h == b->h && !memcmp(a->x, b->x, (size_t)a->n * a->h * a->w * sizeof(float)) &&
         !memcmp(a->y, b->y, (size_t)a->n);
}

static void class_counts(const qdm_dataset *d, int *cnt) {
  memset(cnt, 0, 10 * sizeof *cnt);
  for (int i = 0; i < d->n; i++) cnt[d->y[i]]++;
}

static void test_subsets_file_order(void) {
  enum { N = 200 };
  uint8_t pix[N * 64], lab[N];
  int sorted[N], inter[N];
  qdm_rng r;
  qdm_rng_seed(&r, 99);
  for (int i = 0; i < N; i++) { /* image i: class i / 20 */
    lab[i] = (uint8_t)(i / 20);
    for (int k = 0; k < 64; k++) pix[i * 64 + k] = (uint8_t)(qdm_rng_u64(&r) % 256);
    sorted[i] = i;
    inter[i] = (i % 10) * 20 + i / 10; /* 0, 20, 40, ..., 180, 1, 21, ... */
  }
  write_order("sorted", pix, lab, sorted, N);
  write_order("inter", pix, lab, inter, N);
  qdm_data_opts o = {tpath("sorted"), "train", NULL, 50, 0, QDM_SUBSET_SEEDED, 7, NULL};
  qdm_dataset a, b, ta, ha, tb, hb;
  CHECK(qdm_data_load(&o, &a) == QDM_OK, "seeded load of the sorted file: %s", qdm_errmsg());
  o.dir = tpath("inter");
  CHECK(qdm_data_load(&o, &b) == QDM_OK, "seeded load of the interleaved file: %s", qdm_errmsg());
  CHECK(same_data(&a, &b), "--limit 50: the same images in the same order from either file order");
  int cnt[10], ok = 1;
  class_counts(&a, cnt);
  for (int c = 0; c < 10; c++) ok &= cnt[c] == 5;
  CHECK(a.n == 50 && ok, "50 of 10 classes of 20: 5 of each (class 0: %d, class 9: %d)", cnt[0], cnt[9]);
  CHECK(qdm_dataset_split(&a, 0.2, 7, &ta, &ha) == QDM_OK && qdm_dataset_split(&b, 0.2, 7, &tb, &hb) == QDM_OK,
        "splits");
  CHECK(same_data(&ta, &tb) && same_data(&ha, &hb), "held-out split: the same images from either file order");
  class_counts(&ha, cnt);
  ok = ha.n == 10;
  for (int c = 0; c < 10; c++) ok &= cnt[c] == 1;
  CHECK(ok, "10 held out, one of each class");
  qdm_dataset_free(&ta); qdm_dataset_free(&ha); qdm_dataset_free(&tb); qdm_dataset_free(&hb);
  qdm_dataset_free(&b);
  /* another seed, another subset (of the same shares) */
  o.seed = 8;
  CHECK(qdm_data_load(&o, &b) == QDM_OK && b.n == 50 && !same_data(&a, &b), "seed 8 chooses other images");
  qdm_dataset_free(&b);
  /* no limit: all images, still in an order that is the file's order's no more */
  o.limit = 0;
  o.seed = 7;
  CHECK(qdm_data_load(&o, &b) == QDM_OK, "all of the interleaved file");
  o.dir = tpath("sorted");
  CHECK(qdm_data_load(&o, &ta) == QDM_OK && same_data(&b, &ta) && b.n == N, "all images: the same order from both");
  qdm_dataset_free(&b);
  qdm_dataset_free(&ta);
  /* the authors' first N, on the sorted file: classes 0, 1 and the half of 2 */
  o.subset = QDM_SUBSET_FIRST;
  o.limit = 50;
  CHECK(qdm_data_load(&o, &b) == QDM_OK, "first 50");
  class_counts(&b, cnt);
  CHECK(cnt[0] == 20 && cnt[1] == 20 && cnt[2] == 10 && cnt[3] == 0 && b.x[0] == pix[0] / 255.0f,
        "first 50 of the sorted file are the file's first (classes 0, 1, 2: %d %d %d)", cnt[0], cnt[1], cnt[2]);
  qdm_dataset_free(&b);
  /* filtering a dataset in memory: the same choice whatever its order */
  qdm_dataset c2;
  o.subset = QDM_SUBSET_FIRST;
  o.limit = 0;
  o.dir = tpath("inter");
  CHECK(qdm_data_load(&o, &b) == QDM_OK && b.y[1] == 1, "interleaved file, file order");
  o.dir = tpath("sorted");
  CHECK(qdm_data_load(&o, &c2) == QDM_OK && c2.y[1] == 0, "sorted file, file order");
  CHECK(qdm_dataset_filter(&b, "3-5", 12, 5) == QDM_OK && qdm_dataset_filter(&c2, "3-5", 12, 5) == QDM_OK &&
            same_data(&b, &c2) && b.n == 12,
        "qdm_dataset_filter: classes 3-5, 12 images, the same from both orders");
  class_counts(&b, cnt);
  CHECK(cnt[3] == 4 && cnt[4] == 4 && cnt[5] == 4, "4 of each kept class");
  qdm_dataset_free(&b);
  qdm_dataset_free(&c2);
  qdm_dataset_free(&a);
}

static void test_dirs(void) {
  char b[4096];
  CHECK(qdm_data_resolve("fashion", b, sizeof b) == QDM_OK && !strcmp(b, "/usr/share/datasets/fashion-mnist"),
        "fashion -> Debian path (%s)", b);
  CHECK(qdm_data_resolve("/x/y", b, sizeof b) == QDM_OK && !strcmp(b, "/x/y"), "path kept");
  setenv("QDM_DATA_DIR", "/some/where", 1);
  CHECK(qdm_data_dir(b, sizeof b) == QDM_OK && !strcmp(b, "/some/where"), "QDM_DATA_DIR honoured");
  CHECK(qdm_data_resolve("mnist", b, sizeof b) == QDM_OK && !strcmp(b, "/some/where"), "mnist -> default dir");
  unsetenv("QDM_DATA_DIR");
  CHECK(qdm_data_dir(b, 3) != QDM_OK || strlen(b) < 3, "short buffer rejected");

  /* Fashion-MNIST when installed: the first test labels are 9 2 1 1 6 1 4 6 5 7
   * (ankle boot, pullover, trouser, ...), published with the data set. */
  char im[4400], lb[4400];
  if (qdm_data_files("/usr/share/datasets/fashion-mnist", "test", im, lb, sizeof im) == QDM_OK) {
    qdm_data_opts o = {"fashion", "test", NULL, 10, 16, QDM_SUBSET_FIRST, 0, NULL};
    qdm_dataset d;
    CHECK(qdm_data_load(&o, &d) == QDM_OK && d.n == 10 && d.h == 16, "fashion load: %s", qdm_errmsg());
    const uint8_t want[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    CHECK(d.y && memcmp(d.y, want, 10) == 0, "fashion test labels");
    qdm_dataset_free(&d);
  }
}

int main(void) {
  setup_dir();
  test_resize();
  test_preprocess();
  test_idx_roundtrip();
  test_idx_errors();
  test_dataset();
  test_classes_split();
  test_subsets_file_order();
  test_dirs();
  return check_done();
}
