/* test_io.c -- atomic files, the JSON writer and reader, safetensors (header
 * bytes checked by hand against the format's specification), PNG grids
 * (re-read through cairo, pixel values at hand-computed positions) and line
 * plots. The pictures stay in the test directory for a human look. */
#define _POSIX_C_SOURCE 200809L
#include <cairo.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include "check.h"
#include "qdm/data.h"
#include "qdm/io.h"
#include "qdm/qsim.h"

#include "tmpdir.h"

static void setup_dir(void) {
  setup_dir_named("io");
  printf("test files in %s\n", dir);
}

static size_t read_file(const char *path, unsigned char *b, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(b, 1, cap, f);
  fclose(f);
  return n;
}

static void write_raw(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(b, 1, n, f) != n) { perror(path); exit(1); }
  fclose(f);
}

static int has(const char *msg, const char *part) { return strstr(msg, part) != NULL; }

/* Number of entries of the test directory whose name contains ".tmp." */
static int temp_files(void) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
  if (d) closedir(d);
  return n;
}

static void test_atomic(void) {
  const char *p = tpath("atomic.txt");
  qdm_atomic a;
  char buf[64] = {0};
  CHECK(qdm_atomic_open(&a, p) == QDM_OK, "open: %s", qdm_errmsg());
  fputs("old", a.f);
  CHECK(qdm_atomic_commit(&a) == QDM_OK, "commit");
  CHECK(read_file(p, (unsigned char *)buf, 63) == 3 && !strcmp(buf, "old"), "committed content");
  CHECK(temp_files() == 0, "no temp file after commit");

  CHECK(qdm_atomic_open(&a, p) == QDM_OK, "reopen");
  fputs("new content", a.f);
  fflush(a.f);
  CHECK(temp_files() == 1, "temp file exists while writing");
  qdm_atomic_abort(&a);
  memset(buf, 0, sizeof buf);
  CHECK(read_file(p, (unsigned char *)buf, 63) == 3 && !strcmp(buf, "old"), "abort keeps the old file ('%s')", buf);
  CHECK(temp_files() == 0, "abort removes the temp file");
  qdm_atomic_abort(&a); /* harmless twice */

  CHECK(qdm_atomic_open(&a, p) == QDM_OK, "reopen");
  fputs("new", a.f);
  CHECK(qdm_atomic_commit(&a) == QDM_OK && read_file(p, (unsigned char *)buf, 63) == 3 && !strcmp(buf, "new"),
        "commit replaces");
  CHECK(qdm_atomic_commit(&a) == QDM_EINVAL, "double commit rejected");

  const char *bad = tpath("no/such/dir/x.txt");
  CHECK(qdm_atomic_open(&a, bad) == QDM_EIO && has(qdm_errmsg(), bad), "unwritable path named: '%s'", qdm_errmsg());
  qdm_atomic_abort(&a);
  CHECK(qdm_atomic_open(&a, "") == QDM_EINVAL, "empty path rejected");

  const char *deep = tpath("m1/m2/m3");
  struct stat st;
  CHECK(qdm_mkdirs(deep) == QDM_OK && stat(deep, &st) == 0 && S_ISDIR(st.st_mode), "mkdirs creates the chain");
  CHECK(qdm_mkdirs(deep) == QDM_OK, "mkdirs on an existing dir");
  CHECK(qdm_mkdirs(p) != QDM_OK && has(qdm_errmsg(), p), "mkdirs over a file fails");
}

/* JSON text produced by the writer, captured in memory. */
typedef struct {
  char *buf;
  size_t n;
  FILE *f;
  qdm_json j;
} jcap;
static void jopen(jcap *c, int pretty) {
  c->buf = NULL;
  c->f = open_memstream(&c->buf, &c->n);
  qdm_json_init(&c->j, c->f, pretty);
}
static void jclose(jcap *c) { fclose(c->f); }

