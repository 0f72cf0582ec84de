/* error.c -- one-line error messages kept per thread, QuEST-style: every
 * public entry validates its arguments and says exactly what is wrong. */
#include <stdarg.h>
#include <stdio.h>
#include "qdm/qsim.h"

static _Thread_local char msg_[512];

const char *qdm_errmsg(void) { return msg_[0] ? msg_ : "no error"; }

int qdm_fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg_, sizeof msg_, fmt, ap);
  va_end(ap);
  return code;
}
