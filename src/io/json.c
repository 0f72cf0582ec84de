/* json.c -- a streaming JSON writer: the caller says what comes next
 * (object, key, number ...) and the writer places commas, colons, quotes,
 * escapes and, when pretty, newlines with two-space indentation. Numbers
 * are written in the shortest form that reads back to the same double;
 * NaN and infinities, which JSON cannot express, become null. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "qdm/io.h"

static unsigned char *first(qdm_json *j) { return &j->first[j->depth]; }

static void newline(qdm_json *j) {
  fputc('\n', j->f);
  for (int i = 0; i < j->depth; i++) fputs("  ", j->f);
}

/* Before every key or value: a comma unless first in its container, and a
 * fresh line when pretty. A value right after its key needs neither. */
static void pre(qdm_json *j) {
  if (j->after_key) {
    j->after_key = 0;
    return;
  }
  if (j->depth > 0) {
    if (!*first(j)) fputc(',', j->f);
    *first(j) = 0;
    if (j->pretty) newline(j);
  }
}

void qdm_json_init(qdm_json *j, FILE *f, int pretty) {
  if (!j) return;
  memset(j, 0, sizeof *j);
  j->f = f;
  j->pretty = pretty;
}

static void open_(qdm_json *j, int c) {
  if (!j || !j->f) return;
  assert(j->depth < QDM_JSON_MAX_DEPTH); /* (deeper, the reader would refuse it) */
  pre(j);
  fputc(c, j->f);
  j->depth++;
  *first(j) = 1;
}

static void close_(qdm_json *j, int c) {
  if (!j || !j->f || j->depth <= 0) return;
  int empty = *first(j);
  j->depth--;
  if (j->pretty && !empty) newline(j);
  fputc(c, j->f);
}

void qdm_json_obj(qdm_json *j) { open_(j, '{'); }
void qdm_json_obj_end(qdm_json *j) { close_(j, '}'); }
void qdm_json_arr(qdm_json *j) { open_(j, '['); }
void qdm_json_arr_end(qdm_json *j) { close_(j, ']'); }

static void put_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
      case '"': fputs("\\\"", f); break;
      case '\\': fputs("\\\\", f); break;
      case '\n': fputs("\\n", f); break;
      case '\r': fputs("\\r", f); break;
      case '\t': fputs("\\t", f); break;
      case '\b': fputs("\\b", f); break;
      case '\f': fputs("\\f", f); break;
      default:
        if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f); /* UTF-8 passes through unchanged */
    }
  }
  fputc('"', f);
}

void qdm_json_key(qdm_json *j, const char *k) {
  if (!j || !j->f) return;
  pre(j);
  put_str(j->f, k ? k : "");
  fputs(j->pretty ? ": " : ":", j->f);
  j->after_key = 1;
}

/* Shortest of %.15g, %.16g, %.17g that parses back to exactly v. */
static void put_num(FILE *f, double v) {
  if (!isfinite(v)) {
    fputs("null", f);
    return;
  }
  char b[40];
  for (int p = 15; p <= 17; p++) {
    snprintf(b, sizeof b, "%.*g", p, v);
    if (strtod(b, NULL) == v) break;
  }
  fputs(b, f);
}

void qdm_json_num(qdm_json *j, double v) {
  if (!j || !j->f) return;
  pre(j);
  put_num(j->f, v);
}

void qdm_json_int(qdm_json *j, long long v) {
  if (!j || !j->f) return;
  pre(j);
  fprintf(j->f, "%lld", v);
}

void qdm_json_str(qdm_json *j, const char *s) {
  if (!j || !j->f) return;
  pre(j);
  if (s) put_str(j->f, s);
  else fputs("null", j->f);
}

void qdm_json_bool(qdm_json *j, int b) {
  if (!j || !j->f) return;
  pre(j);
  fputs(b ? "true" : "false", j->f);
}

void qdm_json_null(qdm_json *j) {
  if (!j || !j->f) return;
  pre(j);
  fputs("null", j->f);
}

void qdm_json_end(qdm_json *j) {
  if (!j || !j->f) return;
  fputc('\n', j->f);
  fflush(j->f);
}

void qdm_json_kv_num(qdm_json *j, const char *k, double v) {
  qdm_json_key(j, k);
  qdm_json_num(j, v);
}

void qdm_json_kv_int(qdm_json *j, const char *k, long long v) {
  qdm_json_key(j, k);
  qdm_json_int(j, v);
}

void qdm_json_kv_str(qdm_json *j, const char *k, const char *s) {
  qdm_json_key(j, k);
  qdm_json_str(j, s);
}

/* Number arrays stay on one line even when pretty: a loss curve of 100
 * values as 100 lines helps nobody. */
void qdm_json_kv_nums(qdm_json *j, const char *k, const double *v, size_t n) {
  if (!j || !j->f) return;
  qdm_json_key(j, k);
  pre(j);
  fputc('[', j->f);
  for (size_t i = 0; i < n; i++) {
    if (i) fputs(j->pretty ? ", " : ",", j->f);
    put_num(j->f, v ? v[i] : NAN);
  }
  fputc(']', j->f);
}