static void test_json_writer(void) {
  jcap c;
  jopen(&c, 0);
  qdm_json *j = &c.j;
  qdm_json_obj(j);
  qdm_json_kv_int(j, "a", 1);
  qdm_json_key(j, "b");
  qdm_json_arr(j);
  qdm_json_num(j, 1.5);
  qdm_json_num(j, NAN);
  qdm_json_str(j, "q\"\\\n\x01");
  qdm_json_arr_end(j);
  qdm_json_key(j, "c");
  qdm_json_obj(j);
  qdm_json_obj_end(j);
  qdm_json_key(j, "d");
  qdm_json_arr(j);
  qdm_json_arr_end(j);
  qdm_json_key(j, "e");
  qdm_json_bool(j, 1);
  qdm_json_kv_num(j, "f", 0.1);
  const double g[3] = {1, INFINITY, -2.5e-300};
  qdm_json_kv_nums(j, "g", g, 3);
  qdm_json_kv_str(j, "h", NULL);
  qdm_json_obj_end(j);
  qdm_json_end(j);
  jclose(&c);
  const char *want = "{\"a\":1,\"b\":[1.5,null,\"q\\\"\\\\\\n\\u0001\"],\"c\":{},\"d\":[],\"e\":true,\"f\":0.1,"
                     "\"g\":[1,null,-2.5e-300],\"h\":null}\n";
  CHECK(!strcmp(c.buf, want), "compact JSON:\n got  %s want %s", c.buf, want);

  /* read it back */
  qdm_jv *v = NULL;
  CHECK(qdm_json_parse(c.buf, c.n, &v) == QDM_OK, "parse own output: %s", qdm_errmsg());
  if (v) {
    const qdm_jv *b = qdm_jv_get(v, "b"), *f = qdm_jv_get(v, "f"), *gg = qdm_jv_get(v, "g");
    CHECK(v->type == QDM_JOBJ && v->n == 8, "8 keys");
    CHECK(b && b->type == QDM_JARR && b->n == 3 && b->kid[1].type == QDM_JNULL && b->kid[2].type == QDM_JSTR &&
              !strcmp(b->kid[2].str, "q\"\\\n\x01"),
          "array with escaped string");
    CHECK(f && f->num == 0.1, "0.1 exact");
    CHECK(gg && gg->n == 3 && gg->kid[2].num == -2.5e-300, "tiny number exact");
    CHECK(qdm_jv_get(v, "e")->type == QDM_JBOOL && qdm_jv_get(v, "e")->num == 1, "true");
    CHECK(qdm_jv_get(v, "zz") == NULL, "absent key");
  }
  qdm_jv_free(v);
  free(c.buf);

  jopen(&c, 1);
  qdm_json_obj(j);
  qdm_json_kv_int(j, "a", 1);
  qdm_json_key(j, "b");
  qdm_json_arr(j);
  qdm_json_int(j, 2);
  qdm_json_str(j, "x");
  qdm_json_arr_end(j);
  qdm_json_key(j, "c");
  qdm_json_obj(j);
  qdm_json_obj_end(j);
  const double vv[2] = {0.5, 0.25};
  qdm_json_kv_nums(j, "v", vv, 2);
  qdm_json_obj_end(j);
  qdm_json_end(j);
  jclose(&c);
  const char *wantp = "{\n  \"a\": 1,\n  \"b\": [\n    2,\n    \"x\"\n  ],\n  \"c\": {},\n  \"v\": [0.5, 0.25]\n}\n";
  CHECK(!strcmp(c.buf, wantp), "pretty JSON:\n%s", c.buf);
  free(c.buf);

  /* every double survives writing and reading bit for bit */
  enum { NR = 2000 };
  static double r[NR];
  qdm_rng rng;
  qdm_rng_seed(&rng, 11);
  for (int i = 0; i < NR; i++) r[i] = qdm_rng_normal(&rng) * pow(10, 600 * qdm_rng_uniform(&rng) - 300);
  jopen(&c, 0);
  qdm_json_obj(j);
  qdm_json_kv_nums(j, "r", r, NR);
  qdm_json_obj_end(j);
  jclose(&c);
  CHECK(qdm_json_parse(c.buf, c.n, &v) == QDM_OK, "parse numbers");
  int same = v != NULL;
  const qdm_jv *rv = qdm_jv_get(v, "r");
  for (int i = 0; same && i < NR; i++) same = rv->kid[i].num == r[i];
  CHECK(same, "2000 random doubles round-trip exactly");
  qdm_jv_free(v);
  free(c.buf);
}

