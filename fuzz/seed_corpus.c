/* seed_corpus.c -- writes the seed corpus of fuzz/corpus/ with qdm's own
 * writers: small valid files of every reader plus edge cases (empty sets,
 * 1x1 images, zero-dimensional tensors), a few KB each. Run by
 * fuzz/make_corpus.sh; its output is committed, so the corpus is the same
 * for everyone. usage: seed_corpus DIR */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "qdm/circuits.h"
#include "qdm/eval.h"
#include "qdm/io.h"
#include "qdm/data.h"
#include "model/run.h"

static const char *root;

static void die_if(int err) {
  if (err) {
    fprintf(stderr, "seed_corpus: %s\n", qdm_errmsg());
    exit(1);
  }
}

static const char *at(const char *harness, const char *name) {
  static char p[4096];
  snprintf(p, sizeof p, "%s/%s", root, harness);
  if (mkdir(p, 0777) && errno != EEXIST) {
    perror(p);
    exit(1);
  }
  snprintf(p, sizeof p, "%s/%s/%s", root, harness, name);
  return p;
}

static void put(const char *harness, const char *name, const void *data, size_t n) {
  FILE *f = fopen(at(harness, name), "wb");
  if (!f || fwrite(data, 1, n, f) != n || fclose(f)) {
    perror(name);
    exit(1);
  }
}

static void idx(void) {
  float img[3 * 4 * 4];
  for (int i = 0; i < 48; i++) img[i] = (float)(i % 7) / 6;
  uint8_t lab[3] = {0, 1, 9};
  /* fuzz_idx reads files as they come (plain or gzip), fuzz_idx_gz
   * compresses its input: plain files for both, gzip only for the first */
  const char *h[2] = {"idx", "idx_gz"};
  for (int k = 0; k < 2; k++) {
    die_if(qdm_idx_write_images(at(h[k], "images-3x4x4"), img, 3, 4, 4));
    die_if(qdm_idx_write_labels(at(h[k], "labels-3"), lab, 3));
    die_if(qdm_idx_write_images(at(h[k], "images-0x2x2"), img, 0, 2, 2));
    die_if(qdm_idx_write_images(at(h[k], "images-1x1x1"), img, 1, 1, 1));
    die_if(qdm_idx_write_labels(at(h[k], "labels-0"), lab, 0));
  }
  die_if(qdm_idx_write_images(at("idx", "images-3x4x4.gz"), img, 3, 4, 4));
  die_if(qdm_idx_write_labels(at("idx", "labels-3.gz"), lab, 3));
}

static void safetensors(void) {
  double a[6] = {1, -2, 0.5, 1e-300, 3, 4}, s = 7;
  const char *meta[] = {"format", "qdm-test", "note", "caf\xc3\xa9", NULL};
  qdm_tensor t[3] = {{"a", 2, {2, 3, 0, 0}, a, NULL}, {"scalar", 0, {0, 0, 0, 0}, &s, NULL}, {"empty", 1, {0, 0, 0, 0}, NULL, NULL}};
  die_if(qdm_safetensors_write(at("safetensors", "three-tensors"), t, 3, meta));
  die_if(qdm_safetensors_write(at("safetensors", "no-tensors"), NULL, 0, NULL));
  /* F32, as PyTorch writes it (qdm writes it too, for float tensors) */
  const char hdr[] = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  unsigned char f[8 + 64] = {0};
  size_t hl = sizeof hdr - 1, pad = (8 - hl % 8) % 8;
  f[0] = (unsigned char)(hl + pad);
  memcpy(f + 8, hdr, hl);
  memset(f + 8 + hl, ' ', pad);
  float x[2] = {1.5f, -0.25f};
  memcpy(f + 8 + hl + pad, x, 8); /* little-endian host */
  put("safetensors", "f32", f, 8 + hl + pad + 8);
}

static void classifier(void) {
  qdm_classifier_cfg g[2] = {{4, 2, 0, 0, 3}, {4, 3, 1, 2, 2}}; /* side, classes, c1, c2, hidden: MLP, CNN */
  const char *name[2] = {"mlp-4x4", "cnn-4x4"};
  for (int k = 0; k < 2; k++) {
    qdm_classifier *c = qdm_classifier_new(&g[k], 1);
    if (!c) die_if(QDM_EINVAL);
    die_if(qdm_classifier_save(c, at("classifier", name[k]), NULL));
    qdm_classifier_free(c);
  }
}

