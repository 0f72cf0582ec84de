/* fuzz_json.c -- qdm_json_parse, the reader behind safetensors headers,
 * config.json and summary.json. On success the tree is walked (every string
 * NUL-terminated, every count non-negative); on failure the message must
 * give the byte offset. */
#include "fuzz_file.h"
#include "qdm/io.h"

static size_t walk(const qdm_jv *v, int depth) {
  if (depth > 65 || v->n < 0) abort(); /* 64 nested containers, then a leaf */
  size_t k = 1;
  if (v->type == QDM_JSTR) k += strlen(v->str);
  for (int i = 0; i < v->n; i++) {
    if (v->type == QDM_JOBJ && qdm_jv_get(v, v->key[i]) == NULL) abort();
    k += walk(&v->kid[i], depth + 1);
  }
  return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* a copy of exactly `size` bytes, so reading past the end is caught */
  char *text = malloc(size ? size : 1);
  if (size) memcpy(text, data, size);
  qdm_jv *v = NULL;
  int rc = qdm_json_parse(text, size, &v);
  if (rc == QDM_OK) {
    if (!v) abort();
    walk(v, 0);
  } else {
    fuzz_check_msg(rc, rc == QDM_EFORMAT ? "at byte" : NULL);
    if (v) abort();
  }
  qdm_jv_free(v);
  free(text);
  return 0;
}