static void test_json_parser(void) {
  qdm_jv *v = NULL;
  const char *u = "[\"\\u00e9\\ud83d\\ude00\\/\", -0.5e+2, 0, 1E3, {\"k\" : [true, false, null]}]";
  CHECK(qdm_json_parse(u, strlen(u), &v) == QDM_OK, "parse: %s", qdm_errmsg());
  if (v) {
    CHECK(!strcmp(v->kid[0].str, "\xc3\xa9\xf0\x9f\x98\x80/"), "\\u escapes to UTF-8 (e-acute, U+1F600)");
    CHECK(v->kid[1].num == -50 && v->kid[2].num == 0 && v->kid[3].num == 1000, "numbers");
    const qdm_jv *k = qdm_jv_get(&v->kid[4], "k");
    CHECK(k && k->n == 3 && k->kid[0].num == 1 && k->kid[1].type == QDM_JBOOL && k->kid[2].type == QDM_JNULL, "literals");
  }
  qdm_jv_free(v);
  const char *bad[] = {"[1,]", "{\"a\" 1}", "[1] x", "\"abc", "01", "-", "[1.]", "{\"a\":}", "\"\\x\"", "\"\\ud800\"",
                       "\"a\nb\"", "tru", "", "{1:2}", "\"\\u0000\""};
  for (int i = 0; i < (int)(sizeof bad / sizeof *bad); i++) {
    v = (qdm_jv *)1;
    int rc = qdm_json_parse(bad[i], strlen(bad[i]), &v);
    CHECK(rc == QDM_EFORMAT && v == NULL && has(qdm_errmsg(), "JSON"), "'%s' rejected (rc %d)", bad[i], rc);
  }
  char deep[200];
  memset(deep, '[', 64);
  memset(deep + 64, ']', 64);
  CHECK(qdm_json_parse(deep, 128, &v) == QDM_OK, "64 levels accepted");
  qdm_jv_free(v);
  memset(deep, '[', 65);
  memset(deep + 65, ']', 65);
  CHECK(qdm_json_parse(deep, 130, &v) == QDM_EFORMAT, "65 levels rejected");
  /* the writer, 64 levels deep with a sibling after an empty array: the
   * commas are right ("[[...[[],1]...]]"; found by fuzz_json's round trip) */
  jcap c;
  jopen(&c, 0);
  for (int i = 0; i < 63; i++) qdm_json_arr(&c.j);
  qdm_json_arr(&c.j);
  qdm_json_arr_end(&c.j);
  qdm_json_int(&c.j, 1);
  for (int i = 0; i < 63; i++) qdm_json_arr_end(&c.j);
  jclose(&c);
  char want[200];
  snprintf(want, sizeof want, "%.63s[],1%.63s", deep, deep + 65);
  CHECK(!strcmp(c.buf, want), "64 levels written: %s", c.buf);
  CHECK(qdm_json_parse(c.buf, c.n, &v) == QDM_OK, "and read back: %s", qdm_errmsg());
  qdm_jv_free(v);
  free(c.buf);
  /* length-limited: text need not be NUL-terminated */
  CHECK(qdm_json_parse("[1]garbage", 3, &v) == QDM_OK && v->kid[0].num == 1, "len respected");
  qdm_jv_free(v);
}

static uint64_t le64(const unsigned char *b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
  return v;
}

