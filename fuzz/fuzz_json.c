/* fuzz_json.c -- qdm_json_parse, the reader behind safetensors headers,
 * config.json and summary.json. On failure the message must give the byte
 * offset. On success the tree is written back with qdm's JSON writer and
 * read again: the same tree must come back (numbers bit for bit; a number
 * beyond double range, read as infinity, comes back as null since JSON has
 * no infinity), so reader and writer agree on every document. */
#include <math.h>
#include "fuzz_file.h"
#include "qdm/io.h"

static void write_tree(qdm_json *j, const qdm_jv *v) {
  switch (v->type) {
    case QDM_JNULL: qdm_json_null(j); break;
    case QDM_JBOOL: qdm_json_bool(j, v->num != 0); break;
    case QDM_JNUM: qdm_json_num(j, v->num); break;
    case QDM_JSTR: qdm_json_str(j, v->str); break;
    case QDM_JARR:
      qdm_json_arr(j);
      for (int i = 0; i < v->n; i++) write_tree(j, &v->kid[i]);
      qdm_json_arr_end(j);
      break;
    case QDM_JOBJ:
      qdm_json_obj(j);
      for (int i = 0; i < v->n; i++) {
        qdm_json_key(j, v->key[i]);
        write_tree(j, &v->kid[i]);
      }
      qdm_json_obj_end(j);
      break;
    default: abort();
  }
}

static int same(const qdm_jv *a, const qdm_jv *b) {
  if (a->type == QDM_JNUM && !isfinite(a->num)) return b->type == QDM_JNULL;
  if (a->type != b->type || a->n != b->n) return 0;
  if (a->type == QDM_JNUM || a->type == QDM_JBOOL) return memcmp(&a->num, &b->num, sizeof a->num) == 0;
  if (a->type == QDM_JSTR) return strcmp(a->str, b->str) == 0;
  for (int i = 0; i < a->n; i++)
    if ((a->type == QDM_JOBJ && strcmp(a->key[i], b->key[i])) || !same(&a->kid[i], &b->kid[i])) return 0;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* a copy of exactly `size` bytes, so reading past the end is caught */
  char *text = malloc(size ? size : 1);
  if (size) memcpy(text, data, size);
  qdm_jv *v = NULL;
  int rc = qdm_json_parse(text, size, &v);
  free(text);
  if (rc) {
    fuzz_check_msg(rc, rc == QDM_EFORMAT ? "at byte" : NULL);
    if (v) abort();
    return 0;
  }
  char *out = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&out, &n);
  qdm_json j;
  qdm_json_init(&j, f, size & 1); /* compact or pretty, by the input */
  write_tree(&j, v);
  fclose(f);
  qdm_jv *w = NULL;
  if (qdm_json_parse(out, n, &w) != QDM_OK) {
    fprintf(stderr, "qdm's writer produced JSON its reader refuses (%s):\n%s\n", qdm_errmsg(), out);
    abort();
  }
  if (!same(v, w)) {
    fprintf(stderr, "written and read back, the tree changed:\n%s\n", out);
    abort();
  }
  free(out);
  qdm_jv_free(v);
  qdm_jv_free(w);
  return 0;
}
