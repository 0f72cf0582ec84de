/* fuzz_safetensors.c -- the safetensors reader (qdm_safetensors_shape,
 * _read, _meta) on the input as a file. The tensor and metadata names to ask
 * for come from the input's own header where it parses (plus names that are
 * absent), so mutations of shapes, dtypes and offsets reach the data reads. */
#include "fuzz_file.h"
#include "qdm/io.h"

#define MAXN 8
#define MAXCOUNT (1 << 20) /* doubles a harness allocation may hold */

/* the header's JSON, parsed by the harness only to learn the names */
static qdm_jv *header_of(const uint8_t *data, size_t size) {
  if (size < 8) return NULL;
  uint64_t h = 0;
  for (int i = 7; i >= 0; i--) h = h << 8 | data[i];
  qdm_jv *v = NULL;
  if (h > size - 8 || qdm_json_parse((const char *)data + 8, (size_t)h, &v)) return NULL;
  return v;
}

static int64_t count(int nd, const int64_t *sh) {
  int64_t c = 1;
  for (int d = 0; d < nd; d++) c = sh[d] && c > MAXCOUNT / sh[d] ? MAXCOUNT + 1 : c * sh[d];
  return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(data, size);
  qdm_jv *hdr = header_of(data, size);
  const char *names[MAXN + 1];
  int nn = 0;
  for (int i = 0; hdr && hdr->type == QDM_JOBJ && i < hdr->n && nn < MAXN; i++)
    if (strcmp(hdr->key[i], "__metadata__")) names[nn++] = hdr->key[i];
  names[nn++] = "absent"; /* a name no corpus file has */
  qdm_tensor t[MAXN + 1];
  int nt = 0;
  for (int i = 0; i < nn; i++) {
    int nd = -1;
    int64_t sh[4];
    int rc = qdm_safetensors_shape(path, names[i], &nd, sh);
    fuzz_check_msg(rc, path);
    if (rc) continue;
    if (nd < 0 || nd > 4) abort();
    int64_t c = count(nd, sh);
    if (c > MAXCOUNT) continue;
    t[nt] = (qdm_tensor){names[i], nd, {0, 0, 0, 0}, malloc((size_t)(c ? c : 1) * sizeof(double)), NULL};
    memcpy(t[nt].shape, sh, sizeof sh);
    rc = qdm_safetensors_read(path, &t[nt], 1);
    fuzz_check_msg(rc, path);
    nt++;
  }
  /* all at once, then once more expecting a shape the file does not have */
  fuzz_check_msg(qdm_safetensors_read(path, t, nt), path);
  if (nt > 0) {
    t[0].shape[0]++;
    if (t[0].ndim == 0 || qdm_safetensors_read(path, t, 1) == QDM_OK) {
      if (t[0].ndim > 0) abort(); /* a shape mismatch must be refused */
    } else {
      fuzz_check_msg(QDM_EFORMAT, t[0].name);
    }
  }
  for (int i = 0; i < nt; i++) free(t[i].data);
  const qdm_jv *meta = qdm_jv_get(hdr, "__metadata__");
  char buf[64];
  for (int i = 0; meta && meta->type == QDM_JOBJ && i < meta->n && i < MAXN; i++)
    fuzz_check_msg(qdm_safetensors_meta(path, meta->key[i], buf, sizeof buf), path);
  fuzz_check_msg(qdm_safetensors_meta(path, "format", buf, sizeof buf), path);
  qdm_jv_free(hdr);
  return 0;
}