static void test_safetensors(void) {
  double a[6], b[4] = {1e-300, -0.0, 3.141592653589793, 1e300}, c0 = 42;
  for (int i = 0; i < 6; i++) a[i] = i * 0.5 - 1;
  qdm_tensor t[3] = {{"a", 2, {2, 3}, a, NULL}, {"b", 1, {4}, b, NULL}, {"c", 0, {0}, &c0, NULL}};
  const char *meta[] = {"format", "qdm", "note", "x\"y", NULL};
  const char *p = tpath("t.safetensors");
  CHECK(qdm_safetensors_write(p, t, 3, meta) == QDM_OK, "write: %s", qdm_errmsg());

  /* The bytes, by the specification: u64 LE header size, JSON, spaces to
   * an 8-byte boundary, then the data in order (48 + 32 + 8 bytes). */
  static unsigned char raw[4096];
  size_t n = read_file(p, raw, sizeof raw);
  const char *hj = "{\"__metadata__\":{\"format\":\"qdm\",\"note\":\"x\\\"y\"},"
                   "\"a\":{\"dtype\":\"F64\",\"shape\":[2,3],\"data_offsets\":[0,48]},"
                   "\"b\":{\"dtype\":\"F64\",\"shape\":[4],\"data_offsets\":[48,80]},"
                   "\"c\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[80,88]}}";
  size_t hl = strlen(hj), padded = (hl + 7) / 8 * 8;
  uint64_t N = le64(raw);
  CHECK(N == padded && N % 8 == 0, "header length %llu, want %zu", (unsigned long long)N, padded);
  CHECK(n == 8 + padded + 88, "file size %zu", n);
  CHECK(memcmp(raw + 8, hj, hl) == 0, "header JSON text:\n%.*s", (int)hl, raw + 8);
  int spaces = 1;
  for (size_t i = hl; i < padded; i++) spaces &= raw[8 + i] == ' ';
  CHECK(spaces, "padding is spaces");
  /* data: IEEE-754 little-endian, e.g. a[0] = -1.0 = 0xBFF0000000000000 */
  CHECK(le64(raw + 8 + padded) == 0xBFF0000000000000ull, "a[0] = -1.0 bytes");
  CHECK(le64(raw + 8 + padded + 48 + 8) == 0x8000000000000000ull, "b[1] = -0.0 bytes");
  CHECK(le64(raw + 8 + padded + 80) == 0x4045000000000000ull, "c = 42.0 bytes");

  double a2[6] = {0}, b2[4] = {0}, c2 = 0;
  qdm_tensor r[3] = {{"c", 0, {0}, &c2, NULL}, {"a", 2, {2, 3}, a2, NULL}, {"b", 1, {4}, b2, NULL}};
  CHECK(qdm_safetensors_read(p, r, 3) == QDM_OK, "read: %s", qdm_errmsg());
  CHECK(!memcmp(a, a2, sizeof a) && !memcmp(b, b2, sizeof b) && c2 == 42, "values round-trip bit for bit");

  qdm_tensor wrong = {"a", 2, {3, 2}, a2, NULL};
  int rc = qdm_safetensors_read(p, &wrong, 1);
  CHECK(rc != 0 && has(qdm_errmsg(), p) && has(qdm_errmsg(), "'a'") && has(qdm_errmsg(), "[2,3]") &&
            has(qdm_errmsg(), "[3,2]"),
        "shape mismatch: '%s'", qdm_errmsg());
  qdm_tensor missing = {"zz", 1, {4}, b2, NULL};
  CHECK(qdm_safetensors_read(p, &missing, 1) != 0 && has(qdm_errmsg(), "'zz'"), "missing tensor: '%s'", qdm_errmsg());

  char mb[32];
  CHECK(qdm_safetensors_meta(p, "note", mb, sizeof mb) == QDM_OK && !strcmp(mb, "x\"y"), "metadata value");
  CHECK(qdm_safetensors_meta(p, "nope", mb, sizeof mb) != 0, "absent metadata key");
  CHECK(qdm_safetensors_meta(p, "format", mb, 3) != 0, "metadata buffer too small");
  int nd = 0;
  int64_t sh[4] = {0};
  CHECK(qdm_safetensors_shape(p, "a", &nd, sh) == QDM_OK && nd == 2 && sh[0] == 2 && sh[1] == 3, "shape query");

  /* An F32 file built by hand: 1.5f, -2.25f, 0.1f, little-endian. */
  const char *h32 = "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}";
  unsigned char f32[256];
  size_t l32 = strlen(h32), p32 = (l32 + 7) / 8 * 8;
  memset(f32, ' ', sizeof f32);
  for (int i = 0; i < 8; i++) f32[i] = (unsigned char)(p32 >> (8 * i));
  memcpy(f32 + 8, h32, l32);
  const uint32_t bits[3] = {0x3FC00000u, 0xC0100000u, 0x3DCCCCCDu}; /* 1.5, -2.25, 0.1f */
  for (int k = 0; k < 3; k++)
    for (int i = 0; i < 4; i++) f32[8 + p32 + 4 * k + i] = (unsigned char)(bits[k] >> (8 * i));
  const char *p32p = tpath("f32.safetensors");
  write_raw(p32p, f32, 8 + p32 + 12);
  double w[3];
  qdm_tensor tw = {"w", 1, {3}, w, NULL};
  CHECK(qdm_safetensors_read(p32p, &tw, 1) == QDM_OK, "F32 read: %s", qdm_errmsg());
  CHECK(w[0] == 1.5 && w[1] == -2.25 && w[2] == (double)0.1f, "F32 widened to double");
  /* F32 written from floats, read back into floats and doubles; F64 read into floats rounds to nearest */
  char pm[4400]; /* not tpath: its four buffers hold the paths in use around this */
  snprintf(pm, sizeof pm, "%s/mixed.safetensors", dir);
  float fv[3] = {1.5f, -2.25f, 0.1f}, fr[3] = {0};
  double dv[2] = {0.1, 1.0 + 0x1p-30}, dr[3] = {0};
  qdm_tensor mixed[2] = {{"f", 1, {3}, NULL, fv}, {"d", 1, {2}, dv, NULL}};
  CHECK(qdm_safetensors_write(pm, mixed, 2, NULL) == QDM_OK, "mixed F32/F64 write: %s", qdm_errmsg());
  unsigned char rawm[512];
  size_t nm = read_file(pm, rawm, sizeof rawm);
  char hdr[256] = {0};
  memcpy(hdr, rawm + 8, nm > 8 + 255 ? 255 : nm > 8 ? nm - 8 : 0);
  CHECK(has(hdr, "\"dtype\":\"F32\"") && has(hdr, "\"dtype\":\"F64\""), "the header names both dtypes: %s", hdr);
  qdm_tensor back[2] = {{"f", 1, {3}, NULL, fr}, {"f", 1, {3}, dr, NULL}};
  CHECK(qdm_safetensors_read(pm, back, 2) == QDM_OK, "F32 read into floats and doubles: %s", qdm_errmsg());
  CHECK(!memcmp(fv, fr, sizeof fv) && dr[0] == 1.5 && dr[1] == -2.25 && dr[2] == (double)0.1f, "F32 values exact");
  qdm_tensor dn = {"d", 1, {2}, NULL, fr};
  CHECK(qdm_safetensors_read(pm, &dn, 1) == QDM_OK && fr[0] == 0.1f && fr[1] == 1.0f, "F64 rounded into floats");

  /* unsupported dtype, data past the end, header length past the end */
  const char *hb = "{\"w\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,6]}}";
  size_t lb = strlen(hb), pb = (lb + 7) / 8 * 8;
  memset(f32, ' ', sizeof f32);
  for (int i = 0; i < 8; i++) f32[i] = (unsigned char)(pb >> (8 * i));
  memcpy(f32 + 8, hb, lb);
  write_raw(p32p, f32, 8 + pb + 6);
  CHECK(qdm_safetensors_read(p32p, &tw, 1) != 0 && has(qdm_errmsg(), "BF16"), "BF16 rejected: '%s'", qdm_errmsg());
  write_raw(p32p, raw, n - 8);
  double a3[6];
  qdm_tensor tc = {"c", 0, {0}, a3, NULL};
  CHECK(qdm_safetensors_read(p32p, &tc, 1) != 0 && has(qdm_errmsg(), p32p), "truncated data: '%s'", qdm_errmsg());
  write_raw(p32p, raw, 20);
  CHECK(qdm_safetensors_read(p32p, &tc, 1) != 0 && has(qdm_errmsg(), "header length"), "short file: '%s'",
        qdm_errmsg());
  CHECK(qdm_safetensors_read(tpath("nonexistent.safetensors"), &tc, 1) == QDM_EIO, "missing file");
  /* a directory opens, and its seek size is arbitrary: said to be a directory */
  const char *dp = tpath("st-dir");
  qdm_mkdirs(dp);
  int rd = qdm_safetensors_meta(dp, "format", mb, sizeof mb);
  CHECK(rd == QDM_EIO && has(qdm_errmsg(), dp) && has(qdm_errmsg(), "is a directory, expected a safetensors file"),
        "directory: rc %d '%s'", rd, qdm_errmsg());

  /* check = read's checks without the data: NULL data is fine */
  qdm_tensor chk[2] = {{"a", 2, {2, 3}, NULL, NULL}, {"c", 0, {0}, NULL, NULL}};
  CHECK(qdm_safetensors_check(p, chk, 2) == QDM_OK, "check: %s", qdm_errmsg());
  chk[0].shape[1] = 4;
  CHECK(qdm_safetensors_check(p, chk, 2) == QDM_EFORMAT && has(qdm_errmsg(), "'a'") && has(qdm_errmsg(), "[2,4]"),
        "check: shape mismatch named: '%s'", qdm_errmsg());

  qdm_tensor dup[2] = {{"x", 1, {1}, a, NULL}, {"x", 1, {1}, b, NULL}};
  CHECK(qdm_safetensors_write(p, dup, 2, NULL) == QDM_EINVAL, "repeated name rejected");
  qdm_tensor nul = {NULL, 1, {1}, a, NULL};
  CHECK(qdm_safetensors_write(p, &nul, 1, NULL) == QDM_EINVAL, "NULL name rejected");
  CHECK(qdm_safetensors_read(p, r, 3) == QDM_OK, "old file intact after rejected writes");
  CHECK(qdm_safetensors_write(tpath("empty.safetensors"), NULL, 0, NULL) == QDM_OK, "no tensors is fine");
  n = read_file(tpath("empty.safetensors"), raw, sizeof raw);
  CHECK(n == 16 && le64(raw) == 8 && !memcmp(raw + 8, "{}      ", 8), "empty file is {} padded to 8");
}