/* A tiny model's checkpoints (resumable, and the best-model kind) and its
 * config.json, written by qdm's own checkpoint and settings writers. */
static void checkpoint(void) {
  qdm__run R;
  memset(&R, 0, sizeof R);
  die_if(qdm_train_preset(&R.o, "default"));
  qdm_unet_cfg *c = &R.o.model;
  c->D = 4;
  c->hidden = 2;
  c->n = 2;
  c->layers = 1;
  c->K = 1;
  c->T = 2;
  c->classes = 2;
  R.o.ema = 0.9;
  R.o.epochs = 3;
  snprintf(R.o.out, sizeof R.o.out, "run");
  die_if(qdm_train_opts_check(&R.o));
  die_if(qdm__run_model(&R, 1));
  die_if(qdm__run_optimizer(&R));
  R.st.epoch = 2;
  R.st.batch = 1;
  R.st.loss_sum = 0.25;
  R.st.loss_n = 3;
  R.st.best = 0.5;
  R.opt.t = 7;
  double hist[2 * 4] = {0.5, 0.4, 1e-3, 1.0, 0.3, 0.2, 1e-3, 2.0};
  die_if(qdm__ckpt_save(at("checkpoint", "resumable"), R.m, &R.o, NULL, &R.st, &R.opt, R.ema, hist, 2));
  die_if(qdm__ckpt_save(at("checkpoint", "best"), R.m, &R.o, NULL, NULL, NULL, NULL, NULL, 0));
  FILE *f = fopen(at("json", "config.json"), "w");
  if (!f) die_if(QDM_EIO);
  qdm_json j;
  qdm_json_init(&j, f, 1);
  qdm__opts_json(&j, &R.o);
  qdm_json_end(&j);
  fclose(f);
  qdm__run_free(&R);
}

static void json(void) {
  static const char *doc[][2] = {
      {"escapes", "[\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\ud83d\\ude00\", \"caf\xc3\xa9\"]"},
      {"numbers", "[0, -0, 1.5e300, -2E-5, 9007199254740993, 1e999, 0.1]"},
      {"nested", "{\"a\": [[[{\"b\": [true, false, null]}]]], \"\": {}}"},
      {"scalar", "  \"just a string\"  "},
  };
  for (size_t i = 0; i < sizeof doc / sizeof *doc; i++) put("json", doc[i][0], doc[i][1], strlen(doc[i][1]));
}

/* OpenQASM: ansatz circuits through qdm's writer, and by hand the reader's
 * other constructs (OpenQASM 2 with qelib1, gate definitions, modifiers,
 * broadcasting, parameters, measurement at the end). */
static void qasm(void) {
  const char *ans[3] = {"authors", "hea", "hva"};
  for (int k = 0; k < 3; k++) {
    qdm_circuit *c = qdm_circuit_new(3);
    if (!c || qdm_ansatz_build(c, ans[k], 1, 0, NULL) < 0) die_if(QDM_EINVAL);
    char name[32];
    snprintf(name, sizeof name, "%s.qasm", ans[k]);
    die_if(qdm_qasm_write(at("qasm", name), c, NULL, "seed"));
    qdm_circuit_free(c);
  }
  static const char *doc[][2] = {
      {"qelib1.qasm", "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[3];\ncreg c[3];\nh q[0];\ncx q[0],q[1];\n"
                      "u3(pi/2,0,pi) q[2];\ncu1(pi/4) q[1],q[2];\nrzz(0.5) q[0],q[2];\nbarrier q;\nmeasure q -> c;\n"},
      {"gates3.qasm", "OPENQASM 3.0;\ninclude \"stdgates.inc\";\ninput float[64] a;\ninput angle[32] b;\nqubit[2] q;\n"
                      "gate g(t) x, y { ry(t/2) x; ctrl @ rz(-t) x, y; }\ng(2*a + pi) q[0], q[1];\ninv @ s q;\n"
                      "pow(2) @ t q[1];\nnegctrl @ x q[0], q[1];\nU(b, 0, tau) q[0];\nbit[2] c;\nc = measure q;\n"},
  };
  for (size_t i = 0; i < sizeof doc / sizeof *doc; i++) put("qasm", doc[i][0], doc[i][1], strlen(doc[i][1]));
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: seed_corpus DIR\n");
    return 2;
  }
  root = argv[1];
  if (mkdir(root, 0777) && errno != EEXIST) {
    perror(root);
    return 1;
  }
  idx();
  safetensors();
  classifier();
  checkpoint();
  json();
  qasm();
  return 0;
}
