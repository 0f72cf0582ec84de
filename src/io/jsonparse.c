/* jsonparse.c -- a minimal JSON reader: enough for safetensors headers and
 * for reading back qdm's own JSON output, not a general-purpose library.
 * It parses a whole document (RFC 8259 grammar, nesting at most 64 deep)
 * into a tree; numbers become doubles (so integers are exact up to 2^53),
 * strings are unescaped to UTF-8 (\uXXXX and surrogate pairs included, NUL
 * rejected), and objects keep their keys in file order. */
#include <stdlib.h>
#include <string.h>
#include "qdm/io.h"
#include "qdm/core.h"


typedef struct {
  const char *s, *p, *e;
  int depth;
} parser;

static int perr(parser *ps, const char *what) {
  return qdm_fail(QDM_EFORMAT, "JSON: %s at byte %ld", what, (long)(ps->p - ps->s));
}

static void ws(parser *ps) {
  while (ps->p < ps->e && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static int hex4(parser *ps, unsigned *u) {
  if (ps->e - ps->p < 4) return perr(ps, "short \\u escape");
  *u = 0;
  for (int i = 0; i < 4; i++) {
    char c = *ps->p++;
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return perr(ps, "bad hex digit in \\u escape");
    *u = *u * 16 + (unsigned)d;
  }
  return QDM_OK;
}

static size_t utf8(unsigned u, char *o) {
  if (u < 0x80) { o[0] = (char)u; return 1; }
  if (u < 0x800) { o[0] = (char)(0xc0 | u >> 6); o[1] = (char)(0x80 | (u & 0x3f)); return 2; }
  if (u < 0x10000) {
    o[0] = (char)(0xe0 | u >> 12); o[1] = (char)(0x80 | (u >> 6 & 0x3f)); o[2] = (char)(0x80 | (u & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | u >> 18); o[1] = (char)(0x80 | (u >> 12 & 0x3f));
  o[2] = (char)(0x80 | (u >> 6 & 0x3f)); o[3] = (char)(0x80 | (u & 0x3f));
  return 4;
}

/* At the opening quote; the unescaped text is never longer than the raw. */
static int parse_str(parser *ps, char **out) {
  ps->p++;
  const char *q = ps->p;
  while (q < ps->e && *q != '"') q += (*q == '\\') ? 2 : 1;
  if (q >= ps->e) return perr(ps, "unterminated string");
  char *o = malloc((size_t)(q - ps->p) + 1), *w = o;
  if (!o) return qdm_fail(QDM_ENOMEM, "JSON: out of memory");
  int rc = QDM_OK;
  while (rc == QDM_OK && *ps->p != '"') {
    unsigned char c = (unsigned char)*ps->p++;
    if (c < 0x20) { ps->p--; rc = perr(ps, "control character in string"); break; }
    if (c != '\\') { *w++ = (char)c; continue; }
    char x = *ps->p++;
    switch (x) {
      case '"': *w++ = '"'; break;
      case '\\': *w++ = '\\'; break;
      case '/': *w++ = '/'; break;
      case 'b': *w++ = '\b'; break;
      case 'f': *w++ = '\f'; break;
      case 'n': *w++ = '\n'; break;
      case 'r': *w++ = '\r'; break;
      case 't': *w++ = '\t'; break;
      case 'u': {
        unsigned u, lo;
        if ((rc = hex4(ps, &u))) break;
        if (u >= 0xd800 && u < 0xdc00) { /* high surrogate: a low one must follow */
          if (ps->e - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u') { rc = perr(ps, "lone surrogate"); break; }
          ps->p += 2;
          if ((rc = hex4(ps, &lo))) break;
          if (lo < 0xdc00 || lo >= 0xe000) { rc = perr(ps, "bad low surrogate"); break; }
          u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
        } else if (u >= 0xdc00 && u < 0xe000) { rc = perr(ps, "lone surrogate"); break; }
        if (u == 0) { rc = perr(ps, "\\u0000 in string"); break; }
        w += utf8(u, w);
        break;
      }
      default: ps->p--; rc = perr(ps, "bad escape in string");
    }
  }
  if (rc) { free(o); return rc; }
  ps->p++;
  *w = 0;
  *out = o;
  return QDM_OK;
}

static int parse_num(parser *ps, double *v) {
  const char *q = ps->p;
  if (q < ps->e && *q == '-') q++;
  if (q >= ps->e || *q < '0' || *q > '9') return perr(ps, "bad number");
  if (*q == '0') q++;
  else while (q < ps->e && *q >= '0' && *q <= '9') q++;
  if (q < ps->e && *q == '.') {
    q++;
    if (q >= ps->e || *q < '0' || *q > '9') return perr(ps, "bad number");
    while (q < ps->e && *q >= '0' && *q <= '9') q++;
  }
  if (q < ps->e && (*q == 'e' || *q == 'E')) {
    q++;
    if (q < ps->e && (*q == '+' || *q == '-')) q++;
    if (q >= ps->e || *q < '0' || *q > '9') return perr(ps, "bad number");
    while (q < ps->e && *q >= '0' && *q <= '9') q++;
  }
  char buf[512];
  size_t n = (size_t)(q - ps->p);
  if (n >= sizeof buf) return perr(ps, "number too long");
  memcpy(buf, ps->p, n);
  buf[n] = 0;
  *v = strtod(buf, NULL);
  ps->p = q;
  return QDM_OK;
}

static int parse_value(parser *ps, qdm_jv *v);

/* Arrays and objects: elements grow by doubling; keys only for objects. */
static int parse_container(parser *ps, qdm_jv *v, int obj) {
  if (++ps->depth > QDM_JSON_MAX_DEPTH) return perr(ps, "nesting deeper than 64");
  ps->p++;
  int cap = 0, rc = QDM_OK;
  char close = obj ? '}' : ']';
  ws(ps);
  if (ps->p < ps->e && *ps->p == close) {
    ps->p++;
    ps->depth--;
    return QDM_OK;
  }
  for (;;) {
    if (v->n == cap) {
      cap = cap ? 2 * cap : 4;
      qdm_jv *k = realloc(v->kid, (size_t)cap * sizeof *k);
      if (!k) return qdm_fail(QDM_ENOMEM, "JSON: out of memory");
      v->kid = k;
      if (obj) {
        char **kk = realloc(v->key, (size_t)cap * sizeof *kk);
        if (!kk) return qdm_fail(QDM_ENOMEM, "JSON: out of memory");
        v->key = kk;
      }
    }
    ws(ps);
    if (obj) {
      if (ps->p >= ps->e || *ps->p != '"') return perr(ps, "expected a string key");
      if ((rc = parse_str(ps, &v->key[v->n]))) return rc;
      ws(ps);
      if (ps->p >= ps->e || *ps->p != ':') { free(v->key[v->n]); return perr(ps, "expected ':'"); }
      ps->p++;
    }
    memset(&v->kid[v->n], 0, sizeof *v->kid);
    rc = parse_value(ps, &v->kid[v->n]);
    v->n++; /* counted even on failure so that qdm_jv_free releases it */
    if (rc) return rc;
    ws(ps);
    if (ps->p < ps->e && *ps->p == ',') { ps->p++; continue; }
    if (ps->p < ps->e && *ps->p == close) { ps->p++; break; }
    return perr(ps, obj ? "expected ',' or '}'" : "expected ',' or ']'");
  }
  ps->depth--;
  return QDM_OK;
}

static int literal(parser *ps, const char *w) {
  size_t n = strlen(w);
  if ((size_t)(ps->e - ps->p) < n || memcmp(ps->p, w, n) != 0) return perr(ps, "unexpected character");
  ps->p += n;
  return QDM_OK;
}

static int parse_value(parser *ps, qdm_jv *v) {
  ws(ps);
  if (ps->p >= ps->e) return perr(ps, "unexpected end of text");
  switch (*ps->p) {
    case '{': v->type = QDM_JOBJ; return parse_container(ps, v, 1);
    case '[': v->type = QDM_JARR; return parse_container(ps, v, 0);
    case '"': v->type = QDM_JSTR; return parse_str(ps, &v->str);
    case 't': v->type = QDM_JBOOL; v->num = 1; return literal(ps, "true");
    case 'f': v->type = QDM_JBOOL; v->num = 0; return literal(ps, "false");
    case 'n': v->type = QDM_JNULL; return literal(ps, "null");
    default: v->type = QDM_JNUM; return parse_num(ps, &v->num);
  }
}

static void free_kids(qdm_jv *v) {
  for (int i = 0; i < v->n; i++) {
    free_kids(&v->kid[i]);
    if (v->key) free(v->key[i]);
  }
  free(v->kid);
  free(v->key);
  free(v->str);
}

void qdm_jv_free(qdm_jv *v) {
  if (!v) return;
  free_kids(v);
  free(v);
}

int qdm_json_parse(const char *text, size_t len, qdm_jv **out) {
  if (!out) return qdm_fail(QDM_EINVAL, "qdm_json_parse: out is NULL");
  *out = NULL;
  if (!text) return qdm_fail(QDM_EINVAL, "qdm_json_parse: text is NULL");
  qdm_jv *v = calloc(1, sizeof *v);
  if (!v) return qdm_fail(QDM_ENOMEM, "JSON: out of memory");
  parser ps = {text, text, text + len, 0};
  int rc = parse_value(&ps, v);
  if (!rc) {
    ws(&ps);
    if (ps.p != ps.e) rc = perr(&ps, "trailing characters after the value");
  }
  if (rc) {
    qdm_jv_free(v);
    return rc;
  }
  *out = v;
  return QDM_OK;
}

const qdm_jv *qdm_jv_get(const qdm_jv *obj, const char *key) {
  if (!obj || obj->type != QDM_JOBJ || !key) return NULL;
  for (int i = 0; i < obj->n; i++)
    if (strcmp(obj->key[i], key) == 0) return &obj->kid[i];
  return NULL;
}