static uint32_t px(cairo_surface_t *s, int x, int y) {
  return *(uint32_t *)(cairo_image_surface_get_data(s) + y * cairo_image_surface_get_stride(s) + 4 * x) & 0xffffff;
}

static void test_png(void) {
  /* three 2x3 images in a 2x2 grid at scale 4: gaps of 2 pixels, so the
   * picture is 2*(3*4+2)+2 = 30 wide and 2*(2*4+2)+2 = 22 high; image k
   * starts at x = 2 + 14 (k % 2), y = 2 + 10 (k / 2). */
  float img[3 * 6] = {0};
  img[1 * 3 + 2] = 0.2f;  /* image 0, row 1, col 2 -> x 10..13, y 6..9, gray 51 */
  img[6 + 0] = -1;        /* image 1 (0,0): clamped to black */
  img[6 + 1] = 2;         /* image 1 (0,1): clamped to white */
  img[12 + 5] = 1;        /* image 2 (1,2): x 10..13, y 16..19 */
  const char *p = tpath("grid_small.png");
  CHECK(qdm_png_grid(p, img, 3, 2, 3, 2, 2, 4, NULL) == QDM_OK, "grid: %s", qdm_errmsg());
  cairo_surface_t *s = cairo_image_surface_create_from_png(p);
  CHECK(cairo_surface_status(s) == CAIRO_STATUS_SUCCESS, "re-read PNG");
  if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS) {
    CHECK(cairo_image_surface_get_width(s) == 30 && cairo_image_surface_get_height(s) == 22, "size %dx%d",
          cairo_image_surface_get_width(s), cairo_image_surface_get_height(s));
    CHECK(px(s, 10, 6) == 0x333333 && px(s, 13, 9) == 0x333333, "gray 51 block");
    CHECK(px(s, 9, 6) == 0 && px(s, 14, 9) == 0xffffff && px(s, 10, 10) == 0xffffff, "block edges (black, gap)");
    CHECK(px(s, 16, 2) == 0 && px(s, 20, 2) == 0xffffff, "clamped -1 and 2");
    CHECK(px(s, 10, 16) == 0xffffff && px(s, 9, 16) == 0, "image 2 in row 1");
    CHECK(px(s, 0, 0) == 0xffffff && px(s, 1, 5) == 0xffffff, "outer gap white");
  }
  cairo_surface_destroy(s);

  CHECK(qdm_png_grid(p, img, 5, 2, 3, 2, 2, 4, NULL) == QDM_EINVAL, "n > rows*cols rejected");
  CHECK(qdm_png_grid(p, img, 3, 2, 3, 2, 2, 0, NULL) == QDM_EINVAL, "scale 0 rejected");

  /* a labelled grid to look at: rings of growing radius, rows labelled */
  enum { R = 3, C = 8, S = 16 };
  static float rings[R * C * S * S];
  for (int k = 0; k < R * C; k++)
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++) {
        double d = hypot(y - 7.5, x - 7.5), r0 = 1.5 + 0.25 * k;
        rings[(k * S + y) * S + x] = (float)exp(-(d - r0) * (d - r0) / (0.5 + 0.1 * (k / C)));
      }
  const char *labels[R] = {"t = 10", "t = 5", NULL};
  const char *pl = tpath("grid_labels.png");
  CHECK(qdm_png_grid(pl, rings, R * C, S, S, R, C, 4, labels) == QDM_OK, "labelled grid: %s", qdm_errmsg());
  s = cairo_image_surface_create_from_png(pl);
  int W = cairo_image_surface_get_width(s), H = cairo_image_surface_get_height(s);
  CHECK(H == R * (S * 4 + 2) + 2 && W > C * (S * 4 + 2) + 2, "labelled size %dx%d", W, H);
  int margin = W - (C * (S * 4 + 2) + 2), dark = 0;
  for (int y = 0; y < H; y++)
    for (int x = 0; x < margin; x++) dark += (px(s, x, y) & 0xff) < 128;
  CHECK(dark > 20, "label text drawn in the margin (%d dark pixels)", dark);
  cairo_surface_destroy(s);
}

