/* error.c -- one-line error messages kept per thread, QuEST-style: every
 * public entry validates its arguments and says exactly what is wrong. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

static _Thread_local char msg_[512];

const char *qdm_errmsg(void) { return msg_[0] ? msg_ : "no error"; }

/* A message is one line: text quoted from a file (a name, a dtype, a
 * metadata value) may hold newlines or terminal escapes; they show as '?'. */
static void one_line(void) {
  for (unsigned char *p = (unsigned char *)msg_; *p; p++)
    if (*p < 0x20 || *p == 0x7f) *p = '?';
}

int qdm_fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg_, sizeof msg_, fmt, ap);
  va_end(ap);
  one_line();
  return code;
}

int qdm_fail_wrap(int code, const char *fmt, ...) {
  char inner[sizeof msg_];
  snprintf(inner, sizeof inner, "%s", qdm_errmsg());
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg_, sizeof msg_, fmt, ap);
  va_end(ap);
  /* append ": inner", cut at the buffer's end (a message is one line) */
  size_t at = n < 0 ? 0 : (size_t)n < sizeof msg_ ? (size_t)n : sizeof msg_ - 1, room = sizeof msg_ - at;
  if (room > 3) {
    size_t k = strnlen(inner, room - 3);
    memcpy(msg_ + at, ": ", 2);
    memcpy(msg_ + at + 2, inner, k);
    msg_[at + 2 + k] = 0;
  }
  one_line();
  return code;
}

void qdm__bug(const char *file, int line, const char *what) {
  fprintf(stderr, "qdm internal error at %s:%d: %s (%s). Please report this.\n", file, line, what, qdm_errmsg());
  abort();
}