/* Pixels within 40 of colour rgb in each channel. */
static int count_colour(cairo_surface_t *s, int r, int g, int b) {
  int n = 0, W = cairo_image_surface_get_width(s), H = cairo_image_surface_get_height(s);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      uint32_t v = px(s, x, y);
      n += abs((int)(v >> 16 & 255) - r) < 40 && abs((int)(v >> 8 & 255) - g) < 40 && abs((int)(v & 255) - b) < 40;
    }
  return n;
}

static void test_plot(void) {
  enum { NP = 100 };
  double x[NP], y1[NP], y2[NP];
  qdm_rng rng;
  qdm_rng_seed(&rng, 3);
  for (int i = 0; i < NP; i++) {
    x[i] = i + 1;
    y1[i] = 0.25 + 0.7 * exp(-x[i] / 15) + 0.01 * qdm_rng_normal(&rng);
    y2[i] = 0.45 + 0.5 * exp(-x[i] / 25) + 0.01 * qdm_rng_normal(&rng);
  }
  qdm_series s[2] = {{"classes 0,1", x, y1, NP}, {"all ten digits", x, y2, NP}};
  const char *p = tpath("plot_loss.png");
  CHECK(qdm_plot_lines(p, "Training loss", "epoch", "infidelity", s, 2, 0) == QDM_OK, "plot: %s", qdm_errmsg());
  cairo_surface_t *sf = cairo_image_surface_create_from_png(p);
  CHECK(cairo_surface_status(sf) == CAIRO_STATUS_SUCCESS && cairo_image_surface_get_width(sf) == 1600 &&
            cairo_image_surface_get_height(sf) == 1000,
        "plot size");
  CHECK(px(sf, 3, 3) == 0xffffff && px(sf, 1596, 996) == 0xffffff, "white background");
  int blue = count_colour(sf, 0x4e, 0x79, 0xa7), orange = count_colour(sf, 0xf2, 0x8e, 0x2b);
  CHECK(blue > 1000 && orange > 1000, "both series drawn (%d, %d pixels)", blue, orange);
  cairo_surface_destroy(sf);

  /* barren-plateau style: variance 2^-n on a log axis, with a NaN and a
   * non-positive value that must be skipped, not crash the range. */
  double n[11], v1[11], v2[11];
  for (int i = 0; i < 11; i++) {
    n[i] = i + 2;
    v1[i] = pow(2, -n[i]);
    v2[i] = 0.3 * pow(1.6, -n[i]);
  }
  v2[4] = NAN;
  v2[7] = 0;
  qdm_series b[2] = {{"HEA, global cost", n, v1, 11}, {"QCNN, local cost", n, v2, 11}};
  const char *pb = tpath("plot_log.png");
  CHECK(qdm_plot_lines(pb, "Gradient variance", "qubits", "Var[dL/dtheta]", b, 2, 1) == QDM_OK, "log plot: %s",
        qdm_errmsg());
  sf = cairo_image_surface_create_from_png(pb);
  CHECK(cairo_surface_status(sf) == CAIRO_STATUS_SUCCESS && count_colour(sf, 0xf2, 0x8e, 0x2b) > 300, "log plot drawn");
  cairo_surface_destroy(sf);

  qdm_series bad = {"x", x, NULL, 3};
  CHECK(qdm_plot_lines(pb, NULL, NULL, NULL, &bad, 1, 0) == QDM_EINVAL, "NULL y rejected");
  qdm_series one = {NULL, NULL, y1, 1};
  CHECK(qdm_plot_lines(tpath("plot_one.png"), NULL, NULL, NULL, &one, 1, 1) == QDM_OK, "single point, no labels");
  CHECK(qdm_plot_lines(tpath("plot_empty.png"), "empty", "x", "y", NULL, 0, 0) == QDM_OK, "no series");
  CHECK(temp_files() == 0, "no temp files left");
}

/* qdm_fail_wrap keeps the inner message whole: formatting qdm_errmsg()
 * into its own buffer (what the checkpoint and classifier loaders did)
 * is undefined behaviour and garbled it. */
static void test_fail_wrap(void) {
  qdm_fail(QDM_EFORMAT, "setting epochs: 'abc' is not a number");
  int e = qdm_fail_wrap(QDM_EIO, "%s", "runs/x/checkpoint.safetensors");
  CHECK(e == QDM_EIO && !strcmp(qdm_errmsg(), "runs/x/checkpoint.safetensors: setting epochs: 'abc' is not a number"),
        "wrapped message: '%s'", qdm_errmsg());
  char longp[700];
  memset(longp, 'p', sizeof longp - 1);
  longp[sizeof longp - 1] = 0;
  qdm_fail(QDM_EINVAL, "inner");
  qdm_fail_wrap(QDM_EINVAL, "%s", longp);
  CHECK(strlen(qdm_errmsg()) < 512 && qdm_errmsg()[0] == 'p', "an overlong prefix is cut, not overflowed");
  /* text quoted from a file stays on one line (found by fuzz_safetensors:
   * a metadata key with an escaped newline) */
  qdm_fail(QDM_EFORMAT, "f.safetensors: tensor '%s' has dtype %s", "a\nb", "F\r\x1b[2J64");
  CHECK(!strcmp(qdm_errmsg(), "f.safetensors: tensor 'a?b' has dtype F??[2J64"), "control characters shown as '?': '%s'",
        qdm_errmsg());
  qdm_fail(QDM_EFORMAT, "line\none");
  qdm_fail_wrap(QDM_EFORMAT, "%s", "x\ty");
  CHECK(!strcmp(qdm_errmsg(), "x?y: line?one"), "and when wrapped: '%s'", qdm_errmsg());
}

/* A figure of panels: 800x500 logical pixels each, cols across, a 44-pixel
 * title band on top, 2x up to 4 panels and 1x beyond; panel k's series in
 * its own cell. */
static void test_panels(void) {
  double x[3] = {1, 2, 3}, y[3] = {1, 4, 9};
  qdm_series s[3] = {{"a", x, y, 3}, {"b", x, y, 3}, {"c", x, y, 3}};
  qdm_panel p[6];
  for (int k = 0; k < 6; k++) p[k] = (qdm_panel){"panel", "x", "y", s + k % 3, 1, k % 2};
  const char *f = tpath("panels.png");
  CHECK(qdm_plot_panels(f, "figure", p, 3, 2) == QDM_OK, "3 panels: %s", qdm_errmsg());
  cairo_surface_t *sf = cairo_image_surface_create_from_png(f);
  CHECK(cairo_image_surface_get_width(sf) == 2 * 2 * 800 && cairo_image_surface_get_height(sf) == 2 * (2 * 500 + 44),
        "2 columns x 2 rows at 2x with a title band: %dx%d", cairo_image_surface_get_width(sf),
        cairo_image_surface_get_height(sf));
  /* panel 0 (blue series) at the top left, panel 1 (its series is drawn
   * in the first colour too) at the top right, the fourth cell empty */
  int W = cairo_image_surface_get_width(sf), blue_left = 0, blue_right = 0, ink_empty = 0;
  for (int yy = 2 * 44; yy < 2 * (44 + 500); yy++)
    for (int xx = 0; xx < W; xx++) {
      uint32_t v = px(sf, xx, yy);
      int blue = abs((int)(v >> 16 & 255) - 0x4e) < 40 && abs((int)(v >> 8 & 255) - 0x79) < 40 &&
                 abs((int)(v & 255) - 0xa7) < 40;
      if (xx < W / 2) blue_left += blue;
      else blue_right += blue;
    }
  for (int yy = 2 * (44 + 500) + 4; yy < 2 * (44 + 1000); yy++)
    for (int xx = W / 2 + 4; xx < W; xx++) ink_empty += px(sf, xx, yy) != 0xffffff;
  CHECK(blue_left > 500 && blue_right > 500, "a series in each top cell (%d, %d)", blue_left, blue_right);
  CHECK(ink_empty == 0, "the unused cell stays white (%d pixels)", ink_empty);
  cairo_surface_destroy(sf);
  CHECK(qdm_plot_panels(f, NULL, p, 6, 3) == QDM_OK, "6 panels: %s", qdm_errmsg());
  sf = cairo_image_surface_create_from_png(f);
  CHECK(cairo_image_surface_get_width(sf) == 3 * 800 && cairo_image_surface_get_height(sf) == 2 * 500,
        "3 x 2 panels at 1x, no title band: %dx%d", cairo_image_surface_get_width(sf), cairo_image_surface_get_height(sf));
  cairo_surface_destroy(sf);
  p[4].ns = -1;
  CHECK(qdm_plot_panels(f, NULL, p, 6, 3) == QDM_EINVAL && strstr(qdm_errmsg(), "panel 4"), "bad panel named");
  CHECK(qdm_plot_panels(f, NULL, p, 0, 3) == QDM_EINVAL, "no panels rejected");
  CHECK(qdm_plot_panels(f, NULL, p, 2, 0) == QDM_EINVAL, "0 columns rejected");
  CHECK(temp_files() == 0, "no temp files left");
}

/* Every writer past a file-size limit (ulimit -f, standing in for a full
 * disk: tests/test_runs.c fills a real tmpfs too): QDM_EIO, a message that
 * names the file and the system's reason, no file and no temporary file
 * left. In a child process, which the limit must not outlive. */
static int write_fails_cleanly(const char *name, int rc) {
  const char *p = tpath(name), *m = qdm_errmsg();
  char tmp[4500];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
  int ok = rc == QDM_EIO && strstr(m, p) && strstr(m, strerror(EFBIG)) && access(p, F_OK) != 0 && access(tmp, F_OK) != 0;
  if (!ok) fprintf(stderr, "FAIL %s: status %d, message '%s'\n", name, rc, m);
  return !ok;
}

static void test_write_errors(void) {
  pid_t pid = fork();
  if (pid == 0) {
    struct rlimit rl = {2048, 2048};
    setrlimit(RLIMIT_FSIZE, &rl);
    signal(SIGXFSZ, SIG_IGN);
    int bad = 0, n = 64;
    float *img = calloc((size_t)n * 28 * 28, sizeof(float));
    qdm_rng r; /* incompressible, so the gzip file is as large too */
    qdm_rng_seed(&r, 3);
    for (int i = 0; i < n * 784; i++) img[i] = (float)qdm_rng_uniform(&r);
    bad += write_fails_cleanly("big-images-idx3-ubyte", qdm_idx_write_images(tpath("big-images-idx3-ubyte"), img, n, 28, 28));
    bad += write_fails_cleanly("big-images-idx3-ubyte.gz",
                               qdm_idx_write_images(tpath("big-images-idx3-ubyte.gz"), img, n, 28, 28));
    bad += write_fails_cleanly("big.png", qdm_png_grid(tpath("big.png"), img, n, 28, 28, 8, 8, 4, NULL));
    double *v = calloc(4096, sizeof(double));
    qdm_tensor t = {"v", 1, {4096, 0, 0, 0}, v, NULL};
    bad += write_fails_cleanly("big.safetensors", qdm_safetensors_write(tpath("big.safetensors"), &t, 1, NULL));
    qdm_atomic a; /* buffered writes that fail before the commit (fprintf keeps no error) */
    if (qdm_atomic_open(&a, tpath("big.json")) == QDM_OK) {
      for (int i = 0; i < 2000; i++) fprintf(a.f, "%d,", i);
      bad += write_fails_cleanly("big.json", qdm_atomic_commit(&a));
    } else bad++;
    free(img);
    free(v);
    _exit(bad);
  }
  int st = -1;
  waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
        "past a file-size limit, every writer fails naming the file and the reason, leaving nothing (%d failed)",
        WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

int main(void) {
  setup_dir();
  test_write_errors();
  test_fail_wrap();
  test_atomic();
  test_json_writer();
  test_json_parser();
  test_safetensors();
  test_png();
  test_plot();
  test_panels();
  return check_done();
}
